//! Range fingerprints: an additive digest of a set of order keys.
//!
//! Each key is hashed on its own (SHA-256 of its 48-byte big-endian form) and the hashes are
//! added as little-endian 256-bit integers, wrapping. Addition is commutative, so the sum does
//! not depend on the order keys are visited in, and the sums of two disjoint ranges add up to
//! the sum of their union: a range can be fingerprinted from the fingerprints of its parts
//! in one pass. The 16-byte fingerprint that goes on the wire is the first half of
//! `SHA-256(DOMAIN_FINGERPRINT || sum || count)`; hashing the count in separates sets whose
//! sums happen to agree.

use sha2::{Digest, Sha256};

use crate::id;
use crate::order::OrderKey;

/// Domain of the final fingerprint hash.
const DOMAIN_FINGERPRINT: &[u8] = b"qun/v1/reconcile-fingerprint\0";

/// Fingerprint of the keys of one range, as sent on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; Fingerprint::LEN]);

impl Fingerprint {
    /// Length on the wire.
    pub const LEN: usize = 16;

    /// Wraps raw bytes.
    pub const fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// Fingerprint of the given keys (each counted once per occurrence).
    pub fn of<'a>(keys: impl IntoIterator<Item = &'a OrderKey>) -> Self {
        let mut acc = Accumulator::default();
        for key in keys {
            acc.add(key);
        }
        acc.fingerprint()
    }
}

/// Running sum of key hashes and count: the state a [`Fingerprint`] is finished from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accumulator {
    /// 256-bit sum, least significant limb first.
    sum: [u64; 4],
    count: u64,
}

impl Accumulator {
    /// Adds one key.
    pub fn add(&mut self, key: &OrderKey) {
        let hash: [u8; 32] = Sha256::digest(key.to_bytes()).into();
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(hash.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(word);
        }
        self.add_sum(&limbs);
        self.count = self.count.wrapping_add(1);
    }

    /// Adds everything another accumulator holds (the union of two disjoint ranges).
    pub fn merge(&mut self, other: &Accumulator) {
        self.add_sum(&other.sum);
        self.count = self.count.wrapping_add(other.count);
    }

    /// Number of keys added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The fingerprint of the keys added so far.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut data = [0u8; 40];
        for (chunk, limb) in data.chunks_exact_mut(8).zip(self.sum) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        data[32..].copy_from_slice(&self.count.to_le_bytes());
        let digest = id::hash(DOMAIN_FINGERPRINT, &data);
        let mut out = [0u8; Fingerprint::LEN];
        out.copy_from_slice(&digest[..Fingerprint::LEN]);
        Fingerprint(out)
    }

    /// `self.sum += other` modulo 2^256.
    fn add_sum(&mut self, other: &[u64; 4]) {
        let mut carry = false;
        for (limb, add) in self.sum.iter_mut().zip(other) {
            let (s1, c1) = limb.overflowing_add(*add);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *limb = s2;
            carry = c1 || c2;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MsgId;
    use crate::order::Stamp;

    fn key(n: u8) -> OrderKey {
        OrderKey {
            stamp: Stamp::new(u64::from(n), 1000 + u64::from(n)),
            id: MsgId::from_bytes([n; 32]),
        }
    }

    #[test]
    fn order_independent_and_additive() {
        let keys: Vec<OrderKey> = (0..20).map(key).collect();
        let forward = Fingerprint::of(&keys);
        let backward = Fingerprint::of(keys.iter().rev());
        assert_eq!(forward, backward);

        let mut left = Accumulator::default();
        keys[..7].iter().for_each(|k| left.add(k));
        let mut right = Accumulator::default();
        keys[7..].iter().for_each(|k| right.add(k));
        left.merge(&right);
        assert_eq!(left.fingerprint(), forward);
        assert_eq!(left.count(), 20);
    }

    #[test]
    fn differs_by_content_and_count() {
        let keys: Vec<OrderKey> = (0..5).map(key).collect();
        assert_ne!(Fingerprint::of(&keys), Fingerprint::of(&keys[..4]));
        assert_ne!(Fingerprint::of(&keys[..1]), Fingerprint::of(&keys[1..2]));
        // The same key twice is a different multiset from the key once.
        assert_ne!(
            Fingerprint::of(&keys[..1]),
            Fingerprint::of([&keys[0], &keys[0]])
        );
        // The empty set has a fixed fingerprint.
        assert_eq!(Fingerprint::of(&[]), Accumulator::default().fingerprint());
    }

    #[test]
    fn sum_wraps_at_256_bits() {
        let mut acc = Accumulator {
            sum: [u64::MAX; 4],
            count: 0,
        };
        acc.add_sum(&[1, 0, 0, 0]);
        assert_eq!(acc.sum, [0; 4]);
        acc.add_sum(&[u64::MAX, 0, 0, 0]);
        acc.add_sum(&[1, 0, 0, 0]);
        assert_eq!(acc.sum, [0, 1, 0, 0]);
    }
}
