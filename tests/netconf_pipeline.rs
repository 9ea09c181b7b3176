//! Replies to pipelined requests are gathered into fewer writes while the
//! session still has requests to answer (docs/decisions.md, "Flow control",
//! the reply batching). Over real SSH: a burst mixing the custom RPC (which
//! waits for the BGP engine), reads and edits is answered completely, in
//! order (RFC 6241 §4.1, §4.2), each reply the same as when its request is
//! sent alone; a lone request is answered while the session is otherwise
//! idle; a reply queue smaller than one batch does not hold replies back;
//! a subscriber's notifications go between whole replies of a burst
//! (RFC 5277 §6).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

const BVT: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";

fn bodies() -> Vec<String> {
    vec![
        format!(
            "<refresh-bgp-vpn-target xmlns=\"{BVT}\"><all/><direction>import</direction></refresh-bgp-vpn-target>"
        ),
        "<get-config><source><running/></source></get-config>".to_owned(),
        "<edit-config><target><running/></target><config/></edit-config>".to_owned(),
        format!(
            "<refresh-bgp-vpn-target xmlns=\"{BVT}\"><all/><direction>export</direction></refresh-bgp-vpn-target>"
        ),
        // An error answer: the batching must not change it either.
        "<frobnicate xmlns=\"urn:example:x\"/>".to_owned(),
        "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><schemas/></netconf-state></filter></get>".to_owned(),
    ]
}

/// A reply with its message-id taken out, to compare answers to the same
/// request sent with different ids.
fn without_id(reply: &str, id: &str) -> String {
    reply.replacen(&format!("message-id=\"{id}\""), "", 1)
}

/// Sends every kind of request alone, then `rounds` bursts of `n` mixing
/// them, and checks each burst reply against the lone answer.
fn mixed_bursts(c: &mut Client, n: usize, rounds: usize) {
    let kinds = bodies();
    let alone: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(k, b)| {
            let r = c.rpc(b);
            let id = (k + 1).to_string();
            assert!(r.contains(&format!("message-id=\"{id}\"")), "{r}");
            without_id(&r, &id)
        })
        .collect();
    // The refresh is answered <ok/> (no peer is selected by <all/> here),
    // so the burst does cross the engine.
    assert!(alone[0].contains("<ok/>"), "{}", alone[0]);
    assert!(alone[4].contains("operation-not-supported"), "{}", alone[4]);
    for _ in 0..rounds {
        let mut answered = 0;
        c.pipeline(
            n,
            |i| kinds[i % kinds.len()].clone(),
            |i, r| {
                assert_eq!(i, answered);
                let id = format!("p{i}");
                assert_eq!(r.matches("message-id=").count(), 1, "{r}");
                assert_eq!(without_id(r, &id), alone[i % kinds.len()], "reply {i}");
                answered += 1;
            },
            Duration::from_secs(120),
        );
        assert_eq!(answered, n);
        // A lone request on the now idle session is answered.
        let r = c.rpc("<get-config><source><running/></source></get-config>");
        assert!(r.contains("<data"), "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_burst_is_answered_in_order_as_when_sent_alone() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        for chunked in [false, true] {
            let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
            c.hello(chunked);
            mixed_bursts(&mut c, 3_000, 2);
            assert!(c.rpc("<close-session/>").contains("<ok/>"));
            assert!(c.closed());
        }
    })
    .await
    .unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_queue_smaller_than_a_batch_keeps_replies_flowing() {
    // 4 KiB of reply room (the least allowed): the processor waits for room after a few
    // replies, so the writer must write what it holds instead of waiting
    // for a full batch (or for its hold bound) every time.
    let agent = TestAgent::start("[limits]\nmax_reply_queue = 4096\n").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
        c.hello(true);
        mixed_bursts(&mut c, 2_000, 1);
        assert!(c.rpc("<close-session/>").contains("<ok/>"));
    })
    .await
    .unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_interleave_with_a_batched_burst() {
    // RFC 5277 §6: notifications go between whole replies. Every refresh
    // publishes a soft-reset event, so a subscriber's burst of refreshes
    // makes replies and notifications share the writer's batches.
    const N: usize = 300;
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        let r = c.rpc(
            "<create-subscription xmlns=\"urn:ietf:params:xml:ns:netconf:notification:1.0\"/>",
        );
        assert!(r.contains("<ok/>"), "{r}");
        // Well inside the SSH windows both ways (about 50 kB of requests,
        // 250 kB of answers), so the blocking writes cannot wait on reads.
        let body = &bodies()[0];
        for i in 0..N {
            c.send_framed(
                format!(
                    "<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"b{i}\">{body}</rpc>"
                )
                .as_bytes(),
            );
        }
        let (mut replies, mut resets) = (0, 0);
        while replies < N || resets < N {
            let m = c.recv().expect("a message");
            if m.contains("<rpc-reply") {
                assert!(!m.contains("<notification"), "{m}");
                assert!(
                    m.contains(&format!("message-id=\"b{replies}\"")),
                    "reply {replies}: {m}"
                );
                assert!(m.contains("<ok/>"), "{m}");
                replies += 1;
            } else {
                assert!(m.starts_with("<notification") || m.contains("<notification "), "{m}");
                assert!(!m.contains("<rpc-reply"), "{m}");
                if m.contains("<soft-reset") {
                    resets += 1;
                }
            }
        }
        assert_eq!((replies, resets), (N, N));
        c.send_framed(
            b"<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"end\"><close-session/></rpc>",
        );
        // Any other event may still come first.
        let end = (0..100)
            .map(|_| c.recv().expect("a message"))
            .find(|m| m.contains("<rpc-reply"))
            .expect("the close-session reply");
        assert!(end.contains("<ok/>"), "{end}");
    })
    .await
    .unwrap();
    agent.stop().await;
}
