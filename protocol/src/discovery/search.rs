//! A keyword search as a state machine with no IO.
//!
//! [`Search`] turns a query into tokens ([`keywords::query_tokens`]) and asks the caller to
//! look up the DHT providers of each token's key, all at once. Each provider named is to be
//! asked, directly, for its cards of groups indexed under the tokens: at most
//! [`MAX_PEERS_ASKED`] providers per search, never ourselves, each once. Every card
//! answered is checked (the signature of the owner or an admin its authority proves, limits,
//! time: [`ProvenCard::check`]) and its
//! tokens are recomputed from its name and tags, so a provider can neither forge a card nor
//! make an unrelated card match; a provider that sends such a card is to be penalised
//! ([`Action::Penalise`]). The newest valid card of each group is kept. An answer from a
//! peer not asked, or asked and answered already, is ignored.
//!
//! The search ends ([`Action::Done`]) when every lookup and every question is answered, or
//! at its deadline, whichever comes first; the caller then stops the lookups still
//! running. Hits are ranked by tokens matched, then member count, then freshness.
//!
//! Time comes in with each input: `now` ([`Instant`]) for the deadline, `now_ms` (wall
//! clock, ms since the Unix epoch) for the cards' time check.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::Error as CardError;
use super::card::{ProvenCard, SignedCard};
use super::keywords;
use crate::id::GroupId;

/// Most providers one search asks for cards.
pub const MAX_PEERS_ASKED: usize = 24;

/// Why a search cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The query has no token: no word of 2+ letters and no CJK character.
    #[error("nothing to search for in {query:?}: use a word of 2+ letters or a CJK character")]
    NoTokens {
        /// The query.
        query: String,
    },
}

/// Why a card in an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The card does not check (signature, limits, time).
    #[error("{0}")]
    Card(#[from] CardError),
    /// The card's group is not indexed under any token of the search.
    #[error("a card that does not match the search")]
    NoMatch,
}

/// What the caller is to do.
#[derive(Debug)]
pub enum Action<P> {
    /// Look up the providers of `key` in the DHT; report them with [`Search::providers`]
    /// and the end of the lookup with [`Search::lookup_done`].
    LookupProviders {
        /// The token.
        token: String,
        /// Its provider key ([`keywords::provider_key`]).
        key: Vec<u8>,
    },
    /// Ask `peer` for its cards indexed under `tokens`; report with [`Search::cards`] or
    /// [`Search::no_answer`].
    Ask {
        /// The provider.
        peer: P,
        /// The search's tokens.
        tokens: Vec<String>,
    },
    /// `peer` answered a card that does not check or does not match: lower its standing.
    Penalise {
        /// The provider.
        peer: P,
        /// The last card it sent that was refused.
        refused: Refused,
    },
    /// Call [`Search::tick`] at `at` (the deadline).
    SetTimer {
        /// When.
        at: Instant,
    },
    /// The search has ended; nothing more comes from it.
    Done(Outcome),
}

/// A group found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The group.
    pub group: GroupId,
    /// How many of the search's tokens its card is indexed under.
    pub matched: usize,
    /// Its newest valid card.
    pub card: ProvenCard,
}

/// What a search found, and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The tokens searched for.
    pub tokens: Vec<String>,
    /// Ranked: tokens matched, then member count, then freshness, highest first.
    pub hits: Vec<Hit>,
    /// Distinct providers the DHT named.
    pub providers: usize,
    /// Providers asked for cards.
    pub peers_asked: usize,
    /// DHT requests of the lookups that ended (the caller adds those it stops).
    pub dht_requests: u32,
    /// Cards refused.
    pub cards_refused: usize,
    /// From start to end.
    pub elapsed: Duration,
    /// Whether the deadline ended it.
    pub timed_out: bool,
}

/// One running search (see the module docs).
#[derive(Debug)]
pub struct Search<P> {
    /// Ourselves, never asked.
    me: P,
    tokens: Vec<String>,
    started: Instant,
    deadline: Instant,
    lookups_left: usize,
    providers: HashSet<P>,
    asked: HashSet<P>,
    /// Asked and not answered yet.
    waiting: HashSet<P>,
    cards: HashMap<GroupId, ProvenCard>,
    refused: usize,
    dht_requests: u32,
    done: bool,
    actions: VecDeque<Action<P>>,
}

impl<P: Clone + Eq + Hash> Search<P> {
    /// Starts a search for `query` by `me`, ending at `now + timeout` at the latest. Its
    /// first actions are one provider lookup per token and the deadline's timer.
    pub fn new(now: Instant, me: P, query: &str, timeout: Duration) -> Result<Self, Error> {
        let tokens = keywords::query_tokens(query);
        if tokens.is_empty() {
            return Err(Error::NoTokens {
                query: query.to_owned(),
            });
        }
        let mut actions: VecDeque<Action<P>> = tokens
            .iter()
            .map(|t| Action::LookupProviders {
                token: t.clone(),
                key: keywords::provider_key(t),
            })
            .collect();
        let deadline = now + timeout;
        actions.push_back(Action::SetTimer { at: deadline });
        Ok(Self {
            me,
            lookups_left: tokens.len(),
            tokens,
            started: now,
            deadline,
            providers: HashSet::new(),
            asked: HashSet::new(),
            waiting: HashSet::new(),
            cards: HashMap::new(),
            refused: 0,
            dht_requests: 0,
            done: false,
            actions,
        })
    }

    /// The tokens searched for.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// When the search ends at the latest.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether it has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next thing to do, if any.
    pub fn poll_action(&mut self) -> Option<Action<P>> {
        self.actions.pop_front()
    }

    /// Our own cards that match (checked when we made them): taken as they are.
    pub fn add_local(&mut self, cards: impl IntoIterator<Item = impl Into<ProvenCard>>) {
        for c in cards {
            self.take(c.into());
        }
    }

    /// A lookup named these providers: each new one is asked, up to [`MAX_PEERS_ASKED`].
    pub fn providers(&mut self, peers: impl IntoIterator<Item = P>) {
        if self.done {
            return;
        }
        for p in peers {
            self.providers.insert(p.clone());
            if p == self.me || self.asked.len() >= MAX_PEERS_ASKED || !self.asked.insert(p.clone())
            {
                continue;
            }
            self.waiting.insert(p.clone());
            self.actions.push_back(Action::Ask {
                peer: p,
                tokens: self.tokens.clone(),
            });
        }
    }

    /// A lookup ended after `requests` DHT requests.
    pub fn lookup_done(&mut self, now: Instant, requests: u32) {
        if self.done {
            return;
        }
        self.lookups_left = self.lookups_left.saturating_sub(1);
        self.dht_requests += requests;
        self.finish_if_answered(now);
    }

    /// `peer` answered with `cards`. Each is checked and must match; a bad one is counted,
    /// and the peer penalised once for the answer (naming the last bad card).
    pub fn cards(
        &mut self,
        now: Instant,
        now_ms: u64,
        peer: &P,
        cards: impl IntoIterator<Item = impl Into<ProvenCard>>,
    ) {
        if self.done || !self.waiting.remove(peer) {
            return;
        }
        let mut bad = None;
        for c in cards {
            let c: ProvenCard = c.into();
            match self.check(&c, now_ms) {
                Ok(()) => self.take(c),
                Err(e) => {
                    self.refused += 1;
                    bad = Some(e);
                }
            }
        }
        if let Some(refused) = bad {
            self.actions.push_back(Action::Penalise {
                peer: peer.clone(),
                refused,
            });
        }
        self.finish_if_answered(now);
    }

    /// `peer` will not answer (the request failed, or it answered something else).
    pub fn no_answer(&mut self, now: Instant, peer: &P) {
        if self.done || !self.waiting.remove(peer) {
            return;
        }
        self.finish_if_answered(now);
    }

    /// Ends the search if its deadline has come.
    pub fn tick(&mut self, now: Instant) {
        if !self.done && now >= self.deadline {
            self.finish(now, true);
        }
    }

    fn check(&self, c: &ProvenCard, now_ms: u64) -> Result<(), Refused> {
        c.check(now_ms)?;
        match matched(&self.tokens, c) {
            0 => Err(Refused::NoMatch),
            _ => Ok(()),
        }
    }

    /// Keeps the newest card of each group.
    fn take(&mut self, c: ProvenCard) {
        let Ok(g) = c.value.group() else {
            return;
        };
        match self.cards.get(&g) {
            Some(old) if !c.is_newer_than(old) => {}
            _ => {
                self.cards.insert(g, c);
            }
        }
    }

    fn finish_if_answered(&mut self, now: Instant) {
        if self.lookups_left == 0 && self.waiting.is_empty() {
            self.finish(now, false);
        }
    }

    fn finish(&mut self, now: Instant, timed_out: bool) {
        self.done = true;
        let mut hits: Vec<Hit> = std::mem::take(&mut self.cards)
            .into_iter()
            .map(|(group, card)| Hit {
                group,
                matched: matched(&self.tokens, &card),
                card,
            })
            .collect();
        hits.sort_by_key(|h| std::cmp::Reverse(rank(h)));
        let outcome = Outcome {
            tokens: self.tokens.clone(),
            hits,
            providers: self.providers.len(),
            peers_asked: self.asked.len(),
            dht_requests: self.dht_requests,
            cards_refused: self.refused,
            elapsed: now.saturating_duration_since(self.started),
            timed_out,
        };
        self.actions.push_back(Action::Done(outcome));
    }
}

/// How many of `tokens` a card's group is indexed under.
pub fn matched(tokens: &[String], c: &SignedCard) -> usize {
    let idx = keywords::index_tokens(c.value.name(), &c.value.meta.tags);
    keywords::matched(tokens, &idx)
}

fn rank(h: &Hit) -> (usize, u32, u64) {
    (h.matched, h.card.value.members, h.card.value.issued_ms)
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
