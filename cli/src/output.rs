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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;

use qun_api::NodeEvent;
use qun_api::view::{Created, GroupInfo, IdInfo, InviteCode, Left, MessageView, PeerInfo, Posted};
use qun_protocol::text::escape;
use serde::Serialize;

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

/// The group label of `qun watch` over every group: `[周末爬山群 ·osgAsU] ` before each line
/// (the name as [`who`] shows a name, and the id's tail); empty when one group is watched.
#[derive(Debug, Default)]
pub struct GroupLabels {
    on: bool,
    names: BTreeMap<String, String>,
    /// Ids already asked for, so an unknown id is looked up once.
    asked: std::collections::BTreeSet<String>,
}

impl GroupLabels {
    /// Labels on (`on`: several groups are watched) or off.
    pub fn new(on: bool) -> Self {
        GroupLabels {
            on,
            ..Default::default()
        }
    }

    /// Takes the names of `groups`.
    pub fn learn(&mut self, groups: &[GroupInfo]) {
        for g in groups {
            self.names.insert(g.group.clone(), g.name.clone());
        }
    }

    /// Whether `ev` is from a group whose name is not known yet (true once per group).
    pub fn missing(&mut self, ev: &NodeEvent) -> bool {
        match ev.group() {
            Some(g) if self.on && !self.names.contains_key(g) => self.asked.insert(g.to_owned()),
            _ => false,
        }
    }

    /// The prefix of a line about `group`.
    pub fn prefix(&self, group: &str) -> String {
        if !self.on {
            return String::new();
        }
        format!(
            "[{}] ",
            who(group, self.names.get(group).map(String::as_str))
        )
    }

    /// The name of `group` in a sentence: its label, or its escaped id.
    fn name(&self, group: &str) -> String {
        match self.names.get(group) {
            Some(n) => who(group, Some(n)),
            None => s(group).into_owned(),
        }
    }
}

impl Out {
    /// Prints `v` as pretty JSON.
    pub fn json<T: Serialize>(&self, v: &T) -> anyhow::Result<()> {
        outln!("{}", serde_json::to_string_pretty(&to_json(v)?)?)
    }

    pub fn id(&self, v: &IdInfo) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        outln!("peer id: {}", s(&v.peer_id))?;
        for a in strings(&v.addrs) {
            outln!("  {a}")?;
        }
        Ok(())
    }

    pub fn peers(&self, list: &[PeerInfo]) -> anyhow::Result<()> {
        if self.json {
            return self.json(&list);
        }
        if list.is_empty() {
            outln!("no peers connected")?;
        }
        for p in list {
            outln!("{}  {}", s(&p.peer_id), strings(&p.addrs).join(" "))?;
        }
        Ok(())
    }

    pub fn id_line(&self, v: &Posted) -> anyhow::Result<()> {
        if self.json {
            return self.json(&serde_json::json!({ "id": v.id }));
        }
        outln!("{}", s(&v.id))
    }

    pub fn created(&self, v: &Created) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        outln!("group:  {}", s(&v.group))?;
        outln!("invite: {}", s(&v.invite))
    }

    pub fn invite(&self, v: &InviteCode, qr: bool) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        if let Some(note) = &v.note {
            eprintln!("note: {}", qun_protocol::text::escape(note));
        }
        let code = s(&v.invite);
        outln!("{code}")?;
        if qr {
            // Upper case puts bech32 into the QR alphanumeric mode: a smaller code.
            let q = qrcode::QrCode::with_error_correction_level(
                code.to_ascii_uppercase().as_bytes(),
                qrcode::EcLevel::L,
            )?;
            let art = q
                .render::<qrcode::render::unicode::Dense1x2>()
                .dark_color(qrcode::render::unicode::Dense1x2::Light)
                .light_color(qrcode::render::unicode::Dense1x2::Dark)
                .build();
            outln!("{art}")?;
        }
        Ok(())
    }

    pub fn left(&self, v: &Left) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        outln!("left {}", s(&v.group))
    }

    pub fn groups(&self, list: &[GroupInfo]) -> anyhow::Result<()> {
        if self.json {
            return self.json(&list);
        }
        if list.is_empty() {
            outln!("no groups yet: `qun group create NAME` or `qun group join INVITE`")?;
        }
        for g in list {
            outln!(
                "{}  {}  ({}, {}, {})",
                s(&g.group),
                s(&g.name),
                count(g.members.len() as u64, "member"),
                count(g.messages as u64, "message"),
                s(&g.visibility),
            )?;
        }
        Ok(())
    }

    /// The lines of `qun group info`.
    pub fn group_info_lines(g: &GroupInfo) -> Vec<String> {
        let names = &g.names;
        let mut lines = vec![
            format!("group:       {}", s(&g.group)),
            format!("name:        {}", s(&g.name)),
            format!("visibility:  {}", s(&g.visibility)),
            format!("owner:       {}", who_in(names, &g.owner)),
        ];
        if !g.description.is_empty() {
            lines.push(format!("description: {}", s(&g.description)));
        }
        let tags = strings(&g.tags);
        if !tags.is_empty() {
            lines.push(format!("tags:        {}", tags.join(", ")));
        }
        lines.push(format!("topic:       {} (epoch {})", s(&g.topic), g.epoch));
        lines.push(format!(
            "mesh peers:  {} ({} subscribed)",
            g.mesh_peers, g.topic_peers
        ));
        lines.push(format!(
            "messages:    {} ({} waiting for peers)",
            g.messages, g.queued
        ));
        match &g.announcement {
            Some(a) => lines.push(format!(
                "announcement: {} (by {})",
                s(&a.text),
                who_in(names, &a.author)
            )),
            None => lines.push("announcement: (none)".to_owned()),
        }
        lines.extend(crate::moderate::info_lines(g));
        lines.push(format!("members ({}):", g.members.len()));
        for m in &g.members {
            match names.get(m) {
                Some(n) => lines.push(format!("  {}  {}", escape(m), escape(n))),
                None => lines.push(format!("  {}", escape(m))),
            }
        }
        lines
    }

    pub fn group_info(&self, g: &GroupInfo) -> anyhow::Result<()> {
        if self.json {
            return self.json(g);
        }
        for l in Self::group_info_lines(g) {
            outln!("{l}")?;
        }
        Ok(())
    }

    /// The line of one message in `qun history` and `qun watch`.
    pub fn message_line(m: &MessageView) -> String {
        let who = who(&m.author, m.author_name.as_deref());
        let when = time(m.timestamp_ms);
        let reply = m
            .reply_to
            .as_deref()
            .map(|r| format!(" (reply to {})", short(r)))
            .unwrap_or_default();
        match m.kind.as_str() {
            "text" => format!("[{when}] {who}: {}{reply}  #{}", s(&m.text), short(&m.id)),
            "announcement" => format!("[{when}] {who} set the announcement: {}", s(&m.text)),
            _ => format!("[{when}] {who} {}", s(&m.text)),
        }
    }

    pub fn history(&self, list: &[MessageView]) -> anyhow::Result<()> {
        if self.json {
            return self.json(&list);
        }
        for m in list {
            outln!("{}", Self::message_line(m))?;
        }
        Ok(())
    }

    /// The line `qun watch` prints for a join event, or `None` for events it skips.
    fn join_event_line(ev: &NodeEvent, labels: &GroupLabels) -> Option<String> {
        match ev {
            NodeEvent::JoinRequested {
                group,
                requester,
                requester_name,
                note,
            } => {
                let id = s(group);
                let name = labels.name(group);
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(": \"{}\"", s(note))
                };
                let who = who(requester, requester_name.as_deref());
                let requester = s(requester);
                Some(format!(
                    "join request for {name} from {who}{note} \
                     (qun group approve|reject {id} {requester})"
                ))
            }
            NodeEvent::Joined { group } => Some(format!(
                "joined {}: your join request was approved",
                labels.name(group)
            )),
            NodeEvent::JoinRejected { group } => Some(format!(
                "your request to join {} was rejected",
                labels.name(group)
            )),
            _ => None,
        }
    }

    /// One event of `qun watch`: messages, and join requests and their outcomes, each line
    /// after its group's label when several groups are watched ([`GroupLabels`]). With
    /// `--json` a message is printed without its `type` (as it always was); a join event
    /// keeps it (`join_requested`, `joined`, `join_rejected`).
    pub fn event(&self, ev: &NodeEvent, labels: &GroupLabels) -> anyhow::Result<()> {
        let NodeEvent::Message(m) = ev else {
            if let Some(line) = Self::join_event_line(ev, labels) {
                if self.json {
                    outln!("{}", serde_json::to_string(&to_json(ev)?)?)?;
                } else {
                    outln!("{line}")?;
                }
            }
            return Ok(());
        };
        if self.json {
            outln!("{}", serde_json::to_string(&to_json(m)?)?)
        } else {
            outln!("{}{}", labels.prefix(&m.group), Self::message_line(m))
        }
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
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// An event from its JSON.
    fn event(v: Value) -> NodeEvent {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn join_events_have_lines_and_others_are_skipped() {
        let ev = json!({ "type": "join_requested", "group": "G", "requester": "R", "note": "hi" });
        assert_eq!(
            Out::join_event_line(&event(ev), &GroupLabels::default()).unwrap(),
            "join request for G from R: \"hi\" (qun group approve|reject G R)"
        );
        let ev = json!({
            "type": "join_requested", "group": "G", "requester": "12D3KooWabcdef",
            "requester_name": "小林", "note": "hi\u{1b}[2J\r",
        });
        assert_eq!(
            Out::join_event_line(&event(ev), &GroupLabels::default()).unwrap(),
            "join request for G from 小林 ·abcdef: \"hi\\e[2J\\r\" \
             (qun group approve|reject G 12D3KooWabcdef)"
        );
        let ev = json!({ "type": "joined", "group": "G" });
        assert!(
            Out::join_event_line(&event(ev), &GroupLabels::default())
                .unwrap()
                .starts_with("joined G")
        );
        let ev = json!({ "type": "join_rejected", "group": "G" });
        assert!(
            Out::join_event_line(&event(ev), &GroupLabels::default())
                .unwrap()
                .contains("rejected")
        );
        let ev = json!({ "type": "peer_connected", "peer": "P" });
        assert_eq!(
            Out::join_event_line(&event(ev), &GroupLabels::default()),
            None
        );
    }

    #[test]
    fn watching_every_group_labels_each_line_with_its_group() {
        let mut labels = GroupLabels::new(true);
        let g = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
        let msg = event(json!({
            "type": "message", "id": "M1", "group": g, "author": "12D3KooWabcdef",
            "timestamp_ms": 0, "logical": 0, "kind": "text", "text": "hi",
        }));
        // Unknown at first: asked for once.
        assert!(labels.missing(&msg));
        assert!(!labels.missing(&msg));
        labels.learn(&[view(json!({ "group": g, "name": "周末爬山群" }))]);
        assert_eq!(labels.prefix(g), "[周末爬山群 ·osgAsU] ");
        let ev = event(json!({ "type": "join_rejected", "group": g }));
        assert_eq!(
            Out::join_event_line(&ev, &labels).unwrap(),
            "your request to join 周末爬山群 ·osgAsU was rejected"
        );
        // A hostile group name is escaped in the label too.
        labels.learn(&[view(
            json!({ "group": g, "name": "x\u{1b}[2J] [00:00] 小林: hi" }),
        )]);
        assert_safe(&labels.prefix(g));
        // One group watched: no label.
        assert_eq!(GroupLabels::new(false).prefix(g), "");
    }

    const ATTACK: &str =
        "hi\u{1b}]0;PWNED\u{7}\u{1b}[2J\u{1b}[31mfake\u{1b}[0m\rX\u{202e}z\u{200d}\nY";

    /// No byte that a terminal acts on: C0/C1 controls, DEL, bidi and zero-width characters.
    fn assert_safe(line: &str) {
        assert!(
            !line.chars().any(qun_protocol::text::is_unsafe),
            "unsafe character in {line:?}"
        );
    }

    #[test]
    fn messages_are_escaped_and_named() {
        let m = json!({
            "kind": "text", "author": "12D3KooWQbDmzHv7a1b2c3", "author_name": "小林\u{202e}",
            "timestamp_ms": 0, "text": ATTACK, "id": "5kQm3x",
        });
        let line = Out::message_line(&view(m));
        assert_safe(&line);
        assert_eq!(
            line,
            "[00:00:00] 小林\\u{202e} ·a1b2c3: hi\\e]0;PWNED\\a\\e[2J\\e[31mfake\\e[0m\\rX\\u{202e}z\\u{200d}\\nY  #5kQm3x"
        );
        // Without a known profile: the id's tail alone.
        let m = json!({ "kind": "join", "author": "12D3KooWQbDmzHv7a1b2c3", "timestamp_ms": 0,
            "text": "joined the group" });
        assert_eq!(
            Out::message_line(&view(m)),
            "[00:00:00] v7a1b2c3 joined the group"
        );
    }

    #[test]
    fn group_info_is_escaped() {
        let g = json!({
            "group": "G", "name": "n\u{1b}]0;x\u{7}", "visibility": "listed", "owner": "OWNER1",
            "description": ATTACK, "tags": ["t\r"], "topic": "T", "epoch": 0,
            "mesh_peers": 0, "topic_peers": 0, "messages": 1, "queued": 0,
            "announcement": { "text": ATTACK, "author": "OWNER1", "timestamp_ms": 0, "id": "M" },
            "members": ["OWNER1", "M2"], "names": { "OWNER1": "Li\u{2066}" },
        });
        let lines = Out::group_info_lines(&view(g));
        for l in &lines {
            assert_safe(l);
        }
        assert!(
            lines.contains(&"owner:       Li\\u{2066} ·OWNER1".to_owned()),
            "{lines:?}"
        );
        assert!(lines.contains(&"  M2".to_owned()), "{lines:?}");
    }

    #[test]
    fn who_shows_the_name_and_a_tail() {
        assert_eq!(who("12D3KooWabc123", Some("小林")), "小林 ·abc123");
        assert_eq!(who("12D3KooWabc123", None), "oWabc123");
        assert_eq!(who("ab", Some("x")), "x ·ab");
        // A name that would fake the frame of a line is quoted.
        assert_eq!(
            who(
                "12D3KooWabc123",
                Some("Bhn9tu8p set the announcement: 活动取消")
            ),
            "\"Bhn9tu8p set the announcement: 活动取消\" ·abc123"
        );
        assert_eq!(
            who("12D3KooWabc123", Some("小林 ·DMY6w1：real")),
            "\"小林 ·DMY6w1：real\" ·abc123"
        );
        assert_eq!(
            who("12D3KooWabc123", Some("约翰·史密斯")),
            "\"约翰·史密斯\" ·abc123"
        );
        assert_eq!(who("12D3KooWabc123", Some("a\"b:")), "\"a\\\"b:\" ·abc123");
        assert_eq!(who("", None), "");
    }
}
