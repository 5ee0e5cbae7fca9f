//! Local commands from [`crate::Node`] handles.

use std::time::Duration;

use qun_protocol::group::{SignedGenesis, State};
use qun_protocol::invite::short::ShortCode;
use qun_protocol::invite::{self, Content, Invite};
use qun_protocol::message::{Join, Kind, Meta};
use qun_protocol::text;
use qun_protocol::{GroupId, GroupSecret};

use super::{DEFAULT_INVITE_TTL, EventLoop, Pending, now_ms};
use crate::net::Multiaddr;
use crate::store::{EpochSecret, GroupRecord};
use crate::view::{AnnouncementView, Created, GroupInfo, InviteCode, MutedView, PinView, SyncView};
use crate::{Command, CreateGroup, Error, GroupsCmd, Reply, SyncCmd, keys};

/// Peers asked for the history when we join a group whose members we are connected to.
pub const JOIN_SYNC_PEERS: usize = 2;

/// Peers a manual `qun sync` starts with.
pub const MANUAL_SYNC_PEERS: usize = 3;

impl EventLoop {
    /// Hands a command whole to the room that owns its concern.
    pub(crate) fn handle_command(&mut self, cmd: Command) {
        match cmd {
            Command::Net(c) => self.handle_net_cmd(c),
            Command::Groups(c) => self.handle_groups_cmd(c),
            Command::Publish(c) => self.handle_publish_cmd(c),
            Command::Sync(SyncCmd::Start { group, reply }) => {
                drop(reply.send(self.handle_sync_command(&group)))
            }
            Command::Discovery(c) => self.handle_discovery_cmd(c),
            Command::Shutdown(r) => drop(r.send(Ok(()))),
        }
    }

    /// Forgets every sync of a group we left: sessions, requests in flight (their answers
    /// are then dropped), keys being fetched, retries and figures.
    fn forget_syncs(&mut self, group: &GroupId) {
        self.sync.forget(group);
    }

    fn handle_groups_cmd(&mut self, cmd: GroupsCmd) {
        match cmd {
            GroupsCmd::Create(req, r) => drop(r.send(self.handle_create(req))),
            GroupsCmd::Invite {
                group,
                expires,
                with_addrs,
                reply,
            } => drop(reply.send(self.make_invite(&group, expires, with_addrs))),
            GroupsCmd::InviteCode {
                group,
                expires,
                short: true,
                reply,
            } => self.start_short_invite(group, expires, reply),
            GroupsCmd::InviteCode {
                group,
                expires,
                short: false,
                reply,
            } => drop(reply.send(self.long_invite_code(&group, expires))),
            GroupsCmd::Join {
                invite,
                history,
                reply,
            } => self.handle_join(&invite, history, reply),
            GroupsCmd::Leave { group, reply } => drop(reply.send(self.handle_leave(&group))),
            GroupsCmd::List(r) => {
                let ids: Vec<GroupId> = self.groups.keys().copied().collect();
                let infos = ids.iter().map(|g| self.group_info(g)).collect();
                drop(r.send(infos))
            }
            GroupsCmd::Info { group, reply } => drop(reply.send(self.group_info(&group))),
            GroupsCmd::EpochSecret { group, reply } => {
                let res = self
                    .groups
                    .get(&group)
                    .and_then(|rt| rt.record.current())
                    .map(|e| (e.epoch, e.secret.clone()))
                    .ok_or_else(|| Error::UnknownGroup(group.to_string()));
                drop(reply.send(res))
            }
        }
    }

    fn make_invite(
        &self,
        group: &GroupId,
        ttl: Duration,
        with_addrs: bool,
    ) -> Result<String, Error> {
        Ok(self.build_invite(group, ttl, with_addrs)?.to_text()?)
    }

    fn long_invite_code(&self, group: &GroupId, ttl: Duration) -> Result<InviteCode, Error> {
        let inv = self.build_invite(group, ttl, true)?;
        Ok(InviteCode {
            group: group.to_string(),
            invite: inv.to_text()?,
            short: false,
            expires_ms: inv.ticket.content.expires_ms,
            note: None,
        })
    }

    /// A signed invite to `group` (by us) expiring in `ttl`, with as many of our addresses
    /// as fit when `with_addrs`.
    pub(crate) fn build_invite(
        &self,
        group: &GroupId,
        ttl: Duration,
        with_addrs: bool,
    ) -> Result<Invite, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        // Members admit only invites signed by an admin: a member's code would be refused
        // to every joiner, so it is refused here, where the member can be told.
        if !rt.state.is_admin(&self.identity.author()) {
            return Err(Error::not_allowed(
                "not_admin",
                "only the group's admins can make invite codes; ask them for one",
            ));
        }
        let current = rt
            .record
            .current()
            .ok_or_else(|| Error::Internal("group has no epoch secret".into()))?;
        let mut addrs = if with_addrs {
            self.own_addrs_bin(usize::MAX)
        } else {
            Vec::new()
        };
        addrs.truncate(qun_protocol::limits::MAX_INVITE_ADDRS);
        let mut seed = [0u8; 16];
        keys::random_fill(&mut seed)?;
        loop {
            let content = Content {
                version: invite::VERSION,
                group: *group,
                inviter: self.identity.author(),
                epoch: current.epoch,
                check: current.secret.invite_check(group, current.epoch),
                key: self.identity.author(),
                addrs: addrs.clone(),
                expires_ms: now_ms().saturating_add(ttl.as_millis() as u64),
            };
            match Invite::create(&self.identity, content, seed) {
                Ok(inv) => return Ok(inv),
                // Too large: fewer addresses.
                Err(invite::Error::Malformed(invite::Malformed::TooLarge { .. }))
                    if !addrs.is_empty() =>
                {
                    addrs.pop();
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Creates a group. The name and tags are trimmed and put in NFC first
    /// ([`text::normalize_name`]), as `Groups::resolve` reads a name.
    fn handle_create(&mut self, req: CreateGroup) -> Result<Created, Error> {
        let mut gnonce = [0u8; 16];
        keys::random_fill(&mut gnonce)?;
        let name = text::normalize_name(&req.name);
        let genesis =
            SignedGenesis::create(&self.identity, &name, now_ms(), req.visibility, gnonce)?;
        let id = genesis.id().map_err(|e| Error::Internal(e.to_string()))?;
        let meta = Kind::Meta(Meta {
            description: req.description,
            tags: req.tags.iter().map(|t| text::normalize_name(t)).collect(),
        });
        meta.validate()?;
        let secret = GroupSecret::from_bytes(keys::random32()?);
        let record = GroupRecord {
            genesis,
            epochs: vec![EpochSecret { epoch: 0, secret }],
            joined_ms: now_ms(),
        };
        self.store.put_group(&id, &record)?;
        self.store.flush_blocking()?;
        self.add_group(id, record)?;
        if let Kind::Meta(m) = &meta
            && (!m.description.is_empty() || !m.tags.is_empty())
        {
            // Durable and folded before the reply, so the first card already carries the
            // description and tags (a local command may flush on the loop, as above).
            let (topic, frame, msg) = self.sign_and_store(id, meta)?;
            self.store.flush_blocking()?;
            self.commit_post(Pending {
                topic,
                frame,
                msg,
                reply: None,
            });
        }
        let invite = self.make_invite(&id, DEFAULT_INVITE_TTL, true)?;
        self.schedule_announce(std::time::Duration::from_secs(1));
        tracing::info!(group = %id, "group created");
        Ok(Created {
            group: id.to_string(),
            invite,
        })
    }

    /// Joins by invite: asks a member to admit us (see `admission`); the reply waits for
    /// its answer.
    /// A short code (`quns1…`) is looked up in the DHT first (see `short_invite`).
    fn handle_join(&mut self, text: &str, history: crate::History, reply: Reply<GroupId>) {
        match Invite::parse(text, now_ms()) {
            Ok(inv) => self.start_admission(inv, history, reply),
            Err(invite::Error::NotFound) => match ShortCode::parse(text) {
                Ok(code) => self.start_short_join(code, history, reply),
                Err(e) => drop(reply.send(Err(e.into()))),
            },
            Err(e) => drop(reply.send(Err(e.into()))),
        }
    }

    /// Joins a group we hold a secret of (from an invite, a public card or an approval):
    /// stores every epoch secret handed to us (older epochs too: we read their control ops
    /// and history), subscribes, says so to the group, dials the given addresses and asks
    /// members we already know for the history. Already a member: adds the epochs that are
    /// new.
    pub(crate) fn enter_group(&mut self, e: super::joining::Entry) -> Result<GroupId, Error> {
        let id = e
            .genesis
            .id()
            .map_err(|err| Error::Internal(err.to_string()))?;
        let current = e.epochs.current().0;
        let handed: Vec<EpochSecret> = e
            .epochs
            .epochs()
            .map(|(epoch, secret)| EpochSecret {
                epoch,
                secret: secret.clone(),
            })
            .collect();
        if let Some(rt) = self.groups.get(&id) {
            // Removed (or banned, then unbanned) and let in again by an admin: we still
            // hold the group, so our join op is what brings us back (sent in the epoch
            // just handed to us, which the fold requires of a removed member). The
            // current epoch's secret then replaces ours; the others are added if new.
            let was_out = rt.state.has_left(&self.identity.author());
            let mut record = rt.record.clone();
            let mut added = false;
            for h in handed {
                let held = record.epochs.iter().any(|x| x.epoch == h.epoch);
                if !held || (was_out && h.epoch == current) {
                    record.epochs.retain(|x| x.epoch != h.epoch);
                    record.epochs.push(h);
                    added = true;
                }
            }
            record.epochs.sort_by_key(|x| x.epoch);
            if was_out || added {
                if was_out {
                    // Joined again now: a refused first sync is retried as a new member's.
                    record.joined_ms = self.clock_ms();
                }
                self.store.put_group(&id, &record)?;
                self.groups.remove(&id);
                self.add_group(id, record)?;
            }
            if was_out {
                self.store.flush_blocking()?;
                self.handle_post(id, Kind::Join(Join { inviter: e.inviter }), None);
                self.sync_from_subscribed(id);
            }
        } else {
            let record = GroupRecord {
                genesis: e.genesis,
                epochs: handed,
                joined_ms: self.clock_ms(),
            };
            self.store.put_group(&id, &record)?;
            if e.history == crate::History::SinceJoin {
                // Our clock's time; the first sync replaces it by a bound in the group's
                // order (see `catchup::before_history`).
                let from = crate::store::HistoryFrom {
                    since_ms: record.joined_ms,
                    bound: None,
                };
                self.store.put_history_from(&id, &from)?;
            }
            self.store.flush_blocking()?;
            self.add_group(id, record)?;
            self.handle_post(id, Kind::Join(Join { inviter: e.inviter }), None);
            self.sync_from_subscribed(id);
            self.schedule_announce(std::time::Duration::from_secs(2));
        }
        for bytes in e.addrs {
            match Multiaddr::try_from(bytes) {
                Ok(addr) => self.learn_addr(&addr, e.source),
                Err(err) => tracing::debug!(error = %err, "peer address unreadable"),
            }
        }
        tracing::info!(group = %id, "joined group");
        Ok(id)
    }

    /// Asks a few peers we already know to be in the group for its history: their
    /// subscriptions arrived before we joined, so no `Subscribed` event will start it.
    fn sync_from_subscribed(&mut self, group: GroupId) {
        for peer in self
            .subscribed_peers(&group)
            .into_iter()
            .take(JOIN_SYNC_PEERS)
        {
            self.start_sync(peer, group);
        }
    }

    fn handle_leave(&mut self, group: &GroupId) -> Result<(), Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        // An owner that left would leave the group with no one to name admins or hand it
        // on: it transfers first, unless no other member is left.
        let st = &rt.state;
        let me = self.identity.author();
        if st.owner == me && st.members.iter().any(|m| *m != me) {
            return Err(Error::not_allowed(
                "owner_leaves",
                "you own this group: hand it to a member first (qun group transfer GROUP \
                 MEMBER), then leave",
            ));
        }
        // Best effort: tell the group, then forget it.
        if let Ok((topic, frame, _)) = self.sign_and_store(*group, Kind::Leave) {
            let _ = self.net.publish(topic, frame);
        }
        if let Some(rt) = self.groups.remove(group) {
            for (_, topic) in rt.topics {
                self.net.unsubscribe(&topic);
                self.publish.forget(&topic);
            }
        }
        self.forget_syncs(group);
        self.forget_discovery(group);
        self.rekeys.forget(group);
        self.store.remove_group(group)?;
        self.store.flush_blocking()?;
        Ok(())
    }

    fn group_info(&self, id: &GroupId) -> Result<GroupInfo, Error> {
        let rt = self
            .groups
            .get(id)
            .ok_or_else(|| Error::UnknownGroup(id.to_string()))?;
        let (epoch, topic) = rt
            .current()
            .ok_or_else(|| Error::Internal("group has no epoch".into()))?;
        let hash = topic.clone();
        let st: &State = &rt.state;
        Ok(GroupInfo {
            group: id.to_string(),
            name: st.name.clone(),
            topic: topic.to_string(),
            epoch,
            visibility: rt.record.genesis.genesis.visibility.as_str().to_owned(),
            owner: st.owner.to_string(),
            description: st.description.clone(),
            tags: st.tags.clone(),
            members: st.members.iter().map(|m| m.to_string()).collect(),
            names: self.names_of(
                std::iter::once(&st.owner)
                    .chain(&st.members)
                    .chain(&st.banned)
                    .chain(st.muted.keys())
                    .chain(st.announcement.as_ref().map(|a| &a.author)),
            ),
            mesh_peers: self.net.mesh_peers(&hash),
            topic_peers: self.net.subscribers(std::slice::from_ref(&hash)).len(),
            announcement: st.announcement.as_ref().map(|a| AnnouncementView {
                text: a.text.clone(),
                author: a.author.to_string(),
                timestamp_ms: a.timestamp_ms,
                id: a.id.to_string(),
            }),
            messages: rt.messages,
            queued: self.publish.queued(&hash),
            joined_ms: rt.record.joined_ms,
            history: if rt.history.is_some() {
                "since-join"
            } else {
                "all"
            }
            .to_owned(),
            sync: self.sync_view(id),
            unknown_control_ops: st.unknown_control_ops,
            admins: st.admins.iter().map(|a| a.to_string()).collect(),
            muted: st
                .muted
                .iter()
                // A mute that ended is no longer shown (the fold keeps it until an unmute).
                .filter(|(_, mute)| mute.until_ms.is_none_or(|t| t > now_ms()))
                .map(|(m, mute)| MutedView {
                    member: m.to_string(),
                    by: mute.by.to_string(),
                    until_ms: mute.until_ms,
                })
                .collect(),
            banned: st.banned.iter().map(|b| b.to_string()).collect(),
            pins: st
                .pins
                .iter()
                .map(|p| PinView {
                    id: p.id.to_string(),
                    by: p.by.to_string(),
                })
                .collect(),
            standing: standing(st, &self.identity.author()).to_owned(),
        })
    }

    fn sync_view(&self, group: &GroupId) -> SyncView {
        let (running, pending, fetched) = self.sync.progress(group);
        let stats = self.sync.stats.get(group).cloned().unwrap_or_default();
        SyncView {
            running,
            pending,
            fetched,
            completed: stats.completed,
            last_ms: stats.last_ms,
            last_fetched: stats.last_fetched,
            last_rounds: stats.last_rounds,
            last_peer: stats.last_peer.map(|p| p.to_string()),
        }
    }

    /// Starts a sync of `group` with up to [`MANUAL_SYNC_PEERS`] subscribed peers.
    fn handle_sync_command(&mut self, group: &GroupId) -> Result<usize, Error> {
        if !self.groups.contains_key(group) {
            return Err(Error::UnknownGroup(group.to_string()));
        }
        let mut started = 0;
        for peer in self.subscribed_peers(group) {
            if started == MANUAL_SYNC_PEERS {
                break;
            }
            if self.start_sync(peer, *group) {
                started += 1;
            }
        }
        Ok(self.sync.progress(group).0)
    }
}

/// `me`'s standing in a group by its state ([`GroupInfo::standing`]).
fn standing(st: &State, me: &qun_protocol::AuthorId) -> &'static str {
    if st.banned.contains(me) {
        "banned"
    } else if !st.members.contains(me) {
        "removed"
    } else if st.owner == *me {
        "owner"
    } else if st.admins.contains(me) {
        "admin"
    } else if st
        .muted
        .get(me)
        .is_some_and(|m| m.until_ms.is_none_or(|t| t > now_ms()))
    {
        "muted"
    } else {
        "member"
    }
}
