//! Members that know the group's topic and key publish hostile frames; honest nodes
//! must reject every one, keep chatting, and lower the rogues' gossipsub scores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use qun_node::{Node, NodeEvent, keys};
use qun_protocol::frame::{self, Frame};
use qun_protocol::message::Text;
use qun_protocol::{AuthorId, Body, Envelope, GroupId, Identity, Invite, Kind, MessageKey, Stamp};
use tempfile::TempDir;
use tokio::sync::broadcast;

/// gossipsub graylist threshold the node configures (net.rs): below it, a peer's RPCs are
/// dropped unread.
const GRAYLIST: f64 = -80.0;

/// A unique 24-byte nonce (uniqueness is all a test needs).
fn nonce() -> [u8; 24] {
    static N: AtomicU64 = AtomicU64::new(1);
    let mut out = [0u8; 24];
    out[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    out[8..24].copy_from_slice(
        &SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            .to_be_bytes(),
    );
    out
}

fn text_body(group: GroupId, epoch: u64, counter: u64, text: &str) -> Body {
    Body {
        group,
        epoch,
        stamp: Stamp::new(now_ms(), counter),
        kind: Kind::Text(Text {
            text: text.to_owned(),
            reply_to: None,
            mentions: Vec::new(),
        }),
    }
}

/// A correct frame: `identity` signs a text for `group`, sealed with `key`.
fn valid_frame(
    identity: &Identity,
    group: GroupId,
    epoch: u64,
    key: &MessageKey,
    text: &str,
) -> Vec<u8> {
    let msg = Envelope::sign(identity, &text_body(group, epoch, 5, text)).unwrap();
    frame::seal_verified(&msg, key, nonce())
        .unwrap()
        .encode()
        .unwrap()
}

/// Takes every event out of `rx` (non-blocking) into `seen`.
fn drain(rx: &mut broadcast::Receiver<NodeEvent>, seen: &mut Vec<NodeEvent>) {
    loop {
        match rx.try_recv() {
            Ok(ev) => seen.push(ev),
            Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
            Err(_) => return,
        }
    }
}

async fn score(node: &Node, peer: qun_node::testing::PeerId) -> Option<f64> {
    node.peer_score(peer).await.unwrap()
}

/// A member gone bad: a real node that joined with the invite, so it knows the topic and
/// the key, and publishes whatever it likes with `publish_raw`.
struct Rogue {
    name: &'static str,
    node: Node,
    identity: Identity,
    peer: String,
    _dir: TempDir,
}

/// How many rogues share the frames. Each frame must reach A's validation, and once a
/// rogue's score is below A's graylist A drops its frames unread until the penalty has
/// decayed (about 1.5 s after one invalid frame, far longer after more), so each rogue
/// sends only two.
const ROGUES: usize = 3;

/// How long the group chats with the rogues in it before they strike.
const ESTABLISHED: Duration = Duration::from_secs(4);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rogue_frames_are_rejected() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let b = start(db.path()).await;
    let created = a.create_group(group_req("防骚扰群", "")).await.unwrap();
    let group: GroupId = created.group.parse().unwrap();
    assert_eq!(b.join(&created.invite).await.unwrap(), group);
    let mut rogues = Vec::new();
    for name in ["R1", "R2", "R3"] {
        let dir = TempDir::new().unwrap();
        let node = start(dir.path()).await;
        assert_eq!(node.join(&created.invite).await.unwrap(), group);
        // The rogue signs with its own node key (the same key as its PeerId).
        let identity = keys::load_or_create(dir.path()).unwrap();
        assert_eq!(identity.author().to_string(), node.peer_id().to_string());
        rogues.push(Rogue {
            name,
            peer: node.peer_id().to_string(),
            node,
            identity,
            _dir: dir,
        });
    }
    assert_eq!(rogues.len(), ROGUES);
    wait_topic_peers(&[("A", &a, 1 + ROGUES), ("B", &b, 1)], group).await;
    for r in &rogues {
        wait_topic_peers(&[(r.name, &r.node, 1)], group).await;
    }

    // What a rogue knows as a member: group, epoch and secret.
    let invite = Invite::parse(&created.invite, now_ms()).unwrap();
    assert_eq!(invite.group(), group);
    let (epoch, secret) = rogues[0].node.epoch_secret(group).await.unwrap();
    let key = secret.message_key(&group, epoch);
    let a_author: AuthorId = a.peer_id().to_string().parse().unwrap();

    let mut events = a.subscribe();
    let mut seen: Vec<NodeEvent> = Vec::new();

    // A control: a correct frame built the same way and sent through publish_raw reaches
    // both honest nodes, so the rejections below are about the frames' faults, not about
    // the raw path or how the test builds frames.
    let probe = "R1 probe: a valid frame through publish_raw";
    rogues[0]
        .node
        .publish_raw(
            group,
            valid_frame(&rogues[0].identity, group, epoch, &key, probe),
        )
        .await
        .unwrap();
    let mut honest: BTreeSet<String> = [probe.to_owned()].into();
    wait_texts("A", &a, group, &honest).await;
    wait_texts("B", &b, group, &honest).await;

    // The group chats for a while with the rogues in it: a real attacker is an
    // established member (in the honest nodes' meshes for seconds), not one that strikes
    // within milliseconds of joining.
    let chat_until = Instant::now() + ESTABLISHED;
    let mut round = 0;
    while Instant::now() < chat_until {
        round += 1;
        for (name, node) in [("A", &a), ("B", &b)] {
            let text = format!("{name} chat #{round} 聊天");
            node.send(group, &text, None).await.unwrap();
            honest.insert(text);
        }
        wait_texts("A", &a, group, &honest).await;
        wait_texts("B", &b, group, &honest).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // (a) garbage: not a frame at all, and a frame's version byte over garbage.
    let garbage: Vec<u8> = (0..200u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
        .collect();
    let mut garbage_v1 = garbage.clone();
    garbage_v1[0] = frame::VERSION;
    // (b) a valid frame with one flipped bit in the ciphertext.
    let mut flipped = Frame::decode(&valid_frame(
        &rogues[1].identity,
        group,
        epoch,
        &key,
        "rogue: bit flipped",
    ))
    .unwrap();
    flipped.ciphertext[7] ^= 0x10;
    // (c) signed by R3, relabelled as written by A, sealed correctly.
    let forged = {
        let msg = Envelope::sign(
            &rogues[2].identity,
            &text_body(group, epoch, 6, "rogue: forged as A"),
        )
        .unwrap();
        let mut env = msg.envelope;
        env.author = a_author;
        Frame::seal(&env.encode().unwrap(), &key, &group, epoch, nonce())
            .unwrap()
            .encode()
            .unwrap()
    };
    // (d) a correctly signed message of another group id: sealed for this group (so it
    // decrypts here), and sealed for the other group (so it does not).
    let other = GroupId::from_bytes([0x5a; 32]);
    let other_msg = |identity: &Identity| {
        Envelope::sign(identity, &text_body(other, epoch, 7, "rogue: other group")).unwrap()
    };
    let other_here = Frame::seal(
        &other_msg(&rogues[1].identity).envelope.encode().unwrap(),
        &key,
        &group,
        epoch,
        nonce(),
    )
    .unwrap()
    .encode()
    .unwrap();
    let other_there = frame::seal_verified(&other_msg(&rogues[2].identity), &key, nonce())
        .unwrap()
        .encode()
        .unwrap();

    // (rogue, what, frame, the reason A must give)
    let plan: Vec<(usize, &str, Vec<u8>, &str)> = vec![
        (0, "garbage", garbage, "unknown frame version"),
        (
            1,
            "flipped bit",
            flipped.encode().unwrap(),
            "decryption failed",
        ),
        (2, "forged author", forged, "signature mismatch"),
        (
            0,
            "garbage after a version byte",
            garbage_v1,
            "malformed frame",
        ),
        (
            1,
            "other group's message",
            other_here,
            "message is for group",
        ),
        (2, "other group's frame", other_there, "decryption failed"),
    ];

    for (i, (ri, what, bytes, reason)) in plan.into_iter().enumerate() {
        let r = &rogues[ri];
        // Below the graylist A drops the rogue's RPCs unread: wait until the penalty of
        // its previous frame has decayed, so that this frame is examined.
        eventually(
            Duration::from_secs(15),
            &format!(
                "{}'s score at A to rise above the graylist before sending {what}",
                r.name
            ),
            || async {
                match score(&a, r.node.peer_id()).await {
                    Some(s) if s > GRAYLIST => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
        r.node
            .publish_raw(group, bytes)
            .await
            .unwrap_or_else(|e| panic!("{} could not publish {what}: {e}", r.name));
        let got = eventually(
            Duration::from_secs(10),
            &format!("A to reject {}'s {what} with {reason:?}", r.name),
            || {
                drain(&mut events, &mut seen);
                let found = seen.iter().find_map(|ev| match ev {
                    NodeEvent::Rejected { peer, reason: why }
                        if peer == &r.peer && why.contains(reason) =>
                    {
                        Some(why.clone())
                    }
                    _ => None,
                });
                let state = format!("{:?}", seen.iter().rev().take(5).collect::<Vec<_>>());
                async move { found.ok_or(state) }
            },
        )
        .await;
        seen.clear();
        assert!(got.contains(reason));

        // Meanwhile the honest members keep talking.
        for (name, node) in [("A", &a), ("B", &b)] {
            let text = format!("{name} honest #{i} 正常消息");
            node.send(group, &text, None).await.unwrap();
            honest.insert(text);
        }
    }

    let rogue_peers: Vec<&str> = rogues.iter().map(|r| r.peer.as_str()).collect();
    for (name, node) in [("A", &a), ("B", &b)] {
        let h = wait_texts(name, node, group, &honest).await;
        // Nothing of the rogue frames was stored: only the honest texts (and the probe)
        // and control messages (joins).
        assert_eq!(texts(&h), honest, "{name}'s texts:\n{}", describe(&h));
        for m in &h {
            assert!(
                !m.text.contains("rogue"),
                "{name} stored a rogue message: {m:?}"
            );
            if rogue_peers.contains(&m.author.as_str()) {
                assert!(
                    m.kind == "join" || m.text == probe,
                    "{name} stored an unexpected message by a rogue: {m:?}"
                );
            }
            assert_eq!(m.group, group.to_string());
        }
    }
    // Each rogue sent invalid frames: A's score of it must turn negative (so that A prunes
    // it from its mesh and, further down, ignores it).
    for r in &rogues {
        eventually(
            Duration::from_secs(10),
            &format!("A's gossipsub score of {} to become negative", r.name),
            || async {
                match score(&a, r.node.peer_id()).await {
                    Some(s) if s < 0.0 => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            },
        )
        .await;
    }
    for n in [&a, &b] {
        n.shutdown().await.unwrap();
    }
    for r in &rogues {
        r.node.shutdown().await.unwrap();
    }
}
