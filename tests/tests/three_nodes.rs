//! Real nodes (real sled, loopback TCP) chatting in one group.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeSet;

use common::*;
use qun_node::{Addr, Config, Error, Node};
use qun_protocol::GroupId;
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_chat_and_agree() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let a = start(dirs[0].path()).await;
    let b = start(dirs[1].path()).await;
    let c = start(dirs[2].path()).await;

    let created = a
        .create_group(group_req("测试群 test", "三个节点的群"))
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    assert!(created.invite.starts_with("qun1"), "{}", created.invite);
    assert_eq!(b.join(&created.invite).await.unwrap(), group);
    assert_eq!(c.join(&created.invite).await.unwrap(), group);
    for n in [&a, &b, &c] {
        let info = n.group_info(group).await.unwrap();
        assert_eq!(info.name, "测试群 test");
        assert_eq!(info.owner, a.peer_id().to_string());
    }
    wait_topic_peers(&[("A", &a, 2), ("B", &b, 1), ("C", &c, 1)], group).await;

    let nodes = [("A", &a), ("B", &b), ("C", &c)];
    let mut want = BTreeSet::new();
    for i in 1..=3 {
        for (name, node) in nodes {
            let text = format!("{name} 说 #{i}: 你好 hello");
            node.send(group, &text, None).await.unwrap();
            want.insert(text);
        }
    }
    assert_eq!(want.len(), 9);
    for (name, node) in nodes {
        wait_texts(name, node, group, &want).await;
    }

    // The announcement: the owner's reaches everyone; a member's is refused.
    let notice = "群公告：周六 10 点见 (see you Saturday)";
    a.announce(group, notice).await.unwrap();
    for (name, node) in [("B", &b), ("C", &c)] {
        eventually(
            DEADLINE,
            &format!("{name} to show A's announcement"),
            || async {
                let info = node.group_info(group).await.map_err(|e| e.to_string())?;
                match info.announcement {
                    Some(ann) if ann.text == notice => {
                        assert_eq!(ann.author, a.peer_id().to_string());
                        Ok(())
                    }
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }
    match b.announce(group, "B tries to announce").await {
        Err(Error::NotAllowed { .. }) => {}
        other => panic!("a member's announce must fail with NotAllowed, got {other:?}"),
    }
    assert_eq!(
        a.group_info(group)
            .await
            .unwrap()
            .announcement
            .map(|x| x.text),
        Some(notice.to_owned()),
        "the refused announce must not change the announcement"
    );

    // Everyone agrees on the whole history: the same messages (texts and control messages,
    // including those sent before a node joined) in the same order.
    let agreed = eventually(DEADLINE, "the three histories to be identical", || async {
        let ha = history(&a, group).await;
        let hb = history(&b, group).await;
        let hc = history(&c, group).await;
        if ids(&ha) == ids(&hb) && ids(&ha) == ids(&hc) {
            Ok(ha)
        } else {
            Err(format!(
                "\nA ({}):\n{}\nB ({}):\n{}\nC ({}):\n{}",
                ha.len(),
                describe(&ha),
                hb.len(),
                describe(&hb),
                hc.len(),
                describe(&hc)
            ))
        }
    })
    .await;
    // 9 texts, the announcement, B's and C's joins, A's meta (the description).
    assert_eq!(texts(&agreed), want);
    let kinds: Vec<&str> = agreed.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "join").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "meta").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "announcement").count(),
        1,
        "{kinds:?}"
    );
    assert!(!texts(&agreed).contains("B tries to announce"));
    let members: Vec<Vec<String>> = {
        let mut v = Vec::new();
        for n in [&a, &b, &c] {
            let mut m = n.group_info(group).await.unwrap().members;
            m.sort();
            v.push(m);
        }
        v
    };
    let mut all: Vec<String> = [&a, &b, &c]
        .iter()
        .map(|n| n.peer_id().to_string())
        .collect();
    all.sort();
    for m in &members {
        assert_eq!(m, &all, "every node knows every member");
    }

    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_history_and_groups() {
    let da = TempDir::new().unwrap();
    let db = TempDir::new().unwrap();
    let a = start(da.path()).await;
    let b = start(db.path()).await;
    let created = a.create_group(group_req("重启群", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    assert_eq!(b.join(&created.invite).await.unwrap(), group);
    wait_topic_peers(&[("A", &a, 1), ("B", &b, 1)], group).await;

    let mut want = BTreeSet::new();
    for i in 1..=2 {
        for (name, node) in [("A", &a), ("B", &b)] {
            let text = format!("{name} before restart {i} 重启前");
            node.send(group, &text, None).await.unwrap();
            want.insert(text);
        }
    }
    wait_texts("A", &a, group, &want).await;
    let before = wait_texts("B", &b, group, &want).await;
    let b_peer = b.peer_id();

    b.shutdown().await.unwrap();
    assert!(
        matches!(b.groups().await, Err(Error::Closed)),
        "a stopped node answers Closed"
    );
    drop(b);

    // The same data dir: same identity, groups and history.
    let b = Node::start(Config::for_test(db.path()))
        .await
        .unwrap_or_else(|e| panic!("restarting B on the same data dir failed: {e}"));
    assert_eq!(b.peer_id(), b_peer, "the identity survives a restart");
    let groups = b.groups().await.unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0].group, group.to_string());
    assert_eq!(groups[0].name, "重启群");
    let after = history(&b, group).await;
    assert_eq!(
        ids(&after),
        ids(&before),
        "history after restart:\n{}\nbefore:\n{}",
        describe(&after),
        describe(&before)
    );
    assert_eq!(texts(&after), want);

    // Reconnect to A (the restarted node dials no one by itself unless it remembers peers).
    let a_addrs: Vec<Addr> = a
        .id()
        .await
        .unwrap()
        .addrs
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(!a_addrs.is_empty());
    let connected = |b: &Node| {
        let b = b.clone();
        async move {
            let info = b.group_info(group).await.unwrap();
            info.topic_peers >= 1
        }
    };
    if !connected(&b).await {
        for addr in &a_addrs {
            b.dial(addr.clone()).await.unwrap();
        }
    }
    wait_topic_peers(&[("restarted B", &b, 1)], group).await;
    eventually(DEADLINE, "A to see restarted B on the topic", || async {
        let info = a.group_info(group).await.map_err(|e| e.to_string())?;
        let peers = a.peers().await.map_err(|e| e.to_string())?;
        if info.topic_peers >= 1 && peers.iter().any(|p| p.peer_id == b_peer.to_string()) {
            Ok(())
        } else {
            Err(format!("topic_peers={} peers={peers:?}", info.topic_peers))
        }
    })
    .await;

    let text = "A after restart 重启后".to_owned();
    a.send(group, &text, None).await.unwrap();
    want.insert(text);
    wait_texts("restarted B", &b, group, &want).await;

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
