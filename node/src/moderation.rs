//! [`Node`]'s moderation methods: the governance ops of issue 13 and the moderation log.
//!
//! `member` arguments are MEMBER queries: an author id, a unique id prefix or tail (at
//! least 4 characters) of an author the group knows, or a profile name unique among them
//! ([`Error::UnknownMember`], [`Error::AmbiguousMember`]). Each op is checked against the
//! group's rule before it is signed and stored ([`qun_protocol::group::State::may`]): a
//! refusal is [`Error::NotAllowed`] with the rule's name, and nothing is sent. Each returns
//! the op's message id once it is stored durably.
//!
//! A removal or ban re-keys the group: the remover's node seals a new epoch secret to the
//! remaining members (`event_loop/rekey.rs`).

use std::time::Duration;

use qun_protocol::group::Role;
use qun_protocol::{GroupId, MsgId};

use crate::{Command, Error, Node, PublishCmd};

impl Node {
    /// Makes `member` an admin ([`Role::Admin`]) or a member again ([`Role::Member`]);
    /// the owner's right.
    pub async fn set_role(&self, group: GroupId, member: &str, role: Role) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::SetRole {
                group,
                member,
                role,
                reply,
            })
        })
        .await
    }

    /// Hands the group to `member`; the owner's right (it stays an admin).
    pub async fn transfer(&self, group: GroupId, member: &str) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::Transfer {
                group,
                member,
                reply,
            })
        })
        .await
    }

    /// Removes `member` from the group (an admin's right over members, the owner's over
    /// admins). It may come back only by a new admission.
    pub async fn remove(&self, group: GroupId, member: &str) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::Remove {
                group,
                member,
                reply,
            })
        })
        .await
    }

    /// Bans `member` (removing it if it is one): it cannot join again until an unban.
    pub async fn ban(&self, group: GroupId, member: &str) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::Ban {
                group,
                member,
                reply,
            })
        })
        .await
    }

    /// Lifts `member`'s ban.
    pub async fn unban(&self, group: GroupId, member: &str) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::Unban {
                group,
                member,
                reply,
            })
        })
        .await
    }

    /// Mutes `member` for `duration` (whole ms, at most
    /// [`qun_protocol::limits::MAX_MUTE_MS`]), or until an unmute when `None`.
    pub async fn mute(
        &self,
        group: GroupId,
        member: &str,
        duration: Option<Duration>,
    ) -> Result<MsgId, Error> {
        let member = member.to_owned();
        let duration_ms = duration.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self.call(|reply| {
            Command::Publish(PublishCmd::Mute {
                group,
                member,
                duration_ms,
                reply,
            })
        })
        .await
    }

    /// Lifts `member`'s mute.
    pub async fn unmute(&self, group: GroupId, member: &str) -> Result<MsgId, Error> {
        let member = member.to_owned();
        self.call(|reply| {
            Command::Publish(PublishCmd::Unmute {
                group,
                member,
                reply,
            })
        })
        .await
    }

    /// Pins `message` (an admin's right; at most [`qun_protocol::limits::MAX_PINS`]).
    pub async fn pin(&self, group: GroupId, message: MsgId) -> Result<MsgId, Error> {
        self.call(|reply| {
            Command::Publish(PublishCmd::Pin {
                group,
                message,
                reply,
            })
        })
        .await
    }

    /// Unpins `message`.
    pub async fn unpin(&self, group: GroupId, message: MsgId) -> Result<MsgId, Error> {
        self.call(|reply| {
            Command::Publish(PublishCmd::Unpin {
                group,
                message,
                reply,
            })
        })
        .await
    }
}
