//! Range-based set reconciliation of a group's order keys, sans-IO.
//!
//! Two members each hold the set of [`OrderKey`]s of one group's messages. Reconciliation
//! tells the member that starts it (the initiator) which keys it has that the peer lacks
//! (`have`) and which the peer has that it lacks (`need`), in bytes and round trips that
//! grow with the size of the difference d, not with the size of the sets n. It follows
//! range-based set reconciliation as in Aljoscha Meyer's paper and the Negentropy protocol.
//!
//! # The algorithm
//!
//! Keys are totally ordered, so two members can name the same range `[lower, upper)` of the
//! key space without sharing anything else. A [`Message`] splits the key space into
//! consecutive ranges and says one thing about each ([`Mode`]):
//!
//! * `Skip`: settled, nothing to do.
//! * `Fingerprint`: a 16-byte digest of the sender's keys in the range (see
//!   [`fingerprint`]; additive, so a range is digested in one pass and its parts for free).
//! * `IdList`: every key the sender has in the range.
//! * `Diff`: the answer to an `IdList`: one flag per listed key the sender lacks, and the
//!   sender's keys the list lacks.
//!
//! The receiver of a message answers each range:
//!
//! * `Fingerprint`: if the digest of its own keys there is the same, the range is settled.
//!   Otherwise it *describes* its keys there: if it holds at most
//!   [`Config::id_list_threshold`] of them it lists them all, else it splits the range into
//!   [`Config::branching`] parts holding about equally many of its keys and sends each
//!   part's fingerprint.
//! * `IdList`: the initiator now knows both sides of the range and settles it, adding to
//!   `have` and `need`. The responder answers with a `Diff`, which the initiator settles
//!   the same way against the list it sent.
//!
//! The initiator starts by describing `[lower_bound, ∞)`. Each message descends one level,
//! dividing the keys per mismatched range by the branching factor b, until a range is
//! small enough to list. One difference among n keys is therefore found after about
//! `log_b(n / threshold) + 2` messages: with n = 100,000, b = 16 and a threshold of 32,
//! the ranges hold 6,250, 391 and 24 keys, and the fourth message lists the 24, two round
//! trips in all. Agreeing ranges are settled at the first fingerprint and cost a skip of a
//! few bytes; bounds on the wire are the shortest keys that separate two neighbours.
//!
//! # Size limit
//!
//! No message may exceed [`Config::max_message_bytes`]. Answers (splits and lists) may use
//! all but an eighth of it; a mismatched range whose answer does not fit is *deferred*:
//! handed back with our fingerprint, at its size, for the peer to answer next round (lists
//! that do not fit are cut at a key boundary and the rest deferred). When not even a
//! deferral fits, the message is closed with one fingerprint over everything from that
//! point to Infinity, as Negentropy does, and the next round picks it up there (ranges
//! beyond that point that were settled already are checked again, which is why `have` and
//! `need` are sets). The builder always keeps room for the closing range and the first
//! range always gets an answer, so every round settles or splits at least one range. With
//! many differences the lists are what limits progress: a 64 KiB message lists about
//! 1,600 keys, and deferral lets both directions carry lists.
//!
//! # Roles and lower bound
//!
//! The responder ([`respond`]) is stateless: each message carries everything needed to
//! answer it, so it can serve a request-response protocol with no per-peer state. The
//! [`Initiator`] remembers the lists it sent (to read the `Diff`s that answer them) and
//! accumulates `have` and `need`. A member whose history starts at some key (one who
//! joined with history since join) passes it as the lower bound: the first message skips
//! everything below it, so keys below it are never compared nor reported, and a reply that
//! reaches below it is refused.
//!
//! # Trust
//!
//! Nothing here is authenticated: a dishonest peer can hide keys or name keys that do not
//! exist. Keys in `need` are fetched and verified as messages like any other. A member that
//! grinds message ids could craft two different sets with equal sums, which only hides its
//! own messages from this sync between two peers; gossip still carries them.

mod engine;
pub mod fingerprint;
pub mod set;
pub mod wire;

use std::collections::BTreeSet;

pub use fingerprint::{Accumulator, Fingerprint};
pub use set::{Bound, ItemSet, MIN_KEY, Span};
pub use wire::{Message, Mode, Range};

use crate::order::OrderKey;
use engine::Reply;

/// Largest encoded message (64 KiB), sent or accepted.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Smallest [`Config::max_message_bytes`]: room for the largest single range a round must
/// be able to send, plus the closing range.
pub const MIN_MESSAGE_BYTES: usize = 1024;
/// Most ranges in one message. Each range but a skip costs at least 17 bytes and no two
/// skips are adjacent, so a full 64 KiB message of fingerprints has under 6,000.
pub const MAX_RANGES: usize = 8192;
/// Default number of parts a mismatched range is split into.
pub const BRANCHING: usize = 16;
/// Largest [`Config::branching`].
pub const MAX_BRANCHING: usize = 64;
/// Default [`Config::id_list_threshold`].
pub const ID_LIST_THRESHOLD: usize = 2 * BRANCHING;
/// Largest [`Config::id_list_threshold`].
pub const MAX_ID_LIST_THRESHOLD: usize = 1024;
/// Default [`Config::max_rounds`]: at 64 KiB per message, enough to move over a million
/// keys one way.
pub const MAX_ROUNDS: u32 = 1024;

/// Why reconciliation failed or a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input was empty.
    #[error("empty input")]
    Empty,
    /// The message is longer than the limit.
    #[error("{len} bytes is over the limit of {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Unknown version byte.
    #[error("unknown version {0}")]
    Version(u8),
    /// The input ends inside a field.
    #[error("input ends inside a field at byte {offset}")]
    Truncated {
        /// Where the field starts.
        offset: usize,
    },
    /// A varint is overlong or over 64 bits.
    #[error("bad varint at byte {offset}")]
    Varint {
        /// Where it starts.
        offset: usize,
    },
    /// A range header has unknown bits set.
    #[error("bad range header {head:#04x} at byte {offset}")]
    Head {
        /// The header byte.
        head: u8,
        /// Where it is.
        offset: usize,
    },
    /// A bound's id prefix is over 32 bytes or ends in a zero byte.
    #[error("bad id prefix of {len} bytes at byte {offset}")]
    Prefix {
        /// Its claimed length.
        len: usize,
        /// Where the length is.
        offset: usize,
    },
    /// A delta takes a stamp's ms or counter past `u64::MAX`.
    #[error("value overflows at byte {offset}")]
    Overflow {
        /// Where the delta starts.
        offset: usize,
    },
    /// A list or bitmap claims more items than the input can hold.
    #[error("count {count} at byte {offset} is more than the input holds")]
    Length {
        /// The claimed count.
        count: u64,
        /// Where it is.
        offset: usize,
    },
    /// The unused bits of a bitmap are not zero.
    #[error("non-zero bitmap padding at byte {offset}")]
    Padding {
        /// Where the bitmap starts.
        offset: usize,
    },
    /// More than [`MAX_RANGES`] ranges.
    #[error("more than {max} ranges")]
    TooManyRanges {
        /// The limit.
        max: usize,
    },
    /// A range comes after one that reached Infinity.
    #[error("range {index} follows the end of the key space")]
    AfterInfinity {
        /// Its index.
        index: usize,
    },
    /// A range's upper bound is not above its lower bound.
    #[error("range {index} does not end above where it starts")]
    Unordered {
        /// Its index.
        index: usize,
    },
    /// Two skips in a row (they would be one).
    #[error("ranges {} and {index} are both skips", index - 1)]
    AdjacentSkips {
        /// Index of the second.
        index: usize,
    },
    /// The last range is a skip (it would be left out).
    #[error("the last range is a skip")]
    TrailingSkip,
    /// A key list is not ascending or has a key outside its range.
    #[error("range {index}: keys not ascending or outside the range")]
    BadList {
        /// The range's index.
        index: usize,
    },
    /// A mode the receiver cannot answer here: a diff sent to the responder, or a diff
    /// that answers no list the initiator sent.
    #[error("range {index}: unexpected {mode}")]
    UnexpectedMode {
        /// The range's index.
        index: usize,
        /// The mode's name.
        mode: &'static str,
    },
    /// A diff has a different number of flags than the list it answers has keys there.
    #[error("range {index}: {got} flags for {expected} listed keys")]
    DiffLength {
        /// The range's index.
        index: usize,
        /// Keys listed in that range.
        expected: usize,
        /// Flags received.
        got: usize,
    },
    /// A reply says something about keys below the initiator's lower bound.
    #[error("range {index} reaches below the lower bound")]
    BelowLowerBound {
        /// The range's index.
        index: usize,
    },
    /// The initiator processed [`Config::max_rounds`] replies without finishing.
    #[error("not finished after {max} rounds")]
    TooManyRounds {
        /// The limit.
        max: u32,
    },
    /// A [`Config`] field is out of range.
    #[error("invalid config: {0}")]
    Config(&'static str),
}

/// How one side reconciles. The two sides need not use the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Parts a mismatched range is split into (2..=[`MAX_BRANCHING`]).
    pub branching: usize,
    /// A mismatched range holding at most this many of our keys is answered with the keys
    /// themselves ([`Config::branching`]..=[`MAX_ID_LIST_THRESHOLD`]).
    pub id_list_threshold: usize,
    /// Largest message this side sends ([`MIN_MESSAGE_BYTES`]..=[`MAX_MESSAGE_BYTES`]).
    pub max_message_bytes: usize,
    /// Most replies an initiator processes before giving up (at least 1).
    pub max_rounds: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            branching: BRANCHING,
            id_list_threshold: ID_LIST_THRESHOLD,
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_rounds: MAX_ROUNDS,
        }
    }
}

impl Config {
    /// Checks every field is in range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(2..=MAX_BRANCHING).contains(&self.branching) {
            return Err(Error::Config("branching out of range"));
        }
        if !(self.branching..=MAX_ID_LIST_THRESHOLD).contains(&self.id_list_threshold) {
            return Err(Error::Config("id_list_threshold out of range"));
        }
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(Error::Config("max_message_bytes out of range"));
        }
        if self.max_rounds == 0 {
            return Err(Error::Config("max_rounds is zero"));
        }
        Ok(())
    }
}

/// Answers one message from an initiator. Stateless: the same set and message always give
/// the same reply.
pub fn respond<S: ItemSet + ?Sized>(
    set: &S,
    message: &Message,
    config: &Config,
) -> Result<Message, Error> {
    config.validate()?;
    let mut reply = Reply::new(set, config);
    for (index, (span, mode)) in message.spans().enumerate() {
        if reply.is_closed() {
            break;
        }
        match mode {
            Mode::Skip => {}
            Mode::Fingerprint(fp) => reply.fingerprint(span, fp),
            Mode::IdList(keys) => reply.diff(span, keys),
            Mode::Diff { .. } => {
                return Err(Error::UnexpectedMode {
                    index,
                    mode: "diff",
                });
            }
        }
    }
    Ok(reply.finish())
}

/// The side that starts a reconciliation and learns its outcome.
#[derive(Debug, Clone)]
pub struct Initiator {
    config: Config,
    lower: OrderKey,
    /// The lists in the last message sent, by span, to read the diffs that answer them.
    sent: Vec<(Span, Vec<OrderKey>)>,
    have: BTreeSet<OrderKey>,
    need: BTreeSet<OrderKey>,
    /// Keys added to `need` since the last [`Initiator::take_new_need`].
    fresh: Vec<OrderKey>,
    rounds: u32,
}

impl Initiator {
    /// Starts reconciling the keys of `set` from `lower_bound` on (all keys if `None`);
    /// returns the state and the first message to send.
    pub fn new<S: ItemSet + ?Sized>(
        set: &S,
        lower_bound: Option<OrderKey>,
        config: Config,
    ) -> Result<(Self, Message), Error> {
        config.validate()?;
        let lower = lower_bound.unwrap_or(MIN_KEY);
        let mut reply = Reply::new(set, &config);
        reply.describe(Span::starting_at(lower));
        let message = reply.finish();
        let initiator = Self {
            sent: lists(&message),
            config,
            lower,
            have: BTreeSet::new(),
            need: BTreeSet::new(),
            fresh: Vec::new(),
            rounds: 0,
        };
        Ok((initiator, message))
    }

    /// Processes the responder's reply to the last message: returns the next message to
    /// send, or `None` once every range is settled.
    pub fn reconcile<S: ItemSet + ?Sized>(
        &mut self,
        set: &S,
        reply: &Message,
    ) -> Result<Option<Message>, Error> {
        self.rounds += 1;
        if self.rounds > self.config.max_rounds {
            return Err(Error::TooManyRounds {
                max: self.config.max_rounds,
            });
        }
        let sent = std::mem::take(&mut self.sent);
        let mut out = Reply::new(set, &self.config);
        for (index, (span, mode)) in reply.spans().enumerate() {
            if out.is_closed() {
                break;
            }
            if span.lower < self.lower && *mode != Mode::Skip {
                return Err(Error::BelowLowerBound { index });
            }
            match mode {
                Mode::Skip => {}
                Mode::Fingerprint(fp) => out.fingerprint(span, fp),
                Mode::IdList(theirs) => self.settle_list(set, span, theirs),
                Mode::Diff { lacking, extra } => {
                    self.settle_diff(&sent, index, span, lacking, extra)?;
                }
            }
        }
        let message = out.finish();
        self.sent = lists(&message);
        Ok((!message.is_empty()).then_some(message))
    }

    /// Keys we have that the peer lacks, found so far.
    pub fn have(&self) -> &BTreeSet<OrderKey> {
        &self.have
    }

    /// Keys the peer has that we lack, found so far.
    pub fn need(&self) -> &BTreeSet<OrderKey> {
        &self.need
    }

    /// The keys found needed since the last call (each key once), so a caller can fetch
    /// while reconciliation goes on without rescanning [`Initiator::need`].
    pub fn take_new_need(&mut self) -> Vec<OrderKey> {
        std::mem::take(&mut self.fresh)
    }

    fn add_need(&mut self, key: OrderKey) {
        if self.need.insert(key) {
            self.fresh.push(key);
        }
    }

    /// Replies processed so far: the round trips, once finished.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The lower bound of the reconciled key space.
    pub fn lower_bound(&self) -> &OrderKey {
        &self.lower
    }

    /// The peer listed all its keys in `span`.
    fn settle_list<S: ItemSet + ?Sized>(&mut self, set: &S, span: Span, theirs: &[OrderKey]) {
        let mut theirs = theirs.iter().peekable();
        for key in set.keys(span) {
            while let Some(t) = theirs.next_if(|t| *t < key) {
                self.add_need(*t);
            }
            if theirs.next_if_eq(&key).is_none() {
                self.have.insert(*key);
            }
        }
        for t in theirs {
            self.add_need(*t);
        }
    }

    /// The peer answered a list we sent for a span starting where `span` does.
    fn settle_diff(
        &mut self,
        sent: &[(Span, Vec<OrderKey>)],
        index: usize,
        span: Span,
        lacking: &[bool],
        extra: &[OrderKey],
    ) -> Result<(), Error> {
        let listed = sent
            .binary_search_by(|(s, _)| s.lower.cmp(&span.lower))
            .ok()
            .map(|i| &sent[i])
            .filter(|(s, _)| span.upper <= s.upper)
            .ok_or(Error::UnexpectedMode {
                index,
                mode: "diff",
            })?;
        let keys = &listed.1[..listed.1.partition_point(|k| span.contains(k))];
        if keys.len() != lacking.len() {
            return Err(Error::DiffLength {
                index,
                expected: keys.len(),
                got: lacking.len(),
            });
        }
        let lacked = keys.iter().zip(lacking).filter(|(_, l)| **l);
        self.have.extend(lacked.map(|(k, _)| *k));
        for k in extra.iter().filter(|k| keys.binary_search(k).is_err()) {
            self.add_need(*k);
        }
        Ok(())
    }
}

/// The key lists of a message, by span.
fn lists(message: &Message) -> Vec<(Span, Vec<OrderKey>)> {
    message
        .spans()
        .filter_map(|(span, mode)| match mode {
            Mode::IdList(keys) => Some((span, keys.clone())),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
