//! Discovery: search, join requests of listed groups (list, approve, reject), group stats,
//! and announcing our cards and profile to the DHT now.

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use qun_api::view::Done;
use qun_protocol::AuthorId;
use serde::Deserialize;

use super::Ctx;
use super::error::{ApiResult, ErrorReply, bad_request, parse_id};
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
    let requester = match author.trim().parse::<AuthorId>() {
        Ok(id) => id,
        Err(_) => requester_of(&ctx.node.join_requests(group).await?, author)?,
    };
    Ok(Json(ctx.node.decide_join(group, requester, approve).await?))
}

/// The requester among `requests` that `query` names: a unique id prefix or tail of at
/// least 4 characters (the tail is what listings print after `·`), or a unique profile
/// name (ignoring case). 404 when none matches, 409 when several do.
fn requester_of(requests: &[JoinRequestView], query: &str) -> Result<AuthorId, ErrorReply> {
    let q = query.trim();
    let name = qun_protocol::text::normalize_name(q).to_lowercase();
    let hits: Vec<&JoinRequestView> = requests
        .iter()
        .filter(|r| {
            (q.len() >= 4 && (r.requester.starts_with(q) || r.requester.ends_with(q)))
                || r.requester_name.as_deref().is_some_and(|n| {
                    !name.is_empty() && qun_protocol::text::normalize_name(n).to_lowercase() == name
                })
        })
        .collect();
    match hits.as_slice() {
        [one] => parse_id("author id", &one.requester),
        [] => Err(crate::Error::NotFound(format!(
            "no join request matches {q:?}: see `qun group requests GROUP`"
        ))
        .into()),
        many => Err(crate::Error::AmbiguousMember {
            query: q.to_owned(),
            candidates: many
                .iter()
                .map(|r| r.requester.clone())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into()),
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(id: &AuthorId, name: Option<&str>) -> JoinRequestView {
        JoinRequestView {
            requester: id.to_string(),
            requester_name: name.map(str::to_owned),
            ..JoinRequestView::default()
        }
    }

    #[test]
    fn a_requester_is_named_by_id_prefix_tail_or_name() {
        let ids: Vec<AuthorId> = (1u8..=2)
            .map(|i| qun_protocol::Identity::from_seed([i; 32]).author())
            .collect();
        let list = [req(&ids[0], Some("小林")), req(&ids[1], Some("Bob"))];
        let (one, two) = (ids[0].to_string(), ids[1].to_string());
        assert_eq!(requester_of(&list, &one[..14]).unwrap(), ids[0]);
        assert_eq!(requester_of(&list, &two[two.len() - 6..]).unwrap(), ids[1]);
        assert_eq!(requester_of(&list, " bob ").unwrap(), ids[1]);
        assert_eq!(requester_of(&list, "小林").unwrap(), ids[0]);
        let status = |q: &str| requester_of(&list, q).unwrap_err().0;
        assert_eq!(status("nobody"), axum::http::StatusCode::NOT_FOUND);
        // Every id starts with `12D3KooW`: that names no one; three characters are too few.
        assert_eq!(status("12D3KooW"), axum::http::StatusCode::CONFLICT);
        assert_eq!(status(&one[..3]), axum::http::StatusCode::NOT_FOUND);
    }
}
