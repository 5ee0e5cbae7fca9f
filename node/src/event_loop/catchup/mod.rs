//! History sync over `/qun/sync/3`: range-based set reconciliation, then fetching what is
//! missing (see `qun_protocol::sync` for the wire and `qun_protocol::reconcile` for the
//! algorithm).
//!
//! ## When it runs
//! * when a peer subscribes to one of our group topics (a new connection, a reconnection
//!   after sleep or a partition, the peer joining);
//! * when we join a group, with a few peers already known to be in it;
//! * periodically, with jitter, with one random subscribed peer per group: this is the
//!   anti-entropy that spreads what sync brought to one member (a synced message is not
//!   gossiped again) and what gossip missed;
//! * on demand ([`crate::Node::sync`]).
//!
//! Each (peer, group) has at most one session. It syncs each epoch we hold in turn, newest
//! first, proving that epoch's secret in every request. The session itself is a state
//! machine with no IO in protocol/ ([`qun_protocol::sync::session`]: reconciliation rounds,
//! the fetch pipeline, the one fetch in flight per key, hostile answers, join retries);
//! this room ([`Syncs`]) is its actor: this file sends the requests the machine asks for
//! (adding the proofs) and feeds back answers, failures and timer ticks; `pages` opens and
//! stores the pages and settles what a finished sync leaves; `serve` answers peers. The
//! initiator keeps the group's order keys in memory per epoch ([`super::GroupRt::index`]),
//! so a round costs no store reads; the responder answers from the same index and reads
//! the store only for frames it sends.
//!
//! ## Who is served
//! A request is answered only if its proof matches the epoch's sync key, the peer id the
//! connection authenticated and ours, and its sender has not left the group (its latest
//! membership op is not a leave). Anything else (a stranger, a replayed proof, an epoch we
//! do not hold, a group we are not in, a member who left) gets the same
//! [`Response::Unknown`] after the same checks. Messages a member who left wrote after its
//! leave are not served either (`group::State::admits`).
//!
//! ## Validation
//! Every frame fetched goes through `frame::open` like gossip, and its order key must be
//! one we asked for. A page is checked whole before anything in it is stored: one bad frame
//! and nothing from the page is stored, the peer is disconnected, never asked again, and a
//! `Rejected` event names it. A malformed reconciliation message is treated the same way.
//! Each peer has budgets ([`crate::rate`]): reconciliation requests, fetch requests, and
//! the bytes of frames served to it (and to everyone together); a request over budget gets
//! `Refused { RateLimited }` before any work is done for it.
//!
//! ## Stamps ahead of our clock
//! A key stamped more than `order::MAX_SKEW_MS` ahead of our clock is not fetched (nor
//! counted as missing): the session ends without it, and a later sync, once our clock has
//! caught up, brings it. Nothing loops on it.
//!
//! ## History since join
//! A member who joined with history since join skips keys from before it joined
//! ([`before_history`]): before its first sync, keys stamped more than
//! `SINCE_JOIN_SLACK_MS` (a minute) before the join time by its clock; after it, keys
//! below the bound that sync settled in the group's order: the lowest key it fetched, or
//! if it fetched none, just above the highest key it skipped. So a member whose clock is
//! fast (by an hour, say) still gets everything written after that first sync, where a
//! bound in its own clock's time would skip an hour of messages; and syncs reconcile only
//! from the bound. (The clock offset estimate of `crate::skew` is not used here: the frames a
//! member kept in its outbox while alone would be its first samples and fool it.)

use std::collections::HashMap;
use std::time::Instant;

use qun_protocol::sync::session::{self, Action, Answer, Config, History, Keys, Local, Sessions};
use qun_protocol::sync::{Ask, Proof, ProofContext, Request, Response};
use qun_protocol::{GroupId, OrderKey, Verified};

use super::bounded::BoundedSet;
use super::index::Index;
use super::{EventLoop, GroupRt, MAX_BAD_SYNC_PEERS, Timer};
use crate::NodeEvent;
use crate::net::{PeerId, RequestId};

mod pages;
mod serve;

use pages::open_page;

/// The sync sessions of one group, driven by this actor.
pub(crate) type GroupSyncs = Sessions<PeerId, Verified>;

/// The sync room: the initiating side's running sessions and requests in flight, the
/// peers never asked again, and what the last syncs did.
pub(crate) struct Syncs {
    /// Running syncs per group, one per peer at most, with their fetches in flight and
    /// join retries; a group's entry goes once idle.
    pub sessions: HashMap<GroupId, GroupSyncs>,
    /// Sync requests in flight: peer, group, and the request's id in the group's sessions.
    pub pending: HashMap<RequestId, (PeerId, GroupId, session::RequestId)>,
    /// Peers that served an invalid sync page: never asked again (at most
    /// [`MAX_BAD_SYNC_PEERS`], the oldest forgotten first).
    pub bad_peers: BoundedSet<PeerId>,
    /// What the last syncs of each group did.
    pub stats: HashMap<GroupId, SyncStats>,
}

impl Syncs {
    pub fn new() -> Self {
        Self {
            sessions: HashMap::new(),
            pending: HashMap::new(),
            bad_peers: BoundedSet::new(MAX_BAD_SYNC_PEERS),
            stats: HashMap::new(),
        }
    }

    /// Forgets every sync of a group we left: sessions, requests in flight (their answers
    /// are then dropped), keys being fetched, retries and figures.
    pub fn forget(&mut self, group: &GroupId) {
        self.sessions.remove(group);
        self.pending.retain(|_, (_, g, _)| g != group);
        self.stats.remove(group);
    }

    /// When the earliest retry of any group comes due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.sessions
            .values()
            .filter_map(GroupSyncs::next_deadline)
            .min()
    }

    /// Ends every session with `peer` (it disconnected or misbehaved); their requests in
    /// flight still count until answered or failed.
    pub fn abort(&mut self, peer: &PeerId) {
        for s in self.sessions.values_mut() {
            s.abort(peer);
        }
    }

    /// Sync progress of a group: (running sessions, keys still to fetch, fetched so far).
    pub fn progress(&self, group: &GroupId) -> (usize, usize, usize) {
        self.sessions
            .get(group)
            .map_or((0, 0, 0), GroupSyncs::progress)
    }
}

/// What the last syncs of a group did, for `group info`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SyncStats {
    pub completed: u64,
    pub last_ms: Option<u64>,
    pub last_fetched: usize,
    pub last_rounds: u32,
    pub last_peer: Option<PeerId>,
}

impl Keys for Index {
    fn epoch(&self, epoch: u64) -> &std::collections::BTreeSet<OrderKey> {
        Index::epoch(self, epoch)
    }

    fn contains(&self, key: &OrderKey) -> bool {
        Index::contains(self, key)
    }
}

/// What the sessions of a group see of it: its keys, its history, our clock.
fn local(rt: &GroupRt, clock_ms: u64) -> Local<'_> {
    Local {
        keys: &rt.index,
        history: rt.history.map(history),
        clock_ms,
        joined_ms: rt.record.joined_ms,
    }
}

fn history(h: crate::store::HistoryFrom) -> History {
    History {
        since_ms: h.since_ms,
        bound: h.bound,
    }
}

impl EventLoop {
    /// Starts a sync of `group` with `peer` unless one runs or the peer misbehaved.
    pub(crate) fn start_sync(&mut self, peer: PeerId, group: GroupId) -> bool {
        if self.sync.bad_peers.contains(&peer) {
            return false;
        }
        let clock = self.clock_ms();
        let Some(rt) = self.groups.get(&group) else {
            return false;
        };
        let epochs: Vec<u64> = rt.sync_keys.keys().copied().collect();
        let syncs = self
            .sync
            .sessions
            .entry(group)
            .or_insert_with(|| Sessions::new(Config::default()));
        let started = syncs.start(Instant::now(), peer, epochs, &local(rt, clock));
        self.run_sync(group);
        started
    }

    /// Feeds one input to the sessions of `group` (with the group's current view), then
    /// carries out what they ask. Nothing happens for a group we left.
    fn feed_sync(&mut self, group: GroupId, input: impl FnOnce(&mut GroupSyncs, &Local<'_>)) {
        let clock = self.clock_ms();
        if let (Some(rt), Some(syncs)) =
            (self.groups.get(&group), self.sync.sessions.get_mut(&group))
        {
            input(syncs, &local(rt, clock));
        }
        self.run_sync(group);
    }

    /// Carries out the actions of the sessions of `group` until there are none; forgets
    /// the sessions once idle.
    fn run_sync(&mut self, group: GroupId) {
        while let Some(action) = self
            .sync
            .sessions
            .get_mut(&group)
            .and_then(|s| s.poll_action())
        {
            match action {
                Action::SendReconcile {
                    peer,
                    request,
                    epoch,
                    message,
                } => {
                    let req = self
                        .prove(&peer, &group, epoch, Ask::Reconcile)
                        .map(|proof| Request::Reconcile {
                            group,
                            epoch,
                            proof,
                            message,
                        });
                    self.send_sync(peer, group, request, req);
                }
                Action::SendFetch {
                    peer,
                    request,
                    epoch,
                    keys,
                } => {
                    let req =
                        self.prove(&peer, &group, epoch, Ask::Fetch)
                            .map(|proof| Request::Fetch {
                                group,
                                epoch,
                                proof,
                                keys,
                            });
                    self.send_sync(peer, group, request, req);
                }
                Action::Store {
                    peer,
                    request,
                    messages,
                } => {
                    let new = self.store_page(group, &messages);
                    tracing::debug!(%peer, %group, new, "sync page stored");
                    self.feed_sync(group, |s, l| s.stored(Instant::now(), request, new, l));
                }
                Action::Misbehaved { peer, error } => {
                    self.bad_sync_peer(peer, group, &error.to_string())
                }
                Action::Done { peer, stats } => self.finish_sync(peer, group, stats),
                Action::Retry { peer } => {
                    if self.net.is_connected(&peer) {
                        self.start_sync(peer, group);
                    }
                }
                // `handle_sync_retry` ticks every group whose retry is due.
                Action::SetTimer { at } => self.timers.at(at, Timer::SyncRetry),
            }
        }
        if self.sync.sessions.get(&group).is_some_and(|s| s.is_idle()) {
            self.sync.sessions.remove(&group);
        }
    }

    /// Sends a sync request, or tells the sessions it could not be (no proof: we no
    /// longer hold the epoch's key).
    fn send_sync(
        &mut self,
        peer: PeerId,
        group: GroupId,
        request: session::RequestId,
        req: Option<Request>,
    ) {
        match req {
            Some(req) => {
                let id = self.net.send_sync(&peer, req);
                self.sync.pending.insert(id, (peer, group, request));
            }
            None => {
                if let Some(s) = self.sync.sessions.get_mut(&group) {
                    s.failed(request);
                }
            }
        }
    }

    /// The proof that we hold `epoch` of `group`, for a request of kind `ask` to `peer`.
    fn prove(&self, peer: &PeerId, group: &GroupId, epoch: u64, ask: Ask) -> Option<Proof> {
        let key = self.groups.get(group)?.sync_keys.get(&epoch)?;
        let requester = self.net.local_peer_id().to_bytes();
        let responder = peer.to_bytes();
        let ctx = ProofContext {
            requester: &requester,
            responder: &responder,
            group,
            epoch,
            ask,
        };
        Some(ctx.prove(key))
    }

    /// Periodic anti-entropy: one random subscribed peer per group.
    pub(crate) fn sync_round(&mut self) {
        let groups: Vec<GroupId> = self.groups.keys().copied().collect();
        for group in groups {
            let peers = self.subscribed_peers(&group);
            if peers.is_empty() {
                continue;
            }
            let pick = super::random_index(peers.len());
            self.start_sync(peers[pick], group);
        }
    }

    /// Connected peers subscribed to `group`'s current topic.
    pub(crate) fn subscribed_peers(&self, group: &GroupId) -> Vec<PeerId> {
        let Some((_, topic)) = self.groups.get(group).and_then(|g| g.current()) else {
            return Vec::new();
        };
        let mut peers = self.net.subscribers(std::slice::from_ref(topic));
        peers.retain(|p| self.net.is_connected(p));
        peers
    }

    /// The answer to one of our sync requests.
    pub(crate) fn handle_sync_answer(&mut self, id: RequestId, response: Response) {
        if let Some((peer, group, request)) = self.sync.pending.remove(&id) {
            self.on_sync_response(peer, group, request, response);
        }
    }

    /// One of our sync requests failed: its session ends.
    pub(crate) fn handle_sync_failure(&mut self, id: RequestId, peer: PeerId, error: &str) {
        tracing::debug!(%peer, %error, "sync request failed");
        if let Some((_, group, request)) = self.sync.pending.remove(&id) {
            if let Some(s) = self.sync.sessions.get_mut(&group) {
                s.failed(request);
            }
            self.run_sync(group);
        }
    }

    /// An answer to one of our requests: pages are opened here (the sessions check that
    /// every message was asked for), the rest goes to the sessions as it is.
    fn on_sync_response(
        &mut self,
        peer: PeerId,
        group: GroupId,
        request: session::RequestId,
        resp: Response,
    ) {
        let answer = match resp {
            Response::Reconcile { message } => Answer::Reconcile(message),
            Response::Frames { frames } => {
                let Some(rt) = self.groups.get(&group) else {
                    return;
                };
                Answer::Page {
                    frames: frames.len(),
                    opened: open_page(&frames, &group, &rt.keys),
                }
            }
            Response::Refused { reason } => {
                tracing::debug!(%peer, %group, ?reason, "sync refused");
                Answer::Refused(reason)
            }
            Response::Unknown => {
                tracing::debug!(%peer, %group, "sync peer does not know the group or epoch");
                Answer::Unknown
            }
        };
        self.feed_sync(group, |s, l| s.answer(Instant::now(), request, answer, l));
    }

    /// Retries of syncs refused in the first minute of a membership (on their timer): the
    /// sessions hand out the ones due. Sessions of groups we left are dropped.
    pub(crate) fn handle_sync_retry(&mut self) {
        self.sync
            .sessions
            .retain(|g, _| self.groups.contains_key(g));
        let now = Instant::now();
        let due: Vec<GroupId> = self
            .sync
            .sessions
            .iter()
            .filter(|(_, s)| s.next_deadline().is_some_and(|at| at <= now))
            .map(|(g, _)| *g)
            .collect();
        for group in due {
            self.feed_sync(group, |s, l| s.tick(now, l));
        }
    }

    /// A peer served something invalid: nothing of that page is stored, the peer is
    /// disconnected and never asked again.
    fn bad_sync_peer(&mut self, peer: PeerId, group: GroupId, reason: &str) {
        tracing::warn!(%peer, %group, reason, "sync peer misbehaved");
        self.emit(NodeEvent::Rejected {
            peer: peer.to_string(),
            reason: format!("sync: {reason}"),
        });
        self.sync.abort(&peer);
        self.sync.bad_peers.insert(peer);
        self.net.disconnect(peer);
    }
}

/// Whether `key` is older than where the history of a group joined with history since join
/// starts (`history`): see [`History::excludes`]. Always false for a full history.
pub(crate) fn before_history(history: Option<crate::store::HistoryFrom>, key: &OrderKey) -> bool {
    history.is_some_and(|h| self::history(h).excludes(key))
}
