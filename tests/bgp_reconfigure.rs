//! Live reconfiguration (`BgpHandle::reconfigure`) seen from the wire: raw
//! TCP peers read the NOTIFICATION code/subcode (RFC 4486 §4) and the
//! MP_REACH / MP_UNREACH bytes (RFC 4760, RFC 4684 §4) the engine sends,
//! and an engine pair shows a route target arriving without a reset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ncagent::bgp::{
    BgpConfig, BgpHandle, Direction, Engine, GroupConfig, PeerConfig, PeerRoutes, PeerSelector,
    PeerSnapshot, ReconfigureError, SessionState,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[path = "support/rawpeer.rs"]
mod raw;

fn v4(subnet: u8, host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, subnet, host))
}

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

async fn peer_snap(h: &BgpHandle, peer: IpAddr) -> Option<PeerSnapshot> {
    h.snapshot().await.unwrap().peer(peer).cloned()
}

/// Polls the snapshot until `pred` holds for the peer; bounded.
async fn wait_peer(
    h: &BgpHandle,
    peer: IpAddr,
    what: &str,
    pred: impl Fn(&PeerSnapshot) -> bool,
) -> PeerSnapshot {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(p) = peer_snap(h, peer).await
            && pred(&p)
        {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {:#?}",
            peer_snap(h, peer).await
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls one peer's routes until `pred` holds; bounded.
async fn wait_routes(h: &BgpHandle, peer: IpAddr, what: &str, pred: impl Fn(&PeerRoutes) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let r = h.routes(peer).await.unwrap().unwrap();
        if pred(&r) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn established(p: &PeerSnapshot) -> bool {
    p.state == SessionState::Established
}

/// Engine on 127.0.S.1 (AS 65000, RT 65000:100, groups g1 and g2),
/// listening; no peers yet.
fn base(subnet: u8) -> BgpConfig {
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
    c.listen = Some(SocketAddr::new(v4(subnet, 1), 0));
    c.connect_retry = 1;
    c.route_targets = vec!["65000:100".into()];
    c.groups = vec![
        GroupConfig { name: "g1".into() },
        GroupConfig { name: "g2".into() },
    ];
    c
}

/// `base` with a passive peer 127.0.S.2 (AS 65001) in group g1.
fn with_passive_peer(subnet: u8) -> BgpConfig {
    let mut c = base(subnet);
    let mut p = PeerConfig::new(v4(subnet, 2), 65001);
    p.passive = true;
    p.group = Some("g1".into());
    c.peers = vec![p];
    c
}

/// Starts the engine and connects the raw peer 127.0.S.2 to it, up to
/// Established and past the engine's initial advertisement (End-of-RIB).
async fn engine_and_raw_peer(
    config: BgpConfig,
    subnet: u8,
) -> (BgpHandle, TcpStream, CancellationToken) {
    let stop = CancellationToken::new();
    let (h, _) = Engine::start(config, stop.clone()).await.unwrap();
    let mut s = raw::connect_from(v4(subnet, 2), h.listen_addr().unwrap()).await;
    raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, 2], false)).await;
    raw::read_until(&mut s, 2, raw::is_rtc_end_of_rib).await;
    wait_peer(&h, v4(subnet, 2), "raw peer Established", established).await;
    (h, s, stop)
}

/// The NOTIFICATION (code, subcode) the raw peer receives next.
async fn notification(s: &mut TcpStream) -> (u8, u8) {
    let (body, _) = raw::read_until(s, 3, |_| true).await;
    (body[0], body[1])
}

/// RTC NLRI bytes for origin AS 65000 and route target 65000:value.
fn ours(value: u32) -> Vec<u8> {
    raw::rtc_nlri(65000, 65000, value)
}

/// The path attribute types of an UPDATE body and the value of each.
fn attributes(body: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let wlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
    let at = 2 + wlen;
    let alen = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let mut a = &body[at + 2..at + 2 + alen];
    let mut out = Vec::new();
    while !a.is_empty() {
        let (flags, ty) = (a[0], a[1]);
        let (len, hdr) = if flags & 0x10 != 0 {
            (usize::from(u16::from_be_bytes([a[2], a[3]])), 4)
        } else {
            (usize::from(a[2]), 3)
        };
        out.push((ty, a[hdr..hdr + len].to_vec()));
        a = &a[hdr + len..];
    }
    out
}

/// The RTC NLRI of an MP_REACH_NLRI (type 14) or MP_UNREACH_NLRI (type 15)
/// attribute of this UPDATE body, as raw bytes.
fn mp_nlri(body: &[u8], ty: u8) -> Option<Vec<u8>> {
    let (_, v) = attributes(body).into_iter().find(|(t, _)| *t == ty)?;
    // AFI 1, SAFI 132 (RFC 4760 §3, §4).
    assert_eq!(&v[..3], &[0, 1, 132], "RTC family");
    Some(if ty == 14 {
        let nh_len = usize::from(v[3]);
        v[3 + 1 + nh_len + 1..].to_vec()
    } else {
        v[3..].to_vec()
    })
}

/// The capability codes of an OPEN body (RFC 5492).
fn open_capabilities(body: &[u8]) -> Vec<u8> {
    let mut p = &body[10..10 + usize::from(body[9])];
    let mut codes = Vec::new();
    while p.len() >= 2 {
        let (ty, len) = (p[0], usize::from(p[1]));
        if ty == 2 {
            let mut c = &p[2..2 + len];
            while c.len() >= 2 {
                codes.push(c[0]);
                c = &c[2 + usize::from(c[1])..];
            }
        }
        p = &p[2 + len..];
    }
    codes
}

/// Nothing but KEEPALIVEs arrives for `d` (no NOTIFICATION, no close).
async fn quiet_for(s: &mut TcpStream, d: Duration) {
    let end = Instant::now() + d;
    while let Ok(m) = tokio::time::timeout_at(end, raw::read_msg(s)).await {
        let (t, _) = m.expect("the session was closed");
        assert_eq!(t, 4, "only KEEPALIVEs expected, got type {t}");
    }
}

#[tokio::test]
async fn removed_peer_gets_cease_peer_deconfigured_and_leaves_the_snapshot() {
    let (h, mut s, stop) = engine_and_raw_peer(with_passive_peer(60), 60).await;
    let _guard = stop.drop_guard();
    let r = h.reconfigure(base(60), soon()).await.unwrap();
    assert_eq!(r.peers_removed, vec![v4(60, 2)]);
    // RFC 4486 §4: Cease, Peer De-configured.
    assert_eq!(notification(&mut s).await, (6, 3));
    assert!(peer_snap(&h, v4(60, 2)).await.is_none());
    // It is no longer accepted either: Cease, Connection Rejected.
    let mut again = raw::connect_from(v4(60, 2), h.listen_addr().unwrap()).await;
    again
        .write_all(&raw::open(65001, 90, [10, 0, 0, 2], false))
        .await
        .unwrap();
    assert_eq!(notification(&mut again).await, (6, 5));
}

#[tokio::test]
async fn shutdown_sends_cease_2_stays_idle_and_clearing_it_reconnects() {
    // The engine connects to a raw peer listening on 127.0.61.2.
    let lis = TcpListener::bind((v4(61, 2), 0)).await.unwrap();
    let mut c = base(61);
    let mut p = PeerConfig::new(v4(61, 2), 65001);
    p.port = lis.local_addr().unwrap().port();
    c.peers = vec![p];
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let (h, _) = Engine::start(c.clone(), stop.clone()).await.unwrap();
    let accept = async || {
        let (mut s, _) = tokio::time::timeout(raw::IO_TIMEOUT, lis.accept())
            .await
            .expect("the engine connects")
            .unwrap();
        raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, 2], false)).await;
        s
    };
    let mut s = accept().await;
    wait_peer(&h, v4(61, 2), "Established", established).await;

    c.peers[0].shutdown = true;
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!(r.peers_shut_down, vec![v4(61, 2)]);
    // RFC 4486 §4: Cease, Administrative Shutdown.
    assert_eq!(notification(&mut s).await, (6, 2));
    let p = peer_snap(&h, v4(61, 2)).await.expect("still configured");
    assert_eq!(p.state, SessionState::Idle);
    assert_eq!(p.adj_rib_out, 0);
    // No connect attempt while shut down (connect_retry is 1 s).
    assert!(
        tokio::time::timeout(Duration::from_millis(2500), lis.accept())
            .await
            .is_err(),
        "a shut-down peer was connected to"
    );
    assert_eq!(
        peer_snap(&h, v4(61, 2)).await.unwrap().state,
        SessionState::Idle
    );

    c.peers[0].shutdown = false;
    let r = h.reconfigure(c, soon()).await.unwrap();
    assert_eq!(r.peers_started, vec![v4(61, 2)]);
    let _s = accept().await;
    wait_peer(&h, v4(61, 2), "Established again", established).await;
}

#[tokio::test]
async fn route_targets_are_announced_and_withdrawn_without_a_reset() {
    let mut c = with_passive_peer(62);
    let (h, mut s, stop) = engine_and_raw_peer(c.clone(), 62).await;
    let _guard = stop.drop_guard();
    let since = peer_snap(&h, v4(62, 2)).await.unwrap().established_since;

    c.route_targets.push("65000:200".into());
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!((r.routes_announced, r.routes_withdrawn), (1, 0));
    let (u, before) = raw::read_until(&mut s, 2, |b| mp_nlri(b, 14).is_some()).await;
    assert!(before.iter().all(|t| *t == 4), "{before:?}");
    assert_eq!(mp_nlri(&u, 14).unwrap(), ours(200), "MP_REACH of 65000:200");

    c.route_targets = vec!["65000:200".into()];
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!((r.routes_announced, r.routes_withdrawn), (0, 1));
    let (u, _) = raw::read_until(&mut s, 2, |_| true).await;
    assert_eq!(
        mp_nlri(&u, 15).unwrap(),
        ours(100),
        "MP_UNREACH of 65000:100"
    );
    assert!(mp_nlri(&u, 14).is_none());

    // The Adj-RIB-Out followed: an export soft reset re-sends 65000:200 only.
    let p = peer_snap(&h, v4(62, 2)).await.unwrap();
    assert_eq!(p.adj_rib_out, 1);
    let routes = h.routes(v4(62, 2)).await.unwrap().unwrap();
    let out: Vec<_> = routes
        .adj_rib_out
        .iter()
        .map(|r| r.route_target.clone())
        .collect();
    assert_eq!(out, vec![Some("65000:200".to_string())]);
    h.refresh(
        PeerSelector::Ipv4("127.0.62.2".parse().unwrap()),
        Direction::Export,
    )
    .await
    .unwrap();
    let (u, _) = raw::read_until(&mut s, 2, |_| true).await;
    assert_eq!(mp_nlri(&u, 14).unwrap(), ours(200));
    // No reset: the same session throughout, no NOTIFICATION.
    quiet_for(&mut s, Duration::from_millis(300)).await;
    let p = peer_snap(&h, v4(62, 2)).await.unwrap();
    assert_eq!(p.state, SessionState::Established);
    assert_eq!(p.established_since, since);
}

#[tokio::test]
async fn group_move_keeps_the_session_and_selectors_see_the_new_group() {
    let mut c = with_passive_peer(63);
    let (h, mut s, stop) = engine_and_raw_peer(c.clone(), 63).await;
    let _guard = stop.drop_guard();
    let since = peer_snap(&h, v4(63, 2)).await.unwrap().established_since;

    c.peers[0].group = Some("g2".into());
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!(r.peers_moved, vec![v4(63, 2)]);
    assert!(r.peers_reset.is_empty());
    let g2 = h
        .refresh(PeerSelector::Group("g2".into()), Direction::Import)
        .await
        .unwrap();
    assert_eq!(g2.refreshed, vec![v4(63, 2)]);
    let g1 = h
        .refresh(PeerSelector::Group("g1".into()), Direction::Import)
        .await
        .unwrap();
    assert!(g1.refreshed.is_empty() && g1.skipped.is_empty(), "{g1:?}");
    // The ROUTE-REFRESH arrives on the same session, and nothing else.
    let (rr, before) = raw::read_until(&mut s, 5, |_| true).await;
    assert_eq!(rr, vec![0, 1, 0, 132]);
    assert!(before.iter().all(|t| *t == 4), "{before:?}");
    quiet_for(&mut s, Duration::from_millis(300)).await;
    let p = peer_snap(&h, v4(63, 2)).await.unwrap();
    assert_eq!(p.group.as_deref(), Some("g2"));
    assert_eq!(p.established_since, since);

    // A group still referenced by a peer cannot be removed.
    let mut bad = c.clone();
    bad.groups.retain(|g| g.name != "g2");
    let e = h.reconfigure(bad, soon()).await.unwrap_err();
    assert!(
        matches!(&e, ReconfigureError::Invalid(_)) && e.to_string().contains("bgp.peers[0].group"),
        "{e}"
    );
    // An unreferenced one can.
    c.groups.retain(|g| g.name != "g1");
    h.reconfigure(c, soon()).await.unwrap();
    let e = h
        .refresh(PeerSelector::Group("g1".into()), Direction::Import)
        .await;
    assert!(e.is_err());
}

#[tokio::test]
async fn session_setting_change_resets_with_cease_6_and_reconnects_with_it() {
    let lis = TcpListener::bind((v4(64, 2), 0)).await.unwrap();
    let mut c = base(64);
    let mut p = PeerConfig::new(v4(64, 2), 65001);
    p.port = lis.local_addr().unwrap().port();
    c.peers = vec![p];
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let (h, _) = Engine::start(c.clone(), stop.clone()).await.unwrap();
    // Accepts the engine's connection; returns it and the engine's OPEN.
    let accept = async || {
        let (mut s, _) = tokio::time::timeout(raw::IO_TIMEOUT, lis.accept())
            .await
            .expect("the engine connects")
            .unwrap();
        s.write_all(&raw::open(65001, 90, [10, 0, 0, 2], true))
            .await
            .unwrap();
        let (ty, open) = raw::read_msg(&mut s).await.unwrap();
        assert_eq!(ty, 1);
        raw::read_until(&mut s, 4, |_| true).await;
        s.write_all(&raw::keepalive()).await.unwrap();
        (s, open)
    };
    let (mut s, open) = accept().await;
    assert!(
        open_capabilities(&open).contains(&2),
        "route refresh offered"
    );
    wait_peer(&h, v4(64, 2), "Established", established).await;

    // Route refresh is advertised in OPEN (RFC 2918 §2): a new session.
    c.peers[0].route_refresh = false;
    c.peers[0].enhanced_route_refresh = false;
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!(r.peers_reset, vec![v4(64, 2)]);
    // RFC 4486 §4: Cease, Other Configuration Change.
    assert_eq!(notification(&mut s).await, (6, 6));
    let (_s2, open) = accept().await;
    let caps = open_capabilities(&open);
    assert!(!caps.contains(&2) && !caps.contains(&70), "{caps:?}");
    let p = wait_peer(&h, v4(64, 2), "Established again", established).await;
    assert!(!p.negotiated.route_refresh);
}

#[tokio::test]
async fn router_id_change_resets_every_session() {
    let mut c = with_passive_peer(65);
    let (h, mut s, stop) = engine_and_raw_peer(c.clone(), 65).await;
    let _guard = stop.drop_guard();
    c.router_id = Ipv4Addr::new(10, 0, 0, 9);
    let r = h.reconfigure(c, soon()).await.unwrap();
    assert_eq!(r.peers_reset, vec![v4(65, 2)]);
    assert_eq!(notification(&mut s).await, (6, 6));
    // The next session carries the new BGP identifier (RFC 4271 §4.2).
    let mut s = raw::connect_from(v4(65, 2), h.listen_addr().unwrap()).await;
    s.write_all(&raw::open(65001, 90, [10, 0, 0, 2], false))
        .await
        .unwrap();
    let (ty, open) = raw::read_msg(&mut s).await.unwrap();
    assert_eq!(ty, 1);
    assert_eq!(&open[5..9], &[10, 0, 0, 9]);
    assert_eq!(
        h.snapshot().await.unwrap().router_id,
        Ipv4Addr::new(10, 0, 0, 9)
    );
}

#[tokio::test]
async fn max_prefixes_lowered_below_the_adj_rib_in_closes_at_once() {
    let mut c = with_passive_peer(66);
    let (h, mut s, stop) = engine_and_raw_peer(c.clone(), 66).await;
    let _guard = stop.drop_guard();
    let routes: Vec<Vec<u8>> = (1..=3).map(|v| raw::rtc_nlri(65001, 65001, v)).collect();
    s.write_all(&raw::rtc_update(65001, [127, 0, 66, 2], &routes))
        .await
        .unwrap();
    wait_peer(&h, v4(66, 2), "three routes in", |p| p.adj_rib_in == 3).await;
    c.peers[0].max_prefixes = 2;
    let r = h.reconfigure(c, soon()).await.unwrap();
    assert_eq!(r.peers_over_limit, vec![v4(66, 2)]);
    // RFC 4486 §4: Cease, Maximum Number of Prefixes Reached, with AFI,
    // SAFI and the new upper bound.
    let (body, _) = raw::read_until(&mut s, 3, |_| true).await;
    assert_eq!(body, vec![6, 1, 0, 1, 132, 0, 0, 0, 2]);
}

#[tokio::test]
async fn added_peers_connect_or_are_accepted() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let (h, _) = Engine::start(base(67), stop.clone()).await.unwrap();
    let lis = TcpListener::bind((v4(67, 2), 0)).await.unwrap();
    let mut c = base(67);
    let mut active = PeerConfig::new(v4(67, 2), 65001);
    active.port = lis.local_addr().unwrap().port();
    let mut passive = PeerConfig::new(v4(67, 3), 65002);
    passive.passive = true;
    c.peers = vec![active, passive];
    let r = h.reconfigure(c.clone(), soon()).await.unwrap();
    assert_eq!(r.peers_added, vec![v4(67, 2), v4(67, 3)]);
    let (mut s, _) = tokio::time::timeout(raw::IO_TIMEOUT, lis.accept())
        .await
        .expect("the added peer is connected to")
        .unwrap();
    raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, 2], false)).await;
    let mut t = raw::connect_from(v4(67, 3), h.listen_addr().unwrap()).await;
    raw::establish(&mut t, &raw::open(65002, 90, [10, 0, 0, 3], false)).await;
    wait_peer(&h, v4(67, 2), "active peer Established", established).await;
    wait_peer(&h, v4(67, 3), "passive peer Established", established).await;
    // The same configuration again changes nothing.
    assert!(h.reconfigure(c, soon()).await.unwrap().is_empty());
}

#[tokio::test]
async fn refused_configurations_change_nothing_and_the_listener_moves() {
    let mut c = with_passive_peer(68);
    let (h, mut s, stop) = engine_and_raw_peer(c.clone(), 68).await;
    let _guard = stop.drop_guard();
    let before = h.snapshot().await.unwrap();
    let old_listen = h.listen_addr().unwrap();

    // Invalid: the error names the key; a valid part (a new RT) is not applied.
    let mut bad = c.clone();
    bad.route_targets.push("65000:300".into());
    bad.peers[0].remote_as = 0;
    let e = h.reconfigure(bad, soon()).await.unwrap_err();
    assert!(e.to_string().contains("bgp.peers[0].remote_as"), "{e}");
    // A listen address that cannot be bound (in use): the old listener stays.
    let busy = std::net::TcpListener::bind((v4(68, 3), 0)).unwrap();
    let mut bad = c.clone();
    bad.listen = Some(busy.local_addr().unwrap());
    bad.peers.clear();
    let e = h.reconfigure(bad, soon()).await.unwrap_err();
    assert!(matches!(e, ReconfigureError::Listen { .. }), "{e}");
    // A deadline already past: refused, not applied.
    let mut late = c.clone();
    late.peers.clear();
    let e = h
        .reconfigure(late, Instant::now() - Duration::from_millis(1))
        .await
        .unwrap_err();
    assert!(matches!(e, ReconfigureError::Timeout), "{e}");
    quiet_for(&mut s, Duration::from_millis(300)).await;
    assert_eq!(h.snapshot().await.unwrap().peers, before.peers);
    assert_eq!(h.listen_addr(), Some(old_listen));

    // Moving the listener: the new address accepts, the old one is closed.
    drop(busy);
    c.listen = Some(SocketAddr::new(v4(68, 4), 0));
    let r = h.reconfigure(c, soon()).await.unwrap();
    let new_listen = h.listen_addr().unwrap();
    assert_eq!(r.listener, Some(Some(new_listen)));
    assert_eq!(new_listen.ip(), v4(68, 4));
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(old_listen).await.is_ok() {
        assert!(Instant::now() < deadline, "the old listener still accepts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The established session was not affected.
    quiet_for(&mut s, Duration::from_millis(200)).await;
    assert!(established(&peer_snap(&h, v4(68, 2)).await.unwrap()));
}

/// Engine to engine: a route target added on A reaches B's Adj-RIB-In
/// and leaves it again when removed, on the same session.
#[tokio::test]
async fn engine_pair_route_target_follows_without_reset() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut a = with_passive_peer(69);
    let (ha, _) = Engine::start(a.clone(), stop.clone()).await.unwrap();
    let mut b = BgpConfig::new(65001, Ipv4Addr::new(10, 0, 0, 2));
    b.connect_retry = 1;
    let mut pa = PeerConfig::new(v4(69, 1), 65000);
    pa.port = ha.listen_addr().unwrap().port();
    pa.local_address = Some(v4(69, 2));
    b.peers = vec![pa];
    let (hb, _) = Engine::start(b, stop.clone()).await.unwrap();
    let has = |rt: &'static str| {
        move |p: &PeerRoutes| {
            p.adj_rib_in
                .iter()
                .any(|r| r.route_target.as_deref() == Some(rt))
        }
    };
    wait_routes(&hb, v4(69, 1), "A's route in B", has("65000:100")).await;
    let up = peer_snap(&hb, v4(69, 1)).await.unwrap();
    a.route_targets.push("4200000000:7".into());
    ha.reconfigure(a.clone(), soon()).await.unwrap();
    wait_routes(&hb, v4(69, 1), "new RT in B", has("4200000000:7")).await;
    a.route_targets.retain(|r| r != "65000:100");
    ha.reconfigure(a, soon()).await.unwrap();
    let p = wait_peer(&hb, v4(69, 1), "old RT withdrawn in B", |p| {
        p.adj_rib_in == 1
    })
    .await;
    assert!(has("4200000000:7")(
        &hb.routes(v4(69, 1)).await.unwrap().unwrap()
    ));
    assert_eq!(p.established_since, up.established_since);
    assert_eq!(p.state, SessionState::Established);
}

/// A peer configured shut down from the start is never connected to, and
/// its connection is refused with Cease / Administrative Shutdown.
#[tokio::test]
async fn a_shut_down_peer_is_refused_with_cease_2() {
    let mut c = with_passive_peer(70);
    c.peers[0].shutdown = true;
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let (h, _) = Engine::start(c.clone(), stop.clone()).await.unwrap();
    assert_eq!(
        peer_snap(&h, v4(70, 2)).await.unwrap().state,
        SessionState::Idle
    );
    let mut s = raw::connect_from(v4(70, 2), h.listen_addr().unwrap()).await;
    s.write_all(&raw::open(65001, 90, [10, 0, 0, 2], false))
        .await
        .unwrap();
    assert_eq!(notification(&mut s).await, (6, 2));
    // Cleared: the passive peer is accepted again.
    c.peers[0].shutdown = false;
    let r = h.reconfigure(c, soon()).await.unwrap();
    assert_eq!(r.peers_started, vec![v4(70, 2)]);
    let mut s = raw::connect_from(v4(70, 2), h.listen_addr().unwrap()).await;
    raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, 2], false)).await;
    wait_peer(&h, v4(70, 2), "Established", established).await;
}
