//! The initiating side of history sync as a state machine with no IO.
//!
//! [`Sessions`] holds one group's running syncs, at most one per peer. The caller (the
//! node's actor) feeds it what happened: a sync to start, an [`Answer`] to a request, a
//! request that failed, a page it stored, the time for timers. It hands back [`Action`]s
//! from [`Sessions::poll_action`]: requests to send, pages to store, a peer that
//! misbehaved, a session that is done, a sync to start again. It never reads a clock:
//! `now` comes with every input, and the group's keys, history bound and wall clock come
//! in a [`Local`] view built by the caller for each call.
//!
//! ## One session
//! A session syncs each epoch it was given in turn, newest first. Per epoch it runs
//! range-based set reconciliation ([`crate::reconcile`]) one round trip at a time, and
//! fetches the keys found missing while reconciliation goes on: up to [`Config::pipeline`]
//! fetches of at most [`Config::max_fetch`] keys in flight, so the peer prepares the next
//! page while the caller checks and stores the last. Keys after the last one a page served
//! did not fit it and are asked again; keys before it that are missing, the peer does not
//! have. The epoch ends when reconciliation has finished and nothing is left to ask for or
//! wait for; the session ends after its last epoch with [`Action::Done`] and its [`Stats`].
//!
//! ## What is not fetched
//! A key we hold, a key another session of the group is fetching already (the one fetch in
//! flight per key is shared by all peers: if it fails, the next anti-entropy round finds
//! the key again), a key stamped more than [`MAX_SKEW_MS`] ahead of our clock (counted as
//! held back; a later sync brings it), and for a member who joined with history since join
//! a key before its history ([`History::excludes`]).
//!
//! ## Hostile answers
//! An answer of the wrong kind, a malformed reconciliation message, a page with more frames
//! than keys asked, a frame that does not open, or a message that was not asked for makes
//! the peer [`Action::Misbehaved`] with a precise [`Error`]: nothing of that page is stored
//! and its session ends. A refusal ends the session quietly; an `Unknown` answer moves on
//! to the next epoch and, in the first minute of our membership, schedules a retry
//! ([`JOIN_SYNC_RETRY_WINDOW_MS`]): the peer has probably not seen our join op yet.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::order::{MAX_SKEW_MS, OrderKey};
use crate::reconcile::{self, Initiator};

mod action;
mod view;

pub use action::{Action, Answer, Error, RequestId, Stats};
pub use view::{Config, History, Keyed, Keys, Local};

/// Fetches one session keeps in flight by default.
pub const FETCH_PIPELINE: usize = 3;
/// Clock slack for history since join: messages stamped up to a minute before we joined
/// are still fetched (ms).
pub const SINCE_JOIN_SLACK_MS: u64 = 60_000;
/// An `Unknown` answer within this long after we joined the group is asked again soon (ms).
pub const JOIN_SYNC_RETRY_WINDOW_MS: u64 = 60_000;
/// Wait before asking again, times the number of tries so far (2 s, 4 s, 6 s...).
pub const JOIN_SYNC_RETRY: Duration = Duration::from_secs(2);
/// Retries at most per peer.
pub const JOIN_SYNC_RETRIES: u32 = 5;

/// One sync with one peer.
struct Session {
    /// Tells this session's requests from an earlier session's with the same peer.
    serial: u64,
    /// The epoch being synced.
    epoch: u64,
    /// Epochs to sync after this one, the next one last.
    next_epochs: Vec<u64>,
    /// Reconciliation in progress (`None` once it finished).
    initiator: Option<Initiator>,
    /// Keys found missing, not asked for yet.
    want: VecDeque<OrderKey>,
    /// Fetches in flight.
    fetching: usize,
    /// Keys asked for and not answered yet.
    asked: usize,
    stats: Stats,
    started: Instant,
}

/// A request sent and not answered yet, or a page being stored.
struct Pending<P> {
    peer: P,
    serial: u64,
    kind: Kind,
}

enum Kind {
    Reconcile,
    Fetch(Vec<OrderKey>),
    Store,
}

/// The sync sessions of one group, at most one per peer (see the module docs).
pub struct Sessions<P, M = OrderKey> {
    config: Config,
    sessions: HashMap<P, Session>,
    pending: HashMap<RequestId, Pending<P>>,
    /// Keys some session asked for and has no answer for yet.
    in_flight: HashSet<OrderKey>,
    /// Peers to retry: when, and how many tries so far.
    retry: HashMap<P, (Instant, u32)>,
    actions: VecDeque<Action<P, M>>,
    next_id: u64,
}

impl<P: Clone + Eq + Hash, M: Keyed> Sessions<P, M> {
    /// No sessions yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            sessions: HashMap::new(),
            pending: HashMap::new(),
            in_flight: HashSet::new(),
            retry: HashMap::new(),
            actions: VecDeque::new(),
            next_id: 0,
        }
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action<P, M>> {
        self.actions.pop_front()
    }

    /// Whether a session with `peer` runs.
    pub fn is_running(&self, peer: &P) -> bool {
        self.sessions.contains_key(peer)
    }

    /// Starts a sync with `peer` over `epochs` (newest first) unless one runs or there is
    /// no epoch; returns whether it started.
    pub fn start(
        &mut self,
        now: Instant,
        peer: P,
        mut epochs: Vec<u64>,
        local: &Local<'_>,
    ) -> bool {
        if self.sessions.contains_key(&peer) {
            return false;
        }
        epochs.sort_unstable();
        let Some(epoch) = epochs.pop() else {
            return false;
        };
        self.next_id += 1;
        let session = Session {
            serial: self.next_id,
            epoch,
            next_epochs: epochs,
            initiator: None,
            want: VecDeque::new(),
            fetching: 0,
            asked: 0,
            stats: Stats::default(),
            started: now,
        };
        self.sessions.insert(peer.clone(), session);
        self.begin_epoch(&peer, local)
    }

    /// Ends the session with `peer` without a [`Action::Done`] (the peer disconnected or
    /// misbehaved in another group). Its requests in flight still count until answered.
    pub fn abort(&mut self, peer: &P) {
        self.sessions.remove(peer);
    }

    /// A request could not be sent or got no answer: its keys are free for another
    /// session, and its session ends.
    pub fn failed(&mut self, request: RequestId) {
        let Some(p) = self.pending.remove(&request) else {
            return;
        };
        if let Kind::Fetch(asked) = &p.kind {
            self.release(asked);
        }
        self.end_quietly(&p);
    }

    /// The answer to `request`.
    pub fn answer(
        &mut self,
        now: Instant,
        request: RequestId,
        answer: Answer<M>,
        local: &Local<'_>,
    ) {
        let Some(mut p) = self.pending.remove(&request) else {
            return;
        };
        match (std::mem::replace(&mut p.kind, Kind::Store), answer) {
            (Kind::Store, _) => {
                // Not a request: a page being stored (a caller's mistake); keep waiting.
                self.pending.insert(request, p);
            }
            (Kind::Reconcile, Answer::Reconcile(message)) => {
                self.on_reconcile(now, &p, &message, local)
            }
            (Kind::Fetch(asked), Answer::Page { frames, opened }) => {
                self.on_page(now, request, p, asked, frames, opened, local)
            }
            (kind, Answer::Refused(_)) => {
                // Over the peer's budget: the keys are free for another sync, and the
                // next anti-entropy round takes it up again.
                self.release(kind.asked());
                self.end_quietly(&p);
            }
            (kind, Answer::Unknown) => {
                // The peer does not hold this epoch (or the group, or does not take us):
                // go on with the next epoch, if any.
                self.release(kind.asked());
                self.schedule_retry(now, &p.peer, local);
                if self.current(&p).is_some() {
                    self.next_epoch_or_finish(now, &p.peer, local);
                }
            }
            (kind, other) => {
                self.release(kind.asked());
                let error = Error::WrongAnswer {
                    asked: kind.name(),
                    got: other.name(),
                };
                self.misbehaved(&p.peer, error);
            }
        }
    }

    /// The caller stored the page of [`Action::Store`] `request`; `new` of its messages
    /// were new.
    pub fn stored(&mut self, now: Instant, request: RequestId, new: usize, local: &Local<'_>) {
        let Some(p) = self.pending.remove(&request) else {
            return;
        };
        if let Some(s) = self.current(&p) {
            s.stats.fetched += new;
        }
        self.fetch_next(now, &p.peer, local);
    }

    /// Timers: retries that came due are handed out as [`Action::Retry`]. A retry entry
    /// stays (with its count) until the retry window has passed, so the tries stay bounded.
    pub fn tick(&mut self, now: Instant, local: &Local<'_>) {
        let young = local.clock_ms.saturating_sub(local.joined_ms) <= JOIN_SYNC_RETRY_WINDOW_MS;
        let due: Vec<P> = self
            .retry
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for peer in due {
            if !young {
                self.retry.remove(&peer);
                continue;
            }
            if let Some(r) = self.retry.get_mut(&peer) {
                // Not due again until rescheduled by another `Unknown`.
                r.0 = now + Duration::from_millis(JOIN_SYNC_RETRY_WINDOW_MS);
            }
            self.actions.push_back(Action::Retry { peer });
        }
    }

    /// When [`Sessions::tick`] has something to do next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.retry.values().map(|(at, _)| *at).min()
    }

    /// Running sessions, keys still to fetch (wanted or asked), messages stored so far.
    pub fn progress(&self) -> (usize, usize, usize) {
        self.sessions.values().fold((0, 0, 0), |(n, p, f), s| {
            (n + 1, p + s.want.len() + s.asked, f + s.stats.fetched)
        })
    }

    /// Whether nothing runs, waits or is scheduled.
    pub fn is_idle(&self) -> bool {
        self.sessions.is_empty() && self.pending.is_empty() && self.retry.is_empty()
    }

    /// Starts reconciling the session's current epoch: the first round trip.
    fn begin_epoch(&mut self, peer: &P, local: &Local<'_>) -> bool {
        let Some(s) = self.sessions.get_mut(peer) else {
            return false;
        };
        let lower = local.history.and_then(|h| h.bound);
        let set = local.keys.epoch(s.epoch);
        let Ok((init, first)) = Initiator::new(set, lower, self.config.reconcile.clone()) else {
            // Only a bad reconciliation config fails here.
            self.sessions.remove(peer);
            return false;
        };
        s.initiator = Some(init);
        let (epoch, serial) = (s.epoch, s.serial);
        let request = self.request(peer, serial, Kind::Reconcile);
        self.actions.push_back(Action::SendReconcile {
            peer: peer.clone(),
            request,
            epoch,
            message: first.encode(),
        });
        true
    }

    fn on_reconcile(&mut self, now: Instant, p: &Pending<P>, message: &[u8], local: &Local<'_>) {
        let ahead_of = local.clock_ms.saturating_add(MAX_SKEW_MS);
        let Some(s) = self
            .sessions
            .get_mut(&p.peer)
            .filter(|s| s.serial == p.serial)
        else {
            return;
        };
        let Some(init) = s.initiator.as_mut() else {
            return;
        };
        s.stats.rounds += 1;
        let set = local.keys.epoch(s.epoch);
        let next = reconcile::Message::decode(message).and_then(|m| init.reconcile(set, &m));
        // Fetch what is known missing already while reconciliation goes on.
        for k in init.take_new_need() {
            if local.keys.contains(&k) {
                continue;
            }
            if k.stamp.ms > ahead_of {
                s.stats.held_back += 1;
            } else if local.history.is_some_and(|h| h.excludes(&k)) {
                s.stats.skipped = s.stats.skipped.max(Some(k));
            } else {
                s.want.push_back(k);
                s.stats.found += 1;
            }
        }
        match next {
            Ok(Some(next)) => {
                let epoch = s.epoch;
                let request = self.request(&p.peer, p.serial, Kind::Reconcile);
                self.actions.push_back(Action::SendReconcile {
                    peer: p.peer.clone(),
                    request,
                    epoch,
                    message: next.encode(),
                });
                self.fetch_next(now, &p.peer, local);
            }
            Ok(None) => {
                s.initiator = None;
                self.fetch_next(now, &p.peer, local);
            }
            Err(e) => self.misbehaved(&p.peer, Error::Reconcile(e)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_page(
        &mut self,
        now: Instant,
        request: RequestId,
        p: Pending<P>,
        asked: Vec<OrderKey>,
        frames: usize,
        opened: Result<Vec<M>, String>,
        local: &Local<'_>,
    ) {
        self.release(&asked);
        if let Some(s) = self.current(&p) {
            s.fetching = s.fetching.saturating_sub(1);
            s.asked = s.asked.saturating_sub(asked.len());
        }
        let page = match check_page(&asked, frames, opened) {
            Ok(page) => page,
            Err(error) => return self.misbehaved(&p.peer, error),
        };
        let keys = page.iter().map(Keyed::order_key);
        if let (Some(last), Some(low), Some(s)) = (keys.clone().max(), keys.min(), self.current(&p))
        {
            // Keys after the last one served did not fit the page: ask again.
            for k in asked.iter().rev().filter(|k| **k > last) {
                s.want.push_front(*k);
            }
            s.stats.lowest = Some(s.stats.lowest.map_or(low, |l| l.min(low)));
        }
        if page.is_empty() {
            return self.fetch_next(now, &p.peer, local);
        }
        let peer = p.peer.clone();
        self.pending.insert(request, p);
        self.actions.push_back(Action::Store {
            peer,
            request,
            messages: page,
        });
    }

    /// Keeps up to [`Config::pipeline`] fetches in flight; ends the epoch when nothing is
    /// left to ask for or to wait for.
    fn fetch_next(&mut self, now: Instant, peer: &P, local: &Local<'_>) {
        loop {
            let Some(s) = self.sessions.get_mut(peer) else {
                return;
            };
            if s.fetching >= self.config.pipeline {
                return;
            }
            let mut batch = Vec::new();
            while batch.len() < self.config.max_fetch {
                let Some(k) = s.want.pop_front() else {
                    break;
                };
                if !local.keys.contains(&k) && self.in_flight.insert(k) {
                    batch.push(k);
                }
            }
            if batch.is_empty() {
                if s.fetching == 0 && s.initiator.is_none() {
                    self.next_epoch_or_finish(now, peer, local);
                }
                return;
            }
            // In key order, so a page cut short by its size ends at a key below all the
            // keys it left out (the responder serves in the order asked).
            batch.sort_unstable();
            s.fetching += 1;
            s.asked += batch.len();
            let (epoch, serial) = (s.epoch, s.serial);
            let request = self.request(peer, serial, Kind::Fetch(batch.clone()));
            self.actions.push_back(Action::SendFetch {
                peer: peer.clone(),
                request,
                epoch,
                keys: batch,
            });
        }
    }

    /// The epoch is done (or the peer does not serve it): the next epoch, or the end.
    fn next_epoch_or_finish(&mut self, now: Instant, peer: &P, local: &Local<'_>) {
        let Some(s) = self.sessions.get_mut(peer) else {
            return;
        };
        match s.next_epochs.pop() {
            Some(epoch) => {
                s.epoch = epoch;
                s.initiator = None;
                s.want.clear();
                self.begin_epoch(peer, local);
            }
            None => {
                if let Some(s) = self.sessions.remove(peer) {
                    let mut stats = s.stats;
                    stats.elapsed = now.saturating_duration_since(s.started);
                    self.actions.push_back(Action::Done {
                        peer: peer.clone(),
                        stats,
                    });
                }
            }
        }
    }

    /// After an `Unknown` in the first minute of our membership, asks the peer again soon.
    fn schedule_retry(&mut self, now: Instant, peer: &P, local: &Local<'_>) {
        if local.clock_ms.saturating_sub(local.joined_ms) > JOIN_SYNC_RETRY_WINDOW_MS {
            return;
        }
        let tries = self.retry.get(peer).map_or(0, |r| r.1);
        if tries < JOIN_SYNC_RETRIES {
            let at = now + JOIN_SYNC_RETRY * (tries + 1);
            self.retry.insert(peer.clone(), (at, tries + 1));
            self.actions.push_back(Action::SetTimer { at });
        }
    }

    fn misbehaved(&mut self, peer: &P, error: Error) {
        self.sessions.remove(peer);
        self.actions.push_back(Action::Misbehaved {
            peer: peer.clone(),
            error,
        });
    }

    /// Ends the session a request belonged to, if it still runs, without a `Done`.
    fn end_quietly(&mut self, p: &Pending<P>) {
        if self.current(p).is_some() {
            self.sessions.remove(&p.peer);
        }
    }

    /// The session a request belongs to, if it still runs.
    fn current(&mut self, p: &Pending<P>) -> Option<&mut Session> {
        self.sessions
            .get_mut(&p.peer)
            .filter(|s| s.serial == p.serial)
    }

    fn request(&mut self, peer: &P, serial: u64, kind: Kind) -> RequestId {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        let pending = Pending {
            peer: peer.clone(),
            serial,
            kind,
        };
        self.pending.insert(id, pending);
        id
    }

    /// Forgets that `keys` are being fetched (answered or failed).
    fn release(&mut self, keys: &[OrderKey]) {
        for k in keys {
            self.in_flight.remove(k);
        }
    }
}

/// A page is taken whole or not at all: no more frames than keys asked, every frame
/// opened, every message asked for.
fn check_page<M: Keyed>(
    asked: &[OrderKey],
    frames: usize,
    opened: Result<Vec<M>, String>,
) -> Result<Vec<M>, Error> {
    if frames > asked.len() {
        return Err(Error::Oversized {
            served: frames,
            asked: asked.len(),
        });
    }
    let page = opened.map_err(|reason| Error::Frame { reason })?;
    let asked: HashSet<&OrderKey> = asked.iter().collect();
    if let Some(m) = page.iter().find(|m| !asked.contains(&m.order_key())) {
        return Err(Error::NotAsked { key: m.order_key() });
    }
    Ok(page)
}

impl Kind {
    fn asked(&self) -> &[OrderKey] {
        match self {
            Kind::Fetch(asked) => asked,
            _ => &[],
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Kind::Reconcile => "reconcile",
            Kind::Fetch(_) => "fetch",
            Kind::Store => "store",
        }
    }
}

impl<M> Answer<M> {
    fn name(&self) -> &'static str {
        match self {
            Answer::Reconcile(_) => "reconcile",
            Answer::Page { .. } => "page",
            Answer::Refused(_) => "refused",
            Answer::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests;
