//! One task per NETCONF session, generic over the byte stream so that it runs
//! the same over an SSH channel and over an in-memory pipe in tests.
//!
//! Requests are answered strictly in order, one reply per `<rpc>` (RFC 6241
//! §4.1). After the hello, three parts run side by side in the session's
//! task: a reader that frames messages, a processor that answers them one at
//! a time, and a writer; the queues between them are bounded in bytes
//! ([`super::state::FlowLimits`]), and the reader never waits for the writer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::stream::FuturesOrdered;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::{Decoder, Encoder, Framed};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use super::error::{AnyLayer, RpcError};
use super::framing::{Framing, FramingError, NetconfCodec};
use super::message::{self, ReplyBody};
use super::notify::{self, NOTIFICATION_NS, SessionInfo, TerminationReason};
use super::ops;
use super::state::{InputGauge, ServerState, SessionCounters, SessionGuard, SessionUser};
use super::{CAP_BASE_1_0, CAP_BASE_1_1, RpcContext, ValidatedRpc};

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
    /// The client did not read its replies for `limits.write_stall_secs`.
    WriteStalled,
    /// More input arrived than the transport's flow control allows.
    InputOverrun,
    /// The session's notification queue overflowed: a subscriber that
    /// does not keep up is closed (docs/notifications.md).
    NotificationOverflow,
}

impl EndReason {
    /// RFC 6470 §2.1 `termination-reason` of the session-end event.
    fn termination(&self) -> TerminationReason {
        match self {
            Self::CloseSession => TerminationReason::Closed,
            Self::Killed => TerminationReason::Killed,
            // The transport ended without <close-session>.
            Self::ClientClosed | Self::Io(_) => TerminationReason::Dropped,
            Self::HelloTimeout | Self::IdleTimeout => TerminationReason::Timeout,
            Self::BadHello(_) => TerminationReason::BadHello,
            Self::Shutdown
            | Self::Framing(_)
            | Self::WriteStalled
            | Self::InputOverrun
            | Self::NotificationOverflow => TerminationReason::Other,
        }
    }
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
        let (reason, started) = session_loop(stream, &state, &guard, &user).await;
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
        // RFC 6470 §2.1: a session whose start was announced announces
        // its end; its own subscription is gone first.
        if started {
            state.notifier.detach(guard.id);
            let by = guard.killed_by.load(Ordering::Relaxed);
            state.notifier.session_end(
                &session_info(&state, &guard, &user),
                reason.termination(),
                (by != 0).then_some(by),
            );
        }
        reason
    }
    .instrument(span)
    .await
}

fn session_info(state: &ServerState, guard: &SessionGuard, user: &SessionUser) -> SessionInfo {
    SessionInfo {
        session_id: guard.id,
        username: user.name.clone(),
        source_host: state.session_peer(guard.id).map(|a| a.ip()),
    }
}

/// Runs the session; also says whether it got past the hello (and so
/// announced its start).
async fn session_loop<S>(
    stream: S,
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    user: &SessionUser,
) -> (EndReason, bool)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    match hello_exchange(stream, state, guard).await {
        Err(reason) => (reason, false),
        Ok((framed, framing)) => {
            // RFC 6470 §2.1: the session has started once hellos are exchanged.
            state
                .notifier
                .session_start(&session_info(state, guard, user));
            (
                run_messages(framed, framing, state, guard, user).await,
                true,
            )
        }
    }
}

async fn hello_exchange<S>(
    stream: S,
    state: &Arc<ServerState>,
    guard: &SessionGuard,
) -> Result<(Framed<S, NetconfCodec>, Framing), EndReason>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut framed = Framed::new(stream, NetconfCodec::new(state.limits.framing));

    // RFC 6241 §8.1: both sides send <hello> at once; ours goes first.
    let hello = message::server_hello(&state.capabilities, guard.id);
    if let Err(e) = framed.send(hello.as_bytes()).await {
        return Err(EndReason::Io(e.to_string()));
    }

    let client_hello = tokio::select! {
        _ = guard.kill.cancelled() => return Err(killed_or_shutdown(state)),
        r = tokio::time::timeout(state.limits.hello_timeout, framed.next()) => match r {
            Err(_) => {
                state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
                return Err(EndReason::HelloTimeout);
            }
            Ok(None) => return Err(EndReason::ClientClosed),
            Ok(Some(Err(e))) => {
                state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
                return Err(EndReason::Framing(e.to_string()));
            }
            Ok(Some(Ok(bytes))) => bytes,
        }
    };
    let hello = match message::parse_hello(&client_hello) {
        Ok(h) => h,
        Err(e) => {
            state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
            return Err(EndReason::BadHello(e));
        }
    };
    // RFC 6241 §8.1: a client hello with a session-id ends the session.
    if hello.session_id.is_some() {
        state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
        return Err(EndReason::BadHello(
            "client hello carries a session-id".into(),
        ));
    }
    let has = |c: &str| hello.capabilities.iter().any(|x| x == c);
    let framing = if has(CAP_BASE_1_1) {
        // RFC 6242 §4.1: chunked framing once both peers advertised base:1.1.
        Framing::Chunked
    } else if has(CAP_BASE_1_0) {
        Framing::EndOfMessage
    } else {
        state.stats.in_bad_hellos.fetch_add(1, Ordering::Relaxed);
        return Err(EndReason::BadHello(
            "client hello has no base capability".into(),
        ));
    };
    debug!(
        ?framing,
        capabilities = hello.capabilities.len(),
        "hello exchanged"
    );
    Ok((framed, framing))
}

async fn run_messages<S>(
    framed: Framed<S, NetconfCodec>,
    framing: Framing,
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    user: &SessionUser,
) -> EndReason
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    // From here on reading, answering and writing run side by side, joined
    // by bounded queues (docs/decisions.md, "Flow control"): the reader
    // never waits for a write, so a transport whose flow control needs its
    // read half drained (an SSH channel) can always make progress.
    let parts = framed.into_parts();
    let mut decoder = parts.codec;
    decoder.set_framing(framing);
    let mut encoder = NetconfCodec::new(state.limits.framing);
    encoder.set_framing(framing);
    let (rd, wr) = tokio::io::split(parts.io);
    let input = guard.input.clone();
    // Both channels are bounded in bytes rather than in messages: what the
    // reader queues is charged to the input gauge (the SSH window closes at
    // `max_input_backlog`, and input past the window ends the session), and
    // every reply holds permits of `reply_room` (`max_reply_queue`) until it
    // is written. A count bound would make the reader wait, which is the
    // wedge this design removes.
    let (in_tx, in_rx) = mpsc::unbounded_channel();
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let reply_room = Arc::new(Semaphore::new(state.flow.reply_queue.max(1)));
    let pace = Pace::default();

    let reader = read_messages(
        rd,
        decoder,
        parts.read_buf,
        input.clone(),
        state.limits.framing.max_message,
        in_tx,
    );
    // Stops the processor and writer: kill-session, shutdown, or the
    // transport telling us the client is gone (RFC 4254 §5.3: nothing can
    // be sent on a closed channel, so pending requests are not run).
    let stop = CancellationToken::new();
    // The session's notifications (none until it subscribes).
    let notes = state.notifier.attach(guard.id);
    let overflow = notes.overflow.clone();
    let watch = async {
        tokio::select! {
            _ = guard.kill.cancelled() => {}
            _ = guard.transport_closed.cancelled() => {}
            _ = overflow.cancelled() => {}
        }
        stop.cancel();
        std::future::pending::<()>().await
    };
    let processor = process_messages(
        state,
        guard,
        user,
        &input,
        in_rx,
        out_tx,
        &reply_room,
        &pace,
        &stop,
    );
    let writer = write_replies(
        wr,
        encoder,
        out_rx,
        notes,
        Written {
            state,
            session: &guard.counters,
        },
        state.flow.write_stall,
        &pace,
        &stop,
    );
    // The reader ends by handing its last word (end of stream, error) to the
    // processor; it is then parked. It is polled until the writer is done,
    // so the stream keeps being drained while the last replies go out.
    let reader = async {
        reader.await;
        std::future::pending::<()>().await
    };
    tokio::pin!(reader, processor, writer, watch);
    let mut reason = None;
    loop {
        tokio::select! {
            _ = &mut watch => {}
            r = &mut processor, if reason.is_none() => reason = Some(r),
            w = &mut writer => {
                if overflow.is_cancelled() && !guard.kill.is_cancelled() {
                    return EndReason::NotificationOverflow;
                }
                return match (w, reason) {
                    (Err(_), Some(r @ (EndReason::Killed | EndReason::Shutdown))) => r,
                    // A stalled or broken writer is why the session ends.
                    (Err(w), _) => w,
                    (Ok(()), Some(r)) => r,
                    // The writer stops early only when the session is stopped.
                    (Ok(()), None) => stopped(state, guard),
                };
            }
            _ = &mut reader => {}
        }
    }
}

/// Unprocessed per-message overhead charged to the input gauge, so that a
/// flood of tiny messages is bounded as well as a few large ones.
const MESSAGE_OVERHEAD: usize = 64;
/// Replies are written in batches of about this many bytes.
const WRITE_BATCH: usize = 64 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;
/// The longest the writer holds replies back while the processor is still
/// answering queued requests (see [`Pace`]).
const WRITE_HOLD: Duration = Duration::from_millis(2);

/// Tells the writer whether more replies are coming at once. While the
/// processor has requests to answer, the writer gathers the replies it has
/// into one write (one SSH packet, one `send`) instead of writing each one
/// on its own whenever the processor waits for another task (the BGP
/// engine, a datastore). The writer writes when the processor goes idle
/// (waits for input, or for room in the reply queue) or after
/// [`WRITE_HOLD`] at most, [`WRITE_BATCH`] bytes per write, so a lone
/// request is answered at once and a long operation delays the replies
/// before it by [`WRITE_HOLD`] at most (docs/decisions.md, "Flow control").
#[derive(Default)]
struct Pace {
    /// The processor is answering a request or has some queued.
    busy: AtomicBool,
    /// Signalled when `busy` falls (a stored permit is never lost: at worst
    /// a stale one makes a batch go out early).
    idle: Notify,
}

impl Pace {
    fn set_busy(&self) {
        self.busy.store(true, Ordering::Relaxed);
    }

    fn set_idle(&self) {
        if self.busy.swap(false, Ordering::Relaxed) {
            self.idle.notify_one();
        }
    }

    fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }
}

/// What the reader hands the processor.
enum Input {
    /// One whole message and what it costs in the input gauge.
    Message(Bytes, usize),
    Framing(FramingError),
    Eof,
    Io(std::io::Error),
    /// More input arrived than the transport's flow control allows.
    Overrun(usize),
}

/// Reads and frames messages, always draining the stream unless the gauge
/// says to pause and the transport allows pausing.
async fn read_messages<R>(
    mut rd: R,
    mut codec: NetconfCodec,
    mut buf: BytesMut,
    input: Arc<InputGauge>,
    max_message: usize,
    tx: mpsc::UnboundedSender<Input>,
) where
    R: AsyncRead + Unpin,
{
    input.read(buf.len());
    let transport_bounded = input.is_bounded_by_transport();
    // The hard bound: the cap, one message being assembled, and what the
    // transport may still deliver after being told to stop.
    let hard = input
        .cap()
        .saturating_add(max_message)
        .saturating_add(input.slack())
        .saturating_add(READ_CHUNK);
    loop {
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(msg)) => {
                    let cost = before - buf.len() + MESSAGE_OVERHEAD;
                    input.queued(MESSAGE_OVERHEAD);
                    if tx.send(Input::Message(msg, cost)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Input::Framing(e));
                    return;
                }
            }
        }
        if input.bytes() > hard {
            let _ = tx.send(Input::Overrun(input.bytes()));
            return;
        }
        if !transport_bounded {
            // A plain stream has its own flow control: stop reading while
            // the processor has enough to do.
            input.wait_drained().await;
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let before = buf.len();
        match rd.read_buf(&mut buf).await {
            Ok(0) => {
                let last = match codec.decode_eof(&mut buf) {
                    Ok(Some(msg)) => {
                        let cost = before - buf.len() + MESSAGE_OVERHEAD;
                        input.queued(MESSAGE_OVERHEAD);
                        let _ = tx.send(Input::Message(msg, cost));
                        Input::Eof
                    }
                    Ok(None) => Input::Eof,
                    Err(e) => Input::Framing(e),
                };
                let _ = tx.send(last);
                return;
            }
            Ok(n) => input.read(n),
            Err(e) => {
                let _ = tx.send(Input::Io(e));
                return;
            }
        }
    }
}

/// A reply on its way to the writer, holding its room in the reply queue.
struct Outgoing {
    reply: String,
    /// The positive reply to `create-subscription`: notifications may be
    /// written once it is (RFC 5277 §2.1.1).
    subscribed: bool,
    _room: OwnedSemaphorePermit,
}

/// Answers messages in order, one reply per `<rpc>` (RFC 6241 §4.1).
#[allow(clippy::too_many_arguments)]
async fn process_messages(
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    user: &SessionUser,
    input: &InputGauge,
    mut rx: mpsc::UnboundedReceiver<Input>,
    tx: mpsc::UnboundedSender<Outgoing>,
    room: &Arc<Semaphore>,
    pace: &Pace,
    stop: &CancellationToken,
) -> EndReason {
    let ctx = RpcContext {
        session_id: guard.id,
        user: user.clone(),
        source_host: state.session_peer(guard.id).map(|a| a.ip()),
    };
    // Waits for room in the reply queue (this is what pushes back on
    // reading when the client does not read), then queues the reply.
    let queue = |msg: (String, bool)| async {
        // Moves the whole tuple into the future (a pattern would borrow
        // the bool).
        let whole = msg;
        let (reply, subscribed) = whole;
        let want =
            u32::try_from(reply.len().clamp(1, state.flow.reply_queue.max(1))).unwrap_or(u32::MAX);
        let permit = match room.clone().try_acquire_many_owned(want) {
            Ok(p) => p,
            Err(_) => {
                // The queue is full of replies the writer may be holding:
                // let it write them now, or both would wait for the hold.
                pace.set_idle();
                let p = tokio::select! {
                    _ = stop.cancelled() => return false,
                    p = room.clone().acquire_many_owned(want) => match p {
                        Ok(p) => p,
                        Err(_) => return false,
                    },
                };
                pace.set_busy();
                p
            }
        };
        tx.send(Outgoing {
            reply,
            subscribed,
            _room: permit,
        })
        .is_ok()
    };
    // A reply of a request that ran overlapped (see `runs_overlapped`),
    // queued in request order; Some(reason) when the session must end.
    let queue = &queue;
    let deliver = |reply: String, cost: usize| async move {
        let queued = queue((reply, false)).await;
        input.answered(cost);
        if queued {
            None
        } else if stop.is_cancelled() {
            Some(stopped(state, guard))
        } else {
            Some(EndReason::Io("writer gone".into()))
        }
    };
    // Requests of the application's modules run side by side, at most
    // MAX_IN_FLIGHT, and are answered in request order; any other input
    // waits until all of them are answered.
    let mut inflight: FuturesOrdered<InFlight<'_>> = FuturesOrdered::new();
    let ctx = &ctx;
    loop {
        if rx.is_empty() && inflight.is_empty() {
            // Nothing more to answer: whatever the writer holds goes out.
            pace.set_idle();
        }
        let msg = if inflight.is_empty() {
            let next = async {
                match state.limits.idle_timeout {
                    Some(t) => loop {
                        match tokio::time::timeout(t, rx.recv()).await {
                            Ok(m) => break Some(m),
                            // A subscriber is not idle: it listens (RFC 5277);
                            // the write stall bound still applies to it.
                            Err(_) if state.notifier.is_subscribed(guard.id) => {}
                            Err(_) => break None,
                        }
                    },
                    None => Some(rx.recv().await),
                }
            };
            tokio::select! {
                _ = stop.cancelled() => return stopped(state, guard),
                m = next => m,
            }
        } else {
            // Input first, so that a pipelined burst fills the flight and
            // the BGP engine takes its requests together; the oldest
            // request's reply when there is no input or the flight is full.
            let done = tokio::select! {
                biased;
                // kill-session stops operations in progress (RFC 6241 §7.9).
                _ = stop.cancelled() => return stopped(state, guard),
                m = rx.recv(), if inflight.len() < MAX_IN_FLIGHT => Err(m),
                Some(d) = inflight.next() => Ok(d),
            };
            match done {
                Ok((reply, cost)) => {
                    if let Some(end) = deliver(reply, cost).await {
                        return end;
                    }
                    continue;
                }
                Err(m) => Some(m),
            }
        };
        pace.set_busy();
        let next = match msg {
            Some(Some(Input::Message(b, cost))) => {
                // A prechecked request needs its bytes no more.
                let (b, parsed, checked) = match prechecked(state, &b) {
                    Some((rpc, checked)) => {
                        count_rpc(state, guard);
                        (Bytes::new(), Ok(rpc), Some(checked))
                    }
                    None => {
                        let parsed = parse_message(state, guard, &b);
                        (b, parsed, None)
                    }
                };
                match parsed {
                    Ok(rpc) if checked.is_some() || runs_overlapped(state, &rpc) => {
                        inflight.push_back(Box::pin(async move {
                            let (reply, _, _) = answer(state, guard, ctx, &b, &rpc, checked).await;
                            (reply, cost)
                        }));
                        continue;
                    }
                    parsed => Next::Request(b, cost, parsed),
                }
            }
            other => Next::Other(other),
        };
        // Anything else runs once every request before it is answered.
        loop {
            let done = tokio::select! {
                _ = stop.cancelled() => return stopped(state, guard),
                d = inflight.next() => d,
            };
            let Some((reply, cost)) = done else { break };
            if let Some(end) = deliver(reply, cost).await {
                return end;
            }
        }
        let (bytes, cost, parsed) = match next {
            Next::Request(b, cost, parsed) => (b, cost, parsed),
            Next::Other(None) => return EndReason::IdleTimeout,
            Next::Other(Some(None) | Some(Some(Input::Eof))) => return EndReason::ClientClosed,
            Next::Other(Some(Some(Input::Message(b, cost)))) => {
                // Taken above; kept whole here so the match is total.
                let parsed = parse_message(state, guard, &b);
                (b, cost, parsed)
            }
            Next::Other(Some(Some(Input::Io(e)))) => return EndReason::Io(e.to_string()),
            Next::Other(Some(Some(Input::Overrun(n)))) => {
                warn!(bytes = n, "input beyond the flow-control bound; closing");
                return EndReason::InputOverrun;
            }
            Next::Other(Some(Some(Input::Framing(FramingError::Io(e))))) => {
                return EndReason::Io(e.to_string());
            }
            Next::Other(Some(Some(Input::Framing(e)))) => {
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
                queue((reply, false)).await;
                return EndReason::Framing(e.to_string());
            }
        };
        let (reply, end, subscribed) = match parsed {
            Err(reply) => (reply, false, false),
            Ok(rpc) => tokio::select! {
                // kill-session stops operations in progress (RFC 6241 §7.9).
                _ = stop.cancelled() => return stopped(state, guard),
                r = answer(state, guard, ctx, &bytes, &rpc, None) => r,
            },
        };
        drop(bytes);
        let queued = queue((reply, subscribed)).await;
        input.answered(cost);
        if !queued {
            return if stop.is_cancelled() {
                stopped(state, guard)
            } else {
                EndReason::Io("writer gone".into())
            };
        }
        if end {
            return EndReason::CloseSession;
        }
    }
}

/// At most this many requests of the application's modules run side by
/// side on one session (`runs_overlapped`); each also holds its message's
/// place in the input gauge until its reply is queued.
const MAX_IN_FLIGHT: usize = 16;

/// A request running overlapped: its reply and its input cost.
type InFlight<'a> = Pin<Box<dyn Future<Output = (String, usize)> + Send + 'a>>;

/// What the processor took from the reader, once overlapped requests are
/// set aside.
enum Next {
    /// A message, parsed (or the reply refusing it).
    Request(Bytes, usize, Result<message::Rpc, String>),
    /// Anything else the reader handed over (`None`: idle timeout).
    Other(Option<Option<Input>>),
}

/// Where the writer counts the notifications it wrote (RFC 6022
/// `out-notifications`).
struct Written<'a> {
    state: &'a ServerState,
    session: &'a SessionCounters,
}

/// One message for the writer.
enum Piece {
    Reply(Outgoing),
    Note(notify::Outbound),
}

impl Piece {
    fn bytes(&self) -> &[u8] {
        match self {
            Piece::Reply(o) => o.reply.as_bytes(),
            Piece::Note(n) => n.message.as_bytes(),
        }
    }
}

/// Writes queued replies in order, and the session's notifications between
/// whole replies (RFC 5277 §6 interleave): a notification is never written
/// inside a reply, and replies keep their order. Notifications are taken
/// only after the reply of `create-subscription` is out, and not after a
/// `notificationComplete` until the next subscription's reply. A write
/// that makes no progress for `stall` ends the session (a client that does
/// not read). While `pace` says more replies are coming, the batch is held
/// back to be written in one go ([`Pace`]).
#[allow(clippy::too_many_arguments)]
async fn write_replies<W>(
    mut wr: W,
    mut codec: NetconfCodec,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut notes: notify::Receiver,
    count: Written<'_>,
    stall: Option<Duration>,
    pace: &Pace,
    kill: &CancellationToken,
) -> Result<(), EndReason>
where
    W: AsyncWrite + Unpin,
{
    let mut out = BytesMut::new();
    let mut notifying = false;
    loop {
        let first = tokio::select! {
            // Replies first: a busy event stream never holds back answers.
            biased;
            _ = kill.cancelled() => return Ok(()),
            r = rx.recv() => match r {
                Some(o) => Piece::Reply(o),
                None => {
                    // The processor is done and everything queued is written.
                    let _ = wr.flush().await;
                    return Ok(());
                }
            },
            Some(n) = notes.recv(), if notifying => Piece::Note(n),
        };
        let mut batch = vec![first];
        let mut size = batch[0].bytes().len();
        // Decided in queue order: a subscription's reply enables the
        // notifications that follow it, notificationComplete disables.
        let turn = |p: &Piece, notifying: &mut bool| match p {
            Piece::Reply(o) if o.subscribed => *notifying = true,
            Piece::Note(n) if n.ends => *notifying = false,
            _ => {}
        };
        turn(&batch[0], &mut notifying);
        // Takes what is queued already, up to the batch size.
        let gather = |batch: &mut Vec<Piece>,
                      size: &mut usize,
                      notifying: &mut bool,
                      rx: &mut mpsc::UnboundedReceiver<Outgoing>,
                      notes: &mut notify::Receiver| {
            while *size < WRITE_BATCH {
                let next = match rx.try_recv() {
                    Ok(o) => Piece::Reply(o),
                    Err(_) if *notifying => match notes.try_recv() {
                        Some(n) => Piece::Note(n),
                        None => break,
                    },
                    Err(_) => break,
                };
                turn(&next, notifying);
                *size += next.bytes().len();
                batch.push(next);
            }
        };
        gather(&mut batch, &mut size, &mut notifying, &mut rx, &mut notes);
        if size < WRITE_BATCH && pace.is_busy() {
            // More replies are on their way: wait for the processor to go
            // idle (bounded by WRITE_HOLD) rather than write a packet per
            // reply, then take what it queued meanwhile. The reply queue is
            // not awaited here: each reply would wake this task while the
            // processor is still running in it, and a task woken while it
            // runs is put back on the scheduler's queue and another worker
            // thread woken to look for work — per reply, the largest
            // scheduling cost of a pipelined burst. The queue's bytes are
            // bounded by the reply permits, which send the processor idle
            // when they run out.
            let until = tokio::time::sleep(WRITE_HOLD);
            tokio::pin!(until);
            while pace.is_busy() {
                tokio::select! {
                    biased;
                    _ = kill.cancelled() => return Ok(()),
                    _ = pace.idle.notified() => break,
                    _ = &mut until => break,
                    Some(n) = notes.recv(), if notifying => {
                        let n = Piece::Note(n);
                        turn(&n, &mut notifying);
                        size += n.bytes().len();
                        batch.push(n);
                    }
                };
            }
            gather(&mut batch, &mut size, &mut notifying, &mut rx, &mut notes);
        }
        for p in &batch {
            codec
                .encode(p.bytes(), &mut out)
                .map_err(|e| EndReason::Io(e.to_string()))?;
        }
        let mut pos = 0;
        while pos < out.len() {
            let write = wr.write(&out[pos..]);
            let r = tokio::select! {
                _ = kill.cancelled() => return Ok(()),
                r = async {
                    match stall {
                        Some(t) => tokio::time::timeout(t, write).await.ok(),
                        None => Some(write.await),
                    }
                } => r,
            };
            match r {
                None => {
                    warn!(
                        pending = out.len() - pos,
                        "client has not read its replies; closing"
                    );
                    return Err(EndReason::WriteStalled);
                }
                Some(Ok(0)) => return Err(EndReason::Io("write returned 0".into())),
                Some(Ok(n)) => pos += n,
                Some(Err(e)) => return Err(EndReason::Io(e.to_string())),
            }
        }
        out.clear();
        if out.capacity() > 4 * WRITE_BATCH {
            // A large reply grew the buffer: give the memory back.
            out = BytesMut::new();
        }
        // Their room in the queues is released once written.
        for p in batch {
            if let Piece::Note(n) = p {
                notes.written(&n);
                count
                    .session
                    .out_notifications
                    .fetch_add(1, Ordering::Relaxed);
                count
                    .state
                    .stats
                    .out_notifications
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        if rx.is_empty() {
            let flushed = tokio::select! {
                _ = kill.cancelled() => return Ok(()),
                r = async {
                    match stall {
                        Some(t) => tokio::time::timeout(t, wr.flush()).await.ok(),
                        None => Some(wr.flush().await),
                    }
                } => r,
            };
            match flushed {
                None => return Err(EndReason::WriteStalled),
                Some(Err(e)) => return Err(EndReason::Io(e.to_string())),
                Some(Ok(())) => {}
            }
        }
    }
}

/// Why the session was stopped from outside: killed, shut down, or its
/// client gone.
fn stopped(state: &ServerState, guard: &SessionGuard) -> EndReason {
    if guard.kill.is_cancelled() {
        killed_or_shutdown(state)
    } else {
        EndReason::ClientClosed
    }
}

fn killed_or_shutdown(state: &ServerState) -> EndReason {
    if state.shutdown.is_cancelled() {
        EndReason::Shutdown
    } else {
        EndReason::Killed
    }
}

/// Parses one message as an `<rpc>` and counts it; the reply to send
/// instead when it is not one.
fn parse_message(
    state: &ServerState,
    guard: &SessionGuard,
    bytes: &[u8],
) -> Result<message::Rpc, String> {
    match message::parse_rpc(bytes) {
        Ok(rpc) => {
            count_rpc(state, guard);
            Ok(rpc)
        }
        Err(rejected) => {
            state.stats.in_bad_rpcs.fetch_add(1, Ordering::Relaxed);
            guard.counters.in_bad_rpcs.fetch_add(1, Ordering::Relaxed);
            count_errors(state, guard, 1);
            warn!(error = %rejected.error, "rpc rejected");
            Err(message::reply(
                &rejected.attrs,
                &ReplyBody::Errors(vec![rejected.error]),
            ))
        }
    }
}

/// RFC 6022 §2.1.5 in-rpcs: correct `<rpc>` messages only (the others
/// are in-bad-rpcs).
fn count_rpc(state: &ServerState, guard: &SessionGuard) {
    state.stats.in_rpcs.fetch_add(1, Ordering::Relaxed);
    guard.counters.in_rpcs.fetch_add(1, Ordering::Relaxed);
}

/// A request of the application's modules in the plain shape that the
/// application accepts from its operation element alone
/// (`Application::precheck`): the message is read once, by the lean scan
/// and libyang, instead of by quick-xml, the scan and libyang. Anything
/// else (`None`) is parsed and answered the whole way, so every refusal
/// is worded as before.
fn prechecked(state: &ServerState, bytes: &[u8]) -> Option<(message::Rpc, ValidatedRpc)> {
    let plain = message::plain_rpc(bytes)?;
    if !runs_overlapped(state, &plain.rpc) {
        return None;
    }
    let checked = state.app.precheck(bytes.get(plain.op)?)?;
    Some((plain.rpc, checked))
}

/// Runs one `<rpc>` (parsed, or accepted by `prechecked` and then `bytes`
/// is not needed); returns the reply, whether the session ends, and
/// whether it was the positive reply to `create-subscription`.
async fn answer(
    state: &Arc<ServerState>,
    guard: &SessionGuard,
    ctx: &RpcContext,
    bytes: &[u8],
    rpc: &message::Rpc,
    checked: Option<ValidatedRpc>,
) -> (String, bool, bool) {
    let message_id = rpc.message_id.as_deref().unwrap_or("");
    let span = info_span!("rpc", message_id, op = %rpc.op.name);
    let (body, end) = match checked {
        Some(checked) => {
            let result = state
                .app
                .rpc_checked(ctx, rpc, checked)
                .instrument(span)
                .await;
            (result.unwrap_or_else(|e| ReplyBody::Errors(vec![e])), false)
        }
        None => ops::dispatch(state, ctx, bytes, rpc).instrument(span).await,
    };
    if let ReplyBody::Errors(errs) = &body {
        count_errors(state, guard, errs.len() as u64);
    }
    let subscribed =
        matches!(body, ReplyBody::Ok) && rpc.op.is(NOTIFICATION_NS, "create-subscription");
    (message::reply(&rpc.attrs, &body), end, subscribed)
}

/// Whether a request may run while the ones before it are still in flight:
/// an operation of the application's YANG modules (answered through
/// [`super::Application::rpc`], the BGP engine for the refresh). These
/// reach the application in order and change no NETCONF state (no
/// datastore, lock, subscription or session end); what overlaps is the
/// wait for an earlier soft reset's writes, so the effects a client or
/// peer sees keep the serial order RFC 6241 §4.5 asks for
/// (docs/decisions.md, "Flow control"). Everything else waits until all
/// before it are answered.
fn runs_overlapped(state: &ServerState, rpc: &message::Rpc) -> bool {
    let ns = rpc.op.ns.as_deref().unwrap_or("");
    ns != super::error::BASE_NS
        && ns != NOTIFICATION_NS
        && ns != super::MONITORING_NS
        && state.app.serves(ns, &rpc.op.name)
}

fn count_errors(state: &ServerState, guard: &SessionGuard, n: u64) {
    state.stats.out_rpc_errors.fetch_add(n, Ordering::Relaxed);
    guard
        .counters
        .out_rpc_errors
        .fetch_add(n, Ordering::Relaxed);
}
