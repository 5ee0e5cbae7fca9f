//! What a finished page and a finished sync leave behind: the page opened and stored, the
//! sync's figures, and where a history since join starts.

use std::collections::HashMap;

use qun_protocol::frame;
use qun_protocol::sync::session::Stats;
use qun_protocol::{GroupId, MessageKey, OrderKey, Stamp, Verified};

use super::super::EventLoop;
use crate::net::PeerId;

/// Pages at least this long are opened on two threads.
const PARALLEL_OPEN_FROM: usize = 64;

impl EventLoop {
    /// Stores a checked page; returns how many of its messages were new. Control ops
    /// first, folded at once, so a rejoin in this page admits the posts after it (`accept`
    /// refuses posts of a member who left).
    pub(super) fn store_page(&mut self, group: GroupId, page: &[Verified]) -> usize {
        let (control, rest): (Vec<&Verified>, Vec<&Verified>) =
            page.iter().partition(|m| m.body.kind.is_control());
        let mut new = self.accept_all(&control);
        if self.groups.dirty.remove(&group) {
            self.refold(group);
        }
        new += self.accept_all(&rest);
        new
    }

    /// Stores each synced message that is new and admitted; returns how many were stored.
    fn accept_all(&mut self, msgs: &[&Verified]) -> usize {
        let mut new = 0;
        for msg in msgs {
            match self.accept(msg) {
                Ok(true) => new += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(error = %e, "could not store a synced message"),
            }
        }
        new
    }

    pub(super) fn finish_sync(&mut self, peer: PeerId, group: GroupId, s: Stats) {
        tracing::debug!(
            %peer, %group, rounds = s.rounds, found = s.found, fetched = s.fetched,
            held_back = s.held_back, ms = s.elapsed.as_millis() as u64, "sync done"
        );
        self.settle_history_bound(group, s.lowest, s.skipped);
        let stats = self.sync.stats.entry(group).or_default();
        stats.completed += 1;
        stats.last_ms = Some(super::super::now_ms());
        stats.last_fetched = s.fetched;
        stats.last_rounds = s.rounds;
        stats.last_peer = Some(peer);
    }

    /// After the first sync of a group joined with history since join, its history starts at
    /// the millisecond of the lowest key that sync brought or, if it brought none, just above
    /// the highest key it skipped: later syncs reconcile only from there.
    fn settle_history_bound(
        &mut self,
        group: GroupId,
        lowest: Option<OrderKey>,
        skipped: Option<OrderKey>,
    ) {
        let Some(rt) = self.groups.get_mut(&group) else {
            return;
        };
        let Some(mut from) = rt.history else {
            return;
        };
        if from.bound.is_some() {
            return;
        }
        // Skipped keys are all older than fetched ones (the filter is a time), so the
        // lowest fetched key's millisecond is above every skipped key.
        from.bound = match (lowest, skipped) {
            (Some(low), _) => Some(OrderKey::at(Stamp::new(low.stamp.ms, 0))),
            (None, Some(high)) => Some(OrderKey::at(high.stamp.successor())),
            (None, None) => return,
        };
        rt.history = Some(from);
        if let Err(e) = self.store.put_history_from(&group, &from) {
            tracing::warn!(error = %e, "could not record where the history starts");
        }
    }
}

/// Opens every frame of a fetched page; all must be valid, or the page is refused whole
/// (the reason names the first fault). Frames sealed with an epoch key we lack are left
/// out. Long pages are opened on two threads: signature checks are most of a catch-up's
/// cost.
pub(super) fn open_page(
    frames: &[Vec<u8>],
    group: &GroupId,
    keys: &HashMap<u64, MessageKey>,
) -> Result<Vec<Verified>, String> {
    let open_all = |chunk: &[Vec<u8>]| -> Result<Vec<Verified>, String> {
        let mut out = Vec::with_capacity(chunk.len());
        for bytes in chunk {
            match frame::open(bytes, group, |e| keys.get(&e).cloned()) {
                Ok(m) => out.push(m),
                Err(e) if !e.is_sender_fault() => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(out)
    };
    if frames.len() < PARALLEL_OPEN_FROM {
        return open_all(frames);
    }
    let (left, right) = frames.split_at(frames.len() / 2);
    let (a, b) = std::thread::scope(|s| {
        let handle = s.spawn(|| open_all(right));
        let a = open_all(left);
        let b = handle
            .join()
            .unwrap_or_else(|_| Err("frame check panicked".into()));
        (a, b)
    });
    let mut page = a?;
    page.extend(b?);
    Ok(page)
}
