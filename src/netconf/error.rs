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

/// One `<rpc-error>`. Build with [`RpcError::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub error_type: ErrorType,
    pub tag: ErrorTag,
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
    pub fn new(error_type: ErrorType, tag: ErrorTag) -> Self {
        RpcError {
            error_type,
            tag,
            app_tag: None,
            path: None,
            path_ns: Vec::new(),
            message: None,
            info: Vec::new(),
        }
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

    /// `operation-not-supported` for an operation this agent does not implement.
    pub fn operation_not_supported(op: &str) -> Self {
        RpcError::new(ErrorType::Protocol, ErrorTag::OperationNotSupported)
            .with_message(format!("operation \"{op}\" is not supported"))
            .with_bad_element(op)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Rpc, ErrorTag::MalformedMessage).with_message(message)
    }

    pub fn operation_failed(message: impl Into<String>) -> Self {
        RpcError::new(ErrorType::Application, ErrorTag::OperationFailed).with_message(message)
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

/// XML text escaping for element content and attribute values.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut last = 0;
        for (i, c) in self.0.char_indices() {
            let rep = match c {
                '<' => "&lt;",
                '>' => "&gt;",
                '&' => "&amp;",
                '"' => "&quot;",
                '\'' => "&apos;",
                _ => continue,
            };
            f.write_str(&self.0[last..i])?;
            f.write_str(rep)?;
            last = i + c.len_utf8();
        }
        f.write_str(&self.0[last..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_field_in_order() {
        let e = RpcError::new(ErrorType::Application, ErrorTag::UnknownElement)
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
}
