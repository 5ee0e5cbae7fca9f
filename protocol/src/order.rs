//! The total order of a group's messages.
//!
//! Every message carries a Lamport clock (one more than the highest clock its author had
//! seen in the group) and the author's wall-clock time. The display and state order is
//! `(lamport, timestamp_ms, MsgId)`: causally later messages sort later, concurrent ones by
//! time, and the hash breaks every remaining tie, so every node orders a group identically.
//! The big-endian byte form sorts the same way, which is how the store keys its trees.

use serde::{Deserialize, Serialize};

use crate::id::MsgId;

/// Where a message sits in its group's total order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderKey {
    /// Lamport clock.
    pub lamport: u64,
    /// Author's wall clock, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// Message id (tie breaker).
    pub id: MsgId,
}

impl OrderKey {
    /// Length of [`OrderKey::to_bytes`].
    pub const LEN: usize = 48;

    /// Big-endian bytes whose lexicographic order is the key order.
    pub fn to_bytes(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.lamport.to_be_bytes());
        out[8..16].copy_from_slice(&self.timestamp_ms.to_be_bytes());
        out[16..].copy_from_slice(self.id.as_bytes());
        out
    }

    /// Parses [`OrderKey::to_bytes`]; `None` if the length is wrong.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::LEN {
            return None;
        }
        let lamport = u64::from_be_bytes(bytes[..8].try_into().ok()?);
        let timestamp_ms = u64::from_be_bytes(bytes[8..16].try_into().ok()?);
        let id: [u8; 32] = bytes[16..].try_into().ok()?;
        Some(Self {
            lamport,
            timestamp_ms,
            id: MsgId::from_bytes(id),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_order_matches_key_order() {
        let a = OrderKey {
            lamport: 1,
            timestamp_ms: 500,
            id: MsgId::from_bytes([9; 32]),
        };
        let b = OrderKey {
            lamport: 2,
            timestamp_ms: 1,
            id: MsgId::from_bytes([0; 32]),
        };
        let c = OrderKey {
            lamport: 2,
            timestamp_ms: 1,
            id: MsgId::from_bytes([1; 32]),
        };
        assert!(a < b && b < c);
        assert!(a.to_bytes() < b.to_bytes() && b.to_bytes() < c.to_bytes());
        assert_eq!(OrderKey::from_bytes(&c.to_bytes()), Some(c));
        assert_eq!(OrderKey::from_bytes(&[0; 47]), None);
    }
}
