//! How fast a node seals and opens messages, against the cost of the one ed25519
//! `verify_strict` every opened message needs.
//!
//! `cargo bench -p qun-protocol --bench open` runs three benchmarks of a 256-byte text
//! message, then prints messages per second for each and the ratio of `open` to bare
//! `verify_strict`: opening (decode, decrypt, decode, verify, checks) should cost little
//! more than the signature check itself (goal: ratio >= 0.85).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use qun_protocol::frame::{self, Frame};
use qun_protocol::id::{GroupId, MsgId};
use qun_protocol::identity::Identity;
use qun_protocol::message::{Body, Envelope, Kind, Text};
use qun_protocol::order::Stamp;
use qun_protocol::secret::GroupSecret;

mod common;

const GROUP_NAME: &str = "open";
const BENCHES: [&str; 3] = ["seal", "open", "verify_strict"];
const TEXT_BYTES: usize = 256;

fn text_body(group: GroupId) -> Body {
    Body {
        group,
        epoch: 1,
        stamp: Stamp::new(1_700_000_000_000, 42),
        kind: Kind::Text(Text {
            text: "x".repeat(TEXT_BYTES),
            reply_to: Some(MsgId::from_bytes([4; 32])),
            mentions: Vec::new(),
        }),
    }
}

fn bench(c: &mut Criterion) {
    let identity = Identity::from_seed([1; 32]);
    let group = GroupId::from_bytes([5; 32]);
    let key = GroupSecret::from_bytes([7; 32]).message_key(&group, 1);
    let body = text_body(group);

    let mut g = c.benchmark_group(GROUP_NAME);
    g.throughput(Throughput::Elements(1));

    g.bench_function("seal", |b| {
        b.iter(|| {
            let msg = Envelope::sign(&identity, black_box(&body)).unwrap();
            frame::seal_verified(&msg, &key, [9; 24])
                .unwrap()
                .encode()
                .unwrap()
        })
    });

    let msg = Envelope::sign(&identity, &body).unwrap();
    let bytes = frame::seal_verified(&msg, &key, [9; 24])
        .unwrap()
        .encode()
        .unwrap();
    assert!(Frame::decode(&bytes).is_ok());
    g.bench_function("open", |b| {
        b.iter(|| frame::open(black_box(&bytes), &group, |_| Some(key.clone())).unwrap())
    });

    let signing = SigningKey::from_bytes(&[1; 32]);
    let verifying = signing.verifying_key();
    let message = vec![0x61u8; TEXT_BYTES];
    let signature = signing.sign(&message);
    g.bench_function("verify_strict", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&message), black_box(&signature))
                .unwrap()
        })
    });
    g.finish();
}

/// Mean time per iteration of one of this group's benches, ns.
fn mean_ns(bench: &str) -> Option<f64> {
    common::mean_ns(GROUP_NAME, bench)
}

fn report() {
    let rate = |bench: &str| {
        let r = mean_ns(bench).map(|ns| 1e9 / ns);
        match r {
            Some(r) => println!("{bench}: {r:.0} msgs/s"),
            None => println!("{bench}: no result (filtered out?)"),
        }
        r
    };
    let rates: Vec<Option<f64>> = BENCHES.iter().map(|b| rate(b)).collect();
    if let (Some(open), Some(verify)) = (rates[1], rates[2]) {
        println!("open / verify_strict = {:.2} (goal >= 0.85)", open / verify);
    }
}

fn main() {
    common::run(bench, report);
}
