//! NETCONF server core (RFC 6241, RFC 6242): framing, messages, sessions, operations.
//!
//! This module knows nothing of BGP: operations of YANG modules other than the
//! base ones are handed to an [`Application`], which the binary wires to the
//! schema and the RPC handlers.

pub mod error;
pub mod framing;
pub mod message;
pub mod notify;
pub mod ops;
pub mod session;
pub mod state;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use error::RpcError;
use message::{Element, ReplyBody, Rpc};

pub use crate::schema::{ValidatedRpc, WithDefaults};

pub use session::run_session;
pub use state::{ServerState, SessionUser};

/// Capability URIs of the base protocol (RFC 6241 §8.1, RFC 6242 §4.1).
pub const CAP_BASE_1_0: &str = "urn:ietf:params:netconf:base:1.0";
pub const CAP_BASE_1_1: &str = "urn:ietf:params:netconf:base:1.1";
/// ietf-netconf-monitoring (RFC 6022): `<get-schema>` and `netconf-state`.
/// Datastore capabilities (RFC 6241 §8.2–§8.7, §8.5 `:rollback-on-error`).
pub const CAP_WRITABLE_RUNNING: &str = "urn:ietf:params:netconf:capability:writable-running:1.0";
pub const CAP_CANDIDATE: &str = "urn:ietf:params:netconf:capability:candidate:1.0";
pub const CAP_CONFIRMED_COMMIT: &str = "urn:ietf:params:netconf:capability:confirmed-commit:1.1";
pub const CAP_ROLLBACK_ON_ERROR: &str = "urn:ietf:params:netconf:capability:rollback-on-error:1.0";
pub const CAP_VALIDATE: &str = "urn:ietf:params:netconf:capability:validate:1.1";
pub const CAP_STARTUP: &str = "urn:ietf:params:netconf:capability:startup:1.0";
pub const MONITORING_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
/// ietf-netconf-with-defaults (RFC 6243 §4): the `<with-defaults>` parameter.
pub const WITH_DEFAULTS_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-with-defaults";
/// RFC 6241 §8.9.
pub const CAP_XPATH: &str = "urn:ietf:params:netconf:capability:xpath:1.0";
/// RFC 6243 §4: basic mode explicit, the other three modes also supported.
pub const CAP_WITH_DEFAULTS: &str = "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=report-all,trim,report-all-tagged";

/// The filter of a `<get>` / `<get-config>` (RFC 6241 §6, §8.9).
#[derive(Debug, Clone, Copy)]
pub enum ReadFilter<'a> {
    /// The `<filter>` element; its children are the subtree filter.
    Subtree(&'a Element),
    /// `select` of `type="xpath"`, with the namespace declarations in scope
    /// of `<filter>` (prefix, namespace), innermost last.
    XPath {
        select: &'a str,
        prefixes: &'a [(String, String)],
    },
}

impl ReadFilter<'_> {
    /// Whether the filter may select the top-level node (ns, name); lets
    /// the server skip building data it cannot select.
    pub fn may_select(&self, ns: &str, name: &str) -> bool {
        match self {
            ReadFilter::Subtree(f) => f
                .children
                .iter()
                .any(|c| c.name == name && c.ns.as_deref().is_none_or(|n| n.is_empty() || n == ns)),
            ReadFilter::XPath { select, prefixes } => {
                select.contains('*')
                    || select.contains("node()")
                    || prefixes
                        .iter()
                        .any(|(p, n)| n == ns && select.contains(&format!("{p}:")))
            }
        }
    }
}

/// What `<get>` or `<get-config>` asks of the application.
#[derive(Debug)]
pub struct ReadRequest<'a> {
    /// The datastore read: the `<source>` of `<get-config>` ("running",
    /// "candidate", "startup"), or "operational" for `<get>` (running
    /// configuration and state).
    pub datastore: &'a str,
    pub filter: Option<ReadFilter<'a>>,
    /// RFC 6243 `<with-defaults>`; `None`: the basic mode (explicit).
    pub with_defaults: Option<WithDefaults>,
    /// `<get>` only: this layer's `netconf-state` (RFC 6022) as XML, when
    /// the filter may select it.
    pub netconf_state: Option<String>,
    /// `<get>` only: the RFC 5277 §3.2.5 stream list (`/netconf/streams`
    /// of nc-notifications) as XML, when the filter may select it.
    pub streams: Option<String>,
    /// `<get>` only: the access-control counters (RFC 8341 §3.2.1.1, state
    /// of `/nacm`) as XML, set by the application that keeps them.
    pub nacm_state: Option<String>,
}

impl ReadRequest<'_> {
    /// `<get-config>`: configuration only.
    pub fn config_only(&self) -> bool {
        self.datastore != "operational"
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who sent an `<rpc>`, for authorization and logs.
#[derive(Debug, Clone)]
pub struct RpcContext {
    pub session_id: u32,
    pub user: SessionUser,
    /// The client's address, when the transport has one (RFC 6470
    /// `source-host` of the events the operation causes).
    pub source_host: Option<std::net::IpAddr>,
}

/// What the NETCONF server needs from the rest of the agent.
pub trait Application: Send + Sync + 'static {
    /// Module capabilities for the server `<hello>`, generated from the schema.
    fn capabilities(&self) -> Vec<String>;

    /// Whether (namespace, name) is an RPC this application serves.
    fn serves(&self, ns: &str, name: &str) -> bool;

    /// Runs one RPC of a loaded YANG module; `raw` is the `<rpc>` exactly as
    /// received (the schema validates it), `rpc` the parsed envelope.
    fn rpc<'a>(
        &'a self,
        ctx: &'a RpcContext,
        raw: &'a [u8],
        rpc: &'a Rpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>>;

    /// A request for one of this application's RPCs in the plain shape
    /// ([`message::plain_rpc`]), accepted from its operation element alone
    /// (`op`: the element's bytes, which declare its namespace) with no
    /// side effect; [`Application::rpc_checked`] then runs it. `None` when
    /// the application does not accept it so: the request then takes the
    /// whole way (XML parse, [`Application::rpc`]), which words every
    /// refusal.
    fn precheck(&self, _op: &[u8]) -> Option<ValidatedRpc> {
        None
    }

    /// Runs a request [`Application::precheck`] accepted; access control
    /// is decided here as in [`Application::rpc`]. `rpc.op` carries the
    /// operation's name and namespace, not its content.
    fn rpc_checked<'a>(
        &'a self,
        _ctx: &'a RpcContext,
        rpc: &'a Rpc,
        _checked: ValidatedRpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>> {
        // Only reached when `precheck` accepts, which by default it never does.
        let op = rpc.op.name.clone();
        Box::pin(async move { Err(RpcError::unsupported_operation(&op)) })
    }

    /// `<get>` / `<get-config>`: the content of `<data>`, filtered and
    /// with the with-defaults mode applied.
    fn read<'a>(
        &'a self,
        ctx: &'a RpcContext,
        req: ReadRequest<'a>,
    ) -> BoxFuture<'a, Result<String, RpcError>>;

    /// The operations on configuration datastores (RFC 6241 §7.2–§7.6,
    /// §8.3–§8.6: lock, unlock, edit-config, copy-config, delete-config,
    /// validate, commit, discard-changes, cancel-commit), given the whole
    /// `<rpc>` (its namespace declarations scope `<config>`). None: the
    /// application has no datastores; the server then keeps a lock of its
    /// own for running and refuses the others.
    fn datastore_op<'a>(
        &'a self,
        _ctx: &'a RpcContext,
        _rpc: &'a Rpc,
    ) -> Option<BoxFuture<'a, Result<ReplyBody, Vec<RpcError>>>> {
        None
    }

    /// Whether `<get-config>` may name this datastore (`running`,
    /// `candidate`, `startup`); the read itself is [`Application::read`]
    /// with [`ReadRequest::datastore`] set to it.
    fn serves_datastore(&self, datastore: &str) -> bool {
        datastore == "running"
    }

    /// The holder of a datastore's lock and when it took it, where the
    /// application keeps the locks.
    fn lock_info(&self, _datastore: &str) -> Option<(u32, SystemTime)> {
        None
    }

    /// A session ended (close, kill, transport lost, shutdown): what it
    /// held goes (RFC 6241 §7.5, §8.4.1). Called once or more per session.
    fn session_ended(&self, _session_id: u32) {}

    /// RFC 5277 §3.6 with RFC 6241 §8.9: checks the `select` of an XPath
    /// filter of `create-subscription` (prefixes as declared in scope of
    /// `<filter>`, innermost last) and returns what evaluates it on each
    /// event. Without a schema there is nothing to evaluate against.
    fn event_xpath(
        &self,
        _select: &str,
        _prefixes: &[(String, String)],
    ) -> Result<std::sync::Arc<dyn notify::EventSelector>, RpcError> {
        Err(RpcError::bad_attribute(error::RpcProtoOrApp::Protocol)
            .with_message("XPath filters of event subscriptions are not supported here")
            .with_info("bad-attribute", "type")
            .with_bad_element("filter"))
    }

    /// RFC 6022 `<get-schema>`.
    fn get_schema(
        &self,
        identifier: &str,
        version: Option<&str>,
        format: Option<&str>,
    ) -> Result<String, RpcError>;

    /// The `<schemas>` element of `netconf-state` (RFC 6022 §2.1.3).
    fn monitoring_schemas(&self) -> Option<String>;

    /// The access control (RFC 8341) the operations are checked against.
    fn access(&self) -> std::sync::Arc<crate::nacm::Nacm> {
        crate::nacm::fallback()
    }
}
