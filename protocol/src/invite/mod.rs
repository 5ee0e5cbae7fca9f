//! Invite codes: one pasteable string that brings a friend into a group, without the
//! group's secret in it.
//!
//! An invite is a [`Ticket`] (the group id, the inviter, the epoch it was made in with a
//! check value of that epoch's secret, up to [`MAX_INVITE_ADDRS`] peer addresses, an expiry,
//! and the public half of a fresh *invite key*, all signed by the inviter) plus the 16
//! random bytes the invite key is derived from ([`Invite::seed`]). The code carries no
//! group secret: holding a code, even an expired one, decrypts nothing. To join, the holder
//! asks a member ([`admit`]): it presents the ticket and a proof made with the invite key,
//! bound to both peer ids; the member checks the ticket (signed by an admin of the group,
//! not expired) and the proof, then seals the current epoch secret to the joiner's key.
//!
//! Two text forms:
//! * the **short** code (`quns1…`, 39 characters, [`short::ShortCode`]): 16 random bytes
//!   that name an encrypted DHT record holding the whole invite; the default;
//! * the **long** code (`qun1…`, [`Invite::to_text`]): the whole invite as a bech32m
//!   string, self-contained (it names peers to ask), for networks without a DHT.
//!
//! Both are bech32m: lowercase letters and digits only (they survive being pasted into
//! WeChat, QQ or Weibo, and upper-cased they are compact alphanumeric QR codes), and the
//! BCH checksum guarantees that any typo of up to four characters is detected and never
//! misread as another code. [`Invite::parse`] finds the code inside pasted text ("join us:
//! qun1...") whatever the paste did to it (folded lines, zero-width characters, a capital
//! first letter, full-width forms: see [`paste`]), and says what is wrong: checksum, too
//! long, unknown version, bad signature, or expired.

pub mod admit;
pub mod paste;
pub mod short;

use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError, ChecksumError};
use bech32::{Bech32m, Hrp};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::codec;
use crate::id::{AuthorId, GroupId};
use crate::identity::{self, DOMAIN_INVITE, Identity, Signature};
use crate::limits::*;

/// The invite format version this code writes and reads (1 carried the group secret).
pub const VERSION: u8 = 2;
/// The human-readable prefix of long invite codes.
pub const PREFIX: &str = "qun";
/// HKDF label of the invite key, derived from an invite's seed.
const INFO_INVITE_KEY: &[u8] = b"qun/v1/invite-key";

/// Why an invite code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No `qun1...` (or `quns1...`) code in the text.
    #[error("no invite code found: an invite starts with \"qun1\" or \"quns1\"")]
    NotFound,
    /// The pasted text is longer than any text an invite comes in.
    #[error("pasted text is {len} bytes; an invite comes in at most {max}")]
    PasteTooLong {
        /// Its length, bytes.
        len: usize,
        /// The maximum, bytes.
        max: usize,
    },
    /// Longer than any valid code.
    #[error("invite code is {len} characters; at most {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The checksum does not match: a character was mistyped or lost.
    #[error("invite code checksum does not match: it was mistyped or cut short")]
    Checksum,
    /// Not a bech32m string.
    #[error("invite code is not well formed: {0}")]
    Format(String),
    /// A version this code does not read.
    #[error("unknown invite version {version}: upgrade qun (or ask for a new invite)")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The payload did not decode or breaks a limit: which one is in [`Malformed`].
    #[error("invite payload is malformed: {0}")]
    Malformed(#[from] Malformed),
    /// Our own invite did not encode (a fault of this program, not of the input).
    #[error("invite did not encode: {0}")]
    Encode(String),
    /// The inviter's signature does not verify.
    #[error("invite signature does not verify")]
    Signature,
    /// Past its expiry.
    #[error(
        "invite expired {} ago; ask for a new one",
        ago(*expires_ms, *now_ms)
    )]
    Expired {
        /// Expiry, ms since the Unix epoch.
        expires_ms: u64,
        /// The time of parsing.
        now_ms: u64,
    },
    /// A short code's record did not open with the code's key (not the record of this code).
    #[error("the invite record does not open with this code")]
    Record,
}

/// The rule a malformed invite payload breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// No bytes at all.
    #[error("empty")]
    Empty,
    /// The bytes are not an invite in the canonical encoding ([`codec`]).
    #[error("{0}")]
    Decode(String),
    /// More addresses than [`MAX_INVITE_ADDRS`].
    #[error("{count} addresses; at most {max}")]
    TooManyAddrs {
        /// How many it carries.
        count: usize,
        /// [`MAX_INVITE_ADDRS`].
        max: usize,
    },
    /// An address that is empty or longer than [`MAX_ADDR_BYTES`].
    #[error("address of {len} bytes; addresses are 1..={max}")]
    AddrSize {
        /// Its length, bytes.
        len: usize,
        /// [`MAX_ADDR_BYTES`].
        max: usize,
    },
    /// The encoded invite is longer than [`MAX_INVITE_BYTES`].
    #[error("invite of {len} bytes; at most {max} (use fewer addresses)")]
    TooLarge {
        /// Its length, bytes.
        len: usize,
        /// [`MAX_INVITE_BYTES`].
        max: usize,
    },
    /// The seed does not derive the invite key the inviter signed.
    #[error("the seed does not give the signed invite key")]
    SeedMismatch,
    /// A short code's payload is not a version byte and 16 bytes.
    #[error("short code of {len} bytes; it has 17")]
    ShortLength {
        /// Its length, bytes.
        len: usize,
    },
}

/// How long ago `then_ms` was at `now_ms`, for people: `45 s`, `3 min`, `5 h`, `2 d`.
pub fn ago(then_ms: u64, now_ms: u64) -> String {
    let s = now_ms.saturating_sub(then_ms) / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7200 => format!("{} min", s / 60),
        7200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// The signed part of an invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Format version ([`VERSION`]).
    pub version: u8,
    /// The group.
    pub group: GroupId,
    /// Who invites (an admin of the group; members check that).
    pub inviter: AuthorId,
    /// The epoch the invite was made in.
    pub epoch: u64,
    /// [`crate::GroupSecret::invite_check`] of that epoch: lets the joiner tell the group's
    /// real secret from one a peer made up, and reveals nothing of it.
    pub check: [u8; 16],
    /// The invite key's public half; the joiner proves it holds the private half.
    pub key: AuthorId,
    /// Peer addresses (binary multiaddrs with `/p2p/`) of members to ask.
    pub addrs: Vec<Vec<u8>>,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
}

/// The signed invite, as a member sees it: no invite key, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// What is signed.
    pub content: Content,
    /// The inviter's signature over `DOMAIN_INVITE || encode(content)`.
    pub signature: Signature,
}

/// An invite code's content: the ticket and the seed of the invite key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// The signed invite.
    pub ticket: Ticket,
    /// The random bytes the invite key is derived from ([`invite_key`]).
    pub seed: [u8; 16],
}

/// The invite key of `seed`: an ed25519 key from HKDF-SHA256(seed, "qun/v1/invite-key").
pub fn invite_key(seed: &[u8; 16]) -> Identity {
    let hk = Hkdf::<Sha256>::new(None, seed);
    let mut key = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit.
    if hk.expand(INFO_INVITE_KEY, &mut key).is_err() {
        key.fill(0);
    }
    Identity::from_seed(key)
}

impl Content {
    fn validate(&self) -> Result<(), Error> {
        if self.version != VERSION {
            return Err(Error::UnknownVersion {
                version: self.version,
            });
        }
        if self.addrs.len() > MAX_INVITE_ADDRS {
            return Err(Malformed::TooManyAddrs {
                count: self.addrs.len(),
                max: MAX_INVITE_ADDRS,
            }
            .into());
        }
        if let Some(a) = self
            .addrs
            .iter()
            .find(|a| a.is_empty() || a.len() > MAX_ADDR_BYTES)
        {
            return Err(Malformed::AddrSize {
                len: a.len(),
                max: MAX_ADDR_BYTES,
            }
            .into());
        }
        Ok(())
    }
}

impl Ticket {
    /// Checks version, limits and the inviter's signature (not the expiry: see
    /// [`Ticket::check_expiry`]).
    pub fn verify(&self) -> Result<(), Error> {
        self.content.validate()?;
        let signed = codec::encode(&self.content).map_err(|e| Error::Encode(e.to_string()))?;
        identity::verify(
            &self.content.inviter,
            DOMAIN_INVITE,
            &signed,
            &self.signature,
        )
        .map_err(|_| Error::Signature)
    }

    /// Refuses a ticket whose expiry, plus [`MAX_INVITE_EXPIRY_SKEW_MS`] for the inviter's
    /// and our clocks to disagree, has passed at `now_ms`.
    pub fn check_expiry(&self, now_ms: u64) -> Result<(), Error> {
        let expires_ms = self.content.expires_ms;
        if now_ms >= expires_ms.saturating_add(MAX_INVITE_EXPIRY_SKEW_MS) {
            return Err(Error::Expired { expires_ms, now_ms });
        }
        Ok(())
    }
}

impl Invite {
    /// Signs an invite. Addresses beyond the limit are dropped (the first ones are kept);
    /// `seed` is 16 random bytes from the caller. The content's `version`, `inviter` and
    /// `key` are set here.
    pub fn create(
        inviter: &Identity,
        mut content: Content,
        seed: [u8; 16],
    ) -> Result<Invite, Error> {
        content.version = VERSION;
        content.inviter = inviter.author();
        content.key = invite_key(&seed).author();
        content
            .addrs
            .retain(|a| !a.is_empty() && a.len() <= MAX_ADDR_BYTES);
        content.addrs.truncate(MAX_INVITE_ADDRS);
        content.validate()?;
        let bytes = codec::encode(&content).map_err(|e| Error::Encode(e.to_string()))?;
        let invite = Invite {
            ticket: Ticket {
                signature: inviter.sign(DOMAIN_INVITE, &bytes),
                content,
            },
            seed,
        };
        let len = invite.to_bytes()?.len();
        if len > MAX_INVITE_BYTES {
            return Err(Malformed::TooLarge {
                len,
                max: MAX_INVITE_BYTES,
            }
            .into());
        }
        Ok(invite)
    }

    /// The group this invites to.
    pub fn group(&self) -> GroupId {
        self.ticket.content.group
    }

    /// The invite key (derived from the seed).
    pub fn key(&self) -> Identity {
        invite_key(&self.seed)
    }

    /// The canonical binary form (the payload of the long code and of the DHT record of a
    /// short code).
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        codec::encode(self).map_err(|e| Error::Encode(e.to_string()))
    }

    /// The long, self-contained code (`qun1...`).
    pub fn to_text(&self) -> Result<String, Error> {
        let bytes = self.to_bytes()?;
        let hrp = Hrp::parse_unchecked(PREFIX);
        bech32::encode::<Bech32m>(hrp, &bytes).map_err(|e| Error::Format(e.to_string()))
    }

    /// Finds a long code in `text` (see [`paste`]), checks checksum, version, limits,
    /// signature and expiry. When no candidate passes, the error is the one of the first
    /// code's longest candidate (the whole run: what the user most likely meant).
    pub fn parse(text: &str, now_ms: u64) -> Result<Invite, Error> {
        let bytes = paste::decode(text, PREFIX)?;
        Self::from_bytes(&bytes, now_ms)
    }

    /// Decodes and checks the binary form of an invite.
    pub fn from_bytes(bytes: &[u8], now_ms: u64) -> Result<Invite, Error> {
        match bytes.first() {
            Some(&VERSION) => {}
            Some(&version) => return Err(Error::UnknownVersion { version }),
            None => return Err(Malformed::Empty.into()),
        }
        // Wire layout: the ticket's content comes first, and it starts with its version.
        let invite: Invite =
            codec::decode(bytes, MAX_INVITE_BYTES).map_err(|e| Malformed::Decode(e.to_string()))?;
        invite.ticket.verify()?;
        if invite.key().author() != invite.ticket.content.key {
            return Err(Malformed::SeedMismatch.into());
        }
        invite.ticket.check_expiry(now_ms)?;
        Ok(invite)
    }
}

/// The payload of one candidate code (lower-case ASCII, no whitespace) for `prefix`, if its
/// length and checksum are right.
pub(crate) fn checked_bytes(code: &str, prefix: &str) -> Result<Vec<u8>, Error> {
    if code.len() > MAX_INVITE_CHARS {
        return Err(Error::TooLong {
            len: code.len(),
            max: MAX_INVITE_CHARS,
        });
    }
    let checked = CheckedHrpstring::new::<Bech32m>(code).map_err(map_bech32_error)?;
    if checked.hrp().as_str() != prefix {
        return Err(Error::NotFound);
    }
    Ok(checked.byte_iter().collect())
}

fn map_bech32_error(e: CheckedHrpstringError) -> Error {
    match e {
        CheckedHrpstringError::Checksum(ChecksumError::InvalidResidue(_)) => Error::Checksum,
        CheckedHrpstringError::Checksum(ChecksumError::InvalidLength) => Error::Checksum,
        other => Error::Format(other.to_string()),
    }
}
