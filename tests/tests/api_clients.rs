//! qun-api's clients against a real node's API (`qun_node::http::serve`): typed answers,
//! the daemon's error answers, and the event stream as a `Stream` of `NodeEvent`s (the async
//! client), on the same wire as `qun daemon`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::time::Duration;

use futures::StreamExt as _;
use qun_api::request::{Announce, Send};
use qun_api::{ApiFile, AsyncClient, Call, Client, CreateGroup, NodeEvent};
use qun_node::http;
use tempfile::TempDir;
use tokio::net::TcpListener;

const TOKEN: &str = "api-clients-test-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_clients_speak_to_a_real_node() {
    let dir = TempDir::new().unwrap();
    let node = common::start(&dir.path().join("a")).await;
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

    let c = AsyncClient::new(&file);
    let id = c.call(Call::id()).await.unwrap();
    assert_eq!(id.peer_id, node.peer_id().to_string());
    let req = CreateGroup {
        name: "周末群".into(),
        description: String::new(),
        tags: Vec::new(),
        visibility: qun_protocol::Visibility::Private,
    };
    let created = c.call(Call::create_group(&req)).await.unwrap();
    let mut events = c.events(Some("周末群")).await.unwrap();

    // The blocking client, as the CLI uses it, on the same daemon.
    let blocking = Client::new(&file);
    let sent = tokio::task::spawn_blocking(move || {
        let send = Send {
            text: "你好".into(),
            reply_to: None,
            mentions: Vec::new(),
        };
        blocking.call(Call::send("周末群", &send)).unwrap()
    })
    .await
    .unwrap();
    assert_eq!(sent.group, created.group);

    let ev = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("an event within 10 s")
        .expect("the stream goes on")
        .unwrap();
    let NodeEvent::Message(m) = ev else {
        panic!("expected the message, got {ev:?}");
    };
    assert_eq!((m.id.as_str(), m.text.as_str()), (sent.id.as_str(), "你好"));

    let history = c.call(Call::history("周末群", 10, None)).await.unwrap();
    assert!(history.iter().any(|m| m.id == sent.id));

    // Error answers carry the daemon's status and text.
    let e = c.call(Call::group_info("没有这个群")).await.unwrap_err();
    let api = e.api().expect("an error answer");
    assert_eq!(api.status, 404, "{e}");
    assert!(api.message.contains("没有这个群"), "{e}");
    let stranger = AsyncClient::new(&ApiFile {
        token: "wrong".into(),
        ..file.clone()
    });
    let e = stranger
        .call(Call::announce(
            &created.group,
            &Announce { text: "x".into() },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "missing or wrong API token (HTTP 401)");
    node.shutdown().await.unwrap();
}
