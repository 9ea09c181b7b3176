//! Public keys as the rest of the agent sees them: their SSH wire encoding
//! (RFC 4253 §6.6), so that no russh type leaves `ssh/`.

use russh::keys::PublicKey;

/// An `authorized_keys` line that is not an OpenSSH public key.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct KeyError(russh::keys::ssh_key::Error);

/// The wire encoding of an OpenSSH public key line
/// (`ssh-ed25519 AAAA… comment`; the comment is not part of the key).
pub fn authorized_key(line: &str) -> Result<Vec<u8>, KeyError> {
    PublicKey::from_openssh(line)
        .and_then(|k| k.to_bytes())
        .map_err(KeyError)
}

/// The wire encoding of a key a client offers; `None` if it cannot be
/// encoded (then it matches no authorized key).
pub(super) fn wire_encoding(key: &PublicKey) -> Option<Vec<u8>> {
    key.to_bytes().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use russh::keys::{Algorithm, PrivateKey};

    #[test]
    fn a_line_and_the_offered_key_encode_alike() {
        let k = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519).unwrap();
        let line = format!("{} someone@example", k.public_key().to_openssh().unwrap());
        assert_eq!(
            authorized_key(&line).unwrap(),
            wire_encoding(k.public_key()).unwrap()
        );
        assert!(authorized_key("ssh-ed25519 not-base64").is_err());
    }
}
