//! Plays a search run on real nodes (the steps are in the [`super`] module docs) and
//! builds its report.

use std::time::Duration;

use anyhow::Context as _;
use indicatif::ProgressBar;
use qun_node::{CreateGroup, Node};
use qun_protocol::Visibility;
use tokio::time::Instant;

use super::figures::{Figures, Sample, Setup};
use super::plan::{Plan, Query};
use super::{ANSWER_MARGIN, Spec};
use crate::report::Report;
use crate::runner::Runner;
use crate::scenario::Scenario;

/// Wait between the owners' announcements and the other members', so the owners' cards
/// are in the DHT when the members look them up.
const OWNERS_FIRST: Duration = Duration::from_secs(1);

/// Runs the search scenario `scenario`; `baseline_rss` is the process RSS before any node
/// started.
pub async fn run(
    scenario: &Scenario,
    progress: Option<ProgressBar>,
    baseline_rss: u64,
) -> anyhow::Result<Report> {
    let spec = scenario
        .search
        .clone()
        .context("the scenario has no [search] table")?;
    let plan = Plan::new(scenario.nodes, &spec, scenario.seed);
    let mut setup = Setup::default();
    let mut t = Instant::now();
    let mut runner = Runner::launch(scenario.clone(), progress).await?;
    setup.start_s = lap(&mut t);
    let warm_up = Duration::from_secs_f64(scenario.node.warmup_timeout_s);
    runner.quiet(Instant::now() + warm_up).await?;
    setup.quiet_s = lap(&mut t);
    tracing::info!(nodes = scenario.nodes, "network quiet: creating the groups");
    let cpu_setup = crate::measure::cpu_seconds();
    let ids = create_groups(&runner, &plan).await?;
    setup.groups_s = lap(&mut t);
    let wait = Duration::from_secs_f64(spec.announce_wait_s);
    setup.announce_rounds = spec.announce_rounds;
    for round in 1..=spec.announce_rounds {
        announce(&runner, &plan).await?;
        tracing::info!(round, wait_s = spec.announce_wait_s, "announced: waiting");
        tokio::time::sleep(wait).await;
    }
    setup.announce_s = lap(&mut t);
    setup.groups_and_announce_cpu_s = crate::measure::cpu_seconds() - cpu_setup;
    (setup.connected_mean, setup.connected_max) = connected(&runner, scenario.nodes).await;

    let net = runner.network().cloned();
    let bytes_before = net.as_ref().map_or(0, crate::net::Network::bytes);
    let conns_before = net.as_ref().map_or(0, crate::net::Network::connections);
    let cpu_before = crate::measure::cpu_seconds();
    let start = Instant::now();
    let samples = searches(&runner, &plan, &spec, &ids).await?;
    let measured = Measured {
        wire_bytes: net.as_ref().map_or(0, crate::net::Network::bytes) - bytes_before,
        connections: net.as_ref().map_or(0, crate::net::Network::connections) - conns_before,
        cpu_seconds: crate::measure::cpu_seconds() - cpu_before,
        wall: start.elapsed(),
        rss_bytes: crate::measure::rss_bytes(),
    };
    if let Some(p) = runner.progress() {
        p.finish_and_clear();
    }
    runner.stop_all().await;
    let figures = Figures::new(&plan, &spec, setup, samples);
    Ok(report(scenario, figures, &measured, baseline_rss))
}

/// Seconds since `*t`, which moves to now.
fn lap(t: &mut Instant) -> f64 {
    std::mem::replace(t, Instant::now()).elapsed().as_secs_f64()
}

/// Peers each node is connected to: mean and max.
async fn connected(runner: &Runner, nodes: usize) -> (f64, usize) {
    let mut counts = Vec::with_capacity(nodes);
    for i in 0..nodes {
        if let Ok(node) = runner.node(i) {
            counts.extend(node.net_stats().await.ok().map(|s| s.connected_peers));
        }
    }
    let mean = counts.iter().sum::<usize>() as f64 / counts.len().max(1) as f64;
    (mean, counts.into_iter().max().unwrap_or(0))
}

/// Each group's owner creates it; the other members join with the invite it returned.
/// Returns the group ids, in plan order.
async fn create_groups(runner: &Runner, plan: &Plan) -> anyhow::Result<Vec<String>> {
    if let Some(p) = runner.progress() {
        p.set_length(plan.groups.len() as u64);
        p.set_position(0);
        p.set_message("creating and joining the groups");
    }
    let mut ids = Vec::with_capacity(plan.groups.len());
    for g in &plan.groups {
        let owner = runner.node(g.members[0])?;
        let created = owner
            .create_group(CreateGroup {
                name: g.name.to_owned(),
                description: format!("qun-sim search benchmark: {}", g.name),
                tags: g.tags.clone(),
                visibility: Visibility::Public,
            })
            .await
            .with_context(|| format!("node {} creating {}", g.members[0], g.name))?;
        for &m in &g.members[1..] {
            runner
                .node(m)?
                .join(&created.invite)
                .await
                .with_context(|| format!("node {m} joining {}", g.name))?;
        }
        ids.push(created.group);
        if let Some(p) = runner.progress() {
            p.inc(1);
        }
    }
    Ok(ids)
}

/// One announcement round: owners first, then (after [`OWNERS_FIRST`]) every other
/// member.
async fn announce(runner: &Runner, plan: &Plan) -> anyhow::Result<()> {
    if let Some(p) = runner.progress() {
        p.set_message("announcing to the DHT");
    }
    for g in &plan.groups {
        runner.node(g.members[0])?.announce_discovery().await?;
    }
    tokio::time::sleep(OWNERS_FIRST).await;
    for g in &plan.groups {
        for &m in &g.members[1..] {
            runner.node(m)?.announce_discovery().await?;
        }
    }
    Ok(())
}

/// Runs the plan's searches, `spec.concurrency` at a time: worker `w` runs searches `w`,
/// `w + c`, `w + 2c`... one after another, `gap_ms` apart. Samples come back in plan order.
async fn searches(
    runner: &Runner,
    plan: &Plan,
    spec: &Spec,
    ids: &[String],
) -> anyhow::Result<Vec<Sample>> {
    let progress = runner.progress().cloned();
    if let Some(p) = &progress {
        p.set_length(plan.queries.len() as u64);
        p.set_position(0);
        p.set_message("searching");
    }
    let limit = spec.timeout() + ANSWER_MARGIN;
    let gap = Duration::from_millis(spec.gap_ms);
    let mut workers = Vec::with_capacity(spec.concurrency);
    for w in 0..spec.concurrency {
        let mut jobs: Vec<(usize, Node, Query, String)> = Vec::new();
        for (i, q) in plan.queries.iter().enumerate().skip(w) {
            if i % spec.concurrency == w {
                let node = runner.node(q.searcher)?.clone();
                jobs.push((i, node, q.clone(), ids[q.group].clone()));
            }
        }
        let progress = progress.clone();
        workers.push(tokio::spawn(async move {
            let mut out = Vec::with_capacity(jobs.len());
            for (k, (i, node, q, expected)) in jobs.into_iter().enumerate() {
                if k > 0 {
                    tokio::time::sleep(gap).await;
                }
                out.push((i, search_once(&node, &q, expected, limit).await));
                if let Some(p) = &progress {
                    p.inc(1);
                }
            }
            out
        }));
    }
    let mut samples = Vec::with_capacity(plan.queries.len());
    for w in workers {
        samples.extend(w.await.context("a search worker panicked")?);
    }
    samples.sort_by_key(|(i, _)| *i);
    Ok(samples.into_iter().map(|(_, s)| s).collect())
}

/// One search from `node`, waiting at most `limit` for the answer.
async fn search_once(node: &Node, q: &Query, expected: String, limit: Duration) -> Sample {
    let t0 = Instant::now();
    let answer = tokio::time::timeout(limit, node.search(&q.text)).await;
    let mut s = Sample {
        query: q.text.clone(),
        kind: q.kind,
        searcher: q.searcher,
        expected,
        found: false,
        other_hits: 0,
        latency_ms: t0.elapsed().as_secs_f64() * 1000.0,
        elapsed_ms: 0,
        dht_requests: 0,
        providers: 0,
        peers_asked: 0,
        error: None,
    };
    match answer {
        Ok(Ok(r)) => {
            s.found = r.hits.iter().any(|h| h.group == s.expected);
            s.other_hits = r.hits.iter().filter(|h| h.group != s.expected).count();
            s.elapsed_ms = r.elapsed_ms;
            s.dht_requests = r.dht_requests;
            s.providers = r.providers;
            s.peers_asked = r.peers_asked;
        }
        Ok(Err(e)) => s.error = Some(e.to_string()),
        Err(_) => {
            s.error = Some(format!("no answer within {:.1} s", limit.as_secs_f64()));
        }
    }
    if !s.found {
        tracing::warn!(
            query = %s.query,
            searcher = s.searcher,
            providers = s.providers,
            asked = s.peers_asked,
            error = ?s.error,
            "search did not find its group"
        );
    }
    s
}

/// What the machine measured during the searches.
struct Measured {
    wire_bytes: u64,
    connections: u64,
    cpu_seconds: f64,
    wall: Duration,
    rss_bytes: u64,
}

/// The report of a search run: the run's own figures (wire bytes, connections, CPU and
/// wall time over the searches; memory at the end) and the search figures; the chat
/// figures are empty (no message is sent).
fn report(scenario: &Scenario, figures: Figures, m: &Measured, baseline_rss: u64) -> Report {
    let checks = figures.checks(&scenario.expect);
    let wall = m.wall.as_secs_f64();
    Report {
        scenario: scenario.name.clone(),
        seed: scenario.seed,
        nodes: scenario.nodes,
        running_at_end: scenario.nodes,
        messages_sent: 0,
        payload_bytes: 0,
        expected_deliveries: 0,
        delivered: 0,
        delivery_ratio: 1.0,
        latency_ms: Default::default(),
        catch_up_latency_ms: Default::default(),
        wire_bytes: m.wire_bytes,
        connections_opened: m.connections,
        amplification: 0.0,
        bytes_per_delivery: 0.0,
        duplicates_per_message: 0.0,
        convergence: Vec::new(),
        max_converge_s: None,
        mem_per_node_bytes: m.rss_bytes.saturating_sub(baseline_rss) / scenario.nodes as u64,
        rss_bytes: m.rss_bytes,
        peak_rss_bytes: crate::measure::peak_rss_bytes(),
        cpu_seconds: m.cpu_seconds,
        wall_seconds: wall,
        cpu_utilisation: m.cpu_seconds / wall.max(1e-9),
        latency_cdf: Vec::new(),
        delivery_over_time: Vec::new(),
        histories_identical: true,
        passed: checks.iter().all(|c| c.ok),
        checks,
        search: Some(figures),
    }
}
