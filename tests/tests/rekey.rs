//! Re-keying through real nodes (issue 13): a removal starts a new epoch that the removed
//! member cannot read nor write, a member let back in gets the current epoch, two admins
//! re-keying at once end on one epoch, and leaves re-key once per burst.
//!
//! 1. Five nodes: A owns the group, B, C, D, E join; A promotes B; B removes D. B's node
//!    re-keys; A, B, C and E move to epoch 1 (a new topic); D stays in epoch 0. D's node
//!    receives none of what the four write next; D's posts (refused by its own node; a
//!    frame of epoch 0 signed by D's key and published raw; a frame of epoch 1 under a
//!    made-up secret) reach no one; the four end with identical histories.
//! 2. A bans C (A re-keys), unbans it, and lets it in again with a new invite: C gets
//!    epoch 1 and chats with A and B.
//! 3. A removes D while B removes E, at once: both re-key; A, B and C end on the same
//!    epoch and topic and chat in it.
//! 4. C and D leave within a second: A (the only admin) re-keys once, after the leave
//!    delay; A, B and E move to epoch 1, whose secret is not the one C kept, and chat in
//!    it.
//! 5. Posts that a re-key closes out are re-sent: C is offline while B removes D (B
//!    re-keys); C's node, started cut off from the others, sends a text, signed in epoch
//!    0 without news of the re-key (so every other node refuses it as `epoch_closed`).
//!    Then A (owner) is offline while B removes E; A's node, cut off, demotes B in epoch
//!    1, after the re-key to 2. Back online, each node re-sends its post in the new
//!    epoch (a new id): every node ends with C's text exactly once, B demoted, and the
//!    same history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use qun_node::{Error, Node, keys};
use qun_protocol::group::Role;
use qun_protocol::{GroupId, GroupSecret};
use tempfile::TempDir;

/// How long a refused frame is given to (not) arrive.
const SETTLE: Duration = Duration::from_millis(1500);

/// Starts `n` nodes; the first creates a group the others join by its invite.
async fn group_of(n: usize, name: &str) -> (Vec<TempDir>, Vec<Node>, GroupId, String) {
    let dirs: Vec<TempDir> = (0..n).map(|_| TempDir::new().unwrap()).collect();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(start(d.path()).await);
    }
    let created = nodes[0].create_group(group_req(name, "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    for node in &nodes[1..] {
        node.join(&created.invite).await.unwrap();
    }
    let ids: Vec<String> = nodes.iter().map(|n| n.author().to_string()).collect();
    for (i, node) in nodes.iter().enumerate() {
        eventually(
            DEADLINE,
            &format!("node {i} to see every member"),
            || async {
                let info = node.group_info(group).await.map_err(|e| e.to_string())?;
                if ids.iter().all(|id| info.members.contains(id))
                    && info.topic_peers + 1 >= n.min(3)
                {
                    Ok(())
                } else {
                    Err(format!(
                        "members={:?} topic_peers={}",
                        info.members, info.topic_peers
                    ))
                }
            },
        )
        .await;
    }
    (dirs, nodes, group, created.invite)
}

/// Sends one text from each node and waits until every node holds all of them.
async fn chat(nodes: &[(&str, &Node)], group: GroupId, tag: &str) -> BTreeSet<String> {
    let mut want = BTreeSet::new();
    for (name, node) in nodes {
        let text = format!("{tag}: {name} 说 hi");
        node.send(group, &text, None).await.unwrap();
        want.insert(text);
    }
    for (name, node) in nodes {
        wait_texts(name, node, group, &want).await;
    }
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_rekeys_and_the_removed_member_reads_and_writes_nothing_new() {
    let (dirs, nodes, group, _) = group_of(5, "换钥 five").await;
    let [a, b, c, d, e] = [&nodes[0], &nodes[1], &nodes[2], &nodes[3], &nodes[4]];
    let four = [("A", a), ("B", b), ("C", c), ("E", e)];
    let (idb, idd) = (b.author().to_string(), d.author().to_string());
    let before = chat(&[("A", a), ("D", d)], group, "epoch 0").await;

    a.set_role(group, &idb, Role::Admin).await.unwrap();
    all_see(&four, group, "B as admin", |i| i.admins == [idb.clone()]).await;
    let topic0 = a.group_info(group).await.unwrap().topic;
    b.remove(group, &idd).await.unwrap();
    all_see(&four, group, "epoch 1 without D", |i| {
        i.epoch == 1 && i.topic != topic0 && !i.members.contains(&idd)
    })
    .await;
    let topic1 = a.group_info(group).await.unwrap().topic;
    all_see(&four, group, "one topic of epoch 1", |i| i.topic == topic1).await;
    // D saw its removal and the re-key, and holds no secret of epoch 1.
    all_see(&[("D", d)], group, "its removal", |i| {
        !i.members.contains(&idd)
    })
    .await;
    let info_d = d.group_info(group).await.unwrap();
    assert_eq!((info_d.epoch, info_d.topic.as_str()), (0, topic0.as_str()));
    let log = d.moderation_log(group).await.unwrap();
    assert!(
        log.iter().any(|l| l.kind == "rekey" && l.allowed),
        "{log:#?}"
    );

    // The four chat in epoch 1, with a few peers meshed on its topic.
    wait_topic_peers(&[("A", a, 2), ("B", b, 2), ("C", c, 2), ("E", e, 2)], group).await;
    let after = chat(&four, group, "epoch 1").await;

    // D's node refuses its posts (epoch 0 is closed, and D is out); raw frames of D, in epoch 0 and in epoch 1 under a
    // made-up secret, reach no one.
    match d.send(group, "D, removed", None).await {
        Err(Error::NotAllowed { rule, .. })
            if rule == "epoch_closed" || rule == "author_removed" => {}
        other => panic!("D's post: {other:?}"),
    }
    let d_key = keys::load_or_create(dirs[3].path()).unwrap();
    let (e0, secret0) = d.epoch_secret(group).await.unwrap();
    assert_eq!(e0, 0);
    let old = inject(d, group, &d_key, 0, &secret0, "D in epoch 0, after").await;
    let guess = GroupSecret::from_bytes([7; 32]);
    let new = inject(d, group, &d_key, 1, &guess, "D in epoch 1, guessed").await;
    tokio::time::sleep(SETTLE).await;
    for (name, node) in four {
        let h = history(node, group).await;
        for id in [&old, &new] {
            assert!(
                !h.iter().any(|m| &m.id == id),
                "{name} holds D's post:\n{}",
                describe(&h)
            );
        }
    }
    // D received nothing the four wrote in epoch 1.
    let hd = history(d, group).await;
    let seen = texts(&hd);
    assert!(before.is_subset(&seen));
    assert!(
        seen.is_disjoint(&after),
        "D read epoch 1:\n{}",
        describe(&hd)
    );

    // The four end with identical histories.
    let reference = ids(&history(a, group).await);
    for (name, node) in &four[1..] {
        eventually(DEADLINE, &format!("{name} to hold A's history"), || async {
            let h = ids(&history(node, group).await);
            if h == reference {
                Ok(())
            } else {
                Err(format!(
                    "{} messages against A's {}",
                    h.len(),
                    reference.len()
                ))
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_let_back_in_after_an_unban_gets_the_current_epoch() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let (_dirs, nodes, group, _) = group_of(3, "换钥 rejoin").await;
    let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
    let idc = c.author().to_string();
    a.ban(group, &idc).await.unwrap();
    all_see(&[("A", a), ("B", b)], group, "epoch 1 without C", |i| {
        i.epoch == 1 && i.banned == [idc.clone()]
    })
    .await;
    // While banned, a fresh invite does not bring C back: every member refuses it.
    let early = a.invite(group, Duration::from_secs(600)).await.unwrap();
    let refused = c
        .join(&early)
        .await
        .expect_err("a banned key joined by invite");
    assert!(refused.to_string().contains("banned"), "{refused}");
    a.unban(group, &idc).await.unwrap();
    all_see(&[("A", a), ("B", b)], group, "C unbanned", |i| {
        i.banned.is_empty()
    })
    .await;
    // An invite made now names epoch 1; C's node, removed, asks to be let in again.
    let invite = a.invite(group, Duration::from_secs(600)).await.unwrap();
    c.join(&invite).await.unwrap();
    let topic1 = a.group_info(group).await.unwrap().topic;
    all_see(
        &[("A", a), ("B", b), ("C", c)],
        group,
        "C back in epoch 1",
        |i| i.epoch == 1 && i.topic == topic1 && i.members.contains(&idc) && i.banned.is_empty(),
    )
    .await;
    chat(&[("A", a), ("B", b), ("C", c)], group, "back").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_rekeying_at_once_converge_on_one_epoch() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let (_dirs, nodes, group, _) = group_of(5, "换钥 race").await;
    let [a, b, c, d, e] = [&nodes[0], &nodes[1], &nodes[2], &nodes[3], &nodes[4]];
    let (idb, idd, ide) = (
        b.author().to_string(),
        d.author().to_string(),
        e.author().to_string(),
    );
    let three = [("A", a), ("B", b), ("C", c)];
    a.set_role(group, &idb, Role::Admin).await.unwrap();
    all_see(&three, group, "B as admin", |i| i.admins == [idb.clone()]).await;
    let (rd, re) = tokio::join!(a.remove(group, &idd), b.remove(group, &ide));
    rd.unwrap();
    re.unwrap();
    all_see(&three, group, "a new epoch without D and E", |i| {
        i.epoch >= 1 && !i.members.contains(&idd) && !i.members.contains(&ide)
    })
    .await;
    // One epoch and one topic everywhere, once the re-keys settled.
    let settled = eventually(
        Duration::from_secs(60),
        "one epoch on A, B and C",
        || async {
            let mut seen = BTreeSet::new();
            for (_, node) in three {
                let i = node.group_info(group).await.map_err(|e| e.to_string())?;
                seen.insert((i.epoch, i.topic));
            }
            if seen.len() == 1 {
                Ok(seen.into_iter().next().unwrap())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
    assert!(settled.0 >= 1);
    chat(&three, group, "after the race").await;
    let log = a.moderation_log(group).await.unwrap();
    let rekeys: Vec<_> = log.iter().filter(|l| l.kind == "rekey").collect();
    assert!(!rekeys.is_empty(), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_rekey_once_per_burst_and_the_leavers_key_reads_nothing_new() {
    let (_dirs, nodes, group, _) = group_of(5, "换钥 leave").await;
    let [a, b, c, d, e] = [&nodes[0], &nodes[1], &nodes[2], &nodes[3], &nodes[4]];
    let (idc, idd) = (c.author().to_string(), d.author().to_string());
    let three = [("A", a), ("B", b), ("E", e)];
    let (e0, c_secret) = c.epoch_secret(group).await.unwrap();
    assert_eq!(e0, 0);
    // C and D leave within a second: one re-key (by A, the only admin) covers both.
    c.leave(group).await.unwrap();
    d.leave(group).await.unwrap();
    all_see(&three, group, "epoch 1 without C and D", |i| {
        i.epoch == 1 && !i.members.contains(&idc) && !i.members.contains(&idd)
    })
    .await;
    let topic1 = a.group_info(group).await.unwrap().topic;
    all_see(&three, group, "one topic of epoch 1", |i| i.topic == topic1).await;
    let log = a.moderation_log(group).await.unwrap();
    let rekeys = log.iter().filter(|l| l.kind == "rekey").count();
    assert_eq!(rekeys, 1, "{log:#?}");
    // The new epoch's secret is not the one C kept; C's node holds the group no more.
    let (e1, secret1) = a.epoch_secret(group).await.unwrap();
    assert_eq!(e1, 1);
    assert_ne!(secret1, c_secret);
    assert!(c.group_info(group).await.is_err());
    // The others chat in epoch 1 (sealed with its key, which C never held).
    wait_topic_peers(&[("A", a, 1), ("B", b, 1), ("E", e, 1)], group).await;
    chat(&three, group, "after the leaves").await;
}

/// Starts the node of `dir` cut off from every other node: its transport is an in-memory
/// one that reaches no one (the known TCP peers of its store are unreachable), so what it
/// signs now it signs without news from the group.
async fn start_cut_off(dir: &std::path::Path) -> Node {
    use libp2p::Transport as _;
    use libp2p::core::transport::{MemoryTransport, upgrade::Version};
    let mut cfg = qun_node::Config::for_test(dir);
    let port = 1 + (common::now_ms() % 1_000_000_000);
    let addr: libp2p::Multiaddr = format!("/memory/{port}").parse().unwrap();
    cfg.listen = vec![qun_node::Addr::from(addr)];
    cfg.transport = qun_node::config::Transport::Custom(std::sync::Arc::new(|key| {
        Ok(MemoryTransport::default()
            .upgrade(Version::V1Lazy)
            .authenticate(libp2p::noise::Config::new(key).map_err(std::io::Error::other)?)
            .multiplex(libp2p::yamux::Config::default())
            .boxed())
    }));
    Node::start(cfg).await.unwrap()
}

/// Waits until every node holds the same message ids as the first.
async fn same_histories(nodes: &[(&str, &Node)], group: GroupId) -> Vec<String> {
    let (_, first) = nodes[0];
    eventually(DEADLINE, "identical histories", || async {
        let reference = ids(&history(first, group).await);
        for (name, node) in &nodes[1..] {
            let h = ids(&history(node, group).await);
            if h != reference {
                return Err(format!(
                    "{name} holds {} messages against {} ({} in common)",
                    h.len(),
                    reference.len(),
                    h.iter().filter(|i| reference.contains(i)).count()
                ));
            }
        }
        Ok(reference)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_closed_out_by_a_rekey_are_sent_again_in_the_new_epoch() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .try_init();
    let (dirs, mut nodes, group, _) = group_of(5, "换钥 repost").await;
    let (ida, idb, idd, ide) = (
        nodes[0].author().to_string(),
        nodes[1].author().to_string(),
        nodes[3].author().to_string(),
        nodes[4].author().to_string(),
    );
    nodes[0].set_role(group, &idb, Role::Admin).await.unwrap();
    {
        let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
        all_see(&[("A", a), ("B", b), ("C", c)], group, "B as admin", |i| {
            i.admins == [idb.clone()]
        })
        .await;
    }

    // C is away while B removes D and re-keys.
    nodes[2].shutdown().await.unwrap();
    nodes[1].remove(group, &idd).await.unwrap();
    {
        let [a, b] = [&nodes[0], &nodes[1]];
        all_see(&[("A", a), ("B", b)], group, "epoch 1 without D", |i| {
            i.epoch == 1 && !i.members.contains(&idd)
        })
        .await;
    }
    // C comes back and posts at once: its node does not know the re-key yet, and signs
    // the text in epoch 0, after the re-key in group order.
    let cut = start_cut_off(dirs[2].path()).await;
    let text = "C, just back: 你们好";
    let first = cut.send(group, text, None).await.unwrap().to_string();
    assert_eq!(cut.group_info(group).await.unwrap().epoch, 0);
    cut.shutdown().await.unwrap();
    drop(cut);
    nodes[2] = start(dirs[2].path()).await;

    // A is away while B removes E (a re-key to epoch 2); A comes back and demotes B at
    // once, in epoch 1.
    {
        let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
        all_see(&[("A", a), ("B", b), ("C", c)], group, "epoch 1", |i| {
            i.epoch == 1
        })
        .await;
    }
    nodes[0].shutdown().await.unwrap();
    nodes[1].remove(group, &ide).await.unwrap();
    {
        let [b, c] = [&nodes[1], &nodes[2]];
        all_see(&[("B", b), ("C", c)], group, "epoch 2 without E", |i| {
            i.epoch == 2 && !i.members.contains(&ide)
        })
        .await;
    }
    let cut = start_cut_off(dirs[0].path()).await;
    let demote = cut
        .set_role(group, &idb, Role::Member)
        .await
        .unwrap()
        .to_string();
    assert_eq!(cut.group_info(group).await.unwrap().epoch, 1);
    cut.shutdown().await.unwrap();
    drop(cut);
    nodes[0] = start(dirs[0].path()).await;

    let [a, b, c] = [&nodes[0], &nodes[1], &nodes[2]];
    let three = [("A", a), ("B", b), ("C", c)];
    all_see(&three, group, "epoch 2, B demoted", |i| {
        i.epoch == 2 && i.admins.is_empty() && i.owner == ida
    })
    .await;
    let h = same_histories(&three, group).await;
    let mine = history(c, group).await;
    let copies: Vec<_> = mine.iter().filter(|m| m.text == text).collect();
    assert_eq!(copies.len(), 1, "C's text:\n{}", describe(&mine));
    assert_ne!(copies[0].id, first, "C's text was not sent again");
    assert!(!h.contains(&first) && !h.contains(&demote), "{h:?}");
    // The re-sent demotion is in the log, once, allowed; the closed-out one is gone.
    for (name, node) in three {
        let log = node.moderation_log(group).await.unwrap();
        let roles: Vec<_> = log
            .iter()
            .filter(|l| l.kind == "role" && l.target.as_deref() == Some(idb.as_str()))
            .collect();
        assert_eq!(roles.len(), 2, "{name}: {log:#?}");
        assert!(
            roles.iter().all(|l| l.allowed && l.id != demote),
            "{name}: {log:#?}"
        );
    }
    chat(&three, group, "after the re-posts").await;
}
