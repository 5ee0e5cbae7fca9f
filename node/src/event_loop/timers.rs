//! One timer queue for the event loop's deadlines.
//!
//! Every room that waits for a time (the next announcement round, a search's or a stats
//! job's deadline, an admission's timeout, a retry of a refused sync, of a keyword
//! announcement or of a card lookup, a join by short code waiting for a DHT peer, the
//! join request round) schedules a [`Timer`] at its instant; the loop sleeps until the
//! earliest one ([`Timers::next`]) and hands out those that are due ([`Timers::due`]).
//! Replaces a 250 ms polling tick that woke the loop four times a second for nothing.
//!
//! A timer is a wake-up, not a promise: its handler looks at its room's state and does
//! what is due then (a search that ended meanwhile is simply not found), so a timer that
//! fires early or twice is harmless, and nothing needs to be cancelled. Equal timers at the
//! same instant are kept once.
//!
//! The loop waits on one [`Alarm`], moved to the queue's earliest deadline only when that
//! changes: a fresh tokio `Sleep` on every turn of the loop would be put into tokio's timer
//! wheel and taken out again each time, and could wake the runtime's driver thread for a
//! deadline it already knew (measured: most of the eventfd wake-ups the loop caused).

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};
use std::pin::Pin;
use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// The announcement round (cards, keywords, profile, short invites).
    Announce,
    /// The round of pending join requests (sent again every `join_retry_interval`).
    JoinRequests,
    /// Keyword announcements and card lookups to retry.
    Provides,
    /// A search's deadline (`search_timeout`).
    Searches,
    /// A stats job's deadline (`search_timeout`).
    Stats,
    /// A join by invite's deadline (`admission::ADMIT_TIMEOUT`).
    Admissions,
    /// Refused syncs of a group just joined, to ask again.
    SyncRetry,
    /// Joins by short code waiting for a first DHT peer.
    ShortJoins,
    /// A backup admin's re-key of a group still due one (`rekey::REKEY_BACKUP_DELAY`).
    Rekey,
}

/// Most timers queued at once: a safety net (each wake-up comes from a bounded room, and a
/// (instant, kind) pair is kept once). Past it a new timer is dropped; its room is still
/// looked at by the next timer of its kind (each kind's handler does all that is due).
pub(crate) const MAX_TIMERS: usize = 65_536;

/// Deadlines, earliest first.
#[derive(Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// What `heap` holds, to keep each (instant, timer) once.
    queued: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Wakes the loop for `timer` at `at`.
    pub fn at(&mut self, at: Instant, timer: Timer) {
        if self.queued.len() >= MAX_TIMERS || !self.queued.insert((at, timer)) {
            return;
        }
        self.heap.push(Reverse((at, timer)));
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the timers due at `now`, earliest first.
    pub fn due(&mut self, now: Instant) -> Vec<Timer> {
        let mut out = Vec::new();
        while let Some(Reverse((at, t))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            self.queued.remove(&(at, t));
            out.push(t);
        }
        out
    }
}

/// The loop's wake-up for the timer queue: one tokio `Sleep`, reset when the deadline
/// changes.
pub(crate) struct Alarm {
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The deadline `sleep` is set to; `None`: it never rings.
    at: Option<Instant>,
}

impl Alarm {
    /// An alarm set to nothing. Needs a tokio runtime with time enabled.
    pub fn new() -> Self {
        Alarm {
            sleep: Box::pin(tokio::time::sleep_until(tokio::time::Instant::now())),
            at: None,
        }
    }

    /// Sets the alarm to `at` (`None`: never). A deadline already passed rings at once.
    pub fn set(&mut self, at: Option<Instant>) {
        if at == self.at {
            return;
        }
        if let Some(at) = at {
            self.sleep.as_mut().reset(at.into());
        }
        self.at = at;
    }

    /// Waits until the deadline set (at once if it passed, for ever if there is none).
    /// Cancel-safe: dropping the wait leaves the alarm set.
    pub async fn rung(&mut self) {
        if self.at.is_none() {
            return std::future::pending().await;
        }
        self.sleep.as_mut().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_in_order_once_each() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.at(now + Duration::from_secs(2), Timer::Announce);
        t.at(now + Duration::from_secs(1), Timer::Searches);
        t.at(now + Duration::from_secs(1), Timer::Searches);
        t.at(now + Duration::from_secs(9), Timer::SyncRetry);
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        assert!(t.due(now).is_empty());
        assert_eq!(
            t.due(now + Duration::from_secs(2)),
            vec![Timer::Searches, Timer::Announce]
        );
        assert_eq!(t.next(), Some(now + Duration::from_secs(9)));
    }

    #[tokio::test]
    async fn alarm_rings_at_its_deadline_and_again_once_moved() {
        let ms = Duration::from_millis;
        let mut alarm = Alarm::new();
        // Unset: never rings.
        assert!(tokio::time::timeout(ms(30), alarm.rung()).await.is_err());
        let start = Instant::now();
        alarm.set(Some(start + ms(40)));
        alarm.rung().await;
        assert!(Instant::now() >= start + ms(40));
        // Rung and not moved: rings again at once, as does a deadline already passed.
        tokio::time::timeout(ms(1000), alarm.rung()).await.unwrap();
        alarm.set(Some(Instant::now() - ms(5)));
        tokio::time::timeout(ms(1000), alarm.rung()).await.unwrap();
        // Moved later: waits again.
        let before = Instant::now();
        alarm.set(Some(before + ms(40)));
        alarm.rung().await;
        assert!(Instant::now() >= before + ms(40));
        // Unset again: never rings.
        alarm.set(None);
        assert!(tokio::time::timeout(ms(30), alarm.rung()).await.is_err());
    }
}
