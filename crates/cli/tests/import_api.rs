//! Black-box tests of the import API contract (issue 2): the real server,
//! a fresh data directory, HTTP like any client.

mod common;

use common::{sql_exec, write_scan_package, Bind, TestServer};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const KEYS: [&str; 12] = [
    "mode",
    "can_run_imports",
    "import_status_url",
    "import_create_url",
    "progress",
    "last_success_time",
    "last_import_type",
    "last_status",
    "last_import_time",
    "next_import_time",
    "next_import_time_in",
    "next_import_type",
];

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn is_utc_time(v: &Value) -> bool {
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").unwrap();
    v.as_str().is_some_and(|s| re.is_match(s))
}

fn error_of(r: reqwest::blocking::Response) -> String {
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json",
        "errors are JSON"
    );
    let v: Value = r.json().unwrap();
    v["error"].as_str().expect("an `error` string").to_string()
}

fn import_count(s: &TestServer) -> i64 {
    s.json("/api/imports")["total"].as_i64().unwrap()
}

#[test]
fn status_before_any_import_has_the_exact_contract() {
    let s = TestServer::builder().env("TZ", "UTC").start();
    let r = s.get("/api/import_status.json");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["content-language"], "en-US");
    assert_eq!(h["cache-control"], "no-store");
    let v: Value = r.json().unwrap();
    assert_eq!(keys(&v), KEYS);
    assert_eq!(v["mode"], "none");
    assert_eq!(v["can_run_imports"], true);
    assert_eq!(v["import_status_url"], "/api/import_status.json");
    assert_eq!(v["import_create_url"], "/management/imports");
    assert_eq!(v["progress"], 0);
    for k in [
        "last_success_time",
        "last_import_type",
        "last_status",
        "last_import_time",
    ] {
        assert!(v[k].is_null(), "{k} is null before any import");
    }
    // The default schedule: daily at local midnight, complete.
    assert!(is_utc_time(&v["next_import_time"]));
    assert!(v["next_import_time"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00Z"));
    let t_in = v["next_import_time_in"].as_i64().unwrap();
    assert!((0..=86_400).contains(&t_in));
    assert_eq!(v["next_import_type"], "complete");

    // The alias answers the same.
    let alias: Value = s.json("/api/management/imports.json");
    let mut a = alias.clone();
    let mut b = v.clone();
    a["next_import_time_in"] = json!(0);
    b["next_import_time_in"] = json!(0);
    assert_eq!(a, b);
    assert_eq!(keys(&alias), KEYS);
}

#[test]
fn authentication_errors_and_token_forms() {
    let s = TestServer::start();
    // No token, bad token.
    let r = s.http.get(s.url("/api/import_status.json")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(error_of(r).contains("Token"));
    let r = s.get_as("0123456789abcdef0123", "/api/import_status.json");
    assert_eq!(r.status(), 401);
    error_of(r);
    // get_token: wrong pair, missing field, bad JSON, form fields.
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .json(&json!({"user": "admin", "password": "nope-nope"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r), "wrong user name or password");
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .json(&json!({"user": "nobody", "password": common::ADMIN_PASSWORD}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(error_of(r), "wrong user name or password");
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .json(&json!({"user": "admin"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    error_of(r);
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    error_of(r);
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .form(&[("user", "admin"), ("password", common::ADMIN_PASSWORD)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let form_token = r.json::<Value>().unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(form_token.len() >= 32, "at least 128 random bits");
    assert_ne!(form_token, s.admin_token, "each call issues a fresh token");

    // Query token works; the header wins over the query parameter.
    let good = &s.admin_token;
    let r = s
        .http
        .get(s.url(&format!("/api/import_status.json?token={good}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .get(s.url(&format!("/api/import_status.json?token={good}")))
        .header("Token", "bad")
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a bad header is not rescued by a good query token"
    );
    let r = s
        .http
        .get(s.url("/api/import_status.json?token=bad"))
        .header("Token", good)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "a good header wins over a bad query token");
}

#[test]
fn query_tokens_can_be_disabled() {
    let s = TestServer::builder()
        .config("api_token_in_url_enabled = false\n")
        .start();
    let r = s
        .http
        .get(s.url(&format!("/api/import_status.json?token={}", s.admin_token)))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    error_of(r);
    assert_eq!(s.get("/api/import_status.json").status(), 200);
}

#[test]
fn run_parameter_values_and_permissions() {
    let s = TestServer::builder().pause_before_publish().start();
    s.add_user("reader", "reader-password", &[]);
    let reader = s.token("reader", "reader-password");

    // A user with no permission reads the status but cannot start.
    let v: Value = s.get_as(&reader, "/api/import_status.json").json().unwrap();
    assert_eq!(v["can_run_imports"], false);
    let r = s.get_as(&reader, "/api/import_status.json?run=true");
    assert_eq!(r.status(), 403);
    assert!(error_of(r).contains("manage_imports"));
    // A bad value is a 400 and starts nothing.
    let r = s.get("/api/import_status.json?run=yes-please");
    assert_eq!(r.status(), 400);
    assert!(error_of(r).contains("run"));
    // false and absent only read.
    assert_eq!(s.json("/api/import_status.json?run=false")["mode"], "none");
    assert_eq!(import_count(&s), 0);

    // run=true answers with the status after registering: pending or running.
    let v = s.json("/api/import_status.json?run=true");
    assert_eq!(keys(&v), KEYS);
    assert!(v["mode"] == "pending" || v["mode"] == "running", "{v}");
    assert!(v["progress"].as_i64().unwrap() <= 1);
    // A second start while it runs is a harmless no-op.
    let again = s.json("/api/import_status.json?run=raw_only");
    assert!(again["mode"] == "pending" || again["mode"] == "running");
    assert_eq!(import_count(&s), 1);

    // Progress never decreases and stays below 100 until the commit.
    let mut last = 0;
    let mut saw_running = false;
    let mut check = |v: &Value| {
        if v["mode"] == "running" {
            let p = v["progress"].as_i64().unwrap();
            assert!((1..=99).contains(&p), "running progress {p}");
            assert!(p >= last, "progress went from {last} to {p}");
            last = p;
            saw_running = true;
        }
    };
    s.wait_paused("before_publish", 60);
    let paused = s.status();
    check(&paused);
    assert_eq!(paused["mode"], "running");
    s.release("before_publish");
    let end = s.wait_status(60, "the end of the import", |v| {
        check(v);
        v["mode"] == "idle"
    });
    assert!(saw_running, "the import was never seen running");
    assert_eq!(end["progress"], 100);
    assert_eq!(end["last_status"], "successful");
    assert_eq!(end["last_import_type"], "complete");
    assert!(is_utc_time(&end["last_success_time"]));
    assert_eq!(end["last_success_time"], end["last_import_time"]);

    // raw_only is recorded as such.
    assert_eq!(s.get("/api/import_status.json?run=raw_only").status(), 200);
    s.wait_paused("before_publish", 60);
    s.release("before_publish");
    let end = s.wait_idle();
    assert_eq!(end["last_import_type"], "raw_only");
    let rows = s.json("/api/imports")["rows"].clone();
    assert_eq!(rows[0]["type"], "raw_only");
    assert_eq!(rows[0]["trigger"], "api");
    assert_eq!(rows[0]["requested_by"], "admin");
}

#[test]
fn a_burst_of_100_starts_exactly_one_import() {
    let s = TestServer::builder().pause_before_publish().start();
    let modes: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    let r = s.get("/api/import_status.json?run=true");
                    assert_eq!(r.status(), 200);
                    r.json::<Value>().unwrap()["mode"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(
        modes.iter().all(|m| m == "pending" || m == "running"),
        "{modes:?}"
    );
    assert_eq!(import_count(&s), 1);
}

#[test]
fn cancel_stops_within_a_second_and_publishes_nothing() {
    let s = TestServer::builder().pause_before_publish().start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    s.add_user("reader", "reader-password", &[]);
    let reader = s.token("reader", "reader-password");

    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 30);
    let shown = s.status()["progress"].as_i64().unwrap();
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"]
        .as_i64()
        .unwrap();

    let r = s.post_as(&reader, &format!("/api/imports/{id}/cancel"));
    assert_eq!(r.status(), 403);
    error_of(r);

    let t = Instant::now();
    let r = s.post_as(&s.admin_token, &format!("/api/imports/{id}/cancel"));
    let took = t.elapsed();
    assert_eq!(r.status(), 200);
    let row: Value = r.json().unwrap();
    assert_eq!(row["status"], "cancelled");
    assert_eq!(row["error"], "cancelled by admin");
    assert!(took < Duration::from_millis(1500), "cancel took {took:?}");

    let v = s.status();
    assert_eq!(v["mode"], "idle");
    assert_eq!(v["last_status"], "cancelled");
    assert!(v["last_success_time"].is_null());
    // The progress shown last stays: it does not go back at the end.
    let after = v["progress"].as_i64().unwrap();
    assert!(
        (shown..100).contains(&after),
        "progress {shown} then {after}"
    );
    assert_eq!(row["progress"], after);

    let r = s.post_as(&s.admin_token, &format!("/api/imports/{id}/cancel"));
    assert_eq!(r.status(), 409);
    assert!(error_of(r).contains("cancelled"));
    let r = s.post_as(&s.admin_token, "/api/imports/999/cancel");
    assert_eq!(r.status(), 404);
    error_of(r);
    let r = s.post_as(&s.admin_token, "/api/imports/abc/cancel");
    assert_eq!(r.status(), 400);
    error_of(r);

    // Nothing of the cancelled import was published: the package is still new.
    let log = s.get(&format!("/api/imports/{id}/log")).text().unwrap();
    assert!(log.contains("cancelled by admin"), "{log}");
    let next = s.json("/api/import_status.json?run=true");
    assert!(next["mode"] != "idle");
    let id2 = s.json("/api/imports?limit=1")["rows"][0]["id"]
        .as_i64()
        .unwrap();
    assert_ne!(id, id2);
    s.wait_paused("before_publish", 30);
    let pk = s.json(&format!("/api/imports/{id2}/packages"));
    assert_eq!(pk["total"], 1);
    assert_eq!(pk["rows"][0]["state"], "new");
    s.post_as(&s.admin_token, &format!("/api/imports/{id2}/cancel"));
}

#[test]
fn kill_9_mid_import_marks_it_failed_and_keeps_the_last_success() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut s = TestServer::builder().data_dir(&dir).start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    let first = s.import_and_wait();
    assert_eq!(first["status"], "successful");
    let success_time = s.status()["last_success_time"].clone();
    s.kill9();
    drop(s);

    let mut s = TestServer::builder()
        .data_dir(&dir)
        .pause_before_publish()
        .start();
    write_scan_package(&s.datasource(), "202611281300", "host-b");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 30);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"]
        .as_i64()
        .unwrap();
    s.kill9();
    drop(s);

    let s = TestServer::builder().data_dir(&dir).start();
    let row = s.json(&format!("/api/imports/{id}"));
    assert_eq!(row["status"], "failed");
    assert_eq!(
        row["error"],
        "interrupted: the server stopped during the import"
    );
    let v = s.status();
    assert_eq!(v["mode"], "idle");
    assert_eq!(v["last_status"], "failed");
    assert_eq!(v["last_success_time"], success_time);
    let log = s.get(&format!("/api/imports/{id}/log")).text().unwrap();
    assert!(log.contains("interrupted: the server stopped during the import"));

    // What the interrupted import recorded never became visible: host-b is
    // still new, host-a still imported.
    let next = s.import_and_wait();
    let pk = s.json(&format!("/api/imports/{}/packages", next["id"]));
    let states: Vec<(String, String)> = pk["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file_name"].as_str().unwrap().into(),
                r["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        vec![
            (
                "202611281200-host-a.tar.gz".to_string(),
                "already_imported".to_string()
            ),
            ("202611281300-host-b.tar.gz".to_string(), "new".to_string()),
        ]
    );
}

#[test]
fn sigterm_cancels_the_import_and_exits_promptly() {
    let mut s = TestServer::builder().pause_before_publish().start();
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 30);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"]
        .as_i64()
        .unwrap();
    let (status, took) = s.sigterm();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    s.restart();
    let row = s.json(&format!("/api/imports/{id}"));
    assert_eq!(row["status"], "cancelled");
    assert_eq!(row["error"], "cancelled: the server is shutting down");
}

#[test]
fn history_pages_steps_logs_and_retention() {
    let s = TestServer::builder()
        .config("import_retention = 2\n")
        .start();
    for _ in 0..3 {
        assert_eq!(s.import_and_wait()["status"], "successful");
    }
    let page = s.json("/api/imports?limit=1&offset=1");
    assert_eq!(page["total"], 2, "retention keeps the last 2");
    assert_eq!(page["rows"].as_array().unwrap().len(), 1);
    assert_eq!(page["rows"][0]["id"], 2);
    let r = s.get("/api/imports/1");
    assert_eq!(r.status(), 404);
    error_of(r);
    assert!(!s.data_dir.join("logs/import-1.log").exists());
    let lines: Vec<(i64,)> = common::sql_rows(
        &s,
        "SELECT COUNT(*) FROM import_log_lines WHERE import_id = 1",
    );
    assert_eq!(lines, [(0,)], "the pruned import's log lines are gone");
    let lines: Vec<(i64,)> = common::sql_rows(
        &s,
        "SELECT COUNT(*) FROM import_log_lines WHERE import_id = 3",
    );
    assert!(lines[0].0 >= 5, "{lines:?}");

    let detail = s.json("/api/imports/3");
    let steps: Vec<&str> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|st| st["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "Validate data sources",
            "Find scan packages",
            "Read and write scan packages",
            "Software discovery",
            "Licence metrics",
            "Publish"
        ]
    );
    for st in detail["steps"].as_array().unwrap() {
        assert!(is_utc_time(&st["started_at"]) && is_utc_time(&st["finished_at"]));
    }
    for k in ["requested_at", "started_at", "finished_at"] {
        assert!(is_utc_time(&detail[k]), "{k}");
    }

    let r = s.get("/api/imports/3/log");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let log = r.text().unwrap();
    let line =
        regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z (INFO |WARN |ERROR) .+$")
            .unwrap();
    assert!(log.lines().count() >= 5);
    assert!(log.lines().all(|l| line.is_match(l)), "{log}");
    assert!(log.contains("Step 1/6: Validate data sources"));
    assert!(log.contains("Step 4/6: Software discovery"));
    assert!(log.contains("computers to discover"), "{log}");
    assert!(log.contains("finished successfully"));

    for bad in [
        "/api/imports?limit=0",
        "/api/imports?limit=abc",
        "/api/imports?offset=-1",
        "/api/imports/0",
        "/api/imports/x/log",
    ] {
        let r = s.get(bad);
        assert_eq!(r.status(), 400, "{bad}");
        error_of(r);
    }
}

/// The import log lives in the database (issue 10, item 3): with the log
/// directory of the server that ran the import gone, the API serves the
/// whole log, the final line included, the text the file had; another
/// server on the same database with a data directory of its own (a
/// replica) serves it too; and an import whose lines are not in the
/// database (one run before the log moved there) is served from its file.
#[test]
fn the_import_log_is_served_from_the_database() {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    let row = s.import_and_wait();
    assert_eq!(row["status"], "successful");
    let id = row["id"].as_i64().unwrap();
    let path = format!("/api/imports/{id}/log");
    let logs = s.data_dir.join("logs");
    let file = std::fs::read_to_string(logs.join(format!("import-{id}.log"))).unwrap();
    // Right after the status said idle: every line is there.
    assert_eq!(s.get(&path).text().unwrap(), file);
    let last = file.lines().last().unwrap();
    assert!(
        last.contains(&format!(" INFO  Import {id} finished successfully in ")),
        "{file}"
    );

    std::fs::remove_dir_all(&logs).unwrap();
    let r = s.get(&path);
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; charset=utf-8",
        "the wire format is unchanged"
    );
    assert_eq!(r.text().unwrap(), file);

    // A replica: another server, its own data directory, the same database.
    let url = match s.database_url() {
        openlmt_storage::DatabaseUrl::Sqlite(p) => format!("sqlite:{}", p.display()),
        openlmt_storage::DatabaseUrl::Postgres(u) => u,
    };
    let other = tempfile::tempdir().unwrap();
    let replica = TestServer::builder()
        .data_dir(&other.path().join("replica"))
        .env("OPENLMT_DATABASE_URL", &url)
        .start();
    assert!(!replica
        .data_dir
        .join(format!("logs/import-{id}.log"))
        .exists());
    assert_eq!(replica.get(&path).text().unwrap(), file);
    drop(replica);

    // An import of an earlier version: no lines in the database, a file.
    sql_exec(
        &s,
        &[(
            "DELETE FROM import_log_lines WHERE import_id = ?",
            vec![Bind::Int(id)],
        )],
    );
    let r = s.get(&path);
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "", "no lines and no file: empty");
    std::fs::create_dir_all(&logs).unwrap();
    let old = "2026-11-28T17:03:21.482Z INFO  Step 1/5: Validate data sources\n";
    std::fs::write(logs.join(format!("import-{id}.log")), old).unwrap();
    assert_eq!(s.get(&path).text().unwrap(), old);
}

#[test]
fn packages_are_listed_hashed_and_marked_when_already_imported() {
    let s = TestServer::start();
    let ds = s.datasource();
    write_scan_package(&ds, "202611281200", "host-a");
    write_scan_package(&ds, "202611281200", "host-b");
    std::fs::write(ds.join("notes.txt"), "not a package").unwrap();
    std::fs::write(ds.join(".202611281200-upload.tar.gz.part"), "in progress").unwrap();
    let first = s.import_and_wait();
    assert_eq!(
        first["packages"],
        json!({"found": 2, "imported": 2, "rejected": 0})
    );
    let detail = s.json(&format!("/api/imports/{}", first["id"]));
    assert_eq!(
        detail["steps"][1]["warnings"], 1,
        "notes.txt is named in a warning"
    );
    let log = s
        .get(&format!("/api/imports/{}/log", first["id"]))
        .text()
        .unwrap();
    assert!(log.contains("notes.txt"), "{log}");
    let pk = s.json(&format!("/api/imports/{}/packages", first["id"]));
    let sha = pk["rows"][0]["sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);

    // Same content again: already imported. Changed content: read again,
    // and here rejected, because it is no longer an archive.
    std::fs::write(ds.join("202611281200-host-b.tar.gz"), b"changed").unwrap();
    let second = s.import_and_wait();
    assert_eq!(
        second["status"], "successful",
        "a bad package does not fail the import"
    );
    assert_eq!(
        second["packages"],
        json!({"found": 2, "imported": 0, "rejected": 1})
    );
    let pk = s.json(&format!(
        "/api/imports/{}/packages?state=already_imported",
        second["id"]
    ));
    assert_eq!(pk["total"], 1);
    assert_eq!(pk["rows"][0]["file_name"], "202611281200-host-a.tar.gz");
    let pk = s.json(&format!(
        "/api/imports/{}/packages?state=rejected",
        second["id"]
    ));
    assert_eq!(pk["rows"][0]["file_name"], "202611281200-host-b.tar.gz");
    assert!(
        pk["rows"][0]["reason"].as_str().unwrap().contains("gzip"),
        "{pk}"
    );
    // A rejected package is retried only when its content changes.
    let third = s.import_and_wait();
    assert_eq!(
        third["packages"],
        json!({"found": 2, "imported": 0, "rejected": 0})
    );
    let pk = s.json(&format!(
        "/api/imports/{}/packages?state=previously_rejected",
        third["id"]
    ));
    assert_eq!(pk["total"], 1);
    let r = s.get(&format!(
        "/api/imports/{}/packages?state=bogus",
        second["id"]
    ));
    assert_eq!(r.status(), 400);
    error_of(r);
}

#[test]
fn an_unreadable_data_source_fails_the_import_clearly() {
    let s = TestServer::builder()
        .config("[[datasource]]\nname = \"branch\"\npath = \"/nonexistent/openlmt/ds\"\n")
        .start();
    let row = s.import_and_wait();
    assert_eq!(row["status"], "failed");
    let err = row["error"].as_str().unwrap();
    assert!(
        err.contains("data source `branch`") && err.contains("not a readable directory"),
        "{err}"
    );
    assert_eq!(s.status()["last_status"], "failed");
}

#[test]
fn errors_are_json_and_doubled_slashes_work() {
    let s = TestServer::start();
    let r = s.get("/api/no/such/thing");
    assert_eq!(r.status(), 404);
    error_of(r);
    let r = s
        .http
        .delete(s.url("/api/import_status.json"))
        .header("Token", &s.admin_token)
        .send()
        .unwrap();
    assert_eq!(r.status(), 405);
    error_of(r);
    let r = s.get("//api//import_status.json");
    assert_eq!(r.status(), 200);
    assert_eq!(keys(&r.json::<Value>().unwrap()), KEYS);
    let r = s.get("/api/import_status.json?columns[]=mode&columns[]=progress");
    assert_eq!(
        r.json::<Value>().unwrap(),
        json!({"mode": "none", "progress": 0})
    );
    let r = s.get("/api/import_status.json?columns[]=secret");
    assert_eq!(r.status(), 400);
    error_of(r);
    let r = s
        .http
        .put(s.url("/api/import_schedule"))
        .header("Token", &s.admin_token)
        .body("{oops")
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    error_of(r);
}

#[test]
fn health_and_metrics() {
    let s = TestServer::start();
    assert_eq!(
        s.http
            .get(s.url("/healthz"))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap(),
        json!({"status": "ok"})
    );
    s.import_and_wait();
    let text = s
        .http
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        text.contains("openlmt_imports_total{status=\"successful\"} 1"),
        "{text}"
    );
    assert!(text
        .contains("openlmt_http_requests_total{route=\"/api/import_status.json\",code=\"200\"}"));
    assert!(text.contains("openlmt_import_duration_seconds_count 1"));
    assert!(text.contains("openlmt_import_progress"));
}

/// A row the server cannot read is its own fault, not the client's: 500
/// with the generic message (the detail goes to the log), while a bad
/// parameter still gets its 400 message. (The database is edited with the
/// sqlite3 tool, as a broken migration or a manual edit would leave it.)
#[test]
fn unreadable_data_is_a_500_and_a_bad_parameter_still_a_400() {
    if common::sqlite_only("it edits the SQLite file with the sqlite3 tool") {
        return;
    }
    let s = TestServer::start();
    s.import_and_wait();
    assert_eq!(s.get("/api/imports").status(), 200);
    let db = s.data_dir.join("openlmt.db");
    let out = std::process::Command::new("sqlite3")
        .arg("-cmd")
        .arg(".timeout 10000")
        .arg(&db)
        .arg("UPDATE imports SET trigger = 'bogus'")
        .output()
        .expect("the sqlite3 tool (installed by .ci/run)");
    assert!(out.status.success(), "{out:?}");

    let r = s.get("/api/imports");
    assert_eq!(r.status(), 500);
    let msg = error_of(r);
    assert_eq!(msg, "internal server error; the server log has the details");
    assert!(!msg.contains("bogus"), "the detail stays in the log");

    let r = s.get("/api/imports?limit=0");
    assert_eq!(r.status(), 400);
    assert_eq!(
        error_of(r),
        "`limit` must be a whole number from 1 to 1000, not `0`"
    );
}
