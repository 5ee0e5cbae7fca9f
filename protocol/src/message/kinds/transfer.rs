//! Tag 0x8011, `transfer`: the owner hands the group to a member, and stays an admin. A
//! control op ([`Action::Transfer`]): only the owner, to a member who is not banned, not to
//! itself. Every right of the owner moves with it; a mute of the new owner ends (no one
//! outranks it).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// Hands the group to another member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The next owner.
    pub to: AuthorId,
}

impl Def for Transfer {
    const TAG: u16 = 0x8011;
    const NAME: &'static str = "transfer";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Transfer { to: self.to }
    }

    /// The new owner stops being an admin and, since no one outranks it, muted.
    fn fold(&self, state: &mut State, msg: &Verified) {
        let old = std::mem::replace(&mut state.owner, self.to);
        state.admins.remove(&self.to);
        state.admins.insert(old);
        if state.muted.remove(&self.to).is_some() {
            state.mark(self.to, msg.order_key(), Mark::Unmuted);
        }
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("handed the group to {}", self.to),
            mentions: vec![self.to],
            ..Preview::default()
        }
    }
}
