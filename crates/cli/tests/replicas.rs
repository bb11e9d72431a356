//! Several `openlmt serve` replicas on one PostgreSQL database (issue 10,
//! item 3): each test starts three real servers, each with its own data
//! directory and node name, sharing the database and one data source
//! directory, and talks HTTP to them as clients do.
//!
//! PostgreSQL only: without `OPENLMT_TEST_DATABASE_URL` every test here
//! says SKIPPED on the terminal. They run in the first (SQLite) pass of
//! scripts/test.sh only: in the `OPENLMT_TEST_ENGINE=postgres` pass they
//! would run the same servers again.

mod common;

use common::{write_scan_package, TestServer, ADMIN_PASSWORD};
use openlmt_storage::testing::{say_loudly, TestDatabase};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Three replicas on one fresh database, and what they share.
struct Cluster {
    nodes: Vec<TestServer>,
    db: Arc<TestDatabase>,
    source: PathBuf,
    _tmp: tempfile::TempDir,
}

/// The database shared by the replicas of one test, or `None` (after saying
/// so) when the test cannot run here.
fn shared_database(test: &str) -> Option<Arc<TestDatabase>> {
    if common::on_postgres() {
        say_loudly(&format!(
            "SKIPPED in the OPENLMT_TEST_ENGINE=postgres pass: `{test}` runs its replicas on PostgreSQL in the first pass"
        ));
        return None;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(TestDatabase::create(test))
        .expect("a database on the server of OPENLMT_TEST_DATABASE_URL")
        .map(Arc::new)
}

fn node_name(i: usize) -> String {
    format!("replica-{}", (b'a' + i as u8) as char)
}

impl Cluster {
    /// `lease_secs`: the replicas' `import_lease_secs`; `hooks`: the test
    /// hooks of each replica (by index).
    fn start(test: &str, lease_secs: u64, hooks: &[Option<&str>]) -> Option<Cluster> {
        Cluster::start_via(test, lease_secs, hooks, 3, None)
    }

    /// [`Cluster::start`] with `count` replicas, reaching the database
    /// through the proxy on `via` when given.
    fn start_via(
        test: &str,
        lease_secs: u64,
        hooks: &[Option<&str>],
        count: usize,
        via: Option<u16>,
    ) -> Option<Cluster> {
        let db = shared_database(test)?;
        let tmp = tempfile::tempdir().unwrap();
        let source = tmp.path().join("shared-source");
        std::fs::create_dir_all(&source).unwrap();
        let mut nodes = Vec::new();
        // One after the other: the first creates the admin user.
        for i in 0..count {
            let config = format!(
                "import_lease_secs = {lease_secs}\n[[datasource]]\nname = \"default\"\npath = \"{}\"\n",
                source.display()
            );
            let mut b = TestServer::builder()
                .data_dir(&tmp.path().join(format!("node-{i}")))
                .database(&db)
                .env("OPENLMT_NODE_NAME", &node_name(i))
                .config(&config);
            if let Some(h) = hooks.get(i).copied().flatten() {
                b = b.hooks(h);
            }
            if let Some(port) = via {
                b = b.database_port(port);
            }
            nodes.push(b.start());
        }
        Some(Cluster {
            nodes,
            db,
            source,
            _tmp: tmp,
        })
    }

    fn imports(&self, on: usize) -> Value {
        self.nodes[on].json("/api/imports?limit=100")
    }

    /// Waits until every live replica's status satisfies `pred`; returns
    /// how long the slowest took after the first.
    fn wait_all(
        &self,
        live: &[usize],
        secs: u64,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Duration {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut first: Option<Instant> = None;
        let mut done = vec![false; self.nodes.len()];
        loop {
            for &i in live {
                if !done[i] && pred(&self.nodes[i].status()) {
                    done[i] = true;
                    first.get_or_insert_with(Instant::now);
                }
            }
            if live.iter().all(|&i| done[i]) {
                return first.map_or(Duration::ZERO, |f| f.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                live.iter()
                    .map(|&i| self.nodes[i].status())
                    .collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The visible inventory, as a client pulls it.
    fn snapshot(&self, on: usize) -> (Value, Value) {
        (
            self.nodes[on].json("/api/sam/v2/computers"),
            self.nodes[on].json("/api/sam/raw_package_facts?limit=100000"),
        )
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        std::process::Command::new(common::bin())
            .args(args)
            .env("OPENLMT_DATABASE_URL", self.db.url())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

/// Three replicas (3 s leases) whose first, a, pauses its imports before
/// the publish, with one package in the shared source and an import of it
/// paused on a: the cluster, the visible data before it, its id.
fn paused_on_a(test: &str) -> Option<(Cluster, (Value, Value), i64)> {
    let c = Cluster::start(test, 3, &[Some("pause=before_publish")])?;
    write_scan_package(&c.source, "202612041200", "host-a");
    let before = c.snapshot(1);
    assert_eq!(run(&c.nodes[0]).status(), 200);
    c.nodes[0].wait_paused("before_publish", 60);
    let id = c.imports(1)["rows"][0]["id"].as_i64().unwrap();
    Some((c, before, id))
}

fn run(s: &TestServer) -> reqwest::blocking::Response {
    s.get("/api/import_status.json?run=true")
}

/// 100 concurrent `run=true`, spread over three replicas, start exactly one
/// import; every replica's status shows it and its end within a second of
/// each other; the import names the node that ran it; a package uploaded
/// to any replica lands in the shared data source; a token issued on one
/// replica works on all, and stops on all within a second of its
/// revocation.
#[test]
fn three_replicas_start_one_import_agree_on_its_status_and_share_tokens_and_uploads() {
    let Some(c) = Cluster::start("replicas_one_import", 3, &[]) else {
        return;
    };
    write_scan_package(&c.source, "202612041200", "host-a");
    let clients: Vec<_> = (0..100)
        .map(|i| {
            let base = c.nodes[i % 3].base.clone();
            let token = c.nodes[i % 3].admin_token.clone();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .get(format!("{base}/api/import_status.json?run=true"))
                    .header("Token", token)
                    .send()
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    for t in clients {
        assert_eq!(t.join().unwrap().unwrap(), 200);
    }
    let spread = c.wait_all(&[0, 1, 2], 120, "idle with a finished import", |s| {
        s["mode"] == "idle" && s["last_status"] == "successful"
    });
    eprintln!("the three replicas showed the end within {spread:?} of each other");
    assert!(spread <= Duration::from_secs(1), "{spread:?}");
    let history = c.imports(1);
    assert_eq!(
        history["total"], 1,
        "one import for 100 requests: {history}"
    );
    let import = &history["rows"][0];
    let names: Vec<String> = (0..3).map(node_name).collect();
    assert!(
        names.iter().any(|n| import["node"] == n.as_str()),
        "{import}"
    );
    let id = import["id"].as_i64().unwrap();
    for s in &c.nodes {
        let d = s.json(&format!("/api/imports/{id}"));
        assert_eq!(
            (d["status"].as_str(), d["node"].clone()),
            (Some("successful"), import["node"].clone())
        );
        assert_eq!(s.json("/api/sam/v2/computers")["total"], 1);
    }

    // Started on c, run on c; the others show its end within a second.
    write_scan_package(&c.source, "202612041300", "host-b");
    let last = c.nodes[2].import_and_wait();
    assert_eq!(last["status"], "successful", "{last}");
    assert_eq!(
        last["node"],
        node_name(2).as_str(),
        "run=true on c ran on c: {last}"
    );
    let want = c.nodes[2].status();
    let spread = c.wait_all(&[0, 1], 5, "the others showing c's import", |s| {
        s["last_import_time"] == want["last_import_time"] && s["mode"] == "idle"
    });
    eprintln!("a and b showed c's import ended within {spread:?}");
    assert_eq!(c.imports(0)["total"], 2);
    // An upload to replica b lands in the shared data source.
    let tmp = tempfile::tempdir().unwrap();
    let pkg = write_scan_package(tmp.path(), "202612041400", "host-up");
    let bytes = std::fs::read(&pkg).unwrap();
    let r = common::upload(
        &c.nodes[1],
        Some(&c.nodes[1].admin_token),
        "?filename=202612041400-host-up.tar.gz",
        bytes,
    );
    assert_eq!(r.status(), 200);
    assert!(c.source.join("202612041400-host-up.tar.gz").exists());
    assert_eq!(c.nodes[0].import_and_wait()["status"], "successful");
    c.wait_all(&[0, 1, 2], 30, "idle", |s| s["mode"] == "idle");
    assert_eq!(c.nodes[2].json("/api/sam/v2/computers")["total"], 3);

    // A token from replica a works on c; revoked (by the CLI, on the
    // database), it stops on every replica within a second.
    let token = c.nodes[0].token("admin", ADMIN_PASSWORD);
    for s in &c.nodes {
        assert_eq!(s.get_as(&token, "/api/import_status.json").status(), 200);
    }
    let out = c.cli(&["token", "revoke", &token[..16]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = Instant::now();
    for s in &c.nodes {
        common::wait_for_status(
            || s.get_as(&token, "/api/import_status.json"),
            401,
            "revoked token",
            Duration::from_secs(2),
        );
    }
    eprintln!(
        "the revoked token stopped on all three within {:?}",
        t.elapsed()
    );
    assert!(
        t.elapsed() <= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
}

/// A cancel sent to another replica than the one running the import ends
/// it, within the cancel's own wait, and nothing of it is visible.
#[test]
fn an_import_is_cancelled_from_another_replica() {
    let Some((c, before, id)) = paused_on_a("replicas_cancel") else {
        return;
    };
    // Replica b shows it running.
    c.wait_all(&[1, 2], 5, "running everywhere", |s| s["mode"] == "running");
    let t = Instant::now();
    let r = c.nodes[1].post_as(
        &c.nodes[1].admin_token,
        &format!("/api/imports/{id}/cancel"),
    );
    let took = t.elapsed();
    let status = r.status();
    let body: Value = r.json().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    assert_eq!(body["error"], "cancelled by admin", "{body}");
    eprintln!("cancelled from another replica in {took:?}");
    c.wait_all(&[0, 1, 2], 10, "idle, cancelled", |s| {
        s["mode"] == "idle" && s["last_status"] == "cancelled"
    });
    assert_eq!(c.snapshot(2), before);
}

/// kill -9 of the replica running an import (paused before its publish):
/// another replica fails it within 60 s with the documented message (the
/// default 30 s lease), the previous data are intact, and the next import,
/// on another replica, succeeds.
#[test]
fn a_dead_replicas_import_is_failed_by_another_within_60_s() {
    let Some(mut c) = Cluster::start("replicas_kill9", 30, &[None, Some("pause=before_publish")])
    else {
        return;
    };
    write_scan_package(&c.source, "202612041200", "host-a");
    assert_eq!(c.nodes[0].import_and_wait()["status"], "successful");
    let before = c.snapshot(0);
    write_scan_package(&c.source, "202612041300", "host-b");
    assert_eq!(run(&c.nodes[1]).status(), 200);
    c.nodes[1].wait_paused("before_publish", 60);
    let id = c.imports(0)["rows"][0]["id"].as_i64().unwrap();
    // (Its log lines reach the database within 0.2 s; a kill loses the
    // last 0.2 s of them, operations.md.)
    std::thread::sleep(Duration::from_millis(500));
    c.nodes[1].kill9();
    let t = Instant::now();
    c.wait_all(&[0, 2], 60, "the dead node's import failed", |s| {
        s["mode"] == "idle" && s["last_status"] == "failed"
    });
    let took = t.elapsed();
    eprintln!("the dead node's import was failed {took:?} after the kill");
    assert!(took <= Duration::from_secs(60));
    let row = c.nodes[2].json(&format!("/api/imports/{id}"));
    assert_eq!(row["status"], "failed");
    assert_eq!(
        row["error"],
        format!(
            "interrupted: node {} stopped during the import",
            node_name(1)
        )
        .as_str(),
        "{row}"
    );
    assert_eq!(
        c.snapshot(2),
        before,
        "nothing of the dead node's import is visible"
    );
    // Its log, from the database: what b wrote before it died, and the
    // line of the replica that ended it (stored within 0.2 s), served by a
    // third.
    let ended = format!(
        "interrupted: node {} stopped during the import",
        node_name(1)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let r = c.nodes[2].get(&format!("/api/imports/{id}/log"));
        assert_eq!(r.status(), 200);
        let log = r.text().unwrap();
        if log.contains(&ended) || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(log.contains(&ended), "{log}");
    assert!(
        log.contains(&format!("Import {id} started on node {}", node_name(1))),
        "{log}"
    );
    let next = c.nodes[2].import_and_wait();
    assert_eq!(next["status"], "successful", "{next}");
    assert_eq!(next["node"], node_name(2).as_str());
    assert_eq!(c.nodes[0].json("/api/sam/v2/computers")["total"], 2);
    // The dead node, restarted, finds its import already ended and serves
    // the same history.
    let mut dead = c.nodes.remove(1);
    dead.restart();
    assert_eq!(dead.json(&format!("/api/imports/{id}"))["status"], "failed");
    c.nodes.insert(1, dead);
    c.wait_all(&[0, 1, 2], 5, "idle everywhere", |s| s["mode"] == "idle");
}

/// Fencing: a replica frozen (SIGSTOP) past its lease while its import is
/// paused before the publish loses the import to another replica's
/// janitor; thawed and released, it publishes nothing.
#[test]
fn a_replica_whose_lease_passed_publishes_nothing() {
    let Some((c, before, id)) = paused_on_a("replicas_fence") else {
        return;
    };
    let pid = c.nodes[0].pid().to_string();
    signal("-STOP", &pid);
    c.wait_all(&[1, 2], 30, "the frozen node's import failed", |s| {
        s["mode"] == "idle" && s["last_status"] == "failed"
    });
    // Thawed and released at once: whether its publish runs before its
    // heartbeat finds the lease gone (and cancels the run) or after, it
    // publishes nothing.
    let release = c.nodes[0]
        .data_dir
        .join("test-hooks/release-before_publish");
    std::fs::write(&release, b"").unwrap();
    signal("-CONT", &pid);
    c.wait_all(&[0, 1, 2], 30, "idle everywhere", |s| s["mode"] == "idle");
    let row = c.nodes[0].json(&format!("/api/imports/{id}"));
    assert_eq!(row["status"], "failed", "{row}");
    assert_eq!(
        row["error"],
        format!(
            "interrupted: node {} stopped during the import",
            node_name(0)
        )
        .as_str()
    );
    assert_eq!(c.snapshot(2), before, "the fenced node published nothing");
    assert_eq!(c.nodes[0].status()["last_status"], "failed");
}

/// The schedule, changed on one replica, is taken by the others within a
/// second, and each slot starts one import for the cluster: every replica
/// runs the schedule, and the slot is claimed in the database.
#[test]
fn the_schedule_changes_everywhere_and_each_slot_fires_once_for_the_cluster() {
    let Some(c) = Cluster::start("replicas_schedule", 3, &[]) else {
        return;
    };
    write_scan_package(&c.source, "202612041200", "host-a");
    let body = serde_json::json!({"enabled": true, "cron": "* * * * *", "timezone": "UTC"});
    let r = c.nodes[1].put_json_as(&c.nodes[1].admin_token, "/api/import_schedule", &body);
    assert_eq!(r.status(), 200);
    let next = c.nodes[1].status()["next_import_time"].clone();
    assert!(next.is_string(), "{next}");
    let took = c.wait_all(&[0, 2], 2, "the new schedule everywhere", |s| {
        s["next_import_time"] == next
    });
    eprintln!("the schedule reached the other replicas within {took:?}");
    // The slot (at most a minute away), then a few seconds for every
    // replica's scheduler to have fired.
    c.wait_all(&[0, 1, 2], 75, "the scheduled import ended", |s| {
        s["mode"] == "idle" && s["last_status"] == "successful"
    });
    std::thread::sleep(Duration::from_secs(3));
    let off = serde_json::json!({"enabled": false});
    let r = c.nodes[0].put_json_as(&c.nodes[0].admin_token, "/api/import_schedule", &off);
    assert_eq!(r.status(), 200);
    let rows = c.imports(2)["rows"].as_array().unwrap().clone();
    let scheduled: Vec<&Value> = rows.iter().filter(|r| r["trigger"] == "schedule").collect();
    assert_eq!(scheduled.len(), 1, "one import for the slot: {rows:?}");
}

/// The database goes away during an import and comes back (as when
/// PostgreSQL restarts; here a proxy in front of it is cut and restored):
/// both replicas keep answering (the status from memory, marked stale; the
/// API 503), the import ends without publishing anything, and once the
/// database is back both recover by themselves, agree, and the next import
/// succeeds.
#[test]
fn replicas_recover_when_the_database_goes_away_during_an_import() {
    if common::on_postgres() || std::env::var_os("OPENLMT_TEST_DATABASE_URL").is_none() {
        // (shared_database says why.)
        let _ = shared_database("replicas_db_loss");
        return;
    }
    let proxy = common::proxy::DbProxy::to_test_database();
    let Some(c) = Cluster::start_via(
        "replicas_db_loss",
        3,
        &[Some("pause=before_publish")],
        2,
        Some(proxy.port()),
    ) else {
        return;
    };
    write_scan_package(&c.source, "202612041200", "host-a");
    let before = c.snapshot(1);
    assert_eq!(run(&c.nodes[0]).status(), 200);
    c.nodes[0].wait_paused("before_publish", 60);
    let id = c.imports(1)["rows"][0]["id"].as_i64().unwrap();

    proxy.cut();
    for s in &c.nodes {
        let st = s.wait_status(20, "the status marked stale", |st| st["stale"] == true);
        assert!(st["mode"] == "running" || st["mode"] == "idle", "{st}");
        assert_eq!(s.get("/api/imports").status(), 503);
    }
    // Longer than the 3 s lease: the running replica gives its import up.
    std::thread::sleep(Duration::from_secs(5));
    proxy.restore();
    c.wait_all(&[0, 1], 60, "both idle and fresh, the import ended", |st| {
        st["mode"] == "idle"
            && st.get("stale").is_none()
            && (st["last_status"] == "failed" || st["last_status"] == "cancelled")
    });
    let row = c.nodes[1].json(&format!("/api/imports/{id}"));
    assert!(
        row["status"] == "failed" || row["status"] == "cancelled",
        "{row}"
    );
    assert!(
        row["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{row}"
    );
    assert_eq!(c.snapshot(0), before, "nothing of it is visible");
    // The two agree on how it ended (the end recorded by its replica once
    // the database was back, or by the other when the lease had passed).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let a = c.nodes[0].status();
        let b = c.nodes[1].status();
        let same = ["last_status", "last_import_time"]
            .iter()
            .all(|k| a[*k] == b[*k]);
        if same {
            break;
        }
        assert!(Instant::now() < deadline, "{a} vs {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The next import, on the other replica, succeeds.
    let next = c.nodes[1].import_and_wait();
    assert_eq!(next["status"], "successful", "{next}");
    c.wait_all(&[0, 1], 5, "both showing it", |st| {
        st["last_status"] == "successful"
    });
    assert_eq!(c.nodes[0].json("/api/sam/v2/computers")["total"], 1);
}

fn signal(sig: &str, pid: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap();
    assert!(ok.success());
}
