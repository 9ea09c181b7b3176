//! Engine <-> engine over loopback: enhanced route refresh (RFC 7313),
//! inbound ROUTE-REFRESH handling (RFC 2918), selectors, collisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ncagent::bgp::{
    BgpConfig, BgpHandle, Direction, Engine, GroupConfig, PeerConfig, PeerSelector, PeerSnapshot,
    RefreshError, SessionState, SkipReason, SoftResetResult,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

#[path = "support/rawpeer.rs"]
mod raw;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The route targets of `peer`'s Adj-RIB-In, sorted.
async fn rts(h: &BgpHandle, peer: IpAddr) -> Vec<String> {
    h.routes(peer)
        .await
        .unwrap()
        .unwrap()
        .adj_rib_in
        .iter()
        .map(|r| r.route_target.clone().unwrap_or_else(|| "default".into()))
        .collect()
}

/// Polls the snapshot until `pred` holds for the peer; bounded.
async fn wait_peer(
    h: &BgpHandle,
    peer: IpAddr,
    what: &str,
    pred: impl Fn(&PeerSnapshot) -> bool,
) -> PeerSnapshot {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let snap = h.snapshot().await.unwrap();
        let p = snap.peer(peer).unwrap().clone();
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

fn established(p: &PeerSnapshot) -> bool {
    p.state == SessionState::Established
}

struct Pair {
    a: BgpHandle,
    b: BgpHandle,
    a_ip: IpAddr,
    b_ip: IpAddr,
    stop: CancellationToken,
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Engine A (AS 65000) listens passively; engine B (AS 65001) connects to it.
async fn pair(
    subnet: u8,
    a_peer: impl FnOnce(&mut PeerConfig),
    b_peer: impl FnOnce(&mut PeerConfig),
) -> Pair {
    let a_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 2));
    let stop = CancellationToken::new();

    let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    a.listen = Some(SocketAddr::new(a_ip, 0));
    a.connect_retry = 1;
    a.route_targets = vec!["65000:100".into()];
    a.groups = vec![GroupConfig { name: "g1".into() }];
    let mut pb = PeerConfig::new(b_ip, 65001);
    pb.passive = true;
    pb.group = Some("g1".into());
    a_peer(&mut pb);
    a.peers = vec![pb];
    let (ha, _) = Engine::start(a, stop.clone()).await.unwrap();

    let mut b = BgpConfig::new(65001, Ipv4Addr::new(10, 0, 0, 2));
    b.connect_retry = 1;
    b.route_targets = vec!["65001:1".into(), "65001:2".into()];
    let mut pa = PeerConfig::new(a_ip, 65000);
    pa.port = ha.listen_addr().unwrap().port();
    pa.local_address = Some(b_ip);
    b_peer(&mut pa);
    b.peers = vec![pa];
    let (hb, _) = Engine::start(b, stop.clone()).await.unwrap();

    wait_peer(&ha, b_ip, "A sees B Established", established).await;
    wait_peer(&hb, a_ip, "B sees A Established", established).await;
    Pair {
        a: ha,
        b: hb,
        a_ip,
        b_ip,
        stop,
    }
}

/// Engine A with one passive peer B played by a raw TCP peer, so that B can
/// leave a route out of its re-advertisement (RFC 7313 §4).
async fn engine_with_raw_peer(subnet: u8) -> (BgpHandle, IpAddr, TcpStream, CancellationToken) {
    let a_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 1));
    let b_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 2));
    let stop = CancellationToken::new();
    let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    a.listen = Some(SocketAddr::new(a_ip, 0));
    a.route_targets = vec!["65000:100".into()];
    let mut pb = PeerConfig::new(b_ip, 65001);
    pb.passive = true;
    a.peers = vec![pb];
    let (ha, _) = Engine::start(a, stop.clone()).await.unwrap();
    let mut s = raw::connect_from(b_ip, ha.listen_addr().unwrap()).await;
    raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, 2], true)).await;
    (ha, b_ip, s, stop)
}

#[tokio::test]
async fn enhanced_route_refresh_removes_the_stale_route_at_eorr() {
    let (a, b_ip, mut b, stop) = engine_with_raw_peer(10).await;
    let _guard = stop.drop_guard();
    let nh = [127, 0, 10, 2];
    let r1 = raw::rtc_nlri(65001, 65001, 1);
    let r2 = raw::rtc_nlri(65001, 65001, 2);
    b.write_all(&raw::rtc_update(65001, nh, &[r1.clone(), r2]))
        .await
        .unwrap();
    b.write_all(&raw::rtc_end_of_rib()).await.unwrap();
    let a_b = wait_peer(&a, b_ip, "B's two routes and its End-of-RIB in A", |p| {
        p.adj_rib_in == 2 && p.end_of_rib_received.is_some()
    })
    .await;
    assert!(a_b.negotiated.enhanced_route_refresh && a_b.negotiated.route_refresh);
    assert!(a_b.negotiated.rtc && a_b.negotiated.four_octet_as);
    assert_eq!(rts(&a, b_ip).await, vec!["65001:1", "65001:2"]);
    let routes = a.routes(b_ip).await.unwrap().unwrap();
    assert_eq!(routes.adj_rib_in[0].origin_as, 65001);
    assert_eq!(routes.adj_rib_in[0].prefix_len, 96);
    // The snapshot carries the RIB sizes, not the routes: the same counts.
    assert_eq!(a_b.adj_rib_in, routes.adj_rib_in.len());
    assert_eq!(a_b.adj_rib_out, routes.adj_rib_out.len());
    assert!(a_b.adj_rib_out > 0, "{a_b:#?}");
    // RFC 4684 §6: A's initial advertisement ends with End-of-RIB.
    let (_, before) = raw::read_until(&mut b, 2, raw::is_rtc_end_of_rib).await;
    assert_eq!(before, vec![2], "A's one UPDATE, then End-of-RIB");

    let out = a
        .refresh(
            PeerSelector::Ipv4("127.0.10.2".parse().unwrap()),
            Direction::Import,
        )
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![b_ip]);
    assert!(out.skipped.is_empty());
    // RFC 2918 §3: ROUTE-REFRESH AFI 1, normal, SAFI 132.
    let (rr, _) = raw::read_until(&mut b, 5, |_| true).await;
    assert_eq!(rr, vec![0, 1, 0, 132]);

    // RFC 7313 §4: B answers BoRR, only 65001:1, EoRR; A drops 65001:2.
    b.write_all(&raw::route_refresh(1)).await.unwrap();
    b.write_all(&raw::rtc_update(65001, nh, &[r1]))
        .await
        .unwrap();
    b.write_all(&raw::route_refresh(2)).await.unwrap();
    let a_b2 = wait_peer(&a, b_ip, "stale route gone after EoRR", |p| {
        p.adj_rib_in == 1
    })
    .await;
    assert_eq!(rts(&a, b_ip).await, vec!["65001:1"]);
    assert_eq!(a_b2.route_refresh_sent, 1);
    assert_eq!(a_b2.route_refresh_received, 2, "BoRR + EoRR");
    assert_eq!(a_b2.established_since, a_b.established_since, "no teardown");
    let rec = a_b2.last_soft_reset.unwrap();
    assert_eq!(
        (rec.direction, rec.result),
        (Direction::Import, SoftResetResult::Done)
    );

    // And A answers B's ROUTE-REFRESH the RFC 7313 way: BoRR, UPDATE, EoRR.
    b.write_all(&raw::route_refresh(0)).await.unwrap();
    let (borr, _) = raw::read_until(&mut b, 5, |_| true).await;
    assert_eq!(borr, vec![0, 1, 1, 132], "BoRR");
    let (t, _) = raw::read_msg(&mut b).await.unwrap();
    assert_eq!(t, 2, "Adj-RIB-Out");
    let (t, eorr) = raw::read_msg(&mut b).await.unwrap();
    assert_eq!((t, eorr), (5, vec![0, 1, 2, 132]), "EoRR");
    let a_b3 = wait_peer(&a, b_ip, "counters", |p| p.route_refresh_sent == 3).await;
    assert_eq!(a_b3.route_refresh_received, 3);
}

#[tokio::test]
async fn inbound_route_refresh_is_answered_by_readvertising() {
    // B does not advertise enhanced route refresh: plain RFC 2918 behaviour.
    let t = pair(11, |_| {}, |p| p.enhanced_route_refresh = false).await;
    let before_a = wait_peer(&t.a, t.b_ip, "routes from B", |p| p.adj_rib_in == 2).await;
    assert!(before_a.negotiated.route_refresh && !before_a.negotiated.enhanced_route_refresh);
    // RFC 4684 §6: each side sent End-of-RIB after its initial advertisement
    // and recorded the other's.
    let before_a = wait_peer(&t.a, t.b_ip, "End-of-RIB both ways", |p| {
        p.end_of_rib_sent && p.end_of_rib_received.is_some()
    })
    .await;
    let before_b = wait_peer(&t.b, t.a_ip, "End-of-RIB both ways", |p| {
        p.end_of_rib_sent && p.end_of_rib_received.is_some()
    })
    .await;
    assert_eq!(before_a.adj_rib_in, 2, "End-of-RIB is not a withdraw");

    t.a.refresh(PeerSelector::All, Direction::Import)
        .await
        .unwrap();
    // B counts the ROUTE-REFRESH when it reads it and the re-sent UPDATE
    // once that is on the socket: wait for both, not just the first.
    let after_b = wait_peer(&t.b, t.a_ip, "B answered the ROUTE-REFRESH", |p| {
        p.route_refresh_received == 1 && p.updates_sent > before_b.updates_sent
    })
    .await;
    assert_eq!(
        after_b.updates_sent,
        before_b.updates_sent + 1,
        "B re-sent its Adj-RIB-Out"
    );
    assert_eq!(
        after_b.route_refresh_sent, 0,
        "no BoRR/EoRR without RFC 7313"
    );
    let after_a = wait_peer(&t.a, t.b_ip, "A received the re-advertisement", |p| {
        p.updates_received == before_a.updates_received + 1
    })
    .await;
    assert_eq!(after_a.adj_rib_in, 2);

    // Export: A re-sends its Adj-RIB-Out; B counts one more UPDATE; no teardown.
    let b_before = t.b.snapshot().await.unwrap().peer(t.a_ip).unwrap().clone();
    let out =
        t.a.refresh(PeerSelector::External, Direction::Export)
            .await
            .unwrap();
    assert_eq!(out.refreshed, vec![t.b_ip]);
    let b_after = wait_peer(&t.b, t.a_ip, "B received the export", |p| {
        p.updates_received == b_before.updates_received + 1
    })
    .await;
    assert_eq!(b_after.established_since, b_before.established_since);
    assert!(
        t.a.refresh(PeerSelector::Internal, Direction::Export)
            .await
            .unwrap()
            .refreshed
            .is_empty()
    );
}

#[tokio::test]
async fn selectors_are_strict_for_one_peer_and_lenient_for_many() {
    let a_ip = ip("127.0.12.1");
    let b_ip = ip("127.0.12.2");
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    a.listen = Some(SocketAddr::new(a_ip, 0));
    a.groups = vec![
        GroupConfig { name: "g1".into() },
        GroupConfig {
            name: "empty".into(),
        },
    ];
    let mut pb = PeerConfig::new(b_ip, 65001);
    pb.passive = true;
    pb.group = Some("g1".into());
    pb.route_refresh = false; // A does not advertise route refresh to B
    pb.enhanced_route_refresh = false;
    let mut pc = PeerConfig::new(ip("127.0.12.3"), 65000); // internal, never up
    pc.passive = true;
    pc.group = Some("g1".into());
    let mut pd = PeerConfig::new(ip("127.0.12.4"), 65002); // family disabled
    pd.passive = true;
    pd.vpn_target = false;
    a.peers = vec![pb, pc, pd];
    let (ha, _) = Engine::start(a, stop.clone()).await.unwrap();

    let mut b = BgpConfig::new(65001, Ipv4Addr::new(10, 0, 0, 2));
    b.route_targets = vec!["65001:1".into()];
    let mut pa = PeerConfig::new(a_ip, 65000);
    pa.port = ha.listen_addr().unwrap().port();
    pa.local_address = Some(b_ip);
    b.peers = vec![pa];
    let (_hb, _) = Engine::start(b, stop.clone()).await.unwrap();
    let p = wait_peer(&ha, b_ip, "B Established", established).await;
    assert!(!p.negotiated.route_refresh && p.negotiated.rtc);

    let v4 = |s: &str| PeerSelector::Ipv4(s.parse().unwrap());
    // Strict single-peer selectors.
    assert_eq!(
        ha.refresh(v4("127.0.12.2"), Direction::Import).await,
        Err(RefreshError::RouteRefreshNotNegotiated(b_ip))
    );
    assert_eq!(
        ha.refresh(v4("127.0.12.3"), Direction::Export).await,
        Err(RefreshError::PeerNotEstablished(ip("127.0.12.3")))
    );
    assert_eq!(
        ha.refresh(v4("127.0.12.4"), Direction::Export).await,
        Err(RefreshError::FamilyNotEnabled(ip("127.0.12.4")))
    );
    assert_eq!(
        ha.refresh(v4("127.0.12.99"), Direction::Import).await,
        Err(RefreshError::PeerNotFound(ip("127.0.12.99")))
    );
    assert_eq!(
        ha.refresh(
            PeerSelector::Ipv6("::1".parse().unwrap()),
            Direction::Import
        )
        .await,
        Err(RefreshError::PeerNotFound(ip("::1")))
    );
    // An IPv4-mapped IPv6 selector names an IPv6 peer, never the IPv4 one.
    assert_eq!(
        ha.refresh(
            PeerSelector::Ipv6("::ffff:127.0.12.2".parse().unwrap()),
            Direction::Export
        )
        .await,
        Err(RefreshError::PeerNotFound(ip("::ffff:127.0.12.2")))
    );
    let e = ha
        .refresh(PeerSelector::Group("nope".into()), Direction::Import)
        .await
        .unwrap_err();
    assert_eq!(e, RefreshError::GroupNotFound("nope".into()));
    assert!(e.to_string().contains("nope"));
    assert_eq!(e.app_tag(), "group-not-found");
    // Export to the single established peer works without route refresh.
    assert_eq!(
        ha.refresh(v4("127.0.12.2"), Direction::Export)
            .await
            .unwrap()
            .refreshed,
        vec![b_ip]
    );

    // Lenient multi-peer selectors: skipped peers recorded, call succeeds.
    let out = ha
        .refresh(PeerSelector::All, Direction::Import)
        .await
        .unwrap();
    assert!(out.refreshed.is_empty());
    assert_eq!(
        out.skipped,
        vec![
            (b_ip, SkipReason::RouteRefreshNotNegotiated),
            (ip("127.0.12.3"), SkipReason::NotEstablished)
        ]
    );
    let out = ha
        .refresh(PeerSelector::Group("g1".into()), Direction::Export)
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![b_ip]);
    assert_eq!(
        out.skipped,
        vec![(ip("127.0.12.3"), SkipReason::NotEstablished)]
    );
    let out = ha
        .refresh(PeerSelector::Group("empty".into()), Direction::Export)
        .await
        .unwrap();
    assert!(out.refreshed.is_empty() && out.skipped.is_empty());
    let out = ha
        .refresh(PeerSelector::Internal, Direction::Import)
        .await
        .unwrap();
    assert_eq!(
        out.skipped,
        vec![(ip("127.0.12.3"), SkipReason::NotEstablished)]
    );

    let snap = ha.snapshot().await.unwrap();
    let c = snap.peer(ip("127.0.12.3")).unwrap();
    assert_eq!(c.state, SessionState::Active);
    assert!(c.internal);
    let rec = c.last_soft_reset.clone().unwrap();
    assert_eq!(
        rec.result,
        SoftResetResult::Skipped(SkipReason::NotEstablished)
    );
    assert_eq!(rec.direction, Direction::Import);
    let d = snap.peer(ip("127.0.12.4")).unwrap();
    assert!(!d.family_enabled);
    assert!(matches!(
        d.last_soft_reset.clone().unwrap().result,
        SoftResetResult::Failed(_)
    ));
    // No soft reset tore the session down.
    assert_eq!(
        snap.peer(b_ip).unwrap().established_since,
        p.established_since
    );
}

#[tokio::test]
async fn simultaneous_connects_settle_on_one_session() {
    // Both sides active (RFC 4271 §6.8 collision detection).
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("ncagent=debug")
        .try_init();
    let free = |ip: &str| {
        let l = std::net::TcpListener::bind((ip.parse::<IpAddr>().unwrap(), 0)).unwrap();
        l.local_addr().unwrap()
    };
    let (la, lb) = (free("127.0.13.1"), free("127.0.13.2"));
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mk = |me: SocketAddr, other: SocketAddr, asn: u32, other_as: u32, id: u8| {
        let mut c = BgpConfig::new(asn, Ipv4Addr::new(10, 0, 0, id));
        c.listen = Some(me);
        c.connect_retry = 1;
        c.route_targets = vec![format!("{asn}:7")];
        let mut p = PeerConfig::new(other.ip(), other_as);
        p.port = other.port();
        p.local_address = Some(me.ip());
        c.peers = vec![p];
        c
    };
    let (ha, ja) = Engine::start(mk(la, lb, 65000, 65001, 1), stop.clone())
        .await
        .unwrap();
    let (hb, _) = Engine::start(mk(lb, la, 65001, 65000, 2), stop.clone())
        .await
        .unwrap();
    let pa = wait_peer(&ha, lb.ip(), "A Established", |p| {
        established(p) && p.adj_rib_in == 1
    })
    .await;
    let pb = wait_peer(&hb, la.ip(), "B Established", |p| {
        established(p) && p.adj_rib_in == 1
    })
    .await;
    // Stays up: the losing connection's CEASE must not take the winner down.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pa2 = ha.snapshot().await.unwrap().peer(lb.ip()).unwrap().clone();
    assert_eq!(pa2.established_since, pa.established_since);
    assert!(established(&pb));

    // Shutdown: the engine task ends and the handle reports it.
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), ja)
        .await
        .unwrap()
        .unwrap();
    assert!(ha.snapshot().await.is_err());
}

#[tokio::test]
async fn ipv6_peer_selector_and_next_hop() {
    let v6 = ip("::1");
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    a.listen = Some("[::1]:0".parse().unwrap());
    a.route_targets = vec!["1.2.3.4:5".into()];
    let mut pb = PeerConfig::new(v6, 4_200_000_000);
    pb.passive = true;
    a.peers = vec![pb];
    let (ha, _) = Engine::start(a, stop.clone()).await.unwrap();

    let mut b = BgpConfig::new(4_200_000_000, Ipv4Addr::new(10, 0, 0, 2));
    b.route_targets = vec!["4200000000:5".into()];
    let mut pa = PeerConfig::new(v6, 65000);
    pa.port = ha.listen_addr().unwrap().port();
    b.peers = vec![pa];
    let (hb, _) = Engine::start(b, stop.clone()).await.unwrap();

    let p = wait_peer(&ha, v6, "IPv6 session with a 4-octet AS", |p| {
        established(p) && p.adj_rib_in == 1
    })
    .await;
    assert_eq!(rts(&ha, v6).await, vec!["4200000000:5"]);
    let routes = ha.routes(v6).await.unwrap().unwrap();
    assert_eq!(routes.adj_rib_in[0].origin_as, 4_200_000_000);
    assert_eq!(p.adj_rib_in, 1);
    wait_peer(&hb, v6, "route over IPv6 (16-octet next hop)", |p| {
        p.adj_rib_in == 1
    })
    .await;
    assert_eq!(rts(&hb, v6).await, vec!["1.2.3.4:5"]);
    let out = ha
        .refresh(
            PeerSelector::Ipv6("::1".parse().unwrap()),
            Direction::Import,
        )
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![v6]);
    wait_peer(&hb, v6, "ROUTE-REFRESH over IPv6", |p| {
        p.route_refresh_received == 1
    })
    .await;
}

/// RFC 4271 §8.2.2: the KeepaliveTimer restarts each time a KEEPALIVE or an
/// UPDATE is sent. With a hold time of 9 s (KeepaliveTime 3 s) and an
/// export every 0.5 s, a conforming speaker sends no KEEPALIVE in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_restart_the_keepalive_timer() {
    let a_ip = ip("127.0.14.1");
    let b_ip = ip("127.0.14.2");
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    a.listen = Some(SocketAddr::new(a_ip, 0));
    a.hold_time = 9;
    a.route_targets = vec!["65000:100".into()];
    let mut pb = PeerConfig::new(b_ip, 65001);
    pb.passive = true;
    pb.enhanced_route_refresh = false;
    a.peers = vec![pb];
    let (h, _) = Engine::start(a, stop.clone()).await.unwrap();
    let mut s = raw::connect_from(b_ip, h.listen_addr().unwrap()).await;
    raw::establish(&mut s, &raw::open(65001, 9, [10, 0, 0, 2], false)).await;
    wait_peer(&h, b_ip, "Established", established).await;
    let (mut r, mut w) = s.into_split();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(u8, Instant)>::new()));
    let seen = log.clone();
    let reader = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut h = [0u8; 19];
        while r.read_exact(&mut h).await.is_ok() {
            let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
            let mut body = vec![0u8; len - 19];
            if r.read_exact(&mut body).await.is_err() {
                break;
            }
            seen.lock().unwrap().push((h[18], Instant::now()));
        }
    });
    let mut done = Vec::new();
    for i in 0..12 {
        if i == 6 {
            // Keep our side's hold timer happy.
            w.write_all(&raw::keepalive()).await.unwrap();
        }
        h.refresh(
            PeerSelector::Ipv4("127.0.14.2".parse().unwrap()),
            Direction::Export,
        )
        .await
        .unwrap();
        done.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    reader.abort();
    let log = log.lock().unwrap().clone();
    let (first, last) = (done[0], done[done.len() - 1]);
    let between: Vec<u8> = log
        .iter()
        .filter(|(_, t)| *t > first && *t <= last)
        .map(|(ty, _)| *ty)
        .collect();
    assert!(
        between.iter().filter(|t| **t == 2).count() >= 10,
        "{between:?}"
    );
    assert!(
        !between.contains(&4),
        "KEEPALIVE sent although UPDATEs restarted the timer: {between:?}"
    );
}
