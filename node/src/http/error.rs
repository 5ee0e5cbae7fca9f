//! Error answers: every failure is `{"error": "..."}` ([`qun_api::ErrorBody`]) with a status
//! that says whose fault it is. Bad input is 400, an unknown group or missing record 404, an
//! ambiguous name 409, a refused right 403; the node's own faults (a store write that failed,
//! a corrupt record, keys, network set-up) are 500; a node that is stopping or a store being
//! reopened is 503. axum's own rejections are turned into the same body ([`json_errors`]).

use axum::Json;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use qun_api::ErrorBody;

use crate::Error;

/// An error answer: a status and the text of its `{"error"}` body.
#[derive(Debug)]
pub(super) struct ErrorReply(pub StatusCode, pub String);

/// A handler's answer: JSON, or an error answer.
pub(super) type ApiResult<T> = Result<Json<T>, ErrorReply>;

/// The status of a node error.
pub(super) fn status(e: &Error) -> StatusCode {
    use crate::store::Error as Store;
    match e {
        Error::UnknownGroup(_) | Error::UnknownMember(_) | Error::NotFound(_) => {
            StatusCode::NOT_FOUND
        }
        Error::Ambiguous { .. } | Error::AmbiguousMember { .. } => StatusCode::CONFLICT,
        Error::NotAllowed { .. } | Error::NotAdmitted(_) => StatusCode::FORBIDDEN,
        // Our own invite that did not encode is the node's fault, not the request's.
        Error::Invite(qun_protocol::invite::Error::Encode(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        Error::Invalid(_) | Error::Invite(_) | Error::Message(_) | Error::Discovery(_) => {
            StatusCode::BAD_REQUEST
        }
        Error::NoMemberReachable { .. } | Error::Closed | Error::Store(Store::Unavailable) => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        // The node's own faults, not the request's: a write or flush that failed (a full
        // disk), a corrupt record, the keys, the network: 500, with the cause in the body.
        Error::Store(_)
        | Error::Keys(_)
        | Error::Config(_)
        | Error::DataDir(_)
        | Error::Net(_)
        | Error::Network(_)
        | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for ErrorReply {
    fn from(e: Error) -> Self {
        ErrorReply(status(&e), e.to_string())
    }
}

impl IntoResponse for ErrorReply {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

/// A 400 answer.
pub(super) fn bad_request(msg: impl Into<String>) -> ErrorReply {
    ErrorReply(StatusCode::BAD_REQUEST, msg.into())
}

/// Parses an id from a path or body, naming `what` in the 400 answer.
pub(super) fn parse_id<T>(what: &str, text: &str) -> Result<T, ErrorReply>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| bad_request(format!("{what} {text:?}: {e}")))
}

/// An error answer after which the server closes the connection: a client without the
/// token, or one refused for load, cannot keep the connection it was answered on.
pub(super) fn closing(e: ErrorReply) -> Response {
    let mut res = e.into_response();
    res.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    res
}

/// Most bytes of a plain-text error body kept as the `error` text of [`json_errors`].
const MAX_ERROR_TEXT_BYTES: usize = 4096;

/// Makes every error answer `{"error": "..."}`, keeping its status: axum's own answers are
/// plain text or empty (extractor rejections: bad JSON 400/422, wrong content type 415,
/// body over the limit 413, a bad path or query 400; no such route 404, wrong method 405).
pub(super) async fn json_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let body = axum::body::to_bytes(res.into_body(), MAX_ERROR_TEXT_BYTES)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body).trim().to_owned();
    let text = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    ErrorReply(status, text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Error as Store;

    #[test]
    fn whose_fault_decides_the_status() {
        let io = || sled::Error::Io(std::io::Error::other("disk full"));
        for (e, want) in [
            (Error::Invalid("bad".into()), 400),
            (Error::UnknownGroup("g".into()), 404),
            (Error::NotFound("card".into()), 404),
            (Error::not_allowed("not_owner", "owner only"), 403),
            (Error::UnknownMember("x".into()), 404),
            (
                Error::AmbiguousMember {
                    query: "a".into(),
                    candidates: "a1, a2".into(),
                },
                409,
            ),
            (
                Error::Ambiguous {
                    query: "g".into(),
                    ids: "a, b".into(),
                },
                409,
            ),
            (Error::Closed, 503),
            (Error::Store(Store::Unavailable), 503),
            (Error::Internal("a stored genesis has no id".into()), 500),
            // A failed write or flush, a corrupt record: the node's fault, not the request's.
            (Error::Store(Store::Write(io())), 500),
            (Error::Store(Store::Sled(io())), 500),
            (Error::Store(Store::Corrupt("x".into())), 500),
            (Error::Network("dial".into()), 500),
        ] {
            assert_eq!(status(&e).as_u16(), want, "{e}");
        }
    }
}
