//! Groups: the signed genesis that names a group, and the group state fold.
//!
//! A group is born from a [`Genesis`] signed by its owner; the [`GroupId`] is the hash of
//! the encoded [`SignedGenesis`], so the id commits to the owner, name and creation time.
//!
//! ## State
//! [`State`] is a pure fold of the group's control messages (announcement, join, leave,
//! meta) in the group's total order ([`crate::OrderKey`]). An op counts only if its author
//! held the right at its position in the order (today: announcement and meta are the
//! owner's). Any two nodes holding the same ops compute the same state, whatever order the
//! ops arrived in, because the node folds them sorted.
//!
//! ## Members who left
//! A member's membership ops (join, leave) sit in group order like everything else. A
//! message (any kind but join and leave) whose author's last membership op before it, in
//! group order, is a leave is refused by every node ([`State::admits`]): what a member
//! writes between its leave and a new join is never stored nor forwarded. A member whose
//! latest op is a leave is out ([`State::has_left`]): its sync requests are answered as a
//! stranger's. The rule depends only on the ops, so every node that holds them decides the
//! same; a node that lacks a rejoin refuses a post written after it for now, and takes it
//! when sync brings the post again after the rejoin arrived. (A member who left still holds
//! the epoch secret; only re-keying, which is not built yet, takes that away.)

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::{self, AuthorId, GroupId, MsgId};
use crate::identity::{self, DOMAIN_GENESIS, Identity, Signature};
use crate::limits::*;
use crate::message::{self, Kind, Verified};
use crate::order::OrderKey;
use crate::text;

/// Who can find and join a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Card and secret in the DHT: anyone can find and join.
    Public,
    /// Card in the DHT; joining needs an admin's approval.
    Listed,
    /// Invite codes only.
    Private,
}

impl Visibility {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Listed => "listed",
            Visibility::Private => "private",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "public" => Ok(Visibility::Public),
            "listed" => Ok(Visibility::Listed),
            "private" => Ok(Visibility::Private),
            other => Err(format!(
                "unknown visibility {other:?}: use public, listed or private"
            )),
        }
    }
}

/// What a group is born from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    /// The owner's key.
    pub owner: AuthorId,
    /// The group name, 1..=`MAX_NAME_BYTES` bytes.
    pub name: String,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// Visibility at creation.
    pub visibility: Visibility,
    /// Random bytes, so two groups with the same name and time differ.
    pub nonce: [u8; 16],
}

/// A genesis with its owner's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedGenesis {
    /// The genesis.
    pub genesis: Genesis,
    /// The owner's signature over `DOMAIN_GENESIS || encode(genesis)`.
    pub signature: Signature,
}

/// Checks a group name: at most `MAX_NAME_BYTES`, something visible, no control, format or
/// bidi characters ([`text::validate_name`]). Every node runs it on every genesis it meets.
pub fn validate_name(name: &str) -> Result<(), text::NameError> {
    text::validate_name(text::NameKind::Group, name, MAX_NAME_BYTES)
}

impl SignedGenesis {
    /// Creates and signs a genesis; `nonce` is random bytes from the caller.
    pub fn create(
        owner: &Identity,
        name: &str,
        created_ms: u64,
        visibility: Visibility,
        nonce: [u8; 16],
    ) -> Result<Self, message::Error> {
        validate_name(name)?;
        let genesis = Genesis {
            owner: owner.author(),
            name: name.to_owned(),
            created_ms,
            visibility,
            nonce,
        };
        let signature = owner.sign(DOMAIN_GENESIS, &codec::encode(&genesis)?);
        Ok(Self { genesis, signature })
    }

    /// Checks the name and the owner's signature.
    pub fn verify(&self) -> Result<(), message::Error> {
        validate_name(&self.genesis.name)?;
        let bytes = codec::encode(&self.genesis)?;
        identity::verify(&self.genesis.owner, DOMAIN_GENESIS, &bytes, &self.signature)?;
        Ok(())
    }

    /// The group id: hash of the encoded signed genesis.
    pub fn id(&self) -> Result<GroupId, codec::Error> {
        Ok(GroupId::from_bytes(id::hash(
            b"qun/v1/group\0",
            &codec::encode(self)?,
        )))
    }

    /// Decodes and verifies.
    pub fn decode(bytes: &[u8]) -> Result<Self, message::Error> {
        let g: SignedGenesis = codec::decode(bytes, MAX_GENESIS_BYTES)?;
        g.verify()?;
        Ok(g)
    }
}

/// The current announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The message that set it.
    pub id: MsgId,
    /// Who set it.
    pub author: AuthorId,
    /// Its text.
    pub text: String,
    /// When it was set (author's clock).
    pub timestamp_ms: u64,
}

/// Group state: a pure fold of control messages in group order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The owner.
    pub owner: AuthorId,
    /// The name.
    pub name: String,
    /// Description from the latest meta.
    pub description: String,
    /// Tags from the latest meta.
    pub tags: Vec<String>,
    /// Current members.
    pub members: BTreeSet<AuthorId>,
    /// Current announcement, if any.
    pub announcement: Option<Announcement>,
    /// Each author's join (`true`) and leave (`false`) ops by order key; the owner's leaves,
    /// which have no effect, are not kept.
    pub membership: BTreeMap<AuthorId, BTreeMap<OrderKey, bool>>,
}

/// Why the group state refuses a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The author's last membership op before this message, in group order, is a leave.
    #[error("{author} left the group (at {}) before this message", left_at.stamp)]
    AuthorLeft {
        /// The author.
        author: AuthorId,
        /// The order key of its leave op.
        left_at: OrderKey,
    },
}

/// The outcome of applying one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The op changed (or confirmed) the state.
    Ok,
    /// The author lacked the right at this position; the op has no effect.
    NotAllowed,
}

impl State {
    /// The state of a fresh group.
    pub fn new(genesis: &Genesis) -> Self {
        Self {
            owner: genesis.owner,
            name: genesis.name.clone(),
            description: String::new(),
            tags: Vec::new(),
            members: BTreeSet::from([genesis.owner]),
            announcement: None,
            membership: BTreeMap::new(),
        }
    }

    /// Whether `author` may set announcements and meta.
    pub fn is_admin(&self, author: &AuthorId) -> bool {
        *author == self.owner
    }

    /// Whether `author`'s latest membership op is a leave.
    pub fn has_left(&self, author: &AuthorId) -> bool {
        self.membership
            .get(author)
            .and_then(|ops| ops.last_key_value())
            .is_some_and(|(_, joined)| !joined)
    }

    /// Whether a node takes `msg` (stores and forwards it) given the ops folded so far:
    /// membership ops always; anything else is refused when its author's last membership
    /// op before it is a leave.
    pub fn admits(&self, msg: &Verified) -> Result<(), Refused> {
        if matches!(msg.body.kind, Kind::Join(_) | Kind::Leave) {
            return Ok(());
        }
        let author = msg.author();
        let last = self
            .membership
            .get(&author)
            .and_then(|ops| ops.range(..msg.order_key()).next_back());
        match last {
            Some((left_at, false)) => Err(Refused::AuthorLeft {
                author,
                left_at: *left_at,
            }),
            _ => Ok(()),
        }
    }

    /// Applies one message. Messages must be applied in group order.
    pub fn apply(&mut self, msg: &Verified) -> Applied {
        let author = msg.author();
        if self.admits(msg).is_err() {
            return Applied::NotAllowed;
        }
        match &msg.body.kind {
            Kind::Announcement(a) => {
                if !self.is_admin(&author) {
                    return Applied::NotAllowed;
                }
                self.announcement = (!a.text.is_empty()).then(|| Announcement {
                    id: msg.id,
                    author,
                    text: a.text.clone(),
                    timestamp_ms: msg.body.stamp.wall_ms(),
                });
            }
            Kind::Meta(m) => {
                if !self.is_admin(&author) {
                    return Applied::NotAllowed;
                }
                self.description = m.description.clone();
                self.tags = m.tags.clone();
            }
            Kind::Join(_) => {
                self.membership
                    .entry(author)
                    .or_default()
                    .insert(msg.order_key(), true);
                if !self.has_left(&author) {
                    self.members.insert(author);
                }
            }
            Kind::Text(_) => {
                self.members.insert(author);
            }
            Kind::Leave => {
                if author != self.owner {
                    self.membership
                        .entry(author)
                        .or_default()
                        .insert(msg.order_key(), false);
                    if self.has_left(&author) {
                        self.members.remove(&author);
                    }
                }
            }
            Kind::Unknown { .. } => {}
        }
        Applied::Ok
    }

    /// Folds messages sorted into group order.
    pub fn fold<'a>(genesis: &Genesis, msgs: impl IntoIterator<Item = &'a Verified>) -> Self {
        let mut sorted: Vec<&Verified> = msgs.into_iter().collect();
        sorted.sort_by_key(|m| m.order_key());
        let mut state = Self::new(genesis);
        for m in sorted {
            state.apply(m);
        }
        state
    }
}
