//! Joining by invite: asking a member to admit us, and admitting those who ask.
//!
//! An invite carries no group secret ([`qun_protocol::invite`]). To join, the node sends an
//! admission request (the signed ticket and a proof of the invite key bound to both peer
//! ids) over `/qun/discovery/1`, at once, to the inviter and to every peer named in the
//! invite's addresses. If none of them admits us (unreachable, or refused), it asks up to
//! [`ADMIT_FALLBACK_PEERS`] peers it is connected to (an invite made without addresses, in a
//! network whose peers found each other otherwise). The first valid admission wins: the node
//! enters the group with the sealed secret and `group join` says `joined`. When every peer
//! asked has failed or refused, or after [`ADMIT_TIMEOUT`], the join fails with the reason:
//! "invite expired" if a member said so, another refusal if one came, else "no member of
//! the group answered" (no state is kept; the user tries again when the inviter is online).
//!
//! A member answers an admission request after the checks of
//! [`qun_protocol::invite::admit::Request::check`], that it is in the group, that the
//! inviter is an admin of it now (a removed, banned or demoted inviter's invites stop
//! working), that the joiner is not banned, and that it holds the secret of the epoch the
//! invite was made in ([`qun_protocol::invite::admit::Request::check_epoch`]: an invite
//! made before a re-key still admits, into the current epoch). It hands over every epoch
//! secret it holds; at most [`ADMIT_REQUESTS_PER_MINUTE`] requests per peer.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use qun_protocol::GroupId;
use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::invite::Invite;
use qun_protocol::invite::admit::{self, Refusal, SignedAdmission};
use qun_protocol::limits::MAX_CARD_ADDRS;

use super::joining::Entry;
use crate::event_loop::search::Sent;
use crate::event_loop::{EventLoop, Timer, nonce, now_ms};
use crate::net::{self, Multiaddr, PeerId};
use crate::{Error, History, Reply, keys};

/// Connected peers asked when neither the inviter nor a peer named in the invite admits us.
pub const ADMIT_FALLBACK_PEERS: usize = 8;
/// How long a join by invite waits for an admission before it fails.
pub const ADMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Admission requests one peer may make of us per minute; more are refused as busy.
pub const ADMIT_REQUESTS_PER_MINUTE: u32 = 10;
/// Peers whose admission request count is kept (older windows are forgotten first).
const ADMIT_RATE_PEERS: usize = 1024;
/// Joins by invite waiting for an admission at once.
pub const MAX_PENDING_ADMISSIONS: usize = 64;

/// The admissions room: joins by invite waiting for an answer, and the admission
/// requests strangers made of us.
#[derive(Default)]
pub(crate) struct Admissions {
    /// Joins by invite waiting for a member's admission, by id (at most
    /// [`MAX_PENDING_ADMISSIONS`]).
    pub admitting: HashMap<u64, Admitting>,
    /// The id of the next join by invite.
    pub next: u64,
    /// Admission requests per peer (a cap on what strangers make us seal and sign).
    pub rate: AdmitRate,
}

/// A join by invite waiting for a member's answer.
pub(crate) struct Admitting {
    pub invite: Invite,
    pub history: History,
    pub reply: Reply<GroupId>,
    pub started: Instant,
    /// Peers asked so far.
    pub asked: HashSet<PeerId>,
    /// Requests not answered yet.
    pub in_flight: usize,
    /// Whether connected peers were asked too.
    pub fallback: bool,
    /// Refusals and unusable answers so far, the first of each kind.
    pub refusals: Vec<Refusal>,
}

/// Admission requests per peer in the current minute.
#[derive(Default)]
pub(crate) struct AdmitRate {
    windows: HashMap<PeerId, (Instant, u32)>,
}

impl AdmitRate {
    /// Counts one request of `peer`; false when it is over the limit.
    fn allow(&mut self, peer: PeerId) -> bool {
        let now = Instant::now();
        let minute = Duration::from_secs(60);
        if self.windows.len() >= ADMIT_RATE_PEERS && !self.windows.contains_key(&peer) {
            self.windows
                .retain(|_, (t, _)| now.duration_since(*t) < minute);
            if self.windows.len() >= ADMIT_RATE_PEERS {
                return false;
            }
        }
        let (start, n) = self.windows.entry(peer).or_insert((now, 0));
        if now.duration_since(*start) >= minute {
            *start = now;
            *n = 0;
        }
        *n += 1;
        *n <= ADMIT_REQUESTS_PER_MINUTE
    }
}

/// The peer id in a binary multiaddr's `/p2p/` part.
fn peer_in(bytes: &[u8]) -> Option<(PeerId, Multiaddr)> {
    let addr = Multiaddr::try_from(bytes.to_vec()).ok()?;
    let (p, _) = crate::peers::split_p2p(&addr)?;
    Some((p, addr))
}

impl EventLoop {
    /// Starts asking members to admit us with `invite`.
    pub(crate) fn start_admission(
        &mut self,
        invite: Invite,
        history: History,
        reply: Reply<GroupId>,
    ) {
        let group = invite.group();
        // Already in, unless we were removed (then an admin's admission lets us back in).
        let me = self.identity.author();
        if let Some(rt) = self.groups.get(&group)
            && !rt.state.has_left(&me)
        {
            let _ = reply.send(Ok(group));
            return;
        }
        if self.disc.admits.admitting.len() >= MAX_PENDING_ADMISSIONS {
            let _ = reply.send(Err(Error::Invalid(format!(
                "{MAX_PENDING_ADMISSIONS} joins are waiting for an answer; try again later"
            ))));
            return;
        }
        let mut named: Vec<PeerId> = Vec::new();
        if let Some(p) = net::peer_id(&invite.ticket.content.inviter) {
            named.push(p);
        }
        for (p, addr) in invite
            .ticket
            .content
            .addrs
            .iter()
            .filter_map(|a| peer_in(a))
        {
            if let Some((peer, bare)) = crate::peers::split_p2p(&addr) {
                self.learn_peer(peer, [bare], crate::peers::Source::Invite);
            }
            self.net.add_peer_address(p, addr);
            if !named.contains(&p) {
                named.push(p);
            }
        }
        let id = self.disc.admits.next;
        self.disc.admits.next += 1;
        self.disc.admits.admitting.insert(
            id,
            Admitting {
                invite,
                history,
                reply,
                started: Instant::now(),
                asked: HashSet::new(),
                in_flight: 0,
                fallback: false,
                refusals: Vec::new(),
            },
        );
        self.timers
            .at(Instant::now() + ADMIT_TIMEOUT, Timer::Admissions);
        self.ask_to_admit(id, named);
        self.admission_progress(id);
    }

    /// Sends our admission request to each of `peers` not asked yet.
    fn ask_to_admit(&mut self, id: u64, peers: Vec<PeerId>) {
        let me = self.net.local_peer_id();
        let my_author = self.identity.author();
        let Some(a) = self.disc.admits.admitting.get_mut(&id) else {
            return;
        };
        let group = a.invite.group();
        let key = a.invite.key();
        for p in peers {
            if p == me || !a.asked.insert(p) {
                continue;
            }
            let Some(member) = net::author(&p) else {
                continue;
            };
            let req = admit::Request {
                ticket: a.invite.ticket.clone(),
                proof: admit::proof(&key, &group, &my_author, &member),
            };
            let rid = self.net.send_discovery(&p, Request::Admit(Box::new(req)));
            self.disc.requests.insert(rid, Sent::Admit { join: id });
            a.in_flight += 1;
        }
    }

    /// After an answer or a failure: falls back to connected peers when every named peer
    /// has answered, and fails the join when nobody is left to ask.
    fn admission_progress(&mut self, id: u64) {
        let Some(a) = self.disc.admits.admitting.get(&id) else {
            return;
        };
        if a.in_flight > 0 {
            return;
        }
        if !a.fallback {
            let asked = a.asked.clone();
            let others: Vec<PeerId> = self
                .net
                .connected()
                .keys()
                .filter(|p| !asked.contains(*p) && !self.disc.dht.bad_peers.contains(*p))
                .take(ADMIT_FALLBACK_PEERS)
                .copied()
                .collect();
            if let Some(a) = self.disc.admits.admitting.get_mut(&id) {
                a.fallback = true;
            }
            self.ask_to_admit(id, others);
            if self
                .disc
                .admits
                .admitting
                .get(&id)
                .is_some_and(|a| a.in_flight > 0)
            {
                return;
            }
        }
        self.fail_admission(id);
    }

    fn fail_admission(&mut self, id: u64) {
        let Some(a) = self.disc.admits.admitting.remove(&id) else {
            return;
        };
        let err = match a
            .refusals
            .iter()
            .find(|r| matches!(r, Refusal::Expired { .. }))
        {
            Some(r) => Error::NotAdmitted(r.clone()),
            None => match a.refusals.into_iter().next() {
                Some(r) => Error::NotAdmitted(r),
                None => Error::NoMemberReachable {
                    asked: a.asked.len(),
                },
            },
        };
        tracing::info!(group = %a.invite.group(), error = %err, "join by invite failed");
        let _ = a.reply.send(Err(err));
    }

    /// An answer to one of our admission requests.
    pub(crate) fn on_admission_answer(&mut self, id: u64, peer: PeerId, res: Option<Response>) {
        let Some(a) = self.disc.admits.admitting.get_mut(&id) else {
            return;
        };
        a.in_flight = a.in_flight.saturating_sub(1);
        match res {
            Some(Response::Admitted(adm)) => return self.admitted(id, peer, *adm),
            Some(Response::AdmitRefused(r)) => {
                tracing::debug!(%peer, refusal = %r, "admission refused");
                a.refusals.push(r);
            }
            Some(other) => tracing::debug!(%peer, ?other, "unexpected admission answer"),
            None => {}
        }
        self.admission_progress(id);
    }

    fn admitted(&mut self, id: u64, peer: PeerId, adm: SignedAdmission) {
        let Some(a) = self.disc.admits.admitting.get(&id) else {
            return;
        };
        let opened = net::author(&peer)
            .ok_or_else(|| qun_protocol::discovery::Error::Invalid("peer is not ed25519".into()))
            .and_then(|from| adm.open_for(&self.identity, &from, &a.invite.ticket, now_ms()));
        let ok = match opened {
            Ok(ok) => ok,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "admission unusable");
                if let Some(a) = self.disc.admits.admitting.get_mut(&id) {
                    a.refusals
                        .push(Refusal::Failed(format!("unusable admission: {e}")));
                }
                return self.admission_progress(id);
            }
        };
        let Some(a) = self.disc.admits.admitting.remove(&id) else {
            return;
        };
        let res = self.enter_group(Entry {
            genesis: ok.genesis,
            epochs: ok.epochs,
            inviter: Some(a.invite.ticket.content.inviter),
            addrs: ok.addrs,
            source: crate::peers::Source::Invite,
            history: a.history,
        });
        let _ = a.reply.send(res);
    }

    /// Fails joins by invite that waited longer than [`ADMIT_TIMEOUT`].
    pub(crate) fn expire_admissions(&mut self) {
        let late: Vec<u64> = self
            .disc
            .admits
            .admitting
            .iter()
            .filter(|(_, a)| a.started.elapsed() >= ADMIT_TIMEOUT)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.fail_admission(id);
        }
    }

    /// Answers an admission request from `peer`.
    pub(crate) fn serve_admission(&mut self, peer: PeerId, req: admit::Request) -> Response {
        match self.admit(peer, req) {
            Ok(a) => Response::Admitted(Box::new(a)),
            Err(r) => {
                tracing::debug!(%peer, refusal = %r, "admission refused");
                Response::AdmitRefused(r)
            }
        }
    }

    fn admit(&mut self, peer: PeerId, req: admit::Request) -> Result<SignedAdmission, Refusal> {
        if !self.disc.admits.rate.allow(peer) {
            return Err(Refusal::Busy);
        }
        let joiner = net::author(&peer).ok_or(Refusal::BadProof)?;
        let me = self.identity.author();
        let group: GroupId = req.check(&joiner, &me, now_ms())?;
        let rt = self.groups.get(&group).ok_or(Refusal::NotMember)?;
        // The inviter's right is read from the state of now, whatever the epoch the invite
        // was made in: a removed, banned or demoted inviter's invites stop working (said
        // first, so that a removed inviter's own node tells the joiner why).
        let inviter = req.ticket.content.inviter;
        if !rt.state.is_admin(&inviter) {
            return Err(Refusal::NotAllowed { inviter });
        }
        if rt.state.has_left(&me) {
            return Err(Refusal::NotMember);
        }
        // An invite made before the ban (or shared by another member) must not bring a
        // banned member back.
        if rt.state.banned.contains(&joiner) {
            return Err(Refusal::Banned);
        }
        // Nor may a removed member come back with an invite made before its removal (one
        // it kept, or one posted in the chat): a kick is undone only by a new invite.
        if let Some(&out) = rt.state.locked_out.get(&joiner)
            && req.ticket.content.epoch <= out
            && !rt.state.members.contains(&joiner)
        {
            return Err(Refusal::RemovedSince { epoch: out });
        }
        let failed = |e: &dyn std::fmt::Display| Refusal::Failed(e.to_string());
        let epochs = rt.record.handover().map_err(|e| failed(&e))?;
        // An invite made before a re-key admits (into the current epoch) when we hold the
        // secret of its epoch and its check value matches.
        req.check_epoch(&epochs)?;
        let ephemeral = keys::random32().map_err(|e| failed(&e))?;
        let randomness = (ephemeral, nonce().map_err(|e| failed(&e))?);
        SignedAdmission::create(
            &self.identity,
            rt.record.genesis.clone(),
            joiner,
            &epochs,
            self.own_addrs_bin(MAX_CARD_ADDRS),
            now_ms(),
            randomness,
        )
        .map_err(|e| Refusal::Failed(e.to_string()))
    }
}
