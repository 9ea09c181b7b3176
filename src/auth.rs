//! Users, their levels, password and public-key checks and login
//! throttling (SPEC §7: levels 0–3 as on the switch). Access decisions are
//! NACM's (`crate::nacm`, RFC 8341): the levels are its groups.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// The switch's command levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(try_from = "u8")]
pub enum Level {
    Visit = 0,
    Monitoring = 1,
    Configuration = 2,
    Management = 3,
}

/// A number that is not one of the four levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a level (0 visit, 1 monitoring, 2 configuration, 3 management)")]
pub struct InvalidLevel(pub u8);

/// The one place that says which numbers are levels; the configuration's
/// `level` keys are read through it.
impl TryFrom<u8> for Level {
    type Error = InvalidLevel;

    fn try_from(v: u8) -> Result<Level, InvalidLevel> {
        match v {
            0 => Ok(Level::Visit),
            1 => Ok(Level::Monitoring),
            2 => Ok(Level::Configuration),
            3 => Ok(Level::Management),
            _ => Err(InvalidLevel(v)),
        }
    }
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Visit => "visit",
            Level::Monitoring => "monitoring",
            Level::Configuration => "configuration",
            Level::Management => "management",
        }
    }
}

/// A password hash could not be made or is not a PHC string.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HashError(argon2::password_hash::Error);

/// A user. Public keys are kept as their SSH wire encoding (RFC 4253 §6.6,
/// the base64 field of an `authorized_keys` line, decoded): comparing those
/// bytes is comparing the keys, and no SSH library type leaves `ssh/`.
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub level: Level,
    password_hash: Option<String>,
    keys: Vec<Vec<u8>>,
}

impl User {
    /// `password_hash` must be a PHC string ([`check_password_hash`]).
    pub fn new(
        name: impl Into<String>,
        level: Level,
        password_hash: Option<String>,
        keys: Vec<Vec<u8>>,
    ) -> User {
        User {
            name: name.into(),
            level,
            password_hash,
            keys,
        }
    }
}

/// The user database, fixed at start-up.
#[derive(Debug, Default)]
pub struct Users {
    users: HashMap<String, User>,
}

/// A hash verified against for unknown users, so that "no such user" costs
/// the same time as "wrong password" and does not reveal which names exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4gHl1w0pyyAXa+C3A6Y4x1R8m6kHT5M2m7l3qgU5eY8";

pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(HashError)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(HashError)
}

/// Whether `hash` is a PHC string the verifier can use.
pub fn check_password_hash(hash: &str) -> Result<(), HashError> {
    PasswordHash::new(hash).map(|_| ()).map_err(HashError)
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
    pub fn insert(&mut self, user: User) {
        self.users.insert(user.name.clone(), user);
    }

    pub fn add(&mut self, name: &str, level: Level, password_hash: String) {
        self.insert(User::new(name, level, Some(password_hash), Vec::new()));
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

    /// The user, if `key` (SSH wire encoding) is one of its authorized keys.
    pub fn check_key(&self, name: &str, key: &[u8]) -> Option<&User> {
        self.users
            .get(name)
            .filter(|u| u.keys.iter().any(|k| k.as_slice() == key))
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
    fn level_numbers() {
        assert_eq!(Level::try_from(2), Ok(Level::Configuration));
        assert_eq!(Level::try_from(4), Err(InvalidLevel(4)));
        assert!(check_password_hash(DUMMY_HASH).is_ok());
        assert!(check_password_hash("plain").is_err());
    }

    #[test]
    fn keys_compare_by_wire_encoding() {
        let mut users = Users::default();
        users.insert(User::new("k", Level::Visit, None, vec![vec![1, 2, 3]]));
        assert!(users.check_key("k", &[1, 2, 3]).is_some());
        assert!(users.check_key("k", &[1, 2]).is_none());
        assert!(users.check_key("other", &[1, 2, 3]).is_none());
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
