//! NETCONF over SSH: ncagent against the server a user would deploy instead,
//! measured in the same run (SPEC §9). The anchor is yuma123's `netconfd`
//! (Debian package `netconfd`, 2.13) behind OpenSSH's sshd, whose `netconf`
//! subsystem is `/usr/sbin/netconf-subsystem`; netconfd loads the same YANG
//! module as ncagent (yang/ncagent-bgp-vpn-target@2026-11-26.yang, copied
//! unchanged) without instrumentation code, so it answers
//! `refresh-bgp-vpn-target` with `<ok/>` once its input is validated
//! against the schema.
//!
//! Both servers are driven by the same client: OpenSSH's `ssh -s netconf`
//! as a child process, logging in with a password (given by an askpass
//! program), base:1.0 framing. Figures, medians of ROUNDS rounds alternating
//! ncagent and netconfd: session set-up (client spawn to server hello),
//! pipelined `<get-config>`, pipelined `refresh-bgp-vpn-target` `<all/>`
//! import (the same request each time, and each request different by
//! insignificant whitespace, which ncagent cannot answer from the verdicts
//! it remembers), pipelined filtered `<get>` of `netconf-state/statistics`
//! (the NMS's poll) and of `netconf-state/datastores` (ncagent's general
//! read path).
//!
//! scripts/bench provides the login: the system user netconfd runs as and
//! logs in as (NCAGENT_BENCH_USER) and its password of this run
//! (NCAGENT_BENCH_PASSWORD). Every loop is bounded by a count, and every
//! client process by a watchdog that kills it after CLIENT_LIMIT.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::*;

const BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
const MODULE: &str = "ncagent-bgp-vpn-target@2026-11-26.yang";
const BVT_NS: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";
const EOM: &[u8] = b"]]>]]>";

const ROUNDS: usize = 3;
/// How often a round of netconfd (the anchor) is taken again after it
/// stopped answering part-way (`pipelined_rates`).
const ANCHOR_RETRIES: usize = 3;
/// Set-ups per server in each round; the round's figure is their median.
const SETUPS_PER_ROUND: usize = 5;
/// Pipelined RPCs per session: netconfd stalls beyond ~2,000 `<get-config>`s
/// on one session, and at ~1,000 filtered `<get>`s.
const PIPELINED: usize = 1_000;
const PIPELINED_FILTERED: usize = 200;
/// A client process that lives longer than this is killed (its reads then
/// end and the bench fails with a message instead of hanging).
const CLIENT_LIMIT: Duration = Duration::from_secs(90);
/// Wait between writing the client hello and the first RPC. netconfd drops
/// an RPC that arrives in the same read as the client hello (measured: no
/// reply, ever); the wait is not part of any figure.
const AFTER_HELLO: Duration = Duration::from_millis(100);

const GET_CONFIG: &str = "<get-config><source><running/></source></get-config>";
const FILTERED_GET: &str = "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><statistics/></netconf-state></filter></get>";
/// A filtered `<get>` ncagent answers through its general read path (a
/// libyang tree of what the filter can select, filtered, printed), unlike
/// the statistics poll, which it writes directly: the datastores and their
/// locks.
const FILTERED_GET_DATASTORES: &str = "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><datastores/></netconf-state></filter></get>";

fn refresh_all_import() -> String {
    format!(
        "<refresh-bgp-vpn-target xmlns=\"{BVT_NS}\"><all/><direction>import</direction></refresh-bgp-vpn-target>"
    )
}

/// Whether the pipelined requests are byte-identical (but for message-id)
/// or each differs from the last 49 by insignificant whitespace before the
/// operation's end tag: ncagent remembers the last few requests it
/// validated (docs/performance.md), so the second kind measures the full
/// libyang path on every request.
#[derive(Clone, Copy)]
enum Vary {
    Same,
    Whitespace,
}

impl Vary {
    fn apply<'b>(self, body: &'b str, id: u64) -> std::borrow::Cow<'b, str> {
        match (self, body.rfind("</")) {
            (Vary::Whitespace, Some(at)) => format!(
                "{}{}{}",
                &body[..at],
                " ".repeat((id % 50) as usize),
                &body[at..]
            )
            .into(),
            _ => body.into(),
        }
    }
}

/// One server under test and how the client logs in to it.
struct Target {
    name: &'static str,
    port: u16,
    user: String,
    password: String,
}

/// What the client needs beyond the target: the askpass program and the
/// file its stderr goes to.
struct ClientEnv {
    askpass: PathBuf,
    log: PathBuf,
}

/// `ssh -s netconf` as a child process (in its own process group, so that
/// the watchdog can end it with its askpass helper), with the NETCONF
/// framing done here.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    buf: Vec<u8>,
    /// Bytes before `start` are consumed; no EOM starts before `scanned`.
    start: usize,
    scanned: usize,
    watchdog: Option<mpsc::Sender<()>>,
    next_id: u64,
}

impl Session {
    /// Spawns the client and reads the server hello. Returns the session,
    /// the hello and the time from just before the spawn to the hello's
    /// last byte. Our hello is written afterwards, then AFTER_HELLO waited.
    fn open(t: &Target, env: &ClientEnv) -> (Session, String, Duration) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&env.log)
            .expect("client log");
        let t0 = Instant::now();
        let mut child = Command::new("ssh")
            .args([
                "-F",
                "/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "PreferredAuthentications=password",
                "-o",
                "PubkeyAuthentication=no",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "KexAlgorithms=curve25519-sha256",
                "-o",
                "HostKeyAlgorithms=ssh-ed25519",
                "-o",
                "Ciphers=chacha20-poly1305@openssh.com",
                "-o",
                "ConnectTimeout=10",
                "-p",
            ])
            .arg(t.port.to_string())
            .arg(format!("{}@127.0.0.1", t.user))
            .args(["-s", "netconf"])
            .env("SSH_ASKPASS", &env.askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("NCAGENT_BENCH_ASKPASS", &t.password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("run ssh (openssh-client)");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("ssh stdout");
        let (tx, rx) = mpsc::channel::<()>();
        let pgid = child.id();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(CLIENT_LIMIT) {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pgid}")])
                    .stderr(Stdio::null())
                    .status();
            }
        });
        let mut s = Session {
            child,
            stdin,
            stdout,
            buf: Vec::with_capacity(1 << 20),
            start: 0,
            scanned: 0,
            watchdog: Some(tx),
            next_id: 0,
        };
        let hello = s.recv().unwrap_or_else(|| {
            panic!(
                "{}: no server hello (client log {})",
                t.name,
                env.log.display()
            )
        });
        let setup = t0.elapsed();
        assert!(hello.contains("<hello"), "{}: {hello}", t.name);
        s.send(
            format!(
                "<hello xmlns=\"{BASE_NS}\"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>"
            )
            .as_bytes(),
        );
        std::thread::sleep(AFTER_HELLO);
        (s, hello, setup)
    }

    /// Writes one base:1.0 message.
    fn send(&mut self, msg: &[u8]) {
        let w = self.stdin.as_mut().expect("client stdin");
        w.write_all(msg).expect("write to ssh");
        w.write_all(EOM).expect("write to ssh");
        w.flush().expect("write to ssh");
    }

    /// Reads one whole message; None once the client's output ended.
    fn recv(&mut self) -> Option<String> {
        loop {
            let from = self.scanned;
            if let Some(i) = self.buf[from..].windows(EOM.len()).position(|w| w == EOM) {
                let end = from + i;
                let msg = String::from_utf8_lossy(&self.buf[self.start..end]).into_owned();
                self.start = end + EOM.len();
                self.scanned = self.start;
                return Some(msg);
            }
            self.scanned = self.buf.len().saturating_sub(EOM.len() - 1).max(self.start);
            if self.start > 0 && self.start >= self.buf.len() / 2 {
                self.buf.drain(..self.start);
                self.scanned -= self.start;
                self.start = 0;
            }
            let mut chunk = [0u8; 65536];
            match self.stdout.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn rpc(&mut self, body: &str) -> String {
        self.next_id += 1;
        let msg = format!(
            "<rpc xmlns=\"{BASE_NS}\" message-id=\"{}\">{body}</rpc>",
            self.next_id
        );
        self.send(msg.as_bytes());
        self.recv()
            .expect("a reply (none: the server stalled or closed)")
    }

    /// Writes `n` RPCs with `body` at once (from a writer thread, so that
    /// neither side blocks on a full pipe) while reading the replies; each
    /// must contain `marker`. Returns the time from the first write to the
    /// last reply.
    fn pipelined(
        &mut self,
        name: &str,
        body: &str,
        n: usize,
        marker: &str,
        vary: Vary,
    ) -> Result<Duration, String> {
        let mut out = String::with_capacity(n * (body.len() + 80));
        let first = self.next_id + 1;
        for id in first..first + n as u64 {
            let body = vary.apply(body, id);
            write!(
                out,
                "<rpc xmlns=\"{BASE_NS}\" message-id=\"{id}\">{body}</rpc>]]>]]>"
            )
            .unwrap();
        }
        self.next_id += n as u64;
        let mut stdin = self.stdin.take().expect("client stdin");
        let start = Instant::now();
        let writer = std::thread::spawn(move || {
            stdin.write_all(out.as_bytes())?;
            stdin.flush()?;
            Ok::<_, std::io::Error>(stdin)
        });
        let mut last = String::new();
        for i in 0..n {
            last = match self.recv() {
                Some(m) => m,
                None => {
                    // The writer ends too once the client is gone.
                    let _ = writer.join();
                    return Err(format!(
                        "{name}: {i} of {n} pipelined replies, then the client's output ended"
                    ));
                }
            };
            assert!(last.contains(marker), "{name}: reply {i}: {last}");
        }
        let elapsed = start.elapsed();
        let want = format!("message-id=\"{}\"", self.next_id);
        assert!(last.contains(&want), "{name}: last reply: {last}");
        self.stdin = Some(writer.join().expect("writer").expect("write to ssh"));
        Ok(elapsed)
    }

    /// Ends a session whose server stopped answering: the client's process
    /// group is killed and the client reaped.
    fn abandon(mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        drop(self.watchdog.take());
    }

    /// `<close-session>`, then the client's exit (≤ 10 s, else it is killed).
    fn close(mut self, name: &str) {
        let r = self.rpc("<close-session/>");
        assert!(r.contains("<ok/>"), "{name}: close-session: {r}");
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        terminate(&mut self.child);
        drop(self.watchdog.take());
    }
}

// -------------------------------------------------------------- netconfd

/// yuma123 netconfd, run as `user` with `setpriv` (it only accepts sessions
/// of the user it runs as), told the sshd port (`--port`; sessions from any
/// other port are refused) and its own UNIX socket. Stopped by pid.
struct Netconfd {
    child: Option<Child>,
    dir: PathBuf,
    user: String,
    port: u16,
    starts: usize,
}

impl Netconfd {
    fn sock(dir: &Path) -> PathBuf {
        dir.join("ncxserver.sock")
    }

    fn start(&mut self) {
        let sock = Self::sock(&self.dir);
        // netconfd leaves its socket behind, and a new one cannot bind it.
        let _ = std::fs::remove_file(&sock);
        self.starts += 1;
        let log = self.dir.join(format!("netconfd-{}.log", self.starts));
        let out = std::fs::File::create(self.dir.join(format!("netconfd-{}.out", self.starts)))
            .expect("netconfd stdout file");
        let u = self.user.as_str();
        let child = Command::new("setpriv")
            .args([
                "--reuid",
                u,
                "--regid",
                u,
                "--init-groups",
                "/usr/sbin/netconfd",
            ])
            .arg(format!("--port={}", self.port))
            .arg(format!("--ncxserver-sockname={}", sock.display()))
            .arg(format!("--module={}", self.dir.join(MODULE).display()))
            .arg("--no-startup")
            .arg("--log-level=info")
            .arg(format!("--log={}", log.display()))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("run setpriv netconfd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if text.contains("Running netconfd server") && sock.exists() {
                break;
            }
            let exited = matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(Some(_))));
            if exited || Instant::now() > deadline {
                self.stop();
                panic!("netconfd did not start; its log:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let t = Instant::now();
            terminate(&mut c);
            println!(
                "netconfd pid {} stopped (SIGTERM, SIGKILL after 5 s) in {:.0} ms",
                c.id(),
                ms(t.elapsed())
            );
        }
        let _ = std::fs::remove_file(Self::sock(&self.dir));
    }

    fn restart(&mut self) {
        self.stop();
        self.start();
    }
}

impl Drop for Netconfd {
    fn drop(&mut self) {
        self.stop();
    }
}

// ------------------------------------------------------------ measurements

/// Median of the per-round medians of SETUPS_PER_ROUND set-ups, per target;
/// the rounds alternate between the targets.
fn setups(targets: [&Target; 2], env: &ClientEnv) -> [(f64, Vec<f64>); 2] {
    let mut rounds: [Vec<f64>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (k, t) in targets.iter().enumerate() {
            let mut v = Vec::with_capacity(SETUPS_PER_ROUND);
            for _ in 0..SETUPS_PER_ROUND {
                let (s, _, d) = Session::open(t, env);
                v.push(ms(d));
                s.close(t.name);
            }
            rounds[k].push(median_f64(&v));
        }
    }
    rounds.map(|r| (median_f64(&r), r))
}

/// RPCs per second over ROUNDS rounds of one fresh session each per target
/// (one warm-up round trip, then `n` pipelined), alternating; median.
fn pipelined_rates(
    targets: [&Target; 2],
    env: &ClientEnv,
    netconfd: &mut Netconfd,
    body: &str,
    n: usize,
    marker: &str,
    vary: Vary,
) -> [(f64, Vec<f64>); 2] {
    let mut rounds: [Vec<f64>; 2] = Default::default();
    for _ in 0..ROUNDS {
        for (k, t) in targets.iter().enumerate() {
            // netconfd (the anchor) sometimes stops answering a pipelined
            // burst part-way and closes the session (see the doc); its round
            // is then taken again on a restarted netconfd, at most
            // ANCHOR_RETRIES times, and each retry is printed. ncagent gets
            // no retry: a failure of its round ends the bench.
            let mut attempt = 0;
            let d = loop {
                let (mut s, _, _) = Session::open(t, env);
                let warm = s.rpc(body);
                assert!(warm.contains(marker), "{}: {warm}", t.name);
                match s.pipelined(t.name, body, n, marker, vary) {
                    Ok(d) => {
                        s.close(t.name);
                        break d;
                    }
                    Err(e) if t.name == "netconfd" && attempt < ANCHOR_RETRIES => {
                        attempt += 1;
                        println!(
                            "{e}; netconfd restarted, round taken again ({attempt} of {ANCHOR_RETRIES})"
                        );
                        s.abandon();
                        netconfd.restart();
                    }
                    Err(e) => panic!("{e}"),
                }
            };
            rounds[k].push(n as f64 / d.as_secs_f64());
        }
    }
    rounds.map(|r| (median_f64(&r), r))
}

/// Median time of an Argon2id verification with the parameters ncagent
/// hashes with (`ncagent::auth::hash_password`), made as the agent makes it
/// (`ncagent::auth::verify_password_hash`, its memory kept between calls).
fn argon2_verify_ms(password: &str, hash: &str) -> (f64, String) {
    use argon2::password_hash::PasswordHash;
    let parsed = PasswordHash::new(hash).expect("PHC string");
    let params = parsed
        .params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut v = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        assert!(
            ncagent::auth::verify_password_hash(hash, password),
            "password verifies"
        );
        v.push(ms(t.elapsed()));
    }
    (median_f64(&v), params)
}

fn rounds_str(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.1}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let (Ok(user), Ok(password)) = (
        std::env::var("NCAGENT_BENCH_USER"),
        std::env::var("NCAGENT_BENCH_PASSWORD"),
    ) else {
        panic!(
            "NCAGENT_BENCH_USER / NCAGENT_BENCH_PASSWORD are not set: run scripts/bench \
             (it creates the system user netconfd runs as and sets its password for the run)"
        );
    };
    for p in ["/usr/sbin/netconfd", "/usr/sbin/netconf-subsystem"] {
        assert!(
            Path::new(p).exists(),
            "{p} is missing: run scripts/bench (it installs netconfd)"
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    // netconf-subsystem runs as `user` and must reach netconfd's socket.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o711)).unwrap();
    }
    let nd_dir = root.join("netconfd");
    std::fs::create_dir(&nd_dir).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("yang")
            .join(MODULE),
        nd_dir.join(MODULE),
    )
    .expect("copy the YANG module");
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{user}:"))
        .arg(&nd_dir)
        .status()
        .expect("chown");
    assert!(status.success(), "chown {user} {}", nd_dir.display());

    // The client's password comes from this program, which reads it from
    // the environment ssh passes down.
    let askpass = root.join("askpass");
    std::fs::write(
        &askpass,
        "#!/bin/sh\nprintf '%s\\n' \"$NCAGENT_BENCH_ASKPASS\"\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let env = ClientEnv {
        askpass,
        log: root.join("ssh-client.log"),
    };

    // ncagent: the test configuration (password users with Argon2id hashes,
    // no [bgp] peers), logging in as the level-3 password user.
    let agent_dir = root.join("ncagent");
    std::fs::create_dir(&agent_dir).unwrap();
    let config = common::test_config(&agent_dir, "");
    let agent = AgentProcess::start(&agent_dir, &config);
    let ncagent = Target {
        name: "ncagent",
        port: agent.addr.port(),
        user: common::ADMIN.0.into(),
        password: common::ADMIN.1.into(),
    };
    let admin_hash = config
        .lines()
        .skip_while(|l| !l.contains(&format!("name = \"{}\"", common::ADMIN.0)))
        .find_map(|l| l.strip_prefix("password_hash = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("the admin user's hash in the test config")
        .to_owned();

    let sshd_dir = root.join("sshd");
    std::fs::create_dir(&sshd_dir).unwrap();
    let sock = Netconfd::sock(&nd_dir);
    let auth = format!(
        "PasswordAuthentication yes\nPubkeyAuthentication no\nPermitRootLogin no\nAllowUsers {user}\n"
    );
    let sshd = Sshd::start(&sshd_dir, &auth, |port| {
        format!(
            "/usr/sbin/netconf-subsystem --ncxserver-sockname={port}@{}",
            sock.display()
        )
    });
    let mut netconfd = Netconfd {
        child: None,
        dir: nd_dir.clone(),
        user: user.clone(),
        port: sshd.addr.port(),
        starts: 0,
    };
    netconfd.start();
    let anchor = Target {
        name: "netconfd",
        port: sshd.addr.port(),
        user,
        password,
    };
    let targets = [&ncagent, &anchor];

    // What each answers to the validated RPC, and its hello size.
    let refresh = refresh_all_import();
    for t in targets {
        let (mut s, hello, _) = Session::open(t, &env);
        let r = s.rpc(&refresh);
        println!(
            "{}: hello {} bytes; refresh-bgp-vpn-target <all/> import answered: {}",
            t.name,
            hello.len(),
            r.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        let bad = s.rpc(&refresh.replace("import", "sideways"));
        let tag = common::text_of(&bad, "error-tag").unwrap_or("(none)");
        println!(
            "{}: direction \"sideways\" answered error-tag {tag}",
            t.name
        );
        println!(
            "{}: reply sizes: get-config {} bytes, filtered get {} bytes, refresh {} bytes",
            t.name,
            s.rpc(GET_CONFIG).len(),
            s.rpc(FILTERED_GET).len(),
            r.len()
        );
        s.close(t.name);
    }

    let setup = setups(targets, &env);
    println!(
        "set-up rounds, median ms: ncagent [{}], netconfd [{}]",
        rounds_str(&setup[0].1),
        rounds_str(&setup[1].1)
    );
    let (argon_ms, argon_params) = argon2_verify_ms(common::ADMIN.1, &admin_hash);
    println!(
        "Argon2id verification ({argon_params}) in the bench process: median {argon_ms:.1} ms, \
         {:.0}% of ncagent's set-up median",
        100.0 * argon_ms / setup[0].0
    );

    let mut figures = Vec::new();
    for (what, body, n, marker, vary) in [
        ("get-config", GET_CONFIG, PIPELINED, "<data", Vary::Same),
        (
            "refresh-bgp-vpn-target",
            refresh.as_str(),
            PIPELINED,
            "<ok/>",
            Vary::Same,
        ),
        (
            "refresh-bgp-vpn-target, each request different",
            refresh.as_str(),
            PIPELINED,
            "<ok/>",
            Vary::Whitespace,
        ),
        (
            "filtered get",
            FILTERED_GET,
            PIPELINED_FILTERED,
            "<in-rpcs>",
            Vary::Same,
        ),
        (
            "filtered get datastores",
            FILTERED_GET_DATASTORES,
            PIPELINED_FILTERED,
            "datastore>",
            Vary::Same,
        ),
        // Last: ncagent's running emptied first (see below).
        (
            "get-config, both runnings empty",
            GET_CONFIG,
            PIPELINED,
            "<data",
            Vary::Same,
        ),
    ] {
        if what == "get-config, both runnings empty" {
            // ncagent's running holds its shipped NACM rules (2.6 kB
            // printed), netconfd's (started without a startup) nothing of
            // the kind; a netconfd started from the same rules stopped
            // answering after two pipelined <get-config>s. For one figure
            // of the same data on both, the rules leave ncagent's running
            // (the admin is then permitted by NACM's defaults, as on
            // netconfd).
            let (mut s, _, _) = Session::open(&ncagent, &env);
            let r = s.rpc(&format!(
                "<edit-config><target><running/></target><config>\
                 <nacm xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-acm\" \
                 xmlns:nc=\"{BASE_NS}\" nc:operation=\"delete\"/></config></edit-config>"
            ));
            assert!(r.contains("<ok/>"), "removing ncagent's rules: {r}");
            let r = s.rpc(GET_CONFIG);
            println!(
                "ncagent: get-config with its running emptied: {} bytes",
                r.len()
            );
            s.close("ncagent");
        }
        // A fresh netconfd for each figure: it stalls once too many RPCs
        // went through one session, and this keeps the figures independent.
        netconfd.restart();
        let r = pipelined_rates(targets, &env, &mut netconfd, body, n, marker, vary);
        println!(
            "{what} rounds, RPC/s: ncagent [{}], netconfd [{}]",
            rounds_str(&r[0].1),
            rounds_str(&r[1].1)
        );
        figures.push(r);
    }
    netconfd.stop();

    header("NETCONF against yuma123 netconfd (higher is better)");
    row(
        "session set-ups/s, password (client spawn → server hello)",
        1000.0 / setup[0].0,
        1000.0 / setup[1].0,
        "/s",
        &format!(
            "OpenSSH client; median set-up {:.1} ms vs {:.1} ms; ncagent's includes Argon2id ≈ {argon_ms:.0} ms",
            setup[0].0, setup[1].0
        ),
    );
    let notes = [
        (
            "pipelined get-config",
            format!(
                "{PIPELINED} per session; each server's own running: ncagent's holds the shipped NACM rules (reply sizes above)"
            ),
        ),
        (
            "pipelined refresh-bgp-vpn-target <all/> import, schema-validated",
            format!("{PIPELINED} per session; no peers: both answer <ok/> after validation"),
        ),
        (
            "pipelined refresh-bgp-vpn-target, each request different, schema-validated",
            format!(
                "{PIPELINED} per session; insignificant whitespace varies, so ncagent validates each with libyang"
            ),
        ),
        (
            "pipelined filtered get netconf-state/statistics",
            format!(
                "{PIPELINED_FILTERED} per session, subtree filter; ncagent writes this poll directly"
            ),
        ),
        (
            "pipelined filtered get netconf-state/datastores",
            format!(
                "{PIPELINED_FILTERED} per session, subtree filter; ncagent's general read path (libyang tree)"
            ),
        ),
        (
            "pipelined get-config, both runnings empty",
            format!(
                "{PIPELINED} per session; ncagent's NACM rules deleted for this figure, taken last"
            ),
        ),
    ];
    for ((figure, note), r) in notes.iter().zip(&figures) {
        row(
            &format!("{figure}, RPC/s"),
            r[0].0,
            r[1].0,
            "/s",
            &format!("{note}; median of {ROUNDS} rounds"),
        );
    }
    drop(sshd);
    drop(agent);
}
