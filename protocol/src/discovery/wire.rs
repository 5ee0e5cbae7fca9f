//! `/qun/discovery/1`: what a searcher or a would-be member says to a peer directly.
//!
//! * `Search { tokens }`: "which of your groups are indexed under these tokens?", sent to
//!   the providers the DHT named. The answer is those groups' signed cards (the newest
//!   each peer holds), at most [`MAX_SEARCH_CARDS`]; the searcher verifies each and checks
//!   its tokens itself, so a peer can neither forge a card nor make a card match.
//! * `Join(request)`: a join request for a listed group, sent to its admins. The answer
//!   says whether it is pending, approved (with the approval) or rejected. The requester
//!   asks again from time to time while pending, so an approval made while it was away
//!   still reaches it.
//! * `Approved(approval)`: an admin pushes an approval to the requester as soon as it is
//!   made. `ApprovedBy` (and `JoinStatus::ApprovedBy`, `Response::ProvenCards`) carry the
//!   signer's authority ([`super::authority`]), so an admin, not only the genesis owner,
//!   may sign; the older variants stay, at their places, for what the genesis owner signs.
//! * `Admit(request)`: the holder of an invite asks a member to let it in; the answer is
//!   `Admitted` (the secret sealed to it) or `AdmitRefused` with the reason.
//!
//! Both directions are decoded with limits ([`MAX_DISCOVERY_REQUEST_BYTES`],
//! [`MAX_DISCOVERY_RESPONSE_BYTES`]).

use serde::{Deserialize, Serialize};

use super::card::{ProvenCard, SignedCard};
use super::join::{ProvenApproval, SignedApproval, SignedRequest};
use crate::codec;
use crate::invite::admit::{self, Refusal, SignedAdmission};
use crate::limits::*;

/// The protocol name.
pub const PROTOCOL: &str = "/qun/discovery/1";

/// A discovery request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Cards of the groups indexed under all of these tokens (normalised).
    Search {
        /// The query tokens.
        tokens: Vec<String>,
    },
    /// A join request for a listed group.
    Join(Box<SignedRequest>),
    /// An approval pushed to the requester.
    Approved(Box<SignedApproval>),
    /// A request to be admitted by invite ([`crate::invite::admit`]).
    Admit(Box<admit::Request>),
    /// An approval, with its signer's authority, pushed to the requester.
    ApprovedBy(Box<ProvenApproval>),
    /// The epoch secrets, pushed by an admin to a member that a re-key was not sealed to
    /// (it was admitted while the re-key was made): an admission signed by the admin,
    /// without an invite ([`admit::SignedAdmission::open_pushed`]). Last, so that the
    /// earlier variants keep their wire index.
    Handover(Box<admit::SignedAdmission>),
}

/// Where a join request stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JoinStatus {
    /// Waiting for an admin.
    Pending,
    /// Approved.
    Approved(Box<SignedApproval>),
    /// Rejected.
    Rejected,
    /// Approved, with the approver's authority.
    ApprovedBy(Box<ProvenApproval>),
}

/// A discovery response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Signed cards, to be checked by the receiver ([`super::card::SignedCard::check`]).
    Cards(Vec<SignedCard>),
    /// The state of a join request.
    Join(JoinStatus),
    /// Received.
    Ack,
    /// Refused, with the reason.
    Refused(String),
    /// Admitted by invite: the secret sealed to the joiner.
    Admitted(Box<SignedAdmission>),
    /// Not admitted, and why.
    AdmitRefused(Refusal),
    /// Cards with their signers' authorities, to be checked by the receiver
    /// ([`super::card::ProvenCard::check`]).
    ProvenCards(Vec<ProvenCard>),
}

impl Request {
    /// Encodes within the request limits (what this encodes, [`Self::decode`] accepts).
    pub fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        self.check()?;
        encode_within(self, MAX_DISCOVERY_REQUEST_BYTES)
    }

    /// Decodes with the request limit; a search with too many tokens is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        let r: Self = codec::decode(bytes, MAX_DISCOVERY_REQUEST_BYTES)?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), codec::Error> {
        match self {
            Request::Search { tokens } if tokens.len() > MAX_QUERY_TOKENS => {
                Err(codec::Error::Malformed(format!(
                    "{} search tokens; at most {MAX_QUERY_TOKENS}",
                    tokens.len()
                )))
            }
            _ => Ok(()),
        }
    }
}

impl Response {
    /// Encodes within the response limits (what this encodes, [`Self::decode`] accepts).
    pub fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        self.check()?;
        encode_within(self, MAX_DISCOVERY_RESPONSE_BYTES)
    }

    /// Decodes with the response limit; too many cards is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        let r: Self = codec::decode(bytes, MAX_DISCOVERY_RESPONSE_BYTES)?;
        r.check()?;
        Ok(r)
    }

    fn check(&self) -> Result<(), codec::Error> {
        match self {
            Response::Cards(cards) if cards.len() > MAX_SEARCH_CARDS => {
                Err(codec::Error::Malformed(format!(
                    "{} cards; at most {MAX_SEARCH_CARDS}",
                    cards.len()
                )))
            }
            Response::ProvenCards(cards) if cards.len() > MAX_SEARCH_CARDS => {
                Err(codec::Error::Malformed(format!(
                    "{} cards; at most {MAX_SEARCH_CARDS}",
                    cards.len()
                )))
            }
            _ => Ok(()),
        }
    }
}

fn encode_within<T: Serialize>(v: &T, max: usize) -> Result<Vec<u8>, codec::Error> {
    let bytes = codec::encode(v)?;
    if bytes.len() > max {
        return Err(codec::Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}
