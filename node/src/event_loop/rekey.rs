//! Re-keying in the node: who re-keys after a removal, and how every member moves to the
//! new epoch (`qun_protocol::group::rekey` has the op and its rules).
//!
//! ## Who re-keys
//! A remove or a ban sets the fold's `State::rekey_due`. The admin whose node posted that
//! remove or ban re-keys at once: it seals a fresh epoch secret to every member left
//! (`State::members`, itself included) and posts the `rekey` op in the current epoch. Any
//! other admin that sees the group due a re-key waits [`REKEY_BACKUP_DELAY`] times one
//! plus its rank among the admins (sorted by author id), and re-keys only if the group is
//! still due then: so the remover's re-key normally comes first, and when its node went
//! away, one backup admin after another steps in.
//!
//! A member's leave sets `State::rekey_due` too (it still holds the secret, and could
//! read on). No admin posted it, so every admin waits: the first by rank after
//! [`LEAVE_REKEY_DELAY`], the next ones [`REKEY_BACKUP_DELAY`] later each
//! (`State::rekey_due_to_leaves_only` tells this case from a removal). The wait coalesces
//! a burst: every leave folded before the re-key is covered by it, so several members
//! leaving within a few seconds cost one re-key. The cost is the re-key's: about 80 bytes
//! a remaining member (80 KB at 1,000 members) sent to every member once per burst, and
//! one X25519 exchange per member on the admin's node; a group where members come and go
//! all day pays that per burst, which we take over a leaver reading on. We send no re-key while our last one is
//! not folded yet; one that the fold refused (it lost a race, or sealed to a member
//! removed concurrently) is followed at once by another to the members as they are now,
//! at most [`MAX_REKEY_TRIES`] times per epoch.
//!
//! ## Moving to the new epoch
//! After every fold that changed a group's state, the node looks at the re-key op that
//! started the fold's current epoch (`State::epoch_op`). If it is sealed to us and its
//! secret is not the one we hold for that epoch, we open it, store it in the group's
//! record with the other epoch secrets (the `groups` tree, `store::GroupRecord::epochs`),
//! subscribe to the new epoch's topic and post from then on in the new epoch. The same
//! step makes two racing re-keys converge: the fold's winner is the first re-key to
//! `n + 1` in group order; a node that opened (or wrote) the loser replaces it by the
//! winner's secret and topic. Messages it posted under the loser are stored as signed
//! envelopes with epoch `n + 1`, so sync serves them sealed with the winner's key. A crash
//! before the record was flushed is harmless: the re-key op is stored, and the first fold
//! after a restart opens it again.
//!
//! ## Old topics
//! The topics of older epochs stay subscribed for as long as we hold the group: a member
//! that was offline during the re-key comes back on the old topic, and only there does it
//! meet members that sync it the re-key op. Nothing new travels there: a message of a
//! closed epoch that sorts after the re-key is refused by every node
//! (`Refused::EpochClosed`), so is neither stored, forwarded nor served. What a node
//! stored of it before it folded the re-key is removed, and its own such posts are
//! re-sent in the new epoch (`super::repost`).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use qun_protocol::group::Rekey;
use qun_protocol::{AuthorId, GroupId, GroupSecret, Kind, MsgId, OrderKey, Verified};

use super::{EventLoop, Pending, Timer, nonce};
use crate::{Error, keys};

/// How long a backup admin waits (times one plus its rank) before it re-keys a group that
/// is still due a re-key.
pub const REKEY_BACKUP_DELAY: Duration = Duration::from_secs(20);

/// How long the first admin (by rank) waits before it re-keys a group due a re-key after
/// leaves only: the leaves of a burst in this window cost one re-key.
pub const LEAVE_REKEY_DELAY: Duration = Duration::from_secs(5);

/// Re-keys we send to one epoch, at most (each refused by the fold: races).
pub const MAX_REKEY_TRIES: u32 = 5;

/// Our last re-key of a group.
struct Sent {
    /// The epoch it starts.
    epoch: u64,
    /// Its order key: folded once the group's index holds it.
    key: OrderKey,
    /// Re-keys sent to this epoch.
    tries: u32,
}

/// The re-keying room.
#[derive(Default)]
pub(crate) struct Rekeys {
    /// Per group, the re-key op whose secret we checked last: an unchanged state costs
    /// nothing.
    checked: HashMap<GroupId, MsgId>,
    /// Groups where our node posted a remove or a ban not yet followed by a re-key: we
    /// re-key at once.
    ours: HashSet<GroupId>,
    /// Per group, the epoch whose secret we last opened from a re-key: if a refold then
    /// refuses that re-key (an op sorting before it, say a concurrent removal of one of
    /// its recipients), we leave that epoch again.
    opened: HashMap<GroupId, u64>,
    /// Our last re-key of each group.
    sent: HashMap<GroupId, Sent>,
    /// When we re-key, as a backup admin, a group still due a re-key.
    backup: HashMap<GroupId, Instant>,
    /// (group, epoch, member) we pushed the epochs to, once each
    /// ([`super::discovery::handover`]).
    pub(crate) handed: HashSet<(GroupId, u64, AuthorId)>,
}

impl Rekeys {
    /// Forgets a group we left.
    pub fn forget(&mut self, group: &GroupId) {
        self.checked.remove(group);
        self.opened.remove(group);
        self.ours.remove(group);
        self.sent.remove(group);
        self.backup.remove(group);
        self.handed.retain(|(g, _, _)| g != group);
    }

    /// Makes the next look at `group` check its epoch op again (we took new epochs).
    pub fn forget_checked(&mut self, group: &GroupId) {
        self.checked.remove(group);
    }
}

impl EventLoop {
    /// A message of ours is durable: a remove or a ban makes us the admin who re-keys.
    pub(crate) fn note_own_op(&mut self, msg: &Verified) {
        if matches!(msg.body.kind, Kind::Remove(_) | Kind::Ban(_)) {
            self.rekeys.ours.insert(msg.body.group);
            // The op was folded when it was signed, before it was durable: the group is
            // looked at again at the end of this iteration, so we re-key now rather than
            // after the backup delay set then.
            self.groups.changed.insert(msg.body.group);
        }
    }

    /// After the folds of a loop iteration: every group whose state changed moves to the
    /// fold's epoch if it must, drops the messages a re-key closed out and re-sends ours
    /// (`super::repost`), and re-keys if it is due and we are the admin to do it.
    pub(crate) fn check_epochs(&mut self) {
        for group in std::mem::take(&mut self.groups.changed) {
            if let Err(e) = self.follow_epoch(&group) {
                tracing::warn!(%group, error = %e, "could not move to the group's epoch");
            }
            self.repost_closed(&group);
            self.maybe_rekey(&group);
            self.push_handovers(&group);
        }
    }

    /// Moves to the secret of the re-key that started the fold's current epoch, if it is
    /// sealed to us and differs from the one we hold (see the module docs).
    fn follow_epoch(&mut self, group: &GroupId) -> Result<(), Error> {
        self.leave_refused_epoch(group)?;
        let me = self.identity.author();
        let Some(rt) = self.groups.get(group) else {
            return Ok(());
        };
        let Some(op) = rt.state.epoch_op else {
            return Ok(());
        };
        if self.rekeys.checked.get(group) == Some(&op) {
            return Ok(());
        }
        tracing::debug!(%group, %op, epoch = rt.state.epoch, "epoch op to check");
        let held = rt.record.current().map_or(0, |e| e.epoch);
        let epoch = rt.state.epoch;
        self.rekeys.checked.insert(*group, op);
        if epoch < held {
            // We hold a later epoch than our fold knows (a joiner after a re-key).
            return Ok(());
        }
        let Some(msg) = self.store.by_id(&op)? else {
            return Ok(());
        };
        let Kind::Rekey(rekey) = &msg.body.kind else {
            return Ok(());
        };
        if !rekey.is_sealed_to(&me) {
            // An admin may have handed us the epoch since (`discovery::handover`).
            if !rt.record.epochs.iter().any(|e| e.epoch == epoch) {
                tracing::info!(%group, epoch, "re-keyed without us: we hold no secret of the new epoch");
            }
            return Ok(());
        }
        let secret = rekey
            .open(&self.identity, group)
            .map_err(|e| Error::Internal(format!("cannot open a re-key sealed to us: {e}")))?;
        let same = rt
            .record
            .epochs
            .iter()
            .any(|e| e.epoch == epoch && e.secret == secret);
        if !same {
            self.adopt_epoch(*group, epoch, secret)?;
        }
        Ok(())
    }

    /// Leaves the epoch we opened from a re-key that the fold no longer takes (it went
    /// back to an earlier epoch): its secret and topic are dropped, and we post in the
    /// fold's epoch again.
    fn leave_refused_epoch(&mut self, group: &GroupId) -> Result<(), Error> {
        let (Some(&opened), Some(rt)) = (self.rekeys.opened.get(group), self.groups.get(group))
        else {
            return Ok(());
        };
        if rt.state.epoch >= opened {
            return Ok(());
        }
        let mut record = rt.record.clone();
        record.epochs.retain(|e| e.epoch < opened);
        if record.epochs.is_empty() {
            return Ok(());
        }
        tracing::info!(%group, epoch = opened, "the re-key we moved with was refused: back to the group's epoch");
        self.rekeys.opened.remove(group);
        self.rekeys.checked.remove(group);
        self.store.put_group(group, &record)?;
        self.groups.set_record(&mut self.net, *group, record)
    }

    /// Stores `secret` as the secret of `epoch` (replacing another one for that epoch: a
    /// re-key that lost the race), subscribes to its topic and posts in it from now on.
    fn adopt_epoch(
        &mut self,
        group: GroupId,
        epoch: u64,
        secret: GroupSecret,
    ) -> Result<(), Error> {
        let Some(rt) = self.groups.get(&group) else {
            return Ok(());
        };
        let mut record = rt.record.clone();
        let replaced = record.epochs.iter().any(|e| e.epoch == epoch);
        record.epochs.retain(|e| e.epoch != epoch);
        record
            .epochs
            .push(crate::store::EpochSecret { epoch, secret });
        self.store.put_group(&group, &record)?;
        self.groups.set_record(&mut self.net, group, record)?;
        self.rekeys.opened.insert(group, epoch);
        tracing::info!(%group, epoch, replaced, "moved to a new epoch");
        self.publish.retry_outbox(&mut self.net, None);
        Ok(())
    }

    /// Re-keys `group` if the fold says a re-key is due and we are the admin to do it now:
    /// the one who removed at once, the others after their backup delay (after leaves
    /// only, the first after [`LEAVE_REKEY_DELAY`]).
    fn maybe_rekey(&mut self, group: &GroupId) {
        let me = self.identity.author();
        let Some(rt) = self.groups.get(group) else {
            return;
        };
        let st = &rt.state;
        if !st.rekey_due || !st.is_admin(&me) || !st.members.contains(&me) {
            self.rekeys.ours.remove(group);
            self.rekeys.backup.remove(group);
            return;
        }
        let now = Instant::now();
        // Our own re-key to this epoch was refused (a refold may have taken back one we
        // had moved with): again at once.
        let retry = self
            .rekeys
            .sent
            .get(group)
            .is_some_and(|s| s.epoch == st.epoch.saturating_add(1));
        if retry || self.rekeys.ours.contains(group) {
            self.send_rekey(group);
            return;
        }
        match self.rekeys.backup.get(group) {
            Some(at) if *at <= now => self.send_rekey(group),
            Some(_) => {}
            None => {
                let mut admins: Vec<AuthorId> =
                    st.admins.iter().copied().chain([st.owner]).collect();
                admins.sort();
                let rank = admins.iter().position(|a| *a == me).unwrap_or(0) as u32;
                let first = if st.rekey_due_to_leaves_only() {
                    LEAVE_REKEY_DELAY
                } else {
                    REKEY_BACKUP_DELAY
                };
                let at = now + first + REKEY_BACKUP_DELAY * rank;
                self.rekeys.backup.insert(*group, at);
                self.timers.at(at, Timer::Rekey);
            }
        }
    }

    /// The rekey timer: backup re-keys whose time came.
    pub(crate) fn rekey_timer(&mut self) {
        let now = Instant::now();
        let due: Vec<GroupId> = self
            .rekeys
            .backup
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(g, _)| *g)
            .collect();
        for g in due {
            self.maybe_rekey(&g);
        }
    }

    /// Posts a re-key of `group` to the next epoch, sealed to every member.
    fn send_rekey(&mut self, group: &GroupId) {
        let Some(rt) = self.groups.get(group) else {
            return;
        };
        let epoch = rt.state.epoch.saturating_add(1);
        let tries = match self.rekeys.sent.get(group) {
            // The last one is not folded yet.
            Some(s) if !rt.index.contains(&s.key) => return,
            Some(s) if s.epoch == epoch && s.tries >= MAX_REKEY_TRIES => return,
            Some(s) if s.epoch == epoch => s.tries,
            _ => 0,
        };
        let members = rt.state.members.clone();
        let made = (|| -> Result<Rekey, Error> {
            let secret = GroupSecret::from_bytes(keys::random32()?);
            let randomness = (keys::random32()?, nonce()?);
            Rekey::create(group, epoch, &secret, members, randomness)
                .map_err(|e| Error::Internal(e.to_string()))
        })();
        match made {
            Ok(rekey) => {
                let members = rekey.sealed.to.len();
                match self.sign_and_store(*group, Kind::Rekey(rekey)) {
                    Ok((topic, frame, msg)) => {
                        tracing::info!(%group, epoch, members, "re-keying the group");
                        let key = msg.order_key();
                        self.rekeys.sent.insert(
                            *group,
                            Sent {
                                epoch,
                                key,
                                tries: tries + 1,
                            },
                        );
                        self.rekeys.backup.remove(group);
                        self.publish.unflushed.push(Pending {
                            topic,
                            frame,
                            msg,
                            reply: None,
                        });
                        self.publish.maybe_start_flush(&self.store);
                    }
                    Err(e) => tracing::warn!(%group, error = %e, "could not post a re-key"),
                }
            }
            Err(e) => tracing::warn!(%group, error = %e, "could not make a re-key"),
        }
    }
}
