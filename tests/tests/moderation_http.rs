//! Moderation over the local API (`qun_node::http::serve`), as the CLI and the web app
//! call it: MEMBER given by a profile name (unique: the op is done; shared by two members:
//! 409 listing both; unknown: 404), pin and unpin (`POST`/`DELETE /v1/groups/{g}/pins`),
//! and join requests, which a member may neither list nor decide (403 `not_admin`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{DEADLINE, bootstrap_from, eventually};
use qun_api::request::{RoleName, Send};
use qun_api::{ApiFile, AsyncClient, Call};
use qun_node::{Config, Node, ProfileUpdate, http};
use qun_protocol::GroupId;
use tempfile::TempDir;
use tokio::net::TcpListener;

const TOKEN: &str = "moderation-http-test-token";

async fn start(dir: &std::path::Path, boot: Option<&Node>) -> Node {
    let mut cfg = Config::for_test(dir);
    if let Some(b) = boot {
        bootstrap_from(&mut cfg, b).await;
    }
    Node::start(cfg).await.unwrap()
}

/// Serves `node`'s API on a loopback port; the client for it.
async fn api(node: &Node) -> AsyncClient {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let file = ApiFile {
        addr: listener.local_addr().unwrap().to_string(),
        token: TOKEN.into(),
    };
    tokio::spawn(http::serve(
        node.clone(),
        TOKEN.into(),
        listener,
        std::future::pending(),
    ));
    AsyncClient::new(&file)
}

async fn name(node: &Node, name: &str) {
    let update = ProfileUpdate {
        name: Some(name.to_owned()),
        ..ProfileUpdate::default()
    };
    node.set_profile(update).await.unwrap();
}

/// Waits until `node` holds `who`'s profile under `want` (looked up in the DHT).
async fn knows(node: &Node, who: &Node, want: &str) {
    eventually(
        DEADLINE,
        &format!("the name {want:?} to be known"),
        || async {
            let p = node
                .profile(Some(who.author()))
                .await
                .map_err(|e| e.to_string())?;
            if p.name == want { Ok(()) } else { Err(p.name) }
        },
    )
    .await;
}

/// The API status of a failed call.
fn status<T: std::fmt::Debug>(res: Result<T, qun_api::Error>) -> (u16, String) {
    match res {
        Err(e) => {
            let api = e.api().unwrap_or_else(|| panic!("not an API answer: {e}"));
            (api.status, api.message.clone())
        }
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_by_name_pins_and_requests_over_http() {
    let dirs: Vec<TempDir> = (0..3).map(|_| TempDir::new().unwrap()).collect();
    let a = start(dirs[0].path(), None).await;
    let b = start(dirs[1].path(), Some(&a)).await;
    let c = start(dirs[2].path(), Some(&a)).await;
    let created = a
        .create_group(common::group_req("管理 http", ""))
        .await
        .unwrap();
    let group: GroupId = created.group.parse().unwrap();
    let g = created.group.as_str();
    b.join(&created.invite).await.unwrap();
    c.join(&created.invite).await.unwrap();
    let (idb, idc) = (b.author().to_string(), c.author().to_string());
    eventually(DEADLINE, "A to see B and C join", || async {
        let i = a.group_info(group).await.map_err(|e| e.to_string())?;
        if i.members.contains(&idb) && i.members.contains(&idc) {
            Ok(())
        } else {
            Err(format!("{:?}", i.members))
        }
    })
    .await;
    let (api_a, api_c) = (api(&a).await, api(&c).await);

    // A unique profile name names its member.
    name(&b, "小林").await;
    name(&c, "小王").await;
    knows(&a, &b, "小林").await;
    knows(&a, &c, "小王").await;
    api_a
        .call(Call::set_role(g, "小林", RoleName::Admin))
        .await
        .unwrap();
    let info = api_a.call(Call::group_info(g)).await.unwrap();
    assert_eq!(info.admins, std::slice::from_ref(&idb));

    // Two members of one name: 409 naming both; a name nobody has: 404.
    name(&c, "小林").await;
    knows(&a, &c, "小林").await;
    let (code, msg) = status(api_a.call(Call::mute(g, "小林", None)).await);
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains(&idb) && msg.contains(&idc), "{msg}");
    let (code, msg) = status(api_a.call(Call::mute(g, "没有这个人", None)).await);
    assert_eq!(code, 404, "{msg}");

    // C names itself after B's id tail (what `history` prints after '·'): typing that tail
    // is ambiguous (409), not an op on C.
    let tail = &idb[idb.len() - 6..];
    name(&c, tail).await;
    knows(&a, &c, tail).await;
    let (code, msg) = status(api_a.call(Call::mute(g, tail, None)).await);
    assert_eq!(code, 409, "{msg}");
    assert!(msg.contains(&idb) && msg.contains(&idc), "{msg}");

    // Pin and unpin a message over HTTP; a member may not pin.
    let send = Send {
        text: "置顶这条".into(),
        reply_to: None,
        mentions: Vec::new(),
    };
    let sent = api_a.call(Call::send(g, &send)).await.unwrap();
    // A made-up id (the right shape, no such message) is not pinned: 404.
    let mut made_up = sent.id.clone();
    let last = if made_up.ends_with('2') { '3' } else { '2' };
    made_up.pop();
    made_up.push(last);
    let (code, msg) = status(api_a.call(Call::pin(g, &made_up)).await);
    assert_eq!(code, 404, "{msg}");
    api_a.call(Call::pin(g, &sent.id)).await.unwrap();
    let pins = api_a.call(Call::group_info(g)).await.unwrap().pins;
    assert_eq!(
        pins.iter().map(|p| (&p.id, &p.by)).collect::<Vec<_>>(),
        [(&sent.id, &a.author().to_string())]
    );
    eventually(DEADLINE, "C to hold the message", || async {
        let h = c
            .history(group, 50, None)
            .await
            .map_err(|e| e.to_string())?;
        if h.iter().any(|m| m.id == sent.id) {
            Ok(())
        } else {
            Err("not yet".into())
        }
    })
    .await;
    let (code, msg) = status(api_c.call(Call::unpin(g, &sent.id)).await);
    assert_eq!(code, 403, "{msg}");
    assert!(msg.contains("not_admin"), "{msg}");
    api_a.call(Call::unpin(g, &sent.id)).await.unwrap();
    assert!(
        api_a
            .call(Call::group_info(g))
            .await
            .unwrap()
            .pins
            .is_empty()
    );

    // A blank message or announcement is refused (400) before it is signed; an empty
    // announcement clears.
    let blank = Send {
        text: " \u{200b}\t".into(),
        reply_to: None,
        mentions: Vec::new(),
    };
    let (code, msg) = status(api_a.call(Call::send(g, &blank)).await);
    assert_eq!(code, 400, "{msg}");
    // A reply names a message of this group: a made-up id is 404.
    let stray = Send {
        text: "re".into(),
        reply_to: Some(made_up.clone()),
        mentions: Vec::new(),
    };
    let (code, msg) = status(api_a.call(Call::send(g, &stray)).await);
    assert_eq!(code, 404, "{msg}");
    let announce = |text: &str| qun_api::request::Announce { text: text.into() };
    let (code, msg) = status(api_a.call(Call::announce(g, &announce("  \u{3000}"))).await);
    assert_eq!(code, 400, "{msg}");
    api_a
        .call(Call::announce(g, &announce("群规")))
        .await
        .unwrap();
    api_a.call(Call::announce(g, &announce(""))).await.unwrap();
    let info = api_a.call(Call::group_info(g)).await.unwrap();
    assert_eq!(info.announcement, None, "{info:?}");

    // A name matches ignoring case when nothing matches as written.
    name(&b, "Lin").await;
    knows(&a, &b, "Lin").await;
    api_a
        .call(Call::set_role(g, "lin", RoleName::Member))
        .await
        .unwrap();
    let info = api_a.call(Call::group_info(g)).await.unwrap();
    assert!(info.admins.is_empty(), "{:?}", info.admins);

    // The owner may not leave a group that has other members: it hands it on first.
    let (code, msg) = status(api_a.call(Call::leave(g)).await);
    assert_eq!((code, msg.contains("owner_leaves")), (403, true), "{msg}");
    assert!(a.group_info(group).await.is_ok());

    // A member may neither list nor decide join requests.
    let (code, msg) = status(api_c.call(Call::join_requests(g)).await);
    assert_eq!(code, 403, "{msg}");
    let (code, msg) = status(api_c.call(Call::decide_join(g, &idb, true)).await);
    assert_eq!((code, msg.contains("not_admin")), (403, true), "{msg}");

    // Two transfers sent at once: the second is checked against the first and refused
    // (it used to be acknowledged, then refused by every node).
    let (first, second) = tokio::join!(
        api_a.call(Call::transfer(g, &idb)),
        api_a.call(Call::transfer(g, &idc))
    );
    let refused = match (first, second) {
        (Ok(_), Err(e)) | (Err(e), Ok(_)) => e,
        other => panic!("expected one transfer, got {other:?}"),
    };
    let api = refused.api().unwrap_or_else(|| panic!("{refused}"));
    assert_eq!(
        (api.status, api.message.contains("not_owner")),
        (403, true),
        "{}",
        api.message
    );
}
