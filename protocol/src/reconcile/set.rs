//! The key space and the local set: bounds, spans and the [`ItemSet`] trait.
//!
//! Ranges of the key space are half-open, `lower <= key < upper`. Lower ends are keys; upper
//! ends are [`Bound`]s, which can also be the end of the key space. Bounds that go on the
//! wire are chosen as the shortest key that separates two neighbouring keys
//! ([`separator`]), so they encode in a few bytes.

use std::collections::BTreeSet;
use std::ops::Bound as Edge;

use super::fingerprint::{Accumulator, Fingerprint};
use crate::id::MsgId;
use crate::order::{OrderKey, Stamp};

/// The smallest order key: where the key space starts.
pub const MIN_KEY: OrderKey = OrderKey::MIN;

/// The exclusive upper end of a range of the key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Bound {
    /// Every key below this one.
    Key(OrderKey),
    /// The end of the key space (above every key).
    Infinity,
}

/// A half-open range of the key space: `lower <= key < upper`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Span {
    /// Smallest key in the span.
    pub lower: OrderKey,
    /// First bound above the span.
    pub upper: Bound,
}

impl Span {
    /// The whole key space.
    pub const ALL: Span = Span {
        lower: MIN_KEY,
        upper: Bound::Infinity,
    };

    /// `[lower, upper)`.
    pub fn new(lower: OrderKey, upper: Bound) -> Self {
        Self { lower, upper }
    }

    /// Every key from `lower` on.
    pub fn starting_at(lower: OrderKey) -> Self {
        Self::new(lower, Bound::Infinity)
    }

    /// Whether `key` lies in the span.
    pub fn contains(&self, key: &OrderKey) -> bool {
        *key >= self.lower && Bound::Key(*key) < self.upper
    }

    /// Whether no key can lie in the span.
    pub fn is_empty(&self) -> bool {
        self.upper <= Bound::Key(self.lower)
    }
}

/// The shortest key `s` with `prev < s <= next`, for `prev < next`: the stamp ms of
/// `next` with a zero counter and id if the ms differ, else the stamp of `next` with a zero
/// id if the counters differ, else the shortest prefix of `next`'s id that differs from
/// `prev`'s, zero-padded. Its encoding drops the padding.
pub fn separator(prev: &OrderKey, next: &OrderKey) -> OrderKey {
    if prev.stamp.ms != next.stamp.ms {
        return OrderKey {
            stamp: Stamp::new(next.stamp.ms, 0),
            ..MIN_KEY
        };
    }
    if prev.stamp.counter != next.stamp.counter {
        return OrderKey {
            stamp: Stamp::new(next.stamp.ms, next.stamp.counter),
            ..MIN_KEY
        };
    }
    let (a, b) = (prev.id.as_bytes(), next.id.as_bytes());
    let len = (a.iter().zip(b).take_while(|(x, y)| x == y).count() + 1).min(32);
    let mut id = [0u8; 32];
    id[..len].copy_from_slice(&b[..len]);
    OrderKey {
        id: MsgId::from_bytes(id),
        ..*next
    }
}

/// A local set of order keys that can be reconciled with a peer's.
///
/// Only [`ItemSet::keys`] is required; the other methods have defaults built on it that an
/// implementation can replace with faster ones (an index of prefix sums, say). Keys are
/// yielded ascending and each at most once.
pub trait ItemSet {
    /// The keys in `span`, ascending.
    fn keys(&self, span: Span) -> impl Iterator<Item = &OrderKey>;

    /// How many keys lie in `span`.
    fn count(&self, span: Span) -> usize {
        self.keys(span).count()
    }

    /// The fingerprint of the keys in `span`.
    fn fingerprint(&self, span: Span) -> Fingerprint {
        Fingerprint::of(self.keys(span))
    }

    /// Splits `span` into `parts` consecutive sub-spans holding about equally many keys
    /// (fewer parts if it holds fewer keys, one part if it is empty), each with the sum of
    /// its keys. The sub-spans cover `span` exactly; every bound between two of them is the
    /// [`separator`] of the keys on either side.
    fn split_span(&self, span: Span, parts: usize) -> Vec<(Span, Accumulator)> {
        let total = self.count(span);
        let parts = parts.clamp(1, total.max(1));
        // Part `p` starts at key index floor(total * p / parts), computed without overflow.
        let start = |p: usize| total / parts * p + total % parts * p / parts;
        let mut out = Vec::with_capacity(parts);
        let mut current = (span.lower, Accumulator::default());
        let mut prev: Option<&OrderKey> = None;
        let mut next_part = 1;
        for (index, key) in self.keys(span).enumerate() {
            if next_part < parts && index == start(next_part) {
                if let Some(prev) = prev {
                    let cut = separator(prev, key);
                    out.push((Span::new(current.0, Bound::Key(cut)), current.1));
                    current = (cut, Accumulator::default());
                }
                next_part += 1;
            }
            current.1.add(key);
            prev = Some(key);
        }
        out.push((Span::new(current.0, span.upper), current.1));
        out
    }
}

impl ItemSet for BTreeSet<OrderKey> {
    fn keys(&self, span: Span) -> impl Iterator<Item = &OrderKey> {
        let upper = match span.upper {
            Bound::Infinity => Edge::Unbounded,
            Bound::Key(k) if k > span.lower => Edge::Excluded(k),
            // An empty span: `lower..lower` is allowed and empty.
            Bound::Key(_) => Edge::Excluded(span.lower),
        };
        self.range((Edge::Included(span.lower), upper))
    }
}

/// A slice must be sorted ascending without duplicates (a `Vec` kept sorted, or the keys of
/// a store read in order); otherwise results are wrong, though nothing panics.
impl ItemSet for [OrderKey] {
    fn keys(&self, span: Span) -> impl Iterator<Item = &OrderKey> {
        let (start, end) = slice_bounds(self, span);
        self[start..end].iter()
    }

    fn count(&self, span: Span) -> usize {
        let (start, end) = slice_bounds(self, span);
        end - start
    }
}

/// Index range of `span` in a sorted slice.
fn slice_bounds(keys: &[OrderKey], span: Span) -> (usize, usize) {
    let start = keys.partition_point(|k| *k < span.lower);
    let end = keys.partition_point(|k| Bound::Key(*k) < span.upper);
    (start, end.max(start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ms: u64, counter: u64, id: [u8; 32]) -> OrderKey {
        OrderKey {
            stamp: Stamp::new(ms, counter),
            id: MsgId::from_bytes(id),
        }
    }

    #[test]
    fn separator_is_between_and_short() {
        let mut id_a = [7u8; 32];
        let mut id_b = [7u8; 32];
        id_a[3] = 1;
        id_b[3] = 2;
        let mut prefix = [0u8; 32];
        prefix[..4].copy_from_slice(&[7, 7, 7, 2]);
        let cases = [
            (key(1, 50, id_b), key(2, 10, id_a), key(2, 0, [0; 32])),
            (key(2, 10, id_b), key(2, 11, id_a), key(2, 11, [0; 32])),
            (key(2, 10, id_a), key(2, 10, id_b), key(2, 10, prefix)),
        ];
        for (prev, next, want) in cases {
            let s = separator(&prev, &next);
            assert_eq!(s, want);
            assert!(prev < s && s <= next);
        }
    }

    #[test]
    fn btree_and_slice_agree() {
        let keys: Vec<OrderKey> = (0..100u8)
            .map(|i| key(u64::from(i / 3), 5, [i.wrapping_mul(37); 32]))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let tree: BTreeSet<OrderKey> = keys.iter().copied().collect();
        let spans = [
            Span::ALL,
            Span::starting_at(keys[40]),
            Span::new(keys[10], Bound::Key(keys[20])),
            Span::new(keys[20], Bound::Key(keys[10])),
            Span::new(keys[20], Bound::Key(keys[20])),
        ];
        for span in spans {
            let a: Vec<_> = tree.keys(span).collect();
            let b: Vec<_> = keys.keys(span).collect();
            assert_eq!(a, b);
            assert_eq!(tree.count(span), keys.count(span));
            assert_eq!(tree.fingerprint(span), keys.fingerprint(span));
            assert!(a.iter().all(|k| span.contains(k)));
        }
        assert_eq!(keys.count(Span::new(keys[20], Bound::Key(keys[10]))), 0);
    }

    #[test]
    fn split_covers_the_span_evenly() {
        let keys: Vec<OrderKey> = (0..1000u64).map(|i| key(i, i, [1; 32])).collect();
        let span = Span::new(keys[100], Bound::Key(keys[900]));
        let parts = keys.split_span(span, 16);
        assert_eq!(parts.len(), 16);
        assert_eq!(parts[0].0.lower, span.lower);
        assert_eq!(parts[15].0.upper, span.upper);
        let mut total = Accumulator::default();
        for pair in parts.windows(2) {
            assert_eq!(pair[0].0.upper, Bound::Key(pair[1].0.lower));
        }
        for (part, acc) in &parts {
            assert_eq!(acc.count() as usize, keys.count(*part));
            assert!((50..=51).contains(&acc.count()));
            total.merge(acc);
        }
        assert_eq!(total.fingerprint(), keys.fingerprint(span));
        // Fewer keys than parts: one part per key; no keys: one empty part.
        assert_eq!(
            keys.split_span(Span::new(keys[0], Bound::Key(keys[3])), 16)
                .len(),
            3
        );
        assert_eq!(keys[..0].split_span(Span::ALL, 16).len(), 1);
    }
}
