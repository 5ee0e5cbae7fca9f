//! Tag 3, `join`: a member says it joined. A control op, taken from anyone who holds the
//! group's secret; it makes its author a member unless a later leave of theirs is folded.
//! A banned key's join is refused, and so is the join of a removed or banned member sent in
//! an epoch no later than the one it was removed in ([`Action::Join`]).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// A member says they joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    /// Who invited them, if known.
    pub inviter: Option<AuthorId>,
}

impl Def for Join {
    const TAG: u16 = 3;
    const NAME: &'static str = "join";
    const CONTROL: bool = true;
    const MEMBERSHIP: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, msg: &Verified) -> Action<'_> {
        Action::Join {
            epoch: msg.body.epoch,
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        let author = msg.author();
        state.mark(author, msg.order_key(), Mark::Joined);
        if !state.has_left(&author) {
            state.members.insert(author);
        }
    }

    fn preview(&self) -> Preview {
        Preview::text("joined the group")
    }
}
