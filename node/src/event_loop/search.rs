//! Search, and the `/qun/discovery/1` request-response traffic.
//!
//! A search is a state machine with no IO in protocol/ ([`qun_protocol::discovery::search`]):
//! the query's tokens, one DHT provider lookup per token, questions to at most
//! `MAX_PEERS_ASKED` providers, every card checked (signature by the owner or an admin its authority proves,
//! limits, time)
//! and its tokens recomputed, so a provider can neither forge a card nor make an unrelated
//! card match; the newest valid card of each group kept; hits ranked by tokens matched,
//! then member count, then freshness; the end when everything is answered or at
//! `search_timeout`. This file is its actor: it starts the lookups and sends the questions
//! the machine asks for, feeds back what comes, penalises the providers it names, and
//! turns its outcome into a [`SearchResult`].
//! A token's lookup stops early once `search_provider_sources` peers (2 by default) have
//! named providers (see `dht`): keyword providers are stored at the same closest peers, so
//! a second answer mostly confirms the first, and walking on to all 20 closest peers costs
//! round trips.

use std::collections::HashSet;
use std::time::Instant;

use qun_protocol::GroupId;
use qun_protocol::discovery::card::ProvenCard;
use qun_protocol::discovery::keywords;
use qun_protocol::discovery::search::{self, Action, Outcome};
use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::group::Visibility;
use qun_protocol::limits::MAX_SEARCH_CARDS;

use super::Timer;
use super::{EventLoop, now_ms};
use crate::net::{PeerId, QueryId, RequestId, Responder};
use crate::view::{SearchHit, SearchResult};
use crate::{Error, Reply};

/// A running search: the state machine and who waits for its result.
pub(crate) struct Search {
    pub query: String,
    pub machine: search::Search<PeerId>,
    pub reply: Option<Reply<SearchResult>>,
}

/// A discovery request we sent.
pub(crate) enum Sent {
    /// A search question.
    Search { search: u64 },
    /// A join request for a listed group.
    Join { group: GroupId },
    /// An approval pushed to a requester.
    Approval,
    /// An admission request of a join by invite.
    Admit { join: u64 },
}

impl EventLoop {
    pub(crate) fn start_search(&mut self, query: String, reply: Reply<SearchResult>) {
        let me = self.net.local_peer_id();
        let timeout = self.config.search_timeout;
        let mut machine = match search::Search::new(Instant::now(), me, &query, timeout) {
            Ok(m) => m,
            Err(e) => {
                let _ = reply.send(Err(Error::Invalid(e.to_string())));
                return;
            }
        };
        if !self.net.dht_enabled() {
            let _ = reply.send(Err(Error::Invalid("the DHT is off on this node".into())));
            return;
        }
        machine.add_local(self.matching_cards(machine.tokens()));
        let id = self.disc.next_search;
        self.disc.next_search += 1;
        let search = Search {
            query,
            machine,
            reply: Some(reply),
        };
        self.disc.searches.insert(id, search);
        self.run_search(id);
    }

    /// Carries out what search `id` asks until it asks nothing more.
    fn run_search(&mut self, id: u64) {
        while let Some(action) = self
            .disc
            .searches
            .get_mut(&id)
            .and_then(|s| s.machine.poll_action())
        {
            match action {
                Action::LookupProviders { key, .. } => {
                    if let Some(q) = self.net.get_providers(&key) {
                        let query = super::dht::KadQuery::Providers {
                            search: id,
                            sources: 0,
                        };
                        self.disc.kad_queries.insert(q, query);
                    }
                }
                Action::Ask { peer, tokens } => {
                    let req = Request::Search { tokens };
                    let rid = self.net.send_discovery(&peer, req);
                    self.disc.requests.insert(rid, Sent::Search { search: id });
                }
                Action::Penalise { peer, refused } => {
                    self.penalise(peer, format!("search answer refused: {refused}"))
                }
                // `expire_searches` ticks every search past its deadline.
                Action::SetTimer { at } => self.timers.at(at, Timer::Searches),
                Action::Done(outcome) => self.finish_search(id, outcome),
            }
        }
    }

    pub(crate) fn search_found_providers(&mut self, id: u64, providers: HashSet<PeerId>) {
        let Some(s) = self.disc.searches.get_mut(&id) else {
            return;
        };
        tracing::debug!(search = id, ?providers, "providers found");
        s.machine.providers(providers);
        self.run_search(id);
    }

    pub(crate) fn search_lookup_done(&mut self, id: u64, requests: u32) {
        if let Some(s) = self.disc.searches.get_mut(&id) {
            s.machine.lookup_done(Instant::now(), requests);
        }
        self.run_search(id);
    }

    /// A provider's answer (`None`: the request failed or got another answer).
    fn search_answered(&mut self, id: u64, peer: PeerId, cards: Option<Vec<ProvenCard>>) {
        if let Some(s) = self.disc.searches.get_mut(&id) {
            match cards {
                Some(cards) => s.machine.cards(Instant::now(), now_ms(), &peer, cards),
                None => s.machine.no_answer(Instant::now(), &peer),
            }
        }
        self.run_search(id);
    }

    /// The search has ended: its lookups still running are stopped (and what they sent
    /// counted), the cards found are kept for joining by group id, the result is sent.
    fn finish_search(&mut self, id: u64, mut outcome: Outcome) {
        let Some(mut s) = self.disc.searches.remove(&id) else {
            return;
        };
        let running: Vec<QueryId> = self
            .disc
            .kad_queries
            .iter()
            .filter(
                |(_, q)| matches!(q, super::dht::KadQuery::Providers { search, .. } if *search == id),
            )
            .map(|(q, _)| *q)
            .collect();
        for q in running {
            self.disc.kad_queries.remove(&q);
            if let Some(requests) = self.net.finish_query(q) {
                outcome.dht_requests += requests;
            }
        }
        let hits = outcome
            .hits
            .into_iter()
            .map(|h| {
                let v = &h.card.value;
                let hit = SearchHit {
                    group: h.group.to_string(),
                    name: v.name().to_owned(),
                    description: v.meta.description.clone(),
                    tags: v.meta.tags.clone(),
                    members: v.members,
                    visibility: v.visibility().as_str().to_owned(),
                    matched: h.matched,
                    issued_ms: v.issued_ms,
                };
                self.disc.found_cards.insert(h.group, h.card);
                hit
            })
            .collect();
        let result = SearchResult {
            query: std::mem::take(&mut s.query),
            tokens: outcome.tokens,
            hits,
            providers: outcome.providers,
            peers_asked: outcome.peers_asked,
            dht_requests: outcome.dht_requests,
            cards_refused: outcome.cards_refused,
            elapsed_ms: outcome.elapsed.as_millis() as u64,
        };
        if let Some(reply) = s.reply.take() {
            let _ = reply.send(Ok(result));
        }
    }

    /// Ends searches past their deadline.
    pub(crate) fn expire_searches(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self
            .disc
            .searches
            .iter()
            .filter(|(_, s)| s.machine.deadline() <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            if let Some(s) = self.disc.searches.get_mut(&id) {
                s.machine.tick(now);
            }
            self.run_search(id);
        }
    }

    /// The cards we hold of our public and listed groups indexed under any of `tokens`.
    fn matching_cards(&self, tokens: &[String]) -> Vec<ProvenCard> {
        let mut out = Vec::new();
        for (g, rt) in &self.groups {
            if rt.record.genesis.genesis.visibility == Visibility::Private {
                continue;
            }
            let idx = keywords::index_tokens(&rt.state.name, &rt.state.tags);
            if keywords::matched(tokens, &idx) == 0 {
                continue;
            }
            if let Ok(Some(c)) = self.records.card(g) {
                out.push(c);
            }
            if out.len() == MAX_SEARCH_CARDS {
                break;
            }
        }
        out
    }

    /// One of our discovery requests failed.
    pub(crate) fn on_discovery_failure(&mut self, peer: PeerId, id: RequestId, error: &str) {
        tracing::debug!(%peer, %error, "discovery request failed");
        match self.disc.requests.remove(&id) {
            Some(Sent::Search { search }) => self.search_answered(search, peer, None),
            Some(Sent::Join { group }) => {
                self.disc.join_sent.remove(&group);
            }
            Some(Sent::Admit { join }) => self.on_admission_answer(join, peer, None),
            _ => {}
        }
    }

    pub(crate) fn serve_discovery(
        &mut self,
        peer: PeerId,
        req: Request,
        channel: Responder<Response>,
    ) {
        let res = if !self.limits.discovery.try_take(&peer, 1.0, Instant::now()) {
            tracing::debug!(%peer, "discovery rate limit");
            Response::Refused("too many requests: try later".into())
        } else {
            self.answer_discovery(peer, req)
        };
        self.net.respond_discovery(channel, res);
    }

    fn answer_discovery(&mut self, peer: PeerId, req: Request) -> Response {
        match req {
            Request::Search { tokens } => Response::ProvenCards(self.matching_cards(&tokens)),
            Request::Join(r) => self.serve_join_request(peer, *r),
            Request::Approved(a) => match self.complete_approval((*a).into()) {
                Ok(()) => Response::Ack,
                Err(e) => Response::Refused(e.to_string()),
            },
            Request::ApprovedBy(a) => match self.complete_approval(*a) {
                Ok(()) => Response::Ack,
                Err(e) => Response::Refused(e.to_string()),
            },
            Request::Admit(r) => self.serve_admission(peer, *r),
            Request::Handover(a) => self.take_handover(peer, *a),
        }
    }

    pub(crate) fn on_discovery_response(&mut self, peer: PeerId, id: RequestId, res: Response) {
        match (self.disc.requests.remove(&id), res) {
            (Some(Sent::Search { search }), Response::Cards(cards)) => {
                let cards = cards.into_iter().map(ProvenCard::from).collect();
                self.search_answered(search, peer, Some(cards))
            }
            (Some(Sent::Search { search }), Response::ProvenCards(cards)) => {
                self.search_answered(search, peer, Some(cards))
            }
            (Some(Sent::Search { search }), _) => self.search_answered(search, peer, None),
            (Some(Sent::Join { group }), Response::Join(status)) => {
                self.on_join_status(group, status)
            }
            (Some(Sent::Join { group }), other) => {
                tracing::debug!(%peer, %group, ?other, "join request not taken");
            }
            (Some(Sent::Admit { join }), res) => self.on_admission_answer(join, peer, Some(res)),
            (Some(Sent::Approval), other) => {
                tracing::debug!(%peer, ?other, "approval pushed");
            }
            (None, _) => {}
        }
    }
}
