//! Conformance regressions of issue #9, each citing the rule it checks. The
//! session loop runs over an in-memory duplex stream (same code path as
//! over SSH) with a fake application; the cases that need the real schema
//! and BGP engine go through a real SSH session (tests/common).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use ncagent::auth::Level;
use ncagent::netconf::error::RpcError;
use ncagent::netconf::framing::{Framing, FramingLimits, NetconfCodec};
use ncagent::netconf::message::{Element, ReplyBody, Rpc, parse_document};
use ncagent::netconf::session::EndReason;
use ncagent::netconf::state::SessionLimits;
use ncagent::netconf::{Application, BoxFuture, RpcContext, ServerState, SessionUser, run_session};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
const NCM: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";

/// A fake application: one RPC `<ping xmlns="urn:test"/>` answered `<ok/>`.
struct Fake;

impl Application for Fake {
    fn capabilities(&self) -> Vec<String> {
        vec!["urn:test?module=test&revision=2026-01-01".into()]
    }
    fn serves(&self, ns: &str, name: &str) -> bool {
        ns == "urn:test" && name == "ping"
    }
    fn rpc<'a>(
        &'a self,
        _: &'a RpcContext,
        _: &'a [u8],
        _: &'a Rpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>> {
        Box::pin(async { Ok(ReplyBody::Ok) })
    }
    fn state(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }
    fn get_schema(&self, _: &str, _: Option<&str>, _: Option<&str>) -> Result<String, RpcError> {
        Ok("module test {}".into())
    }
    fn monitoring_schemas(&self) -> Option<String> {
        None
    }
}

fn server() -> Arc<ServerState> {
    ServerState::new(
        Arc::new(Fake),
        SessionLimits {
            framing: FramingLimits::default(),
            max_sessions: 16,
            hello_timeout: Duration::from_secs(2),
            idle_timeout: Some(Duration::from_secs(10)),
        },
        CancellationToken::new(),
    )
}

struct Peer {
    io: Framed<tokio::io::DuplexStream, NetconfCodec>,
    task: tokio::task::JoinHandle<EndReason>,
    session_id: u32,
    next_id: u64,
}

/// Opens a session as a level-3 user and exchanges hellos (base:1.1 when
/// `chunked`).
async fn open(st: &Arc<ServerState>, chunked: bool) -> Peer {
    let (client, server) = tokio::io::duplex(1 << 20);
    let guard = st.add_session("tester", None).unwrap();
    let session_id = guard.id;
    let user = SessionUser {
        name: "tester".into(),
        level: Level::Management,
    };
    let task = tokio::spawn(run_session(server, st.clone(), guard, user));
    let mut codec = NetconfCodec::new(FramingLimits::default());
    codec.set_framing(Framing::EndOfMessage);
    let mut io = Framed::new(client, codec);
    let _server_hello = io.next().await.unwrap().unwrap();
    let cap = if chunked {
        "urn:ietf:params:netconf:base:1.1"
    } else {
        "urn:ietf:params:netconf:base:1.0"
    };
    let hello = format!(
        "<hello xmlns=\"{NC}\"><capabilities><capability>{cap}</capability></capabilities></hello>"
    );
    io.send(hello.as_bytes()).await.unwrap();
    if chunked {
        io.codec_mut().set_framing(Framing::Chunked);
    }
    Peer {
        io,
        task,
        session_id,
        next_id: 0,
    }
}

impl Peer {
    async fn send(&mut self, msg: &str) {
        self.io.send(msg.as_bytes()).await.unwrap();
    }

    async fn recv(&mut self) -> String {
        let m = tokio::time::timeout(Duration::from_secs(5), self.io.next())
            .await
            .expect("a reply within 5 s")
            .expect("the session is open")
            .expect("well-framed");
        String::from_utf8(m.to_vec()).unwrap()
    }

    /// Sends `<rpc message-id=N>BODY</rpc>`; returns the reply.
    async fn rpc(&mut self, body: &str) -> String {
        self.next_id += 1;
        let msg = format!(
            "<rpc xmlns=\"{NC}\" message-id=\"{}\">{body}</rpc>",
            self.next_id
        );
        self.send(&msg).await;
        self.recv().await
    }
}

/// The first `<rpc-error>` of a reply as (error-type, error-tag, bad-element).
fn error_of(reply: &str) -> (String, String, Option<String>) {
    let root = parse_document(reply.as_bytes()).unwrap_or_else(|e| panic!("{e}: {reply}"));
    let err = root
        .child(NC, "rpc-error")
        .unwrap_or_else(|| panic!("no rpc-error: {reply}"));
    let text = |e: &Element, n: &str| e.child(NC, n).map(|c| c.text.trim().to_owned());
    let bad = err
        .child(NC, "error-info")
        .and_then(|i| text(i, "bad-element"));
    (
        text(err, "error-type").unwrap_or_default(),
        text(err, "error-tag").unwrap_or_default(),
        bad,
    )
}

fn pair(reply: &str) -> (String, String) {
    let (t, g, _) = error_of(reply);
    (t, g)
}

fn owned(t: &str, g: &str) -> (String, String) {
    (t.to_owned(), g.to_owned())
}

/// Issue #9 item 9, RFC 6241 Appendix A: the envelope's errors use the
/// error-types the appendix allows for their tag: unknown-namespace,
/// missing-element and bad-element are protocol (never rpc);
/// malformed-message is rpc (never transport), also when framing is lost.
#[tokio::test]
async fn envelope_errors_use_appendix_a_error_types() {
    let st = server();
    let mut p = open(&st, true).await;
    p.send("<rpc xmlns=\"urn:wrong\" message-id=\"1\"><get/></rpc>")
        .await;
    let r = p.recv().await;
    assert_eq!(pair(&r), owned("protocol", "unknown-namespace"), "{r}");
    let r = p.rpc("").await;
    assert_eq!(pair(&r), owned("protocol", "missing-element"), "{r}");
    let r = p.rpc("<get/><get/>").await;
    assert_eq!(pair(&r), owned("protocol", "bad-element"), "{r}");
    p.send("<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"5\"><get>")
        .await;
    let r = p.recv().await;
    assert_eq!(pair(&r), owned("rpc", "malformed-message"), "{r}");
    let r = p.rpc("<ping xmlns=\"urn:test\"/>").await;
    assert!(r.contains("<ok/>"), "still usable: {r}");

    // Framing lost (RFC 6242 §4.2: chunk-size 0): malformed-message, type
    // rpc, then the session closes.
    tokio::io::AsyncWriteExt::write_all(p.io.get_mut(), b"\n#0\n")
        .await
        .unwrap();
    let r = p.recv().await;
    assert_eq!(pair(&r), owned("rpc", "malformed-message"), "{r}");
    assert!(matches!(p.task.await.unwrap(), EndReason::Framing(_)));
}
