//! How an import ends when something goes wrong at a chosen point: the
//! engine's test hooks (feature `test-hooks`, crates/ingest/src/hooks.rs)
//! make it fail, panic or pause there.

mod common;

use common::{write_rescanned_package, write_scan_package, TestServer};
use openlmt_storage::LeftoverCounts;
use serde_json::Value;
use std::time::Duration;

/// Facts in one package of the harness (the corpus's Debian 12 host).
const FACTS: i64 = 759;

/// Without the feature the server refuses OPENLMT_TEST_HOOKS, so every hook
/// test fails at start-up; this one says why, in one line.
#[cfg(not(feature = "test-hooks"))]
#[test]
fn these_tests_need_the_test_hooks_compiled_in() {
    panic!("build the tests with `--features openlmt/test-hooks` (scripts/test.sh does)");
}

/// A server started with the test hooks `spec`, its data source holding one
/// scan package (host-a's, scanned 2026-11-28 12:00).
fn one_package_with_hooks(spec: &str) -> TestServer {
    let s = TestServer::builder().hooks(spec).start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    s
}

fn metrics(s: &TestServer) -> String {
    s.http
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

fn log(s: &TestServer, id: &Value) -> String {
    s.get(&format!("/api/imports/{id}/log")).text().unwrap()
}

#[test]
fn a_failure_after_the_publish_is_a_warning_and_the_import_stays_successful() {
    // Saving the publish step's record fails, after the publish committed.
    let s = one_package_with_hooks("fail=after_publish");
    let first = s.import_and_wait();
    assert_eq!(first["status"], "successful", "{first}");
    assert!(first["error"].is_null());

    // A newer scan (its facts re-written: see write_rescanned_package)
    // supersedes the first one's facts.
    write_rescanned_package(&s.datasource(), "202611281300", "host-a");
    let second = s.import_and_wait();
    assert_eq!(second["status"], "successful", "{second}");
    let v = s.status();
    assert_eq!(v["last_status"], "successful");
    assert_eq!(v["progress"], 100);
    assert_eq!(v["last_success_time"], v["last_import_time"]);

    let text = log(&s, &second["id"]);
    assert!(
        text.contains(
            "Import 2 is published; after the publish: cannot record the step `Publish`: \
             injected failure at after_publish (test hook)"
        ),
        "{text}"
    );
    assert!(text.contains("finished successfully"), "{text}");
    // The clean-up ran: the first import's facts are gone.
    assert!(
        text.contains(&format!("Deleted {FACTS} superseded facts")),
        "{text}"
    );
    assert_eq!(s.leftovers(), LeftoverCounts::default());
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], FACTS);
    let m = metrics(&s);
    assert!(
        m.contains("openlmt_imports_total{status=\"successful\"} 2"),
        "{m}"
    );
    assert!(
        !m.contains("openlmt_imports_total{status=\"failed\"}"),
        "{m}"
    );
}

#[test]
fn a_panic_in_the_writer_fails_the_import_and_the_next_one_works() {
    let s = one_package_with_hooks("panic=writer*1");
    let failed = s.import_and_wait();
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(
        failed["error"],
        "internal error: panicked: injected panic at writer (test hook)"
    );
    let v = s.status();
    assert_eq!(
        (v["mode"].as_str(), v["last_status"].as_str()),
        (Some("idle"), Some("failed"))
    );
    assert!(v["last_success_time"].is_null());
    assert!(log(&s, &failed["id"]).contains("injected panic at writer"));
    // Nothing became visible, nothing was left behind (not even the
    // computer row created for host-a).
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 0);
    assert_eq!(s.leftovers(), LeftoverCounts::default());

    // The server still serves, and the next import (no panic this time)
    // takes the package and publishes it.
    let next = s.import_and_wait();
    assert_eq!(next["status"], "successful", "{next}");
    assert_eq!(next["packages"]["imported"], 1);
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 1);
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], FACTS);
}

/// A cancel that arrives while the publish transaction is open does not
/// stop it: the import ends successful, with everything visible (the
/// documented choice, crates/ingest/src/steps/publish.rs).
#[test]
fn a_cancel_during_the_publish_lets_it_complete() {
    let s = one_package_with_hooks("pause=publish_commit");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("publish_commit", 60);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"].clone();
    // Inside the open transaction: nothing is visible yet.
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 0);

    let row = std::thread::scope(|scope| {
        let cancel =
            scope.spawn(|| s.post_as(&s.admin_token, &format!("/api/imports/{id}/cancel")));
        // The cancel request waits for the end of the import...
        std::thread::sleep(Duration::from_millis(300));
        assert!(!cancel.is_finished(), "the cancel did not wait");
        s.release("publish_commit");
        let r = cancel.join().unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Value>().unwrap()
    });
    // ...which is the publish's.
    assert_eq!(row["status"], "successful", "{row}");
    assert_eq!(s.status()["last_status"], "successful");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 1);
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], FACTS);
    assert_eq!(s.leftovers(), LeftoverCounts::default());
}

/// The other side: a cancel just before the publish (paused at
/// `before_publish`) ends it cancelled, with nothing visible or left.
#[test]
fn a_cancel_before_the_publish_leaves_nothing() {
    let s = TestServer::builder().pause_before_publish().start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 60);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"].clone();
    let r = s.post_as(&s.admin_token, &format!("/api/imports/{id}/cancel"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["status"], "cancelled");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 0);
    assert_eq!(s.leftovers(), LeftoverCounts::default());
}

/// A crash between the publish and its clean-up leaves the superseded
/// facts; the restart deletes them.
#[test]
fn kill_9_after_the_publish_the_restart_deletes_the_superseded_facts() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = TestServer::builder().data_dir(&data).start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    assert_eq!(s.import_and_wait()["status"], "successful");
    drop(s);

    let mut s = TestServer::builder()
        .data_dir(&data)
        .hooks("pause=after_publish")
        .start();
    write_rescanned_package(&s.datasource(), "202611281300", "host-a");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("after_publish", 60);
    // Published: the new facts are visible; the old ones await deletion.
    let leftovers = s.leftovers();
    assert_eq!(leftovers.superseded_records, 1, "{leftovers:?}");
    assert_eq!(leftovers.invisible_facts, FACTS as u64, "{leftovers:?}");
    s.kill9();
    drop(s);

    let s = TestServer::builder().data_dir(&data).start();
    assert_eq!(s.leftovers(), LeftoverCounts::default());
    assert_eq!(s.json("/api/imports/2")["status"], "successful");
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], FACTS);
}

/// The data source vanishes between the find step (which chose its
/// packages) and the read step: the import fails naming the data source and
/// publishes nothing. Before, each package it could not open was rejected
/// alone, so the import published part of the estate and remembered the
/// rest as rejected, never to be read again (scripts/faults.sh found it).
#[test]
fn a_data_source_removed_during_the_import_fails_it_and_the_next_one_reads_everything() {
    let s = TestServer::builder().hooks("pause=before_read*1").start();
    let ds = s.datasource();
    write_scan_package(&ds, "202611281200", "host-a");
    write_scan_package(&ds, "202611281200", "host-b");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_read", 60);
    let away = ds.with_extension("away");
    std::fs::rename(&ds, &away).unwrap();
    s.release("before_read");
    s.wait_idle();
    let failed = s.json("/api/imports?limit=1")["rows"][0].clone();
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "data source `default` at {} is not a readable directory any more: ",
            ds.display()
        )) && error.contains("nothing of this import is published"),
        "{error}"
    );
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 0);
    assert_eq!(s.leftovers(), LeftoverCounts::default());

    // Back again: the next import reads both packages.
    std::fs::rename(&away, &ds).unwrap();
    let next = s.import_and_wait();
    assert_eq!(next["status"], "successful", "{next}");
    assert_eq!(next["packages"]["imported"], 2, "{next}");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 2);
}

/// One package file removed alone after the find step chose it: it is
/// rejected in this import ("cannot read the file"), the others are
/// published, and it is not remembered as rejected: put back, the next
/// import reads it (as the find step treats a file it cannot read).
#[test]
fn a_package_removed_during_the_import_is_read_when_it_comes_back() {
    let s = TestServer::builder().hooks("pause=before_read*1").start();
    let ds = s.datasource();
    write_scan_package(&ds, "202611281200", "host-a");
    let b = write_scan_package(&ds, "202611281200", "host-b");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_read", 60);
    let away = ds.parent().unwrap().join("host-b.away");
    std::fs::rename(&b, &away).unwrap();
    s.release("before_read");
    s.wait_idle();
    let first = s.json("/api/imports?limit=1")["rows"][0].clone();
    assert_eq!(first["status"], "successful", "{first}");
    assert_eq!(first["packages"]["rejected"], 1, "{first}");
    let rejected = s.json(&format!(
        "/api/imports/{}/packages?state=rejected",
        first["id"]
    ));
    let reason = rejected["rows"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("cannot read the file: "), "{rejected}");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 1);

    std::fs::rename(&away, &b).unwrap();
    let next = s.import_and_wait();
    assert_eq!(next["status"], "successful", "{next}");
    assert_eq!(next["packages"]["imported"], 1, "{next}");
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 2);
}
