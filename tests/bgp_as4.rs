//! RFC 6793 between our engine with a 4-octet local AS and a raw-TCP peer
//! that speaks only 2-octet AS numbers (no capability 65): what the engine
//! sends (AS_TRANS in AS_PATH, the real path in AS4_PATH, §4.2.2) and how it
//! reads the peer's UPDATEs (path rebuilt from AS_PATH + AS4_PATH, §4.2.3,
//! before the AS-loop check).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ncagent::bgp::{BgpConfig, BgpHandle, Engine, PeerConfig, PeerSnapshot, SessionState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

const ENGINE_AS: u32 = 4_200_000_000;
const PEER_AS: u16 = 65001;
const PEER: &str = "127.0.0.31";
const IO_TIMEOUT: Duration = Duration::from_secs(8);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// marker, length, type, body (RFC 4271 §4.1).
fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

/// OPEN of a 2-octet-only speaker: capabilities MP 1/132 and route refresh,
/// no 4-octet AS (RFC 6793 §3 "OLD" speaker); hold time 0.
fn old_speaker_open() -> Vec<u8> {
    let caps = [1, 4, 0, 1, 0, 132, 2, 0];
    let mut b = vec![4];
    b.extend_from_slice(&PEER_AS.to_be_bytes());
    b.extend_from_slice(&[0, 0, 2, 2, 2, 2]);
    b.push(2 + u8::try_from(caps.len()).unwrap());
    b.extend_from_slice(&[2, u8::try_from(caps.len()).unwrap()]);
    b.extend_from_slice(&caps);
    msg(1, &b)
}

/// UPDATE with ORIGIN, a 2-octet AS_PATH [65001, 23456], optionally
/// AS4_PATH [as4], and MP_REACH_NLRI holding one RTC route (RFC 4684 §4):
/// origin AS 65001, route target 65001:`rt_value`.
fn old_speaker_update(as4: Option<u32>, rt_value: u32) -> Vec<u8> {
    let mut attrs = vec![0x40, 1, 1, 0];
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
    if let Some(a) = as4 {
        attrs.extend_from_slice(&[0xc0, 17, 6, 2, 1]);
        attrs.extend_from_slice(&a.to_be_bytes());
    }
    let mut mp = vec![0, 1, 132, 4, 127, 0, 0, 31, 0, 96];
    mp.extend_from_slice(&u32::from(PEER_AS).to_be_bytes());
    // RFC 4360 §3.1: type 0x00 sub-type 0x02, AS 65001, value.
    mp.extend_from_slice(&[0, 2, 0xfd, 0xe9]);
    mp.extend_from_slice(&rt_value.to_be_bytes());
    attrs.extend_from_slice(&[0x80, 14, u8::try_from(mp.len()).unwrap()]);
    attrs.extend(mp);
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend(attrs);
    msg(2, &body)
}

async fn read_msg(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 19];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut h))
        .await
        .expect("timed out reading")
        .expect("connection closed");
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0u8; len - 19];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut body))
        .await
        .expect("timed out reading")
        .expect("connection closed");
    (h[18], body)
}

async fn wait_peer(h: &BgpHandle, what: &str, pred: impl Fn(&PeerSnapshot) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = h.snapshot().await.unwrap().peer(ip(PEER)).unwrap().clone();
        if pred(&p) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {p:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn four_octet_engine_with_a_two_octet_peer() {
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let mut c = BgpConfig::new(ENGINE_AS, Ipv4Addr::new(1, 1, 1, 1));
    c.listen = Some("127.0.0.1:0".parse().unwrap());
    c.route_targets = vec!["4200000000:5".into()];
    let mut p = PeerConfig::new(ip(PEER), u32::from(PEER_AS));
    p.passive = true;
    c.peers = vec![p];
    let (engine, _) = Engine::start(c, stop.clone()).await.unwrap();
    let port = engine.listen_addr().unwrap().port();

    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(ip(PEER), 0)).unwrap();
    let mut s = sock
        .connect(SocketAddr::new(ip("127.0.0.1"), port))
        .await
        .unwrap();
    s.write_all(&old_speaker_open()).await.unwrap();
    let (ty, open) = read_msg(&mut s).await;
    assert_eq!(ty, 1);
    // RFC 6793 §4.2.1: My AS in the OPEN is AS_TRANS.
    assert_eq!(open[1..3], [0x5b, 0xa0]);
    assert_eq!(read_msg(&mut s).await.0, 4);
    s.write_all(&msg(4, &[])).await.unwrap();
    wait_peer(&engine, "Established without 4-octet AS", |p| {
        p.state == SessionState::Established && !p.negotiated.four_octet_as
    })
    .await;

    // RFC 6793 §4.2.2: ORIGIN, AS_PATH [AS_TRANS] (2-octet), AS4_PATH
    // [4200000000], MP_REACH (next hop 127.0.0.1, route 4200000000:5 from
    // origin AS 4200000000: type 0x02, 4-octet AS + 16-bit value).
    let (ty, update) = read_msg(&mut s).await;
    assert_eq!(ty, 2);
    let want: Vec<u8> = [
        &[0, 0, 0, 0x2d][..],
        &[0x40, 1, 1, 0],
        &[0x40, 2, 4, 2, 1, 0x5b, 0xa0],
        &[0xc0, 17, 6, 2, 1, 0xfa, 0x56, 0xea, 0x00],
        &[0x80, 14, 22, 0, 1, 132, 4, 127, 0, 0, 1, 0, 96],
        &[0xfa, 0x56, 0xea, 0x00],
        &[0x02, 0x02, 0xfa, 0x56, 0xea, 0x00, 0x00, 0x05],
    ]
    .concat();
    assert_eq!(update, want);

    // RFC 6793 §4.2.3: a route whose rebuilt path holds our AS (only in
    // AS4_PATH) is a loop: treated as withdraw, never in the Adj-RIB-In;
    // the same path without our AS is accepted.
    s.write_all(&old_speaker_update(Some(ENGINE_AS), 1))
        .await
        .unwrap();
    s.write_all(&old_speaker_update(Some(4_200_000_001), 2))
        .await
        .unwrap();
    wait_peer(&engine, "the loop-free route", |p| p.updates_received == 2).await;
    let snap = engine.snapshot().await.unwrap();
    let p = snap.peer(ip(PEER)).unwrap();
    let routes = engine.routes(ip(PEER)).await.unwrap().unwrap();
    let rts: Vec<_> = routes
        .adj_rib_in
        .iter()
        .map(|r| r.route_target.clone().unwrap())
        .collect();
    assert_eq!(rts, vec!["65001:2".to_string()]);
    assert_eq!(p.state, SessionState::Established);
}
