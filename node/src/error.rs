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
    /// The caller lacks the right: the group's rule refused it ([`qun_protocol::group::State::may`]);
    /// HTTP 403.
    #[error("not allowed ({rule}): {reason}")]
    NotAllowed {
        /// The rule's short name ([`qun_protocol::group::Refused::rule`], or a node rule
        /// such as `not_admin`).
        rule: &'static str,
        /// What it says, for a human.
        reason: String,
    },
    /// No member of the group matches a MEMBER argument (an author id, a unique id prefix
    /// of at least 4 characters, or a profile name unique in the group); HTTP 404.
    #[error("no member of the group matches {0:?}: use an author id (see `qun group info`)")]
    UnknownMember(String),
    /// Several members match a MEMBER argument; HTTP 409.
    #[error("{query:?} matches several members ({candidates}): use the author id")]
    AmbiguousMember {
        /// What was asked.
        query: String,
        /// The matching author ids, with their names when known.
        candidates: String,
    },
    /// The invite code was refused.
    #[error("invite: {0}")]
    Invite(#[from] qun_protocol::invite::Error),
    /// A message could not be built (its text says what of it was refused).
    #[error(transparent)]
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

impl Error {
    /// A refusal of the group's rule ([`qun_protocol::group::State::may`]).
    pub fn refused(r: &qun_protocol::group::Refused) -> Self {
        Error::NotAllowed {
            rule: r.rule(),
            reason: r.to_string(),
        }
    }

    /// A refusal of a node rule named `rule`.
    pub fn not_allowed(rule: &'static str, reason: impl Into<String>) -> Self {
        Error::NotAllowed {
            rule,
            reason: reason.into(),
        }
    }
}
