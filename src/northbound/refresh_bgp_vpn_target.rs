//! `refresh-bgp-vpn-target`: the validated input becomes a typed request
//! (STYLE §1: choices become enums at the edge), the engine runs it, and its
//! errors become the rpc-errors of SPEC §6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use tracing::{info, warn};

use crate::bgp::{BgpHandle, Direction, PeerSelector, RefreshError};
use crate::netconf::error::{ErrorTag, ErrorType, RpcError};
use crate::netconf::message::ReplyBody;
use crate::schema::{MODULE_NAMESPACE, ValidatedRpc};

pub(super) const NAME: &str = "refresh-bgp-vpn-target";
const PREFIX: &str = "bvt";

fn leaf_path(leaf: &str) -> String {
    format!("/{PREFIX}:{NAME}/{PREFIX}:{leaf}")
}

fn app_error(tag: ErrorTag, leaf: Option<&str>) -> RpcError {
    let mut e = RpcError::new(ErrorType::Application, tag);
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
        app_error(ErrorTag::InvalidValue, Some(leaf))
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
                return Err(app_error(ErrorTag::UnknownElement, Some(leaf))
                    .with_message(format!("unexpected input leaf {leaf}")));
            }
        }
    }
    let selector = selector.ok_or_else(|| {
        app_error(ErrorTag::MissingElement, None)
            .with_app_tag("missing-choice")
            .with_message("one peer selector is required")
    })?;
    let direction = direction.ok_or_else(|| {
        app_error(ErrorTag::MissingElement, Some("direction")).with_message("direction is required")
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

fn address_leaf(a: IpAddr) -> &'static str {
    if a.is_ipv4() {
        "ipv4-address"
    } else {
        "ipv6-address"
    }
}

/// SPEC §6: one mapping from engine errors to rpc-errors.
fn to_rpc_error(e: &RefreshError, selector: &PeerSelector) -> RpcError {
    let (tag, leaf) = match e {
        RefreshError::PeerNotFound(a) => (ErrorTag::InvalidValue, Some(address_leaf(*a))),
        RefreshError::GroupNotFound(_) => (ErrorTag::InvalidValue, Some("group")),
        RefreshError::PeerNotEstablished(a) | RefreshError::FamilyNotEnabled(a) => {
            (ErrorTag::OperationFailed, Some(address_leaf(*a)))
        }
        RefreshError::RouteRefreshNotNegotiated(a) => {
            (ErrorTag::OperationNotSupported, Some(address_leaf(*a)))
        }
        RefreshError::Timeout | RefreshError::EngineStopped => {
            (ErrorTag::OperationFailed, selector_leaf(selector))
        }
    };
    app_error(tag, leaf)
        .with_app_tag(e.app_tag())
        .with_message(e.to_string())
}

pub(super) async fn handle(
    rpc: &ValidatedRpc,
    bgp: &BgpHandle,
    timeout: Duration,
) -> Result<ReplyBody, RpcError> {
    let (selector, direction) = request(rpc)?;
    // SPEC §6 "engine did not finish in time": the engine itself answers
    // `Timeout` at this deadline (`limits.rpc_timeout_secs`, one setting).
    let result = bgp
        .refresh_within(selector.clone(), direction, timeout)
        .await;
    match result {
        Ok(outcome) => {
            for (peer, reason) in &outcome.skipped {
                warn!(%peer, %reason, direction = direction.as_str(), "soft reset skipped");
            }
            info!(
                ?selector,
                direction = direction.as_str(),
                refreshed = outcome.refreshed.len(),
                skipped = outcome.skipped.len(),
                "soft reset done"
            );
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
            request(&rpc(&[("all", "")])).unwrap_err().tag,
            ErrorTag::MissingElement
        );
    }

    #[test]
    fn engine_errors_map_to_spec_table() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let sel = PeerSelector::Ipv4("10.0.0.1".parse().unwrap());
        let e = to_rpc_error(&RefreshError::PeerNotFound(a), &sel);
        assert_eq!(
            (e.error_type, e.tag, e.app_tag.as_deref()),
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
            (e.tag, e.app_tag.as_deref()),
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
            (e.tag, e.app_tag.as_deref(), e.path),
            (ErrorTag::OperationFailed, Some("timeout"), None)
        );
    }
}
