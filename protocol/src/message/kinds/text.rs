//! Tag 1, `text`: a chat message. Not a control op; folding one only records its author as
//! a member (what a group learns from a post by someone whose join it lacks).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Action, State};
use crate::id::{AuthorId, MsgId};
use crate::limits::{MAX_MENTIONS, MAX_TEXT_BYTES};
use crate::message::{Error, Verified};

use super::{Def, Preview};

/// A text message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    /// The text, 1..=`MAX_TEXT_BYTES` bytes of UTF-8.
    pub text: String,
    /// The message this one replies to.
    pub reply_to: Option<MsgId>,
    /// Members mentioned.
    pub mentions: Vec<AuthorId>,
}

impl Def for Text {
    const TAG: u16 = 1;
    const NAME: &'static str = "text";
    const CONTROL: bool = false;
    const POST: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    /// 1..=[`MAX_TEXT_BYTES`] bytes of text, at most [`MAX_MENTIONS`] mentions.
    fn validate(&self) -> Result<(), Error> {
        let len = self.text.len();
        if len == 0 || len > MAX_TEXT_BYTES {
            return Err(Error::TextLength {
                len,
                max: MAX_TEXT_BYTES,
            });
        }
        if self.mentions.len() > MAX_MENTIONS {
            return Err(Error::TooManyMentions {
                count: self.mentions.len(),
                max: MAX_MENTIONS,
            });
        }
        Ok(())
    }

    fn action(&self, msg: &Verified) -> Action<'_> {
        Action::Post {
            at: msg.order_key(),
        }
    }

    fn fold(&self, state: &mut State, msg: &Verified) {
        state.members.insert(msg.author());
    }

    fn preview(&self) -> Preview {
        Preview {
            text: self.text.clone(),
            reply_to: self.reply_to,
            mentions: self.mentions.clone(),
        }
    }
}
