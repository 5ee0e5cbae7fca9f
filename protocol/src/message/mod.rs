//! Signed messages: [`Body`], its [`Kind`], the [`Envelope`] that carries a signature.
//!
//! The envelope's `body` is the canonical encoding of a [`Body`]; the signature covers
//! `DOMAIN_ENVELOPE || body`. The [`MsgId`] is the hash of the whole encoded envelope.
//!
//! ## Kinds
//! A [`Kind`] travels as `(tag: u16, payload: bytes)`, the payload being the canonical
//! encoding of that kind's struct. Each kind lives in its own file under [`kinds`] (tag,
//! name, control or not, validation, fold step into [`crate::group::State`]); the registry
//! below lists them, one line each, and writes the [`Kind`] enum and its dispatch. A node
//! that meets a tag it does not know keeps it as [`Kind::Unknown`] with the payload
//! untouched, and classifies it as a control op or not by its tag alone
//! ([`kinds::CONTROL_TAGS`]; what happens next is in [`kinds::unknown`]). New kinds get
//! new tags; a tag's payload struct never changes shape (a new shape is a new tag).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::group::{Action, State};
use crate::id::{self, AuthorId, GroupId, MsgId};
use crate::identity::{self, DOMAIN_ENVELOPE, Identity, Signature, SignatureError};
use crate::limits::*;
use crate::order::{MAX_COUNTER, OrderKey, Stamp};

pub mod kinds;

pub use crate::group::rekey::Rekey;
pub use kinds::announcement::Announcement;
pub use kinds::ban::Ban;
pub use kinds::join::Join;
pub use kinds::leave::Leave;
pub use kinds::meta::{Meta, validate_meta};
pub use kinds::mute::Mute;
pub use kinds::pin::Pin;
pub use kinds::remove::Remove;
pub use kinds::role::SetRole;
pub use kinds::text::Text;
pub use kinds::transfer::Transfer;
pub use kinds::unban::Unban;
pub use kinds::unmute::Unmute;
pub use kinds::unpin::Unpin;
pub use kinds::{CONTROL_TAGS, Preview, is_control_tag};
use kinds::{kind_def, kind_new, kind_pat, kind_ty};

// The registry: one line per kind, in tag order. See `kinds` for how to add one.
kinds::kinds! {
    /// Tag 1: text.
    Text(Text),
    /// Tag 2: group announcement.
    Announcement(Announcement),
    /// Tag 3: a member joined.
    Join(Join),
    /// Tag 4: a member left.
    Leave,
    /// Tag 5: group metadata.
    Meta(Meta),
    /// Tag 0x8010: the owner sets a member's role.
    Role(SetRole),
    /// Tag 0x8011: the owner hands the group on.
    Transfer(Transfer),
    /// Tag 0x8012: an admin removes a member.
    Remove(Remove),
    /// Tag 0x8013: an admin bans a key.
    Ban(Ban),
    /// Tag 0x8014: an admin lifts a ban.
    Unban(Unban),
    /// Tag 0x8015: an admin mutes a member.
    Mute(Mute),
    /// Tag 0x8016: an admin lifts a mute.
    Unmute(Unmute),
    /// Tag 0x8017: an admin pins a message.
    Pin(Pin),
    /// Tag 0x8018: an admin unpins a message.
    Unpin(Unpin),
    /// Tag 0x8019: an admin starts the next epoch.
    Rekey(Rekey),
}

/// Why a message is not acceptable. The variants after `Signature` are the protocol's
/// rules, one each, with the limit broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes did not decode.
    #[error("malformed message: {0}")]
    Codec(#[from] codec::Error),
    /// The signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A text message is empty or longer than [`MAX_TEXT_BYTES`].
    #[error("invalid message: text is {len} bytes; it must be 1..={max}")]
    TextLength {
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit, [`MAX_TEXT_BYTES`].
        max: usize,
    },
    /// A text message mentions more than [`MAX_MENTIONS`] members.
    #[error("invalid message: {count} mentions; at most {max}")]
    TooManyMentions {
        /// Members mentioned.
        count: usize,
        /// The limit, [`MAX_MENTIONS`].
        max: usize,
    },
    /// An announcement is longer than [`MAX_ANNOUNCEMENT_BYTES`].
    #[error("invalid message: announcement is {len} bytes; at most {max}")]
    AnnouncementTooLong {
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit, [`MAX_ANNOUNCEMENT_BYTES`].
        max: usize,
    },
    /// A group description is longer than [`MAX_DESCRIPTION_BYTES`].
    #[error("invalid message: description is {len} bytes; at most {max}")]
    DescriptionTooLong {
        /// Its length in UTF-8 bytes.
        len: usize,
        /// The limit, [`MAX_DESCRIPTION_BYTES`].
        max: usize,
    },
    /// A group has more than [`MAX_TAGS`] tags.
    #[error("invalid message: {count} tags; at most {max}")]
    TooManyTags {
        /// Tags given.
        count: usize,
        /// The limit, [`MAX_TAGS`].
        max: usize,
    },
    /// A kind this version knows was carried as [`Kind::Unknown`].
    #[error("invalid message: tag {tag} is known and cannot be carried raw")]
    KnownTagRaw {
        /// The tag.
        tag: u16,
    },
    /// An unknown kind's payload is over [`MAX_UNKNOWN_KIND_BYTES`].
    #[error("invalid message: unknown kind payload of {len} bytes; at most {max}")]
    UnknownPayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit, [`MAX_UNKNOWN_KIND_BYTES`].
        max: usize,
    },
    /// A hybrid stamp's logical counter is over [`MAX_COUNTER`] (no clock produces it).
    #[error("stamp {stamp} has a counter over the limit of {MAX_COUNTER}")]
    CounterTooLarge {
        /// The stamp.
        stamp: Stamp,
    },
    /// A group name or tag is refused ([`crate::text::validate_name`]).
    #[error(transparent)]
    Name(#[from] crate::text::NameError),
    /// A mute's duration is 0 or over [`MAX_MUTE_MS`].
    #[error(
        "invalid message: a mute of {ms} ms (about {} days) is out of range: it lasts 1 ms \
         to {max} ms ({} days)",
        ms / 86_400_000,
        max / 86_400_000
    )]
    MuteDuration {
        /// The duration given.
        ms: u64,
        /// The limit, [`MAX_MUTE_MS`].
        max: u64,
    },
    /// A role op names the owner's role: the owner changes only by transfer.
    #[error("invalid message: a role op cannot make an owner; use transfer")]
    OwnerByRole,
    /// A re-key's shape is refused ([`Rekey::validate`]).
    #[error("invalid message: {0}")]
    Rekey(#[from] crate::group::rekey::Error),
}

impl Kind {
    /// The wire tag.
    pub fn tag(&self) -> u16 {
        match self {
            Kind::Unknown { tag, .. } => *tag,
            k => k.op().map_or(0, |op| op.tag()),
        }
    }

    /// A short lowercase name (`text`, `announcement`, ...), as shown by the API;
    /// `unknown` for a kind this version does not know.
    pub fn name(&self) -> &'static str {
        self.op().map_or("unknown", |op| op.name())
    }

    /// Whether this kind changes group state (and so is folded by [`crate::group::State`]).
    /// An unknown kind is a control op when its tag is in [`CONTROL_TAGS`].
    pub fn is_control(&self) -> bool {
        match self {
            Kind::Unknown { tag, .. } => is_control_tag(*tag),
            k => k.op().is_some_and(|op| op.control()),
        }
    }

    /// Whether only the group's admins may author this kind.
    pub fn is_admin_only(&self) -> bool {
        self.op().is_some_and(|op| op.admin_only())
    }

    /// Whether this kind is a post (text, announcement): a member speaking, for activity.
    pub fn is_post(&self) -> bool {
        self.op().is_some_and(|op| op.post())
    }

    /// Whether this kind is a membership op (join, leave), which
    /// [`crate::group::State::admits`] always takes.
    pub fn is_membership(&self) -> bool {
        self.op().is_some_and(|op| op.membership())
    }

    /// What a user sees of it: its text or a short description, reply and mentions.
    pub fn preview(&self) -> Preview {
        match self {
            Kind::Unknown { tag, .. } => kinds::unknown::preview(*tag),
            k => k.op().map(|op| op.show()).unwrap_or_default(),
        }
    }

    fn payload(&self) -> Result<Vec<u8>, codec::Error> {
        match self {
            Kind::Unknown { payload, .. } => Ok(payload.clone()),
            k => k.op().map_or(Ok(Vec::new()), |op| op.payload()),
        }
    }

    /// Checks the protocol's limits and rules for this kind.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Kind::Unknown { tag, payload } => kinds::unknown::validate(*tag, payload),
            k => k.op().map_or(Ok(()), |op| op.check()),
        }
    }

    /// What `msg` (of this kind) asks to do, for [`crate::group::State::may`]
    /// ([`kinds::Def::action`]). A kind this version does not know is an
    /// [`Action::Other`] if it is a control op, else an [`Action::Post`].
    pub fn action<'a>(&'a self, msg: &Verified) -> Action<'a> {
        let at = msg.order_key();
        match self {
            Kind::Unknown { tag, .. } if is_control_tag(*tag) => Action::Other { at },
            k => k.op().map_or(Action::Post { at }, |op| op.act(msg)),
        }
    }

    /// The kind's fold step ([`kinds::Def::fold`]); [`crate::group::State::apply`] calls it
    /// after the checks every op gets.
    pub(crate) fn fold(&self, state: &mut State, msg: &Verified) {
        match self {
            Kind::Unknown { tag, .. } => kinds::unknown::fold(*tag, state),
            k => {
                if let Some(op) = k.op() {
                    op.fold_into(state, msg)
                }
            }
        }
    }
}

/// The wire form of a [`Kind`]: `(tag, payload bytes)`.
#[derive(Serialize, Deserialize)]
struct RawKind(u16, #[serde(with = "codec::bytes")] Vec<u8>);

impl Serialize for Kind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let payload = self.payload().map_err(serde::ser::Error::custom)?;
        RawKind(self.tag(), payload).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let RawKind(tag, payload) = Deserialize::deserialize(d)?;
        Kind::from_parts(tag, payload).map_err(D::Error::custom)
    }
}

/// The signed content of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The group it belongs to.
    pub group: GroupId,
    /// The epoch it was sent in.
    pub epoch: u64,
    /// Hybrid clock stamp in the group (see [`crate::order`]): where it sorts.
    pub stamp: Stamp,
    /// What it is.
    pub kind: Kind,
}

impl Body {
    /// Checks the kind's limits and the stamp's counter bound. How far ahead the stamp may
    /// be depends on the receiver's clock: see [`crate::order::check`].
    pub fn validate(&self) -> Result<(), Error> {
        if !self.stamp.is_legacy() && self.stamp.counter > MAX_COUNTER {
            return Err(Error::CounterTooLarge { stamp: self.stamp });
        }
        self.kind.validate()
    }
}

/// A signed message: who wrote it, their signature, and the encoded [`Body`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The author's key.
    pub author: AuthorId,
    /// Signature over `DOMAIN_ENVELOPE || body`.
    pub signature: Signature,
    /// Canonical encoding of the [`Body`].
    #[serde(with = "codec::bytes")]
    pub body: Vec<u8>,
}

/// A message whose signature and limits have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Its id.
    pub id: MsgId,
    /// The envelope as received (re-encodes to the same bytes).
    pub envelope: Envelope,
    /// The decoded body.
    pub body: Body,
    /// The canonical encoding of the envelope: what the id hashes, what is sealed into
    /// frames and what the store keeps. Kept so no path encodes the same envelope twice.
    pub encoded: Vec<u8>,
}

/// Domain prefix of message ids.
const DOMAIN_MSG_ID: &[u8] = b"qun/v1/msg\0";

/// The id of an encoded envelope.
fn msg_id(encoded: &[u8]) -> MsgId {
    MsgId::from_bytes(id::hash(DOMAIN_MSG_ID, encoded))
}

impl Verified {
    /// The author.
    pub fn author(&self) -> AuthorId {
        self.envelope.author
    }

    /// Its position in the group's order.
    pub fn order_key(&self) -> OrderKey {
        OrderKey {
            stamp: self.body.stamp,
            id: self.id,
        }
    }
}

impl Envelope {
    /// Validates `body`, encodes it and signs it.
    pub fn sign(identity: &Identity, body: &Body) -> Result<Verified, Error> {
        body.validate()?;
        let bytes = codec::encode(body)?;
        if bytes.len() > MAX_BODY_BYTES {
            return Err(codec::Error::TooLarge {
                len: bytes.len(),
                max: MAX_BODY_BYTES,
            }
            .into());
        }
        let envelope = Envelope {
            author: identity.author(),
            signature: identity.sign(DOMAIN_ENVELOPE, &bytes),
            body: bytes,
        };
        let encoded = envelope.encode()?;
        Ok(Verified {
            id: msg_id(&encoded),
            envelope,
            body: body.clone(),
            encoded,
        })
    }

    /// Decodes and verifies an encoded envelope.
    pub fn decode_verified(bytes: &[u8]) -> Result<Verified, Error> {
        let envelope: Envelope = codec::decode(bytes, MAX_ENVELOPE_BYTES)?;
        envelope.verify_encoded(bytes.to_vec())
    }

    /// Decodes an envelope from local storage, where it was verified before it was written:
    /// decodes and checks limits but skips the signature check.
    pub fn decode_stored(bytes: &[u8]) -> Result<Verified, Error> {
        let envelope: Envelope = codec::decode(bytes, MAX_ENVELOPE_BYTES)?;
        let body: Body = codec::decode(&envelope.body, MAX_BODY_BYTES)?;
        Ok(Verified {
            id: msg_id(bytes),
            envelope,
            body,
            encoded: bytes.to_vec(),
        })
    }

    /// Checks the signature (strictly), decodes the body and checks its limits.
    pub fn verify(self) -> Result<Verified, Error> {
        let encoded = self.encode()?;
        self.verify_encoded(encoded)
    }

    /// Verifies an envelope whose canonical encoding is `encoded`.
    fn verify_encoded(self, encoded: Vec<u8>) -> Result<Verified, Error> {
        let body: Body = codec::decode(&self.body, MAX_BODY_BYTES)?;
        body.validate()?;
        identity::verify(&self.author, DOMAIN_ENVELOPE, &self.body, &self.signature)?;
        Ok(Verified {
            id: msg_id(&encoded),
            envelope: self,
            body,
            encoded,
        })
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }

    /// The message id: hash of the canonical encoding.
    pub fn id(&self) -> Result<MsgId, codec::Error> {
        Ok(msg_id(&self.encode()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_tags_names_and_control_range_agree() {
        let mut tags = std::collections::BTreeSet::new();
        let mut names = std::collections::BTreeSet::new();
        for &(tag, name, control) in REGISTRY {
            assert!(tags.insert(tag), "tag {tag} twice");
            assert!(names.insert(name), "name {name} twice");
            assert_ne!(name, "unknown");
            // A control kind has a tag in the reserved range (or one of the legacy control
            // tags); any other kind has a tag below it.
            assert_eq!(control, is_control_tag(tag), "{name} (tag {tag})");
            assert_eq!(
                CONTROL_TAGS.contains(&tag),
                control && !kinds::LEGACY_CONTROL_TAGS.contains(&tag),
                "{name} (tag {tag})"
            );
        }
        assert_eq!(tags.iter().copied().collect::<Vec<_>>(), KNOWN_TAGS);
    }

    /// The body as versions before hybrid clocks wrote it.
    #[derive(Serialize)]
    struct LamportBody {
        group: GroupId,
        epoch: u64,
        lamport: u64,
        timestamp_ms: u64,
        kind: Kind,
    }

    #[test]
    fn bodies_stored_before_hybrid_clocks_still_read() {
        let kind = Kind::Text(Text {
            text: "旧消息".into(),
            reply_to: None,
            mentions: Vec::new(),
        });
        let old = LamportBody {
            group: GroupId::from_bytes([1; 32]),
            epoch: 2,
            lamport: 300,
            timestamp_ms: 1_700_000_000_000,
            kind: kind.clone(),
        };
        let bytes = codec::encode(&old).unwrap();
        let body: Body = codec::decode(&bytes, MAX_BODY_BYTES).unwrap();
        assert_eq!(body.stamp, Stamp::new(300, 1_700_000_000_000));
        assert_eq!(body.kind, kind);
        assert!(body.stamp.is_legacy());
        assert_eq!(body.stamp.wall_ms(), 1_700_000_000_000);
        assert_eq!(body.validate(), Ok(()));
        // It sorts before anything a hybrid clock stamps.
        let mut clock = crate::order::Clock::new();
        assert!(clock.stamp(1_600_000_000_000) > body.stamp);
        // Same bytes both ways.
        assert_eq!(codec::encode(&body).unwrap(), bytes);
    }
}
