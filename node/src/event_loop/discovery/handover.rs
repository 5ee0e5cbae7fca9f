//! Handing a member the epochs a re-key missed.
//!
//! A member admitted while an admin re-keyed (its join folded before the re-key, but not
//! yet seen by the admin that sealed it) is in the group by every fold, yet not among the
//! re-key's recipients: it cannot open the new epoch, nor any later re-key, since each is
//! sent in the epoch before it. Every admin that holds the current epoch pushes such a
//! member an admission of every epoch secret it holds (`Request::Handover`, signed by the
//! admin, sealed to the member), once per (group, epoch, member) and at most
//! [`MAX_HANDOVERS_PER_CHECK`] members per look. The member takes it only from an admin
//! of its own fold, only while its fold counts it a member, and only adds epochs it lacks
//! (a held secret is never replaced); then it moves to the new epoch as after a re-key.

use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::invite::admit::SignedAdmission;
use qun_protocol::limits::MAX_CARD_ADDRS;
use qun_protocol::{AuthorId, GroupId, Kind};

use crate::event_loop::search::Sent;
use crate::event_loop::{EventLoop, nonce, now_ms};
use crate::net::{self, PeerId};
use crate::store::EpochSecret;
use crate::{Error, keys};

/// Members a node hands the epochs to per look at a group (a re-key that missed many is
/// followed by the next look, when their joins fold).
pub const MAX_HANDOVERS_PER_CHECK: usize = 16;

impl EventLoop {
    /// As an admin holding the fold's current epoch: pushes the epoch secrets to every
    /// member the current epoch's re-key was not sealed to (see the module docs).
    pub(crate) fn push_handovers(&mut self, group: &GroupId) {
        let me = self.identity.author();
        let Some(rt) = self.groups.get(group) else {
            return;
        };
        let st = &rt.state;
        if !st.is_admin(&me) || !st.members.contains(&me) {
            return;
        }
        let (Some(op), epoch) = (st.epoch_op, st.epoch) else {
            return;
        };
        if rt.record.current().map(|e| e.epoch) != Some(epoch) {
            return;
        }
        let Ok(Some(msg)) = self.store.by_id(&op) else {
            return;
        };
        let Kind::Rekey(rekey) = &msg.body.kind else {
            return;
        };
        let missed: Vec<AuthorId> = st
            .members
            .iter()
            .filter(|m| **m != me && !rekey.is_sealed_to(m))
            .filter(|m| !self.rekeys.handed.contains(&(*group, epoch, **m)))
            .take(MAX_HANDOVERS_PER_CHECK)
            .copied()
            .collect();
        if missed.is_empty() {
            return;
        }
        let epochs = match rt.record.handover() {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(%group, error = %e, "cannot hand over the epochs");
                return;
            }
        };
        let genesis = rt.record.genesis.clone();
        for member in missed {
            self.rekeys.handed.insert((*group, epoch, member));
            let Some(peer) = net::peer_id(&member) else {
                continue;
            };
            let made = keys::random32()
                .map_err(|e| e.to_string())
                .and_then(|k| Ok((k, nonce().map_err(|e| e.to_string())?)))
                .and_then(|randomness| {
                    SignedAdmission::create(
                        &self.identity,
                        genesis.clone(),
                        member,
                        &epochs,
                        self.own_addrs_bin(MAX_CARD_ADDRS),
                        now_ms(),
                        randomness,
                    )
                    .map_err(|e| e.to_string())
                });
            match made {
                Ok(adm) => {
                    tracing::info!(%group, epoch, %member, "a re-key missed a member: handing it the epochs");
                    let rid = self
                        .net
                        .send_discovery(&peer, Request::Handover(Box::new(adm)));
                    self.disc.requests.insert(rid, Sent::Approval);
                }
                Err(e) => tracing::warn!(%group, error = %e, "cannot hand over the epochs"),
            }
        }
    }

    /// Takes epochs pushed by `peer` (see the module docs); a handover that does not open
    /// or check out penalises the peer.
    pub(crate) fn take_handover(&mut self, peer: PeerId, adm: SignedAdmission) -> Response {
        match self.add_handed_epochs(peer, &adm) {
            Ok(()) => Response::Ack,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "handover not taken");
                Response::Refused(e.to_string())
            }
        }
    }

    fn add_handed_epochs(&mut self, peer: PeerId, adm: &SignedAdmission) -> Result<(), Error> {
        let from = net::author(&peer)
            .ok_or_else(|| Error::Invalid("a handover must come from an ed25519 peer".into()))?;
        let group = adm
            .value
            .genesis
            .id()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let me = self.identity.author();
        let rt = self
            .groups
            .get(&group)
            .ok_or_else(|| Error::Invalid("not a member of this group".into()))?;
        if !rt.state.is_admin(&from) {
            return Err(Error::Invalid(
                "a handover is taken from an admin of the group only".into(),
            ));
        }
        if !rt.state.members.contains(&me) {
            return Err(Error::Invalid(
                "not a member by our fold: only an admission lets us in again".into(),
            ));
        }
        let epochs = match adm.open_pushed(&self.identity, &from, &group, now_ms()) {
            Ok(e) => e,
            Err(e) => {
                self.penalise(peer, format!("handover refused: {e}"));
                return Err(Error::Invalid(e.to_string()));
            }
        };
        let mut record = rt.record.clone();
        let mut added = Vec::new();
        for (epoch, secret) in epochs.epochs() {
            if !record.epochs.iter().any(|e| e.epoch == epoch) {
                record.epochs.push(EpochSecret {
                    epoch,
                    secret: secret.clone(),
                });
                added.push(epoch);
            }
        }
        if added.is_empty() {
            return Ok(());
        }
        record.epochs.sort_by_key(|e| e.epoch);
        tracing::info!(%group, ?added, "took the epochs a re-key missed us in");
        self.store.put_group(&group, &record)?;
        self.groups.set_record(&mut self.net, group, record)?;
        self.rekeys.forget_checked(&group);
        self.groups.changed.insert(group);
        self.publish.retry_outbox(&mut self.net, None);
        Ok(())
    }
}
