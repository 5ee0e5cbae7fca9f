//! Profiles: ours (read and change) and others' (looked up in the DHT).

use axum::Json;
use axum::extract::{Path as UrlPath, State};
use qun_protocol::AuthorId;

use super::Ctx;
use super::error::{ApiResult, parse_id};
use crate::view::{ProfileUpdate, ProfileView};

/// `GET /v1/profile`: ours (404 until one is set).
pub(super) async fn own(State(ctx): State<Ctx>) -> ApiResult<ProfileView> {
    Ok(Json(ctx.node.profile(None).await?))
}

/// `GET /v1/profile/{author}`: someone's, from the DHT.
pub(super) async fn of(
    State(ctx): State<Ctx>,
    UrlPath(author): UrlPath<String>,
) -> ApiResult<ProfileView> {
    let author: AuthorId = parse_id("author id", &author)?;
    Ok(Json(ctx.node.profile(Some(author)).await?))
}

/// `POST /v1/profile`.
pub(super) async fn set(
    State(ctx): State<Ctx>,
    Json(update): Json<ProfileUpdate>,
) -> ApiResult<ProfileView> {
    Ok(Json(ctx.node.set_profile(update).await?))
}
