//! State shared by all NETCONF sessions: the session table (for
//! `kill-session` and monitoring), the running-datastore lock, and the
//! RFC 6022 statistics.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::framing::FramingLimits;
use super::notify::{CAP_INTERLEAVE, CAP_NOTIFICATION, Notifier, NotifyLimits};
use super::{Application, CAP_BASE_1_0, CAP_BASE_1_1};
use crate::auth::Level;

#[derive(Debug, Clone)]
pub struct SessionUser {
    pub name: String,
    pub level: Level,
}

/// Per-session counters of RFC 6022 §2.1.4 (`sessions/session`).
#[derive(Debug, Default)]
pub struct SessionCounters {
    pub in_rpcs: AtomicU64,
    pub in_bad_rpcs: AtomicU64,
    pub out_rpc_errors: AtomicU64,
    /// RFC 6022 §2.1.4 out-notifications: `<notification>` messages written.
    pub out_notifications: AtomicU64,
}

#[derive(Debug)]
pub struct SessionEntry {
    pub id: u32,
    pub user: String,
    pub peer: Option<SocketAddr>,
    pub login_time: SystemTime,
    pub counters: Arc<SessionCounters>,
    pub kill: CancellationToken,
    /// Who killed the session (RFC 6470 `killed-by`); 0: nobody.
    pub killed_by: Arc<AtomicU32>,
}

/// One row of the monitoring `sessions` list.
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub id: u32,
    pub user: String,
    pub peer: Option<SocketAddr>,
    pub login_time: SystemTime,
    pub in_rpcs: u64,
    pub in_bad_rpcs: u64,
    pub out_rpc_errors: u64,
    pub out_notifications: u64,
}

/// Server-wide counters of RFC 6022 §2.1.5 (`statistics`).
#[derive(Debug, Default)]
pub struct Statistics {
    pub in_bad_hellos: AtomicU64,
    pub in_sessions: AtomicU64,
    pub dropped_sessions: AtomicU64,
    pub in_rpcs: AtomicU64,
    pub in_bad_rpcs: AtomicU64,
    pub out_rpc_errors: AtomicU64,
    /// RFC 6022 §2.1.5 out-notifications.
    pub out_notifications: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct SessionLimits {
    pub framing: FramingLimits,
    pub max_sessions: usize,
    pub hello_timeout: std::time::Duration,
    pub idle_timeout: Option<std::time::Duration>,
}

/// What one session may hold in memory, and how long its client may leave
/// replies unread (docs/configuration.md, "Per-session bounds").
#[derive(Debug, Clone, Copy)]
pub struct FlowLimits {
    /// Bytes read from the client but not yet answered. Above it, with at
    /// least one whole message waiting, the session stops taking input: a
    /// plain stream stops being read, an SSH channel's window is shrunk.
    pub input_backlog: usize,
    /// Bytes of encoded replies waiting for the writer. When full, the
    /// session stops answering (and so, through `input_backlog`, reading).
    pub reply_queue: usize,
    /// A write that makes no progress this long closes the session (a client
    /// that never reads its replies). None: never.
    pub write_stall: Option<Duration>,
}

pub const DEFAULT_INPUT_BACKLOG: usize = 1024 * 1024;
pub const DEFAULT_REPLY_QUEUE: usize = 1024 * 1024;
pub const DEFAULT_WRITE_STALL: Duration = Duration::from_secs(60);

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            input_backlog: DEFAULT_INPUT_BACKLOG,
            reply_queue: DEFAULT_REPLY_QUEUE,
            write_stall: Some(DEFAULT_WRITE_STALL),
        }
    }
}

/// The unprocessed input of one session, shared between the session's
/// reader, its processor and the transport (the SSH layer reads it to size
/// the channel window, RFC 4254 §5.2).
#[derive(Debug)]
pub struct InputGauge {
    bytes: AtomicUsize,
    messages: AtomicUsize,
    cap: usize,
    /// Set by a transport that must be read at all times and bounds the
    /// input by its own flow control (SSH); `slack` is what that transport
    /// may still deliver once it has been told to stop (its window).
    transport_bounded: AtomicBool,
    slack: AtomicUsize,
    drained: Notify,
}

impl InputGauge {
    pub fn new(cap: usize) -> InputGauge {
        InputGauge {
            bytes: AtomicUsize::new(0),
            messages: AtomicUsize::new(0),
            cap,
            transport_bounded: AtomicBool::new(false),
            slack: AtomicUsize::new(0),
            drained: Notify::new(),
        }
    }

    /// Called by a transport that bounds input itself: the session's reader
    /// then never pauses, and closes the session only if more than `slack`
    /// bytes beyond the bounds arrive anyway.
    pub fn bounded_by_transport(&self, slack: usize) {
        self.slack.store(slack, Ordering::Relaxed);
        self.transport_bounded.store(true, Ordering::Relaxed);
    }

    pub fn is_bounded_by_transport(&self) -> bool {
        self.transport_bounded.load(Ordering::Relaxed)
    }

    pub fn slack(&self) -> usize {
        self.slack.load(Ordering::Relaxed)
    }

    /// Bytes read and not yet answered (including a partial message).
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    /// True while input should stop: over the cap with at least one whole
    /// message waiting (a single message larger than the cap must still be
    /// read to its end, up to the message size limit).
    pub fn over_cap(&self) -> bool {
        self.messages.load(Ordering::Relaxed) > 0 && self.bytes() > self.cap
    }

    pub(crate) fn read(&self, n: usize) {
        self.bytes.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn queued(&self, extra: usize) {
        self.bytes.fetch_add(extra, Ordering::Relaxed);
        self.messages.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn answered(&self, n: usize) {
        self.bytes.fetch_sub(n, Ordering::Relaxed);
        self.messages.fetch_sub(1, Ordering::Relaxed);
        self.drained.notify_one();
    }

    pub(crate) async fn wait_drained(&self) {
        while self.over_cap() {
            let notified = self.drained.notified();
            if !self.over_cap() {
                return;
            }
            notified.await;
        }
    }
}

pub struct ServerState {
    pub app: Arc<dyn Application>,
    /// The capabilities of the server `<hello>` (RFC 6241 §8.1): the base
    /// protocol versions, then what the application generates from its
    /// schema. Fixed at start-up.
    pub capabilities: Vec<String>,
    pub limits: SessionLimits,
    pub flow: FlowLimits,
    pub start_time: SystemTime,
    pub stats: Statistics,
    /// Cancelled on agent shutdown: every session closes.
    pub shutdown: CancellationToken,
    /// The RFC 5277 event stream: sessions publish their start and end,
    /// subscribed sessions receive.
    pub notifier: Arc<Notifier>,
    next_id: AtomicU32,
    sessions: Mutex<BTreeMap<u32, SessionEntry>>,
    /// Holder of the running-datastore lock (RFC 6241 §7.5) and when it
    /// was taken (RFC 6022 §2.1.2 `locked-time`), for an application
    /// without datastores of its own ([`Application::datastore_op`]).
    running_lock: Mutex<Option<(u32, SystemTime)>>,
    /// The application's `<schemas>` of `netconf-state` (RFC 6022
    /// §2.1.3), asked once: the served modules are fixed at start-up, like
    /// the capabilities, and generating the list walks the whole schema.
    monitoring_schemas: OnceLock<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks cannot leave them inconsistent (each
    // critical section is a single insert/remove), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Removes a session from the table (and releases its lock) when dropped.
pub struct SessionGuard {
    state: Arc<ServerState>,
    pub id: u32,
    pub kill: CancellationToken,
    pub counters: Arc<SessionCounters>,
    /// Set by `kill-session` to the killer's session-id.
    pub killed_by: Arc<AtomicU32>,
    /// The session's unprocessed input, for the transport's flow control.
    pub input: Arc<InputGauge>,
    /// Cancelled by the transport when the client is gone (SSH channel
    /// closed, connection lost): the session stops without running what is
    /// still queued.
    pub transport_closed: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.state.remove_session(self.id);
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// Held by this session id (RFC 6241 §7.5: reported in error-info).
    HeldBy(u32),
    NotHeld,
}

impl ServerState {
    pub fn new(
        app: Arc<dyn Application>,
        limits: SessionLimits,
        shutdown: CancellationToken,
    ) -> Arc<ServerState> {
        Self::with_flow(app, limits, FlowLimits::default(), shutdown)
    }

    pub fn with_flow(
        app: Arc<dyn Application>,
        limits: SessionLimits,
        flow: FlowLimits,
        shutdown: CancellationToken,
    ) -> Arc<ServerState> {
        Self::with_notifier(
            app,
            limits,
            flow,
            Notifier::new(NotifyLimits::default()),
            shutdown,
        )
    }

    /// [`ServerState::with_flow`] publishing to (and serving subscriptions
    /// of) `notifier`.
    pub fn with_notifier(
        app: Arc<dyn Application>,
        limits: SessionLimits,
        flow: FlowLimits,
        notifier: Arc<Notifier>,
        shutdown: CancellationToken,
    ) -> Arc<ServerState> {
        // RFC 5277 §3.1.1 and §6.1: notifications, and RPCs answered on a
        // subscribed session.
        let mut capabilities = vec![
            CAP_BASE_1_0.to_owned(),
            CAP_BASE_1_1.to_owned(),
            CAP_NOTIFICATION.to_owned(),
            CAP_INTERLEAVE.to_owned(),
        ];
        capabilities.extend(app.capabilities());
        Arc::new(ServerState {
            app,
            capabilities,
            limits,
            flow,
            start_time: SystemTime::now(),
            stats: Statistics::default(),
            shutdown,
            notifier,
            next_id: AtomicU32::new(1),
            sessions: Mutex::new(BTreeMap::new()),
            running_lock: Mutex::new(None),
            monitoring_schemas: OnceLock::new(),
        })
    }

    /// Registers a new session, or returns None when `max_sessions` are open.
    pub fn add_session(
        self: &Arc<Self>,
        user: &str,
        peer: Option<SocketAddr>,
    ) -> Option<SessionGuard> {
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= self.limits.max_sessions {
            return None;
        }
        // RFC 6241 §8.1: session-id is a non-zero 32-bit number; 0 is
        // reserved, so skip it on wrap-around.
        let mut id = self.next_id.fetch_add(1, Ordering::Relaxed);
        while id == 0 || sessions.contains_key(&id) {
            id = self.next_id.fetch_add(1, Ordering::Relaxed);
        }
        let kill = self.shutdown.child_token();
        let counters = Arc::new(SessionCounters::default());
        let killed_by = Arc::new(AtomicU32::new(0));
        sessions.insert(
            id,
            SessionEntry {
                id,
                user: user.to_owned(),
                peer,
                login_time: SystemTime::now(),
                counters: counters.clone(),
                kill: kill.clone(),
                killed_by: killed_by.clone(),
            },
        );
        self.stats.in_sessions.fetch_add(1, Ordering::Relaxed);
        Some(SessionGuard {
            state: self.clone(),
            id,
            kill,
            counters,
            killed_by,
            input: Arc::new(InputGauge::new(self.flow.input_backlog)),
            transport_closed: CancellationToken::new(),
        })
    }

    fn remove_session(&self, id: u32) {
        lock(&self.sessions).remove(&id);
        self.app.session_ended(id);
        self.notifier.detach(id);
        let mut held = lock(&self.running_lock);
        if held.is_some_and(|(holder, _)| holder == id) {
            // RFC 6241 §7.5: a lock is released when its session ends.
            *held = None;
            tracing::info!(session_id = id, "running lock released at session end");
        }
    }

    /// The client address of a session, if it came over a network.
    pub fn session_peer(&self, id: u32) -> Option<SocketAddr> {
        lock(&self.sessions).get(&id).and_then(|s| s.peer)
    }

    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Ends another session (RFC 6241 §7.9): its operations stop, its locks go.
    /// Not a dropped session (RFC 6022 §2.1.5 `dropped-sessions` counts
    /// abnormal ends such as transport loss and timeouts, docs/decisions.md).
    pub fn kill_session(&self, id: u32) -> bool {
        self.kill_session_by(id, 0)
    }

    /// [`ServerState::kill_session`] on behalf of session `by` (RFC 6470
    /// `killed-by` of the session-end event).
    pub fn kill_session_by(&self, id: u32, by: u32) -> bool {
        let token = lock(&self.sessions)
            .get(&id)
            .map(|s| (s.kill.clone(), s.killed_by.clone()));
        match token {
            Some((t, killed_by)) => {
                killed_by.store(by, Ordering::Relaxed);
                t.cancel();
                // RFC 6241 §7.9: the killed session's locks are released
                // now, not when its task gets to end.
                self.app.session_ended(id);
                let mut held = lock(&self.running_lock);
                if held.is_some_and(|(holder, _)| holder == id) {
                    *held = None;
                }
                true
            }
            None => false,
        }
    }

    pub fn lock_running(&self, id: u32) -> Result<(), LockError> {
        let mut held = lock(&self.running_lock);
        match *held {
            Some((holder, _)) => Err(LockError::HeldBy(holder)),
            None => {
                *held = Some((id, SystemTime::now()));
                Ok(())
            }
        }
    }

    pub fn unlock_running(&self, id: u32) -> Result<(), LockError> {
        let mut held = lock(&self.running_lock);
        match *held {
            Some((holder, _)) if holder == id => {
                *held = None;
                Ok(())
            }
            Some((holder, _)) => Err(LockError::HeldBy(holder)),
            None => Err(LockError::NotHeld),
        }
    }

    pub fn running_lock_holder(&self) -> Option<u32> {
        self.running_lock_info().map(|(holder, _)| holder)
    }

    /// The holder of the running lock and the time it took the lock: the
    /// application's datastores' lock where it has them.
    pub fn running_lock_info(&self) -> Option<(u32, SystemTime)> {
        self.app
            .lock_info("running")
            .or_else(|| *lock(&self.running_lock))
    }

    /// A copy of the session table for monitoring.
    /// The application's `<schemas>` element (cached, see the field).
    pub fn monitoring_schemas(&self) -> Option<&str> {
        self.monitoring_schemas
            .get_or_init(|| self.app.monitoring_schemas())
            .as_deref()
    }

    pub fn sessions_snapshot(&self) -> Vec<SessionSummary> {
        lock(&self.sessions)
            .values()
            .map(|s| SessionSummary {
                id: s.id,
                user: s.user.clone(),
                peer: s.peer,
                login_time: s.login_time,
                in_rpcs: s.counters.in_rpcs.load(Ordering::Relaxed),
                in_bad_rpcs: s.counters.in_bad_rpcs.load(Ordering::Relaxed),
                out_rpc_errors: s.counters.out_rpc_errors.load(Ordering::Relaxed),
                out_notifications: s.counters.out_notifications.load(Ordering::Relaxed),
            })
            .collect()
    }
}
