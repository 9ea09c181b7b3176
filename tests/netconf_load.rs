//! Bounded load and fault tests over real SSH (SPEC §10): many sessions x
//! many pipelined RPCs, each answered exactly once with its message-id; and
//! clients that vanish mid-RPC without disturbing anyone else.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

const SESSIONS: usize = 12;
const RPCS: usize = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_sessions_many_rpcs_each_answered_once() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    let state = agent.running.as_ref().unwrap().state.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let threads: Vec<_> = (0..SESSIONS)
            .map(|s| {
                std::thread::spawn(move || {
                    let mut c = Client::connect_hello(addr, ADMIN);
                    let bodies = [
                        "<get-config><source><running/></source></get-config>",
                        "<get><filter><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><statistics/></netconf-state></filter></get>",
                        "<no-such-op xmlns=\"urn:example\"/>",
                        "<refresh-bgp-vpn-target xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><all/><direction>import</direction></refresh-bgp-vpn-target>",
                    ];
                    for i in 0..RPCS {
                        let body = bodies[i % bodies.len()];
                        let msg = format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"s{s}-{i}\">{body}</rpc>");
                        c.send_framed(msg.as_bytes());
                    }
                    for i in 0..RPCS {
                        assert!(Instant::now() < deadline, "load test over its time bound");
                        let r = c.recv().expect("a reply for every rpc");
                        assert_eq!(
                            r.matches("message-id=").count(),
                            1,
                            "one message-id per reply: {r}"
                        );
                        assert!(r.contains(&format!("message-id=\"s{s}-{i}\"")), "session {s} rpc {i}: {r}");
                        match i % 4 {
                            2 => assert!(r.contains("operation-not-supported"), "{r}"),
                            3 => assert!(r.contains("<ok/>"), "{r}"),
                            _ => assert!(r.contains("<data"), "{r}"),
                        }
                    }
                    assert!(c.rpc("<close-session/>").contains("<ok/>"));
                    assert!(c.closed());
                })
            })
            .collect();
        for t in threads {
            t.join().expect("session thread");
        }
    })
    .await
    .unwrap();
    let stats = &state.stats;
    assert_eq!(
        stats.in_rpcs.load(std::sync::atomic::Ordering::Relaxed),
        (SESSIONS * (RPCS + 1)) as u64
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_vanishing_mid_rpc_leave_no_trace() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    let state = agent.running.as_ref().unwrap().state.clone();
    let witness_state = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut witness = Client::connect_hello(addr, ADMIN);
        for i in 0..20 {
            let mut c = Client::connect_hello(addr, ADMIN);
            // Half a message, or a whole one never read: then the client is gone.
            if i % 2 == 0 {
                c.send_raw(b"\n#500\n<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"><get");
            } else {
                c.send_framed(format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"1\"><get/></rpc>").as_bytes());
            }
            drop(c);
            assert!(witness.rpc("<get-config><source><running/></source></get-config>").contains("<data"));
        }
        // Every vanished session is cleaned up; only the witness remains.
        let deadline = Instant::now() + Duration::from_secs(10);
        while witness_state.session_count() > 1 {
            assert!(Instant::now() < deadline, "{} sessions left", witness_state.session_count());
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    // And the witness's own session goes when its client does.
    let deadline = Instant::now() + Duration::from_secs(10);
    while state.session_count() > 0 {
        assert!(Instant::now() < deadline, "witness session not cleaned up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    agent.stop().await;
}
