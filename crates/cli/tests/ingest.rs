//! Black-box tests of what an import does with real scan packages: good
//! packages next to malformed ones, newest-per-endpoint, and a crash before
//! the publish.

mod common;

use common::{corpus, write_rescanned_package, write_scan_package, TestServer};
use flate2::write::GzEncoder;
use serde_json::Value;
use std::path::Path;

/// A tar.gz whose members are written with raw headers, so that unsafe
/// names (`../x`) reach the archive as they would from a hostile client.
fn raw_tar_gz(path: &Path, members: &[(&str, &[u8])]) {
    let gz = GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append(&h, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

fn computer_yml(endpoint: &str) -> String {
    format!("format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nOperating System: Debian GNU/Linux 12 (bookworm)\n")
}

fn states(s: &TestServer, id: &Value) -> Vec<(String, String, String)> {
    let pk = s.json(&format!("/api/imports/{id}/packages?limit=100"));
    pk["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["file_name"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn bad_packages_are_rejected_one_by_one_and_the_good_ones_imported() {
    let s = TestServer::start();
    let ds = s.datasource();
    let good_a = write_scan_package(&ds, "202611281200", "good-a");
    write_scan_package(&ds, "202611281200", "good-b");
    let real = std::fs::read(&good_a).unwrap();
    let cpuinfo = std::fs::read(corpus().join("hosts/debian12-vm/cpuinfo")).unwrap();

    // Truncated: the first half of a real package.
    std::fs::write(
        ds.join("202611281200-truncated.tar.gz"),
        &real[..real.len() / 2],
    )
    .unwrap();
    // Corrupted: a real package with bytes overwritten in the middle.
    let mut corrupt = real.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 64] {
        *b = !*b;
    }
    std::fs::write(ds.join("202611281200-corrupted.tar.gz"), &corrupt).unwrap();
    // Path traversal: a member named ../computer.yml.
    let yml = computer_yml("traversal");
    raw_tar_gz(
        &ds.join("202611281200-traversal.tar.gz"),
        &[("computer.yml", yml.as_bytes()), ("../cpuinfo", &cpuinfo)],
    );
    // Oversized: real cpuinfo followed by 70 MiB of zeros (over the 64 MiB
    // member limit, yet only ~70 KiB compressed).
    let mut big = cpuinfo.clone();
    big.resize(70 * 1024 * 1024, 0);
    let yml = computer_yml("oversized");
    raw_tar_gz(
        &ds.join("202611281200-oversized.tar.gz"),
        &[("computer.yml", yml.as_bytes()), ("cpuinfo", &big)],
    );
    // Member-less: an empty tar.gz.
    raw_tar_gz(&ds.join("202611281200-empty.tar.gz"), &[]);
    // A package whose computer.yml names another endpoint than its file name.
    let yml = computer_yml("someone-else");
    raw_tar_gz(
        &ds.join("202611281200-mismatch.tar.gz"),
        &[("computer.yml", yml.as_bytes()), ("cpuinfo", &cpuinfo)],
    );

    let row = s.import_and_wait();
    assert_eq!(row["status"], "successful", "{row}");
    assert_eq!(row["packages"]["found"], 8);
    assert_eq!(row["packages"]["imported"], 2);
    assert_eq!(row["packages"]["rejected"], 6);
    let got = states(&s, &row["id"]);
    let reason = |name: &str| {
        got.iter()
            .find(|(n, _, _)| n == &format!("202611281200-{name}.tar.gz"))
            .map(|(_, state, reason)| (state.clone(), reason.clone()))
            .unwrap()
    };
    for good in ["good-a", "good-b"] {
        assert_eq!(reason(good), ("new".to_string(), String::new()));
    }
    for (bad, needle) in [
        ("truncated", ""),
        ("corrupted", ""),
        ("traversal", "unsafe path"),
        ("oversized", "64 MiB"),
        ("empty", ""),
        ("mismatch", "someone-else"),
    ] {
        let (state, why) = reason(bad);
        assert_eq!(state, "rejected", "{bad}");
        assert!(!why.is_empty() && why.contains(needle), "{bad}: {why}");
    }
    let log = s
        .get(&format!("/api/imports/{}/log", row["id"]))
        .text()
        .unwrap();
    for bad in [
        "truncated",
        "corrupted",
        "traversal",
        "oversized",
        "empty",
        "mismatch",
    ] {
        assert!(
            log.contains(&format!("Package `202611281200-{bad}.tar.gz` rejected: ")),
            "{bad}: {log}"
        );
    }
    // Only the good computers are there, with all their facts.
    let computers = s.json("/api/sam/v2/computers");
    assert_eq!(computers["total"], 2);
    let facts = s.json("/api/sam/raw_package_facts?limit=1");
    assert_eq!(facts["total"], 2 * 759);
    let tags = s.json("/api/sam/raw_swid_tags?limit=1");
    assert_eq!(tags["total"], 0, "write_scan_package packs no SWID tags");
}

#[test]
fn the_newest_package_per_endpoint_wins_and_older_ones_are_skipped() {
    let s = TestServer::start();
    let ds = s.datasource();
    write_scan_package(&ds, "202611281000", "host-a");
    write_scan_package(&ds, "202611281100", "host-a");
    let first = s.import_and_wait();
    let got = states(&s, &first["id"]);
    assert_eq!(got[0].1, "skipped_older", "{got:?}");
    assert!(got[0].2.contains("202611281100-host-a.tar.gz"));
    assert_eq!(got[1].1, "new");
    let c = s.json("/api/sam/v2/computers");
    assert_eq!(c["rows"][0]["last_seen"], "2026-11-28T11:00:00Z");

    // A package older than the imported one arrives late: skipped, logged.
    write_scan_package(&ds, "202611280900", "host-a");
    let second = s.import_and_wait();
    let got = states(&s, &second["id"]);
    let late = got
        .iter()
        .find(|g| g.0 == "202611280900-host-a.tar.gz")
        .unwrap();
    assert_eq!(late.1, "skipped_older");
    assert!(
        late.2.contains("older than the package already imported"),
        "{late:?}"
    );
    assert_eq!(
        s.json("/api/sam/v2/computers")["rows"][0]["last_seen"],
        "2026-11-28T11:00:00Z"
    );
    // It stays skipped at the next import (its hash is remembered).
    let third = s.import_and_wait();
    let got = states(&s, &third["id"]);
    let late = got
        .iter()
        .find(|g| g.0 == "202611280900-host-a.tar.gz")
        .unwrap();
    assert_eq!(late.1, "skipped_older", "{got:?}");
}

#[test]
fn raw_only_publishes_raw_facts_and_complete_the_inventory() {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    assert_eq!(s.get("/api/import_status.json?run=raw_only").status(), 200);
    s.wait_idle();
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], 759);
    assert_eq!(
        s.json("/api/sam/v2/computers")["total"],
        0,
        "no inventory before a complete import"
    );
    s.import_and_wait();
    let c = s.json("/api/sam/v2/computers");
    assert_eq!(c["total"], 1);
    let row = &c["rows"][0];
    assert_eq!(row["endpoint_id"], "host-a");
    assert_eq!(row["threads"], 2);
    assert_eq!(row["is_virtual"], true);
    assert_eq!(row["hypervisor"], "KVM");
    assert_eq!(row["ip_address"], serde_json::json!(["192.0.2.10"]));
}

#[test]
fn kill_9_before_the_publish_leaves_the_previous_data_intact() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = TestServer::builder().data_dir(&data).start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    write_scan_package(&s.datasource(), "202611281200", "host-b");
    assert_eq!(s.import_and_wait()["status"], "successful");
    let before_computers = s.json("/api/sam/v2/computers");
    let before_facts = s.json("/api/sam/raw_package_facts?limit=10000");
    drop(s);

    // New data arrives: a newer scan of host-a (its facts to write again) and
    // a new host-c. The import writes all their facts, then pauses before its
    // publish; it dies there.
    let mut s = TestServer::builder()
        .data_dir(&data)
        .pause_before_publish()
        .start();
    write_rescanned_package(&s.datasource(), "202611281300", "host-a");
    write_scan_package(&s.datasource(), "202611281300", "host-c");
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 60);
    let id = s.json("/api/imports?limit=1")["rows"][0]["id"].clone();
    let detail = s.json(&format!("/api/imports/{id}"));
    assert_eq!(
        detail["steps"][2]["items_imported"], 2,
        "both packages were written: {detail}"
    );
    s.kill9();
    // What it wrote is in the database, invisible: 2 × 759 package facts,
    // and the computer row created for host-c.
    {
        let (rt, store) = s.store();
        let active = rt.block_on(store.active_import()).unwrap().unwrap();
        assert_eq!(serde_json::json!(active.id), id);
        assert_eq!(
            rt.block_on(store.import_fact_count(active.id)).unwrap(),
            2 * 759
        );
    }
    drop(s);

    let s = TestServer::builder().data_dir(&data).start();
    assert_eq!(s.json(&format!("/api/imports/{id}"))["status"], "failed");
    // The restart deleted it all.
    assert_eq!(s.leftovers(), openlmt_storage::LeftoverCounts::default());
    {
        let (rt, store) = s.store();
        let id = id.as_i64().unwrap();
        assert_eq!(rt.block_on(store.import_fact_count(id)).unwrap(), 0);
    }
    assert_eq!(s.json("/api/sam/v2/computers"), before_computers);
    assert_eq!(
        s.json("/api/sam/raw_package_facts?limit=10000"),
        before_facts
    );
    // The next import takes the new packages again and publishes them.
    let next = s.import_and_wait();
    assert_eq!(next["packages"]["imported"], 2);
    assert_eq!(s.json("/api/sam/v2/computers")["total"], 3);
    assert_eq!(
        s.json("/api/sam/raw_package_facts?limit=1")["total"],
        3 * 759
    );
}

/// Every thread of `pid`: its name, nice value and scheduling policy, from
/// `/proc/PID/task/TID/stat` (fields 19 and 41: counted after the `(comm)`
/// field from 0, 16 and 38; policy 0 is `SCHED_OTHER`, 5 `SCHED_IDLE`).
fn threads(pid: u32) -> Vec<(String, i64, i64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |n: usize| fields[n].parse::<i64>().unwrap();
        out.push((stat[open + 1..close].to_string(), field(16), field(38)));
    }
    out
}

/// The (nice, policy) of the threads of `pid` whose name starts with `name`.
fn priorities(pid: u32, name: &str) -> Vec<(i64, i64)> {
    threads(pid)
        .into_iter()
        .filter(|t| t.0.starts_with(name))
        .map(|t| (t.1, t.2))
        .collect()
}

/// What "imports yield the CPU" really does: the runner thread runs at
/// nice 15 under `SCHED_IDLE` from the start, and opens the import's own
/// SQLite connections, whose worker threads (sqlx starts one per
/// connection) inherit both; the API's connections and the HTTP workers
/// stay at nice 0 in the normal policy, before and after an import.
#[cfg(target_os = "linux")]
#[test]
fn import_threads_and_the_imports_sqlite_threads_run_idle_and_the_apis_do_not() {
    let s = TestServer::start();
    const IDLE: (i64, i64) = (15, 5);
    const NORMAL: (i64, i64) = (0, 0);
    // A thread is created with its creator's name and renames itself a
    // moment later: while the runner opens its connections, their threads
    // may briefly show as "openlmt-import" (seen on a loaded machine).
    // Wait for the names to settle; a thread that keeps the runner's name
    // still fails the test.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while priorities(s.pid(), "openlmt-import") != [IDLE] && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(priorities(s.pid(), "openlmt-import"), [IDLE]);
    let http = priorities(s.pid(), "tokio-rt-worker");
    assert!(
        !http.is_empty() && http.iter().all(|&p| p == NORMAL),
        "{http:?}"
    );
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    assert_eq!(s.import_and_wait()["status"], "successful");
    // An API query after the import, on the API's pool.
    assert_eq!(s.json("/api/sam/raw_package_facts?limit=1")["total"], 759);
    let all = threads(s.pid());
    let sqlite = priorities(s.pid(), "sqlx-sqlite-wor");
    if common::on_postgres() {
        // On PostgreSQL the database's work runs in the database server's
        // own processes; the server has no SQLite worker threads.
        assert!(sqlite.is_empty(), "{all:?}");
    } else {
        // The import's pool: 4 connections, every one opened by the runner.
        assert_eq!(sqlite.iter().filter(|&&p| p == IDLE).count(), 4, "{all:?}");
        // The API's: at least the one it keeps open, none lowered.
        let api = sqlite.iter().filter(|&&p| p != IDLE).collect::<Vec<_>>();
        assert!(
            !api.is_empty() && api.iter().all(|&&p| p == NORMAL),
            "{all:?}"
        );
    }
    let http = priorities(s.pid(), "tokio-rt-worker");
    assert!(http.iter().all(|&p| p == NORMAL), "{all:?}");
}
