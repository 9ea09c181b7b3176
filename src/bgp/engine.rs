//! The engine actor: owns peers, connections, RIBs and counters; resolves
//! selectors; runs soft resets; schedules connects; answers snapshots.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use rustbgpd_wire::{RouteRefreshSubtype, RtcNlri};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::codec::{self, Notify, OpenParams, UpdateContext, code};
use super::config::canonical_ip;
use super::fsm::{self, Accepted, Expect, Keep, SessionState};
use super::rib::{AdjRibIn, RouteTarget, adj_rib_out};
use super::session::{ConnId, Session, SessionCmd, SessionEvent};
use super::{
    BgpConfig, BgpError, BgpHandle, Direction, PeerConfig, PeerSelector, PeerSnapshot,
    RefreshError, RefreshOutcome, Request, RtcRoute, SkipReason, Snapshot, SoftResetRecord,
    SoftResetResult,
};

/// Requests queued towards the engine before callers wait.
const REQUEST_QUEUE: usize = 64;
/// RFC 7313 §4: if EoRR does not follow BoRR within this time, the stale
/// routes are purged anyway (FRR's default stale-path time).
const ENHANCED_REFRESH_STALE_TIME: Duration = Duration::from_secs(360);
/// How long shutdown waits for sessions to deliver their CEASE.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

enum Internal {
    Inbound(TcpStream, SocketAddr),
    Connected {
        peer: usize,
        stream: TcpStream,
    },
    ConnectFailed {
        peer: usize,
        error: String,
    },
    RefreshFinished {
        records: Vec<(usize, SoftResetRecord)>,
    },
}

struct Conn {
    id: ConnId,
    outbound: bool,
    state: SessionState,
    cmd: mpsc::UnboundedSender<SessionCmd>,
}

struct Est {
    conn: ConnId,
    accepted: Accepted,
    since: SystemTime,
    ctx: UpdateContext,
}

struct Peer {
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
    rr_sent: u64,
    rr_received: u64,
    updates_sent: u64,
    updates_received: u64,
    last_soft_reset: Option<SoftResetRecord>,
}

impl Peer {
    fn addr(&self) -> IpAddr {
        self.cfg.address
    }

    fn state(&self) -> SessionState {
        if let Some(best) = self.conns.iter().map(|c| c.state).max() {
            return best;
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
    refresh_timeout: Duration,
    group_names: Vec<String>,
    originated: BTreeSet<RtcNlri>,
    peers: Vec<Peer>,
    next_conn: ConnId,
    conn_peer: HashMap<ConnId, usize>,
    sessions: JoinSet<()>,
    task_conn: HashMap<tokio::task::Id, ConnId>,
    ev_tx: mpsc::UnboundedSender<SessionEvent>,
    int_tx: mpsc::UnboundedSender<Internal>,
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
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (int_tx, int_rx) = mpsc::unbounded_channel();

    let mut originated = BTreeSet::new();
    for rt in &config.route_targets {
        // validate() parsed every target already.
        if let Some(n) = rt
            .parse::<RouteTarget>()
            .ok()
            .and_then(|t| t.nlri(config.local_as))
        {
            originated.insert(n);
        }
    }
    let now = Instant::now();
    let peers = config
        .peers
        .iter()
        .map(|p| Peer {
            cfg: p.clone(),
            internal: p.remote_as == config.local_as,
            conns: Vec::new(),
            connecting: false,
            next_connect: (!p.passive).then_some(now),
            failures: 0,
            est: None,
            adj_in: AdjRibIn::default(),
            adj_out: BTreeSet::new(),
            in_enhanced_refresh: None,
            rr_sent: 0,
            rr_received: 0,
            updates_sent: 0,
            updates_received: 0,
            last_soft_reset: None,
        })
        .collect();
    let engine = Engine {
        local_as: config.local_as,
        router_id: config.router_id,
        hold_time: config.hold_time,
        connect_retry: Duration::from_secs(config.connect_retry),
        refresh_timeout: Duration::from_secs(config.refresh_timeout),
        group_names: config.groups.iter().map(|g| g.name.clone()).collect(),
        originated,
        peers,
        next_conn: 1,
        conn_peer: HashMap::new(),
        sessions: JoinSet::new(),
        task_conn: HashMap::new(),
        ev_tx,
        int_tx: int_tx.clone(),
    };
    if let Some(l) = listener {
        tokio::spawn(accept_loop(l, int_tx, shutdown.clone()));
    }
    info!(local_as = config.local_as, router_id = %config.router_id, listen = ?listen_addr, "BGP engine started");
    let keep_req = req_tx.clone();
    let task = tokio::spawn(engine.run(req_rx, keep_req, ev_rx, int_rx, shutdown));
    Ok((
        BgpHandle {
            tx: req_tx,
            listen_addr,
        },
        task,
    ))
}

async fn accept_loop(
    listener: TcpListener,
    int_tx: mpsc::UnboundedSender<Internal>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    if int_tx.send(Internal::Inbound(stream, from)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!(error = %e, "BGP accept failed");
                    // Back off a little on e.g. EMFILE rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

/// RFC 4486 §4: Cease, "Connection Rejected" to an unconfigured neighbour.
async fn reject(mut stream: TcpStream, from: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    warn!(%from, reason = "not a configured peer", "BGP connection rejected");
    if let Ok(b) = codec::encode_notification(&Notify::new(code::CEASE, 5)) {
        let _ = timeout(Duration::from_secs(1), stream.write_all(&b)).await;
    }
    let _ = stream.shutdown().await;
}

impl Engine {
    async fn run(
        mut self,
        mut req_rx: mpsc::Receiver<Request>,
        // Keeps the request channel open so `recv` never yields `None`.
        _keep_req: mpsc::Sender<Request>,
        mut ev_rx: mpsc::UnboundedReceiver<SessionEvent>,
        mut int_rx: mpsc::UnboundedReceiver<Internal>,
        shutdown: CancellationToken,
    ) {
        loop {
            self.start_due_connects();
            self.purge_overdue_stale();
            let next = self
                .peers
                .iter()
                .flat_map(|p| [p.next_connect, p.in_enhanced_refresh])
                .flatten()
                .min();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(req) = req_rx.recv() => self.on_request(req),
                Some(ev) = ev_rx.recv() => self.on_session_event(ev),
                Some(i) = int_rx.recv() => self.on_internal(i),
                _ = sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => {}
                Some(r) = self.sessions.join_next_with_id(), if !self.sessions.is_empty() => {
                    match r {
                        Ok((id, ())) => { self.task_conn.remove(&id); }
                        Err(e) => {
                            tracing::error!(error = %e, "BGP session task failed");
                            // The task could not report Down itself.
                            if let Some(conn) = self.task_conn.remove(&e.id()) {
                                self.on_session_event(SessionEvent::Down { conn, reason: format!("session task failed: {e}") });
                            }
                        }
                    }
                }
            }
        }
        self.shutdown().await;
    }

    async fn shutdown(mut self) {
        info!("BGP engine stopping: CEASE to every session");
        for p in &self.peers {
            for c in &p.conns {
                // RFC 4486 §4: Cease, Administrative Shutdown.
                let _ = c.cmd.send(SessionCmd::Stop(Notify::new(code::CEASE, 2)));
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

    fn open_params(&self, p: &PeerConfig) -> OpenParams {
        OpenParams {
            local_as: self.local_as,
            hold_time: self.hold_time,
            router_id: self.router_id,
            rtc: p.vpn_target,
            route_refresh: p.route_refresh,
            enhanced_route_refresh: p.enhanced_route_refresh && p.route_refresh,
            extended_next_hop: canonical_ip(p.address).is_ipv6(),
        }
    }

    fn start_due_connects(&mut self) {
        let now = Instant::now();
        for idx in 0..self.peers.len() {
            let p = &mut self.peers[idx];
            let due = p.next_connect.is_some_and(|t| t <= now);
            if !due {
                continue;
            }
            // Due now: either connect, or (a connection exists already) drop
            // the deadline so the loop does not wake for it again; the
            // connection's end schedules the next attempt.
            p.next_connect = None;
            if p.cfg.passive || p.connecting || !p.conns.is_empty() {
                continue;
            }
            p.connecting = true;
            let addr = SocketAddr::new(p.cfg.address, p.cfg.port);
            let local = p.cfg.local_address;
            let limit = self.connect_retry.max(Duration::from_secs(1));
            let tx = self.int_tx.clone();
            debug!(peer = %addr, "BGP connecting");
            tokio::spawn(async move {
                let r = connect(addr, local, limit).await;
                let _ = tx.send(match r {
                    Ok(stream) => Internal::Connected { peer: idx, stream },
                    Err(error) => Internal::ConnectFailed { peer: idx, error },
                });
            });
        }
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
        }
    }

    fn schedule_reconnect(&mut self, idx: usize) {
        let base = self.connect_retry;
        let p = &mut self.peers[idx];
        if p.cfg.passive || !p.conns.is_empty() || p.connecting {
            return;
        }
        let delay = fsm::connect_backoff(base, p.failures);
        p.failures = p.failures.saturating_add(1);
        p.next_connect = Some(Instant::now() + delay);
    }

    fn spawn_session(&mut self, idx: usize, stream: TcpStream, outbound: bool) {
        let id = self.next_conn;
        self.next_conn += 1;
        let p = &self.peers[idx];
        let expect = Expect {
            remote_as: p.cfg.remote_as,
            internal: p.internal,
            offered: self.open_params(&p.cfg),
        };
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let session = Session {
            conn: id,
            peer: p.addr(),
            expect,
            events: self.ev_tx.clone(),
        };
        let task = self.sessions.spawn(session.run(stream, cmd_rx));
        self.task_conn.insert(task.id(), id);
        self.conn_peer.insert(id, idx);
        self.peers[idx].conns.push(Conn {
            id,
            outbound,
            state: SessionState::Connect,
            cmd: cmd_tx,
        });
    }

    fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Inbound(stream, from) => {
                let ip = canonical_ip(from.ip());
                match self.peers.iter().position(|p| p.addr() == ip) {
                    Some(idx) => {
                        info!(peer = %ip, "BGP connection accepted");
                        self.spawn_session(idx, stream, false);
                    }
                    None => {
                        tokio::spawn(reject(stream, from));
                    }
                }
            }
            Internal::Connected { peer, stream } => {
                self.peers[peer].connecting = false;
                if self.peers[peer].est.is_some() {
                    // RFC 4271 §6.8: an Established session wins over a new connection.
                    drop(stream);
                    return;
                }
                self.spawn_session(peer, stream, true);
            }
            Internal::ConnectFailed { peer, error } => {
                self.peers[peer].connecting = false;
                debug!(peer = %self.peers[peer].addr(), %error, "BGP connect failed");
                self.schedule_reconnect(peer);
            }
            Internal::RefreshFinished { records } => {
                for (idx, rec) in records {
                    if let Some(p) = self.peers.get_mut(idx) {
                        p.last_soft_reset = Some(rec);
                    }
                }
            }
        }
    }

    fn conn_mut(&mut self, conn: ConnId) -> Option<(usize, &mut Conn)> {
        let idx = *self.conn_peer.get(&conn)?;
        let c = self.peers[idx].conns.iter_mut().find(|c| c.id == conn)?;
        Some((idx, c))
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
                let Some(idx) = self.conn_peer.get(&conn).copied() else {
                    return;
                };
                let p = &mut self.peers[idx];
                if p.est.as_ref().map(|e| e.conn) != Some(conn) {
                    return;
                }
                p.updates_received += 1;
                for n in &update.withdrawn {
                    p.adj_in.withdraw(n);
                }
                for n in update.announced {
                    p.adj_in.announce(n);
                }
            }
            SessionEvent::RouteRefresh { conn, subtype } => self.on_route_refresh(conn, subtype),
            SessionEvent::Down { conn, reason } => {
                let Some(idx) = self.conn_peer.remove(&conn) else {
                    return;
                };
                let p = &mut self.peers[idx];
                p.conns.retain(|c| c.id != conn);
                if p.est.as_ref().map(|e| e.conn) == Some(conn) {
                    warn!(peer = %p.addr(), %reason, "BGP session left Established");
                    p.est = None;
                    p.adj_in.clear();
                    p.adj_out.clear();
                    p.in_enhanced_refresh = None;
                    p.failures = 0;
                }
                self.schedule_reconnect(idx);
            }
        }
    }

    /// RFC 4271 §6.8 connection collision detection, run when a connection
    /// receives its OPEN. Returns whether that connection may continue.
    fn resolve_collision(&mut self, conn: ConnId, accepted: &Accepted) -> bool {
        let Some(idx) = self.conn_peer.get(&conn).copied() else {
            return false;
        };
        let router_id = self.router_id;
        let p = &mut self.peers[idx];
        let Some(this_outbound) = p.conns.iter().find(|c| c.id == conn).map(|c| c.outbound) else {
            return false;
        };
        let rival = p
            .conns
            .iter()
            .find(|c| c.id != conn && c.state >= SessionState::OpenConfirm);
        let Some(rival) = rival else {
            return true;
        };
        if rival.state == SessionState::Established {
            info!(peer = %p.addr(), "collision with an Established session: new connection closed");
            return false;
        }
        let keep_outbound = fsm::resolve_collision(router_id, accepted.remote_id) == Keep::Outbound;
        if this_outbound == keep_outbound {
            info!(peer = %p.addr(), kept = if keep_outbound { "outbound" } else { "inbound" }, "connection collision resolved");
            let _ = rival
                .cmd
                .send(SessionCmd::Stop(Notify::new(code::CEASE, 7)));
            true
        } else {
            false
        }
    }

    fn on_established(&mut self, conn: ConnId, accepted: Accepted, local_addr: IpAddr) {
        let Some(idx) = self.conn_peer.get(&conn).copied() else {
            return;
        };
        let local_as = self.local_as;
        let router_id = self.router_id;
        let originated = self.originated.clone();
        let p = &mut self.peers[idx];
        if let Some(c) = p.conns.iter_mut().find(|c| c.id == conn) {
            c.state = SessionState::Established;
        }
        let ctx = UpdateContext::for_session(
            local_as,
            p.internal,
            &accepted.negotiated,
            local_addr,
            router_id,
        );
        info!(peer = %p.addr(), negotiated = ?accepted.negotiated, "BGP session Established");
        p.est = Some(Est {
            conn,
            accepted,
            since: SystemTime::now(),
            ctx,
        });
        p.failures = 0;
        p.next_connect = None;
        if accepted.negotiated.rtc {
            p.adj_out = adj_rib_out(&originated, p.cfg.advertise_default_rt);
            let routes: Vec<RtcNlri> = p.adj_out.iter().copied().collect();
            match codec::encode_rtc_updates(&ctx, &routes, &[]) {
                Ok(frames) => {
                    p.updates_sent += frames.len() as u64;
                    if let Some(c) = p.est_conn() {
                        let _ = c.cmd.send(SessionCmd::Send { frames, done: None });
                    }
                }
                Err(e) => warn!(peer = %p.addr(), error = %e, "cannot encode Adj-RIB-Out"),
            }
        }
    }

    fn on_route_refresh(&mut self, conn: ConnId, subtype: RouteRefreshSubtype) {
        let Some(idx) = self.conn_peer.get(&conn).copied() else {
            return;
        };
        let p = &mut self.peers[idx];
        let Some(est) = &p.est else { return };
        if est.conn != conn {
            return;
        }
        let err = est.accepted.negotiated.enhanced_route_refresh;
        p.rr_received += 1;
        match subtype {
            RouteRefreshSubtype::Normal => {
                // RFC 2918 §4 / RFC 7313 §4: answer with the Adj-RIB-Out.
                info!(peer = %p.addr(), "ROUTE-REFRESH received: re-advertising Adj-RIB-Out");
                if let Ok(frames) = export_frames(p)
                    && let Some(c) = p.est_conn()
                {
                    let _ = c.cmd.send(SessionCmd::Send { frames, done: None });
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

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Snapshot { reply } => {
                let _ = reply.send(self.snapshot());
            }
            Request::ForgetRouteTarget {
                route_target,
                reply,
            } => {
                let found = match route_target.nlri(self.local_as) {
                    Some(n) => {
                        for p in &mut self.peers {
                            p.adj_out.remove(&n);
                        }
                        self.originated.remove(&n)
                    }
                    None => false,
                };
                let _ = reply.send(found);
            }
            Request::Refresh {
                selector,
                direction,
                reply,
            } => self.refresh(selector, direction, reply),
        }
    }

    fn record(&mut self, idx: usize, direction: Direction, result: SoftResetResult) {
        self.peers[idx].last_soft_reset = Some(SoftResetRecord {
            time: SystemTime::now(),
            direction,
            result,
        });
    }

    /// Resolves the selector (SPEC §5) into the peers to refresh.
    fn select(&self, selector: &PeerSelector) -> Result<Vec<usize>, RefreshError> {
        let by_addr = |a: IpAddr| -> Result<Vec<usize>, RefreshError> {
            let idx = self
                .peers
                .iter()
                .position(|p| p.addr() == a)
                .ok_or(RefreshError::PeerNotFound(a))?;
            if !self.peers[idx].cfg.vpn_target {
                return Err(RefreshError::FamilyNotEnabled(a));
            }
            Ok(vec![idx])
        };
        let enabled = |f: &dyn Fn(&Peer) -> bool| -> Vec<usize> {
            (0..self.peers.len())
                .filter(|i| self.peers[*i].cfg.vpn_target && f(&self.peers[*i]))
                .collect()
        };
        match selector {
            PeerSelector::Ipv4(a) => by_addr(IpAddr::V4(*a)),
            PeerSelector::Ipv6(a) => by_addr(canonical_ip(IpAddr::V6(*a))),
            PeerSelector::Group(g) => {
                if !self.group_names.iter().any(|n| n == g) {
                    return Err(RefreshError::GroupNotFound(g.clone()));
                }
                Ok(enabled(&|p| p.cfg.group.as_deref() == Some(g.as_str())))
            }
            PeerSelector::All => Ok(enabled(&|_| true)),
            PeerSelector::External => Ok(enabled(&|p| !p.internal)),
            PeerSelector::Internal => Ok(enabled(&|p| p.internal)),
        }
    }

    fn refresh(
        &mut self,
        selector: PeerSelector,
        direction: Direction,
        reply: oneshot::Sender<Result<RefreshOutcome, RefreshError>>,
    ) {
        let strict = selector.is_single_peer();
        let selected = match self.select(&selector) {
            Ok(s) => s,
            Err(e) => {
                warn!(?selector, reason = %e, direction = direction.as_str(), "soft reset failed");
                if let RefreshError::FamilyNotEnabled(a) = &e
                    && let Some(idx) = self.peers.iter().position(|p| p.addr() == *a)
                {
                    self.record(idx, direction, SoftResetResult::Failed(e.to_string()));
                }
                let _ = reply.send(Err(e));
                return;
            }
        };
        let mut outcome = RefreshOutcome::default();
        let mut pending: Vec<(usize, oneshot::Receiver<Result<(), String>>)> = Vec::new();
        for idx in selected {
            let addr = self.peers[idx].addr();
            let skip = match &self.peers[idx].est {
                None => Some((
                    SkipReason::NotEstablished,
                    RefreshError::PeerNotEstablished(addr),
                )),
                Some(e) if !e.accepted.negotiated.rtc => Some((
                    SkipReason::FamilyNotNegotiated,
                    RefreshError::FamilyNotEnabled(addr),
                )),
                Some(e)
                    if direction == Direction::Import && !e.accepted.negotiated.route_refresh =>
                {
                    Some((
                        SkipReason::RouteRefreshNotNegotiated,
                        RefreshError::RouteRefreshNotNegotiated(addr),
                    ))
                }
                Some(_) => None,
            };
            if let Some((reason, err)) = skip {
                if strict {
                    warn!(peer = %addr, reason = %err, direction = direction.as_str(), "soft reset failed");
                    self.record(idx, direction, SoftResetResult::Failed(err.to_string()));
                    let _ = reply.send(Err(err));
                    return;
                }
                warn!(peer = %addr, reason = %reason, direction = direction.as_str(), "soft reset skipped");
                self.record(idx, direction, SoftResetResult::Skipped(reason));
                outcome.skipped.push((addr, reason));
                continue;
            }
            let p = &mut self.peers[idx];
            let frames = match direction {
                Direction::Import => {
                    // RFC 2918 §3: ROUTE-REFRESH for AFI 1 / SAFI 132.
                    codec::encode_route_refresh(RouteRefreshSubtype::Normal)
                        .map(|b| {
                            p.rr_sent += 1;
                            vec![b]
                        })
                        .map_err(|e| e.to_string())
                }
                Direction::Export => export_frames(p),
            };
            let frames = match frames {
                Ok(f) => f,
                Err(e) => {
                    warn!(peer = %addr, error = %e, "soft reset encoding failed");
                    self.record(idx, direction, SoftResetResult::Failed(e));
                    continue;
                }
            };
            let (tx, rx) = oneshot::channel();
            if let Some(c) = p.est_conn() {
                let _ = c.cmd.send(SessionCmd::Send {
                    frames,
                    done: Some(tx),
                });
            }
            info!(peer = %addr, direction = direction.as_str(), "soft reset started");
            pending.push((idx, rx));
        }
        let deadline = Instant::now() + self.refresh_timeout;
        let addrs: Vec<IpAddr> = self.peers.iter().map(Peer::addr).collect();
        let int_tx = self.int_tx.clone();
        // The actor does not wait: a helper task collects the socket-write
        // acknowledgements and answers the caller.
        tokio::spawn(async move {
            let mut records = Vec::new();
            let mut failure = None;
            for (idx, rx) in pending {
                let addr = addrs[idx];
                let result = match timeout_at(deadline, rx).await {
                    Ok(Ok(Ok(()))) => {
                        outcome.refreshed.push(addr);
                        SoftResetResult::Done
                    }
                    Ok(Ok(Err(_)) | Err(_)) => {
                        // The session went down before the work was written.
                        if strict {
                            failure.get_or_insert(RefreshError::PeerNotEstablished(addr));
                            SoftResetResult::Failed(
                                RefreshError::PeerNotEstablished(addr).to_string(),
                            )
                        } else {
                            outcome.skipped.push((addr, SkipReason::NotEstablished));
                            SoftResetResult::Skipped(SkipReason::NotEstablished)
                        }
                    }
                    Err(_) => {
                        failure = Some(RefreshError::Timeout);
                        SoftResetResult::Failed(RefreshError::Timeout.to_string())
                    }
                };
                records.push((
                    idx,
                    SoftResetRecord {
                        time: SystemTime::now(),
                        direction,
                        result,
                    },
                ));
            }
            let _ = int_tx.send(Internal::RefreshFinished { records });
            let _ = reply.send(match failure {
                Some(e) => Err(e),
                None => Ok(outcome),
            });
        });
    }

    fn snapshot(&self) -> Snapshot {
        let routes = |it: &mut dyn Iterator<Item = &RtcNlri>| -> Vec<RtcRoute> {
            it.map(RtcRoute::from).collect()
        };
        Snapshot {
            local_as: self.local_as,
            router_id: self.router_id,
            peers: self
                .peers
                .iter()
                .map(|p| PeerSnapshot {
                    address: p.addr(),
                    remote_as: p.cfg.remote_as,
                    group: p.cfg.group.clone(),
                    internal: p.internal,
                    family_enabled: p.cfg.vpn_target,
                    state: p.state(),
                    negotiated: p
                        .est
                        .as_ref()
                        .map(|e| e.accepted.negotiated)
                        .unwrap_or_default(),
                    route_refresh_sent: p.rr_sent,
                    route_refresh_received: p.rr_received,
                    updates_sent: p.updates_sent,
                    updates_received: p.updates_received,
                    rtc_routes_in: routes(&mut p.adj_in.routes()),
                    rtc_routes_out: routes(&mut p.adj_out.iter()),
                    established_since: p.est.as_ref().map(|e| e.since),
                    last_soft_reset: p.last_soft_reset.clone(),
                })
                .collect(),
        }
    }
}

/// The whole Adj-RIB-Out of the family, bracketed by BoRR/EoRR when enhanced
/// route refresh was negotiated (RFC 7313 §4). Counts what it builds.
fn export_frames(p: &mut Peer) -> Result<Vec<Bytes>, String> {
    let Some(est) = &p.est else {
        return Err("not established".into());
    };
    let err = est.accepted.negotiated.enhanced_route_refresh;
    let routes: Vec<RtcNlri> = p.adj_out.iter().copied().collect();
    let updates = codec::encode_rtc_updates(&est.ctx, &routes, &[]).map_err(|e| e.to_string())?;
    let mut frames = Vec::with_capacity(updates.len() + 2);
    if err {
        frames.push(
            codec::encode_route_refresh(RouteRefreshSubtype::BoRR).map_err(|e| e.to_string())?,
        );
    }
    p.updates_sent += updates.len() as u64;
    frames.extend(updates);
    if err {
        frames.push(
            codec::encode_route_refresh(RouteRefreshSubtype::EoRR).map_err(|e| e.to_string())?,
        );
        p.rr_sent += 2;
    }
    Ok(frames)
}

async fn connect(
    addr: SocketAddr,
    local: Option<IpAddr>,
    limit: Duration,
) -> Result<TcpStream, String> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    if let Some(local) = local {
        sock.bind(SocketAddr::new(local, 0))
            .map_err(|e| format!("bind {local}: {e}"))?;
    }
    match timeout(limit, sock.connect(addr)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connect timed out".into()),
    }
}
