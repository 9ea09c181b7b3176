//! The `unsafe` of the datastores: reading libyang's opaque data nodes,
//! which the yang5 safe API does not expose (it assumes every node has a
//! schema node).
//!
//! An edit-config may delete a leaf by naming it without a value
//! (`<description nc:operation="delete"/>`); for a leaf whose type refuses
//! the empty string, libyang can only parse that as an opaque node
//! (`LYD_PARSE_OPAQ`), with its attributes kept as plain XML attributes.
//!
//! Every function takes a safe yang5 handle, so the node it reads is alive
//! for the duration of the call; only owned copies are returned.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::raw::c_char;

use yang5::data::DataNodeRef;
use yang5::ffi;

/// What an opaque node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Opaque {
    pub(crate) name: String,
    /// XML namespace of the element.
    pub(crate) namespace: String,
    /// Its `operation` attribute in `attr_namespace`, if any.
    pub(crate) operation: Option<String>,
    pub(crate) has_children: bool,
}

fn owned(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: libyang strings are NUL-terminated dictionary strings that
        // live as long as the node (or the context).
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// `Some` when the node is opaque (no schema node), with its name,
/// namespace and `operation` attribute of namespace `attr_namespace`.
pub(crate) fn opaque(node: &DataNodeRef<'_>, attr_namespace: &str) -> Option<Opaque> {
    let raw = node.as_raw();
    if raw.is_null() {
        return None;
    }
    // SAFETY: `raw` is a live node of a tree borrowed through `node`. A
    // node whose `schema` is NULL is a `lyd_node_opaq` (libyang
    // tree_data.h), so the cast is valid; the format of an XML-parsed
    // opaque node is LY_VALUE_XML, whose name union holds `module_ns`.
    unsafe {
        if !(*raw).schema.is_null() {
            return None;
        }
        let opaq = raw as *const ffi::lyd_node_opaq;
        let xml = (*opaq).format == ffi::LY_VALUE_FORMAT::LY_VALUE_XML;
        let namespace = if xml {
            owned((*opaq).name.__bindgen_anon_1.module_ns)
        } else {
            String::new()
        };
        let mut operation = None;
        let mut attr = (*opaq).attr;
        while !attr.is_null() {
            let attr_ns = if (*attr).format == ffi::LY_VALUE_FORMAT::LY_VALUE_XML {
                owned((*attr).name.__bindgen_anon_1.module_ns)
            } else {
                String::new()
            };
            if owned((*attr).name.name) == "operation" && attr_ns == attr_namespace {
                operation = Some(owned((*attr).value));
            }
            attr = (*attr).next;
        }
        Some(Opaque {
            name: owned((*opaq).name.name),
            namespace,
            operation,
            has_children: !(*opaq).child.is_null(),
        })
    }
}
