//! Tag 0x8017, `pin`: an admin pins a message. A control op ([`Action::Pin`]): by an
//! admin; a message not pinned yet, while the group has fewer than
//! [`crate::limits::MAX_PINS`] pins. The id is not checked against the store: a pin of a
//! message a node lacks shows once sync brings it.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::Pin as Pinned;
use crate::group::{Action, State};
use crate::id::MsgId;
use crate::message::Verified;

use super::{Def, Preview};

/// The message of a `pin` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The message.
    pub id: MsgId,
}

impl Def for Pin {
    const TAG: u16 = 0x8017;
    const NAME: &'static str = "pin";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Pin { id: self.id }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.pins.push(Pinned {
            id: self.id,
            by: msg.author(),
        });
    }

    fn preview(&self) -> Preview {
        Preview::text(format!("pinned message {}", self.id))
    }
}
