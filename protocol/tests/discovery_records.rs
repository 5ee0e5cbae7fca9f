//! Discovery records through `record::validate`, the one path for DHT records put to us
//! and records we fetch: group cards and profiles. Every changed byte of a signed record
//! is caught, every rule has a case on each side of its line, and newest wins the same
//! way on every node. Join messages and the wire limits are in `discovery_join.rs`, round
//! trips and arbitrary bytes in `discovery_proptest.rs`.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::codec;
use qun_protocol::discovery::card::{self, Card, SignedCard};
use qun_protocol::discovery::profile::{self, Profile, ShownGroup, SignedProfile};
use qun_protocol::discovery::record::{self, Record};
use qun_protocol::discovery::{self, Error, Signed};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::id::{AuthorId, GroupId};
use qun_protocol::identity::{DOMAIN_CARD, SignatureError};
use qun_protocol::limits::*;

mod common;
mod discovery_fixtures;
use common::{NOW_MS, member, owner, secret};
use discovery_fixtures::*;

// ---------------------------------------------------------------- cards

#[test]
fn public_and_listed_cards_validate_under_their_key() {
    for vis in [Visibility::Public, Visibility::Listed] {
        let signed = SignedCard::create(&owner(), card_value(vis)).unwrap();
        let bytes = signed.encode(MAX_CARD_BYTES).unwrap();
        let got = record::validate(&card_key(vis), &bytes, NOW_MS);
        assert_eq!(
            got,
            Ok(Record::Card(Box::new(signed.clone().into()))),
            "{vis:?}"
        );
        assert_eq!(signed.owner(), owner().author());
        assert_eq!(signed.value.group(), Ok(group(vis)));
        assert_eq!(signed.value.visibility(), vis);
        assert_eq!(signed.value.name(), "深圳摄影");
    }
}

/// Every byte of the encoded card, changed three ways: never accepted, and never decoded
/// into a card that checks (so a tampered card cannot pass as another valid card).
#[test]
fn every_changed_byte_of_a_card_is_refused() {
    let original = public_card();
    let bytes = original.encode(MAX_CARD_BYTES).unwrap();
    let key = card_key(Visibility::Public);
    assert!(record::validate(&key, &bytes, NOW_MS).is_ok());
    for at in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            let got = record::validate(&key, &b, NOW_MS);
            assert!(got.is_err(), "byte {at} ^ {mask:#x} accepted: {got:?}");
            assert!(SignedCard::decode_card(&b, NOW_MS).is_err(), "byte {at}");
            if let Ok(c) = codec::decode::<SignedCard>(&b, MAX_CARD_BYTES) {
                assert_ne!(c, original, "byte {at}");
                assert!(c.check(NOW_MS).is_err(), "byte {at} ^ {mask:#x}");
            }
        }
    }
}

#[test]
fn truncated_and_extended_cards_are_refused() {
    let bytes = public_card().encode(MAX_CARD_BYTES).unwrap();
    let key = card_key(Visibility::Public);
    for len in 0..bytes.len() {
        assert!(
            matches!(
                record::validate(&key, &bytes[..len], NOW_MS),
                Err(Error::Codec(_))
            ),
            "{len}"
        );
    }
    let mut longer = bytes;
    longer.push(0);
    assert!(matches!(
        record::validate(&key, &longer, NOW_MS),
        Err(Error::Codec(_))
    ));
}

#[test]
fn a_card_signed_by_anyone_but_the_owner_is_not_allowed() {
    let not_allowed: Result<(), Error> = Err(Error::NotAllowed {
        signer: member().author(),
    });
    assert_eq!(
        SignedCard::create(&member(), card_value(Visibility::Public)).map(|_| ()),
        not_allowed
    );
    let forged = forge_card(&member(), card_value(Visibility::Public));
    let key = card_key(Visibility::Public);
    assert_eq!(
        record::validate(&key, &forged, NOW_MS).map(|_| ()),
        not_allowed
    );
    assert_eq!(
        SignedCard::decode_card(&forged, NOW_MS).map(|_| ()),
        not_allowed
    );
}

#[test]
fn a_card_with_someone_elses_signer_field_does_not_verify() {
    // The owner's signature, but the signer field names the member.
    let mut c = public_card();
    c.signer = member().author();
    let bytes = codec::encode(&c).unwrap();
    assert_eq!(
        record::validate(&card_key(Visibility::Public), &bytes, NOW_MS).map(|_| ()),
        Err(Error::Signature(SignatureError::Mismatch {
            author: member().author()
        }))
    );
}

#[test]
fn a_card_stored_under_another_key_is_refused() {
    let bytes = public_card().encode(MAX_CARD_BYTES).unwrap();
    // Another group's key, and the listed twin of the same group (another id).
    for other in [GroupId::from_bytes([1; 32]), group(Visibility::Listed)] {
        assert_eq!(
            record::validate(&card::record_key(&other), &bytes, NOW_MS),
            Err(Error::WrongKey)
        );
    }
    // The member's own group, with the member's own (valid) card, under the owner's key.
    let mut theirs = card_value(Visibility::Public);
    theirs.genesis =
        SignedGenesis::create(&member(), "深圳摄影", NOW_MS, Visibility::Public, [4; 16]).unwrap();
    let theirs = SignedCard::create(&member(), theirs).unwrap();
    let theirs = theirs.encode(MAX_CARD_BYTES).unwrap();
    assert_eq!(
        record::validate(&card_key(Visibility::Public), &theirs, NOW_MS),
        Err(Error::WrongKey)
    );
    // A key of the wrong length, and a key that is not a qun key at all.
    let mut short = card_key(Visibility::Public);
    short.pop();
    assert_eq!(
        record::validate(&short, &bytes, NOW_MS),
        Err(Error::WrongKey)
    );
    let mut long = card_key(Visibility::Public);
    long.push(0);
    assert_eq!(
        record::validate(&long, &bytes, NOW_MS),
        Err(Error::WrongKey)
    );
    let id = group(Visibility::Public);
    assert!(is_invalid(record::validate(id.as_bytes(), &bytes, NOW_MS)));
    assert!(is_invalid(record::validate(b"", &bytes, NOW_MS)));
}

#[test]
fn the_secret_goes_with_public_cards_only() {
    let mut public_without = card_value(Visibility::Public);
    public_without.secret = None;
    let mut listed_with = card_value(Visibility::Listed);
    listed_with.secret = Some((3, secret()));
    let private_with = {
        let mut c = card_value(Visibility::Private);
        c.secret = Some((3, secret()));
        c
    };
    let cases = [
        (public_without, Visibility::Public),
        (listed_with, Visibility::Listed),
        (card_value(Visibility::Private), Visibility::Private),
        (private_with, Visibility::Private),
    ];
    for (c, vis) in cases {
        let what = format!("{vis:?} secret={}", c.secret.is_some());
        assert!(
            is_invalid(SignedCard::create(&owner(), c.clone())),
            "{what}"
        );
        let forged = forge_card(&owner(), c);
        assert!(
            is_invalid(record::validate(&card_key(vis), &forged, NOW_MS)),
            "{what}"
        );
    }
}

#[test]
fn a_card_from_the_future_is_refused() {
    let key = card_key(Visibility::Public);
    let at = |issued_ms| {
        let mut c = card_value(Visibility::Public);
        c.issued_ms = issued_ms;
        SignedCard::create(&owner(), c)
            .unwrap()
            .encode(MAX_CARD_BYTES)
            .unwrap()
    };
    let edge = NOW_MS + MAX_CLOCK_SKEW_MS;
    assert!(record::validate(&key, &at(edge), NOW_MS).is_ok());
    assert_eq!(
        record::validate(&key, &at(edge + 1), NOW_MS),
        Err(Error::FromTheFuture {
            at_ms: edge + 1,
            now_ms: NOW_MS
        })
    );
    // A far-future card, and a "now" near the end of time, do not overflow.
    assert!(matches!(
        record::validate(&key, &at(u64::MAX), NOW_MS),
        Err(Error::FromTheFuture { .. })
    ));
    assert!(record::validate(&key, &at(u64::MAX), u64::MAX).is_ok());
    // Once the clock catches up, the same bytes are accepted.
    assert!(record::validate(&key, &at(edge + 1), NOW_MS + 1).is_ok());
}

#[test]
fn a_card_of_another_version_is_refused() {
    let mut c = card_value(Visibility::Public);
    c.version = discovery::VERSION + 1;
    let unknown = Err(Error::UnknownVersion {
        version: discovery::VERSION + 1,
    });
    assert_eq!(SignedCard::create(&owner(), c.clone()).map(|_| ()), unknown);
    let forged = forge_card(&owner(), c);
    assert_eq!(
        record::validate(&card_key(Visibility::Public), &forged, NOW_MS).map(|_| ()),
        unknown
    );
}

#[test]
fn a_card_with_a_doctored_genesis_is_refused() {
    // The owner re-signs the card after renaming the group in its genesis: the genesis
    // signature no longer matches.
    let mut c = card_value(Visibility::Public);
    c.genesis.genesis.name = "北京摄影".into();
    assert!(is_invalid(SignedCard::create(&owner(), c.clone())));
    let renamed_id = c.genesis.id().unwrap();
    let forged = forge_card(&owner(), c);
    assert!(is_invalid(record::validate(
        &card::record_key(&renamed_id),
        &forged,
        NOW_MS
    )));
    // Making a listed genesis public by editing it (to publish the secret) also breaks it.
    let mut c = card_value(Visibility::Public);
    c.genesis = genesis(Visibility::Listed);
    c.genesis.genesis.visibility = Visibility::Public;
    assert!(is_invalid(SignedCard::create(&owner(), c)));
}

#[test]
fn card_meta_and_addresses_keep_their_limits() {
    let refused = |edit: &dyn Fn(&mut Card)| {
        let mut c = card_value(Visibility::Public);
        edit(&mut c);
        let created = SignedCard::create(&owner(), c.clone());
        let validated = record::validate(
            &card_key(Visibility::Public),
            &forge_card(&owner(), c),
            NOW_MS,
        );
        is_invalid(created) && is_invalid(validated)
    };
    assert!(refused(
        &|c| c.meta.description = "x".repeat(MAX_DESCRIPTION_BYTES + 1)
    ));
    assert!(refused(&|c| c.meta.tags = vec!["t".into(); MAX_TAGS + 1]));
    assert!(refused(&|c| c.meta.tags = vec![String::new()]));
    assert!(refused(
        &|c| c.meta.tags = vec!["t".repeat(MAX_TAG_BYTES + 1)]
    ));
    assert!(refused(&|c| c.addrs = vec![addr(1); MAX_CARD_ADDRS + 1]));
    assert!(refused(&|c| c.addrs = vec![Vec::new()]));
    assert!(refused(&|c| c.addrs = vec![vec![1; MAX_ADDR_BYTES + 1]]));
    // Each limit itself is allowed (the control: `refused` can say no).
    assert!(!refused(
        &|c| c.meta.description = "x".repeat(MAX_DESCRIPTION_BYTES)
    ));
    assert!(!refused(
        &|c| c.addrs = vec![vec![1; MAX_ADDR_BYTES]; MAX_CARD_ADDRS]
    ));
}

#[test]
fn the_newest_card_wins_everywhere() {
    let at = |issued_ms, members| {
        let mut c = card_value(Visibility::Public);
        c.issued_ms = issued_ms;
        c.members = members;
        SignedCard::create(&owner(), c).unwrap()
    };
    let (old, new) = (at(NOW_MS - 1, 12), at(NOW_MS, 12));
    assert!(new.is_newer_than(&old));
    assert!(!old.is_newer_than(&new));
    assert!(!new.is_newer_than(&new.clone()));
    // Same time: the signature bytes decide, so exactly one of the two wins.
    let (a, b) = (at(NOW_MS, 12), at(NOW_MS, 13));
    assert_ne!(a.signature, b.signature);
    assert!(a.is_newer_than(&b) != b.is_newer_than(&a));
    assert_eq!(a.is_newer_than(&b), a.signature.0 > b.signature.0);
    // Through the record type too.
    let rec = |c: &SignedCard| Record::Card(Box::new(c.clone().into()));
    assert!(rec(&new).is_newer_than(&rec(&old)));
    assert!(!rec(&old).is_newer_than(&rec(&new)));
    assert_eq!(rec(&a).is_newer_than(&rec(&b)), a.is_newer_than(&b));
    // A record of the other type never replaces, whatever its time.
    let mut p = profile_value();
    p.updated_ms = NOW_MS + 1;
    let p = Record::Profile(Box::new(
        SignedProfile::create(&member(), p, NOW_MS).unwrap(),
    ));
    assert!(!p.is_newer_than(&rec(&old)));
    assert!(!rec(&new).is_newer_than(&p));
}

// ---------------------------------------------------------------- profiles

#[test]
fn a_profile_validates_under_its_authors_key() {
    let signed = member_profile();
    let bytes = signed.encode(MAX_PROFILE_BYTES).unwrap();
    assert_eq!(
        record::validate(&member_key(), &bytes, NOW_MS),
        Ok(Record::Profile(Box::new(signed.clone())))
    );
    assert_eq!(SignedProfile::decode_profile(&bytes, NOW_MS), Ok(signed));
    // 1_700_000_000_000 is in 2023.
    assert_eq!(profile::year_of(NOW_MS), 2023);
    assert_eq!(profile_value().age(NOW_MS), Some(33));
}

#[test]
fn every_changed_byte_of_a_profile_is_refused() {
    let original = member_profile();
    let bytes = original.encode(MAX_PROFILE_BYTES).unwrap();
    for at in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[at] ^= mask;
            let got = record::validate(&member_key(), &b, NOW_MS);
            assert!(got.is_err(), "byte {at} ^ {mask:#x} accepted: {got:?}");
            if let Ok(p) = codec::decode::<SignedProfile>(&b, MAX_PROFILE_BYTES) {
                assert_ne!(p, original, "byte {at}");
                assert!(p.check(NOW_MS).is_err(), "byte {at} ^ {mask:#x}");
            }
        }
    }
    for len in 0..bytes.len() {
        assert!(record::validate(&member_key(), &bytes[..len], NOW_MS).is_err());
    }
}

#[test]
fn a_profile_under_another_authors_key_is_refused() {
    // Validly signed by the stranger, stored under the member's key.
    let forged = forge_profile(&stranger(), profile_value());
    assert_eq!(
        record::validate(&member_key(), &forged, NOW_MS),
        Err(Error::WrongKey)
    );
    // The stranger's profile under the stranger's key is fine (the control).
    let own = profile::record_key(&stranger().author());
    assert!(record::validate(&own, &forged, NOW_MS).is_ok());
    // The member's profile with the signer field changed does not verify.
    let mut p = member_profile();
    p.signer = stranger().author();
    let bytes = codec::encode(&p).unwrap();
    assert!(matches!(
        record::validate(&own, &bytes, NOW_MS),
        Err(Error::Signature(_))
    ));
    // Keys that cannot name an author: wrong length, and bytes that are not a key.
    let bytes = member_profile().encode(MAX_PROFILE_BYTES).unwrap();
    let mut short = member_key();
    short.pop();
    assert_eq!(
        record::validate(&short, &bytes, NOW_MS),
        Err(Error::WrongKey)
    );
    // The first little-endian y that is not on the curve; the identity point (y = 1) is
    // on it but weak.
    let not_a_point = (2u8..)
        .map(|y| {
            let mut b = [0u8; 32];
            b[0] = y;
            b
        })
        .find(|b| AuthorId::from_bytes(*b).is_err())
        .unwrap();
    let mut key = profile::KEY_PREFIX.to_vec();
    key.extend_from_slice(&not_a_point);
    assert_eq!(record::validate(&key, &bytes, NOW_MS), Err(Error::WrongKey));
    let mut weak = profile::KEY_PREFIX.to_vec();
    weak.extend_from_slice(&{
        let mut y = [0u8; 32];
        y[0] = 1;
        y
    });
    assert_eq!(
        record::validate(&weak, &bytes, NOW_MS),
        Err(Error::WrongKey)
    );
}

/// Checks `edit` is refused as `Invalid` by `create` and by `validate` (forged bytes).
fn profile_refused(edit: impl Fn(&mut Profile)) -> bool {
    let mut p = profile_value();
    edit(&mut p);
    let created = SignedProfile::create(&member(), p.clone(), NOW_MS);
    let validated = record::validate(&member_key(), &forge_profile(&member(), p), NOW_MS);
    is_invalid(created) && is_invalid(validated)
}

#[test]
fn birth_years_stay_between_1900_and_this_year() {
    let this_year = profile::year_of(NOW_MS);
    assert!(profile_refused(
        |p| p.birth_year = Some(profile::MIN_BIRTH_YEAR - 1)
    ));
    assert!(profile_refused(|p| p.birth_year = Some(this_year + 1)));
    assert!(profile_refused(|p| p.birth_year = Some(0)));
    assert!(profile_refused(|p| p.birth_year = Some(u16::MAX)));
    assert!(!profile_refused(
        |p| p.birth_year = Some(profile::MIN_BIRTH_YEAR)
    ));
    assert!(!profile_refused(|p| p.birth_year = Some(this_year)));
    assert!(!profile_refused(|p| p.birth_year = None));
}

#[test]
fn profile_names_bios_and_groups_keep_their_limits() {
    assert!(profile_refused(|p| p.name = String::new()));
    assert!(profile_refused(|p| p.name = "  \t ".into()));
    assert!(profile_refused(
        |p| p.name = "a".repeat(MAX_DISPLAY_NAME_BYTES + 1)
    ));
    // 22 CJK characters are 66 bytes: over, though only 22 characters.
    assert!(profile_refused(|p| p.name = "名".repeat(22)));
    assert!(!profile_refused(
        |p| p.name = "a".repeat(MAX_DISPLAY_NAME_BYTES)
    ));
    assert!(profile_refused(
        |p| p.bio = Some("b".repeat(MAX_BIO_BYTES + 1))
    ));
    assert!(!profile_refused(|p| p.bio = Some("b".repeat(MAX_BIO_BYTES))));
    assert!(!profile_refused(|p| p.bio = Some(String::new())));
    let shown = |n: usize| -> Vec<ShownGroup> {
        (0..n)
            .map(|i| ShownGroup {
                group: GroupId::from_bytes([i as u8; 32]),
                name: "组".into(),
            })
            .collect()
    };
    assert!(profile_refused(|p| p.groups = shown(MAX_PROFILE_GROUPS + 1)));
    assert!(!profile_refused(|p| p.groups = shown(MAX_PROFILE_GROUPS)));
    assert!(profile_refused(|p| p.groups[0].name = String::new()));
    assert!(profile_refused(
        |p| p.groups[0].name = "n".repeat(MAX_NAME_BYTES + 1)
    ));
}

#[test]
fn a_profile_from_the_future_or_another_version_is_refused() {
    let edge = NOW_MS + MAX_CLOCK_SKEW_MS;
    let mut p = profile_value();
    p.updated_ms = edge;
    assert!(record::validate(&member_key(), &forge_profile(&member(), p.clone()), NOW_MS).is_ok());
    p.updated_ms = edge + 1;
    assert_eq!(
        record::validate(&member_key(), &forge_profile(&member(), p), NOW_MS).map(|_| ()),
        Err(Error::FromTheFuture {
            at_ms: edge + 1,
            now_ms: NOW_MS
        })
    );
    let mut p = profile_value();
    p.version = 0;
    assert_eq!(
        SignedProfile::create(&member(), p.clone(), NOW_MS).map(|_| ()),
        Err(Error::UnknownVersion { version: 0 })
    );
    assert_eq!(
        record::validate(&member_key(), &forge_profile(&member(), p), NOW_MS).map(|_| ()),
        Err(Error::UnknownVersion { version: 0 })
    );
}

#[test]
fn the_newest_profile_wins() {
    let at = |updated_ms, name: &str| {
        let mut p = profile_value();
        p.updated_ms = updated_ms;
        p.name = name.into();
        SignedProfile::create(&member(), p, NOW_MS).unwrap()
    };
    let (old, new) = (at(NOW_MS - 1, "阿明"), at(NOW_MS, "阿明"));
    assert!(new.is_newer_than(&old) && !old.is_newer_than(&new));
    assert!(!new.is_newer_than(&new.clone()));
    let (a, b) = (at(NOW_MS, "a"), at(NOW_MS, "b"));
    assert!(a.is_newer_than(&b) != b.is_newer_than(&a));
    assert_eq!(a.is_newer_than(&b), a.signature.0 > b.signature.0);
    let rec = |p: &SignedProfile| Record::Profile(Box::new(p.clone()));
    assert!(rec(&new).is_newer_than(&rec(&old)));
    assert!(!rec(&old).is_newer_than(&rec(&new)));
}

// ---------------------------------------------------------------- limits

#[test]
fn the_largest_valid_card_fits_and_anything_larger_cannot_be_made() {
    let c = maximal_card();
    let key = card::record_key(&c.genesis.id().unwrap());
    let signed = SignedCard::create(&owner(), c.clone()).unwrap();
    let bytes = signed.encode(MAX_CARD_BYTES).unwrap();
    assert!(bytes.len() <= MAX_CARD_BYTES);
    assert!(record::validate(&key, &bytes, NOW_MS).is_ok());
    // Over the byte limit: `create` refuses it, `encode` will not write it, and the
    // decoder refuses the bytes before looking inside.
    let mut big = c;
    big.meta.description = "d".repeat(MAX_CARD_BYTES);
    assert!(is_invalid(SignedCard::create(&owner(), big.clone())));
    let forged = Signed::sign(&owner(), DOMAIN_CARD, big).unwrap();
    assert!(matches!(
        forged.encode(MAX_CARD_BYTES),
        Err(Error::Codec(codec::Error::TooLarge {
            max: MAX_CARD_BYTES,
            ..
        }))
    ));
    let bytes = codec::encode(&forged).unwrap();
    assert!(bytes.len() > MAX_CARD_BYTES);
    assert!(matches!(
        record::validate(&key, &bytes, NOW_MS),
        Err(Error::Codec(codec::Error::TooLarge { .. }))
    ));
}

#[test]
fn the_largest_valid_profile_fits() {
    let mut p = profile_value();
    p.name = "a".repeat(MAX_DISPLAY_NAME_BYTES);
    p.bio = Some("b".repeat(MAX_BIO_BYTES));
    p.groups = (0..MAX_PROFILE_GROUPS)
        .map(|i| ShownGroup {
            group: GroupId::from_bytes([i as u8; 32]),
            name: "n".repeat(MAX_NAME_BYTES),
        })
        .collect();
    let signed = SignedProfile::create(&member(), p.clone(), NOW_MS).unwrap();
    let bytes = signed.encode(MAX_PROFILE_BYTES).unwrap();
    assert!(record::validate(&member_key(), &bytes, NOW_MS).is_ok());
    p.bio = Some("b".repeat(MAX_PROFILE_BYTES));
    let bytes = forge_profile(&member(), p);
    assert!(matches!(
        record::validate(&member_key(), &bytes, NOW_MS),
        Err(Error::Codec(codec::Error::TooLarge { .. }))
    ));
}

#[test]
fn provider_keys_are_the_only_provider_records() {
    use qun_protocol::discovery::keywords;
    assert_eq!(
        record::validate_provider_key(&keywords::provider_key("摄影")),
        Ok(())
    );
    let mut k = keywords::provider_key("摄影");
    k[0] = 0x13;
    assert!(is_invalid(record::validate_provider_key(&k)));
    assert!(is_invalid(record::validate_provider_key(&card_key(
        Visibility::Public
    ))));
    assert!(is_invalid(record::validate_provider_key(&[0x12, 0x20])));
}
