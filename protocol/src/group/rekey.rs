//! Re-keying: a new epoch whose secret only the remaining members can open.
//!
//! ## The op
//! A [`Rekey`] control op (kind `rekey`) names the new epoch number and carries the new
//! epoch's [`GroupSecret`] sealed to each recipient's key with one ephemeral key
//! ([`crate::crypto::seal::seal_key_to_many`], context `"qun/v1/rekey\0" ‖ group id ‖
//! epoch`): [`SEALED_KEY_BYTES`] per member, about 80 KB for 1,000 members, within one
//! message ([`MAX_REKEY_RECIPIENTS`]). It travels in the old epoch, so every member (and a
//! removed member, who holds the old secret) can read it; only the recipients can open the
//! new secret ([`Rekey::open`]).
//!
//! ## When
//! A remove or a ban of a member, or a member's leave, sets
//! [`State::rekey_due`](super::State::rekey_due): the member that is out still holds the
//! current secret. The admin who removed it follows with a re-key to the members that
//! remain; after leaves only ([`State::rekey_due_to_leaves_only`](super::State::rekey_due_to_leaves_only))
//! the admins' nodes wait a few seconds first, so a burst of leaves costs one re-key (any
//! admin may re-key, and one re-key covers several removals and leaves); a re-key that
//! starts an epoch clears the flag.
//!
//! ## The rules (checked by the fold, [`State::may`](super::State::may))
//! - Only admins (and the owner) re-key.
//! - Epoch numbers go up by one: a re-key must name the current epoch plus one
//!   ([`Refused::EpochNotNext`](super::Refused::EpochNotNext)). So two admins who re-key at
//!   once converge: the first re-key to `n + 1` in group order starts epoch `n + 1`, and the
//!   other is refused and ignored, by every node. A member that opened the losing secret
//!   moves to the winning one when the fold says so.
//! - Every recipient is a member at the re-key's position in group order
//!   ([`Refused::SealedToOutsider`](super::Refused::SealedToOutsider)): a re-key that still
//!   seals to a member removed before it (in group order) starts nothing, and the next
//!   re-key must leave that member out.
//!
//! A member who joined concurrently (its join sorts before the re-key, but the admin had
//! not seen it) is not among the recipients: it gets the new secret the way any joiner
//! does, from an admin (node's business).

use serde::{Deserialize, Serialize};

use crate::crypto::seal::{self, SealedKeys};
use crate::id::{AuthorId, GroupId};
use crate::identity::Identity;
use crate::secret::GroupSecret;

pub use crate::crypto::seal::SEALED_KEY_BYTES;

/// Most recipients of one re-key: `MAX_REKEY_RECIPIENTS * SEALED_KEY_BYTES` (800 KB) fits
/// in one message body ([`crate::limits::MAX_BODY_BYTES`]).
pub const MAX_REKEY_RECIPIENTS: usize = 10_000;

/// Domain prefix of the re-key sealing context.
const DOMAIN_REKEY: &[u8] = b"qun/v1/rekey\0";

/// A re-key: the new epoch and its secret sealed to each recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rekey {
    /// The new epoch: the current epoch plus one.
    pub epoch: u64,
    /// The new epoch's secret, sealed to each recipient, ascending by author id.
    pub sealed: SealedKeys,
}

/// Why a re-key could not be made, checked or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Sealing or opening failed ([`seal::Error::Seal`]: not sealed to us, or tampered).
    #[error(transparent)]
    Seal(#[from] seal::Error),
    /// More recipients than [`MAX_REKEY_RECIPIENTS`].
    #[error("re-key to {count} recipients; at most {max}")]
    TooManyRecipients {
        /// Recipients given.
        count: usize,
        /// The limit, [`MAX_REKEY_RECIPIENTS`].
        max: usize,
    },
    /// Recipients not strictly ascending by author id.
    #[error("re-key recipients are not sorted by author id without repeats")]
    Unsorted,
    /// Epoch 0 is the group's first; no re-key starts it.
    #[error("re-key to epoch 0")]
    EpochZero,
}

fn context(group: &GroupId, epoch: u64) -> Vec<u8> {
    let mut c = Vec::with_capacity(DOMAIN_REKEY.len() + 40);
    c.extend_from_slice(DOMAIN_REKEY);
    c.extend_from_slice(group.as_bytes());
    c.extend_from_slice(&epoch.to_be_bytes());
    c
}

impl Rekey {
    /// Seals `secret`, the secret of `epoch` of `group`, to each of `recipients` (any
    /// order, repeats dropped; normally [`State::members`](super::State::members) after
    /// the removals). `randomness` is an ephemeral X25519 secret and a nonce, random bytes
    /// from the caller.
    pub fn create(
        group: &GroupId,
        epoch: u64,
        secret: &GroupSecret,
        recipients: impl IntoIterator<Item = AuthorId>,
        randomness: ([u8; 32], [u8; 24]),
    ) -> Result<Self, Error> {
        let mut to: Vec<AuthorId> = recipients.into_iter().collect();
        to.sort();
        to.dedup();
        let sealed = seal::seal_key_to_many(
            &to,
            secret.as_bytes(),
            &context(group, epoch),
            randomness.0,
            randomness.1,
        )?;
        let rekey = Self { epoch, sealed };
        rekey.validate()?;
        Ok(rekey)
    }

    /// Checks the shape (run by sender and receivers): epoch above 0, at most
    /// [`MAX_REKEY_RECIPIENTS`], ascending without repeats.
    pub fn validate(&self) -> Result<(), Error> {
        if self.epoch == 0 {
            return Err(Error::EpochZero);
        }
        let count = self.sealed.to.len();
        if count > MAX_REKEY_RECIPIENTS {
            return Err(Error::TooManyRecipients {
                count,
                max: MAX_REKEY_RECIPIENTS,
            });
        }
        if !self.sealed.is_sorted() {
            return Err(Error::Unsorted);
        }
        Ok(())
    }

    /// Opens the new epoch's secret as `me`, a recipient, for a re-key of `group` (the
    /// message's group). [`seal::Error::Seal`] when it was not sealed to `me`.
    pub fn open(&self, me: &Identity, group: &GroupId) -> Result<GroupSecret, Error> {
        let key = self.sealed.open(me, &context(group, self.epoch))?;
        Ok(GroupSecret::from_bytes(key))
    }

    /// Whether the new secret is sealed to `author`.
    pub fn is_sealed_to(&self, author: &AuthorId) -> bool {
        self.sealed.is_sealed_to(author)
    }
}
