//! Session cookies of the web panel and their CSRF tokens.
//!
//! A session is a random 256-bit id in an HttpOnly, SameSite=Strict cookie
//! (Secure, with the `__Host-` prefix, when served over HTTPS); the
//! database keeps only its hash. Each session has a CSRF token derived
//! from its id (SHA-256 of a label and the id), given to the page in a
//! meta tag: a request authenticated by the cookie that changes state must
//! send it in the `X-CSRF-Token` header.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use sha2::{Digest, Sha256};

/// The header a state-changing request authenticated by cookie must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The session cookie's name: `__Host-` prefixed over HTTPS, which makes
/// the browser insist on Secure, Path=/ and no Domain.
pub fn cookie_name(tls: bool) -> &'static str {
    if tls {
        "__Host-openlmt_session"
    } else {
        "openlmt_session"
    }
}

/// The value of the first cookie called `name`, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The CSRF token of a session.
pub fn csrf_token(session_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"openlmt-csrf\0");
    h.update(session_id.as_bytes());
    hex::encode(h.finalize())
}

/// Compares two strings in time that depends only on their lengths.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Whether a request changes state: any method but GET, HEAD and OPTIONS,
/// and also a GET of the import status that starts an import (`run`).
pub fn changes_state(parts: &Parts) -> bool {
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    parts.uri.query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| {
            k.eq_ignore_ascii_case("run") && !v.is_empty() && !v.eq_ignore_ascii_case("false")
        })
    })
}

/// The session id of the request's cookie, if it names a live session,
/// with its user (from the cache of [`crate::auth::AuthCache`]).
pub async fn session(
    headers: &HeaderMap,
    app: &AppState,
) -> Result<Option<(String, openlmt_storage::Principal)>, ApiError> {
    let Some(id) = cookie(headers, cookie_name(app.config.tls)) else {
        return Ok(None);
    };
    let principal = app.auth.resolve_session(app.engine.store(), id).await?;
    Ok(principal.map(|p| (id.to_string(), p)))
}

/// Authenticates an API request by its session cookie, if it has one.
/// A state-changing request must also carry the session's CSRF token in
/// the `X-CSRF-Token` header, or it is refused with 403.
pub async fn cookie_caller(parts: &Parts, app: &AppState) -> Result<Option<Caller>, ApiError> {
    let Some((id, principal)) = session(&parts.headers, app).await? else {
        return Ok(None);
    };
    if changes_state(parts) {
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !same_secret(given, &csrf_token(&id)) {
            return Err(ApiError::forbidden(
                "missing or wrong CSRF token: a request authenticated by the session cookie that changes something must send the X-CSRF-Token header given to the page",
            ));
        }
    }
    Ok(Some(Caller(principal)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderValue, Request};

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; openlmt_session=abc ; b=2"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("c=3"));
        assert_eq!(cookie(&h, "openlmt_session"), Some("abc"));
        assert_eq!(cookie(&h, "c"), Some("3"));
        assert_eq!(cookie(&h, "openlmt"), None);
    }

    #[test]
    fn state_changing_requests() {
        let parts = |m: Method, uri: &str| {
            Request::builder()
                .method(m)
                .uri(uri)
                .body(())
                .unwrap()
                .into_parts()
                .0
        };
        assert!(!changes_state(&parts(Method::GET, "/api/imports")));
        assert!(!changes_state(&parts(
            Method::GET,
            "/api/import_status.json?run=false"
        )));
        assert!(changes_state(&parts(
            Method::GET,
            "/api/import_status.json?run=true"
        )));
        assert!(changes_state(&parts(Method::PUT, "/api/import_schedule")));
        assert!(changes_state(&parts(Method::POST, "/api/imports/1/cancel")));
    }

    #[test]
    fn csrf_tokens() {
        let t = csrf_token("abc");
        assert_eq!(t.len(), 64);
        assert_ne!(t, csrf_token("abd"));
        assert!(same_secret(&t, &csrf_token("abc")));
        assert!(!same_secret(&t, ""));
    }
}
