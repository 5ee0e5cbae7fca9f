//! The DHT: record validation, lookups, and publishing our cards, keywords and profile.
//!
//! Kademlia runs with `StoreInserts::FilterBoth`, so every record put to us (by its
//! publisher or by replication) and every provider announcement arrives here as an
//! inbound request, passes `qun_protocol::discovery::record`, and only then is stored.
//! Under one key the newest valid record wins: an older one is not stored over it. A peer
//! that puts an invalid record is reported (`Rejected`), dropped from the routing table,
//! disconnected, and its DHT input is ignored from then on.
//!
//! Lookups (`get_record`) collect every copy the query finds, check each, and keep the
//! newest valid one; a peer that served an invalid copy is penalised the same way.
//!
//! Every `discovery_interval` (and soon after a group is created or joined, or on
//! [`crate::Node::announce_discovery`]) the node publishes for each public or listed group:
//! the owner and each admin sign a fresh card when it is due (`super::card`); everyone puts
//! the newest card it holds and looks for a newer one; members keep (and so republish) only
//! cards whose signer is an admin or the owner by their own fold. Everyone announces itself
//! as a provider of the group's keyword tokens. A private group is never published.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use std::collections::HashSet;

use qun_protocol::discovery::card::{self, ProvenCard};
use qun_protocol::discovery::keywords;
use qun_protocol::discovery::profile::{self, SignedProfile};
use qun_protocol::discovery::record::{self, Record};
use qun_protocol::group::Visibility;
use qun_protocol::{AuthorId, GroupId};

use crate::NodeEvent;
use crate::event_loop::bounded::BoundedSet;
use crate::event_loop::{EventLoop, Timer, now_ms};
use crate::net::{Multiaddr, PeerId, ProviderRecord, QueryId};

/// How soon an announcement round runs again after a keyword announcement failed.
const PROVIDE_RETRY: Duration = Duration::from_secs(30);

/// What a Kademlia query we started is for.
pub(crate) enum KadQuery {
    /// Providers of one token of a search; `sources` counts the answers that named some.
    Providers { search: u64, sources: usize },
    /// A group's card.
    Card {
        group: GroupId,
        best: Option<Box<ProvenCard>>,
    },
    /// An author's profile.
    Profile {
        author: AuthorId,
        best: Option<SignedProfile>,
    },
    /// The put of a short invite's record (waiting in `short_invite::ShortInvites::puts`).
    PutInvite,
    /// The lookup of a short invite's record (in `short_invite::ShortInvites::lookups`).
    InviteRecord,
}

impl EventLoop {
    /// An announcement of ours as a provider failed: try this key again soon rather than
    /// at the next round (only this key: re-announcing everything on a busy network makes
    /// it busier).
    pub(crate) fn provide_failed(&mut self, key: Vec<u8>) {
        let at = *self
            .disc
            .dht
            .provide_retry
            .entry(key)
            .or_insert_with(|| Instant::now() + PROVIDE_RETRY);
        self.timers.at(at, Timer::Provides);
    }

    /// A put of ours ended: the put of a short invite is answered.
    pub(crate) fn put_done(&mut self, query: QueryId, result: Result<(), String>) {
        if matches!(self.disc.kad_queries.get(&query), Some(KadQuery::PutInvite)) {
            self.disc.kad_queries.remove(&query);
            if let Some(p) = self.disc.short.puts.remove(&query) {
                self.short_invite_put(p, result);
            }
        }
    }

    /// A query of ours ended.
    pub(crate) fn query_done(&mut self, query: QueryId, requests: u32) {
        if let Some(q) = self.disc.kad_queries.remove(&query) {
            self.kad_done(query, q, requests);
        }
    }

    /// A peer entered the routing table.
    pub(crate) fn routing_updated(&mut self) {
        if self.disc.dht.routing_empty {
            // The first peer in the table: publish what waited for one, and look up the
            // short codes that waited for one.
            self.disc.dht.routing_empty = false;
            self.schedule_announce(Duration::from_millis(500));
            self.start_waiting_short_joins();
        }
    }

    /// Marks a peer that sent invalid DHT input.
    pub(crate) fn penalise(&mut self, peer: PeerId, reason: String) {
        tracing::warn!(%peer, %reason, "invalid DHT input");
        self.emit(NodeEvent::Rejected {
            peer: peer.to_string(),
            reason,
        });
        self.disc.dht.bad_peers.insert(peer);
        self.net.dht_remove_peer(&peer);
        self.net.disconnect(peer);
    }

    pub(crate) fn record_put_to_us(&mut self, source: PeerId, rec: crate::net::Record) {
        if self.disc.dht.bad_peers.contains(&source) {
            return;
        }
        let now = now_ms();
        let new = match record::validate(rec.key(), rec.value(), now) {
            Ok(r) => r,
            Err(e) => return self.penalise(source, format!("DHT record refused: {e}")),
        };
        if !self.net.dht_enabled() {
            return;
        }
        let older = self
            .net
            .stored_value(rec.key())
            .and_then(|old| record::validate(rec.key(), &old, now).ok())
            .is_some_and(|old| !new.is_newer_than(&old));
        if older {
            return;
        }
        self.net.store_record(rec);
        self.hold_if_ours(new);
    }

    /// Keeps a newer card of a group we are in, or a newer profile we hold.
    fn hold_if_ours(&mut self, rec: Record) {
        let res = match rec {
            Record::Card(c) => match c.value.group() {
                Ok(g) if self.signed_by_admin(&g, &c) => self.hold_card(&g, &c),
                _ => Ok(()),
            },
            Record::Profile(p) => match self.records.profile(&p.signer) {
                Ok(Some(old)) if p.is_newer_than(&old) => self.records.put_profile(&p),
                _ => Ok(()),
            },
            Record::Invite(_) => Ok(()),
        };
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not keep a DHT record");
        }
    }

    /// Whether `group` is ours and our fold makes `card`'s signer its owner or an admin
    /// (a stranger cannot tell a demoted admin's card or a former owner's forged chain;
    /// we can, and do not republish them).
    fn signed_by_admin(&self, group: &GroupId, card: &ProvenCard) -> bool {
        self.groups
            .get(group)
            .is_some_and(|rt| rt.state.is_admin(&card.signer))
    }

    /// Holds `card` for `group` if it is newer than the one held.
    pub(crate) fn hold_card(
        &mut self,
        group: &GroupId,
        card: &ProvenCard,
    ) -> Result<(), crate::store::Error> {
        match self.records.card(group)? {
            Some(old) if !card.is_newer_than(&old) => Ok(()),
            _ => {
                // Its member addresses are worth knowing after a restart.
                for bytes in &card.value.addrs {
                    if let Ok(addr) = Multiaddr::try_from(bytes.clone())
                        && let Some((peer, bare)) = crate::peers::split_p2p(&addr)
                    {
                        self.learn_peer(peer, [bare], crate::peers::Source::Card);
                    }
                }
                self.records.put_card(group, card)
            }
        }
    }

    pub(crate) fn provider_put_to_us(&mut self, rec: ProviderRecord) {
        if self.disc.dht.bad_peers.contains(&rec.provider()) {
            return;
        }
        if let Err(e) = record::validate_provider_key(rec.key()) {
            return self.penalise(rec.provider(), format!("provider record refused: {e}"));
        }
        self.net.store_provider(rec);
    }

    /// A provider lookup of a search found providers.
    pub(crate) fn providers_found(&mut self, id: QueryId, providers: HashSet<PeerId>) {
        let enough = self.config.search_provider_sources;
        if let Some(KadQuery::Providers { search, sources }) = self.disc.kad_queries.get_mut(&id) {
            let search = *search;
            if !providers.is_empty() {
                *sources += 1;
            }
            let done = enough.is_some_and(|n| *sources >= n);
            self.search_found_providers(search, providers);
            if done {
                self.net.finish_query(id);
            }
        }
    }

    /// A record lookup of ours found a copy: checked, and the newest valid one kept.
    pub(crate) fn record_found(
        &mut self,
        id: QueryId,
        peer: Option<PeerId>,
        key: &[u8],
        value: &[u8],
    ) {
        if peer.is_some_and(|p| self.disc.dht.bad_peers.contains(&p)) {
            return;
        }
        let checked = record::validate(key, value, now_ms());
        let rec = match checked {
            Ok(r) => r,
            // A short invite that expired since the peer stored it: the joiner is told.
            Err(qun_protocol::discovery::Error::Expired {
                expires_ms,
                now_ms: now,
            }) => {
                if let Some(j) = self.disc.short.lookups.get_mut(&id) {
                    j.error = Some(qun_protocol::invite::Error::Expired {
                        expires_ms,
                        now_ms: now,
                    });
                }
                return;
            }
            Err(e) => {
                if let Some(p) = peer {
                    self.penalise(p, format!("DHT record refused: {e}"));
                }
                return;
            }
        };
        let opened = match (self.disc.kad_queries.get_mut(&id), rec) {
            (Some(KadQuery::Card { best, .. }), Record::Card(c)) => {
                if best.as_ref().is_none_or(|b| c.is_newer_than(b)) {
                    *best = Some(c);
                }
                false
            }
            (Some(KadQuery::Profile { best, .. }), Record::Profile(p)) => {
                if best.as_ref().is_none_or(|b| p.is_newer_than(b)) {
                    *best = Some(*p);
                }
                false
            }
            (Some(KadQuery::InviteRecord), Record::Invite(_)) => self
                .disc
                .short
                .lookups
                .get_mut(&id)
                .is_some_and(|j| Self::short_record_found(j, value)),
            _ => false,
        };
        // The first short invite record that opens ends its lookup.
        if opened {
            self.net.finish_query(id);
        }
    }

    fn kad_done(&mut self, id: QueryId, q: KadQuery, requests: u32) {
        match q {
            KadQuery::Providers { search, .. } => self.search_lookup_done(search, requests),
            KadQuery::Card { group, best } => self.card_lookup_done(group, best.map(|b| *b)),
            KadQuery::Profile { author, best } => self.profile_lookup_done(author, best),
            KadQuery::InviteRecord => {
                if let Some(j) = self.disc.short.lookups.remove(&id) {
                    self.short_join_lookup_done(j);
                }
            }
            // Answered when its put ended (see `put_done`).
            KadQuery::PutInvite => {
                if let Some(p) = self.disc.short.puts.remove(&id) {
                    self.short_invite_put(p, Err("the DHT query ended without an answer".into()));
                }
            }
        }
    }

    /// Starts a lookup of `group`'s card, unless one runs.
    pub(crate) fn lookup_card(&mut self, group: GroupId) -> bool {
        let running = |q: &KadQuery| matches!(q, KadQuery::Card { group: g, .. } if *g == group);
        let query = KadQuery::Card { group, best: None };
        self.lookup_record(card::record_key(&group), running, query)
    }

    /// Starts a lookup of `author`'s profile, unless one runs.
    pub(crate) fn lookup_profile(&mut self, author: AuthorId) -> bool {
        let running =
            |q: &KadQuery| matches!(q, KadQuery::Profile { author: a, .. } if *a == author);
        let query = KadQuery::Profile { author, best: None };
        self.lookup_record(profile::record_key(&author), running, query)
    }

    /// Starts `get_record(key)` for `query` unless a query `running` says so is under way;
    /// false when the DHT is off.
    fn lookup_record(
        &mut self,
        key: Vec<u8>,
        running: impl Fn(&KadQuery) -> bool,
        query: KadQuery,
    ) -> bool {
        if self.disc.kad_queries.values().any(running) {
            return true;
        }
        let Some(id) = self.net.get_record(&key) else {
            return false;
        };
        self.disc.kad_queries.insert(id, query);
        true
    }

    fn card_lookup_done(&mut self, group: GroupId, best: Option<ProvenCard>) {
        // A member without its group's card would announce keywords it cannot answer:
        // look again soon rather than at the next round.
        if best.is_none()
            && self.groups.contains_key(&group)
            && matches!(self.records.card(&group), Ok(None))
        {
            let at = *self
                .disc
                .dht
                .card_retry
                .entry(group)
                .or_insert_with(|| Instant::now() + PROVIDE_RETRY);
            self.timers.at(at, Timer::Provides);
        }
        if let Some(c) = &best {
            self.disc.found_cards.insert(group, c.clone());
            if self.signed_by_admin(&group, c)
                && let Err(e) = self.hold_card(&group, c)
            {
                tracing::warn!(error = %e, "could not keep a card");
            }
        }
        self.card_waiters_done(group, best);
    }

    /// Puts a record to the DHT (stored locally too).
    pub(crate) fn put_record(&mut self, key: Vec<u8>, value: Vec<u8>) {
        if let Err(e) = self.net.put_record(key, value, None) {
            tracing::debug!(error = %e, "DHT put failed");
        }
    }

    /// Our listen addresses with our peer id, routable ones first, as binary multiaddrs.
    pub(crate) fn own_addrs_bin(&self, max: usize) -> Vec<Vec<u8>> {
        let mut addrs: Vec<&Multiaddr> = self.net.listen_addrs().iter().collect();
        addrs.sort_by_key(|a| crate::peers::is_loopback(a));
        addrs
            .into_iter()
            .map(|a| self.net.with_our_id(a).to_vec())
            .filter(|a| a.len() <= qun_protocol::limits::MAX_ADDR_BYTES)
            .take(max)
            .collect()
    }

    /// Looks up again the cards, and announces again the keyword keys, whose retry time
    /// has come (if still ours).
    pub(crate) fn retry_provides(&mut self) {
        for g in take_due(&mut self.disc.dht.card_retry) {
            if self.groups.contains_key(&g) {
                self.lookup_card(g);
            }
        }
        let due = take_due(&mut self.disc.dht.provide_retry);
        if due.is_empty() {
            return;
        }
        let ours: std::collections::HashSet<Vec<u8>> = self
            .disc
            .dht
            .provided
            .values()
            .flatten()
            .map(|t| keywords::provider_key(t))
            .collect();
        for k in due {
            if ours.contains(&k)
                && let Err(e) = self.net.start_providing(&k)
            {
                tracing::debug!(error = %e, "could not provide a keyword");
            }
        }
    }

    /// Stops announcing a group we left, and forgets its card.
    pub(crate) fn forget_discovery(&mut self, g: &GroupId) {
        let tokens = self.disc.dht.provided.remove(g).unwrap_or_default();
        for t in &tokens {
            self.net.stop_providing(&keywords::provider_key(t));
        }
        if let Err(e) = self.records.remove_card(g) {
            tracing::warn!(error = %e, "could not forget a card");
        }
    }

    /// Asks for an announcement round after `delay` (keeps an earlier one).
    pub(crate) fn schedule_announce(&mut self, delay: Duration) {
        let at = Instant::now() + delay;
        if self.disc.dht.announce_at.is_none_or(|t| t > at) {
            self.disc.dht.announce_at = Some(at);
            self.timers.at(at, Timer::Announce);
        }
    }

    /// One announcement round: cards, keyword providers, profile.
    pub(crate) fn announce_all(&mut self) {
        let next = Instant::now() + self.config.discovery_interval;
        self.disc.dht.announce_at = Some(next);
        self.timers.at(next, Timer::Announce);
        if !self.net.dht_enabled() {
            return;
        }
        let groups: Vec<GroupId> = self.groups.keys().copied().collect();
        for g in groups {
            if let Err(e) = self.announce_group(g) {
                tracing::warn!(group = %g, error = %e, "could not announce group");
            }
        }
        let me = self.identity.author();
        if let Ok(Some(p)) = self.records.profile(&me)
            && let Ok(bytes) = p.encode(qun_protocol::limits::MAX_PROFILE_BYTES)
        {
            self.put_record(profile::record_key(&me), bytes);
        }
        self.republish_short_invites();
    }

    fn announce_group(&mut self, g: GroupId) -> Result<(), crate::Error> {
        let Some(rt) = self.groups.get(&g) else {
            return Ok(());
        };
        if rt.record.genesis.genesis.visibility == Visibility::Private {
            return Ok(());
        }
        // The owner and admins sign cards; everyone looks for a newer one (an admin also
        // for the owner's newest roster).
        let admin = rt.state.is_admin(&self.identity.author());
        let owner = rt.state.is_owner(&self.identity.author());
        let tokens = keywords::index_tokens(&rt.state.name, &rt.state.tags);
        if admin {
            self.refresh_card(g)?;
        }
        if !owner {
            self.lookup_card(g);
        }
        if let Some(c) = self.records.card(&g)? {
            let bytes = c.encode()?;
            self.put_record(card::record_key(&g), bytes);
        }
        if !self.net.dht_enabled() {
            return Ok(());
        }
        let old = self
            .disc
            .dht
            .provided
            .insert(g, tokens.clone())
            .unwrap_or_default();
        for t in old.iter().filter(|t| !tokens.contains(t)) {
            self.net.stop_providing(&keywords::provider_key(t));
        }
        tracing::debug!(group = %g, tokens = tokens.len(), "announcing group");
        for t in &tokens {
            if let Err(e) = self.net.start_providing(&keywords::provider_key(t)) {
                tracing::debug!(error = %e, "could not provide a keyword");
            }
        }
        Ok(())
    }
}

/// Removes and returns the entries of `map` whose time has come.
fn take_due<K: Clone + Eq + std::hash::Hash>(map: &mut HashMap<K, Instant>) -> Vec<K> {
    let now = Instant::now();
    let due: Vec<K> = map
        .iter()
        .filter(|(_, t)| **t <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for k in &due {
        map.remove(k);
    }
    due
}

/// Peers whose invalid DHT input is ignored, at most (the oldest is forgotten first; it is
/// banned again by its next invalid input).
pub const MAX_BAD_DHT_PEERS: usize = 4096;

/// The DHT room's state (its queries are in `Discovery::kad_queries`).
pub(crate) struct Dht {
    /// Peers that sent invalid DHT input; their DHT input is ignored (at most
    /// [`MAX_BAD_DHT_PEERS`]).
    pub bad_peers: BoundedSet<PeerId>,
    /// Keyword tokens we provide, per group.
    pub provided: HashMap<GroupId, Vec<String>>,
    /// When the next announcement round is due.
    pub announce_at: Option<Instant>,
    /// The routing table has had no peer yet.
    pub routing_empty: bool,
    /// Groups of ours whose card lookup found nothing, and when to look again.
    pub card_retry: HashMap<GroupId, Instant>,
    /// Keyword keys whose announcement failed, and when to try again.
    pub provide_retry: HashMap<Vec<u8>, Instant>,
}

impl Default for Dht {
    fn default() -> Self {
        Self {
            bad_peers: BoundedSet::new(MAX_BAD_DHT_PEERS),
            provided: HashMap::new(),
            announce_at: None,
            routing_empty: true,
            card_retry: HashMap::new(),
            provide_retry: HashMap::new(),
        }
    }
}
