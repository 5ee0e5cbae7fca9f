//! The daemon's local control API: JSON over HTTP on 127.0.0.1, bearer-token guarded.
//!
//! The daemon writes `DATA_DIR/api.json` (`{"addr", "token"}`, owner-only permissions); the
//! CLI reads it to find and authenticate to its daemon. Every route is under `/v1`;
//! `GROUP` in a path is a group id, an unambiguous id prefix, or an unambiguous name.
//! Errors are `{"error": "..."}` with a 4xx/5xx status, axum's own rejections included
//! ([`json_errors`]). `GET /v1/events` is a Server-Sent
//! Events stream of [`NodeEvent`]s. The README lists every route.
//!
//! Discovery (search, joining by group id, join requests, profiles, group stats) goes
//! through the same [`Node`] methods as everything else; `AUTHOR` in a path is an author
//! id (the same text as its PeerId).
//!
//! The server ([`server`]) bounds what clients can hold: a request head must arrive within
//! 10 s, at most 256 connections and 64 event streams are served at once (the 65th stream
//! is answered 503 `{"error"}`).

pub mod server;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::sync::broadcast::error::RecvError;

use qun_protocol::{AuthorId, GroupId};

use crate::{CreateGroup, Error, Node, NodeEvent, ProfileUpdate, keys};

/// File in the data dir that tells clients where the API is and its token.
pub const API_FILE: &str = "api.json";

/// Contents of [`API_FILE`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiFile {
    /// `host:port` of the API.
    pub addr: String,
    /// The bearer token.
    pub token: String,
}

impl ApiFile {
    /// Writes the file with owner-only permissions.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        keys::write_private_file(&dir.join(API_FILE), &text)
    }

    /// Reads the file, if present.
    pub fn read(dir: &Path) -> std::io::Result<ApiFile> {
        let text = std::fs::read(dir.join(API_FILE))?;
        serde_json::from_slice(&text).map_err(std::io::Error::other)
    }
}

/// A random API token (64 hex characters).
pub fn new_token() -> Result<String, Error> {
    Ok(hex::encode(keys::random32()?))
}

#[derive(Clone)]
struct Ctx {
    node: Node,
    token: String,
    /// One permit per open event stream.
    streams: Arc<Semaphore>,
    max_streams: usize,
}

/// An API error response.
struct ApiError(StatusCode, String);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::UnknownGroup(_) | Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Ambiguous { .. } => StatusCode::CONFLICT,
            Error::NotAllowed(_) | Error::NotAdmitted(_) => StatusCode::FORBIDDEN,
            Error::NoMemberReachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Invalid(_) | Error::Invite(_) | Error::Message(_) | Error::Discovery(_) => {
                StatusCode::BAD_REQUEST
            }
            Error::Closed | Error::Store(crate::store::Error::Unavailable) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Every other store fault (a write that failed on a full disk, a corrupt record)
            // is the node's, not the request's: 500, with the cause in the JSON body.
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A 400 answer.
fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Parses an id from a path or body, naming `what` in the 400 answer.
fn parse_id<T>(what: &str, text: &str) -> Result<T, ApiError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| bad_request(format!("{what} {text:?}: {e}")))
}

/// The API's routes over `node`, requiring `token`, with the default cap on event streams.
pub fn router(node: Node, token: String) -> Router {
    router_with(node, token, server::MAX_EVENT_STREAMS)
}

/// The API's routes over `node`, requiring `token`, serving at most `max_event_streams`
/// event streams at once.
pub fn router_with(node: Node, token: String, max_event_streams: usize) -> Router {
    let ctx = Ctx {
        node,
        token,
        streams: Arc::new(Semaphore::new(max_event_streams)),
        max_streams: max_event_streams,
    };
    Router::new()
        .route("/v1/id", get(id))
        .route("/v1/peers", get(peers))
        .route("/v1/groups", get(groups).post(create))
        .route("/v1/groups/join", post(join))
        .route("/v1/groups/{group}", get(info).delete(leave))
        .route("/v1/groups/{group}/invite", post(invite))
        .route("/v1/groups/{group}/messages", get(history).post(send))
        .route("/v1/groups/{group}/announcement", post(announce))
        .route("/v1/groups/{group}/sync", post(sync))
        .route("/v1/groups/{group}/stats", get(stats))
        .route("/v1/groups/{group}/requests", get(requests))
        .route(
            "/v1/groups/{group}/requests/{author}/approve",
            post(approve),
        )
        .route("/v1/groups/{group}/requests/{author}/reject", post(reject))
        .route("/v1/search", get(search))
        .route("/v1/profile", get(own_profile).post(set_profile))
        .route("/v1/profile/{author}", get(profile))
        .route("/v1/discovery/announce", post(announce_discovery))
        .route("/v1/events", get(events))
        .layer(middleware::from_fn_with_state(ctx.clone(), auth))
        .layer(middleware::map_response(json_errors))
        .with_state(ctx)
}

/// Most bytes of a plain-text error body kept as the `error` text of [`json_errors`].
const MAX_ERROR_TEXT_BYTES: usize = 4096;

/// Makes every error answer `{"error": "..."}`, keeping its status: axum's own answers are
/// plain text or empty (extractor rejections: bad JSON 400/422, wrong content type 415,
/// body over the limit 413, a bad path or query 400; no such route 404, wrong method 405).
async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let body = axum::body::to_bytes(res.into_body(), MAX_ERROR_TEXT_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    ApiError(status, text).into_response()
}

async fn auth(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), ctx.token.as_bytes()) {
        return closing(ApiError(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
        ));
    }
    next.run(req).await
}

/// An error answer after which the server closes the connection: a client without the
/// token, or one refused for load, cannot keep the connection it was answered on.
fn closing(e: ApiError) -> Response {
    let mut res = e.into_response();
    res.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    res
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn id(State(ctx): State<Ctx>) -> ApiResult<crate::IdInfo> {
    Ok(Json(ctx.node.id().await?))
}

async fn peers(State(ctx): State<Ctx>) -> ApiResult<Vec<crate::PeerInfo>> {
    Ok(Json(ctx.node.peers().await?))
}

async fn groups(State(ctx): State<Ctx>) -> ApiResult<Vec<crate::GroupInfo>> {
    let mut list = ctx.node.groups().await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(list))
}

async fn create(State(ctx): State<Ctx>, Json(req): Json<CreateGroup>) -> ApiResult<crate::Created> {
    Ok(Json(ctx.node.create_group(req).await?))
}

/// `POST /v1/groups/join`: exactly one of `invite` and `group`.
#[derive(Deserialize)]
struct JoinReq {
    /// An invite code (text around it is fine).
    #[serde(default)]
    invite: Option<String>,
    /// A group id found by search.
    #[serde(default)]
    group: Option<String>,
    /// For a listed group joined by id: a note to its admins.
    #[serde(default)]
    note: String,
    /// `all` (default) or `since-join`.
    #[serde(default)]
    history: crate::History,
}

async fn join(State(ctx): State<Ctx>, Json(req): Json<JoinReq>) -> ApiResult<crate::JoinOutcome> {
    match (req.invite, req.group) {
        (Some(invite), None) => {
            if !req.note.is_empty() {
                return Err(bad_request(
                    "a note is for a join request by group id; an invite needs none",
                ));
            }
            let group = ctx.node.join_with(&invite, req.history).await?;
            // The join has happened: a name we cannot read now must not turn it into an error.
            let name = ctx
                .node
                .group_info(group)
                .await
                .map(|i| i.name)
                .unwrap_or_default();
            Ok(Json(crate::JoinOutcome {
                group: group.to_string(),
                name,
                status: "joined".into(),
            }))
        }
        (None, Some(g)) => {
            let group: GroupId = parse_id("group id", &g)?;
            Ok(Json(
                ctx.node.join_group(group, &req.note, req.history).await?,
            ))
        }
        _ => Err(bad_request(
            "give either \"invite\" (an invite code) or \"group\" (a group id)",
        )),
    }
}

async fn info(State(ctx): State<Ctx>, UrlPath(g): UrlPath<String>) -> ApiResult<crate::GroupInfo> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.group_info(group).await?))
}

async fn sync(State(ctx): State<Ctx>, UrlPath(g): UrlPath<String>) -> ApiResult<serde_json::Value> {
    let group = ctx.node.resolve(&g).await?;
    let running = ctx.node.sync(group).await?;
    Ok(Json(
        json!({ "group": group.to_string(), "running": running }),
    ))
}

async fn leave(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<serde_json::Value> {
    let group = ctx.node.resolve(&g).await?;
    ctx.node.leave(group).await?;
    Ok(Json(json!({ "group": group.to_string(), "left": true })))
}

#[derive(Deserialize)]
struct InviteReq {
    /// Lifetime in seconds (default 7 days).
    expires_secs: Option<u64>,
    /// The long, self-contained code instead of the short one.
    #[serde(default)]
    long: bool,
}

async fn invite(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<InviteReq>,
) -> ApiResult<crate::InviteCode> {
    let group = ctx.node.resolve(&g).await?;
    let ttl = Duration::from_secs(req.expires_secs.unwrap_or(7 * 24 * 3600));
    if ttl.is_zero() || ttl > Duration::from_secs(366 * 24 * 3600) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "expiry must be 1 s to 366 days".into(),
        ));
    }
    Ok(Json(ctx.node.invite_code(group, ttl, !req.long).await?))
}

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
    before: Option<String>,
}

async fn history(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Vec<crate::MessageView>> {
    let group = ctx.node.resolve(&g).await?;
    let before = match q.before {
        Some(b) => Some(
            b.parse()
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("before: {e}")))?,
        ),
        None => None,
    };
    Ok(Json(
        ctx.node
            .history(group, q.limit.unwrap_or(50), before)
            .await?,
    ))
}

#[derive(Deserialize)]
struct SendReq {
    text: String,
    reply_to: Option<String>,
}

async fn send(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<SendReq>,
) -> ApiResult<serde_json::Value> {
    let group = ctx.node.resolve(&g).await?;
    let reply_to = match req.reply_to {
        Some(r) => Some(
            r.parse()
                .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("reply_to: {e}")))?,
        ),
        None => None,
    };
    let id = ctx.node.send(group, &req.text, reply_to).await?;
    Ok(Json(
        json!({ "id": id.to_string(), "group": group.to_string() }),
    ))
}

#[derive(Deserialize)]
struct AnnounceReq {
    text: String,
}

async fn announce(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<AnnounceReq>,
) -> ApiResult<serde_json::Value> {
    let group = ctx.node.resolve(&g).await?;
    let id = ctx.node.announce(group, &req.text).await?;
    Ok(Json(
        json!({ "id": id.to_string(), "group": group.to_string() }),
    ))
}

async fn stats(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<crate::GroupStats> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.group_stats(group).await?))
}

async fn requests(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<Vec<crate::JoinRequestView>> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.join_requests(group).await?))
}

async fn decide(
    ctx: Ctx,
    g: &str,
    author: &str,
    approve: bool,
) -> ApiResult<crate::JoinRequestView> {
    let group = ctx.node.resolve(g).await?;
    let requester: AuthorId = parse_id("author id", author)?;
    Ok(Json(ctx.node.decide_join(group, requester, approve).await?))
}

async fn approve(
    State(ctx): State<Ctx>,
    UrlPath((g, author)): UrlPath<(String, String)>,
) -> ApiResult<crate::JoinRequestView> {
    decide(ctx, &g, &author, true).await
}

async fn reject(
    State(ctx): State<Ctx>,
    UrlPath((g, author)): UrlPath<(String, String)>,
) -> ApiResult<crate::JoinRequestView> {
    decide(ctx, &g, &author, false).await
}

#[derive(Deserialize)]
struct SearchQuery {
    q: Option<String>,
}

async fn search(
    State(ctx): State<Ctx>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<crate::SearchResult> {
    let query =
        q.q.filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad_request("search needs a query: ?q=WORDS"))?;
    Ok(Json(ctx.node.search(&query).await?))
}

async fn own_profile(State(ctx): State<Ctx>) -> ApiResult<crate::ProfileView> {
    Ok(Json(ctx.node.profile(None).await?))
}

async fn profile(
    State(ctx): State<Ctx>,
    UrlPath(author): UrlPath<String>,
) -> ApiResult<crate::ProfileView> {
    let author: AuthorId = parse_id("author id", &author)?;
    Ok(Json(ctx.node.profile(Some(author)).await?))
}

async fn set_profile(
    State(ctx): State<Ctx>,
    Json(update): Json<ProfileUpdate>,
) -> ApiResult<crate::ProfileView> {
    Ok(Json(ctx.node.set_profile(update).await?))
}

async fn announce_discovery(State(ctx): State<Ctx>) -> ApiResult<serde_json::Value> {
    ctx.node.announce_discovery().await?;
    Ok(Json(json!({ "ok": true })))
}

#[derive(Deserialize)]
struct EventsQuery {
    group: Option<String>,
}

/// The group an event is about, if any: what `GET /v1/events?group=` filters on.
fn event_group(ev: &NodeEvent) -> Option<&str> {
    match ev {
        NodeEvent::Message(m) => Some(&m.group),
        NodeEvent::JoinRequested { group, .. }
        | NodeEvent::Joined { group }
        | NodeEvent::JoinRejected { group } => Some(group),
        NodeEvent::PeerConnected { .. }
        | NodeEvent::PeerDisconnected { .. }
        | NodeEvent::Rejected { .. } => None,
    }
}

/// `GET /v1/events`: at most `max_event_streams` at once (503 past it); the stream's permit
/// and its broadcast receiver are dropped when the client goes away.
async fn events(State(ctx): State<Ctx>, Query(q): Query<EventsQuery>) -> Response {
    let Ok(permit) = ctx.streams.clone().try_acquire_owned() else {
        return closing(ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "too many event streams: {} are open, the most this daemon serves",
                ctx.max_streams
            ),
        ));
    };
    match event_stream(&ctx, q, permit).await {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn event_stream(
    ctx: &Ctx,
    q: EventsQuery,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let filter = match q.group {
        Some(g) => Some(ctx.node.resolve(&g).await?.to_string()),
        None => None,
    };
    let rx = ctx.node.subscribe();
    let stream = futures::stream::unfold(
        (rx, filter, permit),
        |(mut rx, filter, permit)| async move {
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        if let Some(f) = &filter
                            && event_group(&ev) != Some(f.as_str())
                        {
                            continue;
                        }
                        let data = serde_json::to_string(&ev).unwrap_or_default();
                        return Some((Ok(Event::default().data(data)), (rx, filter, permit)));
                    }
                    Err(RecvError::Lagged(n)) => {
                        let data = json!({ "type": "lagged", "missed": n }).to_string();
                        return Some((Ok(Event::default().data(data)), (rx, filter, permit)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
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
    let app = router_with(node, token, limits.max_event_streams);
    server::run(listener, app, limits, shutdown).await
}
