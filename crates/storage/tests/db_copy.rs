//! `db copy` (issue 10, item 4): a SQLite database with users, tokens,
//! sessions, an import history and the corpus host's real facts, copied into
//! an empty PostgreSQL database, has every row of every table there, value
//! for value; what was made on SQLite works on PostgreSQL (a token, a
//! session, the next import's id); a second copy into the now non-empty
//! database is refused and changes nothing. PostgreSQL from
//! OPENLMT_TEST_DATABASE_URL (skipped loudly without it).

use openlmt_domain::{ImportType, PermissionSet, Trigger};
use openlmt_storage::db_copy::copy_sqlite_to_postgres;
use openlmt_storage::testing::TestDatabase;
use openlmt_storage::{
    ImportLogLine, InstalledPackageRow, PgStore, PublishOptions, ScanPackageWrite, SqliteStore,
    StagedComputer, Store,
};
use sqlx::{Row, ValueRef};
use std::sync::Arc;

#[path = "support/corpus.rs"]
mod corpus;

const OPTS: PublishOptions = PublishOptions {
    complete: true,
    stale_before_ms: None,
    discovery: None,
    license_retention_days: None,
};

/// Every row of every table, each value as text (bytes in hex), sorted.
async fn sqlite_rows(s: &SqliteStore, table: &str) -> Vec<Vec<Option<String>>> {
    let rows = sqlx::query(&format!("SELECT * FROM {table}"))
        .fetch_all(s.pool())
        .await
        .unwrap();
    let mut out: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    let raw = r.try_get_raw(i).unwrap();
                    if raw.is_null() {
                        return None;
                    }
                    Some(match raw.type_info().to_string().as_str() {
                        "INTEGER" => r.get::<i64, _>(i).to_string(),
                        "BLOB" => hex::encode(r.get::<Vec<u8>, _>(i)),
                        _ => r.get::<String, _>(i),
                    })
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

async fn postgres_rows(p: &PgStore, table: &str, columns: &[String]) -> Vec<Vec<Option<String>>> {
    let list = columns
        .iter()
        .map(|c| format!("{c}::TEXT"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(&format!("SELECT {list} FROM {table}"))
        .fetch_all(p.pool())
        .await
        .unwrap();
    let mut out: Vec<Vec<Option<String>>> = rows
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| {
                    r.get::<Option<String>, _>(i)
                        .map(|v| v.strip_prefix("\\x").map_or(v.clone(), str::to_string))
                })
                .collect()
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_sqlite_database_copies_whole_into_an_empty_postgres_database() {
    let Some(db) = TestDatabase::create("db_copy").await.unwrap() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open_sqlite(&dir.path().join("openlmt.db"))
        .await
        .unwrap();
    let s = Store::new(Arc::new(sqlite.clone()));
    let admin = s
        .create_user("admin", "a long password", PermissionSet::all())
        .await
        .unwrap();
    let token = s.issue_token(admin.id).await.unwrap();
    let session = s.create_session(admin.id).await.unwrap();
    // The newest user removed: SQLite never gives its id again (its
    // AUTOINCREMENT record remembers it), and PostgreSQL must not either.
    let gone = s
        .create_user("leaver", "another long password", PermissionSet::all())
        .await
        .unwrap();
    assert!(s.remove_user("leaver").await.unwrap());
    let mut last_import = 0;
    for day in 0..2 {
        let import = s
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap();
        assert!(s.mark_running(import.id).await.unwrap());
        let keys: Vec<(String, String)> = (0..3)
            .map(|n| ("default".to_string(), format!("host-{n}")))
            .collect();
        let ids = s.computer_ids(&keys).await.unwrap();
        let batch: Vec<ScanPackageWrite> = keys
            .iter()
            .map(|k| ScanPackageWrite {
                computer: StagedComputer {
                    computer_id: ids[k],
                    name: Some(k.1.clone()),
                    scan_time_ms: 1_795_867_200_000 + day * 86_400_000,
                    ..StagedComputer::default()
                },
                installed_packages: corpus::corpus_installed_packages(),
                ..ScanPackageWrite::default()
            })
            .collect();
        s.write_scan_packages(import.id, &batch).await.unwrap();
        assert!(s.publish_import(import.id, OPTS).await.unwrap());
        // Its log lines (the table `import_log_lines`).
        let lines: Vec<ImportLogLine> = ["Import started", "Published in one transaction"]
            .iter()
            .enumerate()
            .map(|(n, m)| ImportLogLine {
                import_id: import.id,
                at: chrono::DateTime::from_timestamp_millis(1_795_867_200_000 + n as i64).unwrap(),
                level: "INFO".to_string(),
                message: m.to_string(),
            })
            .collect();
        assert_eq!(s.append_import_log(&lines).await.unwrap(), 2);
        last_import = import.id;
    }

    let pg = PgStore::open(db.url()).await.unwrap();
    let copied = copy_sqlite_to_postgres(&sqlite, &pg).await.unwrap();
    let total: u64 = copied.iter().map(|t| t.rows).sum();
    assert!(total > 2 * 3 * 759, "{copied:?}");
    for t in &copied {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(&t.table)
                .fetch_all(sqlite.pool())
                .await
                .unwrap();
        let want = sqlite_rows(&sqlite, &t.table).await;
        assert_eq!(want.len() as u64, t.rows, "{}", t.table);
        assert_eq!(
            postgres_rows(&pg, &t.table, &columns).await,
            want,
            "table {}",
            t.table
        );
    }

    assert!(
        copied
            .iter()
            .any(|t| t.table == "import_log_lines" && t.rows == 4),
        "{copied:?}"
    );

    // What was made on SQLite works on PostgreSQL.
    let p = Store::new(Arc::new(pg.clone()));
    assert_eq!(p.import_log(last_import).await.unwrap().len(), 2);
    assert_eq!(
        p.resolve_token(&token).await.unwrap().map(|u| u.name),
        Some("admin".to_string())
    );
    assert!(p.resolve_session(&session).await.unwrap().is_some());
    assert_eq!(
        p.check_password("admin", "a long password")
            .await
            .unwrap()
            .map(|u| u.name),
        Some("admin".to_string())
    );
    let next = p
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(next.id > last_import, "identities continue after the copy");
    let newcomer = p
        .create_user("newcomer", "a third long password", PermissionSet::all())
        .await
        .unwrap();
    assert!(
        newcomer.id > gone.id,
        "a removed user's id is not given again ({} after {})",
        newcomer.id,
        gone.id
    );

    // A second copy is refused whole: the target is no longer empty.
    let e = copy_sqlite_to_postgres(&sqlite, &pg).await.unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
}
