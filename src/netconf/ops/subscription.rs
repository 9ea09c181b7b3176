//! `create-subscription` (RFC 5277 §2.1.1) on the `NETCONF` stream.

use std::sync::Arc;
use std::time::SystemTime;

use tracing::info;

use super::super::RpcContext;
use super::super::error::{BASE_NS, ProtoOrApp, RpcError, RpcProtoOrApp};
use super::super::message::{Element, ReplyBody, Rpc};
use super::super::notify::{
    EventFilter, NOTIFICATION_NS, STREAM_NETCONF, SubscribeError, parse_date_and_time,
};
use super::super::state::ServerState;

/// RFC 8341 §3.4.4: `create-subscription` (module `notifications`) is
/// checked as any operation, before its parameters.
pub(super) fn authorize(state: &ServerState, ctx: &RpcContext) -> Result<(), RpcError> {
    state.app.access().exec(
        crate::nacm::Subject::of(&ctx.user),
        crate::nacm::NOTIFICATIONS_MODULE,
        "create-subscription",
    )
}

const PARAMETERS: &[&str] = &["stream", "filter", "startTime", "stopTime"];

/// The `<filter>` parameter: RFC 5277 puts it in the notification
/// namespace; clients such as ncclient send it unqualified or in the base
/// namespace, which is accepted too.
fn is_filter(c: &Element) -> bool {
    c.name == "filter"
        && matches!(
            c.ns.as_deref(),
            None | Some("") | Some(NOTIFICATION_NS) | Some(BASE_NS)
        )
}

/// Unknown and repeated parameters: as for the base operations (RFC 6241
/// Appendix A unknown-element / bad-element).
fn check_parameters(op: &Element) -> Result<(), RpcError> {
    for (i, c) in op.children.iter().enumerate() {
        let known = is_filter(c)
            || (c.ns.as_deref() == Some(NOTIFICATION_NS) && PARAMETERS.contains(&c.name.as_str()));
        if !known {
            return Err(RpcError::unknown_element(ProtoOrApp::Protocol)
                .with_message(format!(
                    "{} is not a parameter of <create-subscription>",
                    c.name
                ))
                .with_bad_element(c.name.clone()));
        }
        if op.children[..i].iter().any(|p| p.name == c.name) {
            return Err(RpcError::bad_element(ProtoOrApp::Protocol)
                .with_message(format!(
                    "<{}> is given more than once in <create-subscription>",
                    c.name
                ))
                .with_bad_element(c.name.clone()));
        }
    }
    Ok(())
}

fn time_param(op: &Element, name: &str) -> Result<Option<SystemTime>, RpcError> {
    let Some(e) = op.child(NOTIFICATION_NS, name) else {
        return Ok(None);
    };
    match parse_date_and_time(&e.text) {
        Some(t) => Ok(Some(t)),
        None => Err(RpcError::bad_element(ProtoOrApp::Protocol)
            .with_message(format!(
                "\"{}\" is not a date-and-time (RFC 3339, e.g. 2026-11-29T10:00:00Z)",
                e.text.trim()
            ))
            .with_bad_element(name)),
    }
}

/// The `<filter>` parameter (RFC 5277 §3.6): subtree (RFC 6241 §6), or
/// XPath (RFC 6241 §8.9, `type="xpath"` with `select`), whose expression
/// the application checks now, with the same errors as a `<get>` select.
fn filter_of(state: &ServerState, rpc: &Rpc, f: &Element) -> Result<EventFilter, RpcError> {
    match f.attr("type") {
        None | Some("subtree") => Ok(EventFilter::Subtree(f.clone())),
        Some("xpath") => match f.attr("select") {
            Some(select) => state
                .app
                .event_xpath(select, &super::prefixes_of(rpc, f))
                .map(EventFilter::XPath),
            // RFC 6241 §8.9.1: as for <get>.
            None => Err(RpcError::missing_attribute(RpcProtoOrApp::Protocol)
                .with_message("an XPath filter needs the select attribute")
                .with_info("bad-attribute", "select")
                .with_bad_element("filter")),
        },
        Some(other) => Err(RpcError::bad_attribute(RpcProtoOrApp::Protocol)
            .with_message(format!(
                "filter type \"{other}\" is not supported; use subtree or xpath"
            ))
            .with_info("bad-attribute", "type")
            .with_bad_element("filter")),
    }
}

pub(super) fn create_subscription(
    state: &Arc<ServerState>,
    ctx: &RpcContext,
    rpc: &Rpc,
) -> Result<ReplyBody, RpcError> {
    let op = &rpc.op;
    check_parameters(op)?;
    // RFC 5277 §3.2.3: NETCONF is the default stream, and the only one here.
    if let Some(stream) = op.child(NOTIFICATION_NS, "stream")
        && stream.text.trim() != STREAM_NETCONF
    {
        return Err(RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(format!(
                "no event stream \"{}\"; the only stream is {STREAM_NETCONF}",
                stream.text.trim()
            ))
            .with_bad_element("stream"));
    }
    let filter = match op.children.iter().find(|c| is_filter(c)) {
        None => None,
        Some(f) => Some(filter_of(state, rpc, f)?),
    };
    let start = time_param(op, "startTime")?;
    let stop = time_param(op, "stopTime")?;
    // RFC 5277 §2.1.1: stopTime without startTime is missing-element,
    // bad-element startTime.
    if stop.is_some() && start.is_none() {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message("stopTime needs startTime")
            .with_bad_element("startTime"));
    }
    // RFC 8341 §3.4.6: events (replayed ones too) pass the subscriber's
    // notification rules.
    let access = state.app.access().event_access(ctx.user.clone());
    state.notifier.restrict(ctx.session_id, access);
    match state
        .notifier
        .subscribe(ctx.session_id, filter, start, stop)
    {
        Ok(()) => {
            info!(replay = start.is_some(), "subscription created");
            Ok(ReplyBody::Ok)
        }
        // RFC 5277 §2.1.1: a startTime later than now, a stopTime earlier
        // than startTime: bad-element naming the parameter.
        Err(SubscribeError::StartInFuture) => Err(RpcError::bad_element(ProtoOrApp::Protocol)
            .with_message("startTime is later than the current time")
            .with_bad_element("startTime")),
        Err(SubscribeError::StopBeforeStart) => Err(RpcError::bad_element(ProtoOrApp::Protocol)
            .with_message("stopTime is earlier than startTime")
            .with_bad_element("stopTime")),
        // RFC 5277 gives a session one subscription (another needs another
        // session): the resource is in use until that one ends.
        Err(SubscribeError::AlreadySubscribed) => Err(RpcError::in_use(ProtoOrApp::Protocol)
            .with_message("this session already has a subscription")),
        Err(SubscribeError::NoSession) => Err(RpcError::operation_failed(RpcProtoOrApp::Protocol)
            .with_message("the session is ending")),
    }
}
