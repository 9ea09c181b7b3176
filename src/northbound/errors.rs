//! The one mapping of the schema's refusals to `<rpc-error>`s (RFC 6241
//! Appendix A, SPEC §6; the table is in docs/yang.md). Parameters of a YANG
//! RPC are the application's, so their errors have error-type
//! `application`; what concerns the XML document itself is `rpc`.

use crate::netconf::error::{AnyLayer, ProtoOrApp, RpcError, RpcProtoOrApp};
use crate::schema::{Problem, ValidationError};

impl From<ValidationError> for RpcError {
    fn from(v: ValidationError) -> Self {
        const APP: ProtoOrApp = ProtoOrApp::Application;
        let mut e = match v.problem {
            Problem::Malformed => RpcError::malformed_message(),
            // "The request is too large for the implementation to handle."
            Problem::TooDeep => RpcError::too_big(AnyLayer::Rpc),
            Problem::UnknownNamespace => RpcError::unknown_namespace(APP),
            Problem::UnknownElement => RpcError::unknown_element(APP),
            Problem::BadElement => RpcError::bad_element(APP),
            Problem::MissingElement => RpcError::missing_element(APP),
            Problem::InvalidValue => RpcError::invalid_value(APP),
            Problem::Failed => RpcError::operation_failed(RpcProtoOrApp::Application),
        }
        .with_message(v.message);
        if let Some(tag) = v.app_tag {
            e = e.with_app_tag(tag);
        }
        if let Some(path) = v.path {
            e = e.with_path(path.xpath);
            for (prefix, ns) in path.namespaces {
                e = e.with_path_ns(prefix, ns);
            }
        }
        if let Some(el) = v.bad_element {
            e = e.with_bad_element(el);
        }
        if let Some(ns) = v.bad_namespace {
            e = e.with_info("bad-namespace", ns);
        }
        e
    }
}
