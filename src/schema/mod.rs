//! The YANG contract of the agent and its libyang validation.
//!
//! The only user of libyang (through the `yang5` bindings, see `docs/yang.md`
//! for the choice). One [`Schema`] holds one libyang context built for one
//! [`DeviceProfile`]: YANG features are fixed when a module is compiled, so
//! each feature set needs its own context (RFC 7950 §7.20.1 `if-feature`).
//!
//! Nothing outside this module sees a libyang type: validation answers a
//! plain [`ValidatedRpc`] or a [`ValidationError`], which knows nothing of
//! the wire (`northbound` maps it to an `<rpc-error>`, once).

// Refusals are returned by value: they are the cold path, so their size is
// not worth a Box at every call site.
#![allow(clippy::result_large_err)]

mod devices;
mod error;
mod events;
mod ffi_shim;
mod library;
mod read;
mod scan;
mod validate;

use std::sync::LazyLock;

use yang5::context::{Context, ContextFlags, EmbeddedModuleKey, EmbeddedModules};
use yang5::data::{DataFormat, DataParserFlags, DataTree, DataValidationFlags};
use yang5::schema::{SchemaModule, SchemaNode, SchemaNodeKind};

pub use error::{ErrorPath, Problem, ValidationError};
pub use events::{EventXPath, MAX_EVENT_XPATH};
pub use read::{
    DataFilter, FilterNode, ReadError, ReadTree, WithDefaults, filter_stored, print_data,
};

/// Name of the project's own module (`yang/`).
pub const MODULE_NAME: &str = "ncagent-bgp-vpn-target";
/// Namespace of the project's own module.
pub const MODULE_NAMESPACE: &str = "urn:ncagent:yang:ncagent-bgp-vpn-target";
/// The feature "the device accepts an IPv4 peer address as selector".
pub const FEATURE_IPV4_PEER_SELECTOR: &str = "ipv4-peer-selector";

/// Which features a module is compiled with.
#[derive(Clone, Copy)]
enum Features {
    /// The device profile's (our RPC module).
    Device,
    /// A fixed list.
    Fixed(&'static [&'static str]),
}

/// A YANG module compiled into every context, embedded in the binary.
struct EmbeddedModule {
    name: &'static str,
    revision: &'static str,
    text: &'static str,
    /// Written by this project with RPCs that need handlers; the others are
    /// modules we implement or that they import.
    ours: bool,
    features: Features,
    /// Loaded as implemented (RFC 7950 §5.6.5); `false`: only embedded for
    /// the modules that import it.
    implement: bool,
}

/// Features of ietf-netconf (RFC 6241 §8 capabilities as YANG features)
/// this server implements, so that the YANG library and the hello say what
/// the capabilities say: `:xpath` (§8.9) and the datastore operations'
/// (§8.2–§8.7; `:url` is not implemented).
pub const NETCONF_FEATURES: &[&str] = &[
    "xpath",
    "writable-running",
    "candidate",
    "confirmed-commit",
    "rollback-on-error",
    "validate",
    "startup",
];

const MODULES: &[EmbeddedModule] = &[
    EmbeddedModule {
        name: MODULE_NAME,
        revision: "2026-11-26",
        text: include_str!("../../yang/ncagent-bgp-vpn-target@2026-11-26.yang"),
        ours: true,
        features: Features::Device,
        implement: true,
    },
    // RFC 6022: the agent serves <get-schema> and /netconf-state.
    EmbeddedModule {
        name: "ietf-netconf-monitoring",
        revision: "2010-10-04",
        text: include_str!("../../yang/ietf-netconf-monitoring@2010-10-04.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // The BGP configuration and its state (served by <get>/<get-config>).
    EmbeddedModule {
        name: BGP_CONFIG_MODULE,
        revision: "2026-11-29",
        text: include_str!("../../yang/ncagent-bgp@2026-11-29.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // RFC 6241: the base operations.
    EmbeddedModule {
        name: "ietf-netconf",
        revision: "2011-06-01",
        text: include_str!("../../yang/ietf-netconf@2011-06-01.yang"),
        ours: false,
        features: Features::Fixed(NETCONF_FEATURES),
        implement: true,
    },
    // RFC 6243: <with-defaults> on get/get-config, and the
    // wd:default attribute of report-all-tagged.
    EmbeddedModule {
        name: "ietf-netconf-with-defaults",
        revision: "2011-06-01",
        text: include_str!("../../yang/ietf-netconf-with-defaults@2011-06-01.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // RFC 5277: <create-subscription> (served by the NETCONF layer) and
    // the stream list (§3.2.5) in <get>.
    EmbeddedModule {
        name: "notifications",
        revision: "2008-07-14",
        text: include_str!("../../yang/notifications@2008-07-14.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    EmbeddedModule {
        name: "nc-notifications",
        revision: "2008-07-14",
        text: include_str!("../../yang/nc-notifications@2008-07-14.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // RFC 6470: the session, configuration-change and confirmed-commit
    // events of the NETCONF stream.
    EmbeddedModule {
        name: "ietf-netconf-notifications",
        revision: "2012-02-06",
        text: include_str!("../../yang/ietf-netconf-notifications@2012-02-06.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // The soft-reset and peer-state events (no RPCs: no handler needed).
    EmbeddedModule {
        name: "ncagent-bgp-events",
        revision: "2026-11-29",
        text: include_str!("../../yang/ncagent-bgp-events@2026-11-29.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
    // RFC 8341: the access-control rules (/nacm, configuration in the
    // datastores) and their counters (state in <get>); docs/nacm.md.
    EmbeddedModule {
        name: crate::nacm::MODULE,
        revision: "2018-02-14",
        text: include_str!("../../yang/ietf-netconf-acm@2018-02-14.yang"),
        ours: false,
        features: Features::Fixed(&[]),
        implement: true,
    },
];

/// libyang's import callback keeps a raw pointer to this map for as long as
/// the context lives (FACTS.md), so it is a `static`, never dropped.
static EMBEDDED: LazyLock<EmbeddedModules> = LazyLock::new(|| {
    MODULES
        .iter()
        .map(|m| {
            (
                EmbeddedModuleKey::new(m.name, Some(m.revision), None, None),
                m.text,
            )
        })
        .collect()
});

/// Name of the BGP configuration module (`yang/ncagent-bgp@2026-11-29.yang`).
pub const BGP_CONFIG_MODULE: &str = "ncagent-bgp";
/// Namespace of the BGP configuration module.
pub const BGP_CONFIG_NAMESPACE: &str = "urn:ncagent:yang:ncagent-bgp";

/// The modules a configuration datastore context implements: the BGP
/// configuration, and ietf-netconf for its `operation` annotation (RFC 6241
/// §7.2; libyang attaches the annotation when it loads a module of that
/// name), the access-control rules (RFC 8341 /nacm), and the served state
/// modules whose nodes a NACM rule's `path` may name (a
/// node-instance-identifier must resolve where /nacm is stored: RFC 8341
/// §3.2.5). Their imports come from [`EMBEDDED`] too.
const DATASTORE_MODULES: &[&str] = &[
    BGP_CONFIG_MODULE,
    "ietf-netconf",
    crate::nacm::MODULE,
    "ietf-netconf-monitoring",
    "nc-notifications",
];

/// A libyang context for the configuration datastores (`crate::datastore`):
/// [`DATASTORE_MODULES`] from the embedded set, without features (the
/// configuration module has none; ietf-netconf's only gate RPC input).
pub fn datastore_context() -> Result<Context, SchemaError> {
    let mut ctx = Context::new(ContextFlags::DISABLE_SEARCHDIRS)
        .map_err(|e| ly_err("creating the datastore context", e))?;
    ctx.set_embedded_modules(&EMBEDDED);
    let none: &[&str] = &[];
    let specs: Vec<(&str, Option<&str>, &[&str])> = MODULES
        .iter()
        .filter(|m| DATASTORE_MODULES.contains(&m.name))
        .map(|m| (m.name, Some(m.revision), none))
        .collect();
    ctx.load_modules(&specs)
        .map_err(|e| ly_err("loading the datastore YANG modules", e))?;
    Ok(ctx)
}

/// libyang's last error record for this thread in `ctx`, with the
/// validation code and schema path that yang5's `Error` drops.
pub(crate) fn last_libyang_error(ctx: &Context) -> Option<ffi_shim::LyError> {
    let anchor = ctx.get_module_implemented(BGP_CONFIG_MODULE)?;
    ffi_shim::last_error(&anchor)
}

/// Drops this thread's stored libyang errors in `ctx`.
pub(crate) fn clear_libyang_errors(ctx: &Context) {
    if let Some(anchor) = ctx.get_module_implemented(BGP_CONFIG_MODULE) {
        ffi_shim::clear_errors(&anchor);
    }
}

pub(crate) use ffi_shim::{LyError, LyVecode};
pub(crate) use scan::plain_rpc;

/// Why [`prescan_xml`] refused the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PrescanError {
    /// A NUL byte or a character reference to a character XML forbids.
    Malformed(String),
    /// Nested deeper than libyang's recursive parser is given.
    TooDeep(String),
}

/// The pre-scan of `scan.rs` for XML that other parts of the crate hand to
/// libyang: a NUL byte (also one decoded from `&#0;`) would panic the
/// bindings' `CString::new(..).unwrap()`, and deep nesting would overflow
/// libyang's recursive parser.
pub(crate) fn prescan_xml(input: &[u8]) -> Result<(), PrescanError> {
    match scan::scan(input, 0) {
        Ok(_) => Ok(()),
        Err(scan::ScanError::Nul(at)) => Err(PrescanError::Malformed(format!(
            "NUL byte at offset {at}: not allowed in XML"
        ))),
        Err(scan::ScanError::IllegalCharRef(at)) => Err(PrescanError::Malformed(format!(
            "character reference at offset {at} names a character XML does not allow"
        ))),
        Err(scan::ScanError::TooDeep(_)) => Err(PrescanError::TooDeep(format!(
            "XML elements nested deeper than {} levels",
            scan::MAX_DEPTH
        ))),
    }
}

/// A device model (and forwarding mode) of the command reference and the
/// YANG features it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceProfile {
    pub model: &'static str,
    /// Only for models whose features depend on it (CE6885-LL).
    pub mode: Option<&'static str>,
    /// Feature `ipv4-peer-selector`.
    pub ipv4_peer_selector: bool,
}

impl DeviceProfile {
    /// The profile of a configured model and forwarding mode. Models with a
    /// single mode take no mode or "standard"; CE6885-LL needs "standard" or
    /// "low-latency". The error lists the valid values.
    pub fn lookup(
        model: &str,
        forwarding_mode: Option<&str>,
    ) -> Result<DeviceProfile, SchemaError> {
        devices::lookup(model, forwarding_mode)
    }

    /// Every profile of the command reference, in its order.
    pub fn all() -> &'static [DeviceProfile] {
        &devices::PROFILES
    }

    /// E.g. "CE8855" or "CE6885-LL (low-latency forwarding mode)".
    pub fn describe(&self) -> String {
        match self.mode {
            Some(mode) => format!("{} ({mode} forwarding mode)", self.model),
            None => self.model.to_owned(),
        }
    }

    /// Features of our module enabled on this device.
    fn features(&self) -> Vec<&'static str> {
        let mut f = Vec::new();
        if self.ipv4_peer_selector {
            f.push(FEATURE_IPV4_PEER_SELECTOR);
        }
        f
    }
}

/// Start-up errors of the schema layer.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("unknown device model \"{model}\"; valid models: {valid}")]
    UnknownModel { model: String, valid: String },
    #[error("forwarding mode \"{mode}\" is not valid for device model {model}; valid: {valid}")]
    UnknownMode {
        model: String,
        mode: String,
        valid: String,
    },
    #[error("device model {model} needs a forwarding mode; valid: {valid}")]
    ModeRequired { model: String, valid: String },
    #[error("libyang: {what}: {message}")]
    Libyang { what: String, message: String },
}

fn ly_err(what: impl Into<String>, e: yang5::Error) -> SchemaError {
    SchemaError::Libyang {
        what: what.into(),
        message: e.to_string(),
    }
}

/// An input node of an RPC that this profile's features remove; found by
/// compiling the module with the feature on and comparing (so nothing here
/// is typed by hand).
#[derive(Debug, Clone)]
struct FeatureGate {
    rpc: String,
    element: String,
    feature: String,
}

/// One libyang context for one device profile.
///
/// `Send + Sync` without a lock: yang5 marks `Context` Send + Sync, and
/// libyang documents that reading a context concurrently is safe once no
/// module is added ("howtoThreads": data-tree functions only touch the
/// dictionary, which is locked; error records are per thread). A `Schema`
/// never changes its context after [`Schema::load`].
pub struct Schema {
    profile: DeviceProfile,
    ctx: Context,
    gates: Vec<FeatureGate>,
    /// The last few requests this schema accepted (see
    /// [`validate::Verdicts`]): a request seen before is not parsed again.
    verdicts: validate::Verdicts,
    /// (namespace, name) of every RPC of our modules, for [`Schema::is_rpc`]
    /// (asked for every request; the context does not change).
    rpc_names: Vec<(String, String)>,
}

/// A validated RPC in plain data: nothing past the schema sees libyang types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedRpc {
    pub module: String,
    pub name: String,
    pub namespace: String,
    /// (leaf path relative to the RPC input, canonical value); `empty`-type
    /// leaves have value "".
    pub leaves: Vec<(String, String)>,
}

/// Builds a context holding [`MODULES`], our module with `features`.
fn build_context(features: &[&str]) -> Result<Context, SchemaError> {
    // No search directories: every module comes from the binary, so the
    // agent behaves the same whatever its working directory holds.
    let mut ctx = Context::new(ContextFlags::DISABLE_SEARCHDIRS)
        .map_err(|e| ly_err("creating the context", e))?;
    ctx.set_embedded_modules(&EMBEDDED);
    let specs: Vec<(&str, Option<&str>, &[&str])> = MODULES
        .iter()
        .filter(|m| m.implement)
        .map(|m| {
            let f = match m.features {
                Features::Device => features,
                Features::Fixed(f) => f,
            };
            (m.name, Some(m.revision), f)
        })
        .collect();
    ctx.load_modules(&specs)
        .map_err(|e| ly_err("loading the embedded YANG modules", e))?;
    Ok(ctx)
}

/// Relative data paths of the input nodes of an RPC (choice/case skipped).
fn input_nodes(rpc: &SchemaNode<'_>) -> Vec<String> {
    fn walk(node: SchemaNode<'_>, prefix: &str, out: &mut Vec<String>) {
        match node.kind() {
            SchemaNodeKind::Choice | SchemaNodeKind::Case => {
                for c in node.children() {
                    walk(c, prefix, out);
                }
            }
            _ => {
                let path = format!("{prefix}{}", node.name());
                let sub = format!("{path}/");
                out.push(path);
                for c in node.children() {
                    walk(c, &sub, out);
                }
            }
        }
    }
    let mut out = Vec::new();
    if let Some((children, _)) = rpc.input() {
        for c in children {
            walk(c, "", &mut out);
        }
    }
    out
}

impl Schema {
    /// Loads the modules of `yang/` (embedded at build time) with the
    /// features of `profile`.
    pub fn load(profile: DeviceProfile) -> Result<Schema, SchemaError> {
        let enabled = profile.features();
        let ctx = build_context(&enabled)?;
        let gates = Self::feature_gates(&ctx, &enabled)?;
        let mut schema = Schema {
            profile,
            ctx,
            gates,
            verdicts: validate::Verdicts::default(),
            rpc_names: Vec::new(),
        };
        schema.rpc_names = schema
            .rpcs()
            .into_iter()
            .map(|(_module, rpc, ns)| (ns, rpc))
            .collect();
        Ok(schema)
    }

    /// For every feature of our modules that is off, which RPC input nodes
    /// it would add: compile once more with it on and compare.
    fn feature_gates(ctx: &Context, enabled: &[&str]) -> Result<Vec<FeatureGate>, SchemaError> {
        let mut gates = Vec::new();
        for m in MODULES
            .iter()
            .filter(|m| matches!(m.features, Features::Device))
        {
            let Some(module) = ctx.get_module_implemented(m.name) else {
                continue;
            };
            for (feature, on) in ffi_shim::features(&module) {
                if on {
                    continue;
                }
                let mut more: Vec<&str> = enabled.to_vec();
                more.push(&feature);
                let alt = build_context(&more)?;
                let Some(alt_module) = alt.get_module_implemented(m.name) else {
                    continue;
                };
                for rpc in alt_module.rpcs() {
                    let have = module
                        .rpcs()
                        .find(|r| r.name() == rpc.name())
                        .map(|r| input_nodes(&r))
                        .unwrap_or_default();
                    for element in input_nodes(&rpc) {
                        if !have.contains(&element) {
                            gates.push(FeatureGate {
                                rpc: rpc.name().to_owned(),
                                element,
                                feature: feature.clone(),
                            });
                        }
                    }
                }
            }
        }
        Ok(gates)
    }

    pub fn profile(&self) -> &DeviceProfile {
        &self.profile
    }

    /// Our own modules as loaded in the context.
    fn our_modules(&self) -> impl Iterator<Item = SchemaModule<'_>> {
        MODULES
            .iter()
            .filter(|m| m.ours)
            .filter_map(|m| self.ctx.get_module_implemented(m.name))
    }

    /// Any module of the context, to reach libyang's per-thread error
    /// records (`ffi_shim` needs a module to find the context).
    fn anchor(&self) -> Option<SchemaModule<'_>> {
        self.ctx.get_module_implemented(MODULE_NAME)
    }

    /// (namespace, module name) of every module of the served context, for
    /// access control on XML replies (RFC 8341 rules name modules).
    pub fn module_namespaces(&self) -> Vec<(String, String)> {
        self.ctx
            .modules(false)
            .map(|m| (m.namespace().to_owned(), m.name().to_owned()))
            .collect()
    }

    /// (module name, rpc name, namespace) of every RPC in our own modules;
    /// the server checks at start-up that each has a handler.
    pub fn rpcs(&self) -> Vec<(String, String, String)> {
        self.our_modules()
            .flat_map(|m| {
                let module = m.name().to_owned();
                let ns = m.namespace().to_owned();
                m.rpcs()
                    .map(|r| (module.clone(), r.name().to_owned(), ns.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Is this (namespace, local name) an RPC of one of our modules?
    pub fn is_rpc(&self, ns: &str, name: &str) -> bool {
        self.rpc_names.iter().any(|(n, r)| n == ns && r == name)
    }

    /// Parses and validates a whole NETCONF `<rpc>` envelope (bytes exactly
    /// as received): a pre-scan (NUL bytes, nesting depth), libyang's NETCONF
    /// RPC parser in STRICT mode (types, unknown and feature-disabled nodes),
    /// then `lyd_validate_op` (mandatory nodes, choices). Errors are mapped
    /// to RFC 6241 Appendix A as in SPEC §6; see `docs/yang.md`.
    ///
    /// A request that differs from one accepted recently only in the value
    /// of its `message-id` is answered from that verdict (the value is
    /// opaque to validation, RFC 6241 §4.1); refusals are never remembered.
    pub fn validate_rpc(&self, rpc_xml: &[u8]) -> Result<ValidatedRpc, ValidationError> {
        validate::validate_rpc(self, rpc_xml)
    }

    /// The operation element of a plain request (see [`plain_rpc`]; the
    /// element declares its own namespace) accepted as an RPC of this
    /// schema: the same checks as [`Schema::validate_rpc`] makes on it,
    /// with no side effect. `None` when libyang refuses it; the whole
    /// request's [`Schema::validate_rpc`] words the refusal.
    pub fn precheck(&self, op_xml: &[u8]) -> Option<ValidatedRpc> {
        validate::precheck(self, op_xml)
    }

    /// [`Schema::validate_rpc`] without the remembered verdicts: every
    /// request is parsed and validated by libyang.
    pub fn validate_rpc_uncached(&self, rpc_xml: &[u8]) -> Result<ValidatedRpc, ValidationError> {
        validate::validate_full(self, rpc_xml)
    }

    /// RFC 6022 §3.1 `<get-schema>`.
    pub fn get_schema(
        &self,
        identifier: &str,
        version: Option<&str>,
        format: Option<&str>,
    ) -> Result<String, ValidationError> {
        library::get_schema(self, identifier, version, format)
    }

    /// Capability URIs for the server `<hello>` (RFC 6241 §8, RFC 7950
    /// §5.6.4, RFC 8526 §2), generated from the served modules. The URIs contain raw `&`: the
    /// hello writer escapes them.
    pub fn module_capabilities(&self) -> Vec<String> {
        library::module_capabilities(self)
    }

    /// `<schemas>` of ietf-netconf-monitoring (RFC 6022 §2.1.3).
    pub fn monitoring_schemas_xml(&self) -> String {
        library::monitoring_schemas_xml(self)
    }

    /// RFC 8525 `content-id` of the served module set (also the RFC 7895
    /// `module-set-id`).
    pub fn content_id(&self) -> String {
        library::content_id(self)
    }

    /// Parses XML data (state allowed) strictly against the loaded modules
    /// without validating it: names, namespaces (also of identityref
    /// values), types and list keys are checked, not mandatory nodes a
    /// filtered reply may leave out. For tests and debug checks.
    pub fn parse_state_xml(&self, xml: &str) -> Result<(), String> {
        if scan::scan(xml.as_bytes(), 0).is_err() {
            return Err("refused by the pre-scan".into());
        }
        DataTree::parse_string(
            &self.ctx,
            xml,
            DataFormat::XML,
            DataParserFlags::STRICT | DataParserFlags::NO_VALIDATION,
            DataValidationFlags::empty(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// Validates an operational-state XML fragment (e.g. a
    /// `<bgp-vpn-target-state>` element) as data of the loaded modules,
    /// state data allowed. For tests and debug checks.
    pub fn validate_state_xml(&self, xml: &str) -> Result<(), String> {
        match scan::scan(xml.as_bytes(), 0) {
            Err(scan::ScanError::Nul(at)) => return Err(format!("NUL byte at offset {at}")),
            Err(scan::ScanError::IllegalCharRef(at)) => {
                return Err(format!("illegal character reference at offset {at}"));
            }
            Err(scan::ScanError::TooDeep(d)) => {
                return Err(format!(
                    "XML nesting deeper than {} levels (at least {d})",
                    scan::MAX_DEPTH
                ));
            }
            Ok(_) => {}
        }
        DataTree::parse_string(
            &self.ctx,
            xml,
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataValidationFlags::PRESENT,
        )
        .map(|_| ())
        .map_err(|e| match &e.path {
            Some(p) => format!("{e} (path {p})"),
            None => e.to_string(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn load(model: &str, mode: Option<&str>) -> Schema {
        let p = DeviceProfile::lookup(model, mode).expect("profile");
        Schema::load(p).expect("schema loads")
    }

    #[test]
    fn schema_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Schema>();
    }

    #[test]
    fn describe_names_the_mode() {
        let ll = DeviceProfile::lookup("CE6885-LL", Some("low-latency")).expect("ll");
        assert_eq!(ll.describe(), "CE6885-LL (low-latency forwarding mode)");
        let ce = DeviceProfile::lookup("CE8855", None).expect("ce");
        assert_eq!(ce.describe(), "CE8855");
    }

    #[test]
    fn feature_gate_found_only_without_the_feature() {
        let ll = load("CE6885-LL", Some("low-latency"));
        assert_eq!(ll.gates.len(), 1);
        assert_eq!(ll.gates[0].rpc, "refresh-bgp-vpn-target");
        assert_eq!(ll.gates[0].element, "ipv4-address");
        assert_eq!(ll.gates[0].feature, FEATURE_IPV4_PEER_SELECTOR);
        assert!(load("CE8855", None).gates.is_empty());
    }

    #[test]
    fn rpcs_and_is_rpc() {
        let s = load("CE8855", None);
        assert_eq!(
            s.rpcs(),
            vec![(
                MODULE_NAME.to_owned(),
                "refresh-bgp-vpn-target".to_owned(),
                MODULE_NAMESPACE.to_owned()
            )]
        );
        assert!(s.is_rpc(MODULE_NAMESPACE, "refresh-bgp-vpn-target"));
        assert!(!s.is_rpc(MODULE_NAMESPACE, "get-schema"));
        assert!(!s.is_rpc(
            "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring",
            "get-schema"
        ));
    }

    #[test]
    fn every_profile_loads() {
        // One context per feature set: both sets compile.
        for p in DeviceProfile::all()
            .iter()
            .filter(|p| p.model == "CE6885-LL")
        {
            assert!(Schema::load(*p).is_ok(), "{}", p.describe());
        }
    }
}
