//! The one canonical codec: serde + bincode 1 with a fixed configuration.
//!
//! Fixed-width little-endian integers, `u64` length prefixes, trailing bytes rejected, and
//! decoding only from byte slices with an explicit byte limit. Under this configuration
//! every value has exactly one encoding, so re-encoding a decoded value gives the same bytes
//! and hashes over encodings (message ids, group ids) cannot be malleated. bincode is final
//! upstream; the wire format is pinned by the test vectors in `tests/vectors.txt`, and
//! swapping the codec is a change to this module only.

use bincode::Options;
use serde::{Serialize, de::DeserializeOwned};

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input was empty.
    #[error("empty input")]
    Empty,
    /// The input is longer than the limit for this type.
    #[error("{len} bytes is over the limit of {max}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit for this type.
        max: usize,
    },
    /// The bytes are not a valid encoding of this type.
    #[error("malformed: {0}")]
    Malformed(String),
}

fn options() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .reject_trailing_bytes()
}

/// Encodes a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    options()
        .serialize(value)
        .map_err(|e| Error::Malformed(e.to_string()))
}

/// Decodes a value from `bytes`, refusing inputs over `max` bytes, empty inputs and
/// trailing bytes. A string's length prefix is checked against the bytes that remain
/// before anything is allocated; a sequence (`Vec<T>`, including `Vec<u8>` fields, which
/// serde decodes element by element) preallocates at most 1 MiB whatever its prefix
/// claims (serde's cautious size hint), then fails at the end of the input. So a few
/// hostile bytes cost at most about 1 MiB per nested sequence, never what a prefix claims
/// (`tests/limits.rs` measures this).
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max: usize) -> Result<T, Error> {
    if bytes.is_empty() {
        return Err(Error::Empty);
    }
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    options()
        .with_limit(max as u64)
        .deserialize(bytes)
        .map_err(|e| Error::Malformed(e.to_string()))
}

/// Serde helpers for `Vec<u8>` fields: encoded exactly as a sequence of bytes would be
/// (`u64` length, then the bytes), but decoded in one copy instead of byte by byte, with
/// the length checked against the remaining input before anything is allocated.
pub mod bytes {
    use serde::{Deserializer, Serializer};

    /// Serialises as a length-prefixed byte string.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Deserialises a length-prefixed byte string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}
