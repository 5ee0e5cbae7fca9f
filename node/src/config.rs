//! Node configuration: validated once, with defaults that suit a daemon on a laptop.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::identity::Keypair;

use crate::addr::Addr;

/// Builds an authenticated, multiplexed transport for a node's key (the simulator's
/// in-memory network with latency and loss). Made of libp2p parts: named by clients
/// through the testing door, `crate::testing::TransportFactory`.
pub type TransportFactory = Arc<
    dyn Fn(&Keypair) -> std::io::Result<Boxed<(PeerId, StreamMuxerBox)>> + Send + Sync + 'static,
>;

/// How a node reaches other nodes.
#[derive(Clone, Default)]
pub enum Transport {
    /// TCP with noise and yamux: what the daemon uses.
    #[default]
    Tcp,
    /// A transport supplied by the embedder, e.g. the simulator's in-memory network with
    /// latency and loss. It must accept the addresses in [`Config::listen`]. Built from
    /// libp2p parts, so only through the testing door ([`crate::testing::TransportFactory`]).
    Custom(TransportFactory),
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp => f.write_str("Tcp"),
            Self::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// `/ip4/IP/tcp/0`: TCP on `ip`, any free port.
fn tcp_any_port(ip: Ipv4Addr) -> Addr {
    Addr::tcp_any_port(ip)
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Most established connections, in and out (`ConnLimits::max_established`).
pub const MAX_ESTABLISHED: u32 = 512;
/// Most established inbound connections: strangers cannot take the slots the node needs to
/// dial its own peers (`ConnLimits::max_established_incoming`).
pub const MAX_ESTABLISHED_INCOMING: u32 = 384;
/// Most connections with one peer (two nodes dialling each other at once make two).
pub const MAX_PER_PEER: u32 = 4;
/// Most inbound connections still in their handshakes.
pub const MAX_PENDING_INCOMING: u32 = 64;
/// Most outbound dials in progress (Kademlia lookups dial several peers at once).
pub const MAX_PENDING_OUTGOING: u32 = 128;
/// No new connection while the process holds more than this (1 GiB); a daemon holds
/// well under 200 MB.
pub const MAX_MEMORY_BYTES: usize = 1 << 30;

/// Connection limits. Members of our private and listed groups and the bootstrap peers
/// bypass the counts (not the memory figure): a flood of fresh identities fills the
/// stranger slots, never a member's. Sources: libp2p's `connection-limits` and
/// `memory-connection-limits`; the figures suit a daemon (`ulimit -n` 1024) and a
/// simulator raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Established connections in total.
    pub max_established: u32,
    /// Established inbound connections.
    pub max_established_incoming: u32,
    /// Established connections with one peer.
    pub max_per_peer: u32,
    /// Inbound connections in their handshakes.
    pub max_pending_incoming: u32,
    /// Outbound dials in progress.
    pub max_pending_outgoing: u32,
    /// Refuse new connections while the process's resident memory is above this many
    /// bytes (`None`: no memory limit, e.g. many nodes in one process).
    pub max_memory_bytes: Option<usize>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            max_established: MAX_ESTABLISHED,
            max_established_incoming: MAX_ESTABLISHED_INCOMING,
            max_per_peer: MAX_PER_PEER,
            max_pending_incoming: MAX_PENDING_INCOMING,
            max_pending_outgoing: MAX_PENDING_OUTGOING,
            max_memory_bytes: Some(MAX_MEMORY_BYTES),
        }
    }
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the identity key, the store and the API file live.
    pub data_dir: PathBuf,
    /// Addresses to listen on (default: TCP on all interfaces, on the kept port).
    pub listen: Vec<Addr>,
    /// Keep the TCP port across restarts: every listen address with TCP port 0 uses the
    /// port kept in `DATA_DIR/listen-port` (a free port chosen on the first start), so
    /// invite codes, cards and other nodes' memory stay valid. Off: port 0 means a new
    /// random port each start. See `crate::datadir`.
    pub keep_port: bool,
    /// Peers to dial at start (with `/p2p/<peer id>`).
    pub bootstrap: Vec<Addr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Run the Kademlia DHT (finds peers beyond the bootstrap list). The simulator turns it
    /// off when a scenario fixes the topology, so the DHT does not connect every node to
    /// every other.
    pub dht: bool,
    /// Run Kademlia in server mode (answer DHT queries and store records). Turn it off on a
    /// node that others cannot reach (behind NAT without port forwarding): it then only
    /// asks. qun does not detect reachability itself yet.
    pub dht_server: bool,
    /// How often our group cards, keyword announcements and profile are republished to
    /// the DHT (the first time soon after start, create or join).
    pub discovery_interval: Duration,
    /// How often a pending join request is sent again to the group's admins.
    pub join_retry_interval: Duration,
    /// Longest a search waits for the DHT and the providers.
    pub search_timeout: Duration,
    /// A search's lookup of one keyword stops once this many peers have named providers
    /// (`None`: walk to the closest peers like any Kademlia lookup).
    pub search_provider_sources: Option<usize>,
    /// Gossipsub heartbeat interval (tests shorten it).
    pub heartbeat: Duration,
    /// Close a connection after this long without use (long: group peers stay connected).
    pub idle_timeout: Duration,
    /// sled page cache size in bytes (small when many nodes share a process).
    pub cache_bytes: u64,
    /// How long queued publishes wait for a subscribed peer before they are retried again.
    pub republish_interval: Duration,
    /// The redial round: how often known peers that are wanted and not connected are
    /// dialled again (bootstrap peers, members of a group with no connected member, any
    /// known peer while few are connected; see `crate::peers`), and the first wait of a
    /// peer's backoff (it doubles after each dial that does not connect, up to
    /// `redial_max_backoff`). Changed known peers are written to the store on this timer.
    pub redial_interval: Duration,
    /// Longest wait between two dials of an unreachable known peer.
    pub redial_max_backoff: Duration,
    /// Mean time between two anti-entropy syncs of a group with a random member (each
    /// wait is drawn from 0.5–1.5 × this).
    pub sync_interval: Duration,
    /// How sled writes received messages to disk in the background (`None`: only at the
    /// explicit flushes before acknowledging a post, and at shutdown).
    pub store_flush_every: Option<Duration>,
    /// Bytes kept free beside the store (`DATA_DIR/store.reserve`), given up to reopen the
    /// store when the disk is full (sled needs some space to reopen); 0: no reserve (the
    /// store then reopens only once space returns). See [`crate::store`].
    pub store_reserve_bytes: u64,
    /// Keep gossipsub's counters (received messages with and without duplicates), read with
    /// [`crate::Node::net_stats`]. Costs a little memory per topic; the simulator uses it.
    pub metrics: bool,
    /// The transport (TCP unless embedded).
    pub transport: Transport,
    /// For tests only: ms added to the wall clock wherever the node reads it for message
    /// time (stamps, the skew check, since-join bounds, group stats), to play a node whose
    /// clock is wrong. 0 in real use; the CLI has no flag for it.
    pub clock_offset_ms: i64,
    /// Connection limits.
    pub limits: ConnLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("qun-data"),
            listen: vec![tcp_any_port(Ipv4Addr::UNSPECIFIED)],
            keep_port: true,
            bootstrap: Vec::new(),
            mdns: true,
            dht: true,
            dht_server: true,
            discovery_interval: Duration::from_secs(600),
            join_retry_interval: Duration::from_secs(30),
            search_timeout: Duration::from_secs(10),
            search_provider_sources: Some(2),
            heartbeat: Duration::from_millis(700),
            idle_timeout: Duration::from_secs(300),
            cache_bytes: 64 * 1024 * 1024,
            republish_interval: Duration::from_secs(2),
            redial_interval: Duration::from_secs(10),
            redial_max_backoff: Duration::from_secs(120),
            sync_interval: Duration::from_secs(30),
            store_flush_every: Some(Duration::from_millis(200)),
            store_reserve_bytes: crate::store::RESERVE_BYTES,
            metrics: false,
            transport: Transport::Tcp,
            clock_offset_ms: 0,
            limits: ConnLimits::default(),
        }
    }
}

impl Config {
    /// A configuration for tests: loopback only, a new port each start, no mDNS, fast
    /// heartbeat, small cache.
    pub fn for_test(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: vec![tcp_any_port(Ipv4Addr::LOCALHOST)],
            keep_port: false,
            mdns: false,
            heartbeat: Duration::from_millis(200),
            cache_bytes: 4 * 1024 * 1024,
            republish_interval: Duration::from_millis(300),
            redial_interval: Duration::from_secs(1),
            redial_max_backoff: Duration::from_secs(4),
            sync_interval: Duration::from_secs(2),
            join_retry_interval: Duration::from_secs(1),
            search_timeout: Duration::from_secs(5),
            store_reserve_bytes: 0,
            ..Self::default()
        }
    }

    /// Checks the settings once, before the node starts.
    pub fn validate(&self) -> Result<(), Error> {
        if self.listen.is_empty() {
            return Err(Error::Invalid(
                "at least one --listen address is needed".into(),
            ));
        }
        if self.heartbeat < Duration::from_millis(10) || self.heartbeat > Duration::from_secs(60) {
            return Err(Error::Invalid(
                "heartbeat must be between 10 ms and 60 s".into(),
            ));
        }
        if self.idle_timeout < Duration::from_secs(1) {
            return Err(Error::Invalid("idle timeout must be at least 1 s".into()));
        }
        if self.redial_interval < Duration::from_millis(100) {
            return Err(Error::Invalid(
                "redial interval must be at least 100 ms".into(),
            ));
        }
        if self.sync_interval < Duration::from_millis(100) {
            return Err(Error::Invalid(
                "sync interval must be at least 100 ms".into(),
            ));
        }
        if self.discovery_interval < Duration::from_secs(1)
            || self.join_retry_interval < Duration::from_millis(100)
        {
            return Err(Error::Invalid(
                "discovery interval must be at least 1 s, join retry at least 100 ms".into(),
            ));
        }
        if self.search_provider_sources == Some(0) {
            return Err(Error::Invalid(
                "search provider sources must be at least 1 (or unset)".into(),
            ));
        }
        if self.search_timeout < Duration::from_millis(100) {
            return Err(Error::Invalid(
                "search timeout must be at least 100 ms".into(),
            ));
        }
        if self.redial_max_backoff < self.redial_interval {
            return Err(Error::Invalid(
                "redial max backoff must be at least the redial interval".into(),
            ));
        }
        if self
            .store_flush_every
            .is_some_and(|d| d < Duration::from_millis(1))
        {
            return Err(Error::Invalid(
                "store flush interval must be at least 1 ms".into(),
            ));
        }
        let l = &self.limits;
        if l.max_established == 0
            || l.max_established_incoming == 0
            || l.max_per_peer == 0
            || l.max_pending_incoming == 0
            || l.max_pending_outgoing == 0
        {
            return Err(Error::Invalid(
                "connection limits must be at least 1".into(),
            ));
        }
        if l.max_memory_bytes.is_some_and(|b| b < 64 * 1024 * 1024) {
            return Err(Error::Invalid(
                "the memory limit for new connections must be at least 64 MiB".into(),
            ));
        }
        if self.cache_bytes < 1024 * 1024 {
            return Err(Error::Invalid("store cache must be at least 1 MiB".into()));
        }
        Ok(())
    }
}
