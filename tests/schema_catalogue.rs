//! Replays the case catalogue of `tests/cases/` (index: `cases.toml`)
//! through `Schema::validate_rpc` (and the mapping of its refusals to
//! `<rpc-error>`) and compares the whole `<rpc-reply>` with
//! the expected file after canonicalisation (whitespace between tags is not
//! significant; everything else is). `REGENERATE_CASES=1` rewrites the
//! expected files from the current answers.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use ncagent::netconf::error::{BASE_NS, RpcError};
use ncagent::schema::{DeviceProfile, Schema, ValidatedRpc};

#[path = "common/catalogue.rs"]
mod catalogue;

use catalogue::cases_dir;

/// "MODEL" or "MODEL/forwarding-mode".
fn profile(spec: &str) -> DeviceProfile {
    let (model, mode) = match spec.split_once('/') {
        Some((m, f)) => (m, Some(f)),
        None => (spec, None),
    };
    DeviceProfile::lookup(model, mode).unwrap_or_else(|e| panic!("profile {spec}: {e}"))
}

/// The reply the agent sends for this validation result: `<ok/>` for a
/// valid request here (the handler's own errors are not the schema's).
fn reply(result: &Result<ValidatedRpc, RpcError>) -> String {
    let mut out = format!("<rpc-reply xmlns=\"{BASE_NS}\" message-id=\"1\">");
    match result {
        Ok(_) => out.push_str("<ok/>"),
        Err(e) => e.write_xml(&mut out),
    }
    out.push_str("</rpc-reply>");
    out
}

/// Drops whitespace-only text between tags.
fn canonical(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml.trim();
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        if !text.trim().is_empty() {
            out.push_str(text);
        }
        let gt = rest[lt..].find('>').map_or(rest.len(), |g| lt + g + 1);
        out.push_str(&rest[lt..gt]);
        rest = &rest[gt..];
    }
    out.push_str(rest.trim());
    out
}

/// Indents a canonical reply for the expected files: one element per line,
/// an element holding only text stays on its line.
fn pretty(xml: &str) -> String {
    let mut tokens: Vec<&str> = Vec::new();
    let mut rest = xml;
    while !rest.is_empty() {
        let end = if rest.starts_with('<') {
            rest.find('>').map_or(rest.len(), |g| g + 1)
        } else {
            rest.find('<').unwrap_or(rest.len())
        };
        tokens.push(&rest[..end]);
        rest = &rest[end..];
    }
    let mut out = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let indent = |d: usize| "  ".repeat(d);
        if t.starts_with("</") {
            depth = depth.saturating_sub(1);
            out.push_str(&format!("{}{t}\n", indent(depth)));
        } else if t.ends_with("/>") {
            out.push_str(&format!("{}{t}\n", indent(depth)));
        } else if t.starts_with('<') {
            if i + 2 < tokens.len()
                && !tokens[i + 1].starts_with('<')
                && tokens[i + 2].starts_with("</")
            {
                out.push_str(&format!(
                    "{}{t}{}{}\n",
                    indent(depth),
                    tokens[i + 1],
                    tokens[i + 2]
                ));
                i += 3;
                continue;
            }
            out.push_str(&format!("{}{t}\n", indent(depth)));
            depth += 1;
        } else {
            out.push_str(&format!("{}{t}\n", indent(depth)));
        }
        i += 1;
    }
    out
}

#[test]
fn catalogue() {
    let dir = cases_dir();
    let index = catalogue::load();
    let regenerate = std::env::var("REGENERATE_CASES").is_ok_and(|v| v == "1");

    assert!(index.case.len() >= 25, "only {} cases", index.case.len());
    let names: BTreeSet<&str> = index.case.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), index.case.len(), "duplicate case names");
    // Every request file is indexed, so no case is silently skipped.
    for entry in std::fs::read_dir(&dir).expect("cases dir") {
        let file = entry
            .expect("dir entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if let Some(name) = file.strip_suffix(".request.xml") {
            assert!(names.contains(name), "{file} is not in cases.toml");
        }
    }

    let mut schemas: BTreeMap<String, Schema> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in &index.case {
        assert!(
            !case.spec.is_empty() && !case.what.is_empty(),
            "{}: spec and what",
            case.name
        );
        assert!(!case.profiles.is_empty(), "{}: no profile", case.name);
        if case.answered_by.as_deref() == Some("session") {
            continue;
        }
        let request = std::fs::read(dir.join(format!("{}.request.xml", case.name)))
            .unwrap_or_else(|e| panic!("{}: request: {e}", case.name));
        let expected_path = dir.join(format!("{}.expected.xml", case.name));
        let mut replies = BTreeSet::new();
        for p in &case.profiles {
            let schema = schemas
                .entry(p.clone())
                .or_insert_with(|| Schema::load(profile(p)).expect("schema loads"));
            // The schema's refusal through its one mapping to the wire.
            let result = schema.validate_rpc(&request).map_err(RpcError::from);
            let got = canonical(&reply(&result));
            runs += 1;
            if !regenerate {
                let want = std::fs::read_to_string(&expected_path)
                    .map(|w| canonical(&w))
                    .unwrap_or_else(|e| format!("(no expected file: {e})"));
                if got != want {
                    failures.push(format!(
                        "case {} on {p} ({}):\n  want {want}\n  got  {got}",
                        case.name, case.spec
                    ));
                }
            }
            replies.insert(got);
        }
        if regenerate {
            assert_eq!(
                replies.len(),
                1,
                "{}: the profiles answer differently; split the case",
                case.name
            );
            if let Some(r) = replies.first() {
                std::fs::write(&expected_path, pretty(r)).expect("write expected");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} runs differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn canonicaliser_keeps_text_and_drops_layout() {
    let a = "<a x=\"1\">\n  <b>t u</b>\n  <c/>\n</a>\n";
    assert_eq!(canonical(a), "<a x=\"1\"><b>t u</b><c/></a>");
    assert_eq!(canonical(&pretty(&canonical(a))), canonical(a));
}
