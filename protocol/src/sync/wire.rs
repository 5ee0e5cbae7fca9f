//! The wire messages of `/qun/sync/3`, between two members of a group.
//!
//! A sync has two phases, both pulled by the member that starts it:
//!
//! 1. **Reconcile**: the two members run range-based set reconciliation
//!    ([`crate::reconcile`]) over the order keys of the group's messages of one epoch, one
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
//!
//! ## Only members sync
//! Order keys alone tell a lot (how many messages, when, how often), so every request
//! carries a [`Proof`] that the requester holds the secret of the epoch it asks about: an
//! HMAC-SHA256 keyed by the epoch's sync key (HKDF from the epoch secret with its own label,
//! [`crate::GroupSecret::sync_key`]) over [`PROOF_DOMAIN`], the requester's and the
//! responder's peer ids, the group id, the epoch and the kind of request. The responder
//! recomputes it with the peer id the connection authenticated (noise) and its own, and
//! compares in constant time, so a proof cannot be replayed by another peer nor to another
//! responder, and a reconcile proof is not a fetch proof. The request body itself is not
//! covered: the authenticated, encrypted connection already binds it to the requester.
//!
//! A request with a bad proof, for a group the responder does not hold, for an epoch it does
//! not hold, or from a member who left is answered with the same bytes,
//! [`Response::Unknown`], after the same work (a check against a dummy key when there is no
//! real one): a stranger who names a group id learns nothing, not even whether the
//! responder is in the group. A member is served only the epochs it proves, one epoch per
//! request: the reconciled set is that epoch's messages, and a fetch returns only messages
//! of that epoch.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::codec;
use crate::id::GroupId;
use crate::order::OrderKey;
use crate::reconcile;
use crate::secret::SyncKey;

/// Most order keys one fetch asks for.
pub const MAX_FETCH: usize = 1000;
/// Largest encoded sync request: a reconcile message or a full fetch, plus framing.
pub const MAX_REQUEST_BYTES: usize = reconcile::MAX_MESSAGE_BYTES + 1024;
/// Largest encoded sync response (8 MiB).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Most frame bytes a responder puts in one page (leaves room under the response limit).
pub const MAX_PAGE_BYTES: usize = 6 * 1024 * 1024;
/// The domain prefix of every sync proof (names the protocol version, so a proof of one
/// version is not one of another).
pub const PROOF_DOMAIN: &[u8] = b"qun/sync/3/proof\0";

// A full fetch must fit a request.
const _: () = assert!(MAX_FETCH * (OrderKey::LEN + 8) + 64 < MAX_REQUEST_BYTES);

/// Proof that the requester holds an epoch's secret: HMAC-SHA256 tag (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof([u8; 32]);

impl Proof {
    /// Wraps 32 tag bytes (from the wire, or a test that forges one).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The tag bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Proof(..)")
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The tag does not match the key, peers, group, epoch and kind it claims.
    #[error("the sync proof does not match")]
    Mismatch,
}

/// The kind of request a proof is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ask {
    /// A reconciliation round.
    Reconcile,
    /// A fetch of frames.
    Fetch,
}

impl Ask {
    fn tag(self) -> u8 {
        match self {
            Ask::Reconcile => 1,
            Ask::Fetch => 2,
        }
    }
}

/// What a proof binds, besides the key: who asks whom, about what.
#[derive(Debug, Clone, Copy)]
pub struct ProofContext<'a> {
    /// The requester's peer id bytes (libp2p `PeerId::to_bytes`).
    pub requester: &'a [u8],
    /// The responder's peer id bytes.
    pub responder: &'a [u8],
    /// The group.
    pub group: &'a GroupId,
    /// The epoch asked about.
    pub epoch: u64,
    /// The kind of request.
    pub ask: Ask,
}

impl ProofContext<'_> {
    fn mac(&self, key: &SyncKey) -> Hmac<Sha256> {
        // HMAC pads a key shorter than its 64-byte block with zeros (RFC 2104), so the
        // padded block is the same key as the 32 bytes, and this form cannot fail.
        let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
        block[..key.0.len()].copy_from_slice(&key.0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
        mac.update(PROOF_DOMAIN);
        // Length prefixes keep the two peer ids apart whatever their lengths.
        mac.update(&(self.requester.len() as u64).to_be_bytes());
        mac.update(self.requester);
        mac.update(&(self.responder.len() as u64).to_be_bytes());
        mac.update(self.responder);
        mac.update(self.group.as_bytes());
        mac.update(&self.epoch.to_be_bytes());
        mac.update(&[self.ask.tag()]);
        mac
    }

    /// The proof for this context under `key`.
    pub fn prove(&self, key: &SyncKey) -> Proof {
        let mut tag = [0u8; 32];
        tag.copy_from_slice(&self.mac(key).finalize().into_bytes());
        Proof(tag)
    }

    /// Checks `proof` for this context under `key`, in constant time.
    pub fn verify(&self, key: &SyncKey, proof: &Proof) -> Result<(), ProofError> {
        self.mac(key)
            .verify_slice(&proof.0)
            .map_err(|_| ProofError::Mismatch)
    }
}

/// What the initiator of a sync asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One reconciliation round over the order keys of `group`'s messages of `epoch`.
    Reconcile {
        /// The group.
        group: GroupId,
        /// The epoch.
        epoch: u64,
        /// Proof of the epoch's secret, made for [`Ask::Reconcile`].
        proof: Proof,
        /// An encoded [`reconcile::Message`].
        #[serde(with = "codec::bytes")]
        message: Vec<u8>,
    },
    /// "Send me these messages of `group` of `epoch`."
    Fetch {
        /// The group.
        group: GroupId,
        /// The epoch.
        epoch: u64,
        /// Proof of the epoch's secret, made for [`Ask::Fetch`].
        proof: Proof,
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
    /// The one answer to a bad proof, an unknown group or epoch, and a member who left:
    /// the responder says nothing more (see the module docs).
    Unknown,
}

/// Why a request from a proven member was refused (or, for `RateLimited`, from anyone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
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

    /// The epoch it is about.
    pub fn epoch(&self) -> u64 {
        match self {
            Self::Reconcile { epoch, .. } | Self::Fetch { epoch, .. } => *epoch,
        }
    }

    /// Its proof.
    pub fn proof(&self) -> &Proof {
        match self {
            Self::Reconcile { proof, .. } | Self::Fetch { proof, .. } => proof,
        }
    }

    /// Its kind.
    pub fn ask(&self) -> Ask {
        match self {
            Self::Reconcile { .. } => Ask::Reconcile,
            Self::Fetch { .. } => Ask::Fetch,
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
    use crate::secret::GroupSecret;

    const GROUP: GroupId = GroupId::from_bytes([7; 32]);
    const ALICE: &[u8] = b"alice-peer-id-bytes";
    const BOB: &[u8] = b"bob-peer-id-bytes";

    fn key(epoch: u64) -> SyncKey {
        GroupSecret::from_bytes([3; 32]).sync_key(&GROUP, epoch)
    }

    fn ctx(
        requester: &'static [u8],
        responder: &'static [u8],
        epoch: u64,
    ) -> ProofContext<'static> {
        ProofContext {
            requester,
            responder,
            group: &GROUP,
            epoch,
            ask: Ask::Reconcile,
        }
    }

    #[test]
    fn a_proof_verifies_for_its_own_context() {
        let proof = ctx(ALICE, BOB, 0).prove(&key(0));
        assert_eq!(ctx(ALICE, BOB, 0).verify(&key(0), &proof), Ok(()));
    }

    #[test]
    fn a_proof_is_bound_to_both_peers_the_group_the_epoch_and_the_kind() {
        let proof = ctx(ALICE, BOB, 0).prove(&key(0));
        let mismatch = Err(ProofError::Mismatch);
        // Replayed by another peer, or to another responder, or swapped.
        assert_eq!(ctx(b"mallory", BOB, 0).verify(&key(0), &proof), mismatch);
        assert_eq!(ctx(ALICE, b"carol", 0).verify(&key(0), &proof), mismatch);
        assert_eq!(ctx(BOB, ALICE, 0).verify(&key(0), &proof), mismatch);
        // Another epoch (with that epoch's key, or this one's).
        assert_eq!(ctx(ALICE, BOB, 1).verify(&key(1), &proof), mismatch);
        assert_eq!(ctx(ALICE, BOB, 1).verify(&key(0), &proof), mismatch);
        // Another group.
        let other = GroupId::from_bytes([8; 32]);
        let c = ProofContext {
            group: &other,
            ..ctx(ALICE, BOB, 0)
        };
        assert_eq!(c.verify(&key(0), &proof), mismatch);
        // A reconcile proof is not a fetch proof.
        let c = ProofContext {
            ask: Ask::Fetch,
            ..ctx(ALICE, BOB, 0)
        };
        assert_eq!(c.verify(&key(0), &proof), mismatch);
    }

    #[test]
    fn peer_ids_cannot_be_shifted_across_the_boundary() {
        // Without length prefixes "ab" + "c" and "a" + "bc" would hash the same.
        let proof = ctx(b"ab", b"c", 0).prove(&key(0));
        assert!(ctx(b"a", b"bc", 0).verify(&key(0), &proof).is_err());
    }

    #[test]
    fn only_the_secret_makes_a_proof() {
        let proof = ctx(ALICE, BOB, 0).prove(&key(0));
        let wrong = GroupSecret::from_bytes([4; 32]).sync_key(&GROUP, 0);
        assert!(ctx(ALICE, BOB, 0).verify(&wrong, &proof).is_err());
        assert!(
            ctx(ALICE, BOB, 0)
                .verify(&SyncKey::unknown(), &proof)
                .is_err()
        );
        // The sync key is not the message key.
        let mk = GroupSecret::from_bytes([3; 32]).message_key(&GROUP, 0);
        assert_ne!(mk.as_bytes(), &key(0).0);
    }

    #[test]
    fn the_padded_key_is_the_same_hmac_key_as_the_32_bytes() {
        let k = key(0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&k.0).unwrap();
        let c = ctx(ALICE, BOB, 0);
        mac.update(PROOF_DOMAIN);
        mac.update(&(ALICE.len() as u64).to_be_bytes());
        mac.update(ALICE);
        mac.update(&(BOB.len() as u64).to_be_bytes());
        mac.update(BOB);
        mac.update(GROUP.as_bytes());
        mac.update(&0u64.to_be_bytes());
        mac.update(&[1]);
        assert_eq!(mac.finalize().into_bytes()[..], c.prove(&k).0[..]);
    }

    #[test]
    fn a_full_fetch_fits_the_request_limit() {
        let key = OrderKey {
            stamp: Stamp::new(u64::MAX, u64::MAX),
            id: MsgId::from_bytes([0xff; 32]),
        };
        let req = Request::Fetch {
            group: GroupId::from_bytes([1; 32]),
            epoch: u64::MAX,
            proof: Proof([0xff; 32]),
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
            epoch: 0,
            proof: Proof([0; 32]),
            message: vec![0; MAX_REQUEST_BYTES],
        };
        let bytes = codec::encode(&req).unwrap();
        assert!(Request::decode(&bytes).is_err());
    }

    #[test]
    fn unknown_is_one_fixed_answer() {
        // Whatever the reason, the bytes are these: one variant tag, nothing else.
        let bytes = codec::encode(&Response::Unknown).unwrap();
        assert_eq!(bytes, 3u32.to_le_bytes());
        assert_eq!(Response::decode(&bytes).unwrap(), Response::Unknown);
    }
}
