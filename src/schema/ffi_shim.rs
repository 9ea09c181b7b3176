//! The `unsafe` of the schema layer: libyang calls that the yang5 safe API
//! does not wrap (FACTS.md, libyang section).
//!
//! - `lyd_validate_op`: mandatory nodes and "data for two cases of a choice"
//!   are checked only there, not by the parser;
//! - `lyd_parse_op` of the operation element alone as a YANG RPC: yang5's
//!   wrapper copies the bytes into a `CString` with `.unwrap()` and only
//!   offers the NETCONF type with its envelope (see `validate.rs`);
//! - the full last error record (`ly_err_last`): yang5's `Error` drops the
//!   validation code and the schema path, which the error mapping needs;
//! - the feature list of a module (`lysp_feature_next`): yang5 can only ask
//!   for one feature by name, and capabilities must list the enabled ones
//!   from the context, not from a hand-written list; a module's yang-version;
//! - for the read path: copying a tree into another context
//!   (`lyd_dup_siblings_to_ctx`), copying a node with its parents without
//!   its subtree (yang5 always copies recursively), and telling opaque
//!   nodes apart (yang5's `schema()` assumes a schema node).
//!
//! Every function takes safe yang5 handles, so the raw pointers it reads are
//! alive for the duration of the call; nothing raw escapes except as an
//! owned `DataTree`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::c_char;

use yang5::context::Context;
use yang5::data::{DataNodeRef, DataTree, DataTreeOwningRef};
use yang5::ffi;
use yang5::schema::SchemaModule;
use yang5::utils::Binding as _;

/// libyang's validation error codes (`LY_VECODE`) that the mapping tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LyVecode {
    /// XML / JSON / YANG syntax errors (`LYVE_SYNTAX*`).
    Syntax,
    /// Unresolved reference, e.g. an unknown node (`LYVE_REFERENCE`).
    Reference,
    /// Instance data violating the schema (`LYVE_DATA`).
    Data,
    /// Anything else, including no validation code at all.
    Other,
}

/// A copy of libyang's last error record for the calling thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LyError {
    pub(crate) vecode: LyVecode,
    pub(crate) message: String,
    pub(crate) data_path: Option<String>,
    pub(crate) schema_path: Option<String>,
    pub(crate) app_tag: Option<String>,
}

fn opt_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        None
    } else {
        // SAFETY: libyang strings are NUL-terminated and alive while the
        // error record is (until the next libyang call on this thread).
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }
}

/// The context a module belongs to; yang5 keeps `Context::raw` private.
fn ctx_of(module: &SchemaModule<'_>) -> *const ffi::ly_ctx {
    // SAFETY: a SchemaModule borrows its context, so the module is alive.
    unsafe { (*module.as_raw()).ctx }
}

/// Drops the calling thread's stored errors, so that `last_error` after the
/// next call reports that call only.
pub(crate) fn clear_errors(module: &SchemaModule<'_>) {
    // SAFETY: valid context; NULL means "all errors of this thread".
    unsafe { ffi::ly_err_clean(ctx_of(module) as *mut _, std::ptr::null_mut()) };
}

/// The calling thread's last libyang error in the module's context.
pub(crate) fn last_error(module: &SchemaModule<'_>) -> Option<LyError> {
    // SAFETY: valid context; the record stays valid until the next libyang
    // call on this thread, and we copy everything out before returning.
    unsafe {
        let e = ffi::ly_err_last(ctx_of(module));
        if e.is_null() {
            return None;
        }
        let vecode = match (*e).vecode {
            ffi::LY_VECODE::LYVE_SYNTAX
            | ffi::LY_VECODE::LYVE_SYNTAX_XML
            | ffi::LY_VECODE::LYVE_SYNTAX_JSON
            | ffi::LY_VECODE::LYVE_SYNTAX_YANG
            | ffi::LY_VECODE::LYVE_SYNTAX_YIN => LyVecode::Syntax,
            ffi::LY_VECODE::LYVE_REFERENCE => LyVecode::Reference,
            ffi::LY_VECODE::LYVE_DATA => LyVecode::Data,
            _ => LyVecode::Other,
        };
        Some(LyError {
            vecode,
            message: opt_string((*e).msg).unwrap_or_default(),
            data_path: opt_string((*e).data_path),
            schema_path: opt_string((*e).schema_path),
            app_tag: opt_string((*e).apptag),
        })
    }
}

/// `lyd_validate_op` on a parsed RPC: mandatory nodes, choices, must/when.
/// Returns `false` when validation failed (see [`last_error`]).
pub(crate) fn validate_rpc_op(tree: &mut DataTreeOwningRef<'_>) -> bool {
    let op = tree.noderef().as_raw();
    if op.is_null() {
        return false;
    }
    // SAFETY: `op` is the operation node of a tree we own mutably for the
    // call; no dependency tree and no diff are passed.
    let rc = unsafe {
        ffi::lyd_validate_op(
            op,
            std::ptr::null(),
            ffi::lyd_type::LYD_TYPE_RPC_YANG,
            std::ptr::null_mut(),
        )
    };
    rc == ffi::LY_ERR::LY_SUCCESS
}

/// The operation element alone (no `<rpc>` envelope) parsed as a YANG RPC
/// (`lyd_parse_op`, `LYD_TYPE_RPC_YANG`, strict): the tree of the RPC, or
/// `None` when libyang refuses it or it is not a top-level RPC (an action
/// sits inside data; the caller's full path decides those). Unlike yang5's
/// wrappers this neither copies the bytes into a `CString` that panics on
/// NUL nor builds the envelope's opaque nodes.
pub(crate) fn parse_rpc_yang<'c>(
    ctx: &'c Context,
    anchor: &SchemaModule<'c>,
    xml: &[u8],
) -> Option<DataTree<'c>> {
    if xml.contains(&0) {
        return None;
    }
    // libyang reads up to the NUL terminator.
    let mut buf = Vec::with_capacity(xml.len() + 1);
    buf.extend_from_slice(xml);
    buf.push(0);
    let mut input = std::ptr::null_mut();
    // SAFETY: `buf` is NUL-terminated and outlives `input`, which is freed
    // (without freeing `buf`) before returning.
    if unsafe { ffi::ly_in_new_memory(buf.as_ptr() as *const c_char, &mut input) }
        != ffi::LY_ERR::LY_SUCCESS
    {
        return None;
    }
    let mut tree = std::ptr::null_mut();
    let mut op = std::ptr::null_mut();
    // SAFETY: valid context and input; libyang allocates the tree, which is
    // either freed here or owned by the returned DataTree.
    unsafe {
        let rc = ffi::lyd_parse_op(
            ctx_of(anchor),
            std::ptr::null_mut(),
            input,
            ffi::LYD_FORMAT::LYD_XML,
            ffi::lyd_type::LYD_TYPE_RPC_YANG,
            ffi::LYD_PARSE_STRICT,
            &mut tree,
            &mut op,
        );
        ffi::ly_in_free(input, 0);
        if rc != ffi::LY_ERR::LY_SUCCESS || op.is_null() || op != tree {
            if !tree.is_null() {
                ffi::lyd_free_all(tree);
            }
            return None;
        }
        if !(*op).parent.is_null() || !(*op).next.is_null() {
            ffi::lyd_free_all(tree);
            return None;
        }
        Some(DataTree::from_raw(ctx, tree))
    }
}

/// An element of [`build_rpc`] whose end tag has not been read yet.
struct OpenElement<'a> {
    name: &'a [u8],
    ns: &'a [u8],
    module: *const ffi::lys_module,
    /// Created once a child element shows it is an inner node; a leaf is
    /// created at its end tag, from its text.
    node: *mut ffi::lyd_node,
    text: Vec<u8>,
}

/// The operation element of a plain request (see `scan::plain_rpc`; it
/// declares its own namespace) built into a YANG RPC tree from the lean
/// scan's pieces with `lyd_new_inner` / `lyd_new_term`, without libyang's
/// XML parser: the request's bytes are read once. `None` when the element
/// holds anything this does not build the way the parser would: a list,
/// anydata, an empty container, a value whose meaning depends on XML
/// prefixes (identityref, instance-identifier, leafref and unions), a
/// carriage return in a value, a repeated node that is not a leaf-list, or
/// anything libyang refuses; the caller then asks the parser
/// ([`parse_rpc_yang`]). The tree is not validated yet.
pub(crate) fn build_rpc<'c, 'x>(
    ctx: &'c Context,
    anchor: &SchemaModule<'c>,
    op_xml: &'x [u8],
) -> Option<DataTree<'c>> {
    let ctx_ptr = ctx_of(anchor);
    let mut root: *mut ffi::lyd_node = std::ptr::null_mut();
    let mut open: Vec<OpenElement<'x>> = Vec::with_capacity(8);
    let mut names: Vec<u8> = Vec::with_capacity(64);
    // The last namespace looked up and its module (an operation's
    // elements nearly always share one).
    let mut last: Option<(&'x [u8], *const ffi::lys_module)> = None;
    let mut module_of = |ns: &'x [u8]| -> *const ffi::lys_module {
        if let Some((n, m)) = last
            && n == ns
        {
            return m;
        }
        let mut c = Vec::with_capacity(ns.len() + 1);
        c.extend_from_slice(ns);
        c.push(0);
        // SAFETY: valid context; `c` is NUL-terminated and outlives the call.
        let m =
            unsafe { ffi::ly_ctx_get_module_implemented_ns(ctx_ptr, c.as_ptr() as *const c_char) };
        last = Some((ns, m));
        m
    };
    // Creates the inner node of an open element that has none yet.
    let mut make_inner = |names: &mut Vec<u8>,
                          parent: *mut ffi::lyd_node,
                          el: &mut OpenElement<'_>,
                          root: &mut *mut ffi::lyd_node|
     -> bool {
        if !el.node.is_null() {
            return true;
        }
        if !el.text.iter().all(|b| is_xml_space(*b)) {
            return false;
        }
        let name = nul_terminated(names, el.name);
        let mut node = std::ptr::null_mut();
        // SAFETY: valid module and NUL-terminated name; the parent (if any)
        // is a node of the tree being built; the new node is linked into it
        // or becomes the root, freed with the tree.
        let rc = unsafe { ffi::lyd_new_inner(parent, el.module, name, 0, &mut node) };
        if rc != ffi::LY_ERR::LY_SUCCESS || node.is_null() {
            return false;
        }
        if parent.is_null() {
            *root = node;
            // SAFETY: a node created with a schema.
            if u32::from(unsafe { (*(*node).schema).nodetype }) != ffi::LYS_RPC {
                return false;
            }
        } else if !single(node) {
            return false;
        }
        el.node = node;
        true
    };
    let built = crate::schema::scan::plain_pieces(op_xml, |piece| match piece {
        crate::schema::scan::Piece::Start { name, ns, empty } => {
            let ns = match (ns, open.last()) {
                (Some(ns), _) => ns,
                (None, Some(parent)) => parent.ns,
                (None, None) => return false,
            };
            // The parent turns out to be an inner node.
            if let Some(i) = open.len().checked_sub(1) {
                let grand = if i == 0 {
                    std::ptr::null_mut()
                } else {
                    open[i - 1].node
                };
                if !make_inner(&mut names, grand, &mut open[i], &mut root) {
                    return false;
                }
            } else if !root.is_null() {
                return false;
            }
            let module = module_of(ns);
            if module.is_null() {
                return false;
            }
            open.push(OpenElement {
                name,
                ns,
                module,
                node: std::ptr::null_mut(),
                text: Vec::new(),
            });
            !empty || close(&mut open, &mut names, &mut make_inner, &mut root)
        }
        crate::schema::scan::Piece::Text(t) => match open.last_mut() {
            // Between the children of an inner node: whitespace only.
            Some(el) if !el.node.is_null() => t.iter().all(|b| is_xml_space(*b)),
            Some(el) => {
                crate::schema::scan::unescape_plain(t, &mut el.text);
                true
            }
            None => false,
        },
        crate::schema::scan::Piece::End(_) => {
            close(&mut open, &mut names, &mut make_inner, &mut root)
        }
    });
    if !built || !open.is_empty() || root.is_null() {
        if !root.is_null() {
            // SAFETY: the root of the tree built here, not yet owned elsewhere.
            unsafe { ffi::lyd_free_all(root) };
        }
        return None;
    }
    // SAFETY: a tree of this context created here, owned from now on by the
    // returned DataTree.
    Some(unsafe { DataTree::from_raw(ctx, root) })
}

/// `name` followed by a NUL in `buf` (reused across the elements), for
/// libyang's C strings; valid until `buf` next changes.
fn nul_terminated(buf: &mut Vec<u8>, name: &[u8]) -> *const c_char {
    buf.clear();
    buf.extend_from_slice(name);
    buf.push(0);
    buf.as_ptr() as *const c_char
}

/// XML 1.0 §2.3 `S`.
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// The end of the innermost open element: an inner node is done; anything
/// else is a leaf or leaf-list entry, created from its text.
fn close<F>(
    open: &mut Vec<OpenElement<'_>>,
    names: &mut Vec<u8>,
    make_inner: &mut F,
    root: &mut *mut ffi::lyd_node,
) -> bool
where
    F: FnMut(
        &mut Vec<u8>,
        *mut ffi::lyd_node,
        &mut OpenElement<'_>,
        &mut *mut ffi::lyd_node,
    ) -> bool,
{
    let Some(mut el) = open.pop() else {
        return false;
    };
    let parent = open.last().map_or(std::ptr::null_mut(), |p| p.node);
    if !el.node.is_null() {
        return true;
    }
    if parent.is_null() {
        // The operation itself, without parameters.
        return make_inner(names, parent, &mut el, root);
    }
    // XML 1.0 §2.11 turns CR LF into LF before the parser sees the text;
    // such values are left to the parser.
    if el.text.contains(&b'\r') || el.text.contains(&0) {
        return false;
    }
    let name = nul_terminated(names, el.name);
    el.text.push(0);
    let mut node = std::ptr::null_mut();
    // SAFETY: valid module, NUL-terminated name and value; the parent is an
    // inner node of the tree being built, which the new node is linked into.
    let rc = unsafe {
        ffi::lyd_new_term(
            parent,
            el.module,
            name,
            el.text.as_ptr() as *const c_char,
            0,
            &mut node,
        )
    };
    rc == ffi::LY_ERR::LY_SUCCESS && !node.is_null() && plain_type(node) && single(node)
}

/// Whether a term node's type reads its value the same whatever the XML
/// prefixes in scope: not identityref, instance-identifier, leafref or a
/// union (which may hold them).
fn plain_type(node: *const ffi::lyd_node) -> bool {
    // SAFETY: a term node created with a schema: its schema is a leaf or a
    // leaf-list, both of which start with the same fields up to `type_`.
    unsafe {
        let schema = (*node).schema;
        let nodetype = u32::from((*schema).nodetype);
        if nodetype != ffi::LYS_LEAF && nodetype != ffi::LYS_LEAFLIST {
            return false;
        }
        let ty = (*(schema as *const ffi::lysc_node_leaf)).type_;
        !ty.is_null()
            && !matches!(
                (*ty).basetype,
                ffi::LY_DATA_TYPE::LY_TYPE_IDENT
                    | ffi::LY_DATA_TYPE::LY_TYPE_INST
                    | ffi::LY_DATA_TYPE::LY_TYPE_LEAFREF
                    | ffi::LY_DATA_TYPE::LY_TYPE_UNION
            )
    }
}

/// Whether `node` is the only instance of its schema node among its
/// siblings, unless that is a leaf-list (the parser and validation decide
/// repeated nodes; a repeat is left to them).
fn single(node: *const ffi::lyd_node) -> bool {
    // SAFETY: a node linked into a tree being built: its parent is an inner
    // node whose child list holds it.
    unsafe {
        let schema = (*node).schema;
        if u32::from((*schema).nodetype) == ffi::LYS_LEAFLIST {
            return true;
        }
        let parent = (*node).parent;
        if parent.is_null() {
            return true;
        }
        let mut n = (*(parent as *const ffi::lyd_node_inner)).child;
        let mut count = 0;
        while !n.is_null() {
            if (*n).schema == schema {
                count += 1;
            }
            n = (*n).next;
        }
        count == 1
    }
}

/// `lyd_validate_op` on a tree of [`parse_rpc_yang`] (the RPC is its root).
pub(crate) fn validate_rpc_tree(tree: &DataTree<'_>) -> bool {
    let Some(op) = tree.reference() else {
        return false;
    };
    // SAFETY: `op` is the root of a tree we own; validation of an RPC only
    // adds default nodes under it (no dependency tree, no diff).
    let rc = unsafe {
        ffi::lyd_validate_op(
            op.as_raw(),
            std::ptr::null(),
            ffi::lyd_type::LYD_TYPE_RPC_YANG,
            std::ptr::null_mut(),
        )
    };
    rc == ffi::LY_ERR::LY_SUCCESS
}

/// Every feature defined by the module (and its submodules) with whether it
/// is enabled in this context.
pub(crate) fn features(module: &SchemaModule<'_>) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    // SAFETY: the parsed module is owned by the context the module borrows;
    // lysp_feature_next walks its sized arrays and returns NULL at the end.
    unsafe {
        let pmod = (*module.as_raw()).parsed;
        if pmod.is_null() {
            return out;
        }
        let mut idx: u32 = 0;
        let mut f = ffi::lysp_feature_next(std::ptr::null(), pmod, &mut idx);
        while !f.is_null() {
            if let Some(name) = opt_string((*f).name) {
                out.push((name, u32::from((*f).flags) & ffi::LYS_FENABLED != 0));
            }
            f = ffi::lysp_feature_next(f, pmod, &mut idx);
        }
    }
    out
}

/// Whether the module is YANG 1.1 (RFC 7950 §5.6.4: such modules are
/// announced through the YANG library, not in the `<hello>`).
pub(crate) fn is_yang_1_1(module: &SchemaModule<'_>) -> bool {
    // SAFETY: the parsed module is owned by the context the module borrows.
    unsafe {
        let pmod = (*module.as_raw()).parsed;
        !pmod.is_null() && u32::from((*pmod).version) == ffi::LYS_VERSION::LYS_VERSION_1_1
    }
}

/// Whether a data node is opaque (no schema node): yang5's `schema()` on
/// such a node would dereference NULL, so readers skip them.
pub(crate) fn is_opaque(node: &DataNodeRef<'_>) -> bool {
    let raw = node.as_raw();
    // SAFETY: `raw` is a live node of a tree borrowed through `node`.
    raw.is_null() || unsafe { (*raw).schema.is_null() }
}

/// Copies every top-level sibling of `tree` (a tree of any context) into
/// the context `anchor` belongs to (`lyd_dup_siblings_to_ctx`): the
/// configuration datastores live in their own context, the reply is built
/// in the served one. Flags (the default flag with-defaults needs) are kept.
pub(crate) fn dup_to_context<'c>(
    tree: &DataTree<'_>,
    ctx: &'c Context,
    anchor: &SchemaModule<'c>,
) -> Option<DataTree<'c>> {
    let Some(first) = tree.reference() else {
        return Some(DataTree::new(ctx));
    };
    let mut dup = std::ptr::null_mut();
    // SAFETY: `first` is a live node of `tree`, borrowed for the call; the
    // target context is alive for 'c; libyang allocates the copy, which the
    // returned DataTree owns and frees.
    unsafe {
        let start = ffi::lyd_first_sibling(first.as_raw());
        let rc = ffi::lyd_dup_siblings_to_ctx(
            start,
            ctx_of(anchor),
            std::ptr::null_mut(),
            ffi::LYD_DUP_RECURSIVE | ffi::LYD_DUP_WITH_FLAGS,
            &mut dup,
        );
        if rc != ffi::LY_ERR::LY_SUCCESS {
            if !dup.is_null() {
                ffi::lyd_free_all(dup);
            }
            return None;
        }
        Some(DataTree::from_raw(ctx, dup))
    }
}

/// A copy of `node` with its ancestors (list ancestors with their keys,
/// RFC 7950 §7.8.5), as a tree of its own. `recursive`: with the whole
/// subtree; without, a list entry still gets its keys (libyang's rule).
pub(crate) fn dup_with_parents<'c>(
    node: &DataNodeRef<'_>,
    ctx: &'c Context,
    recursive: bool,
) -> Option<DataTree<'c>> {
    let mut opts = ffi::LYD_DUP_WITH_PARENTS | ffi::LYD_DUP_WITH_FLAGS;
    if recursive {
        opts |= ffi::LYD_DUP_RECURSIVE;
    }
    let mut dup = std::ptr::null_mut();
    // SAFETY: `node` is alive for the call; the copy belongs to the same
    // context as `node` (the caller passes that context); we climb to the
    // copy's top-level node so that the DataTree owns the whole copy.
    unsafe {
        let rc = ffi::lyd_dup_single(node.as_raw(), std::ptr::null_mut(), opts, &mut dup);
        if rc != ffi::LY_ERR::LY_SUCCESS || dup.is_null() {
            return None;
        }
        let mut top = dup;
        while !(*top).parent.is_null() {
            top = (*top).parent;
        }
        Some(DataTree::from_raw(ctx, top))
    }
}

/// `lyd_eval_xpath`: the expression (JSON prefixes, module names) with
/// `node` as the context node, its result converted to boolean (XPath 1.0
/// §4.3 `boolean()`: a node-set is true when not empty). yang5 only wraps
/// `lyd_find_xpath`, which refuses an expression that is not a node-set
/// (e.g. `count(...) > 0`). Err: the expression does not parse or refers
/// to an unknown module; the message is libyang's.
pub(crate) fn eval_xpath_bool(
    ctx: &Context,
    node: &DataNodeRef<'_>,
    expr: &str,
) -> Result<bool, String> {
    let Ok(c) = std::ffi::CString::new(expr) else {
        return Err("NUL character".into());
    };
    let mut result: ffi::ly_bool = 0;
    // SAFETY: `node` is a live node of a tree borrowed for the call; `c`
    // outlives the call; libyang writes only `result`.
    let rc = unsafe { ffi::lyd_eval_xpath(node.as_raw(), c.as_ptr(), &mut result) };
    if rc == ffi::LY_ERR::LY_SUCCESS {
        return Ok(result != 0);
    }
    Err(yang5::Error::new(ctx)
        .msg
        .unwrap_or_else(|| "invalid XPath expression".into()))
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::LazyLock;
    use yang5::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};
    use yang5::data::DataParserFlags;

    const MODULE: &str = r#"module shim-test {
      yang-version 1;
      namespace "urn:shim-test";
      prefix st;
      feature f1;
      feature f2;
      rpc op {
        input {
          leaf a { type string; mandatory true; }
          leaf b { if-feature f2; type string; }
        }
      }
    }"#;

    static MODULES: LazyLock<EmbeddedModules> = LazyLock::new(|| {
        let mut m = EmbeddedModules::new();
        m.insert(
            EmbeddedModuleKey::new("shim-test", None, None, None),
            MODULE,
        );
        m
    });

    fn context() -> Option<Context> {
        let mut ctx = Context::new(ContextFlags::DISABLE_SEARCHDIRS).ok()?;
        ctx.set_embedded_modules(&MODULES);
        // Enable f1 only.
        ctx.load_module("shim-test", None, &["f1"]).ok()?;
        Some(ctx)
    }

    #[test]
    fn lists_features_with_their_state() {
        let ctx = context().expect("context");
        let m = ctx.get_module_implemented("shim-test").expect("module");
        let fs = features(&m);
        assert_eq!(fs, vec![("f1".to_owned(), true), ("f2".to_owned(), false)]);
    }

    #[test]
    fn validate_op_reports_missing_mandatory_leaf() {
        let ctx = context().expect("context");
        let m = ctx.get_module_implemented("shim-test").expect("module");
        let rpc = br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><op xmlns="urn:shim-test"/></rpc>"#;
        let mut tree = DataTreeOwningRef::parse_netconf_rpc_op(&ctx, rpc, DataParserFlags::STRICT)
            .expect("parses");
        clear_errors(&m);
        assert!(!validate_rpc_op(&mut tree));
        let e = last_error(&m).expect("an error");
        assert!(e.message.contains("\"a\""), "{e:?}");
        assert_eq!(e.vecode, LyVecode::Data);

        let ok = br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><op xmlns="urn:shim-test"><a>x</a></op></rpc>"#;
        let mut tree = DataTreeOwningRef::parse_netconf_rpc_op(&ctx, ok, DataParserFlags::STRICT)
            .expect("parses");
        assert!(validate_rpc_op(&mut tree));
    }
}
