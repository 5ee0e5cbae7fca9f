//! Discovery: the DHT, joins by group id and by invite, short invite codes, profiles,
//! names and stats. Each concern is a room with its own state and its own file; the
//! [`Discovery`] struct holds one field per room.
//!
//! Sibling rooms import only leaf types of one another (the DHT's query kinds, a join's
//! entry), never in a circle: `dht` imports no other room; `names` and `short_invite`
//! import `dht`; `admission` imports `joining`.
//!
//! Search (`super::search`) and the discovery request-response traffic still keep their
//! state in the flat fields below (`kad_queries`, `searches`, `next_search`, `requests`,
//! `found_cards`, `join_sent`) until search becomes a state machine of its own.

pub(crate) mod admission;
pub(crate) mod authority;
pub(crate) mod card;
pub(crate) mod dht;
pub(crate) mod handover;
pub(crate) mod joining;
pub(crate) mod names;
pub(crate) mod profiles;
pub(crate) mod short_invite;

use std::collections::HashMap;
use std::time::Instant;

use qun_protocol::GroupId;
use qun_protocol::discovery::card::ProvenCard;

use super::bounded::BoundedMap;
use super::{EventLoop, Timer};
use crate::DiscoveryCmd;
use crate::net::{QueryId, RequestId};

/// Valid cards seen lately (searches, lookups) kept for joining by group id, at most;
/// the oldest is forgotten first (a join by id then looks the card up in the DHT again).
pub const MAX_FOUND_CARDS: usize = 1024;

/// Discovery state of the event loop.
pub(crate) struct Discovery {
    /// Kademlia queries we started, by id.
    pub kad_queries: HashMap<QueryId, dht::KadQuery>,
    /// The DHT: bans, provided keywords, announcement rounds, retries.
    pub dht: dht::Dht,
    /// Valid cards seen lately (searches, lookups), for joining by group id (at most
    /// [`MAX_FOUND_CARDS`]).
    pub found_cards: BoundedMap<GroupId, ProvenCard>,
    /// Searches running.
    pub searches: HashMap<u64, super::search::Search>,
    /// The id of the next search.
    pub next_search: u64,
    /// Discovery requests we sent, by id.
    pub requests: HashMap<RequestId, super::search::Sent>,
    /// When each pending join request was last sent.
    pub join_sent: HashMap<GroupId, Instant>,
    /// Joins by group id and join requests.
    pub joins: joining::Joins,
    /// Joins by invite (admissions), ours and others'.
    pub admits: admission::Admissions,
    /// Short invite codes.
    pub short: short_invite::ShortInvites,
    /// Profiles and stats.
    pub profiles: profiles::Profiles,
    /// Authors' names.
    pub names: names::Names,
}

impl Default for Discovery {
    fn default() -> Self {
        Self {
            kad_queries: HashMap::new(),
            dht: dht::Dht::default(),
            found_cards: BoundedMap::new(MAX_FOUND_CARDS),
            searches: HashMap::new(),
            next_search: 0,
            requests: HashMap::new(),
            join_sent: HashMap::new(),
            joins: joining::Joins::default(),
            admits: admission::Admissions::default(),
            short: short_invite::ShortInvites::default(),
            profiles: profiles::Profiles::default(),
            names: names::Names::default(),
        }
    }
}

impl EventLoop {
    /// A discovery command, handed whole to this room.
    pub(crate) fn handle_discovery_cmd(&mut self, cmd: DiscoveryCmd) {
        match cmd {
            DiscoveryCmd::Search { query, reply } => {
                self.start_search(query, reply);
                let at = std::time::Instant::now() + self.config.search_timeout;
                self.timers.at(at, Timer::Searches);
            }
            DiscoveryCmd::JoinById {
                group,
                note,
                history,
                reply,
            } => self.handle_join_by_id(group, note, history, reply),
            DiscoveryCmd::JoinRequests { group, reply } => {
                drop(reply.send(self.join_requests(&group)))
            }
            DiscoveryCmd::DecideJoin {
                group,
                requester,
                approve,
                reply,
            } => drop(reply.send(self.decide_join(group, requester, approve))),
            DiscoveryCmd::SetProfile { update, reply } => {
                drop(reply.send(self.set_profile(update)))
            }
            DiscoveryCmd::Profile { author, reply } => self.show_profile(author, reply),
            DiscoveryCmd::Stats { group, reply } => self.start_stats(group, reply),
            DiscoveryCmd::Announce(reply) => {
                self.announce_all();
                drop(reply.send(Ok(())))
            }
            DiscoveryCmd::WantNames(authors) => {
                for a in authors {
                    self.want_name(a);
                }
            }
        }
    }
}
