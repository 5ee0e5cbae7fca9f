//! Tag 0x8018, `unpin`: an admin unpins a message. A control op ([`Action::Unpin`]): by an
//! admin; a message that is pinned.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Action, State};
use crate::id::MsgId;
use crate::message::Verified;

use super::{Def, Preview};

/// The message of a `unpin` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unpin {
    /// The message.
    pub id: MsgId,
}

impl Def for Unpin {
    const TAG: u16 = 0x8018;
    const NAME: &'static str = "unpin";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Unpin { id: self.id }
    }

    fn fold(&self, state: &mut State, _msg: &Verified) {
        state.pins.retain(|p| p.id != self.id);
    }

    fn preview(&self) -> Preview {
        Preview::text(format!("unpinned message {}", self.id))
    }
}
