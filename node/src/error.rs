//! [`Error`]: everything that can go wrong for a caller of [`crate::Node`].

use crate::{config, datadir, keys, net, store};

/// Everything that can go wrong for a caller of [`crate::Node`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The node's event loop has stopped.
    #[error("the node has stopped")]
    Closed,
    /// No joined group matches.
    #[error("no group matches {0:?}: see `qun group list`")]
    UnknownGroup(String),
    /// Several joined groups match a name.
    #[error("{query:?} matches several groups ({ids}): use the group id")]
    Ambiguous {
        /// What was asked.
        query: String,
        /// The matching ids.
        ids: String,
    },
    /// The request is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks the right (e.g. announcements are the owner's).
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The invite code was refused.
    #[error("invite: {0}")]
    Invite(#[from] qun_protocol::invite::Error),
    /// A message could not be built.
    #[error("message: {0}")]
    Message(#[from] qun_protocol::message::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The identity key could not be loaded.
    #[error(transparent)]
    Keys(#[from] keys::Error),
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] config::Error),
    /// The data dir cannot be used (in use by another daemon, not creatable, port busy).
    #[error(transparent)]
    DataDir(#[from] datadir::Error),
    /// The network could not be set up.
    #[error(transparent)]
    Net(#[from] net::Error),
    /// Nothing found (a group card or profile not in the DHT).
    #[error("not found: {0}")]
    NotFound(String),
    /// A discovery record was refused.
    #[error("discovery: {0}")]
    Discovery(#[from] qun_protocol::discovery::Error),
    /// A member refused to admit us with an invite.
    #[error("not admitted: {0}")]
    NotAdmitted(qun_protocol::invite::admit::Refusal),
    /// No member of the group answered an admission request.
    #[error(
        "no member of the group answered ({asked} peer(s) asked: the inviter, the peers in \
         the invite, peers we are connected to); nothing was joined: try again when the \
         inviter is online"
    )]
    NoMemberReachable {
        /// How many peers were asked.
        asked: usize,
    },
    /// A libp2p operation failed.
    #[error("network: {0}")]
    Network(String),
    /// A fault of the node itself (state it holds breaks an invariant: a group without an
    /// epoch secret, a stored genesis without an id, a frame of ours that does not encode),
    /// never the caller's input; HTTP 500.
    #[error("internal error: {0}")]
    Internal(String),
}
