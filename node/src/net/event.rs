//! [`Event`]: what the network tells the node, in the node's terms.
//!
//! This is the one place where libp2p's event enums (`SwarmEvent`, `gossipsub::Event`,
//! `kad::Event`, request-response events, identify, mDNS) are matched. Each becomes zero,
//! one or two [`Event`]s made of plain identifiers (peer ids, addresses, topic hashes,
//! request and query ids) and our wire types; facts only the network needs (listen
//! addresses, open connections, addresses peers report) are kept by [`super::Net`] itself.

use std::collections::HashSet;

use libp2p::gossipsub::{self, MessageId, TopicHash};
use libp2p::kad::{self, GetRecordOk, InboundRequest, QueryResult};
use libp2p::request_response::{self, Message, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identify, mdns};
use qun_protocol::discovery::wire as disc;
use qun_protocol::sync;

use super::behaviour::{BehaviourEvent, KAD_PROTOCOL};
use super::{Net, QueryId, RequestId};

/// Where to send the answer to a request a peer made of us (pass it back to
/// [`Net::respond_sync`] or [`Net::respond_discovery`]).
pub(crate) struct Responder<T>(pub(super) ResponseChannel<T>);

/// A record a peer asks us to store (Kademlia put, checked before it is stored).
pub(crate) struct Record(pub(super) kad::Record);

impl Record {
    /// The record's key.
    pub fn key(&self) -> &[u8] {
        self.0.key.as_ref()
    }
    /// The record's value.
    pub fn value(&self) -> &[u8] {
        &self.0.value
    }
}

/// A provider announcement a peer asks us to store (checked before it is stored).
pub(crate) struct ProviderRecord(pub(super) kad::ProviderRecord);

impl ProviderRecord {
    /// The key provided.
    pub fn key(&self) -> &[u8] {
        self.0.key.as_ref()
    }
    /// Who provides it.
    pub fn provider(&self) -> PeerId {
        self.0.provider
    }
}

/// A gossiped frame, held for validation: answer it with [`Net::report`].
pub(crate) struct Gossip {
    /// The peer that forwarded it to us (not its author).
    pub source: PeerId,
    /// Gossipsub's id of it (SHA-256 of the frame).
    pub id: MessageId,
    /// The topic it came on.
    pub topic: TopicHash,
    /// The frame.
    pub data: Vec<u8>,
}

/// What the network tells the node.
pub(crate) enum Event {
    /// A gossiped frame to validate.
    Gossip(Gossip),
    /// A peer subscribed to a topic.
    Subscribed { peer: PeerId, topic: TopicHash },
    /// A connection with `peer` was established (`first`: no other one was open).
    Connected { peer: PeerId, first: bool },
    /// The last connection with `peer` closed.
    Disconnected { peer: PeerId },
    /// A peer told us its listen addresses (identify); `dht`: it speaks our Kademlia.
    Identified {
        peer: PeerId,
        listen_addrs: Vec<Multiaddr>,
        dht: bool,
    },
    /// Peers found on the LAN (mDNS).
    Lan(Vec<(PeerId, Multiaddr)>),
    /// A sync request from a peer.
    SyncRequest {
        peer: PeerId,
        request: sync::Request,
        responder: Responder<sync::Response>,
    },
    /// The answer to one of our sync requests.
    SyncResponse {
        id: RequestId,
        response: sync::Response,
    },
    /// One of our sync requests failed (no answer, connection lost, refused stream).
    SyncFailed {
        id: RequestId,
        peer: PeerId,
        error: String,
    },
    /// A discovery request from a peer.
    DiscoveryRequest {
        peer: PeerId,
        request: disc::Request,
        responder: Responder<disc::Response>,
    },
    /// The answer to one of our discovery requests.
    DiscoveryResponse {
        peer: PeerId,
        id: RequestId,
        response: disc::Response,
    },
    /// One of our discovery requests failed.
    DiscoveryFailed {
        peer: PeerId,
        id: RequestId,
        error: String,
    },
    /// A peer puts a record to us (to check, then [`Net::store_record`]).
    RecordPut { source: PeerId, record: Record },
    /// A peer announces itself as a provider (to check, then [`Net::store_provider`]).
    ProviderPut { record: ProviderRecord },
    /// An announcement of ours as a provider of `key` failed.
    ProvideFailed { key: Vec<u8> },
    /// A put of ours ended (`Err` says why no peer stored it).
    PutDone {
        query: QueryId,
        result: Result<(), String>,
    },
    /// A provider lookup of ours found providers.
    ProvidersFound {
        query: QueryId,
        providers: HashSet<PeerId>,
    },
    /// A record lookup of ours found a copy (`peer`: who served it, `None`: our own store).
    RecordFound {
        query: QueryId,
        peer: Option<PeerId>,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// A query of ours ended, after `requests` requests.
    QueryDone { query: QueryId, requests: u32 },
    /// A peer entered the DHT routing table.
    RoutingUpdated,
}

impl Net {
    /// Turns one swarm event into events for the node (queued in `self.pending`), and
    /// keeps the facts the network itself holds.
    pub(super) fn translate(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => self.gossip(e),
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Discovery(e)) => self.discovery(e),
            SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => self.on_kad(e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                self.reported
                    .insert(peer_id, info.listen_addrs.iter().take(8).cloned().collect());
                self.push(Event::Identified {
                    peer: peer_id,
                    dht: info.protocols.contains(&KAD_PROTOCOL),
                    listen_addrs: info.listen_addrs,
                });
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(list))) => {
                self.push(Event::Lan(list));
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
                let addrs = self.connected.entry(peer_id).or_default();
                let first = addrs.is_empty();
                addrs.push(endpoint.get_remote_address().clone());
                if first {
                    tracing::debug!(%peer_id, "peer connected");
                }
                self.push(Event::Connected {
                    peer: peer_id,
                    first,
                });
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.connected.remove(&peer_id);
                    self.reported.remove(&peer_id);
                    self.push(Event::Disconnected { peer: peer_id });
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

    fn push(&mut self, e: Event) {
        self.pending.push_back(e);
    }

    fn gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => self.push(Event::Gossip(Gossip {
                source: propagation_source,
                id: message_id,
                topic: message.topic,
                data: message.data,
            })),
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(%peer_id, %topic, "peer subscribed");
                self.push(Event::Subscribed {
                    peer: peer_id,
                    topic,
                });
            }
            _ => {}
        }
    }

    fn sync(&mut self, event: request_response::Event<sync::Request, sync::Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => self.push(Event::SyncRequest {
                    peer,
                    request,
                    responder: Responder(channel),
                }),
                Message::Response {
                    request_id,
                    response,
                } => self.push(Event::SyncResponse {
                    id: request_id,
                    response,
                }),
            },
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => self.push(Event::SyncFailed {
                id: request_id,
                peer,
                error: error.to_string(),
            }),
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "sync response failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn discovery(&mut self, event: request_response::Event<disc::Request, disc::Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                Message::Request {
                    request, channel, ..
                } => self.push(Event::DiscoveryRequest {
                    peer,
                    request,
                    responder: Responder(channel),
                }),
                Message::Response {
                    request_id,
                    response,
                } => self.push(Event::DiscoveryResponse {
                    peer,
                    id: request_id,
                    response,
                }),
            },
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => self.push(Event::DiscoveryFailed {
                peer,
                id: request_id,
                error: error.to_string(),
            }),
            _ => {}
        }
    }

    fn on_kad(&mut self, event: kad::Event) {
        match event {
            kad::Event::InboundRequest { request } => match request {
                InboundRequest::PutRecord {
                    source,
                    record: Some(record),
                    ..
                } => self.push(Event::RecordPut {
                    source,
                    record: Record(record),
                }),
                InboundRequest::AddProvider {
                    record: Some(record),
                } => self.push(Event::ProviderPut {
                    record: ProviderRecord(record),
                }),
                _ => {}
            },
            kad::Event::OutboundQueryProgressed {
                id,
                result,
                stats,
                step,
            } => {
                self.query_progress(id, result);
                if step.last {
                    self.push(Event::QueryDone {
                        query: id,
                        requests: stats.num_requests(),
                    });
                }
            }
            kad::Event::RoutingUpdated { peer, .. } => {
                tracing::trace!(%peer, "kad routing updated");
                self.push(Event::RoutingUpdated);
            }
            _ => {}
        }
    }

    fn query_progress(&mut self, query: QueryId, result: QueryResult) {
        match result {
            QueryResult::StartProviding(Err(e)) => {
                tracing::debug!(error = %e, "keyword announcement failed");
                self.push(Event::ProvideFailed {
                    key: e.key().to_vec(),
                });
            }
            QueryResult::PutRecord(res) => self.push(Event::PutDone {
                query,
                result: res.map(|_| ()).map_err(|e| e.to_string()),
            }),
            QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                providers,
                ..
            })) => self.push(Event::ProvidersFound { query, providers }),
            QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(found))) => {
                self.push(Event::RecordFound {
                    query,
                    peer: found.peer,
                    key: found.record.key.to_vec(),
                    value: found.record.value,
                })
            }
            _ => {}
        }
    }
}
