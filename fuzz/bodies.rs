//! The bodies of the fuzz targets, shared by `cargo fuzz` (fuzz_targets/)
//! and the deterministic smoke run in the test suite (tests/fuzz_smoke.rs).
//! Each takes arbitrary bytes and must never panic, hang or grow without bound.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use ncagent::netconf::framing::{Framing, FramingLimits, NetconfCodec};
use tokio_util::codec::Decoder;

/// RFC 6242 framing decoder: the first byte picks the framing, the rest is
/// fed in pieces whose sizes come from the input too.
pub fn framing(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mut codec = NetconfCodec::new(FramingLimits {
        max_message: 1 << 16,
        max_chunk: 1 << 12,
    });
    codec.set_framing(match sel % 3 {
        0 => Framing::Hello,
        1 => Framing::EndOfMessage,
        _ => Framing::Chunked,
    });
    let step = usize::from(sel / 3).max(1);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(m)) => assert!(m.len() <= 1 << 16),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = codec.decode_eof(&mut buf);
}

/// The `<rpc>` and `<hello>` parsers (quick-xml).
pub fn rpc(data: &[u8]) {
    let _ = ncagent::netconf::message::parse_rpc(data);
    let _ = ncagent::netconf::message::parse_hello(data);
}

/// BGP message decoding as a session does it: header check, whole-message
/// decode, then the RTC part of an UPDATE.
pub fn bgp(data: &[u8]) {
    use ncagent::bgp::Negotiated;
    use ncagent::bgp::codec::{UpdateContext, decode_with, frame_length, parse_rtc_update};
    // The second bit picks a session with enhanced route refresh (RFC 7313 §5
    // length rule) or without (RFC 2918 only).
    let negotiated = Negotiated {
        enhanced_route_refresh: data.first().is_some_and(|b| b & 2 == 2),
        ..Negotiated::default()
    };
    let ctx = UpdateContext {
        local_as: 65000,
        internal: data.first().is_some_and(|b| b & 1 == 1),
        four_octet_as: true,
        next_hop: "127.0.0.1".parse().unwrap(),
    };
    let mut rest = data;
    while let Ok(Some(len)) = frame_length(rest) {
        if rest.len() < len {
            return;
        }
        let frame = Bytes::copy_from_slice(&rest[..len]);
        rest = &rest[len..];
        if let Ok(rustbgpd_wire::Message::Update(u)) = decode_with(frame, &negotiated) {
            let _ = parse_rtc_update(&ctx, &u);
        }
    }
}

/// Schema validation of an `<rpc>` (libyang through the bindings).
pub fn schema(data: &[u8]) {
    static SCHEMA: OnceLock<ncagent::schema::Schema> = OnceLock::new();
    let s = SCHEMA.get_or_init(|| {
        let p = ncagent::schema::DeviceProfile::lookup("CE8855", None).unwrap();
        ncagent::schema::Schema::load(p).unwrap()
    });
    let _ = s.validate_rpc(data);
}
