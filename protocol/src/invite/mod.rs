//! Invite codes: one pasteable string that brings a friend into a group.
//!
//! The payload carries the group's signed genesis (so the group id, name and owner are
//! verifiable), the current epoch and its secret, up to [`MAX_INVITE_ADDRS`] peer addresses
//! (binary multiaddrs), an expiry, the inviter's key, and the inviter's signature over all
//! of it. It is written as a bech32m string with the prefix `qun`: lowercase letters and
//! digits only (it survives being pasted into WeChat, QQ or Weibo, and upper-cased it is a
//! compact alphanumeric QR code), and its BCH checksum guarantees that any typo of up to
//! four characters is detected and never misread as another code.
//!
//! [`Invite::parse`] finds the code inside pasted text ("join us: qun1...") whatever the
//! paste did to it (folded lines, zero-width characters, a capital first letter, full-width
//! forms: see [`paste`]), and says what is wrong: checksum, too long, unknown version, bad
//! signature, or expired.

pub mod paste;

use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError, ChecksumError};
use bech32::{Bech32m, Hrp};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::group::SignedGenesis;
use crate::id::{AuthorId, GroupId};
use crate::identity::{self, DOMAIN_INVITE, Identity, Signature};
use crate::limits::*;
use crate::secret::GroupSecret;

/// The invite format version this code writes and reads.
pub const VERSION: u8 = 1;
/// The human-readable prefix of invite codes.
pub const PREFIX: &str = "qun";

/// Why an invite code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No `qun1...` code in the text.
    #[error("no invite code found: an invite starts with \"qun1\"")]
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
    #[error("unknown invite version {version}: upgrade qun")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The payload did not decode or breaks a limit.
    #[error("invite payload is malformed: {0}")]
    Malformed(String),
    /// The inviter's signature (or the group's genesis signature) does not verify.
    #[error("invite signature does not verify")]
    Signature,
    /// Past its expiry.
    #[error("invite expired at {expires_ms} (now {now_ms}); ask for a new one")]
    Expired {
        /// Expiry, ms since the Unix epoch.
        expires_ms: u64,
        /// The time of parsing.
        now_ms: u64,
    },
}

/// The signed part of an invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Format version ([`VERSION`]).
    pub version: u8,
    /// The group's signed genesis.
    pub genesis: SignedGenesis,
    /// The current epoch.
    pub epoch: u64,
    /// The current epoch's secret.
    pub secret: GroupSecret,
    /// Peer addresses (binary multiaddrs) to dial.
    pub addrs: Vec<Vec<u8>>,
    /// Expiry, ms since the Unix epoch.
    pub expires_ms: u64,
    /// Who invites.
    pub inviter: AuthorId,
}

/// A signed invite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    /// What is signed.
    pub content: Content,
    /// The inviter's signature over `DOMAIN_INVITE || encode(content)`.
    pub signature: Signature,
}

impl Content {
    fn validate(&self) -> Result<(), Error> {
        if self.addrs.len() > MAX_INVITE_ADDRS {
            return Err(Error::Malformed(format!(
                "{} addresses; at most {MAX_INVITE_ADDRS}",
                self.addrs.len()
            )));
        }
        if let Some(a) = self
            .addrs
            .iter()
            .find(|a| a.is_empty() || a.len() > MAX_ADDR_BYTES)
        {
            return Err(Error::Malformed(format!(
                "address of {} bytes; addresses are 1..={MAX_ADDR_BYTES}",
                a.len()
            )));
        }
        self.genesis.verify().map_err(|_| Error::Signature)
    }
}

impl Invite {
    /// Signs an invite. Addresses beyond the limit are dropped (the first ones are kept).
    pub fn create(inviter: &Identity, mut content: Content) -> Result<Invite, Error> {
        content.version = VERSION;
        content.inviter = inviter.author();
        content
            .addrs
            .retain(|a| !a.is_empty() && a.len() <= MAX_ADDR_BYTES);
        content.addrs.truncate(MAX_INVITE_ADDRS);
        content.validate()?;
        let bytes = codec::encode(&content).map_err(|e| Error::Malformed(e.to_string()))?;
        let invite = Invite {
            signature: inviter.sign(DOMAIN_INVITE, &bytes),
            content,
        };
        let len = codec::encode(&invite)
            .map_err(|e| Error::Malformed(e.to_string()))?
            .len();
        if len > MAX_INVITE_BYTES {
            return Err(Error::Malformed(format!(
                "invite of {len} bytes; at most {MAX_INVITE_BYTES} (use fewer addresses)"
            )));
        }
        Ok(invite)
    }

    /// The group this invites to.
    pub fn group(&self) -> Result<GroupId, Error> {
        self.content
            .genesis
            .id()
            .map_err(|e| Error::Malformed(e.to_string()))
    }

    /// The pasteable code (`qun1...`).
    pub fn to_text(&self) -> Result<String, Error> {
        let bytes = codec::encode(self).map_err(|e| Error::Malformed(e.to_string()))?;
        let hrp = Hrp::parse_unchecked(PREFIX);
        bech32::encode::<Bech32m>(hrp, &bytes).map_err(|e| Error::Format(e.to_string()))
    }

    /// Finds the code in `text` (see [`paste`]), checks checksum, version, limits,
    /// signatures and expiry.
    pub fn parse(text: &str, now_ms: u64) -> Result<Invite, Error> {
        let bytes = paste::decode(text, PREFIX)?;
        Self::from_bytes(&bytes, now_ms)
    }

    /// Decodes and checks the binary payload of a code.
    pub fn from_bytes(bytes: &[u8], now_ms: u64) -> Result<Invite, Error> {
        match bytes.first() {
            Some(&VERSION) => {}
            Some(&version) => return Err(Error::UnknownVersion { version }),
            None => return Err(Error::Malformed("empty".into())),
        }
        // Wire layout: the content comes first, and it starts with its version byte.
        let invite: Invite =
            codec::decode(bytes, MAX_INVITE_BYTES).map_err(|e| Error::Malformed(e.to_string()))?;
        invite.content.validate()?;
        let signed = codec::encode(&invite.content).map_err(|e| Error::Malformed(e.to_string()))?;
        identity::verify(
            &invite.content.inviter,
            DOMAIN_INVITE,
            &signed,
            &invite.signature,
        )
        .map_err(|_| Error::Signature)?;
        if now_ms >= invite.content.expires_ms {
            return Err(Error::Expired {
                expires_ms: invite.content.expires_ms,
                now_ms,
            });
        }
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
