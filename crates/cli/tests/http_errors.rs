//! Black-box tests: every HTTP error is JSON, a handler's panic included
//! (its detail goes to the log, never to the client).

mod common;

use common::{json_error, TestServer};

#[cfg(feature = "test-hooks")]
#[test]
fn a_panicking_handler_answers_a_generic_json_500_and_the_server_lives_on() {
    let s = TestServer::start();
    for path in ["/api/test/panic", "/test/panic"] {
        let e = json_error(s.get(path), 500, path);
        assert_eq!(
            e, "internal server error; the server log has the details",
            "{path}"
        );
        assert!(
            !e.contains("deadbeef") && !e.contains("panic"),
            "{path}: {e}"
        );
    }
    // Counted like any other answer, and the server still serves.
    let metrics = s.get("/metrics").text().unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.contains("route=\"/api/test/panic\"") && l.contains("code=\"500\"")),
        "{metrics}"
    );
    assert_eq!(s.get("/api/import_status.json").status(), 200);
}

/// Without the `test-hooks` feature (a release build) the hook is absent.
#[cfg(not(feature = "test-hooks"))]
#[test]
fn the_panic_hook_does_not_exist_without_the_test_hooks_feature() {
    let s = TestServer::start();
    json_error(s.get("/api/test/panic"), 404, "/api/test/panic");
}

#[test]
fn the_panel_answers_its_own_errors_in_json_and_keeps_its_html_pages() {
    let s = TestServer::start();
    let r = s.http.get(s.url("/logout")).send().unwrap();
    json_error(r, 405, "GET /logout");
    let r = s.http.put(s.url("/login")).send().unwrap();
    json_error(r, 405, "PUT /login");
    // A wrong login is still the HTML form (with its 401).
    let r = s
        .http
        .post(s.url("/login"))
        .form(&[
            ("user", "admin"),
            ("password", "wrong"),
            ("login_token", "x"),
        ])
        .header("cookie", "openlmt_login=x")
        .send()
        .unwrap();
    assert!(r.status().is_client_error());
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}
