//! Black-box tests of the web panel's login, session cookie, CSRF checks
//! and redirects, against the real binary.

mod common;

use common::panel::{
    client, cookie_value, form_urlencoded_pairs, html_value, login, login_form, post_login,
    set_cookies,
};
use common::{TestServer, ADMIN_PASSWORD};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};

fn location(r: &Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn session_header(id: &str) -> String {
    format!("openlmt_session={id}")
}

fn csrf_of_page(s: &TestServer, c: &Client, sid: &str) -> (String, String) {
    let r = c
        .get(s.url("/management/imports"))
        .header("cookie", session_header(sid))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = r.text().unwrap();
    let csrf = html_value(&html, r#"name="csrf-token" content=""#);
    assert_eq!(csrf.len(), 64);
    (csrf, html)
}

#[test]
fn unauthenticated_panel_redirects_to_login() {
    let s = TestServer::start();
    let c = client();
    let r = c.get(s.url("/management/imports")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=%2Fmanagement%2Fimports");
    // A bogus cookie is no session.
    let r = c
        .get(s.url("/management/imports"))
        .header("cookie", session_header(&"ab".repeat(32)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    // The API without token or cookie stays 401 JSON.
    let r = c.get(s.url("/api/import_status.json")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    // The embedded assets are served.
    for (path, ctype) in [
        ("/panel/panel.js", "text/javascript"),
        ("/panel/panel.css", "text/css"),
        ("/panel/icon.svg", "image/svg+xml"),
    ] {
        let r = c.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ctype));
    }
}

#[test]
fn login_wrong_password_and_login_csrf() {
    let s = TestServer::start();
    let c = client();
    let page = c.get(s.url("/login")).send().unwrap();
    let cookies = set_cookies(&page);
    let login_cookie = cookies
        .iter()
        .find(|c| c.starts_with("openlmt_login="))
        .unwrap();
    assert!(login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Strict"));
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));

    // Wrong password and unknown user: the same message, no session.
    for (user, pw) in [("admin", "wrong-password"), ("nobody", ADMIN_PASSWORD)] {
        let r = post_login(&s, &c, user, pw, "/management/imports", None);
        assert_eq!(r.status(), 401);
        assert!(cookie_value(&set_cookies(&r), "openlmt_session").is_none());
        let html = r.text().unwrap();
        assert!(html.contains("Wrong user name or password."), "{html}");
    }

    // The login form's token must match its cookie.
    let (token, _) = login_form(&s, &c);
    let body = form_urlencoded_pairs(&[
        ("user", "admin"),
        ("password", ADMIN_PASSWORD),
        ("login_token", &token),
    ]);
    let r = c
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "openlmt_login=0000")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(cookie_value(&set_cookies(&r), "openlmt_session").is_none());

    // A login posted from another site is refused.
    let r = post_login(
        &s,
        &c,
        "admin",
        ADMIN_PASSWORD,
        "/",
        Some("http://evil.example"),
    );
    assert_eq!(r.status(), 403);
    assert!(cookie_value(&set_cookies(&r), "openlmt_session").is_none());

    // From this site (Origin matches Host) it works; `next` to another
    // site is replaced by the panel.
    let origin = s.base.clone();
    let r = post_login(
        &s,
        &c,
        "admin",
        ADMIN_PASSWORD,
        "//evil.example/x",
        Some(&origin),
    );
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/management/imports");
    let set = set_cookies(&r);
    let session = set
        .iter()
        .find(|c| c.starts_with("openlmt_session="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain HTTP: no Secure: {session}"
    );
    let sid = cookie_value(&set, "openlmt_session").unwrap();
    assert_eq!(sid.len(), 64);

    // A same-site `next` is kept.
    let r = post_login(
        &s,
        &c,
        "admin",
        ADMIN_PASSWORD,
        "/management/imports?x=1",
        None,
    );
    assert_eq!(location(&r), "/management/imports?x=1");

    // Only the session id's hash is stored.
    for entry in std::fs::read_dir(&s.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(sid.len()).any(|w| w == sid.as_bytes()),
                "session id in {}",
                path.display()
            );
        }
    }
}

#[test]
fn cookie_authenticates_the_api_with_csrf_for_changes() {
    let s = TestServer::builder().pause_before_publish().start();
    let c = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    let (csrf, html) = csrf_of_page(&s, &c, &sid);
    assert!(html.contains("Run complete import") && html.contains("Run raw data import"));
    let cookie = session_header(&sid);

    // Reads need no CSRF token.
    let r = c
        .get(s.url("/api/import_status.json"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["can_run_imports"], true);

    // Changes need it.
    let change = json!({"cron": "15 3 * * *"});
    for token in [None, Some("0".repeat(64)), Some(String::new())] {
        let mut req = c
            .put(s.url("/api/import_schedule"))
            .header("cookie", &cookie)
            .json(&change);
        if let Some(t) = &token {
            req = req.header("x-csrf-token", t);
        }
        let r = req.send().unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.json::<Value>().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("CSRF"));
    }
    let r = c
        .put(s.url("/api/import_schedule"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["cron"], "15 3 * * *");

    // A bad cron expression: the server's message.
    let r = c
        .put(s.url("/api/import_schedule"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .json(&json!({"cron": "61 * * *"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);

    // Starting an import with a GET is a change too.
    let r = c
        .get(s.url("/api/import_status.json?run=true"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(s.json("/api/imports")["total"], 0);
    let r = c
        .get(s.url("/api/import_status.json?run=true"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("x-openlmt-trigger", "panel")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let rows = s.json("/api/imports")["rows"].clone();
    assert_eq!(rows[0]["trigger"], "panel");
    assert_eq!(rows[0]["requested_by"], "admin");

    // Cancel by cookie: CSRF needed.
    let id = rows[0]["id"].as_i64().unwrap();
    let r = c
        .post(s.url(&format!("/api/imports/{id}/cancel")))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = c
        .post(s.url(&format!("/api/imports/{id}/cancel")))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text());

    // Token-header calls are unaffected (no CSRF token needed).
    let r = s.put_json_as(
        &s.admin_token,
        "/api/import_schedule",
        &json!({"enabled": false}),
    );
    assert_eq!(r.status(), 200);

    // Another session's CSRF token does not fit this session.
    let sid2 = login(&s, &c, "admin", ADMIN_PASSWORD);
    let (csrf2, _) = csrf_of_page(&s, &c, &sid2);
    assert_ne!(csrf, csrf2);
    let r = c
        .put(s.url("/api/import_schedule"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf2)
        .json(&json!({"enabled": true}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[test]
fn logout_ends_the_session() {
    let s = TestServer::start();
    let c = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    let (csrf, _) = csrf_of_page(&s, &c, &sid);
    let cookie = session_header(&sid);

    // Logout needs the CSRF token.
    let r = c
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=nope")
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    csrf_of_page(&s, &c, &sid);

    let r = c
        .post(s.url("/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?logged_out=1");
    let cleared = set_cookies(&r)
        .into_iter()
        .find(|c| c.starts_with("openlmt_session="))
        .unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The old cookie no longer works anywhere.
    let r = c
        .get(s.url("/management/imports"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    let r = c
        .get(s.url("/api/import_status.json"))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c.get(s.url("/login?logged_out=1")).send().unwrap();
    assert!(r.text().unwrap().contains("You are logged out."));
}

#[test]
fn read_only_user_sees_no_run_buttons() {
    let s = TestServer::start();
    s.add_user("viewer", "viewer-password", &[]);
    let c = client();
    let sid = login(&s, &c, "viewer", "viewer-password");
    let (csrf, html) = csrf_of_page(&s, &c, &sid);
    for id in ["run-complete", "run-raw", "id=\"cancel\"", "sched-save"] {
        assert!(!html.contains(id), "{id} shown to a read-only user");
    }
    assert!(html.contains(r#"name="can-manage" content="false""#));
    // The API refuses anyway, even with a valid CSRF token.
    let r = c
        .get(s.url("/api/import_status.json?run=true"))
        .header("cookie", session_header(&sid))
        .header("x-csrf-token", &csrf)
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(s.json("/api/imports")["total"], 0);
    // A logged-in user visiting /login goes to the panel.
    let r = c
        .get(s.url("/login"))
        .header("cookie", session_header(&sid))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/management/imports");
}

#[test]
fn computers_page_needs_a_session_and_says_when_view_endpoints_is_missing() {
    let s = TestServer::start();
    let c = client();
    let r = c.get(s.url("/management/computers?q=web")).send().unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        location(&r),
        "/login?next=%2Fmanagement%2Fcomputers%3Fq%3Dweb"
    );
    for (path, ctype) in [
        ("/panel/computers.js", "text/javascript"),
        ("/panel/imports.js", "text/javascript"),
    ] {
        let r = c.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(ctype));
    }

    // A user with view_endpoints gets the table, the search box and the
    // navigation with this page marked.
    s.add_user("auditor", "auditor-password", &["view_endpoints"]);
    let sid = login(&s, &c, "auditor", "auditor-password");
    let r = c
        .get(s.url("/management/computers"))
        .header("cookie", session_header(&sid))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("unsafe-inline"));
    let html = r.text().unwrap();
    assert!(html.contains(r#"<table id="computers""#), "{html}");
    assert!(html.contains(r#"id="computers-q""#));
    assert!(html.contains(r#"<a href="/management/computers" aria-current="page">Computers</a>"#));
    assert!(html.contains(r#"<a href="/management/imports">Data Imports</a>"#));
    assert!(!html.contains("{{"), "a placeholder left unfilled");
    assert!(!html.contains(r#"id="denied""#));

    // A user without it: the message naming the permission, no table; the
    // API refuses the list anyway.
    s.add_user("viewer", "viewer-password", &[]);
    let sid = login(&s, &c, "viewer", "viewer-password");
    let html = c
        .get(s.url("/management/computers"))
        .header("cookie", session_header(&sid))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(html.contains(r#"id="denied""#), "{html}");
    assert!(html.contains("does not have the <code>view_endpoints</code> permission"));
    assert!(!html.contains(r#"<table id="computers""#));
    assert!(!html.contains("{{"));
    let r = c
        .get(s.url("/api/sam/v2/computers"))
        .header("cookie", session_header(&sid))
        .send()
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.json::<Value>().unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("view_endpoints"));
}
