//! Access control (RFC 8341, docs/nacm.md) over real SSH sessions: the
//! shipped rules reproduce the levels' decisions, rules configured over
//! NETCONF apply from the next RPC, and reads, writes and notifications
//! are checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

const NACM_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm";
const BGP_NS: &str = "urn:ncagent:yang:ncagent-bgp";
const BVT_NS: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";
const NOTIF_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";

const VISITOR: (&str, &str) = ("visitor", "visitor-secret-1");
const RESCUE: (&str, &str) = ("rescue", "rescue-secret-1");

/// A level-0 user and a recovery user (level 3, `recovery = true`) on top
/// of the common ones (admin 3, operator 2, monitor 1).
fn extra_users() -> String {
    let v = ncagent::auth::hash_password(VISITOR.1).unwrap();
    let r = ncagent::auth::hash_password(RESCUE.1).unwrap();
    format!(
        "\n[[users]]\nname = \"{}\"\npassword_hash = \"{v}\"\nlevel = 0\n\
         \n[[users]]\nname = \"{}\"\npassword_hash = \"{r}\"\nlevel = 3\nrecovery = true\n",
        VISITOR.0, RESCUE.0
    )
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn tag(r: &str) -> Option<&str> {
    text_of(r, "error-tag")
}

fn denied(r: &str) -> bool {
    tag(r) == Some("access-denied")
}

fn ok(r: &str) {
    assert!(r.contains("<ok/>"), "{r}");
}

fn refresh() -> String {
    format!(
        "<refresh-bgp-vpn-target xmlns=\"{BVT_NS}\"><all/><direction>import</direction></refresh-bgp-vpn-target>"
    )
}

fn nacm(body: &str) -> String {
    format!("<nacm xmlns=\"{NACM_NS}\">{body}</nacm>")
}

/// A rule-list of one rule.
fn rule_list(name: &str, group: &str, rule: &str) -> String {
    nacm(&format!(
        "<rule-list><name>{name}</name><group>{group}</group><rule><name>{name}-rule</name>{rule}</rule></rule-list>"
    ))
}

fn group(name: &str, user: &str) -> String {
    nacm(&format!(
        "<groups><group><name>{name}</name><user-name>{user}</user-name></group></groups>"
    ))
}

fn edit(target: &str, config: &str) -> String {
    format!("<edit-config><target><{target}/></target><config>{config}</config></edit-config>")
}

/// A level-3 session commits `config` through candidate.
fn commit_rules(admin: &mut Client, config: &str) {
    ok(&admin.rpc(&edit("candidate", config)));
    ok(&admin.rpc("<commit/>"));
}

fn bgp_config() -> String {
    format!(
        "<bgp xmlns=\"{BGP_NS}\"><global><as>65000</as><router-id>10.255.0.1</router-id>\
         <route-target>65000:100</route-target></global><neighbors><neighbor>\
         <address>127.0.0.11</address><remote-as>65001</remote-as>\
         <transport><passive-mode>true</passive-mode></transport></neighbor></neighbors></bgp>"
    )
}

fn get_config(c: &mut Client) -> String {
    let r = c.rpc("<get-config><source><running/></source></get-config>");
    assert!(r.contains("<data"), "{r}");
    r
}

fn counter(c: &mut Client, name: &str) -> u64 {
    let r = c.rpc(&format!(
        "<get><filter type=\"subtree\"><nacm xmlns=\"{NACM_NS}\"><{name}/></nacm></filter></get>"
    ));
    text_of(&r, name)
        .unwrap_or_else(|| panic!("no {name}: {r}"))
        .parse()
        .unwrap()
}

/// Every level decision of docs/errors.md, by the shipped rules: (level
/// needed, operation). A user below the level gets protocol
/// access-denied; at or above it, anything but access-denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_rules_reproduce_every_level_decision() {
    let agent = TestAgent::start(&extra_users()).await;
    let addr = agent.addr;
    blocking(move || {
        let table: Vec<(u8, String)> = vec![
            (1, "<get/>".into()),
            (1, "<get-config><source><running/></source></get-config>".into()),
            (
                1,
                "<get-schema xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><identifier>ncagent-bgp</identifier></get-schema>".into(),
            ),
            (2, "<lock><target><candidate/></target></lock>".into()),
            (2, "<unlock><target><candidate/></target></unlock>".into()),
            (2, "<validate><source><running/></source></validate>".into()),
            (2, edit("candidate", &bgp_config())),
            (2, "<discard-changes/>".into()),
            (2, "<commit/>".into()),
            (2, "<cancel-commit/>".into()),
            (2, "<copy-config><target><candidate/></target><source><running/></source></copy-config>".into()),
            (2, refresh()),
            (3, "<copy-config><target><startup/></target><source><running/></source></copy-config>".into()),
            (3, "<copy-config><target><candidate/></target><source><startup/></source></copy-config>".into()),
            (3, "<delete-config><target><startup/></target></delete-config>".into()),
            (3, "<kill-session><session-id>999999</session-id></kill-session>".into()),
            // Reading and writing the rules.
            (3, edit("candidate", &nacm("<read-default>deny</read-default>"))),
            (1, format!("<create-subscription xmlns=\"{NOTIF_NS}\"/>")),
        ];
        for (level, user) in [(0u8, VISITOR), (1, MONITOR), (2, OPERATOR), (3, ADMIN)] {
            let mut c = Client::connect_hello(addr, user);
            for (need, op) in &table {
                let r = c.rpc(op);
                if level < *need {
                    assert!(denied(&r), "level {level} {op}: {r}");
                    // Operations: the protocol layer; the /nacm write of
                    // level 2 is a data write (application layer).
                    let layer = if op.contains(NACM_NS) && level == 2 {
                        "application"
                    } else {
                        "protocol"
                    };
                    assert_eq!(text_of(&r, "error-type"), Some(layer), "{r}");
                    assert!(r.contains(user.0), "names the user: {r}");
                } else {
                    assert!(!denied(&r), "level {level} {op}: {r}");
                }
                if op.contains("candidate") && level >= 2 {
                    c.rpc("<discard-changes/>");
                }
            }
            // close-session is always permitted (RFC 8341 §3.4.4).
            ok(&c.rpc("<close-session/>"));
        }
        // The rules are read by level 3 only.
        let mut admin = Client::connect_hello(addr, ADMIN);
        assert!(get_config(&mut admin).contains("<nacm"));
        let mut op = Client::connect_hello(addr, OPERATOR);
        assert!(!get_config(&mut op).contains("<nacm"));
        let r = op.rpc(&format!("<get><filter type=\"subtree\"><nacm xmlns=\"{NACM_NS}\"/></filter></get>"));
        assert!(!r.contains("denied-operations"), "{r}");
        // Every denial above was counted.
        assert!(counter(&mut admin, "denied-operations") >= 20);
        assert!(counter(&mut admin, "denied-data-writes") >= 1);
    })
    .await;
    agent.stop().await;
}

/// A rule committed by a level-3 user applies to the next RPC of a
/// session already open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_rule_applies_to_open_sessions() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut mon = Client::connect_hello(addr, MONITOR);
        let r = mon.rpc(&refresh());
        assert!(denied(&r), "{r}");
        assert!(r.contains("default (nacm:default-deny-all)"), "{r}");
        let mut admin = Client::connect_hello(addr, ADMIN);
        let before = counter(&mut admin, "denied-operations");
        commit_rules(
            &mut admin,
            &rule_list(
                "refresh-for-monitoring",
                "monitoring",
                "<module-name>ncagent-bgp-vpn-target</module-name><rpc-name>refresh-bgp-vpn-target</rpc-name><access-operations>exec</access-operations><action>permit</action>",
            ),
        );
        let r = mon.rpc(&refresh());
        assert!(!denied(&r), "{r}");
        ok(&r);
        // The visitor group is not monitoring: still denied.
        assert!(denied(&mon.rpc("<lock><target><running/></target></lock>")));
        assert_eq!(counter(&mut admin, "denied-operations"), before + 1);
    })
    .await;
    agent.stop().await;
}

/// A read rule for a NACM group hides /bgp from its member only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_rule_hides_a_subtree_from_its_group_only() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut admin = Client::connect_hello(addr, ADMIN);
        ok(&admin.rpc(&edit("running", &bgp_config())));
        let mut mon = Client::connect_hello(addr, MONITOR);
        assert!(get_config(&mut mon).contains("<bgp xmlns"));
        commit_rules(&mut admin, &group("auditors", MONITOR.0));
        commit_rules(
            &mut admin,
            &rule_list(
                "hide-bgp",
                "auditors",
                &format!("<module-name>ncagent-bgp</module-name><path xmlns:b=\"{BGP_NS}\">/b:bgp</path><access-operations>read</access-operations><action>deny</action>"),
            ),
        );
        let r = get_config(&mut mon);
        assert!(!r.contains("<bgp xmlns"), "{r}");
        let r = mon.rpc("<get/>");
        assert!(r.contains("<data"), "{r}");
        assert!(!r.contains(&format!("<bgp xmlns=\"{BGP_NS}\"")), "{r}");
        // Other state is still there.
        assert!(r.contains("<netconf-state"), "{r}");
        let mut op = Client::connect_hello(addr, OPERATOR);
        assert!(get_config(&mut op).contains("<bgp"));
        assert!(get_config(&mut admin).contains("<bgp"));
    })
    .await;
    agent.stop().await;
}

/// The statistics poll (written without a data tree, issue #12) obeys
/// read rules too: denied for a group, it comes back empty to its member
/// only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_rule_applies_to_the_statistics_poll() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        const POLL: &str = "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><statistics/></netconf-state></filter></get>";
        let mut admin = Client::connect_hello(addr, ADMIN);
        let mut mon = Client::connect_hello(addr, MONITOR);
        assert!(mon.rpc(POLL).contains("<in-rpcs>"));
        commit_rules(&mut admin, &group("auditors", MONITOR.0));
        commit_rules(
            &mut admin,
            &rule_list(
                "hide-stats",
                "auditors",
                "<module-name>ietf-netconf-monitoring</module-name><path xmlns:m=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\">/m:netconf-state/m:statistics</path><access-operations>read</access-operations><action>deny</action>",
            ),
        );
        let r = mon.rpc(POLL);
        assert!(r.contains("<data"), "{r}");
        assert!(!r.contains("<in-rpcs>"), "{r}");
        assert!(admin.rpc(POLL).contains("<in-rpcs>"));
        let mut op = Client::connect_hello(addr, OPERATOR);
        assert!(op.rpc(POLL).contains("<in-rpcs>"));
    })
    .await;
    agent.stop().await;
}

/// A write the rules deny answers access-denied at the node, and running
/// stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_write_leaves_running_untouched() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut admin = Client::connect_hello(addr, ADMIN);
        // The monitoring group may run edit-config, but has no write rule
        // (write-default deny).
        commit_rules(
            &mut admin,
            &rule_list(
                "edit-for-monitoring",
                "monitoring",
                "<module-name>ietf-netconf</module-name><rpc-name>edit-config</rpc-name><access-operations>exec</access-operations><action>permit</action>",
            ),
        );
        let before_writes = counter(&mut admin, "denied-data-writes");
        let before = get_config(&mut admin);
        let mut mon = Client::connect_hello(addr, MONITOR);
        for target in ["running", "candidate"] {
            let r = mon.rpc(&edit(target, &bgp_config()));
            assert!(denied(&r), "{r}");
            assert_eq!(text_of(&r, "error-type"), Some("application"), "{r}");
            assert!(r.contains("/bgp</error-path>") || r.contains(":bgp</error-path>"), "{r}");
            assert!(r.contains("write-default deny"), "{r}");
        }
        let after = get_config(&mut admin);
        let body = |s: &str| s[s.find("<data").unwrap()..].to_owned();
        assert_eq!(body(&before), body(&after));
        let cand = admin.rpc("<get-config><source><candidate/></source></get-config>");
        assert!(!cand.contains("<bgp"), "{cand}");
        assert_eq!(counter(&mut admin, "denied-data-writes"), before_writes + 2);
        // Level 2 may edit /bgp but not /nacm.
        let mut op = Client::connect_hello(addr, OPERATOR);
        ok(&op.rpc(&edit("running", &bgp_config())));
        let r = op.rpc(&edit("running", &group("x", "operator")));
        assert!(denied(&r), "{r}");
        assert!(r.contains("deny-nacm"), "{r}");
        assert!(!get_config(&mut admin).contains("<name>x</name>"));
        // A level-2 copy of its own view (no /nacm) keeps the rules.
        let copy = format!(
            "<copy-config><target><candidate/></target><source><config>{}</config></source></copy-config>",
            bgp_config()
        );
        ok(&op.rpc(&copy));
        let cand = admin.rpc("<get-config><source><candidate/></source></get-config>");
        assert!(cand.contains("<name>permit-all</name>"), "{cand}");
    })
    .await;
    agent.stop().await;
}

/// A notification the rules deny is not delivered; others are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_notification_is_not_delivered() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut admin = Client::connect_hello(addr, ADMIN);
        commit_rules(&mut admin, &group("quiet", MONITOR.0));
        commit_rules(
            &mut admin,
            &rule_list(
                "no-session-start",
                "quiet",
                "<module-name>ietf-netconf-notifications</module-name><notification-name>netconf-session-start</notification-name><access-operations>read</access-operations><action>deny</action>",
            ),
        );
        let before = counter(&mut admin, "denied-notifications");
        let mut mon = Client::connect_hello(addr, MONITOR);
        ok(&mon.rpc(&format!("<create-subscription xmlns=\"{NOTIF_NS}\"/>")));
        let mut op_sub = Client::connect_hello(addr, OPERATOR);
        ok(&op_sub.rpc(&format!("<create-subscription xmlns=\"{NOTIF_NS}\"/>")));
        // Another client comes and goes: session-start, session-end.
        let other = Client::connect_hello(addr, ADMIN);
        drop(other);
        let mut seen = Vec::new();
        for _ in 0..50 {
            let m = mon.recv().expect("open");
            let end = m.contains("<netconf-session-end");
            seen.push(m);
            if end {
                break;
            }
        }
        assert!(seen.iter().any(|m| m.contains("<netconf-session-end")), "{seen:?}");
        assert!(!seen.iter().any(|m| m.contains("<netconf-session-start")), "{seen:?}");
        // The operator (not in `quiet`) got it.
        let mut got = false;
        for _ in 0..50 {
            let m = op_sub.recv().expect("open");
            if m.contains("<netconf-session-start") {
                got = true;
                break;
            }
        }
        assert!(got);
        assert!(counter(&mut admin, "denied-notifications") > before);
    })
    .await;
    agent.stop().await;
}

/// RFC 8341 §3.4 recovery: rules that lock everybody out are repaired by
/// a recovery user's session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_user_repairs_a_lockout() {
    let agent = TestAgent::start(&extra_users()).await;
    let addr = agent.addr;
    blocking(move || {
        let mut admin = Client::connect_hello(addr, ADMIN);
        // Deny everything to every group, first in order.
        ok(&admin.rpc(&edit(
            "running",
            &nacm("<rule-list><name>management</name><rule><name>lockout</name><module-name>*</module-name><access-operations>*</access-operations><action>deny</action></rule></rule-list>"),
        )));
        // `lockout` comes after permit-all in the management list: move
        // the lockout first by replacing the list's rules.
        let r = admin.rpc(&edit(
            "running",
            &format!("<nacm xmlns=\"{NACM_NS}\" xmlns:nc=\"{BASE_NS}\"><rule-list><name>management</name><rule nc:operation=\"delete\"><name>permit-all</name></rule></rule-list></nacm>"),
        ));
        ok(&r);
        assert!(denied(&admin.rpc("<get/>")));
        let mut rescue = Client::connect_hello(addr, RESCUE);
        let r = rescue.rpc("<get-config><source><running/></source></get-config>");
        assert!(r.contains("<name>lockout</name>"), "{r}");
        ok(&rescue.rpc(&edit(
            "running",
            &format!("<nacm xmlns=\"{NACM_NS}\" xmlns:nc=\"{BASE_NS}\"><rule-list><name>management</name><rule nc:operation=\"delete\"><name>lockout</name></rule><rule><name>permit-all</name><module-name>*</module-name><access-operations>*</access-operations><action>permit</action></rule></rule-list></nacm>"),
        )));
        assert!(!denied(&admin.rpc("<get/>")));
    })
    .await;
    agent.stop().await;
}

/// An upgrade: a stored startup from before access control (no /nacm)
/// boots with the shipped rules merged into running, startup as stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_startup_without_rules_boots_with_the_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    // The state directory is the host key's (common::test_config).
    std::fs::write(dir.path().join("startup.xml"), bgp_config()).unwrap();
    let config = ncagent::config::Config::from_toml(&test_config(dir.path(), "")).unwrap();
    let running = ncagent::agent::start(config).await.unwrap();
    let addr = running.local_addr;
    blocking(move || {
        let mut admin = Client::connect_hello(addr, ADMIN);
        let r = get_config(&mut admin);
        assert!(
            r.contains("<bgp xmlns") && r.contains("<name>permit-all</name>"),
            "{r}"
        );
        let s = admin.rpc("<get-config><source><startup/></source></get-config>");
        assert!(s.contains("<bgp xmlns") && !s.contains("<nacm"), "{s}");
        let mut mon = Client::connect_hello(addr, MONITOR);
        assert!(denied(&mon.rpc(&refresh())));
    })
    .await;
    running.stop().await;
}
