//! Tag 0x8016, `unmute`: an admin lifts a member's mute (the owner, an admin's). A control
//! op ([`Action::Unmute`]): by an admin who outranks the target, not on itself.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Mark;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// The target of a `unmute` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unmute {
    /// The target.
    pub member: AuthorId,
}

impl Def for Unmute {
    const TAG: u16 = 0x8016;
    const NAME: &'static str = "unmute";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Unmute {
            member: self.member,
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.muted.remove(&self.member);
        state.mark(self.member, msg.order_key(), Mark::Unmuted);
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("unmuted {}", self.member),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
