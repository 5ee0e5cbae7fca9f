//! What the caller shows a [`super::Sessions`]: its limits, the keys we hold, where our
//! history starts, and the clock.

use std::collections::{BTreeMap, BTreeSet};

use super::SINCE_JOIN_SLACK_MS;
use crate::message::Verified;
use crate::order::OrderKey;
use crate::reconcile;
use crate::sync::wire::MAX_FETCH;

use super::FETCH_PIPELINE;

/// Limits of the sync sessions of a group.
#[derive(Debug, Clone)]
pub struct Config {
    /// Fetches in flight per session (at least 1).
    pub pipeline: usize,
    /// Keys per fetch (1 to [`MAX_FETCH`]).
    pub max_fetch: usize,
    /// Reconciliation settings.
    pub reconcile: reconcile::Config,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            pipeline: FETCH_PIPELINE,
            max_fetch: MAX_FETCH,
            reconcile: reconcile::Config::default(),
        }
    }
}

/// The order keys we hold of a group, by epoch.
pub trait Keys {
    /// The keys of one epoch (empty for an epoch we hold nothing of).
    fn epoch(&self, epoch: u64) -> &BTreeSet<OrderKey>;
    /// Whether any epoch holds `key`.
    fn contains(&self, key: &OrderKey) -> bool;
}

impl Keys for BTreeMap<u64, BTreeSet<OrderKey>> {
    fn epoch(&self, epoch: u64) -> &BTreeSet<OrderKey> {
        static EMPTY: BTreeSet<OrderKey> = BTreeSet::new();
        self.get(&epoch).unwrap_or(&EMPTY)
    }

    fn contains(&self, key: &OrderKey) -> bool {
        self.values().any(|s| s.contains(key))
    }
}

/// Where the history of a group joined with history since join starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// Our clock's time of the join (ms since the Unix epoch).
    pub since_ms: u64,
    /// The bound the first sync settled in the group's order, once it has.
    pub bound: Option<OrderKey>,
}

impl History {
    /// Whether `key` is older than this history: below the settled bound (a key in the
    /// group's order, so group time), or before that, stamped more than
    /// [`SINCE_JOIN_SLACK_MS`] before our clock's join time.
    pub fn excludes(&self, key: &OrderKey) -> bool {
        match self.bound {
            Some(bound) => *key < bound,
            None => key.stamp.ms < self.since_ms.saturating_sub(SINCE_JOIN_SLACK_MS),
        }
    }
}

/// What the caller knows of the group at the time of an input.
#[derive(Clone, Copy)]
pub struct Local<'a> {
    /// The keys we hold.
    pub keys: &'a dyn Keys,
    /// Where our history starts (`None`: full history).
    pub history: Option<History>,
    /// Our wall clock (ms since the Unix epoch), for the skew rule and the retry window.
    pub clock_ms: u64,
    /// When we joined the group by that clock (ms).
    pub joined_ms: u64,
}

/// A message fetched by sync: anything with an order key.
pub trait Keyed {
    /// Its position in the group's order.
    fn order_key(&self) -> OrderKey;
}

impl Keyed for OrderKey {
    fn order_key(&self) -> OrderKey {
        *self
    }
}

impl Keyed for Verified {
    fn order_key(&self) -> OrderKey {
        Verified::order_key(self)
    }
}
