//! ncagent: a NETCONF/YANG agent that performs BGP VPN-Target soft resets.
//!
//! Data flows one way: `ssh` -> `netconf` (framing, message, session, ops)
//! -> `auth` (access on the operation) -> `schema` (libyang validation)
//! -> `northbound` (RPC handlers) -> `bgp` (the embedded BGP speaker).

pub mod agent;
pub mod auth;
pub mod bgp;
pub mod config;
pub mod datastore;
pub mod nacm;
pub mod netconf;
pub mod northbound;
pub mod schema;
pub mod ssh;
pub mod xml;
