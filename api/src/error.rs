//! Errors: the daemon's error body (`{"error": "..."}`), an error answer as a client sees
//! it ([`ApiError`]), and everything a client call can fail with ([`Error`]).

use serde::{Deserialize, Serialize};

/// What a client says when it finds no daemon to talk to.
pub const NOT_RUNNING: &str = "the daemon is not running: start it with `qun daemon`";

/// The body of every error answer of the API: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub error: String,
}

/// An error answer of the daemon: its HTTP status (400 bad input, 401 token, 403 not
/// allowed, 404 not found, 409 ambiguous name, 500 the node's own fault, 503 busy or
/// unavailable) and the `error` text of its body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (HTTP {status})")]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The body's `error`, or `request failed` when the body was not an [`ErrorBody`].
    pub message: String,
}

impl ApiError {
    /// The error of an answer with `status` and `body`.
    pub fn from_body(status: u16, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|b| b.error)
            .unwrap_or_else(|_| "request failed".to_owned());
        Self { status, message }
    }
}

/// What a client call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The daemon answered with an error status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The data dir has no API file: no daemon runs on it.
    #[error(
        "the daemon is not running (no API file in {dir}): start it with `qun daemon --data-dir {dir}`"
    )]
    NoApiFile {
        /// The data dir, as shown.
        dir: String,
    },
    /// The data dir's API file exists but cannot be read or is not an API file (damaged
    /// or written by something else).
    #[error(
        "the API file {path} is unreadable ({reason}): restart the daemon (`qun daemon`) to write it again"
    )]
    BadApiFile {
        /// The file, as shown.
        path: String,
        /// Why it could not be read.
        reason: String,
    },
    /// The daemon's address could not be reached (nothing listens there any more).
    #[error("{NOT_RUNNING}")]
    NotRunning {
        /// The transport's error, for logs (not part of the message).
        cause: String,
    },
    /// An answer could not be read, or is not of the expected shape.
    #[error("reading the daemon's answer")]
    Answer(#[source] std::io::Error),
    /// The event stream broke off.
    #[error("event stream closed")]
    Stream(#[source] std::io::Error),
    /// The event stream carried something that is not an event.
    #[error("bad event from daemon")]
    BadEvent(#[source] std::io::Error),
}

impl Error {
    /// The daemon's error answer, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_answers_read_their_body() {
        let e = ApiError::from_body(404, br#"{"error":"no group matches \"x\""}"#);
        assert_eq!(e.to_string(), "no group matches \"x\" (HTTP 404)");
        let e = ApiError::from_body(502, b"<html>bad gateway</html>");
        assert_eq!(e.message, "request failed");
        let e = Error::NotRunning {
            cause: "refused".into(),
        };
        assert_eq!(e.to_string(), NOT_RUNNING);
    }
}
