//! The notification hub (RFC 5277): one `NETCONF` event stream, a bounded
//! replay buffer, and one subscription per session at most.
//!
//! Events are published as the XML of their content element (for example
//! `<netconf-session-start xmlns=…>`); the hub stamps `<eventTime>`, keeps
//! the event for replay, and queues the whole `<notification>` message to
//! each subscribed session whose filter selects it. A session's queue is
//! bounded in bytes; a subscriber that lets it fill is closed
//! (docs/notifications.md, "Slow subscribers"), the publisher never waits.
//!
//! The session's writer takes notifications only between whole replies and
//! only after the `<rpc-reply>` of `create-subscription` is written (RFC
//! 5277 §2.1.1: notifications follow the positive reply).

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::message::{self, Element};
use crate::xml::Escaped;

/// RFC 5277 §4: the namespace of `<notification>` and `create-subscription`.
pub const NOTIFICATION_NS: &str = "urn:ietf:params:xml:ns:netconf:notification:1.0";
/// RFC 5277 §4: `replayComplete`, `notificationComplete`, the stream list.
pub const NETMOD_NOTIFICATION_NS: &str = "urn:ietf:params:xml:ns:netmod:notification";
/// RFC 6470: the base NETCONF event notifications.
pub const NETCONF_NOTIFICATIONS_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications";
/// RFC 5277 §3.1.1.
pub const CAP_NOTIFICATION: &str = "urn:ietf:params:netconf:capability:notification:1.0";
/// RFC 5277 §6.1.
pub const CAP_INTERLEAVE: &str = "urn:ietf:params:netconf:capability:interleave:1.0";
/// RFC 5277 §3.2.3: the default stream, the only one here.
pub const STREAM_NETCONF: &str = "NETCONF";

/// Bounds of the hub (docs/configuration.md, `[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyLimits {
    /// Most events kept for replay.
    pub replay_events: usize,
    /// Most bytes of event content kept for replay.
    pub replay_bytes: usize,
    /// Most bytes of notifications queued to one session and not yet
    /// written; beyond it the session is closed.
    pub queue_bytes: usize,
}

pub const DEFAULT_REPLAY_EVENTS: usize = 1000;
pub const DEFAULT_REPLAY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_NOTIFICATION_QUEUE: usize = 4 * 1024 * 1024;

impl Default for NotifyLimits {
    fn default() -> Self {
        NotifyLimits {
            replay_events: DEFAULT_REPLAY_EVENTS,
            replay_bytes: DEFAULT_REPLAY_BYTES,
            queue_bytes: DEFAULT_NOTIFICATION_QUEUE,
        }
    }
}

/// RFC 3339 date-and-time in UTC with microseconds (RFC 5277 §4
/// `eventTime` is `xsd:dateTime`; the fraction orders close events).
pub fn event_time(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Parses a YANG `date-and-time` (RFC 6991 §3: RFC 3339 with `Z` or a
/// numeric offset, fraction optional).
pub fn parse_date_and_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    if let Some(utc) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return humantime::parse_rfc3339_weak(utc).ok();
    }
    // A numeric offset: "+HH:MM" or "-HH:MM" at the end.
    let (local, off) = s.split_at(s.len().checked_sub(6)?);
    let sign = match off.as_bytes().first() {
        Some(b'+') => 1i64,
        Some(b'-') => -1i64,
        _ => return None,
    };
    let (h, m) = off[1..].split_once(':')?;
    let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    let t = humantime::parse_rfc3339_weak(local).ok()?;
    let shift = Duration::from_secs(h * 3600 + m * 60);
    // Local time = UTC + offset, so UTC = local - offset.
    if sign > 0 {
        t.checked_sub(shift)
    } else {
        t.checked_add(shift)
    }
}

/// Length of [`event_time`]'s text: humantime writes RFC 3339 with
/// microseconds at a fixed width (`YYYY-MM-DDTHH:MM:SS.ffffffZ`) for every
/// time it can represent (years 0000 to 9999).
const EVENT_TIME_LEN: usize = 27;

/// What `<notification>` adds around the event content (RFC 5277 §4).
const NOTIFICATION_HEAD: &str = concat!(
    "<notification xmlns=\"",
    "urn:ietf:params:xml:ns:netconf:notification:1.0",
    "\"><eventTime>"
);
const NOTIFICATION_MID: &str = "</eventTime>";
const NOTIFICATION_TAIL: &str = "</notification>";

/// One event as published.
///
/// Most events are published with nobody subscribed (e.g. one `soft-reset`
/// per `refresh-bgp-vpn-target`, SPEC §7): what is needed for every event
/// (its time and content) is kept as is; the `<notification>` message and
/// the content element's name are made on first use (a subscriber, a
/// replay) and then kept, so every delivery of the event is the same bytes.
#[derive(Debug)]
struct Event {
    time: SystemTime,
    /// The content element (for filters).
    content: String,
    /// The `<notification>` message, ready to write.
    message: OnceLock<String>,
    /// Namespace and name of the content element: what access control
    /// decides on (RFC 8341 §3.4.6).
    kind: OnceLock<(String, String)>,
}

impl Event {
    fn new(time: SystemTime, content: String) -> Event {
        Event {
            time,
            content,
            message: OnceLock::new(),
            kind: OnceLock::new(),
        }
    }

    /// The `<notification>` message (RFC 5277 §4), written once into a
    /// buffer of its final size.
    fn message(&self) -> &str {
        self.message.get_or_init(|| {
            let mut s = String::with_capacity(self.message_len());
            s.push_str(NOTIFICATION_HEAD);
            s.push_str(&event_time(self.time));
            s.push_str(NOTIFICATION_MID);
            s.push_str(&self.content);
            s.push_str(NOTIFICATION_TAIL);
            s
        })
    }

    fn into_message(self) -> String {
        self.message();
        self.message.into_inner().unwrap_or_default()
    }

    fn kind(&self) -> &(String, String) {
        self.kind.get_or_init(|| event_kind(&self.content))
    }

    /// The length of [`Event::message`], without making it.
    fn message_len(&self) -> usize {
        NOTIFICATION_HEAD.len()
            + EVENT_TIME_LEN
            + NOTIFICATION_MID.len()
            + self.content.len()
            + NOTIFICATION_TAIL.len()
    }

    /// What the event counts against the replay buffer's byte bound: the
    /// message and the content, as when both were kept from the start.
    fn cost(&self) -> usize {
        self.message_len() + self.content.len()
    }
}

/// A notification on its way to a session's writer.
#[derive(Debug)]
pub struct Outbound {
    pub message: String,
    /// `notificationComplete`: the subscription ends with this message; the
    /// writer takes no more notifications until the next subscription's
    /// reply is written.
    pub ends: bool,
}

/// The session's end of its notification queue.
pub struct Receiver {
    rx: mpsc::UnboundedReceiver<Outbound>,
    bytes: Arc<AtomicUsize>,
    /// Cancelled when the queue overflowed: the session closes.
    pub overflow: CancellationToken,
}

impl Receiver {
    pub async fn recv(&mut self) -> Option<Outbound> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Outbound> {
        self.rx.try_recv().ok()
    }

    /// The message left the queue (it was written): its room is free.
    pub fn written(&self, o: &Outbound) {
        self.bytes.fetch_sub(o.message.len(), Ordering::Relaxed);
    }

    pub fn queued_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The hub's end of one session's queue: unbounded in messages, bounded
/// in bytes by `bytes` against `limits.queue_bytes` (docs/decisions.md,
/// "Flow control").
struct Sink {
    tx: mpsc::UnboundedSender<Outbound>,
    bytes: Arc<AtomicUsize>,
    overflow: CancellationToken,
    subscription: Option<Subscription>,
    /// Access control of the session's user (RFC 8341 §3.4.6), once it
    /// subscribed; none: every event passes.
    access: Option<EventAccess>,
}

/// Whether a session may receive an event, by the namespace and name of
/// its content element; counts and logs its own denials.
pub type EventAccess = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// Namespace and local name of an event's content element (as published:
/// `<name xmlns="ns" …>`); empty strings if it cannot be read.
fn event_kind(content: &str) -> (String, String) {
    let Some(rest) = content.trim_start().strip_prefix('<') else {
        return Default::default();
    };
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
        .unwrap_or(rest.len());
    let name = &rest[..end];
    let name = name.rsplit(':').next().unwrap_or(name).to_owned();
    let head = &rest[..rest.find('>').unwrap_or(rest.len())];
    let ns = head
        .split_once("xmlns=\"")
        .and_then(|(_, v)| v.split('"').next())
        .unwrap_or("")
        .to_owned();
    (ns, name)
}

/// RFC 8341 §3.4.6: the event passes the sink's access control.
fn permitted(sink: &Sink, e: &Event) -> bool {
    sink.access.as_ref().is_none_or(|a| {
        let (ns, name) = e.kind();
        a(ns, name)
    })
}

/// An XPath filter of a subscription (RFC 5277 §3.6, RFC 6241 §8.9),
/// checked against the application's schema when the subscription is
/// created; see [`super::Application::event_xpath`].
pub trait EventSelector: Send + Sync {
    /// Whether the filter selects the event whose content element (the
    /// sibling of `<eventTime>`) is `content`.
    fn selects(&self, content: &str) -> bool;
}

/// The `<filter>` of `create-subscription` (RFC 5277 §3.6).
#[derive(Clone)]
pub enum EventFilter {
    /// RFC 6241 §6: the `<filter>` element; its children are the filter.
    Subtree(Element),
    /// RFC 6241 §8.9: `type="xpath"`, checked.
    XPath(Arc<dyn EventSelector>),
}

impl std::fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventFilter::Subtree(el) => f.debug_tuple("Subtree").field(el).finish(),
            EventFilter::XPath(_) => f.write_str("XPath"),
        }
    }
}

struct Subscription {
    /// Tells a stopTime timer whether its subscription is still this one.
    generation: u64,
    filter: Option<EventFilter>,
    stop: Option<SystemTime>,
}

struct Inner {
    replay: VecDeque<Arc<Event>>,
    replay_bytes: usize,
    /// RFC 5277 §3.2.5 `replayLogCreationTime`.
    created: SystemTime,
    /// Time of the newest event aged out of the replay buffer.
    aged: Option<SystemTime>,
    sinks: BTreeMap<u32, Sink>,
    last_time: SystemTime,
}

/// Why `create-subscription` was refused (RFC 5277 §2.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// The session already has an active subscription.
    AlreadySubscribed,
    /// The session is gone.
    NoSession,
    /// `startTime` is later than now.
    StartInFuture,
    /// `stopTime` is earlier than `startTime`.
    StopBeforeStart,
}

/// The hub. Shared by the server state, the application and event sources.
pub struct Notifier {
    limits: NotifyLimits,
    inner: Mutex<Inner>,
    generation: AtomicU64,
    /// Events published since start.
    pub published: AtomicU64,
    /// Sessions closed because their notification queue overflowed.
    pub overflows: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section leaves the state consistent at every step that
    // can panic (none is expected), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Who an RFC 6470 event is about (`common-session-parms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: u32,
    pub username: String,
    pub source_host: Option<IpAddr>,
}

impl SessionInfo {
    fn write(&self, out: &mut String) {
        let _ = write!(
            out,
            "<username>{}</username><session-id>{}</session-id>",
            Escaped(&self.username),
            self.session_id
        );
        if let Some(h) = self.source_host {
            let _ = write!(out, "<source-host>{h}</source-host>");
        }
    }
}

/// RFC 6470 §2.1 `termination-reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    Closed,
    Killed,
    Dropped,
    Timeout,
    BadHello,
    Other,
}

impl TerminationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Killed => "killed",
            Self::Dropped => "dropped",
            Self::Timeout => "timeout",
            Self::BadHello => "bad-hello",
            Self::Other => "other",
        }
    }
}

/// RFC 6470 `edit-operation-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOperation {
    Merge,
    Replace,
    Create,
    Delete,
    Remove,
}

impl EditOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Merge => "merge",
            Self::Replace => "replace",
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Remove => "remove",
        }
    }
}

/// One entry of `netconf-config-change`'s `edit` list: the target is an
/// instance-identifier whose prefixes `namespaces` declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub operation: EditOperation,
    pub target: String,
    /// (prefix, namespace) of the prefixes used in `target`.
    pub namespaces: Vec<(String, String)>,
}

/// RFC 6470 §2.1 `changed-by`: the server itself, or a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedBy {
    Server,
    User(SessionInfo),
}

/// RFC 6470 `confirm-event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmEvent {
    Start,
    Cancel,
    Timeout,
    Extend,
    Complete,
}

impl ConfirmEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Cancel => "cancel",
            Self::Timeout => "timeout",
            Self::Extend => "extend",
            Self::Complete => "complete",
        }
    }
}

impl Notifier {
    pub fn new(limits: NotifyLimits) -> Arc<Notifier> {
        let now = SystemTime::now();
        Arc::new(Notifier {
            limits,
            inner: Mutex::new(Inner {
                replay: VecDeque::new(),
                replay_bytes: 0,
                created: now,
                aged: None,
                sinks: BTreeMap::new(),
                last_time: SystemTime::UNIX_EPOCH,
            }),
            generation: AtomicU64::new(1),
            published: AtomicU64::new(0),
            overflows: AtomicU64::new(0),
        })
    }

    pub fn limits(&self) -> NotifyLimits {
        self.limits
    }

    /// Gives a session its notification queue (empty until it subscribes).
    pub fn attach(&self, session_id: u32) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let bytes = Arc::new(AtomicUsize::new(0));
        let overflow = CancellationToken::new();
        lock(&self.inner).sinks.insert(
            session_id,
            Sink {
                tx,
                bytes: bytes.clone(),
                overflow: overflow.clone(),
                subscription: None,
                access: None,
            },
        );
        Receiver {
            rx,
            bytes,
            overflow,
        }
    }

    /// From now on, events reach the session only if `access` permits them
    /// (RFC 8341 §3.4.6); replayComplete and notificationComplete always do.
    pub fn restrict(&self, session_id: u32, access: EventAccess) {
        if let Some(sink) = lock(&self.inner).sinks.get_mut(&session_id) {
            sink.access = Some(access);
        }
    }

    /// The session ended: its subscription and queue go.
    pub fn detach(&self, session_id: u32) {
        lock(&self.inner).sinks.remove(&session_id);
    }

    pub fn is_subscribed(&self, session_id: u32) -> bool {
        lock(&self.inner)
            .sinks
            .get(&session_id)
            .is_some_and(|s| s.subscription.is_some())
    }

    /// Number of sessions with an active subscription.
    pub fn subscribers(&self) -> usize {
        lock(&self.inner)
            .sinks
            .values()
            .filter(|s| s.subscription.is_some())
            .count()
    }

    /// Events currently in the replay buffer.
    pub fn replay_len(&self) -> (usize, usize) {
        let inner = lock(&self.inner);
        (inner.replay.len(), inner.replay_bytes)
    }

    /// RFC 5277 §2.1.1 `create-subscription` on the `NETCONF` stream. The
    /// replayed events (time ≥ `start`, ≤ `stop`), `replayComplete` and,
    /// when `stop` has passed, `notificationComplete` are queued at once,
    /// under the same lock as live events, so none is lost or doubled
    /// between replay and live delivery.
    pub fn subscribe(
        self: &Arc<Self>,
        session_id: u32,
        filter: Option<EventFilter>,
        start: Option<SystemTime>,
        stop: Option<SystemTime>,
    ) -> Result<(), SubscribeError> {
        let now = SystemTime::now();
        if start.is_some_and(|s| s > now) {
            return Err(SubscribeError::StartInFuture);
        }
        if let (Some(a), Some(b)) = (start, stop)
            && b < a
        {
            return Err(SubscribeError::StopBeforeStart);
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let limits = self.limits;
        let mut inner = lock(&self.inner);
        let Inner { replay, sinks, .. } = &mut *inner;
        let Some(sink) = sinks.get_mut(&session_id) else {
            return Err(SubscribeError::NoSession);
        };
        if sink.subscription.is_some() {
            return Err(SubscribeError::AlreadySubscribed);
        }
        let sub = Subscription {
            generation,
            filter,
            stop,
        };
        let mut ok = true;
        if let Some(start) = start {
            for e in replay.iter().filter(|e| e.time >= start) {
                if stop.is_some_and(|s| e.time > s) {
                    break;
                }
                if selects(sub.filter.as_ref(), e) && permitted(sink, e) {
                    ok &= offer(sink, limits, session_id, e.message().to_owned(), false);
                }
            }
            ok &= offer(sink, limits, session_id, control("replayComplete"), false);
        }
        if !ok {
            self.overflows.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if stop.is_some_and(|s| s <= now) {
            // RFC 5277 §2.1.1: everything up to stopTime was replayed.
            if !offer(
                sink,
                limits,
                session_id,
                control("notificationComplete"),
                true,
            ) {
                self.overflows.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(());
        }
        sink.subscription = Some(sub);
        drop(inner);
        // The subscription ends at stopTime even if no event comes (outside
        // a runtime, at the first event after it).
        if let (Some(stop), Ok(rt)) = (stop, tokio::runtime::Handle::try_current()) {
            let hub = Arc::downgrade(self);
            let wait = stop.duration_since(now).unwrap_or_default();
            rt.spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(hub) = hub.upgrade() {
                    hub.complete(session_id, generation);
                }
            });
        }
        debug!(session_id, replay = start.is_some(), "subscription created");
        Ok(())
    }

    /// Ends a subscription whose stopTime has passed.
    fn complete(&self, session_id: u32, generation: u64) {
        let limits = self.limits;
        let mut inner = lock(&self.inner);
        let Some(sink) = inner.sinks.get_mut(&session_id) else {
            return;
        };
        if sink
            .subscription
            .as_ref()
            .is_some_and(|s| s.generation == generation)
        {
            sink.subscription = None;
            if !offer(
                sink,
                limits,
                session_id,
                control("notificationComplete"),
                true,
            ) {
                self.overflows.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Publishes one event: `content` is one complete XML element, the
    /// event's content (RFC 5277 §4: the sibling of `<eventTime>`).
    pub fn publish(&self, content: String) {
        let limits = self.limits;
        let mut inner = lock(&self.inner);
        // Event times never go backwards, so that a replay from the time
        // of an event received includes it and what followed.
        let now = SystemTime::now().max(inner.last_time);
        inner.last_time = now;
        let event = Arc::new(Event::new(now, content));
        self.published.fetch_add(1, Ordering::Relaxed);
        // The replay buffer, bounded in events and bytes: the oldest go.
        inner.replay_bytes += event.cost();
        inner.replay.push_back(event.clone());
        while inner.replay.len() > limits.replay_events.max(1)
            || (inner.replay_bytes > limits.replay_bytes && inner.replay.len() > 1)
        {
            let Some(old) = inner.replay.pop_front() else {
                break;
            };
            inner.replay_bytes -= old.cost();
            inner.aged = Some(old.time);
        }
        let mut overflowed = 0;
        for (&id, sink) in inner.sinks.iter_mut() {
            let Some(sub) = &sink.subscription else {
                continue;
            };
            if sub.stop.is_some_and(|s| event.time > s) {
                sink.subscription = None;
                if !offer(sink, limits, id, control("notificationComplete"), true) {
                    overflowed += 1;
                }
                continue;
            }
            if !selects(sub.filter.as_ref(), &event)
                || !permitted(sink, &event)
                || offer(sink, limits, id, event.message().to_owned(), false)
            {
                continue;
            }
            overflowed += 1;
        }
        self.overflows.fetch_add(overflowed, Ordering::Relaxed);
    }

    /// The RFC 5277 §3.2.5 stream list (`<netconf>` of nc-notifications),
    /// for `<get>`.
    pub fn streams_xml(&self) -> String {
        let created = lock(&self.inner).created;
        format!(
            "<netconf xmlns=\"{NETMOD_NOTIFICATION_NS}\"><streams><stream><name>{STREAM_NETCONF}</name>\
             <description>NETCONF sessions (RFC 6470), configuration changes, BGP soft resets and peer state changes</description>\
             <replaySupport>true</replaySupport><replayLogCreationTime>{}</replayLogCreationTime>\
             </stream></streams></netconf>",
            event_time(created)
        )
    }

    /// When the replay log was created and when it last aged an event out.
    pub fn replay_times(&self) -> (SystemTime, Option<SystemTime>) {
        let inner = lock(&self.inner);
        (inner.created, inner.aged)
    }

    /// RFC 6470 §2.1 `netconf-session-start`.
    pub fn session_start(&self, who: &SessionInfo) {
        let mut s = format!("<netconf-session-start xmlns=\"{NETCONF_NOTIFICATIONS_NS}\">");
        who.write(&mut s);
        s.push_str("</netconf-session-start>");
        self.publish(s);
    }

    /// RFC 6470 §2.1 `netconf-session-end`; `killed_by` only with `Killed`.
    pub fn session_end(
        &self,
        who: &SessionInfo,
        reason: TerminationReason,
        killed_by: Option<u32>,
    ) {
        let mut s = format!("<netconf-session-end xmlns=\"{NETCONF_NOTIFICATIONS_NS}\">");
        who.write(&mut s);
        // RFC 6470: killed-by "is present when termination-reason is killed".
        if let (TerminationReason::Killed, Some(by)) = (reason, killed_by) {
            let _ = write!(s, "<killed-by>{by}</killed-by>");
        }
        let _ = write!(
            s,
            "<termination-reason>{}</termination-reason></netconf-session-end>",
            reason.as_str()
        );
        self.publish(s);
    }

    /// RFC 6470 §2.1 `netconf-config-change`, for the datastore operations
    /// to call after a change to `datastore` ("running" or "startup").
    pub fn config_change(&self, by: &ChangedBy, datastore: &str, edits: &[Edit]) {
        let mut s =
            format!("<netconf-config-change xmlns=\"{NETCONF_NOTIFICATIONS_NS}\"><changed-by>");
        match by {
            ChangedBy::Server => s.push_str("<server/>"),
            ChangedBy::User(who) => who.write(&mut s),
        }
        let _ = write!(
            s,
            "</changed-by><datastore>{}</datastore>",
            Escaped(datastore)
        );
        for e in edits {
            s.push_str("<edit><target");
            for (prefix, ns) in &e.namespaces {
                let _ = write!(s, " xmlns:{}=\"{}\"", prefix, Escaped(ns));
            }
            let _ = write!(
                s,
                ">{}</target><operation>{}</operation></edit>",
                Escaped(&e.target),
                e.operation.as_str()
            );
        }
        s.push_str("</netconf-config-change>");
        self.publish(s);
    }

    /// RFC 6470 §2.1 `netconf-confirmed-commit`. `who` is absent for a
    /// timeout (no session caused it); `timeout_secs` is sent with `start`
    /// and `extend` only.
    pub fn confirmed_commit(
        &self,
        event: ConfirmEvent,
        who: Option<&SessionInfo>,
        timeout_secs: Option<u32>,
    ) {
        let mut s = format!("<netconf-confirmed-commit xmlns=\"{NETCONF_NOTIFICATIONS_NS}\">");
        if let Some(who) = who {
            who.write(&mut s);
        }
        let _ = write!(s, "<confirm-event>{}</confirm-event>", event.as_str());
        if let (ConfirmEvent::Start | ConfirmEvent::Extend, Some(t)) = (event, timeout_secs) {
            let _ = write!(s, "<timeout>{t}</timeout>");
        }
        s.push_str("</netconf-confirmed-commit>");
        self.publish(s);
    }
}

/// `replayComplete` / `notificationComplete` (RFC 5277 §4, netmod namespace).
fn control(name: &str) -> String {
    Event::new(
        SystemTime::now(),
        format!("<{name} xmlns=\"{NETMOD_NOTIFICATION_NS}\"/>"),
    )
    .into_message()
}

/// Whether a subscription's filter selects the event (RFC 5277 §3.6: the
/// filter is applied to the event content). A selected event is sent
/// whole. Evaluated only for subscribers, one event at a time: no work is
/// done for an event nobody subscribed to, and an event is a few hundred
/// bytes, so one evaluation is bounded (an XPath expression is also
/// bounded in length, `crate::schema::MAX_EVENT_XPATH`).
fn selects(filter: Option<&EventFilter>, e: &Event) -> bool {
    match filter {
        None => true,
        // RFC 6241 §6.4.2: an empty filter selects nothing.
        Some(EventFilter::Subtree(f)) if f.children.is_empty() => false,
        Some(EventFilter::Subtree(f)) => match message::parse_document(e.content.as_bytes()) {
            Ok(el) => !message::subtree_filter(std::slice::from_ref(&el), &f.children).is_empty(),
            Err(_) => false,
        },
        // RFC 6241 §8.9: the expression is evaluated on the event content,
        // the event's element being the context node.
        Some(EventFilter::XPath(x)) => x.selects(&e.content),
    }
}

/// Queues one message to a session, or, when its queue would pass
/// `queue_bytes`, ends the subscription and has the session closed (it
/// reconnects and replays from the time of the last event it received).
/// Returns false on overflow.
fn offer(
    sink: &mut Sink,
    limits: NotifyLimits,
    session_id: u32,
    message: String,
    ends: bool,
) -> bool {
    if sink.overflow.is_cancelled() {
        return false;
    }
    let queued = sink.bytes.load(Ordering::Relaxed);
    if queued.saturating_add(message.len()) > limits.queue_bytes {
        warn!(
            session_id,
            queued,
            limit = limits.queue_bytes,
            "notification queue full (subscriber not reading): closing the session"
        );
        sink.subscription = None;
        sink.overflow.cancel();
        return false;
    }
    sink.bytes.fetch_add(message.len(), Ordering::Relaxed);
    if sink.tx.send(Outbound { message, ends }).is_err() {
        // The session's writer is gone; it is being detached.
        sink.subscription = None;
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn who(id: u32) -> SessionInfo {
        SessionInfo {
            session_id: id,
            username: "ops".into(),
            source_host: Some("127.0.0.1".parse().unwrap()),
        }
    }

    fn drain(rx: &mut Receiver) -> Vec<Outbound> {
        let mut v = Vec::new();
        while let Some(o) = rx.try_recv() {
            rx.written(&o);
            v.push(o);
        }
        v
    }

    /// The message made on first use is the one the eager code made, and
    /// the byte cost is the same as when it was kept from the start.
    #[test]
    fn lazy_event_message_equals_eager_one() {
        assert_eq!(
            NOTIFICATION_HEAD,
            format!("<notification xmlns=\"{NOTIFICATION_NS}\"><eventTime>")
        );
        for t in [
            SystemTime::UNIX_EPOCH,
            SystemTime::now(),
            SystemTime::UNIX_EPOCH + Duration::new(253_402_300_799, 999_999_000),
        ] {
            let content = "<soft-reset xmlns=\"urn:x\"><outcome>completed</outcome></soft-reset>";
            let eager = format!(
                "<notification xmlns=\"{NOTIFICATION_NS}\"><eventTime>{}</eventTime>{content}</notification>",
                event_time(t)
            );
            let e = Event::new(t, content.to_owned());
            assert_eq!(e.cost(), eager.len() + content.len());
            assert_eq!(e.message(), eager);
            assert_eq!(e.message(), eager, "the same bytes on every use");
            assert_eq!(e.kind(), &("urn:x".to_owned(), "soft-reset".to_owned()));
            assert_eq!(e.into_message(), eager);
        }
    }

    #[test]
    fn date_and_time_with_offsets_and_fractions() {
        let z = parse_date_and_time("2026-11-29T10:00:00Z").unwrap();
        assert_eq!(parse_date_and_time("2026-11-29T12:00:00+02:00"), Some(z));
        assert_eq!(parse_date_and_time("2026-11-29T05:30:00-04:30"), Some(z));
        let f = parse_date_and_time("2026-11-29T10:00:00.250Z").unwrap();
        assert_eq!(f.duration_since(z).unwrap(), Duration::from_millis(250));
        for bad in [
            "",
            "yesterday",
            "2026-11-29T10:00:00",
            "2026-11-29T10:00:00+25:00",
        ] {
            assert_eq!(parse_date_and_time(bad), None, "{bad}");
        }
        let t = event_time(f);
        assert!(t.ends_with(".250000Z"), "{t}");
    }

    #[tokio::test]
    async fn live_events_reach_subscribers_only() {
        let hub = Notifier::new(NotifyLimits::default());
        let mut a = hub.attach(1);
        let mut b = hub.attach(2);
        hub.subscribe(1, None, None, None).unwrap();
        assert_eq!(
            hub.subscribe(1, None, None, None),
            Err(SubscribeError::AlreadySubscribed)
        );
        hub.session_start(&who(3));
        let got = drain(&mut a);
        assert_eq!(got.len(), 1);
        assert!(got[0].message.contains("<netconf-session-start"));
        assert!(got[0].message.contains("<session-id>3</session-id>"));
        assert!(drain(&mut b).is_empty());
        assert_eq!(a.queued_bytes(), 0);
    }

    /// RFC 8341 §3.4.6: a restricted session gets only the events its
    /// check permits, live and replayed; replayComplete always.
    #[tokio::test]
    async fn restricted_sessions_get_only_permitted_events() {
        let hub = Notifier::new(NotifyLimits::default());
        let start = SystemTime::now();
        hub.session_start(&who(1));
        let mut rx = hub.attach(9);
        let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let log = seen.clone();
        hub.restrict(
            9,
            Arc::new(move |ns: &str, name: &str| {
                lock(&log).push((ns.to_owned(), name.to_owned()));
                name != "netconf-session-start"
            }),
        );
        hub.subscribe(9, None, Some(start), None).unwrap();
        hub.session_start(&who(2));
        hub.session_end(&who(2), TerminationReason::Closed, None);
        let got: Vec<String> = drain(&mut rx).into_iter().map(|o| o.message).collect();
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].contains("<replayComplete"));
        assert!(got[1].contains("<netconf-session-end"));
        let seen = lock(&seen);
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0],
            (
                "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications".to_owned(),
                "netconf-session-start".to_owned()
            )
        );
    }

    #[tokio::test]
    async fn replay_from_start_time_then_replay_complete() {
        let hub = Notifier::new(NotifyLimits::default());
        hub.session_start(&who(1));
        let mid = SystemTime::now();
        std::thread::sleep(Duration::from_millis(5));
        hub.session_start(&who(2));
        let mut rx = hub.attach(9);
        hub.subscribe(9, None, Some(mid), None).unwrap();
        hub.session_start(&who(3));
        let got: Vec<String> = drain(&mut rx).into_iter().map(|o| o.message).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].contains("<session-id>2</session-id>"));
        assert!(got[1].contains("<replayComplete"));
        assert!(got[2].contains("<session-id>3</session-id>"));
    }

    #[tokio::test]
    async fn stop_time_in_the_past_replays_and_completes() {
        let hub = Notifier::new(NotifyLimits::default());
        let start = SystemTime::now() - Duration::from_secs(1);
        hub.session_start(&who(1));
        let stop = SystemTime::now();
        std::thread::sleep(Duration::from_millis(5));
        hub.session_start(&who(2));
        let mut rx = hub.attach(9);
        hub.subscribe(9, None, Some(start), Some(stop)).unwrap();
        let got = drain(&mut rx);
        assert_eq!(got.len(), 3);
        assert!(got[0].message.contains("<session-id>1</session-id>"));
        assert!(got[1].message.contains("<replayComplete"));
        assert!(got[2].message.contains("<notificationComplete") && got[2].ends);
        // The subscription is over: a new one is allowed.
        assert!(!hub.is_subscribed(9));
        hub.subscribe(9, None, None, None).unwrap();
        assert_eq!(
            hub.subscribe(9, None, Some(start), None),
            Err(SubscribeError::AlreadySubscribed)
        );
    }

    #[tokio::test]
    async fn stop_time_in_the_future_completes_on_time() {
        let hub = Notifier::new(NotifyLimits::default());
        let mut rx = hub.attach(9);
        let now = SystemTime::now();
        hub.subscribe(9, None, Some(now), Some(now + Duration::from_millis(100)))
            .unwrap();
        let first = rx.recv().await.unwrap();
        assert!(first.message.contains("<replayComplete"));
        let done = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(done.message.contains("<notificationComplete") && done.ends);
        assert!(!hub.is_subscribed(9));
    }

    #[test]
    fn time_checks() {
        let hub = Notifier::new(NotifyLimits::default());
        let _rx = hub.attach(1);
        let now = SystemTime::now();
        assert_eq!(
            hub.subscribe(1, None, Some(now + Duration::from_secs(60)), None),
            Err(SubscribeError::StartInFuture)
        );
        assert_eq!(
            hub.subscribe(1, None, Some(now), Some(now - Duration::from_secs(60))),
            Err(SubscribeError::StopBeforeStart)
        );
        assert_eq!(
            hub.subscribe(2, None, None, None),
            Err(SubscribeError::NoSession)
        );
    }

    #[tokio::test]
    async fn subtree_filter_selects_events() {
        let hub = Notifier::new(NotifyLimits::default());
        let mut rx = hub.attach(1);
        let filter = message::parse_document(
            format!("<filter><netconf-session-end xmlns=\"{NETCONF_NOTIFICATIONS_NS}\"/></filter>")
                .as_bytes(),
        )
        .unwrap();
        hub.subscribe(1, Some(EventFilter::Subtree(filter)), None, None)
            .unwrap();
        hub.session_start(&who(2));
        hub.session_end(&who(2), TerminationReason::Killed, Some(7));
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert!(got[0].message.contains("<killed-by>7</killed-by>"));
        assert!(
            got[0]
                .message
                .contains("<termination-reason>killed</termination-reason>")
        );
    }

    #[test]
    fn replay_buffer_is_bounded_in_count_and_bytes() {
        let hub = Notifier::new(NotifyLimits {
            replay_events: 10,
            replay_bytes: 100_000,
            queue_bytes: 1 << 20,
        });
        for i in 0..50 {
            hub.session_start(&who(i));
        }
        assert_eq!(hub.replay_len().0, 10);
        assert!(hub.replay_times().1.is_some());
        let hub = Notifier::new(NotifyLimits {
            replay_events: 1000,
            replay_bytes: 4096,
            queue_bytes: 1 << 20,
        });
        for i in 0..200 {
            hub.session_start(&who(i));
        }
        let (n, bytes) = hub.replay_len();
        assert!(bytes <= 4096 && n > 1, "{n} {bytes}");
    }

    #[tokio::test]
    async fn overflow_closes_the_subscriber_not_the_publisher() {
        let hub = Notifier::new(NotifyLimits {
            replay_events: 10,
            replay_bytes: 100_000,
            queue_bytes: 4096,
        });
        let rx = hub.attach(1);
        let mut other = hub.attach(2);
        hub.subscribe(1, None, None, None).unwrap();
        hub.subscribe(2, None, None, None).unwrap();
        for i in 0..100 {
            hub.session_start(&who(i));
            // Session 2 reads; session 1 never does.
            drain(&mut other);
        }
        assert!(rx.overflow.is_cancelled());
        assert!(rx.queued_bytes() <= 4096);
        assert!(!hub.is_subscribed(1));
        assert!(hub.is_subscribed(2));
        assert_eq!(hub.overflows.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn config_change_and_confirmed_commit_xml() {
        let hub = Notifier::new(NotifyLimits::default());
        let mut rx = hub.attach(1);
        hub.subscribe(1, None, None, None).unwrap();
        hub.config_change(
            &ChangedBy::User(who(4)),
            "running",
            &[Edit {
                operation: EditOperation::Replace,
                target: "/bgp:bgp/bgp:peer[bgp:address='10.0.0.1']".into(),
                namespaces: vec![("bgp".into(), "urn:ncagent:yang:ncagent-bgp".into())],
            }],
        );
        hub.config_change(&ChangedBy::Server, "running", &[]);
        hub.confirmed_commit(ConfirmEvent::Start, Some(&who(4)), Some(600));
        hub.confirmed_commit(ConfirmEvent::Timeout, None, Some(600));
        let got: Vec<String> = drain(&mut rx).into_iter().map(|o| o.message).collect();
        assert_eq!(got.len(), 4);
        assert!(got[0].contains(
            "<edit><target xmlns:bgp=\"urn:ncagent:yang:ncagent-bgp\">/bgp:bgp/bgp:peer[bgp:address=&apos;10.0.0.1&apos;]</target><operation>replace</operation></edit>"
        ));
        assert!(got[0].contains("<changed-by><username>ops</username><session-id>4</session-id>"));
        assert!(got[1].contains("<changed-by><server/></changed-by>"));
        assert!(got[2].contains("<confirm-event>start</confirm-event><timeout>600</timeout>"));
        assert!(
            got[3].contains("<confirm-event>timeout</confirm-event></netconf-confirmed-commit>")
        );
        // Every message parses as XML with the RFC 5277 envelope.
        for m in &got {
            let el = message::parse_document(m.as_bytes()).unwrap();
            assert!(el.is(NOTIFICATION_NS, "notification"));
            assert!(el.child(NOTIFICATION_NS, "eventTime").is_some());
        }
    }
}
