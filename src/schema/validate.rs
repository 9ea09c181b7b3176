//! `<rpc>` validation with libyang, and the reading of its errors as
//! [`ValidationError`]s in RFC 6241 Appendix A terms (SPEC §6); `northbound`
//! turns them into `<rpc-error>`s. The table is in `docs/yang.md`.
//!
//! libyang decides whether the request is valid; this file only decides how
//! a refusal reads on the wire. Where libyang's record is not enough (it
//! orders siblings by schema and does not keep the namespace of unknown
//! elements) the pre-scan of [`super::scan`] supplies document order and
//! namespaces.

use yang5::data::{DataParserFlags, DataTreeOwningRef};
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

pub(super) fn validate_rpc(
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

    let op = tree.noderef();
    let op_schema = op.schema();
    let module = op_schema.module();
    let mut leaves = Vec::new();
    for node in op.traverse().skip(1) {
        let s = node.schema();
        if !matches!(s.kind(), SchemaNodeKind::Leaf | SchemaNodeKind::LeafList) {
            continue;
        }
        let mut names: Vec<String> = node
            .inclusive_ancestors()
            .take_while(|n| n.as_raw() != op.as_raw())
            .map(|n| n.schema().name().to_owned())
            .collect();
        names.reverse();
        leaves.push((names.join("/"), node.value_canonical().unwrap_or_default()));
    }
    Ok(ValidatedRpc {
        module: module.name().to_owned(),
        name: op_schema.name().to_owned(),
        namespace: module.namespace().to_owned(),
        leaves,
    })
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
