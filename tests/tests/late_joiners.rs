//! Joining after a re-key (issue 13): a late joiner gets every epoch secret the admitting
//! member holds, so it folds the same state as the older members and reads the older
//! history; an invite made before a re-key still admits; a removed inviter's does not.
//!
//! 1. Seven nodes (node 0 only bootstraps the DHT). A creates a listed group; B, C, D join
//!    by invite and chat in epoch 0. A promotes B, mutes C for an hour and removes D (A
//!    re-keys: epoch 1). E joins by a fresh invite, F by a join request A approves. E and
//!    F show A's roles, mutes, bans and members, read the epoch-0 history, and refuse C's
//!    posts (a raw frame of C's, published by C's node, reaches none of them).
//! 2. Four nodes. A and B (an admin) each make an invite in epoch 0; A removes C (epoch
//!    1). X joins with A's old invite and reads epoch 0; C, removed, is refused with it
//!    ("removed from this group") and let in by a new one. A removes B; Y, with B's
//!    invite, is refused: "may no longer invite".
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use qun_node::{Config, CreateGroup, Error, History, Node, NodeEvent, keys};
use qun_protocol::group::{Rekey, Role};
use qun_protocol::{AuthorId, GroupId, GroupSecret, Kind, Visibility};
use tempfile::TempDir;

/// How long a refused frame is given to (not) arrive.
const SETTLE: Duration = Duration::from_millis(1500);

async fn start_with(dir: &std::path::Path, boot: Option<&Node>) -> Node {
    let mut cfg = Config::for_test(dir);
    if let Some(b) = boot {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

/// Waits until every node in `nodes` lists each of `ids` as a member.
async fn all_members(nodes: &[(&str, &Node)], group: GroupId, ids: &[String]) {
    all_see(nodes, group, "every member", |i| {
        ids.iter().all(|id| i.members.contains(id))
    })
    .await;
}

/// What a node shows of the group's governance: owner, members, admins, mutes (member, by,
/// until), bans, epoch.
async fn governance(node: &Node, group: GroupId) -> String {
    let i = node.group_info(group).await.unwrap();
    let mut members = i.members.clone();
    members.sort();
    let muted: Vec<String> = i
        .muted
        .iter()
        .map(|m| format!("{}/{}/{:?}", m.member, m.by, m.until_ms))
        .collect();
    format!(
        "owner={} members={members:?} admins={:?} muted={muted:?} banned={:?} epoch={}",
        i.owner, i.admins, i.banned, i.epoch
    )
}

/// F finds the listed group by search (members announce meanwhile), asks to join, and `by`
/// approves; returns once F's node says it joined.
async fn join_by_request(f: &Node, by: &Node, members: &[&Node], query: &str, group: GroupId) {
    let mut events = f.subscribe();
    find_listed(f, members, query, group).await;
    let out = f.join_group(group, "hello", History::All).await.unwrap();
    assert_eq!(out.status, "requested");
    let who: AuthorId = f.author();
    eventually(DEADLINE, "the approval", || async {
        match by.decide_join(group, who, true).await {
            Ok(v) if v.status == "approved" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let got = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::Joined { group: g }) if g == group.to_string() => return,
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await;
    assert!(got.is_ok(), "no Joined event after the approval");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_joiners_fold_the_older_epochs_and_read_their_history() {
    let dirs: Vec<TempDir> = (0..7).map(|_| TempDir::new().unwrap()).collect();
    let boot = start_with(dirs[0].path(), None).await;
    let mut nodes = Vec::new();
    for d in &dirs[1..] {
        nodes.push(start_with(d.path(), Some(&boot)).await);
    }
    let [a, b, c, d, e, f] = [
        &nodes[0], &nodes[1], &nodes[2], &nodes[3], &nodes[4], &nodes[5],
    ];
    let created = a
        .create_group(CreateGroup {
            name: "后来者群".into(),
            description: "late joiners".into(),
            tags: vec!["latecomers".into()],
            visibility: Visibility::Listed,
        })
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    for n in [b, c, d] {
        n.join(&created.invite).await.unwrap();
    }
    let ids: Vec<String> = [a, b, c, d]
        .iter()
        .map(|n| n.author().to_string())
        .collect();
    let four = [("A", a), ("B", b), ("C", c), ("D", d)];
    all_members(&four, group, &ids).await;
    let mut old = BTreeSet::new();
    for (name, n) in &four {
        let t = format!("epoch 0: {name} 说 hi");
        n.send(group, &t, None).await.unwrap();
        old.insert(t);
    }
    for (name, n) in &four {
        wait_texts(name, n, group, &old).await;
    }

    // B an admin, C muted for an hour, D removed: A re-keys to epoch 1.
    let (idb, idc, idd) = (ids[1].clone(), ids[2].clone(), ids[3].clone());
    a.set_role(group, &idb, Role::Admin).await.unwrap();
    a.mute(group, &idc, Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let three = [("A", a), ("B", b), ("C", c)];
    all_see(&three, group, "B an admin and C muted", |i| {
        i.admins == [idb.clone()] && i.muted.iter().any(|m| m.member == idc)
    })
    .await;
    a.remove(group, &idd).await.unwrap();
    all_see(&three, group, "epoch 1 without D", |i| {
        i.epoch == 1 && !i.members.contains(&idd)
    })
    .await;

    // E by a fresh invite (it names epoch 1), F by a request A approves.
    let invite = a.invite(group, Duration::from_secs(600)).await.unwrap();
    e.join(&invite).await.unwrap();
    join_by_request(f, a, &[a, b], "latecomers", group).await;
    let (ide, idf) = (e.author().to_string(), f.author().to_string());
    let five = [("A", a), ("B", b), ("C", c), ("E", e), ("F", f)];
    all_members(&five, group, &[ide.clone(), idf.clone()]).await;

    // E and F read epoch 0 and fold its ops: the same roles, mutes, bans and members.
    for (name, n) in [("E", e), ("F", f)] {
        wait_texts(name, n, group, &old).await;
    }
    let want = governance(a, group).await;
    assert!(want.contains(&idc) && want.contains("epoch=1"), "{want}");
    for (name, n) in [("B", b), ("E", e), ("F", f)] {
        eventually(
            DEADLINE,
            &format!("{name} to show A's governance"),
            || async {
                let got = governance(n, group).await;
                if got == want {
                    Ok(())
                } else {
                    Err(format!("{got}\nA: {want}"))
                }
            },
        )
        .await;
    }
    let (epoch, _) = e.epoch_secret(group).await.unwrap();
    assert_eq!(epoch, 1);

    // C's node refuses its post; a raw frame of C's in epoch 1 reaches E and F (on the
    // topic) and both refuse it: C is muted by their fold too.
    match c.send(group, "C, muted", None).await {
        Err(Error::NotAllowed { rule: "muted", .. }) => {}
        other => panic!("C's post: {other:?}"),
    }
    wait_topic_peers(&[("E", e, 1), ("F", f, 1)], group).await;
    let c_key = keys::load_or_create(dirs[3].path()).unwrap();
    let (e1, secret1) = c.epoch_secret(group).await.unwrap();
    assert_eq!(e1, 1);
    let muted = inject(c, group, &c_key, 1, &secret1, "C, muted, raw").await;
    // A control: a post of A's sent after it arrives everywhere.
    a.send(group, "after C's raw post", None).await.unwrap();
    let after = BTreeSet::from(["after C's raw post".to_owned()]);
    for (name, n) in [("E", e), ("F", f)] {
        wait_texts(name, n, group, &after).await;
    }
    tokio::time::sleep(SETTLE).await;
    for (name, n) in [("A", a), ("B", b), ("E", e), ("F", f)] {
        let h = history(n, group).await;
        assert!(
            !h.iter().any(|m| m.id == muted),
            "{name} holds C's muted post:\n{}",
            describe(&h)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_invite_admits_after_a_rekey_unless_its_inviter_was_removed() {
    let dirs: Vec<TempDir> = (0..5).map(|_| TempDir::new().unwrap()).collect();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(start(d.path()).await);
    }
    let [a, b, c, x, y] = [&nodes[0], &nodes[1], &nodes[2], &nodes[3], &nodes[4]];
    let created = a.create_group(group_req("旧邀请", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    b.join(&created.invite).await.unwrap();
    c.join(&created.invite).await.unwrap();
    let ids: Vec<String> = [a, b, c].iter().map(|n| n.author().to_string()).collect();
    let three = [("A", a), ("B", b), ("C", c)];
    all_members(&three, group, &ids).await;
    let (idb, idc) = (ids[1].clone(), ids[2].clone());
    a.set_role(group, &idb, Role::Admin).await.unwrap();
    all_see(&three, group, "B an admin", |i| i.admins == [idb.clone()]).await;
    a.send(group, "epoch 0 words", None).await.unwrap();
    // Both invites name epoch 0.
    let by_a = a.invite(group, Duration::from_secs(600)).await.unwrap();
    let by_b = b.invite(group, Duration::from_secs(600)).await.unwrap();

    a.remove(group, &idc).await.unwrap();
    all_see(&[("A", a), ("B", b)], group, "epoch 1", |i| i.epoch == 1).await;
    // A's invite of epoch 0 still admits, into epoch 1, with epoch 0's history.
    x.join(&by_a).await.unwrap();
    let idx = x.author().to_string();
    all_see(&[("A", a), ("X", x)], group, "X in epoch 1", |i| {
        i.epoch == 1 && i.members.contains(&idx)
    })
    .await;
    wait_texts("X", x, group, &BTreeSet::from(["epoch 0 words".to_owned()])).await;

    // C, removed, cannot come back with an invite made before its removal (it left its
    // copy of the group first, or not): the refusal says why. A new invite lets it in.
    for leave_first in [false, true] {
        if leave_first {
            c.leave(group).await.unwrap();
        }
        let refused = c
            .join(&by_a)
            .await
            .expect_err("a removed member came back with an invite made before its removal");
        let msg = refused.to_string();
        assert!(msg.contains("removed from this group"), "{msg}");
    }
    let fresh = a.invite(group, Duration::from_secs(600)).await.unwrap();
    c.join(&fresh).await.unwrap();
    all_see(&[("A", a), ("C", c)], group, "C back in epoch 1", |i| {
        i.epoch == 1 && i.members.contains(&idc)
    })
    .await;

    // B is removed: its invite stops working, and the refusal says why.
    a.remove(group, &idb).await.unwrap();
    all_see(&[("A", a), ("B", b), ("X", x)], group, "B removed", |i| {
        !i.members.contains(&idb)
    })
    .await;
    let refused = y
        .join(&by_b)
        .await
        .expect_err("a removed admin's invite admitted");
    let msg = refused.to_string();
    assert!(msg.contains("may no longer invite"), "{msg}");
}

/// A member that a re-key missed is handed the new epoch. In the wild: D is admitted by X
/// while A, back from being away, removes someone before its node has synced D's join, so
/// A's re-key is sealed to the others only. Here that re-key is made outright: signed with
/// A's key, sealed to A, X and B, and published through X. D is a member by every fold but
/// holds no secret of epoch 1 (nor could it open a later re-key, sent in epoch 1); an admin
/// pushes it every epoch secret (`Request::Handover`), and D reads and writes in epoch 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_a_rekey_missed_is_handed_the_new_epoch() {
    let dirs: Vec<TempDir> = (0..4).map(|_| TempDir::new().unwrap()).collect();
    let mut nodes = Vec::new();
    for d in &dirs {
        nodes.push(start(d.path()).await);
    }
    let [a, x, b, d] = [&nodes[0], &nodes[1], &nodes[2], &nodes[3]];
    let created = a.create_group(group_req("交接", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    for n in [x, b, d] {
        n.join(&created.invite).await.unwrap();
    }
    let ids: Vec<String> = [a, x, b, d]
        .iter()
        .map(|n| n.author().to_string())
        .collect();
    let all = [("A", a), ("X", x), ("B", b), ("D", d)];
    all_members(&all, group, &ids).await;
    a.set_role(group, &ids[1], Role::Admin).await.unwrap();
    all_see(&all, group, "X an admin", |i| i.admins == [ids[1].clone()]).await;

    // A's re-key to epoch 1, sealed to everyone but D.
    let a_key = keys::load_or_create(dirs[0].path()).unwrap();
    let (epoch, secret) = x.epoch_secret(group).await.unwrap();
    assert_eq!(epoch, 0);
    let rekey = Rekey::create(
        &group,
        1,
        &GroupSecret::from_bytes([0x42; 32]),
        [a.author(), x.author(), b.author()],
        ([0x17; 32], [0x18; 24]),
    )
    .unwrap();
    inject_kind(x, group, &a_key, 0, &secret, Kind::Rekey(rekey)).await;

    all_see(&all, group, "epoch 1, D still a member", |i| {
        i.epoch == 1 && i.members.contains(&ids[3])
    })
    .await;
    let after = "epoch 1: D reads this".to_owned();
    a.send(group, &after, None).await.unwrap();
    wait_texts("D", d, group, &BTreeSet::from([after])).await;
    let from_d = "D writes in epoch 1".to_owned();
    d.send(group, &from_d, None).await.unwrap();
    for (name, n) in [("A", a), ("B", b)] {
        wait_texts(name, n, group, &BTreeSet::from([from_d.clone()])).await;
    }
}
