//! `qun daemon`: run a node and serve the local API until SIGINT/SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use qun_node::http::{self, ApiFile};
use qun_node::{Addr, Config, Node};

use crate::Global;

/// Options of `qun daemon`.
#[derive(Args, Debug)]
pub struct DaemonArgs {
    /// Address to listen on for peers (repeatable). Default: /ip4/0.0.0.0/tcp/PORT, where
    /// PORT is chosen on the first start and kept in DATA_DIR/listen-port, so invite codes
    /// and other nodes' memory stay valid across restarts. With --listen, port 0 means a
    /// new random port each start.
    #[arg(long)]
    listen: Vec<Addr>,
    /// A peer to dial at start, with /p2p/PEER_ID (repeatable).
    #[arg(long)]
    bootstrap: Vec<Addr>,
    /// Where the local API listens (127.0.0.1 only; port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    api: SocketAddr,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// Gossipsub heartbeat in milliseconds.
    #[arg(long, default_value_t = 700)]
    heartbeat_ms: u64,
    /// Use the DHT as a client only (ask, never store or answer): for a node others cannot
    /// reach, e.g. behind NAT without port forwarding. By default the node is a DHT server.
    #[arg(long)]
    dht_client: bool,
    /// How often to republish group cards, keyword announcements and the profile, in
    /// seconds.
    #[arg(long, default_value_t = 600)]
    discovery_interval_secs: u64,
}

/// Runs the daemon.
pub fn run(g: &Global, args: DaemonArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    rt.block_on(serve(g, args))
}

async fn serve(g: &Global, args: DaemonArgs) -> anyhow::Result<()> {
    if !args.api.ip().is_loopback() {
        anyhow::bail!(
            "--api must be a loopback address (127.0.0.1 or [::1]): the API controls your node"
        );
    }
    let data_dir = g.data_dir();
    let mut config = Config {
        data_dir: data_dir.clone(),
        mdns: !args.no_mdns,
        ..Config::default()
    };
    if !args.listen.is_empty() {
        config.listen = args.listen;
        config.keep_port = false;
    }
    config.bootstrap = args.bootstrap;
    config.heartbeat = Duration::from_millis(args.heartbeat_ms);
    config.dht_server = !args.dht_client;
    config.discovery_interval = Duration::from_secs(args.discovery_interval_secs);
    let node = Node::start(config).await.context("starting the node")?;
    let listener = tokio::net::TcpListener::bind(args.api)
        .await
        .with_context(|| format!("binding the API on {}", args.api))?;
    let addr = listener.local_addr()?;
    let token = http::new_token()?;
    ApiFile {
        addr: addr.to_string(),
        token: token.clone(),
    }
    .write(&data_dir)
    .context("writing the API file")?;
    let id = node.id().await?;
    tracing::info!(peer_id = %id.peer_id, api = %addr, data_dir = %data_dir.display(), "qun daemon running");
    for a in &id.addrs {
        tracing::info!(addr = %a, "reachable at");
    }
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(node.clone(), token, listener, async move {
        let _ = stop_rx.await;
    }));
    wait_for_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(());
    // Open event streams never end by themselves: give requests in flight a moment.
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    node.shutdown().await.context("stopping the node")?;
    let _ = std::fs::remove_file(data_dir.join(http::API_FILE));
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
