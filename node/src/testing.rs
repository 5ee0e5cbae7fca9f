//! The testing door: what the simulator's transport and the hostile-peer tests need of
//! the node's libp2p side, and the one place outside `net/` where libp2p types are public.
//!
//! A client of the node (the CLI, the API server, an embedder) needs none of this: it
//! writes addresses as [`crate::Addr`] and reads ids as text. The simulator builds its
//! in-memory transport ([`TransportFactory`], [`crate::config::Transport::Custom`]) and
//! converts its memory addresses with `Addr::from(multiaddr)`; hostile-peer tests build
//! their own swarms with the node's protocol names and codecs ([`sync`], [`discovery`],
//! [`KAD_PROTOCOL`]) and the node's key ([`libp2p_keypair`]), read a node's PeerId and peer
//! scores through [`NodeExt`] (`Node` itself names no libp2p type), and read the caps they push
//! against ([`rate`]). Nothing here is a stable API.

pub use crate::config::TransportFactory;
pub use crate::net::{KAD_PROTOCOL, author, libp2p_keypair, peer_id};
pub use libp2p::{Multiaddr, PeerId};

use crate::{Error, Node};

/// What the simulator and hostile-peer tests read of a [`Node`]'s libp2p side. Bring it
/// into scope (`use qun_node::testing::NodeExt`) to call these as methods.
pub trait NodeExt {
    /// The node's PeerId (the same ed25519 key as its author id).
    fn peer_id(&self) -> PeerId;
    /// The node's gossipsub score of `peer` (`None`: not scored, e.g. never connected).
    /// Errors: [`Error::Closed`] if the node has stopped.
    fn peer_score(
        &self,
        peer: PeerId,
    ) -> impl std::future::Future<Output = Result<Option<f64>, Error>> + Send;
}

impl NodeExt for Node {
    fn peer_id(&self) -> PeerId {
        self.libp2p_peer_id()
    }

    fn peer_score(
        &self,
        peer: PeerId,
    ) -> impl std::future::Future<Output = Result<Option<f64>, Error>> + Send {
        self.libp2p_peer_score(peer)
    }
}

/// The sync protocol (`/qun/sync/3`): its name and codec.
pub mod sync {
    pub use crate::net::codec::sync::{Codec, PROTOCOL};
}

/// The discovery protocol (`/qun/discovery/1`): its name and codec.
pub mod discovery {
    pub use crate::net::codec::discovery::{Codec, PROTOCOL};
}

/// The budgets and caps of what the node serves to one peer.
pub mod rate {
    pub use crate::rate::*;
}

/// The known-peers table as kept on disk.
pub mod peers {
    pub use crate::peers::Table;
}
