//! Joining by group id (from a search), and join requests for listed groups.
//!
//! `join_group(id)` uses a card seen lately (a search) or looks the card up in the DHT.
//! A public card carries the secret: the node joins at once, as with an invite, and dials
//! the card's addresses. For a listed group the node signs a join request, keeps it on
//! disk, and sends it to the group's current owner (by the card's authority), the card's
//! signer and the admins on the card's roster, at most [`MAX_JOIN_TARGETS`] of them (the
//! card's addresses help to reach them); it sends it again every `join_retry_interval`
//! while it waits, so an approval made while we were away still arrives. The owner and
//! every admin keep each request on disk; `approve` (by the owner or any admin, with its
//! authority: [`super::authority`]) seals every epoch secret it holds to the requester's
//! key (a `Handover`: the requester reads the older epochs too), keeps
//! the approval (so a repeated request is answered with it, under our authority of the
//! moment) and pushes it to the requester at once. The requester takes an approval only if
//! its authority ranks no lower than the card's it asked with. A group keeps at most
//! [`MAX_PENDING_JOIN_REQUESTS`] waiting, one per requester; a remote request is written
//! without an inline flush (the event loop never waits on the disk for a peer).

use std::time::Instant;

use qun_protocol::discovery::VERSION;
use qun_protocol::discovery::card::ProvenCard;
use qun_protocol::discovery::join::{self, ProvenApproval, SignedRequest};
use qun_protocol::discovery::seal::Handover;
use qun_protocol::discovery::wire::{JoinStatus, Request, Response};
use qun_protocol::group::{Action, Mark};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::limits::MAX_CARD_ADDRS;
use qun_protocol::{AuthorId, GroupId};

use crate::event_loop::search::Sent;
use crate::event_loop::{EventLoop, nonce, now_ms};
use crate::net::{self, Multiaddr, PeerId};
use crate::rate::MAX_PENDING_JOIN_REQUESTS;
use crate::store::{Incoming, Outgoing};
use crate::view::{JoinOutcome, JoinRequestView};
use crate::{Error, History, NodeEvent, Reply, keys};

/// Most peers one join request is sent to: the owner, the card's signer, then admins on
/// the card's roster.
pub const MAX_JOIN_TARGETS: usize = 4;

/// The joins room: joins by group id waiting for a card, and when pending join requests
/// were last looked at (when each was last sent is `Discovery::join_sent`).
#[derive(Default)]
pub(crate) struct Joins {
    /// Joins by group id waiting for the group's card.
    pub card_waiters: std::collections::HashMap<GroupId, Vec<CardWaiter>>,
    /// When pending join requests were last looked at.
    pub checked: Option<Instant>,
}

/// A join by group id waiting for the group's card.
pub(crate) struct CardWaiter {
    pub note: String,
    pub history: History,
    pub reply: Reply<JoinOutcome>,
}

/// What we need to enter a group.
pub(crate) struct Entry {
    pub genesis: SignedGenesis,
    /// The epoch secrets handed to us (the current epoch's last).
    pub epochs: Handover,
    pub inviter: Option<AuthorId>,
    pub addrs: Vec<Vec<u8>>,
    /// Where `addrs` come from (they go into the known peers).
    pub source: crate::peers::Source,
    pub history: History,
}

impl EventLoop {
    pub(crate) fn handle_join_by_id(
        &mut self,
        group: GroupId,
        note: String,
        history: History,
        reply: Reply<JoinOutcome>,
    ) {
        if let Some(rt) = self.groups.get(&group) {
            let _ = reply.send(Ok(JoinOutcome {
                group: group.to_string(),
                name: rt.state.name.clone(),
                status: "already_member".into(),
            }));
            return;
        }
        let waiter = CardWaiter {
            note,
            history,
            reply,
        };
        if let Some(card) = self.disc.found_cards.get(&group).cloned() {
            return self.join_with_card(card, waiter);
        }
        if !self.lookup_card(group) {
            let _ = waiter.reply.send(Err(Error::Invalid(
                "the DHT is off on this node: join with an invite code".into(),
            )));
            return;
        }
        self.disc
            .joins
            .card_waiters
            .entry(group)
            .or_default()
            .push(waiter);
    }

    pub(crate) fn card_waiters_done(&mut self, group: GroupId, card: Option<ProvenCard>) {
        for w in self
            .disc
            .joins
            .card_waiters
            .remove(&group)
            .unwrap_or_default()
        {
            match &card {
                Some(c) => self.join_with_card(c.clone(), w),
                None => drop(w.reply.send(Err(Error::NotFound(format!(
                    "no card for group {group} in the DHT: it is private (join with an \
                     invite code), or none of its members is online"
                ))))),
            }
        }
    }

    fn join_with_card(&mut self, card: ProvenCard, w: CardWaiter) {
        let res = match card.value.visibility() {
            Visibility::Public => self.join_public(&card, w.history),
            _ => self.request_join(card, w.note, w.history),
        };
        let _ = w.reply.send(res);
    }

    fn join_public(&mut self, card: &ProvenCard, history: History) -> Result<JoinOutcome, Error> {
        let (epoch, secret) = card
            .value
            .secret
            .clone()
            .ok_or_else(|| Error::Invalid("public card without a secret".into()))?;
        let group = self.enter_group(Entry {
            genesis: card.value.genesis.clone(),
            epochs: Handover::one(epoch, secret),
            inviter: None,
            addrs: card.value.addrs.clone(),
            source: crate::peers::Source::Card,
            history,
        })?;
        self.hold_card(&group, card)?;
        Ok(JoinOutcome {
            group: group.to_string(),
            name: card.value.name().to_owned(),
            status: "joined".into(),
        })
    }

    fn request_join(
        &mut self,
        card: ProvenCard,
        note: String,
        history: History,
    ) -> Result<JoinOutcome, Error> {
        let group = card.value.group()?;
        let request = SignedRequest::create(
            &self.identity,
            join::Request {
                version: VERSION,
                group,
                note,
                addrs: self.own_addrs_bin(MAX_CARD_ADDRS),
                issued_ms: now_ms(),
            },
        )?;
        let name = card.value.name().to_owned();
        let out = Outgoing {
            card: card.signed,
            card_authority: card.authority,
            request,
            since_join: history == History::SinceJoin,
        };
        self.records.put_outgoing(&group, &out)?;
        self.store.flush_blocking()?;
        self.send_join_request(group, &out);
        Ok(JoinOutcome {
            group: group.to_string(),
            name,
            status: "requested".into(),
        })
    }

    fn send_join_request(&mut self, group: GroupId, out: &Outgoing) {
        let card = out.proven_card();
        let mut targets: Vec<AuthorId> = vec![card.current_owner(), card.signer];
        targets.extend(card.admins().iter().copied());
        let mut seen = std::collections::HashSet::new();
        targets.retain(|t| seen.insert(*t));
        for peer in targets
            .iter()
            .filter_map(net::peer_id)
            .take(MAX_JOIN_TARGETS)
        {
            for a in &out.card.value.addrs {
                if let Ok(addr) = Multiaddr::try_from(a.clone()) {
                    self.net.add_peer_address(peer, addr);
                }
            }
            let req = Request::Join(Box::new(out.request.clone()));
            let rid = self.net.send_discovery(&peer, req);
            self.disc.requests.insert(rid, Sent::Join { group });
        }
        self.disc.join_sent.insert(group, Instant::now());
    }

    /// Sends pending join requests again when their retry time has come.
    pub(crate) fn retry_join_requests(&mut self) {
        let every = self.config.join_retry_interval;
        // Look at the disk at most twice per retry interval.
        if self
            .disc
            .joins
            .checked
            .is_some_and(|t| t.elapsed() < every / 2)
        {
            return;
        }
        self.disc.joins.checked = Some(Instant::now());
        let Ok(all) = self.records.outgoing_all() else {
            return;
        };
        for (g, out) in all {
            let due = self
                .disc
                .join_sent
                .get(&g)
                .is_none_or(|t| t.elapsed() >= every);
            if due && !self.groups.contains_key(&g) {
                self.send_join_request(g, &out);
            }
        }
    }

    pub(crate) fn on_join_status(&mut self, group: GroupId, status: JoinStatus) {
        let res = match status {
            JoinStatus::Pending => Ok(()),
            JoinStatus::Approved(a) => self.complete_approval((*a).into()),
            JoinStatus::ApprovedBy(a) => self.complete_approval(*a),
            JoinStatus::Rejected => {
                self.emit(NodeEvent::JoinRejected {
                    group: group.to_string(),
                });
                self.disc.join_sent.remove(&group);
                self.records.remove_outgoing(&group).map_err(Error::from)
            }
        };
        if let Err(e) = res {
            tracing::warn!(%group, error = %e, "join answer not usable");
        }
    }

    /// Opens an approval meant for us (by the owner or an admin whose authority ranks no
    /// lower than the card's we asked with) and joins.
    pub(crate) fn complete_approval(&mut self, a: ProvenApproval) -> Result<(), Error> {
        let group = a
            .value
            .genesis
            .id()
            .map_err(qun_protocol::discovery::Error::from)?;
        if self.groups.contains_key(&group) {
            return Ok(());
        }
        let out = self
            .records
            .outgoing_all()?
            .into_iter()
            .find(|(g, _)| *g == group)
            .map(|(_, o)| o)
            .ok_or_else(|| Error::Invalid("we did not ask to join this group".into()))?;
        let (group, epochs) = a.open_for(&self.identity, Some(&out.proven_card()), now_ms())?;
        self.enter_group(Entry {
            genesis: a.value.genesis.clone(),
            epochs,
            inviter: Some(a.signer),
            addrs: a.value.addrs.clone(),
            source: crate::peers::Source::Invite,
            history: if out.since_join {
                History::SinceJoin
            } else {
                History::All
            },
        })?;
        self.records.remove_outgoing(&group)?;
        self.disc.join_sent.remove(&group);
        self.hold_card(&group, &out.proven_card())?;
        self.emit(NodeEvent::Joined {
            group: group.to_string(),
        });
        Ok(())
    }

    pub(crate) fn serve_join_request(&mut self, peer: PeerId, r: SignedRequest) -> Response {
        if let Err(e) = r.check(now_ms()) {
            self.penalise(peer, format!("join request refused: {e}"));
            return Response::Refused(e.to_string());
        }
        if net::peer_id(&r.signer) != Some(peer) {
            return Response::Refused("a join request must come from its signer".into());
        }
        let group = r.value.group;
        let me = self.identity.author();
        let Some(rt) = self.groups.get(&group) else {
            return Response::Refused("not a member of this group".into());
        };
        if !rt.state.is_admin(&me) {
            return Response::Refused("not an admin of this group".into());
        }
        if rt.record.genesis.genesis.visibility != Visibility::Listed {
            return Response::Refused("this group does not take join requests".into());
        }
        // Checked before any stored approval is answered again: an approval given before a
        // ban must not let the banned member back in. Answered as a rejection, so that the
        // requester's node stops asking and tells its user (`JoinRejected`).
        if rt.state.banned.contains(&r.signer) {
            return Response::Join(JoinStatus::Rejected);
        }
        // A member that left or was removed since its request was approved asks anew: the
        // old approval (of an older epoch) is not replayed, the new request waits for a
        // decision like any other.
        let departed = matches!(
            rt.state.marks.get(&r.signer).and_then(|m| m
                .values()
                .rfind(|m| matches!(m, Mark::Joined | Mark::Left | Mark::Removed))),
            Some(Mark::Left | Mark::Removed)
        );
        self.want_name(r.signer);
        let res = match self.records.incoming(&group, &r.signer) {
            Ok(Some(inc)) if (inc.approval.is_some() && !departed) || inc.rejected => {
                Ok(Some(self.status_of(&group, &inc)))
            }
            Ok(prev) => self.keep_join_request(group, r, prev.is_none() || departed),
            Err(e) => Err(e),
        };
        match res {
            Ok(Some(s)) => Response::Join(s),
            Ok(None) => Response::Refused(format!(
                "this group has {MAX_PENDING_JOIN_REQUESTS} join requests waiting: try later"
            )),
            Err(e) => Response::Refused(format!("store: {e}")),
        }
    }

    /// Keeps a pending join request (one per requester and group: a repeated one replaces
    /// the last), unless it is new and the group already has
    /// [`MAX_PENDING_JOIN_REQUESTS`] waiting (`None`). Not flushed here: the background
    /// flusher writes it within `store_flush_every`, and a request lost in a crash is sent
    /// again by the requester every `join_retry_interval`.
    fn keep_join_request(
        &mut self,
        group: GroupId,
        r: SignedRequest,
        fresh: bool,
    ) -> Result<Option<JoinStatus>, crate::store::Error> {
        if fresh {
            let waiting = self
                .records
                .incoming_all(&group)?
                .iter()
                .filter(|i| i.approval.is_none() && !i.rejected)
                .count();
            if waiting >= MAX_PENDING_JOIN_REQUESTS {
                tracing::debug!(%group, waiting, "join request refused: too many waiting");
                return Ok(None);
            }
        }
        let inc = Incoming {
            request: r,
            approval: None,
            rejected: false,
            approval_authority: Default::default(),
        };
        self.records.put_incoming(&group, &inc)?;
        if fresh {
            self.emit(NodeEvent::JoinRequested {
                group: group.to_string(),
                requester: inc.request.signer.to_string(),
                requester_name: self.author_name(&inc.request.signer),
                note: inc.request.value.note.clone(),
            });
        }
        Ok(Some(JoinStatus::Pending))
    }

    /// The join requests we hold for `group`, oldest first: for its owner and admins
    /// (anyone else gets [`Error::NotAllowed`] `not_admin`, not an empty list).
    pub(crate) fn join_requests(&self, group: &GroupId) -> Result<Vec<JoinRequestView>, Error> {
        let rt = self
            .groups
            .get(group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        if !rt.state.is_admin(&self.identity.author()) {
            return Err(Error::not_allowed(
                "not_admin",
                "only the group's owner and admins receive join requests",
            ));
        }
        let mut v: Vec<JoinRequestView> = self
            .records
            .incoming_all(group)?
            .iter()
            .map(|i| request_view(group, i, self.author_name(&i.request.signer)))
            .collect();
        v.sort_by_key(|r| r.issued_ms);
        Ok(v)
    }

    pub(crate) fn decide_join(
        &mut self,
        group: GroupId,
        requester: AuthorId,
        approve: bool,
    ) -> Result<JoinRequestView, Error> {
        let rt = self
            .groups
            .get(&group)
            .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
        let me = self.identity.author();
        rt.state
            .may(&me, &Action::Admit { joiner: requester })
            .map_err(|r| Error::not_allowed(r.rule(), r.to_string()))?;
        let mut inc = self.records.incoming(&group, &requester)?.ok_or_else(|| {
            Error::NotFound(format!("no join request from {requester} for this group"))
        })?;
        // A rejection cannot take back an admission: once approved (by us or another
        // admin) or joined, the way out is `remove`.
        if !approve && (inc.approval.is_some() || rt.state.members.contains(&requester)) {
            return Err(Error::not_allowed(
                "already_approved",
                "this request was already approved: remove the member instead (qun group \
                 remove GROUP MEMBER)",
            ));
        }
        if approve {
            let authority = self.own_authority(&group)?;
            let rt = self
                .groups
                .get(&group)
                .ok_or_else(|| Error::UnknownGroup(group.to_string()))?;
            let epochs = rt.record.handover()?;
            let approval = ProvenApproval::create(
                &self.identity,
                authority,
                rt.record.genesis.clone(),
                requester,
                &epochs,
                self.own_addrs_bin(MAX_CARD_ADDRS),
                now_ms(),
                (keys::random32()?, nonce()?),
            )?;
            inc.approval = Some(approval.signed.clone());
            inc.approval_authority = approval.authority.clone();
            inc.rejected = false;
            self.push_approval(&inc.request, approval);
        } else {
            inc.approval = None;
            inc.rejected = true;
        }
        self.records.put_incoming(&group, &inc)?;
        self.store.flush_blocking()?;
        Ok(request_view(&group, &inc, self.author_name(&requester)))
    }

    fn push_approval(&mut self, request: &SignedRequest, approval: ProvenApproval) {
        let Some(peer) = net::peer_id(&request.signer) else {
            return;
        };
        for a in &request.value.addrs {
            if let Ok(addr) = Multiaddr::try_from(a.clone()) {
                self.net.add_peer_address(peer, addr);
            }
        }
        let rid = self
            .net
            .send_discovery(&peer, Request::ApprovedBy(Box::new(approval)));
        self.disc.requests.insert(rid, Sent::Approval);
    }
}

impl EventLoop {
    /// The answer to a repeated request: our approval goes with our authority of now when
    /// we can prove one (a newer roster than when we approved), else with the one we had.
    fn status_of(&self, group: &GroupId, inc: &Incoming) -> JoinStatus {
        match (inc.proven_approval(), inc.rejected) {
            (Some(mut a), _) => {
                if let Ok(now) = self.own_authority(group)
                    && now.rank() > a.authority.rank()
                {
                    a.authority = now;
                }
                JoinStatus::ApprovedBy(Box::new(a))
            }
            (None, true) => JoinStatus::Rejected,
            (None, false) => JoinStatus::Pending,
        }
    }
}

fn request_view(group: &GroupId, inc: &Incoming, name: Option<String>) -> JoinRequestView {
    JoinRequestView {
        group: group.to_string(),
        requester: inc.request.signer.to_string(),
        requester_name: name,
        note: inc.request.value.note.clone(),
        issued_ms: inc.request.value.issued_ms,
        status: inc.status().to_owned(),
    }
}
