//! Publishing: a post is stored, flushed, then published.
//!
//! A post is signed, written to the store, and parked in `unflushed`. One flush runs at a
//! time; when it returns, every post written before it started is published and
//! acknowledged (group commit: one fsync serves many messages). A publish that finds no
//! subscribed peer goes to the topic's outbox and is retried when a peer subscribes and on
//! a timer, so nothing is silently dropped.
//!
//! A post is not visible to sync (the group's index), to subscribers or to the network
//! before its flush returned. If the flush fails (a full disk), the store is reopened (sled's
//! write error is sticky, see [`crate::store`]) and each waiting post is decided by what
//! reached the disk: stored, it is published and acknowledged; not stored, the sender gets
//! the error and the post never appears anywhere, also not after a restart. So an answer is
//! exact in both directions: acknowledged means stored, failed means never delivered.
//!
//! The room is [`Publisher`]: the outbox, the posts waiting for a flush, the flush task and
//! the recovery state. Its own methods take the network or the store they need; the steps
//! that also touch the groups (signing, committing a post, recovery) are the event loop's.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use qun_protocol::frame::seal_verified;
use qun_protocol::order::MAX_SKEW_MS;
use qun_protocol::{Body, Envelope, GroupId, Kind, MsgId, OrderKey, Stamp, Verified};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{EventLoop, index, nonce};
use crate::net::{self, Net, TopicHash};
use crate::store::Store;
use crate::view::{MessageView, MessageViewExt as _};
use crate::{Error, NodeEvent, PublishCmd};

/// Frames kept per topic while no peer is subscribed; older ones are dropped first (they
/// are stored, and sync brings them to peers later).
pub const OUTBOX_CAPACITY: usize = 10_000;

/// A post that is stored and waits for a flush before it is published and acknowledged.
pub(crate) struct Pending {
    pub topic: TopicHash,
    pub frame: Vec<u8>,
    /// The signed message (not in the group's index, nor shown to subscribers, yet).
    pub msg: Verified,
    pub reply: Option<oneshot::Sender<Result<MsgId, Error>>>,
}

/// First wait before the store is reopened again after a reopen failed.
const REOPEN_RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two reopen attempts.
const REOPEN_RETRY_MAX: Duration = Duration::from_secs(5);

/// Recovery of the store after a write failure.
#[derive(Default)]
pub(crate) struct Recovery {
    /// Posts whose flush failed, decided once the store is reopened.
    pub undecided: Vec<Pending>,
    /// The write failure, for the posts that are found not stored.
    pub fault: Option<crate::store::Error>,
    /// No reopen before this instant.
    pub next: Option<Instant>,
    /// The wait after the next failed reopen.
    pub wait: Duration,
}

/// The publishing room.
#[derive(Default)]
pub(crate) struct Publisher {
    /// Frames waiting for a subscribed peer, per topic (at most [`OUTBOX_CAPACITY`] each).
    pub outbox: HashMap<TopicHash, VecDeque<Vec<u8>>>,
    /// Posts stored and not yet in a flush.
    pub unflushed: Vec<Pending>,
    /// Posts of the flush running.
    pub flushing: Vec<Pending>,
    /// The flush running, if any.
    pub flush_task: Option<JoinHandle<Result<(), crate::store::Error>>>,
    /// Store recovery after a write failure.
    pub recovery: Recovery,
}

impl Publisher {
    /// Starts a flush of everything written so far, if none is running.
    pub fn maybe_start_flush(&mut self, store: &Store) {
        if self.flush_task.is_some() || self.unflushed.is_empty() {
            return;
        }
        self.flushing = std::mem::take(&mut self.unflushed);
        let store = store.clone();
        // Straight on tokio's blocking pool, as `Store::flush` does (not sled's
        // `flush_async`, see there), without an async task around it to wake in between.
        self.flush_task = Some(tokio::task::spawn_blocking(move || store.flush_blocking()));
    }

    /// Frames queued for `topic`.
    pub fn queued(&self, topic: &TopicHash) -> usize {
        self.outbox.get(topic).map_or(0, VecDeque::len)
    }

    /// Forgets what is queued for `topic` (a group we left).
    pub fn forget(&mut self, topic: &TopicHash) {
        self.outbox.remove(topic);
    }

    /// Publishes a frame, or queues it until a peer subscribes.
    pub fn publish_or_queue(&mut self, net: &mut Net, topic: TopicHash, frame: Vec<u8>) {
        let queue = self.outbox.entry(topic.clone()).or_default();
        if !queue.is_empty() {
            // Keep order: older frames go first.
            queue.push_back(frame);
            if queue.len() > OUTBOX_CAPACITY {
                queue.pop_front();
            }
            self.retry_outbox(net, Some(topic));
            return;
        }
        match net.publish(topic.clone(), frame.clone()) {
            Ok(()) | Err(net::PublishError::Duplicate) => {}
            Err(e) => {
                tracing::debug!(%topic, error = %e, "publish deferred");
                queue.push_back(frame);
            }
        }
    }

    /// Retries queued frames (of one topic, or all).
    pub fn retry_outbox(&mut self, net: &mut Net, only: Option<TopicHash>) {
        let topics: Vec<TopicHash> = match only {
            Some(t) if self.outbox.contains_key(&t) => vec![t],
            Some(_) => return,
            None => self.outbox.keys().cloned().collect(),
        };
        for topic in topics {
            let Some(queue) = self.outbox.get_mut(&topic) else {
                continue;
            };
            while let Some(frame) = queue.front() {
                match net.publish(topic.clone(), frame.clone()) {
                    Ok(())
                    | Err(net::PublishError::Duplicate)
                    | Err(net::PublishError::TooLarge) => {
                        queue.pop_front();
                    }
                    Err(net::PublishError::NotNow(_)) => break,
                }
            }
            if queue.is_empty() {
                self.outbox.remove(&topic);
            }
        }
    }
}

impl EventLoop {
    pub(crate) fn handle_publish_cmd(&mut self, cmd: PublishCmd) {
        match cmd {
            PublishCmd::Post { group, kind, reply } => {
                match blank(&kind).map_or_else(|| self.replied_to(&group, &kind), Err) {
                    Err(e) => drop(reply.send(Err(e))),
                    Ok(()) => self.handle_post(group, kind, Some(reply)),
                }
            }
            PublishCmd::Raw {
                group,
                bytes,
                reply,
            } => {
                let res = match self.groups.get(&group).and_then(|g| g.current()) {
                    Some((_, topic)) => self
                        .net
                        .publish(topic.clone(), bytes)
                        .map_err(|e| Error::Network(e.to_string())),
                    None => Err(Error::UnknownGroup(group.to_string())),
                };
                drop(reply.send(res))
            }
            other => self.handle_moderation(other),
        }
    }

    /// Signs a message for the group's current epoch and stores it (not yet flushed), if
    /// the group's rule allows it ([`qun_protocol::group::State::admits`] and
    /// [`qun_protocol::group::State::may`] on the state folded so far; otherwise
    /// [`Error::NotAllowed`] with the rule, and nothing is stored). It
    /// joins the group's index, and subscribers see it, only once a flush made it durable
    /// (`EventLoop::commit_post`).
    pub(crate) fn sign_and_store(
        &mut self,
        group: GroupId,
        kind: Kind,
    ) -> Result<(TopicHash, Vec<u8>, Verified), Error> {
        let author = self.identity.author();
        let now = self.clock_ms();
        let rt = self
            .groups
            .get_mut(&group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        let (epoch, topic) = rt
            .current()
            .ok_or_else(|| Error::Internal("group has no epoch".into()))?;
        let topic = topic.clone();
        let key = rt
            .keys
            .get(&epoch)
            .cloned()
            .ok_or_else(|| Error::Internal("no message key for the current epoch".into()))?;
        let body = Body {
            group,
            epoch,
            stamp: rt.clock.stamp(now),
            kind,
        };
        let msg = Envelope::sign(&self.identity, &body)?;
        // The group's one rule, as every receiver will apply it: a message it refuses is
        // neither stored nor sent (a muted member's post, an op beyond the author's role).
        // Not for our join: after a removal, the unban that lets us back in was sent in an
        // epoch we could not read, so our state may be behind; the receivers decide.
        if !matches!(msg.body.kind, Kind::Join(_)) {
            rt.state
                .admits(&msg)
                .and_then(|()| rt.state.may(&author, &msg.body.kind.action(&msg)))
                .map_err(|r| Error::refused(&r))?;
        }
        let frame = seal_verified(&msg, &key, nonce()?)
            .and_then(|f| f.encode())
            .map_err(|e| Error::Invalid(e.to_string()))?;
        self.store.insert(&msg)?;
        // Folded now, not at the flush: the next op of ours is checked against this one (two
        // transfers sent at once: the second is refused here, not by every receiver later).
        // A flush that fails reloads the state from the store ([`Self::recover_store`]).
        if msg.body.kind.is_control() {
            self.groups.fold_op(&msg);
        }
        Ok((topic, frame, msg))
    }

    /// Signs and stores a message; it is published and acknowledged after the next flush.
    pub(crate) fn handle_post(
        &mut self,
        group: GroupId,
        kind: Kind,
        reply: Option<tokio::sync::oneshot::Sender<Result<MsgId, Error>>>,
    ) {
        match self.sign_and_store(group, kind) {
            Ok((topic, frame, msg)) => {
                self.publish.unflushed.push(Pending {
                    topic,
                    frame,
                    msg,
                    reply,
                });
                self.publish.maybe_start_flush(&self.store);
            }
            Err(e) => {
                if let Some(r) = reply {
                    let _ = r.send(Err(e));
                }
            }
        }
    }

    /// A flush returned: publish and acknowledge what it made durable. A failed flush
    /// leaves its posts undecided until the store is reopened ([`Self::recover_store`]).
    pub(crate) fn handle_flushed(&mut self, res: Result<(), crate::store::Error>) {
        let batch = std::mem::take(&mut self.publish.flushing);
        match res {
            Ok(()) => {
                self.publish.recovery.wait = Duration::ZERO;
                for p in batch {
                    self.commit_post(p);
                }
                self.publish.maybe_start_flush(&self.store);
            }
            Err(e) => {
                tracing::error!(error = %e, posts = batch.len(), "store flush failed");
                self.store.mark_failed();
                self.publish.recovery.fault.get_or_insert(e);
                self.publish.recovery.undecided.extend(batch);
            }
        }
    }

    /// A post is durable: it joins the group's index (sync may serve it), subscribers see
    /// it, it is published, and its sender gets the id.
    pub(crate) fn commit_post(&mut self, p: Pending) {
        let group = p.msg.body.group;
        let mut closed = false;
        if let Some(rt) = self.groups.get_mut(&group) {
            if rt.index.insert(p.msg.body.epoch, p.msg.order_key()) {
                rt.messages += 1;
            }
            closed = rt
                .state
                .epoch_open(p.msg.body.epoch, p.msg.order_key())
                .is_err();
        }
        // A re-key folded while it waited for its flush closed its epoch out: it is re-sent
        // in the new one (`super::repost`).
        if closed {
            self.groups.changed.insert(group);
        }
        if p.msg.body.kind.is_control() {
            self.note_own_op(&p.msg);
        }
        if self.events.receiver_count() > 0 {
            self.emit(NodeEvent::Message(MessageView::of(&p.msg)));
        }
        self.publish
            .publish_or_queue(&mut self.net, p.topic, p.frame);
        if let Some(reply) = p.reply {
            let _ = reply.send(Ok(p.msg.id));
        }
    }

    /// After a write failure: reopens the store (once no flush is in flight, with backoff
    /// while reopening fails), reloads what the groups hold from it, and decides every
    /// waiting post by whether it reached the disk.
    pub(crate) fn recover_store(&mut self) {
        if !self.store.failed() || self.publish.flush_task.is_some() {
            return;
        }
        let now = Instant::now();
        if self.publish.recovery.next.is_some_and(|t| t > now) {
            return;
        }
        if let Err(e) = self.store.reopen() {
            let wait = self
                .publish
                .recovery
                .wait
                .clamp(REOPEN_RETRY_MIN, REOPEN_RETRY_MAX);
            self.publish.recovery.wait = (wait * 2).min(REOPEN_RETRY_MAX);
            self.publish.recovery.next = Some(now + wait);
            tracing::warn!(error = %e, retry_ms = wait.as_millis() as u64, "could not reopen the store");
            return;
        }
        // Write failures right after a reopen (the disk is still full) wait a little before
        // the next reopen; a successful flush resets the wait.
        let wait = self
            .publish
            .recovery
            .wait
            .clamp(REOPEN_RETRY_MIN, REOPEN_RETRY_MAX);
        self.publish.recovery.wait = (wait * 2).min(REOPEN_RETRY_MAX);
        self.publish.recovery.next = Some(now + wait);
        tracing::info!("store reopened after a write failure");
        self.reload_groups();
        self.known.mark_all_dirty();
        let fault = self
            .publish
            .recovery
            .fault
            .take()
            .unwrap_or(crate::store::Error::Unavailable);
        let waiting: Vec<Pending> = std::mem::take(&mut self.publish.recovery.undecided)
            .into_iter()
            .chain(std::mem::take(&mut self.publish.unflushed))
            .collect();
        for p in waiting {
            match self.store.get(&p.msg.body.group, &p.msg.order_key()) {
                Ok(Some(_)) => {
                    tracing::info!(id = %p.msg.id, "a post whose flush failed reached the disk");
                    self.commit_post(p);
                }
                Ok(None) | Err(_) => {
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Store(fault.clone())));
                    }
                }
            }
        }
    }

    /// Reloads each group's index, count and state from the (reopened) store.
    fn reload_groups(&mut self) {
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        for id in ids {
            let keys = match self.store.order_keys(&id) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(group = %id, error = %e, "could not reload a group");
                    continue;
                }
            };
            let history = self.store.history_from(&id).ok().flatten();
            let now = self.clock_ms();
            if let Some(rt) = self.groups.get_mut(&id) {
                rt.index = index::Index::from_keys(keys);
                rt.messages = rt.index.len();
                // The clock never goes back: it only observes the stored stamps again.
                let limit = OrderKey::at(Stamp::new(now.saturating_add(MAX_SKEW_MS + 1), 0));
                if let Some(k) = rt.index.last_below(&limit) {
                    let _ = rt.clock.observe(k.stamp, now);
                }
                rt.history = history;
            }
            self.groups.dirty.insert(id);
        }
    }
}

impl EventLoop {
    /// A reply must name a message of the same group that this node holds: a reply to
    /// another group's message (or a made-up id) is [`Error::NotFound`] (HTTP 404).
    fn replied_to(&self, group: &GroupId, kind: &Kind) -> Result<(), Error> {
        let Kind::Text(t) = kind else { return Ok(()) };
        let Some(to) = &t.reply_to else { return Ok(()) };
        match self.store.by_id(to)? {
            Some(m) if m.body.group == *group => Ok(()),
            _ => Err(Error::NotFound(format!(
                "no message {to} in this group to reply to"
            ))),
        }
    }
}

/// A user's post that would show nothing: a text message or an announcement of only
/// spaces, marks or format characters ([`qun_protocol::text::is_blank`]). An empty
/// announcement stays allowed: it clears the announcement.
fn blank(kind: &Kind) -> Option<Error> {
    match kind {
        Kind::Text(t) if !t.text.is_empty() && qun_protocol::text::is_blank(&t.text) => {
            Some(Error::Invalid(
                "the message is blank: it shows nothing but spaces or invisible characters".into(),
            ))
        }
        Kind::Announcement(a) if !a.text.is_empty() && qun_protocol::text::is_blank(&a.text) => {
            Some(Error::Invalid(
                "the announcement is blank: give text, or \"\" to clear it".into(),
            ))
        }
        _ => None,
    }
}
