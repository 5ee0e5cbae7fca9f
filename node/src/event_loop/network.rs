//! The network room's side in the event loop: [`net::Event`]s dispatched to their
//! handlers (gossiped frames are validated here), the network commands, and the known
//! peers.
//!
//! ## Known peers
//! Peers met (identify), named by invites and cards, configured (bootstrap) or found on the
//! LAN go into [`crate::peers::Table`], which is kept on disk. One redial timer dials the
//! ones wanted, with backoff: bootstrap peers always, members of a group with no connected
//! member, and any known peer while the node has few connections; so a restarted node is
//! back in its groups without `--bootstrap`.
//!
//! ## Gossip validation
//!
//! Every gossipsub message is validated here before anything is stored or forwarded:
//! topic → group, epoch key, decrypt, decode, `verify_strict`, group and epoch match,
//! limits. Valid and new → stored, then Accept (gossipsub forwards it). Already stored →
//! Ignore. Invalid → Reject, which lowers the forwarding peer's score. A frame for an epoch
//! we hold no key for → Ignore (it may be honest).
//!
//! A valid frame stamped more than `order::MAX_SKEW_MS` ahead of our clock → Ignore: not
//! stored, not forwarded, no clock moved; a later sync brings it once our clock caught up.
//! Not Reject: the forwarding peer is not its author, and an honest author's clock may just
//! be fast. In a group joined with history since join, a frame from before the join (one
//! a member kept in its outbox while alone) → Ignore, as sync would skip it.
//!
//! A valid frame the group state refuses (a post by a member after its leave op,
//! `group::State::admits`) → Ignore, not Reject: neither stored nor forwarded, but the
//! forwarding peer is not penalised, because whether a post is refused depends on which
//! membership ops the receiver holds (an honest relay may lack the leave, and we may lack
//! a rejoin that admits the post; sync brings it again then).

use std::collections::HashSet;
use std::time::Instant;

use qun_protocol::{GroupId, frame};

use super::{EventLoop, now_ms};
use crate::net::{self, Event, Gossip, Multiaddr, PeerId, Verdict};
use crate::peers::{self, Source};
use crate::view::{IdInfo, NetStats, PeerInfo};
use crate::{NetCmd, NodeEvent};

impl EventLoop {
    pub(crate) fn handle_net_event(&mut self, event: Event) {
        match event {
            Event::Gossip(g) => {
                let verdict = self.validate_frame(&g);
                self.net.report(&g.id, &g.source, verdict);
            }
            Event::Subscribed { peer, topic } => {
                if let Some(group) = self.groups.by_topic(&topic) {
                    self.start_sync(peer, group);
                }
                self.publish.retry_outbox(&mut self.net, Some(topic));
            }
            Event::Identified {
                peer,
                listen_addrs,
                dht,
            } => {
                // Only peers that speak our DHT go into its routing table.
                if dht && !self.disc.dht.bad_peers.contains(&peer) {
                    for addr in &listen_addrs {
                        self.net.dht_add_address(&peer, addr.clone());
                    }
                }
                // Kept in memory; written with the next batch (no store write per event).
                let addrs: Vec<_> = listen_addrs
                    .into_iter()
                    .take(crate::peers::MAX_PEER_ADDRS)
                    .collect();
                self.learn_peer(peer, addrs, Source::Identify);
                self.known.connected(&peer, now_ms());
            }
            Event::Lan(list) => {
                for (peer, addr) in list {
                    self.learn_peer(peer, [addr.clone()], Source::Mdns);
                    self.net.dht_add_address(&peer, addr.clone());
                    if !self.net.is_connected(&peer) {
                        let _ = self.net.dial(addr);
                    }
                }
            }
            Event::Connected { peer, first } => {
                self.known.connected(&peer, now_ms());
                if first {
                    self.emit(NodeEvent::PeerConnected {
                        peer: peer.to_string(),
                    });
                }
            }
            Event::Disconnected { peer } => {
                self.limits.disconnected(&peer, std::time::Instant::now());
                self.sync.abort(&peer);
                self.emit(NodeEvent::PeerDisconnected {
                    peer: peer.to_string(),
                });
            }
            Event::SyncRequest {
                peer,
                request,
                responder,
            } => self.handle_sync_request(peer, request, responder),
            Event::SyncResponse { id, response } => self.handle_sync_answer(id, response),
            Event::SyncFailed { id, peer, error } => self.handle_sync_failure(id, peer, &error),
            Event::DiscoveryRequest {
                peer,
                request,
                responder,
            } => self.serve_discovery(peer, request, responder),
            Event::DiscoveryResponse { peer, id, response } => {
                self.on_discovery_response(peer, id, response)
            }
            Event::DiscoveryFailed { peer, id, error } => {
                self.on_discovery_failure(peer, id, &error)
            }
            Event::RecordPut { source, record } => self.record_put_to_us(source, record),
            Event::ProviderPut { record } => self.provider_put_to_us(record),
            Event::ProvideFailed { key } => self.provide_failed(key),
            Event::PutDone { query, result } => self.put_done(query, result),
            Event::ProvidersFound { query, providers } => self.providers_found(query, providers),
            Event::RecordFound {
                query,
                peer,
                key,
                value,
            } => self.record_found(query, peer, &key, &value),
            Event::QueryDone { query, requests } => self.query_done(query, requests),
            Event::RoutingUpdated => self.routing_updated(),
        }
    }

    /// The single validation path for gossiped frames.
    fn validate_frame(&mut self, g: &Gossip) -> Verdict {
        let source = &g.source;
        let Some(group) = self.groups.by_topic(&g.topic) else {
            return Verdict::Ignore;
        };
        let Some(rt) = self.groups.get(&group) else {
            return Verdict::Ignore;
        };
        let opened = frame::open(&g.data, &group, |e| rt.keys.get(&e).cloned());
        let msg = match opened {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(peer = %source, %group, error = %e, "rejected frame");
                self.emit(NodeEvent::Rejected {
                    peer: source.to_string(),
                    reason: e.to_string(),
                });
                return if e.is_sender_fault() {
                    Verdict::Reject
                } else {
                    Verdict::Ignore
                };
            }
        };
        if self.stamp_acceptable(&msg).is_ok() {
            self.sample_clock(&msg);
        }
        let history = self.groups.get(&group).and_then(|rt| rt.history);
        if super::catchup::before_history(history, &msg.order_key()) {
            tracing::debug!(%group, id = %msg.id, "frame from before our history starts");
            return Verdict::Ignore;
        }
        match self.accept(&msg) {
            Ok(true) => Verdict::Accept,
            Ok(false) => Verdict::Ignore,
            Err(e) => {
                tracing::error!(error = %e, "could not store message");
                Verdict::Ignore
            }
        }
    }

    pub(crate) fn handle_net_cmd(&mut self, cmd: NetCmd) {
        match cmd {
            NetCmd::Id(r) => drop(r.send(Ok(self.id_info()))),
            NetCmd::Peers(r) => drop(r.send(Ok(self.peer_infos()))),
            NetCmd::PeerScore { peer, reply } => drop(reply.send(Ok(self.net.peer_score(&peer)))),
            NetCmd::Dial { addr, reply } => {
                let res = self.net.dial(addr.into()).map_err(crate::Error::Network);
                drop(reply.send(res))
            }
            NetCmd::Stats(r) => drop(r.send(Ok(self.net_stats()))),
        }
    }

    fn net_stats(&self) -> NetStats {
        let mut stats = NetStats {
            connected_peers: self.net.connected().len(),
            ..NetStats::default()
        };
        if let Some(text) = self.net.metrics_text() {
            stats.gossip_received =
                net::counter_total(&text, "topic_msg_recv_counts_unfiltered_total");
            stats.gossip_unique = net::counter_total(&text, "topic_msg_recv_counts_total");
        }
        stats
    }

    fn id_info(&self) -> IdInfo {
        IdInfo {
            clock_offset_ms: self.skew.offset_ms(std::time::Instant::now()),
            peer_id: self.net.local_peer_id().to_string(),
            addrs: self
                .net
                .listen_addrs()
                .iter()
                .map(|a| self.net.with_our_id(a).to_string())
                .collect(),
        }
    }

    fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut out: Vec<PeerInfo> = self
            .net
            .connected()
            .iter()
            .map(|(p, addrs)| PeerInfo {
                peer_id: p.to_string(),
                addrs: addrs.iter().map(|a| a.to_string()).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.peer_id.cmp(&b.peer_id));
        out
    }

    /// One redial round (on the redial timer): writes the known peers that changed, then
    /// dials the known peers that are wanted and whose backoff is over. Wanted, in this
    /// order: bootstrap peers; members of a group none of whose members is connected; any
    /// known peer while fewer than [`peers::MIN_CONNECTED`] are connected.
    pub(crate) fn redial_round(&mut self) {
        self.write_known_peers();
        let few = self.net.connected().len() < peers::MIN_CONNECTED;
        let mut lonely_members: HashSet<PeerId> = HashSet::new();
        let lonely: Vec<GroupId> = self
            .groups
            .keys()
            .filter(|g| self.subscribed_peers(g).is_empty())
            .copied()
            .collect();
        for g in &lonely {
            if let Some(rt) = self.groups.get(g) {
                lonely_members.extend(rt.state.members.iter().filter_map(net::peer_id));
            }
        }
        let connected = self.net.connected();
        let due = self.known.due(
            Instant::now(),
            self.config.redial_interval,
            self.config.redial_max_backoff,
            peers::MAX_DIALS_PER_ROUND,
            |p, k| {
                if connected.contains_key(p) {
                    None
                } else if k.sources.has(Source::Bootstrap) {
                    Some(0)
                } else if lonely_members.contains(p) {
                    Some(1)
                } else if few {
                    Some(2)
                } else {
                    None
                }
            },
        );
        for (peer, addrs) in due {
            tracing::debug!(%peer, addrs = addrs.len(), "dialling a known peer");
            if let Err(e) = self.net.dial_peer(peer, addrs) {
                tracing::debug!(%peer, error = %e, "dial failed");
            }
        }
    }

    /// Writes the known peers that changed since the last write, in one batch, unflushed.
    pub(crate) fn write_known_peers(&mut self) {
        let (put, remove) = self.known.take_writes();
        if put.is_empty() && remove.is_empty() {
            return;
        }
        if let Err(e) = self.store.write_known_peers(put, remove) {
            tracing::warn!(error = %e, "could not write known peers");
        }
    }

    /// Learns addresses of a peer from `source`.
    pub(crate) fn learn_peer(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        source: Source,
    ) {
        let groups = &self.groups;
        self.known
            .learn(peer, addrs, source, now_ms(), &|p| groups.is_member(p));
    }

    /// Learns a `/…/p2p/PEER` address from `source` (addresses without a peer id are
    /// dialled but not kept) and dials it.
    pub(crate) fn learn_addr(&mut self, addr: &Multiaddr, source: Source) {
        if let Some((peer, bare)) = peers::split_p2p(addr) {
            self.learn_peer(peer, [bare], source);
        }
        self.dial_addr(addr.clone());
    }

    pub(crate) fn dial_addr(&mut self, addr: Multiaddr) {
        if let Some((peer, _)) = peers::split_p2p(&addr) {
            self.net.dht_add_address(&peer, addr.clone());
        }
        if let Err(e) = self.net.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "dial failed");
        }
    }

    /// Brings the connection limits' bypass list up to date: members of our private and
    /// listed groups (they needed an invite or an admin's approval) and the bootstrap peers.
    /// Members of public groups do not bypass: anyone can become one.
    pub(crate) fn refresh_trusted(&mut self) {
        let me = self.net.local_peer_id();
        let mut now: HashSet<PeerId> = self
            .known
            .iter()
            .filter(|(_, k)| k.sources.has(Source::Bootstrap))
            .map(|(p, _)| *p)
            .collect();
        for rt in self.groups.values() {
            if rt.record.genesis.genesis.visibility == qun_protocol::Visibility::Public {
                continue;
            }
            now.extend(rt.state.members.iter().filter_map(net::peer_id));
        }
        now.remove(&me);
        self.net.set_trusted(&self.trusted, &now);
        self.trusted = now;
    }
}
