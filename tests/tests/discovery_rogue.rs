//! A DHT peer that puts forged records: a bare libp2p swarm speaking qun's Kademlia.
//!
//! It first puts a valid card of a public group it owns (the victim stores it), then a
//! "newer" copy with the member count changed after signing, then a profile stored under
//! someone else's author key. The victim must refuse both forgeries (and report the peer),
//! and still serve the valid card, unchanged, to whoever asks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use qun_node::testing::NodeExt;
use std::time::Instant;

use common::*;
use futures::StreamExt;
use libp2p::kad::{self, GetRecordOk, QueryResult, Quorum};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId};
use qun_node::NodeEvent;
use qun_protocol::discovery::card::{self, Card, SignedCard};
use qun_protocol::discovery::profile::{self, Profile, SignedProfile};
use qun_protocol::group::{SignedGenesis, Visibility};
use qun_protocol::limits::MAX_CARD_BYTES;
use qun_protocol::message::Meta;
use qun_protocol::{GroupSecret, Identity};
use tempfile::TempDir;

#[derive(NetworkBehaviour)]
struct Rogue {
    kad: kad::Behaviour<kad::store::MemoryStore>,
}

type RogueSwarm = libp2p::Swarm<Rogue>;

fn rogue_swarm(identity: &Identity) -> RogueSwarm {
    bare_swarm(identity, |k| {
        let me = k.public().to_peer_id();
        let mut kad = kad::Behaviour::with_config(
            me,
            kad::store::MemoryStore::new(me),
            kad::Config::new(qun_node::testing::KAD_PROTOCOL),
        );
        kad.set_mode(Some(kad::Mode::Server));
        Rogue { kad }
    })
}

fn valid_card(owner: &Identity) -> SignedCard {
    let genesis =
        SignedGenesis::create(owner, "真的群", now_ms(), Visibility::Public, [9; 16]).unwrap();
    SignedCard::create(
        owner,
        Card {
            version: qun_protocol::discovery::VERSION,
            genesis,
            meta: Meta {
                description: "honest".into(),
                tags: vec!["real".into()],
            },
            members: 5,
            addrs: Vec::new(),
            secret: Some((0, GroupSecret::from_bytes([7; 32]))),
            issued_ms: now_ms(),
        },
    )
    .unwrap()
}

/// Drives the rogue's swarm until `done` says so (or panics at the deadline).
async fn drive<T>(
    swarm: &mut RogueSwarm,
    what: &str,
    mut done: impl FnMut(&mut RogueSwarm, SwarmEvent<RogueEvent>) -> Option<T>,
) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, swarm.select_next_some()).await {
            Ok(ev) => {
                if let Some(v) = done(swarm, ev) {
                    return v;
                }
            }
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

async fn put(swarm: &mut RogueSwarm, victim: PeerId, key: Vec<u8>, value: Vec<u8>) {
    let record = kad::Record::new(key, value);
    let q = swarm
        .behaviour_mut()
        .kad
        .put_record_to(record, std::iter::once(victim), Quorum::One);
    drive(swarm, "the put to finish", |_, ev| match ev {
        SwarmEvent::Behaviour(RogueEvent::Kad(kad::Event::OutboundQueryProgressed {
            id,
            step,
            ..
        })) if id == q && step.last => Some(()),
        _ => None,
    })
    .await;
}

/// What the victim answers for `key` (asked directly).
async fn ask(
    swarm: &mut RogueSwarm,
    victim: PeerId,
    addr: &Multiaddr,
    key: Vec<u8>,
) -> Vec<Vec<u8>> {
    if !swarm.is_connected(&victim) {
        swarm.dial(addr.clone()).unwrap();
        drive(swarm, "a connection", |s, _| {
            s.is_connected(&victim).then_some(())
        })
        .await;
    }
    let q = swarm
        .behaviour_mut()
        .kad
        .get_record(kad::RecordKey::new(&key));
    let mut found = Vec::new();
    drive(swarm, "the lookup", |_, ev| match ev {
        SwarmEvent::Behaviour(RogueEvent::Kad(kad::Event::OutboundQueryProgressed {
            id,
            result,
            step,
            ..
        })) if id == q => {
            if let QueryResult::GetRecord(Ok(GetRecordOk::FoundRecord(r))) = result
                && r.peer == Some(victim)
            {
                found.push(r.record.value);
            }
            step.last.then_some(())
        }
        _ => None,
    })
    .await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_cards_and_profiles_are_not_stored() {
    let dir = TempDir::new().unwrap();
    let victim = start(dir.path()).await;
    let mut events = victim.subscribe();
    let victim_peer = victim.peer_id();
    let addr: Multiaddr = victim.id().await.unwrap().addrs[0].parse().unwrap();

    let rogue_id = Identity::from_seed([0x66; 32]);
    let mut swarm = rogue_swarm(&rogue_id);
    swarm
        .behaviour_mut()
        .kad
        .add_address(&victim_peer, addr.clone());
    swarm.dial(addr.clone()).unwrap();

    // A valid card is stored.
    let good = valid_card(&rogue_id);
    let group = good.value.group().unwrap();
    let key = card::record_key(&group);
    let good_bytes = good.encode(MAX_CARD_BYTES).unwrap();
    put(&mut swarm, victim_peer, key.clone(), good_bytes.clone()).await;
    assert_eq!(
        ask(&mut swarm, victim_peer, &addr, key.clone()).await,
        vec![good_bytes.clone()]
    );

    // A newer copy with the member count raised after signing is refused.
    let mut forged = good.clone();
    forged.value.members = 5000;
    forged.value.issued_ms += 1000;
    put(
        &mut swarm,
        victim_peer,
        key.clone(),
        forged.encode(MAX_CARD_BYTES).unwrap(),
    )
    .await;
    let reason = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(NodeEvent::Rejected { peer, reason }) = events.recv().await
                && peer == swarm.local_peer_id().to_string()
            {
                return reason;
            }
        }
    })
    .await
    .expect("no Rejected event for the forged card");
    assert!(reason.contains("signature"), "{reason}");
    // The victim still serves the valid card, unchanged.
    assert_eq!(
        ask(&mut swarm, victim_peer, &addr, key.clone()).await,
        vec![good_bytes]
    );

    // A profile under someone else's key (signed by the rogue) is refused too. The rogue
    // is now ignored, so use a fresh rogue identity for it.
    let other = Identity::from_seed([0x67; 32]);
    let mut swarm2 = rogue_swarm(&other);
    swarm2
        .behaviour_mut()
        .kad
        .add_address(&victim_peer, addr.clone());
    swarm2.dial(addr.clone()).unwrap();
    let someone = Identity::from_seed([0x68; 32]).author();
    let fake = SignedProfile::create(
        &other,
        Profile {
            version: qun_protocol::discovery::VERSION,
            name: "冒充".into(),
            bio: None,
            gender: None,
            birth_year: None,
            groups: Vec::new(),
            updated_ms: now_ms(),
        },
        now_ms(),
    )
    .unwrap();
    let pkey = profile::record_key(&someone);
    put(
        &mut swarm2,
        victim_peer,
        pkey.clone(),
        fake.encode(4096).unwrap(),
    )
    .await;
    let reason = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Ok(NodeEvent::Rejected { peer, reason }) = events.recv().await
                && peer == swarm2.local_peer_id().to_string()
            {
                return reason;
            }
        }
    })
    .await
    .expect("no Rejected event for the forged profile");
    assert!(reason.contains("does not match"), "{reason}");
    assert!(ask(&mut swarm2, victim_peer, &addr, pkey).await.is_empty());
    // And the victim itself does not believe it.
    assert!(victim.profile(Some(someone)).await.is_err());
    victim.shutdown().await.unwrap();
}
