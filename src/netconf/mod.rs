//! NETCONF server core (RFC 6241, RFC 6242): framing, messages, sessions, operations.

pub mod error;
