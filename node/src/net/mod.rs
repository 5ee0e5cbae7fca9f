//! The network: the one owner of the libp2p swarm, and the wall around libp2p.
//!
//! [`Net`] holds the swarm and offers what the node asks of the network: publish and
//! subscribe, dial, DHT gets, puts and provider announcements, sync and discovery
//! requests and their answers, peer scores and bans, listen addresses. Its one input is
//! [`Net::next_event`] (as lighthouse's `next_event()`): every libp2p event is translated
//! there ([`event`]) into a [`Event`] of our own, so the rest of the node matches no
//! libp2p event type. Plain identifiers (`PeerId`, `Multiaddr`, `TopicHash`, request and
//! query ids) cross the wall as they are.
//!
//! * [`behaviour`]: the behaviours, their configuration and the swarm builder;
//! * [`codec`]: the request-response codecs of `/qun/sync/3` and `/qun/discovery/1`;
//! * `crate::addr`: [`Addr`], the address type clients see (a leaf module of its own).

pub mod behaviour;
pub mod codec;
pub mod event;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use futures::StreamExt;
use libp2p::gossipsub::{IdentTopic, PublishError as GsPublishError};
use libp2p::kad::{self, Quorum};
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{Swarm, identity::Keypair};
use prometheus_client::registry::Registry;
use qun_protocol::discovery::wire as disc;
use qun_protocol::{AuthorId, Identity, sync};

pub use crate::addr::Addr;
pub use behaviour::{Error, KAD_PROTOCOL, counter_total};
pub(crate) use event::{Event, Gossip, ProviderRecord, Record, Responder};
pub(crate) use libp2p::gossipsub::{MessageId, TopicHash};
pub(crate) use libp2p::kad::QueryId;
pub(crate) use libp2p::multiaddr::Protocol;
pub(crate) use libp2p::request_response::OutboundRequestId as RequestId;
pub use libp2p::{Multiaddr, PeerId};

use crate::config::Config;
use behaviour::Behaviour;

/// What to do with a gossiped frame after validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Valid and new: stored, and forwarded.
    Accept,
    /// Invalid: not forwarded, and the forwarding peer's score drops.
    Reject,
    /// Not forwarded, no penalty (a duplicate, an epoch we lack, a frame held back).
    Ignore,
}

/// Why a publish did not go out.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PublishError {
    /// Already published (the same frame).
    #[error("duplicate")]
    Duplicate,
    /// Over gossipsub's size limit: it will never go out.
    #[error("message too large")]
    TooLarge,
    /// Not now (no subscribed peer yet, a full queue...): worth retrying.
    #[error("{0}")]
    NotNow(String),
}

/// The swarm, and what the network knows of itself.
pub(crate) struct Net {
    swarm: Swarm<Behaviour>,
    /// Events translated and not yet handed out.
    pending: VecDeque<Event>,
    /// Our listen addresses.
    listen_addrs: Vec<Multiaddr>,
    /// Connected peers and the remote address of each connection.
    connected: HashMap<PeerId, Vec<Multiaddr>>,
    /// Listen addresses connected peers reported (identify, at most 8 each), for the
    /// member addresses on our cards.
    reported: HashMap<PeerId, Vec<Multiaddr>>,
    /// gossipsub's counters, with `Config::metrics`.
    metrics: Option<Registry>,
}

/// The libp2p keypair of an identity (same ed25519 key).
pub fn libp2p_keypair(identity: &Identity) -> Result<Keypair, Error> {
    Keypair::ed25519_from_bytes(identity.seed()).map_err(|e| Error::Setup(e.to_string()))
}

/// The PeerId that names the same key as `author`.
pub fn peer_id(author: &AuthorId) -> Option<PeerId> {
    PeerId::from_bytes(&author.peer_id_bytes()).ok()
}

/// The author id of a peer, if it is an ed25519 peer.
pub fn author(peer: &PeerId) -> Option<AuthorId> {
    AuthorId::from_peer_id_bytes(&peer.to_bytes()).ok()
}

impl Net {
    /// Builds the swarm for `identity` and listens on `listen`.
    pub fn new(
        identity: &Identity,
        config: &Config,
        listen: &[Multiaddr],
    ) -> Result<Net, crate::Error> {
        let keypair = libp2p_keypair(identity)?;
        let (mut swarm, metrics) = behaviour::build_swarm(keypair, config)?;
        for addr in listen {
            swarm
                .listen_on(addr.clone())
                .map_err(|e| crate::Error::Network(format!("listen on {addr}: {e}")))?;
        }
        Ok(Net {
            swarm,
            pending: VecDeque::new(),
            listen_addrs: Vec::new(),
            connected: HashMap::new(),
            reported: HashMap::new(),
            metrics,
        })
    }

    /// The next event from the network (cancel-safe: an event translated and not handed
    /// out waits in a queue).
    pub async fn next_event(&mut self) -> Event {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return e;
            }
            let raw = self.swarm.select_next_some().await;
            self.translate(raw);
        }
    }

    // --- Us, peers and connections -------------------------------------------------------

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Our listen addresses.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Connected peers, with the remote address of each connection.
    pub fn connected(&self) -> &HashMap<PeerId, Vec<Multiaddr>> {
        &self.connected
    }

    /// Whether `peer` is connected.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.connected.contains_key(peer)
    }

    /// The listen addresses `peer` reported, while connected.
    pub fn reported_addrs(&self, peer: &PeerId) -> Option<&[Multiaddr]> {
        self.reported.get(peer).map(Vec::as_slice)
    }

    /// Dials an address.
    pub fn dial(&mut self, addr: Multiaddr) -> Result<(), String> {
        self.swarm.dial(addr).map_err(|e| e.to_string())
    }

    /// Dials `peer` at `addrs` unless connected to it or dialling it already.
    pub fn dial_peer(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), String> {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        self.swarm.dial(opts).map_err(|e| e.to_string())
    }

    /// Adds an address of `peer` for the next dial to it.
    pub fn add_peer_address(&mut self, peer: PeerId, addr: Multiaddr) {
        self.swarm.add_peer_address(peer, addr);
    }

    /// Closes every connection with `peer`.
    pub fn disconnect(&mut self, peer: PeerId) {
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    /// Brings the connection limits' bypass list from `old` to `new`.
    pub fn set_trusted(&mut self, old: &HashSet<PeerId>, new: &HashSet<PeerId>) {
        let limits = &mut self.swarm.behaviour_mut().limits;
        for gone in old.difference(new) {
            limits.remove_peer_id(gone);
        }
        for added in new.difference(old) {
            limits.bypass_peer_id(added);
        }
    }

    /// Gossipsub's counters in Prometheus text form, with `Config::metrics`.
    pub fn metrics_text(&self) -> Option<String> {
        let registry = self.metrics.as_ref()?;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).ok()?;
        Some(text)
    }

    /// Our address `addr` with our peer id appended.
    pub fn with_our_id(&self, addr: &Multiaddr) -> Multiaddr {
        addr.clone().with(Protocol::P2p(self.local_peer_id()))
    }

    // --- Gossip ---------------------------------------------------------------------------

    /// Subscribes to a topic (with the score parameters of a group topic).
    pub fn subscribe(&mut self, topic: &str) -> Result<TopicHash, String> {
        let topic = IdentTopic::new(topic);
        let gs = &mut self.swarm.behaviour_mut().gossipsub;
        gs.subscribe(&topic).map_err(|e| e.to_string())?;
        let _ = gs.set_topic_params(topic.clone(), behaviour::topic_score_params());
        Ok(topic.hash())
    }

    /// Unsubscribes from a topic.
    pub fn unsubscribe(&mut self, topic: &TopicHash) {
        let topic = IdentTopic::new(topic.as_str());
        let _ = self.swarm.behaviour_mut().gossipsub.unsubscribe(&topic);
    }

    /// Publishes `data` on `topic`.
    pub fn publish(&mut self, topic: TopicHash, data: Vec<u8>) -> Result<(), PublishError> {
        match self.swarm.behaviour_mut().gossipsub.publish(topic, data) {
            Ok(_) => Ok(()),
            Err(GsPublishError::Duplicate) => Err(PublishError::Duplicate),
            Err(GsPublishError::MessageTooLarge) => Err(PublishError::TooLarge),
            Err(e) => Err(PublishError::NotNow(e.to_string())),
        }
    }

    /// Answers a gossiped frame held for validation.
    pub fn report(&mut self, id: &MessageId, source: &PeerId, verdict: Verdict) {
        use libp2p::gossipsub::MessageAcceptance as A;
        let acceptance = match verdict {
            Verdict::Accept => A::Accept,
            Verdict::Reject => A::Reject,
            Verdict::Ignore => A::Ignore,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    /// Our gossipsub score of `peer`.
    pub fn peer_score(&self, peer: &PeerId) -> Option<f64> {
        self.swarm.behaviour().gossipsub.peer_score(peer)
    }

    /// Peers in our mesh for `topic`.
    pub fn mesh_peers(&self, topic: &TopicHash) -> usize {
        self.swarm.behaviour().gossipsub.mesh_peers(topic).count()
    }

    /// Peers subscribed to any of `topics` (connected or not yet forgotten by gossipsub).
    pub fn subscribers(&self, topics: &[TopicHash]) -> Vec<PeerId> {
        self.swarm
            .behaviour()
            .gossipsub
            .all_peers()
            .filter(|(_, ts)| ts.iter().any(|t| topics.contains(t)))
            .map(|(p, _)| *p)
            .collect()
    }

    // --- DHT ------------------------------------------------------------------------------

    fn kad(&mut self) -> Option<&mut kad::Behaviour<kad::store::MemoryStore>> {
        self.swarm.behaviour_mut().kad.as_mut()
    }

    /// Whether the DHT runs (`Config::dht`).
    pub fn dht_enabled(&self) -> bool {
        self.swarm.behaviour().kad.is_enabled()
    }

    /// Adds an address of `peer` to the DHT routing table.
    pub fn dht_add_address(&mut self, peer: &PeerId, addr: Multiaddr) {
        if let Some(kad) = self.kad() {
            kad.add_address(peer, addr);
        }
    }

    /// Removes `peer` from the DHT routing table.
    pub fn dht_remove_peer(&mut self, peer: &PeerId) {
        if let Some(kad) = self.kad() {
            kad.remove_peer(peer);
        }
    }

    /// Starts a record lookup; `None` when the DHT is off.
    pub fn get_record(&mut self, key: &[u8]) -> Option<QueryId> {
        Some(self.kad()?.get_record(kad::RecordKey::new(&key)))
    }

    /// Starts a provider lookup; `None` when the DHT is off.
    pub fn get_providers(&mut self, key: &[u8]) -> Option<QueryId> {
        Some(self.kad()?.get_providers(kad::RecordKey::new(&key)))
    }

    /// Puts a record (quorum one; stored locally too), expiring at `expires` if given.
    /// `Ok(None)` when the DHT is off.
    pub fn put_record(
        &mut self,
        key: Vec<u8>,
        value: Vec<u8>,
        expires: Option<Instant>,
    ) -> Result<Option<QueryId>, String> {
        let Some(kad) = self.kad() else {
            return Ok(None);
        };
        let mut record = kad::Record::new(key, value);
        record.expires = expires;
        kad.put_record(record, Quorum::One)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// Announces us as a provider of `key` (nothing when the DHT is off).
    pub fn start_providing(&mut self, key: &[u8]) -> Result<(), String> {
        match self.kad() {
            Some(kad) => kad
                .start_providing(kad::RecordKey::new(&key))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// Stops announcing us as a provider of `key`.
    pub fn stop_providing(&mut self, key: &[u8]) {
        if let Some(kad) = self.kad() {
            kad.stop_providing(&kad::RecordKey::new(&key));
        }
    }

    /// Ends a running query now; returns the requests it made, if it was running.
    pub fn finish_query(&mut self, id: QueryId) -> Option<u32> {
        let mut q = self.kad()?.query_mut(&id)?;
        let requests = q.stats().num_requests();
        q.finish();
        Some(requests)
    }

    /// The value our DHT store holds under `key`.
    pub fn stored_value(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let kad = self.kad()?;
        kad::store::RecordStore::get(kad.store_mut(), &kad::RecordKey::new(&key))
            .map(|r| r.value.to_vec())
    }

    /// Stores a record put to us (after the node checked it).
    pub fn store_record(&mut self, record: Record) {
        if let Some(kad) = self.kad()
            && let Err(e) = kad::store::RecordStore::put(kad.store_mut(), record.0)
        {
            tracing::debug!(error = %e, "DHT record not stored");
        }
    }

    /// Stores a provider announcement made to us (after the node checked it).
    pub fn store_provider(&mut self, record: ProviderRecord) {
        if let Some(kad) = self.kad()
            && let Err(e) = kad::store::RecordStore::add_provider(kad.store_mut(), record.0)
        {
            tracing::debug!(error = %e, "provider record not stored");
        }
    }

    // --- Requests -------------------------------------------------------------------------

    /// Sends a sync request.
    pub fn send_sync(&mut self, peer: &PeerId, req: sync::Request) -> RequestId {
        self.swarm.behaviour_mut().sync.send_request(peer, req)
    }

    /// Answers a sync request.
    pub fn respond_sync(&mut self, to: Responder<sync::Response>, resp: sync::Response) {
        let _ = self.swarm.behaviour_mut().sync.send_response(to.0, resp);
    }

    /// Sends a discovery request.
    pub fn send_discovery(&mut self, peer: &PeerId, req: disc::Request) -> RequestId {
        self.swarm.behaviour_mut().discovery.send_request(peer, req)
    }

    /// Answers a discovery request.
    pub fn respond_discovery(&mut self, to: Responder<disc::Response>, resp: disc::Response) {
        let _ = self
            .swarm
            .behaviour_mut()
            .discovery
            .send_response(to.0, resp);
    }
}
