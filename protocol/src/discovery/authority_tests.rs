//! The authority validator: good chains, forged ones, too long, member-signed, after a
//! transfer, superseded rosters, and cards and approvals that carry them.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::discovery::card::{Card, ProvenCard, SignedCard};
use crate::discovery::join::{ProvenApproval, SignedApproval};
use crate::discovery::seal::Handover;
use crate::group::Visibility;
use crate::limits::{MAX_CARD_BYTES, MAX_CARD_RECORD_BYTES};
use crate::message::{Body, Meta, Transfer};
use crate::secret::GroupSecret;

const NOW: u64 = 1_800_000_000_000;

fn id(n: u8) -> Identity {
    Identity::from_seed([n; 32])
}

fn genesis(vis: Visibility) -> SignedGenesis {
    SignedGenesis::create(&id(1), "读书会", NOW - 60_000, vis, [7; 16]).unwrap()
}

/// A transfer op from `from` to `to`, signed at `ms`.
fn transfer(from: &Identity, group: GroupId, to: &Identity, ms: u64) -> Envelope {
    let body = Body {
        group,
        epoch: 0,
        stamp: Stamp::new(ms, 0),
        kind: Kind::Transfer(Transfer { to: to.author() }),
    };
    Envelope::sign(from, &body).unwrap().envelope
}

fn roster(owner: &Identity, group: GroupId, admins: &[&Identity], ms: u64) -> SignedRoster {
    SignedRoster::create(owner, group, admins.iter().map(|a| a.author()), ms).unwrap()
}

fn card(vis: Visibility, issued_ms: u64) -> Card {
    Card {
        version: crate::discovery::VERSION,
        genesis: genesis(vis),
        meta: Meta {
            description: "每月一本".into(),
            tags: vec!["books".into()],
        },
        members: 5,
        addrs: vec![],
        secret: (vis == Visibility::Public).then(|| (0, GroupSecret::from_bytes([3; 32]))),
        issued_ms,
    }
}

/// Owner 1 hands the group to 2 at NOW-5000; 2 makes 3 an admin.
fn after_transfer() -> (SignedGenesis, GroupId, Authority) {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let auth = Authority {
        transfers: vec![transfer(&id(1), gid, &id(2), NOW - 5000)],
        roster: Some(roster(&id(2), gid, &[&id(3), &id(1)], NOW - 4000)),
    };
    (g, gid, auth)
}

#[test]
fn empty_authority_proves_the_genesis_owner_only() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let a = Authority::default();
    let s = a.verify(&g, &gid, &id(1).author(), NOW).unwrap();
    assert_eq!(
        (s.role, s.owner, s.rank()),
        (Role::Owner, id(1).author(), (0, 0))
    );
    assert_eq!(
        a.verify(&g, &gid, &id(3).author(), NOW),
        Err(Error::NotAllowed {
            signer: id(3).author()
        })
    );
}

#[test]
fn roster_admin_may_sign_a_member_may_not() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let a = Authority {
        transfers: vec![],
        roster: Some(roster(&id(1), gid, &[&id(3)], NOW)),
    };
    let s = a.verify(&g, &gid, &id(3).author(), NOW).unwrap();
    assert_eq!((s.role, s.rank()), (Role::Admin, (0, NOW)));
    // A member (not on the roster) is refused.
    assert!(matches!(
        a.verify(&g, &gid, &id(4).author(), NOW),
        Err(Error::NotAllowed { .. })
    ));
}

#[test]
fn after_a_transfer_the_new_owner_and_its_admins_sign_the_old_owner_as_admin() {
    let (g, gid, a) = after_transfer();
    let s = a.verify(&g, &gid, &id(2).author(), NOW).unwrap();
    assert_eq!(
        (s.role, s.owner, s.transfers),
        (Role::Owner, id(2).author(), 1)
    );
    assert_eq!(
        a.verify(&g, &gid, &id(3).author(), NOW).unwrap().role,
        Role::Admin
    );
    assert_eq!(
        a.verify(&g, &gid, &id(1).author(), NOW).unwrap().role,
        Role::Admin
    );
    // Without the chain, the new owner is nobody to a stranger.
    let bare = Authority {
        transfers: vec![],
        roster: None,
    };
    assert!(bare.verify(&g, &gid, &id(2).author(), NOW).is_err());
}

#[test]
fn forged_chains_are_refused() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let other = genesis(Visibility::Public).id().unwrap();
    let refused = |transfers: Vec<Envelope>, roster_by: &Identity| {
        let a = Authority {
            roster: Some(roster(roster_by, gid, &[&id(3)], NOW)),
            transfers,
        };
        a.verify(&g, &gid, &id(3).author(), NOW)
    };
    // A transfer signed by someone who did not own the group then.
    assert!(refused(vec![transfer(&id(5), gid, &id(5), NOW - 10)], &id(5)).is_err());
    assert!(refused(vec![transfer(&id(3), gid, &id(2), NOW - 10)], &id(2)).is_err());
    // A transfer of another group.
    assert!(refused(vec![transfer(&id(1), other, &id(2), NOW - 10)], &id(2)).is_err());
    // Out of order: the second transfer is stamped before the first.
    let t1 = transfer(&id(1), gid, &id(2), NOW - 10);
    let t2 = transfer(&id(2), gid, &id(4), NOW - 20);
    assert!(refused(vec![t1.clone(), t2], &id(4)).is_err());
    // A tampered signature.
    let mut bad = t1.clone();
    bad.signature.0[0] ^= 1;
    assert!(refused(vec![bad], &id(2)).is_err());
    // A roster not signed by the current owner (the genesis owner after a transfer).
    assert!(refused(vec![t1.clone()], &id(1)).is_err());
    // A roster that names the signer but was tampered with.
    let mut r = roster(&id(2), gid, &[&id(4)], NOW);
    r.value.admins = vec![id(3).author()];
    let a = Authority {
        transfers: vec![t1],
        roster: Some(r),
    };
    assert!(matches!(
        a.verify(&g, &gid, &id(3).author(), NOW),
        Err(Error::Signature(_))
    ));
    // A non-transfer op in the chain.
    let body = Body {
        group: gid,
        epoch: 0,
        stamp: Stamp::new(NOW - 10, 0),
        kind: Kind::Leave,
    };
    let leave = Envelope::sign(&id(1), &body).unwrap().envelope;
    assert!(refused(vec![leave], &id(1)).is_err());
}

#[test]
fn too_long_and_oversized_authorities_are_refused() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    // A chain handing the group back and forth between 1 and 2.
    let chain = |n: usize| -> Vec<Envelope> {
        (0..n)
            .map(|i| {
                let (from, to) = if i.is_multiple_of(2) { (1, 2) } else { (2, 1) };
                transfer(&id(from), gid, &id(to), NOW - 1000 + i as u64)
            })
            .collect()
    };
    let owner_after = |n: usize| if n.is_multiple_of(2) { id(1) } else { id(2) };
    let n = MAX_AUTHORITY_TRANSFERS;
    let full = Authority {
        transfers: chain(n),
        roster: Some(
            SignedRoster::create(
                &owner_after(n),
                gid,
                (10..10 + MAX_ROSTER_ADMINS as u8).map(|i| id(i).author()),
                NOW,
            )
            .unwrap(),
        ),
    };
    assert!(codec::encode(&full).unwrap().len() <= MAX_AUTHORITY_BYTES);
    assert!(full.verify(&g, &gid, &owner_after(n).author(), NOW).is_ok());
    let long = Authority {
        transfers: chain(n + 1),
        roster: None,
    };
    assert!(matches!(
        long.verify(&g, &gid, &owner_after(n + 1).author(), NOW),
        Err(Error::Invalid(_))
    ));
    // A roster with too many admins (signed without `create`'s cap).
    let mut admins: Vec<AuthorId> = (10..=10 + MAX_ROSTER_ADMINS as u8)
        .map(|i| id(i).author())
        .collect();
    admins.sort();
    let big = Signed::sign(
        &id(1),
        DOMAIN_ROSTER,
        Roster {
            version: crate::discovery::VERSION,
            group: gid,
            admins: admins.clone(),
            issued_ms: NOW,
        },
    )
    .unwrap();
    let a = Authority {
        transfers: vec![],
        roster: Some(big),
    };
    assert!(a.verify(&g, &gid, &admins[0], NOW).is_err());
}

#[test]
fn cards_by_admins_rank_by_roster_and_transfers() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let old = Authority {
        transfers: vec![],
        roster: Some(roster(&id(1), gid, &[&id(3), &id(4)], NOW - 2000)),
    };
    // 3 is demoted: the owner signs a roster without it.
    let new = Authority {
        transfers: vec![],
        roster: Some(roster(&id(1), gid, &[&id(4)], NOW - 1000)),
    };
    let by3 = ProvenCard::create(&id(3), card(Visibility::Listed, NOW), old.clone()).unwrap();
    let by4 = ProvenCard::create(&id(4), card(Visibility::Listed, NOW - 500), new.clone()).unwrap();
    // The demoted admin's card is valid to a stranger, but a card under the newer roster
    // wins, even an older one.
    assert!(by3.check(NOW).is_ok());
    assert!(by4.is_newer_than(&by3) && !by3.is_newer_than(&by4));
    // 3 cannot sign under the new roster.
    assert!(matches!(
        ProvenCard::create(&id(3), card(Visibility::Listed, NOW), new),
        Err(Error::NotAllowed { .. })
    ));
    // A member cannot sign at all; a forged card by it does not check.
    let forged = ProvenCard {
        signed: Signed::sign(
            &id(5),
            crate::identity::DOMAIN_CARD,
            card(Visibility::Listed, NOW),
        )
        .unwrap(),
        authority: old,
    };
    assert!(matches!(forged.check(NOW), Err(Error::NotAllowed { .. })));
    // After a transfer, the new owner's cards win over the old owner's.
    let (_, _, moved) = after_transfer();
    let by2 = ProvenCard::create(&id(2), card(Visibility::Listed, NOW - 3000), moved).unwrap();
    let by1 = ProvenCard::from(SignedCard::create(&id(1), card(Visibility::Listed, NOW)).unwrap());
    assert!(by2.is_newer_than(&by1));
}

#[test]
fn records_round_trip_and_a_bare_card_is_the_genesis_owners() {
    let (_, gid, moved) = after_transfer();
    let by3 = ProvenCard::create(&id(3), card(Visibility::Listed, NOW), moved).unwrap();
    let bytes = by3.encode().unwrap();
    assert!(bytes.len() <= MAX_CARD_RECORD_BYTES);
    assert_eq!(ProvenCard::decode_record(&bytes, NOW).unwrap(), by3);
    let key = crate::discovery::card::record_key(&gid);
    assert!(crate::discovery::record::validate(&key, &bytes, NOW).is_ok());
    let bare = SignedCard::create(&id(1), card(Visibility::Listed, NOW)).unwrap();
    let bare_bytes = bare.encode(MAX_CARD_BYTES).unwrap();
    let back = ProvenCard::decode_record(&bare_bytes, NOW).unwrap();
    assert_eq!(back, ProvenCard::from(bare));
    assert_eq!(back.encode().unwrap(), bare_bytes);
    assert_eq!(back.current_owner(), id(1).author());
    // The proven form with an empty authority is not a second encoding of the bare card.
    let padded = codec::encode(&ProvenCard::from(back.signed.clone())).unwrap();
    assert!(matches!(
        ProvenCard::decode_record(&padded, NOW),
        Err(Error::Invalid(_))
    ));
    assert_eq!(by3.current_owner(), id(2).author());
}

#[test]
fn an_admins_approval_opens_a_demoted_admins_does_not() {
    let g = genesis(Visibility::Listed);
    let gid = g.id().unwrap();
    let joiner = id(9);
    let secret = GroupSecret::from_bytes([8; 32]);
    let r1 = Authority {
        transfers: vec![],
        roster: Some(roster(&id(1), gid, &[&id(3)], NOW - 2000)),
    };
    let r2 = Authority {
        transfers: vec![],
        roster: Some(roster(&id(1), gid, &[&id(4)], NOW - 1000)),
    };
    let approve = |who: &Identity, auth: Authority| {
        ProvenApproval::create(
            who,
            auth,
            g.clone(),
            joiner.author(),
            &Handover::one(0, secret.clone()),
            vec![],
            NOW,
            ([1; 32], [2; 24]),
        )
    };
    let card_r2 = ProvenCard::create(&id(4), card(Visibility::Listed, NOW), r2.clone()).unwrap();
    let by4 = approve(&id(4), r2).unwrap();
    let (got, s) = by4.open_for(&joiner, Some(&card_r2), NOW).unwrap();
    assert_eq!((got, s.current()), (gid, (0, &secret)));
    // The demoted admin's approval, under the older roster, is refused by a joiner who
    // asked with the newer card; a member cannot make one at all.
    let by3 = approve(&id(3), r1.clone()).unwrap();
    assert!(matches!(
        by3.open_for(&joiner, Some(&card_r2), NOW),
        Err(Error::Superseded { .. })
    ));
    assert!(matches!(approve(&id(5), r1), Err(Error::NotAllowed { .. })));
    // The owner's bare approval still opens.
    let bare = SignedApproval::create(
        &id(1),
        g.clone(),
        joiner.author(),
        &Handover::one(0, secret.clone()),
        vec![],
        NOW,
        ([1; 32], [2; 24]),
    )
    .unwrap();
    assert!(
        ProvenApproval::from(bare)
            .open_for(&joiner, None, NOW)
            .is_ok()
    );
}

proptest! {
    /// Any bytes decode to a checked card record or a clean error, never a panic; a
    /// record that decodes re-encodes to the same bytes.
    #[test]
    fn any_bytes_as_a_card_record(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(c) = ProvenCard::decode_record(&bytes, NOW) {
            prop_assert_eq!(c.encode().unwrap(), bytes);
        }
    }

    /// Flipping any byte of a valid admin-signed record never yields a record that checks
    /// with a different signer or authority.
    #[test]
    fn mutated_records_do_not_check(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (_, _, moved) = after_transfer();
        let good = ProvenCard::create(&id(3), card(Visibility::Listed, NOW), moved).unwrap();
        let mut bytes = good.encode().unwrap();
        let i = at.index(bytes.len());
        bytes[i] ^= 1 << bit;
        if let Ok(c) = ProvenCard::decode_record(&bytes, NOW) {
            prop_assert_eq!(c.signed.signer, good.signed.signer);
            prop_assert_eq!(c.authority.rank(), good.authority.rank());
        }
    }
}
