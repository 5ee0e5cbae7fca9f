//! Two sides wired back to back, no runtime: a [`Sessions`] on one side, a stateless
//! responder (as the node serves `/qun/sync/3`) on the other, and a queue for the wire.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::id::MsgId;
use crate::order::Stamp;
use crate::sync::wire::{MAX_FETCH, Refusal};

const NOW_MS: u64 = 1_800_000_000_000;

type Set = BTreeSet<OrderKey>;
type Store = BTreeMap<u64, Set>;

/// A fetched message: its epoch and key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Msg(u64, OrderKey);

impl Keyed for Msg {
    fn order_key(&self) -> OrderKey {
        self.1
    }
}

fn key(n: u32) -> OrderKey {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    OrderKey {
        stamp: Stamp::new(NOW_MS - 10_000_000 + u64::from(n), 0),
        id: MsgId::from_bytes(id),
    }
}

fn set(r: impl IntoIterator<Item = u32>) -> Set {
    r.into_iter().map(key).collect()
}

fn store(epochs: &[(u64, Set)]) -> Store {
    epochs.iter().cloned().collect()
}

/// The serving side: stateless, at most `page` frames per page.
struct Peer {
    keys: Store,
    page: usize,
}

impl Peer {
    fn with(keys: Set) -> Self {
        Self {
            keys: store(&[(0, keys)]),
            page: usize::MAX,
        }
    }

    fn serve(&self, sent: &Sent) -> Answer<Msg> {
        match sent {
            Sent::Reconcile(epoch, bytes) => {
                let set = Keys::epoch(&self.keys, *epoch);
                let reply = reconcile::Message::decode(bytes)
                    .and_then(|m| reconcile::respond(set, &m, &reconcile::Config::default()));
                match reply {
                    Ok(m) => Answer::Reconcile(m.encode()),
                    Err(_) => Answer::Refused(Refusal::Malformed),
                }
            }
            Sent::Fetch(epoch, keys) => {
                let set = Keys::epoch(&self.keys, *epoch);
                let msgs: Vec<Msg> = keys
                    .iter()
                    .filter(|k| set.contains(k))
                    .take(self.page)
                    .map(|k| Msg(*epoch, *k))
                    .collect();
                Answer::Page {
                    frames: msgs.len(),
                    opened: Ok(msgs),
                }
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Sent {
    Reconcile(u64, Vec<u8>),
    Fetch(u64, Vec<OrderKey>),
}

/// The initiating side and the wire.
struct Net {
    me: Store,
    history: Option<History>,
    joined_ms: u64,
    sessions: Sessions<u8, Msg>,
    wire: VecDeque<(u8, RequestId, Sent)>,
    now: Instant,
    done: Vec<(u8, Stats)>,
    bad: Vec<(u8, Error)>,
    timers: Vec<Instant>,
    retries: Vec<u8>,
    fetches: Vec<(u8, usize)>,
    in_flight: HashMap<u8, usize>,
    most_in_flight: usize,
}

impl Net {
    fn new(me: Set, config: Config) -> Self {
        Self {
            me: store(&[(0, me)]),
            history: None,
            joined_ms: 0,
            sessions: Sessions::new(config),
            wire: VecDeque::new(),
            now: Instant::now(),
            done: Vec::new(),
            bad: Vec::new(),
            timers: Vec::new(),
            retries: Vec::new(),
            fetches: Vec::new(),
            in_flight: HashMap::new(),
            most_in_flight: 0,
        }
    }

    fn tick(&mut self, at: Instant) {
        let local = local(&self.me, self.history, self.joined_ms);
        self.sessions.tick(at, &local);
        self.drain();
    }

    fn start(&mut self, peer: u8, epochs: Vec<u64>) -> bool {
        let local = local(&self.me, self.history, self.joined_ms);
        let started = self.sessions.start(self.now, peer, epochs, &local);
        self.drain();
        started
    }

    /// Carries out every action; stores pages at once.
    fn drain(&mut self) {
        while let Some(action) = self.sessions.poll_action() {
            match action {
                Action::SendReconcile {
                    peer,
                    request,
                    epoch,
                    message,
                } => self
                    .wire
                    .push_back((peer, request, Sent::Reconcile(epoch, message))),
                Action::SendFetch {
                    peer,
                    request,
                    epoch,
                    keys,
                } => {
                    self.fetches.push((peer, keys.len()));
                    let n = self.in_flight.entry(peer).or_default();
                    *n += 1;
                    self.most_in_flight = self.most_in_flight.max(*n);
                    self.wire
                        .push_back((peer, request, Sent::Fetch(epoch, keys)));
                }
                Action::Store {
                    request, messages, ..
                } => {
                    let mut new = 0;
                    for Msg(epoch, k) in messages {
                        new += usize::from(self.me.entry(epoch).or_default().insert(k));
                    }
                    let local = local(&self.me, self.history, self.joined_ms);
                    self.sessions.stored(self.now, request, new, &local);
                }
                Action::Misbehaved { peer, error } => self.bad.push((peer, error)),
                Action::Done { peer, stats } => self.done.push((peer, stats)),
                Action::Retry { peer } => self.retries.push(peer),
                Action::SetTimer { at } => self.timers.push(at),
            }
        }
    }

    /// Delivers one request's answer (as `answer` makes it from the serving peer).
    fn deliver_with(&mut self, answer: impl FnOnce(u8, &Sent) -> Answer<Msg>) -> bool {
        let Some((peer, request, sent)) = self.wire.pop_front() else {
            return false;
        };
        if let Sent::Fetch(..) = sent
            && let Some(n) = self.in_flight.get_mut(&peer)
        {
            *n -= 1;
        }
        let answer = answer(peer, &sent);
        let local = local(&self.me, self.history, self.joined_ms);
        self.sessions.answer(self.now, request, answer, &local);
        self.drain();
        true
    }

    /// Answers everything on the wire from `peers` until nothing is left.
    fn run(&mut self, peers: &HashMap<u8, Peer>) {
        while self.deliver_with(|p, sent| peers[&p].serve(sent)) {}
    }

    fn all(&self) -> Set {
        self.me.values().flatten().copied().collect()
    }
}

fn local(me: &Store, history: Option<History>, joined_ms: u64) -> Local<'_> {
    Local {
        keys: me,
        history,
        clock_ms: NOW_MS,
        joined_ms,
    }
}

fn sync_once(mine: Set, theirs: Set, config: Config, page: usize) -> Net {
    let mut net = Net::new(mine, config);
    let peers = HashMap::from([(
        1,
        Peer {
            page,
            ..Peer::with(theirs)
        },
    )]);
    assert!(net.start(1, vec![0]));
    net.run(&peers);
    net
}

fn assert_converged(mine: &Set, theirs: &Set, net: &Net) {
    let missing = theirs.difference(mine).count();
    assert!(net.bad.is_empty(), "{:?}", net.bad);
    assert_eq!(net.all(), mine | theirs);
    assert_eq!(net.done.len(), 1);
    let stats = &net.done[0].1;
    assert_eq!((stats.found, stats.fetched), (missing, missing));
    assert!(net.sessions.is_idle());
    assert_eq!(net.sessions.progress(), (0, 0, 0));
}

#[test]
fn a_sync_fetches_what_the_peer_has_and_we_lack() {
    let (mine, theirs) = (set(0..300), set(100..450));
    let net = sync_once(mine.clone(), theirs.clone(), Config::default(), usize::MAX);
    assert_converged(&mine, &theirs, &net);
    assert!(net.done[0].1.rounds >= 1);
    assert_eq!(net.done[0].1.lowest, Some(key(300)));
}

#[test]
fn empty_sets_end_at_once() {
    let net = sync_once(Set::new(), Set::new(), Config::default(), usize::MAX);
    assert_converged(&Set::new(), &Set::new(), &net);
    assert!(net.fetches.is_empty());
}

#[test]
fn one_side_empty() {
    let net = sync_once(Set::new(), set(0..200), Config::default(), usize::MAX);
    assert_converged(&Set::new(), &set(0..200), &net);
    // We have everything: nothing to fetch, the peer learns when it syncs with us.
    let net = sync_once(set(0..200), Set::new(), Config::default(), usize::MAX);
    assert_converged(&set(0..200), &Set::new(), &net);
    assert!(net.fetches.is_empty());
}

#[test]
fn a_large_diff_takes_several_fetches_pipelined() {
    let theirs = set(0..2_500);
    let net = sync_once(Set::new(), theirs.clone(), Config::default(), usize::MAX);
    assert_converged(&Set::new(), &theirs, &net);
    assert!(net.fetches.len() >= 3, "{:?}", net.fetches);
    assert!(net.fetches.iter().all(|(_, n)| *n <= MAX_FETCH));
    assert!(net.most_in_flight <= FETCH_PIPELINE);
}

#[test]
fn short_pages_are_asked_again_for_the_rest() {
    let config = Config {
        max_fetch: 40,
        pipeline: 2,
        ..Config::default()
    };
    let theirs = set(0..500);
    let net = sync_once(set(0..10), theirs.clone(), config, 7);
    assert_converged(&set(0..10), &theirs, &net);
    assert!(net.fetches.iter().all(|(_, n)| *n <= 40));
    assert_eq!(net.most_in_flight, 2);
}

#[test]
fn epochs_are_synced_newest_first() {
    let mut net = Net::new(Set::new(), Config::default());
    let peer = Peer {
        keys: store(&[(0, set(0..5)), (3, set(10..15)), (1, set(20..25))]),
        page: usize::MAX,
    };
    net.start(1, vec![1, 0, 3]);
    let mut order = Vec::new();
    while let Some((_, _, sent)) = net.wire.front().cloned() {
        if let Sent::Reconcile(epoch, _) = sent
            && order.last() != Some(&epoch)
        {
            order.push(epoch);
        }
        net.deliver_with(|_, sent| peer.serve(sent));
    }
    assert_eq!(order, [3, 1, 0]);
    assert_eq!(net.me[&3], set(10..15));
    assert_eq!(net.me[&0], set(0..5));
    assert_eq!(net.done[0].1.fetched, 15);
}

#[test]
fn one_session_per_peer_and_none_without_epochs() {
    let mut net = Net::new(Set::new(), Config::default());
    assert!(net.start(1, vec![0]));
    assert!(!net.start(1, vec![0]));
    assert!(!net.start(2, vec![]));
    assert!(net.sessions.is_running(&1));
    net.sessions.abort(&1);
    assert!(!net.sessions.is_running(&1));
}

#[test]
fn two_peers_never_fetch_the_same_key_at_once() {
    let mut net = Net::new(set(0..50), Config::default());
    let peers = HashMap::from([(1, Peer::with(set(0..400))), (2, Peer::with(set(0..400)))]);
    net.start(1, vec![0]);
    net.start(2, vec![0]);
    // Answer only reconciliation rounds first: both sessions find the same keys missing.
    let mut held = VecDeque::new();
    while let Some(item) = net.wire.pop_front() {
        match item.2 {
            Sent::Reconcile(..) => {
                net.wire.push_front(item);
                net.deliver_with(|p, sent| peers[&p].serve(sent));
            }
            Sent::Fetch(..) => held.push_back(item),
        }
    }
    let asked: Vec<OrderKey> = held
        .iter()
        .flat_map(|(_, _, s)| match s {
            Sent::Fetch(_, keys) => keys.clone(),
            Sent::Reconcile(..) => Vec::new(),
        })
        .collect();
    let unique: Set = asked.iter().copied().collect();
    assert_eq!(asked.len(), unique.len(), "a key was asked of both peers");
    // Peer 1's fetches fail: its keys are free again, and a new session takes them.
    let mut fails = Vec::new();
    for (peer, request, sent) in held {
        if peer == 1 {
            fails.push(request);
        } else {
            net.wire.push_back((peer, request, sent));
        }
    }
    for r in fails {
        net.sessions.failed(r);
    }
    assert!(!net.sessions.is_running(&1));
    net.run(&peers);
    assert!(net.start(1, vec![0]));
    net.run(&peers);
    assert_eq!(net.all(), set(0..400));
    assert!(net.bad.is_empty());
}

#[test]
fn keys_stamped_too_far_ahead_are_held_back() {
    let mut theirs = set(0..20);
    let ahead = OrderKey {
        stamp: Stamp::new(NOW_MS + MAX_SKEW_MS + 1, 0),
        id: MsgId::from_bytes([9; 32]),
    };
    theirs.insert(ahead);
    let net = sync_once(Set::new(), theirs, Config::default(), usize::MAX);
    let stats = &net.done[0].1;
    assert_eq!((stats.found, stats.fetched, stats.held_back), (20, 20, 1));
    assert!(!net.all().contains(&ahead));
}

#[test]
fn a_history_since_join_skips_older_keys() {
    let mut net = Net::new(Set::new(), Config::default());
    // Joined at key 100's time plus the slack: keys below 100 are skipped.
    let since_ms = key(100).stamp.ms + SINCE_JOIN_SLACK_MS;
    net.history = Some(History {
        since_ms,
        bound: None,
    });
    let peers = HashMap::from([(1, Peer::with(set(0..150)))]);
    net.start(1, vec![0]);
    net.run(&peers);
    assert_eq!(net.all(), set(100..150));
    let stats = &net.done[0].1;
    assert_eq!(stats.skipped, Some(key(99)));
    assert_eq!(stats.lowest, Some(key(100)));
    // Once settled, the bound is where reconciliation starts.
    let bound = History {
        since_ms,
        bound: Some(key(100)),
    };
    assert!(bound.excludes(&key(99)) && !bound.excludes(&key(100)));
}

/// Runs until the first fetch is on the wire and returns it.
fn first_fetch(net: &mut Net, peer: &Peer) -> (u8, RequestId, Vec<OrderKey>) {
    loop {
        match net.wire.front().cloned() {
            Some((p, r, Sent::Fetch(_, keys))) => return (p, r, keys),
            Some(_) => {
                net.deliver_with(|_, sent| peer.serve(sent));
            }
            None => panic!("no fetch"),
        }
    }
}

fn hostile(answer: impl FnOnce(&[OrderKey]) -> Answer<Msg>) -> Net {
    let mut net = Net::new(Set::new(), Config::default());
    let peer = Peer::with(set(0..30));
    net.start(1, vec![0]);
    let (_, _, keys) = first_fetch(&mut net, &peer);
    net.deliver_with(|_, _| answer(&keys));
    net
}

fn refused_with(net: &Net, error: Error) {
    assert_eq!(net.bad, [(1, error)]);
    assert!(net.all().is_empty(), "nothing of a bad page is stored");
    assert!(!net.sessions.is_running(&1));
    assert!(net.done.is_empty());
}

#[test]
fn a_message_not_asked_for_is_refused() {
    let stranger = key(1_000);
    let net = hostile(|keys| Answer::Page {
        frames: 2,
        opened: Ok(vec![Msg(0, keys[0]), Msg(0, stranger)]),
    });
    refused_with(&net, Error::NotAsked { key: stranger });
}

#[test]
fn more_frames_than_keys_asked_is_refused() {
    let net = hostile(|keys| Answer::Page {
        frames: keys.len() + 1,
        opened: Ok(keys.iter().map(|k| Msg(0, *k)).collect()),
    });
    refused_with(
        &net,
        Error::Oversized {
            served: 31,
            asked: 30,
        },
    );
}

#[test]
fn a_frame_that_does_not_open_is_refused() {
    let net = hostile(|_| Answer::Page {
        frames: 1,
        opened: Err("bad signature".into()),
    });
    refused_with(
        &net,
        Error::Frame {
            reason: "bad signature".into(),
        },
    );
}

#[test]
fn an_answer_of_the_wrong_kind_is_refused() {
    let net = hostile(|_| Answer::Reconcile(Vec::new()));
    let error = Error::WrongAnswer {
        asked: "fetch",
        got: "reconcile",
    };
    refused_with(&net, error);
    // The keys asked are free again.
    let mut net = net;
    net.bad.clear();
    assert!(net.start(2, vec![0]));
    net.run(&HashMap::from([(2, Peer::with(set(0..30)))]));
    assert_eq!(net.all(), set(0..30));
}

#[test]
fn a_malformed_reconciliation_message_is_refused() {
    let mut net = Net::new(Set::new(), Config::default());
    net.start(1, vec![0]);
    net.deliver_with(|_, _| Answer::Reconcile(vec![0xff, 1, 2]));
    assert!(matches!(net.bad[..], [(1, Error::Reconcile(_))]));
    assert!(format!("{}", net.bad[0].1).starts_with("reconciliation: "));
}

#[test]
fn a_refusal_ends_the_session_quietly() {
    let mut net = Net::new(Set::new(), Config::default());
    net.start(1, vec![0]);
    net.deliver_with(|_, _| Answer::Refused(Refusal::RateLimited));
    assert!(net.bad.is_empty() && net.done.is_empty());
    assert!(!net.sessions.is_running(&1));
    assert!(net.timers.is_empty());
}

#[test]
fn unknown_in_the_first_minute_schedules_retries_as_timers() {
    let mut net = Net::new(Set::new(), Config::default());
    net.joined_ms = NOW_MS - 1_000;
    net.start(1, vec![0]);
    net.deliver_with(|_, _| Answer::Unknown);
    // The only epoch is not served: the session ends, a retry is due in 2 s.
    assert_eq!(net.done.len(), 1);
    let t0 = net.now;
    assert_eq!(net.timers, [t0 + JOIN_SYNC_RETRY]);
    assert_eq!(net.sessions.next_deadline(), Some(t0 + JOIN_SYNC_RETRY));
    net.tick(t0 + Duration::from_secs(1));
    assert!(net.retries.is_empty());
    net.tick(t0 + JOIN_SYNC_RETRY);
    assert_eq!(net.retries, [1]);
    // Each further `Unknown` waits longer; after the window the entry is dropped.
    net.start(1, vec![0]);
    net.deliver_with(|_, _| Answer::Unknown);
    assert_eq!(net.timers[1], t0 + 2 * JOIN_SYNC_RETRY);
    net.joined_ms = NOW_MS - JOIN_SYNC_RETRY_WINDOW_MS - 1;
    net.tick(t0 + Duration::from_secs(10));
    assert_eq!(net.retries, [1]);
    assert_eq!(net.sessions.next_deadline(), None);
}

#[test]
fn unknown_after_the_first_minute_sets_no_timer() {
    let mut net = Net::new(Set::new(), Config::default());
    net.start(1, vec![0]);
    net.deliver_with(|_, _| Answer::Unknown);
    assert!(net.timers.is_empty());
    assert_eq!(net.sessions.next_deadline(), None);
}

#[test]
fn a_failed_request_frees_its_keys_and_ends_the_session() {
    let mut net = Net::new(Set::new(), Config::default());
    let peer = Peer::with(set(0..30));
    net.start(1, vec![0]);
    let (_, request, _) = first_fetch(&mut net, &peer);
    net.wire.pop_front();
    net.sessions.failed(request);
    assert!(!net.sessions.is_running(&1));
    assert!(net.sessions.is_idle());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sessions_converge(
        mine in proptest::collection::btree_set(0u32..3_000, 0..400),
        theirs in proptest::collection::btree_set(0u32..3_000, 0..400),
        max_fetch in 1usize..60,
        pipeline in 1usize..4,
        page in 1usize..80,
    ) {
        let (mine, theirs) = (set(mine), set(theirs));
        let config = Config { max_fetch, pipeline, ..Config::default() };
        let net = sync_once(mine.clone(), theirs.clone(), config, page);
        assert_converged(&mine, &theirs, &net);
        prop_assert!(net.most_in_flight <= pipeline);
    }
}
