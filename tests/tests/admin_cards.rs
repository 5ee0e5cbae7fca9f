//! Cards and join approvals by admins, and discovery across a transfer (issue 13 item 6),
//! on five real nodes (TCP loopback, Kademlia).
//!
//! Node 0 only bootstraps the others. A creates a listed group; B joins by invite and A
//! makes B an admin. J finds the group by search and asks to join: its request reaches B
//! (an admin on the roster of A's card), B approves it, A never does, and J is in, with the
//! history. J, a member, may not approve nor see the requests (403 `not_admin`). Then A
//! hands the group to B and stops: S still finds the group by search, asks to join by its
//! id, and B, the owner now, lets it in. Then B bans J, and J's new request is rejected.
//! Last, B removes S, and S's new request waits for B's decision again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{DEADLINE, bootstrap_from, eventually, find_listed as find, wait_texts};
use qun_node::{Config, CreateGroup, Error, History, Node, NodeEvent};
use qun_protocol::group::Role;
use qun_protocol::{AuthorId, GroupId, Visibility};
use tempfile::TempDir;

async fn start(dir: &std::path::Path, boot: Option<&Node>) -> Node {
    let mut cfg = Config::for_test(dir);
    if let Some(b) = boot {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

/// Waits for `node`'s `Joined` event of `group`.
async fn joined(events: &mut tokio::sync::broadcast::Receiver<NodeEvent>, group: GroupId) {
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

/// `admin` approves `who`'s request once it has it and holds a roster naming it (it looks
/// for the owner's newest card between tries).
async fn approve(admin: &Node, group: GroupId, who: AuthorId) {
    eventually(DEADLINE, "the admin to approve the request", || async {
        admin
            .announce_discovery()
            .await
            .map_err(|e| e.to_string())?;
        match admin.decide_join(group, who, true).await {
            Ok(v) if v.status == "approved" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_approves_and_discovery_survives_a_transfer() {
    let dirs: Vec<TempDir> = (0..5).map(|_| TempDir::new().unwrap()).collect();
    let boot = start(dirs[0].path(), None).await;
    let a = start(dirs[1].path(), Some(&boot)).await;
    let b = start(dirs[2].path(), Some(&boot)).await;
    let j = start(dirs[3].path(), Some(&boot)).await;
    let s = start(dirs[4].path(), Some(&boot)).await;

    let created = a
        .create_group(CreateGroup {
            name: "管理员审批群".into(),
            description: "admins let you in".into(),
            tags: vec!["moderators".into()],
            visibility: Visibility::Listed,
        })
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    b.join(&created.invite).await.unwrap();
    let idb = b.author().to_string();
    eventually(DEADLINE, "A to see B join", || async {
        let i = a.group_info(group).await.map_err(|e| e.to_string())?;
        if i.members.contains(&idb) {
            Ok(())
        } else {
            Err(format!("members {:?}", i.members))
        }
    })
    .await;
    a.set_role(group, &idb, Role::Admin).await.unwrap();
    eventually(DEADLINE, "B to see itself an admin", || async {
        let i = b.group_info(group).await.map_err(|e| e.to_string())?;
        if i.admins == [idb.clone()] {
            Ok(())
        } else {
            Err(format!("admins {:?}", i.admins))
        }
    })
    .await;
    a.send(group, "欢迎新成员", None).await.unwrap();

    // J finds the group and asks; B, an admin, approves; A never decides.
    let mut events = j.subscribe();
    find(&j, &[&a, &b], "moderators", group).await;
    let out = j.join_group(group, "hello", History::All).await.unwrap();
    assert_eq!(out.status, "requested");
    approve(&b, group, j.author()).await;
    joined(&mut events, group).await;
    wait_texts("J", &j, group, &BTreeSet::from(["欢迎新成员".to_owned()])).await;
    let at_a = a.join_requests(group).await.unwrap();
    assert!(
        at_a.iter().all(|r| r.status == "pending"),
        "the owner decided: {at_a:?}"
    );

    // J, a member, may neither decide nor read the requests.
    for res in [
        j.decide_join(group, s.author(), true).await.map(|_| ()),
        j.join_requests(group).await.map(|_| ()),
    ] {
        assert!(
            matches!(&res, Err(Error::NotAllowed { rule, .. }) if *rule == "not_admin"),
            "{res:?}"
        );
    }

    // An approval cannot be taken back by a rejection, by the approver or another admin:
    // the way out is remove.
    for admin in [&a, &b] {
        let res = admin.decide_join(group, j.author(), false).await;
        assert!(
            matches!(&res, Err(Error::NotAllowed { rule, .. }) if *rule == "already_approved"),
            "{res:?}"
        );
    }

    // A hands the group to B and stops. Search still finds it, join by id still works:
    // B, the owner now, publishes the card and lets S in.
    a.transfer(group, &idb).await.unwrap();
    eventually(DEADLINE, "B to own the group", || async {
        let i = b.group_info(group).await.map_err(|e| e.to_string())?;
        if i.owner == idb {
            Ok(())
        } else {
            Err(format!("owner {}", i.owner))
        }
    })
    .await;
    a.shutdown().await.unwrap();
    let mut events = s.subscribe();
    find(&s, &[&b, &j], "moderators", group).await;
    let out = s.join_group(group, "", History::All).await.unwrap();
    assert_eq!(out.status, "requested");
    approve(&b, group, s.author()).await;
    joined(&mut events, group).await;
    wait_texts("S", &s, group, &BTreeSet::from(["欢迎新成员".to_owned()])).await;

    // B bans J; J leaves and asks again: the approval B gave before is not replayed, the
    // request is rejected, and J's node says so (issue 13: a ban blocks rejoin by request).
    let idj = j.author().to_string();
    b.ban(group, &idj).await.unwrap();
    eventually(DEADLINE, "J to be banned on B and S", || async {
        for n in [&b, &s] {
            let i = n.group_info(group).await.map_err(|e| e.to_string())?;
            if !i.banned.contains(&idj) {
                return Err(format!("banned {:?}", i.banned));
            }
        }
        Ok(())
    })
    .await;
    j.leave(group).await.unwrap();
    let mut events = j.subscribe();
    find(&j, &[&b, &s], "moderators", group).await;
    let out = j.join_group(group, "again", History::All).await.unwrap();
    assert_eq!(out.status, "requested");
    let rejected = tokio::time::timeout(DEADLINE, async {
        loop {
            match events.recv().await {
                Ok(NodeEvent::JoinRejected { group: g }) if g == group.to_string() => return,
                Ok(NodeEvent::Joined { group: g }) if g == group.to_string() => {
                    panic!("a banned key joined by request")
                }
                Ok(_) => {}
                Err(e) => panic!("events: {e}"),
            }
        }
    })
    .await;
    assert!(rejected.is_ok(), "no JoinRejected for the banned requester");
    assert!(
        j.group_info(group).await.is_err(),
        "J holds the group again"
    );

    // B removes S (not a ban); S leaves and asks again. Its old approval is not replayed
    // (it named an older epoch): the new request waits with its new note, and B's
    // approval lets S into the current epoch.
    let ids = s.author().to_string();
    b.remove(group, &ids).await.unwrap();
    s.leave(group).await.unwrap();
    let mut events = s.subscribe();
    find(&s, &[&b], "moderators", group).await;
    let out = s.join_group(group, "back", History::All).await.unwrap();
    assert_eq!(out.status, "requested");
    eventually(DEADLINE, "B to hold S's new request", || async {
        let r = b.join_requests(group).await.map_err(|e| e.to_string())?;
        match r.iter().find(|r| r.requester == ids) {
            Some(r) if r.note == "back" && r.status == "pending" => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    approve(&b, group, s.author()).await;
    joined(&mut events, group).await;
    b.send(group, "再次欢迎", None).await.unwrap();
    wait_texts("S", &s, group, &BTreeSet::from(["再次欢迎".to_owned()])).await;
}
