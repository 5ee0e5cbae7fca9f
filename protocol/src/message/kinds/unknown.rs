//! Kinds this version does not know ([`crate::message::Kind::Unknown`]).
//!
//! A node that meets a tag it does not know keeps the payload untouched: the signature
//! still verifies, the message is stored, forwarded and served by sync, and a newer node
//! reads it. The tag alone says whether it is a control op ([`super::is_control_tag`]):
//!
//! - An unknown tag below [`super::CONTROL_TAGS`] is a kind that does not change group
//!   state (a new sort of post): it is shown as a placeholder ("upgrade qun to read it").
//! - An unknown tag in [`super::CONTROL_TAGS`] is a control op this version cannot apply (a
//!   role change, a removal...). It is filed with the group's control ops, like any other
//!   (stored, forwarded, synced, refused after its author's leave), and is not a post. The
//!   fold cannot apply it, so it counts it in
//!   [`crate::group::State::unknown_control_ops`]: a state with a non-zero count may
//!   differ from what a newer node computes, and says so, instead of silently diverging.

use crate::group::State;
use crate::limits::MAX_UNKNOWN_KIND_BYTES;
use crate::message::{Error, KNOWN_TAGS};

use super::{Preview, is_control_tag};

/// Checks an unknown kind: its tag is not one this version knows (a known kind cannot be
/// carried raw) and its payload is at most [`MAX_UNKNOWN_KIND_BYTES`].
pub fn validate(tag: u16, payload: &[u8]) -> Result<(), Error> {
    if KNOWN_TAGS.contains(&tag) {
        return Err(Error::KnownTagRaw { tag });
    }
    if payload.len() > MAX_UNKNOWN_KIND_BYTES {
        return Err(Error::UnknownPayloadTooLarge {
            len: payload.len(),
            max: MAX_UNKNOWN_KIND_BYTES,
        });
    }
    Ok(())
}

/// The fold step of an unknown kind: a control op is counted as one this version could
/// not apply; anything else has no effect on group state.
pub fn fold(tag: u16, state: &mut State) {
    if is_control_tag(tag) {
        state.unknown_control_ops += 1;
    }
}

/// The placeholder shown for an unknown kind.
pub fn preview(tag: u16) -> Preview {
    Preview::text(format!("(a message of kind {tag}: upgrade qun to read it)"))
}
