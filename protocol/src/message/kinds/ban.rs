//! Tag 0x8013, `ban`: an admin bans a key (the owner, an admin's too): it is taken out if
//! it is a member, cannot join nor be admitted until an unban, and the group is due a
//! re-key if it was a member. A control op ([`Action::Ban`]): by an admin who outranks the
//! target, not on itself.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// The target of a `ban` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// The target.
    pub member: AuthorId,
}

impl Def for Ban {
    const TAG: u16 = 0x8013;
    const NAME: &'static str = "ban";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Ban {
            member: self.member,
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.banned.insert(self.member);
        state.put_out(self.member, msg.order_key(), Mark::Banned);
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("banned {}", self.member),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
