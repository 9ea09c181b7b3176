//! Notifications over real SSH sessions (RFC 5277 create-subscription with
//! replay and interleave, RFC 6470 session events), with libssh2 as the
//! client; every event XML is validated against the YANG modules with
//! yanglint.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use common::*;

const NOTIF_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn subscribe(params: &str) -> String {
    format!("<create-subscription xmlns=\"{NOTIF_NS}\">{params}</create-subscription>")
}

fn refresh_all() -> &'static str {
    "<refresh-bgp-vpn-target xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><all/><direction>import</direction></refresh-bgp-vpn-target>"
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Validates a whole `<notification>` message against the YANG modules
/// of yang/ (RFC 6470, RFC 5277, ncagent-bgp-events) with yanglint.
fn validate(msg: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("n.xml");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(msg.as_bytes())
        .unwrap();
    // Operational data holding the config-change targets of the tests
    // (instance-identifier require-instance, RFC 7950 §9.13).
    let operational = dir.path().join("operational.xml");
    std::fs::write(
        &operational,
        "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><neighbors/></bgp>",
    )
    .unwrap();
    let yang = concat!(env!("CARGO_MANIFEST_DIR"), "/yang");
    let out = std::process::Command::new("yanglint")
        .args(["-t", "nc-notif", "-p", yang, "-O"])
        .arg(&operational)
        .arg(format!("{yang}/ietf-netconf-notifications@2012-02-06.yang"))
        .arg(format!("{yang}/nc-notifications@2008-07-14.yang"))
        .arg(format!("{yang}/ncagent-bgp-events@2026-11-29.yang"))
        // For the instance-identifiers of config-change targets.
        .arg(format!("{yang}/ncagent-bgp@2026-11-29.yang"))
        .arg(&file)
        .output()
        .expect("yanglint (libyang2-tools) is installed");
    assert!(
        out.status.success(),
        "{msg}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Reads messages until one contains `want`; returns it and the
/// notifications read on the way. Bounded by the client's 20 s read limit
/// and 200 messages.
fn recv_until(c: &mut Client, want: &str) -> (String, Vec<String>) {
    let mut seen = Vec::new();
    for _ in 0..200 {
        let m = c.recv().expect("session open");
        if m.contains(want) {
            return (m, seen);
        }
        seen.push(m);
    }
    panic!("no message with {want} in 200: {seen:?}");
}

/// Sends an rpc without waiting for the reply.
fn send_rpc(c: &mut Client, id: &str, body: &str) {
    let msg = format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"{id}\">{body}</rpc>");
    c.send_framed(msg.as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_events_interleaved_with_replies() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        // RFC 5277 §3.1.1, §6.1.
        assert!(a.server_hello.contains("urn:ietf:params:netconf:capability:notification:1.0"));
        assert!(a.server_hello.contains("urn:ietf:params:netconf:capability:interleave:1.0"));
        let r = a.rpc(&subscribe("<stream>NETCONF</stream>"));
        assert!(r.contains("<ok/>"), "{r}");

        // Another client logs in: RFC 6470 netconf-session-start.
        let mut b = Client::connect_hello(addr, MONITOR);
        let b_id = text_of(&b.server_hello, "session-id").unwrap().to_owned();
        let (start, _) = recv_until(&mut a, "<netconf-session-start");
        assert!(start.contains("<username>monitor</username>"), "{start}");
        assert!(start.contains(&format!("<session-id>{b_id}</session-id>")), "{start}");
        assert!(start.contains("<source-host>127.0.0.1</source-host>"), "{start}");
        assert!(text_of(&start, "eventTime").unwrap().contains('.'), "fraction: {start}");
        validate(&start);

        // Interleave (RFC 5277 §6): an rpc on the subscribed session is
        // answered; replies stay in order whatever events come between.
        send_rpc(&mut a, "m1", "<get><filter type=\"subtree\"><netconf xmlns=\"urn:ietf:params:xml:ns:netmod:notification\"/></filter></get>");
        let b2 = Client::connect_hello(addr, OPERATOR);
        send_rpc(&mut a, "m2", &subscribe(""));
        drop(b2);
        let (r1, _) = recv_until(&mut a, "message-id=\"m1\"");
        // RFC 5277 §3.2.5: the stream list, with replay support.
        assert!(r1.contains("<name>NETCONF</name>"), "{r1}");
        assert!(r1.contains("<replaySupport>true</replaySupport>"), "{r1}");
        assert!(r1.contains("<replayLogCreationTime>"), "{r1}");
        let (r2, _) = recv_until(&mut a, "message-id=\"m2\"");
        // One subscription per session.
        assert_eq!(text_of(&r2, "error-tag"), Some("in-use"), "{r2}");

        // The other client leaves with close-session: session-end, closed.
        let r = b.rpc("<close-session/>");
        assert!(r.contains("<ok/>"), "{r}");
        let want = format!("<session-id>{b_id}</session-id>");
        let mut end = None;
        for _ in 0..10 {
            let (m, _) = recv_until(&mut a, "<netconf-session-end");
            if m.contains(&want) {
                end = Some(m);
                break;
            }
        }
        let end = end.unwrap();
        assert!(end.contains("<termination-reason>closed</termination-reason>"), "{end}");
        validate(&end);

        // RFC 6022: out-notifications counts what this session was sent.
        let a_id = text_of(&a.server_hello, "session-id").unwrap().to_owned();
        send_rpc(&mut a, "m3", "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><sessions/></netconf-state></filter></get>");
        let (r3, _) = recv_until(&mut a, "message-id=\"m3\"");
        let row = r3.split("<session>").find(|s| s.contains(&format!("<session-id>{a_id}</session-id>"))).unwrap();
        let n: u64 = text_of(row, "out-notifications").unwrap().parse().unwrap();
        assert!(n >= 4, "{row}");

        // Parameter errors of RFC 5277 §2.1.1, on a fresh session.
        let mut c = Client::connect_hello(addr, ADMIN);
        let r = c.rpc(&subscribe("<stream>SYSLOG</stream>"));
        assert_eq!(text_of(&r, "error-tag"), Some("invalid-value"), "{r}");
        let r = c.rpc(&subscribe("<stopTime>2026-01-01T00:00:00Z</stopTime>"));
        assert_eq!(text_of(&r, "error-tag"), Some("missing-element"), "{r}");
        assert_eq!(text_of(&r, "bad-element"), Some("startTime"), "{r}");
        let future = rfc3339(SystemTime::now() + Duration::from_secs(3600));
        let r = c.rpc(&subscribe(&format!("<startTime>{future}</startTime>")));
        assert_eq!(text_of(&r, "error-tag"), Some("bad-element"), "{r}");
        assert_eq!(text_of(&r, "bad-element"), Some("startTime"), "{r}");
        let r = c.rpc(&subscribe("<startTime>2026-01-02T00:00:00Z</startTime><stopTime>2026-01-01T00:00:00Z</stopTime>"));
        assert_eq!(text_of(&r, "bad-element"), Some("stopTime"), "{r}");
        let r = c.rpc(&subscribe("<startTime>yesterday</startTime>"));
        assert_eq!(text_of(&r, "error-tag"), Some("bad-element"), "{r}");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_after_reconnect_and_stop_time() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        let r = a.rpc(&subscribe(""));
        assert!(r.contains("<ok/>"), "{r}");
        let before = SystemTime::now();
        // A soft reset (no peers configured: completed, no peer) and a
        // session that comes and goes.
        let r = a.rpc(refresh_all());
        assert!(r.contains("<ok/>"), "{r}");
        let mut b = Client::connect_hello(addr, MONITOR);
        let b_id = text_of(&b.server_hello, "session-id").unwrap().to_owned();
        b.rpc("<close-session/>");
        let (last, seen) = recv_until(&mut a, "<netconf-session-end");
        let soft = seen
            .iter()
            .find(|m| m.contains("<soft-reset"))
            .expect("soft-reset event");
        assert!(soft.contains("<outcome>completed</outcome>"), "{soft}");
        validate(soft);
        let last_time = text_of(&last, "eventTime").unwrap().to_owned();
        // The subscriber goes away without close-session.
        drop(a);

        // It comes back and replays from a time before the events.
        let mut a2 = Client::connect_hello(addr, ADMIN);
        let r = a2.rpc(&subscribe(&format!(
            "<startTime>{}</startTime>",
            rfc3339(before)
        )));
        assert!(r.contains("<ok/>"), "{r}");
        let (_, replayed) = recv_until(&mut a2, "<replayComplete");
        assert!(
            replayed.iter().any(|m| m.contains("<soft-reset")),
            "{replayed:?}"
        );
        assert!(
            replayed.iter().any(|m| m.contains("<netconf-session-start")
                && m.contains(&format!("<session-id>{b_id}</session-id>"))),
            "{replayed:?}"
        );
        // The first subscriber's own end, dropped (no close-session).
        let dropped = replayed
            .iter()
            .find(|m| m.contains("<termination-reason>dropped</termination-reason>"))
            .expect("dropped session-end");
        validate(dropped);
        // Replayed events are in time order.
        let times: Vec<&str> = replayed
            .iter()
            .map(|m| text_of(m, "eventTime").unwrap())
            .collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
        // Live events follow the replay on the same subscription.
        let r = a2.rpc(refresh_all());
        assert!(r.contains("<ok/>") || r.contains("<soft-reset"), "{r}");
        recv_until(&mut a2, "<soft-reset");

        // startTime + stopTime in the past: replay, replayComplete,
        // notificationComplete; then the session may subscribe again.
        let mut c = Client::connect_hello(addr, ADMIN);
        let r = c.rpc(&subscribe(&format!(
            "<startTime>{}</startTime><stopTime>{last_time}</stopTime>",
            rfc3339(before)
        )));
        assert!(r.contains("<ok/>"), "{r}");
        let (_, replayed) = recv_until(&mut c, "<replayComplete");
        assert!(!replayed.is_empty());
        for m in &replayed {
            assert!(
                text_of(m, "eventTime").unwrap() <= last_time.as_str(),
                "{m}"
            );
        }
        let (done, _) = recv_until(&mut c, "<notificationComplete");
        validate(&done);
        let r = c.rpc(&subscribe(""));
        assert!(r.contains("<ok/>"), "{r}");
    })
    .await;
    agent.stop().await;
}

/// A subscriber that stops reading: other sessions' replies are not
/// delayed, its queue stays bounded, and it is closed (docs/notifications.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_is_closed_without_delaying_others() {
    let agent =
        TestAgent::start("[limits]\nreplay_bytes = 4096\nmax_notification_queue = 16384\n").await;
    let addr = agent.addr;
    let state = agent.running.as_ref().unwrap().state.clone();
    blocking(move || {
        // A watcher that reads everything.
        let mut watch = Client::connect_hello(addr, ADMIN);
        assert!(watch.rpc(&subscribe("")).contains("<ok/>"));

        // The slow subscriber: a 16 KiB channel window, and it never reads.
        let s = ssh_session(addr);
        s.userauth_password(MONITOR.0, MONITOR.1).unwrap();
        let mut ch = s.channel_open("session", 16 * 1024, 16 * 1024, None).unwrap();
        ch.subsystem("netconf").unwrap();
        let hello = format!("<hello xmlns=\"{BASE_NS}\"><capabilities><capability>urn:ietf:params:netconf:base:1.0</capability></capabilities></hello>]]>]]>");
        ch.write_all(hello.as_bytes()).unwrap();
        let rpc = format!("<rpc xmlns=\"{BASE_NS}\" message-id=\"1\">{}</rpc>]]>]]>", subscribe(""));
        ch.write_all(rpc.as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let slow_id = loop {
            assert!(Instant::now() < deadline, "slow session not seen");
            let rows = state.sessions_snapshot();
            if let Some(r) = rows.iter().find(|r| r.user == MONITOR.0)
                && state.notifier.is_subscribed(r.id)
            {
                break r.id;
            }
            std::thread::sleep(Duration::from_millis(20));
        };

        // Another session produces events as fast as it can (one per
        // refresh) and measures its own replies.
        let mut w = Client::connect_hello(addr, OPERATOR);
        let t0 = Instant::now();
        let mut worst = Duration::ZERO;
        for _ in 0..300 {
            let t = Instant::now();
            let r = w.rpc(refresh_all());
            assert!(r.contains("<ok/>"), "{r}");
            worst = worst.max(t.elapsed());
        }
        let total = t0.elapsed();
        // Replies never waited for the slow subscriber (ncclient-free, one
        // at a time: well under a second each even on a busy machine).
        assert!(worst < Duration::from_secs(2), "worst reply {worst:?}");
        assert!(total < Duration::from_secs(60), "total {total:?}");

        // The slow subscriber was closed by the overflow policy.
        let deadline = Instant::now() + Duration::from_secs(10);
        while state.sessions_snapshot().iter().any(|r| r.id == slow_id) {
            assert!(Instant::now() < deadline, "slow subscriber still open");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(state.notifier.overflows.load(Ordering::Relaxed), 1);
        // The watcher, which reads, is still subscribed and saw it end.
        let want = format!("<session-id>{slow_id}</session-id>");
        let mut end = None;
        for _ in 0..400 {
            let m = watch.recv().expect("watcher open");
            if m.contains("<netconf-session-end") && m.contains(&want) {
                end = Some(m);
                break;
            }
        }
        let end = end.expect("session-end of the slow subscriber");
        assert!(end.contains("<termination-reason>other</termination-reason>"), "{end}");
        validate(&end);
        // The replay buffer stayed within its bound.
        let (_, bytes) = state.notifier.replay_len();
        assert!(bytes <= 4096, "{bytes}");
        drop(ch);
    })
    .await;
    agent.stop().await;
}

/// Every kind of event, as the agent writes it, is valid against its YANG
/// module (RFC 6470 config-change and confirmed-commit through the API the
/// datastore operations call; the BGP events with every cause).
#[tokio::test]
async fn every_event_kind_is_valid_yang() {
    use ncagent::bgp::{
        Direction, DownCause, PeerEvent, PeerSelector, RefreshError, RefreshOutcome, SessionState,
        SkipReason,
    };
    use ncagent::netconf::notify::*;
    use ncagent::northbound::events::{peer_state_xml, soft_reset_xml};

    let hub = Notifier::new(NotifyLimits::default());
    let mut rx = hub.attach(1);
    hub.subscribe(1, None, None, None).unwrap();
    let who = SessionInfo {
        session_id: 4,
        username: "ops".into(),
        source_host: Some("::1".parse().unwrap()),
    };
    hub.config_change(
        &ChangedBy::User(who.clone()),
        "running",
        &[Edit {
            operation: EditOperation::Merge,
            target: "/nbgp:bgp/nbgp:neighbors".into(),
            namespaces: vec![("nbgp".into(), "urn:ncagent:yang:ncagent-bgp".into())],
        }],
    );
    hub.config_change(&ChangedBy::Server, "startup", &[]);
    hub.confirmed_commit(ConfirmEvent::Start, Some(&who), Some(600));
    hub.confirmed_commit(ConfirmEvent::Timeout, None, None);
    hub.session_end(&who, TerminationReason::Killed, Some(9));
    let a = "10.0.0.1".parse().unwrap();
    let outcome = RefreshOutcome {
        refreshed: vec![a],
        skipped: vec![(
            "2001:db8::2".parse().unwrap(),
            SkipReason::RouteRefreshNotNegotiated,
        )],
    };
    hub.publish(soft_reset_xml(
        &PeerSelector::Group("g1".into()),
        Direction::Export,
        &Ok(outcome),
    ));
    hub.publish(soft_reset_xml(
        &PeerSelector::Ipv6("2001:db8::2".parse().unwrap()),
        Direction::Import,
        &Err(RefreshError::RouteRefreshNotNegotiated(
            "2001:db8::2".parse().unwrap(),
        )),
    ));
    hub.publish(soft_reset_xml(
        &PeerSelector::External,
        Direction::Import,
        &Err(RefreshError::Timeout),
    ));
    for cause in [
        None,
        Some(DownCause::NotificationSent {
            code: 4,
            subcode: 0,
        }),
        Some(DownCause::NotificationReceived {
            code: 6,
            subcode: 2,
        }),
        Some(DownCause::Closed("connection closed by peer".into())),
    ] {
        let up = cause.is_none();
        hub.publish(peer_state_xml(&PeerEvent {
            address: a,
            remote_as: 65001,
            previous: if up {
                SessionState::OpenConfirm
            } else {
                SessionState::Established
            },
            state: if up {
                SessionState::Established
            } else {
                SessionState::Idle
            },
            cause,
            time: SystemTime::now(),
        }));
    }
    let mut n = 0;
    while let Some(o) = rx.try_recv() {
        validate(&o.message);
        n += 1;
    }
    assert_eq!(n, 12);
}

/// A subscriber only listens: the idle timeout does not close it, while
/// it still closes a session that neither subscribes nor sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_spares_subscribers() {
    let agent = TestAgent::start("[limits]\nidle_timeout_secs = 1\n").await;
    let addr = agent.addr;
    blocking(move || {
        let mut sub = Client::connect_hello(addr, ADMIN);
        assert!(sub.rpc(&subscribe("")).contains("<ok/>"));
        let mut idle = Client::connect_hello(addr, MONITOR);
        // Drain the session-start of `idle` so that the next read waits.
        recv_until(&mut sub, "<netconf-session-start");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(idle.closed(), "an idle session is closed");
        let r = sub.rpc("<get><filter type=\"subtree\"><netconf xmlns=\"urn:ietf:params:xml:ns:netmod:notification\"/></filter></get>");
        // Notifications (the idle session's end) may come first.
        let r = if r.contains("<rpc-reply") { r } else { recv_until(&mut sub, "<rpc-reply").0 };
        assert!(r.contains("<name>NETCONF</name>"), "{r}");
    })
    .await;
    agent.stop().await;
}

/// RFC 6470: a killed session's end names the killer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_end_of_a_killed_session_names_the_killer() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        let a_id = text_of(&a.server_hello, "session-id").unwrap().to_owned();
        assert!(a.rpc(&subscribe("")).contains("<ok/>"));
        let b = Client::connect_hello(addr, MONITOR);
        let b_id = text_of(&b.server_hello, "session-id").unwrap().to_owned();
        // Killed before the server has read its hello, b would never have
        // started (RFC 6470: no start, so no end): wait for its start.
        let want_start = format!("<session-id>{b_id}</session-id>");
        for _ in 0..10 {
            let (m, _) = recv_until(&mut a, "<netconf-session-start");
            if m.contains(&want_start) {
                break;
            }
        }
        send_rpc(
            &mut a,
            "k",
            &format!("<kill-session><session-id>{b_id}</session-id></kill-session>"),
        );
        let (r, early) = recv_until(&mut a, "message-id=\"k\"");
        assert!(r.contains("<ok/>"), "{r}");
        let want = format!("<session-id>{b_id}</session-id>");
        // The killed session may end, and its end be announced, before the
        // reply to kill-session is written.
        let mut end = early
            .into_iter()
            .find(|m| m.contains("<netconf-session-end") && m.contains(&want));
        for _ in 0..10 {
            if end.is_some() {
                break;
            }
            let (m, _) = recv_until(&mut a, "<netconf-session-end");
            if m.contains(&want) {
                end = Some(m);
                break;
            }
        }
        let end = end.unwrap();
        assert!(
            end.contains("<termination-reason>killed</termination-reason>"),
            "{end}"
        );
        assert!(
            end.contains(&format!("<killed-by>{a_id}</killed-by>")),
            "{end}"
        );
        validate(&end);
        drop(b);
    })
    .await;
    agent.stop().await;
}

/// RFC 6470 §2.1: changes of running (by whom, which nodes) and the
/// confirmed-commit life cycle reach a subscriber.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_changes_and_confirmed_commits_are_announced() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        let r = a.rpc(&subscribe("<stream>NETCONF</stream>"));
        assert!(r.contains("<ok/>"), "{r}");
        let mut b = Client::connect_hello(addr, OPERATOR);
        let b_id = text_of(&b.server_hello, "session-id").unwrap().to_owned();
        let bgp = "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as>65000</as>\
                   <router-id>10.255.0.1</router-id><route-target>65000:100</route-target></global>\
                   <neighbors><neighbor><address>127.0.0.11</address><remote-as>65001</remote-as>\
                   <transport><passive-mode>true</passive-mode></transport></neighbor></neighbors></bgp>";
        let r = b.rpc(&format!(
            "<edit-config><target><running/></target><config>{bgp}</config></edit-config>"
        ));
        assert!(r.contains("<ok/>"), "{r}");
        let (change, _) = recv_until(&mut a, "<netconf-config-change");
        assert!(change.contains("<username>operator</username>"), "{change}");
        assert!(change.contains(&format!("<session-id>{b_id}</session-id>")), "{change}");
        assert!(change.contains("<datastore>running</datastore>"), "{change}");
        assert!(change.contains("<operation>create</operation>"), "{change}");
        assert!(change.contains("bgp:neighbor[bgp:address=&apos;127.0.0.11&apos;]"), "{change}");
        assert!(change.contains("bgp:route-target[.=&apos;65000:100&apos;]"), "{change}");

        // A confirmed commit that nobody confirms (RFC 6241 §8.4): start
        // with its timeout, then the timeout, and running changed back by
        // the server.
        let r = b.rpc(
            "<edit-config><target><candidate/></target><config>\
             <bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global>\
             <route-target>65000:200</route-target></global></bgp></config></edit-config>",
        );
        assert!(r.contains("<ok/>"), "{r}");
        let r = b.rpc("<commit><confirmed/><confirm-timeout>1</confirm-timeout></commit>");
        assert!(r.contains("<ok/>"), "{r}");
        // The change of running is announced as it is applied, the start
        // once the commit is answered.
        let (start, before) = recv_until(&mut a, "<netconf-confirmed-commit");
        assert!(start.contains("<confirm-event>start</confirm-event>"), "{start}");
        assert!(start.contains("<timeout>1</timeout>"), "{start}");
        let added = before
            .iter()
            .find(|m| m.contains("<netconf-config-change"))
            .expect("the committed change announced before the start");
        assert!(added.contains("route-target[.=&apos;65000:200&apos;]"), "{added}");
        let (timeout, _) = recv_until(&mut a, "<netconf-confirmed-commit");
        assert!(timeout.contains("<confirm-event>timeout</confirm-event>"), "{timeout}");
        let (undone, _) = recv_until(&mut a, "<netconf-config-change");
        assert!(undone.contains("<server/>"), "{undone}");
        assert!(undone.contains("<operation>delete</operation>"), "{undone}");
        assert!(undone.contains("route-target[.=&apos;65000:200&apos;]"), "{undone}");
    })
    .await;
}

const NCN_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";
const EV_NS: &str = "urn:ncagent:yang:ncagent-bgp-events";

/// An XPath filter (RFC 5277 §3.6, RFC 6241 §8.9) with its prefixes
/// declared on `<filter>`.
fn xpath_filter(select: &str) -> String {
    format!(
        "<filter type=\"xpath\" xmlns:ncn=\"{NCN_NS}\" xmlns:ev=\"{EV_NS}\" select=\"{select}\"/>"
    )
}

/// Notifications only (replies are left out).
fn notifications(ms: &[String]) -> Vec<&String> {
    ms.iter().filter(|m| m.contains("<notification")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xpath_filters_select_events_live_and_in_replay() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let before = SystemTime::now();
        // Only the start of a session of user monitor.
        let mut a = Client::connect_hello(addr, ADMIN);
        let r = a.rpc(&subscribe(&xpath_filter(
            "/ncn:netconf-session-start[ncn:username='monitor']",
        )));
        assert!(r.contains("<ok/>"), "{r}");
        // Only soft resets (the element's own name, from any module prefix
        // declared on the filter).
        let mut s = Client::connect_hello(addr, OPERATOR);
        let r = s.rpc(&subscribe(&xpath_filter("/ev:soft-reset")));
        assert!(r.contains("<ok/>"), "{r}");

        // Sessions of operator and monitor come and go, then a soft reset,
        // then one more monitor session (the marker for a).
        let mut o1 = Client::connect_hello(addr, OPERATOR);
        let mut m1 = Client::connect_hello(addr, MONITOR);
        let m1_id = text_of(&m1.server_hello, "session-id").unwrap().to_owned();
        o1.rpc("<close-session/>");
        m1.rpc("<close-session/>");
        send_rpc(&mut s, "r1", refresh_all());
        let (soft, seen_s) = recv_until(&mut s, "<soft-reset");
        validate(&soft);
        let m2 = Client::connect_hello(addr, MONITOR);
        let m2_id = text_of(&m2.server_hello, "session-id").unwrap().to_owned();
        let (last, seen_a) = recv_until(&mut a, &format!("<session-id>{m2_id}</session-id>"));
        assert!(last.contains("<netconf-session-start"), "{last}");
        // What a received: monitor's two starts and nothing else (no
        // session-end, no operator start, no soft reset).
        let got = notifications(&seen_a);
        assert_eq!(got.len(), 1, "{seen_a:?}");
        assert!(got[0].contains("<netconf-session-start"), "{}", got[0]);
        assert!(
            got[0].contains(&format!("<session-id>{m1_id}</session-id>")),
            "{}",
            got[0]
        );
        // What s received before its soft reset: its reply at most, no
        // session event.
        assert!(notifications(&seen_s).is_empty(), "{seen_s:?}");
        drop(m2);

        // Replay honours the filter: the closed sessions' ends only.
        let mut c = Client::connect_hello(addr, ADMIN);
        let r = c.rpc(&subscribe(&format!(
            "{}<startTime>{}</startTime>",
            xpath_filter("/ncn:netconf-session-end[ncn:termination-reason='closed']"),
            rfc3339(before)
        )));
        assert!(r.contains("<ok/>"), "{r}");
        let (_, replayed) = recv_until(&mut c, "<replayComplete");
        let replayed = notifications(&replayed);
        assert!(!replayed.is_empty());
        for m in &replayed {
            assert!(m.contains("<netconf-session-end"), "{m}");
            assert!(
                m.contains("<termination-reason>closed</termination-reason>"),
                "{m}"
            );
        }
        assert!(
            replayed
                .iter()
                .any(|m| m.contains(&format!("<session-id>{m1_id}</session-id>")))
        );

        // A boolean expression, partly relative to the event element (the
        // context node): a session-start of a session after m2.
        let mut d = Client::connect_hello(addr, ADMIN);
        let d_id = text_of(&d.server_hello, "session-id").unwrap().to_owned();
        let r = d.rpc(&subscribe(&xpath_filter(&format!(
            "/ncn:netconf-session-start and ncn:session-id &gt; {d_id}"
        ))));
        assert!(r.contains("<ok/>"), "{r}");
        let e = Client::connect_hello(addr, MONITOR);
        let e_id = text_of(&e.server_hello, "session-id").unwrap().to_owned();
        drop(e);
        let (m, seen) = recv_until(&mut d, "<notification");
        assert!(
            m.contains(&format!("<session-id>{e_id}</session-id>")),
            "{m}"
        );
        assert!(m.contains("<netconf-session-start"), "{m}");
        assert!(seen.is_empty(), "{seen:?}");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_xpath_filters_are_refused_like_a_get_select() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        // Does not parse: invalid-value (docs/errors.md, the read path's
        // answer to a bad select).
        let r = a.rpc(&subscribe(&xpath_filter("/ncn:netconf-session-start[")));
        assert!(r.contains("<error-tag>invalid-value</error-tag>"), "{r}");
        assert!(r.contains("<bad-attribute>select</bad-attribute>"), "{r}");
        assert!(r.contains("<bad-element>filter</bad-element>"), "{r}");
        // A prefix not declared: bad-attribute.
        let r = a.rpc(&subscribe(&xpath_filter("/zz:netconf-session-start")));
        assert!(r.contains("<error-tag>bad-attribute</error-tag>"), "{r}");
        assert!(r.contains("<bad-attribute>select</bad-attribute>"), "{r}");
        // No select: missing-attribute (RFC 6241 §8.9.1).
        let r = a.rpc(&subscribe("<filter type=\"xpath\"/>"));
        assert!(
            r.contains("<error-tag>missing-attribute</error-tag>"),
            "{r}"
        );
        // Another type: bad-attribute type.
        let r = a.rpc(&subscribe("<filter type=\"regex\"/>"));
        assert!(r.contains("<error-tag>bad-attribute</error-tag>"), "{r}");
        assert!(r.contains("<bad-attribute>type</bad-attribute>"), "{r}");
        // None of them subscribed the session: a valid one now succeeds.
        let r = a.rpc(&subscribe(&xpath_filter("/ncn:netconf-session-end")));
        assert!(r.contains("<ok/>"), "{r}");
    })
    .await;
    agent.stop().await;
}
