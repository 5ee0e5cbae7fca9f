//! Data dirs written by an older qun open and keep everything (issue 12, deliverable 5):
//! the store is migrated at open (once: a second open changes nothing), the nodes show the
//! same groups, histories, profiles and join requests as before, and go on working.
//!
//! `tests/fixtures/datadir-v1.tar.gz` holds the data dirs of two real nodes written by
//! qun at commit 71b38ae (store schema 1: bincode records); `datadir-v1.json` says what a
//! test must find in them. Both were made by the ignored test [`make_datadir_fixture`]:
//!
//! ```text
//! QUN_FIXTURE_OUT=tests/fixtures cargo test -p qun-tests --test store_fixture \
//!     -- --ignored make_datadir_fixture
//! ```
//!
//! Node A owns three groups: a private one with 30 messages (an announcement and a
//! reply among them), a public one with a description and tags, and a listed one. Node B
//! joined the public group with history since join (a join op; a since-join bound) and
//! sent a join request to the listed group (held by B as sent, by A as received). Both
//! set a profile; A holds cards of its groups and a short invite record; both know each
//! other (known peers) and kept their listen port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use qun_node::store::{Records, Store};
use qun_node::{Config, CreateGroup, History, Node, ProfileUpdate};
use qun_protocol::{AuthorId, GroupId, Visibility};
use serde::{Deserialize, Serialize};

/// What the fixture holds, as the nodes that wrote it reported it.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Expected {
    /// The commit of qun that wrote the data dirs.
    commit: String,
    /// The store schema version on disk.
    schema: u32,
    /// Per node (`a`, `b`).
    nodes: BTreeMap<String, NodeExpected>,
}

/// What one node holds.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct NodeExpected {
    /// Its author id (and peer id).
    author: String,
    /// Its own profile's display name.
    profile_name: String,
    /// Display names of every profile it holds, by author.
    profiles: BTreeMap<String, String>,
    /// Per joined group id: the group as `group_info` showed it, and its full history.
    groups: BTreeMap<String, GroupExpected>,
    /// Group ids whose card it holds.
    cards: Vec<String>,
    /// Join requests received: group id → (requester, status, note).
    join_in: BTreeMap<String, Vec<(String, String, String)>>,
    /// Group ids of the join requests it sent and waits on.
    join_out: Vec<String>,
    /// Expiry (ms) of each short invite record it holds.
    short_invites: Vec<u64>,
    /// Since-join bounds: group id → (since_ms, bound present).
    history_from: BTreeMap<String, (u64, bool)>,
    /// How many known peers it keeps on disk.
    known_peers: usize,
    /// The kept listen port.
    listen_port: Option<u16>,
}

/// One joined group.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct GroupExpected {
    name: String,
    visibility: String,
    description: String,
    tags: Vec<String>,
    members: Vec<String>,
    epoch: u64,
    joined_ms: u64,
    history_mode: String,
    announcement: Option<String>,
    /// The full history in group order: (id, kind, text, reply_to).
    history: Vec<(String, String, String, Option<String>)>,
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

async fn start_node(dir: &Path, boot: Option<&Node>) -> Node {
    let mut cfg = Config {
        keep_port: true,
        ..Config::for_test(dir)
    };
    if let Some(b) = boot {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

fn create(name: &str, description: &str, tags: &[&str], visibility: Visibility) -> CreateGroup {
    CreateGroup {
        name: name.to_owned(),
        description: description.to_owned(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        visibility,
    }
}

async fn name_profile(node: &Node, name: &str) {
    node.set_profile(ProfileUpdate {
        name: Some(name.to_owned()),
        ..ProfileUpdate::default()
    })
    .await
    .unwrap();
}

/// What `node` shows of its groups, through its API.
async fn groups_of(node: &Node) -> BTreeMap<String, GroupExpected> {
    let mut out = BTreeMap::new();
    for g in node.groups().await.unwrap() {
        let id: GroupId = g.group.parse().unwrap();
        let h = node.history(id, 10_000, None).await.unwrap();
        out.insert(
            g.group.clone(),
            GroupExpected {
                name: g.name,
                visibility: g.visibility,
                description: g.description,
                tags: g.tags,
                members: g.members,
                epoch: g.epoch,
                joined_ms: g.joined_ms,
                history_mode: g.history,
                announcement: g.announcement.map(|a| a.text),
                history: h
                    .into_iter()
                    .map(|m| (m.id, m.kind, m.text, m.reply_to))
                    .collect(),
            },
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the fixture; run by hand with QUN_FIXTURE_OUT"]
async fn make_datadir_fixture() {
    let out = std::env::var_os("QUN_FIXTURE_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(fixtures_dir);
    let tmp = tempfile::tempdir().unwrap();
    let (da, db) = (tmp.path().join("a"), tmp.path().join("b"));
    let a = start_node(&da, None).await;
    let b = start_node(&db, Some(&a)).await;

    let private = a
        .create_group(create("私密群 fixture", "", &[], Visibility::Private))
        .await
        .unwrap();
    let private: GroupId = private.group.parse().unwrap();
    let public = a
        .create_group(create(
            "公开群 fixture",
            "一个公开的群：迁移测试",
            &["fixture", "迁移"],
            Visibility::Public,
        ))
        .await
        .unwrap();
    let public_id: GroupId = public.group.parse().unwrap();
    let listed = a
        .create_group(create(
            "Listed fixture",
            "ask to join",
            &["listed"],
            Visibility::Listed,
        ))
        .await
        .unwrap();
    let listed: GroupId = listed.group.parse().unwrap();

    // 30 messages in the private group: texts, an announcement, a reply.
    let mut first = None;
    for i in 0..28 {
        let id = a
            .send(private, &format!("消息 {i:02} hello"), None)
            .await
            .unwrap();
        first.get_or_insert(id);
    }
    a.announce(private, "公告：周六见").await.unwrap();
    a.send(private, "回复第一条", first).await.unwrap();
    a.send(public_id, "public hello", None).await.unwrap();

    name_profile(&a, "阿玲 fixture").await;
    name_profile(&b, "Bo fixture").await;

    // B joins the public group with history since join: a join op, a since-join bound.
    b.join_with(&public.invite, History::SinceJoin)
        .await
        .unwrap();
    let want = std::collections::BTreeSet::from(["public hello".to_string()]);
    wait_texts("B", &b, public_id, &want).await;
    // B stops; A writes; B starts again and syncs it: the first sync that fetches
    // something sets B's since-join bound.
    b.shutdown().await.unwrap();
    drop(b);
    a.send(public_id, "while B was away", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = start_node(&db, Some(&a)).await;
    let want = std::collections::BTreeSet::from(["while B was away".to_string()]);
    eventually(DEADLINE, "B to sync what it missed", || async {
        b.sync(public_id).await.map_err(|e| e.to_string())?;
        let h = history(&b, public_id).await;
        if want.is_subset(&texts(&h)) {
            Ok(())
        } else {
            Err(describe(&h))
        }
    })
    .await;
    b.send(public_id, "B was here", None).await.unwrap();

    // B asks to join the listed group; A receives the request and leaves it pending.
    a.announce_discovery().await.unwrap();
    eventually(DEADLINE, "B's join request to be sent", || async {
        let o = b
            .join_group(listed, "请让我加入", History::All)
            .await
            .map_err(|e| e.to_string())?;
        if o.status == "requested" {
            Ok(())
        } else {
            Err(format!("{o:?}"))
        }
    })
    .await;
    eventually(DEADLINE, "A to receive the join request", || async {
        let v = a.join_requests(listed).await.map_err(|e| e.to_string())?;
        if v.is_empty() {
            Err("none".into())
        } else {
            Ok(())
        }
    })
    .await;
    // A fetches B's profile (held), and makes a short invite (held record).
    let b_author: AuthorId = b.peer_id().to_string().parse().unwrap();
    eventually(DEADLINE, "A to fetch B's profile", || async {
        let p = a.profile(Some(b_author)).await.map_err(|e| e.to_string())?;
        if p.name == "Bo fixture" {
            Ok(())
        } else {
            Err(format!("{p:?}"))
        }
    })
    .await;
    let code = eventually(DEADLINE, "a short invite", || async {
        let c = a
            .short_invite(private, Duration::from_secs(30 * 24 * 3600))
            .await
            .map_err(|e| e.to_string())?;
        if c.short {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        }
    })
    .await;
    assert!(code.invite.starts_with("quns1"));

    let mut nodes = BTreeMap::new();
    for (name, node) in [("a", &a), ("b", &b)] {
        let author = node.peer_id().to_string();
        let groups = groups_of(node).await;
        let profile_name = node.profile(None).await.unwrap().name;
        nodes.insert(
            name.to_string(),
            (author, profile_name, groups, node.peer_id()),
        );
    }
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let group_ids = [private, public_id, listed];
    let mut expected = Expected {
        commit: "71b38ae".into(),
        schema: qun_node::store::SCHEMA_VERSION,
        nodes: BTreeMap::new(),
    };
    for (name, (author, profile_name, groups, peer)) in nodes {
        let dir = tmp.path().join(&name);
        let listed_record = read_records(&dir, peer, &group_ids);
        if name == "b" {
            let bound = listed_record.history_from.get(&public_id.to_string());
            assert!(
                matches!(bound, Some((_, true))),
                "no since-join bound: {bound:?}"
            );
        }
        expected.nodes.insert(
            name,
            NodeExpected {
                author,
                profile_name,
                groups,
                ..listed_record
            },
        );
    }
    std::fs::create_dir_all(&out).unwrap();
    pack(tmp.path(), &out.join("datadir-v1.tar.gz"));
    std::fs::write(
        out.join("datadir-v1.json"),
        serde_json::to_string_pretty(&expected).unwrap() + "\n",
    )
    .unwrap();
}

/// What a data dir's store holds beyond the API's views, read through the store itself.
fn read_records(dir: &Path, peer: qun_node::testing::PeerId, groups: &[GroupId]) -> NodeExpected {
    // No background flusher: its thread would hold sled's lock a moment after the drop.
    let store = Store::open_with(&dir.join("store"), 1 << 20, None, 0).unwrap();
    let records = Records::open(&store).unwrap();
    let mut out = NodeExpected {
        author: String::new(),
        profile_name: String::new(),
        profiles: BTreeMap::new(),
        groups: BTreeMap::new(),
        cards: Vec::new(),
        join_in: BTreeMap::new(),
        join_out: Vec::new(),
        short_invites: Vec::new(),
        history_from: BTreeMap::new(),
        known_peers: qun_node::testing::peers::Table::load(
            peer,
            store.known_peers(10_000).unwrap(),
        )
        .len(),
        listen_port: std::fs::read_to_string(dir.join("listen-port"))
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    };
    for g in groups {
        if records.card(g).unwrap().is_some() {
            out.cards.push(g.to_string());
        }
        let inc: Vec<_> = records
            .incoming_all(g)
            .unwrap()
            .into_iter()
            .map(|i| {
                (
                    i.request.signer.to_string(),
                    i.status().to_string(),
                    i.request.value.note.clone(),
                )
            })
            .collect();
        if !inc.is_empty() {
            out.join_in.insert(g.to_string(), inc);
        }
        if let Some(h) = store.history_from(g).unwrap() {
            out.history_from
                .insert(g.to_string(), (h.since_ms, h.bound.is_some()));
        }
    }
    for (g, _) in records.outgoing_all().unwrap() {
        out.join_out.push(g.to_string());
    }
    for (_, h) in records.short_invites(0).unwrap() {
        out.short_invites.push(h.expires_ms);
    }
    for g in store.groups().unwrap() {
        for m in store.history(&g.0, 10_000, None).unwrap() {
            let a = m.author();
            if let Some(n) = records.name(&a) {
                out.profiles.insert(a.to_string(), n.to_string());
            }
        }
    }
    out
}

/// Packs the data dirs under `root` (`a/`, `b/`) into a gzipped tar, leaving out the lock
/// files (they hold a pid) and the store's reserve file.
fn pack(root: &Path, to: &Path) {
    let file = std::fs::File::create(to).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    collect(root, root, &mut files);
    files.sort();
    for rel in files {
        let name = rel.to_string_lossy();
        if name.ends_with("daemon.lock") || name.ends_with(".reserve") {
            continue;
        }
        tar.append_path_with_name(root.join(&rel), &rel).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_path_buf());
        }
    }
}

/// Unpacks the fixture into a temp dir; returns it and what it must hold.
fn unpack_v1() -> (tempfile::TempDir, Expected) {
    let tmp = tempfile::tempdir().unwrap();
    let file = std::fs::File::open(fixtures_dir().join("datadir-v1.tar.gz")).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(tmp.path())
        .unwrap();
    let json = std::fs::read_to_string(fixtures_dir().join("datadir-v1.json")).unwrap();
    (tmp, serde_json::from_str(&json).unwrap())
}

/// A raw key and value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// Every tree of the store in `dir`, raw, with the schema version.
fn dump(dir: &Path) -> BTreeMap<Vec<u8>, Vec<KeyValue>> {
    let db = sled::Config::new().path(dir.join("store")).open().unwrap();
    let mut out = BTreeMap::new();
    for name in db.tree_names() {
        let tree = db.open_tree(&name).unwrap();
        let kvs = tree
            .iter()
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        out.insert(name.to_vec(), kvs);
    }
    out
}

/// The group ids of the fixture (every group of node A).
fn group_ids(e: &Expected) -> Vec<GroupId> {
    e.nodes["a"]
        .groups
        .keys()
        .map(|g| g.parse().unwrap())
        .collect()
}

#[test]
fn a_v1_store_migrates_once_and_keeps_every_record() {
    let (tmp, expected) = unpack_v1();
    assert_eq!((expected.commit.as_str(), expected.schema), ("71b38ae", 1));
    let groups = group_ids(&expected);
    for (name, want) in &expected.nodes {
        let dir = tmp.path().join(name);
        let peer: qun_node::testing::PeerId = want.author.parse().unwrap();
        let meta = &dump(&dir)[b"meta".as_slice()];
        assert_eq!(
            meta,
            &vec![(b"schema".to_vec(), 1u32.to_be_bytes().to_vec())]
        );
        // The first open migrates; everything the old store held reads back the same.
        let got = read_records(&dir, peer, &groups);
        let got = NodeExpected {
            author: want.author.clone(),
            profile_name: want.profile_name.clone(),
            groups: BTreeMap::new(),
            ..got
        };
        let want_records = NodeExpected {
            author: want.author.clone(),
            profile_name: want.profile_name.clone(),
            groups: BTreeMap::new(),
            profiles: want.profiles.clone(),
            cards: want.cards.clone(),
            join_in: want.join_in.clone(),
            join_out: want.join_out.clone(),
            short_invites: want.short_invites.clone(),
            history_from: want.history_from.clone(),
            known_peers: want.known_peers,
            listen_port: want.listen_port,
        };
        assert_eq!(got, want_records, "node {name}");
        let store = Store::open_with(&dir.join("store"), 1 << 20, None, 0).unwrap();
        assert_eq!(
            store.schema_version().unwrap(),
            qun_node::store::SCHEMA_VERSION
        );
        let msgs: usize = want.groups.values().map(|g| g.history.len()).sum();
        let stored: usize = store
            .groups()
            .unwrap()
            .iter()
            .map(|(g, _)| store.count(g))
            .sum();
        assert_eq!(stored, msgs, "node {name}");
        drop(store);
        // A second open changes nothing.
        let before = dump(&dir);
        drop(Store::open_with(&dir.join("store"), 1 << 20, None, 0).unwrap());
        assert_eq!(dump(&dir), before, "node {name}: the second open wrote");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v1_data_dir_opens_with_its_history_and_goes_on() {
    let (tmp, expected) = unpack_v1();
    // One node at a time: B would otherwise send its pending join request to A again.
    for (name, want) in &expected.nodes {
        let dir = tmp.path().join(name);
        let node = start(&dir).await;
        assert_eq!(node.peer_id().to_string(), want.author);
        assert_eq!(node.profile(None).await.unwrap().name, want.profile_name);
        let groups = groups_of(&node).await;
        assert_eq!(groups, want.groups, "node {name}");
        for g in want.join_in.keys() {
            let reqs = node.join_requests(g.parse().unwrap()).await.unwrap();
            let got: Vec<_> = reqs
                .iter()
                .map(|r| (r.requester.clone(), r.status.clone(), r.note.clone()))
                .collect();
            assert_eq!(&got, &want.join_in[g], "node {name}");
        }
        // Names shown on the history come from the migrated profiles.
        for g in want.groups.keys() {
            for m in history(&node, g.parse().unwrap()).await {
                assert_eq!(
                    m.author_name.as_ref(),
                    want.profiles.get(&m.author),
                    "{m:?}"
                );
            }
        }
        // It goes on: a new message is stored, and kept across a restart.
        let (g, _) = want.groups.iter().next().unwrap();
        let group: GroupId = g.parse().unwrap();
        let sent = node.send(group, "after the migration", None).await.unwrap();
        node.shutdown().await.unwrap();
        drop(node);
        let node = eventually(DEADLINE, "the node to start again", || async {
            Node::start(Config::for_test(&dir))
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        let h = history(&node, group).await;
        let last = h.last().unwrap();
        assert_eq!(
            (last.id.clone(), last.text.as_str()),
            (sent.to_string(), "after the migration")
        );
        assert_eq!(h.len(), want.groups[g].history.len() + 1);
        node.shutdown().await.unwrap();
    }
}
