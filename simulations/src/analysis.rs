//! From what the runner observed to the figures of a report.
//!
//! * **Delivery ratio**: for every sent message and every node that is a member and running
//!   at the end (except the sender), is the message in that node's store? Stores are the
//!   truth; events are only used for timing.
//! * **Latency** (`latency_ms`): publish (the sender's `send` call) to the receiving node's
//!   `Message` event, for *gossip* deliveries only: the receiver was a running member on
//!   the sender's side of any partition when the message was sent, and was not stopped or
//!   partitioned before it arrived. Every other delivery is a *catch-up* delivery (brought by
//!   sync after a heal, a restart or a late join), summarised apart.
//! * **Convergence**: for each heal, restart or late join at time `h`, the time from `h`
//!   until every affected node holds every message sent before `h` (`None`: never).
//! * **Amplification**: bytes written on all links during the run ÷ (payload bytes ×
//!   deliveries). Duplicates: gossip copies received ÷ unique gossip messages − 1.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use qun_node::NetStats;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::measure::{Percentiles, cdf};
use crate::report::{Check, Convergence, Report};
use crate::scenario::Scenario;

/// Points kept for each chart.
const CHART_POINTS: usize = 200;

/// A message the runner sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Message id.
    pub id: String,
    /// Sending node.
    pub sender: usize,
    /// Number in the schedule.
    pub seq: usize,
    /// When `send` was called.
    pub at: Instant,
    /// Which nodes could get it by gossip at that moment.
    pub live: Vec<bool>,
}

/// Something that interrupts delivery: a stop or partition (no convergence measured) or a
/// heal, restart or late join (convergence measured from it).
#[derive(Debug, Clone)]
pub struct Disruption {
    /// What happened.
    pub label: &'static str,
    /// When.
    pub at: Instant,
    /// The nodes concerned (`None`: all).
    pub nodes: Option<Vec<usize>>,
    /// Whether convergence is measured from it.
    pub converges: bool,
}

impl Disruption {
    /// An event that concerns every node and after which the network must converge.
    pub fn all(label: &'static str, at: Instant) -> Self {
        Self {
            label,
            at,
            nodes: None,
            converges: true,
        }
    }

    /// An event that concerns `nodes` and after which they must catch up.
    pub fn nodes(label: &'static str, at: Instant, nodes: &[usize]) -> Self {
        Self {
            label,
            at,
            nodes: Some(nodes.to_vec()),
            converges: true,
        }
    }

    /// An event that interrupts delivery (stop, partition).
    pub fn interrupts(label: &'static str, at: Instant, nodes: Option<&[usize]>) -> Self {
        Self {
            label,
            at,
            nodes: nodes.map(<[usize]>::to_vec),
            converges: false,
        }
    }

    fn concerns(&self, node: usize) -> bool {
        self.nodes.as_ref().is_none_or(|n| n.contains(&node))
    }
}

/// Gossip counters summed over nodes for the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GossipCounts {
    /// Copies received, duplicates included.
    pub received: u64,
    /// Unique messages received.
    pub unique: u64,
}

/// Sums the growth of each node's counters (a restarted node starts again from 0).
pub fn gossip_counts(before: &[Option<NetStats>], after: &[Option<NetStats>]) -> GossipCounts {
    let mut c = GossipCounts::default();
    for (i, a) in after.iter().enumerate() {
        let Some(a) = a else { continue };
        let b = before.get(i).cloned().flatten().unwrap_or_default();
        let (r0, u0) = if a.gossip_received >= b.gossip_received {
            (b.gossip_received, b.gossip_unique)
        } else {
            (0, 0)
        };
        c.received += a.gossip_received - r0;
        c.unique += a.gossip_unique.saturating_sub(u0);
    }
    c
}

/// Everything the runner saw.
#[derive(Debug)]
pub struct Observed {
    /// Start of the schedule.
    pub start: Instant,
    /// Nodes in the network.
    pub nodes: usize,
    /// Text size of each message.
    pub payload_bytes: usize,
    /// Messages sent.
    pub sent: Vec<Sent>,
    /// First delivery of each message at each node.
    pub deliveries: HashMap<String, HashMap<usize, Instant>>,
    /// Message ids in each running member's store at the end.
    pub stores: HashMap<usize, Vec<String>>,
    /// Heals, restarts, late joins, stops, partitions.
    pub disruptions: Vec<Disruption>,
    /// Bytes written on all links during the run.
    pub wire_bytes: u64,
    /// Connections opened during the run.
    pub connections: u64,
    /// Gossip counters.
    pub gossip: GossipCounts,
    /// Nodes running at the end.
    pub running: usize,
    /// Process RSS at the end.
    pub rss_bytes: u64,
    /// CPU time of the run.
    pub cpu_seconds: f64,
    /// Wall time of the run.
    pub wall: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Observed {
    /// Whether a delivery of `s` at `node` at `t` was by gossip (see the module docs).
    fn is_gossip(&self, s: &Sent, node: usize, t: Instant) -> bool {
        s.live.get(node).copied().unwrap_or(false)
            && !self
                .disruptions
                .iter()
                .any(|d| d.at > s.at && d.at < t && d.concerns(node))
    }

    /// Each store's ids as a set, built once: the figures look up every (message, node)
    /// pair, which is 200,000 lookups at 1,000 nodes.
    fn held(&self) -> HashMap<usize, HashSet<&str>> {
        self.stores
            .iter()
            .map(|(n, ids)| (*n, ids.iter().map(String::as_str).collect()))
            .collect()
    }

    /// Convergence after each heal, restart or late join.
    fn convergence(&self, held: &HashMap<usize, HashSet<&str>>) -> Vec<Convergence> {
        let mut out = Vec::new();
        for d in self.disruptions.iter().filter(|d| d.converges) {
            let mut worst = Duration::ZERO;
            let mut complete = true;
            for s in self.sent.iter().filter(|s| s.at < d.at) {
                for (&node, ids) in held {
                    if node == s.sender || !d.concerns(node) {
                        continue;
                    }
                    let at = self.deliveries.get(&s.id).and_then(|m| m.get(&node));
                    match at {
                        Some(t) if ids.contains(s.id.as_str()) => {
                            worst = worst.max(t.saturating_duration_since(d.at));
                        }
                        _ => complete = false,
                    }
                }
            }
            out.push(Convergence {
                event: d.label.to_owned(),
                at_s: d.at.duration_since(self.start).as_secs_f64(),
                converge_s: complete.then_some(worst.as_secs_f64()),
            });
        }
        out
    }

    /// Whether every running member's store holds the same messages in the same order.
    fn histories_identical(&self) -> bool {
        let mut stores = self.stores.values();
        let Some(first) = stores.next() else {
            return true;
        };
        stores.all(|s| s == first)
    }

    /// The report, with `baseline_rss` the process RSS before any node started.
    pub fn report(&self, scenario: &Scenario, baseline_rss: u64) -> Report {
        let held = self.held();
        let mut expected = 0usize;
        let mut delivered = 0usize;
        let mut gossip_ms = Vec::new();
        let mut catch_up_ms = Vec::new();
        let mut delivery_times = Vec::new();
        for s in &self.sent {
            let times = self.deliveries.get(&s.id);
            for (&node, ids) in &held {
                if node == s.sender {
                    continue;
                }
                expected += 1;
                if !ids.contains(s.id.as_str()) {
                    continue;
                }
                delivered += 1;
                if let Some(&t) = times.and_then(|m| m.get(&node)) {
                    let lat = ms(t.saturating_duration_since(s.at));
                    delivery_times.push(t.saturating_duration_since(self.start).as_secs_f64());
                    if self.is_gossip(s, node, t) {
                        gossip_ms.push(lat);
                    } else {
                        catch_up_ms.push(lat);
                    }
                }
            }
        }
        let delivery_ratio = if expected == 0 {
            1.0
        } else {
            delivered as f64 / expected as f64
        };
        let latency = Percentiles::of(&mut gossip_ms);
        let catch_up = Percentiles::of(&mut catch_up_ms);
        delivery_times.sort_by(f64::total_cmp);
        let over_time = cdf(&delivery_times, CHART_POINTS)
            .into_iter()
            .map(|(t, f)| (t, f * delivered as f64 / expected.max(1) as f64))
            .collect();
        let payload = (delivered * self.payload_bytes).max(1) as f64;
        let convergence = self.convergence(&held);
        let mut report = Report {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            nodes: self.nodes,
            running_at_end: self.running,
            messages_sent: self.sent.len(),
            payload_bytes: self.payload_bytes,
            expected_deliveries: expected,
            delivered,
            delivery_ratio,
            latency_ms: latency,
            catch_up_latency_ms: catch_up,
            wire_bytes: self.wire_bytes,
            connections_opened: self.connections,
            amplification: self.wire_bytes as f64 / payload,
            bytes_per_delivery: self.wire_bytes as f64 / delivered.max(1) as f64,
            duplicates_per_message: if self.gossip.unique == 0 {
                0.0
            } else {
                self.gossip.received as f64 / self.gossip.unique as f64 - 1.0
            },
            max_converge_s: convergence
                .iter()
                .map(|c| c.converge_s.unwrap_or(f64::INFINITY))
                .reduce(f64::max),
            convergence,
            mem_per_node_bytes: self.rss_bytes.saturating_sub(baseline_rss)
                / self.nodes.max(1) as u64,
            rss_bytes: self.rss_bytes,
            peak_rss_bytes: crate::measure::peak_rss_bytes(),
            cpu_seconds: self.cpu_seconds,
            wall_seconds: self.wall.as_secs_f64(),
            cpu_utilisation: self.cpu_seconds / self.wall.as_secs_f64().max(1e-9),
            latency_cdf: cdf(&gossip_ms, CHART_POINTS),
            delivery_over_time: over_time,
            histories_identical: false,
            checks: Vec::new(),
            passed: true,
            search: None,
        };
        report.histories_identical = self.histories_identical();
        report.checks = checks(scenario, &report);
        report.passed = report.checks.iter().all(|c| c.ok);
        report
    }
}

/// The scenario's `expect` bounds against the report.
fn checks(scenario: &Scenario, r: &Report) -> Vec<Check> {
    let e = &scenario.expect;
    let mut out = vec![Check::at_least(
        "delivery ratio",
        r.delivery_ratio,
        e.min_delivery,
    )];
    if e.identical_histories {
        let v = if r.histories_identical { 1.0 } else { 0.0 };
        out.push(Check::at_least("identical histories (1 = yes)", v, 1.0));
    }
    if let Some(b) = e.max_p99_ms {
        out.push(Check::at_most("p99 latency (ms)", r.latency_ms.p99, b));
    }
    if let Some(b) = e.max_amplification {
        out.push(Check::at_most("amplification (×)", r.amplification, b));
    }
    if let Some(b) = e.max_converge_s {
        out.push(Check::at_most(
            "convergence (s)",
            r.max_converge_s.unwrap_or(0.0),
            b,
        ));
    }
    out
}
