//! The engine's snapshot as `bgp-vpn-target-state` data (module
//! ncagent-bgp-vpn-target, config false).

use std::fmt::Write as _;

use crate::bgp::{SkipReason, Snapshot, SoftResetResult};
use crate::netconf::error::Escaped;
use crate::schema::MODULE_NAMESPACE;

pub(super) fn render(s: &Snapshot) -> String {
    let mut x = format!(
        "<bgp-vpn-target-state xmlns=\"{MODULE_NAMESPACE}\"><local-as>{}</local-as><router-id>{}</router-id>",
        s.local_as, s.router_id
    );
    for p in &s.peers {
        // The list key comes first (RFC 7950 §7.8.5).
        let _ = write!(
            x,
            "<peer><address>{}</address><remote-as>{}</remote-as>",
            p.address, p.remote_as
        );
        if let Some(g) = &p.group {
            let _ = write!(x, "<group>{}</group>", Escaped(g));
        }
        let n = &p.negotiated;
        let _ = write!(
            x,
            "<peer-type>{}</peer-type><family-enabled>{}</family-enabled><session-state>{}</session-state>\
             <negotiated><route-refresh>{}</route-refresh><enhanced-route-refresh>{}</enhanced-route-refresh>\
             <rtc>{}</rtc><four-octet-as>{}</four-octet-as><graceful-restart>{}</graceful-restart></negotiated>\
             <counters><route-refresh-sent>{}</route-refresh-sent><route-refresh-received>{}</route-refresh-received>\
             <updates-sent>{}</updates-sent><updates-received>{}</updates-received>\
             <soft-resets-coalesced>{}</soft-resets-coalesced></counters>\
             <rtc-routes><adj-rib-in>{}</adj-rib-in><adj-rib-out>{}</adj-rib-out><stale>{}</stale></rtc-routes>\
             <end-of-rib><sent>{}</sent><received>{}</received>",
            if p.internal { "internal" } else { "external" },
            p.family_enabled,
            p.state.as_str(),
            n.route_refresh,
            n.enhanced_route_refresh,
            n.rtc,
            n.four_octet_as,
            n.graceful_restart,
            p.route_refresh_sent,
            p.route_refresh_received,
            p.updates_sent,
            p.updates_received,
            p.soft_resets_coalesced,
            p.adj_rib_in,
            p.adj_rib_out,
            p.rtc_routes_stale,
            p.end_of_rib_sent,
            p.end_of_rib_received.is_some(),
        );
        // RFC 4684 §6 / RFC 4724 §2: the peer's End-of-RIB for RT membership.
        if let Some(t) = p.end_of_rib_received {
            let _ = write!(
                x,
                "<received-time>{}</received-time>",
                humantime::format_rfc3339_seconds(t)
            );
        }
        let _ = write!(
            x,
            "</end-of-rib><max-prefixes>{}</max-prefixes><export-pending>{}</export-pending>",
            p.max_prefixes, p.export_pending
        );
        if let Some(r) = &p.last_soft_reset {
            let (result, reason) = match &r.result {
                SoftResetResult::Done => ("success", None),
                SoftResetResult::Skipped(SkipReason::NotEstablished) => (
                    "skipped-not-established",
                    Some(SkipReason::NotEstablished.to_string()),
                ),
                SoftResetResult::Skipped(SkipReason::RouteRefreshNotNegotiated) => (
                    "skipped-no-route-refresh",
                    Some(SkipReason::RouteRefreshNotNegotiated.to_string()),
                ),
                SoftResetResult::Skipped(other) => {
                    ("skipped-family-not-negotiated", Some(other.to_string()))
                }
                SoftResetResult::Failed(why) => ("failed", Some(why.clone())),
            };
            let _ = write!(
                x,
                "<last-soft-reset><time>{}</time><direction>{}</direction><result>{result}</result>",
                humantime::format_rfc3339_seconds(r.time),
                r.direction.as_str()
            );
            if let Some(reason) = reason {
                let _ = write!(x, "<reason>{}</reason>", Escaped(&reason));
            }
            x.push_str("</last-soft-reset>");
        }
        x.push_str("</peer>");
    }
    x.push_str("</bgp-vpn-target-state>");
    x
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::bgp::{Negotiated, PeerSnapshot, SessionState};
    use crate::schema::{DeviceProfile, Schema};

    fn peer(eor: Option<SystemTime>) -> PeerSnapshot {
        PeerSnapshot {
            address: "127.0.0.2".parse().unwrap(),
            remote_as: 65001,
            group: Some("g<1>".into()),
            internal: false,
            family_enabled: true,
            state: SessionState::Established,
            negotiated: Negotiated::default(),
            route_refresh_sent: 1,
            route_refresh_received: 2,
            updates_sent: 3,
            updates_received: 4,
            adj_rib_in: 0,
            adj_rib_out: 0,
            rtc_routes_stale: 0,
            established_since: None,
            end_of_rib_sent: true,
            end_of_rib_received: eor,
            max_prefixes: 100_000,
            export_pending: false,
            soft_resets_coalesced: 7,
            last_soft_reset: None,
        }
    }

    /// RFC 4684 §6: the End-of-RIB state renders as valid module data.
    #[test]
    fn end_of_rib_state_is_valid_module_data() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let s = Snapshot {
            local_as: 65000,
            router_id: "1.1.1.1".parse().unwrap(),
            peers: vec![peer(Some(t)), {
                let mut p = peer(None);
                p.address = "127.0.0.3".parse().unwrap();
                p
            }],
        };
        let xml = render(&s);
        assert!(
            xml.contains(
                "<end-of-rib><sent>true</sent><received>true</received>\
                 <received-time>2027-01-15T08:00:00Z</received-time></end-of-rib>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("<end-of-rib><sent>true</sent><received>false</received></end-of-rib>")
        );
        assert!(xml.contains("<soft-resets-coalesced>7</soft-resets-coalesced>"));
        assert!(xml.contains("<graceful-restart>false</graceful-restart></negotiated>"));
        assert!(xml.contains("<stale>0</stale></rtc-routes>"));
        let schema = Schema::load(DeviceProfile::lookup("CE8855", None).unwrap()).unwrap();
        schema.validate_state_xml(&xml).expect("valid state data");
    }
}
