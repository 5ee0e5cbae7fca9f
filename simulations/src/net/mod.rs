//! The simulated network: a libp2p transport whose connections are in-memory pipes that
//! apply each link's latency, jitter, loss and bandwidth.
//!
//! ## How the network conditions are applied
//! The conditions live *below* libp2p, in the transport: every byte noise, yamux,
//! gossipsub, kademlia and the sync protocol write goes through a [`pipe`] that delays it,
//! so libp2p sees a slow, lossy link exactly as it would see one over TCP, including
//! head-of-line blocking and its own timeouts.
//! * **Latency and jitter**: each write is a segment due `latency ± jitter` (uniform) after
//!   the link is free; segments never overtake each other (TCP order).
//! * **Bandwidth**: a segment occupies the link for `size / bandwidth`; later segments queue
//!   behind it. At most [`pipe::WINDOW`] bytes are in flight per direction.
//! * **Loss**: a reliable stream does not lose bytes, it retransmits them: a lost segment
//!   arrives `200 ms + 2 × latency` later (a retransmission timeout), delaying everything
//!   behind it.
//! * **Partitions**: while the nodes are split into sides, dials across sides are refused
//!   and the pipes already open across sides are broken (both ends get
//!   `ConnectionReset`, so libp2p sees the connections fail at once rather than after a
//!   keep-alive timeout). Healing lets dials through again; nodes find each other again by
//!   re-dialling their bootstrap peers.
//! * **Churn**: a stopped node drops its transport, which closes its listener and pipes;
//!   its peers see the connections end.
//!
//! Addresses are `/memory/<port>`; each [`Network`] has its own port table, so several
//! simulations (e.g. tests) can run in one process.

pub mod pipe;
pub mod transport;

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

pub use transport::{SimConn, SimTransport};

/// The conditions of one link (both directions alike).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Link {
    /// One-way delay.
    pub latency: Duration,
    /// Uniform jitter added to the delay, in `[-jitter, +jitter]`.
    pub jitter: Duration,
    /// Probability that a segment needs a retransmission.
    pub loss: f64,
    /// Link rate in bytes per second (`None`: unlimited).
    pub bandwidth_bytes_per_s: Option<u64>,
}

/// A connection handed to a listener.
pub(crate) struct Incoming {
    pub conn: SimConn,
    pub from_port: u64,
}

struct Listener {
    node: usize,
    token: u64,
    tx: mpsc::UnboundedSender<Incoming>,
}

struct OpenPipe {
    a: usize,
    b: usize,
    shared: Weak<pipe::Shared>,
}

#[derive(Default)]
struct State {
    listeners: HashMap<u64, Listener>,
    /// Listen port of each node that listens.
    ports: HashMap<usize, u64>,
    next_port: u64,
    next_token: u64,
    /// The side of each node while partitioned.
    sides: Option<Vec<u32>>,
    pipes: Vec<OpenPipe>,
    connections: u64,
}

struct Inner {
    state: Mutex<State>,
    link: Link,
    seed: u64,
    bytes: Arc<AtomicU64>,
}

/// A simulated network shared by the transports of many nodes. Cheap to clone.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

impl Network {
    /// A network whose every link has the conditions `link`; `seed` drives jitter and loss.
    pub fn new(link: Link, seed: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    next_port: 1 << 32,
                    ..State::default()
                }),
                link,
                seed,
                bytes: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A transport for node `node` (an index the caller chooses, used for partitions).
    pub fn transport(&self, node: usize) -> SimTransport {
        SimTransport::new(self.clone(), node)
    }

    /// Every byte written on any link so far.
    pub fn bytes(&self) -> u64 {
        self.inner.bytes.load(Ordering::Relaxed)
    }

    /// Connections opened so far.
    pub fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// Splits the network: `sides[i]` is node i's side. Links across sides fail.
    pub fn partition(&self, sides: Vec<u32>) {
        let mut st = self.lock();
        let side = |n: usize| sides.get(n).copied().unwrap_or(0);
        st.pipes.retain(|p| {
            let Some(shared) = p.shared.upgrade() else {
                return false;
            };
            if side(p.a) != side(p.b) {
                shared.break_pipe();
                return false;
            }
            true
        });
        st.sides = Some(sides);
    }

    /// Ends a partition.
    pub fn heal(&self) {
        self.lock().sides = None;
    }

    fn link_up(st: &State, a: usize, b: usize) -> bool {
        match &st.sides {
            None => true,
            Some(s) => s.get(a).copied().unwrap_or(0) == s.get(b).copied().unwrap_or(0),
        }
    }

    /// Registers a listener of `node` on `port` (0: any free port). Returns the port, a
    /// token for [`Network::unlisten`] and the queue of incoming connections.
    pub(crate) fn listen(
        &self,
        node: usize,
        port: u64,
    ) -> io::Result<(u64, u64, mpsc::UnboundedReceiver<Incoming>)> {
        let mut st = self.lock();
        let port = if port == 0 {
            st.next_port += 1;
            st.next_port
        } else {
            port
        };
        if st.listeners.contains_key(&port) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("/memory/{port} is taken"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        st.next_token += 1;
        let token = st.next_token;
        st.listeners.insert(port, Listener { node, token, tx });
        st.ports.insert(node, port);
        Ok((port, token, rx))
    }

    /// Removes a listener, unless the port was taken over by a newer one (a restarted node
    /// may listen again before its old transport is dropped).
    pub(crate) fn unlisten(&self, port: u64, token: u64) {
        let mut st = self.lock();
        if st.listeners.get(&port).is_none_or(|l| l.token != token) {
            return;
        }
        if let Some(l) = st.listeners.remove(&port)
            && st.ports.get(&l.node) == Some(&port)
        {
            st.ports.remove(&l.node);
        }
    }

    /// Whether a node listens on `port` now.
    pub fn is_listening(&self, port: u64) -> bool {
        self.lock().listeners.contains_key(&port)
    }

    /// Opens a connection from `node` to whoever listens on `port`.
    pub(crate) fn connect(&self, node: usize, port: u64) -> io::Result<SimConn> {
        let mut st = self.lock();
        let Some(remote) = st.listeners.get(&port).map(|l| l.node) else {
            return Err(io::ErrorKind::ConnectionRefused.into());
        };
        if !Self::link_up(&st, node, remote) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        st.connections += 1;
        let seed = self.inner.seed ^ st.connections.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let bytes = self.inner.bytes.clone();
        let (w_ab, r_ab) = pipe::pipe(self.inner.link, seed, bytes.clone());
        let (w_ba, r_ba) = pipe::pipe(self.inner.link, seed ^ 1, bytes);
        for (w, a, b) in [(&w_ab, node, remote), (&w_ba, remote, node)] {
            st.pipes.push(OpenPipe {
                a,
                b,
                shared: Arc::downgrade(w.shared()),
            });
        }
        let from_port = st.ports.get(&node).copied().unwrap_or(0);
        // The listener reads what the dialer writes (a→b) and writes b→a.
        let listener_conn = SimConn::new(r_ab, w_ba);
        let sent = st.listeners.get(&port).map(|l| {
            l.tx.send(Incoming {
                conn: listener_conn,
                from_port,
            })
        });
        if !matches!(sent, Some(Ok(()))) {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        Ok(SimConn::new(r_ba, w_ab))
    }
}

/// Latency of a connection set-up (the TCP handshake's round trip).
pub(crate) fn handshake_delay(link: &Link) -> Duration {
    2 * link.latency
}

impl Network {
    pub(crate) fn link(&self) -> Link {
        self.inner.link
    }
}
