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

use error::RpcError;
use message::{ReplyBody, Rpc};

pub use session::run_session;
pub use state::{ServerState, SessionUser};

/// Capability URIs of the base protocol (RFC 6241 §8.1, RFC 6242 §4.1).
pub const CAP_BASE_1_0: &str = "urn:ietf:params:netconf:base:1.0";
pub const CAP_BASE_1_1: &str = "urn:ietf:params:netconf:base:1.1";
/// ietf-netconf-monitoring (RFC 6022): `<get-schema>` and `netconf-state`.
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
