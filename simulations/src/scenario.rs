//! Scenarios: what a simulation runs, read from TOML, and the seeded schedule made from it.
//!
//! A scenario names the network (node count, link conditions, topology), the traffic
//! (how many messages of what size at what total rate), and timed events (partition, heal,
//! stop, start, late join, churn). [`Scenario::schedule`] turns it into a list of timed
//! actions with a `ChaCha8` generator seeded from `seed`: the same file and seed give the
//! same schedule (who sends when, who churns when), byte for byte.

use std::path::Path;
use std::time::Duration;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Why a scenario was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// A value is out of range.
    #[error("invalid scenario: {0}")]
    Invalid(String),
}

/// Largest network a scenario may ask for.
pub const MAX_NODES: usize = 5000;

/// A scenario file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Seed for every random choice.
    #[serde(default = "one")]
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Link conditions and transport.
    #[serde(default)]
    pub network: NetworkSpec,
    /// Who dials whom.
    #[serde(default)]
    pub topology: Topology,
    /// The chat traffic.
    #[serde(default)]
    pub traffic: Traffic,
    /// Node settings.
    #[serde(default)]
    pub node: NodeSpec,
    /// Timed events.
    #[serde(default)]
    pub events: Vec<Event>,
    /// Random stop/restart of nodes.
    #[serde(default)]
    pub churn: Option<Churn>,
    /// Seconds to wait after the last message for deliveries and convergence.
    #[serde(default = "default_settle")]
    pub settle_s: f64,
    /// Bounds the test suite asserts (and the report checks).
    #[serde(default)]
    pub expect: Expect,
    /// Makes this a search run ([`crate::search`]): no chat, `[traffic]` is not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::search::Spec>,
}

fn one() -> u64 {
    1
}
fn default_settle() -> f64 {
    5.0
}

/// Transport and link conditions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSpec {
    /// `memory` (simulated links) or `tcp` (loopback TCP; no injected conditions).
    pub transport: TransportKind,
    /// `plaintext` (cheap, for large runs) or `noise` (what the daemon uses).
    pub security: Security,
    /// One-way latency in ms.
    pub latency_ms: f64,
    /// Uniform jitter in ms (± this much).
    pub jitter_ms: f64,
    /// Probability that a segment is retransmitted.
    pub loss: f64,
    /// Link rate in kbit/s (0: unlimited).
    pub bandwidth_kbit: u64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            transport: TransportKind::Memory,
            security: Security::Plaintext,
            latency_ms: 0.0,
            jitter_ms: 0.0,
            loss: 0.0,
            bandwidth_kbit: 0,
        }
    }
}

/// The transport under the nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// The simulated network.
    Memory,
    /// Loopback TCP.
    Tcp,
}

/// The connection security.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// libp2p plaintext (identities exchanged, no encryption).
    Plaintext,
    /// Noise XX, as the daemon.
    Noise,
}

/// Who dials whom at start (and re-dials after a partition).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    /// `random-regular`, `bootstrap` or `clusters`.
    pub kind: TopologyKind,
    /// Links per node (random-regular, and inside each cluster).
    pub degree: usize,
    /// Number of clusters (clusters).
    pub clusters: usize,
    /// Links between neighbouring clusters (clusters).
    pub bridges: usize,
}

impl Default for Topology {
    fn default() -> Self {
        Self {
            kind: TopologyKind::RandomRegular,
            degree: 6,
            clusters: 2,
            bridges: 2,
        }
    }
}

/// Topology kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TopologyKind {
    /// Every node has `degree` random neighbours.
    RandomRegular,
    /// Every node knows node 0 only and finds the rest through the DHT.
    Bootstrap,
    /// `clusters` random-regular clusters of consecutive nodes, joined in a ring by
    /// `bridges` links between neighbouring clusters.
    Clusters,
}

/// The chat traffic.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Traffic {
    /// Messages in total.
    pub messages: usize,
    /// Messages per second, all senders together.
    pub rate: f64,
    /// Text size in bytes.
    pub size: usize,
    /// How many distinct senders (0: any member).
    pub senders: usize,
    /// Seconds after the start of the run.
    pub start_s: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            messages: 100,
            rate: 10.0,
            size: 1024,
            senders: 0,
            start_s: 0.5,
        }
    }
}

/// Node settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSpec {
    /// gossipsub heartbeat in ms.
    pub heartbeat_ms: u64,
    /// sled cache per node in bytes.
    pub cache_bytes: u64,
    /// Seconds allowed for the nodes to connect and everyone's join to arrive everywhere.
    pub warmup_timeout_s: f64,
    /// Mean time between anti-entropy syncs of the group, per node, in ms.
    pub sync_interval_ms: u64,
}

impl Default for NodeSpec {
    fn default() -> Self {
        Self {
            heartbeat_ms: 700,
            cache_bytes: 1024 * 1024,
            warmup_timeout_s: 60.0,
            sync_interval_ms: 2000,
        }
    }
}

/// A timed event. (Unknown fields are refused by [`Action`]; serde cannot deny them on a
/// struct with a flattened field.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Seconds after the start of the run.
    pub at_s: f64,
    /// What happens.
    #[serde(flatten)]
    pub action: Action,
}

/// What an event does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Action {
    /// Split the nodes into `sides` groups of consecutive indices.
    Partition {
        /// Number of sides.
        #[serde(default = "two")]
        sides: u32,
    },
    /// End the partition.
    Heal,
    /// Stop nodes (their stores are kept).
    Stop {
        /// Node indices.
        nodes: Vec<usize>,
    },
    /// Restart stopped nodes.
    Start {
        /// Node indices.
        nodes: Vec<usize>,
    },
    /// Nodes that were running but not in the group join it (late joiners).
    Join {
        /// Node indices.
        nodes: Vec<usize>,
    },
}

fn two() -> u32 {
    2
}

/// Random churn: every `period_s`, `count` random running nodes stop for `down_s`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Churn {
    /// Seconds between waves.
    pub period_s: f64,
    /// Nodes stopped per wave.
    pub count: usize,
    /// Seconds a stopped node stays down.
    pub down_s: f64,
    /// First wave.
    #[serde(default)]
    pub from_s: f64,
    /// No wave starts after this.
    pub until_s: f64,
}

/// Figures a run must reach; checked by the tests and flagged in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Expect {
    /// Lowest delivery ratio.
    pub min_delivery: f64,
    /// Highest p99 latency in ms (gossip deliveries only).
    pub max_p99_ms: Option<f64>,
    /// Highest wire bytes per payload byte delivered.
    pub max_amplification: Option<f64>,
    /// Longest time from a heal or restart until every node has every message, in s.
    pub max_converge_s: Option<f64>,
    /// Every running member must end with the same messages in the same order.
    pub identical_histories: bool,
    /// Search runs: lowest share of searches that find their group.
    pub min_search_success: Option<f64>,
    /// Search runs: highest p99 search latency in ms.
    pub max_search_p99_ms: Option<f64>,
    /// Search runs: highest p99 of Kademlia requests per search.
    pub max_search_dht_requests: Option<f64>,
}

impl Default for Expect {
    fn default() -> Self {
        Self {
            min_delivery: 1.0,
            max_p99_ms: None,
            max_amplification: None,
            max_converge_s: None,
            identical_histories: true,
            min_search_success: None,
            max_search_p99_ms: None,
            max_search_dht_requests: None,
        }
    }
}

/// One timed action of a schedule.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `sender` sends message number `seq`.
    Send {
        /// Sender index.
        sender: usize,
        /// Message number.
        seq: usize,
    },
    /// A scenario event.
    Event(Action),
}

/// The schedule: steps at offsets from the start, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    /// `(offset, step)`, sorted by offset.
    pub steps: Vec<(Duration, Step)>,
    /// Nodes that are not in the group at the start.
    pub late_joiners: Vec<usize>,
    /// When the last step happens.
    pub end: Duration,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates scenario text (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Self, Error> {
        let s: Self = toml::from_str(text).map_err(|e| Error::Parse {
            path: origin.to_owned(),
            source: Box::new(e),
        })?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every value once.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.nodes < 2 || self.nodes > MAX_NODES {
            return bad(format!("nodes must be 2..={MAX_NODES}, not {}", self.nodes));
        }
        let n = &self.network;
        if !(0.0..=10_000.0).contains(&n.latency_ms) || !(0.0..=10_000.0).contains(&n.jitter_ms) {
            return bad("latency_ms and jitter_ms must be 0..=10000".into());
        }
        if !(0.0..=0.5).contains(&n.loss) {
            return bad("loss must be 0..=0.5".into());
        }
        let t = &self.topology;
        if t.kind != TopologyKind::Bootstrap && (t.degree < 1 || t.degree >= self.nodes) {
            return bad(format!("degree must be 1..{}", self.nodes));
        }
        if t.kind == TopologyKind::Clusters
            && (t.clusters < 2 || self.nodes / t.clusters <= t.degree)
        {
            return bad("clusters must be ≥ 2, each larger than the degree".into());
        }
        let tr = &self.traffic;
        if tr.rate.is_nan() || tr.rate <= 0.0 || tr.rate > 100_000.0 {
            return bad("traffic.rate must be in (0, 100000]".into());
        }
        if tr.size == 0 || tr.size > qun_protocol::limits::MAX_TEXT_BYTES {
            return bad(format!(
                "traffic.size must be 1..={}",
                qun_protocol::limits::MAX_TEXT_BYTES
            ));
        }
        if self.settle_s.is_nan() || self.settle_s < 0.0 || tr.start_s.is_nan() || tr.start_s < 0.0
        {
            return bad("times must not be negative".into());
        }
        if self.node.heartbeat_ms < 10
            || self.node.cache_bytes < 1024 * 1024
            || self.node.sync_interval_ms < 100
        {
            return bad("heartbeat_ms ≥ 10, sync_interval_ms ≥ 100, cache_bytes ≥ 1 MiB".into());
        }
        for e in &self.events {
            if e.at_s.is_nan() || e.at_s < 0.0 {
                return bad("event times must not be negative".into());
            }
            match &e.action {
                Action::Stop { nodes } | Action::Start { nodes } | Action::Join { nodes } => {
                    if let Some(i) = nodes.iter().find(|i| **i >= self.nodes) {
                        return bad(format!("node {i} does not exist"));
                    }
                    if nodes.contains(&0) {
                        return bad("node 0 creates the group and stays up".into());
                    }
                }
                Action::Partition { sides } if *sides < 2 => {
                    return bad("a partition needs at least 2 sides".into());
                }
                _ => {}
            }
        }
        if let Some(c) = &self.churn {
            if c.period_s.is_nan()
                || c.period_s <= 0.0
                || c.down_s.is_nan()
                || c.down_s <= 0.0
                || c.until_s < c.from_s
            {
                return bad("churn needs period_s > 0, down_s > 0, until_s ≥ from_s".into());
            }
            if c.count == 0 || c.count >= self.nodes {
                return bad("churn.count must be 1..nodes".into());
            }
        }
        if let Some(search) = &self.search {
            search.validate(self)?;
        }
        Ok(())
    }

    /// The seeded schedule.
    pub fn schedule(&self) -> Schedule {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut steps: Vec<(Duration, Step)> = Vec::new();
        let secs = Duration::from_secs_f64;
        for e in &self.events {
            steps.push((secs(e.at_s), Step::Event(e.action.clone())));
        }
        if let Some(c) = &self.churn {
            let mut t = c.from_s;
            while t <= c.until_s {
                let mut pool: Vec<usize> = (1..self.nodes).collect();
                pool.shuffle(&mut rng);
                pool.truncate(c.count);
                pool.sort_unstable();
                steps.push((
                    secs(t),
                    Step::Event(Action::Stop {
                        nodes: pool.clone(),
                    }),
                ));
                steps.push((
                    secs(t + c.down_s),
                    Step::Event(Action::Start { nodes: pool }),
                ));
                t += c.period_s;
            }
        }
        let late_joiners: Vec<usize> = self
            .events
            .iter()
            .flat_map(|e| match &e.action {
                Action::Join { nodes } => nodes.clone(),
                _ => Vec::new(),
            })
            .collect();
        // Senders: members from the start (late joiners and churned nodes may be away).
        let mut candidates: Vec<usize> = (0..self.nodes)
            .filter(|i| !late_joiners.contains(i))
            .collect();
        if self.traffic.senders > 0 {
            candidates.shuffle(&mut rng);
            candidates.truncate(self.traffic.senders);
            candidates.sort_unstable();
        }
        let gap = 1.0 / self.traffic.rate;
        for seq in 0..self.traffic.messages {
            let at = secs(self.traffic.start_s + seq as f64 * gap);
            let sender = candidates[rng.random_range(0..candidates.len())];
            steps.push((at, Step::Send { sender, seq }));
        }
        steps.sort_by_key(|(t, _)| *t);
        let end = steps.last().map(|(t, _)| *t).unwrap_or_default();
        Schedule {
            steps,
            late_joiners,
            end,
        }
    }
}
