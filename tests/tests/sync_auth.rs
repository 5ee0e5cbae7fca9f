//! Only members sync (issue 11, reproduction 3): a peer that names a group id on the sync
//! protocol without proving the epoch's secret learns nothing, not even whether the node is
//! in the group; a proof made for another peer or another epoch is refused; a member who
//! left is no longer served, and what it posts after its leave is stored by no one.
//!
//! The stranger and the member are bare libp2p swarms ([`Bare`]) speaking gossipsub and
//! `/qun/sync/3`, so the test controls every byte they send; the nodes are real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "sync_auth/bare.rs"]
mod bare;
mod common;

use qun_node::testing::NodeExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bare::*;
use common::*;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId};
use qun_node::Node;
use qun_node::store::{EpochSecret, Store};
use qun_protocol::frame;
use qun_protocol::message::{Join, Text};
use qun_protocol::reconcile::{self, Initiator};
use qun_protocol::sync::{Ask, Proof, ProofContext, Request, Response};
use qun_protocol::{
    Body, Envelope, GroupId, GroupSecret, Identity, Invite, Kind, MessageKey, OrderKey, Stamp,
    SyncKey, Verified, codec,
};
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_learns_nothing_not_even_whether_the_node_is_a_member() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let owner = start(dirs[0].path()).await;
    let outsider = start(dirs[1].path()).await;
    let former = start(dirs[2].path()).await;
    let created = owner.create_group(group_req("秘密", "")).await.unwrap();
    let group = Invite::parse(&created.invite, now_ms()).unwrap().group();
    owner.send(group, "private words", None).await.unwrap();
    // `former` was in the group and left it.
    former.join(&created.invite).await.unwrap();
    former.leave(group).await.unwrap();

    let mut stranger = Bare::new(0x51, None);
    let unknown = codec::encode(&Response::Unknown).unwrap();
    for node in [&owner, &outsider, &former] {
        stranger.connect(node).await;
        let to = node.peer_id();
        let mut asks = stranger_requests(&stranger, to, group);
        // A group no one has: the same answer as the real one.
        asks.push(Bare::reconcile_req(
            GroupId::from_bytes([0xee; 32]),
            0,
            Proof::from_bytes([0; 32]),
        ));
        for req in asks {
            let what = format!("{req:?}");
            let resp = stranger.ask(to, req).await;
            assert_eq!(
                codec::encode(&resp).unwrap(),
                unknown,
                "{to} answered {resp:?} to a stranger's {what}"
            );
        }
    }

    // The control: a member with the secret is served by the owner (so the answers above
    // are refusals, not a broken protocol).
    let mut member = Bare::new(0x52, Some(Membership::of(&owner, group).await));
    member.connect(&owner).await;
    let keys = member.keys_of(owner.peer_id()).await;
    assert!(!keys.is_empty(), "a member was shown no keys");
    for node in [owner, outsider, former] {
        node.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_are_bound_to_both_peers_and_to_the_epochs_the_member_holds() {
    let dir = TempDir::new().unwrap();
    let node = start(dir.path()).await;
    let created = node.create_group(group_req("两个纪元", "")).await.unwrap();
    let group = Invite::parse(&created.invite, now_ms()).unwrap().group();
    let m0 = Membership::of(&node, group).await;
    node.send(group, "epoch zero a", None).await.unwrap();
    node.send(group, "epoch zero b", None).await.unwrap();
    // The node moves on to epoch 1, whose secret the member never gets (written into its
    // store: the rotation itself is not built yet).
    node.shutdown().await.unwrap();
    drop(node);
    {
        // The stopped node lets go of its store (sled's lock) a moment after it answers.
        let store = eventually(DEADLINE, "the stopped node's store", || async {
            Store::open(&dir.path().join("store"), 1 << 20).map_err(|e| e.to_string())
        })
        .await;
        let (_, mut record) = store
            .groups()
            .unwrap()
            .into_iter()
            .find(|(g, _)| *g == group)
            .unwrap();
        record.epochs.push(EpochSecret {
            epoch: 1,
            secret: GroupSecret::from_bytes([0x11; 32]),
        });
        store.put_group(&group, &record).unwrap();
        store.flush_blocking().unwrap();
    }
    let node = start(dir.path()).await;
    assert_eq!(node.group_info(group).await.unwrap().epoch, 1);
    let one = node.send(group, "epoch one", None).await.unwrap();
    let to = node.peer_id();

    let mut member = Bare::new(0x61, Some(m0.clone()));
    let mut stranger = Bare::new(0x62, None);
    member.connect(&node).await;
    stranger.connect(&node).await;

    // Served: only epoch 0's keys, the meta of the creation and the two texts (nothing of
    // epoch 1, not even its key).
    let keys = member.keys_of(to).await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(keys.iter().all(|k| k.id != one), "an epoch-1 key was shown");
    let fetch = |m: &Bare, keys: Vec<OrderKey>| Request::Fetch {
        group,
        epoch: 0,
        proof: m.proof(to, &group, 0, Ask::Fetch, &m0.sync_key()),
        keys,
    };
    let Response::Frames { frames } = member
        .ask(to, fetch(&member, keys.iter().copied().collect()))
        .await
    else {
        panic!("a member's fetch was not served");
    };
    assert_eq!(frames.len(), 3);
    let texts: BTreeSet<String> = frames
        .iter()
        .filter_map(|f| {
            match frame::open(f, &group, |e| (e == 0).then(|| m0.key()))
                .unwrap()
                .body
                .kind
            {
                Kind::Text(t) => Some(t.text),
                _ => None,
            }
        })
        .collect();
    assert_eq!(
        texts,
        BTreeSet::from(["epoch zero a".to_owned(), "epoch zero b".to_owned()])
    );
    // An epoch-1 message asked for under an epoch-0 proof: nothing.
    let h = history(&node, group).await;
    let one_view = h.iter().find(|m| m.id == one.to_string()).unwrap();
    let one_key = OrderKey {
        stamp: Stamp::new(one_view.timestamp_ms, one_view.logical),
        id: one,
    };
    let resp = member.ask(to, fetch(&member, vec![one_key])).await;
    assert_eq!(resp, Response::Frames { frames: Vec::new() });

    let unknown = Response::Unknown;
    // Epoch 1 with what the member can make of it (its epoch-0 secret): refused.
    let guessed = m0.secret.sync_key(&group, 1);
    let req = Bare::reconcile_req(
        group,
        1,
        member.proof(to, &group, 1, Ask::Reconcile, &guessed),
    );
    assert_eq!(member.ask(to, req).await, unknown);
    // The member's valid proof, replayed by the stranger: refused.
    let proof = member.proof(to, &group, 0, Ask::Reconcile, &m0.sync_key());
    assert_eq!(
        stranger.ask(to, Bare::reconcile_req(group, 0, proof)).await,
        unknown
    );
    // A proof the member made for another responder: refused.
    let elsewhere = member.proof(PeerId::random(), &group, 0, Ask::Reconcile, &m0.sync_key());
    assert_eq!(
        member
            .ask(to, Bare::reconcile_req(group, 0, elsewhere))
            .await,
        unknown
    );
    // A reconcile proof on a fetch: refused.
    let req = Request::Fetch {
        group,
        epoch: 0,
        proof,
        keys: keys.iter().copied().collect(),
    };
    assert_eq!(member.ask(to, req).await, unknown);
    // And the right proof still works.
    assert!(matches!(
        member.ask(to, Bare::reconcile_req(group, 0, proof)).await,
        Response::Reconcile { .. }
    ));
    node.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_who_left_is_not_served_and_its_later_posts_are_stored_by_no_one() {
    let dirs: Vec<TempDir> = (0..2).map(|_| TempDir::new().unwrap()).collect();
    let a = start(dirs[0].path()).await;
    let b = start(dirs[1].path()).await;
    let created = a.create_group(group_req("离开", "")).await.unwrap();
    let group = b.join(&created.invite).await.unwrap();
    wait_topic_peers(&[("a", &a, 1), ("b", &b, 1)], group).await;

    let mut m = Bare::new(0x71, Some(Membership::of(&a, group).await));
    m.connect(&a).await;
    m.connect(&b).await;
    m.wait_subscribed(a.peer_id()).await;
    m.wait_subscribed(b.peer_id()).await;
    let nodes = [("a", &a), ("b", &b)];

    // Stamps a minute in the past, milliseconds apart: the order is the test's.
    m.post(1000, Kind::Join(Join { inviter: None }));
    let hello = m.post(1001, text("m: hello"));
    for (name, node) in nodes {
        m.wait_for(&format!("{name} to hold m's hello"), async || {
            holds(node, group, &hello)
                .await
                .then_some(())
                .ok_or_default()
        })
        .await;
    }
    // A member is served.
    let served = Bare::reconcile_req(
        group,
        0,
        m.proof(a.peer_id(), &group, 0, Ask::Reconcile, &m.m().sync_key()),
    );
    assert!(matches!(
        m.ask(a.peer_id(), served).await,
        Response::Reconcile { .. }
    ));

    let leave = m.post(1010, Kind::Leave);
    for (name, node) in nodes {
        m.wait_for(&format!("{name} to hold m's leave"), async || {
            holds(node, group, &leave)
                .await
                .then_some(())
                .ok_or_default()
        })
        .await;
    }
    // No longer served, by either node, with the answer a stranger gets.
    for (_, node) in nodes {
        let to = node.peer_id();
        let proof = m.proof(to, &group, 0, Ask::Reconcile, &m.m().sync_key());
        assert_eq!(
            m.ask(to, Bare::reconcile_req(group, 0, proof)).await,
            Response::Unknown
        );
    }

    // A post after the leave, validly signed and sealed, then one written before the leave
    // that arrives late: the nodes take the late one and refuse the other (gossip is in
    // order on a connection, so once the late one is stored the other was seen).
    let after = m.post(1011, text("m: after I left"));
    let late = m.post(1005, text("m: written before I left"));
    for (name, node) in nodes {
        m.wait_for(&format!("{name} to hold the late post"), async || {
            holds(node, group, &late)
                .await
                .then_some(())
                .ok_or_default()
        })
        .await;
        assert!(
            !holds(node, group, &after).await,
            "{name} stored a post from after the leave:\n{}",
            describe(&history(node, group).await)
        );
    }

    // Rejoin, with the first post after it arriving before the join: refused for now, then
    // fetched again by sync (from m, which serves it) once the join is in.
    let back = m.post(1021, text("m: back again"));
    let rejoin = m.post(1020, Kind::Join(Join { inviter: None }));
    m.wait_for("a to hold the rejoin", async || {
        holds(&a, group, &rejoin)
            .await
            .then_some(())
            .ok_or_default()
    })
    .await;
    m.wait_for("a to fetch the post after the rejoin", async || {
        let _ = a.sync(group).await;
        holds(&a, group, &back).await.then_some(()).ok_or_default()
    })
    .await;
    assert!(m.served > 0, "a never synced with m");
    assert_eq!(m.bad_proofs, 0, "a node's sync proof did not verify");
    // What m wrote between its leave and its rejoin stays out, also after syncing with m.
    for (name, node) in nodes {
        assert!(
            !holds(node, group, &after).await,
            "{name} stored a post from between the leave and the rejoin"
        );
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
