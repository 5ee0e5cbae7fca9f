//! How the CLI prints: human text by default, JSON with `--json`.
//!
//! ## Safe human output
//! Every text the daemon returns may have been written by someone else (a message, a note,
//! a group name, a profile). Human-readable lines read every field through [`s`] and
//! [`strings`], which pass it through [`qun_protocol::text::escape`]: control, format,
//! bidi and line-separator characters become visible escapes (`\e`, `\r`, `\u{202e}`), so
//! no text can move the cursor, set the window title, clear the screen or start a forged
//! line. `--json` prints the exact text (JSON escapes controls itself).
//!
//! ## Authors
//! An author is shown by the display name of their profile, when the daemon holds it, and
//! the last [`NAME_TAIL`] characters of their id to tell namesakes apart (`小林 ·a1b2c3`);
//! by the last 8 characters of the id when no profile is known ([`who`]).
//!
//! ## A closed standard output
//! Lines are written with [`line`] (the `outln!` macro): when standard output is closed
//! (`qun history G | head -1`), the write fails with [`StdoutClosed`] and the command ends
//! quietly with success instead of panicking.

mod groups;
mod messages;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;

use qun_protocol::text::escape;
use serde::Serialize;

pub use messages::GroupLabels;

/// Characters of the author id shown after a display name.
pub const NAME_TAIL: usize = 6;

/// Standard output was closed by the reader; the command stops quietly.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output was closed")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes one line to standard output; a closed pipe is [`StdoutClosed`].
pub fn line(text: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(e.into()),
    }
}

/// `println!` that returns an error instead of panicking when stdout is closed.
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::output::line(format_args!($($t)*))
    };
}

/// The printer.
pub struct Out {
    /// Print JSON.
    pub json: bool,
}

/// A text from the daemon, escaped for a terminal.
pub fn s(text: &str) -> Cow<'_, str> {
    escape(text)
}

/// Texts from the daemon, escaped for a terminal.
pub fn strings(list: &[String]) -> Vec<Cow<'_, str>> {
    list.iter().map(|t| escape(t)).collect()
}

/// A value as JSON with its keys in sorted order (as `--json` has always printed them).
pub fn to_json<T: Serialize>(v: &T) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::to_value(v)?)
}

/// `HH:MM:SS` (UTC) of a time in ms since the Unix epoch.
pub fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, sec) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{sec:02}")
}

/// The last `n` characters of an id.
fn tail(id: &str, n: usize) -> Cow<'_, str> {
    let start = id
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    escape(&id[start..])
}

fn short(id: &str) -> Cow<'_, str> {
    tail(id, 8)
}

/// Whether a display name holds a character of the `name ·tail: text` frame (a colon, a
/// middle dot or a look-alike of either) or a quote: printed bare, such a name could pose as
/// another author or a system line (`Bhn9tu8p set the announcement: 活动取消`).
fn frames_like_a_line(name: &str) -> bool {
    name.chars().any(|c| {
        matches!(
            c,
            ':' | '\u{FF1A}' // fullwidth colon
                | '\u{FE55}' | '\u{FE13}' | '\u{2236}' | '\u{A789}' | '\u{02D0}' | '\u{0589}'
                | '\u{00B7}' // middle dot, our separator
                | '\u{0387}' | '\u{2027}' | '\u{2022}' | '\u{2219}' | '\u{22C5}' | '\u{30FB}'
                | '\u{FF65}' | '\u{16EB}' | '\u{318D}'
                | '"' | '\u{201C}' | '\u{201D}'
        )
    })
}

/// `1 member`, `2 members`, `0 messages`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// An author: `name ·tail` with a known display name, the id's tail otherwise. A name that
/// holds a character of the line's frame ([`frames_like_a_line`]) is quoted, with its
/// quotes escaped: `"约翰·史密斯" ·a1b2c3`.
pub fn who(id: &str, name: Option<&str>) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) if frames_like_a_line(n) => format!(
            "\"{}\" ·{}",
            escape(n).replace('"', "\\\""),
            tail(id, NAME_TAIL)
        ),
        Some(n) => format!("{} ·{}", escape(n), tail(id, NAME_TAIL)),
        None => short(id).into_owned(),
    }
}

/// The author `id`, named from a map of names (`group info`'s `names`).
pub fn who_in(names: &BTreeMap<String, String>, id: &str) -> String {
    who(id, names.get(id).map(String::as_str))
}

impl Out {
    /// Prints `v` as pretty JSON.
    pub fn json<T: Serialize>(&self, v: &T) -> anyhow::Result<()> {
        outln!("{}", serde_json::to_string_pretty(&to_json(v)?)?)
    }
}

/// A view from the fields a test names, the others at their defaults.
#[cfg(test)]
pub fn view<T>(fields: serde_json::Value) -> T
where
    T: Default + Serialize + serde::de::DeserializeOwned,
{
    let mut v = serde_json::to_value(T::default()).unwrap();
    if let (Some(o), Some(f)) = (v.as_object_mut(), fields.as_object()) {
        o.extend(f.clone());
    }
    serde_json::from_value(v).unwrap()
}

#[cfg(test)]
mod tests;
