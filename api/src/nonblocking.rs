//! The async client (on hyper and tokio, feature `async`): [`AsyncClient::call`] runs any
//! route of [`crate::call`], and [`AsyncClient::events`] gives the event stream as a
//! [`Stream`](futures::Stream) of [`NodeEvent`]s. Each call opens one HTTP/1 connection to
//! the daemon (it is on loopback); the connection is driven by a task spawned on the
//! current tokio runtime, so calls must be made inside one.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt as _};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header;
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::call::{Call, Method, events_path};
use crate::error::{ApiError, Error};
use crate::event::NodeEvent;
use crate::file::ApiFile;
use crate::sse;

/// Longest wait for the TCP connection and the HTTP handshake with the daemon.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes of an answer's body that are read (a history page is well under it).
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// The events of [`AsyncClient::events`], until the daemon closes the stream; an error
/// ends it.
pub type EventStream = BoxStream<'static, Result<NodeEvent, Error>>;

/// A client of one daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AsyncClient {
    addr: String,
    auth: String,
}

impl AsyncClient {
    /// The daemon of `data_dir`, found through its API file ([`Error::NoApiFile`] when
    /// there is none).
    pub fn connect(data_dir: &Path) -> Result<AsyncClient, Error> {
        Ok(AsyncClient::new(&ApiFile::find(data_dir)?))
    }

    /// The daemon at `file.addr`, with its token.
    pub fn new(file: &ApiFile) -> AsyncClient {
        AsyncClient {
            addr: file.addr.clone(),
            auth: format!("Bearer {}", file.token),
        }
    }

    /// Sends one request on a new connection; a 2xx answer, the daemon's error answer, or
    /// [`Error::NotRunning`].
    async fn send(
        &self,
        method: Method,
        path: &str,
        accept: &str,
        body: Option<Vec<u8>>,
    ) -> Result<hyper::Response<Incoming>, Error> {
        let not_running = |e: &dyn std::fmt::Display| Error::NotRunning {
            cause: e.to_string(),
        };
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(&self.addr)
                .await
                .map_err(|e| not_running(&e))?;
            hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .map_err(|e| not_running(&e))
        };
        let (mut sender, conn) = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|e| not_running(&e))??;
        tokio::spawn(async move {
            // Ends when the answer has been read (or dropped) and the sender is gone.
            let _ = conn.await;
        });
        let mut req = hyper::Request::builder()
            .method(method.as_str())
            .uri(path)
            .header(header::HOST, &self.addr)
            .header(header::AUTHORIZATION, &self.auth)
            .header(header::ACCEPT, accept);
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Answer(std::io::Error::other(e)))?;
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| not_running(&e))?;
        let status = res.status();
        if status.is_success() {
            return Ok(res);
        }
        let body = Limited::new(res.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(ApiError::from_body(status.as_u16(), &body).into())
    }

    /// Runs one call: its typed answer, or the daemon's error answer ([`Error::Api`]),
    /// or [`Error::NotRunning`] when the daemon cannot be reached.
    pub async fn call<T: DeserializeOwned>(&self, call: Call<T>) -> Result<T, Error> {
        let res = self
            .send(call.method, &call.path, "application/json", call.body)
            .await?;
        let body = Limited::new(res.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| Error::Answer(std::io::Error::other(e)))?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|e| Error::Answer(e.into()))
    }

    /// Follows `GET /v1/events` (every group's events, or one group's). Events of a type
    /// this version does not know are skipped; the stream ends when the daemon closes it,
    /// and after an error. Dropping it closes the connection.
    pub async fn events(&self, group: Option<&str>) -> Result<EventStream, Error> {
        let res = self
            .send(Method::Get, &events_path(group), "text/event-stream", None)
            .await?;
        let state = Reading {
            body: Some(res.into_body()),
            parser: sse::Parser::new(),
            ready: VecDeque::new(),
        };
        Ok(stream::unfold(state, |mut s| async move {
            let item = s.next_event().await?;
            Some((item, s))
        })
        .boxed())
    }
}

/// The state of an event stream between items.
struct Reading {
    /// `None` once the stream ended or failed.
    body: Option<Incoming>,
    parser: sse::Parser,
    /// Events' data read but not yet given out.
    ready: VecDeque<String>,
}

impl Reading {
    async fn next_event(&mut self) -> Option<Result<NodeEvent, Error>> {
        loop {
            while let Some(data) = self.ready.pop_front() {
                match NodeEvent::from_json(&data) {
                    Ok(Some(ev)) => return Some(Ok(ev)),
                    Ok(None) => {}
                    Err(e) => return Some(Err(Error::BadEvent(e.into()))),
                }
            }
            let body = self.body.as_mut()?;
            let frame = match body.frame().await {
                None => {
                    self.body = None;
                    return None;
                }
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    self.body = None;
                    return Some(Err(Error::Stream(std::io::Error::other(e))));
                }
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let mut out = Vec::new();
            if let Err(e) = self.parser.feed(&data, &mut out) {
                self.body = None;
                return Some(Err(Error::Stream(std::io::Error::other(e))));
            }
            self.ready.extend(out);
        }
    }
}
