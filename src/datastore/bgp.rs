//! The `ncagent-bgp` tree as plain data ([`BgpIntent`]) and back, and the
//! seeding of startup from the TOML `[bgp]` table (SPEC §8: it seeds the
//! startup datastore only when none exists yet).
//!
//! Defaults come from the YANG module, not from here: a tree is read after
//! libyang added its implicit nodes, and a tree is built with only the
//! values that differ from the schema's defaults.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use yang5::context::Context;
use yang5::data::{Data, DataImplicitFlags, DataNodeRef, DataTree};

use super::error::{DatastoreError, ErrorTag};
use crate::bgp::{BgpConfig, GroupConfig, PeerConfig, RouteTarget};

/// The speaker's global settings (`/bgp/global`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Canonical text (`65000:100`, `4200000000:5`, `1.2.3.4:5`).
    pub route_targets: BTreeSet<String>,
    pub hold_time: u16,
    pub connect_retry: u16,
    pub listen: Option<SocketAddr>,
}

/// `/bgp/peer-groups/peer-group`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerGroup {
    pub name: String,
    pub description: Option<String>,
}

/// `/bgp/neighbors/neighbor/afi-safis/afi-safi[name='rtc']`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcFamily {
    pub enabled: bool,
    pub advertise_default_rt: bool,
    pub max_prefixes: Option<u32>,
}

/// `/bgp/neighbors/neighbor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbor {
    pub address: IpAddr,
    pub remote_as: u32,
    pub peer_group: Option<String>,
    pub description: Option<String>,
    pub shutdown: bool,
    pub passive: bool,
    pub remote_port: u16,
    pub local_address: Option<IpAddr>,
    /// Absent: the global timer applies.
    pub hold_time: Option<u16>,
    pub connect_retry: Option<u16>,
    pub route_refresh: bool,
    pub enhanced_route_refresh: bool,
    /// Absent: the family is not configured for this neighbor.
    pub rtc: Option<RtcFamily>,
}

impl Neighbor {
    /// The RTC family is configured and enabled.
    pub fn rtc_enabled(&self) -> bool {
        self.rtc.is_some_and(|f| f.enabled)
    }
}

/// The whole BGP configuration of a datastore, as plain data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BgpIntent {
    pub global: Global,
    pub peer_groups: BTreeMap<String, PeerGroup>,
    pub neighbors: BTreeMap<IpAddr, Neighbor>,
}

const ROOT: &str = "/ncagent-bgp:bgp";

fn bad_tree(path: impl Into<String>, what: impl std::fmt::Display) -> DatastoreError {
    DatastoreError::new(
        ErrorTag::OperationFailed,
        format!("unreadable configuration: {what}"),
    )
    .at(path)
}

/// A child leaf's canonical value.
fn leaf(node: &DataNodeRef<'_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.schema().name() == name)
        .and_then(|c| c.value_canonical())
}

fn child<'a>(node: &DataNodeRef<'a>, name: &str) -> Option<DataNodeRef<'a>> {
    node.children().find(|c| c.schema().name() == name)
}

fn parse<T: std::str::FromStr>(
    node: &DataNodeRef<'_>,
    name: &str,
) -> Result<Option<T>, DatastoreError>
where
    T::Err: std::fmt::Display,
{
    match leaf(node, name) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e| bad_tree(format!("{}/{name}", node.path()), e)),
    }
}

fn required<T: std::str::FromStr>(node: &DataNodeRef<'_>, name: &str) -> Result<T, DatastoreError>
where
    T::Err: std::fmt::Display,
{
    parse(node, name)?.ok_or_else(|| bad_tree(format!("{}/{name}", node.path()), "missing"))
}

impl BgpIntent {
    /// Reads a datastore tree; `None` when BGP is not configured. The tree
    /// should be valid (datastores keep running and startup valid).
    pub fn from_tree(tree: &DataTree<'_>) -> Result<Option<BgpIntent>, DatastoreError> {
        let mut full = super::ly::duplicate(tree)?;
        full.add_implicit(DataImplicitFlags::NO_STATE)
            .map_err(|e| DatastoreError::internal(format!("adding defaults: {e}")))?;
        let Ok(bgp) = full.find_path(ROOT) else {
            return Ok(None);
        };
        let global = child(&bgp, "global").ok_or_else(|| bad_tree(ROOT, "no global"))?;
        let timers = child(&global, "timers");
        let listen = match child(&global, "listen") {
            Some(l) => Some(SocketAddr::new(
                required(&l, "address")?,
                required(&l, "port")?,
            )),
            None => None,
        };
        let route_targets = global
            .children()
            .filter(|c| c.schema().name() == "route-target")
            .filter_map(|c| c.value_canonical())
            .collect();
        let g = Global {
            local_as: required(&global, "as")?,
            router_id: required(&global, "router-id")?,
            route_targets,
            hold_time: match &timers {
                Some(t) => required(t, "hold-time")?,
                None => return Err(bad_tree(ROOT, "no timers")),
            },
            connect_retry: match &timers {
                Some(t) => required(t, "connect-retry")?,
                None => return Err(bad_tree(ROOT, "no timers")),
            },
            listen,
        };
        let mut peer_groups = BTreeMap::new();
        if let Some(groups) = child(&bgp, "peer-groups") {
            for g in groups.children() {
                let name: String = required(&g, "name")?;
                peer_groups.insert(
                    name.clone(),
                    PeerGroup {
                        name,
                        description: leaf(&g, "description"),
                    },
                );
            }
        }
        let mut neighbors = BTreeMap::new();
        if let Some(list) = child(&bgp, "neighbors") {
            for n in list.children() {
                let n = read_neighbor(&n)?;
                neighbors.insert(n.address, n);
            }
        }
        Ok(Some(BgpIntent {
            global: g,
            peer_groups,
            neighbors,
        }))
    }

    /// The configuration a TOML `[bgp]` table describes. Route targets are
    /// written in their canonical form.
    pub fn from_bgp_config(cfg: &BgpConfig) -> Result<BgpIntent, DatastoreError> {
        let seed_err = |key: &str, what: String| {
            DatastoreError::new(ErrorTag::InvalidValue, format!("bgp.{key}: {what}"))
        };
        let u16_of = |key: &str, v: u64| {
            u16::try_from(v).map_err(|_| seed_err(key, format!("{v} is out of range")))
        };
        let mut route_targets = BTreeSet::new();
        for rt in &cfg.route_targets {
            let parsed: RouteTarget = rt.parse().map_err(|e| seed_err("route_targets", e))?;
            route_targets.insert(parsed.to_string());
        }
        let global = Global {
            local_as: cfg.local_as,
            router_id: cfg.router_id,
            route_targets,
            hold_time: cfg.hold_time,
            connect_retry: u16_of("connect_retry", cfg.connect_retry)?,
            listen: cfg.listen,
        };
        let peer_groups = cfg
            .groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    PeerGroup {
                        name: g.name.clone(),
                        description: None,
                    },
                )
            })
            .collect();
        let neighbors = cfg
            .peers
            .iter()
            .map(|p| {
                (
                    p.address,
                    Neighbor {
                        address: p.address,
                        remote_as: p.remote_as,
                        peer_group: p.group.clone(),
                        description: None,
                        shutdown: p.shutdown,
                        passive: p.passive,
                        remote_port: p.port,
                        local_address: p.local_address,
                        hold_time: None,
                        connect_retry: None,
                        route_refresh: p.route_refresh,
                        enhanced_route_refresh: p.enhanced_route_refresh,
                        rtc: p.vpn_target.then_some(RtcFamily {
                            enabled: true,
                            advertise_default_rt: p.advertise_default_rt,
                            max_prefixes: Some(p.max_prefixes),
                        }),
                    },
                )
            })
            .collect();
        Ok(BgpIntent {
            global,
            peer_groups,
            neighbors,
        })
    }

    /// The engine's configuration (at start-up, or for
    /// `BgpHandle::reconfigure`). What `BgpConfig` cannot carry yet is
    /// listed by [`Self::engine_unsupported`]; a neighbor that is
    /// `shutdown` is carried as such (configured, no session attempted).
    pub fn to_bgp_config(&self) -> BgpConfig {
        let g = &self.global;
        let mut cfg = BgpConfig::new(g.local_as, g.router_id);
        cfg.listen = g.listen;
        cfg.hold_time = g.hold_time;
        cfg.connect_retry = u64::from(g.connect_retry);
        cfg.route_targets = g.route_targets.iter().cloned().collect();
        cfg.groups = self
            .peer_groups
            .keys()
            .map(|name| GroupConfig { name: name.clone() })
            .collect();
        cfg.peers = self
            .neighbors
            .values()
            .map(|n| {
                let mut p = PeerConfig::new(n.address, n.remote_as);
                p.port = n.remote_port;
                p.group = n.peer_group.clone();
                p.passive = n.passive;
                p.vpn_target = n.rtc_enabled();
                p.route_refresh = n.route_refresh;
                p.enhanced_route_refresh = n.enhanced_route_refresh;
                p.local_address = n.local_address;
                p.advertise_default_rt = n.rtc.is_some_and(|f| f.advertise_default_rt);
                if let Some(m) = n.rtc.and_then(|f| f.max_prefixes) {
                    p.max_prefixes = m;
                }
                p.shutdown = n.shutdown;
                p
            })
            .collect();
        cfg
    }

    /// Settings of this configuration that [`BgpConfig`] cannot carry
    /// (per-neighbor timers), as data paths; the engine
    /// learns them when it takes its configuration from the datastore.
    pub fn engine_unsupported(&self) -> Vec<String> {
        let mut out = Vec::new();
        for n in self.neighbors.values() {
            let base = format!("{ROOT}/neighbors/neighbor[address='{}']", n.address);
            if n.hold_time.is_some() {
                out.push(format!("{base}/timers/hold-time"));
            }
            if n.connect_retry.is_some() {
                out.push(format!("{base}/timers/connect-retry"));
            }
        }
        out
    }

    /// A datastore tree holding this configuration: every value that
    /// differs from the schema's default, nothing else. Not validated.
    pub fn to_tree<'c>(&self, ctx: &'c Context) -> Result<DataTree<'c>, DatastoreError> {
        let mut b = Builder {
            ctx,
            tree: DataTree::new(ctx),
        };
        let g = &self.global;
        let gp = format!("{ROOT}/global");
        b.set(&format!("{gp}/as"), &g.local_as.to_string())?;
        b.set(&format!("{gp}/router-id"), &g.router_id.to_string())?;
        for rt in &g.route_targets {
            b.set(&format!("{gp}/route-target"), rt)?;
        }
        b.set_unless_default(&format!("{gp}/timers/hold-time"), &g.hold_time.to_string())?;
        b.set_unless_default(
            &format!("{gp}/timers/connect-retry"),
            &g.connect_retry.to_string(),
        )?;
        if let Some(l) = g.listen {
            b.set(&format!("{gp}/listen/address"), &l.ip().to_string())?;
            b.set_unless_default(&format!("{gp}/listen/port"), &l.port().to_string())?;
        }
        for grp in self.peer_groups.values() {
            let p = format!("{ROOT}/peer-groups/peer-group[name={}]", quote(&grp.name));
            b.create(&p)?;
            if let Some(d) = &grp.description {
                b.set(&format!("{p}/description"), d)?;
            }
        }
        for n in self.neighbors.values() {
            let p = format!("{ROOT}/neighbors/neighbor[address='{}']", n.address);
            b.set(&format!("{p}/remote-as"), &n.remote_as.to_string())?;
            if let Some(g) = &n.peer_group {
                b.set(&format!("{p}/peer-group"), g)?;
            }
            if let Some(d) = &n.description {
                b.set(&format!("{p}/description"), d)?;
            }
            b.set_unless_default(&format!("{p}/shutdown"), bool_str(n.shutdown))?;
            b.set_unless_default(&format!("{p}/transport/passive-mode"), bool_str(n.passive))?;
            b.set_unless_default(
                &format!("{p}/transport/remote-port"),
                &n.remote_port.to_string(),
            )?;
            if let Some(a) = n.local_address {
                b.set(&format!("{p}/transport/local-address"), &a.to_string())?;
            }
            if let Some(t) = n.hold_time {
                b.set(&format!("{p}/timers/hold-time"), &t.to_string())?;
            }
            if let Some(t) = n.connect_retry {
                b.set(&format!("{p}/timers/connect-retry"), &t.to_string())?;
            }
            b.set_unless_default(
                &format!("{p}/route-refresh/advertise"),
                bool_str(n.route_refresh),
            )?;
            b.set_unless_default(
                &format!("{p}/route-refresh/enhanced"),
                bool_str(n.enhanced_route_refresh),
            )?;
            if let Some(f) = n.rtc {
                let fp = format!("{p}/afi-safis/afi-safi[name='rtc']");
                b.create(&fp)?;
                b.set_unless_default(&format!("{fp}/enabled"), bool_str(f.enabled))?;
                b.set_unless_default(
                    &format!("{fp}/advertise-default-rt"),
                    bool_str(f.advertise_default_rt),
                )?;
                if let Some(m) = f.max_prefixes {
                    b.set_unless_default(
                        &format!("{fp}/prefix-limit/max-prefixes"),
                        &m.to_string(),
                    )?;
                }
            }
        }
        Ok(b.tree)
    }
}

fn read_neighbor(n: &DataNodeRef<'_>) -> Result<Neighbor, DatastoreError> {
    let transport = child(n, "transport").ok_or_else(|| bad_tree(n.path(), "no transport"))?;
    let rr = child(n, "route-refresh").ok_or_else(|| bad_tree(n.path(), "no route-refresh"))?;
    let timers = child(n, "timers");
    let rtc = match child(n, "afi-safis") {
        Some(afs) => match afs
            .children()
            .find(|f| leaf(f, "name").as_deref() == Some("rtc"))
        {
            Some(f) => Some(RtcFamily {
                enabled: required(&f, "enabled")?,
                advertise_default_rt: required(&f, "advertise-default-rt")?,
                max_prefixes: match child(&f, "prefix-limit") {
                    Some(pl) => parse(&pl, "max-prefixes")?,
                    None => None,
                },
            }),
            None => None,
        },
        None => None,
    };
    Ok(Neighbor {
        address: required(n, "address")?,
        remote_as: required(n, "remote-as")?,
        peer_group: leaf(n, "peer-group"),
        description: leaf(n, "description"),
        shutdown: required(n, "shutdown")?,
        passive: required(&transport, "passive-mode")?,
        remote_port: required(&transport, "remote-port")?,
        local_address: parse(&transport, "local-address")?,
        hold_time: match &timers {
            Some(t) => parse(t, "hold-time")?,
            None => None,
        },
        connect_retry: match &timers {
            Some(t) => parse(t, "connect-retry")?,
            None => None,
        },
        route_refresh: required(&rr, "advertise")?,
        enhanced_route_refresh: required(&rr, "enhanced")?,
        rtc,
    })
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// An XPath string literal for a key value (group names may hold `'`).
fn quote(s: &str) -> String {
    if s.contains('\'') {
        format!("\"{s}\"")
    } else {
        format!("'{s}'")
    }
}

struct Builder<'c> {
    ctx: &'c Context,
    tree: DataTree<'c>,
}

impl<'c> Builder<'c> {
    fn check(value: &str, path: &str) -> Result<(), DatastoreError> {
        // The bindings build a CString with unwrap(): a NUL would panic.
        if value.contains('\0') || path.contains('\0') {
            return Err(DatastoreError::new(ErrorTag::InvalidValue, "NUL character").at(path));
        }
        Ok(())
    }

    fn create(&mut self, path: &str) -> Result<(), DatastoreError> {
        Self::check("", path)?;
        self.tree
            .new_path(path, None, false)
            .map(|_| ())
            .map_err(|e| DatastoreError::new(ErrorTag::InvalidValue, e.to_string()).at(path))
    }

    fn set(&mut self, path: &str, value: &str) -> Result<(), DatastoreError> {
        Self::check(value, path)?;
        self.tree
            .new_path(path, Some(value), false)
            .map(|_| ())
            .map_err(|e| DatastoreError::new(ErrorTag::InvalidValue, e.to_string()).at(path))
    }

    /// Sets the leaf unless `value` is the schema's default for it.
    fn set_unless_default(&mut self, path: &str, value: &str) -> Result<(), DatastoreError> {
        // Schema path: the data path without predicates.
        let mut schema_path = String::with_capacity(path.len());
        for step in super::path_steps(path) {
            schema_path.push('/');
            schema_path.push_str(step.split('[').next().unwrap_or(step));
        }
        let default = self
            .ctx
            .find_path(&schema_path)
            .ok()
            .and_then(|s| s.default_value_canonical().ok().flatten());
        if default.as_deref() == Some(value) {
            return Ok(());
        }
        self.set(path, value)
    }
}

/// The startup tree that a TOML `[bgp]` table seeds (SPEC §8), validated.
pub fn seed_tree<'c>(ctx: &'c Context, cfg: &BgpConfig) -> Result<DataTree<'c>, DatastoreError> {
    let tree = BgpIntent::from_bgp_config(cfg)?.to_tree(ctx)?;
    super::ly::validate(&tree)?;
    Ok(tree)
}
