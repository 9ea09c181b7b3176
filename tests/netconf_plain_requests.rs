//! Requests of the application's modules in the plain shape are read once,
//! by the lean scan and libyang (`Application::precheck`), instead of by
//! the XML parser, the scan and libyang; anything else takes the whole way.
//! Over real SSH: the same operation sent in the plain shape and in a shape
//! that takes the whole way (a comment in the envelope) gets the same reply,
//! byte for byte, whether it is accepted, refused by the schema or denied
//! by access control; both count as correct `<rpc>`s (RFC 6022 in-rpcs).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const BVT: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";
const MONITORING: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";

/// Operations, each with a piece of the reply it must get.
fn operations() -> Vec<(String, &'static str)> {
    [
        ("<all/><direction>import</direction>", "<ok/>"),
        // Valid, refused by the BGP engine: no such group or peer here.
        (
            "<group>pod &amp; rack &lt;7&gt;</group><direction>export</direction>",
            "<error-app-tag>group-not-found</error-app-tag>",
        ),
        (
            "<ipv6-address>2001:db8::1</ipv6-address><direction>import</direction>",
            "<error-path",
        ),
        // Refused by the schema: a bad value, an unknown parameter, a
        // missing one.
        (
            "<all/><direction>sideways</direction>",
            "<error-tag>invalid-value</error-tag>",
        ),
        (
            "<all/><direction>import</direction><colour>red</colour>",
            "<error-tag>unknown-element</error-tag>",
        ),
        ("<all/>", "<error-tag>missing-element</error-tag>"),
    ]
    .into_iter()
    .map(|(body, expect)| {
        (
            format!("<refresh-bgp-vpn-target xmlns=\"{BVT}\">{body}</refresh-bgp-vpn-target>"),
            expect,
        )
    })
    .collect()
}

/// Sends `op` in both shapes with message-id `id` and returns both replies.
fn both_ways(c: &mut Client, op: &str, id: &str) -> (String, String) {
    let plain = format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"{id}\">{op}</rpc>");
    let whole =
        format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"{id}\"><!-- whole way -->{op}</rpc>");
    c.send_framed(plain.as_bytes());
    let a = c.recv().expect("reply to the plain request");
    c.send_framed(whole.as_bytes());
    let b = c.recv().expect("reply to the other shape");
    (a, b)
}

fn in_rpcs(c: &mut Client) -> u64 {
    let r = c.rpc(&format!(
        "<get><filter type=\"subtree\"><netconf-state xmlns=\"{MONITORING}\"><statistics><in-rpcs/></statistics></netconf-state></filter></get>"
    ));
    text_of(&r, "in-rpcs")
        .expect("in-rpcs")
        .parse()
        .expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_requests_are_answered_as_the_whole_way_answers_them() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        let before = in_rpcs(&mut c);
        let ops = operations();
        for (i, (op, expect)) in ops.iter().enumerate() {
            let (plain, whole) = both_ways(&mut c, op, &format!("m{i}"));
            assert_eq!(plain, whole, "{op}");
            assert!(plain.contains(&format!("message-id=\"m{i}\"")), "{plain}");
            assert!(plain.contains(expect), "{op}: {plain}");
        }
        // Every request of both shapes, and the first statistics read.
        assert_eq!(in_rpcs(&mut c), before + 2 * ops.len() as u64 + 1);

        // Access control decides first, on either way (RFC 8341 §3.4.4):
        // the same denial for a valid and an invalid request.
        let mut m = Client::connect_hello(addr, MONITOR);
        for (i, (op, _)) in [&ops[0], &ops[3]].into_iter().enumerate() {
            let (plain, whole) = both_ways(&mut m, op, &format!("d{i}"));
            assert_eq!(plain, whole, "{op}");
            assert!(
                plain.contains("<error-tag>access-denied</error-tag>"),
                "{plain}"
            );
        }
    })
    .await
    .unwrap();
    agent.stop().await;
}
