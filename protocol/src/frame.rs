//! The wire frame: an encoded [`Envelope`] sealed for one epoch of one group.
//!
//! `Frame { version, epoch, nonce, ciphertext }`, where `ciphertext` is
//! XChaCha20-Poly1305 under the epoch's [`MessageKey`] with a random 24-byte nonce and the
//! associated data `"qun/v1/frame" || version || group id || epoch`. Binding the group and
//! epoch in the associated data makes a frame sealed for another group or epoch fail to
//! open even if keys were ever shared.
//!
//! [`open`] is the single validation path for bytes from the network: size → version →
//! decode → epoch key → decrypt → decode envelope → verify signature → limits → the body
//! names this group and epoch. Each failure is its own [`OpenError`] variant.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::id::{AuthorId, GroupId};
use crate::limits::MAX_FRAME_BYTES;
use crate::message::{self, Envelope, Verified};
use crate::secret::MessageKey;

/// The frame version this code writes and reads.
pub const VERSION: u8 = 1;

/// An encrypted message on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Format version ([`VERSION`]).
    pub version: u8,
    /// Which epoch key sealed it.
    pub epoch: u64,
    /// The AEAD nonce (random, from the caller).
    pub nonce: [u8; 24],
    /// The sealed envelope, with its 16-byte tag.
    #[serde(with = "codec::bytes")]
    pub ciphertext: Vec<u8>,
}

/// Every way opening a frame can fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// No bytes.
    #[error("empty frame")]
    Empty,
    /// Over [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A version this code does not read.
    #[error("unknown frame version {version}")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The frame itself did not decode.
    #[error("malformed frame: {0}")]
    Malformed(codec::Error),
    /// We hold no key for this epoch (not necessarily the sender's fault).
    #[error("no key for epoch {epoch}")]
    UnknownEpoch {
        /// The frame's epoch.
        epoch: u64,
    },
    /// Authentication failed: wrong key, wrong group/epoch, or tampered bytes.
    #[error("decryption failed")]
    Decrypt,
    /// The decrypted envelope is not acceptable (bad encoding, signature or limits).
    #[error(transparent)]
    Message(#[from] message::Error),
    /// The body names another group.
    #[error("message is for group {found}, not {expected}")]
    WrongGroup {
        /// This group.
        expected: GroupId,
        /// The body's group.
        found: GroupId,
    },
    /// The body's epoch differs from the frame's.
    #[error("message says epoch {body} inside a frame of epoch {frame}")]
    WrongEpoch {
        /// Frame epoch.
        frame: u64,
        /// Body epoch.
        body: u64,
    },
}

impl OpenError {
    /// Whether the sender should be penalised for this frame. A frame for an epoch we do not
    /// know may be honest (we were removed, or have not caught up): ignore it, don't punish.
    pub fn is_sender_fault(&self) -> bool {
        !matches!(self, OpenError::UnknownEpoch { .. })
    }

    /// The claimed author when the failure was a bad signature.
    pub fn author(&self) -> Option<AuthorId> {
        match self {
            OpenError::Message(message::Error::Signature(
                crate::identity::SignatureError::Mismatch { author }
                | crate::identity::SignatureError::BadKey { author },
            )) => Some(*author),
            _ => None,
        }
    }
}

fn associated_data(version: u8, group: &GroupId, epoch: u64) -> Vec<u8> {
    let mut ad = Vec::with_capacity(12 + 1 + 32 + 8);
    ad.extend_from_slice(b"qun/v1/frame");
    ad.push(version);
    ad.extend_from_slice(group.as_bytes());
    ad.extend_from_slice(&epoch.to_be_bytes());
    ad
}

impl Frame {
    /// Seals an encoded envelope for `epoch` of `group` with the caller's random `nonce`.
    pub fn seal(
        envelope: &[u8],
        key: &MessageKey,
        group: &GroupId,
        epoch: u64,
        nonce: [u8; 24],
    ) -> Result<Frame, codec::Error> {
        let cipher = XChaCha20Poly1305::new(&key.0.into());
        let ad = associated_data(VERSION, group, epoch);
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: envelope,
                    aad: &ad,
                },
            )
            .map_err(|_| codec::Error::Malformed("envelope too long to seal".into()))?;
        let frame = Frame {
            version: VERSION,
            epoch,
            nonce,
            ciphertext,
        };
        let len = frame.encoded_len();
        if len > MAX_FRAME_BYTES {
            return Err(codec::Error::TooLarge {
                len,
                max: MAX_FRAME_BYTES,
            });
        }
        Ok(frame)
    }

    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        1 + 8 + 24 + 8 + self.ciphertext.len()
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>, codec::Error> {
        codec::encode(self)
    }

    /// Decodes a frame, checking size and version first.
    pub fn decode(bytes: &[u8]) -> Result<Frame, OpenError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(OpenError::TooLarge {
                len: bytes.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        match bytes.first() {
            None => return Err(OpenError::Empty),
            Some(&v) if v != VERSION => return Err(OpenError::UnknownVersion { version: v }),
            Some(_) => {}
        }
        codec::decode(bytes, MAX_FRAME_BYTES).map_err(OpenError::Malformed)
    }

    /// Decrypts with `key` (the key of `self.epoch`) for `group`, returning the envelope bytes.
    pub fn decrypt(&self, key: &MessageKey, group: &GroupId) -> Result<Vec<u8>, OpenError> {
        let cipher = XChaCha20Poly1305::new(&key.0.into());
        let ad = associated_data(self.version, group, self.epoch);
        cipher
            .decrypt(
                &XNonce::from(self.nonce),
                Payload {
                    msg: &self.ciphertext,
                    aad: &ad,
                },
            )
            .map_err(|_| OpenError::Decrypt)
    }
}

/// Opens frame bytes received for `group`: the one validation path for network input.
/// `key_for` returns the message key of an epoch, if we hold it.
pub fn open(
    bytes: &[u8],
    group: &GroupId,
    key_for: impl FnOnce(u64) -> Option<MessageKey>,
) -> Result<Verified, OpenError> {
    let frame = Frame::decode(bytes)?;
    let key = key_for(frame.epoch).ok_or(OpenError::UnknownEpoch { epoch: frame.epoch })?;
    let plain = frame.decrypt(&key, group)?;
    let verified = Envelope::decode_verified(&plain)?;
    if verified.body.group != *group {
        return Err(OpenError::WrongGroup {
            expected: *group,
            found: verified.body.group,
        });
    }
    if verified.body.epoch != frame.epoch {
        return Err(OpenError::WrongEpoch {
            frame: frame.epoch,
            body: verified.body.epoch,
        });
    }
    Ok(verified)
}

/// Signs nothing, checks nothing: seals an already verified message (convenience for senders).
pub fn seal_verified(
    msg: &Verified,
    key: &MessageKey,
    nonce: [u8; 24],
) -> Result<Frame, codec::Error> {
    Frame::seal(&msg.encoded, key, &msg.body.group, msg.body.epoch, nonce)
}
