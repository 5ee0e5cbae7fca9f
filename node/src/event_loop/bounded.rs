//! Sets and maps with a cap, for state that grows with what peers do.
//!
//! A ban list (peers that sent invalid sync pages or DHT input) and the cards seen lately
//! would otherwise grow for as long as the node runs: a stream of fresh hostile identities,
//! or a long series of searches, would grow them without end. Past the cap the oldest entry
//! goes first (first in, first out): a banned peer that is forgotten is banned again by its
//! next invalid input, and a card that is forgotten is looked up in the DHT again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// A set that keeps at most `cap` entries, forgetting the oldest first.
pub(crate) struct BoundedSet<T> {
    set: HashSet<T>,
    order: VecDeque<T>,
    cap: usize,
}

impl<T: Clone + Eq + Hash> BoundedSet<T> {
    /// An empty set of at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        Self {
            set: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Adds `value` (the oldest entry goes when full); false if it was there.
    pub fn insert(&mut self, value: T) -> bool {
        if !self.set.insert(value.clone()) {
            return false;
        }
        self.order.push_back(value);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    /// Whether `value` is in the set.
    pub fn contains(&self, value: &T) -> bool {
        self.set.contains(value)
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.set.len()
    }
}

/// A map that keeps at most `cap` entries, forgetting the oldest inserted first (a value
/// replaced in place keeps its age).
pub(crate) struct BoundedMap<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    cap: usize,
}

impl<K: Clone + Eq + Hash, V> BoundedMap<K, V> {
    /// An empty map of at most `cap` entries.
    pub fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Inserts or replaces; the oldest entry goes when full.
    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_some() {
            return;
        }
        self.order.push_back(key);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Entries held.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oldest_goes_first_past_the_cap() {
        let mut s = BoundedSet::new(2);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        s.insert(2);
        s.insert(3);
        assert_eq!(s.len(), 2);
        assert!(!s.contains(&1) && s.contains(&2) && s.contains(&3));

        let mut m = BoundedMap::new(2);
        m.insert("a", 1);
        m.insert("b", 2);
        m.insert("a", 10);
        m.insert("c", 3);
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&"a"), None);
        assert_eq!(m.get(&"b"), Some(&2));
        assert_eq!(m.get(&"c"), Some(&3));
    }
}
