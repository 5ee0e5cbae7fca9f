//! The group state fold: ops by members without the right have no effect, and the state
//! does not depend on the order ops arrive in.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::group::{self};
use qun_protocol::message::{Announcement, Body, Join, Kind, Meta, Verified};
use qun_protocol::order::Stamp;

mod common;
use common::*;

fn ops() -> Vec<Verified> {
    let (o, m) = (owner(), member());
    let g = G1;
    vec![
        signed(
            &m,
            &body(
                g,
                0,
                1,
                Kind::Join(Join {
                    inviter: Some(o.author()),
                }),
            ),
        ),
        signed(
            &o,
            &body(
                g,
                0,
                2,
                Kind::Announcement(Announcement {
                    text: "welcome".into(),
                }),
            ),
        ),
        signed(
            &m,
            &body(
                g,
                0,
                3,
                Kind::Announcement(Announcement {
                    text: "spam".into(),
                }),
            ),
        ),
        signed(
            &m,
            &body(
                g,
                0,
                3,
                Kind::Meta(Meta {
                    description: "hijacked".into(),
                    tags: vec!["spam".into()],
                }),
            ),
        ),
        signed(
            &o,
            &body(
                g,
                0,
                4,
                Kind::Meta(Meta {
                    description: "a reading group".into(),
                    tags: vec!["books".into(), "读书".into()],
                }),
            ),
        ),
        signed(&m, &body(g, 0, 5, hi())),
        // Two concurrent announcements by the owner: the order key decides.
        signed(
            &o,
            &body(
                g,
                0,
                6,
                Kind::Announcement(Announcement {
                    text: "first".into(),
                }),
            ),
        ),
        signed(
            &o,
            &Body {
                stamp: Stamp::new(NOW_MS + 6, 1),
                ..body(
                    g,
                    0,
                    6,
                    Kind::Announcement(Announcement {
                        text: "second".into(),
                    }),
                )
            },
        ),
        signed(&o, &body(g, 0, 8, Kind::Leave)),
        signed(
            &m,
            &body(
                g,
                0,
                9,
                Kind::Unknown {
                    tag: 200,
                    payload: vec![1, 2, 3],
                },
            ),
        ),
    ]
}

#[test]
fn announcement_by_non_owner_has_no_effect() {
    let genesis = genesis().genesis;
    let mut state = group::State::new(&genesis);
    let (o, m) = (owner(), member());
    let by_member = signed(
        &m,
        &body(
            G1,
            0,
            1,
            Kind::Announcement(Announcement { text: "x".into() }),
        ),
    );
    assert_eq!(state.apply(&by_member), group::Applied::NotAllowed);
    assert_eq!(state, group::State::new(&genesis));

    let by_owner = signed(
        &o,
        &body(
            G1,
            0,
            2,
            Kind::Announcement(Announcement { text: "y".into() }),
        ),
    );
    assert_eq!(state.apply(&by_owner), group::Applied::Ok);
    let ann = state.announcement.clone().unwrap();
    assert_eq!(
        (ann.text.as_str(), ann.author, ann.id),
        ("y", o.author(), by_owner.id)
    );

    // Still no effect once an owner's announcement is set.
    assert_eq!(state.apply(&by_member), group::Applied::NotAllowed);
    assert_eq!(
        state.announcement.as_ref().map(|a| a.text.as_str()),
        Some("y")
    );

    // The owner clears it with an empty one.
    let clear = signed(
        &o,
        &body(
            G1,
            0,
            3,
            Kind::Announcement(Announcement {
                text: String::new(),
            }),
        ),
    );
    assert_eq!(state.apply(&clear), group::Applied::Ok);
    assert_eq!(state.announcement, None);
}

#[test]
fn fold_is_independent_of_arrival_order() {
    let genesis = genesis().genesis;
    let msgs = ops();
    let expected = group::State::fold(&genesis, &msgs);
    assert_eq!(
        expected.announcement.as_ref().map(|a| a.text.as_str()),
        Some("second")
    );
    assert_eq!(expected.description, "a reading group");
    assert_eq!(expected.tags, vec!["books".to_owned(), "读书".to_owned()]);
    // The owner cannot leave; the member joined.
    assert!(expected.members.contains(&owner().author()));
    assert!(expected.members.contains(&member().author()));
    assert_eq!(expected.members.len(), 2);

    let mut order: Vec<usize> = (0..msgs.len()).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..200 {
        // Fisher-Yates with xorshift64: reproducible shuffles.
        for i in (1..order.len()).rev() {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            order.swap(i, (rng % (i as u64 + 1)) as usize);
        }
        let shuffled: Vec<&Verified> = order.iter().map(|&i| &msgs[i]).collect();
        assert_eq!(group::State::fold(&genesis, shuffled), expected);
    }
    let reversed: Vec<&Verified> = msgs.iter().rev().collect();
    assert_eq!(group::State::fold(&genesis, reversed), expected);
}

#[test]
fn member_leave_is_folded() {
    let genesis = genesis().genesis;
    let m = member();
    let msgs = [
        signed(&m, &body(G1, 0, 1, Kind::Join(Join { inviter: None }))),
        signed(&m, &body(G1, 0, 2, Kind::Leave)),
    ];
    let state = group::State::fold(&genesis, msgs.iter().rev());
    assert!(!state.members.contains(&m.author()));
    assert!(state.members.contains(&owner().author()));
}

#[test]
fn what_a_member_writes_between_its_leave_and_a_rejoin_is_refused() {
    let genesis = genesis().genesis;
    let (o, m) = (owner(), member());
    let join = |at| signed(&m, &body(G1, 0, at, Kind::Join(Join { inviter: None })));
    let post = |at| signed(&m, &body(G1, 0, at, hi()));
    let before = post(2);
    let leave = signed(&m, &body(G1, 0, 3, Kind::Leave));
    let between = post(4);
    let unknown_between = signed(
        &m,
        &body(
            G1,
            0,
            4,
            Kind::Unknown {
                tag: 200,
                payload: vec![1],
            },
        ),
    );
    let mut state = group::State::fold(&genesis, [&join(1), &before, &leave]);
    assert!(state.has_left(&m.author()));
    assert!(!state.members.contains(&m.author()));
    // Written before the leave: still taken (it may arrive late).
    assert_eq!(state.admits(&before), Ok(()));
    // Stamped after the leave: refused, whatever its kind, and the refusal names the leave.
    let refused = Err(group::Refused::AuthorLeft {
        author: m.author(),
        left_at: leave.order_key(),
    });
    assert_eq!(state.admits(&between), refused);
    assert_eq!(state.admits(&unknown_between), refused);
    // Folding it has no effect (it does not make the author a member again).
    assert_eq!(state.apply(&between), group::Applied::NotAllowed);
    assert!(!state.members.contains(&m.author()));

    // A post written after a rejoin that has not arrived yet is refused for now...
    let after_rejoin = post(6);
    assert!(state.admits(&after_rejoin).is_err());
    // ...and taken once the rejoin is folded; what was written between stays refused.
    let rejoin = join(5);
    assert_eq!(state.admits(&rejoin), Ok(()));
    state.apply(&rejoin);
    assert!(!state.has_left(&m.author()));
    assert!(state.members.contains(&m.author()));
    assert_eq!(state.admits(&after_rejoin), Ok(()));
    assert_eq!(state.admits(&between), refused);
    assert_eq!(state.admits(&before), Ok(()));

    // The fold gives the same whatever order the ops came in.
    let all = [&rejoin, &leave, &join(1), &before];
    assert_eq!(group::State::fold(&genesis, all), state);

    // The owner cannot leave, so is never refused.
    let owner_leave = signed(&o, &body(G1, 0, 7, Kind::Leave));
    let owner_post = signed(&o, &body(G1, 0, 8, hi()));
    let state = group::State::fold(&genesis, [&owner_leave]);
    assert!(!state.has_left(&o.author()));
    assert_eq!(state.admits(&owner_post), Ok(()));
}
