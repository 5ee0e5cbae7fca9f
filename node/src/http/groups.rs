//! Groups: list, create, join, inspect, invite to, sync and leave.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use qun_api::request::{Invite, Join};
use qun_api::view::{Left, SyncStarted};
use qun_protocol::GroupId;

use super::Ctx;
use super::error::{ApiResult, bad_request, parse_id};
use crate::CreateGroup;
use crate::view::{Created, GroupInfo, InviteCode, JoinOutcome};

/// Default lifetime of an invite code (7 days).
const DEFAULT_INVITE_SECS: u64 = 7 * 24 * 3600;
/// Longest lifetime of an invite code (366 days).
const MAX_INVITE_SECS: u64 = 366 * 24 * 3600;

/// `GET /v1/groups`: every joined group, by name.
pub(super) async fn list(State(ctx): State<Ctx>) -> ApiResult<Vec<GroupInfo>> {
    let mut list = ctx.node.groups().await?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(list))
}

/// `POST /v1/groups`.
pub(super) async fn create(
    State(ctx): State<Ctx>,
    Json(req): Json<CreateGroup>,
) -> ApiResult<Created> {
    // `.` and `..` are dot-segments in a URL path (RFC 3986, 5.2.4): clients collapse them,
    // so a group of that name could never be named in `/v1/groups/{group}/…`.
    if matches!(req.name.trim(), "." | "..") {
        return Err(bad_request(
            "a group cannot be named \".\" or \"..\": clients could not name it in the API's paths",
        ));
    }
    Ok(Json(ctx.node.create_group(req).await?))
}

/// `POST /v1/groups/join`: exactly one of `invite` and `group`.
pub(super) async fn join(State(ctx): State<Ctx>, Json(req): Json<Join>) -> ApiResult<JoinOutcome> {
    match (req.invite, req.group) {
        (Some(invite), None) => {
            if !req.note.is_empty() {
                return Err(bad_request(
                    "a note is for a join request by group id; an invite needs none",
                ));
            }
            // Joining a group we are in already (its owner pasting its own code) is no news.
            let before: std::collections::HashSet<String> = ctx
                .node
                .groups()
                .await?
                .into_iter()
                // A removed member let in again has joined, though it held the group.
                .filter(|g| !matches!(g.standing.as_str(), "removed" | "banned"))
                .map(|g| g.group)
                .collect();
            let group = ctx.node.join_with(&invite, req.history).await?;
            let status = if before.contains(&group.to_string()) {
                "already_member"
            } else {
                "joined"
            };
            // The join has happened: a name we cannot read now must not turn it into an error.
            let name = ctx
                .node
                .group_info(group)
                .await
                .map(|i| i.name)
                .unwrap_or_default();
            Ok(Json(JoinOutcome {
                group: group.to_string(),
                name,
                status: status.into(),
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

/// `GET /v1/groups/{group}`.
pub(super) async fn info(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<GroupInfo> {
    let group = ctx.node.resolve(&g).await?;
    Ok(Json(ctx.node.group_info(group).await?))
}

/// `POST /v1/groups/{group}/sync`.
pub(super) async fn sync(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
) -> ApiResult<SyncStarted> {
    let group = ctx.node.resolve(&g).await?;
    let running = ctx.node.sync(group).await?;
    Ok(Json(SyncStarted {
        group: group.to_string(),
        running,
    }))
}

/// `DELETE /v1/groups/{group}`.
pub(super) async fn leave(State(ctx): State<Ctx>, UrlPath(g): UrlPath<String>) -> ApiResult<Left> {
    let group = ctx.node.resolve(&g).await?;
    ctx.node.leave(group).await?;
    Ok(Json(Left {
        group: group.to_string(),
        left: true,
    }))
}

/// `POST /v1/groups/{group}/invite`.
pub(super) async fn invite(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Json(req): Json<Invite>,
) -> ApiResult<InviteCode> {
    let group = ctx.node.resolve(&g).await?;
    let secs = req.expires_secs.unwrap_or(DEFAULT_INVITE_SECS);
    if secs == 0 || secs > MAX_INVITE_SECS {
        return Err(bad_request("expiry must be 1 s to 366 days"));
    }
    let ttl = Duration::from_secs(secs);
    Ok(Json(ctx.node.invite_code(group, ttl, !req.long).await?))
}
