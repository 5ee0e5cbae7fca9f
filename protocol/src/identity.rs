//! A node's signing identity and signatures.
//!
//! One ed25519 key per node. The node derives its libp2p identity from the same 32-byte
//! seed, so the [`AuthorId`] of its messages is its PeerId. Every signature in qun is over
//! `domain || message`, with a distinct domain per thing signed, so a signature made for one
//! purpose can never be replayed as another. Verification uses `verify_strict`, which
//! rejects non-canonical signatures and small-order keys.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::AuthorId;

/// Domain prefix of envelope signatures.
pub const DOMAIN_ENVELOPE: &[u8] = b"qun/v1/envelope\0";
/// Domain prefix of genesis signatures.
pub const DOMAIN_GENESIS: &[u8] = b"qun/v1/genesis\0";
/// Domain prefix of invite signatures.
pub const DOMAIN_INVITE: &[u8] = b"qun/v1/invite\0";
/// Domain prefix of group card signatures.
pub const DOMAIN_CARD: &[u8] = b"qun/v1/card\0";
/// Domain prefix of profile signatures.
pub const DOMAIN_PROFILE: &[u8] = b"qun/v1/profile\0";
/// Domain prefix of join request signatures.
pub const DOMAIN_JOIN_REQUEST: &[u8] = b"qun/v1/join-request\0";
/// Domain prefix of join approval signatures.
pub const DOMAIN_APPROVAL: &[u8] = b"qun/v1/approval\0";
/// Domain prefix of the invite key's proof in an admission request.
pub const DOMAIN_ADMIT_PROOF: &[u8] = b"qun/v1/admit-proof\0";
/// Domain prefix of admissions (a member lets an invite holder in).
pub const DOMAIN_ADMISSION: &[u8] = b"qun/v1/admission\0";
/// Domain prefix of short invite DHT records.
pub const DOMAIN_INVITE_RECORD: &[u8] = b"qun/v1/invite-record\0";
/// Domain prefix of an owner's list of admins ([`crate::discovery::authority::Roster`]).
pub const DOMAIN_ROSTER: &[u8] = b"qun/v1/roster\0";

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The author's key is not a usable ed25519 key.
    #[error("author {author} is not a valid ed25519 key")]
    BadKey {
        /// The claimed author.
        author: AuthorId,
    },
    /// The signature does not match (or is non-canonical, or the key is weak).
    #[error("signature mismatch for author {author}")]
    Mismatch {
        /// The claimed author.
        author: AuthorId,
    },
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(&self.0[..8]))
    }
}

impl Serialize for Signature {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Signature {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Signature;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 signature bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Signature, A::Error> {
                let mut out = [0u8; 64];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| de::Error::invalid_length(i, &self))?;
                }
                Ok(Signature(out))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

/// A node's signing key.
pub struct Identity {
    key: SigningKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({})", self.author())
    }
}

impl Identity {
    /// The identity whose secret key is `seed` (32 random bytes from the caller).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte secret seed, for storing the key on disk.
    pub fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public author id.
    pub fn author(&self) -> AuthorId {
        AuthorId::from_bytes_unchecked(self.key.verifying_key().to_bytes())
    }

    /// The X25519 secret that goes with this key (the scalar bytes of the ed25519 key),
    /// for opening what was sealed to our author id ([`crate::crypto::seal`]).
    pub(crate) fn x25519_secret(&self) -> [u8; 32] {
        self.key.to_scalar_bytes()
    }

    /// Signs `domain || msg`.
    pub fn sign(&self, domain: &[u8], msg: &[u8]) -> Signature {
        let mut buf = Vec::with_capacity(domain.len() + msg.len());
        buf.extend_from_slice(domain);
        buf.extend_from_slice(msg);
        Signature(self.key.sign(&buf).to_bytes())
    }
}

/// Decompressed verifying keys kept per thread: decompressing a key is about a sixth of a
/// signature check, and a group's messages come from few authors.
const KEY_CACHE_ENTRIES: usize = 4096;

thread_local! {
    static KEY_CACHE: std::cell::RefCell<std::collections::HashMap<[u8; 32], VerifyingKey>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The verifying key of `author`, decompressed once per thread (a key that does not
/// decompress is not cached).
fn verifying_key(author: &AuthorId) -> Result<VerifyingKey, SignatureError> {
    let bytes = *author.as_bytes();
    if let Some(k) = KEY_CACHE.with(|c| c.borrow().get(&bytes).copied()) {
        return Ok(k);
    }
    let key =
        VerifyingKey::from_bytes(&bytes).map_err(|_| SignatureError::BadKey { author: *author })?;
    KEY_CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= KEY_CACHE_ENTRIES {
            c.clear();
        }
        c.insert(bytes, key);
    });
    Ok(key)
}

/// Verifies `signature` by `author` over `domain || msg` with `verify_strict`.
pub fn verify(
    author: &AuthorId,
    domain: &[u8],
    msg: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let key = verifying_key(author)?;
    let sig = ed25519_dalek::Signature::from_bytes(&signature.0);
    let mut buf = Vec::with_capacity(domain.len() + msg.len());
    buf.extend_from_slice(domain);
    buf.extend_from_slice(msg);
    key.verify_strict(&buf, &sig)
        .map_err(|_| SignatureError::Mismatch { author: *author })
}
