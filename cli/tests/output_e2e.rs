//! End to end through the real `qun` binary: what a hostile member, stranger or name can
//! make the CLI print, a closed standard output, and the API's error bodies.
//!
//! One member sends a message built to take over a terminal (set the title, clear the
//! screen, paint a forged line, override the text direction); another member's `history`,
//! `watch` and `group info` print it escaped, `--json` prints it exactly. The same for a
//! join-request note, a group description and a profile bio; a profile name with controls
//! is refused. Authors are shown by their profile name and an id tail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::BufRead;
use std::process::{Child, Stdio};
use std::sync::mpsc;

use common::*;
use qun_protocol::text::is_unsafe;

/// Sets the window title, clears the screen, paints a red "fake", returns the cursor over
/// it, reverses the text direction, hides a joiner and starts a new line.
const ATTACK: &str =
    "hi\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}[31mfake\u{1b}[0m\rX\u{202e}gnp.exe\u{200d}z\nline2";
/// How [`ATTACK`] reads once escaped.
const ESCAPED: &str =
    "hi\\e]0;PWNED\\a\\e[2J\\e[31mfake\\e[0m\\rX\\u{202e}gnp.exe\\u{200d}z\\nline2";

/// Panics if `out` holds a character a terminal acts on (other than the line ends).
fn assert_safe(what: &str, out: &str) {
    let bad: Vec<char> = out
        .chars()
        .filter(|c| *c != '\n' && is_unsafe(*c))
        .collect();
    assert!(bad.is_empty(), "{what} printed raw {bad:?}: {out:?}");
}

/// A human-readable call that must succeed; its stdout, checked safe.
fn human(bin: &Path, dir: &Path, args: &[&str]) -> String {
    let out = run(bin, dir, args);
    assert!(
        out.status.success(),
        "`qun {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_safe(&format!("`qun {}`", args.join(" ")), &text);
    text
}

/// The last `n` characters of an id.
fn tail(id: &str, n: usize) -> &str {
    &id[id.len() - n..]
}

/// `qun watch` running, its lines read on a thread.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watch {
    fn start(bin: &Path, dir: &Path, args: &[&str]) -> Watch {
        let mut child = qun_cmd(bin, dir)
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        // Give the subscription a moment to be in place before events happen.
        std::thread::sleep(Duration::from_millis(500));
        Watch { child, lines }
    }

    /// The first line containing `needle`, within `deadline`.
    fn line_with(&self, needle: &str, deadline: Duration) -> String {
        let end = Instant::now() + deadline;
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(l) => seen.push(l),
                Err(_) => break,
            }
        }
        panic!("no watch line with {needle:?} in {deadline:?}; saw {seen:?}")
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn hostile_text_is_escaped_in_every_human_line() {
    let bin = qun_bin();
    let logs = TempDir::new().unwrap();
    let a = Daemon::start(&bin, "A", logs.path());
    let id_a = run_json(&bin, a.path(), &["id", "--json"]);
    let author_a = id_a["peer_id"].as_str().unwrap().to_owned();
    let addr_a = id_a["addrs"][0].as_str().unwrap().to_owned();
    let b = Daemon::start_with(&bin, "B", logs.path(), &["--bootstrap", &addr_a]);
    let (da, db) = (a.path().to_path_buf(), b.path().to_path_buf());
    let author_b = run_json(&bin, &db, &["id", "--json"])["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("B to be connected to A", || {
        let peers = run_json(&bin, &db, &["peers", "--json"]);
        if peers.to_string().contains(&author_a) {
            Ok(())
        } else {
            Err(peers.to_string())
        }
    });

    // A profile name with controls or an override is refused, and the error is escaped.
    for bad in ["\u{1b}]0;x\u{7}evil", "Li\u{202e}", "\u{200b}"] {
        let err = run_err(&bin, &da, &["profile", "set", "--name", bad]);
        assert_safe("the refusal of a bad profile name", &err);
        assert!(err.contains("display name"), "{err}");
    }
    // A fine name; the bio may hold anything, and is shown escaped.
    let set = run_json(
        &bin,
        &da,
        &[
            "profile", "set", "--name", "小林", "--bio", ATTACK, "--json",
        ],
    );
    assert_eq!(set["bio"], ATTACK, "{set}");
    run_json(&bin, &db, &["profile", "set", "--name", "Li", "--json"]);

    // A group with a trailing space in its name and a hostile description.
    let created = run_json(
        &bin,
        &da,
        &[
            "group",
            "create",
            "hiking ",
            "--description",
            ATTACK,
            "--visibility",
            "listed",
            "--json",
        ],
    );
    let group = created["group"].as_str().unwrap().to_owned();
    let invite = created["invite"].as_str().unwrap().to_owned();
    run_json(&bin, &db, &["group", "join", &invite, "--json"]);
    for (name, dir) in [("A", &da), ("B", &db)] {
        eventually(&format!("{name} to see a topic peer"), || {
            let info = run_json(&bin, dir, &["group", "info", &group, "--json"]);
            if info["topic_peers"].as_u64().unwrap_or(0) >= 1 {
                Ok(())
            } else {
                Err(info.to_string())
            }
        });
    }

    // The attack, sent to the group by its name typed without the space.
    let watch_b = Watch::start(&bin, &db, &[&group]);
    run_json(&bin, &da, &["send", "hiking", ATTACK, "--json"]);
    let line = watch_b.line_with("PWNED", DEADLINE);
    assert_safe("B's watch", &line);
    assert!(line.contains(ESCAPED), "{line}");

    // B's history: escaped for people, exact in JSON, and A shown by name.
    let h = eventually("B's history to hold the attack", || {
        let h = run_json(&bin, &db, &["history", &group, "--json"]);
        h.as_array()
            .and_then(|l| l.iter().find(|m| m["text"] == ATTACK).cloned())
            .ok_or_else(|| h.to_string())
    });
    assert_eq!(h["author"].as_str(), Some(author_a.as_str()), "{h}");
    let named = format!("小林 ·{}", tail(&author_a, 6));
    let text = eventually_within(DHT_DEADLINE, "B's history to name A", || {
        let text = human(&bin, &db, &["history", "hiking"]);
        if text.contains(&format!("{named}: {ESCAPED}")) {
            Ok(text)
        } else {
            Err(text)
        }
    });
    assert!(!text.contains("PWNED\u{7}"), "{text}");
    let json = run_json(&bin, &db, &["history", "hiking", "--json"]);
    let m = json
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["text"] == ATTACK)
        .unwrap()
        .clone();
    assert_eq!(m["author_name"], "小林", "{m}");
    // Once the name is known, watch names A too.
    run_json(&bin, &da, &["send", &group, "second\u{7}", "--json"]);
    let line = watch_b.line_with("second", DEADLINE);
    assert!(line.contains(&format!("{named}: second\\a")), "{line}");

    // The description on B: escaped in `group info`, exact with --json.
    let info = human(&bin, &db, &["group", "info", &group]);
    assert!(info.contains(&format!("description: {ESCAPED}")), "{info}");
    let info = run_json(&bin, &db, &["group", "info", &group, "--json"]);
    assert_eq!(info["description"], ATTACK, "{info}");
    // The bio on B.
    let shown = eventually_within(DHT_DEADLINE, "B to find A's profile", || {
        let out = run(&bin, &db, &["profile", "show", &author_a]);
        if out.status.success() {
            Ok(String::from_utf8(out.stdout).unwrap())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    assert_safe("B's profile show", &shown);
    assert!(shown.contains(&format!("bio:     {ESCAPED}")), "{shown}");

    // A join request with a hostile note, to a listed group found by its id.
    let books = run_json(
        &bin,
        &da,
        &[
            "group",
            "create",
            "books",
            "--visibility",
            "listed",
            "--json",
        ],
    )["group"]
        .as_str()
        .unwrap()
        .to_owned();
    api_post(&da, "/v1/discovery/announce");
    let watch_a = Watch::start(&bin, &da, &[]);
    eventually_within(DHT_DEADLINE, "B's join request to be sent", || {
        let out = run(&bin, &db, &["group", "join", &books, "--note", ATTACK]);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    });
    let line = watch_a.line_with("join request", DEADLINE);
    assert_safe("A's watch of a join request", &line);
    assert!(line.contains(ESCAPED), "{line}");
    let requests = eventually_within(DHT_DEADLINE, "A to list B's request by name", || {
        let text = human(&bin, &da, &["group", "requests", "books"]);
        if text.contains(&format!("Li ·{}", tail(&author_b, 6))) {
            Ok(text)
        } else {
            Err(text)
        }
    });
    assert!(requests.contains(ESCAPED), "{requests}");
    let json = run_json(&bin, &da, &["group", "requests", "books", "--json"]);
    assert_eq!(json[0]["note"], ATTACK, "{json}");
}

#[test]
#[allow(clippy::result_large_err)] // ureq's error, in a test
fn a_closed_stdout_ends_quietly_and_api_errors_are_json() {
    let bin = qun_bin();
    let logs = TempDir::new().unwrap();
    let a = Daemon::start(&bin, "A", logs.path());
    let da = a.path().to_path_buf();
    let group = run_json(&bin, &da, &["group", "create", "pipe", "--json"])["group"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        run_json(&bin, &da, &["send", &group, &format!("line {i}"), "--json"]);
    }

    // `qun history G --limit 200` into a pipe closed before it writes: no panic, exit 0.
    let mut child = qun_cmd(&bin, &da)
        .args(["history", &group, "--limit", "200"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
    // The same through a shell, as typed.
    let cmd = format!(
        "set -o pipefail; '{}' --data-dir '{}' history {group} --limit 200 | head -1",
        bin.display(),
        da.display()
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &cmd])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    // `qun watch` ends at its first line once the reader is gone.
    let mut watch = qun_cmd(&bin, &da)
        .args(["watch", &group])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(watch.stdout.take());
    std::thread::sleep(Duration::from_millis(500));
    let status = eventually("watch to end on a closed stdout", || {
        run_json(&bin, &da, &["send", &group, "wake", "--json"]);
        watch
            .try_wait()
            .unwrap()
            .ok_or_else(|| "still running".to_owned())
    });
    assert!(status.success(), "watch exited with {status}");

    // Every error answer of the API is {"error": "..."}, axum's rejections included.
    let file: Value = serde_json::from_slice(&std::fs::read(da.join(API_FILE)).unwrap()).unwrap();
    let base = format!("http://{}", file["addr"].as_str().unwrap());
    let auth = format!("Bearer {}", file["token"].as_str().unwrap());
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(3 << 20));
    /// Method, path, content type and body, and the status wanted.
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>, u16);
    let cases: [Case<'_>; 7] = [
        (
            "POST",
            "/v1/groups",
            Some(("application/json", "{\"name\": 5}")),
            422,
        ),
        ("POST", "/v1/groups", Some(("application/json", "{")), 400),
        (
            "POST",
            "/v1/groups",
            Some(("text/plain", "{\"name\": \"x\"}")),
            415,
        ),
        (
            "POST",
            "/v1/groups",
            Some(("application/json", big.as_str())),
            413,
        ),
        (
            "GET",
            &format!("/v1/groups/{group}/messages?limit=many"),
            None,
            400,
        ),
        ("GET", "/v1/no-such-route", None, 404),
        ("DELETE", "/v1/id", None, 405),
    ];
    for (method, path, body, want) in cases {
        let call = || {
            let req = ureq::request(method, &format!("{base}{path}")).set("Authorization", &auth);
            match body {
                Some((ct, b)) => req.set("Content-Type", ct).send_string(b),
                None => req.call(),
            }
        };
        // The server may answer 413 and close while the 3 MiB body is still being written:
        // the client then sees a reset instead of the answer; a few tries get the answer.
        let mut res = call();
        for _ in 0..5 {
            if !matches!(res, Err(ureq::Error::Transport(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            res = call();
        }
        let (code, res) = match res {
            Err(ureq::Error::Status(code, res)) => (code, res),
            Err(e) => panic!("{method} {path}: {e}"),
            Ok(r) => panic!("{method} {path}: not an error answer: {}", r.status()),
        };
        assert_eq!(code, want, "{method} {path}");
        let ct = res.header("Content-Type").unwrap_or("").to_owned();
        let text = res.into_string().unwrap();
        assert!(
            ct.starts_with("application/json"),
            "{method} {path}: {ct} {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{method} {path}: {text}"
        );
    }
}
