//! One task per NETCONF session, generic over the byte stream so that it runs
//! the same over an SSH channel and over an in-memory pipe in tests.
//!
//! Requests are answered strictly in order, one reply per `<rpc>` (RFC 6241
//! §4.1), so pipelined requests need no bookkeeping beyond reading the next
//! message after the previous reply was written.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;
use tracing::{Instrument, debug, info, info_span, warn};

use super::error::{AnyLayer, RpcError};
use super::framing::{Framing, FramingError, NetconfCodec};
use super::message::{self, ReplyBody};
use super::ops;
use super::state::{ServerState, SessionGuard, SessionUser};
use super::{CAP_BASE_1_0, CAP_BASE_1_1, RpcContext};

/// Why a session ended, for the log line.
#[derive(Debug, PartialEq, Eq)]
pub enum EndReason {
    ClientClosed,
    CloseSession,
    Killed,
    Shutdown,
    HelloTimeout,
    BadHello(String),
    IdleTimeout,
    Framing(String),
    Io(String),
}

/// Runs a session to its end. `guard` holds the session's id and is dropped
/// (releasing the session's locks) when this returns.
pub async fn run_session<S>(
    stream: S,
    state: Arc<ServerState>,
    guard: SessionGuard,
    user: SessionUser,
) -> EndReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let span = info_span!("session", session_id = guard.id, user = %user.name);
    async move {
        let reason = session_loop(stream, &state, &guard, &user).await;
        match &reason {
            EndReason::ClientClosed | EndReason::CloseSession => info!(?reason, "session ended"),
            _ => warn!(?reason, "session ended"),
        }
        // RFC 6022 §2.1.5 dropped-sessions: sessions that ended without
        // close-session (transport loss, timeouts, bad hello, framing lost);
        // not kill-session, not our own shutdown (docs/decisions.md).
        if !matches!(
            reason,
            EndReason::CloseSession | EndReason::Killed | EndReason::Shutdown
        ) {
            state.stats.dropped_sessions.fetch_add(1, Ordering::Relaxed);
        }
        reason
    }
    .instrument(span)
    .await
}

async fn session_loop<S>(
    stream: S,
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    user: &SessionUser,
) -> EndReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut framed = Framed::new(stream, NetconfCodec::new(state.limits.framing));

    // RFC 6241 §8.1: both sides send <hello> at once; ours goes first.
    let hello = message::server_hello(&state.capabilities, guard.id);
    if let Err(e) = framed.send(hello.as_bytes()).await {
        return EndReason::Io(e.to_string());
    }

    let client_hello = tokio::select! {
        _ = guard.kill.cancelled() => return killed_or_shutdown(state),
        r = tokio::time::timeout(state.limits.hello_timeout, framed.next()) => match r {
            Err(_) => {
                state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
                return EndReason::HelloTimeout;
            }
            Ok(None) => return EndReason::ClientClosed,
            Ok(Some(Err(e))) => {
                state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
                return EndReason::Framing(e.to_string());
            }
            Ok(Some(Ok(bytes))) => bytes,
        }
    };
    let hello = match message::parse_hello(&client_hello) {
        Ok(h) => h,
        Err(e) => {
            state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
            return EndReason::BadHello(e);
        }
    };
    // RFC 6241 §8.1: a client hello with a session-id ends the session.
    if hello.session_id.is_some() {
        state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
        return EndReason::BadHello("client hello carries a session-id".into());
    }
    let has = |c: &str| hello.capabilities.iter().any(|x| x == c);
    let framing = if has(CAP_BASE_1_1) {
        // RFC 6242 §4.1: chunked framing once both peers advertised base:1.1.
        Framing::Chunked
    } else if has(CAP_BASE_1_0) {
        Framing::EndOfMessage
    } else {
        state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
        return EndReason::BadHello("client hello has no base capability".into());
    };
    framed.codec_mut().set_framing(framing);
    debug!(
        ?framing,
        capabilities = hello.capabilities.len(),
        "hello exchanged"
    );

    let ctx = RpcContext {
        session_id: guard.id,
        user: user.clone(),
    };
    loop {
        let next = async {
            match state.limits.idle_timeout {
                Some(t) => tokio::time::timeout(t, framed.next()).await.ok(),
                None => Some(framed.next().await),
            }
        };
        let msg = tokio::select! {
            _ = guard.kill.cancelled() => return killed_or_shutdown(state),
            m = next => m,
        };
        let bytes = match msg {
            None => return EndReason::IdleTimeout,
            Some(None) => return EndReason::ClientClosed,
            Some(Some(Ok(b))) => b,
            Some(Some(Err(FramingError::Io(e)))) => return EndReason::Io(e.to_string()),
            Some(Some(Err(e))) => {
                // The stream can no longer be split into messages: answer
                // once, then close (RFC 6242 §4.2 / RFC 6241 §4.3).
                let err = match e {
                    FramingError::MessageTooBig { .. } | FramingError::ChunkTooBig { .. } => {
                        RpcError::too_big(AnyLayer::Rpc).with_message(e.to_string())
                    }
                    // RFC 6241 Appendix A: malformed-message is type rpc.
                    _ => RpcError::malformed_message().with_message(e.to_string()),
                };
                state.stats.in_bad_rpcs.fetch_add(1, Ordering::Relaxed);
                state.stats.out_rpc_errors.fetch_add(1, Ordering::Relaxed);
                let reply = message::reply(&[], &ReplyBody::Errors(vec![err]));
                let _ = framed.send(reply.as_bytes()).await;
                return EndReason::Framing(e.to_string());
            }
        };
        let (reply, end) = tokio::select! {
            // kill-session stops operations in progress (RFC 6241 §7.9).
            _ = guard.kill.cancelled() => return killed_or_shutdown(state),
            r = handle_message(state, guard, &ctx, &bytes) => r,
        };
        if let Err(e) = framed.send(reply.as_bytes()).await {
            return EndReason::Io(e.to_string());
        }
        if end {
            return EndReason::CloseSession;
        }
    }
}

fn killed_or_shutdown(state: &ServerState) -> EndReason {
    if state.shutdown.is_cancelled() {
        EndReason::Shutdown
    } else {
        EndReason::Killed
    }
}

/// Answers one message; returns the reply and whether the session ends.
async fn handle_message(
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    ctx: &RpcContext,
    bytes: &[u8],
) -> (String, bool) {
    let bad = |n: u64| {
        state.stats.in_bad_rpcs.fetch_add(n, Ordering::Relaxed);
        guard.counters.in_bad_rpcs.fetch_add(n, Ordering::Relaxed);
    };
    let rpc = match message::parse_rpc(bytes) {
        Ok(rpc) => rpc,
        Err(rejected) => {
            bad(1);
            count_errors(state, guard, 1);
            warn!(error = %rejected.error, "rpc rejected");
            return (
                message::reply(&rejected.attrs, &ReplyBody::Errors(vec![rejected.error])),
                false,
            );
        }
    };
    // RFC 6022 §2.1.5 in-rpcs: correct <rpc> messages only (the others
    // are in-bad-rpcs).
    state.stats.in_rpcs.fetch_add(1, Ordering::Relaxed);
    guard.counters.in_rpcs.fetch_add(1, Ordering::Relaxed);
    let message_id = rpc.message_id.as_deref().unwrap_or("");
    let span = info_span!("rpc", message_id, op = %rpc.op.name);
    let (body, end) = ops::dispatch(state, ctx, bytes, &rpc)
        .instrument(span)
        .await;
    if let ReplyBody::Errors(errs) = &body {
        count_errors(state, guard, errs.len() as u64);
    }
    (message::reply(&rpc.attrs, &body), end)
}

fn count_errors(state: &ServerState, guard: &SessionGuard, n: u64) {
    state.stats.out_rpc_errors.fetch_add(n, Ordering::Relaxed);
    guard
        .counters
        .out_rpc_errors
        .fetch_add(n, Ordering::Relaxed);
}
