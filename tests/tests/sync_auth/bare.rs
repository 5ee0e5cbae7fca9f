//! The bare libp2p peer of the sync tests ([`Bare`]): a stranger or a member that signs,
//! publishes and serves sync as the test says; and the messages it builds and sends.

use super::*;

#[derive(NetworkBehaviour)]
pub(super) struct BareBehaviour {
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) sync: request_response::Behaviour<qun_node::testing::sync::Codec>,
}

/// What a bare peer knows of the group when it plays a member.
#[derive(Clone)]
pub(super) struct Membership {
    pub(super) group: GroupId,
    pub(super) epoch: u64,
    pub(super) secret: GroupSecret,
}

impl Membership {
    /// What a member of `group` holds: the current epoch's secret, as `node` has it.
    pub(super) async fn of(node: &Node, group: GroupId) -> Self {
        let (epoch, secret) = node.epoch_secret(group).await.unwrap();
        Self {
            group,
            epoch,
            secret,
        }
    }
    pub(super) fn key(&self) -> MessageKey {
        self.secret.message_key(&self.group, self.epoch)
    }
    pub(super) fn sync_key(&self) -> SyncKey {
        self.secret.sync_key(&self.group, self.epoch)
    }
    pub(super) fn topic(&self) -> IdentTopic {
        IdentTopic::new(self.secret.topic(&self.group, self.epoch))
    }
}

/// A bare libp2p peer: a stranger, or a member that signs, publishes and serves sync
/// (answering reconciliation honestly from the messages it holds) as the test says.
pub(super) struct Bare {
    pub(super) swarm: libp2p::Swarm<BareBehaviour>,
    pub(super) identity: Identity,
    pub(super) member: Option<Membership>,
    /// Messages it holds and serves.
    pub(super) held: BTreeMap<OrderKey, Verified>,
    /// Answers to its requests.
    pub(super) answers: HashMap<OutboundRequestId, Result<Response, String>>,
    /// Requests it was sent whose proof did not verify for it.
    pub(super) bad_proofs: usize,
    /// Requests it was sent.
    pub(super) served: usize,
}

impl Bare {
    pub(super) fn new(seed: u8, member: Option<Membership>) -> Self {
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

    pub(super) fn peer_id(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    pub(super) fn m(&self) -> &Membership {
        self.member.as_ref().expect("a member")
    }

    /// Drives the swarm for `d`, answering sync requests and keeping answers.
    pub(super) async fn pump(&mut self, d: Duration) {
        let until = tokio::time::Instant::now() + d;
        while let Ok(ev) = tokio::time::timeout_at(until, self.swarm.select_next_some()).await {
            self.on_event(ev);
        }
    }

    pub(super) fn on_event(&mut self, ev: SwarmEvent<BareBehaviourEvent>) {
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
    pub(super) fn serve(&mut self, peer: &PeerId, req: Request) -> Response {
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

    pub(super) async fn connect(&mut self, node: &Node) {
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
    pub(super) async fn ask(&mut self, to: PeerId, req: Request) -> Response {
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
    pub(super) fn proof(
        &self,
        to: PeerId,
        group: &GroupId,
        epoch: u64,
        ask: Ask,
        key: &SyncKey,
    ) -> Proof {
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
    pub(super) fn reconcile_req(group: GroupId, epoch: u64, proof: Proof) -> Request {
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
    pub(super) async fn keys_of(&mut self, to: PeerId) -> BTreeSet<OrderKey> {
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
    pub(super) async fn wait_subscribed(&mut self, peer: PeerId) {
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
    pub(super) fn post(&mut self, offset_ms: u64, kind: Kind) -> Verified {
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
    pub(super) async fn wait_for<T>(
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
pub(super) fn body(group: GroupId, epoch: u64, offset_ms: u64, kind: Kind) -> Body {
    static BASE: LazyLock<u64> = LazyLock::new(|| now_ms() - 60_000);
    Body {
        group,
        epoch,
        stamp: Stamp::new(*BASE + offset_ms, 0),
        kind,
    }
}

pub(super) fn text(t: &str) -> Kind {
    Kind::Text(Text {
        text: t.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    })
}

pub(super) fn seal(msg: &Verified, key: &MessageKey) -> Vec<u8> {
    static N: AtomicU64 = AtomicU64::new(1);
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&N.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    frame::seal_verified(msg, key, nonce)
        .unwrap()
        .encode()
        .unwrap()
}

/// Whether `node` holds a message with this id.
pub(super) async fn holds(node: &Node, group: GroupId, msg: &Verified) -> bool {
    let id = msg.id.to_string();
    history(node, group).await.iter().any(|m| m.id == id)
}

/// A wrong guess at a proof for every kind of request, and a proof under the all-zero key
/// a responder checks against when it holds no key: none may be served.
pub(super) fn stranger_requests(s: &Bare, to: PeerId, group: GroupId) -> Vec<Request> {
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

/// `Option` → `Result` with an empty description, for `wait_for`.
pub(super) trait OkOrDefault<T> {
    fn ok_or_default(self) -> Result<T, String>;
}

impl<T> OkOrDefault<T> for Option<T> {
    fn ok_or_default(self) -> Result<T, String> {
        self.ok_or_else(|| "not yet".to_owned())
    }
}
