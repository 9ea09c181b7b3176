//! SSH transport and sessions: ncagent against an anchor measured in the
//! same run (SPEC §9). The anchor is OpenSSH's sshd on a loopback port whose
//! `netconf` subsystem is a minimal C responder (benches/anchor/): it sends
//! the hello ncagent sent and answers every `<rpc>` with the bytes ncagent
//! answered to the same `<get-config>`. It is not a NETCONF server (no
//! parsing, no schema); it measures what OpenSSH's process-per-session
//! transport costs. The NETCONF server comparison is benches/netconfd.rs.
//! Both servers are driven by the same blocking libssh2 client
//! (tests/common) with public-key authentication.
//!
//! Figures: RPC round trips per second on one session and on many, session
//! set-up per second (TCP + SSH + auth + subsystem + hellos), memory per idle
//! session. Every loop is bounded by a count and a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Client;
use support::*;

const GET_CONFIG: &str = "<get-config><source><running/></source></get-config>";
const ONE_SESSION_RPCS: usize = 20_000;
const ONE_SESSION_TIME: Duration = Duration::from_secs(4);
const MANY_SESSIONS: usize = 8;
const MANY_SESSION_RPCS: usize = 2_500;
const MANY_SESSION_TIME: Duration = Duration::from_secs(4);
/// RPC rates are measured in rounds, ncagent and anchor alternating; the
/// median round is reported.
const ROUNDS: usize = 3;
const SETUPS: usize = 50;
const SETUP_TIME: Duration = Duration::from_secs(10);
const IDLE_SESSIONS: usize = 40;

/// One server under test: where it listens and whom to log in as.
#[derive(Clone)]
struct Target {
    name: &'static str,
    addr: SocketAddr,
    user: String,
    key: PathBuf,
}

impl Target {
    /// TCP + SSH handshake + public-key auth + `netconf` subsystem + server
    /// hello read + our base:1.0 hello written.
    fn connect(&self) -> Client {
        self.connect_staged().0
    }

    fn connect_staged(&self) -> (Client, [Duration; 3]) {
        netconf_connect(self.addr, &self.user, &self.key)
            .unwrap_or_else(|e| panic!("{}: {e}", self.name))
    }

    fn methods(&self) -> String {
        let c = self.connect();
        use ssh2::MethodType::*;
        let m = |t| c.session.methods(t).unwrap_or("?").to_owned();
        format!(
            "kex {}, host key {}, cipher {}, mac {}",
            m(Kex),
            m(HostKey),
            m(CryptCs),
            m(MacCs)
        )
    }
}

fn close(mut c: Client) {
    let r = c.rpc("<close-session/>");
    assert!(r.contains("<ok/>"), "close-session: {r}");
    assert!(c.closed(), "server did not close the channel");
}

// ---------------------------------------------------------------- responder

/// Compiles the anchor's NETCONF responder (benches/anchor/netconf_responder.c)
/// into `dir`: a C program so that the anchor carries no more than it needs.
fn build_responder(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/anchor/netconf_responder.c");
    let out = dir.join("netconf_responder");
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("run cc (gcc is needed to build ncagent anyway)");
    assert!(status.success(), "cc failed on {}", src.display());
    out
}

// ------------------------------------------------------------- measurements

/// Sequential `<get-config>` round trips on one session.
fn rpc_one_session(t: &Target) -> f64 {
    let mut c = t.connect();
    for _ in 0..50 {
        c.rpc(GET_CONFIG);
    }
    let start = Instant::now();
    let mut n = 0;
    while n < ONE_SESSION_RPCS && start.elapsed() < ONE_SESSION_TIME {
        let r = c.rpc(GET_CONFIG);
        assert!(r.contains("<data"), "{}: {r}", t.name);
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    close(c);
    rate
}

/// Sequential round trips on each of MANY_SESSIONS sessions at once (one
/// client thread each); total replies over wall time.
fn rpc_many_sessions(t: &Target) -> f64 {
    let barrier = Arc::new(Barrier::new(MANY_SESSIONS + 1));
    let threads: Vec<_> = (0..MANY_SESSIONS)
        .map(|_| {
            let t = t.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut c = t.connect();
                c.rpc(GET_CONFIG);
                barrier.wait();
                let start = Instant::now();
                let mut n = 0;
                while n < MANY_SESSION_RPCS && start.elapsed() < MANY_SESSION_TIME {
                    let r = c.rpc(GET_CONFIG);
                    assert!(r.contains("<data"), "{r}");
                    n += 1;
                }
                let done = Instant::now();
                close(c);
                (n, done)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let mut total = 0;
    let mut last = start;
    for th in threads {
        let (n, done) = th.join().expect("session thread");
        total += n;
        last = last.max(done);
    }
    total as f64 / (last - start).as_secs_f64()
}

/// Sessions set up one after another; only the set-up is timed, the
/// close-session and the wait for the channel to close are not.
struct Setups {
    /// Whole set-ups per second of set-up time.
    per_second: f64,
    /// TCP + SSH handshake + auth only, per second of that time.
    ssh_per_second: f64,
    /// Median of each stage (see `netconf_connect`).
    stages: [Duration; 3],
}

fn setups_per_second(t: &Target) -> Setups {
    close(t.connect());
    let begin = Instant::now();
    let (mut timed, mut ssh) = (Duration::ZERO, Duration::ZERO);
    let mut stages: [Vec<Duration>; 3] = Default::default();
    let mut n = 0;
    while n < SETUPS && begin.elapsed() < SETUP_TIME {
        let (c, st) = t.connect_staged();
        timed += st.iter().sum::<Duration>();
        ssh += st[0] + st[1];
        for (v, d) in stages.iter_mut().zip(st) {
            v.push(d);
        }
        n += 1;
        close(c);
    }
    Setups {
        per_second: n as f64 / timed.as_secs_f64(),
        ssh_per_second: n as f64 / ssh.as_secs_f64(),
        stages: stages.map(|v| percentiles(&v).0),
    }
}

/// Opens IDLE_SESSIONS sessions (each answered one `<get-config>`, then idle)
/// and returns them.
fn open_idle(t: &Target) -> Vec<Client> {
    (0..IDLE_SESSIONS)
        .map(|_| {
            let mut c = t.connect();
            assert!(c.rpc(GET_CONFIG).contains("<data"));
            c
        })
        .collect()
}

struct Memory {
    rss_kb: f64,
    pss_kb: f64,
    processes: f64,
}

/// ncagent: growth of the one process's RSS/PSS, per idle session.
fn agent_memory(t: &Target, pid: u32) -> Memory {
    close(t.connect());
    std::thread::sleep(Duration::from_millis(300));
    let (r0, p0) = (rss_kb(pid), pss_kb(pid));
    let sessions = open_idle(t);
    std::thread::sleep(Duration::from_millis(300));
    let (r1, p1) = (rss_kb(pid), pss_kb(pid));
    sessions.into_iter().for_each(close);
    let n = IDLE_SESSIONS as f64;
    Memory {
        rss_kb: (r1 as f64 - r0 as f64) / n,
        pss_kb: (p1 as f64 - p0 as f64) / n,
        processes: 0.0,
    }
}

/// The anchor: sum over the processes sshd forked for the sessions (its
/// per-connection sshd processes and the responders), per idle session.
fn anchor_memory(t: &Target, sshd_pid: u32) -> Memory {
    std::thread::sleep(Duration::from_millis(300));
    let before = descendants(sshd_pid);
    assert!(
        before.is_empty(),
        "sshd has children before the run: {before:?}"
    );
    let sessions = open_idle(t);
    std::thread::sleep(Duration::from_millis(300));
    let procs = descendants(sshd_pid);
    let mut kinds: std::collections::BTreeMap<String, (usize, u64, u64)> = Default::default();
    for p in &procs {
        let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let kind = if cmd.contains("netconf_responder") {
            "responder".to_owned()
        } else {
            cmd.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
        };
        let e = kinds.entry(kind).or_default();
        e.0 += 1;
        e.1 += rss_kb(*p);
        e.2 += pss_kb(*p);
    }
    for (kind, (count, rss, pss)) in &kinds {
        println!(
            "anchor process {kind:?}: {count} for {IDLE_SESSIONS} sessions, RSS {} kB, PSS {} kB each (mean)",
            rss / *count as u64,
            pss / *count as u64
        );
    }
    let rss: u64 = procs.iter().map(|p| rss_kb(*p)).sum();
    let pss: u64 = procs.iter().map(|p| pss_kb(*p)).sum();
    sessions.into_iter().for_each(close);
    let n = IDLE_SESSIONS as f64;
    Memory {
        rss_kb: rss as f64 / n,
        pss_kb: pss as f64 / n,
        processes: procs.len() as f64 / n,
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, key_pub) = common::key_pair(dir.path());
    let agent = AgentProcess::start(dir.path(), &common::test_config(dir.path(), ""));
    let ncagent = Target {
        name: "ncagent",
        addr: agent.addr,
        user: "keyuser".into(),
        key: key.clone(),
    };

    // The anchor answers with ncagent's own bytes: capture its hello and
    // its reply to <get-config> (message-id="1" becomes the placeholder).
    let mut c = ncagent.connect();
    std::fs::write(dir.path().join("hello.xml"), &c.server_hello).unwrap();
    let reply = c.rpc(GET_CONFIG);
    assert!(reply.contains("message-id=\"1\""), "{reply}");
    std::fs::write(
        dir.path().join("reply.xml"),
        reply.replacen("message-id=\"1\"", "message-id=\"@ID@\"", 1),
    )
    .unwrap();
    close(c);

    let responder = build_responder(dir.path());
    let subsystem = format!("{} {}", responder.display(), dir.path().display());
    std::fs::write(dir.path().join("authorized_keys"), format!("{key_pub}\n")).unwrap();
    let auth = format!(
        "AuthorizedKeysFile {}/authorized_keys\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         PermitRootLogin yes\n",
        dir.path().display()
    );
    let sshd = Sshd::start(dir.path(), &auth, |_| subsystem.clone());
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    let anchor = Target {
        name: "sshd+responder",
        addr: sshd.addr,
        user,
        key,
    };

    println!("ncagent:        {}", ncagent.methods());
    println!("sshd+responder: {}", anchor.methods());
    println!(
        "get-config reply: {} bytes, hello: {} bytes",
        reply.len(),
        std::fs::read(dir.path().join("hello.xml")).unwrap().len()
    );

    // Memory first, while both servers are fresh.
    let ma = agent_memory(&ncagent, agent.pid());
    let mo = anchor_memory(&anchor, sshd.pid());
    let (mut one, mut many) = ((vec![], vec![]), (vec![], vec![]));
    for _ in 0..ROUNDS {
        one.0.push(rpc_one_session(&ncagent));
        one.1.push(rpc_one_session(&anchor));
        many.0.push(rpc_many_sessions(&ncagent));
        many.1.push(rpc_many_sessions(&anchor));
    }
    println!(
        "RPC rounds, 1 session: ncagent {:.0?}, anchor {:.0?}",
        one.0, one.1
    );
    println!(
        "RPC rounds, {MANY_SESSIONS} sessions: ncagent {:.0?}, anchor {:.0?}",
        many.0, many.1
    );
    let one = (median_f64(&one.0), median_f64(&one.1));
    let many = (median_f64(&many.0), median_f64(&many.1));
    let setup = (setups_per_second(&ncagent), setups_per_second(&anchor));

    for (name, Setups { stages: st, .. }) in [("ncagent", &setup.0), ("sshd+responder", &setup.1)] {
        println!(
            "set-up stages, median ms ({name}): handshake {:.2}, auth {:.2}, subsystem+hellos {:.2}",
            ms(st[0]),
            ms(st[1]),
            ms(st[2])
        );
    }
    header("NETCONF over SSH (higher is better for rates, lower for memory)");
    row(
        "RPC round trips/s, 1 session",
        one.0,
        one.1,
        "/s",
        &format!("sequential get-config, median of {ROUNDS} rounds"),
    );
    row(
        &format!("RPC round trips/s, {MANY_SESSIONS} sessions"),
        many.0,
        many.1,
        "/s",
        &format!("one client thread per session, median of {ROUNDS} rounds"),
    );
    row(
        "session set-ups/s",
        setup.0.per_second,
        setup.1.per_second,
        "/s",
        "TCP+SSH+pubkey+subsystem+hellos, sequential",
    );
    row(
        "SSH set-ups/s (no subsystem)",
        setup.0.ssh_per_second,
        setup.1.ssh_per_second,
        "/s",
        "TCP+SSH handshake+pubkey only, same sessions",
    );
    row(
        "RSS per idle session",
        ma.rss_kb,
        mo.rss_kb,
        "kB",
        &format!(
            "{IDLE_SESSIONS} sessions; anchor: {:.1} processes per session",
            mo.processes
        ),
    );
    row(
        "PSS per idle session",
        ma.pss_kb,
        mo.pss_kb,
        "kB",
        "shared pages divided among processes",
    );
    drop(sshd);
    drop(agent);
}
