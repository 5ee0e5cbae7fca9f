//! Short invite codes on real nodes (issue 11, deliverable 7): the default code is
//! ≤ 120 characters; a node that never met the inviter joins with it through the DHT; a
//! code that names nothing, a joiner without the DHT and an inviter without DHT peers each
//! get a clear answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use qun_node::{Config, Error, Node};
use qun_protocol::invite::short::ShortCode;
use tempfile::TempDir;

async fn start_via(dir: &Path, boot: Option<&Node>, dht: bool) -> Node {
    let mut cfg = Config::for_test(dir);
    cfg.dht = dht;
    if let Some(b) = boot {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_to_the_inviter_joins_with_a_short_code() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let a = start_via(dirs[0].path(), None, true).await;
    let b = start_via(dirs[1].path(), Some(&a), true).await;
    let created = a
        .create_group(group_req("周末徒步", "每周六"))
        .await
        .unwrap();
    let group = a.resolve(&created.group).await.unwrap();
    a.send(group, "集合地点: 地铁口", None).await.unwrap();
    let code = eventually(DEADLINE, "a short code stored in the DHT", || async {
        let c = a
            .short_invite(group, Duration::from_secs(3600))
            .await
            .map_err(|e| e.to_string())?;
        if c.short {
            Ok(c)
        } else {
            Err(format!("{c:?}"))
        }
    })
    .await;
    assert!(code.invite.starts_with("quns1"), "{code:?}");
    assert!(code.invite.len() <= 120, "{} characters", code.invite.len());
    assert_eq!(code.group, group.to_string());
    assert!(code.note.is_none());

    // C knows only B; it has never seen A's addresses.
    let c = start_via(dirs[2].path(), Some(&b), true).await;
    let pasted = format!("来徒步吧！\n{}\u{200b}", code.invite.to_uppercase());
    let joined = c.join(&pasted).await.unwrap();
    assert_eq!(joined, group);
    assert_eq!(
        c.epoch_secret(group).await.unwrap(),
        a.epoch_secret(group).await.unwrap()
    );
    let want = BTreeSet::from(["集合地点: 地铁口".to_string()]);
    wait_texts("the joiner", &c, group, &want).await;

    // The long form is still there on request.
    let long = a
        .invite_code(group, Duration::from_secs(60), false)
        .await
        .unwrap();
    assert!(long.invite.starts_with("qun1") && !long.short, "{long:?}");
    assert!(long.invite.len() > 120);

    // A code that names no record: a clear "not found", no group.
    let nothing = ShortCode::from_secret([0x42; 16]).to_text();
    let err = c.join(&nothing).await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(err.to_string().contains("no DHT peer holds"), "{err}");
    // A mistyped code never reaches the network.
    let mut typo = code.invite.clone().into_bytes();
    typo[10] = if typo[10] == b'q' { b'p' } else { b'q' };
    let err = c
        .join(std::str::from_utf8(&typo).unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    for n in [&a, &b, &c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_dht_the_answer_says_why() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    // An inviter with the DHT off gets the long code and a note.
    let off = start_via(dirs[0].path(), None, false).await;
    let g = off.create_group(group_req("离线群", "")).await.unwrap();
    let group = off.resolve(&g.group).await.unwrap();
    let code = off
        .short_invite(group, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(!code.short && code.invite.starts_with("qun1"), "{code:?}");
    assert!(
        code.note.as_deref().unwrap().contains("DHT is off"),
        "{code:?}"
    );
    // So does one whose DHT has no peer to store the record, and quickly.
    let alone = start_via(dirs[1].path(), None, true).await;
    let g = alone.create_group(group_req("一个人", "")).await.unwrap();
    let group = alone.resolve(&g.group).await.unwrap();
    let started = Instant::now();
    let code = alone
        .short_invite(group, Duration::from_secs(600))
        .await
        .unwrap();
    assert!(!code.short, "{code:?}");
    assert!(
        code.note.as_deref().unwrap().contains("no DHT peer stored"),
        "{code:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // A joiner with the DHT on but no peer at all is told that, not "not in the DHT".
    let lonely = start_via(dirs[2].path(), None, true).await;
    let err = lonely
        .join(&ShortCode::from_secret([2; 16]).to_text())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("connected to no DHT peer"),
        "{err}"
    );
    assert!(err.to_string().contains("--bootstrap"), "{err}");
    lonely.shutdown().await.unwrap();
    // A joiner with the DHT off cannot look a short code up, and says so.
    let err = off
        .join(&ShortCode::from_secret([1; 16]).to_text())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)), "{err}");
    assert!(err.to_string().contains("--long"), "{err}");
    off.shutdown().await.unwrap();
    alone.shutdown().await.unwrap();
}
