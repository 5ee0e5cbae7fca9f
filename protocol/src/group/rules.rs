//! Who may do what in a group: [`State::may`], the one rule function. The fold calls it
//! for every op ([`State::apply`]); the node calls it before it signs an op of its own,
//! before it admits a joiner, and for every message it receives ([`State::admits`]); the
//! API answers a refusal with the [`Refused`] rule.
//!
//! ## Roles
//! The owner outranks admins, who outrank members ([`Role`]). Muted and banned are states,
//! not roles. An op that targets a member needs its author to be an admin (or the owner)
//! who outranks the target: admins remove, ban, mute members; only the owner acts on
//! admins, promotes and demotes them ([`SetRole`](crate::message::SetRole)) and hands the
//! group on ([`Transfer`](crate::message::Transfer)). Announcements, meta, pins, join
//! approvals and re-keys are for admins. Nobody targets themselves with these ops (leaving
//! is [`crate::message::Kind::Leave`]).
//!
//! ## Two kinds of check
//! - An op's right ([`Action`]s without a position): read from the state as folded up to
//!   the op in group order, which is what [`State::apply`] holds when it asks.
//! - A message's standing ([`Action::Post`], [`Action::Other`]): read from the author's
//!   marks before the message's order key ([`State::marks`]): whether it had left, was
//!   removed or banned, or was muted. Those are kept by position, so the answer is the
//!   same from any state that holds the ops before the message, however many ops after it
//!   were folded since.

use crate::id::{AuthorId, MsgId};
use crate::limits::MAX_PINS;
use crate::order::OrderKey;

use super::rekey::Rekey;
use super::state::{Mark, State};

/// A member's rank: `Owner > Admin > Member`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Role {
    /// A member (or anyone else: a stranger has no more rights than a member).
    Member,
    /// An admin (管理员): moderates members, sets announcements, meta and pins, approves
    /// joins, re-keys.
    Admin,
    /// The owner (群主): everything an admin may, and acts on admins.
    Owner,
}

impl Role {
    /// Lowercase name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// Something an author wants to do, for [`State::may`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action<'a> {
    /// Write a post (text, announcement, a kind this version does not know outside the
    /// control range) at `at` in group order: refused if its author was out or muted there.
    Post {
        /// The post's order key (its stamp's ms is compared with a mute's end).
        at: OrderKey,
    },
    /// Write a control op this version does not know at `at`: refused if its author was
    /// out there.
    Other {
        /// The op's order key.
        at: OrderKey,
    },
    /// Join, with a message sent in `epoch`.
    Join {
        /// The epoch the join was sent in.
        epoch: u64,
    },
    /// Leave.
    Leave,
    /// Set the announcement at `at` (a post by an admin).
    Announce {
        /// The announcement's order key.
        at: OrderKey,
    },
    /// Set the description and tags.
    SetMeta,
    /// Make `member` an admin or a member again.
    SetRole {
        /// The target.
        member: AuthorId,
        /// [`Role::Admin`] or [`Role::Member`].
        role: Role,
    },
    /// Hand the group to `to`.
    Transfer {
        /// The next owner.
        to: AuthorId,
    },
    /// Remove `member`.
    Remove {
        /// The target.
        member: AuthorId,
    },
    /// Ban `member` (removing it if it is one).
    Ban {
        /// The target.
        member: AuthorId,
    },
    /// Lift `member`'s ban.
    Unban {
        /// The target.
        member: AuthorId,
    },
    /// Mute `member`.
    Mute {
        /// The target.
        member: AuthorId,
    },
    /// Lift `member`'s mute.
    Unmute {
        /// The target.
        member: AuthorId,
    },
    /// Pin message `id`.
    Pin {
        /// The message.
        id: MsgId,
    },
    /// Unpin message `id`.
    Unpin {
        /// The message.
        id: MsgId,
    },
    /// Start the epoch `rekey.epoch`.
    Rekey(&'a Rekey),
    /// Let `joiner` in: approve its join request, or admit it with an invite the author
    /// signed. Not an op of the fold: what the node asks before it hands out the secret.
    Admit {
        /// Who wants in.
        joiner: AuthorId,
    },
}

/// Why the group state refuses an op or a message: one variant per rule, with the values
/// it read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The author's last membership op before this message, in group order, is a leave.
    #[error("{author} left the group (at {}) before this message", crate::text::utc(left_at.stamp.ms))]
    AuthorLeft {
        /// The author.
        author: AuthorId,
        /// The order key of its leave op.
        left_at: OrderKey,
    },
    /// The author was removed before this message, in group order, and has not rejoined.
    #[error("{author} was removed from the group (at {}) before this message", crate::text::utc(at.stamp.ms))]
    AuthorRemoved {
        /// The author.
        author: AuthorId,
        /// The order key of the remove op.
        at: OrderKey,
    },
    /// The author was banned before this message, in group order, and has not rejoined.
    #[error("{author} was banned (at {}) before this message", crate::text::utc(at.stamp.ms))]
    AuthorBanned {
        /// The author.
        author: AuthorId,
        /// The order key of the ban op.
        at: OrderKey,
    },
    /// The author is muted at the post's stamp.
    #[error("{author} is muted {}", match until_ms { Some(t) => format!("until {}", crate::text::utc(*t)), None => "until unmuted".into() })]
    Muted {
        /// The author.
        author: AuthorId,
        /// When the mute ends (ms since the Unix epoch, against the post's stamp); `None`
        /// until an unmute.
        until_ms: Option<u64>,
    },
    /// Only admins (and the owner) may do this.
    #[error("{author} is not an admin of the group")]
    NotAdmin {
        /// The author.
        author: AuthorId,
    },
    /// Only the owner may do this.
    #[error("{author} is not the group's owner")]
    NotOwner {
        /// The author.
        author: AuthorId,
    },
    /// The target's role is not below the author's.
    #[error("{author} ({}) does not outrank {target} ({})", author_role.as_str(), target_role.as_str())]
    Outranked {
        /// The author.
        author: AuthorId,
        /// The author's role.
        author_role: Role,
        /// The target.
        target: AuthorId,
        /// The target's role.
        target_role: Role,
    },
    /// The op targets its own author.
    #[error("{author} cannot do this to themselves")]
    SelfTarget {
        /// The author.
        author: AuthorId,
    },
    /// The target is not a member.
    #[error("{member} is not a member of the group")]
    NotMember {
        /// The target.
        member: AuthorId,
    },
    /// The key is banned: it cannot join, be admitted, promoted or given the group.
    #[error("{member} is banned from the group")]
    Banned {
        /// The banned key.
        member: AuthorId,
    },
    /// A join sent in an epoch no later than the one its author was removed or banned in:
    /// it holds only secrets it had before, so no admin let it back in.
    #[error(
        "{author} was removed in epoch {removed_in}; a join sent in epoch {epoch} does not bring it back"
    )]
    LockedOut {
        /// The author.
        author: AuthorId,
        /// The epoch the join was sent in.
        epoch: u64,
        /// The epoch it was removed or banned in.
        removed_in: u64,
    },
    /// The op changes nothing (promote an admin, unban a key that is not banned...).
    #[error("nothing to do: {what}")]
    NoChange {
        /// What is already so.
        what: &'static str,
    },
    /// The group already has [`MAX_PINS`] pins.
    #[error("the group has {max} pins already")]
    TooManyPins {
        /// The limit, [`MAX_PINS`].
        max: usize,
    },
    /// A re-key's epoch is not the one after the current: a re-key that lost a race (the
    /// same epoch was started first in group order) or a stale one.
    #[error("re-key to epoch {epoch}, but the next epoch is {next}")]
    EpochNotNext {
        /// The epoch the re-key names.
        epoch: u64,
        /// The current epoch plus one.
        next: u64,
    },
    /// The message was written in `epoch` after the re-key that closed it (started
    /// `epoch + 1`) in group order: whoever still holds only the old secret (a removed
    /// member) must not read or write anything after a re-key.
    #[error("epoch {epoch} was closed by a re-key (at {}) before this message", crate::text::utc(closed_at.stamp.ms))]
    EpochClosed {
        /// The message's epoch.
        epoch: u64,
        /// The order key of the re-key that started the next epoch.
        closed_at: OrderKey,
    },
    /// A re-key seals the new secret to someone who is not a member.
    #[error("re-key seals the secret to {member}, who is not a member")]
    SealedToOutsider {
        /// The first recipient that is not a member.
        member: AuthorId,
    },
}

impl Refused {
    /// A short stable name of the rule (for API bodies and logs).
    pub fn rule(&self) -> &'static str {
        match self {
            Refused::AuthorLeft { .. } => "author_left",
            Refused::AuthorRemoved { .. } => "author_removed",
            Refused::AuthorBanned { .. } => "author_banned",
            Refused::Muted { .. } => "muted",
            Refused::NotAdmin { .. } => "not_admin",
            Refused::NotOwner { .. } => "not_owner",
            Refused::Outranked { .. } => "outranked",
            Refused::SelfTarget { .. } => "self_target",
            Refused::NotMember { .. } => "not_member",
            Refused::Banned { .. } => "banned",
            Refused::LockedOut { .. } => "locked_out",
            Refused::NoChange { .. } => "no_change",
            Refused::TooManyPins { .. } => "too_many_pins",
            Refused::EpochNotNext { .. } => "epoch_not_next",
            Refused::SealedToOutsider { .. } => "sealed_to_outsider",
            Refused::EpochClosed { .. } => "epoch_closed",
        }
    }
}

impl State {
    /// The one rule function: whether `author` may do `action` (see the module docs for
    /// what each action needs). For actions without a position, `self` must be the state
    /// as folded up to the op in group order (what [`State::apply`] passes); for
    /// [`Action::Post`] and [`Action::Other`], any state holding every op before it.
    pub fn may(&self, author: &AuthorId, action: &Action<'_>) -> Result<(), Refused> {
        match *action {
            Action::Post { at } => self.standing(author, at, true),
            Action::Other { at } => self.standing(author, at, false),
            Action::Join { epoch } => self.may_join(author, epoch),
            Action::Leave => Ok(()),
            Action::Announce { at } => {
                self.standing(author, at, true)?;
                self.admin(author)
            }
            Action::SetMeta => self.admin(author),
            Action::SetRole { member, role } => self.may_set_role(author, &member, role),
            Action::Transfer { to } => {
                self.owner_only(author)?;
                self.not_self(author, &to)?;
                self.member_not_banned(&to)
            }
            Action::Remove { member } => {
                self.over(author, &member)?;
                self.member(&member)
            }
            Action::Ban { member } => {
                self.over(author, &member)?;
                self.change(!self.banned.contains(&member), "already banned")
            }
            Action::Unban { member } => {
                self.over(author, &member)?;
                self.change(self.banned.contains(&member), "not banned")
            }
            Action::Mute { member } => {
                self.over(author, &member)?;
                self.member(&member)
            }
            Action::Unmute { member } => {
                self.over(author, &member)?;
                self.change(self.muted.contains_key(&member), "not muted")
            }
            Action::Pin { id } => self.may_pin(author, &id),
            Action::Unpin { id } => {
                self.admin(author)?;
                self.change(self.pins.iter().any(|p| p.id == id), "not pinned")
            }
            Action::Rekey(rekey) => self.may_rekey(author, rekey),
            Action::Admit { joiner } => {
                self.admin(author)?;
                self.not_banned(&joiner)
            }
        }
    }

    /// The role of `author` in the current state.
    pub fn role(&self, author: &AuthorId) -> Role {
        if *author == self.owner {
            Role::Owner
        } else if self.admins.contains(author) {
            Role::Admin
        } else {
            Role::Member
        }
    }

    /// Whether `author` is an admin or the owner.
    pub fn is_admin(&self, author: &AuthorId) -> bool {
        self.role(author) >= Role::Admin
    }

    /// Whether `author` is the owner.
    pub fn is_owner(&self, author: &AuthorId) -> bool {
        *author == self.owner
    }

    /// The author's standing at `at`: out (left, removed, banned, by its last presence mark
    /// before `at`), or, for a post, muted at the post's stamp.
    fn standing(&self, author: &AuthorId, at: OrderKey, post: bool) -> Result<(), Refused> {
        let Some(marks) = self.marks.get(author) else {
            return Ok(());
        };
        let before = marks.range(..at).rev();
        let author = *author;
        match before.clone().find(|(_, m)| m.is_presence()) {
            Some((k, Mark::Left)) => {
                return Err(Refused::AuthorLeft {
                    author,
                    left_at: *k,
                });
            }
            Some((k, Mark::Removed)) => return Err(Refused::AuthorRemoved { author, at: *k }),
            Some((k, Mark::Banned)) => return Err(Refused::AuthorBanned { author, at: *k }),
            _ => {}
        }
        if !post {
            return Ok(());
        }
        match before.map(|(_, m)| m).find(|m| m.is_mute()) {
            Some(Mark::Muted { until_ms }) if until_ms.is_none_or(|t| at.stamp.wall_ms() < t) => {
                Err(Refused::Muted {
                    author,
                    until_ms: *until_ms,
                })
            }
            _ => Ok(()),
        }
    }

    fn admin(&self, author: &AuthorId) -> Result<(), Refused> {
        if self.is_admin(author) {
            Ok(())
        } else {
            Err(Refused::NotAdmin { author: *author })
        }
    }

    fn owner_only(&self, author: &AuthorId) -> Result<(), Refused> {
        if self.is_owner(author) {
            Ok(())
        } else {
            Err(Refused::NotOwner { author: *author })
        }
    }

    fn not_self(&self, author: &AuthorId, target: &AuthorId) -> Result<(), Refused> {
        if author == target {
            Err(Refused::SelfTarget { author: *author })
        } else {
            Ok(())
        }
    }

    /// An admin acting on another author it outranks.
    fn over(&self, author: &AuthorId, target: &AuthorId) -> Result<(), Refused> {
        self.admin(author)?;
        self.not_self(author, target)?;
        let (author_role, target_role) = (self.role(author), self.role(target));
        if author_role > target_role {
            Ok(())
        } else {
            Err(Refused::Outranked {
                author: *author,
                author_role,
                target: *target,
                target_role,
            })
        }
    }

    fn member(&self, member: &AuthorId) -> Result<(), Refused> {
        if self.members.contains(member) {
            Ok(())
        } else {
            Err(Refused::NotMember { member: *member })
        }
    }

    fn not_banned(&self, member: &AuthorId) -> Result<(), Refused> {
        if self.banned.contains(member) {
            Err(Refused::Banned { member: *member })
        } else {
            Ok(())
        }
    }

    fn member_not_banned(&self, member: &AuthorId) -> Result<(), Refused> {
        self.not_banned(member)?;
        self.member(member)
    }

    fn change(&self, changes: bool, what: &'static str) -> Result<(), Refused> {
        if changes {
            Ok(())
        } else {
            Err(Refused::NoChange { what })
        }
    }

    fn may_join(&self, author: &AuthorId, epoch: u64) -> Result<(), Refused> {
        self.not_banned(author)?;
        match self.locked_out.get(author) {
            Some(&removed_in) if epoch <= removed_in => Err(Refused::LockedOut {
                author: *author,
                epoch,
                removed_in,
            }),
            _ => Ok(()),
        }
    }

    fn may_set_role(
        &self,
        author: &AuthorId,
        member: &AuthorId,
        role: Role,
    ) -> Result<(), Refused> {
        self.owner_only(author)?;
        self.not_self(author, member)?;
        match role {
            Role::Admin => {
                self.member_not_banned(member)?;
                self.change(!self.admins.contains(member), "already an admin")
            }
            Role::Member => self.change(self.admins.contains(member), "not an admin"),
            // Validation refuses it on the wire; the owner changes only by transfer.
            Role::Owner => self.change(false, "the owner changes by transfer"),
        }
    }

    fn may_pin(&self, author: &AuthorId, id: &MsgId) -> Result<(), Refused> {
        self.admin(author)?;
        self.change(!self.pins.iter().any(|p| p.id == *id), "already pinned")?;
        if self.pins.len() >= MAX_PINS {
            return Err(Refused::TooManyPins { max: MAX_PINS });
        }
        Ok(())
    }

    fn may_rekey(&self, author: &AuthorId, rekey: &Rekey) -> Result<(), Refused> {
        self.admin(author)?;
        let next = self.epoch.saturating_add(1);
        if rekey.epoch != next {
            return Err(Refused::EpochNotNext {
                epoch: rekey.epoch,
                next,
            });
        }
        match rekey
            .sealed
            .recipients()
            .find(|r| !self.members.contains(r))
        {
            Some(member) => Err(Refused::SealedToOutsider { member: *member }),
            None => Ok(()),
        }
    }
}
