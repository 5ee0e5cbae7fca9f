//! Identifiers and their text forms.
//!
//! * [`AuthorId`] is an ed25519 public key. Its text form is the libp2p PeerId text of the
//!   same key (base58 of the identity multihash, `12D3KooW...`), so a message's author and
//!   the node that sent it are named by one string.
//! * [`GroupId`] and [`MsgId`] are SHA-256 hashes, shown in base58.

use std::fmt;
use std::str::FromStr;

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Why a text id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not base58.
    #[error("not base58: {0}")]
    Base58(String),
    /// Wrong number of bytes once decoded.
    #[error("expected {expected} bytes, got {got}")]
    Length {
        /// Expected length.
        expected: usize,
        /// Decoded length.
        got: usize,
    },
    /// Not an ed25519 peer id (wrong multihash or key type prefix).
    #[error("not an ed25519 peer id")]
    NotEd25519,
    /// The bytes are not a usable ed25519 public key (off the curve or of small order).
    #[error("not a valid ed25519 public key")]
    BadKey,
}

/// The identity multihash + protobuf prefix of an ed25519 libp2p public key:
/// multihash code 0x00 (identity), length 36, then `KeyType = Ed25519 (1)`, `Data` (32 bytes).
const PEER_ID_PREFIX: [u8; 6] = [0x00, 0x24, 0x08, 0x01, 0x12, 0x20];

/// An author: the ed25519 public key that signs a member's messages.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AuthorId([u8; 32]);

impl AuthorId {
    /// Wraps raw public key bytes, checking that they are a usable, non-weak key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, ParseError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| ParseError::BadKey)?;
        if key.is_weak() {
            return Err(ParseError::BadKey);
        }
        Ok(Self(bytes))
    }

    /// Wraps raw bytes without checking them (decoding does the same; verification
    /// rejects bad keys later).
    pub const fn from_bytes_unchecked(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw public key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The libp2p PeerId bytes of this key (identity multihash).
    pub fn peer_id_bytes(&self) -> [u8; 38] {
        let mut out = [0u8; 38];
        out[..6].copy_from_slice(&PEER_ID_PREFIX);
        out[6..].copy_from_slice(&self.0);
        out
    }

    /// Parses libp2p PeerId bytes of an ed25519 key.
    pub fn from_peer_id_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        if bytes.len() != 38 {
            return Err(ParseError::Length {
                expected: 38,
                got: bytes.len(),
            });
        }
        if bytes[..6] != PEER_ID_PREFIX {
            return Err(ParseError::NotEd25519);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes[6..]);
        Self::from_bytes(key)
    }
}

impl fmt::Display for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.peer_id_bytes()).into_string())
    }
}

impl fmt::Debug for AuthorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorId({self})")
    }
}

impl FromStr for AuthorId {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = bs58::decode(s.trim())
            .into_vec()
            .map_err(|e| ParseError::Base58(e.to_string()))?;
        Self::from_peer_id_bytes(&bytes)
    }
}

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name([u8; 32]);

        impl $name {
            /// Wraps raw hash bytes.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }
            /// The raw hash bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&bs58::encode(self.0).into_string())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let bytes = bs58::decode(s.trim())
                    .into_vec()
                    .map_err(|e| ParseError::Base58(e.to_string()))?;
                let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| ParseError::Length {
                    expected: 32,
                    got: bytes.len(),
                })?;
                Ok(Self(arr))
            }
        }
    };
}

hash_id!(
    /// A group: the hash of its signed genesis.
    GroupId
);
hash_id!(
    /// A message: the hash of its encoded envelope.
    MsgId
);

/// SHA-256 of `domain || data`: every hash in qun names what it hashes.
pub fn hash(domain: &[u8], data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(data);
    h.finalize().into()
}

/// Plain SHA-256 (gossipsub message ids: the same function js-libp2p uses).
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}
