//! The daemon's local control API: JSON over HTTP on 127.0.0.1, bearer-token guarded, and
//! the web app that uses it ([`web`], under `/ui/`, with a session cookie instead of the
//! token).
//!
//! The contract (views, request bodies, events, the API file, the error body) is the
//! qun-api crate, shared with the clients; this module serves it over a [`Node`]. The
//! daemon writes `DATA_DIR/api.json` ([`ApiFile`]: `{"addr", "token"}`, owner-only); clients
//! read it to find and authenticate to their daemon. Every route is under `/v1`; `GROUP` in a
//! path is a group id, an unambiguous id prefix, or an unambiguous name; `AUTHOR` is an author
//! id (the same text as its PeerId). Errors are `{"error": "..."}` with a 4xx/5xx status
//! ([`error`]); `GET /v1/events` is a Server-Sent Events stream of [`crate::NodeEvent`]s
//! ([`events`]). The README lists every route.
//!
//! One file per concern: [`identity`], [`groups`], [`messages`], [`moderation`],
//! [`discovery`], [`profile`], [`events`]; each handler is a thin translation from HTTP to one [`Node`] method
//! (the reads wholly in the store, history, log, own profile and group lookup, are served
//! by the handle without queueing behind the event loop: `crate::reads`). A new
//! operation is one `Command` variant, one handler here, one route in [`router_with`] and one
//! `qun_api::Call` constructor.
//!
//! Every request must name this daemon in its `Host` and, from a browser, come from its
//! own origin ([`auth`]: no DNS rebinding, no cross-site writes).
//!
//! The server ([`server`]) bounds what clients can hold: a request head must arrive within
//! 10 s, at most 256 connections and 64 event streams are served at once (the 65th stream
//! is answered 503 `{"error"}`).

mod auth;
mod discovery;
mod error;
mod events;
mod groups;
mod identity;
mod messages;
mod moderation;
mod profile;
pub mod server;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};
use tokio::sync::Semaphore;

pub use auth::{LOGIN_TTL, SESSION_COOKIE, new_token};
pub use qun_api::file::{API_FILE, ApiFile};
pub use web::CSP;

use crate::Node;

/// What every handler gets.
#[derive(Clone)]
struct Ctx {
    node: Node,
    token: String,
    /// One permit per open event stream.
    streams: Arc<Semaphore>,
    max_streams: usize,
    /// The address the API listens on: the only host requests may name.
    addr: SocketAddr,
    /// The web app's login tokens and sessions.
    sessions: Arc<auth::Sessions>,
}

/// The API's and the web app's routes over `node`, served at `addr`, requiring `token`,
/// with the default cap on event streams.
pub fn router(node: Node, token: String, addr: SocketAddr) -> Router {
    router_with(node, token, addr, server::MAX_EVENT_STREAMS)
}

/// The API's and the web app's routes over `node`, served at `addr` (requests must name
/// it as their `Host`), requiring `token` or a web session, serving at most
/// `max_event_streams` event streams at once.
pub fn router_with(
    node: Node,
    token: String,
    addr: SocketAddr,
    max_event_streams: usize,
) -> Router {
    let ctx = Ctx {
        node,
        token,
        streams: Arc::new(Semaphore::new(max_event_streams)),
        max_streams: max_event_streams,
        addr,
        sessions: Arc::new(auth::Sessions::default()),
    };
    Router::new()
        .route("/v1/id", get(identity::id))
        .route("/v1/peers", get(identity::peers))
        .route("/v1/groups", get(groups::list).post(groups::create))
        .route("/v1/groups/join", post(groups::join))
        .route(
            "/v1/groups/{group}",
            get(groups::info).delete(groups::leave),
        )
        .route("/v1/groups/{group}/invite", post(groups::invite))
        .route("/v1/groups/{group}/invite/qr", get(web::invite_qr))
        .route("/v1/groups/{group}/sync", post(groups::sync))
        .route(
            "/v1/groups/{group}/messages",
            get(messages::history).post(messages::send),
        )
        .route("/v1/groups/{group}/announcement", post(messages::announce))
        .route(
            "/v1/groups/{group}/members/{member}/role",
            post(moderation::role),
        )
        .route("/v1/groups/{group}/transfer", post(moderation::transfer))
        .route(
            "/v1/groups/{group}/members/{member}/remove",
            post(moderation::remove),
        )
        .route(
            "/v1/groups/{group}/members/{member}/ban",
            post(moderation::ban),
        )
        .route(
            "/v1/groups/{group}/members/{member}/unban",
            post(moderation::unban),
        )
        .route(
            "/v1/groups/{group}/members/{member}/mute",
            post(moderation::mute),
        )
        .route(
            "/v1/groups/{group}/members/{member}/unmute",
            post(moderation::unmute),
        )
        .route("/v1/groups/{group}/pins", post(moderation::pin))
        .route(
            "/v1/groups/{group}/pins/{message}",
            delete(moderation::unpin),
        )
        .route("/v1/groups/{group}/log", get(moderation::log))
        .route("/v1/groups/{group}/stats", get(discovery::stats))
        .route("/v1/groups/{group}/requests", get(discovery::requests))
        .route(
            "/v1/groups/{group}/requests/{author}/approve",
            post(discovery::approve),
        )
        .route(
            "/v1/groups/{group}/requests/{author}/reject",
            post(discovery::reject),
        )
        .route("/v1/search", get(discovery::search))
        .route("/v1/discovery/announce", post(discovery::announce))
        .route("/v1/profile", get(profile::own).post(profile::set))
        .route("/v1/profile/{author}", get(profile::of))
        .route("/v1/events", get(events::events))
        .route("/v1/ui/login", post(web::login_url))
        .layer(middleware::from_fn_with_state(ctx.clone(), auth::auth))
        .merge(web::routes())
        .layer(middleware::from_fn_with_state(ctx.clone(), auth::guard))
        .layer(middleware::map_response(error::json_errors))
        .with_state(ctx)
}

/// Serves the API on `listener` until `shutdown` completes, with the default limits.
pub async fn serve(
    node: Node,
    token: String,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(node, token, listener, shutdown, server::Limits::default()).await
}

/// Serves the API on `listener` until `shutdown` completes, within `limits`.
pub async fn serve_with(
    node: Node,
    token: String,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    limits: server::Limits,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let app = router_with(node, token, addr, limits.max_event_streams);
    server::run(listener, app, limits, shutdown).await
}
