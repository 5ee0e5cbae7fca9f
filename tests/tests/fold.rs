//! The node's incremental fold of group state (issue 12): a control op that sorts after the
//! last one folded is applied to the state as it stands, one that arrives out of order makes
//! the node fold again from scratch. Either way the state is the full fold of the stored
//! ops: the same as after a restart, which folds everything from the store.
//!
//! Control ops of a kind this version does not know (a tag in the reserved control range)
//! are stored and leave the rest of the state alone.
//!
//! Node A owns the group; node B is a member that publishes, with `publish_raw`, ops signed
//! by A's key (announcements, only the owner's count) and by a third member, with stamps
//! the test chooses, so A receives them in an order that is not group order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use qun_node::{Config, GroupInfo, Node, keys};
use qun_protocol::message::{Announcement, Join};
use qun_protocol::{Body, Envelope, GroupId, Identity, Kind, MessageKey, Stamp, Verified, frame};
use tempfile::TempDir;

/// Signs `kind` by `who`, stamped at `ms`, and has `via` publish it raw on the group.
async fn inject(
    via: &Node,
    group: GroupId,
    (epoch, key): (u64, &MessageKey),
    who: &Identity,
    ms: u64,
    kind: Kind,
) -> Verified {
    let body = Body {
        group,
        epoch,
        stamp: Stamp::new(ms, 0),
        kind,
    };
    let msg = Envelope::sign(who, &body).unwrap();
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&ms.to_be_bytes());
    let bytes = frame::seal_verified(&msg, key, nonce)
        .unwrap()
        .encode()
        .unwrap();
    via.publish_raw(group, bytes).await.unwrap();
    msg
}

/// Waits until `node` holds `msg`.
async fn wait_holds(node: &Node, group: GroupId, msg: &Verified) {
    let id = msg.id.to_string();
    eventually(DEADLINE, &format!("A to hold {id}"), || async {
        let h = history(node, group).await;
        h.iter()
            .any(|m| m.id == id)
            .then_some(())
            .ok_or_else(|| describe(&h))
    })
    .await;
}

/// The part of a group's info that is its folded state.
fn folded(info: &GroupInfo) -> (Vec<String>, Option<String>, String, Vec<String>) {
    (
        info.members.clone(),
        info.announcement.as_ref().map(|a| a.text.clone()),
        info.description.clone(),
        info.tags.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_control_ops_give_the_state_a_full_fold_gives() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let b = start(db.path()).await;
    let created = a.create_group(group_req("折叠", "")).await.unwrap();
    let group = b.join(&created.invite).await.unwrap();
    wait_topic_peers(&[("A", &a, 1), ("B", &b, 1)], group).await;

    let owner = keys::load_or_create(da.path()).unwrap();
    let m = Identity::from_seed([0x33; 32]);
    let (epoch, secret) = b.epoch_secret(group).await.unwrap();
    let key = secret.message_key(&group, epoch);
    let ek = (epoch, &key);
    // After everything A folded so far (B's join), and a little ahead of A's clock.
    let base = now_ms() + 100;
    let ann = |t: &str| Kind::Announcement(Announcement { text: t.to_owned() });
    let announcement = async || a.group_info(group).await.unwrap().announcement;

    // In order: applied to the state as it stands.
    let newer = inject(&b, group, ek, &owner, base + 20, ann("newer")).await;
    wait_holds(&a, group, &newer).await;
    assert_eq!(announcement().await.unwrap().text, "newer");

    // Out of order: an older announcement must not win, a join before the last op counts.
    let older = inject(&b, group, ek, &owner, base + 10, ann("older")).await;
    wait_holds(&a, group, &older).await;
    assert_eq!(announcement().await.unwrap().text, "newer");
    let join = inject(
        &b,
        group,
        ek,
        &m,
        base + 5,
        Kind::Join(Join { inviter: None }),
    )
    .await;
    wait_holds(&a, group, &join).await;
    let info = a.group_info(group).await.unwrap();
    assert!(info.members.contains(&m.author().to_string()), "{info:?}");
    assert_eq!(info.announcement.unwrap().text, "newer");

    // In order again, after a refold.
    let newest = inject(&b, group, ek, &owner, base + 30, ann("newest")).await;
    wait_holds(&a, group, &newest).await;
    assert_eq!(announcement().await.unwrap().text, "newest");

    // Kinds from a newer version, a control op (tag in the reserved range) and a post: both
    // stored (and so served by sync), shown as placeholders, and neither changes the state.
    let folded_so_far = folded(&a.group_info(group).await.unwrap());
    for (at, tag) in [(base + 40, 0x8000), (base + 41, 300)] {
        let payload = b"from a newer version".to_vec();
        let op = inject(&b, group, ek, &m, at, Kind::Unknown { tag, payload }).await;
        wait_holds(&a, group, &op).await;
        let h = history(&a, group).await;
        let shown = h.iter().find(|v| v.id == op.id.to_string()).unwrap();
        assert_eq!(shown.kind, "unknown");
        assert!(shown.text.contains("upgrade qun"), "{}", shown.text);
    }
    let info = a.group_info(group).await.unwrap();
    assert_eq!(folded(&info), folded_so_far);
    // The state says it may be incomplete.
    assert_eq!(info.unknown_control_ops, 1);
    let before = a.group_info(group).await.unwrap();

    // A restart folds everything from the store: the same state.
    a.shutdown().await.unwrap();
    drop(a);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = Node::start(Config::for_test(da.path())).await.unwrap();
    let after = a.group_info(group).await.unwrap();
    assert_eq!(folded(&after), folded(&before));
    assert_eq!(after.unknown_control_ops, 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
