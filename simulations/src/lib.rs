//! qun-sim: many real qun nodes in one process, on a simulated network.
//!
//! Each node is the same [`qun_node::Node`] the daemon runs, with its own sled store in a
//! temporary directory (small caches). They talk over [`net`], a libp2p transport whose
//! in-memory links apply latency, jitter, loss, bandwidth and partitions below libp2p (see
//! the [`net`] module docs for how). A [`scenario::Scenario`] (TOML, in
//! `simulations/scenarios/`) says what happens; [`runner`] plays it; [`analysis`] turns what
//! it saw into a [`report::Report`]: delivery ratio, latency percentiles, amplification,
//! convergence, memory and CPU. A scenario with a `[search]` table is a [`search`] run
//! instead: public groups announced to the DHT, then searches for them from other nodes.

pub mod analysis;
pub mod measure;
pub mod net;
pub mod rekey;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod search;
pub mod topology;

use indicatif::ProgressBar;

pub use report::Report;
pub use scenario::Scenario;

/// Runs `scenario` and returns its report. `progress` (if any) shows how far it got.
pub async fn run(scenario: &Scenario, progress: Option<ProgressBar>) -> anyhow::Result<Report> {
    scenario.validate()?;
    let baseline = measure::rss_bytes();
    if scenario.search.is_some() {
        return search::run(scenario, progress, baseline).await;
    }
    let runner = runner::Runner::start(scenario.clone(), progress.clone()).await?;
    let observed = runner.run().await?;
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    Ok(observed.report(scenario, baseline))
}
