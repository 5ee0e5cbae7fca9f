//! A sync peer that serves tampered messages: a member gone bad, written here as a bare
//! libp2p swarm that speaks gossipsub (to be seen in the group) and `/qun/sync/2` (to answer
//! the victim's sync). It answers reconciliation honestly about five messages it signed,
//! then serves them with one bit flipped in the third. The victim must store none of the
//! five (not even the two valid frames before the bad one), report the peer, disconnect it,
//! and never sync with it again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use libp2p::Multiaddr;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, ValidationMode};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use qun_node::NodeEvent;
use qun_protocol::frame::{self, Frame};
use qun_protocol::message::Text;
use qun_protocol::reconcile;
use qun_protocol::sync::{Request, Response};
use qun_protocol::{Body, Envelope, Identity, Invite, Kind, OrderKey, Stamp};
use tempfile::TempDir;

#[derive(NetworkBehaviour)]
struct RogueBehaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<qun_node::testing::sync::Codec>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampering_sync_peer_is_rejected_and_nothing_it_sent_is_stored() {
    let dir = TempDir::new().unwrap();
    let victim = start(dir.path()).await;
    let created = victim.create_group(group_req("反作弊", "")).await.unwrap();
    let group = Invite::parse(&created.invite, now_ms()).unwrap().group();
    // The rogue played a member who knows the secret (an invite no longer carries it).
    let (epoch, secret) = victim.epoch_secret(group).await.unwrap();
    let key = secret.message_key(&group, epoch);
    let topic = IdentTopic::new(secret.topic(&group, epoch));

    // The rogue's five messages, signed correctly by the rogue.
    let identity = Identity::from_seed([0x42; 32]);
    let mut msgs = Vec::new();
    for i in 0..5u64 {
        let body = Body {
            group,
            epoch,
            stamp: Stamp::new(now_ms(), i),
            kind: Kind::Text(Text {
                text: format!("rogue message {i}"),
                reply_to: None,
                mentions: Vec::new(),
            }),
        };
        msgs.push(Envelope::sign(&identity, &body).unwrap());
    }
    let index: BTreeSet<OrderKey> = msgs.iter().map(|m| m.order_key()).collect();
    let frame_of = |k: &OrderKey| {
        let (i, m) = msgs
            .iter()
            .enumerate()
            .find(|(_, m)| m.order_key() == *k)
            .unwrap();
        let mut nonce = [0u8; 24];
        nonce[0] = i as u8 + 1;
        let mut f = Frame::decode(
            &frame::seal_verified(m, &key, nonce)
                .unwrap()
                .encode()
                .unwrap(),
        )
        .unwrap();
        if i == 2 {
            f.ciphertext[5] ^= 0x01;
        }
        f.encode().unwrap()
    };

    let mut swarm = bare_swarm(&identity, |_| {
        let cfg = gossipsub::ConfigBuilder::default()
            .validation_mode(ValidationMode::Anonymous)
            .build()
            .unwrap();
        RogueBehaviour {
            gossipsub: gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, cfg).unwrap(),
            sync: request_response::Behaviour::new(
                [(qun_node::testing::sync::PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default(),
            ),
        }
    });
    swarm.behaviour_mut().gossipsub.subscribe(&topic).unwrap();
    let victim_addr: Multiaddr = victim.id().await.unwrap().addrs[0].parse().unwrap();
    let victim_peer = victim.peer_id();
    swarm.dial(victim_addr.clone()).unwrap();

    let mut events = victim.subscribe();
    let mut fetched = false;
    let mut disconnected_at = None;
    let mut asked_again = false;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let ev = tokio::time::timeout(Duration::from_millis(200), swarm.select_next_some()).await;
        match ev {
            Ok(SwarmEvent::Behaviour(RogueBehaviourEvent::Sync(
                request_response::Event::Message {
                    message:
                        request_response::Message::Request {
                            request, channel, ..
                        },
                    ..
                },
            ))) => {
                let resp = match request {
                    Request::Reconcile { message, .. } => {
                        if disconnected_at.is_some() {
                            asked_again = true;
                        }
                        let m = reconcile::Message::decode(&message).unwrap();
                        let reply = reconcile::respond(&index, &m, &Default::default()).unwrap();
                        Response::Reconcile {
                            message: reply.encode(),
                        }
                    }
                    Request::Fetch { keys, .. } => {
                        fetched = true;
                        Response::Frames {
                            frames: keys.iter().map(frame_of).collect(),
                        }
                    }
                };
                let _ = swarm.behaviour_mut().sync.send_response(channel, resp);
            }
            Ok(SwarmEvent::ConnectionClosed { peer_id, .. })
                if peer_id == victim_peer && fetched && disconnected_at.is_none() =>
            {
                disconnected_at = Some(Instant::now());
                // Come back: the victim must not sync with us again.
                swarm.dial(victim_addr.clone()).unwrap();
            }
            _ => {}
        }
        if disconnected_at.is_some_and(|t| t.elapsed() > Duration::from_secs(5)) {
            break;
        }
    }
    assert!(fetched, "the victim never fetched from the rogue");
    assert!(
        disconnected_at.is_some(),
        "the victim kept the rogue connected"
    );
    assert!(
        !asked_again,
        "the victim synced again with a peer that served a bad frame"
    );

    let mut rejected = false;
    while let Ok(ev) = events.try_recv() {
        if let NodeEvent::Rejected { peer, reason } = ev {
            assert_eq!(peer, swarm.local_peer_id().to_string());
            assert!(reason.starts_with("sync:"), "{reason}");
            rejected = true;
        }
    }
    assert!(rejected, "no Rejected event named the rogue");
    let stored = history(&victim, group).await;
    assert!(
        stored.iter().all(|m| !m.text.starts_with("rogue message")),
        "the victim stored something the rogue served: {}",
        describe(&stored)
    );
    victim.shutdown().await.unwrap();
}
