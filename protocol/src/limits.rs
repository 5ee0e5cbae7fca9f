//! Every maximum the protocol enforces, in one place.
//!
//! Decoders check these before allocating; encoders refuse to produce values that break
//! them, so what one node sends another node accepts.

/// Largest encoded [`crate::Frame`] accepted from the network (1 MiB). Gossipsub's
/// `max_transmit_size` is set above this to leave room for the RPC framing.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;
/// Largest encoded [`crate::Envelope`]: a frame minus its header and AEAD tag.
pub const MAX_ENVELOPE_BYTES: usize = MAX_FRAME_BYTES - 128;
/// Largest encoded [`crate::Body`]: an envelope minus author, signature and length prefix.
pub const MAX_BODY_BYTES: usize = MAX_ENVELOPE_BYTES - 128;
/// Longest text message, in UTF-8 bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Most authors mentioned in one text message.
pub const MAX_MENTIONS: usize = 64;
/// Longest group announcement, in UTF-8 bytes.
pub const MAX_ANNOUNCEMENT_BYTES: usize = 8 * 1024;
/// Longest group name, in UTF-8 bytes (32 CJK characters).
pub const MAX_NAME_BYTES: usize = 96;
/// Longest group description, in UTF-8 bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// Most tags on a group.
pub const MAX_TAGS: usize = 8;
/// Longest tag, in UTF-8 bytes.
pub const MAX_TAG_BYTES: usize = 32;
/// Largest payload of a message kind this version does not know (kept and forwarded).
pub const MAX_UNKNOWN_KIND_BYTES: usize = 256 * 1024;
/// Most peer addresses carried in one invite code.
pub const MAX_INVITE_ADDRS: usize = 4;
/// Longest peer address (binary multiaddr) in an invite code.
pub const MAX_ADDR_BYTES: usize = 64;
/// Largest decoded invite payload. Bech32m codes are at most 1,023 characters, which
/// holds (1023 - 4 - 6) * 5 / 8 = 633 bytes.
pub const MAX_INVITE_BYTES: usize = 630;
/// Longest invite code text accepted (the bech32m code length).
pub const MAX_INVITE_CHARS: usize = 1023;
/// Largest encoded [`crate::SignedGenesis`].
pub const MAX_GENESIS_BYTES: usize = 256;
/// Highest Lamport clock accepted: far beyond any real group, far below overflow, so a
/// hostile clock cannot push a group's order to the end of the integer range.
pub const MAX_LAMPORT: u64 = 1 << 48;
