//! Datastore edits seen from a BGP peer on the wire (issue #10): a neighbor
//! added with edit-config gets a session; a route target added in
//! candidate and committed is announced without a reset; deleting the
//! neighbor sends Cease 6/3 (RFC 4486 §4); an unconfirmed confirmed commit
//! that added a neighbor closes its session again.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use common::*;
use ncagent::bgp::{BgpHandle, SessionState};

#[path = "support/rawpeer.rs"]
mod raw;

const NS: &str = "urn:ncagent:yang:ncagent-bgp";
const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

fn bgp(body: &str) -> String {
    format!(r#"<bgp xmlns="{NS}" xmlns:nc="{NC}">{body}</bgp>"#)
}

fn edit(c: &mut Client, target: &str, config: &str) -> String {
    c.rpc(&format!(
        "<edit-config><target><{target}/></target><config>{config}</config></edit-config>"
    ))
}

fn v4(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 62, host))
}

/// A passive neighbor 127.0.62.`host` with the RTC family.
fn neighbor(host: u8) -> String {
    format!(
        "<neighbors><neighbor><address>{}</address><remote-as>65001</remote-as>\
         <transport><passive-mode>true</passive-mode></transport>\
         <afi-safis><afi-safi><name>rtc</name></afi-safi></afi-safis></neighbor></neighbors>",
        v4(host)
    )
}

async fn rpc(addr: SocketAddr, body: String) -> String {
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect_hello(addr, OPERATOR);
        let r = c.rpc(&body);
        let _ = c.rpc("<close-session/>");
        r
    })
    .await
    .unwrap()
}

async fn state_of(h: &BgpHandle, peer: IpAddr) -> Option<SessionState> {
    h.snapshot().await.unwrap().peer(peer).map(|p| p.state)
}

/// Connects from `host` to the engine and establishes a session.
async fn connect_peer(listen: SocketAddr, host: u8) -> tokio::net::TcpStream {
    let mut s = raw::connect_from(v4(host), listen).await;
    raw::establish(&mut s, &raw::open(65001, 90, [10, 0, 0, host], false)).await;
    s
}

/// The NOTIFICATION (code, subcode) the peer reads next, skipping others.
async fn notification(s: &mut tokio::net::TcpStream) -> (u8, u8) {
    let (body, _) = raw::read_until(s, 3, |_| true).await;
    (body[0], body[1])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbors_follow_the_datastore_on_the_wire() {
    let mut agent = TestAgent::start("").await;
    let running = agent.running.take().unwrap();
    let addr = agent.addr;
    let h = running.bgp.clone();
    // The speaker is configured over NETCONF alone: global settings with a
    // listener, and one neighbor.
    let first = bgp(&format!(
        "<global><as>65000</as><router-id>10.0.0.1</router-id>\
         <route-target>65000:100</route-target>\
         <listen><address>127.0.62.1</address><port>0</port></listen></global>{}",
        neighbor(2)
    ));
    let r = rpc(
        addr,
        format!("<edit-config><target><running/></target><config>{first}</config></edit-config>"),
    )
    .await;
    assert!(r.contains("<ok/>"), "{r}");
    let listen = h.listen_addr().expect("listening");
    let mut peer = connect_peer(listen, 2).await;
    for _ in 0..200 {
        if state_of(&h, v4(2)).await == Some(SessionState::Established) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(state_of(&h, v4(2)).await, Some(SessionState::Established));

    // A route target added through candidate + commit is announced to the
    // peer as an UPDATE, the session staying up (no NOTIFICATION first).
    let body = bgp("<global><route-target>65000:200</route-target></global>");
    let r = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect_hello(addr, OPERATOR);
        let r = edit(&mut c, "candidate", &body);
        assert!(r.contains("<ok/>"), "{r}");
        c.rpc("<commit/>")
    })
    .await
    .unwrap();
    assert!(r.contains("<ok/>"), "{r}");
    let (_, before) = raw::read_until(&mut peer, 2, |b| {
        b.windows(8)
            .any(|w| w == [0x00, 0x02, 0xfd, 0xe8, 0x00, 0x00, 0x00, 0xc8])
    })
    .await;
    assert!(!before.contains(&3), "no NOTIFICATION before the UPDATE");
    assert_eq!(state_of(&h, v4(2)).await, Some(SessionState::Established));

    // Deleting the neighbor: Cease, Peer De-configured (RFC 4486 §4).
    let del = bgp(&format!(
        r#"<neighbors><neighbor nc:operation="delete"><address>{}</address></neighbor></neighbors>"#,
        v4(2)
    ));
    let r = rpc(
        addr,
        format!("<edit-config><target><running/></target><config>{del}</config></edit-config>"),
    )
    .await;
    assert!(r.contains("<ok/>"), "{r}");
    assert_eq!(notification(&mut peer).await, (6, 3));
    assert_eq!(state_of(&h, v4(2)).await, None);

    // A confirmed commit that adds a neighbor, not confirmed: the neighbor
    // is removed again when the timeout fires, with Cease 6/3.
    let add = bgp(&neighbor(3));
    let r = tokio::task::spawn_blocking(move || {
        let mut c = Client::connect_hello(addr, OPERATOR);
        let r = edit(&mut c, "candidate", &add);
        assert!(r.contains("<ok/>"), "{r}");
        c.rpc(
            "<commit><confirmed/><confirm-timeout>2</confirm-timeout><persist>p</persist></commit>",
        )
    })
    .await
    .unwrap();
    assert!(r.contains("<ok/>"), "{r}");
    let mut peer3 = connect_peer(listen, 3).await;
    let started = std::time::Instant::now();
    assert_eq!(notification(&mut peer3).await, (6, 3));
    // RFC 6241 §8.4: rolled back within confirm-timeout + 1 s.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(state_of(&h, v4(3)).await, None);
    running.stop().await;
}
