//! Tag 4, `leave`: a member says it left. A control op with no payload (the payload is
//! zero bytes on the wire). The owner cannot leave: its leave has no effect (it hands the
//! group on first, [`super::transfer`]). An admin who leaves is no longer one. A member's
//! leave makes the group due a re-key, as a removal does ([`crate::group::rekey`]).

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::message::Verified;

use super::{Def, Preview};

/// A member left. [`crate::message::Kind::Leave`] carries no value; this is its [`Def`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leave;

impl Def for Leave {
    const TAG: u16 = 4;
    const NAME: &'static str = "leave";
    const CONTROL: bool = true;
    const MEMBERSHIP: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        Ok(Vec::new())
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        if payload.is_empty() {
            Ok(Leave)
        } else {
            Err(codec::Error::Malformed("leave carries no payload".into()))
        }
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Leave
    }

    /// A member that leaves still holds the current epoch's secret: the group is due a
    /// re-key ([`State::rekey_due`]), as after a removal (the admins' nodes coalesce the
    /// leaves of a burst into one re-key).
    fn fold(&self, state: &mut State, msg: &Verified) {
        let author = msg.author();
        if author != state.owner {
            state.mark(author, msg.order_key(), Mark::Left);
            if state.has_left(&author) {
                let was_member = state.members.remove(&author);
                state.admins.remove(&author);
                state.rekey_due |= was_member;
            }
        }
    }

    fn preview(&self) -> Preview {
        Preview::text("left the group")
    }
}
