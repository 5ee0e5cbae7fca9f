//! Search, and the `/qun/discovery/1` request-response traffic.
//!
//! A search turns the query into tokens (`keywords::query_tokens`) and asks the DHT for
//! the providers of each token's key, all at once. Each provider the DHT names is asked,
//! directly, for its cards of groups indexed under the tokens (at most
//! [`MAX_PEERS_ASKED`] providers per search). Every card is checked (signature by the
//! owner or an admin its authority proves, limits, time) and its own tokens are recomputed, so a provider can neither forge
//! a card nor make an unrelated card match; the newest valid card of each group is kept.
//! A token's lookup stops early once `search_provider_sources` peers (2 by default) have
//! named providers: keyword providers are stored at the same closest peers, so a second
//! answer mostly confirms the first, and walking on to all 20 closest peers costs round
//! trips. The search ends when every lookup and question is answered, or at
//! `search_timeout`.
//! Results are ranked by tokens matched, then member count, then freshness.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use qun_protocol::GroupId;
use qun_protocol::discovery::card::ProvenCard;
use qun_protocol::discovery::keywords;
use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::group::Visibility;
use qun_protocol::limits::MAX_SEARCH_CARDS;

use super::{EventLoop, now_ms};
use crate::net::{PeerId, QueryId, RequestId, Responder};
use crate::view::{SearchHit, SearchResult};
use crate::{Error, Reply};

/// Most providers one search asks for cards.
pub const MAX_PEERS_ASKED: usize = 24;

/// A running search.
pub(crate) struct Search {
    pub query: String,
    pub tokens: Vec<String>,
    pub started: Instant,
    pub lookups_left: usize,
    pub asks_left: usize,
    pub providers: HashSet<PeerId>,
    pub asked: HashSet<PeerId>,
    pub cards: HashMap<GroupId, ProvenCard>,
    pub refused: usize,
    pub dht_requests: u32,
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
        let tokens = keywords::query_tokens(&query);
        if tokens.is_empty() {
            let _ = reply.send(Err(Error::Invalid(format!(
                "nothing to search for in {query:?}: use a word of 2+ letters or a CJK character"
            ))));
            return;
        }
        if !self.net.dht_enabled() {
            let _ = reply.send(Err(Error::Invalid("the DHT is off on this node".into())));
            return;
        }
        let id = self.disc.next_search;
        self.disc.next_search += 1;
        for t in &tokens {
            let Some(q) = self.net.get_providers(&keywords::provider_key(t)) else {
                continue;
            };
            self.disc.kad_queries.insert(
                q,
                super::dht::KadQuery::Providers {
                    search: id,
                    sources: 0,
                },
            );
        }
        let mut search = Search {
            query,
            lookups_left: tokens.len(),
            tokens,
            started: Instant::now(),
            asks_left: 0,
            providers: HashSet::new(),
            asked: HashSet::new(),
            cards: HashMap::new(),
            refused: 0,
            dht_requests: 0,
            reply: Some(reply),
        };
        for c in self.matching_cards(&search.tokens) {
            take_card(&mut search, c);
        }
        self.disc.searches.insert(id, search);
    }

    pub(crate) fn search_found_providers(&mut self, id: u64, providers: HashSet<PeerId>) {
        let me = self.net.local_peer_id();
        let Some(s) = self.disc.searches.get_mut(&id) else {
            return;
        };
        tracing::debug!(search = id, ?providers, "providers found");
        for p in providers {
            s.providers.insert(p);
            if p == me || s.asked.len() >= MAX_PEERS_ASKED || !s.asked.insert(p) {
                continue;
            }
            let req = Request::Search {
                tokens: s.tokens.clone(),
            };
            let rid = self.net.send_discovery(&p, req);
            self.disc.requests.insert(rid, Sent::Search { search: id });
            s.asks_left += 1;
        }
    }

    pub(crate) fn search_lookup_done(&mut self, id: u64, requests: u32) {
        if let Some(s) = self.disc.searches.get_mut(&id) {
            s.lookups_left = s.lookups_left.saturating_sub(1);
            s.dht_requests += requests;
        }
        self.maybe_finish_search(id, false);
    }

    /// A provider's answer: each card is checked and must match; a forged card (or one
    /// that does not match what we asked, which an honest peer never sends) penalises the
    /// provider.
    fn search_answered(&mut self, id: u64, from: Option<PeerId>, cards: Vec<ProvenCard>) {
        let now = now_ms();
        let mut bad = None;
        if let Some(s) = self.disc.searches.get_mut(&id) {
            s.asks_left = s.asks_left.saturating_sub(1);
            for c in cards {
                let verdict = c.check(now).map_err(|e| e.to_string()).and_then(|_| {
                    match card_matched(&s.tokens, &c) {
                        0 => Err("a card that does not match the search".to_owned()),
                        _ => Ok(()),
                    }
                });
                match verdict {
                    Ok(()) => take_card(s, c),
                    Err(e) => {
                        s.refused += 1;
                        bad = Some(e);
                    }
                }
            }
        }
        if let (Some(peer), Some(reason)) = (from, bad) {
            self.penalise(peer, format!("search answer refused: {reason}"));
        }
        self.maybe_finish_search(id, false);
    }

    /// Ends a search when nothing is outstanding (or `force`, at its deadline).
    pub(crate) fn maybe_finish_search(&mut self, id: u64, force: bool) {
        let done = self
            .disc
            .searches
            .get(&id)
            .is_some_and(|s| force || (s.lookups_left == 0 && s.asks_left == 0));
        if !done {
            return;
        }
        let Some(mut s) = self.disc.searches.remove(&id) else {
            return;
        };
        // At the deadline: count what the unfinished lookups sent, and stop them.
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
                s.dht_requests += requests;
            }
        }
        let mut hits: Vec<(usize, SearchHit)> = Vec::new();
        for (g, c) in &s.cards {
            self.disc.found_cards.insert(*g, c.clone());
            let v = &c.value;
            hits.push((
                card_matched(&s.tokens, c),
                SearchHit {
                    group: g.to_string(),
                    name: v.name().to_owned(),
                    description: v.meta.description.clone(),
                    tags: v.meta.tags.clone(),
                    members: v.members,
                    visibility: v.visibility().as_str().to_owned(),
                    matched: card_matched(&s.tokens, c),
                    issued_ms: v.issued_ms,
                },
            ));
        }
        hits.sort_by(|a, b| {
            (b.0, b.1.members, b.1.issued_ms).cmp(&(a.0, a.1.members, a.1.issued_ms))
        });
        let result = SearchResult {
            query: std::mem::take(&mut s.query),
            tokens: std::mem::take(&mut s.tokens),
            hits: hits.into_iter().map(|(_, h)| h).collect(),
            providers: s.providers.len(),
            peers_asked: s.asked.len(),
            dht_requests: s.dht_requests,
            cards_refused: s.refused,
            elapsed_ms: s.started.elapsed().as_millis() as u64,
        };
        if let Some(reply) = s.reply.take() {
            let _ = reply.send(Ok(result));
        }
    }

    /// Ends searches past their deadline.
    pub(crate) fn expire_searches(&mut self) {
        let timeout = self.config.search_timeout;
        let late: Vec<u64> = self
            .disc
            .searches
            .iter()
            .filter(|(_, s)| s.started.elapsed() >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.maybe_finish_search(id, true);
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
            Some(Sent::Search { search }) => self.search_answered(search, None, Vec::new()),
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
        }
    }

    pub(crate) fn on_discovery_response(&mut self, peer: PeerId, id: RequestId, res: Response) {
        match (self.disc.requests.remove(&id), res) {
            (Some(Sent::Search { search }), Response::Cards(cards)) => {
                let cards = cards.into_iter().map(ProvenCard::from).collect();
                self.search_answered(search, Some(peer), cards)
            }
            (Some(Sent::Search { search }), Response::ProvenCards(cards)) => {
                self.search_answered(search, Some(peer), cards)
            }
            (Some(Sent::Search { search }), _) => self.search_answered(search, None, Vec::new()),
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

/// How many of `tokens` a card's group is indexed under.
fn card_matched(tokens: &[String], c: &ProvenCard) -> usize {
    let idx = keywords::index_tokens(c.value.name(), &c.value.meta.tags);
    keywords::matched(tokens, &idx)
}

fn take_card(s: &mut Search, c: ProvenCard) {
    let Ok(g) = c.value.group() else {
        return;
    };
    match s.cards.get(&g) {
        Some(old) if !c.is_newer_than(old) => {}
        _ => {
            s.cards.insert(g, c);
        }
    }
}
