//! Who this node is and whom it is connected to: `GET /v1/id`, `GET /v1/peers`.

use axum::Json;
use axum::extract::State;

use super::Ctx;
use super::error::ApiResult;
use crate::view::{IdInfo, PeerInfo};

/// `GET /v1/id`.
pub(super) async fn id(State(ctx): State<Ctx>) -> ApiResult<IdInfo> {
    Ok(Json(ctx.node.id().await?))
}

/// `GET /v1/peers`.
pub(super) async fn peers(State(ctx): State<Ctx>) -> ApiResult<Vec<PeerInfo>> {
    Ok(Json(ctx.node.peers().await?))
}
