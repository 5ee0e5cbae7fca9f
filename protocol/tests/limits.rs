//! Boundary tests for every limit in `qun_protocol::limits`, on the sending side
//! (`Envelope::sign`, `SignedGenesis::create`, `Invite::create`) and on the receiving side
//! (`frame::open`, `Envelope::decode_verified`, `SignedGenesis::decode`,
//! `Invite::from_bytes`), plus allocation bounds for hostile length prefixes.
//!
//! Allocation bounds are measured with `allocation-counter`, which installs a counting
//! global allocator with per-thread counters (tests run in parallel). A wrapper written in
//! this file would need `unsafe impl GlobalAlloc`, and the workspace lints `forbid` unsafe
//! code, which an inner `#![allow(unsafe_code)]` cannot override.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "limits/allocation.rs"]
mod allocation;

use std::time::{Duration, Instant};

use qun_protocol::codec;
use qun_protocol::frame::{self, Frame, OpenError};
use qun_protocol::group::{self, Genesis, SignedGenesis, Visibility};
use qun_protocol::id::{GroupId, MsgId};
use qun_protocol::identity::{DOMAIN_ENVELOPE, DOMAIN_GENESIS, DOMAIN_INVITE, Identity};
use qun_protocol::invite::{self, Invite};
use qun_protocol::limits::*;
use qun_protocol::message::{self, Announcement, Body, Envelope, Kind, Meta, Text, Verified};
use qun_protocol::order::{LEGACY_BEFORE_MS, MAX_COUNTER, Stamp};
use qun_protocol::secret::{GroupSecret, MessageKey};

// ---------------------------------------------------------------- helpers

const GROUP: GroupId = GroupId::from_bytes([1; 32]);
const EPOCH: u64 = 3;
const NOW_MS: u64 = 1_700_000_000_000;

fn owner() -> Identity {
    Identity::from_seed([1; 32])
}

fn key() -> MessageKey {
    GroupSecret::from_bytes([7; 32]).message_key(&GROUP, EPOCH)
}

fn body(kind: Kind) -> Body {
    Body {
        group: GROUP,
        epoch: EPOCH,
        stamp: Stamp::new(NOW_MS, 0),
        kind,
    }
}

fn text(s: String) -> Kind {
    Kind::Text(Text {
        text: s,
        reply_to: None,
        mentions: Vec::new(),
    })
}

fn meta(description: String, tags: Vec<String>) -> Kind {
    Kind::Meta(Meta { description, tags })
}

/// Signs a body without `Envelope::sign`'s checks: what a hostile or buggy sender emits.
fn sign_unchecked(identity: &Identity, body: &Body) -> Envelope {
    let bytes = codec::encode(body).unwrap();
    Envelope {
        author: identity.author(),
        signature: identity.sign(DOMAIN_ENVELOPE, &bytes),
        body: bytes,
    }
}

fn seal(envelope: &Envelope) -> Vec<u8> {
    Frame::seal(&envelope.encode().unwrap(), &key(), &GROUP, EPOCH, [9; 24])
        .unwrap()
        .encode()
        .unwrap()
}

fn open(bytes: &[u8]) -> Result<Verified, OpenError> {
    frame::open(bytes, &GROUP, |e| (e == EPOCH).then(key))
}

/// `kind` is accepted by the sender and, sealed, by the receiver.
fn assert_accepted(kind: Kind) {
    let signed = Envelope::sign(&owner(), &body(kind)).unwrap();
    let bytes = frame::seal_verified(&signed, &key(), [9; 24])
        .unwrap()
        .encode()
        .unwrap();
    assert_eq!(open(&bytes), Ok(signed));
}

/// Whether `e` is a limit or name rule of a kind (what `message::Error::Invalid` covered
/// before each rule had its variant).
fn broke_a_limit(e: &message::Error) -> bool {
    use message::Error::*;
    matches!(
        e,
        TextLength { .. }
            | TooManyMentions { .. }
            | AnnouncementTooLong { .. }
            | DescriptionTooLong { .. }
            | TooManyTags { .. }
            | KnownTagRaw { .. }
            | UnknownPayloadTooLarge { .. }
            | Name(_)
    )
}

/// `kind` is refused by the sender and, signed and sealed anyway, by the receiver.
fn assert_refused(kind: Kind) {
    let b = body(kind);
    let sent = Envelope::sign(&owner(), &b);
    assert!(
        matches!(&sent, Err(e) if broke_a_limit(e)),
        "sign: {sent:?}"
    );
    let envelope = sign_unchecked(&owner(), &b);
    let received = Envelope::decode_verified(&envelope.encode().unwrap());
    assert!(
        matches!(&received, Err(e) if broke_a_limit(e)),
        "decode_verified: {received:?}"
    );
    let opened = open(&seal(&envelope));
    assert!(
        matches!(&opened, Err(OpenError::Message(e)) if broke_a_limit(e)),
        "open: {opened:?}"
    );
}

// ---------------------------------------------------------------- message limits

#[test]
fn text_length() {
    assert_accepted(text("a".repeat(MAX_TEXT_BYTES)));
    // Counted in UTF-8 bytes, not characters: 3-byte CJK characters up to the limit.
    assert_accepted(text("字".repeat(MAX_TEXT_BYTES / 3)));
    assert_accepted(text("a".into()));
    assert_refused(text("a".repeat(MAX_TEXT_BYTES + 1)));
    assert_refused(text("字".repeat(MAX_TEXT_BYTES / 3 + 1)));
    assert_refused(text(String::new()));
}

#[test]
fn mentions() {
    let mentions = |n: usize| {
        Kind::Text(Text {
            text: "hi".into(),
            reply_to: Some(MsgId::from_bytes([4; 32])),
            mentions: vec![owner().author(); n],
        })
    };
    assert_accepted(mentions(0));
    assert_accepted(mentions(MAX_MENTIONS));
    assert_refused(mentions(MAX_MENTIONS + 1));
}

#[test]
fn announcement_length() {
    let ann = |text: String| Kind::Announcement(Announcement { text });
    assert_accepted(ann("a".repeat(MAX_ANNOUNCEMENT_BYTES)));
    // An empty announcement clears it: allowed.
    assert_accepted(ann(String::new()));
    assert_refused(ann("a".repeat(MAX_ANNOUNCEMENT_BYTES + 1)));
}

#[test]
fn description_length() {
    assert_accepted(meta("d".repeat(MAX_DESCRIPTION_BYTES), Vec::new()));
    assert_accepted(meta(String::new(), Vec::new()));
    assert_refused(meta("d".repeat(MAX_DESCRIPTION_BYTES + 1), Vec::new()));
}

#[test]
fn tags() {
    let tags = |n: usize, len: usize| meta(String::new(), vec!["t".repeat(len); n]);
    assert_accepted(tags(MAX_TAGS, MAX_TAG_BYTES));
    assert_accepted(tags(MAX_TAGS, 1));
    assert_refused(tags(MAX_TAGS + 1, 1));
    assert_refused(tags(1, MAX_TAG_BYTES + 1));
    assert_refused(tags(1, 0));
    // A tag that shows nothing or hides a control, bidi or zero-width character.
    for bad in ["\u{200b}", "  ", "a\u{202e}b", "a\nb", "\u{3164}"] {
        assert_refused(meta(String::new(), vec![bad.to_owned()]));
    }
}

#[test]
fn unknown_kind_payload() {
    let unknown = |tag: u16, len: usize| Kind::Unknown {
        tag,
        payload: vec![0xab; len],
    };
    assert_accepted(unknown(100, 0));
    assert_accepted(unknown(u16::MAX, MAX_UNKNOWN_KIND_BYTES));
    assert_refused(unknown(100, MAX_UNKNOWN_KIND_BYTES + 1));
    // A known tag cannot be smuggled in raw.
    assert!(matches!(
        Envelope::sign(&owner(), &body(unknown(1, 4))),
        Err(message::Error::KnownTagRaw { tag: 1 })
    ));
}

#[test]
fn stamp_counter() {
    let at = |ms: u64, counter: u64| Body {
        stamp: Stamp::new(ms, counter),
        ..body(text("hi".into()))
    };
    // Any ms decodes (how far ahead is the receiver's call, `order::check`); the counter
    // of a hybrid stamp is bounded; a legacy (Lamport) stamp carries a time in it.
    for ok in [
        at(NOW_MS, MAX_COUNTER),
        at(u64::MAX, 0),
        at(1 << 48, 7),
        at(300, NOW_MS),
        at(LEGACY_BEFORE_MS - 1, u64::MAX),
    ] {
        let signed = Envelope::sign(&owner(), &ok).unwrap();
        assert_eq!(open(&seal(&signed.envelope)), Ok(signed));
    }
    for (ms, counter) in [(NOW_MS, MAX_COUNTER + 1), (LEGACY_BEFORE_MS, u64::MAX)] {
        let stamp = Stamp::new(ms, counter);
        assert_eq!(
            Envelope::sign(&owner(), &at(ms, counter)),
            Err(message::Error::CounterTooLarge { stamp })
        );
        let opened = open(&seal(&sign_unchecked(&owner(), &at(ms, counter))));
        assert_eq!(
            opened,
            Err(OpenError::Message(message::Error::CounterTooLarge {
                stamp
            }))
        );
    }
}

// ---------------------------------------------------------------- group name

fn genesis_signed_unchecked(name: &str) -> Vec<u8> {
    let genesis = Genesis {
        owner: owner().author(),
        name: name.into(),
        created_ms: NOW_MS,
        visibility: Visibility::Private,
        nonce: [3; 16],
    };
    let signature = owner().sign(DOMAIN_GENESIS, &codec::encode(&genesis).unwrap());
    codec::encode(&SignedGenesis { genesis, signature }).unwrap()
}

#[test]
fn group_name() {
    let create =
        |name: &str| SignedGenesis::create(&owner(), name, NOW_MS, Visibility::Private, [3; 16]);
    for name in [
        "g".to_owned(),
        "n".repeat(MAX_NAME_BYTES),
        "群".repeat(MAX_NAME_BYTES / 3),
    ] {
        let g = create(&name).unwrap();
        let bytes = codec::encode(&g).unwrap();
        assert!(bytes.len() <= MAX_GENESIS_BYTES);
        assert_eq!(SignedGenesis::decode(&bytes), Ok(g));
        assert_eq!(group::validate_name(&name), Ok(()));
    }
    for name in [
        String::new(),
        " ".into(),
        " \t\n\u{3000}".into(),
        "n".repeat(MAX_NAME_BYTES + 1),
        "群".repeat(MAX_NAME_BYTES / 3 + 1),
        // Issue 11: nothing visible, a bidi override, a line break, a control byte.
        "\u{200b}".into(),
        "official\u{202e}gnp.exe".into(),
        "line1\nline2".into(),
        "\u{200d}\u{2060}\u{feff}".into(),
        "\u{3164}".into(),
        "\u{2800}".into(),
        "a\u{1}b".into(),
    ] {
        assert!(
            matches!(create(&name), Err(message::Error::Name(_))),
            "{name:?}"
        );
        // Signed anyway, the receiver refuses it too (or it is over the genesis limit).
        assert!(
            SignedGenesis::decode(&genesis_signed_unchecked(&name)).is_err(),
            "{name:?}"
        );
    }
}

// ---------------------------------------------------------------- invites

fn content(addrs: Vec<Vec<u8>>) -> invite::Content {
    let group = SignedGenesis::create(&owner(), "g", NOW_MS, Visibility::Private, [3; 16])
        .unwrap()
        .id()
        .unwrap();
    invite::Content {
        version: invite::VERSION,
        group,
        inviter: owner().author(),
        epoch: EPOCH,
        check: GroupSecret::from_bytes([7; 32]).invite_check(&group, EPOCH),
        key: invite::invite_key(&SEED).author(),
        addrs,
        expires_ms: NOW_MS + 1,
    }
}

const SEED: [u8; 16] = [4; 16];

/// An invite signed without `Invite::create`'s clean-up, encoded.
fn invite_signed_unchecked(addrs: Vec<Vec<u8>>) -> Vec<u8> {
    let content = content(addrs);
    let signature = owner().sign(DOMAIN_INVITE, &codec::encode(&content).unwrap());
    codec::encode(&Invite {
        ticket: invite::Ticket { content, signature },
        seed: SEED,
    })
    .unwrap()
}

#[test]
fn invite_addresses() {
    // At the limits: four addresses of the longest length fit and round-trip.
    let full = vec![vec![0x04; MAX_ADDR_BYTES]; MAX_INVITE_ADDRS];
    let inv = Invite::create(&owner(), content(full.clone()), SEED).unwrap();
    assert_eq!(inv.ticket.content.addrs, full);
    let code = inv.to_text().unwrap();
    assert!(code.len() <= MAX_INVITE_CHARS);
    assert_eq!(Invite::parse(&code, NOW_MS), Ok(inv));

    // Over the limits, `create` keeps the first good addresses and drops the rest.
    let mut many = vec![vec![1u8; 8]; MAX_INVITE_ADDRS + 1];
    many[0] = vec![2; MAX_ADDR_BYTES + 1];
    many.insert(1, Vec::new());
    let inv = Invite::create(&owner(), content(many), SEED).unwrap();
    assert_eq!(
        inv.ticket.content.addrs,
        vec![vec![1u8; 8]; MAX_INVITE_ADDRS]
    );

    // Signed anyway, the receiver refuses them.
    for addrs in [
        vec![vec![1u8; 8]; MAX_INVITE_ADDRS + 1],
        vec![vec![1u8; MAX_ADDR_BYTES + 1]],
        vec![Vec::new()],
    ] {
        let bytes = invite_signed_unchecked(addrs.clone());
        assert!(bytes.len() <= MAX_INVITE_BYTES);
        assert!(
            matches!(
                Invite::from_bytes(&bytes, NOW_MS),
                Err(invite::Error::Malformed(_))
            ),
            "{addrs:?}"
        );
    }
    // The most, longest addresses fit in a code (an invite no longer carries a genesis,
    // whose name made it grow).
    let full = invite_signed_unchecked(vec![vec![0x04; MAX_ADDR_BYTES]; MAX_INVITE_ADDRS]);
    assert!(full.len() <= MAX_INVITE_BYTES, "{}", full.len());
}

#[test]
fn invite_payload_over_the_limit() {
    let bytes = vec![invite::VERSION; MAX_INVITE_BYTES + 1];
    assert!(matches!(
        Invite::from_bytes(&bytes, NOW_MS),
        Err(invite::Error::Malformed(_))
    ));
    assert!(matches!(
        Invite::from_bytes(&[], NOW_MS),
        Err(invite::Error::Malformed(_))
    ));
}

// ---------------------------------------------------------------- frames

#[test]
fn frame_size() {
    assert_eq!(open(&[]), Err(OpenError::Empty));
    assert_eq!(Frame::decode(&[]), Err(OpenError::Empty));
    for first in [frame::VERSION, 0, 0xff] {
        let mut big = vec![0u8; MAX_FRAME_BYTES + 1];
        big[0] = first;
        let too_large = OpenError::TooLarge {
            len: MAX_FRAME_BYTES + 1,
            max: MAX_FRAME_BYTES,
        };
        assert_eq!(open(&big), Err(too_large.clone()));
        assert_eq!(Frame::decode(&big), Err(too_large));
    }
    // A frame of exactly the limit gets past the size check (and fails to decrypt).
    let exact = Frame {
        version: frame::VERSION,
        epoch: EPOCH,
        nonce: [9; 24],
        ciphertext: vec![0; MAX_FRAME_BYTES - 41],
    };
    assert_eq!(exact.encoded_len(), MAX_FRAME_BYTES);
    let bytes = exact.encode().unwrap();
    assert_eq!(bytes.len(), MAX_FRAME_BYTES);
    assert_eq!(Frame::decode(&bytes), Ok(exact));
    assert_eq!(open(&bytes), Err(OpenError::Decrypt));
}

#[test]
fn seal_refuses_frames_over_the_limit() {
    // Frame overhead: version, epoch, nonce, length prefix and the 16-byte AEAD tag.
    let overhead = 1 + 8 + 24 + 8 + 16;
    let fits = vec![0u8; MAX_FRAME_BYTES - overhead];
    let f = Frame::seal(&fits, &key(), &GROUP, EPOCH, [9; 24]).unwrap();
    assert_eq!(f.encode().unwrap().len(), MAX_FRAME_BYTES);
    let over = vec![0u8; MAX_FRAME_BYTES - overhead + 1];
    assert!(matches!(
        Frame::seal(&over, &key(), &GROUP, EPOCH, [9; 24]),
        Err(codec::Error::TooLarge { .. })
    ));
}

#[test]
fn limits_nest() {
    // A maximal body fits an envelope, a maximal envelope fits a frame.
    const _: () = assert!(MAX_BODY_BYTES + 32 + 64 + 8 <= MAX_ENVELOPE_BYTES);
    const _: () = assert!(MAX_ENVELOPE_BYTES + 1 + 8 + 24 + 8 + 16 <= MAX_FRAME_BYTES);
    const _: () = assert!(MAX_UNKNOWN_KIND_BYTES + 64 <= MAX_BODY_BYTES);
    // bech32m: 3-char prefix, separator, 6-char checksum, 5 bits per character.
    const _: () = assert!(4 + 6 + (MAX_INVITE_BYTES * 8).div_ceil(5) <= MAX_INVITE_CHARS);
}
