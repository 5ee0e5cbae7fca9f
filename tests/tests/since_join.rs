//! Joining with history since join: the new member gets what is written from about the
//! time it joined (one minute of clock slack) and never the older history, while a member
//! who joined with the whole history gets everything; a later sync does not bring the old
//! history either.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use qun_node::store::Store;
use qun_node::{Config, History, Node, keys};
use qun_protocol::message::Text;
use qun_protocol::{Body, Envelope, GroupId, Kind, Stamp};
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_join_members_get_only_recent_history() {
    let (da, db, dc) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let a = start(da.path()).await;
    let created = a.create_group(group_req("新人群", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    a.shutdown().await.unwrap();
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Thirty messages written two hours ago, straight into A's store.
    let identity = keys::load_or_create(da.path()).unwrap();
    let store = Store::open(&da.path().join("store"), 4 << 20).unwrap();
    let two_hours_ago = now_ms() - 2 * 3600 * 1000;
    let mut old = BTreeSet::new();
    for i in 0..30u64 {
        let text = format!("old {i}");
        let body = Body {
            group,
            epoch: 0,
            stamp: Stamp::new(two_hours_ago + i, 0),
            kind: Kind::Text(Text {
                text: text.clone(),
                reply_to: None,
                mentions: Vec::new(),
            }),
        };
        store
            .insert(&Envelope::sign(&identity, &body).unwrap())
            .unwrap();
        old.insert(text);
    }
    store.flush_blocking().unwrap();
    drop(store);

    let a = Node::start(Config::for_test(da.path())).await.unwrap();
    let invite = a.invite(group, Duration::from_secs(3600)).await.unwrap();
    let mut recent = BTreeSet::new();
    for i in 0..3 {
        let text = format!("just before B joined {i}");
        a.send(group, &text, None).await.unwrap();
        recent.insert(text);
    }
    let b = start(db.path()).await;
    let c = start(dc.path()).await;
    b.join_with(&invite, History::SinceJoin).await.unwrap();
    c.join(&invite).await.unwrap();
    wait_topic_peers(&[("B", &b, 1), ("C", &c, 1)], group).await;
    for i in 0..3 {
        let text = format!("after B joined {i}");
        a.send(group, &text, None).await.unwrap();
        recent.insert(text);
    }
    let everything: BTreeSet<String> = old.union(&recent).cloned().collect();
    wait_texts("C", &c, group, &everything).await;
    wait_texts("B", &b, group, &recent).await;
    let info = b.group_info(group).await.unwrap();
    assert_eq!(info.history, "since-join");
    assert_eq!(c.group_info(group).await.unwrap().history, "all");

    // A sync now, and a later message: still nothing old at B.
    a.send(group, "one more", None).await.unwrap();
    b.sync(group).await.unwrap();
    eventually(DEADLINE, "B's syncs to finish", || async {
        let s = b.group_info(group).await.unwrap().sync;
        if s.running == 0 && s.completed >= 2 {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;
    let mut want = recent.clone();
    want.insert("one more".to_owned());
    wait_texts("B", &b, group, &want).await;
    let got = texts(&history(&b, group).await);
    assert!(
        got.is_disjoint(&old),
        "B fetched history from before it joined: {:?}",
        got.intersection(&old).collect::<Vec<_>>()
    );
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}
