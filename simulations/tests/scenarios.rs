//! The small scenarios of `simulations/scenarios/`, run as tests: each must deliver every
//! message to every member and meet the bounds in its `[expect]` section (latency,
//! amplification, convergence after heals, restarts and late joins).
//!
//! They run one at a time (a shared lock) so that two simulations never compete for the
//! machine's cores and skew each other's latencies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::Mutex;

use qun_sim::{Report, Scenario};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs a scenario file on its own runtime, one simulation at a time.
fn run(file: &str) -> Report {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    let scenario = Scenario::load(&path).unwrap();
    assert!(scenario.nodes <= 30, "test scenarios stay small");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(qun_sim::run(&scenario, None)).unwrap();
    println!("{}", report.markdown());
    for c in &report.checks {
        assert!(
            c.ok,
            "{file}: {} is {:.3}, bound {} {}",
            c.name, c.value, c.op, c.bound
        );
    }
    assert_eq!(
        report.delivery_ratio, 1.0,
        "{file}: not every message arrived everywhere"
    );
    assert!(report.passed);
    report
}

#[test]
fn chat_burst_delivers_everything_fast() {
    let r = run("chat-burst.toml");
    assert_eq!(r.messages_sent, 100);
    assert!(r.latency_ms.count > 0 && r.latency_ms.p99 > 0.0);
}

#[test]
fn late_joiners_get_the_whole_history() {
    let r = run("late-joiner.toml");
    assert!(
        r.catch_up_latency_ms.count > 0,
        "late joiners got history by sync"
    );
    assert!(r.convergence.iter().all(|c| c.converge_s.is_some()));
}

#[test]
fn partition_heals_and_converges() {
    let r = run("partition-heal.toml");
    let heal = r.convergence.iter().find(|c| c.event == "heal").unwrap();
    assert!(heal.converge_s.is_some(), "never converged after the heal");
    assert!(
        r.catch_up_latency_ms.count > 0,
        "messages crossed the healed cut by sync"
    );
}

#[test]
fn churned_nodes_catch_up() {
    let r = run("churn.toml");
    assert!(r.convergence.iter().any(|c| c.event == "restart"));
    assert!(r.convergence.iter().all(|c| c.converge_s.is_some()));
}

#[test]
fn same_seed_same_schedule_other_seed_other_schedule() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/churn.toml");
    let a = Scenario::load(&path).unwrap();
    let mut b = a.clone();
    assert_eq!(a.schedule(), b.schedule());
    b.seed += 1;
    assert_ne!(a.schedule(), b.schedule());
}

#[test]
fn bad_scenarios_are_refused_with_a_reason() {
    let cases = [
        ("name = 'x'\nnodes = 1\n", "nodes"),
        ("name = 'x'\nnodes = 10\nbogus = 1\n", "unknown field"),
        ("name = 'x'\nnodes = 10\n[network]\nloss = 0.9\n", "loss"),
        (
            "name = 'x'\nnodes = 10\n[[events]]\nat_s = 1.0\naction = 'stop'\nnodes = [19]\n",
            "node 19",
        ),
        ("name = 'x'\nnodes = 10\n[traffic]\nrate = 0.0\n", "rate"),
    ];
    for (text, why) in cases {
        let err = Scenario::parse(text, "test").unwrap_err().to_string();
        assert!(err.contains(why), "{text:?}: {err}");
    }
}
