//! The datastore operations over a real SSH socket (RFC 6241 §7.2–§7.6,
//! §8.3–§8.7), applied to the agent's BGP engine (issue #10).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ncagent::agent::Running;
use ncagent::config::Config;

const NS: &str = "urn:ncagent:yang:ncagent-bgp";
const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

const GLOBAL: &str = "<global><as>65000</as><router-id>10.255.0.1</router-id>\
    <route-target>65000:100</route-target></global>";

fn bgp(body: &str) -> String {
    format!(r#"<bgp xmlns="{NS}" xmlns:nc="{NC}">{body}</bgp>"#)
}

/// A passive neighbor (no connection attempts) in `group`.
fn neighbor(addr: &str, group: Option<&str>) -> String {
    let g = group
        .map(|g| format!("<peer-group>{g}</peer-group>"))
        .unwrap_or_default();
    format!(
        "<neighbors><neighbor><address>{addr}</address><remote-as>65001</remote-as>{g}\
         <transport><passive-mode>true</passive-mode></transport></neighbor></neighbors>"
    )
}

fn base() -> String {
    bgp(&format!(
        "{GLOBAL}<peer-groups><peer-group><name>spine</name></peer-group></peer-groups>{}",
        neighbor("127.0.0.11", Some("spine"))
    ))
}

fn edit_rpc(target: &str, params: &str, config: &str) -> String {
    format!(
        "<edit-config><target><{target}/></target>{params}<config>{config}</config></edit-config>"
    )
}

fn get_config(c: &mut Client, ds: &str) -> String {
    let r = c.rpc(&format!(
        "<get-config><source><{ds}/></source></get-config>"
    ));
    assert!(r.contains("<data"), "{r}");
    r
}

fn ok(r: &str) {
    assert!(r.contains("<ok/>"), "{r}");
}

/// The `error-path` of a reply, unescaped.
fn error_path(r: &str) -> Option<String> {
    let start = r.find("<error-path")?;
    let open_end = r[start..].find('>')? + start + 1;
    let end = r[open_end..].find("</error-path>")? + open_end;
    Some(
        r[open_end..end]
            .replace("&apos;", "'")
            .replace("&quot;", "\""),
    )
}

fn tag(r: &str) -> &str {
    text_of(r, "error-tag").unwrap_or_else(|| panic!("no error: {r}"))
}

/// The addresses of the engine's configured peers.
fn engine_peers(running: &Running) -> Vec<IpAddr> {
    let bgp = running.bgp.clone();
    let snap = tokio::runtime::Handle::current()
        .block_on(async move { bgp.snapshot().await })
        .unwrap();
    let mut v: Vec<IpAddr> = snap.peers.iter().map(|p| p.address).collect();
    v.sort();
    v
}

fn engine_as(running: &Running) -> u32 {
    let bgp = running.bgp.clone();
    tokio::runtime::Handle::current()
        .block_on(async move { bgp.snapshot().await })
        .unwrap()
        .local_as
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Waits (bounded) until `f` holds.
fn eventually(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    for _ in 0..1000 {
        if f() {
            return;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: too many tries");
}

async fn start_in(dir: &Path, extra: &str) -> Running {
    let config = Config::from_toml(&test_config(dir, extra)).unwrap();
    ncagent::agent::start(config).await.unwrap()
}

/// Runs `f` with a TestAgent's `Running` on a blocking thread.
async fn with_agent<F>(extra: &str, f: F)
where
    F: FnOnce(std::net::SocketAddr, &Running) + Send + 'static,
{
    let mut agent = TestAgent::start(extra).await;
    let running = agent.running.take().unwrap();
    let addr = agent.addr;
    let running = tokio::task::spawn_blocking(move || {
        f(addr, &running);
        running
    })
    .await
    .unwrap();
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_advertises_the_datastore_capabilities() {
    with_agent("", |addr, _| {
        let c = Client::connect_hello(addr, ADMIN);
        for cap in [
            "urn:ietf:params:netconf:capability:writable-running:1.0",
            "urn:ietf:params:netconf:capability:candidate:1.0",
            "urn:ietf:params:netconf:capability:startup:1.0",
            "urn:ietf:params:netconf:capability:validate:1.1",
            "urn:ietf:params:netconf:capability:confirmed-commit:1.1",
            "urn:ietf:params:netconf:capability:rollback-on-error:1.0",
        ] {
            assert!(c.server_hello.contains(cap), "{cap}: {}", c.server_hello);
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_operations_on_running_reach_the_engine() {
    with_agent("", |addr, running| {
        let mut c = Client::connect_hello(addr, OPERATOR);
        assert_eq!(engine_peers(running), Vec::<IpAddr>::new());
        ok(&c.rpc(&edit_rpc("running", "", &base())));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        assert_eq!(engine_as(running), 65000);
        let r = get_config(&mut c, "running");
        assert!(r.contains("<address>127.0.0.11</address>"), "{r}");
        assert!(r.contains(&format!("<bgp xmlns=\"{NS}\"")), "{r}");

        // merge adds a second peer.
        ok(&c.rpc(&edit_rpc("running", "", &bgp(&neighbor("127.0.0.12", None)))));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11"), ip("127.0.0.12")]);
        // create of an existing peer: data-exists, with its path.
        let r = c.rpc(&edit_rpc(
            "running",
            "",
            &bgp(r#"<neighbors><neighbor nc:operation="create"><address>127.0.0.12</address><remote-as>1</remote-as></neighbor></neighbors>"#),
        ));
        assert_eq!(tag(&r), "data-exists", "{r}");
        assert!(
            error_path(&r).is_some_and(|p| p.contains("neighbor[nbgp:address='127.0.0.12']")),
            "{r}"
        );
        // delete removes it from the engine; delete again: data-missing;
        // remove of a missing one is fine.
        let del = bgp(r#"<neighbors><neighbor nc:operation="delete"><address>127.0.0.12</address></neighbor></neighbors>"#);
        ok(&c.rpc(&edit_rpc("running", "", &del)));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        assert_eq!(tag(&c.rpc(&edit_rpc("running", "", &del))), "data-missing");
        let rem = del.replace("delete", "remove");
        ok(&c.rpc(&edit_rpc("running", "", &rem)));
        // replace of global changes the local AS in the engine.
        let g = bgp(r#"<global nc:operation="replace"><as>65100</as><router-id>10.255.0.1</router-id></global>"#);
        ok(&c.rpc(&edit_rpc("running", "", &g)));
        assert_eq!(engine_as(running), 65100);
        let r = get_config(&mut c, "running");
        assert!(!r.contains("65000:100"), "route target replaced away: {r}");
        // default-operation none: a leaf without operation is not created.
        let r = c.rpc(&edit_rpc(
            "running",
            "<default-operation>none</default-operation>",
            &bgp("<global><as>65200</as></global>"),
        ));
        ok(&r);
        assert_eq!(engine_as(running), 65100);
        // default-operation replace: the whole configuration is the edit's.
        ok(&c.rpc(&edit_rpc(
            "running",
            "<default-operation>replace</default-operation>",
            &bgp(GLOBAL),
        )));
        assert_eq!(engine_peers(running), Vec::<IpAddr>::new());
        // Bad parameter values and unknown parameters.
        let r = c.rpc(&edit_rpc("running", "<default-operation>bogus</default-operation>", &bgp(GLOBAL)));
        assert_eq!(tag(&r), "invalid-value", "{r}");
        let r = c.rpc(&edit_rpc("running", "<bogus/>", &bgp(GLOBAL)));
        assert_eq!(tag(&r), "unknown-element", "{r}");
        let r = c.rpc(&edit_rpc("startup", "", &bgp(GLOBAL)));
        assert_eq!(tag(&r), "operation-not-supported", "{r}");
        let r = c.rpc("<edit-config><target><running/></target></edit-config>");
        assert_eq!(tag(&r), "missing-element", "{r}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_options_and_test_only() {
    with_agent("", |addr, running| {
        let mut c = Client::connect_hello(addr, OPERATOR);
        ok(&c.rpc(&edit_rpc("running", "", &base())));
        let before = strip_id(&get_config(&mut c, "running"));
        // One good edit (a new peer) and one bad (unknown group).
        let mixed = bgp(&format!(
            "{}<neighbors><neighbor nc:operation=\"delete\"><address>127.0.0.99</address></neighbor></neighbors>",
            neighbor("127.0.0.13", None)
        ));
        for option in ["stop-on-error", "rollback-on-error"] {
            let r = c.rpc(&edit_rpc(
                "running",
                &format!("<error-option>{option}</error-option>"),
                &mixed,
            ));
            assert_eq!(tag(&r), "data-missing", "{option}: {r}");
            assert_eq!(strip_id(&get_config(&mut c, "running")), before, "{option}");
            assert_eq!(engine_peers(running), vec![ip("127.0.0.11")], "{option}");
        }
        // continue-on-error: the good edit is applied, the error reported.
        let r = c.rpc(&edit_rpc(
            "running",
            "<error-option>continue-on-error</error-option>",
            &mixed,
        ));
        assert_eq!(tag(&r), "data-missing", "{r}");
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11"), ip("127.0.0.13")]);
        // test-only: validated, nothing changed; a bad edit is refused.
        let now = get_config(&mut c, "running");
        ok(&c.rpc(&edit_rpc(
            "running",
            "<test-option>test-only</test-option>",
            &bgp(&neighbor("127.0.0.14", None)),
        )));
        let r = c.rpc(&edit_rpc(
            "running",
            "<test-option>test-only</test-option>",
            &bgp(&neighbor("127.0.0.14", Some("nope"))),
        ));
        assert_eq!(tag(&r), "data-missing", "{r}");
        assert_eq!(strip_id(&get_config(&mut c, "running")), strip_id(&now));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11"), ip("127.0.0.13")]);
    })
    .await;
}

/// A reply without its message-id, to compare replies to different requests.
fn strip_id(r: &str) -> String {
    let start = r.find("message-id=\"").unwrap();
    let end = r[start + 12..].find('"').unwrap() + start + 13;
    format!("{}{}", &r[..start], &r[end..])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_edits_answer_the_path_and_leave_running_unchanged() {
    with_agent("", |addr, running| {
        let mut c = Client::connect_hello(addr, OPERATOR);
        ok(&c.rpc(&edit_rpc("running", "", &base())));
        let before = strip_id(&get_config(&mut c, "running"));
        let cases: Vec<(String, &str, &str)> = vec![
            (
                neighbor("127.0.0.11", Some("nope")),
                "data-missing",
                "/nbgp:bgp/nbgp:neighbors/nbgp:neighbor[nbgp:address='127.0.0.11']/nbgp:peer-group",
            ),
            (
                r#"<neighbors><neighbor nc:operation="create"><address>127.0.0.11</address><remote-as>1</remote-as></neighbor></neighbors>"#.to_owned(),
                "data-exists",
                "/nbgp:bgp/nbgp:neighbors/nbgp:neighbor[nbgp:address='127.0.0.11']",
            ),
            (
                "<neighbors><neighbor><address>127.0.0.11</address><remote-as>23456</remote-as></neighbor></neighbors>".to_owned(),
                "operation-failed",
                "/nbgp:bgp/nbgp:neighbors/nbgp:neighbor[nbgp:address='127.0.0.11']/nbgp:remote-as",
            ),
            (
                "<global><as>0</as></global>".to_owned(),
                "operation-failed",
                "/nbgp:bgp/nbgp:global/nbgp:as",
            ),
            (
                format!("<peer-groups><peer-group><name>{}</name></peer-group></peer-groups>", "g".repeat(48)),
                "invalid-value",
                "/nbgp:bgp/nbgp:peer-groups/nbgp:peer-group",
            ),
        ];
        for (body, want_tag, want_path) in cases {
            for target in ["running", "candidate"] {
                let r = c.rpc(&edit_rpc(target, "", &bgp(&body)));
                assert_eq!(tag(&r), want_tag, "{target} {body}: {r}");
                assert_eq!(text_of(&r, "error-type"), Some("application"), "{r}");
                let path = error_path(&r).unwrap_or_else(|| panic!("no path: {r}"));
                assert!(path.starts_with(want_path), "{body}: {path}");
                assert!(r.contains(&format!("xmlns:nbgp=\"{NS}\"")), "{r}");
            }
            assert_eq!(strip_id(&get_config(&mut c, "running")), before, "{body}");
            assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        }
        // Access: level 1 cannot edit (SPEC §7).
        let mut m = Client::connect_hello(addr, MONITOR);
        let r = m.rpc(&edit_rpc("running", "<bogus/>", &bgp(GLOBAL)));
        assert_eq!(tag(&r), "access-denied", "{r}");
        get_config(&mut m, "candidate");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candidate_commit_discard_and_the_lock_rules() {
    with_agent("", |addr, running| {
        let mut a = Client::connect_hello(addr, OPERATOR);
        let mut b = Client::connect_hello(addr, OPERATOR);
        let a_id = text_of(&a.server_hello, "session-id").unwrap().to_owned();
        ok(&a.rpc(&edit_rpc("candidate", "", &base())));
        assert_eq!(engine_peers(running), Vec::<IpAddr>::new());
        // RFC 6241 §7.5: candidate with changes of another session cannot
        // be locked by b.
        let r = b.rpc("<lock><target><candidate/></target></lock>");
        assert_eq!(tag(&r), "lock-denied", "{r}");
        assert_eq!(text_of(&r, "session-id"), Some("0"), "{r}");
        // a may, and then b cannot edit it (in-use, naming a).
        ok(&a.rpc("<lock><target><candidate/></target></lock>"));
        let r = b.rpc(&edit_rpc("candidate", "", &bgp(GLOBAL)));
        assert_eq!(tag(&r), "in-use", "{r}");
        assert_eq!(text_of(&r, "session-id"), Some(a_id.as_str()), "{r}");
        let r = b.rpc("<lock><target><candidate/></target></lock>");
        assert_eq!(tag(&r), "lock-denied", "{r}");
        assert_eq!(text_of(&r, "session-id"), Some(a_id.as_str()), "{r}");
        // validate the candidate, then commit: the engine follows.
        ok(&a.rpc("<validate><source><candidate/></source></validate>"));
        ok(&a.rpc("<commit/>"));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        let r = get_config(&mut b, "running");
        assert!(r.contains("127.0.0.11"), "{r}");
        // discard-changes brings candidate back to running.
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.15", None)),
        )));
        assert!(get_config(&mut a, "candidate").contains("127.0.0.15"));
        ok(&a.rpc("<discard-changes/>"));
        assert!(!get_config(&mut a, "candidate").contains("127.0.0.15"));
        // b locks running: a's commit is refused (in-use).
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.16", None)),
        )));
        ok(&b.rpc("<lock><target><running/></target></lock>"));
        let r = a.rpc("<commit/>");
        assert_eq!(tag(&r), "in-use", "{r}");
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        ok(&b.rpc("<unlock><target><running/></target></unlock>"));
        // a's session ends holding candidate's lock: its changes go
        // (RFC 6241 §8.3.5.2), and b can lock candidate.
        drop(a);
        eventually("candidate unlocked", Duration::from_secs(10), || {
            b.rpc("<lock><target><candidate/></target></lock>")
                .contains("<ok/>")
        });
        assert!(!get_config(&mut b, "candidate").contains("127.0.0.16"));
        // startup can be locked too.
        ok(&b.rpc("<lock><target><startup/></target></lock>"));
        ok(&b.rpc("<unlock><target><startup/></target></unlock>"));
        // validate of an inline config.
        let r = b.rpc(&format!(
            "<validate><source><config>{}</config></source></validate>",
            bgp(&neighbor("127.0.0.17", Some("nope")))
        ));
        assert_eq!(tag(&r), "data-missing", "{r}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_commit_rolls_back_on_timeout_and_is_cancelled() {
    with_agent("", |addr, running| {
        let mut a = Client::connect_hello(addr, OPERATOR);
        ok(&a.rpc(&edit_rpc("running", "", &base())));
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.21", None)),
        )));
        let start = Instant::now();
        ok(&a.rpc("<commit><confirmed/><confirm-timeout>1</confirm-timeout></commit>"));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.21")]
        );
        // Not confirmed: rolled back within the timeout + 1 s.
        eventually("rollback", Duration::from_secs(3), || {
            engine_peers(running) == vec![ip("127.0.0.11")]
        });
        assert!(start.elapsed() >= Duration::from_millis(900));
        assert!(!get_config(&mut a, "running").contains("127.0.0.21"));

        // cancel-commit rolls back at once.
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.22", None)),
        )));
        ok(&a.rpc("<commit><confirmed/></commit>"));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.22")]
        );
        ok(&a.rpc("<cancel-commit/>"));
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        let r = a.rpc("<cancel-commit/>");
        assert_eq!(tag(&r), "operation-failed", "{r}");

        // A confirming commit keeps the change past the timeout.
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.23", None)),
        )));
        ok(&a.rpc("<commit><confirmed/><confirm-timeout>1</confirm-timeout></commit>"));
        ok(&a.rpc("<commit/>"));
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.23")]
        );
        let r = a.rpc("<commit><confirm-timeout>x</confirm-timeout><confirmed/></commit>");
        assert_eq!(tag(&r), "invalid-value", "{r}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmed_commit_follows_its_session_unless_persistent() {
    with_agent("", |addr, running| {
        let mut a = Client::connect_hello(addr, OPERATOR);
        ok(&a.rpc(&edit_rpc("running", "", &base())));
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.31", None)),
        )));
        ok(&a.rpc("<commit><confirmed/></commit>"));
        let mut b = Client::connect_hello(addr, OPERATOR);
        // Another session cannot confirm a non-persistent one.
        let r = b.rpc("<commit/>");
        assert_eq!(tag(&r), "in-use", "{r}");
        // RFC 6241 §8.4.1: its session closing rolls it back.
        ok(&a.rpc("<close-session/>"));
        eventually("rollback at session end", Duration::from_secs(5), || {
            engine_peers(running) == vec![ip("127.0.0.11")]
        });
        assert!(!get_config(&mut b, "running").contains("127.0.0.31"));

        // persist: survives its session; confirmed by persist-id elsewhere.
        let mut a = Client::connect_hello(addr, OPERATOR);
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.32", None)),
        )));
        ok(&a.rpc("<commit><confirmed/><persist>job-1</persist></commit>"));
        ok(&a.rpc("<close-session/>"));
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.32")]
        );
        let r = b.rpc("<commit><persist-id>job-2</persist-id></commit>");
        assert_eq!(tag(&r), "invalid-value", "{r}");
        let r = b.rpc("<commit/>");
        assert_eq!(tag(&r), "in-use", "{r}");
        ok(&b.rpc("<commit><persist-id>job-1</persist-id></commit>"));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.32")]
        );
        // persist then cancel-commit with the persist-id from a third session.
        ok(&b.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.33", None)),
        )));
        ok(&b.rpc("<commit><confirmed/><persist>job-3</persist></commit>"));
        let mut c = Client::connect_hello(addr, OPERATOR);
        let r = c.rpc("<cancel-commit/>");
        assert_eq!(tag(&r), "invalid-value", "{r}");
        ok(&c.rpc("<cancel-commit><persist-id>job-3</persist-id></cancel-commit>"));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.32")]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_refusal_restores_running() {
    with_agent("", |addr, running| {
        let mut c = Client::connect_hello(addr, OPERATOR);
        ok(&c.rpc(&edit_rpc("running", "", &base())));
        let before = strip_id(&get_config(&mut c, "running"));
        // Valid YANG, but the engine cannot listen on an address this
        // host does not have (TEST-NET-1, RFC 5737).
        let listen =
            bgp("<global><listen><address>192.0.2.1</address><port>1179</port></listen></global>");
        let r = c.rpc(&edit_rpc("running", "", &listen));
        assert_eq!(tag(&r), "operation-failed", "{r}");
        assert_eq!(
            error_path(&r).as_deref(),
            Some("/nbgp:bgp/nbgp:global/nbgp:listen"),
            "{r}"
        );
        assert_eq!(strip_id(&get_config(&mut c, "running")), before);
        assert_eq!(engine_peers(running), vec![ip("127.0.0.11")]);
        // Through candidate: the commit fails, running is unchanged and
        // candidate keeps the refused change for the operator to fix.
        ok(&c.rpc(&edit_rpc("candidate", "", &listen)));
        let r = c.rpc("<commit/>");
        assert_eq!(tag(&r), "operation-failed", "{r}");
        assert_eq!(strip_id(&get_config(&mut c, "running")), before);
        assert!(get_config(&mut c, "candidate").contains("192.0.2.1"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_copy_restart_and_levels() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_in(dir.path(), "").await;
    let addr = first.local_addr;
    let first = tokio::task::spawn_blocking(move || {
        let mut op = Client::connect_hello(addr, OPERATOR);
        ok(&op.rpc(&edit_rpc("running", "", &base())));
        // Level 2 may not touch startup (SPEC §7: level 3).
        let copy = "<copy-config><target><startup/></target><source><running/></source></copy-config>";
        assert_eq!(tag(&op.rpc(copy)), "access-denied");
        assert_eq!(
            tag(&op.rpc("<delete-config><target><startup/></target></delete-config>")),
            "access-denied"
        );
        let mut admin = Client::connect_hello(addr, ADMIN);
        ok(&admin.rpc(copy));
        assert!(get_config(&mut admin, "startup").contains("127.0.0.11"));
        // RFC 6241 §7.4: running cannot be deleted; §7.3: same source and
        // target is invalid-value.
        let r = admin.rpc("<delete-config><target><running/></target></delete-config>");
        assert_eq!(tag(&r), "operation-not-supported", "{r}");
        let r = admin.rpc("<copy-config><target><running/></target><source><running/></source></copy-config>");
        assert_eq!(tag(&r), "invalid-value", "{r}");
        // A later change of running that is not saved is lost at restart.
        ok(&op.rpc(&edit_rpc("running", "", &bgp(&neighbor("127.0.0.41", None)))));
        // copy-config of an inline config to candidate (level 2).
        ok(&op.rpc(&format!(
            "<copy-config><target><candidate/></target><source><config>{}</config></source></copy-config>",
            bgp(GLOBAL)
        )));
    })
    .await
    .map(|()| first)
    .unwrap();
    first.stop().await;
    assert!(dir.path().join("startup.xml").exists());

    let second = start_in(dir.path(), "").await;
    let addr = second.local_addr;
    let second = tokio::task::spawn_blocking(move || {
        assert_eq!(engine_peers(&second), vec![ip("127.0.0.11")]);
        let mut admin = Client::connect_hello(addr, ADMIN);
        let r = get_config(&mut admin, "running");
        assert!(r.contains("127.0.0.11") && !r.contains("127.0.0.41"), "{r}");
        // copy startup → running applies it; delete-config empties startup.
        ok(&admin.rpc("<delete-config><target><startup/></target></delete-config>"));
        assert!(!get_config(&mut admin, "startup").contains("<bgp"));
        second
    })
    .await
    .unwrap();
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_toml_seeds_startup_once_and_a_corrupt_startup_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let toml = "[bgp]\nlocal_as = 65000\nrouter_id = \"10.255.0.1\"\n\n[[bgp.peers]]\n\
                address = \"127.0.0.51\"\nremote_as = 65010\npassive = true\n";
    let first = start_in(dir.path(), toml).await;
    assert!(dir.path().join("startup.xml").exists());
    let addr = first.local_addr;
    let first = tokio::task::spawn_blocking(move || {
        assert_eq!(engine_peers(&first), vec![ip("127.0.0.51")]);
        let mut admin = Client::connect_hello(addr, ADMIN);
        let r = get_config(&mut admin, "startup");
        assert!(r.contains("127.0.0.51"), "{r}");
        // The operator's change is saved to startup.
        ok(&admin.rpc(&edit_rpc(
            "running",
            "",
            &bgp(r#"<neighbors><neighbor nc:operation="delete"><address>127.0.0.51</address></neighbor></neighbors>"#),
        )));
        ok(&admin.rpc("<copy-config><target><startup/></target><source><running/></source></copy-config>"));
        first
    })
    .await
    .unwrap();
    first.stop().await;
    // The same TOML again: startup wins, the [bgp] table is not applied.
    let second = start_in(dir.path(), toml).await;
    let second = tokio::task::spawn_blocking(move || {
        assert_eq!(engine_peers(&second), Vec::<IpAddr>::new());
        second
    })
    .await
    .unwrap();
    second.stop().await;
    // A corrupt startup: the agent refuses to start, naming the file.
    std::fs::write(
        dir.path().join("startup.xml"),
        "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as>x",
    )
    .unwrap();
    let config = Config::from_toml(&test_config(dir.path(), toml)).unwrap();
    let e = match ncagent::agent::start(config).await {
        Ok(_) => panic!("started on a corrupt startup"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("startup.xml"), "{e}");
}

/// RFC 6241 §7.9: kill-session releases the killed session's locks at once
/// and rolls back its non-persistent confirmed commit (§8.4.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_session_releases_locks_and_rolls_back() {
    with_agent("", |addr, running| {
        let mut a = Client::connect_hello(addr, OPERATOR);
        let mut admin = Client::connect_hello(addr, ADMIN);
        let a_id = text_of(&a.server_hello, "session-id").unwrap().to_owned();
        ok(&a.rpc(&edit_rpc("running", "", &base())));
        ok(&a.rpc("<lock><target><candidate/></target></lock>"));
        ok(&a.rpc("<lock><target><startup/></target></lock>"));
        ok(&a.rpc(&edit_rpc(
            "candidate",
            "",
            &bgp(&neighbor("127.0.0.61", None)),
        )));
        ok(&a.rpc("<commit><confirmed/></commit>"));
        assert_eq!(
            engine_peers(running),
            vec![ip("127.0.0.11"), ip("127.0.0.61")]
        );
        let r = admin.rpc(
            "<copy-config><target><startup/></target><source><running/></source></copy-config>",
        );
        assert_eq!(tag(&r), "in-use", "{r}");
        assert_eq!(text_of(&r, "session-id"), Some(a_id.as_str()), "{r}");
        ok(&admin.rpc(&format!(
            "<kill-session><session-id>{a_id}</session-id></kill-session>"
        )));
        // Released by the time kill-session answered.
        ok(&admin.rpc("<lock><target><candidate/></target></lock>"));
        ok(&admin.rpc("<lock><target><startup/></target></lock>"));
        eventually(
            "rollback of the killed session's commit",
            Duration::from_secs(5),
            || engine_peers(running) == vec![ip("127.0.0.11")],
        );
        assert!(!get_config(&mut admin, "running").contains("127.0.0.61"));
    })
    .await;
}
