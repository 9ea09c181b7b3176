//! What changed between two running trees, in BGP terms: plain data for the
//! step that turns a commit into engine commands (a new peer connects, a
//! removed or shut-down one gets CEASE, a route target is announced or
//! withdrawn …). No engine types here.

use std::net::IpAddr;

use yang5::data::DataTree;

use super::bgp::{BgpIntent, Global, Neighbor, PeerGroup};
use super::error::DatastoreError;

/// One change, in the order the engine should apply them: groups before the
/// peers that join them, peers leave before their groups go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// BGP was not configured and now is (`/bgp` created).
    BgpAdded,
    /// Leaves of `/bgp/global` other than route targets, by their path
    /// below `global` (`as`, `router-id`, `timers/hold-time`, …).
    GlobalChanged {
        leaves: Vec<&'static str>,
    },
    GroupAdded(PeerGroup),
    /// The group's description changed.
    GroupChanged(PeerGroup),
    RouteTargetAdded(String),
    RouteTargetRemoved(String),
    PeerRemoved(IpAddr),
    PeerAdded(Neighbor),
    /// The peer left one group for another (or none); its session stays.
    PeerMoved {
        address: IpAddr,
        from: Option<String>,
        to: Option<String>,
    },
    /// The administrative `shutdown` leaf changed.
    ShutdownToggled {
        address: IpAddr,
        shutdown: bool,
    },
    /// Other leaves of the peer, by their path below the neighbor
    /// (`remote-as`, `transport/local-address`, `afi-safis/afi-safi[rtc]` …).
    PeerChanged {
        address: IpAddr,
        leaves: Vec<&'static str>,
        now: Box<Neighbor>,
    },
    GroupRemoved(String),
    /// BGP is no longer configured (`/bgp` deleted); every peer is removed.
    BgpRemoved,
}

/// The changes from `old` to `new` (both valid running trees).
pub fn diff(old: &DataTree<'_>, new: &DataTree<'_>) -> Result<Vec<Change>, DatastoreError> {
    Ok(diff_intents(
        BgpIntent::from_tree(old)?.as_ref(),
        BgpIntent::from_tree(new)?.as_ref(),
    ))
}

/// The changes between two configurations; `None` is "BGP not configured".
pub fn diff_intents(old: Option<&BgpIntent>, new: Option<&BgpIntent>) -> Vec<Change> {
    let mut out = Vec::new();
    match (old, new) {
        (None, None) => {}
        (None, Some(n)) => {
            out.push(Change::BgpAdded);
            out.extend(n.peer_groups.values().cloned().map(Change::GroupAdded));
            out.extend(
                n.global
                    .route_targets
                    .iter()
                    .cloned()
                    .map(Change::RouteTargetAdded),
            );
            out.extend(n.neighbors.values().cloned().map(Change::PeerAdded));
        }
        (Some(o), None) => {
            out.extend(o.neighbors.keys().copied().map(Change::PeerRemoved));
            out.extend(
                o.global
                    .route_targets
                    .iter()
                    .cloned()
                    .map(Change::RouteTargetRemoved),
            );
            out.extend(o.peer_groups.keys().cloned().map(Change::GroupRemoved));
            out.push(Change::BgpRemoved);
        }
        (Some(o), Some(n)) => {
            let leaves = global_leaves(&o.global, &n.global);
            if !leaves.is_empty() {
                out.push(Change::GlobalChanged { leaves });
            }
            for (name, g) in &n.peer_groups {
                match o.peer_groups.get(name) {
                    None => out.push(Change::GroupAdded(g.clone())),
                    Some(og) if og != g => out.push(Change::GroupChanged(g.clone())),
                    Some(_) => {}
                }
            }
            for rt in n.global.route_targets.difference(&o.global.route_targets) {
                out.push(Change::RouteTargetAdded(rt.clone()));
            }
            for rt in o.global.route_targets.difference(&n.global.route_targets) {
                out.push(Change::RouteTargetRemoved(rt.clone()));
            }
            for addr in o.neighbors.keys() {
                if !n.neighbors.contains_key(addr) {
                    out.push(Change::PeerRemoved(*addr));
                }
            }
            for (addr, nn) in &n.neighbors {
                let Some(on) = o.neighbors.get(addr) else {
                    out.push(Change::PeerAdded(nn.clone()));
                    continue;
                };
                if on.peer_group != nn.peer_group {
                    out.push(Change::PeerMoved {
                        address: *addr,
                        from: on.peer_group.clone(),
                        to: nn.peer_group.clone(),
                    });
                }
                if on.shutdown != nn.shutdown {
                    out.push(Change::ShutdownToggled {
                        address: *addr,
                        shutdown: nn.shutdown,
                    });
                }
                let leaves = neighbor_leaves(on, nn);
                if !leaves.is_empty() {
                    out.push(Change::PeerChanged {
                        address: *addr,
                        leaves,
                        now: Box::new(nn.clone()),
                    });
                }
            }
            for name in o.peer_groups.keys() {
                if !n.peer_groups.contains_key(name) {
                    out.push(Change::GroupRemoved(name.clone()));
                }
            }
        }
    }
    out
}

fn global_leaves(o: &Global, n: &Global) -> Vec<&'static str> {
    let mut v = Vec::new();
    if o.local_as != n.local_as {
        v.push("as");
    }
    if o.router_id != n.router_id {
        v.push("router-id");
    }
    if o.hold_time != n.hold_time {
        v.push("timers/hold-time");
    }
    if o.connect_retry != n.connect_retry {
        v.push("timers/connect-retry");
    }
    if o.listen != n.listen {
        v.push("listen");
    }
    v
}

/// Leaves other than peer-group and shutdown (reported on their own).
fn neighbor_leaves(o: &Neighbor, n: &Neighbor) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut cmp = |changed: bool, name: &'static str| {
        if changed {
            v.push(name);
        }
    };
    cmp(o.remote_as != n.remote_as, "remote-as");
    cmp(o.description != n.description, "description");
    cmp(o.passive != n.passive, "transport/passive-mode");
    cmp(o.remote_port != n.remote_port, "transport/remote-port");
    cmp(
        o.local_address != n.local_address,
        "transport/local-address",
    );
    cmp(o.hold_time != n.hold_time, "timers/hold-time");
    cmp(o.connect_retry != n.connect_retry, "timers/connect-retry");
    cmp(
        o.route_refresh != n.route_refresh,
        "route-refresh/advertise",
    );
    cmp(
        o.enhanced_route_refresh != n.enhanced_route_refresh,
        "route-refresh/enhanced",
    );
    let (of, nf) = (o.rtc, n.rtc);
    cmp(
        of.map(|f| f.enabled) != nf.map(|f| f.enabled),
        "afi-safis/afi-safi[rtc]/enabled",
    );
    cmp(
        of.map(|f| f.advertise_default_rt) != nf.map(|f| f.advertise_default_rt),
        "afi-safis/afi-safi[rtc]/advertise-default-rt",
    );
    cmp(
        of.and_then(|f| f.max_prefixes) != nf.and_then(|f| f.max_prefixes),
        "afi-safis/afi-safi[rtc]/prefix-limit/max-prefixes",
    );
    v
}
