//! How far our clock is off our peers' clocks, estimated from the stamps of live messages.
//!
//! A message gossiped to us was stamped by its author shortly before it arrived, so
//! `stamp.ms - our now` is a lower bound of (the author's clock − ours), short by the
//! delivery time (milliseconds to seconds). A message that waited in an outbox gives a
//! much lower sample, so each author counts with the *highest* sample it gave in the last
//! [`SAMPLE_TTL`], and the estimate is the median over authors: one author with a wrong
//! (or hostile) clock does not move it. Pure: the caller passes the times in.
//!
//! The estimate gives "group time" for the `online`/`active` windows of group stats, and
//! the daemon warns when it is over [`WARN_OFFSET_MS`]. (Since-join bounds settle in the
//! group's order instead, see `event_loop::catchup`.) Stamps are still made from our own clock (as in any hybrid logical
//! clock); receivers refuse those more than `order::MAX_SKEW_MS` ahead.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use qun_protocol::AuthorId;

/// Authors whose samples are kept; the oldest sample goes first past this.
pub const MAX_AUTHORS: usize = 256;
/// How long an author's sample counts.
pub const SAMPLE_TTL: Duration = Duration::from_secs(600);
/// The daemon warns when its clock is off its peers' by more than this (1 minute), in ms.
pub const WARN_OFFSET_MS: i64 = 60_000;

/// The running estimate.
#[derive(Debug, Default)]
pub struct Estimate {
    /// Per author: its highest sample (ms, their clock − ours) and when it was taken.
    samples: HashMap<AuthorId, (i64, Instant)>,
}

impl Estimate {
    /// Records a live message by `author` stamped `stamp_ms`, received when our clock read
    /// `now_ms`.
    pub fn sample(&mut self, author: AuthorId, stamp_ms: u64, now_ms: u64, at: Instant) {
        let offset = (i128::from(stamp_ms) - i128::from(now_ms))
            .clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        let entry = self.samples.entry(author).or_insert((offset, at));
        if offset >= entry.0 || at.duration_since(entry.1) > SAMPLE_TTL {
            *entry = (offset, at);
        }
        if self.samples.len() > MAX_AUTHORS {
            let oldest = self
                .samples
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(a, _)| *a);
            if let Some(a) = oldest {
                self.samples.remove(&a);
            }
        }
    }

    /// Our peers' clocks minus ours, in ms (median over authors of recent samples); `None`
    /// with no recent sample.
    pub fn offset_ms(&self, at: Instant) -> Option<i64> {
        let mut v: Vec<i64> = self
            .samples
            .values()
            .filter(|(_, t)| at.saturating_duration_since(*t) <= SAMPLE_TTL)
            .map(|(o, _)| *o)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some(v[v.len() / 2])
    }

    /// Group time: our clock corrected by the estimate.
    pub fn group_now_ms(&self, now_ms: u64, at: Instant) -> u64 {
        now_ms.saturating_add_signed(self.offset_ms(at).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn author(n: u8) -> AuthorId {
        qun_protocol::Identity::from_seed([n; 32]).author()
    }

    #[test]
    fn median_of_each_authors_best_sample() {
        let t = Instant::now();
        let mut e = Estimate::default();
        assert_eq!(e.offset_ms(t), None);
        assert_eq!(e.group_now_ms(NOW, t), NOW);
        // Our clock is an hour fast: live messages look an hour old.
        let hour = 3_600_000;
        e.sample(author(1), NOW - hour - 65_000, NOW, t); // from an outbox
        e.sample(author(1), NOW - hour - 20, NOW, t); // live
        e.sample(author(2), NOW - hour - 5, NOW, t);
        e.sample(author(3), u64::MAX, NOW, t); // hostile
        assert_eq!(e.offset_ms(t), Some(-(hour as i64) - 5));
        assert_eq!(e.group_now_ms(NOW, t), NOW - hour - 5);
        // Old samples stop counting.
        let later = t + SAMPLE_TTL + Duration::from_secs(1);
        assert_eq!(e.offset_ms(later), None);
    }

    #[test]
    fn authors_are_bounded() {
        let t = Instant::now();
        let mut e = Estimate::default();
        for i in 0..=MAX_AUTHORS as u32 {
            let id = qun_protocol::Identity::from_seed({
                let mut s = [0u8; 32];
                s[..4].copy_from_slice(&i.to_le_bytes());
                s
            });
            e.sample(
                id.author(),
                NOW,
                NOW,
                t + Duration::from_millis(u64::from(i)),
            );
        }
        assert_eq!(e.samples.len(), MAX_AUTHORS);
    }
}
