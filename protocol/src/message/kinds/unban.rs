//! Tag 0x8014, `unban`: an admin lifts a ban. The key is not let back in: it may be
//! admitted again, and its join counts when sent in a later epoch than its removal. A
//! control op ([`Action::Unban`]): by an admin who outranks the target, not on itself.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::message::Verified;

use super::{Def, Preview};

/// The target of a `unban` op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unban {
    /// The target.
    pub member: AuthorId,
}

impl Def for Unban {
    const TAG: u16 = 0x8014;
    const NAME: &'static str = "unban";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Unban {
            member: self.member,
        }
    }

    fn fold(&self, state: &mut State, _msg: &Verified) {
        state.banned.remove(&self.member);
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("unbanned {}", self.member),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
