//! Fuzzes the one validation path for network input: `frame::open` with a fixed key for a
//! fixed group, and `Envelope::decode_verified` on the same bytes (what a frame decrypts
//! to). Neither may panic; whatever opens must re-encode to the bytes it came from.
//!
//! `cargo +nightly fuzz run frame_open` from `protocol/`.

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use libfuzzer_sys::fuzz_target;
use qun_protocol::frame;
use qun_protocol::id::GroupId;
use qun_protocol::message::Envelope;
use qun_protocol::secret::GroupSecret;

const GROUP: GroupId = GroupId::from_bytes([1; 32]);

fuzz_target!(|data: &[u8]| {
    let secret = GroupSecret::from_bytes([7; 32]);
    if let Ok(msg) = frame::open(data, &GROUP, |epoch| {
        Some(secret.message_key(&GROUP, epoch))
    }) {
        assert_eq!(msg.body.group, GROUP);
        assert_eq!(msg.envelope.id().unwrap(), msg.id);
    }
    if let Ok(msg) = Envelope::decode_verified(data) {
        assert_eq!(msg.envelope.encode().unwrap(), data);
    }
});
