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
    let _ = schema_ce8855().validate_rpc(data);
}

/// Round-trip oracle for the framing codecs (RFC 6242 §4.2, §4.3): messages
/// encoded, then decoded from reads split anywhere, come back unchanged.
/// Input: a selector byte (framing in bit 0, chunk size limit 1..=127 in the
/// rest), a read-size byte, then messages separated by 0xff. Messages that a
/// framing cannot carry are left out: under end-of-message framing one
/// containing `]]>]]>` or ending in `]]>` (its end would read as the
/// delimiter), under chunked framing an empty one (1*chunk).
pub fn framing_roundtrip(data: &[u8]) {
    use tokio_util::codec::Encoder;
    let [sel, step, payload @ ..] = data else {
        return;
    };
    let chunked = sel & 1 == 1;
    let max_chunk = usize::from(sel >> 1).max(1);
    let limits = FramingLimits {
        max_message: 1 << 16,
        max_chunk,
    };
    let framing = if chunked {
        Framing::Chunked
    } else {
        Framing::EndOfMessage
    };
    let messages: Vec<&[u8]> = payload
        .split(|b| *b == 0xff)
        .filter(|m| {
            if chunked {
                !m.is_empty()
            } else {
                !m.windows(6).any(|w| w == b"]]>]]>") && !m.ends_with(b"]]>")
            }
        })
        .take(64)
        .collect();
    let mut encoder = NetconfCodec::new(limits);
    encoder.set_framing(framing);
    let mut wire = BytesMut::new();
    for m in &messages {
        encoder.encode(*m, &mut wire).unwrap();
    }
    let mut decoder = NetconfCodec::new(limits);
    decoder.set_framing(framing);
    let mut buf = BytesMut::new();
    let mut got: Vec<Bytes> = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    let modulus = usize::from(*step) + 1;
    while pos < wire.len() {
        // Read sizes 1..=step+1, taken from the input: boundaries anywhere.
        let n = payload
            .get(i % payload.len().max(1))
            .map_or(1, |b| usize::from(*b) % modulus + 1);
        i += 1;
        let end = (pos + n).min(wire.len());
        buf.extend_from_slice(&wire[pos..end]);
        pos = end;
        while let Some(m) = decoder.decode(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert!(decoder.decode_eof(&mut buf).unwrap().is_none());
    assert_eq!(got.len(), messages.len());
    for (g, m) in got.iter().zip(&messages) {
        assert_eq!(&g[..], *m);
    }
}

/// The plain-request way of the NETCONF session (the lean scan, then the
/// application's `precheck` on the operation element alone) against the
/// whole way: whatever the first accepts, quick-xml reads as the same
/// envelope and the full validation accepts with the same result. Returns
/// whether the first accepted.
pub fn plain_request_accepted(data: &[u8]) -> bool {
    use ncagent::netconf::message::{parse_rpc, plain_rpc};
    let s = schema_ce8855();
    let Some(plain) = plain_rpc(data) else {
        return false;
    };
    let Some(checked) = s.precheck(&data[plain.op.clone()]) else {
        return false;
    };
    let text = String::from_utf8_lossy(data);
    let whole = match parse_rpc(data) {
        Ok(rpc) => rpc,
        Err(e) => panic!(
            "{text}: accepted plain, refused by the XML parser: {:?}",
            e.error
        ),
    };
    assert_eq!(whole.attrs, plain.rpc.attrs, "{text}");
    assert_eq!(whole.message_id, plain.rpc.message_id, "{text}");
    assert_eq!(whole.op.ns, plain.rpc.op.ns, "{text}");
    assert_eq!(whole.op.name, plain.rpc.op.name, "{text}");
    // In the plain shape the operation's only attribute declares its
    // namespace, which `op.ns` carries.
    assert!(whole.op.attrs.iter().all(|a| a.qname == "xmlns"), "{text}");
    assert_eq!(s.validate_rpc_uncached(data), Ok(checked), "{text}");
    true
}

pub fn plain_request(data: &[u8]) {
    let _ = plain_request_accepted(data);
}

fn schema_ce8855() -> &'static ncagent::schema::Schema {
    static SCHEMA: OnceLock<ncagent::schema::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let p = ncagent::schema::DeviceProfile::lookup("CE8855", None).unwrap();
        ncagent::schema::Schema::load(p).unwrap()
    })
}
