//! Fuzzes what strangers send to discovery: DHT record values (`record::validate` under a
//! card key and a profile key), `/qun/discovery/1` requests and responses, and the join
//! messages they carry. Nothing may panic; whatever is accepted must re-encode to the
//! bytes it came from.
//!
//! `cargo +nightly fuzz run discovery_decode` from `protocol/`.

#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use libfuzzer_sys::fuzz_target;
use qun_protocol::codec;
use qun_protocol::discovery::join::{SignedApproval, SignedRequest};
use qun_protocol::discovery::record::{self, Record};
use qun_protocol::discovery::{card, profile, wire};
use qun_protocol::id::GroupId;
use qun_protocol::identity::Identity;
use qun_protocol::limits::MAX_JOIN_BYTES;

/// Late enough that no time a fuzzer writes is refused as being from the future.
const NOW_MS: u64 = u64::MAX;

fuzz_target!(|data: &[u8]| {
    let me = Identity::from_seed([1; 32]);
    let keys = [
        card::record_key(&GroupId::from_bytes([1; 32])),
        profile::record_key(&me.author()),
    ];
    for key in &keys {
        match record::validate(key, data, NOW_MS) {
            Ok(Record::Card(c)) => assert_eq!(c.encode().unwrap(), data),
            Ok(Record::Profile(p)) => assert_eq!(codec::encode(&p).unwrap(), data),
            Err(_) => {}
        }
    }
    if let Ok(r) = wire::Request::decode(data) {
        assert_eq!(r.encode().unwrap(), data);
        match r {
            wire::Request::Join(r) => {
                let _ = r.check(NOW_MS);
            }
            wire::Request::Approved(a) => {
                let _ = a.open_for(&me, NOW_MS);
            }
            wire::Request::Search { .. } => {}
        }
    }
    if let Ok(r) = wire::Response::decode(data) {
        assert_eq!(r.encode().unwrap(), data);
        if let wire::Response::Cards(cards) = r {
            for c in cards {
                let _ = c.check(NOW_MS);
            }
        }
    }
    if let Ok(r) = codec::decode::<SignedRequest>(data, MAX_JOIN_BYTES) {
        let _ = r.check(NOW_MS);
    }
    if let Ok(a) = codec::decode::<SignedApproval>(data, MAX_JOIN_BYTES) {
        let _ = a.open_for(&me, NOW_MS);
    }
});
