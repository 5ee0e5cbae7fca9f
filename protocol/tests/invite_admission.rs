//! Admission by invite: what a member checks before it seals the secret to a joiner, and
//! what the joiner checks of the answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::discovery::Error;
use qun_protocol::discovery::seal::{self, Handover};
use qun_protocol::identity::Identity;
use qun_protocol::invite::admit::{self, Refusal, SignedAdmission};
use qun_protocol::invite::{self, Invite};
use qun_protocol::limits::{MAX_HANDOVER_EPOCHS, MAX_INVITE_EXPIRY_SKEW_MS};
use qun_protocol::{GroupSecret, SignedGenesis};

mod common;
use common::*;

fn joiner() -> Identity {
    Identity::from_seed([0x31; 32])
}

fn invite_for(g: &SignedGenesis, expires_ms: u64) -> Invite {
    let group = g.id().unwrap();
    let content = invite::Content {
        version: invite::VERSION,
        group,
        inviter: owner().author(),
        epoch: 0,
        check: secret().invite_check(&group, 0),
        key: owner().author(),
        addrs: Vec::new(),
        expires_ms,
    };
    Invite::create(&owner(), content, [6; 16]).unwrap()
}

fn request(inv: &Invite, joiner: &Identity, member: &Identity) -> admit::Request {
    admit::Request {
        ticket: inv.ticket.clone(),
        proof: admit::proof(&inv.key(), &inv.group(), &joiner.author(), &member.author()),
    }
}

fn admission(
    member: &Identity,
    g: &SignedGenesis,
    s: &GroupSecret,
    to: &Identity,
) -> SignedAdmission {
    SignedAdmission::create(
        member,
        g.clone(),
        to.author(),
        &Handover::one(0, s.clone()),
        Vec::new(),
        NOW_MS,
        ([8; 32], [9; 24]),
    )
    .unwrap()
}

#[test]
fn a_member_admits_a_valid_request_and_only_the_joiner_opens_it() {
    let g = genesis();
    let inv = invite_for(&g, NOW_MS + 1000);
    let req = request(&inv, &joiner(), &member());
    assert_eq!(
        req.check(&joiner().author(), &member().author(), NOW_MS),
        Ok(g.id().unwrap())
    );
    let adm = admission(&member(), &g, &secret(), &joiner());
    let ok = adm
        .open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
        .unwrap();
    assert_eq!(ok.epochs.current(), (0, &secret()));
    assert_eq!(ok.genesis, g);
    assert_eq!(
        adm.open_for(&owner(), &member().author(), &inv.ticket, NOW_MS)
            .map(|_| ()),
        Err(Error::Invalid("admission is for someone else".into()))
    );
}

#[test]
fn a_proof_is_bound_to_both_peers() {
    let inv = invite_for(&genesis(), NOW_MS + 1000);
    let req = request(&inv, &joiner(), &member());
    let other = Identity::from_seed([0x77; 32]);
    // Replayed by the member to another member, or by another joiner.
    assert_eq!(
        req.check(&member().author(), &other.author(), NOW_MS),
        Err(Refusal::BadProof)
    );
    assert_eq!(
        req.check(&other.author(), &member().author(), NOW_MS),
        Err(Refusal::BadProof)
    );
    // Made with another key than the invite's.
    let mut forged = req.clone();
    forged.proof = admit::proof(&other, &inv.group(), &joiner().author(), &member().author());
    assert_eq!(
        forged.check(&joiner().author(), &member().author(), NOW_MS),
        Err(Refusal::BadProof)
    );
}

#[test]
fn an_expired_or_tampered_ticket_is_refused() {
    let expires = NOW_MS + 1000;
    let inv = invite_for(&genesis(), expires);
    let req = request(&inv, &joiner(), &member());
    let late = expires + MAX_INVITE_EXPIRY_SKEW_MS;
    assert!(
        req.check(&joiner().author(), &member().author(), late - 1)
            .is_ok()
    );
    let refusal = req
        .check(&joiner().author(), &member().author(), late)
        .unwrap_err();
    assert_eq!(
        refusal,
        Refusal::Expired {
            expires_ms: expires,
            now_ms: late
        }
    );
    assert!(refusal.to_string().contains("invite expired"));
    let mut longer = req.clone();
    longer.ticket.content.expires_ms = u64::MAX;
    assert_eq!(
        longer.check(&joiner().author(), &member().author(), NOW_MS),
        Err(Refusal::BadTicket)
    );
}

#[test]
fn the_joiner_refuses_a_made_up_secret_or_another_group_or_signer() {
    let g = genesis();
    let inv = invite_for(&g, NOW_MS + 1000);
    let fake = GroupSecret::from_bytes([0x66; 32]);
    let adm = admission(&member(), &g, &fake, &joiner());
    assert!(matches!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS),
        Err(Error::Invalid(_))
    ));
    // Answered by someone else than the peer asked.
    let adm = admission(&member(), &g, &secret(), &joiner());
    assert!(matches!(
        adm.open_for(&joiner(), &owner().author(), &inv.ticket, NOW_MS),
        Err(Error::NotAllowed { .. })
    ));
    // Another group's genesis.
    let other = SignedGenesis::create(
        &owner(),
        "另一个",
        NOW_MS,
        qun_protocol::Visibility::Private,
        [4; 16],
    )
    .unwrap();
    let adm = admission(&member(), &other, &secret(), &joiner());
    assert!(matches!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS),
        Err(Error::Invalid(_))
    ));
    // A seal that does not open.
    let mut adm = admission(&member(), &g, &secret(), &joiner());
    adm.value.sealed = seal::seal(&owner().author(), &[1; 32], b"x", [3; 32], [4; 24]).unwrap();
    let adm = SignedAdmission::sign(
        &member(),
        qun_protocol::identity::DOMAIN_ADMISSION,
        adm.value,
    )
    .unwrap();
    assert_eq!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
            .map(|_| ()),
        Err(Error::Seal)
    );
}

fn secret_of(epoch: u64) -> GroupSecret {
    if epoch == 0 {
        secret()
    } else {
        GroupSecret::from_bytes([0x40 + epoch as u8; 32])
    }
}

/// Epochs `0..=current`, each with its secret.
fn epochs_to(current: u64) -> Handover {
    Handover::new((0..=current).map(|e| (e, secret_of(e)))).unwrap()
}

#[test]
fn an_invite_of_an_older_epoch_admits_with_every_epoch_secret() {
    let g = genesis();
    // Made in epoch 0; the group is in epoch 2 now.
    let inv = invite_for(&g, NOW_MS + 1000);
    let req = request(&inv, &joiner(), &member());
    let held = epochs_to(2);
    assert_eq!(req.check_epoch(&held), Ok(()));
    let adm = SignedAdmission::create(
        &member(),
        g.clone(),
        joiner().author(),
        &held,
        Vec::new(),
        NOW_MS,
        ([8; 32], [9; 24]),
    )
    .unwrap();
    assert_eq!(adm.value.version, admit::VERSION);
    assert_eq!(adm.value.epoch, 2);
    let ok = adm
        .open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
        .unwrap();
    assert_eq!(ok.epochs, held);
    let got: Vec<u64> = ok.epochs.epochs().map(|(e, _)| e).collect();
    assert_eq!(got, vec![0, 1, 2]);
    assert_eq!(ok.epochs.current(), (2, &secret_of(2)));
}

#[test]
fn a_member_without_the_invites_epoch_refuses_and_a_joiner_wants_it() {
    let g = genesis();
    let inv = invite_for(&g, NOW_MS + 1000);
    let req = request(&inv, &joiner(), &member());
    // A member that holds epochs 1 and 2 only (it joined after a re-key, from an older
    // member) cannot check an invite of epoch 0.
    let late = Handover::new((1..=2).map(|e| (e, secret_of(e)))).unwrap();
    let refusal = req.check_epoch(&late).unwrap_err();
    assert_eq!(refusal, Refusal::UnknownEpoch { epoch: 0 });
    assert!(refusal.to_string().contains("epoch 0"), "{refusal}");
    // A secret of epoch 0 that does not match the ticket's check value.
    let wrong = Handover::new([(0, GroupSecret::from_bytes([1; 32])), (1, secret_of(1))]).unwrap();
    assert_eq!(
        req.check_epoch(&wrong),
        Err(Refusal::UnknownEpoch { epoch: 0 })
    );
    // The joiner refuses a version 2 admission without the invite's epoch.
    let adm = SignedAdmission::create(
        &member(),
        g.clone(),
        joiner().author(),
        &late,
        Vec::new(),
        NOW_MS,
        ([8; 32], [9; 24]),
    )
    .unwrap();
    assert!(matches!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS),
        Err(Error::Invalid(m)) if m.contains("lacks the invite's epoch 0")
    ));
}

/// Re-signs an admission whose sealed part is `plaintext` under `version`.
fn resealed(g: &SignedGenesis, version: u8, epoch: u64, plaintext: &[u8]) -> SignedAdmission {
    let mut adm = admission(&member(), g, &secret(), &joiner());
    let mut context = b"qun/v1/admission\0".to_vec();
    context.extend_from_slice(g.id().unwrap().as_bytes());
    context.extend_from_slice(joiner().author().as_bytes());
    adm.value.version = version;
    adm.value.epoch = epoch;
    adm.value.sealed = qun_protocol::crypto::seal::seal_within(
        &joiner().author(),
        plaintext,
        &context,
        [3; 32],
        [4; 24],
        1 << 16,
    )
    .unwrap();
    SignedAdmission::sign(
        &member(),
        qun_protocol::identity::DOMAIN_ADMISSION,
        adm.value,
    )
    .unwrap()
}

#[test]
fn a_version_1_admission_still_admits_with_the_current_epoch_only() {
    let g = genesis();
    let inv = invite_for(&g, NOW_MS + 1000);
    // The current epoch's 32 bytes, as a member running the version before sealed them.
    let adm = resealed(&g, 1, 0, secret().as_bytes());
    let ok = adm
        .open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
        .unwrap();
    assert_eq!(ok.epochs, Handover::one(0, secret()));
    // In epoch 3, the invite's epoch (0) cannot be checked: taken as before.
    let adm = resealed(&g, 1, 3, secret_of(3).as_bytes());
    let ok = adm
        .open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
        .unwrap();
    assert_eq!(ok.epochs, Handover::one(3, secret_of(3)));
    // An unknown version is refused.
    let adm = resealed(&g, 9, 0, secret().as_bytes());
    assert_eq!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
            .map(|_| ()),
        Err(Error::UnknownVersion { version: 9 })
    );
}

#[test]
fn a_malformed_handover_is_refused() {
    let g = genesis();
    let inv = invite_for(&g, NOW_MS + 1000);
    let enc = |pairs: &[(u64, [u8; 32])]| qun_protocol::codec::encode(&pairs.to_vec()).unwrap();
    let s0 = *secret().as_bytes();
    let cases: Vec<(u64, Vec<u8>)> = vec![
        // Not ascending.
        (1, enc(&[(1, [2; 32]), (0, s0)])),
        // A repeated epoch.
        (0, enc(&[(0, s0), (0, s0)])),
        // The newest is not the admission's epoch.
        (5, enc(&[(0, s0), (1, [2; 32])])),
        // Empty.
        (0, enc(&[])),
        // Trailing bytes.
        (0, [enc(&[(0, s0)]), vec![0]].concat()),
        // A length prefix that claims more than the bytes hold.
        (0, u64::MAX.to_le_bytes().to_vec()),
    ];
    for (epoch, plaintext) in cases {
        let adm = resealed(&g, admit::VERSION, epoch, &plaintext);
        let res = adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS);
        assert!(
            matches!(res, Err(Error::Invalid(_) | Error::Codec(_))),
            "{plaintext:?}: {res:?}"
        );
    }
    // More than the cap, and larger than the plaintext limit: refused before decoding.
    let many: Vec<(u64, [u8; 32])> = (0..=MAX_HANDOVER_EPOCHS as u64)
        .map(|e| (e, [1; 32]))
        .collect();
    let adm = resealed(&g, admit::VERSION, MAX_HANDOVER_EPOCHS as u64, &enc(&many));
    assert!(
        adm.open_for(&joiner(), &member().author(), &inv.ticket, NOW_MS)
            .is_err()
    );
}

#[test]
fn a_handover_keeps_the_newest_epochs_up_to_the_cap() {
    let h = Handover::new(
        (0..300u64)
            .rev()
            .map(|e| (e, GroupSecret::from_bytes([e as u8; 32]))),
    )
    .unwrap();
    let got: Vec<u64> = h.epochs().map(|(e, _)| e).collect();
    assert_eq!(got.len(), MAX_HANDOVER_EPOCHS);
    assert_eq!(got.first(), Some(&(300 - MAX_HANDOVER_EPOCHS as u64)));
    assert_eq!(h.current().0, 299);
    assert!(h.get(0).is_none());
    assert!(Handover::new(std::iter::empty()).is_err());
    // A full handover fits in an admission.
    let adm = SignedAdmission::create(
        &member(),
        genesis(),
        joiner().author(),
        &h,
        Vec::new(),
        NOW_MS,
        ([8; 32], [9; 24]),
    );
    assert!(adm.is_ok(), "{adm:?}");
}
