//! Allocation bounds: decoders fed hostile length prefixes (each claiming far more than
//! the input holds) fail quickly, holding no more heap than their sequences' bounded
//! preallocations.

use super::*;

/// serde preallocates at most 1 MiB for a sequence (here: every `Vec<u8>` field, which is
/// decoded element by element), whatever its length prefix claims; strings and the input
/// itself are checked against the bytes that remain before anything is allocated.
const SEQUENCE_PREALLOC: u64 = 1024 * 1024;
/// Heap for everything else a failing decode touches (error messages, small buffers).
const SLACK: u64 = 64 * 1024;

/// Asserts that `f` (decoding a few hostile bytes) fails, quickly, and never holds more
/// heap on this thread than `sequences` nested preallocations plus [`SLACK`]. Bytes live
/// at once bound the largest single allocation too.
fn assert_bounded<T: std::fmt::Debug>(
    what: &str,
    sequences: u64,
    f: impl FnOnce() -> Result<T, String>,
) {
    let start = Instant::now();
    let mut out = None;
    let info = allocation_counter::measure(|| out = Some(f()));
    let elapsed = start.elapsed();
    let out = out.unwrap();
    assert!(out.is_err(), "{what}: decoded {out:?}");
    assert!(
        info.count_total > 0,
        "{what}: allocation counter not installed"
    );
    let max = sequences * SEQUENCE_PREALLOC + SLACK;
    assert!(
        info.bytes_max <= max,
        "{what}: {} bytes live at once, over {max}",
        info.bytes_max
    );
    assert!(elapsed < Duration::from_secs(1), "{what}: took {elapsed:?}");
}

/// Hostile length prefixes: each claims far more than the input holds.
const HUGE: [u64; 3] = [0xFFFF_FFFF, u64::MAX, (MAX_FRAME_BYTES as u64) + 1];

fn frame_with_length(len: u64) -> Vec<u8> {
    let mut b = vec![frame::VERSION];
    b.extend_from_slice(&EPOCH.to_le_bytes());
    b.extend_from_slice(&[9; 24]);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&[0xaa; 8]);
    b
}

fn envelope_with_length(len: u64) -> Vec<u8> {
    let mut b = owner().author().as_bytes().to_vec();
    b.extend_from_slice(&[0x55; 64]);
    b.extend_from_slice(&len.to_le_bytes());
    b.extend_from_slice(&[0xaa; 8]);
    b
}

fn body_header(tag: u16) -> Vec<u8> {
    let mut b = GROUP.as_bytes().to_vec();
    b.extend_from_slice(&EPOCH.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    b.extend_from_slice(&NOW_MS.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b
}

#[test]
fn huge_frame_length_prefix() {
    for len in HUGE {
        let bytes = frame_with_length(len);
        assert_bounded("Frame::decode", 1, || {
            Frame::decode(&bytes).map_err(|e| e.to_string())
        });
        assert_bounded("frame::open", 1, || open(&bytes).map_err(|e| e.to_string()));
    }
}

#[test]
fn huge_envelope_length_prefix() {
    for len in HUGE {
        let bytes = envelope_with_length(len);
        assert_bounded("Envelope::decode_verified", 1, || {
            Envelope::decode_verified(&bytes).map_err(|e| e.to_string())
        });
        // The same envelope sealed in a valid frame.
        let sealed = Frame::seal(&bytes, &key(), &GROUP, EPOCH, [9; 24])
            .unwrap()
            .encode()
            .unwrap();
        assert_bounded("open(envelope)", 1, || {
            open(&sealed).map_err(|e| e.to_string())
        });
    }
}

#[test]
fn huge_text_length_prefixes() {
    for len in HUGE {
        // Text: the string's prefix.
        let mut t = len.to_le_bytes().to_vec();
        t.extend_from_slice(b"hello");
        assert_bounded("Text (string)", 0, || {
            codec::decode::<Text>(&t, MAX_BODY_BYTES).map_err(|e| e.to_string())
        });
        // Text: the mentions' prefix.
        let mut m = 2u64.to_le_bytes().to_vec();
        m.extend_from_slice(b"hi");
        m.push(0); // reply_to: None
        m.extend_from_slice(&len.to_le_bytes());
        m.extend_from_slice(&[0xaa; 8]);
        assert_bounded("Text (mentions)", 1, || {
            codec::decode::<Text>(&m, MAX_BODY_BYTES).map_err(|e| e.to_string())
        });
        // Body: the kind payload's prefix.
        let mut b = body_header(1);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&[0xaa; 8]);
        assert_bounded("Body (kind payload)", 1, || {
            codec::decode::<Body>(&b, MAX_BODY_BYTES).map_err(|e| e.to_string())
        });
        // Body: a text payload whose own string prefix is huge.
        let mut b = body_header(1);
        b.extend_from_slice(&(t.len() as u64).to_le_bytes());
        b.extend_from_slice(&t);
        assert_bounded("Body (text string)", 0, || {
            codec::decode::<Body>(&b, MAX_BODY_BYTES).map_err(|e| e.to_string())
        });
        // Meta: the tag list's prefix.
        let mut mt = 0u64.to_le_bytes().to_vec();
        mt.extend_from_slice(&len.to_le_bytes());
        mt.extend_from_slice(&[0xaa; 8]);
        assert_bounded("Meta (tags)", 1, || {
            codec::decode::<Meta>(&mt, MAX_BODY_BYTES).map_err(|e| e.to_string())
        });
    }
}

#[test]
fn huge_invite_and_genesis_length_prefixes() {
    let good = codec::encode(&content(vec![vec![1; 8]])).unwrap();
    let genesis =
        SignedGenesis::create(&owner(), "g", NOW_MS, Visibility::Private, [3; 16]).unwrap();
    // Content layout: version, group, inviter, epoch, check, key, then the address list's
    // prefix.
    let addrs_at = 1 + 32 + 32 + 8 + 16 + 32;
    for len in HUGE {
        let mut b = good.clone();
        b[addrs_at..addrs_at + 8].copy_from_slice(&len.to_le_bytes());
        // A list of byte strings: the list and one string can both be preallocated.
        assert_bounded("Invite (addrs)", 2, || {
            Invite::from_bytes(&b, NOW_MS).map_err(|e| e.to_string())
        });
        // The first address's own prefix.
        let mut b = good.clone();
        b[addrs_at + 8..addrs_at + 16].copy_from_slice(&len.to_le_bytes());
        assert_bounded("Invite (addr)", 1, || {
            Invite::from_bytes(&b, NOW_MS).map_err(|e| e.to_string())
        });
        // Genesis: the name's prefix (after the 32-byte owner).
        let mut g = codec::encode(&genesis).unwrap();
        g[32..40].copy_from_slice(&len.to_le_bytes());
        assert_bounded("SignedGenesis (name)", 0, || {
            SignedGenesis::decode(&g).map_err(|e| e.to_string())
        });
    }
}
