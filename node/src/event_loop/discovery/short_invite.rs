//! Short invite codes on the node: publishing the sealed record, and joining with a code.
//!
//! Making one: the node signs a long invite, seals it under a fresh 16-byte code
//! ([`ShortCode::seal`]), keeps the record on disk ([`crate::store::HeldInvite`]) and
//! puts it to the DHT (quorum one); the answer waits for that put. The record is put
//! again every announcement round until it expires, so it outlives a restart of ours and
//! the DHT's record expiry. With the DHT off, or when no peer stored it, the answer is the
//! long code with a note saying why: the user always gets a code that works.
//!
//! Joining: the code names the record; a `get_record` fetches it, the first copy that
//! opens with the code wins (the query stops there), and admission goes on exactly as
//! with a long code (`admission`).

use std::time::{Duration, Instant};

use qun_protocol::GroupId;
use qun_protocol::invite::{self, Invite, short::ShortCode};

use std::collections::HashMap;

use super::dht::KadQuery;
use crate::event_loop::{EventLoop, Timer, now_ms};
use crate::net::QueryId;
use crate::store::HeldInvite;
use crate::view::InviteCode;
use crate::{Error, History, Reply, keys};

/// The short invites room: puts and lookups of short invite records, by DHT query, and
/// joins waiting for a first DHT peer.
#[derive(Default)]
pub(crate) struct ShortInvites {
    /// Short invites waiting for their DHT put.
    pub puts: HashMap<QueryId, PendingShort>,
    /// Joins by short code waiting for their DHT lookup.
    pub lookups: HashMap<QueryId, PendingShortJoin>,
    /// Joins by short code waiting for a first peer in the routing table (at most
    /// [`MAX_WAITING`], each until its deadline).
    pub waiting: Vec<WaitingShortJoin>,
}

/// A short invite waiting for its DHT put.
pub(crate) struct PendingShort {
    pub reply: Reply<InviteCode>,
    pub code: InviteCode,
    pub long: String,
    pub key: Vec<u8>,
}

/// How long a join by short code waits for a first DHT peer.
pub(crate) const WAIT_FOR_PEER: Duration = Duration::from_secs(10);
/// Joins by short code waiting for a first DHT peer, at most.
pub(crate) const MAX_WAITING: usize = 16;

/// A join by short code waiting for a first peer in the routing table.
pub(crate) struct WaitingShortJoin {
    code: ShortCode,
    history: History,
    reply: Reply<GroupId>,
    until: Instant,
}

fn no_peer_error() -> Error {
    Error::NotFound(
        "this node is connected to no DHT peer, so it cannot look a short invite code up: \
         start the daemon with --bootstrap ADDR (an address `qun id` shows on a node of the \
         group's network), or ask for the long code (qun group invite --long)"
            .into(),
    )
}

/// A join by short code waiting for its DHT lookup.
pub(crate) struct PendingShortJoin {
    pub code: ShortCode,
    pub history: History,
    pub reply: Reply<crate::GroupId>,
    /// The first record that opened.
    pub opened: Option<Invite>,
    /// Why the last record found did not open.
    pub error: Option<invite::Error>,
}

impl EventLoop {
    /// `qun group invite` without `--long`.
    pub(crate) fn start_short_invite(
        &mut self,
        group: GroupId,
        ttl: Duration,
        reply: Reply<InviteCode>,
    ) {
        let res = (|| -> Result<_, Error> {
            let inv = self.build_invite(&group, ttl, true)?;
            let long = inv.to_text()?;
            let mut secret = [0u8; 16];
            keys::random_fill(&mut secret)?;
            let mut nonce = [0u8; 24];
            keys::random_fill(&mut nonce)?;
            let code = ShortCode::from_secret(secret);
            let value = code.seal(&inv, nonce)?;
            Ok((inv, long, code, value))
        })();
        let (inv, long, code, value) = match res {
            Ok(v) => v,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let expires_ms = inv.ticket.content.expires_ms;
        let long_answer = |note: &str| InviteCode {
            group: group.to_string(),
            invite: long.clone(),
            short: false,
            expires_ms,
            note: Some(note.to_owned()),
        };
        if !self.net.dht_enabled() {
            let note = "the DHT is off on this node, and a short code is found through it: \
                        this is the long code";
            return drop(reply.send(Ok(long_answer(note))));
        }
        let key = code.record_key();
        let put = self
            .net
            .put_record(key.clone(), value.clone(), Some(Instant::now() + ttl));
        let id = match put {
            Ok(Some(id)) => id,
            Ok(None) => {
                let note = "the DHT is off on this node: this is the long code";
                return drop(reply.send(Ok(long_answer(note))));
            }
            Err(e) => {
                let note =
                    format!("the short code could not be stored ({e}): this is the long code");
                return drop(reply.send(Ok(long_answer(&note))));
            }
        };
        let held = HeldInvite { expires_ms, value };
        if let Err(e) = self.records.put_short_invite(&key, &held) {
            tracing::warn!(error = %e, "could not keep a short invite for republishing");
        }
        let answer = InviteCode {
            group: group.to_string(),
            invite: code.to_text(),
            short: true,
            expires_ms,
            note: None,
        };
        self.disc.kad_queries.insert(id, KadQuery::PutInvite);
        self.disc.short.puts.insert(
            id,
            PendingShort {
                reply,
                code: answer,
                long,
                key,
            },
        );
    }

    /// The DHT put of a short invite ended.
    pub(crate) fn short_invite_put(&mut self, p: PendingShort, result: Result<(), String>) {
        let answer = match result {
            Ok(()) => p.code,
            Err(e) => {
                // Nobody else holds it: a code that only we could answer is no use to a
                // joiner who cannot reach us through the DHT.
                if let Err(err) = self.records.remove_short_invite(&p.key) {
                    tracing::warn!(error = %err, "could not forget a short invite");
                }
                InviteCode {
                    invite: p.long,
                    short: false,
                    note: Some(format!(
                        "no DHT peer stored the short code ({e}): this is the long code, which \
                         works without the DHT"
                    )),
                    ..p.code
                }
            }
        };
        let _ = p.reply.send(Ok(answer));
    }

    /// Puts our unexpired short invite records to the DHT again (each announcement round).
    pub(crate) fn republish_short_invites(&mut self) {
        let now = now_ms();
        let held = match self.records.short_invites(now) {
            Ok(h) => h,
            Err(e) => return tracing::warn!(error = %e, "could not read short invites"),
        };
        if !self.net.dht_enabled() {
            return;
        }
        for (key, h) in held {
            let expires =
                Some(Instant::now() + Duration::from_millis(h.expires_ms.saturating_sub(now)));
            if let Err(e) = self.net.put_record(key, h.value, expires) {
                tracing::debug!(error = %e, "short invite not republished");
            }
        }
    }

    /// `qun group join quns1…`: looks the record up in the DHT.
    pub(crate) fn start_short_join(
        &mut self,
        code: ShortCode,
        history: History,
        reply: Reply<GroupId>,
    ) {
        if self.disc.dht.routing_empty && self.net.dht_enabled() {
            // Just started, or alone: wait a little for a first DHT peer (a bootstrap or
            // known peer being dialled) rather than ask an empty routing table.
            if self.disc.short.waiting.len() >= MAX_WAITING {
                return drop(reply.send(Err(no_peer_error())));
            }
            let until = Instant::now() + WAIT_FOR_PEER;
            self.disc.short.waiting.push(WaitingShortJoin {
                code,
                history,
                reply,
                until,
            });
            self.timers.at(until, Timer::ShortJoins);
            return;
        }
        let Some(id) = self.net.get_record(&code.record_key()) else {
            return drop(
                reply.send(Err(Error::Invalid(
                    "a short invite code (quns1…) is found through the DHT, which is off on this \
                 node: ask for the long code (qun group invite --long)"
                        .into(),
                ))),
            );
        };
        self.disc.kad_queries.insert(id, KadQuery::InviteRecord);
        self.disc.short.lookups.insert(
            id,
            PendingShortJoin {
                code,
                history,
                reply,
                opened: None,
                error: None,
            },
        );
    }

    /// Starts the waiting joins by short code once the routing table has a peer; fails
    /// those past their deadline (on the discovery tick).
    pub(crate) fn start_waiting_short_joins(&mut self) {
        if self.disc.short.waiting.is_empty() {
            return;
        }
        let now = Instant::now();
        let ready = !self.disc.dht.routing_empty;
        let (go, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.disc.short.waiting)
            .into_iter()
            .partition(|w| ready || w.until <= now);
        self.disc.short.waiting = wait;
        for w in go {
            if ready {
                self.start_short_join(w.code, w.history, w.reply);
            } else {
                let _ = w.reply.send(Err(no_peer_error()));
            }
        }
    }

    /// A record found for a short code: the first one that opens is kept and ends the
    /// query. Returns whether it opened.
    pub(crate) fn short_record_found(j: &mut PendingShortJoin, value: &[u8]) -> bool {
        if j.opened.is_some() {
            return true;
        }
        match j.code.open(value, now_ms()) {
            Ok(inv) => {
                j.opened = Some(inv);
                true
            }
            Err(e) => {
                j.error = Some(e);
                false
            }
        }
    }

    /// The lookup for a short code ended.
    pub(crate) fn short_join_lookup_done(&mut self, j: PendingShortJoin) {
        match (j.opened, j.error) {
            (Some(inv), _) => self.start_admission(inv, j.history, j.reply),
            (None, Some(e)) => drop(j.reply.send(Err(e.into()))),
            (None, None) => drop(j.reply.send(Err(Error::NotFound(
                "no DHT peer holds this invite code: it expired long ago, or its group's network is not reachable from here; ask \
                 for a new code, or the long one (qun group invite --long)"
                    .into(),
            )))),
        }
    }
}
