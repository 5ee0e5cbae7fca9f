//! Property tests for every wire type.
//!
//! * Round trip: `decode(encode(x)) == x`, and the decoded value re-encodes to the very same
//!   bytes (the codec is canonical, so hashes over encodings cannot be malleated).
//! * Robustness: arbitrary bytes, and valid encodings with a few bytes changed or cut off,
//!   fed to every decoder give a value or a clean error, never a panic. When a decoder does
//!   accept arbitrary bytes, re-encoding the value gives those bytes back.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "proptest_roundtrip/strategies.rs"]
mod strategies;

use std::fmt::Debug;
use std::str::FromStr;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;

use qun_protocol::codec;
use qun_protocol::crypto::seal::{SealedKey, SealedKeys};
use qun_protocol::frame::{self, Frame};
use qun_protocol::group::{Genesis, SignedGenesis, Visibility};
use qun_protocol::group::{Rekey, Role};
use qun_protocol::id::{AuthorId, GroupId, MsgId};
use qun_protocol::identity::{Identity, Signature};
use qun_protocol::invite::{self, Invite};
use qun_protocol::limits::*;
use qun_protocol::message::{
    Announcement, Ban, Body, Envelope, Join, KNOWN_TAGS, Kind, Meta, Mute, Pin, Remove, SetRole,
    Text, Transfer, Unban, Unmute, Unpin,
};
use qun_protocol::order::{MAX_COUNTER, OrderKey, Stamp};
use qun_protocol::secret::{GroupSecret, MessageKey};
use strategies::*;

const CASES: u32 = 256;
/// Cases for properties that sign or verify (ed25519 is slow in debug builds).
const SIGNING_CASES: u32 = 32;
/// Cases for invites: each one signs twice and verifies six times.
const INVITE_CASES: u32 = 16;
/// "Now" for invite checks; every generated invite expires after it.
const NOW_MS: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------- helpers

/// `decode(encode(x)) == x` and the decoded value re-encodes to the same bytes.
fn roundtrip<T>(x: &T, max: usize) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(x).expect("encode");
    prop_assert!(
        bytes.len() <= max,
        "{} bytes over the decode limit {max}",
        bytes.len()
    );
    let y: T = codec::decode(&bytes, max).expect("decode");
    prop_assert_eq!(&y, x);
    prop_assert_eq!(codec::encode(&y).expect("re-encode"), bytes);
    Ok(())
}

/// If `bytes` decode as `T`, they are its canonical encoding.
fn canonical_or_error<T>(bytes: &[u8], max: usize) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned,
{
    if let Ok(v) = codec::decode::<T>(bytes, max) {
        prop_assert_eq!(codec::encode(&v).expect("re-encode"), bytes);
    }
    Ok(())
}

fn key() -> MessageKey {
    GroupSecret::from_bytes([7; 32]).message_key(&GroupId::from_bytes([1; 32]), 0)
}

/// Feeds `bytes` to every binary decoder; none may panic.
fn every_decoder(bytes: &[u8]) -> Result<(), TestCaseError> {
    canonical_or_error::<AuthorId>(bytes, 32)?;
    canonical_or_error::<GroupId>(bytes, 32)?;
    canonical_or_error::<MsgId>(bytes, 32)?;
    canonical_or_error::<Signature>(bytes, 64)?;
    canonical_or_error::<Text>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Announcement>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Join>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Meta>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Kind>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Body>(bytes, MAX_BODY_BYTES)?;
    canonical_or_error::<Envelope>(bytes, MAX_ENVELOPE_BYTES)?;
    canonical_or_error::<Frame>(bytes, MAX_FRAME_BYTES)?;
    canonical_or_error::<Genesis>(bytes, MAX_GENESIS_BYTES)?;
    canonical_or_error::<SignedGenesis>(bytes, MAX_GENESIS_BYTES)?;
    canonical_or_error::<invite::Content>(bytes, MAX_INVITE_BYTES)?;
    canonical_or_error::<Invite>(bytes, MAX_INVITE_BYTES)?;
    let group = GroupId::from_bytes([1; 32]);
    let _ = Frame::decode(bytes);
    let _ = frame::open(bytes, &group, |_| Some(key()));
    let _ = Envelope::decode_verified(bytes);
    let _ = SignedGenesis::decode(bytes);
    let _ = Invite::from_bytes(bytes, NOW_MS);
    let _ = OrderKey::from_bytes(bytes);
    Ok(())
}

/// Feeds `s` to every text parser; none may panic.
fn every_parser(s: &str) {
    let _ = Invite::parse(s, NOW_MS);
    let _ = AuthorId::from_str(s);
    let _ = GroupId::from_str(s);
    let _ = MsgId::from_str(s);
    let _ = Visibility::from_str(s);
}

// ---------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn ids_roundtrip(a in fresh_author(), g in group_id(), m in msg_id()) {
        roundtrip(&a, 32)?;
        roundtrip(&g, 32)?;
        roundtrip(&m, 32)?;
        prop_assert_eq!(AuthorId::from_str(&a.to_string()), Ok(a));
        prop_assert_eq!(GroupId::from_str(&g.to_string()), Ok(g));
        prop_assert_eq!(MsgId::from_str(&m.to_string()), Ok(m));
        prop_assert_eq!(AuthorId::from_peer_id_bytes(&a.peer_id_bytes()), Ok(a));
        prop_assert_eq!(AuthorId::from_bytes(*a.as_bytes()), Ok(a));
    }

    #[test]
    fn signature_roundtrip(s in signature()) {
        roundtrip(&s, 64)?;
    }

    #[test]
    fn kind_payloads_roundtrip(t in text(), a in announcement(), j in join(), m in meta()) {
        roundtrip(&t, MAX_BODY_BYTES)?;
        roundtrip(&a, MAX_BODY_BYTES)?;
        roundtrip(&j, MAX_BODY_BYTES)?;
        roundtrip(&m, MAX_BODY_BYTES)?;
    }

    #[test]
    fn kind_roundtrip(k in kind()) {
        roundtrip(&k, MAX_BODY_BYTES)?;
    }

    #[test]
    fn unknown_kind_is_kept_verbatim(k in unknown_kind()) {
        let bytes = codec::encode(&k).expect("encode");
        let back: Kind = codec::decode(&bytes, MAX_BODY_BYTES).expect("decode");
        prop_assert!(matches!(back, Kind::Unknown { .. }), "decoded as {:?}", back);
        prop_assert_eq!(back.tag(), k.tag());
        prop_assert_eq!(back, k);
    }

    #[test]
    fn body_roundtrip(b in body()) {
        roundtrip(&b, MAX_BODY_BYTES)?;
    }

    #[test]
    fn raw_envelope_roundtrip(e in raw_envelope()) {
        roundtrip(&e, MAX_ENVELOPE_BYTES)?;
    }

    #[test]
    fn frame_roundtrip(f in frame()) {
        roundtrip(&f, MAX_FRAME_BYTES)?;
        let bytes = f.encode().expect("encode");
        prop_assert_eq!(bytes.len(), f.encoded_len());
        if f.version == frame::VERSION {
            prop_assert_eq!(Frame::decode(&bytes), Ok(f));
        } else {
            prop_assert_eq!(
                Frame::decode(&bytes),
                Err(frame::OpenError::UnknownVersion { version: f.version })
            );
        }
    }

    #[test]
    fn genesis_roundtrip(g in genesis()) {
        roundtrip(&g, MAX_GENESIS_BYTES)?;
        prop_assert_eq!(Visibility::from_str(g.visibility.as_str()), Ok(g.visibility));
    }

    #[test]
    fn order_key_roundtrip(a in order_key(), b in order_key()) {
        prop_assert_eq!(OrderKey::from_bytes(&a.to_bytes()), Some(a));
        prop_assert_eq!(a.cmp(&b), a.to_bytes().cmp(&b.to_bytes()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNING_CASES))]

    #[test]
    fn envelope_sign_verify_roundtrip(s in seed(), b in body()) {
        let signed = Envelope::sign(&Identity::from_seed(s), &b).expect("valid body");
        roundtrip(&signed.envelope, MAX_ENVELOPE_BYTES)?;
        roundtrip(&b, MAX_BODY_BYTES)?;
        let bytes = signed.envelope.encode().expect("encode");
        let verified = Envelope::decode_verified(&bytes).expect("verifies");
        prop_assert_eq!(verified.envelope.encode().expect("re-encode"), bytes);
        prop_assert_eq!(verified.id, signed.envelope.id().expect("id"));
        prop_assert_eq!(&verified, &signed);
        prop_assert_eq!(verified.clone().envelope.verify(), Ok(verified));
    }

    #[test]
    fn sealed_frame_opens_to_the_same_message(
        s in seed(),
        b in body(),
        secret in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
    ) {
        let signed = Envelope::sign(&Identity::from_seed(s), &b).expect("valid body");
        let key = GroupSecret::from_bytes(secret).message_key(&b.group, b.epoch);
        let sealed = frame::seal_verified(&signed, &key, nonce).expect("seal");
        roundtrip(&sealed, MAX_FRAME_BYTES)?;
        let bytes = sealed.encode().expect("encode");
        prop_assert_eq!(Frame::decode(&bytes), Ok(sealed));
        let opened = frame::open(&bytes, &b.group, |e| (e == b.epoch).then(|| key.clone()));
        prop_assert_eq!(opened, Ok(signed));
    }

    #[test]
    fn signed_genesis_roundtrip(g in signed_genesis()) {
        roundtrip(&g, MAX_GENESIS_BYTES)?;
        let bytes = codec::encode(&g).expect("encode");
        prop_assert_eq!(SignedGenesis::decode(&bytes), Ok(g.clone()));
        prop_assert_eq!(g.verify(), Ok(()));
    }
}

// ---------------------------------------------------------------- robustness

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        every_decoder(&bytes)?;
    }

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>(), tail in "\\PC{0,64}") {
        every_parser(&s);
        every_parser(&format!("qun1{tail}"));
        every_parser(&format!("{s} qun1{tail}"));
    }

    #[test]
    fn mutated_encodings_never_panic(
        bytes in (body(), raw_envelope(), frame(), genesis())
            .prop_map(|(b, e, f, g)| {
                [
                    codec::encode(&b).expect("body"),
                    codec::encode(&e).expect("envelope"),
                    codec::encode(&f).expect("frame"),
                    codec::encode(&g).expect("genesis"),
                ]
            })
            .prop_flat_map(|[b, e, f, g]| (mutate(b), mutate(e), mutate(f), mutate(g))),
    ) {
        every_decoder(&bytes.0)?;
        every_decoder(&bytes.1)?;
        every_decoder(&bytes.2)?;
        every_decoder(&bytes.3)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNING_CASES))]

    /// A changed or truncated sealed frame never opens, and never panics.
    #[test]
    fn mutated_frames_never_open(
        (original, mutated) in (seed(), body(), any::<[u8; 24]>())
            .prop_map(|(s, b, nonce)| {
                let group = GroupId::from_bytes([1; 32]);
                let b = Body { group, ..b };
                let signed = Envelope::sign(&Identity::from_seed(s), &b).expect("valid body");
                frame::seal_verified(&signed, &key(), nonce)
                    .and_then(|f| f.encode())
                    .expect("seal")
            })
            .prop_flat_map(|bytes| (Just(bytes.clone()), mutate(bytes))),
    ) {
        let group = GroupId::from_bytes([1; 32]);
        every_decoder(&mutated)?;
        let opened = frame::open(&mutated, &group, |_| Some(key()));
        if mutated == original {
            prop_assert!(opened.is_ok());
        } else {
            prop_assert!(opened.is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(INVITE_CASES))]

    #[test]
    fn invite_roundtrip(inv in signed_invite()) {
        roundtrip(&inv.ticket.content, MAX_INVITE_BYTES)?;
        roundtrip(&inv, MAX_INVITE_BYTES)?;
        let bytes = codec::encode(&inv).expect("encode");
        prop_assert_eq!(Invite::from_bytes(&bytes, NOW_MS), Ok(inv.clone()));
        let code = inv.to_text().expect("text");
        prop_assert!(code.starts_with("qun1"));
        prop_assert!(code.len() <= MAX_INVITE_CHARS);
        let parsed = Invite::parse(&code, NOW_MS).expect("parses");
        prop_assert_eq!(parsed.to_text().expect("text"), code.clone());
        prop_assert_eq!(&parsed, &inv);
        prop_assert_eq!(Invite::parse(&code.to_uppercase(), NOW_MS), Ok(inv));
    }

    #[test]
    fn mutated_invites_never_panic(
        (bytes, code) in signed_invite()
            .prop_map(|inv| (codec::encode(&inv).expect("encode"), inv.to_text().expect("text")))
            .prop_flat_map(|(bytes, code)| {
                let chars = code.clone().into_bytes();
                (mutate(bytes), mutate(chars))
            }),
    ) {
        let _ = Invite::from_bytes(&bytes, NOW_MS);
        every_parser(&String::from_utf8_lossy(&code));
    }
}

/// Regression: `find_code` sliced a pasted word at byte 4, which panicked when byte 4 fell
/// inside a multi-byte character.
#[test]
fn pasted_text_with_multibyte_characters_does_not_panic() {
    for s in ["ab€", "qu€€", "qun€1", "加入", "q加入qun1", "qun1€"] {
        assert!(Invite::parse(s, NOW_MS).is_err(), "{s}");
    }
}
