//! The base operations (RFC 6241 §7) and `<get-schema>` (RFC 6022 §3).

pub(crate) mod monitoring;
mod subscription;

use std::sync::Arc;

use tracing::{info, warn};

use super::error::{BASE_NS, ProtoOrApp, RpcError, RpcProtoOrApp};
use super::message::{Element, ReplyBody, Rpc};
use super::notify::{NETMOD_NOTIFICATION_NS, NOTIFICATION_NS};
use super::state::{LockError, ServerState};
use super::{MONITORING_NS, ReadFilter, ReadRequest, RpcContext, WITH_DEFAULTS_NS, WithDefaults};
use crate::nacm::{self, Subject};

/// The base operations on configuration datastores, run by the
/// application's datastores where it has them.
const DATASTORE_OPS: &[&str] = &[
    "lock",
    "unlock",
    "edit-config",
    "copy-config",
    "delete-config",
    "validate",
    "commit",
    "discard-changes",
    "cancel-commit",
];

/// Runs one operation; returns the reply body and whether the session ends.
pub(crate) async fn dispatch(
    state: &Arc<ServerState>,
    ctx: &RpcContext,
    raw: &[u8],
    rpc: &Rpc,
) -> (ReplyBody, bool) {
    let op = &rpc.op;
    let ns = op.ns.as_deref().unwrap_or("");
    if ns == BASE_NS
        && DATASTORE_OPS.contains(&op.name.as_str())
        && let Some(fut) = state.app.datastore_op(ctx, rpc)
    {
        // Several errors at once with continue-on-error (RFC 6241 §7.2).
        return match fut.await {
            Ok(body) => (body, false),
            Err(errors) => (ReplyBody::Errors(errors), false),
        };
    }
    let result = if ns == BASE_NS {
        base_op(state, ctx, rpc).await
    } else if op.is(MONITORING_NS, "get-schema") {
        // RFC 8341 §3.4.4: decided before the parameters are looked at.
        state
            .app
            .access()
            .exec(
                Subject::of(&ctx.user),
                nacm::MONITORING_MODULE,
                "get-schema",
            )
            .and_then(|()| {
                check_parameters(op, MONITORING_NS, &["identifier", "version", "format"])
            })
            .and_then(|()| get_schema(state, op))
    } else if op.is(NOTIFICATION_NS, "create-subscription") {
        subscription::authorize(state, ctx)
            .and_then(|()| subscription::create_subscription(state, ctx, rpc))
    } else if state.app.serves(ns, &op.name) {
        state.app.rpc(ctx, raw, rpc).await
    } else {
        warn!(ns, op = %op.name, "operation not supported");
        Err(RpcError::unsupported_operation(&op.name))
    };
    let end = matches!(result, Ok(ReplyBody::Ok)) && op.is(BASE_NS, "close-session");
    match result {
        Ok(body) => (body, end),
        Err(e) => (ReplyBody::Errors(vec![e]), false),
    }
}

async fn base_op(
    state: &Arc<ServerState>,
    ctx: &RpcContext,
    rpc: &Rpc,
) -> Result<ReplyBody, RpcError> {
    let op = &rpc.op;
    let name = op.name.as_str();
    let known = matches!(
        name,
        "get" | "get-config" | "lock" | "unlock" | "close-session" | "kill-session"
    );
    if !known {
        // edit-config, copy-config, delete-config, validate, commit … : the
        // capabilities that would need them are not advertised.
        return Err(RpcError::unsupported_operation(name));
    }
    // RFC 8341 §3.4.4: access is decided on the operation before its
    // parameters are validated (close-session is always permitted).
    state
        .app
        .access()
        .exec(Subject::of(&ctx.user), nacm::NETCONF_MODULE, name)?;
    // RFC 6241 §7: the parameters of each base operation; RFC 6243 §4.5
    // adds <with-defaults> (its own namespace) to get and get-config.
    let parameters: &[&str] = match name {
        "get" => &["filter"],
        "get-config" => &["source", "filter"],
        "lock" | "unlock" => &["target"],
        "kill-session" => &["session-id"],
        _ => &[],
    };
    let reading = matches!(name, "get" | "get-config");
    let op_params = strip_with_defaults(op, reading);
    check_parameters(&op_params, BASE_NS, parameters)?;
    match name {
        "close-session" => {
            info!("close-session");
            Ok(ReplyBody::Ok)
        }
        "kill-session" => kill_session(state, ctx, op),
        "lock" => {
            check_running(op, "target")?;
            match state.lock_running(ctx.session_id) {
                Ok(()) => Ok(ReplyBody::Ok),
                // RFC 6241 §7.5: lock-denied carries the holder's session-id.
                Err(LockError::HeldBy(holder)) => Err(RpcError::lock_denied()
                    .with_message(format!(
                        "the running datastore is locked by session {holder}"
                    ))
                    .with_info("session-id", holder.to_string())),
                Err(LockError::NotHeld) => Err(RpcError::application_failure("lock failed")),
            }
        }
        "unlock" => {
            check_running(op, "target")?;
            match state.unlock_running(ctx.session_id) {
                Ok(()) => Ok(ReplyBody::Ok),
                // RFC 6241 §7.6: unlock of a lock not held by this session fails.
                Err(LockError::HeldBy(holder)) => {
                    Err(RpcError::operation_failed(RpcProtoOrApp::Protocol)
                        .with_message(format!(
                            "the running datastore is locked by session {holder}, not this one"
                        ))
                        .with_info("session-id", holder.to_string()))
                }
                Err(LockError::NotHeld) => Err(RpcError::operation_failed(RpcProtoOrApp::Protocol)
                    .with_message("the running datastore is not locked")),
            }
        }
        "get-config" => {
            let source = source_datastore(state, op)?;
            read(state, ctx, rpc, source).await
        }
        _ => read(state, ctx, rpc, "operational").await,
    }
}

/// RFC 6241 Appendix A: a child that is no parameter of the operation is an
/// `unknown-element` (protocol, bad-element), never ignored: a client must
/// not believe a parameter honoured (e.g. RFC 6243 `<with-defaults>`, whose
/// capability is not advertised). A parameter given twice is a
/// `bad-element`, as for the parameters of YANG RPCs (docs/yang.md).
pub fn check_parameters(op: &Element, ns: &str, allowed: &[&str]) -> Result<(), RpcError> {
    for (i, c) in op.children.iter().enumerate() {
        let known = c.ns.as_deref() == Some(ns) && allowed.contains(&c.name.as_str());
        if !known {
            let what = match c.ns.as_deref() {
                Some(other) if other != ns => format!("{} (namespace {other})", c.name),
                _ => c.name.clone(),
            };
            return Err(RpcError::unknown_element(ProtoOrApp::Protocol)
                .with_message(format!("{what} is not a parameter of <{}>", op.name))
                .with_bad_element(c.name.clone()));
        }
        if op.children[..i].iter().any(|p| p.is(ns, &c.name)) {
            return Err(RpcError::bad_element(ProtoOrApp::Protocol)
                .with_message(format!(
                    "<{}> is given more than once in <{}>",
                    c.name, op.name
                ))
                .with_bad_element(c.name.clone()));
        }
    }
    Ok(())
}

/// Checks `<target>`/`<source>` names the running datastore, the only one
/// this agent has (no :candidate, no :startup capability).
fn check_running(op: &Element, param: &str) -> Result<(), RpcError> {
    check_datastore(op, param, |name| name == "running").map(|_| ())
}

/// The `<source>` of `<get-config>` (RFC 6241 §7.1): a datastore the
/// application serves (running, and candidate / startup where it has them).
fn source_datastore<'o>(state: &ServerState, op: &'o Element) -> Result<&'o str, RpcError> {
    check_datastore(op, "source", |name| state.app.serves_datastore(name))
}

/// The one datastore named by parameter `param`, if `served` accepts it.
fn check_datastore<'o>(
    op: &'o Element,
    param: &str,
    served: impl Fn(&str) -> bool,
) -> Result<&'o str, RpcError> {
    let Some(p) = op.child(BASE_NS, param) else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{}> needs <{param}>", op.name))
            .with_bad_element(param));
    };
    match p.children.first() {
        Some(ds)
            if ds.ns.as_deref() == Some(BASE_NS) && served(&ds.name) && p.children.len() == 1 =>
        {
            Ok(ds.name.as_str())
        }
        Some(ds) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(format!("datastore \"{}\" is not supported here", ds.name))
            .with_bad_element(ds.name.clone())),
        None => Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{param}> names no datastore"))
            .with_bad_element(param)),
    }
}

/// `op` without its `<with-defaults>` parameter when the operation takes
/// one (RFC 6243 §4.5.1, §4.5.2), so that the base parameters are checked
/// alone; the parameter itself is checked by [`with_defaults_of`].
fn strip_with_defaults(op: &Element, reading: bool) -> std::borrow::Cow<'_, Element> {
    if !reading
        || !op
            .children
            .iter()
            .any(|c| c.is(WITH_DEFAULTS_NS, "with-defaults"))
    {
        return std::borrow::Cow::Borrowed(op);
    }
    let mut copy = op.clone();
    let mut seen = false;
    // A second <with-defaults> stays, for check_parameters to refuse.
    copy.children.retain(|c| {
        if c.is(WITH_DEFAULTS_NS, "with-defaults") && !seen {
            seen = true;
            return false;
        }
        true
    });
    std::borrow::Cow::Owned(copy)
}

/// RFC 6243 §4.5: the retrieval mode; an unknown value is invalid-value.
fn with_defaults_of(op: &Element) -> Result<Option<WithDefaults>, RpcError> {
    let Some(wd) = op.child(WITH_DEFAULTS_NS, "with-defaults") else {
        return Ok(None);
    };
    WithDefaults::parse(wd.text.trim()).map(Some).ok_or_else(|| {
        RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(format!(
                "with-defaults \"{}\" is not a mode: report-all, report-all-tagged, trim or explicit",
                wd.text.trim()
            ))
            .with_bad_element("with-defaults")
    })
}

/// Namespace declarations (prefix, namespace) in scope of `<filter>`:
/// those of `<rpc>`, the operation and `<filter>`, innermost last.
fn prefixes_of(rpc: &Rpc, filter: &Element) -> Vec<(String, String)> {
    rpc.attrs
        .iter()
        .chain(rpc.op.attrs.iter())
        .chain(filter.attrs.iter())
        .filter_map(|a| {
            a.qname
                .strip_prefix("xmlns:")
                .map(|p| (p.to_owned(), a.value.clone()))
        })
        .collect()
}

/// `<get>` / `<get-config>`: the filter (RFC 6241 §6, §8.9) and
/// with-defaults mode (RFC 6243) handed to the application, which owns
/// the data trees.
async fn read(
    state: &Arc<ServerState>,
    ctx: &RpcContext,
    rpc: &Rpc,
    datastore: &str,
) -> Result<ReplyBody, RpcError> {
    let op = &rpc.op;
    let with_defaults = with_defaults_of(op)?;
    let filter_el = op.child(BASE_NS, "filter");
    let prefixes = filter_el.map(|f| prefixes_of(rpc, f)).unwrap_or_default();
    let filter = match filter_el {
        None => None,
        Some(f) => Some(match f.attr("type") {
            None | Some("subtree") => ReadFilter::Subtree(f),
            // RFC 6241 §8.9.1: type="xpath" with the expression in select.
            Some("xpath") => match f.attr("select") {
                Some(select) => ReadFilter::XPath {
                    select,
                    prefixes: &prefixes,
                },
                None => {
                    return Err(RpcError::missing_attribute(RpcProtoOrApp::Protocol)
                        .with_message("an XPath filter needs the select attribute")
                        .with_info("bad-attribute", "select")
                        .with_bad_element("filter"));
                }
            },
            Some(other) => {
                return Err(RpcError::bad_attribute(RpcProtoOrApp::Protocol)
                    .with_message(format!(
                        "filter type \"{other}\" is not supported; use subtree or xpath"
                    ))
                    .with_info("bad-attribute", "type")
                    .with_bad_element("filter"));
            }
        }),
    };
    // The NMS's everyday poll, leaves of netconf-state/statistics and
    // nothing else, is written directly: a fixed shape, no data tree
    // (issue #12). NACM's read pruning (RFC 8341 §3.4.5, in the
    // application's read) does not see this reply, so it is taken only
    // when the user may read all of ietf-netconf-monitoring.
    if datastore == "operational"
        && let Some(leaves) = filter.as_ref().and_then(monitoring::statistics_selected)
        && state
            .app
            .access()
            .reads_all_of(Subject::of(&ctx.user), nacm::MONITORING_MODULE)
        && let Some(data) = monitoring::statistics_reply(state, leaves, with_defaults)
    {
        return Ok(ReplyBody::Xml(format!("<data>{data}</data>")));
    }
    // netconf-state is built only when the filter can select it, and then
    // only the children the filter can select.
    let netconf_state = (datastore == "operational"
        && filter.is_none_or(|f| f.may_select(MONITORING_NS, "netconf-state")))
    .then(|| monitoring::netconf_state(state, filter.as_ref()));
    // RFC 5277 §3.2.5: the event streams, likewise.
    let streams = (datastore == "operational"
        && filter.is_none_or(|f| f.may_select(NETMOD_NOTIFICATION_NS, "netconf")))
    .then(|| state.notifier.streams_xml());
    let req = ReadRequest {
        datastore,
        filter,
        with_defaults,
        netconf_state,
        streams,
        nacm_state: None,
    };
    let data = state.app.read(ctx, req).await?;
    Ok(ReplyBody::Xml(format!("<data>{data}</data>")))
}

fn kill_session(
    state: &ServerState,
    ctx: &RpcContext,
    op: &Element,
) -> Result<ReplyBody, RpcError> {
    let Some(arg) = op.child(BASE_NS, "session-id") else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message("<kill-session> needs <session-id>")
            .with_bad_element("session-id"));
    };
    let invalid = |msg: String| {
        RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(msg)
            .with_bad_element("session-id")
    };
    let id: u32 = arg
        .text
        .trim()
        .parse()
        .map_err(|_| invalid(format!("\"{}\" is not a session-id", arg.text.trim())))?;
    // RFC 6241 §7.9: killing one's own session is an invalid-value error.
    if id == ctx.session_id {
        return Err(invalid(
            "a session cannot kill itself; use <close-session>".into(),
        ));
    }
    if state.kill_session_by(id, ctx.session_id) {
        info!(killed = id, "kill-session");
        Ok(ReplyBody::Ok)
    } else {
        Err(invalid(format!("no session {id}")))
    }
}

fn get_schema(state: &ServerState, op: &Element) -> Result<ReplyBody, RpcError> {
    let text_of = |n: &str| op.child(MONITORING_NS, n).map(|e| e.text.trim().to_owned());
    let Some(identifier) = text_of("identifier") else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message("<get-schema> needs <identifier>")
            .with_bad_element("identifier"));
    };
    let version = text_of("version").filter(|v| !v.is_empty());
    let format = op
        .child(MONITORING_NS, "format")
        .map(|f| f.text.trim().rsplit(':').next().unwrap_or("").to_owned());
    let text = state
        .app
        .get_schema(&identifier, version.as_deref(), format.as_deref())?;
    // RFC 6022 §3.1: the schema text is the content of <data> in the
    // monitoring namespace.
    Ok(ReplyBody::Xml(format!(
        "<data xmlns=\"{MONITORING_NS}\">{}</data>",
        super::error::Escaped(&text)
    )))
}
