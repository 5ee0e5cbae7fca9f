//! The strategies of the wire types' property tests: ids, keys, kinds, bodies, envelopes,
//! frames, geneses, invites, order keys, and mutations of valid bytes.

use super::*;

pub(super) fn seed() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

/// A valid author from a fresh key (an ed25519 key derivation per case).
pub(super) fn fresh_author() -> impl Strategy<Value = AuthorId> {
    seed().prop_map(|s| Identity::from_seed(s).author())
}

/// Valid authors derived once: ed25519 is slow in debug builds, and the shapes around an
/// author matter more than which key it is.
pub(super) static AUTHORS: LazyLock<Vec<AuthorId>> = LazyLock::new(|| {
    (0..16u8)
        .map(|i| Identity::from_seed([i; 32]).author())
        .collect()
});

pub(super) fn author() -> impl Strategy<Value = AuthorId> {
    proptest::sample::select(AUTHORS.as_slice())
}

pub(super) fn group_id() -> impl Strategy<Value = GroupId> {
    any::<[u8; 32]>().prop_map(GroupId::from_bytes)
}

pub(super) fn msg_id() -> impl Strategy<Value = MsgId> {
    any::<[u8; 32]>().prop_map(MsgId::from_bytes)
}

pub(super) fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

pub(super) fn text() -> impl Strategy<Value = Text> {
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

pub(super) fn announcement() -> impl Strategy<Value = Announcement> {
    "\\PC{0,40}".prop_map(|text| Announcement { text })
}

pub(super) fn join() -> impl Strategy<Value = Join> {
    proptest::option::of(author()).prop_map(|inviter| Join { inviter })
}

pub(super) fn meta() -> impl Strategy<Value = Meta> {
    (
        "\\PC{0,40}",
        proptest::collection::vec("[a-z0-9\u{4e00}-\u{9fa5}]{1,8}", 0..=MAX_TAGS),
    )
        .prop_map(|(description, tags)| Meta { description, tags })
}

/// A kind this version does not know: tags from 100 up (but the known ones), opaque
/// payload.
pub(super) fn unknown_kind() -> impl Strategy<Value = Kind> {
    (100u16.., proptest::collection::vec(any::<u8>(), 0..64))
        .prop_filter("a tag this version knows", |(tag, _)| {
            !KNOWN_TAGS.contains(tag)
        })
        .prop_map(|(tag, payload)| Kind::Unknown { tag, payload })
}

/// A valid re-key: epoch above 0, recipients ascending; any bytes where the keys and tags
/// go (neither the codec nor validation opens them).
pub(super) fn rekey() -> impl Strategy<Value = Rekey> {
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
pub(super) fn governance_kind() -> impl Strategy<Value = Kind> {
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

pub(super) fn kind() -> impl Strategy<Value = Kind> {
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

pub(super) fn body() -> impl Strategy<Value = Body> {
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
pub(super) fn raw_envelope() -> impl Strategy<Value = Envelope> {
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

pub(super) fn frame() -> impl Strategy<Value = Frame> {
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

pub(super) fn visibility() -> impl Strategy<Value = Visibility> {
    prop_oneof![
        Just(Visibility::Public),
        Just(Visibility::Listed),
        Just(Visibility::Private),
    ]
}

/// A valid group name: not blank, short enough that an invite with four maximal
/// addresses still fits in `MAX_INVITE_BYTES`.
pub(super) fn group_name() -> impl Strategy<Value = String> {
    "[a-z\u{4e00}-\u{9fa5}][a-z0-9 \u{4e00}-\u{9fa5}]{0,7}"
}

pub(super) fn genesis() -> impl Strategy<Value = Genesis> {
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
pub(super) fn signed_genesis() -> impl Strategy<Value = SignedGenesis> {
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

pub(super) fn addrs() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 1..=MAX_ADDR_BYTES),
        0..=MAX_INVITE_ADDRS,
    )
}

pub(super) fn content() -> impl Strategy<Value = invite::Content> {
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
pub(super) fn signed_invite() -> impl Strategy<Value = Invite> {
    (seed(), content(), any::<[u8; 16]>()).prop_map(|(s, content, key_seed)| {
        Invite::create(&Identity::from_seed(s), content, key_seed).expect("invite fits")
    })
}

pub(super) fn order_key() -> impl Strategy<Value = OrderKey> {
    (any::<u64>(), any::<u64>(), msg_id()).prop_map(|(ms, counter, id)| OrderKey {
        stamp: Stamp::new(ms, counter),
        id,
    })
}

/// Valid bytes with a few bytes replaced and perhaps cut short: inputs that get deep into
/// a decoder, unlike uniformly random bytes.
pub(super) fn mutate(bytes: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
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
