//! The sync wire (`/qun/sync/3`) and its proofs, as properties: requests and responses
//! round-trip; any bytes decode to a value or a clean error (never a panic); a proof
//! verifies only for the context it was made for, and no other tag passes.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use qun_protocol::codec;
use qun_protocol::id::GroupId;
use qun_protocol::order::OrderKey;
use qun_protocol::secret::GroupSecret;
use qun_protocol::sync::{
    Ask, MAX_FETCH, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, Proof, ProofContext, Refusal, Request,
    Response,
};

fn order_key() -> impl Strategy<Value = OrderKey> {
    any::<[u8; 32]>().prop_flat_map(|id| {
        (any::<u64>(), any::<u64>()).prop_map(move |(a, b)| {
            let mut bytes = [0u8; OrderKey::LEN];
            bytes[..8].copy_from_slice(&a.to_be_bytes());
            bytes[8..16].copy_from_slice(&b.to_be_bytes());
            bytes[16..].copy_from_slice(&id);
            OrderKey::from_bytes(&bytes).expect("48 bytes")
        })
    })
}

fn request() -> impl Strategy<Value = Request> {
    let head = (any::<[u8; 32]>(), any::<u64>(), any::<[u8; 32]>());
    prop_oneof![
        (head, proptest::collection::vec(any::<u8>(), 0..256)).prop_map(
            |((g, epoch, p), message)| Request::Reconcile {
                group: GroupId::from_bytes(g),
                epoch,
                proof: Proof::from_bytes(p),
                message,
            }
        ),
        (head, proptest::collection::vec(order_key(), 0..16)).prop_map(|((g, epoch, p), keys)| {
            Request::Fetch {
                group: GroupId::from_bytes(g),
                epoch,
                proof: Proof::from_bytes(p),
                keys,
            }
        }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256)
            .prop_map(|message| Response::Reconcile { message }),
        proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)
            .prop_map(|frames| Response::Frames { frames }),
        Just(Response::Refused {
            reason: Refusal::RateLimited
        }),
        Just(Response::Refused {
            reason: Refusal::Malformed
        }),
        Just(Response::Unknown),
    ]
}

/// Bytes that decode as a request or response are its canonical encoding.
fn decode_cleanly(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = Request::decode(bytes) {
        prop_assert_eq!(codec::encode(&r).unwrap(), bytes);
        if let Request::Fetch { keys, .. } = &r {
            // The decoder bounds the bytes; the responder bounds the count.
            prop_assert!(keys.len() <= MAX_REQUEST_BYTES / OrderKey::LEN);
        }
    }
    if let Ok(r) = Response::decode(bytes) {
        prop_assert_eq!(codec::encode(&r).unwrap(), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_and_responses_roundtrip(req in request(), resp in response()) {
        let bytes = codec::encode(&req).unwrap();
        prop_assert!(bytes.len() <= MAX_REQUEST_BYTES);
        prop_assert_eq!(Request::decode(&bytes).unwrap(), req.clone());
        let bytes = codec::encode(&resp).unwrap();
        prop_assert!(bytes.len() <= MAX_RESPONSE_BYTES);
        prop_assert_eq!(Response::decode(&bytes).unwrap(), resp);
        // The accessors name what was built.
        let (group, epoch, proof) = match &req {
            Request::Reconcile { group, epoch, proof, .. }
            | Request::Fetch { group, epoch, proof, .. } => (group, *epoch, proof),
        };
        prop_assert_eq!((req.group(), req.epoch(), req.proof()), (group, epoch, proof));
    }

    #[test]
    fn arbitrary_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_cleanly(&bytes)?;
    }

    #[test]
    fn mutated_requests_decode_or_fail_cleanly(
        req in request(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut bytes = codec::encode(&req).unwrap();
        for (i, v) in edits {
            let at = i.index(bytes.len());
            bytes[at] = v;
        }
        if let Some(c) = cut {
            bytes.truncate(c.index(bytes.len() + 1));
        }
        decode_cleanly(&bytes)?;
    }

    #[test]
    fn a_proof_verifies_only_for_its_context(
        secret in any::<[u8; 32]>(),
        group in any::<[u8; 32]>(),
        epoch in any::<u64>(),
        requester in proptest::collection::vec(any::<u8>(), 0..48),
        responder in proptest::collection::vec(any::<u8>(), 0..48),
        other in proptest::collection::vec(any::<u8>(), 0..48),
        flip in (0usize..32, 1u8..=255),
    ) {
        let group = GroupId::from_bytes(group);
        let key = GroupSecret::from_bytes(secret).sync_key(&group, epoch);
        let ctx = ProofContext { requester: &requester, responder: &responder, group: &group, epoch, ask: Ask::Fetch };
        let proof = ctx.prove(&key);
        prop_assert_eq!(ctx.verify(&key, &proof), Ok(()));
        // Any other tag fails.
        let mut bad = *proof.as_bytes();
        bad[flip.0] ^= flip.1;
        prop_assert!(ctx.verify(&key, &Proof::from_bytes(bad)).is_err());
        // Another requester (a replay by another peer) fails.
        if other != requester {
            let replay = ProofContext { requester: &other, ..ctx };
            prop_assert!(replay.verify(&key, &proof).is_err());
        }
        // Another epoch's key fails.
        let next = GroupSecret::from_bytes(secret).sync_key(&group, epoch.wrapping_add(1));
        prop_assert!(ctx.verify(&next, &proof).is_err());
    }
}

#[test]
fn a_full_fetch_of_maximal_keys_decodes() {
    let req = Request::Fetch {
        group: GroupId::from_bytes([0xff; 32]),
        epoch: u64::MAX,
        proof: Proof::from_bytes([0xff; 32]),
        keys: vec![OrderKey::from_bytes(&[0xff; OrderKey::LEN]).unwrap(); MAX_FETCH],
    };
    let bytes = codec::encode(&req).unwrap();
    assert_eq!(Request::decode(&bytes).unwrap(), req);
}
