//! The report of a run: `report.json` (every figure), `report.md` (tables) and
//! `report.svg` (latency CDF and delivery over time).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::measure::Percentiles;

/// One bound of a scenario's `expect`, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// `>=` or `<=`.
    pub op: String,
    /// The bound.
    pub bound: f64,
    /// The measured value.
    pub value: f64,
    /// Whether the bound holds.
    pub ok: bool,
}

impl Check {
    /// `value >= bound`.
    pub fn at_least(name: &str, value: f64, bound: f64) -> Self {
        Self {
            name: name.to_owned(),
            op: ">=".into(),
            bound,
            value,
            ok: value >= bound,
        }
    }

    /// `value <= bound`.
    pub fn at_most(name: &str, value: f64, bound: f64) -> Self {
        Self {
            name: name.to_owned(),
            op: "<=".into(),
            bound,
            value,
            ok: value <= bound,
        }
    }
}

/// Convergence after one heal, restart or late join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Convergence {
    /// `heal`, `restart` or `late join`.
    pub event: String,
    /// When, in seconds from the start.
    pub at_s: f64,
    /// Seconds until every affected node had every earlier message (`None`: never).
    pub converge_s: Option<f64>,
}

/// Every figure of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Seed.
    pub seed: u64,
    /// Nodes in the network.
    pub nodes: usize,
    /// Nodes running at the end.
    pub running_at_end: usize,
    /// Messages sent.
    pub messages_sent: usize,
    /// Text bytes per message.
    pub payload_bytes: usize,
    /// (message, receiver) pairs that should have been delivered.
    pub expected_deliveries: usize,
    /// Pairs found in the receivers' stores.
    pub delivered: usize,
    /// delivered ÷ expected.
    pub delivery_ratio: f64,
    /// Publish-to-delivery latency of gossip deliveries.
    pub latency_ms: Percentiles,
    /// Latency of deliveries brought by sync (after heal, restart, late join).
    pub catch_up_latency_ms: Percentiles,
    /// Bytes written on all links during the run.
    pub wire_bytes: u64,
    /// Connections opened during the run (re-dials after heals and restarts, DHT lookups).
    pub connections_opened: u64,
    /// Wire bytes ÷ (payload bytes × deliveries).
    pub amplification: f64,
    /// Wire bytes ÷ deliveries.
    pub bytes_per_delivery: f64,
    /// Extra gossip copies received per unique message.
    pub duplicates_per_message: f64,
    /// Convergence after each heal, restart or late join.
    pub convergence: Vec<Convergence>,
    /// The slowest convergence (∞ if one never converged; absent without such events).
    pub max_converge_s: Option<f64>,
    /// (RSS at the end − RSS before the nodes started) ÷ nodes.
    pub mem_per_node_bytes: u64,
    /// RSS at the end.
    pub rss_bytes: u64,
    /// Peak RSS of the process.
    pub peak_rss_bytes: u64,
    /// CPU seconds (user + system) during the run.
    pub cpu_seconds: f64,
    /// Wall seconds of the run.
    pub wall_seconds: f64,
    /// CPU seconds ÷ wall seconds (2.0 = both cores busy).
    pub cpu_utilisation: f64,
    /// Points (ms, fraction) of the gossip latency CDF.
    pub latency_cdf: Vec<(f64, f64)>,
    /// Points (s from start, fraction of expected deliveries done).
    pub delivery_over_time: Vec<(f64, f64)>,
    /// Whether every running member ended with the same messages in the same order.
    pub histories_identical: bool,
    /// The scenario's bounds, checked.
    pub checks: Vec<Check>,
    /// Whether every check holds.
    pub passed: bool,
    /// The figures of a search run (absent from a chat run's JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::search::Figures>,
}

impl Report {
    /// Writes `report.json`, `report.md` and `report.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(dir.join("report.json"), json + "\n")?;
        std::fs::write(dir.join("report.md"), self.markdown())?;
        self.svg(&dir.join("report.svg"))
    }

    /// The Markdown tables.
    pub fn markdown(&self) -> String {
        if let Some(f) = &self.search {
            return self.search_markdown(f);
        }
        let mut s = String::new();
        let l = &self.latency_ms;
        let c = &self.catch_up_latency_ms;
        let mb = |b: u64| b as f64 / 1e6;
        let _ = writeln!(
            s,
            "# qun-sim report: {} (seed {})\n",
            self.scenario, self.seed
        );
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let _ = writeln!(
            s,
            "| nodes (running at end) | {} ({}) |",
            self.nodes, self.running_at_end
        );
        let _ = writeln!(
            s,
            "| messages sent × payload | {} × {} B |",
            self.messages_sent, self.payload_bytes
        );
        let _ = writeln!(
            s,
            "| delivery ratio | {:.4} ({} of {}) |",
            self.delivery_ratio, self.delivered, self.expected_deliveries
        );
        let _ = writeln!(
            s,
            "| amplification (wire ÷ payload bytes) | {:.2}× |",
            self.amplification
        );
        let _ = writeln!(
            s,
            "| wire bytes per delivery | {:.0} B |",
            self.bytes_per_delivery
        );
        let same = if self.histories_identical {
            "yes"
        } else {
            "no"
        };
        let _ = writeln!(
            s,
            "| identical histories (same messages, same order) | {same} |"
        );
        let _ = writeln!(
            s,
            "| duplicate copies per message | {:.2} |",
            self.duplicates_per_message
        );
        let _ = writeln!(
            s,
            "| connections opened during the run | {} |",
            self.connections_opened
        );
        let _ = writeln!(
            s,
            "| memory per node | {:.2} MB |",
            mb(self.mem_per_node_bytes)
        );
        let _ = writeln!(
            s,
            "| RSS at end / peak | {:.0} / {:.0} MB |",
            mb(self.rss_bytes),
            mb(self.peak_rss_bytes)
        );
        let _ = writeln!(
            s,
            "| CPU time / wall time | {:.1} s / {:.1} s ({:.2} cores) |",
            self.cpu_seconds, self.wall_seconds, self.cpu_utilisation
        );
        let _ = writeln!(s, "\n## Latency, publish to delivery (ms)\n");
        let _ = writeln!(
            s,
            "| deliveries | count | p50 | p90 | p99 | max |\n|---|---|---|---|---|---|"
        );
        for (name, p) in [("gossip", l), ("catch-up (sync)", c)] {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                p.count, p.p50, p.p90, p.p99, p.max
            );
        }
        if !self.convergence.is_empty() {
            let _ = writeln!(
                s,
                "\n## Convergence\n\n| event | at (s) | converged after (s) |\n|---|---|---|"
            );
            for c in &self.convergence {
                let after = c
                    .converge_s
                    .map_or("never".to_owned(), |v| format!("{v:.2}"));
                let _ = writeln!(s, "| {} | {:.1} | {after} |", c.event, c.at_s);
            }
        }
        self.checks_markdown(&mut s);
        s
    }

    /// The tables of a search run: the run's figures, the search figures, the checks.
    fn search_markdown(&self, f: &crate::search::Figures) -> String {
        let mut s = String::new();
        let mb = |b: u64| b as f64 / 1e6;
        let _ = writeln!(
            s,
            "# qun-sim search report: {} (seed {})\n",
            self.scenario, self.seed
        );
        let _ = writeln!(s, "| figure | value |\n|---|---|");
        let _ = writeln!(s, "| nodes | {} |", self.nodes);
        f.markdown_rows(&mut s);
        let rate = self.wire_bytes as f64 / self.wall_seconds.max(1e-9);
        let _ = writeln!(
            s,
            "| bytes on all links during the searches (background included) | {:.1} MB ({:.0} kB/s) |",
            mb(self.wire_bytes),
            rate / 1e3
        );
        let _ = writeln!(
            s,
            "| connections opened during the searches | {} |",
            self.connections_opened
        );
        let _ = writeln!(
            s,
            "| memory per node | {:.2} MB |",
            mb(self.mem_per_node_bytes)
        );
        let _ = writeln!(
            s,
            "| RSS at end / peak | {:.0} / {:.0} MB |",
            mb(self.rss_bytes),
            mb(self.peak_rss_bytes)
        );
        let _ = writeln!(
            s,
            "| CPU time / wall time of the searches | {:.1} s / {:.1} s ({:.2} cores) |",
            self.cpu_seconds, self.wall_seconds, self.cpu_utilisation
        );
        f.markdown_latency(&mut s);
        self.checks_markdown(&mut s);
        s
    }

    fn checks_markdown(&self, s: &mut String) {
        let _ = writeln!(
            s,
            "\n## Checks\n\n| check | bound | value | ok |\n|---|---|---|---|"
        );
        for k in &self.checks {
            let ok = if k.ok { "yes" } else { "**NO**" };
            let _ = writeln!(
                s,
                "| {} | {} {} | {:.3} | {ok} |",
                k.name, k.op, k.bound, k.value
            );
        }
    }

    /// The two charts side by side.
    pub fn svg(&self, path: &Path) -> anyhow::Result<()> {
        let root = SVGBackend::new(path, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_err)?;
        let (left, right) = root.split_horizontally(550);
        if let Some(f) = &self.search {
            return search_svg(&root, &left, &right, f);
        }
        let xmax = self.latency_cdf.last().map_or(1.0, |p| p.0).max(1.0) * 1.05;
        line_chart(
            &left,
            "Gossip latency CDF",
            "latency (ms)",
            "fraction of deliveries",
            xmax,
            &self.latency_cdf,
        )?;
        let tmax = self.delivery_over_time.last().map_or(1.0, |p| p.0).max(1.0) * 1.05;
        line_chart(
            &right,
            "Delivery over time",
            "time since start (s)",
            "fraction of expected deliveries",
            tmax,
            &self.delivery_over_time,
        )?;
        root.present().map_err(chart_err)?;
        Ok(())
    }
}

/// A search run's charts: search latency CDF, DHT requests per search CDF.
fn search_svg(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    left: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    right: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    f: &crate::search::Figures,
) -> anyhow::Result<()> {
    let end = |v: &[(f64, f64)]| v.last().map_or(1.0, |p| p.0).max(1.0) * 1.05;
    line_chart(
        left,
        "Search latency CDF",
        "latency, call to answer (ms)",
        "fraction of searches",
        end(&f.latency_cdf),
        &f.latency_cdf,
    )?;
    line_chart(
        right,
        "DHT requests per search CDF",
        "Kademlia requests",
        "fraction of searches",
        end(&f.dht_requests_cdf),
        &f.dht_requests_cdf,
    )?;
    root.present().map_err(chart_err)?;
    Ok(())
}

fn chart_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the chart: {e:?}")
}

fn line_chart(
    area: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    xmax: f64,
    points: &[(f64, f64)],
) -> anyhow::Result<()> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0f64..xmax, 0f64..1.02)
        .map_err(chart_err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .draw()
        .map_err(chart_err)?;
    chart
        .draw_series(LineSeries::new(points.iter().copied(), &BLUE))
        .map_err(chart_err)?;
    Ok(())
}
