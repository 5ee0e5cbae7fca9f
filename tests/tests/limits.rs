//! Remote resource exhaustion (issue 11, reproduction 5), against real nodes: floods of
//! connections from fresh identities, half-sent HTTP requests, event streams, join
//! requests from strangers and fetches from one peer. Bare libp2p swarms play the
//! strangers; the limits are lowered where that keeps a test short, and the assertions are
//! on the same rules the daemon's defaults follow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use libp2p::core::muxing::{StreamMuxerBox, StreamMuxerExt, SubstreamBox};
use libp2p::core::transport::Transport as _;
use libp2p::core::upgrade::Version;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identity::Keypair, noise, tcp, yamux};
use qun_node::api::{self, server};
use qun_node::config::ConnLimits;
use qun_node::{Config, Node};
use qun_protocol::discovery::VERSION;
use qun_protocol::discovery::join::{self, SignedRequest};
use qun_protocol::discovery::wire::{JoinStatus, Request as DiscRequest, Response as DiscResponse};
use qun_protocol::sync::{Ask, ProofContext, Refusal, Request, Response};
use qun_protocol::{Identity, Invite, OrderKey, Visibility, reconcile};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "limits-test-token";

/// Serves `node`'s API on a free loopback port with `limits`.
async fn serve_api(node: &Node, limits: server::Limits) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let node = node.clone();
    tokio::spawn(async move {
        api::serve_with(node, TOKEN.into(), listener, std::future::pending(), limits).await
    });
    addr
}

/// Sends one request and reads the answer's head (and, with `whole`, the body to the end);
/// returns the status and the text read.
async fn http(addr: SocketAddr, path: &str, whole: bool) -> (TcpStream, u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if n == 0 || (!whole && text.contains("\r\n\r\n")) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (s, status, text)
}

/// `GET /v1/id` within `within`, or panics.
async fn api_answers(addr: SocketAddr, within: Duration, when: &str) -> Duration {
    let t = Instant::now();
    let (_, status, text) = tokio::time::timeout(within, http(addr, "/v1/id", true))
        .await
        .unwrap_or_else(|_| panic!("the API did not answer within {within:?} {when}"));
    assert_eq!(status, 200, "{when}: {text}");
    t.elapsed()
}

/// A node configuration with the connection limits lowered for a short test.
fn small_limits(dir: &std::path::Path, incoming: u32) -> Config {
    Config {
        limits: ConnLimits {
            max_established_incoming: incoming,
            max_pending_incoming: 16,
            ..ConnLimits::default()
        },
        ..Config::for_test(dir)
    }
}

/// The next stream the remote opens on `m` (driving the connection meanwhile).
async fn next_inbound(m: &mut StreamMuxerBox) -> std::io::Result<SubstreamBox> {
    futures::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(Err(e)) = m.poll_unpin(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        m.poll_inbound_unpin(cx)
    })
    .await
}

/// A keypair no one has seen.
fn fresh_key(i: u32) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[4..12].copy_from_slice(&(now_ms()).to_le_bytes());
    seed[31] = 0x77;
    Keypair::ed25519_from_bytes(seed).unwrap()
}

/// Opens `n` connections to `addr` from fresh identities (16 handshakes at a time) and
/// keeps them open by driving each one on its own task; returns how many were accepted.
async fn connection_flood(addr: &Multiaddr, n: u32) -> (usize, Vec<tokio::task::JoinHandle<()>>) {
    let mut held = Vec::new();
    let mut ok = 0;
    let mut i = 0;
    while i < n {
        let batch: Vec<_> = (i..(i + 16).min(n))
            .map(|k| {
                let key = fresh_key(k);
                let addr = addr.clone();
                async move {
                    let mut t = tcp::tokio::Transport::new(tcp::Config::default())
                        .upgrade(Version::V1Lazy)
                        .authenticate(noise::Config::new(&key).unwrap())
                        .multiplex(yamux::Config::default())
                        .map(|(p, m), _| (p, StreamMuxerBox::new(m)))
                        .boxed();
                    let dial = t
                        .dial(
                            addr,
                            libp2p::core::transport::DialOpts {
                                role: libp2p::core::Endpoint::Dialer,
                                port_use: libp2p::core::transport::PortUse::New,
                            },
                        )
                        .ok()?;
                    let (_, mut muxer) = tokio::time::timeout(Duration::from_secs(10), dial)
                        .await
                        .ok()?
                        .ok()?;
                    // The victim may refuse after the handshake: a refused connection is
                    // closed at once, an accepted one stays up.
                    let alive = tokio::time::timeout(Duration::from_millis(300), async {
                        loop {
                            match next_inbound(&mut muxer).await {
                                Ok(s) => drop(s),
                                Err(_) => return false,
                            }
                        }
                    })
                    .await
                    .is_err();
                    Some((alive, muxer))
                }
            })
            .collect();
        for res in futures::future::join_all(batch).await {
            let Some((alive, mut muxer)) = res else {
                continue;
            };
            if alive {
                ok += 1;
                held.push(tokio::spawn(async move {
                    while let Ok(s) = next_inbound(&mut muxer).await {
                        drop(s);
                    }
                }));
            }
        }
        i += 16;
    }
    (ok, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_from_fresh_identities_does_not_lock_out_a_member_or_the_api() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = Node::start(small_limits(da.path(), 24)).await.unwrap();
    let api = serve_api(&a, server::Limits::default()).await;
    let created = a.create_group(group_req("围城", "")).await.unwrap();
    let group = Invite::parse(&created.invite, now_ms()).unwrap().group();
    let b = start(db.path()).await;
    b.join(&created.invite).await.unwrap();
    wait_topic_peers(&[("a", &a, 1), ("b", &b, 1)], group).await;
    // A knows B as a member once B's join message is in.
    eventually(DEADLINE, "a to see b's join", || async {
        let info = a.group_info(group).await.map_err(|e| e.to_string())?;
        (info.members.len() >= 2)
            .then_some(())
            .ok_or(format!("members={:?}", info.members))
    })
    .await;

    let a_addr: Multiaddr = a.id().await.unwrap().addrs[0].parse().unwrap();
    let (held, _conns) = connection_flood(&a_addr, 80).await;
    assert!(
        held <= 24,
        "the node kept {held} connections from strangers, over its inbound limit of 24"
    );
    assert!(
        held >= 10,
        "only {held} flood connections were accepted: the test proves nothing"
    );
    let took = api_answers(api, Duration::from_secs(5), "during the connection flood").await;
    eprintln!("flood: {held} of 80 stranger connections kept; API answered in {took:?}");

    // The member comes back while every stranger slot is taken: it bypasses the limit.
    let b_peer = b.peer_id();
    b.shutdown().await.unwrap();
    eventually(DEADLINE, "a to see b gone", || async {
        let peers = a.peers().await.map_err(|e| e.to_string())?;
        (!peers.iter().any(|p| p.peer_id == b_peer.to_string()))
            .then_some(())
            .ok_or("b still connected".to_owned())
    })
    .await;
    let mut cfg = Config::for_test(db.path());
    cfg.bootstrap = vec![
        a_addr
            .clone()
            .with(libp2p::multiaddr::Protocol::P2p(a.peer_id()))
            .into(),
    ];
    let b = Node::start(cfg).await.unwrap();
    wait_topic_peers(&[("a", &a, 1), ("b", &b, 1)], group).await;
    b.send(group, "still here", None).await.unwrap();
    wait_texts("a", &a, group, &BTreeSet::from(["still here".to_owned()])).await;
    b.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_http_requests_are_closed_after_the_timeout_and_the_api_answers_meanwhile() {
    let dir = TempDir::new().unwrap();
    let a = start(dir.path()).await;
    let limits = server::Limits {
        max_connections: 32,
        header_timeout: Duration::from_secs(1),
        ..server::Limits::default()
    };
    let api = serve_api(&a, limits).await;
    // 100 half-sent requests: three times the connection cap.
    let mut half = Vec::new();
    for _ in 0..100 {
        let mut s = TcpStream::connect(api).await.unwrap();
        s.write_all(b"GET /v1/id HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        half.push(s);
    }
    let took = api_answers(
        api,
        Duration::from_secs(3),
        "with 100 half-sent requests open",
    )
    .await;
    eprintln!("API answered in {took:?} with 100 half-sent requests open");
    // Every half-sent request is closed by the server: by the timeout, or to make room.
    let t = Instant::now();
    for (i, s) in half.iter_mut().enumerate() {
        let mut b = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(10), s.read(&mut b)).await;
        match read {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => panic!("half-sent request {i} still open after {:?}", t.elapsed()),
        }
    }
    api_answers(api, Duration::from_secs(3), "after the half-sent requests").await;
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_streams_past_the_cap_get_a_503_json_error_and_a_closed_one_frees_its_slot() {
    let dir = TempDir::new().unwrap();
    let a = start(dir.path()).await;
    let limits = server::Limits {
        max_event_streams: 4,
        ..server::Limits::default()
    };
    let api = serve_api(&a, limits).await;
    let mut open = Vec::new();
    for i in 0..4 {
        let (s, status, head) = http(api, "/v1/events", false).await;
        assert_eq!(status, 200, "stream {i}: {head}");
        open.push(s);
    }
    let (_, status, text) = http(api, "/v1/events", true).await;
    assert_eq!(status, 503, "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(body.trim())
        .unwrap_or_else(|e| panic!("503 body is not JSON ({e}): {body:?}"));
    assert!(
        json["error"]
            .as_str()
            .is_some_and(|e| e.contains("event streams")),
        "{json}"
    );
    // The API still answers other requests.
    api_answers(api, Duration::from_secs(3), "with every event stream taken").await;
    // A stream that closes gives its slot back.
    drop(open.pop());
    eventually(DEADLINE, "a freed event stream slot", || async {
        let (_, status, head) = http(api, "/v1/events", false).await;
        (status == 200).then_some(()).ok_or(head)
    })
    .await;
    a.shutdown().await.unwrap();
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Stranger {
    discovery: request_response::Behaviour<qun_node::testing::discovery::Codec>,
}

/// Sends one signed join request for `group` from a fresh identity; returns the answer.
async fn join_request_from_stranger(
    i: u32,
    addr: Multiaddr,
    owner: PeerId,
    group: qun_protocol::GroupId,
) -> Option<DiscResponse> {
    let mut seed = [0x5au8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    let identity = Identity::from_seed(seed);
    let request = SignedRequest::create(
        &identity,
        join::Request {
            version: VERSION,
            group,
            note: format!("let me in #{i}"),
            addrs: Vec::new(),
            issued_ms: now_ms(),
        },
    )
    .unwrap();
    let mut swarm = bare_swarm(&identity, |_| Stranger {
        discovery: request_response::Behaviour::new(
            [(
                qun_node::testing::discovery::PROTOCOL,
                ProtocolSupport::Full,
            )],
            request_response::Config::default(),
        ),
    });
    swarm.add_peer_address(owner, addr);
    swarm
        .behaviour_mut()
        .discovery
        .send_request(&owner, DiscRequest::Join(Box::new(request)));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout_at(deadline, swarm.select_next_some())
            .await
            .ok()?;
        match ev {
            SwarmEvent::Behaviour(StrangerEvent::Discovery(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => return Some(response),
            SwarmEvent::Behaviour(StrangerEvent::Discovery(
                request_response::Event::OutboundFailure { .. },
            )) => return None,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_request_flood_from_strangers_keeps_at_most_the_cap() {
    use qun_node::testing::rate::MAX_PENDING_JOIN_REQUESTS as JOIN_REQUEST_CAP;
    let dir = TempDir::new().unwrap();
    let owner = start(dir.path()).await;
    let mut req = group_req("热门", "");
    req.visibility = Visibility::Listed;
    let created = owner.create_group(req).await.unwrap();
    let group = Invite::parse(&created.invite, now_ms()).unwrap().group();
    let addr: Multiaddr = owner.id().await.unwrap().addrs[0].parse().unwrap();
    let flood = JOIN_REQUEST_CAP as u32 + 40;
    let (mut pending, mut refused) = (0, 0);
    for start_at in (0..flood).step_by(16) {
        let batch = (start_at..(start_at + 16).min(flood))
            .map(|i| join_request_from_stranger(i, addr.clone(), owner.peer_id(), group));
        for r in futures::future::join_all(batch).await {
            match r {
                Some(DiscResponse::Join(JoinStatus::Pending)) => pending += 1,
                Some(DiscResponse::Refused(_)) => refused += 1,
                other => panic!("unexpected answer to a join request: {other:?}"),
            }
        }
    }
    let kept = owner.join_requests(group).await.unwrap();
    assert_eq!(
        kept.len(),
        JOIN_REQUEST_CAP,
        "{flood} strangers asked: {pending} answered pending, {refused} refused"
    );
    assert_eq!(
        (pending, refused),
        (JOIN_REQUEST_CAP, flood as usize - JOIN_REQUEST_CAP)
    );
    owner.shutdown().await.unwrap();
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Flooder {
    sync: request_response::Behaviour<qun_node::testing::sync::Codec>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_flood_from_one_peer_is_cut_at_its_byte_budget_while_others_are_served() {
    let (da, dc) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let created = a.create_group(group_req("仓库", "")).await.unwrap();
    let invite = Invite::parse(&created.invite, now_ms()).unwrap();
    let group = invite.group();
    // 200 messages of 15 KiB: one fetch of all of them is a ~3 MiB page.
    let text = "書".repeat(5 * 1024);
    let mut want = BTreeSet::new();
    for i in 0..200 {
        let t = format!("{i} {text}");
        a.send(group, &t, None).await.unwrap();
        want.insert(t);
    }

    let identity = Identity::from_seed([0x66; 32]);
    let mut swarm = bare_swarm(&identity, |_| Flooder {
        sync: request_response::Behaviour::new(
            [(qun_node::testing::sync::PROTOCOL, ProtocolSupport::Full)],
            request_response::Config::default().with_request_timeout(Duration::from_secs(30)),
        ),
    });
    let a_addr: Multiaddr = a.id().await.unwrap().addrs[0].parse().unwrap();
    swarm.add_peer_address(a.peer_id(), a_addr.clone());

    // The flooder is a member (it holds the secret: only members are served at all) and
    // proves it in every request. Learn the keys by reconciliation, as a member would.
    let (epoch, secret) = a.epoch_secret(group).await.unwrap();
    let sync_key = secret.sync_key(&group, epoch);
    let (me, them) = (swarm.local_peer_id().to_bytes(), a.peer_id().to_bytes());
    let proof = |ask| {
        ProofContext {
            requester: &me,
            responder: &them,
            group: &group,
            epoch,
            ask,
        }
        .prove(&sync_key)
    };
    let empty = BTreeSet::<OrderKey>::new();
    let (mut init, first) = reconcile::Initiator::new(&empty, None, Default::default()).unwrap();
    let mut keys = Vec::new();
    let mut next = Some(first);
    let mut sent = 0usize;
    let mut bytes = 0usize;
    let mut limited = 0usize;
    let mut in_flight = 0usize;
    let started = Instant::now();
    let flood_for = Duration::from_secs(5);
    loop {
        if let Some(m) = next.take() {
            swarm.behaviour_mut().sync.send_request(
                &a.peer_id(),
                Request::Reconcile {
                    group,
                    epoch,
                    proof: proof(Ask::Reconcile),
                    message: m.encode(),
                },
            );
        }
        while !keys.is_empty() && in_flight < 4 && started.elapsed() < flood_for {
            swarm.behaviour_mut().sync.send_request(
                &a.peer_id(),
                Request::Fetch {
                    group,
                    epoch,
                    proof: proof(Ask::Fetch),
                    keys: keys.clone(),
                },
            );
            in_flight += 1;
            sent += 1;
        }
        if started.elapsed() >= flood_for && in_flight == 0 {
            break;
        }
        let ev = tokio::time::timeout(Duration::from_secs(30), swarm.select_next_some())
            .await
            .expect("the victim stopped answering");
        let SwarmEvent::Behaviour(FlooderEvent::Sync(ev)) = ev else {
            continue;
        };
        match ev {
            request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            } => match response {
                Response::Reconcile { message } => {
                    let m = reconcile::Message::decode(&message).unwrap();
                    next = init.reconcile(&empty, &m).unwrap();
                    keys.extend(init.take_new_need());
                }
                Response::Frames { frames } => {
                    in_flight -= 1;
                    bytes += frames.iter().map(Vec::len).sum::<usize>();
                }
                Response::Refused {
                    reason: Refusal::RateLimited,
                } => {
                    in_flight -= 1;
                    limited += 1;
                }
                Response::Refused { reason } => panic!("refused: {reason:?}"),
                Response::Unknown => panic!("a member was answered Unknown"),
            },
            request_response::Event::OutboundFailure { error, .. } => {
                in_flight = in_flight.saturating_sub(1);
                eprintln!("fetch failed: {error}");
            }
            _ => {}
        }
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "fetch flood: {sent} fetches in {secs:.1} s, {:.1} MiB served, {limited} refused",
        bytes as f64 / 1048576.0
    );
    assert!(
        keys.len() >= 200,
        "reconciliation found {} keys",
        keys.len()
    );
    let budget = qun_node::testing::rate::SYNC_FETCH_BYTES;
    // What the budget allows in that time, plus one page past the line.
    let allowed = budget.burst + budget.per_second * secs + 6.0 * 1048576.0;
    assert!(
        bytes > 0,
        "nothing was served: the flood was not a member's fetch"
    );
    assert!(
        (bytes as f64) <= allowed,
        "served {:.1} MiB in {secs:.1} s, over the budget of {:.1} MiB",
        bytes as f64 / 1048576.0,
        allowed / 1048576.0
    );
    assert!(limited > 0, "no fetch was refused");

    // Another member is served in full meanwhile.
    let c = start(dc.path()).await;
    c.join(&created.invite).await.unwrap();
    wait_texts("c", &c, group, &want).await;
    c.shutdown().await.unwrap();
    a.shutdown().await.unwrap();
}
