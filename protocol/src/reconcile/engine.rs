//! Building one message within the size limit: the half of the algorithm both roles share.
//!
//! [`Reply`] walks the ranges of an incoming message in order and says what this side knows
//! about each one that is not settled, appending to a [`Builder`]. An answer that does not
//! fit in the answer share of the budget is deferred (the range goes back with our
//! fingerprint); when not even that fits, the message is closed with one fingerprint from
//! that point to Infinity, so the next round carries on where this one stopped. The
//! builder keeps room for that closing range at all times, and the first range of a
//! message always gets at least a partial answer (the smallest budget allowed leaves room
//! for it), so every round settles or splits at least one range.

use super::fingerprint::{Accumulator, Fingerprint};
use super::set::{Bound, ItemSet, Span, separator};
use super::wire::{self, MAX_BOUND_LEN, MAX_VARINT_LEN, Message, Mode, Range};
use super::{Config, MAX_RANGES};
use crate::order::OrderKey;

/// Bytes always kept free for the closing ranges: a skip up to the stopping point, then a
/// fingerprint to Infinity (which has no bound bytes).
const RESERVE_BYTES: usize = (1 + MAX_BOUND_LEN) + (1 + Fingerprint::LEN);
/// Ranges always kept free for the same.
const RESERVE_RANGES: usize = 2;
/// Upper bound of a list range's bytes besides its keys: head, bound, and two counts.
const LIST_OVERHEAD: usize = 1 + MAX_BOUND_LEN + 2 * MAX_VARINT_LEN;

/// Part of the budget (1 / this) that answers leave for deferrals, so that a message
/// full of lists still hands the mismatched ranges it could not answer back at their
/// size instead of dropping them for the closing range.
const DEFER_SHARE: usize = 8;

/// What a range is for, which decides how much of the budget it may use.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// Splitting or listing a range.
    Answer,
    /// Handing a range back unanswered, or answering a list.
    Defer,
}

/// An outgoing message under construction. Gaps between the ranges pushed become skips.
struct Builder {
    ranges: Vec<Range>,
    /// Lower end of the next range; `None` once a range reached Infinity.
    cursor: Option<OrderKey>,
    /// Encoded length so far.
    len: usize,
    budget: usize,
    scratch: Vec<u8>,
}

impl Builder {
    fn new(budget: usize) -> Self {
        Self {
            ranges: Vec::new(),
            cursor: Some(super::set::MIN_KEY),
            len: 1,
            budget,
            scratch: Vec::new(),
        }
    }

    /// Bytes of the skip needed to reach `lower`.
    fn gap_len(&mut self, lower: &OrderKey) -> usize {
        match self.cursor {
            Some(cursor) if *lower > cursor => {
                self.scratch.clear();
                wire::put_range(
                    &mut self.scratch,
                    &Span::new(cursor, Bound::Key(*lower)),
                    &Mode::Skip,
                );
                self.scratch.len()
            }
            _ => 0,
        }
    }

    /// Bytes left for one range starting at `lower`, keeping the closing reserve and,
    /// for an answer, the share kept for deferrals.
    fn room(&mut self, lower: &OrderKey, use_: Use) -> usize {
        if self.cursor.is_none() || self.ranges.len() + 2 + RESERVE_RANGES > MAX_RANGES {
            return 0;
        }
        let gap = self.gap_len(lower);
        let reserve = match use_ {
            Use::Answer => RESERVE_BYTES + self.budget / DEFER_SHARE,
            Use::Defer => RESERVE_BYTES,
        };
        self.budget.saturating_sub(self.len + gap + reserve)
    }

    /// Appends a range over `span` if it fits, else hands `mode` back.
    fn push(&mut self, span: Span, mode: Mode, use_: Use) -> Result<(), Mode> {
        let room = self.room(&span.lower, use_);
        self.scratch.clear();
        wire::put_range(&mut self.scratch, &span, &mode);
        if self.scratch.len() > room {
            return Err(mode);
        }
        self.append(span, mode);
        Ok(())
    }

    /// Appends a range over `span` whether it fits or not (the reserve is for this).
    fn append(&mut self, span: Span, mode: Mode) {
        let Some(cursor) = self.cursor else {
            return;
        };
        debug_assert!(span.lower >= cursor && !span.is_empty());
        if span.lower > cursor {
            self.len += self.gap_len(&span.lower);
            self.ranges.push(Range {
                upper: Bound::Key(span.lower),
                mode: Mode::Skip,
            });
        }
        self.scratch.clear();
        wire::put_range(&mut self.scratch, &span, &mode);
        self.len += self.scratch.len();
        self.ranges.push(Range {
            upper: span.upper,
            mode,
        });
        self.cursor = match span.upper {
            Bound::Key(key) => Some(key),
            Bound::Infinity => None,
        };
    }
}

/// One side's answer to an incoming message, built range by range.
pub(super) struct Reply<'a, S: ?Sized> {
    set: &'a S,
    config: Config,
    out: Builder,
}

impl<'a, S: ItemSet + ?Sized> Reply<'a, S> {
    pub(super) fn new(set: &'a S, config: &Config) -> Self {
        Self {
            set,
            config: config.clone(),
            out: Builder::new(config.max_message_bytes),
        }
    }

    /// Whether the message was closed early; later ranges must not be answered.
    pub(super) fn is_closed(&self) -> bool {
        self.out.cursor.is_none()
    }

    /// The finished message.
    pub(super) fn finish(self) -> Message {
        Message::from_valid(self.out.ranges)
    }

    /// The peer sent the fingerprint of its keys in `span`: settled if ours is the same,
    /// else say what we hold there.
    pub(super) fn fingerprint(&mut self, span: Span, theirs: &Fingerprint) {
        if self.set.count(span) <= self.config.id_list_threshold {
            let own: Vec<OrderKey> = self.set.keys(span).copied().collect();
            if Fingerprint::of(&own) != *theirs {
                self.list(span, own);
            }
            return;
        }
        let parts = self.set.split_span(span, self.config.branching);
        let mut total = Accumulator::default();
        parts.iter().for_each(|(_, acc)| total.merge(acc));
        if total.fingerprint() != *theirs {
            self.fingerprints(span, &parts);
        }
    }

    /// Says what we hold in `span`: our keys if few, else fingerprints of its parts.
    pub(super) fn describe(&mut self, span: Span) {
        if self.set.count(span) <= self.config.id_list_threshold {
            let own = self.set.keys(span).copied().collect();
            self.list(span, own);
        } else {
            let parts = self.set.split_span(span, self.config.branching);
            self.fingerprints(span, &parts);
        }
    }

    /// Sends the fingerprints of the parts of `span`; defers those that do not fit.
    fn fingerprints(&mut self, span: Span, parts: &[(Span, Accumulator)]) {
        for (i, (part, acc)) in parts.iter().enumerate() {
            let mode = Mode::Fingerprint(acc.fingerprint());
            if self.out.push(*part, mode, Use::Answer).is_err() {
                let mut rest = Accumulator::default();
                parts[i..].iter().for_each(|(_, acc)| rest.merge(acc));
                return self.defer(Span::new(part.lower, span.upper), rest.fingerprint());
            }
        }
    }

    /// Lists `own`, our keys in `span`; if they do not all fit, lists as many as do over
    /// the part of the span that holds them and defers the rest.
    fn list(&mut self, span: Span, own: Vec<OrderKey>) {
        let Err(Mode::IdList(mut own)) = self.out.push(span, Mode::IdList(own), Use::Answer) else {
            return;
        };
        let room = self.out.room(&span.lower, Use::Answer);
        let mut used = LIST_OVERHEAD;
        let mut prev = span.lower;
        let mut fit = 0;
        for key in &own {
            used += wire::key_len(&prev, key);
            if used > room {
                break;
            }
            prev = *key;
            fit += 1;
        }
        let fit = fit.min(own.len().saturating_sub(1));
        if fit == 0 {
            return self.defer(span, Fingerprint::of(&own));
        }
        let cut = separator(&own[fit - 1], &own[fit]);
        let rest = Fingerprint::of(&own[fit..]);
        own.truncate(fit);
        let head = Span::new(span.lower, Bound::Key(cut));
        if self.out.push(head, Mode::IdList(own), Use::Answer).is_err() {
            return self.close(span.lower);
        }
        self.defer(Span::new(cut, span.upper), rest);
    }

    /// Hands a mismatched span back unanswered, with our fingerprint, for the peer to split
    /// or list next round; closes the message if even that does not fit.
    fn defer(&mut self, span: Span, own: Fingerprint) {
        if self
            .out
            .push(span, Mode::Fingerprint(own), Use::Defer)
            .is_err()
        {
            self.close(span.lower);
        }
    }

    /// The peer listed `theirs`, all its keys in `span`: answer which of them we lack and
    /// which of ours it lacks. If that does not fit, answer for the part that does and
    /// close the message after it.
    pub(super) fn diff(&mut self, span: Span, theirs: &[OrderKey]) {
        let room = self.out.room(&span.lower, Use::Defer);
        let mut used = LIST_OVERHEAD;
        let mut lacking = Vec::new();
        let mut extra = Vec::new();
        let mut own = self.set.keys(span).peekable();
        let mut theirs = theirs.iter().peekable();
        let mut last: Option<OrderKey> = None;
        loop {
            // The next key in merged order, what it costs, and whether it is listed.
            let (key, listed) = match (theirs.peek(), own.peek()) {
                (None, None) => break,
                (Some(&&t), Some(&&o)) if t <= o => (t, true),
                (Some(&&t), None) => (t, true),
                (_, Some(&&o)) => (o, false),
            };
            let cost = match listed {
                true if lacking.len() % 8 == 0 => 1,
                true => 0,
                false => wire::key_len(extra.last().unwrap_or(&span.lower), &key),
            };
            if used + cost > room {
                let mode = Mode::Diff { lacking, extra };
                return self.partial(span, last, key, mode);
            }
            used += cost;
            if listed {
                theirs.next();
                let have = own.next_if_eq(&&key).is_some();
                lacking.push(!have);
            } else {
                own.next();
                extra.push(key);
            }
            last = Some(key);
        }
        if self
            .out
            .push(span, Mode::Diff { lacking, extra }, Use::Defer)
            .is_err()
        {
            self.close(span.lower);
        }
    }

    /// Sends `mode`, an answer for the part of `span` up to `last`, and closes the message
    /// at a bound between `last` and `next`.
    fn partial(&mut self, span: Span, last: Option<OrderKey>, next: OrderKey, mode: Mode) {
        let Some(last) = last else {
            return self.close(span.lower);
        };
        let cut = separator(&last, &next);
        let head = Span::new(span.lower, Bound::Key(cut));
        if self.out.push(head, mode, Use::Defer).is_err() {
            return self.close(span.lower);
        }
        self.close(cut);
    }

    /// Ends the message with the fingerprint of everything from `lower` on.
    fn close(&mut self, lower: OrderKey) {
        let fp = self.set.fingerprint(Span::starting_at(lower));
        self.out
            .append(Span::starting_at(lower), Mode::Fingerprint(fp));
    }
}
