//! The API file: `DATA_DIR/api.json`, where a daemon tells its clients the address of its
//! API and the bearer token. The daemon writes it owner-only (0600) at start and removes it
//! when it stops.

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// File in the data dir that tells clients where the API is and its token.
pub const API_FILE: &str = "api.json";

/// Contents of [`API_FILE`]: `{"addr", "token"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiFile {
    /// `host:port` of the API.
    pub addr: String,
    /// The bearer token.
    pub token: String,
}

impl ApiFile {
    /// Writes `DATA_DIR/api.json` readable by the owner only (mode 0600 on Unix, also when
    /// the file existed with a wider mode), synced to disk.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let path = dir.join(API_FILE);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&path)?;
        f.write_all(&text)?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Reads `DATA_DIR/api.json`: an error when it is missing (no daemon runs on that data
    /// dir) or is not an API file.
    pub fn read(dir: &Path) -> std::io::Result<ApiFile> {
        let text = std::fs::read(dir.join(API_FILE))?;
        serde_json::from_slice(&text).map_err(std::io::Error::other)
    }

    /// [`ApiFile::read`] for a client: [`crate::Error::NoApiFile`] naming `dir` when there
    /// is no API file (no daemon runs on that data dir), [`crate::Error::BadApiFile`] when
    /// there is one that does not read as an API file.
    pub fn find(dir: &Path) -> Result<ApiFile, crate::Error> {
        ApiFile::read(dir).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => crate::Error::NoApiFile {
                dir: dir.display().to_string(),
            },
            _ => crate::Error::BadApiFile {
                path: dir.join(API_FILE).display().to_string(),
                reason: e.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ApiFile::read(dir.path()).is_err());
        let file = ApiFile {
            addr: "127.0.0.1:1234".into(),
            token: "ab".repeat(32),
        };
        file.write(dir.path()).unwrap();
        assert_eq!(ApiFile::read(dir.path()).unwrap(), file);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(API_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_missing_file_and_a_damaged_one_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = ApiFile::find(dir.path()).unwrap_err();
        assert!(
            matches!(missing, crate::Error::NoApiFile { .. }),
            "{missing}"
        );
        assert!(missing.to_string().contains("--data-dir"), "{missing}");
        std::fs::write(dir.path().join(API_FILE), "garbage").unwrap();
        let damaged = ApiFile::find(dir.path()).unwrap_err();
        assert!(
            matches!(damaged, crate::Error::BadApiFile { .. }),
            "{damaged}"
        );
        assert!(damaged.to_string().contains("unreadable"), "{damaged}");
    }
}
