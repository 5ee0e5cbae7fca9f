//! Tag 0x8015, `mute`: an admin mutes a member (the owner, an admin too), for a duration
//! or until an unmute. A control op ([`Action::Mute`]): by an admin who outranks the
//! target, not on itself, on a member. The mute ends at the op's stamp plus the duration;
//! a post by the member after the mute in group order, stamped before that end, is refused
//! by every node (the stamps are in the messages, so no node reads its own clock).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::state::{Mark, Mute as Muted};
use crate::group::{Action, State};
use crate::id::AuthorId;
use crate::limits::MAX_MUTE_MS;
use crate::message::{Error, Verified};

use super::{Def, Preview};

/// Mutes a member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mute {
    /// The member.
    pub member: AuthorId,
    /// How long, in ms (1..=[`MAX_MUTE_MS`]); `None` until an unmute.
    pub duration_ms: Option<u64>,
}

impl Def for Mute {
    const TAG: u16 = 0x8015;
    const NAME: &'static str = "mute";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    /// A duration, if any, of 1..=[`MAX_MUTE_MS`] ms.
    fn validate(&self) -> Result<(), Error> {
        match self.duration_ms {
            Some(ms) if ms == 0 || ms > MAX_MUTE_MS => Err(Error::MuteDuration {
                ms,
                max: MAX_MUTE_MS,
            }),
            _ => Ok(()),
        }
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::Mute {
            member: self.member,
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        let until_ms = self
            .duration_ms
            .map(|d| msg.body.stamp.wall_ms().saturating_add(d));
        let by = msg.author();
        state.muted.insert(self.member, Muted { by, until_ms });
        state.mark(self.member, msg.order_key(), Mark::Muted { until_ms });
    }

    fn preview(&self) -> Preview {
        let how_long = match self.duration_ms {
            Some(ms) => format!("for {} s", ms / 1000),
            None => "until unmuted".into(),
        };
        Preview {
            text: format!("muted {} {how_long}", self.member),
            mentions: vec![self.member],
            ..Preview::default()
        }
    }
}
