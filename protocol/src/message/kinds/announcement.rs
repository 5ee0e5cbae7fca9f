//! Tag 2, `announcement`: the group announcement (群公告), set by an admin; an empty text
//! clears it. A control op: the latest one in group order is the group's announcement.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{self, Action, State};
use crate::limits::MAX_ANNOUNCEMENT_BYTES;
use crate::message::{Error, Verified};

use super::{Def, Preview};

/// The group announcement (群公告); an empty text clears it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Announcement {
    /// The announcement text.
    pub text: String,
}

impl Def for Announcement {
    const TAG: u16 = 2;
    const NAME: &'static str = "announcement";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;
    const POST: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    /// At most [`MAX_ANNOUNCEMENT_BYTES`] bytes of text (none clears the announcement).
    fn validate(&self) -> Result<(), Error> {
        if self.text.len() > MAX_ANNOUNCEMENT_BYTES {
            return Err(Error::AnnouncementTooLong {
                len: self.text.len(),
                max: MAX_ANNOUNCEMENT_BYTES,
            });
        }
        Ok(())
    }

    fn action(&self, msg: &Verified) -> Action<'_> {
        Action::Announce {
            at: msg.order_key(),
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.announcement = (!self.text.is_empty()).then(|| group::Announcement {
            id: msg.id,
            author: msg.author(),
            text: self.text.clone(),
            timestamp_ms: msg.body.stamp.wall_ms(),
        });
    }

    fn preview(&self) -> Preview {
        Preview::text(self.text.clone())
    }
}
