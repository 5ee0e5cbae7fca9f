//! Governance rules, one kind at a time: roles, transfer, remove, ban, mute, pins and
//! re-keys, as `State::may` and the fold decide them.

// Test helpers outside `#[test]` functions unwrap too (clippy.toml only exempts the tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::group::{Action, Refused, Rekey, Role, State};
use qun_protocol::id::AuthorId;
use qun_protocol::identity::Identity;
use qun_protocol::limits::MAX_PINS;
use qun_protocol::message::{
    Announcement, Ban, Join, Kind, Meta, Mute, Pin, Remove, SetRole, Transfer, Unban, Unmute,
    Unpin, Verified,
};
use qun_protocol::secret::GroupSecret;
use qun_protocol::{Envelope, MsgId};

mod common;
use common::*;

fn alice() -> Identity {
    Identity::from_seed([3; 32])
}
fn carol() -> Identity {
    Identity::from_seed([4; 32])
}
fn dave() -> Identity {
    Identity::from_seed([5; 32])
}

/// A group where the owner, the member, Alice, Carol and Dave joined (ms 1 to 4), in
/// epoch 0.
struct G {
    state: State,
}

impl G {
    fn new() -> Self {
        let mut state = State::new(&genesis().genesis);
        for (n, who) in [member(), alice(), carol(), dave()].iter().enumerate() {
            let join = op(who, n as u64 + 1, Kind::Join(Join { inviter: None }));
            state.apply_verdict(&join).unwrap();
        }
        Self { state }
    }

    /// Applies `kind` by `who` at `n` ms (epoch 0).
    fn run(&mut self, who: &Identity, n: u64, kind: Kind) -> Result<(), Refused> {
        self.state.apply_verdict(&op(who, n, kind))
    }

    /// Applies `kind` by `who` at `n` ms in `epoch`.
    fn run_in(&mut self, who: &Identity, epoch: u64, n: u64, kind: Kind) -> Result<(), Refused> {
        self.state
            .apply_verdict(&signed(who, &body(G1, epoch, n, kind)))
    }

    /// Whether a text by `who` at `n` ms is taken.
    fn post(&self, who: &Identity, n: u64) -> Result<(), Refused> {
        self.state.admits(&op(who, n, hi()))
    }
}

fn op(who: &Identity, n: u64, kind: Kind) -> Verified {
    signed(who, &body(G1, 0, n, kind))
}

fn role(who: &Identity, role: Role) -> Kind {
    Kind::Role(SetRole {
        member: who.author(),
        role,
    })
}
fn remove(who: &Identity) -> Kind {
    Kind::Remove(Remove {
        member: who.author(),
    })
}
fn ban(who: &Identity) -> Kind {
    Kind::Ban(Ban {
        member: who.author(),
    })
}
fn mute(who: &Identity, duration_ms: Option<u64>) -> Kind {
    Kind::Mute(Mute {
        member: who.author(),
        duration_ms,
    })
}
fn rekey(epoch: u64, to: impl IntoIterator<Item = AuthorId>, secret: &GroupSecret) -> Rekey {
    Rekey::create(&G1, epoch, secret, to, ([11; 32], [12; 24])).unwrap()
}

#[test]
fn a_demoted_admins_later_ops_are_refused_and_its_earlier_ones_stand() {
    let mut g = G::new();
    let (o, a, c, d) = (owner(), alice(), carol(), dave());
    g.run(&o, 10, role(&a, Role::Admin)).unwrap();
    assert_eq!(g.state.role(&a.author()), Role::Admin);
    g.run(&a, 11, mute(&c, None)).unwrap();
    g.run(&o, 12, role(&a, Role::Member)).unwrap();
    assert_eq!(
        g.run(&a, 13, remove(&d)),
        Err(Refused::NotAdmin { author: a.author() })
    );
    let ann = Kind::Announcement(Announcement { text: "x".into() });
    assert_eq!(g.run(&a, 14, ann).unwrap_err().rule(), "not_admin");
    assert!(g.state.members.contains(&d.author()));
    // The mute from before the demotion stands.
    assert!(g.state.muted.contains_key(&c.author()));
    // Only the owner sets roles, and not its own.
    assert_eq!(
        g.run(&a, 15, role(&d, Role::Admin)),
        Err(Refused::NotOwner { author: a.author() })
    );
    assert_eq!(
        g.run(&o, 16, role(&o, Role::Member)),
        Err(Refused::SelfTarget { author: o.author() })
    );
    assert_eq!(
        g.run(&o, 17, role(&a, Role::Member)).unwrap_err().rule(),
        "no_change"
    );
}

#[test]
fn admins_moderate_members_but_not_each_other_and_only_the_owner_acts_on_admins() {
    let mut g = G::new();
    let (o, m, a, c) = (owner(), member(), alice(), carol());
    g.run(&o, 10, role(&a, Role::Admin)).unwrap();
    g.run(&o, 11, role(&c, Role::Admin)).unwrap();
    let outranked = g.run(&a, 12, remove(&c)).unwrap_err();
    assert_eq!(outranked.rule(), "outranked");
    assert_eq!(g.run(&a, 13, ban(&o)).unwrap_err().rule(), "outranked");
    assert_eq!(
        g.run(&a, 14, remove(&a)),
        Err(Refused::SelfTarget { author: a.author() })
    );
    // A member does no admin's work.
    assert_eq!(
        g.run(&m, 15, mute(&a, None)),
        Err(Refused::NotAdmin { author: m.author() })
    );
    let meta = Kind::Meta(Meta {
        description: "d".into(),
        tags: vec![],
    });
    assert_eq!(g.run(&m, 16, meta.clone()).unwrap_err().rule(), "not_admin");
    // Admins set meta and announcements, approve joins.
    g.run(&a, 17, meta).unwrap();
    g.run(
        &a,
        18,
        Kind::Announcement(Announcement {
            text: "公告".into(),
        }),
    )
    .unwrap();
    assert_eq!(g.state.announcement.as_ref().unwrap().author, a.author());
    assert_eq!(
        g.state
            .may(&a.author(), &Action::Admit { joiner: m.author() }),
        Ok(())
    );
    assert_eq!(
        g.state
            .may(&m.author(), &Action::Admit { joiner: m.author() }),
        Err(Refused::NotAdmin { author: m.author() })
    );
    // The owner removes an admin; the removed admin's next op is refused.
    g.run(&o, 19, remove(&c)).unwrap();
    assert!(!g.state.admins.contains(&c.author()));
    assert_eq!(
        g.run(&c, 20, remove(&m)).unwrap_err().rule(),
        "author_removed"
    );
}

#[test]
fn the_owner_removing_an_admin_races_that_admins_removal_of_a_member_order_decides() {
    let (o, a, d) = (owner(), alice(), dave());
    let promote = op(&o, 10, role(&a, Role::Admin));
    let owner_first = [op(&o, 20, remove(&a)), op(&a, 21, remove(&d))];
    let admin_first = [op(&o, 21, remove(&a)), op(&a, 20, remove(&d))];
    let base = G::new();
    for (ops, dave_in) in [(owner_first, true), (admin_first, false)] {
        let mut s = base.state.clone();
        s.apply_verdict(&promote).unwrap();
        let mut all: Vec<&Verified> = ops.iter().collect();
        all.sort_by_key(|m| m.order_key());
        for m in all {
            let _ = s.apply_verdict(m);
        }
        assert_eq!(s.members.contains(&d.author()), dave_in);
        assert!(!s.members.contains(&a.author()));
    }
}

#[test]
fn muted_posts_are_refused_until_the_mute_ends_by_their_stamps() {
    let mut g = G::new();
    let (o, c, d) = (owner(), carol(), dave());
    assert_eq!(g.post(&c, 9), Ok(()));
    g.run(&o, 10, mute(&c, Some(1_000))).unwrap();
    let until = NOW_MS + 10 + 1_000;
    // A post before the mute in group order stands.
    assert_eq!(g.post(&c, 9), Ok(()));
    assert_eq!(
        g.post(&c, 11),
        Err(Refused::Muted {
            author: c.author(),
            until_ms: Some(until)
        })
    );
    assert_eq!(g.post(&c, 1_009).unwrap_err().rule(), "muted");
    assert_eq!(g.post(&c, 1_010), Ok(()));
    assert_eq!(g.post(&d, 11), Ok(()));
    assert!(g.state.is_muted(&c.author(), until - 1));
    assert!(!g.state.is_muted(&c.author(), until));
    // Until unmuted: an unmute lifts it for posts after the unmute.
    g.run(&o, 20, mute(&d, None)).unwrap();
    assert_eq!(g.post(&d, 1_000_000).unwrap_err().rule(), "muted");
    let unmute = Kind::Unmute(Unmute { member: d.author() });
    g.run(&o, 30, unmute.clone()).unwrap();
    assert_eq!(g.post(&d, 29).unwrap_err().rule(), "muted");
    assert_eq!(g.post(&d, 31), Ok(()));
    assert_eq!(g.run(&o, 32, unmute).unwrap_err().rule(), "no_change");
    // A mute's duration is 1 ms or more.
    let zero = Kind::Mute(Mute {
        member: d.author(),
        duration_ms: Some(0),
    });
    assert!(zero.validate().is_err());
}

#[test]
fn a_banned_key_cannot_join_nor_be_admitted_and_its_posts_after_the_ban_are_refused() {
    let mut g = G::new();
    let (o, a, c) = (owner(), alice(), carol());
    g.run(&o, 10, ban(&c)).unwrap();
    assert!(g.state.banned.contains(&c.author()));
    assert!(!g.state.members.contains(&c.author()));
    assert!(g.state.rekey_due);
    // The post before the ban stands; the one after is refused.
    assert_eq!(g.post(&c, 9), Ok(()));
    assert_eq!(g.post(&c, 11).unwrap_err().rule(), "author_banned");
    assert!(g.state.has_left(&c.author()));
    // No join, by invite or by request.
    assert_eq!(
        g.run(&c, 12, Kind::Join(Join { inviter: None })),
        Err(Refused::Banned { member: c.author() })
    );
    assert_eq!(
        g.state
            .may(&o.author(), &Action::Admit { joiner: c.author() }),
        Err(Refused::Banned { member: c.author() })
    );
    assert_eq!(
        g.run(&o, 13, role(&c, Role::Admin)).unwrap_err().rule(),
        "banned"
    );
    // A stranger's key can be banned too, once.
    let eve = Identity::from_seed([9; 32]);
    assert_eq!(g.run(&a, 14, ban(&eve)).unwrap_err().rule(), "not_admin");
    g.run(&o, 14, ban(&eve)).unwrap();
    assert_eq!(g.run(&o, 15, ban(&eve)).unwrap_err().rule(), "no_change");
    // Unbanned, Carol still cannot come back with the old epoch's secret...
    g.run(&o, 16, Kind::Unban(Unban { member: c.author() }))
        .unwrap();
    assert_eq!(
        g.run(&c, 17, Kind::Join(Join { inviter: None })),
        Err(Refused::LockedOut {
            author: c.author(),
            epoch: 0,
            removed_in: 0
        })
    );
    // ...but after a re-key, once an admin let her in with the new one, she can.
    let members = g.state.members.clone();
    let r = rekey(1, members, &GroupSecret::from_bytes([8; 32]));
    g.run(&o, 18, Kind::Rekey(r)).unwrap();
    assert!(!g.state.rekey_due);
    g.run_in(&c, 1, 19, Kind::Join(Join { inviter: None }))
        .unwrap();
    assert!(g.state.members.contains(&c.author()));
    // (Her posts are in the new epoch: epoch 0 was closed by the re-key.)
    assert_eq!(g.state.admits(&signed(&c, &body(G1, 1, 20, hi()))), Ok(()));
}

#[test]
fn a_removed_members_posts_after_the_removal_are_refused() {
    let mut g = G::new();
    let (o, a, d) = (owner(), alice(), dave());
    g.run(&o, 10, role(&a, Role::Admin)).unwrap();
    g.run(&a, 11, remove(&d)).unwrap();
    assert_eq!(g.post(&d, 10), Ok(()));
    assert_eq!(
        g.post(&d, 12).unwrap_err(),
        Refused::AuthorRemoved {
            author: d.author(),
            at: op(&a, 11, remove(&d)).order_key()
        }
    );
    assert_eq!(g.run(&a, 12, remove(&d)).unwrap_err().rule(), "not_member");
    // Its join with the old secret does not bring it back.
    assert_eq!(
        g.run(&d, 13, Kind::Join(Join { inviter: None }))
            .unwrap_err()
            .rule(),
        "locked_out"
    );
}

#[test]
fn a_transfer_moves_every_right() {
    let mut g = G::new();
    let (o, m, a, c) = (owner(), member(), alice(), carol());
    assert_eq!(
        g.run(&o, 10, Kind::Transfer(Transfer { to: o.author() })),
        Err(Refused::SelfTarget { author: o.author() })
    );
    g.run(&o, 10, mute(&a, None)).unwrap();
    assert_eq!(g.post(&a, 11).unwrap_err().rule(), "muted");
    g.run(&o, 11, Kind::Transfer(Transfer { to: a.author() }))
        .unwrap();
    // The owner is never muted: no one outranks it.
    assert_eq!(g.post(&a, 12), Ok(()));
    assert!(!g.state.muted.contains_key(&a.author()));
    assert_eq!(g.state.owner, a.author());
    assert_eq!(g.state.role(&a.author()), Role::Owner);
    assert_eq!(g.state.role(&o.author()), Role::Admin);
    // The old owner: no more owner's rights.
    assert_eq!(
        g.run(&o, 12, role(&c, Role::Admin)).unwrap_err().rule(),
        "not_owner"
    );
    assert_eq!(
        g.run(&o, 13, Kind::Transfer(Transfer { to: c.author() }))
            .unwrap_err()
            .rule(),
        "not_owner"
    );
    // The new owner: all of them, on the old owner too.
    g.run(&a, 14, role(&c, Role::Admin)).unwrap();
    g.run(&a, 15, role(&o, Role::Member)).unwrap();
    g.run(&a, 16, mute(&o, Some(5_000))).unwrap();
    g.run(&a, 17, remove(&o)).unwrap();
    assert!(!g.state.members.contains(&o.author()));
    assert_eq!(g.run(&a, 18, Kind::Leave), Ok(()));
    assert!(
        g.state.members.contains(&a.author()),
        "the owner cannot leave"
    );
    // A transfer to a non-member is refused.
    assert_eq!(
        g.run(&a, 19, Kind::Transfer(Transfer { to: o.author() }))
            .unwrap_err()
            .rule(),
        "not_member"
    );
    assert_eq!(g.post(&m, 20), Ok(()));
}

#[test]
fn pins_are_for_admins_bounded_and_unique() {
    let mut g = G::new();
    let (o, m) = (owner(), member());
    let id = |i: u8| MsgId::from_bytes([i; 32]);
    assert_eq!(
        g.run(&m, 10, Kind::Pin(Pin { id: id(0) }))
            .unwrap_err()
            .rule(),
        "not_admin"
    );
    for i in 0..MAX_PINS as u8 {
        g.run(&o, 11 + u64::from(i), Kind::Pin(Pin { id: id(i) }))
            .unwrap();
    }
    assert_eq!(
        g.run(&o, 100, Kind::Pin(Pin { id: id(0) }))
            .unwrap_err()
            .rule(),
        "no_change"
    );
    assert_eq!(
        g.run(&o, 101, Kind::Pin(Pin { id: id(200) })),
        Err(Refused::TooManyPins { max: MAX_PINS })
    );
    g.run(&o, 102, Kind::Unpin(Unpin { id: id(3) })).unwrap();
    assert_eq!(g.state.pins.len(), MAX_PINS - 1);
    assert!(
        g.state
            .pins
            .iter()
            .all(|p| p.id != id(3) && p.by == o.author())
    );
    assert_eq!(
        g.run(&o, 103, Kind::Unpin(Unpin { id: id(3) }))
            .unwrap_err()
            .rule(),
        "no_change"
    );
}

#[test]
fn a_removed_member_cannot_open_the_new_epochs_secret() {
    let mut g = G::new();
    let (o, m, a, d) = (owner(), member(), alice(), dave());
    let secret = GroupSecret::from_bytes([8; 32]);
    g.run(&o, 10, remove(&d)).unwrap();
    assert!(g.state.rekey_due);
    // A re-key that still seals to Dave starts nothing.
    let with_dave = rekey(
        1,
        g.state.members.iter().copied().chain([d.author()]),
        &secret,
    );
    assert_eq!(
        g.run(&o, 11, Kind::Rekey(with_dave)),
        Err(Refused::SealedToOutsider { member: d.author() })
    );
    assert_eq!(g.state.epoch, 0);
    let r = rekey(1, g.state.members.clone(), &secret);
    let msg = op(&o, 12, Kind::Rekey(r.clone()));
    g.state.apply_verdict(&msg).unwrap();
    assert_eq!((g.state.epoch, g.state.epoch_op), (1, Some(msg.id)));
    assert!(!g.state.rekey_due);
    for who in [&o, &m, &a] {
        assert_eq!(r.open(who, &G1).unwrap().as_bytes(), secret.as_bytes());
    }
    assert!(r.open(&d, &G1).is_err());
    assert!(!r.is_sealed_to(&d.author()));
    // Opened for another group, it does not open.
    assert!(r.open(&o, &G2).is_err());
    // The message that carries it decodes back to the same op.
    let back = Envelope::decode_verified(&msg.encoded).unwrap();
    assert_eq!(back.body.kind, Kind::Rekey(r));
}

#[test]
fn two_rekeys_to_the_same_epoch_the_first_in_group_order_wins() {
    let (o, a) = (owner(), alice());
    let mut g = G::new();
    g.run(&o, 10, role(&a, Role::Admin)).unwrap();
    let members = g.state.members.clone();
    let r1 = op(
        &a,
        20,
        Kind::Rekey(rekey(1, members.clone(), &GroupSecret::from_bytes([1; 32]))),
    );
    let r2 = op(
        &o,
        20,
        Kind::Rekey(rekey(1, members.clone(), &GroupSecret::from_bytes([2; 32]))),
    );
    let first = r1.order_key().min(r2.order_key());
    for order in [[&r1, &r2], [&r2, &r1]] {
        let mut all = order.to_vec();
        all.sort_by_key(|m| m.order_key());
        let mut s = g.state.clone();
        assert_eq!(s.apply_verdict(all[0]), Ok(()));
        assert_eq!(
            s.apply_verdict(all[1]),
            Err(Refused::EpochNotNext { epoch: 1, next: 2 })
        );
        assert_eq!(s.epoch, 1);
        assert_eq!(s.epoch_op.map(|id| id == first.id), Some(true));
    }
    // Skipping an epoch is refused too.
    let r3 = op(
        &o,
        30,
        Kind::Rekey(rekey(3, members, &GroupSecret::from_bytes([3; 32]))),
    );
    assert_eq!(
        g.state.apply_verdict(&r3),
        Err(Refused::EpochNotNext { epoch: 3, next: 1 })
    );
}

#[test]
fn governance_tags_and_names_are_fixed() {
    let d = dave().author();
    let id = MsgId::from_bytes([1; 32]);
    let r = rekey(1, [d], &GroupSecret::from_bytes([8; 32]));
    let kinds = [
        (role(&dave(), Role::Admin), 0x8010, "role"),
        (Kind::Transfer(Transfer { to: d }), 0x8011, "transfer"),
        (remove(&dave()), 0x8012, "remove"),
        (ban(&dave()), 0x8013, "ban"),
        (Kind::Unban(Unban { member: d }), 0x8014, "unban"),
        (mute(&dave(), Some(1)), 0x8015, "mute"),
        (Kind::Unmute(Unmute { member: d }), 0x8016, "unmute"),
        (Kind::Pin(Pin { id }), 0x8017, "pin"),
        (Kind::Unpin(Unpin { id }), 0x8018, "unpin"),
        (Kind::Rekey(r), 0x8019, "rekey"),
    ];
    for (k, tag, name) in kinds {
        assert_eq!((k.tag(), k.name()), (tag, name));
        assert!(k.is_control() && k.is_admin_only() && !k.is_post());
        assert_eq!(k.validate(), Ok(()));
    }
}

#[test]
fn a_message_of_a_closed_epoch_after_the_rekey_is_refused() {
    let mut g = G::new();
    let (o, a, d) = (owner(), alice(), dave());
    g.run(&o, 10, remove(&d)).unwrap();
    let members = g.state.members.clone();
    let r = rekey(1, members, &GroupSecret::from_bytes([8; 32]));
    let closed_at = op(&o, 12, Kind::Rekey(r.clone())).order_key();
    g.run(&o, 12, Kind::Rekey(r)).unwrap();
    assert_eq!(g.state.epoch_starts.get(&1), Some(&closed_at));
    // Epoch 0 before the re-key stands; after it, refused whoever wrote it.
    assert_eq!(g.post(&a, 11), Ok(()));
    assert_eq!(
        g.post(&a, 13),
        Err(Refused::EpochClosed {
            epoch: 0,
            closed_at
        })
    );
    assert_eq!(g.post(&a, 13).unwrap_err().rule(), "epoch_closed");
    // In the new epoch, fine; an op of the old one after the re-key has no effect.
    assert_eq!(g.state.admits(&signed(&a, &body(G1, 1, 13, hi()))), Ok(()));
    assert_eq!(
        g.run(&o, 14, role(&a, Role::Admin)).unwrap_err().rule(),
        "epoch_closed"
    );
    // A join or leave is still taken (membership ops are exempt).
    assert_eq!(g.state.admits(&op(&a, 15, Kind::Leave)), Ok(()));
}

#[test]
fn a_leave_makes_the_group_due_a_rekey_and_one_rekey_covers_a_burst() {
    let mut g = G::new();
    let (o, a, c, d) = (owner(), alice(), carol(), dave());
    assert!(!g.state.rekey_due);
    // The owner's leave has no effect, and no re-key is due.
    g.run(&o, 10, Kind::Leave).unwrap();
    assert!(!g.state.rekey_due);
    g.run(&c, 11, Kind::Leave).unwrap();
    g.run(&d, 12, Kind::Leave).unwrap();
    assert!(g.state.rekey_due && g.state.rekey_due_to_leaves_only());
    // A re-key still sealed to Carol (who left before it) starts nothing.
    let secret = GroupSecret::from_bytes([8; 32]);
    let with_carol = rekey(
        1,
        g.state.members.iter().copied().chain([c.author()]),
        &secret,
    );
    assert_eq!(
        g.run(&o, 13, Kind::Rekey(with_carol)).unwrap_err().rule(),
        "sealed_to_outsider"
    );
    let r = rekey(1, g.state.members.clone(), &secret);
    g.run(&o, 14, Kind::Rekey(r)).unwrap();
    assert!(!g.state.rekey_due && !g.state.rekey_due_to_leaves_only());
    // A removal in the new epoch: due, and not for leaves only; a removal of the epoch
    // before does not count.
    g.run_in(&o, 1, 15, remove(&a)).unwrap();
    assert!(g.state.rekey_due && !g.state.rekey_due_to_leaves_only());
}
