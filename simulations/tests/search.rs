//! The search benchmark, small: 24 real nodes on the bootstrap topology (DHT on), four
//! public groups of three announced to the DHT, then searches from nodes in no group.
//! Every search must find its group, within a bound on p99 latency and on Kademlia
//! requests per search.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use qun_sim::Scenario;
use qun_sim::search::{Plan, plan::QueryKind};

/// The scenario, as a scenario file would say it.
const SMALL: &str = r#"
name = "search small"
seed = 3
nodes = 24

[network]
latency_ms = 20.0
jitter_ms = 5.0

[topology]
kind = "bootstrap"

[node]
warmup_timeout_s = 60.0

[search]
groups = 4
members = 3
searches = 16
concurrency = 2
gap_ms = 50
timeout_s = 5.0
announce_wait_s = 3.0

[expect]
min_search_success = 1.0
max_search_p99_ms = 2000.0
max_search_dht_requests = 30.0
"#;

#[test]
fn every_search_finds_its_group() {
    let scenario = Scenario::parse(SMALL, "search small").unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(qun_sim::run(&scenario, None)).unwrap();
    println!("{}", report.markdown());
    let f = report
        .search
        .as_ref()
        .expect("a search run has search figures");
    assert_eq!(f.searches, 16);
    assert_eq!(f.failed, 0, "every search answered");
    assert_eq!(f.success_ratio, 1.0, "every search found its group");
    assert_eq!(f.other_hits, 0, "each query names one group");
    assert!(f.latency_ms.p50 > 0.0 && f.dht_requests.max > 0.0);
    for c in &report.checks {
        assert!(
            c.ok,
            "{} is {:.3}, bound {} {}",
            c.name, c.value, c.op, c.bound
        );
    }
    assert_eq!(report.checks.len(), 3);
    assert!(report.passed);
}

#[test]
fn the_plan_is_seeded_and_asks_every_kind() {
    let s = Scenario::parse(SMALL, "search small").unwrap();
    let spec = s.search.clone().unwrap();
    let plan = Plan::new(s.nodes, &spec, s.seed);
    assert_eq!(plan, Plan::new(s.nodes, &spec, s.seed));
    assert_eq!(plan.groups.len(), 4);
    assert_eq!(plan.searchers.len(), 24 - 1 - 12);
    let kinds: Vec<QueryKind> = plan.queries.iter().map(|q| q.kind).collect();
    assert!(
        QueryKind::ALL.iter().all(|k| kinds.contains(k)),
        "{kinds:?}"
    );
}

#[test]
fn bad_search_scenarios_are_refused_with_a_reason() {
    let base = "name = 'x'\nnodes = 30\n[topology]\nkind = 'bootstrap'\n";
    let cases = [
        (
            "name = 'x'\nnodes = 10\n[search]\ngroups = 1\n".to_owned(),
            "bootstrap",
        ),
        (format!("{base}[search]\ngroups = 0\n"), "search.groups"),
        (
            format!("{base}[search]\ngroups = 4\nmembers = 8\n"),
            "searcher",
        ),
        (format!("{base}[search]\nsearches = 0\n"), "search.searches"),
        (format!("{base}[search]\nconcurrency = 0\n"), "concurrency"),
        (
            format!("{base}[search]\nannounce_rounds = 0\n"),
            "announce_rounds",
        ),
        (format!("{base}[search]\nbogus = 1\n"), "unknown field"),
        (
            format!("{base}[search]\n[[events]]\nat_s = 1.0\naction = 'heal'\n"),
            "no events",
        ),
    ];
    for (text, why) in cases {
        let err = Scenario::parse(&text, "test").unwrap_err().to_string();
        assert!(err.contains(why), "{text:?}: {err}");
    }
}
