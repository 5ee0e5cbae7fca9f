//! The data dir: its permissions, the one-daemon lock, and the kept listen port.
//!
//! * A missing data dir (and any missing parent) is created owner-only (0700). An existing
//!   one keeps the mode its owner gave it: qun never changes it (a shared dir with mode 1777
//!   stays 1777), and warns when it is writable by group or others. Files holding secrets
//!   (the identity key, the API token) are written 0600 by [`crate::keys`]; the store dir is
//!   created 0700 when missing.
//! * [`Lock`]: one node per data dir. `DATA_DIR/daemon.lock` is locked (`flock`, released by
//!   the OS when the process ends, however it ends) and holds the holder's pid, so a second
//!   daemon on the same dir fails with one line naming the first one's pid.
//! * The kept listen port: a listen address with TCP port 0 gets the port kept in
//!   `DATA_DIR/listen-port`, chosen (a free port) on the first start. Invite codes, DHT cards
//!   and other nodes' memory carry our addresses, so they stay valid across restarts.

use std::fs;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};

use crate::net::Multiaddr;
use crate::net::Protocol;

/// The lock file inside the data dir; it holds the locking process's pid.
pub const LOCK_FILE: &str = "daemon.lock";
/// The file that keeps the default listen port (decimal text).
pub const PORT_FILE: &str = "listen-port";
/// Longest lock or port file read back (bytes); anything longer is not ours.
const MAX_SMALL_FILE_BYTES: u64 = 64;

/// Why the data dir could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating the dir (or the store dir inside it) failed.
    #[error("could not create the data dir {path}: {cause}")]
    Create {
        /// The dir.
        path: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// Another process holds the lock: another daemon (or node) runs on this dir.
    #[error("another qun daemon is using {path} ({})", pid_text(*pid))]
    InUse {
        /// The data dir.
        path: String,
        /// The holder's pid, as it wrote it in the lock file (`None`: not readable).
        pid: Option<u32>,
    },
    /// The lock file could not be opened or written.
    #[error("could not lock the data dir ({path}): {cause}")]
    Lock {
        /// The lock file.
        path: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The kept port is taken by another program.
    #[error(
        "the kept listen port {port} (in {path}) is in use by another program: stop it, start \
         with --listen /ip4/0.0.0.0/tcp/PORT to choose a port, or delete {path} to pick a new \
         one (invites made before then carry the old port)"
    )]
    PortBusy {
        /// The kept port.
        port: u16,
        /// The port file.
        path: String,
    },
    /// No free port could be found, or the port file could not be written.
    #[error("could not choose or keep a listen port ({path}): {cause}")]
    Port {
        /// The port file.
        path: String,
        /// The OS error.
        cause: std::io::Error,
    },
}

fn pid_text(pid: Option<u32>) -> String {
    pid.map_or_else(|| "pid unknown".to_owned(), |p| format!("pid {p}"))
}

/// Creates `dir` and its missing parents owner-only (0700 where the platform has modes). An
/// existing dir is left as it is; a group- or world-writable one draws a warning.
pub fn prepare(dir: &Path) -> Result<(), Error> {
    let create = |cause| Error::Create {
        path: dir.display().to_string(),
        cause,
    };
    match fs::metadata(dir) {
        Ok(meta) => {
            if !meta.is_dir() {
                return Err(create(std::io::Error::other("it is not a directory")));
            }
            warn_if_shared(dir, &meta);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_private(dir).map_err(create),
        Err(e) => Err(create(e)),
    }
}

/// Creates `dir` (and missing parents) with mode 0700; existing ones are not touched.
pub fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `contents` to `path` readable by the owner only.
pub(crate) fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(contents)?;
    f.sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(unix)]
fn warn_if_shared(dir: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{mode:o}"),
            "the data dir is writable by other users; qun leaves its mode alone \
             (`chmod 700` it unless it is shared on purpose)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_dir: &Path, _meta: &fs::Metadata) {}

/// The lock on a data dir: held while this value lives (the OS releases it when the file is
/// closed, also when the process dies).
#[derive(Debug)]
pub struct Lock {
    _file: fs::File,
}

impl Lock {
    /// Takes the lock of `dir` (which must exist) and writes our pid into it; fails with
    /// [`Error::InUse`] when another process holds it.
    pub fn acquire(dir: &Path) -> Result<Lock, Error> {
        use fs2::FileExt;
        let path = dir.join(LOCK_FILE);
        let lock_err = |cause| Error::Lock {
            path: path.display().to_string(),
            cause,
        };
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        if let Err(e) = file.try_lock_exclusive() {
            if e.kind() == fs2::lock_contended_error().kind() {
                return Err(Error::InUse {
                    path: dir.display().to_string(),
                    pid: read_small(&path).and_then(|t| t.trim().parse().ok()),
                });
            }
            return Err(lock_err(e));
        }
        file.set_len(0).map_err(lock_err)?;
        file.write_all(format!("{}\n", std::process::id()).as_bytes())
            .map_err(lock_err)?;
        Ok(Lock { _file: file })
    }
}

/// The first [`MAX_SMALL_FILE_BYTES`] of a small text file, if it can be read.
fn read_small(path: &Path) -> Option<String> {
    let mut text = String::new();
    fs::File::open(path)
        .ok()?
        .take(MAX_SMALL_FILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// The port kept in `dir`, if there is a readable one. A file that does not hold a port
/// number (1–65535) is ignored with a warning and replaced at this start.
pub fn kept_port(dir: &Path) -> Option<u16> {
    let path = dir.join(PORT_FILE);
    let text = read_small(&path)?;
    match text.trim().parse::<u16>() {
        Ok(p) if p != 0 => Some(p),
        _ => {
            tracing::warn!(file = %path.display(), "the kept listen port is unreadable; choosing a new one");
            None
        }
    }
}

/// Whether `addr` is a TCP address with port 0 (any port).
fn is_tcp_any_port(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::Tcp(0)))
}

/// `addrs` with every TCP port 0 replaced by `port`.
pub fn with_port(addrs: &[Multiaddr], port: u16) -> Vec<Multiaddr> {
    addrs
        .iter()
        .map(|a| {
            a.iter()
                .map(|p| match p {
                    Protocol::Tcp(0) => Protocol::Tcp(port),
                    other => other,
                })
                .collect()
        })
        .collect()
}

/// The IP of the first TCP-port-0 address (where a free port is looked for and checked).
fn probe_ip(addrs: &[Multiaddr]) -> Option<IpAddr> {
    let addr = addrs.iter().find(|a| is_tcp_any_port(a))?;
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

/// The listen addresses to use with a kept port: every TCP port 0 in `addrs` becomes the
/// port kept in `dir`, or, on the first start (or after the file was removed), a free port
/// that is then kept. Addresses without TCP port 0 are returned unchanged.
///
/// The kept port is checked with a plain bind first: libp2p binds with `SO_REUSEPORT`, which
/// would let it share a port another libp2p program holds instead of failing.
pub fn keep_listen_port(dir: &Path, addrs: &[Multiaddr]) -> Result<Vec<Multiaddr>, Error> {
    let Some(ip) = probe_ip(addrs) else {
        return Ok(addrs.to_vec());
    };
    let path = dir.join(PORT_FILE);
    let port_err = |cause| Error::Port {
        path: path.display().to_string(),
        cause,
    };
    let port = match kept_port(dir) {
        Some(port) => {
            if let Err(e) = TcpListener::bind(SocketAddr::new(ip, port)) {
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    return Err(Error::PortBusy {
                        port,
                        path: path.display().to_string(),
                    });
                }
                return Err(port_err(e));
            }
            port
        }
        None => {
            let probe = TcpListener::bind(SocketAddr::new(ip, 0)).map_err(port_err)?;
            let port = probe.local_addr().map_err(port_err)?.port();
            write_private_file(&path, format!("{port}\n").as_bytes()).map_err(port_err)?;
            tracing::info!(port, file = %path.display(), "chose a listen port to keep");
            port
        }
    };
    Ok(with_port(addrs, port))
}

/// The path of the store inside a data dir, created 0700 when missing.
pub fn store_dir(dir: &Path) -> Result<PathBuf, Error> {
    let store = dir.join("store");
    if !store.exists() {
        create_private(&store).map_err(|cause| Error::Create {
            path: store.display().to_string(),
            cause,
        })?;
    }
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_is_replaced_and_others_kept() {
        let addrs: Vec<Multiaddr> = ["/ip4/0.0.0.0/tcp/0", "/ip4/127.0.0.1/tcp/4001", "/memory/0"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let out = with_port(&addrs, 5555);
        assert_eq!(out[0].to_string(), "/ip4/0.0.0.0/tcp/5555");
        assert_eq!(out[1], addrs[1]);
        assert_eq!(out[2], addrs[2]);
        assert_eq!(
            probe_ip(&addrs),
            Some(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
        );
        assert_eq!(probe_ip(&addrs[1..]), None);
    }

    #[test]
    fn the_port_is_chosen_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let addrs = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        let first = keep_listen_port(dir.path(), &addrs).unwrap();
        let port = kept_port(dir.path()).expect("a port is kept");
        assert_eq!(first[0].to_string(), format!("/ip4/127.0.0.1/tcp/{port}"));
        assert_eq!(keep_listen_port(dir.path(), &addrs).unwrap(), first);
        // Busy: a clear error that names the port and how to override it.
        let _holder = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let err = keep_listen_port(dir.path(), &addrs).unwrap_err();
        assert!(matches!(err, Error::PortBusy { port: p, .. } if p == port));
        assert!(err.to_string().contains("--listen"), "{err}");
    }

    #[test]
    fn an_unreadable_port_file_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        for junk in ["", "0", "70000", "abc", &"9".repeat(10_000)] {
            fs::write(dir.path().join(PORT_FILE), junk).unwrap();
            assert_eq!(kept_port(dir.path()), None, "{junk:.20}");
        }
        let addrs = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
        keep_listen_port(dir.path(), &addrs).unwrap();
        assert!(kept_port(dir.path()).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_missing_dir_is_private_and_an_existing_one_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let fresh = root.path().join("a/b");
        prepare(&fresh).unwrap();
        for d in [root.path().join("a"), fresh.clone()] {
            let mode = fs::metadata(&d).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        let shared = root.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o1777)).unwrap();
        prepare(&shared).unwrap();
        let mode = fs::metadata(&shared).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o1777, "an existing dir's mode is left alone");
    }

    #[test]
    fn one_lock_per_dir_naming_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = Lock::acquire(dir.path()).unwrap();
        let err = Lock::acquire(dir.path()).unwrap_err();
        let me = std::process::id();
        assert!(
            matches!(err, Error::InUse { pid: Some(p), .. } if p == me),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "another qun daemon is using {} (pid {me})",
                dir.path().display()
            )
        );
        drop(held);
        Lock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}
