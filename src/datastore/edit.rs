//! `<edit-config>`'s `<config>` applied to a tree (RFC 6241 §7.2).
//!
//! libyang parses the XML (with `nc:operation` attributes as metadata of
//! the `ietf-netconf` annotation) but has no edit-config semantics of its
//! own, so they are here: every node of the edit tree carries an effective
//! operation (its own attribute, else its parent's, else the
//! default-operation) and is applied to the target by data path with
//! `lyd_new_path` (create/update) and `lyd_free_tree` (delete).

use yang5::data::{DataNodeRef, DataTree};
use yang5::iter::NodeIterable;
use yang5::schema::SchemaNodeKind;

use super::error::{DatastoreError, ErrorTag};
use super::{ffi, ly};

/// The NETCONF base namespace, where the `operation` attribute lives
/// (RFC 6241 §7.2).
const NETCONF_BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// RFC 6241 §7.2 `operation` attribute values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Merge,
    Replace,
    Create,
    Delete,
    Remove,
    /// Only as default-operation (and inherited from it): the node is
    /// context for its descendants' operations.
    None,
}

impl Operation {
    fn parse(value: &str) -> Option<Operation> {
        match value {
            "merge" => Some(Self::Merge),
            "replace" => Some(Self::Replace),
            "create" => Some(Self::Create),
            "delete" => Some(Self::Delete),
            "remove" => Some(Self::Remove),
            _ => None,
        }
    }
}

/// The node's own `nc:operation`, if any.
fn own_operation(node: &DataNodeRef<'_>) -> Result<Option<Operation>, DatastoreError> {
    for meta in node.meta() {
        if meta.name() == "operation" {
            return Operation::parse(meta.value()).map(Some).ok_or_else(|| {
                let mut e = DatastoreError::new(
                    ErrorTag::BadAttribute,
                    format!("unknown operation \"{}\"", meta.value()),
                )
                .at(node.path());
                e.bad_attribute = Some("operation".to_owned());
                e
            });
        }
    }
    Ok(None)
}

/// Whether `tree` carries any `nc:operation` attribute (copy-config and
/// datastore files must not: RFC 6241 §7.3 copies plain configuration).
pub(crate) fn has_operation_attribute(tree: &DataTree<'_>) -> Option<String> {
    tree.traverse()
        .find(|n| n.meta().any(|m| m.name() == "operation"))
        .map(|n| n.path())
}

/// Applies every top-level node of `edit` to `target`. Errors are pushed to
/// `errors`; with `stop_at_first` the walk ends at the first.
pub(crate) fn apply(
    target: &mut DataTree<'_>,
    edit: &DataTree<'_>,
    default_op: Operation,
    stop_at_first: bool,
    errors: &mut Vec<DatastoreError>,
) {
    let Some(first) = edit.reference() else {
        return;
    };
    for node in first.inclusive_siblings() {
        if apply_node(target, &node, default_op, stop_at_first, errors).is_break() {
            return;
        }
    }
}

type Flow = std::ops::ControlFlow<()>;

fn fail(errors: &mut Vec<DatastoreError>, e: DatastoreError, stop: bool) -> Flow {
    errors.push(e);
    if stop {
        Flow::Break(())
    } else {
        Flow::Continue(())
    }
}

fn apply_node(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    inherited: Operation,
    stop: bool,
    errors: &mut Vec<DatastoreError>,
) -> Flow {
    if let Some(o) = ffi::opaque(node, NETCONF_BASE_NS) {
        return apply_valueless(target, node, &o, inherited, stop, errors);
    }
    let op = match own_operation(node) {
        Ok(Some(op)) => op,
        Ok(None) => inherited,
        Err(e) => return fail(errors, e, stop),
    };
    let schema = node.schema();
    let path = node.path();
    // Keys identify their list entry; they are created with it.
    if schema.is_list_key() {
        if op != inherited && !matches!(op, Operation::Merge | Operation::Replace) {
            let mut e = DatastoreError::new(
                ErrorTag::BadAttribute,
                format!("a list key cannot take operation {op:?}"),
            )
            .at(path);
            e.bad_attribute = Some("operation".to_owned());
            return fail(errors, e, stop);
        }
        return Flow::Continue(());
    }
    let exists = ly::exists(target, &path);
    let is_term = matches!(
        schema.kind(),
        SchemaNodeKind::Leaf | SchemaNodeKind::LeafList
    );
    match op {
        Operation::None => {
            if is_term {
                return Flow::Continue(());
            }
            // RFC 6241 §7.2 "none": data for a level the datastore lacks.
            // A non-presence container has no existence of its own
            // (RFC 7950 §7.5.1): it is never missing.
            if !exists && !schema.is_np_container() && subtree_needs_parent(node) {
                let e = DatastoreError::new(
                    ErrorTag::DataMissing,
                    "the datastore has no such node for the nested operation",
                )
                .at(path);
                return fail(errors, e, stop);
            }
            children(target, node, Operation::None, stop, errors)
        }
        Operation::Delete | Operation::Remove => {
            if !exists {
                if op == Operation::Delete {
                    // RFC 6241 §7.2: delete of absent data is data-missing.
                    let e = DatastoreError::new(ErrorTag::DataMissing, "no such data to delete")
                        .at(path);
                    return fail(errors, e, stop);
                }
                return Flow::Continue(());
            }
            match target.remove(&path) {
                Ok(()) => Flow::Continue(()),
                Err(e) => fail(
                    errors,
                    DatastoreError::internal(e.to_string()).at(path),
                    stop,
                ),
            }
        }
        Operation::Create if exists => {
            // RFC 6241 §7.2: create of existing data is data-exists.
            let e = DatastoreError::new(ErrorTag::DataExists, "the data already exists").at(path);
            fail(errors, e, stop)
        }
        Operation::Replace if exists && !is_term => {
            if let Err(e) = target.remove(&path) {
                return fail(
                    errors,
                    DatastoreError::internal(e.to_string()).at(path),
                    stop,
                );
            }
            set(target, node, &path, is_term, stop, errors)?;
            children(target, node, Operation::Merge, stop, errors)
        }
        Operation::Merge | Operation::Replace | Operation::Create => {
            set(target, node, &path, is_term, stop, errors)?;
            // Below a created or replaced node nothing pre-exists: merge is
            // the same and lets nested operations still apply.
            children(target, node, Operation::Merge, stop, errors)
        }
    }
}

/// Creates the node (with its parents and list keys) or updates a leaf.
fn set(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    path: &str,
    is_term: bool,
    stop: bool,
    errors: &mut Vec<DatastoreError>,
) -> Flow {
    let value = if is_term && node.schema().kind() == SchemaNodeKind::Leaf {
        node.value_canonical()
    } else {
        None
    };
    match target.new_path(path, value.as_deref(), false) {
        Ok(_) => Flow::Continue(()),
        Err(e) => fail(
            errors,
            DatastoreError::new(ErrorTag::OperationFailed, e.to_string()).at(path),
            stop,
        ),
    }
}

fn children(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    op: Operation,
    stop: bool,
    errors: &mut Vec<DatastoreError>,
) -> Flow {
    for child in node.children() {
        apply_node(target, &child, op, stop, errors)?;
    }
    Flow::Continue(())
}

/// Whether a descendant of `node` (under an inherited `none`) asks for an
/// operation that needs `node` to exist: anything but delete/remove.
fn subtree_needs_parent(node: &DataNodeRef<'_>) -> bool {
    node.children().any(|c| {
        // Opaque children are value-less deletes and removes.
        if ffi::opaque(&c, NETCONF_BASE_NS).is_some() || c.schema().is_list_key() {
            return false;
        }
        match own_operation(&c).ok().flatten() {
            Some(Operation::Delete | Operation::Remove) => false,
            Some(_) => true,
            None => subtree_needs_parent(&c),
        }
    })
}

/// The effective operation of an opaque node: its own attribute, else the
/// nearest ancestor's.
fn opaque_operation(node: &DataNodeRef<'_>, o: &ffi::Opaque) -> Option<Operation> {
    if let Some(op) = &o.operation {
        return Operation::parse(op);
    }
    node.ancestors()
        .find_map(|a| own_operation(&a).ok().flatten())
}

/// Whether every opaque node of a leniently parsed edit is a leaf of its
/// (schema) parent named for delete or remove, without children: the only
/// thing [`super::ly::parse_edit`] accepts beyond a strict parse.
pub(crate) fn opaque_nodes_are_valueless_deletes(tree: &DataTree<'_>) -> bool {
    tree.traverse().all(|n| {
        let Some(o) = ffi::opaque(&n, NETCONF_BASE_NS) else {
            return true;
        };
        let Some(parent) = n.parent() else {
            return false;
        };
        if o.has_children || ffi::opaque(&parent, NETCONF_BASE_NS).is_some() {
            return false;
        }
        let pschema = parent.schema();
        let is_leaf = pschema.children().any(|c| {
            c.name() == o.name
                && c.kind() == SchemaNodeKind::Leaf
                && c.module().namespace() == o.namespace
                && !c.is_list_key()
        });
        is_leaf
            && matches!(
                opaque_operation(&n, &o),
                Some(Operation::Delete | Operation::Remove)
            )
    })
}

/// Deletes or removes a leaf given without a value.
fn apply_valueless(
    target: &mut DataTree<'_>,
    node: &DataNodeRef<'_>,
    o: &ffi::Opaque,
    inherited: Operation,
    stop: bool,
    errors: &mut Vec<DatastoreError>,
) -> Flow {
    let op = match &o.operation {
        Some(v) => Operation::parse(v),
        None => Some(inherited),
    };
    let Some(parent) = node.parent() else {
        return fail(
            errors,
            DatastoreError::internal("a top-level opaque node"),
            stop,
        );
    };
    let path = format!("{}/{}", parent.path(), o.name);
    match op {
        Some(Operation::Delete) if !ly::exists(target, &path) => {
            // RFC 6241 §7.2: delete of absent data is data-missing.
            let e = DatastoreError::new(ErrorTag::DataMissing, "no such data to delete").at(path);
            fail(errors, e, stop)
        }
        Some(Operation::Remove) if !ly::exists(target, &path) => Flow::Continue(()),
        Some(Operation::Delete | Operation::Remove) => match target.remove(&path) {
            Ok(()) => Flow::Continue(()),
            Err(e) => fail(
                errors,
                DatastoreError::internal(e.to_string()).at(path),
                stop,
            ),
        },
        _ => {
            let e = DatastoreError::new(ErrorTag::InvalidValue, "a leaf without a valid value")
                .at(path);
            fail(errors, e, stop)
        }
    }
}
