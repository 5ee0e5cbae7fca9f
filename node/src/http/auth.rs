//! Who may use the API, and from where.
//!
//! Two guards stand in front of the routes:
//!
//! * [`guard`] (every request, the web app's included): the `Host` header must name this
//!   daemon on loopback (`127.0.0.1`, `localhost` or `[::1]`, with our port or none), so a
//!   page on another site that re-points its DNS name at 127.0.0.1 (DNS rebinding) is
//!   answered 403; an `Origin` header, when present, must be our own origin (`http://` and
//!   the request's `Host`), so no other site's page can write through a browser.
//! * [`auth`] (the `/v1` routes): a request carries either `Authorization: Bearer TOKEN`
//!   (the CLI and other clients, token from the API file) or the web app's session cookie
//!   ([`SESSION_COOKIE`]); any other is answered 401 and its connection closed. A write
//!   (POST, PUT, PATCH, DELETE) authenticated by the cookie must also carry an `Origin`
//!   (403 otherwise): browsers send it on every such request of ours.
//!
//! Sessions begin as Jupyter's do: a bearer client asks for a login URL (`POST
//! /v1/ui/login`, [`Sessions::issue_login`]) whose token is random (32 bytes), good once and
//! for [`LOGIN_TTL`]; opening it ([`Sessions::redeem`]) sets a random session cookie
//! (`HttpOnly; SameSite=Strict; Path=/`). Sessions live in the daemon's memory only: a
//! restart logs everyone out. Secrets are compared in constant time (`subtle`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::Ctx;
use super::error::{ErrorReply, closing};

/// The name of the web app's session cookie.
pub const SESSION_COOKIE: &str = "qun_session";
/// How long a login URL's token can be used (once), from when it was issued (120 s).
pub const LOGIN_TTL: Duration = Duration::from_secs(120);
/// Most login tokens waiting to be used; issuing one more drops the oldest.
const MAX_LOGINS: usize = 16;
/// Most sessions kept; a new login past it ends the oldest session.
const MAX_SESSIONS: usize = 64;

/// A random API token (64 hex characters).
pub fn new_token() -> Result<String, crate::Error> {
    Ok(hex::encode(crate::keys::random32()?))
}

/// `a == b`, in time that depends only on the lengths.
fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// How a request was authenticated, put in its extensions by [`auth`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Authed {
    /// `Authorization: Bearer TOKEN`.
    Bearer,
    /// The web app's session cookie.
    Cookie,
}

/// The login tokens waiting to be used and the sessions open, in memory.
#[derive(Default)]
pub(super) struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Login tokens and when they were issued, oldest first.
    logins: VecDeque<(String, Instant)>,
    /// Session ids, oldest first.
    sessions: VecDeque<String>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only lists of strings: keep using them.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new login token, good once within [`LOGIN_TTL`].
    pub(super) fn issue_login(&self, now: Instant) -> Result<String, crate::Error> {
        let token = new_token()?;
        let mut inner = self.lock();
        inner
            .logins
            .retain(|(_, at)| now.saturating_duration_since(*at) < LOGIN_TTL);
        while inner.logins.len() >= MAX_LOGINS {
            inner.logins.pop_front();
        }
        inner.logins.push_back((token.clone(), now));
        Ok(token)
    }

    /// Uses up the login token `token`: a new session id if it was issued and unused and
    /// has not expired, `None` otherwise.
    pub(super) fn redeem(&self, token: &str, now: Instant) -> Result<Option<String>, crate::Error> {
        let mut inner = self.lock();
        let found = inner.logins.iter().position(|(t, _)| same(t, token));
        let Some(i) = found else { return Ok(None) };
        let Some((_, at)) = inner.logins.remove(i) else {
            return Ok(None);
        };
        if now.saturating_duration_since(at) >= LOGIN_TTL {
            return Ok(None);
        }
        let session = new_token()?;
        while inner.sessions.len() >= MAX_SESSIONS {
            inner.sessions.pop_front();
        }
        inner.sessions.push_back(session.clone());
        Ok(Some(session))
    }

    /// Whether `id` is an open session.
    fn is_open(&self, id: &str) -> bool {
        // Compare with every session, so the time does not tell which one matched.
        self.lock()
            .sessions
            .iter()
            .fold(false, |found, s| same(s, id) | found)
    }
}

/// The value of the cookie `name` in `req`'s `Cookie` headers.
fn cookie<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether `host` (a `Host` header) names this daemon: a loopback name with our port or
/// none (a browser cannot be made to send a loopback name for another site's page).
pub(super) fn is_our_host(host: &str, addr: SocketAddr) -> bool {
    let port = addr.port().to_string();
    ["127.0.0.1", "localhost", "[::1]"].iter().any(|name| {
        host.strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.strip_prefix(':') == Some(&port))
    })
}

fn forbidden(msg: &str) -> Response {
    closing(ErrorReply(StatusCode::FORBIDDEN, msg.into()))
}

/// The `Host` and `Origin` checks, in front of every route.
pub(super) async fn guard(State(ctx): State<Ctx>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_our_host(host, ctx.addr) {
        return forbidden("the Host header must name this daemon on loopback");
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ours = origin
            .to_str()
            .ok()
            .and_then(|o| o.strip_prefix("http://"))
            .is_some_and(|o| o == host);
        if !ours {
            return forbidden("requests from another origin are refused");
        }
    }
    next.run(req).await
}

/// The token of an `Authorization: Bearer TOKEN` value. The scheme is matched ignoring
/// case (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme), then one or more
/// spaces.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| rest.trim_start_matches(' '))
}

/// The bearer-token or session-cookie check, in front of the `/v1` routes.
pub(super) async fn auth(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let authed = match bearer {
        Some(given) if same(given, &ctx.token) => Some(Authed::Bearer),
        Some(_) => None,
        None => cookie(&req, SESSION_COOKIE)
            .filter(|id| ctx.sessions.is_open(id))
            .map(|_| Authed::Cookie),
    };
    let Some(authed) = authed else {
        return closing(ErrorReply(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
        ));
    };
    let safe = matches!(*req.method(), Method::GET | Method::HEAD);
    if authed == Authed::Cookie && !safe && !req.headers().contains_key(header::ORIGIN) {
        return forbidden("a write with the session cookie must carry an Origin header");
    }
    req.extensions_mut().insert(authed);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_ignores_case() {
        for v in ["Bearer t0k", "bearer t0k", "BEARER  t0k"] {
            assert_eq!(bearer_token(v), Some("t0k"), "{v}");
        }
        for v in ["Basic t0k", "Bearert0k", "t0k", ""] {
            assert_eq!(bearer_token(v), None, "{v}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(!same("", "a"));
        assert_eq!(new_token().unwrap().len(), 64);
    }

    #[test]
    fn hosts_are_loopback_names_with_our_port() {
        let addr: SocketAddr = "127.0.0.1:4321".parse().unwrap();
        for ok in [
            "127.0.0.1:4321",
            "localhost:4321",
            "[::1]:4321",
            "127.0.0.1",
        ] {
            assert!(is_our_host(ok, addr), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1:4322",
            "evil.example:4321",
            "localhost.evil.example:4321",
            "127.0.0.1:4321.evil",
            "127.0.0.1:43210",
        ] {
            assert!(!is_our_host(bad, addr), "{bad}");
        }
    }

    #[test]
    fn a_login_token_works_once_and_expires() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let token = s.issue_login(t0).unwrap();
        let session = s.redeem(&token, t0).unwrap().unwrap();
        assert!(s.is_open(&session));
        assert!(!s.is_open("nope"));
        assert_eq!(s.redeem(&token, t0).unwrap(), None, "second use");
        let late = s.issue_login(t0).unwrap();
        assert_eq!(s.redeem(&late, t0 + LOGIN_TTL).unwrap(), None, "expired");
        assert_eq!(s.redeem("", t0).unwrap(), None);
    }

    #[test]
    fn logins_and_sessions_are_bounded() {
        let s = Sessions::default();
        let t0 = Instant::now();
        for _ in 0..MAX_LOGINS * 2 {
            s.issue_login(t0).unwrap();
        }
        assert_eq!(s.lock().logins.len(), MAX_LOGINS);
        for _ in 0..MAX_SESSIONS + 3 {
            let t = s.issue_login(t0).unwrap();
            s.redeem(&t, t0).unwrap().unwrap();
        }
        assert_eq!(s.lock().sessions.len(), MAX_SESSIONS);
    }
}
