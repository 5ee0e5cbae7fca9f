//! What a removal costs a group of 1,000 members: the re-key that follows it.
//!
//! `cargo bench -p qun-protocol --bench rekey` builds a group of 1,000 members (999 joins
//! and the owner), removes one, and measures the re-key to the 999 that remain:
//! - `seal`: seal a new epoch secret to the 999 ([`Rekey::create`]: one X25519 exchange,
//!   HKDF and AEAD per member) and sign the message;
//! - `open`: one member finds its entry and opens the secret ([`Rekey::open`]);
//! - `apply`: every node checks and folds the op ([`State::apply_next`]: the author's right,
//!   the epoch, every recipient a member).
//!
//! It prints the time of each and the size of the re-key message (encoded envelope, what
//! is sealed into one frame).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use qun_protocol::group::{Rekey, SignedGenesis, State, Visibility};
use qun_protocol::id::{AuthorId, GroupId};
use qun_protocol::identity::Identity;
use qun_protocol::limits::MAX_ENVELOPE_BYTES;
use qun_protocol::message::{Body, Envelope, Join, Kind, Remove, Verified};
use qun_protocol::order::Stamp;
use qun_protocol::secret::GroupSecret;

mod common;

const GROUP_NAME: &str = "rekey";
const BENCHES: [&str; 3] = ["seal", "open", "apply"];
const MEMBERS: u32 = 1_000;
const CREATED_MS: u64 = 1_700_000_000_000;

fn member(i: u32) -> Identity {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[31] = 1;
    Identity::from_seed(seed)
}

fn sign(who: &Identity, group: GroupId, ms: u64, kind: Kind) -> Verified {
    let body = Body {
        group,
        epoch: 0,
        stamp: Stamp::new(CREATED_MS + ms, 0),
        kind,
    };
    Envelope::sign(who, &body).unwrap()
}

/// The owner, the group, its state after 999 joins and one removal, and the one removed.
fn group() -> (Identity, GroupId, State, Identity) {
    let owner = Identity::from_seed([1; 32]);
    let genesis =
        SignedGenesis::create(&owner, "千人群", CREATED_MS, Visibility::Public, [3; 16]).unwrap();
    let group = genesis.id().unwrap();
    let mut ops: Vec<Verified> = (1..MEMBERS)
        .map(|i| {
            sign(
                &member(i),
                group,
                u64::from(i),
                Kind::Join(Join { inviter: None }),
            )
        })
        .collect();
    let removed = member(MEMBERS - 1);
    let remove = Kind::Remove(Remove {
        member: removed.author(),
    });
    ops.push(sign(&owner, group, u64::from(MEMBERS) + 1, remove));
    let state = State::fold(&genesis.genesis, &ops);
    assert_eq!(state.members.len(), MEMBERS as usize - 1);
    assert!(state.rekey_due);
    (owner, group, state, removed)
}

/// The re-key message of the owner to `to`.
fn rekey(owner: &Identity, group: GroupId, to: &[AuthorId]) -> Verified {
    let secret = GroupSecret::from_bytes([8; 32]);
    let r = Rekey::create(&group, 1, &secret, to.iter().copied(), ([5; 32], [6; 24])).unwrap();
    sign(owner, group, u64::from(MEMBERS) + 2, Kind::Rekey(r))
}

fn bench(c: &mut Criterion) {
    let (owner, group, state, removed) = group();
    let to: Vec<AuthorId> = state.members.iter().copied().collect();
    let msg = rekey(&owner, group, &to);
    let Kind::Rekey(r) = &msg.body.kind else {
        unreachable!()
    };
    let reader = member(1);
    assert!(r.open(&removed, &group).is_err());
    let mut check = state.clone();
    check.apply_next(&msg).unwrap();
    assert_eq!((check.epoch, check.rekey_due), (1, false));

    let mut g = c.benchmark_group(GROUP_NAME);
    g.sample_size(10);
    g.bench_function("seal", |b| b.iter(|| rekey(&owner, group, black_box(&to))));
    g.bench_function("open", |b| {
        b.iter(|| r.open(black_box(&reader), &group).unwrap())
    });
    g.bench_function("apply", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |s| s.apply_next(black_box(&msg)).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn report() {
    let (owner, group, state, _) = group();
    let to: Vec<AuthorId> = state.members.iter().copied().collect();
    let bytes = rekey(&owner, group, &to).encoded.len();
    println!(
        "re-key to {} members after a removal in a group of {MEMBERS}: {bytes} bytes \
         ({:.1} per member; one envelope holds {})",
        to.len(),
        bytes as f64 / to.len() as f64,
        MAX_ENVELOPE_BYTES
    );
    for bench in BENCHES {
        match common::mean_ns(GROUP_NAME, bench) {
            Some(ns) if ns >= 1e6 => println!("{bench}: {:.1} ms", ns / 1e6),
            Some(ns) => println!("{bench}: {:.1} µs", ns / 1e3),
            None => println!("{bench}: no result (filtered out?)"),
        }
    }
}

fn main() {
    common::run(bench, report);
}
