//! End to end through the real `qun` binary: two daemons find groups through the DHT, join
//! them by id (a public one at once, a listed one after approval), and use profiles and
//! group stats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

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
        format!("already a member of 周末爬山群 ({group})")
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
