//! `netconf-state` of ietf-netconf-monitoring (RFC 6022 §2).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::super::MONITORING_NS;
use super::super::error::Escaped;
use super::super::state::ServerState;

pub(super) fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

pub(super) fn netconf_state(state: &ServerState) -> String {
    let mut s = format!("<netconf-state xmlns=\"{MONITORING_NS}\"><capabilities>");
    for cap in &state.capabilities {
        let _ = write!(s, "<capability>{}</capability>", Escaped(cap));
    }
    s.push_str("</capabilities><datastores>");
    // RFC 6022 §2.1.2: every datastore served, with its lock.
    for name in ["running", "candidate", "startup"] {
        if !state.app.serves_datastore(name) {
            continue;
        }
        let _ = write!(s, "<datastore><name>{name}</name>");
        let lock = if name == "running" {
            state.running_lock_info()
        } else {
            state.app.lock_info(name)
        };
        // locked-time is when the lock was taken.
        if let Some((holder, since)) = lock {
            let _ = write!(
                s,
                "<locks><global-lock><locked-by-session>{holder}</locked-by-session>\
                 <locked-time>{}</locked-time></global-lock></locks>",
                rfc3339(since)
            );
        }
        s.push_str("</datastore>");
    }
    s.push_str("</datastores>");
    if let Some(schemas) = state.app.monitoring_schemas() {
        s.push_str(&schemas);
    }
    s.push_str("<sessions>");
    for row in state.sessions_snapshot() {
        let (id, peer) = (row.id, row.peer);
        let _ = write!(
            s,
            "<session><session-id>{id}</session-id>\
             <transport xmlns:ncm=\"{MONITORING_NS}\">ncm:netconf-ssh</transport>\
             <username>{}</username>",
            Escaped(&row.user)
        );
        if let Some(p) = peer {
            let _ = write!(s, "<source-host>{}</source-host>", p.ip());
        }
        let _ = write!(
            s,
            "<login-time>{}</login-time><in-rpcs>{in_rpcs}</in-rpcs><in-bad-rpcs>{in_bad}</in-bad-rpcs>\
             <out-rpc-errors>{out_err}</out-rpc-errors><out-notifications>{out_notes}</out-notifications></session>",
            rfc3339(row.login_time),
            in_rpcs = row.in_rpcs,
            in_bad = row.in_bad_rpcs,
            out_err = row.out_rpc_errors,
            out_notes = row.out_notifications,
        );
    }
    let st = &state.stats;
    let _ = write!(
        s,
        "</sessions><statistics><netconf-start-time>{}</netconf-start-time>\
         <in-bad-hellos>{}</in-bad-hellos><in-sessions>{}</in-sessions>\
         <dropped-sessions>{}</dropped-sessions><in-rpcs>{}</in-rpcs>\
         <in-bad-rpcs>{}</in-bad-rpcs><out-rpc-errors>{}</out-rpc-errors>\
         <out-notifications>{}</out-notifications></statistics></netconf-state>",
        rfc3339(state.start_time),
        st.in_bad_hellos.load(Ordering::Relaxed),
        st.in_sessions.load(Ordering::Relaxed),
        st.dropped_sessions.load(Ordering::Relaxed),
        st.in_rpcs.load(Ordering::Relaxed),
        st.in_bad_rpcs.load(Ordering::Relaxed),
        st.out_rpc_errors.load(Ordering::Relaxed),
        st.out_notifications.load(Ordering::Relaxed),
    );
    s
}
