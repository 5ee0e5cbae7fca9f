//! What the node benchmarks share: a text message body and the raw `open` rate they are
//! read against.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::{Duration, Instant};

use qun_protocol::message::{Kind, Text};
use qun_protocol::{Body, Envelope, GroupId, GroupSecret, Identity, Stamp, frame};

/// Text message `n` of `text_bytes` bytes in epoch 0 of `group`, stamped `ms`.
pub fn text_body(group: GroupId, n: u64, ms: u64, text_bytes: usize) -> Body {
    Body {
        group,
        epoch: 0,
        stamp: Stamp::new(ms, n),
        kind: Kind::Text(Text {
            text: format!("{n:08} ")
                .chars()
                .chain(std::iter::repeat('x'))
                .take(text_bytes)
                .collect(),
            reply_to: None,
            mentions: Vec::new(),
        }),
    }
}

/// Raw open rate on this thread (decrypt + decode + verify_strict of a 256-byte text):
/// frames per second through `frame::open` for two seconds.
pub fn raw_open_rate() -> f64 {
    let id = Identity::from_seed([5; 32]);
    let group = GroupId::from_bytes([1; 32]);
    let key = GroupSecret::from_bytes([7; 32]).message_key(&group, 0);
    let frames: Vec<Vec<u8>> = (0..256)
        .map(|i| {
            let m = Envelope::sign(&id, &text_body(group, i + 1, 1_700_000_000_000, 256)).unwrap();
            frame::seal_verified(&m, &key, [i as u8; 24])
                .unwrap()
                .encode()
                .unwrap()
        })
        .collect();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        for f in &frames {
            frame::open(f, &group, |_| Some(key.clone())).unwrap();
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}
