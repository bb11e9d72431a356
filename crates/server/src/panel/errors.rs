//! The panel's own errors for browsers: a wrong method on a panel path
//! (`GET /logout`: 405 with `Allow`), an unknown path (404), a refused form
//! post or a panic on a panel route answer a browser with an HTML page in
//! the panel's look, and every other client with the usual JSON
//! `{"error": "…"}` (same status, same headers).
//!
//! A request is a browser's when its `Accept` header names `text/html`
//! (or XHTML) at least as high as JSON, as browsers do for a page; `*/*`
//! alone (curl, scripts) is not. Paths under `/api/` always answer JSON.
//! Only answers marked [`PanelAnswer`] are turned into pages: those of the
//! panel's routes and of the unknown-path fallback, never an API route's.

use super::{esc, fill, page};
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

const ERROR_HTML: &str = include_str!("../../assets/error.html");

/// Marks an answer that a browser may get as the panel's error page (set by
/// the panel's router and the unknown-path fallback).
#[derive(Debug, Clone, Copy)]
pub struct PanelAnswer;

/// Marks every answer of the panel's routes.
pub async fn mark(mut resp: Response) -> Response {
    resp.extensions_mut().insert(PanelAnswer);
    resp
}

/// The weight (`q`) an `Accept` header gives a media type: its most
/// specific matching range's (`text/html` over `text/*` over `*/*`), or 0
/// when nothing matches. No `Accept` accepts everything at 1.
fn quality(accept: &str, kind: &str, sub: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut params = range.split(';');
        let media = params.next().unwrap_or("").trim();
        let Some((k, s)) = media.split_once('/') else {
            continue;
        };
        let specificity = match (k.trim(), s.trim()) {
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
            (k, "*") if k.eq_ignore_ascii_case(kind) => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let q = params
            .filter_map(|p| p.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case("q"))
            .and_then(|(_, v)| v.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        if best.is_none_or(|(sp, _)| specificity > sp) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// Whether the request's `Accept` asks for a page: `text/html` (or
/// `application/xhtml+xml`) named explicitly, with a weight above 0 and not
/// below JSON's.
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let named = accept.split(',').any(|r| {
        let media = r.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("text/html")
            || media.eq_ignore_ascii_case("application/xhtml+xml")
    });
    if !named {
        return false;
    }
    let html = quality(&accept, "text", "html").max(quality(&accept, "application", "xhtml+xml"));
    html > 0.0 && html >= quality(&accept, "application", "json")
}

fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// Middleware: a browser's request to a panel path whose answer is a JSON
/// error marked [`PanelAnswer`] gets the panel's error page instead.
pub async fn for_browsers(req: Request, next: Next) -> Response {
    let wants_page = !is_api_path(req.uri().path()) && prefers_html(req.headers());
    if !wants_page {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || !is_json
        || resp.extensions().get::<PanelAnswer>().is_none()
    {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let error = axum::body::to_bytes(body, 64 * 1024)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_default();
    let allow = parts
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (title, message) = describe(status, &method, &path, &allow, error);
    let code = status.as_u16().to_string();
    let html = fill(
        ERROR_HTML,
        &[
            ("title", &esc(&title)),
            ("status", &code),
            ("message", &esc(&message)),
        ],
    );
    let mut out = page(status, html);
    // Allow, Retry-After, cookies: the JSON answer's other headers.
    for name in parts.headers.keys() {
        if !out.headers().contains_key(name) && name != header::CONTENT_LENGTH {
            for v in parts.headers.get_all(name) {
                out.headers_mut().append(name.clone(), v.clone());
            }
        }
    }
    out
}

/// The page's title and message: said for a person, the API's own message
/// where it already is one.
fn describe(
    status: StatusCode,
    method: &Method,
    path: &str,
    allow: &str,
    error: String,
) -> (String, String) {
    match status {
        StatusCode::NOT_FOUND => (
            "Page not found".into(),
            format!("There is no page at {path}."),
        ),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut m = format!("{path} does not answer {method} requests");
            if !allow.is_empty() {
                m.push_str(&format!("; it takes {allow}"));
            }
            m.push('.');
            if path == "/logout" {
                m.push_str(" To log out, use the Log out button at the top of a panel page.");
            }
            ("Method not allowed".into(), m)
        }
        other => {
            let title = match other {
                StatusCode::FORBIDDEN => "Not allowed".to_string(),
                s if s.is_server_error() => "Server error".to_string(),
                s => s.canonical_reason().unwrap_or("Error").to_string(),
            };
            let message = if error.is_empty() {
                other.canonical_reason().unwrap_or("error").to_lowercase()
            } else {
                error
            };
            (title, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_get_pages_and_api_clients_json() {
        // What browsers send for a page (Firefox, Chromium, Safari).
        for v in [
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
            "text/html, application/json;q=0.5",
        ] {
            assert!(prefers_html(&accept(v)), "{v}");
        }
        // curl, scripts, fetch() and clients that rank JSON first.
        for v in [
            "*/*",
            "application/json",
            "application/json, text/html;q=0.5",
            "text/html;q=0",
            "text/*",
        ] {
            assert!(!prefers_html(&accept(v)), "{v}");
        }
        assert!(!prefers_html(&HeaderMap::new()));
        assert!(is_api_path("/api/x") && is_api_path("/api"));
        assert!(!is_api_path("/apis") && !is_api_path("/logout"));
    }

    #[test]
    fn quality_takes_the_most_specific_range() {
        assert_eq!(
            quality("text/*;q=0.2, text/html;q=0.7", "text", "html"),
            0.7
        );
        assert_eq!(quality("*/*;q=0.1, text/*;q=0.3", "text", "html"), 0.3);
        assert_eq!(quality("image/png", "text", "html"), 0.0);
        assert_eq!(quality("text/html;level=1;q=0.4", "text", "html"), 0.4);
    }

    #[test]
    fn messages_say_what_to_do() {
        let (t, m) = describe(
            StatusCode::METHOD_NOT_ALLOWED,
            &Method::GET,
            "/logout",
            "POST",
            String::new(),
        );
        assert_eq!(t, "Method not allowed");
        assert!(
            m.starts_with("/logout does not answer GET requests; it takes POST."),
            "{m}"
        );
        assert!(m.contains("Log out button"), "{m}");
        let (t, m) = describe(StatusCode::NOT_FOUND, &Method::GET, "/nope", "", "x".into());
        assert_eq!(
            (t.as_str(), m.as_str()),
            ("Page not found", "There is no page at /nope.")
        );
        let (t, m) = describe(
            StatusCode::FORBIDDEN,
            &Method::POST,
            "/logout",
            "",
            "missing or wrong CSRF token".into(),
        );
        assert_eq!(
            (t.as_str(), m.as_str()),
            ("Not allowed", "missing or wrong CSRF token")
        );
    }
}
