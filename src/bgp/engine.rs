//! The engine actor: owns peers, connections, RIBs and counters, and is the
//! only task that changes them. This file holds the actor loop and what it
//! does with session events; `engine/connect.rs` handles connections and
//! collisions, `engine/refresh.rs` soft resets and their write
//! acknowledgements, `engine/snapshot.rs` the state snapshot.
//!
//! Every queue into the actor is bounded (docs/bgp.md, "Queues and
//! bounds"); the actor itself never waits on a peer: what it asks of a
//! connection goes into that connection's coalescing [`Outbox`].

mod connect;
mod reconfigure;
mod refresh;
mod snapshot;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustbgpd_wire::{RouteRefreshSubtype, RtcNlri};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::codec::{self, Notify, UpdateContext, code};
use super::fsm::{Accepted, SessionState};
use super::outbox::{Counters, ExportPlan, Outbox};
use super::rib::{AdjRibIn, adj_rib_out};
use super::session::{ConnId, SessionEvent};
use super::{
    BgpConfig, BgpError, BgpHandle, DownCause, PEER_EVENT_QUEUE, PeerConfig, PeerEvent, Request,
    SoftResetRecord,
};

/// Requests queued towards the engine before callers wait.
const REQUEST_QUEUE: usize = 64;
/// Session events queued towards the engine; a session whose event does
/// not fit waits, stops reading, and TCP pushes back on its peer.
const EVENT_QUEUE: usize = 256;
/// Accepted connections, connect results and finished soft resets queued
/// towards the engine; their senders wait when it is full.
const INTERNAL_QUEUE: usize = 64;
/// RFC 7313 §4: if EoRR does not follow BoRR within this time, the stale
/// routes are purged anyway (FRR's default stale-path time).
const ENHANCED_REFRESH_STALE_TIME: Duration = Duration::from_secs(360);
/// RFC 4724 §4.2 allows "a (configurable) timer" bounding how long stale
/// routes are kept once the session is back: if the peer's End-of-RIB does
/// not come within this time, its routes still stale are removed (the same
/// bound as for RFC 7313).
const GRACEFUL_RESTART_STALE_TIME: Duration = Duration::from_secs(360);
/// How long shutdown waits for sessions to deliver their CEASE.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Names a peer in messages that reach the actor later (connect results,
/// soft-reset records): a peer removed, or reset by a reconfiguration,
/// gets a new key, so such a late message finds no peer and is dropped.
type PeerKey = u64;

enum Internal {
    Inbound(TcpStream, SocketAddr),
    Connected {
        peer: PeerKey,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: PeerKey,
        error: String,
    },
    RefreshFinished {
        records: Vec<(PeerKey, SoftResetRecord)>,
    },
}

struct Conn {
    id: ConnId,
    outbound: bool,
    state: SessionState,
    outbox: Arc<Outbox>,
    /// The engine asked this connection to close (its events are ignored).
    stopping: bool,
}

struct Est {
    conn: ConnId,
    accepted: Accepted,
    since: SystemTime,
    /// The Adj-RIB-Out as the writer needs it; shared by every export of
    /// this session (exports never copy the routes).
    plan: Arc<ExportPlan>,
}

struct Peer {
    key: PeerKey,
    cfg: PeerConfig,
    internal: bool,
    conns: Vec<Conn>,
    connecting: bool,
    next_connect: Option<Instant>,
    failures: u32,
    est: Option<Est>,
    adj_in: AdjRibIn,
    /// What the current session was sent (empty when not Established).
    adj_out: BTreeSet<RtcNlri>,
    /// Between a received BoRR and EoRR (RFC 7313 §4): the purge deadline.
    in_enhanced_refresh: Option<Instant>,
    /// Written by the connection's writer as messages reach the socket.
    counters: Arc<Counters>,
    rr_received: u64,
    updates_received: u64,
    /// RFC 4724 §2 / RFC 4684 §6: when this session's End-of-RIB arrived.
    end_of_rib_received: Option<SystemTime>,
    /// RFC 4724 §4.2 (Receiving Speaker): the peer's RTC routes are kept,
    /// marked stale, until this instant: its Restart Time while the session
    /// is down, then [`GRACEFUL_RESTART_STALE_TIME`] awaiting End-of-RIB.
    gr_stale_until: Option<Instant>,
    last_soft_reset: Option<SoftResetRecord>,
}

impl Peer {
    fn new(key: PeerKey, cfg: PeerConfig, local_as: u32, now: Instant) -> Self {
        Self {
            key,
            internal: cfg.remote_as == local_as,
            conns: Vec::new(),
            connecting: false,
            next_connect: (!cfg.passive && !cfg.shutdown).then_some(now),
            failures: 0,
            est: None,
            adj_in: AdjRibIn::default(),
            adj_out: BTreeSet::new(),
            in_enhanced_refresh: None,
            counters: Arc::default(),
            rr_received: 0,
            updates_received: 0,
            end_of_rib_received: None,
            gr_stale_until: None,
            last_soft_reset: None,
            cfg,
        }
    }

    fn addr(&self) -> IpAddr {
        self.cfg.address
    }

    fn state(&self) -> SessionState {
        // Connections we are closing no longer count.
        let live = self.conns.iter().filter(|c| !c.stopping);
        if let Some(best) = live.map(|c| c.state).max() {
            return best;
        }
        if self.cfg.shutdown {
            // RFC 4271 §8.2.2: Idle, refusing connections (ManualStop).
            return SessionState::Idle;
        }
        if self.connecting {
            SessionState::Connect
        } else if self.cfg.passive || self.next_connect.is_some() {
            // RFC 4271 §8.2.2: Active = waiting for (or retrying) a connection.
            SessionState::Active
        } else {
            SessionState::Idle
        }
    }

    fn est_conn(&self) -> Option<&Conn> {
        let id = self.est.as_ref()?.conn;
        self.conns.iter().find(|c| c.id == id)
    }
}

struct Engine {
    local_as: u32,
    router_id: std::net::Ipv4Addr,
    hold_time: u16,
    connect_retry: Duration,
    send_hold: Option<Duration>,
    group_names: Vec<String>,
    originated: BTreeSet<RtcNlri>,
    peers: Vec<Peer>,
    next_key: PeerKey,
    next_conn: ConnId,
    conn_peer: HashMap<ConnId, usize>,
    sessions: JoinSet<()>,
    task_conn: HashMap<tokio::task::Id, ConnId>,
    ev_tx: mpsc::Sender<SessionEvent>,
    int_tx: mpsc::Sender<Internal>,
    /// The configured listen address (as written, port 0 unresolved).
    listen: Option<SocketAddr>,
    /// Stops the current accept loop (a child of the engine's shutdown).
    listener_stop: Option<CancellationToken>,
    listen_tx: watch::Sender<Option<SocketAddr>>,
    shutdown: CancellationToken,
    /// Peer state changes for the agent's notifications; `send` never
    /// waits (a broadcast overwrites what slow receivers did not read).
    events: broadcast::Sender<PeerEvent>,
}

pub(super) async fn start(
    config: BgpConfig,
    shutdown: CancellationToken,
) -> Result<(BgpHandle, tokio::task::JoinHandle<()>), BgpError> {
    config.validate()?;
    let listener = match config.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| BgpError::Listen { addr, source })?,
        ),
        None => None,
    };
    let listen_addr = match &listener {
        Some(l) => Some(l.local_addr().map_err(|source| {
            BgpError::Listen {
                addr: config
                    .listen
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0))),
                source,
            }
        })?),
        None => None,
    };
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let (int_tx, int_rx) = mpsc::channel(INTERNAL_QUEUE);

    let originated = reconfigure::originated(config.local_as, &config.route_targets);
    let now = Instant::now();
    let peers: Vec<Peer> = config
        .peers
        .iter()
        .zip(1..)
        .map(|(p, key)| Peer::new(key, p.clone(), config.local_as, now))
        .collect();
    let (listen_tx, listen_rx) = watch::channel(listen_addr);
    let (events, _) = broadcast::channel(PEER_EVENT_QUEUE);
    let listener_stop = listener.as_ref().map(|_| shutdown.child_token());
    let mut engine = Engine {
        local_as: config.local_as,
        router_id: config.router_id,
        hold_time: config.hold_time,
        connect_retry: Duration::from_secs(config.connect_retry),
        send_hold: config.send_hold_time.map(Duration::from_secs),
        group_names: config.groups.iter().map(|g| g.name.clone()).collect(),
        originated,
        next_key: peers.len() as PeerKey + 1,
        peers,
        next_conn: 1,
        conn_peer: HashMap::new(),
        sessions: JoinSet::new(),
        task_conn: HashMap::new(),
        ev_tx,
        int_tx: int_tx.clone(),
        listen: config.listen,
        listener_stop: None,
        listen_tx,
        shutdown: shutdown.clone(),
        events: events.clone(),
    };
    if let (Some(l), Some(stop)) = (listener, listener_stop) {
        tokio::spawn(connect::accept_loop(l, int_tx, stop.clone()));
        engine.listener_stop = Some(stop);
    }
    info!(local_as = config.local_as, router_id = %config.router_id, listen = ?listen_addr, "BGP engine started");
    let keep_req = req_tx.clone();
    let task = tokio::spawn(engine.run(req_rx, keep_req, ev_rx, int_rx, shutdown));
    Ok((
        BgpHandle {
            tx: req_tx,
            listen_addr: listen_rx,
            events,
        },
        task,
    ))
}

impl Engine {
    async fn run(
        mut self,
        mut req_rx: mpsc::Receiver<Request>,
        // Keeps the request channel open so `recv` never yields `None`.
        _keep_req: mpsc::Sender<Request>,
        mut ev_rx: mpsc::Receiver<SessionEvent>,
        mut int_rx: mpsc::Receiver<Internal>,
        shutdown: CancellationToken,
    ) {
        loop {
            self.start_due_connects();
            self.purge_overdue_stale();
            let next = self
                .peers
                .iter()
                .flat_map(|p| [p.next_connect, p.in_enhanced_refresh, p.gr_stale_until])
                .flatten()
                .min();
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(req) = req_rx.recv() => self.on_request(req),
                Some(ev) = ev_rx.recv() => self.on_session_event(ev),
                Some(i) = int_rx.recv() => self.on_internal(i),
                () = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
                Some(r) = self.sessions.join_next_with_id(), if !self.sessions.is_empty() => {
                    match r {
                        Ok((id, ())) => { self.task_conn.remove(&id); }
                        Err(e) => {
                            tracing::error!(error = %e, "BGP session task failed");
                            // The task could not report Down itself.
                            if let Some(conn) = self.task_conn.remove(&e.id()) {
                                let reason = format!("session task failed: {e}");
                                self.on_session_event(SessionEvent::Down { conn, cause: DownCause::Closed(reason.clone()), reason, notification: false });
                            }
                        }
                    }
                }
            }
        }
        // Sessions waiting to report an event must not wait for us any more.
        drop(ev_rx);
        self.shutdown().await;
    }

    async fn shutdown(mut self) {
        info!("BGP engine stopping: CEASE to every session");
        for p in &self.peers {
            for c in &p.conns {
                // RFC 4486 §4: Cease, Administrative Shutdown.
                c.outbox.stop(Notify::new(code::CEASE, 2));
            }
        }
        let grace = Instant::now() + SHUTDOWN_GRACE;
        while !self.sessions.is_empty() {
            match timeout_at(grace, self.sessions.join_next()).await {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        self.sessions.abort_all();
    }

    /// RFC 7313 §4: no EoRR in time: remove the routes still stale.
    fn purge_overdue_stale(&mut self) {
        let now = Instant::now();
        for p in &mut self.peers {
            if p.in_enhanced_refresh.is_some_and(|t| t <= now) {
                let stale = p.adj_in.sweep_stale();
                p.in_enhanced_refresh = None;
                warn!(peer = %p.addr(), removed = stale.len(), reason = "no EoRR in time", "stale routes purged");
            }
            if p.gr_stale_until.is_some_and(|t| t <= now) {
                // RFC 4724 §4.2: not re-established within the Restart
                // Time, or no End-of-RIB within our bound: delete the
                // stale routes.
                let stale = p.adj_in.sweep_stale();
                p.gr_stale_until = None;
                let reason = if p.est.is_some() {
                    "no End-of-RIB in time after graceful restart"
                } else {
                    "peer's restart time expired"
                };
                warn!(peer = %p.addr(), removed = stale.len(), reason, "stale routes purged");
            }
        }
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Request::Routes { peer, reply } => {
                let _ = reply.send(self.routes(peer));
            }
            Request::Refresh {
                selector,
                direction,
                deadline,
                reply,
            } => self.refresh(selector, direction, deadline, reply),
            Request::Reconfigure {
                config,
                deadline,
                reply,
            } => {
                let r = if Instant::now() > deadline {
                    Err(super::ReconfigureError::Timeout)
                } else {
                    self.reconfigure(*config)
                };
                let _ = reply.send(r);
            }
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<(usize, &mut Conn)> {
        let idx = *self.conn_peer.get(&conn)?;
        let c = self.peers[idx].conns.iter_mut().find(|c| c.id == conn)?;
        Some((idx, c))
    }

    /// The peer whose Established session is `conn` (and that session is
    /// not being closed by us).
    fn est_peer(&mut self, conn: ConnId) -> Option<usize> {
        let idx = self.conn_peer.get(&conn).copied()?;
        let p = &self.peers[idx];
        let live = p.est.as_ref().is_some_and(|e| e.conn == conn)
            && p.conns.iter().any(|c| c.id == conn && !c.stopping);
        live.then_some(idx)
    }

    fn on_session_event(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::State { conn, state } => {
                if let Some((_, c)) = self.conn_mut(conn) {
                    c.state = state;
                }
            }
            SessionEvent::OpenReceived {
                conn,
                accepted,
                reply,
            } => {
                let ok = self.resolve_collision(conn, &accepted);
                let _ = reply.send(ok);
            }
            SessionEvent::Established {
                conn,
                accepted,
                local_addr,
            } => self.on_established(conn, accepted, local_addr),
            SessionEvent::Update { conn, update } => {
                let Some(idx) = self.est_peer(conn) else {
                    return;
                };
                let p = &mut self.peers[idx];
                p.updates_received += 1;
                for n in &update.withdrawn {
                    p.adj_in.withdraw(n);
                }
                for n in update.announced {
                    p.adj_in.announce(n);
                }
                self.check_max_prefixes(idx, conn);
            }
            SessionEvent::EndOfRib { conn } => {
                let Some(idx) = self.est_peer(conn) else {
                    return;
                };
                let p = &mut self.peers[idx];
                p.updates_received += 1;
                if p.end_of_rib_received.is_none() {
                    info!(peer = %p.addr(), routes = p.adj_in.len(), "End-of-RIB received for RT membership");
                }
                p.end_of_rib_received = Some(SystemTime::now());
                if p.gr_stale_until.take().is_some() {
                    // RFC 4724 §4.2: at the End-of-RIB, what is still
                    // stale was not re-advertised: remove it.
                    let stale = p.adj_in.sweep_stale();
                    info!(peer = %p.addr(), removed = stale.len(), "graceful restart done: stale routes removed");
                }
            }
            SessionEvent::RouteRefresh { conn, subtype } => self.on_route_refresh(conn, subtype),
            SessionEvent::Down {
                conn,
                reason,
                notification,
                cause,
            } => {
                let Some(idx) = self.conn_peer.remove(&conn) else {
                    return;
                };
                let p = &mut self.peers[idx];
                p.conns.retain(|c| c.id != conn);
                if let Some(est) = p.est.take_if(|e| e.conn == conn) {
                    warn!(peer = %p.addr(), %reason, "BGP session left Established");
                    // No receiver is not an error: nobody subscribed.
                    let _ = self.events.send(PeerEvent {
                        address: p.addr(),
                        remote_as: p.cfg.remote_as,
                        previous: SessionState::Established,
                        state: p.state(),
                        cause: Some(cause),
                        time: SystemTime::now(),
                    });
                    let restart = est
                        .accepted
                        .peer_restart
                        .filter(|r| est.accepted.negotiated.rtc && r.retains_rtc());
                    match restart {
                        // RFC 4724 §4.2: the TCP session ended (no
                        // NOTIFICATION: RFC 8538 is not negotiated) with a
                        // peer that listed AFI 1 / SAFI 132 in its Graceful
                        // Restart capability: keep its routes, marked
                        // stale, for its Restart Time. "A route (from the
                        // peer) previously marked as stale MUST be deleted."
                        Some(r) if !notification && !r.restart_time.is_zero() => {
                            let dropped = p.adj_in.sweep_stale();
                            p.adj_in.mark_stale();
                            p.gr_stale_until = Some(Instant::now() + r.restart_time);
                            info!(peer = %p.addr(), kept = p.adj_in.len(), dropped = dropped.len(), restart_time = r.restart_time.as_secs(), "peer may be restarting: RTC routes kept as stale (RFC 4724)");
                        }
                        _ => {
                            p.adj_in.clear();
                            p.gr_stale_until = None;
                        }
                    }
                    p.adj_out.clear();
                    p.in_enhanced_refresh = None;
                    p.end_of_rib_received = None;
                    p.failures = 0;
                }
                self.schedule_reconnect(idx);
            }
        }
    }

    /// RFC 4486 §4: more RTC routes from the peer than its `max_prefixes`:
    /// Cease, "Maximum Number of Prefixes Reached" (subcode 1), with AFI,
    /// SAFI and the upper bound as data; the session is closed.
    fn check_max_prefixes(&mut self, idx: usize, conn: ConnId) {
        let p = &mut self.peers[idx];
        let limit = p.cfg.max_prefixes;
        let count = p.adj_in.len();
        if u32::try_from(count).is_ok_and(|c| c <= limit) {
            return;
        }
        warn!(peer = %p.addr(), count, limit, "maximum number of RTC prefixes reached: session closed (RFC 4486 Cease/1)");
        let mut data = Vec::with_capacity(7);
        data.extend_from_slice(&codec::AFI_IPV4.to_be_bytes());
        data.push(codec::SAFI_RTC);
        data.extend_from_slice(&limit.to_be_bytes());
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
            c.stopping = true;
            c.outbox.stop(Notify::with_data(code::CEASE, 1, data));
        }
        // The routes of a session being closed are not kept.
        p.adj_in.clear();
    }

    fn on_established(&mut self, conn: ConnId, accepted: Accepted, local_addr: IpAddr) {
        let Some(idx) = self.conn_peer.get(&conn).copied() else {
            return;
        };
        let local_as = self.local_as;
        let router_id = self.router_id;
        let p = &mut self.peers[idx];
        match p.conns.iter_mut().find(|c| c.id == conn) {
            // A connection we are closing (collision loser) never takes over.
            Some(c) if !c.stopping => c.state = SessionState::Established,
            _ => return,
        }
        let ctx = UpdateContext::for_session(
            local_as,
            p.internal,
            &accepted.negotiated,
            local_addr,
            router_id,
        );
        info!(peer = %p.addr(), negotiated = ?accepted.negotiated, "BGP session Established");
        let _ = self.events.send(PeerEvent {
            address: p.addr(),
            remote_as: p.cfg.remote_as,
            previous: SessionState::OpenConfirm,
            state: SessionState::Established,
            cause: None,
            time: SystemTime::now(),
        });
        p.adj_out = if accepted.negotiated.rtc {
            adj_rib_out(&self.originated, p.cfg.advertise_default_rt)
        } else {
            BTreeSet::new()
        };
        let routes: Vec<RtcNlri> = p.adj_out.iter().copied().collect();
        let plan = self.plan_for(ctx, routes, accepted.negotiated.enhanced_route_refresh);
        let p = &mut self.peers[idx];
        p.est = Some(Est {
            conn,
            accepted,
            since: SystemTime::now(),
            plan: plan.clone(),
        });
        p.failures = 0;
        p.next_connect = None;
        p.end_of_rib_received = None;
        if p.gr_stale_until.is_some() {
            // RFC 4724 §4.2: the stale routes stay (until End-of-RIB) only
            // if the new OPEN lists AFI 1 / SAFI 132 with the Forwarding
            // State bit set; otherwise they go at once.
            let preserved = accepted.negotiated.rtc
                && accepted
                    .peer_restart
                    .and_then(|r| r.rtc_forwarding_preserved)
                    .unwrap_or(false);
            if preserved {
                p.gr_stale_until = Some(Instant::now() + GRACEFUL_RESTART_STALE_TIME);
            } else {
                let stale = p.adj_in.sweep_stale();
                p.gr_stale_until = None;
                info!(peer = %p.addr(), removed = stale.len(), "peer did not preserve RTC forwarding state: stale routes removed (RFC 4724)");
            }
        }
        p.counters.end_of_rib_sent.store(false, Ordering::Relaxed);
        if accepted.negotiated.rtc
            && let Some(c) = p.est_conn()
        {
            // The Adj-RIB-Out, then End-of-RIB (RFC 4684 §6).
            c.outbox.initial(plan);
        }
    }

    /// The export plan for a session: an Established session's plan with
    /// exactly these encoding parameters if there is one (its UPDATEs are
    /// then encoded once for both), else a new one. Sharing needs the whole
    /// context equal (next hop, AS4, iBGP/eBGP, local AS), the same routes
    /// and the same RFC 7313 brackets: the bytes are then identical.
    fn plan_for(
        &self,
        ctx: UpdateContext,
        routes: Vec<RtcNlri>,
        enhanced: bool,
    ) -> Arc<ExportPlan> {
        let live = self
            .peers
            .iter()
            .filter_map(|p| p.est.as_ref())
            .map(|e| &e.plan);
        ExportPlan::shared(live, ctx, routes, enhanced)
    }

    fn on_route_refresh(&mut self, conn: ConnId, subtype: RouteRefreshSubtype) {
        let Some(idx) = self.est_peer(conn) else {
            return;
        };
        let p = &mut self.peers[idx];
        let Some(est) = &p.est else { return };
        let err = est.accepted.negotiated.enhanced_route_refresh;
        let plan = est.plan.clone();
        p.rr_received += 1;
        match subtype {
            RouteRefreshSubtype::Normal => {
                // RFC 2918 §4 / RFC 7313 §4: answer with the Adj-RIB-Out.
                // Repeated requests while one answer waits are merged.
                info!(peer = %p.addr(), "ROUTE-REFRESH received: re-advertising Adj-RIB-Out");
                if let Some(c) = p.est_conn() {
                    c.outbox.export(plan, None);
                }
            }
            RouteRefreshSubtype::BoRR if err => {
                // RFC 7313 §4: BoRR: every route of the family becomes stale.
                p.adj_in.mark_stale();
                p.in_enhanced_refresh = Some(Instant::now() + ENHANCED_REFRESH_STALE_TIME);
                debug!(peer = %p.addr(), "BoRR received");
            }
            RouteRefreshSubtype::EoRR if err && p.in_enhanced_refresh.is_some() => {
                // RFC 7313 §4: EoRR: routes not re-advertised since BoRR are removed.
                let stale = p.adj_in.sweep_stale();
                p.in_enhanced_refresh = None;
                info!(peer = %p.addr(), removed = stale.len(), "EoRR received: stale routes removed");
            }
            other => {
                debug!(peer = %p.addr(), subtype = other.as_u8(), "demarcation ignored (enhanced route refresh not negotiated)");
            }
        }
    }
}
