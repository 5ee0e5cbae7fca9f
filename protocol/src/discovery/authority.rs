//! Who may sign for a group in the DHT: what a stranger checks before it stores a card or
//! uses a join approval signed by someone other than the group's founder.
//!
//! A DHT node or a would-be member does not hold the group's log, so it cannot fold the
//! role ops. What it gets instead is an [`Authority`], carried next to the signed value
//! ([`Proven`]):
//!
//! * **`transfers`**: the `transfer` control ops (their envelopes exactly as the group
//!   holds them, signed by their authors) from the genesis owner to the current owner, in
//!   order. The first is signed by the genesis owner, each next one by the member the one
//!   before handed the group to; the last one's `to` is the current owner. Empty: the
//!   genesis owner still owns the group. Every member holds these ops, so the current owner
//!   can always build its chain.
//! * **`roster`**: the current owner's signed list of admins ([`Roster`]), re-signed by the
//!   owner whenever the admin set changes (only the owner promotes, demotes, removes or
//!   bans admins, and hands the group on: it is online whenever the list changes). The
//!   owner puts it on its own card, so every member that holds the card holds the roster.
//!
//! A value proven by an authority may be signed by the current owner, or by an admin the
//! roster names ([`Authority::verify`]).
//!
//! ## Revocation: newer supersedes
//! An old roster stays a valid signature forever: a stranger cannot tell that an admin it
//! names was demoted since. So proven values are ranked ([`Standing::rank`]): more transfers
//! first, then the newer roster (its `issued_ms`), then (for cards) the newer card. A
//! demoted or removed admin can only show rosters from before its demotion, so its cards
//! lose to every card signed under a later roster, on every DHT node and in every search
//! that saw one; a joiner refuses an approval whose standing is below that of the card it
//! asked with ([`super::join`]). Likewise a former owner's cards lose to the cards of the
//! owner it handed the group to (one more transfer).
//!
//! What a stranger **can** verify: every signature in the chain; that each transfer was
//! signed by the owner of its time, for this group, in stamp order; that the roster is the
//! current owner's and names the signer. What it **cannot**: that no later op demoted the
//! signer (only that a newer roster, once seen, wins), and that the owner of some link did
//! not sign two different transfers (a former owner, or whoever stole its key, can sign a
//! second chain of the same length; members never hold such a card, since they check the
//! signer against their own fold, but a stranger who sees only the forged chain is
//! fooled). Members republish only cards whose signer is an admin by their own state.
//!
//! ## Limits
//! At most [`MAX_AUTHORITY_TRANSFERS`] transfers (a group handed on more often than that
//! can no longer publish a card), at most [`MAX_ROSTER_ADMINS`] admins on a roster (admins
//! beyond that, in id order, cannot sign cards or approvals), and
//! [`MAX_AUTHORITY_BYTES`] encoded in all. Checking one costs at most
//! `MAX_AUTHORITY_TRANSFERS + 1` signature checks.

use std::ops::Deref;

use serde::{Deserialize, Serialize};

use super::{Error, Signed, check_time, check_version};
use crate::codec;
use crate::group::{Role, SignedGenesis};
use crate::id::{AuthorId, GroupId};
use crate::identity::{DOMAIN_ROSTER, Identity};
use crate::limits::{MAX_AUTHORITY_BYTES, MAX_AUTHORITY_TRANSFERS, MAX_ROSTER_ADMINS};
use crate::message::{Envelope, Kind};
use crate::order::Stamp;

/// The owner's list of admins at `issued_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Format version ([`super::VERSION`]).
    pub version: u8,
    /// The group.
    pub group: GroupId,
    /// The admins, sorted, without repeats, not the owner; at most [`MAX_ROSTER_ADMINS`].
    pub admins: Vec<AuthorId>,
    /// When the owner signed it, ms since the Unix epoch: a newer roster supersedes.
    pub issued_ms: u64,
}

/// A roster with the owner's signature.
pub type SignedRoster = Signed<Roster>;

impl Signed<Roster> {
    /// Signs a roster of `admins` (sorted here; the first [`MAX_ROSTER_ADMINS`] in id order
    /// are kept, and the signer is left out).
    pub fn create(
        owner: &Identity,
        group: GroupId,
        admins: impl IntoIterator<Item = AuthorId>,
        issued_ms: u64,
    ) -> Result<Self, Error> {
        let me = owner.author();
        let mut admins: Vec<AuthorId> = admins.into_iter().filter(|a| *a != me).collect();
        admins.sort();
        admins.dedup();
        admins.truncate(MAX_ROSTER_ADMINS);
        let roster = Roster {
            version: super::VERSION,
            group,
            admins,
            issued_ms,
        };
        Signed::sign(owner, DOMAIN_ROSTER, roster)
    }
}

/// What proves a signer may sign for a group; see the module docs. The default (no
/// transfer, no roster) proves the genesis owner only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authority {
    /// The `transfer` ops from the genesis owner to the current owner, in order.
    pub transfers: Vec<Envelope>,
    /// The current owner's list of admins.
    pub roster: Option<SignedRoster>,
}

/// What a checked [`Authority`] says about a signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The current owner (the last transfer's `to`, or the genesis owner).
    pub owner: AuthorId,
    /// The signer's role: [`Role::Owner`] or [`Role::Admin`].
    pub role: Role,
    /// How many transfers the chain holds.
    pub transfers: usize,
    /// The roster's `issued_ms` (0 without a roster).
    pub roster_ms: u64,
}

impl Standing {
    /// How two authorities compare: more transfers, then the newer roster.
    pub fn rank(&self) -> (usize, u64) {
        (self.transfers, self.roster_ms)
    }
}

impl Authority {
    /// The rank of an authority already checked ([`Standing::rank`]), without checking it.
    pub fn rank(&self) -> (usize, u64) {
        let roster_ms = self.roster.as_ref().map_or(0, |r| r.value.issued_ms);
        (self.transfers.len(), roster_ms)
    }

    /// Checks the chain and the roster for the group born of `genesis` (whose id is
    /// `group`), and that `signer` is its current owner or an admin on the roster.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a broken chain, a bad roster or limits; [`Error::Signature`]
    /// for a signature that does not verify; [`Error::NotAllowed`] when `signer` is neither.
    pub fn verify(
        &self,
        genesis: &SignedGenesis,
        group: &GroupId,
        signer: &AuthorId,
        now_ms: u64,
    ) -> Result<Standing, Error> {
        self.check_size()?;
        let owner = self.owner(genesis, group)?;
        let roster_ms = match &self.roster {
            None => 0,
            Some(r) => {
                check_roster(r, &owner, group, now_ms)?;
                r.value.issued_ms
            }
        };
        let role = if *signer == owner {
            Role::Owner
        } else if self
            .roster
            .as_ref()
            .is_some_and(|r| r.value.admins.binary_search(signer).is_ok())
        {
            Role::Admin
        } else {
            return Err(Error::NotAllowed { signer: *signer });
        };
        Ok(Standing {
            owner,
            role,
            transfers: self.transfers.len(),
            roster_ms,
        })
    }

    fn check_size(&self) -> Result<(), Error> {
        if self.transfers.len() > MAX_AUTHORITY_TRANSFERS {
            return Err(Error::Invalid(format!(
                "{} transfers; at most {MAX_AUTHORITY_TRANSFERS}",
                self.transfers.len()
            )));
        }
        let len = codec::encode(self)?.len();
        if len > MAX_AUTHORITY_BYTES {
            return Err(codec::Error::TooLarge {
                len,
                max: MAX_AUTHORITY_BYTES,
            }
            .into());
        }
        Ok(())
    }

    /// Follows the transfers from the genesis owner: the current owner.
    fn owner(&self, genesis: &SignedGenesis, group: &GroupId) -> Result<AuthorId, Error> {
        let mut owner = genesis.genesis.owner;
        let mut last: Option<Stamp> = None;
        for (i, env) in self.transfers.iter().enumerate() {
            let broken = |why: &str| Error::Invalid(format!("transfer {i}: {why}"));
            let msg = env
                .clone()
                .verify()
                .map_err(|e| broken(&format!("does not verify: {e}")))?;
            if msg.body.group != *group {
                return Err(broken("for another group"));
            }
            if msg.author() != owner {
                return Err(broken("not signed by the owner of its time"));
            }
            if last.is_some_and(|l| msg.body.stamp <= l) {
                return Err(broken("not after the transfer before it"));
            }
            let Kind::Transfer(t) = &msg.body.kind else {
                return Err(broken("not a transfer"));
            };
            if t.to == owner {
                return Err(broken("hands the group to its owner"));
            }
            last = Some(msg.body.stamp);
            owner = t.to;
        }
        Ok(owner)
    }
}

fn check_roster(
    r: &SignedRoster,
    owner: &AuthorId,
    group: &GroupId,
    now_ms: u64,
) -> Result<(), Error> {
    if r.signer != *owner {
        return Err(Error::Invalid(
            "roster not signed by the current owner".into(),
        ));
    }
    r.verify(DOMAIN_ROSTER)?;
    let v = &r.value;
    check_version(v.version)?;
    check_time(v.issued_ms, now_ms)?;
    if v.group != *group {
        return Err(Error::Invalid("roster of another group".into()));
    }
    if v.admins.len() > MAX_ROSTER_ADMINS {
        return Err(Error::Invalid(format!(
            "{} admins on the roster; at most {MAX_ROSTER_ADMINS}",
            v.admins.len()
        )));
    }
    if v.admins.windows(2).any(|w| w[0] >= w[1]) || v.admins.contains(owner) {
        return Err(Error::Invalid(
            "roster admins must be sorted, unique, and not the owner".into(),
        ));
    }
    Ok(())
}

/// A signed value with the [`Authority`] of its signer: a card or a join approval that an
/// admin (not only the genesis owner) may sign. The authority is not under the value's
/// signature: each of its parts is signed by whoever issued it, and a signer can present
/// any authority that names it anyway (see the module docs on what that allows).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proven<T> {
    /// The signed value.
    pub signed: Signed<T>,
    /// What proves its signer may sign it.
    pub authority: Authority,
}

impl<T> Deref for Proven<T> {
    type Target = Signed<T>;
    fn deref(&self) -> &Signed<T> {
        &self.signed
    }
}

/// A value signed by the genesis owner needs no other proof.
impl<T> From<Signed<T>> for Proven<T> {
    fn from(signed: Signed<T>) -> Self {
        Self {
            signed,
            authority: Authority::default(),
        }
    }
}

#[cfg(test)]
#[path = "authority_tests.rs"]
mod tests;
