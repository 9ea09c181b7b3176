//! Soak: the figures of SPEC §10 under load and attack, on loopback, against
//! the release agent as its own process (so its memory is read from /proc).
//! Run by `scripts/soak`; docs/performance.md ("Soak") has the method.
//!
//! Scenarios, each bounded by a count and a time:
//! 1. 100,000 pipelined `<get-config>` on one session, EOM then chunked;
//! 2. 200 sessions x 1,000 pipelined RPCs mixing `get`, `get-config` and
//!    `refresh-bgp-vpn-target` (import, towards two GoBGP peers);
//! 3. a flood of banner-only connections from 127.0.0.3 while an
//!    administrator on 127.0.0.2 logs in and times its RPCs;
//! 4. a BGP peer that stops reading while exports towards it are requested
//!    in a loop (reported; not a pass/fail figure here).
//!
//! Prints replies lost (must be 0), RSS idle / peak / after, p50/p99 RPC
//! latency with and without the flood; exits non-zero if a reply was lost.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/support/gobgp.rs"]
mod gobgp;
mod support;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BASE_NS, Client};
use gobgp::{GoBgp, Neighbor};
use ncagent::bgp::codec;
use support::*;

const SEQUENTIAL: usize = 10;
const SEQUENTIAL_RPCS: usize = 5_000;
const ROUNDS: usize = 4;
const ROUND_SESSIONS: usize = 50;
const ROUND_RPCS: usize = 1_000;
const PIPELINED: usize = 100_000;
const PIPELINE_TIME: Duration = Duration::from_secs(300);
const SESSIONS: usize = 200;
const SESSION_RPCS: usize = 1_000;
/// `SOAK_MIXED=SESSIONSxRPCS` (e.g. `50x200`) runs only the mixed phase at
/// that size (for profiling); the full soak runs without it.
const MIXED_ENV: &str = "SOAK_MIXED";
const SESSIONS_TIME: Duration = Duration::from_secs(300);
const FLOOD: usize = 1_000;
const FLOOD_ATTEMPTS: usize = 20_000;
const FLOOD_TIME: Duration = Duration::from_secs(60);
const LATENCY_SAMPLES: usize = 2_000;
const LATENCY_TIME: Duration = Duration::from_secs(5);
const STALL_EXPORTS: usize = 1_000;
const STALL_TIME: Duration = Duration::from_secs(90);
const STALL_HOLD: u16 = 3;
const ROUTE_TARGETS: usize = 3_000;

/// The `<get-config>` of every phase: running, filtered to the local AS.
/// Running holds the 3,000 route targets the exports need (~90 kB as XML):
/// unfiltered, every phase would measure bulk transfer instead of what it
/// is for (sessions, queues, pipelining); the filter runs on the stored tree.
const GET_CONFIG: &str = "<get-config><source><running/></source><filter type=\"subtree\">\
    <bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as/></global></bgp></filter></get-config>";
const NS: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";
const GOBGP_HOSTS: [&str; 2] = ["127.0.0.21", "127.0.0.22"];
const STALL_PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const FLOODER: &str = "127.0.0.3";
const ADMIN_HOST: &str = "127.0.0.2";

/// Samples the agent's RSS every 20 ms; the peak since the last reset.
struct RssMonitor {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssMonitor {
    fn start(pid: u32) -> RssMonitor {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        RssMonitor {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak since the previous call, in MB.
    fn take_peak(&self, pid: u32) -> f64 {
        let kb = self.peak.swap(rss_kb(pid), Ordering::Relaxed);
        kb as f64 / 1024.0
    }
}

impl Drop for RssMonitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mb(pid: u32) -> f64 {
    rss_kb(pid) as f64 / 1024.0
}

fn connect(addr: SocketAddr, key: &Path, chunked: bool) -> Client {
    let s = common::ssh_session(addr);
    s.userauth_pubkey_file("keyuser", None, key, None)
        .expect("public-key login");
    let mut c = Client::open(s);
    c.hello(chunked);
    c
}

fn connect_from(source: &str, addr: SocketAddr, key: &Path) -> Result<Client, String> {
    let tcp = common::connect_from(source.parse().unwrap(), addr).map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut s = ssh2::Session::new().map_err(|e| e.to_string())?;
    s.set_tcp_stream(tcp);
    s.set_timeout(20_000);
    s.handshake().map_err(|e| format!("handshake: {e}"))?;
    s.userauth_pubkey_file("keyuser", None, key, None)
        .map_err(|e| format!("login: {e}"))?;
    let mut c = Client::open(s);
    c.hello(true);
    Ok(c)
}

/// Sequential get-config round trips: (p50, p99), how many answered.
fn latency(c: &mut Client) -> (Duration, Duration, usize) {
    let mut samples = Vec::new();
    let deadline = Instant::now() + LATENCY_TIME;
    while samples.len() < LATENCY_SAMPLES && Instant::now() < deadline {
        let t = Instant::now();
        let r = c.rpc(GET_CONFIG);
        samples.push(t.elapsed());
        assert!(r.contains("<data"), "{r}");
    }
    samples.sort();
    let at = |q: usize| samples[((samples.len() * q).div_ceil(100)).saturating_sub(1)];
    (at(50), at(99), samples.len())
}

/// rpc-errors seen, by `error-tag` and the operation that drew them, with
/// one `error-message` each as an example.
type ErrorTags = std::collections::BTreeMap<(String, String), (usize, String)>;

fn between<'a>(r: &'a str, open: &str, close: &str) -> &'a str {
    r.split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map_or("", |(v, _)| v)
}

/// The operation an RPC body names (its first element).
fn op_name(body: &str) -> String {
    body.trim_start_matches('<')
        .split([' ', '>', '/'])
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Pipelines `n` RPCs; returns how many were answered in order with their
/// message-id (the rest are lost) and how many were rpc-errors.
fn pipelined(
    c: &mut Client,
    n: usize,
    body: impl Fn(usize) -> String,
    limit: Duration,
) -> (usize, usize) {
    let (answered, tags) = pipelined_tagged(c, n, body, limit);
    (answered, tags.values().map(|(k, _)| k).sum())
}

/// [`pipelined`], with the rpc-errors by tag.
fn pipelined_tagged(
    c: &mut Client,
    n: usize,
    body: impl Fn(usize) -> String,
    limit: Duration,
) -> (usize, ErrorTags) {
    let mut tags = ErrorTags::new();
    let r = c.try_pipeline(
        n,
        &body,
        |i, r| {
            if !r.contains(&format!("message-id=\"p{i}\"")) {
                return Err(format!(
                    "reply {i} out of order: {}",
                    &r[..r.len().min(200)]
                ));
            }
            if r.contains("<rpc-error>") {
                let tag = between(r, "<error-tag>", "</error-tag>").to_owned();
                let e = tags
                    .entry((op_name(&body(i)), tag))
                    .or_insert_with(|| (0, String::new()));
                e.0 += 1;
                if e.1.is_empty() {
                    e.1 = between(r, "<error-message", "</error-message>")
                        .split_once('>')
                        .map_or("", |(_, m)| m)
                        .to_owned();
                }
            }
            Ok(())
        },
        limit,
    );
    let answered = match r {
        Ok(()) => n,
        Err((got, e)) => {
            println!("  pipeline stopped after {got} of {n}: {e}");
            got
        }
    };
    (answered, tags)
}

/// One RPC in ten is a refresh (import, towards the GoBGP group); the
/// others alternate `get-config` and a `get` of one peer's session state
/// (the whole BGP state lists every route target of every peer: ~MBs).
fn mixed_body(i: usize) -> String {
    match i % 10 {
        9 => format!(
            "<refresh-bgp-vpn-target xmlns=\"{NS}\"><group>gobgp</group><direction>import</direction></refresh-bgp-vpn-target>"
        ),
        j if j % 2 == 0 => GET_CONFIG.to_owned(),
        _ => format!(
            "<get><filter type=\"subtree\"><bgp-vpn-target-state xmlns=\"{NS}\"><peer><address>{}</address><session-state/></peer></bgp-vpn-target-state></filter></get>",
            GOBGP_HOSTS[0]
        ),
    }
}

/// A BGP peer with a short hold time that behaves (reads, sends KEEPALIVEs)
/// until `stall` is set, then never reads or writes again. Returns how long
/// after the stall the agent closed the connection.
fn stalling_peer(
    listener: TcpListener,
    up: std::sync::mpsc::Sender<()>,
    stall: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
) -> Option<Duration> {
    let (mut s, _) = listener.accept().ok()?;
    let open = codec::encode_open(&codec::OpenParams {
        local_as: 65010,
        hold_time: STALL_HOLD,
        router_id: STALL_PEER,
        rtc: true,
        route_refresh: true,
        enhanced_route_refresh: false,
        extended_next_hop: false,
        graceful_restart: false,
    })
    .ok()?;
    s.write_all(&open).ok()?;
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 65536];
    let (mut got_open, mut got_keepalive, mut told) = (false, false, false);
    s.set_read_timeout(Some(Duration::from_millis(300))).ok()?;
    let started = Instant::now();
    let mut last_keepalive = Instant::now();
    while !stall.load(Ordering::Relaxed) {
        if started.elapsed() > Duration::from_secs(1800) {
            return None;
        }
        match s.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {}
        }
        while let Ok(Some(len)) = codec::frame_length(&buf) {
            if buf.len() < len {
                break;
            }
            match buf[18] {
                1 => {
                    got_open = true;
                    s.write_all(&codec::encode_keepalive()).ok()?;
                }
                4 => got_keepalive = true,
                _ => {}
            }
            buf.drain(..len);
        }
        if got_open && got_keepalive && !told {
            told = true;
            let _ = up.send(());
        }
        if last_keepalive.elapsed() >= Duration::from_secs(1) {
            s.write_all(&codec::encode_keepalive()).ok()?;
            last_keepalive = Instant::now();
        }
    }
    let stopped = Instant::now();
    // Never read or write again while the exports run (bounded by the driver).
    while !done.load(Ordering::Relaxed) && stopped.elapsed() < STALL_TIME + Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    // Then drain: EOF means the agent dropped the session.
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return Some(stopped.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(stopped.elapsed());
            }
            Err(_) => return None,
        }
    }
}

fn agent_config(dir: &Path, gobgp: &[GoBgp], stall_port: u16) -> String {
    let rts: Vec<String> = (1..=ROUTE_TARGETS)
        .map(|i| format!("\"65000:{i}\""))
        .collect();
    let mut extra = format!(
        "[limits]\nmax_sessions = {}\nrpc_timeout_secs = 2\n\n[bgp]\nlocal_as = 65000\n\
         router_id = \"10.255.0.1\"\nhold_time = 30\nroute_targets = [{}]\n",
        SESSIONS + 56,
        rts.join(", ")
    );
    for g in gobgp {
        extra.push_str(&format!(
            "\n[[bgp.peers]]\naddress = \"{}\"\nremote_as = {}\nport = {}\ngroup = \"gobgp\"\n",
            g.address, g.asn, g.bgp_port
        ));
    }
    extra.push_str(&format!(
        "\n[[bgp.peers]]\naddress = \"{STALL_PEER}\"\nremote_as = 65010\nport = {stall_port}\n\
         \n[[bgp.groups]]\nname = \"gobgp\"\n"
    ));
    common::test_config(dir, &extra)
}

fn established(c: &mut Client, peer: &str) -> bool {
    let r = c.rpc(&format!(
        "<get><filter type=\"subtree\"><bgp-vpn-target-state xmlns=\"{NS}\"><peer><address>{peer}</address><session-state/></peer></bgp-vpn-target-state></filter></get>"
    ));
    r.contains("<session-state>established</session-state>")
}

/// `sessions` sessions opened one after another, then `rpcs` mixed RPCs
/// pipelined on each in parallel: (answered in order, rpc-errors, seconds).
fn mixed(addr: SocketAddr, key: &Path, sessions: usize, rpcs: usize) -> (usize, ErrorTags, f64) {
    let clients: Vec<Client> = (0..sessions)
        .map(|i| connect(addr, key, i % 2 == 0))
        .collect();
    let t = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            std::thread::spawn(move || pipelined_tagged(&mut c, rpcs, mixed_body, SESSIONS_TIME))
        })
        .collect();
    let (mut answered, mut tags) = (0, ErrorTags::new());
    for th in threads {
        let (a, t) = th.join().unwrap_or_default();
        answered += a;
        for (k, (n, m)) in t {
            let e = tags.entry(k).or_insert((0, m));
            e.0 += n;
        }
    }
    (answered, tags, t.elapsed().as_secs_f64())
}

fn print_tags(tags: &ErrorTags) {
    for ((op, tag), (n, msg)) in tags {
        println!("  rpc-error {tag} on {op}: {n} (e.g. \"{msg}\")");
    }
}

fn main() {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = common::key_pair(dir.path());
    let gobgp: Vec<GoBgp> = GOBGP_HOSTS
        .iter()
        .map(|h| {
            GoBgp::start(
                h,
                65001,
                &[Neighbor {
                    address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                    peer_as: 65000,
                    passive: true,
                    remote_port: 179,
                    rtc_restart_time: None,
                }],
            )
        })
        .collect();
    let stall_listener = TcpListener::bind((STALL_PEER, 0)).expect("stall peer listener");
    let stall_port = stall_listener.local_addr().unwrap().port();
    let (up_tx, up_rx) = std::sync::mpsc::channel();
    let stall_done = Arc::new(AtomicBool::new(false));
    let stall_now = Arc::new(AtomicBool::new(false));
    let (done, now) = (stall_done.clone(), stall_now.clone());
    let stall = std::thread::spawn(move || stalling_peer(stall_listener, up_tx, now, done));

    let agent = AgentProcess::start(dir.path(), &agent_config(dir.path(), &gobgp, stall_port));
    let (addr, pid) = (agent.addr, agent.pid());
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle = mb(pid);
    let monitor = RssMonitor::start(pid);
    let mut lost = 0usize;

    let mut c = connect(addr, &key, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !GOBGP_HOSTS.iter().all(|h| established(&mut c, h)) {
        assert!(Instant::now() < deadline, "GoBGP peers not Established");
        std::thread::sleep(Duration::from_millis(200));
    }
    let rss_warm = mb(pid);
    let (base_p50, base_p99, base_n) = latency(&mut c);
    println!(
        "latency without flood: p50 {:.1} µs, p99 {:.1} µs ({base_n} get-config)",
        us(base_p50),
        us(base_p99)
    );
    drop(c);

    if let Some((n, k)) = std::env::var(MIXED_ENV)
        .ok()
        .and_then(|v| v.split_once('x').map(|(a, b)| (a.parse(), b.parse())))
        .and_then(|(a, b)| Some((a.ok()?, b.ok()?)))
    {
        println!("agent pid {pid}; mixed phase only: {n} sessions x {k}");
        let (answered, tags, secs) = mixed(addr, &key, n, k);
        let peak = monitor.take_peak(pid);
        let mut after = Vec::new();
        let end = Instant::now();
        for s in [2, 5, 10, 20] {
            std::thread::sleep(Duration::from_secs(s).saturating_sub(end.elapsed()));
            let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
            after.push((s, mb(pid), fds));
        }
        println!(
            "{n} sessions x {k} mixed RPCs: {answered} answered in {secs:.1} s ({:.0}/s); peak RSS {peak:.1} MB; RSS idle {rss_idle:.1} MB, warm {rss_warm:.1} MB; RSS after (s, MB, open fds): {after:.1?}",
            answered as f64 / secs,
        );
        print_tags(&tags);
        if let Ok(to) = std::env::var("SOAK_KEEP_LOG") {
            let _ = std::fs::copy(dir.path().join("ncagent.log"), to);
        }
        return;
    }

    // 0. The memory pattern of issue #8: sequential sessions of 5,000
    //    pipelined get-config, then rounds of 50 parallel sessions x 1,000;
    //    RSS after each.
    let mut seq_rss = Vec::new();
    for i in 0..SEQUENTIAL {
        let mut c = connect(addr, &key, i % 2 == 1);
        let (answered, _) = pipelined(
            &mut c,
            SEQUENTIAL_RPCS,
            |_| GET_CONFIG.to_owned(),
            PIPELINE_TIME,
        );
        lost += SEQUENTIAL_RPCS - answered;
        drop(c);
        std::thread::sleep(Duration::from_millis(300));
        seq_rss.push(mb(pid));
    }
    println!(
        "RSS after each of {SEQUENTIAL} sequential sessions x {SEQUENTIAL_RPCS} pipelined (MB): {seq_rss:.1?}"
    );
    let mut round_rss = Vec::new();
    for _ in 0..ROUNDS {
        let clients: Vec<Client> = (0..ROUND_SESSIONS)
            .map(|i| connect(addr, &key, i % 2 == 0))
            .collect();
        let threads: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                std::thread::spawn(move || {
                    pipelined(&mut c, ROUND_RPCS, |_| GET_CONFIG.to_owned(), PIPELINE_TIME).0
                })
            })
            .collect();
        for th in threads {
            lost += ROUND_RPCS - th.join().unwrap_or(0);
        }
        std::thread::sleep(Duration::from_millis(500));
        round_rss.push((monitor.take_peak(pid), mb(pid)));
    }
    println!(
        "{ROUNDS} rounds of {ROUND_SESSIONS} parallel sessions x {ROUND_RPCS} pipelined, (peak, after) RSS per round (MB): {round_rss:.1?}"
    );
    if std::env::var("SOAK_MEMORY_ONLY").is_ok() {
        println!("lost {lost}; RSS idle {rss_idle:.1} MB, warm {rss_warm:.1} MB");
        return;
    }

    // 1. 100,000 pipelined on one session, both framings.
    let mut pipeline_rows = Vec::new();
    for chunked in [false, true] {
        let mut c = connect(addr, &key, chunked);
        let t = Instant::now();
        let (answered, errors) =
            pipelined(&mut c, PIPELINED, |_| GET_CONFIG.to_owned(), PIPELINE_TIME);
        let secs = t.elapsed().as_secs_f64();
        lost += PIPELINED - answered;
        let framing = if chunked { "chunked" } else { "EOM" };
        println!(
            "pipelined {PIPELINED} get-config, {framing}: {answered} answered in order ({errors} rpc-errors) in {secs:.1} s, {:.0}/s",
            answered as f64 / secs
        );
        pipeline_rows.push((framing, answered, secs, monitor.take_peak(pid)));
    }

    // 2. 200 sessions x 1,000 mixed RPCs.
    let (answered, tags, secs) = mixed(addr, &key, SESSIONS, SESSION_RPCS);
    let errors: usize = tags.values().map(|(k, _)| k).sum();
    lost += SESSIONS * SESSION_RPCS - answered;
    let peak_many = monitor.take_peak(pid);
    println!(
        "{SESSIONS} sessions x {SESSION_RPCS} mixed RPCs: {answered} answered ({errors} rpc-errors) in {secs:.1} s, {:.0}/s; peak RSS {peak_many:.1} MB",
        answered as f64 / secs
    );
    print_tags(&tags);
    std::thread::sleep(Duration::from_secs(2));
    let rss_after_many = mb(pid);

    // 3. Unauthenticated flood from one address; an admin logs in from another.
    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let (s2, a2) = (stop.clone(), attempts.clone());
    let flooder = std::thread::spawn(move || {
        let src: IpAddr = FLOODER.parse().unwrap();
        let t = Instant::now();
        let mut held: std::collections::VecDeque<TcpStream> = Default::default();
        let mut refused = 0usize;
        while !s2.load(Ordering::Relaxed)
            && a2.load(Ordering::Relaxed) < FLOOD_ATTEMPTS
            && t.elapsed() < FLOOD_TIME
        {
            a2.fetch_add(1, Ordering::Relaxed);
            match common::connect_from(src, addr) {
                Ok(mut s) => {
                    let _ = s.write_all(b"SSH-2.0-flood\r\n");
                    held.push_back(s);
                }
                Err(_) => refused += 1,
            }
            if held.len() > FLOOD {
                held.pop_front();
            }
            if held.len() == FLOOD {
                // Keep the flood at its size: let the server close some first.
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        (held.len(), refused)
    });
    while attempts.load(Ordering::Relaxed) < FLOOD && started.elapsed() < Duration::from_secs(3600)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let flood_login = connect_from(ADMIN_HOST, addr, &key);
    let (flood_p50, flood_p99, flood_n) = match flood_login {
        Ok(mut c) => latency(&mut c),
        Err(e) => {
            println!("  login from {ADMIN_HOST} during the flood FAILED: {e}");
            lost += 1;
            (Duration::ZERO, Duration::ZERO, 0)
        }
    };
    stop.store(true, Ordering::Relaxed);
    let (held, refused_connects) = flooder.join().unwrap_or((0, 0));
    let peak_flood = monitor.take_peak(pid);
    println!(
        "flood from {FLOODER}: {} connection attempts ({held} held at the end, {refused_connects} failed to connect); login from {ADMIN_HOST}: {}; latency p50 {:.1} µs, p99 {:.1} µs ({flood_n} get-config); peak RSS {peak_flood:.1} MB",
        attempts.load(Ordering::Relaxed),
        if flood_n > 0 { "ok" } else { "FAILED" },
        us(flood_p50),
        us(flood_p99)
    );

    // 4. A BGP peer that stops reading while exports towards it are requested.
    let stall_up = up_rx.recv_timeout(Duration::from_secs(30)).is_ok();
    let mut c = connect(addr, &key, true);
    let stall_up = stall_up && established(&mut c, &STALL_PEER.to_string());
    stall_now.store(true, Ordering::Relaxed);
    let export = format!(
        "<refresh-bgp-vpn-target xmlns=\"{NS}\"><ipv4-address>{STALL_PEER}</ipv4-address><direction>export</direction></refresh-bgp-vpn-target>"
    );
    let t = Instant::now();
    let (mut ok, mut failed, mut down_at) = (0, 0, None);
    let mut gobgp_refresh_ok = 0;
    for i in 0..STALL_EXPORTS {
        if !stall_up || t.elapsed() > STALL_TIME {
            break;
        }
        let r = c.rpc(&export);
        if r.contains("<ok/>") {
            ok += 1;
        } else {
            failed += 1;
        }
        if i % 50 == 0 {
            if down_at.is_none() && !established(&mut c, &STALL_PEER.to_string()) {
                down_at = Some(t.elapsed());
            }
            if c.rpc(&mixed_body(9)).contains("<ok/>") {
                gobgp_refresh_ok += 1;
            }
        }
    }
    let export_secs = t.elapsed().as_secs_f64();
    stall_done.store(true, Ordering::Relaxed);
    let closed_after = stall.join().ok().flatten();
    let peak_stall = monitor.take_peak(pid);
    println!(
        "non-reading BGP peer (hold time {STALL_HOLD} s): {} exports in {export_secs:.1} s ({ok} ok, {failed} errors); agent saw it down after {}; its socket closed by the agent after {}; refreshes to GoBGP meanwhile ok: {gobgp_refresh_ok}; peak RSS {peak_stall:.1} MB",
        ok + failed,
        down_at.map_or("never (within the run)".into(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        )),
        closed_after.map_or("never (within the run)".into(), |d| format!(
            "{:.1} s",
            d.as_secs_f64()
        )),
    );
    drop(c);

    // After: everything closed, give the agent a moment, read RSS.
    std::thread::sleep(Duration::from_secs(3));
    let rss_after = mb(pid);
    let peak_all = pipeline_rows
        .iter()
        .map(|r| r.3)
        .chain([peak_many, peak_flood, peak_stall])
        .fold(0.0, f64::max);
    drop(monitor);

    println!(
        "\n== soak summary ({:.0} s)\n",
        started.elapsed().as_secs_f64()
    );
    println!("| figure | value |");
    println!("|---|---|");
    println!("| replies lost | {lost} |");
    println!(
        "| RSS after each of {SEQUENTIAL} sequential sessions x {SEQUENTIAL_RPCS} pipelined | {} MB |",
        seq_rss
            .iter()
            .map(|x| format!("{x:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| {ROUNDS} rounds of {ROUND_SESSIONS} sessions x {ROUND_RPCS} pipelined: peak / after per round | {} MB |",
        round_rss
            .iter()
            .map(|(p, a)| format!("{p:.1} / {a:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (framing, answered, secs, peak) in &pipeline_rows {
        println!(
            "| {PIPELINED} pipelined get-config, one session, {framing} | {answered} answered in {secs:.1} s ({:.0}/s), peak RSS {peak:.1} MB |",
            *answered as f64 / secs
        );
    }
    println!(
        "| {SESSIONS} sessions x {SESSION_RPCS} mixed RPCs | {answered} answered, {errors} rpc-errors, {secs:.1} s, peak RSS {peak_many:.1} MB, RSS 2 s after {rss_after_many:.1} MB |"
    );
    println!(
        "| RSS idle (after start) / warm (first session) | {rss_idle:.1} MB / {rss_warm:.1} MB |"
    );
    println!("| RSS peak (whole soak) | {peak_all:.1} MB |");
    println!(
        "| RSS after (3 s after the last session) | {rss_after:.1} MB ({:+.1} MB vs idle) |",
        rss_after - rss_idle
    );
    println!(
        "| get-config latency p50 / p99, no flood | {:.1} / {:.1} µs |",
        us(base_p50),
        us(base_p99)
    );
    println!(
        "| get-config latency p50 / p99, during the flood, from another address | {:.1} / {:.1} µs |",
        us(flood_p50),
        us(flood_p99)
    );
    println!(
        "| non-reading BGP peer | {} exports answered; seen down after {}; closed after {} |",
        ok + failed,
        down_at.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64())),
        closed_after.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64())),
    );
    let _ = BASE_NS;
    drop(agent);
    drop(gobgp);
    if lost > 0 {
        eprintln!("soak FAILED: {lost} replies lost");
        std::process::exit(1);
    }
}
