//! The blocking client (on ureq): what the CLI uses. One [`Client::call`] runs any route of
//! [`crate::call`]; [`Client::events`] follows the event stream as an iterator.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::call::{Call, Method, events_path};
use crate::error::{ApiError, Error};
use crate::event::NodeEvent;
use crate::file::ApiFile;
use crate::sse;

/// Longest wait for a TCP connection to the daemon. Answers have no timeout: a search or
/// the stats of a group take up to 10 s, and the event stream runs until stopped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Most bytes of an error answer's body that are read.
const MAX_ERROR_BYTES: u64 = 64 * 1024;

/// A connection to one daemon. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    base: String,
    auth: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({})", self.base)
    }
}

impl Client {
    /// The daemon of `data_dir`, found through its API file ([`Error::NoApiFile`] when
    /// there is none).
    pub fn connect(data_dir: &Path) -> Result<Client, Error> {
        Ok(Client::new(&ApiFile::find(data_dir)?))
    }

    /// The daemon at `file.addr`, with its token.
    pub fn new(file: &ApiFile) -> Client {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(CONNECT_TIMEOUT)
            .build();
        Client {
            base: format!("http://{}", file.addr),
            auth: format!("Bearer {}", file.token),
            agent,
        }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<ureq::Response, Error> {
        let req = self
            .agent
            .request(method.as_str(), &format!("{}{path}", self.base))
            .set("Authorization", &self.auth);
        answer(match body {
            Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
            None => req.call(),
        })
    }

    /// Runs one call: its typed answer, or the daemon's error answer ([`Error::Api`]),
    /// or [`Error::NotRunning`] when the daemon cannot be reached.
    pub fn call<T: DeserializeOwned>(&self, call: Call<T>) -> Result<T, Error> {
        self.send(call.method, &call.path, call.body.as_deref())?
            .into_json()
            .map_err(Error::Answer)
    }

    /// Follows `GET /v1/events` (every group's events, or one group's): an iterator of
    /// events that ends when the daemon closes the stream. Events of a type this version
    /// does not know are skipped.
    pub fn events(&self, group: Option<&str>) -> Result<Events, Error> {
        let resp = answer(
            self.agent
                .get(&format!("{}{}", self.base, events_path(group)))
                .set("Authorization", &self.auth)
                .set("Accept", "text/event-stream")
                .call(),
        )?;
        Ok(Events {
            reader: Some(resp.into_reader()),
            parser: sse::Parser::new(),
            ready: std::collections::VecDeque::new(),
        })
    }
}

/// A 2xx answer, the daemon's error answer, or [`Error::NotRunning`].
fn answer(res: Result<ureq::Response, ureq::Error>) -> Result<ureq::Response, Error> {
    match res {
        Ok(r) => Ok(r),
        Err(ureq::Error::Status(status, r)) => {
            let mut body = Vec::new();
            // An unreadable body leaves the message at "request failed".
            let _ = r.into_reader().take(MAX_ERROR_BYTES).read_to_end(&mut body);
            Err(ApiError::from_body(status, &body).into())
        }
        Err(ureq::Error::Transport(t)) => Err(Error::NotRunning {
            cause: t.to_string(),
        }),
    }
}

/// The event stream of [`Client::events`].
pub struct Events {
    /// `None` once the stream ended or failed.
    reader: Option<Box<dyn std::io::Read + Send + Sync + 'static>>,
    parser: sse::Parser,
    /// Events' data read but not yet given out.
    ready: std::collections::VecDeque<String>,
}

impl Iterator for Events {
    type Item = Result<NodeEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = [0u8; 8192];
        loop {
            while let Some(data) = self.ready.pop_front() {
                match NodeEvent::from_json(&data) {
                    Ok(Some(ev)) => return Some(Ok(ev)),
                    Ok(None) => {}
                    Err(e) => return Some(Err(Error::BadEvent(e.into()))),
                }
            }
            let reader = self.reader.as_mut()?;
            let n = match reader.read(&mut buf) {
                Ok(0) => {
                    self.reader = None;
                    return None;
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.reader = None;
                    return Some(Err(Error::Stream(e)));
                }
            };
            let mut out = Vec::new();
            if let Err(e) = self.parser.feed(&buf[..n], &mut out) {
                self.reader = None;
                return Some(Err(Error::Stream(std::io::Error::other(e))));
            }
            self.ready.extend(out);
        }
    }
}
