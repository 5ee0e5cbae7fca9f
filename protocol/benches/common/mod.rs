//! What the criterion benches of this crate share: reading back the means criterion wrote,
//! so each bench can print its figure as a ratio against a baseline of the same run.

use std::path::{Path, PathBuf};

/// Where criterion writes its results: `$CARGO_TARGET_DIR`, else the `target/` of the
/// nearest ancestor of this crate that is a workspace root (has a `Cargo.lock`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .unwrap_or(manifest)
        .join("target")
}

/// Mean time per iteration of `bench` in criterion group `group`, in nanoseconds, from
/// criterion's `estimates.json`; `None` when it has not run.
pub fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Runs `bench` with the settings every bench of this crate uses (1 s warm-up, 3 s of
/// measurement, then the command line's), then `report` when criterion measured: only as
/// `cargo bench` (`--bench`, without `--test`, `--list` or `--profile-time`); otherwise
/// there are no new figures to report.
pub fn run(bench: fn(&mut criterion::Criterion), report: fn()) {
    let mut c = criterion::Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    if has("--bench") && !has("--test") && !has("--list") && !has("--profile-time") {
        report();
    }
}
