//! `GET /v1/events`: the node's events as Server-Sent Events, one [`NodeEvent`] as JSON per
//! `data:` line, with a keep-alive comment every 15 s. `?group=` keeps the events of one
//! group ([`NodeEvent::group`]). A client that falls behind the node's broadcast buffer gets
//! `{"type":"lagged","missed":N}` and goes on from the newest events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::broadcast::error::RecvError;

use super::Ctx;
use super::error::{ErrorReply, closing};
use crate::NodeEvent;

/// How often an idle stream carries a keep-alive comment.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The query of `GET /v1/events`.
#[derive(Deserialize)]
pub(super) struct EventsQuery {
    group: Option<String>,
}

/// `GET /v1/events`: at most `max_event_streams` at once (503 past it); the stream's permit
/// and its broadcast receiver are dropped when the client goes away.
pub(super) async fn events(State(ctx): State<Ctx>, Query(q): Query<EventsQuery>) -> Response {
    let Ok(permit) = ctx.streams.clone().try_acquire_owned() else {
        return closing(ErrorReply(
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
    permit: OwnedSemaphorePermit,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ErrorReply> {
    let filter = match q.group {
        Some(g) => Some(ctx.node.resolve(&g).await?.to_string()),
        None => None,
    };
    let rx = ctx.node.subscribe();
    let stream = futures::stream::unfold(
        (rx, filter, permit),
        |(mut rx, filter, permit)| async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => {
                        if let Some(f) = &filter
                            && ev.group() != Some(f.as_str())
                        {
                            continue;
                        }
                        ev
                    }
                    Err(RecvError::Lagged(missed)) => NodeEvent::Lagged { missed },
                    Err(RecvError::Closed) => return None,
                };
                let data = serde_json::to_string(&ev).unwrap_or_default();
                return Some((Ok(Event::default().data(data)), (rx, filter, permit)));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
