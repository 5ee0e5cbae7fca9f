//! The views of messages and events: `qun history` and `qun watch` (with the group labels of
//! a watch over every group).

use std::collections::BTreeMap;

use qun_api::NodeEvent;
use qun_api::view::{GroupInfo, MessageView};

use super::{Out, s, short, time, to_json, who};
use crate::outln;

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

/// A control op's words with the members it names shortened as authors are (`·a1b2c3`,
/// not the 52-character id) and a mute's seconds as a length (`for 2 h`), as `group log`
/// says them.
fn op_words(m: &MessageView) -> String {
    let mut text = m.text.clone();
    for id in &m.mentions {
        if id.len() > 8 {
            text = text.replace(id.as_str(), &who(id, None));
        }
    }
    crate::moderate::mute_length(&text)
}

impl Out {
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
            _ => format!("[{when}] {who} {}", s(&op_words(m))),
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
    pub(super) fn join_event_line(ev: &NodeEvent, labels: &GroupLabels) -> Option<String> {
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
