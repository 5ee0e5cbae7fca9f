//! Admission: how the holder of an invite becomes a member, by asking one.
//!
//! The joiner sends a member (the inviter, a peer named in the invite, or a peer it is
//! connected to) a [`Request`]: the signed [`Ticket`] and a [`proof`], the invite key's
//! signature over (group, joiner, member). Binding both peer ids means a proof sent to one
//! peer cannot be replayed by that peer, or anyone who saw it, to another member, nor by
//! another joiner. The member checks ([`Request::check`]) the ticket's signature, its
//! expiry (with [`crate::limits::MAX_INVITE_EXPIRY_SKEW_MS`] of clock skew) and the proof;
//! the node then checks that it is a member, that the inviter may still invite under the
//! group's current state (an admin: a removed, banned or demoted inviter's invites stop
//! working), and that it holds the secret of the epoch the ticket was made in, matching the
//! ticket's check value (an invite made before a re-key still admits, into the current
//! epoch). It answers with an [`Admission`]: the genesis, the current epoch, and every
//! epoch secret it holds (a [`Handover`], at most
//! [`crate::limits::MAX_HANDOVER_EPOCHS`], the newest) sealed to the joiner's key
//! ([`crate::discovery::seal`], context = "qun/v1/admission" ‖ group id ‖ joiner), signed
//! by the member. Or it refuses with a [`Refusal`] that says why ("invite expired").
//!
//! The joiner checks the admission ([`SignedAdmission::open_for`]): signed by the peer it
//! asked, for the invited group (the genesis hashes to its id), for itself, and the
//! handed secret of the invite's epoch matches the invite's check value, so a peer that is
//! no member cannot hand it a made-up secret.
//!
//! ## Versions
//! [`VERSION`] 2 seals the [`Handover`] of every epoch; version 1 sealed the current
//! epoch's secret alone. A joiner still takes a version 1 admission (a member running an
//! older qun): it gets the current epoch only, and the invite's check value is compared
//! only when the invite was made in that epoch, as before. An older joiner refuses a
//! version 2 admission as unusable (unknown version) and asks the next member.

use serde::{Deserialize, Serialize};

use super::{Error as InviteError, Ticket};
use crate::discovery::seal::{self, Handover, Sealed};
use crate::discovery::{Error, Signed, check_addrs, check_time};
use crate::group::SignedGenesis;
use crate::id::{AuthorId, GroupId};
use crate::identity::{self, DOMAIN_ADMISSION, DOMAIN_ADMIT_PROOF, Identity, Signature};
use crate::limits::{MAX_CARD_ADDRS, MAX_JOIN_BYTES};

/// The admission format version this code writes (it reads 1 too: see the module docs).
pub const VERSION: u8 = seal::HANDOVER_V2;

/// A request to be admitted by invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The signed invite.
    pub ticket: Ticket,
    /// [`proof`] for (group, joiner, member).
    pub proof: Signature,
}

/// Why a member refused to admit (sent on the wire, shown to the joiner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Refusal {
    /// The invite's expiry has passed (by the member's clock, with the allowed skew).
    #[error(
        "invite expired {} ago by the member's clock; ask for a new one",
        super::ago(*expires_ms, *now_ms)
    )]
    Expired {
        /// Expiry, ms since the Unix epoch.
        expires_ms: u64,
        /// The member's time.
        now_ms: u64,
    },
    /// The ticket's signature does not verify, or it breaks a limit.
    #[error("the invite is not validly signed")]
    BadTicket,
    /// The proof does not verify for this joiner and this member.
    #[error("the proof of the invite key does not verify")]
    BadProof,
    /// The asked peer is not a member of the group.
    #[error("this peer is not a member of the group")]
    NotMember,
    /// The inviter is not (or no longer) an admin of the group: removed, banned, demoted,
    /// or it left.
    #[error(
        "the inviter {inviter} may no longer invite to this group (not an admin now: \
         removed, banned, demoted or left); ask an admin for a new invite"
    )]
    NotAllowed {
        /// Who signed the invite.
        inviter: AuthorId,
    },
    /// The member is answering too many admission requests from this peer.
    #[error("too many admission requests; try again in a minute")]
    Busy,
    /// The member could not make the admission (a local fault).
    #[error("the member could not admit: {0}")]
    Failed(String),
    /// The joiner is banned from the group (until an admin unbans it). After the older
    /// variants, so that they keep their wire index.
    #[error("you are banned from this group")]
    Banned,
    /// The member does not hold the secret of the epoch the invite was made in (it joined
    /// after it, or the epoch is older than those it hands over), or the invite's check
    /// value does not match it. Last, so that the earlier variants keep their wire index.
    #[error("this member cannot check an invite made in epoch {epoch}; ask another member")]
    UnknownEpoch {
        /// The invite's epoch.
        epoch: u64,
    },
    /// The joiner was removed from the group in `epoch` or later than the invite was made:
    /// an invite made before a removal does not undo it (a new invite does). Last, so that
    /// the earlier variants keep their wire index.
    #[error(
        "you were removed from this group (in epoch {epoch}) after this invite was made; \
         ask an admin for a new invite"
    )]
    RemovedSince {
        /// The epoch the removal was made in.
        epoch: u64,
    },
}

/// What a member answers when it admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admission {
    /// Format version ([`VERSION`]).
    pub version: u8,
    /// The group's signed genesis.
    pub genesis: SignedGenesis,
    /// Who is admitted.
    pub joiner: AuthorId,
    /// The current epoch.
    pub epoch: u64,
    /// The epoch secrets, sealed to the joiner: a [`Handover`] (version 2) or the current
    /// epoch's 32-byte secret (version 1).
    pub sealed: Sealed,
    /// Member addresses to dial (binary multiaddrs).
    pub addrs: Vec<Vec<u8>>,
    /// When it was signed, ms since the Unix epoch.
    pub issued_ms: u64,
}

/// A signed admission; the signer is the admitting member.
pub type SignedAdmission = Signed<Admission>;

/// What a joiner gets from an admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// The group's signed genesis.
    pub genesis: SignedGenesis,
    /// The epoch secrets handed over (the current epoch's last).
    pub epochs: Handover,
    /// Member addresses to dial.
    pub addrs: Vec<Vec<u8>>,
}

fn proof_message(group: &GroupId, joiner: &AuthorId, member: &AuthorId) -> Vec<u8> {
    let mut m = Vec::with_capacity(96);
    m.extend_from_slice(group.as_bytes());
    m.extend_from_slice(joiner.as_bytes());
    m.extend_from_slice(member.as_bytes());
    m
}

/// The proof that `joiner` holds the invite key (`key`), for asking `member` to admit it
/// to `group`.
pub fn proof(key: &Identity, group: &GroupId, joiner: &AuthorId, member: &AuthorId) -> Signature {
    key.sign(DOMAIN_ADMIT_PROOF, &proof_message(group, joiner, member))
}

impl Request {
    /// The member's checks that need no group state: ticket signature and limits, expiry
    /// at `now_ms` (with skew), and the proof for `joiner` (the peer that sent it) and
    /// `member` (us). Returns the group asked for.
    pub fn check(
        &self,
        joiner: &AuthorId,
        member: &AuthorId,
        now_ms: u64,
    ) -> Result<GroupId, Refusal> {
        self.ticket.verify().map_err(|_| Refusal::BadTicket)?;
        match self.ticket.check_expiry(now_ms) {
            Err(InviteError::Expired { expires_ms, now_ms }) => {
                return Err(Refusal::Expired { expires_ms, now_ms });
            }
            Err(_) => return Err(Refusal::BadTicket),
            Ok(()) => {}
        }
        let c = &self.ticket.content;
        identity::verify(
            &c.key,
            DOMAIN_ADMIT_PROOF,
            &proof_message(&c.group, joiner, member),
            &self.proof,
        )
        .map_err(|_| Refusal::BadProof)?;
        Ok(c.group)
    }
}

impl Request {
    /// The member's check of the ticket's epoch against the secrets it would hand over:
    /// it must hold that epoch's secret (among the newest
    /// [`crate::limits::MAX_HANDOVER_EPOCHS`]) and the ticket's check value must match it.
    /// So an invite made before a re-key admits (into the current epoch), and the joiner,
    /// who compares the same value, can tell a real member from a peer that is none.
    ///
    /// # Errors
    /// [`Refusal::UnknownEpoch`] otherwise.
    pub fn check_epoch(&self, epochs: &Handover) -> Result<(), Refusal> {
        let c = &self.ticket.content;
        match epochs.get(c.epoch) {
            Some(s) if s.invite_check(&c.group, c.epoch) == c.check => Ok(()),
            _ => Err(Refusal::UnknownEpoch { epoch: c.epoch }),
        }
    }
}

fn seal_context(group: &GroupId, joiner: &AuthorId) -> Vec<u8> {
    let mut c = b"qun/v1/admission\0".to_vec();
    c.extend_from_slice(group.as_bytes());
    c.extend_from_slice(joiner.as_bytes());
    c
}

impl Signed<Admission> {
    /// Seals `epochs` to `joiner` and signs the admission as `member`. `randomness` is an
    /// ephemeral X25519 secret and a nonce from the caller.
    ///
    /// # Errors
    /// [`Error::Codec`] when the admission would exceed [`MAX_JOIN_BYTES`];
    /// [`Error::Invalid`] for addresses beyond the limits.
    pub fn create(
        member: &Identity,
        genesis: SignedGenesis,
        joiner: AuthorId,
        epochs: &Handover,
        addrs: Vec<Vec<u8>>,
        issued_ms: u64,
        randomness: ([u8; 32], [u8; 24]),
    ) -> Result<Self, Error> {
        let group = genesis.id()?;
        let sealed = epochs.seal(
            &joiner,
            &seal_context(&group, &joiner),
            randomness.0,
            randomness.1,
        )?;
        let admission = Admission {
            version: VERSION,
            genesis,
            joiner,
            epoch: epochs.current().0,
            sealed,
            addrs,
            issued_ms,
        };
        check_addrs(&admission.addrs, MAX_CARD_ADDRS)?;
        let signed = Signed::sign(member, DOMAIN_ADMISSION, admission)?;
        signed.encode(MAX_JOIN_BYTES)?;
        Ok(signed)
    }

    /// Checks an admission for `me`, answered by `from` (the peer we asked) to `ticket`,
    /// and opens the epoch secrets.
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when not signed by `from`; [`Error::UnknownVersion`];
    /// [`Error::Seal`] when the secrets do not open; [`Error::Invalid`] when it is for
    /// another group or joiner, or the secret of the invite's epoch is missing (version 2)
    /// or does not match the invite's check value (a peer that is no member).
    pub fn open_for(
        &self,
        me: &Identity,
        from: &AuthorId,
        ticket: &Ticket,
        now_ms: u64,
    ) -> Result<Admitted, Error> {
        let c = &ticket.content;
        let epochs = self.open_pushed(me, from, &c.group, now_ms)?;
        let a = &self.value;
        match epochs.get(c.epoch) {
            Some(s) if s.invite_check(&c.group, c.epoch) != c.check => {
                return Err(Error::Invalid(
                    "the secret does not match the invite: the peer is no member".into(),
                ));
            }
            None if a.version >= seal::HANDOVER_V2 => {
                return Err(Error::Invalid(format!(
                    "the admission lacks the invite's epoch {}",
                    c.epoch
                )));
            }
            _ => {}
        }
        Ok(Admitted {
            genesis: a.genesis.clone(),
            epochs,
            addrs: a.addrs.clone(),
        })
    }

    /// Checks an admission for `me` of `group`, signed by `from`, and opens its epoch
    /// secrets; no invite is involved. What [`Self::open_for`] checks besides the ticket,
    /// and what a member takes when an admin pushes it the epochs a re-key did not seal to
    /// it (`Request::Handover`): the receiver must still check that `from` is an admin.
    ///
    /// # Errors
    /// As [`Self::open_for`], and [`Error::Invalid`] for another group.
    pub fn open_pushed(
        &self,
        me: &Identity,
        from: &AuthorId,
        group: &GroupId,
        now_ms: u64,
    ) -> Result<Handover, Error> {
        self.verify(DOMAIN_ADMISSION)?;
        if self.signer != *from {
            return Err(Error::NotAllowed {
                signer: self.signer,
            });
        }
        let a = &self.value;
        check_addrs(&a.addrs, MAX_CARD_ADDRS)?;
        check_time(a.issued_ms, now_ms)?;
        a.genesis
            .verify()
            .map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
        if a.genesis.id()? != *group {
            return Err(Error::Invalid("admission is for another group".into()));
        }
        if a.joiner != me.author() {
            return Err(Error::Invalid("admission is for someone else".into()));
        }
        Handover::open(
            me,
            &a.sealed,
            &seal_context(group, &a.joiner),
            a.version,
            a.epoch,
        )
    }
}
