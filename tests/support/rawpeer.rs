//! A hand-driven BGP peer over raw TCP (messages built byte by byte from
//! RFC 4271 §4, RFC 4760 and RFC 4684), for the tests that need a peer that
//! misbehaves: stops reading, floods routes, or answers a ROUTE-REFRESH in a
//! chosen way.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// marker, length, type, body (RFC 4271 §4.1).
pub fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

pub fn keepalive() -> Vec<u8> {
    msg(4, &[])
}

/// OPEN with the capabilities MP 1/132, route refresh, enhanced route
/// refresh (if `enhanced`) and 4-octet AS (RFC 5492).
pub fn open(asn: u16, hold: u16, id: [u8; 4], enhanced: bool) -> Vec<u8> {
    open_with(asn, hold, id, enhanced, &[])
}

/// [`open`] with `extra` capability TLVs (code, length, value) appended
/// before the 4-octet AS capability.
pub fn open_with(asn: u16, hold: u16, id: [u8; 4], enhanced: bool, extra: &[u8]) -> Vec<u8> {
    let mut c = vec![1, 4, 0, 1, 0, 132, 2, 0];
    if enhanced {
        c.extend_from_slice(&[70, 0]);
    }
    c.extend_from_slice(extra);
    c.extend_from_slice(&[65, 4]);
    c.extend_from_slice(&u32::from(asn).to_be_bytes());
    let mut params = vec![2, u8::try_from(c.len()).unwrap()];
    params.extend(c);
    let mut b = vec![4];
    b.extend_from_slice(&asn.to_be_bytes());
    b.extend_from_slice(&hold.to_be_bytes());
    b.extend_from_slice(&id);
    b.push(u8::try_from(params.len()).unwrap());
    b.extend(params);
    msg(1, &b)
}

/// A fully specified RTC NLRI (RFC 4684 §4): length 96, origin AS, route
/// target "ASN2:value" (type 0x0002).
pub fn rtc_nlri(origin_as: u32, rt_as: u16, rt_value: u32) -> Vec<u8> {
    let mut n = vec![96];
    n.extend_from_slice(&origin_as.to_be_bytes());
    n.extend_from_slice(&[0x00, 0x02]);
    n.extend_from_slice(&rt_as.to_be_bytes());
    n.extend_from_slice(&rt_value.to_be_bytes());
    n
}

/// UPDATE announcing `nlri` in MP_REACH_NLRI for AFI 1 / SAFI 132, eBGP
/// attributes from `asn` (4-octet AS_PATH), next hop `next_hop`.
pub fn rtc_update(asn: u32, next_hop: [u8; 4], nlri: &[Vec<u8>]) -> Vec<u8> {
    let mut mp = vec![0, 1, 132, 4];
    mp.extend_from_slice(&next_hop);
    mp.push(0);
    for n in nlri {
        mp.extend_from_slice(n);
    }
    let mut attrs = vec![0x40, 1, 1, 0]; // ORIGIN IGP
    attrs.extend_from_slice(&[0x40, 2, 6, 2, 1]); // AS_PATH, one AS_SEQUENCE of 1
    attrs.extend_from_slice(&asn.to_be_bytes());
    // MP_REACH_NLRI, optional + extended length.
    attrs.extend_from_slice(&[0x90, 14]);
    attrs.extend_from_slice(&u16::try_from(mp.len()).unwrap().to_be_bytes());
    attrs.extend(mp);
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    body.extend(attrs);
    msg(2, &body)
}

/// RFC 4724 §2 End-of-RIB for AFI 1 / SAFI 132.
pub fn rtc_end_of_rib() -> Vec<u8> {
    msg(2, &[0, 0, 0, 6, 0x80, 15, 3, 0, 1, 132])
}

/// ROUTE-REFRESH for AFI 1 / SAFI 132 with the RFC 7313 subtype.
pub fn route_refresh(subtype: u8) -> Vec<u8> {
    msg(5, &[0, 1, subtype, 132])
}

/// Whether a received UPDATE body is the RTC End-of-RIB.
pub fn is_rtc_end_of_rib(body: &[u8]) -> bool {
    body == [0, 0, 0, 6, 0x80, 15, 3, 0, 1, 132]
}

pub async fn connect_from(src: IpAddr, to: SocketAddr) -> TcpStream {
    let sock = if src.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .unwrap();
    sock.bind(SocketAddr::new(src, 0)).unwrap();
    sock.connect(to).await.unwrap()
}

/// Reads one message: (type, body); `None` on EOF, error or timeout.
pub async fn read_msg(s: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 19];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut h))
        .await
        .ok()?
        .ok()?;
    let len = usize::from(u16::from_be_bytes([h[16], h[17]]));
    let mut body = vec![0u8; len.checked_sub(19)?];
    tokio::time::timeout(IO_TIMEOUT, s.read_exact(&mut body))
        .await
        .ok()?
        .ok()?;
    Some((h[18], body))
}

/// Sends our OPEN, reads the engine's OPEN and KEEPALIVE, answers KEEPALIVE:
/// both sides are then Established.
pub async fn establish(s: &mut TcpStream, open: &[u8]) {
    s.write_all(open).await.unwrap();
    let (ty, _) = read_msg(s).await.expect("engine's OPEN");
    assert_eq!(ty, 1, "engine's OPEN");
    let (ty, _) = read_msg(s).await.expect("engine's KEEPALIVE");
    assert_eq!(ty, 4, "engine's KEEPALIVE");
    s.write_all(&keepalive()).await.unwrap();
}

/// Reads messages until one of type `ty` for which `pred` holds; returns
/// its body and the types read before it.
pub async fn read_until(
    s: &mut TcpStream,
    ty: u8,
    pred: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, Vec<u8>) {
    let mut before = Vec::new();
    loop {
        let (t, body) = read_msg(s)
            .await
            .unwrap_or_else(|| panic!("no message of type {ty} (read {before:?})"));
        if t == ty && pred(&body) {
            return (body, before);
        }
        before.push(t);
    }
}
