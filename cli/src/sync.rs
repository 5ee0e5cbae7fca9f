//! `qun sync GROUP`: start a sync with connected members and follow it to the end, with a
//! progress bar when much is missing.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::client::{self, Client};
use crate::outln;
use crate::output::Out;

/// Above this many missing messages a progress bar is drawn.
const BAR_FROM: u64 = 100;
/// How often the group's sync state is read.
const POLL: Duration = Duration::from_millis(200);

fn field(v: &Value, k: &str) -> u64 {
    v["sync"][k].as_u64().unwrap_or(0)
}

/// Runs the command.
pub fn run(c: &Client, out: &Out, group: &str, timeout: Duration) -> anyhow::Result<()> {
    let path = format!("/v1/groups/{}", client::seg(group));
    let before = c.get(&path)?;
    let started = c.post(&format!("{path}/sync"), &serde_json::json!({}))?;
    if started["running"].as_u64().unwrap_or(0) == 0 {
        anyhow::bail!("no member of this group is connected: nothing to sync with");
    }
    let deadline = Instant::now() + timeout;
    let mut bar: Option<ProgressBar> = None;
    let info = loop {
        std::thread::sleep(POLL);
        let info = c.get(&path)?;
        let (pending, fetched) = (field(&info, "pending"), field(&info, "fetched"));
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
        if field(&info, "running") == 0 {
            break info;
        }
        if Instant::now() > deadline {
            anyhow::bail!("sync still running after {}s", timeout.as_secs());
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let count = |v: &Value| v["messages"].as_u64().unwrap_or(0);
    let new = count(&info).saturating_sub(count(&before));
    if out.json {
        let v = serde_json::json!({
            "group": info["group"], "new": new, "messages": count(&info), "sync": info["sync"],
        });
        outln!("{}", serde_json::to_string_pretty(&v)?)
    } else {
        outln!(
            "synced {}: {new} new messages, {} in all",
            qun_protocol::text::escape(info["name"].as_str().unwrap_or(group)),
            count(&info)
        )
    }
}
