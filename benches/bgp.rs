//! BGP soft reset: ncagent (a separate process) peered over loopback with
//! minimal BGP sinks run by this bench, against anchors measured in the same
//! run (SPEC §9).
//!
//! * Refresh-to-wire latency: from writing the import
//!   `refresh-bgp-vpn-target` RPC on the NETCONF session to the
//!   ROUTE-REFRESH arriving at the sink. Anchor: a `<get-config>` round trip
//!   on the same session, sampled after the refreshes (see the loop).
//! * Export soft-reset throughput: from writing the export RPC to the EoRR
//!   (RFC 7313) arriving at every selected sink, the configured RTC routes
//!   each. Anchor: the same bytes (captured once from ncagent's export)
//!   written raw over loopback TCP to sinks running the same reading code.
//!
//! The scale is set by `NCAGENT_BENCH_BGP_PEERS` (default 8, at most 200)
//! and `NCAGENT_BENCH_BGP_ROUTES` (default 5,000): `scripts/bench` runs it
//! once as is and once at 100 peers × 100,000 routes (issue #12's BGP scale
//! figures). Exports go to 1 peer, a group of the first 4 (8 at scale) and
//! all peers.
//!
//! Every loop is bounded by a count and a time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use ncagent::bgp::codec;
use support::*;

const DEFAULT_ROUTE_TARGETS: usize = 5000;
const DEFAULT_PEERS: usize = 8;
const PEER_AS: u32 = 65001;
const LATENCY_SAMPLES: usize = 1000;
const LATENCY_TIME: Duration = Duration::from_secs(10);
const EXPORT_REPS: usize = 100;
const EXPORT_TIME: Duration = Duration::from_secs(5);
const WAIT: Duration = Duration::from_secs(10);
/// The latency anchor: a small `<get-config>` (running filtered to the
/// local AS). Running holds every route target of the run (100,000 at
/// scale, ~3 MB as XML), which an unfiltered reply would print each time.
const GET_CONFIG: &str = "<get-config><source><running/></source><filter type=\"subtree\">\
    <bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as/></global></bgp></filter></get-config>";
const NS: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";

/// How many peers and routes this run uses.
#[derive(Clone, Copy)]
struct Scale {
    peers: usize,
    routes: usize,
    /// The peers of group "first": the middle export case.
    group: usize,
}

impl Scale {
    fn from_env() -> Scale {
        let var = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .map(|v| v.parse::<usize>().expect("a count"))
                .unwrap_or(default)
        };
        let peers = var("NCAGENT_BENCH_BGP_PEERS", DEFAULT_PEERS);
        let routes = var("NCAGENT_BENCH_BGP_ROUTES", DEFAULT_ROUTE_TARGETS);
        assert!(
            (1..=200).contains(&peers),
            "NCAGENT_BENCH_BGP_PEERS must be 1..=200 (one loopback address each)"
        );
        assert!(routes >= 1, "NCAGENT_BENCH_BGP_ROUTES must be at least 1");
        let group = if peers > 8 { 8 } else { peers.min(4) };
        Scale {
            peers,
            routes,
            group,
        }
    }

    /// How long the initial advertisement may take: the bytes to all peers.
    fn sync_time(&self) -> Duration {
        Duration::from_secs(30) + Duration::from_millis((self.peers * self.routes / 10_000) as u64)
    }
}

/// ROUTE-REFRESH subtypes (RFC 7313 §3).
const RR_NORMAL: u8 = 0;
const RR_EORR: u8 = 2;

fn refresh_rpc(selector: &str, direction: &str) -> String {
    format!(
        "<refresh-bgp-vpn-target xmlns=\"{NS}\">{selector}<direction>{direction}</direction></refresh-bgp-vpn-target>"
    )
}

/// One message as the sink saw it: when the read that completed it
/// returned, its type, and the ROUTE-REFRESH subtype (0 otherwise).
#[derive(Clone, Copy, Debug)]
struct Ev {
    at: Instant,
    ty: u8,
    sub: u8,
}

#[derive(Default)]
struct SinkState {
    established: bool,
    events: Vec<Ev>,
    /// While `Some`, every whole message received is appended here.
    capture: Option<Vec<u8>>,
}

/// A minimal BGP peer: accepts connections on its own loopback address,
/// and (in BGP mode) sends OPEN (AS 65001, hold time 0, MP 1/132, route
/// refresh, enhanced route refresh, 4-octet AS) and a KEEPALIVE once the
/// agent's OPEN arrives. Then it only reads, framing with the agent's own
/// header check and timestamping each message. In raw mode (the anchor's
/// sinks) it sends nothing and only reads.
struct Sink {
    addr: SocketAddr,
    shared: Arc<(Mutex<SinkState>, Condvar)>,
}

impl Sink {
    fn start(ip: Ipv4Addr, bgp: bool) -> Sink {
        let listener = TcpListener::bind((ip, 0)).expect("bind sink");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new((Mutex::new(SinkState::default()), Condvar::new()));
        let s = shared.clone();
        let id = ip.octets();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                serve(stream, bgp, id, &s);
            }
        });
        Sink { addr, shared }
    }

    fn len(&self) -> usize {
        self.shared.0.lock().unwrap().events.len()
    }

    /// Waits (≤ WAIT) for a message after index `from` that matches.
    fn wait_for(&self, from: usize, what: impl Fn(&Ev) -> bool) -> Ev {
        let (m, cv) = &*self.shared;
        let deadline = Instant::now() + WAIT;
        let mut st = m.lock().unwrap();
        loop {
            if let Some(e) = st.events.iter().skip(from).find(|e| what(e)) {
                return *e;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .expect("sink: awaited BGP message did not arrive within 10 s");
            st = cv.wait_timeout(st, left).unwrap().0;
        }
    }

    fn arm_capture(&self) {
        self.shared.0.lock().unwrap().capture = Some(Vec::new());
    }

    fn take_capture(&self) -> Vec<u8> {
        self.shared.0.lock().unwrap().capture.take().unwrap()
    }
}

fn serve(stream: TcpStream, bgp: bool, id: [u8; 4], shared: &(Mutex<SinkState>, Condvar)) {
    let mut reader = stream;
    reader.set_nodelay(true).unwrap();
    let mut writer = reader.try_clone().unwrap();
    if bgp {
        let open = codec::encode_open(&codec::OpenParams {
            local_as: PEER_AS,
            hold_time: 0,
            router_id: Ipv4Addr::from(id),
            rtc: true,
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_next_hop: false,
            graceful_restart: false,
        })
        .unwrap();
        writer.write_all(&open).unwrap();
    }
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 17);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let at = Instant::now();
        buf.extend_from_slice(&chunk[..n]);
        let mut frames = Vec::new();
        let mut off = 0;
        while let Some(len) = codec::frame_length(&buf[off..]).expect("a well-formed BGP header") {
            if buf.len() - off < len {
                break;
            }
            frames.push(off..off + len);
            off += len;
        }
        let (m, cv) = shared;
        let mut st = m.lock().unwrap();
        for r in &frames {
            let f = &buf[r.clone()];
            let ty = f[18];
            let sub = if ty == 5 { f[21] } else { 0 };
            st.events.push(Ev { at, ty, sub });
            if let Some(c) = st.capture.as_mut() {
                c.extend_from_slice(f);
            }
            if bgp && ty == 1 {
                writer.write_all(&codec::encode_keepalive()).unwrap();
            }
            if ty == 4 {
                st.established = true;
            }
        }
        drop(st);
        cv.notify_all();
        buf.drain(..off);
    }
}

/// When the last of these sinks saw an EoRR after its mark.
fn last_eorr(sinks: &[Sink], marks: &[usize]) -> Instant {
    sinks
        .iter()
        .zip(marks)
        .map(|(s, m)| s.wait_for(*m, |e| e.ty == 5 && e.sub == RR_EORR).at)
        .max()
        .unwrap()
}

/// BGP messages in a captured byte stream.
fn count_frames(bytes: &[u8]) -> usize {
    let mut m = 0;
    let mut off = 0;
    while let Some(len) = codec::frame_length(&bytes[off..]).unwrap() {
        m += 1;
        off += len;
    }
    m
}

/// RTC routes announced in a captured byte stream (checks the capture).
fn count_routes(bytes: &[u8]) -> usize {
    let ctx = codec::UpdateContext {
        local_as: PEER_AS,
        internal: false,
        four_octet_as: true,
        next_hop: "127.0.0.2".parse().unwrap(),
    };
    let mut n = 0;
    let mut off = 0;
    while let Some(len) = codec::frame_length(&bytes[off..]).unwrap() {
        let frame = bytes::Bytes::copy_from_slice(&bytes[off..off + len]);
        if let Ok(rustbgpd_wire::Message::Update(u)) = codec::decode(frame) {
            n += codec::parse_rtc_update(&ctx, &u).unwrap().announced.len();
        }
        off += len;
    }
    n
}

fn agent_config(dir: &std::path::Path, sinks: &[Sink], scale: Scale) -> String {
    let rts: Vec<String> = (1..=scale.routes)
        .map(|i| format!("\"65000:{i}\""))
        .collect();
    let mut extra = format!(
        "[bgp]\nlocal_as = 65000\nrouter_id = \"1.1.1.1\"\nconnect_retry = 1\nroute_targets = [{}]\n",
        rts.join(", ")
    );
    for (i, s) in sinks.iter().enumerate() {
        let group = if i < scale.group { "first" } else { "rest" };
        extra.push_str(&format!(
            "\n[[bgp.peers]]\naddress = \"{}\"\nremote_as = {PEER_AS}\nport = {}\ngroup = \"{group}\"\n",
            s.addr.ip(),
            s.addr.port()
        ));
    }
    extra.push_str("\n[[bgp.groups]]\nname = \"first\"\n\n[[bgp.groups]]\nname = \"rest\"\n");
    common::test_config(dir, &extra)
}

/// Waits until every sink is Established, has had the initial
/// advertisement, and the line has been quiet for 300 ms.
fn wait_synced(sinks: &[Sink], scale: Scale) {
    let limit = scale.sync_time();
    let deadline = Instant::now() + limit;
    let min_updates = scale.routes.div_ceil(250);
    loop {
        let ready = sinks.iter().all(|s| {
            let st = s.shared.0.lock().unwrap();
            let updates = st.events.iter().filter(|e| e.ty == 2).count();
            let quiet = st
                .events
                .last()
                .is_some_and(|e| e.at.elapsed() > Duration::from_millis(300));
            st.established && updates >= min_updates && quiet
        });
        if ready {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "BGP sinks not established and synced within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The 99th percentile (nearest rank).
fn p99(samples: &[Duration]) -> Duration {
    let mut s = samples.to_vec();
    s.sort();
    match s.len() {
        0 => Duration::ZERO,
        n => s[((n * 99).div_ceil(100)).saturating_sub(1).min(n - 1)],
    }
}

fn main() {
    let scale = Scale::from_env();
    println!(
        "scale: {} peers, {} RTC routes each",
        scale.peers, scale.routes
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (key, _) = common::key_pair(dir.path());
    let sinks: Vec<Sink> = (0..scale.peers)
        .map(|i| Sink::start(Ipv4Addr::new(127, 0, 0, 2 + i as u8), true))
        .collect();
    let agent = AgentProcess::start(dir.path(), &agent_config(dir.path(), &sinks, scale));
    wait_synced(&sinks, scale);
    let (mut c, _) = netconf_connect(agent.addr, "keyuser", &key).unwrap();
    for _ in 0..20 {
        c.rpc(GET_CONFIG);
    }

    // --- refresh-to-wire latency, then the anchor. Not interleaved sample
    // by sample: at scale a `<get-config>` of running walks every route
    // target (~25 ms at 100,000), and what it leaves behind (freeing the
    // tree) overlapped the next refresh sample; each sample should time
    // only the refresh path.
    let import = refresh_rpc("<ipv4-address>127.0.0.2</ipv4-address>", "import");
    let (mut refresh, mut reply, mut anchor) = (Vec::new(), Vec::new(), Vec::new());
    let begin = Instant::now();
    while refresh.len() < LATENCY_SAMPLES && begin.elapsed() < LATENCY_TIME {
        let mark = sinks[0].len();
        let t0 = Instant::now();
        let r = c.rpc(&import);
        reply.push(t0.elapsed());
        assert!(r.contains("<ok/>"), "import refresh: {r}");
        let ev = sinks[0].wait_for(mark, |e| e.ty == 5 && e.sub == RR_NORMAL);
        refresh.push(ev.at - t0);
    }
    let begin = Instant::now();
    while anchor.len() < LATENCY_SAMPLES && begin.elapsed() < LATENCY_TIME {
        let t0 = Instant::now();
        let r = c.rpc(GET_CONFIG);
        anchor.push(t0.elapsed());
        assert!(r.contains("<data"), "{r}");
    }

    // --- export throughput to 1, 4, 8 peers; the 1-peer export is captured
    let mut cases = vec![(1, "<ipv4-address>127.0.0.2</ipv4-address>")];
    if scale.group > 1 {
        cases.push((scale.group, "<group>first</group>"));
    }
    if scale.peers > scale.group {
        cases.push((scale.peers, "<all/>"));
    }
    let mut capture = Vec::new();
    let mut export = Vec::new();
    for &(n, selector) in &cases {
        let rpc = refresh_rpc(selector, "export");
        let (mut times, mut replies) = (Vec::new(), Vec::new());
        let begin = Instant::now();
        while times.len() < EXPORT_REPS && begin.elapsed() < EXPORT_TIME {
            let capturing = capture.is_empty();
            if capturing {
                sinks[0].arm_capture();
            }
            let marks: Vec<usize> = sinks[..n].iter().map(Sink::len).collect();
            let t0 = Instant::now();
            let r = c.rpc(&rpc);
            replies.push(t0.elapsed());
            assert!(r.contains("<ok/>"), "export refresh: {r}");
            let last = last_eorr(&sinks[..n], &marks);
            times.push(last - t0);
            if capturing {
                capture = sinks[0].take_capture();
            }
        }
        export.push((n, times, replies));
    }
    drop(c);
    drop(agent);
    let routes = count_routes(&capture);
    assert_eq!(
        routes, scale.routes,
        "the captured export carries every route"
    );
    println!(
        "captured export: {} bytes, {} messages (BoRR, UPDATEs, EoRR), {routes} RTC routes",
        capture.len(),
        count_frames(&capture)
    );

    // --- the raw anchor: the same bytes, written by pre-started threads
    let raw: Vec<Sink> = (0..scale.peers)
        .map(|i| Sink::start(Ipv4Addr::new(127, 0, 0, 2 + i as u8), false))
        .collect();
    let capture = Arc::new(capture);
    let writers: Vec<mpsc::Sender<()>> = raw
        .iter()
        .map(|s| {
            let mut stream = TcpStream::connect(s.addr).unwrap();
            stream.set_nodelay(true).unwrap();
            let (tx, rx) = mpsc::channel::<()>();
            let bytes = capture.clone();
            std::thread::spawn(move || {
                while rx.recv().is_ok() {
                    stream.write_all(&bytes).unwrap();
                }
            });
            tx
        })
        .collect();
    let mut raw_times = Vec::new();
    for &(n, _) in &cases {
        let mut times = Vec::new();
        let begin = Instant::now();
        while times.len() < EXPORT_REPS && begin.elapsed() < EXPORT_TIME {
            let marks: Vec<usize> = raw[..n].iter().map(Sink::len).collect();
            let t0 = Instant::now();
            for w in &writers[..n] {
                w.send(()).unwrap();
            }
            let last = last_eorr(&raw[..n], &marks);
            times.push(last - t0);
        }
        raw_times.push(times);
    }
    drop(writers);

    let (r_med, r_p95) = percentiles(&refresh);
    let (a_med, a_p95) = percentiles(&anchor);
    let (rp_med, _) = percentiles(&reply);
    println!(
        "latency samples: {} refreshes; import RPC reply median {:.0} µs",
        refresh.len(),
        us(rp_med)
    );
    header(&format!(
        "BGP soft reset, {} peers × {} RTC routes (lower is better for latency, higher for throughput)",
        scale.peers, scale.routes
    ));
    row(
        "refresh-to-wire latency, median",
        us(r_med),
        us(a_med),
        "µs",
        "anchor: get-config round trip, same session",
    );
    row(
        "refresh-to-wire latency, p95",
        us(r_p95),
        us(a_p95),
        "µs",
        "anchor: get-config round trip, same session",
    );
    row(
        "refresh-to-wire latency, p99",
        us(p99(&refresh)),
        us(p99(&anchor)),
        "µs",
        "anchor: get-config round trip, same session",
    );
    for ((n, times, replies), raw) in export.iter().zip(&raw_times) {
        let (t, _) = percentiles(times);
        let (rt, _) = percentiles(raw);
        let (reply, _) = percentiles(replies);
        let routes = (scale.routes * n) as f64;
        row(
            &format!("export soft reset, {n} peer(s), RTC routes/s"),
            routes / t.as_secs_f64(),
            routes / rt.as_secs_f64(),
            "/s",
            &format!(
                "median of {} (anchor {}); RPC to last EoRR {:.2} ms, reply {:.2} ms; anchor: same bytes raw over TCP",
                times.len(),
                raw.len(),
                ms(t),
                ms(reply)
            ),
        );
    }
}
