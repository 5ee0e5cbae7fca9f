//! Admission by invite: what a member checks before it seals the secret to a joiner, and
//! what the joiner checks of the answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use qun_protocol::discovery::Error;
use qun_protocol::discovery::seal;
use qun_protocol::identity::Identity;
use qun_protocol::invite::admit::{self, Refusal, SignedAdmission};
use qun_protocol::invite::{self, Invite};
use qun_protocol::limits::MAX_INVITE_EXPIRY_SKEW_MS;
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
        0,
        s,
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
    assert_eq!(ok.secret, secret());
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
