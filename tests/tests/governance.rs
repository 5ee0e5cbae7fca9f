//! Governance through real nodes (issue 13): roles, mute, demotion, transfer and ban, each
//! op posted by a node that checks the group's rule before it signs, and taken or refused
//! by every node the same way.
//!
//! A owns the group; B and C join. A promotes B; B mutes C, and C's posts (its own node
//! refuses them; frames signed by C's key and published raw) reach no one until B
//! unmutes C. A demotes B: B's next mute is refused with `not_admin` and sent nowhere. A
//! hands the group to B: B promotes C, A (an admin now) cannot demote C. B bans C: C's
//! later posts reach no one. The moderation log lists all of it, in the same order on
//! every node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use qun_node::{Error, Node, keys};
use qun_protocol::group::Role;
use qun_protocol::{GroupId, Identity};
use tempfile::TempDir;

/// How long a refused frame is given to (not) arrive.
const SETTLE: Duration = Duration::from_millis(1500);

/// Signs a text by `who` stamped now and has `via` publish it raw, past its own node's
/// checks; returns its id.
async fn inject_text(via: &Node, group: GroupId, who: &Identity, text: &str) -> String {
    let (epoch, secret) = via.epoch_secret(group).await.unwrap();
    inject(via, group, who, epoch, &secret, text).await
}

/// Asserts that no node holds the message `id`.
async fn nobody_holds(nodes: &[(&str, &Node)], group: GroupId, id: &str, what: &str) {
    for (name, node) in nodes {
        let h = history(node, group).await;
        assert!(
            !h.iter().any(|m| m.id == id),
            "{name} holds {what}:\n{}",
            describe(&h)
        );
    }
}

fn refused_with(res: Result<impl std::fmt::Debug, Error>, want: &str) {
    match res {
        Err(Error::NotAllowed { rule, .. }) if rule == want => {}
        other => panic!("expected NotAllowed({want}), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_mute_demotion_transfer_and_ban_agree_on_every_node() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let a = start(dirs[0].path()).await;
    let b = start(dirs[1].path()).await;
    let c = start(dirs[2].path()).await;
    let created = a.create_group(group_req("管理 test", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    b.join(&created.invite).await.unwrap();
    c.join(&created.invite).await.unwrap();
    wait_topic_peers(&[("A", &a, 2), ("B", &b, 2), ("C", &c, 2)], group).await;
    let all = [("A", &a), ("B", &b), ("C", &c)];
    let (ida, idb, idc) = (
        a.author().to_string(),
        b.author().to_string(),
        c.author().to_string(),
    );
    all_see(&all, group, "B and C as members", |i| {
        i.members.contains(&idb) && i.members.contains(&idc)
    })
    .await;

    // A promotes B, named by an id prefix.
    a.set_role(group, &idb[..12], Role::Admin).await.unwrap();
    all_see(&all, group, "B as admin", |i| i.admins == [idb.clone()]).await;

    // B mutes C: C's own node refuses its posts, and a frame signed by C's key that skips
    // those checks is refused by every node.
    b.mute(group, &idc, None).await.unwrap();
    all_see(&all, group, "C muted", |i| {
        i.muted.iter().any(|m| m.member == idc && m.by == idb)
    })
    .await;
    refused_with(c.send(group, "C, muted", None).await, "muted");
    assert_eq!(c.group_info(group).await.unwrap().standing, "muted");
    let c_key = keys::load_or_create(dirs[2].path()).unwrap();
    let muted_post = inject_text(&c, group, &c_key, "C, muted, raw").await;
    tokio::time::sleep(SETTLE).await;
    nobody_holds(&all, group, &muted_post, "C's muted post").await;

    // Unmuted, C speaks to everyone again.
    b.unmute(group, &idc).await.unwrap();
    all_see(&all, group, "C unmuted", |i| i.muted.is_empty()).await;
    let spoke = "C 又能说话了 (unmuted)".to_owned();
    c.send(group, &spoke, None).await.unwrap();
    for (name, node) in all {
        wait_texts(name, node, group, &[spoke.clone()].into()).await;
    }

    // A demotes B: B's mute is refused before it is signed, and so reaches no one.
    a.set_role(group, &idb, Role::Member).await.unwrap();
    all_see(&all, group, "B demoted", |i| i.admins.is_empty()).await;
    refused_with(b.mute(group, &idc, None).await, "not_admin");
    tokio::time::sleep(SETTLE).await;
    for (name, node) in all {
        let mutes = history(node, group)
            .await
            .iter()
            .filter(|m| m.kind == "mute")
            .count();
        assert_eq!(mutes, 1, "{name} holds a mute besides B's first one");
    }

    // A hands the group to B: the new owner promotes C, the old one cannot demote C.
    a.transfer(group, &idb).await.unwrap();
    all_see(&all, group, "B as owner, A as admin", |i| {
        i.owner == idb && i.admins == [ida.clone()]
    })
    .await;
    b.set_role(group, &idc, Role::Admin).await.unwrap();
    all_see(&all, group, "C as admin", |i| i.admins.contains(&idc)).await;
    refused_with(a.set_role(group, &idc, Role::Member).await, "not_owner");

    // B bans C: C's later posts reach no one.
    b.ban(group, &idc).await.unwrap();
    all_see(&all, group, "C banned", |i| {
        i.banned == [idc.clone()] && !i.members.contains(&idc)
    })
    .await;
    refused_with(c.send(group, "C, banned", None).await, "author_banned");
    assert_eq!(c.group_info(group).await.unwrap().standing, "banned");
    assert_eq!(b.group_info(group).await.unwrap().standing, "owner");
    assert_eq!(a.group_info(group).await.unwrap().standing, "admin");
    let banned_post = inject_text(&c, group, &c_key, "C, banned, raw").await;
    tokio::time::sleep(SETTLE).await;
    nobody_holds(&all, group, &banned_post, "C's post after its ban").await;

    // The ban re-keys the group (B's node, which banned): A and B move to epoch 1.
    all_see(&all[..2], group, "epoch 1", |i| i.epoch == 1).await;

    // The moderation log: the same ops in the same order everywhere, each allowed.
    let log = a.moderation_log(group).await.unwrap();
    let moderation: Vec<(&str, &str, &str)> = log
        .iter()
        .filter(|e| !matches!(e.kind.as_str(), "join" | "meta"))
        .map(|e| {
            (
                e.kind.as_str(),
                e.author.as_str(),
                e.target.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        moderation,
        [
            ("role", ida.as_str(), idb.as_str()),
            ("mute", idb.as_str(), idc.as_str()),
            ("unmute", idb.as_str(), idc.as_str()),
            ("role", ida.as_str(), idb.as_str()),
            ("transfer", ida.as_str(), idb.as_str()),
            ("role", idb.as_str(), idc.as_str()),
            ("ban", idb.as_str(), idc.as_str()),
            ("rekey", idb.as_str(), ""),
        ],
        "{log:#?}"
    );
    assert!(log.iter().all(|e| e.allowed), "{log:#?}");
    let ids = |l: &[qun_node::LogEntry]| l.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&b.moderation_log(group).await.unwrap()), ids(&log));
}
