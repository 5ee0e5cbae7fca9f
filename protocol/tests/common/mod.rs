//! Fixtures shared by the protocol's integration tests: fixed keys, a group, message bodies.
#![allow(dead_code, clippy::unwrap_used)]

use qun_protocol::GroupId;
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::identity::Identity;
use qun_protocol::message::{Body, Envelope, Kind, Text, Verified};
use qun_protocol::order::Stamp;
use qun_protocol::secret::{GroupSecret, MessageKey};

pub const G1: GroupId = GroupId::from_bytes([1; 32]);
pub const G2: GroupId = GroupId::from_bytes([2; 32]);
pub const NOW_MS: u64 = 1_700_000_000_000;

pub fn owner() -> Identity {
    Identity::from_seed([1; 32])
}

pub fn member() -> Identity {
    Identity::from_seed([2; 32])
}

pub fn secret() -> GroupSecret {
    GroupSecret::from_bytes([7; 32])
}

pub fn key(group: &GroupId, epoch: u64) -> MessageKey {
    secret().message_key(group, epoch)
}

/// A body stamped `n` ms after `NOW_MS`.
pub fn body(group: GroupId, epoch: u64, n: u64, kind: Kind) -> Body {
    Body {
        group,
        epoch,
        stamp: Stamp::new(NOW_MS + n, 0),
        kind,
    }
}

pub fn hi() -> Kind {
    Kind::Text(Text {
        text: "hi".into(),
        reply_to: None,
        mentions: Vec::new(),
    })
}

pub fn signed(who: &Identity, b: &Body) -> Verified {
    Envelope::sign(who, b).unwrap()
}

pub fn genesis() -> SignedGenesis {
    SignedGenesis::create(&owner(), "读书会", NOW_MS, Visibility::Private, [3; 16]).unwrap()
}
