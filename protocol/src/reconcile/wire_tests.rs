//! Unit tests of the reconciliation wire format (beside `wire.rs`, kept apart for its length).

use super::*;

fn key(ms: u64, counter: u64, first: u8) -> OrderKey {
    let mut id = [0x55u8; 32];
    id[0] = first;
    OrderKey {
        stamp: Stamp::new(ms, counter),
        id: MsgId::from_bytes(id),
    }
}

fn sample() -> Message {
    let b1 = OrderKey {
        stamp: Stamp::new(5, 0),
        ..MIN_KEY
    };
    Message::new(vec![
        Range {
            upper: Bound::Key(b1),
            mode: Mode::Skip,
        },
        Range {
            upper: Bound::Key(key(9, 1_700_000_000_000, 3)),
            mode: Mode::IdList(vec![
                key(5, 1_700_000_000_000, 1),
                key(5, 1_700_000_000_500, 2),
            ]),
        },
        Range {
            upper: Bound::Key(key(9, 1_700_000_000_000, 4)),
            mode: Mode::Fingerprint(Fingerprint::from_bytes([9; 16])),
        },
        Range {
            upper: Bound::Infinity,
            mode: Mode::Diff {
                lacking: vec![true, false, false, true, false, false, false, false, true],
                extra: vec![key(10, 3, 0)],
            },
        },
    ])
    .unwrap()
}

#[test]
fn round_trip_and_canonical() {
    let msg = sample();
    let bytes = msg.encode();
    assert_eq!(Message::decode(&bytes), Ok(msg.clone()));
    assert_eq!(bytes.len(), msg.encoded_len());
    assert_eq!(Message::decode(&[VERSION]), Ok(Message::default()));
}

#[test]
fn refuses_malformed_input() {
    let bytes = sample().encode();
    assert_eq!(Message::decode(&[]), Err(Error::Empty));
    assert_eq!(Message::decode(&[2]), Err(Error::Version(2)));
    assert!(matches!(
        Message::decode(&[VERSION, 0x08]),
        Err(Error::Head { .. })
    ));
    // A prefix is refused unless it ends between ranges, when it is a message itself.
    let mut whole = 0;
    for cut in 2..bytes.len() {
        if let Ok(msg) = Message::decode(&bytes[..cut]) {
            assert_eq!(msg.encode(), &bytes[..cut]);
            whole += 1;
        }
    }
    assert_eq!(whole, 2);
    // Overlong varint: ms delta 0 written as two bytes.
    assert!(matches!(
        Message::decode(&[VERSION, MODE_FINGERPRINT, 0x80, 0x00]),
        Err(Error::Varint { .. })
    ));
    // A prefix ending in a zero byte is not canonical.
    assert!(matches!(
        Message::decode(&[VERSION, MODE_SKIP, 1, 0, 2, 7, 0]),
        Err(Error::Prefix { .. })
    ));
    // Bound equal to the lower end of its range.
    let mut unordered = vec![VERSION, MODE_FINGERPRINT, 0, 0, 0];
    unordered.extend_from_slice(&[0; 16]);
    assert_eq!(
        Message::decode(&unordered),
        Err(Error::Unordered { index: 0 })
    );
    // Trailing and adjacent skips.
    assert_eq!(
        Message::decode(&[VERSION, MODE_SKIP, 1, 0, 0]),
        Err(Error::TrailingSkip)
    );
    assert_eq!(
        Message::decode(&[VERSION, MODE_SKIP, 1, 0, 0, MODE_SKIP, 1, 0, 0]),
        Err(Error::AdjacentSkips { index: 1 })
    );
    // A range after Infinity.
    assert_eq!(
        Message::decode(&[
            VERSION,
            MODE_ID_LIST | HEAD_INFINITY,
            0,
            MODE_ID_LIST | HEAD_INFINITY,
            0
        ]),
        Err(Error::AfterInfinity { index: 1 })
    );
    // A list count far beyond the input is refused before allocating.
    assert!(matches!(
        Message::decode(&[
            VERSION,
            MODE_ID_LIST | HEAD_INFINITY,
            0xff,
            0xff,
            0xff,
            0xff,
            0x0f
        ]),
        Err(Error::Length { .. })
    ));
    // Non-zero bitmap padding.
    assert!(matches!(
        Message::decode(&[VERSION, MODE_DIFF | HEAD_INFINITY, 1, 0b10, 0]),
        Err(Error::Padding { .. })
    ));
}

#[test]
fn new_checks_order_and_lists() {
    let k = |l| OrderKey {
        stamp: Stamp::new(l, 0),
        ..MIN_KEY
    };
    let fp = Mode::Fingerprint(Fingerprint::from_bytes([0; 16]));
    let unsorted = vec![
        Range {
            upper: Bound::Key(k(5)),
            mode: fp.clone(),
        },
        Range {
            upper: Bound::Key(k(3)),
            mode: fp.clone(),
        },
    ];
    assert_eq!(Message::new(unsorted), Err(Error::Unordered { index: 1 }));
    let outside = vec![Range {
        upper: Bound::Key(k(5)),
        mode: Mode::IdList(vec![k(6)]),
    }];
    assert_eq!(Message::new(outside), Err(Error::BadList { index: 0 }));
    let descending = vec![Range {
        upper: Bound::Infinity,
        mode: Mode::IdList(vec![k(6), k(2)]),
    }];
    assert_eq!(Message::new(descending), Err(Error::BadList { index: 0 }));
}
