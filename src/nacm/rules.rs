//! The NACM rule model (RFC 8341 §2.3, §3.4) as plain data, and its three
//! evaluations: protocol operations (§3.4.4), data nodes (§3.4.5) and
//! notifications (§3.4.6). Built once per change of running from the
//! `/nacm` tree, so that the hot path never touches libyang.

use std::collections::HashMap;

use yang5::data::{Data, DataNodeRef, DataTree};

use super::MODULE;

/// One requested access (the bits of `access-operations-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Create,
    Read,
    Update,
    Delete,
    Exec,
}

impl Access {
    fn bit(self) -> u8 {
        match self {
            Access::Create => 1,
            Access::Read => 2,
            Access::Update => 4,
            Access::Delete => 8,
            Access::Exec => 16,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Create => "create",
            Access::Read => "read",
            Access::Update => "update",
            Access::Delete => "delete",
            Access::Exec => "exec",
        }
    }
}

const ALL_ACCESS: u8 = 31;

/// `action-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Permit,
    Deny,
}

/// One step of a rule's `path` or of a data node's path:
/// `module:name[key='value']…` (the module is inherited when absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub module: String,
    pub name: String,
    pub keys: Vec<(String, String)>,
}

/// The `rule-type` choice of a rule (RFC 8341 §3.4.4–§3.4.6): none of
/// them set means the rule applies to every kind of request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleType {
    Any,
    Rpc(String),
    Notification(String),
    /// Empty: the path "/", every data node.
    Path(Vec<Step>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// `*` or a module name.
    pub module: String,
    pub kind: RuleType,
    access: u8,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleList {
    pub name: String,
    /// Group names; `*` is every group.
    pub groups: Vec<String>,
    pub rules: Vec<Rule>,
}

/// The rule that decided, for logs and `error-message`s: `None` is the
/// default (`*-default` leaf or a `default-deny-*` extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// (rule-list, rule)
    pub rule: Option<(String, String)>,
    /// Why the default applies, when no rule matched.
    pub default: &'static str,
}

impl Decision {
    pub fn permitted(&self) -> bool {
        self.action == Action::Permit
    }

    /// "rule \"x\" of rule-list \"y\"" or "default (exec-default deny)".
    pub fn describe(&self) -> String {
        match &self.rule {
            Some((list, rule)) => format!("rule \"{rule}\" of rule-list \"{list}\""),
            None => format!("default ({})", self.default),
        }
    }

    fn by_default(action: Action, default: &'static str) -> Decision {
        Decision {
            action,
            rule: None,
            default,
        }
    }
}

/// What a data node carries of the NACM extensions (RFC 8341 §3.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extension {
    None,
    DefaultDenyWrite,
    DefaultDenyAll,
}

/// The whole `/nacm` configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    pub enabled: bool,
    pub read_default: Action,
    pub write_default: Action,
    pub exec_default: Action,
    pub external_groups: bool,
    /// NACM's own groups: user name → group names.
    pub members: HashMap<String, Vec<String>>,
    pub lists: Vec<RuleList>,
}

impl Default for Rules {
    /// The YANG defaults of an absent `/nacm` (RFC 8341 §3.2.1: reads and
    /// operations permitted, writes denied).
    fn default() -> Rules {
        Rules {
            enabled: true,
            read_default: Action::Permit,
            write_default: Action::Deny,
            exec_default: Action::Permit,
            external_groups: true,
            members: HashMap::new(),
            lists: Vec::new(),
        }
    }
}

fn action(v: &str) -> Action {
    if v == "deny" {
        Action::Deny
    } else {
        Action::Permit
    }
}

fn access_bits(v: &str) -> u8 {
    if v.trim() == "*" {
        return ALL_ACCESS;
    }
    v.split_whitespace()
        .map(|b| match b {
            "create" => Access::Create.bit(),
            "read" => Access::Read.bit(),
            "update" => Access::Update.bit(),
            "delete" => Access::Delete.bit(),
            "exec" => Access::Exec.bit(),
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

fn leaf(node: &DataNodeRef<'_>, name: &str) -> Option<String> {
    node.children()
        .find(|c| c.schema().name() == name)
        .and_then(|c| c.value_canonical())
}

fn leaves(node: &DataNodeRef<'_>, name: &str) -> Vec<String> {
    node.children()
        .filter(|c| c.schema().name() == name)
        .filter_map(|c| c.value_canonical())
        .collect()
}

impl Rules {
    /// The rules of a datastore tree (the datastore context's; the tree is
    /// valid, so every key is there). No `/nacm`: the YANG defaults.
    pub fn from_tree(tree: &DataTree<'_>) -> Rules {
        let mut rules = Rules::default();
        let Ok(nacm) = tree.find_path(&format!("/{MODULE}:nacm")) else {
            return rules;
        };
        let flag = |name: &str, default: bool| leaf(&nacm, name).map_or(default, |v| v == "true");
        rules.enabled = flag("enable-nacm", true);
        rules.external_groups = flag("enable-external-groups", true);
        if let Some(v) = leaf(&nacm, "read-default") {
            rules.read_default = action(&v);
        }
        if let Some(v) = leaf(&nacm, "write-default") {
            rules.write_default = action(&v);
        }
        if let Some(v) = leaf(&nacm, "exec-default") {
            rules.exec_default = action(&v);
        }
        for c in nacm.children() {
            match c.schema().name() {
                "groups" => {
                    for g in c.children() {
                        let Some(group) = leaf(&g, "name") else {
                            continue;
                        };
                        for user in leaves(&g, "user-name") {
                            rules.members.entry(user).or_default().push(group.clone());
                        }
                    }
                }
                "rule-list" => {
                    let mut list = RuleList {
                        name: leaf(&c, "name").unwrap_or_default(),
                        groups: leaves(&c, "group"),
                        rules: Vec::new(),
                    };
                    for r in c.children().filter(|r| r.schema().name() == "rule") {
                        list.rules.push(rule_of(&r));
                    }
                    rules.lists.push(list);
                }
                _ => {}
            }
        }
        rules
    }

    /// The groups of a user: the transport's (the level groups, RFC 8341
    /// `enable-external-groups`) and NACM's own.
    pub fn groups_of(&self, user: &str, external: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if self.external_groups {
            out.extend(external.iter().map(|g| (*g).to_owned()));
        }
        if let Some(own) = self.members.get(user) {
            for g in own {
                if !out.contains(g) {
                    out.push(g.clone());
                }
            }
        }
        out
    }

    /// The rules that apply to a member of `groups`, in order (RFC 8341
    /// §3.4.4 steps 5–6: rule-lists in order, rules in order).
    fn applicable<'r>(
        &'r self,
        groups: &'r [String],
    ) -> impl Iterator<Item = (&'r RuleList, &'r Rule)> + 'r {
        self.lists
            .iter()
            .filter(|l| {
                l.groups
                    .iter()
                    .any(|g| g == "*" || groups.iter().any(|u| u == g))
            })
            .flat_map(|l| l.rules.iter().map(move |r| (l, r)))
    }

    fn first_match(
        &self,
        groups: &[String],
        access: Access,
        matches: impl Fn(&Rule) -> bool,
    ) -> Option<Decision> {
        self.applicable(groups)
            .find(|(_, r)| r.access & access.bit() != 0 && matches(r))
            .map(|(l, r)| Decision {
                action: r.action,
                rule: Some((l.name.clone(), r.name.clone())),
                default: "",
            })
    }

    /// RFC 8341 §3.4.4: may a member of `groups` run `module:op`?
    /// `deny_all`: the operation carries `nacm:default-deny-all`.
    pub fn exec(&self, groups: &[String], module: &str, op: &str, deny_all: bool) -> Decision {
        if !self.enabled {
            return Decision::by_default(Action::Permit, "enable-nacm false");
        }
        let found = self.first_match(groups, Access::Exec, |r| {
            module_matches(&r.module, module)
                && match &r.kind {
                    RuleType::Any => true,
                    RuleType::Rpc(n) => n == "*" || n == op,
                    _ => false,
                }
        });
        found.unwrap_or_else(|| {
            if deny_all {
                Decision::by_default(Action::Deny, "nacm:default-deny-all")
            } else if self.exec_default == Action::Deny {
                Decision::by_default(Action::Deny, "exec-default deny")
            } else {
                Decision::by_default(Action::Permit, "exec-default permit")
            }
        })
    }

    /// RFC 8341 §3.4.5: may a member of `groups` have `access` to the data
    /// node at `path` (its steps from the top; the first names the module)?
    pub fn data(
        &self,
        groups: &[String],
        access: Access,
        path: &[NodeStep<'_>],
        ext: Extension,
    ) -> Decision {
        if !self.enabled {
            return Decision::by_default(Action::Permit, "enable-nacm false");
        }
        let module = path.first().map_or("", |s| s.module);
        let found = self.first_match(groups, access, |r| {
            module_matches(&r.module, module)
                && match &r.kind {
                    RuleType::Any => true,
                    RuleType::Path(steps) => path_matches(steps, path),
                    _ => false,
                }
        });
        found.unwrap_or_else(|| {
            let write = access != Access::Read;
            match ext {
                Extension::DefaultDenyAll => {
                    Decision::by_default(Action::Deny, "nacm:default-deny-all")
                }
                Extension::DefaultDenyWrite if write => {
                    Decision::by_default(Action::Deny, "nacm:default-deny-write")
                }
                _ if write => match self.write_default {
                    Action::Deny => Decision::by_default(Action::Deny, "write-default deny"),
                    Action::Permit => Decision::by_default(Action::Permit, "write-default permit"),
                },
                _ => match self.read_default {
                    Action::Deny => Decision::by_default(Action::Deny, "read-default deny"),
                    Action::Permit => Decision::by_default(Action::Permit, "read-default permit"),
                },
            }
        })
    }

    /// RFC 8341 §3.4.6: may a member of `groups` receive `module:name`?
    pub fn notification(
        &self,
        groups: &[String],
        module: &str,
        name: &str,
        deny_all: bool,
    ) -> Decision {
        if !self.enabled {
            return Decision::by_default(Action::Permit, "enable-nacm false");
        }
        let found = self.first_match(groups, Access::Read, |r| {
            module_matches(&r.module, module)
                && match &r.kind {
                    RuleType::Any => true,
                    RuleType::Notification(n) => n == "*" || n == name,
                    _ => false,
                }
        });
        found.unwrap_or_else(|| {
            if deny_all {
                Decision::by_default(Action::Deny, "nacm:default-deny-all")
            } else if self.read_default == Action::Deny {
                Decision::by_default(Action::Deny, "read-default deny")
            } else {
                Decision::by_default(Action::Permit, "read-default permit")
            }
        })
    }

    /// Whether every read decision for a member of `groups` is the one of
    /// the top-level node above it (no rule names a deeper path or a list
    /// entry): a reply is then filtered by its top-level elements alone.
    pub fn read_decided_at_top(&self, groups: &[String]) -> bool {
        self.applicable(groups)
            .filter(|(_, r)| r.access & Access::Read.bit() != 0)
            .all(|(_, r)| match &r.kind {
                RuleType::Path(steps) => {
                    steps.len() <= 1 && steps.iter().all(|s| s.keys.is_empty())
                }
                _ => true,
            })
    }

    /// Whether a member of `groups` is permitted `access` to every data
    /// node (NACM off, or a first applicable rule for that access that is
    /// a permit of everything): then no per-node check is needed.
    pub fn permits_all_data(&self, groups: &[String], access: Access) -> bool {
        if !self.enabled {
            return true;
        }
        // No rule: the defaults, and /nacm's default-deny-all.
        self.first_data_rule(groups, access, None)
            .is_some_and(|r| r.module == "*" && r.permits_whole_module())
    }

    /// Whether a member of `groups` may read every node of `module`, a
    /// module without NACM extensions (e.g. ietf-netconf-monitoring):
    /// NACM off, or the first rule for reads that can match the module
    /// permits all of it, or no such rule and `read-default` permits.
    /// Conservative: a rule with a path makes it false.
    pub fn permits_module_read(&self, groups: &[String], module: &str) -> bool {
        if !self.enabled {
            return true;
        }
        match self.first_data_rule(groups, Access::Read, Some(module)) {
            None => self.read_default == Action::Permit,
            Some(r) => r.permits_whole_module(),
        }
    }

    /// The first data rule for `access` that applies to `groups` (and may
    /// match `module`, when given).
    fn first_data_rule<'r>(
        &'r self,
        groups: &'r [String],
        access: Access,
        module: Option<&str>,
    ) -> Option<&'r Rule> {
        self.applicable(groups).map(|(_, r)| r).find(|r| {
            r.access & access.bit() != 0
                && !matches!(r.kind, RuleType::Rpc(_) | RuleType::Notification(_))
                && module.is_none_or(|m| module_matches(&r.module, m))
        })
    }
}

impl Rule {
    /// A permit of every node of its module (no path, or the empty one).
    fn permits_whole_module(&self) -> bool {
        self.action == Action::Permit
            && match &self.kind {
                RuleType::Any => true,
                RuleType::Path(steps) => steps.is_empty(),
                _ => false,
            }
    }
}

fn module_matches(rule: &str, module: &str) -> bool {
    rule == "*" || rule == module
}

fn rule_of(r: &DataNodeRef<'_>) -> Rule {
    let kind = if let Some(n) = leaf(r, "rpc-name") {
        RuleType::Rpc(n)
    } else if let Some(n) = leaf(r, "notification-name") {
        RuleType::Notification(n)
    } else if let Some(p) = leaf(r, "path") {
        RuleType::Path(parse_path(&p))
    } else {
        RuleType::Any
    };
    Rule {
        name: leaf(r, "name").unwrap_or_default(),
        module: leaf(r, "module-name").unwrap_or_else(|| "*".to_owned()),
        kind,
        access: leaf(r, "access-operations").map_or(ALL_ACCESS, |v| access_bits(&v)),
        action: leaf(r, "action").map_or(Action::Deny, |v| action(&v)),
    }
}

/// A data node's step as the evaluation sees it: its module, its name, and
/// a way to read a key (or any child leaf) of a list entry.
pub struct NodeStep<'a> {
    pub module: &'a str,
    pub name: &'a str,
    pub key: &'a dyn Fn(&str) -> Option<String>,
}

/// A rule path matches the node it names and every node below it (RFC 8341
/// §3.4.5); a step without predicates matches every entry of a list.
fn path_matches(rule: &[Step], node: &[NodeStep<'_>]) -> bool {
    if rule.len() > node.len() {
        return false;
    }
    rule.iter().zip(node).all(|(r, n)| {
        r.name == n.name
            && r.module == n.module
            && r.keys
                .iter()
                .all(|(k, v)| (n.key)(k).is_some_and(|got| &got == v))
    })
}

/// Parses a `node-instance-identifier` as libyang stores it (JSON prefixes:
/// module names), or a data node's path (`DataNodeRef::path`). "/" is the
/// empty path. Prefixes that are not module names compare unequal (the
/// rule then matches nothing), which errs on the side of the defaults.
pub fn parse_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut module = String::new();
    for raw in crate::datastore::path_steps(path) {
        let (head, preds) = match raw.find('[') {
            Some(i) => (&raw[..i], &raw[i..]),
            None => (raw, ""),
        };
        let name = match head.split_once(':') {
            Some((m, n)) => {
                module = m.to_owned();
                n.to_owned()
            }
            None => head.to_owned(),
        };
        steps.push(Step {
            module: module.clone(),
            name,
            keys: predicates(preds),
        });
    }
    steps
}

/// `[k='v'][m="w"]` → [(k, v), (m, w)]; the key's prefix is dropped.
fn predicates(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(rest) = s.strip_prefix('[') {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim();
        let key = key.rsplit(':').next().unwrap_or(key).to_owned();
        let after = rest[eq + 1..].trim_start();
        let Some(q) = after.chars().next().filter(|c| *c == '\'' || *c == '"') else {
            break;
        };
        let body = &after[1..];
        let Some(end) = body.find(q) else { break };
        out.push((key, body[..end].to_owned()));
        let tail = &body[end + 1..];
        s = tail.trim_start().strip_prefix(']').unwrap_or("");
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    fn rule(name: &str, module: &str, kind: RuleType, access: &str, act: Action) -> Rule {
        Rule {
            name: name.into(),
            module: module.into(),
            kind,
            access: access_bits(access),
            action: act,
        }
    }

    fn list(name: &str, groups: &[&str], rules: Vec<Rule>) -> RuleList {
        RuleList {
            name: name.into(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            rules,
        }
    }

    fn g(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    fn no_key(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn paths_parse_with_inherited_modules_and_keys() {
        let p = parse_path("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/x");
        assert_eq!(p.len(), 4);
        assert_eq!(p[2].module, "ncagent-bgp");
        assert_eq!(p[2].keys, vec![("address".into(), "10.0.0.1".into())]);
        assert!(parse_path("/").is_empty());
        assert_eq!(parse_path("/a:b[k=\"x/y\"]")[0].keys[0].1, "x/y");
    }

    #[test]
    fn exec_first_match_wins_in_list_then_rule_order() {
        let mut r = Rules {
            exec_default: Action::Deny,
            ..Rules::default()
        };
        r.lists = vec![
            list(
                "a",
                &["ops"],
                vec![rule(
                    "deny-lock",
                    "ietf-netconf",
                    RuleType::Rpc("lock".into()),
                    "exec",
                    Action::Deny,
                )],
            ),
            list(
                "b",
                &["*"],
                vec![
                    rule("all-nc", "ietf-netconf", RuleType::Any, "*", Action::Permit),
                    rule("never", "*", RuleType::Any, "*", Action::Deny),
                ],
            ),
        ];
        let ops = g(&["ops"]);
        let d = r.exec(&ops, "ietf-netconf", "lock", false);
        assert!(!d.permitted());
        assert_eq!(d.describe(), "rule \"deny-lock\" of rule-list \"a\"");
        assert!(r.exec(&ops, "ietf-netconf", "unlock", false).permitted());
        // A rule matches before the extension's default.
        assert!(
            r.exec(&g(&["x"]), "ietf-netconf", "kill-session", true)
                .permitted()
        );
        assert!(!r.exec(&g(&["x"]), "m", "rpc", false).permitted());
        // Access bits: a read-only rule does not match exec.
        r.lists = vec![list(
            "c",
            &["*"],
            vec![rule("ro", "*", RuleType::Any, "read", Action::Permit)],
        )];
        assert_eq!(r.exec(&ops, "m", "rpc", false).default, "exec-default deny");
        r.exec_default = Action::Permit;
        assert!(r.exec(&ops, "m", "rpc", false).permitted());
        assert_eq!(
            r.exec(&ops, "m", "rpc", true).default,
            "nacm:default-deny-all"
        );
        r.enabled = false;
        assert!(r.exec(&ops, "m", "rpc", true).permitted());
    }

    #[test]
    fn data_paths_defaults_and_extensions() {
        let mut r = Rules::default();
        r.lists = vec![list(
            "l",
            &["g"],
            vec![
                rule(
                    "no-peer",
                    "*",
                    RuleType::Path(parse_path(
                        "/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']",
                    )),
                    "read update",
                    Action::Deny,
                ),
                rule(
                    "w",
                    "ncagent-bgp",
                    RuleType::Any,
                    "create update delete",
                    Action::Permit,
                ),
            ],
        )];
        let key = |k: &str| (k == "address").then(|| "10.0.0.1".to_owned());
        let other = |k: &str| (k == "address").then(|| "10.0.0.2".to_owned());
        let path = |f: &'static dyn Fn(&str) -> Option<String>| {
            vec![
                NodeStep {
                    module: "ncagent-bgp",
                    name: "bgp",
                    key: &no_key,
                },
                NodeStep {
                    module: "ncagent-bgp",
                    name: "neighbors",
                    key: &no_key,
                },
                NodeStep {
                    module: "ncagent-bgp",
                    name: "neighbor",
                    key: f,
                },
            ]
        };
        let gs = g(&["g"]);
        let p1 = path(Box::leak(Box::new(key)));
        let p2 = path(Box::leak(Box::new(other)));
        assert!(!r.data(&gs, Access::Read, &p1, Extension::None).permitted());
        assert!(r.data(&gs, Access::Read, &p2, Extension::None).permitted());
        assert!(
            !r.data(&gs, Access::Update, &p1, Extension::None)
                .permitted()
        );
        assert!(
            r.data(&gs, Access::Update, &p2, Extension::None)
                .permitted()
        );
        // Delete matches the second rule; the first has no delete bit.
        assert!(
            r.data(&gs, Access::Delete, &p1, Extension::None)
                .permitted()
        );
        let nacm = [NodeStep {
            module: MODULE,
            name: "nacm",
            key: &no_key,
        }];
        assert!(
            !r.data(&gs, Access::Read, &nacm, Extension::DefaultDenyAll)
                .permitted()
        );
        assert!(
            r.data(&gs, Access::Read, &nacm, Extension::DefaultDenyWrite)
                .permitted()
        );
        assert!(
            !r.data(&gs, Access::Update, &nacm, Extension::DefaultDenyWrite)
                .permitted()
        );
        assert_eq!(
            r.data(&gs, Access::Create, &nacm, Extension::None).default,
            "write-default deny"
        );
        assert!(!r.permits_all_data(&gs, Access::Read));
        r.lists.insert(
            0,
            list(
                "all",
                &["g"],
                vec![rule("all", "*", RuleType::Any, "*", Action::Permit)],
            ),
        );
        assert!(r.permits_all_data(&gs, Access::Read));
        assert!(
            r.data(&gs, Access::Read, &nacm, Extension::DefaultDenyAll)
                .permitted()
        );
    }

    #[test]
    fn notifications() {
        let mut r = Rules::default();
        r.lists = vec![list(
            "l",
            &["g"],
            vec![rule(
                "no-start",
                "ietf-netconf-notifications",
                RuleType::Notification("netconf-session-start".into()),
                "read",
                Action::Deny,
            )],
        )];
        let gs = g(&["g"]);
        assert!(
            !r.notification(
                &gs,
                "ietf-netconf-notifications",
                "netconf-session-start",
                false
            )
            .permitted()
        );
        assert!(
            r.notification(
                &gs,
                "ietf-netconf-notifications",
                "netconf-session-end",
                false
            )
            .permitted()
        );
        assert!(
            r.notification(
                &g(&["h"]),
                "ietf-netconf-notifications",
                "netconf-session-start",
                false
            )
            .permitted()
        );
        assert!(!r.notification(&gs, "m", "n", true).permitted());
        r.read_default = Action::Deny;
        assert!(!r.notification(&gs, "m", "n", false).permitted());
    }

    #[test]
    fn groups_external_and_own() {
        let mut r = Rules::default();
        r.members.insert("bob".into(), g(&["sec"]));
        assert_eq!(
            r.groups_of("bob", &["monitoring"]),
            g(&["monitoring", "sec"])
        );
        r.external_groups = false;
        assert_eq!(r.groups_of("bob", &["monitoring"]), g(&["sec"]));
        assert!(r.groups_of("al", &["monitoring"]).is_empty());
    }
}
