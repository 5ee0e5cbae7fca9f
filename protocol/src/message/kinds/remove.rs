//! Tag 0x8012, `remove`: an admin takes a member out of the group (the owner, an admin
//! too); the group is due a re-key ([`crate::group::rekey`]). The target may come back only
//! by a new admission in a later epoch. A control op ([`Action::Remove`]): by an admin who
//! outranks the target, not on itself.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// The target of a `remove` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remove {
    /// The target.
    pub member: AuthorId,
}

impl Def for Remove {
    const TAG: u16 = 0x8012;
    const NAME: &'static str = "remove";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Remove {
            member: self.member,
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.put_out(self.member, msg.order_key(), Mark::Removed);
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("removed {}", self.member),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
