//! `<get>` and `<get-config>`: the reply's data as one libyang tree of the
//! served schema (configuration, the engine's state, `netconf-state`, the
//! YANG library), filtered and printed by `crate::schema` (docs/yang.md,
//! "Read path").

use yang5::data::DataTree;

use super::state;
use crate::bgp::Snapshot;
use crate::netconf::error::{ProtoOrApp, RpcError, RpcProtoOrApp};
use crate::netconf::message::Element;
use crate::netconf::{ReadFilter, ReadRequest, WithDefaults};
use crate::schema::{
    BGP_CONFIG_NAMESPACE, DataFilter, FilterNode, MODULE_NAMESPACE, ReadError, Schema,
};

const YANG_LIBRARY_NS: &str = "urn:ietf:params:xml:ns:yang:ietf-yang-library";

/// The subtree filter's elements as [`FilterNode`]s, with the namespace
/// declarations in scope of each (for identityref content match values).
fn filter_nodes(parent: &Element, inherited: &[(String, String)]) -> Vec<FilterNode> {
    parent
        .children
        .iter()
        .map(|c| {
            let mut prefixes = inherited.to_vec();
            prefixes.extend(declared_prefixes(c));
            FilterNode {
                ns: c.ns.clone(),
                name: c.name.clone(),
                text: c.text.clone(),
                children: filter_nodes(c, &prefixes),
                prefixes,
            }
        })
        .collect()
}

/// The (prefix, namespace) pairs an element declares.
fn declared_prefixes(el: &Element) -> Vec<(String, String)> {
    el.attrs
        .iter()
        .filter_map(|a| {
            a.qname
                .strip_prefix("xmlns:")
                .map(|p| (p.to_owned(), a.value.clone()))
        })
        .collect()
}

fn data_filter(f: &ReadFilter<'_>) -> DataFilter {
    match f {
        ReadFilter::Subtree(el) => DataFilter::Subtree(filter_nodes(el, &declared_prefixes(el))),
        ReadFilter::XPath { select, prefixes } => DataFilter::XPath {
            select: (*select).to_owned(),
            prefixes: prefixes.to_vec(),
        },
    }
}

/// RFC 6241 §8.9 and Appendix A: a select expression that does not parse
/// is an invalid value of the `select` attribute; a prefix it does not
/// declare is a bad attribute.
pub(super) fn rpc_error(e: ReadError) -> RpcError {
    match e {
        ReadError::BadXPath(_) => RpcError::invalid_value(ProtoOrApp::Protocol)
            .with_message(e.to_string())
            .with_info("bad-attribute", "select")
            .with_bad_element("filter"),
        ReadError::UnknownPrefix(_) => RpcError::bad_attribute(RpcProtoOrApp::Protocol)
            .with_message(e.to_string())
            .with_info("bad-attribute", "select")
            .with_bad_element("filter"),
        ReadError::Internal(_) => {
            tracing::error!(error = %e, "building reply data");
            RpcError::operation_failed(RpcProtoOrApp::Application).with_message(e.to_string())
        }
    }
}

/// Whether the engine's state is needed for this request.
pub(super) fn wants_engine_state(req: &ReadRequest<'_>) -> bool {
    !req.config_only()
        && req.filter.is_none_or(|f| {
            f.may_select(MODULE_NAMESPACE, "bgp-vpn-target-state")
                || f.may_select(BGP_CONFIG_NAMESPACE, "bgp")
        })
}

/// Whether `req` reads a whole datastore as it is stored: `<get-config>`
/// without a filter in the basic mode (RFC 6243 explicit). Its reply is
/// the stored tree printed, the same text until the datastore changes.
pub fn whole_datastore(req: &ReadRequest<'_>) -> bool {
    req.config_only()
        && req.filter.is_none()
        && matches!(req.with_defaults, None | Some(WithDefaults::Explicit))
}

/// The content of `<data>` for `req`. `config` is the datastore's tree (any
/// libyang context; `None`: empty), `snapshot` the engine's state (`<get>`).
/// Only the top-level subtrees the filter may select are built.
pub fn read_data(
    schema: &Schema,
    config: Option<&DataTree<'_>>,
    snapshot: Option<&Snapshot>,
    req: &ReadRequest<'_>,
) -> Result<String, RpcError> {
    // The everyday poll of a whole datastore (RFC 6241 §7.1 without a
    // filter, in the basic mode, RFC 6243 §2.3): the stored tree holds
    // exactly what is reported, so it is printed as it is, without a copy
    // into a reply tree of the served context (a copy re-stores, hashes and
    // pattern-checks every value: ~16 ms for 3,000 route targets).
    if whole_datastore(req) {
        return match config {
            Some(tree) => print_reply(Reply::Stored(tree), WithDefaults::Explicit),
            None => Ok(String::new()),
        };
    }
    // The same with a subtree filter (the NMS's poll of one branch): the
    // filter runs on the stored tree and only what it selects is copied.
    let wd = req.with_defaults.unwrap_or_default();
    if req.config_only()
        && !wd.adds_defaults()
        && let Some(ReadFilter::Subtree(_)) = &req.filter
        && let Some(DataFilter::Subtree(nodes)) = req.filter.as_ref().map(data_filter)
    {
        return match config {
            Some(tree) => {
                let selected = crate::schema::filter_stored(tree, &nodes).map_err(rpc_error)?;
                print_reply(Reply::Built(&selected), wd)
            }
            None => Ok(String::new()),
        };
    }
    let wants = |ns: &str, name: &str| req.filter.is_none_or(|f| f.may_select(ns, name));
    let mut tree = schema.read_tree();
    let build = |tree: &mut crate::schema::ReadTree<'_>| -> Result<(), ReadError> {
        if let Some(c) = config
            && (wants(BGP_CONFIG_NAMESPACE, "bgp") || wants(crate::nacm::NS, "nacm"))
        {
            tree.add_config(c)?;
        }
        if req.config_only() {
            return Ok(());
        }
        if let Some(nc) = &req.netconf_state {
            tree.add_xml(nc)?;
        }
        if let Some(streams) = &req.streams {
            tree.add_xml(streams)?;
        }
        if let Some(nacm) = &req.nacm_state {
            tree.add_xml(nacm)?;
        }
        if wants(YANG_LIBRARY_NS, "yang-library") || wants(YANG_LIBRARY_NS, "modules-state") {
            tree.add_yang_library()?;
        }
        if let Some(s) = snapshot {
            if wants(MODULE_NAMESPACE, "bgp-vpn-target-state") {
                state::add_vpn_target_state(tree, s)?;
            }
            if wants(BGP_CONFIG_NAMESPACE, "bgp") {
                state::add_neighbor_state(tree, s)?;
            }
        }
        Ok(())
    };
    build(&mut tree).map_err(rpc_error)?;
    let filter = req.filter.as_ref().map(data_filter);
    let selected = tree
        .select(filter.as_ref(), wd, req.config_only())
        .map_err(rpc_error)?;
    print_reply(Reply::Built(&selected), wd)
}

/// The data of a reply, filtered, ready to print.
enum Reply<'r, 'c> {
    /// A datastore's tree as stored (the unfiltered `<get-config>`): to be
    /// printed, never changed (it is the datastore itself).
    Stored(&'r DataTree<'c>),
    /// A tree built for this reply (a copy): may be changed.
    Built(&'r DataTree<'c>),
}

/// Prints a reply's data (the content of `<data>`), "" when empty.
///
/// Every read path ends here: the reply tree is complete here, before
/// printing. What applies to all replies alike (e.g. pruning what the
/// user may not read) goes here; a `Reply::Stored` tree must be copied
/// first, not changed.
fn print_reply(reply: Reply<'_, '_>, wd: WithDefaults) -> Result<String, RpcError> {
    let (Reply::Stored(tree) | Reply::Built(tree)) = reply;
    crate::schema::print_data(tree, wd).map_err(rpc_error)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use yang5::data::{DataFormat, DataParserFlags, DataValidationFlags};

    use super::*;
    use crate::netconf::WithDefaults;
    use crate::netconf::error::ErrorTag;
    use crate::netconf::message::parse_document;
    use crate::northbound::state::tests::snapshot;
    use crate::schema::DeviceProfile;

    const BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";
    const NCM: &str = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring";

    fn schema() -> Schema {
        Schema::load(DeviceProfile::lookup("CE8855", None).unwrap()).unwrap()
    }

    /// Two sessions, as the NETCONF layer writes them.
    fn netconf_state() -> String {
        let session = |id: u32, user: &str| {
            format!(
                "<session><session-id>{id}</session-id>\
                 <transport xmlns:ncm=\"{NCM}\">ncm:netconf-ssh</transport>\
                 <username>{user}</username><source-host>127.0.0.1</source-host>\
                 <login-time>2026-11-29T10:00:00Z</login-time><in-rpcs>1</in-rpcs>\
                 <in-bad-rpcs>0</in-bad-rpcs><out-rpc-errors>0</out-rpc-errors>\
                 <out-notifications>0</out-notifications></session>"
            )
        };
        format!(
            "<netconf-state xmlns=\"{NCM}\"><sessions>{}{}</sessions></netconf-state>",
            session(1, "admin"),
            session(2, "bob")
        )
    }

    fn filter(inner: &str) -> Element {
        parse_document(format!("<filter xmlns=\"{BASE}\">{inner}</filter>").as_bytes()).unwrap()
    }

    fn xpath_filter(select: &str, decls: &str) -> Element {
        parse_document(
            format!("<filter xmlns=\"{BASE}\" {decls} type=\"xpath\" select=\"{select}\"/>")
                .as_bytes(),
        )
        .unwrap()
    }

    /// A configuration with the two neighbors of the snapshot, in the
    /// datastores' own context.
    fn config(ctx: &yang5::context::Context) -> DataTree<'_> {
        DataTree::parse_string(
            ctx,
            format!(
                "<bgp xmlns=\"{BGP_NS}\"><global><as>65000</as><router-id>1.1.1.1</router-id></global>\
                 <neighbors><neighbor><address>127.0.0.2</address><remote-as>65001</remote-as></neighbor>\
                 <neighbor><address>127.0.0.3</address><remote-as>65001</remote-as></neighbor></neighbors></bgp>"
            ),
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataValidationFlags::NO_STATE,
        )
        .unwrap()
    }

    fn get(
        schema: &Schema,
        f: Option<ReadFilter<'_>>,
        wd: Option<WithDefaults>,
    ) -> Result<String, RpcError> {
        let ctx = crate::schema::datastore_context().unwrap();
        let config = config(&ctx);
        let req = ReadRequest {
            datastore: "operational",
            filter: f,
            with_defaults: wd,
            netconf_state: Some(netconf_state()),
            streams: None,
            nacm_state: None,
        };
        read_data(schema, Some(&config), Some(&snapshot()), &req)
    }

    fn get_subtree(schema: &Schema, inner: &str) -> String {
        let f = filter(inner);
        get(schema, Some(ReadFilter::Subtree(&f)), None).unwrap()
    }

    fn get_xpath(schema: &Schema, select: &str) -> Result<String, RpcError> {
        let f = xpath_filter(
            select,
            &format!("xmlns:ncm=\"{NCM}\" xmlns:nb=\"urn:ncagent:yang:ncagent-bgp\""),
        );
        let prefixes = declared_prefixes(&f);
        let select = f.attr("select").unwrap().to_owned();
        get(
            schema,
            Some(ReadFilter::XPath {
                select: &select,
                prefixes: &prefixes,
            }),
            None,
        )
    }

    /// The reply data parses and validates against the served schema
    /// (namespaces of identityref values bound, keys present).
    fn assert_valid(schema: &Schema, xml: &str) {
        if !xml.is_empty() {
            schema
                .parse_state_xml(xml)
                .unwrap_or_else(|e| panic!("{e}\n{xml}"));
        }
    }

    /// `netconf-state` produced for a filter (only the children it can
    /// select) gives the reply the whole `netconf-state` gives, for every
    /// filter of the table: the pre-filtering cannot diverge from the
    /// general filter.
    #[test]
    fn prefiltered_netconf_state_equals_whole() {
        use std::time::{Duration, SystemTime};

        use crate::netconf::ops::monitoring::{Parts, Source, parts_wanted, render};
        use crate::netconf::state::SessionSummary;

        let s = schema();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let row = |id: u32, user: &str| SessionSummary {
            id,
            user: user.into(),
            peer: Some("127.0.0.1:40000".parse().unwrap()),
            login_time: at,
            in_rpcs: u64::from(id) * 10,
            in_bad_rpcs: 0,
            out_rpc_errors: 1,
            out_notifications: 2,
        };
        let schemas = s.monitoring_schemas_xml();
        let capabilities = vec![
            "urn:ietf:params:netconf:base:1.0".to_owned(),
            "urn:ietf:params:netconf:capability:with-defaults:1.0?basic-mode=explicit&also-supported=trim".to_owned(),
        ];
        let src = Source {
            capabilities: &capabilities,
            datastores: vec![("running", Some((2, at))), ("candidate", None)],
            schemas: Some(&schemas),
            sessions: vec![row(1, "admin"), row(2, "bob")],
            start_time: at,
            stats: [1, 2, 3, 4, 5, 6, 7],
        };
        let ncm = |inner: &str| format!("<netconf-state xmlns=\"{NCM}\">{inner}</netconf-state>");
        let filters = [
            ncm("<statistics/>"),
            ncm("<statistics><in-rpcs/><netconf-start-time/></statistics>"),
            ncm("<statistics/><statistics><in-rpcs/></statistics>"),
            ncm("<capabilities/>"),
            ncm("<capabilities><capability/></capabilities><datastores/>"),
            ncm("<datastores><datastore><name>running</name><locks/></datastore></datastores>"),
            ncm("<sessions><session><username>bob</username></session></sessions><statistics/>"),
            ncm("<schemas><schema><identifier>ncagent-bgp</identifier></schema></schemas>"),
            ncm(""),
            ncm("<statistics>x</statistics>"),
            ncm("<statistics/><no-such-node/>"),
            ncm("<statistics xmlns=\"urn:other\"/>"),
            ncm("<statistics/><capabilities>x</capabilities>"),
            format!("{}{}", ncm("<statistics/>"), ncm("<sessions/>")),
            "<netconf-state><statistics/></netconf-state>".to_owned(),
            format!(
                "{}<bgp-vpn-target-state xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><local-as/></bgp-vpn-target-state>",
                ncm("<statistics><in-sessions/></statistics>")
            ),
        ];
        let read = |f: &Element, parts: Parts| {
            let req = ReadRequest {
                datastore: "operational",
                filter: Some(ReadFilter::Subtree(f)),
                with_defaults: None,
                netconf_state: Some(render(&src, parts)),
                streams: None,
                nacm_state: None,
            };
            read_data(&s, None, Some(&snapshot()), &req).unwrap()
        };
        for inner in &filters {
            let f = filter(inner);
            let parts = parts_wanted(Some(&ReadFilter::Subtree(&f)));
            let whole = read(&f, Parts::ALL);
            assert_eq!(read(&f, parts), whole, "filter {inner}");
            assert_valid(&s, &whole);
        }
        // The poll of statistics produces statistics alone, and selects it.
        let f = filter(&filters[0]);
        let parts = parts_wanted(Some(&ReadFilter::Subtree(&f)));
        assert!(!render(&src, parts).contains("<capabilities>"));
        assert!(read(&f, parts).contains("<in-rpcs>4</in-rpcs>"));
        // Without a filter and with XPath: everything.
        assert_eq!(parts_wanted(None), Parts::ALL);
    }

    /// The directly written poll of `netconf-state/statistics` is what the
    /// general path prints for the same filter, over a table of the
    /// filters it answers; the others it leaves to the general path.
    #[test]
    fn direct_statistics_equals_general() {
        use std::time::{Duration, SystemTime};

        use crate::netconf::ops::monitoring::{
            Parts, Source, render, statistics_direct, statistics_selected,
        };
        // The shortcut as the read path takes it: the filter's leaves,
        // then the direct reply.
        let direct_of = |src: &Source<'_>, f: &ReadFilter<'_>, wd| {
            statistics_selected(f).and_then(|leaves| statistics_direct(src, leaves, wd))
        };

        let s = schema();
        let caps = Vec::new();
        let src = Source {
            capabilities: &caps,
            datastores: Vec::new(),
            schemas: None,
            sessions: Vec::new(),
            start_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_123),
            stats: [0, 2, 3, 4_000_000_000, 5, 6, u64::from(u32::MAX)],
        };
        let ncm = |inner: &str| format!("<netconf-state xmlns=\"{NCM}\">{inner}</netconf-state>");
        let direct = [
            ncm("<statistics/>"),
            ncm("<statistics><in-rpcs/></statistics>"),
            ncm(
                "<statistics><out-notifications/><netconf-start-time/><in-bad-hellos/></statistics>",
            ),
            ncm("<statistics><in-rpcs/></statistics><statistics><dropped-sessions/></statistics>"),
            ncm("<statistics><in-rpcs/></statistics><statistics/>"),
            format!(
                "<ncm:netconf-state xmlns:ncm=\"{NCM}\"><ncm:statistics><ncm:in-sessions/></ncm:statistics></ncm:netconf-state>"
            ),
            format!(
                "<netconf-state xmlns=\"{NCM}\">\n  <statistics>\n    <in-rpcs/>\n  </statistics>\n</netconf-state>"
            ),
        ];
        let general = [
            ncm(""),
            ncm("<statistics><in-rpcs>5</in-rpcs></statistics>"),
            ncm("<statistics><no-such-leaf/></statistics>"),
            ncm("<statistics/><sessions/>"),
            ncm("<statistics xmlns=\"urn:other\"/>"),
            "<netconf-state><statistics/></netconf-state>".to_owned(),
            format!("{}{}", ncm("<statistics/>"), ncm("<statistics/>")),
        ];
        for (inner, wd) in direct
            .iter()
            .map(|f| (f, None))
            .chain([(&direct[0], Some(WithDefaults::Explicit))])
        {
            let f = filter(inner);
            let rf = ReadFilter::Subtree(&f);
            let req = ReadRequest {
                datastore: "operational",
                filter: Some(rf),
                with_defaults: wd,
                netconf_state: Some(render(&src, Parts::ALL)),
                streams: None,
                nacm_state: None,
            };
            let general = read_data(&s, None, None, &req).unwrap();
            let fast = direct_of(&src, &rf, wd)
                .unwrap_or_else(|| panic!("not answered directly: {inner}"));
            assert_eq!(fast, general, "filter {inner}");
            assert_valid(&s, &fast);
        }
        for inner in &general {
            let f = filter(inner);
            assert_eq!(
                direct_of(&src, &ReadFilter::Subtree(&f), None),
                None,
                "{inner}"
            );
        }
        let f = filter(&direct[0]);
        for wd in [
            WithDefaults::Trim,
            WithDefaults::ReportAll,
            WithDefaults::ReportAllTagged,
        ] {
            assert_eq!(direct_of(&src, &ReadFilter::Subtree(&f), Some(wd)), None);
        }
    }

    /// Issue #10 regression: a selection below a list keeps the keys
    /// (RFC 6241 §6.2.5, RFC 7950 §7.8.5).
    #[test]
    fn list_entry_selected_below_keeps_its_key() {
        let s = schema();
        let out = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\"><sessions><session><username/></session></sessions></netconf-state>"
            ),
        );
        assert!(
            out.contains("<session><session-id>1</session-id><username>admin</username></session>"),
            "{out}"
        );
        assert!(
            out.contains("<session-id>2</session-id><username>bob</username>"),
            "{out}"
        );
        assert!(!out.contains("source-host"), "{out}");
    }

    /// Issue #10 regression: the identityref's prefix is bound in the reply.
    #[test]
    fn identityref_prefix_is_bound() {
        let s = schema();
        let out = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\"><sessions><session><transport/></session></sessions></netconf-state>"
            ),
        );
        let doc = parse_document(format!("<data>{out}</data>").as_bytes())
            .unwrap_or_else(|e| panic!("{e}: {out}"));
        let transport = &doc.children[0].children[0].children[0].children[1];
        assert_eq!(transport.name, "transport", "{out}");
        match transport.text.split_once(':') {
            // The prefix is declared on the element or an ancestor, to NCM.
            Some((prefix, local)) => {
                assert_eq!(local, "netconf-ssh");
                assert!(out.contains(&format!("xmlns:{prefix}=\"{NCM}\"")), "{out}");
            }
            // RFC 7950 §9.10.3: no prefix, the default namespace in effect
            // on the element, which must then be NCM.
            None => {
                assert_eq!(transport.text, "netconf-ssh");
                assert_eq!(transport.ns.as_deref(), Some(NCM), "{out}");
            }
        }
        assert_valid(&s, &out);
    }

    #[test]
    fn subtree_content_match_on_key_and_non_key() {
        let s = schema();
        let by_key = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\"><sessions><session><session-id>2</session-id></session></sessions></netconf-state>"
            ),
        );
        assert!(
            by_key.contains("<username>bob</username>") && !by_key.contains("admin"),
            "{by_key}"
        );
        assert!(
            by_key.contains("<source-host>"),
            "only content match: whole entry: {by_key}"
        );
        let by_user = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\"><sessions><session><username>admin</username><in-rpcs/></session></sessions></netconf-state>"
            ),
        );
        assert!(
            by_user.contains(
                "<session-id>1</session-id><username>admin</username><in-rpcs>1</in-rpcs>"
            ),
            "{by_user}"
        );
        assert!(
            !by_user.contains("bob") && !by_user.contains("source-host"),
            "{by_user}"
        );
        let none = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\"><sessions><session><username>carol</username></session></sessions></netconf-state>"
            ),
        );
        assert_eq!(none, "");
        // Identityref content match with the client's own prefix.
        let by_transport = get_subtree(
            &s,
            &format!(
                "<netconf-state xmlns=\"{NCM}\" xmlns:t=\"{NCM}\"><sessions><session><transport>t:netconf-ssh</transport><username/></session></sessions></netconf-state>"
            ),
        );
        assert!(
            by_transport.contains("<username>bob</username>"),
            "{by_transport}"
        );
    }

    #[test]
    fn subtree_containment_namespaces_and_empty() {
        let s = schema();
        // Two namespaces in one filter; a neighbor's state by key.
        let out = get_subtree(
            &s,
            "<bgp-vpn-target-state xmlns=\"urn:ncagent:yang:ncagent-bgp-vpn-target\"><local-as/></bgp-vpn-target-state>\
             <bgp xmlns=\"urn:ncagent:yang:ncagent-bgp\"><neighbors><neighbor><address>127.0.0.3</address><state><session-state/></state></neighbor></neighbors></bgp>",
        );
        assert!(out.contains("<local-as>65000</local-as>"), "{out}");
        assert!(out.contains("<neighbor><address>127.0.0.3</address><state><session-state>established</session-state></state></neighbor>"), "{out}");
        assert!(
            !out.contains("127.0.0.2") && !out.contains("<peer>"),
            "{out}"
        );
        assert_valid(&s, &out);
        // RFC 6241 §6.4.2: an empty filter selects nothing.
        assert_eq!(get_subtree(&s, ""), "");
        // A namespace no module has: nothing.
        assert_eq!(
            get_subtree(&s, "<netconf-state xmlns=\"urn:unknown\"/>"),
            ""
        );
    }

    #[test]
    fn xpath_selects_with_ancestors_and_keys() {
        let s = schema();
        let out = get_xpath(
            &s,
            "/ncm:netconf-state/ncm:sessions/ncm:session[ncm:username='bob']/ncm:transport",
        )
        .unwrap();
        assert!(
            out.contains("<session><session-id>2</session-id><transport"),
            "{out}"
        );
        assert!(
            !out.contains("admin") && !out.contains("<username>"),
            "{out}"
        );
        assert_valid(&s, &out);
        let out = get_xpath(&s, "/nb:bgp/nb:neighbors/nb:neighbor[nb:address='127.0.0.2']/nb:state/nb:counters/nb:updates-sent").unwrap();
        assert!(
            out.contains(
                "<address>127.0.0.2</address><state><counters><updates-sent>3</updates-sent>"
            ),
            "{out}"
        );
        // An identityref literal written with the client's prefix.
        let out = get_xpath(&s, "/ncm:netconf-state/ncm:sessions/ncm:session[ncm:transport='ncm:netconf-ssh']/ncm:username").unwrap();
        assert!(out.contains("<username>admin</username>"), "{out}");
    }

    /// Overlapping selections (a node and its descendants) give the same
    /// data as the outermost one alone.
    #[test]
    fn xpath_overlapping_selections() {
        let s = schema();
        let all = get_xpath(&s, "/ncm:netconf-state/ncm:sessions//*").unwrap();
        let sessions = get_xpath(&s, "/ncm:netconf-state/ncm:sessions").unwrap();
        assert_eq!(all, sessions);
        assert!(all.contains("<username>bob</username>"), "{all}");
    }

    #[test]
    fn xpath_errors() {
        let s = schema();
        let e = get_xpath(&s, "/ncm:netconf-state[").unwrap_err();
        assert_eq!(e.tag(), ErrorTag::InvalidValue, "{}", e.to_xml());
        let e = get_xpath(&s, "/zz:netconf-state").unwrap_err();
        assert_eq!(e.tag(), ErrorTag::BadAttribute, "{}", e.to_xml());
        assert!(
            e.to_xml().contains("<bad-attribute>select</bad-attribute>"),
            "{}",
            e.to_xml()
        );
    }

    const BGP_NS: &str = "urn:ncagent:yang:ncagent-bgp";

    fn get_config(schema: &Schema, config: &DataTree<'_>, wd: Option<WithDefaults>) -> String {
        let req = ReadRequest {
            datastore: "running",
            filter: None,
            with_defaults: wd,
            netconf_state: None,
            streams: None,
            nacm_state: None,
        };
        read_data(schema, Some(config), None, &req).unwrap()
    }

    /// RFC 6243 §3 on get-config, with a configuration of the datastore
    /// context (another libyang context than the served one): hold-time
    /// is a default (90); connect-retry is set to its default value (5).
    #[test]
    fn with_defaults_modes_on_get_config() {
        let s = schema();
        let ctx = crate::schema::datastore_context().unwrap();
        let config = DataTree::parse_string(
            &ctx,
            format!(
                "<bgp xmlns=\"{BGP_NS}\"><global><as>65000</as><router-id>1.1.1.1</router-id>\
                 <timers><connect-retry>5</connect-retry></timers></global></bgp>"
            ),
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataValidationFlags::NO_STATE,
        )
        .unwrap();
        let explicit = get_config(&s, &config, None);
        assert!(
            explicit.contains("<connect-retry>5</connect-retry>"),
            "{explicit}"
        );
        assert!(!explicit.contains("hold-time"), "{explicit}");
        assert_eq!(
            explicit,
            get_config(&s, &config, Some(WithDefaults::Explicit))
        );
        let all = get_config(&s, &config, Some(WithDefaults::ReportAll));
        assert!(
            all.contains("<hold-time>90</hold-time>")
                && all.contains("<connect-retry>5</connect-retry>"),
            "{all}"
        );
        let tagged = get_config(&s, &config, Some(WithDefaults::ReportAllTagged));
        assert!(
            tagged.contains(":default=\"true\">90</hold-time>"),
            "{tagged}"
        );
        assert!(
            tagged.contains("urn:ietf:params:xml:ns:netconf:default:1.0"),
            "{tagged}"
        );
        let trim = get_config(&s, &config, Some(WithDefaults::Trim));
        assert!(
            !trim.contains("hold-time") && !trim.contains("connect-retry"),
            "{trim}"
        );
        assert!(trim.contains("<as>65000</as>"), "{trim}");
    }

    /// with-defaults on <get>: the configuration and state merged; state
    /// follows the same rule.
    #[test]
    fn with_defaults_on_get_merges_config_and_state() {
        let s = schema();
        let ctx = crate::schema::datastore_context().unwrap();
        let config = DataTree::parse_string(
            &ctx,
            format!(
                "<bgp xmlns=\"{BGP_NS}\"><global><as>65000</as><router-id>1.1.1.1</router-id></global>\
                 <neighbors><neighbor><address>127.0.0.2</address><remote-as>65001</remote-as></neighbor></neighbors></bgp>"
            ),
            DataFormat::XML,
            DataParserFlags::STRICT,
            DataValidationFlags::NO_STATE,
        )
        .unwrap();
        let f = filter(&format!("<bgp xmlns=\"{BGP_NS}\"/>"));
        let req = ReadRequest {
            datastore: "operational",
            filter: Some(ReadFilter::Subtree(&f)),
            with_defaults: Some(WithDefaults::ReportAll),
            netconf_state: None,
            streams: None,
            nacm_state: None,
        };
        let out = read_data(&s, Some(&config), Some(&snapshot()), &req).unwrap();
        assert!(out.contains("<remote-as>65001</remote-as>"), "{out}");
        // 127.0.0.3 runs in the engine but has no configured entry.
        assert!(!out.contains("127.0.0.3"), "{out}");
        s.validate_state_xml(&out)
            .unwrap_or_else(|e| panic!("{e}\n{out}"));
        assert!(out.contains("<passive-mode>false</passive-mode>"), "{out}");
        assert!(
            out.contains("<session-state>established</session-state>"),
            "{out}"
        );
        assert_valid(&s, &out);
        let req = ReadRequest {
            with_defaults: None,
            ..req
        };
        let out = read_data(&s, Some(&config), Some(&snapshot()), &req).unwrap();
        assert!(
            !out.contains("passive-mode") && out.contains("<session-state>"),
            "{out}"
        );
    }

    /// RFC 8525: the library lists what is served; the hello agrees.
    #[test]
    fn yang_library_and_hello_agree() {
        let s = schema();
        let f = filter(
            "<yang-library xmlns=\"urn:ietf:params:xml:ns:yang:ietf-yang-library\"/><modules-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-yang-library\"/>",
        );
        let out = get(&s, Some(ReadFilter::Subtree(&f)), None).unwrap();
        assert_valid(&s, &out);
        let id = s.content_id();
        assert!(
            out.contains(&format!("<content-id>{id}</content-id>")),
            "{out}"
        );
        assert!(
            out.contains(&format!("<module-set-id>{id}</module-set-id>")),
            "{out}"
        );
        for m in [
            "ncagent-bgp",
            "ncagent-bgp-vpn-target",
            "ietf-netconf-monitoring",
            "ietf-netconf-with-defaults",
        ] {
            assert!(
                out.contains(&format!("<module><name>{m}</name>")),
                "{m}: {out}"
            );
        }
        assert!(
            out.contains("<import-only-module><name>ietf-inet-types</name>"),
            "{out}"
        );
        // Imported by a served module: import-only, never implemented.
        let (library, _) = out.split_once("<modules-state").unwrap();
        assert!(
            !library.contains("<module><name>ietf-yang-metadata</name>"),
            "{out}"
        );
        for absent in [
            "ietf-yang-schema-mount",
            "ietf-yang-structure-ext",
            "<name>yang</name>",
        ] {
            assert!(!out.contains(absent), "{absent}: {out}");
        }
        for ds in ["running", "candidate", "startup", "operational"] {
            assert!(
                out.contains(&format!(":{ds}</name><schema>complete</schema>")),
                "{ds}: {out}"
            );
        }
        let caps = s.module_capabilities();
        assert!(caps.contains(&format!(
            "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={id}"
        )), "{caps:?}");
        assert!(!caps.iter().any(|c| c.contains("2016-06-21")), "{caps:?}");
        // Every module capability names a module the library lists as
        // implemented, with the same revision.
        for c in caps.iter().filter(|c| c.contains("?module=")) {
            let q = c.split_once('?').unwrap().1;
            let field = |k: &str| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
                    .map(str::to_owned)
            };
            let name = field("module").unwrap();
            let rev = field("revision").unwrap();
            assert!(
                out.contains(&format!(
                    "<module><name>{name}</name><revision>{rev}</revision>"
                )),
                "{c} not in the library: {out}"
            );
        }
    }

    /// The whole <get> reply validates against the served schema
    /// (mandatory nodes included); engine peers without a configured
    /// neighbor entry are not reported under /bgp.
    #[test]
    fn unfiltered_get_is_valid_data() {
        let s = schema();
        let out = get(&s, None, None).unwrap();
        assert!(
            out.contains("<bgp-vpn-target-state") && out.contains("<yang-library"),
            "{out}"
        );
        assert!(
            out.contains("<received-time>2027-01-15T08:00:00Z</received-time>"),
            "{out}"
        );
        assert!(
            out.contains("<established-since>2027-01-15T08:00:00Z</established-since>"),
            "{out}"
        );
        s.validate_state_xml(&out)
            .unwrap_or_else(|e| panic!("{e}\n{out}"));
        // Without configuration: no neighbor entries, still valid.
        let req = ReadRequest {
            datastore: "operational",
            filter: None,
            with_defaults: None,
            netconf_state: Some(netconf_state()),
            streams: None,
            nacm_state: None,
        };
        let out = read_data(&s, None, Some(&snapshot()), &req).unwrap();
        assert!(!out.contains("<bgp xmlns"), "{out}");
        s.validate_state_xml(&out)
            .unwrap_or_else(|e| panic!("{e}\n{out}"));
    }
}
