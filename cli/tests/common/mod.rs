//! Helpers of the end-to-end tests: the `qun` binary, daemons as child processes, polling.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub use std::collections::BTreeSet;
pub use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
pub use std::time::{Duration, Instant};

pub use serde_json::Value;
pub use tempfile::TempDir;

pub const API_FILE: &str = "api.json";
/// Longest one CLI call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for the network to deliver something.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How long to wait for something to be published to and found in the DHT (a search may
/// itself take up to the node's search timeout, 10 s).
pub const DHT_DEADLINE: Duration = Duration::from_secs(60);

/// The `qun` binary cargo built for this test.
pub fn qun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qun"))
}

/// A `qun` command for `dir` with a clean environment for the CLI.
pub fn qun_cmd(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("QUN_DATA_DIR")
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(dir);
    cmd
}

/// Runs one CLI call with a timeout.
pub fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = qun_cmd(bin, dir);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CALL_TIMEOUT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!(
                "`qun {}` did not finish in {CALL_TIMEOUT:?}",
                args.join(" ")
            )
        }
    }
}

/// Runs a CLI call that must succeed and print JSON.
pub fn run_json(bin: &Path, dir: &Path, args: &[&str]) -> Value {
    let out = run(bin, dir, args);
    assert!(
        out.status.success(),
        "`qun {}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`qun {}` printed no JSON ({e}): {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Polls `check` until `Ok`, or panics with the last state after `DEADLINE`.
pub fn eventually<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    eventually_within(DEADLINE, what, check)
}

/// Polls `check` until `Ok`, or panics with the last state after `deadline`.
pub fn eventually_within<T>(
    deadline: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return v,
            Err(state) if start.elapsed() >= deadline => {
                panic!("timed out after {deadline:?} waiting for {what}; last seen: {state}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A running daemon; killed if the test ends without stopping it.
pub struct Daemon {
    pub name: &'static str,
    pub dir: TempDir,
    pub child: Option<Child>,
    pub log: PathBuf,
    /// The options after `qun daemon` (kept for [`Daemon::restart`]).
    pub args: Vec<String>,
}

/// The options every test daemon gets, except `--listen` (see [`Daemon::start_in`]).
const BASE_ARGS: [&str; 5] = ["--api", "127.0.0.1:0", "--no-mdns", "--heartbeat-ms", "200"];

impl Daemon {
    pub fn start(bin: &Path, name: &'static str, logs: &Path) -> Daemon {
        Self::start_with(bin, name, logs, &[])
    }

    /// Starts a daemon with `extra` options after the usual ones (e.g. `--bootstrap`).
    pub fn start_with(bin: &Path, name: &'static str, logs: &Path, extra: &[&str]) -> Daemon {
        let mut args = vec!["--listen", "/ip4/127.0.0.1/tcp/0"];
        args.extend_from_slice(extra);
        Self::start_in(bin, name, logs, TempDir::new().unwrap(), &args)
    }

    /// Starts a daemon on `dir` with the usual options and then `args` (no `--listen`
    /// unless given: the daemon's default, a kept port on every interface).
    pub fn start_in(
        bin: &Path,
        name: &'static str,
        logs: &Path,
        dir: TempDir,
        args: &[&str],
    ) -> Daemon {
        let mut d = Daemon {
            name,
            dir,
            child: None,
            log: logs.join(format!("daemon-{name}.log")),
            args: BASE_ARGS
                .iter()
                .chain(args)
                .map(|a| (*a).to_owned())
                .collect(),
        };
        d.spawn(bin);
        d
    }

    /// Starts the daemon again on its data dir with its options, after [`Daemon::terminate`].
    pub fn restart(&mut self, bin: &Path) {
        assert!(self.child.is_none(), "daemon {} is running", self.name);
        self.spawn(bin);
    }

    /// Spawns `qun daemon` (its log appended to `self.log`) and waits for its API file.
    fn spawn(&mut self, bin: &Path) {
        let name = self.name;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = qun_cmd(bin, self.dir.path())
            .arg("daemon")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let api = self.dir.path().join(API_FILE);
        let start = Instant::now();
        while !api.is_file() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "daemon {name} exited early ({status}):\n{}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "daemon {name} wrote no {API_FILE} in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sends SIGTERM and waits up to 10 s for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let ok = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill -TERM failed for daemon {}", self.name);
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "daemon {} did not exit within 10 s of SIGTERM:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- log of daemon {} ---\n{}",
                self.name,
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
    }
}

pub fn texts(history: &Value) -> BTreeSet<String> {
    history
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["kind"] == "text")
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

/// Calls the daemon's API directly, for a route the CLI has no command for.
pub fn api_post(dir: &Path, path: &str) -> Value {
    let file: Value = serde_json::from_slice(&std::fs::read(dir.join(API_FILE)).unwrap()).unwrap();
    let (addr, token) = (
        file["addr"].as_str().unwrap(),
        file["token"].as_str().unwrap(),
    );
    ureq::post(&format!("http://{addr}{path}"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
        .into_json()
        .unwrap()
}

/// Runs a CLI call that must fail; returns its stderr.
pub fn run_err(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = run(bin, dir, args);
    assert!(
        !out.status.success(),
        "`qun {}` must fail, printed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Searches on `dir` until a hit for `group` shows; returns that hit.
pub fn search_until_found(bin: &Path, dir: &Path, query: &str, group: &str) -> Value {
    eventually_within(
        DHT_DEADLINE,
        &format!("`qun search {query}` to find {group}"),
        || {
            let hits = run_json(bin, dir, &["search", query, "--json"]);
            let list = hits
                .as_array()
                .ok_or_else(|| format!("not an array: {hits}"))?;
            list.iter()
                .find(|h| h["group"] == group)
                .cloned()
                .ok_or_else(|| hits.to_string())
        },
    )
}

pub fn has_group(list: &Value, group: &str) -> bool {
    list.as_array()
        .into_iter()
        .flatten()
        .any(|g| g["group"] == group)
}
