//! NETCONF server core (RFC 6241, RFC 6242): framing, messages, sessions, operations.
//!
//! This module knows nothing of BGP: operations of YANG modules other than the
//! base ones are handed to an [`Application`], which the binary wires to the
//! schema and the RPC handlers.

pub mod error;
pub mod framing;
pub mod message;
pub mod ops;
pub mod session;
pub mod state;

use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use error::RpcError;
use message::{ReplyBody, Rpc};

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

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Who sent an `<rpc>`, for authorization and logs.
#[derive(Debug, Clone)]
pub struct RpcContext {
    pub session_id: u32,
    pub user: SessionUser,
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

    /// Operational state for `<get>`: complete top-level XML elements.
    fn state(&self) -> BoxFuture<'_, Vec<String>>;

    /// Configuration in the running datastore: complete top-level XML elements.
    fn running_config(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }

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

    /// `<get-config>` of a datastore by name (`running`, `candidate`,
    /// `startup`): complete top-level XML elements. None: not served here.
    fn datastore_config(&self, _datastore: &str) -> Option<Result<Vec<String>, RpcError>> {
        None
    }

    /// The holder of a datastore's lock and when it took it, where the
    /// application keeps the locks.
    fn lock_info(&self, _datastore: &str) -> Option<(u32, SystemTime)> {
        None
    }

    /// A session ended (close, kill, transport lost, shutdown): what it
    /// held goes (RFC 6241 §7.5, §8.4.1). Called once or more per session.
    fn session_ended(&self, _session_id: u32) {}

    /// RFC 6022 `<get-schema>`.
    fn get_schema(
        &self,
        identifier: &str,
        version: Option<&str>,
        format: Option<&str>,
    ) -> Result<String, RpcError>;

    /// The `<schemas>` element of `netconf-state` (RFC 6022 §2.1.3).
    fn monitoring_schemas(&self) -> Option<String>;
}
