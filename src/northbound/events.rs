//! The BGP events of `ncagent-bgp-events` (yang/): a soft reset finished,
//! a peer changed state. Rendered here, published on the NETCONF stream
//! through the notification hub (RFC 5277).

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::bgp::{
    BgpHandle, Direction, DownCause, PeerEvent, PeerSelector, RefreshError, RefreshOutcome,
};
use crate::datastore::diff::Change;
use crate::netconf::notify::{Edit, EditOperation, Notifier};
use crate::xml::Escaped;

/// Namespace of `yang/ncagent-bgp-events@2026-11-29.yang`.
pub const EVENTS_NAMESPACE: &str = "urn:ncagent:yang:ncagent-bgp-events";

/// The selector's element, written into `s`.
fn write_selector(s: &mut String, sel: &PeerSelector) {
    let _ = match sel {
        PeerSelector::All => s.write_str("<all/>"),
        PeerSelector::External => s.write_str("<external/>"),
        PeerSelector::Internal => s.write_str("<internal/>"),
        PeerSelector::Group(g) => write!(s, "<group>{}</group>", Escaped(g)),
        PeerSelector::Ipv4(a) => write!(s, "<ipv4-address>{a}</ipv4-address>"),
        PeerSelector::Ipv6(a) => write!(s, "<ipv6-address>{a}</ipv6-address>"),
    };
}

/// `soft-reset`: the request and each peer's result.
///
/// Published once per `refresh-bgp-vpn-target` request, so it is written
/// straight into one buffer (no intermediate strings): at a pipelining
/// client's rate the former `format!`s were a measurable share of the
/// request's CPU (docs/performance.md).
pub fn soft_reset_xml(
    selector: &PeerSelector,
    direction: Direction,
    result: &Result<RefreshOutcome, RefreshError>,
) -> String {
    let peers = match result {
        Ok(o) => o.refreshed.len() + o.skipped.len(),
        Err(_) => 1,
    };
    let mut s = String::with_capacity(256 + 96 * peers.min(64));
    s.push_str("<soft-reset xmlns=\"");
    s.push_str(EVENTS_NAMESPACE);
    s.push_str("\"><selector>");
    write_selector(&mut s, selector);
    s.push_str("</selector><direction>");
    s.push_str(direction.as_str());
    s.push_str("</direction>");
    let peer = |s: &mut String,
                addr: &dyn std::fmt::Display,
                result: &str,
                reason: Option<&dyn std::fmt::Display>| {
        let _ = write!(
            s,
            "<peer><address>{addr}</address><result>{result}</result>"
        );
        if let Some(r) = reason {
            s.push_str("<reason>");
            write_escaped(s, r);
            s.push_str("</reason>");
        }
        s.push_str("</peer>");
    };
    match result {
        Ok(outcome) => {
            s.push_str("<outcome>completed</outcome>");
            for a in &outcome.refreshed {
                peer(&mut s, a, "done", None);
            }
            for (a, why) in &outcome.skipped {
                peer(&mut s, a, "skipped", Some(why));
            }
        }
        Err(e) => {
            s.push_str("<outcome>failed</outcome><error-app-tag>");
            s.push_str(e.app_tag());
            s.push_str("</error-app-tag><error-message>");
            write_escaped(&mut s, e);
            s.push_str("</error-message>");
            // The peer the engine names, when it names one.
            let failed = match e {
                RefreshError::PeerNotEstablished(a)
                | RefreshError::RouteRefreshNotNegotiated(a)
                | RefreshError::FamilyNotEnabled(a) => Some(a),
                _ => None,
            };
            if let Some(a) = failed {
                peer(&mut s, a, "failed", Some(e));
            }
        }
    }
    s.push_str("</soft-reset>");
    s
}

/// Writes `value`'s text XML-escaped into `s`: plain text (no `&`, `<`,
/// `>`, `"`, `'`) is appended as written, the rest through [`Escaped`].
fn write_escaped(s: &mut String, value: &dyn std::fmt::Display) {
    let start = s.len();
    let _ = write!(s, "{value}");
    if s[start..].contains(['&', '<', '>', '"', '\'']) {
        let raw = s.split_off(start);
        let _ = write!(s, "{}", Escaped(&raw));
    }
}

/// `peer-state-change`.
pub fn peer_state_xml(ev: &PeerEvent) -> String {
    let mut s = format!(
        "<peer-state-change xmlns=\"{EVENTS_NAMESPACE}\"><address>{}</address><remote-as>{}</remote-as>\
         <previous-state>{}</previous-state><state>{}</state>",
        ev.address, ev.remote_as, ev.previous, ev.state
    );
    match &ev.cause {
        None => {}
        Some(DownCause::NotificationSent { code, subcode }) => {
            let _ = write!(
                s,
                "<notification><direction>sent</direction><code>{code}</code><subcode>{subcode}</subcode></notification>"
            );
        }
        Some(DownCause::NotificationReceived { code, subcode }) => {
            let _ = write!(
                s,
                "<notification><direction>received</direction><code>{code}</code><subcode>{subcode}</subcode></notification>"
            );
        }
        Some(DownCause::Closed(why)) => {
            let _ = write!(s, "<reason>{}</reason>", Escaped(why));
        }
    }
    s.push_str("</peer-state-change>");
    s
}

/// Publishes the engine's peer events until `stop`. The broadcast is
/// bounded: if this task falls behind, the events it missed are counted
/// in a log line, and the engine is never slowed.
pub fn forward_peer_events(
    bgp: &BgpHandle,
    notifier: Arc<Notifier>,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let mut rx = bgp.peer_events();
    tokio::spawn(async move {
        loop {
            let ev = tokio::select! {
                _ = stop.cancelled() => return,
                ev = rx.recv() => ev,
            };
            match ev {
                Ok(ev) => notifier.publish(peer_state_xml(&ev)),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    warn!(
                        missed = n,
                        "BGP peer events lost: the notification task fell behind"
                    );
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    })
}

/// Prefix and namespace of the BGP configuration module in edit targets.
const BGP_PREFIX: (&str, &str) = ("bgp", crate::schema::BGP_CONFIG_NAMESPACE);

/// A YANG string literal for an instance-identifier predicate (RFC 7950
/// §9.13.2): single quotes unless the value holds one.
fn literal(v: &str) -> String {
    if v.contains('\'') {
        format!("\"{v}\"")
    } else {
        format!("'{v}'")
    }
}

/// `leaves` below `base` ("timers/hold-time" → `/bgp:timers/bgp:hold-time`);
/// a segment with a predicate (`afi-safi[rtc]`) stands for its list entry.
fn leaf_target(base: &str, leaf: &str) -> String {
    let mut t = base.to_owned();
    for seg in leaf.split('/') {
        let name = seg.split('[').next().unwrap_or(seg);
        let _ = write!(t, "/bgp:{name}");
    }
    t
}

/// RFC 6470 `netconf-config-change` edits for a change of running, as the
/// datastore diff names it: one edit per list entry or leaf that changed.
pub fn config_edits(changes: &[Change]) -> Vec<Edit> {
    const BGP: &str = "/bgp:bgp";
    let neighbor = |a: &IpAddr| {
        format!(
            "{BGP}/bgp:neighbors/bgp:neighbor[bgp:address={}]",
            literal(&a.to_string())
        )
    };
    let group = |n: &str| {
        format!(
            "{BGP}/bgp:peer-groups/bgp:peer-group[bgp:name={}]",
            literal(n)
        )
    };
    let rt = |v: &str| format!("{BGP}/bgp:global/bgp:route-target[.={}]", literal(v));
    let mut out: Vec<(EditOperation, String)> = Vec::new();
    for c in changes {
        match c {
            Change::BgpAdded => out.push((EditOperation::Create, BGP.into())),
            Change::BgpRemoved => out.push((EditOperation::Delete, BGP.into())),
            Change::GlobalChanged { leaves } => out.extend(leaves.iter().map(|l| {
                (
                    EditOperation::Replace,
                    leaf_target(&format!("{BGP}/bgp:global"), l),
                )
            })),
            Change::GroupAdded(g) => out.push((EditOperation::Create, group(&g.name))),
            Change::GroupChanged(g) => out.push((EditOperation::Merge, group(&g.name))),
            Change::GroupRemoved(n) => out.push((EditOperation::Delete, group(n))),
            Change::RouteTargetAdded(v) => out.push((EditOperation::Create, rt(v))),
            Change::RouteTargetRemoved(v) => out.push((EditOperation::Delete, rt(v))),
            Change::PeerAdded(n) => out.push((EditOperation::Create, neighbor(&n.address))),
            Change::PeerRemoved(a) => out.push((EditOperation::Delete, neighbor(a))),
            Change::PeerMoved { address, .. } => out.push((
                EditOperation::Replace,
                format!("{}/bgp:peer-group", neighbor(address)),
            )),
            Change::ShutdownToggled { address, .. } => out.push((
                EditOperation::Replace,
                format!("{}/bgp:shutdown", neighbor(address)),
            )),
            Change::PeerChanged {
                address, leaves, ..
            } => out.extend(
                leaves
                    .iter()
                    .map(|l| (EditOperation::Replace, leaf_target(&neighbor(address), l))),
            ),
        }
    }
    out.into_iter()
        .map(|(operation, target)| Edit {
            operation,
            target,
            namespaces: vec![(BGP_PREFIX.0.into(), BGP_PREFIX.1.into())],
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::bgp::{SessionState, SkipReason};
    use std::time::SystemTime;

    #[test]
    fn soft_reset_lists_each_peer() {
        let out = RefreshOutcome {
            refreshed: vec!["10.0.0.1".parse().unwrap()],
            skipped: vec![("10.0.0.2".parse().unwrap(), SkipReason::NotEstablished)],
        };
        let x = soft_reset_xml(&PeerSelector::All, Direction::Import, &Ok(out));
        assert!(x.contains(
            "<selector><all/></selector><direction>import</direction><outcome>completed</outcome>"
        ));
        assert!(x.contains("<peer><address>10.0.0.1</address><result>done</result></peer>"));
        assert!(x.contains(
            "<peer><address>10.0.0.2</address><result>skipped</result><reason>session not established</reason></peer>"
        ));
        let a = "10.0.0.3".parse().unwrap();
        let x = soft_reset_xml(
            &PeerSelector::Group("g<1>".into()),
            Direction::Export,
            &Err(RefreshError::PeerNotEstablished(a)),
        );
        assert!(x.contains("<group>g&lt;1&gt;</group>"));
        assert!(x.contains(
            "<outcome>failed</outcome><error-app-tag>peer-not-established</error-app-tag>"
        ));
        assert!(x.contains("<peer><address>10.0.0.3</address><result>failed</result>"));
    }

    /// The one-buffer writer gives the bytes of the former `format!` one.
    #[test]
    fn soft_reset_equals_the_former_rendering() {
        fn former(
            selector: &PeerSelector,
            direction: Direction,
            result: &Result<RefreshOutcome, RefreshError>,
        ) -> String {
            let sel = match selector {
                PeerSelector::All => "<all/>".to_owned(),
                PeerSelector::External => "<external/>".into(),
                PeerSelector::Internal => "<internal/>".into(),
                PeerSelector::Group(g) => format!("<group>{}</group>", Escaped(g)),
                PeerSelector::Ipv4(a) => format!("<ipv4-address>{a}</ipv4-address>"),
                PeerSelector::Ipv6(a) => format!("<ipv6-address>{a}</ipv6-address>"),
            };
            let mut s = format!(
                "<soft-reset xmlns=\"{EVENTS_NAMESPACE}\"><selector>{sel}</selector><direction>{}</direction>",
                direction.as_str()
            );
            let peer = |s: &mut String,
                        addr: &dyn std::fmt::Display,
                        result: &str,
                        reason: Option<&str>| {
                let _ = write!(
                    s,
                    "<peer><address>{addr}</address><result>{result}</result>"
                );
                if let Some(r) = reason {
                    let _ = write!(s, "<reason>{}</reason>", Escaped(r));
                }
                s.push_str("</peer>");
            };
            match result {
                Ok(outcome) => {
                    s.push_str("<outcome>completed</outcome>");
                    for a in &outcome.refreshed {
                        peer(&mut s, a, "done", None);
                    }
                    for (a, why) in &outcome.skipped {
                        peer(&mut s, a, "skipped", Some(&why.to_string()));
                    }
                }
                Err(e) => {
                    let _ = write!(
                        s,
                        "<outcome>failed</outcome><error-app-tag>{}</error-app-tag><error-message>{}</error-message>",
                        e.app_tag(),
                        Escaped(&e.to_string())
                    );
                    let failed = match e {
                        RefreshError::PeerNotEstablished(a)
                        | RefreshError::RouteRefreshNotNegotiated(a)
                        | RefreshError::FamilyNotEnabled(a) => Some(a),
                        _ => None,
                    };
                    if let Some(a) = failed {
                        peer(&mut s, a, "failed", Some(&e.to_string()));
                    }
                }
            }
            s.push_str("</soft-reset>");
            s
        }
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6: IpAddr = "2001:db8::2".parse().unwrap();
        let selectors = [
            PeerSelector::All,
            PeerSelector::External,
            PeerSelector::Internal,
            PeerSelector::Group("g<1>&'\"x".into()),
            PeerSelector::Ipv4("10.0.0.9".parse().unwrap()),
            PeerSelector::Ipv6("2001:db8::9".parse().unwrap()),
        ];
        let results = || {
            vec![
                Ok(RefreshOutcome {
                    refreshed: vec![],
                    skipped: vec![],
                }),
                Ok(RefreshOutcome {
                    refreshed: vec![v4, v6],
                    skipped: vec![(v6, SkipReason::NotEstablished)],
                }),
                Err(RefreshError::PeerNotEstablished(v4)),
                Err(RefreshError::GroupNotFound("a<b>&c".into())),
                Err(RefreshError::PeerNotFound(v6)),
            ]
        };
        for sel in &selectors {
            for dir in [Direction::Import, Direction::Export] {
                for r in results() {
                    assert_eq!(soft_reset_xml(sel, dir, &r), former(sel, dir, &r));
                }
            }
        }
    }

    #[test]
    fn peer_state_carries_the_notification_or_reason() {
        let mut ev = PeerEvent {
            address: "10.0.0.1".parse().unwrap(),
            remote_as: 65001,
            previous: SessionState::Established,
            state: SessionState::Idle,
            cause: Some(DownCause::NotificationSent {
                code: 4,
                subcode: 0,
            }),
            time: SystemTime::now(),
        };
        let x = peer_state_xml(&ev);
        assert!(x.contains("<previous-state>established</previous-state><state>idle</state>"));
        assert!(x.contains("<notification><direction>sent</direction><code>4</code><subcode>0</subcode></notification>"));
        ev.cause = Some(DownCause::Closed("connection closed by peer".into()));
        assert!(peer_state_xml(&ev).contains("<reason>connection closed by peer</reason>"));
    }

    #[test]
    fn config_edits_name_each_changed_node() {
        use crate::datastore::diff::Change;
        let edits = config_edits(&[
            Change::GlobalChanged {
                leaves: vec!["timers/hold-time"],
            },
            Change::RouteTargetAdded("65000:1".into()),
            Change::GroupRemoved("it's".into()),
            Change::PeerRemoved("2001:db8::2".parse().unwrap()),
            Change::ShutdownToggled {
                address: "10.0.0.1".parse().unwrap(),
                shutdown: true,
            },
            Change::BgpRemoved,
        ]);
        let got: Vec<(&str, &str)> = edits
            .iter()
            .map(|e| (e.operation.as_str(), e.target.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("replace", "/bgp:bgp/bgp:global/bgp:timers/bgp:hold-time"),
                (
                    "create",
                    "/bgp:bgp/bgp:global/bgp:route-target[.='65000:1']"
                ),
                (
                    "delete",
                    "/bgp:bgp/bgp:peer-groups/bgp:peer-group[bgp:name=\"it's\"]"
                ),
                (
                    "delete",
                    "/bgp:bgp/bgp:neighbors/bgp:neighbor[bgp:address='2001:db8::2']"
                ),
                (
                    "replace",
                    "/bgp:bgp/bgp:neighbors/bgp:neighbor[bgp:address='10.0.0.1']/bgp:shutdown"
                ),
                ("delete", "/bgp:bgp"),
            ]
        );
        assert!(edits.iter().all(|e| e.namespaces
            == [(
                "bgp".to_owned(),
                crate::schema::BGP_CONFIG_NAMESPACE.to_owned()
            )]));
    }
}
