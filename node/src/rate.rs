//! Per-peer budgets for what remote peers may ask of this node: token buckets keyed by
//! peer, one limiter per kind of request.
//!
//! A bucket holds up to `burst` tokens and refills at `per_second`. A request that finds
//! fewer tokens than its cost is refused cheaply, before any work is done for it. A cost
//! known only after the work (the bytes of a fetched page) is charged afterwards with
//! [`RateLimiter::charge`] and may take the bucket into debt (down to `-burst`): the peer is
//! refused until the debt is paid back by time.
//!
//! A bucket that has refilled to `burst` says nothing a fresh bucket would not, so it is
//! dropped ([`RateLimiter::forget_if_full`] on disconnect, and whenever the map is full). A
//! bucket in debt is kept across a disconnection, or a peer could reset its budget by
//! reconnecting. At most [`MAX_TRACKED_PEERS`] buckets are kept: when every one is in debt
//! a new peer is refused until one has refilled (the connection limits keep the number of
//! connected peers well below that).
//!
//! Budgets are per identity, and identities are free: the connection limits bound how many
//! of them can ask at once, and a global limiter (keyed by `()`) bounds the sum where the
//! work is large (fetch bytes).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Most join requests a group keeps waiting for a decision; a new requester past it is
/// refused (those already waiting are kept: a flood of fresh identities cannot push out a
/// request the admins have not seen yet). One per requester and group; each ~1 KiB on
/// disk.
pub const MAX_PENDING_JOIN_REQUESTS: usize = 256;

/// Most buckets one limiter keeps.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// Sync reconciliation requests: a session takes a few round trips per group, and
/// anti-entropy starts one session per group every ~30 s; 20/s sustains 100 groups
/// reconciling with one peer at once. A reconciliation answer costs the node a walk over
/// the group's order keys, so this is what bounds a reconcile flood's CPU.
pub const SYNC_RECONCILE: Budget = Budget {
    burst: 200.0,
    per_second: 20.0,
};

/// Sync fetch requests (each asks for up to `MAX_FETCH` messages).
pub const SYNC_FETCH: Budget = Budget {
    burst: 200.0,
    per_second: 20.0,
};

/// Bytes of frames served to one peer by fetches: 64 MiB at once (an empty member's
/// catch-up of ~160,000 messages of 400 B at full speed: the catch-up bench's 100,000 fit),
/// then 2 MiB/s (~5,000 such messages per second). Before this, one peer was served 1.4 GB
/// in 20 s.
pub const SYNC_FETCH_BYTES: Budget = Budget {
    burst: 64.0 * 1024.0 * 1024.0,
    per_second: 2.0 * 1024.0 * 1024.0,
};

/// Bytes of frames served by fetches to all peers together: four peers' worth, so a
/// flood from many fresh identities is bounded too.
pub const SYNC_FETCH_BYTES_TOTAL: Budget = Budget {
    burst: 256.0 * 1024.0 * 1024.0,
    per_second: 8.0 * 1024.0 * 1024.0,
};

/// Discovery requests (search questions, join requests, approvals) from one peer: a
/// search asks each provider once, a join request is repeated every 30 s.
pub const DISCOVERY: Budget = Budget {
    burst: 30.0,
    per_second: 3.0,
};

/// A bucket's size and refill rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Most tokens a bucket holds (and the deepest debt it may run).
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets of one kind of request, keyed by peer (or by `()` for a global budget).
#[derive(Debug)]
pub struct RateLimiter<K> {
    budget: Budget,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// An empty limiter with `budget` per key.
    pub fn new(budget: Budget) -> Self {
        Self {
            budget,
            buckets: HashMap::new(),
        }
    }

    /// The key's bucket, refilled to `now`; `None` when a new bucket is needed and none
    /// can be kept.
    fn bucket(&mut self, key: &K, now: Instant) -> Option<&mut Bucket> {
        if !self.buckets.contains_key(key) {
            if self.buckets.len() >= MAX_TRACKED_PEERS {
                self.prune(now);
            }
            if self.buckets.len() >= MAX_TRACKED_PEERS {
                return None;
            }
            self.buckets.insert(
                key.clone(),
                Bucket {
                    tokens: self.budget.burst,
                    at: now,
                },
            );
        }
        let budget = self.budget;
        let b = self.buckets.get_mut(key)?;
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * budget.per_second).min(budget.burst);
        b.at = now;
        Some(b)
    }

    /// Takes `cost` tokens if the key has them; `false` (nothing taken) otherwise.
    pub fn try_take(&mut self, key: &K, cost: f64, now: Instant) -> bool {
        match self.bucket(key, now) {
            Some(b) if b.tokens >= cost => {
                b.tokens -= cost;
                true
            }
            _ => false,
        }
    }

    /// Whether the key has any budget left (is not in debt).
    pub fn has_budget(&mut self, key: &K, now: Instant) -> bool {
        self.bucket(key, now).is_some_and(|b| b.tokens > 0.0)
    }

    /// Charges `cost` for work already done; the bucket may go into debt, down to
    /// `-burst`.
    pub fn charge(&mut self, key: &K, cost: f64, now: Instant) {
        let floor = -self.budget.burst;
        if let Some(b) = self.bucket(key, now) {
            b.tokens = (b.tokens - cost).max(floor);
        }
    }

    /// How long until the key has budget again (zero if it has some now).
    pub fn wait(&mut self, key: &K, now: Instant) -> Duration {
        let per_second = self.budget.per_second;
        match self.bucket(key, now) {
            Some(b) if b.tokens <= 0.0 && per_second > 0.0 => {
                Duration::from_secs_f64((-b.tokens + 1.0) / per_second)
            }
            _ => Duration::ZERO,
        }
    }

    /// Drops the key's bucket if it has refilled (a bucket in debt is kept, or the peer
    /// could reset it by reconnecting).
    pub fn forget_if_full(&mut self, key: &K, now: Instant) {
        let burst = self.budget.burst;
        if self.bucket(key, now).is_some_and(|b| b.tokens >= burst) {
            self.buckets.remove(key);
        }
    }

    /// Drops every bucket that has refilled by `now`.
    pub fn prune(&mut self, now: Instant) {
        let budget = self.budget;
        self.buckets.retain(|_, b| {
            let dt = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens + dt * budget.per_second < budget.burst
        });
    }

    /// Buckets kept.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no bucket is kept.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

/// Every per-peer budget of the node, in one place (owned by the event loop).
#[derive(Debug)]
pub struct Limits<P> {
    /// `/qun/sync/2` reconciliation requests.
    pub reconcile: RateLimiter<P>,
    /// `/qun/sync/2` fetch requests.
    pub fetch: RateLimiter<P>,
    /// Bytes served by fetches, per peer.
    pub fetch_bytes: RateLimiter<P>,
    /// Bytes served by fetches, all peers together.
    pub fetch_bytes_total: RateLimiter<()>,
    /// `/qun/discovery/1` requests.
    pub discovery: RateLimiter<P>,
}

impl<P: Hash + Eq + Clone> Default for Limits<P> {
    fn default() -> Self {
        Self {
            reconcile: RateLimiter::new(SYNC_RECONCILE),
            fetch: RateLimiter::new(SYNC_FETCH),
            fetch_bytes: RateLimiter::new(SYNC_FETCH_BYTES),
            fetch_bytes_total: RateLimiter::new(SYNC_FETCH_BYTES_TOTAL),
            discovery: RateLimiter::new(DISCOVERY),
        }
    }
}

impl<P: Hash + Eq + Clone> Limits<P> {
    /// A peer disconnected: drop its buckets that have refilled.
    pub fn disconnected(&mut self, peer: &P, now: Instant) {
        self.reconcile.forget_if_full(peer, now);
        self.fetch.forget_if_full(peer, now);
        self.fetch_bytes.forget_if_full(peer, now);
        self.discovery.forget_if_full(peer, now);
    }

    /// May `peer` have a sync request served now? Takes one token if so.
    pub fn sync_allowed(&mut self, peer: &P, fetch: bool, now: Instant) -> bool {
        if fetch {
            self.fetch_allowed(peer, now)
        } else {
            self.reconcile.try_take(peer, 1.0, now)
        }
    }

    /// May `peer` have a fetch served now (request count, its byte debt, the node's)?
    /// Takes one fetch token if so.
    pub fn fetch_allowed(&mut self, peer: &P, now: Instant) -> bool {
        self.fetch_bytes.has_budget(peer, now)
            && self.fetch_bytes_total.has_budget(&(), now)
            && self.fetch.try_take(peer, 1.0, now)
    }

    /// Charges the bytes of a page served to `peer`.
    pub fn fetch_served(&mut self, peer: &P, bytes: usize, now: Instant) {
        self.fetch_bytes.charge(peer, bytes as f64, now);
        self.fetch_bytes_total.charge(&(), bytes as f64, now);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const B: Budget = Budget {
        burst: 10.0,
        per_second: 5.0,
    };

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(B);
        for _ in 0..10 {
            assert!(r.try_take(&1u8, 1.0, t0));
        }
        assert!(!r.try_take(&1u8, 1.0, t0), "the burst is spent");
        assert!(r.try_take(&2u8, 1.0, t0), "another peer has its own bucket");
        let t1 = t0 + Duration::from_millis(400);
        assert!(r.try_take(&1u8, 2.0, t1), "0.4 s refills 2 tokens");
        assert!(!r.try_take(&1u8, 1.0, t1));
    }

    #[test]
    fn debt_is_paid_back_by_time_and_survives_a_disconnection() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(B);
        assert!(r.has_budget(&1u8, t0));
        r.charge(&1u8, 1_000.0, t0);
        assert!(!r.has_budget(&1u8, t0), "in debt");
        // The debt is floored at -burst: 10 tokens, 2 s at 5/s, plus one.
        assert_eq!(r.wait(&1u8, t0), Duration::from_secs_f64(11.0 / 5.0));
        r.forget_if_full(&1u8, t0);
        assert_eq!(r.len(), 1, "a bucket in debt is kept");
        let later = t0 + Duration::from_secs(3);
        assert!(r.has_budget(&1u8, later));
        r.forget_if_full(&1u8, t0 + Duration::from_secs(5));
        assert!(r.is_empty(), "a full bucket is dropped");
    }

    #[test]
    fn the_map_is_capped() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(B);
        for k in 0..MAX_TRACKED_PEERS as u32 {
            r.charge(&k, 1.0, t0);
        }
        assert_eq!(r.len(), MAX_TRACKED_PEERS);
        assert!(
            !r.try_take(&u32::MAX, 1.0, t0),
            "no room: refused, not grown"
        );
        assert_eq!(r.len(), MAX_TRACKED_PEERS);
        // Once the old buckets refilled they make room.
        assert!(r.try_take(&u32::MAX, 1.0, t0 + Duration::from_secs(1)));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn fetch_is_cut_by_bytes_per_peer_and_in_total() {
        let t0 = Instant::now();
        let mut l: Limits<u8> = Limits::default();
        let page = 6 * 1024 * 1024;
        let mut served = 0;
        while l.fetch_allowed(&1, t0) {
            l.fetch_served(&1, page, t0);
            served += page;
        }
        assert!(served as f64 <= SYNC_FETCH_BYTES.burst + page as f64);
        assert!(l.fetch_allowed(&2, t0), "another peer is still served");
    }
}
