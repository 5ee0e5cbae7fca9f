//! The web app: plain HTML, CSS and JavaScript modules from the workspace's `web/` folder,
//! built into the binary and served under `/ui/` on the API's loopback address, with the
//! one-time login that gives a browser its session cookie.
//!
//! * `POST /v1/ui/login` (bearer token only): a login URL `http://ADDR/ui/login?token=…`,
//!   good once within [`auth::LOGIN_TTL`] (what `qun ui` prints).
//! * `GET /ui/login?token=…`: uses the token up and answers 303 to `/ui/` with the session
//!   cookie (`HttpOnly; SameSite=Strict; Path=/`); a used, expired or unknown token is 401.
//! * `GET /ui/…`: the app's files (no session needed: they hold no data; the app asks the
//!   API, which does). `GET /` and `GET /ui` redirect to `/ui/`.
//! * `GET /v1/groups/{group}/invite/qr?code=…`: an invite code as a QR code, SVG.
//!
//! Every answer here carries a strict Content-Security-Policy (scripts, styles and requests
//! only from this origin, no inline script, no framing), `nosniff`, `no-referrer` and
//! `no-store`. The app puts every peer-controlled string in the page as text only
//! (`textContent`); a unit test below refuses the DOM calls that parse HTML.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use qun_api::view::UiLogin;
use serde::Deserialize;

use super::Ctx;
use super::auth::{self, Authed, SESSION_COOKIE};
use super::error::{ApiResult, ErrorReply, bad_request, closing};

/// The Content-Security-Policy of the app's answers.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";
/// Longest invite code drawn as a QR code (long codes are at most 1,000 characters).
const MAX_QR_CODE_CHARS: usize = 2048;

macro_rules! asset {
    ($path:literal, $mime:literal) => {
        (
            $path,
            $mime,
            include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../web/", $path)).as_slice(),
        )
    };
}

/// The app's files: path under `/ui/`, content type, bytes.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("js/app.js", "text/javascript; charset=utf-8"),
    asset!("js/api.js", "text/javascript; charset=utf-8"),
    asset!("js/dom.js", "text/javascript; charset=utf-8"),
    asset!("js/i18n.js", "text/javascript; charset=utf-8"),
    asset!("js/charts.js", "text/javascript; charset=utf-8"),
    asset!("js/groups.js", "text/javascript; charset=utf-8"),
    asset!("js/chat.js", "text/javascript; charset=utf-8"),
    asset!("js/members.js", "text/javascript; charset=utf-8"),
    asset!("js/rights.js", "text/javascript; charset=utf-8"),
    asset!("js/pins.js", "text/javascript; charset=utf-8"),
    asset!("js/log.js", "text/javascript; charset=utf-8"),
    asset!("js/ops.js", "text/javascript; charset=utf-8"),
    asset!("js/create.js", "text/javascript; charset=utf-8"),
    asset!("js/join.js", "text/javascript; charset=utf-8"),
    asset!("js/search.js", "text/javascript; charset=utf-8"),
    asset!("js/requests.js", "text/javascript; charset=utf-8"),
    asset!("js/profile.js", "text/javascript; charset=utf-8"),
    asset!("js/stats.js", "text/javascript; charset=utf-8"),
];

/// The app's routes (outside the `/v1` token check).
pub(super) fn routes() -> Router<Ctx> {
    Router::new()
        .route("/", get(to_app))
        .route("/ui", get(to_app))
        .route("/ui/", get(index))
        .route("/ui/login", get(login))
        .route("/ui/{*path}", get(file))
        .layer(middleware::map_response(app_headers))
}

/// Adds the app's security headers to `res`.
async fn app_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn to_app() -> Redirect {
    Redirect::to("/ui/")
}

async fn index() -> Response {
    serve("index.html")
}

async fn file(UrlPath(path): UrlPath<String>) -> Response {
    serve(&path)
}

fn serve(path: &str) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, mime, bytes)) => ([(header::CONTENT_TYPE, *mime)], *bytes).into_response(),
        None => ErrorReply(StatusCode::NOT_FOUND, format!("no file {path:?}")).into_response(),
    }
}

/// ms since the Unix epoch, `later` from now.
fn epoch_ms_in(later: Duration) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from((now + later).as_millis()).unwrap_or(u64::MAX)
}

/// `POST /v1/ui/login`: a one-time login URL; only for the bearer token (a browser session
/// does not mint others).
pub(super) async fn login_url(
    State(ctx): State<Ctx>,
    Extension(authed): Extension<Authed>,
) -> ApiResult<UiLogin> {
    if authed != Authed::Bearer {
        return Err(ErrorReply(
            StatusCode::FORBIDDEN,
            "login URLs are for the API token's holder".into(),
        ));
    }
    let token = ctx.sessions.issue_login(Instant::now())?;
    Ok(Json(UiLogin {
        url: format!("http://{}/ui/login?token={token}", ctx.addr),
        expires_ms: epoch_ms_in(auth::LOGIN_TTL),
    }))
}

/// The query of `GET /ui/login`.
#[derive(Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// `GET /ui/login?token=`: the session cookie and a redirect to the app, or 401.
async fn login(State(ctx): State<Ctx>, Query(q): Query<LoginQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    let session = match ctx.sessions.redeem(&token, Instant::now()) {
        Ok(Some(s)) => s,
        Ok(None) => {
            return closing(ErrorReply(
                StatusCode::UNAUTHORIZED,
                "this login link was used or has expired: run `qun ui` for a new one".into(),
            ));
        }
        Err(e) => return ErrorReply::from(e).into_response(),
    };
    let cookie = format!("{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/");
    let mut res = Redirect::to("/ui/").into_response();
    match HeaderValue::from_str(&cookie) {
        Ok(v) => {
            res.headers_mut().insert(header::SET_COOKIE, v);
            res
        }
        Err(_) => {
            ErrorReply(StatusCode::INTERNAL_SERVER_ERROR, "session cookie".into()).into_response()
        }
    }
}

/// The query of `GET /v1/groups/{group}/invite/qr`.
#[derive(Deserialize)]
pub(super) struct QrQuery {
    code: Option<String>,
}

/// `GET /v1/groups/{group}/invite/qr?code=`: `code` (an invite code of the group, as
/// `POST …/invite` gave it) drawn as an SVG QR code.
pub(super) async fn invite_qr(
    State(ctx): State<Ctx>,
    UrlPath(g): UrlPath<String>,
    Query(q): Query<QrQuery>,
) -> Result<Response, ErrorReply> {
    ctx.node.resolve(&g).await?;
    let code = q.code.unwrap_or_default();
    if code.is_empty() || code.chars().count() > MAX_QR_CODE_CHARS {
        return Err(bad_request(format!(
            "code must be 1 to {MAX_QR_CODE_CHARS} characters"
        )));
    }
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::L)
        .map_err(|e| bad_request(format!("code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .build();
    let res = ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response();
    Ok(app_headers(res).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DOM calls that parse a string as HTML or code: none may appear in the app.
    const FORBIDDEN: [&str; 6] = [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
    ];

    #[test]
    fn the_app_never_parses_strings_as_html() {
        for (path, _, bytes) in ASSETS {
            let text = String::from_utf8_lossy(bytes);
            for bad in FORBIDDEN {
                assert!(!text.contains(bad), "web/{path} uses {bad}");
            }
        }
    }

    #[test]
    fn every_file_of_web_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let p = entry.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                assert!(
                    ASSETS.iter().any(|(a, _, _)| *a == rel),
                    "web/{rel} is not in ASSETS"
                );
            }
        }
    }

    #[test]
    fn the_index_loads_no_inline_script() {
        let index = serve("index.html");
        assert_eq!(index.status(), StatusCode::OK);
        let html = String::from_utf8_lossy(ASSETS[0].2);
        // The CSP refuses inline script anyway; the app must not depend on it.
        assert!(!html.contains("<script>"), "inline script");
    }
}
