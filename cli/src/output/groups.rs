//! The views of the node and its groups: `qun id`, `peers`, `group create|invite|leave|list|info`
//! and the id a post prints.

use qun_api::view::{Created, GroupInfo, IdInfo, InviteCode, Left, PeerInfo, Posted};
use qun_protocol::text::escape;

use super::{Out, count, s, strings, who_in};
use crate::outln;

impl Out {
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
        match g.standing.as_str() {
            "removed" | "banned" => lines.push(format!(
                "you:         {} from this group: you read only what was sent before, and \
                 nothing you send is taken (qun group leave {} to forget it)",
                g.standing,
                s(&g.group)
            )),
            "" => {}
            st => lines.push(format!("you:         {}", s(st))),
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
}
