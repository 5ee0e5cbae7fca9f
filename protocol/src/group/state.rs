//! Group state: a deterministic fold of the group's control ops in group order.
//!
//! ## State
//! [`State`] is a pure fold of the group's control messages (announcement, join, leave,
//! meta, the governance ops: role, transfer, remove, ban, unban, mute, unmute, pin, unpin,
//! rekey; and control ops this version does not know) in the group's total order
//! ([`crate::OrderKey`]: HLC stamp, then message id). Any two nodes holding the same ops
//! compute the same state, whatever order the ops arrived in, because the state is folded
//! in that order. Each kind's fold step lives in its file in [`crate::message::kinds`];
//! [`State::apply`] runs the checks every op gets, then that step.
//!
//! ## The conflict rule
//! **An op is checked against the state as folded up to it in group order, by
//! [`State::may`]; an op refused there has no effect, ever.** Every node holds the same
//! ops in the same order, so every node refuses the same ops. What that gives for the races
//! a group without a server meets:
//! - Two admins cannot remove (ban, mute) each other: only the owner acts on admins
//!   ([`Refused::Outranked`]). The race that remains is the owner removing or demoting an
//!   admin while that admin removes someone: the first in group order wins; if the owner's
//!   op is first, the admin's is refused because its author is no longer an admin.
//! - Two admins act on the same member (both remove it, one mutes while the other bans):
//!   the first stands; the second is refused if it no longer makes sense
//!   ([`Refused::NotMember`], [`Refused::NoChange`]).
//! - A promotion races a ban of the same member: if the ban is first the promotion is
//!   refused ([`Refused::Banned`]); if the promotion is first the admin's ban is refused
//!   ([`Refused::Outranked`]), and only the owner can ban the new admin.
//! - A demotion races an op of the demoted admin: order decides. The admin's ops before
//!   the demotion stand; those after it are refused ([`Refused::NotAdmin`]).
//! - A ban (or a removal) races a post: a post before the ban in group order stands; one
//!   after it is refused ([`Refused::AuthorBanned`], [`Refused::AuthorRemoved`]), until a
//!   rejoin after it (which a ban forbids until an unban).
//! - A mute races a post: a post after the mute in group order whose stamp (ms) is before
//!   the mute's end (the mute op's stamp plus its duration) is refused
//!   ([`Refused::Muted`]); the stamps are in the messages, so no node reads its own clock.
//! - Two re-keys race: epoch numbers go up by one; the first re-key to epoch `n + 1` in
//!   group order starts it, and any other re-key to `n + 1` is refused
//!   ([`Refused::EpochNotNext`]), whoever wrote it (see [`super::rekey`]).
//! - A transfer races an op of the old owner: ops of the old owner after the transfer are
//!   checked as an admin's (it stays an admin); the new owner's ops before the transfer as
//!   whatever it was then.
//!
//! - A post (or an op) races a re-key: a message of epoch `n` that sorts after the re-key
//!   that started `n + 1` is refused ([`Refused::EpochClosed`]), so nothing written after
//!   a re-key in group order is readable with the old secret (the one a removed member
//!   holds). Membership ops and re-keys are exempt (a losing re-key is kept, refused by
//!   the fold, for the log).
//!
//! A post (not a control op) is not folded by the node; whether it is taken is
//! [`State::admits`], which reads the author's marks before the post's order key (the
//! left, removed, banned and muted ranges, [`State::marks`]), so it gives the same answer
//! from any state that holds the control ops before the post.
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
//! ## Members who left or were removed
//! A member's presence ops (join, leave, and a remove or ban of it) sit in group order
//! like everything else. A message (any kind but join and leave) whose author's last
//! presence mark before it, in group order, is a leave, a removal or a ban is refused by
//! every node ([`State::admits`]): what a member writes between its leave and a new join is
//! never stored nor forwarded. A member whose latest mark is one of those is out
//! ([`State::has_left`]): its sync requests are answered as a stranger's. The rule depends
//! only on the ops, so every node that holds them decides the same; a node that lacks a
//! rejoin refuses a post written after it for now, and takes it when sync brings the post
//! again after the rejoin arrived. A removed or banned member still holds the old epochs'
//! secrets, so its join counts only when sent in a later epoch than the one it was removed
//! in ([`Refused::LockedOut`]): an admin must have let it back in since.

use std::collections::{BTreeMap, BTreeSet};

use crate::id::{AuthorId, MsgId};
use crate::message::Verified;
use crate::order::OrderKey;

use super::Genesis;
use super::rules::Refused;

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

/// A pinned message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The message pinned.
    pub id: MsgId,
    /// Who pinned it.
    pub by: AuthorId,
}

/// A mute in force (or ended by time, until an unmute clears it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mute {
    /// Who muted.
    pub by: AuthorId,
    /// When it ends, ms since the Unix epoch (the mute op's stamp plus its duration), or
    /// `None` until an unmute. A post is muted when its stamp is before the end.
    pub until_ms: Option<u64>,
}

/// What an op says about one author, kept by the op's order key ([`State::marks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// It joined.
    Joined,
    /// It left.
    Left,
    /// It was removed.
    Removed,
    /// It was banned.
    Banned,
    /// It was muted until `until_ms` (ms since the Unix epoch; `None`: until unmuted).
    Muted {
        /// The end of the mute.
        until_ms: Option<u64>,
    },
    /// Its mute was lifted.
    Unmuted,
}

impl Mark {
    /// Whether it is a presence mark (join, leave, remove, ban).
    pub fn is_presence(&self) -> bool {
        matches!(
            self,
            Mark::Joined | Mark::Left | Mark::Removed | Mark::Banned
        )
    }

    /// Whether it is a mute mark (mute, unmute).
    pub fn is_mute(&self) -> bool {
        matches!(self, Mark::Muted { .. } | Mark::Unmuted)
    }

    /// Whether an author whose last presence mark is this is out of the group.
    fn is_out(&self) -> bool {
        matches!(self, Mark::Left | Mark::Removed | Mark::Banned)
    }
}

/// Group state: a pure fold of control messages in group order.
///
/// Two states are equal when they hold the same group state: where the fold stands
/// ([`State::last_applied`]) is bookkeeping and is not compared, so an op that had no effect
/// leaves the state equal to what it was.
#[derive(Debug, Clone)]
pub struct State {
    /// The owner (the genesis's, or the last transfer's).
    pub owner: AuthorId,
    /// The name.
    pub name: String,
    /// Description from the latest meta.
    pub description: String,
    /// Tags from the latest meta.
    pub tags: Vec<String>,
    /// Current members (the owner and admins among them).
    pub members: BTreeSet<AuthorId>,
    /// Current admins (the owner is not among them).
    pub admins: BTreeSet<AuthorId>,
    /// Banned keys: they cannot join nor be admitted until an unban.
    pub banned: BTreeSet<AuthorId>,
    /// Mutes in force (or ended by time, until an unmute clears them).
    pub muted: BTreeMap<AuthorId, Mute>,
    /// Pinned messages, oldest pin first, at most [`crate::limits::MAX_PINS`].
    pub pins: Vec<Pin>,
    /// Current announcement, if any.
    pub announcement: Option<Announcement>,
    /// The current epoch: 0 at creation, then each re-key's.
    pub epoch: u64,
    /// The re-key op that started the current epoch (`None` for epoch 0): its sealed
    /// secret is what a member opens to read it.
    pub epoch_op: Option<MsgId>,
    /// Whether a member left, was removed or was banned since the current epoch began: its
    /// secret is still known to someone who is out, and an admin should re-key.
    pub rekey_due: bool,
    /// Where each epoch after the first started: the order key of the re-key op that
    /// started it. A message of epoch `e` that sorts after the start of `e + 1` was written
    /// in a closed epoch and is refused ([`Refused::EpochClosed`]).
    pub epoch_starts: BTreeMap<u64, OrderKey>,
    /// Each author's presence and mute marks by order key (the owner's leaves, which have
    /// no effect, are not kept): what [`State::admits`] reads.
    pub marks: BTreeMap<AuthorId, BTreeMap<OrderKey, Mark>>,
    /// Authors removed or banned, with the epoch they were removed in: a join of theirs
    /// counts only if sent in a later epoch.
    pub locked_out: BTreeMap<AuthorId, u64>,
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
            admins,
            banned,
            muted,
            pins,
            announcement,
            epoch,
            epoch_op,
            rekey_due,
            epoch_starts,
            marks,
            locked_out,
            unknown_control_ops,
            last_applied: _,
        } = self;
        *owner == other.owner
            && *name == other.name
            && *description == other.description
            && *tags == other.tags
            && *members == other.members
            && *admins == other.admins
            && *banned == other.banned
            && *muted == other.muted
            && *pins == other.pins
            && *announcement == other.announcement
            && *epoch == other.epoch
            && *epoch_op == other.epoch_op
            && *rekey_due == other.rekey_due
            && *epoch_starts == other.epoch_starts
            && *marks == other.marks
            && *locked_out == other.locked_out
            && *unknown_control_ops == other.unknown_control_ops
    }
}

impl Eq for State {}

/// The outcome of applying one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The op changed (or confirmed) the state.
    Ok,
    /// The author lacked the right at this position; the op has no effect (why:
    /// [`State::apply_verdict`]).
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
            admins: BTreeSet::new(),
            banned: BTreeSet::new(),
            muted: BTreeMap::new(),
            pins: Vec::new(),
            announcement: None,
            epoch: 0,
            epoch_op: None,
            rekey_due: false,
            epoch_starts: BTreeMap::new(),
            marks: BTreeMap::new(),
            locked_out: BTreeMap::new(),
            unknown_control_ops: 0,
            last_applied: None,
        }
    }

    /// Whether `author` is out: its latest presence mark is a leave, a removal or a ban.
    pub fn has_left(&self, author: &AuthorId) -> bool {
        self.marks
            .get(author)
            .and_then(|m| m.values().rev().find(|m| m.is_presence()))
            .is_some_and(Mark::is_out)
    }

    /// Whether `author` is muted for a post stamped `at_ms` (ms since the Unix epoch), by
    /// the mutes folded so far.
    pub fn is_muted(&self, author: &AuthorId, at_ms: u64) -> bool {
        self.muted
            .get(author)
            .is_some_and(|m| m.until_ms.is_none_or(|t| at_ms < t))
    }

    /// Whether a node takes `msg` (stores and forwards it) given the ops folded so far:
    /// membership ops (join, leave) always; anything else but a re-key when it was written
    /// in an epoch that a re-key sorting before it had closed ([`State::epoch_open`]); a
    /// post when its author was out (left, removed, banned) or muted at its position; any
    /// other op when its author was out there ([`State::may`] with [`super::Action::Post`] or [`super::Action::Other`]).
    /// Whether an op has any effect is the fold's to say.
    pub fn admits(&self, msg: &Verified) -> Result<(), Refused> {
        let kind = &msg.body.kind;
        if kind.is_membership() {
            return Ok(());
        }
        let at = msg.order_key();
        let action = if kind.is_post() || !kind.is_control() {
            super::Action::Post { at }
        } else {
            super::Action::Other { at }
        };
        // The author's standing first: a removed member is told it was removed.
        self.may(&msg.author(), &action)?;
        if matches!(kind, crate::message::Kind::Rekey(_)) {
            return Ok(());
        }
        self.epoch_open(msg.body.epoch, at)
    }

    /// Whether a message of `epoch` at `at` was written while its epoch was open: refused
    /// ([`Refused::EpochClosed`]) when the re-key that started `epoch + 1` sorts before it.
    /// Read from [`State::epoch_starts`], so the answer is the same from any state that
    /// holds the ops before the message.
    pub fn epoch_open(&self, epoch: u64, at: OrderKey) -> Result<(), Refused> {
        match self.epoch_starts.get(&epoch.saturating_add(1)) {
            Some(closed_at) if *closed_at < at => Err(Refused::EpochClosed {
                epoch,
                closed_at: *closed_at,
            }),
            _ => Ok(()),
        }
    }

    /// Applies one message and says why it had no effect, if it had none. Messages must be
    /// applied in group order (see [`State::apply_next`] for a checked step). A message
    /// refused by [`State::admits`], or an op its author may not do here
    /// ([`State::may`] with the kind's [`crate::message::kinds::Def::action`]), has no
    /// effect; otherwise the kind's own fold step runs
    /// ([`crate::message::kinds::Def::fold`]).
    pub fn apply_verdict(&mut self, msg: &Verified) -> Result<(), Refused> {
        let at = msg.order_key();
        self.last_applied = Some(self.last_applied.map_or(at, |last| last.max(at)));
        self.admits(msg)?;
        self.may(&msg.author(), &msg.body.kind.action(msg))?;
        msg.body.kind.fold(self, msg);
        Ok(())
    }

    /// Applies one message ([`State::apply_verdict`] without the reason).
    pub fn apply(&mut self, msg: &Verified) -> Applied {
        match self.apply_verdict(msg) {
            Ok(()) => Applied::Ok,
            Err(_) => Applied::NotAllowed,
        }
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
        Self::fold_log(genesis, msgs, |_, _| {})
    }

    /// Folds messages sorted into group order, telling `log` each one's verdict in that
    /// order (for a moderation log: who did what, and what was refused and why).
    pub fn fold_log<'a>(
        genesis: &Genesis,
        msgs: impl IntoIterator<Item = &'a Verified>,
        mut log: impl FnMut(&Verified, Result<(), Refused>),
    ) -> Self {
        let mut sorted: Vec<&Verified> = msgs.into_iter().collect();
        sorted.sort_by_key(|m| m.order_key());
        let mut state = Self::new(genesis);
        for m in sorted {
            let verdict = state.apply_verdict(m);
            log(m, verdict);
        }
        state
    }

    /// Whether the re-key that is due ([`State::rekey_due`]) follows leaves only: no one
    /// was removed or banned since the current epoch began (at the re-key that started it,
    /// [`State::epoch_starts`], or the genesis). The node then waits a little before it
    /// re-keys, so that a burst of leaves costs one re-key; after a removal the remover
    /// re-keys at once. Costs one look at each author's marks.
    pub fn rekey_due_to_leaves_only(&self) -> bool {
        if !self.rekey_due {
            return false;
        }
        let since = self.epoch_starts.get(&self.epoch);
        !self.marks.values().any(|marks| {
            marks.iter().any(|(at, m)| {
                matches!(m, Mark::Removed | Mark::Banned) && since.is_none_or(|s| at > s)
            })
        })
    }

    /// Records `mark` for `author` at `at`.
    pub(crate) fn mark(&mut self, author: AuthorId, at: OrderKey, mark: Mark) {
        self.marks.entry(author).or_default().insert(at, mark);
    }

    /// Takes `member` out of the group (removed or banned at `at`): no longer a member nor
    /// an admin, locked out of the current epoch, and the group is due a re-key if it was a
    /// member.
    pub(crate) fn put_out(&mut self, member: AuthorId, at: OrderKey, mark: Mark) {
        let was_member = self.members.remove(&member);
        self.admins.remove(&member);
        self.mark(member, at, mark);
        self.locked_out.insert(member, self.epoch);
        self.rekey_due |= was_member;
    }
}
