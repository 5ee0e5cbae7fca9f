//! The reads of [`super`] answer while the event loop answers nothing.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::message::{Meta, Text};
use qun_protocol::{Body as MsgBody, Envelope, GroupSecret, Identity, Stamp};
use tokio::sync::{broadcast, mpsc};
use tower::ServiceExt as _;

use super::*;
use crate::store::{EpochSecret, GroupRecord, Records};

const BASE_MS: u64 = 1_700_000_000_000;

fn signed(id: &Identity, group: GroupId, n: u64, kind: Kind) -> Verified {
    let body = MsgBody {
        group,
        epoch: 0,
        stamp: Stamp::new(BASE_MS + n, 0),
        kind,
    };
    Envelope::sign(id, &body).unwrap()
}

/// GET `path` on `app`, with the token; the status and the JSON answer.
async fn get(app: &axum::Router, path: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::get(path)
        .header(header::HOST, "127.0.0.1:4321")
        .header(header::AUTHORIZATION, "Bearer t0ken")
        .body(Body::empty())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(5), app.clone().oneshot(req))
        .await
        .expect("answered without the event loop")
        .unwrap();
    let status = res.status();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_api_reads_history_log_and_own_profile_while_the_event_loop_is_stuck() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_with(dir.path(), 1 << 20, None, 0).unwrap();
    let owner = Identity::from_seed([4; 32]);
    let genesis =
        SignedGenesis::create(&owner, "群", BASE_MS, Visibility::Private, [0; 16]).unwrap();
    let g = genesis.id().unwrap();
    let record = GroupRecord {
        genesis,
        epochs: vec![EpochSecret {
            epoch: 0,
            secret: GroupSecret::from_bytes([7; 32]),
        }],
        joined_ms: BASE_MS,
    };
    store.put_group(&g, &record).unwrap();
    let meta = Kind::Meta(Meta {
        description: "rides".into(),
        tags: vec![],
    });
    store.insert(&signed(&owner, g, 1, meta)).unwrap();
    for n in 2..5 {
        let text = Kind::Text(Text {
            text: format!("m{n}"),
            reply_to: None,
            mentions: vec![],
        });
        store.insert(&signed(&owner, g, n, text)).unwrap();
    }
    let records = Records::open(&store).unwrap();
    // We are another member: the owner has no known name.
    let me = Identity::from_seed([9; 32]).author();
    // An event loop that never reads its commands.
    let (commands, mut stuck) = mpsc::channel(4);
    let node = Node {
        commands,
        events: broadcast::channel(4).0,
        peer_id: crate::net::peer_id(&me).unwrap(),
        author: me,
        reads: Reads::new(store.reader(), records.names(), me),
        _task: Arc::new(tokio::spawn(async {})),
    };
    let app = crate::http::router(node, "t0ken".into(), "127.0.0.1:4321".parse().unwrap());

    // By name (percent-encoded 群), by id, by id prefix.
    let (status, page) = get(&app, "/v1/groups/%E7%BE%A4/messages?limit=2").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let texts: Vec<&str> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["m3", "m4"]);
    let prefix = &g.to_string()[..6];
    let (status, page) = get(&app, &format!("/v1/groups/{prefix}/messages")).await;
    assert_eq!(
        (status, page.as_array().unwrap().len()),
        (StatusCode::OK, 4)
    );
    // The unnamed author is handed to the loop to look up, without waiting for it.
    match stuck.try_recv() {
        Ok(Command::Discovery(DiscoveryCmd::WantNames(a))) => assert_eq!(a, [owner.author()]),
        _ => panic!("no name lookup asked for"),
    }

    let (status, log) = get(&app, &format!("/v1/groups/{g}/log")).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    assert_eq!(log[0]["kind"], "meta");
    assert_eq!(log[0]["allowed"], true);
    assert_eq!(log.as_array().unwrap().len(), 1);

    let (status, err) = get(&app, "/v1/profile").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, _) = get(&app, "/v1/groups/nowhere/messages").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = GroupId::from_bytes([1; 32]);
    let (status, _) = get(&app, &format!("/v1/groups/{other}/log")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // What needs the loop (group info: mesh, queue, sync) still waits for it.
    let info = Request::get(format!("/v1/groups/{g}"))
        .header(header::HOST, "127.0.0.1:4321")
        .header(header::AUTHORIZATION, "Bearer t0ken")
        .body(Body::empty())
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), app.clone().oneshot(info))
            .await
            .is_err(),
        "group info answered without the loop"
    );

    // A stopped node's store is closed: 503, as for any call to a stopped node.
    store.close();
    let (status, _) = get(&app, &format!("/v1/groups/{g}/messages")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn groups_resolve_by_id_name_and_prefix() {
    let a = GroupId::from_bytes([1; 32]);
    let b = GroupId::from_bytes([2; 32]);
    let groups = [(a, "hiking"), (b, "Caf\u{e9}")];
    let among = || groups.iter().map(|(id, n)| (id, *n));
    assert_eq!(resolve_among(&a.to_string(), among()).unwrap(), a);
    assert_eq!(resolve_among(" hiking ", among()).unwrap(), a);
    assert_eq!(resolve_among("Cafe\u{301}", among()).unwrap(), b);
    assert_eq!(resolve_among(&b.to_string()[..5], among()).unwrap(), b);
    assert!(matches!(
        resolve_among("nope", among()),
        Err(Error::UnknownGroup(_))
    ));
    let twins = [(a, "x"), (b, "x")];
    assert!(matches!(
        resolve_among("x", twins.iter().map(|(id, n)| (id, *n))),
        Err(Error::Ambiguous { .. })
    ));
}
