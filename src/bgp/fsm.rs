//! The pure parts of the RFC 4271 §8 finite state machine: OPEN checks,
//! which message each state accepts, timers and collision resolution. The
//! session task (`session.rs`) drives them over a socket.

use std::net::Ipv4Addr;
use std::time::Duration;

use rustbgpd_wire::{Capability, MessageType, OpenMessage};

use super::Negotiated;
use super::codec::{self, Notify, OpenParams, code};

/// RFC 4271 §8.2.2: "a large value (suggested 4 minutes)" for the hold timer
/// while waiting for the peer's OPEN.
pub(crate) const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);
/// Cap on the connect-retry backoff, in multiples of ConnectRetryTime.
const MAX_BACKOFF_FACTOR: u32 = 8;

/// Session states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SessionState {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Connect => "connect",
            Self::Active => "active",
            Self::OpenSent => "opensent",
            Self::OpenConfirm => "openconfirm",
            Self::Established => "established",
        }
    }
}

impl std::fmt::Display for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the local side expects of the peer's OPEN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expect {
    pub remote_as: u32,
    pub internal: bool,
    pub offered: OpenParams,
}

/// The outcome of an accepted OPEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepted {
    pub remote_id: Ipv4Addr,
    /// Negotiated hold time (RFC 4271 §4.2: the smaller of both); zero = no timers.
    pub hold_time: Duration,
    pub negotiated: Negotiated,
    /// The peer's Graceful Restart capability when graceful restart is
    /// negotiated (we advertised it too); `None` otherwise.
    pub peer_restart: Option<PeerRestart>,
}

/// What the peer's Graceful Restart capability (RFC 4724 §3) says, as far
/// as the RTC family is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerRestart {
    /// Restart Time (12 bits, seconds): how long, after the session ends
    /// without a NOTIFICATION, we keep its stale RTC routes (§4.2).
    pub restart_time: Duration,
    /// `Some(F bit)` when the peer listed AFI 1 / SAFI 132; `None` when it
    /// did not (then none of §4.2 applies to its RTC routes).
    pub rtc_forwarding_preserved: Option<bool>,
}

impl PeerRestart {
    /// RFC 4724 §4.2: its RTC routes are kept as stale when the session
    /// ends without a NOTIFICATION.
    pub(crate) fn retains_rtc(&self) -> bool {
        self.rtc_forwarding_preserved.is_some()
    }
}

impl Accepted {
    /// RFC 4271 §10: KeepaliveTime is one third of the hold time.
    pub(crate) fn keepalive(&self) -> Option<Duration> {
        (!self.hold_time.is_zero()).then(|| self.hold_time / 3)
    }
}

/// RFC 4271 §6.2 OPEN message error handling (version is checked by the decoder).
pub(crate) fn check_open(open: &OpenMessage, exp: &Expect) -> Result<Accepted, Notify> {
    let peer_as = open.four_byte_as();
    // RFC 4271 §6.2 / RFC 6793 §4.1: the (4-octet) AS must be the configured one.
    if peer_as != exp.remote_as {
        return Err(Notify::new(code::OPEN, 2));
    }
    // RFC 4271 §6.2: Hold Time of one or two seconds is unacceptable.
    if open.hold_time == 1 || open.hold_time == 2 {
        return Err(Notify::new(code::OPEN, 6));
    }
    // RFC 6286 §2.2: zero is a bad identifier, and so is our own on an
    // internal session.
    let id = open.bgp_identifier;
    if id.is_unspecified() || (exp.internal && id == exp.offered.router_id) {
        return Err(Notify::new(code::OPEN, 3));
    }
    let has = |want: &dyn Fn(&Capability) -> bool| open.capabilities.iter().any(want);
    // RFC 5492 §3: capabilities we do not know are ignored; a capability is
    // negotiated only when both sides advertised it.
    let negotiated = Negotiated {
        rtc: exp.offered.rtc
            && has(&|c| {
                matches!(
                    c,
                    Capability::MultiProtocol {
                        afi: rustbgpd_wire::Afi::Ipv4,
                        safi: rustbgpd_wire::Safi::RtConstrain
                    }
                )
            }),
        route_refresh: exp.offered.route_refresh && has(&|c| matches!(c, Capability::RouteRefresh)),
        enhanced_route_refresh: exp.offered.enhanced_route_refresh
            && has(&|c| matches!(c, Capability::RouteRefresh))
            && has(&|c| matches!(c, Capability::EnhancedRouteRefresh)),
        four_octet_as: has(&|c| matches!(c, Capability::FourOctetAs { .. })),
        extended_next_hop: exp.offered.rtc
            && exp.offered.extended_next_hop
            && has(&offers_rtc_ipv6_next_hop),
        graceful_restart: false,
    };
    // RFC 4724 §3. A capability 64 whose length is not 2 + 4n is kept raw
    // by the codec and not taken for one; of several, the last counts.
    let peer_restart = if exp.offered.graceful_restart {
        open.capabilities.iter().rev().find_map(|c| match c {
            Capability::GracefulRestart {
                restart_time,
                families,
                ..
            } => Some(PeerRestart {
                restart_time: Duration::from_secs(u64::from(*restart_time)),
                rtc_forwarding_preserved: families
                    .iter()
                    .find(|f| {
                        f.afi == rustbgpd_wire::Afi::Ipv4
                            && f.safi == rustbgpd_wire::Safi::RtConstrain
                    })
                    .map(|f| f.forwarding_preserved),
            }),
            _ => None,
        })
    } else {
        None
    };
    let negotiated = Negotiated {
        graceful_restart: peer_restart.is_some(),
        ..negotiated
    };
    let hold = exp.offered.hold_time.min(open.hold_time);
    Ok(Accepted {
        remote_id: id,
        hold_time: Duration::from_secs(u64::from(hold)),
        negotiated,
        peer_restart,
    })
}

/// RFC 8950 §3: does this capability hold the tuple <NLRI AFI 1, NLRI
/// SAFI 132, next-hop AFI 2>? The codec keeps a capability 5 with any tuple
/// it does not know (another SAFI, say) as raw bytes, so those are read too:
/// one unknown tuple must not hide ours.
fn offers_rtc_ipv6_next_hop(c: &Capability) -> bool {
    match c {
        Capability::ExtendedNextHop(families) => families.iter().any(|f| {
            f.nlri_afi == rustbgpd_wire::Afi::Ipv4
                && f.nlri_safi == rustbgpd_wire::Safi::RtConstrain
                && f.next_hop_afi == rustbgpd_wire::Afi::Ipv6
        }),
        Capability::Unknown { code, data } if *code == codec::CAPABILITY_EXTENDED_NEXT_HOP => {
            // RFC 8950 §3: 6-octet tuples, NLRI AFI (2), NLRI SAFI (2), next-hop AFI (2).
            data.chunks_exact(6).any(|t| {
                t[..2] == codec::AFI_IPV4.to_be_bytes()
                    && t[2..4] == u16::from(codec::SAFI_RTC).to_be_bytes()
                    && t[4..] == codec::AFI_IPV6.to_be_bytes()
            })
        }
        _ => false,
    }
}

/// RFC 4271 §8.2.2 with the RFC 6608 subcodes: the FSM error for a message
/// that the current state does not accept, or `None` if it is accepted.
pub(crate) fn unexpected(state: SessionState, ty: MessageType) -> Option<Notify> {
    if ty == MessageType::Notification {
        return None;
    }
    let (ok, subcode) = match state {
        SessionState::OpenSent => (ty == MessageType::Open, 1),
        SessionState::OpenConfirm => (ty == MessageType::Keepalive, 2),
        SessionState::Established => (ty != MessageType::Open, 3),
        _ => (false, 0),
    };
    (!ok).then(|| Notify::new(code::FSM, subcode))
}

/// Which connection survives a collision (RFC 4271 §6.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The connection we initiated.
    Outbound,
    /// The connection the peer initiated.
    Inbound,
}

/// RFC 4271 §6.8: if the local BGP Identifier is lower, the connection the
/// local system initiated is closed; otherwise the peer's is.
pub(crate) fn resolve_collision(local_id: Ipv4Addr, remote_id: Ipv4Addr) -> Keep {
    if u32::from(local_id) < u32::from(remote_id) {
        Keep::Inbound
    } else {
        Keep::Outbound
    }
}

/// Connect-retry with exponential backoff: base, 2×, 4×, … capped at 8×.
pub(crate) fn connect_backoff(base: Duration, failures: u32) -> Duration {
    let factor = 1u32 << failures.min(3);
    base * factor.min(MAX_BACKOFF_FACTOR)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn offered() -> OpenParams {
        OpenParams {
            local_as: 65000,
            hold_time: 90,
            router_id: Ipv4Addr::new(1, 1, 1, 1),
            rtc: true,
            route_refresh: true,
            enhanced_route_refresh: true,
            extended_next_hop: false,
            graceful_restart: true,
        }
    }

    fn open(asn: u32, hold: u16, id: [u8; 4], caps: Vec<Capability>) -> OpenMessage {
        OpenMessage {
            version: 4,
            my_as: u16::try_from(asn).unwrap_or(23456),
            hold_time: hold,
            bgp_identifier: Ipv4Addr::from(id),
            capabilities: caps,
        }
    }

    fn all_caps(asn: u32) -> Vec<Capability> {
        vec![
            Capability::MultiProtocol {
                afi: rustbgpd_wire::Afi::Ipv4,
                safi: rustbgpd_wire::Safi::RtConstrain,
            },
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs { asn },
            Capability::Unknown {
                code: 73,
                data: bytes::Bytes::from_static(b"\x03abc"),
            },
        ]
    }

    #[test]
    fn open_negotiates_what_both_sides_advertise() {
        let exp = Expect {
            remote_as: 4_200_000_000,
            internal: false,
            offered: offered(),
        };
        let a = check_open(
            &open(4_200_000_000, 30, [2, 2, 2, 2], all_caps(4_200_000_000)),
            &exp,
        )
        .unwrap();
        assert_eq!(a.hold_time, Duration::from_secs(30));
        assert_eq!(a.keepalive(), Some(Duration::from_secs(10)));
        assert!(a.negotiated.rtc && a.negotiated.route_refresh);
        assert!(a.negotiated.enhanced_route_refresh && a.negotiated.four_octet_as);

        let exp_no_rr = Expect {
            offered: OpenParams {
                route_refresh: false,
                enhanced_route_refresh: false,
                ..offered()
            },
            ..exp
        };
        let a = check_open(
            &open(4_200_000_000, 0, [2, 2, 2, 2], all_caps(4_200_000_000)),
            &exp_no_rr,
        )
        .unwrap();
        assert!(!a.negotiated.route_refresh && !a.negotiated.enhanced_route_refresh);
        assert_eq!(a.keepalive(), None);
    }

    /// RFC 8950 §3: Extended Next Hop for RTC is negotiated when we offered
    /// it (IPv6 sessions) and the peer's capability 5 holds <1, 132, 2>,
    /// also among tuples the codec does not know (then kept raw).
    #[test]
    fn extended_next_hop_needs_both_sides_and_the_rtc_tuple() {
        let v6 = Expect {
            remote_as: 65001,
            internal: false,
            offered: OpenParams {
                extended_next_hop: true,
                ..offered()
            },
        };
        let with = |cap: Capability| {
            let mut caps = all_caps(65001);
            caps.push(cap);
            check_open(&open(65001, 90, [2, 2, 2, 2], caps), &v6)
                .unwrap()
                .negotiated
                .extended_next_hop
        };
        let family = |safi| rustbgpd_wire::ExtendedNextHopFamily {
            nlri_afi: rustbgpd_wire::Afi::Ipv4,
            nlri_safi: safi,
            next_hop_afi: rustbgpd_wire::Afi::Ipv6,
        };
        assert!(with(Capability::ExtendedNextHop(vec![
            family(rustbgpd_wire::Safi::Unicast),
            family(rustbgpd_wire::Safi::RtConstrain),
        ])));
        assert!(!with(Capability::ExtendedNextHop(vec![family(
            rustbgpd_wire::Safi::Unicast
        )])));
        // <1, 999 (unknown SAFI), 2> then <1, 132, 2>: kept raw by the codec.
        let raw = Capability::Unknown {
            code: 5,
            data: bytes::Bytes::from_static(&[0, 1, 3, 0xe7, 0, 2, 0, 1, 0, 132, 0, 2]),
        };
        assert!(with(raw.clone()));
        // Not offered (an IPv4 session): not negotiated.
        let v4 = Expect {
            offered: offered(),
            ..v6
        };
        let mut caps = all_caps(65001);
        caps.push(raw);
        let a = check_open(&open(65001, 90, [2, 2, 2, 2], caps), &v4).unwrap();
        assert!(!a.negotiated.extended_next_hop);
    }

    /// RFC 4724 §3: graceful restart is negotiated when both sides sent
    /// capability 64; the peer's entry for AFI 1 / SAFI 132 (if any) is
    /// what §4.2 obliges us to act on.
    #[test]
    fn graceful_restart_needs_both_sides_and_reads_the_rtc_entry() {
        let exp = Expect {
            remote_as: 65001,
            internal: false,
            offered: offered(),
        };
        let gr = |families| Capability::GracefulRestart {
            restart_state: false,
            notification: false,
            restart_time: 90,
            families,
        };
        let accept = |exp: &Expect, cap: Option<Capability>| {
            let mut caps = all_caps(65001);
            caps.extend(cap);
            check_open(&open(65001, 90, [2, 2, 2, 2], caps), exp).unwrap()
        };
        let a = accept(&exp, None);
        assert!(!a.negotiated.graceful_restart && a.peer_restart.is_none());

        let a = accept(&exp, Some(gr(vec![])));
        assert!(a.negotiated.graceful_restart);
        let r = a.peer_restart.unwrap();
        assert_eq!(r.restart_time, Duration::from_secs(90));
        assert!(!r.retains_rtc());

        let family = |safi, forwarding_preserved| rustbgpd_wire::GracefulRestartFamily {
            afi: rustbgpd_wire::Afi::Ipv4,
            safi,
            forwarding_preserved,
        };
        let a = accept(
            &exp,
            Some(gr(vec![
                family(rustbgpd_wire::Safi::Unicast, true),
                family(rustbgpd_wire::Safi::RtConstrain, false),
            ])),
        );
        let r = a.peer_restart.unwrap();
        assert!(r.retains_rtc());
        assert_eq!(r.rtc_forwarding_preserved, Some(false));

        // Not offered (graceful_restart_helper = false): nothing negotiated.
        let off = Expect {
            offered: OpenParams {
                graceful_restart: false,
                ..offered()
            },
            ..exp
        };
        let a = accept(
            &off,
            Some(gr(vec![family(rustbgpd_wire::Safi::RtConstrain, true)])),
        );
        assert!(!a.negotiated.graceful_restart && a.peer_restart.is_none());
    }

    #[test]
    fn open_errors_use_rfc4271_subcodes() {
        let exp = Expect {
            remote_as: 65000,
            internal: true,
            offered: offered(),
        };
        let sub = |o: OpenMessage| check_open(&o, &exp).unwrap_err().subcode;
        assert_eq!(sub(open(65001, 90, [2, 2, 2, 2], all_caps(65001))), 2);
        assert_eq!(sub(open(65000, 2, [2, 2, 2, 2], all_caps(65000))), 6);
        assert_eq!(sub(open(65000, 90, [0, 0, 0, 0], all_caps(65000))), 3);
        assert_eq!(sub(open(65000, 90, [1, 1, 1, 1], all_caps(65000))), 3);
    }

    #[test]
    fn states_accept_only_their_messages() {
        use MessageType::*;
        assert_eq!(unexpected(SessionState::OpenSent, Open), None);
        assert_eq!(
            unexpected(SessionState::OpenSent, Update).unwrap().subcode,
            1
        );
        assert_eq!(
            unexpected(SessionState::OpenConfirm, Update)
                .unwrap()
                .subcode,
            2
        );
        assert_eq!(unexpected(SessionState::OpenConfirm, Keepalive), None);
        assert_eq!(
            unexpected(SessionState::Established, Open).unwrap().subcode,
            3
        );
        assert_eq!(unexpected(SessionState::Established, RouteRefresh), None);
        assert_eq!(unexpected(SessionState::Established, Notification), None);
    }

    #[test]
    fn collision_keeps_the_higher_identifiers_connection() {
        let lo = Ipv4Addr::new(1, 1, 1, 1);
        let hi = Ipv4Addr::new(2, 2, 2, 2);
        assert_eq!(resolve_collision(lo, hi), Keep::Inbound);
        assert_eq!(resolve_collision(hi, lo), Keep::Outbound);
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Duration::from_secs(1);
        let got: Vec<u64> = (0..6).map(|f| connect_backoff(b, f).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 8, 8]);
    }
}
