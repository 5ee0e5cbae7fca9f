//! The sync attacks (`fetch`, `reconcile`): a swarm of our own that speaks the sync protocol
//! to the daemon as fast as it may, and the figures it keeps.

use super::*;

fn pct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(((s.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(0.0)
}

#[derive(libp2p::swarm::NetworkBehaviour)]
struct Flooder {
    sync: request_response::Behaviour<qun_node::testing::sync::Codec>,
}

type FloodSwarm = libp2p::Swarm<Flooder>;

fn flooder(v: &Victim) -> anyhow::Result<FloodSwarm> {
    let mut swarm = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_behaviour(|_| Flooder {
            sync: request_response::Behaviour::new(
                [(qun_node::testing::sync::PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(256),
            ),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm.add_peer_address(v.peer, v.addr.clone());
    Ok(swarm)
}

/// What a flood got: answers, refusals, bytes of frames.
#[derive(Default)]
struct Tally {
    answered: u64,
    refused: u64,
    failed: u64,
    bytes: u64,
}

/// Sends `make()` with `depth` requests in flight for `secs`.
async fn flood(
    swarm: &mut FloodSwarm,
    peer: PeerId,
    secs: u64,
    depth: usize,
    make: impl Fn() -> Request,
) -> Tally {
    let mut t = Tally::default();
    let mut in_flight = 0usize;
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        while in_flight < depth && Instant::now() < end {
            swarm.behaviour_mut().sync.send_request(&peer, make());
            in_flight += 1;
        }
        if in_flight == 0 {
            return t;
        }
        let Ok(ev) = tokio::time::timeout(Duration::from_secs(30), swarm.select_next_some()).await
        else {
            return t;
        };
        match ev {
            SwarmEvent::Behaviour(FlooderEvent::Sync(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => {
                in_flight -= 1;
                match response {
                    // A stranger's request is answered `Unknown` (no proof of the secret).
                    Response::Refused { .. } | Response::Unknown => t.refused += 1,
                    Response::Frames { frames } => {
                        t.answered += 1;
                        t.bytes += frames.iter().map(|f| f.len() as u64).sum::<u64>();
                    }
                    Response::Reconcile { .. } => t.answered += 1,
                }
            }
            SwarmEvent::Behaviour(FlooderEvent::Sync(
                request_response::Event::OutboundFailure { .. },
            )) => {
                in_flight -= 1;
                t.failed += 1;
            }
            _ => {}
        }
    }
}

/// The flooder is a stranger: it cannot prove the group secret, so it guesses.
const STRANGER_PROOF: qun_protocol::sync::Proof = qun_protocol::sync::Proof::from_bytes([0; 32]);

/// The group's order keys, learnt by reconciliation from an empty set (none for a stranger,
/// who is answered `Unknown`).
async fn learn_keys(
    swarm: &mut FloodSwarm,
    peer: PeerId,
    group: GroupId,
) -> anyhow::Result<Vec<OrderKey>> {
    let empty = std::collections::BTreeSet::<OrderKey>::new();
    let (mut init, first) = reconcile::Initiator::new(&empty, None, Default::default())?;
    let mut keys = Vec::new();
    let mut next = Some(first);
    while let Some(m) = next.take() {
        let req = Request::Reconcile {
            group,
            epoch: 0,
            proof: STRANGER_PROOF,
            message: m.encode(),
        };
        swarm.behaviour_mut().sync.send_request(&peer, req);
        loop {
            let ev =
                tokio::time::timeout(Duration::from_secs(30), swarm.select_next_some()).await?;
            match ev {
                SwarmEvent::Behaviour(FlooderEvent::Sync(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                })) => {
                    if response == Response::Unknown {
                        // Only members sync: a stranger learns no keys.
                        return Ok(keys);
                    }
                    if let Response::Reconcile { message } = response {
                        next = init.reconcile(&empty, &reconcile::Message::decode(&message)?)?;
                        keys.extend(init.take_new_need());
                    } else {
                        bail!("reconciliation answered {response:?}");
                    }
                    break;
                }
                SwarmEvent::Behaviour(FlooderEvent::Sync(
                    request_response::Event::OutboundFailure { error, .. },
                )) => bail!("reconciliation failed: {error}"),
                _ => {}
            }
        }
    }
    Ok(keys)
}

pub(crate) async fn attack_fetch(args: &Args, v: &Victim, member: &Member) -> anyhow::Result<()> {
    let quiet = member.latency(v, 5).await?;
    let mut swarm = flooder(v)?;
    let (peer, group) = (v.peer, member.group);
    let keys = learn_keys(&mut swarm, peer, group).await?;
    let page: Vec<OrderKey> = keys
        .iter()
        .take(qun_protocol::sync::MAX_FETCH)
        .copied()
        .collect();
    let secs = args.fetch_secs;
    let t = Instant::now();
    let task = tokio::spawn(async move {
        let make = move || Request::Fetch {
            group,
            epoch: 0,
            proof: STRANGER_PROOF,
            keys: page.clone(),
        };
        flood(&mut swarm, peer, secs, 8, make).await
    });
    let mut during = Vec::new();
    while t.elapsed() < Duration::from_secs(secs.saturating_sub(2)) {
        during.extend(member.latency(v, 1).await?);
    }
    let tally = task.await?;
    row(
        &format!("fetch flood from one peer, {secs} s"),
        &format!(
            "{:.1} MB served in {:.1} s ({} pages, {} refused, {} failed); gossip p50/max \
             {:.0}/{:.0} ms before, {:.0}/{:.0} ms during",
            tally.bytes as f64 / 1e6,
            t.elapsed().as_secs_f64(),
            tally.answered,
            tally.refused,
            tally.failed,
            pct(&quiet, 0.5),
            pct(&quiet, 1.0),
            pct(&during, 0.5),
            pct(&during, 1.0),
        ),
    );
    Ok(())
}

pub(crate) async fn attack_reconcile(
    args: &Args,
    v: &Victim,
    group: GroupId,
) -> anyhow::Result<()> {
    let mut swarm = flooder(v)?;
    let empty = std::collections::BTreeSet::<OrderKey>::new();
    let (_, first) = reconcile::Initiator::new(&empty, None, Default::default())?;
    let message = first.encode();
    let size = message.len();
    let cpu0 = v.cpu_secs();
    let t = Instant::now();
    let tally = flood(&mut swarm, v.peer, args.reconcile_secs, 64, || {
        Request::Reconcile {
            group,
            epoch: 0,
            proof: STRANGER_PROOF,
            message: message.clone(),
        }
    })
    .await;
    let wall = t.elapsed().as_secs_f64();
    let cpu = (v.cpu_secs() - cpu0) / wall * 100.0;
    row(
        &format!("reconcile flood ({size} B requests)"),
        &format!(
            "daemon CPU {cpu:.0}% of a core over {wall:.1} s; {} answered, {} refused, {} failed",
            tally.answered, tally.refused, tally.failed
        ),
    );
    Ok(())
}
