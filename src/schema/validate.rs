//! `<rpc>` validation with libyang, and the reading of its errors as
//! [`ValidationError`]s in RFC 6241 Appendix A terms (SPEC §6); `northbound`
//! turns them into `<rpc-error>`s. The table is in `docs/yang.md`.
//!
//! libyang decides whether the request is valid; this file only decides how
//! a refusal reads on the wire. Where libyang's record is not enough (it
//! orders siblings by schema and does not keep the namespace of unknown
//! elements) the pre-scan of [`super::scan`] supplies document order and
//! namespaces.

use yang5::data::{DataNodeRef, DataParserFlags, DataTreeOwningRef};
use yang5::schema::{SchemaModule, SchemaNode, SchemaNodeKind};

use super::error::{Problem, ValidationError};
use super::ffi_shim::{self, LyError, LyVecode};
use super::scan::{self, Element, ScanError};
use super::{Schema, ValidatedRpc, input_nodes};

/// The NETCONF base namespace (RFC 6241 §3.1): known to the server even
/// though no module of the context defines it.
const NETCONF_BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// Elements down to the RPC's parameters: rpc (1), operation (2), input (3).
const RECORD_DEPTH: usize = 3;

/// How many accepted requests a schema remembers.
const VERDICTS: usize = 8;
/// Longer requests are not remembered (the memory bound is VERDICTS × this).
const VERDICT_MAX_BYTES: usize = 2048;
/// The longest message-id a remembered request may carry.
const MESSAGE_ID_MAX: usize = 64;

/// The last [`VERDICTS`] requests a schema accepted, each with its answer.
///
/// Validation is a function of the request's bytes alone: the context never
/// changes after load (see [`Schema`]), and RPC input is validated without
/// any datastore. A pipelining client sends the same operation many times
/// with only the `message-id` changing, and the value of that attribute is
/// opaque to validation (RFC 6241 §4.1: the server only echoes it). So a
/// request equal to a remembered one once both message-id values are cut
/// out gets the remembered answer: the same answer libyang gave to the same
/// bytes. Only message-ids of plain characters are cut (no entity, no
/// character reference, nothing the pre-scan or libyang's parser looks at),
/// and refusals are never remembered, so every error answer comes from the
/// full path.
///
/// The operation element of a plain request ([`precheck`]) is remembered by
/// its bytes (it holds no message-id). The two kinds of key never meet:
/// a whole request's part after the message-id is never empty.
#[derive(Default)]
pub(super) struct Verdicts {
    entries: std::sync::Mutex<std::collections::VecDeque<Verdict>>,
}

struct Verdict {
    /// The request without its message-id value; `split` is where it was.
    bytes: Box<[u8]>,
    split: usize,
    rpc: ValidatedRpc,
}

impl Verdicts {
    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Verdict>> {
        // A panic elsewhere while holding the lock leaves whole entries only.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, (before, after): (&[u8], &[u8])) -> Option<ValidatedRpc> {
        let entries = self.entries();
        entries
            .iter()
            .find(|v| {
                v.split == before.len()
                    && v.bytes.len() == before.len() + after.len()
                    && v.bytes[..v.split] == *before
                    && v.bytes[v.split..] == *after
            })
            .map(|v| v.rpc.clone())
    }

    /// The remembered answer for `key`, else `compute`'s, remembered when
    /// it accepts (no key: computed, not remembered).
    fn through<E>(
        &self,
        key: Option<(&[u8], &[u8])>,
        compute: impl FnOnce() -> Result<ValidatedRpc, E>,
    ) -> Result<ValidatedRpc, E> {
        if let Some(hit) = key.and_then(|k| self.get(k)) {
            return Ok(hit);
        }
        let rpc = compute()?;
        if let Some(k) = key {
            self.put(k, &rpc);
        }
        Ok(rpc)
    }

    fn put(&self, (before, after): (&[u8], &[u8]), rpc: &ValidatedRpc) {
        let mut bytes = Vec::with_capacity(before.len() + after.len());
        bytes.extend_from_slice(before);
        bytes.extend_from_slice(after);
        let mut entries = self.entries();
        if entries.len() >= VERDICTS {
            entries.pop_front();
        }
        entries.push_back(Verdict {
            bytes: bytes.into_boxed_slice(),
            split: before.len(),
            rpc: rpc.clone(),
        });
    }
}

/// The request around the value of its `message-id`, when the request is
/// short, starts with the `<rpc` start tag (attributes in double quotes,
/// each once) and that value is made of plain characters; `None` otherwise
/// (the request is then validated in full, and not remembered).
pub(super) fn around_message_id(rpc_xml: &[u8]) -> Option<(&[u8], &[u8])> {
    if rpc_xml.len() > VERDICT_MAX_BYTES {
        return None;
    }
    let is_space = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut i = rpc_xml.iter().position(|b| !is_space(*b))?;
    let rest = rpc_xml.get(i..)?;
    if !rest.starts_with(b"<rpc") || !rest.get(4).copied().is_some_and(is_space) {
        return None;
    }
    i += 4;
    let mut found = None;
    loop {
        while rpc_xml.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        match rpc_xml.get(i)? {
            b'>' => break,
            b'=' | b'"' | b'\'' | b'/' | b'<' => return None,
            _ => {}
        }
        let name_start = i;
        while rpc_xml
            .get(i)
            .is_some_and(|b| !is_space(*b) && !matches!(b, b'=' | b'>' | b'/'))
        {
            i += 1;
        }
        let name = &rpc_xml[name_start..i];
        while rpc_xml.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        if rpc_xml.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        while rpc_xml.get(i).copied().is_some_and(is_space) {
            i += 1;
        }
        if rpc_xml.get(i) != Some(&b'"') {
            return None;
        }
        let value_start = i + 1;
        let value_len = rpc_xml
            .get(value_start..)?
            .iter()
            .position(|b| *b == b'"')?;
        let value_end = value_start + value_len;
        if name == b"message-id" {
            let plain = rpc_xml[value_start..value_end]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':'));
            if found.is_some() || !plain || value_len == 0 || value_len > MESSAGE_ID_MAX {
                return None;
            }
            found = Some((value_start, value_end));
        }
        i = value_end + 1;
    }
    let (start, end) = found?;
    Some((&rpc_xml[..start], &rpc_xml[end..]))
}

pub(super) fn validate_rpc(
    schema: &Schema,
    rpc_xml: &[u8],
) -> Result<ValidatedRpc, ValidationError> {
    let key = around_message_id(rpc_xml);
    schema
        .verdicts
        .through(key, || validate_full(schema, rpc_xml))
}

/// The operation element of a plain request (see [`scan::plain_rpc`])
/// accepted as an RPC of the schema, remembered like whole requests are
/// (keyed by the element's bytes, which hold no message-id); `None` when
/// libyang refuses it.
pub(super) fn precheck(schema: &Schema, op_xml: &[u8]) -> Option<ValidatedRpc> {
    let key = (op_xml.len() <= VERDICT_MAX_BYTES).then_some((op_xml, &[][..]));
    schema
        .verdicts
        .through(key, || accepted_operation(schema, op_xml).ok_or(()))
        .ok()
}

/// The operation element, which declares its own namespace, parsed by
/// libyang as a YANG RPC and validated with `lyd_validate_op`: the same
/// checks as the full path makes on the same element, without the `<rpc>`
/// envelope's opaque nodes nor the pre-scan's records (which only name
/// elements in refusals). `None` when libyang refuses: the full path then
/// parses the whole message and words the refusal, so every error answer
/// is made the one way.
fn accepted_operation(schema: &Schema, op_xml: &[u8]) -> Option<ValidatedRpc> {
    let anchor = schema.anchor()?;
    // Built from the lean scan's reading when it can be, so that the
    // bytes are read once; libyang's XML parser otherwise.
    let tree = match ffi_shim::build_rpc(&schema.ctx, &anchor, op_xml) {
        Some(tree) => tree,
        None => ffi_shim::parse_rpc_yang(&schema.ctx, &anchor, op_xml)?,
    };
    if !ffi_shim::validate_rpc_tree(&tree) {
        return None;
    }
    let op = tree.reference()?;
    if op.schema().kind() != SchemaNodeKind::Rpc {
        return None;
    }
    Some(validated(op))
}

/// The accepted request's operation and parameters (input leaves by their
/// path below the operation, canonical values).
fn validated(op: DataNodeRef<'_>) -> ValidatedRpc {
    let op_schema = op.schema();
    let module = op_schema.module();
    let mut leaves = Vec::new();
    for node in op.traverse().skip(1) {
        let s = node.schema();
        if !matches!(s.kind(), SchemaNodeKind::Leaf | SchemaNodeKind::LeafList) {
            continue;
        }
        // The names from the leaf up to the operation, written from the
        // end: one string per leaf (most parameters are the operation's
        // children, a single name).
        let mut path = String::new();
        for n in node
            .inclusive_ancestors()
            .take_while(|n| n.as_raw() != op.as_raw())
        {
            if !path.is_empty() {
                path.insert(0, '/');
            }
            path.insert_str(0, n.schema().name());
        }
        leaves.push((path, node.value_canonical().unwrap_or_default()));
    }
    ValidatedRpc {
        module: module.name().to_owned(),
        name: op_schema.name().to_owned(),
        namespace: module.namespace().to_owned(),
        leaves,
    }
}

/// Validation of the whole message as a NETCONF `<rpc>`, with the
/// pre-scan's records for the wording of refusals.
pub(super) fn validate_full(
    schema: &Schema,
    rpc_xml: &[u8],
) -> Result<ValidatedRpc, ValidationError> {
    let elements = scan::scan(rpc_xml, RECORD_DEPTH).map_err(|e| match e {
        // XML 1.0 §2.2: NUL is not a legal character: not well-formed.
        ScanError::Nul(at) => ValidationError::new(
            Problem::Malformed,
            format!("NUL byte at offset {at}: not allowed in XML"),
        ),
        ScanError::IllegalCharRef(at) => ValidationError::new(
            Problem::Malformed,
            format!("character reference at offset {at} names a character XML does not allow"),
        ),
        // The document is well-formed but beyond what we parse: RFC 6241
        // Appendix A too-big ("too large for the implementation to handle").
        ScanError::TooDeep(_) => ValidationError::new(
            Problem::TooDeep,
            format!("XML elements nested deeper than {} levels", scan::MAX_DEPTH),
        ),
    })?;
    let Some(anchor) = schema.anchor() else {
        return Err(ValidationError::new(
            Problem::Failed,
            "schema context has no module",
        ));
    };
    let ctx = &schema.ctx;
    ffi_shim::clear_errors(&anchor);
    let mut tree =
        match DataTreeOwningRef::parse_netconf_rpc_op(ctx, rpc_xml, DataParserFlags::STRICT) {
            Ok(tree) => tree,
            Err(_) => {
                let err = ffi_shim::last_error(&anchor);
                return Err(Mapper::new(schema, &elements).parse_error(err));
            }
        };
    if tree.noderef().as_raw().is_null() {
        return Err(ValidationError::new(
            Problem::Malformed,
            "<rpc> holds no operation element",
        ));
    }
    ffi_shim::clear_errors(&anchor);
    if !ffi_shim::validate_rpc_op(&mut tree) {
        let err = ffi_shim::last_error(&anchor);
        return Err(Mapper::new(schema, &elements).validation_error(err));
    }

    Ok(validated(tree.noderef()))
}

/// The operation element and its children, from the pre-scan.
struct Envelope<'e> {
    op: Option<&'e Element>,
    children: Vec<&'e Element>,
}

impl<'e> Envelope<'e> {
    fn new(elements: &'e [Element]) -> Self {
        let op = elements.iter().position(|e| e.depth == 2);
        let children = match op {
            Some(i) => elements[i + 1..]
                .iter()
                .take_while(|e| e.depth == 3)
                .collect(),
            None => Vec::new(),
        };
        Envelope {
            op: op.map(|i| &elements[i]),
            children,
        }
    }
}

/// The RPC of the request, once its element is known to name one.
struct Target<'s> {
    module: SchemaModule<'s>,
    rpc: SchemaNode<'s>,
}

struct Mapper<'s, 'e> {
    schema: &'s Schema,
    env: Envelope<'e>,
}

fn refusal(problem: Problem, message: impl Into<String>) -> ValidationError {
    ValidationError::new(problem, message)
}

/// The names between double quotes in a libyang message, in order.
fn quoted(message: &str) -> Vec<&str> {
    message.split('"').skip(1).step_by(2).collect()
}

/// Last segment of a libyang path, without module prefix or predicates.
fn last_segment(path: &str) -> &str {
    let seg = path.rsplit('/').next().unwrap_or(path);
    let seg = seg.split('[').next().unwrap_or(seg);
    seg.rsplit(':').next().unwrap_or(seg)
}

impl<'s, 'e> Mapper<'s, 'e> {
    fn new(schema: &'s Schema, elements: &'e [Element]) -> Self {
        Mapper {
            schema,
            env: Envelope::new(elements),
        }
    }

    fn ctx(&self) -> &'s yang5::context::Context {
        &self.schema.ctx
    }

    /// Is any module of the context (or NETCONF itself) in this namespace?
    fn namespace_known(&self, ns: &str) -> bool {
        ns == NETCONF_BASE_NS || self.ctx().modules(false).any(|m| m.namespace() == ns)
    }

    fn target(&self) -> Option<Target<'s>> {
        let op = self.env.op?;
        let module = self.ctx().get_module_implemented_ns(&op.namespace)?;
        let rpc = module.rpcs().find(|r| r.name() == op.local_name)?;
        Some(Target { module, rpc })
    }

    /// `/prefix:rpc` in XML form, with the namespace the prefix needs.
    fn rpc_path(&self, t: &Target<'_>) -> (String, String, String) {
        let prefix = t.module.prefix().to_owned();
        (
            format!("/{prefix}:{}", t.rpc.name()),
            prefix,
            t.module.namespace().to_owned(),
        )
    }

    fn at_rpc(&self, e: ValidationError, t: &Target<'_>) -> ValidationError {
        let (path, prefix, ns) = self.rpc_path(t);
        e.with_path(path).with_path_ns(prefix, ns)
    }

    fn at_child(&self, e: ValidationError, t: &Target<'_>, child: &str) -> ValidationError {
        let (path, prefix, ns) = self.rpc_path(t);
        e.with_path(format!("{path}/{prefix}:{child}"))
            .with_path_ns(prefix, ns)
    }

    /// A libyang data path (`/module:a/b`) in XML form (`/p:a/p:b`) with the
    /// namespace declarations of its prefixes (RFC 6241 §4.3 error-path).
    fn xml_path(&self, data_path: &str) -> Option<(String, Vec<(String, String)>)> {
        let mut out = String::new();
        let mut decls: Vec<(String, String)> = Vec::new();
        let mut module: Option<SchemaModule<'s>> = None;
        for seg in data_path.split('/').filter(|s| !s.is_empty()) {
            if seg.contains('[') {
                // Predicates are not produced for RPC input; keep it simple.
                return None;
            }
            let name = match seg.split_once(':') {
                Some((m, n)) => {
                    module = Some(self.ctx().get_module_implemented(m)?);
                    n
                }
                None => seg,
            };
            let m = module.as_ref()?;
            let (prefix, ns) = (m.prefix().to_owned(), m.namespace().to_owned());
            out.push('/');
            out.push_str(&prefix);
            out.push(':');
            out.push_str(name);
            if !decls.iter().any(|(p, _)| *p == prefix) {
                decls.push((prefix, ns));
            }
        }
        Some((out, decls))
    }

    fn with_data_path(&self, mut e: ValidationError, data_path: &str) -> ValidationError {
        if let Some((path, decls)) = self.xml_path(data_path) {
            e = e.with_path(path);
            for (p, ns) in decls {
                e = e.with_path_ns(p, ns);
            }
        }
        e
    }

    /// Errors of the parser: syntax, unknown operation or element, values.
    fn parse_error(&self, err: Option<LyError>) -> ValidationError {
        let Some(err) = err else {
            return refusal(
                Problem::Failed,
                "validation failed without a libyang error record",
            );
        };
        if err.vecode == LyVecode::Syntax {
            return refusal(Problem::Malformed, err.message);
        }
        let Some(op) = self.env.op else {
            return refusal(Problem::Malformed, err.message);
        };
        let Some(target) = self.target() else {
            return self.unknown_operation(op);
        };

        if let Some(e) = self.envelope_error(&target) {
            return e;
        }

        if err.vecode == LyVecode::Data
            && let Some(path) = err.data_path.as_deref().filter(|p| p.contains('/'))
            && last_segment(path) != target.rpc.name()
        {
            // Type, range, length, pattern, enumeration: invalid-value at
            // the leaf (SPEC §6), libyang's app-tag if it has one.
            let leaf = last_segment(path).to_owned();
            let mut e = refusal(
                Problem::InvalidValue,
                format!("invalid {leaf}: {}", err.message),
            );
            if let Some(tag) = err.app_tag {
                e = e.with_app_tag(tag);
            }
            return self.with_data_path(e, path).with_bad_element(leaf);
        }
        self.fallback(err, &target)
    }

    /// What the pre-scan alone can tell, in document order: a child that is
    /// no input node of the RPC, or the same parameter twice.
    fn envelope_error(&self, target: &Target<'_>) -> Option<ValidationError> {
        let known = input_nodes(&target.rpc);
        let rpc_ns = target.module.namespace();
        for child in &self.env.children {
            let is_known = child.namespace == rpc_ns && known.contains(&child.local_name);
            if !is_known {
                return Some(self.unknown_child(target, child));
            }
        }
        // The same parameter twice: RFC 6241 Appendix A bad-element ("an
        // element value is not correct"), like two cases of a choice.
        for (i, child) in self.env.children.iter().enumerate() {
            let repeated = self.env.children[..i]
                .iter()
                .any(|c| c.local_name == child.local_name);
            // Lists and leaf-lists may repeat (RFC 7950 §7.7, §7.8).
            if repeated && !self.may_repeat(target, &child.local_name) {
                let e = refusal(
                    Problem::BadElement,
                    format!(
                        "{} is given more than once in {}",
                        child.local_name,
                        target.rpc.name()
                    ),
                )
                .with_bad_element(&child.local_name);
                return Some(self.at_child(e, target, &child.local_name));
            }
        }
        None
    }

    /// The operation element names no RPC of the context.
    fn unknown_operation(&self, op: &Element) -> ValidationError {
        if !self.namespace_known(&op.namespace) {
            // RFC 6241 Appendix A: unknown-namespace, error-info
            // bad-element + bad-namespace.
            return refusal(
                Problem::UnknownNamespace,
                format!(
                    "namespace {} of element {} is not known to this server",
                    op.namespace, op.local_name
                ),
            )
            .with_bad_element(&op.local_name)
            .with_bad_namespace(&op.namespace);
        }
        refusal(
            Problem::UnknownElement,
            format!(
                "{} is not an operation of namespace {}",
                op.local_name, op.namespace
            ),
        )
        .with_bad_element(&op.local_name)
    }

    /// A child of the operation element that is not one of its parameters.
    fn unknown_child(&self, target: &Target<'_>, child: &Element) -> ValidationError {
        let rpc = target.rpc.name();
        if !self.namespace_known(&child.namespace) {
            let e = refusal(
                Problem::UnknownNamespace,
                format!(
                    "namespace {} of element {} is not known to this server",
                    child.namespace, child.local_name
                ),
            )
            .with_bad_element(&child.local_name)
            .with_bad_namespace(&child.namespace);
            return self.at_rpc(e, target);
        }
        if child.namespace == target.module.namespace()
            && let Some(gate) = self
                .schema
                .gates
                .iter()
                .find(|g| g.rpc == rpc && g.element == child.local_name)
        {
            // SPEC §4: name the model and mode that lack the feature.
            let e = refusal(
                Problem::UnknownElement,
                format!(
                    "{} is not supported on {}: the device model lacks feature {}",
                    child.local_name,
                    self.schema.profile.describe(),
                    gate.feature
                ),
            )
            .with_bad_element(&child.local_name);
            return self.at_rpc(e, target);
        }
        let e = refusal(
            Problem::UnknownElement,
            format!("{} is not a parameter of {rpc}", child.local_name),
        )
        .with_bad_element(&child.local_name);
        self.at_rpc(e, target)
    }

    /// Errors of `lyd_validate_op`: mandatory nodes and choices.
    fn validation_error(&self, err: Option<LyError>) -> ValidationError {
        let Some(err) = err else {
            return refusal(
                Problem::Failed,
                "validation failed without a libyang error record",
            );
        };
        let Some(target) = self.target() else {
            return refusal(Problem::Failed, err.message);
        };
        if let Some(e) = self.envelope_error(&target) {
            return e;
        }
        let schema_last = err.schema_path.as_deref().map(last_segment);

        // RFC 7950 §15.6: a mandatory choice without data has error-app-tag
        // "missing-choice"; in an RPC input the element is missing, so the
        // tag is missing-element (RFC 6241 Appendix A), and bad-element
        // carries the choice's name (§15.6 puts it in error-info).
        if err.app_tag.as_deref() == Some("missing-choice") {
            let choice = schema_last
                .map(str::to_owned)
                .or_else(|| quoted(&err.message).first().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            let cases = self.choice_elements(&target, &choice);
            let e = refusal(
                Problem::MissingElement,
                format!(
                    "{} needs one {choice}: one of {}",
                    target.rpc.name(),
                    cases.join(", ")
                ),
            )
            .with_app_tag("missing-choice")
            .with_bad_element(choice);
            return self.at_rpc(e, &target);
        }

        if err.message.starts_with("Mandatory node") {
            let name = quoted(&err.message)
                .first()
                .map(|s| (*s).to_owned())
                .or_else(|| schema_last.map(str::to_owned))
                .unwrap_or_default();
            let e = refusal(
                Problem::MissingElement,
                format!("{} needs the mandatory element {name}", target.rpc.name()),
            )
            .with_bad_element(name);
            return self.at_rpc(e, &target);
        }

        if err.message.starts_with("Data for both cases") {
            // The two cases; bad-element is the element that came second
            // in the request (the one that made the request ambiguous).
            let cases: Vec<String> = quoted(&err.message)
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let case_of = |name: &str| self.case_of(&target, name);
            let mut first: Option<(String, String)> = None;
            for child in &self.env.children {
                let Some(case) = case_of(&child.local_name) else {
                    continue;
                };
                if !cases.contains(&case) {
                    continue;
                }
                match &first {
                    None => first = Some((child.local_name.clone(), case)),
                    Some((fname, fcase)) if *fcase != case => {
                        let choice = schema_last.unwrap_or("choice");
                        let e = refusal(
                            Problem::BadElement,
                            format!(
                                "{fname} and {} are alternatives of choice {choice}: give only one",
                                child.local_name
                            ),
                        )
                        .with_bad_element(&child.local_name);
                        return self.at_child(e, &target, &child.local_name);
                    }
                    Some(_) => {}
                }
            }
            let e = refusal(Problem::BadElement, err.message);
            return self.at_rpc(e, &target);
        }

        self.fallback(err, &target)
    }

    /// Anything else libyang refuses (e.g. a `must`, RFC 7950 §15.4):
    /// operation-failed with libyang's words and app-tag.
    fn fallback(&self, err: LyError, target: &Target<'_>) -> ValidationError {
        let mut e = refusal(Problem::Failed, err.message);
        if let Some(tag) = err.app_tag {
            e = e.with_app_tag(tag);
        }
        match err.data_path.as_deref() {
            Some(p) => self.with_data_path(e, p),
            None => self.at_rpc(e, target),
        }
    }

    /// Is the input node `element` a list or leaf-list?
    fn may_repeat(&self, target: &Target<'_>, element: &str) -> bool {
        fn find(node: SchemaNode<'_>, element: &str) -> bool {
            match node.kind() {
                SchemaNodeKind::Case | SchemaNodeKind::Choice => {
                    node.children().any(|c| find(c, element))
                }
                SchemaNodeKind::List | SchemaNodeKind::LeafList => node.name() == element,
                _ => false,
            }
        }
        target
            .rpc
            .input()
            .is_some_and(|(mut children, _)| children.any(|c| find(c, element)))
    }

    /// Name of the case that holds the input node `element`, if any.
    fn case_of(&self, target: &Target<'_>, element: &str) -> Option<String> {
        fn find(node: SchemaNode<'_>, element: &str, case: Option<&str>) -> Option<String> {
            match node.kind() {
                SchemaNodeKind::Case => {
                    let name = node.name().to_owned();
                    node.children().find_map(|c| find(c, element, Some(&name)))
                }
                SchemaNodeKind::Choice => node.children().find_map(|c| find(c, element, case)),
                _ if node.name() == element => case.map(str::to_owned),
                _ => None,
            }
        }
        let (children, _) = target.rpc.input()?;
        children.into_iter().find_map(|c| find(c, element, None))
    }

    /// The element names that can satisfy a choice (its cases' top nodes).
    fn choice_elements(&self, target: &Target<'_>, choice: &str) -> Vec<String> {
        fn data_names(node: SchemaNode<'_>, out: &mut Vec<String>) {
            match node.kind() {
                SchemaNodeKind::Case | SchemaNodeKind::Choice => {
                    for c in node.children() {
                        data_names(c, out);
                    }
                }
                _ => out.push(node.name().to_owned()),
            }
        }
        let mut out = Vec::new();
        if let Some((children, _)) = target.rpc.input() {
            for c in children {
                if c.kind() == SchemaNodeKind::Choice && c.name() == choice {
                    data_names(c, &mut out);
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_cut_only_when_plain() {
        let r =
            br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="42"><x/></rpc>"#;
        let (a, b) = around_message_id(r).unwrap();
        assert!(a.ends_with(b"message-id=\""));
        assert!(b.starts_with(b"\"><x/>"));
        assert_eq!(a.len() + 2 + b.len(), r.len());
        // Leading whitespace, spaces around '=' and other attributes.
        let (a, _) = around_message_id(b"\n <rpc a=\"1\" message-id = \"m.1:x_y-z\" >").unwrap();
        assert!(a.ends_with(b"message-id = \""));
        for refused in [
            // Not plain: an entity, a character reference, a space.
            &br#"<rpc message-id="a&amp;b"><x/></rpc>"#[..],
            br#"<rpc message-id="&#49;"><x/></rpc>"#,
            br#"<rpc message-id="a b"><x/></rpc>"#,
            // Empty, twice, single quotes, none, prefixed only.
            br#"<rpc message-id=""><x/></rpc>"#,
            br#"<rpc message-id="1" message-id="2"><x/></rpc>"#,
            br#"<rpc message-id='1'><x/></rpc>"#,
            br#"<rpc xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><x/></rpc>"#,
            br#"<rpc nc:message-id="1"><x/></rpc>"#,
            // Not an <rpc> start tag first; self-closing; unterminated.
            br#"<?xml version="1.0"?><rpc message-id="1"><x/></rpc>"#,
            br#"<rpcx message-id="1"><x/></rpcx>"#,
            br#"<rpc message-id="1"/>"#,
            br#"<rpc message-id="1"#,
            b"",
        ] {
            assert_eq!(
                around_message_id(refused),
                None,
                "{}",
                String::from_utf8_lossy(refused)
            );
        }
        let long = format!(
            r#"<rpc message-id="{}"><x/></rpc>"#,
            "1".repeat(MESSAGE_ID_MAX + 1)
        );
        assert_eq!(around_message_id(long.as_bytes()), None);
        let big = format!(
            r#"<rpc message-id="1"><x>{}</x></rpc>"#,
            "y".repeat(VERDICT_MAX_BYTES)
        );
        assert_eq!(around_message_id(big.as_bytes()), None);
    }

    /// The remembered verdicts never answer differently from the full path:
    /// every request of the catalogue (tests/cases), on every profile, sent
    /// three times with other message-ids, gets exactly the answer of an
    /// uncached validation, errors included.
    #[test]
    fn remembered_verdicts_equal_full_validation_over_the_catalogue() {
        use crate::schema::DeviceProfile;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
        let mut requests: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".request.xml"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        requests.sort();
        assert!(requests.len() >= 25, "only {} requests", requests.len());
        let mut hits = 0;
        for (model, mode) in [("CE8855", None), ("CE6885-LL", Some("low-latency"))] {
            let schema = Schema::load(DeviceProfile::lookup(model, mode).unwrap()).unwrap();
            for (name, request) in &requests {
                let text = String::from_utf8_lossy(request).into_owned();
                let full = schema.validate_rpc_uncached(request);
                for id in ["1", "77", "m-3"] {
                    let again =
                        text.replacen(r#"message-id="1""#, &format!(r#"message-id="{id}""#), 1);
                    let cached_before = around_message_id(again.as_bytes())
                        .and_then(|k| schema.verdicts.get(k))
                        .is_some();
                    hits += usize::from(cached_before);
                    assert_eq!(
                        schema.validate_rpc(again.as_bytes()),
                        full,
                        "{name} on {model} with message-id {id}"
                    );
                    assert_eq!(
                        schema.validate_rpc_uncached(again.as_bytes()),
                        full,
                        "{name} on {model} with message-id {id}, uncached"
                    );
                    if cached_before {
                        assert!(full.is_ok(), "{name}: a refusal was remembered");
                    }
                }
            }
        }
        // The valid requests of the catalogue were answered from memory.
        assert!(hits >= 10, "only {hits} remembered answers");
    }

    /// The path without the envelope never accepts what the full path
    /// refuses, and accepts with the same result: over the catalogue
    /// (tests/cases) on both profiles, and over variants of a valid request
    /// whose envelope is not plain or whose operation depends on it.
    #[test]
    fn operation_alone_agrees_with_the_full_path() {
        use crate::schema::DeviceProfile;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
        let mut requests: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".request.xml"))
            .map(|p| std::fs::read(&p).unwrap())
            .collect();
        requests.sort();
        let base = "urn:ietf:params:xml:ns:netconf:base:1.0";
        let vpn = "urn:ncagent:yang:ncagent-bgp-vpn-target";
        let body = "<all/><direction>import</direction>";
        let variants = [
            // Plain, with and without declarations, odd spacing.
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<?xml version="1.0"?>  <rpc  message-id='1'  xmlns='{base}' >  <refresh-bgp-vpn-target xmlns='{vpn}' >{body}</refresh-bgp-vpn-target >  </rpc >  "#
            ),
            format!(
                r#"<?xml version="1.1"?><rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            // The operation uses a prefix the envelope declares.
            format!(
                r#"<rpc xmlns="{base}" xmlns:v="{vpn}" message-id="1"><v:refresh-bgp-vpn-target>{}</v:refresh-bgp-vpn-target></rpc>"#,
                "<v:all/><v:direction>import</v:direction>"
            ),
            format!(
                r#"<nc:rpc xmlns:nc="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></nc:rpc>"#
            ),
            // The operation inherits the envelope's namespace.
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target>{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{vpn}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            // Text, comments, two operations, none, trailing content.
            format!(
                r#"<rpc xmlns="{base}" message-id="1">x<refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target>x</rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><!-- c --><refresh-bgp-vpn-target xmlns="{vpn}"><!-- c -->{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(r#"<rpc xmlns="{base}" message-id="1"></rpc>"#),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc><x/>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpcx>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</wrong></rpc>"#
            ),
            // Envelope attributes: prefixed, repeated, entities.
            format!(
                r#"<rpc xmlns="{base}" x:a="1" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1" message-id="2"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="&bogus;"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}"message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            // Content the parser judges: entities, CDATA, unknown elements.
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}"><all/><direction>im&#112;ort</direction></refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}"><all/><direction><![CDATA[import]]></direction></refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}"><all/><direction>import</direction><x/></refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}"><all/><direction>import</direction><all/></refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}"><all/></refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}" a="1">{body}</refresh-bgp-vpn-target></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><refresh-bgp-vpn-target xmlns="{vpn}">{body}<a>{}</a></refresh-bgp-vpn-target></rpc>"#,
                "<a>".repeat(70)
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><get-config><source><running/></source></get-config></rpc>"#
            ),
            format!(
                r#"<rpc xmlns="{base}" message-id="1"><get-config xmlns="{base}"><source><running/></source></get-config></rpc>"#
            ),
        ];
        requests.extend(variants.iter().map(|v| v.as_bytes().to_vec()));
        let (mut fast, mut built) = (0, 0);
        for (model, mode) in [("CE8855", None), ("CE6885-LL", Some("low-latency"))] {
            let schema = Schema::load(DeviceProfile::lookup(model, mode).unwrap()).unwrap();
            for request in &requests {
                let text = String::from_utf8_lossy(request);
                let full = validate_full(&schema, request);
                let plain = scan::plain_rpc(request, NETCONF_BASE_NS.as_bytes());
                if let Some(rpc) = plain
                    .clone()
                    .and_then(|p| precheck(&schema, &request[p.op]))
                {
                    fast += 1;
                    assert_eq!(Ok(rpc), full, "{text} on {model}");
                }
                // Built from the scan's pieces: what validation accepts of
                // it, the full path accepts the same.
                let anchor = schema.anchor().unwrap();
                if let Some(tree) =
                    plain.and_then(|p| ffi_shim::build_rpc(&schema.ctx, &anchor, &request[p.op]))
                {
                    built += 1;
                    if ffi_shim::validate_rpc_tree(&tree) {
                        assert_eq!(Ok(validated(tree.reference().unwrap())), full, "{text}");
                    } else {
                        assert!(full.is_err(), "{text}");
                    }
                }
            }
        }
        // The catalogue's valid requests and the plain variants took it.
        assert!(fast >= 20, "only {fast} requests without the envelope");
        assert!(built >= fast, "only {built} of {fast} built from the scan");
        assert!(scan::plain_rpc(variants[0].as_bytes(), NETCONF_BASE_NS.as_bytes()).is_some());
        for v in &variants[3..] {
            if let Some(r) = scan::plain_rpc(v.as_bytes(), NETCONF_BASE_NS.as_bytes()) {
                assert!(
                    !v.contains("xmlns:") && !v.contains("<!--") && !v.contains("&#"),
                    "{v} {r:?}"
                );
            }
        }
    }

    /// What the tree built from the scan's pieces leaves to libyang's
    /// parser: the parser then decides, so the answer is the same.
    #[test]
    fn built_tree_leaves_the_unusual_to_the_parser() {
        use crate::schema::DeviceProfile;
        let schema = Schema::load(DeviceProfile::lookup("CE8855", None).unwrap()).unwrap();
        let anchor = schema.anchor().unwrap();
        let vpn = "urn:ncagent:yang:ncagent-bgp-vpn-target";
        let op = |body: &str| {
            format!("<refresh-bgp-vpn-target xmlns=\"{vpn}\">{body}</refresh-bgp-vpn-target>")
        };
        let build = |xml: &str| ffi_shim::build_rpc(&schema.ctx, &anchor, xml.as_bytes());
        assert!(build(&op("<all/><direction>import</direction>")).is_some());
        assert!(
            build(&op(
                "\n  <group> a &amp; b </group>\n  <direction>export</direction>\n"
            ))
            .is_some()
        );
        for body in [
            // A carriage return in a value, text between parameters, a
            // parameter twice, an unknown one, a bad value, a container
            // where a leaf is.
            "<group>a\r\nb</group><direction>import</direction>",
            "<all/>x<direction>import</direction>",
            "<all/><direction>import</direction><direction>import</direction>",
            "<all/><direction>import</direction><colour/>",
            "<all/><direction>sideways</direction>",
            "<all><x/></all><direction>import</direction>",
        ] {
            assert!(build(&op(body)).is_none(), "{body}");
        }
        // Not an RPC of the module.
        assert!(build(&format!("<direction xmlns=\"{vpn}\">import</direction>")).is_none());
        assert!(build("<refresh-bgp-vpn-target xmlns=\"urn:unknown\"/>").is_none());
    }

    #[test]
    fn verdicts_are_bounded() {
        let v = Verdicts::default();
        let rpc = ValidatedRpc {
            module: "m".into(),
            name: "n".into(),
            namespace: "ns".into(),
            leaves: vec![],
        };
        for i in 0..3 * VERDICTS {
            let before = format!("<rpc a=\"{i}\" message-id=\"");
            v.put((before.as_bytes(), b"\"/>"), &rpc);
        }
        assert_eq!(v.entries().len(), VERDICTS);
        // The newest are kept, the oldest gone.
        let newest = format!("<rpc a=\"{}\" message-id=\"", 3 * VERDICTS - 1);
        assert!(v.get((newest.as_bytes(), b"\"/>")).is_some());
        assert!(v.get((b"<rpc a=\"0\" message-id=\"", b"\"/>")).is_none());
        // Same bytes, cut elsewhere: not the same request.
        let whole = format!("{newest}\"/>");
        assert!(
            v.get((&whole.as_bytes()[..5], &whole.as_bytes()[5..]))
                .is_none()
        );
    }

    #[test]
    fn quoted_and_segments() {
        assert_eq!(
            quoted("Data for both cases \"all\" and \"external\" exist."),
            vec!["all", "external"]
        );
        assert_eq!(last_segment("/m:a/b"), "b");
        assert_eq!(last_segment("/m:a/m:c[k='1']"), "c");
        assert_eq!(last_segment("x"), "x");
    }
}
