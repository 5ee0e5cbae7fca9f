//! The order keys of a joined group's stored messages, kept in memory per epoch.
//!
//! Sync reconciles one epoch at a time (a requester proves one epoch's secret per request,
//! see `qun_protocol::sync`), so the keys are split by epoch: a member is shown the keys of
//! the epochs it proved and no others. About 100 bytes per message.

use std::collections::{BTreeMap, BTreeSet};

use qun_protocol::OrderKey;

/// The empty set, for an epoch with no messages.
static EMPTY: BTreeSet<OrderKey> = BTreeSet::new();

/// Order keys of one group, by epoch.
#[derive(Debug, Default)]
pub(crate) struct Index {
    epochs: BTreeMap<u64, BTreeSet<OrderKey>>,
    len: usize,
}

impl Index {
    /// Builds the index from (epoch, key) pairs.
    pub fn from_keys(keys: impl IntoIterator<Item = (u64, OrderKey)>) -> Self {
        let mut index = Self::default();
        for (epoch, key) in keys {
            index.insert(epoch, key);
        }
        index
    }

    /// Adds a key; returns whether it was new.
    pub fn insert(&mut self, epoch: u64, key: OrderKey) -> bool {
        let new = self.epochs.entry(epoch).or_default().insert(key);
        self.len += usize::from(new);
        new
    }

    /// Removes a key; returns whether it was there.
    pub fn remove(&mut self, epoch: u64, key: &OrderKey) -> bool {
        let gone = self.epochs.get_mut(&epoch).is_some_and(|s| s.remove(key));
        self.len -= usize::from(gone);
        gone
    }

    /// Whether any epoch holds `key`.
    pub fn contains(&self, key: &OrderKey) -> bool {
        self.epochs.values().any(|s| s.contains(key))
    }

    /// The keys of one epoch.
    pub fn epoch(&self, epoch: u64) -> &BTreeSet<OrderKey> {
        self.epochs.get(&epoch).unwrap_or(&EMPTY)
    }

    /// The highest key of any epoch below `limit`.
    pub fn last_below(&self, limit: &OrderKey) -> Option<&OrderKey> {
        self.epochs
            .values()
            .filter_map(|s| s.range(..*limit).next_back())
            .max()
    }

    /// How many keys in all.
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> OrderKey {
        let mut b = [0u8; OrderKey::LEN];
        b[7] = n;
        b[16] = n;
        OrderKey::from_bytes(&b).unwrap()
    }

    #[test]
    fn epochs_are_kept_apart() {
        let mut index = Index::from_keys([(0, key(1)), (1, key(2)), (0, key(3))]);
        assert!(!index.insert(0, key(1)));
        assert_eq!(index.len(), 3);
        assert_eq!(index.epoch(0).len(), 2);
        assert_eq!(index.epoch(1).iter().collect::<Vec<_>>(), [&key(2)]);
        assert!(index.epoch(7).is_empty());
        assert!(index.contains(&key(2)));
        assert_eq!(index.last_below(&key(9)), Some(&key(3)));
        assert_eq!(index.last_below(&key(3)), Some(&key(2)));
        assert_eq!(index.last_below(&key(1)), None);
        assert!(!index.contains(&key(4)));
        assert!(index.remove(0, &key(3)) && !index.remove(0, &key(3)));
        assert_eq!(index.len(), 2);
    }
}
