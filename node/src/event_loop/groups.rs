//! Joined groups and their runtime: the room [`Groups`].
//!
//! Each joined group has a [`GroupRt`]: its record (genesis and epoch secrets), its folded
//! state, its hybrid clock, its keys and topics, and the index of its stored messages.
//!
//! ## Folding
//! Each control op stored is folded into its group's [`State`] at once when it sorts after
//! the last op folded ([`State::apply_next`]); one that arrives out of order marks the
//! group, whose stored control ops are folded again from scratch once at the end of the
//! loop iteration ([`Groups::refold_dirty`]). The connection limits' bypass list (members
//! of private and listed groups) is refreshed once per iteration that folded.

use std::collections::{HashMap, HashSet};

use qun_protocol::group::State;
use qun_protocol::order::{Clock, MAX_SKEW_MS, Stamp};
use qun_protocol::{GroupId, Kind, MessageKey, OrderKey, SyncKey, Verified};

use super::{EventLoop, index};
use crate::net::{self, Net, PeerId, TopicHash};
use crate::store::{GroupRecord, Store};
use crate::{Error, NodeEvent};

/// A joined group, in memory.
pub(crate) struct GroupRt {
    pub record: GroupRecord,
    pub state: State,
    /// The group's hybrid logical clock: stamps our posts after everything seen.
    pub clock: Clock,
    /// Messages stored for the group (counted once at start, then kept up to date).
    pub messages: usize,
    /// The message key of each epoch we hold.
    pub keys: HashMap<u64, MessageKey>,
    /// The sync proof key of each epoch we hold.
    pub sync_keys: HashMap<u64, SyncKey>,
    /// The gossipsub topic of each epoch we hold.
    pub topics: Vec<(u64, TopicHash)>,
    /// The order keys of every stored message by epoch, for sync.
    pub index: index::Index,
    /// Set when joined with history since join.
    pub history: Option<crate::store::HistoryFrom>,
}

impl GroupRt {
    /// The current (newest) epoch and its topic.
    pub fn current(&self) -> Option<(u64, &TopicHash)> {
        self.topics
            .iter()
            .max_by_key(|(e, _)| *e)
            .map(|(e, t)| (*e, t))
    }
}

/// The joined groups.
#[derive(Default)]
pub(crate) struct Groups {
    map: HashMap<GroupId, GroupRt>,
    /// The group of each topic we are subscribed to.
    by_topic: HashMap<TopicHash, GroupId>,
    /// Groups whose state must be folded again from scratch: a control op arrived out of
    /// order, or the store was reloaded. (A control op that sorts after the last one folded
    /// is applied to the state as it is stored: [`Groups::fold_op`].)
    pub dirty: HashSet<GroupId>,
    /// A control op was folded this iteration: the connection limits' bypass list is
    /// refreshed once at its end.
    pub folded: bool,
    /// Groups whose state may have changed since the re-keying room last looked
    /// (`EventLoop::check_epochs`).
    pub changed: HashSet<GroupId>,
}

impl<'a> IntoIterator for &'a Groups {
    type Item = (&'a GroupId, &'a GroupRt);
    type IntoIter = std::collections::hash_map::Iter<'a, GroupId, GroupRt>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl Groups {
    pub fn get(&self, id: &GroupId) -> Option<&GroupRt> {
        self.map.get(id)
    }

    pub fn get_mut(&mut self, id: &GroupId) -> Option<&mut GroupRt> {
        self.map.get_mut(id)
    }

    pub fn contains_key(&self, id: &GroupId) -> bool {
        self.map.contains_key(id)
    }

    pub fn keys(&self) -> impl Iterator<Item = &GroupId> {
        self.map.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &GroupRt> {
        self.map.values()
    }

    /// The group a topic of ours belongs to.
    pub fn by_topic(&self, topic: &TopicHash) -> Option<GroupId> {
        self.by_topic.get(topic).copied()
    }

    /// Adds (or replaces) a group and its topics.
    pub fn insert(&mut self, id: GroupId, rt: GroupRt) {
        for (_, t) in &rt.topics {
            self.by_topic.insert(t.clone(), id);
        }
        self.map.insert(id, rt);
        self.changed.insert(id);
    }

    /// Replaces a joined group's record (its epoch secrets changed): derives the keys of
    /// every epoch again, subscribes to the topics that are new on `net` and leaves those
    /// no secret gives any more (a secret replaced by a re-key race's winner).
    pub fn set_record(
        &mut self,
        net: &mut Net,
        id: GroupId,
        record: GroupRecord,
    ) -> Result<(), Error> {
        let Some(rt) = self.map.get_mut(&id) else {
            return Ok(());
        };
        let mut topics = Vec::new();
        rt.keys.clear();
        rt.sync_keys.clear();
        for e in &record.epochs {
            rt.keys.insert(e.epoch, e.secret.message_key(&id, e.epoch));
            rt.sync_keys
                .insert(e.epoch, e.secret.sync_key(&id, e.epoch));
            let topic = net
                .subscribe(&e.secret.topic(&id, e.epoch))
                .map_err(Error::Network)?;
            self.by_topic.insert(topic.clone(), id);
            topics.push((e.epoch, topic));
        }
        for (_, old) in &rt.topics {
            if !topics.iter().any(|(_, t)| t == old) {
                net.unsubscribe(old);
                self.by_topic.remove(old);
            }
        }
        rt.topics = topics;
        rt.record = record;
        Ok(())
    }

    /// Removes a group and its topics.
    pub fn remove(&mut self, id: &GroupId) -> Option<GroupRt> {
        let rt = self.map.remove(id)?;
        for (_, t) in &rt.topics {
            self.by_topic.remove(t);
        }
        self.dirty.remove(id);
        self.changed.remove(id);
        Some(rt)
    }

    /// The group `query` names among the joined groups (see [`crate::reads::resolve_among`]:
    /// the API reads the same from the store).
    pub fn resolve(&self, query: &str) -> Result<GroupId, Error> {
        crate::reads::resolve_among(
            query,
            self.map.iter().map(|(id, g)| (id, g.state.name.as_str())),
        )
    }

    /// Adds a joined group to the runtime: its keys, its topics (subscribed on `net`), its
    /// state, index and history (read from `store`); `now_ms` seeds its clock.
    pub fn add(
        &mut self,
        net: &mut Net,
        store: &Store,
        id: GroupId,
        record: GroupRecord,
        now_ms: u64,
    ) -> Result<(), Error> {
        let mut keys = HashMap::new();
        let mut sync_keys = HashMap::new();
        let mut topics = Vec::new();
        for e in &record.epochs {
            keys.insert(e.epoch, e.secret.message_key(&id, e.epoch));
            sync_keys.insert(e.epoch, e.secret.sync_key(&id, e.epoch));
            let topic = net
                .subscribe(&e.secret.topic(&id, e.epoch))
                .map_err(Error::Network)?;
            topics.push((e.epoch, topic));
        }
        let state = State::fold(&record.genesis.genesis, &store.control_ops(&id)?);
        let index = index::Index::from_keys(store.order_keys(&id)?);
        let clock = seed_clock(&index, now_ms);
        let messages = index.len();
        self.insert(
            id,
            GroupRt {
                record,
                state,
                clock,
                messages,
                keys,
                sync_keys,
                topics,
                index,
                history: store.history_from(&id)?,
            },
        );
        Ok(())
    }

    /// Whether `peer` is a member of one of our groups (spared when the known-peers table
    /// is full).
    pub fn is_member(&self, peer: &PeerId) -> bool {
        net::author(peer).is_some_and(|a| self.map.values().any(|g| g.state.members.contains(&a)))
    }

    /// Folds a control op just stored into its group's state: applied to the state as it
    /// is when it sorts after the last op folded (the same as folding every op again), and
    /// otherwise (it arrived out of order) the group is folded from scratch at the end of
    /// the loop iteration ([`Self::refold_dirty`]).
    pub fn fold_op(&mut self, msg: &Verified) {
        let group = msg.body.group;
        self.folded = true;
        self.changed.insert(group);
        // Said once per group and run (then counted in `State::unknown_control_ops`).
        if let Kind::Unknown { tag, .. } = &msg.body.kind
            && self
                .map
                .get(&group)
                .is_some_and(|rt| rt.state.unknown_control_ops == 0)
        {
            tracing::warn!(%group, tag, id = %msg.id, "a control op of a kind this version \
                does not know: the group's state may be incomplete (members, rights); upgrade qun");
        }
        if self.dirty.contains(&group) {
            return;
        }
        let in_order = self
            .map
            .get_mut(&group)
            .is_some_and(|rt| rt.state.apply_next(msg).is_ok());
        if !in_order {
            self.dirty.insert(group);
        }
    }

    /// Folds again from scratch the state of groups that got control ops out of order, once
    /// per loop iteration however many ops arrived (a sync page may carry hundreds); true
    /// if any control op was folded since the last call.
    pub fn refold_dirty(&mut self, store: &Store) -> bool {
        if self.dirty.is_empty() && !self.folded {
            return false;
        }
        self.folded = false;
        for id in std::mem::take(&mut self.dirty) {
            self.refold(store, id);
        }
        true
    }

    /// Folds one group's state from scratch, from its stored control ops.
    pub fn refold(&mut self, store: &Store, id: GroupId) {
        let ops = match store.control_ops(&id) {
            Ok(ops) => ops,
            Err(e) => {
                tracing::error!(group = %id, error = %e, "could not fold group state");
                return;
            }
        };
        if let Some(rt) = self.map.get_mut(&id) {
            rt.state = State::fold(&rt.record.genesis.genesis, &ops);
            self.changed.insert(id);
        }
    }
}

impl EventLoop {
    /// Folds one group's state from scratch (see [`Groups::refold`]).
    pub(crate) fn refold(&mut self, id: GroupId) {
        self.groups.refold(&self.store, id);
    }

    /// Adds a joined group to the runtime (see [`Groups::add`]).
    pub(crate) fn add_group(&mut self, id: GroupId, record: GroupRecord) -> Result<(), Error> {
        let now = self.clock_ms();
        self.groups.add(&mut self.net, &self.store, id, record, now)
    }

    /// Stores a validated message (unless it is stamped too far ahead: see
    /// [`order::check`]) and brings the runtime up to date: the group's hybrid clock and
    /// message count, its state (control ops are folded: [`Groups::fold_op`]), and the
    /// subscribers. The one way in for every message: sent, gossiped or synced. Returns
    /// whether the message was new and admitted: a message the group state refuses (a post
    /// by a member after it left, `group::State::admits`) is not stored, so a later sync
    /// brings it again, when a rejoin may have arrived.
    pub(crate) fn accept(&mut self, msg: &Verified) -> Result<bool, Error> {
        if let Err(e) = self.stamp_acceptable(msg) {
            tracing::debug!(id = %msg.id, error = %e, "message held back: stamped too far ahead");
            return Ok(false);
        }
        if let Some(rt) = self.groups.get(&msg.body.group)
            && let Err(e) = rt.state.admits(msg)
        {
            tracing::debug!(group = %msg.body.group, error = %e, "message refused");
            return Ok(false);
        }
        if !self.store.insert(msg)? {
            return Ok(false);
        }
        let group = msg.body.group;
        let now = self.clock_ms();
        if let Some(rt) = self.groups.get_mut(&group) {
            // A stamp too far ahead does not move the clock (callers refuse such messages
            // before they get here; our own posts are stamped by this clock).
            let _ = rt.clock.observe(msg.body.stamp, now);
            rt.messages += 1;
            rt.index.insert(msg.body.epoch, msg.order_key());
        }
        if msg.body.kind.is_control() {
            self.groups.fold_op(msg);
            // Handed the group: our card, with the transfer chain, is due soon
            // (`discovery::card`).
            if matches!(&msg.body.kind, Kind::Transfer(t) if t.to == self.identity.author()) {
                self.schedule_announce(std::time::Duration::from_secs(2));
            }
        }
        self.want_name(msg.author());
        if self.events.receiver_count() > 0 {
            self.emit(NodeEvent::Message(self.message_view(msg)));
        }
        Ok(true)
    }
}

/// A group clock that has seen the highest stored stamp not too far ahead of `now_ms`: a
/// stamp stored by an older version with a hostile Lamport clock (read as a stamp far in
/// the future) must not drag our posts after it.
fn seed_clock(index: &index::Index, now_ms: u64) -> Clock {
    let limit = OrderKey::at(Stamp::new(now_ms.saturating_add(MAX_SKEW_MS + 1), 0));
    let mut clock = Clock::new();
    if let Some(k) = index.last_below(&limit) {
        let _ = clock.observe(k.stamp, now_ms);
    }
    clock
}
