//! Tampering and edge cases: every changed bit of a frame is caught, frames are bound to
//! their group and epoch, ed25519's weak keys and malleable signatures are refused, and ids
//! parse with typed errors. Invite codes are in `invite_codes.rs`, the group state fold in
//! `group_state.rs`.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use qun_protocol::codec;
use qun_protocol::frame::{self, Frame, OpenError};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::id::{AuthorId, GroupId, MsgId, ParseError};
use qun_protocol::identity::{Identity, Signature, SignatureError};
use qun_protocol::message::{self, Envelope};
use qun_protocol::secret::MessageKey;

mod common;
use common::*;

/// Seals the encoded `envelope` for `group`/`epoch` with `key`, returns the frame bytes.
fn seal(envelope: &[u8], key: &MessageKey, group: &GroupId, epoch: u64) -> Vec<u8> {
    Frame::seal(envelope, key, group, epoch, [9; 24])
        .unwrap()
        .encode()
        .unwrap()
}

// ---------------------------------------------------------------- frames

#[test]
fn every_flipped_bit_is_caught() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G1, 1);
    let bytes = seal(&msg.envelope.encode().unwrap(), &k, &G1, 1);
    assert_eq!(frame::open(&bytes, &G1, |_| Some(k.clone())), Ok(msg));
    // Layout: version (1), epoch (8), nonce (24), ciphertext length (8), ciphertext.
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        // The same key for every epoch, so a changed epoch must be caught by the AEAD.
        let err = frame::open(&b, &G1, |_| Some(k.clone())).unwrap_err();
        let byte = bit / 8;
        match byte {
            0 => assert!(
                matches!(err, OpenError::UnknownVersion { .. }),
                "{bit}: {err:?}"
            ),
            33..=40 => assert!(matches!(err, OpenError::Malformed(_)), "{bit}: {err:?}"),
            _ => assert_eq!(err, OpenError::Decrypt, "bit {bit}"),
        }
        assert!(err.is_sender_fault());
    }
}

#[test]
fn truncated_and_extended_frames_are_refused() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G1, 1);
    let bytes = seal(&msg.envelope.encode().unwrap(), &k, &G1, 1);
    for len in 1..bytes.len() {
        assert!(frame::open(&bytes[..len], &G1, |_| Some(k.clone())).is_err());
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        frame::open(&longer, &G1, |_| Some(k.clone())),
        Err(OpenError::Malformed(_))
    ));
}

#[test]
fn frames_are_bound_to_their_group_and_epoch() {
    let k = key(&G1, 1);
    // Sealed for G2 with the very key G1 uses: does not open for G1.
    let for_g2 = signed(&owner(), &body(G2, 1, 1, hi()));
    let bytes = seal(&for_g2.envelope.encode().unwrap(), &k, &G2, 1);
    assert_eq!(
        frame::open(&bytes, &G1, |_| Some(k.clone())),
        Err(OpenError::Decrypt)
    );
    assert!(frame::open(&bytes, &G2, |_| Some(k.clone())).is_ok());

    // Sealed for epoch 2, relabelled as epoch 1: the AEAD catches it.
    let for_e2 = signed(&owner(), &body(G1, 2, 1, hi()));
    let bytes = seal(&for_e2.envelope.encode().unwrap(), &k, &G1, 2);
    let mut f = Frame::decode(&bytes).unwrap();
    f.epoch = 1;
    let relabelled = f.encode().unwrap();
    assert_eq!(
        frame::open(&relabelled, &G1, |_| Some(k.clone())),
        Err(OpenError::Decrypt)
    );

    // With real per-epoch keys, a frame of epoch 2 under epoch 1's key does not decrypt.
    let bytes = seal(&for_e2.envelope.encode().unwrap(), &key(&G1, 2), &G1, 2);
    assert_eq!(
        frame::open(&bytes, &G1, |_| Some(key(&G1, 1))),
        Err(OpenError::Decrypt)
    );
    assert!(frame::open(&bytes, &G1, |e| Some(key(&G1, e))).is_ok());

    // Keys differ per group and per epoch.
    assert_ne!(key(&G1, 1), key(&G2, 1));
    assert_ne!(key(&G1, 1), key(&G1, 2));
    assert_ne!(secret().topic(&G1, 1), secret().topic(&G2, 1));
    assert_ne!(secret().topic(&G1, 1), secret().topic(&G1, 2));
}

#[test]
fn body_naming_another_group_is_refused() {
    // Correctly sealed for G2, but the signed body says G1.
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G2, 1);
    let bytes = seal(&msg.envelope.encode().unwrap(), &k, &G2, 1);
    assert_eq!(
        frame::open(&bytes, &G2, |_| Some(k.clone())),
        Err(OpenError::WrongGroup {
            expected: G2,
            found: G1
        })
    );
}

#[test]
fn body_naming_another_epoch_is_refused() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G1, 2);
    let bytes = seal(&msg.envelope.encode().unwrap(), &k, &G1, 2);
    assert_eq!(
        frame::open(&bytes, &G1, |_| Some(k.clone())),
        Err(OpenError::WrongEpoch { frame: 2, body: 1 })
    );
}

#[test]
fn unknown_version_and_epoch() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G1, 1);
    let bytes = seal(&msg.envelope.encode().unwrap(), &k, &G1, 1);

    let mut f = Frame::decode(&bytes).unwrap();
    f.version = 2;
    let v2 = f.encode().unwrap();
    let err = frame::open(&v2, &G1, |_| Some(k.clone())).unwrap_err();
    assert_eq!(err, OpenError::UnknownVersion { version: 2 });
    assert!(err.is_sender_fault());

    let err = frame::open(&bytes, &G1, |_| None).unwrap_err();
    assert_eq!(err, OpenError::UnknownEpoch { epoch: 1 });
    assert!(!err.is_sender_fault());
    assert_eq!(err.author(), None);
}

#[test]
fn bad_signature_inside_a_good_frame_names_the_author() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let mut envelope = msg.envelope.clone();
    envelope.signature.0[10] ^= 1;
    let k = key(&G1, 1);
    let bytes = seal(&envelope.encode().unwrap(), &k, &G1, 1);
    let err = frame::open(&bytes, &G1, |_| Some(k.clone())).unwrap_err();
    assert_eq!(
        err,
        OpenError::Message(message::Error::Signature(SignatureError::Mismatch {
            author: owner().author()
        }))
    );
    assert_eq!(err.author(), Some(owner().author()));
    assert!(err.is_sender_fault());
}

#[test]
fn signed_body_bytes_cannot_be_swapped() {
    // The signature covers the body: another author's body under my signature fails.
    let mine = signed(&owner(), &body(G1, 1, 1, hi()));
    let theirs = signed(&member(), &body(G1, 1, 2, hi()));
    let forged = Envelope {
        body: theirs.envelope.body.clone(),
        ..mine.envelope.clone()
    };
    assert!(matches!(
        Envelope::decode_verified(&forged.encode().unwrap()),
        Err(message::Error::Signature(_))
    ));
    // And a genesis or invite signature is not an envelope signature (domain separation).
    let g = SignedGenesis::create(&owner(), "g", NOW_MS, Visibility::Private, [3; 16]).unwrap();
    let as_envelope = Envelope {
        author: owner().author(),
        signature: g.signature,
        body: codec::encode(&g.genesis).unwrap(),
    };
    assert!(as_envelope.verify().is_err());
}

// ---------------------------------------------------------------- ed25519 edge cases

/// Encodings of the eight points of small order on edwards25519 (and non-canonical
/// encodings of some of them).
const SMALL_ORDER: [&str; 10] = [
    // order 1 (the identity)
    "0100000000000000000000000000000000000000000000000000000000000000",
    // order 2
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // order 4
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    // non-canonical encodings (y >= p) of the identity and the point of order 2
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
];

fn bytes32(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

/// A signature (R = identity, S = 0) that the cofactored, non-strict equation accepts
/// for a small-order key over any message.
fn trivial_signature() -> Signature {
    let mut s = [0u8; 64];
    s[0] = 1;
    Signature(s)
}

#[test]
fn small_order_keys_are_refused() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let k = key(&G1, 1);
    for hex_key in SMALL_ORDER {
        let raw = bytes32(hex_key);
        assert_eq!(
            AuthorId::from_bytes(raw),
            Err(ParseError::BadKey),
            "{hex_key}"
        );
        let author = AuthorId::from_bytes_unchecked(raw);
        assert_eq!(
            AuthorId::from_str(&author.to_string()),
            Err(ParseError::BadKey),
            "{hex_key}"
        );
        for signature in [
            trivial_signature(),
            msg.envelope.signature,
            Signature([0; 64]),
        ] {
            let envelope = Envelope {
                author,
                signature,
                body: msg.envelope.body.clone(),
            };
            let bytes = envelope.encode().unwrap();
            assert!(
                matches!(
                    Envelope::decode_verified(&bytes),
                    Err(message::Error::Signature(_))
                ),
                "{hex_key}"
            );
            let sealed = seal(&bytes, &k, &G1, 1);
            assert!(
                matches!(
                    frame::open(&sealed, &G1, |_| Some(k.clone())),
                    Err(OpenError::Message(message::Error::Signature(_)))
                ),
                "{hex_key}"
            );
        }
    }
}

/// The order of the ed25519 base point, little-endian:
/// L = 2^252 + 27742317777372353535851937790883648493.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// `s + L` as 32 little-endian bytes (S < L < 2^253, so the sum fits).
fn add_l(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(s[i]) + u16::from(L[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}

#[test]
fn non_canonical_signatures_are_refused() {
    let msg = signed(&owner(), &body(G1, 1, 1, hi()));
    let bytes = msg.envelope.encode().unwrap();
    assert!(Envelope::decode_verified(&bytes).is_ok());

    // S + L is the same scalar mod L: the malleated signature satisfies the verification
    // equation, but a strict verifier refuses it, so message ids cannot be malleated.
    let mut malleated = msg.envelope.clone();
    let s_plus_l = add_l(&malleated.signature.0[32..]);
    malleated.signature.0[32..].copy_from_slice(&s_plus_l);
    assert_ne!(malleated, msg.envelope);
    let forged = malleated.encode().unwrap();
    assert_eq!(
        Envelope::decode_verified(&forged),
        Err(message::Error::Signature(SignatureError::Mismatch {
            author: owner().author()
        }))
    );
    let k = key(&G1, 1);
    assert!(frame::open(&seal(&forged, &k, &G1, 1), &G1, |_| Some(k.clone())).is_err());

    // Same for a genesis signature.
    let mut g = SignedGenesis::create(&owner(), "g", NOW_MS, Visibility::Private, [3; 16]).unwrap();
    assert_eq!(g.verify(), Ok(()));
    let s_plus_l = add_l(&g.signature.0[32..]);
    g.signature.0[32..].copy_from_slice(&s_plus_l);
    assert!(g.verify().is_err());
}

// ---------------------------------------------------------------- id text forms

#[test]
fn author_id_is_the_libp2p_peer_id() {
    // Computed independently with libp2p-identity 0.3 (`Keypair::ed25519_from_bytes`).
    let expected = [
        (
            [1u8; 32],
            "12D3KooWK99VoVxNE7XzyBwXEzW7xhK7Gpv85r9F3V3fyKSUKPH5",
        ),
        (
            [2u8; 32],
            "12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq",
        ),
    ];
    for (seed, peer_id) in expected {
        let author = Identity::from_seed(seed).author();
        let text = author.to_string();
        assert!(text.starts_with("12D3KooW"), "{text}");
        assert_eq!(text, peer_id);
        assert_eq!(AuthorId::from_str(&text), Ok(author));
        assert_eq!(AuthorId::from_str(&format!("  {text}\n")), Ok(author));
        assert_eq!(format!("{author:?}"), format!("AuthorId({peer_id})"));
    }
}

#[test]
fn ids_give_typed_parse_errors() {
    let author = owner().author();
    let text = author.to_string();
    // 0, O, I and l are not base58.
    for bad in ["0OIl", "12D3KooW0", "not an id!"] {
        assert!(
            matches!(AuthorId::from_str(bad), Err(ParseError::Base58(_))),
            "{bad}"
        );
        assert!(
            matches!(GroupId::from_str(bad), Err(ParseError::Base58(_))),
            "{bad}"
        );
        assert!(
            matches!(MsgId::from_str(bad), Err(ParseError::Base58(_))),
            "{bad}"
        );
    }
    assert_eq!(
        AuthorId::from_str(&text[..text.len() - 1]),
        Err(ParseError::Length {
            expected: 38,
            got: 37
        })
    );
    assert_eq!(
        AuthorId::from_str(""),
        Err(ParseError::Length {
            expected: 38,
            got: 0
        })
    );
    // Right length, wrong multihash/key-type prefix (an RSA or secp256k1 peer id would be).
    let mut wrong = author.peer_id_bytes();
    wrong[3] = 0x02;
    assert_eq!(
        AuthorId::from_str(&bs58::encode(wrong).into_string()),
        Err(ParseError::NotEd25519)
    );
    // A group id is not an author id and vice versa.
    let g = GroupId::from_bytes([5; 32]);
    assert_eq!(
        AuthorId::from_str(&g.to_string()),
        Err(ParseError::Length {
            expected: 38,
            got: 32
        })
    );
    assert_eq!(
        GroupId::from_str(&text),
        Err(ParseError::Length {
            expected: 32,
            got: 38
        })
    );
    assert_eq!(GroupId::from_str(&g.to_string()), Ok(g));
    assert_eq!(
        MsgId::from_str(&bs58::encode([1u8; 31]).into_string()),
        Err(ParseError::Length {
            expected: 32,
            got: 31
        })
    );
}
