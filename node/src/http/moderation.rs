//! Moderation: roles, transfer, remove, ban, unban, mute, unmute, pins, and the
//! moderation log. `MEMBER` in a path (or the transfer body) is an author id, a unique id
//! prefix, or a profile name unique in the group (404 when nothing matches, 409 with the
//! candidates when several do). An op the group's rule refuses is 403 with the rule's name
//! (`not_admin`, `outranked`, ...) in the error text; nothing is sent then.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use qun_api::request::{MuteMember, PinMessage, RemoveMember, RoleName, SetRole, Transfer};
use qun_api::view::{LogEntry, Posted};
use qun_protocol::group::Role;
use qun_protocol::{GroupId, MsgId};

use super::Ctx;
use super::error::{ApiResult, bad_request, parse_id};

fn posted(group: GroupId, id: MsgId) -> ApiResult<Posted> {
    Ok(Json(Posted {
        group: group.to_string(),
        id: id.to_string(),
    }))
}

/// `POST /v1/groups/{group}/members/{member}/role` `{"role": "admin"|"member"}`.
pub(super) async fn role(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
    Json(req): Json<SetRole>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let role = match req.role {
        RoleName::Admin => Role::Admin,
        RoleName::Member => Role::Member,
    };
    posted(group, ctx.node.set_role(group, &m, role).await?)
}

/// `POST /v1/groups/{group}/transfer` `{"member"}`.
pub(super) async fn transfer(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<Transfer>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    posted(group, ctx.node.transfer(group, &req.member).await?)
}

/// `POST /v1/groups/{group}/members/{member}/remove` `{"ban"?: bool}`.
pub(super) async fn remove(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
    Json(req): Json<RemoveMember>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let id = if req.ban {
        ctx.node.ban(group, &m).await?
    } else {
        ctx.node.remove(group, &m).await?
    };
    posted(group, id)
}

/// `POST /v1/groups/{group}/members/{member}/ban`.
pub(super) async fn ban(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    posted(group, ctx.node.ban(group, &m).await?)
}

/// `POST /v1/groups/{group}/members/{member}/unban`.
pub(super) async fn unban(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    posted(group, ctx.node.unban(group, &m).await?)
}

/// `POST /v1/groups/{group}/members/{member}/mute` `{"for_secs"?}`.
pub(super) async fn mute(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
    Json(req): Json<MuteMember>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    if req.for_secs == Some(0) {
        return Err(bad_request("for_secs must be at least 1"));
    }
    let duration = req.for_secs.map(Duration::from_secs);
    posted(group, ctx.node.mute(group, &m, duration).await?)
}

/// `POST /v1/groups/{group}/members/{member}/unmute`.
pub(super) async fn unmute(
    State(ctx): State<Ctx>,
    UrlPath((g, m)): UrlPath<(String, String)>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    posted(group, ctx.node.unmute(group, &m).await?)
}

/// `POST /v1/groups/{group}/pins` `{"message"}`.
pub(super) async fn pin(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<PinMessage>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let message: MsgId = parse_id("message", &req.message)?;
    posted(group, ctx.node.pin(group, message).await?)
}

/// `DELETE /v1/groups/{group}/pins/{message}`.
pub(super) async fn unpin(
    State(ctx): State<Ctx>,
    UrlPath((g, msg)): UrlPath<(String, String)>,
) -> ApiResult<Posted> {
    let group = ctx.node.resolve(&g).await?;
    let message: MsgId = parse_id("message", &msg)?;
    posted(group, ctx.node.unpin(group, message).await?)
}

/// `GET /v1/groups/{group}/log`: the moderation log, in group order.
pub(super) async fn log(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<Vec<LogEntry>> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.moderation_log(group).await?))
}
