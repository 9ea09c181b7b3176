//! Users, their levels, password and public-key checks and login
//! throttling (SPEC §7: levels 0–3 as on the switch). Access decisions are
//! NACM's (`crate::nacm`, RFC 8341): the levels are its groups.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroize;

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

/// The Argon2 memory of the last verification, wiped, kept for the next.
///
/// Why: a verification of the shipped parameters fills 19 MiB. Allocated
/// fresh each time, that memory is faulted in page by page and zeroed by
/// the kernel, then handed back at once (mimalloc purges freed pages
/// without delay, docs/configuration.md "Memory"): about a third of the
/// verification's CPU time in a profile of the agent (docs/performance.md,
/// "Session set-up: the stalls"). The hash itself is unchanged: same
/// function, same parameters, same work per guess.
///
/// Every block is derived from the password, and the first blocks of a
/// lane can be recomputed from a password guess at BLAKE2b speed, so the
/// memory is wiped (volatile writes, `zeroize`) before it is kept. One
/// spare at most: concurrent verifications beyond it allocate their own
/// (bounded as before by the connections that may authenticate,
/// `ssh::admission`), and those are freed, not kept.
static SPARE_MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// The largest memory kept between verifications (64 MiB); a hash asking
/// for more gets its memory allocated and freed each time.
const MAX_KEPT_BLOCKS: usize = 64 * 1024;

/// Argon2 memory for `blocks` blocks: the spare if it is free and large
/// enough, else a fresh allocation.
fn take_memory(blocks: usize) -> Vec<Block> {
    let spare = SPARE_MEMORY
        .try_lock()
        .ok()
        .map(|mut m| std::mem::take(&mut *m));
    match spare {
        Some(m) if m.len() >= blocks => m,
        _ => vec![Block::default(); blocks],
    }
}

/// Wipes `memory` and keeps it as the spare if there is none.
fn return_memory(mut memory: Vec<Block>) {
    for b in memory.iter_mut() {
        b.zeroize();
    }
    if memory.len() > MAX_KEPT_BLOCKS {
        return;
    }
    if let Ok(mut spare) = SPARE_MEMORY.try_lock()
        && spare.is_empty()
    {
        *spare = memory;
    }
}

/// Whether `password` matches the PHC string `hash`: what
/// `PasswordVerifier::verify_password` of the `argon2` crate computes (the
/// algorithm, version, parameters, salt and output length all from the
/// string, a constant-time comparison of the outputs), with the memory
/// taken from [`SPARE_MEMORY`].
pub fn verify_password_hash(hash: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let mut memory = take_memory(blocks);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..])
            .map_err(|_| argon2::password_hash::Error::Password)
    });
    return_memory(memory);
    // Output's equality is constant-time (password-hash's `Output` notes).
    computed.is_ok_and(|c| c == expected)
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
                Some(h) if verify_password_hash(h, password) => Some(u),
                _ => None,
            },
            None => {
                let _ = verify_password_hash(DUMMY_HASH, password);
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

    /// The library's own verification, the reference for ours.
    fn library_verify(hash: &str, password: &str) -> bool {
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(hash).unwrap();
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    fn hash_with(algorithm: Algorithm, version: Version, m: u32, t: u32, p: u32) -> String {
        let params = Params::new(m, t, p, Some(32)).unwrap();
        let salt = SaltString::encode_b64(b"saltsaltsaltsalt").unwrap();
        Argon2::new(algorithm, version, params)
            .hash_password(b"right horse", &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn verification_answers_as_the_library_does() {
        let hashes = [
            hash_password("right horse").unwrap(),
            DUMMY_HASH.to_owned(),
            hash_with(Algorithm::Argon2id, Version::V0x13, 64, 1, 1),
            hash_with(Algorithm::Argon2id, Version::V0x13, 64, 3, 2),
            hash_with(Algorithm::Argon2i, Version::V0x13, 32, 2, 1),
            hash_with(Algorithm::Argon2d, Version::V0x10, 32, 2, 4),
            // A 36-byte output of some other password.
            "$argon2id$v=19$m=16,t=1,p=1$c2FsdHNhbHQ$ANNU9Cw2f7WIZgZ2FfeR7zJDeVhqPm1Lr1Pp1aMEbmDiIpUA".to_owned(),
        ];
        for h in &hashes {
            for pw in ["right horse", "wrong horse", ""] {
                assert_eq!(
                    verify_password_hash(h, pw),
                    library_verify(h, pw),
                    "{h} / {pw:?}"
                );
            }
        }
        assert!(verify_password_hash(&hashes[0], "right horse"));
        assert!(verify_password_hash(&hashes[3], "right horse"));
        assert!(!verify_password_hash(&hashes[0], "wrong horse"));
        // Not PHC strings, or without salt or output: refused, no panic.
        for h in [
            "",
            "plain",
            "$argon2id$v=19$m=64,t=1,p=1",
            "$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA",
        ] {
            assert!(!verify_password_hash(h, "x"), "{h}");
        }
    }

    #[test]
    fn kept_memory_is_wiped_and_big_memory_not_kept() {
        let params = Params::new(64, 1, 1, None).unwrap();
        let mut memory = vec![Block::default(); params.block_count()];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .fill_memory(b"pw", b"saltsaltsaltsalt", &mut memory[..])
            .unwrap();
        assert!(memory.iter().any(|b| b.as_ref().iter().any(|w| *w != 0)));
        return_memory(memory);
        // Whatever the spare is now (other tests verify concurrently), it
        // holds no trace of a password.
        let spare = SPARE_MEMORY.lock().unwrap();
        assert!(spare.iter().all(|b| b.as_ref().iter().all(|w| *w == 0)));
        assert!(spare.len() <= MAX_KEPT_BLOCKS);
        drop(spare);
        let m = take_memory(8);
        assert!(m.len() >= 8);
        return_memory(vec![Block::default(); MAX_KEPT_BLOCKS + 1]);
        assert!(SPARE_MEMORY.lock().unwrap().len() <= MAX_KEPT_BLOCKS);
        return_memory(m);
    }

    #[test]
    fn concurrent_verifications_agree() {
        let h = hash_with(Algorithm::Argon2id, Version::V0x13, 256, 1, 1);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    (0..5).all(|_| {
                        verify_password_hash(&h, "right horse")
                            && !verify_password_hash(&h, if i % 2 == 0 { "x" } else { "" })
                    })
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
    }

    /// The parameters `hash-password` writes: one lane, on purpose
    /// (docs/decisions.md, "Argon2id stays at one lane").
    #[test]
    fn new_hashes_are_argon2id_19_mib_two_passes_one_lane() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(PasswordHash::new(&h).unwrap().hash.unwrap().len(), 32);
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
