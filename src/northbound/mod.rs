//! Where NETCONF meets the BGP engine: the [`Application`] that validates
//! YANG RPCs with the schema, authorizes them, runs their handler (one file
//! per RPC) and renders the engine's state as YANG data.

pub mod config;
mod errors;
mod refresh_bgp_vpn_target;
mod state;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth;
use crate::bgp::BgpHandle;
use crate::datastore::Datastore;
use crate::netconf::error::RpcError;
use crate::netconf::message::{ReplyBody, Rpc};
use crate::netconf::{Application, BoxFuture, RpcContext};
use crate::schema::{Schema, ValidatedRpc};

pub use config::ConfigStore;

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
    config: Arc<ConfigStore>,
}

impl Agent {
    pub fn new(
        schema: Schema,
        bgp: BgpHandle,
        rpc_timeout: Duration,
        config: Arc<ConfigStore>,
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
            config,
        })
    }

    /// The configuration datastores.
    pub fn config(&self) -> &Arc<ConfigStore> {
        &self.config
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
        let mut caps = config::capabilities();
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

    fn state(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut out = vec![self.schema.yang_library_xml()];
            match self.bgp.snapshot().await {
                Ok(snap) => out.push(state::render(&snap)),
                Err(e) => tracing::warn!(error = %e, "BGP state unavailable"),
            }
            out
        })
    }

    fn datastore_op<'a>(
        &'a self,
        ctx: &'a RpcContext,
        rpc: &'a Rpc,
    ) -> Option<BoxFuture<'a, Result<ReplyBody, Vec<RpcError>>>> {
        Some(Box::pin(self.config.handle(ctx, rpc)))
    }

    fn datastore_config(&self, datastore: &str) -> Option<Result<Vec<String>, RpcError>> {
        let ds = datastore_named(datastore)?;
        // Printed as stored (RFC 6243 explicit) until with-defaults is served.
        Some(self.config.config_xml(ds).map(|x| vec![x]))
    }

    fn running_config(&self) -> BoxFuture<'_, Vec<String>> {
        Box::pin(async move {
            match self.config.config_xml(Datastore::Running) {
                Ok(x) => vec![x],
                Err(e) => {
                    tracing::warn!(error = ?e, "running datastore unreadable");
                    Vec::new()
                }
            }
        })
    }

    fn lock_info(&self, datastore: &str) -> Option<(u32, SystemTime)> {
        self.config.lock_info(datastore_named(datastore)?)
    }

    fn session_ended(&self, session_id: u32) {
        self.config.session_ended(session_id);
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

fn datastore_named(name: &str) -> Option<Datastore> {
    match name {
        "running" => Some(Datastore::Running),
        "candidate" => Some(Datastore::Candidate),
        "startup" => Some(Datastore::Startup),
        _ => None,
    }
}
