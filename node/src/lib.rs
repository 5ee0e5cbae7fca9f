//! qun-node: a running qun node.
//!
//! One event-loop task (`event_loop`) owns the network (`net`, the only module that sees
//! libp2p's events), the sled store handle and every pending reply. Everyone else (the
//! daemon's API server, the CLI's demo, the simulator, the tests) holds a [`Node`]: a cheap
//! `Clone` over a bounded command channel, with one command per public method and replies
//! through a oneshot; the reads wholly in the store (group lookup, history, the moderation
//! log, our own profile) are served by the handle itself, from a read-only store handle,
//! without queueing behind the loop (`reads`). What happens is told as [`NodeEvent`]s on
//! a broadcast channel.
//!
//! Clients see no libp2p type: addresses are [`Addr`] (text in, text out). The simulator's
//! transport and the hostile-peer tests, which do need libp2p parts, go through
//! [`testing`], the one marked door.

mod addr;
mod command;
pub mod config;
mod datadir;
mod error;
mod event_loop;
pub mod http;
pub mod keys;
mod moderation;
mod net;
mod peers;
mod rate;
mod reads;
mod skew;
pub mod store;
pub mod testing;
mod view;

use std::sync::Arc;
use std::time::Duration;

use qun_protocol::message::{Announcement, Kind, Text};
use qun_protocol::{AuthorId, GroupId, MsgId};
use tokio::sync::{broadcast, mpsc, oneshot};

pub(crate) use command::{Command, DiscoveryCmd, GroupsCmd, NetCmd, PublishCmd, Reply, SyncCmd};
use net::PeerId;

/// The local API under its old name (`qun_node::api::serve`, `qun_node::api::ApiFile`).
pub use http as api;

pub use addr::{Addr, AddrError};
pub use config::Config;
pub use error::Error;
pub use qun_api::NodeEvent;
pub use view::{
    CreateGroup, Created, GenderCounts, GroupInfo, GroupStats, History, IdInfo, InviteCode,
    JoinOutcome, JoinRequestView, LogEntry, MessageView, MessageViewExt, NetStats, PeerInfo,
    ProfileUpdate, ProfileView, SearchHit, SearchResult, ShownGroupView, SyncView, Visibility,
};

/// Commands waiting for the event loop. Callers wait (back-pressure) when it is full.
pub const COMMAND_CAPACITY: usize = 1024;
/// Events buffered per subscriber; a slower subscriber sees `Lagged` and skips ahead.
pub const EVENT_CAPACITY: usize = 4096;

/// A handle to a running node. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<NodeEvent>,
    peer_id: PeerId,
    author: AuthorId,
    /// The reads served without the event loop (history, log, own profile, lookups).
    reads: reads::Reads,
    _task: Arc<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node({})", self.peer_id)
    }
}

impl Node {
    /// Starts a node: loads (or creates) the identity, opens the store, listens, dials the
    /// bootstrap peers, and returns once it listens on at least one address.
    pub async fn start(config: Config) -> Result<Node, Error> {
        Ok(Self::start_subscribed(config).await?.0)
    }

    /// [`Node::start`], with an event subscription made before the node runs, so that not
    /// even the first message it stores (e.g. from a sync right after start) is missed.
    pub async fn start_subscribed(
        config: Config,
    ) -> Result<(Node, broadcast::Receiver<NodeEvent>), Error> {
        let (loop_, commands, events, peer_id) = event_loop::EventLoop::new(config)?;
        let rx = events.subscribe();
        let reads = loop_.reads();
        let task = tokio::spawn(loop_.run());
        let node = Node {
            commands,
            events,
            peer_id,
            author: net::author(&peer_id)
                .ok_or_else(|| Error::Internal("our peer id is not an ed25519 key".into()))?,
            reads,
            _task: Arc::new(task),
        };
        for _ in 0..100 {
            if !node.id().await?.addrs.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok((node, rx))
    }

    /// Our PeerId (the same key as our author id). A libp2p type, so not public: the
    /// simulator and hostile-peer tests read it through [`testing::NodeExt`]; clients use
    /// [`Node::author`].
    pub(crate) fn libp2p_peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Our author id (the key our messages are signed with; prints as our peer id).
    pub fn author(&self) -> AuthorId {
        self.author
    }

    /// Subscribes to node events.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.events.subscribe()
    }

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Our id and listen addresses.
    pub async fn id(&self) -> Result<IdInfo, Error> {
        self.call(|r| Command::Net(NetCmd::Id(r))).await
    }

    /// Connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, Error> {
        self.call(|r| Command::Net(NetCmd::Peers(r))).await
    }

    /// Creates a group; returns its id and an invite code (valid 7 days).
    pub async fn create_group(&self, req: CreateGroup) -> Result<Created, Error> {
        self.call(|r| Command::Groups(GroupsCmd::Create(req, r)))
            .await
    }

    /// A long (self-contained) invite code for `group`, valid for `expires`.
    pub async fn invite(&self, group: GroupId, expires: Duration) -> Result<String, Error> {
        self.call(|reply| {
            Command::Groups(GroupsCmd::Invite {
                group,
                expires,
                with_addrs: true,
                reply,
            })
        })
        .await
    }

    /// A short invite code (`quns1…`, 39 characters) for `group`, valid for `expires`: the
    /// full invite is sealed in a DHT record that the code names (see
    /// [`qun_protocol::invite::short`]). The answer waits until a DHT peer stored the
    /// record; with the DHT off, or when no peer stored it, the answer is the long code
    /// (`short: false`) with a note saying why.
    pub async fn short_invite(
        &self,
        group: GroupId,
        expires: Duration,
    ) -> Result<InviteCode, Error> {
        self.invite_code(group, expires, true).await
    }

    /// An invite code for `group`, valid for `expires`: short (as [`Node::short_invite`])
    /// or long (as [`Node::invite`]).
    pub async fn invite_code(
        &self,
        group: GroupId,
        expires: Duration,
        short: bool,
    ) -> Result<InviteCode, Error> {
        self.call(|reply| {
            Command::Groups(GroupsCmd::InviteCode {
                group,
                expires,
                short,
                reply,
            })
        })
        .await
    }

    /// An invite code that carries none of our addresses: shorter, reveals no address, and
    /// the joiner finds the group through peers it already knows.
    pub async fn invite_without_addrs(
        &self,
        group: GroupId,
        expires: Duration,
    ) -> Result<String, Error> {
        self.call(|reply| {
            Command::Groups(GroupsCmd::Invite {
                group,
                expires,
                with_addrs: false,
                reply,
            })
        })
        .await
    }

    /// Joins the group of an invite code (the text may surround the code).
    pub async fn join(&self, invite: &str) -> Result<GroupId, Error> {
        let invite = invite.to_owned();
        self.call(|reply| {
            Command::Groups(GroupsCmd::Join {
                invite,
                history: History::All,
                reply,
            })
        })
        .await
    }

    /// Joins with a choice of how much history to fetch.
    pub async fn join_with(&self, invite: &str, history: History) -> Result<GroupId, Error> {
        let invite = invite.to_owned();
        self.call(|reply| {
            Command::Groups(GroupsCmd::Join {
                invite,
                history,
                reply,
            })
        })
        .await
    }

    /// Leaves a group: says so to the group, unsubscribes, deletes its local history.
    pub async fn leave(&self, group: GroupId) -> Result<(), Error> {
        self.call(|reply| Command::Groups(GroupsCmd::Leave { group, reply }))
            .await
    }

    /// Every joined group.
    pub async fn groups(&self) -> Result<Vec<GroupInfo>, Error> {
        self.call(|r| Command::Groups(GroupsCmd::List(r))).await
    }

    /// One group.
    pub async fn group_info(&self, group: GroupId) -> Result<GroupInfo, Error> {
        self.call(|reply| Command::Groups(GroupsCmd::Info { group, reply }))
            .await
    }

    /// The current epoch of a joined group and its secret. For tests and tools in the same
    /// process (a hostile peer played by a test needs the key); the API never serves it.
    pub async fn epoch_secret(
        &self,
        group: GroupId,
    ) -> Result<(u64, qun_protocol::GroupSecret), Error> {
        self.call(|reply| Command::Groups(GroupsCmd::EpochSecret { group, reply }))
            .await
    }

    /// Sends a text message; returns once it is stored durably.
    pub async fn send(
        &self,
        group: GroupId,
        text: &str,
        reply_to: Option<MsgId>,
    ) -> Result<MsgId, Error> {
        let kind = Kind::Text(Text {
            text: text.to_owned(),
            reply_to,
            mentions: Vec::new(),
        });
        self.post(group, kind).await
    }

    /// Sets the group announcement (owner only); returns once stored durably.
    pub async fn announce(&self, group: GroupId, text: &str) -> Result<MsgId, Error> {
        self.post(
            group,
            Kind::Announcement(Announcement {
                text: text.to_owned(),
            }),
        )
        .await
    }

    /// Signs, stores and publishes a message of any kind.
    pub async fn post(&self, group: GroupId, kind: Kind) -> Result<MsgId, Error> {
        self.call(|reply| Command::Publish(PublishCmd::Post { group, kind, reply }))
            .await
    }

    /// Publishes raw bytes on a group's topic, bypassing every check. For tests that play
    /// a hostile peer.
    pub async fn publish_raw(&self, group: GroupId, bytes: Vec<u8>) -> Result<(), Error> {
        self.call(|reply| {
            Command::Publish(PublishCmd::Raw {
                group,
                bytes,
                reply,
            })
        })
        .await
    }

    /// Our gossipsub score of a peer (for hostile-peer tests, through
    /// [`testing::NodeExt`]).
    pub(crate) async fn libp2p_peer_score(&self, peer: PeerId) -> Result<Option<f64>, Error> {
        self.call(|reply| Command::Net(NetCmd::PeerScore { peer, reply }))
            .await
    }

    /// Dials an address.
    pub async fn dial(&self, addr: Addr) -> Result<(), Error> {
        self.call(|reply| Command::Net(NetCmd::Dial { addr, reply }))
            .await
    }

    /// Starts syncing `group`'s history with a few connected members now; returns how many
    /// syncs are running for it. Progress shows in [`GroupInfo::sync`].
    pub async fn sync(&self, group: GroupId) -> Result<usize, Error> {
        self.call(|reply| Command::Sync(SyncCmd::Start { group, reply }))
            .await
    }

    /// Searches the DHT for public and listed groups: finds the providers of the query's
    /// keyword tokens, asks them for their cards, verifies and ranks the cards.
    pub async fn search(&self, query: &str) -> Result<SearchResult, Error> {
        let query = query.to_owned();
        self.call(|reply| Command::Discovery(DiscoveryCmd::Search { query, reply }))
            .await
    }

    /// Joins a group found by search, by its id: a public group at once (the secret is on
    /// its card); for a listed group, sends a join request with `note` to its admins and
    /// joins when one approves.
    pub async fn join_group(
        &self,
        group: GroupId,
        note: &str,
        history: History,
    ) -> Result<JoinOutcome, Error> {
        let note = note.to_owned();
        self.call(|reply| {
            Command::Discovery(DiscoveryCmd::JoinById {
                group,
                note,
                history,
                reply,
            })
        })
        .await
    }

    /// Join requests received for a group we administer.
    pub async fn join_requests(&self, group: GroupId) -> Result<Vec<JoinRequestView>, Error> {
        self.call(|reply| Command::Discovery(DiscoveryCmd::JoinRequests { group, reply }))
            .await
    }

    /// Approves (seals the group secret to the requester and sends it) or rejects a join
    /// request.
    pub async fn decide_join(
        &self,
        group: GroupId,
        requester: AuthorId,
        approve: bool,
    ) -> Result<JoinRequestView, Error> {
        self.call(|reply| {
            Command::Discovery(DiscoveryCmd::DecideJoin {
                group,
                requester,
                approve,
                reply,
            })
        })
        .await
    }

    /// Changes our profile, signs it, stores it and publishes it to the DHT.
    pub async fn set_profile(&self, update: ProfileUpdate) -> Result<ProfileView, Error> {
        self.call(|reply| Command::Discovery(DiscoveryCmd::SetProfile { update, reply }))
            .await
    }

    /// Our profile (`None`: read from the store), or someone's, fetched from the DHT and
    /// verified.
    pub async fn profile(&self, author: Option<AuthorId>) -> Result<ProfileView, Error> {
        if author.is_none_or(|a| a == self.author) {
            return self.own_profile();
        }
        self.call(|reply| Command::Discovery(DiscoveryCmd::Profile { author, reply }))
            .await
    }

    /// A group's persona: members, active, online, gender ratio and average age among the
    /// members who share them (their profiles are fetched from the DHT).
    pub async fn group_stats(&self, group: GroupId) -> Result<GroupStats, Error> {
        self.call(|reply| Command::Discovery(DiscoveryCmd::Stats { group, reply }))
            .await
    }

    /// Publishes our cards, keyword announcements and profile to the DHT now (they are
    /// also republished every `Config::discovery_interval`); returns once started.
    pub async fn announce_discovery(&self) -> Result<(), Error> {
        self.call(|r| Command::Discovery(DiscoveryCmd::Announce(r)))
            .await
    }

    /// Network counters (gossip counts need [`Config::metrics`]).
    pub async fn net_stats(&self) -> Result<NetStats, Error> {
        self.call(|r| Command::Net(NetCmd::Stats(r))).await
    }

    /// Flushes the store and stops the event loop; returns once the store, the listeners
    /// and the data dir lock are released (a node may start on the same data dir at once).
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.call(Command::Shutdown).await
    }
}
