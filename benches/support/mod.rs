//! Shared bench support: the agent as a separate process, /proc memory
//! readings, simple statistics and the result table rows that `scripts/bench`
//! collects. Every wait here is bounded.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;

use crate::common::Client;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The release binary cargo built for this bench (`CARGO_BIN_EXE_*`).
pub const NCAGENT_BIN: &str = env!("CARGO_BIN_EXE_ncagent");

/// `ncagent --config FILE` as its own process, so its memory can be read
/// from /proc. SIGTERM (then SIGKILL) on drop.
pub struct AgentProcess {
    pub child: Child,
    pub addr: SocketAddr,
}

impl AgentProcess {
    /// Writes `config` to `dir/ncagent.toml`, starts the agent with its log
    /// in `dir/ncagent.log`, and waits (≤ 30 s) for "ncagent listening on ADDR".
    pub fn start(dir: &Path, config: &str) -> AgentProcess {
        let path = dir.join("ncagent.toml");
        std::fs::write(&path, config).expect("write agent config");
        let log = std::fs::File::create(dir.join("ncagent.log")).expect("agent log");
        let mut child = Command::new(NCAGENT_BIN)
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start ncagent");
        let stdout = child.stdout.take().expect("agent stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(a) = line.strip_prefix("ncagent listening on ") {
                    let _ = tx.send(a.trim().to_owned());
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(a) => a.parse().expect("listen address"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.join("ncagent.log")).unwrap_or_default();
                panic!("ncagent did not start within 30 s; log:\n{log}");
            }
        };
        AgentProcess { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A free TCP port on 127.0.0.1 (bound once, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// OpenSSH's sshd with its own configuration and host key, in the
/// foreground (-D) on a free loopback port. `auth` holds the configuration
/// lines that choose how users log in; `subsystem` gives the `netconf`
/// subsystem's command line for the chosen port. On drop every
/// per-connection process it forked is terminated, then sshd itself.
pub struct Sshd {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Sshd {
    pub fn start(dir: &Path, auth: &str, subsystem: impl Fn(u16) -> String) -> Sshd {
        use russh::keys::{Algorithm, PrivateKey, ssh_key::LineEnding};
        use std::os::unix::fs::PermissionsExt;
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run scripts/bench (it installs openssh-server)"
        );
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let host_key = dir.join("sshd_host_ed25519_key");
        let k = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).expect("host key");
        let pem = k.to_openssh(LineEnding::LF).expect("host key text");
        std::fs::write(&host_key, pem.as_bytes()).expect("write host key");
        std::fs::set_permissions(&host_key, std::fs::Permissions::from_mode(0o600))
            .expect("host key mode");
        let port = free_port();
        let d = dir.display();
        let subsystem = subsystem(port);
        let conf = format!(
            "ListenAddress 127.0.0.1:{port}\n\
             HostKey {d}/sshd_host_ed25519_key\n\
             PidFile {d}/sshd.pid\n\
             {auth}\
             KbdInteractiveAuthentication no\n\
             UsePAM no\n\
             StrictModes no\n\
             UseDNS no\n\
             PrintMotd no\n\
             PrintLastLog no\n\
             MaxStartups 100\n\
             LogLevel INFO\n\
             Subsystem netconf {subsystem}\n"
        );
        let conf_path = dir.join("sshd_config");
        std::fs::write(&conf_path, conf).expect("write sshd_config");
        let log_path = dir.join("sshd.log");
        let log = std::fs::File::create(&log_path).expect("sshd log");
        let mut child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if text.contains("Server listening on") {
                break;
            }
            if Instant::now() > deadline || matches!(child.try_wait(), Ok(Some(_))) {
                terminate(&mut child);
                panic!("sshd did not start; its log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Sshd {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for p in descendants(self.child.id()) {
            signal(p, "TERM");
        }
        terminate(&mut self.child);
    }
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
pub fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    signal(child.id(), "TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `kill -SIG PID` (the crate forbids unsafe code, so no libc::kill here).
pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// A field of /proc/PID/status or /proc/PID/smaps_rollup, in kB.
fn proc_kb(pid: u32, file: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// VmRSS of a process, kB.
pub fn rss_kb(pid: u32) -> u64 {
    proc_kb(pid, "status", "VmRSS:").unwrap_or(0)
}

/// Proportional set size of a process (shared pages divided among their
/// users), kB.
pub fn pss_kb(pid: u32) -> u64 {
    proc_kb(pid, "smaps_rollup", "Pss:").unwrap_or(0)
}

/// Every descendant of `root` (not `root` itself), from /proc/*/stat.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent: Vec<(u32, u32)> = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces, so cut at the last ')'.
            let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
                continue;
            };
            if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parent.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parent {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// Sorted copy; median and 95th percentile (nearest rank).
pub fn percentiles(samples: &[Duration]) -> (Duration, Duration) {
    let mut s = samples.to_vec();
    s.sort();
    if s.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    let med = s[s.len() / 2];
    let p95 = s[((s.len() * 95).div_ceil(100))
        .saturating_sub(1)
        .min(s.len() - 1)];
    (med, p95)
}

pub fn median_f64(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { 0.0 } else { s[s.len() / 2] }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// One row of the result table: `| figure | ncagent | anchor | ratio |`.
/// `scripts/bench` collects the lines that start with "| ".
pub fn row(figure: &str, agent: f64, anchor: f64, unit: &str, note: &str) {
    let ratio = if anchor > 0.0 {
        agent / anchor
    } else {
        f64::NAN
    };
    let ratio = if ratio < 0.1 {
        format!("{ratio:.4}")
    } else {
        format!("{ratio:.2}")
    };
    println!(
        "| {figure} | {} {unit} | {} {unit} | {ratio} | {note} |",
        fmt(agent),
        fmt(anchor)
    );
}

fn fmt(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The table header, printed once per bench binary.
pub fn header(title: &str) {
    println!("\n{title}\n");
    println!("| figure | ncagent | anchor | ratio ncagent/anchor | note |");
    println!("|---|---|---|---|---|");
}

/// A NETCONF session over SSH with the test client (tests/common): TCP
/// connect + SSH handshake (key exchange), public-key auth, then channel +
/// `netconf` subsystem + server hello read + our base:1.0 hello written.
/// Returns the time of each of the three stages. The client sets
/// TCP_NODELAY (ncagent sets it on its side too).
pub fn netconf_connect(
    addr: SocketAddr,
    user: &str,
    key: &Path,
) -> Result<(Client, [Duration; 3]), String> {
    let t0 = Instant::now();
    let tcp = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut s = ssh2::Session::new().map_err(|e| e.to_string())?;
    s.set_tcp_stream(tcp);
    s.set_timeout(20_000);
    s.handshake().map_err(|e| format!("SSH handshake: {e}"))?;
    let t1 = Instant::now();
    s.userauth_pubkey_file(user, None, key, None)
        .map_err(|e| format!("public-key login refused: {e}"))?;
    let t2 = Instant::now();
    let mut c = Client::open(s);
    c.hello(false);
    let t3 = Instant::now();
    Ok((c, [t1 - t0, t2 - t1, t3 - t2]))
}
