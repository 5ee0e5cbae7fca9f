//! Tag 0x8019, `rekey`: an admin starts the next epoch, its secret sealed to each remaining
//! member ([`crate::group::rekey`]). A control op ([`Action::Rekey`]): by an admin, to the
//! current epoch plus one (the first such re-key in group order wins), sealed to members
//! only.

use crate::codec;
use crate::group::rekey::Rekey;
use crate::group::{Action, State};
use crate::message::{Error, Verified};

use super::{Def, Preview};

impl Def for Rekey {
    const TAG: u16 = 0x8019;
    const NAME: &'static str = "rekey";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    /// Epoch above 0, at most [`crate::group::rekey::MAX_REKEY_RECIPIENTS`] recipients,
    /// sorted ([`Rekey::validate`]).
    fn validate(&self) -> Result<(), Error> {
        Ok(Rekey::validate(self)?)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Rekey(self)
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.epoch = self.epoch;
        state.epoch_op = Some(msg.id);
        state.epoch_starts.insert(self.epoch, msg.order_key());
        state.rekey_due = false;
    }

    fn preview(&self) -> Preview {
        Preview::text(format!(
            "started epoch {} for {} members",
            self.epoch,
            self.sealed.to.len()
        ))
    }
}
