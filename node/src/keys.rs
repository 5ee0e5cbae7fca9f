//! The node's identity key on disk.
//!
//! One ed25519 seed in `DATA_DIR/identity.key` (64 hex characters), created on first start
//! with owner-only permissions. The same seed gives the message-signing [`Identity`] and
//! the libp2p keypair, so a message's author id and its node's PeerId are one key.

use std::fs;
use std::path::Path;

use qun_protocol::Identity;

/// File name of the identity key inside the data dir.
pub const KEY_FILE: &str = "identity.key";

/// Why the identity could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Filesystem error (shown in the message, not chained, so it prints once).
    #[error("identity key {path}: {cause}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        cause: std::io::Error,
    },
    /// The file is not 64 hex characters.
    #[error("identity key {path} is corrupt: expected 64 hex characters")]
    Corrupt {
        /// The file.
        path: String,
    },
    /// No randomness from the OS.
    #[error("no randomness available: {0}")]
    Random(String),
    /// libp2p refused the key.
    #[error("libp2p key: {0}")]
    Libp2p(String),
}

/// 32 random bytes from the OS.
pub fn random32() -> Result<[u8; 32], Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| Error::Random(e.to_string()))?;
    Ok(b)
}

/// Fills `buf` with random bytes from the OS.
pub fn random_fill(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}

/// Creates `dir` (and missing parents) with owner-only permissions where the platform has
/// them. An existing dir keeps its mode: see `crate::datadir`.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    crate::datadir::create_private(dir)
}

/// Writes `contents` to `path` readable by the owner only (see `crate::datadir`).
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    crate::datadir::write_private_file(path, contents)
}

/// Loads the identity from `dir`, creating it on first start.
pub fn load_or_create(dir: &Path) -> Result<Identity, Error> {
    let path = dir.join(KEY_FILE);
    let io = |cause| Error::Io {
        path: path.display().to_string(),
        cause,
    };
    match fs::read(&path) {
        Ok(raw) => {
            let corrupt = || Error::Corrupt {
                path: path.display().to_string(),
            };
            let text = std::str::from_utf8(&raw).map_err(|_| corrupt())?;
            let bytes = hex::decode(text.trim()).map_err(|_| corrupt())?;
            tighten(&path);
            let seed: [u8; 32] = bytes.try_into().map_err(|_| corrupt())?;
            Ok(Identity::from_seed(seed))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let identity = Identity::from_seed(random32()?);
            store(dir, &identity)?;
            Ok(identity)
        }
        Err(e) => Err(io(e)),
    }
}

/// Makes a key file that others may read (e.g. copied or unpacked from an archive) owner-only
/// again, and says so: the key is the node's identity.
fn tighten(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::metadata(path) else {
            return;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            match fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
                Ok(()) => tracing::warn!(
                    path = %path.display(),
                    "the identity key was readable by others (mode {mode:o}): made it owner-only (600)"
                ),
                Err(e) => tracing::warn!(
                    path = %path.display(),
                    error = %e,
                    "the identity key is readable by others (mode {mode:o}) and could not be made owner-only"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Writes `identity` as the identity of the node in `dir` (owner-only). The simulator uses
/// it to give its nodes seeded, reproducible keys.
pub fn store(dir: &Path, identity: &Identity) -> Result<(), Error> {
    let path = dir.join(KEY_FILE);
    let io = |cause| Error::Io {
        path: path.display().to_string(),
        cause,
    };
    create_private_dir(dir).map_err(io)?;
    write_private_file(&path, hex::encode(identity.seed()).as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_of_garbage_is_corrupt_and_a_shared_key_is_made_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE);
        fs::write(&path, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(Error::Corrupt { .. })
        ));
        let identity = Identity::from_seed([3; 32]);
        store(dir.path(), &identity).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert_eq!(
                load_or_create(dir.path()).unwrap().author(),
                identity.author()
            );
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
