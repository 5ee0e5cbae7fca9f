//! Short invite codes (issue 11, deliverable 7): ≤ 120 characters, they survive a paste,
//! the DHT record they name reveals nothing and cannot be forged or swapped, and expiry is
//! enforced on the record and on the invite inside.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use qun_protocol::discovery::record::{self, Record};
use qun_protocol::discovery::{Error as RecordError, Signed};
use qun_protocol::identity::{DOMAIN_INVITE_RECORD, Identity};
use qun_protocol::invite::short::{self, InviteRecord, ShortCode};
use qun_protocol::invite::{self, Error, Invite};
use qun_protocol::limits::{MAX_INVITE_EXPIRY_SKEW_MS, MAX_INVITE_TTL_MS};

mod common;
use common::*;

const DAY_MS: u64 = 24 * 3600 * 1000;

fn full_invite(expires_ms: u64, addrs: usize) -> Invite {
    let group = genesis().id().unwrap();
    let content = invite::Content {
        version: invite::VERSION,
        group,
        inviter: owner().author(),
        epoch: 0,
        check: secret().invite_check(&group, 0),
        key: owner().author(),
        addrs: (0..addrs)
            .map(|i| {
                let mut a = b"\x04\x7f\x00\x00\x01\x06\x1f\x90".to_vec();
                a.push(i as u8);
                a
            })
            .collect(),
        expires_ms,
    };
    Invite::create(&owner(), content, [6; 16]).unwrap()
}

fn code() -> ShortCode {
    ShortCode::from_secret([0xA5; 16])
}

#[test]
fn a_short_code_is_at_most_120_characters_and_opens_its_record() {
    let c = code();
    let text = c.to_text();
    assert!(text.len() <= 120, "{} characters", text.len());
    assert_eq!(text.len(), short::TEXT_CHARS);
    let inv = full_invite(NOW_MS + 7 * DAY_MS, 4);
    let value = c.seal(&inv, [1; 24]).unwrap();
    let key = c.record_key();
    // Every DHT node runs this before storing it.
    assert!(matches!(
        record::validate(&key, &value, NOW_MS),
        Ok(Record::Invite(_))
    ));
    let opened = ShortCode::parse(&text)
        .unwrap()
        .open(&value, NOW_MS)
        .unwrap();
    assert_eq!(opened, inv);
}

#[test]
fn the_record_reveals_neither_group_nor_inviter_nor_addresses() {
    let inv = full_invite(NOW_MS + DAY_MS, 4);
    let value = code().seal(&inv, [1; 24]).unwrap();
    let key = code().record_key();
    for secret_part in [
        inv.group().as_bytes().as_slice(),
        owner().author().as_bytes().as_slice(),
        &inv.ticket.content.addrs[0],
    ] {
        for hay in [&value, &key] {
            assert!(
                !hay.windows(secret_part.len()).any(|w| w == secret_part),
                "the record or its key shows a field of the invite"
            );
        }
    }
}

#[test]
fn pasted_short_codes_are_found_whatever_the_paste_did() {
    let text = code().to_text();
    let (head, tail) = text.split_at(17);
    let mut capital = text.clone();
    capital[..1].make_ascii_uppercase();
    let full_width: String = text
        .chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xFF01).unwrap())
        .collect();
    for pasted in [
        format!("加我们的群: {text} 谢谢"),
        format!("{head}\r\n{tail}"),
        format!("{head}\u{200b}{tail}"),
        format!("{head}\u{00ad}{tail}"),
        format!("{head} {tail}"),
        capital,
        text.to_uppercase(),
        full_width,
    ] {
        assert_eq!(ShortCode::parse(&pasted), Ok(code()), "{pasted:?}");
    }
    // A typo is caught by the checksum, never read as another code.
    let mut typo = text.into_bytes();
    typo[20] = if typo[20] == b'q' { b'p' } else { b'q' };
    assert_eq!(
        ShortCode::parse(std::str::from_utf8(&typo).unwrap()),
        Err(Error::Checksum)
    );
    assert_eq!(ShortCode::parse("no code here"), Err(Error::NotFound));
}

#[test]
fn another_code_cannot_open_or_replace_the_record() {
    let inv = full_invite(NOW_MS + DAY_MS, 1);
    let value = code().seal(&inv, [1; 24]).unwrap();
    let other = ShortCode::from_secret([0x5A; 16]);
    // Another code's key: the record is refused where it is stored under it...
    assert!(matches!(
        record::validate(&other.record_key(), &value, NOW_MS),
        Err(RecordError::WrongKey)
    ));
    // ...and does not open with it.
    assert_eq!(other.open(&value, NOW_MS), Err(Error::Record));
    // A stranger who signs its own record cannot put it under this code's key.
    let forged = other.seal(&inv, [2; 24]).unwrap();
    assert!(record::validate(&code().record_key(), &forged, NOW_MS).is_err());
}

#[test]
fn a_tampered_record_is_refused() {
    let inv = full_invite(NOW_MS + DAY_MS, 1);
    let value = code().seal(&inv, [1; 24]).unwrap();
    let key = code().record_key();
    for i in (0..value.len()).step_by(7) {
        let mut bad = value.clone();
        bad[i] ^= 0x01;
        assert!(
            code().open(&bad, NOW_MS).is_err(),
            "a flipped bit at {i} still opened"
        );
        let _ = record::validate(&key, &bad, NOW_MS);
    }
}

#[test]
fn expiry_is_enforced_on_the_record_and_its_invite() {
    let expires = NOW_MS + 60_000;
    let inv = full_invite(expires, 1);
    let value = code().seal(&inv, [1; 24]).unwrap();
    let key = code().record_key();
    let later = expires + MAX_INVITE_EXPIRY_SKEW_MS;
    assert!(matches!(
        record::validate(&key, &value, later),
        Err(RecordError::Expired { .. })
    ));
    assert!(matches!(
        code().open(&value, later),
        Err(Error::Expired { .. })
    ));
    // Within the skew it still opens.
    assert!(code().open(&value, later - 1).is_ok());

    // A record claiming to live longer than any invite may is refused by DHT nodes.
    let locator_signed = |expires_ms: u64| {
        // Re-sign the record with a far expiry: possible only for a holder of the code,
        // so build it through a code whose invite says so.
        let inv = full_invite(expires_ms, 0);
        code().seal(&inv, [3; 24]).unwrap()
    };
    let far = locator_signed(NOW_MS + MAX_INVITE_TTL_MS + MAX_INVITE_EXPIRY_SKEW_MS + 1);
    assert!(matches!(
        record::validate(&key, &far, NOW_MS),
        Err(RecordError::Invalid(_))
    ));
}

#[test]
fn a_record_whose_expiry_differs_from_its_invite_does_not_open() {
    // A holder re-signs the record with a later expiry than the sealed invite's: the
    // joiner trusts the invite's (signed by the inviter), and refuses the mismatch.
    let inv = full_invite(NOW_MS + DAY_MS, 0);
    let value = code().seal(&inv, [1; 24]).unwrap();
    let rec: Signed<InviteRecord> =
        qun_protocol::codec::decode(&value, qun_protocol::limits::MAX_INVITE_RECORD_BYTES).unwrap();
    let mut changed = rec.value.clone();
    changed.expires_ms += DAY_MS;
    // The locator key is derived from the code; re-derive it the way a holder would.
    let locator = locator_of(&code());
    let resigned = Signed::sign(&locator, DOMAIN_INVITE_RECORD, changed)
        .unwrap()
        .encode(qun_protocol::limits::MAX_INVITE_RECORD_BYTES)
        .unwrap();
    assert!(record::validate(&code().record_key(), &resigned, NOW_MS).is_ok());
    assert_eq!(code().open(&resigned, NOW_MS), Err(Error::Record));
}

/// The locator key of a code, found by trying the documented derivation.
fn locator_of(c: &ShortCode) -> Identity {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let text = c.to_text();
    let bytes = {
        let (_, data) = bech32::decode(&text).unwrap();
        data
    };
    let mut seed = [0u8; 32];
    Hkdf::<Sha256>::new(None, &bytes[1..])
        .expand(b"qun/v1/short-invite-locator", &mut seed)
        .unwrap();
    let id = Identity::from_seed(seed);
    assert_eq!(short::record_key_of(&id.author()), c.record_key());
    id
}

proptest! {
    #[test]
    fn any_secret_round_trips_and_any_text_parses_without_panic(
        secret in any::<[u8; 16]>(),
        junk in "\\PC{0,200}",
    ) {
        let c = ShortCode::from_secret(secret);
        prop_assert_eq!(ShortCode::parse(&c.to_text()), Ok(c));
        let _ = ShortCode::parse(&junk);
        let _ = record::validate(short::KEY_PREFIX, junk.as_bytes(), NOW_MS);
    }
}
