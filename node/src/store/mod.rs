//! History and metadata on disk, in one sled database.
//!
//! Trees, each with its own file in this folder:
//! * `meta`: `schema` → the store's schema version (u32, big-endian); see [`migrate`].
//! * `msgs` (group id ‖ order key → the message frame as received), `control` (the same
//!   for control messages only), `ids` (message id → group id ‖ order key): [`messages`].
//! * `groups` (group id → [`GroupRecord`]: genesis, epoch secrets, join time) and
//!   `history` (group id → [`HistoryFrom`], for groups joined with history since join):
//!   [`groups`].
//! * `cards`, `profiles`, `join_in`, `join_out`, `short_invites` (discovery state):
//!   [`records`].
//! * `peers` (peer id → [`PeerRecord`], see `crate::peers`): [`peers`].
//!
//! Messages are written only after validation. Writes go to sled's log; `flush` makes them
//! durable, and the node acknowledges a message to the user only after a flush returned.
//!
//! ## Records and their versions
//! Message frames stay exactly the bytes received (their id is a hash over them). Every
//! other value (group records, history bounds, cards and profiles held, join requests,
//! short invites, known peers) is a metadata record in one [format]: a format byte
//! ([`format::CBOR`]) and a CBOR map of named fields. The rules for changing a record:
//! 1. **Add a field** with `#[serde(default)]` (or as an `Option`): no new schema version.
//!    An older qun ignores the field, a newer one reads older records with the default.
//!    Never add `deny_unknown_fields`.
//! 2. **Never reuse or retype a field name**: a field whose meaning or type changes gets a
//!    new name; the old one stops being written (and stays readable while it matters).
//! 3. A change these rules cannot express (a new key layout, a new tree, a record split in
//!    two) **bumps [`SCHEMA_VERSION`]** and adds a step to [`migrate`], which rewrites the
//!    store at open, all or nothing.
//! 4. Signed protocol objects inside a record keep their protocol encoding (a byte string):
//!    the protocol versions them, not the store.
//!
//! ## Write failures (a full disk)
//! sled 0.34 keeps the first I/O error of its log as a global error: from then on every
//! write and flush of that database fails with it, and its background flusher thread has
//! stopped, even after space returns. So a failed write marks the store
//! [`failed`](Store::failed), and the node [reopens](Store::reopen) it: the reopened
//! database holds exactly what reached the disk, and works again once there is space.
//! Every clone of a [`Store`] shares the reopened database; while a reopen has not
//! succeeded, operations fail with [`Error::Unavailable`].
//!
//! Reads from outside the event loop (the API's history, log, own profile) go through a
//! [`Reader`] ([`reader`]): it does not keep the database open, and a reopen or a
//! [close](Store::close) waits for its reads in flight.
//!
//! sled itself needs some space to reopen (it writes a new snapshot of what it recovered),
//! which a full disk does not have. So the store keeps a reserve file beside it
//! (`store.reserve`, [`RESERVE_BYTES`] by default, allocated, not written): when a reopen
//! fails, the reserve is deleted and the reopen tried again. Without its reserve the store
//! refuses new writes ([`Error::DiskFull`], checked by [`Store::check_space`]) until the
//! reserve can be written again, i.e. until there is space: then everything works as
//! before, with no restart.

pub mod format;
pub mod groups;
pub mod messages;
pub mod migrate;
pub mod peers;
pub mod reader;
pub mod records;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

pub use groups::{EpochSecret, GroupRecord, HistoryFrom};
pub use migrate::SCHEMA_VERSION;
pub use peers::PeerRecord;
pub use reader::Reader;
pub use records::{HeldInvite, Incoming, Names, Outgoing, Records};

/// Default size of the reserve file kept beside the store, freed to reopen it on a full
/// disk (bytes). See `Config::store_reserve_bytes`.
pub const RESERVE_BYTES: u64 = 1024 * 1024;
/// How often, at most, a missing reserve is written again (ms).
const RESERVE_RETRY_MS: u64 = 500;

/// Why a store operation failed. sled's error is shown in the message and not chained as a
/// source, so a report that prints the chain shows it once. Every variant is an internal
/// fault of this node (an HTTP API answers it with a 5xx), never a fault of the caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// sled failed to read (or to open the database): an I/O error.
    #[error("store: {0}")]
    Sled(sled::Error),
    /// A write or flush failed (e.g. the disk is full); nothing of it is acknowledged.
    #[error("could not write to the store: {0}")]
    Write(sled::Error),
    /// The store failed a write and has not been reopened yet.
    #[error("the store is unavailable after a write failure; qun reopens it by itself")]
    Unavailable,
    /// The disk holding the store is full: writes are refused until there is space again.
    #[error(
        "the disk holding the store is full ({path}): nothing is stored until space is freed; \
         qun then goes on by itself"
    )]
    DiskFull {
        /// The store dir.
        path: String,
    },
    /// sled found its files damaged when opening the store (a torn write, a disk fault, a
    /// file edited by hand).
    #[error(
        "the store {path} is damaged ({cause}): restore the data dir from a backup, or move \
         the store dir away and start again to begin with an empty history (groups are then \
         joined again by invite)"
    )]
    Damaged {
        /// The store dir.
        path: String,
        /// What sled reported.
        cause: String,
    },
    /// A record did not decode: the text names its tree and key, and why.
    #[error("store record is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer qun (a schema version this code does not know).
    #[error(
        "data dir written by a newer qun (store {path} has schema version {found}; this qun \
         reads up to {expected}): upgrade qun"
    )]
    Schema {
        /// Store path.
        path: String,
        /// Version on disk.
        found: u32,
        /// The newest version this code reads (and the one it writes).
        expected: u32,
    },
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Sled(e)
    }
}

/// A raw key and value of a tree.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// The sled store. Cheap to clone; every clone sees the same (reopened) database.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// What the clones of a [`Store`] share.
struct Shared {
    /// The database dir.
    path: PathBuf,
    /// sled page cache size in bytes.
    cache_bytes: u64,
    /// sled's background flush interval in ms (`None`: none).
    flush_every_ms: Option<u64>,
    /// The open database (`None` between a failed reopen and the next one).
    trees: RwLock<Option<Arc<Trees>>>,
    /// A write failed since the last (re)open: sled's error is sticky, reopen.
    failed: AtomicBool,
    /// The reserve file beside the store.
    reserve: PathBuf,
    /// Its size in bytes (0: no reserve).
    reserve_bytes: u64,
    /// The reserve is missing (used to reopen, or never written): writes are refused.
    no_reserve: AtomicBool,
    /// When the reserve was last tried to be written again.
    reserve_tried: std::sync::Mutex<Option<std::time::Instant>>,
    /// Held (shared) by each read of a [`Reader`] for its length, and taken (exclusive) by
    /// a reopen or a close, so that no read holds the old database then.
    gate: RwLock<()>,
    /// Closed for good ([`Store::close`]): [`Reader`]s read nothing more.
    closed: AtomicBool,
}

/// The open database and its trees.
struct Trees {
    db: sled::Db,
    groups: sled::Tree,
    msgs: sled::Tree,
    control: sled::Tree,
    ids: sled::Tree,
    peers: sled::Tree,
    history: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self, Error> {
        Self::open_with(dir, cache_bytes, Some(200), 0)
    }

    /// Opens the store with a background flush every `flush_every_ms` (or none) and a
    /// reserve of `reserve_bytes` beside it (0: none).
    pub fn open_with(
        dir: &Path,
        cache_bytes: u64,
        flush_every_ms: Option<u64>,
        reserve_bytes: u64,
    ) -> Result<Self, Error> {
        let mut reserve = dir.as_os_str().to_owned();
        reserve.push(".reserve");
        let reserve = PathBuf::from(reserve);
        let trees = match open_trees(dir, cache_bytes, flush_every_ms) {
            Ok(t) => t,
            // A full disk at start: give sled the reserve.
            Err(e) if std::fs::remove_file(&reserve).is_ok() => {
                tracing::warn!(error = %e, "opening the store with its reserve freed");
                open_trees(dir, cache_bytes, flush_every_ms)?
            }
            Err(e) => return Err(e),
        };
        let store = Self {
            shared: Arc::new(Shared {
                path: dir.to_path_buf(),
                cache_bytes,
                flush_every_ms,
                trees: RwLock::new(Some(Arc::new(trees))),
                failed: AtomicBool::new(false),
                reserve,
                reserve_bytes,
                // Written just below: a missing reserve at start is not news ("space again").
                no_reserve: AtomicBool::new(false),
                reserve_tried: std::sync::Mutex::new(None),
                gate: RwLock::new(()),
                closed: AtomicBool::new(false),
            }),
        };
        if reserve_bytes > 0 {
            store.write_reserve();
        }
        Ok(store)
    }

    /// Writes the reserve file if it is missing; whether it is there now.
    fn write_reserve(&self) -> bool {
        let sh = &self.shared;
        let ok = match std::fs::metadata(&sh.reserve) {
            Ok(m) if m.len() == sh.reserve_bytes => true,
            _ => {
                let res = allocate(&sh.reserve, sh.reserve_bytes);
                if res.is_err() {
                    let _ = std::fs::remove_file(&sh.reserve);
                }
                res.is_ok()
            }
        };
        let was_missing = sh.no_reserve.swap(!ok, Ordering::SeqCst);
        if ok && was_missing {
            tracing::info!("the store has space again");
        }
        ok
    }

    /// `Ok` unless the disk is full: while the store's reserve is missing (it was used to
    /// reopen the store), it is written again at most every 500 ms, and writes are refused
    /// with [`Error::DiskFull`] until that succeeds.
    pub fn check_space(&self) -> Result<(), Error> {
        let sh = &self.shared;
        if !sh.no_reserve.load(Ordering::SeqCst) {
            return Ok(());
        }
        let due = {
            let mut tried = sh
                .reserve_tried
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let now = std::time::Instant::now();
            let due = tried.is_none_or(|t| {
                now.duration_since(t) >= std::time::Duration::from_millis(RESERVE_RETRY_MS)
            });
            if due {
                *tried = Some(now);
            }
            due
        };
        if due && self.write_reserve() {
            return Ok(());
        }
        Err(Error::DiskFull {
            path: sh.path.display().to_string(),
        })
    }

    /// The open database, or [`Error::Unavailable`].
    fn t(&self) -> Result<Arc<Trees>, Error> {
        self.shared
            .trees
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or(Error::Unavailable)
    }

    /// The result of a write: a failure marks the store for reopening.
    fn written<T>(&self, res: sled::Result<T>) -> Result<T, Error> {
        res.map_err(|e| {
            if !self.shared.failed.swap(true, Ordering::SeqCst) {
                tracing::error!(error = %e, "store write failed; the store will be reopened");
            }
            Error::Write(e)
        })
    }

    /// Marks the store for reopening (a flush failed in a way sled did not report as a
    /// write error, e.g. its task died).
    pub fn mark_failed(&self) {
        self.shared.failed.store(true, Ordering::SeqCst);
    }

    /// Whether a write failed since the store was (re)opened: sled refuses every write
    /// from then on, until [`Store::reopen`].
    pub fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Closes the database and opens it again: what reached the disk is there, what did
    /// not is gone, and writes work again if there is space. The caller makes sure no
    /// other user holds the old database (a flush in flight): sled's file lock is released
    /// only when the last handle is dropped. On failure the store stays closed
    /// ([`Error::Unavailable`]) until a later reopen succeeds.
    pub fn reopen(&self) -> Result<(), Error> {
        // Reads of a `Reader` in flight end first (they are short); new ones wait.
        let _gate = self
            .shared
            .gate
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut slot = self
            .shared
            .trees
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        drop(slot.take());
        let sh = &self.shared;
        let trees = match open_trees(&sh.path, sh.cache_bytes, sh.flush_every_ms) {
            Ok(t) => t,
            // sled needs space to reopen: free the reserve and try again.
            Err(e) if std::fs::remove_file(&sh.reserve).is_ok() => {
                sh.no_reserve.store(true, Ordering::SeqCst);
                tracing::warn!(error = %e, "reopening the store with its reserve freed");
                open_trees(&sh.path, sh.cache_bytes, sh.flush_every_ms)?
            }
            Err(e) => return Err(e),
        };
        *slot = Some(Arc::new(trees));
        sh.failed.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Makes every write so far durable.
    ///
    /// The flush runs on tokio's blocking pool, not with sled's `flush_async`: that one runs
    /// on sled's own small thread pool and waits there for log writes queued on the same
    /// pool, so a few stores flushing at once (the simulator runs 20 nodes in one process)
    /// can take every pool thread and lock the whole process up for good (sled issues
    /// #1241 and #1308, fixed after 0.34.7 in no release). A blocking flush leaves sled's
    /// pool to the log writes.
    pub async fn flush(&self) -> Result<(), Error> {
        let db = self.t()?.db.clone();
        let res = tokio::task::spawn_blocking(move || db.flush())
            .await
            .unwrap_or_else(|e| Err(sled::Error::Io(std::io::Error::other(e.to_string()))));
        self.written(res)?;
        Ok(())
    }

    /// Another tree of the same database (for [`records`]). Callers drop it before
    /// returning to the event loop, so that a reopen can close the database.
    pub(crate) fn tree(&self, name: &str) -> Result<sled::Tree, Error> {
        Ok(self.t()?.db.open_tree(name)?)
    }

    /// Runs one write on a tree of [`Store::tree`]; a failure marks the store for
    /// reopening.
    pub(crate) fn write<T>(
        &self,
        name: &str,
        op: impl FnOnce(&sled::Tree) -> sled::Result<T>,
    ) -> Result<T, Error> {
        let tree = self.tree(name)?;
        self.written(op(&tree))
    }

    /// The schema version of the open store (always [`SCHEMA_VERSION`] once open).
    pub fn schema_version(&self) -> Result<u32, Error> {
        migrate::version(&self.t()?.db.open_tree(migrate::META)?)?
            .ok_or_else(|| Error::Corrupt("no schema version".into()))
    }

    /// Makes every write so far durable (blocking).
    pub fn flush_blocking(&self) -> Result<(), Error> {
        let res = self.t()?.db.flush();
        self.written(res)?;
        Ok(())
    }
}

/// Creates `path` with `len` bytes allocated on disk (not written), owner-only.
fn allocate(path: &Path, len: u64) -> std::io::Result<()> {
    use fs2::FileExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    f.allocate(len)?;
    f.sync_all()
}

/// Opens the database in `dir`, checks its schema version (migrating an older store,
/// see [`migrate`]), and opens its trees.
fn open_trees(dir: &Path, cache_bytes: u64, flush_every_ms: Option<u64>) -> Result<Trees, Error> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .flush_every_ms(flush_every_ms)
        .open()
        .map_err(|e| match e {
            sled::Error::Corruption { .. } => Error::Damaged {
                path: dir.display().to_string(),
                cause: e.to_string(),
            },
            e => Error::Sled(e),
        })?;
    migrate::run(&db, dir)?;
    Ok(Trees {
        groups: db.open_tree("groups")?,
        msgs: db.open_tree("msgs")?,
        control: db.open_tree("control")?,
        ids: db.open_tree("ids")?,
        peers: db.open_tree("peers")?,
        history: db.open_tree("history")?,
        db,
    })
}

#[cfg(test)]
mod tests;
