//! Tag 3, `join`: a member says it joined. A control op, taken from anyone who holds the
//! group's secret; it makes its author a member unless a later leave of theirs is folded.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Applied, State};
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

    fn fold(&self, state: &mut State, msg: &Verified) -> Applied {
        let author = msg.author();
        state
            .membership
            .entry(author)
            .or_default()
            .insert(msg.order_key(), true);
        if !state.has_left(&author) {
            state.members.insert(author);
        }
        Applied::Ok
    }

    fn preview(&self) -> Preview {
        Preview::text("joined the group")
    }
}
