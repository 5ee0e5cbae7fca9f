//! Discovery state on disk, in trees of the node's sled database:
//! * `cards`: group id → the newest valid signed card we hold (ours, or fetched), which
//!   we republish and hand to searchers;
//! * `profiles`: author id → the newest valid signed profile we hold (ours included);
//! * `join_in`: group id ‖ requester → a join request we received, and our decision;
//! * `join_out`: group id → a join request we sent and still wait on;
//! * `short_invites`: DHT key → a short invite record we made ([`HeldInvite`]), put to the
//!   DHT again every announcement round until it expires.
//!
//! Everything here was validated before it was written; it is decoded with limits anyway.
//! Values are metadata records in the store's [format](super::format): a format byte and
//! a CBOR map, the signed objects inside kept in their protocol encoding.
//!
//! The display names of the held profiles are also kept in memory ([`Names`], read once at
//! start and updated by every [`Records::put_profile`]), so that showing authors by name
//! costs a map lookup, not a decode (and never a DHT lookup). The API's reads share them
//! ([`Records::names`]).

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use qun_protocol::discovery::authority::Authority;
use qun_protocol::discovery::card::{ProvenCard, SignedCard};
use qun_protocol::discovery::join::{ProvenApproval, SignedApproval, SignedRequest};
use qun_protocol::discovery::profile::SignedProfile;
use qun_protocol::{AuthorId, GroupId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::format::{self, At};
use super::{Error, Store};

/// Largest value in these trees: a join request with an approval (up to
/// [`qun_protocol::limits::MAX_JOIN_BYTES`], a full handover of epoch secrets) and its
/// authority fit.
const MAX_VALUE_BYTES: usize = 32 * 1024;

/// A join request we received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Incoming {
    /// The signed request.
    #[serde(with = "format::wire")]
    pub request: SignedRequest,
    /// Our approval, once approved.
    #[serde(with = "format::wire_opt")]
    pub approval: Option<SignedApproval>,
    /// Whether we rejected it.
    pub rejected: bool,
    /// Our authority when we approved (empty for the genesis owner's approvals, and in
    /// records written before admins could approve).
    #[serde(default, with = "format::wire")]
    pub approval_authority: Authority,
}

impl Incoming {
    /// Our approval with our authority, once approved.
    pub fn proven_approval(&self) -> Option<ProvenApproval> {
        self.approval.clone().map(|signed| ProvenApproval {
            signed,
            authority: self.approval_authority.clone(),
        })
    }

    /// `pending`, `approved` or `rejected`.
    pub fn status(&self) -> &'static str {
        if self.approval.is_some() {
            "approved"
        } else if self.rejected {
            "rejected"
        } else {
            "pending"
        }
    }
}

/// A join request we sent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outgoing {
    /// The group's card (owner, addresses).
    #[serde(with = "format::wire")]
    pub card: SignedCard,
    /// The signed request.
    #[serde(with = "format::wire")]
    pub request: SignedRequest,
    /// History wanted once joined.
    pub since_join: bool,
    /// The card's authority (empty for a card of the genesis owner's, and in records
    /// written before admins could sign cards).
    #[serde(default, with = "format::wire")]
    pub card_authority: Authority,
}

impl Outgoing {
    /// The card we asked with, with its authority.
    pub fn proven_card(&self) -> ProvenCard {
        ProvenCard {
            signed: self.card.clone(),
            authority: self.card_authority.clone(),
        }
    }
}

/// A short invite record we made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldInvite {
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
    /// The signed, sealed record ([`qun_protocol::invite::short`]).
    #[serde(with = "format::bytes")]
    pub value: Vec<u8>,
}

/// A card held (the `cards` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HeldCard {
    /// The signed card.
    #[serde(with = "format::wire")]
    pub card: SignedCard,
    /// Its signer's authority (empty for the genesis owner's cards, and in records
    /// written before admins could sign cards).
    #[serde(default, with = "format::wire")]
    pub authority: Authority,
}

/// A profile held (the `profiles` tree).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HeldProfile {
    /// The signed profile.
    #[serde(with = "format::wire")]
    pub profile: SignedProfile,
}

/// The discovery trees, reached through the store (so they follow it when it is reopened
/// after a write failure).
pub struct Records {
    store: Store,
    /// The display name of every profile in `profiles`.
    names: Names,
}

/// The display name of every held profile, by author; shared by the event loop (which
/// updates it as it stores profiles) and the API's reads. Cheap to clone.
#[derive(Clone, Default)]
pub struct Names(Arc<RwLock<HashMap<AuthorId, String>>>);

impl Names {
    /// The display name of `author`'s held profile (signature-checked when it was stored).
    pub fn get(&self, author: &AuthorId) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(author)
            .cloned()
    }

    /// Whether a name is held for `author`.
    pub fn has(&self, author: &AuthorId) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(author)
    }

    fn insert(&self, author: AuthorId, name: String) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(author, name);
    }
}

/// Tree names.
pub(crate) const CARDS: &str = "cards";
pub(crate) const PROFILES: &str = "profiles";
pub(crate) const JOIN_IN: &str = "join_in";
pub(crate) const JOIN_OUT: &str = "join_out";
pub(crate) const SHORT_INVITES: &str = "short_invites";

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, Error> {
    format::encode(v)
}

/// Decodes a value of tree `tree` stored under `key`.
pub(crate) fn dec<T: DeserializeOwned>(tree: &str, key: &[u8], b: &[u8]) -> Result<T, Error> {
    format::decode(&At { tree, key }, b, MAX_VALUE_BYTES)
}

fn get<T: DeserializeOwned>(tree: &sled::Tree, key: &[u8]) -> Result<Option<T>, Error> {
    let name = String::from_utf8_lossy(&tree.name()).into_owned();
    tree.get(key)?.map(|v| dec(&name, key, &v)).transpose()
}

fn all<T: DeserializeOwned>(tree: &sled::Tree, prefix: &[u8]) -> Result<Vec<T>, Error> {
    let name = String::from_utf8_lossy(&tree.name()).into_owned();
    tree.scan_prefix(prefix)
        .map(|kv| {
            let (k, v) = kv?;
            dec(&name, &k, &v)
        })
        .collect()
}

fn pair_key(group: &GroupId, author: &AuthorId) -> [u8; 64] {
    let mut k = [0u8; 64];
    k[..32].copy_from_slice(group.as_bytes());
    k[32..].copy_from_slice(author.as_bytes());
    k
}

/// The profile held for an author in `store`'s `profiles` tree.
pub(crate) fn profile_in(store: &Store, author: &AuthorId) -> Result<Option<SignedProfile>, Error> {
    let held: Option<HeldProfile> = get(&store.tree(PROFILES)?, author.as_bytes())?;
    Ok(held.map(|h| h.profile))
}

impl Records {
    /// Opens the trees in `store`'s database.
    pub fn open(store: &Store) -> Result<Self, Error> {
        for name in [CARDS, PROFILES, JOIN_IN, JOIN_OUT, SHORT_INVITES] {
            store.tree(name)?;
        }
        let names = Names::default();
        for kv in store.tree(PROFILES)?.iter() {
            let (k, v) = kv?;
            match dec::<HeldProfile>(PROFILES, &k, &v) {
                Ok(p) => names.insert(p.profile.signer, p.profile.value.name),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable profile"),
            }
        }
        Ok(Self {
            store: store.clone(),
            names,
        })
    }

    /// The display name of `author`'s held profile (signature-checked when it was stored).
    pub fn name(&self, author: &AuthorId) -> Option<String> {
        self.names.get(author)
    }

    /// Whether a name is held for `author`.
    pub fn has_name(&self, author: &AuthorId) -> bool {
        self.names.has(author)
    }

    /// The names, shared (see [`Names`]).
    pub fn names(&self) -> Names {
        self.names.clone()
    }

    /// The card held for a group.
    pub fn card(&self, group: &GroupId) -> Result<Option<ProvenCard>, Error> {
        let held: Option<HeldCard> = get(&self.store.tree(CARDS)?, group.as_bytes())?;
        Ok(held.map(|h| ProvenCard {
            signed: h.card,
            authority: h.authority,
        }))
    }

    /// Holds a card (the caller checked it is valid and newer).
    pub fn put_card(&self, group: &GroupId, card: &ProvenCard) -> Result<(), Error> {
        let bytes = enc(&HeldCard {
            card: card.signed.clone(),
            authority: card.authority.clone(),
        })?;
        self.store
            .write(CARDS, |t| t.insert(group.as_bytes(), bytes))?;
        Ok(())
    }

    /// Forgets a group's card.
    pub fn remove_card(&self, group: &GroupId) -> Result<(), Error> {
        self.store.write(CARDS, |t| t.remove(group.as_bytes()))?;
        Ok(())
    }

    /// Keeps a short invite record we made, to publish until it expires.
    pub fn put_short_invite(&self, key: &[u8], held: &HeldInvite) -> Result<(), Error> {
        let bytes = enc(held)?;
        self.store.write(SHORT_INVITES, |t| t.insert(key, bytes))?;
        Ok(())
    }

    /// Forgets a short invite record.
    pub fn remove_short_invite(&self, key: &[u8]) -> Result<(), Error> {
        self.store.write(SHORT_INVITES, |t| t.remove(key))?;
        Ok(())
    }

    /// The short invite records that have not expired at `now_ms` (key, record); expired
    /// ones are dropped from disk.
    pub fn short_invites(&self, now_ms: u64) -> Result<Vec<(Vec<u8>, HeldInvite)>, Error> {
        let mut live = Vec::new();
        let mut dead = Vec::new();
        for kv in self.store.tree(SHORT_INVITES)?.iter() {
            let (k, v) = kv?;
            match dec::<HeldInvite>(SHORT_INVITES, &k, &v) {
                Ok(h) if h.expires_ms > now_ms => live.push((k.to_vec(), h)),
                _ => dead.push(k.to_vec()),
            }
        }
        for k in dead {
            self.remove_short_invite(&k)?;
        }
        Ok(live)
    }

    /// The profile held for an author.
    pub fn profile(&self, author: &AuthorId) -> Result<Option<SignedProfile>, Error> {
        profile_in(&self.store, author)
    }

    /// Holds a profile (the caller checked it is valid and newer).
    pub fn put_profile(&mut self, profile: &SignedProfile) -> Result<(), Error> {
        let bytes = enc(&HeldProfile {
            profile: profile.clone(),
        })?;
        self.store
            .write(PROFILES, |t| t.insert(profile.signer.as_bytes(), bytes))?;
        self.names
            .insert(profile.signer, profile.value.name.clone());
        Ok(())
    }

    /// A join request received.
    pub fn incoming(&self, group: &GroupId, who: &AuthorId) -> Result<Option<Incoming>, Error> {
        get(&self.store.tree(JOIN_IN)?, &pair_key(group, who))
    }

    /// Every join request received for a group.
    pub fn incoming_all(&self, group: &GroupId) -> Result<Vec<Incoming>, Error> {
        all(&self.store.tree(JOIN_IN)?, group.as_bytes())
    }

    /// Saves a received join request.
    pub fn put_incoming(&self, group: &GroupId, inc: &Incoming) -> Result<(), Error> {
        let bytes = enc(inc)?;
        self.store.write(JOIN_IN, |t| {
            t.insert(pair_key(group, &inc.request.signer), bytes)
        })?;
        Ok(())
    }

    /// Every join request we sent and wait on.
    pub fn outgoing_all(&self) -> Result<Vec<(GroupId, Outgoing)>, Error> {
        let mut out = Vec::new();
        for kv in self.store.tree(JOIN_OUT)?.iter() {
            let (k, v) = kv?;
            let id: [u8; 32] = k.as_ref().try_into().map_err(|_| {
                Error::Corrupt(format!(
                    "{}: not a group id",
                    At {
                        tree: JOIN_OUT,
                        key: &k
                    }
                ))
            })?;
            out.push((GroupId::from_bytes(id), dec(JOIN_OUT, &k, &v)?));
        }
        Ok(out)
    }

    /// Saves a join request we sent.
    pub fn put_outgoing(&self, group: &GroupId, out: &Outgoing) -> Result<(), Error> {
        let bytes = enc(out)?;
        self.store
            .write(JOIN_OUT, |t| t.insert(group.as_bytes(), bytes))?;
        Ok(())
    }

    /// Forgets a join request we sent (joined, or rejected).
    pub fn remove_outgoing(&self, group: &GroupId) -> Result<(), Error> {
        self.store.write(JOIN_OUT, |t| t.remove(group.as_bytes()))?;
        Ok(())
    }
}
