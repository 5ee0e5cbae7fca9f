//! Network input: [`net::Event`]s, dispatched to their handlers; gossiped frames are
//! validated here.
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

use qun_protocol::frame;

use super::{EventLoop, now_ms};
use crate::NodeEvent;
use crate::net::{Event, Gossip, Verdict};
use crate::peers::Source;

impl EventLoop {
    pub(crate) fn handle_net_event(&mut self, event: Event) {
        match event {
            Event::Gossip(g) => {
                let verdict = self.validate_frame(&g);
                self.net.report(&g.id, &g.source, verdict);
            }
            Event::Subscribed { peer, topic } => {
                if let Some(group) = self.topics.get(&topic).copied() {
                    self.start_sync(peer, group);
                }
                if self.outbox.contains_key(&topic) {
                    self.retry_outbox(Some(topic));
                }
            }
            Event::Identified {
                peer,
                listen_addrs,
                dht,
            } => {
                // Only peers that speak our DHT go into its routing table.
                if dht && !self.disc.bad_peers.contains(&peer) {
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
                self.sessions.retain(|(p, _), _| *p != peer);
                self.emit(NodeEvent::PeerDisconnected {
                    peer: peer.to_string(),
                });
            }
            Event::SyncRequest {
                peer,
                request,
                responder,
            } => self.serve_sync(peer, request, responder),
            Event::SyncResponse { id, response } => self.on_sync_answer(id, response),
            Event::SyncFailed { id, peer, error } => self.on_sync_failure(id, peer, &error),
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
        let Some(group) = self.topics.get(&g.topic).copied() else {
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
}
