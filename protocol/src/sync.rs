//! History catch-up between two members of a group: the wire messages.
//!
//! This first version is the simple baseline: "send me your messages after order key K",
//! paginated and bounded. Each response carries frames sealed with the group's epoch keys,
//! so only members can read them, and the receiver runs every frame through the same
//! [`crate::frame::open`] path as gossip. Its cost grows with the history, not with the
//! difference; range-based set reconciliation replaces it (see the roadmap in README).

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::GroupId;
use crate::order::OrderKey;

/// Largest encoded sync request.
pub const MAX_REQUEST_BYTES: usize = 1024;
/// Largest encoded sync response (8 MiB).
pub const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
/// Most frames in one response page.
pub const MAX_PAGE: u32 = 1000;
/// Most frame bytes a responder puts in one page (leaves room under the response limit).
pub const MAX_PAGE_BYTES: usize = 6 * 1024 * 1024;

/// "Send me the messages of `group` after `after` (or from the start)".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The group.
    pub group: GroupId,
    /// Exclusive start of the page.
    pub after: Option<OrderKey>,
    /// Most frames wanted (capped at [`MAX_PAGE`]).
    pub limit: u32,
}

/// One page of frames, in group order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Encoded [`crate::Frame`]s.
    pub frames: Vec<Vec<u8>>,
    /// Whether more pages follow.
    pub more: bool,
}

impl Request {
    /// Decodes with the request limit.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        codec::decode(bytes, MAX_REQUEST_BYTES)
    }
}

impl Response {
    /// Decodes with the response limit.
    pub fn decode(bytes: &[u8]) -> Result<Self, codec::Error> {
        codec::decode(bytes, MAX_RESPONSE_BYTES)
    }
}
