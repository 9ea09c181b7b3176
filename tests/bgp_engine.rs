//! Engine <-> engine over loopback: enhanced route refresh (RFC 7313),
//! inbound ROUTE-REFRESH handling (RFC 2918), selectors, collisions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ncagent::bgp::{
    BgpConfig, BgpHandle, Direction, Engine, GroupConfig, PeerConfig, PeerSelector, PeerSnapshot,
    RefreshError, SessionState, SkipReason, SoftResetResult,
};
use tokio_util::sync::CancellationToken;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rts(p: &PeerSnapshot) -> Vec<String> {
    p.rtc_routes_in
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

#[tokio::test]
async fn enhanced_route_refresh_removes_the_stale_route_at_eorr() {
    let t = pair(10, |_| {}, |_| {}).await;
    let a_b = wait_peer(&t.a, t.b_ip, "B's two routes in A's Adj-RIB-In", |p| {
        p.rtc_routes_in.len() == 2
    })
    .await;
    assert!(a_b.negotiated.enhanced_route_refresh && a_b.negotiated.route_refresh);
    assert!(a_b.negotiated.rtc && a_b.negotiated.four_octet_as);
    assert_eq!(rts(&a_b), vec!["65001:1", "65001:2"]);
    assert_eq!(a_b.rtc_routes_in[0].origin_as, 65001);
    assert_eq!(a_b.rtc_routes_in[0].prefix_len, 96);
    let b_a = wait_peer(&t.b, t.a_ip, "A's route in B", |p| {
        p.rtc_routes_in.len() == 1
    })
    .await;
    assert_eq!(rts(&b_a), vec!["65000:100"]);

    // B stops originating 65001:2 without a withdraw: A keeps a stale copy.
    assert!(t.b.test_forget_route_target("65001:2").await.unwrap());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rts(t.a.snapshot().await.unwrap().peer(t.b_ip).unwrap()),
        vec!["65001:1", "65001:2"]
    );

    let out =
        t.a.refresh(
            PeerSelector::Ipv4("127.0.10.2".parse().unwrap()),
            Direction::Import,
        )
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![t.b_ip]);
    assert!(out.skipped.is_empty());

    // RFC 7313 §4: B answers BoRR, its Adj-RIB-Out, EoRR; A drops what was not re-sent.
    let a_b2 = wait_peer(&t.a, t.b_ip, "stale route gone after EoRR", |p| {
        p.rtc_routes_in.len() == 1
    })
    .await;
    assert_eq!(rts(&a_b2), vec!["65001:1"]);
    assert_eq!(a_b2.route_refresh_sent, 1);
    assert_eq!(a_b2.route_refresh_received, 2, "BoRR + EoRR");
    assert_eq!(a_b2.established_since, a_b.established_since, "no teardown");
    let b_a2 = t.b.snapshot().await.unwrap().peer(t.a_ip).unwrap().clone();
    assert_eq!(b_a2.route_refresh_received, 1);
    assert_eq!(b_a2.route_refresh_sent, 2);
    let rec = a_b2.last_soft_reset.unwrap();
    assert_eq!(
        (rec.direction, rec.result),
        (Direction::Import, SoftResetResult::Done)
    );
}

#[tokio::test]
async fn inbound_route_refresh_is_answered_by_readvertising() {
    // B does not advertise enhanced route refresh: plain RFC 2918 behaviour.
    let t = pair(11, |_| {}, |p| p.enhanced_route_refresh = false).await;
    let before_a = wait_peer(&t.a, t.b_ip, "routes from B", |p| {
        p.rtc_routes_in.len() == 2
    })
    .await;
    assert!(before_a.negotiated.route_refresh && !before_a.negotiated.enhanced_route_refresh);
    let before_b = t.b.snapshot().await.unwrap().peer(t.a_ip).unwrap().clone();

    t.a.refresh(PeerSelector::All, Direction::Import)
        .await
        .unwrap();
    let after_b = wait_peer(&t.b, t.a_ip, "B received the ROUTE-REFRESH", |p| {
        p.route_refresh_received == 1
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
    assert_eq!(after_a.rtc_routes_in.len(), 2);

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
        established(p) && p.rtc_routes_in.len() == 1
    })
    .await;
    let pb = wait_peer(&hb, la.ip(), "B Established", |p| {
        established(p) && p.rtc_routes_in.len() == 1
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
        established(p) && p.rtc_routes_in.len() == 1
    })
    .await;
    assert_eq!(rts(&p), vec!["4200000000:5"]);
    assert_eq!(p.rtc_routes_in[0].origin_as, 4_200_000_000);
    let q = wait_peer(&hb, v6, "route over IPv6 (16-octet next hop)", |p| {
        p.rtc_routes_in.len() == 1
    })
    .await;
    assert_eq!(rts(&q), vec!["1.2.3.4:5"]);
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
