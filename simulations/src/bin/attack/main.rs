//! `qun-attack`: the remote resource-exhaustion attacks of issue 11 (reproduction 5), run
//! against a real `qun daemon` on loopback, with the same figures each time:
//!
//! 1. `conns`: N inbound connections from fresh identities; then: how many the daemon
//!    kept, its open files, the API's answer time, how long a member that was away takes
//!    to reconnect, whether a stranger gets in.
//! 2. `half`: N half-sent HTTP requests to the API; the API's answer time meanwhile, and
//!    how long until the daemon has closed them all.
//! 3. `streams`: N event streams (`GET /v1/events`); how many were served, the daemon's
//!    memory before, with them open, and after they closed.
//! 4. `fetch`: one peer fetches the whole history over and over for S seconds; bytes
//!    served, and gossip latency between two honest members before and during it.
//! 5. `reconcile`: one peer sends reconciliation requests for S seconds; the daemon's CPU.
//!
//! The daemon is a child process (`--qun`, by default `target/debug/qun`) started with
//! `ulimit -n` 1024 as a daemon usually has; the attackers and the honest member run in
//! this process. Build first: `cargo build -p qun -p qun-sim`, then
//! `target/debug/qun-attack` (`--help` for the knobs; defaults take about a minute and a
//! half).
#![allow(clippy::print_stdout)]

mod sync_flood;

use sync_flood::{attack_fetch, attack_reconcile};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt;
use libp2p::core::Endpoint;
use libp2p::core::muxing::{StreamMuxerBox, StreamMuxerExt, SubstreamBox};
use libp2p::core::transport::{DialOpts, PortUse, Transport as _};
use libp2p::core::upgrade::Version;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, identity::Keypair, noise, tcp, yamux};
use qun_node::{Config, Node, NodeEvent};
use qun_protocol::sync::{Request, Response};
use qun_protocol::{GroupId, OrderKey, reconcile};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Attack a qun daemon on loopback and print what it costs the daemon.
#[derive(Debug, Parser)]
#[command(name = "qun-attack")]
struct Args {
    /// The `qun` binary to start as the daemon under attack.
    #[arg(long, default_value = "target/debug/qun")]
    qun: PathBuf,
    /// The daemon's open-file limit (`ulimit -n`).
    #[arg(long, default_value_t = 1024)]
    nofile: u32,
    /// Attacks to run, comma-separated: conns, half, streams, fetch, reconcile.
    #[arg(long, default_value = "conns,half,streams,fetch,reconcile")]
    only: String,
    /// Inbound connections from fresh identities.
    #[arg(long, default_value_t = 1011)]
    conns: u32,
    /// Half-sent HTTP requests.
    #[arg(long, default_value_t = 1100)]
    half: u32,
    /// Event streams.
    #[arg(long, default_value_t = 10_000)]
    streams: u32,
    /// Messages in the group (what fetches and reconciliation walk over).
    #[arg(long, default_value_t = 2000)]
    messages: u32,
    /// Seconds of fetch flood.
    #[arg(long, default_value_t = 20)]
    fetch_secs: u64,
    /// Seconds of reconciliation flood.
    #[arg(long, default_value_t = 10)]
    reconcile_secs: u64,
}

/// The daemon under attack.
struct Victim {
    child: Child,
    pid: u32,
    api: SocketAddr,
    token: String,
    addr: Multiaddr,
    peer: PeerId,
    _dir: tempfile::TempDir,
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Victim {
    async fn start(args: &Args) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let script = format!(
            "ulimit -n {} && exec \"$0\" --data-dir \"$1\" daemon --no-mdns \
             --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0",
            args.nofile
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&args.qun)
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", args.qun.display()))?;
        let pid = child.id();
        let api_file = dir.path().join(qun_node::api::API_FILE);
        let started = Instant::now();
        let file = loop {
            if let Ok(f) = qun_node::api::ApiFile::read(dir.path()) {
                break f;
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the daemon wrote no {} in 20 s", api_file.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let api: SocketAddr = file.addr.parse()?;
        let token = file.token;
        let (_, id) = http(api, &token, "GET", "/v1/id", None).await?;
        let id: serde_json::Value = serde_json::from_str(&id)?;
        let addr: Multiaddr = id["addrs"][0].as_str().context("no address")?.parse()?;
        let peer: PeerId = id["peer_id"].as_str().context("no peer id")?.parse()?;
        Ok(Self {
            child,
            pid,
            api,
            token,
            addr,
            peer,
            _dir: dir,
        })
    }

    /// Resident memory in MB.
    fn rss_mb(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }

    /// CPU time used so far, in seconds (user + system; 100 ticks per second).
    fn cpu_secs(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<f64> = after
            .split_whitespace()
            .map(|x| x.parse().unwrap_or(0.0))
            .collect();
        (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
    }

    fn open_files(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, |d| d.count())
    }

    /// `GET /v1/id`: milliseconds to answer, or `None` past `within`.
    async fn api_ms(&self, within: Duration) -> Option<f64> {
        let t = Instant::now();
        match tokio::time::timeout(within, http(self.api, &self.token, "GET", "/v1/id", None)).await
        {
            Ok(Ok((200, _))) => Some(t.elapsed().as_secs_f64() * 1000.0),
            _ => None,
        }
    }
}

/// One HTTP/1.1 request with `Connection: close`; the status and the body.
async fn http(
    api: SocketAddr,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut s = TcpStream::connect(api).await?;
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_owned()))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("no answer".to_owned(), |v| format!("{v:.0} ms"))
}

fn row(attack: &str, figure: &str) {
    println!("| {attack:<34} | {figure} |");
}

/// The next stream the remote opens on `m` (driving the connection meanwhile).
async fn next_inbound(m: &mut StreamMuxerBox) -> std::io::Result<SubstreamBox> {
    futures::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(Err(e)) = m.poll_unpin(cx) {
            return std::task::Poll::Ready(Err(e));
        }
        m.poll_inbound_unpin(cx)
    })
    .await
}

/// A fresh identity's connection to `addr`: the muxer, if the daemon kept it 300 ms.
async fn fresh_connection(i: u32, addr: Multiaddr) -> Option<StreamMuxerBox> {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_le_bytes());
    seed[4..12].copy_from_slice(&(Instant::now().elapsed().as_nanos() as u64).to_le_bytes());
    seed[12..20].copy_from_slice(&(std::process::id() as u64).to_le_bytes());
    let key = Keypair::ed25519_from_bytes(seed).ok()?;
    let mut t = tcp::tokio::Transport::new(tcp::Config::default())
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(&key).ok()?)
        .multiplex(yamux::Config::default())
        .map(|(p, m), _| (p, StreamMuxerBox::new(m)))
        .boxed();
    let opts = DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::New,
    };
    let dial = t.dial(addr, opts).ok()?;
    let (_, mut muxer) = tokio::time::timeout(Duration::from_secs(10), dial)
        .await
        .ok()?
        .ok()?;
    let closed = tokio::time::timeout(Duration::from_millis(300), async {
        while let Ok(s) = next_inbound(&mut muxer).await {
            drop(s);
        }
    })
    .await
    .is_ok();
    (!closed).then_some(muxer)
}

async fn attack_conns(args: &Args, v: &Victim, member: &mut Member) -> anyhow::Result<()> {
    let t = Instant::now();
    let mut held = Vec::new();
    let ids: Vec<u32> = (0..args.conns).collect();
    for chunk in ids.chunks(32) {
        let tries = chunk.iter().map(|i| fresh_connection(*i, v.addr.clone()));
        for mut m in futures::future::join_all(tries).await.into_iter().flatten() {
            held.push(tokio::spawn(async move {
                while let Ok(s) = next_inbound(&mut m).await {
                    drop(s);
                }
            }));
        }
    }
    let opened = t.elapsed();
    let api = v.api_ms(Duration::from_secs(10)).await;
    let files = v.open_files();
    let back = member.reconnect(v).await?;
    let stranger = stranger_connects(v).await?;
    row(
        &format!("{} fresh-identity connections", args.conns),
        &format!(
            "kept {} ({:.1} s), daemon files {files}, API {}, member back {}, stranger {}",
            held.len(),
            opened.as_secs_f64(),
            ms(api),
            ms(back),
            stranger.map_or("refused".to_owned(), |m| format!("in, {m:.0} ms"))
        ),
    );
    for h in held {
        h.abort();
    }
    Ok(())
}

/// A new node with no group dials the daemon: ms until connected, or `None` in 10 s.
async fn stranger_connects(v: &Victim) -> anyhow::Result<Option<f64>> {
    let dir = tempfile::tempdir()?;
    let mut cfg = Config::for_test(dir.path());
    cfg.bootstrap = vec![v.addr.clone().into()];
    let t = Instant::now();
    let node = Node::start(cfg).await?;
    let res = wait_connected(&node, v.peer, Duration::from_secs(10)).await;
    node.shutdown().await?;
    Ok(res.then(|| t.elapsed().as_secs_f64() * 1000.0))
}

async fn wait_connected(node: &Node, peer: PeerId, within: Duration) -> bool {
    let t = Instant::now();
    while t.elapsed() < within {
        if let Ok(peers) = node.peers().await
            && peers.iter().any(|p| p.peer_id == peer.to_string())
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

async fn attack_half(args: &Args, v: &Victim) -> anyhow::Result<()> {
    let mut open = Vec::new();
    for _ in 0..args.half {
        let Ok(Ok(mut s)) =
            tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(v.api)).await
        else {
            continue;
        };
        if s.write_all(b"GET /v1/id HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .is_ok()
        {
            open.push(s);
        }
    }
    let mut worst: Option<f64> = Some(0.0);
    for _ in 0..5 {
        let t = v.api_ms(Duration::from_secs(10)).await;
        worst = worst.zip(t).map(|(a, b)| a.max(b));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let t = Instant::now();
    let mut still = 0;
    for s in &mut open {
        let left = Duration::from_secs(30).saturating_sub(t.elapsed());
        let mut b = [0u8; 64];
        if tokio::time::timeout(left, s.read(&mut b)).await.is_err() {
            still += 1;
        }
    }
    let closed = if still == 0 {
        format!(
            "all closed by the daemon within {:.1} s",
            t.elapsed().as_secs_f64()
        )
    } else {
        format!("{still} still open after 30 s")
    };
    row(
        &format!("{} half-sent HTTP requests", open.len()),
        &format!("API worst of 5: {}; {closed}", ms(worst)),
    );
    Ok(())
}

async fn attack_streams(args: &Args, v: &Victim) -> anyhow::Result<()> {
    let before = v.rss_mb();
    let (mut ok, mut refused, mut failed) = (0, 0, 0);
    let mut open = Vec::new();
    let ids: Vec<u32> = (0..args.streams).collect();
    for chunk in ids.chunks(200) {
        let tries = chunk.iter().map(|_| open_stream(v));
        for r in futures::future::join_all(tries).await {
            match r {
                Some((200, s)) => {
                    ok += 1;
                    open.push(s);
                }
                Some(_) => refused += 1,
                None => failed += 1,
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let during = v.rss_mb();
    let api = v.api_ms(Duration::from_secs(10)).await;
    drop(open);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = v.rss_mb();
    row(
        &format!("{} event streams", args.streams),
        &format!(
            "served {ok}, refused {refused}, failed {failed}; RSS {before:.0} → {during:.0} → \
             {after:.0} MB after close; API {}",
            ms(api)
        ),
    );
    Ok(())
}

/// Opens one event stream; its status (and the open connection).
async fn open_stream(v: &Victim) -> Option<(u16, TcpStream)> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(v.api))
        .await
        .ok()?
        .ok()?;
    let req = format!(
        "GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        v.token
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head))
        .await
        .ok()?
        .ok()?;
    let status = String::from_utf8_lossy(&head[9..12]).parse().ok()?;
    Some((status, s))
}

/// The honest member, in this process.
struct Member {
    node: Option<Node>,
    dir: tempfile::TempDir,
    group: GroupId,
}

impl Member {
    async fn join(invite: &str, group: GroupId) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let node = Node::start(Config::for_test(dir.path())).await?;
        node.join(invite).await?;
        Ok(Self {
            node: Some(node),
            dir,
            group,
        })
    }

    /// Stops and starts again with the daemon as bootstrap: ms until connected.
    async fn reconnect(&mut self, v: &Victim) -> anyhow::Result<Option<f64>> {
        if let Some(n) = self.node.take() {
            n.shutdown().await?;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut cfg = Config::for_test(self.dir.path());
        cfg.bootstrap = vec![v.addr.clone().into()];
        let t = Instant::now();
        let node = Node::start(cfg).await?;
        let ok = wait_connected(&node, v.peer, Duration::from_secs(10)).await;
        self.node = Some(node);
        Ok(ok.then(|| t.elapsed().as_secs_f64() * 1000.0))
    }

    /// Gossip latency: the daemon posts, the member receives; ms per message.
    async fn latency(&self, v: &Victim, n: usize) -> anyhow::Result<Vec<f64>> {
        let node = self.node.as_ref().context("member stopped")?;
        let mut events = node.subscribe();
        let mut out = Vec::new();
        for i in 0..n {
            let text = format!("ping {i} {:?}", Instant::now());
            let body = serde_json::json!({ "text": text }).to_string();
            let t = Instant::now();
            let path = format!("/v1/groups/{}/messages", self.group);
            http(v.api, &v.token, "POST", &path, Some(&body)).await?;
            let got = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    match events.recv().await {
                        Ok(NodeEvent::Message(m)) if m.text == text => return,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                        _ => {}
                    }
                }
            })
            .await;
            out.push(if got.is_ok() {
                t.elapsed().as_secs_f64() * 1000.0
            } else {
                10_000.0
            });
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(out)
    }
}

/// Creates a group on the daemon with `n` messages of 1 KiB; the group and an invite.
async fn setup_group(v: &Victim, n: u32) -> anyhow::Result<(GroupId, String)> {
    let body = serde_json::json!({ "name": "attacked", "visibility": "private" }).to_string();
    let (status, text) = http(v.api, &v.token, "POST", "/v1/groups", Some(&body)).await?;
    if status != 200 {
        bail!("creating the group: {status} {text}");
    }
    let created: serde_json::Value = serde_json::from_str(&text)?;
    let group: GroupId = created["group"].as_str().context("no group")?.parse()?;
    let invite = created["invite"].as_str().context("no invite")?.to_owned();
    let filler = "x".repeat(1000);
    let path = format!("/v1/groups/{group}/messages");
    let ids: Vec<u32> = (0..n).collect();
    for chunk in ids.chunks(16) {
        let posts = chunk.iter().map(|i| {
            let body = serde_json::json!({ "text": format!("{i} {filler}") }).to_string();
            let path = path.clone();
            async move { http(v.api, &v.token, "POST", &path, Some(&body)).await }
        });
        for r in futures::future::join_all(posts).await {
            let (status, text) = r?;
            if status != 200 {
                bail!("posting: {status} {text}");
            }
        }
    }
    Ok((group, invite))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let only: Vec<&str> = args.only.split(',').map(str::trim).collect();
    let victim = Victim::start(&args).await?;
    let t = Instant::now();
    let (group, invite) = setup_group(&victim, args.messages).await?;
    let mut member = Member::join(&invite, group).await?;
    let n = member.node.as_ref().context("member stopped")?;
    let started = Instant::now();
    while n.history(group, 1, None).await.map_or(0, |h| h.len()) == 0
        || !wait_connected(n, victim.peer, Duration::from_millis(1)).await
    {
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the member did not join in 30 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "qun-attack: daemon {} (ulimit -n {}), group of {} messages, set up in {:.1} s, RSS {:.0} MB",
        args.qun.display(),
        args.nofile,
        args.messages,
        t.elapsed().as_secs_f64(),
        victim.rss_mb()
    );
    println!("| {:<34} | figures |", "attack");
    println!("|{}|---------|", "-".repeat(36));
    if only.contains(&"conns") {
        attack_conns(&args, &victim, &mut member).await?;
    }
    if only.contains(&"half") {
        attack_half(&args, &victim).await?;
    }
    if only.contains(&"streams") {
        attack_streams(&args, &victim).await?;
    }
    if only.contains(&"fetch") {
        attack_fetch(&args, &victim, &member).await?;
    }
    if only.contains(&"reconcile") {
        attack_reconcile(&args, &victim, group).await?;
    }
    if let Some(n) = member.node.take() {
        n.shutdown().await?;
    }
    Ok(())
}
