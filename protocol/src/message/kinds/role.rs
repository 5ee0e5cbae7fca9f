//! Tag 0x8010, `role`: the owner makes a member an admin, or an admin a member again. A
//! control op ([`Action::SetRole`]): only the owner, not on itself, to a member who is not
//! banned; the owner changes only by [`super::transfer`].

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Action, Role, State};
use crate::id::AuthorId;
use crate::message::{Error, Verified};

use super::{Def, Preview};

/// Sets a member's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetRole {
    /// The member.
    pub member: AuthorId,
    /// [`Role::Admin`] or [`Role::Member`].
    pub role: Role,
}

impl Def for SetRole {
    const TAG: u16 = 0x8010;
    const NAME: &'static str = "role";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    /// The role is admin or member.
    fn validate(&self) -> Result<(), Error> {
        if self.role == Role::Owner {
            return Err(Error::OwnerByRole);
        }
        Ok(())
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::SetRole {
            member: self.member,
            role: self.role,
        }
    }

    fn fold(&self, state: &mut State, _msg: &Verified) {
        if self.role == Role::Admin {
            state.admins.insert(self.member);
        } else {
            state.admins.remove(&self.member);
        }
    }

    fn preview(&self) -> Preview {
        Preview {
            text: format!("made {} {}", self.member, self.role.as_str()),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
