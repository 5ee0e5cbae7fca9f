//! The runner: starts the nodes, plays a schedule against them, and collects what each
//! node ends up with.
//!
//! 1. Node keys come from the seed, so peer ids are the same on every run. Node `i`
//!    listens on `/memory/<10000 + i>` (or loopback TCP) and has the topology's edges from
//!    it as bootstrap peers, which it keeps re-dialling while they are apart.
//! 2. Node 0 creates one group; every node that is not a late joiner joins it with an
//!    invite code that carries no address (so nobody dials node 0 because of it). A joiner
//!    is admitted by a member it is connected to, so nodes join in rounds outward from
//!    node 0 over the topology.
//! 3. Warm-up: wait until every member holds every member's join message and no new
//!    connection has opened for a second (the DHT has finished introducing nodes).
//! 4. The schedule runs in real time (libp2p's timers do not follow a paused clock): sends
//!    are spawned so a slow flush never delays the schedule; partitions, heals, stops,
//!    restarts and late joins happen at their offsets.
//! 5. Settle: wait until every expected delivery happened or `settle_s` passed, then read
//!    every node's history from its store (the truth for the delivery ratio) and stop.
//!
//! A search run ([`crate::search`]) takes step 1 only ([`Runner::launch`]) and goes its way.

use qun_node::testing::NodeExt;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use indicatif::ProgressBar;
use libp2p::core::transport::Transport as _;
use libp2p::core::upgrade::Version;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, noise, plaintext, yamux};
use qun_node::config::{ConnLimits, MAX_PER_PEER, Transport};
use qun_node::testing::TransportFactory;
use qun_node::{Config, CreateGroup, NetStats, Node, NodeEvent};
use qun_protocol::{GroupId, Identity};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::analysis::{Disruption, Observed, Sent};
use crate::net::{Link, Network};
use crate::scenario::{Action, Scenario, Schedule, Security, Step, TransportKind};
use crate::topology;

mod play;

/// First memory port; node `i` listens on `BASE_PORT + i`.
pub const BASE_PORT: u64 = 10_000;
/// How long no new connection may open before the warm-up counts as done.
const QUIET: Duration = Duration::from_secs(1);
/// Most messages read back from each store at the end.
const HISTORY_LIMIT: usize = 10_000;

/// First delivery time of each message at each node: message id → node → instant.
pub type Deliveries = Arc<Mutex<HashMap<String, HashMap<usize, Instant>>>>;

struct SimNode {
    config: Config,
    node: Option<Node>,
    member: bool,
    recorder: Option<JoinHandle<()>>,
}

/// A running simulation.
pub struct Runner {
    scenario: Scenario,
    /// The seeded schedule, made once.
    schedule: Schedule,
    net: Option<Network>,
    nodes: Vec<SimNode>,
    group: Option<GroupId>,
    invite: String,
    deliveries: Deliveries,
    sent: Arc<Mutex<Vec<Sent>>>,
    disruptions: Vec<Disruption>,
    sides: Option<Vec<u32>>,
    progress: Option<ProgressBar>,
    _dir: tempfile::TempDir,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn transport_factory(net: Network, node: usize, security: Security) -> TransportFactory {
    Arc::new(move |key| {
        let base = net.transport(node).upgrade(Version::V1Lazy);
        Ok(match security {
            Security::Plaintext => base
                .authenticate(plaintext::Config::new(key))
                .multiplex(yamux::Config::default())
                .boxed(),
            Security::Noise => base
                .authenticate(noise::Config::new(key).map_err(std::io::Error::other)?)
                .multiplex(yamux::Config::default())
                .boxed(),
        })
    })
}

impl Runner {
    /// Starts every node of `scenario` and joins the group. `progress` shows the start-up.
    pub async fn start(scenario: Scenario, progress: Option<ProgressBar>) -> anyhow::Result<Self> {
        let mut runner = Self::launch(scenario, progress).await?;
        let late = runner.schedule.late_joiners.clone();
        runner.create_and_join(&late).await?;
        tracing::info!("group joined, network quiet: running the schedule");
        Ok(runner)
    }

    /// Starts every node of `scenario`, in no group yet (step 1 of the module docs).
    pub(crate) async fn launch(
        scenario: Scenario,
        progress: Option<ProgressBar>,
    ) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("qun-sim-").tempdir()?;
        let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
        let n = scenario.nodes;
        let net = (scenario.network.transport == TransportKind::Memory).then(|| {
            let link = Link {
                latency: Duration::from_secs_f64(scenario.network.latency_ms / 1000.0),
                jitter: Duration::from_secs_f64(scenario.network.jitter_ms / 1000.0),
                loss: scenario.network.loss,
                bandwidth_bytes_per_s: (scenario.network.bandwidth_kbit > 0)
                    .then_some(scenario.network.bandwidth_kbit * 1000 / 8),
            };
            Network::new(link, rng.next_u64())
        });
        let edges = topology::edges(&scenario.topology, n, &mut rng);
        let schedule = scenario.schedule();
        let mut runner = Self {
            schedule,
            net,
            nodes: Vec::with_capacity(n),
            group: None,
            invite: String::new(),
            deliveries: Arc::default(),
            sent: Arc::default(),
            disruptions: Vec::new(),
            sides: None,
            progress,
            _dir: dir,
            scenario,
        };
        if let Some(p) = &runner.progress {
            p.set_length(n as u64);
            p.set_message("starting nodes");
        }
        let mut addrs: Vec<Multiaddr> = Vec::with_capacity(n);
        for i in 0..n {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let identity = Identity::from_seed(seed);
            let data_dir = runner._dir.path().join(format!("node{i:04}"));
            qun_node::keys::store(&data_dir, &identity)?;
            let bootstrap = edges
                .iter()
                .filter(|(a, _)| *a == i)
                .map(|(_, b)| addrs[*b].clone())
                .collect();
            let config = runner.node_config(i, data_dir, bootstrap);
            let (node, events) = Node::start_subscribed(config.clone())
                .await
                .with_context(|| format!("starting node {i}"))?;
            let peer = node.peer_id();
            let listen = node
                .id()
                .await?
                .addrs
                .first()
                .and_then(|a| a.parse::<Multiaddr>().ok())
                .context("node has no listen address")?;
            let base: Multiaddr = listen
                .iter()
                .filter(|p| !matches!(p, Protocol::P2p(_)))
                .collect();
            addrs.push(base.with(Protocol::P2p(peer)));
            runner.nodes.push(SimNode {
                config,
                node: Some(node),
                member: false,
                recorder: None,
            });
            runner.record(i, events);
            if let Some(p) = &runner.progress {
                p.inc(1);
            }
        }
        tracing::info!(nodes = n, "nodes started");
        Ok(runner)
    }

    fn node_config(&self, i: usize, data_dir: PathBuf, bootstrap: Vec<Multiaddr>) -> Config {
        let s = &self.scenario;
        let (listen, transport) = match &self.net {
            Some(net) => (
                Multiaddr::empty().with(Protocol::Memory(BASE_PORT + i as u64)),
                Transport::Custom(transport_factory(net.clone(), i, s.network.security)),
            ),
            None => (
                "/ip4/127.0.0.1/tcp/0"
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
                Transport::Tcp,
            ),
        };
        Config {
            data_dir,
            listen: vec![listen.into()],
            bootstrap: bootstrap.into_iter().map(Into::into).collect(),
            mdns: false,
            dht: s.topology.kind == crate::scenario::TopologyKind::Bootstrap,
            heartbeat: Duration::from_millis(s.node.heartbeat_ms),
            idle_timeout: Duration::from_secs(600),
            cache_bytes: s.node.cache_bytes,
            republish_interval: Duration::from_secs(1),
            redial_interval: Duration::from_millis(500),
            redial_max_backoff: Duration::from_secs(2),
            sync_interval: Duration::from_millis(s.node.sync_interval_ms),
            search_timeout: s.search.as_ref().map_or(
                Config::default().search_timeout,
                crate::search::Spec::timeout,
            ),
            // Runs announce once, when the scenario says so: the daemon's 10-minute
            // republication would fall in the middle of a long run (at 300 nodes the
            // announcements alone take minutes of both cores) and be measured as search.
            discovery_interval: Duration::from_secs(24 * 3600),
            store_flush_every: None,
            // Hundreds of nodes share one disk: no 1 MiB reserve each.
            store_reserve_bytes: 0,
            metrics: true,
            transport,
            // Hundreds of nodes share one process (its memory is no node's own) and all
            // dial the bootstrap nodes at once at start: the daemon's limits would refuse
            // them.
            limits: ConnLimits {
                max_established: 4096,
                max_established_incoming: 4096,
                max_per_peer: MAX_PER_PEER,
                max_pending_incoming: 1024,
                max_pending_outgoing: 1024,
                max_memory_bytes: None,
            },
            ..Config::default()
        }
    }

    /// Records every message node `i` stores, with the time.
    fn record(&mut self, i: usize, mut rx: tokio::sync::broadcast::Receiver<NodeEvent>) {
        let deliveries = self.deliveries.clone();
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(NodeEvent::Message(m)) => {
                        let now = Instant::now();
                        lock(&deliveries)
                            .entry(m.id)
                            .or_default()
                            .entry(i)
                            .or_insert(now);
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(k)) => {
                        tracing::warn!(node = i, skipped = k, "recorder lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        if let Some(old) = self.nodes[i].recorder.replace(task) {
            old.abort();
        }
    }

    /// Node `i`'s handle (an error if it is stopped).
    pub(crate) fn node(&self, i: usize) -> anyhow::Result<&Node> {
        self.nodes[i]
            .node
            .as_ref()
            .with_context(|| format!("node {i} is stopped"))
    }

    async fn create_and_join(&mut self, late: &[usize]) -> anyhow::Result<()> {
        let owner = self.node(0)?.clone();
        let created = owner
            .create_group(CreateGroup {
                name: format!("sim {}", self.scenario.name),
                description: String::new(),
                tags: Vec::new(),
                visibility: qun_protocol::Visibility::Private,
            })
            .await?;
        let group = owner.resolve(&created.group).await?;
        self.invite = owner
            .invite_without_addrs(group, Duration::from_secs(24 * 3600))
            .await?;
        self.group = Some(group);
        self.nodes[0].member = true;
        if let Some(p) = &self.progress {
            p.set_position(0);
            p.set_message("joining the group");
        }
        // A joiner is admitted by a member it can reach (the invite names none but node 0):
        // join in rounds, each node once a peer it is connected to is a member.
        let mut pending: Vec<usize> = (1..self.nodes.len())
            .filter(|i| !late.contains(i))
            .collect();
        if let Some(p) = &self.progress {
            p.inc(late.len() as u64);
        }
        let deadline =
            Instant::now() + Duration::from_secs_f64(self.scenario.node.warmup_timeout_s);
        while !pending.is_empty() {
            let members: std::collections::HashSet<String> = (0..self.nodes.len())
                .filter(|i| self.nodes[*i].member)
                .filter_map(|i| self.node(i).ok().map(|n| n.peer_id().to_string()))
                .collect();
            let (mut next, mut rest) = (Vec::new(), Vec::new());
            for i in pending {
                let peers = self.node(i)?.peers().await?;
                if peers.iter().any(|p| members.contains(&p.peer_id)) {
                    next.push(i);
                } else {
                    rest.push(i);
                }
            }
            if next.is_empty() && Instant::now() < deadline {
                // Nobody reaches a member yet (the nodes have just started dialling their
                // bootstrap peers): wait for a connection rather than racing the dial.
                pending = rest;
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            if next.is_empty() {
                // Nobody reaches a member by the deadline: try anyway, so the error says why.
                next.push(rest.remove(0));
            }
            for i in next {
                self.node(i)?
                    .join(&self.invite)
                    .await
                    .with_context(|| format!("node {i} joining by invite"))?;
                self.nodes[i].member = true;
                if let Some(p) = &self.progress {
                    p.inc(1);
                }
            }
            pending = rest;
        }
        self.warm_up().await
    }

    /// Waits until every member holds every member's join message.
    async fn warm_up(&self) -> anyhow::Result<()> {
        let group = self.group()?;
        let members = self.nodes.iter().filter(|n| n.member).count();
        let deadline =
            Instant::now() + Duration::from_secs_f64(self.scenario.node.warmup_timeout_s);
        if let Some(p) = &self.progress {
            p.set_message("warming up");
        }
        let mut last_log = Instant::now();
        loop {
            let mut ready = 0;
            for n in self.nodes.iter().filter(|n| n.member) {
                if let Some(node) = &n.node {
                    // Genesis meta is not a message; joins are (the owner's counts too).
                    if node.group_info(group).await?.messages >= members - 1 {
                        ready += 1;
                    }
                }
            }
            if let Some(p) = &self.progress {
                p.set_position((ready * self.nodes.len() / members.max(1)) as u64);
            }
            if ready == members {
                return self.quiet(deadline).await;
            }
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = Instant::now();
                tracing::info!(ready, members, "warming up: members holding every join");
            }
            if Instant::now() > deadline {
                bail!("warm-up: only {ready} of {members} members have every join");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until no connection has been opened for [`QUIET`] (nodes stop discovering
    /// each other through the DHT), so the run measures chat, not start-up.
    pub(crate) async fn quiet(&self, deadline: Instant) -> anyhow::Result<()> {
        let Some(net) = &self.net else {
            return Ok(());
        };
        let mut last = net.connections();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = net.connections();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= QUIET {
                return Ok(());
            }
        }
        tracing::warn!("warm-up: connections still opening at the deadline");
        Ok(())
    }

    /// The simulated network (`None` on loopback TCP).
    pub(crate) fn network(&self) -> Option<&Network> {
        self.net.as_ref()
    }

    /// The progress bar, if any.
    pub(crate) fn progress(&self) -> Option<&ProgressBar> {
        self.progress.as_ref()
    }

    /// How many nodes were started.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn group(&self) -> anyhow::Result<GroupId> {
        self.group.context("no group yet")
    }

    /// Gossip counters of every running node.
    async fn net_stats(&self) -> Vec<Option<NetStats>> {
        let mut out = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            out.push(match &n.node {
                Some(node) => node.net_stats().await.ok(),
                None => None,
            });
        }
        out
    }
}
