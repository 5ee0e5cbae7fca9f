//! [`Command`]: what a [`crate::Node`] handle asks of the event loop, one variant per
//! public method, with its reply channel.

use std::time::Duration;

use qun_protocol::message::Kind;
use qun_protocol::{AuthorId, GroupId, MsgId};
use tokio::sync::oneshot;

use crate::Error;
use crate::net::{Addr, PeerId};
use crate::view::{
    CreateGroup, Created, GroupInfo, GroupStats, History, IdInfo, InviteCode, JoinOutcome,
    JoinRequestView, MessageView, NetStats, PeerInfo, ProfileUpdate, ProfileView, SearchResult,
};

pub(crate) type Reply<T> = oneshot::Sender<Result<T, Error>>;

/// One command per public method of [`Node`].
pub(crate) enum Command {
    Id(Reply<IdInfo>),
    Peers(Reply<Vec<PeerInfo>>),
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
    Groups(Reply<Vec<GroupInfo>>),
    Info {
        group: GroupId,
        reply: Reply<GroupInfo>,
    },
    EpochSecret {
        group: GroupId,
        reply: Reply<(u64, qun_protocol::GroupSecret)>,
    },
    Resolve {
        query: String,
        reply: Reply<GroupId>,
    },
    Post {
        group: GroupId,
        kind: Kind,
        reply: Reply<MsgId>,
    },
    History {
        group: GroupId,
        limit: usize,
        before: Option<MsgId>,
        reply: Reply<Vec<MessageView>>,
    },
    PublishRaw {
        group: GroupId,
        bytes: Vec<u8>,
        reply: Reply<()>,
    },
    PeerScore {
        peer: PeerId,
        reply: Reply<Option<f64>>,
    },
    Dial {
        addr: Addr,
        reply: Reply<()>,
    },
    NetStats(Reply<NetStats>),
    Sync {
        group: GroupId,
        reply: Reply<usize>,
    },
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
    Shutdown(Reply<()>),
}
