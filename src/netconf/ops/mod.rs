//! The base operations (RFC 6241 §7) and `<get-schema>` (RFC 6022 §3).

mod monitoring;

use std::sync::Arc;

use tracing::{info, warn};

use super::error::{BASE_NS, ProtoOrApp, RpcError, RpcProtoOrApp};
use super::message::{self, Element, ReplyBody, Rpc};
use super::state::{LockError, ServerState};
use super::{MONITORING_NS, RpcContext};
use crate::auth;

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
        base_op(state, ctx, op).await
    } else if op.is(MONITORING_NS, "get-schema") {
        match auth::authorize(&ctx.user.name, ctx.user.level, "get-schema") {
            Ok(()) => check_parameters(op, MONITORING_NS, &["identifier", "version", "format"])
                .and_then(|()| get_schema(state, op)),
            Err(denied) => Err(denied.into()),
        }
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
    op: &Element,
) -> Result<ReplyBody, RpcError> {
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
    auth::authorize(&ctx.user.name, ctx.user.level, name)?;
    // RFC 6241 §7: the parameters of each base operation.
    let parameters: &[&str] = match name {
        "get" => &["filter"],
        "get-config" => &["source", "filter"],
        "lock" | "unlock" => &["target"],
        "kill-session" => &["session-id"],
        _ => &[],
    };
    check_parameters(op, BASE_NS, parameters)?;
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
            let served = match op.child(BASE_NS, "source").map(|s| s.children.as_slice()) {
                Some([ds]) if ds.ns.as_deref() == Some(BASE_NS) => {
                    state.app.datastore_config(&ds.name)
                }
                _ => None,
            };
            let data = match served {
                Some(data) => data?,
                None => {
                    check_running(op, "source")?;
                    state.app.running_config().await
                }
            };
            let filter = filter_of(op)?;
            Ok(ReplyBody::Xml(data_reply(&data, filter)?))
        }
        _ => {
            let filter = filter_of(op)?;
            let mut data = vec![monitoring::netconf_state(state)];
            data.extend(state.app.state().await);
            Ok(ReplyBody::Xml(data_reply(&data, filter)?))
        }
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
    let Some(p) = op.child(BASE_NS, param) else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{}> needs <{param}>", op.name))
            .with_bad_element(param));
    };
    match p.children.first() {
        Some(ds) if ds.is(BASE_NS, "running") && p.children.len() == 1 => Ok(()),
        Some(ds) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(format!(
                "datastore \"{}\" is not supported; only running is",
                ds.name
            ))
            .with_bad_element(ds.name.clone())),
        None => Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{param}> names no datastore"))
            .with_bad_element(param)),
    }
}

/// The subtree filter of `<get>`/`<get-config>`, if any (RFC 6241 §6).
fn filter_of(op: &Element) -> Result<Option<&Element>, RpcError> {
    let Some(filter) = op.child(BASE_NS, "filter") else {
        return Ok(None);
    };
    match filter.attr("type") {
        None | Some("subtree") => Ok(Some(filter)),
        Some(other) => Err(RpcError::bad_attribute(RpcProtoOrApp::Protocol)
            .with_message(format!(
                "filter type \"{other}\" is not supported (no :xpath capability); use subtree"
            ))
            .with_info("bad-attribute", "type")
            .with_bad_element("filter")),
    }
}

fn data_reply(data: &[String], filter: Option<&Element>) -> Result<String, RpcError> {
    let mut out = String::from("<data>");
    match filter {
        None => data.iter().for_each(|d| out.push_str(d)),
        // RFC 6241 §6.4.2: an empty filter selects nothing.
        Some(f) if f.children.is_empty() => {}
        Some(f) => {
            let mut nodes = Vec::with_capacity(data.len());
            for d in data {
                // Our own output: a parse failure here is a bug, reported as such.
                let el = message::parse_document(d.as_bytes()).map_err(|e| {
                    RpcError::application_failure(format!("internal data error: {e}"))
                })?;
                nodes.push(el);
            }
            for sel in message::subtree_filter(&nodes, &f.children) {
                sel.write_xml(&mut out, Some(BASE_NS));
            }
        }
    }
    out.push_str("</data>");
    Ok(out)
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
    if state.kill_session(id) {
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
