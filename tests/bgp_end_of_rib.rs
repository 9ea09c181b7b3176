//! RFC 4724 §2 End-of-RIB for RT membership (RFC 4684 §6): golden bytes of
//! the marker we send, and what the receiver takes for one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use ncagent::bgp::codec::{self, UpdateContext};
use rustbgpd_wire::Message;

fn update(frame: &[u8]) -> rustbgpd_wire::UpdateMessage {
    match codec::decode(Bytes::copy_from_slice(frame)).unwrap() {
        Message::Update(u) => u,
        other => panic!("not an UPDATE: {other:?}"),
    }
}

/// marker, length 29, type 2, no withdrawn routes, 6 octets of attributes:
/// MP_UNREACH_NLRI (optional, type 15, length 3) AFI 1 SAFI 132.
#[test]
fn end_of_rib_golden_bytes() {
    let mut want = vec![0xff; 16];
    want.extend_from_slice(&[0x00, 0x1d, 0x02, 0x00, 0x00, 0x00, 0x06]);
    want.extend_from_slice(&[0x80, 0x0f, 0x03, 0x00, 0x01, 0x84]);
    assert_eq!(codec::encode_rtc_end_of_rib().as_ref(), want.as_slice());
    assert!(codec::is_rtc_end_of_rib(&update(&want)));
}

#[test]
fn end_of_rib_with_extended_length_flag_is_recognised() {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&[0x00, 0x1e, 0x02, 0x00, 0x00, 0x00, 0x07]);
    m.extend_from_slice(&[0x90, 0x0f, 0x00, 0x03, 0x00, 0x01, 0x84]);
    assert!(codec::is_rtc_end_of_rib(&update(&m)));
}

#[test]
fn other_updates_are_not_end_of_rib() {
    // IPv4 unicast End-of-RIB (empty UPDATE): not ours.
    let mut empty = vec![0xff; 16];
    empty.extend_from_slice(&[0x00, 0x17, 0x02, 0x00, 0x00, 0x00, 0x00]);
    assert!(!codec::is_rtc_end_of_rib(&update(&empty)));
    // MP_UNREACH for another SAFI (1/1).
    let mut other = vec![0xff; 16];
    other.extend_from_slice(&[0x00, 0x1d, 0x02, 0x00, 0x00, 0x00, 0x06]);
    other.extend_from_slice(&[0x80, 0x0f, 0x03, 0x00, 0x01, 0x01]);
    assert!(!codec::is_rtc_end_of_rib(&update(&other)));
    // A real withdrawal of one RTC route.
    let ctx = UpdateContext {
        local_as: 65000,
        internal: false,
        four_octet_as: true,
        next_hop: "127.0.0.1".parse().unwrap(),
    };
    let n = rustbgpd_wire::RtcNlri::new(65000, 0x0002_fde8_0000_0064, 96).unwrap();
    let w = codec::encode_rtc_updates(&ctx, &[], &[n]).unwrap();
    assert!(!codec::is_rtc_end_of_rib(&update(&w[0])));
    // Announcements.
    let a = codec::encode_rtc_updates(&ctx, &[n], &[]).unwrap();
    assert!(!codec::is_rtc_end_of_rib(&update(&a[0])));
}
