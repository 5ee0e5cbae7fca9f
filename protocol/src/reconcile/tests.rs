//! Unit tests of the two roles together.

use super::*;
use crate::id::MsgId;
use crate::order::Stamp;

/// Key `i` of a synthetic history: two messages per stamp ms, counters a thousand apart.
fn key(i: u64) -> OrderKey {
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    OrderKey {
        stamp: Stamp::new(i / 2, 1_700_000_000_000 + i * 1000),
        id: MsgId::from_bytes(id),
    }
}

struct Outcome {
    have: BTreeSet<OrderKey>,
    need: BTreeSet<OrderKey>,
    rounds: u32,
    bytes: usize,
}

/// Runs a whole reconciliation between `a` (initiator) and `b` through the wire form.
fn run(a: &BTreeSet<OrderKey>, b: &BTreeSet<OrderKey>, lower: Option<OrderKey>) -> Outcome {
    let config = Config::default();
    let (mut init, mut msg) = Initiator::new(a, lower, config.clone()).unwrap();
    let mut bytes = 0;
    loop {
        let wire = msg.encode();
        bytes += wire.len();
        let reply = respond(b, &Message::decode(&wire).unwrap(), &config).unwrap();
        let wire = reply.encode();
        bytes += wire.len();
        match init.reconcile(a, &Message::decode(&wire).unwrap()).unwrap() {
            Some(next) => msg = next,
            None => break,
        }
    }
    Outcome {
        have: init.have().clone(),
        need: init.need().clone(),
        rounds: init.rounds(),
        bytes,
    }
}

fn keys(range: std::ops::Range<u64>) -> BTreeSet<OrderKey> {
    range.map(key).collect()
}

#[test]
fn identical_sets_settle_in_one_round() {
    let a = keys(0..10_000);
    let out = run(&a, &a, None);
    assert!(out.have.is_empty() && out.need.is_empty());
    assert_eq!(out.rounds, 1);
}

#[test]
fn one_difference_each_way() {
    let a = keys(0..10_000);
    let mut b = a.clone();
    b.remove(&key(1234));
    b.insert(key(20_000));
    let out = run(&a, &b, None);
    assert_eq!(out.have, BTreeSet::from([key(1234)]));
    assert_eq!(out.need, BTreeSet::from([key(20_000)]));
    assert!(out.rounds <= 3, "{} rounds", out.rounds);
    assert!(out.bytes <= 4096, "{} bytes", out.bytes);
}

#[test]
fn empty_sides() {
    let a = keys(0..5000);
    let empty = BTreeSet::new();
    let out = run(&a, &empty, None);
    assert_eq!((out.have.len(), out.need.len()), (5000, 0));
    let out = run(&empty, &a, None);
    assert_eq!((out.have.len(), out.need.len()), (0, 5000));
    let out = run(&empty, &empty, None);
    assert_eq!((out.have.len(), out.need.len(), out.rounds), (0, 0, 1));
}

#[test]
fn keys_below_the_lower_bound_are_never_reported() {
    // Both sides miss keys on either side of the bound.
    let a: BTreeSet<OrderKey> = (0..3000).filter(|i| i % 7 != 0).map(key).collect();
    let b: BTreeSet<OrderKey> = (0..3000).filter(|i| i % 5 != 0).map(key).collect();
    let bound = key(1500);
    let out = run(&a, &b, Some(bound));
    let want_have: BTreeSet<_> = a.difference(&b).filter(|k| **k >= bound).copied().collect();
    let want_need: BTreeSet<_> = b.difference(&a).filter(|k| **k >= bound).copied().collect();
    assert!(!want_have.is_empty() && !want_need.is_empty());
    assert_eq!(out.have, want_have);
    assert_eq!(out.need, want_need);
    // A bound between keys (not a key of either set) works too.
    let between = separator(&key(1499), &key(1500));
    let out = run(&a, &b, Some(between));
    assert_eq!(out.have, want_have);
    assert_eq!(out.need, want_need);
}

use super::set::separator;

#[test]
fn hostile_replies_are_refused() {
    let a = keys(0..100);
    let config = Config::default();
    let fp = Mode::Fingerprint(Fingerprint::from_bytes([0; 16]));

    // A reply that reaches below the lower bound.
    let (mut init, _) = Initiator::new(&a, Some(key(50)), config.clone()).unwrap();
    let below = Message::new(vec![Range {
        upper: Bound::Infinity,
        mode: fp.clone(),
    }])
    .unwrap();
    assert_eq!(
        init.reconcile(&a, &below),
        Err(Error::BelowLowerBound { index: 0 })
    );

    // A diff that answers no list, and one with the wrong number of flags.
    let (mut init, first) = Initiator::new(&keys(0..10), None, config.clone()).unwrap();
    assert!(matches!(first.ranges()[0].mode, Mode::IdList(_)));
    let diff = |lacking: Vec<bool>, upper| {
        Message::new(vec![Range {
            upper,
            mode: Mode::Diff {
                lacking,
                extra: Vec::new(),
            },
        }])
        .unwrap()
    };
    assert_eq!(
        init.clone()
            .reconcile(&keys(0..10), &diff(vec![true; 3], Bound::Infinity)),
        Err(Error::DiffLength {
            index: 0,
            expected: 10,
            got: 3
        })
    );
    let part = diff(vec![true; 3], Bound::Key(key(3)));
    assert_eq!(init.reconcile(&keys(0..10), &part), Ok(None));
    assert_eq!(init.have(), &keys(0..3));
    assert_eq!(
        init.reconcile(&keys(0..10), &part),
        Err(Error::UnexpectedMode {
            index: 0,
            mode: "diff"
        })
    );

    // The responder takes no diffs.
    assert_eq!(
        respond(&a, &diff(Vec::new(), Bound::Infinity), &config),
        Err(Error::UnexpectedMode {
            index: 0,
            mode: "diff"
        })
    );
}

#[test]
fn rounds_are_bounded() {
    let a = keys(0..100);
    let b = keys(50..150);
    let config = Config {
        max_rounds: 1,
        ..Config::default()
    };
    let (mut init, msg) = Initiator::new(&a, None, config.clone()).unwrap();
    // A responder that never agrees: it echoes the whole space as unsettled.
    let stubborn = Message::new(vec![Range {
        upper: Bound::Infinity,
        mode: Mode::Fingerprint(Fingerprint::from_bytes([1; 16])),
    }])
    .unwrap();
    let _ = respond(&b, &msg, &config).unwrap();
    assert!(init.reconcile(&a, &stubborn).unwrap().is_some());
    assert_eq!(
        init.reconcile(&a, &stubborn),
        Err(Error::TooManyRounds { max: 1 })
    );
}

#[test]
fn config_is_validated() {
    let bad = [
        Config {
            branching: 1,
            ..Config::default()
        },
        Config {
            id_list_threshold: 4,
            ..Config::default()
        },
        Config {
            max_message_bytes: 100,
            ..Config::default()
        },
        Config {
            max_message_bytes: MAX_MESSAGE_BYTES + 1,
            ..Config::default()
        },
        Config {
            max_rounds: 0,
            ..Config::default()
        },
    ];
    for config in bad {
        assert!(matches!(config.validate(), Err(Error::Config(_))));
        let set: &[OrderKey] = &[];
        assert!(Initiator::new(set, None, config).is_err());
    }
    assert_eq!(Config::default().validate(), Ok(()));
}

#[test]
fn small_messages_still_finish() {
    let config = Config {
        branching: 2,
        id_list_threshold: 2,
        max_message_bytes: MIN_MESSAGE_BYTES,
        max_rounds: MAX_ROUNDS,
    };
    let a: BTreeSet<OrderKey> = (0..2000).filter(|i| i % 3 != 0).map(key).collect();
    let b: BTreeSet<OrderKey> = (0..2000).filter(|i| i % 4 != 0).map(key).collect();
    let (mut init, mut msg) = Initiator::new(&a, None, config.clone()).unwrap();
    loop {
        assert!(msg.encoded_len() <= MIN_MESSAGE_BYTES);
        let reply = respond(&b, &msg, &config).unwrap();
        assert!(reply.encoded_len() <= MIN_MESSAGE_BYTES);
        match init.reconcile(&a, &reply).unwrap() {
            Some(next) => msg = next,
            None => break,
        }
    }
    let want_have: BTreeSet<_> = a.difference(&b).copied().collect();
    let want_need: BTreeSet<_> = b.difference(&a).copied().collect();
    assert_eq!(init.have(), &want_have);
    assert_eq!(init.need(), &want_need);
}
