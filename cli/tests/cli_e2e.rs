//! End to end through the real `qun` binary: daemons as child processes, driven by CLI
//! commands exactly as a user types them. One test chats in a group of three; the other
//! finds groups through the DHT, joins them by id, and uses profiles and group stats.
//!
//! Cargo builds the binary for this test (`CARGO_BIN_EXE_qun`), so it is never stale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const API_FILE: &str = "api.json";
/// Longest one CLI call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to wait for the network to deliver something.
const DEADLINE: Duration = Duration::from_secs(20);
/// How long to wait for something to be published to and found in the DHT (a search may
/// itself take up to the node's search timeout, 10 s).
const DHT_DEADLINE: Duration = Duration::from_secs(60);

/// The `qun` binary cargo built for this test.
fn qun_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qun"))
}

/// A `qun` command for `dir` with a clean environment for the CLI.
fn qun_cmd(bin: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_remove("QUN_DATA_DIR")
        .env("RUST_LOG", "warn")
        .arg("--data-dir")
        .arg(dir);
    cmd
}

/// Runs one CLI call with a timeout.
fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
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
fn run_json(bin: &Path, dir: &Path, args: &[&str]) -> Value {
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
fn eventually<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    eventually_within(DEADLINE, what, check)
}

/// Polls `check` until `Ok`, or panics with the last state after `deadline`.
fn eventually_within<T>(
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
struct Daemon {
    name: &'static str,
    dir: TempDir,
    child: Option<Child>,
    log: PathBuf,
}

impl Daemon {
    fn start(bin: &Path, name: &'static str, logs: &Path) -> Daemon {
        Self::start_with(bin, name, logs, &[])
    }

    /// Starts a daemon with `extra` options after the usual ones (e.g. `--bootstrap`).
    fn start_with(bin: &Path, name: &'static str, logs: &Path, extra: &[&str]) -> Daemon {
        let dir = TempDir::new().unwrap();
        let log = logs.join(format!("daemon-{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let child = qun_cmd(bin, dir.path())
            .args([
                "daemon",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
                "--heartbeat-ms",
                "200",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().unwrap()))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        let mut d = Daemon {
            name,
            dir,
            child: Some(child),
            log,
        };
        let api = d.dir.path().join(API_FILE);
        let start = Instant::now();
        while !api.is_file() {
            if let Some(status) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "daemon {name} exited early ({status}):\n{}",
                    std::fs::read_to_string(&d.log).unwrap_or_default()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "daemon {name} wrote no {API_FILE} in 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Sends SIGTERM and waits up to 10 s for the exit status.
    fn terminate(&mut self) -> ExitStatus {
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

fn texts(history: &Value) -> BTreeSet<String> {
    history
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["kind"] == "text")
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn cli_end_to_end() {
    let bin = qun_bin();
    let logs = TempDir::new().unwrap();
    let mut daemons = [
        Daemon::start(&bin, "A", logs.path()),
        Daemon::start(&bin, "B", logs.path()),
        Daemon::start(&bin, "C", logs.path()),
    ];
    let [da, db, dc] =
        [daemons[0].path(), daemons[1].path(), daemons[2].path()].map(Path::to_path_buf);
    let all = [
        ("A", da.as_path()),
        ("B", db.as_path()),
        ("C", dc.as_path()),
    ];

    // Create on A, join on B and C with the printed invite.
    let created = run_json(&bin, &da, &["group", "create", "周末群", "--json"]);
    let group = created["group"].as_str().unwrap().to_owned();
    let invite = created["invite"].as_str().unwrap().to_owned();
    assert!(!group.is_empty());
    assert!(invite.starts_with("qun1"), "{created}");
    for dir in [&db, &dc] {
        let joined = run_json(&bin, dir, &["group", "join", &invite, "--json"]);
        assert_eq!(joined["group"].as_str(), Some(group.as_str()), "{joined}");
    }
    for (name, dir, min) in [("A", &da, 2), ("B", &db, 1), ("C", &dc, 1)] {
        eventually(&format!("{name} to see {min} topic peer(s)"), || {
            let info = run_json(&bin, dir, &["group", "info", &group, "--json"]);
            if info["topic_peers"].as_u64().unwrap_or(0) >= min {
                Ok(())
            } else {
                Err(info.to_string())
            }
        });
    }

    // Everyone says hello; everyone sees all three.
    let mut want = BTreeSet::new();
    for (name, dir) in all {
        let text = format!("hello from {name}");
        let sent = run_json(&bin, dir, &["send", &group, &text, "--json"]);
        assert!(
            sent["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{sent}"
        );
        want.insert(text);
    }
    for (name, dir) in all {
        eventually(
            &format!("{name}'s history to hold all three hellos"),
            || {
                let h = run_json(&bin, dir, &["history", &group, "--limit", "1000", "--json"]);
                let have = texts(&h);
                if want.is_subset(&have) {
                    Ok(())
                } else {
                    Err(format!("{have:?}"))
                }
            },
        );
    }

    // Group info, resolving the group by its (Chinese) name.
    let info = run_json(&bin, &da, &["group", "info", "周末群", "--json"]);
    assert_eq!(info["group"].as_str(), Some(group.as_str()), "{info}");
    assert_eq!(info["name"], "周末群");
    assert!(
        info["topic"]
            .as_str()
            .is_some_and(|t| t.starts_with("qun/1/")),
        "{info}"
    );
    assert_eq!(info["epoch"], 0);
    assert!(info["members"].is_array(), "{info}");
    assert!(info["mesh_peers"].is_u64(), "{info}");
    assert!(info.get("announcement").is_some(), "{info}");
    assert!(info["announcement"].is_null(), "{info}");

    // A forced sync: everyone already has everything, so it brings nothing new, and the
    // sync state shows a completed sync.
    let synced = run_json(&bin, &db, &["sync", &group, "--json"]);
    assert_eq!(synced["group"].as_str(), Some(group.as_str()), "{synced}");
    assert_eq!(synced["new"], 0, "{synced}");
    assert!(
        synced["sync"]["completed"].as_u64().is_some_and(|n| n >= 1),
        "{synced}"
    );
    assert_eq!(synced["sync"]["running"], 0, "{synced}");
    assert_eq!(info["history"], "all", "{info}");

    // The owner's announcement reaches B; B may not announce.
    let ann = run(&bin, &da, &["announce", &group, "公告"]);
    assert!(
        ann.status.success(),
        "announce failed: {}",
        String::from_utf8_lossy(&ann.stderr)
    );
    eventually("B to show the announcement", || {
        let info = run_json(&bin, &db, &["group", "info", &group, "--json"]);
        if info["announcement"]["text"] == "公告" {
            Ok(())
        } else {
            Err(info["announcement"].to_string())
        }
    });
    let refused = run(&bin, &db, &["announce", &group, "B 的公告"]);
    assert!(
        !refused.status.success(),
        "a member's announce must fail: {}",
        String::from_utf8_lossy(&refused.stdout)
    );
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not allowed"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // id and peers.
    let id = run_json(&bin, &da, &["id", "--json"]);
    let peer_id = id["peer_id"].as_str().unwrap();
    assert!(!peer_id.is_empty(), "{id}");
    let addrs = id["addrs"].as_array().unwrap();
    assert!(!addrs.is_empty(), "{id}");
    for a in addrs {
        assert!(
            a.as_str()
                .is_some_and(|a| a.starts_with("/ip4/127.0.0.1/tcp/")
                    && a.ends_with(&format!("/p2p/{peer_id}"))),
            "{id}"
        );
    }
    let peers = run_json(&bin, &da, &["peers", "--json"]);
    let peers = peers.as_array().expect("peers --json is an array");
    assert!(peers.len() >= 2, "A is connected to B and C: {peers:?}");
    for p in peers {
        assert!(p["peer_id"].is_string() && p["addrs"].is_array(), "{p}");
    }

    // No daemon for this data dir: a clear error and a failure exit.
    let empty = TempDir::new().unwrap();
    let out = run(&bin, empty.path(), &["group", "list"]);
    assert!(!out.status.success(), "a call without a daemon must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the daemon is not running"), "{err}");
    assert!(
        !empty.path().join(API_FILE).exists(),
        "a client must not create an API file"
    );

    // An empty text is refused with a one-line error.
    let out = run(&bin, &da, &["send", &group, ""]);
    assert!(!out.status.success(), "sending an empty text must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim().lines().count(),
        1,
        "one-line error, got: {err:?}"
    );
    assert!(err.starts_with("qun: "), "{err:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout: {:?}", out.stdout);

    // SIGTERM: a clean exit that removes the API file.
    for d in daemons.iter_mut() {
        let status = d.terminate();
        assert!(
            status.success(),
            "daemon {} exited with {status}:\n{}",
            d.name,
            std::fs::read_to_string(&d.log).unwrap_or_default()
        );
        assert!(
            !d.path().join(API_FILE).exists(),
            "daemon {} left its {API_FILE} behind",
            d.name
        );
    }
}

/// Calls the daemon's API directly, for a route the CLI has no command for.
fn api_post(dir: &Path, path: &str) -> Value {
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
fn run_err(bin: &Path, dir: &Path, args: &[&str]) -> String {
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
fn search_until_found(bin: &Path, dir: &Path, query: &str, group: &str) -> Value {
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

fn has_group(list: &Value, group: &str) -> bool {
    list.as_array()
        .into_iter()
        .flatten()
        .any(|g| g["group"] == group)
}

#[test]
fn discovery_end_to_end() {
    let bin = qun_bin();
    let logs = TempDir::new().unwrap();
    let a = Daemon::start(&bin, "A", logs.path());
    let id_a = run_json(&bin, a.path(), &["id", "--json"]);
    let addr_a = id_a["addrs"][0].as_str().unwrap().to_owned();
    let b = Daemon::start_with(&bin, "B", logs.path(), &["--bootstrap", &addr_a]);
    let (da, db) = (a.path().to_path_buf(), b.path().to_path_buf());
    let id_b = run_json(&bin, &db, &["id", "--json"]);
    let author_b = id_b["peer_id"].as_str().unwrap().to_owned();

    // B's profile first, so that A's lookups later find it.
    let set = run_json(
        &bin,
        &db,
        &[
            "profile",
            "set",
            "--name",
            "小林",
            "--gender",
            "female",
            "--birth-year",
            "1990",
            "--json",
        ],
    );
    assert_eq!(set["name"], "小林", "{set}");
    let shown = run_json(&bin, &db, &["profile", "show", "--json"]);
    assert_eq!(shown["author"].as_str(), Some(author_b.as_str()), "{shown}");
    assert_eq!(shown["name"], "小林", "{shown}");
    assert_eq!(shown["gender"], "female", "{shown}");
    assert_eq!(shown["birth_year"], 1990, "{shown}");
    let err = run_err(&bin, &da, &["profile", "show"]);
    assert!(err.contains("no profile yet"), "{err}");

    // A public group with a Chinese name and a tag, published now.
    let created = run_json(
        &bin,
        &da,
        &[
            "group",
            "create",
            "周末爬山群",
            "--description",
            "Saturday hikes",
            "--tag",
            "hiking",
            "--visibility",
            "public",
            "--json",
        ],
    );
    let group = created["group"].as_str().unwrap().to_owned();
    assert_eq!(
        api_post(&da, "/v1/discovery/announce"),
        serde_json::json!({ "ok": true })
    );

    // B finds it by two characters of its name, and joins it by id.
    let hit = search_until_found(&bin, &db, "爬山", &group);
    assert_eq!(hit["name"], "周末爬山群", "{hit}");
    assert_eq!(hit["description"], "Saturday hikes", "{hit}");
    assert_eq!(hit["tags"], serde_json::json!(["hiking"]), "{hit}");
    assert_eq!(hit["visibility"], "public", "{hit}");
    assert!(hit["members"].as_u64().is_some_and(|n| n >= 1), "{hit}");
    let joined = run_json(&bin, &db, &["group", "join", &group, "--json"]);
    assert_eq!(joined["group"].as_str(), Some(group.as_str()), "{joined}");
    assert_eq!(joined["status"], "joined", "{joined}");
    assert!(has_group(
        &run_json(&bin, &db, &["group", "list", "--json"]),
        &group
    ));
    let again = run(&bin, &db, &["group", "join", &group]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        format!("joined 周末爬山群 ({group})")
    );

    // Nothing matches: exit 0 and say so.
    let none = run(&bin, &db, &["search", "不存在"]);
    assert!(
        none.status.success(),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&none.stdout).trim(),
        "no groups found"
    );

    // A sees B's profile (from the DHT), then B in the group's stats.
    let seen = eventually_within(DHT_DEADLINE, "A to find B's profile", || {
        let out = run(&bin, &da, &["profile", "show", &author_b, "--json"]);
        if out.status.success() {
            Ok(serde_json::from_slice::<Value>(&out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    assert_eq!(seen["name"], "小林", "{seen}");
    let stats = eventually("A's stats to count B", || {
        let st = run_json(&bin, &da, &["group", "stats", "周末爬山群", "--json"]);
        if st["members"].as_u64() >= Some(2) && st["gender"]["female"].as_u64() >= Some(1) {
            Ok(st)
        } else {
            Err(st.to_string())
        }
    });
    for k in [
        "group",
        "name",
        "members",
        "active_7d",
        "online",
        "gender",
        "female_ratio",
        "average_age",
        "age_based_on",
        "profiles_found",
    ] {
        assert!(stats.get(k).is_some(), "no {k}: {stats}");
    }
    for k in ["female", "male", "other", "based_on"] {
        assert!(stats["gender"][k].is_u64(), "no gender.{k}: {stats}");
    }
    assert_eq!(stats["group"].as_str(), Some(group.as_str()), "{stats}");
    let human = run(&bin, &da, &["group", "stats", &group]);
    let human = String::from_utf8_lossy(&human.stdout);
    assert!(human.contains("members 2 · active (7 days)"), "{human}");

    // A listed group: B asks, A approves, B is in.
    let listed = run_json(
        &bin,
        &da,
        &[
            "group",
            "create",
            "读书会",
            "--tag",
            "books",
            "--visibility",
            "listed",
            "--json",
        ],
    );
    let listed = listed["group"].as_str().unwrap().to_owned();
    api_post(&da, "/v1/discovery/announce");
    let hit = search_until_found(&bin, &db, "读书", &listed);
    assert_eq!(hit["visibility"], "listed", "{hit}");
    let asked = run(
        &bin,
        &db,
        &["group", "join", &listed, "--note", "我也爱读书"],
    );
    assert!(
        asked.status.success(),
        "{}",
        String::from_utf8_lossy(&asked.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&asked.stdout).trim(),
        "asked to join 读书会: waiting for an admin's approval"
    );
    let request = eventually("A to list B's join request", || {
        let list = run_json(&bin, &da, &["group", "requests", "读书会", "--json"]);
        list.as_array()
            .and_then(|l| {
                l.iter()
                    .find(|r| r["requester"] == author_b.as_str())
                    .cloned()
            })
            .ok_or_else(|| list.to_string())
    });
    assert_eq!(request["note"], "我也爱读书", "{request}");
    assert_eq!(request["status"], "pending", "{request}");
    let decided = run_json(
        &bin,
        &da,
        &["group", "approve", "读书会", &author_b, "--json"],
    );
    assert_eq!(decided["status"], "approved", "{decided}");
    eventually("B to be in the listed group", || {
        let list = run_json(&bin, &db, &["group", "list", "--json"]);
        if has_group(&list, &listed) {
            Ok(())
        } else {
            Err(list.to_string())
        }
    });
    let err = run_err(
        &bin,
        &da,
        &[
            "group",
            "reject",
            "读书会",
            id_a["peer_id"].as_str().unwrap(),
        ],
    );
    assert!(err.contains("no join request"), "{err}");
}
