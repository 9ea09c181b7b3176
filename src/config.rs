//! The agent's one TOML configuration file, its defaults, and validation with
//! errors that name the bad key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::auth::Level;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid configuration: {key}: {message}")]
    Invalid { key: String, message: String },
}

impl ConfigError {
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub device: DeviceConfig,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// The embedded BGP speaker (`[bgp]`); see docs/bgp.md. Without it the
    /// speaker runs with no peers (AS 65000, router id 127.0.0.1).
    #[serde(default)]
    pub bgp: Option<crate::bgp::BgpConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port of the SSH listener (RFC 6242 §2: port 830).
    pub listen: SocketAddr,
    /// Where the SSH host key is kept; created (mode 0600) on first start.
    pub host_key: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 830)),
            host_key: PathBuf::from("ncagent-state/ssh_host_ed25519_key"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// NETCONF sessions open at once; one more is refused with a log line.
    pub max_sessions: usize,
    /// Largest `<rpc>` accepted, in bytes.
    pub max_message_size: usize,
    /// Largest chunk accepted under base:1.1 framing, in bytes.
    pub max_chunk_size: usize,
    /// Seconds a client has to send its `<hello>`.
    pub hello_timeout_secs: u64,
    /// Seconds without a message before a session is closed (0: never).
    pub idle_timeout_secs: u64,
    /// Failed logins from one address before it is made to wait.
    pub max_auth_failures: u32,
    /// Seconds an address that failed too often is refused.
    pub auth_lockout_secs: u64,
    /// Seconds an RPC may wait for the BGP engine before `operation-failed`.
    pub rpc_timeout_secs: u64,
    /// Seconds from TCP accept to a successful login (sshd's LoginGraceTime).
    pub login_grace_secs: u64,
    /// Unauthenticated SSH connections at once from one source address.
    pub max_unauthenticated_per_source: usize,
    /// "start:rate:full" (sshd's MaxStartups): from `start` unauthenticated
    /// connections a new one is refused with probability rate%, rising to
    /// 100% at `full`. A single number N means "N:100:N".
    pub max_startups: String,
    /// Bytes a session may have read and not yet answered before it stops
    /// taking input (the SSH window is shrunk).
    pub max_input_backlog: usize,
    /// Bytes of replies a session may queue for a client that reads slowly.
    pub max_reply_queue: usize,
    /// Seconds a reply may wait for the client to read before the session
    /// is closed (0: never).
    pub write_stall_secs: u64,
    /// Events kept for replay (RFC 5277 `startTime`).
    pub replay_events: usize,
    /// Bytes of events kept for replay.
    pub replay_bytes: usize,
    /// Bytes of notifications a session may have queued and not yet
    /// written; a subscriber that lets more pile up is closed.
    pub max_notification_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 64,
            max_message_size: crate::netconf::framing::DEFAULT_MAX_MESSAGE,
            max_chunk_size: crate::netconf::framing::DEFAULT_MAX_CHUNK,
            hello_timeout_secs: 30,
            idle_timeout_secs: 3600,
            max_auth_failures: 5,
            auth_lockout_secs: 30,
            rpc_timeout_secs: 30,
            login_grace_secs: 20,
            max_unauthenticated_per_source: 32,
            max_startups: "64:30:256".into(),
            max_input_backlog: crate::netconf::state::DEFAULT_INPUT_BACKLOG,
            max_reply_queue: crate::netconf::state::DEFAULT_REPLY_QUEUE,
            write_stall_secs: crate::netconf::state::DEFAULT_WRITE_STALL.as_secs(),
            replay_events: crate::netconf::notify::DEFAULT_REPLAY_EVENTS,
            replay_bytes: crate::netconf::notify::DEFAULT_REPLAY_BYTES,
            max_notification_queue: crate::netconf::notify::DEFAULT_NOTIFICATION_QUEUE,
        }
    }
}

impl Limits {
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_secs(self.hello_timeout_secs)
    }
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_secs > 0).then(|| Duration::from_secs(self.idle_timeout_secs))
    }
    pub fn login_grace(&self) -> Duration {
        Duration::from_secs(self.login_grace_secs)
    }
    pub fn write_stall(&self) -> Option<Duration> {
        (self.write_stall_secs > 0).then(|| Duration::from_secs(self.write_stall_secs))
    }
    pub fn notify_limits(&self) -> crate::netconf::notify::NotifyLimits {
        crate::netconf::notify::NotifyLimits {
            replay_events: self.replay_events,
            replay_bytes: self.replay_bytes,
            queue_bytes: self.max_notification_queue,
        }
    }

    /// `max_startups` as (start, rate, full).
    pub fn parse_max_startups(&self) -> Result<(usize, u8, usize), ConfigError> {
        let key = "limits.max_startups";
        let bad = |m: &str| ConfigError::invalid(key, m.to_owned());
        let nums: Vec<&str> = self.max_startups.split(':').collect();
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| bad("expected \"start:rate:full\" or a number, e.g. \"64:30:256\""))
        };
        let (start, rate, full) = match nums.as_slice() {
            [n] => {
                let n = num(n)?;
                (n, 100, n)
            }
            [a, b, c] => (num(a)?, num(b)?, num(c)?),
            _ => {
                return Err(bad(
                    "expected \"start:rate:full\" or a number, e.g. \"64:30:256\"",
                ));
            }
        };
        if start == 0 {
            return Err(bad("start must be at least 1"));
        }
        if rate == 0 || rate > 100 {
            return Err(bad("rate is a percentage, 1..100"));
        }
        if full < start {
            return Err(bad("full must be at least start"));
        }
        Ok((start, rate as u8, full))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// The switch model, e.g. "CE8855"; decides the YANG features.
    pub model: String,
    /// For CE6885-LL: "standard" or "low-latency".
    pub forwarding_mode: Option<String>,
}

impl Default for DeviceConfig {
    fn default() -> Self {
        DeviceConfig {
            model: "CE8855".into(),
            forwarding_mode: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// PHC string (`$argon2id$…`), as printed by `ncagent hash-password`.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// OpenSSH public keys (`ssh-ed25519 AAAA… comment`).
    #[serde(default)]
    pub authorized_keys: Vec<String>,
    /// 0 visit, 1 monitoring, 2 configuration, 3 management (read through
    /// `Level`'s one check).
    pub level: Level,
    /// RFC 8341 §3.4 recovery session: this user's sessions bypass access
    /// control (each bypass logged), so that rules that lock everybody out
    /// can be repaired. Level 3 only (docs/nacm.md).
    #[serde(default)]
    pub recovery: bool,
}

impl Config {
    /// The `[bgp]` table, or the peerless default.
    pub fn bgp_or_default(&self) -> crate::bgp::BgpConfig {
        self.bgp
            .clone()
            .unwrap_or_else(|| crate::bgp::BgpConfig::new(65000, std::net::Ipv4Addr::LOCALHOST))
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            other => other,
        })
    }

    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The embedded default: serves at once on localhost with one admin whose
    /// password comes from the environment (see `auth::initial_admin`).
    pub fn embedded_default() -> Config {
        Config {
            server: ServerConfig::default(),
            limits: Limits::default(),
            device: DeviceConfig::default(),
            users: Vec::new(),
            bgp: None,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.max_sessions == 0 {
            return Err(ConfigError::invalid(
                "limits.max_sessions",
                "must be at least 1",
            ));
        }
        if l.max_message_size < 1024 {
            return Err(ConfigError::invalid(
                "limits.max_message_size",
                "must be at least 1024 bytes",
            ));
        }
        // RFC 6242 §4.2: chunk-size is 1..4294967295.
        if l.max_chunk_size == 0 || l.max_chunk_size as u64 > u64::from(u32::MAX) {
            return Err(ConfigError::invalid(
                "limits.max_chunk_size",
                "must be between 1 and 4294967295",
            ));
        }
        if l.hello_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "limits.hello_timeout_secs",
                "must be at least 1",
            ));
        }
        if l.rpc_timeout_secs == 0 {
            return Err(ConfigError::invalid(
                "limits.rpc_timeout_secs",
                "must be at least 1",
            ));
        }
        if l.login_grace_secs == 0 {
            return Err(ConfigError::invalid(
                "limits.login_grace_secs",
                "must be at least 1",
            ));
        }
        if l.max_unauthenticated_per_source == 0 {
            return Err(ConfigError::invalid(
                "limits.max_unauthenticated_per_source",
                "must be at least 1",
            ));
        }
        l.parse_max_startups()?;
        if l.max_input_backlog < 4096 {
            return Err(ConfigError::invalid(
                "limits.max_input_backlog",
                "must be at least 4096 bytes",
            ));
        }
        if l.max_reply_queue < 4096 || l.max_reply_queue as u64 > u64::from(u32::MAX) {
            return Err(ConfigError::invalid(
                "limits.max_reply_queue",
                "must be between 4096 and 4294967295 bytes",
            ));
        }
        if l.replay_events == 0 {
            return Err(ConfigError::invalid(
                "limits.replay_events",
                "must be at least 1",
            ));
        }
        if l.replay_bytes < 4096 {
            return Err(ConfigError::invalid(
                "limits.replay_bytes",
                "must be at least 4096 bytes",
            ));
        }
        // A replay from the oldest event must fit in a subscriber's queue,
        // or every replaying subscriber would be closed at once.
        if l.max_notification_queue < l.replay_bytes.saturating_mul(2) {
            return Err(ConfigError::invalid(
                "limits.max_notification_queue",
                "must be at least twice limits.replay_bytes",
            ));
        }
        crate::schema::DeviceProfile::lookup(
            &self.device.model,
            self.device.forwarding_mode.as_deref(),
        )
        .map_err(|e| ConfigError::invalid("device", e.to_string()))?;
        if let Some(bgp) = &self.bgp {
            bgp.validate()
                .map_err(|e| ConfigError::invalid("bgp", e.to_string()))?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = format!("users[{i}]");
            if u.name.is_empty() {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    "must not be empty",
                ));
            }
            if !seen.insert(u.name.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.name"),
                    format!("user \"{}\" is listed twice", u.name),
                ));
            }
            if let Some(h) = &u.password_hash {
                crate::auth::check_password_hash(h).map_err(|e| {
                    ConfigError::invalid(
                        format!("{key}.password_hash"),
                        format!(
                            "not a PHC hash string ({e}); make one with `ncagent hash-password`"
                        ),
                    )
                })?;
            }
            if u.recovery && u.level != Level::Management {
                return Err(ConfigError::invalid(
                    format!("{key}.recovery"),
                    format!(
                        "user \"{}\": a recovery user (bypassing access control) must have level 3",
                        u.name
                    ),
                ));
            }
            if u.password_hash.is_none() && u.authorized_keys.is_empty() {
                return Err(ConfigError::invalid(
                    key,
                    format!(
                        "user \"{}\" has neither password_hash nor authorized_keys",
                        u.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_bad_key() {
        let e = Config::from_toml("[limits]\nmax_sessions = 0\n").unwrap_err();
        assert!(e.to_string().contains("limits.max_sessions"), "{e}");
        let e = Config::from_toml("[server]\nlisten = \"nope\"\n").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        // The level is read through `Level`'s one check; TOML's error shows
        // the line, the key and the value.
        let e = Config::from_toml("[[users]]\nname = \"a\"\nlevel = 7\npassword_hash = \"x\"\n")
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("line 3")
                && text.contains("level = 7")
                && text.contains("7 is not a level"),
            "{e}"
        );
        let e = Config::from_toml("[[users]]\nname = \"a\"\nlevel = 1\npassword_hash = \"x\"\n")
            .unwrap_err();
        assert!(e.to_string().contains("users[0].password_hash"), "{e}");
        for (bad, key) in [
            ("max_startups = \"10:0:100\"", "limits.max_startups"),
            ("max_startups = \"10:30\"", "limits.max_startups"),
            ("max_startups = \"20:30:10\"", "limits.max_startups"),
            ("max_startups = \"0\"", "limits.max_startups"),
            ("login_grace_secs = 0", "limits.login_grace_secs"),
            (
                "max_unauthenticated_per_source = 0",
                "limits.max_unauthenticated_per_source",
            ),
            ("max_input_backlog = 10", "limits.max_input_backlog"),
            ("max_reply_queue = 10", "limits.max_reply_queue"),
            ("replay_events = 0", "limits.replay_events"),
            ("replay_bytes = 100", "limits.replay_bytes"),
            (
                "replay_bytes = 1048576\nmax_notification_queue = 1048576",
                "limits.max_notification_queue",
            ),
        ] {
            let e = Config::from_toml(&format!("[limits]\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains(key), "{bad}: {e}");
        }
        let c = Config::from_toml("[limits]\nmax_startups = \"7\"\n").unwrap();
        assert_eq!(c.limits.parse_max_startups().unwrap(), (7, 100, 7));
        let e = Config::from_toml("bogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
        let e = Config::from_toml("[device]\nmodel = \"CE9999\"\n").unwrap_err();
        assert!(
            e.to_string().contains("CE8855"),
            "lists the valid models: {e}"
        );
        let e = Config::from_toml("[device]\nmodel = \"CE6885-LL\"\nforwarding_mode = \"turbo\"\n")
            .unwrap_err();
        assert!(
            e.to_string().contains("low-latency"),
            "lists the valid modes: {e}"
        );
    }

    #[test]
    fn defaults() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.server.listen.port(), 830);
        assert_eq!(c.device.model, "CE8855");
    }
}
