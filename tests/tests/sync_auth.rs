//! Only members sync (issue 11, reproduction 3): a peer that names a group id on the sync
//! protocol without proving the epoch's secret learns nothing, not even whether the node is
//! in the group; a proof made for another peer or another epoch is refused; a member who
//! left is no longer served, and what it posts after its leave is stored by no one.
//!
//! The stranger and the member are bare libp2p swarms ([`Bare`]) speaking gossipsub and
//! `/qun/sync/3`, so the test controls every byte they send; the nodes are real.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

#[derive(NetworkBehaviour)]
struct BareBehaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<qun_node::testing::sync::Codec>,
}

/// What a bare peer knows of the group when it plays a member.
#[derive(Clone)]
struct Membership {
    group: GroupId,
    epoch: u64,
    secret: GroupSecret,
}

impl Membership {
    /// What a member of `group` holds: the current epoch's secret, as `node` has it.
    async fn of(node: &Node, group: GroupId) -> Self {
        let (epoch, secret) = node.epoch_secret(group).await.unwrap();
        Self {
            group,
            epoch,
            secret,
        }
    }
    fn key(&self) -> MessageKey {
        self.secret.message_key(&self.group, self.epoch)
    }
    fn sync_key(&self) -> SyncKey {
        self.secret.sync_key(&self.group, self.epoch)
    }
    fn topic(&self) -> IdentTopic {
        IdentTopic::new(self.secret.topic(&self.group, self.epoch))
    }
}

/// A bare libp2p peer: a stranger, or a member that signs, publishes and serves sync
/// (answering reconciliation honestly from the messages it holds) as the test says.
struct Bare {
    swarm: libp2p::Swarm<BareBehaviour>,
    identity: Identity,
    member: Option<Membership>,
    /// Messages it holds and serves.
    held: BTreeMap<OrderKey, Verified>,
    /// Answers to its requests.
    answers: HashMap<OutboundRequestId, Result<Response, String>>,
    /// Requests it was sent whose proof did not verify for it.
    bad_proofs: usize,
    /// Requests it was sent.
    served: usize,
}

impl Bare {
    fn new(seed: u8, member: Option<Membership>) -> Self {
        let identity = Identity::from_seed([seed; 32]);
        let swarm = bare_swarm(&identity, |_| {
            let cfg = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Anonymous)
                .message_id_fn(|m: &gossipsub::Message| {
                    gossipsub::MessageId::from(qun_protocol::id::sha256(&m.data))
                })
                .heartbeat_interval(Duration::from_millis(200))
                .build()
                .unwrap();
            BareBehaviour {
                gossipsub: gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, cfg).unwrap(),
                sync: request_response::Behaviour::new(
                    [(qun_node::testing::sync::PROTOCOL, ProtocolSupport::Full)],
                    request_response::Config::default(),
                ),
            }
        });
        let mut bare = Self {
            swarm,
            identity,
            member,
            held: BTreeMap::new(),
            answers: HashMap::new(),
            bad_proofs: 0,
            served: 0,
        };
        if let Some(m) = bare.member.clone() {
            bare.swarm
                .behaviour_mut()
                .gossipsub
                .subscribe(&m.topic())
                .unwrap();
        }
        bare
    }

    fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    fn m(&self) -> &Membership {
        self.member.as_ref().expect("a member")
    }

    /// Drives the swarm for `d`, answering sync requests and keeping answers.
    async fn pump(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(ev) = tokio::time::timeout_at(until, self.swarm.select_next_some()).await {
            self.on_event(ev);
        }
    }

    fn on_event(&mut self, ev: SwarmEvent<BareBehaviourEvent>) {
        let SwarmEvent::Behaviour(BareBehaviourEvent::Sync(ev)) = ev else {
            return;
        };
        match ev {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let resp = self.serve(&peer, request);
                    let _ = self.swarm.behaviour_mut().sync.send_response(channel, resp);
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    self.answers.insert(request_id, Ok(response));
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                self.answers.insert(request_id, Err(error.to_string()));
            }
            _ => {}
        }
    }

    /// Answers a node's sync request from `held`, checking its proof on the way.
    fn serve(&mut self, peer: &PeerId, req: Request) -> Response {
        self.served += 1;
        let Some(m) = self.member.clone() else {
            return Response::Unknown;
        };
        let (requester, responder) = (peer.to_bytes(), self.peer_id().to_bytes());
        let ctx = ProofContext {
            requester: &requester,
            responder: &responder,
            group: req.group(),
            epoch: req.epoch(),
            ask: req.ask(),
        };
        if ctx.verify(&m.sync_key(), req.proof()).is_err() {
            self.bad_proofs += 1;
            return Response::Unknown;
        }
        let index: BTreeSet<OrderKey> = self.held.keys().copied().collect();
        match req {
            Request::Reconcile { message, .. } => {
                let m = reconcile::Message::decode(&message).unwrap();
                let reply = reconcile::respond(&index, &m, &Default::default()).unwrap();
                Response::Reconcile {
                    message: reply.encode(),
                }
            }
            Request::Fetch { keys, .. } => Response::Frames {
                frames: keys
                    .iter()
                    .filter_map(|k| self.held.get(k))
                    .map(|msg| seal(msg, &m.key()))
                    .collect(),
            },
        }
    }

    async fn connect(&mut self, node: &Node) {
        let addr: Multiaddr = node.id().await.unwrap().addrs[0].parse().unwrap();
        self.swarm.dial(addr).unwrap();
        let peer = node.peer_id();
        let deadline = Instant::now() + DEADLINE;
        while !self.swarm.is_connected(&peer) {
            assert!(Instant::now() < deadline, "could not connect to {peer}");
            self.pump(POLL).await;
        }
    }

    /// Sends `req` to `to` and waits for the answer.
    async fn ask(&mut self, to: PeerId, req: Request) -> Response {
        let id = self.swarm.behaviour_mut().sync.send_request(&to, req);
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(answer) = self.answers.remove(&id) {
                return answer.unwrap_or_else(|e| panic!("sync request to {to} failed: {e}"));
            }
            assert!(Instant::now() < deadline, "no answer from {to}");
            self.pump(Duration::from_millis(20)).await;
        }
    }

    /// A proof from us to `to` about `epoch` under `key`.
    fn proof(&self, to: PeerId, group: &GroupId, epoch: u64, ask: Ask, key: &SyncKey) -> Proof {
        let (requester, responder) = (self.peer_id().to_bytes(), to.to_bytes());
        ProofContext {
            requester: &requester,
            responder: &responder,
            group,
            epoch,
            ask,
        }
        .prove(key)
    }

    /// A first reconciliation request over `set`, proven with `proof`.
    fn reconcile_req(group: GroupId, epoch: u64, proof: Proof) -> Request {
        let (_, first) = Initiator::new(&BTreeSet::new(), None, Default::default()).unwrap();
        Request::Reconcile {
            group,
            epoch,
            proof,
            message: first.encode(),
        }
    }

    /// Every order key `to` holds in our epoch, by running reconciliation to the end from
    /// an empty set.
    async fn keys_of(&mut self, to: PeerId) -> BTreeSet<OrderKey> {
        let m = self.m().clone();
        let empty = BTreeSet::new();
        let (mut init, mut msg) = Initiator::new(&empty, None, Default::default()).unwrap();
        loop {
            let proof = self.proof(to, &m.group, m.epoch, Ask::Reconcile, &m.sync_key());
            let req = Request::Reconcile {
                group: m.group,
                epoch: m.epoch,
                proof,
                message: msg.encode(),
            };
            let Response::Reconcile { message } = self.ask(to, req).await else {
                panic!("a member was not served");
            };
            let reply = reconcile::Message::decode(&message).unwrap();
            match init.reconcile(&empty, &reply).unwrap() {
                Some(next) => msg = next,
                None => return init.need().clone(),
            }
        }
    }

    /// Wait until `peer` is subscribed to our topic, as gossipsub sees it.
    async fn wait_subscribed(&mut self, peer: PeerId) {
        let hash = self.m().topic().hash();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let seen = self
                .swarm
                .behaviour()
                .gossipsub
                .all_peers()
                .any(|(p, t)| *p == peer && t.contains(&&hash));
            if seen {
                return;
            }
            assert!(Instant::now() < deadline, "{peer} never subscribed");
            self.pump(POLL).await;
        }
    }

    /// Signs `kind` stamped `offset_ms` after the base time, keeps it, and publishes it.
    fn post(&mut self, offset_ms: u64, kind: Kind) -> Verified {
        let m = self.m().clone();
        let msg = Envelope::sign(&self.identity, &body(m.group, m.epoch, offset_ms, kind)).unwrap();
        self.held.insert(msg.order_key(), msg.clone());
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(m.topic(), seal(&msg, &m.key()))
            .unwrap();
        msg
    }

    /// Polls `check` while driving the swarm, until it says yes (or panics at the deadline).
    async fn wait_for<T>(
        &mut self,
        what: &str,
        mut check: impl AsyncFnMut() -> Result<T, String>,
    ) -> T {
        let start = Instant::now();
        loop {
            match check().await {
                Ok(v) => return v,
                Err(seen) if start.elapsed() > DEADLINE => {
                    panic!("timed out waiting for {what}; last seen: {seen}")
                }
                Err(_) => self.pump(POLL).await,
            }
        }
    }
}

/// A body stamped `offset_ms` after the test's base time (fixed once, a little in the past,
/// so the stamps order the test's messages as it says and none is ahead of any clock).
fn body(group: GroupId, epoch: u64, offset_ms: u64, kind: Kind) -> Body {
    static BASE: LazyLock<u64> = LazyLock::new(|| now_ms() - 60_000);
    Body {
        group,
        epoch,
        stamp: Stamp::new(*BASE + offset_ms, 0),
        kind,
    }
}

fn text(t: &str) -> Kind {
    Kind::Text(Text {
        text: t.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    })
}

fn seal(msg: &Verified, key: &MessageKey) -> Vec<u8> {
    static N: AtomicU64 = AtomicU64::new(1);
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    frame::seal_verified(msg, key, nonce)
        .unwrap()
        .encode()
        .unwrap()
}

/// Whether `node` holds a message with this id.
async fn holds(node: &Node, group: GroupId, msg: &Verified) -> bool {
    let id = msg.id.to_string();
    history(node, group).await.iter().any(|m| m.id == id)
}

/// A wrong guess at a proof for every kind of request, and a proof under the all-zero key
/// a responder checks against when it holds no key: none may be served.
fn stranger_requests(s: &Bare, to: PeerId, group: GroupId) -> Vec<Request> {
    let guess = Proof::from_bytes([0x5a; 32]);
    let zero = s.proof(to, &group, 0, Ask::Reconcile, &SyncKey::unknown());
    let guessed_secret = GroupSecret::from_bytes([1; 32]).sync_key(&group, 0);
    let fetch_proof = s.proof(to, &group, 0, Ask::Fetch, &guessed_secret);
    let any_key = OrderKey::from_bytes(&[0; OrderKey::LEN]).unwrap();
    vec![
        Bare::reconcile_req(group, 0, guess),
        Bare::reconcile_req(group, 0, zero),
        Request::Fetch {
            group,
            epoch: 0,
            proof: fetch_proof,
            keys: vec![any_key],
        },
        Request::Fetch {
            group,
            epoch: 0,
            proof: guess,
            keys: Vec::new(),
        },
    ]
}

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

/// `Option` → `Result` with an empty description, for `wait_for`.
trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}
