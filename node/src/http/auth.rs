//! The bearer token check in front of every route: a request without
//! `Authorization: Bearer TOKEN` is answered 401 and its connection closed. The token is
//! compared in constant time.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::Ctx;
use super::error::{ErrorReply, closing};

/// A random API token (64 hex characters).
pub fn new_token() -> Result<String, crate::Error> {
    Ok(hex::encode(crate::keys::random32()?))
}

/// The middleware: passes a request with the token on, answers any other 401.
pub(super) async fn auth(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(given.as_bytes(), ctx.token.as_bytes()) {
        return closing(ErrorReply(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
        ));
    }
    next.run(req).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
        assert_eq!(new_token().unwrap().len(), 64);
    }
}
