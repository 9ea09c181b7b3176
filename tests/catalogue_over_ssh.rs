//! The validation catalogue (`tests/cases/`) replayed through a real SSH
//! session against the running agent, per device model, comparing the whole
//! `<rpc-reply>` after canonicalisation (SPEC §4, §6).
//!
//! The catalogue's `<ok/>` means "valid for the schema". Over SSH a valid
//! request goes on to the BGP engine, configured here with every group the
//! catalogue names (so multi-peer selectors answer `<ok/>`) and with its two
//! single peers configured but passive and never Established (documentation
//! addresses, no traffic leaves loopback): for those the agent's answer is
//! SPEC §6's `peer-not-established`, which proves the request passed
//! validation and reached the engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use ncagent::netconf::message::{Element, parse_document};

#[path = "common/catalogue.rs"]
mod catalogue;

use catalogue::cases_dir;

const GROUP_47: &str = "Leaf group of pod 7 with spaces in the name 047";

fn bgp_section(profile: &str) -> String {
    let (model, mode) = match profile.split_once('/') {
        Some((m, f)) => (m, format!("forwarding_mode = \"{f}\"\n")),
        None => (profile, String::new()),
    };
    format!(
        r#"
[device]
model = "{model}"
{mode}
[bgp]
local_as = 65000
router_id = "10.255.0.1"

[[bgp.groups]]
name = "SPINE"
[[bgp.groups]]
name = "g"
[[bgp.groups]]
name = "{GROUP_47}"

[[bgp.peers]]
address = "192.0.2.1"
remote_as = 65001
passive = true
group = "SPINE"

[[bgp.peers]]
address = "2001:db8::2"
remote_as = 65000
passive = true
"#
    )
}

/// What the agent answers over SSH for a request the schema accepts.
fn engine_answer(request: &str) -> Option<String> {
    let (leaf, addr) = if request.contains("<ipv4-address>192.0.2.1</ipv4-address>") {
        ("ipv4-address", "192.0.2.1")
    } else if request.contains("<ipv6-address>") {
        ("ipv6-address", "2001:db8::2")
    } else {
        return None;
    };
    Some(format!(
        "<rpc-reply xmlns=\"{BASE_NS}\" message-id=\"1\"><rpc-error>\
         <error-type>application</error-type><error-tag>operation-failed</error-tag>\
         <error-severity>error</error-severity><error-app-tag>peer-not-established</error-app-tag>\
         <error-path xmlns:bvt=\"urn:ncagent:yang:ncagent-bgp-vpn-target\">/bvt:refresh-bgp-vpn-target/bvt:{leaf}</error-path>\
         <error-message xml:lang=\"en\">BGP peer {addr} is not in the Established state</error-message>\
         <error-info><bad-element>{leaf}</bad-element></error-info></rpc-error></rpc-reply>"
    ))
}

/// Canonical text of an element: namespaces resolved, namespace declarations
/// dropped, attributes sorted, text trimmed.
fn canonical(e: &Element) -> String {
    let mut attrs: Vec<String> = e
        .attrs
        .iter()
        .filter(|a| !a.is_namespace_declaration())
        .map(|a| {
            format!(
                "{{{}}}{}={}",
                a.ns.as_deref().unwrap_or(""),
                a.name,
                a.value
            )
        })
        .collect();
    attrs.sort();
    let kids: String = e.children.iter().map(canonical).collect();
    format!(
        "<{{{}}}{} {}>{}{}</>",
        e.ns.as_deref().unwrap_or(""),
        e.name,
        attrs.join(" "),
        e.text.trim(),
        kids
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogue_replayed_over_ssh() {
    let index = catalogue::load();
    let mut ran = 0;
    for profile in ["CE8855", "CE6885-LL/low-latency"] {
        let agent = TestAgent::start(&bgp_section(profile)).await;
        let addr = agent.addr;
        let cases: Vec<(String, String, String)> = index
            .case
            .iter()
            .filter(|c| c.profiles.iter().any(|p| p == profile))
            .map(|c| {
                let read = |ext: &str| {
                    std::fs::read_to_string(cases_dir().join(format!("{}.{ext}.xml", c.name)))
                        .unwrap()
                };
                (c.name.clone(), read("request"), read("expected"))
            })
            .collect();
        ran += tokio::task::spawn_blocking(move || {
            let mut c = Client::connect_hello(addr, ADMIN);
            let mut failures = Vec::new();
            for (name, request, expected) in &cases {
                c.send_framed(request.as_bytes());
                let reply = c.recv().unwrap_or_else(|| panic!("{name}: no reply"));
                let ok = expected.contains("<ok/>");
                let expected = match engine_answer(request) {
                    Some(e) if ok => e,
                    _ => expected.clone(),
                };
                let got = parse_document(reply.as_bytes()).unwrap();
                let want = parse_document(expected.as_bytes()).unwrap();
                if canonical(&got) != canonical(&want) {
                    failures.push(format!(
                        "{name} on {profile}:\n got: {reply}\nwant: {expected}"
                    ));
                }
            }
            assert!(failures.is_empty(), "{}", failures.join("\n"));
            cases.len()
        })
        .await
        .unwrap();
        agent.stop().await;
    }
    assert!(ran >= 25, "only {ran} case runs");
}
