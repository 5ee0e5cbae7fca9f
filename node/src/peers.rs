//! Known peers: who this node has met or been told about, where to reach them, and when to
//! dial them again. Kept on disk (the store's `peers` tree), so a node restarted without
//! `--bootstrap` finds its groups again.
//!
//! ## What is kept
//! Per peer: up to `MAX_PEER_ADDRS` addresses (newest first, without the `/p2p/` suffix),
//! when it was last seen (ms since the Unix epoch: the last connection, or when we learned
//! of it if we never connected), and where it was learned ([`Source`]): identify (a
//! connected peer's listen addresses), an invite code (the inviter and the members whose
//! addresses it carries), a group card (member addresses), the bootstrap list, mDNS.
//!
//! ## Bounds
//! At most [`MAX_KNOWN_PEERS`] entries. Past that, the table forgets [`EVICT_BATCH`] at once:
//! peers that are neither members of our groups nor bootstrap peers first, least recently
//! seen first, so a flood of fresh identities cannot push out the peers that matter.
//!
//! ## Writes
//! Changes only mark entries dirty; the event loop writes the dirty ones in one sled batch
//! on its redial timer and at shutdown, with no flush of its own (sled's background flush
//! or the next acknowledged post makes them durable). A peer seen again within
//! `SEEN_GRANULARITY_MS` is not rewritten, so identify does not cause a write per event.
//!
//! ## Redialling
//! Every entry has a backoff: a dial that does not lead to a connection doubles the wait
//! (from `Config::redial_interval` up to `Config::redial_max_backoff`); a connection
//! resets it. On each redial round the event loop names the entries it wants (bootstrap
//! peers always; members of a group with no connected member; anyone while the node has
//! fewer than [`MIN_CONNECTED`] connections) and [`Table::due`] picks up to
//! [`MAX_DIALS_PER_ROUND`] of them whose wait is over.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::net::Protocol;
use crate::net::{Multiaddr, PeerId};
use qun_protocol::limits::MAX_ADDR_BYTES;

use crate::store::PeerRecord;

/// Most peers kept (in memory and on disk).
pub const MAX_KNOWN_PEERS: usize = 1024;
/// How many entries are forgotten at once when the table is over [`MAX_KNOWN_PEERS`].
pub const EVICT_BATCH: usize = 64;
/// Most addresses kept per peer.
pub const MAX_PEER_ADDRS: usize = 8;
/// Below this many connected peers, the node dials any known peer (most recently seen
/// first), not only bootstrap peers and members of groups it has lost touch with.
pub const MIN_CONNECTED: usize = 4;
/// Most known peers dialled in one redial round.
pub const MAX_DIALS_PER_ROUND: usize = 16;
/// A peer seen again within this many ms is not rewritten to disk.
pub const SEEN_GRANULARITY_MS: u64 = 60_000;

/// Where a peer was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Source {
    /// identify: the listen addresses a connected peer reported.
    Identify = 1,
    /// An invite code (or an approval of a join request).
    Invite = 2,
    /// A group card's member addresses.
    Card = 4,
    /// The bootstrap list of the configuration.
    Bootstrap = 8,
    /// mDNS on the LAN.
    Mdns = 16,
}

impl Source {
    const ALL: [Source; 5] = [
        Source::Identify,
        Source::Invite,
        Source::Card,
        Source::Bootstrap,
        Source::Mdns,
    ];

    /// A lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Identify => "identify",
            Source::Invite => "invite",
            Source::Card => "card",
            Source::Bootstrap => "bootstrap",
            Source::Mdns => "mdns",
        }
    }
}

/// A set of [`Source`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sources(u8);

impl Sources {
    /// Whether `s` is in the set.
    pub fn has(self, s: Source) -> bool {
        self.0 & s as u8 != 0
    }

    fn with(self, s: Source) -> Self {
        Sources(self.0 | s as u8)
    }

    /// The names of the sources in the set.
    pub fn names(self) -> Vec<&'static str> {
        Source::ALL
            .iter()
            .filter(|s| self.has(**s))
            .map(|s| s.as_str())
            .collect()
    }
}

/// When a peer may be dialled again.
#[derive(Debug, Clone, Copy, Default)]
struct Backoff {
    /// Dials since the last connection.
    failures: u32,
    /// Not before this instant (`None`: now).
    next: Option<Instant>,
}

/// One known peer.
#[derive(Debug, Clone)]
pub struct Known {
    /// Addresses, newest first, without `/p2p/`.
    pub addrs: Vec<Multiaddr>,
    /// Last connection (or when learned, if never connected), ms since the Unix epoch.
    pub last_seen_ms: u64,
    /// Where it was learned.
    pub sources: Sources,
    dial: Backoff,
}

/// Splits `/…/p2p/PEER` into the peer and the address without it.
pub fn split_p2p(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut addr = addr.clone();
    match addr.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, addr)),
        _ => None,
    }
}

/// Whether `addr` is on the IPv4 loopback (sorted last among our addresses).
pub fn is_loopback(addr: &Multiaddr) -> bool {
    addr.iter()
        .any(|p| matches!(p, Protocol::Ip4(ip) if ip.is_loopback()))
}

/// `addr` with `/p2p/peer` appended.
pub fn with_peer(addr: &Multiaddr, peer: PeerId) -> Multiaddr {
    addr.clone().with(Protocol::P2p(peer))
}

/// An address worth keeping: not empty, short enough, no `/p2p/`, not unspecified.
fn keepable(addr: &Multiaddr) -> bool {
    !addr.is_empty()
        && addr.len() <= MAX_ADDR_BYTES
        && addr.iter().all(|p| match p {
            Protocol::P2p(_) => false,
            Protocol::Ip4(ip) => !ip.is_unspecified(),
            Protocol::Ip6(ip) => !ip.is_unspecified(),
            _ => true,
        })
}

/// The table of known peers.
#[derive(Debug)]
pub struct Table {
    local: PeerId,
    peers: HashMap<PeerId, Known>,
    /// Changed since the last write.
    dirty: HashSet<PeerId>,
    /// Forgotten since the last write (to remove from disk).
    forgotten: HashSet<PeerId>,
}

impl Table {
    /// An empty table for the node `local` (which it never holds).
    pub fn new(local: PeerId) -> Self {
        Table {
            local,
            peers: HashMap::new(),
            dirty: HashSet::new(),
            forgotten: HashSet::new(),
        }
    }

    /// The table read back from the store's raw entries. Entries that do not decode (a
    /// corrupt or hostile file) are skipped and removed at the next write; past the cap,
    /// the least recently seen are forgotten.
    pub fn load(local: PeerId, raw: Vec<(Vec<u8>, Vec<u8>)>) -> Self {
        let mut t = Table::new(local);
        for (k, v) in raw {
            match (PeerId::from_bytes(&k), decode(&k, &v)) {
                (Ok(peer), Some(known)) if peer != local => {
                    t.peers.insert(peer, known);
                }
                (Ok(peer), _) => {
                    tracing::debug!(%peer, "dropping an unreadable known peer");
                    t.forgotten.insert(peer);
                }
                (Err(_), _) => tracing::debug!("dropping a known peer with a bad id"),
            }
        }
        t.evict(&|_| false);
        t
    }

    /// How many peers are known.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is known.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// One peer.
    pub fn get(&self, peer: &PeerId) -> Option<&Known> {
        self.peers.get(peer)
    }

    /// Every known peer.
    pub fn iter(&self) -> impl Iterator<Item = (&PeerId, &Known)> {
        self.peers.iter()
    }

    /// Learns addresses of `peer` from `source` (at `now_ms`). New addresses go first; at
    /// most `MAX_PEER_ADDRS` are kept. `protected` names peers that eviction spares
    /// (members of our groups, bootstrap peers) when the table is full.
    pub fn learn(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        source: Source,
        now_ms: u64,
        protected: &dyn Fn(&PeerId) -> bool,
    ) {
        if peer == self.local {
            return;
        }
        let fresh: Vec<Multiaddr> = addrs.into_iter().filter(keepable).collect();
        let is_new = !self.peers.contains_key(&peer);
        if is_new && fresh.is_empty() {
            return;
        }
        let known = self.peers.entry(peer).or_insert_with(|| Known {
            addrs: Vec::new(),
            last_seen_ms: now_ms,
            sources: Sources::default(),
            dial: Backoff::default(),
        });
        let mut addrs = fresh;
        for a in &known.addrs {
            if !addrs.contains(a) {
                addrs.push(a.clone());
            }
        }
        addrs.truncate(MAX_PEER_ADDRS);
        let sources = known.sources.with(source);
        if is_new || addrs != known.addrs || sources != known.sources {
            known.addrs = addrs;
            known.sources = sources;
            self.dirty.insert(peer);
            self.forgotten.remove(&peer);
        }
        if is_new && self.peers.len() > MAX_KNOWN_PEERS {
            self.evict(protected);
        }
    }

    /// Notes a connection to `peer` at `now_ms`: resets its backoff, and updates when it
    /// was last seen (written only if it moved by `SEEN_GRANULARITY_MS` or more).
    pub fn connected(&mut self, peer: &PeerId, now_ms: u64) {
        if let Some(k) = self.peers.get_mut(peer) {
            k.dial = Backoff::default();
            if now_ms >= k.last_seen_ms.saturating_add(SEEN_GRANULARITY_MS) {
                self.dirty.insert(*peer);
            }
            k.last_seen_ms = k.last_seen_ms.max(now_ms);
        }
    }

    /// Marks every entry for writing (after the store was reopened: the last writes may
    /// not have reached the disk).
    pub fn mark_all_dirty(&mut self) {
        self.dirty.extend(self.peers.keys().copied());
    }

    /// Forgets entries down to `MAX_KNOWN_PEERS - EVICT_BATCH` when over the cap:
    /// unprotected before protected, least recently seen first.
    fn evict(&mut self, protected: &dyn Fn(&PeerId) -> bool) {
        if self.peers.len() <= MAX_KNOWN_PEERS {
            return;
        }
        let keep = MAX_KNOWN_PEERS - EVICT_BATCH;
        let mut order: Vec<(bool, u64, PeerId)> = self
            .peers
            .iter()
            .map(|(p, k)| {
                let spared = protected(p) || k.sources.has(Source::Bootstrap);
                (spared, k.last_seen_ms, *p)
            })
            .collect();
        order.sort_unstable_by_key(|e| (e.0, e.1));
        let excess = self.peers.len() - keep;
        for (_, _, p) in order.into_iter().take(excess) {
            self.peers.remove(&p);
            self.dirty.remove(&p);
            self.forgotten.insert(p);
        }
    }

    /// The entries to write and the keys to remove since the last call (for
    /// `Store::write_known_peers`).
    #[allow(clippy::type_complexity)]
    pub fn take_writes(&mut self) -> (Vec<(Vec<u8>, Vec<u8>)>, Vec<Vec<u8>>) {
        let put = self
            .dirty
            .drain()
            .filter_map(|p| {
                let k = self.peers.get(&p)?;
                Some((p.to_bytes(), encode(k)?))
            })
            .collect();
        let remove = self.forgotten.drain().map(|p| p.to_bytes()).collect();
        (put, remove)
    }

    /// Picks up to `limit` peers to dial now: those `want` ranks (lower rank first, then
    /// most recently seen), whose backoff is over. Each picked peer's next dial waits
    /// `base × 2^failures`, at most `max`.
    pub fn due(
        &mut self,
        now: Instant,
        base: Duration,
        max: Duration,
        limit: usize,
        want: impl Fn(&PeerId, &Known) -> Option<u8>,
    ) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut picks: Vec<(u8, std::cmp::Reverse<u64>, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, k)| k.dial.next.is_none_or(|t| t <= now))
            .filter_map(|(p, k)| Some((want(p, k)?, std::cmp::Reverse(k.last_seen_ms), *p)))
            .collect();
        picks.sort_unstable();
        picks.truncate(limit);
        let mut out = Vec::with_capacity(picks.len());
        for (_, _, p) in picks {
            if let Some(k) = self.peers.get_mut(&p) {
                let wait = base.saturating_mul(1u32 << k.dial.failures.min(16));
                k.dial.failures = k.dial.failures.saturating_add(1);
                k.dial.next = Some(now + wait.min(max));
                out.push((p, k.addrs.clone()));
            }
        }
        out
    }
}

fn encode(k: &Known) -> Option<Vec<u8>> {
    let stored = PeerRecord {
        addrs: k.addrs.iter().map(|a| a.to_vec()).collect(),
        last_seen_ms: k.last_seen_ms,
        sources: k.sources.0,
    };
    stored.encode().ok()
}

fn decode(key: &[u8], bytes: &[u8]) -> Option<Known> {
    let s = PeerRecord::decode(key, bytes).ok()?;
    let addrs: Vec<Multiaddr> = s
        .addrs
        .into_iter()
        .filter_map(|b| Multiaddr::try_from(b).ok())
        .filter(keepable)
        .take(MAX_PEER_ADDRS)
        .collect();
    if addrs.is_empty() {
        return None;
    }
    Some(Known {
        addrs,
        last_seen_ms: s.last_seen_ms,
        sources: Sources(s.sources & 0x1f),
        dial: Backoff::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> Multiaddr {
        format!("/ip4/127.0.0.1/tcp/{port}").parse().unwrap()
    }

    fn none(_: &PeerId) -> bool {
        false
    }

    #[test]
    fn learns_merges_and_round_trips() {
        let me = PeerId::random();
        let p = PeerId::random();
        let mut t = Table::new(me);
        t.learn(p, [addr(1)], Source::Invite, 10, &none);
        t.learn(p, [addr(2), addr(1)], Source::Identify, 20, &none);
        t.learn(me, [addr(3)], Source::Identify, 20, &none);
        let unspecified: Multiaddr = "/ip4/0.0.0.0/tcp/9".parse().unwrap();
        t.learn(PeerId::random(), [unspecified], Source::Mdns, 20, &none);
        assert_eq!(t.len(), 1, "neither ourselves nor an unusable address");
        let k = t.get(&p).unwrap().clone();
        assert_eq!(k.addrs, vec![addr(2), addr(1)]);
        assert_eq!(k.sources.names(), ["identify", "invite"]);
        assert_eq!(k.last_seen_ms, 10);
        let (put, remove) = t.take_writes();
        assert_eq!(put.len(), 1);
        assert!(remove.is_empty());
        let back = Table::load(me, put);
        let k2 = back.get(&p).unwrap();
        assert_eq!((k2.addrs.clone(), k2.sources), (k.addrs.clone(), k.sources));
        // Nothing changed: nothing to write.
        t.learn(p, [addr(2)], Source::Invite, 30, &none);
        t.connected(&p, 40);
        assert!(t.take_writes().0.is_empty(), "no write without a change");
        t.connected(&p, 40 + SEEN_GRANULARITY_MS);
        assert_eq!(t.take_writes().0.len(), 1);
    }

    #[test]
    fn addresses_per_peer_are_capped() {
        let mut t = Table::new(PeerId::random());
        let p = PeerId::random();
        t.learn(p, (1..100).map(addr), Source::Identify, 1, &none);
        assert_eq!(t.get(&p).unwrap().addrs.len(), MAX_PEER_ADDRS);
    }

    #[test]
    fn a_flood_of_strangers_does_not_push_out_members() {
        let mut t = Table::new(PeerId::random());
        let member = PeerId::random();
        let boot = PeerId::random();
        t.learn(member, [addr(1)], Source::Invite, 1, &none);
        t.learn(boot, [addr(2)], Source::Bootstrap, 1, &none);
        let is_member = |p: &PeerId| *p == member;
        for i in 0..5 * MAX_KNOWN_PEERS as u64 {
            t.learn(
                PeerId::random(),
                [addr(3)],
                Source::Identify,
                100 + i,
                &is_member,
            );
            assert!(t.len() <= MAX_KNOWN_PEERS);
        }
        assert!(t.get(&member).is_some(), "a member is spared");
        assert!(t.get(&boot).is_some(), "a bootstrap peer is spared");
        let (put, remove) = t.take_writes();
        assert!(put.len() <= MAX_KNOWN_PEERS);
        assert!(
            !remove.is_empty(),
            "forgotten entries are removed from disk"
        );
    }

    #[test]
    fn hostile_entries_are_skipped_and_the_cap_holds_on_load() {
        let me = PeerId::random();
        let mut raw = vec![
            (b"not a peer id".to_vec(), vec![1, 2, 3]),
            (PeerId::random().to_bytes(), vec![0xff; 10_000]),
            (PeerId::random().to_bytes(), Vec::new()),
        ];
        let mut good = Table::new(me);
        for i in 0..(MAX_KNOWN_PEERS as u64 + 10) {
            good.learn(PeerId::random(), [addr(1)], Source::Identify, i, &none);
        }
        // Bypass the in-memory cap: write more entries than allowed.
        let (put, _) = good.take_writes();
        raw.extend(put);
        let t = Table::load(me, raw);
        assert!(t.len() <= MAX_KNOWN_PEERS);
        assert!(t.len() >= MAX_KNOWN_PEERS - EVICT_BATCH);
    }

    #[test]
    fn due_backs_off_and_a_connection_resets_it() {
        let mut t = Table::new(PeerId::random());
        let p = PeerId::random();
        t.learn(p, [addr(1)], Source::Invite, 1, &none);
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(4);
        let t0 = Instant::now();
        let want = |_: &PeerId, _: &Known| Some(0);
        assert_eq!(t.due(t0, base, max, 8, want).len(), 1, "due at once");
        assert!(t.due(t0, base, max, 8, want).is_empty(), "then it waits");
        let mut at = t0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let mut step = Duration::ZERO;
            loop {
                step += Duration::from_millis(250);
                if !t.due(at + step, base, max, 8, want).is_empty() {
                    break;
                }
            }
            waits.push(step.as_millis());
            at += step;
        }
        assert_eq!(waits, [1000, 2000, 4000, 4000, 4000], "doubling, capped");
        t.connected(&p, 2);
        assert_eq!(
            t.due(at, base, max, 8, want).len(),
            1,
            "reset by a connection"
        );
        assert!(t.due(at, base, max, 8, |_, _| None).is_empty());
    }

    #[test]
    fn due_prefers_rank_then_recency() {
        let mut t = Table::new(PeerId::random());
        let old = PeerId::random();
        let recent = PeerId::random();
        let boot = PeerId::random();
        t.learn(old, [addr(1)], Source::Identify, 1, &none);
        t.learn(recent, [addr(2)], Source::Identify, 5, &none);
        t.learn(boot, [addr(3)], Source::Bootstrap, 0, &none);
        let rank = |_: &PeerId, k: &Known| {
            Some(if k.sources.has(Source::Bootstrap) {
                0
            } else {
                1
            })
        };
        let got: Vec<PeerId> = t
            .due(
                Instant::now(),
                Duration::from_secs(1),
                Duration::from_secs(1),
                2,
                rank,
            )
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(got, [boot, recent]);
    }

    #[test]
    fn p2p_suffix_is_split() {
        let p = PeerId::random();
        let a: Multiaddr = format!("/ip4/1.2.3.4/tcp/5/p2p/{p}").parse().unwrap();
        assert_eq!(
            split_p2p(&a),
            Some((p, "/ip4/1.2.3.4/tcp/5".parse().unwrap()))
        );
        assert_eq!(split_p2p(&addr(1)), None);
    }
}
