//! Live reconfiguration: the engine compares a new [`BgpConfig`] with the
//! one it runs and applies only the difference (docs/bgp.md, "Live
//! reconfiguration"). Everything that can fail (validation, binding a new
//! listener) happens before the first change, so a refused configuration
//! leaves the engine exactly as it was.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rustbgpd_wire::RtcNlri;
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::Instant;
use tracing::info;

use super::{Engine, Peer, PeerKey, connect};
use crate::bgp::codec::{Notify, code};
use crate::bgp::config::canonical_ip;
use crate::bgp::rib::{RouteTarget, adj_rib_out};
use crate::bgp::{BgpConfig, PeerConfig, ReconfigureError, ReconfigureReport};

/// RFC 4486 §4 Cease subcodes used here.
const CEASE_ADMINISTRATIVE_SHUTDOWN: u8 = 2;
const CEASE_PEER_DECONFIGURED: u8 = 3;
const CEASE_OTHER_CONFIGURATION_CHANGE: u8 = 6;

/// The RTC routes this switch originates (RFC 4684 §4: origin AS = local
/// AS, one fully specified route per configured route target).
pub(super) fn originated(local_as: u32, route_targets: &[String]) -> BTreeSet<RtcNlri> {
    route_targets
        .iter()
        // validate() parsed every target already.
        .filter_map(|rt| rt.parse::<RouteTarget>().ok())
        .filter_map(|t| t.nlri(local_as))
        .collect()
}

/// The peer settings that only a new session can apply: what our OPEN
/// carries (RFC 4271 §4.2 My AS is checked against `remote_as`; RFC 5492
/// capabilities: multiprotocol RTC, route refresh, enhanced route
/// refresh, graceful restart) and where the TCP connection goes.
fn session_settings_changed(old: &PeerConfig, new: &PeerConfig) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut cmp = |changed: bool, key: &'static str| {
        if changed {
            v.push(key);
        }
    };
    cmp(old.remote_as != new.remote_as, "remote_as");
    cmp(old.port != new.port, "port");
    cmp(old.local_address != new.local_address, "local_address");
    cmp(old.vpn_target != new.vpn_target, "vpn_target");
    cmp(old.route_refresh != new.route_refresh, "route_refresh");
    cmp(
        old.enhanced_route_refresh != new.enhanced_route_refresh,
        "enhanced_route_refresh",
    );
    cmp(
        old.graceful_restart_helper != new.graceful_restart_helper,
        "graceful_restart_helper",
    );
    v
}

/// A listening socket for `addr`, bound now (synchronously, so that a
/// failure is known before anything else changes).
fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }?;
    sock.set_reuseaddr(true)?;
    sock.bind(addr)?;
    let l = sock.listen(1024)?;
    let bound = l.local_addr()?;
    Ok((l, bound))
}

impl Engine {
    fn new_key(&mut self) -> PeerKey {
        let k = self.next_key;
        self.next_key += 1;
        k
    }

    pub(super) fn reconfigure(
        &mut self,
        new: BgpConfig,
    ) -> Result<ReconfigureReport, ReconfigureError> {
        new.validate().map_err(ReconfigureError::Invalid)?;
        // The one step that can fail once the configuration is valid: bind
        // the new listener before anything changes; the old one stays on
        // failure.
        let new_listener = if new.listen == self.listen {
            None
        } else {
            match new.listen {
                Some(addr) => {
                    Some(Some(bind(addr).map_err(|source| {
                        ReconfigureError::Listen { addr, source }
                    })?))
                }
                None => Some(None),
            }
        };
        // From here on nothing fails.
        let mut report = ReconfigureReport::default();
        if let Some(l) = new_listener {
            if let Some(stop) = self.listener_stop.take() {
                stop.cancel();
            }
            let bound = l.map(|(listener, bound)| {
                let stop = self.shutdown.child_token();
                tokio::spawn(connect::accept_loop(
                    listener,
                    self.int_tx.clone(),
                    stop.clone(),
                ));
                self.listener_stop = Some(stop);
                bound
            });
            self.listen = new.listen;
            self.listen_tx.send_replace(bound);
            info!(listen = ?bound, "BGP listener moved");
            report.listener = Some(bound);
        }

        let global_reset = new.local_as != self.local_as || new.router_id != self.router_id;
        if global_reset {
            info!(
                old_local_as = self.local_as,
                local_as = new.local_as,
                old_router_id = %self.router_id,
                router_id = %new.router_id,
                "local AS or router id changed: every session is reset (RFC 4486 Cease/6)"
            );
        }
        let send_hold = new.send_hold_time.map(Duration::from_secs);
        let connect_retry = Duration::from_secs(new.connect_retry);
        if new.hold_time != self.hold_time
            || connect_retry != self.connect_retry
            || send_hold != self.send_hold
        {
            // Offered in the next OPEN / used for the next attempt: a
            // session's negotiated hold time cannot change (RFC 4271 §4.2).
            info!(
                hold_time = new.hold_time,
                connect_retry = new.connect_retry,
                send_hold_time = ?new.send_hold_time,
                "BGP timers changed: they apply to new sessions"
            );
        }
        self.local_as = new.local_as;
        self.router_id = new.router_id;
        self.hold_time = new.hold_time;
        self.connect_retry = connect_retry;
        self.send_hold = send_hold;
        let groups: Vec<String> = new.groups.iter().map(|g| g.name.clone()).collect();
        for g in groups.iter().filter(|g| !self.group_names.contains(g)) {
            info!(group = %g, "BGP peer group added");
        }
        for g in self.group_names.iter().filter(|g| !groups.contains(g)) {
            info!(group = %g, "BGP peer group removed");
        }
        self.group_names = groups;
        let originated = originated(new.local_as, &new.route_targets);
        if !global_reset {
            for n in originated.difference(&self.originated) {
                info!(route = ?crate::bgp::RtcRoute::from(n), "route target added");
            }
            for n in self.originated.difference(&originated) {
                info!(route = ?crate::bgp::RtcRoute::from(n), "route target removed");
            }
        }
        self.originated = originated;

        // Peers, kept in the new configuration's order.
        let mut old: HashMap<IpAddr, Peer> = self
            .peers
            .drain(..)
            .map(|p| (canonical_ip(p.addr()), p))
            .collect();
        let now = Instant::now();
        let mut peers = Vec::with_capacity(new.peers.len());
        for cfg in new.peers {
            match old.remove(&canonical_ip(cfg.address)) {
                None => {
                    info!(peer = %cfg.address, remote_as = cfg.remote_as, group = ?cfg.group, passive = cfg.passive, shutdown = cfg.shutdown, "BGP peer added");
                    report.peers_added.push(cfg.address);
                    let key = self.new_key();
                    peers.push(Peer::new(key, cfg, self.local_as, now));
                }
                Some(mut p) => {
                    let before = std::mem::replace(&mut p.cfg, cfg);
                    p.internal = p.cfg.remote_as == self.local_as;
                    self.apply_peer_change(&mut p, &before, global_reset, &mut report);
                    peers.push(p);
                }
            }
        }
        for (_, mut p) in old {
            // RFC 4486 §4: Cease, Peer De-configured.
            let had = self.close_sessions(&mut p, CEASE_PEER_DECONFIGURED);
            info!(peer = %p.addr(), session_closed = had, "BGP peer removed (RFC 4486 Cease/3)");
            report.peers_removed.push(p.addr());
        }
        self.peers = peers;
        self.conn_peer.clear();
        for (idx, p) in self.peers.iter().enumerate() {
            for c in &p.conns {
                self.conn_peer.insert(c.id, idx);
            }
        }
        for idx in 0..self.peers.len() {
            self.sync_adj_rib_out(idx, &mut report);
            // A lowered max_prefixes applies at once (RFC 4486 §4 Cease/1).
            let p = &self.peers[idx];
            if let Some(conn) = p.est.as_ref().map(|e| e.conn)
                && u32::try_from(p.adj_in.len()).map_or(true, |n| n > p.cfg.max_prefixes)
            {
                report.peers_over_limit.push(p.addr());
                self.check_max_prefixes(idx, conn);
            }
        }
        if report.is_empty() {
            info!("BGP reconfiguration: nothing changed on the wire");
        } else {
            info!(
                added = report.peers_added.len(),
                removed = report.peers_removed.len(),
                reset = report.peers_reset.len(),
                shut_down = report.peers_shut_down.len(),
                started = report.peers_started.len(),
                moved = report.peers_moved.len(),
                routes_announced = report.routes_announced,
                routes_withdrawn = report.routes_withdrawn,
                "BGP reconfiguration applied"
            );
        }
        Ok(report)
    }

    /// One peer present in both configurations: `p.cfg` is already the new
    /// configuration, `old` the former one.
    fn apply_peer_change(
        &mut self,
        p: &mut Peer,
        old: &PeerConfig,
        global_reset: bool,
        report: &mut ReconfigureReport,
    ) {
        let addr = p.addr();
        if old.group != p.cfg.group {
            // Selectors read the group from the configuration: the session
            // stays, the group is the new one at once.
            info!(peer = %addr, from = ?old.group, to = ?p.cfg.group, "BGP peer moved between groups: session kept");
            report.peers_moved.push(addr);
        }
        if p.cfg.shutdown {
            if !old.shutdown {
                // RFC 4486 §4: Cease, Administrative Shutdown; then Idle
                // with no connect attempts (RFC 4271 §8.1.2 ManualStop).
                let had = self.close_sessions(p, CEASE_ADMINISTRATIVE_SHUTDOWN);
                p.next_connect = None;
                info!(peer = %addr, session_closed = had, "BGP peer shut down (RFC 4486 Cease/2)");
                report.peers_shut_down.push(addr);
            }
            return;
        }
        if old.shutdown {
            // ManualStart: a fresh start with the new settings.
            p.key = self.new_key();
            p.connecting = false;
            p.failures = 0;
            p.next_connect = (!p.cfg.passive).then_some(Instant::now());
            info!(peer = %addr, passive = p.cfg.passive, "BGP peer shutdown cleared");
            report.peers_started.push(addr);
            return;
        }
        let changed = session_settings_changed(old, &p.cfg);
        if global_reset || !changed.is_empty() {
            // RFC 4486 §4: Cease, Other Configuration Change; the next
            // session is made with the new settings.
            let had = self.close_sessions(p, CEASE_OTHER_CONFIGURATION_CHANGE);
            p.failures = 0;
            // With a connection still closing, its end schedules the
            // reconnect (so the peer has seen our NOTIFICATION first).
            p.next_connect = (!p.cfg.passive && p.conns.is_empty()).then_some(Instant::now());
            info!(peer = %addr, changed = ?changed, global = global_reset, session_closed = had, "BGP peer settings changed: session reset (RFC 4486 Cease/6)");
            if had {
                report.peers_reset.push(addr);
            }
            return;
        }
        if old.passive != p.cfg.passive {
            if p.cfg.passive {
                p.next_connect = None;
            } else if p.conns.is_empty() && !p.connecting {
                p.next_connect = Some(Instant::now());
            }
            info!(peer = %addr, passive = p.cfg.passive, "BGP peer passive mode changed");
        }
        if old.max_prefixes != p.cfg.max_prefixes {
            info!(peer = %addr, max_prefixes = p.cfg.max_prefixes, "BGP peer max_prefixes changed");
        }
    }

    /// Sends `Cease/subcode` on every connection of `p` and forgets its
    /// session at once: its routes go (a NOTIFICATION ends it, so RFC 4724
    /// §4.2 keeps nothing) and a connect in flight is disowned. Returns
    /// whether there was a connection or an attempt.
    fn close_sessions(&mut self, p: &mut Peer, subcode: u8) -> bool {
        let mut had = p.connecting;
        for c in &mut p.conns {
            if !c.stopping {
                c.stopping = true;
                c.outbox.stop(Notify::new(code::CEASE, subcode));
                had = true;
            }
        }
        if p.connecting {
            p.key = self.new_key();
            p.connecting = false;
        }
        p.est = None;
        p.adj_in.clear();
        p.adj_out.clear();
        p.gr_stale_until = None;
        p.in_enhanced_refresh = None;
        p.end_of_rib_received = None;
        had
    }

    /// Brings an Established RTC session's Adj-RIB-Out to what the
    /// configuration now originates: MP_REACH for the new routes, MP_UNREACH
    /// for the removed ones (RFC 4760 §3, §4; RFC 4684 §4), no session
    /// reset. The session's export plan follows, so a later export soft
    /// reset or ROUTE-REFRESH answer re-sends the new set.
    fn sync_adj_rib_out(&mut self, idx: usize, report: &mut ReconfigureReport) {
        let p = &mut self.peers[idx];
        let Some(est) = &mut p.est else { return };
        if !est.accepted.negotiated.rtc {
            return;
        }
        let want = adj_rib_out(&self.originated, p.cfg.advertise_default_rt);
        if want == p.adj_out {
            return;
        }
        let announce: Vec<RtcNlri> = want.difference(&p.adj_out).copied().collect();
        let withdraw: Vec<RtcNlri> = p.adj_out.difference(&want).copied().collect();
        let ctx = est.plan.ctx;
        let enhanced = est.plan.enhanced;
        let conn = est.conn;
        let plan = self.plan_for(ctx, want.iter().copied().collect(), enhanced);
        let p = &mut self.peers[idx];
        if let Some(est) = &mut p.est {
            est.plan = plan;
        }
        p.adj_out = want;
        if let Some(c) = p.conns.iter().find(|c| c.id == conn && !c.stopping) {
            c.outbox.delta(ctx, &announce, &withdraw);
        }
        info!(peer = %p.addr(), announced = announce.len(), withdrawn = withdraw.len(), "Adj-RIB-Out changed: UPDATE queued, session kept");
        report.routes_announced += announce.len();
        report.routes_withdrawn += withdraw.len();
    }
}
