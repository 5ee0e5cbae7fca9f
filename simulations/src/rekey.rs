//! Issue 13's re-keying figure: in a group of N simulated nodes, the time from an admin's
//! removal of one member until every remaining member is on the new epoch.
//!
//! The owner (node 0) removes the last node. Its node posts the remove, then the re-key
//! sealed to the N − 2 others; each member's node folds the re-key, opens its secret and
//! subscribes to the new topic ([`qun_node`]'s `event_loop/rekey.rs`). The runner polls
//! every remaining node's `group info` until its epoch is the new one, and records when
//! each got there.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::runner::Runner;

/// How often each node's epoch is looked at.
const POLL: Duration = Duration::from_millis(20);

/// What one removal cost.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Members that had to move (the group minus the owner's removed target).
    pub members: usize,
    /// Time from the remove command until each member was on the new epoch, sorted.
    pub times: Vec<Duration>,
}

impl Figure {
    /// The `p`-th percentile (0..=100) of the times.
    pub fn percentile(&self, p: usize) -> Duration {
        if self.times.is_empty() {
            return Duration::ZERO;
        }
        let i = (self.times.len() - 1) * p.min(100) / 100;
        self.times[i]
    }
}

impl Runner {
    /// Has the owner remove the last node and waits (at most `timeout`) until every other
    /// node is in a later epoch than before.
    pub async fn rekey_after_removal(&self, timeout: Duration) -> anyhow::Result<Figure> {
        let group = self.group()?;
        let n = self.node_count();
        anyhow::ensure!(n >= 3, "needs at least 3 nodes");
        let owner = self.node(0)?;
        let before = owner.group_info(group).await?.epoch;
        let target = self.node(n - 1)?.author().to_string();
        let start = Instant::now();
        owner
            .remove(group, &target)
            .await
            .context("the owner removing the last node")?;
        let mut waiting: Vec<usize> = (0..n - 1).collect();
        let mut times = Vec::with_capacity(n - 1);
        while !waiting.is_empty() {
            anyhow::ensure!(
                start.elapsed() < timeout,
                "{} of {} members not on the new epoch after {timeout:?}",
                waiting.len(),
                n - 1
            );
            let mut rest = Vec::with_capacity(waiting.len());
            for i in waiting {
                let info = self.node(i)?.group_info(group).await?;
                if info.epoch > before {
                    times.push(start.elapsed());
                } else {
                    rest.push(i);
                }
            }
            waiting = rest;
            tokio::time::sleep(POLL).await;
        }
        times.sort();
        Ok(Figure {
            members: n - 1,
            times,
        })
    }
}
