//! The configuration datastores of the agent over NETCONF (RFC 6241 §7,
//! §8.3 `:candidate`, §8.4 `:confirmed-commit:1.1`, §8.6 `:validate:1.1`,
//! §8.7 `:startup`), applied live to the BGP engine.
//!
//! [`ConfigStore`] owns the libyang context and the [`Datastores`] over it.
//! Every change of running goes to the engine before the operation
//! answers: the new running becomes a [`BgpConfig`] for
//! [`BgpHandle::reconfigure`]; if the engine refuses it, running is put
//! back, so that running never differs from what the engine runs.
//! Operations that change running are serialized by one async mutex (the
//! engine applies them in order); the datastores themselves are behind a
//! plain mutex held only for the synchronous libyang work, never across
//! an await.

// Refusals are returned by value: the cold path.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, SystemTime};

use tracing::{error, info, warn};
use yang5::context::Context;
use yang5::data::DataTree;

use super::events;
use crate::bgp::{BgpConfig, BgpError, BgpHandle, ReconfigureError};
use crate::datastore::bgp::{BgpIntent, seed_tree};
use crate::datastore::diff::{self, Change};
use crate::datastore::{
    CopySource, Datastore, DatastoreError, Datastores, DefaultOperation, EditOptions, ErrorOption,
    ErrorTag, SessionId, Snapshot, StartupOrigin, StartupStore, TestOption,
};
use crate::nacm::{self, Nacm, Subject, WriteDenied};
use crate::netconf::error::{BASE_NS, Escaped, ProtoOrApp, RpcError, RpcProtoOrApp};
use crate::netconf::message::{Element, ReplyBody, Rpc};
use crate::netconf::notify::{ChangedBy, ConfirmEvent, Notifier, SessionInfo};
use crate::netconf::ops::check_parameters;
use crate::netconf::{
    CAP_CANDIDATE, CAP_CONFIRMED_COMMIT, CAP_ROLLBACK_ON_ERROR, CAP_STARTUP, CAP_VALIDATE,
    CAP_WRITABLE_RUNNING, RpcContext,
};

/// RFC 6241 §8.4.5.1: `confirm-timeout` defaults to 600 seconds.
pub const DEFAULT_CONFIRM_TIMEOUT: Duration = Duration::from_secs(600);

/// The longest a rollback timer sleeps (a year): `confirm-timeout` is a
/// uint32 of seconds (136 years), beyond what the runtime's timers take.
const MAX_CONFIRM_TIMER: Duration = Duration::from_secs(365 * 24 * 3600);

/// The capabilities the datastores give the server `<hello>` (RFC 6241 §8).
pub fn capabilities() -> Vec<String> {
    [
        CAP_WRITABLE_RUNNING,
        CAP_CANDIDATE,
        CAP_STARTUP,
        CAP_VALIDATE,
        CAP_CONFIRMED_COMMIT,
        CAP_ROLLBACK_ON_ERROR,
    ]
    .iter()
    .map(|c| (*c).to_owned())
    .collect()
}

/// A confirmed commit waiting for its confirming commit (RFC 6241 §8.4).
struct Confirm<'c> {
    /// running before the first confirmed commit: what a rollback restores.
    before: Snapshot<'c>,
    /// The session that issued it; its end rolls back unless `persist`.
    session: SessionId,
    persist: Option<String>,
    /// The timer armed last; an older timer that fires does nothing.
    generation: u64,
}

struct Stores<'c> {
    ds: Datastores<'c>,
    confirm: Option<Confirm<'c>>,
    /// running before the change being applied to the engine.
    undo: Option<Snapshot<'c>>,
    /// running before a confirmed commit being applied.
    staged_before: Option<Snapshot<'c>>,
}

self_cell::self_cell!(
    /// The context and the datastores borrowing it, owned together.
    struct Cell {
        owner: Context,
        #[not_covariant]
        dependent: Stores,
    }
);

/// What `BgpConfig` carries that the YANG module does not (yet): kept from
/// the TOML `[bgp]` table so that TOML users keep their setting.
#[derive(Debug, Clone, Copy, Default)]
struct EngineExtras {
    send_hold_time: Option<u64>,
}

/// Why the datastores could not be opened at start-up.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the startup datastore {} cannot be loaded: {source}", path.display())]
    Startup {
        path: PathBuf,
        #[source]
        source: DatastoreError,
    },
    #[error("the [bgp] table cannot seed the startup datastore: {0}")]
    Seed(#[source] DatastoreError),
}

/// The datastores opened at start-up, before the engine runs.
pub struct OpenedStore {
    cell: Cell,
    extras: EngineExtras,
    /// The access-control rules of running at boot.
    nacm: Arc<Nacm>,
}

impl OpenedStore {
    /// The engine's configuration: running's (RFC 6241 §8.7: running is
    /// startup at boot).
    pub fn engine_config(&mut self) -> Result<BgpConfig, DatastoreError> {
        let extras = self.extras;
        self.cell
            .with_dependent_mut(|_, s| engine_config(s.ds.tree(Datastore::Running), extras))
    }

    /// The store, now that the engine runs on [`Self::engine_config`].
    pub fn into_store(self, bgp: BgpHandle, rpc_timeout: Duration) -> Arc<ConfigStore> {
        Arc::new(ConfigStore {
            cell: Mutex::new(self.cell),
            apply: tokio::sync::Mutex::new(()),
            bgp,
            rpc_timeout,
            extras: self.extras,
            generation: AtomicU64::new(0),
            printed: Mutex::new(Default::default()),
            timer: Mutex::new(None),
            notifier: OnceLock::new(),
            nacm: self.nacm,
        })
    }
}

/// The configuration datastores and their link to the engine.
pub struct ConfigStore {
    cell: Mutex<Cell>,
    /// Held by every operation that changes running, across the engine's
    /// reconfiguration: changes reach the engine in the order they were
    /// made in running.
    apply: tokio::sync::Mutex<()>,
    bgp: BgpHandle,
    rpc_timeout: Duration,
    extras: EngineExtras,
    generation: AtomicU64,
    /// Each datastore as printed for a `<get-config>` without a filter in
    /// the basic mode (RFC 6243 explicit), kept until the next change:
    /// the NMS's whole-datastore poll then costs no libyang print. Only
    /// touched with `cell` held (lock order: `cell`, then `printed`), and
    /// emptied by every [`ConfigStore::with`], the one way to change a tree.
    printed: Mutex<[Option<Arc<str>>; 3]>,
    /// The rollback timer of the pending confirmed commit, if any.
    timer: Mutex<Option<tokio::task::AbortHandle>>,
    /// Where changes of running and confirmed commits are announced
    /// (RFC 6470 `netconf-config-change`, `netconf-confirmed-commit`).
    notifier: OnceLock<Arc<Notifier>>,
    /// Access control (RFC 8341): its rules are running's `/nacm`,
    /// reloaded whenever running changes.
    nacm: Arc<Nacm>,
}

/// What changed in running, in the datastore's terms; nothing if a tree
/// cannot be read (the event then lists no edit: RFC 6470 makes the edit
/// list optional).
fn changes_between(old: &DataTree<'_>, new: &DataTree<'_>) -> Vec<Change> {
    diff::diff(old, new).unwrap_or_else(|e| {
        warn!(error = %e, "the change of running could not be listed");
        Vec::new()
    })
}

/// RFC 6470 `common-session-parms` of the session that sent an operation.
fn session_info(ctx: &RpcContext) -> SessionInfo {
    SessionInfo {
        session_id: ctx.session_id,
        username: ctx.user.name.clone(),
        source_host: ctx.source_host,
    }
}

fn changed_by(ctx: &RpcContext) -> ChangedBy {
    ChangedBy::User(session_info(ctx))
}

/// The engine's configuration for a datastore tree; no `bgp` container:
/// the peerless speaker the agent always ran without a `[bgp]` table.
fn engine_config(tree: &DataTree<'_>, extras: EngineExtras) -> Result<BgpConfig, DatastoreError> {
    let mut cfg = match BgpIntent::from_tree(tree)? {
        Some(intent) => {
            let unsupported = intent.engine_unsupported();
            if !unsupported.is_empty() {
                warn!(
                    paths = ?unsupported,
                    "per-neighbor timers are stored but the engine applies the global ones"
                );
            }
            intent.to_bgp_config()
        }
        None => BgpConfig::new(65000, Ipv4Addr::LOCALHOST),
    };
    cfg.send_hold_time = extras.send_hold_time;
    Ok(cfg)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the datastores whole (each operation
    // works on a copy and swaps it in), so poisoning is ignored.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Opens the datastores in `state_dir` (RFC 6241 §8.7): startup from
/// `startup.xml`, or seeded from the TOML `[bgp]` table when none is
/// stored; running and candidate start as startup.
pub fn open(
    ctx: Context,
    state_dir: &std::path::Path,
    toml_bgp: Option<&BgpConfig>,
) -> Result<OpenedStore, OpenError> {
    let store = StartupStore::new(state_dir);
    let path = store.path();
    let stored = path.exists();
    let mut origin = None;
    let cell = Cell::try_new(ctx, |ctx| -> Result<Stores<'_>, OpenError> {
        let seed = match toml_bgp {
            Some(cfg) if !stored => {
                let mut tree = seed_tree(ctx, cfg).map_err(OpenError::Seed)?;
                // A new startup gets the shipped access-control rules.
                with_default_rules(ctx, &mut tree).map_err(OpenError::Seed)?;
                Some(tree)
            }
            _ => None,
        };
        let (ds, o) = Datastores::open(ctx, store, seed).map_err(|source| OpenError::Startup {
            path: path.clone(),
            source,
        })?;
        origin = Some(o);
        Ok(Stores {
            ds,
            confirm: None,
            undo: None,
            staged_before: None,
        })
    })?;
    let mut cell = cell;
    match origin {
        Some(StartupOrigin::Seeded) => info!(
            path = %path.display(),
            "startup datastore seeded from the [bgp] table of the configuration file"
        ),
        Some(StartupOrigin::Loaded) => {
            info!(path = %path.display(), "startup datastore loaded");
            if let Some(cfg) = toml_bgp {
                let differs = cell.with_dependent_mut(|_, s| {
                    let stored = BgpIntent::from_tree(s.ds.tree(Datastore::Startup));
                    let toml = BgpIntent::from_bgp_config(cfg);
                    !matches!((stored, toml), (Ok(Some(a)), Ok(b)) if a == b)
                });
                if differs {
                    warn!(
                        startup = %path.display(),
                        "the [bgp] table of the configuration file differs from the startup datastore; \
                         the startup datastore is used (the [bgp] table only seeds a missing one)"
                    );
                }
            }
        }
        _ => info!("no startup datastore and no [bgp] table: BGP is not configured"),
    }
    let nacm = Arc::new(Nacm::default());
    cell.with_dependent_mut(|_, s| {
        // RFC 8341: running without /nacm (a startup from before access
        // control, or none) gets the shipped rules, which reproduce the
        // levels' decisions; startup is left as stored.
        if !has_nacm(s.ds.tree(Datastore::Running)) {
            match merge_default_rules(&mut s.ds) {
                Ok(()) => info!(
                    "running had no access-control rules (/nacm): the shipped rules were merged in (docs/nacm.md)"
                ),
                Err(e) => error!(error = %e, "merging the shipped access-control rules into running"),
            }
        }
        nacm.reload(s.ds.tree(Datastore::Running));
    });
    Ok(OpenedStore {
        cell,
        extras: EngineExtras {
            send_hold_time: toml_bgp.and_then(|b| b.send_hold_time),
        },
        nacm,
    })
}

/// The source of a copy-config with the target's `/nacm` added, when the
/// source has none and the target has some; None: copy as given.
fn carry_rules(s: &Stores<'_>, target: Datastore, src: CopySource<'_>) -> Option<String> {
    use yang5::data::Data as _;
    let path = format!("/{}:nacm", nacm::MODULE);
    let rules = s.ds.tree(target).find_path(&path).ok()?;
    let source_xml = match src {
        // Same source and target: copy-config's invalid-value stands.
        CopySource::Datastore(ds) if ds == target => return None,
        CopySource::Datastore(ds) => {
            if has_nacm(s.ds.tree(ds)) {
                return None;
            }
            s.ds.get_config(ds).ok()?
        }
        CopySource::Config(xml) => {
            match parse_inline(s.ds.context(), xml) {
                Ok(t) if has_nacm(&t) => return None,
                Ok(_) => xml.to_owned(),
                // Empty content, or content copy-config will refuse.
                Err(_) if xml.trim().is_empty() => String::new(),
                Err(_) => return None,
            }
        }
    };
    let rules_xml = rules
        .print_string(
            yang5::data::DataFormat::XML,
            yang5::data::DataPrinterFlags::empty(),
        )
        .ok()?;
    Some(source_xml + &rules_xml)
}

fn has_nacm(tree: &DataTree<'_>) -> bool {
    use yang5::data::Data as _;
    tree.find_path(&format!("/{}:nacm", nacm::MODULE)).is_ok()
}

/// The shipped rules as a tree of `ctx`.
fn default_rules(ctx: &Context) -> Result<DataTree<'_>, DatastoreError> {
    DataTree::parse_string(
        ctx,
        nacm::DEFAULT_RULES_XML,
        yang5::data::DataFormat::XML,
        yang5::data::DataParserFlags::STRICT | yang5::data::DataParserFlags::NO_VALIDATION,
        yang5::data::DataValidationFlags::empty(),
    )
    .map_err(|e| DatastoreError::internal(format!("the shipped access-control rules: {e}")))
}

fn with_default_rules(ctx: &Context, tree: &mut DataTree<'_>) -> Result<(), DatastoreError> {
    let rules = default_rules(ctx)?;
    tree.merge(&rules)
        .map_err(|e| DatastoreError::internal(format!("merging the access-control rules: {e}")))
}

/// running with the shipped rules merged in (a copy-config of running
/// with them, as session 0, before any session exists); candidate follows.
fn merge_default_rules(ds: &mut Datastores<'_>) -> Result<(), DatastoreError> {
    let xml = ds.get_config(Datastore::Running)? + nacm::DEFAULT_RULES_XML;
    ds.copy_config(0, Datastore::Running, CopySource::Config(&xml))?;
    ds.candidate_follows_running()
}

/// Maps a datastore refusal to its `<rpc-error>` (RFC 6241 Appendix A),
/// with `error-path` in XML form.
fn rpc_error(ds: &Datastores<'_>, e: &DatastoreError) -> RpcError {
    const APP: ProtoOrApp = ProtoOrApp::Application;
    let mut r = match e.tag {
        ErrorTag::InUse => RpcError::in_use(ProtoOrApp::Protocol),
        ErrorTag::LockDenied => RpcError::lock_denied(),
        ErrorTag::InvalidValue => RpcError::invalid_value(APP),
        ErrorTag::BadAttribute => RpcError::bad_attribute(RpcProtoOrApp::Application),
        ErrorTag::UnknownElement => RpcError::unknown_element(APP),
        ErrorTag::UnknownNamespace => RpcError::unknown_namespace(APP),
        ErrorTag::DataExists => RpcError::data_exists(),
        ErrorTag::DataMissing => RpcError::data_missing(),
        ErrorTag::OperationNotSupported => RpcError::operation_not_supported(ProtoOrApp::Protocol),
        ErrorTag::OperationFailed => RpcError::operation_failed(RpcProtoOrApp::Application),
        ErrorTag::MalformedMessage => RpcError::malformed_message(),
    }
    .with_message(e.message.clone());
    if let Some(tag) = &e.app_tag {
        r = r.with_app_tag(tag.clone());
    }
    if let Some(path) = ds.xml_error_path(e) {
        r = r.with_path(path.xpath);
        for (prefix, ns) in path.namespaces {
            r = r.with_path_ns(prefix, ns);
        }
    }
    // RFC 6241 §7.5: lock-denied and in-use name the holder.
    if let Some(holder) = e.holder {
        r = r.with_info("session-id", holder.to_string());
    }
    if let Some(attr) = &e.bad_attribute {
        r = r.with_info("bad-attribute", attr.clone());
    }
    if matches!(
        e.tag,
        ErrorTag::UnknownElement | ErrorTag::BadAttribute | ErrorTag::UnknownNamespace
    ) && let Some(el) = e.path.as_deref().and_then(last_element)
    {
        r = r.with_bad_element(el);
    }
    r
}

/// A refused lock or unlock: the protocol layer's (RFC 6241 §7.5, §7.6).
fn lock_error(ds: &Datastores<'_>, e: &DatastoreError) -> RpcError {
    if e.tag != ErrorTag::OperationFailed {
        return rpc_error(ds, e);
    }
    let mut r = RpcError::operation_failed(RpcProtoOrApp::Protocol).with_message(e.message.clone());
    if let Some(holder) = e.holder {
        r = r.with_info("session-id", holder.to_string());
    }
    r
}

/// A copy-config's inline `<config>` content as a tree of the datastore
/// context, unvalidated (copy-config itself validates and answers errors):
/// what the access checks look at.
fn parse_inline<'c>(
    ctx: &'c yang5::context::Context,
    xml: &str,
) -> Result<DataTree<'c>, yang5::Error> {
    DataTree::parse_string(
        ctx,
        xml,
        yang5::data::DataFormat::XML,
        yang5::data::DataParserFlags::STRICT
            | yang5::data::DataParserFlags::NO_VALIDATION
            | yang5::data::DataParserFlags::NO_STATE,
        yang5::data::DataValidationFlags::empty(),
    )
}

/// The local name of a data path's last node.
fn last_element(path: &str) -> Option<String> {
    let last = *crate::datastore::path_steps(path).last()?;
    let name = last.split('[').next()?;
    let name = name.rsplit(':').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// The datastore path of an engine configuration key (`bgp.peers[2].port`,
/// as `BgpConfig::validate` names it).
fn engine_key_path(key: &str, cfg: &BgpConfig) -> String {
    const ROOT: &str = "/ncagent-bgp:bgp";
    let index = |prefix: &str| -> Option<usize> {
        let rest = key.strip_prefix(prefix)?;
        rest.split(']').next()?.parse().ok()
    };
    if let Some(p) = index("bgp.peers[").and_then(|i| cfg.peers.get(i)) {
        return format!("{ROOT}/neighbors/neighbor[address='{}']", p.address);
    }
    if let Some(g) = index("bgp.groups[").and_then(|i| cfg.groups.get(i))
        && !g.name.contains('\'')
    {
        return format!("{ROOT}/peer-groups/peer-group[name='{}']", g.name);
    }
    let leaf = match key {
        "bgp.local_as" => "/as",
        "bgp.router_id" => "/router-id",
        "bgp.listen" => "/listen",
        "bgp.hold_time" => "/timers/hold-time",
        "bgp.connect_retry" => "/timers/connect-retry",
        k if k.starts_with("bgp.route_targets") => "/route-target",
        _ => return ROOT.to_owned(),
    };
    format!("{ROOT}/global{leaf}")
}

/// The datastore a `<target>`/`<source>` names; `config_ok`: `<config>`
/// is allowed (copy-config, validate). RFC 6241 §7: `<url>` needs the
/// `:url` capability, not advertised.
enum Named<'a> {
    Datastore(Datastore),
    Config(&'a Element),
}

fn named<'a>(op: &'a Element, param: &str, config_ok: bool) -> Result<Named<'a>, RpcError> {
    let Some(p) = op.child(BASE_NS, param) else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{}> needs <{param}>", op.name))
            .with_bad_element(param));
    };
    let [choice] = p.children.as_slice() else {
        return Err(RpcError::missing_element(ProtoOrApp::Protocol)
            .with_message(format!("<{param}> must name exactly one datastore"))
            .with_bad_element(param));
    };
    if choice.ns.as_deref() == Some(BASE_NS) {
        match choice.name.as_str() {
            "running" => return Ok(Named::Datastore(Datastore::Running)),
            "candidate" => return Ok(Named::Datastore(Datastore::Candidate)),
            "startup" => return Ok(Named::Datastore(Datastore::Startup)),
            "config" if config_ok => return Ok(Named::Config(choice)),
            "url" => {
                return Err(RpcError::operation_not_supported(ProtoOrApp::Protocol)
                    .with_message("<url> needs the :url capability, which this server has not")
                    .with_bad_element("url"));
            }
            _ => {}
        }
    }
    Err(RpcError::invalid_value(ProtoOrApp::Protocol)
        .with_message(format!(
            "\"{}\" is not a datastore this server has",
            choice.name
        ))
        .with_bad_element(choice.name.clone()))
}

fn datastore(op: &Element, param: &str) -> Result<Datastore, RpcError> {
    match named(op, param, false)? {
        Named::Datastore(ds) => Ok(ds),
        Named::Config(_) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(format!("<{param}> must name a datastore"))
            .with_bad_element(param)),
    }
}

/// The content of a `<config>` element as XML text for libyang: every
/// element carries its namespace, and the namespace declarations in scope
/// at `<config>` (e.g. `xmlns:nc` for `nc:operation`, or prefixes used in
/// identityref values) are repeated on each top-level element.
pub fn config_content(decls: &[(String, String)], config: &Element) -> String {
    let mut out = String::new();
    for c in &config.children {
        write_element(&mut out, c, None, decls);
    }
    out
}

fn write_element(
    out: &mut String,
    el: &Element,
    parent_ns: Option<&str>,
    inherited: &[(String, String)],
) {
    let _ = write!(out, "<{}", el.name);
    if parent_ns.is_none() || el.ns.as_deref() != parent_ns {
        let _ = write!(
            out,
            " xmlns=\"{}\"",
            Escaped(el.ns.as_deref().unwrap_or(""))
        );
    }
    for (prefix, ns) in inherited {
        // A declaration on the element itself wins (and is written below).
        if el
            .attrs
            .iter()
            .any(|a| a.qname.strip_prefix("xmlns:") == Some(prefix))
        {
            continue;
        }
        let _ = write!(out, " xmlns:{prefix}=\"{}\"", Escaped(ns));
    }
    for a in &el.attrs {
        if a.qname == "xmlns" {
            continue;
        }
        let _ = write!(out, " {}=\"{}\"", a.qname, Escaped(&a.value));
    }
    if el.children.is_empty() && el.text.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let _ = write!(out, "{}", Escaped(&el.text));
    for c in &el.children {
        write_element(out, c, el.ns.as_deref(), &[]);
    }
    let _ = write!(out, "</{}>", el.name);
}

/// The prefixed namespace declarations on the path from `<rpc>` to
/// `<config>`, the innermost winning (ncclient declares `nc` on `<rpc>`).
fn declarations(rpc: &Rpc, param: &Element) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for attrs in [&rpc.attrs, &rpc.op.attrs, &param.attrs] {
        for a in attrs {
            if let Some(prefix) = a.qname.strip_prefix("xmlns:") {
                out.retain(|(p, _)| p != prefix);
                out.push((prefix.to_owned(), a.value.clone()));
            }
        }
    }
    out
}

fn enum_param<T: Copy>(
    op: &Element,
    name: &str,
    values: &[(&str, T)],
    default: T,
) -> Result<T, RpcError> {
    let Some(p) = op.child(BASE_NS, name) else {
        return Ok(default);
    };
    let text = p.text.trim();
    values
        .iter()
        .find(|(v, _)| *v == text)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            RpcError::invalid_value(ProtoOrApp::Protocol)
                .with_message(format!("\"{text}\" is not a value of <{name}>"))
                .with_bad_element(name)
        })
}

fn text_param(op: &Element, name: &str) -> Option<String> {
    op.child(BASE_NS, name).map(|e| e.text.trim().to_owned())
}

type Errors = Vec<RpcError>;

fn one(e: RpcError) -> Errors {
    vec![e]
}

impl ConfigStore {
    fn with<R>(&self, f: impl FnOnce(&mut Stores<'_>) -> R) -> R {
        let mut cell = lock(&self.cell);
        let r = cell.with_dependent_mut(|_, s| f(s));
        *lock(&self.printed) = Default::default();
        r
    }

    /// Runs `f` on a datastore's tree (explicit nodes only): the reader
    /// side (`<get-config>`, `<get>`). Changes nothing.
    pub fn read<R>(&self, ds: Datastore, f: impl FnOnce(&DataTree<'_>) -> R) -> R {
        let cell = lock(&self.cell);
        cell.with_dependent(|_, s| f(s.ds.tree(ds)))
    }

    /// A datastore printed as it is stored (explicit nodes, the content
    /// of `<data>`), by `print` on a miss; kept until the next change.
    pub fn printed(
        &self,
        ds: Datastore,
        print: impl FnOnce(&DataTree<'_>) -> Result<String, RpcError>,
    ) -> Result<Arc<str>, RpcError> {
        let cell = lock(&self.cell);
        let slot = match ds {
            Datastore::Running => 0,
            Datastore::Candidate => 1,
            Datastore::Startup => 2,
        };
        if let Some(xml) = &lock(&self.printed)[slot] {
            return Ok(xml.clone());
        }
        let xml: Arc<str> = cell.with_dependent(|_, s| print(s.ds.tree(ds)))?.into();
        lock(&self.printed)[slot] = Some(xml.clone());
        Ok(xml)
    }

    /// Access control: the rules of running and the counters.
    pub fn nacm(&self) -> &Arc<Nacm> {
        &self.nacm
    }

    /// Rules of running as they are now: after every change of running.
    fn reload_nacm(&self, s: &Stores<'_>) {
        self.nacm.reload(s.ds.tree(Datastore::Running));
    }

    /// Announces changes of running and confirmed commits on `notifier`'s
    /// stream from now on (set once; later calls are ignored).
    pub fn set_notifier(&self, notifier: Arc<Notifier>) {
        let _ = self.notifier.set(notifier);
    }

    /// A datastore as XML (explicit nodes only); "" when empty.
    pub fn config_xml(&self, ds: Datastore) -> Result<String, RpcError> {
        self.with(|s| s.ds.get_config(ds).map_err(|e| rpc_error(&s.ds, &e)))
    }

    /// The session holding a datastore's lock and since when.
    pub fn lock_info(&self, ds: Datastore) -> Option<(SessionId, SystemTime)> {
        self.with(|s| s.ds.lock_info(ds))
    }

    /// Whether a confirmed commit waits for confirmation.
    pub fn confirm_pending(&self) -> bool {
        self.with(|s| s.confirm.is_some())
    }

    /// A session ended: its locks go (RFC 6241 §7.5; candidate's changes
    /// with candidate's lock, §8.3.5.2), and a confirmed commit it issued
    /// without `persist` is rolled back (§8.4.1).
    pub fn session_ended(self: &Arc<Self>, session: SessionId) {
        let rollback = self.with(|s| {
            if let Err(e) = s.ds.release_session(session) {
                warn!(session, error = %e, "releasing the locks of an ended session");
            }
            s.confirm
                .as_ref()
                .is_some_and(|c| c.session == session && c.persist.is_none())
        });
        if !rollback {
            return;
        }
        let store = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    store
                        .rollback(
                            |c| c.session == session && c.persist.is_none(),
                            "its session ended",
                            (ConfirmEvent::Cancel, None),
                        )
                        .await;
                });
            }
            Err(_) => error!(session, "no runtime to roll back a confirmed commit"),
        }
    }

    /// Runs one datastore operation (one of [`OPERATIONS`]); access is
    /// decided first (SPEC §7, as for YANG RPCs).
    pub async fn handle(
        self: &Arc<Self>,
        ctx: &RpcContext,
        rpc: &Rpc,
    ) -> Result<ReplyBody, Errors> {
        let qualified = qualify_config(rpc);
        let rpc = qualified.as_ref().unwrap_or(rpc);
        let op = &rpc.op;
        // RFC 8341 §3.4.4: the operation is checked before its parameters.
        let who = Subject::of(&ctx.user);
        if names_startup(op) {
            self.nacm.exec_startup_copy(who)
        } else {
            self.nacm.exec(who, nacm::NETCONF_MODULE, &op.name)
        }
        .map_err(one)?;
        let sid = ctx.session_id;
        match op.name.as_str() {
            "lock" | "unlock" => {
                check_parameters(op, BASE_NS, &["target"]).map_err(one)?;
                let ds = datastore(op, "target").map_err(one)?;
                self.with(|s| {
                    let r = if op.name == "lock" {
                        s.ds.lock(sid, ds)
                    } else {
                        s.ds.unlock(sid, ds)
                    };
                    r.map_err(|e| one(lock_error(&s.ds, &e)))
                })?;
                info!(datastore = ds.name(), "{}", op.name);
                Ok(ReplyBody::Ok)
            }
            "edit-config" => self.edit_config(ctx, rpc).await,
            "copy-config" => self.copy_config(ctx, rpc).await,
            "delete-config" => {
                check_parameters(op, BASE_NS, &["target"]).map_err(one)?;
                let ds = datastore(op, "target").map_err(one)?;
                if ds != Datastore::Startup {
                    // RFC 6241 §7.4: running cannot be deleted; the
                    // ietf-netconf module offers only startup (and url).
                    return Err(one(RpcError::operation_not_supported(ProtoOrApp::Protocol)
                        .with_message(format!(
                            "the {} datastore cannot be deleted (RFC 6241 §7.4); only startup can",
                            ds.name()
                        ))
                        .with_bad_element(ds.name())));
                }
                self.with(|s| {
                    s.ds.delete_config(sid, ds)
                        .map_err(|e| one(rpc_error(&s.ds, &e)))
                })?;
                info!(datastore = ds.name(), "delete-config");
                Ok(ReplyBody::Ok)
            }
            "validate" => {
                check_parameters(op, BASE_NS, &["source"]).map_err(one)?;
                let source = named(op, "source", true).map_err(one)?;
                let content = match source {
                    Named::Config(c) => Some(config_content(&declarations(rpc, c), c)),
                    Named::Datastore(_) => None,
                };
                self.with(|s| {
                    let r = match (&source, &content) {
                        (Named::Datastore(ds), _) => s.ds.validate(*ds),
                        (_, Some(xml)) => s.ds.validate_config(xml),
                        _ => Ok(()),
                    };
                    r.map_err(|e| one(rpc_error(&s.ds, &e)))
                })?;
                Ok(ReplyBody::Ok)
            }
            "commit" => self.commit(ctx, op).await,
            "discard-changes" => {
                check_parameters(op, BASE_NS, &[]).map_err(one)?;
                self.with(|s| {
                    s.ds.discard_changes(sid)
                        .map_err(|e| one(rpc_error(&s.ds, &e)))
                })?;
                Ok(ReplyBody::Ok)
            }
            "cancel-commit" => self.cancel_commit(ctx, op).await,
            other => Err(one(RpcError::unsupported_operation(other))),
        }
    }

    async fn edit_config(&self, ctx: &RpcContext, rpc: &Rpc) -> Result<ReplyBody, Errors> {
        let sid = ctx.session_id;
        let op = &rpc.op;
        check_parameters(
            op,
            BASE_NS,
            &[
                "target",
                "default-operation",
                "test-option",
                "error-option",
                "config",
                "url",
            ],
        )
        .map_err(one)?;
        let target = datastore(op, "target").map_err(one)?;
        let options = EditOptions {
            default_operation: enum_param(
                op,
                "default-operation",
                &[
                    ("merge", DefaultOperation::Merge),
                    ("replace", DefaultOperation::Replace),
                    ("none", DefaultOperation::None),
                ],
                DefaultOperation::Merge,
            )
            .map_err(one)?,
            test_option: enum_param(
                op,
                "test-option",
                &[
                    ("test-then-set", TestOption::TestThenSet),
                    ("set", TestOption::Set),
                    ("test-only", TestOption::TestOnly),
                ],
                TestOption::TestThenSet,
            )
            .map_err(one)?,
            error_option: enum_param(
                op,
                "error-option",
                &[
                    ("stop-on-error", ErrorOption::StopOnError),
                    ("continue-on-error", ErrorOption::ContinueOnError),
                    ("rollback-on-error", ErrorOption::RollbackOnError),
                ],
                ErrorOption::StopOnError,
            )
            .map_err(one)?,
        };
        if op.child(BASE_NS, "url").is_some() {
            return Err(one(RpcError::operation_not_supported(ProtoOrApp::Protocol)
                .with_message("<url> needs the :url capability, which this server has not")
                .with_bad_element("url")));
        }
        let Some(config) = op.child(BASE_NS, "config") else {
            return Err(one(RpcError::missing_element(ProtoOrApp::Protocol)
                .with_message("<edit-config> needs <config>")
                .with_bad_element("config")));
        };
        let xml = config_content(&declarations(rpc, config), config);
        let who = Subject::of(&ctx.user);
        // RFC 8341 §3.4.5: every node the edit creates, changes or deletes
        // is checked against the write rules; a refusal puts the target
        // back as it was. (test-only changes nothing: nothing to check.)
        let check = self.nacm.checks_writes(who) && options.test_option != TestOption::TestOnly;
        let edit = |s: &mut Stores<'_>| {
            let candidate_was_changed = s.ds.candidate_changed();
            let before = if check {
                match s.ds.snapshot(target) {
                    Ok(b) => Some(b),
                    Err(e) => return (Err(one(rpc_error(&s.ds, &e))), false),
                }
            } else {
                None
            };
            let (result, changed) = match s.ds.edit_config(sid, target, &xml, options) {
                Ok(()) => (Ok(()), true),
                Err(f) => (
                    Err(f.errors.iter().map(|e| rpc_error(&s.ds, e)).collect()),
                    f.target_changed,
                ),
            };
            if let (true, Some(before)) = (changed, before)
                && let Err(d) =
                    self.nacm
                        .check_writes(who, "edit-config", before.tree(), s.ds.tree(target))
            {
                let err = write_error(&s.ds, who.name, &d);
                put_back(s, sid, target, before, candidate_was_changed);
                return (Err(one(err)), false);
            }
            (result, changed)
        };
        if target != Datastore::Running || options.test_option == TestOption::TestOnly {
            return self.with(|s| edit(s).0).map(|()| ReplyBody::Ok);
        }
        self.change_running(changed_by(ctx), None, edit, |_| {})
            .await?;
        info!(datastore = target.name(), "edit-config applied");
        Ok(ReplyBody::Ok)
    }

    async fn copy_config(&self, ctx: &RpcContext, rpc: &Rpc) -> Result<ReplyBody, Errors> {
        let sid = ctx.session_id;
        let op = &rpc.op;
        check_parameters(op, BASE_NS, &["target", "source"]).map_err(one)?;
        let target = datastore(op, "target").map_err(one)?;
        let source = named(op, "source", true).map_err(one)?;
        let content = match source {
            Named::Config(c) => Some(config_content(&declarations(rpc, c), c)),
            Named::Datastore(_) => None,
        };
        let who = Subject::of(&ctx.user);
        let check = self.nacm.checks_writes(who);
        let copy = |s: &mut Stores<'_>| {
            let src = match (&source, &content) {
                (Named::Datastore(ds), _) => CopySource::Datastore(*ds),
                (_, Some(xml)) => CopySource::Config(xml),
                _ => CopySource::Config(""),
            };
            // A source without access-control rules leaves the target's
            // (docs/nacm.md): the rules are invisible below level 3, so a
            // level-2 round trip (get-config, change, copy-config back)
            // must not wipe them.
            let carried = carry_rules(s, target, src);
            let src = match &carried {
                Some(xml) => CopySource::Config(xml),
                None => src,
            };
            // RFC 8341 §3.4.5: the copy replaces the target; what it would
            // create, change or delete is checked first.
            if check && let Err(d) = self.check_copy(s, who, target, src) {
                return (Err(one(write_error(&s.ds, who.name, &d))), false);
            }
            match s.ds.copy_config(sid, target, src) {
                Ok(()) => (Ok(()), true),
                Err(e) => (Err(one(rpc_error(&s.ds, &e))), false),
            }
        };
        if target == Datastore::Running {
            self.change_running(changed_by(ctx), None, copy, |_| {})
                .await?;
        } else {
            self.with(|s| copy(s).0)?;
        }
        info!(datastore = target.name(), "copy-config");
        Ok(ReplyBody::Ok)
    }

    /// The write check of a copy-config, before it runs: the target's
    /// tree against the source's. A `<config>` that does not parse is
    /// left to copy-config to refuse.
    fn check_copy(
        &self,
        s: &Stores<'_>,
        who: Subject<'_>,
        target: Datastore,
        src: CopySource<'_>,
    ) -> Result<(), WriteDenied> {
        let old = s.ds.tree(target);
        match src {
            CopySource::Datastore(ds) => {
                self.nacm
                    .check_writes(who, "copy-config", old, s.ds.tree(ds))
            }
            CopySource::Config(xml) => {
                let new = if xml.trim().is_empty() {
                    DataTree::new(s.ds.context())
                } else {
                    match parse_inline(s.ds.context(), xml) {
                        Ok(t) => t,
                        Err(_) => return Ok(()),
                    }
                };
                self.nacm.check_writes(who, "copy-config", old, &new)
            }
        }
    }

    /// RFC 6241 §8.3.4.1 `<commit>` and §8.4.5.1 confirmed commit.
    async fn commit(self: &Arc<Self>, ctx: &RpcContext, op: &Element) -> Result<ReplyBody, Errors> {
        let sid = ctx.session_id;
        check_parameters(
            op,
            BASE_NS,
            &["confirmed", "confirm-timeout", "persist", "persist-id"],
        )
        .map_err(one)?;
        let confirmed = op.child(BASE_NS, "confirmed").is_some();
        let timeout = match text_param(op, "confirm-timeout") {
            None => DEFAULT_CONFIRM_TIMEOUT,
            Some(t) => match t.parse::<u32>() {
                Ok(n) if n > 0 => Duration::from_secs(u64::from(n)),
                _ => {
                    return Err(one(RpcError::invalid_value(ProtoOrApp::Protocol)
                        .with_message(format!(
                            "confirm-timeout \"{t}\" is not a number of seconds (1 or more)"
                        ))
                        .with_bad_element("confirm-timeout")));
                }
            },
        };
        let persist = text_param(op, "persist");
        let persist_id = text_param(op, "persist-id");
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        // RFC 6470 §2.1 confirm-event of this commit, if any.
        let mut event: Option<ConfirmEvent> = None;
        let result = self
            .change_running(
                changed_by(ctx),
                Some(sid),
                |s| {
                    if let Err(e) = check_confirming(s, sid, persist_id.as_deref()) {
                        return (Err(one(e)), false);
                    }
                    if confirmed && s.confirm.is_none() {
                        match s.ds.snapshot(Datastore::Running) {
                            Ok(b) => s.staged_before = Some(b),
                            Err(e) => return (Err(one(rpc_error(&s.ds, &e))), false),
                        }
                    }
                    match s.ds.commit(sid) {
                        Ok(_) => (Ok(()), true),
                        Err(e) => (Err(one(rpc_error(&s.ds, &e))), false),
                    }
                },
                |s| {
                    if !confirmed {
                        // RFC 6241 §8.4.5.1: a commit without <confirmed>
                        // confirms a pending confirmed commit.
                        if s.confirm.take().is_some() {
                            info!("confirmed commit confirmed");
                            event = Some(ConfirmEvent::Complete);
                        }
                        return;
                    }
                    match (&mut s.confirm, s.staged_before.take()) {
                        // A follow-up confirmed commit: new timeout, the
                        // rollback still goes back to before the first.
                        (Some(c), _) => {
                            event = Some(ConfirmEvent::Extend);
                            c.generation = generation;
                            c.session = sid;
                            if persist.is_some() {
                                c.persist = persist.clone();
                            }
                        }
                        (None, Some(before)) => {
                            event = Some(ConfirmEvent::Start);
                            s.confirm = Some(Confirm {
                                before,
                                session: sid,
                                persist: persist.clone(),
                                generation,
                            });
                        }
                        (None, None) => {}
                    }
                },
            )
            .await;
        self.with(|s| s.staged_before = None);
        result?;
        if let (Some(event), Some(hub)) = (event, self.notifier.get()) {
            let secs = u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX);
            hub.confirmed_commit(event, Some(&session_info(ctx)), Some(secs));
        }
        if confirmed {
            info!(
                timeout_secs = timeout.as_secs(),
                persist = persist.is_some(),
                "confirmed commit: rolled back unless confirmed"
            );
            let store = self.clone();
            let timer = tokio::spawn(async move {
                tokio::time::sleep(timeout.min(MAX_CONFIRM_TIMER)).await;
                store
                    .rollback(
                        |c| c.generation == generation,
                        "confirm-timeout expired",
                        (ConfirmEvent::Timeout, None),
                    )
                    .await;
            });
            // One timer at a time: a client repeating confirmed commits
            // does not pile up sleeping tasks.
            if let Some(old) = lock(&self.timer).replace(timer.abort_handle()) {
                old.abort();
            }
        } else {
            info!("commit applied");
        }
        Ok(ReplyBody::Ok)
    }

    /// RFC 6241 §8.4.5.2 `<cancel-commit>`.
    async fn cancel_commit(&self, ctx: &RpcContext, op: &Element) -> Result<ReplyBody, Errors> {
        let sid = ctx.session_id;
        check_parameters(op, BASE_NS, &["persist-id"]).map_err(one)?;
        let persist_id = text_param(op, "persist-id");
        self.with(|s| match &s.confirm {
            None => Err(RpcError::operation_failed(RpcProtoOrApp::Protocol)
                .with_message("no confirmed commit is pending")),
            Some(c) => match (&c.persist, &persist_id) {
                (Some(p), Some(given)) if p == given => Ok(()),
                (Some(_), _) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
                    .with_message("persist-id does not match the pending confirmed commit")
                    .with_bad_element("persist-id")),
                (None, Some(_)) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
                    .with_message("the pending confirmed commit has no persist-id")
                    .with_bad_element("persist-id")),
                (None, None) if c.session != sid => {
                    Err(RpcError::operation_failed(RpcProtoOrApp::Protocol)
                        .with_message(format!(
                            "the pending confirmed commit belongs to session {}",
                            c.session
                        ))
                        .with_info("session-id", c.session.to_string()))
                }
                (None, None) => Ok(()),
            },
        })
        .map_err(one)?;
        let pid = persist_id.clone();
        let done = self
            .rollback(
                move |c| c.persist.is_none() || c.persist == pid,
                "cancel-commit",
                (ConfirmEvent::Cancel, Some(session_info(ctx))),
            )
            .await;
        if done {
            Ok(ReplyBody::Ok)
        } else {
            Err(one(RpcError::operation_failed(RpcProtoOrApp::Protocol)
                .with_message("no confirmed commit is pending")))
        }
    }

    /// Rolls a pending confirmed commit back if `which` selects it:
    /// running returns to what it was before, and the engine with it.
    /// Answers whether a rollback happened.
    async fn rollback(
        &self,
        which: impl FnOnce(&Confirm<'_>) -> bool,
        why: &str,
        (event, who): (ConfirmEvent, Option<SessionInfo>),
    ) -> bool {
        let _serial = self.apply.lock().await;
        let extras = self.extras;
        let cfg = self.with(|s| {
            let c = s.confirm.take_if(|c| which(c))?;
            let undone = s.ds.snapshot(Datastore::Running).ok();
            if let Err(e) = s.ds.restore_running(c.before) {
                error!(error = %e, "restoring running for a rollback");
                return None;
            }
            let changes = undone.map(|u| changes_between(u.tree(), s.ds.tree(Datastore::Running)));
            self.reload_nacm(s);
            Some((
                engine_config(s.ds.tree(Datastore::Running), extras),
                changes,
            ))
        });
        let Some((cfg, changes)) = cfg else {
            return false;
        };
        warn!(reason = why, "confirmed commit rolled back");
        if let Some(hub) = self.notifier.get() {
            // RFC 6470: the confirmed commit ended, and running changed
            // back (by the server on a timeout or a session's end).
            hub.confirmed_commit(event, who.as_ref(), None);
            let by = who.map_or(ChangedBy::Server, ChangedBy::User);
            hub.config_change(
                &by,
                "running",
                &events::config_edits(&changes.unwrap_or_default()),
            );
        }
        match cfg {
            Ok(cfg) => {
                if let Err(e) = self.reconfigure(&cfg).await {
                    error!(error = %e.message.as_deref().unwrap_or(""), "the engine refused the rolled-back configuration");
                }
            }
            Err(e) => error!(error = %e, "reading the rolled-back running"),
        }
        true
    }

    /// Changes running with `change` (which answers its result and whether
    /// running changed), applies the new running to the engine and, if the
    /// engine refuses it, puts running back (RFC 6241 §7.2: on failure
    /// running is untouched). `on_applied` runs once the engine took it,
    /// still under the serialization. `committed_by`: the change is a
    /// commit by that session, whose candidate is kept if refused.
    async fn change_running<T>(
        &self,
        by: ChangedBy,
        committed_by: Option<SessionId>,
        change: impl FnOnce(&mut Stores<'_>) -> (Result<T, Errors>, bool),
        on_applied: impl FnOnce(&mut Stores<'_>),
    ) -> Result<T, Errors> {
        let _serial = self.apply.lock().await;
        let extras = self.extras;
        let prepared = self.with(|s| {
            let before =
                s.ds.snapshot(Datastore::Running)
                    .map_err(|e| one(rpc_error(&s.ds, &e)))?;
            let (result, changed) = change(s);
            if !changed {
                return Ok((result, None));
            }
            match engine_config(s.ds.tree(Datastore::Running), extras) {
                Ok(cfg) => {
                    s.undo = Some(before);
                    Ok((result, Some(cfg)))
                }
                Err(e) => {
                    let err = rpc_error(&s.ds, &e);
                    s.ds.put_back_running(before, committed_by);
                    Err(one(err))
                }
            }
        })?;
        let (result, cfg) = prepared;
        let Some(cfg) = cfg else {
            return result;
        };
        match self.reconfigure(&cfg).await {
            Ok(()) => {
                let changes = self.with(|s| {
                    let changes = s.undo.take().map(|before| {
                        changes_between(before.tree(), s.ds.tree(Datastore::Running))
                    });
                    if let Err(e) = s.ds.candidate_follows_running() {
                        warn!(error = %e, "candidate could not follow running");
                    }
                    on_applied(s);
                    // RFC 8341: a rule change applies from the next RPC.
                    self.reload_nacm(s);
                    changes
                });
                // RFC 6470 §2.1: running changed, and who changed it.
                if let (Some(hub), Some(changes)) = (self.notifier.get(), changes) {
                    hub.config_change(&by, "running", &events::config_edits(&changes));
                }
                result
            }
            Err(e) => {
                self.with(|s| {
                    if let Some(before) = s.undo.take() {
                        s.ds.put_back_running(before, committed_by);
                    }
                });
                Err(one(e))
            }
        }
    }

    /// Applies a configuration to the engine within `limits.rpc_timeout_secs`;
    /// a refusal is an `operation-failed` naming the engine's reason, with
    /// the datastore path of the refused node.
    async fn reconfigure(&self, cfg: &BgpConfig) -> Result<(), RpcError> {
        let deadline = tokio::time::Instant::now() + self.rpc_timeout;
        match self.bgp.reconfigure(cfg.clone(), deadline).await {
            Ok(report) => {
                info!(?report, "running applied to the BGP engine");
                Ok(())
            }
            Err(e) => {
                warn!(error = %e, "the BGP engine refused the new running configuration");
                let path = match &e {
                    ReconfigureError::Invalid(BgpError::Config { key, .. }) => {
                        Some(engine_key_path(key, cfg))
                    }
                    ReconfigureError::Listen { .. } => {
                        Some("/ncagent-bgp:bgp/global/listen".to_owned())
                    }
                    _ => None,
                };
                let mut r = RpcError::operation_failed(RpcProtoOrApp::Application).with_message(
                    format!("the BGP engine refused the configuration, running is unchanged: {e}"),
                );
                if let Some(p) = path {
                    let xml = self.with(|s| {
                        s.ds.xml_error_path(&DatastoreError {
                            tag: ErrorTag::OperationFailed,
                            app_tag: None,
                            path: Some(p),
                            message: String::new(),
                            holder: None,
                            bad_attribute: None,
                        })
                    });
                    if let Some(xml) = xml {
                        r = r.with_path(xml.xpath);
                        for (prefix, ns) in xml.namespaces {
                            r = r.with_path_ns(prefix, ns);
                        }
                    }
                }
                Err(r)
            }
        }
    }
}

/// A commit while a confirmed commit is pending must be its confirmation
/// (RFC 6241 §8.4.5.1): the same session, or the matching `persist-id`.
fn check_confirming(
    s: &Stores<'_>,
    sid: SessionId,
    persist_id: Option<&str>,
) -> Result<(), RpcError> {
    match (&s.confirm, persist_id) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message("no confirmed commit is pending")
            .with_bad_element("persist-id")),
        (Some(c), given) => match (&c.persist, given) {
            (Some(p), Some(g)) if p == g => Ok(()),
            (Some(_), Some(_)) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
                .with_message("persist-id does not match the pending confirmed commit")
                .with_bad_element("persist-id")),
            (Some(_), None) => Err(RpcError::in_use(ProtoOrApp::Protocol).with_message(
                "a persistent confirmed commit is pending: confirm it with its persist-id",
            )),
            (None, Some(_)) => Err(RpcError::invalid_value(ProtoOrApp::Protocol)
                .with_message("the pending confirmed commit has no persist-id")
                .with_bad_element("persist-id")),
            (None, None) if c.session == sid => Ok(()),
            (None, None) => Err(RpcError::in_use(ProtoOrApp::Protocol)
                .with_message(format!(
                    "a confirmed commit of session {} is pending",
                    c.session
                ))
                .with_info("session-id", c.session.to_string())),
        },
    }
}

/// ncclient puts a `<config>` given as text into its `<nc:edit-config>`
/// without a namespace (`<config>` under a prefixed parent): such a
/// `<config>` is taken as the base one, as Netopeer2 and ConfD do, rather
/// than refused as an unknown parameter. None: nothing to change.
fn qualify_config(rpc: &Rpc) -> Option<Rpc> {
    let unqualified = |e: &Element| e.ns.is_none() && e.name == "config";
    let in_op = rpc.op.children.iter().any(unqualified);
    let in_source = rpc
        .op
        .child(BASE_NS, "source")
        .is_some_and(|s| s.children.iter().any(unqualified));
    if !in_op && !in_source {
        return None;
    }
    let mut out = rpc.clone();
    let fix = |children: &mut Vec<Element>| {
        for c in children.iter_mut().filter(|c| unqualified(c)) {
            c.ns = Some(BASE_NS.to_owned());
        }
    };
    fix(&mut out.op.children);
    for s in out
        .op
        .children
        .iter_mut()
        .filter(|c| c.is(BASE_NS, "source"))
    {
        fix(&mut s.children);
    }
    Some(out)
}

/// Whether `op` is a copy-config to or from startup: saving or loading
/// the boot configuration, which carries the access-control rules
/// (docs/nacm.md).
fn names_startup(op: &Element) -> bool {
    let startup = |param: &str| {
        op.child(BASE_NS, param)
            .is_some_and(|p| p.child(BASE_NS, "startup").is_some())
    };
    op.name == "copy-config" && (startup("target") || startup("source"))
}

/// A refused data write (RFC 8341 §3.4.5): `access-denied` in the
/// application layer (the data, not the operation, is refused), with the
/// path of the node.
fn write_error(ds: &Datastores<'_>, who: &str, d: &WriteDenied) -> RpcError {
    let mut r = RpcError::access_denied(ProtoOrApp::Application).with_message(format!(
        "access denied: user \"{who}\" may not {} {} ({})",
        d.access.as_str(),
        d.path,
        d.decision.describe()
    ));
    let at = DatastoreError::new(ErrorTag::OperationFailed, String::new()).at(d.path.clone());
    if let Some(path) = ds.xml_error_path(&at) {
        r = r.with_path(path.xpath);
        for (prefix, ns) in path.namespaces {
            r = r.with_path_ns(prefix, ns);
        }
    }
    r
}

/// Puts a datastore back after a write NACM refused: running as the
/// commit machinery does; candidate by discard-changes when nobody had
/// changed it, else by a copy of what it held.
fn put_back<'c>(
    s: &mut Stores<'c>,
    sid: SessionId,
    target: Datastore,
    before: Snapshot<'c>,
    candidate_was_changed: bool,
) {
    use yang5::data::Data as _;
    let r = match target {
        Datastore::Running => {
            s.ds.put_back_running(before, None);
            Ok(())
        }
        Datastore::Candidate if !candidate_was_changed => s.ds.discard_changes(sid),
        _ => {
            let xml = if before.tree().reference().is_none() {
                Ok(String::new())
            } else {
                before
                    .tree()
                    .print_string(
                        yang5::data::DataFormat::XML,
                        yang5::data::DataPrinterFlags::WITH_SIBLINGS,
                    )
                    .map_err(|e| DatastoreError::internal(e.to_string()))
            };
            xml.and_then(|xml| s.ds.copy_config(sid, target, CopySource::Config(&xml)))
        }
    };
    if let Err(e) = r {
        error!(datastore = target.name(), error = %e, "putting a datastore back after a refused write");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn last_element_of_paths() {
        assert_eq!(
            last_element("/ncagent-bgp:bgp/neighbors/neighbor[address='1.2.3.4']").as_deref(),
            Some("neighbor")
        );
        assert_eq!(
            last_element("/ncagent-bgp:bgp/peer-groups/peer-group[name='a/b']/x").as_deref(),
            Some("x")
        );
    }

    #[test]
    fn engine_keys_to_datastore_paths() {
        let mut cfg = BgpConfig::new(1, Ipv4Addr::LOCALHOST);
        cfg.peers = vec![crate::bgp::PeerConfig::new("10.0.0.1".parse().unwrap(), 2)];
        assert_eq!(
            engine_key_path("bgp.peers[0].port", &cfg),
            "/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']"
        );
        assert_eq!(
            engine_key_path("bgp.local_as", &cfg),
            "/ncagent-bgp:bgp/global/as"
        );
        assert_eq!(engine_key_path("bgp.peers[7].x", &cfg), "/ncagent-bgp:bgp");
    }

    #[test]
    fn an_unqualified_config_as_ncclient_sends_it_is_the_base_one() {
        let doc = br#"<nc:rpc xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><nc:edit-config><nc:target><nc:running/></nc:target><config><bgp xmlns="urn:x"/></config></nc:edit-config></nc:rpc>"#;
        let rpc = match crate::netconf::message::parse_rpc(doc) {
            Ok(r) => r,
            Err(e) => panic!("{e:?}"),
        };
        assert!(rpc.op.child(BASE_NS, "config").is_none());
        let fixed = qualify_config(&rpc).unwrap();
        assert!(fixed.op.child(BASE_NS, "config").is_some());
        check_parameters(&fixed.op, BASE_NS, &["target", "config"]).unwrap();
        assert!(qualify_config(&fixed).is_none());
    }

    #[test]
    fn config_content_keeps_namespaces_and_attributes() {
        let doc = br#"<nc:rpc xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><nc:edit-config><nc:config><bgp xmlns="urn:x" xmlns:y="urn:y"><a nc:operation="delete">v</a><b>y:z</b></bgp></nc:config></nc:edit-config></nc:rpc>"#;
        let rpc = match crate::netconf::message::parse_rpc(doc) {
            Ok(r) => r,
            Err(e) => panic!("{e:?}"),
        };
        let config = rpc.op.child(BASE_NS, "config").unwrap();
        let xml = config_content(&declarations(&rpc, config), config);
        assert_eq!(
            xml,
            "<bgp xmlns=\"urn:x\" xmlns:nc=\"urn:ietf:params:xml:ns:netconf:base:1.0\" xmlns:y=\"urn:y\"><a nc:operation=\"delete\">v</a><b>y:z</b></bgp>"
        );
    }
}
