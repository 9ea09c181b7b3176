//! The node sets the checks work on: the changed nodes of a write (from
//! libyang's diff of the two trees) and the nodes of a read reply.

use std::collections::HashMap;
use std::fmt::Write as _;

use yang5::data::{DataDiffFlags, DataDiffOp, DataTree};

use super::rules::{Access, Extension, NodeStep, Rules};
use super::{MODULE, NS};
use crate::netconf::message::{Element, parse_document};
use crate::xml::Escaped;

/// The NACM extension a node of `module` is under: every node of
/// ietf-netconf-acm is below `/nacm`, which carries `default-deny-all`.
fn extension_of(module: &str) -> Extension {
    if module == MODULE {
        Extension::DefaultDenyAll
    } else {
        Extension::None
    }
}

/// Every node created, changed or deleted from `old` to `new`, with the
/// access it needs (RFC 8341 §3.4.5: create, update, delete) and its data
/// path (JSON prefixes). A created or deleted subtree lists each of its
/// nodes.
pub(super) fn changes(
    old: &DataTree<'_>,
    new: &DataTree<'_>,
) -> Result<Vec<(Access, String, Extension)>, String> {
    let diff = old
        .diff(new, DataDiffFlags::empty())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (op, node) in diff.iter() {
        let access = match op {
            DataDiffOp::Create => Access::Create,
            DataDiffOp::Delete => Access::Delete,
            DataDiffOp::Replace => Access::Update,
        };
        for n in node.traverse() {
            let module = n.owner_module().name().to_owned();
            out.push((access, n.path(), extension_of(&module)));
        }
    }
    Ok(out)
}

/// `xml` (the content of `<data>`: top-level elements) without the nodes
/// a member of `groups` may not read (RFC 8341 §3.4.5: left out silently).
/// `modules` maps namespaces to module names. Unparsable input (never
/// produced by this server) is answered empty rather than unfiltered.
pub fn prune_reply(
    rules: &Rules,
    groups: &[String],
    modules: &HashMap<String, String>,
    xml: &str,
) -> String {
    if rules.read_decided_at_top(groups)
        && let Some(out) = prune_top_level(rules, groups, modules, xml)
    {
        return out;
    }
    let wrapped = format!("<data>{xml}</data>");
    let Ok(root) = parse_document(wrapped.as_bytes()) else {
        tracing::warn!("a reply could not be filtered by access control: left empty");
        return String::new();
    };
    let mut out = String::with_capacity(xml.len());
    for top in &root.children {
        let module = top
            .ns
            .as_deref()
            .and_then(|ns| modules.get(ns))
            .map_or("", String::as_str);
        let mut path = Vec::new();
        write_allowed(
            rules, groups, modules, top, module, &mut path, None, &mut out,
        );
    }
    out
}

/// [`prune_reply`] when the decisions are the top-level nodes': whole
/// top-level elements are kept or left out, by a scan without building a
/// tree (the reply is not re-serialized). None: not the XML expected.
fn prune_top_level(
    rules: &Rules,
    groups: &[String],
    modules: &HashMap<String, String>,
    xml: &str,
) -> Option<String> {
    use quick_xml::events::{BytesStart, Event};
    let decide = |e: &BytesStart<'_>| -> bool {
        let ns = e
            .attributes()
            .flatten()
            .find(|a| a.key.as_ref() == b"xmlns")
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
            .unwrap_or_default();
        let module = modules.get(&ns).map_or("", String::as_str);
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let step = [NodeStep {
            module,
            name: &name,
            key: &|_| None,
        }];
        rules
            .data(groups, Access::Read, &step, extension_of(module))
            .permitted()
    };
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = String::with_capacity(xml.len());
    loop {
        let before = usize::try_from(reader.buffer_position()).ok()?;
        match reader.read_event().ok()? {
            Event::Start(e) => {
                let keep = decide(&e);
                // The element's content is skipped, not parsed into events.
                reader.read_to_end(e.name()).ok()?;
                let after = usize::try_from(reader.buffer_position()).ok()?;
                if keep {
                    out.push_str(xml.get(before..after)?);
                }
            }
            Event::Empty(e) => {
                let after = usize::try_from(reader.buffer_position()).ok()?;
                if decide(&e) {
                    out.push_str(xml.get(before..after)?);
                }
            }
            Event::End(_) => return None,
            Event::Eof => return Some(out),
            _ => {}
        }
    }
}

/// Reads a child leaf of one step's element (a list key for predicates).
type KeyFn<'e> = Box<dyn Fn(&str) -> Option<String> + 'e>;

#[allow(clippy::too_many_arguments)]
fn write_allowed<'e>(
    rules: &Rules,
    groups: &[String],
    modules: &HashMap<String, String>,
    el: &'e Element,
    module: &str,
    path: &mut Vec<(String, &'e Element)>,
    parent_ns: Option<&str>,
    out: &mut String,
) {
    let module = match el.ns.as_deref() {
        Some(ns) if Some(ns) != parent_ns => modules.get(ns).map_or(module, String::as_str),
        _ => module,
    };
    path.push((module.to_owned(), el));
    let key_fns: Vec<KeyFn<'_>> = path
        .iter()
        .map(|(_, e)| {
            let e: &Element = e;
            Box::new(move |k: &str| {
                e.children
                    .iter()
                    .find(|c| c.name == k)
                    .map(|c| c.text.trim().to_owned())
            }) as KeyFn<'_>
        })
        .collect();
    let steps: Vec<NodeStep<'_>> = path
        .iter()
        .zip(&key_fns)
        .map(|((m, e), f)| NodeStep {
            module: m,
            name: &e.name,
            key: f.as_ref(),
        })
        .collect();
    let first_module = path.first().map_or("", |(m, _)| m.as_str());
    let allowed = rules
        .data(groups, Access::Read, &steps, extension_of(first_module))
        .permitted();
    drop(steps);
    drop(key_fns);
    if allowed {
        let _ = write!(out, "<{}", el.name);
        if el.ns.as_deref() != parent_ns {
            let _ = write!(
                out,
                " xmlns=\"{}\"",
                Escaped(el.ns.as_deref().unwrap_or(""))
            );
        }
        for a in &el.attrs {
            if a.qname != "xmlns" {
                let _ = write!(out, " {}=\"{}\"", a.qname, Escaped(&a.value));
            }
        }
        if el.children.is_empty() && el.text.is_empty() {
            out.push_str("/>");
        } else {
            out.push('>');
            let _ = write!(out, "{}", Escaped(&el.text));
            for c in &el.children {
                write_allowed(
                    rules,
                    groups,
                    modules,
                    c,
                    module,
                    path,
                    el.ns.as_deref(),
                    out,
                );
            }
            let _ = write!(out, "</{}>", el.name);
        }
    }
    path.pop();
}

/// The namespace → module map for [`prune_reply`], from a schema's list.
pub fn module_map(list: Vec<(String, String)>) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = list.into_iter().collect();
    map.entry(NS.to_owned())
        .or_insert_with(|| MODULE.to_owned());
    map
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::Level;
    use crate::nacm::{Nacm, shipped_rules};

    fn map() -> HashMap<String, String> {
        module_map(vec![(
            "urn:ncagent:yang:ncagent-bgp".to_owned(),
            "ncagent-bgp".to_owned(),
        )])
    }

    #[test]
    fn nacm_hidden_below_level_3_and_bgp_kept() {
        let xml = "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as>1</as></global></bgp><nacm xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-acm\"><enable-nacm>true</enable-nacm></nacm>";
        let rules = shipped_rules();
        let g2 = Nacm::groups(
            rules,
            crate::nacm::Subject {
                name: "u",
                level: Level::Configuration,
            },
        );
        let out = prune_reply(rules, &g2, &map(), xml);
        assert_eq!(
            out,
            "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><global><as>1</as></global></bgp>"
        );
        let g3 = Nacm::groups(
            rules,
            crate::nacm::Subject {
                name: "u",
                level: Level::Management,
            },
        );
        assert_eq!(prune_reply(rules, &g3, &map(), xml), xml);
    }

    #[test]
    fn a_path_rule_hides_one_list_entry() {
        let mut rules = shipped_rules().clone();
        let ctx = crate::schema::datastore_context().unwrap();
        let tree = DataTree::parse_string(
            &ctx,
            r#"<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm"><rule-list><name>x</name><group>monitoring</group><rule><name>hide</name><module-name>ncagent-bgp</module-name><path xmlns:b="urn:ncagent:yang:ncagent-bgp">/b:bgp/b:neighbors/b:neighbor[b:address='10.0.0.1']</path><access-operations>read</access-operations><action>deny</action></rule></rule-list></nacm>"#,
            yang5::data::DataFormat::XML,
            yang5::data::DataParserFlags::STRICT | yang5::data::DataParserFlags::NO_VALIDATION,
            yang5::data::DataValidationFlags::empty(),
        )
        .unwrap();
        let extra = Rules::from_tree(&tree);
        rules.lists.insert(0, extra.lists[0].clone());
        let g1 = vec!["visit".to_owned(), "monitoring".to_owned()];
        let xml = "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><neighbors><neighbor><address>10.0.0.1</address></neighbor><neighbor><address>10.0.0.2</address></neighbor></neighbors></bgp>";
        assert_eq!(
            prune_reply(&rules, &g1, &map(), xml),
            "<bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><neighbors><neighbor><address>10.0.0.2</address></neighbor></neighbors></bgp>"
        );
    }
}
