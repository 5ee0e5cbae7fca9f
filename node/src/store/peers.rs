//! Known peers on disk: the `peers` tree (peer id bytes → [`PeerRecord`]), read and
//! written in batches by [`crate::peers::Table`], which owns their meaning and bounds.

use serde::{Deserialize, Serialize};

use super::format::{self, At};
use super::{Error, KeyValue, Store};

/// Tree name.
pub(crate) const PEERS: &str = "peers";
/// Largest peer record read back (bytes).
const MAX_PEER_BYTES: usize = 2048;

/// A known peer as kept on disk (see `crate::peers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRecord {
    /// Binary multiaddrs, newest first, without `/p2p/`.
    #[serde(with = "format::byte_list")]
    pub addrs: Vec<Vec<u8>>,
    /// Last connection (or when learned), ms since the Unix epoch.
    pub last_seen_ms: u64,
    /// Where it was learned: a bit set of `crate::peers::Source`.
    pub sources: u8,
}

impl PeerRecord {
    /// Encodes the record in the store's format.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        format::encode(self)
    }

    /// Decodes a record of the `peers` tree stored under `key`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] when it does not decode.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self, Error> {
        format::decode(&At { tree: PEERS, key }, bytes, MAX_PEER_BYTES)
    }
}

impl Store {
    /// Up to `limit` entries of the `peers` tree: peer id bytes → encoded known peer
    /// (decoded, with limits, by `crate::peers`).
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
