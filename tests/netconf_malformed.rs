//! A catalogue of malformed framing and XML inputs, each with its documented
//! answer (docs/errors.md), sent over a real SSH session. After every case a
//! second, long-lived session must still be served: no panic, no hang.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An rpc-error with this tag; the session stays usable.
    Error(&'static str),
    /// An rpc-error with this tag, then the session is closed (framing lost).
    ErrorThenClose(&'static str),
}

struct Case {
    name: &'static str,
    /// What the case checks.
    rule: &'static str,
    /// Base:1.1 (chunked) session when true, base:1.0 (end-of-message) otherwise.
    chunked: bool,
    /// Sent raw after the hello (already framed when `framed` is false).
    input: Vec<u8>,
    /// Wrap `input` in the session's framing before sending.
    framed: bool,
    expect: Expect,
}

fn rpc(body: &str) -> Vec<u8> {
    format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"101\">{body}</rpc>").into_bytes()
}

fn cases() -> Vec<Case> {
    use Expect::*;
    let raw = |name, rule, input: &[u8], expect| Case {
        name,
        rule,
        chunked: true,
        input: input.to_vec(),
        framed: false,
        expect,
    };
    let xml = |name, rule, input: Vec<u8>, expect| Case {
        name,
        rule,
        chunked: true,
        input,
        framed: true,
        expect,
    };
    let mut deep =
        String::from("<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\">");
    deep.push_str(&"<a>".repeat(100_000));
    let mut big = Vec::new();
    for _ in 0..40 {
        big.extend_from_slice(b"\n#32768\n");
        big.extend_from_slice(&[b' '; 32768]);
    }
    vec![
        raw("chunk-size-zero", "RFC 6242 §4.2 chunk-size 1..", b"\n#0\n", ErrorThenClose("malformed-message")),
        raw("chunk-size-leading-zero", "RFC 6242 §4.2 DIGIT1 first", b"\n#012\n<rpc/>", ErrorThenClose("malformed-message")),
        raw("chunk-size-not-a-number", "RFC 6242 §4.2", b"\n#abc\n", ErrorThenClose("malformed-message")),
        raw("chunk-size-over-u32", "RFC 6242 §4.2 max 4294967295", b"\n#4294967296\n", ErrorThenClose("malformed-message")),
        raw("chunk-above-limit", "limits.max_chunk_size", b"\n#2000000\n", ErrorThenClose("too-big")),
        raw("chunk-header-without-lf", "RFC 6242 §4.2 LF HASH", b"#5\n<rpc/>", ErrorThenClose("malformed-message")),
        raw("end-of-chunks-without-chunk", "RFC 6242 §4.2 1*chunk", b"\n##\n", ErrorThenClose("malformed-message")),
        raw("message-above-limit", "limits.max_message_size", &big, ErrorThenClose("too-big")),
        xml("not-xml", "RFC 6241 §4.3 malformed-message", b"hello world".to_vec(), Error("malformed-message")),
        xml("unclosed-element", "XML 1.0 well-formedness", b"<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"><get>".to_vec(), Error("malformed-message")),
        xml("mismatched-end-tag", "XML 1.0 well-formedness", rpc("<get></get-config>"), Error("malformed-message")),
        xml("doctype-entity", "SPEC §3 DOCTYPE refused", b"<!DOCTYPE rpc [<!ENTITY x \"y\">]><rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"><get/></rpc>".to_vec(), Error("malformed-message")),
        xml("external-entity", "SPEC §3 no XXE", b"<!DOCTYPE r [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\">&e;</rpc>".to_vec(), Error("malformed-message")),
        xml("nul-byte", "XML 1.0 §2.2 Char", rpc("<get>\0</get>"), Error("malformed-message")),
        xml("invalid-utf8", "XML 1.0 encoding", { let mut v = rpc("<get/>"); v.insert(60, 0xff); v }, Error("malformed-message")),
        xml("undeclared-prefix", "Namespaces in XML §5", rpc("<x:get/>"), Error("malformed-message")),
        xml("unknown-entity", "XML 1.0 §4.1 WFC", rpc("<get>&nbsp;</get>"), Error("malformed-message")),
        xml("two-roots", "XML 1.0 document", [rpc("<get/>"), rpc("<get/>")].concat(), Error("malformed-message")),
        xml("deep-nesting", "bounded depth", deep.into_bytes(), Error("malformed-message")),
        xml("char-ref-to-nul-in-namespace", "XML 1.0 §4.1 Legal Character", rpc("<refresh-bgp-vpn-target xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><all/><direction xmlns=\"urn:x&#0;y\">import</direction></refresh-bgp-vpn-target>"), Error("malformed-message")),
        xml("char-ref-to-nul-in-value", "XML 1.0 §4.1 Legal Character", rpc("<refresh-bgp-vpn-target xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><group>a&#0;b</group><direction>import</direction></refresh-bgp-vpn-target>"), Error("malformed-message")),
        xml("root-not-rpc", "RFC 6241 §4.1", format!("<foo xmlns=\"{BASE_NS}\"/>").into_bytes(), Error("malformed-message")),
        xml("rpc-wrong-namespace", "RFC 6241 App. A unknown-namespace", b"<rpc xmlns=\"urn:wrong\" message-id=\"1\"><get/></rpc>".to_vec(), Error("unknown-namespace")),
        xml("missing-message-id", "RFC 6241 §4.1", format!("<rpc xmlns=\"{BASE_NS}\"><get/></rpc>").into_bytes(), Error("missing-attribute")),
        xml("no-operation", "RFC 6241 §4.1", rpc(""), Error("missing-element")),
        xml("two-operations", "RFC 6241 §4.1 one operation", rpc("<get/><get/>"), Error("bad-element")),
        xml("unknown-operation", "SPEC §6 operation-not-supported", rpc("<reboot xmlns=\"urn:example\"/>"), Error("operation-not-supported")),
        xml("xpath-filter-malformed", "RFC 6241 §8.9 select is an XPath expression", rpc("<get><filter type=\"xpath\" select=\"/[\"/></get>"), Error("invalid-value")),
        xml("xpath-filter-undeclared-prefix", "RFC 6241 §8.9 prefixes in scope of <filter>", rpc("<get><filter type=\"xpath\" select=\"/x:y\"/></get>"), Error("bad-attribute")),
        xml("xpath-filter-no-select", "RFC 6241 §8.9.1 select attribute", rpc("<get><filter type=\"xpath\"/></get>"), Error("missing-attribute")),
        xml("filter-unknown-type", "RFC 6241 §6.1 type subtree or xpath", rpc("<get><filter type=\"regex\"/></get>"), Error("bad-attribute")),
        Case {
            name: "eom-garbage-then-valid",
            rule: "RFC 6242 §4.3 end-of-message",
            chunked: false,
            input: b"<<<]]>]]>".to_vec(),
            framed: false,
            expect: Error("malformed-message"),
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_inputs_get_their_documented_answer() {
    let agent =
        TestAgent::start("[limits]\nmax_chunk_size = 1048576\nmax_message_size = 1048576\n").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let table = cases();
        assert!(table.len() >= 20);
        let mut witness = Client::connect_hello(addr, ADMIN);
        for case in table {
            let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
            c.hello(case.chunked);
            if case.framed {
                c.send_framed(&case.input);
            } else {
                c.send_raw(&case.input);
            }
            let reply = c
                .recv()
                .unwrap_or_else(|| panic!("{}: no reply", case.name));
            let (tag, close) = match case.expect {
                Expect::Error(t) => (t, false),
                Expect::ErrorThenClose(t) => (t, true),
            };
            assert_eq!(
                text_of(&reply, "error-tag"),
                Some(tag),
                "{} ({}): {reply}",
                case.name,
                case.rule
            );
            if close {
                assert!(
                    c.closed(),
                    "{}: session must close once framing is lost",
                    case.name
                );
            } else {
                let r = c.rpc("<get-config><source><running/></source></get-config>");
                assert!(
                    r.contains("<data"),
                    "{}: session still usable: {r}",
                    case.name
                );
            }
            let r = witness.rpc("<get-config><source><running/></source></get-config>");
            assert!(
                r.contains("<data"),
                "after {}: other sessions still served",
                case.name
            );
        }
    })
    .await
    .unwrap();
    agent.stop().await;
}
