//! Where NETCONF meets the BGP engine: the [`Application`] that validates
//! YANG RPCs with the schema, authorizes them, runs their handler (one file
//! per RPC) and renders the engine's state as YANG data.

pub mod config;
mod errors;
pub mod events;
pub mod read;
mod refresh_bgp_vpn_target;
mod state;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::bgp::BgpHandle;
use crate::datastore::Datastore;
use crate::nacm::{self, Nacm, Subject};
use crate::netconf::error::RpcError;
use crate::netconf::message::{ReplyBody, Rpc};
use crate::netconf::notify::{EventSelector, Notifier};
use crate::netconf::{
    Application, BoxFuture, CAP_WITH_DEFAULTS, CAP_XPATH, ReadRequest, RpcContext,
};
use crate::schema::{EventXPath, Schema, ValidatedRpc};

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
    /// Shared with the XPath filters of event subscriptions, which
    /// evaluate on the served context after the request that made them.
    schema: Arc<Schema>,
    bgp: BgpHandle,
    rpc_timeout: Duration,
    config: Arc<ConfigStore>,
    /// Where finished soft resets are announced (RFC 5277 events).
    notifier: Option<Arc<Notifier>>,
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
        // RFC 8341 rules name modules; requests, replies and events carry
        // namespaces.
        config
            .nacm()
            .set_modules(nacm::module_map(schema.module_namespaces()));
        Ok(Agent {
            schema: Arc::new(schema),
            bgp,
            rpc_timeout,
            config,
            notifier: None,
        })
    }

    /// The configuration datastores.
    pub fn config(&self) -> &Arc<ConfigStore> {
        &self.config
    }

    /// Announces finished soft resets on `notifier`'s event stream.
    /// Also announces the datastores' changes of running and confirmed
    /// commits there (RFC 6470).
    pub fn with_notifier(mut self, notifier: Arc<Notifier>) -> Agent {
        self.config.set_notifier(notifier.clone());
        self.notifier = Some(notifier);
        self
    }

    /// SPEC §7, RFC 8341 §3.4.4: may this user run the operation? Decided
    /// on its name and namespace before its parameters are looked at.
    fn authorize(&self, ctx: &RpcContext, rpc: &Rpc) -> Result<(), RpcError> {
        let ns = rpc.op.ns.as_deref().unwrap_or("");
        let nacm = self.config.nacm();
        nacm.exec(Subject::of(&ctx.user), nacm.module_of(ns), &rpc.op.name)
    }

    async fn run(&self, rpc: ValidatedRpc) -> Result<ReplyBody, RpcError> {
        match rpc.name.as_str() {
            refresh_bgp_vpn_target::NAME => {
                refresh_bgp_vpn_target::handle(
                    &rpc,
                    &self.bgp,
                    self.rpc_timeout,
                    self.notifier.as_deref(),
                )
                .await
            }
            other => Err(RpcError::unsupported_operation(other)),
        }
    }
}

impl EventSelector for EventXPath {
    fn selects(&self, content: &str) -> bool {
        EventXPath::selects(self, content)
    }
}

impl Application for Agent {
    fn capabilities(&self) -> Vec<String> {
        // The datastore operations' capabilities (RFC 6241 §8), the read
        // path's (RFC 6241 §8.9, RFC 6243 §4), then the modules (RFC 7950
        // §5.6.4) and the YANG library (RFC 8526 §2).
        let mut caps = config::capabilities();
        caps.extend([CAP_XPATH.to_owned(), CAP_WITH_DEFAULTS.to_owned()]);
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
            self.authorize(ctx, rpc)?;
            let validated = self.schema.validate_rpc(raw)?;
            self.run(validated).await
        })
    }

    fn precheck(&self, op: &[u8]) -> Option<ValidatedRpc> {
        self.schema.precheck(op)
    }

    fn rpc_checked<'a>(
        &'a self,
        ctx: &'a RpcContext,
        rpc: &'a Rpc,
        checked: ValidatedRpc,
    ) -> BoxFuture<'a, Result<ReplyBody, RpcError>> {
        Box::pin(async move {
            // Decided as in `rpc`, on the operation; the parameters were
            // checked with no side effect and are not looked at before.
            self.authorize(ctx, rpc)?;
            self.run(checked).await
        })
    }

    fn read<'a>(
        &'a self,
        ctx: &'a RpcContext,
        mut req: ReadRequest<'a>,
    ) -> BoxFuture<'a, Result<String, RpcError>> {
        Box::pin(async move {
            // RFC 8341 §3.2.1.1: the counters, state of /nacm, in <get>
            // (merged with running's /nacm by the read tree).
            if !req.config_only() && req.filter.is_none_or(|f| f.may_select(nacm::NS, "nacm")) {
                req.nacm_state = Some(self.config.nacm().counters_xml());
            }
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
            // `<get>` reads running with the state (RFC 6241 §7.7).
            let ds = datastore_named(req.datastore).unwrap_or(Datastore::Running);
            let data = if read::whole_datastore(&req) {
                // The same text until the datastore changes: printed once.
                let xml = self.config.printed(ds, |tree| {
                    read::read_data(&self.schema, Some(tree), None, &req)
                })?;
                String::from(&*xml)
            } else {
                self.config.read(ds, |tree| {
                    read::read_data(&self.schema, Some(tree), snapshot.as_ref(), &req)
                })?
            };
            // RFC 8341 §3.4.5: what the user may not read is left out.
            Ok(self.config.nacm().filter_read(Subject::of(&ctx.user), data))
        })
    }

    fn datastore_op<'a>(
        &'a self,
        ctx: &'a RpcContext,
        rpc: &'a Rpc,
    ) -> Option<BoxFuture<'a, Result<ReplyBody, Vec<RpcError>>>> {
        Some(Box::pin(self.config.handle(ctx, rpc)))
    }

    fn serves_datastore(&self, datastore: &str) -> bool {
        datastore_named(datastore).is_some()
    }

    fn lock_info(&self, datastore: &str) -> Option<(u32, SystemTime)> {
        self.config.lock_info(datastore_named(datastore)?)
    }

    fn session_ended(&self, session_id: u32) {
        self.config.session_ended(session_id);
    }

    fn event_xpath(
        &self,
        select: &str,
        prefixes: &[(String, String)],
    ) -> Result<Arc<dyn EventSelector>, RpcError> {
        // RFC 6241 §8.9: the same errors as a bad <get> select.
        let x = self
            .schema
            .event_xpath(select, prefixes)
            .map_err(read::rpc_error)?;
        Ok(Arc::new(x))
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

    fn access(&self) -> Arc<Nacm> {
        self.config.nacm().clone()
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
