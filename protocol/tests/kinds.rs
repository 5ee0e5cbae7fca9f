//! Message kinds this version does not know: a tag in the reserved control range is a
//! control op (stored with the control ops, not a post, counted by the fold as one it could
//! not apply), any other unknown tag is not; both open from a frame, keep their bytes and
//! show a placeholder.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::frame;
use qun_protocol::group::{self, Applied};
use qun_protocol::message::{CONTROL_TAGS, Join, Kind, Verified, is_control_tag};

mod common;
use common::*;

/// A future control kind (say, a role change): the first tag of the reserved range.
const FUTURE_CONTROL: u16 = 0x8000;
/// A future kind that is not a control op (say, a sticker).
const FUTURE_POST: u16 = 300;

fn unknown(tag: u16) -> Kind {
    Kind::Unknown {
        tag,
        payload: b"from a newer version".to_vec(),
    }
}

/// `kind` signed by `who` at `n`, sealed into a frame, and opened again as a receiver does.
fn through_a_frame(who: &qun_protocol::Identity, n: u64, kind: Kind) -> (Verified, Vec<u8>) {
    let sent = signed(who, &body(G1, 0, n, kind));
    let bytes = frame::seal_verified(&sent, &key(&G1, 0), [9; 24])
        .unwrap()
        .encode()
        .unwrap();
    let opened = frame::open(&bytes, &G1, |e| (e == 0).then(|| key(&G1, 0))).unwrap();
    assert_eq!(opened, sent);
    (opened, bytes)
}

#[test]
fn the_tag_alone_says_whether_an_unknown_kind_is_control() {
    assert!(is_control_tag(FUTURE_CONTROL));
    assert!(is_control_tag(u16::MAX));
    assert_eq!(*CONTROL_TAGS.start(), 0x8000);
    assert!(!is_control_tag(FUTURE_POST));
    assert!(!is_control_tag(CONTROL_TAGS.start() - 1));
    // The control kinds from before the range was reserved.
    for k in [
        Kind::Announcement(qun_protocol::message::Announcement { text: "a".into() }),
        Kind::Join(Join { inviter: None }),
        Kind::Leave,
    ] {
        assert!(k.is_control() && is_control_tag(k.tag()), "{}", k.name());
    }
    assert!(!hi().is_control() && !is_control_tag(hi().tag()));
}

#[test]
fn an_unknown_control_op_is_kept_filed_as_control_and_counted_by_the_fold() {
    let genesis = genesis().genesis;
    let m = member();
    let (join, _) = through_a_frame(&m, 1, Kind::Join(Join { inviter: None }));
    let (op, bytes) = through_a_frame(&m, 2, unknown(FUTURE_CONTROL));

    // Opened, verified, kept verbatim: what a node stores and forwards re-encodes the same.
    assert!(
        matches!(&op.body.kind, Kind::Unknown { tag: FUTURE_CONTROL, payload } if payload == b"from a newer version")
    );
    assert_eq!(op.envelope.encode().unwrap(), op.encoded);
    assert!(!bytes.is_empty());
    // A control op: filed with the group's control ops and folded; not a post.
    assert!(op.body.kind.is_control());
    assert!(!op.body.kind.is_post());
    assert_eq!(op.body.kind.name(), "unknown");
    assert!(op.body.kind.preview().text.contains("upgrade qun"));

    let before = group::State::fold(&genesis, [&join]);
    assert_eq!(before.unknown_control_ops, 0);
    let mut after = before.clone();
    assert_eq!(after.apply_next(&op), Ok(Applied::Ok));
    // The state says it is incomplete, and is otherwise what it was.
    assert_eq!(after.unknown_control_ops, 1);
    assert_eq!(after.members, before.members);
    assert_eq!(group::State::fold(&genesis, [&op, &join]), after);

    // Like any op, refused after its author's leave (and then not counted).
    let (leave, _) = through_a_frame(&m, 3, Kind::Leave);
    let (late, _) = through_a_frame(&m, 4, unknown(FUTURE_CONTROL + 1));
    let state = group::State::fold(&genesis, [&join, &leave, &late]);
    assert!(state.admits(&late).is_err());
    assert_eq!(state.unknown_control_ops, 0);
}

#[test]
fn an_unknown_non_control_kind_is_kept_and_leaves_the_state_alone() {
    let genesis = genesis().genesis;
    let m = member();
    let (join, _) = through_a_frame(&m, 1, Kind::Join(Join { inviter: None }));
    let (post, _) = through_a_frame(&m, 2, unknown(FUTURE_POST));

    assert!(matches!(
        &post.body.kind,
        Kind::Unknown {
            tag: FUTURE_POST,
            ..
        }
    ));
    assert_eq!(post.envelope.encode().unwrap(), post.encoded);
    assert!(!post.body.kind.is_control());
    assert_eq!(post.body.kind.name(), "unknown");
    assert!(post.body.kind.preview().text.contains("kind 300"));

    let before = group::State::fold(&genesis, [&join]);
    let mut after = before.clone();
    assert_eq!(after.apply_next(&post), Ok(Applied::Ok));
    assert_eq!(after, before);
    assert_eq!(after.unknown_control_ops, 0);
}
