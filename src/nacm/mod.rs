//! NETCONF access control (RFC 8341, docs/nacm.md): the rules of running's
//! `/nacm` as a snapshot swapped on every change of running, and the checks
//! the operations, the writes, the reads and the notifications make.
//!
//! Users' groups: the transport's (RFC 8341 "external groups") are named
//! after the switch's levels, a level-N user being in the group of every
//! level ≤ N (`visit`, `monitoring`, `configuration`, `management`); NACM's
//! own `/nacm/groups` add more. A user named in `[nacm] recovery_users`
//! (RFC 8341 §3.4 "recovery session") bypasses NACM, each bypass logged.

mod prune;
mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::{debug, info, warn};
use yang5::data::DataTree;

use crate::auth::Level;
use crate::netconf::error::{ProtoOrApp, RpcError};

pub use prune::{module_map, prune_reply};
pub use rules::{Access, Action, Decision, Extension, NodeStep, Rules, parse_path};

/// The module of the rules (RFC 8341 §3.2).
pub const MODULE: &str = "ietf-netconf-acm";
/// Its namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-acm";

/// The modules of the operations checked here (their `module-name`).
pub const NETCONF_MODULE: &str = "ietf-netconf";
pub const MONITORING_MODULE: &str = "ietf-netconf-monitoring";
pub const NOTIFICATIONS_MODULE: &str = "notifications";

/// Operations that carry `nacm:default-deny-all` in their YANG modules:
/// ietf-netconf's `kill-session` and `delete-config` (RFC 6241 §10,
/// RFC 8341 §3.2.1.2), and our `refresh-bgp-vpn-target`, which disrupts
/// the network (yang/ncagent-bgp-vpn-target; a unit test keeps the two
/// lists in step).
const DEFAULT_DENY_ALL_OPS: &[(&str, &str)] = &[
    (NETCONF_MODULE, "kill-session"),
    (NETCONF_MODULE, "delete-config"),
    (crate::schema::MODULE_NAME, "refresh-bgp-vpn-target"),
];

/// The groups the transport gives a user of `level` (docs/nacm.md).
pub fn level_groups(level: Level) -> &'static [&'static str] {
    const ALL: [&str; 4] = ["visit", "monitoring", "configuration", "management"];
    &ALL[..=level as usize]
}

/// The shipped rule set (docs/nacm.md): it reproduces the levels'
/// decisions of docs/errors.md. Seeded into a new startup and merged into
/// a running without `/nacm` at boot.
pub const DEFAULT_RULES_XML: &str = r#"<nacm xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-acm">
  <enable-nacm>true</enable-nacm>
  <read-default>permit</read-default>
  <write-default>deny</write-default>
  <exec-default>deny</exec-default>
  <enable-external-groups>true</enable-external-groups>
  <rule-list>
    <name>management</name>
    <group>management</group>
    <rule>
      <name>permit-all</name>
      <module-name>*</module-name>
      <access-operations>*</access-operations>
      <action>permit</action>
      <comment>Level 3: everything, the access-control rules included.</comment>
    </rule>
  </rule-list>
  <rule-list>
    <name>configuration</name>
    <group>configuration</group>
    <rule>
      <name>deny-nacm</name>
      <module-name>ietf-netconf-acm</module-name>
      <access-operations>*</access-operations>
      <action>deny</action>
      <comment>The access-control rules are level 3's.</comment>
    </rule>
    <rule>
      <name>deny-kill-session</name>
      <module-name>ietf-netconf</module-name>
      <rpc-name>kill-session</rpc-name>
      <access-operations>exec</access-operations>
      <action>deny</action>
    </rule>
    <rule>
      <name>deny-delete-config</name>
      <module-name>ietf-netconf</module-name>
      <rpc-name>delete-config</rpc-name>
      <access-operations>exec</access-operations>
      <action>deny</action>
    </rule>
    <rule>
      <name>permit-datastore-operations</name>
      <module-name>ietf-netconf</module-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
      <comment>Level 2: edit, copy (not to or from startup), validate, commit, lock.</comment>
    </rule>
    <rule>
      <name>permit-refresh</name>
      <module-name>ncagent-bgp-vpn-target</module-name>
      <rpc-name>refresh-bgp-vpn-target</rpc-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
    </rule>
    <rule>
      <name>permit-config-writes</name>
      <module-name>*</module-name>
      <access-operations>create update delete</access-operations>
      <action>permit</action>
    </rule>
  </rule-list>
  <rule-list>
    <name>monitoring</name>
    <group>monitoring</group>
    <rule>
      <name>permit-get</name>
      <module-name>ietf-netconf</module-name>
      <rpc-name>get</rpc-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
    </rule>
    <rule>
      <name>permit-get-config</name>
      <module-name>ietf-netconf</module-name>
      <rpc-name>get-config</rpc-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
    </rule>
    <rule>
      <name>permit-get-schema</name>
      <module-name>ietf-netconf-monitoring</module-name>
      <rpc-name>get-schema</rpc-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
    </rule>
    <rule>
      <name>permit-create-subscription</name>
      <module-name>notifications</module-name>
      <rpc-name>create-subscription</rpc-name>
      <access-operations>exec</access-operations>
      <action>permit</action>
    </rule>
  </rule-list>
</nacm>"#;

/// The shipped rules as a snapshot: what a server without datastores
/// (tests' applications) decides with.
pub fn shipped_rules() -> &'static Rules {
    static SHIPPED: OnceLock<Rules> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        crate::schema::datastore_context()
            .ok()
            .and_then(|ctx| {
                let tree = DataTree::parse_string(
                    &ctx,
                    DEFAULT_RULES_XML,
                    yang5::data::DataFormat::XML,
                    yang5::data::DataParserFlags::STRICT
                        | yang5::data::DataParserFlags::NO_VALIDATION,
                    yang5::data::DataValidationFlags::empty(),
                )
                .ok()?;
                Some(Rules::from_tree(&tree))
            })
            // Unreachable with the embedded module; deny-by-default then.
            .unwrap_or_else(|| Rules {
                exec_default: Action::Deny,
                read_default: Action::Deny,
                ..Rules::default()
            })
    })
}

/// The access control of a server without datastores (the NETCONF layer's
/// tests' applications): the shipped rules, never reloaded.
pub fn fallback() -> Arc<Nacm> {
    static FALLBACK: OnceLock<Arc<Nacm>> = OnceLock::new();
    FALLBACK.get_or_init(|| Arc::new(Nacm::default())).clone()
}

/// Who a check is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub name: &'a str,
    pub level: Level,
}

impl<'a> Subject<'a> {
    pub fn of(user: &'a crate::netconf::state::SessionUser) -> Subject<'a> {
        Subject {
            name: &user.name,
            level: user.level,
        }
    }
}

/// A refused data write: the node and the rule, for the `<rpc-error>`.
#[derive(Debug, Clone)]
pub struct WriteDenied {
    /// The node's data path (JSON prefixes), for `error-path`.
    pub path: String,
    pub access: Access,
    pub decision: Decision,
}

/// The access-control state shared by every session.
pub struct Nacm {
    rules: RwLock<Arc<Rules>>,
    recovery: RwLock<HashSet<String>>,
    pub denied_operations: AtomicU64,
    pub denied_data_writes: AtomicU64,
    pub denied_notifications: AtomicU64,
    /// Second of the last notification denial logged at info level.
    notification_logged: AtomicU64,
    /// Namespace → module of the served modules (rules name modules;
    /// replies and events carry namespaces).
    modules: OnceLock<HashMap<String, String>>,
}

impl Default for Nacm {
    fn default() -> Self {
        Nacm {
            rules: RwLock::new(Arc::new(shipped_rules().clone())),
            recovery: RwLock::new(HashSet::new()),
            denied_operations: AtomicU64::new(0),
            denied_data_writes: AtomicU64::new(0),
            denied_notifications: AtomicU64::new(0),
            notification_logged: AtomicU64::new(0),
            modules: OnceLock::new(),
        }
    }
}

impl Nacm {
    /// The rules from now on (called whenever running changes).
    pub fn set_rules(&self, rules: Rules) {
        let rules = Arc::new(rules);
        match self.rules.write() {
            Ok(mut r) => *r = rules,
            Err(p) => *p.into_inner() = rules,
        }
    }

    /// The rules of a running tree, taken as the snapshot.
    pub fn reload(&self, running: &DataTree<'_>) {
        let rules = Rules::from_tree(running);
        debug!(
            enabled = rules.enabled,
            rule_lists = rules.lists.len(),
            "access-control rules loaded"
        );
        self.set_rules(rules);
    }

    /// The current snapshot.
    pub fn rules(&self) -> Arc<Rules> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The served modules, by namespace (set once).
    pub fn set_modules(&self, modules: HashMap<String, String>) {
        let _ = self.modules.set(modules);
    }

    /// The module of a namespace; "" if unknown (then only rules for
    /// module "*" match).
    pub fn module_of(&self, ns: &str) -> &str {
        self.modules
            .get()
            .and_then(|m| m.get(ns))
            .map_or(if ns == NS { MODULE } else { "" }, String::as_str)
    }

    /// The users whose sessions bypass NACM (RFC 8341 §3.4).
    pub fn set_recovery_users(&self, users: impl IntoIterator<Item = String>) {
        let set: HashSet<String> = users.into_iter().collect();
        match self.recovery.write() {
            Ok(mut r) => *r = set,
            Err(p) => *p.into_inner() = set,
        }
    }

    fn is_recovery(&self, user: &str) -> bool {
        match self.recovery.read() {
            Ok(r) => r.contains(user),
            Err(p) => p.into_inner().contains(user),
        }
    }

    /// The groups of a user under `rules`.
    pub fn groups(rules: &Rules, who: Subject<'_>) -> Vec<String> {
        rules.groups_of(who.name, level_groups(who.level))
    }

    /// RFC 8341 §3.4.4: may `who` run `module:op`? Decided on the operation
    /// alone, before its parameters are looked at. A denial is counted,
    /// logged, and answered protocol `access-denied` naming the rule.
    pub fn exec(&self, who: Subject<'_>, module: &str, op: &str) -> Result<(), RpcError> {
        // §3.4.4 step 2: close-session is always permitted.
        if module == NETCONF_MODULE && op == "close-session" {
            return Ok(());
        }
        if self.is_recovery(who.name) {
            info!(
                user = who.name,
                op, "recovery session: access control bypassed"
            );
            return Ok(());
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        let deny_all = DEFAULT_DENY_ALL_OPS.contains(&(module, op));
        let d = rules.exec(&groups, module, op, deny_all);
        if d.permitted() {
            return Ok(());
        }
        self.denied_operations.fetch_add(1, Ordering::Relaxed);
        let rule = d.describe();
        warn!(user = who.name, module, op, rule = %rule, "access denied");
        Err(
            RpcError::access_denied(ProtoOrApp::Protocol).with_message(format!(
                "access denied: user \"{}\" may not run \"{op}\" ({rule})",
                who.name
            )),
        )
    }

    /// Whether writes of `who` need a per-node check (not when NACM is
    /// off, the session is a recovery one, or a rule permits every write).
    pub fn checks_writes(&self, who: Subject<'_>) -> bool {
        if self.is_recovery(who.name) {
            return false;
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        ![Access::Create, Access::Update, Access::Delete]
            .iter()
            .all(|a| rules.permits_all_data(&groups, *a))
    }

    /// RFC 8341 §3.4.5: checks every changed node of `old` → `new` (two
    /// trees of one context) against the write rules; the first refused
    /// node is answered (and counted, and logged).
    pub fn check_writes(
        &self,
        who: Subject<'_>,
        op: &str,
        old: &DataTree<'_>,
        new: &DataTree<'_>,
    ) -> Result<(), WriteDenied> {
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        let changes = match prune::changes(old, new) {
            Ok(c) => c,
            Err(e) => {
                // Cannot tell what changed: refuse rather than guess.
                warn!(error = %e, "the change could not be listed for access control");
                return self.write_denied(
                    who,
                    op,
                    WriteDenied {
                        path: "/".to_owned(),
                        access: Access::Update,
                        decision: Decision {
                            action: Action::Deny,
                            rule: None,
                            default: "the change could not be listed",
                        },
                    },
                );
            }
        };
        for (access, path, ext) in changes {
            let steps = rules::parse_path(&path);
            type KeyFn = Box<dyn Fn(&str) -> Option<String>>;
            // Keys of the node's own path, for rule predicates.
            let keys: Vec<KeyFn> = steps
                .iter()
                .map(|s| {
                    let k = s.keys.clone();
                    Box::new(move |name: &str| {
                        k.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
                    }) as KeyFn
                })
                .collect();
            let nodes: Vec<NodeStep<'_>> = steps
                .iter()
                .zip(&keys)
                .map(|(s, f)| NodeStep {
                    module: &s.module,
                    name: &s.name,
                    key: f.as_ref(),
                })
                .collect();
            let d = rules.data(&groups, access, &nodes, ext);
            if !d.permitted() {
                return self.write_denied(
                    who,
                    op,
                    WriteDenied {
                        path,
                        access,
                        decision: d,
                    },
                );
            }
        }
        Ok(())
    }

    fn write_denied(
        &self,
        who: Subject<'_>,
        op: &str,
        denied: WriteDenied,
    ) -> Result<(), WriteDenied> {
        self.denied_data_writes.fetch_add(1, Ordering::Relaxed);
        warn!(
            user = who.name,
            op,
            path = %denied.path,
            access = denied.access.as_str(),
            rule = %denied.decision.describe(),
            "data write denied"
        );
        Err(denied)
    }

    /// Whether `who` may save or load the boot configuration (copy-config
    /// to or from startup, docs/nacm.md): it carries the access-control
    /// rules, so it needs update access to `/nacm`. Decided with the
    /// operation, before its parameters are validated.
    pub fn exec_startup_copy(&self, who: Subject<'_>) -> Result<(), RpcError> {
        self.exec(who, NETCONF_MODULE, "copy-config")?;
        if self.is_recovery(who.name) {
            return Ok(());
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        let nacm = [NodeStep {
            module: MODULE,
            name: "nacm",
            key: &|_| None,
        }];
        let d = rules.data(&groups, Access::Update, &nacm, Extension::DefaultDenyAll);
        if d.permitted() {
            return Ok(());
        }
        self.denied_operations.fetch_add(1, Ordering::Relaxed);
        let rule = d.describe();
        warn!(user = who.name, op = "copy-config (startup)", rule = %rule, "access denied");
        Err(RpcError::access_denied(ProtoOrApp::Protocol).with_message(format!(
            "access denied: user \"{}\" may not run \"copy-config\" to or from startup: it needs write access to /nacm ({rule})",
            who.name
        )))
    }

    /// The `<get>` reply with what `who` may not read left out (RFC 8341
    /// §3.4.5: silently). `xml` is the content of `<data>`.
    pub fn filter_read(&self, who: Subject<'_>, xml: String) -> String {
        if self.is_recovery(who.name) {
            return xml;
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        if rules.permits_all_data(&groups, Access::Read) || xml.is_empty() {
            return xml;
        }
        let empty = HashMap::new();
        let modules = self.modules.get().unwrap_or(&empty);
        prune_reply(&rules, &groups, modules, &xml)
    }

    /// Whether `who` may read all of `module` (a module without NACM
    /// extensions): then a reply made only of its nodes needs no pruning
    /// and may be written without a data tree.
    pub fn reads_all_of(&self, who: Subject<'_>, module: &str) -> bool {
        if self.is_recovery(who.name) {
            return true;
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        rules.permits_module_read(&groups, module)
    }

    /// RFC 8341 §3.4.6: may `who` receive the event `module:name`? A
    /// denial is counted; logged at debug, and at info at most once a
    /// second (events can be frequent).
    pub fn notification(&self, who: Subject<'_>, module: &str, name: &str) -> bool {
        if self.is_recovery(who.name) {
            return true;
        }
        let rules = self.rules();
        let groups = Nacm::groups(&rules, who);
        let d = rules.notification(&groups, module, name, false);
        if d.permitted() {
            return true;
        }
        self.denied_notifications.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let last = self.notification_logged.swap(now, Ordering::Relaxed);
        if last != now {
            info!(user = who.name, module, notification = name, rule = %d.describe(), "notification not delivered (access control)");
        } else {
            debug!(user = who.name, module, notification = name, rule = %d.describe(), "notification not delivered (access control)");
        }
        false
    }

    /// The per-subscriber check of events (RFC 8341 §3.4.6) for `user`,
    /// by the namespace and name of the event's content.
    pub fn event_access(
        self: &Arc<Self>,
        user: crate::netconf::state::SessionUser,
    ) -> crate::netconf::notify::EventAccess {
        let nacm = self.clone();
        Arc::new(move |ns: &str, name: &str| {
            nacm.notification(Subject::of(&user), nacm.module_of(ns), name)
        })
    }

    /// The counters (RFC 8341 §3.2.1.1…) as `<nacm>` state XML for `<get>`.
    pub fn counters_xml(&self) -> String {
        format!(
            "<nacm xmlns=\"{NS}\"><denied-operations>{}</denied-operations><denied-data-writes>{}</denied-data-writes><denied-notifications>{}</denied-notifications></nacm>",
            self.denied_operations.load(Ordering::Relaxed),
            self.denied_data_writes.load(Ordering::Relaxed),
            self.denied_notifications.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn who(level: u8) -> Subject<'static> {
        Subject {
            name: "u",
            level: Level::try_from(level).unwrap(),
        }
    }

    #[test]
    fn the_refresh_rpc_carries_default_deny_all() {
        let text = include_str!("../../yang/ncagent-bgp-vpn-target@2026-11-26.yang");
        let rpc = text.split("rpc refresh-bgp-vpn-target {").nth(1).unwrap();
        assert!(rpc.trim_start().starts_with("nacm:default-deny-all;"));
    }

    /// The shipped rules reproduce the level decisions of docs/errors.md.
    #[test]
    fn shipped_rules_reproduce_the_levels() {
        let nacm = Nacm::default();
        assert!(shipped_rules().lists.len() == 3);
        let ops: &[(&str, &str, u8)] = &[
            (NETCONF_MODULE, "close-session", 0),
            (NETCONF_MODULE, "get", 1),
            (NETCONF_MODULE, "get-config", 1),
            (MONITORING_MODULE, "get-schema", 1),
            (NOTIFICATIONS_MODULE, "create-subscription", 1),
            (NETCONF_MODULE, "edit-config", 2),
            (NETCONF_MODULE, "copy-config", 2),
            (NETCONF_MODULE, "validate", 2),
            (NETCONF_MODULE, "commit", 2),
            (NETCONF_MODULE, "discard-changes", 2),
            (NETCONF_MODULE, "cancel-commit", 2),
            (NETCONF_MODULE, "lock", 2),
            (NETCONF_MODULE, "unlock", 2),
            (crate::schema::MODULE_NAME, "refresh-bgp-vpn-target", 2),
            (NETCONF_MODULE, "kill-session", 3),
            (NETCONF_MODULE, "delete-config", 3),
        ];
        for &(module, op, need) in ops {
            for level in 0..=3u8 {
                let ok = nacm.exec(who(level), module, op).is_ok();
                assert_eq!(ok, level >= need, "{op} at level {level}");
            }
        }
        for level in 0..=3u8 {
            assert_eq!(nacm.exec_startup_copy(who(level)).is_ok(), level == 3);
            assert_eq!(nacm.checks_writes(who(level)), level < 3);
        }
        let e = nacm
            .exec(who(1), crate::schema::MODULE_NAME, "refresh-bgp-vpn-target")
            .unwrap_err();
        assert!(e.to_string().contains("protocol access-denied"), "{e}");
        assert!(
            e.to_string().contains("default (nacm:default-deny-all)"),
            "{e}"
        );
        assert!(nacm.denied_operations.load(Ordering::Relaxed) > 0);
        nacm.set_recovery_users(["u".to_owned()]);
        assert!(nacm.exec(who(0), NETCONF_MODULE, "kill-session").is_ok());
    }
}
