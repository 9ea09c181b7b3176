//! Datastore operations on the `ncagent-bgp` module: RFC 6241 §7.2–§7.6,
//! §8.3, §8.6, and the module's constraints (RFC 7950).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use yang5::context::Context;

use super::bgp::{BgpIntent, seed_tree};
use super::diff::{Change, diff};
use super::*;
use crate::bgp::{BgpConfig, GroupConfig, PeerConfig};

static CTX: LazyLock<Context> =
    LazyLock::new(|| crate::schema::datastore_context().expect("datastore context"));

const NS: &str = "urn:ncagent:yang:ncagent-bgp";
const NC: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

fn cfg(body: &str) -> String {
    format!(r#"<bgp xmlns="{NS}" xmlns:nc="{NC}">{body}</bgp>"#)
}

const GLOBAL: &str = "<global><as>65000</as><router-id>1.1.1.1</router-id>\
    <route-target>65000:100</route-target></global>";

fn base() -> String {
    cfg(&format!(
        "{GLOBAL}<peer-groups><peer-group><name>spine</name></peer-group>\
         <peer-group><name>leaf</name></peer-group></peer-groups>\
         <neighbors><neighbor><address>10.0.0.1</address><remote-as>65001</remote-as>\
         <peer-group>spine</peer-group></neighbor></neighbors>"
    ))
}

fn ds() -> Datastores<'static> {
    Datastores::new(&CTX)
}

/// Datastores whose running and candidate hold [`base`].
fn loaded() -> Datastores<'static> {
    let mut d = ds();
    d.copy_config(0, Datastore::Running, CopySource::Config(&base()))
        .unwrap();
    d.copy_config(
        0,
        Datastore::Candidate,
        CopySource::Datastore(Datastore::Running),
    )
    .unwrap();
    d.candidate_changed_by.clear();
    d
}

fn edit(d: &mut Datastores<'_>, target: Datastore, body: &str) -> Result<(), EditFailure> {
    d.edit_config(1, target, &cfg(body), EditOptions::default())
}

fn running(d: &Datastores<'_>) -> String {
    d.get_config(Datastore::Running).unwrap()
}

fn intent(d: &Datastores<'_>, ds: Datastore) -> BgpIntent {
    BgpIntent::from_tree(d.tree(ds))
        .unwrap()
        .expect("bgp configured")
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn first(e: EditFailure) -> DatastoreError {
    e.errors.into_iter().next().expect("an error")
}

// ----- edit-config operations (RFC 6241 §7.2) -----

#[test]
fn merge_adds_and_updates() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        "<neighbors><neighbor><address>10.0.0.1</address><description>s1</description></neighbor>\
         <neighbor><address>2001:db8::2</address><remote-as>65002</remote-as></neighbor></neighbors>",
    )
    .unwrap();
    let i = intent(&d, Datastore::Running);
    assert_eq!(i.neighbors.len(), 2);
    let n = &i.neighbors[&ip("10.0.0.1")];
    assert_eq!(n.description.as_deref(), Some("s1"));
    assert_eq!(n.remote_as, 65001, "merge keeps what it does not name");
    assert_eq!(n.peer_group.as_deref(), Some("spine"));
}

#[test]
fn replace_swaps_the_whole_subtree() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor nc:operation="replace"><address>10.0.0.1</address>
           <remote-as>65009</remote-as></neighbor></neighbors>"#,
    )
    .unwrap();
    let n = &intent(&d, Datastore::Running).neighbors[&ip("10.0.0.1")];
    assert_eq!(n.remote_as, 65009);
    assert_eq!(
        n.peer_group, None,
        "replace drops what the new content lacks"
    );
}

#[test]
fn default_operation_replace_and_none() {
    let mut d = loaded();
    let opts = EditOptions {
        default_operation: DefaultOperation::Replace,
        ..Default::default()
    };
    d.edit_config(1, Datastore::Running, &cfg(GLOBAL), opts)
        .unwrap();
    let i = intent(&d, Datastore::Running);
    assert!(i.neighbors.is_empty() && i.peer_groups.is_empty());

    // none: context only; a nested merge on an existing node applies.
    let mut d = loaded();
    let none = EditOptions {
        default_operation: DefaultOperation::None,
        ..Default::default()
    };
    d.edit_config(
        1,
        Datastore::Running,
        &cfg(r#"<global><as>1</as><router-id>9.9.9.9</router-id><timers><hold-time nc:operation="merge">30</hold-time></timers></global>"#),
        none,
    )
    .unwrap();
    let i = intent(&d, Datastore::Running);
    assert_eq!(i.global.hold_time, 30);
    assert_eq!(i.global.local_as, 65000, "none leaves other leaves alone");

    // none on a level the datastore lacks: data-missing (RFC 6241 §7.2).
    let e = d
        .edit_config(
            1,
            Datastore::Running,
            &cfg(r#"<neighbors><neighbor><address>10.9.9.9</address><description nc:operation="merge">x</description></neighbor></neighbors>"#),
            none,
        )
        .unwrap_err();
    let e = first(e);
    assert_eq!(e.tag, ErrorTag::DataMissing);
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.9.9.9']")
    );
}

#[test]
fn create_of_existing_is_data_exists() {
    let mut d = loaded();
    let before = running(&d);
    let e = first(
        edit(
            &mut d,
            Datastore::Running,
            r#"<peer-groups><peer-group nc:operation="create"><name>spine</name></peer-group></peer-groups>"#,
        )
        .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::DataExists);
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/peer-groups/peer-group[name='spine']")
    );
    assert_eq!(running(&d), before);

    edit(
        &mut d,
        Datastore::Running,
        r#"<peer-groups><peer-group nc:operation="create"><name>new</name></peer-group></peer-groups>"#,
    )
    .unwrap();
    assert!(
        intent(&d, Datastore::Running)
            .peer_groups
            .contains_key("new")
    );
}

#[test]
fn delete_of_missing_is_data_missing_remove_is_not() {
    let mut d = loaded();
    let before = running(&d);
    let e = first(
        edit(
            &mut d,
            Datastore::Running,
            r#"<neighbors><neighbor nc:operation="delete"><address>10.0.0.99</address></neighbor></neighbors>"#,
        )
        .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::DataMissing);
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.99']")
    );
    assert_eq!(running(&d), before);

    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor nc:operation="remove"><address>10.0.0.99</address></neighbor></neighbors>"#,
    )
    .unwrap();
    assert_eq!(running(&d), before);

    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor nc:operation="delete"><address>10.0.0.1</address></neighbor></neighbors>"#,
    )
    .unwrap();
    assert!(intent(&d, Datastore::Running).neighbors.is_empty());
}

#[test]
fn delete_and_remove_of_leaf_and_leaf_list_entry() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        r#"<global><route-target nc:operation="delete">65000:100</route-target>
           <route-target>65000:200</route-target></global>
           <neighbors><neighbor><address>10.0.0.1</address>
           <peer-group nc:operation="remove">spine</peer-group></neighbor></neighbors>"#,
    )
    .unwrap();
    let i = intent(&d, Datastore::Running);
    assert_eq!(
        i.global.route_targets.iter().collect::<Vec<_>>(),
        vec!["65000:200"]
    );
    assert_eq!(i.neighbors[&ip("10.0.0.1")].peer_group, None);
    // Deleting the group no one uses any more is fine now.
    edit(
        &mut d,
        Datastore::Running,
        r#"<peer-groups><peer-group nc:operation="delete"><name>spine</name></peer-group></peer-groups>"#,
    )
    .unwrap();
}

#[test]
fn unknown_operation_value_is_refused() {
    let mut d = loaded();
    let before = running(&d);
    let e = first(
        edit(
            &mut d,
            Datastore::Running,
            r#"<neighbors><neighbor nc:operation="frobnicate"><address>10.0.0.1</address></neighbor></neighbors>"#,
        )
        .unwrap_err(),
    );
    assert!(
        matches!(e.tag, ErrorTag::BadAttribute | ErrorTag::InvalidValue),
        "{e:?}"
    );
    assert_eq!(running(&d), before);
}

// ----- error-option and test-option -----

const TWO_FAULTS: &str = r#"<peer-groups><peer-group nc:operation="create"><name>spine</name></peer-group>
    <peer-group nc:operation="create"><name>new1</name></peer-group></peer-groups>
    <neighbors><neighbor nc:operation="delete"><address>10.0.0.99</address></neighbor></neighbors>"#;

#[test]
fn stop_on_error_and_rollback_on_error_leave_the_target_untouched() {
    for error_option in [ErrorOption::StopOnError, ErrorOption::RollbackOnError] {
        let mut d = loaded();
        let before = running(&d);
        let e = d
            .edit_config(
                1,
                Datastore::Running,
                &cfg(TWO_FAULTS),
                EditOptions {
                    error_option,
                    ..Default::default()
                },
            )
            .unwrap_err();
        assert_eq!(e.errors.len(), 1, "{error_option:?} stops at the first");
        assert_eq!(e.errors[0].tag, ErrorTag::DataExists);
        assert!(!e.target_changed);
        assert_eq!(running(&d), before, "{error_option:?}");
    }
}

#[test]
fn continue_on_error_applies_the_rest_and_reports_every_error() {
    let mut d = loaded();
    let e = d
        .edit_config(
            1,
            Datastore::Running,
            &cfg(TWO_FAULTS),
            EditOptions {
                error_option: ErrorOption::ContinueOnError,
                ..Default::default()
            },
        )
        .unwrap_err();
    let tags: Vec<_> = e.errors.iter().map(|e| e.tag).collect();
    assert_eq!(tags, vec![ErrorTag::DataExists, ErrorTag::DataMissing]);
    assert!(e.target_changed);
    assert!(
        intent(&d, Datastore::Running)
            .peer_groups
            .contains_key("new1")
    );
}

#[test]
fn test_only_changes_nothing_and_set_skips_validation_on_candidate() {
    let mut d = loaded();
    let bad = "<neighbors><neighbor><address>10.0.0.2</address><remote-as>1</remote-as>\
               <peer-group>nope</peer-group></neighbor></neighbors>";
    let good = "<neighbors><neighbor><address>10.0.0.2</address><remote-as>1</remote-as></neighbor></neighbors>";
    let test_only = EditOptions {
        test_option: TestOption::TestOnly,
        ..Default::default()
    };
    let before = running(&d);
    d.edit_config(1, Datastore::Running, &cfg(good), test_only)
        .unwrap();
    assert_eq!(running(&d), before, "test-only sets nothing");
    let e = first(
        d.edit_config(1, Datastore::Running, &cfg(bad), test_only)
            .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::DataMissing);

    // set: candidate may hold an invalid configuration until commit.
    let set = EditOptions {
        test_option: TestOption::Set,
        ..Default::default()
    };
    d.edit_config(1, Datastore::Candidate, &cfg(bad), set)
        .unwrap();
    assert!(d.validate(Datastore::Candidate).is_err());
    assert_eq!(d.commit(1).unwrap_err().tag, ErrorTag::DataMissing);
    assert_eq!(running(&d), before, "a failed commit leaves running");
    // ... but running never does.
    let e = first(
        d.edit_config(1, Datastore::Running, &cfg(bad), set)
            .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::DataMissing);
    assert_eq!(running(&d), before);
}

// ----- validation: the module's constraints, with error-path -----

fn refused(body: &str) -> DatastoreError {
    let mut d = loaded();
    let before = running(&d);
    let e = first(edit(&mut d, Datastore::Running, body).unwrap_err());
    assert_eq!(running(&d), before, "running untouched for {body}");
    e
}

#[test]
fn unknown_group_is_a_leafref_without_target() {
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><peer-group>nope</peer-group></neighbor></neighbors>",
    );
    assert_eq!(e.tag, ErrorTag::DataMissing);
    assert_eq!(e.app_tag.as_deref(), Some("instance-required"));
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/peer-group")
    );
    // Deleting a group still in use is refused the same way.
    let e = refused(
        r#"<peer-groups><peer-group nc:operation="delete"><name>spine</name></peer-group></peer-groups>"#,
    );
    assert_eq!(e.app_tag.as_deref(), Some("instance-required"));
}

#[test]
fn duplicate_peer_is_refused() {
    // Twice in one edit: libyang refuses the second instance of the key.
    let e = refused(
        r#"<neighbors><neighbor nc:operation="create"><address>10.0.0.5</address><remote-as>1</remote-as></neighbor>
           <neighbor nc:operation="create"><address>10.0.0.5</address><remote-as>2</remote-as></neighbor></neighbors>"#,
    );
    assert!(
        matches!(
            e.tag,
            ErrorTag::DataExists | ErrorTag::OperationFailed | ErrorTag::InvalidValue
        ),
        "{e:?}"
    );
    // Created again: data-exists at the peer.
    let e = refused(
        r#"<neighbors><neighbor nc:operation="create"><address>10.0.0.1</address><remote-as>1</remote-as></neighbor></neighbors>"#,
    );
    assert_eq!(e.tag, ErrorTag::DataExists);
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']")
    );
    // The same IPv4 peer as an IPv4-mapped IPv6 address.
    let e = refused(
        "<neighbors><neighbor><address>::ffff:10.0.0.1</address><remote-as>1</remote-as></neighbor></neighbors>",
    );
    assert_eq!(e.app_tag.as_deref(), Some("ipv4-mapped-address"), "{e:?}");
}

#[test]
fn bad_as_is_refused_with_its_path() {
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><remote-as>23456</remote-as></neighbor></neighbors>",
    );
    assert_eq!(e.tag, ErrorTag::OperationFailed);
    assert_eq!(e.app_tag.as_deref(), Some("reserved-as"));
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/remote-as")
    );
    let e = refused("<global><as>0</as></global>");
    assert_eq!(e.app_tag.as_deref(), Some("reserved-as"));
    assert_eq!(e.path.as_deref(), Some("/ncagent-bgp:bgp/global/as"));
    let e = refused("<global><as>4294967296</as></global>");
    assert_eq!(e.tag, ErrorTag::InvalidValue);
}

#[test]
fn group_name_of_48_characters_is_invalid() {
    let name = "g".repeat(48);
    let e = refused(&format!(
        "<peer-groups><peer-group><name>{name}</name></peer-group></peer-groups>"
    ));
    assert_eq!(e.tag, ErrorTag::InvalidValue, "{e:?}");
    assert!(
        e.path
            .as_deref()
            .is_some_and(|p| p.starts_with("/ncagent-bgp:bgp/peer-groups/peer-group")),
        "{e:?}"
    );
    // 47 characters, case-sensitive, spaces allowed.
    let mut d = loaded();
    let ok = format!("{} X", "g".repeat(44));
    edit(
        &mut d,
        Datastore::Running,
        &format!("<peer-groups><peer-group><name>{ok}</name></peer-group><peer-group><name>SPINE</name></peer-group></peer-groups>"),
    )
    .unwrap();
    assert_eq!(intent(&d, Datastore::Running).peer_groups.len(), 4);
}

#[test]
fn module_rules_from_the_toml_checks() {
    // router id 0.0.0.0 (RFC 6286 §2.1)
    let e = refused("<global><router-id>0.0.0.0</router-id></global>");
    assert_eq!(e.app_tag.as_deref(), Some("zero-router-id"));
    // hold time 1 or 2 (RFC 4271 §4.2)
    let e = refused("<global><timers><hold-time>2</hold-time></timers></global>");
    assert_eq!(e.tag, ErrorTag::InvalidValue);
    // enhanced route refresh without route refresh (RFC 7313 §3)
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><route-refresh><advertise>false</advertise></route-refresh></neighbor></neighbors>",
    );
    assert_eq!(e.app_tag.as_deref(), Some("enhanced-needs-route-refresh"));
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/route-refresh/enhanced")
    );
    // local address of the other family
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><transport><local-address>::1</local-address></transport></neighbor></neighbors>",
    );
    assert_eq!(e.app_tag.as_deref(), Some("address-family-mismatch"));
    // multicast / unspecified peer
    let e = refused(
        "<neighbors><neighbor><address>224.0.0.5</address><remote-as>1</remote-as></neighbor></neighbors>",
    );
    assert_eq!(e.app_tag.as_deref(), Some("not-unicast"));
    // active peer on port 0
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><transport><remote-port>0</remote-port></transport></neighbor></neighbors>",
    );
    assert_eq!(e.app_tag.as_deref(), Some("port-required"));
    // a malformed route target
    let e = refused("<global><route-target>65000:0100</route-target></global>");
    assert_eq!(e.tag, ErrorTag::InvalidValue);
    // the mandatory remote-as of a new peer
    let e = refused("<neighbors><neighbor><address>10.0.0.7</address></neighbor></neighbors>");
    assert_eq!(e.tag, ErrorTag::DataMissing, "{e:?}");
    // state data is not configuration
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><state><session-state>idle</session-state></state></neighbor></neighbors>",
    );
    assert!(
        matches!(e.tag, ErrorTag::InvalidValue | ErrorTag::UnknownElement),
        "{e:?}"
    );
    // unknown element, malformed XML, NUL
    let e = refused("<neighbors><bogus/></neighbors>");
    assert_eq!(e.tag, ErrorTag::UnknownElement, "{e:?}");
    let e = refused("<neighbors>");
    assert_eq!(e.tag, ErrorTag::MalformedMessage, "{e:?}");
    let e = refused("<global><as>1\u{0}</as></global>");
    assert_eq!(e.tag, ErrorTag::MalformedMessage);
    let e = refused("<global><as>1&#0;</as></global>");
    assert_eq!(e.tag, ErrorTag::MalformedMessage);
    // allowed: a passive peer on port 0, a shut-down peer
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        "<neighbors><neighbor><address>10.0.0.1</address><shutdown>true</shutdown>\
         <transport><passive-mode>true</passive-mode><remote-port>0</remote-port></transport></neighbor></neighbors>",
    )
    .unwrap();
}

// ----- locks (RFC 6241 §7.5) -----

#[test]
fn locks_keep_other_sessions_out() {
    let mut d = loaded();
    d.lock(1, Datastore::Running).unwrap();
    let e = d.lock(2, Datastore::Running).unwrap_err();
    assert_eq!((e.tag, e.holder), (ErrorTag::LockDenied, Some(1)));
    let e = first(
        d.edit_config(2, Datastore::Running, &cfg(GLOBAL), EditOptions::default())
            .unwrap_err(),
    );
    assert_eq!((e.tag, e.holder), (ErrorTag::InUse, Some(1)));
    d.edit_config(1, Datastore::Running, &cfg(GLOBAL), EditOptions::default())
        .unwrap();
    assert_eq!(
        d.unlock(2, Datastore::Running).unwrap_err().tag,
        ErrorTag::OperationFailed
    );
    d.release_session(1).unwrap();
    assert_eq!(d.lock_holder(Datastore::Running), None);
    d.lock(2, Datastore::Running).unwrap();
}

#[test]
fn candidate_with_changes_of_another_session_cannot_be_locked() {
    let mut d = loaded();
    d.edit_config(
        1,
        Datastore::Candidate,
        &cfg("<global><as>65100</as></global>"),
        EditOptions::default(),
    )
    .unwrap();
    let e = d.lock(2, Datastore::Candidate).unwrap_err();
    assert_eq!(e.tag, ErrorTag::LockDenied);
    // The session that made the changes may lock.
    d.lock(1, Datastore::Candidate).unwrap();
    d.unlock(1, Datastore::Candidate).unwrap();
    // Unlocking candidate discarded the changes (as on Junos).
    assert_eq!(intent(&d, Datastore::Candidate).global.local_as, 65000);
    d.lock(2, Datastore::Candidate).unwrap();
    // Committed changes do not stand in the way.
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Candidate,
        "<global><as>65100</as></global>",
    )
    .unwrap();
    d.commit(1).unwrap();
    d.lock(2, Datastore::Candidate).unwrap();
}

#[test]
fn candidate_changes_are_discarded_when_the_lock_holder_ends() {
    let mut d = loaded();
    d.lock(3, Datastore::Candidate).unwrap();
    d.edit_config(
        3,
        Datastore::Candidate,
        &cfg("<global><as>65100</as></global>"),
        EditOptions::default(),
    )
    .unwrap();
    d.release_session(3).unwrap();
    assert!(!d.candidate_changed());
    assert_eq!(intent(&d, Datastore::Candidate).global.local_as, 65000);
}

// ----- candidate, commit, discard, copy, delete -----

#[test]
fn commit_moves_candidate_to_running_and_returns_the_previous() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Candidate,
        "<global><as>65100</as></global>",
    )
    .unwrap();
    assert_eq!(intent(&d, Datastore::Running).global.local_as, 65000);
    let prev = d.commit(1).unwrap();
    assert_eq!(intent(&d, Datastore::Running).global.local_as, 65100);
    let changes = diff(prev.tree(), d.tree(Datastore::Running)).unwrap();
    assert_eq!(changes, vec![Change::GlobalChanged { leaves: vec!["as"] }]);
    // Put back (what a confirmed commit does when not confirmed).
    d.restore_running(prev).unwrap();
    assert_eq!(intent(&d, Datastore::Running).global.local_as, 65000);
    assert_eq!(intent(&d, Datastore::Candidate).global.local_as, 65000);
}

#[test]
fn commit_needs_running_free_of_other_locks() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Candidate,
        "<global><as>65100</as></global>",
    )
    .unwrap();
    d.lock(2, Datastore::Running).unwrap();
    assert_eq!(d.commit(1).unwrap_err().tag, ErrorTag::InUse);
    assert_eq!(intent(&d, Datastore::Running).global.local_as, 65000);
}

#[test]
fn discard_changes_resets_candidate() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Candidate,
        "<global><as>65100</as></global>",
    )
    .unwrap();
    assert!(d.candidate_changed());
    d.discard_changes(1).unwrap();
    assert!(!d.candidate_changed());
    assert_eq!(d.get_config(Datastore::Candidate).unwrap(), running(&d));
}

#[test]
fn copy_and_delete_config() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, origin) = Datastores::open(&CTX, StartupStore::new(dir.path()), None).unwrap();
    assert_eq!(origin, StartupOrigin::Empty);
    d.copy_config(1, Datastore::Running, CopySource::Config(&base()))
        .unwrap();
    // Same source and target: invalid-value (RFC 6241 §7.3).
    assert_eq!(
        d.copy_config(
            1,
            Datastore::Running,
            CopySource::Datastore(Datastore::Running)
        )
        .unwrap_err()
        .tag,
        ErrorTag::InvalidValue
    );
    // Invalid configuration never reaches running.
    let before = running(&d);
    let e = d
        .copy_config(
            1,
            Datastore::Running,
            CopySource::Config(&cfg("<global><as>1</as></global>")),
        )
        .unwrap_err();
    assert_eq!(e.tag, ErrorTag::DataMissing, "{e:?}");
    assert_eq!(running(&d), before);
    // Operation attributes have no place in copy-config.
    let e = d
        .copy_config(
            1,
            Datastore::Candidate,
            CopySource::Config(&cfg(r#"<global nc:operation="delete"/>"#)),
        )
        .unwrap_err();
    assert_eq!(e.tag, ErrorTag::BadAttribute);
    // running -> startup is stored; a new start loads it.
    d.copy_config(
        1,
        Datastore::Startup,
        CopySource::Datastore(Datastore::Running),
    )
    .unwrap();
    let (d2, origin) = Datastores::open(&CTX, StartupStore::new(dir.path()), None).unwrap();
    assert_eq!(origin, StartupOrigin::Loaded);
    assert_eq!(running(&d2), before);
    // delete-config: running cannot; startup becomes empty, and stays so.
    assert_eq!(
        d.delete_config(1, Datastore::Running).unwrap_err().tag,
        ErrorTag::OperationNotSupported
    );
    d.delete_config(1, Datastore::Startup).unwrap();
    let seed = seed_tree(&CTX, &toml_config()).unwrap();
    let (d3, origin) = Datastores::open(&CTX, StartupStore::new(dir.path()), Some(seed)).unwrap();
    assert_eq!(
        origin,
        StartupOrigin::Loaded,
        "an empty startup is not re-seeded"
    );
    assert_eq!(running(&d3), "");
    // edit-config does not target startup.
    let mut d3 = d3;
    assert_eq!(
        first(edit(&mut d3, Datastore::Startup, GLOBAL).unwrap_err()).tag,
        ErrorTag::OperationNotSupported
    );
}

#[test]
fn validate_operation() {
    let d = loaded();
    d.validate(Datastore::Running).unwrap();
    d.validate_config(&base()).unwrap();
    let e = d
        .validate_config(&cfg(
            "<global><as>1</as><router-id>1.1.1.1</router-id></global>\
             <neighbors><neighbor><address>10.0.0.3</address><remote-as>5</remote-as><peer-group>x</peer-group></neighbor></neighbors>",
        ))
        .unwrap_err();
    assert_eq!(e.app_tag.as_deref(), Some("instance-required"));
}

// ----- seeding from the TOML [bgp] table, and back -----

fn toml_config() -> BgpConfig {
    let mut c = BgpConfig::new(65000, Ipv4Addr::new(1, 1, 1, 1));
    c.listen = Some("127.0.0.1:1179".parse().unwrap());
    c.hold_time = 30;
    c.route_targets = vec![
        "65000:100".into(),
        "4200000000:5".into(),
        "1.2.3.4:5".into(),
    ];
    c.groups = vec![GroupConfig {
        name: "ebgp peers".into(),
    }];
    let mut p = PeerConfig::new(ip("127.0.0.2"), 65001);
    p.port = 1790;
    p.group = Some("ebgp peers".into());
    let mut q = PeerConfig::new(ip("::1"), 65000);
    q.passive = true;
    q.vpn_target = false;
    q.route_refresh = false;
    q.enhanced_route_refresh = false;
    q.local_address = Some(ip("::1"));
    let mut r = PeerConfig::new(ip("10.0.0.9"), 65002);
    r.advertise_default_rt = true;
    r.max_prefixes = 500;
    c.peers = vec![p, q, r];
    c.validate().unwrap();
    c
}

#[test]
fn seed_round_trips_through_the_tree() {
    let c = toml_config();
    let tree = seed_tree(&CTX, &c).unwrap();
    let back = BgpIntent::from_tree(&tree).unwrap().unwrap();
    assert_eq!(back, BgpIntent::from_bgp_config(&c).unwrap());
    // The same configuration; the tree keeps lists in key order.
    let sorted = |mut c: BgpConfig| {
        c.route_targets.sort();
        c.peers.sort_by_key(|p| p.address);
        c.groups.sort_by(|a, b| a.name.cmp(&b.name));
        c
    };
    assert_eq!(sorted(back.to_bgp_config()), sorted(c));
    assert!(back.engine_unsupported().is_empty());
    // Only what differs from the YANG defaults is written.
    let xml = super::ly::print(&tree).unwrap();
    assert!(xml.contains("<hold-time>30</hold-time>"), "{xml}");
    assert!(!xml.contains("<connect-retry>"), "{xml}");
    assert!(!xml.contains("<shutdown>"), "{xml}");
}

#[test]
fn toml_seeds_startup_only_when_none_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_tree(&CTX, &toml_config()).unwrap();
    let (mut d, origin) =
        Datastores::open(&CTX, StartupStore::new(dir.path()), Some(seed)).unwrap();
    assert_eq!(origin, StartupOrigin::Seeded);
    assert_eq!(intent(&d, Datastore::Running).neighbors.len(), 3);
    // An operator's change saved to startup wins over a later TOML.
    edit(
        &mut d,
        Datastore::Running,
        "<global><as>65300</as></global>",
    )
    .unwrap();
    d.copy_config(
        1,
        Datastore::Startup,
        CopySource::Datastore(Datastore::Running),
    )
    .unwrap();
    let mut other = toml_config();
    other.local_as = 65999;
    let seed = seed_tree(&CTX, &other).unwrap();
    let (d, origin) = Datastores::open(&CTX, StartupStore::new(dir.path()), Some(seed)).unwrap();
    assert_eq!(origin, StartupOrigin::Loaded);
    assert_eq!(intent(&d, Datastore::Running).global.local_as, 65300);
    assert_eq!(intent(&d, Datastore::Candidate).global.local_as, 65300);
}

#[test]
fn shut_down_and_per_peer_settings_going_to_the_engine_config() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        "<neighbors><neighbor><address>10.0.0.1</address><timers><hold-time>9</hold-time></timers></neighbor>\
         <neighbor><address>10.0.0.2</address><remote-as>7</remote-as><shutdown>true</shutdown></neighbor></neighbors>",
    )
    .unwrap();
    let i = intent(&d, Datastore::Running);
    let c = i.to_bgp_config();
    // A shut-down peer stays configured in the engine, shut down.
    let shut: Vec<_> = c.peers.iter().map(|p| (p.address, p.shutdown)).collect();
    assert_eq!(shut, vec![(ip("10.0.0.1"), false), (ip("10.0.0.2"), true)]);
    c.validate().unwrap();
    assert_eq!(
        i.engine_unsupported(),
        vec!["/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/timers/hold-time"]
    );
}

// ----- diff in BGP terms -----

#[test]
fn diff_names_the_changes_in_bgp_terms() {
    let mut d = loaded();
    let old = d.snapshot(Datastore::Running).unwrap();
    edit(
        &mut d,
        Datastore::Running,
        r#"<global><route-target nc:operation="delete">65000:100</route-target>
           <route-target>65000:200</route-target></global>
           <peer-groups><peer-group><name>border</name></peer-group></peer-groups>
           <neighbors><neighbor><address>10.0.0.1</address><peer-group>leaf</peer-group>
           <shutdown>true</shutdown><description>moved</description></neighbor>
           <neighbor><address>10.0.0.2</address><remote-as>65002</remote-as></neighbor></neighbors>"#,
    )
    .unwrap();
    let changes = diff(old.tree(), d.tree(Datastore::Running)).unwrap();
    let added = match &changes[..] {
        [
            Change::GroupAdded(g),
            Change::RouteTargetAdded(a),
            Change::RouteTargetRemoved(r),
            Change::PeerMoved { address, from, to },
            Change::ShutdownToggled {
                address: sa,
                shutdown: true,
            },
            Change::PeerChanged {
                address: ca,
                leaves,
                ..
            },
            Change::PeerAdded(n),
        ] => {
            assert_eq!(g.name, "border");
            assert_eq!((a.as_str(), r.as_str()), ("65000:200", "65000:100"));
            assert_eq!(*address, ip("10.0.0.1"));
            assert_eq!(
                (from.as_deref(), to.as_deref()),
                (Some("spine"), Some("leaf"))
            );
            assert_eq!((*sa, *ca), (ip("10.0.0.1"), ip("10.0.0.1")));
            assert_eq!(leaves, &vec!["description"]);
            n
        }
        other => panic!("{other:#?}"),
    };
    assert_eq!(added.address, ip("10.0.0.2"));
    assert!(added.rtc.is_none());

    // Removing a peer and a group; then BGP as a whole.
    let old = d.snapshot(Datastore::Running).unwrap();
    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor nc:operation="delete"><address>10.0.0.2</address></neighbor></neighbors>
           <peer-groups><peer-group nc:operation="delete"><name>border</name></peer-group></peer-groups>"#,
    )
    .unwrap();
    assert_eq!(
        diff(old.tree(), d.tree(Datastore::Running)).unwrap(),
        vec![
            Change::PeerRemoved(ip("10.0.0.2")),
            Change::GroupRemoved("border".into())
        ]
    );
    let old = d.snapshot(Datastore::Running).unwrap();
    d.edit_config(
        1,
        Datastore::Running,
        &format!(r#"<bgp xmlns="{NS}" xmlns:nc="{NC}" nc:operation="delete"/>"#),
        EditOptions::default(),
    )
    .unwrap();
    let changes = diff(old.tree(), d.tree(Datastore::Running)).unwrap();
    assert_eq!(changes.first(), Some(&Change::PeerRemoved(ip("10.0.0.1"))));
    assert_eq!(changes.last(), Some(&Change::BgpRemoved));
    assert_eq!(running(&d), "");
    let back = diff(d.tree(Datastore::Running), old.tree()).unwrap();
    assert_eq!(back.first(), Some(&Change::BgpAdded));
    assert!(diff(old.tree(), old.tree()).unwrap().is_empty());
}

#[test]
fn family_on_and_off_is_a_peer_change() {
    let mut d = loaded();
    let old = d.snapshot(Datastore::Running).unwrap();
    edit(
        &mut d,
        Datastore::Running,
        "<neighbors><neighbor><address>10.0.0.1</address><afi-safis><afi-safi><name>rtc</name>\
         <prefix-limit><max-prefixes>1000</max-prefixes></prefix-limit></afi-safi></afi-safis></neighbor></neighbors>",
    )
    .unwrap();
    let changes = diff(old.tree(), d.tree(Datastore::Running)).unwrap();
    let [Change::PeerChanged { leaves, now, .. }] = &changes[..] else {
        panic!("{changes:#?}");
    };
    assert!(leaves.contains(&"afi-safis/afi-safi[rtc]/enabled"));
    assert!(now.rtc_enabled());
    assert_eq!(now.rtc.and_then(|f| f.max_prefixes), Some(1000));
}

#[test]
fn delete_and_remove_of_a_leaf_given_without_value() {
    let mut d = loaded();
    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor><address>10.0.0.1</address><description>x</description></neighbor></neighbors>"#,
    )
    .unwrap();
    // peer-group (leafref, 1..47) and remote-as (uint32) refuse "": libyang
    // keeps them as opaque nodes, which only delete/remove may be.
    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor><address>10.0.0.1</address><peer-group nc:operation="remove"/>
           <description nc:operation="delete"/></neighbor></neighbors>"#,
    )
    .unwrap();
    let n = &intent(&d, Datastore::Running).neighbors[&ip("10.0.0.1")];
    assert_eq!(
        (n.peer_group.as_deref(), n.description.as_deref()),
        (None, None)
    );
    // Again: delete of a leaf no longer there is data-missing at the leaf.
    let e = first(
        edit(
            &mut d,
            Datastore::Running,
            r#"<neighbors><neighbor><address>10.0.0.1</address><peer-group nc:operation="delete"/></neighbor></neighbors>"#,
        )
        .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::DataMissing);
    assert_eq!(
        e.path.as_deref(),
        Some("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/peer-group")
    );
    // remove is fine, and a mandatory leaf cannot go.
    edit(
        &mut d,
        Datastore::Running,
        r#"<neighbors><neighbor><address>10.0.0.1</address><peer-group nc:operation="remove"/></neighbor></neighbors>"#,
    )
    .unwrap();
    let e = refused(
        r#"<neighbors><neighbor><address>10.0.0.1</address><remote-as nc:operation="delete"/></neighbor></neighbors>"#,
    );
    assert_eq!(e.tag, ErrorTag::DataMissing, "{e:?}");
    // Without delete/remove an empty value stays invalid.
    let e = refused(
        "<neighbors><neighbor><address>10.0.0.1</address><remote-as/></neighbor></neighbors>",
    );
    assert_eq!(e.tag, ErrorTag::InvalidValue);
    let e = refused(
        r#"<neighbors><neighbor><address>10.0.0.1</address><remote-as nc:operation="merge"/></neighbor></neighbors>"#,
    );
    assert_eq!(e.tag, ErrorTag::InvalidValue);
    // Nor does it make unknown elements acceptable.
    let e = refused(
        r#"<neighbors><neighbor><address>10.0.0.1</address><bogus nc:operation="delete"/><remote-as/></neighbor></neighbors>"#,
    );
    assert!(
        matches!(e.tag, ErrorTag::UnknownElement | ErrorTag::InvalidValue),
        "{e:?}"
    );
}

#[test]
fn datastores_can_move_to_the_task_that_owns_them() {
    fn check<T: Send>() {}
    check::<Datastores<'static>>();
}

#[test]
fn foreign_namespace_and_empty_edit() {
    let mut d = loaded();
    let before = running(&d);
    let e = first(
        d.edit_config(
            1,
            Datastore::Running,
            r#"<foo xmlns="urn:example:unknown"/>"#,
            EditOptions::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::UnknownNamespace, "{e:?}");
    d.edit_config(1, Datastore::Running, "", EditOptions::default())
        .unwrap();
    assert_eq!(running(&d), before);
}

#[test]
fn startup_interrupted_at_every_step_still_opens_with_old_or_new() {
    use super::persist::Step;
    let old_tree = seed_tree(&CTX, &toml_config()).unwrap();
    let mut newer = toml_config();
    newer.local_as = 65123;
    let new_xml = super::ly::print(&seed_tree(&CTX, &newer).unwrap()).unwrap();
    for crash_at in Step::ALL {
        let dir = tempfile::tempdir().unwrap();
        let store = StartupStore::new(dir.path());
        let seed = super::ly::duplicate(&old_tree).unwrap();
        Datastores::open(&CTX, store.clone(), Some(seed)).unwrap();
        let _ = store.save_with(&new_xml, &mut |step| {
            if step == crash_at {
                Err(std::io::Error::other("crash"))
            } else {
                Ok(())
            }
        });
        let (d, origin) = Datastores::open(&CTX, store, None).unwrap();
        assert_eq!(origin, StartupOrigin::Loaded);
        let local_as = intent(&d, Datastore::Startup).global.local_as;
        let expected = if crash_at == Step::SyncDir {
            65123
        } else {
            65000
        };
        assert_eq!(local_as, expected, "crash before {crash_at:?}");
    }
}

#[test]
fn a_failed_startup_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, _) = Datastores::open(&CTX, StartupStore::new(dir.path()), None).unwrap();
    d.copy_config(1, Datastore::Running, CopySource::Config(&base()))
        .unwrap();
    // The state "directory" is a file: the write fails.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    d.store = Some(StartupStore::new(&file));
    let e = d
        .copy_config(
            1,
            Datastore::Startup,
            CopySource::Datastore(Datastore::Running),
        )
        .unwrap_err();
    assert_eq!(e.tag, ErrorTag::OperationFailed);
    assert_eq!(d.get_config(Datastore::Startup).unwrap(), "");
}

#[test]
fn error_path_in_xml_form() {
    let d = ds();
    let mut e = DatastoreError::new(ErrorTag::DataMissing, "x")
        .at("/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/peer-group");
    let p = d.xml_error_path(&e).unwrap();
    assert_eq!(
        p.xpath,
        "/nbgp:bgp/nbgp:neighbors/nbgp:neighbor[nbgp:address='10.0.0.1']/nbgp:peer-group"
    );
    assert_eq!(p.namespaces, vec![("nbgp".to_owned(), NS.to_owned())]);
    e.path = Some("/ncagent-bgp:bgp/global/route-target[.='65000:100']".into());
    assert_eq!(
        d.xml_error_path(&e).unwrap().xpath,
        "/nbgp:bgp/nbgp:global/nbgp:route-target[.='65000:100']"
    );
    e.path = Some("/ncagent-bgp:bgp/peer-groups/peer-group[name=\"a/b]'c\"]/name".into());
    assert_eq!(
        d.xml_error_path(&e).unwrap().xpath,
        "/nbgp:bgp/nbgp:peer-groups/nbgp:peer-group[nbgp:name=\"a/b]'c\"]/nbgp:name"
    );
    e.path = Some("/unknown-module:x".into());
    assert_eq!(d.xml_error_path(&e), None);
}

#[test]
fn operation_attribute_by_namespace_not_by_prefix() {
    let mut d = loaded();
    d.edit_config(
        1,
        Datastore::Running,
        &format!(
            r#"<bgp xmlns="{NS}" xmlns:xc="{NC}"><neighbors><neighbor xc:operation="delete"><address>10.0.0.1</address></neighbor></neighbors></bgp>"#
        ),
        EditOptions::default(),
    )
    .unwrap();
    assert!(intent(&d, Datastore::Running).neighbors.is_empty());
    // Unprefixed, it is no NETCONF attribute (RFC 6241 §7.2 puts it in the
    // base namespace).
    let before = running(&d);
    let e = first(
        d.edit_config(
            1,
            Datastore::Running,
            &format!(r#"<bgp xmlns="{NS}"><global operation="delete"/></bgp>"#),
            EditOptions::default(),
        )
        .unwrap_err(),
    );
    assert_eq!(e.tag, ErrorTag::BadAttribute, "{e:?}");
    assert_eq!(running(&d), before);
}
