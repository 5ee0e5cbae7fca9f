//! Posts closed out by a re-key: dropped everywhere, and re-sent in the new epoch when they
//! are ours.
//!
//! A message of epoch `n` that sorts after the re-key that started `n + 1` is refused by
//! every node that folded that re-key (`qun_protocol::group::State::epoch_open`,
//! `Refused::EpochClosed`). A node that had not folded it yet when the message came (or,
//! for our own posts, when we signed it: one gossip round trip during a re-key) stored it,
//! and the message would stay in that node's history only. So after the folds of a loop
//! iteration, once we post in the fold's epoch (we hold its secret), every stored message
//! the rule now closes out is removed from the store and the sync index, whoever wrote
//! it: every node ends with the same history. Join, leave and re-key ops are exempt from
//! the rule and are kept.
//!
//! Those of our own (a text acknowledged to our user, a control op) are re-sent first, in
//! group order: the same kind, signed again now in the current epoch (a new stamp, so a
//! new message id), published and shown to subscribers like any post (a
//! `NodeEvent::Message`); a reply to, or a pin of, a message re-sent in the same pass
//! names its new id. A control op the group's rule no longer allows us (demoted by the
//! op the re-key raced) is dropped with a log line and a `NodeEvent::Rejected`. Only
//! messages signed by our key are re-sent, so no peer can make us send anything but our
//! own posts, and only a re-key the fold takes (an admin's) closes an epoch.
//!
//! **Bounds.** A re-post sorts after everything we hold, so only a further re-key can
//! close it out; one closed out again is re-sent again, at most [`MAX_REPOSTS`] times in
//! all (counted in memory, [`Reposts`]), then dropped with a log line.
//!
//! **Restarts.** Every group is looked at when the node starts (a group added to the
//! runtime is marked changed), so a crash between the fold of the re-key and the
//! re-post loses nothing: the closed-out post is still stored and is re-sent then. The
//! re-post is stored before the original is removed; a crash between the two writes
//! (before their flush) can at worst send the post twice, never lose it.

use std::collections::HashMap;
use std::ops::Bound;

use qun_protocol::{GroupId, Kind, MsgId, OrderKey, Verified};

use super::{EventLoop, Pending};
use crate::NodeEvent;

/// How many times one post of ours is re-sent after re-keys closed it out, at most.
pub const MAX_REPOSTS: u32 = 3;

/// Re-posts remembered with their count, at most (then forgotten all at once: a re-post
/// closed out again after that counts from zero).
const MAX_TRACKED: usize = 4096;

/// The re-posting room: how many times each re-post of ours was re-sent so far.
#[derive(Default)]
pub(crate) struct Reposts {
    count: HashMap<MsgId, u32>,
}

impl EventLoop {
    /// Removes the stored messages of `group` that a re-key closed out, and re-sends ours
    /// in the current epoch (see the module docs). Does nothing until we post in the
    /// fold's epoch.
    pub(crate) fn repost_closed(&mut self, group: &GroupId) {
        let me = self.identity.author();
        let Some(rt) = self.groups.get(group) else {
            return;
        };
        let st = &rt.state;
        if rt.current().map(|(e, _)| e) != Some(st.epoch) {
            return;
        }
        let mut closed: Vec<OrderKey> = Vec::new();
        for (&epoch, start) in &st.epoch_starts {
            let Some(prev) = epoch.checked_sub(1) else {
                continue;
            };
            closed.extend(
                rt.index
                    .epoch(prev)
                    .range((Bound::Excluded(*start), Bound::Unbounded))
                    .copied(),
            );
        }
        if closed.is_empty() {
            return;
        }
        closed.sort();
        let may_post = st.members.contains(&me);
        let mut renamed: HashMap<MsgId, MsgId> = HashMap::new();
        for key in closed {
            let msg = match self.store.get(group, &key) {
                Ok(Some(m)) => m,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(%group, error = %e, "could not read a closed-out message");
                    return;
                }
            };
            let kind = &msg.body.kind;
            if kind.is_membership() || matches!(kind, Kind::Rekey(_) | Kind::Unknown { .. }) {
                continue;
            }
            if msg.author() == me && may_post {
                self.repost(&msg, &mut renamed);
            }
            self.drop_closed(&msg);
        }
    }

    /// Re-sends one closed-out post of ours in the current epoch.
    fn repost(&mut self, msg: &Verified, renamed: &mut HashMap<MsgId, MsgId>) {
        let group = msg.body.group;
        let count = self.reposts.count.remove(&msg.id).unwrap_or(0);
        if count >= MAX_REPOSTS {
            tracing::warn!(%group, id = %msg.id, kind = msg.body.kind.name(), count,
                "a post of ours was closed out by re-keys again and again: not re-sent");
            return;
        }
        let mut kind = msg.body.kind.clone();
        match &mut kind {
            Kind::Text(t) => {
                if let Some(to) = t.reply_to.as_mut()
                    && let Some(n) = renamed.get(to)
                {
                    *to = *n;
                }
            }
            Kind::Pin(p) => {
                if let Some(n) = renamed.get(&p.id) {
                    p.id = *n;
                }
            }
            Kind::Unpin(p) => {
                if let Some(n) = renamed.get(&p.id) {
                    p.id = *n;
                }
            }
            _ => {}
        }
        match self.sign_and_store(group, kind) {
            Ok((topic, frame, new)) => {
                tracing::info!(%group, old = %msg.id, new = %new.id, epoch = new.body.epoch,
                    kind = new.body.kind.name(), "re-sent a post of ours closed out by a re-key");
                renamed.insert(msg.id, new.id);
                if self.reposts.count.len() >= MAX_TRACKED {
                    self.reposts.count.clear();
                }
                self.reposts.count.insert(new.id, count + 1);
                self.publish.unflushed.push(Pending {
                    topic,
                    frame,
                    msg: new,
                    reply: None,
                });
                self.publish.maybe_start_flush(&self.store);
            }
            Err(e) => {
                tracing::warn!(%group, id = %msg.id, kind = msg.body.kind.name(), error = %e,
                    "a post of ours closed out by a re-key is not allowed any more: dropped");
                self.emit(NodeEvent::Rejected {
                    peer: self.identity.author().to_string(),
                    reason: format!(
                        "our {} {} was closed out by a re-key and is not allowed in the new \
                         epoch: {e}",
                        msg.body.kind.name(),
                        msg.id
                    ),
                });
            }
        }
    }

    /// Removes a closed-out message from the store and the group's sync index.
    fn drop_closed(&mut self, msg: &Verified) {
        let group = msg.body.group;
        match self.store.remove(msg) {
            Ok(true) => {
                tracing::debug!(%group, id = %msg.id, "removed a message closed out by a re-key");
                if let Some(rt) = self.groups.get_mut(&group)
                    && rt.index.remove(msg.body.epoch, &msg.order_key())
                {
                    rt.messages = rt.messages.saturating_sub(1);
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%group, id = %msg.id, error = %e, "could not remove a closed-out message")
            }
        }
    }
}
