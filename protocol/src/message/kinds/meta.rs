//! Tag 5, `meta`: the group's description and search tags, set by an admin. A control op:
//! the latest one in group order holds.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::{Action, State};
use crate::limits::{MAX_DESCRIPTION_BYTES, MAX_TAG_BYTES, MAX_TAGS};
use crate::message::{Error, Verified};
use crate::text;

use super::{Def, Preview};

/// Group metadata set by an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Free text about the group.
    pub description: String,
    /// Search tags.
    pub tags: Vec<String>,
}

impl Def for Meta {
    const TAG: u16 = 5;
    const NAME: &'static str = "meta";
    const CONTROL: bool = true;
    const ADMIN_ONLY: bool = true;

    fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        super::encode(self)
    }

    fn decode(payload: Vec<u8>) -> Result<Self, codec::Error> {
        super::decode(&payload)
    }

    fn validate(&self) -> Result<(), Error> {
        validate_meta(self)
    }

    fn action(&self, _msg: &Verified) -> Action<'_> {
        Action::SetMeta
    }

    fn fold(&self, state: &mut State, _msg: &Verified) {
        state.description = self.description.clone();
        state.tags = self.tags.clone();
    }

    fn preview(&self) -> Preview {
        Preview::text(format!(
            "set the description to {:?} and tags to {:?}",
            self.description, self.tags
        ))
    }
}

/// Checks a meta against the description and tag limits: at most
/// [`MAX_DESCRIPTION_BYTES`] of description, at most [`MAX_TAGS`] tags, each a valid name
/// of at most [`MAX_TAG_BYTES`] ([`text::validate_name`]). Group cards carry a meta too.
pub fn validate_meta(m: &Meta) -> Result<(), Error> {
    if m.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(Error::DescriptionTooLong {
            len: m.description.len(),
            max: MAX_DESCRIPTION_BYTES,
        });
    }
    if m.tags.len() > MAX_TAGS {
        return Err(Error::TooManyTags {
            count: m.tags.len(),
            max: MAX_TAGS,
        });
    }
    for t in &m.tags {
        text::validate_name(text::NameKind::Tag, t, MAX_TAG_BYTES)?;
    }
    Ok(())
}
