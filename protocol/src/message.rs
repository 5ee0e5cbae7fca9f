//! Signed messages: [`Body`], its [`Kind`], the [`Envelope`] that carries a signature.
//!
//! The envelope's `body` is the canonical encoding of a [`Body`]; the signature covers
//! `DOMAIN_ENVELOPE || body`. The [`MsgId`] is the hash of the whole encoded envelope.
//!
//! ## Versioned kinds
//! A [`Kind`] travels as `(tag: u16, payload: bytes)`, the payload being the canonical
//! encoding of that kind's struct. A node that meets a tag it does not know keeps it as
//! [`Kind::Unknown`] with the payload untouched: the signature still verifies, the message is
//! stored and forwarded, and a newer node reads it. New kinds get new tags at the end; a
//! tag's payload struct never changes shape (a new shape is a new tag).

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec;
use crate::id::{self, AuthorId, GroupId, MsgId};
use crate::identity::{self, DOMAIN_ENVELOPE, Identity, Signature, SignatureError};
use crate::limits::*;
use crate::order::{MAX_COUNTER, OrderKey, Stamp};
use crate::text;

/// Why a message is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes did not decode.
    #[error("malformed message: {0}")]
    Codec(#[from] codec::Error),
    /// The signature did not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A field breaks a protocol limit or rule.
    #[error("invalid message: {0}")]
    Invalid(String),
    /// A hybrid stamp's logical counter is over [`MAX_COUNTER`] (no clock produces it).
    #[error("stamp {stamp} has a counter over the limit of {MAX_COUNTER}")]
    CounterTooLarge {
        /// The stamp.
        stamp: Stamp,
    },
    /// A group name or tag is refused ([`crate::text::validate_name`]).
    #[error(transparent)]
    Name(#[from] crate::text::NameError),
}

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text, 1..=`MAX_TEXT_BYTES` bytes of UTF-8.
    pub text: String,
    /// The message this one replies to.
    pub reply_to: Option<MsgId>,
    /// Members mentioned.
    pub mentions: Vec<AuthorId>,
}

/// The group announcement (群公告); an empty text clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The announcement text.
    pub text: String,
}

/// A member says they joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Who invited them, if known.
    pub inviter: Option<AuthorId>,
}

/// Group metadata set by the owner (or, later, admins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Free text about the group.
    pub description: String,
    /// Search tags.
    pub tags: Vec<String>,
}

/// What a message is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
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
    /// A kind this version does not know, kept verbatim.
    Unknown {
        /// Its tag.
        tag: u16,
        /// Its payload, undecoded.
        payload: Vec<u8>,
    },
}

const TAG_TEXT: u16 = 1;
const TAG_ANNOUNCEMENT: u16 = 2;
const TAG_JOIN: u16 = 3;
const TAG_LEAVE: u16 = 4;
const TAG_META: u16 = 5;
const KNOWN_TAGS: [u16; 5] = [TAG_TEXT, TAG_ANNOUNCEMENT, TAG_JOIN, TAG_LEAVE, TAG_META];

impl Kind {
    /// The wire tag.
    pub fn tag(&self) -> u16 {
        match self {
            Kind::Text(_) => TAG_TEXT,
            Kind::Announcement(_) => TAG_ANNOUNCEMENT,
            Kind::Join(_) => TAG_JOIN,
            Kind::Leave => TAG_LEAVE,
            Kind::Meta(_) => TAG_META,
            Kind::Unknown { tag, .. } => *tag,
        }
    }

    /// A short lowercase name (`text`, `announcement`, ...), as shown by the API.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Text(_) => "text",
            Kind::Announcement(_) => "announcement",
            Kind::Join(_) => "join",
            Kind::Leave => "leave",
            Kind::Meta(_) => "meta",
            Kind::Unknown { .. } => "unknown",
        }
    }

    /// Whether this kind changes group state (and so is folded by [`crate::group::State`]).
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            Kind::Announcement(_) | Kind::Join(_) | Kind::Leave | Kind::Meta(_)
        )
    }

    fn payload(&self) -> Result<Vec<u8>, codec::Error> {
        match self {
            Kind::Text(t) => codec::encode(t),
            Kind::Announcement(a) => codec::encode(a),
            Kind::Join(j) => codec::encode(j),
            Kind::Leave => Ok(Vec::new()),
            Kind::Meta(m) => codec::encode(m),
            Kind::Unknown { payload, .. } => Ok(payload.clone()),
        }
    }

    fn from_parts(tag: u16, payload: Vec<u8>) -> Result<Self, codec::Error> {
        let max = MAX_BODY_BYTES;
        Ok(match tag {
            TAG_TEXT => Kind::Text(codec::decode(&payload, max)?),
            TAG_ANNOUNCEMENT => Kind::Announcement(codec::decode(&payload, max)?),
            TAG_JOIN => Kind::Join(codec::decode(&payload, max)?),
            TAG_LEAVE if payload.is_empty() => Kind::Leave,
            TAG_LEAVE => return Err(codec::Error::Malformed("leave carries no payload".into())),
            TAG_META => Kind::Meta(codec::decode(&payload, max)?),
            tag => Kind::Unknown { tag, payload },
        })
    }

    /// Checks the protocol's limits and rules for this kind.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |s: String| Err(Error::Invalid(s));
        match self {
            Kind::Text(t) => {
                if t.text.is_empty() || t.text.len() > MAX_TEXT_BYTES {
                    return bad(format!(
                        "text is {} bytes; it must be 1..={MAX_TEXT_BYTES}",
                        t.text.len()
                    ));
                }
                if t.mentions.len() > MAX_MENTIONS {
                    return bad(format!(
                        "{} mentions; at most {MAX_MENTIONS}",
                        t.mentions.len()
                    ));
                }
            }
            Kind::Announcement(a) if a.text.len() > MAX_ANNOUNCEMENT_BYTES => {
                return bad(format!(
                    "announcement is {} bytes; at most {MAX_ANNOUNCEMENT_BYTES}",
                    a.text.len()
                ));
            }
            Kind::Meta(m) => validate_meta(m)?,
            Kind::Unknown { tag, payload } => {
                if KNOWN_TAGS.contains(tag) {
                    return bad(format!("tag {tag} is known and cannot be carried raw"));
                }
                if payload.len() > MAX_UNKNOWN_KIND_BYTES {
                    return bad(format!("unknown kind payload of {} bytes", payload.len()));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Checks a meta against the description and tag limits.
pub fn validate_meta(m: &Meta) -> Result<(), Error> {
    if m.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::Invalid(format!(
            "description is {} bytes; at most {MAX_DESCRIPTION_BYTES}",
            m.description.len()
        )));
    }
    if m.tags.len() > MAX_TAGS {
        return Err(Error::Invalid(format!(
            "{} tags; at most {MAX_TAGS}",
            m.tags.len()
        )));
    }
    for t in &m.tags {
        text::validate_name(text::NameKind::Tag, t, MAX_TAG_BYTES)?;
    }
    Ok(())
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
