//! The SSH host key: kept on disk, created on first start with mode 0600.

use std::path::{Path, PathBuf};

use russh::keys::{Algorithm, PrivateKey};

/// The server's host key, loaded or created; what it holds stays inside
/// `ssh/` (the only user of russh).
pub struct HostKey(pub(super) PrivateKey);

/// A cause from the key library, kept as a source without exposing its type.
type KeyCause = Box<dyn std::error::Error + Send + Sync>;

/// Why the host key could not be loaded or created; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot load host key {}", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: KeyCause,
    },
    #[error("cannot generate a host key")]
    Generate(#[source] KeyCause),
    #[error("cannot create the host key's directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode the generated host key")]
    Encode(#[source] KeyCause),
    #[error("cannot write host key {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub fn load_or_create_host_key(path: &Path) -> Result<HostKey, HostKeyError> {
    if path.exists() {
        return russh::keys::load_secret_key(path, None)
            .map(HostKey)
            .map_err(|e| HostKeyError::Load {
                path: path.to_owned(),
                source: Box::new(e),
            });
    }
    let key = PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|e| HostKeyError::Generate(Box::new(e)))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| HostKeyError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let pem = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|e| HostKeyError::Encode(Box::new(e)))?;
    write_private(path, pem.as_bytes()).map_err(|source| HostKeyError::Write {
        path: path.to_owned(),
        source,
    })?;
    tracing::info!(path = %path.display(), "created SSH host key");
    Ok(HostKey(key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_with_mode_0600_then_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/key");
        let k1 = load_or_create_host_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let k2 = load_or_create_host_key(&path).unwrap();
        assert_eq!(k1.0.public_key(), k2.0.public_key());
    }

    #[test]
    fn a_bad_key_file_names_the_file_and_keeps_the_cause() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "not a key").unwrap();
        let Err(e) = load_or_create_host_key(&path) else {
            panic!("a garbage key file must not load");
        };
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    }
}
