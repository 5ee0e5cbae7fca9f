//! Joining by invite is admission by a member (issue 11, reproductions 3 and 11).
//!
//! * An invite code holds no group secret: with the inviter (the only member) offline, a
//!   valid code joins nothing, and `join` says no member answered instead of "joined".
//! * An expired code is refused, by the joiner's own check and by the member, whose
//!   refusal says "invite expired"; a member also refuses a proof made for another member
//!   and an invite signed by someone who is not an admin. A bare libp2p swarm plays the
//!   joiner who skips its own checks.
//! * A join with `since-join` history still works through admission.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use libp2p::Multiaddr;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use qun_node::{Error, History, keys};
use qun_protocol::discovery::wire::{Request, Response};
use qun_protocol::invite::admit::{self, Refusal};
use qun_protocol::invite::{self, Invite};
use qun_protocol::{Identity, Visibility};
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_member_online_means_not_joined() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let created = a.create_group(group_req("家长群", "")).await.unwrap();
    let group = a.resolve(&created.group).await.unwrap();
    a.shutdown().await.unwrap();
    drop(a);

    let b = start(db.path()).await;
    let started = Instant::now();
    let err = b.join(&created.invite).await.unwrap_err();
    assert!(
        matches!(err, Error::NoMemberReachable { asked } if asked >= 1),
        "{err}"
    );
    assert!(
        err.to_string().contains("no member of the group answered"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(35));
    // Nothing was joined: the code alone opens nothing.
    assert!(b.group_info(group).await.is_err());
    assert!(b.groups().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_asks_a_member_and_keeps_since_join() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let created = a
        .create_group(group_req("读书会", "每周一本"))
        .await
        .unwrap();
    let group = a.resolve(&created.group).await.unwrap();
    a.send(group, "before", None).await.unwrap();
    let b = start(db.path()).await;
    assert_eq!(
        b.join_with(&created.invite, History::SinceJoin)
            .await
            .unwrap(),
        group
    );
    let info = b.group_info(group).await.unwrap();
    assert_eq!(info.name, "读书会");
    assert_eq!(info.history, "since-join");
    assert_eq!(
        b.epoch_secret(group).await.unwrap(),
        a.epoch_secret(group).await.unwrap()
    );
    // Joining again is a no-op that says joined.
    assert_eq!(b.join(&created.invite).await.unwrap(), group);
    // A member who is no admin gets no code at all (members would refuse it), short or long;
    // the refusal says who may make one.
    for short in [false, true] {
        let err = b
            .invite_code(group, Duration::from_secs(60), short)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::NotAllowed { .. }), "{err}");
        assert!(err.to_string().contains("admins"), "{err}");
    }
}

/// A joiner that skips its own checks: a bare swarm speaking `/qun/discovery/1`.
fn bare_joiner(
    identity: &Identity,
) -> libp2p::Swarm<request_response::Behaviour<qun_node::testing::discovery::Codec>> {
    bare_swarm(identity, |_| {
        request_response::Behaviour::new(
            [(
                qun_node::testing::discovery::PROTOCOL,
                ProtocolSupport::Full,
            )],
            request_response::Config::default(),
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_member_checks_expiry_proof_and_inviter() {
    let (da, db) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let a = start(da.path()).await;
    let owner = keys::load_or_create(da.path()).unwrap();
    let mut req = group_req("夜跑", "");
    req.visibility = Visibility::Private;
    let created = a.create_group(req).await.unwrap();
    let group = a.resolve(&created.group).await.unwrap();
    let good = Invite::parse(&created.invite, now_ms()).unwrap();
    let member = owner.author();

    let me = Identity::from_seed([0x51; 32]);
    let with = |inviter: &Identity, expires_ms: u64| {
        let mut c = good.ticket.content.clone();
        c.expires_ms = expires_ms;
        Invite::create(inviter, c, [9; 16]).unwrap()
    };
    let ask = |inv: &Invite, to: &qun_protocol::AuthorId| admit::Request {
        ticket: inv.ticket.clone(),
        proof: admit::proof(&inv.key(), &group, &me.author(), to),
    };
    let hour_ago = now_ms() - 3_600_000;
    let expired = with(&owner, hour_ago);
    let stranger = Identity::from_seed([0x52; 32]);
    let cases = vec![
        ask(&expired, &member),
        ask(&good, &Identity::from_seed([0x53; 32]).author()),
        ask(&with(&stranger, now_ms() + 60_000), &member),
        ask(&good, &member),
    ];

    let mut swarm = bare_joiner(&me);
    let addr: Multiaddr = a.id().await.unwrap().addrs[0].parse().unwrap();
    swarm.dial(addr).unwrap();
    let peer = a.peer_id();
    let mut answers = Vec::new();
    let mut ids = Vec::new();
    let mut sent = false;
    let deadline = Instant::now() + DEADLINE;
    while answers.len() < cases.len() && Instant::now() < deadline {
        let ev = tokio::time::timeout(Duration::from_millis(500), swarm.select_next_some()).await;
        match ev {
            Ok(SwarmEvent::ConnectionEstablished { .. }) if !sent => {
                sent = true;
                for c in &cases {
                    let req = Request::Admit(Box::new(c.clone()));
                    ids.push(swarm.behaviour_mut().send_request(&peer, req));
                }
            }
            Ok(SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            })) => answers.push((request_id, response)),
            Ok(SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                error, ..
            })) => {
                panic!("request failed: {error}")
            }
            _ => {}
        }
    }
    assert_eq!(answers.len(), cases.len(), "answers: {answers:?}");
    let answers: Vec<Response> = ids
        .iter()
        .map(|id| answers.iter().find(|(i, _)| i == id).unwrap().1.clone())
        .collect();
    assert!(
        matches!(&answers[0], Response::AdmitRefused(r @ Refusal::Expired { expires_ms, .. })
            if *expires_ms == hour_ago && r.to_string().contains("invite expired")),
        "{:?}",
        answers[0]
    );
    assert_eq!(answers[1], Response::AdmitRefused(Refusal::BadProof));
    assert_eq!(
        answers[2],
        Response::AdmitRefused(Refusal::NotAllowed {
            inviter: stranger.author()
        })
    );
    let Response::Admitted(adm) = &answers[3] else {
        panic!("not admitted: {:?}", answers[3]);
    };
    let ok = adm.open_for(&me, &member, &good.ticket, now_ms()).unwrap();
    assert_eq!(ok.genesis.id().unwrap(), group);
    assert_eq!(
        ok.epochs.current().1,
        &a.epoch_secret(group).await.unwrap().1
    );
    // Sealed to us: another identity cannot open it.
    assert!(
        adm.open_for(&stranger, &member, &good.ticket, now_ms())
            .is_err()
    );

    // A real joiner with the expired code is told so, and joins nothing.
    let b = start(db.path()).await;
    let err = b.join(&expired.to_text().unwrap()).await.unwrap_err();
    assert!(
        matches!(err, Error::Invite(invite::Error::Expired { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("invite expired"), "{err}");
    assert!(b.groups().await.unwrap().is_empty());
}
