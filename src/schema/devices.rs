//! The device models of the command reference (`shared/seed/refresh-bgp-vpn-target.md`)
//! and which YANG features each one has.
//!
//! The seed's first format line lists 23 entries that accept an IPv4 peer
//! address as selector: 22 models plus "CE6885-LL (standard forwarding mode)".
//! Its second line lists "CE6885-LL (low latency mode)" without it. So the
//! table has 24 profiles over 23 distinct model names.

use super::{DeviceProfile, SchemaError};

/// CE6885-LL forwarding modes; the only model whose feature set depends on one.
pub(super) const MODE_STANDARD: &str = "standard";
pub(super) const MODE_LOW_LATENCY: &str = "low-latency";

const fn with_ipv4(model: &'static str) -> DeviceProfile {
    DeviceProfile {
        model,
        mode: None,
        ipv4_peer_selector: true,
    }
}

/// Every device profile of the seed, in the seed's order.
pub(super) static PROFILES: [DeviceProfile; 24] = [
    with_ipv4("CE8851-32CQ8DQ-P"),
    with_ipv4("CE8850-HAM"),
    with_ipv4("CE8850-SAN"),
    with_ipv4("CE8851K"),
    with_ipv4("CE8855"),
    with_ipv4("CE8851-32CQ4BQ"),
    with_ipv4("CE6860-SAN"),
    with_ipv4("CE6866"),
    with_ipv4("CE6860-HAM"),
    with_ipv4("CE6866K"),
    with_ipv4("CE6820H"),
    with_ipv4("CE6820H-K"),
    with_ipv4("CE6820S"),
    with_ipv4("CE6863H"),
    with_ipv4("CE6863H-K"),
    with_ipv4("CE6881H"),
    with_ipv4("CE6881H-K"),
    with_ipv4("CE6855-48XS8CQ"),
    with_ipv4("CE6885"),
    with_ipv4("CE6885-T"),
    DeviceProfile {
        model: "CE6885-LL",
        mode: Some(MODE_STANDARD),
        ipv4_peer_selector: true,
    },
    with_ipv4("CE6863E-48S8CQ"),
    with_ipv4("CE6885-SAN"),
    // Second format line: "For CE6885-LL (low latency mode)", no ipv4-address.
    DeviceProfile {
        model: "CE6885-LL",
        mode: Some(MODE_LOW_LATENCY),
        ipv4_peer_selector: false,
    },
];

/// Distinct model names, in table order, for error messages.
fn model_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for p in &PROFILES {
        if !names.contains(&p.model) {
            names.push(p.model);
        }
    }
    names
}

/// Finds the profile for a configured model and forwarding mode.
///
/// Models are matched without regard to ASCII case (operators type them both
/// ways). A model that has several modes (CE6885-LL) needs one; for every
/// other model the mode is absent or "standard", the only mode it has, and
/// the profile returned has `mode: None`.
pub(super) fn lookup(
    model: &str,
    forwarding_mode: Option<&str>,
) -> Result<DeviceProfile, SchemaError> {
    let candidates: Vec<&DeviceProfile> = PROFILES
        .iter()
        .filter(|p| p.model.eq_ignore_ascii_case(model.trim()))
        .collect();
    let Some(first) = candidates.first() else {
        return Err(SchemaError::UnknownModel {
            model: model.to_owned(),
            valid: model_names().join(", "),
        });
    };
    let mode = forwarding_mode.map(str::trim);
    let moded: Vec<&&DeviceProfile> = candidates.iter().filter(|p| p.mode.is_some()).collect();
    if moded.is_empty() {
        // A model with a single mode: absent or "standard".
        return match mode {
            None => Ok(**first),
            Some(m) if m.eq_ignore_ascii_case(MODE_STANDARD) => Ok(**first),
            Some(m) => Err(SchemaError::UnknownMode {
                model: first.model.to_owned(),
                mode: m.to_owned(),
                valid: format!("\"{MODE_STANDARD}\" (or no forwarding mode)"),
            }),
        };
    }
    let valid = moded
        .iter()
        .filter_map(|p| p.mode)
        .map(|m| format!("\"{m}\""))
        .collect::<Vec<_>>()
        .join(", ");
    match mode {
        None => Err(SchemaError::ModeRequired {
            model: first.model.to_owned(),
            valid,
        }),
        Some(m) => moded
            .iter()
            .find(|p| p.mode.is_some_and(|pm| pm.eq_ignore_ascii_case(m)))
            .map(|p| ***p)
            .ok_or_else(|| SchemaError::UnknownMode {
                model: first.model.to_owned(),
                mode: m.to_owned(),
                valid,
            }),
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_the_seed() {
        // 23 entries of the first format line + CE6885-LL low-latency.
        assert_eq!(PROFILES.len(), 24);
        assert_eq!(model_names().len(), 23);
        assert_eq!(PROFILES.iter().filter(|p| p.ipv4_peer_selector).count(), 23);
        let without: Vec<_> = PROFILES.iter().filter(|p| !p.ipv4_peer_selector).collect();
        assert_eq!(without.len(), 1);
        assert_eq!(without[0].model, "CE6885-LL");
        assert_eq!(without[0].mode, Some(MODE_LOW_LATENCY));
    }

    #[test]
    fn lookup_rules() {
        assert!(lookup("CE8855", None).is_ok_and(|p| p.ipv4_peer_selector && p.mode.is_none()));
        assert!(lookup("ce8855", Some("standard")).is_ok_and(|p| p.model == "CE8855"));
        assert!(matches!(
            lookup("CE8855", Some("low-latency")),
            Err(SchemaError::UnknownMode { .. })
        ));
        assert!(lookup("CE6885-LL", Some("low-latency")).is_ok_and(|p| !p.ipv4_peer_selector));
        assert!(lookup("CE6885-LL", Some("standard")).is_ok_and(|p| p.ipv4_peer_selector));
        assert!(matches!(
            lookup("CE6885-LL", None),
            Err(SchemaError::ModeRequired { .. })
        ));
        let e = lookup("CE6885-LL", Some("turbo"))
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"standard\", \"low-latency\"")));
    }

    #[test]
    fn unknown_model_lists_every_model() {
        let Err(e) = lookup("CE1234", None) else {
            panic!("CE1234 accepted");
        };
        let text = e.to_string();
        for p in &PROFILES {
            assert!(text.contains(p.model), "{text} lacks {}", p.model);
        }
    }
}
