//! Users, their levels, password and public-key checks, login throttling, and
//! access decisions (SPEC §7: levels 0–3 as on the switch).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use russh::keys::PublicKey;

use crate::config::{ConfigError, UserConfig};

/// The switch's command levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Visit = 0,
    Monitoring = 1,
    Configuration = 2,
    Management = 3,
}

impl Level {
    pub fn from_u8(v: u8) -> Option<Level> {
        match v {
            0 => Some(Level::Visit),
            1 => Some(Level::Monitoring),
            2 => Some(Level::Configuration),
            3 => Some(Level::Management),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Visit => "visit",
            Level::Monitoring => "monitoring",
            Level::Configuration => "configuration",
            Level::Management => "management",
        }
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub level: Level,
    password_hash: Option<String>,
    keys: Vec<PublicKey>,
}

/// The user database, fixed at start-up.
#[derive(Debug, Default)]
pub struct Users {
    users: HashMap<String, User>,
}

/// A hash verified against for unknown users, so that "no such user" costs
/// the same time as "wrong password" and does not reveal which names exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4gHl1w0pyyAXa+C3A6Y4x1R8m6kHT5M2m7l3qgU5eY8";

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl Users {
    pub fn from_config(users: &[UserConfig]) -> Result<Users, ConfigError> {
        let mut out = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            let level = Level::from_u8(u.level)
                .ok_or_else(|| ConfigError::invalid(format!("users[{i}].level"), "must be 0..3"))?;
            if let Some(h) = &u.password_hash {
                PasswordHash::new(h).map_err(|e| {
                    ConfigError::invalid(
                        format!("users[{i}].password_hash"),
                        format!(
                            "not a PHC hash string ({e}); make one with `ncagent hash-password`"
                        ),
                    )
                })?;
            }
            let mut keys = Vec::new();
            for (k, line) in u.authorized_keys.iter().enumerate() {
                let key = PublicKey::from_openssh(line).map_err(|e| {
                    ConfigError::invalid(format!("users[{i}].authorized_keys[{k}]"), e.to_string())
                })?;
                keys.push(key);
            }
            out.insert(
                u.name.clone(),
                User {
                    name: u.name.clone(),
                    level,
                    password_hash: u.password_hash.clone(),
                    keys,
                },
            );
        }
        Ok(Users { users: out })
    }

    pub fn add(&mut self, name: &str, level: Level, password_hash: String) {
        self.users.insert(
            name.to_owned(),
            User {
                name: name.to_owned(),
                level,
                password_hash: Some(password_hash),
                keys: Vec::new(),
            },
        );
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Checks a password; slow on purpose (argon2): call from a blocking task.
    pub fn check_password(&self, name: &str, password: &str) -> Option<&User> {
        match self.users.get(name) {
            Some(u) => match &u.password_hash {
                Some(h) if verify(h, password) => Some(u),
                _ => None,
            },
            None => {
                let _ = verify(DUMMY_HASH, password);
                None
            }
        }
    }

    pub fn check_key(&self, name: &str, key: &PublicKey) -> Option<&User> {
        self.users
            .get(name)
            .filter(|u| u.keys.iter().any(|k| k.key_data() == key.key_data()))
    }
}

/// Failed-login throttling per source address: after `max_failures` failures
/// the address is refused for `lockout`, whatever it sends.
#[derive(Debug)]
pub struct Throttle {
    max_failures: u32,
    lockout: Duration,
    state: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(max_failures: u32, lockout: Duration) -> Self {
        Throttle {
            max_failures: max_failures.max(1),
            lockout,
            state: Mutex::new(HashMap::new()),
        }
    }

    /// True while the address must wait.
    pub fn is_locked(&self, ip: IpAddr) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        match state.get(&ip) {
            Some((n, since)) if *n >= self.max_failures => {
                if since.elapsed() < self.lockout {
                    true
                } else {
                    state.remove(&ip);
                    false
                }
            }
            _ => false,
        }
    }

    pub fn failure(&self, ip: IpAddr) {
        if let Ok(mut state) = self.state.lock() {
            // Bounded: forget the oldest entries when too many addresses failed.
            if state.len() > 10_000 {
                let lockout = self.lockout;
                state.retain(|_, (_, t)| t.elapsed() < lockout);
            }
            let e = state.entry(ip).or_insert((0, Instant::now()));
            e.0 += 1;
            e.1 = Instant::now();
        }
    }

    pub fn success(&self, ip: IpAddr) {
        if let Ok(mut state) = self.state.lock() {
            state.remove(&ip);
        }
    }
}

/// The level an operation needs (SPEC §7; the seed's default level 2 for
/// `refresh bgp vpn-target`).
pub fn required_level(op: &str) -> Level {
    match op {
        "close-session" => Level::Visit,
        "get" | "get-config" | "get-schema" => Level::Monitoring,
        "kill-session" => Level::Management,
        _ => Level::Configuration,
    }
}

/// An operation refused to a user whose level is too low (SPEC §7). The
/// NETCONF layer maps it once to `access-denied` (RFC 6241 Appendix A).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "user \"{user}\" has level {} ({}); \"{op}\" needs level {} ({})",
    *.have as u8, .have.as_str(), *.need as u8, .need.as_str()
)]
pub struct Denied {
    pub user: String,
    pub op: String,
    pub have: Level,
    pub need: Level,
}

/// Decides whether `user` at `level` may run `op`; a denial is logged.
pub fn authorize(user: &str, level: Level, op: &str) -> Result<(), Denied> {
    let need = required_level(op);
    if level >= need {
        return Ok(());
    }
    tracing::warn!(
        user,
        op,
        have = level as u8,
        need = need as u8,
        "access denied"
    );
    Err(Denied {
        user: user.to_owned(),
        op: op.to_owned(),
        have: level,
        need,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn password_round_trip_and_dummy_hash_parses() {
        let h = hash_password("s3cret").unwrap();
        let mut users = Users::default();
        users.add("admin", Level::Management, h);
        assert!(users.check_password("admin", "s3cret").is_some());
        assert!(users.check_password("admin", "wrong").is_none());
        assert!(users.check_password("nobody", "s3cret").is_none());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn levels() {
        assert!(authorize("u", Level::Monitoring, "get").is_ok());
        let e = authorize("u", Level::Monitoring, "refresh-bgp-vpn-target").unwrap_err();
        assert_eq!((e.have, e.need), (Level::Monitoring, Level::Configuration));
        assert_eq!(
            e.to_string(),
            "user \"u\" has level 1 (monitoring); \"refresh-bgp-vpn-target\" needs level 2 (configuration)"
        );
        assert!(authorize("u", Level::Configuration, "refresh-bgp-vpn-target").is_ok());
    }

    #[test]
    fn throttle_locks_after_failures() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        t.failure(ip);
        assert!(!t.is_locked(ip));
        t.failure(ip);
        assert!(t.is_locked(ip));
        t.success(ip);
        assert!(!t.is_locked(ip));
    }
}
