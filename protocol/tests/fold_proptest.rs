//! The incremental fold gives the full fold: for random sequences of ops by an owner and
//! members (joins, leaves, announcements, metas, posts, unknown kinds), applying them one by
//! one in group order with `State::apply_next` equals `State::fold` of all of them; and a
//! node that applies each op as it arrives (in any order), folding again from scratch only
//! when `apply_next` says the op is out of order, holds the full fold after every op.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use qun_protocol::group::State;
use qun_protocol::identity::Identity;
use qun_protocol::message::{Announcement, Join, Kind, Meta, Text, Verified};

mod common;
use common::*;

/// An op: who (0 is the owner), what, and when (ms after `NOW_MS`; collisions are fine,
/// the id breaks ties).
fn op() -> impl Strategy<Value = (u8, u8, u64, u8)> {
    (0u8..4, 0u8..7, 0u64..40, 0u8..3)
}

fn kind(what: u8, v: u8) -> Kind {
    match what {
        0 => Kind::Join(Join { inviter: None }),
        1 => Kind::Leave,
        2 => Kind::Announcement(Announcement {
            // Empty clears it.
            text: ["", "一", "two"][v as usize].into(),
        }),
        3 => Kind::Meta(Meta {
            description: format!("d{v}"),
            tags: vec![format!("t{v}")],
        }),
        4 => Kind::Text(Text {
            text: format!("post {v}"),
            reply_to: None,
            mentions: Vec::new(),
        }),
        5 => Kind::Unknown {
            tag: 0x8000 + u16::from(v),
            payload: vec![v],
        },
        _ => Kind::Unknown {
            tag: 300 + u16::from(v),
            payload: vec![v],
        },
    }
}

/// Signs the ops, dropping exact duplicates (same id): a node stores a message once.
fn build(raw: &[(u8, u8, u64, u8)]) -> Vec<Verified> {
    let ids: Vec<Identity> = (1..=4).map(|s| Identity::from_seed([s; 32])).collect();
    let mut seen = BTreeMap::new();
    let mut out = Vec::new();
    for &(who, what, n, v) in raw {
        let msg = signed(&ids[who as usize], &body(G1, 0, n, kind(what, v)));
        if seen.insert(msg.id, ()).is_none() {
            out.push(msg);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn applying_in_order_equals_the_full_fold(raw in proptest::collection::vec(op(), 0..24)) {
        let genesis = genesis().genesis;
        let ops = build(&raw);
        let full = State::fold(&genesis, &ops);
        let mut sorted: Vec<&Verified> = ops.iter().collect();
        sorted.sort_by_key(|m| m.order_key());
        let mut state = State::new(&genesis);
        for m in &sorted {
            prop_assert!(state.apply_next(m).is_ok(), "in order, yet refused");
        }
        prop_assert_eq!(&state, &full);
        prop_assert_eq!(state.last_applied(), full.last_applied());
        prop_assert_eq!(state.last_applied(), sorted.last().map(|m| m.order_key()));
    }

    #[test]
    fn incremental_with_refold_on_late_ops_equals_the_full_fold(
        raw in proptest::collection::vec(op(), 0..24),
    ) {
        let genesis = genesis().genesis;
        let ops = build(&raw);
        let mut state = State::new(&genesis);
        let mut refolds = 0;
        for (i, m) in ops.iter().enumerate() {
            if let Err(late) = state.apply_next(m) {
                prop_assert_eq!(late.at, m.order_key());
                prop_assert!(late.at < late.last);
                refolds += 1;
                state = State::fold(&genesis, &ops[..=i]);
            }
            prop_assert_eq!(&state, &State::fold(&genesis, &ops[..=i]));
        }
        prop_assert_eq!(&state, &State::fold(&genesis, &ops));
        prop_assert!(refolds <= ops.len());
    }
}

#[test]
fn an_op_already_applied_or_older_is_out_of_order_and_changes_nothing() {
    let genesis = genesis().genesis;
    let m = member();
    let join = signed(&m, &body(G1, 0, 5, Kind::Join(Join { inviter: None })));
    let early = signed(&m, &body(G1, 0, 1, Kind::Leave));
    let mut state = State::new(&genesis);
    assert!(state.apply_next(&join).is_ok());
    let before = state.clone();
    assert!(state.apply_next(&join).is_err());
    let late = state.apply_next(&early).unwrap_err();
    assert_eq!((late.at, late.last), (early.order_key(), join.order_key()));
    assert_eq!(state, before);
    assert_eq!(state.last_applied(), Some(join.order_key()));
}
