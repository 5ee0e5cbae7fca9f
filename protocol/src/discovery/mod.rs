//! Discovery: what qun puts in the DHT and says to strangers.
//!
//! * [`authority`]: what proves that a card's or an approval's signer is the group's
//!   current owner or one of its admins (transfer chain, the owner's roster), its limits,
//!   and what a stranger can and cannot check.
//! * [`card`]: a group's signed card (name, description, tags, visibility, member count, a
//!   few member addresses, and for public groups the secret), stored under a key derived
//!   from the group id.
//! * [`profile`]: a person's signed profile (display name and only the fields and groups
//!   they chose to show).
//! * [`keywords`]: how names and tags become search tokens (NFKC, lowercase, CJK characters
//!   and bigrams, Latin words and prefixes) and tokens become DHT provider keys.
//! * [`join`]: join requests for listed groups and the approvals that answer them, with
//!   the group secret sealed to the requester ([`seal`]).
//! * [`record`]: the one validation path for DHT records, used for records put to us
//!   (including replication) and records we fetch.
//! * [`search`]: a keyword search as a state machine with no IO (lookups, questions to
//!   providers, checked cards, ranking, deadline).
//! * [`wire`]: the `/qun/discovery/1` request-response messages (search, join).
//!
//! Every signed thing here is a [`Signed`] value: the canonical encoding of the value, and
//! the signer's signature over `domain || encoding`, with a domain of its own per type.

pub mod authority;
pub mod card;
pub mod join;
pub mod keywords;
pub mod profile;
pub mod record;
pub mod seal;
pub mod search;
pub mod wire;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::AuthorId;
use crate::identity::{self, Identity, Signature, SignatureError};
use crate::limits::MAX_CLOCK_SKEW_MS;

/// The discovery format version this code writes and reads.
pub const VERSION: u8 = 1;

/// Why a discovery record or message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes did not decode or break a size limit.
    #[error("malformed: {0}")]
    Codec(#[from] codec::Error),
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// A version this code does not read.
    #[error("unknown version {version}")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// Signed by someone without the right (e.g. a card signed by
    /// neither the group's owner nor an admin its authority proves).
    #[error("signed by {signer}, who may not sign this")]
    NotAllowed {
        /// Who signed.
        signer: AuthorId,
    },
    /// Signed under an authority that ranks below one already seen for the group (an
    /// admin demoted since, or a former owner: [`authority`]).
    #[error("{signer} signed under an older authority than the group's card: superseded")]
    Superseded {
        /// Who signed.
        signer: AuthorId,
    },
    /// The record is stored under a key that does not name its content.
    #[error("record key does not match its content")]
    WrongKey,
    /// Dated too far in the future.
    #[error("dated {at_ms}, more than the allowed clock skew after now ({now_ms})")]
    FromTheFuture {
        /// Its time.
        at_ms: u64,
        /// Our time.
        now_ms: u64,
    },
    /// Past its expiry (an invite record).
    #[error("expired at {expires_ms} (now {now_ms})")]
    Expired {
        /// Expiry, ms since the Unix epoch.
        expires_ms: u64,
        /// Our time.
        now_ms: u64,
    },
    /// A field breaks a protocol limit or rule.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A name, tag or display name is refused ([`crate::text::validate_name`]).
    #[error(transparent)]
    Name(#[from] crate::text::NameError),
    /// A sealed secret did not open.
    #[error("sealed secret does not open: not sealed to us, or tampered with")]
    Seal,
}

/// A value with its signer's signature over `domain || encode(value)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signed<T> {
    /// What is signed.
    pub value: T,
    /// Who signed.
    pub signer: AuthorId,
    /// The signature.
    pub signature: Signature,
}

impl<T: Serialize + DeserializeOwned> Signed<T> {
    /// Signs `value` for `domain`.
    pub fn sign(identity: &Identity, domain: &[u8], value: T) -> Result<Self, Error> {
        let bytes = codec::encode(&value)?;
        Ok(Self {
            signature: identity.sign(domain, &bytes),
            signer: identity.author(),
            value,
        })
    }

    /// Checks the signature for `domain`.
    pub fn verify(&self, domain: &[u8]) -> Result<(), Error> {
        let bytes = codec::encode(&self.value)?;
        identity::verify(&self.signer, domain, &bytes, &self.signature)?;
        Ok(())
    }

    /// Canonical encoding, refusing to produce more than `max` bytes.
    pub fn encode(&self, max: usize) -> Result<Vec<u8>, Error> {
        let bytes = codec::encode(self)?;
        if bytes.len() > max {
            return Err(codec::Error::TooLarge {
                len: bytes.len(),
                max,
            }
            .into());
        }
        Ok(bytes)
    }

    /// Decodes (with the limit `max`) and checks the signature for `domain`. The value's
    /// own rules are the caller's to check.
    pub fn decode(bytes: &[u8], max: usize, domain: &[u8]) -> Result<Self, Error> {
        let signed: Self = codec::decode(bytes, max)?;
        signed.verify(domain)?;
        Ok(signed)
    }
}

/// Checks a format version byte.
pub(crate) fn check_version(version: u8) -> Result<(), Error> {
    if version == VERSION {
        Ok(())
    } else {
        Err(Error::UnknownVersion { version })
    }
}

/// Refuses a time more than [`MAX_CLOCK_SKEW_MS`] after `now_ms`.
pub(crate) fn check_time(at_ms: u64, now_ms: u64) -> Result<(), Error> {
    if at_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(Error::FromTheFuture { at_ms, now_ms });
    }
    Ok(())
}

/// Refuses a text longer than `max` bytes (and, with `required`, an empty one).
pub(crate) fn check_text(what: &str, text: &str, max: usize, required: bool) -> Result<(), Error> {
    if text.len() > max || (required && text.trim().is_empty()) {
        let least = if required { 1 } else { 0 };
        return Err(Error::Invalid(format!(
            "{what} is {} bytes; it must be {least}..={max}",
            text.len()
        )));
    }
    Ok(())
}

/// Refuses addresses beyond `max_count` or outside 1..=`MAX_ADDR_BYTES` bytes.
pub(crate) fn check_addrs(addrs: &[Vec<u8>], max_count: usize) -> Result<(), Error> {
    use crate::limits::MAX_ADDR_BYTES;
    if addrs.len() > max_count {
        return Err(Error::Invalid(format!(
            "{} addresses; at most {max_count}",
            addrs.len()
        )));
    }
    if let Some(a) = addrs
        .iter()
        .find(|a| a.is_empty() || a.len() > MAX_ADDR_BYTES)
    {
        return Err(Error::Invalid(format!(
            "address of {} bytes; addresses are 1..={MAX_ADDR_BYTES}",
            a.len()
        )));
    }
    Ok(())
}
