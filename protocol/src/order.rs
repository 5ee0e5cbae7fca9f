//! The total order of a group's messages: hybrid logical clock stamps.
//!
//! Every message carries a [`Stamp`]: its author's physical clock in milliseconds since the
//! Unix epoch and a logical counter, as in the hybrid logical clock of Kulkarni et al. that
//! CockroachDB uses. A node stamps a message with `max(now, highest stamp seen + 1)`
//! ([`Clock::stamp`]), so a message sorts after every message its author had seen (causal
//! order, like a Lamport clock) and, when clocks agree, at the time it was written: a
//! newcomer's first post lands at "now", not after the few messages it has seen.
//!
//! The display and state order is `(stamp.ms, stamp.counter, MsgId)`; the hash breaks every
//! remaining tie, so every node orders a group identically. The big-endian byte form
//! ([`OrderKey::to_bytes`]) sorts the same way, which is how the store keys its trees.
//!
//! ## Bounded skew
//! A clock that only ever moves forward can be pushed to the end of its range by one
//! message. So a receiver refuses (for now) a stamp more than [`MAX_SKEW_MS`] ahead of its
//! own clock ([`check`], [`Error::StampTooFarAhead`]): it is not stored, not forwarded, and
//! moves no clock; a later sync brings it once the receiver's clock has caught up. Every
//! clock thus stays within `now + MAX_SKEW_MS`, and the counter within [`MAX_COUNTER`]
//! (past it, the clock moves to the next millisecond), so no value overflows.
//!
//! ## Messages from before hybrid clocks
//! Older versions wrote `(lamport, timestamp_ms)` where the stamp now is `(ms, counter)`;
//! the encoding is the same two integers. Such a stamp reads as a [`Stamp::is_legacy`] one
//! (`ms` below [`LEGACY_BEFORE_MS`], since a Lamport clock is a small number): it keeps its
//! relative order and sorts before every stamp written by a hybrid clock, and
//! [`Stamp::wall_ms`] gives back its author's time from the counter.

use serde::{Deserialize, Serialize};

use crate::id::MsgId;

/// How far ahead of the receiver's clock a stamp may be, in ms (5 minutes): NTP-synced
/// clocks are within a second of each other, phones without network time within minutes.
pub const MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// Highest logical counter a clock produces or accepts on a hybrid stamp: a node would need
/// four billion messages in one millisecond to reach it. Past it the clock moves to the next
/// millisecond.
pub const MAX_COUNTER: u64 = u32::MAX as u64;

/// Stamps with `ms` below this (2020-01-01T00:00:00Z, in ms since the Unix epoch) were
/// written by the Lamport clock of older versions: `ms` is the Lamport clock and `counter`
/// the author's wall clock.
pub const LEGACY_BEFORE_MS: u64 = 1_577_836_800_000;

/// A hybrid logical clock reading: where a message sits in time.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Stamp {
    /// Physical part: milliseconds since the Unix epoch.
    pub ms: u64,
    /// Logical part: orders stamps within one millisecond (0..=[`MAX_COUNTER`]).
    pub counter: u64,
}

impl Stamp {
    /// The lowest stamp.
    pub const ZERO: Stamp = Stamp { ms: 0, counter: 0 };

    /// A stamp.
    pub const fn new(ms: u64, counter: u64) -> Self {
        Self { ms, counter }
    }

    /// The smallest stamp a clock produces after `self`: the next counter, or the next
    /// millisecond once the counter is at [`MAX_COUNTER`] (or over it, on a legacy stamp).
    pub fn successor(self) -> Stamp {
        if self.counter >= MAX_COUNTER {
            Stamp::new(self.ms.saturating_add(1), 0)
        } else {
            Stamp::new(self.ms, self.counter + 1)
        }
    }

    /// Whether this stamp was written by the Lamport clock of an older version.
    pub fn is_legacy(&self) -> bool {
        self.ms < LEGACY_BEFORE_MS
    }

    /// The author's wall clock, in ms since the Unix epoch: `ms`, or for a legacy stamp the
    /// time it carried in `counter`.
    pub fn wall_ms(&self) -> u64 {
        if self.is_legacy() {
            self.counter
        } else {
            self.ms
        }
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.ms, self.counter)
    }
}

/// Why a stamp is not acceptable now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The stamp is more than [`MAX_SKEW_MS`] ahead of the receiver's clock.
    #[error("stamp {stamp} is more than {MAX_SKEW_MS} ms ahead of now ({now} ms)")]
    StampTooFarAhead {
        /// The stamp.
        stamp: Stamp,
        /// The receiver's clock, ms since the Unix epoch.
        now: u64,
    },
}

/// Refuses a stamp more than [`MAX_SKEW_MS`] ahead of `now_ms`.
pub fn check(stamp: Stamp, now_ms: u64) -> Result<(), Error> {
    if stamp.ms > now_ms.saturating_add(MAX_SKEW_MS) {
        return Err(Error::StampTooFarAhead { stamp, now: now_ms });
    }
    Ok(())
}

/// A hybrid logical clock, sans IO: the caller passes its wall clock (`now_ms`) in.
///
/// Invariants: [`Clock::last`] never exceeds the highest `now_ms + MAX_SKEW_MS` it was given
/// (plus one millisecond when the counter runs out there), its counter never exceeds
/// [`MAX_COUNTER`], and every stamp it returns is greater than every stamp before it and
/// every stamp it observed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clock {
    last: Stamp,
}

impl Clock {
    /// A clock that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest stamp produced or observed.
    pub fn last(&self) -> Stamp {
        self.last
    }

    /// A stamp for a new message: `max(now, last + 1)`.
    pub fn stamp(&mut self, now_ms: u64) -> Stamp {
        let next = if now_ms > self.last.ms {
            Stamp::new(now_ms, 0)
        } else {
            self.last.successor()
        };
        self.last = next;
        next
    }

    /// Takes a received stamp into account, so later stamps sort after it; refuses (and
    /// ignores) one more than [`MAX_SKEW_MS`] ahead of `now_ms`. A counter over
    /// [`MAX_COUNTER`] (a legacy stamp) counts as [`MAX_COUNTER`].
    pub fn observe(&mut self, stamp: Stamp, now_ms: u64) -> Result<(), Error> {
        check(stamp, now_ms)?;
        let bounded = Stamp::new(stamp.ms, stamp.counter.min(MAX_COUNTER));
        self.last = self.last.max(bounded);
        Ok(())
    }
}

/// Where a message sits in its group's total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    /// Its hybrid clock stamp.
    pub stamp: Stamp,
    /// Message id (tie breaker).
    pub id: MsgId,
}

impl OrderKey {
    /// Length of [`OrderKey::to_bytes`].
    pub const LEN: usize = 48;

    /// The lowest key.
    pub const MIN: OrderKey = OrderKey {
        stamp: Stamp::ZERO,
        id: MsgId::from_bytes([0; 32]),
    };

    /// The lowest key with `stamp`.
    pub const fn at(stamp: Stamp) -> Self {
        Self {
            stamp,
            id: MsgId::from_bytes([0; 32]),
        }
    }

    /// Big-endian bytes whose lexicographic order is the key order.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.stamp.ms.to_be_bytes());
        out[8..16].copy_from_slice(&self.stamp.counter.to_be_bytes());
        out[16..].copy_from_slice(self.id.as_bytes());
        out
    }

    /// Parses [`OrderKey::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let ms = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        let counter = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
        let id: [u8; 32] = bytes[16..].try_into().ok()?;
        Some(Self {
            stamp: Stamp::new(ms, counter),
            id: MsgId::from_bytes(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    #[test]
    fn byte_order_matches_key_order() {
        let key = |ms, counter, id| OrderKey {
            stamp: Stamp::new(ms, counter),
            id: MsgId::from_bytes([id; 32]),
        };
        let (a, b, c) = (key(1, 500, 9), key(2, 1, 0), key(2, 1, 1));
        assert!(a < b && b < c);
        assert!(a.to_bytes() < b.to_bytes() && b.to_bytes() < c.to_bytes());
        assert_eq!(OrderKey::from_bytes(&c.to_bytes()), Some(c));
        assert_eq!(OrderKey::from_bytes(&[0; 47]), None);
    }

    #[test]
    fn stamps_at_now_or_after_the_last() {
        let mut clock = Clock::new();
        assert_eq!(clock.stamp(NOW), Stamp::new(NOW, 0));
        assert_eq!(clock.stamp(NOW), Stamp::new(NOW, 1));
        // The wall clock stepped back: the clock does not.
        assert_eq!(clock.stamp(NOW - 10), Stamp::new(NOW, 2));
        assert_eq!(clock.stamp(NOW + 7), Stamp::new(NOW + 7, 0));
    }

    #[test]
    fn observed_stamps_sort_before_the_next() {
        let mut clock = Clock::new();
        let theirs = Stamp::new(NOW + 1000, 3);
        assert_eq!(clock.observe(theirs, NOW), Ok(()));
        assert_eq!(clock.stamp(NOW), Stamp::new(NOW + 1000, 4));
        // A stamp behind ours changes nothing.
        assert_eq!(clock.observe(Stamp::new(NOW - 5, 0), NOW), Ok(()));
        assert_eq!(clock.last(), Stamp::new(NOW + 1000, 4));
    }

    #[test]
    fn refuses_stamps_past_the_skew() {
        let mut clock = Clock::new();
        let edge = Stamp::new(NOW + MAX_SKEW_MS, MAX_COUNTER);
        for stamp in [
            Stamp::new(NOW + MAX_SKEW_MS + 1, 0),
            Stamp::new(1 << 48, 0),
            Stamp::new(u64::MAX, u64::MAX),
        ] {
            assert_eq!(
                clock.observe(stamp, NOW),
                Err(Error::StampTooFarAhead { stamp, now: NOW })
            );
            assert_eq!(clock.last(), Stamp::ZERO, "a refused stamp moves nothing");
        }
        assert_eq!(clock.observe(edge, NOW), Ok(()));
        // The counter is spent: the next stamp is the next millisecond.
        assert_eq!(clock.stamp(NOW), Stamp::new(NOW + MAX_SKEW_MS + 1, 0));
    }

    #[test]
    fn huge_counters_do_not_overflow() {
        let mut clock = Clock::new();
        assert_eq!(clock.observe(Stamp::new(NOW, u64::MAX), NOW), Ok(()));
        assert_eq!(clock.last(), Stamp::new(NOW, MAX_COUNTER));
        assert_eq!(clock.stamp(NOW), Stamp::new(NOW + 1, 0));
        assert_eq!(Stamp::new(u64::MAX, u64::MAX).successor().ms, u64::MAX);
    }

    #[test]
    fn legacy_stamps_sort_first_and_keep_their_time() {
        let old = Stamp::new(300, 1_700_000_000_000);
        assert!(old.is_legacy());
        assert_eq!(old.wall_ms(), 1_700_000_000_000);
        let mut clock = Clock::new();
        assert_eq!(clock.observe(old, NOW), Ok(()));
        let new = clock.stamp(NOW);
        assert!(!new.is_legacy() && new > old);
        assert_eq!(new.wall_ms(), NOW);
    }
}
