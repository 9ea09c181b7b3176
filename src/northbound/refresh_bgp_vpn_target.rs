//! `refresh-bgp-vpn-target`: the validated input becomes a typed request
//! (STYLE §1: choices become enums at the edge), the engine runs it, and its
//! errors become the rpc-errors of SPEC §6.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tracing::{debug, info, warn};

use crate::bgp::{BgpHandle, Direction, PeerSelector, RefreshError};
use crate::netconf::error::{ProtoOrApp, RpcError, RpcProtoOrApp};
use crate::netconf::message::ReplyBody;
use crate::netconf::notify::Notifier;
use crate::schema::{MODULE_NAMESPACE, ValidatedRpc};

pub(super) const NAME: &str = "refresh-bgp-vpn-target";
const PREFIX: &str = "bvt";

fn leaf_path(leaf: &str) -> String {
    format!("/{PREFIX}:{NAME}/{PREFIX}:{leaf}")
}

const APP: ProtoOrApp = ProtoOrApp::Application;

/// Points an error at the input leaf the client sent (error-path and
/// bad-element, RFC 6241 §4.3); `None` for the selectors without a value.
fn at_leaf(mut e: RpcError, leaf: Option<&str>) -> RpcError {
    if let Some(leaf) = leaf {
        e = e
            .with_path(leaf_path(leaf))
            .with_path_ns(PREFIX, MODULE_NAMESPACE)
            .with_bad_element(leaf);
    }
    e
}

/// The typed request. Validation already checked types and the choice; a
/// failure here means the schema and this handler disagree.
pub(super) fn request(rpc: &ValidatedRpc) -> Result<(PeerSelector, Direction), RpcError> {
    let mut selector = None;
    let mut direction = None;
    let invalid = |leaf: &str, value: &str| {
        at_leaf(RpcError::invalid_value(APP), Some(leaf))
            .with_message(format!("\"{value}\" is not a valid {leaf}"))
    };
    for (leaf, value) in &rpc.leaves {
        match leaf.as_str() {
            "all" => selector = Some(PeerSelector::All),
            "external" => selector = Some(PeerSelector::External),
            "internal" => selector = Some(PeerSelector::Internal),
            "group" => selector = Some(PeerSelector::Group(value.clone())),
            "ipv4-address" => {
                let a: Ipv4Addr = value.parse().map_err(|_| invalid(leaf, value))?;
                selector = Some(PeerSelector::Ipv4(a));
            }
            "ipv6-address" => {
                let a: Ipv6Addr = value.parse().map_err(|_| invalid(leaf, value))?;
                // An IPv4-mapped address (RFC 4291 §2.5.5.2) names an IPv4
                // node: through this leaf it would reach an IPv4 peer on a
                // device whose model has no ipv4-peer-selector (SPEC §4).
                // Refused on every model, whatever the engine does with it
                // (docs/decisions.md).
                if let Some(v4) = a.to_ipv4_mapped() {
                    return Err(at_leaf(RpcError::invalid_value(APP), Some(leaf))
                        .with_app_tag("ipv4-mapped-address")
                        .with_message(format!(
                            "{value} is an IPv4-mapped IPv6 address (of IPv4 node {v4}): ipv6-address selects IPv6 peers only"
                        )));
                }
                selector = Some(PeerSelector::Ipv6(a));
            }
            "direction" => {
                direction = Some(match value.as_str() {
                    "import" => Direction::Import,
                    "export" => Direction::Export,
                    _ => return Err(invalid(leaf, value)),
                })
            }
            _ => {
                return Err(at_leaf(RpcError::unknown_element(APP), Some(leaf))
                    .with_message(format!("unexpected input leaf {leaf}")));
            }
        }
    }
    let selector = selector.ok_or_else(|| {
        RpcError::missing_element(APP)
            .with_app_tag("missing-choice")
            .with_message("one peer selector is required")
    })?;
    let direction = direction.ok_or_else(|| {
        at_leaf(RpcError::missing_element(APP), Some("direction"))
            .with_message("direction is required")
    })?;
    Ok((selector, direction))
}

/// The leaf a selector came from, for error-path.
fn selector_leaf(s: &PeerSelector) -> Option<&'static str> {
    match s {
        PeerSelector::Ipv4(_) => Some("ipv4-address"),
        PeerSelector::Ipv6(_) => Some("ipv6-address"),
        PeerSelector::Group(_) => Some("group"),
        _ => None,
    }
}

/// SPEC §6: one mapping from engine errors to rpc-errors. error-path and
/// bad-element name the leaf the client sent (RFC 6241 §4.3), never one
/// derived from the address the engine reports, which may be of another
/// family than the selector (and of a leaf this device model lacks).
fn to_rpc_error(e: &RefreshError, selector: &PeerSelector) -> RpcError {
    let err = match e {
        RefreshError::PeerNotFound(_) | RefreshError::GroupNotFound(_) => {
            RpcError::invalid_value(APP)
        }
        RefreshError::PeerNotEstablished(_)
        | RefreshError::FamilyNotEnabled(_)
        | RefreshError::Timeout
        | RefreshError::EngineStopped => RpcError::operation_failed(RpcProtoOrApp::Application),
        RefreshError::RouteRefreshNotNegotiated(_) => RpcError::operation_not_supported(APP),
    };
    at_leaf(err, selector_leaf(selector))
        .with_app_tag(e.app_tag())
        .with_message(e.to_string())
}

pub(super) async fn handle(
    rpc: &ValidatedRpc,
    bgp: &BgpHandle,
    timeout: Duration,
    notifier: Option<&Notifier>,
) -> Result<ReplyBody, RpcError> {
    let (selector, direction) = request(rpc)?;
    // SPEC §6 "engine did not finish in time": the engine itself answers
    // `Timeout` at this deadline (`limits.rpc_timeout_secs`, one setting).
    let result = bgp
        .refresh_within(selector.clone(), direction, timeout)
        .await;
    // One event per request that reached the engine, with each peer's
    // result (ncagent-bgp-events soft-reset).
    if let Some(n) = notifier {
        n.publish(super::events::soft_reset_xml(&selector, direction, &result));
    }
    match result {
        Ok(outcome) => {
            for (peer, reason) in &outcome.skipped {
                warn!(%peer, %reason, direction = direction.as_str(), "soft reset skipped");
            }
            if outcome.refreshed.is_empty() && outcome.skipped.is_empty() {
                // No peer selected: nothing happened on the BGP side, and
                // the soft-reset event records the request anyway. A log
                // line per such request was 13% of the agent's time under
                // a pipelining client (docs/performance.md).
                debug!(
                    ?selector,
                    direction = direction.as_str(),
                    "soft reset done: no peer selected"
                );
            } else {
                info!(
                    ?selector,
                    direction = direction.as_str(),
                    refreshed = outcome.refreshed.len(),
                    skipped = outcome.skipped.len(),
                    "soft reset done"
                );
            }
            Ok(ReplyBody::Ok)
        }
        Err(e) => {
            warn!(?selector, direction = direction.as_str(), error = %e, "soft reset failed");
            Err(to_rpc_error(&e, &selector))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::netconf::error::{ErrorTag, ErrorType};
    use std::net::IpAddr;

    fn rpc(leaves: &[(&str, &str)]) -> ValidatedRpc {
        ValidatedRpc {
            module: "ncagent-bgp-vpn-target".into(),
            name: NAME.into(),
            namespace: MODULE_NAMESPACE.into(),
            leaves: leaves
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    type Case<'a> = (&'a [(&'a str, &'a str)], PeerSelector, Direction);

    #[test]
    fn choices_become_enums() {
        let cases: &[Case<'_>] = &[
            (
                &[("all", ""), ("direction", "import")],
                PeerSelector::All,
                Direction::Import,
            ),
            (
                &[("external", ""), ("direction", "export")],
                PeerSelector::External,
                Direction::Export,
            ),
            (
                &[("internal", ""), ("direction", "import")],
                PeerSelector::Internal,
                Direction::Import,
            ),
            (
                &[("group", "g 1"), ("direction", "import")],
                PeerSelector::Group("g 1".into()),
                Direction::Import,
            ),
            (
                &[("ipv4-address", "10.0.0.1"), ("direction", "export")],
                PeerSelector::Ipv4("10.0.0.1".parse().unwrap()),
                Direction::Export,
            ),
            (
                &[("ipv6-address", "2001:db8::1"), ("direction", "import")],
                PeerSelector::Ipv6("2001:db8::1".parse().unwrap()),
                Direction::Import,
            ),
        ];
        for (leaves, sel, dir) in cases {
            assert_eq!(request(&rpc(leaves)).unwrap(), (sel.clone(), *dir));
        }
        assert_eq!(
            request(&rpc(&[("all", "")])).unwrap_err().tag(),
            ErrorTag::MissingElement
        );
    }

    #[test]
    fn engine_errors_map_to_spec_table() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let sel = PeerSelector::Ipv4("10.0.0.1".parse().unwrap());
        let e = to_rpc_error(&RefreshError::PeerNotFound(a), &sel);
        assert_eq!(
            (e.error_type(), e.tag(), e.app_tag.as_deref()),
            (
                ErrorType::Application,
                ErrorTag::InvalidValue,
                Some("peer-not-found")
            )
        );
        assert_eq!(
            e.path.as_deref(),
            Some("/bvt:refresh-bgp-vpn-target/bvt:ipv4-address")
        );
        let e = to_rpc_error(&RefreshError::RouteRefreshNotNegotiated(a), &sel);
        assert_eq!(
            (e.tag(), e.app_tag.as_deref()),
            (
                ErrorTag::OperationNotSupported,
                Some("route-refresh-not-negotiated")
            )
        );
        let e = to_rpc_error(
            &RefreshError::GroupNotFound("x".into()),
            &PeerSelector::Group("x".into()),
        );
        assert_eq!(
            e.path.as_deref(),
            Some("/bvt:refresh-bgp-vpn-target/bvt:group")
        );
        let e = to_rpc_error(&RefreshError::Timeout, &PeerSelector::All);
        assert_eq!(
            (e.tag(), e.app_tag.as_deref(), e.path),
            (ErrorTag::OperationFailed, Some("timeout"), None)
        );
    }

    /// Issue #9 item 1, SPEC §4: an IPv4-mapped address (RFC 4291
    /// §2.5.5.2) in ipv6-address never becomes an IPv4 selector; it is
    /// refused with invalid-value at the leaf that was sent.
    #[test]
    fn ipv4_mapped_address_is_refused_at_the_leaf_sent() {
        for v in ["::ffff:10.0.0.1", "::ffff:a00:1", "0:0:0:0:0:ffff:10.0.0.1"] {
            let e = request(&rpc(&[("ipv6-address", v), ("direction", "import")])).unwrap_err();
            assert_eq!(
                (e.error_type(), e.tag(), e.app_tag.as_deref()),
                (
                    ErrorType::Application,
                    ErrorTag::InvalidValue,
                    Some("ipv4-mapped-address")
                ),
                "{v}"
            );
            assert_eq!(
                e.path.as_deref(),
                Some("/bvt:refresh-bgp-vpn-target/bvt:ipv6-address")
            );
            assert_eq!(e.info, vec![("bad-element".into(), "ipv6-address".into())]);
        }
        // Other IPv6 addresses, IPv4-compatible ones included (they are no
        // IPv4 node's address), stay IPv6 selectors.
        for v in [
            "::1",
            "2001:db8::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            let (sel, _) = request(&rpc(&[("ipv6-address", v), ("direction", "import")])).unwrap();
            assert_eq!(sel, PeerSelector::Ipv6(v.parse().unwrap()));
        }
    }

    /// Issue #9 item 1, RFC 6241 §4.3: error-path names the leaf the client
    /// sent, even when the engine reports an address of the other family.
    #[test]
    fn error_path_names_the_selector_sent() {
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let v6 = PeerSelector::Ipv6("2001:db8::1".parse().unwrap());
        for err in [
            RefreshError::PeerNotFound(v4),
            RefreshError::PeerNotEstablished(v4),
            RefreshError::FamilyNotEnabled(v4),
            RefreshError::RouteRefreshNotNegotiated(v4),
        ] {
            let e = to_rpc_error(&err, &v6);
            assert_eq!(
                e.path.as_deref(),
                Some("/bvt:refresh-bgp-vpn-target/bvt:ipv6-address"),
                "{err:?}"
            );
            assert_eq!(e.info, vec![("bad-element".into(), "ipv6-address".into())]);
        }
        let e = to_rpc_error(&RefreshError::PeerNotEstablished(v4), &PeerSelector::All);
        assert_eq!((e.path, e.info), (None, vec![]));
    }
}
