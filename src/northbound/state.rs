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
             <rtc>{}</rtc><four-octet-as>{}</four-octet-as></negotiated>\
             <counters><route-refresh-sent>{}</route-refresh-sent><route-refresh-received>{}</route-refresh-received>\
             <updates-sent>{}</updates-sent><updates-received>{}</updates-received></counters>\
             <rtc-routes><adj-rib-in>{}</adj-rib-in><adj-rib-out>{}</adj-rib-out></rtc-routes>",
            if p.internal { "internal" } else { "external" },
            p.family_enabled,
            p.state.as_str(),
            n.route_refresh,
            n.enhanced_route_refresh,
            n.rtc,
            n.four_octet_as,
            p.route_refresh_sent,
            p.route_refresh_received,
            p.updates_sent,
            p.updates_received,
            p.rtc_routes_in.len(),
            p.rtc_routes_out.len(),
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
