//! What one new control op costs the group state: folding everything again (what a node did
//! on every batch before issue 12) against applying the op to the state as it stands
//! (`State::apply_next`, what it does now when the op sorts after the last one folded).
//!
//! `cargo bench -p qun-protocol --bench fold` folds a group of 1,000 joins, then one more
//! join, three ways, and prints the time of each and the ratios:
//! - `refold`: decode the 1,001 stored envelopes and fold them (the node's full refold,
//!   without the store read);
//! - `fold`: fold the 1,001 decoded ops;
//! - `incremental`: apply the new op to the state of the 1,000 (the state's copy is made
//!   outside the timing).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use qun_protocol::group::{SignedGenesis, State, Visibility};
use qun_protocol::id::GroupId;
use qun_protocol::identity::Identity;
use qun_protocol::message::{Body, Envelope, Join, Kind, Verified};
use qun_protocol::order::Stamp;

mod common;

const GROUP_NAME: &str = "fold";
const BENCHES: [&str; 3] = ["refold", "fold", "incremental"];
const MEMBERS: u32 = 1_000;
const CREATED_MS: u64 = 1_700_000_000_000;

/// A join by member `i`, stamped `i` ms after creation.
fn join(group: GroupId, i: u32) -> Verified {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 1;
    let body = Body {
        group,
        epoch: 0,
        stamp: Stamp::new(CREATED_MS + u64::from(i) + 1, 0),
        kind: Kind::Join(Join { inviter: None }),
    };
    Envelope::sign(&Identity::from_seed(seed), &body).unwrap()
}

fn bench(c: &mut Criterion) {
    let owner = Identity::from_seed([1; 32]);
    let genesis =
        SignedGenesis::create(&owner, "千人群", CREATED_MS, Visibility::Public, [3; 16]).unwrap();
    let group = genesis.id().unwrap();
    let genesis = genesis.genesis;
    let members: Vec<Verified> = (0..MEMBERS).map(|i| join(group, i)).collect();
    let next = join(group, MEMBERS);
    let all: Vec<Verified> = members.iter().chain([&next]).cloned().collect();
    let stored: Vec<Vec<u8>> = all.iter().map(|m| m.encoded.clone()).collect();
    let state = State::fold(&genesis, &members);
    let full = State::fold(&genesis, &all);
    let mut check = state.clone();
    check.apply_next(&next).unwrap();
    assert_eq!(check, full);
    assert_eq!(full.members.len(), MEMBERS as usize + 2);

    let mut g = c.benchmark_group(GROUP_NAME);
    g.bench_function("refold", |b| {
        b.iter(|| {
            let ops: Vec<Verified> = black_box(&stored)
                .iter()
                .map(|e| Envelope::decode_stored(e).unwrap())
                .collect();
            State::fold(&genesis, &ops)
        })
    });
    g.bench_function("fold", |b| {
        b.iter(|| State::fold(&genesis, black_box(&all)))
    });
    g.bench_function("incremental", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |s| s.apply_next(black_box(&next)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

/// Mean time per iteration of one of this group's benches, ns.
fn mean_ns(bench: &str) -> Option<f64> {
    common::mean_ns(GROUP_NAME, bench)
}

fn report() {
    let times: Vec<Option<f64>> = BENCHES.iter().map(|b| mean_ns(b)).collect();
    for (bench, t) in BENCHES.iter().zip(&times) {
        match t {
            Some(ns) => println!("{bench}: {:.1} µs per op", ns / 1e3),
            None => println!("{bench}: no result (filtered out?)"),
        }
    }
    if let (Some(refold), Some(fold), Some(inc)) = (times[0], times[1], times[2]) {
        println!(
            "one more join in a group of {MEMBERS}: refold / incremental = {:.0}x, \
             fold / incremental = {:.0}x",
            refold / inc,
            fold / inc
        );
    }
}

fn main() {
    common::run(bench, report);
}
