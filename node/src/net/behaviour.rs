//! The behaviours of a qun node, their configuration, and the swarm builder.
//!
//! * gossipsub in Anonymous mode (`StrictNoSign`): frames carry our own ed25519 signature,
//!   checked once after de-duplication; the message id is SHA-256 of the frame (what
//!   js-libp2p uses for unsigned messages); every message is held for validation and
//!   answered Accept / Reject / Ignore; a subscription filter that admits thousands of
//!   groups per peer; peer scoring tuned for quiet chat topics; publishing to the mesh
//!   only (no flood publishing), which keeps the bytes on the wire near D × the payload.
//! * kademlia with a qun protocol name, in server mode;
//! * identify (feeds kademlia), ping, and mDNS (optional);
//! * connection limits ([`crate::config::ConnLimits`]): established connections in total,
//!   inbound and per peer, handshakes in progress, and no new connection while the process
//!   holds more than a memory figure. Members of our private and listed groups and the
//!   bootstrap peers bypass the counts (the event loop keeps that list), so a flood of
//!   fresh identities cannot lock a member out; a handshake that does not finish within
//!   [`HANDSHAKE_TIMEOUT`] is dropped.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::{Boxed, Transport as _};
use libp2p::core::upgrade::Version;
use libp2p::gossipsub::{
    self, AllowAllSubscriptionFilter, IdentityTransform, MaxCountSubscriptionFilter,
    MessageAuthenticity, PeerScoreParams, PeerScoreThresholds, TopicScoreParams, ValidationMode,
};
use libp2p::swarm::NetworkBehaviour;
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::{
    PeerId, StreamProtocol, Swarm, connection_limits, identify, identity::Keypair, kad, mdns,
    memory_connection_limits, noise, ping, request_response, tcp, yamux,
};
use prometheus_client::registry::Registry;
use qun_protocol::id::sha256;
use qun_protocol::limits::MAX_FRAME_BYTES;

use crate::config::{Config, Transport};

/// Gossipsub's whole-RPC limit: one maximum frame plus room for the RPC framing. Equal on
/// every node (a larger message breaks the receiving stream).
pub const MAX_TRANSMIT_BYTES: usize = MAX_FRAME_BYTES + 64 * 1024;
/// Most topics (groups × epochs) a remote peer may be subscribed to before we ignore it.
pub const MAX_PEER_TOPICS: usize = 4096;
/// Kademlia protocol name: qun's DHT is its own network.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/qun/kad/1.0.0");
/// Identify protocol version string.
pub const IDENTIFY_PROTOCOL: &str = "/qun/id/1.0.0";
/// Longest a TCP connection may take to finish its security and multiplexing handshakes
/// before it is dropped (a half-open handshake otherwise holds a pending slot for good).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Sync streams (ours and the peer's) open at once on one connection; an inbound stream
/// past it is dropped before it is read, an outbound request fails (the next anti-entropy
/// round retries). One group's session keeps at most 1 + `FETCH_PIPELINE` (4) requests in
/// flight, so this serves 16 groups syncing at once with a peer.
pub const SYNC_MAX_STREAMS: usize = 64;
/// Discovery streams (search questions, join requests, approvals) open at once on one
/// connection.
pub const DISCOVERY_MAX_STREAMS: usize = 32;

type Filter = MaxCountSubscriptionFilter<AllowAllSubscriptionFilter>;
/// The gossipsub behaviour with our subscription filter.
pub type Gossipsub = gossipsub::Behaviour<IdentityTransform, Filter>;

/// All behaviours of a qun node.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Connection counts (first: a denied connection builds no other handler).
    pub limits: connection_limits::Behaviour,
    /// No new connection while the process holds more than `ConnLimits::max_memory_bytes`.
    pub memory: Toggle<memory_connection_limits::Behaviour>,
    /// Group messages.
    pub gossipsub: Gossipsub,
    /// The DHT (off with `Config::dht = false`).
    pub kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    /// Peer info (addresses, protocols).
    pub identify: identify::Behaviour,
    /// Liveness.
    pub ping: ping::Behaviour,
    /// LAN discovery.
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    /// History catch-up.
    pub sync: request_response::Behaviour<super::codec::sync::Codec>,
    /// Search questions, join requests and approvals.
    pub discovery: request_response::Behaviour<super::codec::discovery::Codec>,
}

/// Why the network could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A libp2p component refused its configuration.
    #[error("network setup: {0}")]
    Setup(String),
}

fn setup<E: std::fmt::Display>(e: E) -> Error {
    Error::Setup(e.to_string())
}

/// Score parameters for one group topic. The defaults punish topics that are quiet
/// (mesh delivery deficits, P3/P3b): chat groups are quiet most of the time, so those are
/// off. The defaults also reward time in mesh with up to +3,600 (1 ms quantum), which lets a
/// peer that has been around a few seconds send invalid frames for free: here time in mesh
/// earns at most +1 and first deliveries at most +50, while each invalid frame (P4) costs
/// 100 × (invalid count)², decaying slowly, so one invalid frame outweighs every reward.
pub fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 100.0,
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_cap: 50.0,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        ..TopicScoreParams::default()
    }
}

fn peer_score_params() -> PeerScoreParams {
    let mut whitelist: HashSet<IpAddr> = HashSet::new();
    // Many honest nodes share loopback in tests and demos; do not treat them as a Sybil.
    whitelist.insert(IpAddr::V4(Ipv4Addr::LOCALHOST));
    whitelist.insert(IpAddr::V6(Ipv6Addr::LOCALHOST));
    PeerScoreParams {
        ip_colocation_factor_whitelist: whitelist,
        ..PeerScoreParams::default()
    }
}

fn peer_score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds {
        gossip_threshold: -10.0,
        publish_threshold: -50.0,
        graylist_threshold: -80.0,
        ..PeerScoreThresholds::default()
    }
}

fn gossipsub(cfg: &Config, metrics: Option<&mut Registry>) -> Result<Gossipsub, Error> {
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(|m: &gossipsub::Message| gossipsub::MessageId::from(sha256(&m.data)))
        .max_transmit_size(MAX_TRANSMIT_BYTES)
        .heartbeat_interval(cfg.heartbeat)
        .heartbeat_initial_delay(cfg.heartbeat.min(Duration::from_millis(500)))
        // Publish to the mesh (D peers), not to every connected member: with flood
        // publishing a post went to every subscribed peer we were connected to (29 copies
        // in a 30-node simulation) and the wire carried 20× the payload.
        .flood_publish(false)
        .build()
        .map_err(setup)?;
    let filter = MaxCountSubscriptionFilter {
        filter: AllowAllSubscriptionFilter {},
        max_subscribed_topics: MAX_PEER_TOPICS,
        max_subscriptions_per_request: MAX_PEER_TOPICS,
    };
    let mut gs =
        Gossipsub::new_with_subscription_filter(MessageAuthenticity::Anonymous, config, filter)
            .map_err(setup)?;
    gs.with_peer_score(peer_score_params(), peer_score_thresholds())
        .map_err(setup)?;
    if let Some(registry) = metrics {
        gs = gs.with_metrics(registry, gossipsub::MetricsConfig::default());
    }
    Ok(gs)
}

/// Kademlia: our protocol name; records and provider announcements pass our validation
/// before they are stored (`FilterBoth`, see `event_loop::dht`); re-bootstrap every 5
/// minutes; server mode unless `Config::dht_server` is off.
fn kademlia(peer_id: PeerId, cfg: &Config) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut kad_cfg = kad::Config::new(KAD_PROTOCOL);
    kad_cfg.set_periodic_bootstrap_interval(Some(Duration::from_secs(300)));
    kad_cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
    // Searches have their own deadline (`search_timeout`); a provider announcement on a
    // busy node may take a while and must not be cut short.
    kad_cfg.set_query_timeout(Duration::from_secs(60));
    let store_cfg = kad::store::MemoryStoreConfig {
        max_records: 4096,
        max_value_bytes: qun_protocol::limits::MAX_CARD_RECORD_BYTES
            .max(qun_protocol::limits::MAX_PROFILE_BYTES),
        max_provided_keys: 8192,
        max_providers_per_key: 20,
    };
    let mut kad = kad::Behaviour::with_config(
        peer_id,
        kad::store::MemoryStore::with_config(peer_id, store_cfg),
        kad_cfg,
    );
    kad.set_mode(Some(if cfg.dht_server {
        kad::Mode::Server
    } else {
        kad::Mode::Client
    }));
    kad
}

fn behaviour(
    key: &Keypair,
    cfg: &Config,
    metrics: Option<&mut Registry>,
) -> Result<Behaviour, Error> {
    let peer_id = key.public().to_peer_id();
    let kad = cfg.dht.then(|| kademlia(peer_id, cfg));
    let mdns = if cfg.mdns {
        Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id).map_err(setup)?)
    } else {
        None
    };
    let l = &cfg.limits;
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(l.max_established))
        .with_max_established_incoming(Some(l.max_established_incoming))
        .with_max_established_per_peer(Some(l.max_per_peer))
        .with_max_pending_incoming(Some(l.max_pending_incoming))
        .with_max_pending_outgoing(Some(l.max_pending_outgoing));
    Ok(Behaviour {
        limits: connection_limits::Behaviour::new(limits),
        memory: l
            .max_memory_bytes
            .map(memory_connection_limits::Behaviour::with_max_bytes)
            .into(),
        gossipsub: gossipsub(cfg, metrics)?,
        kad: kad.into(),
        identify: identify::Behaviour::new(identify::Config::new(
            IDENTIFY_PROTOCOL.to_owned(),
            key.public(),
        )),
        ping: ping::Behaviour::default(),
        mdns: mdns.into(),
        discovery: request_response::Behaviour::new(
            [(
                super::codec::discovery::PROTOCOL,
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(10))
                .with_max_concurrent_streams(DISCOVERY_MAX_STREAMS),
        ),
        sync: request_response::Behaviour::new(
            [(
                super::codec::sync::PROTOCOL,
                request_response::ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(Duration::from_secs(30))
                .with_max_concurrent_streams(SYNC_MAX_STREAMS),
        ),
    })
}

/// Builds the swarm: TCP + noise + yamux, our behaviours, a long idle timeout.
/// TCP (no delay) with noise and yamux.
fn tcp_transport(key: &Keypair) -> Result<Boxed<(PeerId, StreamMuxerBox)>, Error> {
    Ok(
        tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
            .upgrade(Version::V1Lazy)
            .authenticate(noise::Config::new(key).map_err(setup)?)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed(),
    )
}

/// Builds the swarm on the configured transport. With `cfg.metrics`, gossipsub's counters
/// are registered in the returned registry.
pub fn build_swarm(
    key: Keypair,
    cfg: &Config,
) -> Result<(Swarm<Behaviour>, Option<Registry>), Error> {
    let transport = match &cfg.transport {
        Transport::Tcp => tcp_transport(&key)?,
        Transport::Custom(make) => make(&key).map_err(setup)?,
    };
    let mut registry = cfg.metrics.then(Registry::default);
    let swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_other_transport(|_| transport)
        .map_err(setup)?
        .with_behaviour(|key| {
            behaviour(key, cfg, registry.as_mut())
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })
        })
        .map_err(setup)?
        .with_swarm_config(|c| c.with_idle_connection_timeout(cfg.idle_timeout))
        .build();
    Ok((swarm, registry))
}

/// Sums every sample of the counter `name` (all label sets) in a registry's text form.
pub fn counter_total(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (metric, value) = l.rsplit_once(' ')?;
            let base = metric.split('{').next()?;
            (base == name).then(|| value.parse::<f64>().ok())?
        })
        .map(|v| v as u64)
        .sum()
}
