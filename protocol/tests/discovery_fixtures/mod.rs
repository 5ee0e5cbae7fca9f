//! Fixtures for the discovery tests: a group owned by `common::owner()` in each
//! visibility, its card, the member's profile, the owner's approval of the member, and
//! "forged" records signed without the checks of `create` (what a hostile peer can send).
#![allow(dead_code, clippy::unwrap_used)]

use qun_protocol::codec;
use qun_protocol::discovery::card::{self, Card, SignedCard};
use qun_protocol::discovery::join::{self, SignedApproval};
use qun_protocol::discovery::profile::{self, Gender, Profile, ShownGroup, SignedProfile};
use qun_protocol::discovery::{self, Error, Signed};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::id::GroupId;
use qun_protocol::identity::{DOMAIN_APPROVAL, DOMAIN_CARD, DOMAIN_PROFILE, Identity};
use qun_protocol::limits::*;
use qun_protocol::message::Meta;

use crate::common::{NOW_MS, member, owner, secret};

/// Neither the owner nor the member.
pub fn stranger() -> Identity {
    Identity::from_seed([9; 32])
}

/// A group owned by `owner()`, created a minute before `NOW_MS`.
pub fn genesis(visibility: Visibility) -> SignedGenesis {
    SignedGenesis::create(&owner(), "深圳摄影", NOW_MS - 60_000, visibility, [4; 16]).unwrap()
}

pub fn group(visibility: Visibility) -> GroupId {
    genesis(visibility).id().unwrap()
}

/// A binary multiaddr's worth of bytes.
pub fn addr(n: u8) -> Vec<u8> {
    vec![4, 127, 0, 0, n, 6, 0x1f, 0x90]
}

/// A card as its owner would write it: with the secret if and only if public.
pub fn card_value(visibility: Visibility) -> Card {
    Card {
        version: discovery::VERSION,
        genesis: genesis(visibility),
        meta: Meta {
            description: "每周六拍照".into(),
            tags: vec!["摄影".into(), "night sky".into()],
        },
        members: 12,
        addrs: vec![addr(1), addr(2)],
        secret: (visibility == Visibility::Public).then(|| (3, secret())),
        issued_ms: NOW_MS,
    }
}

pub fn public_card() -> SignedCard {
    SignedCard::create(&owner(), card_value(Visibility::Public)).unwrap()
}

/// Signs `card` as `who` without any of `create`'s checks (what a hostile peer can do).
pub fn forge_card(who: &Identity, card: Card) -> Vec<u8> {
    codec::encode(&Signed::sign(who, DOMAIN_CARD, card).unwrap()).unwrap()
}

pub fn card_key(visibility: Visibility) -> Vec<u8> {
    card::record_key(&group(visibility))
}

pub fn profile_value() -> Profile {
    Profile {
        version: discovery::VERSION,
        name: "阿明".into(),
        bio: Some("拍夜景".into()),
        gender: Some(Gender::Other),
        birth_year: Some(1990),
        groups: vec![ShownGroup {
            group: group(Visibility::Public),
            name: "深圳摄影".into(),
        }],
        updated_ms: NOW_MS,
    }
}

pub fn member_profile() -> SignedProfile {
    SignedProfile::create(&member(), profile_value(), NOW_MS).unwrap()
}

/// Signs `profile` as `who` without any of `create`'s checks.
pub fn forge_profile(who: &Identity, profile: Profile) -> Vec<u8> {
    codec::encode(&Signed::sign(who, DOMAIN_PROFILE, profile).unwrap()).unwrap()
}

pub fn member_key() -> Vec<u8> {
    profile::record_key(&member().author())
}

/// The owner's approval of `member()` into a group of `visibility`.
pub fn approval(visibility: Visibility) -> SignedApproval {
    SignedApproval::create(
        &owner(),
        genesis(visibility),
        member().author(),
        &qun_protocol::discovery::seal::Handover::one(5, secret()),
        vec![addr(1)],
        NOW_MS,
        ([11; 32], [12; 24]),
    )
    .unwrap()
}

/// Re-signs an edited approval as `who` (the signature then covers the edit).
pub fn resign(who: &Identity, a: &SignedApproval) -> SignedApproval {
    Signed::sign(who, DOMAIN_APPROVAL, a.value.clone()).unwrap()
}

pub fn join_request(note: &str, issued_ms: u64) -> join::Request {
    join::Request {
        version: discovery::VERSION,
        group: group(Visibility::Listed),
        note: note.into(),
        addrs: vec![addr(3)],
        issued_ms,
    }
}

pub fn is_invalid<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Invalid(_) | Error::Name(_)))
}

/// The largest card the rules allow: every text and list at its limit.
pub fn maximal_card() -> Card {
    let name = "名".repeat(MAX_NAME_BYTES / 3);
    let mut c = card_value(Visibility::Public);
    c.genesis =
        SignedGenesis::create(&owner(), &name, NOW_MS, Visibility::Public, [4; 16]).unwrap();
    c.meta = Meta {
        description: "d".repeat(MAX_DESCRIPTION_BYTES),
        tags: vec!["t".repeat(MAX_TAG_BYTES); MAX_TAGS],
    };
    c.addrs = vec![vec![1; MAX_ADDR_BYTES]; MAX_CARD_ADDRS];
    c.members = u32::MAX;
    c.issued_ms = NOW_MS;
    c
}
