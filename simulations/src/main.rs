//! `qun-sim`: runs a scenario file and writes its report.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use qun_sim::Scenario;
use qun_sim::scenario::Step;

/// Simulate many qun nodes in one process.
#[derive(Debug, Parser)]
#[command(name = "qun-sim", version, about)]
struct Cli {
    /// Log filter (e.g. `info`, `qun_node=debug`); logs go to stderr.
    #[arg(
        long,
        global = true,
        default_value = "warn,qun_sim=info",
        env = "QUN_SIM_LOG"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and write report.json, report.md and report.svg.
    Run {
        /// The scenario file (TOML), e.g. simulations/scenarios/chat-burst.toml.
        scenario: PathBuf,
        /// Override the number of nodes.
        #[arg(long)]
        nodes: Option<usize>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the report.
        #[arg(long, default_value = "sim-report")]
        out: PathBuf,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Print the seeded schedule (or search plan) of a scenario without running it.
    Schedule {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Override the number of nodes.
        #[arg(long)]
        nodes: Option<usize>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
    },
}

fn load(
    path: &std::path::Path,
    nodes: Option<usize>,
    seed: Option<u64>,
) -> anyhow::Result<Scenario> {
    let mut s = Scenario::load(path)?;
    if let Some(n) = nodes {
        s.nodes = n;
    }
    if let Some(seed) = seed {
        s.seed = seed;
    }
    s.validate()?;
    Ok(s)
}

#[allow(clippy::print_stdout)]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(&cli.log))
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Run {
            scenario,
            nodes,
            seed,
            out,
            quiet,
        } => {
            let s = load(&scenario, nodes, seed)?;
            let progress = (!quiet).then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.enable_steady_tick(Duration::from_millis(200));
                bar
            });
            let report = qun_sim::run(&s, progress).await?;
            report
                .write(&out)
                .with_context(|| format!("writing the report to {}", out.display()))?;
            print!("{}", report.markdown());
            println!(
                "\nreport written to {}/report.{{json,md,svg}}",
                out.display()
            );
            if !report.passed {
                anyhow::bail!("the scenario's expectations were not met (see Checks)");
            }
        }
        Command::Schedule {
            scenario,
            nodes,
            seed,
        } => {
            let s = load(&scenario, nodes, seed)?;
            if let Some(spec) = &s.search {
                print_search_plan(&s, spec);
                return Ok(());
            }
            let sched = s.schedule();
            println!("# {} seed {} nodes {}", s.name, s.seed, s.nodes);
            for (t, step) in &sched.steps {
                match step {
                    Step::Send { sender, seq } => {
                        println!("{:>9.3}s send #{seq} from node {sender}", t.as_secs_f64())
                    }
                    Step::Event(a) => println!("{:>9.3}s {a:?}", t.as_secs_f64()),
                }
            }
        }
    }
    Ok(())
}

/// The seeded plan of a search scenario: groups with their members, then the searches.
#[allow(clippy::print_stdout)]
fn print_search_plan(s: &Scenario, spec: &qun_sim::search::Spec) {
    let plan = qun_sim::search::Plan::new(s.nodes, spec, s.seed);
    println!("# {} seed {} nodes {} (search)", s.name, s.seed, s.nodes);
    for (i, g) in plan.groups.iter().enumerate() {
        println!("group {i}: {} {:?} members {:?}", g.name, g.tags, g.members);
    }
    println!("searchers: {:?}", plan.searchers);
    for (i, q) in plan.queries.iter().enumerate() {
        println!(
            "search #{i}: node {} {:?} ({:?}) -> group {}",
            q.searcher, q.text, q.kind, q.group
        );
    }
}
