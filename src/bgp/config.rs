//! The `[bgp]` table of the agent's TOML configuration, with defaults and
//! validation whose errors name the bad key and value.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use super::BgpError;
use super::rib::RouteTarget;

/// Largest group name accepted (SPEC §4: `group` is a string of 1..47 characters).
pub const MAX_GROUP_NAME_LEN: usize = 47;

/// The embedded BGP speaker's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpConfig {
    /// Local autonomous system (4-octet AS numbers allowed, RFC 6793).
    pub local_as: u32,
    /// BGP identifier sent in OPEN.
    pub router_id: Ipv4Addr,
    /// Address the passive side listens on; no listener when absent.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// Hold time proposed in OPEN, seconds (0 or 3..=65535, RFC 4271 §4.2).
    #[serde(default = "default_hold_time")]
    pub hold_time: u16,
    /// ConnectRetryTime, seconds (RFC 4271 §10 suggests 120; we default lower).
    #[serde(default = "default_connect_retry")]
    pub connect_retry: u64,
    /// RFC 9687 SendHoldTime, seconds: a session whose writes make no
    /// progress for this long is closed with NOTIFICATION 8. Absent: the
    /// RFC's suggestion, the greater of 8 minutes and twice the hold time.
    #[serde(default)]
    pub send_hold_time: Option<u64>,
    /// Removed key, kept only to refuse it by name: the soft-reset deadline
    /// is `limits.rpc_timeout_secs`.
    #[serde(default, rename = "refresh_timeout")]
    removed_refresh_timeout: Option<RemovedKey>,
    /// Route targets of this switch, originated as RTC routes ("65000:100",
    /// "4200000000:5", "1.2.3.4:5").
    #[serde(default)]
    pub route_targets: Vec<String>,
    /// BGP peers.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Peer groups (referenced by `peers[].group`).
    #[serde(default)]
    pub groups: Vec<GroupConfig>,
}

/// One configured neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// Neighbour address; incoming connections are matched on it.
    pub address: IpAddr,
    /// Expected AS of the neighbour (checked against its OPEN).
    pub remote_as: u32,
    /// TCP port of the neighbour (for active connections).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Group this peer belongs to (must be declared in `groups`).
    #[serde(default)]
    pub group: Option<String>,
    /// Never connect; only accept the neighbour's connection.
    #[serde(default)]
    pub passive: bool,
    /// VPN-Target (RTC, AFI 1 / SAFI 132) family enabled for this peer.
    #[serde(default = "default_true")]
    pub vpn_target: bool,
    /// Advertise the route-refresh capability (RFC 2918). Off only to test
    /// the "not negotiated" path.
    #[serde(default = "default_true")]
    pub route_refresh: bool,
    /// Advertise the enhanced route-refresh capability (RFC 7313).
    #[serde(default = "default_true")]
    pub enhanced_route_refresh: bool,
    /// Advertise the Graceful Restart capability (RFC 4724 §3) with no
    /// <AFI, SAFI>: we preserve no forwarding state ourselves but act as
    /// the Receiving Speaker (§4.2) and say we send End-of-RIB. RFC 4724
    /// §4 recommends it; GoBGP sends its End-of-RIB only when it is
    /// negotiated. See docs/bgp.md.
    #[serde(default = "default_true")]
    pub graceful_restart_helper: bool,
    /// Source address for active connections.
    #[serde(default)]
    pub local_address: Option<IpAddr>,
    /// Advertise the default RT (RFC 4684 §3, prefix length 0) to this peer.
    /// Off by default: GoBGP 3.10 crashes when it receives it.
    #[serde(default)]
    pub advertise_default_rt: bool,
    /// Most RTC routes accepted from this peer; one more closes the session
    /// with Cease / Maximum Number of Prefixes Reached (RFC 4486 §4).
    #[serde(default = "default_max_prefixes")]
    pub max_prefixes: u32,
    /// Administratively shut down: configured but never connected to or
    /// accepted; a live session gets Cease / Administrative Shutdown
    /// (RFC 4486 §4, subcode 2).
    #[serde(default)]
    pub shutdown: bool,
}

/// The value of a key that is no longer accepted, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RemovedKey(String);

impl<'de> Deserialize<'de> for RemovedKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml::Value::deserialize(d).map(|v| Self(v.to_string()))
    }
}

/// A named set of peers, selectable as a whole by a soft reset.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name, 1..47 characters, case-sensitive.
    pub name: String,
}

fn default_hold_time() -> u16 {
    90
}
fn default_connect_retry() -> u64 {
    5
}
/// Default per-peer cap on learned RTC routes (docs/bgp.md: under 100
/// bytes each in the Adj-RIB-In, so at most ~10 MB per peer).
pub const DEFAULT_MAX_PREFIXES: u32 = 100_000;

fn default_max_prefixes() -> u32 {
    DEFAULT_MAX_PREFIXES
}
fn default_port() -> u16 {
    179
}
fn default_true() -> bool {
    true
}

impl PeerConfig {
    /// A peer with every optional key at its default.
    pub fn new(address: IpAddr, remote_as: u32) -> Self {
        Self {
            address,
            remote_as,
            port: default_port(),
            group: None,
            passive: false,
            vpn_target: true,
            route_refresh: true,
            enhanced_route_refresh: true,
            graceful_restart_helper: true,
            local_address: None,
            advertise_default_rt: false,
            max_prefixes: DEFAULT_MAX_PREFIXES,
            shutdown: false,
        }
    }
}

impl BgpConfig {
    /// A configuration with no peers and every optional key at its default.
    pub fn new(local_as: u32, router_id: Ipv4Addr) -> Self {
        Self {
            local_as,
            router_id,
            listen: None,
            hold_time: default_hold_time(),
            connect_retry: default_connect_retry(),
            send_hold_time: None,
            removed_refresh_timeout: None,
            route_targets: Vec::new(),
            peers: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// Checks everything serde cannot; each error names the key and value.
    pub fn validate(&self) -> Result<(), BgpError> {
        let bad = |key: String, value: String, reason: &str| BgpError::Config {
            key,
            value,
            reason: reason.to_string(),
        };
        // RFC 4271 §4.2 / RFC 6793: AS 0 is reserved; 23456 is AS_TRANS.
        if self.local_as == 0 || self.local_as == 23456 {
            return Err(bad(
                "bgp.local_as".into(),
                self.local_as.to_string(),
                "AS 0 and AS_TRANS (23456) cannot be a local AS",
            ));
        }
        // RFC 6286 §2.1: the BGP Identifier is a non-zero 32-bit value.
        if self.router_id.is_unspecified() {
            return Err(bad(
                "bgp.router_id".into(),
                self.router_id.to_string(),
                "the BGP identifier must not be 0.0.0.0",
            ));
        }
        // RFC 4271 §4.2: Hold Time MUST be either zero or at least three seconds.
        if self.hold_time == 1 || self.hold_time == 2 {
            return Err(bad(
                "bgp.hold_time".into(),
                self.hold_time.to_string(),
                "hold time must be 0 or at least 3 seconds",
            ));
        }
        if self.connect_retry == 0 || self.connect_retry > 3600 {
            return Err(bad(
                "bgp.connect_retry".into(),
                self.connect_retry.to_string(),
                "connect-retry must be 1..=3600 seconds",
            ));
        }
        if let Some(v) = &self.removed_refresh_timeout {
            return Err(bad(
                "bgp.refresh_timeout".into(),
                v.0.clone(),
                "this key was removed: the soft-reset deadline is limits.rpc_timeout_secs",
            ));
        }
        // RFC 9687 §4: the SendHoldTime must leave the peer time to read;
        // like the hold time, below 3 s is refused.
        if let Some(t) = self.send_hold_time
            && !(3..=86_400).contains(&t)
        {
            return Err(bad(
                "bgp.send_hold_time".into(),
                t.to_string(),
                "send hold time must be 3..=86400 seconds",
            ));
        }
        let mut seen_rt = HashSet::new();
        for (i, rt) in self.route_targets.iter().enumerate() {
            let parsed: RouteTarget = rt
                .parse()
                .map_err(|e: String| bad(format!("bgp.route_targets[{i}]"), rt.clone(), &e))?;
            if !seen_rt.insert(parsed) {
                return Err(bad(
                    format!("bgp.route_targets[{i}]"),
                    rt.clone(),
                    "duplicate route target",
                ));
            }
        }
        let mut groups = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let key = format!("bgp.groups[{i}].name");
            if g.name.is_empty() || g.name.chars().count() > MAX_GROUP_NAME_LEN {
                return Err(bad(
                    key,
                    g.name.clone(),
                    "group name must be 1..47 characters",
                ));
            }
            if !groups.insert(g.name.as_str()) {
                return Err(bad(key, g.name.clone(), "duplicate group name"));
            }
        }
        let mut addrs = HashSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            let key = |k: &str| format!("bgp.peers[{i}].{k}");
            if !addrs.insert(canonical_ip(p.address)) {
                return Err(bad(
                    key("address"),
                    p.address.to_string(),
                    "duplicate peer address",
                ));
            }
            if p.address.is_unspecified() || p.address.is_multicast() {
                return Err(bad(
                    key("address"),
                    p.address.to_string(),
                    "not a unicast address",
                ));
            }
            if p.remote_as == 0 || p.remote_as == 23456 {
                return Err(bad(
                    key("remote_as"),
                    p.remote_as.to_string(),
                    "AS 0 and AS_TRANS (23456) cannot be a peer AS",
                ));
            }
            if !p.passive && p.port == 0 {
                return Err(bad(key("port"), "0".into(), "an active peer needs a port"));
            }
            if let Some(g) = &p.group
                && !groups.contains(g.as_str())
            {
                return Err(bad(
                    key("group"),
                    g.clone(),
                    "group is not declared in bgp.groups",
                ));
            }
            if let Some(local) = p.local_address
                && local.is_ipv4() != p.address.is_ipv4()
            {
                return Err(bad(
                    key("local_address"),
                    local.to_string(),
                    "local address family differs from the peer address family",
                ));
            }
            if p.max_prefixes == 0 {
                return Err(bad(
                    key("max_prefixes"),
                    "0".into(),
                    "max_prefixes must be at least 1",
                ));
            }
            if p.enhanced_route_refresh && !p.route_refresh {
                return Err(bad(
                    key("enhanced_route_refresh"),
                    "true".into(),
                    "enhanced route refresh needs route_refresh = true (RFC 7313 §3)",
                ));
            }
        }
        Ok(())
    }
}

/// IPv4-mapped IPv6 addresses are the IPv4 peer they map (a dual-stack
/// listener reports IPv4 peers that way).
pub(crate) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn base() -> BgpConfig {
        toml::from_str(
            r#"
            local_as = 65000
            router_id = "1.1.1.1"
            listen = "127.0.0.1:1179"
            route_targets = ["65000:100", "4200000000:5", "1.2.3.4:5"]
            [[peers]]
            address = "127.0.0.2"
            remote_as = 65001
            port = 1790
            group = "ebgp-peers"
            passive = false
            vpn_target = true
            route_refresh = true
            [[groups]]
            name = "ebgp-peers"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn parses_the_documented_example_with_defaults() {
        let c = base();
        c.validate().unwrap();
        assert_eq!(c.hold_time, 90);
        assert!(c.peers[0].enhanced_route_refresh);
        assert!(c.peers[0].graceful_restart_helper);
        assert!(!c.peers[0].advertise_default_rt);
        assert_eq!(c.peers[0].local_address, None);
        assert!(!c.peers[0].shutdown);
        let s: BgpConfig = toml::from_str(
            "local_as = 1\nrouter_id = \"1.1.1.1\"\n[[peers]]\naddress = \"10.0.0.1\"\nremote_as = 2\nshutdown = true",
        )
        .unwrap();
        s.validate().unwrap();
        assert!(s.peers[0].shutdown);
    }

    #[test]
    fn removed_refresh_timeout_is_refused_by_name() {
        let c: BgpConfig =
            toml::from_str("local_as = 1\nrouter_id = \"1.1.1.1\"\nrefresh_timeout = 10").unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("bgp.refresh_timeout") && e.contains("limits.rpc_timeout_secs"),
            "{e}"
        );
    }

    #[test]
    fn max_prefixes_and_send_hold_time_are_checked() {
        let c = base();
        assert_eq!(c.peers[0].max_prefixes, DEFAULT_MAX_PREFIXES);
        assert_eq!(c.send_hold_time, None);
        let mut c = base();
        c.peers[0].max_prefixes = 0;
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bgp.peers[0].max_prefixes"), "{e}");
        let mut c = base();
        c.send_hold_time = Some(2);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bgp.send_hold_time"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<BgpConfig>("local_as = 1\nrouter_id = \"1.1.1.1\"\nfoo = 1");
        assert!(e.unwrap_err().to_string().contains("foo"));
    }

    #[test]
    fn errors_name_the_key_and_value() {
        let mut c = base();
        c.peers[0].group = Some("nope".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("bgp.peers[0].group") && e.contains("nope"),
            "{e}"
        );

        let mut c = base();
        c.peers.push(c.peers[0].clone());
        let e = c.validate().unwrap_err().to_string();
        assert!(
            e.contains("bgp.peers[1].address") && e.contains("duplicate"),
            "{e}"
        );

        let mut c = base();
        c.route_targets.push("65000".into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("bgp.route_targets[3]"), "{e}");

        let mut c = base();
        c.groups.push(GroupConfig {
            name: "x".repeat(48),
        });
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("bgp.groups[1].name")
        );

        let mut c = base();
        c.hold_time = 2;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("bgp.hold_time")
        );
    }
}
