//! `<rpc-error>` as data, and its one mapping to the wire (RFC 6241 §4.3, Appendix A).
//!
//! Every layer has its own typed error; each converts into [`RpcError`] in one
//! place, and only this file knows how an rpc-error is written as XML.

use std::fmt::{self, Write as _};

/// RFC 6241 base namespace, in which every `<rpc-error>` child lives.
pub const BASE_NS: &str = "urn:ietf:params:xml:ns:netconf:base:1.0";

/// RFC 6241 §4.3 `error-type`: the conceptual layer where the error occurred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    Transport,
    Rpc,
    Protocol,
    Application,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Transport => "transport",
            ErrorType::Rpc => "rpc",
            ErrorType::Protocol => "protocol",
            ErrorType::Application => "application",
        }
    }
}

/// RFC 6241 Appendix A `error-tag` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTag {
    InUse,
    InvalidValue,
    TooBig,
    MissingAttribute,
    BadAttribute,
    UnknownAttribute,
    MissingElement,
    BadElement,
    UnknownElement,
    UnknownNamespace,
    AccessDenied,
    LockDenied,
    ResourceDenied,
    RollbackFailed,
    DataExists,
    DataMissing,
    OperationNotSupported,
    OperationFailed,
    MalformedMessage,
}

impl ErrorTag {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorTag::InUse => "in-use",
            ErrorTag::InvalidValue => "invalid-value",
            ErrorTag::TooBig => "too-big",
            ErrorTag::MissingAttribute => "missing-attribute",
            ErrorTag::BadAttribute => "bad-attribute",
            ErrorTag::UnknownAttribute => "unknown-attribute",
            ErrorTag::MissingElement => "missing-element",
            ErrorTag::BadElement => "bad-element",
            ErrorTag::UnknownElement => "unknown-element",
            ErrorTag::UnknownNamespace => "unknown-namespace",
            ErrorTag::AccessDenied => "access-denied",
            ErrorTag::LockDenied => "lock-denied",
            ErrorTag::ResourceDenied => "resource-denied",
            ErrorTag::RollbackFailed => "rollback-failed",
            ErrorTag::DataExists => "data-exists",
            ErrorTag::DataMissing => "data-missing",
            ErrorTag::OperationNotSupported => "operation-not-supported",
            ErrorTag::OperationFailed => "operation-failed",
            ErrorTag::MalformedMessage => "malformed-message",
        }
    }
}

/// The layers RFC 6241 Appendix A allows for tags that only the protocol or
/// the application may report (e.g. `invalid-value`, `missing-element`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoOrApp {
    Protocol,
    Application,
}

/// The layers RFC 6241 Appendix A allows for `missing-attribute`,
/// `bad-attribute`, `unknown-attribute` and `operation-failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcProtoOrApp {
    Rpc,
    Protocol,
    Application,
}

/// Every layer: RFC 6241 Appendix A allows all four for `too-big` and
/// `resource-denied`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyLayer {
    Transport,
    Rpc,
    Protocol,
    Application,
}

impl From<ProtoOrApp> for ErrorType {
    fn from(l: ProtoOrApp) -> Self {
        match l {
            ProtoOrApp::Protocol => ErrorType::Protocol,
            ProtoOrApp::Application => ErrorType::Application,
        }
    }
}

impl From<RpcProtoOrApp> for ErrorType {
    fn from(l: RpcProtoOrApp) -> Self {
        match l {
            RpcProtoOrApp::Rpc => ErrorType::Rpc,
            RpcProtoOrApp::Protocol => ErrorType::Protocol,
            RpcProtoOrApp::Application => ErrorType::Application,
        }
    }
}

impl From<AnyLayer> for ErrorType {
    fn from(l: AnyLayer) -> Self {
        match l {
            AnyLayer::Transport => ErrorType::Transport,
            AnyLayer::Rpc => ErrorType::Rpc,
            AnyLayer::Protocol => ErrorType::Protocol,
            AnyLayer::Application => ErrorType::Application,
        }
    }
}

/// One `<rpc-error>`. Built only through the per-tag constructors
/// ([`RpcError::invalid_value`], [`RpcError::malformed_message`], …), each of
/// which takes only the error-types RFC 6241 Appendix A allows for its tag,
/// so that a pair outside the appendix cannot be built; then the `with_*`
/// methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    error_type: ErrorType,
    tag: ErrorTag,
    /// RFC 6241 §4.3: "error" or "warning"; this agent only reports errors.
    pub app_tag: Option<String>,
    /// An XPath to the offending node, e.g. `/bvt:refresh-bgp-vpn-target/bvt:group`.
    pub path: Option<String>,
    /// Namespace declarations (prefix, URI) the prefixes in `path` need.
    pub path_ns: Vec<(String, String)>,
    /// Human-readable text, written with `xml:lang="en"`.
    pub message: Option<String>,
    /// `<error-info>` children as (element name, text), e.g. ("bad-element", "group").
    pub info: Vec<(String, String)>,
}

impl RpcError {
    fn new(error_type: impl Into<ErrorType>, tag: ErrorTag) -> Self {
        RpcError {
            error_type: error_type.into(),
            tag,
            app_tag: None,
            path: None,
            path_ns: Vec::new(),
            message: None,
            info: Vec::new(),
        }
    }

    // One constructor per RFC 6241 Appendix A tag, with its allowed layers.

    /// `in-use`: protocol, application.
    pub fn in_use(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::InUse)
    }
    /// `invalid-value`: protocol, application.
    pub fn invalid_value(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::InvalidValue)
    }
    /// `too-big`: transport, rpc, protocol, application.
    pub fn too_big(layer: AnyLayer) -> Self {
        Self::new(layer, ErrorTag::TooBig)
    }
    /// `missing-attribute`: rpc, protocol, application.
    pub fn missing_attribute(layer: RpcProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::MissingAttribute)
    }
    /// `bad-attribute`: rpc, protocol, application.
    pub fn bad_attribute(layer: RpcProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::BadAttribute)
    }
    /// `unknown-attribute`: rpc, protocol, application.
    pub fn unknown_attribute(layer: RpcProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::UnknownAttribute)
    }
    /// `missing-element`: protocol, application.
    pub fn missing_element(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::MissingElement)
    }
    /// `bad-element`: protocol, application.
    pub fn bad_element(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::BadElement)
    }
    /// `unknown-element`: protocol, application.
    pub fn unknown_element(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::UnknownElement)
    }
    /// `unknown-namespace`: protocol, application.
    pub fn unknown_namespace(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::UnknownNamespace)
    }
    /// `access-denied`: protocol, application.
    pub fn access_denied(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::AccessDenied)
    }
    /// `lock-denied`: protocol only.
    pub fn lock_denied() -> Self {
        Self::new(ErrorType::Protocol, ErrorTag::LockDenied)
    }
    /// `resource-denied`: transport, rpc, protocol, application.
    pub fn resource_denied(layer: AnyLayer) -> Self {
        Self::new(layer, ErrorTag::ResourceDenied)
    }
    /// `rollback-failed`: protocol, application.
    pub fn rollback_failed(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::RollbackFailed)
    }
    /// `data-exists`: application only.
    pub fn data_exists() -> Self {
        Self::new(ErrorType::Application, ErrorTag::DataExists)
    }
    /// `data-missing`: application only.
    pub fn data_missing() -> Self {
        Self::new(ErrorType::Application, ErrorTag::DataMissing)
    }
    /// `operation-not-supported`: protocol, application.
    pub fn operation_not_supported(layer: ProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::OperationNotSupported)
    }
    /// `operation-failed`: rpc, protocol, application.
    pub fn operation_failed(layer: RpcProtoOrApp) -> Self {
        Self::new(layer, ErrorTag::OperationFailed)
    }
    /// `malformed-message`: rpc only (RFC 6241 Appendix A; new in base:1.1).
    pub fn malformed_message() -> Self {
        Self::new(ErrorType::Rpc, ErrorTag::MalformedMessage)
    }

    pub fn error_type(&self) -> ErrorType {
        self.error_type
    }

    pub fn tag(&self) -> ErrorTag {
        self.tag
    }

    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn with_app_tag(mut self, app_tag: impl Into<String>) -> Self {
        self.app_tag = Some(app_tag.into());
        self
    }

    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn with_path_ns(mut self, prefix: impl Into<String>, ns: impl Into<String>) -> Self {
        self.path_ns.push((prefix.into(), ns.into()));
        self
    }

    pub fn with_info(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.info.push((name.into(), value.into()));
        self
    }

    /// Shorthand for the common `<bad-element>` error-info.
    pub fn with_bad_element(self, element: impl Into<String>) -> Self {
        self.with_info("bad-element", element)
    }

    /// SPEC §6 "unknown operation": `operation-not-supported` (protocol),
    /// naming the operation in `bad-element`.
    pub fn unsupported_operation(op: &str) -> Self {
        RpcError::operation_not_supported(ProtoOrApp::Protocol)
            .with_message(format!("operation \"{op}\" is not supported"))
            .with_bad_element(op)
    }

    /// An application failure described only by its message.
    pub fn application_failure(message: impl Into<String>) -> Self {
        RpcError::operation_failed(RpcProtoOrApp::Application).with_message(message)
    }

    /// Writes this error as an `<rpc-error>` element in the base namespace
    /// (the enclosing `<rpc-reply>` declares it as the default namespace).
    pub fn write_xml(&self, out: &mut String) {
        out.push_str("<rpc-error>");
        let _ = write!(out, "<error-type>{}</error-type>", self.error_type.as_str());
        let _ = write!(out, "<error-tag>{}</error-tag>", self.tag.as_str());
        out.push_str("<error-severity>error</error-severity>");
        if let Some(app_tag) = &self.app_tag {
            let _ = write!(out, "<error-app-tag>{}</error-app-tag>", Escaped(app_tag));
        }
        if let Some(path) = &self.path {
            out.push_str("<error-path");
            for (prefix, ns) in &self.path_ns {
                let _ = write!(out, " xmlns:{}=\"{}\"", Escaped(prefix), Escaped(ns));
            }
            let _ = write!(out, ">{}</error-path>", Escaped(path));
        }
        if let Some(message) = &self.message {
            let _ = write!(
                out,
                "<error-message xml:lang=\"en\">{}</error-message>",
                Escaped(message)
            );
        }
        if !self.info.is_empty() {
            out.push_str("<error-info>");
            for (name, value) in &self.info {
                let _ = write!(out, "<{name}>{}</{name}>", Escaped(value));
            }
            out.push_str("</error-info>");
        }
        out.push_str("</rpc-error>");
    }

    pub fn to_xml(&self) -> String {
        let mut s = String::new();
        self.write_xml(&mut s);
        s
    }
}

/// SPEC §7: a denial answers `access-denied`, type protocol (RFC 6241
/// Appendix A), with the levels in the message.
impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.error_type.as_str(), self.tag.as_str())?;
        if let Some(app) = &self.app_tag {
            write!(f, " ({app})")?;
        }
        if let Some(m) = &self.message {
            write!(f, ": {m}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// XML text escaping (one implementation for the crate, `crate::xml`).
pub use crate::xml::Escaped;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_field_in_order() {
        let e = RpcError::unknown_element(ProtoOrApp::Application)
            .with_app_tag("x")
            .with_path("/p:a")
            .with_path_ns("p", "urn:p")
            .with_message("a < b")
            .with_bad_element("a");
        assert_eq!(
            e.to_xml(),
            "<rpc-error><error-type>application</error-type><error-tag>unknown-element</error-tag>\
             <error-severity>error</error-severity><error-app-tag>x</error-app-tag>\
             <error-path xmlns:p=\"urn:p\">/p:a</error-path>\
             <error-message xml:lang=\"en\">a &lt; b</error-message>\
             <error-info><bad-element>a</bad-element></error-info></rpc-error>"
        );
    }

    /// RFC 6241 Appendix A, tag by tag: the error-types allowed.
    fn appendix_a(tag: ErrorTag) -> &'static [ErrorType] {
        use ErrorType::*;
        match tag {
            ErrorTag::InUse
            | ErrorTag::InvalidValue
            | ErrorTag::MissingElement
            | ErrorTag::BadElement
            | ErrorTag::UnknownElement
            | ErrorTag::UnknownNamespace
            | ErrorTag::AccessDenied
            | ErrorTag::RollbackFailed
            | ErrorTag::OperationNotSupported => &[Protocol, Application],
            ErrorTag::TooBig | ErrorTag::ResourceDenied => &[Transport, Rpc, Protocol, Application],
            ErrorTag::MissingAttribute
            | ErrorTag::BadAttribute
            | ErrorTag::UnknownAttribute
            | ErrorTag::OperationFailed => &[Rpc, Protocol, Application],
            ErrorTag::LockDenied => &[Protocol],
            ErrorTag::DataExists | ErrorTag::DataMissing => &[Application],
            ErrorTag::MalformedMessage => &[Rpc],
        }
    }

    /// Issue #9 item 9: every constructor, with every layer it accepts,
    /// builds a pair RFC 6241 Appendix A allows, and every allowed pair can
    /// be built.
    #[test]
    fn constructors_build_only_appendix_a_pairs() {
        let pa = [ProtoOrApp::Protocol, ProtoOrApp::Application];
        let rpa = [
            RpcProtoOrApp::Rpc,
            RpcProtoOrApp::Protocol,
            RpcProtoOrApp::Application,
        ];
        let any = [
            AnyLayer::Transport,
            AnyLayer::Rpc,
            AnyLayer::Protocol,
            AnyLayer::Application,
        ];
        let mut built: Vec<RpcError> = Vec::new();
        for l in pa {
            built.extend([
                RpcError::in_use(l),
                RpcError::invalid_value(l),
                RpcError::missing_element(l),
                RpcError::bad_element(l),
                RpcError::unknown_element(l),
                RpcError::unknown_namespace(l),
                RpcError::access_denied(l),
                RpcError::rollback_failed(l),
                RpcError::operation_not_supported(l),
            ]);
        }
        for l in rpa {
            built.extend([
                RpcError::missing_attribute(l),
                RpcError::bad_attribute(l),
                RpcError::unknown_attribute(l),
                RpcError::operation_failed(l),
            ]);
        }
        for l in any {
            built.extend([RpcError::too_big(l), RpcError::resource_denied(l)]);
        }
        built.extend([
            RpcError::lock_denied(),
            RpcError::data_exists(),
            RpcError::data_missing(),
            RpcError::malformed_message(),
            RpcError::unsupported_operation("x"),
            RpcError::application_failure("x"),
        ]);
        for e in &built {
            assert!(
                appendix_a(e.tag()).contains(&e.error_type()),
                "{} with {}",
                e.tag().as_str(),
                e.error_type().as_str()
            );
        }
        let pairs: std::collections::HashSet<(&str, &str)> = built
            .iter()
            .map(|e| (e.tag().as_str(), e.error_type().as_str()))
            .collect();
        let allowed: usize = [
            ErrorTag::InUse,
            ErrorTag::InvalidValue,
            ErrorTag::TooBig,
            ErrorTag::MissingAttribute,
            ErrorTag::BadAttribute,
            ErrorTag::UnknownAttribute,
            ErrorTag::MissingElement,
            ErrorTag::BadElement,
            ErrorTag::UnknownElement,
            ErrorTag::UnknownNamespace,
            ErrorTag::AccessDenied,
            ErrorTag::LockDenied,
            ErrorTag::ResourceDenied,
            ErrorTag::RollbackFailed,
            ErrorTag::DataExists,
            ErrorTag::DataMissing,
            ErrorTag::OperationNotSupported,
            ErrorTag::OperationFailed,
            ErrorTag::MalformedMessage,
        ]
        .iter()
        .map(|t| appendix_a(*t).len())
        .sum();
        assert_eq!(pairs.len(), allowed);
    }
}
