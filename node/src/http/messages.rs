//! A group's messages: read the history, send a text, set the announcement.

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use qun_api::request::{Announce, Send};
use qun_api::view::Posted;
use qun_protocol::AuthorId;
use qun_protocol::message::{Kind, Text};
use serde::Deserialize;

use super::Ctx;
use super::error::{ApiResult, bad_request, parse_id};
use crate::view::MessageView;

/// Messages in a history page when the query gives no `limit`.
const DEFAULT_PAGE: usize = 50;

/// The query of `GET /v1/groups/{group}/messages`.
#[derive(Deserialize)]
pub(super) struct HistoryQuery {
    limit: Option<usize>,
    before: Option<String>,
}

/// `GET /v1/groups/{group}/messages?limit=&before=`.
pub(super) async fn history(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Vec<MessageView>> {
    let group = ctx.node.resolve(&g).await?;
    let before = match q.before {
        Some(b) => Some(b.parse().map_err(|e| bad_request(format!("before: {e}")))?),
        None => None,
    };
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    Ok(Json(ctx.node.history(group, limit, before).await?))
}

/// `POST /v1/groups/{group}/messages`: answered once the message is on disk. `mentions`
/// are author ids (the kind checks their number).
pub(super) async fn send(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<Send>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let reply_to = match req.reply_to {
        Some(r) => Some(
            r.parse()
                .map_err(|e| bad_request(format!("reply_to: {e}")))?,
        ),
        None => None,
    };
    let mentions = req
        .mentions
        .iter()
        .map(|m| parse_id::<AuthorId>("mention", m))
        .collect::<Result<Vec<_>, _>>()?;
    let kind = Kind::Text(Text {
        text: req.text,
        reply_to,
        mentions,
    });
    let id = ctx.node.post(group, kind).await?;
    Ok(Json(Posted {
        group: group.to_string(),
        id: id.to_string(),
    }))
}

/// `POST /v1/groups/{group}/announcement` (the owner and admins: 403 `not_admin` otherwise).
pub(super) async fn announce(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<Announce>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let id = ctx.node.announce(group, &req.text).await?;
    Ok(Json(Posted {
        group: group.to_string(),
        id: id.to_string(),
    }))
}
