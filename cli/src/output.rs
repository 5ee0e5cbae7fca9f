//! How the CLI prints: human text by default, JSON with `--json`.
#![allow(clippy::print_stdout)]

use serde_json::Value;

/// The printer.
pub struct Out {
    /// Print JSON.
    pub json: bool,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("")
}

fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, sec) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    format!("{h:02}:{m:02}:{sec:02}")
}

fn short(id: &str) -> &str {
    let end = id.len().min(8);
    &id[id.len().saturating_sub(end)..]
}

impl Out {
    /// Prints `v` as pretty JSON.
    pub fn json(&self, v: &Value) -> anyhow::Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    }

    pub fn id(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        println!("peer id: {}", s(v, "peer_id"));
        for a in v["addrs"].as_array().into_iter().flatten() {
            println!("  {}", a.as_str().unwrap_or(""));
        }
        Ok(())
    }

    pub fn peers(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        let list = v.as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            println!("no peers connected");
        }
        for p in list {
            let addrs: Vec<&str> = p["addrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str())
                .collect();
            println!("{}  {}", s(&p, "peer_id"), addrs.join(" "));
        }
        Ok(())
    }

    pub fn id_line(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(&serde_json::json!({ "id": v["id"] }));
        }
        println!("{}", s(v, "id"));
        Ok(())
    }

    pub fn created(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        println!("group:  {}", s(v, "group"));
        println!("invite: {}", s(v, "invite"));
        Ok(())
    }

    pub fn invite(&self, v: &Value, qr: bool) -> anyhow::Result<()> {
        if self.json {
            return self.json(&serde_json::json!({ "invite": v["invite"] }));
        }
        let code = s(v, "invite");
        println!("{code}");
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
            println!("{art}");
        }
        Ok(())
    }

    pub fn left(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        println!("left {}", s(v, "group"));
        Ok(())
    }

    pub fn groups(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        let list = v.as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            println!("no groups yet: `qun group create NAME` or `qun group join INVITE`");
        }
        for g in list {
            println!(
                "{}  {}  ({} members, {} messages, {})",
                s(&g, "group"),
                s(&g, "name"),
                g["members"].as_array().map_or(0, |m| m.len()),
                g["messages"].as_u64().unwrap_or(0),
                s(&g, "visibility"),
            );
        }
        Ok(())
    }

    pub fn group_info(&self, g: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(g);
        }
        println!("group:       {}", s(g, "group"));
        println!("name:        {}", s(g, "name"));
        println!("visibility:  {}", s(g, "visibility"));
        println!("owner:       {}", s(g, "owner"));
        if !s(g, "description").is_empty() {
            println!("description: {}", s(g, "description"));
        }
        let tags: Vec<&str> = g["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t.as_str())
            .collect();
        if !tags.is_empty() {
            println!("tags:        {}", tags.join(", "));
        }
        println!("topic:       {} (epoch {})", s(g, "topic"), g["epoch"]);
        println!(
            "mesh peers:  {} ({} subscribed)",
            g["mesh_peers"], g["topic_peers"]
        );
        println!(
            "messages:    {} ({} waiting for peers)",
            g["messages"], g["queued"]
        );
        match g.get("announcement").filter(|a| !a.is_null()) {
            Some(a) => println!("announcement: {}", s(a, "text")),
            None => println!("announcement: (none)"),
        }
        let members: Vec<&str> = g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m.as_str())
            .collect();
        println!("members ({}):", members.len());
        for m in members {
            println!("  {m}");
        }
        Ok(())
    }

    fn message_line(m: &Value) -> String {
        let kind = s(m, "kind");
        let who = short(s(m, "author"));
        let when = time(m["timestamp_ms"].as_u64().unwrap_or(0));
        let reply = m
            .get("reply_to")
            .and_then(|r| r.as_str())
            .map(|r| format!(" (reply to {})", short(r)))
            .unwrap_or_default();
        match kind {
            "text" => format!(
                "[{when}] {who}: {}{reply}  #{}",
                s(m, "text"),
                short(s(m, "id"))
            ),
            "announcement" => format!("[{when}] {who} set the announcement: {}", s(m, "text")),
            _ => format!("[{when}] {who} {}", s(m, "text")),
        }
    }

    pub fn history(&self, v: &Value) -> anyhow::Result<()> {
        if self.json {
            return self.json(v);
        }
        for m in v.as_array().into_iter().flatten() {
            println!("{}", Self::message_line(m));
        }
        Ok(())
    }

    /// The line `qun watch` prints for a join event, or `None` for events it skips.
    fn join_event_line(ev: &Value) -> Option<String> {
        let group = s(ev, "group");
        match s(ev, "type") {
            "join_requested" => {
                let note = s(ev, "note");
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!(": \"{note}\"")
                };
                let who = s(ev, "requester");
                Some(format!(
                    "join request for {group} from {who}{note} \
                     (qun group approve|reject {group} {who})"
                ))
            }
            "joined" => Some(format!("joined {group}: your join request was approved")),
            "join_rejected" => Some(format!("your request to join {group} was rejected")),
            _ => None,
        }
    }

    /// One event of `qun watch`: messages, and join requests and their outcomes. With
    /// `--json` a message is printed without its `type` (as it always was); a join event
    /// keeps it (`join_requested`, `joined`, `join_rejected`).
    pub fn event(&self, ev: &Value) -> anyhow::Result<()> {
        if s(ev, "type") != "message" {
            if let Some(line) = Self::join_event_line(ev) {
                if self.json {
                    println!("{}", serde_json::to_string(ev)?);
                } else {
                    println!("{line}");
                }
            }
            return Ok(());
        }
        if self.json {
            let mut m = ev.clone();
            if let Some(o) = m.as_object_mut() {
                o.remove("type");
            }
            println!("{}", serde_json::to_string(&m)?);
        } else {
            println!("{}", Self::message_line(ev));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_events_have_lines_and_others_are_skipped() {
        let ev = json!({ "type": "join_requested", "group": "G", "requester": "R", "note": "hi" });
        assert_eq!(
            Out::join_event_line(&ev).unwrap(),
            "join request for G from R: \"hi\" (qun group approve|reject G R)"
        );
        let ev = json!({ "type": "joined", "group": "G" });
        assert!(Out::join_event_line(&ev).unwrap().starts_with("joined G"));
        let ev = json!({ "type": "join_rejected", "group": "G" });
        assert!(Out::join_event_line(&ev).unwrap().contains("rejected"));
        let ev = json!({ "type": "peer_connected", "peer": "P" });
        assert_eq!(Out::join_event_line(&ev), None);
    }
}
