//! The event loop: the one task that owns the swarm.
//!
//! It holds the swarm, the store, the joined groups' runtime state, the publish outbox and
//! every pending reply, and runs one `select!` (biased: local commands first, then store
//! flushes, then network input, then timers). Each arm calls one `handle_*` method.
//!
//! ## Sending: stored, flushed, then published
//! A post is signed, written to the store, and parked in `unflushed`. One flush runs at a
//! time; when it returns, every post written before it started is published and
//! acknowledged (group commit: one fsync serves many messages). A publish that finds no
//! subscribed peer goes to the topic's outbox and is retried when a peer subscribes and on
//! a timer, so nothing is silently dropped.
//!
//! A post is not visible to sync (the group's index), to subscribers or to the network
//! before its flush returned. If the flush fails (a full disk), the store is reopened (sled's
//! write error is sticky, see [`crate::store`]) and each waiting post is decided by what
//! reached the disk: stored, it is published and acknowledged; not stored, the sender gets
//! the error and the post never appears anywhere, also not after a restart. So an answer is
//! exact in both directions: acknowledged means stored, failed means never delivered.
//!
//! ## Known peers
//! Peers met (identify), named by invites and cards, configured (bootstrap) or found on the
//! LAN go into [`crate::peers::Table`], which is kept on disk. One redial timer dials the
//! ones wanted, with backoff: bootstrap peers always, members of a group with no connected
//! member, and any known peer while the node has few connections; so a restarted node is
//! back in its groups without `--bootstrap`.

mod admission;
mod catchup;
mod commands;
mod dht;
mod fold;
mod index;
mod joining;
mod names;
mod network;
mod profiles;
mod search;
mod short_invite;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::OptionFuture;
use qun_protocol::group::State;
use qun_protocol::order::{self, Clock, MAX_SKEW_MS, Stamp};
use qun_protocol::{GroupId, Identity, MessageKey, MsgId, OrderKey, SyncKey, Verified};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::net::{self, Multiaddr, Net, PeerId, RequestId, TopicHash};
use crate::peers::{self, Source};
use crate::store::{GroupRecord, Store};
use crate::view::{MessageView, MessageViewExt as _};
use crate::{COMMAND_CAPACITY, Command, EVENT_CAPACITY, Error, NodeEvent, datadir, keys};

/// Frames kept per topic while no peer is subscribed; older ones are dropped first (they
/// are stored, and sync brings them to peers later).
pub const OUTBOX_CAPACITY: usize = 10_000;

/// A joined group, in memory.
pub(crate) struct GroupRt {
    pub record: GroupRecord,
    pub state: State,
    /// The group's hybrid logical clock: stamps our posts after everything seen.
    pub clock: Clock,
    /// Messages stored for the group (counted once at start, then kept up to date).
    pub messages: usize,
    pub keys: HashMap<u64, MessageKey>,
    /// The sync proof key of each epoch we hold.
    pub sync_keys: HashMap<u64, SyncKey>,
    /// The gossipsub topic of each epoch we hold.
    pub topics: Vec<(u64, TopicHash)>,
    /// The order keys of every stored message by epoch, for sync.
    pub index: index::Index,
    /// Set when joined with history since join.
    pub history: Option<crate::store::HistoryFrom>,
}

impl GroupRt {
    fn current(&self) -> Option<(u64, &TopicHash)> {
        self.topics
            .iter()
            .max_by_key(|(e, _)| *e)
            .map(|(e, t)| (*e, t))
    }
}

/// A post that is stored and waits for a flush before it is published and acknowledged.
pub(crate) struct Pending {
    pub topic: TopicHash,
    pub frame: Vec<u8>,
    /// The signed message (not in the group's index, nor shown to subscribers, yet).
    pub msg: Verified,
    pub reply: Option<oneshot::Sender<Result<MsgId, Error>>>,
}

/// First wait before the store is reopened again after a reopen failed.
const REOPEN_RETRY_MIN: Duration = Duration::from_millis(250);
/// Longest wait between two reopen attempts.
const REOPEN_RETRY_MAX: Duration = Duration::from_secs(5);

/// Recovery of the store after a write failure.
#[derive(Default)]
pub(crate) struct Recovery {
    /// Posts whose flush failed, decided once the store is reopened.
    pub undecided: Vec<Pending>,
    /// The write failure, for the posts that are found not stored.
    pub fault: Option<crate::store::Error>,
    /// No reopen before this instant.
    pub next: Option<Instant>,
    /// The wait after the next failed reopen.
    pub wait: Duration,
}

/// Fields drop in order: the store (and the discovery trees of its database) and the data
/// dir lock before the command receiver, so a caller that sees the node closed can reopen
/// its data dir.
pub(crate) struct EventLoop {
    /// The network: the swarm and what it knows of peers and connections.
    pub net: Net,
    pub store: Store,
    /// Discovery records on disk (cards, profiles, join requests).
    pub records: crate::store::Records,
    /// The data dir's lock: one node per data dir.
    pub _lock: datadir::Lock,
    pub identity: Identity,
    pub config: Config,
    pub commands: mpsc::Receiver<Command>,
    pub events: broadcast::Sender<NodeEvent>,
    pub groups: HashMap<GroupId, GroupRt>,
    pub topics: HashMap<TopicHash, GroupId>,
    pub outbox: HashMap<TopicHash, VecDeque<Vec<u8>>>,
    pub unflushed: Vec<Pending>,
    pub flushing: Vec<Pending>,
    pub flush_task: Option<JoinHandle<Result<(), crate::store::Error>>>,
    /// Sync requests in flight: peer, group, and the keys asked for (fetches only).
    pub sync_pending: HashMap<RequestId, (PeerId, GroupId, Vec<OrderKey>)>,
    /// Peers that bypass the connection limits: members of our private and listed groups,
    /// and the bootstrap peers (kept equal to `connection_limits`' bypass list).
    pub trusted: HashSet<PeerId>,
    /// Per-peer budgets of the requests we serve.
    pub limits: crate::rate::Limits<PeerId>,
    pub bad_sync_peers: HashSet<PeerId>,
    /// Running syncs, one per (peer, group) at most.
    pub sessions: HashMap<(PeerId, GroupId), catchup::Session>,
    /// Syncs of a group we just joined that a peer refused (it had not yet seen our join):
    /// when to ask again, and how many times we did (see `catchup::retry_refused_syncs`).
    pub sync_retry: HashMap<(PeerId, GroupId), (Instant, u32)>,
    /// Keys of each group asked for by some sync and not answered yet: a second sync of the
    /// group (with another peer) does not ask for them again.
    pub fetch_in_flight: HashMap<GroupId, HashSet<OrderKey>>,
    /// What the last syncs of each group did.
    pub sync_stats: HashMap<GroupId, catchup::SyncStats>,
    /// Groups whose state must be folded again from scratch: a control op arrived out of
    /// order, or the store was reloaded. (A control op that sorts after the last one folded
    /// is applied to the state as it is stored: [`Self::fold_op`].)
    pub dirty: HashSet<GroupId>,
    /// A control op was folded this iteration: the connection limits' bypass list is
    /// refreshed once at its end.
    pub folded: bool,
    /// Known peers, kept on disk, and their redial backoff.
    pub known: peers::Table,
    /// Store recovery after a write failure.
    pub recovery: Recovery,
    /// Discovery state: DHT queries, searches, joins and stats in progress.
    pub disc: dht::Discovery,
    /// How far our clock is off our peers' (from live message stamps).
    pub skew: crate::skew::Estimate,
    /// Whether we warned that our clock is off (warned again once it was back in line).
    pub skew_warned: bool,
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl EventLoop {
    /// Our wall clock for message time, ms since the Unix epoch (shifted by the testing-only
    /// `Config::clock_offset_ms`).
    pub(crate) fn clock_ms(&self) -> u64 {
        now_ms().saturating_add_signed(self.config.clock_offset_ms)
    }

    /// Group time: our clock corrected by how far it is off our peers' (see
    /// [`crate::skew`]). The windows of group stats use it.
    pub(crate) fn group_now_ms(&self) -> u64 {
        self.skew.group_now_ms(self.clock_ms(), Instant::now())
    }

    /// Checks a received message's stamp against our clock; too far ahead, it is refused for
    /// now (a later sync brings it).
    pub(crate) fn stamp_acceptable(&self, msg: &Verified) -> Result<(), order::Error> {
        order::check(msg.body.stamp, self.clock_ms())
    }

    /// Takes a live (gossiped) message's stamp into the clock offset estimate, and warns
    /// once when our clock is off our peers' by more than a minute.
    pub(crate) fn sample_clock(&mut self, msg: &Verified) {
        let now = Instant::now();
        self.skew
            .sample(msg.author(), msg.body.stamp.ms, self.clock_ms(), now);
        let Some(offset) = self.skew.offset_ms(now) else {
            return;
        };
        let off = offset.abs() > crate::skew::WARN_OFFSET_MS;
        if off && !self.skew_warned {
            tracing::warn!(
                offset_ms = offset,
                "this computer's clock is off the group's by more than a minute: set the \
                 time (e.g. enable NTP); peers hold back messages stamped more than 5 \
                 minutes ahead of their clocks"
            );
        }
        self.skew_warned = off;
    }

    #[allow(clippy::type_complexity)]
    pub fn new(
        config: Config,
    ) -> Result<
        (
            Self,
            mpsc::Sender<Command>,
            broadcast::Sender<NodeEvent>,
            PeerId,
        ),
        Error,
    > {
        config.validate()?;
        datadir::prepare(&config.data_dir)?;
        let lock = datadir::Lock::acquire(&config.data_dir)?;
        let identity = keys::load_or_create(&config.data_dir)?;
        let peer_id = net::peer_id(&identity.author())
            .ok_or_else(|| Error::Internal("our key is not an ed25519 peer id".into()))?;
        let store = Store::open_with(
            &datadir::store_dir(&config.data_dir)?,
            config.cache_bytes,
            config.store_flush_every.map(|d| d.as_millis() as u64),
            config.store_reserve_bytes,
        )?;
        let records = crate::store::Records::open(&store)?;
        let known = peers::Table::load(
            peer_id,
            store.known_peers(peers::MAX_KNOWN_PEERS + peers::EVICT_BATCH)?,
        );
        let listen: Vec<Multiaddr> = config
            .listen
            .iter()
            .map(|a| a.multiaddr().clone())
            .collect();
        let listen = if config.keep_port {
            datadir::keep_listen_port(&config.data_dir, &listen)?
        } else {
            listen
        };
        let net = Net::new(&identity, &config, &listen)?;
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let mut lp = EventLoop {
            net,
            store,
            identity,
            config,
            commands: rx,
            events: events.clone(),
            groups: HashMap::new(),
            topics: HashMap::new(),
            outbox: HashMap::new(),
            unflushed: Vec::new(),
            flushing: Vec::new(),
            flush_task: None,
            sync_pending: HashMap::new(),
            limits: crate::rate::Limits::default(),
            trusted: HashSet::new(),
            bad_sync_peers: HashSet::new(),
            sessions: HashMap::new(),
            sync_retry: HashMap::new(),
            fetch_in_flight: HashMap::new(),
            sync_stats: HashMap::new(),
            dirty: HashSet::new(),
            folded: false,
            known,
            recovery: Recovery::default(),
            records,
            _lock: lock,
            disc: dht::Discovery {
                routing_empty: true,
                short_waiting: Vec::new(),
                ..Default::default()
            },
            skew: Default::default(),
            skew_warned: false,
        };
        lp.schedule_announce(Duration::from_secs(5));
        for (id, record) in lp.store.groups()? {
            lp.add_group(id, record)?;
        }
        for addr in lp.config.bootstrap.clone() {
            lp.learn_addr(addr.multiaddr(), Source::Bootstrap);
        }
        lp.refresh_trusted();
        tracing::info!(known = lp.known.len(), "known peers loaded");
        Ok((lp, tx, events, peer_id))
    }

    pub async fn run(mut self) {
        let mut republish = tokio::time::interval(self.config.republish_interval);
        republish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(self.config.redial_interval);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut discovery = tokio::time::interval(Duration::from_millis(250));
        discovery.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let anti_entropy = tokio::time::sleep(jittered(self.config.sync_interval));
        tokio::pin!(anti_entropy);
        let mut stopped = None;
        loop {
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Shutdown(reply)) => {
                        self.handle_shutdown().await;
                        stopped = Some(reply);
                        break;
                    }
                    Some(cmd) => self.handle_command(cmd),
                    None => {
                        self.handle_shutdown().await;
                        break;
                    }
                },
                Some(res) = OptionFuture::from(self.flush_task.as_mut()) => {
                    self.flush_task = None;
                    let res = res.map_err(|e| crate::store::Error::Corrupt(e.to_string()))
                        .and_then(|r| r);
                    self.handle_flushed(res);
                }
                event = self.net.next_event() => self.handle_net_event(event),
                _ = republish.tick() => self.retry_outbox(None),
                _ = redial.tick() => self.redial_round(),
                _ = discovery.tick() => self.discovery_tick(),
                () = &mut anti_entropy => {
                    self.sync_round();
                    anti_entropy
                        .as_mut()
                        .reset(tokio::time::Instant::now() + jittered(self.config.sync_interval));
                }
            }
            self.recover_store();
            self.refold_dirty();
        }
        // Close the store, the swarm and the data dir lock before saying so: whoever asked
        // for the shutdown may start a node on the same data dir right away.
        drop(self);
        tracing::info!("node stopped");
        if let Some(reply) = stopped {
            let _ = reply.send(Ok(()));
        }
    }

    async fn handle_shutdown(&mut self) {
        if let Some(task) = self.flush_task.take() {
            let res = task
                .await
                .map_err(|e| crate::store::Error::Corrupt(e.to_string()));
            self.handle_flushed(res.and_then(|r| r));
        }
        if !self.unflushed.is_empty() {
            let res = self.store.flush().await;
            self.flushing = std::mem::take(&mut self.unflushed);
            self.handle_flushed(res);
        }
        if self.store.failed() {
            // Decide the posts of a failed flush now, by what reached the disk.
            self.recovery.next = None;
            self.recover_store();
        }
        self.write_known_peers();
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
    }

    /// Starts a flush of everything written so far, if none is running.
    pub(crate) fn maybe_start_flush(&mut self) {
        if self.flush_task.is_some() || self.unflushed.is_empty() {
            return;
        }
        self.flushing = std::mem::take(&mut self.unflushed);
        let store = self.store.clone();
        self.flush_task = Some(tokio::spawn(async move { store.flush().await }));
    }

    /// A flush returned: publish and acknowledge what it made durable. A failed flush
    /// leaves its posts undecided until the store is reopened ([`Self::recover_store`]).
    fn handle_flushed(&mut self, res: Result<(), crate::store::Error>) {
        let batch = std::mem::take(&mut self.flushing);
        match res {
            Ok(()) => {
                self.recovery.wait = Duration::ZERO;
                for p in batch {
                    self.commit_post(p);
                }
                self.maybe_start_flush();
            }
            Err(e) => {
                tracing::error!(error = %e, posts = batch.len(), "store flush failed");
                self.store.mark_failed();
                self.recovery.fault.get_or_insert(e);
                self.recovery.undecided.extend(batch);
            }
        }
    }

    /// A post is durable: it joins the group's index (sync may serve it), subscribers see
    /// it, it is published, and its sender gets the id.
    fn commit_post(&mut self, p: Pending) {
        let group = p.msg.body.group;
        if let Some(rt) = self.groups.get_mut(&group)
            && rt.index.insert(p.msg.body.epoch, p.msg.order_key())
        {
            rt.messages += 1;
        }
        if p.msg.body.kind.is_control() {
            self.fold_op(&p.msg);
        }
        if self.events.receiver_count() > 0 {
            self.emit(NodeEvent::Message(MessageView::of(&p.msg)));
        }
        self.publish_or_queue(p.topic, p.frame);
        if let Some(reply) = p.reply {
            let _ = reply.send(Ok(p.msg.id));
        }
    }

    /// After a write failure: reopens the store (once no flush is in flight, with backoff
    /// while reopening fails), reloads what the groups hold from it, and decides every
    /// waiting post by whether it reached the disk.
    fn recover_store(&mut self) {
        if !self.store.failed() || self.flush_task.is_some() {
            return;
        }
        let now = Instant::now();
        if self.recovery.next.is_some_and(|t| t > now) {
            return;
        }
        if let Err(e) = self.store.reopen() {
            let wait = self.recovery.wait.clamp(REOPEN_RETRY_MIN, REOPEN_RETRY_MAX);
            self.recovery.wait = (wait * 2).min(REOPEN_RETRY_MAX);
            self.recovery.next = Some(now + wait);
            tracing::warn!(error = %e, retry_ms = wait.as_millis() as u64, "could not reopen the store");
            return;
        }
        // Write failures right after a reopen (the disk is still full) wait a little before
        // the next reopen; a successful flush resets the wait.
        let wait = self.recovery.wait.clamp(REOPEN_RETRY_MIN, REOPEN_RETRY_MAX);
        self.recovery.wait = (wait * 2).min(REOPEN_RETRY_MAX);
        self.recovery.next = Some(now + wait);
        tracing::info!("store reopened after a write failure");
        self.reload_groups();
        self.known.mark_all_dirty();
        let fault = self
            .recovery
            .fault
            .take()
            .unwrap_or(crate::store::Error::Unavailable);
        let waiting: Vec<Pending> = std::mem::take(&mut self.recovery.undecided)
            .into_iter()
            .chain(std::mem::take(&mut self.unflushed))
            .collect();
        for p in waiting {
            match self.store.get(&p.msg.body.group, &p.msg.order_key()) {
                Ok(Some(_)) => {
                    tracing::info!(id = %p.msg.id, "a post whose flush failed reached the disk");
                    self.commit_post(p);
                }
                Ok(None) | Err(_) => {
                    if let Some(reply) = p.reply {
                        let _ = reply.send(Err(Error::Store(fault.clone())));
                    }
                }
            }
        }
    }

    /// Reloads each group's index, count and state from the (reopened) store.
    fn reload_groups(&mut self) {
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        for id in ids {
            let keys = match self.store.order_keys(&id) {
                Ok(k) => k,
                Err(e) => {
                    tracing::error!(group = %id, error = %e, "could not reload a group");
                    continue;
                }
            };
            let history = self.store.history_from(&id).ok().flatten();
            let now = self.clock_ms();
            if let Some(rt) = self.groups.get_mut(&id) {
                rt.index = index::Index::from_keys(keys);
                rt.messages = rt.index.len();
                // The clock never goes back: it only observes the stored stamps again.
                let limit = OrderKey::at(Stamp::new(now.saturating_add(MAX_SKEW_MS + 1), 0));
                if let Some(k) = rt.index.last_below(&limit) {
                    let _ = rt.clock.observe(k.stamp, now);
                }
                rt.history = history;
            }
            self.dirty.insert(id);
        }
    }

    /// Publishes a frame, or queues it until a peer subscribes.
    pub(crate) fn publish_or_queue(&mut self, topic: TopicHash, frame: Vec<u8>) {
        let queue = self.outbox.entry(topic.clone()).or_default();
        if !queue.is_empty() {
            // Keep order: older frames go first.
            queue.push_back(frame);
            if queue.len() > OUTBOX_CAPACITY {
                queue.pop_front();
            }
            self.retry_outbox(Some(topic));
            return;
        }
        match self.net.publish(topic.clone(), frame.clone()) {
            Ok(()) | Err(net::PublishError::Duplicate) => {}
            Err(e) => {
                tracing::debug!(%topic, error = %e, "publish deferred");
                queue.push_back(frame);
            }
        }
    }

    /// Retries queued frames (of one topic, or all).
    pub(crate) fn retry_outbox(&mut self, only: Option<TopicHash>) {
        let topics: Vec<TopicHash> = match only {
            Some(t) => vec![t],
            None => self.outbox.keys().cloned().collect(),
        };
        for topic in topics {
            let Some(queue) = self.outbox.get_mut(&topic) else {
                continue;
            };
            while let Some(frame) = queue.front() {
                match self.net.publish(topic.clone(), frame.clone()) {
                    Ok(())
                    | Err(net::PublishError::Duplicate)
                    | Err(net::PublishError::TooLarge) => {
                        queue.pop_front();
                    }
                    Err(net::PublishError::NotNow(_)) => break,
                }
            }
            if queue.is_empty() {
                self.outbox.remove(&topic);
            }
        }
    }

    /// Timers of discovery: the announcement round, join request retries, deadlines of
    /// searches and stats.
    fn discovery_tick(&mut self) {
        if self.disc.announce_at.is_some_and(|t| t <= Instant::now()) {
            self.announce_all();
        }
        self.retry_join_requests();
        self.retry_provides();
        self.expire_searches();
        self.expire_stats();
        self.expire_admissions();
        self.retry_refused_syncs();
        self.start_waiting_short_joins();
    }

    pub(crate) fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }

    /// One redial round (on the redial timer): writes the known peers that changed, then
    /// dials the known peers that are wanted and whose backoff is over. Wanted, in this
    /// order: bootstrap peers; members of a group none of whose members is connected; any
    /// known peer while fewer than [`peers::MIN_CONNECTED`] are connected.
    fn redial_round(&mut self) {
        self.write_known_peers();
        let few = self.net.connected().len() < peers::MIN_CONNECTED;
        let mut lonely_members: HashSet<PeerId> = HashSet::new();
        let lonely: Vec<GroupId> = self
            .groups
            .keys()
            .filter(|g| self.subscribed_peers(g).is_empty())
            .copied()
            .collect();
        for g in &lonely {
            if let Some(rt) = self.groups.get(g) {
                lonely_members.extend(rt.state.members.iter().filter_map(net::peer_id));
            }
        }
        let connected = self.net.connected();
        let due = self.known.due(
            Instant::now(),
            self.config.redial_interval,
            self.config.redial_max_backoff,
            peers::MAX_DIALS_PER_ROUND,
            |p, k| {
                if connected.contains_key(p) {
                    None
                } else if k.sources.has(Source::Bootstrap) {
                    Some(0)
                } else if lonely_members.contains(p) {
                    Some(1)
                } else if few {
                    Some(2)
                } else {
                    None
                }
            },
        );
        for (peer, addrs) in due {
            tracing::debug!(%peer, addrs = addrs.len(), "dialling a known peer");
            if let Err(e) = self.net.dial_peer(peer, addrs) {
                tracing::debug!(%peer, error = %e, "dial failed");
            }
        }
    }

    /// Writes the known peers that changed since the last write, in one batch, unflushed.
    pub(crate) fn write_known_peers(&mut self) {
        let (put, remove) = self.known.take_writes();
        if put.is_empty() && remove.is_empty() {
            return;
        }
        if let Err(e) = self.store.write_known_peers(put, remove) {
            tracing::warn!(error = %e, "could not write known peers");
        }
    }

    /// Whether `peer` is a member of one of our groups (spared when the known-peers table
    /// is full).
    pub(crate) fn is_member(groups: &HashMap<GroupId, GroupRt>, peer: &PeerId) -> bool {
        net::author(peer).is_some_and(|a| groups.values().any(|g| g.state.members.contains(&a)))
    }

    /// Learns addresses of a peer from `source`.
    pub(crate) fn learn_peer(
        &mut self,
        peer: PeerId,
        addrs: impl IntoIterator<Item = Multiaddr>,
        source: Source,
    ) {
        let groups = &self.groups;
        self.known.learn(peer, addrs, source, now_ms(), &|p| {
            Self::is_member(groups, p)
        });
    }

    /// Learns a `/…/p2p/PEER` address from `source` (addresses without a peer id are
    /// dialled but not kept) and dials it.
    pub(crate) fn learn_addr(&mut self, addr: &Multiaddr, source: Source) {
        if let Some((peer, bare)) = peers::split_p2p(addr) {
            self.learn_peer(peer, [bare], source);
        }
        self.dial_addr(addr.clone());
    }

    pub(crate) fn dial_addr(&mut self, addr: Multiaddr) {
        if let Some((peer, _)) = peers::split_p2p(&addr) {
            self.net.dht_add_address(&peer, addr.clone());
        }
        if let Err(e) = self.net.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "dial failed");
        }
    }

    /// Adds a joined group to the runtime: keys, state, subscriptions.
    pub(crate) fn add_group(&mut self, id: GroupId, record: GroupRecord) -> Result<(), Error> {
        let mut keys = HashMap::new();
        let mut sync_keys = HashMap::new();
        let mut topics = Vec::new();
        for e in &record.epochs {
            keys.insert(e.epoch, e.secret.message_key(&id, e.epoch));
            sync_keys.insert(e.epoch, e.secret.sync_key(&id, e.epoch));
            let topic = self
                .net
                .subscribe(&e.secret.topic(&id, e.epoch))
                .map_err(Error::Network)?;
            self.topics.insert(topic.clone(), id);
            topics.push((e.epoch, topic));
        }
        let state = State::fold(&record.genesis.genesis, &self.store.control_ops(&id)?);
        let index = index::Index::from_keys(self.store.order_keys(&id)?);
        let clock = seed_clock(&index, self.clock_ms());
        let messages = index.len();
        self.groups.insert(
            id,
            GroupRt {
                record,
                state,
                clock,
                messages,
                keys,
                sync_keys,
                topics,
                index,
                history: self.store.history_from(&id)?,
            },
        );
        Ok(())
    }

    /// Stores a validated message (unless it is stamped too far ahead: see
    /// [`order::check`]) and brings the runtime up to date: the group's hybrid clock and
    /// message count, its state (control ops are folded: [`Self::fold_op`]), and the
    /// subscribers. The one way in for every message: sent, gossiped or synced. Returns
    /// whether the message was new and admitted: a message the group state refuses (a post
    /// by a member after it left, `group::State::admits`) is not stored, so a later sync
    /// brings it again, when a rejoin may have arrived.
    pub(crate) fn accept(&mut self, msg: &Verified) -> Result<bool, Error> {
        if let Err(e) = self.stamp_acceptable(msg) {
            tracing::debug!(id = %msg.id, error = %e, "message held back: stamped too far ahead");
            return Ok(false);
        }
        if let Some(rt) = self.groups.get(&msg.body.group)
            && let Err(e) = rt.state.admits(msg)
        {
            tracing::debug!(group = %msg.body.group, error = %e, "message refused");
            return Ok(false);
        }
        if !self.store.insert(msg)? {
            return Ok(false);
        }
        let group = msg.body.group;
        let now = self.clock_ms();
        if let Some(rt) = self.groups.get_mut(&group) {
            // A stamp too far ahead does not move the clock (callers refuse such messages
            // before they get here; our own posts are stamped by this clock).
            let _ = rt.clock.observe(msg.body.stamp, now);
            rt.messages += 1;
            rt.index.insert(msg.body.epoch, msg.order_key());
        }
        if msg.body.kind.is_control() {
            self.fold_op(msg);
        }
        self.want_name(msg.author());
        if self.events.receiver_count() > 0 {
            self.emit(NodeEvent::Message(self.message_view(msg)));
        }
        Ok(true)
    }

    /// Brings the connection limits' bypass list up to date: members of our private and
    /// listed groups (they needed an invite or an admin's approval) and the bootstrap peers.
    /// Members of public groups do not bypass: anyone can become one.
    pub(crate) fn refresh_trusted(&mut self) {
        let me = self.net.local_peer_id();
        let mut now: HashSet<PeerId> = self
            .known
            .iter()
            .filter(|(_, k)| k.sources.has(Source::Bootstrap))
            .map(|(p, _)| *p)
            .collect();
        for rt in self.groups.values() {
            if rt.record.genesis.genesis.visibility == qun_protocol::Visibility::Public {
                continue;
            }
            now.extend(rt.state.members.iter().filter_map(net::peer_id));
        }
        now.remove(&me);
        self.net.set_trusted(&self.trusted, &now);
        self.trusted = now;
    }
}

/// A group clock that has seen the highest stored stamp not too far ahead of `now_ms`: a
/// stamp stored by an older version with a hostile Lamport clock (read as a stamp far in
/// the future) must not drag our posts after it.
fn seed_clock(index: &index::Index, now_ms: u64) -> Clock {
    let limit = OrderKey::at(Stamp::new(now_ms.saturating_add(MAX_SKEW_MS + 1), 0));
    let mut clock = Clock::new();
    if let Some(k) = index.last_below(&limit) {
        let _ = clock.observe(k.stamp, now_ms);
    }
    clock
}

/// A uniformly random index below `n` (0 when `n` is 0).
pub(crate) fn random_index(n: usize) -> usize {
    let mut b = [0u8; 8];
    if n == 0 || keys::random_fill(&mut b).is_err() {
        return 0;
    }
    (u64::from_le_bytes(b) % n as u64) as usize
}

/// `base` scaled by a random factor in [0.5, 1.5), so nodes started together do not sync
/// in lockstep.
pub(crate) fn jittered(base: Duration) -> Duration {
    let permille = random_index(1000) as u32;
    base / 2 + base * permille / 1000
}

/// A random 24-byte AEAD nonce.
pub(crate) fn nonce() -> Result<[u8; 24], Error> {
    let mut n = [0u8; 24];
    keys::random_fill(&mut n)?;
    Ok(n)
}

/// Default lifetime of the invite returned by `create_group`.
pub(crate) const DEFAULT_INVITE_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
