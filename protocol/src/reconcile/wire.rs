//! Reconciliation messages and their compact wire form.
//!
//! A message is a version byte followed by ranges until the end of the input. Range `i`
//! covers `[upper of range i-1, upper of range i)`, the first one starting at the bottom of
//! the key space; whatever follows the last range is skipped. Each range is:
//!
//! ```text
//! head   u8       bits 0-1 mode (0 Skip, 1 Fingerprint, 2 IdList, 3 Diff),
//!                 bit 2 set: the upper bound is Infinity (no bound bytes follow);
//!                 other bits zero
//! bound           relative to the range's lower end `p`:
//!        varint   stamp.ms - p.stamp.ms
//!        varint   stamp.counter if the ms differ, else stamp.counter - p.stamp.counter
//!        u8 n     0..=32, then n bytes: the id with its trailing zero bytes dropped
//! payload         Skip: nothing
//!                 Fingerprint: 16 bytes
//!                 IdList: varint count, then count keys
//!                 Diff: varint bit count, the bits packed LSB first (unused bits zero),
//!                       varint count, then count keys
//! key             relative to the previous key of the list (the range's lower end for the
//!                 first): varint stamp ms delta, varint zigzag(wrapping counter delta),
//!                 32 id bytes
//! ```
//!
//! Varints are LEB128 and must be minimal. Every field has exactly one encoding and
//! [`Message`] values are valid by construction, so decoding then encoding gives back the
//! input bytes. Decoding checks every length against the bytes that remain before
//! allocating and refuses anything over [`MAX_MESSAGE_BYTES`] or [`MAX_RANGES`].

use super::fingerprint::Fingerprint;
use super::set::{Bound, MIN_KEY, Span};
use super::{Error, MAX_MESSAGE_BYTES, MAX_RANGES};
use crate::id::MsgId;
use crate::order::{OrderKey, Stamp};

/// Version byte that starts every message.
pub const VERSION: u8 = 1;

const MODE_MASK: u8 = 0b011;
const HEAD_INFINITY: u8 = 0b100;
const MODE_SKIP: u8 = 0;
const MODE_FINGERPRINT: u8 = 1;
const MODE_ID_LIST: u8 = 2;
const MODE_DIFF: u8 = 3;

/// Longest LEB128 `u64`.
pub(super) const MAX_VARINT_LEN: usize = 10;
/// Longest encoded bound.
pub(super) const MAX_BOUND_LEN: usize = 2 * MAX_VARINT_LEN + 1 + 32;
/// Shortest encoded key in a list.
const MIN_KEY_LEN: usize = 2 + 32;

/// What the sender says about one range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Nothing to do here: the sides agree, or this range is settled.
    Skip,
    /// The fingerprint of the sender's keys in the range.
    Fingerprint(Fingerprint),
    /// All of the sender's keys in the range, ascending.
    IdList(Vec<OrderKey>),
    /// The answer to an [`Mode::IdList`] over a range starting at the same key.
    Diff {
        /// One flag per key of that list that lies in this range, in order: set if the
        /// sender lacks the key.
        lacking: Vec<bool>,
        /// The sender's keys in this range that the list lacked, ascending.
        extra: Vec<OrderKey>,
    },
}

/// One range of a message: its upper end and what is said about it (the lower end is the
/// upper end of the previous range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// Exclusive upper end.
    pub upper: Bound,
    /// What the sender says about the range.
    pub mode: Mode,
}

/// One reconciliation message: consecutive ranges from the bottom of the key space.
///
/// Valid by construction: upper ends strictly increase and `Infinity` comes last at most, no
/// two skips are adjacent and none is last, listed keys ascend within their range, and the
/// encoding fits [`MAX_MESSAGE_BYTES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    ranges: Vec<Range>,
}

impl Message {
    /// Checks and wraps `ranges`.
    pub fn new(ranges: Vec<Range>) -> Result<Self, Error> {
        check(&ranges)?;
        let message = Self { ranges };
        let len = message.encoded_len();
        if len > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge {
                len,
                max: MAX_MESSAGE_BYTES,
            });
        }
        Ok(message)
    }

    /// Wraps ranges the caller built valid (checked in debug builds).
    pub(super) fn from_valid(ranges: Vec<Range>) -> Self {
        debug_assert_eq!(check(&ranges), Ok(()));
        Self { ranges }
    }

    /// The ranges.
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Whether the message says nothing (every range is settled).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Each range with its span.
    pub fn spans(&self) -> impl Iterator<Item = (Span, &Mode)> {
        let mut lower = MIN_KEY;
        self.ranges.iter().map(move |range| {
            let span = Span::new(lower, range.upper);
            if let Bound::Key(key) = range.upper {
                lower = key;
            }
            (span, &range.mode)
        })
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        for (span, mode) in self.spans() {
            put_range(&mut out, &span, mode);
        }
        out
    }

    /// Length of [`Message::encode`].
    pub fn encoded_len(&self) -> usize {
        self.encode().len()
    }

    /// Parses the wire form, refusing anything over [`MAX_MESSAGE_BYTES`] or malformed.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() {
            return Err(Error::Empty);
        }
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: MAX_MESSAGE_BYTES,
            });
        }
        let mut r = Reader { bytes, pos: 0 };
        let version = r.u8()?;
        if version != VERSION {
            return Err(Error::Version(version));
        }
        let mut ranges = Vec::new();
        let mut lower = Some(MIN_KEY);
        while r.pos < bytes.len() {
            let index = ranges.len();
            if index == MAX_RANGES {
                return Err(Error::TooManyRanges { max: MAX_RANGES });
            }
            let Some(low) = lower else {
                return Err(Error::AfterInfinity { index });
            };
            let range = read_range(&mut r, &low)?;
            lower = match range.upper {
                Bound::Key(key) => Some(key),
                Bound::Infinity => None,
            };
            ranges.push(range);
        }
        check(&ranges)?;
        Ok(Self { ranges })
    }
}

/// The rules every message obeys (see [`Message`]).
fn check(ranges: &[Range]) -> Result<(), Error> {
    if ranges.len() > MAX_RANGES {
        return Err(Error::TooManyRanges { max: MAX_RANGES });
    }
    let mut lower = Some(MIN_KEY);
    let mut prev_skip = false;
    for (index, range) in ranges.iter().enumerate() {
        let Some(low) = lower else {
            return Err(Error::AfterInfinity { index });
        };
        let span = Span::new(low, range.upper);
        if span.is_empty() {
            return Err(Error::Unordered { index });
        }
        let skip = range.mode == Mode::Skip;
        if skip && prev_skip {
            return Err(Error::AdjacentSkips { index });
        }
        if let Mode::IdList(keys) | Mode::Diff { extra: keys, .. } = &range.mode {
            let ascending = keys.windows(2).all(|w| w[0] < w[1]);
            if !ascending || !keys.iter().all(|k| span.contains(k)) {
                return Err(Error::BadList { index });
            }
        }
        lower = match range.upper {
            Bound::Key(key) => Some(key),
            Bound::Infinity => None,
        };
        prev_skip = skip;
    }
    if prev_skip {
        return Err(Error::TrailingSkip);
    }
    Ok(())
}

// ---------------------------------------------------------------- encoding

/// Appends one range whose span is `span`.
pub(super) fn put_range(out: &mut Vec<u8>, span: &Span, mode: &Mode) {
    let code = match mode {
        Mode::Skip => MODE_SKIP,
        Mode::Fingerprint(_) => MODE_FINGERPRINT,
        Mode::IdList(_) => MODE_ID_LIST,
        Mode::Diff { .. } => MODE_DIFF,
    };
    match span.upper {
        Bound::Infinity => out.push(code | HEAD_INFINITY),
        Bound::Key(key) => {
            out.push(code);
            put_bound(out, &span.lower, &key);
        }
    }
    match mode {
        Mode::Skip => {}
        Mode::Fingerprint(fp) => out.extend_from_slice(fp.as_bytes()),
        Mode::IdList(keys) => put_keys(out, &span.lower, keys),
        Mode::Diff { lacking, extra } => {
            put_varint(out, lacking.len() as u64);
            for chunk in lacking.chunks(8) {
                let byte = chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << i));
                out.push(byte);
            }
            put_keys(out, &span.lower, extra);
        }
    }
}

fn put_bound(out: &mut Vec<u8>, prev: &OrderKey, key: &OrderKey) {
    let dl = key.stamp.ms.wrapping_sub(prev.stamp.ms);
    put_varint(out, dl);
    if dl > 0 {
        put_varint(out, key.stamp.counter);
    } else {
        put_varint(out, key.stamp.counter.wrapping_sub(prev.stamp.counter));
    }
    let id = key.id.as_bytes();
    let len = id.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    out.push(len as u8);
    out.extend_from_slice(&id[..len]);
}

fn put_keys(out: &mut Vec<u8>, lower: &OrderKey, keys: &[OrderKey]) {
    put_varint(out, keys.len() as u64);
    let mut prev = lower;
    for key in keys {
        put_key(out, prev, key);
        prev = key;
    }
}

/// Appends one list key relative to `prev`.
pub(super) fn put_key(out: &mut Vec<u8>, prev: &OrderKey, key: &OrderKey) {
    put_varint(out, key.stamp.ms.wrapping_sub(prev.stamp.ms));
    let dt = key.stamp.counter.wrapping_sub(prev.stamp.counter) as i64;
    put_varint(out, ((dt << 1) ^ (dt >> 63)) as u64);
    out.extend_from_slice(key.id.as_bytes());
}

/// Encoded length of one list key relative to `prev`.
pub(super) fn key_len(prev: &OrderKey, key: &OrderKey) -> usize {
    let mut buf = Vec::with_capacity(2 * MAX_VARINT_LEN + 32);
    put_key(&mut buf, prev, key);
    buf.len()
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let offset = self.pos;
        let end = offset
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(Error::Truncated { offset })?;
        self.pos = end;
        Ok(&self.bytes[offset..end])
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// A minimal LEB128 `u64`.
    fn varint(&mut self) -> Result<u64, Error> {
        let offset = self.pos;
        let mut value = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let byte = self.u8()?;
            // The tenth byte holds only the top bit of a u64.
            if i == MAX_VARINT_LEN - 1 && byte > 1 {
                return Err(Error::Varint { offset });
            }
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                if i > 0 && byte == 0 {
                    return Err(Error::Varint { offset });
                }
                return Ok(value);
            }
        }
        Err(Error::Varint { offset })
    }

    /// A count of items at least `min_len` bytes each, checked against the input left.
    fn count(&mut self, min_len: usize) -> Result<usize, Error> {
        let offset = self.pos;
        let count = self.varint()?;
        match usize::try_from(count) {
            Ok(n) if n <= self.remaining() / min_len => Ok(n),
            _ => Err(Error::Length { count, offset }),
        }
    }
}

fn read_range(r: &mut Reader<'_>, lower: &OrderKey) -> Result<Range, Error> {
    let offset = r.pos;
    let head = r.u8()?;
    if head & !(MODE_MASK | HEAD_INFINITY) != 0 {
        return Err(Error::Head { head, offset });
    }
    let upper = if head & HEAD_INFINITY != 0 {
        Bound::Infinity
    } else {
        Bound::Key(read_bound(r, lower)?)
    };
    let mode = match head & MODE_MASK {
        MODE_SKIP => Mode::Skip,
        MODE_FINGERPRINT => {
            let mut fp = [0u8; Fingerprint::LEN];
            fp.copy_from_slice(r.take(Fingerprint::LEN)?);
            Mode::Fingerprint(Fingerprint::from_bytes(fp))
        }
        MODE_ID_LIST => Mode::IdList(read_keys(r, lower)?),
        _ => Mode::Diff {
            lacking: read_bits(r)?,
            extra: read_keys(r, lower)?,
        },
    };
    Ok(Range { upper, mode })
}

fn read_bound(r: &mut Reader<'_>, prev: &OrderKey) -> Result<OrderKey, Error> {
    let offset = r.pos;
    let dl = r.varint()?;
    let ms = prev
        .stamp
        .ms
        .checked_add(dl)
        .ok_or(Error::Overflow { offset })?;
    let t = r.varint()?;
    let counter = if dl > 0 {
        t
    } else {
        prev.stamp
            .counter
            .checked_add(t)
            .ok_or(Error::Overflow { offset })?
    };
    let offset = r.pos;
    let len = usize::from(r.u8()?);
    let prefix = if len <= 32 { r.take(len)? } else { &[] };
    if len > 32 || prefix.last() == Some(&0) {
        return Err(Error::Prefix { len, offset });
    }
    let mut id = [0u8; 32];
    id[..len].copy_from_slice(prefix);
    Ok(OrderKey {
        stamp: Stamp::new(ms, counter),
        id: MsgId::from_bytes(id),
    })
}

fn read_keys(r: &mut Reader<'_>, lower: &OrderKey) -> Result<Vec<OrderKey>, Error> {
    let count = r.count(MIN_KEY_LEN)?;
    let mut keys: Vec<OrderKey> = Vec::with_capacity(count);
    for _ in 0..count {
        let prev = keys.last().unwrap_or(lower);
        let offset = r.pos;
        let ms = prev
            .stamp
            .ms
            .checked_add(r.varint()?)
            .ok_or(Error::Overflow { offset })?;
        let z = r.varint()?;
        let dt = ((z >> 1) as i64) ^ -((z & 1) as i64);
        let counter = prev.stamp.counter.wrapping_add(dt as u64);
        let mut id = [0u8; 32];
        id.copy_from_slice(r.take(32)?);
        keys.push(OrderKey {
            stamp: Stamp::new(ms, counter),
            id: MsgId::from_bytes(id),
        });
    }
    Ok(keys)
}

fn read_bits(r: &mut Reader<'_>) -> Result<Vec<bool>, Error> {
    let offset = r.pos;
    let bits = r.varint()?;
    let len = match usize::try_from(bits) {
        Ok(n) if n.div_ceil(8) <= r.remaining() => n,
        _ => {
            return Err(Error::Length {
                count: bits,
                offset,
            });
        }
    };
    let bytes = r.take(len.div_ceil(8))?;
    let used = len % 8;
    if used != 0 && bytes.last().is_some_and(|b| b >> used != 0) {
        return Err(Error::Padding { offset });
    }
    Ok((0..len)
        .map(|i| bytes[i / 8] & (1 << (i % 8)) != 0)
        .collect())
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
