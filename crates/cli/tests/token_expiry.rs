//! Optional token expiry (`token_max_age`): a token older than the limit,
//! counted from its issue time, is refused with 401 and a JSON error saying
//! it expired; panel sessions end at the same age when it is shorter than
//! their own 7 days; without the option tokens never expire (as ILMT's).
//! Ages are made by moving the issue time back in the database (as another
//! process could), so nothing here waits for a clock.

mod common;

use common::panel::{client, login};
use common::{bin, json_error, sql_exec, wait_for_status, Bind, TestServer, ADMIN_PASSWORD};
use reqwest::blocking::Client;
use std::process::Command;
use std::time::Duration;

const HOUR_MS: i64 = 3_600_000;
/// The server polls `auth_epoch` every 0.5 s; the rest is slack.
const PROPAGATION: Duration = Duration::from_secs(5);

/// Sets the issue time of one token (by its id) or of every session to
/// `age_ms` ago, and bumps `auth_epoch` so the server reloads them.
fn age(s: &TestServer, table: &str, token: Option<&str>, age_ms: i64) {
    let now = chrono::Utc::now().timestamp_millis();
    let sql = match table {
        "tokens" => "UPDATE tokens SET created_at = ?1 WHERE id = ?2",
        _ => "UPDATE sessions SET created_at = ?1 WHERE CAST(?2 AS TEXT) IS NULL",
    };
    let changed = sql_exec(
        s,
        &[
            (
                sql,
                vec![
                    Bind::Int(now - age_ms),
                    Bind::Text(token.map(|t| t[..16].to_string())),
                ],
            ),
            (
                "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'auth_epoch'",
                vec![],
            ),
        ],
    );
    assert!(changed[0] >= 1, "nothing aged in {table}");
}

const STATUS: &str = "/api/import_status.json";

#[test]
fn a_token_past_token_max_age_is_refused_as_expired() {
    let s = TestServer::builder()
        .config("token_max_age = \"1h\"\n")
        .start();
    let old = s.token("admin", ADMIN_PASSWORD);
    let young = s.token("admin", ADMIN_PASSWORD);
    // Both work and are cached, so the next answers come from memory.
    for t in [&old, &young] {
        assert_eq!(s.get_as(t, STATUS).status(), 200);
    }
    // Issued 61 minutes ago (and used a moment ago: the age counts from the
    // issue, not the last use): expired.
    age(&s, "tokens", Some(&old), HOUR_MS + 60_000);
    age(&s, "tokens", Some(&young), HOUR_MS - 60_000);
    let r = wait_for_status(|| s.get_as(&old, STATUS), 401, "the old token", PROPAGATION).0;
    let msg = json_error(r, 401, "expired");
    assert!(msg.contains("expired"), "{msg}");
    assert!(msg.contains("token_max_age") && msg.contains("1h"), "{msg}");
    assert!(msg.contains("POST /api/get_token"), "{msg}");
    // Repeated (now from the cache), in the query or a JSON body: the same.
    for r in [
        s.get_as(&old, STATUS),
        s.http
            .get(s.url(&format!("{STATUS}?token={old}")))
            .send()
            .unwrap(),
        s.http
            .get(s.url("/api/sam/v2/computers"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"token": "{old}"}}"#))
            .send()
            .unwrap(),
    ] {
        assert!(json_error(r, 401, "repeat").contains("expired"));
    }
    // 59 minutes old: still valid; an unknown token is not told "expired".
    assert_eq!(s.get_as(&young, STATUS).status(), 200);
    let unknown = format!("{}{}", "0".repeat(16), "ab".repeat(32));
    let msg = json_error(s.get_as(&unknown, STATUS), 401, "unknown");
    assert!(!msg.contains("expired"), "{msg}");
    // A new token from get_token works at once.
    let fresh = s.token("admin", ADMIN_PASSWORD);
    assert_eq!(s.get_as(&fresh, STATUS).status(), 200);
}

#[test]
fn without_token_max_age_tokens_never_expire() {
    let s = TestServer::start();
    let t = s.token("admin", ADMIN_PASSWORD);
    let witness = s.token("admin", ADMIN_PASSWORD);
    assert_eq!(s.get_as(&t, STATUS).status(), 200);
    age(&s, "tokens", Some(&t), 10 * 365 * 24 * HOUR_MS);
    // Once the server has seen a later change (the witness revoked), it has
    // reloaded the aged token too: still valid.
    assert!(s.cli_with_password(&["token", "revoke", &witness[..16]], ""));
    wait_for_status(
        || s.get_as(&witness, STATUS),
        401,
        "the witness",
        PROPAGATION,
    );
    assert_eq!(s.get_as(&t, STATUS).status(), 200);
    assert_eq!(s.get_as(&t, "/api/imports").status(), 200);
}

#[test]
fn the_flag_and_environment_win_over_the_file() {
    // The file says no expiry; the environment (as the --token-max-age flag
    // would) says 2h.
    let s = TestServer::builder()
        .config("token_max_age = \"none\"\n")
        .env("OPENLMT_TOKEN_MAX_AGE", "2h")
        .start();
    let t = s.token("admin", ADMIN_PASSWORD);
    age(&s, "tokens", Some(&t), 2 * HOUR_MS + 60_000);
    let r = wait_for_status(|| s.get_as(&t, STATUS), 401, "env limit", PROPAGATION).0;
    assert!(json_error(r, 401, "env").contains("2h"));
}

#[test]
fn a_panel_session_ends_at_a_shorter_token_max_age() {
    let s = TestServer::builder()
        .config("token_max_age = \"1h\"\n")
        .start();
    let c: Client = client();
    let sid = login(&s, &c, "admin", ADMIN_PASSWORD);
    let with_session = |path: &str| {
        c.get(s.url(path))
            .header("cookie", format!("openlmt_session={sid}"))
            .send()
            .unwrap()
    };
    assert_eq!(with_session(STATUS).status(), 200);
    // 61 minutes old: well within the sessions' own 12 h idle and 7 days,
    // but past token_max_age.
    age(&s, "sessions", None, HOUR_MS + 60_000);
    wait_for_status(|| with_session(STATUS), 401, "the session", PROPAGATION);
    // The panel sends the browser to the login form.
    let r = with_session("/management/imports");
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login"));
}

#[test]
fn a_bad_token_max_age_stops_the_server_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    for (value, says) in [
        ("soon", "is not a duration"),
        ("0s", "would refuse every token"),
    ] {
        let out = Command::new(bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--token-max-age", value])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("OPENLMT_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.contains("token_max_age"),
            "{value}: {err}"
        );
    }
}
