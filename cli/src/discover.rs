//! Discovery commands: `qun search`, joining by group id, join requests, group stats and
//! profiles. Each is one or two calls to the daemon's API; the printing lives here too,
//! as pure functions from the API's views to lines, so it can be tested without a daemon.
//! Every text field is read through [`crate::output::s`], which escapes it for a terminal.

use std::io::Write as _;

use anyhow::bail;
use clap::{Args, Subcommand};
use qun_api::request::{History, Join, ProfileUpdate};
use qun_api::view::{GroupStats, JoinRequestView, ProfileView, SearchHit, SearchResult};
use qun_api::{Call, Client};

use crate::outln;
use crate::output::{Out, s, strings, who};

/// `qun search`.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words to look for in group names and tags (any language; Chinese works with 1-2
    /// characters). Several words are one query.
    #[arg(required = true, num_args = 1..)]
    pub query: Vec<String>,
}

/// `qun group join`.
#[derive(Args, Debug)]
pub struct JoinArgs {
    /// An invite code, short (`quns1...`) or long (`qun1...`; pasted text around the code is
    /// fine), or a group id from `qun search`.
    #[arg(value_name = "INVITE|GROUP_ID")]
    pub target: String,
    /// For a listed group joined by id: a note to its admins with the join request.
    #[arg(long)]
    pub note: Option<String>,
    /// How much history to fetch: `all`, or `since-join` (only what is written from
    /// now on, with a minute of clock slack).
    #[arg(long, default_value = "all", value_parser = ["all", "since-join"])]
    pub history: String,
}

/// `qun profile ...`.
#[derive(Subcommand, Debug)]
pub enum ProfileCmd {
    /// Change your profile (signed and published to the DHT). Options not given stay as
    /// they are; the first time, --name is needed.
    Set {
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// A short bio ("" removes it).
        #[arg(long)]
        bio: Option<String>,
        /// female, male or other ("" stops sharing it). Group stats count only shared
        /// genders.
        #[arg(long)]
        gender: Option<String>,
        /// Year of birth (0 stops sharing it). Group stats average only shared years.
        #[arg(long, value_name = "YEAR")]
        birth_year: Option<u16>,
        /// Show a joined group on the profile: id or name (repeatable).
        #[arg(long = "show-group", value_name = "GROUP")]
        show_groups: Vec<String>,
        /// Stop showing a group: id or name (repeatable).
        #[arg(long = "hide-group", value_name = "GROUP")]
        hide_groups: Vec<String>,
    },
    /// Show your profile, or someone's (looked up in the DHT and verified).
    Show {
        /// Author id (the same text as a peer id); default: yours.
        #[arg(value_name = "AUTHOR")]
        author: Option<String>,
    },
}

/// What `qun group join` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinTarget {
    /// An invite code, possibly with text around it.
    Invite(String),
    /// A group id (base58, 32 bytes).
    Group(String),
}

impl JoinTarget {
    /// A group id if the whole argument parses as one; an invite otherwise (the daemon
    /// finds the `quns1...` or `qun1...` code in the text, or says there is none). An invite code never
    /// parses as a group id: it is bech32, which uses `0` and `l`, and base58 does not.
    pub fn of(arg: &str) -> JoinTarget {
        let t = arg.trim();
        if t.parse::<qun_protocol::GroupId>().is_ok() {
            JoinTarget::Group(t.to_owned())
        } else {
            JoinTarget::Invite(arg.to_owned())
        }
    }
}

/// The body of `POST /v1/groups/join` for `qun group join`.
pub fn join_body(args: &JoinArgs) -> anyhow::Result<Join> {
    let history: History = args
        .history
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    Ok(match JoinTarget::of(&args.target) {
        JoinTarget::Invite(invite) => {
            if args.note.is_some() {
                bail!("--note goes with a join request by group id; an invite needs none");
            }
            Join::invite(invite, history)
        }
        JoinTarget::Group(group) => {
            Join::group(group, args.note.clone().unwrap_or_default(), history)
        }
    })
}

/// The lines of one search hit: id, name, visibility and members; then the description
/// and tags when there are any.
pub fn hit_lines(h: &SearchHit) -> Vec<String> {
    let mut lines = vec![format!(
        "{}  {}  ({}, {})",
        s(&h.group),
        s(&h.name),
        s(&h.visibility),
        crate::output::count(h.members as u64, "member")
    )];
    if !h.description.is_empty() {
        lines.push(format!("    {}", s(&h.description)));
    }
    let tags = strings(&h.tags);
    if !tags.is_empty() {
        let tags: Vec<String> = tags.iter().map(|t| format!("#{t}")).collect();
        lines.push(format!("    {}", tags.join(" ")));
    }
    lines
}

/// The footer of a search: what it cost.
pub fn search_footer(r: &SearchResult) -> String {
    format!(
        "{} found · {} providers · {} DHT requests · {} ms",
        r.hits.len(),
        r.providers,
        r.dht_requests,
        r.elapsed_ms
    )
}

/// One line of group stats.
pub fn stats_line(v: &GroupStats) -> String {
    let g = &v.gender;
    let age = match v.average_age {
        Some(a) => format!("average age {a:.1} (of {})", v.age_based_on),
        None => "average age unknown (nobody shares a birth year)".to_owned(),
    };
    format!(
        "members {} · active (7 days) {} · online {} · gender: {} female, {} male, {} other \
         (of {} who share it) · {age}",
        v.members, v.active_7d, v.online, g.female, g.male, g.other, g.based_on,
    )
}

/// The lines of a profile.
pub fn profile_lines(p: &ProfileView) -> Vec<String> {
    let mut lines = vec![
        format!("name:    {}", s(&p.name)),
        format!("author:  {}", s(&p.author)),
    ];
    if let Some(gender) = &p.gender {
        lines.push(format!("gender:  {}", s(gender)));
    }
    if let Some(y) = p.birth_year {
        lines.push(format!("born:    {y}"));
    }
    if let Some(bio) = &p.bio {
        lines.push(format!("bio:     {}", s(bio)));
    }
    for g in &p.groups {
        lines.push(format!("group:   {}  {}", s(&g.name), s(&g.group)));
    }
    lines
}

/// One line of a join request.
pub fn request_line(r: &JoinRequestView) -> String {
    let note = if r.note.is_empty() {
        String::new()
    } else {
        format!("  \"{}\"", s(&r.note))
    };
    let name = match &r.requester_name {
        Some(n) => format!("  {}", who(&r.requester, Some(n))),
        None => String::new(),
    };
    format!("{}{name}  {}{note}", s(&r.requester), s(&r.status))
}

fn print_lines(lines: &[String]) -> anyhow::Result<()> {
    for l in lines {
        outln!("{l}")?;
    }
    Ok(())
}

/// `qun search QUERY...`.
pub fn search(c: &Client, out: &Out, args: &SearchArgs) -> anyhow::Result<()> {
    let query = args.query.join(" ");
    if query.trim().is_empty() {
        bail!("nothing to search for: give a word of a group's name or tags");
    }
    let r = c.call(Call::search(&query))?;
    if out.json {
        return out.json(&r.hits);
    }
    if r.hits.is_empty() {
        outln!("no groups found")?;
    }
    for h in &r.hits {
        print_lines(&hit_lines(h))?;
    }
    let _ = writeln!(std::io::stderr(), "{}", search_footer(&r));
    Ok(())
}

/// `qun group join INVITE|GROUP_ID`.
pub fn join(c: &Client, out: &Out, args: &JoinArgs) -> anyhow::Result<()> {
    let v = c.call(Call::join(&join_body(args)?))?;
    if out.json {
        return out.json(&v);
    }
    let (name, group) = (s(&v.name), s(&v.group));
    match v.status.as_str() {
        "requested" => outln!("asked to join {name}: waiting for an admin's approval"),
        "already_member" => outln!("already a member of {name} ({group})"),
        _ => outln!("joined {name} ({group})"),
    }
}

/// `qun group requests GROUP`.
pub fn requests(c: &Client, out: &Out, group: &str) -> anyhow::Result<()> {
    let list = c.call(Call::join_requests(group))?;
    if out.json {
        return out.json(&list);
    }
    if list.is_empty() {
        outln!("no join requests")?;
    }
    for r in &list {
        outln!("{}", request_line(r))?;
    }
    Ok(())
}

/// `qun group approve|reject GROUP AUTHOR`.
pub fn decide(
    c: &Client,
    out: &Out,
    group: &str,
    author: &str,
    approve: bool,
) -> anyhow::Result<()> {
    let v = c.call(Call::decide_join(group, author, approve))?;
    if out.json {
        return out.json(&v);
    }
    match &v.requester_name {
        Some(name) => {
            let named = who(&v.requester, Some(name));
            outln!("{} {named} ({})", s(&v.status), s(&v.requester))
        }
        None => outln!("{} {}", s(&v.status), s(&v.requester)),
    }
}

/// `qun group stats GROUP`.
pub fn stats(c: &Client, out: &Out, group: &str) -> anyhow::Result<()> {
    let v = c.call(Call::stats(group))?;
    if out.json {
        return out.json(&v);
    }
    outln!("{}: {}", s(&v.name), stats_line(&v))
}

/// `qun profile set|show`.
pub fn profile(c: &Client, out: &Out, cmd: ProfileCmd) -> anyhow::Result<()> {
    let v = match cmd {
        ProfileCmd::Set {
            name,
            bio,
            gender,
            birth_year,
            show_groups,
            hide_groups,
        } => {
            let update = ProfileUpdate {
                name,
                bio,
                gender,
                birth_year,
                show_groups,
                hide_groups,
            };
            if update == ProfileUpdate::default() {
                bail!("nothing to change: see `qun profile set --help`");
            }
            c.call(Call::set_profile(&update))?
        }
        ProfileCmd::Show { author } => c.call(Call::profile(author.as_deref()))?,
    };
    if out.json {
        return out.json(&v);
    }
    print_lines(&profile_lines(&v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::view;
    use serde_json::json;

    const GROUP: &str = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";

    fn args(target: &str, note: Option<&str>) -> JoinArgs {
        JoinArgs {
            target: target.to_owned(),
            note: note.map(str::to_owned),
            history: "all".to_owned(),
        }
    }

    #[test]
    fn a_group_id_is_a_group_and_anything_else_an_invite() {
        assert_eq!(JoinTarget::of(GROUP), JoinTarget::Group(GROUP.to_owned()));
        assert_eq!(
            JoinTarget::of(&format!(" {GROUP}\n")),
            JoinTarget::Group(GROUP.to_owned())
        );
        for invite in [
            "qun1qpzry9x8gf2tvdw0s3jn54khce6mua7l",
            "加入：qun1qpzry9x8gf2tvdw0s3jn54khce6mua7l。",
            "join us: QUN1QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
            // base58 but not 32 bytes: not a group id, so the daemon says what is wrong.
            "7xKXtg2CW87d97TX",
        ] {
            assert_eq!(
                JoinTarget::of(invite),
                JoinTarget::Invite(invite.to_owned())
            );
        }
    }

    #[test]
    fn join_bodies() {
        let b =
            serde_json::to_value(join_body(&args(GROUP, Some("hi, I hike too"))).unwrap()).unwrap();
        assert_eq!(
            b,
            json!({ "group": GROUP, "note": "hi, I hike too", "history": "all" })
        );
        let b = serde_json::to_value(join_body(&args("see qun1qpzry9x8", None)).unwrap()).unwrap();
        assert_eq!(b, json!({ "invite": "see qun1qpzry9x8", "history": "all" }));
        assert!(join_body(&args("qun1qpzry9x8", Some("note"))).is_err());
    }

    #[test]
    fn stats_in_one_line() {
        let v = json!({
            "members": 30, "active_7d": 12, "online": 5,
            "gender": { "female": 3, "male": 2, "other": 0, "based_on": 5 },
            "average_age": 31.5, "age_based_on": 4,
        });
        assert_eq!(
            stats_line(&view(v)),
            "members 30 · active (7 days) 12 · online 5 · gender: 3 female, 2 male, 0 other \
             (of 5 who share it) · average age 31.5 (of 4)"
        );
        let v = json!({ "members": 1, "average_age": null, "age_based_on": 0 });
        assert!(stats_line(&view(v)).ends_with("average age unknown (nobody shares a birth year)"));
    }

    #[test]
    fn hits_and_profiles_print() {
        let h = json!({
            "group": GROUP, "name": "周末爬山群", "description": "Saturday hikes",
            "tags": ["hiking", "爬山"], "members": 12, "visibility": "public",
        });
        assert_eq!(
            hit_lines(&view(h)),
            [
                format!("{GROUP}  周末爬山群  (public, 12 members)"),
                "    Saturday hikes".to_owned(),
                "    #hiking #爬山".to_owned(),
            ]
        );
        let p = json!({ "author": "12D3", "name": "Li", "gender": "female", "groups": [] });
        assert_eq!(
            profile_lines(&view(p)),
            ["name:    Li", "author:  12D3", "gender:  female"]
        );
    }
}
