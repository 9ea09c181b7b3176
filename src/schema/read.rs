//! The read path of `<get>` and `<get-config>` on libyang data trees: the
//! reply's data is assembled as one tree of the served context, filtered
//! (RFC 6241 §6 subtree, §8.9 XPath) and printed by libyang with the
//! with-defaults mode (RFC 6243), so that keys and namespaces are right by
//! construction (docs/yang.md, "Read path").

use yang5::context::Context;
use yang5::data::{
    Data, DataFormat, DataImplicitFlags, DataNodeRef, DataParserFlags, DataPrinterFlags, DataTree,
    DataValidationFlags,
};
use yang5::ffi;
use yang5::iter::NodeIterable as _;

use super::{Schema, ffi_shim, library, scan};

/// RFC 6243 §3 retrieval modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WithDefaults {
    /// The server's basic mode (§2.3): what was set, also to the default
    /// value, is reported; defaults the server added are not.
    #[default]
    Explicit,
    /// §3.1: every node with a default is reported.
    ReportAll,
    /// §3.4: as report-all, defaults tagged `wd:default="true"`.
    ReportAllTagged,
    /// §3.2: nodes equal to their default are not reported.
    Trim,
}

impl WithDefaults {
    /// The `<with-defaults>` value (ietf-netconf-with-defaults
    /// `with-defaults-mode`).
    pub fn parse(value: &str) -> Option<WithDefaults> {
        match value {
            "explicit" => Some(WithDefaults::Explicit),
            "report-all" => Some(WithDefaults::ReportAll),
            "report-all-tagged" => Some(WithDefaults::ReportAllTagged),
            "trim" => Some(WithDefaults::Trim),
            _ => None,
        }
    }

    fn print_flag(self) -> DataPrinterFlags {
        match self {
            WithDefaults::Explicit => DataPrinterFlags::WD_EXPLICIT,
            WithDefaults::ReportAll => DataPrinterFlags::WD_ALL,
            WithDefaults::ReportAllTagged => {
                DataPrinterFlags::from_bits_retain(ffi::LYD_PRINT_WD_ALL_TAG)
            }
            WithDefaults::Trim => DataPrinterFlags::WD_TRIM,
        }
    }

    pub fn adds_defaults(self) -> bool {
        matches!(
            self,
            WithDefaults::ReportAll | WithDefaults::ReportAllTagged
        )
    }
}

/// One element of a subtree filter (RFC 6241 §6.2), namespace-resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterNode {
    /// `None` (no or empty default namespace): matches any namespace, as
    /// before (RFC 6241 §6.2.1 leaves unqualified names to the server).
    pub ns: Option<String>,
    pub name: String,
    /// Character data (content match value when there are no children).
    pub text: String,
    pub children: Vec<FilterNode>,
    /// Namespace declarations in scope (prefix, namespace), for the
    /// prefix of an identityref content match value.
    pub prefixes: Vec<(String, String)>,
}

impl FilterNode {
    fn is_content_match(&self) -> bool {
        self.children.is_empty() && !self.text.trim().is_empty()
    }

    fn matches_name(&self, node: &DataNodeRef<'_>) -> bool {
        let schema = node.schema();
        self.name == schema.name()
            && match self.ns.as_deref() {
                None | Some("") => true,
                Some(ns) => ns == schema.module().namespace(),
            }
    }
}

/// A filter of `<get>`/`<get-config>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataFilter {
    /// RFC 6241 §6: the children of `<filter>`. Empty: selects nothing
    /// (§6.4.2).
    Subtree(Vec<FilterNode>),
    /// RFC 6241 §8.9: `select`, with the prefixes declared in scope of
    /// `<filter>`.
    XPath {
        select: String,
        prefixes: Vec<(String, String)>,
    },
}

/// Why a read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// RFC 6241 §8.9: the select expression does not parse or does not
    /// evaluate to a node set.
    BadXPath(String),
    /// A prefix of the select expression is not declared on `<filter>`, or
    /// names a namespace no served module has.
    UnknownPrefix(String),
    /// Our own data did not build: a bug, reported as operation-failed.
    Internal(String),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::BadXPath(m) => write!(f, "invalid XPath select expression: {m}"),
            ReadError::UnknownPrefix(p) => {
                write!(
                    f,
                    "prefix \"{p}\" of the select expression is not declared or names no served module"
                )
            }
            ReadError::Internal(m) => write!(f, "internal data error: {m}"),
        }
    }
}

/// The data of one reply under construction, in the served context.
pub struct ReadTree<'s> {
    schema: &'s Schema,
    tree: DataTree<'s>,
}

impl Schema {
    /// An empty reply tree.
    pub fn read_tree(&self) -> ReadTree<'_> {
        ReadTree {
            schema: self,
            tree: DataTree::new(&self.ctx),
        }
    }
}

impl<'s> ReadTree<'s> {
    fn ctx(&self) -> &'s Context {
        &self.schema.ctx
    }

    fn merge_in(&mut self, other: DataTree<'s>) -> Result<(), ReadError> {
        if other.reference().is_none() {
            return Ok(());
        }
        if self.tree.reference().is_none() {
            self.tree = other;
            return Ok(());
        }
        self.tree
            .merge(&other)
            .map_err(|e| ReadError::Internal(format!("merging: {e}")))
    }

    /// Adds a configuration tree of any context (the datastores have their
    /// own): copied into the served context, flags (default nodes) kept.
    pub fn add_config(&mut self, config: &DataTree<'_>) -> Result<(), ReadError> {
        let anchor = self
            .schema
            .anchor()
            .ok_or_else(|| ReadError::Internal("no module in the context".into()))?;
        let copy = ffi_shim::dup_to_context(config, self.ctx(), &anchor).ok_or_else(|| {
            ReadError::Internal("configuration does not fit the served schema".into())
        })?;
        self.merge_in(copy)
    }

    /// Adds XML data (state allowed) produced by this server, e.g. the
    /// `netconf-state` of the NETCONF layer; parsed, not validated.
    pub fn add_xml(&mut self, xml: &str) -> Result<(), ReadError> {
        if scan::scan(xml.as_bytes(), 0).is_err() {
            return Err(ReadError::Internal(
                "state XML refused by the pre-scan".into(),
            ));
        }
        let parsed = DataTree::parse_string(
            self.ctx(),
            xml,
            DataFormat::XML,
            DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .map_err(|e| ReadError::Internal(format!("state XML: {e}")))?;
        self.merge_in(parsed)
    }

    /// Creates (or updates) the node at `path` (JSON-prefixed data path)
    /// with `value`.
    pub fn set(&mut self, path: &str, value: Option<&str>) -> Result<(), ReadError> {
        if path.contains('\0') || value.is_some_and(|v| v.contains('\0')) {
            return Err(ReadError::Internal(format!("NUL in {path}")));
        }
        self.tree
            .new_path(path, value, false)
            .map(|_| ())
            .map_err(|e| ReadError::Internal(format!("{path}: {e}")))
    }

    /// Whether the tree has a node at `path` (JSON-prefixed data path).
    pub fn contains(&self, path: &str) -> bool {
        !path.contains('\0') && self.tree.reference().is_some() && self.tree.find_path(path).is_ok()
    }

    /// Adds `/yang-library` (RFC 8525) and `/modules-state` (RFC 7895).
    pub fn add_yang_library(&mut self) -> Result<(), ReadError> {
        library::add_yang_library(self.schema, &mut self.tree).map_err(ReadError::Internal)
    }

    /// Filters and prints the data (the content of `<data>`). `config_only`:
    /// implicit state nodes are not added (`<get-config>`).
    pub fn render(
        self,
        filter: Option<&DataFilter>,
        wd: WithDefaults,
        config_only: bool,
    ) -> Result<String, ReadError> {
        print_data(&self.select(filter, wd, config_only)?, wd)
    }

    /// The reply's data: the defaults `wd` reports added, then what the
    /// filter selects, not yet printed ([`print_data`]). `config_only`:
    /// implicit state nodes are not added (`<get-config>`).
    pub fn select(
        mut self,
        filter: Option<&DataFilter>,
        wd: WithDefaults,
        config_only: bool,
    ) -> Result<DataTree<'s>, ReadError> {
        // RFC 6243 §3.1: filters see the defaults report-all reports, so
        // they are added before filtering; their default flag survives the
        // copies (LYD_DUP_WITH_FLAGS) for the printer.
        if wd.adds_defaults() && self.tree.reference().is_some() {
            let flags = if config_only {
                DataImplicitFlags::NO_STATE
            } else {
                DataImplicitFlags::empty()
            };
            self.tree
                .add_implicit(flags)
                .map_err(|e| ReadError::Internal(format!("defaults: {e}")))?;
        }
        Ok(match filter {
            None => self.tree,
            Some(DataFilter::Subtree(nodes)) => subtree(self.ctx(), &self.tree, nodes)?,
            Some(DataFilter::XPath { select, prefixes }) => {
                xpath(self.schema, &self.tree, select, prefixes)?
            }
        })
    }
}

/// Data as the content of `<data>`: every top-level node, compact, in the
/// with-defaults mode `wd`; "" when there is none.
pub fn print_data(tree: &DataTree<'_>, wd: WithDefaults) -> Result<String, ReadError> {
    if tree.reference().is_none() {
        return Ok(String::new());
    }
    tree.print_string(
        DataFormat::XML,
        DataPrinterFlags::WITH_SIBLINGS | DataPrinterFlags::SHRINK | wd.print_flag(),
    )
    .map_err(|e| ReadError::Internal(format!("printing: {e}")))
}

/// A subtree filter (RFC 6241 §6) evaluated on a stored tree as it is, in
/// its own context: what `<get-config>` with a subtree filter needs when
/// no defaults are to be added (RFC 6243 explicit or trim; the caller
/// prints the result with [`print_data`]). Only the selected nodes are
/// copied (with their ancestors and keys), not the whole datastore into a
/// reply tree first.
pub fn filter_stored<'c>(
    tree: &DataTree<'c>,
    nodes: &[FilterNode],
) -> Result<DataTree<'c>, ReadError> {
    subtree(tree.context(), tree, nodes)
}

/// Top-level nodes of a tree (opaque nodes skipped).
fn top_level<'t>(tree: &'t DataTree<'_>) -> Vec<DataNodeRef<'t>> {
    match tree.reference() {
        Some(first) => first
            .inclusive_siblings()
            .filter(|n| !ffi_shim::is_opaque(n))
            .collect(),
        None => Vec::new(),
    }
}

fn children<'t>(node: &DataNodeRef<'t>) -> Vec<DataNodeRef<'t>> {
    node.children()
        .filter(|n| !ffi_shim::is_opaque(n))
        .collect()
}

/// What one level of a subtree filter selects among a sibling set.
enum Level<'t> {
    /// A content match node failed: nothing of the parent (§6.2.5).
    Fail,
    /// Only content match nodes, all matched: the whole parent (§6.2.5).
    All,
    /// These nodes, each with its whole subtree.
    Some(Vec<DataNodeRef<'t>>),
}

/// Does a leaf's value equal a content match value? Canonical values are
/// compared; an identityref value's prefix is resolved through the
/// filter's namespace declarations (RFC 7950 §9.10.3: "prefix:identity").
fn value_matches(ctx: &Context, f: &FilterNode, node: &DataNodeRef<'_>) -> bool {
    let want = f.text.trim();
    let Some(have) = node.value_canonical() else {
        return false;
    };
    if have == want {
        return true;
    }
    // identityref: canonical "module:identity"; the filter writes
    // "prefix:identity" with xmlns:prefix bound to the module's namespace.
    if let (Some((hmod, hid)), Some((wpfx, wid))) = (have.split_once(':'), want.split_once(':'))
        && hid == wid
    {
        let ns = f
            .prefixes
            .iter()
            .rev()
            .find(|(p, _)| p == wpfx)
            .map(|(_, n)| n.as_str());
        let ctx_ns = (!hmod.contains('\0'))
            .then(|| ctx.get_module_latest(hmod))
            .flatten()
            .map(|m| m.namespace().to_owned());
        return match (ns, ctx_ns) {
            (Some(a), Some(b)) => a == b.as_str(),
            // Undeclared prefix: the module name itself, as in JSON.
            (None, _) => wpfx == hmod,
            _ => false,
        };
    }
    false
}

/// RFC 6241 §6.2: applies the filter nodes `fs` to the sibling set `ds`.
fn level<'t>(ctx: &Context, ds: &[DataNodeRef<'t>], fs: &[FilterNode]) -> Level<'t> {
    let mut selected = Vec::new();
    // §6.2.5: every content match node must match a sibling, else the
    // parent is not selected; matched ones are part of the output.
    for f in fs.iter().filter(|f| f.is_content_match()) {
        let matched: Vec<&DataNodeRef<'t>> = ds
            .iter()
            .filter(|d| f.matches_name(d) && value_matches(ctx, f, d))
            .collect();
        if matched.is_empty() {
            return Level::Fail;
        }
        selected.extend(matched.into_iter().cloned());
    }
    if fs.iter().all(FilterNode::is_content_match) {
        return Level::All;
    }
    for f in fs.iter().filter(|f| !f.is_content_match()) {
        for d in ds.iter().filter(|d| f.matches_name(d)) {
            if f.children.is_empty() {
                // §6.2.4 selection node: the node and its whole subtree.
                selected.push(d.clone());
                continue;
            }
            // §6.2.3 containment node: applied to each instance (each list
            // entry on its own).
            match level(ctx, &children(d), &f.children) {
                Level::Fail => {}
                Level::All => selected.push(d.clone()),
                Level::Some(v) => selected.extend(v),
            }
        }
    }
    Level::Some(selected)
}

/// A copy of the selected nodes, each with its ancestors and the keys of
/// every list entry on the way (RFC 7950 §7.8.5, RFC 6241 §6.2.5).
fn copy_selection<'s>(
    ctx: &'s Context,
    selected: &[DataNodeRef<'_>],
) -> Result<DataTree<'s>, ReadError> {
    let mut out = DataTree::new(ctx);
    // A node below one already copied with its subtree adds nothing: skip
    // it, so that e.g. `//*` copies the tree once, not once per depth.
    let whole: std::collections::HashSet<*mut ffi::lyd_node> = selected
        .iter()
        .filter(|n| !n.schema().is_list_key())
        .map(DataNodeRef::as_raw)
        .collect();
    for n in selected {
        if n.ancestors().any(|a| whole.contains(&a.as_raw())) {
            continue;
        }
        // A list key comes with its entry: copy the entry (keys only), as
        // copying the key with its parents would add it twice.
        let (node, recursive) = if n.schema().is_list_key() {
            match n.parent() {
                Some(p) => (p, false),
                None => continue,
            }
        } else {
            (n.clone(), true)
        };
        let copy = ffi_shim::dup_with_parents(&node, ctx, recursive)
            .ok_or_else(|| ReadError::Internal(format!("copying {}", node.path())))?;
        if out.reference().is_none() {
            out = copy;
        } else {
            out.merge(&copy)
                .map_err(|e| ReadError::Internal(format!("merging {}: {e}", node.path())))?;
        }
    }
    Ok(out)
}

fn subtree<'s>(
    ctx: &'s Context,
    tree: &DataTree<'s>,
    fs: &[FilterNode],
) -> Result<DataTree<'s>, ReadError> {
    // §6.4.2: an empty filter selects nothing.
    if fs.is_empty() {
        return Ok(DataTree::new(ctx));
    }
    let top = top_level(tree);
    let selected = match level(ctx, &top, fs) {
        Level::Fail => Vec::new(),
        // Only content match nodes at the top: the sibling set is the
        // datastore; select the matched nodes' subtrees only.
        Level::All => top
            .iter()
            .filter(|d| fs.iter().any(|f| f.matches_name(d)))
            .cloned()
            .collect(),
        Level::Some(v) => v,
    };
    copy_selection(ctx, &selected)
}

/// Rewrites the prefixes of an XPath 1.0 expression (XML namespace
/// prefixes declared on `<filter>`) into the module names libyang's JSON
/// form expects. String literals are kept, except a whole literal
/// "prefix:name" (an identityref value), whose prefix is rewritten too.
pub(super) fn translate_xpath(
    schema: &Schema,
    select: &str,
    prefixes: &[(String, String)],
) -> Result<String, ReadError> {
    let module_of = |p: &str| -> Result<String, ReadError> {
        let ns = prefixes
            .iter()
            .rev()
            .find(|(q, _)| q == p)
            .map(|(_, n)| n.as_str())
            .ok_or_else(|| ReadError::UnknownPrefix(p.to_owned()))?;
        if ns.contains('\0') {
            return Err(ReadError::UnknownPrefix(p.to_owned()));
        }
        schema
            .ctx
            .get_module_implemented_ns(ns)
            .map(|m| m.name().to_owned())
            .ok_or_else(|| ReadError::UnknownPrefix(p.to_owned()))
    };
    let is_start = |c: char| c.is_alphabetic() || c == '_';
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let chars: Vec<char> = select.chars().collect();
    let mut out = String::with_capacity(select.len() + 32);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let Some(len) = chars[i + 1..].iter().position(|&x| x == c) else {
                return Err(ReadError::BadXPath("unterminated string literal".into()));
            };
            let lit: String = chars[i + 1..i + 1 + len].iter().collect();
            let rewritten = match lit.split_once(':') {
                Some((p, rest))
                    if !p.is_empty()
                        && p.chars().all(is_name)
                        && prefixes.iter().any(|(q, _)| q == p) =>
                {
                    format!("{}:{rest}", module_of(p)?)
                }
                _ => lit,
            };
            out.push(c);
            out.push_str(&rewritten);
            out.push(c);
            i += len + 2;
            continue;
        }
        if c.is_ascii_digit() {
            // A number: digits and dots, not a name.
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if is_start(c) {
            let start = i;
            while i < chars.len() && is_name(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let preceded_by_dollar = start > 0 && chars[start - 1] == '$';
            // "prefix:" followed by a name or "*", not the axis "::".
            let qualified = i + 1 < chars.len()
                && chars[i] == ':'
                && chars[i + 1] != ':'
                && (is_start(chars[i + 1]) || chars[i + 1] == '*');
            if qualified && !preceded_by_dollar {
                out.push_str(&module_of(&name)?);
            } else {
                out.push_str(&name);
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn xpath<'s>(
    schema: &'s Schema,
    tree: &DataTree<'s>,
    select: &str,
    prefixes: &[(String, String)],
) -> Result<DataTree<'s>, ReadError> {
    if select.contains('\0') {
        return Err(ReadError::BadXPath("NUL character".into()));
    }
    let expr = translate_xpath(schema, select, prefixes)?;
    if tree.reference().is_none() {
        // Nothing to select from; still refuse an expression libyang would
        // refuse, so that the answer does not depend on the data present.
        return check_xpath_syntax(schema, &expr).map(|()| DataTree::new(&schema.ctx));
    }
    let set = tree
        .find_xpath(&expr)
        .map_err(|e| ReadError::BadXPath(e.to_string()))?;
    let selected: Vec<DataNodeRef<'_>> = set.filter(|n| !ffi_shim::is_opaque(n)).collect();
    copy_selection(&schema.ctx, &selected)
}

/// Evaluates the expression on a scratch tree to surface syntax errors.
fn check_xpath_syntax(schema: &Schema, expr: &str) -> Result<(), ReadError> {
    let mut scratch = DataTree::new(&schema.ctx);
    scratch
        .new_path(
            "/ietf-yang-library:yang-library/content-id",
            Some("x"),
            false,
        )
        .map_err(|e| ReadError::Internal(e.to_string()))?;
    scratch
        .find_xpath(expr)
        .map(|_| ())
        .map_err(|e| ReadError::BadXPath(e.to_string()))
}
