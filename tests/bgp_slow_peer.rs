//! Peers that stop reading or send too much (issue "hold under load and
//! attack"): raw TCP peers against the engine on loopback. Each test
//! asserts behaviour — what the peer reads, what the snapshot shows — and
//! every loop is bounded in count and time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/rawpeer.rs"]
mod raw;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ncagent::bgp::{
    BgpConfig, BgpHandle, Direction, Engine, PeerConfig, PeerSelector, PeerSnapshot, RefreshError,
    SessionState,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

/// Enough route targets that one export is ~40 kB on the wire.
const ROUTE_TARGETS: u32 = 3000;

fn v4(a: IpAddr) -> PeerSelector {
    match a {
        IpAddr::V4(a) => PeerSelector::Ipv4(a),
        IpAddr::V6(a) => PeerSelector::Ipv6(a),
    }
}

async fn peer_snap(h: &BgpHandle, peer: IpAddr) -> PeerSnapshot {
    h.snapshot().await.unwrap().peer(peer).unwrap().clone()
}

async fn wait_peer(
    h: &BgpHandle,
    peer: IpAddr,
    what: &str,
    pred: impl Fn(&PeerSnapshot) -> bool,
) -> PeerSnapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = peer_snap(h, peer).await;
        if pred(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {p:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An engine on 127.0.`subnet`.1 with passive peers 127.0.`subnet`.2.. .
async fn engine(
    subnet: u8,
    peers: usize,
    tune: impl FnOnce(&mut BgpConfig),
) -> (BgpHandle, Vec<IpAddr>, CancellationToken) {
    let stop = CancellationToken::new();
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(10, 0, subnet, 1));
    c.listen = Some(SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 1)),
        0,
    ));
    c.route_targets = (1..=ROUTE_TARGETS).map(|i| format!("65000:{i}")).collect();
    let addrs: Vec<IpAddr> = (0..peers)
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 2 + u8::try_from(i).unwrap())))
        .collect();
    c.peers = addrs
        .iter()
        .map(|a| {
            let mut p = PeerConfig::new(*a, 65001);
            p.passive = true;
            p.enhanced_route_refresh = false;
            p
        })
        .collect();
    tune(&mut c);
    let (h, _) = Engine::start(c, stop.clone()).await.unwrap();
    (h, addrs, stop)
}

/// A raw peer from `src`, Established with hold time `hold`.
async fn raw_peer(h: &BgpHandle, src: IpAddr, hold: u16) -> (OwnedReadHalf, OwnedWriteHalf) {
    let mut s: TcpStream = raw::connect_from(src, h.listen_addr().unwrap()).await;
    raw::establish(&mut s, &raw::open(65001, hold, [10, 9, 9, 9], false)).await;
    wait_peer(h, src, "raw peer Established", |p| {
        p.state == SessionState::Established
    })
    .await;
    s.into_split()
}

/// Sends KEEPALIVE every second until `stop` is set (then goes silent).
fn keepalives(
    mut w: OwnedWriteHalf,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<OwnedWriteHalf> {
    tokio::spawn(async move {
        for _ in 0..120 {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if w.write_all(&raw::keepalive()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        w
    })
}

/// Exports to a peer that does not read until one cannot be written within
/// a second and nothing more goes out for a second (socket buffers full,
/// not merely a slow machine). Bounded in count.
async fn fill_until_stuck(h: &BgpHandle, peer: IpAddr) -> usize {
    for n in 1..=2000 {
        match h
            .refresh_within(v4(peer), Direction::Export, Duration::from_secs(1))
            .await
        {
            Ok(_) => {}
            Err(RefreshError::Timeout) => {
                let sent = peer_snap(h, peer).await.updates_sent;
                tokio::time::sleep(Duration::from_secs(1)).await;
                if peer_snap(h, peer).await.updates_sent == sent {
                    return n;
                }
            }
            Err(e) => panic!("export {n}: {e}"),
        }
    }
    panic!("2000 exports of ~40 kB were all written to a peer that does not read");
}

/// Reads everything the engine sent until it closed; returns the types of
/// the messages and the body of the last one.
async fn drain(mut r: OwnedReadHalf) -> (Vec<u8>, Vec<u8>) {
    let mut buf = Vec::new();
    let read = async {
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            match r.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the engine closed the connection");
    let (mut types, mut last, mut at) = (Vec::new(), Vec::new(), 0usize);
    while at + 19 <= buf.len() {
        assert!(
            buf[at..at + 16].iter().all(|b| *b == 0xff),
            "framing lost at {at}"
        );
        let len = usize::from(u16::from_be_bytes([buf[at + 16], buf[at + 17]]));
        assert!(at + len <= buf.len(), "truncated message at {at}");
        types.push(buf[at + 18]);
        last = buf[at + 19..at + len].to_vec();
        at += len;
    }
    assert_eq!(at, buf.len(), "trailing bytes");
    (types, last)
}

/// RFC 4271 §6.5 / §8.2.2: a peer that stops reading AND goes silent is
/// dropped by the hold timer (3 s) even though our writes to it are stuck;
/// the engine keeps answering meanwhile, and the peer, once it reads
/// again, finds whole messages ending with NOTIFICATION 4/0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hold_timer_drops_a_peer_that_stops_reading() {
    let (h, peers, stop) = engine(30, 1, |c| c.hold_time = 3).await;
    let _guard = stop.drop_guard();
    let peer = peers[0];
    let (r, w) = raw_peer(&h, peer, 3).await;
    let quiet = Arc::new(AtomicBool::new(false));
    let ka = keepalives(w, quiet.clone());
    let exports = fill_until_stuck(&h, peer).await;
    let before = peer_snap(&h, peer).await;
    assert_eq!(
        before.state,
        SessionState::Established,
        "after {exports} exports"
    );
    // Now silent as well: only the hold timer can notice.
    quiet.store(true, Ordering::Relaxed);
    let _w = ka.await.unwrap();
    let after = wait_peer(&h, peer, "session dropped by the hold timer", |p| {
        p.state != SessionState::Established
    })
    .await;
    assert!(after.established_since.is_none() && after.adj_rib_in == 0);
    let (types, last) = drain(r).await;
    assert_eq!(
        types.last(),
        Some(&3),
        "last message is a NOTIFICATION: {types:?}"
    );
    assert_eq!(last[..2], [4, 0], "Hold Timer Expired");
}

/// RFC 9687: a peer that keeps sending KEEPALIVEs (so its hold timer never
/// expires) but never reads is dropped once our writes make no progress
/// for SendHoldTime, with NOTIFICATION 8 (Send Hold Timer Expired).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_hold_timer_drops_a_peer_that_talks_but_never_reads() {
    let (h, peers, stop) = engine(31, 1, |c| {
        c.hold_time = 9;
        c.send_hold_time = Some(3);
    })
    .await;
    let _guard = stop.drop_guard();
    let peer = peers[0];
    let (r, w) = raw_peer(&h, peer, 9).await;
    let quiet = Arc::new(AtomicBool::new(false));
    let ka = keepalives(w, quiet.clone());
    fill_until_stuck(&h, peer).await;
    let after = wait_peer(&h, peer, "session dropped by the send hold timer", |p| {
        p.state != SessionState::Established
    })
    .await;
    assert!(after.established_since.is_none());
    quiet.store(true, Ordering::Relaxed);
    let _w = ka.await.unwrap();
    let (types, last) = drain(r).await;
    assert_eq!(
        types.last(),
        Some(&3),
        "last message is a NOTIFICATION: {types:?}"
    );
    assert_eq!(last[..2], [8, 0], "Send Hold Timer Expired (RFC 9687)");
}

/// 1,000 export soft resets towards a peer that does not read: they all
/// join the one re-advertisement waiting for that peer (bounded memory:
/// at most one waiting copy per peer), all time out together, and another
/// peer's soft resets keep working meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_to_a_non_reading_peer_coalesce_and_other_peers_keep_working() {
    let (h, peers, stop) = engine(32, 2, |_| {}).await;
    let _guard = stop.drop_guard();
    let (stalled, good) = (peers[0], peers[1]);
    // Hold time 0: no keepalives, no hold timer; only our writes matter.
    let (_r_stalled, _w_stalled) = raw_peer(&h, stalled, 0).await;
    let (mut r_good, _w_good) = raw_peer(&h, good, 0).await;
    let refreshes_seen = Arc::new(AtomicU64::new(0));
    let seen = refreshes_seen.clone();
    let reader = tokio::spawn(async move {
        let mut s = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(30), r_good.read(&mut chunk)).await
        {
            if n == 0 {
                break;
            }
            s.extend_from_slice(&chunk[..n]);
            while s.len() >= 19 {
                let len = usize::from(u16::from_be_bytes([s[16], s[17]]));
                if s.len() < len {
                    break;
                }
                if s[18] == 5 {
                    seen.fetch_add(1, Ordering::Relaxed);
                }
                s.drain(..len);
            }
        }
    });

    fill_until_stuck(&h, stalled).await;
    let base = peer_snap(&h, stalled).await.soft_resets_coalesced;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let h = h.clone();
        calls.spawn(async move {
            h.refresh_within(v4(stalled), Direction::Export, Duration::from_secs(5))
                .await
        });
    }
    let p = wait_peer(
        &h,
        stalled,
        // The first takes the free slot behind the write in progress;
        // the other 999 join it.
        "1,000 exports merged into one waiting",
        |p| p.soft_resets_coalesced >= base + 999,
    )
    .await;
    assert!(p.export_pending, "one re-advertisement waits: {p:#?}");
    assert_eq!(p.state, SessionState::Established);

    // The other peer is served while the 1,000 wait.
    for i in 0..20 {
        let dir = if i % 2 == 0 {
            Direction::Import
        } else {
            Direction::Export
        };
        let out = h
            .refresh_within(v4(good), dir, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("refresh {i} of the reading peer: {e}"));
        assert_eq!(out.refreshed, vec![good]);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while refreshes_seen.load(Ordering::Relaxed) < 10 {
        assert!(
            Instant::now() < deadline,
            "the reading peer got its ROUTE-REFRESHes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut timeouts = 0;
    while let Some(r) = calls.join_next().await {
        assert_eq!(r.unwrap(), Err(RefreshError::Timeout));
        timeouts += 1;
    }
    assert_eq!(timeouts, 1000);
    let p = peer_snap(&h, stalled).await;
    assert!(p.export_pending && p.state == SessionState::Established);
    reader.abort();
}

/// RFC 4486 §4: one route more than `max_prefixes` closes the session with
/// Cease / Maximum Number of Prefixes Reached, data AFI, SAFI, upper bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_prefixes_exceeded_is_cease_1_with_afi_safi_and_bound() {
    let (h, peers, stop) = engine(33, 1, |c| {
        c.route_targets = vec!["65000:1".into()];
        c.peers[0].max_prefixes = 5;
    })
    .await;
    let _guard = stop.drop_guard();
    let peer = peers[0];
    let (mut r, mut w) = raw_peer(&h, peer, 0).await;
    let nh = [127, 0, 33, 2];
    let five: Vec<Vec<u8>> = (1..=5).map(|i| raw::rtc_nlri(65001, 65001, i)).collect();
    w.write_all(&raw::rtc_update(65001, nh, &five))
        .await
        .unwrap();
    let p = wait_peer(&h, peer, "five routes accepted (the limit)", |p| {
        p.adj_rib_in == 5
    })
    .await;
    assert_eq!((p.state, p.max_prefixes), (SessionState::Established, 5));

    w.write_all(&raw::rtc_update(
        65001,
        nh,
        &[raw::rtc_nlri(65001, 65001, 6)],
    ))
    .await
    .unwrap();
    let mut notification = None;
    for _ in 0..100 {
        let Some((ty, body)) = read_msg(&mut r).await else {
            break;
        };
        if ty == 3 {
            notification = Some(body);
            break;
        }
    }
    let n = notification.expect("a NOTIFICATION");
    assert_eq!(
        n,
        vec![6, 1, 0, 1, 132, 0, 0, 0, 5],
        "Cease/1, AFI 1, SAFI 132, bound 5"
    );
    let p = wait_peer(&h, peer, "session closed", |p| {
        p.state != SessionState::Established
    })
    .await;
    assert_eq!(p.adj_rib_in, 0);
}

async fn read_msg(r: &mut OwnedReadHalf) -> Option<(u8, Vec<u8>)> {
    let mut hdr = [0u8; 19];
    tokio::time::timeout(raw::IO_TIMEOUT, r.read_exact(&mut hdr))
        .await
        .ok()?
        .ok()?;
    let len = usize::from(u16::from_be_bytes([hdr[16], hdr[17]]));
    let mut body = vec![0u8; len.checked_sub(19)?];
    tokio::time::timeout(raw::IO_TIMEOUT, r.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    Some((hdr[18], body))
}
