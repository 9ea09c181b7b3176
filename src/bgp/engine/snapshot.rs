//! The engine's state as the northbound side shows it.

//!
//! A snapshot carries the RIB *sizes*, not the routes: the state data
//! renders counts only, and copying (and formatting) every route of every
//! peer for each `<get>` made the engine actor the bottleneck of the soak
//! (docs/performance.md, "Soak"). The routes themselves are asked per peer.

use std::net::IpAddr;

use super::Engine;
use crate::bgp::outbox::Counters;
use crate::bgp::{PeerRoutes, PeerSnapshot, RtcRoute, Snapshot};

impl Engine {
    pub(super) fn routes(&self, peer: IpAddr) -> Option<PeerRoutes> {
        let p = self.peers.iter().find(|p| p.addr() == peer)?;
        Some(PeerRoutes {
            adj_rib_in: p.adj_in.routes().map(RtcRoute::from).collect(),
            adj_rib_out: p.adj_out.iter().map(RtcRoute::from).collect(),
        })
    }

    pub(super) fn snapshot(&self) -> Snapshot {
        Snapshot {
            local_as: self.local_as,
            router_id: self.router_id,
            peers: self
                .peers
                .iter()
                .map(|p| {
                    let k = &p.counters;
                    let est = p.est.as_ref();
                    PeerSnapshot {
                        address: p.addr(),
                        remote_as: p.cfg.remote_as,
                        group: p.cfg.group.clone(),
                        internal: p.internal,
                        family_enabled: p.cfg.vpn_target,
                        state: p.state(),
                        negotiated: est.map(|e| e.accepted.negotiated).unwrap_or_default(),
                        route_refresh_sent: Counters::get(&k.route_refresh_sent),
                        route_refresh_received: p.rr_received,
                        updates_sent: Counters::get(&k.updates_sent),
                        updates_received: p.updates_received,
                        adj_rib_in: p.adj_in.len(),
                        adj_rib_out: p.adj_out.len(),
                        rtc_routes_stale: p.adj_in.stale_len(),
                        established_since: est.map(|e| e.since),
                        end_of_rib_sent: est.is_some()
                            && k.end_of_rib_sent.load(std::sync::atomic::Ordering::Relaxed),
                        end_of_rib_received: p.end_of_rib_received,
                        max_prefixes: p.cfg.max_prefixes,
                        export_pending: p.est_conn().is_some_and(|c| c.outbox.export_waiting()),
                        soft_resets_coalesced: Counters::get(&k.coalesced),
                        last_soft_reset: p.last_soft_reset.clone(),
                    }
                })
                .collect(),
        }
    }
}
