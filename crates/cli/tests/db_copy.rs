//! Black-box test of `openlmt db copy` (issue 10, item 4): an installation on
//! SQLite with an import of the corpus host's real package, copied into an
//! empty PostgreSQL database, then served from PostgreSQL on the same data
//! directory, answers the same: the computers, the raw facts, the software
//! instances, the import history, and the tokens issued before the move.
//! Needs OPENLMT_TEST_DATABASE_URL (skipped loudly without it); runs in the
//! SQLite pass of the suite only (it moves *from* SQLite).

mod common;

use common::{on_postgres, write_scan_package, TestServer};
use openlmt_storage::testing::{say_loudly, TestDatabase};
use serde_json::Value;

const PAGES: [&str; 5] = [
    "/api/sam/v2/computers?limit=100000",
    "/api/sam/raw_package_facts?limit=100000",
    "/api/sam/raw_swid_tags?limit=100000",
    "/api/sam/v2/software_instances?limit=100000",
    "/api/imports?limit=100",
];

fn pages(s: &TestServer, token: &str) -> Vec<Value> {
    PAGES
        .iter()
        .map(|p| {
            let r = s.get_as(token, p);
            assert_eq!(r.status(), 200, "{p}");
            r.json().unwrap()
        })
        .collect()
}

#[test]
fn an_installation_moves_from_sqlite_to_postgres_with_its_history() {
    if on_postgres() {
        say_loudly("SKIPPED on PostgreSQL: db_copy moves an installation from SQLite");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(TestDatabase::create("bb_db_copy")).unwrap() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");

    let mut s = TestServer::builder().data_dir(&dir).start();
    write_scan_package(&s.datasource(), "202611281200", "host-a");
    write_scan_package(&s.datasource(), "202611281200", "host-b");
    assert_eq!(s.import_and_wait()["status"], "successful");
    let token = s.admin_token.clone();
    let before = pages(&s, &token);
    assert_eq!(
        before[1]["total"],
        2 * 759,
        "the corpus host's packages, twice"
    );
    assert!(
        before[3]["total"].as_i64().unwrap() > 0,
        "software instances"
    );
    let (status, _) = s.sigterm();
    assert!(status.success());

    // A target that is not PostgreSQL, or a missing source: refused.
    let out = common::cli(&dir)
        .args([
            "db",
            "copy",
            "--from",
            "sqlite:/nonexistent/openlmt.db",
            "--to",
            db.url(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no SQLite database"));

    let from = format!("sqlite:{}", dir.join("openlmt.db").display());
    // With a password in the URL (the test server trusts local connections
    // and ignores it), to check that the command never prints it.
    // (The URL's user part, "scheme://user", gets a password; a URL
    // without a user is used as it is.)
    let with_password = match db.url().split_once('@') {
        Some((user, host)) if !user.rsplit('/').next().unwrap_or("").contains(':') => {
            format!("{user}:pw-s3cret@{host}")
        }
        _ => db.url().to_string(),
    };
    let out = common::cli(&dir)
        .args(["db", "copy", "--from", &from, "--to", &with_password])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("installed_packages"), "{stdout}");
    assert!(
        stdout.contains("every table's row count is the same"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("pw-s3cret")
            && !String::from_utf8_lossy(&out.stderr).contains("pw-s3cret"),
        "the password is printed: {stdout}"
    );

    // The same installation on PostgreSQL: the same answers, the old token.
    let p = TestServer::builder()
        .data_dir(&dir)
        .env("OPENLMT_DATABASE_URL", db.url())
        .start();
    assert_eq!(pages(&p, &token), before);
    // And it goes on: a new import there succeeds with the same data.
    assert_eq!(p.import_and_wait()["status"], "successful");
    assert_eq!(
        p.json("/api/sam/raw_package_facts?limit=1")["total"],
        2 * 759
    );

    // A second copy into the now non-empty database is refused.
    let out = common::cli(&dir)
        .args(["db", "copy", "--from", &from, "--to", db.url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    drop(p);
}
