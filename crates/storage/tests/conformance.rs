//! The conformance suite: the storage interface's behaviour, written once
//! against [`Store`] (the `Arc<dyn Storage>` every other crate holds) and
//! run on every engine.
//!
//! Each case is an `async fn(&Store)` listed in `conformance!` at the end,
//! which makes one test per engine: `sqlite::<case>` on a fresh database
//! file, and `postgres::<case>` on a fresh database of the server named by
//! `OPENLMT_TEST_DATABASE_URL` (made and dropped by
//! `openlmt_storage::testing::TestDatabase`, migrated with the PostgreSQL
//! migrations). Without the variable the PostgreSQL tests say "SKIPPED" on
//! the terminal; with it, until the PostgreSQL engine is built, they make
//! and migrate their database and then say "NOT BUILT" (the engine refuses
//! to open), so nothing passes by pretending.
//!
//! Tests that need an engine's internals (raw SQL fixtures, SQLite's
//! pragmas, its bulk-write connection) stay beside that engine's code as
//! unit tests.

use chrono::Utc;
use openlmt_domain::{ImportStatus, ImportType, Permission, PermissionSet, Trigger};
use openlmt_storage::testing::{say_loudly, TestDatabase};
use openlmt_storage::{
    DatabaseUrl, NewScanPackageRecord, PublishOptions, RegistryState, ScanPackageState, Store,
    StoreError, INTERRUPTED,
};

/// A store of one engine for one test, with what must live as long as it.
struct Engine {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
}

impl Engine {
    async fn sqlite() -> Engine {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite:{}", dir.path().join("t.db").display())).unwrap();
        Engine {
            store: Store::open(&url).await.unwrap(),
            _dir: Some(dir),
            _db: None,
        }
    }

    /// `None` when the test cannot run on PostgreSQL, after saying why.
    async fn postgres(test: &str) -> Option<Engine> {
        let db = TestDatabase::create(test).await.unwrap()?;
        openlmt_storage::postgres::migrate(db.url()).await.unwrap();
        match Store::open(&DatabaseUrl::Postgres(db.url().to_string())).await {
            Ok(store) => Some(Engine {
                store,
                _dir: None,
                _db: Some(db),
            }),
            Err(StoreError::Unsupported(why)) => {
                say_loudly(&format!(
                    "NOT BUILT: `{test}` did not run on PostgreSQL ({why}); its database was made and migrated"
                ));
                None
            }
            Err(e) => panic!("cannot open the PostgreSQL test database: {e}"),
        }
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let e = super::Engine::sqlite().await;
                    assert_eq!(e.store.engine(), "sqlite");
                    super::$case(&e.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(e) = super::Engine::postgres(stringify!($case)).await else {
                        return;
                    };
                    assert_eq!(e.store.engine(), "postgres");
                    super::$case(&e.store).await;
                }
            )*
        }
    };
}

conformance!(
    users_passwords_and_tokens,
    sessions_resolve_touch_and_end,
    one_active_import_and_publish,
    interrupted_imports_fail_and_publish_nothing,
    history_pages_and_retention,
);

async fn users_passwords_and_tokens(s: &Store) {
    let perms: PermissionSet = [Permission::ManageImports].into_iter().collect();
    let u = s
        .create_user("alice", "correct horse", perms)
        .await
        .unwrap();
    assert!(s.create_user("alice", "another pass", perms).await.is_err());
    assert!(s
        .create_user("bad name", "correct horse", perms)
        .await
        .is_err());
    assert!(s.create_user("bob", "short", perms).await.is_err());
    assert!(s
        .check_password("alice", "wrong horse")
        .await
        .unwrap()
        .is_none());
    assert!(s
        .check_password("nobody", "correct horse")
        .await
        .unwrap()
        .is_none());
    let p = s
        .check_password("alice", "correct horse")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.permissions, perms);

    let epoch = s.auth_epoch().await.unwrap();
    let token = s.issue_token(u.id).await.unwrap();
    assert_eq!(token.len(), 80);
    // A new token needs no server to forget anything: no bump (every
    // server's cache would be emptied at each `get_token`).
    let issued_epoch = s.auth_epoch().await.unwrap();
    assert_eq!(issued_epoch, epoch);
    assert_eq!(
        s.resolve_token(&token).await.unwrap().unwrap().name,
        "alice"
    );
    // The issue time comes with the owner (for the server's token_max_age).
    let owner = s.resolve_token_owner(&token).await.unwrap().unwrap();
    let listed = s.list_tokens(Some("alice")).await.unwrap();
    assert_eq!(owner.created_at_ms, listed[0].created_at.timestamp_millis());
    let mut forged = token.clone();
    forged.replace_range(79.., if token.ends_with('0') { "1" } else { "0" });
    assert!(s.resolve_token(&forged).await.unwrap().is_none());
    assert!(s.resolve_token("short").await.unwrap().is_none());
    assert!(s.resolve_token("").await.unwrap().is_none());

    assert_eq!(s.revoke_tokens(Some(&token[..16]), None).await.unwrap(), 1);
    assert!(s.resolve_token(&token).await.unwrap().is_none());
    assert!(s.auth_epoch().await.unwrap() > issued_epoch);

    let t2 = s.issue_token(u.id).await.unwrap();
    assert!(s.remove_user("alice").await.unwrap());
    assert!(s.resolve_token(&t2).await.unwrap().is_none());
}

/// (Idle expiry needs a session aged in the database: a unit test of the
/// SQLite engine, `sessions::tests`.)
async fn sessions_resolve_touch_and_end(s: &Store) {
    let u = s
        .create_user("carol", "long-enough-pw", PermissionSet::empty())
        .await
        .unwrap();
    let id = s.create_session(u.id).await.unwrap();
    assert_eq!(id.len(), 64);
    assert_eq!(s.resolve_session(&id).await.unwrap().unwrap().name, "carol");
    assert!(s.resolve_session("nope").await.unwrap().is_none());
    assert!(s.resolve_session(&"0".repeat(64)).await.unwrap().is_none());

    // The times a cache needs; a touch moves last_seen_at forward only.
    let info = s.resolve_session_info(&id).await.unwrap().unwrap();
    assert_eq!(info.principal.name, "carol");
    assert!(info.last_seen_at_ms >= info.created_at_ms);
    s.touch_session(&id, info.last_seen_at_ms + 5_000)
        .await
        .unwrap();
    s.touch_session(&id, info.last_seen_at_ms + 1_000)
        .await
        .unwrap();
    let seen = s.resolve_session_info(&id).await.unwrap().unwrap();
    assert_eq!(seen.last_seen_at_ms, info.last_seen_at_ms + 5_000);

    // A password change ends the sessions and tells running servers.
    let epoch = s.auth_epoch().await.unwrap();
    let id4 = s.create_session(u.id).await.unwrap();
    assert!(s.set_password("carol", "another-long-pw").await.unwrap());
    assert!(s.resolve_session(&id4).await.unwrap().is_none());
    assert!(s.auth_epoch().await.unwrap() > epoch);

    let id2 = s.create_session(u.id).await.unwrap();
    assert!(s.delete_session(&id2).await.unwrap());
    assert!(s.resolve_session(&id2).await.unwrap().is_none());
    assert!(!s.delete_session(&id2).await.unwrap());

    // Removing the user ends its sessions.
    let id3 = s.create_session(u.id).await.unwrap();
    assert!(s.remove_user("carol").await.unwrap());
    assert!(s.resolve_session(&id3).await.unwrap().is_none());
}

const OPTS: PublishOptions = PublishOptions {
    complete: true,
    stale_before_ms: None,
    discovery: None,
    license_retention_days: None,
};

fn pkg(name: &str, sha: &str, state: ScanPackageState) -> NewScanPackageRecord {
    NewScanPackageRecord {
        data_source: "default".into(),
        file_name: name.into(),
        size: 10,
        sha256: sha.into(),
        seen_at: Utc::now(),
        state,
        reason: None,
        mtime_ns: None,
        endpoint_id: None,
        scan_time: None,
    }
}

async fn one_active_import_and_publish(s: &Store) {
    assert!(!s.any_import_ever().await.unwrap());
    let a = s
        .register_import(ImportType::Complete, Trigger::Api, Some("admin"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status, ImportStatus::Pending);
    assert!(s
        .register_import(ImportType::RawOnly, Trigger::Schedule, None)
        .await
        .unwrap()
        .is_none());
    assert!(s.mark_running(a.id).await.unwrap());
    s.record_scan_packages(
        a.id,
        &[
            pkg("a.zip", "aa", ScanPackageState::New),
            pkg("b.zip", "bb", ScanPackageState::Rejected),
        ],
    )
    .await
    .unwrap();
    assert!(s
        .published_scan_packages("default")
        .await
        .unwrap()
        .is_empty());
    assert!(s.publish_import(a.id, OPTS).await.unwrap());
    let published = s.published_scan_packages("default").await.unwrap();
    assert_eq!(published.len(), 2, "rejected packages are remembered too");
    assert_eq!(published["a.zip"].sha256, "aa");
    assert_eq!(published["a.zip"].state, RegistryState::Imported);
    assert_eq!(published["b.zip"].state, RegistryState::Rejected);
    let row = s.import(a.id).await.unwrap().unwrap();
    assert_eq!((row.status, row.progress), (ImportStatus::Successful, 100));
    assert_eq!(
        (
            row.scan_packages_found,
            row.scan_packages_imported,
            row.scan_packages_rejected
        ),
        (2, 1, 1)
    );
    assert!(
        !s.publish_import(a.id, OPTS).await.unwrap(),
        "publishing twice is refused"
    );
    // The slot is free again.
    let b = s
        .register_import(ImportType::RawOnly, Trigger::Cli, None)
        .await
        .unwrap()
        .unwrap();
    s.end_import(b.id, ImportStatus::Cancelled, None)
        .await
        .unwrap();
    let (last, success) = s.last_finished().await.unwrap();
    assert_eq!(last.unwrap().id, b.id);
    assert_eq!(success.unwrap().id, a.id);
}

async fn interrupted_imports_fail_and_publish_nothing(s: &Store) {
    let a = s
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(s.mark_running(a.id).await.unwrap());
    s.record_scan_packages(a.id, &[pkg("a.zip", "aa", ScanPackageState::New)])
        .await
        .unwrap();
    assert_eq!(s.recover_interrupted().await.unwrap(), vec![a.id]);
    let row = s.import(a.id).await.unwrap().unwrap();
    assert_eq!(row.status, ImportStatus::Failed);
    assert_eq!(row.error.as_deref(), Some(INTERRUPTED));
    assert!(s
        .published_scan_packages("default")
        .await
        .unwrap()
        .is_empty());
    assert!(s.active_import().await.unwrap().is_none());
}

async fn history_pages_and_retention(s: &Store) {
    for _ in 0..5 {
        let i = s
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap();
        s.end_import(i.id, ImportStatus::Failed, Some("x"))
            .await
            .unwrap();
    }
    let (total, page) = s.list_imports(2, 1).await.unwrap();
    assert_eq!(total, 5);
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![4, 3]);
    assert_eq!(s.prune_imports(3).await.unwrap(), vec![1, 2]);
    assert_eq!(s.list_imports(10, 0).await.unwrap().0, 3);
    assert!(s.any_import_ever().await.unwrap());
}
