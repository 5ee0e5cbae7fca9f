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
//! first, proving that epoch's secret in every request. The initiator keeps the group's
//! order keys in memory per epoch ([`super::GroupRt::index`]), so a round costs no store
//! reads; the responder answers from the same index and reads the store only for frames it
//! sends.
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
//! [`SINCE_JOIN_SLACK_MS`] before the join time by its clock; after it, keys below the
//! bound that sync settled in the group's order: the lowest key it fetched, or if it
//! fetched none, just above the highest key it skipped. So a member whose clock is fast
//! (by an hour, say) still gets everything written after that first sync, where a bound
//! in its own clock's time would skip an hour of messages; and syncs reconcile only from
//! the bound. (The clock offset estimate of `crate::skew` is not used here: the frames a
//! member kept in its outbox while alone would be its first samples and fool it.)

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use qun_protocol::frame::{self, seal_verified};
use qun_protocol::order::MAX_SKEW_MS;
use qun_protocol::reconcile::{self, Initiator};
use qun_protocol::sync::{
    Ask, MAX_FETCH, MAX_PAGE_BYTES, Proof, ProofContext, Refusal, Request, Response,
};
use qun_protocol::{GroupId, OrderKey, Stamp, SyncKey, Verified};

use super::{EventLoop, GroupRt, nonce};
use crate::NodeEvent;
use crate::net::{self, PeerId, RequestId, Responder};

/// Fetches one session keeps in flight, so the peer prepares the next page while we
/// validate the last.
pub const FETCH_PIPELINE: usize = 3;
/// Pages at least this long are opened on two threads.
const PARALLEL_OPEN_FROM: usize = 64;

/// Clock slack for history since join: messages stamped up to a minute before we joined
/// are still fetched.
pub const SINCE_JOIN_SLACK_MS: u64 = 60_000;

/// A sync refused within this long after we joined the group is asked again soon (ms): the
/// peer has probably not seen our join op yet (a member who left and rejoins is refused
/// until its new join arrives), and the next anti-entropy round may be 30 s away.
pub const JOIN_SYNC_RETRY_WINDOW_MS: u64 = 60_000;
/// Wait before asking again, times the number of tries so far (2 s, 4 s, 6 s...).
const JOIN_SYNC_RETRY: Duration = Duration::from_secs(2);
/// Tries at most per peer and group.
const JOIN_SYNC_RETRIES: u32 = 5;

/// One sync with one peer for one group, on the initiating side.
pub(crate) struct Session {
    /// The epoch being synced.
    epoch: u64,
    /// Epochs to sync after this one.
    next_epochs: Vec<u64>,
    /// Reconciliation in progress (`None` once it finished).
    initiator: Option<Initiator>,
    /// Keys found missing, not asked for yet.
    want: VecDeque<OrderKey>,
    /// Fetches in flight.
    fetching: usize,
    /// Keys asked for and not answered yet.
    asked: usize,
    /// Keys found missing in all.
    pub found: usize,
    /// Messages stored from this sync.
    pub fetched: usize,
    /// The lowest order key this sync stored (where a since-join history starts).
    lowest: Option<OrderKey>,
    /// The highest key skipped as older than a since-join history.
    skipped: Option<OrderKey>,
    /// Keys not fetched because they are stamped too far ahead of our clock.
    held_back: usize,
    /// Reconciliation round trips.
    pub rounds: u32,
    started: Instant,
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

impl EventLoop {
    /// Starts a sync of `group` with `peer` unless one runs or the peer misbehaved.
    pub(crate) fn start_sync(&mut self, peer: PeerId, group: GroupId) -> bool {
        if self.bad_sync_peers.contains(&peer) || self.sessions.contains_key(&(peer, group)) {
            return false;
        }
        let Some(rt) = self.groups.get(&group) else {
            return false;
        };
        // Newest epoch first: the current conversation before older history.
        let mut epochs: Vec<u64> = rt.sync_keys.keys().copied().collect();
        epochs.sort_unstable();
        let Some(epoch) = epochs.pop() else {
            return false;
        };
        self.sessions.insert(
            (peer, group),
            Session {
                epoch,
                next_epochs: epochs,
                initiator: None,
                want: VecDeque::new(),
                fetching: 0,
                asked: 0,
                found: 0,
                fetched: 0,
                lowest: None,
                skipped: None,
                held_back: 0,
                rounds: 0,
                started: Instant::now(),
            },
        );
        self.begin_epoch(peer, group)
    }

    /// Starts reconciling the session's current epoch: the first round trip.
    fn begin_epoch(&mut self, peer: PeerId, group: GroupId) -> bool {
        let Some(epoch) = self.sessions.get(&(peer, group)).map(|s| s.epoch) else {
            return false;
        };
        let (Some(rt), Some(proof)) = (
            self.groups.get(&group),
            self.prove(&peer, &group, epoch, Ask::Reconcile),
        ) else {
            self.sessions.remove(&(peer, group));
            return false;
        };
        let lower = rt.history.and_then(|h| h.bound);
        let started = Initiator::new(rt.index.epoch(epoch), lower, reconcile::Config::default());
        let (init, first) = match started {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "cannot start reconciliation");
                self.sessions.remove(&(peer, group));
                return false;
            }
        };
        if let Some(s) = self.sessions.get_mut(&(peer, group)) {
            s.initiator = Some(init);
        }
        let req = Request::Reconcile {
            group,
            epoch,
            proof,
            message: first.encode(),
        };
        self.send_sync(peer, group, req, Vec::new());
        true
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

    fn send_sync(&mut self, peer: PeerId, group: GroupId, req: Request, asked: Vec<OrderKey>) {
        let id = self.net.send_sync(&peer, req);
        self.sync_pending.insert(id, (peer, group, asked));
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
    pub(crate) fn on_sync_answer(&mut self, id: RequestId, response: Response) {
        if let Some((peer, group, asked)) = self.sync_pending.remove(&id) {
            self.on_sync_response(peer, group, response, asked);
        }
    }

    /// One of our sync requests failed: its session ends.
    pub(crate) fn on_sync_failure(&mut self, id: RequestId, peer: PeerId, error: &str) {
        tracing::debug!(%peer, %error, "sync request failed");
        if let Some((peer, group, asked)) = self.sync_pending.remove(&id) {
            self.release_fetch(&group, &asked);
            self.sessions.remove(&(peer, group));
        }
    }

    pub(crate) fn serve_sync(&mut self, peer: PeerId, req: Request, channel: Responder<Response>) {
        let fetch = matches!(req, Request::Fetch { .. });
        let resp = if !self.limits.sync_allowed(&peer, fetch, Instant::now()) {
            tracing::debug!(%peer, fetch, "sync rate limit");
            Response::Refused {
                reason: Refusal::RateLimited,
            }
        } else {
            self.answer(&peer, req)
        };
        if let Response::Frames { frames } = &resp {
            let bytes = frames.iter().map(Vec::len).sum();
            self.limits.fetch_served(&peer, bytes, Instant::now());
        }
        self.net.respond_sync(channel, resp);
    }

    fn answer(&self, peer: &PeerId, req: Request) -> Response {
        let refuse = |reason| Response::Refused { reason };
        let Some(rt) = self.authorized(peer, &req) else {
            return Response::Unknown;
        };
        match req {
            Request::Reconcile { epoch, message, .. } => {
                let set = rt.index.epoch(epoch);
                let reply = reconcile::Message::decode(&message)
                    .and_then(|m| reconcile::respond(set, &m, &reconcile::Config::default()));
                match reply {
                    Ok(m) => Response::Reconcile {
                        message: m.encode(),
                    },
                    Err(_) => refuse(Refusal::Malformed),
                }
            }
            Request::Fetch {
                group, epoch, keys, ..
            } => {
                if keys.len() > MAX_FETCH {
                    return refuse(Refusal::Malformed);
                }
                match self.frames_for(rt, &group, epoch, &keys) {
                    Ok(frames) => Response::Frames { frames },
                    Err(e) => {
                        tracing::warn!(error = %e, "could not serve a fetch");
                        Response::Frames { frames: Vec::new() }
                    }
                }
            }
        }
    }

    /// The group `req` may be served from: we hold its epoch, the proof is right for that
    /// epoch, `peer` and us, and `peer` has not left the group. `None` for anything else,
    /// after the same checks (a group or epoch we do not hold is checked against a dummy
    /// key), so the answer does not tell a stranger whether we are in the group.
    fn authorized(&self, peer: &PeerId, req: &Request) -> Option<&GroupRt> {
        let rt = self.groups.get(req.group());
        let key = rt.and_then(|rt| rt.sync_keys.get(&req.epoch()));
        let requester = peer.to_bytes();
        let responder = self.net.local_peer_id().to_bytes();
        let ctx = ProofContext {
            requester: &requester,
            responder: &responder,
            group: req.group(),
            epoch: req.epoch(),
            ask: req.ask(),
        };
        let dummy = SyncKey::unknown();
        let proven = ctx.verify(key.unwrap_or(&dummy), req.proof()).is_ok();
        let rt = rt.filter(|_| proven && key.is_some())?;
        let left = net::author(peer).is_some_and(|a| rt.state.has_left(&a));
        if left {
            tracing::debug!(%peer, group = %req.group(), "sync from a member who left");
            return None;
        }
        Some(rt)
    }

    /// Sealed frames of the messages of `epoch` at `keys` that we hold, up to the page
    /// limit. Messages the group state refuses (written by a member after it left) are
    /// left out.
    fn frames_for(
        &self,
        rt: &GroupRt,
        group: &GroupId,
        epoch: u64,
        keys: &[OrderKey],
    ) -> Result<Vec<Vec<u8>>, crate::Error> {
        let (Some(mk), set) = (rt.keys.get(&epoch), rt.index.epoch(epoch)) else {
            return Ok(Vec::new());
        };
        let mut frames = Vec::new();
        let mut bytes = 0;
        for key in keys {
            if !set.contains(key) {
                continue;
            }
            let Some(msg) = self.store.get(group, key)? else {
                continue;
            };
            if msg.body.epoch != epoch || rt.state.admits(&msg).is_err() {
                continue;
            }
            let f = seal_verified(&msg, mk, nonce()?)
                .and_then(|f| f.encode())
                .map_err(|e| crate::Error::Internal(e.to_string()))?;
            bytes += f.len();
            if bytes > MAX_PAGE_BYTES {
                break;
            }
            frames.push(f);
        }
        Ok(frames)
    }

    fn on_sync_response(
        &mut self,
        peer: PeerId,
        group: GroupId,
        resp: Response,
        asked: Vec<OrderKey>,
    ) {
        match resp {
            Response::Reconcile { message } => self.on_reconcile(peer, group, &message),
            Response::Frames { frames } => self.on_frames(peer, group, &frames, asked),
            Response::Refused { reason } => {
                // Over the peer's budget (or it left the group): the keys asked for are free
                // for another sync, and the next anti-entropy round takes it up again.
                tracing::debug!(%peer, %group, ?reason, "sync refused");
                self.release_fetch(&group, &asked);
                self.sessions.remove(&(peer, group));
            }
            Response::Unknown => {
                // The peer does not hold this epoch (or the group, or does not take us):
                // go on with the next epoch, if any.
                tracing::debug!(%peer, %group, "sync peer does not know the group or epoch");
                self.release_fetch(&group, &asked);
                self.schedule_join_sync_retry(peer, group);
                self.next_epoch_or_finish(peer, group);
            }
        }
    }

    /// After a refusal in the first minute of our membership, asks the peer again soon.
    fn schedule_join_sync_retry(&mut self, peer: PeerId, group: GroupId) {
        let Some(rt) = self.groups.get(&group) else {
            return;
        };
        let age = self.clock_ms().saturating_sub(rt.record.joined_ms);
        if age > JOIN_SYNC_RETRY_WINDOW_MS {
            return;
        }
        let now = Instant::now();
        let tries = self.sync_retry.get(&(peer, group)).map_or(0, |r| r.1);
        if tries < JOIN_SYNC_RETRIES {
            self.sync_retry.insert(
                (peer, group),
                (now + JOIN_SYNC_RETRY * (tries + 1), tries + 1),
            );
        }
    }

    /// Starts the refused syncs whose time has come (on the discovery tick). An entry stays
    /// (with its count) until the retry window of its group has passed, so the tries stay
    /// bounded.
    pub(crate) fn retry_refused_syncs(&mut self) {
        let now = Instant::now();
        let clock = self.clock_ms();
        let due: Vec<(PeerId, GroupId)> = self
            .sync_retry
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(k, _)| *k)
            .collect();
        for (peer, group) in due {
            let young = self.groups.get(&group).is_some_and(|rt| {
                clock.saturating_sub(rt.record.joined_ms) <= JOIN_SYNC_RETRY_WINDOW_MS
            });
            if !young {
                self.sync_retry.remove(&(peer, group));
                continue;
            }
            if let Some(r) = self.sync_retry.get_mut(&(peer, group)) {
                // Not due again until rescheduled by another refusal.
                r.0 = now + Duration::from_millis(JOIN_SYNC_RETRY_WINDOW_MS);
            }
            if self.net.is_connected(&peer) {
                self.start_sync(peer, group);
            }
        }
    }

    fn on_reconcile(&mut self, peer: PeerId, group: GroupId, message: &[u8]) {
        let ahead_of = self.clock_ms().saturating_add(MAX_SKEW_MS);
        let (Some(rt), Some(session)) = (
            self.groups.get(&group),
            self.sessions.get_mut(&(peer, group)),
        ) else {
            return;
        };
        let Some(init) = session.initiator.as_mut() else {
            return;
        };
        session.rounds += 1;
        let epoch = session.epoch;
        let set = rt.index.epoch(epoch);
        let next = reconcile::Message::decode(message).and_then(|m| init.reconcile(set, &m));
        // Fetch what is known missing already while reconciliation goes on; a member who
        // joined with history since join skips what was written before, and keys stamped
        // too far ahead wait for a later sync.
        for k in init.take_new_need() {
            if rt.index.contains(&k) {
                continue;
            }
            if k.stamp.ms > ahead_of {
                session.held_back += 1;
            } else if before_history(rt.history, &k) {
                session.skipped = session.skipped.max(Some(k));
            } else {
                session.want.push_back(k);
                session.found += 1;
            }
        }
        match next {
            Ok(Some(next)) => {
                let Some(proof) = self.prove(&peer, &group, epoch, Ask::Reconcile) else {
                    self.sessions.remove(&(peer, group));
                    return;
                };
                let req = Request::Reconcile {
                    group,
                    epoch,
                    proof,
                    message: next.encode(),
                };
                self.send_sync(peer, group, req, Vec::new());
                self.fetch_next(peer, group);
            }
            Ok(None) => {
                session.initiator = None;
                self.fetch_next(peer, group);
            }
            Err(e) => self.bad_sync_peer(peer, group, &format!("reconciliation: {e}")),
        }
    }

    /// Keeps up to [`FETCH_PIPELINE`] fetches in flight; ends the session when nothing is
    /// left to ask for or to wait for.
    fn fetch_next(&mut self, peer: PeerId, group: GroupId) {
        loop {
            let (Some(rt), Some(session)) = (
                self.groups.get(&group),
                self.sessions.get_mut(&(peer, group)),
            ) else {
                return;
            };
            if session.fetching >= FETCH_PIPELINE {
                return;
            }
            let in_flight = self.fetch_in_flight.entry(group).or_default();
            let mut batch = Vec::new();
            while batch.len() < MAX_FETCH {
                let Some(k) = session.want.pop_front() else {
                    break;
                };
                // Another sync of this group may be fetching it already: if that one
                // fails, the next anti-entropy round finds the key again.
                if !rt.index.contains(&k) && in_flight.insert(k) {
                    batch.push(k);
                }
            }
            if batch.is_empty() {
                if session.fetching == 0 && session.initiator.is_none() {
                    self.next_epoch_or_finish(peer, group);
                }
                return;
            }
            session.fetching += 1;
            session.asked += batch.len();
            let epoch = session.epoch;
            let Some(proof) = self.prove(&peer, &group, epoch, Ask::Fetch) else {
                self.release_fetch(&group, &batch);
                self.sessions.remove(&(peer, group));
                return;
            };
            let req = Request::Fetch {
                group,
                epoch,
                proof,
                keys: batch.clone(),
            };
            self.send_sync(peer, group, req, batch);
        }
    }

    fn on_frames(
        &mut self,
        peer: PeerId,
        group: GroupId,
        frames: &[Vec<u8>],
        asked: Vec<OrderKey>,
    ) {
        self.release_fetch(&group, &asked);
        let Some(rt) = self.groups.get(&group) else {
            return;
        };
        if let Some(s) = self.sessions.get_mut(&(peer, group)) {
            s.fetching = s.fetching.saturating_sub(1);
            s.asked = s.asked.saturating_sub(asked.len());
        }
        let page = match open_page(frames, &group, &rt.keys, &asked) {
            Ok(page) => page,
            Err(reason) => return self.bad_sync_peer(peer, group, &reason),
        };
        // Keys after the last one served did not fit the page: ask again. Keys before it
        // that are missing, the peer does not have.
        if let (Some(last), Some(s)) = (
            page.iter().map(Verified::order_key).max(),
            self.sessions.get_mut(&(peer, group)),
        ) {
            for k in asked.iter().rev().filter(|k| **k > last) {
                s.want.push_front(*k);
            }
        }
        // Control ops first, folded at once, so a rejoin in this page admits the posts
        // after it (`accept` refuses posts of a member who left).
        let (control, rest): (Vec<&Verified>, Vec<&Verified>) =
            page.iter().partition(|m| m.body.kind.is_control());
        let mut new = self.accept_all(&control);
        if self.groups.dirty.remove(&group) {
            self.refold(group);
        }
        new += self.accept_all(&rest);
        if let Some(s) = self.sessions.get_mut(&(peer, group)) {
            s.fetched += new;
            if let Some(low) = page.iter().map(Verified::order_key).min() {
                s.lowest = Some(s.lowest.map_or(low, |l| l.min(low)));
            }
        }
        tracing::debug!(%peer, %group, new, "sync page stored");
        self.fetch_next(peer, group);
    }

    /// Stores each synced message that is new and admitted; returns how many were stored.
    fn accept_all(&mut self, msgs: &[&Verified]) -> usize {
        let mut new = 0;
        for msg in msgs {
            match self.accept(msg) {
                Ok(true) => new += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "could not store a synced message"),
            }
        }
        new
    }

    /// Forgets that `keys` are being fetched (answered or failed).
    fn release_fetch(&mut self, group: &GroupId, keys: &[OrderKey]) {
        if let Some(set) = self.fetch_in_flight.get_mut(group) {
            for k in keys {
                set.remove(k);
            }
            if set.is_empty() {
                self.fetch_in_flight.remove(group);
            }
        }
    }

    /// The session's epoch is done (or the peer does not serve it): the next epoch, or the
    /// end of the session.
    fn next_epoch_or_finish(&mut self, peer: PeerId, group: GroupId) {
        let Some(s) = self.sessions.get_mut(&(peer, group)) else {
            return;
        };
        match s.next_epochs.pop() {
            Some(epoch) => {
                s.epoch = epoch;
                s.initiator = None;
                s.want.clear();
                self.begin_epoch(peer, group);
            }
            None => self.finish_sync(peer, group),
        }
    }

    fn finish_sync(&mut self, peer: PeerId, group: GroupId) {
        let Some(s) = self.sessions.remove(&(peer, group)) else {
            return;
        };
        tracing::debug!(
            %peer, %group, rounds = s.rounds, found = s.found, fetched = s.fetched,
            held_back = s.held_back, ms = s.started.elapsed().as_millis() as u64, "sync done"
        );
        self.settle_history_bound(group, s.lowest, s.skipped);
        let stats = self.sync_stats.entry(group).or_default();
        stats.completed += 1;
        stats.last_ms = Some(super::now_ms());
        stats.last_fetched = s.fetched;
        stats.last_rounds = s.rounds;
        stats.last_peer = Some(peer);
    }

    /// After the first sync of a group joined with history since join, its history starts at
    /// the millisecond of the lowest key that sync brought or, if it brought none, just above
    /// the highest key it skipped: later syncs reconcile only from there.
    fn settle_history_bound(
        &mut self,
        group: GroupId,
        lowest: Option<OrderKey>,
        skipped: Option<OrderKey>,
    ) {
        let Some(rt) = self.groups.get_mut(&group) else {
            return;
        };
        let Some(mut from) = rt.history else {
            return;
        };
        if from.bound.is_some() {
            return;
        }
        // Skipped keys are all older than fetched ones (the filter is a time), so the
        // lowest fetched key's millisecond is above every skipped key.
        from.bound = match (lowest, skipped) {
            (Some(low), _) => Some(OrderKey::at(Stamp::new(low.stamp.ms, 0))),
            (None, Some(high)) => Some(OrderKey::at(high.stamp.successor())),
            (None, None) => return,
        };
        rt.history = Some(from);
        if let Err(e) = self.store.put_history_from(&group, &from) {
            tracing::warn!(error = %e, "could not record where the history starts");
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
        self.sessions.retain(|(p, _), _| *p != peer);
        self.bad_sync_peers.insert(peer);
        self.net.disconnect(peer);
    }

    /// Sync progress of a group: (running sessions, keys still to fetch, fetched so far).
    pub(crate) fn sync_progress(&self, group: &GroupId) -> (usize, usize, usize) {
        self.sessions
            .iter()
            .filter(|((_, g), _)| g == group)
            .fold((0, 0, 0), |(n, p, f), (_, s)| {
                (n + 1, p + s.want.len() + s.asked, f + s.fetched)
            })
    }
}

/// Whether `key` is older than where the history of a group joined with history since join
/// starts (`history`): below the bound the first sync settled (a key in the group's order,
/// so group time), or before that, stamped more than [`SINCE_JOIN_SLACK_MS`] before our
/// clock's join time. Always false for a full history.
pub(crate) fn before_history(history: Option<crate::store::HistoryFrom>, key: &OrderKey) -> bool {
    let Some(h) = history else {
        return false;
    };
    match h.bound {
        Some(bound) => *key < bound,
        None => key.stamp.ms < h.since_ms.saturating_sub(SINCE_JOIN_SLACK_MS),
    }
}

/// Opens every frame of a fetched page; all must be valid and asked for, or the page is
/// refused whole (the reason names the first fault). Long pages are opened on two threads:
/// signature checks are most of a catch-up's cost.
fn open_page(
    frames: &[Vec<u8>],
    group: &GroupId,
    keys: &std::collections::HashMap<u64, qun_protocol::MessageKey>,
    asked: &[OrderKey],
) -> Result<Vec<Verified>, String> {
    let asked: HashSet<&OrderKey> = asked.iter().collect();
    let open_all = |chunk: &[Vec<u8>]| -> Result<Vec<Verified>, String> {
        let mut out = Vec::with_capacity(chunk.len());
        for bytes in chunk {
            let msg = match frame::open(bytes, group, |e| keys.get(&e).cloned()) {
                Ok(m) => m,
                Err(e) if !e.is_sender_fault() => continue,
                Err(e) => return Err(e.to_string()),
            };
            if !asked.contains(&msg.order_key()) {
                return Err("served a message that was not asked for".into());
            }
            out.push(msg);
        }
        Ok(out)
    };
    if frames.len() < PARALLEL_OPEN_FROM {
        return open_all(frames);
    }
    let (left, right) = frames.split_at(frames.len() / 2);
    let (a, b) = std::thread::scope(|s| {
        let handle = s.spawn(|| open_all(right));
        let a = open_all(left);
        let b = handle
            .join()
            .unwrap_or_else(|_| Err("frame check panicked".into()));
        (a, b)
    });
    let mut page = a?;
    page.extend(b?);
    Ok(page)
}
