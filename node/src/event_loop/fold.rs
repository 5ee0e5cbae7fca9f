//! Group state in the event loop: each control op stored is folded into its group's
//! [`State`] at once when it sorts after the last op folded ([`State::apply_next`]); one
//! that arrives out of order marks the group, whose stored control ops are folded again
//! from scratch once at the end of the loop iteration. The connection limits' bypass list
//! (members of private and listed groups) is refreshed once per iteration that folded.

use qun_protocol::group::State;
use qun_protocol::{GroupId, Kind, Verified};

use super::EventLoop;

impl EventLoop {
    /// Folds a control op just stored into its group's state: applied to the state as it
    /// is when it sorts after the last op folded (the same as folding every op again), and
    /// otherwise (it arrived out of order) the group is folded from scratch at the end of
    /// the loop iteration ([`Self::refold_dirty`]).
    pub(crate) fn fold_op(&mut self, msg: &Verified) {
        let group = msg.body.group;
        self.folded = true;
        // Said once per group and run (then counted in `State::unknown_control_ops`).
        if let Kind::Unknown { tag, .. } = &msg.body.kind
            && self
                .groups
                .get(&group)
                .is_some_and(|rt| rt.state.unknown_control_ops == 0)
        {
            tracing::warn!(%group, tag, id = %msg.id, "a control op of a kind this version \
                does not know: the group's state may be incomplete (members, rights); upgrade qun");
        }
        if self.dirty.contains(&group) {
            return;
        }
        let in_order = self
            .groups
            .get_mut(&group)
            .is_some_and(|rt| rt.state.apply_next(msg).is_ok());
        if !in_order {
            self.dirty.insert(group);
        }
    }

    /// Folds again from scratch the state of groups that got control ops out of order, once
    /// per loop iteration however many ops arrived (a sync page may carry hundreds), and
    /// refreshes the bypass list if any control op was folded.
    pub(super) fn refold_dirty(&mut self) {
        if self.dirty.is_empty() && !self.folded {
            return;
        }
        self.folded = false;
        self.refold_groups();
        self.refresh_trusted();
    }

    fn refold_groups(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            self.refold(id);
        }
    }

    /// Folds one group's state from scratch, from its stored control ops.
    pub(crate) fn refold(&mut self, id: GroupId) {
        let ops = match self.store.control_ops(&id) {
            Ok(ops) => ops,
            Err(e) => {
                tracing::error!(group = %id, error = %e, "could not fold group state");
                return;
            }
        };
        if let Some(rt) = self.groups.get_mut(&id) {
            rt.state = State::fold(&rt.record.genesis.genesis, &ops);
        }
    }
}
