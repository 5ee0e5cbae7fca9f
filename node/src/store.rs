//! History on disk, in sled.
//!
//! Trees:
//! * `meta`: `schema` → the store's schema version (u32, big-endian).
//! * `groups`: group id → [`GroupRecord`] (genesis, epoch secrets, join time).
//! * `msgs`: group id ‖ order key → encoded envelope, so a group's history is one
//!   ordered range scan and every node orders it the same way.
//! * `control`: same keys, control messages only (announcement, join, leave, meta), so
//!   group state is re-folded without scanning the chat.
//! * `ids`: message id → group id ‖ order key (de-duplication and lookup).
//! * `peers`: peer id → a known peer (addresses, last seen, where learned), see
//!   [`crate::peers`].
//! * `history`: group id → [`HistoryFrom`] for groups joined with history since join.
//!
//! Messages are written only after validation. Writes go to sled's log; `flush` makes them
//! durable, and the node acknowledges a message to the user only after a flush returned.
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
//! sled itself needs some space to reopen (it writes a new snapshot of what it recovered),
//! which a full disk does not have. So the store keeps a reserve file beside it
//! (`store.reserve`, [`RESERVE_BYTES`] by default, allocated, not written): when a reopen fails, the reserve is deleted and
//! the reopen tried again. Without its reserve the store refuses new writes
//! ([`Error::DiskFull`], checked by [`Store::check_space`]) until the reserve can be
//! written again, i.e. until there is space: then everything works as before, with no
//! restart.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use qun_protocol::codec;
use qun_protocol::group::SignedGenesis;
use qun_protocol::{GroupId, GroupSecret, MsgId, OrderKey, Verified};
use serde::{Deserialize, Serialize};

/// Default size of the reserve file kept beside the store, freed to reopen it on a full
/// disk (bytes). See `Config::store_reserve_bytes`.
pub const RESERVE_BYTES: u64 = 1024 * 1024;
/// How often, at most, a missing reserve is written again (ms).
const RESERVE_RETRY_MS: u64 = 500;

/// The schema version this code writes. A store with another version is refused with a
/// clear message rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed. sled's error is shown in the message and not chained as a
/// source, so a report that prints the chain shows it once.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// sled failed to read (or to open the database).
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
    /// A record did not decode.
    #[error("store record is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by another version of qun.
    #[error(
        "the store at {path} has schema version {found}; this qun reads version {expected}. \
         Use a qun that matches, or move the data dir away to start fresh"
    )]
    Schema {
        /// Store path.
        path: String,
        /// Version on disk.
        found: u32,
        /// Version this code reads.
        expected: u32,
    },
}

/// One epoch's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSecret {
    /// The epoch number.
    pub epoch: u64,
    /// Its secret.
    pub secret: GroupSecret,
}

/// A group this node has joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The signed genesis (the group id is its hash).
    pub genesis: SignedGenesis,
    /// Every epoch secret we hold, oldest first.
    pub epochs: Vec<EpochSecret>,
    /// When we joined, ms since the Unix epoch.
    pub joined_ms: u64,
}

impl GroupRecord {
    /// The newest epoch.
    pub fn current(&self) -> Option<&EpochSecret> {
        self.epochs.iter().max_by_key(|e| e.epoch)
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Error::Sled(e)
    }
}

/// A raw key and value of a tree.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Largest stored record accepted when reading back (group records).
const MAX_RECORD_BYTES: usize = 64 * 1024;

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

/// Where the history of a group joined with "history since join" starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFrom {
    /// When we joined, ms since the Unix epoch; older messages are not fetched.
    pub since_ms: u64,
    /// The lowest order key synced, once the first sync found it; syncs then reconcile only
    /// keys from here on, so the older history costs nothing.
    pub bound: Option<OrderKey>,
}

fn msg_key(group: &GroupId, key: &OrderKey) -> [u8; 80] {
    let mut k = [0u8; 80];
    k[..32].copy_from_slice(group.as_bytes());
    k[32..].copy_from_slice(&key.to_bytes());
    k
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
                no_reserve: AtomicBool::new(reserve_bytes > 0),
                reserve_tried: std::sync::Mutex::new(None),
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
    pub async fn flush(&self) -> Result<(), Error> {
        let t = self.t()?;
        let res = t.db.flush_async().await;
        self.written(res)?;
        Ok(())
    }

    /// Another tree of the same database (for [`crate::records`]). Callers drop it before
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

    /// The authors of `group`'s messages, with the time of their latest message and of
    /// their latest post (text or announcement), read from the stored envelopes. Times after
    /// `until_ms` are left out (a stamp from the future says nothing about now).
    pub fn author_activity(
        &self,
        group: &GroupId,
        until_ms: u64,
    ) -> Result<std::collections::HashMap<qun_protocol::AuthorId, (u64, Option<u64>)>, Error> {
        let mut out: std::collections::HashMap<_, (u64, Option<u64>)> = Default::default();
        for kv in self.t()?.msgs.scan_prefix(group.as_bytes()) {
            let (_, v) = kv?;
            let msg = qun_protocol::Envelope::decode_stored(&v)
                .map_err(|e| Error::Corrupt(e.to_string()))?;
            let t = msg.body.stamp.wall_ms();
            if t > until_ms {
                continue;
            }
            let post = matches!(
                msg.body.kind,
                qun_protocol::Kind::Text(_) | qun_protocol::Kind::Announcement(_)
            );
            let e = out.entry(msg.author()).or_insert((0, None));
            e.0 = e.0.max(t);
            if post {
                e.1 = Some(e.1.map_or(t, |p| p.max(t)));
            }
        }
        Ok(out)
    }

    /// Makes every write so far durable (blocking).
    pub fn flush_blocking(&self) -> Result<(), Error> {
        let res = self.t()?.db.flush();
        self.written(res)?;
        Ok(())
    }

    /// Saves a group record.
    pub fn put_group(&self, id: &GroupId, record: &GroupRecord) -> Result<(), Error> {
        let bytes = codec::encode(record).map_err(|e| Error::Corrupt(e.to_string()))?;
        let res = self.t()?.groups.insert(id.as_bytes(), bytes);
        self.written(res)?;
        Ok(())
    }

    /// Removes a group and its history.
    pub fn remove_group(&self, id: &GroupId) -> Result<(), Error> {
        let t = self.t()?;
        self.written(t.groups.remove(id.as_bytes()))?;
        self.written(t.history.remove(id.as_bytes()))?;
        for tree in [&t.msgs, &t.control] {
            for kv in tree.scan_prefix(id.as_bytes()) {
                let (k, _) = kv?;
                if let Some(key) = OrderKey::from_bytes(&k[32..]) {
                    self.written(t.ids.remove(key.id.as_bytes()))?;
                }
                self.written(tree.remove(k))?;
            }
        }
        Ok(())
    }

    /// Every group joined.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, Error> {
        let mut out = Vec::new();
        for kv in self.t()?.groups.iter() {
            let (k, v) = kv?;
            let id: [u8; 32] = k
                .as_ref()
                .try_into()
                .map_err(|_| Error::Corrupt("group key".into()))?;
            let rec =
                codec::decode(&v, MAX_RECORD_BYTES).map_err(|e| Error::Corrupt(e.to_string()))?;
            out.push((GroupId::from_bytes(id), rec));
        }
        Ok(out)
    }

    /// Whether a message is stored.
    pub fn has_message(&self, id: &MsgId) -> Result<bool, Error> {
        Ok(self.t()?.ids.contains_key(id.as_bytes())?)
    }

    /// Stores a validated message. Returns `false` if it was already stored. Refused while
    /// the disk is full ([`Store::check_space`]).
    pub fn insert(&self, msg: &Verified) -> Result<bool, Error> {
        let t = self.t()?;
        if t.ids.contains_key(msg.id.as_bytes())? {
            return Ok(false);
        }
        self.check_space()?;
        let key = msg_key(&msg.body.group, &msg.order_key());
        let bytes = msg.encoded.as_slice();
        if msg.body.kind.is_control() {
            self.written(t.control.insert(key, bytes))?;
        }
        self.written(t.msgs.insert(key, bytes))?;
        self.written(t.ids.insert(msg.id.as_bytes(), &key[..]))?;
        Ok(true)
    }

    fn decode(bytes: &[u8]) -> Result<Verified, Error> {
        qun_protocol::Envelope::decode_stored(bytes).map_err(|e| Error::Corrupt(e.to_string()))
    }

    /// Up to `limit` messages of `group` in group order, ending just before `before`
    /// (or at the newest message).
    pub fn history(
        &self,
        group: &GroupId,
        limit: usize,
        before: Option<&MsgId>,
    ) -> Result<Vec<Verified>, Error> {
        let t = self.t()?;
        let start = msg_key(group, &OrderKey::MIN);
        let end = match before {
            Some(id) => match t.ids.get(id.as_bytes())? {
                Some(k) => k.to_vec(),
                None => return Ok(Vec::new()),
            },
            None => {
                let mut e = group.as_bytes().to_vec();
                e.extend_from_slice(&[0xff; 49]);
                e
            }
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in t.msgs.range(start.to_vec()..end).rev().take(limit) {
            let (_, v) = kv?;
            out.push(Self::decode(&v)?);
        }
        out.reverse();
        Ok(out)
    }

    /// Up to `limit` messages of `group` after `after` (exclusive), in group order.
    pub fn page_after(
        &self,
        group: &GroupId,
        after: Option<&OrderKey>,
        limit: usize,
    ) -> Result<Vec<Verified>, Error> {
        let t = self.t()?;
        let mut end = group.as_bytes().to_vec();
        end.extend_from_slice(&[0xff; 49]);
        let iter = match after {
            Some(k) => {
                let start = msg_key(group, k);
                t.msgs.range(start.to_vec()..end)
            }
            None => t.msgs.range(group.as_bytes().to_vec()..end),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in iter {
            let (k, v) = kv?;
            if after.is_some_and(|a| k[32..] == a.to_bytes()) {
                continue;
            }
            if out.len() == limit {
                break;
            }
            out.push(Self::decode(&v)?);
        }
        Ok(out)
    }

    /// Records where a group's history starts (history since join).
    pub fn put_history_from(&self, group: &GroupId, from: &HistoryFrom) -> Result<(), Error> {
        let bytes = codec::encode(from).map_err(|e| Error::Corrupt(e.to_string()))?;
        let res = self.t()?.history.insert(group.as_bytes(), bytes);
        self.written(res)?;
        Ok(())
    }

    /// Where a group's history starts, if it was joined with history since join.
    pub fn history_from(&self, group: &GroupId) -> Result<Option<HistoryFrom>, Error> {
        match self.t()?.history.get(group.as_bytes())? {
            Some(v) => Ok(Some(
                codec::decode(&v, 1024).map_err(|e| Error::Corrupt(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// The message of `group` at `key`, if stored.
    pub fn get(&self, group: &GroupId, key: &OrderKey) -> Result<Option<Verified>, Error> {
        match self.t()?.msgs.get(msg_key(group, key))? {
            Some(v) => Ok(Some(Self::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The epoch and order key of every stored message of `group`, in order (decodes each
    /// message for its epoch: sync reconciles one epoch at a time).
    pub fn order_keys(&self, group: &GroupId) -> Result<Vec<(u64, OrderKey)>, Error> {
        let mut out = Vec::new();
        for kv in self.t()?.msgs.scan_prefix(group.as_bytes()) {
            let (k, v) = kv?;
            let key = OrderKey::from_bytes(&k[32..])
                .ok_or_else(|| Error::Corrupt("message key length".into()))?;
            out.push((Self::decode(&v)?.body.epoch, key));
        }
        Ok(out)
    }

    /// Every control message of `group` (in group order).
    pub fn control_ops(&self, group: &GroupId) -> Result<Vec<Verified>, Error> {
        self.t()?
            .control
            .scan_prefix(group.as_bytes())
            .map(|kv| Self::decode(&kv?.1))
            .collect()
    }

    /// How many messages of `group` are stored (0 while the store is unavailable).
    pub fn count(&self, group: &GroupId) -> usize {
        self.t()
            .map_or(0, |t| t.msgs.scan_prefix(group.as_bytes()).count())
    }

    /// Up to `limit` entries of the `peers` tree: peer id bytes → encoded known peer
    /// (decoded, with limits, by [`crate::peers`]).
    pub fn known_peers(&self, limit: usize) -> Result<Vec<KeyValue>, Error> {
        let mut out = Vec::new();
        for kv in self.t()?.peers.iter().take(limit) {
            let (k, v) = kv?;
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// Writes known peers and removes forgotten ones in one batch (not flushed: sled's
    /// background flush or the next flush makes it durable).
    pub fn write_known_peers(&self, put: Vec<KeyValue>, remove: Vec<Vec<u8>>) -> Result<(), Error> {
        let mut batch = sled::Batch::default();
        for (k, v) in put {
            batch.insert(k, v);
        }
        for k in remove {
            batch.remove(k);
        }
        let res = self.t()?.peers.apply_batch(batch);
        self.written(res)
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

/// Opens the database in `dir`, checks its schema version, and opens its trees.
fn open_trees(dir: &Path, cache_bytes: u64, flush_every_ms: Option<u64>) -> Result<Trees, Error> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_bytes)
        .flush_every_ms(flush_every_ms)
        .open()?;
    let meta = db.open_tree("meta")?;
    match meta.get("schema")? {
        None => {
            meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
        }
        Some(v) => {
            let found = v
                .as_ref()
                .try_into()
                .map(u32::from_be_bytes)
                .map_err(|_| Error::Corrupt("schema version".into()))?;
            if found != SCHEMA_VERSION {
                return Err(Error::Schema {
                    path: dir.display().to_string(),
                    found,
                    expected: SCHEMA_VERSION,
                });
            }
        }
    }
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
mod tests {
    use qun_protocol::group::{SignedGenesis, Visibility};
    use qun_protocol::message::{Kind, Text};
    use qun_protocol::{Body, Envelope, Identity};

    use super::*;

    const BASE_MS: u64 = 1_700_000_000_000;

    /// A message stamped `n` ms after `BASE_MS`.
    fn msg(id: &Identity, group: GroupId, n: u64, text: &str) -> Verified {
        let kind = Kind::Text(Text {
            text: text.into(),
            reply_to: None,
            mentions: vec![],
        });
        let body = Body {
            group,
            epoch: 0,
            stamp: qun_protocol::Stamp::new(BASE_MS + n, 0),
            kind,
        };
        Envelope::sign(id, &body).unwrap()
    }

    #[test]
    fn history_pages_and_dedup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        let id = Identity::from_seed([3; 32]);
        let g = GroupId::from_bytes([1; 32]);
        let other = GroupId::from_bytes([2; 32]);
        // Inserted out of order; read back in group order.
        for l in [5u64, 1, 3, 2, 4] {
            assert!(store.insert(&msg(&id, g, l, &format!("m{l}"))).unwrap());
        }
        assert!(store.insert(&msg(&id, other, 9, "other")).unwrap());
        assert!(
            !store.insert(&msg(&id, g, 3, "m3")).unwrap(),
            "duplicate stored twice"
        );
        let all = store.history(&g, 100, None).unwrap();
        let ms = |page: &[Verified]| -> Vec<u64> {
            page.iter().map(|m| m.body.stamp.ms - BASE_MS).collect()
        };
        assert_eq!(ms(&all), vec![1, 2, 3, 4, 5]);
        let before = store.history(&g, 2, Some(&all[3].id)).unwrap();
        assert_eq!(ms(&before), vec![2, 3]);
        let page = store.page_after(&g, Some(&all[1].order_key()), 2).unwrap();
        assert_eq!(ms(&page), vec![3, 4]);
        assert_eq!(store.count(&g), 5);
        assert_eq!(store.count(&other), 1);
    }

    #[test]
    fn groups_survive_reopen_and_remove_clears_history() {
        let dir = tempfile::tempdir().unwrap();
        let owner = Identity::from_seed([4; 32]);
        let genesis = SignedGenesis::create(&owner, "群", 1, Visibility::Private, [0; 16]).unwrap();
        let g = genesis.id().unwrap();
        let rec = GroupRecord {
            genesis,
            epochs: vec![EpochSecret {
                epoch: 0,
                secret: GroupSecret::from_bytes([7; 32]),
            }],
            joined_ms: 5,
        };
        {
            // No background flusher: its thread keeps the database (and its file lock)
            // alive a moment after the drop, and the reopen below would race it.
            let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
            store.put_group(&g, &rec).unwrap();
            store.insert(&msg(&owner, g, 1, "hi")).unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(store.groups().unwrap(), vec![(g, rec)]);
        assert_eq!(store.count(&g), 1);
        store.remove_group(&g).unwrap();
        assert!(store.groups().unwrap().is_empty());
        assert_eq!(store.count(&g), 0);
    }

    #[test]
    fn store_of_another_schema_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree("meta")
                .unwrap()
                .insert("schema", &999u32.to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path(), 1 << 20).err().expect("must refuse");
        assert!(matches!(
            err,
            Error::Schema {
                found: 999,
                expected: SCHEMA_VERSION,
                ..
            }
        ));
        assert!(err.to_string().contains("schema version 999"));
    }
}
