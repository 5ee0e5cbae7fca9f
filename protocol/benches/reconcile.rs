//! What reconciling a group's order keys costs, against the naive "send me every id since
//! time t" catch-up.
//!
//! `cargo bench -p qun-protocol --bench reconcile` builds two sets of 100,000 keys that
//! differ in d ∈ {0, 1, 100, 10,000} keys (half missing on each side, at random positions
//! from a fixed seed), reconciles them through the wire form, and prints round trips, bytes
//! each way and CPU time, beside the naive baseline: the requester sends a time t (16 bytes
//! with the page number) and the responder answers with every key whose time is at least
//! t, 1,000 keys of 48 bytes per page, one round trip per page. The baseline gets the most
//! favourable t, the time of the oldest differing key. Goal: d = 1 costs at most 4 round
//! trips and 4 KiB in all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use qun_protocol::id::MsgId;
use qun_protocol::order::{OrderKey, Stamp};
use qun_protocol::reconcile::{self, Config, Initiator, Message};

const N: usize = 100_000;
const DIFFS: [usize; 4] = [0, 1, 100, 10_000];
const SEED: u64 = 0x5eed_0f9a;
/// Goal for d = 1.
const GOAL_ROUNDS: u32 = 4;
const GOAL_BYTES: usize = 4096;
/// Naive baseline: keys per page, bytes per key, bytes per page request.
const NAIVE_PAGE: usize = 1000;
const NAIVE_KEY_BYTES: usize = 48;
const NAIVE_REQUEST_BYTES: usize = 16;

/// splitmix64 (test data, not crypto).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A group's history: stamps a second apart with up to 5 s of clock skew, counters 0 to 2
/// (concurrent senders in one millisecond), random ids.
fn history(rng: &mut Rng) -> Vec<OrderKey> {
    let keys: BTreeSet<OrderKey> = (0..N as u64)
        .map(|i| {
            let mut id = [0u8; 32];
            for chunk in id.chunks_exact_mut(8) {
                chunk.copy_from_slice(&rng.next().to_le_bytes());
            }
            OrderKey {
                stamp: Stamp::new(1_700_000_000_000 + i * 1000 + rng.below(5000), rng.below(3)),
                id: MsgId::from_bytes(id),
            }
        })
        .collect();
    keys.into_iter().collect()
}

/// Two copies of `all`, `d` random keys missing: the even-numbered from A, the others from B.
fn pair(all: &[OrderKey], d: usize, rng: &mut Rng) -> (BTreeSet<OrderKey>, BTreeSet<OrderKey>) {
    let mut a: BTreeSet<OrderKey> = all.iter().copied().collect();
    let mut b = a.clone();
    let mut missing = BTreeSet::new();
    while missing.len() < d {
        missing.insert(rng.below(all.len() as u64) as usize);
    }
    for (n, i) in missing.into_iter().enumerate() {
        let side = if n % 2 == 0 { &mut b } else { &mut a };
        side.remove(&all[i]);
    }
    (a, b)
}

struct Cost {
    rounds: u32,
    to_responder: usize,
    to_initiator: usize,
    cpu: Duration,
}

/// Reconciles A (initiator) with B through the wire form; checks the outcome.
fn reconcile(a: &BTreeSet<OrderKey>, b: &BTreeSet<OrderKey>) -> Cost {
    let config = Config::default();
    let start = Instant::now();
    let (mut init, mut msg) = Initiator::new(a, None, config.clone()).unwrap();
    let (mut to_responder, mut to_initiator) = (0, 0);
    loop {
        let wire = msg.encode();
        to_responder += wire.len();
        let reply = reconcile::respond(b, &Message::decode(&wire).unwrap(), &config).unwrap();
        let wire = reply.encode();
        to_initiator += wire.len();
        match init.reconcile(a, &Message::decode(&wire).unwrap()).unwrap() {
            Some(next) => msg = next,
            None => break,
        }
    }
    let cpu = start.elapsed();
    assert!(init.have().iter().copied().eq(a.difference(b).copied()));
    assert!(init.need().iter().copied().eq(b.difference(a).copied()));
    Cost {
        rounds: init.rounds(),
        to_responder,
        to_initiator,
        cpu,
    }
}

/// The naive catch-up with t the time of the oldest differing key (after every key if none
/// differ): round trips and total bytes.
fn naive(a: &BTreeSet<OrderKey>, b: &BTreeSet<OrderKey>) -> (usize, usize) {
    let t = a
        .symmetric_difference(b)
        .map(|k| k.stamp.ms)
        .min()
        .unwrap_or(u64::MAX);
    let sent = b.iter().filter(|k| k.stamp.ms >= t).count();
    let pages = sent.div_ceil(NAIVE_PAGE).max(1);
    (pages, pages * NAIVE_REQUEST_BYTES + sent * NAIVE_KEY_BYTES)
}

fn main() {
    // `cargo test --benches` runs this binary with `--test`: nothing to measure then.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let mut rng = Rng(SEED);
    let all = history(&mut rng);
    let config = Config::default();
    println!(
        "reconcile {N} keys: branching {}, list threshold {}, max message {} bytes",
        config.branching, config.id_list_threshold, config.max_message_bytes
    );
    println!(
        "naive: pages of {NAIVE_PAGE} keys x {NAIVE_KEY_BYTES} B, {NAIVE_REQUEST_BYTES} B per \
         request, t = time of the oldest differing key (the most favourable t for naive)\n"
    );
    println!(
        "{:>6} | {:>6} {:>9} {:>9} {:>9} {:>8} | {:>6} {:>9} | {:>7}",
        "d", "rounds", "I->R B", "R->I B", "total B", "CPU ms", "rounds", "total B", "ratio"
    );
    println!("{}", "-".repeat(90));
    let mut goal = None;
    for d in DIFFS {
        let (a, b) = pair(&all, d, &mut rng);
        let cost = reconcile(&a, &b);
        let (naive_rounds, naive_bytes) = naive(&a, &b);
        let total = cost.to_responder + cost.to_initiator;
        println!(
            "{d:>6} | {:>6} {:>9} {:>9} {:>9} {:>8.1} | {:>6} {:>9} | {:>7.4}",
            cost.rounds,
            cost.to_responder,
            cost.to_initiator,
            total,
            cost.cpu.as_secs_f64() * 1e3,
            naive_rounds,
            naive_bytes,
            total as f64 / naive_bytes as f64,
        );
        if d == 1 {
            goal = Some((cost.rounds, total));
        }
    }
    if let Some((rounds, bytes)) = goal {
        let met = rounds <= GOAL_ROUNDS && bytes <= GOAL_BYTES;
        println!(
            "\ngoal d = 1: <= {GOAL_ROUNDS} round trips and <= {GOAL_BYTES} bytes: {rounds} \
             round trips, {bytes} bytes: {}",
            if met { "met" } else { "NOT met" }
        );
    }
    println!("ratio = reconcile total bytes / naive total bytes; CPU = both sides, one thread");
}
