//! The strategies of the discovery property tests: signed cards, profiles, join requests
//! and approvals, wire messages, record keys, and mutations of valid bytes.

use super::*;

/// Seeds of the identities the strategies sign with (a key derivation per use is cheap,
/// but the set of keys matters less than the shapes around them).
pub(super) const SEEDS: u8 = 8;

pub(super) fn identity() -> impl Strategy<Value = Identity> {
    (0..SEEDS).prop_map(|i| Identity::from_seed([i + 1; 32]))
}

pub(super) static AUTHORS: LazyLock<Vec<AuthorId>> = LazyLock::new(|| {
    (0..SEEDS)
        .map(|i| Identity::from_seed([i + 1; 32]).author())
        .collect()
});

pub(super) fn group_id() -> impl Strategy<Value = GroupId> {
    any::<[u8; 32]>().prop_map(GroupId::from_bytes)
}

/// A valid group name: not blank, at most 24 characters of 3 bytes (`MAX_NAME_BYTES` is 96).
pub(super) fn group_name() -> impl Strategy<Value = String> {
    "[a-z\u{4e00}-\u{9fa5}][a-z0-9 \u{4e00}-\u{9fa5}]{0,23}"
}

/// Printable text of up to `max_chars` characters (so at most `4 * max_chars` bytes).
pub(super) fn text(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("\\PC{{0,{max_chars}}}")).unwrap()
}

pub(super) fn meta() -> impl Strategy<Value = Meta> {
    (
        text(64),
        // Tags show something (a blank tag is refused).
        proptest::collection::vec(
            "[a-z0-9\u{4e00}-\u{9fa5}][a-z0-9\u{4e00}-\u{9fa5} ]{0,9}",
            0..=MAX_TAGS,
        ),
    )
        .prop_map(|(description, tags)| Meta { description, tags })
}

pub(super) fn addrs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..=MAX_ADDR_BYTES),
        0..=MAX_CARD_ADDRS,
    )
}

/// A time a record may carry at `NOW_MS` (up to the clock skew ahead).
pub(super) fn issued_ms() -> impl Strategy<Value = u64> {
    0..=NOW_MS + MAX_CLOCK_SKEW_MS
}

/// A card for a public or listed group, signed by its owner.
pub(super) fn signed_card() -> impl Strategy<Value = SignedCard> {
    (
        (
            0..SEEDS,
            group_name(),
            any::<u64>(),
            any::<bool>(),
            any::<[u8; 16]>(),
        ),
        meta(),
        any::<u32>(),
        addrs(),
        (any::<u64>(), any::<[u8; 32]>()),
        issued_ms(),
    )
        .prop_map(
            |((i, name, created_ms, public, nonce), meta, members, addrs, secret, issued_ms)| {
                let owner = Identity::from_seed([i + 1; 32]);
                let vis = if public {
                    Visibility::Public
                } else {
                    Visibility::Listed
                };
                let genesis = SignedGenesis::create(&owner, &name, created_ms, vis, nonce).unwrap();
                let card = Card {
                    version: discovery::VERSION,
                    genesis,
                    meta,
                    members,
                    addrs,
                    secret: public.then(|| (secret.0, GroupSecret::from_bytes(secret.1))),
                    issued_ms,
                };
                SignedCard::create(&owner, card).expect("valid card")
            },
        )
}

pub(super) fn gender() -> impl Strategy<Value = Gender> {
    prop_oneof![
        Just(Gender::Female),
        Just(Gender::Male),
        Just(Gender::Other)
    ]
}

pub(super) fn shown_group() -> impl Strategy<Value = ShownGroup> {
    (group_id(), group_name()).prop_map(|(group, name)| ShownGroup { group, name })
}

pub(super) fn signed_profile() -> impl Strategy<Value = SignedProfile> {
    (
        identity(),
        "[a-zA-Z\u{4e00}-\u{9fa5}][a-zA-Z0-9 \u{4e00}-\u{9fa5}]{0,15}",
        proptest::option::of(text(100)),
        proptest::option::of(gender()),
        proptest::option::of(profile::MIN_BIRTH_YEAR..=profile::year_of(NOW_MS)),
        proptest::collection::vec(shown_group(), 0..=4),
        issued_ms(),
    )
        .prop_map(|(who, name, bio, gender, birth_year, groups, updated_ms)| {
            let p = Profile {
                version: discovery::VERSION,
                name,
                bio,
                gender,
                birth_year,
                groups,
                updated_ms,
            };
            SignedProfile::create(&who, p, NOW_MS).expect("valid profile")
        })
}

pub(super) fn signed_request() -> impl Strategy<Value = SignedRequest> {
    (identity(), group_id(), text(100), addrs(), issued_ms()).prop_map(
        |(who, group, note, addrs, issued_ms)| {
            let r = join::Request {
                version: discovery::VERSION,
                group,
                note,
                addrs,
                issued_ms,
            };
            SignedRequest::create(&who, r).expect("valid request")
        },
    )
}

/// An approval of a listed group by its owner, with the secret it seals.
pub(super) fn signed_approval() -> impl Strategy<Value = (SignedApproval, Handover)> {
    (
        (0..SEEDS, group_name(), any::<u64>(), any::<[u8; 16]>()),
        proptest::sample::select(AUTHORS.as_slice()),
        proptest::collection::btree_map(any::<u64>(), any::<[u8; 32]>(), 1..4),
        addrs(),
        issued_ms(),
        (any::<[u8; 32]>(), any::<[u8; 24]>()),
    )
        .prop_map(
            |((i, name, created_ms, nonce), requester, epochs, addrs, issued_ms, rand)| {
                let owner = Identity::from_seed([i + 1; 32]);
                let genesis =
                    SignedGenesis::create(&owner, &name, created_ms, Visibility::Listed, nonce)
                        .unwrap();
                let epochs = Handover::new(
                    epochs
                        .into_iter()
                        .map(|(e, s)| (e, GroupSecret::from_bytes(s))),
                )
                .expect("epochs");
                let a = SignedApproval::create(
                    &owner, genesis, requester, &epochs, addrs, issued_ms, rand,
                )
                .expect("valid approval");
                (a, epochs)
            },
        )
}

pub(super) fn wire_request() -> impl Strategy<Value = wire::Request> {
    prop_oneof![
        proptest::collection::vec("\\PC{0,16}", 0..=MAX_QUERY_TOKENS)
            .prop_map(|tokens| wire::Request::Search { tokens }),
        signed_request().prop_map(|r| wire::Request::Join(Box::new(r))),
        signed_approval().prop_map(|(a, _)| wire::Request::Approved(Box::new(a))),
    ]
}

pub(super) fn wire_response() -> impl Strategy<Value = wire::Response> {
    prop_oneof![
        proptest::collection::vec(signed_card(), 0..=3).prop_map(wire::Response::Cards),
        Just(wire::Response::Join(wire::JoinStatus::Pending)),
        Just(wire::Response::Join(wire::JoinStatus::Rejected)),
        signed_approval()
            .prop_map(|(a, _)| wire::Response::Join(wire::JoinStatus::Approved(Box::new(a)))),
        Just(wire::Response::Ack),
        text(64).prop_map(wire::Response::Refused),
    ]
}

/// Valid bytes with a few bytes replaced and perhaps cut short: inputs that get deep into
/// a decoder, unlike uniformly random bytes.
pub(super) fn mutate(bytes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        proptest::option::of(any::<Index>()),
    )
        .prop_map(move |(edits, cut)| {
            let mut b = bytes.clone();
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

/// A record key: a card or profile key around random or valid ids, or random bytes.
pub(super) fn record_key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        group_id().prop_map(|g| card::record_key(&g)),
        proptest::sample::select(AUTHORS.as_slice()).prop_map(|a| profile::record_key(&a)),
        any::<[u8; 32]>().prop_map(|b| profile::record_key(&AuthorId::from_bytes_unchecked(b))),
        (
            prop_oneof![Just(card::KEY_PREFIX), Just(profile::KEY_PREFIX)],
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(p, rest)| [p, &rest[..]].concat()),
        proptest::collection::vec(any::<u8>(), 0..48),
    ]
}
