//! Discovery: search, join requests of listed groups (list, approve, reject), group stats,
//! and announcing our cards and profile to the DHT now.

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use qun_api::view::Done;
use qun_protocol::AuthorId;
use serde::Deserialize;

use super::Ctx;
use super::error::{ApiResult, bad_request, parse_id};
use crate::view::{GroupStats, JoinRequestView, SearchResult};

/// The query of `GET /v1/search`.
#[derive(Deserialize)]
pub(super) struct SearchQuery {
    q: Option<String>,
}

/// `GET /v1/search?q=WORDS`.
pub(super) async fn search(
    State(ctx): State<Ctx>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<SearchResult> {
    let query =
        q.q.filter(|q| !q.trim().is_empty())
            .ok_or_else(|| bad_request("search needs a query: ?q=WORDS"))?;
    Ok(Json(ctx.node.search(&query).await?))
}

/// `GET /v1/groups/{group}/stats`.
pub(super) async fn stats(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<GroupStats> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.group_stats(group).await?))
}

/// `GET /v1/groups/{group}/requests`.
pub(super) async fn requests(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<Vec<JoinRequestView>> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.join_requests(group).await?))
}

async fn decide(ctx: Ctx, g: &str, author: &str, approve: bool) -> ApiResult<JoinRequestView> {
    let group = ctx.node.resolve(g).await?;
    let requester: AuthorId = parse_id("author id", author)?;
    Ok(Json(ctx.node.decide_join(group, requester, approve).await?))
}

/// `POST /v1/groups/{group}/requests/{author}/approve`.
pub(super) async fn approve(
    State(ctx): State<Ctx>,
    UrlPath((g, author)): UrlPath<(String, String)>,
) -> ApiResult<JoinRequestView> {
    decide(ctx, &g, &author, true).await
}

/// `POST /v1/groups/{group}/requests/{author}/reject`.
pub(super) async fn reject(
    State(ctx): State<Ctx>,
    UrlPath((g, author)): UrlPath<(String, String)>,
) -> ApiResult<JoinRequestView> {
    decide(ctx, &g, &author, false).await
}

/// `POST /v1/discovery/announce`.
pub(super) async fn announce(State(ctx): State<Ctx>) -> ApiResult<Done> {
    ctx.node.announce_discovery().await?;
    Ok(Json(Done { ok: true }))
}
