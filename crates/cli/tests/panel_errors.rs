//! The panel's own errors (a wrong method on a panel path, an unknown path,
//! a refused form post, a panic) answer a browser with an HTML page in the
//! panel's look and API clients with JSON; and the security headers are on
//! every kind of answer: JSON, streamed lists, errors of every status,
//! pages, redirects, assets, metrics, downloads, refused request heads.

mod common;

use common::panel::{client, login};
use common::{write_scan_package, TestServer, ADMIN_PASSWORD};
use reqwest::blocking::{RequestBuilder, Response};
use serde_json::Value;
use std::io::{Read, Write};

/// What Chromium sends for a page.
const BROWSER: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

fn browser(rb: RequestBuilder) -> Response {
    rb.header("accept", BROWSER).send().unwrap()
}

fn ctype(r: &Response) -> String {
    r.headers()["content-type"].to_str().unwrap().to_string()
}

/// An HTML error page in the panel's look: its status, the panel's
/// stylesheet and icon, the title, a link back to the panel, no inline
/// script or style (the CSP would block them); returns the page.
fn error_page(r: Response, status: u16, title: &str, what: &str) -> String {
    assert_eq!(r.status(), status, "{what}");
    assert!(ctype(&r).starts_with("text/html"), "{what}: {}", ctype(&r));
    assert_security_headers(&r, what);
    assert_eq!(r.headers()["cache-control"], "no-store", "{what}");
    let html = r.text().unwrap();
    assert!(
        html.contains(r#"<link rel="stylesheet" href="/panel/panel.css">"#),
        "{what}"
    );
    assert!(
        html.contains(&format!("<title>{title} · openlmt</title>")),
        "{what}: {html}"
    );
    assert!(html.contains(&format!("({status})")), "{what}");
    assert!(html.contains(r#"href="/management/imports""#), "{what}");
    assert!(!html.contains("{{"), "{what}: a placeholder left unfilled");
    assert!(!html.contains("<script") && !html.contains("<style") && !html.contains("style=\""));
    html
}

fn json_error(r: Response, status: u16, what: &str) -> String {
    assert_eq!(r.status(), status, "{what}");
    assert!(
        ctype(&r).starts_with("application/json"),
        "{what}: {}",
        ctype(&r)
    );
    assert_security_headers(&r, what);
    let v: Value = r.json().unwrap();
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {v}"))
        .to_string()
}

fn assert_security_headers(r: &Response, what: &str) {
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    let csp = h
        .get("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no CSP"))
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    let html = h
        .get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"));
    assert!(
        csp.starts_with(if html {
            "default-src 'self'"
        } else {
            "default-src 'none'"
        }),
        "{what}: {csp}"
    );
    assert!(h.contains_key("referrer-policy"), "{what}");
    assert!(h.contains_key("cache-control"), "{what}");
    assert!(
        !h.contains_key("strict-transport-security"),
        "{what}: plain HTTP"
    );
}

#[test]
fn wrong_methods_and_unknown_paths_answer_browsers_with_a_page_and_clients_with_json() {
    let s = TestServer::start();
    let c = client();

    // GET /logout: 405 with Allow, a page saying how to log out.
    let r = browser(c.get(s.url("/logout")));
    assert_eq!(r.headers()["allow"], "POST");
    let html = error_page(r, 405, "Method not allowed", "GET /logout");
    assert!(
        html.contains("/logout does not answer GET requests; it takes POST."),
        "{html}"
    );
    assert!(html.contains("Log out button"), "{html}");
    // The same for an API client (no Accept, or */*, or JSON first).
    for accept in [None, Some("*/*"), Some("application/json, text/html;q=0.5")] {
        let mut rb = s.http.get(s.url("/logout"));
        if let Some(a) = accept {
            rb = rb.header("accept", a);
        }
        let r = rb.send().unwrap();
        assert_eq!(r.headers()["allow"], "POST", "{accept:?}");
        json_error(r, 405, "GET /logout from a client");
    }

    // Other wrong methods on panel paths: pages, with Allow.
    for (rb, path) in [
        (c.put(s.url("/login")), "/login"),
        (
            c.delete(s.url("/management/imports")),
            "/management/imports",
        ),
        (
            c.post(s.url("/management/software")),
            "/management/software",
        ),
        (c.post(s.url("/panel/panel.css")), "/panel/panel.css"),
    ] {
        let r = browser(rb);
        let allow = r.headers()["allow"].to_str().unwrap().to_string();
        assert!(allow.contains("GET"), "{path}: {allow}");
        let html = error_page(r, 405, "Method not allowed", path);
        assert!(html.contains(&format!("{path} does not answer")), "{html}");
    }

    // Unknown paths: a page for a browser, JSON for a client.
    for path in ["/nope", "/management/nope", "/panel/nope.js", "/login/x"] {
        let html = error_page(browser(c.get(s.url(path))), 404, "Page not found", path);
        assert!(
            html.contains(&format!("There is no page at {path}.")),
            "{html}"
        );
        json_error(s.http.get(s.url(path)).send().unwrap(), 404, path);
    }
    // A path is escaped, never markup.
    let html = error_page(
        browser(c.get(s.url("/%3Cscript%3Ealert(1)%3C/script%3E"))),
        404,
        "Page not found",
        "markup in the path",
    );
    assert!(!html.contains("<script>"), "{html}");

    // Under /api/ and on the API's own routes, always JSON, even for a
    // browser.
    for (r, status, what) in [
        (browser(c.get(s.url("/api/nope"))), 404, "/api/nope"),
        (
            browser(c.get(s.url("/api/get_token"))),
            405,
            "GET /api/get_token",
        ),
        (
            browser(c.get(s.url("/api/imports"))),
            401,
            "/api/imports without a token",
        ),
        (browser(c.post(s.url("/healthz"))), 405, "POST /healthz"),
    ] {
        json_error(r, status, what);
    }
}

#[test]
fn refused_panel_posts_are_pages_for_a_browser() {
    let s = TestServer::start();
    let c = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    // Log out without the CSRF token: 403, as a page for the browser ...
    let post = || {
        c.post(s.url("/logout"))
            .header("cookie", format!("openlmt_session={sid}"))
            .form(&[("csrf", "wrong")])
    };
    let html = error_page(browser(post()), 403, "Not allowed", "logout without CSRF");
    assert!(html.contains("CSRF token"), "{html}");
    // ... and JSON for a script.
    let e = json_error(post().send().unwrap(), 403, "logout without CSRF");
    assert!(e.contains("CSRF token"), "{e}");
    // The session still works: nothing was ended.
    let r = c
        .get(s.url("/api/import_status.json"))
        .header("cookie", format!("openlmt_session={sid}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[cfg(feature = "test-hooks")]
#[test]
fn a_panic_on_a_panel_path_is_a_generic_page_for_a_browser() {
    let s = TestServer::start();
    let html = error_page(
        browser(client().get(s.url("/test/panic"))),
        500,
        "Server error",
        "panic",
    );
    assert!(html.contains("the server log has the details"), "{html}");
    assert!(!html.contains("deadbeef"), "{html}");
    // An API path's panic stays JSON for a browser.
    json_error(
        browser(client().get(s.url("/api/test/panic"))),
        500,
        "API panic",
    );
}

/// One raw request whose head is malformed: the refusal, as bytes.
fn raw(s: &TestServer, bytes: &[u8]) -> String {
    let mut conn = std::net::TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    conn.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_lowercase()
}

#[test]
fn security_headers_are_on_every_kind_of_answer() {
    let s = TestServer::builder()
        .config("login_max_failures = 1\nlogin_failure_window_secs = 3600\n")
        .start();
    let stamp = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y%m%d%H%M")
        .to_string();
    write_scan_package(&s.datasource(), &stamp, "headers-a");
    assert_eq!(s.import_and_wait()["status"], "successful");
    s.add_user("nobody", "nobody-password", &[]);
    let nobody = s.token("nobody", "nobody-password");
    let c = client();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    let snapshot = format!("/api/sam/audit_snapshot?startdate={today}&enddate={today}");

    let mut seen = Vec::new();
    let mut check = |r: Response, status: u16, what: &str| {
        assert_eq!(r.status(), status, "{what}");
        assert_security_headers(&r, what);
        seen.push(ctype_or_none(&r));
    };
    // JSON answers, a streamed list, a download, text, a HEAD.
    check(s.get("/api/import_status.json"), 200, "status");
    check(s.get("/api/sam/v2/computers?limit=5"), 200, "streamed list");
    check(s.get("/api/sam/about"), 200, "about");
    check(s.get("/api/catalog/export"), 200, "catalog export");
    check(s.get(&snapshot), 200, "audit snapshot zip");
    check(s.get("/metrics"), 200, "metrics");
    check(s.get("/healthz"), 200, "healthz");
    check(
        s.http
            .head(s.url("/api/import_status.json"))
            .header("token", &s.admin_token)
            .send()
            .unwrap(),
        200,
        "HEAD",
    );
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .json(&serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["cache-control"],
        "no-store",
        "a token is never cached"
    );
    check(r, 200, "get_token");
    // Errors of every status.
    check(s.get("/api/imports?limit=abc"), 400, "bad parameter");
    check(
        s.http.get(s.url("/api/imports")).send().unwrap(),
        401,
        "no token",
    );
    check(
        s.get_as(&nobody, "/api/sam/v2/computers"),
        403,
        "no permission",
    );
    check(s.get("/api/imports/999"), 404, "no such import");
    check(s.get("/api/nope"), 404, "unknown API path");
    check(
        s.http.get(s.url("/api/get_token")).send().unwrap(),
        405,
        "API 405",
    );
    check(
        s.http
            .post(s.url("/api/get_token"))
            .json(&serde_json::json!({"user": "admin", "password": "wrong"}))
            .send()
            .unwrap(),
        401,
        "wrong password",
    );
    check(
        s.http
            .post(s.url("/api/get_token"))
            .json(&serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .unwrap(),
        429,
        "login limit",
    );
    // The panel: pages, redirects, its errors, assets.
    check(c.get(s.url("/login")).send().unwrap(), 200, "login page");
    check(c.get(s.url("/")).send().unwrap(), 303, "root redirect");
    check(
        c.get(s.url("/management/imports")).send().unwrap(),
        303,
        "page without session",
    );
    check(browser(c.get(s.url("/logout"))), 405, "panel 405 page");
    check(browser(c.get(s.url("/nope"))), 404, "404 page");
    for asset in ["/panel/panel.css", "/panel/panel.js", "/panel/icon.svg"] {
        check(c.get(s.url(asset)).send().unwrap(), 200, asset);
    }
    let kinds: std::collections::BTreeSet<_> = seen.iter().map(String::as_str).collect();
    for kind in [
        "application/json",
        "application/zip",
        "text/plain",
        "text/html",
        "text/css",
        "text/javascript",
        "image/svg+xml",
        "none",
    ] {
        assert!(kinds.contains(kind), "{kind} not sampled: {kinds:?}");
    }

    // A request head refused before routing (head.rs) too.
    let answer = raw(&s, b"GARBAGE\r\n\r\n");
    assert!(answer.starts_with("http/1.1 400"), "{answer}");
    for h in [
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "content-security-policy: default-src 'none'; frame-ancestors 'none'",
    ] {
        assert!(answer.contains(h), "{h} in {answer}");
    }
}

/// The media type of an answer, without parameters; `none` for none.
fn ctype_or_none(r: &Response) -> String {
    r.headers().get("content-type").map_or("none".into(), |v| {
        v.to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_string()
    })
}
