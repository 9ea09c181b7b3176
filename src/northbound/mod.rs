//! Where NETCONF meets the rest of the agent: the [`Application`] that serves
//! the YANG RPCs and operational state.

use crate::netconf::error::{ErrorTag, ErrorType, RpcError};
use crate::netconf::message::{ReplyBody, Rpc};
use crate::netconf::{Application, BoxFuture, RpcContext};

/// The agent's application: schema-validated RPCs, handlers and state.
pub struct Agent {}

impl Agent {
    pub fn new() -> Agent {
        Agent {}
    }
}

impl Default for Agent {
    fn default() -> Self {
        Self::new()
    }
}

impl Application for Agent {
    fn capabilities(&self) -> Vec<String> {
        Vec::new()
    }

    fn serves(&self, _ns: &str, _name: &str) -> bool {
        false
    }

    fn rpc<'a>(
        &'a self,
        _ctx: &'a RpcContext,
        _raw: &'a [u8],
        rpc: &'a Rpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>> {
        Box::pin(async move { Err(RpcError::operation_not_supported(&rpc.op.name)) })
    }

    fn state(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async { Vec::new() })
    }

    fn get_schema(
        &self,
        identifier: &str,
        _version: Option<&str>,
        _format: Option<&str>,
    ) -> Result<String, RpcError> {
        Err(RpcError::new(ErrorType::Protocol, ErrorTag::InvalidValue)
            .with_message(format!("no schema \"{identifier}\"")))
    }

    fn monitoring_schemas(&self) -> Option<String> {
        None
    }
}
