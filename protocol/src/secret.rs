//! The group secret ("shared topic key") and the keys derived from it.
//!
//! Each epoch of a group has its own 32-byte secret. With HKDF-SHA256 (salt = group id,
//! ikm = epoch secret) and a distinct `info` label per purpose, it yields:
//! * the gossipsub topic name of that epoch (`qun/1/<hex>`), so relaying peers and the DHT
//!   see neither the group name nor the secret;
//! * the epoch's AEAD message key;
//! * the epoch's sync key, which keys the proof a sync request carries
//!   ([`crate::sync::Proof`]): only a holder of the epoch secret can make one.
//!
//! Knowing the secret is what makes a node able to find and read the group.

use std::fmt;

use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::id::GroupId;

const INFO_TOPIC: &[u8] = b"qun/v1/topic";
const INFO_MESSAGE_KEY: &[u8] = b"qun/v1/message-key";
const INFO_INVITE_CHECK: &[u8] = b"qun/v1/invite-check";
const INFO_SYNC_KEY: &[u8] = b"qun/v1/sync-key";

/// The secret of one epoch of a group.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSecret([u8; 32]);

impl fmt::Debug for GroupSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GroupSecret(..)")
    }
}

/// The AEAD key of one epoch of a group.
#[derive(Clone, PartialEq, Eq)]
pub struct MessageKey(pub(crate) [u8; 32]);

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(..)")
    }
}

impl MessageKey {
    /// The raw key bytes (for test vectors).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The HMAC key of one epoch of a group for sync proofs ([`crate::sync::Proof`]).
#[derive(Clone, PartialEq, Eq)]
pub struct SyncKey(pub(crate) [u8; 32]);

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncKey(..)")
    }
}

impl SyncKey {
    /// A key no group has: a responder checks a proof for a group it does not hold against
    /// it, so that answer takes as long as a real check (the bytes are the same either way).
    pub const fn unknown() -> Self {
        Self([0; 32])
    }
}

impl GroupSecret {
    /// Wraps 32 random bytes from the caller.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw secret.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn expand(&self, group: &GroupId, label: &[u8], epoch: u64, out: &mut [u8]) {
        let hk = Hkdf::<Sha256>::new(Some(group.as_bytes()), &self.0);
        let mut info = Vec::with_capacity(label.len() + 8);
        info.extend_from_slice(label);
        info.extend_from_slice(&epoch.to_be_bytes());
        // HKDF-SHA256 can expand up to 8160 bytes; we ask for at most 32.
        if hk.expand(&info, out).is_err() {
            out.fill(0);
        }
    }

    /// The gossipsub topic name of `epoch` of `group`.
    pub fn topic(&self, group: &GroupId, epoch: u64) -> String {
        let mut t = [0u8; 16];
        self.expand(group, INFO_TOPIC, epoch, &mut t);
        format!("qun/1/{}", hex::encode(t))
    }

    /// The AEAD key of `epoch` of `group`.
    pub fn message_key(&self, group: &GroupId, epoch: u64) -> MessageKey {
        let mut k = [0u8; 32];
        self.expand(group, INFO_MESSAGE_KEY, epoch, &mut k);
        MessageKey(k)
    }

    /// The check value of `epoch` an invite carries: lets a joiner tell this secret from a
    /// made-up one, and reveals nothing of it (16 bytes of HKDF output).
    pub fn invite_check(&self, group: &GroupId, epoch: u64) -> [u8; 16] {
        let mut c = [0u8; 16];
        self.expand(group, INFO_INVITE_CHECK, epoch, &mut c);
        c
    }

    /// The sync proof key of `epoch` of `group`.
    pub fn sync_key(&self, group: &GroupId, epoch: u64) -> SyncKey {
        let mut k = [0u8; 32];
        self.expand(group, INFO_SYNC_KEY, epoch, &mut k);
        SyncKey(k)
    }
}
