//! History sync between real nodes (issue 5), on the simulated network: a member back from
//! offline, a late joiner after 5,000 messages, a partition of four, and seeded random
//! schedules of partitions, heals, stops and restarts on three nodes. Each run must end
//! with every member holding every message in the same order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::path::Path;
use std::sync::Mutex;

use qun_sim::scenario::{Action, Event, Expect, Scenario, Topology, Traffic};
use qun_sim::{Report, run};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_scenario(scenario: &Scenario) -> Report {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(run(scenario, None)).unwrap();
    println!("{}", report.markdown());
    for c in &report.checks {
        assert!(
            c.ok,
            "{}: {} is {:.3}, bound {} {}",
            scenario.name, c.name, c.value, c.op, c.bound
        );
    }
    assert_eq!(
        report.delivery_ratio, 1.0,
        "{}: messages missing",
        scenario.name
    );
    assert!(
        report.histories_identical,
        "{}: histories differ",
        scenario.name
    );
    report
}

fn file(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).unwrap()
}

#[test]
fn member_back_from_offline_gets_all_2000_in_order() {
    let r = run_scenario(&file("sync-offline.toml"));
    assert_eq!(r.messages_sent, 2000);
    assert!(r.catch_up_latency_ms.count >= 1900, "C got them by sync");
}

#[test]
fn late_joiner_gets_all_5000() {
    let r = run_scenario(&file("sync-late-joiner.toml"));
    assert_eq!(r.messages_sent, 5000);
    assert!(
        r.catch_up_latency_ms.count >= 5000,
        "the joiner got them by sync"
    );
}

#[test]
fn partition_of_four_heals_to_identical_histories() {
    let r = run_scenario(&file("sync-partition-4.toml"));
    assert!(
        r.convergence
            .iter()
            .any(|c| c.event == "heal" && c.converge_s.is_some())
    );
}

/// A random schedule on three nodes: partitions and heals, node 1 or 2 stopping and
/// restarting on its store, while messages flow; it always ends healed and running.
fn random_scenario(seed: u64) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut events = Vec::new();
    let mut t = 0.3;
    let mut down: Option<usize> = None;
    let mut split = false;
    while t < 3.0 {
        let action = match rng.random_range(0..4) {
            0 if !split => {
                split = true;
                Action::Partition { sides: 2 }
            }
            1 if split => {
                split = false;
                Action::Heal
            }
            2 if down.is_none() => {
                let n = rng.random_range(1..3);
                down = Some(n);
                Action::Stop { nodes: vec![n] }
            }
            _ => match down.take() {
                Some(n) => Action::Start { nodes: vec![n] },
                None => {
                    t += 0.2;
                    continue;
                }
            },
        };
        events.push(Event { at_s: t, action });
        t += rng.random_range(0.2..0.8);
    }
    if split {
        events.push(Event {
            at_s: t,
            action: Action::Heal,
        });
    }
    if let Some(n) = down {
        events.push(Event {
            at_s: t,
            action: Action::Start { nodes: vec![n] },
        });
    }
    Scenario {
        name: format!("random schedule {seed}"),
        description: String::new(),
        seed,
        nodes: 3,
        network: Default::default(),
        topology: Topology {
            degree: 2,
            ..Topology::default()
        },
        traffic: Traffic {
            messages: 150,
            rate: 50.0,
            size: 100,
            senders: 0,
            start_s: 0.1,
        },
        node: Default::default(),
        events,
        churn: None,
        settle_s: 15.0,
        expect: Expect {
            min_delivery: 1.0,
            ..Expect::default()
        },
        search: None,
    }
}

#[test]
fn random_schedules_on_three_nodes_always_converge() {
    for seed in 1..=3 {
        let s = random_scenario(seed);
        assert_eq!(s.schedule(), random_scenario(seed).schedule(), "seeded");
        run_scenario(&s);
    }
}
