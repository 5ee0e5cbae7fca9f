//! History sync between two members of a group: the wire messages of `/qun/sync/2`.
//!
//! A sync has two phases, both pulled by the member that starts it:
//!
//! 1. **Reconcile**: the two members run range-based set reconciliation
//!    ([`crate::reconcile`]) over the order keys of the group's messages, one
//!    [`Request::Reconcile`] / [`Response::Reconcile`] round trip per round. The responder
//!    is stateless. The cost grows with the number of differences d, not with the history:
//!    one difference among 100,000 messages takes 2 round trips and under 2 KB.
//! 2. **Fetch**: the initiator asks for the messages it lacks, at most [`MAX_FETCH`] order
//!    keys per [`Request::Fetch`]; the responder answers with sealed frames
//!    ([`Response::Frames`]), at most [`MAX_PAGE_BYTES`] of them, so a page may hold fewer
//!    than asked and the initiator asks again for the rest.
//!
//! Frames are sealed with the group's epoch keys, so only members can read them, and the
//! receiver runs each through the same [`crate::frame::open`] path as gossip. A frame whose
//! order key was not asked for is refused too. Each side pulls what it lacks; a member
//! learns what the other lacks when the other syncs with it.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::GroupId;
use crate::order::OrderKey;
use crate::reconcile;

/// Most order keys one fetch asks for.
pub const MAX_FETCH: usize = 1000;
/// Largest encoded sync request: a reconcile message or a full fetch, plus framing.
pub const MAX_REQUEST_BYTES: usize = reconcile::MAX_MESSAGE_BYTES + 1024;
/// Largest encoded sync response (8 MiB).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Most frame bytes a responder puts in one page (leaves room under the response limit).
pub const MAX_PAGE_BYTES: usize = 6 * 1024 * 1024;

// A full fetch must fit a request.
const _: () = assert!(MAX_FETCH * (OrderKey::LEN + 8) + 64 < MAX_REQUEST_BYTES);

/// What the initiator of a sync asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One reconciliation round over `group`'s order keys.
    Reconcile {
        /// The group.
        group: GroupId,
        /// An encoded [`reconcile::Message`].
        #[serde(with = "codec::bytes")]
        message: Vec<u8>,
    },
    /// "Send me these messages of `group`."
    Fetch {
        /// The group.
        group: GroupId,
        /// Their order keys (at most [`MAX_FETCH`]).
        keys: Vec<OrderKey>,
    },
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The responder's reconciliation message.
    Reconcile {
        /// An encoded [`reconcile::Message`].
        #[serde(with = "codec::bytes")]
        message: Vec<u8>,
    },
    /// Sealed frames of the asked messages, in the order asked, missing ones left out; a
    /// page that hit [`MAX_PAGE_BYTES`] stops early.
    Frames {
        /// Encoded [`crate::Frame`]s.
        frames: Vec<Vec<u8>>,
    },
    /// The responder will not answer now.
    Refused {
        /// Why.
        reason: Refusal,
    },
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// The responder is not in the group.
    UnknownGroup,
    /// Too many requests from this peer.
    RateLimited,
    /// The request was malformed (bad reconcile message, too many keys).
    Malformed,
}

impl Request {
    /// Decodes with the request limit.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        codec::decode(bytes, MAX_REQUEST_BYTES)
    }

    /// The group it is about.
    pub fn group(&self) -> &GroupId {
        match self {
            Self::Reconcile { group, .. } | Self::Fetch { group, .. } => group,
        }
    }
}

impl Response {
    /// Decodes with the response limit.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        codec::decode(bytes, MAX_RESPONSE_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MsgId;
    use crate::order::Stamp;

    #[test]
    fn a_full_fetch_fits_the_request_limit() {
        let key = OrderKey {
            stamp: Stamp::new(u64::MAX, u64::MAX),
            id: MsgId::from_bytes([0xff; 32]),
        };
        let req = Request::Fetch {
            group: GroupId::from_bytes([1; 32]),
            keys: vec![key; MAX_FETCH],
        };
        let bytes = codec::encode(&req).unwrap();
        assert!(bytes.len() <= MAX_REQUEST_BYTES);
        assert_eq!(Request::decode(&bytes).unwrap(), req);
    }

    #[test]
    fn oversized_requests_are_refused() {
        let req = Request::Reconcile {
            group: GroupId::from_bytes([1; 32]),
            message: vec![0; MAX_REQUEST_BYTES],
        };
        let bytes = codec::encode(&req).unwrap();
        assert!(Request::decode(&bytes).is_err());
    }
}
