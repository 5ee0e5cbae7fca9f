//! A member who leaves and comes back gets the history at once, not at the next
//! anti-entropy round: the members refuse its first sync until its new join op reaches
//! them (a member who left is served nothing), so the rejoiner asks again within seconds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use qun_node::{Config, Node};
use tempfile::TempDir;

/// Anti-entropy far beyond the test's deadline: only the join's own syncs can bring the
/// history.
async fn start_slow_sync(dir: &std::path::Path) -> Node {
    let mut cfg = Config::for_test(dir);
    cfg.sync_interval = Duration::from_secs(300);
    Node::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_member_gets_the_history_within_seconds() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start_slow_sync(da.path()).await;
    let b = start_slow_sync(db.path()).await;
    let created = a.create_group(group_req("回归测试", "")).await.unwrap();
    let group = a.resolve(&created.group).await.unwrap();
    let mut want = BTreeSet::new();
    for i in 0..5 {
        let t = format!("第 {i} 条");
        a.send(group, &t, None).await.unwrap();
        want.insert(t);
    }
    b.join(&created.invite).await.unwrap();
    wait_texts("b, first join", &b, group, &want).await;

    for round in 0..3 {
        b.leave(group).await.unwrap();
        let t = format!("while b was away {round}");
        a.send(group, &t, None).await.unwrap();
        want.insert(t);
        let started = Instant::now();
        b.join(&created.invite).await.unwrap();
        eventually(
            Duration::from_secs(15),
            &format!("b's history after rejoin {round}"),
            || async {
                let have = texts(&history(&b, group).await);
                if want.is_subset(&have) {
                    Ok(())
                } else {
                    Err(format!("{} of {}", have.len(), want.len()))
                }
            },
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(15));
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
