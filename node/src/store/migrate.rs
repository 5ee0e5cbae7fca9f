//! The store's schema version and the steps from older ones, run at open.
//!
//! The version is kept in the `meta` tree under `schema` (a u32, big-endian); the key is
//! the one every qun has read, so a qun of schema 1 refuses a newer store instead of
//! misreading it.
//!
//! | version | what changed |
//! |---------|--------------|
//! | 1 | metadata records in the protocol's bincode codec, no field could be added |
//! | 2 | metadata records versioned and self-describing ([`super::format`]) |
//!
//! At open ([`run`]): a new store gets [`SCHEMA_VERSION`]; a store of an older version is
//! migrated step by step; a store of a newer version is refused with
//! [`Error::Schema`] ("data dir written by a newer qun … upgrade qun").
//!
//! ## Crash safety
//! A step reads every record of the trees it changes, converts them, and writes the new
//! records *and* the new version in one sled transaction, then flushes. sled applies a
//! transaction whole or not at all, also across a crash: after a crash the store is either
//! still at the old version with its old records (and the step runs again at the next
//! open, from the start) or at the new version with the new records. Opening a store at
//! the current version does nothing, so the migration is idempotent.
//!
//! Only metadata records are rewritten (a few thousand small values at most); message
//! frames are never touched.

use std::path::Path;

use qun_protocol::codec;
use qun_protocol::discovery::card::SignedCard;
use qun_protocol::discovery::join::{SignedApproval, SignedRequest};
use qun_protocol::discovery::profile::SignedProfile;
use qun_protocol::group::SignedGenesis;
use qun_protocol::{GroupSecret, OrderKey};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sled::Transactional;

use super::Error;
use super::format::{self, At};
use super::groups::{EpochSecret, GROUPS, GroupRecord, HISTORY, HistoryFrom};
use super::peers::{PEERS, PeerRecord};
use super::records::{
    CARDS, HeldCard, HeldInvite, HeldProfile, Incoming, JOIN_IN, JOIN_OUT, Outgoing, PROFILES,
    SHORT_INVITES,
};

/// The schema version this code writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 2;
/// The oldest schema version this code migrates from.
pub const OLDEST_SCHEMA: u32 = 1;
/// The `meta` tree and the key of the version in it.
pub(crate) const META: &str = "meta";
pub(crate) const SCHEMA_KEY: &str = "schema";

/// Checks the store's schema version and migrates an older store; see the module docs.
///
/// # Errors
/// [`Error::Schema`] for a newer store, [`Error::Corrupt`] for an unreadable version or a
/// record of an older schema that does not decode, [`Error::Sled`]/[`Error::Write`] when
/// sled fails.
pub fn run(db: &sled::Db, dir: &Path) -> Result<(), Error> {
    let meta = db.open_tree(META)?;
    let Some(found) = version(&meta)? else {
        meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
            .map_err(Error::Write)?;
        return Ok(());
    };
    if !(OLDEST_SCHEMA..=SCHEMA_VERSION).contains(&found) {
        return Err(Error::Schema {
            path: dir.display().to_string(),
            found,
            expected: SCHEMA_VERSION,
        });
    }
    if found == 1 {
        tracing::info!(path = %dir.display(), "migrating the store from schema 1 to 2");
        v1_to_v2(db)?;
    }
    Ok(())
}

/// The version stored in `meta`, if any.
pub(crate) fn version(meta: &sled::Tree) -> Result<Option<u32>, Error> {
    let Some(v) = meta.get(SCHEMA_KEY)? else {
        return Ok(None);
    };
    let found = v
        .as_ref()
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| Error::Corrupt(format!("schema version: {} bytes, not 4", v.len())))?;
    Ok(Some(found))
}

/// A rewrite of one record: `None` removes it (an unreadable cache entry).
type Rewrite = (Vec<u8>, Option<Vec<u8>>);
/// Converts one record of an older schema (key, value) to the new format.
type Convert = fn(&[u8], &[u8]) -> Result<Vec<u8>, Error>;

/// How a tree's schema-1 records become schema-2 records.
struct Step {
    /// The tree.
    tree: &'static str,
    /// Converts one value (the key names it in errors).
    convert: Convert,
    /// An unreadable record is dropped (a cache: peers, cards, profiles, short invites)
    /// rather than failing the migration (what the node cannot do without).
    lenient: bool,
}

/// Schema 1 → 2: every metadata record from bincode to the versioned format.
fn v1_to_v2(db: &sled::Db) -> Result<(), Error> {
    let steps = [
        Step {
            tree: GROUPS,
            convert: v1::group,
            lenient: false,
        },
        Step {
            tree: HISTORY,
            convert: v1::history,
            lenient: false,
        },
        Step {
            tree: JOIN_IN,
            convert: v1::incoming,
            lenient: false,
        },
        Step {
            tree: JOIN_OUT,
            convert: v1::outgoing,
            lenient: false,
        },
        Step {
            tree: CARDS,
            convert: v1::card,
            lenient: true,
        },
        Step {
            tree: PROFILES,
            convert: v1::profile,
            lenient: true,
        },
        Step {
            tree: SHORT_INVITES,
            convert: v1::short_invite,
            lenient: true,
        },
        Step {
            tree: PEERS,
            convert: v1::peer,
            lenient: true,
        },
    ];
    let mut trees = Vec::with_capacity(steps.len() + 1);
    let mut rewrites: Vec<Vec<Rewrite>> = Vec::with_capacity(steps.len());
    for step in &steps {
        let tree = db.open_tree(step.tree)?;
        let mut out = Vec::new();
        for kv in tree.iter() {
            let (k, v) = kv?;
            match (step.convert)(&k, &v) {
                Ok(new) => out.push((k.to_vec(), Some(new))),
                Err(e) if step.lenient => {
                    tracing::warn!(error = %e, "dropping an unreadable record while migrating");
                    out.push((k.to_vec(), None));
                }
                Err(e) => return Err(e),
            }
        }
        trees.push(tree);
        rewrites.push(out);
    }
    trees.push(db.open_tree(META)?);
    let res = trees.as_slice().transaction(|tx| {
        for (tree, rewrites) in tx.iter().zip(&rewrites) {
            for (k, v) in rewrites {
                match v {
                    Some(v) => drop(tree.insert(k.as_slice(), v.as_slice())?),
                    None => drop(tree.remove(k.as_slice())?),
                }
            }
        }
        // The version last (the transaction is atomic anyway).
        if let Some(meta) = tx.last() {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
        }
        Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
    });
    match res {
        Ok(()) => {}
        Err(sled::transaction::TransactionError::Storage(e)) => return Err(Error::Write(e)),
        Err(sled::transaction::TransactionError::Abort(())) => {
            return Err(Error::Corrupt("the migration was aborted".into()));
        }
    }
    db.flush().map_err(Error::Write)?;
    Ok(())
}

/// Schema 1's records: bincode ([`qun_protocol::codec`]) of these shapes, frozen here so
/// that later changes to the current types cannot change how old stores are read.
mod v1 {
    use super::*;

    /// The limits schema 1 read its records with (bytes).
    const MAX_GROUP: usize = 64 * 1024;
    const MAX_HISTORY: usize = 1024;
    const MAX_RECORD: usize = 16 * 1024;
    const MAX_PEER: usize = 2048;

    fn dec<T: DeserializeOwned>(tree: &str, key: &[u8], v: &[u8], max: usize) -> Result<T, Error> {
        codec::decode(v, max)
            .map_err(|e| Error::Corrupt(format!("{} (schema 1): {e}", At { tree, key })))
    }

    #[derive(Deserialize)]
    struct Epoch {
        epoch: u64,
        secret: GroupSecret,
    }

    #[derive(Deserialize)]
    struct Group {
        genesis: SignedGenesis,
        epochs: Vec<Epoch>,
        joined_ms: u64,
    }

    #[derive(Deserialize)]
    struct History {
        since_ms: u64,
        bound: Option<OrderKey>,
    }

    #[derive(Deserialize)]
    struct In {
        request: SignedRequest,
        approval: Option<SignedApproval>,
        rejected: bool,
    }

    #[derive(Deserialize)]
    struct Out {
        card: SignedCard,
        request: SignedRequest,
        since_join: bool,
    }

    #[derive(Deserialize)]
    struct Invite {
        expires_ms: u64,
        value: Vec<u8>,
    }

    #[derive(Deserialize)]
    struct Peer {
        addrs: Vec<Vec<u8>>,
        last_seen_ms: u64,
        sources: u8,
    }

    pub(super) fn group(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let g: Group = dec(GROUPS, k, v, MAX_GROUP)?;
        format::encode(&GroupRecord {
            genesis: g.genesis,
            epochs: g
                .epochs
                .into_iter()
                .map(|e| EpochSecret {
                    epoch: e.epoch,
                    secret: e.secret,
                })
                .collect(),
            joined_ms: g.joined_ms,
        })
    }

    pub(super) fn history(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let h: History = dec(HISTORY, k, v, MAX_HISTORY)?;
        format::encode(&HistoryFrom {
            since_ms: h.since_ms,
            bound: h.bound,
        })
    }

    pub(super) fn incoming(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let i: In = dec(JOIN_IN, k, v, MAX_RECORD)?;
        format::encode(&Incoming {
            request: i.request,
            approval: i.approval,
            rejected: i.rejected,
            approval_authority: Default::default(),
        })
    }

    pub(super) fn outgoing(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let o: Out = dec(JOIN_OUT, k, v, MAX_RECORD)?;
        format::encode(&Outgoing {
            card: o.card,
            request: o.request,
            since_join: o.since_join,
            card_authority: Default::default(),
        })
    }

    pub(super) fn card(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let card: SignedCard = dec(CARDS, k, v, MAX_RECORD)?;
        format::encode(&HeldCard {
            card,
            authority: Default::default(),
        })
    }

    pub(super) fn profile(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let profile: SignedProfile = dec(PROFILES, k, v, MAX_RECORD)?;
        format::encode(&HeldProfile { profile })
    }

    pub(super) fn short_invite(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let i: Invite = dec(SHORT_INVITES, k, v, MAX_RECORD)?;
        format::encode(&HeldInvite {
            expires_ms: i.expires_ms,
            value: i.value,
        })
    }

    pub(super) fn peer(k: &[u8], v: &[u8]) -> Result<Vec<u8>, Error> {
        let p: Peer = dec(PEERS, k, v, MAX_PEER)?;
        PeerRecord {
            addrs: p.addrs,
            last_seen_ms: p.last_seen_ms,
            sources: p.sources,
        }
        .encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A sled database at schema 1 holding `records` (tree, key, value).
    fn v1_store(dir: &Path, records: &[(&str, &[u8], Vec<u8>)]) {
        let db = sled::open(dir).unwrap();
        db.open_tree(META)
            .unwrap()
            .insert(SCHEMA_KEY, &1u32.to_be_bytes())
            .unwrap();
        for (tree, k, v) in records {
            db.open_tree(tree).unwrap().insert(k, v.as_slice()).unwrap();
        }
        db.flush().unwrap();
    }

    fn schema(dir: &Path) -> u32 {
        let db = sled::open(dir).unwrap();
        version(&db.open_tree(META).unwrap()).unwrap().unwrap()
    }

    #[derive(serde::Serialize)]
    struct V1History {
        since_ms: u64,
        bound: Option<OrderKey>,
    }

    #[test]
    fn a_corrupt_v1_group_stops_the_migration_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let history = codec::encode(&V1History {
            since_ms: 5,
            bound: None,
        })
        .unwrap();
        v1_store(
            dir.path(),
            &[
                (HISTORY, &[1; 32], history),
                (GROUPS, &[2; 32], vec![0xde, 0xad]),
            ],
        );
        let err = Store::open_with(dir.path(), 1 << 20, None, 0)
            .err()
            .expect("must refuse");
        assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("groups record 0202"), "{text}");
        assert!(text.contains("schema 1"), "{text}");
        // Nothing was written: the store is still at schema 1, its records untouched.
        assert_eq!(schema(dir.path()), 1);
    }

    #[test]
    fn unreadable_cache_records_are_dropped_and_the_rest_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let history = codec::encode(&V1History {
            since_ms: 5,
            bound: Some(OrderKey::MIN),
        })
        .unwrap();
        v1_store(
            dir.path(),
            &[
                (HISTORY, &[1; 32], history),
                (PROFILES, &[3; 32], vec![1, 2, 3]),
                (PEERS, b"not a peer", vec![7]),
            ],
        );
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let g = qun_protocol::GroupId::from_bytes([1; 32]);
        assert_eq!(
            store.history_from(&g).unwrap(),
            Some(HistoryFrom {
                since_ms: 5,
                bound: Some(OrderKey::MIN),
            })
        );
        assert!(store.known_peers(10).unwrap().is_empty());
        assert!(store.tree(PROFILES).unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_current_record_is_a_clear_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
        let g = qun_protocol::GroupId::from_bytes([4; 32]);
        store
            .write(HISTORY, |t| t.insert(g.as_bytes(), vec![CBOR_BYTE, 0x19]))
            .unwrap();
        store
            .write(GROUPS, |t| t.insert(g.as_bytes(), vec![CBOR_BYTE, 0xa1]))
            .unwrap();
        for err in [
            store.history_from(&g).unwrap_err(),
            store.groups().unwrap_err(),
        ] {
            assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
            assert!(err.to_string().contains("record 0404"), "{err}");
        }
    }

    const CBOR_BYTE: u8 = format::CBOR;

    #[test]
    fn a_newer_store_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            db.open_tree(META)
                .unwrap()
                .insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        let err = Store::open_with(dir.path(), 1 << 20, None, 0)
            .err()
            .expect("must refuse");
        let text = err.to_string();
        assert!(
            text.starts_with("data dir written by a newer qun") && text.ends_with("upgrade qun"),
            "{text}"
        );
        assert!(text.contains(&format!("schema version {}", SCHEMA_VERSION + 1)));
        assert_eq!(schema(dir.path()), SCHEMA_VERSION + 1);
    }
}
