//! The session loop over an in-memory duplex stream: no SSH, same code path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use ncagent::auth::Level;
use ncagent::netconf::error::RpcError;
use ncagent::netconf::framing::{Framing, FramingLimits, NetconfCodec};
use ncagent::netconf::message::{ReplyBody, Rpc};
use ncagent::netconf::session::EndReason;
use ncagent::netconf::state::SessionLimits;
use ncagent::netconf::{
    Application, BoxFuture, ReadFilter, ReadRequest, RpcContext, ServerState, SessionUser,
    run_session,
};
use tokio_util::codec::Framed;
use tokio_util::sync::CancellationToken;

const BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

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
    /// Echoes what the NETCONF layer asked for: the application owns the
    /// data and its filtering.
    fn read<'a>(
        &'a self,
        _: &'a RpcContext,
        req: ReadRequest<'a>,
    ) -> BoxFuture<'a, Result<String, RpcError>> {
        Box::pin(async move {
            let wd = format!("{:?}", req.with_defaults);
            Ok(match req.filter {
                Some(ReadFilter::XPath { select, prefixes }) => {
                    let p: Vec<String> = prefixes.iter().map(|(p, n)| format!("{p}={n}")).collect();
                    format!(
                        "<xpath xmlns=\"urn:test\">{select}|{}|{wd}</xpath>",
                        p.join(",")
                    )
                }
                Some(f) if !f.may_select("urn:test", "test-state") => String::new(),
                _ => format!(
                    "<test-state xmlns=\"urn:test\"><x>1</x><wd>{wd}</wd><ds>{}</ds></test-state>",
                    req.datastore
                ),
            })
        })
    }
    fn get_schema(&self, _: &str, _: Option<&str>, _: Option<&str>) -> Result<String, RpcError> {
        Ok("module test {}".into())
    }
    fn monitoring_schemas(&self) -> Option<String> {
        None
    }
}

fn state(limits: FramingLimits) -> Arc<ServerState> {
    ServerState::new(
        Arc::new(Fake),
        SessionLimits {
            framing: limits,
            max_sessions: 8,
            hello_timeout: Duration::from_secs(1),
            idle_timeout: Some(Duration::from_secs(5)),
        },
        CancellationToken::new(),
    )
}

struct Peer {
    io: Framed<tokio::io::DuplexStream, NetconfCodec>,
    task: tokio::task::JoinHandle<EndReason>,
}

async fn open(st: &Arc<ServerState>) -> Peer {
    let (client, server) = tokio::io::duplex(1 << 20);
    let guard = st.add_session("tester", None).unwrap();
    let user = SessionUser {
        name: "tester".into(),
        level: Level::Management,
    };
    let task = tokio::spawn(run_session(server, st.clone(), guard, user));
    let mut codec = NetconfCodec::new(FramingLimits::default());
    codec.set_framing(Framing::EndOfMessage);
    let mut io = Framed::new(client, codec);
    let hello = io.next().await.unwrap().unwrap();
    assert!(
        std::str::from_utf8(&hello)
            .unwrap()
            .contains("urn:test?module=test")
    );
    Peer { io, task }
}

async fn hello(p: &mut Peer, chunked: bool) {
    let caps = if chunked {
        "urn:ietf:params:netconf:base:1.1"
    } else {
        "urn:ietf:params:netconf:base:1.0"
    };
    let h = format!(
        "<hello xmlns=\"{BASE_NS}\"><capabilities><capability>{caps}</capability></capabilities></hello>"
    );
    p.io.send(h.as_bytes()).await.unwrap();
    if chunked {
        p.io.codec_mut().set_framing(Framing::Chunked);
    }
}

async fn recv(p: &mut Peer) -> String {
    let m = tokio::time::timeout(Duration::from_secs(5), p.io.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    String::from_utf8(m.to_vec()).unwrap()
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let st = state(FramingLimits::default());
    let mut p = open(&st).await;
    hello(&mut p, true).await;
    let mut all = BytesMut::new();
    for i in 0..1000 {
        let m =
            format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"{i}\"><ping xmlns=\"urn:test\"/></rpc>");
        tokio_util::codec::Encoder::encode(p.io.codec_mut(), m.as_bytes(), &mut all).unwrap();
    }
    // One write holding all 1,000 requests.
    tokio::io::AsyncWriteExt::write_all(p.io.get_mut(), &all)
        .await
        .unwrap();
    for i in 0..1000 {
        let r = recv(&mut p).await;
        assert!(r.contains(&format!("message-id=\"{i}\"><ok/>")), "{i}: {r}");
    }
}

#[tokio::test]
async fn get_includes_application_state_and_filters() {
    let st = state(FramingLimits::default());
    let mut p = open(&st).await;
    hello(&mut p, false).await;
    p.io.send(format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"1\"><get><filter><test-state xmlns=\"urn:test\"/></filter></get></rpc>").as_bytes()).await.unwrap();
    let r = recv(&mut p).await;
    assert!(
        r.contains("<data><test-state xmlns=\"urn:test\"><x>1</x><wd>None</wd><ds>operational</ds></test-state></data>"),
        "{r}"
    );
    // A filter that cannot select the application's data: nothing asked.
    p.io.send(format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"2\"><get><filter><other xmlns=\"urn:other\"/></filter></get></rpc>").as_bytes()).await.unwrap();
    let r = recv(&mut p).await;
    assert!(r.contains("<data></data>"), "{r}");
    // RFC 6241 §8.9: the select expression and the prefixes in scope of
    // <filter> (here declared on <rpc> and on <filter>) reach the
    // application; with-defaults too (RFC 6243 §4.5.2).
    p.io.send(format!("<rpc xmlns=\"{BASE_NS}\" xmlns:a=\"urn:a\" message-id=\"3\"><get-config><source><running/></source><filter type=\"xpath\" xmlns:t=\"urn:test\" select=\"/t:test-state\"/><with-defaults xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults\">trim</with-defaults></get-config></rpc>").as_bytes()).await.unwrap();
    let r = recv(&mut p).await;
    assert!(
        r.contains("<xpath xmlns=\"urn:test\">/t:test-state|a=urn:a,t=urn:test|Some(Trim)</xpath>"),
        "{r}"
    );
    // No select: missing-attribute; an unknown type: bad-attribute.
    p.io.send(
        format!(
            "<rpc xmlns=\"{BASE_NS}\" message-id=\"4\"><get><filter type=\"xpath\"/></get></rpc>"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let r = recv(&mut p).await;
    assert!(
        r.contains("<error-tag>missing-attribute</error-tag>"),
        "{r}"
    );
    p.io.send(
        format!(
            "<rpc xmlns=\"{BASE_NS}\" message-id=\"5\"><get><filter type=\"regex\"/></get></rpc>"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let r = recv(&mut p).await;
    assert!(r.contains("<error-tag>bad-attribute</error-tag>"), "{r}");
}

#[tokio::test]
async fn hello_rules() {
    let st = state(FramingLimits::default());
    // RFC 6241 §8.1: a client hello with a session-id ends the session.
    let mut p = open(&st).await;
    p.io.send(format!("<hello xmlns=\"{BASE_NS}\"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities><session-id>4</session-id></hello>").as_bytes()).await.unwrap();
    assert!(matches!(p.task.await.unwrap(), EndReason::BadHello(_)));
    // No base capability.
    let mut p = open(&st).await;
    p.io.send(format!("<hello xmlns=\"{BASE_NS}\"><capabilities><capability>urn:x</capability></capabilities></hello>").as_bytes()).await.unwrap();
    assert!(matches!(p.task.await.unwrap(), EndReason::BadHello(_)));
    // Not a hello at all.
    let mut p = open(&st).await;
    p.io.send(format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"1\"><get/></rpc>").as_bytes())
        .await
        .unwrap();
    assert!(matches!(p.task.await.unwrap(), EndReason::BadHello(_)));
    // Silence: the hello timeout.
    let p = open(&st).await;
    assert_eq!(p.task.await.unwrap(), EndReason::HelloTimeout);
    // A hello sent in chunked framing is accepted too.
    let mut p = open(&st).await;
    p.io.codec_mut().set_framing(Framing::Chunked);
    hello(&mut p, true).await;
    p.io.send(
        format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"9\"><ping xmlns=\"urn:test\"/></rpc>")
            .as_bytes(),
    )
    .await
    .unwrap();
    assert!(recv(&mut p).await.contains("<ok/>"));
    assert!(
        st.stats
            .in_bad_hellos
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 4
    );
}

#[tokio::test]
async fn framing_error_answers_then_closes() {
    let st = state(FramingLimits {
        max_message: 4096,
        max_chunk: 1024,
    });
    let mut p = open(&st).await;
    hello(&mut p, true).await;
    tokio::io::AsyncWriteExt::write_all(p.io.get_mut(), b"\n#2048\n")
        .await
        .unwrap();
    let r = recv(&mut p).await;
    assert!(r.contains("<error-tag>too-big</error-tag>"), "{r}");
    assert!(matches!(p.task.await.unwrap(), EndReason::Framing(_)));
}
