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
/// Most pinned messages in a group.
pub const MAX_PINS: usize = 32;
/// Longest mute with a duration, in ms (366 days); longer is a mute until unmuted.
pub const MAX_MUTE_MS: u64 = 366 * 24 * 3600 * 1000;
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
/// How long after its expiry an invite is still taken, for the inviter's and the
/// member's clocks to disagree (ms).
pub const MAX_INVITE_EXPIRY_SKEW_MS: u64 = 2 * 60 * 1000;
/// Longest lifetime of an invite (366 days, in ms): the API's limit, and what a DHT node
/// accepts as the expiry of an invite record.
pub const MAX_INVITE_TTL_MS: u64 = 366 * 24 * 3600 * 1000;
/// Largest encoded signed short-invite DHT record.
pub const MAX_INVITE_RECORD_BYTES: usize = 1024;
/// Longest pasted text searched for an invite code, in bytes (a code of
/// [`MAX_INVITE_CHARS`] with a message around it, folded, in full-width forms).
pub const MAX_PASTE_BYTES: usize = 16 * 1024;
/// Largest encoded [`crate::SignedGenesis`].
pub const MAX_GENESIS_BYTES: usize = 256;
/// Largest encoded signed group card (a DHT record value).
pub const MAX_CARD_BYTES: usize = 4096;
/// Most `transfer` ops in a card's or an approval's authority chain
/// ([`crate::discovery::authority`]): a group handed on more often can no longer publish.
pub const MAX_AUTHORITY_TRANSFERS: usize = 8;
/// Most admins on an owner's roster ([`crate::discovery::authority::Roster`]): admins
/// beyond that (in id order) cannot sign cards or approvals.
pub const MAX_ROSTER_ADMINS: usize = 16;
/// Largest encoded authority (transfer chain and roster) carried with a card or an
/// approval: 8 transfer ops of about 210 bytes and a full roster of about 650 fit.
pub const MAX_AUTHORITY_BYTES: usize = 3072;
/// Largest DHT card record: a signed card and its signer's authority.
pub const MAX_CARD_RECORD_BYTES: usize = MAX_CARD_BYTES + MAX_AUTHORITY_BYTES;
/// Most member addresses on a group card.
pub const MAX_CARD_ADDRS: usize = 4;
/// Largest encoded signed profile (a DHT record value).
pub const MAX_PROFILE_BYTES: usize = 4096;
/// Longest display name on a profile, in UTF-8 bytes.
pub const MAX_DISPLAY_NAME_BYTES: usize = 64;
/// Longest profile bio, in UTF-8 bytes.
pub const MAX_BIO_BYTES: usize = 512;
/// Most groups shown on a profile.
pub const MAX_PROFILE_GROUPS: usize = 16;
/// Longest note on a join request, in UTF-8 bytes.
pub const MAX_JOIN_NOTE_BYTES: usize = 512;
/// Most epoch secrets an admission or a join approval hands to a joiner (the newest ones:
/// [`crate::discovery::seal::Handover`]). A group re-keyed more often than this leaves its
/// oldest epochs unreadable to later joiners.
pub const MAX_HANDOVER_EPOCHS: usize = 256;
/// Largest sealed handover plaintext, bytes: a length prefix (8) and 40 bytes (epoch and
/// secret) per epoch, 10,248 for [`MAX_HANDOVER_EPOCHS`].
pub const MAX_HANDOVER_BYTES: usize = 8 + MAX_HANDOVER_EPOCHS * 40;
/// Largest encoded signed join request, approval or admission (an approval or admission
/// with a full handover, [`MAX_HANDOVER_BYTES`], fits).
pub const MAX_JOIN_BYTES: usize = 16 * 1024;
/// How far in the future a signed record's time may be (clock skew), in ms. Message
/// stamps have their own bound, [`crate::order::MAX_SKEW_MS`].
pub const MAX_CLOCK_SKEW_MS: u64 = 10 * 60 * 1000;
/// Most keyword tokens indexed for one group (each is a DHT provider key).
pub const MAX_INDEX_TOKENS: usize = 96;
/// Longest Latin prefix indexed, in characters (longer query words are cut to it).
pub const MAX_PREFIX_CHARS: usize = 12;
/// Most tokens of one search query.
pub const MAX_QUERY_TOKENS: usize = 12;
/// Most cards in one search answer.
pub const MAX_SEARCH_CARDS: usize = 16;
/// Largest discovery request on the wire (an approval with its authority fits).
pub const MAX_DISCOVERY_REQUEST_BYTES: usize = MAX_JOIN_BYTES + MAX_AUTHORITY_BYTES + 1024;
/// Largest discovery response on the wire (a full page of cards).
pub const MAX_DISCOVERY_RESPONSE_BYTES: usize = MAX_SEARCH_CARDS * MAX_CARD_RECORD_BYTES + 1024;
