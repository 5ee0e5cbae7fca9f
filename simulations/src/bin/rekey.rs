//! `qun-rekey`: the time until every member of a simulated group is on the new epoch after
//! a removal (issue 13, item 8). Starts the scenario's nodes in one group (by default
//! `simulations/scenarios/one-group.toml`, 100 nodes, links 50 ms ± 10 ms), has the owner
//! remove one member, and prints when the remaining members were on the new epoch.
//!
//! `cargo run --release -p qun-sim --bin qun-rekey` (`--nodes`, `--scenario`, `--seed`).
#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use qun_sim::Scenario;
use qun_sim::runner::Runner;

/// Time a removal's re-key in a simulated group.
#[derive(Debug, Parser)]
#[command(name = "qun-rekey")]
struct Args {
    /// The scenario whose network and nodes are used (its traffic is not sent).
    #[arg(long, default_value = "simulations/scenarios/one-group.toml")]
    scenario: PathBuf,
    /// Nodes in the group.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// The seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    let mut s = Scenario::load(&args.scenario)?;
    s.nodes = args.nodes;
    if let Some(seed) = args.seed {
        s.seed = seed;
    }
    s.validate()?;
    println!(
        "{} nodes in one group (links {} ms ± {} ms): starting and joining...",
        s.nodes, s.network.latency_ms, s.network.jitter_ms
    );
    let runner = Runner::start(s, None).await?;
    let fig = runner
        .rekey_after_removal(Duration::from_secs(args.timeout_s))
        .await?;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "removal → all {} remaining members on the new epoch: {:.0} ms (p50 {:.0} ms, p90 {:.0} ms)",
        fig.members,
        ms(fig.percentile(100)),
        ms(fig.percentile(50)),
        ms(fig.percentile(90)),
    );
    Ok(())
}
