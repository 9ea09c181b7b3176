//! What the server says about its modules, all generated from the context:
//! hello capabilities (RFC 7950 §5.6.4, RFC 8526 §2), `<get-schema>` and
//! `<schemas>` (RFC 6022), `/yang-library` (RFC 8525) and `/modules-state`
//! (RFC 7895), all over one list: the served modules.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use yang5::data::DataTree;
use yang5::schema::{SchemaModule, SchemaOutputFormat, SchemaPrinterFlags};

use super::error::{Problem, ValidationError};
use super::{MODULES, Schema, ffi_shim};
use crate::xml::Escaped;

const NCM_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";

/// Revision of ietf-yang-library the context implements (libyang's own).
pub(super) const YANG_LIBRARY_REVISION: &str = "2019-01-04";

/// Modules libyang implements itself that this server serves data of:
/// the YANG library (RFC 8525) and the datastore identities it names
/// (RFC 8342).
const SERVED_INTERNAL: &[&str] = &["ietf-yang-library", "ietf-datastores"];

/// The datastores the YANG library names (RFC 8342 §5, RFC 8525 §3):
/// the conventional ones of RFC 6241 and the operational state `<get>`
/// reads.
const DATASTORES: &[&str] = &["running", "candidate", "startup", "operational"];

/// A module the server serves: listed in the YANG library, in
/// `/netconf-state/schemas`, retrievable with `<get-schema>`.
pub(super) struct Served<'a> {
    pub(super) module: SchemaModule<'a>,
    /// RFC 8525 §3: implemented (its data, RPCs, identities are the
    /// server's) or import-only (needed for the definitions it exports).
    pub(super) implemented: bool,
}

/// The served modules: the implemented modules of [`MODULES`] and
/// [`SERVED_INTERNAL`], and everything they import (import-only), in the
/// context's order. libyang's other internal modules (`yang`,
/// `ietf-yang-metadata`, `ietf-yang-schema-mount`,
/// `ietf-yang-structure-ext`, `default`) are absent: nothing here serves
/// them, and RFC 8525 lists what the server implements or imports.
pub(super) fn served_modules(schema: &Schema) -> Vec<Served<'_>> {
    let implemented: BTreeSet<&str> = MODULES
        .iter()
        .filter(|m| m.implement)
        .map(|m| m.name)
        .chain(SERVED_INTERNAL.iter().copied())
        .collect();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<SchemaModule<'_>> = implemented
        .iter()
        .filter_map(|n| schema.ctx.get_module_implemented(n))
        .collect();
    while let Some(m) = queue.pop() {
        if !names.insert(m.name().to_owned()) {
            continue;
        }
        for i in m.imports() {
            let imported = i.module();
            if let Some(found) = schema.ctx.get_module(imported.name(), imported.revision()) {
                queue.push(found);
            }
        }
    }
    schema
        .ctx
        .modules(false)
        .filter(|m| names.contains(m.name()))
        .map(|m| Served {
            implemented: m.is_implemented() && implemented.contains(m.name()),
            module: m,
        })
        .collect()
}

fn enabled_features(m: &SchemaModule<'_>) -> Vec<String> {
    ffi_shim::features(m)
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
}

/// Hello capabilities: one module capability (RFC 6020 §5.6.4) per
/// implemented served YANG 1.0 module, with the revision and features the
/// YANG library lists; YANG 1.1 modules are announced only through the
/// library (RFC 7950 §5.6.4), whose capability (RFC 8526 §2, RFC 8525 §5)
/// carries the library's revision and content-id.
pub(super) fn module_capabilities(schema: &Schema) -> Vec<String> {
    let mut caps = Vec::new();
    for s in served_modules(schema) {
        let m = &s.module;
        if !s.implemented || ffi_shim::is_yang_1_1(m) {
            continue;
        }
        // RFC 6020 §5.6.4: "?module=" name, "&revision=", "&features=" the
        // enabled features, comma-separated, omitted when there are none.
        let mut uri = format!("{}?module={}", m.namespace(), m.name());
        if let Some(rev) = m.revision() {
            let _ = write!(uri, "&revision={rev}");
        }
        let features = enabled_features(m);
        if !features.is_empty() {
            let _ = write!(uri, "&features={}", features.join(","));
        }
        caps.push(uri);
    }
    caps.push(format!(
        "urn:ietf:params:netconf:capability:yang-library:1.1?revision={YANG_LIBRARY_REVISION}&content-id={}",
        content_id(schema)
    ));
    caps
}

/// RFC 8525 `content-id` (and RFC 7895 `module-set-id`, the same value):
/// changes whenever the served set does. A 64-bit FNV-1a hash of names,
/// revisions, features and conformance, so it is the same on every start
/// with the same set.
pub(super) fn content_id(schema: &Schema) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for s in served_modules(schema) {
        feed(s.module.name());
        feed(s.module.revision().unwrap_or(""));
        feed(if s.implemented { "i" } else { "m" });
        for f in enabled_features(&s.module) {
            feed(&f);
        }
    }
    format!("{h:016x}")
}

/// Adds `/yang-library` (RFC 8525 §3) and `/modules-state` (RFC 7895,
/// kept for clients of the 1.0 library) to `tree`: one module set
/// "complete" used by every datastore.
pub(super) fn add_yang_library(schema: &Schema, tree: &mut DataTree<'_>) -> Result<(), String> {
    let id = content_id(schema);
    let mut set = |path: &str, value: Option<&str>| {
        tree.new_path(path, value, false)
            .map(|_| ())
            .map_err(|e| format!("{path}: {e}"))
    };
    const YL: &str = "/ietf-yang-library:yang-library";
    const MS: &str = "/ietf-yang-library:modules-state";
    let ms = format!("{YL}/module-set[name='complete']");
    for s in served_modules(schema) {
        let m = &s.module;
        let name = m.name();
        let rev = m.revision().unwrap_or("");
        if s.implemented {
            let base = format!("{ms}/module[name='{name}']");
            if !rev.is_empty() {
                set(&format!("{base}/revision"), Some(rev))?;
            }
            set(&format!("{base}/namespace"), Some(m.namespace()))?;
            for f in enabled_features(m) {
                set(&format!("{base}/feature[.='{f}']"), None)?;
            }
        } else {
            set(
                &format!("{ms}/import-only-module[name='{name}'][revision='{rev}']/namespace"),
                Some(m.namespace()),
            )?;
        }
        // RFC 7895 §2.2: revision "" for a module without one.
        let base = format!("{MS}/module[name='{name}'][revision='{rev}']");
        set(&format!("{base}/namespace"), Some(m.namespace()))?;
        for f in enabled_features(m) {
            set(&format!("{base}/feature[.='{f}']"), None)?;
        }
        let conformance = if s.implemented { "implement" } else { "import" };
        set(&format!("{base}/conformance-type"), Some(conformance))?;
    }
    set(
        &format!("{YL}/schema[name='complete']/module-set[.='complete']"),
        None,
    )?;
    for ds in DATASTORES {
        set(
            &format!("{YL}/datastore[name='ietf-datastores:{ds}']/schema"),
            Some("complete"),
        )?;
    }
    set(&format!("{YL}/content-id"), Some(&id))?;
    set(&format!("{MS}/module-set-id"), Some(&id))?;
    Ok(())
}

/// RFC 6022 §3.1: "If the requested schema does not exist, the <error-tag>
/// is 'invalid-value'"; "If more than one schema matches the requested
/// parameters, the <error-tag> is 'operation-failed', and <error-app-tag> is
/// 'data-not-unique'."
pub(super) fn get_schema(
    schema: &Schema,
    identifier: &str,
    version: Option<&str>,
    format: Option<&str>,
) -> Result<String, ValidationError> {
    // format is an identityref (ncm:yang); accept it with any prefix.
    if let Some(f) = format {
        let local = f.rsplit(':').next().unwrap_or(f).trim();
        if local != "yang" {
            return Err(ValidationError::new(
                Problem::InvalidValue,
                format!("schema format {f} is not served; only yang is"),
            )
            .with_bad_element("format"));
        }
    }
    let version = version.map(str::trim).filter(|v| !v.is_empty());
    let matches: Vec<SchemaModule<'_>> = served_modules(schema)
        .into_iter()
        .map(|s| s.module)
        .filter(|m| m.name() == identifier.trim())
        .filter(|m| version.is_none() || m.revision() == version)
        .collect();
    match matches.as_slice() {
        [] => Err(ValidationError::new(
            Problem::InvalidValue,
            match version {
                Some(v) => format!("no schema {identifier} with version {v}"),
                None => format!("no schema {identifier}"),
            },
        )
        .with_bad_element("identifier")),
        [m] => module_text(m),
        _ => Err(ValidationError::new(
            Problem::Failed,
            format!("more than one version of {identifier}: give the version"),
        )
        .with_app_tag("data-not-unique")),
    }
}

/// Our embedded modules verbatim (comments and layout kept); the modules
/// libyang brings are printed from the context.
fn module_text(m: &SchemaModule<'_>) -> Result<String, ValidationError> {
    if let Some(e) = MODULES
        .iter()
        .find(|e| e.name == m.name() && Some(e.revision) == m.revision())
    {
        return Ok(e.text.to_owned());
    }
    m.print_string(SchemaOutputFormat::YANG, SchemaPrinterFlags::empty())
        .map_err(|e| ValidationError::new(Problem::Failed, format!("printing {}: {e}", m.name())))
}

/// `<schemas>` (RFC 6022 §2.1.3): every module get-schema serves, format
/// yang, location NETCONF (retrievable with `<get-schema>`).
pub(super) fn monitoring_schemas_xml(schema: &Schema) -> String {
    let mut out = format!("<schemas xmlns=\"{NCM_NS}\">");
    for s in served_modules(schema) {
        let m = &s.module;
        out.push_str("<schema>");
        let _ = write!(out, "<identifier>{}</identifier>", Escaped(m.name()));
        let _ = write!(
            out,
            "<version>{}</version>",
            Escaped(m.revision().unwrap_or(""))
        );
        // identityref ncm:yang; unprefixed, it is in the default namespace.
        out.push_str("<format>yang</format>");
        let _ = write!(out, "<namespace>{}</namespace>", Escaped(m.namespace()));
        out.push_str("<location>NETCONF</location>");
        out.push_str("</schema>");
    }
    out.push_str("</schemas>");
    out
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::schema::DeviceProfile;

    #[test]
    fn content_id_is_stable_and_follows_the_feature_set() {
        let p = DeviceProfile::all()[0];
        let a = Schema::load(p).expect("a");
        let b = Schema::load(p).expect("b");
        assert_eq!(content_id(&a), content_id(&b));
        let with = DeviceProfile::all().iter().find(|q| q.ipv4_peer_selector);
        let without = DeviceProfile::all().iter().find(|q| !q.ipv4_peer_selector);
        if let (Some(w), Some(wo)) = (with, without) {
            let (w, wo) = (Schema::load(*w).expect("w"), Schema::load(*wo).expect("wo"));
            assert_ne!(content_id(&w), content_id(&wo));
        }
    }

    #[test]
    fn served_set_is_closed_under_import_and_skips_libyang_internals() {
        let s = Schema::load(DeviceProfile::all()[0]).expect("schema");
        let served = served_modules(&s);
        let name = |n: &str| served.iter().find(|m| m.module.name() == n);
        assert!(name("ietf-yang-library").is_some_and(|m| m.implemented));
        assert!(name("ietf-datastores").is_some_and(|m| m.implemented));
        // RFC 8341: /nacm is served (docs/nacm.md).
        assert!(name("ietf-netconf-acm").is_some_and(|m| m.implemented));
        assert!(name("ietf-yang-types").is_some_and(|m| !m.implemented));
        // Imported (so import-only), never listed as implemented.
        assert!(name("ietf-yang-metadata").is_none_or(|m| !m.implemented));
        for internal in [
            "yang",
            "ietf-yang-schema-mount",
            "ietf-yang-structure-ext",
            "default",
        ] {
            assert!(name(internal).is_none(), "{internal}");
        }
        assert!(get_schema(&s, "ietf-yang-schema-mount", None, None).is_err());
        assert!(get_schema(&s, "ncagent-bgp", None, None).is_ok());
    }
}
