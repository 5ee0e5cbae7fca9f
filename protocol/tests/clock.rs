//! Properties of the hybrid logical clock (`order::Clock`), without a runtime: whatever
//! stamps arrive and however the wall clock moves, the stamps a clock hands out only grow,
//! sort after everything it accepted, and stay within the skew bound.

use proptest::prelude::*;
use qun_protocol::order::{self, Clock, MAX_COUNTER, MAX_SKEW_MS, Stamp};

const NOW: u64 = 1_800_000_000_000;

/// One step: the wall clock moves by `dt` ms (perhaps backwards), then the clock either
/// stamps a post or observes a received stamp.
#[derive(Debug, Clone)]
enum Step {
    Stamp { dt: i64 },
    Observe { dt: i64, stamp: Stamp },
}

fn stamp() -> impl Strategy<Value = Stamp> {
    let ms = prop_oneof![
        NOW - 10_000..NOW + 2 * MAX_SKEW_MS,
        0..order::LEGACY_BEFORE_MS,
        any::<u64>(),
    ];
    let counter = prop_oneof![0..4u64, MAX_COUNTER - 2..=MAX_COUNTER, any::<u64>()];
    (ms, counter).prop_map(|(ms, counter)| Stamp::new(ms, counter))
}

fn step() -> impl Strategy<Value = Step> {
    let dt = -2_000i64..5_000;
    prop_oneof![
        dt.clone().prop_map(|dt| Step::Stamp { dt }),
        (dt, stamp()).prop_map(|(dt, stamp)| Step::Observe { dt, stamp }),
    ]
}

proptest! {
    #[test]
    fn stamps_grow_and_stay_bounded(steps in proptest::collection::vec(step(), 1..200)) {
        let mut clock = Clock::new();
        let mut now = NOW;
        let mut highest_now = now;
        let mut last_out: Option<Stamp> = None;
        for step in steps {
            let dt = match step {
                Step::Stamp { dt } | Step::Observe { dt, .. } => dt,
            };
            now = now.saturating_add_signed(dt);
            highest_now = highest_now.max(now);
            match step {
                Step::Stamp { .. } => {
                    let before = clock.last();
                    let s = clock.stamp(now);
                    prop_assert!(s > before, "{s} not after {before}");
                    prop_assert!(s.ms >= now, "{s} before now {now}");
                    prop_assert!(last_out.is_none_or(|l| s > l));
                    last_out = Some(s);
                }
                Step::Observe { stamp, .. } => {
                    let before = clock.last();
                    match clock.observe(stamp, now) {
                        Ok(()) => {
                            prop_assert!(stamp.ms <= now + MAX_SKEW_MS);
                            // The next stamp sorts after what was accepted.
                            let mut probe = clock;
                            prop_assert!(probe.stamp(now) > stamp);
                        }
                        Err(order::Error::StampTooFarAhead { stamp: s, now: n }) => {
                            prop_assert_eq!((s, n), (stamp, now));
                            prop_assert!(stamp.ms > now + MAX_SKEW_MS);
                            prop_assert_eq!(clock.last(), before, "a refused stamp moved the clock");
                        }
                    }
                }
            }
            let last = clock.last();
            prop_assert!(last.counter <= MAX_COUNTER);
            // At most one millisecond past the bound, when a counter ran out right there.
            prop_assert!(last.ms <= highest_now + MAX_SKEW_MS + 1, "{last} past the skew");
        }
    }
}
