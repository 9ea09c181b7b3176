//! What a datastore operation says when it refuses: plain data in RFC 6241
//! Appendix A terms, no wire format. The NETCONF layer maps it, once, to an
//! `<rpc-error>` (docs/architecture.md: one-way flow).

use std::fmt;

use super::Datastore;

/// The RFC 6241 Appendix A `error-tag` a refusal maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorTag {
    /// The datastore is locked by another session (RFC 6241 §7.5: edits of a
    /// locked datastore by others fail).
    InUse,
    /// A value the schema refuses (type, range, length, pattern).
    InvalidValue,
    /// An `operation` attribute the edit cannot carry there.
    BadAttribute,
    /// An element the schema does not define there.
    UnknownElement,
    /// An element in a namespace no module of the context defines.
    UnknownNamespace,
    /// A lock refused (RFC 6241 §7.5).
    LockDenied,
    /// `create` of data that already exists (RFC 6241 §7.2).
    DataExists,
    /// `delete` of data that does not exist (RFC 6241 §7.2), a leafref
    /// without its target (RFC 7950 §15.5), a mandatory node missing.
    DataMissing,
    /// The operation does not apply to this datastore.
    OperationNotSupported,
    /// Anything else refused (e.g. a `must`, RFC 7950 §15.4), or an
    /// internal failure such as persisting startup.
    OperationFailed,
    /// Not well-formed XML.
    MalformedMessage,
}

impl ErrorTag {
    /// The tag as RFC 6241 Appendix A spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InUse => "in-use",
            Self::InvalidValue => "invalid-value",
            Self::BadAttribute => "bad-attribute",
            Self::UnknownElement => "unknown-element",
            Self::UnknownNamespace => "unknown-namespace",
            Self::LockDenied => "lock-denied",
            Self::DataExists => "data-exists",
            Self::DataMissing => "data-missing",
            Self::OperationNotSupported => "operation-not-supported",
            Self::OperationFailed => "operation-failed",
            Self::MalformedMessage => "malformed-message",
        }
    }
}

/// One refusal of a datastore operation.
///
/// `path` is libyang's data path of the offending node, with module names
/// as prefixes (`/ncagent-bgp:bgp/neighbors/neighbor[address='10.0.0.1']/peer-group`);
/// the NETCONF layer rewrites the prefixes to XML ones with their
/// namespaces for `error-path`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct DatastoreError {
    pub tag: ErrorTag,
    /// RFC 7950 §15 or the module's `error-app-tag` (e.g. `must-violation`,
    /// `instance-required`, `reserved-as`).
    pub app_tag: Option<String>,
    pub path: Option<String>,
    pub message: String,
    /// For [`ErrorTag::LockDenied`] / [`ErrorTag::InUse`]: the session
    /// holding the lock (RFC 6241 §7.5 `error-info` `session-id`; 0 when no
    /// NETCONF session holds it).
    pub holder: Option<u32>,
    /// For [`ErrorTag::BadAttribute`]: the attribute at fault.
    pub bad_attribute: Option<String>,
}

impl DatastoreError {
    pub(crate) fn new(tag: ErrorTag, message: impl Into<String>) -> Self {
        DatastoreError {
            tag,
            app_tag: None,
            path: None,
            message: message.into(),
            holder: None,
            bad_attribute: None,
        }
    }

    pub(crate) fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn with_app_tag(mut self, tag: impl Into<String>) -> Self {
        self.app_tag = Some(tag.into());
        self
    }

    pub(crate) fn held_by(mut self, session: u32) -> Self {
        self.holder = Some(session);
        self
    }

    pub(crate) fn locked(ds: Datastore, holder: u32) -> Self {
        DatastoreError::new(
            ErrorTag::InUse,
            format!("the {} datastore is locked by session {holder}", ds.name()),
        )
        .held_by(holder)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        DatastoreError::new(ErrorTag::OperationFailed, message)
    }
}

impl fmt::Display for DatastoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.tag.as_str(), self.message)?;
        if let Some(p) = &self.path {
            write!(f, " (at {p})")?;
        }
        Ok(())
    }
}

/// An edit-config, validate, copy or commit that failed: every problem
/// found (one unless `continue-on-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} error(s), first: {}", .errors.len(), .errors.first().map(|e| e.to_string()).unwrap_or_default())]
pub struct EditFailure {
    pub errors: Vec<DatastoreError>,
    /// `continue-on-error` only (RFC 6241 §7.2): the edits without error
    /// were applied to the target. Always false otherwise: the target is
    /// untouched.
    pub target_changed: bool,
}

impl From<DatastoreError> for EditFailure {
    fn from(e: DatastoreError) -> Self {
        EditFailure {
            errors: vec![e],
            target_changed: false,
        }
    }
}
