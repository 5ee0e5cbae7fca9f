//! Property tests for every wire type.
//!
//! * Round trip: `decode(encode(x)) == x`, and the decoded value re-encodes to the very same
//!   bytes (the codec is canonical, so hashes over encodings cannot be malleated).
//! * Robustness: arbitrary bytes, and valid encodings with a few bytes changed or cut off,
//!   fed to every decoder give a value or a clean error, never a panic. When a decoder does
//!   accept arbitrary bytes, re-encoding the value gives those bytes back.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

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

const CASES: u32 = 256;
/// Cases for properties that sign or verify (ed25519 is slow in debug builds).
const SIGNING_CASES: u32 = 32;
/// Cases for invites: each one signs twice and verifies six times.
const INVITE_CASES: u32 = 16;
/// "Now" for invite checks; every generated invite expires after it.
const NOW_MS: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------- strategies

fn seed() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// A valid author from a fresh key (an ed25519 key derivation per case).
fn fresh_author() -> impl Strategy<Value = AuthorId> {
    seed().prop_map(|s| Identity::from_seed(s).author())
}

/// Valid authors derived once: ed25519 is slow in debug builds, and the shapes around an
/// author matter more than which key it is.
static AUTHORS: LazyLock<Vec<AuthorId>> = LazyLock::new(|| {
    (0..16u8)
        .map(|i| Identity::from_seed([i; 32]).author())
        .collect()
});

fn author() -> impl Strategy<Value = AuthorId> {
    proptest::sample::select(AUTHORS.as_slice())
}

fn group_id() -> impl Strategy<Value = GroupId> {
    any::<[u8; 32]>().prop_map(GroupId::from_bytes)
}

fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<[u8; 32]>().prop_map(MsgId::from_bytes)
}

fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn text() -> impl Strategy<Value = Text> {
    (
        "\\PC{1,40}",
        proptest::option::of(msg_id()),
        proptest::collection::vec(author(), 0..4),
    )
        .prop_map(|(text, reply_to, mentions)| Text {
            text,
            reply_to,
            mentions,
        })
}

fn announcement() -> impl Strategy<Value = Announcement> {
    "\\PC{0,40}".prop_map(|text| Announcement { text })
}

fn join() -> impl Strategy<Value = Join> {
    proptest::option::of(author()).prop_map(|inviter| Join { inviter })
}

fn meta() -> impl Strategy<Value = Meta> {
    (
        "\\PC{0,40}",
        proptest::collection::vec("[a-z0-9\u{4e00}-\u{9fa5}]{1,8}", 0..=MAX_TAGS),
    )
        .prop_map(|(description, tags)| Meta { description, tags })
}

/// A kind this version does not know: tags from 100 up (but the known ones), opaque
/// payload.
fn unknown_kind() -> impl Strategy<Value = Kind> {
    (100u16.., proptest::collection::vec(any::<u8>(), 0..64))
        .prop_filter("a tag this version knows", |(tag, _)| {
            !KNOWN_TAGS.contains(tag)
        })
        .prop_map(|(tag, payload)| Kind::Unknown { tag, payload })
}

/// A valid re-key: epoch above 0, recipients ascending; any bytes where the keys and tags
/// go (neither the codec nor validation opens them).
fn rekey() -> impl Strategy<Value = Rekey> {
    let entry = (author(), any::<[u8; 32]>(), any::<[u8; 16]>())
        .prop_map(|(to, key, tag)| SealedKey { to, key, tag });
    (
        1u64..,
        any::<[u8; 32]>(),
        any::<[u8; 24]>(),
        proptest::collection::vec(entry, 0..8),
    )
        .prop_map(|(epoch, ephemeral, nonce, mut to)| {
            to.sort_by_key(|e| e.to);
            to.dedup_by_key(|e| e.to);
            Rekey {
                epoch,
                sealed: SealedKeys {
                    ephemeral,
                    nonce,
                    to,
                },
            }
        })
}

/// The governance kinds, valid.
fn governance_kind() -> impl Strategy<Value = Kind> {
    let role = prop_oneof![Just(Role::Admin), Just(Role::Member)];
    prop_oneof![
        (author(), role).prop_map(|(member, role)| Kind::Role(SetRole { member, role })),
        author().prop_map(|to| Kind::Transfer(Transfer { to })),
        author().prop_map(|member| Kind::Remove(Remove { member })),
        author().prop_map(|member| Kind::Ban(Ban { member })),
        author().prop_map(|member| Kind::Unban(Unban { member })),
        (author(), proptest::option::of(1..=MAX_MUTE_MS)).prop_map(|(member, duration_ms)| {
            Kind::Mute(Mute {
                member,
                duration_ms,
            })
        }),
        author().prop_map(|member| Kind::Unmute(Unmute { member })),
        msg_id().prop_map(|id| Kind::Pin(Pin { id })),
        msg_id().prop_map(|id| Kind::Unpin(Unpin { id })),
        rekey().prop_map(Kind::Rekey),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        text().prop_map(Kind::Text),
        announcement().prop_map(Kind::Announcement),
        join().prop_map(Kind::Join),
        Just(Kind::Leave),
        meta().prop_map(Kind::Meta),
        governance_kind(),
        unknown_kind(),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    (
        group_id(),
        any::<u64>(),
        any::<u64>(),
        0..=MAX_COUNTER,
        kind(),
    )
        .prop_map(|(group, epoch, ms, counter, kind)| Body {
            group,
            epoch,
            stamp: Stamp::new(ms, counter),
            kind,
        })
}

/// Any envelope shape, signature or not (for the codec).
fn raw_envelope() -> impl Strategy<Value = Envelope> {
    (
        any::<[u8; 32]>(),
        signature(),
        proptest::collection::vec(any::<u8>(), 0..128),
    )
        .prop_map(|(a, signature, body)| Envelope {
            author: AuthorId::from_bytes_unchecked(a),
            signature,
            body,
        })
}

fn frame() -> impl Strategy<Value = Frame> {
    (
        any::<u8>(),
        any::<u64>(),
        any::<[u8; 24]>(),
        proptest::collection::vec(any::<u8>(), 0..128),
    )
        .prop_map(|(version, epoch, nonce, ciphertext)| Frame {
            version,
            epoch,
            nonce,
            ciphertext,
        })
}

fn visibility() -> impl Strategy<Value = Visibility> {
    prop_oneof![
        Just(Visibility::Public),
        Just(Visibility::Listed),
        Just(Visibility::Private),
    ]
}

/// A valid group name: not blank, short enough that an invite with four maximal
/// addresses still fits in `MAX_INVITE_BYTES`.
fn group_name() -> impl Strategy<Value = String> {
    "[a-z\u{4e00}-\u{9fa5}][a-z0-9 \u{4e00}-\u{9fa5}]{0,7}"
}

fn genesis() -> impl Strategy<Value = Genesis> {
    (
        author(),
        "\\PC{0,40}",
        any::<u64>(),
        visibility(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(owner, name, created_ms, visibility, nonce)| Genesis {
            owner,
            name,
            created_ms,
            visibility,
            nonce,
        })
}

/// A genesis signed by its owner.
fn signed_genesis() -> impl Strategy<Value = SignedGenesis> {
    (
        seed(),
        group_name(),
        any::<u64>(),
        visibility(),
        any::<[u8; 16]>(),
    )
        .prop_map(|(s, name, created_ms, vis, nonce)| {
            SignedGenesis::create(&Identity::from_seed(s), &name, created_ms, vis, nonce)
                .expect("valid genesis")
        })
}

fn addrs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..=MAX_ADDR_BYTES),
        0..=MAX_INVITE_ADDRS,
    )
}

fn content() -> impl Strategy<Value = invite::Content> {
    (
        group_id(),
        any::<u64>(),
        any::<[u8; 16]>(),
        addrs(),
        NOW_MS + 1..,
        author(),
    )
        .prop_map(
            |(group, epoch, check, addrs, expires_ms, inviter)| invite::Content {
                version: invite::VERSION,
                group,
                inviter,
                epoch,
                check,
                key: inviter,
                addrs,
                expires_ms,
            },
        )
}

/// A valid invite signed by a random inviter.
fn signed_invite() -> impl Strategy<Value = Invite> {
    (seed(), content(), any::<[u8; 16]>()).prop_map(|(s, content, key_seed)| {
        Invite::create(&Identity::from_seed(s), content, key_seed).expect("invite fits")
    })
}

fn order_key() -> impl Strategy<Value = OrderKey> {
    (any::<u64>(), any::<u64>(), msg_id()).prop_map(|(ms, counter, id)| OrderKey {
        stamp: Stamp::new(ms, counter),
        id,
    })
}

/// Valid bytes with a few bytes replaced and perhaps cut short: inputs that get deep into
/// a decoder, unlike uniformly random bytes.
fn mutate(bytes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((any::<Index>(), any::<u8>()), 0..4),
        proptest::option::of(any::<Index>()),
    )
        .prop_map(move |(edits, cut)| {
            let mut b = bytes.clone();
            if b.is_empty() {
                return b;
            }
            for (i, v) in edits {
                let at = i.index(b.len());
                b[at] = v;
            }
            if let Some(c) = cut {
                b.truncate(c.index(b.len() + 1));
            }
            b
        })
}

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
