//! Connections: the listener, active connects with backoff, one session
//! task per TCP connection, and RFC 4271 §6.8 collision resolution.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{Conn, Engine, Internal};
use crate::bgp::PeerConfig;
use crate::bgp::codec::{self, Notify, OpenParams, code};
use crate::bgp::config::canonical_ip;
use crate::bgp::fsm::{self, Accepted, Expect, Keep, SessionState};
use crate::bgp::outbox::Outbox;
use crate::bgp::session::{ConnId, Session};

pub(super) async fn accept_loop(
    listener: TcpListener,
    int_tx: mpsc::Sender<Internal>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    // Bounded: while the engine is behind, connections wait
                    // in the kernel's accept backlog.
                    if int_tx.send(Internal::Inbound(stream, from)).await.is_err() {
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

/// RFC 4486 §4: Cease, "Connection Rejected" (5) to an unconfigured
/// neighbour, "Administrative Shutdown" (2) to one that is shut down.
async fn reject(mut stream: TcpStream, from: SocketAddr, subcode: u8) {
    use tokio::io::AsyncWriteExt;
    let reason = if subcode == 2 {
        "peer is administratively shut down"
    } else {
        "not a configured peer"
    };
    warn!(%from, reason, "BGP connection rejected");
    if let Ok(b) = codec::encode_notification(&Notify::new(code::CEASE, subcode)) {
        let _ = timeout(Duration::from_secs(1), stream.write_all(&b)).await;
    }
    let _ = stream.shutdown().await;
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

impl Engine {
    pub(super) fn open_params(&self, p: &PeerConfig) -> OpenParams {
        OpenParams {
            local_as: self.local_as,
            hold_time: self.hold_time,
            router_id: self.router_id,
            rtc: p.vpn_target,
            route_refresh: p.route_refresh,
            enhanced_route_refresh: p.enhanced_route_refresh && p.route_refresh,
            extended_next_hop: canonical_ip(p.address).is_ipv6(),
            graceful_restart: p.graceful_restart_helper,
        }
    }

    pub(super) fn start_due_connects(&mut self) {
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
            if p.cfg.passive || p.cfg.shutdown || p.connecting || !p.conns.is_empty() {
                continue;
            }
            p.connecting = true;
            let key = p.key;
            let addr = SocketAddr::new(p.cfg.address, p.cfg.port);
            let local = p.cfg.local_address;
            let limit = self.connect_retry.max(Duration::from_secs(1));
            let tx = self.int_tx.clone();
            debug!(peer = %addr, "BGP connecting");
            tokio::spawn(async move {
                let r = connect(addr, local, limit).await;
                let _ = tx
                    .send(match r {
                        Ok(stream) => Internal::Connected { peer: key, stream },
                        Err(error) => Internal::ConnectFailed { peer: key, error },
                    })
                    .await;
            });
        }
    }

    pub(super) fn peer_by_key(&self, key: super::PeerKey) -> Option<usize> {
        self.peers.iter().position(|p| p.key == key)
    }

    pub(super) fn schedule_reconnect(&mut self, idx: usize) {
        let base = self.connect_retry;
        let p = &mut self.peers[idx];
        if p.cfg.passive || p.cfg.shutdown || !p.conns.is_empty() || p.connecting {
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
        let outbox = Arc::new(Outbox::new(p.counters.clone()));
        let session = Session {
            conn: id,
            peer: p.addr(),
            expect,
            events: self.ev_tx.clone(),
            outbox: outbox.clone(),
            send_hold: self.send_hold,
        };
        let task = self.sessions.spawn(session.run(stream));
        self.task_conn.insert(task.id(), id);
        self.conn_peer.insert(id, idx);
        self.peers[idx].conns.push(Conn {
            id,
            outbound,
            state: SessionState::Connect,
            outbox,
            stopping: false,
        });
    }

    pub(super) fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Inbound(stream, from) => {
                // Only here: a dual-stack listener reports IPv4 peers as
                // IPv4-mapped IPv6 addresses.
                let ip = canonical_ip(from.ip());
                match self.peers.iter().position(|p| p.addr() == ip) {
                    Some(idx) if self.peers[idx].cfg.shutdown => {
                        tokio::spawn(reject(stream, from, 2));
                    }
                    Some(idx) => {
                        info!(peer = %ip, "BGP connection accepted");
                        self.spawn_session(idx, stream, false);
                    }
                    None => {
                        tokio::spawn(reject(stream, from, 5));
                    }
                }
            }
            Internal::Connected { peer, stream } => {
                // A peer removed or reset since the attempt started: the
                // connection was made with settings no longer configured.
                let Some(idx) = self.peer_by_key(peer) else {
                    return;
                };
                self.peers[idx].connecting = false;
                if self.peers[idx].est.is_some() {
                    // RFC 4271 §6.8: an Established session wins over a new connection.
                    drop(stream);
                    return;
                }
                self.spawn_session(idx, stream, true);
            }
            Internal::ConnectFailed { peer, error } => {
                let Some(idx) = self.peer_by_key(peer) else {
                    return;
                };
                self.peers[idx].connecting = false;
                debug!(peer = %self.peers[idx].addr(), %error, "BGP connect failed");
                self.schedule_reconnect(idx);
            }
            Internal::RefreshFinished { records } => {
                for (key, rec) in records {
                    if let Some(idx) = self.peer_by_key(key) {
                        self.peers[idx].last_soft_reset = Some(rec);
                    }
                }
            }
        }
    }

    /// RFC 4271 §6.8 connection collision detection, run when a connection
    /// receives its OPEN. Returns whether that connection may continue.
    pub(super) fn resolve_collision(&mut self, conn: ConnId, accepted: &Accepted) -> bool {
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
            .iter_mut()
            .find(|c| c.id != conn && !c.stopping && c.state >= SessionState::OpenConfirm);
        let Some(rival) = rival else {
            return true;
        };
        if rival.state == SessionState::Established {
            info!(peer = %p.cfg.address, "collision with an Established session: new connection closed");
            return false;
        }
        let keep_outbound = fsm::resolve_collision(router_id, accepted.remote_id) == Keep::Outbound;
        if this_outbound == keep_outbound {
            info!(peer = %p.cfg.address, kept = if keep_outbound { "outbound" } else { "inbound" }, "connection collision resolved");
            rival.stopping = true;
            rival.outbox.stop(Notify::new(code::CEASE, 7));
            true
        } else {
            false
        }
    }
}
