//! Discovery on a 30-node network of real nodes (TCP loopback, noise, yamux, Kademlia).
//!
//! Node 0 is a bootstrap peer in no group; every other node knows only node 0. Groups:
//! a public group with a Chinese name (5 members, some history, profiles with known
//! fields), a second public photo group, a listed group and a private group. A searcher
//! in no group finds the public group by a two-character part of its name and by an
//! English tag, joins it by id and receives its history; a listed group goes
//! request → approve → joined; the private group is never found; the owner's stats match
//! the known population.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeSet;
use std::time::Duration;

use common::{DEADLINE, bootstrap_from, eventually, history, now_ms, texts, wait_texts};
use qun_node::{Config, CreateGroup, History, Node, NodeEvent, ProfileUpdate};
use qun_protocol::discovery::profile::year_of;
use qun_protocol::{GroupId, Visibility};

const NODES: usize = 30;

async fn start(dir: &std::path::Path, bootstrap: Option<&Node>) -> Node {
    let mut cfg = Config::for_test(dir);
    if let Some(b) = bootstrap {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

fn public(name: &str, tags: &[&str], visibility: Visibility) -> CreateGroup {
    CreateGroup {
        name: name.to_owned(),
        description: format!("about {name}"),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        visibility,
    }
}

/// Searches until `want` is among the hits (provider records take a moment to land).
async fn find(node: &Node, query: &str, want: GroupId) -> qun_node::SearchResult {
    eventually(
        DEADLINE,
        &format!("a search for {query:?} to find {want}"),
        || async {
            let r = node.search(query).await.map_err(|e| e.to_string())?;
            if r.hits.iter().any(|h| h.group == want.to_string()) {
                Ok(r)
            } else {
                Err(format!("{r:?}"))
            }
        },
    )
    .await
}

async fn set_profile(node: &Node, name: &str, gender: Option<&str>, birth: Option<u16>) {
    node.set_profile(ProfileUpdate {
        name: Some(name.to_owned()),
        gender: gender.map(str::to_owned),
        birth_year: birth,
        ..ProfileUpdate::default()
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_join_request_and_stats_on_thirty_nodes() {
    // RUST_LOG=qun_node=debug shows what the nodes do.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let boot = start(&dir.path().join("n0"), None).await;
    let mut nodes = vec![boot.clone()];
    for i in 1..NODES {
        nodes.push(start(&dir.path().join(format!("n{i}")), Some(&boot)).await);
    }
    let searcher = nodes[NODES - 1].clone();
    let requester = nodes[NODES - 2].clone();

    // Groups.
    let sz = nodes[1]
        .create_group(public(
            "深圳摄影爱好者",
            &["photography", "shenzhen"],
            Visibility::Public,
        ))
        .await
        .unwrap();
    let sz_id: GroupId = sz.group.parse().unwrap();
    let bj = nodes[7]
        .create_group(public("北京摄影", &["beijing"], Visibility::Public))
        .await
        .unwrap();
    let bj_id: GroupId = bj.group.parse().unwrap();
    let listed = nodes[8]
        .create_group(public("Rust 学习小组", &["rustlang"], Visibility::Listed))
        .await
        .unwrap();
    let listed_id: GroupId = listed.group.parse().unwrap();
    let secret = nodes[9]
        .create_group(public("秘密摄影基地", &["hidden"], Visibility::Private))
        .await
        .unwrap();
    for n in &nodes[2..=5] {
        n.join(&sz.invite).await.unwrap();
    }
    // History in the public group, and a known population of profiles.
    let mut want = BTreeSet::new();
    for (i, n) in nodes[1..=3].iter().enumerate() {
        let text = format!("照片 {i}");
        n.send(sz_id, &text, None).await.unwrap();
        want.insert(text);
    }
    wait_texts("member 5", &nodes[5], sz_id, &want).await;
    set_profile(&nodes[1], "阿玲", Some("female"), Some(1990)).await;
    set_profile(&nodes[2], "Bo", Some("male"), Some(1985)).await;
    set_profile(&nodes[3], "Cai", Some("female"), Some(2000)).await;
    set_profile(&nodes[4], "Dee", Some("other"), None).await;
    set_profile(&nodes[5], "Eli", None, None).await;

    for n in &nodes {
        n.announce_discovery().await.unwrap();
    }

    // Search by a two-character part of the Chinese name, and by an English tag.
    let r = find(&searcher, "爱好", sz_id).await;
    assert_eq!(r.tokens, vec!["爱好".to_string()]);
    assert!(
        !r.hits.iter().any(|h| h.group == bj_id.to_string()),
        "北京摄影 does not contain 爱好: {r:?}"
    );
    let hit = &r.hits[0];
    assert_eq!(hit.name, "深圳摄影爱好者");
    assert_eq!(hit.visibility, "public");
    assert_eq!(hit.tags, vec!["photography", "shenzhen"]);
    assert!(r.dht_requests > 0, "{r:?}");
    let r = find(&searcher, "photography", sz_id).await;
    assert_eq!(r.hits[0].group, sz_id.to_string());
    // "摄影" is in both public photo groups; the bigger one ranks first.
    let r = find(&searcher, "摄影", bj_id).await;
    let order: Vec<&str> = r.hits.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(order, vec!["深圳摄影爱好者", "北京摄影"], "{r:?}");
    // The private group is never in the DHT.
    let r = searcher.search("基地").await.unwrap();
    assert!(r.hits.is_empty(), "a private group was found: {r:?}");
    assert!(
        !r.hits.iter().any(|h| h.group == secret.group),
        "private group found"
    );

    // Join the public group by id: the secret comes from its card; the history follows.
    let out = searcher.join_group(sz_id, "", History::All).await.unwrap();
    assert_eq!(out.status, "joined");
    let h = wait_texts("searcher", &searcher, sz_id, &want).await;
    assert_eq!(texts(&h), want);

    // A listed group: request → approve → joined.
    let mut events = requester.subscribe();
    find(&requester, "rust", listed_id).await;
    let out = requester
        .join_group(listed_id, "我想学 Rust", History::All)
        .await
        .unwrap();
    assert_eq!(out.status, "requested");
    assert!(
        requester.group_info(listed_id).await.is_err(),
        "joined before approval"
    );
    let owner = &nodes[8];
    let reqs = eventually(DEADLINE, "the owner to receive the request", || async {
        let v = owner
            .join_requests(listed_id)
            .await
            .map_err(|e| e.to_string())?;
        if v.is_empty() {
            Err("none".into())
        } else {
            Ok(v)
        }
    })
    .await;
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].note, "我想学 Rust");
    assert_eq!(reqs[0].status, "pending");
    assert_eq!(reqs[0].requester, requester.peer_id().to_string());
    owner
        .send(listed_id, "welcome, reader of this history", None)
        .await
        .unwrap();
    let view = owner
        .decide_join(
            listed_id,
            requester.peer_id().to_string().parse().unwrap(),
            true,
        )
        .await
        .unwrap();
    assert_eq!(view.status, "approved");
    let joined = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Joined { group }) if group == listed_id.to_string() => return,
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await;
    assert!(joined.is_ok(), "no Joined event after approval");
    let welcome = BTreeSet::from(["welcome, reader of this history".to_string()]);
    wait_texts("requester", &requester, listed_id, &welcome).await;

    // Joining by id with no search first: the card comes from the DHT.
    let out = requester.join_group(bj_id, "", History::All).await.unwrap();
    assert_eq!(
        (out.status.as_str(), out.name.as_str()),
        ("joined", "北京摄影")
    );
    assert!(requester.group_info(bj_id).await.is_ok());
    // A private group's id finds nothing.
    let err = requester
        .join_group(secret.group.parse().unwrap(), "", History::All)
        .await
        .unwrap_err();
    assert!(matches!(err, qun_node::Error::NotFound(_)), "{err}");

    // Stats of the public group, from its owner: 6 members (5 + the searcher).
    let stats = eventually(DEADLINE, "stats with 6 members", || async {
        let s = nodes[1]
            .group_stats(sz_id)
            .await
            .map_err(|e| e.to_string())?;
        if s.members == 6 && s.profiles_found == 5 {
            Ok(s)
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let year = year_of(now_ms()) as f64;
    assert_eq!(stats.active_7d, 3, "{stats:?}");
    assert_eq!(stats.online, 6, "{stats:?}");
    assert_eq!(
        (
            stats.gender.female,
            stats.gender.male,
            stats.gender.other,
            stats.gender.based_on
        ),
        (2, 1, 1, 4),
        "{stats:?}"
    );
    assert_eq!(stats.female_ratio, Some(0.5));
    assert_eq!(stats.age_based_on, 3);
    let avg = ((year - 1990.0) + (year - 1985.0) + (year - 2000.0)) / 3.0;
    assert!((stats.average_age.unwrap() - avg).abs() < 1e-9, "{stats:?}");

    // Someone else's profile, from the DHT.
    let p = searcher
        .profile(Some(nodes[2].peer_id().to_string().parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        (p.name.as_str(), p.gender.as_deref(), p.birth_year),
        ("Bo", Some("male"), Some(1985))
    );
    let _ = history(&searcher, sz_id).await;
    for n in &nodes {
        n.shutdown().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
}
