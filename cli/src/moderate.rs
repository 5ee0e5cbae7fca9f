//! Moderation commands (issue 13): `qun group role|transfer|remove|ban|unban|mute|unmute|log`
//! and `qun pin|unpin`, each one API call; and the governance lines of `qun group info`.
//!
//! MEMBER is an author id, a unique prefix of one, or a profile name unique in the group
//! (the daemon resolves it: 404 when nothing matches, 409 with the candidates when several
//! do). An op the group's rule refuses fails with 403 and the rule's name. Every text from
//! the daemon is escaped ([`s`], [`who`]).

use clap::Subcommand;
use qun_api::request::RoleName;
use qun_api::view::LogEntry;
use qun_api::{Call, Client, GroupInfo};

use crate::outln;
use crate::output::{Out, s, time, who, who_in};

/// The moderation subcommands of `qun group`.
#[derive(Subcommand, Debug)]
pub enum GroupModCmd {
    /// Make a member an admin, or an admin a member again (group owner only).
    Role {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
        /// `admin` or `member`.
        role: RoleName,
    },
    /// Hand the group to a member (group owner only); you stay an admin.
    Transfer {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
    },
    /// Remove a member (admins remove members; the owner removes admins too).
    ///
    /// The group is then re-keyed: the remaining members move to a new epoch the removed
    /// member cannot read, and every node refuses what it posts after its removal.
    Remove {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
        /// Ban it too: it cannot join again until an unban.
        #[arg(long)]
        ban: bool,
    },
    /// Ban a key (removing it if it is a member): it cannot join again until an unban.
    Ban {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
    },
    /// Lift a ban.
    Unban {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
    },
    /// Mute a member: every node refuses its posts until the mute ends or an unmute.
    Mute {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
        /// How long: e.g. 30m, 1h, 7d (default: until unmuted).
        #[arg(long = "for")]
        duration: Option<String>,
    },
    /// Lift a mute.
    Unmute {
        /// Group id or name.
        group: String,
        /// Author id, a unique prefix of it, or a profile name unique in the group.
        member: String,
    },
    /// The moderation log: every control op in group order, who did what to whom, and
    /// whether the group's rule let it take effect.
    Log {
        /// Group id or name.
        group: String,
    },
}

/// `qun pin` and `qun unpin`.
#[derive(Subcommand, Debug)]
pub enum PinCmd {
    /// Pin a message (admins).
    Pin {
        /// Group id or name.
        group: String,
        /// The message id: the full id, or its last characters as `history` prints them.
        msgid: String,
    },
    /// Unpin a message (admins).
    Unpin {
        /// Group id or name.
        group: String,
        /// The message id: the full id, or its last characters as `history` prints them.
        msgid: String,
    },
}

/// Runs a moderation subcommand of `qun group`.
pub fn group(c: &Client, out: &Out, cmd: GroupModCmd) -> anyhow::Result<()> {
    let posted = match cmd {
        GroupModCmd::Role {
            group,
            member,
            role,
        } => c.call(Call::set_role(&group, &member, role))?,
        GroupModCmd::Transfer { group, member } => c.call(Call::transfer(&group, &member))?,
        GroupModCmd::Remove { group, member, ban } => c.call(Call::remove(&group, &member, ban))?,
        GroupModCmd::Ban { group, member } => c.call(Call::ban(&group, &member))?,
        GroupModCmd::Unban { group, member } => c.call(Call::unban(&group, &member))?,
        GroupModCmd::Mute {
            group,
            member,
            duration,
        } => {
            let secs = duration.as_deref().map(crate::parse_duration).transpose()?;
            c.call(Call::mute(&group, &member, secs))?
        }
        GroupModCmd::Unmute { group, member } => c.call(Call::unmute(&group, &member))?,
        GroupModCmd::Log { group } => return log(out, &c.call(Call::moderation_log(&group))?),
    };
    out.id_line(&posted)
}

/// Runs `qun pin` or `qun unpin`.
pub fn pin(c: &Client, out: &Out, cmd: PinCmd) -> anyhow::Result<()> {
    let posted = match cmd {
        PinCmd::Pin { group, msgid } => {
            let id = crate::full_message_id(c, &group, &msgid)?;
            c.call(Call::pin(&group, &id))?
        }
        PinCmd::Unpin { group, msgid } => {
            let id = crate::full_message_id(c, &group, &msgid)?;
            c.call(Call::unpin(&group, &id))?
        }
    };
    out.id_line(&posted)
}

/// One line of the moderation log: `12:00:03  Alice ·a1b2c3  mute  Bob ·d4e5f6  (muted ...)`,
/// and why it was refused when it was.
pub fn log_line(e: &LogEntry) -> String {
    let mut line = format!(
        "{}  {}  {}",
        time(e.timestamp_ms),
        who(&e.author, e.author_name.as_deref()),
        s(&e.kind)
    );
    match &e.target {
        Some(t) => {
            line.push_str(&format!("  {}", who(t, e.target_name.as_deref())));
            if let Some(d) = detail(&e.text, t) {
                line.push_str(&format!("  {}", s(&d)));
            }
        }
        None => line.push_str(&format!("  {}", s(&e.text))),
    }
    if !e.allowed {
        line.push_str(&format!(
            "  [refused: {}: {}]",
            s(e.rule.as_deref().unwrap_or("?")),
            s(e.reason.as_deref().unwrap_or(""))
        ));
    }
    line
}

/// What an op's words say after its target: the role (`admin`), the mute's length
/// (`for 1 h 30 min`, `until unmuted`); `None` when nothing follows.
fn detail(text: &str, target: &str) -> Option<String> {
    let after = text.split_once(target)?.1.trim();
    (!after.is_empty()).then(|| mute_length(after))
}

/// An op's words with a trailing mute length in seconds (`… for 5400 s`, as the daemon
/// says it) said as a length (`… for 1 h 30 min`); other words unchanged.
pub fn mute_length(words: &str) -> String {
    let (head, secs) = match words.rsplit_once("for ") {
        Some((head, tail)) if head.is_empty() || head.ends_with(' ') => (head, tail),
        _ => return words.to_owned(),
    };
    match secs.strip_suffix(" s").and_then(|n| n.parse::<u64>().ok()) {
        Some(n) => format!("{head}for {}", length(n)),
        None => words.to_owned(),
    }
}

/// `secs` as `2 d 3 h`, `10 min`, `45 s` (zero parts left out).
fn length(secs: u64) -> String {
    let parts = [(86_400, "d"), (3_600, "h"), (60, "min"), (1, "s")];
    let mut left = secs;
    let mut out = Vec::new();
    for (n, unit) in parts {
        if left >= n {
            out.push(format!("{} {unit}", left / n));
            left %= n;
        }
    }
    if out.is_empty() {
        "0 s".to_owned()
    } else {
        out.join(" ")
    }
}

fn log(out: &Out, list: &[LogEntry]) -> anyhow::Result<()> {
    if out.json {
        return out.json(&list);
    }
    if list.is_empty() {
        outln!("no control ops yet")?;
    }
    for e in list {
        outln!("{}", log_line(e))?;
    }
    Ok(())
}

/// The governance lines of `qun group info`: admins, muted, banned, pins.
pub fn info_lines(g: &GroupInfo) -> Vec<String> {
    let names = &g.names;
    let mut lines = Vec::new();
    if !g.admins.is_empty() {
        let admins: Vec<String> = g.admins.iter().map(|a| who_in(names, a)).collect();
        lines.push(format!("admins:      {}", admins.join(", ")));
    }
    for m in &g.muted {
        let until = match m.until_ms {
            Some(t) => format!("until {}", qun_protocol::text::utc(t)),
            None => "until unmuted".to_owned(),
        };
        lines.push(format!(
            "muted:       {} {until} (by {})",
            who_in(names, &m.member),
            who_in(names, &m.by)
        ));
    }
    if !g.banned.is_empty() {
        let banned: Vec<String> = g.banned.iter().map(|b| who_in(names, b)).collect();
        lines.push(format!("banned:      {}", banned.join(", ")));
    }
    for p in &g.pins {
        lines.push(format!(
            "pinned:      #{} (by {})",
            s(&p.id),
            who_in(names, &p.by)
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use qun_api::view::MutedView;

    #[test]
    fn a_log_line_says_the_role_and_the_mute_length() {
        let t = "12D3KooWtarget";
        assert_eq!(
            detail(&format!("made {t} admin"), t).as_deref(),
            Some("admin")
        );
        assert_eq!(
            detail(&format!("muted {t} for 5400 s"), t).as_deref(),
            Some("for 1 h 30 min")
        );
        assert_eq!(
            detail(&format!("muted {t} until unmuted"), t).as_deref(),
            Some("until unmuted")
        );
        assert_eq!(detail(&format!("removed {t}"), t), None);
        assert_eq!(length(90_061), "1 d 1 h 1 min 1 s");
    }

    #[test]
    fn remote_text_is_escaped() {
        let e = LogEntry {
            author: "12D3KooWauthor".into(),
            author_name: Some("Eve\u{1b}[2J".into()),
            kind: "mute".into(),
            target: Some("12D3KooWtarget".into()),
            target_name: Some("Bob\n".into()),
            allowed: false,
            rule: Some("not_admin".into()),
            reason: Some("nope\u{7}".into()),
            ..LogEntry::default()
        };
        let line = log_line(&e);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        let g = GroupInfo {
            muted: vec![MutedView {
                member: "m\u{1b}".into(),
                by: "b".into(),
                until_ms: None,
            }],
            admins: vec!["a\u{1b}".into()],
            ..GroupInfo::default()
        };
        for l in info_lines(&g) {
            assert!(!l.chars().any(|c| c.is_control()), "{l:?}");
        }
    }
}
