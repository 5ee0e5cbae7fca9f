//! One verdict everywhere: the same governance ops (promote, demote, remove, ban, unban,
//! mute, unmute, transfer, re-key, pins, announcements, joins, leaves, from five authors,
//! with colliding stamps) arriving in many orders at several nodes fold to identical
//! states; each node applies ops incrementally (`State::apply_next`) and folds again only
//! when one arrives out of order, as the node does. Posts get the same verdict from every
//! node, and the same as from the state folded from only the ops before them.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use qun_protocol::group::{Rekey, Role, State};
use qun_protocol::identity::Identity;
use qun_protocol::message::{
    Announcement, Ban, Join, Kind, Mute, Pin, Remove, SetRole, Text, Transfer, Unban, Unmute,
    Verified,
};
use qun_protocol::secret::GroupSecret;
use qun_protocol::{AuthorId, MsgId};

mod common;
use common::*;

/// The owner (0) and four members.
fn people() -> Vec<Identity> {
    (1..=5).map(|s| Identity::from_seed([s; 32])).collect()
}

/// An op: who, what, on whom, when (ms after `NOW_MS`, colliding often) and a small value.
fn op() -> impl Strategy<Value = (u8, u8, u8, u64, u8)> {
    (0u8..5, 0u8..15, 0u8..5, 10u64..40, 0u8..4)
}

fn kind(what: u8, target: AuthorId, all: &[AuthorId], v: u8) -> Kind {
    let member = target;
    match what {
        0 => Kind::Role(SetRole {
            member,
            role: Role::Admin,
        }),
        1 => Kind::Role(SetRole {
            member,
            role: Role::Member,
        }),
        2 => Kind::Remove(Remove { member }),
        3 => Kind::Ban(Ban { member }),
        4 => Kind::Unban(Unban { member }),
        5 => Kind::Mute(Mute {
            member,
            duration_ms: Some(u64::from(v + 1) * 7),
        }),
        6 => Kind::Mute(Mute {
            member,
            duration_ms: None,
        }),
        7 => Kind::Unmute(Unmute { member }),
        8 => Kind::Transfer(Transfer { to: member }),
        9 => {
            // Half the re-keys leave the target out; the others seal to everyone, and
            // are refused once someone among them is out.
            let to = all.iter().copied().filter(|a| v % 2 == 1 || *a != target);
            let secret = GroupSecret::from_bytes([v; 32]);
            let r = Rekey::create(
                &G1,
                u64::from(v % 3) + 1,
                &secret,
                to,
                ([v + 1; 32], [v; 24]),
            );
            Kind::Rekey(r.unwrap())
        }
        10 => Kind::Join(Join { inviter: None }),
        11 => Kind::Leave,
        12 => Kind::Pin(Pin {
            id: MsgId::from_bytes([v; 32]),
        }),
        13 => Kind::Announcement(Announcement {
            text: format!("公告 {v}"),
        }),
        _ => Kind::Text(Text {
            text: format!("post {v}"),
            reply_to: None,
            mentions: Vec::new(),
        }),
    }
}

/// The control ops (everyone's join first, then the drawn ones) and the posts, without
/// duplicates (a node stores a message once).
fn build(raw: &[(u8, u8, u8, u64, u8)]) -> (Vec<Verified>, Vec<Verified>) {
    let ids = people();
    let all: Vec<AuthorId> = ids.iter().map(|i| i.author()).collect();
    let mut seen = BTreeSet::new();
    let (mut ops, mut posts) = (Vec::new(), Vec::new());
    for (n, who) in ids.iter().enumerate().skip(1) {
        ops.push(signed(
            who,
            &body(G1, 0, n as u64, Kind::Join(Join { inviter: None })),
        ));
    }
    for &(who, what, target, n, v) in raw {
        let k = kind(what, all[target as usize], &all, v);
        // Joins name an epoch: a removed member's join counts only from a later one.
        let epoch = if what == 10 { u64::from(v % 3) } else { 0 };
        let msg = signed(&ids[who as usize], &body(G1, epoch, n, k));
        if !seen.insert(msg.id) {
            continue;
        }
        if msg.body.kind.is_control() {
            ops.push(msg);
        } else {
            posts.push(msg);
        }
    }
    (ops, posts)
}

/// `v` in the order a seeded shuffle gives.
fn shuffled<T: Clone>(v: &[T], mut seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    for i in (1..out.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        out.swap(i, (seed >> 33) as usize % (i + 1));
    }
    out
}

/// A node: applies each op as it arrives, folding everything it holds again when one
/// arrives out of order.
fn node(genesis: &qun_protocol::Genesis, arrivals: &[Verified]) -> State {
    let mut state = State::new(genesis);
    for (i, m) in arrivals.iter().enumerate() {
        if state.apply_next(m).is_err() {
            state = State::fold(genesis, &arrivals[..=i]);
        }
    }
    state
}

/// What holds in every state.
fn invariants(s: &State) -> Result<(), TestCaseError> {
    prop_assert!(s.members.contains(&s.owner), "the owner is a member");
    prop_assert!(!s.admins.contains(&s.owner));
    prop_assert!(s.admins.is_subset(&s.members), "admins are members");
    prop_assert!(s.banned.is_disjoint(&s.members), "no banned member");
    prop_assert!(s.epoch <= 3);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_arrival_order_gives_every_node_the_same_state_and_verdicts(
        raw in proptest::collection::vec(op(), 1..32),
        seeds in proptest::collection::vec(any::<u64>(), 4),
    ) {
        let genesis = genesis().genesis;
        let (ops, posts) = build(&raw);
        let full = State::fold(&genesis, &ops);
        invariants(&full)?;
        let verdicts: Vec<_> = posts.iter().map(|p| full.admits(p)).collect();
        // A post's verdict depends only on the ops before it.
        for (p, v) in posts.iter().zip(&verdicts) {
            let before = ops.iter().filter(|o| o.order_key() < p.order_key());
            prop_assert_eq!(&State::fold(&genesis, before).admits(p), v);
        }
        // Applied in group order, one at a time, the state is the full fold.
        let mut sorted = ops.clone();
        sorted.sort_by_key(|m| m.order_key());
        let mut inc = State::new(&genesis);
        for m in &sorted {
            prop_assert!(inc.apply_next(m).is_ok());
        }
        prop_assert_eq!(&inc, &full);
        // Several nodes, each its own arrival order.
        for seed in seeds {
            let state = node(&genesis, &shuffled(&ops, seed));
            prop_assert_eq!(&state, &full);
            prop_assert_eq!(state.last_applied(), full.last_applied());
            for (p, v) in posts.iter().zip(&verdicts) {
                prop_assert_eq!(&state.admits(p), v);
            }
        }
        // Posts folded in with the ops (what a fold of everything does) agree too.
        let everything: Vec<Verified> = ops.iter().chain(&posts).cloned().collect();
        let with_posts = State::fold(&genesis, &everything);
        invariants(&with_posts)?;
        prop_assert_eq!(&node(&genesis, &shuffled(&everything, 7)), &with_posts);
    }
}
