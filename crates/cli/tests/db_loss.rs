//! A server that loses its PostgreSQL database keeps answering and recovers
//! by itself (issue 10, item 3): the API answers 503 with a JSON error,
//! `/healthz` says what is wrong, the import status stays 200; an import
//! running when the database goes away fails cleanly and its end is
//! recorded once the database is back; no restart is needed.
//!
//! The database's loss is a [`DbProxy`] between the server and the
//! PostgreSQL server of `OPENLMT_TEST_DATABASE_URL`, cut (connections
//! dropped, the port closed) and restored; the real server is never
//! touched. PostgreSQL only: on SQLite these tests say SKIPPED.

mod common;

use common::proxy::DbProxy;
use common::{
    json_error, postgres_only, wait_for_status, write_scan_package, TestServer, ADMIN_PASSWORD,
};
use serde_json::Value;
use std::time::{Duration, Instant};

const WHY: &str = "it cuts the server's connection to PostgreSQL through a proxy";

/// The API's 503 for a lost database: JSON, the fixed message, `Retry-After`.
fn assert_unavailable(r: reqwest::blocking::Response, what: &str) {
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        json_error(r, 503, what),
        "the database is not available",
        "{what}"
    );
    let retry: u64 = retry
        .unwrap_or_else(|| panic!("{what}: no Retry-After"))
        .parse()
        .unwrap();
    assert!(retry > 0, "{what}");
}

/// Sends `send` and checks it answered within `limit`.
fn timed<T>(limit: Duration, what: &str, send: impl FnOnce() -> T) -> T {
    let t = Instant::now();
    let out = send();
    assert!(
        t.elapsed() < limit,
        "{what} took {:?} (limit {limit:?})",
        t.elapsed()
    );
    out
}

#[test]
fn the_api_answers_503_while_the_database_is_cut_and_recovers_by_itself() {
    if postgres_only(WHY) {
        return;
    }
    let proxy = DbProxy::to_test_database();
    let s = TestServer::builder().database_port(proxy.port()).start();
    assert_eq!(s.get("/api/imports").status(), 200);
    assert_eq!(s.get("/api/sam/v2/computers").status(), 200);
    assert_eq!(s.json("/healthz"), serde_json::json!({ "status": "ok" }));

    proxy.cut();
    // Requests that need the database: 503 within seconds, never 500.
    let limit = Duration::from_secs(10);
    for path in [
        "/api/imports",
        "/api/sam/v2/computers",
        "/api/sam/raw_package_facts",
    ] {
        let r = timed(limit, path, || s.get(path));
        assert_unavailable(r, path);
    }
    let r = timed(limit, "get_token", || {
        s.http
            .post(s.url("/api/get_token"))
            .json(&serde_json::json!({ "user": "admin", "password": ADMIN_PASSWORD }))
            .send()
            .unwrap()
    });
    assert_unavailable(r, "get_token");
    // /healthz says what is wrong, quickly.
    let r = timed(Duration::from_secs(6), "/healthz", || {
        s.http.get(s.url("/healthz")).send().unwrap()
    });
    assert_eq!(r.status(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    let error = body["error"].as_str().unwrap();
    let detail = error
        .strip_prefix("the database is not available: ")
        .unwrap_or_else(|| panic!("{body}"));
    assert!(
        detail.contains("cannot connect to the PostgreSQL server") && !detail.is_empty(),
        "{body}"
    );
    // What the server holds in memory still answers: the import status,
    // the schedule.
    let st = s.status();
    assert_eq!(st["mode"], "none", "{st}");
    assert_eq!(s.get("/api/import_schedule").status(), 200);
    // ... and says, once its next read of the shared status has failed,
    // that it shows its last snapshot.
    let st = s.wait_status(15, "the status marked stale", |st| st["stale"] == true);
    assert_eq!(st["mode"], "none", "{st}");

    proxy.restore();
    // Back without a restart, within seconds.
    let (_, took) = wait_for_status(
        || s.get("/api/imports"),
        200,
        "the import history once the database is back",
        Duration::from_secs(15),
    );
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(s.json("/healthz"), serde_json::json!({ "status": "ok" }));
    assert_eq!(s.get("/api/sam/v2/computers").status(), 200);
    assert_eq!(s.get("/api/import_schedule").status(), 200);
    let st = s.wait_status(5, "the status fresh again", |st| st.get("stale").is_none());
    assert_eq!(
        st.as_object().unwrap().len(),
        12,
        "ILMT's twelve keys: {st}"
    );
    // A new login works too (it needs the database).
    let token = s.token("admin", ADMIN_PASSWORD);
    assert_eq!(s.get_as(&token, "/api/imports").status(), 200);
}

#[test]
fn an_import_that_loses_its_database_fails_cleanly_and_the_next_one_succeeds() {
    if postgres_only(WHY) {
        return;
    }
    let proxy = DbProxy::to_test_database();
    let s = TestServer::builder()
        .database_port(proxy.port())
        .pause_before_publish()
        .start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    assert_eq!(s.get("/api/import_status.json?run=true").status(), 200);
    s.wait_paused("before_publish", 60);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"]
        .as_i64()
        .unwrap();

    // The database goes away just before the publish.
    proxy.cut();
    s.release("before_publish");
    // Without its database the import ends (the publish cannot reach it):
    // the status stops saying it runs, though its end cannot be recorded.
    s.wait_status(120, "the import to end without its database", |st| {
        st["mode"] == "idle" && st["last_status"] == "failed"
    });
    assert_unavailable(s.get(&format!("/api/imports/{id}")), "the import's row");

    proxy.restore();
    // Its end is recorded once the database is back: failed, saying why.
    let deadline = Instant::now() + Duration::from_secs(60);
    let row = loop {
        let r = s.get(&format!("/api/imports/{id}"));
        if r.status() == 200 {
            let row: Value = r.json().unwrap();
            if row["status"] != "running" && row["status"] != "pending" {
                break row;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the end of import {id} was not recorded"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(row["status"], "failed", "{row}");
    let error = row["error"].as_str().unwrap();
    assert!(
        error.contains("the database is not available"),
        "the error names the database: {error}"
    );
    assert!(!row["finished_at"].is_null(), "{row}");
    // Nothing of it is visible, and what it wrote is deleted.
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 0);
    assert_eq!(s.json("/api/sam/raw_package_facts")["total"], 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.leftovers() != openlmt_storage::LeftoverCounts::default() {
        assert!(
            Instant::now() < deadline,
            "the failed import's facts stay: {:?}",
            s.leftovers()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The log lines written while the database was away are stored by the
    // log writer's next try once it is back (it backs off while it fails,
    // and an attempt begun during the outage may still be waiting for a
    // connection): the database's copy of the log catches up, not at once.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let log = s.get(&format!("/api/imports/{id}/log")).text().unwrap();
        if log.contains("retrying until it is") && log.contains("Recorded the end of import") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the log lines written during the outage were not stored after it: {log}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The next import runs and publishes.
    assert_eq!(s.get("/api/import_status.json?run=true").status(), 200);
    s.wait_paused("before_publish", 60);
    s.release("before_publish");
    let st = s.wait_idle();
    assert_eq!(st["last_status"], "successful", "{st}");
    let next = s.json("/api/imports?limit=1")["rows"][0].clone();
    assert!(next["id"].as_i64().unwrap() > id, "{next}");
    assert_eq!(next["status"], "successful", "{next}");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 1);
}
