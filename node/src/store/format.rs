//! The encoding of every metadata record (everything but the raw message frames).
//!
//! A record is one format byte, then the value:
//! * [`CBOR`] (`0x01`): a CBOR map of named fields (RFC 8949, written by `ciborium` from
//!   the record's serde derive). Unknown fields are ignored when reading, and fields added
//!   later carry `#[serde(default)]`, so a record can gain a field without a new schema:
//!   an older qun reads a newer record (it skips the field), a newer qun reads an older one
//!   (it takes the default).
//!
//! Signed protocol objects inside a record (a genesis, a card, a profile, a join request
//! or approval) are kept as their canonical protocol encoding ([`wire`]), a CBOR byte
//! string: their signature covers that encoding and the protocol versions it, so the store
//! never re-expresses them. Raw byte fields use [`bytes`] (a byte string, not an array of
//! numbers).
//!
//! Every decode is bounded: the record's length is checked against a per-tree maximum
//! before anything is decoded, CBOR nesting is limited by ciborium (256 levels), strings
//! and byte strings grow only with the input read, and trailing bytes are refused.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Error;

/// Format byte: a CBOR map of named fields.
pub const CBOR: u8 = 1;

/// Encodes a record: the [`CBOR`] format byte, then the value as CBOR.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    let mut out = vec![CBOR];
    ciborium::into_writer(value, &mut out)
        .map_err(|e| Error::Corrupt(format!("could not encode a record: {e}")))?;
    Ok(out)
}

/// Decodes a record of at most `max` bytes; `what` names it in the error (tree and key).
///
/// # Errors
/// [`Error::Corrupt`] when the record is empty, over `max`, of an unknown format, not a
/// valid value of `T`, or followed by trailing bytes.
pub fn decode<T: DeserializeOwned>(
    what: &dyn std::fmt::Display,
    bytes: &[u8],
    max: usize,
) -> Result<T, Error> {
    let corrupt = |why: String| Error::Corrupt(format!("{what}: {why}"));
    if bytes.len() > max {
        return Err(corrupt(format!(
            "{} bytes is over the limit of {max}",
            bytes.len()
        )));
    }
    let (tag, mut rest) = bytes
        .split_first()
        .ok_or_else(|| corrupt("empty record".into()))?;
    if *tag != CBOR {
        return Err(corrupt(format!(
            "unknown record format {tag} (written by a newer qun?)"
        )));
    }
    let value = ciborium::from_reader(&mut rest).map_err(|e| corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

/// Names a record in an error: its tree and key (hex, shortened).
pub struct At<'a> {
    /// The tree.
    pub tree: &'a str,
    /// The key.
    pub key: &'a [u8],
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = hex::encode(&self.key[..self.key.len().min(16)]);
        let more = if self.key.len() > 16 { "…" } else { "" };
        write!(f, "{} record {key}{more}", self.tree)
    }
}

/// A byte-string visitor shared by [`bytes`] and [`wire`].
struct ByteBuf;

impl<'de> serde::de::Visitor<'de> for ByteBuf {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }
}

/// Serde adapter for `Vec<u8>` fields: a CBOR byte string.
pub mod bytes {
    use serde::{Deserializer, Serializer};

    /// Writes the bytes as one byte string.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Reads one byte string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(super::ByteBuf)
    }
}

/// Serde adapter for `Vec<Vec<u8>>` fields: an array of CBOR byte strings.
pub mod byte_list {
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serialize, Serializer};

    /// One byte string of the list, written.
    struct Ref<'a>(&'a [u8]);

    impl Serialize for Ref<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }

    /// One byte string of the list, read.
    struct Item(Vec<u8>);

    impl<'de> serde::Deserialize<'de> for Item {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_byte_buf(super::ByteBuf).map(Item)
        }
    }

    /// Writes an array of byte strings.
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&Ref(b))?;
        }
        seq.end()
    }

    /// Reads an array of byte strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let items: Vec<Item> = serde::Deserialize::deserialize(d)?;
        Ok(items.into_iter().map(|i| i.0).collect())
    }
}

/// Largest signed protocol object kept inside a record (bytes).
pub const MAX_WIRE_BYTES: usize = 64 * 1024;

/// Serde adapter for a signed protocol object: its canonical protocol encoding
/// ([`qun_protocol::codec`]) as a CBOR byte string, decoded with a limit of
/// [`MAX_WIRE_BYTES`].
pub mod wire {
    use qun_protocol::codec;
    use serde::de::{DeserializeOwned, Error as _};
    use serde::ser::Error as _;
    use serde::{Deserializer, Serialize, Serializer};

    /// Writes the value's protocol encoding as a byte string.
    pub fn serialize<T: Serialize, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        let bytes = codec::encode(v).map_err(S::Error::custom)?;
        s.serialize_bytes(&bytes)
    }

    /// Reads a byte string and decodes it with the protocol codec.
    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let bytes = d.deserialize_byte_buf(super::ByteBuf)?;
        codec::decode(&bytes, super::MAX_WIRE_BYTES).map_err(D::Error::custom)
    }
}

/// Serde adapter for an optional signed protocol object (see [`wire`]).
pub mod wire_opt {
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// The value inside, written with [`super::wire`].
    struct Ref<'a, T>(&'a T);

    impl<T: Serialize> Serialize for Ref<'_, T> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::wire::serialize(self.0, s)
        }
    }

    /// The value inside, read with [`super::wire`].
    struct Item<T>(T);

    impl<'de, T: DeserializeOwned> Deserialize<'de> for Item<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            super::wire::deserialize(d).map(Item)
        }
    }

    /// Writes `null` or the value's protocol encoding.
    pub fn serialize<T: Serialize, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&Ref(v)),
            None => s.serialize_none(),
        }
    }

    /// Reads `null` or a protocol encoding.
    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        let v: Option<Item<T>> = Deserialize::deserialize(d)?;
        Ok(v.map(|i| i.0))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Old {
        a: u64,
        #[serde(with = "bytes")]
        raw: Vec<u8>,
    }

    /// `Old` after gaining a field.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct New {
        a: u64,
        #[serde(with = "bytes")]
        raw: Vec<u8>,
        #[serde(default)]
        added: Option<String>,
        #[serde(default, with = "byte_list")]
        list: Vec<Vec<u8>>,
    }

    const AT: At<'static> = At {
        tree: "test",
        key: b"k",
    };

    #[test]
    fn a_record_gains_a_field_both_ways() {
        let old = Old {
            a: 7,
            raw: vec![1, 2, 3],
        };
        let new: New = decode(&AT, &encode(&old).unwrap(), 1024).unwrap();
        assert_eq!(
            new,
            New {
                a: 7,
                raw: vec![1, 2, 3],
                added: None,
                list: vec![],
            }
        );
        let newer = New {
            added: Some("x".into()),
            list: vec![vec![9], vec![]],
            ..new
        };
        let bytes = encode(&newer).unwrap();
        assert_eq!(decode::<New>(&AT, &bytes, 1024).unwrap(), newer);
        assert_eq!(decode::<Old>(&AT, &bytes, 1024).unwrap(), old);
    }

    #[test]
    fn bad_records_are_clean_errors() {
        let good = encode(&Old { a: 1, raw: vec![] }).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        let mut other_format = good.clone();
        other_format[0] = 9;
        let cases: [(&[u8], &str); 5] = [
            (&[], "empty"),
            (&good[..good.len() - 1], "test record 6b"),
            (&trailing, "trailing"),
            (&other_format, "unknown record format 9"),
            (&[CBOR, 0xff, 0xff], "test record"),
        ];
        for (bytes, want) in cases {
            let err = decode::<Old>(&AT, bytes, 1024).unwrap_err();
            assert!(matches!(err, Error::Corrupt(_)), "{err:?}");
            assert!(err.to_string().contains(want), "{err} lacks {want:?}");
        }
        let err = decode::<Old>(&AT, &good, 2).unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
    }
}
