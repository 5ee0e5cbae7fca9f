//! Sealing a secret to one author's key, for join approvals and invite admissions: the
//! construction lives in [`crate::crypto::seal`]; this is its face with discovery's
//! [`Error`], and the [`Handover`] of epoch secrets that both seal to a joiner.

use super::Error;
use crate::codec;
use crate::crypto::seal as crypto;
use crate::id::AuthorId;
use crate::identity::Identity;
use crate::limits::{MAX_HANDOVER_BYTES, MAX_HANDOVER_EPOCHS};
use crate::secret::GroupSecret;

pub use crate::crypto::seal::{MAX_SEALED_BYTES, Sealed};

impl From<crypto::Error> for Error {
    fn from(e: crypto::Error) -> Self {
        match e {
            crypto::Error::Seal => Error::Seal,
            other => Error::Invalid(other.to_string()),
        }
    }
}

/// Seals `plaintext` to `recipient` ([`crypto::seal`]); `ephemeral` and `nonce` are random
/// bytes from the caller; `context` names what is sealed and must be the same when opening.
pub fn seal(
    recipient: &AuthorId,
    plaintext: &[u8],
    context: &[u8],
    ephemeral: [u8; 32],
    nonce: [u8; 24],
) -> Result<Sealed, Error> {
    Ok(crypto::seal(
        recipient, plaintext, context, ephemeral, nonce,
    )?)
}

/// Opens what was sealed to `me` with `context` ([`crypto::open`]).
pub fn open(me: &Identity, sealed: &Sealed, context: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(crypto::open(me, sealed, context)?)
}

/// The epoch secrets a member hands to a joiner, in an admission by invite
/// ([`crate::invite::admit`]) or a join approval ([`super::join`]): every epoch it holds,
/// so the joiner reads the older epochs' control ops (its fold then has the roles, mutes
/// and bans made before it joined, and reaches the same verdicts as older members) and
/// their history, as a joiner of a group never re-keyed does.
///
/// Shape: 1..=[`MAX_HANDOVER_EPOCHS`] pairs (epoch, secret), strictly ascending by epoch;
/// the last is the current epoch's. When a member holds more, the newest
/// [`MAX_HANDOVER_EPOCHS`] are handed over. Sealed as one blob ([`Handover::seal`]): the
/// canonical encoding of the pairs, at most [`MAX_HANDOVER_BYTES`] (10,248 bytes), checked
/// before decoding.
///
/// Version 1 of admissions and approvals sealed the 32 bytes of the current epoch's secret
/// alone; [`Handover::open`] still reads it (as a handover of that one epoch), so a member
/// running an older version still admits, and the joiner just lacks the older epochs.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Handover {
    /// The epochs before the current one, ascending.
    older: Vec<(u64, GroupSecret)>,
    /// The current epoch and its secret.
    current: (u64, GroupSecret),
}

/// The sealed plaintext's first format: the current epoch's secret, 32 bytes.
pub const HANDOVER_V1: u8 = 1;
/// The sealed plaintext's format with every epoch ([`Handover`]).
pub const HANDOVER_V2: u8 = 2;

impl Handover {
    /// The newest [`MAX_HANDOVER_EPOCHS`] of `epochs` (any order; a repeated epoch keeps
    /// the last secret given for it).
    ///
    /// # Errors
    /// [`Error::Invalid`] when `epochs` is empty.
    pub fn new(epochs: impl IntoIterator<Item = (u64, GroupSecret)>) -> Result<Self, Error> {
        let mut map = std::collections::BTreeMap::new();
        for (e, s) in epochs {
            map.insert(e, s);
        }
        let current = map
            .pop_last()
            .ok_or_else(|| Error::Invalid("no epoch secret to hand over".into()))?;
        let skip = map.len().saturating_sub(MAX_HANDOVER_EPOCHS - 1);
        Ok(Self {
            older: map.into_iter().skip(skip).collect(),
            current,
        })
    }

    /// A handover of one epoch (what a version 1 admission or approval carried).
    pub fn one(epoch: u64, secret: GroupSecret) -> Self {
        Self {
            older: Vec::new(),
            current: (epoch, secret),
        }
    }

    /// The current (newest) epoch and its secret.
    pub fn current(&self) -> (u64, &GroupSecret) {
        (self.current.0, &self.current.1)
    }

    /// Every epoch and its secret, ascending (the current one last).
    pub fn epochs(&self) -> impl Iterator<Item = (u64, &GroupSecret)> {
        self.older
            .iter()
            .chain(std::iter::once(&self.current))
            .map(|(e, s)| (*e, s))
    }

    /// The secret of `epoch`, if handed over.
    pub fn get(&self, epoch: u64) -> Option<&GroupSecret> {
        self.epochs().find(|(e, _)| *e == epoch).map(|(_, s)| s)
    }

    /// Seals the handover to `recipient` with `context` ([`seal`]'s arguments), in the
    /// version 2 format.
    pub fn seal(
        &self,
        recipient: &AuthorId,
        context: &[u8],
        ephemeral: [u8; 32],
        nonce: [u8; 24],
    ) -> Result<Sealed, Error> {
        let wire: Vec<(u64, [u8; 32])> = self.epochs().map(|(e, s)| (e, *s.as_bytes())).collect();
        let bytes = codec::encode(&wire)?;
        Ok(crypto::seal_within(
            recipient,
            &bytes,
            context,
            ephemeral,
            nonce,
            MAX_HANDOVER_BYTES,
        )?)
    }

    /// Opens a handover sealed to `me` with `context`, in the format of `version`
    /// ([`HANDOVER_V1`]: 32 bytes, the secret of `epoch`; [`HANDOVER_V2`]: the pairs, whose
    /// newest must be `epoch`, the current epoch the signed message names).
    ///
    /// # Errors
    /// [`Error::Seal`] when it does not open; [`Error::UnknownVersion`] for another
    /// version; [`Error::Codec`] or [`Error::Invalid`] when the plaintext breaks the shape
    /// (size, count, order, current epoch).
    pub fn open(
        me: &Identity,
        sealed: &Sealed,
        context: &[u8],
        version: u8,
        epoch: u64,
    ) -> Result<Self, Error> {
        match version {
            HANDOVER_V1 => {
                let bytes = open(me, sealed, context)?;
                let secret: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| Error::Invalid("sealed secret is not 32 bytes".into()))?;
                Ok(Self::one(epoch, GroupSecret::from_bytes(secret)))
            }
            HANDOVER_V2 => {
                let bytes = crypto::open_within(me, sealed, context, MAX_HANDOVER_BYTES)?;
                Self::decode(&bytes, epoch)
            }
            version => Err(Error::UnknownVersion { version }),
        }
    }

    fn decode(bytes: &[u8], epoch: u64) -> Result<Self, Error> {
        let wire: Vec<(u64, [u8; 32])> = codec::decode(bytes, MAX_HANDOVER_BYTES)?;
        if wire.is_empty() || wire.len() > MAX_HANDOVER_EPOCHS {
            return Err(Error::Invalid(format!(
                "{} epoch secrets handed over; 1..={MAX_HANDOVER_EPOCHS}",
                wire.len()
            )));
        }
        if wire.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(Error::Invalid(
                "handed epochs are not strictly ascending".into(),
            ));
        }
        if wire.last().map(|(e, _)| *e) != Some(epoch) {
            return Err(Error::Invalid(format!(
                "the newest handed epoch is not the current one, {epoch}"
            )));
        }
        let mut older: Vec<(u64, GroupSecret)> = wire
            .into_iter()
            .map(|(e, s)| (e, GroupSecret::from_bytes(s)))
            .collect();
        let current = older
            .pop()
            .ok_or_else(|| Error::Invalid("no epoch secret handed over".into()))?;
        Ok(Self { older, current })
    }
}
