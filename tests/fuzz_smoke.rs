//! A bounded, deterministic run of the fuzz target bodies (fuzz/bodies.rs)
//! in the ordinary test suite: seeds from the protocols plus seeded random
//! mutations. The coverage-guided runs are `scripts/fuzz` (cargo fuzz).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/bodies.rs"]
mod bodies;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"]]>]]>",
    b"\n##\n",
    b"\n#",
    b"\n#0\n",
    b"\n#4294967296\n",
    b"<",
    b">",
    b"&",
    b"&#0;",
    b"\0",
    b"<!DOCTYPE",
    b"xmlns=\"\"",
    b"<rpc",
    b"</rpc>",
    b"\xff\xff\xff\xff",
    b"&amp;",
    b"&lt;",
    b"]]>",
    b" a=\"1\"",
    b" xmlns:p=\"urn:p\"",
    b"p:",
    b"</",
    b"/>",
    b"\t",
    b"\xc3\xa9",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 => {
                let i = rng.below(v.len() + 1);
                let ins = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(i..i, ins.iter().copied());
            }
            2 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            3 if !v.is_empty() => {
                let a = rng.below(v.len());
                let b = (a + rng.below(64)).min(v.len());
                let piece = v[a..b].to_vec();
                let i = rng.below(v.len() + 1);
                v.splice(i..i, piece);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

/// Runs the body on every seed and on `iterations` mutations; returns how
/// many inputs differed from their seed (the mutator must really mutate).
fn run(seeds: &[Vec<u8>], iterations: usize, body: fn(&[u8]), salt: u64) -> usize {
    for s in seeds {
        body(s);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ salt);
    let mut changed = 0;
    for _ in 0..iterations {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, seed);
        changed += usize::from(&input != seed);
        body(&input);
    }
    assert!(
        changed * 10 >= iterations * 9,
        "only {changed} of {iterations} inputs mutated"
    );
    changed
}

const RPC: &str = "<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"><refresh-bgp-vpn-target xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><group>SPINE</group><direction>import</direction></refresh-bgp-vpn-target></rpc>";

fn xml_seeds() -> Vec<Vec<u8>> {
    vec![
        RPC.as_bytes().to_vec(),
        b"<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"7\"><get><filter type=\"subtree\"><a xmlns=\"urn:x\"><b>1</b></a></filter></get></rpc>".to_vec(),
        b"<hello xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><capabilities><capability>urn:ietf:params:netconf:base:1.1</capability></capabilities></hello>".to_vec(),
        b"<nc:rpc xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"a&amp;b\"><nc:lock><nc:target><nc:running/></nc:target></nc:lock></nc:rpc>".to_vec(),
    ]
}

#[test]
fn framing_decoder() {
    let mut seeds = Vec::new();
    for sel in [0u8, 1, 2, 5, 200] {
        let mut chunked = vec![sel];
        chunked.extend_from_slice(format!("\n#{}\n{RPC}\n##\n", RPC.len()).as_bytes());
        seeds.push(chunked);
        let mut eom = vec![sel];
        eom.extend_from_slice(format!("{RPC}]]>]]>{RPC}]]>]]>").as_bytes());
        seeds.push(eom);
    }
    // The seeds are real messages: the decoder must find them.
    let mut codec = ncagent::netconf::framing::NetconfCodec::new(Default::default());
    codec.set_framing(ncagent::netconf::framing::Framing::Chunked);
    let mut buf = bytes::BytesMut::from(&seeds[0][1..]);
    let msg = tokio_util::codec::Decoder::decode(&mut codec, &mut buf)
        .unwrap()
        .unwrap();
    assert_eq!(&msg[..], RPC.as_bytes());
    assert!(run(&seeds, 20_000, bodies::framing, 1) > 0);
}

#[test]
fn rpc_parser() {
    for seed in xml_seeds()
        .iter()
        .filter(|s| s.starts_with(b"<rpc") || s.starts_with(b"<nc:rpc"))
    {
        assert!(ncagent::netconf::message::parse_rpc(seed).is_ok());
    }
    assert!(run(&xml_seeds(), 20_000, bodies::rpc, 2) > 0);
}

#[test]
fn bgp_decoder() {
    use ncagent::bgp::codec;
    let mut seeds = vec![codec::encode_keepalive().to_vec()];
    for sub in [
        rustbgpd_wire::RouteRefreshSubtype::Normal,
        rustbgpd_wire::RouteRefreshSubtype::BoRR,
        rustbgpd_wire::RouteRefreshSubtype::EoRR,
    ] {
        seeds.push(codec::encode_route_refresh(sub).unwrap().to_vec());
    }
    // An UPDATE announcing an RTC route: MP_REACH_NLRI for AFI 1 / SAFI 132
    // (RFC 4760 §3, RFC 4684 §4), byte for byte.
    let mut update = vec![0xff; 16];
    let attrs: Vec<u8> = [
        &[0x40, 1, 1, 0][..],                      // ORIGIN IGP
        &[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9][..], // AS_PATH 65001
        &[
            0x80, 14, 22, 0, 1, 132, 4, 127, 0, 0, 2, 0, 96, 0, 0, 0xfd, 0xe9, 0, 2, 0xfd, 0xe9, 0,
            0, 0, 1,
        ][..],
    ]
    .concat();
    let len = 19 + 2 + 2 + attrs.len();
    update.extend_from_slice(&(len as u16).to_be_bytes());
    update.push(2);
    update.extend_from_slice(&[0, 0]);
    update.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    update.extend_from_slice(&attrs);
    seeds.push(update);
    // Every seed is a valid message for the decoder.
    for seed in &seeds {
        let len = codec::frame_length(seed).unwrap().unwrap();
        assert_eq!(len, seed.len());
        assert!(codec::decode(bytes::Bytes::copy_from_slice(seed)).is_ok());
    }
    assert!(run(&seeds, 20_000, bodies::bgp, 3) > 0);
}

#[test]
fn schema_validation() {
    let p = ncagent::schema::DeviceProfile::lookup("CE8855", None).unwrap();
    let schema = ncagent::schema::Schema::load(p).unwrap();
    assert!(
        schema.validate_rpc(RPC.as_bytes()).is_ok(),
        "the seed RPC is valid"
    );
    assert!(run(&xml_seeds(), 3_000, bodies::schema, 4) > 0);
}

/// The session's plain-request way: every mutant it accepts is read the
/// same by quick-xml and accepted with the same result by the full
/// validation (the body asserts it); enough mutants are accepted for
/// that to say something.
#[test]
fn plain_requests() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static ACCEPTED: AtomicUsize = AtomicUsize::new(0);
    fn body(data: &[u8]) {
        if bodies::plain_request_accepted(data) {
            ACCEPTED.fetch_add(1, Ordering::Relaxed);
        }
    }
    let vpn = "urn:ncagent:yang:ncagent-bgp-vpn-target";
    let base = "urn:ietf:params:xml:ns:netconf:base:1.0";
    let mut seeds = vec![RPC.as_bytes().to_vec()];
    for (attrs, body) in [
        (r#"message-id="101""#, "<all/><direction>import</direction>"),
        (
            r#"message-id='a.b_c-1' x="y>z""#,
            "<ipv4-address>192.0.2.1</ipv4-address><direction>export</direction>",
        ),
        (
            r#"message-id="7""#,
            "<group>pod &amp; rack &lt;7&gt;</group><direction>import</direction>",
        ),
    ] {
        seeds.push(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rpc xmlns=\"{base}\" {attrs}>\n  <refresh-bgp-vpn-target xmlns=\"{vpn}\">{body}</refresh-bgp-vpn-target>\n</rpc>"
            )
            .into_bytes(),
        );
    }
    for seed in &seeds {
        assert!(
            bodies::plain_request_accepted(seed),
            "{}",
            String::from_utf8_lossy(seed)
        );
    }
    assert!(run(&seeds, 5_000, body, 6) > 0);
    // One small change each, from the characters XML gives meaning to: most
    // mutants stay close to a valid request, which is where the two ways
    // could part.
    const TOKENS: &[&[u8]] = &[
        b" ",
        b"\t",
        b"\n",
        b"\r",
        b"<",
        b">",
        b"/",
        b"=",
        b"\"",
        b"'",
        b"&",
        b";",
        b":",
        b"!",
        b"?",
        b"#",
        b"]",
        b"-",
        b".",
        b"_",
        b"x",
        b"1",
        b"&amp;",
        b"&#65;",
        b"&bogus;",
        b"]]>",
        b"<a/>",
        b"</a>",
        b"<a>",
        b" a=\"1\"",
        b" xmlns=\"urn:x\"",
        b" xmlns:p=\"urn:p\"",
        b"p:",
        b"\x01",
        b"\x7f",
        b"\xc3\xa9",
        b"\xef\xbf\xbe",
        b"\xff",
        b"<!-- -->",
        b"<![CDATA[x]]>",
        b"<?pi?>",
    ];
    let mut rng = Rng(0x005e_ed0f_91a1);
    for _ in 0..80_000 {
        let mut v = seeds[rng.below(seeds.len())].clone();
        let i = rng.below(v.len() + 1);
        match rng.below(4) {
            0 if i < v.len() => {
                v.remove(i);
            }
            1 if i < v.len() => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i + 1, t.iter().copied());
            }
            2 => {
                let end = (i + 1 + rng.below(24)).min(v.len());
                let piece = v[i.min(end)..end].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, piece);
            }
            _ => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(i..i, t.iter().copied());
            }
        }
        body(&v);
    }
    let accepted = ACCEPTED.load(Ordering::Relaxed);
    assert!(accepted >= 2_000, "only {accepted} mutants accepted plain");
}

#[test]
fn framing_round_trip() {
    // Selector bit 0: chunked; the rest: the chunk-size limit. Then the
    // read-size byte, then messages separated by 0xff.
    let mut seeds = Vec::new();
    for (sel, step) in [
        (1u8, 0u8),
        (3, 2),
        (2 * 16 + 1, 7),
        (255, 255),
        (0, 0),
        (4, 3),
        (254, 100),
    ] {
        let mut s = vec![sel, step];
        s.extend_from_slice(RPC.as_bytes());
        s.push(0xff);
        s.extend_from_slice(b"<ok/>");
        s.push(0xff);
        s.extend_from_slice(b"a]]>]]b\n#1\n##\n]]>]]");
        s.push(0xff);
        s.push(0xff);
        s.extend_from_slice(b"x]]>");
        seeds.push(s);
    }
    // Boundaries at every byte (read size 1) and one-byte chunks, both
    // framings: everything that may be carried comes back.
    for s in &seeds {
        bodies::framing_roundtrip(s);
    }
    assert!(run(&seeds, 20_000, bodies::framing_roundtrip, 5) > 0);
}
