//! The figures of a search run: one [`Sample`] per search, and [`Figures`], what the
//! report shows of them (latency percentiles, DHT requests per search, success ratio,
//! overall and by kind of query).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::plan::QueryKind;
use crate::measure::{Percentiles, cdf};
use crate::report::Check;
use crate::scenario::Expect;

/// Points kept for each chart.
const CHART_POINTS: usize = 200;

/// One search, as measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The text searched.
    pub query: String,
    /// What it is made of.
    pub kind: QueryKind,
    /// The node that searched.
    pub searcher: usize,
    /// The group it had to find (its id).
    pub expected: String,
    /// Whether the hits held it.
    pub found: bool,
    /// Hits of other groups (0: each query names one group only).
    pub other_hits: usize,
    /// Wall time from the `search` call to its answer, in ms.
    pub latency_ms: f64,
    /// The node's own `elapsed_ms` (without the command queue).
    pub elapsed_ms: u64,
    /// Kademlia requests sent by the provider lookups.
    pub dht_requests: u32,
    /// Distinct providers the DHT named.
    pub providers: usize,
    /// Providers asked for their cards.
    pub peers_asked: usize,
    /// Why there was no answer (a node error, or none within the timeout).
    pub error: Option<String>,
}

/// Figures of the searches of one kind of query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByKind {
    /// The kind.
    pub kind: QueryKind,
    /// Searches.
    pub searches: usize,
    /// Searches that found their group.
    pub found: usize,
    /// Latency, ms.
    pub latency_ms: Percentiles,
    /// Mean Kademlia requests per search.
    pub dht_requests_mean: f64,
}

/// How long the run took to get ready for the searches, and the state it got to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// Seconds to start every node.
    pub start_s: f64,
    /// Seconds from then until no connection had opened for a second.
    pub quiet_s: f64,
    /// Seconds to create and join the groups.
    pub groups_s: f64,
    /// Seconds from the first announcement to the first search (every round and wait).
    pub announce_s: f64,
    /// Announcement rounds.
    pub announce_rounds: usize,
    /// CPU seconds from creating the groups to the first search.
    pub groups_and_announce_cpu_s: f64,
    /// Peers a node is connected to when the searches start, mean over the nodes.
    pub connected_mean: f64,
    /// The most peers one node is connected to then.
    pub connected_max: usize,
}

/// Every figure of a search run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Public groups created.
    pub groups: usize,
    /// Members per group, owner included.
    pub members_per_group: usize,
    /// Nodes that could search (in no group).
    pub searchers: usize,
    /// Searches running at once.
    pub concurrency: usize,
    /// Searches run.
    pub searches: usize,
    /// Searches whose hits held the expected group.
    pub found: usize,
    /// found ÷ searches.
    pub success_ratio: f64,
    /// Searches that got no answer (a node error or a hang).
    pub failed: usize,
    /// Hits of other groups, over all searches.
    pub other_hits: usize,
    /// Latency from the call to the answer, ms (every search, found or not).
    pub latency_ms: Percentiles,
    /// Kademlia requests per search (the field's `max` is the most any search sent).
    pub dht_requests: Percentiles,
    /// Mean Kademlia requests per search.
    pub dht_requests_mean: f64,
    /// Mean providers named per search.
    pub providers_mean: f64,
    /// Mean providers asked per search.
    pub peers_asked_mean: f64,
    /// Getting ready for the searches.
    pub setup: Setup,
    /// The same figures by kind of query.
    pub by_kind: Vec<ByKind>,
    /// Points (ms, fraction) of the latency CDF.
    pub latency_cdf: Vec<(f64, f64)>,
    /// Points (requests, fraction) of the CDF of DHT requests per search.
    pub dht_requests_cdf: Vec<(f64, f64)>,
    /// Every search.
    pub samples: Vec<Sample>,
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Latency percentiles, mean DHT requests and found count of some samples.
fn summary<'a>(samples: impl Iterator<Item = &'a Sample> + Clone) -> (Percentiles, f64, usize) {
    let mut lat: Vec<f64> = samples.clone().map(|s| s.latency_ms).collect();
    let dht = mean(samples.clone().map(|s| f64::from(s.dht_requests)));
    (
        Percentiles::of(&mut lat),
        dht,
        samples.filter(|s| s.found).count(),
    )
}

impl Figures {
    /// The figures of `samples` (`plan` fields as the run had them).
    pub fn new(plan: &super::Plan, spec: &super::Spec, setup: Setup, samples: Vec<Sample>) -> Self {
        let (latency, dht_mean, found) = summary(samples.iter());
        let mut lat: Vec<f64> = samples.iter().map(|s| s.latency_ms).collect();
        let mut dht: Vec<f64> = samples.iter().map(|s| f64::from(s.dht_requests)).collect();
        let dht_requests = Percentiles::of(&mut dht);
        lat.sort_by(f64::total_cmp);
        let by_kind = QueryKind::ALL
            .iter()
            .filter_map(|k| {
                let of = samples.iter().filter(|s| s.kind == *k);
                let n = of.clone().count();
                let (latency_ms, dht_requests_mean, found) = summary(of);
                (n > 0).then_some(ByKind {
                    kind: *k,
                    searches: n,
                    found,
                    latency_ms,
                    dht_requests_mean,
                })
            })
            .collect();
        Self {
            groups: plan.groups.len(),
            members_per_group: spec.members,
            searchers: plan.searchers.len(),
            concurrency: spec.concurrency,
            searches: samples.len(),
            found,
            success_ratio: found as f64 / samples.len().max(1) as f64,
            failed: samples.iter().filter(|s| s.error.is_some()).count(),
            other_hits: samples.iter().map(|s| s.other_hits).sum(),
            latency_ms: latency,
            dht_requests,
            dht_requests_mean: dht_mean,
            providers_mean: mean(samples.iter().map(|s| s.providers as f64)),
            peers_asked_mean: mean(samples.iter().map(|s| s.peers_asked as f64)),
            setup,
            by_kind,
            latency_cdf: cdf(&lat, CHART_POINTS),
            dht_requests_cdf: cdf(&dht, CHART_POINTS),
            samples,
        }
    }

    /// The scenario's search bounds against the figures.
    pub fn checks(&self, e: &Expect) -> Vec<Check> {
        let mut out = Vec::new();
        if let Some(b) = e.min_search_success {
            out.push(Check::at_least("search success", self.success_ratio, b));
        }
        if let Some(b) = e.max_search_p99_ms {
            out.push(Check::at_most(
                "p99 search latency (ms)",
                self.latency_ms.p99,
                b,
            ));
        }
        if let Some(b) = e.max_search_dht_requests {
            out.push(Check::at_most(
                "p99 DHT requests per search",
                self.dht_requests.p99,
                b,
            ));
        }
        out
    }

    /// The search rows of the report's figure table.
    pub fn markdown_rows(&self, s: &mut String) {
        let at_once = if self.concurrency == 1 {
            "one at a time".to_owned()
        } else {
            format!("{} at a time", self.concurrency)
        };
        let d = &self.dht_requests;
        let rows = [
            (
                "public groups × members",
                format!("{} × {}", self.groups, self.members_per_group),
            ),
            (
                "nodes that search (in no group)",
                self.searchers.to_string(),
            ),
            ("searches", format!("{} ({at_once})", self.searches)),
            (
                "found the expected group",
                format!(
                    "{:.4} ({} of {})",
                    self.success_ratio, self.found, self.searches
                ),
            ),
            ("no answer (error or hang)", self.failed.to_string()),
            ("hits of other groups", self.other_hits.to_string()),
            (
                "DHT requests per search: mean / p50 / p99 / max",
                format!(
                    "{:.1} / {:.0} / {:.0} / {:.0}",
                    self.dht_requests_mean, d.p50, d.p99, d.max
                ),
            ),
            (
                "providers named / asked per search (mean)",
                format!("{:.1} / {:.1}", self.providers_mean, self.peers_asked_mean),
            ),
            (
                "setup: start / quiet / groups / announcements and waits",
                format!(
                    "{:.1} / {:.1} / {:.1} / {:.1} s ({} round{})",
                    self.setup.start_s,
                    self.setup.quiet_s,
                    self.setup.groups_s,
                    self.setup.announce_s,
                    self.setup.announce_rounds,
                    if self.setup.announce_rounds == 1 {
                        ""
                    } else {
                        "s"
                    }
                ),
            ),
            (
                "CPU time for the groups and announcements",
                format!("{:.1} s", self.setup.groups_and_announce_cpu_s),
            ),
            (
                "peers connected per node at the first search: mean / max",
                format!(
                    "{:.1} / {}",
                    self.setup.connected_mean, self.setup.connected_max
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(s, "| {k} | {v} |");
        }
    }

    /// The latency table, overall and by kind of query.
    pub fn markdown_latency(&self, s: &mut String) {
        let _ = writeln!(s, "\n## Search latency, call to answer (ms)\n");
        let _ = writeln!(
            s,
            "| query | searches | found | p50 | p90 | p99 | max | DHT requests (mean) |\n\
             |---|---|---|---|---|---|---|---|"
        );
        let all = ("all", self.searches, self.found, &self.latency_ms);
        let rows =
            std::iter::once((all, self.dht_requests_mean)).chain(self.by_kind.iter().map(|k| {
                (
                    (k.kind.label(), k.searches, k.found, &k.latency_ms),
                    k.dht_requests_mean,
                )
            }));
        for ((name, n, found, l), dht) in rows {
            let _ = writeln!(
                s,
                "| {name} | {n} | {found} | {:.1} | {:.1} | {:.1} | {:.1} | {dht:.1} |",
                l.p50, l.p90, l.p99, l.max
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Plan, Spec};

    fn sample(kind: QueryKind, found: bool, latency_ms: f64, dht: u32) -> Sample {
        Sample {
            query: "q".into(),
            kind,
            searcher: 1,
            expected: "g".into(),
            found,
            other_hits: 0,
            latency_ms,
            elapsed_ms: latency_ms as u64,
            dht_requests: dht,
            providers: 3,
            peers_asked: 3,
            error: None,
        }
    }

    #[test]
    fn figures_sum_up_the_samples() {
        let spec = Spec::default();
        let plan = Plan::new(30, &spec, 1);
        let samples = vec![
            sample(QueryKind::Tag, true, 100.0, 10),
            sample(QueryKind::Tag, true, 300.0, 30),
            sample(QueryKind::Bigram, false, 200.0, 20),
        ];
        let f = Figures::new(&plan, &spec, Setup::default(), samples);
        assert_eq!((f.searches, f.found, f.failed), (3, 2, 0));
        assert!((f.success_ratio - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!((f.latency_ms.p50, f.latency_ms.max), (200.0, 300.0));
        assert_eq!((f.dht_requests_mean, f.dht_requests.max), (20.0, 30.0));
        assert_eq!(f.by_kind.len(), 2);
        assert_eq!(f.by_kind[0].kind, QueryKind::Bigram);
        assert_eq!(f.by_kind[1].found, 2);
        let mut md = String::new();
        f.markdown_latency(&mut md);
        assert!(md.contains("| all | 3 | 2 | 200.0 |"), "{md}");
    }
}
