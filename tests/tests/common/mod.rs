//! Helpers shared by the in-process node tests: starting nodes, polling with a deadline,
//! reading histories.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use qun_node::{Config, CreateGroup, GroupInfo, MessageView, Node};
use qun_protocol::message::Text;
use qun_protocol::{
    Body, Envelope, GroupId, GroupSecret, Identity, Kind, Stamp, Visibility, frame,
};

/// How long a test waits for something that should happen in well under a second or two.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// Poll interval.
pub const POLL: Duration = Duration::from_millis(100);

/// Starts a node on loopback with the test configuration.
pub async fn start(dir: &Path) -> Node {
    Node::start(Config::for_test(dir))
        .await
        .unwrap_or_else(|e| panic!("node in {} did not start: {e}", dir.display()))
}

/// Makes `cfg` bootstrap from `boot` (all of its listen addresses).
pub async fn bootstrap_from(cfg: &mut Config, boot: &Node) {
    cfg.bootstrap = boot
        .id()
        .await
        .unwrap()
        .addrs
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
}

/// Polls `check` until it returns `Ok(value)`, or panics after `timeout` with the last
/// `Err(state)` it returned (what was seen instead of what was awaited).
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match check().await {
            Ok(v) => return v,
            Err(state) if start.elapsed() >= timeout => {
                panic!("timed out after {timeout:?} waiting for {what}; last seen: {state}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// A group request with a name and description (the description makes the owner post a
/// Meta control message at creation).
pub fn group_req(name: &str, description: &str) -> CreateGroup {
    CreateGroup {
        name: name.to_owned(),
        description: description.to_owned(),
        tags: vec!["测试".to_owned(), "test".to_owned()],
        visibility: Visibility::Private,
    }
}

/// Waits until each node sees at least the given number of peers subscribed to the
/// group's topic.
pub async fn wait_topic_peers(nodes: &[(&str, &Node, usize)], group: GroupId) {
    for (name, node, min) in nodes {
        eventually(
            DEADLINE,
            &format!("{name} to see {min} topic peer(s)"),
            || async {
                let info = node.group_info(group).await.map_err(|e| e.to_string())?;
                if info.topic_peers >= *min {
                    Ok(())
                } else {
                    Err(format!(
                        "topic_peers={} mesh_peers={}",
                        info.topic_peers, info.mesh_peers
                    ))
                }
            },
        )
        .await;
    }
}

/// A node's whole history of a group.
pub async fn history(node: &Node, group: GroupId) -> Vec<MessageView> {
    node.history(group, 1000, None)
        .await
        .unwrap_or_else(|e| panic!("history of {node:?}: {e}"))
}

/// The texts of the text messages in a history.
pub fn texts(h: &[MessageView]) -> BTreeSet<String> {
    h.iter()
        .filter(|m| m.kind == "text")
        .map(|m| m.text.clone())
        .collect()
}

/// Waits until `node`'s history holds every text in `want`; returns that history.
pub async fn wait_texts(
    name: &str,
    node: &Node,
    group: GroupId,
    want: &BTreeSet<String>,
) -> Vec<MessageView> {
    eventually(
        DEADLINE,
        &format!("{name} to hold all {} texts", want.len()),
        || async {
            let h = history(node, group).await;
            let have = texts(&h);
            let missing: Vec<&String> = want.difference(&have).collect();
            if missing.is_empty() {
                Ok(h)
            } else {
                Err(format!("missing {missing:?}"))
            }
        },
    )
    .await
}

/// One line per message, for failure output.
pub fn describe(h: &[MessageView]) -> String {
    h.iter()
        .map(|m| {
            format!(
                "  {} at={}.{} {} by {}: {:?}",
                &m.id[..m.id.len().min(8)],
                m.timestamp_ms,
                m.logical,
                m.kind,
                &m.author[m.author.len().saturating_sub(6)..],
                m.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Message ids in order.
pub fn ids(h: &[MessageView]) -> Vec<String> {
    h.iter().map(|m| m.id.clone()).collect()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A bare libp2p swarm with `identity`'s key, over TCP + noise + yamux, whose behaviour
/// `behaviour` builds from the keypair: the hostile or careless peer of the tests (a
/// stranger, a rogue DHT node, a flooder), which skips every check a qun node makes.
/// Idle connections stay open 60 s.
pub fn bare_swarm<B: libp2p::swarm::NetworkBehaviour>(
    identity: &qun_protocol::Identity,
    behaviour: impl FnOnce(&libp2p::identity::Keypair) -> B,
) -> libp2p::Swarm<B> {
    use libp2p::{noise, tcp, yamux};
    libp2p::SwarmBuilder::with_existing_identity(
        qun_node::testing::libp2p_keypair(identity).expect("keypair"),
    )
    .with_tokio()
    .with_tcp(
        tcp::Config::default(),
        noise::Config::new,
        yamux::Config::default,
    )
    .expect("tcp transport")
    .with_behaviour(|k| behaviour(k))
    .expect("behaviour")
    .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
    .build()
}

/// Waits (up to [`DEADLINE`] each) until every node's group info satisfies `check`; the
/// failure names the node and its epoch, roles, mutes and bans.
pub async fn all_see(
    nodes: &[(&str, &Node)],
    group: GroupId,
    what: &str,
    check: impl Fn(&GroupInfo) -> bool,
) {
    for (name, node) in nodes {
        eventually(DEADLINE, &format!("{name} to see {what}"), || async {
            let info = node.group_info(group).await.map_err(|e| e.to_string())?;
            if check(&info) {
                Ok(())
            } else {
                Err(format!(
                    "epoch={} topic={} owner={} members={:?} admins={:?} muted={:?} banned={:?}",
                    info.epoch,
                    info.topic,
                    info.owner,
                    info.members,
                    info.admins,
                    info.muted,
                    info.banned
                ))
            }
        })
        .await;
    }
}

/// Signs a text by `who` in `epoch`, sealed with `secret`, and has `via` publish it raw on
/// its current topic; returns its id.
pub async fn inject(
    via: &Node,
    group: GroupId,
    who: &Identity,
    epoch: u64,
    secret: &GroupSecret,
    text: &str,
) -> String {
    let text = Kind::Text(Text {
        text: text.to_owned(),
        reply_to: None,
        mentions: Vec::new(),
    });
    inject_kind(via, group, who, epoch, secret, text).await
}

/// Signs a message of `kind` by `who` in `epoch`, stamped now, sealed with `secret`, and
/// has `via` publish it raw on its current topic, past its own node's checks; returns its
/// id.
pub async fn inject_kind(
    via: &Node,
    group: GroupId,
    who: &Identity,
    epoch: u64,
    secret: &GroupSecret,
    kind: Kind,
) -> String {
    let ms = now_ms() + 50;
    let body = Body {
        group,
        epoch,
        stamp: Stamp::new(ms, 0),
        kind,
    };
    let msg = Envelope::sign(who, &body).unwrap();
    let mut nonce = [0u8; 24];
    nonce[..8].copy_from_slice(&ms.to_be_bytes());
    nonce[8] = 0x13;
    let key = secret.message_key(&group, epoch);
    let bytes = frame::seal_verified(&msg, &key, nonce)
        .unwrap()
        .encode()
        .unwrap();
    via.publish_raw(group, bytes).await.unwrap();
    msg.id.to_string()
}

/// Searches from `node` (the `members` announcing their cards and keywords again
/// meanwhile) until `group` is found.
pub async fn find_listed(node: &Node, members: &[&Node], query: &str, group: GroupId) {
    eventually(DEADLINE, &format!("a search for {query:?}"), || async {
        for m in members {
            m.announce_discovery().await.map_err(|e| e.to_string())?;
        }
        let r = node.search(query).await.map_err(|e| e.to_string())?;
        if r.hits.iter().any(|h| h.group == group.to_string()) {
            Ok(())
        } else {
            Err(format!("{r:?}"))
        }
    })
    .await;
}
