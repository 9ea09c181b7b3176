//! The libyang calls of the datastores (parse, validate, print, look up)
//! and the reading of libyang's refusals as [`DatastoreError`]s.

use yang5::context::Context;
use yang5::data::{
    Data, DataFormat, DataParserFlags, DataPrinterFlags, DataTree, DataValidationFlags,
};

use yang5::schema::{SchemaNodeKind, SchemaPathFormat};

use super::error::{DatastoreError, ErrorTag};
use crate::schema::{self, LyError, LyVecode, PrescanError};

/// Parses configuration XML (a `<config>`'s content, a datastore file)
/// without validating it: types, lengths, patterns and unknown nodes are
/// checked (STRICT), state data is refused (RFC 6241 §7.2: `<config>`
/// carries configuration only); `must`, leafrefs and mandatory nodes wait
/// for [`validate`] on the result. `nc:operation` attributes become
/// metadata of the `ietf-netconf` annotation.
pub(crate) fn parse_config<'c>(
    ctx: &'c Context,
    xml: &str,
) -> Result<DataTree<'c>, DatastoreError> {
    schema::prescan_xml(xml.as_bytes()).map_err(|e| match e {
        PrescanError::Malformed(m) => DatastoreError::new(ErrorTag::MalformedMessage, m),
        PrescanError::TooDeep(m) => {
            DatastoreError::new(ErrorTag::OperationFailed, m).with_app_tag("too-deep")
        }
    })?;
    if xml.trim().is_empty() {
        return Ok(DataTree::new(ctx));
    }
    schema::clear_libyang_errors(ctx);
    DataTree::parse_string(
        ctx,
        xml,
        DataFormat::XML,
        DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION | DataParserFlags::NO_STATE,
        DataValidationFlags::empty(),
    )
    .map_err(|e| {
        let mut err = parse_error(schema::last_libyang_error(ctx), &e);
        err.path = err.path.map(|p| complete_path(ctx, p));
        err
    })
}

/// Parses an edit-config `<config>` content: as [`parse_config`], except
/// that a leaf named for `delete` or `remove` without a usable value
/// (`<description nc:operation="delete"/>`, RFC 6241 §7.2: the operation
/// names the node, the value plays no part) is accepted. libyang keeps such
/// a leaf only as an opaque node (`LYD_PARSE_OPAQ`); any other opaque node
/// means the strict parse's refusal stands.
pub(crate) fn parse_edit<'c>(ctx: &'c Context, xml: &str) -> Result<DataTree<'c>, DatastoreError> {
    let strict = match parse_config(ctx, xml) {
        Ok(tree) => return Ok(tree),
        Err(e) if e.tag == ErrorTag::InvalidValue => e,
        Err(e) => return Err(e),
    };
    let flags = DataParserFlags::from_bits_retain(yang5::ffi::LYD_PARSE_OPAQ)
        | DataParserFlags::NO_VALIDATION
        | DataParserFlags::NO_STATE;
    match DataTree::parse_string(
        ctx,
        xml,
        DataFormat::XML,
        flags,
        DataValidationFlags::empty(),
    ) {
        Ok(tree) if super::edit::opaque_nodes_are_valueless_deletes(&tree) => Ok(tree),
        _ => Err(strict),
    }
}

/// libyang reports a bad list key before the entry is linked to its
/// parents (`/ncagent-bgp:peer-group/name`): such a path is completed with
/// the list's schema path (`/ncagent-bgp:bgp/peer-groups/peer-group/name`),
/// so that error-path names the node in the tree.
fn complete_path(ctx: &Context, path: String) -> String {
    let Some(rest) = path.strip_prefix('/') else {
        return path;
    };
    let (first, tail) = rest.split_once('/').map_or((rest, ""), |(f, t)| (f, t));
    let Some((module, name)) = first.split_once(':') else {
        return path;
    };
    let name = name.split('[').next().unwrap_or(name);
    let Some(m) = ctx.get_module_implemented(module) else {
        return path;
    };
    if m.data().any(|n| n.name() == name) {
        return path;
    }
    let mut found = m
        .traverse()
        .filter(|n| n.name() == name && n.kind() == SchemaNodeKind::List);
    match (found.next(), found.next()) {
        (Some(list), None) => {
            let base = list.path(SchemaPathFormat::DATA);
            if tail.is_empty() {
                base
            } else {
                format!("{base}/{tail}")
            }
        }
        _ => path,
    }
}

/// Full libyang validation of a copy of `tree` (RFC 7950 §8.3.3: must,
/// leafref, unique, mandatory, min/max-elements), state data refused. The
/// tree itself keeps only explicit nodes: validation adds defaults.
pub(crate) fn validate(tree: &DataTree<'_>) -> Result<(), DatastoreError> {
    let ctx = tree.context();
    let mut copy = tree
        .duplicate()
        .map_err(|e| DatastoreError::internal(format!("copying the tree: {e}")))?;
    schema::clear_libyang_errors(ctx);
    copy.validate(DataValidationFlags::NO_STATE | DataValidationFlags::PRESENT)
        .map_err(|e| validation_error(schema::last_libyang_error(ctx), &e))
}

/// The tree as XML, explicit nodes only (RFC 6243 `explicit`), all top-level
/// siblings; "" for an empty tree.
pub(crate) fn print(tree: &DataTree<'_>) -> Result<String, DatastoreError> {
    if tree.reference().is_none() {
        return Ok(String::new());
    }
    tree.print_string(
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::WD_EXPLICIT,
    )
    .map_err(|e| DatastoreError::internal(format!("printing the tree: {e}")))
}

/// Whether the node at this data path exists in `tree`.
pub(crate) fn exists(tree: &DataTree<'_>, path: &str) -> bool {
    if tree.reference().is_none() {
        return false;
    }
    match tree.find_xpath(path) {
        Ok(mut set) => set.next().is_some(),
        Err(_) => false,
    }
}

/// A copy of `tree` (libyang's dup with flags).
pub(crate) fn duplicate<'c>(tree: &DataTree<'c>) -> Result<DataTree<'c>, DatastoreError> {
    tree.duplicate()
        .map_err(|e| DatastoreError::internal(format!("copying the tree: {e}")))
}

fn path_of(err: &LyError) -> Option<String> {
    err.data_path.clone().or_else(|| err.schema_path.clone())
}

/// A refusal of the XML parser (RFC 6241 Appendix A).
fn parse_error(err: Option<LyError>, fallback: &yang5::Error) -> DatastoreError {
    let Some(err) = err else {
        return DatastoreError::new(ErrorTag::OperationFailed, fallback.to_string());
    };
    let lower = err.message.to_ascii_lowercase();
    let tag = match err.vecode {
        LyVecode::Syntax => ErrorTag::MalformedMessage,
        LyVecode::Reference if lower.contains("metadata") || lower.contains("attribute") => {
            ErrorTag::BadAttribute
        }
        LyVecode::Reference if lower.contains("namespace") || lower.contains("prefix") => {
            ErrorTag::UnknownNamespace
        }
        LyVecode::Reference => ErrorTag::UnknownElement,
        LyVecode::Data if lower.contains("metadata") || lower.contains("annotation") => {
            ErrorTag::BadAttribute
        }
        LyVecode::Data => ErrorTag::InvalidValue,
        LyVecode::Other => ErrorTag::OperationFailed,
    };
    let mut out = DatastoreError::new(tag, err.message.clone());
    out.path = path_of(&err);
    out.app_tag = err.app_tag.clone();
    if tag == ErrorTag::BadAttribute {
        out.bad_attribute = Some("operation".to_owned());
    }
    out
}

/// A refusal of full validation, by RFC 7950 §15's app-tags.
fn validation_error(err: Option<LyError>, fallback: &yang5::Error) -> DatastoreError {
    let Some(err) = err else {
        return DatastoreError::new(ErrorTag::OperationFailed, fallback.to_string());
    };
    let tag = match err.app_tag.as_deref() {
        // RFC 7950 §15.5 (require-instance) and §15.6 (mandatory choice).
        Some("instance-required") | Some("missing-choice") => ErrorTag::DataMissing,
        // RFC 7950 §15.1–15.4: unique, max/min-elements, must (also with
        // the module's own error-app-tag).
        Some(_) => ErrorTag::OperationFailed,
        // A mandatory leaf without data (RFC 7950 §7.6.5).
        None if err.message.starts_with("Mandatory node") => ErrorTag::DataMissing,
        None if err.vecode == LyVecode::Data => ErrorTag::InvalidValue,
        None => ErrorTag::OperationFailed,
    };
    let mut out = DatastoreError::new(tag, err.message.clone());
    out.path = path_of(&err);
    out.app_tag = err.app_tag.clone();
    out
}

/// A data path in XML form for NETCONF's `error-path` (RFC 6241 §4.3):
/// every step and key prefixed, with the namespaces of the prefixes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlPath {
    pub xpath: String,
    /// (prefix, namespace) to declare on the `error-path` element.
    pub namespaces: Vec<(String, String)>,
}

/// Splits at `sep` outside brackets and quotes.
fn split_outside(s: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut start) = (0usize, None::<char>, 0usize);
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, c) if c == sep && depth == 0 => {
                out.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// libyang's data path (`/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']`)
/// in XML form (`/nbgp:bgp/nbgp:neighbors/nbgp:neighbor[nbgp:address='10.0.0.1']`).
pub(crate) fn xml_path(ctx: &Context, data_path: &str) -> Option<XmlPath> {
    // Module names reach the bindings' CString::new(..).unwrap().
    if data_path.contains('\0') {
        return None;
    }
    let mut xpath = String::new();
    let mut namespaces: Vec<(String, String)> = Vec::new();
    let mut prefix = String::new();
    for seg in split_outside(data_path.strip_prefix('/')?, '/') {
        let (step, preds) = match seg.find('[') {
            Some(i) => (&seg[..i], &seg[i..]),
            None => (seg, ""),
        };
        let name = match step.split_once(':') {
            Some((module, name)) => {
                let m = ctx.get_module_implemented(module)?;
                prefix = m.prefix().to_owned();
                if !namespaces.iter().any(|(p, _)| *p == prefix) {
                    namespaces.push((prefix.clone(), m.namespace().to_owned()));
                }
                name
            }
            None => step,
        };
        if prefix.is_empty() {
            return None;
        }
        xpath.push_str(&format!("/{prefix}:{name}"));
        // Each predicate is `[key=value]` or `[.=value]`.
        let mut rest = preds;
        while let Some(body_start) = rest.strip_prefix('[') {
            let parts = split_outside(body_start, ']');
            let body = parts.first()?;
            let consumed = body.len() + 2;
            let (key, value) = body.split_once('=')?;
            let key = key.rsplit(':').next().unwrap_or(key);
            if key == "." {
                xpath.push_str(&format!("[.={value}]"));
            } else {
                xpath.push_str(&format!("[{prefix}:{key}={value}]"));
            }
            rest = rest.get(consumed..)?;
        }
    }
    Some(XmlPath { xpath, namespaces })
}

/// The steps of a data path (`/m:a/b[k='x/y']/c`), split at `/` outside
/// predicates and their quoted values; empty steps are dropped.
pub fn path_steps(path: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') if depth > 0 => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => depth = depth.saturating_sub(1),
            (None, '/') if depth == 0 => {
                if i > start {
                    out.push(&path[start..i]);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < path.len() {
        out.push(&path[start..]);
    }
    out
}
