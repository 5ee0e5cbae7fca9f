//! [`Command`]: what a [`crate::Node`] handle asks of the event loop. One variant per
//! concern, each a sub-enum with one variant per public method and its reply channel; the
//! loop hands a sub-enum whole to the room that owns the concern.

use std::time::Duration;

use qun_protocol::group::Role;
use qun_protocol::message::Kind;
use qun_protocol::{AuthorId, GroupId, GroupSecret, MsgId};
use tokio::sync::oneshot;

use crate::Error;
use crate::net::{Addr, PeerId};
use crate::view::{
    CreateGroup, Created, GroupInfo, GroupStats, History, IdInfo, InviteCode, JoinOutcome,
    JoinRequestView, NetStats, PeerInfo, ProfileUpdate, ProfileView, SearchResult,
};

/// Where a command's answer goes.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// A command for the event loop, by concern.
pub(crate) enum Command {
    /// The network: our id, peers, scores, dials, counters.
    Net(NetCmd),
    /// Joined groups: create, invite, join by invite, leave, list, info. (Lookups by name
    /// and the reads wholly in the store are served without the loop: `crate::reads`.)
    Groups(GroupsCmd),
    /// Posting to a group.
    Publish(PublishCmd),
    /// History sync.
    Sync(SyncCmd),
    /// Discovery: search, join by id, join requests, profiles, stats, announcements.
    Discovery(DiscoveryCmd),
    /// Flush and stop.
    Shutdown(Reply<()>),
}

/// The network.
pub(crate) enum NetCmd {
    Id(Reply<IdInfo>),
    Peers(Reply<Vec<PeerInfo>>),
    PeerScore {
        peer: PeerId,
        reply: Reply<Option<f64>>,
    },
    Dial {
        addr: Addr,
        reply: Reply<()>,
    },
    Stats(Reply<NetStats>),
}

/// Joined groups.
pub(crate) enum GroupsCmd {
    Create(CreateGroup, Reply<Created>),
    Invite {
        group: GroupId,
        expires: Duration,
        with_addrs: bool,
        reply: Reply<String>,
    },
    InviteCode {
        group: GroupId,
        expires: Duration,
        short: bool,
        reply: Reply<InviteCode>,
    },
    Join {
        invite: String,
        history: History,
        reply: Reply<GroupId>,
    },
    Leave {
        group: GroupId,
        reply: Reply<()>,
    },
    List(Reply<Vec<GroupInfo>>),
    Info {
        group: GroupId,
        reply: Reply<GroupInfo>,
    },
    EpochSecret {
        group: GroupId,
        reply: Reply<(u64, GroupSecret)>,
    },
}

/// Posting. The moderation ops name their target by a MEMBER query (an author id, a
/// unique id prefix, or a profile name unique in the group), resolved by the loop.
pub(crate) enum PublishCmd {
    SetRole {
        group: GroupId,
        member: String,
        role: Role,
        reply: Reply<MsgId>,
    },
    Transfer {
        group: GroupId,
        member: String,
        reply: Reply<MsgId>,
    },
    Remove {
        group: GroupId,
        member: String,
        reply: Reply<MsgId>,
    },
    Ban {
        group: GroupId,
        member: String,
        reply: Reply<MsgId>,
    },
    Unban {
        group: GroupId,
        member: String,
        reply: Reply<MsgId>,
    },
    Mute {
        group: GroupId,
        member: String,
        duration_ms: Option<u64>,
        reply: Reply<MsgId>,
    },
    Unmute {
        group: GroupId,
        member: String,
        reply: Reply<MsgId>,
    },
    Pin {
        group: GroupId,
        message: MsgId,
        reply: Reply<MsgId>,
    },
    Unpin {
        group: GroupId,
        message: MsgId,
        reply: Reply<MsgId>,
    },
    Post {
        group: GroupId,
        kind: Kind,
        reply: Reply<MsgId>,
    },
    Raw {
        group: GroupId,
        bytes: Vec<u8>,
        reply: Reply<()>,
    },
}

/// History sync.
pub(crate) enum SyncCmd {
    Start { group: GroupId, reply: Reply<usize> },
}

/// Discovery.
pub(crate) enum DiscoveryCmd {
    Search {
        query: String,
        reply: Reply<SearchResult>,
    },
    JoinById {
        group: GroupId,
        note: String,
        history: History,
        reply: Reply<JoinOutcome>,
    },
    JoinRequests {
        group: GroupId,
        reply: Reply<Vec<JoinRequestView>>,
    },
    DecideJoin {
        group: GroupId,
        requester: AuthorId,
        approve: bool,
        reply: Reply<JoinRequestView>,
    },
    SetProfile {
        update: ProfileUpdate,
        reply: Reply<ProfileView>,
    },
    Profile {
        author: Option<AuthorId>,
        reply: Reply<ProfileView>,
    },
    Stats {
        group: GroupId,
        reply: Reply<GroupStats>,
    },
    Announce(Reply<()>),
    /// Look up these authors' profiles in the background, for their names (a history page
    /// read from the store showed them without one). No answer.
    WantNames(Vec<AuthorId>),
}
