//! Joining a listed group: a signed request, and an approval that seals the secret.
//!
//! The requester signs a [`Request`] (group, a note for the admins, its addresses) and
//! sends it to the group's online admins. An admin who approves signs an [`Approval`]
//! carrying the genesis, the current epoch and every epoch secret it holds (a
//! [`Handover`]: the requester reads the older epochs' ops and history too) sealed to the
//! requester's key ([`super::seal`], context = "qun/v1/approval" ‖ group id ‖ requester),
//! and sends it with its [`Authority`] ([`ProvenApproval`]). An approval is version
//! [`APPROVAL_VERSION`] (2); a version 1 approval (an older approver's, or one stored
//! before an upgrade and answered again) sealed the current epoch's secret alone and is
//! still taken, as a handover of that one epoch. Before it trusts the secret, the requester
//! checks that the authority makes the approver the group's current owner or an admin on
//! the owner's roster, and that it ranks no lower than the authority of the card it asked
//! with ([`super::authority`]): an admin demoted since the roster on that card was signed
//! cannot let anyone in. A bare [`SignedApproval`] (the format before admins could
//! approve) counts as proven by an empty authority: only the genesis owner's. A rejection
//! is not signed: it only stops the requester from asking again.

use serde::{Deserialize, Serialize};

use super::authority::{Authority, Proven};
use super::card::ProvenCard;
use super::seal::{self, Handover, Sealed};
use super::{Error, Signed, check_addrs, check_text, check_time, check_version};
use crate::group::{SignedGenesis, Visibility};
use crate::id::{AuthorId, GroupId};
use crate::identity::{DOMAIN_APPROVAL, DOMAIN_JOIN_REQUEST, Identity};
use crate::limits::*;

/// The approval format version this code writes; it reads 1 too (see the module docs).
pub const APPROVAL_VERSION: u8 = seal::HANDOVER_V2;

/// A request to join a listed group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Format version ([`super::VERSION`]).
    pub version: u8,
    /// The group.
    pub group: GroupId,
    /// A note for the admins.
    pub note: String,
    /// Where the requester can be reached (binary multiaddrs).
    pub addrs: Vec<Vec<u8>>,
    /// When it was signed, ms since the Unix epoch.
    pub issued_ms: u64,
}

/// A signed join request; the signer is the requester.
pub type SignedRequest = Signed<Request>;

/// An admin's approval of a join request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Format version ([`APPROVAL_VERSION`], or 1).
    pub version: u8,
    /// The group's signed genesis.
    pub genesis: SignedGenesis,
    /// Who is let in.
    pub requester: AuthorId,
    /// The current epoch.
    pub epoch: u64,
    /// The epoch secrets, sealed to the requester: a [`Handover`] (version 2) or the
    /// current epoch's 32-byte secret (version 1).
    pub sealed: Sealed,
    /// Member addresses to dial (binary multiaddrs).
    pub addrs: Vec<Vec<u8>>,
    /// When it was signed.
    pub issued_ms: u64,
}

/// A signed approval; the signer is the approving admin.
pub type SignedApproval = Signed<Approval>;

/// A signed approval with the approver's authority: what goes to the requester.
pub type ProvenApproval = Proven<Approval>;

fn seal_context(group: &GroupId, requester: &AuthorId) -> Vec<u8> {
    let mut c = b"qun/v1/approval\0".to_vec();
    c.extend_from_slice(group.as_bytes());
    c.extend_from_slice(requester.as_bytes());
    c
}

impl Signed<Request> {
    /// Signs a join request.
    pub fn create(requester: &Identity, request: Request) -> Result<Self, Error> {
        request.check()?;
        let signed = Signed::sign(requester, DOMAIN_JOIN_REQUEST, request)?;
        signed.encode(MAX_JOIN_BYTES)?;
        Ok(signed)
    }

    /// Checks signature, version, limits and time.
    pub fn check(&self, now_ms: u64) -> Result<(), Error> {
        self.verify(DOMAIN_JOIN_REQUEST)?;
        self.value.check()?;
        check_time(self.value.issued_ms, now_ms)
    }
}

impl Request {
    fn check(&self) -> Result<(), Error> {
        check_version(self.version)?;
        check_text("join note", &self.note, MAX_JOIN_NOTE_BYTES, false)?;
        check_addrs(&self.addrs, MAX_CARD_ADDRS)
    }
}

impl Signed<Approval> {
    /// Seals `epochs` to the requester and signs a bare approval; only the genesis owner
    /// may. Admins and later owners sign with [`ProvenApproval::create`].
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        admin: &Identity,
        genesis: SignedGenesis,
        requester: AuthorId,
        epochs: &Handover,
        addrs: Vec<Vec<u8>>,
        issued_ms: u64,
        randomness: ([u8; 32], [u8; 24]),
    ) -> Result<Self, Error> {
        if genesis.genesis.owner != admin.author() {
            return Err(Error::NotAllowed {
                signer: admin.author(),
            });
        }
        if genesis.genesis.visibility != Visibility::Listed {
            return Err(Error::Invalid("approvals are for listed groups".into()));
        }
        genesis
            .verify()
            .map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
        let group = genesis.id()?;
        let sealed = epochs.seal(
            &requester,
            &seal_context(&group, &requester),
            randomness.0,
            randomness.1,
        )?;
        let approval = Approval {
            version: APPROVAL_VERSION,
            genesis,
            requester,
            epoch: epochs.current().0,
            sealed,
            addrs,
            issued_ms,
        };
        check_addrs(&approval.addrs, MAX_CARD_ADDRS)?;
        let signed = Signed::sign(admin, DOMAIN_APPROVAL, approval)?;
        signed.encode(MAX_JOIN_BYTES)?;
        Ok(signed)
    }

    /// Checks the approval for `me` and opens the epoch secrets: signature, version, the
    /// group is listed, the approver owns it (by the genesis), it names us, and the seal
    /// opens to a well-formed [`Handover`] whose newest epoch is the approval's.
    pub fn open_for(&self, me: &Identity, now_ms: u64) -> Result<(GroupId, Handover), Error> {
        self.check_content(me, now_ms)?;
        if self.signer != self.value.genesis.genesis.owner {
            return Err(Error::NotAllowed {
                signer: self.signer,
            });
        }
        self.open_secret(me)
    }

    /// Everything but who signed it and the seal.
    fn check_content(&self, me: &Identity, now_ms: u64) -> Result<(), Error> {
        self.verify(DOMAIN_APPROVAL)?;
        let a = &self.value;
        if a.version != APPROVAL_VERSION && a.version != seal::HANDOVER_V1 {
            return Err(Error::UnknownVersion { version: a.version });
        }
        check_addrs(&a.addrs, MAX_CARD_ADDRS)?;
        check_time(a.issued_ms, now_ms)?;
        a.genesis
            .verify()
            .map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
        if a.genesis.genesis.visibility != Visibility::Listed {
            return Err(Error::Invalid("approvals are for listed groups".into()));
        }
        if a.requester != me.author() {
            return Err(Error::Invalid("approval is for someone else".into()));
        }
        Ok(())
    }

    fn open_secret(&self, me: &Identity) -> Result<(GroupId, Handover), Error> {
        let a = &self.value;
        let group = a.genesis.id()?;
        let context = seal_context(&group, &a.requester);
        let epochs = Handover::open(me, &a.sealed, &context, a.version, a.epoch)?;
        Ok((group, epochs))
    }
}

impl Proven<Approval> {
    /// Seals `epochs` to the requester and signs the approval as the owner or an admin
    /// that `authority` proves.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        admin: &Identity,
        authority: Authority,
        genesis: SignedGenesis,
        requester: AuthorId,
        epochs: &Handover,
        addrs: Vec<Vec<u8>>,
        issued_ms: u64,
        randomness: ([u8; 32], [u8; 24]),
    ) -> Result<Self, Error> {
        if genesis.genesis.visibility != Visibility::Listed {
            return Err(Error::Invalid("approvals are for listed groups".into()));
        }
        genesis
            .verify()
            .map_err(|e| Error::Invalid(format!("genesis: {e}")))?;
        let group = genesis.id()?;
        authority.verify(&genesis, &group, &admin.author(), issued_ms)?;
        let sealed = epochs.seal(
            &requester,
            &seal_context(&group, &requester),
            randomness.0,
            randomness.1,
        )?;
        let approval = Approval {
            version: APPROVAL_VERSION,
            genesis,
            requester,
            epoch: epochs.current().0,
            sealed,
            addrs,
            issued_ms,
        };
        check_addrs(&approval.addrs, MAX_CARD_ADDRS)?;
        let signed = Signed::sign(admin, DOMAIN_APPROVAL, approval)?;
        signed.encode(MAX_JOIN_BYTES)?;
        Ok(Self { signed, authority })
    }

    /// Checks the approval for `me` and opens the epoch secrets: what
    /// [`SignedApproval::open_for`] checks, except that the approver may be the current
    /// owner or an admin the authority proves; and, given the card we asked with, the
    /// authority must rank no lower than the card's ([`Authority::rank`]).
    ///
    /// # Errors
    /// [`Error::NotAllowed`] when the authority does not make the signer an admin;
    /// [`Error::Superseded`] when it ranks below the card's (an approver demoted since,
    /// or a former owner).
    pub fn open_for(
        &self,
        me: &Identity,
        asked_with: Option<&ProvenCard>,
        now_ms: u64,
    ) -> Result<(GroupId, Handover), Error> {
        self.signed.check_content(me, now_ms)?;
        let a = &self.signed.value;
        let group = a.genesis.id()?;
        self.authority
            .verify(&a.genesis, &group, &self.signed.signer, now_ms)?;
        if let Some(card) = asked_with
            && self.authority.rank() < card.authority.rank()
        {
            return Err(Error::Superseded {
                signer: self.signed.signer,
            });
        }
        self.signed.open_secret(me)
    }
}
