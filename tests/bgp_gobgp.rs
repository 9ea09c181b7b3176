//! Interop with GoBGP 3.x (`gobgpd`): one eBGP and one iBGP instance on
//! loopback. Our engine is 127.0.0.1 (AS 65000); the eBGP GoBGP is
//! 127.0.0.2 (AS 65001), the iBGP GoBGP is 127.0.0.3 (AS 65000). Both GoBGPs
//! are passive and our engine connects (GoBGP's own first connect attempt
//! takes ~9 s; our passive side is covered by bgp_engine and bgp_malformed).
//! Ports are chosen at run time.
//! If gobgpd/gobgp are not installed these tests FAIL (see the harness).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/gobgp.rs"]
mod gobgp;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use gobgp::{GoBgp, Neighbor};
use ncagent::bgp::{
    BgpConfig, BgpHandle, Direction, Engine, GroupConfig, PeerConfig, PeerRoutes, PeerSelector,
    PeerSnapshot, RefreshError, SessionState,
};
use tokio_util::sync::CancellationToken;

const US: &str = "127.0.0.1";
const EBGP: &str = "127.0.0.2";
const IBGP: &str = "127.0.0.3";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

struct Topo {
    engine: BgpHandle,
    ebgp: GoBgp,
    ibgp: GoBgp,
    /// The configuration the engine was started with.
    config: BgpConfig,
    stop: CancellationToken,
}

impl Drop for Topo {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn wait_peer(
    h: &BgpHandle,
    peer: &str,
    what: &str,
    pred: impl Fn(&PeerSnapshot) -> bool,
) -> PeerSnapshot {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = h.snapshot().await.unwrap().peer(ip(peer)).unwrap().clone();
        if pred(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {p:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls one peer's routes until `pred` holds; bounded.
async fn wait_routes(h: &BgpHandle, peer: &str, what: &str, pred: impl Fn(&PeerRoutes) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = h.routes(ip(peer)).await.unwrap().unwrap();
        if pred(&r) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {r:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn topo() -> Topo {
    let ebgp = GoBgp::start(
        EBGP,
        65001,
        &[Neighbor {
            address: ip(US),
            peer_as: 65000,
            passive: true,
            remote_port: 179,
            rtc_restart_time: None,
        }],
    );
    let ibgp = GoBgp::start(
        IBGP,
        65000,
        &[Neighbor {
            address: ip(US),
            peer_as: 65000,
            passive: true,
            remote_port: 179,
            rtc_restart_time: None,
        }],
    );
    let stop = CancellationToken::new();
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1));
    c.connect_retry = 1;
    c.hold_time = 30;
    c.route_targets = vec!["65000:100".into()];
    c.groups = vec![
        GroupConfig {
            name: "ebgp-peers".into(),
        },
        GroupConfig {
            name: "ibgp-peers".into(),
        },
    ];
    let mut e = PeerConfig::new(ip(EBGP), 65001);
    e.port = ebgp.bgp_port;
    e.group = Some("ebgp-peers".into());
    e.local_address = Some(ip(US));
    let mut i = PeerConfig::new(ip(IBGP), 65000);
    i.port = ibgp.bgp_port;
    i.group = Some("ibgp-peers".into());
    i.local_address = Some(ip(US));
    c.peers = vec![e, i];
    let (engine, _) = Engine::start(c.clone(), stop.clone()).await.unwrap();
    let up = |p: &PeerSnapshot| p.state == SessionState::Established;
    wait_peer(&engine, EBGP, "eBGP GoBGP Established", up).await;
    wait_peer(&engine, IBGP, "iBGP GoBGP Established", up).await;
    ebgp.wait_until("eBGP GoBGP sees us Established", |g| g.established(ip(US)));
    ibgp.wait_until("iBGP GoBGP sees us Established", |g| g.established(ip(US)));
    Topo {
        engine,
        ebgp,
        ibgp,
        config: c,
        stop,
    }
}

fn refresh_rcvd(g: &GoBgp) -> u64 {
    g.message_count(ip(US), "received", "refresh")
}

/// Acceptance 1: RTC routes flow both ways with eBGP and iBGP GoBGP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_rtc_routes_flow_both_ways() {
    let t = topo().await;
    let p = t.engine.snapshot().await.unwrap();
    for peer in [EBGP, IBGP] {
        let n = p.peer(ip(peer)).unwrap().negotiated;
        assert!(n.rtc && n.route_refresh && n.four_octet_as, "{peer}: {n:?}");
        // RFC 4724 §3: both helpers (the harness configures GoBGP's).
        assert!(n.graceful_restart, "{peer}: {n:?}");
        // GoBGP 3.10 does not advertise enhanced route refresh.
        assert!(!n.enhanced_route_refresh, "{peer}: {n:?}");
    }

    t.ebgp.add_vrf("red", "65001:1", "65001:200");
    t.ibgp.add_vrf("blue", "65000:2", "65000:300");
    let has = |rt: &'static str, origin: u32| {
        move |p: &PeerRoutes| {
            p.adj_rib_in.iter().any(|r| {
                r.route_target.as_deref() == Some(rt) && r.origin_as == origin && r.prefix_len == 96
            })
        }
    };
    wait_routes(
        &t.engine,
        EBGP,
        "eBGP GoBGP's RTC route in our Adj-RIB-In",
        has("65001:200", 65001),
    )
    .await;
    wait_routes(
        &t.engine,
        IBGP,
        "iBGP GoBGP's RTC route in our Adj-RIB-In",
        has("65000:300", 65000),
    )
    .await;

    for g in [&t.ebgp, &t.ibgp] {
        g.wait_until("our RTC route in GoBGP's rtc RIB", |g| {
            g.rtc_rib().contains("65000:100")
        });
    }
    let snap = t.engine.snapshot().await.unwrap();
    for peer in [EBGP, IBGP] {
        assert_eq!(snap.peer(ip(peer)).unwrap().adj_rib_out, 1, "{peer}");
        let routes = t.engine.routes(ip(peer)).await.unwrap().unwrap();
        let out = &routes.adj_rib_out;
        assert_eq!(out.len(), 1, "{peer}: {out:?}");
        assert_eq!(out[0].route_target.as_deref(), Some("65000:100"));
    }
}

/// Acceptance 2: ROUTE-REFRESH reaches exactly the selected GoBGPs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_import_refresh_reaches_exactly_the_selected_peers() {
    let t = topo().await;
    let check = async |selector: PeerSelector, ebgp_delta: u64, ibgp_delta: u64| {
        let (e0, i0) = (refresh_rcvd(&t.ebgp), refresh_rcvd(&t.ibgp));
        let out = t
            .engine
            .refresh(selector.clone(), Direction::Import)
            .await
            .unwrap();
        assert!(out.skipped.is_empty(), "{selector:?}: {out:?}");
        assert_eq!(
            out.refreshed.len() as u64,
            ebgp_delta + ibgp_delta,
            "{selector:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while refresh_rcvd(&t.ebgp) < e0 + ebgp_delta || refresh_rcvd(&t.ibgp) < i0 + ibgp_delta {
            assert!(
                Instant::now() < deadline,
                "{selector:?}: GoBGP did not count the ROUTE-REFRESH"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // Exactly: give a stray message time to arrive, then compare.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            refresh_rcvd(&t.ebgp),
            e0 + ebgp_delta,
            "{selector:?}: eBGP Route Refresh Rcvd"
        );
        assert_eq!(
            refresh_rcvd(&t.ibgp),
            i0 + ibgp_delta,
            "{selector:?}: iBGP Route Refresh Rcvd"
        );
    };
    check(PeerSelector::External, 1, 0).await;
    check(PeerSelector::Internal, 0, 1).await;
    check(PeerSelector::All, 1, 1).await;
    check(PeerSelector::Group("ebgp-peers".into()), 1, 0).await;
    check(PeerSelector::Group("ibgp-peers".into()), 0, 1).await;
    check(PeerSelector::Ipv4(EBGP.parse().unwrap()), 1, 0).await;

    let e = t
        .engine
        .refresh(PeerSelector::Group("nope".into()), Direction::Import)
        .await;
    assert_eq!(e, Err(RefreshError::GroupNotFound("nope".into())));
    let e = t
        .engine
        .refresh(
            PeerSelector::Ipv4("127.0.0.9".parse().unwrap()),
            Direction::Import,
        )
        .await;
    assert_eq!(e, Err(RefreshError::PeerNotFound(ip("127.0.0.9"))));
    let snap = t.engine.snapshot().await.unwrap();
    assert_eq!(snap.peer(ip(EBGP)).unwrap().route_refresh_sent, 4);
    assert_eq!(snap.peer(ip(IBGP)).unwrap().route_refresh_sent, 3);
}

/// Acceptance 3: export re-sends the Adj-RIB-Out; no session is torn down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_export_refresh_resends_updates_without_teardown() {
    let t = topo().await;
    // uptime.seconds is the establishment time: it must not move.
    let up_e = t.ebgp.uptime_since(ip(US));
    let up_i = t.ibgp.uptime_since(ip(US));
    assert!(up_e > 0 && up_i > 0);
    let before_e = t.ebgp.message_count(ip(US), "received", "update");
    let before_i = t.ibgp.message_count(ip(US), "received", "update");
    let ours_before = t.engine.snapshot().await.unwrap();

    let out = t
        .engine
        .refresh(PeerSelector::All, Direction::Export)
        .await
        .unwrap();
    assert_eq!(out.refreshed.len(), 2);
    t.ebgp.wait_until("eBGP Updates Rcvd raised", |g| {
        g.message_count(ip(US), "received", "update") > before_e
    });
    t.ibgp.wait_until("iBGP Updates Rcvd raised", |g| {
        g.message_count(ip(US), "received", "update") > before_i
    });
    // Sessions still up, same establishment time on both sides.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(t.ebgp.established(ip(US)) && t.ibgp.established(ip(US)));
    assert_eq!(t.ebgp.uptime_since(ip(US)), up_e);
    assert_eq!(t.ibgp.uptime_since(ip(US)), up_i);
    let ours_after = t.engine.snapshot().await.unwrap();
    for peer in [EBGP, IBGP] {
        let (b, a) = (
            ours_before.peer(ip(peer)).unwrap(),
            ours_after.peer(ip(peer)).unwrap(),
        );
        assert_eq!(a.state, SessionState::Established);
        assert_eq!(a.established_since, b.established_since, "{peer}");
        assert_eq!(a.updates_sent, b.updates_sent + 1, "{peer}");
    }
}

/// RFC 4684 §6 / RFC 4724 §2: after its initial advertisement our engine
/// sends the End-of-RIB for RT membership, and GoBGP records it
/// (`afi_safis[rtc].mp_graceful_restart.state.end_of_rib_received`). GoBGP
/// 3.10 sends its own RTC End-of-RIB only on sessions where graceful restart
/// is negotiated: we advertise capability 64 as a Receiving Speaker (RFC
/// 4724 §3, no <AFI, SAFI>) and the harness makes GoBGP a helper, so our
/// engine records GoBGP's End-of-RIB too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_and_our_engine_record_each_others_end_of_rib() {
    let t = topo().await;
    for (peer, g) in [(EBGP, &t.ebgp), (IBGP, &t.ibgp)] {
        let caps = g.capabilities(ip(US), "remote_cap");
        assert!(
            caps.contains("GracefulRestart"),
            "{peer}: GoBGP did not receive our Graceful Restart capability: {caps}"
        );
        let ours = wait_peer(&t.engine, peer, "GoBGP's End-of-RIB recorded", |p| {
            p.end_of_rib_received.is_some()
        })
        .await;
        assert!(ours.negotiated.graceful_restart, "{peer}: {ours:#?}");
        // GoBGP originates nothing here: its End-of-RIB is its only UPDATE.
        assert_eq!(ours.updates_received, 1, "{peer}");
        assert_eq!(ours.adj_rib_in, 0, "{peer}");
        g.wait_until("GoBGP recorded our End-of-RIB", |g| {
            let j = g.neighbor_json(ip(US));
            // `afi_safis` is an array: look from its key on.
            j.find("\"afi_safis\"")
                .is_some_and(|at| j[at..].contains("\"end_of_rib_received\":true"))
        });
        // Our one RTC route and the End-of-RIB: two UPDATEs, nothing else.
        assert_eq!(g.message_count(ip(US), "received", "update"), 2, "{peer}");
        let ours = wait_peer(&t.engine, peer, "End-of-RIB written", |p| p.end_of_rib_sent).await;
        assert_eq!(ours.updates_sent, 2, "{peer}");
        assert_eq!(ours.adj_rib_out, 1, "{peer}");
    }
}

const V6: &str = "::1";

/// Our engine and one eBGP GoBGP (AS 65003), both on `::1`; GoBGP is
/// passive on its own port and our engine connects (FACTS: GoBGP 3.10 over
/// IPv6 on one host).
async fn v6_pair(stop: &CancellationToken) -> (BgpHandle, GoBgp) {
    let g = GoBgp::start_with_router_id(
        V6,
        "10.255.0.6",
        65003,
        &[Neighbor {
            address: ip(V6),
            peer_as: 65000,
            passive: true,
            remote_port: 179,
            rtc_restart_time: None,
        }],
    );
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1));
    c.connect_retry = 1;
    c.hold_time = 30;
    c.route_targets = vec!["65000:100".into()];
    let mut p = PeerConfig::new(ip(V6), 65003);
    p.port = g.bgp_port;
    p.local_address = Some(ip(V6));
    c.peers = vec![p];
    let (engine, _) = Engine::start(c, stop.clone()).await.unwrap();
    wait_peer(&engine, V6, "IPv6 GoBGP Established", |p| {
        p.state == SessionState::Established
    })
    .await;
    g.wait_until("IPv6 GoBGP sees us Established", |g| g.established(ip(V6)));
    (engine, g)
}

/// Issue #9 item 7, IPv6 sessions. GoBGP 3.10 advertises Extended Next Hop
/// (RFC 8950 §3) <1, 132, 2> for rtc and sends a 16-octet next hop; we
/// advertise the same tuple on IPv6 sessions, so the 16-octet `::1` is
/// negotiated, not presumed (RFC 4684 §4 reads 16 octets as IPv6). Then: our
/// RTC route in GoBGP's RIB with next hop `::1`, GoBGP's route in ours, and
/// soft resets by the IPv6 selector counted by GoBGP, no session reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_ipv6_peer_negotiates_extended_next_hop_and_is_soft_reset() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let (engine, g) = v6_pair(&stop).await;
    let v6 = ip(V6);

    let n = engine
        .snapshot()
        .await
        .unwrap()
        .peer(v6)
        .unwrap()
        .negotiated;
    assert!(n.rtc && n.route_refresh && n.extended_next_hop, "{n:?}");
    let ours = g.capabilities(v6, "remote_cap");
    assert!(
        ours.contains("ExtendedNexthopCapability"),
        "GoBGP did not receive our Extended Next Hop capability: {ours}"
    );

    g.wait_until("our RTC route in GoBGP's rtc RIB", |g| {
        !g.rtc_paths("65000:65000:100").is_empty()
    });
    let paths = g.rtc_paths("65000:65000:100");
    assert!(paths.contains(r#""nexthop":"::1""#), "{paths}");

    g.add_vrf("green", "65003:1", "65003:300");
    wait_routes(&engine, V6, "GoBGP's RTC route over IPv6", |p| {
        p.adj_rib_in
            .iter()
            .any(|r| r.route_target.as_deref() == Some("65003:300") && r.origin_as == 65003)
    })
    .await;

    let up = g.uptime_since(v6);
    let r0 = g.message_count(v6, "received", "refresh");
    let out = engine
        .refresh(PeerSelector::Ipv6(V6.parse().unwrap()), Direction::Import)
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![v6]);
    g.wait_until("GoBGP counts our ROUTE-REFRESH over IPv6", |g| {
        g.message_count(v6, "received", "refresh") == r0 + 1
    });

    let u0 = g.message_count(v6, "received", "update");
    let out = engine
        .refresh(PeerSelector::Ipv6(V6.parse().unwrap()), Direction::Export)
        .await
        .unwrap();
    assert_eq!(out.refreshed, vec![v6]);
    g.wait_until("GoBGP counts the re-advertisement", |g| {
        g.message_count(v6, "received", "update") > u0
    });
    assert!(g.established(v6));
    assert_eq!(g.uptime_since(v6), up, "the IPv6 session was reset");
}

/// RFC 4724 §4.2, our engine as the Receiving Speaker. A GoBGP that lists
/// rtc in its Graceful Restart capability (Restart Time 4 s) is killed: the
/// session ends without a NOTIFICATION, so its RTC route stays in our
/// Adj-RIB-In, marked stale, while the peer is down; once the Restart Time
/// has passed without a new session the stale route is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_killed_keeps_its_rtc_routes_stale_for_its_restart_time() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut g = GoBgp::start(
        EBGP,
        65001,
        &[Neighbor {
            address: ip(US),
            peer_as: 65000,
            passive: true,
            remote_port: 179,
            rtc_restart_time: Some(4),
        }],
    );
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1));
    c.connect_retry = 1;
    c.hold_time = 30;
    c.route_targets = vec!["65000:100".into()];
    let mut p = PeerConfig::new(ip(EBGP), 65001);
    p.port = g.bgp_port;
    p.local_address = Some(ip(US));
    c.peers = vec![p];
    let (engine, _) = Engine::start(c, stop.clone()).await.unwrap();
    g.add_vrf("red", "65001:1", "65001:200");
    let up = wait_peer(&engine, EBGP, "GoBGP's route and End-of-RIB", |p| {
        p.state == SessionState::Established && p.adj_rib_in == 1 && p.end_of_rib_received.is_some()
    })
    .await;
    assert!(up.negotiated.graceful_restart && up.rtc_routes_stale == 0);

    g.kill();
    let down = wait_peer(&engine, EBGP, "session down, route kept stale", |p| {
        p.state != SessionState::Established
    })
    .await;
    let gone_at = Instant::now() + Duration::from_secs(4);
    assert_eq!(down.adj_rib_in, 1, "{down:#?}");
    assert_eq!(down.rtc_routes_stale, 1, "{down:#?}");
    let routes = engine.routes(ip(EBGP)).await.unwrap().unwrap();
    assert_eq!(
        routes.adj_rib_in[0].route_target.as_deref(),
        Some("65001:200")
    );
    // Still kept a little later (the peer is down, its Restart Time runs).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let p = engine
        .snapshot()
        .await
        .unwrap()
        .peer(ip(EBGP))
        .unwrap()
        .clone();
    assert_eq!(p.rtc_routes_stale, 1, "{p:#?}");
    // Deleted once the Restart Time is over.
    let p = wait_peer(&engine, EBGP, "stale route deleted", |p| p.adj_rib_in == 0).await;
    assert!(Instant::now() + Duration::from_millis(200) >= gone_at);
    assert_eq!(p.rtc_routes_stale, 0);
}

/// Live reconfiguration (issue #10): a route target added to the running
/// engine is announced to both GoBGPs (it appears in `global rib -a rtc`)
/// and, removed again, withdrawn, without either session being reset
/// (GoBGP's uptime, the establishment time, does not move).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_route_target_added_and_removed_by_reconfigure_without_reset() {
    let t = topo().await;
    let up_e = t.ebgp.uptime_since(ip(US));
    let up_i = t.ibgp.uptime_since(ip(US));
    assert!(up_e > 0 && up_i > 0);
    for g in [&t.ebgp, &t.ibgp] {
        g.wait_until("our first RTC route in GoBGP", |g| {
            !g.rtc_paths("65000:65000:100").is_empty()
        });
    }
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(5);
    let mut c = t.config.clone();
    c.route_targets.push("65000:200".into());
    let r = t.engine.reconfigure(c.clone(), deadline()).await.unwrap();
    assert_eq!((r.routes_announced, r.routes_withdrawn), (2, 0), "{r:?}");
    for g in [&t.ebgp, &t.ibgp] {
        g.wait_until("the added RTC route in GoBGP's rtc RIB", |g| {
            !g.rtc_paths("65000:65000:200").is_empty()
        });
    }
    c.route_targets.retain(|rt| rt != "65000:200");
    let r = t.engine.reconfigure(c, deadline()).await.unwrap();
    assert_eq!((r.routes_announced, r.routes_withdrawn), (0, 2), "{r:?}");
    for g in [&t.ebgp, &t.ibgp] {
        g.wait_until("the removed RTC route withdrawn from GoBGP", |g| {
            g.rtc_paths("65000:65000:200").is_empty()
        });
        // The other route stays.
        assert!(!g.rtc_paths("65000:65000:100").is_empty());
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(t.ebgp.established(ip(US)) && t.ibgp.established(ip(US)));
    assert_eq!(t.ebgp.uptime_since(ip(US)), up_e, "eBGP session reset");
    assert_eq!(t.ibgp.uptime_since(ip(US)), up_i, "iBGP session reset");
}

/// Live reconfiguration: a peer added to a running engine (that had none)
/// connects and reaches Established with GoBGP; removed again, GoBGP hears
/// Cease / Peer De-configured and the session is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gobgp_peer_added_by_reconfigure_reaches_established() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let g = GoBgp::start(
        EBGP,
        65001,
        &[Neighbor {
            address: ip(US),
            peer_as: 65000,
            passive: true,
            remote_port: 179,
            rtc_restart_time: None,
        }],
    );
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1));
    c.connect_retry = 1;
    c.hold_time = 30;
    c.route_targets = vec!["65000:100".into()];
    let (engine, _) = Engine::start(c.clone(), stop.clone()).await.unwrap();
    assert!(engine.snapshot().await.unwrap().peers.is_empty());
    let mut p = PeerConfig::new(ip(EBGP), 65001);
    p.port = g.bgp_port;
    p.local_address = Some(ip(US));
    c.peers = vec![p];
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(5);
    let r = engine.reconfigure(c.clone(), deadline()).await.unwrap();
    assert_eq!(r.peers_added, vec![ip(EBGP)]);
    wait_peer(&engine, EBGP, "added GoBGP Established", |p| {
        p.state == SessionState::Established
    })
    .await;
    g.wait_until("GoBGP sees us Established", |g| g.established(ip(US)));
    g.wait_until("our RTC route in GoBGP", |g| {
        !g.rtc_paths("65000:65000:100").is_empty()
    });

    c.peers.clear();
    let r = engine.reconfigure(c, deadline()).await.unwrap();
    assert_eq!(r.peers_removed, vec![ip(EBGP)]);
    g.wait_until("GoBGP's session with us down", |g| !g.established(ip(US)));
    assert!(engine.snapshot().await.unwrap().peers.is_empty());
    // RFC 4486 §4 Cease / Peer De-configured, as GoBGP logs it.
    g.wait_until("GoBGP logged our Cease 6/3", |g| {
        g.log()
            .contains("code 6(cease) subcode 3(peer deconfigured)")
    });
}
