//! What the schema says when it refuses a request: plain data, no wire
//! format. `northbound` maps it once to an `<rpc-error>` (docs/yang.md has
//! the table); nothing here knows NETCONF's error-types.

use std::fmt;

/// Why a request was refused, in RFC 6241 Appendix A terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Not well-formed XML (libyang's syntax error, a NUL byte, a character
    /// reference to a character XML forbids).
    Malformed,
    /// Well-formed but nested deeper than the parser accepts.
    TooDeep,
    /// An element in a namespace no module of the context defines.
    UnknownNamespace,
    /// An element the schema does not allow there (also one whose feature
    /// is disabled on this device).
    UnknownElement,
    /// An element given twice, or two cases of one choice.
    BadElement,
    /// A mandatory element or choice without data.
    MissingElement,
    /// A value the element's type refuses; also an unknown schema in
    /// `<get-schema>` (RFC 6022 §3.1).
    InvalidValue,
    /// Anything else refused (e.g. a `must`), or an internal failure.
    Failed,
}

/// An XPath to the offending node in XML form (`/bvt:rpc/bvt:leaf`) with
/// the namespace declarations its prefixes need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorPath {
    pub xpath: String,
    pub namespaces: Vec<(String, String)>,
}

/// A refusal of the schema layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    pub problem: Problem,
    /// libyang's or RFC 7950 §15's application tag (e.g. `missing-choice`).
    pub app_tag: Option<String>,
    pub path: Option<ErrorPath>,
    pub message: String,
    /// The element at fault, by local name.
    pub bad_element: Option<String>,
    /// Its namespace, for [`Problem::UnknownNamespace`].
    pub bad_namespace: Option<String>,
}

impl ValidationError {
    pub(crate) fn new(problem: Problem, message: impl Into<String>) -> Self {
        ValidationError {
            problem,
            app_tag: None,
            path: None,
            message: message.into(),
            bad_element: None,
            bad_namespace: None,
        }
    }

    pub(crate) fn with_app_tag(mut self, tag: impl Into<String>) -> Self {
        self.app_tag = Some(tag.into());
        self
    }

    pub(crate) fn with_path(mut self, xpath: impl Into<String>) -> Self {
        let namespaces = self.path.take().map(|p| p.namespaces).unwrap_or_default();
        self.path = Some(ErrorPath {
            xpath: xpath.into(),
            namespaces,
        });
        self
    }

    /// Declares a prefix of the path; call after [`Self::with_path`].
    pub(crate) fn with_path_ns(mut self, prefix: impl Into<String>, ns: impl Into<String>) -> Self {
        if let Some(p) = &mut self.path {
            p.namespaces.push((prefix.into(), ns.into()));
        }
        self
    }

    pub(crate) fn with_bad_element(mut self, element: impl Into<String>) -> Self {
        self.bad_element = Some(element.into());
        self
    }

    pub(crate) fn with_bad_namespace(mut self, ns: impl Into<String>) -> Self {
        self.bad_namespace = Some(ns.into());
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.problem, self.message)
    }
}

impl std::error::Error for ValidationError {}
