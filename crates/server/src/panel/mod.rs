//! The web panel: `/login`, `/logout`, the Data Imports page at
//! `/management/imports`, the Computers page at `/management/computers`,
//! the Software page at `/management/software` and the PVU Sub-capacity
//! page at `/management/license`.
//! Pages are HTML rendered from embedded templates that share one header
//! (`assets/header.html`, with the navigation built from [`NAV`]); each
//! page's script (`assets/<page>.js`, on top of the shared helpers in
//! `assets/panel.js`) talks to the JSON API, authenticated by the session
//! cookie (see [`session`]).

pub mod errors;
pub mod session;

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use openlmt_domain::Permission;
use openlmt_storage::Principal;
use session::{cookie, cookie_name, csrf_token, same_secret};

const LOGIN_HTML: &str = include_str!("../../assets/login.html");
const HEADER_HTML: &str = include_str!("../../assets/header.html");
const IMPORTS_HTML: &str = include_str!("../../assets/imports.html");
const COMPUTERS_HTML: &str = include_str!("../../assets/computers.html");
const SOFTWARE_HTML: &str = include_str!("../../assets/software.html");
const LICENSE_HTML: &str = include_str!("../../assets/license.html");
const PANEL_CSS: &str = include_str!("../../assets/panel.css");
const PANEL_JS: &str = include_str!("../../assets/panel.js");
const IMPORTS_JS: &str = include_str!("../../assets/imports.js");
const COMPUTERS_JS: &str = include_str!("../../assets/computers.js");
const SOFTWARE_JS: &str = include_str!("../../assets/software.js");
const LICENSE_JS: &str = include_str!("../../assets/license.js");
const ICON_SVG: &str = include_str!("../../assets/icon.svg");

/// Where a login goes when it names no (acceptable) page.
const HOME: &str = "/management/imports";
/// The panel's pages, in the order of the navigation bar on every page:
/// (path, label, the permission without which the link is left out, if
/// any). A new page adds its line here and its route below.
const NAV: &[(&str, &str, Option<Permission>)] = &[
    ("/management/imports", "Data Imports", None),
    ("/management/computers", "Computers", None),
    ("/management/software", "Software", None),
    (
        "/management/license",
        "PVU Sub-capacity",
        Some(Permission::ViewLicenseMetrics),
    ),
];
/// The cookie of the login form's double-submit CSRF token.
const LOGIN_COOKIE: &str = "openlmt_login";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The panel's routes. They are merged outside the layer that turns every
/// error response into JSON: their HTML pages (the login form's 401) stay
/// HTML, the rest (405 on `GET /logout`, panics) is JSON, which
/// [`errors::for_browsers`] turns into the panel's error page for a browser
/// (every answer here is marked [`errors::PanelAnswer`]).
pub fn router() -> Router<AppState> {
    let router = Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/management/imports", get(imports_page))
        .route("/management/computers", get(computers_page))
        .route("/management/software", get(software_page))
        .route("/management/license", get(license_page))
        .route("/panel/panel.css", get(|| asset(PANEL_CSS, "text/css")))
        .route(
            "/panel/panel.js",
            get(|| asset(PANEL_JS, "text/javascript")),
        )
        .route(
            "/panel/imports.js",
            get(|| asset(IMPORTS_JS, "text/javascript")),
        )
        .route(
            "/panel/computers.js",
            get(|| asset(COMPUTERS_JS, "text/javascript")),
        )
        .route(
            "/panel/software.js",
            get(|| asset(SOFTWARE_JS, "text/javascript")),
        )
        .route(
            "/panel/license.js",
            get(|| asset(LICENSE_JS, "text/javascript")),
        )
        .route("/panel/icon.svg", get(|| asset(ICON_SVG, "image/svg+xml")));
    #[cfg(feature = "test-hooks")]
    let router = router.route("/test/panic", get(crate::test_hooks::panic));
    router
        .layer(crate::catch_panic())
        .layer(middleware::from_fn(crate::count_requests))
        .layer(middleware::map_response(
            crate::error::jsonify_non_html_errors,
        ))
        .layer(middleware::map_response(errors::mark))
}

async fn asset(body: &'static str, ctype: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&format!("{ctype}; charset=utf-8"))
            .unwrap_or(HeaderValue::from_static("text/plain")),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query parameter value.
fn url_param(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An HTML page with the panel's security headers.
fn page(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// A `Set-Cookie` value: always HttpOnly and SameSite=Strict, Secure over
/// HTTPS; `max_age` 0 deletes the cookie, `None` makes a browser-session
/// cookie (the server enforces the session's expiry).
fn cookie_header(name: &str, value: &str, path: &str, tls: bool, max_age: Option<u32>) -> String {
    let mut c = format!("{name}={value}; Path={path}; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if tls {
        c.push_str("; Secure");
    }
    c
}

/// Accepts only a same-site absolute path (`/x…`), never `//host` or
/// `/\host`, which browsers read as another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && n.len() <= 2048
                && n.chars().all(|c| !c.is_control() && c != '\\') =>
        {
            n.to_string()
        }
        _ => HOME.to_string(),
    }
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The login form, with a fresh double-submit token in a cookie and in a
/// hidden field.
fn login_form(
    app: &AppState,
    status: StatusCode,
    next: &str,
    user: &str,
    message: Option<(&str, &str)>,
) -> Response {
    let token = openlmt_storage::random_hex(16);
    let message = match message {
        Some((kind, text)) => format!(
            r#"<p class="msg {kind}" id="login-message" role="{}">{}</p>"#,
            if kind == "error" { "alert" } else { "status" },
            esc(text)
        ),
        None => String::new(),
    };
    let html = LOGIN_HTML
        .replace("{{message}}", &message)
        .replace("{{next}}", &esc(next))
        .replace("{{user}}", &esc(user))
        .replace("{{login_token}}", &token)
        .replace(
            "{{autofocus_user}}",
            if user.is_empty() { "autofocus" } else { "" },
        )
        .replace(
            "{{autofocus_password}}",
            if user.is_empty() { "" } else { "autofocus" },
        );
    let mut resp = page(status, html);
    set_cookie(
        &mut resp,
        cookie_header(LOGIN_COOKIE, &token, "/login", app.config.tls, Some(3600)),
    );
    resp
}

/// `GET /login[?next=/path]`
async fn login_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let next = safe_next(query_param(query.as_deref(), "next").as_deref());
    if let Ok(Some(_)) = session::session(&headers, &app).await {
        return redirect(&next);
    }
    let message =
        query_param(query.as_deref(), "logged_out").map(|_| ("info", "You are logged out."));
    login_form(&app, StatusCode::OK, &next, "", message)
}

/// Whether the `Origin` header, when the browser sends one, names this
/// site (the host the request was sent to).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    origin_host.is_some_and(|o| !host.is_empty() && o.eq_ignore_ascii_case(host))
}

/// `POST /login` with form fields `user`, `password`, `next` and
/// `login_token`.
async fn login(
    State(app): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut user = String::new();
    let mut password = String::new();
    let mut next = None;
    let mut token = String::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "user" => user = v.trim().to_string(),
            "password" => password = v.into_owned(),
            "next" => next = Some(v.into_owned()),
            "login_token" => token = v.into_owned(),
            _ => {}
        }
    }
    let next = safe_next(next.as_deref());
    let cookie_token = cookie(&headers, LOGIN_COOKIE).unwrap_or("");
    if !same_origin(&headers) || token.is_empty() || !same_secret(&token, cookie_token) {
        return login_form(
            &app,
            StatusCode::FORBIDDEN,
            &next,
            &user,
            Some((
                "error",
                "This login form has expired or was not sent from this site. Please log in again.",
            )),
        );
    }
    let addr = crate::login_limit::client_addr(&extensions, &headers, &app.config.trusted_proxies);
    let checked = if user.is_empty() || password.is_empty() {
        Ok(None)
    } else {
        app.login
            .check(app.engine.store(), addr, &user, &password)
            .await
    };
    let principal = match checked {
        Ok(Some(p)) => p,
        Err(crate::login_limit::Refused::Error(e)) => return e.into_response(),
        Err(refused) => {
            tracing::info!(user = %user.chars().take(64).collect::<String>(), %addr, status = refused.status().as_u16(), "panel login refused");
            // The same message as the API's, in the page for browsers.
            let mut resp = login_form(
                &app,
                refused.status(),
                &next,
                &user,
                Some(("error", &refused.message())),
            );
            crate::login_limit::set_retry_after(&mut resp, refused.retry_after());
            return resp;
        }
        Ok(None) => {
            tracing::info!(user = %user.chars().take(64).collect::<String>(), %addr, "failed panel login");
            return login_form(
                &app,
                StatusCode::UNAUTHORIZED,
                &next,
                &user,
                Some(("error", "Wrong user name or password.")),
            );
        }
    };
    let id = match app.engine.store().create_session(principal.user_id).await {
        Ok(id) => id,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    tracing::info!(user = %principal.name, "panel login");
    let mut resp = redirect(&next);
    set_cookie(
        &mut resp,
        cookie_header(cookie_name(app.config.tls), &id, "/", app.config.tls, None),
    );
    set_cookie(
        &mut resp,
        cookie_header(LOGIN_COOKIE, "", "/login", app.config.tls, Some(0)),
    );
    resp
}

/// `POST /logout` with the session's CSRF token in the form field `csrf`
/// (or the `X-CSRF-Token` header): ends the session.
async fn logout(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let given = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
        .or_else(|| {
            headers
                .get(session::CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    match session::session(&headers, &app).await {
        Ok(Some((id, principal))) => {
            if !same_secret(&given, &csrf_token(&id)) {
                return crate::error::ApiError::forbidden(
                    "missing or wrong CSRF token: log out from the panel's Log out button",
                )
                .into_response();
            }
            if let Err(e) = app.engine.store().delete_session(&id).await {
                return crate::error::ApiError::from(e).into_response();
            }
            app.auth.forget_session(&id);
            tracing::info!(user = %principal.name, "panel logout");
        }
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let mut resp = redirect("/login?logged_out=1");
    set_cookie(
        &mut resp,
        cookie_header(
            cookie_name(app.config.tls),
            "",
            "/",
            app.config.tls,
            Some(0),
        ),
    );
    resp
}

/// Removes the blocks between `<!--manage-->` and `<!--/manage-->`.
fn strip_manage_blocks(html: &str) -> String {
    strip_blocks(html, "<!--manage-->", "<!--/manage-->")
}

/// Removes every block from `open` to the next `close` (both included); an
/// unclosed block runs to the end.
fn strip_blocks(html: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(open) {
        out.push_str(&rest[..start]);
        match rest[start..].find(close) {
            Some(end) => rest = &rest[start + end + close.len()..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Removes the blocks between `<!--view-->` and `<!--/view-->`: the
/// parts of a page shown only to users who may read its data.
fn strip_view_blocks(html: &str) -> String {
    strip_blocks(html, "<!--view-->", "<!--/view-->")
}

/// The navigation bar: a link per page of [`NAV`] that `principal` may
/// read, the current one marked with `aria-current="page"`.
fn nav(current: &str, principal: &Principal) -> String {
    NAV.iter()
        .filter(|(_, _, needed)| needed.is_none_or(|p| principal.permissions.contains(p)))
        .map(|(path, label, _)| {
            let here = if *path == current {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<a href="{path}"{here}>{}</a>"#, esc(label))
        })
        .collect::<Vec<_>>()
        .join("")
}

/// Fills `{{name}}` placeholders in one pass: a value is never scanned
/// again, so text from users (a user name) cannot name a placeholder.
/// Unknown placeholders are left as they are.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| {
            let key = &after[..end];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v, end))
        });
        match value {
            Some((v, end)) => {
                out.push_str(v);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A panel page: the shared header (navigation, user, log-out form) put
/// into the page's template, and the placeholders every page has
/// (`{{nav}}`, `{{csrf}}`, `{{user}}`, `{{role}}`) plus the page's own.
fn render(
    template: &str,
    current: &str,
    session_id: &str,
    principal: &Principal,
    extra: &[(&str, &str)],
) -> String {
    let manage = principal.permissions.contains(Permission::ManageImports);
    let nav = nav(current, principal);
    let csrf = csrf_token(session_id);
    let user = esc(&principal.name);
    let role = if manage {
        "can manage imports"
    } else {
        "read-only"
    };
    let mut values = vec![
        ("nav", nav.as_str()),
        ("csrf", csrf.as_str()),
        ("user", user.as_str()),
        ("role", role),
    ];
    values.extend_from_slice(extra);
    fill(&template.replace("{{header}}", HEADER_HTML), &values)
}

/// The session of a page request, or the redirect to the login form that
/// comes back to this page.
async fn page_session(
    app: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<(String, Principal), Response> {
    match session::session(headers, app).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => {
            let here = uri.path_and_query().map_or(HOME, |pq| pq.as_str());
            Err(redirect(&format!("/login?next={}", url_param(here))))
        }
        Err(e) => Err(e.into_response()),
    }
}

/// `GET /management/imports`: the Data Imports page (login first).
async fn imports_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (id, principal) = match page_session(&app, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let manage = principal.permissions.contains(Permission::ManageImports);
    let template = if manage {
        IMPORTS_HTML.to_string()
    } else {
        strip_manage_blocks(IMPORTS_HTML)
    };
    let html = render(
        &template,
        "/management/imports",
        &id,
        &principal,
        &[("can_manage", if manage { "true" } else { "false" })],
    );
    page(StatusCode::OK, html)
}

/// A page's template for `principal`: whole when it has `needed`; else
/// without its `<!--view-->` blocks, with a message naming the permission
/// and the command that grants it (for the `{{denied}}` placeholder).
fn gate_view(
    template: &str,
    principal: &Principal,
    needed: Permission,
    to: &str,
) -> (String, String) {
    if principal.permissions.contains(needed) {
        return (template.to_string(), String::new());
    }
    let name = esc(&principal.name);
    let perm = needed.as_str();
    (
        strip_view_blocks(template),
        format!(
            r#"<p class="msg error" id="denied" role="alert">Your user <strong>{name}</strong> does not have the <code>{perm}</code> permission needed to {to}. An administrator can grant it with <code>openlmt user permissions {name} --permission {perm}</code> (the command replaces the user's permissions: name the ones to keep as well).</p>"#
        ),
    )
}

/// `GET /management/computers`: the Computers page (login first). A user
/// without `view_endpoints` gets the page with a message saying so instead
/// of the table (the API would refuse the list anyway).
async fn computers_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (id, principal) = match page_session(&app, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (template, denied) = gate_view(
        COMPUTERS_HTML,
        &principal,
        Permission::ViewEndpoints,
        "list the computers",
    );
    let html = render(
        &template,
        "/management/computers",
        &id,
        &principal,
        &[("denied", &denied)],
    );
    page(StatusCode::OK, html)
}

/// `GET /management/software`: the Software page (login first). A user
/// without `view_software` gets the page with a message saying so instead
/// of the lists; the classification controls (the `<!--manage-->` blocks)
/// are left out for users without `manage_software_classification` (the
/// API refuses their changes anyway).
async fn software_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (id, principal) = match page_session(&app, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let view = principal.permissions.contains(Permission::ViewSoftware);
    let manage = principal
        .permissions
        .contains(Permission::ManageSoftwareClassification);
    let (mut template, denied) = gate_view(
        SOFTWARE_HTML,
        &principal,
        Permission::ViewSoftware,
        "list the software inventory",
    );
    if !view || !manage {
        template = strip_manage_blocks(&template);
    }
    let html = render(
        &template,
        "/management/software",
        &id,
        &principal,
        &[("denied", &denied)],
    );
    page(StatusCode::OK, html)
}

/// `GET /management/license`: the PVU Sub-capacity page (login first).
/// Its link is only in the navigation of users with
/// `view_license_metrics`; a user without it who opens the page gets it
/// with a message saying so instead of the report, as on the other pages
/// (the API would refuse the values anyway).
async fn license_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let (id, principal) = match page_session(&app, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let (template, denied) = gate_view(
        LICENSE_HTML,
        &principal,
        Permission::ViewLicenseMetrics,
        "read the licence metrics",
    );
    let html = render(
        &template,
        "/management/license",
        &id,
        &principal,
        &[("denied", &denied)],
    );
    page(StatusCode::OK, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_this_site() {
        assert_eq!(
            safe_next(Some("/management/imports?x=1")),
            "/management/imports?x=1"
        );
        assert_eq!(safe_next(Some("//evil.example/")), HOME);
        assert_eq!(safe_next(Some("/\\evil.example/")), HOME);
        assert_eq!(safe_next(Some("https://evil.example/")), HOME);
        assert_eq!(safe_next(Some("")), HOME);
        assert_eq!(safe_next(None), HOME);
    }

    #[test]
    fn manage_blocks_are_removed() {
        assert_eq!(
            strip_manage_blocks("a<!--manage-->b<!--/manage-->c<!--manage-->d<!--/manage-->"),
            "ac"
        );
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn placeholders_are_filled_once() {
        // A value that looks like a placeholder stays as it is.
        assert_eq!(
            fill(
                "<b>{{user}}</b> {{csrf}} {{unknown}} {{",
                &[("user", "{{csrf}}"), ("csrf", "c0ffee")]
            ),
            "<b>{{csrf}}</b> c0ffee {{unknown}} {{"
        );
        assert_eq!(strip_view_blocks("a<!--view-->table<!--/view-->b"), "ab");
    }

    #[test]
    fn navigation_marks_the_current_page() {
        let all = Principal {
            user_id: 1,
            name: "admin".into(),
            permissions: openlmt_domain::PermissionSet::all(),
        };
        let html = nav("/management/computers", &all);
        assert!(html.contains(r#"<a href="/management/imports">Data Imports</a>"#));
        assert!(
            html.contains(r#"<a href="/management/computers" aria-current="page">Computers</a>"#)
        );
        assert!(html.contains(r#"<a href="/management/software">Software</a>"#));
        assert!(html.contains(r#"<a href="/management/license">PVU Sub-capacity</a>"#));
        for (path, _, _) in NAV {
            assert!(path.starts_with("/management/"), "{path}");
        }
        // The licence page's link only for users who may read the values.
        let viewer = Principal {
            user_id: 2,
            name: "viewer".into(),
            permissions: openlmt_domain::PermissionSet::empty(),
        };
        let html = nav("/management/imports", &viewer);
        assert!(!html.contains("/management/license"), "{html}");
        assert!(html.contains(r#"<a href="/management/software">Software</a>"#));
    }

    #[test]
    fn cookie_attributes() {
        assert_eq!(
            cookie_header(cookie_name(false), "abc", "/", false, None),
            "openlmt_session=abc; Path=/; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            cookie_header(cookie_name(true), "", "/", true, Some(0)),
            "__Host-openlmt_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:9081"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:9081"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }
}
