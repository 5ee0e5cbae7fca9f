//! Group state: a pure fold of the group's control ops in group order.
//!
//! ## State
//! [`State`] is a pure fold of the group's control messages (announcement, join, leave,
//! meta, and control ops this version does not know) in the group's total order
//! ([`crate::OrderKey`]). An op counts only if its author held the right at its position in
//! the order (today: announcement and meta are the owner's). Any two nodes holding the same
//! ops compute the same state, whatever order the ops arrived in, because the node folds
//! them sorted. Each kind's fold step lives in its file in [`crate::message::kinds`];
//! [`State::apply`] runs the checks every op gets, then that step.
//!
//! ## Incremental fold
//! The state remembers the order key of the last op it applied ([`State::last_applied`]).
//! An op that sorts after it is applied to the current state ([`State::apply_next`]): the
//! result is what a full fold of all the ops would give. An op that sorts before it (it
//! arrived out of order) cannot be: the caller folds everything again ([`State::fold`]).
//!
//! ## Unknown control ops
//! A control op of a kind this version does not know is counted in
//! [`State::unknown_control_ops`] and otherwise has no effect: a state with a non-zero
//! count is incomplete (a newer node may compute other members or rights) and says so.
//!
//! ## Members who left
//! A member's membership ops (join, leave) sit in group order like everything else. A
//! message (any kind but join and leave) whose author's last membership op before it, in
//! group order, is a leave is refused by every node ([`State::admits`]): what a member
//! writes between its leave and a new join is never stored nor forwarded. A member whose
//! latest op is a leave is out ([`State::has_left`]): its sync requests are answered as a
//! stranger's. The rule depends only on the ops, so every node that holds them decides the
//! same; a node that lacks a rejoin refuses a post written after it for now, and takes it
//! when sync brings the post again after the rejoin arrived. (A member who left still holds
//! the epoch secret; only re-keying, which is not built yet, takes that away.)

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{AuthorId, MsgId};
use crate::message::Verified;
use crate::order::OrderKey;

use super::Genesis;

/// The current announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The message that set it.
    pub id: MsgId,
    /// Who set it.
    pub author: AuthorId,
    /// Its text.
    pub text: String,
    /// When it was set (author's clock).
    pub timestamp_ms: u64,
}

/// Group state: a pure fold of control messages in group order.
///
/// Two states are equal when they hold the same group state: where the fold stands
/// ([`State::last_applied`]) is bookkeeping and is not compared, so an op that had no effect
/// leaves the state equal to what it was.
#[derive(Debug, Clone)]
pub struct State {
    /// The owner.
    pub owner: AuthorId,
    /// The name.
    pub name: String,
    /// Description from the latest meta.
    pub description: String,
    /// Tags from the latest meta.
    pub tags: Vec<String>,
    /// Current members.
    pub members: BTreeSet<AuthorId>,
    /// Current announcement, if any.
    pub announcement: Option<Announcement>,
    /// Each author's join (`true`) and leave (`false`) ops by order key; the owner's leaves,
    /// which have no effect, are not kept.
    pub membership: BTreeMap<AuthorId, BTreeMap<OrderKey, bool>>,
    /// Control ops of kinds this version does not know (tags in
    /// [`crate::message::CONTROL_TAGS`]) that were folded without effect. Non-zero means
    /// the state is incomplete: a newer node may compute other members or rights.
    pub unknown_control_ops: u64,
    /// The order key of the last op applied.
    last_applied: Option<OrderKey>,
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        let Self {
            owner,
            name,
            description,
            tags,
            members,
            announcement,
            membership,
            unknown_control_ops,
            last_applied: _,
        } = self;
        *owner == other.owner
            && *name == other.name
            && *description == other.description
            && *tags == other.tags
            && *members == other.members
            && *announcement == other.announcement
            && *membership == other.membership
            && *unknown_control_ops == other.unknown_control_ops
    }
}

impl Eq for State {}

/// Why the group state refuses a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The author's last membership op before this message, in group order, is a leave.
    #[error("{author} left the group (at {}) before this message", left_at.stamp)]
    AuthorLeft {
        /// The author.
        author: AuthorId,
        /// The order key of its leave op.
        left_at: OrderKey,
    },
}

/// The outcome of applying one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The op changed (or confirmed) the state.
    Ok,
    /// The author lacked the right at this position; the op has no effect.
    NotAllowed,
}

/// An op that sorts before the last op applied: it cannot be applied to the current state
/// ([`State::apply_next`]); fold all the ops again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("op at {} sorts before the last op applied, at {}", at.stamp, last.stamp)]
pub struct OutOfOrder {
    /// The op's order key.
    pub at: OrderKey,
    /// The order key of the last op applied.
    pub last: OrderKey,
}

impl State {
    /// The state of a fresh group.
    pub fn new(genesis: &Genesis) -> Self {
        Self {
            owner: genesis.owner,
            name: genesis.name.clone(),
            description: String::new(),
            tags: Vec::new(),
            members: BTreeSet::from([genesis.owner]),
            announcement: None,
            membership: BTreeMap::new(),
            unknown_control_ops: 0,
            last_applied: None,
        }
    }

    /// Whether `author` may set announcements and meta.
    pub fn is_admin(&self, author: &AuthorId) -> bool {
        *author == self.owner
    }

    /// Whether `author`'s latest membership op is a leave.
    pub fn has_left(&self, author: &AuthorId) -> bool {
        self.membership
            .get(author)
            .and_then(|ops| ops.last_key_value())
            .is_some_and(|(_, joined)| !joined)
    }

    /// Whether a node takes `msg` (stores and forwards it) given the ops folded so far:
    /// membership ops always; anything else is refused when its author's last membership
    /// op before it is a leave.
    pub fn admits(&self, msg: &Verified) -> Result<(), Refused> {
        if msg.body.kind.is_membership() {
            return Ok(());
        }
        let author = msg.author();
        let last = self
            .membership
            .get(&author)
            .and_then(|ops| ops.range(..msg.order_key()).next_back());
        match last {
            Some((left_at, false)) => Err(Refused::AuthorLeft {
                author,
                left_at: *left_at,
            }),
            _ => Ok(()),
        }
    }

    /// Applies one message. Messages must be applied in group order (see
    /// [`State::apply_next`] for a checked step). An op refused by [`State::admits`], or
    /// an admin-only kind from someone else, has no effect; otherwise the kind's own fold
    /// step runs ([`crate::message::kinds::Def::fold`]).
    pub fn apply(&mut self, msg: &Verified) -> Applied {
        let at = msg.order_key();
        self.last_applied = Some(self.last_applied.map_or(at, |last| last.max(at)));
        if self.admits(msg).is_err() {
            return Applied::NotAllowed;
        }
        if msg.body.kind.is_admin_only() && !self.is_admin(&msg.author()) {
            return Applied::NotAllowed;
        }
        msg.body.kind.fold(self, msg)
    }

    /// The order key of the last op applied: an op that sorts after it can be applied
    /// incrementally.
    pub fn last_applied(&self) -> Option<OrderKey> {
        self.last_applied
    }

    /// Applies `msg` if it sorts after every op applied so far, which gives the same state
    /// as folding all of them again. Otherwise leaves the state as it is and returns
    /// [`OutOfOrder`]: the caller folds all the ops again ([`State::fold`]). An op that was
    /// already applied (the same key as the last) is out of order too.
    pub fn apply_next(&mut self, msg: &Verified) -> Result<Applied, OutOfOrder> {
        let at = msg.order_key();
        match self.last_applied {
            Some(last) if at <= last => Err(OutOfOrder { at, last }),
            _ => Ok(self.apply(msg)),
        }
    }

    /// Folds messages sorted into group order.
    pub fn fold<'a>(genesis: &Genesis, msgs: impl IntoIterator<Item = &'a Verified>) -> Self {
        let mut sorted: Vec<&Verified> = msgs.into_iter().collect();
        sorted.sort_by_key(|m| m.order_key());
        let mut state = Self::new(genesis);
        for m in sorted {
            state.apply(m);
        }
        state
    }
}
