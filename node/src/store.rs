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
//! * `peers`: peer id → last known addresses.
//! * `history`: group id → [`HistoryFrom`] for groups joined with history since join.
//!
//! Messages are written only after validation. Writes go to sled's log; `flush` makes them
//! durable, and the node acknowledges a message to the user only after a flush returned.

use std::path::Path;

use qun_protocol::codec;
use qun_protocol::group::SignedGenesis;
use qun_protocol::{GroupId, GroupSecret, MsgId, OrderKey, Verified};
use serde::{Deserialize, Serialize};

/// The schema version this code writes. A store with another version is refused with a
/// clear message rather than misread.
pub const SCHEMA_VERSION: u32 = 1;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// sled failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
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

/// A remembered peer: its PeerId bytes and addresses.
pub type PeerRecord = (Vec<u8>, Vec<String>);

/// Largest stored record accepted when reading back (group records, peers).
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// The sled store.
#[derive(Clone)]
pub struct Store {
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
        Self::open_with(dir, cache_bytes, Some(200))
    }

    /// Opens the store with a background flush every `flush_every_ms` (or none).
    pub fn open_with(
        dir: &Path,
        cache_bytes: u64,
        flush_every_ms: Option<u64>,
    ) -> Result<Self, Error> {
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
        Ok(Self {
            groups: db.open_tree("groups")?,
            msgs: db.open_tree("msgs")?,
            control: db.open_tree("control")?,
            ids: db.open_tree("ids")?,
            peers: db.open_tree("peers")?,
            history: db.open_tree("history")?,
            db,
        })
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), Error> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// Opens another tree of the same database (for [`crate::records`]).
    pub(crate) fn open_tree(&self, name: &str) -> Result<sled::Tree, Error> {
        Ok(self.db.open_tree(name)?)
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
        for kv in self.msgs.scan_prefix(group.as_bytes()) {
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
        self.db.flush()?;
        Ok(())
    }

    /// Saves a group record.
    pub fn put_group(&self, id: &GroupId, record: &GroupRecord) -> Result<(), Error> {
        let bytes = codec::encode(record).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.groups.insert(id.as_bytes(), bytes)?;
        Ok(())
    }

    /// Removes a group and its history.
    pub fn remove_group(&self, id: &GroupId) -> Result<(), Error> {
        self.groups.remove(id.as_bytes())?;
        self.history.remove(id.as_bytes())?;
        for tree in [&self.msgs, &self.control] {
            for kv in tree.scan_prefix(id.as_bytes()) {
                let (k, _) = kv?;
                if let Some(key) = OrderKey::from_bytes(&k[32..]) {
                    self.ids.remove(key.id.as_bytes())?;
                }
                tree.remove(k)?;
            }
        }
        Ok(())
    }

    /// Every group joined.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, Error> {
        let mut out = Vec::new();
        for kv in self.groups.iter() {
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
        Ok(self.ids.contains_key(id.as_bytes())?)
    }

    /// Stores a validated message. Returns `false` if it was already stored.
    pub fn insert(&self, msg: &Verified) -> Result<bool, Error> {
        if self.has_message(&msg.id)? {
            return Ok(false);
        }
        let key = msg_key(&msg.body.group, &msg.order_key());
        let bytes = msg.encoded.as_slice();
        if msg.body.kind.is_control() {
            self.control.insert(key, bytes)?;
        }
        self.msgs.insert(key, bytes)?;
        self.ids.insert(msg.id.as_bytes(), &key[..])?;
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
        let start = msg_key(group, &OrderKey::MIN);
        let end = match before {
            Some(id) => match self.ids.get(id.as_bytes())? {
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
        for kv in self.msgs.range(start.to_vec()..end).rev().take(limit) {
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
        let mut end = group.as_bytes().to_vec();
        end.extend_from_slice(&[0xff; 49]);
        let iter = match after {
            Some(k) => {
                let start = msg_key(group, k);
                self.msgs.range(start.to_vec()..end)
            }
            None => self.msgs.range(group.as_bytes().to_vec()..end),
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
        self.history.insert(group.as_bytes(), bytes)?;
        Ok(())
    }

    /// Where a group's history starts, if it was joined with history since join.
    pub fn history_from(&self, group: &GroupId) -> Result<Option<HistoryFrom>, Error> {
        match self.history.get(group.as_bytes())? {
            Some(v) => Ok(Some(
                codec::decode(&v, 1024).map_err(|e| Error::Corrupt(e.to_string()))?,
            )),
            None => Ok(None),
        }
    }

    /// The message of `group` at `key`, if stored.
    pub fn get(&self, group: &GroupId, key: &OrderKey) -> Result<Option<Verified>, Error> {
        match self.msgs.get(msg_key(group, key))? {
            Some(v) => Ok(Some(Self::decode(&v)?)),
            None => Ok(None),
        }
    }

    /// The epoch and order key of every stored message of `group`, in order (decodes each
    /// message for its epoch: sync reconciles one epoch at a time).
    pub fn order_keys(&self, group: &GroupId) -> Result<Vec<(u64, OrderKey)>, Error> {
        let mut out = Vec::new();
        for kv in self.msgs.scan_prefix(group.as_bytes()) {
            let (k, v) = kv?;
            let key = OrderKey::from_bytes(&k[32..])
                .ok_or_else(|| Error::Corrupt("message key length".into()))?;
            out.push((Self::decode(&v)?.body.epoch, key));
        }
        Ok(out)
    }

    /// Every control message of `group` (in group order).
    pub fn control_ops(&self, group: &GroupId) -> Result<Vec<Verified>, Error> {
        self.control
            .scan_prefix(group.as_bytes())
            .map(|kv| Self::decode(&kv?.1))
            .collect()
    }

    /// How many messages of `group` are stored.
    pub fn count(&self, group: &GroupId) -> usize {
        self.msgs.scan_prefix(group.as_bytes()).count()
    }

    /// Remembers a peer's addresses.
    pub fn put_peer(&self, peer: &[u8], addrs: &[String]) -> Result<(), Error> {
        let bytes = codec::encode(&addrs).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.peers.insert(peer, bytes)?;
        Ok(())
    }

    /// Every peer remembered, with its addresses.
    pub fn peers(&self) -> Result<Vec<PeerRecord>, Error> {
        let mut out = Vec::new();
        for kv in self.peers.iter() {
            let (k, v) = kv?;
            let addrs: Vec<String> =
                codec::decode(&v, MAX_RECORD_BYTES).map_err(|e| Error::Corrupt(e.to_string()))?;
            out.push((k.to_vec(), addrs));
        }
        Ok(out)
    }
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
            let store = Store::open_with(dir.path(), 1 << 20, None).unwrap();
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
