//! The API's HTTP server: a tokio accept loop that serves each connection with hyper's
//! HTTP/1 server, bounded so that clients that hold connections open cannot lock out the
//! CLI.
//!
//! * **Header timeout.** A connection must send a whole request head within
//!   [`Limits::header_timeout`] of being accepted or of its last response (hyper's
//!   `header_read_timeout` also runs while a kept-alive connection waits for its next
//!   request, so it is the idle timeout too); then it is closed. `axum::serve` has no such
//!   timeout: 1,100 half-sent requests held the API for as long as they stayed open.
//! * **Connection cap.** At most [`Limits::max_connections`] connections are served at
//!   once. When a new one comes at the cap, the oldest connection that has not yet been
//!   answered (a half-sent request, a body that never ends) is closed to make room: a
//!   flood of half-open connections churns among itself while a client that sends its
//!   request at once is answered. When every connection is busy being answered, the loop
//!   stops accepting until one ends (the kernel's backlog holds the rest).
//! * **Event streams** are capped in the router (`Limits::max_event_streams`): the next
//!   one is answered 503 with a JSON error.
//!
//! Answers that end a client's business (401, 503) carry `Connection: close`, so a client
//! without the token cannot keep an answered connection.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinSet};
use tower::ServiceExt;

/// Most API connections served at once (a daemon has `ulimit -n` 1024 for these and its
/// peers).
pub const MAX_CONNECTIONS: usize = 256;
/// Longest wait for a request head, from accept or from the last response (ms: 10,000).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Most `GET /v1/events` streams open at once.
pub const MAX_EVENT_STREAMS: usize = 64;

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Wait for a request head (also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Event streams open at once.
    pub max_event_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            header_timeout: HEADER_TIMEOUT,
            max_event_streams: MAX_EVENT_STREAMS,
        }
    }
}

/// One connection being served.
struct Conn {
    /// Set once a response has been produced on it.
    answered: Arc<AtomicBool>,
    task: AbortHandle,
}

/// Serves `app` on `listener` until `shutdown` completes; then stops accepting, asks every
/// connection to finish its current request, and waits for them.
pub async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut conns: Vec<Conn> = Vec::new();
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        conns.retain(|c| !c.task.is_finished());
        if conns.len() >= limits.max_connections.max(1) && !evict_oldest_unanswered(&mut conns) {
            // Every connection is being answered: wait for one to end.
            tokio::select! {
                () = &mut shutdown => break,
                _ = tasks.join_next() => continue,
            }
        }
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept: do not
                    // spin on it.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let answered = Arc::new(AtomicBool::new(false));
        let task = tasks.spawn(serve_conn(
            stream,
            app.clone(),
            limits.header_timeout,
            answered.clone(),
            stop_rx.clone(),
        ));
        conns.push(Conn { answered, task });
    }
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    Ok(())
}

/// Closes the oldest connection that has not been answered yet; `false` if there is none.
fn evict_oldest_unanswered(conns: &mut Vec<Conn>) -> bool {
    let Some(i) = conns
        .iter()
        .position(|c| !c.answered.load(Ordering::Relaxed))
    else {
        return false;
    };
    let c = conns.remove(i);
    c.task.abort();
    tracing::debug!("API at its connection cap: closed the oldest unanswered connection");
    true
}

async fn serve_conn(
    stream: tokio::net::TcpStream,
    app: Router,
    header_timeout: Duration,
    answered: Arc<AtomicBool>,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let app = app.clone();
        let answered = answered.clone();
        async move {
            let res = app.oneshot(req.map(axum::body::Body::new)).await;
            answered.store(true, Ordering::Relaxed);
            res
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(error = %e, "API connection ended");
            }
            return;
        }
        _ = stop.wait_for(|s| *s) => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}
