//! The schema layer's public API as the NETCONF session uses it: hostile
//! input, capabilities per profile, get-schema, monitoring and YANG library
//! data (checked against the modules themselves), the device table.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use ncagent::netconf::error::{ErrorTag, ErrorType, RpcError};
use ncagent::schema::{
    DeviceProfile, MODULE_NAME, MODULE_NAMESPACE, Schema, SchemaError, ValidatedRpc,
    ValidationError, WithDefaults,
};

const BASE: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// The refusal as the client sees it (the one mapping, in northbound).
fn wire(e: &ValidationError) -> RpcError {
    RpcError::from(e.clone())
}

fn load(model: &str, mode: Option<&str>) -> Schema {
    Schema::load(DeviceProfile::lookup(model, mode).expect("profile")).expect("schema")
}

fn request(inner: &str) -> String {
    format!(
        "<rpc xmlns=\"{BASE}\" message-id=\"7\"><refresh-bgp-vpn-target xmlns=\"{MODULE_NAMESPACE}\">{inner}</refresh-bgp-vpn-target></rpc>"
    )
}

#[test]
fn nul_byte_is_refused_before_libyang() {
    let s = load("CE8855", None);
    let mut bytes = request("<group>a\0b</group><direction>import</direction>").into_bytes();
    let e = s.validate_rpc(&bytes).expect_err("NUL refused");
    assert_eq!(wire(&e).tag(), ErrorTag::MalformedMessage);
    assert_eq!(wire(&e).error_type(), ErrorType::Rpc);
    bytes.push(0);
    assert!(s.validate_rpc(&bytes).is_err());
    assert!(s.validate_state_xml("<a>\0</a>").is_err());
}

#[test]
fn deep_nesting_is_refused_without_stack_overflow() {
    let s = load("CE8855", None);
    let open = "<a>".repeat(100_000);
    let close = "</a>".repeat(100_000);
    let xml = request(&format!("{open}{close}<all/><direction>import</direction>"));
    let e = s.validate_rpc(xml.as_bytes()).expect_err("too deep");
    assert_eq!(wire(&e).tag(), ErrorTag::TooBig);
    assert!(
        wire(&e)
            .message
            .is_some_and(|m| m.contains("nested deeper than 64"))
    );
    // Unclosed, as a hostile client would send it.
    assert!(s.validate_rpc(open.as_bytes()).is_err());
    assert!(s.validate_state_xml(&open).is_err());
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let s = load("CE6885-LL", Some("low-latency"));
    for junk in [
        &b""[..],
        b"<",
        b"<rpc",
        b"not xml at all",
        b"<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"/>",
        b"<rpc xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" message-id=\"1\"></rpc>",
        b"\xff\xfe<rpc/>",
        b"<!DOCTYPE x [<!ENTITY a \"b\">]><rpc/>",
    ] {
        assert!(s.validate_rpc(junk).is_err(), "{junk:?} accepted");
    }
}

#[test]
fn validated_rpc_is_plain_canonical_data() {
    let s = load("CE8855", None);
    let v = s
        .validate_rpc(
            request(
                "<direction>export</direction><ipv6-address>2001:0DB8:0:0::0002</ipv6-address>",
            )
            .as_bytes(),
        )
        .expect("valid");
    assert_eq!(
        v,
        ValidatedRpc {
            module: MODULE_NAME.to_owned(),
            name: "refresh-bgp-vpn-target".to_owned(),
            namespace: MODULE_NAMESPACE.to_owned(),
            leaves: vec![
                ("ipv6-address".to_owned(), "2001:db8::2".to_owned()),
                ("direction".to_owned(), "export".to_owned()),
            ],
        }
    );
    let v = s
        .validate_rpc(request("<internal/><direction>import</direction>").as_bytes())
        .expect("valid");
    assert!(v.leaves.contains(&("internal".to_owned(), String::new())));
    let group = "Leaf group of pod 7 with spaces in the name 047";
    let v = s
        .validate_rpc(
            request(&format!(
                "<group>{group}</group><direction>import</direction>"
            ))
            .as_bytes(),
        )
        .expect("valid");
    assert!(v.leaves.contains(&("group".to_owned(), group.to_owned())));
}

#[test]
fn the_feature_error_names_model_and_mode() {
    let s = load("CE6885-LL", Some("low-latency"));
    let e = s
        .validate_rpc(
            request("<ipv4-address>192.0.2.1</ipv4-address><direction>import</direction>")
                .as_bytes(),
        )
        .expect_err("no feature");
    assert_eq!(wire(&e).tag(), ErrorTag::UnknownElement);
    assert_eq!(wire(&e).error_type(), ErrorType::Application);
    assert_eq!(
        wire(&e).info,
        vec![("bad-element".to_owned(), "ipv4-address".to_owned())]
    );
    assert_eq!(
        wire(&e).message.as_deref(),
        Some(
            "ipv4-address is not supported on CE6885-LL (low-latency forwarding mode): \
             the device model lacks feature ipv4-peer-selector"
        )
    );
    let std = load("CE6885-LL", Some("standard"));
    assert!(
        std.validate_rpc(
            request("<ipv4-address>192.0.2.1</ipv4-address><direction>import</direction>")
                .as_bytes()
        )
        .is_ok()
    );
}

#[test]
fn capabilities_follow_the_profile() {
    let ours = |s: &Schema| {
        s.module_capabilities()
            .into_iter()
            .find(|c| c.starts_with(MODULE_NAMESPACE))
            .expect("our module's capability")
    };
    let base = format!("{MODULE_NAMESPACE}?module={MODULE_NAME}&revision=2026-11-26");
    assert_eq!(ours(&load("CE6885-LL", Some("low-latency"))), base);
    let with = format!("{base}&features=ipv4-peer-selector");
    assert_eq!(ours(&load("CE6885-LL", Some("standard"))), with);
    assert_eq!(ours(&load("CE8855", None)), with);

    let caps = load("CE8855", None).module_capabilities();
    assert!(caps.contains(
        &"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring?module=ietf-netconf-monitoring&revision=2010-10-04"
            .to_owned()
    ));
    // RFC 8526 §2: the library's revision (the one the context implements)
    // and its content-id.
    let s = load("CE8855", None);
    assert!(caps.contains(&format!(
        "urn:ietf:params:netconf:capability:yang-library:1.1?revision=2019-01-04&content-id={}",
        s.content_id()
    )));
    // YANG 1.1 modules are announced through the library only (RFC 7950
    // §5.6.4).
    assert!(
        !caps.iter().any(|c| c.contains("module=ncagent-bgp&")),
        "{caps:?}"
    );
    // Different feature sets, different module sets (RFC 8525 content-id).
    assert_ne!(
        load("CE8855", None).module_capabilities().last(),
        load("CE6885-LL", Some("low-latency"))
            .module_capabilities()
            .last()
    );
}

#[test]
fn get_schema_serves_module_text() {
    let s = load("CE8855", None);
    let text = s.get_schema(MODULE_NAME, None, None).expect("ours");
    assert!(text.starts_with("module ncagent-bgp-vpn-target"));
    assert_eq!(
        s.get_schema(MODULE_NAME, Some("2026-11-26"), Some("yang"))
            .ok(),
        Some(text.clone())
    );
    assert_eq!(
        s.get_schema(MODULE_NAME, Some(""), Some("ncm:yang")).ok(),
        Some(text)
    );
    let inet = s
        .get_schema("ietf-inet-types", None, None)
        .expect("printed by libyang");
    assert!(inet.starts_with("module ietf-inet-types"), "{inet}");
    assert!(
        s.get_schema("ietf-netconf-monitoring", Some("2010-10-04"), None)
            .is_ok_and(|t| t.contains("rpc get-schema"))
    );

    for (id, ver, fmt) in [
        ("no-such-module", None, None),
        (MODULE_NAME, Some("1999-01-01"), None),
        (MODULE_NAME, None, Some("yin")),
    ] {
        let e = s.get_schema(id, ver, fmt).expect_err("refused");
        assert_eq!(
            wire(&e).tag(),
            ErrorTag::InvalidValue,
            "{id} {ver:?} {fmt:?}"
        );
    }
}

#[test]
fn monitoring_and_library_data_validate_against_their_modules() {
    for s in [load("CE8855", None), load("CE6885-LL", Some("low-latency"))] {
        let schemas = s.monitoring_schemas_xml();
        assert!(schemas.starts_with(
            "<schemas xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\">"
        ));
        assert!(schemas.contains("<identifier>ncagent-bgp-vpn-target</identifier><version>2026-11-26</version><format>yang</format>"));
        let state = format!(
            "<netconf-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\">{}</netconf-state>",
            schemas.replacen(
                " xmlns=\"urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring\"",
                "",
                1
            )
        );
        s.validate_state_xml(&state)
            .expect("schemas valid per RFC 6022");
        // Every listed schema is served.
        for id in schemas.split("<identifier>").skip(1) {
            let id = id.split('<').next().expect("identifier");
            assert!(
                s.get_schema(id, None, None).is_ok(),
                "{id} listed but not served"
            );
        }

        let mut tree = s.read_tree();
        tree.add_yang_library().expect("library data");
        let lib = tree
            .render(None, WithDefaults::Explicit, false)
            .expect("printed");
        s.validate_state_xml(&lib)
            .unwrap_or_else(|e| panic!("{e}: {lib}"));
        let (_, lib) = lib
            .split_once("<modules-state xmlns=\"urn:ietf:params:xml:ns:yang:ietf-yang-library\"><module-set-id>")
            .expect("RFC 7895 modules-state");
        let ours = lib
            .split("<module>")
            .find(|m| m.contains("<name>ncagent-bgp-vpn-target</name>"))
            .expect("our module listed");
        assert!(ours.contains("<conformance-type>implement</conformance-type>"));
        assert_eq!(
            ours.contains("<feature>ipv4-peer-selector</feature>"),
            s.profile().ipv4_peer_selector
        );
    }
}

#[test]
fn state_xml_is_checked_against_the_module() {
    let s = load("CE8855", None);
    let good = format!(
        "<bgp-vpn-target-state xmlns=\"{MODULE_NAMESPACE}\"><local-as>65000</local-as><router-id>192.0.2.1</router-id>\
         <peer><address>2001:db8::2</address><remote-as>65001</remote-as><group>SPINE</group><peer-type>external</peer-type>\
         <family-enabled>true</family-enabled><session-state>established</session-state>\
         <negotiated><route-refresh>true</route-refresh><enhanced-route-refresh>false</enhanced-route-refresh><rtc>true</rtc><four-octet-as>true</four-octet-as></negotiated>\
         <counters><route-refresh-sent>1</route-refresh-sent><route-refresh-received>0</route-refresh-received><updates-sent>3</updates-sent><updates-received>2</updates-received></counters>\
         <rtc-routes><adj-rib-in>4</adj-rib-in><adj-rib-out>5</adj-rib-out></rtc-routes>\
         <last-soft-reset><time>2026-11-26T10:00:00Z</time><direction>import</direction><result>success</result><reason>sent ROUTE-REFRESH</reason></last-soft-reset>\
         </peer></bgp-vpn-target-state>"
    );
    s.validate_state_xml(&good).expect("valid state");
    let bad = good.replace("<result>success</result>", "<result>maybe</result>");
    assert!(s.validate_state_xml(&bad).is_err());
    let bad = good.replace("<local-as>65000</local-as>", "<local-as>-1</local-as>");
    assert!(s.validate_state_xml(&bad).is_err());
}

#[test]
fn device_table_and_start_up_errors() {
    let all = DeviceProfile::all();
    // The seed: 23 entries with the IPv4 selector (22 models + CE6885-LL
    // standard) and CE6885-LL low-latency without it; 23 distinct models.
    assert_eq!(all.len(), 24);
    let mut models: Vec<&str> = all.iter().map(|p| p.model).collect();
    models.sort_unstable();
    models.dedup();
    assert_eq!(models.len(), 23);
    assert_eq!(all.iter().filter(|p| p.ipv4_peer_selector).count(), 23);

    let Err(e) = DeviceProfile::lookup("CE9999", None) else {
        panic!("unknown model accepted");
    };
    assert!(matches!(e, SchemaError::UnknownModel { .. }));
    let text = e.to_string();
    for m in &models {
        assert!(text.contains(m), "{text} lacks {m}");
    }
    let Err(e) = DeviceProfile::lookup("CE6885-LL", Some("fast")) else {
        panic!("unknown mode accepted");
    };
    assert!(
        e.to_string().contains("\"standard\", \"low-latency\""),
        "{e}"
    );
}

#[test]
fn concurrent_validation_from_many_threads() {
    let s = std::sync::Arc::new(load("CE8855", None));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                for n in 0..200 {
                    let ok = request("<all/><direction>import</direction>");
                    assert!(s.validate_rpc(ok.as_bytes()).is_ok());
                    let bad = request(&format!(
                        "<group></group><direction>import</direction><!-- {i} {n} -->"
                    ));
                    let e = s.validate_rpc(bad.as_bytes()).expect_err("invalid");
                    // Each thread reads its own libyang error record.
                    assert_eq!(wire(&e).tag(), ErrorTag::InvalidValue);
                    assert_eq!(
                        wire(&e).path.as_deref(),
                        Some("/bvt:refresh-bgp-vpn-target/bvt:group")
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread");
    }
}
