//! `qun demo`: three real nodes in this process (real libp2p over loopback TCP, real sled
//! stores in a temporary directory) create a group, join by invite code, chat, and print
//! what each node ended up with.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use qun_node::{Config, CreateGroup, Node};

use crate::Global;

/// Options of `qun demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Keep the demo's data directory instead of deleting it.
    #[arg(long)]
    keep: bool,
}

/// Runs the demo.
pub fn run(_g: &Global, args: DemoArgs) -> anyhow::Result<()> {
    if !(2..=10).contains(&args.nodes) {
        bail!("--nodes must be between 2 and 10");
    }
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(demo(args))
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("qun-demo-{}", std::process::id()));
    let names = [
        "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    ];
    let mut nodes = Vec::new();
    for name in names.iter().take(args.nodes) {
        let node = Node::start(Config::for_test(dir.join(name))).await?;
        println!("{name:>6} started: {}", node.author());
        nodes.push(node);
    }
    let created = nodes[0]
        .create_group(CreateGroup {
            name: "周末爬山群 weekend hikers".into(),
            description: "who is in for Saturday?".into(),
            tags: vec!["hiking".into(), "爬山".into()],
            visibility: qun_protocol::Visibility::Private,
        })
        .await?;
    let group: qun_protocol::GroupId = created.group.parse()?;
    println!(
        "\n alice created group {}\n invite: {}\n",
        created.group, created.invite
    );
    for (i, n) in nodes.iter().enumerate().skip(1) {
        n.join(&created.invite).await?;
        println!("{:>6} joined with the invite code", names[i]);
    }
    wait_mesh(&nodes, group).await?;
    nodes[0]
        .announce(group, "Meet at the north gate, 8:00 / 北门集合")
        .await?;
    for (i, n) in nodes.iter().enumerate() {
        n.send(group, &format!("hi from {} / 你好", names[i]), None)
            .await?;
    }
    let expected = nodes[0]
        .history(group, 1000, None)
        .await?
        .len()
        .max(2 * nodes.len() + 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut counts = Vec::new();
        for n in &nodes {
            counts.push(n.history(group, 1000, None).await?.len());
        }
        if counts.iter().all(|c| *c >= expected) {
            break;
        }
        if Instant::now() > deadline {
            bail!("messages did not reach every node in 20 s: {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reference = nodes[0].history(group, 1000, None).await?;
    for (i, n) in nodes.iter().enumerate() {
        let h = n.history(group, 1000, None).await?;
        println!("--- what {} has ({} messages) ---", names[i], h.len());
        for m in &h {
            let who = names
                .iter()
                .zip(&nodes)
                .find(|(_, node)| node.author().to_string() == m.author)
                .map_or("?", |(n, _)| *n);
            println!(
                "  [{}] {who}: {}",
                m.kind,
                qun_protocol::text::escape(&m.text)
            );
        }
        let same = h.iter().map(|m| &m.id).eq(reference.iter().map(|m| &m.id));
        if !same {
            bail!("{}'s history differs from alice's", names[i]);
        }
    }
    let info = nodes[1].group_info(group).await?;
    println!(
        "\nbob sees announcement {:?}, {} members; every node holds the same history in the same order.",
        info.announcement.map(|a| a.text).unwrap_or_default(),
        info.members.len()
    );
    for n in &nodes {
        n.shutdown().await?;
    }
    if args.keep {
        println!("data kept in {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(())
}

async fn wait_mesh(nodes: &[Node], group: qun_protocol::GroupId) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let mut ok = true;
        for n in nodes {
            if n.group_info(group).await?.topic_peers == 0 {
                ok = false;
            }
        }
        if ok {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("nodes did not find each other in 15 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
