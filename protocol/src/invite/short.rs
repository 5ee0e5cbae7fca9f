//! Short invite codes: `quns1…`, 39 characters, that name an encrypted DHT record holding
//! the full signed [`Invite`].
//!
//! The pattern is magic-wormhole's and Keet's: a short random secret is the whole code, and
//! everything else is derived from it. A code is [`VERSION`] and 16 random bytes
//! (128 bits: not guessable, and not worth brute-forcing for a record that expires),
//! bech32m-encoded with the prefix [`PREFIX`] like the long form, so a paste survives the
//! same manglings ([`super::paste`]). From the 16 bytes, HKDF-SHA256 derives:
//! * a **locator key** (`qun/v1/short-invite-locator`): an ed25519 key whose public half
//!   names the DHT record (`/qun/invite/<public key>`) and which signs the record, so a DHT
//!   node can check a record it is handed without learning anything else, and no one
//!   without the code can put a record under that key;
//! * a **seal key** (`qun/v1/short-invite-seal`): the XChaCha20-Poly1305 key the long
//!   invite is encrypted with (random 24-byte nonce; the record key is the associated
//!   data).
//!
//! A DHT node sees a public key, an expiry and ciphertext: not the group, not the inviter,
//! not the addresses. A holder of the code fetches the record, opens it, and joins exactly
//! as with the long code ([`super::admit`]); expiry is enforced on the record (DHT nodes drop
//! it) and again on the invite inside.
//!
//! What a holder can do that the long form did not allow: overwrite the record with
//! another validly signed one (it holds the locator key). The worst it achieves is a code
//! that stops working for others; it learns nothing it did not have.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::{Error, Invite, Malformed};
use crate::discovery::{self, Signed};
use crate::id::AuthorId;
use crate::identity::{DOMAIN_INVITE_RECORD, Identity};
use crate::limits::{
    MAX_INVITE_BYTES, MAX_INVITE_EXPIRY_SKEW_MS, MAX_INVITE_RECORD_BYTES, MAX_INVITE_TTL_MS,
};

/// The short code format version (the first byte of its payload).
pub const VERSION: u8 = 1;
/// The human-readable prefix of short codes.
pub const PREFIX: &str = "quns";
/// DHT record key prefix: `/qun/invite/` ‖ the locator public key (32 bytes).
pub const KEY_PREFIX: &[u8] = b"/qun/invite/";
/// Length of a short code's text, characters: `quns1`, 17 bytes as 28 bech32 characters,
/// 6 checksum characters.
pub const TEXT_CHARS: usize = 39;

const INFO_LOCATOR: &[u8] = b"qun/v1/short-invite-locator";
const INFO_SEAL: &[u8] = b"qun/v1/short-invite-seal";

/// A short code: 16 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ShortCode {
    secret: [u8; 16],
}

impl std::fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShortCode(..)")
    }
}

/// What the DHT holds under a short code's key (signed by the locator key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InviteRecord {
    /// Format version ([`VERSION`]).
    pub version: u8,
    /// Expiry, ms since the Unix epoch (the invite's own).
    pub expires_ms: u64,
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
    /// The long invite's binary form ([`Invite::to_bytes`]), sealed.
    pub sealed: Vec<u8>,
}

/// A signed invite record.
pub type SignedInviteRecord = Signed<InviteRecord>;

fn derive(secret: &[u8; 16], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    if Hkdf::<Sha256>::new(None, secret)
        .expand(info, &mut out)
        .is_err()
    {
        out.fill(0);
    }
    out
}

/// The DHT key of the record of the locator public key `locator`.
pub fn record_key_of(locator: &AuthorId) -> Vec<u8> {
    let mut k = KEY_PREFIX.to_vec();
    k.extend_from_slice(locator.as_bytes());
    k
}

impl ShortCode {
    /// The code of these 16 random bytes (from the caller's CSPRNG).
    pub fn from_secret(secret: [u8; 16]) -> Self {
        Self { secret }
    }

    /// The text form, `quns1…` ([`TEXT_CHARS`] characters).
    pub fn to_text(&self) -> String {
        let mut bytes = Vec::with_capacity(17);
        bytes.push(VERSION);
        bytes.extend_from_slice(&self.secret);
        let hrp = bech32::Hrp::parse_unchecked(PREFIX);
        // 17 bytes under a valid 4-character prefix always encode.
        bech32::encode::<bech32::Bech32m>(hrp, &bytes).unwrap_or_default()
    }

    /// Finds a short code in pasted text (see [`super::paste`]).
    ///
    /// Errors: [`Error::NotFound`] when there is no `quns1…`, [`Error::Checksum`] for a
    /// mistyped or cut code, [`Error::UnknownVersion`], [`Malformed::ShortLength`] for a payload
    /// of the wrong length.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bytes = super::paste::decode(text, PREFIX)?;
        match bytes.first() {
            Some(&VERSION) => {}
            Some(&version) => return Err(Error::UnknownVersion { version }),
            None => return Err(Malformed::Empty.into()),
        }
        let secret: [u8; 16] = bytes[1..]
            .try_into()
            .map_err(|_| Malformed::ShortLength { len: bytes.len() })?;
        Ok(Self { secret })
    }

    fn locator(&self) -> Identity {
        Identity::from_seed(derive(&self.secret, INFO_LOCATOR))
    }

    /// The DHT record key this code names.
    pub fn record_key(&self) -> Vec<u8> {
        record_key_of(&self.locator().author())
    }

    /// The signed record for `invite`, encoded (at most [`MAX_INVITE_RECORD_BYTES`]);
    /// `nonce` is 24 random bytes from the caller.
    pub fn seal(&self, invite: &Invite, nonce: [u8; 24]) -> Result<Vec<u8>, Error> {
        let plain = invite.to_bytes()?;
        let key = self.record_key();
        let cipher = XChaCha20Poly1305::new(&derive(&self.secret, INFO_SEAL).into());
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &key,
                },
            )
            .map_err(|_| Error::Record)?;
        let record = InviteRecord {
            version: VERSION,
            expires_ms: invite.ticket.content.expires_ms,
            nonce,
            sealed,
        };
        Signed::sign(&self.locator(), DOMAIN_INVITE_RECORD, record)
            .and_then(|s| s.encode(MAX_INVITE_RECORD_BYTES))
            .map_err(|e| Error::Encode(e.to_string()))
    }

    /// Opens a record found under [`Self::record_key`]: checks it ([`validate`]), decrypts
    /// it and checks the invite inside ([`Invite::from_bytes`]: signature, expiry).
    ///
    /// Errors: [`Error::Record`] when the record is not this code's (wrong key, signer or
    /// seal), [`Error::Expired`], and the invite's own errors.
    pub fn open(&self, value: &[u8], now_ms: u64) -> Result<Invite, Error> {
        let key = self.record_key();
        let record = validate(&key, value, now_ms).map_err(|e| match e {
            discovery::Error::Expired { expires_ms, now_ms } => {
                Error::Expired { expires_ms, now_ms }
            }
            _ => Error::Record,
        })?;
        let cipher = XChaCha20Poly1305::new(&derive(&self.secret, INFO_SEAL).into());
        let plain = cipher
            .decrypt(
                &XNonce::from(record.value.nonce),
                Payload {
                    msg: &record.value.sealed,
                    aad: &key,
                },
            )
            .map_err(|_| Error::Record)?;
        let invite = Invite::from_bytes(&plain, now_ms)?;
        if invite.ticket.content.expires_ms != record.value.expires_ms {
            return Err(Error::Record);
        }
        Ok(invite)
    }
}

/// Checks a short-invite record stored under `key`, as every DHT node does before storing
/// it: the key's shape, size, version, the signature by the key it is stored under, an
/// expiry not passed (with [`MAX_INVITE_EXPIRY_SKEW_MS`] of skew) and not more than
/// [`MAX_INVITE_TTL_MS`] ahead. The content stays sealed.
pub fn validate(
    key: &[u8],
    value: &[u8],
    now_ms: u64,
) -> Result<SignedInviteRecord, discovery::Error> {
    let rest = key
        .strip_prefix(KEY_PREFIX)
        .ok_or(discovery::Error::WrongKey)?;
    let bytes: [u8; 32] = rest.try_into().map_err(|_| discovery::Error::WrongKey)?;
    let locator = AuthorId::from_bytes(bytes).map_err(|_| discovery::Error::WrongKey)?;
    let rec = SignedInviteRecord::decode(value, MAX_INVITE_RECORD_BYTES, DOMAIN_INVITE_RECORD)?;
    if rec.signer != locator {
        return Err(discovery::Error::WrongKey);
    }
    discovery::check_version(rec.value.version)?;
    let expires = rec.value.expires_ms;
    if now_ms >= expires.saturating_add(MAX_INVITE_EXPIRY_SKEW_MS) {
        return Err(discovery::Error::Expired {
            expires_ms: expires,
            now_ms,
        });
    }
    if expires > now_ms.saturating_add(MAX_INVITE_TTL_MS + MAX_INVITE_EXPIRY_SKEW_MS) {
        return Err(discovery::Error::Invalid(format!(
            "invite record expires at {expires}, over {MAX_INVITE_TTL_MS} ms ahead"
        )));
    }
    // Room for the invite and the AEAD tag, no more.
    if rec.value.sealed.len() > MAX_INVITE_BYTES + 16 {
        return Err(discovery::Error::Invalid("sealed invite too large".into()));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_39_characters_and_parses_back() {
        let code = ShortCode::from_secret([7; 16]);
        let text = code.to_text();
        assert_eq!(text.len(), TEXT_CHARS);
        assert!(text.starts_with("quns1"), "{text}");
        assert_eq!(ShortCode::parse(&format!("join: {text}")).unwrap(), code);
        assert_eq!(
            ShortCode::parse(&text.to_uppercase()).unwrap(),
            code,
            "upper case"
        );
    }

    #[test]
    fn a_long_code_is_not_a_short_one() {
        assert_eq!(ShortCode::parse("qun1qqqq"), Err(Error::NotFound));
    }
}
