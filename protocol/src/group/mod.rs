//! Groups: the signed genesis that names a group, the group state fold ([`state`]), who
//! may do what in it ([`rules`]) and re-keying ([`rekey`]).
//!
//! A group is born from a [`Genesis`] signed by its owner; the [`GroupId`] is the hash of
//! the encoded [`SignedGenesis`], so the id commits to the owner, name and creation time.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::{self, AuthorId, GroupId};
use crate::identity::{self, DOMAIN_GENESIS, Identity, Signature};
use crate::limits::*;
use crate::message;
use crate::text;

pub mod rekey;
pub mod rules;
pub mod state;

pub use rekey::Rekey;
pub use rules::{Action, Refused, Role};
pub use state::{Announcement, Applied, Mark, Mute, OutOfOrder, Pin, State};

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

/// A visibility name that is none of `public`, `listed`, `private`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown visibility {0:?}: use public, listed or private")]
pub struct UnknownVisibility(pub String);

impl std::str::FromStr for Visibility {
    type Err = UnknownVisibility;
    fn from_str(s: &str) -> Result<Self, UnknownVisibility> {
        match s {
            "public" => Ok(Visibility::Public),
            "listed" => Ok(Visibility::Listed),
            "private" => Ok(Visibility::Private),
            other => Err(UnknownVisibility(other.to_owned())),
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
