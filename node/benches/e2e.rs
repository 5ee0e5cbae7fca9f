//! End-to-end throughput and latency of three real nodes over loopback TCP.
//!
//! `cargo bench -p qun-node --bench e2e` starts nodes A, B and C (real libp2p, real sled in a
//! temp dir), puts them in one group, then:
//! 1. flat out: A sends N messages with many sends in flight; the figure is messages per
//!    second until both B and C hold all N;
//! 2. paced: A sends at 1,000 msgs/s; latency from the send call to arrival at B and C,
//!    p50 / p99;
//! 3. the protocol's raw `open` rate (decrypt + decode + verify_strict) on one core, measured
//!    in the same run, so the end-to-end rate can be read as a ratio of it.
//!
//! Environment: `QUN_BENCH_N` (default 20000) messages for the flat-out run,
//! `QUN_BENCH_PACED_N` (default 5000) for the paced run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use common::raw_open_rate;
use qun_node::{Config, CreateGroup, Node, NodeEvent};
use qun_protocol::GroupId;
use tokio::sync::Mutex;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn setup(dir: &std::path::Path) -> (Vec<Node>, GroupId) {
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let mut cfg = Config::for_test(dir.join(name));
        cfg.cache_bytes = 64 * 1024 * 1024;
        nodes.push(Node::start(cfg).await.unwrap());
    }
    let created = nodes[0]
        .create_group(CreateGroup {
            name: "bench".into(),
            description: String::new(),
            tags: vec![],
            visibility: qun_protocol::Visibility::Private,
        })
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    for n in &nodes[1..] {
        n.join(&created.invite).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut ready = true;
        for n in &nodes {
            if n.group_info(group).await.unwrap().mesh_peers < 1 {
                ready = false;
            }
        }
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "mesh did not form");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    (nodes, group)
}

/// Spawns a collector that records when each `prefix-N` text arrives at `node`.
fn collect(node: &Node, prefix: &'static str) -> Arc<Mutex<HashMap<usize, Instant>>> {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let mut rx = node.subscribe();
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            match rx.recv().await {
                Ok(NodeEvent::Message(m)) => {
                    if let Some(n) = m.text.strip_prefix(prefix).and_then(|r| r.parse().ok()) {
                        s.lock().await.insert(n, Instant::now());
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    println!("warning: event subscriber lagged by {n}");
                }
                Err(_) => break,
            }
        }
    });
    seen
}

async fn wait_all(sets: &[Arc<Mutex<HashMap<usize, Instant>>>], n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let mut done = true;
        for s in sets {
            if s.lock().await.len() < n {
                done = false;
            }
        }
        if done {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn flat_out(nodes: &[Node], group: GroupId, n: usize) -> Option<f64> {
    let sets = [collect(&nodes[1], "flat-"), collect(&nodes[2], "flat-")];
    let start = Instant::now();
    let inflight = Arc::new(tokio::sync::Semaphore::new(512));
    for i in 0..n {
        let permit = inflight.clone().acquire_owned().await.unwrap();
        let node = nodes[0].clone();
        tokio::spawn(async move {
            node.send(group, &format!("flat-{i}"), None).await.unwrap();
            drop(permit);
        });
    }
    if !wait_all(&sets, n, Duration::from_secs(120)).await {
        println!("flat out: not every message arrived in 120 s");
        return None;
    }
    Some(n as f64 / start.elapsed().as_secs_f64())
}

async fn paced(nodes: &[Node], group: GroupId, n: usize, rate: u64) -> Option<(f64, f64, f64)> {
    let sets = [collect(&nodes[1], "paced-"), collect(&nodes[2], "paced-")];
    let sent: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..n {
        tick.tick().await;
        sent.lock().await.insert(i, Instant::now());
        let node = nodes[0].clone();
        tokio::spawn(async move {
            node.send(group, &format!("paced-{i}"), None).await.unwrap();
        });
    }
    if !wait_all(&sets, n, Duration::from_secs(60)).await {
        println!("paced: not every message arrived in 60 s");
        return None;
    }
    let sent = sent.lock().await;
    let mut lat = Vec::new();
    for s in &sets {
        for (i, at) in s.lock().await.iter() {
            lat.push(at.duration_since(sent[i]).as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Some((pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 1.0)))
}

fn main() {
    let n = env_usize("QUN_BENCH_N", 20_000);
    let paced_n = env_usize("QUN_BENCH_PACED_N", 5_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    rt.block_on(async {
        let (nodes, group) = setup(dir.path()).await;
        let open = raw_open_rate();
        println!("raw open (1 core): {open:.0} msgs/s");
        if let Some(rate) = flat_out(&nodes, group, n).await {
            println!(
                "end to end, A -> B and C, {n} msgs flat out: {rate:.0} msgs/s = {:.2} x raw open (goal >= 5000 msgs/s, >= 0.2 x)",
                rate / open
            );
        }
        if let Some((p50, p99, max)) = paced(&nodes, group, paced_n, 1000).await {
            println!(
                "end to end at 1000 msgs/s, {paced_n} msgs: p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms (goal p99 < 50 ms)"
            );
        }
        for node in &nodes {
            node.shutdown().await.unwrap();
        }
    });
}
