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
use ncagent::netconf::{
    Application, BoxFuture, ReadRequest, RpcContext, ServerState, SessionUser, run_session,
};
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
    fn read<'a>(
        &'a self,
        _: &'a RpcContext,
        req: ReadRequest<'a>,
    ) -> BoxFuture<'a, Result<String, RpcError>> {
        // No data trees here: the NETCONF layer's netconf-state, unfiltered.
        Box::pin(async move { Ok(req.netconf_state.unwrap_or_default()) })
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

const BVT: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";

fn refresh(inner: &str) -> String {
    format!("<refresh-bgp-vpn-target xmlns=\"{BVT}\">{inner}</refresh-bgp-vpn-target>")
}

/// CE6885-LL in low-latency mode (no ipv4-peer-selector) with one IPv4 and
/// one IPv6 peer, passive and never Established (no traffic leaves loopback).
const LOW_LATENCY_WITH_PEERS: &str = r#"
[device]
model = "CE6885-LL"
forwarding_mode = "low-latency"

[bgp]
local_as = 65000
router_id = "10.255.0.1"

[[bgp.peers]]
address = "10.0.0.1"
remote_as = 65001
passive = true

[[bgp.peers]]
address = "2001:db8::2"
remote_as = 65000
passive = true
"#;

/// Issue #9 item 1, SPEC §4 and RFC 4291 §2.5.5.2: on a model without
/// `ipv4-peer-selector`, an IPv4-mapped address in `ipv6-address` does not
/// reach the IPv4 peer; it is refused with invalid-value naming the leaf
/// that was sent (RFC 6241 §4.3 error-path), known peer or not. Errors about
/// real IPv6 peers name `ipv6-address` too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv4_mapped_address_does_not_bypass_the_ipv4_feature() {
    let agent = common::TestAgent::start(LOW_LATENCY_WITH_PEERS).await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let mut c = common::Client::connect_hello(addr, common::ADMIN);
        for mapped in ["::ffff:10.0.0.1", "::ffff:10.0.0.9", "::ffff:a00:1"] {
            let r = c.rpc(&refresh(&format!(
                "<ipv6-address>{mapped}</ipv6-address><direction>import</direction>"
            )));
            assert_eq!(
                error_of(&r),
                (
                    "application".to_owned(),
                    "invalid-value".to_owned(),
                    Some("ipv6-address".to_owned())
                ),
                "{mapped}: {r}"
            );
            assert_eq!(
                common::text_of(&r, "error-app-tag"),
                Some("ipv4-mapped-address"),
                "{r}"
            );
            assert!(
                r.contains(">/bvt:refresh-bgp-vpn-target/bvt:ipv6-address</error-path>"),
                "{r}"
            );
            assert!(!r.contains("ipv4-address"), "names a leaf not sent: {r}");
        }
        // A real IPv6 peer, configured or not: the path is the leaf sent.
        for (v6, tag) in [
            ("2001:db8::2", "peer-not-established"),
            ("2001:db8::9", "peer-not-found"),
        ] {
            let r = c.rpc(&refresh(&format!(
                "<ipv6-address>{v6}</ipv6-address><direction>import</direction>"
            )));
            assert_eq!(common::text_of(&r, "error-app-tag"), Some(tag), "{r}");
            assert!(
                r.contains(">/bvt:refresh-bgp-vpn-target/bvt:ipv6-address</error-path>"),
                "{r}"
            );
        }
        // The IPv4 peer saw no soft reset.
        let r = c.rpc("<get><filter><bgp-vpn-target-state xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"/></filter></get>");
        let start = r.find("<address>10.0.0.1</address>").expect("the IPv4 peer");
        let peer = &r[start..start + r[start..].find("</peer>").unwrap()];
        assert!(!peer.contains("<last-soft-reset>"), "{peer}");
    })
    .await
    .unwrap();
    agent.stop().await;
}

/// Issue #9 item 10, SPEC §7 last sentence, RFC 8341 §3.4.4 (access is
/// checked on the operation before anything else): a level-1 user sending
/// an invalid refresh gets access-denied, not the schema's verdict on its
/// parameters; a level-2 user gets the schema's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_decided_before_validation() {
    let agent = common::TestAgent::start("").await;
    let addr = agent.addr;
    tokio::task::spawn_blocking(move || {
        let invalid = [
            (
                "<group></group><direction>import</direction>",
                "invalid-value",
            ),
            (
                "<ipv6-address>zz</ipv6-address><direction>import</direction>",
                "invalid-value",
            ),
            (
                "<ipv4-address>10.0.0.1</ipv4-address><all/><direction>import</direction>",
                "bad-element",
            ),
            (
                "<bogus/><all/><direction>import</direction>",
                "unknown-element",
            ),
            ("<direction>import</direction>", "missing-element"),
            ("<all/>", "missing-element"),
        ];
        let mut monitor = common::Client::connect_hello(addr, common::MONITOR);
        let mut operator = common::Client::connect_hello(addr, common::OPERATOR);
        for (inner, schema_tag) in invalid {
            let r = monitor.rpc(&refresh(inner));
            assert_eq!(
                pair(&r),
                owned("protocol", "access-denied"),
                "level 1, {inner}: {r}"
            );
            assert!(!r.contains("<error-path"), "no schema detail: {r}");
            let r = operator.rpc(&refresh(inner));
            assert_eq!(pair(&r).1, schema_tag, "level 2, {inner}: {r}");
        }
    })
    .await
    .unwrap();
    agent.stop().await;
}

/// Issue #9 item 2, RFC 6241 Appendix A: an unknown child of a base
/// operation is `unknown-element` (error-type protocol, bad-element in
/// error-info), for every base operation, and the operation is not run.
#[tokio::test]
async fn unknown_children_of_base_operations_are_refused() {
    let st = server();
    let mut p = open(&st, true).await;
    let mut other = open(&st, false).await;
    let cases = [
        "<get><bogus/></get>".to_owned(),
        "<get-config><source><running/></source><bogus/></get-config>".to_owned(),
        "<lock><target><running/></target><bogus/></lock>".to_owned(),
        "<unlock><target><running/></target><bogus/></unlock>".to_owned(),
        "<close-session><bogus/></close-session>".to_owned(),
        format!(
            "<kill-session><session-id>{}</session-id><bogus/></kill-session>",
            other.session_id
        ),
        format!("<get-schema xmlns=\"{NCM}\"><identifier>test</identifier><bogus/></get-schema>"),
        // Another namespace: still not a parameter.
        "<lock><target><running/></target><bogus xmlns=\"urn:example\"/></lock>".to_owned(),
    ];
    for body in &cases {
        let r = p.rpc(body).await;
        assert_eq!(
            error_of(&r),
            (
                "protocol".to_owned(),
                "unknown-element".to_owned(),
                Some("bogus".to_owned())
            ),
            "{body}: {r}"
        );
    }
    // RFC 6243 §4.5: <with-defaults> is a parameter of get and get-config
    // (its own namespace); a value that is no mode is an invalid-value.
    let r = p
        .rpc("<get><with-defaults xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults\">report-all</with-defaults></get>")
        .await;
    assert!(r.contains("<data>"), "{r}");
    let r = p
        .rpc("<get><with-defaults xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults\">everything</with-defaults></get>")
        .await;
    assert_eq!(
        error_of(&r),
        (
            "protocol".to_owned(),
            "invalid-value".to_owned(),
            Some("with-defaults".to_owned())
        ),
        "{r}"
    );
    // A parameter twice.
    let r = p
        .rpc("<lock><target><running/></target><target><running/></target></lock>")
        .await;
    assert_eq!(pair(&r), owned("protocol", "bad-element"), "{r}");
    // None of them ran: no lock was taken, the other session lives, and
    // this one is still open.
    assert_eq!(st.running_lock_holder(), None);
    let r = other.rpc("<lock><target><running/></target></lock>").await;
    assert!(r.contains("<ok/>"), "{r}");
    let r = p
        .rpc("<get-config><source><running/></source></get-config>")
        .await;
    assert!(r.contains("<data"), "{r}");
    // The well-formed operations still work.
    let r = other
        .rpc("<unlock><target><running/></target></unlock>")
        .await;
    assert!(r.contains("<ok/>"), "{r}");
    let r = p
        .rpc(&format!("<get-schema xmlns=\"{NCM}\"><identifier>test</identifier><version/><format>yang</format></get-schema>"))
        .await;
    assert!(r.contains("module test"), "{r}");
    let r = p.rpc("<close-session/>").await;
    assert!(r.contains("<ok/>"), "{r}");
    assert_eq!(p.task.await.unwrap(), EndReason::CloseSession);
}

/// The text of `<name>` inside the first `<parent>` of an XML string.
fn stat(xml: &str, parent: &str, name: &str) -> String {
    let start = xml
        .find(&format!("<{parent}>"))
        .unwrap_or_else(|| panic!("no {parent}: {xml}"));
    common::text_of(&xml[start..], name)
        .unwrap_or_else(|| panic!("no {parent}/{name}: {xml}"))
        .to_owned()
}

fn netconf_state_filter() -> String {
    format!("<get><filter><netconf-state xmlns=\"{NCM}\"/></filter></get>")
}

/// Issue #9 item 3, RFC 6022 §2.1.2: `locked-time` is when the lock was
/// taken, the same in every `<get>` while the lock is held.
#[tokio::test]
async fn locked_time_is_when_the_lock_was_taken() {
    let st = server();
    let mut p = open(&st, true).await;
    let r = p.rpc("<lock><target><running/></target></lock>").await;
    assert!(r.contains("<ok/>"), "{r}");
    let first = p.rpc(&netconf_state_filter()).await;
    let t1 = stat(&first, "global-lock", "locked-time");
    assert_eq!(
        stat(&first, "global-lock", "locked-by-session"),
        p.session_id.to_string()
    );
    // Past a second boundary: a time taken at each <get> would differ.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = p.rpc(&netconf_state_filter()).await;
    assert_eq!(stat(&second, "global-lock", "locked-time"), t1);
}

/// Issue #9 item 3, RFC 6022 §2.1.5: `in-rpcs` counts correct `<rpc>`s
/// only (a malformed message is in `in-bad-rpcs`, not both), server-wide and
/// per session.
#[tokio::test]
async fn in_rpcs_counts_only_correct_rpcs() {
    let st = server();
    let mut p = open(&st, true).await;
    let r = p.rpc("<ping xmlns=\"urn:test\"/>").await;
    assert!(r.contains("<ok/>"), "{r}");
    for bad in [
        "<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"9\"><get>",
        "<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\"><get/></rpc>",
        "<rpc xmlns=\"urn:wrong\" message-id=\"10\"><get/></rpc>",
    ] {
        p.send(bad).await;
        let r = p.recv().await;
        assert!(r.contains("<rpc-error>"), "{r}");
    }
    // The <get> is the second correct <rpc>; it is counted when received.
    let r = p.rpc(&netconf_state_filter()).await;
    assert_eq!(stat(&r, "statistics", "in-rpcs"), "2", "{r}");
    assert_eq!(stat(&r, "statistics", "in-bad-rpcs"), "3", "{r}");
    assert_eq!(stat(&r, "session", "in-rpcs"), "2", "{r}");
    assert_eq!(stat(&r, "session", "in-bad-rpcs"), "3", "{r}");
}

/// Issue #9 item 3, RFC 6022 §2.1.5: `dropped-sessions` counts sessions
/// that ended without `<close-session>` (here: the transport closed under
/// them, or no hello came), not those ended by `<close-session>` or
/// `<kill-session>`.
#[tokio::test]
async fn dropped_sessions_counts_abnormal_ends_only() {
    use std::sync::atomic::Ordering::Relaxed;
    let st = server();
    let dropped = || st.stats.dropped_sessions.load(Relaxed);

    let mut admin = open(&st, true).await;
    // Killed by another session: not dropped.
    let victim = open(&st, true).await;
    let r = admin
        .rpc(&format!(
            "<kill-session><session-id>{}</session-id></kill-session>",
            victim.session_id
        ))
        .await;
    assert!(r.contains("<ok/>"), "{r}");
    assert_eq!(victim.task.await.unwrap(), EndReason::Killed);
    assert_eq!(dropped(), 0);

    // Closed properly: not dropped.
    let mut polite = open(&st, false).await;
    let r = polite.rpc("<close-session/>").await;
    assert!(r.contains("<ok/>"), "{r}");
    assert_eq!(polite.task.await.unwrap(), EndReason::CloseSession);
    assert_eq!(dropped(), 0);

    // The transport goes away without close-session: dropped.
    let mut gone = open(&st, true).await;
    let r = gone.rpc("<ping xmlns=\"urn:test\"/>").await;
    assert!(r.contains("<ok/>"), "{r}");
    let Peer { io, task, .. } = gone;
    drop(io);
    assert_eq!(task.await.unwrap(), EndReason::ClientClosed);
    assert_eq!(dropped(), 1);

    // Seen on the wire too.
    let r = admin.rpc(&netconf_state_filter()).await;
    assert_eq!(stat(&r, "statistics", "dropped-sessions"), "1", "{r}");
}
