//! Catch-up: an empty node joins a group whose member holds N messages and syncs them all
//! over loopback TCP (real libp2p, real sled, `/qun/sync/2`: reconciliation, then fetch).
//!
//! `cargo bench -p qun-node --bench catchup` prints the catch-up rate in messages per second
//! beside the raw `open` rate (decrypt + decode + verify_strict, one core) measured in the
//! same run, since every synced message is opened and verified once.
//!
//! Environment: `QUN_BENCH_CATCHUP_N` (default 100000) messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod common;

use common::{raw_open_rate, text_body};
use qun_node::store::Store;
use qun_node::{Config, CreateGroup, Node, keys};
use qun_protocol::{Envelope, GroupId, Invite};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::for_test(dir);
    cfg.cache_bytes = 64 * 1024 * 1024;
    cfg
}

/// Node A with `n` messages of its own in a new group; returns A, its invite and the group.
async fn member_with_history(dir: &std::path::Path, n: u64) -> (Node, String, GroupId) {
    let a = Node::start(config(dir)).await.unwrap();
    let created = a
        .create_group(CreateGroup {
            name: "catch-up bench".into(),
            description: String::new(),
            tags: vec![],
            visibility: qun_protocol::Visibility::Private,
        })
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    a.shutdown().await.unwrap();
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Fill A's store directly: signing and storing is not what this bench measures.
    let identity = keys::load_or_create(dir).unwrap();
    let store = Store::open(&dir.join("store"), 64 * 1024 * 1024).unwrap();
    for i in 0..n {
        let msg = Envelope::sign(&identity, &text_body(group, i + 2, now_ms(), 200)).unwrap();
        store.insert(&msg).unwrap();
    }
    store.flush_blocking().unwrap();
    drop(store);
    let a = Node::start(config(dir)).await.unwrap();
    let invite = a.invite(group, Duration::from_secs(3600)).await.unwrap();
    (a, invite, group)
}

fn main() {
    let n: u64 = std::env::var("QUN_BENCH_CATCHUP_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (a, invite, group) = member_with_history(&dir.path().join("a"), n).await;
        assert_eq!(Invite::parse(&invite, now_ms()).unwrap().group(), group);
        let open = raw_open_rate();
        let b = Node::start(config(&dir.path().join("b"))).await.unwrap();
        let start = Instant::now();
        b.join(&invite).await.unwrap();
        // B holds A's n messages plus its own join.
        let want = n as usize + 1;
        let deadline = start + Duration::from_secs(600);
        let mut got = 0;
        while Instant::now() < deadline {
            got = b.group_info(group).await.unwrap().messages;
            if got >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let secs = start.elapsed().as_secs_f64();
        let rate = n as f64 / secs;
        let info = b.group_info(group).await.unwrap();
        println!("raw open (1 core): {open:.0} msgs/s");
        println!(
            "catch-up of {n} messages over loopback: {got} of {want} stored in {secs:.2} s = {rate:.0} msgs/s = {:.2} x raw open (goal >= 20000 msgs/s)",
            rate / open
        );
        println!(
            "sync: {} completed, last one {} rounds, {} fetched",
            info.sync.completed, info.sync.last_rounds, info.sync.last_fetched
        );
        b.shutdown().await.unwrap();
        a.shutdown().await.unwrap();
    });
}
