//! The NETCONF spine end to end over a real SSH socket (RFC 6241, RFC 6242),
//! with libssh2 (`ssh2`) as the client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_and_base_operations() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        // RFC 6241 §8.1: server hello carries capabilities and a session-id.
        assert!(c.server_hello.contains("urn:ietf:params:netconf:base:1.1"));
        assert!(c.server_hello.contains("urn:ietf:params:netconf:base:1.0"));
        assert!(text_of(&c.server_hello, "session-id").unwrap().parse::<u32>().unwrap() > 0);

        let r = c.rpc("<get/>");
        assert!(r.contains("message-id=\"1\""), "{r}");
        assert!(r.contains("<netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\">"), "{r}");
        assert!(r.contains("<username>admin</username>"), "{r}");

        let r = c.rpc("<get-config><source><running/></source></get-config>");
        assert!(r.contains("<data"), "{r}");
        // RFC 6241 §8.3: candidate is served.
        let r = c.rpc("<get-config><source><candidate/></source></get-config>");
        assert!(r.contains("<data"), "{r}");
        let r = c.rpc("<get-config><source><nowhere/></source></get-config>");
        assert_eq!(text_of(&r, "error-tag"), Some("invalid-value"), "{r}");

        // Subtree filter (RFC 6241 §6): only the statistics container.
        let r = c.rpc(
            "<get><filter type=\"subtree\"><netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"><statistics/></netconf-state></filter></get>",
        );
        assert!(r.contains("<in-sessions>"), "{r}");
        assert!(!r.contains("<sessions>"), "{r}");

        // An empty edit of running changes nothing and succeeds.
        let r = c.rpc("<edit-config><target><running/></target><config/></edit-config>");
        assert!(r.contains("<ok/>"), "{r}");
        let r = c.rpc("<edit-config><target><running/></target><url>file:///x</url></edit-config>");
        assert_eq!(text_of(&r, "error-tag"), Some("operation-not-supported"), "{r}");
        let r = c.rpc("<frobnicate xmlns=\"urn:example:x\"/>");
        assert_eq!(text_of(&r, "error-tag"), Some("operation-not-supported"), "{r}");
        assert_eq!(text_of(&r, "error-type"), Some("protocol"), "{r}");

        let r = c.rpc("<close-session/>");
        assert!(r.contains("<ok/>"), "{r}");
        assert!(c.closed(), "channel closes after close-session");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_and_kill_session() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        let mut b = Client::connect_hello(addr, ADMIN);
        let a_id = text_of(&a.server_hello, "session-id").unwrap().to_owned();
        let b_id = text_of(&b.server_hello, "session-id").unwrap().to_owned();

        assert!(
            a.rpc("<lock><target><running/></target></lock>")
                .contains("<ok/>")
        );
        // RFC 6241 §7.5: lock-denied names the holder in error-info.
        let r = b.rpc("<lock><target><running/></target></lock>");
        assert_eq!(text_of(&r, "error-tag"), Some("lock-denied"), "{r}");
        assert_eq!(text_of(&r, "session-id"), Some(a_id.as_str()), "{r}");
        let r = b.rpc("<unlock><target><running/></target></unlock>");
        assert_eq!(text_of(&r, "error-tag"), Some("operation-failed"), "{r}");

        // Own session: invalid-value (RFC 6241 §7.9).
        let r = b.rpc(&format!(
            "<kill-session><session-id>{b_id}</session-id></kill-session>"
        ));
        assert_eq!(text_of(&r, "error-tag"), Some("invalid-value"), "{r}");
        let r = b.rpc("<kill-session><session-id>999999</session-id></kill-session>");
        assert_eq!(text_of(&r, "error-tag"), Some("invalid-value"), "{r}");

        let r = b.rpc(&format!(
            "<kill-session><session-id>{a_id}</session-id></kill-session>"
        ));
        assert!(r.contains("<ok/>"), "{r}");
        assert!(a.closed(), "killed session is closed");
        // Its lock went with it.
        assert!(
            b.rpc("<lock><target><running/></target></lock>")
                .contains("<ok/>")
        );
        assert!(
            b.rpc("<unlock><target><running/></target></unlock>")
                .contains("<ok/>")
        );
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_released_when_session_ends() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        assert!(
            a.rpc("<lock><target><running/></target></lock>")
                .contains("<ok/>")
        );
        drop(a);
        let mut b = Client::connect_hello(addr, ADMIN);
        let mut ok = false;
        for _ in 0..50 {
            if b.rpc("<lock><target><running/></target></lock>")
                .contains("<ok/>")
            {
                ok = true;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(ok, "lock of a dropped session is released");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_pipelined_rpcs_answered_in_order() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut c = Client::connect_hello(addr, ADMIN);
        // All 1,000 requests are written before any reply is read.
        for i in 0..1000 {
            let msg = format!(
                "<rpc xmlns=\"{BASE_NS}\" message-id=\"m{i}\"><get-config><source><running/></source></get-config></rpc>"
            );
            c.send_framed(msg.as_bytes());
        }
        for i in 0..1000 {
            let r = c.recv().expect("reply");
            assert!(r.contains(&format!("message-id=\"m{i}\"")), "reply {i} out of order: {r}");
            assert!(r.contains("<data"), "{r}");
        }
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base_1_0_client_uses_end_of_message_framing() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    blocking(move || {
        let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
        c.hello(false);
        let r = c.rpc("<get-config><source><running/></source></get-config>");
        assert!(r.contains("<data"), "{r}");
        // Missing message-id: RFC 6241 §4.1, missing-attribute, other attributes echoed.
        c.send_framed(format!("<rpc xmlns=\"{BASE_NS}\" foo=\"bar\"><get/></rpc>").as_bytes());
        let r = c.recv().unwrap();
        assert_eq!(text_of(&r, "error-tag"), Some("missing-attribute"), "{r}");
        assert_eq!(text_of(&r, "bad-attribute"), Some("message-id"), "{r}");
        assert!(r.contains("foo=\"bar\""), "{r}");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_rules() {
    let agent = TestAgent::start("").await;
    let addr = agent.addr;
    let key = common::key_pair(agent.dir.path()).0;
    blocking(move || {
        // Only password and publickey are offered; `none` is refused.
        let s = ssh_session(addr);
        let methods = s.auth_methods("admin").unwrap().to_owned();
        assert!(!s.authenticated(), "none auth must not log in");
        let mut m: Vec<&str> = methods.split(',').collect();
        m.sort();
        assert_eq!(m, vec!["password", "publickey"]);

        let s = ssh_session(addr);
        assert!(
            s.userauth_password("admin", "wrong").is_err(),
            "wrong password"
        );
        let s = ssh_session(addr);
        assert!(
            s.userauth_password("nobody", "whatever").is_err(),
            "unknown user"
        );
        let s = ssh_session(addr);
        assert!(
            s.userauth_pubkey_file("admin", None, &key, None).is_err(),
            "key not authorized for admin"
        );

        // Public-key login for the user that has the key.
        let s = ssh_session(addr);
        s.userauth_pubkey_file("keyuser", None, &key, None).unwrap();
        let mut c = Client::open(s);
        c.hello(true);
        assert!(c.rpc("<get/>").contains("<username>keyuser</username>"));

        // Only the netconf subsystem: sftp, exec and shell are refused.
        let s = ssh_session(addr);
        s.userauth_password(ADMIN.0, ADMIN.1).unwrap();
        let mut ch = s.channel_session().unwrap();
        assert!(ch.subsystem("sftp").is_err(), "sftp refused");
        let mut ch = s.channel_session().unwrap();
        assert!(ch.exec("id").is_err(), "exec refused");
        let mut ch = s.channel_session().unwrap();
        assert!(ch.shell().is_err(), "shell refused");
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_are_throttled() {
    let agent = TestAgent::start("[limits]\nmax_auth_failures = 2\nauth_lockout_secs = 60\n").await;
    let addr = agent.addr;
    blocking(move || {
        for _ in 0..2 {
            let s = ssh_session(addr);
            assert!(s.userauth_password("admin", "bad").is_err());
        }
        // Locked out now: even the right password is refused from this address.
        let s = ssh_session(addr);
        assert!(s.userauth_password(ADMIN.0, ADMIN.1).is_err());
    })
    .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_limits_and_timeouts() {
    let agent = TestAgent::start(
        "[limits]\nmax_sessions = 2\nhello_timeout_secs = 1\nidle_timeout_secs = 2\n",
    )
    .await;
    let addr = agent.addr;
    blocking(move || {
        let mut a = Client::connect_hello(addr, ADMIN);
        let mut b = Client::connect_hello(addr, ADMIN);
        // A third NETCONF session is refused at the subsystem request.
        let s = ssh_session(addr);
        s.userauth_password(ADMIN.0, ADMIN.1).unwrap();
        let mut ch = s.channel_session().unwrap();
        assert!(ch.subsystem("netconf").is_err(), "max_sessions enforced");
        assert!(
            a.rpc("<get-config><source><running/></source></get-config>")
                .contains("<data")
        );
        drop(s);

        // Idle timeout: b says nothing and is closed.
        assert!(b.closed(), "idle session closed");
        drop(a);

        // Hello timeout: a client that never sends its hello is closed.
        let mut c = Client::connect(addr, ADMIN.0, ADMIN.1);
        assert!(c.closed(), "no hello: closed");
    })
    .await;
    agent.stop().await;
}
