//! RFC 4724 §4.2: our engine as the Receiving Speaker of a raw TCP peer that
//! lists AFI 1 / SAFI 132 in its Graceful Restart capability. (The Restart
//! Time running out is shown against GoBGP in tests/bgp_gobgp.rs.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ncagent::bgp::{BgpConfig, BgpHandle, Engine, PeerConfig, PeerSnapshot, SessionState};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

#[path = "support/rawpeer.rs"]
mod raw;

/// Graceful Restart capability (RFC 4724 §3): code 64, length 6, flags and
/// Restart Time 60 s, one tuple AFI 1 / SAFI 132 with the F bit as given;
/// the R bit as given.
fn gr_rtc(restarted: bool, forwarding_preserved: bool) -> Vec<u8> {
    let flags = if restarted { 0x80 } else { 0x00 };
    let f = if forwarding_preserved { 0x80 } else { 0x00 };
    vec![64, 6, flags, 60, 0, 1, 132, f]
}

async fn wait_peer(
    h: &BgpHandle,
    peer: IpAddr,
    what: &str,
    pred: impl Fn(&PeerSnapshot) -> bool,
) -> PeerSnapshot {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let p = h.snapshot().await.unwrap().peer(peer).unwrap().clone();
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

/// The route targets of `peer`'s Adj-RIB-In, sorted.
async fn rts(h: &BgpHandle, peer: IpAddr) -> Vec<String> {
    h.routes(peer)
        .await
        .unwrap()
        .unwrap()
        .adj_rib_in
        .iter()
        .map(|r| r.route_target.clone().unwrap_or_default())
        .collect()
}

struct Lab {
    engine: BgpHandle,
    b_ip: IpAddr,
    _stop: tokio_util::sync::DropGuard,
}

impl Lab {
    /// Engine A (AS 65000) with one passive peer B (AS 65001).
    async fn start(subnet: u8, helper: bool) -> Lab {
        let a_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 1));
        let b_ip = IpAddr::V4(Ipv4Addr::new(127, 0, subnet, 2));
        let stop = CancellationToken::new();
        let mut a = BgpConfig::new(65000, Ipv4Addr::new(10, 0, 0, 1));
        a.listen = Some(SocketAddr::new(a_ip, 0));
        a.route_targets = vec!["65000:100".into()];
        let mut pb = PeerConfig::new(b_ip, 65001);
        pb.passive = true;
        pb.graceful_restart_helper = helper;
        a.peers = vec![pb];
        let (engine, _) = Engine::start(a, stop.clone()).await.unwrap();
        Lab {
            engine,
            b_ip,
            _stop: stop.drop_guard(),
        }
    }

    /// B connects with these extra capabilities and reaches Established.
    async fn connect(&self, extra: &[u8]) -> TcpStream {
        let mut s = raw::connect_from(self.b_ip, self.engine.listen_addr().unwrap()).await;
        raw::establish(
            &mut s,
            &raw::open_with(65001, 90, [10, 0, 0, 2], false, extra),
        )
        .await;
        wait_peer(&self.engine, self.b_ip, "Established", |p| {
            p.state == SessionState::Established
        })
        .await;
        s
    }

    /// B announces 65001:1 and 65001:2, then its End-of-RIB.
    async fn two_routes(&self, s: &mut TcpStream) {
        let nh = [127, 0, 0, 2];
        let update = raw::rtc_update(
            65001,
            nh,
            &[
                raw::rtc_nlri(65001, 65001, 1),
                raw::rtc_nlri(65001, 65001, 2),
            ],
        );
        s.write_all(&update).await.unwrap();
        s.write_all(&raw::rtc_end_of_rib()).await.unwrap();
        wait_peer(&self.engine, self.b_ip, "B's two routes", |p| {
            p.adj_rib_in == 2 && p.end_of_rib_received.is_some()
        })
        .await;
    }

    /// B's TCP connection ends without a NOTIFICATION.
    async fn drop_session(&self, s: TcpStream) -> PeerSnapshot {
        drop(s);
        wait_peer(&self.engine, self.b_ip, "session down", |p| {
            p.state != SessionState::Established
        })
        .await
    }
}

/// §4.2: routes kept as stale across the restart; re-advertised ones are no
/// longer stale; the End-of-RIB removes what is still stale.
#[tokio::test]
async fn restarting_peer_keeps_its_routes_until_its_end_of_rib() {
    let lab = Lab::start(40, true).await;
    let mut b = lab.connect(&gr_rtc(false, false)).await;
    let p = wait_peer(&lab.engine, lab.b_ip, "negotiated", |_| true).await;
    assert!(p.negotiated.graceful_restart, "{p:#?}");
    lab.two_routes(&mut b).await;

    let down = lab.drop_session(b).await;
    assert_eq!(down.adj_rib_in, 2);
    assert_eq!(rts(&lab.engine, lab.b_ip).await, vec!["65001:1", "65001:2"]);
    assert_eq!(down.rtc_routes_stale, 2);

    // Back with R and F set: the stale routes stay until the End-of-RIB.
    let mut b = lab.connect(&gr_rtc(true, true)).await;
    let up = wait_peer(&lab.engine, lab.b_ip, "stale routes kept", |_| true).await;
    assert_eq!(up.rtc_routes_stale, 2, "{up:#?}");
    assert_eq!(up.end_of_rib_received, None);
    let r1 = raw::rtc_update(65001, [127, 0, 0, 2], &[raw::rtc_nlri(65001, 65001, 1)]);
    b.write_all(&r1).await.unwrap();
    let p = wait_peer(&lab.engine, lab.b_ip, "65001:1 re-advertised", |p| {
        p.rtc_routes_stale == 1
    })
    .await;
    assert_eq!(p.adj_rib_in, 2);
    assert_eq!(rts(&lab.engine, lab.b_ip).await, vec!["65001:1", "65001:2"]);
    b.write_all(&raw::rtc_end_of_rib()).await.unwrap();
    let p = wait_peer(&lab.engine, lab.b_ip, "stale 65001:2 removed", |p| {
        p.end_of_rib_received.is_some()
    })
    .await;
    assert_eq!(p.adj_rib_in, 1);
    assert_eq!(rts(&lab.engine, lab.b_ip).await, vec!["65001:1"]);
    assert_eq!(p.rtc_routes_stale, 0);
}

/// §4.2: the new OPEN does not set the F bit for AFI 1 / SAFI 132: the stale
/// routes go at once.
#[tokio::test]
async fn peer_back_without_forwarding_state_loses_its_stale_routes() {
    let lab = Lab::start(41, true).await;
    let mut b = lab.connect(&gr_rtc(false, false)).await;
    lab.two_routes(&mut b).await;
    assert_eq!(lab.drop_session(b).await.rtc_routes_stale, 2);
    let _b = lab.connect(&gr_rtc(true, false)).await;
    let p = wait_peer(&lab.engine, lab.b_ip, "stale routes removed", |p| {
        p.adj_rib_in == 0
    })
    .await;
    assert_eq!(p.rtc_routes_stale, 0);
}

/// RFC 4724 applies to TCP termination only (RFC 8538 not negotiated): after
/// a NOTIFICATION the routes go at once. And without our capability
/// (`graceful_restart_helper = false`) nothing is kept either.
#[tokio::test]
async fn notification_or_no_helper_keeps_nothing() {
    let lab = Lab::start(42, true).await;
    let mut b = lab.connect(&gr_rtc(false, false)).await;
    lab.two_routes(&mut b).await;
    // NOTIFICATION Cease / Administrative Shutdown (RFC 4486).
    b.write_all(&raw::msg(3, &[6, 2])).await.unwrap();
    let p = lab.drop_session(b).await;
    assert_eq!(p.adj_rib_in, 0, "{p:#?}");

    let lab = Lab::start(43, false).await;
    let mut b = lab.connect(&gr_rtc(false, false)).await;
    let p = wait_peer(&lab.engine, lab.b_ip, "negotiated", |_| true).await;
    assert!(!p.negotiated.graceful_restart, "{p:#?}");
    lab.two_routes(&mut b).await;
    let p = lab.drop_session(b).await;
    assert_eq!(p.adj_rib_in, 0, "{p:#?}");
}
