//! Property tests of range-based set reconciliation (`qun_protocol::reconcile`).
//!
//! * Outcome: for random pairs of sets (empty, identical, disjoint, subsets, overlapping,
//!   a few differences; up to 3,000 keys) the initiator ends with `have == A \ B` and
//!   `need == B \ A` exactly (restricted to the lower bound when there is one), every message
//!   fits the size limit, and the round trips stay within
//!   `ceil(log_b(n)) + 2 + d / 1000` (b the branching factor, n the larger set, d the size
//!   of the difference: a 64 KiB message carries over 1,000 listed keys, so big
//!   differences take extra rounds to move, not to find).
//! * The same with small messages and random branching, which cuts messages short all
//!   the time, and with the responder reading a sorted slice instead of a `BTreeSet`.
//! * Wire: `decode(encode(m)) == m`; arbitrary or mangled bytes decode to a message that
//!   re-encodes to the same bytes, or to a clean error; hostile messages (unsorted bounds,
//!   keys outside their range, lists longer than the input, too many ranges, oversize)
//!   are refused; the responder answers any valid message within the size limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use proptest::prelude::*;

use qun_protocol::id::MsgId;
use qun_protocol::order::{OrderKey, Stamp};
use qun_protocol::reconcile::{
    self, Bound, Config, Error, Fingerprint, Initiator, ItemSet, MAX_MESSAGE_BYTES, MAX_RANGES,
    Message, Mode, Range,
};

const CASES: u32 = 64;
const WIRE_CASES: u32 = 256;

// ---------------------------------------------------------------- sets

/// splitmix64: a small deterministic generator for test data (not crypto).
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
        self.next() % n.max(1)
    }
}

/// `n` distinct keys with many shared stamp ms, counters and id prefixes, so that bounds
/// need every kind of separator.
fn universe(n: usize, rng: &mut Rng) -> Vec<OrderKey> {
    let mut keys = BTreeSet::new();
    let mut ms = 0u64;
    while keys.len() < n {
        ms += rng.below(3);
        let mut id = [0u8; 32];
        for chunk in id.chunks_exact_mut(8) {
            chunk.copy_from_slice(&rng.next().to_le_bytes());
        }
        id[0] = rng.below(4) as u8;
        if rng.below(2) == 0 {
            id[1] = 0;
        }
        keys.insert(OrderKey {
            stamp: Stamp::new(ms, 1_700_000_000_000 + rng.below(4) * 1000),
            id: MsgId::from_bytes(id),
        });
    }
    keys.into_iter().collect()
}

#[derive(Debug, Clone, Copy)]
enum Relation {
    Identical,
    Disjoint,
    ASubsetOfB,
    BSubsetOfA,
    /// Each key is in A with probability a/8 and in B with probability b/8.
    Overlap(u8, u8),
    /// Identical but for this many keys missing from one side or the other.
    FewDiffs(u8),
}

fn relation() -> impl Strategy<Value = Relation> {
    prop_oneof![
        Just(Relation::Identical),
        Just(Relation::Disjoint),
        Just(Relation::ASubsetOfB),
        Just(Relation::BSubsetOfA),
        (0u8..=8, 0u8..=8).prop_map(|(a, b)| Relation::Overlap(a, b)),
        any::<u8>().prop_map(Relation::FewDiffs),
    ]
}

/// Two sets of keys drawn from one universe.
#[derive(Debug, Clone)]
struct Pair {
    a: BTreeSet<OrderKey>,
    b: BTreeSet<OrderKey>,
    universe: Vec<OrderKey>,
}

fn pair(max: usize) -> impl Strategy<Value = Pair> {
    (0..=max, any::<u64>(), relation()).prop_map(|(n, seed, relation)| {
        let mut rng = Rng(seed);
        let universe = universe(n, &mut rng);
        let mut a = BTreeSet::new();
        let mut b = BTreeSet::new();
        for (i, key) in universe.iter().enumerate() {
            let (in_a, in_b) = match relation {
                Relation::Identical | Relation::FewDiffs(_) => (true, true),
                Relation::Disjoint => (i % 2 == 0, i % 2 == 1),
                Relation::ASubsetOfB => (rng.below(4) != 0, true),
                Relation::BSubsetOfA => (true, rng.below(4) != 0),
                Relation::Overlap(pa, pb) => {
                    (rng.below(8) < u64::from(pa), rng.below(8) < u64::from(pb))
                }
            };
            if in_a {
                a.insert(*key);
            }
            if in_b {
                b.insert(*key);
            }
        }
        if let Relation::FewDiffs(d) = relation {
            for _ in 0..d {
                let key = universe.get(rng.below(n as u64) as usize).copied();
                let side = if rng.below(2) == 0 { &mut a } else { &mut b };
                key.map(|k| side.remove(&k));
            }
        }
        Pair { a, b, universe }
    })
}

/// What a whole run produced.
struct Run {
    have: BTreeSet<OrderKey>,
    need: BTreeSet<OrderKey>,
    rounds: u32,
    largest: usize,
}

/// Reconciles `a` (initiator) with `b` (responder, through `respond_with`), every message
/// going through its wire form.
fn run<R: ItemSet + ?Sized>(
    a: &BTreeSet<OrderKey>,
    b: &R,
    lower: Option<OrderKey>,
    config: &Config,
) -> Result<Run, Error> {
    let (mut init, mut msg) = Initiator::new(a, lower, config.clone())?;
    let mut largest = 0;
    loop {
        let wire = msg.encode();
        largest = largest.max(wire.len());
        let reply = reconcile::respond(b, &Message::decode(&wire)?, config)?;
        let wire = reply.encode();
        largest = largest.max(wire.len());
        match init.reconcile(a, &Message::decode(&wire)?)? {
            Some(next) => msg = next,
            None => break,
        }
    }
    Ok(Run {
        have: init.have().clone(),
        need: init.need().clone(),
        rounds: init.rounds(),
        largest,
    })
}

fn expected(pair: &Pair, lower: Option<OrderKey>) -> (BTreeSet<OrderKey>, BTreeSet<OrderKey>) {
    let keep = |k: &&OrderKey| lower.is_none_or(|l| **k >= l);
    let have = pair.a.difference(&pair.b).filter(keep).copied().collect();
    let need = pair.b.difference(&pair.a).filter(keep).copied().collect();
    (have, need)
}

/// A lower bound: none, a key of the universe, or a point between two of its keys.
fn lower_bound(pair: &Pair, pick: Option<(usize, bool)>) -> Option<OrderKey> {
    let (i, between) = pick?;
    let key = *pair.universe.get(i % pair.universe.len().max(1))?;
    if between {
        let mut id = *key.id.as_bytes();
        id[31] = id[31].wrapping_add(1);
        Some(OrderKey {
            id: MsgId::from_bytes(id),
            ..key
        })
    } else {
        Some(key)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn finds_exactly_the_difference(
        pair in pair(3000),
        pick in proptest::option::of((any::<usize>(), any::<bool>())),
        slice in any::<bool>(),
    ) {
        let config = Config::default();
        let lower = lower_bound(&pair, pick);
        let out = if slice {
            let b: Vec<OrderKey> = pair.b.iter().copied().collect();
            run(&pair.a, b.as_slice(), lower, &config).unwrap()
        } else {
            run(&pair.a, &pair.b, lower, &config).unwrap()
        };
        let (have, need) = expected(&pair, lower);
        let d = have.len() + need.len();
        prop_assert_eq!(&out.have, &have);
        prop_assert_eq!(&out.need, &need);
        prop_assert!(out.largest <= config.max_message_bytes);
        let n = pair.a.len().max(pair.b.len()).max(1) as f64;
        let levels = (n.ln() / (config.branching as f64).ln()).ceil() as u32;
        let bound = levels + 2 + (d / 1000) as u32;
        prop_assert!(out.rounds <= bound, "{} rounds > {} (n {}, d {})", out.rounds, bound, n, d);
    }

    #[test]
    fn small_messages_and_any_branching(
        pair in pair(1000),
        branching in 2usize..=16,
        extra in 0usize..=48,
        max_message_bytes in 1024usize..=4096,
        pick in proptest::option::of((any::<usize>(), any::<bool>())),
    ) {
        let config = Config {
            branching,
            id_list_threshold: branching + extra,
            max_message_bytes,
            ..Config::default()
        };
        let lower = lower_bound(&pair, pick);
        let out = run(&pair.a, &pair.b, lower, &config).unwrap();
        let (have, need) = expected(&pair, lower);
        prop_assert_eq!(&out.have, &have);
        prop_assert_eq!(&out.need, &need);
        prop_assert!(out.largest <= max_message_bytes);
    }
}

// ---------------------------------------------------------------- wire

fn order_key() -> impl Strategy<Value = OrderKey> {
    (
        0u64..8,
        prop_oneof![Just(0u64), any::<u64>()],
        any::<[u8; 32]>(),
        0usize..=32,
    )
        .prop_map(|(ms, counter, mut id, keep)| {
            // Short ids (trailing zeros) as separators have.
            id[keep..].fill(0);
            OrderKey {
                stamp: Stamp::new(ms, counter),
                id: MsgId::from_bytes(id),
            }
        })
}

/// A valid message: sorted distinct points are either bounds or listed keys.
fn message() -> impl Strategy<Value = Message> {
    (
        proptest::collection::btree_set(order_key(), 0..60),
        proptest::collection::vec((0u8..8, any::<[u8; 16]>(), any::<u16>()), 60),
        any::<bool>(),
    )
        .prop_filter_map("invalid", |(points, roles, infinity)| {
            let mut ranges = Vec::new();
            let mut listed = Vec::new();
            let mut prev_skip = false;
            let mut make =
                |upper, listed: &mut Vec<OrderKey>, (role, fp, bits): (u8, [u8; 16], u16)| {
                    let keys = std::mem::take(listed);
                    let mode = match role % 4 {
                        0 if !prev_skip => Mode::Skip,
                        0 | 1 => Mode::Fingerprint(Fingerprint::from_bytes(fp)),
                        2 => Mode::IdList(keys),
                        _ => Mode::Diff {
                            lacking: (0..bits % 20).map(|i| bits >> (i % 16) & 1 == 1).collect(),
                            extra: keys,
                        },
                    };
                    prev_skip = mode == Mode::Skip;
                    Range { upper, mode }
                };
            for (point, role) in points.into_iter().zip(roles.iter().copied()) {
                if role.0 >= 4 {
                    listed.push(point);
                } else {
                    ranges.push(make(Bound::Key(point), &mut listed, role));
                }
            }
            if infinity || !listed.is_empty() {
                ranges.push(make(Bound::Infinity, &mut listed, (1, [7; 16], 3)));
            }
            if ranges.last().is_some_and(|r| r.mode == Mode::Skip) {
                ranges.pop();
            }
            Message::new(ranges).ok()
        })
}

/// Canonical: whatever decodes re-encodes to the very same bytes.
fn decodes_cleanly(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(msg) = Message::decode(bytes) {
        prop_assert_eq!(msg.encode(), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(WIRE_CASES))]

    #[test]
    fn wire_round_trip(msg in message()) {
        let bytes = msg.encode();
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        prop_assert_eq!(Message::decode(&bytes).unwrap(), msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decodes_cleanly(&bytes)?;
        // With the right version byte most inputs get past the header.
        if let Some(first) = bytes.first_mut() {
            *first = 1;
        }
        decodes_cleanly(&bytes)?;
    }

    #[test]
    fn mangled_messages_never_panic(
        msg in message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = msg.encode();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        decodes_cleanly(&bytes)?;
        decodes_cleanly(&bytes[..cut.index(bytes.len() + 1)])?;
    }

    #[test]
    fn responder_answers_any_message_within_limits(msg in message(), seed in any::<u64>()) {
        let set: BTreeSet<OrderKey> = universe(300, &mut Rng(seed)).into_iter().collect();
        match reconcile::respond(&set, &msg, &Config::default()) {
            Ok(reply) => prop_assert!(reply.encoded_len() <= MAX_MESSAGE_BYTES),
            Err(e) => prop_assert!(matches!(e, Error::UnexpectedMode { .. }), "{e}"),
        }
    }
}

// ---------------------------------------------------------------- hostile messages

fn key(ms: u64) -> OrderKey {
    OrderKey {
        stamp: Stamp::new(ms, 0),
        id: MsgId::from_bytes([0; 32]),
    }
}

#[test]
fn hostile_messages_are_refused() {
    let fp = Mode::Fingerprint(Fingerprint::from_bytes([0; 16]));
    let range = |upper, mode| Range { upper, mode };

    // Unsorted bounds, as values and as bytes (a bound whose id prefix goes backwards).
    let unsorted = vec![
        range(Bound::Key(key(5)), fp.clone()),
        range(Bound::Key(key(3)), fp.clone()),
    ];
    assert_eq!(Message::new(unsorted), Err(Error::Unordered { index: 1 }));
    let mut id = [0u8; 32];
    id[0] = 9;
    let first = OrderKey {
        stamp: Stamp::new(5, 0),
        id: MsgId::from_bytes(id),
    };
    let mut bytes = Message::new(vec![range(Bound::Key(first), fp.clone())])
        .unwrap()
        .encode();
    // Second range: same clock and time, prefix [8] < [9].
    bytes.extend_from_slice(&[1, 0, 0, 1, 8]);
    bytes.extend_from_slice(&[0; 16]);
    assert_eq!(Message::decode(&bytes), Err(Error::Unordered { index: 1 }));

    // Keys outside their range.
    let outside = vec![range(Bound::Key(key(5)), Mode::IdList(vec![key(7)]))];
    assert_eq!(Message::new(outside), Err(Error::BadList { index: 0 }));

    // A list claiming far more keys than the input holds is refused before allocating.
    let huge = [
        1, 0b110, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ];
    assert!(matches!(Message::decode(&huge), Err(Error::Length { .. })));

    // A list too long for one message, as a value and as bytes.
    let many: Vec<OrderKey> = (1..3000).map(key).collect();
    let too_big = vec![range(Bound::Infinity, Mode::IdList(many))];
    assert!(matches!(Message::new(too_big), Err(Error::TooLarge { .. })));
    assert!(matches!(
        Message::decode(&vec![1; MAX_MESSAGE_BYTES + 1]),
        Err(Error::TooLarge { .. })
    ));

    // Too many ranges, in under the byte limit: alternating skips and empty lists.
    let ranges: Vec<Range> = (1..=MAX_RANGES as u64 + 1)
        .map(|l| {
            range(
                Bound::Key(key(l)),
                if l % 2 == 1 {
                    Mode::Skip
                } else {
                    Mode::IdList(Vec::new())
                },
            )
        })
        .collect();
    assert_eq!(
        Message::new(ranges.clone()),
        Err(Error::TooManyRanges { max: MAX_RANGES })
    );
    let mut bytes = vec![1u8];
    for (i, _) in ranges.iter().enumerate() {
        // Head, ms +1, counter 0, empty prefix; lists add a zero count.
        bytes.extend_from_slice(if i % 2 == 0 {
            &[0, 1, 0, 0][..]
        } else {
            &[2, 1, 0, 0, 0][..]
        });
    }
    assert!(bytes.len() <= MAX_MESSAGE_BYTES);
    assert_eq!(
        Message::decode(&bytes),
        Err(Error::TooManyRanges { max: MAX_RANGES })
    );
}
