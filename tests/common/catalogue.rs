//! The validation catalogue's index (`tests/cases/cases.toml`), shared by
//! tests/schema_catalogue.rs (through the validator) and
//! tests/catalogue_over_ssh.rs (through a real SSH session).
#![allow(dead_code, unreachable_pub, clippy::expect_used)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Index {
    pub case: Vec<Case>,
}

#[derive(Deserialize)]
pub struct Case {
    pub name: String,
    /// "MODEL" or "MODEL/forwarding-mode".
    pub profiles: Vec<String>,
    pub spec: String,
    pub what: String,
    /// "session" when the NETCONF session answers before the schema sees
    /// the request (unknown operation, malformed XML): replayed only over
    /// SSH by tests/catalogue_over_ssh.rs.
    #[serde(default)]
    pub answered_by: Option<String>,
}

pub fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

pub fn load() -> Index {
    let text = std::fs::read_to_string(cases_dir().join("cases.toml")).expect("cases.toml");
    toml::from_str(&text).expect("cases.toml parses")
}
