//! Property tests for discovery.
//!
//! * Round trip: every discovery wire type decodes from its encoding to the same value,
//!   re-encodes to the same bytes, and still checks (a card or profile validates under its
//!   record key, an approval opens for its requester).
//! * Robustness: arbitrary bytes, and valid encodings with a few bytes changed or cut off,
//!   given to every discovery decoder and to `record::validate` give a value or a clean
//!   error, never a panic; a changed record is never accepted.
//! * Keywords: a name is found by any two neighbouring CJK characters and any Latin word
//!   of it; the token caps hold; normalising is idempotent.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "discovery_proptest/strategies.rs"]
mod strategies;

use std::fmt::Debug;
use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde::Serialize;
use serde::de::DeserializeOwned;

use qun_protocol::codec;
use qun_protocol::discovery::card::{self, Card, SignedCard};
use qun_protocol::discovery::join::{self, SignedApproval, SignedRequest};
use qun_protocol::discovery::keywords::{self, index_tokens, matched, normalize, query_tokens};
use qun_protocol::discovery::profile::{self, Gender, Profile, ShownGroup, SignedProfile};
use qun_protocol::discovery::record::{self, Record};
use qun_protocol::discovery::seal::Handover;
use qun_protocol::discovery::{self, wire};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::id::{AuthorId, GroupId};
use qun_protocol::identity::Identity;
use qun_protocol::limits::*;
use qun_protocol::message::Meta;
use qun_protocol::secret::GroupSecret;
use strategies::*;

/// Cases for properties that only encode and decode.
const CASES: u32 = 256;
/// Cases for properties that sign or verify.
const SIGNING_CASES: u32 = 64;
/// "Now" for time checks; generated times are at or before it.
const NOW_MS: u64 = 1_700_000_000_000;

// ---------------------------------------------------------------- helpers

/// `decode(encode(x)) == x` through the codec, and the decoded value re-encodes to the
/// same bytes.
fn roundtrip<T>(x: &T, max: usize) -> Result<Vec<u8>, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = codec::encode(x).expect("encode");
    prop_assert!(bytes.len() <= max, "{} bytes over {max}", bytes.len());
    let y: T = codec::decode(&bytes, max).expect("decode");
    prop_assert_eq!(&y, x);
    prop_assert_eq!(codec::encode(&y).expect("re-encode"), bytes.clone());
    Ok(bytes)
}

/// Feeds `bytes` to every discovery decoder under `key`; none may panic, and whatever a
/// decoder accepts re-encodes to `bytes` (there is one encoding of each value).
fn every_decoder(key: &[u8], bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = wire::Request::decode(bytes) {
        prop_assert_eq!(r.encode().expect("re-encode"), bytes);
    }
    if let Ok(r) = wire::Response::decode(bytes) {
        prop_assert_eq!(r.encode().expect("re-encode"), bytes);
    }
    if let Ok(c) = SignedCard::decode_card(bytes, NOW_MS) {
        prop_assert_eq!(c.encode(MAX_CARD_BYTES).expect("re-encode"), bytes);
    }
    if let Ok(p) = SignedProfile::decode_profile(bytes, NOW_MS) {
        prop_assert_eq!(p.encode(MAX_PROFILE_BYTES).expect("re-encode"), bytes);
    }
    match record::validate(key, bytes, NOW_MS) {
        Ok(Record::Card(c)) => prop_assert_eq!(c.encode().expect("re-encode"), bytes),
        Ok(Record::Profile(p)) => prop_assert_eq!(codec::encode(&p).expect("re-encode"), bytes),
        Ok(Record::Invite(i)) => prop_assert_eq!(codec::encode(&i).expect("re-encode"), bytes),
        Err(_) => {}
    }
    if let Ok(r) = codec::decode::<SignedRequest>(bytes, MAX_JOIN_BYTES) {
        let _ = r.check(NOW_MS);
    }
    if let Ok(a) = codec::decode::<SignedApproval>(bytes, MAX_JOIN_BYTES) {
        let _ = a.open_for(&Identity::from_seed([1; 32]), NOW_MS);
    }
    let _ = record::validate_provider_key(bytes);
    Ok(())
}

// ---------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNING_CASES))]

    #[test]
    fn card_roundtrip(c in signed_card()) {
        let bytes = roundtrip(&c, MAX_CARD_BYTES)?;
        prop_assert_eq!(c.encode(MAX_CARD_BYTES).expect("encode"), bytes.clone());
        prop_assert_eq!(SignedCard::decode_card(&bytes, NOW_MS), Ok(c.clone()));
        let key = card::record_key(&c.value.group().expect("id"));
        prop_assert_eq!(
            record::validate(&key, &bytes, NOW_MS),
            Ok(Record::Card(Box::new(c.clone().into())))
        );
        prop_assert_eq!(c.owner(), c.signer);
    }

    #[test]
    fn profile_roundtrip(p in signed_profile()) {
        let bytes = roundtrip(&p, MAX_PROFILE_BYTES)?;
        prop_assert_eq!(p.encode(MAX_PROFILE_BYTES).expect("encode"), bytes.clone());
        prop_assert_eq!(SignedProfile::decode_profile(&bytes, NOW_MS), Ok(p.clone()));
        let key = profile::record_key(&p.signer);
        prop_assert_eq!(
            record::validate(&key, &bytes, NOW_MS),
            Ok(Record::Profile(Box::new(p.clone())))
        );
    }

    #[test]
    fn join_request_roundtrip(r in signed_request()) {
        roundtrip(&r, MAX_JOIN_BYTES)?;
        prop_assert_eq!(r.check(NOW_MS), Ok(()));
    }

    #[test]
    fn approval_roundtrip((a, secret) in signed_approval()) {
        let bytes = roundtrip(&a, MAX_JOIN_BYTES)?;
        let back: SignedApproval = codec::decode(&bytes, MAX_JOIN_BYTES).expect("decode");
        let me = (0..SEEDS)
            .map(|i| Identity::from_seed([i + 1; 32]))
            .find(|id| id.author() == a.value.requester)
            .expect("a known requester");
        let group = a.value.genesis.id().expect("id");
        prop_assert_eq!(back.open_for(&me, NOW_MS), Ok((group, secret)));
    }

    #[test]
    fn wire_request_roundtrip(r in wire_request()) {
        let bytes = r.encode().expect("encode");
        prop_assert!(bytes.len() <= MAX_DISCOVERY_REQUEST_BYTES);
        prop_assert_eq!(&wire::Request::decode(&bytes).expect("decode"), &r);
        prop_assert_eq!(roundtrip(&r, MAX_DISCOVERY_REQUEST_BYTES)?, bytes);
    }

    #[test]
    fn wire_response_roundtrip(r in wire_response()) {
        let bytes = r.encode().expect("encode");
        prop_assert!(bytes.len() <= MAX_DISCOVERY_RESPONSE_BYTES);
        prop_assert_eq!(&wire::Response::decode(&bytes).expect("decode"), &r);
        prop_assert_eq!(roundtrip(&r, MAX_DISCOVERY_RESPONSE_BYTES)?, bytes);
    }
}

// ---------------------------------------------------------------- robustness

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn arbitrary_bytes_never_panic(
        key in record_key(),
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        every_decoder(&key, &bytes)?;
    }

    /// Arbitrary bytes after a valid enum tag reach the variant's own decoder.
    #[test]
    fn arbitrary_variant_payloads_never_panic(
        key in record_key(),
        tag in 0u32..8,
        payload in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let bytes = [&tag.to_le_bytes()[..], &payload].concat();
        every_decoder(&key, &bytes)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(SIGNING_CASES))]

    /// A changed or cut card is refused under its key, or is the very card.
    #[test]
    fn mutated_cards_are_refused(
        (original, key, mutated) in signed_card().prop_flat_map(|c| {
            let bytes = c.encode(MAX_CARD_BYTES).expect("encode");
            let key = card::record_key(&c.value.group().expect("id"));
            (Just(bytes.clone()), Just(key), mutate(bytes))
        }),
    ) {
        every_decoder(&key, &mutated)?;
        let got = record::validate(&key, &mutated, NOW_MS);
        prop_assert_eq!(got.is_ok(), mutated == original, "{:?}", got);
    }

    /// A changed or cut profile is refused under its key, or is the very profile.
    #[test]
    fn mutated_profiles_are_refused(
        (original, key, mutated) in signed_profile().prop_flat_map(|p| {
            let bytes = p.encode(MAX_PROFILE_BYTES).expect("encode");
            let key = profile::record_key(&p.signer);
            (Just(bytes.clone()), Just(key), mutate(bytes))
        }),
    ) {
        every_decoder(&key, &mutated)?;
        let got = record::validate(&key, &mutated, NOW_MS);
        prop_assert_eq!(got.is_ok(), mutated == original, "{:?}", got);
    }

    /// Changed wire messages decode cleanly or not at all; a changed join message does
    /// not check.
    #[test]
    fn mutated_wire_messages_never_panic(
        (req, resp) in (wire_request(), wire_response())
            .prop_flat_map(|(q, r)| {
                (mutate(q.encode().expect("request")), mutate(r.encode().expect("response")))
            }),
        key in record_key(),
    ) {
        every_decoder(&key, &req)?;
        every_decoder(&key, &resp)?;
    }

    /// A changed approval never opens to a secret other than the one sealed.
    #[test]
    fn mutated_approvals_never_open(
        ((a, secret), mutated) in signed_approval().prop_flat_map(|(a, s)| {
            let bytes = codec::encode(&a).expect("encode");
            (Just((a, s)), mutate(bytes))
        }),
    ) {
        let original = codec::encode(&a).expect("encode");
        let me = (0..SEEDS)
            .map(|i| Identity::from_seed([i + 1; 32]))
            .find(|id| id.author() == a.value.requester)
            .expect("a known requester");
        if let Ok(m) = codec::decode::<SignedApproval>(&mutated, MAX_JOIN_BYTES) {
            let opened = m.open_for(&me, NOW_MS);
            if mutated == original {
                prop_assert_eq!(opened.map(|(_, s)| s), Ok(secret));
            } else {
                prop_assert!(opened.is_err(), "changed approval opened");
            }
        }
    }
}

// ---------------------------------------------------------------- keywords

/// Names mixing CJK, kana, Hangul, Latin (plain and full-width), digits, punctuation and
/// compatibility ideographs, or any text at all.
fn any_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[\u{4e00}-\u{9fa5}\u{3041}-\u{30ff}\u{ac00}-\u{d7a3}\u{f900}-\u{faff}a-zA-Z0-9\u{ff21}-\u{ff3a} ,.·-]{0,40}",
        "[\u{4e00}-\u{4e20}]{0,40}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Any two neighbouring CJK characters of the (normalised) name find it, and so does
    /// any single character, whenever nothing was cut by the token cap.
    #[test]
    fn any_two_neighbouring_cjk_characters_find_the_name(name in any_name()) {
        let indexed = index_tokens(&name, &[]);
        prop_assume!(indexed.len() < MAX_INDEX_TOKENS);
        let chars: Vec<char> = normalize(&name).chars().collect();
        for pair in chars.windows(2).filter(|w| w.iter().all(|c| keywords::is_cjk(*c))) {
            let q: String = pair.iter().collect();
            let tokens = query_tokens(&q);
            prop_assert_eq!(tokens.len(), 1, "{:?} → {:?}", q, tokens);
            prop_assert_eq!(matched(&tokens, &indexed), tokens.len(), "{:?} in {:?}", q, name);
        }
        for c in chars.iter().filter(|c| keywords::is_cjk(**c)) {
            let tokens = query_tokens(&c.to_string());
            prop_assert_eq!(matched(&tokens, &indexed), tokens.len(), "{:?} in {:?}", c, name);
        }
    }

    /// Bigrams come before single characters, so even a name over the cap is found by
    /// the pairs of its first CJK run.
    #[test]
    fn a_long_cjk_name_is_found_by_its_first_pairs(name in "[\u{4e00}-\u{9fa5}]{40,80}") {
        let indexed = index_tokens(&name, &[]);
        prop_assert!(indexed.len() <= MAX_INDEX_TOKENS);
        let chars: Vec<char> = name.chars().collect();
        for pair in chars.windows(2).take(MAX_INDEX_TOKENS / 2) {
            let q: String = pair.iter().collect();
            prop_assert_eq!(matched(&query_tokens(&q), &indexed), 1, "{:?}", q);
        }
    }

    /// Any Latin word of two letters or more, and its prefixes from three letters, find
    /// the name in any case and width; a whole query of such words matches in full.
    #[test]
    fn latin_words_and_prefixes_find_the_name(
        words in proptest::collection::vec("[a-zA-Z][a-zA-Z0-9]{1,20}", 1..5),
        cut in any::<Index>(),
    ) {
        let name = words.join(" ");
        let indexed = index_tokens(&name, &[]);
        prop_assume!(indexed.len() < MAX_INDEX_TOKENS);
        for w in &words {
            let prefix: String = w.chars().take(3 + cut.index(w.len().max(3) - 2)).collect();
            for q in [w.clone(), w.to_uppercase(), to_full_width(w), prefix] {
                let tokens = query_tokens(&q);
                prop_assert_eq!(tokens.len(), 1, "{:?}", q);
                prop_assert_eq!(matched(&tokens, &indexed), 1, "{:?} in {:?}", q, name);
            }
        }
        let all = query_tokens(&name);
        prop_assert_eq!(matched(&all, &indexed), all.len());
    }

    /// Tags are found whole and by their parts.
    #[test]
    fn tags_are_found_whole_and_by_parts(
        name in "[a-z\u{4e00}-\u{9fa5}]{1,8}",
        tags in proptest::collection::vec("[a-z\u{4e00}-\u{9fa5}]{2,6}( [a-z]{2,6})?", 1..=3),
    ) {
        let indexed = index_tokens(&name, &tags);
        prop_assume!(indexed.len() < MAX_INDEX_TOKENS);
        for t in &tags {
            prop_assert!(indexed.contains(&normalize(t)), "{:?} not whole", t);
            let q = query_tokens(t);
            prop_assert_eq!(matched(&q, &indexed), q.len(), "{:?}", t);
        }
    }

    #[test]
    fn token_caps_hold(
        name in any_name(),
        tags in proptest::collection::vec(any_name(), 0..=MAX_TAGS),
        query in any_name(),
    ) {
        let indexed = index_tokens(&name, &tags);
        prop_assert!(indexed.len() <= MAX_INDEX_TOKENS);
        let q = query_tokens(&query);
        prop_assert!(q.len() <= MAX_QUERY_TOKENS);
        // Every token is distinct and non-empty.
        for tokens in [&indexed, &q] {
            let set: std::collections::BTreeSet<_> = tokens.iter().collect();
            prop_assert_eq!(set.len(), tokens.len());
            prop_assert!(tokens.iter().all(|t| !t.is_empty()));
        }
        // Query tokens are never longer than an indexed prefix or a bigram.
        prop_assert!(q.iter().all(|t| t.chars().count() <= MAX_PREFIX_CHARS));
        // A name matches a query made of itself, up to the caps.
        let own = query_tokens(&name);
        prop_assume!(index_tokens(&name, &[]).len() < MAX_INDEX_TOKENS);
        prop_assert_eq!(matched(&own, &index_tokens(&name, &[])), own.len(), "{:?}", name);
    }

    #[test]
    fn provider_keys_have_the_provider_shape(token in any::<String>(), other in any::<String>()) {
        let k = keywords::provider_key(&token);
        prop_assert_eq!(k.len(), keywords::PROVIDER_KEY_LEN);
        prop_assert!(keywords::is_provider_key(&k));
        prop_assert_eq!(record::validate_provider_key(&k), Ok(()));
        prop_assert_eq!(k == keywords::provider_key(&other), token == other);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn normalize_is_idempotent(s in any_name()) {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once.clone(), "{:?}", s);
        // And so the tokens of normalised text are the tokens of the text.
        prop_assert_eq!(query_tokens(&once), query_tokens(&s));
        prop_assert_eq!(index_tokens(&once, &[]), index_tokens(&s, &[]));
    }
}

/// Full-width form of ASCII letters and digits (U+FF01 + (c - '!')).
fn to_full_width(s: &str) -> String {
    s.chars()
        .map(|c| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap())
        .collect()
}
