//! `netconf-state` of ietf-netconf-monitoring (RFC 6022 §2).
//!
//! Only the children of `netconf-state` a `<get>`'s filter can select are
//! produced: the everyday poll of `netconf-state/statistics` needs a
//! dozen counters, not the capabilities, schemas and sessions (issue #12:
//! the filter is evaluated while the data is produced, not only after).
//! What is produced still goes through the general read path (one libyang
//! tree, filtered, printed), so the reply is the one the whole
//! `netconf-state` would give; `tests::prefiltered_equals_whole` checks
//! that over a table of filters.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::super::MONITORING_NS;
use super::super::ReadFilter;
use super::super::error::Escaped;
use super::super::state::{ServerState, SessionSummary};

pub(super) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The children of `netconf-state` (RFC 6022 §2.1), in schema order.
const PARTS: [&str; 5] = [
    "capabilities",
    "datastores",
    "schemas",
    "sessions",
    "statistics",
];

/// Which children of `netconf-state` are produced, indexed as [`PARTS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Parts([bool; 5]);

impl Parts {
    pub(crate) const ALL: Parts = Parts([true; 5]);

    fn has(self, name: &str) -> bool {
        PARTS
            .iter()
            .position(|p| *p == name)
            .is_some_and(|i| self.0[i])
    }
}

/// Whether a subtree filter element's namespace may be `ns` (an element
/// without a namespace matches any, as in `ReadFilter::may_select` and the
/// subtree filter itself).
fn ns_may_be(el_ns: Option<&str>, ns: &str) -> bool {
    el_ns.is_none_or(|n| n.is_empty() || n == ns)
}

/// The children of `netconf-state` that `filter` may select. Conservative:
/// everything, unless every `netconf-state` node of a subtree filter is a
/// containment node whose children are containment or selection nodes
/// (RFC 6241 §6.2.3, §6.2.4); then the children they name. A content match
/// node among them (§6.2.5) can select the whole `netconf-state`, and an
/// XPath expression anything, so both get everything.
pub(crate) fn parts_wanted(filter: Option<&ReadFilter<'_>>) -> Parts {
    let Some(ReadFilter::Subtree(f)) = filter else {
        return Parts::ALL;
    };
    let mut wanted = [false; 5];
    for top in f
        .children
        .iter()
        .filter(|c| c.name == "netconf-state" && ns_may_be(c.ns.as_deref(), MONITORING_NS))
    {
        if top.children.is_empty() {
            // A selection node (or a content match on the container).
            return Parts::ALL;
        }
        for c in &top.children {
            // Mirrors FilterNode::is_content_match (crate::schema).
            if c.children.is_empty() && !c.text.trim().is_empty() {
                return Parts::ALL;
            }
            if !ns_may_be(c.ns.as_deref(), MONITORING_NS) {
                continue;
            }
            if let Some(i) = PARTS.iter().position(|p| *p == c.name) {
                wanted[i] = true;
            }
        }
    }
    Parts(wanted)
}

/// What `netconf-state` is made of, gathered from the server's state (only
/// the parts wanted are filled).
pub(crate) struct Source<'a> {
    pub capabilities: &'a [String],
    /// Each datastore served, with its lock's holder and time.
    pub datastores: Vec<(&'static str, Option<(u32, SystemTime)>)>,
    /// The `<schemas>` element, from the application.
    pub schemas: Option<&'a str>,
    pub sessions: Vec<SessionSummary>,
    pub start_time: SystemTime,
    /// in-bad-hellos, in-sessions, dropped-sessions, in-rpcs, in-bad-rpcs,
    /// out-rpc-errors, out-notifications (RFC 6022 §2.1.5).
    pub stats: [u64; 7],
}

fn gather(state: &ServerState, parts: Parts) -> Source<'_> {
    let mut datastores = Vec::new();
    if parts.has("datastores") {
        // RFC 6022 §2.1.2: every datastore served, with its lock.
        for name in ["running", "candidate", "startup"] {
            if !state.app.serves_datastore(name) {
                continue;
            }
            let lock = if name == "running" {
                state.running_lock_info()
            } else {
                state.app.lock_info(name)
            };
            datastores.push((name, lock));
        }
    }
    let st = &state.stats;
    Source {
        capabilities: &state.capabilities,
        datastores,
        schemas: if parts.has("schemas") {
            state.monitoring_schemas()
        } else {
            None
        },
        sessions: if parts.has("sessions") {
            state.sessions_snapshot()
        } else {
            Vec::new()
        },
        start_time: state.start_time,
        stats: [
            counter32(st.in_bad_hellos.load(Ordering::Relaxed)),
            counter32(st.in_sessions.load(Ordering::Relaxed)),
            counter32(st.dropped_sessions.load(Ordering::Relaxed)),
            counter32(st.in_rpcs.load(Ordering::Relaxed)),
            counter32(st.in_bad_rpcs.load(Ordering::Relaxed)),
            counter32(st.out_rpc_errors.load(Ordering::Relaxed)),
            counter32(st.out_notifications.load(Ordering::Relaxed)),
        ],
    }
}

/// A counter as RFC 6022 types it (`zero-based-counter32`, RFC 6991 §3):
/// it wraps to zero past 2^32 - 1; the agent counts in 64 bits.
fn counter32(v: u64) -> u64 {
    v & u64::from(u32::MAX)
}

/// `netconf-state` as XML with the children `parts` names, for the read
/// path to parse into the reply tree.
pub(crate) fn render(src: &Source<'_>, parts: Parts) -> String {
    let mut s = format!("<netconf-state xmlns=\"{MONITORING_NS}\">");
    if parts.has("capabilities") {
        s.push_str("<capabilities>");
        for cap in src.capabilities {
            let _ = write!(s, "<capability>{}</capability>", Escaped(cap));
        }
        s.push_str("</capabilities>");
    }
    if parts.has("datastores") {
        s.push_str("<datastores>");
        for (name, lock) in &src.datastores {
            let _ = write!(s, "<datastore><name>{name}</name>");
            // locked-time is when the lock was taken.
            if let Some((holder, since)) = lock {
                let _ = write!(
                    s,
                    "<locks><global-lock><locked-by-session>{holder}</locked-by-session>\
                     <locked-time>{}</locked-time></global-lock></locks>",
                    rfc3339(*since)
                );
            }
            s.push_str("</datastore>");
        }
        s.push_str("</datastores>");
    }
    if parts.has("schemas")
        && let Some(schemas) = src.schemas
    {
        s.push_str(schemas);
    }
    if parts.has("sessions") {
        s.push_str("<sessions>");
        for row in &src.sessions {
            let _ = write!(
                s,
                "<session><session-id>{}</session-id>\
                 <transport xmlns:ncm=\"{MONITORING_NS}\">ncm:netconf-ssh</transport>\
                 <username>{}</username>",
                row.id,
                Escaped(&row.user)
            );
            if let Some(p) = row.peer {
                let _ = write!(s, "<source-host>{}</source-host>", p.ip());
            }
            let _ = write!(
                s,
                "<login-time>{}</login-time><in-rpcs>{}</in-rpcs><in-bad-rpcs>{}</in-bad-rpcs>\
                 <out-rpc-errors>{}</out-rpc-errors><out-notifications>{}</out-notifications></session>",
                rfc3339(row.login_time),
                counter32(row.in_rpcs),
                counter32(row.in_bad_rpcs),
                counter32(row.out_rpc_errors),
                counter32(row.out_notifications),
            );
        }
        s.push_str("</sessions>");
    }
    if parts.has("statistics") {
        let [bad_hellos, sessions, dropped, rpcs, bad_rpcs, errors, notes] = src.stats;
        let _ = write!(
            s,
            "<statistics><netconf-start-time>{}</netconf-start-time>\
             <in-bad-hellos>{bad_hellos}</in-bad-hellos><in-sessions>{sessions}</in-sessions>\
             <dropped-sessions>{dropped}</dropped-sessions><in-rpcs>{rpcs}</in-rpcs>\
             <in-bad-rpcs>{bad_rpcs}</in-bad-rpcs><out-rpc-errors>{errors}</out-rpc-errors>\
             <out-notifications>{notes}</out-notifications></statistics>",
            rfc3339(src.start_time),
        );
    }
    s.push_str("</netconf-state>");
    s
}

/// `netconf-state` with what `filter` may select (all of it without one).
pub(super) fn netconf_state(state: &ServerState, filter: Option<&ReadFilter<'_>>) -> String {
    let parts = parts_wanted(filter);
    render(&gather(state, parts), parts)
}

/// The leaves of `statistics` (RFC 6022 §2.1.5), in schema order.
const STATISTICS: [&str; 8] = [
    "netconf-start-time",
    "in-bad-hellos",
    "in-sessions",
    "dropped-sessions",
    "in-rpcs",
    "in-bad-rpcs",
    "out-rpc-errors",
    "out-notifications",
];

/// Which leaves of `statistics` a subtree filter selects, when it is the
/// NMS's poll of statistics and nothing else: exactly one top-level
/// `netconf-state` in the monitoring namespace, whose children are all
/// `statistics`, each a selection node (RFC 6241 §6.2.4: every leaf) or a
/// containment node of selection nodes naming leaves of it (§6.2.3).
/// `None` for any other filter (content match nodes, other nodes or
/// namespaces, elements without a namespace): the general path answers.
pub(crate) fn statistics_selected(filter: &ReadFilter<'_>) -> Option<[bool; 8]> {
    let ReadFilter::Subtree(f) = filter else {
        return None;
    };
    let is_ncm = |el: &super::super::message::Element| el.ns.as_deref() == Some(MONITORING_NS);
    let blank = |el: &super::super::message::Element| el.text.trim().is_empty();
    let [top] = f.children.as_slice() else {
        return None;
    };
    if !(top.name == "netconf-state" && is_ncm(top) && blank(top)) || top.children.is_empty() {
        return None;
    }
    let mut leaves = [false; 8];
    for stats in &top.children {
        if !(stats.name == "statistics" && is_ncm(stats) && blank(stats)) {
            return None;
        }
        if stats.children.is_empty() {
            leaves = [true; 8];
            continue;
        }
        for leaf in &stats.children {
            if !(is_ncm(leaf) && blank(leaf) && leaf.children.is_empty()) {
                return None;
            }
            leaves[STATISTICS.iter().position(|n| *n == leaf.name)?] = true;
        }
    }
    Some(leaves)
}

/// The content of `<data>` for a `<get>` whose filter selects the leaves
/// `leaves` of `netconf-state/statistics` only ([`statistics_selected`]), written
/// directly: the shape is fixed (one container, leaves in schema order,
/// the default namespace on `netconf-state`), and it is what the general
/// path prints for it, which `northbound::read`'s
/// `direct_statistics_equals_general` checks over a table of filters.
/// `None`: the general path answers (a with-defaults mode other than the
/// basic one).
pub(crate) fn statistics_direct(
    src: &Source<'_>,
    leaves: [bool; 8],
    with_defaults: Option<super::super::WithDefaults>,
) -> Option<String> {
    // RFC 6243: the counters' type has a default (0), which trim and
    // report-all-tagged treat specially; explicit prints what is there.
    if !matches!(
        with_defaults,
        None | Some(super::super::WithDefaults::Explicit)
    ) {
        return None;
    }
    let mut s = String::with_capacity(512);
    let _ = write!(s, "<netconf-state xmlns=\"{MONITORING_NS}\"><statistics>");
    for (i, name) in STATISTICS.iter().enumerate() {
        if !leaves[i] {
            continue;
        }
        let _ = if i == 0 {
            write!(s, "<{name}>{}</{name}>", rfc3339(src.start_time))
        } else {
            write!(s, "<{name}>{}</{name}>", src.stats[i - 1])
        };
    }
    s.push_str("</statistics></netconf-state>");
    Some(s)
}

/// [`statistics_direct`] on the server's counters.
pub(super) fn statistics_reply(
    state: &ServerState,
    leaves: [bool; 8],
    with_defaults: Option<super::super::WithDefaults>,
) -> Option<String> {
    let only_statistics = Parts([false, false, false, false, true]);
    statistics_direct(&gather(state, only_statistics), leaves, with_defaults)
}

#[cfg(test)]
mod tests {
    /// RFC 6991 §3: a counter32 wraps to zero; the 64-bit count is shown
    /// modulo 2^32 instead of a value its type refuses.
    #[test]
    fn counters_wrap_at_32_bits() {
        assert_eq!(super::counter32(7), 7);
        assert_eq!(super::counter32(u64::from(u32::MAX)), u64::from(u32::MAX));
        assert_eq!(super::counter32(1 << 32), 0);
        assert_eq!(super::counter32((1 << 32) + 5), 5);
    }
}
