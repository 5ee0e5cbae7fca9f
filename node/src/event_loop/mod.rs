//! The event loop: the one task that owns the network, the store and every pending reply.
//!
//! It runs one `select!` (biased: local commands first, then store flushes, then network
//! input, then timers), and each arm hands its input whole to one room:
//!
//! * commands ([`crate::Command`]) by concern: `Net` to the network room, `Groups` to
//!   [`commands`], `Publish` to [`publish`], `Sync` to the sync room ([`catchup`]),
//!   `Discovery` to [`discovery`];
//! * network events ([`crate::net::Event`]) to [`network`], which dispatches them;
//! * deadlines from the one timer queue ([`timers`]) to the room that set them.
//!
//! The rooms, one field each: [`Groups`] (joined groups, topics, fold state), [`Publisher`]
//! (outbox, group commit, store recovery), the sync sessions (the `sessions`, `sync_*`
//! fields, driven by [`catchup`]), [`discovery::Discovery`] (DHT, joins, admissions, short
//! invites, profiles, names, searches). Besides them the loop holds the shared handles:
//! the network ([`Net`]), the store, the identity, the configuration, the event channel,
//! and the known peers. A room's own methods take what they need of another room as
//! arguments; the steps that span rooms (accepting a message, committing a post, joining
//! a group) are methods of the loop.

mod bounded;
mod catchup;
mod commands;
mod discovery;
mod groups;
mod index;
mod moderation;
mod network;
mod publish;
mod rekey;
mod repost;
mod search;
mod timers;

use std::collections::HashSet;
use std::time::Instant;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::OptionFuture;
use qun_protocol::order;
use qun_protocol::{Identity, Verified};
use tokio::sync::{broadcast, mpsc};

use crate::config::Config;
use crate::net::{self, Multiaddr, Net, PeerId};
use crate::peers::{self, Source};
use crate::store::Store;
use crate::{COMMAND_CAPACITY, Command, EVENT_CAPACITY, Error, NodeEvent, datadir, keys};

pub(crate) use discovery::{dht, joining};
pub(crate) use groups::{GroupRt, Groups};
pub(crate) use publish::{Pending, Publisher};
use timers::Alarm;
pub(crate) use timers::{Timer, Timers};

/// Peers remembered as having served invalid sync pages, at most: a stream of fresh
/// hostile identities must not grow the list without end. One that is forgotten is banned
/// again by its next invalid page (and disconnected each time).
pub const MAX_BAD_SYNC_PEERS: usize = 4096;

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
    /// The joined groups and their runtime.
    pub groups: Groups,
    /// Publishing: the outbox, posts waiting for a flush, store recovery.
    pub publish: Publisher,
    /// Deadlines of every room.
    pub timers: Timers,
    /// Peers that bypass the connection limits: members of our private and listed groups,
    /// and the bootstrap peers (kept equal to `connection_limits`' bypass list).
    pub trusted: HashSet<PeerId>,
    /// Per-peer budgets of the requests we serve.
    pub limits: crate::rate::Limits<PeerId>,
    /// History sync: running sessions, requests in flight, peers never asked again, figures.
    pub sync: catchup::Syncs,
    /// Known peers, kept on disk, and their redial backoff.
    pub known: peers::Table,
    /// Discovery state: DHT queries, searches, joins and stats in progress.
    pub disc: discovery::Discovery,
    /// How far our clock is off our peers' (from live message stamps).
    pub skew: crate::skew::Estimate,
    /// Whether we warned that our clock is off (warned again once it was back in line).
    pub skew_warned: bool,
    /// Re-keying: who re-keys after a removal, and moving to new epochs.
    pub rekeys: rekey::Rekeys,
    /// Posts closed out by a re-key: how many times ours were re-sent.
    pub reposts: repost::Reposts,
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
            groups: Groups::default(),
            publish: Publisher::default(),
            timers: Timers::default(),
            limits: crate::rate::Limits::default(),
            trusted: HashSet::new(),
            sync: catchup::Syncs::new(),
            known,
            records,
            _lock: lock,
            disc: discovery::Discovery::default(),
            skew: Default::default(),
            skew_warned: false,
            rekeys: rekey::Rekeys::default(),
            reposts: repost::Reposts::default(),
        };
        lp.schedule_announce(Duration::from_secs(5));
        lp.timers.at(Instant::now(), Timer::JoinRequests);
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

    /// The handle for the reads served without the loop (`crate::reads`).
    pub(crate) fn reads(&self) -> crate::reads::Reads {
        crate::reads::Reads::new(
            self.store.reader(),
            self.records.names(),
            self.identity.author(),
        )
    }

    pub async fn run(mut self) {
        let mut republish = tokio::time::interval(self.config.republish_interval);
        republish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut redial = tokio::time::interval(self.config.redial_interval);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let anti_entropy = tokio::time::sleep(jittered(self.config.sync_interval));
        tokio::pin!(anti_entropy);
        let mut alarm = Alarm::new();
        let mut stopped = None;
        loop {
            alarm.set(self.timers.next());
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
                Some(res) = OptionFuture::from(self.publish.flush_task.as_mut()) => {
                    self.publish.flush_task = None;
                    let res = res.map_err(|e| crate::store::Error::Corrupt(e.to_string()))
                        .and_then(|r| r);
                    self.handle_flushed(res);
                }
                event = self.net.next_event() => self.handle_net_event(event),
                _ = republish.tick() => self.publish.retry_outbox(&mut self.net, None),
                _ = redial.tick() => self.redial_round(),
                () = alarm.rung() => {
                    for t in self.timers.due(Instant::now()) {
                        self.handle_timer(t);
                    }
                }
                () = &mut anti_entropy => {
                    self.sync_round();
                    anti_entropy
                        .as_mut()
                        .reset(tokio::time::Instant::now() + jittered(self.config.sync_interval));
                }
            }
            self.recover_store();
            if self.groups.refold_dirty(&self.store) {
                self.refresh_trusted();
            }
            self.check_epochs();
            self.schedule_sync_retry();
        }
        // Close the store (once the API's reads in flight are done: `crate::reads`), the
        // swarm and the data dir lock before saying so: whoever asked for the shutdown may
        // start a node on the same data dir right away.
        self.store.close();
        drop(self);
        tracing::info!("node stopped");
        if let Some(reply) = stopped {
            let _ = reply.send(Ok(()));
        }
    }

    async fn handle_shutdown(&mut self) {
        if let Some(task) = self.publish.flush_task.take() {
            let res = task
                .await
                .map_err(|e| crate::store::Error::Corrupt(e.to_string()));
            self.handle_flushed(res.and_then(|r| r));
        }
        if !self.publish.unflushed.is_empty() {
            let res = self.store.flush().await;
            self.publish.flushing = std::mem::take(&mut self.publish.unflushed);
            self.handle_flushed(res);
        }
        if self.store.failed() {
            // Decide the posts of a failed flush now, by what reached the disk.
            self.publish.recovery.next = None;
            self.recover_store();
        }
        self.write_known_peers();
        if let Err(e) = self.store.flush().await {
            tracing::error!(error = %e, "final store flush failed");
        }
    }

    /// A deadline came: the room it is for does what is due.
    fn handle_timer(&mut self, t: Timer) {
        match t {
            Timer::Announce => {
                if self
                    .disc
                    .dht
                    .announce_at
                    .is_some_and(|t| t <= Instant::now())
                {
                    self.announce_all();
                }
            }
            Timer::JoinRequests => {
                self.retry_join_requests();
                let every = (self.config.join_retry_interval / 2).max(Duration::from_millis(10));
                self.timers.at(Instant::now() + every, Timer::JoinRequests);
            }
            Timer::Provides => self.retry_provides(),
            Timer::Searches => self.expire_searches(),
            Timer::Stats => self.expire_stats(),
            Timer::Admissions => self.expire_admissions(),
            Timer::SyncRetry => self.handle_sync_retry(),
            Timer::ShortJoins => self.start_waiting_short_joins(),
            Timer::Rekey => self.rekey_timer(),
        }
    }

    /// Wakes the loop when the earliest refused sync is to be asked again.
    fn schedule_sync_retry(&mut self) {
        if let Some(at) = self.sync.next_deadline() {
            self.timers.at(at, Timer::SyncRetry);
        }
    }

    pub(crate) fn emit(&self, event: NodeEvent) {
        let _ = self.events.send(event);
    }
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
