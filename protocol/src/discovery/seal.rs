//! Sealing a secret to one author's key, for join approvals and invite admissions: the
//! construction lives in [`crate::crypto::seal`]; this is its face with discovery's
//! [`Error`].

use super::Error;
use crate::crypto::seal as crypto;
use crate::id::AuthorId;
use crate::identity::Identity;

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
