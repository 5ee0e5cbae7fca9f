//! `qun`: the daemon and its command-line client.
//!
//! `qun daemon` runs a node and serves the local API; every other command is a client of
//! that API (found through `DATA_DIR/api.json`) through qun-api's typed [`Client`], except
//! `qun demo`, which runs a few nodes in this process to show qun working with no set-up.
//! `daemon` and `demo` are the only commands that use qun-node.

mod daemon;
mod demo;
mod discover;
mod moderate;
mod output;
mod sync;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;

use std::io::Write as _;

use clap::{Args, Parser, Subcommand};
use qun_api::{Call, Client, request};

/// qun: peer-to-peer group chat. Groups live on their members' machines and nowhere else.
#[derive(Parser, Debug)]
#[command(name = "qun", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The node's data directory (identity, store, API file). Default: the platform's data
    /// dir + /qun.
    #[arg(long, env = "QUN_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    /// More logging (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
}

impl Global {
    fn data_dir(&self) -> PathBuf {
        self.data_dir.clone().unwrap_or_else(|| {
            dirs::data_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("qun")
        })
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the node: join the network, keep groups and history, serve the local API.
    Daemon(daemon::DaemonArgs),
    /// Show this node's peer id (also its author id) and addresses.
    Id,
    /// Show connected peers.
    Peers,
    /// Create, join, list, inspect, invite to and leave groups; join requests and stats;
    /// roles, moderation and the moderation log.
    #[command(subcommand)]
    Group(GroupCmd),
    /// Search the network for public and listed groups by name or tag; best first.
    Search(discover::SearchArgs),
    /// Set or show a profile (name, bio, gender, birth year, groups shown).
    #[command(subcommand)]
    Profile(discover::ProfileCmd),
    /// Send a text message to a group (printed once it is stored).
    Send {
        /// Group id or name.
        group: String,
        /// The text.
        text: String,
        /// Id of the message this replies to: the full id, or its last characters as
        /// `history` prints them after `#`.
        #[arg(long)]
        reply_to: Option<String>,
    },
    /// Set the group announcement (group admins only).
    Announce {
        /// Group id or name.
        group: String,
        /// The announcement text.
        text: String,
    },
    /// Sync a group's history with connected members now, with a progress bar when much
    /// is missing; waits until the syncs finish.
    Sync {
        /// Group id or name.
        group: String,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 600)]
        timeout_secs: u64,
    },
    /// Show a group's history in group order.
    History {
        /// Group id or name.
        group: String,
        /// How many messages (the newest ones).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only messages before this message id (for paging back): the full id, or its last
        /// characters as printed after `#`.
        #[arg(long)]
        before: Option<String>,
    },
    /// Print new messages as they arrive (all groups, or one).
    Watch {
        /// Group id or name.
        group: Option<String>,
    },
    /// Print a one-time login URL for the web app (works once, within 2 minutes).
    Ui {
        /// Also open it in the browser (xdg-open or open).
        #[arg(long)]
        open: bool,
    },
    /// Run three nodes in this process, chat in a group, print what each saw, exit.
    Demo(demo::DemoArgs),
    #[command(flatten)]
    Pins(moderate::PinCmd),
}

#[derive(Subcommand, Debug)]
enum GroupCmd {
    /// Create a group; prints its id and an invite code.
    Create {
        /// The group name (any language).
        name: String,
        /// A description.
        #[arg(long, default_value = "")]
        description: String,
        /// A search tag (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// public, listed or private.
        #[arg(long, default_value = "private")]
        visibility: String,
    },
    /// Make an invite code for a group.
    ///
    /// By default a short code (quns1…, 39 characters) that names an encrypted record in
    /// the DHT; the joiner's node must reach the DHT. --long gives the self-contained code
    /// (qun1…, several hundred characters) that carries the inviter's addresses and works
    /// without the DHT. When no DHT peer can store a short code, the long one is printed,
    /// with a note on stderr saying why.
    Invite {
        /// Group id or name.
        group: String,
        /// How long it stays valid: e.g. 30m, 12h, 7d.
        #[arg(long, default_value = "7d")]
        expires: String,
        /// The long, self-contained code (works without the DHT).
        #[arg(long)]
        long: bool,
        /// Also draw it as a QR code in the terminal.
        #[arg(long)]
        qr: bool,
    },
    /// Join a group with an invite code, or by a group id from `qun search`.
    ///
    /// Pasted text around an invite code is fine. By group id, a public group is joined at
    /// once, and a listed one once an admin approves the request (`--note` goes with it).
    Join(discover::JoinArgs),
    /// List joined groups.
    List,
    /// Show a group: name, topic, epoch, members, mesh peers, announcement, admins, muted,
    /// banned, pins.
    Info {
        /// Group id or name.
        group: String,
    },
    /// Leave a group and delete its local history.
    Leave {
        /// Group id or name.
        group: String,
    },
    /// List the join requests of a listed group you administer.
    Requests {
        /// Group id or name.
        group: String,
    },
    /// Approve a join request: the requester gets the group key and joins.
    Approve {
        /// Group id or name.
        group: String,
        /// The requester's author id (from `qun group requests`).
        author: String,
    },
    /// Reject a join request.
    Reject {
        /// Group id or name.
        group: String,
        /// The requester's author id (from `qun group requests`).
        author: String,
    },
    /// A group's persona: members, active in 7 days, online, gender ratio and average age
    /// (of the members whose profiles share them).
    Stats {
        /// Group id or name.
        group: String,
    },
    #[command(flatten)]
    Moderate(moderate::GroupModCmd),
}

fn init_tracing(verbose: u8, default: &str) {
    let level = match verbose {
        0 => default,
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: a log redirected to a file stays plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Daemon(args) => {
            init_tracing(cli.global.verbose, "info");
            daemon::run(&cli.global, args)
        }
        Cmd::Demo(args) => {
            init_tracing(cli.global.verbose, "warn");
            demo::run(&cli.global, args)
        }
        cmd => {
            init_tracing(cli.global.verbose, "warn");
            run_client(&cli.global, cmd)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`qun history G | head -1`): nothing more to say.
        Err(e) if e.downcast_ref::<output::StdoutClosed>().is_some() => ExitCode::SUCCESS,
        Err(e) => {
            // Errors quote text from others (names, notes): escaped like every other line.
            let text = qun_protocol::text::escape(&format!("{e:#}")).into_owned();
            let _ = writeln!(std::io::stderr(), "qun: {text}");
            ExitCode::FAILURE
        }
    }
}

fn run_client(g: &Global, cmd: Cmd) -> anyhow::Result<()> {
    let c = Client::connect(&g.data_dir())?;
    let out = output::Out { json: g.json };
    match cmd {
        Cmd::Id => out.id(&c.call(Call::id())?),
        Cmd::Peers => out.peers(&c.call(Call::peers())?),
        Cmd::Send {
            group,
            text,
            reply_to,
        } => {
            let reply_to = match reply_to {
                Some(id) => Some(full_message_id(&c, &group, &id)?),
                None => None,
            };
            out.id_line(&c.call(Call::send(
                &group,
                &request::Send {
                    text,
                    reply_to,
                    mentions: Vec::new(),
                },
            ))?)
        }
        Cmd::Announce { group, text } => {
            out.id_line(&c.call(Call::announce(&group, &request::Announce { text }))?)
        }
        Cmd::History {
            group,
            limit,
            before,
        } => {
            let before = match before {
                Some(id) => Some(full_message_id(&c, &group, &id)?),
                None => None,
            };
            out.history(&c.call(Call::history(&group, limit, before.as_deref()))?)
        }
        Cmd::Sync {
            group,
            timeout_secs,
        } => sync::run(
            &c,
            &out,
            &group,
            std::time::Duration::from_secs(timeout_secs),
        ),
        Cmd::Watch { group } => {
            // Watching every group, each line says which group it is from.
            let mut labels = output::GroupLabels::new(group.is_none());
            if group.is_none() {
                labels.learn(&c.call(Call::groups())?);
            }
            for ev in c.events(group.as_deref())? {
                let ev = ev?;
                if labels.missing(&ev) {
                    // A group joined since the watch began: ask for the names again.
                    labels.learn(&c.call(Call::groups())?);
                }
                out.event(&ev, &labels)?;
            }
            Ok(())
        }
        Cmd::Group(gc) => run_group(&c, &out, gc),
        Cmd::Search(args) => discover::search(&c, &out, &args),
        Cmd::Profile(pc) => discover::profile(&c, &out, pc),
        Cmd::Ui { open } => ui::run(&c, &out, open),
        Cmd::Pins(pc) => moderate::pin(&c, &out, pc),
        Cmd::Daemon(_) | Cmd::Demo(_) => unreachable_cmd(),
    }
}

/// Characters of a full message id (base58 of 32 bytes) at the least.
const FULL_ID_MIN_CHARS: usize = 40;
/// Messages searched, newest first, for the message a short id names.
const SHORT_ID_SEARCH: usize = 10_000;
/// Messages per history page while searching.
const SHORT_ID_PAGE: usize = 1_000;

/// The full id of the message `given` names in `group`: `given` itself when it is a full
/// id, else the one message among the group's last [`SHORT_ID_SEARCH`] whose id ends with
/// `given` (what `history` and `watch` print after `#`). Errors: none or several match.
pub(crate) fn full_message_id(c: &Client, group: &str, given: &str) -> anyhow::Result<String> {
    let given = given.trim().trim_start_matches('#');
    if given.chars().count() >= FULL_ID_MIN_CHARS {
        return Ok(given.to_owned());
    }
    if given.chars().count() < 4 {
        anyhow::bail!("message id {given:?} is too short: give at least 4 of its last characters");
    }
    let mut found: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    let mut seen = 0;
    while seen < SHORT_ID_SEARCH {
        let page = c.call(Call::history(group, SHORT_ID_PAGE, before.as_deref()))?;
        let Some(oldest) = page.first() else { break };
        before = Some(oldest.id.clone());
        seen += page.len();
        found.extend(
            page.iter()
                .filter(|m| m.id.ends_with(given))
                .map(|m| m.id.clone()),
        );
        if page.len() < SHORT_ID_PAGE {
            break;
        }
    }
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => anyhow::bail!(
            "no message id ends with {given:?} among the last {seen} messages of {group}: \
             give the full id (`qun --json history {group}`)"
        ),
        _ => anyhow::bail!(
            "{} messages of {group} have ids ending with {given:?}: give more characters or \
             the full id",
            found.len()
        ),
    }
}

fn unreachable_cmd() -> anyhow::Result<()> {
    anyhow::bail!("internal: command dispatched to the wrong handler")
}

fn run_group(c: &Client, out: &output::Out, gc: GroupCmd) -> anyhow::Result<()> {
    match gc {
        GroupCmd::Create {
            name,
            description,
            tags,
            visibility,
        } => {
            let visibility: qun_api::Visibility = visibility.parse()?;
            let req = request::CreateGroup {
                name,
                description,
                tags,
                visibility,
            };
            out.created(&c.call(Call::create_group(&req))?)
        }
        GroupCmd::Invite {
            group,
            expires,
            long,
            qr,
        } => {
            let req = request::Invite {
                expires_secs: Some(parse_duration(&expires)?),
                long,
            };
            out.invite(&c.call(Call::invite(&group, &req))?, qr)
        }
        GroupCmd::Join(args) => discover::join(c, out, &args),
        GroupCmd::List => out.groups(&c.call(Call::groups())?),
        GroupCmd::Info { group } => out.group_info(&c.call(Call::group_info(&group))?),
        GroupCmd::Leave { group } => out.left(&c.call(Call::leave(&group))?),
        GroupCmd::Requests { group } => discover::requests(c, out, &group),
        GroupCmd::Approve { group, author } => discover::decide(c, out, &group, &author, true),
        GroupCmd::Reject { group, author } => discover::decide(c, out, &group, &author, false),
        GroupCmd::Stats { group } => discover::stats(c, out, &group),
        GroupCmd::Moderate(mc) => moderate::group(c, out, mc),
    }
}

/// Parses `30s`, `30m`, `12h`, `7d` into seconds; a number without a unit is an error.
pub fn parse_duration(s: &str) -> anyhow::Result<u64> {
    const HINT: &str = "use a number and a unit: s, m, h or d (e.g. 30m, 12h, 7d)";
    let s = s.trim();
    let (num, mult) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        Some('d') => (&s[..s.len() - 1], 86_400),
        // A bare number is refused: `--expires 7` meant 7 days more often than 7 seconds.
        _ => anyhow::bail!("bad duration {s:?}: {HINT}"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("bad duration {s:?}: {HINT}"))?;
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| anyhow::anyhow!("bad duration {s:?}: it must be more than 0; {HINT}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("7d").unwrap(), 7 * 86_400);
        assert_eq!(parse_duration("30m").unwrap(), 1800);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        let bare = parse_duration("7").unwrap_err().to_string();
        assert!(bare.contains("unit"), "{bare}");
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("xd").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn group_join_takes_an_invite_or_a_group_id() {
        let id = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU";
        let cli = Cli::try_parse_from(["qun", "group", "join", id, "--note", "hi"]).unwrap();
        let Cmd::Group(GroupCmd::Join(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            serde_json::to_value(discover::join_body(&args).unwrap()).unwrap(),
            serde_json::json!({ "group": id, "note": "hi", "history": "all" })
        );
        let cli =
            Cli::try_parse_from(["qun", "group", "join", "qun1abc", "--history", "since-join"])
                .unwrap();
        let Cmd::Group(GroupCmd::Join(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(
            serde_json::to_value(discover::join_body(&args).unwrap()).unwrap(),
            serde_json::json!({ "invite": "qun1abc", "history": "since-join" })
        );
    }

    #[test]
    fn search_takes_several_words_and_json_anywhere() {
        let cli = Cli::try_parse_from(["qun", "search", "爬山", "hiking", "--json"]).unwrap();
        assert!(cli.global.json);
        let Cmd::Search(args) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.query, ["爬山", "hiking"]);
        assert!(Cli::try_parse_from(["qun", "search"]).is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
