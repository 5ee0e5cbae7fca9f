//! Moderation: the governance ops a node posts (role, transfer, remove, ban, unban, mute,
//! unmute, pin, unpin) and their MEMBER arguments. (The moderation log is read from the
//! store, without the loop: `crate::reads`.)
//!
//! An op is posted like any message ([`EventLoop::handle_post`]), which refuses it with
//! the group's rule ([`qun_protocol::group::State::may`]) before anything is stored or
//! sent. A MEMBER argument is resolved against the authors the group's state knows (the
//! owner, members, admins, banned and muted keys, and everyone with a presence mark): an
//! author id (any key, known or not), a profile name unique among them, or a unique id
//! prefix or tail (as the CLI prints it after `·`) of at least 4 characters.
//!
//! A remove or a ban is followed by a re-key from the same node (see [`super::rekey`]).

use std::collections::BTreeSet;

use qun_protocol::message::{Ban, Mute, Pin, Remove, SetRole, Transfer, Unban, Unmute, Unpin};
use qun_protocol::text;
use qun_protocol::{AuthorId, GroupId, Kind, MsgId};

use super::EventLoop;
use crate::{Error, PublishCmd};

/// How soon after a role op of ours the group's card (with a new roster) is published.
const ROSTER_ANNOUNCE_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// Shortest id prefix a MEMBER argument may be.
const MIN_PREFIX: usize = 4;

impl EventLoop {
    /// Posts one moderation op (any [`PublishCmd`] but `Post` and `Raw`).
    pub(crate) fn handle_moderation(&mut self, cmd: PublishCmd) {
        let member = |el: &Self, g: &GroupId, m: &str| el.resolve_member(g, m);
        let (group, kind, reply) = match cmd {
            PublishCmd::SetRole {
                group,
                member: m,
                role,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| Kind::Role(SetRole { member, role })),
                reply,
            ),
            PublishCmd::Transfer {
                group,
                member: m,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|to| Kind::Transfer(Transfer { to })),
                reply,
            ),
            PublishCmd::Remove {
                group,
                member: m,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| Kind::Remove(Remove { member })),
                reply,
            ),
            PublishCmd::Ban {
                group,
                member: m,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| Kind::Ban(Ban { member })),
                reply,
            ),
            PublishCmd::Unban {
                group,
                member: m,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| Kind::Unban(Unban { member })),
                reply,
            ),
            PublishCmd::Mute {
                group,
                member: m,
                duration_ms,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| {
                    Kind::Mute(Mute {
                        member,
                        duration_ms,
                    })
                }),
                reply,
            ),
            PublishCmd::Unmute {
                group,
                member: m,
                reply,
            } => (
                group,
                member(self, &group, &m).map(|member| Kind::Unmute(Unmute { member })),
                reply,
            ),
            PublishCmd::Pin {
                group,
                message,
                reply,
            } => {
                let known = pinnable(self, &group, &message);
                (group, known.map(|()| Kind::Pin(Pin { id: message })), reply)
            }
            PublishCmd::Unpin {
                group,
                message,
                reply,
            } => (group, Ok(Kind::Unpin(Unpin { id: message })), reply),
            PublishCmd::Post { group, kind, reply } => (group, Ok(kind), reply),
            PublishCmd::Raw { reply, .. } => {
                drop(reply.send(Err(Error::Internal("raw frame sent as an op".into()))));
                return;
            }
        };
        match kind {
            Ok(kind) => {
                // Who may sign cards and approvals changes: the owner signs a new roster
                // on its next card ([`super::discovery::authority`]); publish it soon.
                let roles = matches!(
                    kind,
                    Kind::Role(_) | Kind::Transfer(_) | Kind::Remove(_) | Kind::Ban(_)
                );
                self.handle_post(group, kind, Some(reply));
                if roles {
                    self.schedule_announce(ROSTER_ANNOUNCE_DELAY);
                }
            }
            Err(e) => drop(reply.send(Err(e))),
        }
    }

    /// The author a MEMBER argument names in `group` (see the module docs).
    pub(crate) fn resolve_member(&self, group: &GroupId, query: &str) -> Result<AuthorId, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        let q = query.trim();
        if let Ok(id) = q.parse::<AuthorId>() {
            return Ok(id);
        }
        let st = &rt.state;
        let known: BTreeSet<&AuthorId> = std::iter::once(&st.owner)
            .chain(&st.members)
            .chain(&st.admins)
            .chain(&st.banned)
            .chain(st.muted.keys())
            .chain(st.marks.keys())
            .collect();
        // A name matches as written (NFC); failing that, ignoring case ("bob" finds "Bob",
        // and is ambiguous when both "Bob" and "BOB" are members).
        let name = text::normalize_name(q);
        let by_name = |fold: fn(String) -> String| -> Vec<AuthorId> {
            let want = fold(name.clone());
            known
                .iter()
                .filter(|a| {
                    self.author_name(a)
                        .is_some_and(|n| fold(text::normalize_name(&n)) == want)
                })
                .map(|a| **a)
                .collect()
        };
        let mut matches = by_name(|n| n);
        if matches.is_empty() {
            matches = by_name(|n| n.to_lowercase());
        }
        // Ids are matched too, even when a name matched: a member who names itself after
        // another member's id tail must not capture what was typed for that member, so a
        // query that fits one member's name and another's id is ambiguous (409).
        if q.len() >= MIN_PREFIX {
            for a in &known {
                // The tail is what `history` and `group info` print after `·`.
                let id = a.to_string();
                if (id.starts_with(q) || id.ends_with(q)) && !matches.contains(a) {
                    matches.push(**a);
                }
            }
        }
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(Error::UnknownMember(q.to_owned())),
            many => Err(Error::AmbiguousMember {
                query: q.to_owned(),
                candidates: many
                    .iter()
                    .map(|a| match self.author_name(a) {
                        Some(n) => format!("{a} ({n:?})"),
                        None => a.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

/// Whether `message` is a stored message of `group`: a pin names a message members can
/// see, not a made-up id or another group's message ([`Error::NotFound`], 404).
fn pinnable(el: &EventLoop, group: &GroupId, message: &MsgId) -> Result<(), Error> {
    match el.store.by_id(message)? {
        Some(m) if m.body.group == *group => Ok(()),
        _ => Err(Error::NotFound(format!(
            "no message {message} in this group to pin"
        ))),
    }
}
