//! `qun sync GROUP`: start a sync with connected members and follow it to the end, with a
//! progress bar when much is missing.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use qun_api::view::SyncView;
use qun_api::{Call, Client};

use crate::outln;
use crate::output::Out;

/// Above this many missing messages a progress bar is drawn.
const BAR_FROM: u64 = 100;
/// How often the group's sync state is read.
const POLL: Duration = Duration::from_millis(200);

/// Messages still to fetch and fetched so far by the running syncs.
fn progress(s: &SyncView) -> (u64, u64) {
    (s.pending as u64, s.fetched as u64)
}

/// Runs the command.
pub fn run(c: &Client, out: &Out, group: &str, timeout: Duration) -> anyhow::Result<()> {
    let before = c.call(Call::group_info(group))?;
    let started = c.call(Call::sync(group))?;
    if started.running == 0 {
        anyhow::bail!("no member of this group is connected: nothing to sync with");
    }
    let deadline = Instant::now() + timeout;
    let mut bar: Option<ProgressBar> = None;
    let info = loop {
        std::thread::sleep(POLL);
        let info = c.call(Call::group_info(group))?;
        let (pending, fetched) = progress(&info.sync);
        if !out.json && bar.is_none() && pending + fetched >= BAR_FROM {
            let b = ProgressBar::new(pending + fetched);
            b.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} messages ({per_sec}, {eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar = Some(b);
        }
        if let Some(b) = &bar {
            b.set_length(pending + fetched);
            b.set_position(fetched);
        }
        if info.sync.running == 0 {
            break info;
        }
        if Instant::now() > deadline {
            anyhow::bail!("sync still running after {}s", timeout.as_secs());
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let new = info.messages.saturating_sub(before.messages);
    if out.json {
        let v = serde_json::json!({
            "group": info.group, "new": new, "messages": info.messages, "sync": info.sync,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)
    } else {
        outln!(
            "synced {}: {new} new messages, {} in all",
            qun_protocol::text::escape(&info.name),
            info.messages
        )
    }
}
