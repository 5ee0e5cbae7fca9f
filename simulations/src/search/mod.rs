//! The search benchmark: how long a search of the discovery DHT takes, how many Kademlia
//! requests it costs, and whether it finds the group it should.
//!
//! A scenario with a `[search]` table is a search run instead of a chat run:
//!
//! 1. Every node starts, knowing only node 0 (the `bootstrap` topology: the DHT is on and
//!    introduces the nodes to each other); the run waits until no connection has opened
//!    for a second.
//! 2. [`plan::Plan`] draws, from the seed, `groups` public groups from a fixed catalogue
//!    of Chinese and English names and English tags, `members` distinct nodes for each
//!    (the first creates it, the others join with the invite code `create_group`
//!    returned), and the searches. Node 0, the hub everyone dialled, takes no part.
//! 3. Every owner calls `announce_discovery` (its card and keyword provider records go
//!    to the DHT), then, a second later, every other member (a member can serve the card
//!    to searchers once it has fetched it from the DHT); then the run waits
//!    `announce_wait_s` for the records to settle. `announce_rounds` > 1 repeats this,
//!    as the nodes' own periodic round would (they do not republish during a run).
//! 4. The searches: each from a random node in no group, for a query that names exactly
//!    one of the run's groups (two characters of a Chinese name, an English tag, or the
//!    first letters of a Latin word of a name). `concurrency` workers each run their share
//!    one after another, `gap_ms` apart; a search that does not answer within its
//!    timeout plus [`ANSWER_MARGIN`] counts as not found.
//!
//! [`figures::Figures`] summarises the samples: latency from the `search` call to its
//! answer (p50/p90/p99/max), the node's own count of Kademlia requests sent by the
//! provider lookups, the providers named and asked, and the share of searches whose hits
//! hold the expected group.

pub mod figures;
pub mod phase;
pub mod plan;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scenario::{Error, Scenario, TopologyKind};

pub use figures::Figures;
pub use phase::run;
pub use plan::Plan;

/// How long past its own timeout a search may take to answer before the run gives up on
/// it (the node answers at its timeout with what it found; this only guards a hang).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// Most searches a run may ask for.
pub const MAX_SEARCHES: usize = 100_000;

/// Most searches running at once.
pub const MAX_CONCURRENCY: usize = 64;

/// The `[search]` table of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Spec {
    /// Public groups to create (at most [`plan::CATALOGUE`]'s length).
    pub groups: usize,
    /// Members of each group, its owner included; every member is in one group only.
    pub members: usize,
    /// Searches to run.
    pub searches: usize,
    /// How many nodes in no group may search (0: all of them).
    pub searchers: usize,
    /// Searches running at once (1: one at a time).
    pub concurrency: usize,
    /// Pause between two searches of one worker, in ms.
    pub gap_ms: u64,
    /// Each node's search timeout (`Config::search_timeout`), in s.
    pub timeout_s: f64,
    /// Wait after each announcement round, in s.
    pub announce_wait_s: f64,
    /// Announcement rounds before the searches.
    pub announce_rounds: usize,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            groups: 5,
            members: 3,
            searches: 50,
            searchers: 0,
            concurrency: 1,
            gap_ms: 100,
            timeout_s: 10.0,
            announce_wait_s: 5.0,
            announce_rounds: 1,
        }
    }
}

impl Spec {
    /// The node's search timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s)
    }

    /// Checks the table against the rest of `scenario`.
    pub fn validate(&self, scenario: &Scenario) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        if scenario.topology.kind != TopologyKind::Bootstrap {
            return bad("a search run needs topology kind = \"bootstrap\" (the DHT is on)".into());
        }
        if !scenario.events.is_empty() || scenario.churn.is_some() {
            return bad("a search run has no events or churn".into());
        }
        if self.groups == 0 || self.groups > plan::CATALOGUE.len() {
            return bad(format!(
                "search.groups must be 1..={}",
                plan::CATALOGUE.len()
            ));
        }
        if self.members == 0 || self.groups * self.members + 2 > scenario.nodes {
            return bad(format!(
                "search.groups × search.members must leave node 0 and at least one searcher \
                 out of {} nodes",
                scenario.nodes
            ));
        }
        if self.searches == 0 || self.searches > MAX_SEARCHES {
            return bad(format!("search.searches must be 1..={MAX_SEARCHES}"));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return bad(format!("search.concurrency must be 1..={MAX_CONCURRENCY}"));
        }
        if !(0.1..=600.0).contains(&self.timeout_s) {
            return bad("search.timeout_s must be 0.1..=600".into());
        }
        if !(0.0..=3600.0).contains(&self.announce_wait_s)
            || !(1..=10).contains(&self.announce_rounds)
        {
            return bad("search.announce_wait_s must be 0..=3600, announce_rounds 1..=10".into());
        }
        Ok(())
    }
}
