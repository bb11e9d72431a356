//! Black-box tests of the server's authentication cache: tokens and panel
//! sessions are answered from memory, refused tokens too, and every change
//! made by another process (the CLI) still takes effect within a second.

mod common;

use common::panel::{client, login};
use common::{sql_exec, wait_for_status, Bind, TestServer, ADMIN_PASSWORD};
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::time::Duration;

/// How long a change made by another process may take to show. The server
/// polls `auth_epoch` every 0.5 s; the rest is slack for a loaded machine.
const PROPAGATION: Duration = Duration::from_secs(2);

fn assert_401_json(r: Response, what: &str) {
    assert_eq!(r.status(), 401, "{what}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let v: Value = r.json().unwrap();
    assert!(
        v["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{what}: {v}"
    );
}

#[test]
fn a_token_issued_while_unknown_ones_are_refused_works_at_once() {
    let s = TestServer::start();
    // Well-formed tokens nobody issued (16 hex id + 64 hex secret): refused,
    // and remembered as refused.
    for i in 0..3 {
        let unknown = format!("00112233445566a{i}{}", "5e".repeat(32));
        for _ in 0..2 {
            assert_401_json(s.get_as(&unknown, "/api/import_status.json"), "unknown");
        }
    }
    // A new token is random: no server can hold it as refused, so its
    // first request succeeds without waiting for any cache change.
    let token = s.token("admin", ADMIN_PASSWORD);
    let r = s.get_as(&token, "/api/import_status.json");
    assert_eq!(r.status(), 200, "the new token's first request");
}

#[test]
fn unknown_tokens_are_refused_with_json_and_do_not_disturb_valid_ones() {
    let s = TestServer::start();
    for i in 0..200 {
        let token = format!("{:016x}{}", i, hex::encode([i as u8; 32]));
        assert_401_json(s.get_as(&token, "/api/import_status.json"), "random");
    }
    assert_401_json(s.get_as("short", "/api/import_status.json"), "malformed");
    assert_eq!(s.get("/api/import_status.json").status(), 200);
    // A token from get_token works at once (this server issued it).
    let fresh = s.token("admin", ADMIN_PASSWORD);
    assert_eq!(s.get_as(&fresh, "/api/import_status.json").status(), 200);
}

#[test]
fn a_token_revoked_on_the_cli_stops_within_a_second() {
    let s = TestServer::start();
    let token = s.token("admin", ADMIN_PASSWORD);
    // Cached by a few uses.
    for _ in 0..3 {
        assert_eq!(s.get_as(&token, "/api/import_status.json").status(), 200);
    }
    assert!(s.cli_with_password(&["token", "revoke", &token[..16]], ""));
    let (_, took) = wait_for_status(
        || s.get_as(&token, "/api/import_status.json"),
        401,
        "revoked token",
        PROPAGATION,
    );
    eprintln!("the revoked token stopped after {took:?}");
    assert_401_json(s.get_as(&token, "/api/import_status.json"), "revoked");
    // The admin's other token still works.
    assert_eq!(s.get("/api/import_status.json").status(), 200);
}

// --- panel sessions ------------------------------------------------------

fn with_session(s: &TestServer, c: &Client, sid: &str) -> Response {
    c.get(s.url("/api/import_status.json"))
        .header("cookie", format!("openlmt_session={sid}"))
        .send()
        .unwrap()
}

#[test]
fn a_password_change_on_the_cli_ends_cached_sessions_within_a_second() {
    let s = TestServer::start();
    let c = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    for _ in 0..3 {
        assert_eq!(with_session(&s, &c, &sid).status(), 200);
    }
    assert!(s.cli_with_password(
        &["user", "password", "admin", "--password-stdin"],
        "a-new-admin-password"
    ));
    let (_, took) = wait_for_status(
        || with_session(&s, &c, &sid),
        401,
        "old session",
        PROPAGATION,
    );
    eprintln!("the session ended after {took:?}");
    assert_401_json(with_session(&s, &c, &sid), "old session");
    // The API token stays valid (documented: revoke tokens apart).
    assert_eq!(s.get("/api/import_status.json").status(), 200);
    let sid = login(&s, &c, "admin", "a-new-admin-password");
    assert_eq!(with_session(&s, &c, &sid).status(), 200);
}

#[test]
fn a_cached_session_is_refused_once_past_its_max_age() {
    let s = TestServer::start();
    let c = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    assert_eq!(with_session(&s, &c, &sid).status(), 200);
    // Make the session 3 s short of its maximum age (7 days), and have the
    // server reload it (auth_epoch bump): it works, then, from the cache
    // alone (nothing changes in the database any more), it stops.
    let max_age_ms = openlmt_storage::SESSION_MAX_AGE.as_millis() as i64;
    let now = chrono::Utc::now().timestamp_millis();
    sql_exec(
        &s,
        &[
            (
                "UPDATE sessions SET created_at = ?",
                vec![Bind::Int(now - max_age_ms + 3_000)],
            ),
            (
                "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'auth_epoch'",
                vec![],
            ),
        ],
    );
    std::thread::sleep(Duration::from_millis(700)); // the watcher drops the cache
    assert_eq!(with_session(&s, &c, &sid).status(), 200);
    std::thread::sleep(Duration::from_millis(3_000));
    assert_401_json(with_session(&s, &c, &sid), "session past its max age");
    // The panel sends it to the login page.
    let r = c
        .get(s.url("/management/imports"))
        .header("cookie", format!("openlmt_session={sid}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 303);
}
