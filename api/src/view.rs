//! What the node shows its users: plain, serialisable views of messages, groups, peers,
//! discovery and profiles. These are the answers of the JSON API and the shapes of the
//! CLI's `--json` output. Ids are text: base58 for groups and messages, the PeerId text for
//! authors and peers; times are ms since the Unix epoch.

use serde::{Deserialize, Serialize};

/// One message, as the API and CLI show it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageView {
    /// Message id (base58).
    pub id: String,
    /// Group id (base58).
    pub group: String,
    /// Author id (same text as the author's PeerId).
    pub author: String,
    /// The display name on the author's profile, when this node holds it (a signed profile
    /// looked up in the DHT).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_name: Option<String>,
    /// The author's clock, ms since the Unix epoch: the physical part of the message's
    /// hybrid stamp (for a message stored before hybrid stamps, the time it carried).
    pub timestamp_ms: u64,
    /// The logical part of the stamp: orders messages stamped in the same millisecond
    /// (for a message stored before hybrid stamps, its Lamport clock).
    pub logical: u64,
    /// `text`, `announcement`, `join`, `leave`, `meta` or `unknown`.
    pub kind: String,
    /// The text (for text and announcement; a short description otherwise).
    pub text: String,
    /// The message replied to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reply_to: Option<String>,
    /// Authors mentioned.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub mentions: Vec<String>,
}

impl MessageView {
    /// The view with the author's display name, if known.
    pub fn named(mut self, name: Option<&str>) -> Self {
        self.author_name = name.map(str::to_owned);
        self
    }
}

/// The group announcement as shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnnouncementView {
    /// Its text.
    pub text: String,
    /// Who set it.
    pub author: String,
    /// When (author's clock).
    pub timestamp_ms: u64,
    /// The message that set it.
    pub id: String,
}

/// A group, as `group info` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Group id.
    pub group: String,
    /// Name.
    pub name: String,
    /// The current epoch's gossipsub topic.
    pub topic: String,
    /// Current epoch.
    pub epoch: u64,
    /// public, listed or private.
    pub visibility: String,
    /// Owner id.
    pub owner: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Members known from the group's history.
    pub members: Vec<String>,
    /// Display names of the owner, the members and the announcement's author, by author
    /// id, for those whose profile this node holds.
    #[serde(default)]
    pub names: std::collections::BTreeMap<String, String>,
    /// Peers in our gossipsub mesh for the topic.
    pub mesh_peers: usize,
    /// Peers subscribed to the topic that we know of.
    pub topic_peers: usize,
    /// Current announcement.
    pub announcement: Option<AnnouncementView>,
    /// Messages stored.
    pub messages: usize,
    /// Frames waiting for a subscribed peer.
    pub queued: usize,
    /// When we joined, ms since the Unix epoch.
    pub joined_ms: u64,
    /// `all`, or `since-join` when joined with only the history since joining.
    #[serde(default)]
    pub history: String,
    /// History sync with other members.
    #[serde(default)]
    pub sync: SyncView,
    /// Control ops of kinds this node's version does not know (a newer version's role
    /// changes, removals...), folded without effect: non-zero means the members and rights
    /// shown may be incomplete until qun is upgraded.
    #[serde(default)]
    pub unknown_control_ops: u64,
    /// Admins (the owner is not among them).
    #[serde(default)]
    pub admins: Vec<String>,
    /// Mutes in force (or ended by time, until an unmute clears them).
    #[serde(default)]
    pub muted: Vec<MutedView>,
    /// Banned keys.
    #[serde(default)]
    pub banned: Vec<String>,
    /// Pinned messages, oldest pin first.
    #[serde(default)]
    pub pins: Vec<PinView>,
    /// This node's own standing in the group, by the fold: `owner`, `admin`, `member`,
    /// `muted`, `removed` (no longer a member: it reads only what was sent before, and
    /// nothing it sends is taken) or `banned`. Empty from a daemon older than this field.
    #[serde(default)]
    pub standing: String,
}

/// A muted member, as `group info` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutedView {
    /// The member's author id.
    pub member: String,
    /// Who muted it.
    pub by: String,
    /// When the mute ends, ms since the Unix epoch; `None` until an unmute.
    pub until_ms: Option<u64>,
}

/// A pinned message, as `group info` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinView {
    /// The message id.
    pub id: String,
    /// Who pinned it.
    pub by: String,
}

/// One control op of a group's moderation log (`GET /v1/groups/{group}/log`), in group
/// order: who did what to whom, and whether every node takes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The op's message id.
    pub id: String,
    /// Its author id.
    pub author: String,
    /// The author's display name, when known.
    #[serde(default)]
    pub author_name: Option<String>,
    /// The kind (`role`, `mute`, `ban`, `join`, ...).
    pub kind: String,
    /// The member it targets, if any (author id).
    #[serde(default)]
    pub target: Option<String>,
    /// The target's display name, when known.
    #[serde(default)]
    pub target_name: Option<String>,
    /// What it does, in words.
    pub text: String,
    /// The author's stamp, ms since the Unix epoch.
    pub timestamp_ms: u64,
    /// Whether it took effect (the group's rule allowed it at its place in group order).
    pub allowed: bool,
    /// The rule that refused it (`not_admin`, `outranked`, ...), when refused.
    #[serde(default)]
    pub rule: Option<String>,
    /// Why it was refused, for a human.
    #[serde(default)]
    pub reason: Option<String>,
}

/// History sync of one group, as `group info` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncView {
    /// Syncs running now (one per peer at most).
    pub running: usize,
    /// Messages the running syncs found missing and have not fetched yet.
    pub pending: usize,
    /// Messages the running syncs have stored so far.
    pub fetched: usize,
    /// Syncs completed since the node started.
    pub completed: u64,
    /// When the last sync completed, ms since the Unix epoch.
    pub last_ms: Option<u64>,
    /// Messages the last completed sync stored.
    pub last_fetched: usize,
    /// Reconciliation round trips of the last completed sync.
    pub last_rounds: u32,
    /// The peer of the last completed sync.
    pub last_peer: Option<String>,
}

/// Our identity and addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdInfo {
    /// Our PeerId (also our author id).
    pub peer_id: String,
    /// Addresses we listen on, with `/p2p/<peer id>`.
    pub addrs: Vec<String>,
    /// How far our peers' clocks are ahead of ours, in ms (negative: ours is ahead), as
    /// estimated from the stamps of live messages; `null` before any. The daemon warns when
    /// it is over a minute either way.
    #[serde(default)]
    pub clock_offset_ms: Option<i64>,
}

/// A connected peer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// Its PeerId.
    pub peer_id: String,
    /// Addresses we are connected through.
    pub addrs: Vec<String>,
}

/// A group was created.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Created {
    /// The new group's id.
    pub group: String,
    /// An invite code for it.
    pub invite: String,
}

/// An invite code, as `POST /v1/groups/{group}/invite` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteCode {
    /// The group id.
    pub group: String,
    /// The code: short (`quns1…`, 39 characters) or long (`qun1…`, 200–1,000).
    pub invite: String,
    /// Whether `invite` is the short form.
    pub short: bool,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Why a short code was asked for and a long one given (no DHT, no DHT peer stored it).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

/// One group found by a search.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchHit {
    /// Group id (base58): what `qun group join` takes.
    pub group: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Member count on the card.
    pub members: u32,
    /// `public` or `listed`.
    pub visibility: String,
    /// How many of the query's tokens the group is indexed under.
    pub matched: usize,
    /// When the card was signed, ms since the Unix epoch.
    pub issued_ms: u64,
}

/// What a search found, and what it cost.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    /// The query as typed.
    pub query: String,
    /// The tokens it asked the DHT for.
    pub tokens: Vec<String>,
    /// Groups found, best first (tokens matched, then members, then freshness).
    pub hits: Vec<SearchHit>,
    /// Distinct providers the DHT named.
    pub providers: usize,
    /// Providers asked for their cards.
    pub peers_asked: usize,
    /// Kademlia requests sent to other peers (all provider lookups).
    pub dht_requests: u32,
    /// Cards refused (bad signature, wrong group, not matching).
    pub cards_refused: usize,
    /// Wall time, ms.
    pub elapsed_ms: u64,
}

/// The outcome of `join` by group id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinOutcome {
    /// Group id.
    pub group: String,
    /// Group name.
    pub name: String,
    /// `joined` (by invite, or a public group by id), `requested` (listed group: waiting
    /// for an admin), or `already_member` (we were in the group before).
    pub status: String,
}

/// A join request, as an admin (or the requester) sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequestView {
    /// Group id.
    pub group: String,
    /// Who asks.
    pub requester: String,
    /// The display name on the requester's profile, when this node holds it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requester_name: Option<String>,
    /// Their note.
    pub note: String,
    /// When they signed it, ms since the Unix epoch.
    pub issued_ms: u64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
}

/// A group shown on a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShownGroupView {
    /// Group id.
    pub group: String,
    /// Group name.
    pub name: String,
}

/// A profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileView {
    /// Author id.
    pub author: String,
    /// Display name.
    pub name: String,
    /// Bio, if shared.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bio: Option<String>,
    /// `female`, `male` or `other`, if shared.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub gender: Option<String>,
    /// Birth year, if shared.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub birth_year: Option<u16>,
    /// Groups shown.
    pub groups: Vec<ShownGroupView>,
    /// When it was signed, ms since the Unix epoch.
    pub updated_ms: u64,
}

/// Counts of shared genders among members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenderCounts {
    /// Members who share `female`.
    pub female: usize,
    /// Members who share `male`.
    pub male: usize,
    /// Members who share `other`.
    pub other: usize,
    /// Members the counts are based on (who share a gender).
    pub based_on: usize,
}

/// A group's persona: who is in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupStats {
    /// Group id.
    pub group: String,
    /// Name.
    pub name: String,
    /// Current members.
    pub members: usize,
    /// Members who posted (text or announcement) in the last 7 days.
    pub active_7d: usize,
    /// Members online now: us, members connected to us and subscribed to the group, and
    /// members whose last message is under 5 minutes old.
    pub online: usize,
    /// Gender counts among members who share one.
    pub gender: GenderCounts,
    /// Female share among members who share a gender (0..=1), if any do.
    pub female_ratio: Option<f64>,
    /// Average age among members who share a birth year, if any do.
    pub average_age: Option<f64>,
    /// Members the average age is based on.
    pub age_based_on: usize,
    /// Members whose profile was found.
    pub profiles_found: usize,
    /// Members who share a birth year, by age (years, at the time of the request): under
    /// 18, 18–24, 25–34, 35–44, 45–54, 55 and over, in that order; they add up to
    /// `age_based_on`.
    #[serde(default)]
    pub ages: Vec<AgeBucket>,
    /// Posts (text and announcement) per UTC day over the last 30 days, oldest first, the
    /// last being today (by the author's stamps; stamps ahead of now are left out).
    #[serde(default)]
    pub posts_per_day: Vec<DayCount>,
}

/// Members in one age range, for [`GroupStats::ages`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgeBucket {
    /// The youngest age in it, in years.
    pub min: u16,
    /// The oldest age in it, in years; `None` for the open last bucket.
    pub max: Option<u16>,
    /// Members in it.
    pub members: usize,
}

/// Posts on one day, for [`GroupStats::posts_per_day`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCount {
    /// The day's start (00:00 UTC), ms since the Unix epoch.
    pub day_ms: u64,
    /// Posts stamped that day.
    pub posts: usize,
}

/// A message was stored and acknowledged: the answer of `POST …/messages` and
/// `POST …/announcement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posted {
    /// Group id.
    pub group: String,
    /// The new message's id.
    pub id: String,
}

/// A group was left: the answer of `DELETE /v1/groups/{GROUP}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Left {
    /// Group id.
    pub group: String,
    /// Always `true`.
    pub left: bool,
}

/// Syncs were started: the answer of `POST /v1/groups/{GROUP}/sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStarted {
    /// Group id.
    pub group: String,
    /// Syncs running for the group now (0: no member is connected).
    pub running: usize,
}

/// A request that has nothing to answer was done: `{"ok": true}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Always `true`.
    pub ok: bool,
}

/// A one-time login URL for the web app: the answer of `POST /v1/ui/login`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiLogin {
    /// `http://127.0.0.1:PORT/ui/login?token=…`: opening it in a browser starts a session
    /// (a cookie); it works once.
    pub url: String,
    /// When it stops working if unused, ms since the Unix epoch (2 minutes after it was
    /// issued).
    pub expires_ms: u64,
}
