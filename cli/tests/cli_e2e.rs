//! End to end through the real `qun` binary: daemons as child processes, driven by CLI
//! commands exactly as a user types them: a group of three chats.
//!
//! Cargo builds the binary for this test (`CARGO_BIN_EXE_qun`), so it is never stale.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

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

    // With DHT peers, `group invite` gives a short code by default; --long the long one.
    let short = eventually("a short invite code", || {
        let v = run_json(&bin, &da, &["group", "invite", &group, "--json"]);
        if v["short"] == true {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    });
    let code = short["invite"].as_str().unwrap();
    assert!(code.starts_with("quns1") && code.len() <= 120, "{short}");
    let long = run_json(&bin, &da, &["group", "invite", &group, "--long", "--json"]);
    assert_eq!(long["short"], false, "{long}");
    assert!(
        long["invite"].as_str().unwrap().starts_with("qun1"),
        "{long}"
    );
    // B, already a member, joins again with the short code: the same group.
    let again = run_json(&bin, &db, &["group", "join", code, "--json"]);
    assert_eq!(again["group"].as_str(), Some(group.as_str()), "{again}");
    // The owner pasting its own code is told it is in already, not "joined".
    let own = run(&bin, &da, &["group", "join", &invite]);
    let own = String::from_utf8_lossy(&own.stdout);
    assert!(own.starts_with("already a member of 周末群"), "{own}");
    // A member asking for the join requests is refused (403), not told there are none.
    let err = run_err(&bin, &db, &["group", "requests", &group]);
    assert!(err.contains("not_admin"), "{err}");

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

    // A reply names its message by the id's tail that `history` prints after `#`.
    let h = run_json(&bin, &da, &["history", &group, "--json"]);
    let first = h
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "text")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tail: String = first
        .chars()
        .rev()
        .take(8)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let line = String::from_utf8(run(&bin, &da, &["history", &group]).stdout).unwrap();
    assert!(line.contains(&format!("#{tail}")), "{line}");
    let reply = run_json(
        &bin,
        &da,
        &["send", &group, "回复", "--reply-to", &tail, "--json"],
    );
    let reply_id = reply["id"].as_str().unwrap();
    let h = run_json(&bin, &da, &["history", &group, "--json"]);
    let sent = h
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply_id)
        .unwrap();
    assert_eq!(sent["reply_to"].as_str(), Some(first.as_str()), "{sent}");
    let before = run_json(&bin, &da, &["history", &group, "--before", &tail, "--json"]);
    assert!(
        before
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["kind"] != "text"),
        "{before}"
    );
    let out = run(&bin, &da, &["send", &group, "x", "--reply-to", "zzzzzzzz"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("full id"), "{err}");

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

    // Moderation: A makes B an admin (named by an id prefix); B mutes C (named by its id
    // tail) for an hour; C's
    // send is refused with the rule; the log and `group info` show it.
    let idb = run_json(&bin, &db, &["id", "--json"])["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let idc = run_json(&bin, &dc, &["id", "--json"])["peer_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = run(&bin, &da, &["group", "role", &group, &idb[..16], "admin"]);
    assert!(
        role.status.success(),
        "{}",
        String::from_utf8_lossy(&role.stderr)
    );
    eventually("B to see itself an admin", || {
        let info = run_json(&bin, &db, &["group", "info", &group, "--json"]);
        (info["admins"] == serde_json::json!([idb]))
            .then_some(())
            .ok_or(info.to_string())
    });
    // C named by the id tail `history` prints after `·`.
    let tail_c = &idc[idc.len() - 6..];
    let mute = run(&bin, &db, &["group", "mute", &group, tail_c, "--for", "1h"]);
    assert!(
        mute.status.success(),
        "{}",
        String::from_utf8_lossy(&mute.stderr)
    );
    eventually("C to see itself muted", || {
        let info = run_json(&bin, &dc, &["group", "info", &group, "--json"]);
        (info["muted"][0]["member"] == idc.as_str())
            .then_some(())
            .ok_or(info.to_string())
    });
    let muted = run(&bin, &dc, &["send", &group, "C 被禁言"]);
    let err = String::from_utf8_lossy(&muted.stderr);
    assert!(!muted.status.success() && err.contains("(muted)"), "{err}");
    let log = run_json(&bin, &da, &["group", "log", &group, "--json"]);
    let kinds: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| !matches!(*k, "join" | "meta" | "announcement"))
        .collect();
    assert_eq!(kinds, ["role", "mute"], "{log}");
    let text = run(&bin, &da, &["group", "info", &group]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("admins:") && text.contains("muted:"),
        "{text}"
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
