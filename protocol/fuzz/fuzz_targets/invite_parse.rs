//! Fuzzes invite codes: `Invite::parse` and `ShortCode::parse` on the input as (lossy)
//! UTF-8 text, `Invite::from_bytes` and a short code's `open` (the DHT record) on the raw
//! input. None may panic; whatever is accepted must re-encode to the same code or bytes.
//!
//! `cargo +nightly fuzz run invite_parse` from `protocol/`.

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use libfuzzer_sys::fuzz_target;
use qun_protocol::codec;
use qun_protocol::invite::Invite;
use qun_protocol::invite::short::ShortCode;

/// Before every expiry a fuzzer is likely to write, after none of them matters.
const NOW_MS: u64 = 0;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(invite) = Invite::parse(&text, NOW_MS) {
        let code = invite.to_text().unwrap();
        assert_eq!(Invite::parse(&code, NOW_MS).unwrap(), invite);
    }
    if let Ok(code) = ShortCode::parse(&text) {
        assert_eq!(ShortCode::parse(&code.to_text()).unwrap(), code);
    }
    let _ = ShortCode::from_secret([7; 16]).open(data, NOW_MS);
    if let Ok(invite) = Invite::from_bytes(data, NOW_MS) {
        assert_eq!(codec::encode(&invite).unwrap(), data);
    }
});
