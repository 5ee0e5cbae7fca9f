//! Node configuration: validated once, with defaults that suit a daemon on a laptop.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

/// `/ip4/IP/tcp/0`: TCP on `ip`, any free port.
fn tcp_any_port(ip: Ipv4Addr) -> Multiaddr {
    Multiaddr::empty()
        .with(Protocol::Ip4(ip))
        .with(Protocol::Tcp(0))
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the identity key, the store and the API file live.
    pub data_dir: PathBuf,
    /// Addresses to listen on (default: TCP on all interfaces, any port).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start (with `/p2p/<peer id>`).
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the LAN with mDNS.
    pub mdns: bool,
    /// Gossipsub heartbeat interval (tests shorten it).
    pub heartbeat: Duration,
    /// Close a connection after this long without use (long: group peers stay connected).
    pub idle_timeout: Duration,
    /// sled page cache size in bytes (small when many nodes share a process).
    pub cache_bytes: u64,
    /// How long queued publishes wait for a subscribed peer before they are retried again.
    pub republish_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("qun-data"),
            listen: vec![tcp_any_port(Ipv4Addr::UNSPECIFIED)],
            bootstrap: Vec::new(),
            mdns: true,
            heartbeat: Duration::from_millis(700),
            idle_timeout: Duration::from_secs(300),
            cache_bytes: 64 * 1024 * 1024,
            republish_interval: Duration::from_secs(2),
        }
    }
}

impl Config {
    /// A configuration for tests: loopback only, no mDNS, fast heartbeat, small cache.
    pub fn for_test(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: vec![tcp_any_port(Ipv4Addr::LOCALHOST)],
            mdns: false,
            heartbeat: Duration::from_millis(200),
            cache_bytes: 4 * 1024 * 1024,
            republish_interval: Duration::from_millis(300),
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
        if self.cache_bytes < 1024 * 1024 {
            return Err(Error::Invalid("store cache must be at least 1 MiB".into()));
        }
        Ok(())
    }
}
