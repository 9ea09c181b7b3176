//! The engine's snapshot as YANG state data, built as libyang nodes of
//! the reply tree: `bgp-vpn-target-state` (module ncagent-bgp-vpn-target,
//! kept for existing clients) and the `config false` `state` of each
//! neighbor of ncagent-bgp.

use crate::bgp::{PeerSnapshot, SkipReason, Snapshot, SoftResetRecord, SoftResetResult};
use crate::schema::{ReadError, ReadTree};

fn rfc3339(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// (result enum, reason) of the last soft reset.
fn soft_reset_result(r: &SoftResetRecord) -> (&'static str, Option<String>) {
    match &r.result {
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
    }
}

fn add_soft_reset(t: &mut ReadTree<'_>, base: &str, r: &SoftResetRecord) -> Result<(), ReadError> {
    let (result, reason) = soft_reset_result(r);
    let b = format!("{base}/last-soft-reset");
    t.set(&format!("{b}/time"), Some(&rfc3339(r.time)))?;
    t.set(&format!("{b}/direction"), Some(r.direction.as_str()))?;
    t.set(&format!("{b}/result"), Some(result))?;
    if let Some(reason) = reason {
        t.set(&format!("{b}/reason"), Some(&reason))?;
    }
    Ok(())
}

/// `/bgp-vpn-target-state` (ncagent-bgp-vpn-target).
pub(super) fn add_vpn_target_state(t: &mut ReadTree<'_>, s: &Snapshot) -> Result<(), ReadError> {
    const VT: &str = "/ncagent-bgp-vpn-target:bgp-vpn-target-state";
    t.set(&format!("{VT}/local-as"), Some(&s.local_as.to_string()))?;
    t.set(&format!("{VT}/router-id"), Some(&s.router_id.to_string()))?;
    for p in &s.peers {
        let base = format!("{VT}/peer[address='{}']", p.address);
        let leaf =
            |t: &mut ReadTree<'_>, rel: &str, v: &str| t.set(&format!("{base}/{rel}"), Some(v));
        leaf(t, "remote-as", &p.remote_as.to_string())?;
        if let Some(g) = &p.group {
            leaf(t, "group", g)?;
        }
        add_session_leaves(t, &base, p)?;
        leaf(t, "family-enabled", &p.family_enabled.to_string())?;
        leaf(
            t,
            "negotiated/graceful-restart",
            &p.negotiated.graceful_restart.to_string(),
        )?;
        leaf(
            t,
            "counters/soft-resets-coalesced",
            &p.soft_resets_coalesced.to_string(),
        )?;
        leaf(t, "rtc-routes/stale", &p.rtc_routes_stale.to_string())?;
        // RFC 4684 §6 / RFC 4724 §2: the peer's End-of-RIB for RT membership.
        leaf(t, "end-of-rib/sent", &p.end_of_rib_sent.to_string())?;
        leaf(
            t,
            "end-of-rib/received",
            &p.end_of_rib_received.is_some().to_string(),
        )?;
        if let Some(at) = p.end_of_rib_received {
            leaf(t, "end-of-rib/received-time", &rfc3339(at))?;
        }
        leaf(t, "max-prefixes", &p.max_prefixes.to_string())?;
        leaf(t, "export-pending", &p.export_pending.to_string())?;
        if let Some(r) = &p.last_soft_reset {
            add_soft_reset(t, &base, r)?;
        }
    }
    Ok(())
}

/// The leaves both state trees have for a peer, below `base`: its type and
/// session state, what was negotiated, its counters and RIB sizes.
fn add_session_leaves(t: &mut ReadTree<'_>, base: &str, p: &PeerSnapshot) -> Result<(), ReadError> {
    let n = &p.negotiated;
    let bools = [
        ("negotiated/route-refresh", n.route_refresh),
        (
            "negotiated/enhanced-route-refresh",
            n.enhanced_route_refresh,
        ),
        ("negotiated/rtc", n.rtc),
        ("negotiated/four-octet-as", n.four_octet_as),
    ];
    let counts = [
        ("counters/route-refresh-sent", p.route_refresh_sent),
        ("counters/route-refresh-received", p.route_refresh_received),
        ("counters/updates-sent", p.updates_sent),
        ("counters/updates-received", p.updates_received),
        ("rtc-routes/adj-rib-in", p.adj_rib_in as u64),
        ("rtc-routes/adj-rib-out", p.adj_rib_out as u64),
    ];
    let peer_type = if p.internal { "internal" } else { "external" };
    t.set(&format!("{base}/peer-type"), Some(peer_type))?;
    t.set(&format!("{base}/session-state"), Some(p.state.as_str()))?;
    for (rel, v) in bools {
        t.set(&format!("{base}/{rel}"), Some(&v.to_string()))?;
    }
    for (rel, v) in counts {
        t.set(&format!("{base}/{rel}"), Some(&v.to_string()))?;
    }
    Ok(())
}

/// The `config false` `state` of the neighbors the engine runs, under
/// `/bgp/neighbors/neighbor` of ncagent-bgp, for those the configuration
/// in `t` holds: a neighbor entry needs its mandatory configuration
/// (remote-as) to be valid data, so a peer the engine runs without a
/// configured entry (e.g. from the TOML file before the datastores hold
/// it) is reported in `bgp-vpn-target-state` only.
pub(super) fn add_neighbor_state(t: &mut ReadTree<'_>, s: &Snapshot) -> Result<(), ReadError> {
    for p in &s.peers {
        let entry = format!(
            "/ncagent-bgp:bgp/neighbors/neighbor[address='{}']",
            p.address
        );
        if !t.contains(&entry) {
            continue;
        }
        let base = format!("{entry}/state");
        let leaf =
            |t: &mut ReadTree<'_>, rel: &str, v: &str| t.set(&format!("{base}/{rel}"), Some(v));
        add_session_leaves(t, &base, p)?;
        if let Some(since) = p.established_since {
            leaf(t, "established-since", &rfc3339(since))?;
        }
        if let Some(r) = &p.last_soft_reset {
            add_soft_reset(t, &base, r)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(super) mod tests {
    use std::time::{Duration, SystemTime};

    use crate::bgp::{Negotiated, PeerSnapshot, SessionState, Snapshot};

    pub(crate) fn peer(address: &str, eor: Option<SystemTime>) -> PeerSnapshot {
        PeerSnapshot {
            address: address.parse().unwrap(),
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
            established_since: eor,
            end_of_rib_sent: true,
            end_of_rib_received: eor,
            max_prefixes: 100_000,
            export_pending: false,
            soft_resets_coalesced: 7,
            last_soft_reset: None,
        }
    }

    pub(crate) fn snapshot() -> Snapshot {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        Snapshot {
            local_as: 65000,
            router_id: "1.1.1.1".parse().unwrap(),
            peers: vec![peer("127.0.0.2", Some(t)), peer("127.0.0.3", None)],
        }
    }
}
