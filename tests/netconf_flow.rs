//! Holding under load and attack, over real SSH (SPEC §10, docs/decisions.md
//! "Flow control" and "Unauthenticated connections"): tens of thousands of
//! pipelined RPCs on one session, an unauthenticated-connection flood from one
//! address while an administrator logs in from another, and a client that
//! never reads its replies. Behaviour only: counts and time are bounds, not
//! measurements.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;

const GET_CONFIG: &str = "<get-config><source><running/></source></get-config>";
const PIPELINED: usize = 30_000;

/// Every reply in order, with its own message-id, exactly once.
fn pipeline_in_order(c: &mut Client, n: usize) {
    let mut answered = 0;
    c.pipeline(
        n,
        |_| GET_CONFIG.to_owned(),
        |i, r| {
            assert_eq!(i, answered);
            assert_eq!(r.matches("message-id=").count(), 1, "{r}");
            assert!(
                r.contains(&format!("message-id=\"p{i}\"")),
                "reply {i}: {r}"
            );
            assert!(r.contains("<data"), "reply {i}: {r}");
            answered += 1;
        },
        Duration::from_secs(240),
    );
    assert_eq!(answered, n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_thousand_pipelined_on_one_session_both_framings() {
    // A small input cap makes the SSH window gate open and close many times.
    let agent =
        TestAgent::start("[limits]\nmax_input_backlog = 65536\nmax_reply_queue = 65536\n").await;
    let addr = agent.addr;
    let state = agent.running.as_ref().unwrap().state.clone();
    tokio::task::spawn_blocking(move || {
        for chunked in [false, true] {
            let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
            c.hello(chunked);
            pipeline_in_order(&mut c, PIPELINED);
            // The session is still healthy afterwards.
            assert!(c.rpc("<close-session/>").contains("<ok/>"));
            assert!(c.closed());
        }
    })
    .await
    .unwrap();
    assert_eq!(
        state.stats.in_rpcs.load(Ordering::Relaxed),
        2 * (PIPELINED as u64 + 1)
    );
    agent.stop().await;
}

const FLOODER: &str = "127.0.0.3";
const ADMIN_HOST: &str = "127.0.0.2";
const FLOOD: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_from_another_address_succeeds_during_a_flood() {
    // Default admission limits, but a short login grace time.
    let agent = TestAgent::start("[limits]\nlogin_grace_secs = 3\n").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let flooder: IpAddr = FLOODER.parse().unwrap();
        let admin: IpAddr = ADMIN_HOST.parse().unwrap();
        // A flood of connections that send an SSH banner, then nothing.
        let mut held = Vec::new();
        for _ in 0..FLOOD {
            let Ok(mut s) = connect_from(flooder, addr) else {
                continue;
            };
            let _ = s.write_all(b"SSH-2.0-flood\r\n");
            held.push(s);
        }
        // While they are held, an administrator from another address logs
        // in and is answered.
        let mut c = Client::connect_from(admin, addr, ADMIN);
        for _ in 0..20 {
            assert!(c.rpc(GET_CONFIG).contains("<data"));
        }
        // Of the flood, at most the per-source cap (32 by default) got past
        // accept; the rest were closed at once.
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut open = 0;
        for s in &mut held {
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            let mut b = [0u8; 4096];
            // Read the server banner (if any), then see whether it closes.
            loop {
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        open += 1;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        assert!(open <= 32, "{open} flood connections still open");
        // The login grace time closes the ones that got in.
        for s in &mut held {
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            let mut b = [0u8; 4096];
            loop {
                assert!(
                    Instant::now() < deadline,
                    "a flood connection outlived the grace time"
                );
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        }
        // The administrator's session outlives the grace time: it logged in.
        assert!(c.rpc(GET_CONFIG).contains("<data"));
        // And the flooding address can log in again once its flood is gone.
        drop(held);
        let mut again = Client::connect_from(flooder, addr, ADMIN);
        assert!(again.rpc(GET_CONFIG).contains("<data"));
    })
    .await
    .unwrap();
    agent.stop().await;
}

/// ~9 MB of requests: several times what the server may hold for a session
/// (input cap + SSH window slack + reply queue + the client's window).
const MANY: usize = 100_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_closed_and_others_are_answered() {
    let agent = TestAgent::start(
        "[limits]\nwrite_stall_secs = 2\nmax_input_backlog = 65536\nmax_reply_queue = 65536\n",
    )
    .await;
    let addr = agent.addr;
    let state = agent.running.as_ref().unwrap().state.clone();
    let dropped_before = state.stats.dropped_sessions.load(Ordering::Relaxed);
    let watch = state.clone();
    tokio::task::spawn_blocking(move || {
        let mut stuck = Client::connect(addr, ADMIN.0, ADMIN.1);
        stuck.hello(false);
        let stuck_id = watch.sessions_snapshot()[0].id;
        // Writes <get>s (each reply a few kB) and never reads: blocking
        // writes that stop when the server stops taking input, ended by the
        // client's own timeout or by the server closing.
        stuck.session.set_timeout(15_000);
        let writer = std::thread::spawn(move || {
            for i in 0..MANY {
                let msg = format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"{i}\"><get/></rpc>]]>]]>");
                if stuck.channel.write_all(msg.as_bytes()).is_err() {
                    return i;
                }
            }
            MANY
        });
        // Others are answered all along.
        let mut other = Client::connect_hello(addr, OPERATOR);
        let deadline = Instant::now() + Duration::from_secs(60);
        while watch.sessions_snapshot().iter().any(|s| s.id == stuck_id) {
            assert!(
                Instant::now() < deadline,
                "the non-reading session was not closed"
            );
            assert!(other.rpc(GET_CONFIG).contains("<data"));
        }
        assert!(other.rpc(GET_CONFIG).contains("<data"));
        let written = writer.join().unwrap();
        assert!(
            written < MANY,
            "the server kept taking input from a client that does not read"
        );
    })
    .await
    .unwrap();
    assert!(state.stats.dropped_sessions.load(Ordering::Relaxed) > dropped_before);
    agent.stop().await;
}
