//! No way around the API's guards, over raw HTTP against a real node's server: every `/v1`
//! route is 401 without the token or a session; a wrong `Host` is 403 (DNS rebinding); a
//! write from another origin, or a cookie write without `Origin`, is 403; a login URL works
//! once; the app's files carry the strict security headers. The browser test (`web_ui`)
//! drives the same server through Chromium.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use qun_node::http;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "web-auth-test-token";

/// An answer: status, head (lowercase header names), body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Sends `method path` with `headers` (each `Name: value`) and a JSON body for writes.
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[String]) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    if method != "GET" {
        req.push_str("Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}

async fn serve(dir: &TempDir) -> (qun_node::Node, SocketAddr) {
    let node = common::start(&dir.path().join("a")).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(http::serve(
        node.clone(),
        TOKEN.into(),
        listener,
        std::future::pending(),
    ));
    (node, addr)
}

fn host(addr: SocketAddr) -> String {
    format!("Host: {addr}")
}

fn bearer() -> String {
    format!("Authorization: Bearer {TOKEN}")
}

/// Every route of the API, as (method, path).
const ROUTES: [(&str, &str); 24] = [
    ("GET", "/v1/id"),
    ("GET", "/v1/peers"),
    ("GET", "/v1/groups"),
    ("POST", "/v1/groups"),
    ("POST", "/v1/groups/join"),
    ("GET", "/v1/groups/G"),
    ("DELETE", "/v1/groups/G"),
    ("POST", "/v1/groups/G/invite"),
    ("GET", "/v1/groups/G/invite/qr?code=x"),
    ("POST", "/v1/groups/G/sync"),
    ("GET", "/v1/groups/G/messages"),
    ("POST", "/v1/groups/G/messages"),
    ("POST", "/v1/groups/G/announcement"),
    ("GET", "/v1/groups/G/stats"),
    ("GET", "/v1/groups/G/requests"),
    ("POST", "/v1/groups/G/requests/A/approve"),
    ("POST", "/v1/groups/G/requests/A/reject"),
    ("GET", "/v1/search?q=x"),
    ("POST", "/v1/discovery/announce"),
    ("GET", "/v1/profile"),
    ("POST", "/v1/profile"),
    ("GET", "/v1/profile/A"),
    ("GET", "/v1/events"),
    ("POST", "/v1/ui/login"),
];

/// Logs in through a fresh login URL; the session cookie (`qun_session=…`).
async fn log_in(addr: SocketAddr) -> String {
    let a = send(addr, "POST", "/v1/ui/login", &[host(addr), bearer()]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let login: qun_api::view::UiLogin = serde_json::from_str(&a.body).unwrap();
    let path = login.url.strip_prefix(&format!("http://{addr}")).unwrap();
    let a = send(addr, "GET", path, &[host(addr)]).await;
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), Some("/ui/"));
    let cookie = a.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_without_the_token_or_a_session() {
    let dir = TempDir::new().unwrap();
    let (_node, addr) = serve(&dir).await;
    for (method, path) in ROUTES {
        for creds in [vec![], vec!["Authorization: Bearer wrong".to_owned()]] {
            let mut headers = vec![host(addr)];
            headers.extend(creds);
            headers.push("Cookie: qun_session=forged".into());
            let a = send(addr, method, path, &headers).await;
            assert_eq!(a.status, 401, "{method} {path}: {}", a.body);
            assert_eq!(a.header("connection"), Some("close"));
        }
    }
    // With the token, the same server answers.
    let a = send(addr, "GET", "/v1/id", &[host(addr), bearer()]).await;
    assert_eq!(a.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_or_origin_is_refused() {
    let dir = TempDir::new().unwrap();
    let (_node, addr) = serve(&dir).await;
    let port = addr.port();
    for bad in [
        format!("Host: evil.example:{port}"),
        format!("Host: 127.0.0.1.evil.example:{port}"),
        format!("Host: 127.0.0.1:{}", port.wrapping_add(1)),
        "Host: ".to_owned(),
    ] {
        for path in ["/v1/id", "/ui/", "/ui/login?token=x"] {
            let a = send(addr, "GET", path, &[bad.clone(), bearer()]).await;
            assert_eq!(a.status, 403, "{bad} {path}");
        }
    }
    for ok in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let a = send(addr, "GET", "/v1/id", &[format!("Host: {ok}"), bearer()]).await;
        assert_eq!(a.status, 200, "{ok}");
    }
    // Another origin cannot write, with the token or with a session.
    let cookie = log_in(addr).await;
    for creds in [bearer(), format!("Cookie: {cookie}")] {
        for origin in ["http://evil.example", "null", "http://localhost:1"] {
            let headers = [host(addr), creds.clone(), format!("Origin: {origin}")];
            let a = send(addr, "POST", "/v1/groups", &headers).await;
            assert_eq!(a.status, 403, "{origin}: {}", a.body);
        }
    }
    // A cookie write must say where it comes from.
    let a = send(
        addr,
        "POST",
        "/v1/profile",
        &[host(addr), format!("Cookie: {cookie}")],
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_url_works_once_and_the_session_reads_and_writes() {
    let dir = TempDir::new().unwrap();
    let (_node, addr) = serve(&dir).await;
    let a = send(addr, "POST", "/v1/ui/login", &[host(addr), bearer()]).await;
    let login: qun_api::view::UiLogin = serde_json::from_str(&a.body).unwrap();
    assert!(
        login
            .url
            .starts_with(&format!("http://{addr}/ui/login?token="))
    );
    let path = login.url.strip_prefix(&format!("http://{addr}")).unwrap();
    assert_eq!(send(addr, "GET", path, &[host(addr)]).await.status, 303);
    assert_eq!(send(addr, "GET", path, &[host(addr)]).await.status, 401);
    let forged = "/ui/login?token=00";
    assert_eq!(send(addr, "GET", forged, &[host(addr)]).await.status, 401);

    let cookie = format!("Cookie: {}", log_in(addr).await);
    let origin = format!("Origin: http://{addr}");
    let a = send(addr, "GET", "/v1/groups", &[host(addr), cookie.clone()]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let a = send(
        addr,
        "POST",
        "/v1/profile",
        &[host(addr), cookie.clone(), origin.clone()],
    )
    .await;
    assert_ne!(a.status, 401, "{}", a.body);
    assert_ne!(a.status, 403, "{}", a.body);
    // A session cannot mint more login URLs: that is the token holder's.
    let a = send(addr, "POST", "/v1/ui/login", &[host(addr), cookie, origin]).await;
    assert_eq!(a.status, 403, "{}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_served_with_strict_headers() {
    let dir = TempDir::new().unwrap();
    let (node, addr) = serve(&dir).await;
    let a = send(addr, "GET", "/", &[host(addr)]).await;
    assert_eq!((a.status, a.header("location")), (303, Some("/ui/")));
    for (path, mime) in [
        ("/ui/", "text/html"),
        ("/ui/js/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let a = send(addr, "GET", path, &[host(addr)]).await;
        assert_eq!(a.status, 200, "{path}");
        assert!(
            a.header("content-type").unwrap().starts_with(mime),
            "{path}"
        );
        assert_eq!(a.header("content-security-policy"), Some(http::CSP));
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"));
        assert_eq!(a.header("cache-control"), Some("no-store"));
    }
    assert_eq!(
        send(addr, "GET", "/ui/nope.js", &[host(addr)]).await.status,
        404
    );

    // An invite code as a QR code.
    let created = node
        .create_group(common::group_req("二维码", ""))
        .await
        .unwrap();
    let path = format!(
        "/v1/groups/{}/invite/qr?code={}",
        created.group, created.invite
    );
    let a = send(addr, "GET", &path, &[host(addr), bearer()]).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.header("content-type"), Some("image/svg+xml"));
    assert!(a.body.contains("<svg"), "{}", a.body);
    assert!(
        !a.body.contains(&created.invite),
        "the SVG draws the code, not its text"
    );
}
