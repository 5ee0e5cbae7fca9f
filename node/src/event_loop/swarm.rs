//! Network input: swarm events, translated into store writes and [`NodeEvent`]s.
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

use libp2p::gossipsub::{self, MessageAcceptance};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, identify, mdns};
use qun_protocol::frame;

use super::{EventLoop, now_ms};
use crate::NodeEvent;
use crate::net::BehaviourEvent;
use crate::peers::Source;

impl EventLoop {
    pub(crate) fn handle_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.handle_gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.handle_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Discovery(e)) => self.handle_discovery(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.handle_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Only peers that speak our DHT go into its routing table.
                let dht_peer = info.protocols.contains(&crate::net::KAD_PROTOCOL)
                    && !self.disc.bad_peers.contains(&peer_id);
                if dht_peer && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    for addr in &info.listen_addrs {
                        kad.add_address(&peer_id, addr.clone());
                    }
                }
                self.disc
                    .listen_of
                    .insert(peer_id, info.listen_addrs.iter().take(8).cloned().collect());
                // Kept in memory; written with the next batch (no store write per event).
                let addrs: Vec<_> = info
                    .listen_addrs
                    .iter()
                    .take(crate::peers::MAX_PEER_ADDRS)
                    .cloned()
                    .collect();
                self.learn_peer(peer_id, addrs, Source::Identify);
                self.known.connected(&peer_id, now_ms());
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                for (peer, addr) in list {
                    self.learn_peer(peer, [addr.clone()], Source::Mdns);
                    if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                        kad.add_address(&peer, addr.clone());
                    }
                    if !self.swarm.is_connected(&peer) {
                        let _ = self.swarm.dial(addr);
                    }
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                self.known.connected(&peer_id, now_ms());
                let addrs = self.connected.entry(peer_id).or_default();
                let first = addrs.is_empty();
                addrs.push(endpoint.get_remote_address().clone());
                if first {
                    tracing::debug!(%peer_id, "peer connected");
                    self.emit(NodeEvent::PeerConnected {
                        peer: peer_id.to_string(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.connected.remove(&peer_id);
                    self.disc.listen_of.remove(&peer_id);
                    self.limits
                        .disconnected(&peer_id, std::time::Instant::now());
                    self.sessions.retain(|(p, _), _| *p != peer_id);
                    self.emit(NodeEvent::PeerDisconnected {
                        peer: peer_id.to_string(),
                    });
                } else if let Some(addrs) = self.connected.get_mut(&peer_id) {
                    let gone = endpoint.get_remote_address();
                    if let Some(i) = addrs.iter().position(|a| a == gone) {
                        addrs.remove(i);
                    }
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "outgoing connection failed");
            }
            _ => {}
        }
    }

    fn handle_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                let verdict = self.validate_frame(&propagation_source, &message);
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&message_id, &propagation_source, verdict);
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(%peer_id, %topic, "peer subscribed");
                if let Some(group) = self.topics.get(&topic).copied() {
                    self.start_sync(peer_id, group);
                }
                if self.outbox.contains_key(&topic) {
                    self.retry_outbox(Some(topic));
                }
            }
            _ => {}
        }
    }

    /// The single validation path for gossiped frames.
    fn validate_frame(
        &mut self,
        source: &PeerId,
        message: &gossipsub::Message,
    ) -> MessageAcceptance {
        let Some(group) = self.topics.get(&message.topic).copied() else {
            return MessageAcceptance::Ignore;
        };
        let Some(rt) = self.groups.get(&group) else {
            return MessageAcceptance::Ignore;
        };
        let opened = frame::open(&message.data, &group, |e| rt.keys.get(&e).cloned());
        let msg = match opened {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(peer = %source, %group, error = %e, "rejected frame");
                self.emit(NodeEvent::Rejected {
                    peer: source.to_string(),
                    reason: e.to_string(),
                });
                return if e.is_sender_fault() {
                    MessageAcceptance::Reject
                } else {
                    MessageAcceptance::Ignore
                };
            }
        };
        if self.stamp_acceptable(&msg).is_ok() {
            self.sample_clock(&msg);
        }
        if super::catchup::before_history(rt_history(self, &group), &msg.order_key()) {
            tracing::debug!(%group, id = %msg.id, "frame from before our history starts");
            return MessageAcceptance::Ignore;
        }
        match self.accept(&msg) {
            Ok(true) => MessageAcceptance::Accept,
            Ok(false) => MessageAcceptance::Ignore,
            Err(e) => {
                tracing::error!(error = %e, "could not store message");
                MessageAcceptance::Ignore
            }
        }
    }
}

/// Where the history of `group` starts, for a group joined with history since join.
fn rt_history(lp: &EventLoop, group: &qun_protocol::GroupId) -> Option<crate::store::HistoryFrom> {
    lp.groups.get(group).and_then(|rt| rt.history)
}
