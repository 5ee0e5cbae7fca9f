//! A restart keeps a node in its network (issue 11, reproduction 4): nodes restarted
//! without any bootstrap peer dial the peers they know (kept on disk), are back in their
//! groups and catch up on what was sent while they were down; the listen port is kept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::*;
use qun_node::testing::Multiaddr;
use qun_node::{Config, Node};
use qun_protocol::GroupId;
use tempfile::TempDir;

/// What the issue promises: back in the group and caught up within 30 s.
const CATCH_UP: Duration = Duration::from_secs(30);

/// A test node that keeps its port across restarts, like the daemon by default.
async fn start_kept(dir: &Path) -> Node {
    let config = Config {
        keep_port: true,
        ..Config::for_test(dir)
    };
    Node::start(config)
        .await
        .unwrap_or_else(|e| panic!("node in {} did not start: {e}", dir.display()))
}

/// The TCP ports a node listens on.
async fn ports(node: &Node) -> BTreeSet<u16> {
    node.id()
        .await
        .unwrap()
        .addrs
        .iter()
        .filter_map(|a| {
            a.parse::<Multiaddr>().ok()?.iter().find_map(|p| match p {
                libp2p::multiaddr::Protocol::Tcp(port) => Some(port),
                _ => None,
            })
        })
        .collect()
}

/// Waits until `node` holds `text` in `group`, within [`CATCH_UP`].
async fn wait_caught_up(name: &str, node: &Node, group: GroupId, text: &str) {
    eventually(
        CATCH_UP,
        &format!("restarted {name} to get {text:?}"),
        || async {
            let peers = node.peers().await.map_err(|e| e.to_string())?;
            let h = node
                .history(group, 1000, None)
                .await
                .map_err(|e| e.to_string())?;
            if texts(&h).contains(text) {
                Ok(())
            } else {
                Err(format!("{} peers, {} messages", peers.len(), h.len()))
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_nodes_without_bootstrap_rejoin_and_catch_up() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let a = start_kept(dirs[0].path()).await;
    let b = start_kept(dirs[1].path()).await;
    let c = start_kept(dirs[2].path()).await;
    let created = a.create_group(group_req("重启 restart", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    // B and C join by invite; none of the three was ever given a bootstrap peer.
    b.join(&created.invite).await.unwrap();
    c.join(&created.invite).await.unwrap();
    wait_topic_peers(&[("A", &a, 2), ("B", &b, 1), ("C", &c, 1)], group).await;
    let b_ports = ports(&b).await;
    assert!(!b_ports.is_empty());
    // Let the redial timer write the known peers (it is not flushed per identify).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // The joiner restarts.
    b.shutdown().await.unwrap();
    drop(b);
    a.send(group, "while B was away", None).await.unwrap();
    let b = start_kept(dirs[1].path()).await;
    assert_eq!(ports(&b).await, b_ports, "the listen port is kept");
    wait_caught_up("B", &b, group, "while B was away").await;

    // The inviter restarts.
    let a_ports = ports(&a).await;
    a.shutdown().await.unwrap();
    drop(a);
    c.send(group, "while A was away", None).await.unwrap();
    let a = start_kept(dirs[0].path()).await;
    assert_eq!(ports(&a).await, a_ports, "the listen port is kept");
    wait_caught_up("A", &a, group, "while A was away").await;

    // And the group works both ways again.
    a.send(group, "A is back", None).await.unwrap();
    b.send(group, "B is back", None).await.unwrap();
    let want: BTreeSet<String> = ["A is back", "B is back"].map(String::from).into();
    for (name, n) in [("A", &a), ("B", &b), ("C", &c)] {
        wait_texts(name, n, group, &want).await;
    }
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_node_on_one_data_dir_is_refused_clearly() {
    let dir = TempDir::new().unwrap();
    let a = start(dir.path()).await;
    let err = Node::start(Config::for_test(dir.path()))
        .await
        .expect_err("two nodes on one data dir");
    let text = err.to_string();
    assert_eq!(
        text,
        format!(
            "another qun daemon is using {} (pid {})",
            dir.path().display(),
            std::process::id()
        )
    );
    a.shutdown().await.unwrap();
    drop(a);
    let again = start(dir.path()).await;
    again.shutdown().await.unwrap();
}
