//! What the server says about its modules, all generated from the context:
//! hello capabilities (RFC 6020 §5.6.4), `<get-schema>` and `<schemas>`
//! (RFC 6022), `<modules-state>` (RFC 7895).

use std::fmt::Write as _;

use yang5::schema::{SchemaModule, SchemaOutputFormat, SchemaPrinterFlags};

use super::error::{Problem, ValidationError};
use super::{MODULES, Schema, ffi_shim};
use crate::xml::Escaped;

const NCM_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";
const YANG_LIBRARY_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-yang-library";

/// Every module of the context: the ones get-schema serves and the YANG
/// library lists (RFC 7895 §2.2: "all YANG modules ... used by the server").
fn all_modules(schema: &Schema) -> Vec<SchemaModule<'_>> {
    schema.ctx.modules(false).collect()
}

fn enabled_features(m: &SchemaModule<'_>) -> Vec<String> {
    ffi_shim::features(m)
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect()
}

/// Module capabilities for our modules and the IETF modules we load to
/// implement them (ietf-netconf-monitoring), plus the YANG library
/// capability (RFC 7950 §5.6.4, RFC 7895 §2.2): libyang's own modules are
/// YANG 1.1, which RFC 7950 says to announce through the library, not hello.
pub(super) fn module_capabilities(schema: &Schema) -> Vec<String> {
    let mut caps = Vec::new();
    for embedded in MODULES {
        let Some(m) = schema.ctx.get_module_implemented(embedded.name) else {
            continue;
        };
        // RFC 6020 §5.6.4: "?module=" name, "&revision=", "&features=" the
        // enabled features, comma-separated, omitted when there are none.
        let mut uri = format!("{}?module={}", m.namespace(), m.name());
        if let Some(rev) = m.revision() {
            let _ = write!(uri, "&revision={rev}");
        }
        let features = enabled_features(&m);
        if !features.is_empty() {
            let _ = write!(uri, "&features={}", features.join(","));
        }
        caps.push(uri);
    }
    caps.push(format!(
        "urn:ietf:params:netconf:capability:yang-library:1.0?revision=2016-06-21&module-set-id={}",
        module_set_id(schema)
    ));
    caps
}

/// RFC 7895 §2.2 module-set-id: changes whenever the module set does. A
/// 64-bit FNV-1a hash of names, revisions, features and conformance, so it
/// is the same on every start with the same set.
pub(super) fn module_set_id(schema: &Schema) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |s: &str| {
        for b in s.bytes().chain(std::iter::once(0)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for m in all_modules(schema) {
        feed(m.name());
        feed(m.revision().unwrap_or(""));
        feed(if m.is_implemented() { "i" } else { "m" });
        for f in enabled_features(&m) {
            feed(&f);
        }
    }
    format!("{h:016x}")
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
    let matches: Vec<SchemaModule<'_>> = all_modules(schema)
        .into_iter()
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
    for m in all_modules(schema) {
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

/// `<modules-state>` (RFC 7895 §2.2): module-set-id, and per module name,
/// revision, namespace, enabled features, conformance-type.
pub(super) fn yang_library_xml(schema: &Schema) -> String {
    let mut out = format!("<modules-state xmlns=\"{YANG_LIBRARY_NS}\">");
    let _ = write!(
        out,
        "<module-set-id>{}</module-set-id>",
        module_set_id(schema)
    );
    for m in all_modules(schema) {
        out.push_str("<module>");
        let _ = write!(out, "<name>{}</name>", Escaped(m.name()));
        // RFC 7895: revision is "" for a module without one.
        let _ = write!(
            out,
            "<revision>{}</revision>",
            Escaped(m.revision().unwrap_or(""))
        );
        let _ = write!(out, "<namespace>{}</namespace>", Escaped(m.namespace()));
        for f in enabled_features(&m) {
            let _ = write!(out, "<feature>{}</feature>", Escaped(&f));
        }
        let conformance = if m.is_implemented() {
            "implement"
        } else {
            "import"
        };
        let _ = write!(out, "<conformance-type>{conformance}</conformance-type>");
        out.push_str("</module>");
    }
    out.push_str("</modules-state>");
    out
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::schema::DeviceProfile;
    use yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};

    #[test]
    fn modules_state_parses_against_ietf_yang_library() {
        for p in DeviceProfile::all()
            .iter()
            .filter(|p| p.model == "CE6885-LL")
        {
            let s = Schema::load(*p).expect("schema");
            let xml = yang_library_xml(&s);
            // Parse only: the context's ietf-yang-library@2019-01-04 keeps
            // RFC 7895 modules-state (deprecated) beside the NMDA
            // /yang-library, whose mandatory content-id a full validation of
            // this fragment would demand. Types, keys and names are checked.
            let parsed = DataTree::parse_string(
                &s.ctx,
                &xml,
                DataFormat::XML,
                DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION,
                DataValidationFlags::empty(),
            );
            assert!(parsed.is_ok(), "{:?}\n{xml}", parsed.err());
            assert!(xml.contains("<name>ietf-inet-types</name>"));
        }
    }

    #[test]
    fn module_set_id_is_stable_per_feature_set() {
        let p = DeviceProfile::all()[0];
        let a = Schema::load(p).expect("a");
        let b = Schema::load(p).expect("b");
        assert_eq!(module_set_id(&a), module_set_id(&b));
    }
}
