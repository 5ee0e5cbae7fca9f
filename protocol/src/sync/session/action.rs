//! What crosses the edge of a [`super::Sessions`]: answers in; actions, stats and errors
//! out.

use std::time::{Duration, Instant};

use crate::order::OrderKey;
use crate::reconcile;
use crate::sync::wire::Refusal;

/// Names one request of a [`super::Sessions`] (unique within it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(super) u64);

/// What a peer answered to a request (its frames already opened by the caller).
#[derive(Debug)]
pub enum Answer<M> {
    /// An encoded reconciliation message.
    Reconcile(Vec<u8>),
    /// A page of frames.
    Page {
        /// How many frames the page held.
        frames: usize,
        /// The messages that opened (frames sealed with a key we lack are left out), or
        /// why one frame did not.
        opened: Result<Vec<M>, String>,
    },
    /// The peer would not answer now.
    Refused(Refusal),
    /// The peer does not hold the group or epoch, or does not take us.
    Unknown,
}

/// What the caller is to do.
#[derive(Debug)]
pub enum Action<P, M> {
    /// Send a reconciliation round (with a proof for the epoch) and report its answer.
    SendReconcile {
        /// To whom.
        peer: P,
        /// Names the request in [`super::Sessions::answer`] and [`super::Sessions::failed`].
        request: RequestId,
        /// The epoch reconciled.
        epoch: u64,
        /// The encoded reconciliation message.
        message: Vec<u8>,
    },
    /// Ask for these keys (with a proof for the epoch) and report the page.
    SendFetch {
        /// To whom.
        peer: P,
        /// Names the request.
        request: RequestId,
        /// The epoch.
        epoch: u64,
        /// The keys, at most [`super::Config::max_fetch`].
        keys: Vec<OrderKey>,
    },
    /// Store a checked page, then report how many messages were new with
    /// [`super::Sessions::stored`].
    Store {
        /// Who served it.
        peer: P,
        /// The fetch it answers.
        request: RequestId,
        /// The messages, each one asked for.
        messages: Vec<M>,
    },
    /// The peer served something invalid: nothing of it is to be stored; its session here
    /// has ended.
    Misbehaved {
        /// Who.
        peer: P,
        /// What it did.
        error: Error,
    },
    /// A session has finished.
    Done {
        /// With whom.
        peer: P,
        /// What it did.
        stats: Stats,
    },
    /// Start a sync with this peer again (a retry after an `Unknown` answer came due).
    Retry {
        /// With whom.
        peer: P,
    },
    /// Call [`super::Sessions::tick`] at `at` (a retry is due then).
    SetTimer {
        /// When.
        at: Instant,
    },
}

/// What a finished session did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Reconciliation round trips.
    pub rounds: u32,
    /// Keys found missing.
    pub found: usize,
    /// Messages stored (new ones, as reported by [`super::Sessions::stored`]).
    pub fetched: usize,
    /// Keys not fetched because they are stamped too far ahead of our clock.
    pub held_back: usize,
    /// The lowest key of a page this session stored (where a history since join starts).
    pub lowest: Option<OrderKey>,
    /// The highest key skipped as older than a history since join.
    pub skipped: Option<OrderKey>,
    /// From start to end.
    pub elapsed: Duration,
}

/// Why a peer's answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The reconciliation message did not decode or did not fit ours.
    #[error("reconciliation: {0}")]
    Reconcile(#[from] reconcile::Error),
    /// An answer of another kind than the request.
    #[error("a {got} answer to a {asked} request")]
    WrongAnswer {
        /// The request's kind.
        asked: &'static str,
        /// The answer's kind.
        got: &'static str,
    },
    /// More frames than keys asked.
    #[error("{served} frames served for {asked} keys asked")]
    Oversized {
        /// Frames in the page.
        served: usize,
        /// Keys asked.
        asked: usize,
    },
    /// A frame that does not open (bad seal, signature, or body).
    #[error("{reason}")]
    Frame {
        /// Why it did not open.
        reason: String,
    },
    /// A message whose key was not asked for.
    #[error("served a message that was not asked for (stamp {})", .key.stamp)]
    NotAsked {
        /// Its key.
        key: OrderKey,
    },
}
