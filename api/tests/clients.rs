//! Both clients against a tiny local HTTP server that answers as the daemon does: typed
//! answers, error answers, a daemon that is not running, and the event stream cut into
//! awkward pieces (keep-alive comments, an event type from a newer daemon, `lagged`).
//! The async client's tests need `--features async`.
#![allow(clippy::unwrap_used)]
#![cfg(feature = "blocking")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;
use std::time::Duration;

use qun_api::request::Send;
use qun_api::{ApiFile, Call, Error, NodeEvent};

const TOKEN: &str = "secret-token";

/// One canned answer: a status, a content type, and a body written in pieces.
struct Answer {
    status: u16,
    content_type: &'static str,
    pieces: Vec<&'static str>,
}

fn json(status: u16, body: &'static str) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        pieces: vec![body],
    }
}

/// The daemon's event stream, cut mid-line and mid-character.
fn events_answer() -> Answer {
    Answer {
        status: 200,
        content_type: "text/event-stream",
        pieces: vec![
            ":\n\ndata: {\"type\":\"peer_connected\",",
            "\"peer\":\"P1\"}\n",
            "\ndata: {\"type\":\"role_changed\",\"group\":\"G\"}\n\n",
            "data: {\"type\":\"message\",\"id\":\"M\",\"group\":\"G\",\"author\":\"A\",",
            "\"timestamp_ms\":5,\"logical\":0,\"kind\":\"text\",\"text\":\"\u{5468}",
            "\u{672b}\"}\r\n\r\ndata: {\"type\":\"lagged\",\"missed\":3}\n\n",
        ],
    }
}

fn expected_events() -> Vec<NodeEvent> {
    vec![
        NodeEvent::PeerConnected { peer: "P1".into() },
        NodeEvent::Message(qun_api::MessageView {
            id: "M".into(),
            group: "G".into(),
            author: "A".into(),
            timestamp_ms: 5,
            kind: "text".into(),
            text: "周末".into(),
            ..Default::default()
        }),
        NodeEvent::Lagged { missed: 3 },
    ]
}

/// Serves `answers` to one connection each, in order; returns the requests it read
/// (head and body).
fn server(answers: Vec<Answer>) -> (ApiFile, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let mut requests = Vec::new();
        for answer in answers {
            let (mut stream, _) = listener.accept().unwrap();
            requests.push(read_request(&mut stream));
            let head = format!(
                "HTTP/1.1 {} X\r\ncontent-type: {}\r\nconnection: close\r\n\r\n",
                answer.status, answer.content_type
            );
            stream.write_all(head.as_bytes()).unwrap();
            for piece in answer.pieces {
                stream.write_all(piece.as_bytes()).unwrap();
                stream.flush().unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        requests
    });
    let file = ApiFile {
        addr: addr.to_string(),
        token: TOKEN.into(),
    };
    (file, handle)
}

fn read_request(stream: &mut std::net::TcpStream) -> String {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        head.push_str(&line.to_ascii_lowercase());
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

/// An address nothing listens on.
fn dead_file() -> ApiFile {
    let addr: SocketAddr = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    ApiFile {
        addr: addr.to_string(),
        token: TOKEN.into(),
    }
}

#[cfg(feature = "blocking")]
mod blocking {
    use super::*;
    use qun_api::Client;

    #[test]
    fn typed_answers_and_error_answers() {
        let (file, server) = server(vec![
            json(200, r#"{"peer_id":"12D3","addrs":["/ip4/1.2.3.4/tcp/1"]}"#),
            json(200, r#"{"group":"G","id":"M1"}"#),
            json(
                404,
                r#"{"error":"no group matches \"x\": see `qun group list`"}"#,
            ),
            json(500, "not json"),
        ]);
        let c = Client::new(&file);
        let id = c.call(Call::id()).unwrap();
        assert_eq!(id.peer_id, "12D3");
        let send = Send {
            text: "hi".into(),
            reply_to: None,
            mentions: Vec::new(),
        };
        assert_eq!(c.call(Call::send("G", &send)).unwrap().id, "M1");
        let e = c.call(Call::group_info("x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no group matches \"x\": see `qun group list` (HTTP 404)"
        );
        assert_eq!(e.api().map(|a| a.status), Some(404));
        let e = c.call(Call::groups()).unwrap_err();
        assert_eq!(e.to_string(), "request failed (HTTP 500)");
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("get /v1/id http/1.1\r\n"));
        assert!(requests[0].contains("authorization: bearer secret-token\r\n"));
        assert!(requests[1].starts_with("post /v1/groups/g/messages "));
        assert!(requests[1].ends_with(r#"{"text":"hi","reply_to":null}"#));
    }

    #[test]
    fn no_daemon_is_said_plainly() {
        let e = Client::new(&dead_file()).call(Call::id()).unwrap_err();
        assert!(matches!(e, Error::NotRunning { .. }), "{e:?}");
        assert_eq!(e.to_string(), qun_api::error::NOT_RUNNING);
        let dir = tempfile::tempdir().unwrap();
        let e = Client::connect(dir.path()).unwrap_err();
        let d = dir.path().display();
        assert_eq!(
            e.to_string(),
            format!(
                "the daemon is not running (no API file in {d}): start it with \
                 `qun daemon --data-dir {d}`"
            )
        );
    }

    #[test]
    fn the_event_stream_is_an_iterator() {
        let (file, server) = server(vec![events_answer()]);
        let events: Vec<NodeEvent> = Client::new(&file)
            .events(Some("周"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(events, expected_events());
        let requests = server.join().unwrap();
        assert!(requests[0].starts_with("get /v1/events?group=%e5%91%a8 "));
    }
}

#[cfg(feature = "async")]
mod nonblocking {
    use super::*;
    use futures::StreamExt as _;
    use qun_api::AsyncClient;

    #[tokio::test]
    async fn typed_answers_and_error_answers() {
        let (file, server) = server(vec![
            json(200, r#"{"peer_id":"12D3","addrs":[]}"#),
            json(200, r#"{"group":"G","id":"M1"}"#),
            json(403, r#"{"error":"not allowed: owner only"}"#),
        ]);
        let c = AsyncClient::new(&file);
        assert_eq!(c.call(Call::id()).await.unwrap().peer_id, "12D3");
        let send = Send {
            text: "hi".into(),
            reply_to: Some("M0".into()),
            mentions: Vec::new(),
        };
        assert_eq!(c.call(Call::send("G", &send)).await.unwrap().id, "M1");
        let e = c.call(Call::decide_join("G", "A", true)).await.unwrap_err();
        assert_eq!(e.to_string(), "not allowed: owner only (HTTP 403)");
        let requests = tokio::task::spawn_blocking(|| server.join().unwrap())
            .await
            .unwrap();
        assert!(requests[0].contains("authorization: bearer secret-token\r\n"));
        assert!(requests[1].ends_with(r#"{"text":"hi","reply_to":"M0"}"#));
        assert!(requests[2].starts_with("post /v1/groups/g/requests/a/approve "));
    }

    #[tokio::test]
    async fn no_daemon_is_said_plainly() {
        let e = AsyncClient::new(&dead_file())
            .call(Call::id())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::NotRunning { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn the_event_stream_is_a_stream() {
        let (file, server) = server(vec![events_answer()]);
        let stream = AsyncClient::new(&file).events(None).await.unwrap();
        let events: Vec<NodeEvent> = stream.map(Result::unwrap).collect().await;
        assert_eq!(events, expected_events());
        let requests = tokio::task::spawn_blocking(|| server.join().unwrap())
            .await
            .unwrap();
        assert!(requests[0].starts_with("get /v1/events "));
        assert!(requests[0].contains("accept: text/event-stream\r\n"));
    }
}
