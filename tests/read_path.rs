//! The read path over a real SSH session (issue #10): `<get>` data
//! validated by `yanglint` against the served modules, the hello agreeing
//! with the YANG library (RFC 8525, RFC 7950 §5.6.4), the filter
//! regressions, XPath filters (RFC 6241 §8.9) and with-defaults (RFC 6243).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ncagent::netconf::message::parse_document;

const NCM: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
const YL: &str = "urn:ietf:params:xml:ns:yang:ietf-yang-library";
const WD: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults";

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// The content of `<data>` in a reply.
fn data_of(reply: &str) -> &str {
    let start = reply
        .find("<data>")
        .unwrap_or_else(|| panic!("no <data>: {reply}"))
        + 6;
    let end = reply.rfind("</data>").unwrap();
    &reply[start..end]
}

/// yanglint (libyang's CLI, installed by scripts/setup-test-env) validates
/// `data` as a complete datastore of the served modules: types, keys,
/// mandatory nodes, namespaces of identityref values.
fn yanglint(data: &str) {
    let yang = Path::new(env!("CARGO_MANIFEST_DIR")).join("yang");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("get.xml");
    std::fs::write(&file, data).unwrap();
    let modules = [
        "ncagent-bgp-vpn-target@2026-11-26.yang",
        "ncagent-bgp@2026-11-29.yang",
        "ietf-netconf-monitoring@2010-10-04.yang",
        "ietf-netconf@2011-06-01.yang",
        "ietf-netconf-with-defaults@2011-06-01.yang",
        // nc-notifications imports `notifications`, loaded from -p as
        // import-only: its `notification` container (config false, a
        // mandatory eventTime) describes events, never datastore content.
        "nc-notifications@2008-07-14.yang",
        "ietf-netconf-notifications@2012-02-06.yang",
        "ncagent-bgp-events@2026-11-29.yang",
        // RFC 8341: /nacm (running's rules and the counters).
        "ietf-netconf-acm@2018-02-14.yang",
    ];
    let out = Command::new("yanglint")
        .arg("-p")
        .arg(&yang)
        .args(["-y", "-f", "xml", "-t", "data"])
        .args(["-F", "ncagent-bgp-vpn-target:ipv4-peer-selector"])
        .args(["-F", "ietf-netconf:xpath"])
        .args(modules.iter().map(|m| yang.join(m)))
        .arg(&file)
        .output()
        .expect("yanglint runs (scripts/setup-test-env installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "yanglint: {}\n{data}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_validates_and_hello_agrees_with_the_library() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        let r = c.rpc("<get/>");
        let data = data_of(&r).to_owned();
        yanglint(&data);

        let doc = parse_document(format!("<data>{data}</data>").as_bytes()).unwrap();
        let lib = doc.child(YL, "yang-library").expect("RFC 8525 /yang-library");
        let content_id = &lib.child(YL, "content-id").expect("content-id").text;
        let set = lib.child(YL, "module-set").expect("module-set");
        let implemented: Vec<(String, String)> = set
            .children
            .iter()
            .filter(|m| m.is(YL, "module"))
            .map(|m| {
                let t = |n: &str| m.child(YL, n).map(|e| e.text.clone()).unwrap_or_default();
                (t("name"), t("revision"))
            })
            .collect();
        // libyang's internal modules nothing serves are not listed.
        for internal in ["ietf-yang-schema-mount", "yang", "ietf-yang-structure-ext"] {
            assert!(!data.contains(&format!("<name>{internal}</name>")), "{internal}: {data}");
        }
        assert!(implemented.iter().any(|(n, _)| n == "ncagent-bgp"), "{implemented:?}");

        // The hello: the library capability with this content-id, and each
        // module capability naming an implemented module at its revision.
        let hello = parse_document(c.server_hello.as_bytes()).unwrap();
        let caps: Vec<String> = hello
            .children
            .iter()
            .flat_map(|c| c.children.iter())
            .map(|c| c.text.trim().to_owned())
            .collect();
        assert!(
            caps.contains(&format!(
                "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={content_id}"
            )),
            "{caps:?}"
        );
        assert!(!caps.iter().any(|c| c.contains("yang-library:1.0")), "{caps:?}");
        assert!(caps.contains(&"urn:ietf:params:netconf:capability:xpath:1.0".to_owned()));
        assert!(caps.iter().any(|c| c.starts_with(
            "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit"
        )));
        let mut modules = 0;
        for cap in caps.iter().filter(|c| c.contains("?module=")) {
            let q = cap.split_once('?').unwrap().1;
            let field = |k: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .unwrap_or("")
                    .to_owned()
            };
            assert!(
                implemented.contains(&(field("module"), field("revision"))),
                "{cap} is not an implemented module of the library"
            );
            modules += 1;
        }
        assert!(modules >= 2, "{caps:?}");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_keep_keys_and_namespaces() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        let sid = text_of(&c.server_hello, "session-id").unwrap().to_owned();
        // Issue #10: a list entry selected below keeps its key.
        let r = c.rpc(&format!(
            "<get><filter><netconf-state xmlns=\"{NCM}\"><sessions><session><username/></session></sessions></netconf-state></filter></get>"
        ));
        assert!(
            r.contains(&format!("<session><session-id>{sid}</session-id><username>admin</username></session>")),
            "{r}"
        );
        // Issue #10: the identityref's namespace is bound in the reply.
        let r = c.rpc(&format!(
            "<get><filter><netconf-state xmlns=\"{NCM}\"><sessions><session><transport/></session></sessions></netconf-state></filter></get>"
        ));
        let doc = parse_document(data_of(&r).as_bytes()).unwrap();
        let transport = &doc.children[0].children[0].children[1];
        assert_eq!(transport.name, "transport", "{r}");
        match transport.text.split_once(':') {
            Some((p, "netconf-ssh")) => assert!(r.contains(&format!("xmlns:{p}=\"{NCM}\"")), "{r}"),
            None => assert_eq!((transport.text.as_str(), transport.ns.as_deref()), ("netconf-ssh", Some(NCM))),
            other => panic!("{other:?}: {r}"),
        }
        // Content match on the key.
        let r = c.rpc(&format!(
            "<get><filter><netconf-state xmlns=\"{NCM}\"><sessions><session><session-id>{sid}</session-id></session></sessions></netconf-state></filter></get>"
        ));
        assert!(r.contains("<login-time>") && r.matches("<session>").count() == 1, "{r}");
        // XPath with the prefix declared on <filter>.
        let r = c.rpc(&format!(
            "<get><filter type=\"xpath\" xmlns:n=\"{NCM}\" select=\"/n:netconf-state/n:sessions/n:session[n:session-id={sid}]/n:username\"/></get>"
        ));
        assert!(
            r.contains(&format!("<session><session-id>{sid}</session-id><username>admin</username></session>")),
            "{r}"
        );
        let r = c.rpc("<get><filter type=\"xpath\" select=\"/n:netconf-state\"/></get>");
        assert_eq!(text_of(&r, "error-tag"), Some("bad-attribute"), "{r}");
        let r = c.rpc(&format!(
            "<get><filter type=\"xpath\" xmlns:n=\"{NCM}\" select=\"/n:netconf-state[\"/></get>"
        ));
        assert_eq!(text_of(&r, "error-tag"), Some("invalid-value"), "{r}");
        // with-defaults accepted on get and get-config (RFC 6243 §4.5).
        for op in ["<get>", "<get-config><source><running/></source>"] {
            let close = if op == "<get>" { "</get>" } else { "</get-config>" };
            let r = c.rpc(&format!(
                "{op}<filter><yang-library xmlns=\"{YL}\"><content-id/></yang-library></filter><with-defaults xmlns=\"{WD}\">report-all-tagged</with-defaults>{close}"
            ));
            assert!(r.contains("<data"), "{r}");
        }
    })
    .await;
    agent.stop().await;
}
