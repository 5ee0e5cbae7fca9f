//! Joined groups on disk: the `groups` tree (group id → [`GroupRecord`]: genesis, epoch
//! secrets, join time) and the `history` tree (group id → [`HistoryFrom`], for groups
//! joined with history since join).
//!
//! Both are metadata records in the store's [format](super::format): a format byte and a
//! CBOR map; the signed genesis and the secrets inside keep their protocol encoding.

use qun_protocol::discovery::seal::Handover;
use qun_protocol::group::SignedGenesis;
use qun_protocol::{GroupId, GroupSecret, OrderKey};
use serde::{Deserialize, Serialize};

use super::format::{self, At};
use super::{Error, Store};

/// Tree names.
pub(crate) const GROUPS: &str = "groups";
pub(crate) const HISTORY: &str = "history";

/// Largest group record read back (bytes): a genesis plus up to a few hundred epochs.
const MAX_GROUP_BYTES: usize = 64 * 1024;
/// Largest history bound read back (bytes).
const MAX_HISTORY_BYTES: usize = 1024;

/// One epoch's secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochSecret {
    /// The epoch number.
    pub epoch: u64,
    /// Its secret.
    #[serde(with = "format::wire")]
    pub secret: GroupSecret,
}

/// A group this node has joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// The signed genesis (the group id is its hash).
    #[serde(with = "format::wire")]
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

    /// Every epoch secret we hold, as handed to a joiner (the newest
    /// [`qun_protocol::limits::MAX_HANDOVER_EPOCHS`]).
    ///
    /// # Errors
    /// [`Error::Corrupt`] when the record holds no epoch secret.
    pub fn handover(&self) -> Result<Handover, Error> {
        Handover::new(self.epochs.iter().map(|e| (e.epoch, e.secret.clone())))
            .map_err(|e| Error::Corrupt(format!("group record: {e}")))
    }
}

/// Where the history of a group joined with "history since join" starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryFrom {
    /// When we joined, ms since the Unix epoch; older messages are not fetched.
    pub since_ms: u64,
    /// The lowest order key synced, once the first sync found it; syncs then reconcile only
    /// keys from here on, so the older history costs nothing.
    #[serde(with = "format::wire_opt")]
    pub bound: Option<OrderKey>,
}

/// Decodes a group record read from the `groups` tree.
pub(crate) fn decode_group(key: &[u8], bytes: &[u8]) -> Result<GroupRecord, Error> {
    format::decode(&At { tree: GROUPS, key }, bytes, MAX_GROUP_BYTES)
}

/// Decodes a history bound read from the `history` tree.
pub(crate) fn decode_history(key: &[u8], bytes: &[u8]) -> Result<HistoryFrom, Error> {
    format::decode(&At { tree: HISTORY, key }, bytes, MAX_HISTORY_BYTES)
}

impl Store {
    /// Saves a group record.
    pub fn put_group(&self, id: &GroupId, record: &GroupRecord) -> Result<(), Error> {
        let bytes = format::encode(record)?;
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
    ///
    /// # Errors
    /// [`Error::Corrupt`] when a key is not a group id or a record does not decode.
    pub fn groups(&self) -> Result<Vec<(GroupId, GroupRecord)>, Error> {
        let mut out = Vec::new();
        for kv in self.t()?.groups.iter() {
            let (k, v) = kv?;
            let id: [u8; 32] = k.as_ref().try_into().map_err(|_| {
                Error::Corrupt(format!(
                    "{}: not a group id",
                    At {
                        tree: GROUPS,
                        key: &k
                    }
                ))
            })?;
            out.push((GroupId::from_bytes(id), decode_group(&k, &v)?));
        }
        Ok(out)
    }

    /// Whether a group is joined (its record is stored).
    pub fn has_group(&self, id: &GroupId) -> Result<bool, Error> {
        Ok(self.t()?.groups.contains_key(id.as_bytes())?)
    }

    /// A joined group's record.
    pub fn group(&self, id: &GroupId) -> Result<Option<GroupRecord>, Error> {
        match self.t()?.groups.get(id.as_bytes())? {
            Some(v) => Ok(Some(decode_group(id.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }

    /// Records where a group's history starts (history since join).
    pub fn put_history_from(&self, group: &GroupId, from: &HistoryFrom) -> Result<(), Error> {
        let bytes = format::encode(from)?;
        let res = self.t()?.history.insert(group.as_bytes(), bytes);
        self.written(res)?;
        Ok(())
    }

    /// Where a group's history starts, if it was joined with history since join.
    pub fn history_from(&self, group: &GroupId) -> Result<Option<HistoryFrom>, Error> {
        match self.t()?.history.get(group.as_bytes())? {
            Some(v) => Ok(Some(decode_history(group.as_bytes(), &v)?)),
            None => Ok(None),
        }
    }
}
