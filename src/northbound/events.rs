//! The BGP events of `ncagent-bgp-events` (yang/): a soft reset finished,
//! a peer changed state. Rendered here, published on the NETCONF stream
//! through the notification hub (RFC 5277).

use std::fmt::Write as _;
use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::bgp::{
    BgpHandle, Direction, DownCause, PeerEvent, PeerSelector, RefreshError, RefreshOutcome,
};
use crate::netconf::notify::Notifier;
use crate::xml::Escaped;

/// Namespace of `yang/ncagent-bgp-events@2026-11-29.yang`.
pub const EVENTS_NAMESPACE: &str = "urn:ncagent:yang:ncagent-bgp-events";

fn selector_xml(s: &PeerSelector) -> String {
    match s {
        PeerSelector::All => "<all/>".into(),
        PeerSelector::External => "<external/>".into(),
        PeerSelector::Internal => "<internal/>".into(),
        PeerSelector::Group(g) => format!("<group>{}</group>", Escaped(g)),
        PeerSelector::Ipv4(a) => format!("<ipv4-address>{a}</ipv4-address>"),
        PeerSelector::Ipv6(a) => format!("<ipv6-address>{a}</ipv6-address>"),
    }
}

/// `soft-reset`: the request and each peer's result.
pub fn soft_reset_xml(
    selector: &PeerSelector,
    direction: Direction,
    result: &Result<RefreshOutcome, RefreshError>,
) -> String {
    let mut s = format!(
        "<soft-reset xmlns=\"{EVENTS_NAMESPACE}\"><selector>{}</selector><direction>{}</direction>",
        selector_xml(selector),
        direction.as_str()
    );
    let peer =
        |s: &mut String, addr: &dyn std::fmt::Display, result: &str, reason: Option<&str>| {
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
            // The peer the engine names, when it names one.
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
}
