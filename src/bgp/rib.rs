//! Route targets and the per-peer RTC RIBs (RFC 4684).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use rustbgpd_wire::RtcNlri;

use super::RtcRoute;

/// A Route Target extended community (RFC 4360 §4, RFC 5668), kept as its
/// 8 wire octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteTarget(pub u64);

// RFC 4360 §3: type high octets of the three Route Target flavours;
// sub-type 0x02 is "Route Target".
const TYPE_AS2: u8 = 0x00;
const TYPE_IPV4: u8 = 0x01;
const TYPE_AS4: u8 = 0x02;
const SUBTYPE_RT: u8 = 0x02;

impl RouteTarget {
    fn build(ty: u8, value: [u8; 6]) -> Self {
        let mut b = [0u8; 8];
        b[0] = ty;
        b[1] = SUBTYPE_RT;
        b[2..].copy_from_slice(&value);
        Self(u64::from_be_bytes(b))
    }

    /// The fully specified (/96) RTC NLRI for this target originated by `origin_as`.
    pub fn nlri(self, origin_as: u32) -> Option<RtcNlri> {
        RtcNlri::new(origin_as, self.0, 96).ok()
    }
}

impl FromStr for RouteTarget {
    type Err = String;

    /// "ASN2:u32" (RFC 4360 §3.1), "ASN4:u16" (RFC 5668), "a.b.c.d:u16" (RFC 4360 §3.2).
    fn from_str(s: &str) -> Result<Self, String> {
        let (global, local) = s
            .rsplit_once(':')
            .ok_or_else(|| "route target must look like ASN:NN or A.B.C.D:NN".to_string())?;
        if global.contains('.') {
            let ip: Ipv4Addr = global
                .parse()
                .map_err(|_| format!("bad IPv4 administrator {global:?}"))?;
            let local: u16 = local.parse().map_err(|_| {
                format!("local value {local:?} must be 0..=65535 with an IPv4 administrator")
            })?;
            let mut v = [0u8; 6];
            v[..4].copy_from_slice(&ip.octets());
            v[4..].copy_from_slice(&local.to_be_bytes());
            return Ok(Self::build(TYPE_IPV4, v));
        }
        let asn: u32 = global
            .parse()
            .map_err(|_| format!("bad AS number {global:?}"))?;
        if let Ok(asn2) = u16::try_from(asn) {
            let local: u32 = local
                .parse()
                .map_err(|_| format!("local value {local:?} must be 0..=4294967295"))?;
            let mut v = [0u8; 6];
            v[..2].copy_from_slice(&asn2.to_be_bytes());
            v[2..].copy_from_slice(&local.to_be_bytes());
            Ok(Self::build(TYPE_AS2, v))
        } else {
            let local: u16 = local.parse().map_err(|_| {
                format!("local value {local:?} must be 0..=65535 with a 4-octet AS")
            })?;
            let mut v = [0u8; 6];
            v[..4].copy_from_slice(&asn.to_be_bytes());
            v[4..].copy_from_slice(&local.to_be_bytes());
            Ok(Self::build(TYPE_AS4, v))
        }
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0.to_be_bytes();
        let u16_at = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        match (b[0] & 0x3f, b[1]) {
            (TYPE_AS2, SUBTYPE_RT) => write!(f, "{}:{}", u16_at(2), u32_at(4)),
            (TYPE_IPV4, SUBTYPE_RT) => {
                write!(f, "{}:{}", Ipv4Addr::new(b[2], b[3], b[4], b[5]), u16_at(6))
            }
            (TYPE_AS4, SUBTYPE_RT) => write!(f, "{}:{}", u32_at(2), u16_at(6)),
            // Partial RTC prefixes (RFC 4684 §4) may cut the type octets off.
            _ => write!(f, "0x{:016x}", self.0),
        }
    }
}

impl From<&RtcNlri> for RtcRoute {
    fn from(n: &RtcNlri) -> Self {
        RtcRoute {
            origin_as: n.origin_as,
            route_target: (!n.is_default()).then(|| RouteTarget(n.route_target_bits).to_string()),
            prefix_len: n.prefix_len,
        }
    }
}

/// Adj-RIB-In of one peer for the RTC family, with the RFC 7313 stale marks.
#[derive(Debug, Default, Clone)]
pub(crate) struct AdjRibIn {
    /// route -> stale (set at BoRR, cleared when re-advertised).
    routes: BTreeMap<RtcNlri, bool>,
}

impl AdjRibIn {
    pub(crate) fn announce(&mut self, n: RtcNlri) {
        self.routes.insert(n, false);
    }
    pub(crate) fn withdraw(&mut self, n: &RtcNlri) {
        self.routes.remove(n);
    }
    pub(crate) fn clear(&mut self) {
        self.routes.clear();
    }
    /// RFC 7313 §4: at BoRR every route of the family becomes stale.
    pub(crate) fn mark_stale(&mut self) {
        self.routes.values_mut().for_each(|s| *s = true);
    }
    /// RFC 7313 §4: at EoRR the routes still stale are removed; returns them.
    pub(crate) fn sweep_stale(&mut self) -> Vec<RtcNlri> {
        let stale: Vec<RtcNlri> = self
            .routes
            .iter()
            .filter(|(_, s)| **s)
            .map(|(n, _)| *n)
            .collect();
        for n in &stale {
            self.routes.remove(n);
        }
        stale
    }
    pub(crate) fn len(&self) -> usize {
        self.routes.len()
    }
    pub(crate) fn stale_len(&self) -> usize {
        self.routes.values().filter(|s| **s).count()
    }
    pub(crate) fn routes(&self) -> impl Iterator<Item = &RtcNlri> {
        self.routes.keys()
    }
}

/// The routes this switch advertises to one peer (see docs/bgp.md).
pub(crate) fn adj_rib_out(
    originated: &BTreeSet<RtcNlri>,
    advertise_default_rt: bool,
) -> BTreeSet<RtcNlri> {
    let mut out = originated.clone();
    if advertise_default_rt {
        out.insert(RtcNlri::DEFAULT);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn route_targets_round_trip_in_all_three_forms() {
        for (s, raw) in [
            ("65000:100", 0x0002_fde8_0000_0064_u64),
            ("4200000000:5", 0x0202_fa56_ea00_0005),
            ("1.2.3.4:5", 0x0102_0102_0304_0005),
        ] {
            let rt: RouteTarget = s.parse().unwrap();
            assert_eq!(rt.0, raw, "{s}");
            assert_eq!(rt.to_string(), s);
        }
        for bad in [
            "65000",
            "x:1",
            "1.2.3:4",
            "4200000000:70000",
            "1.2.3.4:70000",
            "65000:-1",
        ] {
            assert!(bad.parse::<RouteTarget>().is_err(), "{bad}");
        }
    }

    #[test]
    fn stale_routes_are_swept_unless_readvertised() {
        let a = RtcNlri::new(1, 0x0002_0001_0000_0001, 96).unwrap();
        let b = RtcNlri::new(1, 0x0002_0001_0000_0002, 96).unwrap();
        let mut rib = AdjRibIn::default();
        rib.announce(a);
        rib.announce(b);
        rib.mark_stale();
        rib.announce(a);
        assert_eq!(rib.sweep_stale(), vec![b]);
        assert_eq!(rib.routes().copied().collect::<Vec<_>>(), vec![a]);
    }

    #[test]
    fn default_rt_shows_without_route_target() {
        let r = RtcRoute::from(&RtcNlri::DEFAULT);
        assert_eq!(r.route_target, None);
        assert_eq!(r.prefix_len, 0);
    }
}
