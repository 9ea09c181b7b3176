//! Where NETCONF meets the BGP engine: the [`Application`] that validates
//! YANG RPCs with the schema, authorizes them, runs their handler (one file
//! per RPC) and renders the engine's state as YANG data.

mod errors;
pub mod read;
mod refresh_bgp_vpn_target;
mod state;

use std::time::Duration;

use crate::auth;
use crate::bgp::BgpHandle;
use crate::netconf::error::RpcError;
use crate::netconf::message::{ReplyBody, Rpc};
use crate::netconf::{
    Application, BoxFuture, CAP_WITH_DEFAULTS, CAP_XPATH, ReadRequest, RpcContext,
};
use crate::schema::{Schema, ValidatedRpc};

/// The RPCs with a handler here; start-up fails if the schema has others
/// (STYLE §5: every RPC in the loaded modules has a handler).
const HANDLED_RPCS: &[&str] = &[refresh_bgp_vpn_target::NAME];

#[derive(Debug, thiserror::Error)]
#[error("YANG RPC {module}:{rpc} has no handler")]
pub struct MissingHandler {
    pub module: String,
    pub rpc: String,
}

/// The agent's application: schema-validated RPCs, handlers and state.
pub struct Agent {
    schema: Schema,
    bgp: BgpHandle,
    rpc_timeout: Duration,
}

impl Agent {
    pub fn new(
        schema: Schema,
        bgp: BgpHandle,
        rpc_timeout: Duration,
    ) -> Result<Agent, MissingHandler> {
        for (module, rpc, _ns) in schema.rpcs() {
            if !HANDLED_RPCS.contains(&rpc.as_str()) {
                return Err(MissingHandler { module, rpc });
            }
        }
        Ok(Agent {
            schema,
            bgp,
            rpc_timeout,
        })
    }

    async fn run(&self, rpc: ValidatedRpc) -> Result<ReplyBody, RpcError> {
        match rpc.name.as_str() {
            refresh_bgp_vpn_target::NAME => {
                refresh_bgp_vpn_target::handle(&rpc, &self.bgp, self.rpc_timeout).await
            }
            other => Err(RpcError::unsupported_operation(other)),
        }
    }
}

impl Application for Agent {
    fn capabilities(&self) -> Vec<String> {
        // The read path's capabilities (RFC 6241 §8.9, RFC 6243 §4), then
        // the modules (RFC 7950 §5.6.4) and the YANG library (RFC 8526 §2).
        let mut caps = vec![CAP_XPATH.to_owned(), CAP_WITH_DEFAULTS.to_owned()];
        caps.extend(self.schema.module_capabilities());
        caps
    }

    fn serves(&self, ns: &str, name: &str) -> bool {
        self.schema.is_rpc(ns, name)
    }

    fn rpc<'a>(
        &'a self,
        ctx: &'a RpcContext,
        raw: &'a [u8],
        rpc: &'a Rpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>> {
        Box::pin(async move {
            // SPEC §7, RFC 8341 §3.4.4: access is decided on the operation
            // before its parameters are validated, so that a user without
            // the right learns nothing of the schema from its errors. The
            // session routes here only operations `serves` names, so the
            // element's name is the RPC's.
            auth::authorize(&ctx.user.name, ctx.user.level, &rpc.op.name)?;
            let validated = self.schema.validate_rpc(raw)?;
            self.run(validated).await
        })
    }

    fn read<'a>(
        &'a self,
        _ctx: &'a RpcContext,
        req: ReadRequest<'a>,
    ) -> BoxFuture<'a, Result<String, RpcError>> {
        Box::pin(async move {
            let snapshot = if read::wants_engine_state(&req) {
                match self.bgp.snapshot().await {
                    Ok(snap) => Some(snap),
                    Err(e) => {
                        tracing::warn!(error = %e, "BGP state unavailable");
                        None
                    }
                }
            } else {
                None
            };
            // The configuration datastores are not connected yet: running
            // is empty. With a store, pass its tree (any context) here.
            read::read_data(&self.schema, None, snapshot.as_ref(), &req)
        })
    }

    fn get_schema(
        &self,
        identifier: &str,
        version: Option<&str>,
        format: Option<&str>,
    ) -> Result<String, RpcError> {
        Ok(self.schema.get_schema(identifier, version, format)?)
    }

    fn monitoring_schemas(&self) -> Option<String> {
        Some(self.schema.monitoring_schemas_xml())
    }
}
