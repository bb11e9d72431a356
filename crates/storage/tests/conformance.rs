//! The conformance suite: the storage interface's behaviour, written once
//! against [`Store`] (the `Arc<dyn Storage>` every other crate holds) and
//! run on every engine.
//!
//! Each case is an `async fn(&Store)` listed in `conformance!` at the end,
//! which makes one test per engine: `sqlite::<case>` on a fresh database
//! file, and `postgres::<case>` on a fresh database of the server named by
//! `OPENLMT_TEST_DATABASE_URL` (made and dropped by
//! `openlmt_storage::testing::TestDatabase`, migrated with the PostgreSQL
//! migrations, opened as a `PgStore`). Without the variable the PostgreSQL
//! tests say "SKIPPED" on the terminal; with it, a server that cannot be
//! reached fails them.
//!
//! Tests that need an engine's internals (raw SQL fixtures, SQLite's
//! pragmas, its bulk-write connection) stay beside that engine's code as
//! unit tests.

use chrono::{NaiveDate, Utc};
use openlmt_domain::query::{Condition, Entity, FieldKind, Filter, Op, Page, Query, Sort, Value};
use openlmt_domain::{ImportStatus, ImportType, Permission, PermissionSet, Trigger};
use openlmt_storage::testing::TestDatabase;
use openlmt_storage::DiscoveryTarget;
use openlmt_storage::{
    BundlingOptionList, ClassificationAuditList, ComputerList, DatabaseUrl, DeleteOutcome,
    HardwareIdentityRow, Holding, ImportLogLine, InstalledPackageList, InstalledPackageRow,
    InstanceChange, InstanceValues, InventoryCatalog, InventoryComponent, InventoryOption,
    InventoryProduct, LeftoverCounts, Leftovers, LicenseServerUsageList, LicenseSnapshotWrite,
    NewInstance, NewScanPackageRecord, PgStore, PublishOptions, RefRowSink, RegistryState,
    ScanPackageState, ScanPackageWrite, ServerValue, SnapshotPartition, SnapshotServer,
    SoftwareComponentList, SoftwareInstanceList, SoftwareInstanceRef, SoftwareInstanceRow,
    SqliteStore, StagedComputer, Store, StoredSnapshot, StreamEnd, SwidFactRow, SwidTagList,
    UnresolvedCharge, UsageCalculator, VmGuestRow, VmScanRow, INTERRUPTED,
    VM_OBSERVATION_RETENTION_DAYS,
};
use openlmt_storage::{ClassifyRequest, ComputerRef, InstanceRef, RowOutcome};
use std::collections::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A store of one engine for one test, with what must live as long as it.
struct Engine {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDatabase>,
    url: DatabaseUrl,
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
            url,
        }
    }

    /// `None` when the test cannot run on PostgreSQL (no
    /// `OPENLMT_TEST_DATABASE_URL`), after saying so. Opened as the server
    /// opens it (`Store::open` on its `postgres://` URL).
    async fn postgres(test: &str) -> Option<Engine> {
        let db = TestDatabase::create(test).await.unwrap()?;
        let url = DatabaseUrl::parse(db.url()).unwrap();
        let store = Store::open(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open the PostgreSQL test database: {e}"));
        Some(Engine {
            store,
            _dir: None,
            _db: Some(db),
            url,
        })
    }

    /// What a database administrator's maintenance does to the fact tables:
    /// `VACUUM`, which lets PostgreSQL put new rows into space freed in
    /// earlier pages, and may renumber the rowids of an SQLite table that has
    /// no INTEGER PRIMARY KEY. (Beside the store, on a connection of its own,
    /// as an administrator would.)
    async fn vacuum(&self) {
        match &self.url {
            DatabaseUrl::Sqlite(path) => {
                let db = SqliteStore::open_sqlite(path).await.unwrap();
                sqlx::raw_sql("VACUUM").execute(db.pool()).await.unwrap();
                db.pool().close().await;
            }
            DatabaseUrl::Postgres(url) => {
                let db = PgStore::open(url).await.unwrap();
                sqlx::raw_sql("VACUUM installed_packages, swid_facts, vm_guest_observations")
                    .execute(db.pool())
                    .await
                    .unwrap();
                db.pool().close().await;
            }
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
    import_log_lines_in_order_and_pruned_with_their_import,
    one_import_among_concurrent_registrations,
    steps_and_recorded_package_states,
    facts_publish_supersede_and_clean_up,
    fact_values_round_trip_byte_for_byte,
    kept_facts_stay_and_are_never_superseded,
    vm_observations_publish_with_their_import,
    discovery_and_licence_publish,
    pvu_table_and_overrides,
    lists_filter_sort_and_page,
    every_field_of_every_list_filters_and_sorts,
    classification_applies_audits_and_recomputes,
    audit_snapshot_reads,
);

/// The cases that also need the engine beside the store (maintenance an
/// administrator runs), one test per engine as above.
mod with_engine {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_facts_and_guests_come_in_the_order_written() {
        let e = super::Engine::sqlite().await;
        super::facts_and_guests_come_in_the_order_written(&e).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_facts_and_guests_come_in_the_order_written() {
        let Some(e) = super::Engine::postgres("facts_order").await else {
            return;
        };
        super::facts_and_guests_come_in_the_order_written(&e).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_nodes_lease_fence_and_pass_cancels() {
        let e = super::Engine::sqlite().await;
        super::nodes_lease_fence_and_pass_cancels(&e).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_nodes_lease_fence_and_pass_cancels() {
        let Some(e) = super::Engine::postgres("nodes_lease").await else {
            return;
        };
        super::nodes_lease_fence_and_pass_cancels(&e).await;
    }
}

/// Two servers on one database (two stores, nodes `a` and `b`, with a
/// lease of 700 ms): which node holds the import, the lease renewed only
/// by its node, a cancel asked for on `b` read by `a`'s heartbeat, a lease
/// that passes ended by the other node with the message naming the node,
/// the publish of an import whose lease passed refused (fencing), start-up
/// recovery that leaves another node's live import alone (on a shared
/// engine), and the compare-and-set the schedule's slot is claimed with.
async fn nodes_lease_fence_and_pass_cancels(e: &Engine) {
    use openlmt_storage::{lease_expired_error, Lease, NodeConfig};
    const LEASE: std::time::Duration = std::time::Duration::from_millis(700);
    let a = &e.store;
    let b = Store::open(&e.url).await.unwrap();
    for (s, name) in [(a, "a"), (&b, "b")] {
        s.set_node(NodeConfig {
            name: name.into(),
            lease: Some(LEASE),
        });
    }
    let first = a
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.node.as_deref(), Some("a"));
    assert!(b
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .is_none());
    let view = b.cluster_view().await.unwrap();
    let active = view.active.unwrap();
    assert_eq!((active.id, active.node.as_deref()), (first.id, Some("a")));
    assert_eq!(active.status, ImportStatus::Pending);
    assert_eq!(view.last_finished, None);
    assert!(a.mark_running(first.id).await.unwrap());
    assert_eq!(
        a.renew_lease(first.id).await.unwrap(),
        Lease::Held {
            cancel_requested: None
        }
    );
    assert_eq!(b.renew_lease(first.id).await.unwrap(), Lease::Lost);
    assert!(b
        .request_cancel(first.id, "cancelled by bob")
        .await
        .unwrap());
    assert_eq!(
        a.renew_lease(first.id).await.unwrap(),
        Lease::Held {
            cancel_requested: Some("cancelled by bob".into())
        }
    );
    // Renewed: nothing to expire yet.
    assert!(b.expire_leases().await.unwrap().is_empty());
    // A restart of `b` leaves `a`'s live import alone on a shared engine
    // (SQLite has one server: whatever is active at its start was its own).
    if a.shared() {
        assert!(b.recover_interrupted().await.unwrap().is_empty());
        // `a` stops renewing: its lease passes and `b` ends the import.
        tokio::time::sleep(LEASE + std::time::Duration::from_millis(300)).await;
        assert_eq!(
            b.expire_leases().await.unwrap(),
            vec![(first.id, Some("a".to_string()))]
        );
        let row = b.import(first.id).await.unwrap().unwrap();
        assert_eq!(row.status, ImportStatus::Failed);
        assert_eq!(
            row.error.as_deref(),
            Some("interrupted: node a stopped during the import")
        );
        assert_eq!(row.error, Some(lease_expired_error(Some("a"))));
        assert_eq!(a.renew_lease(first.id).await.unwrap(), Lease::Lost);
        assert!(!b.request_cancel(first.id, "too late").await.unwrap());
        assert_eq!(
            b.cluster_view().await.unwrap().last_finished,
            Some(first.id)
        );
    } else {
        tokio::time::sleep(LEASE + std::time::Duration::from_millis(300)).await;
        assert_eq!(b.expire_leases().await.unwrap().len(), 1);
    }
    // Fencing: the lease of `a`'s next import passes before its publish,
    // which is refused, even though no node has ended it yet.
    let second = a
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(a.mark_running(second.id).await.unwrap());
    a.record_scan_packages(second.id, &[pkg("f.zip", "ff", ScanPackageState::New)])
        .await
        .unwrap();
    tokio::time::sleep(LEASE + std::time::Duration::from_millis(300)).await;
    assert!(!a.publish_import(second.id, OPTS).await.unwrap());
    assert!(a
        .published_scan_packages("default")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(b.expire_leases().await.unwrap().len(), 1);
    // A renewed lease publishes.
    let third = a
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(a.mark_running(third.id).await.unwrap());
    a.record_scan_packages(third.id, &[pkg("g.zip", "gg", ScanPackageState::New)])
        .await
        .unwrap();
    tokio::time::sleep(LEASE / 2).await;
    assert!(matches!(
        a.renew_lease(third.id).await.unwrap(),
        Lease::Held { .. }
    ));
    tokio::time::sleep(LEASE / 2).await;
    assert!(a.publish_import(third.id, OPTS).await.unwrap());
    // A restart of `a` itself fails its own active import.
    let fourth = a
        .register_import(ImportType::RawOnly, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.recover_interrupted().await.unwrap(), vec![fourth.id]);
    assert_eq!(
        a.import(fourth.id).await.unwrap().unwrap().error.as_deref(),
        Some(INTERRUPTED)
    );
    // The schedule's slot: one node wins each compare-and-set.
    assert!(a.meta_replace("slot", None, "1").await.unwrap());
    assert!(!b.meta_replace("slot", None, "1").await.unwrap());
    assert!(b.meta_replace("slot", Some("1"), "2").await.unwrap());
    assert!(!a.meta_replace("slot", Some("1"), "3").await.unwrap());
    assert_eq!(a.meta_get("slot").await.unwrap().as_deref(), Some("2"));
}

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

/// The import log in the database: lines come back in the order stored
/// (not by time), byte for byte, a line break flattened, time to the
/// millisecond; a line of an import that does not exist is dropped without
/// failing its batch; the lines go with their import when history
/// retention deletes it; several batches (and writers) append.
async fn import_log_lines_in_order_and_pruned_with_their_import(s: &Store) {
    let line = |import_id: i64, ms: i64, level: &str, message: &str| ImportLogLine {
        import_id,
        at: chrono::DateTime::from_timestamp_millis(ms).unwrap(),
        level: level.to_string(),
        message: message.to_string(),
    };
    let a = s
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert!(s.import_log(a).await.unwrap().is_empty());
    assert_eq!(s.append_import_log(&[]).await.unwrap(), 0);
    let stored = s
        .append_import_log(&[
            line(
                a,
                1_795_867_200_123,
                "INFO",
                "Import 1 started: type complete",
            ),
            line(
                a,
                1_795_867_200_122,
                "WARN",
                "Package `x.zip` rejected:\nnot a zip",
            ),
            line(a + 100, 1_795_867_200_124, "INFO", "no such import"),
            line(
                a,
                1_795_867_200_125,
                "ERROR",
                "ünïcödé ✓ 'quotes' \"and\" \\ \t tabs",
            ),
        ])
        .await
        .unwrap();
    assert_eq!(stored, 3);
    // A second batch, from another "writer", comes after the first.
    let many: Vec<ImportLogLine> = (0..250)
        .map(|n| line(a, 1_795_867_201_000 + n, "INFO", &format!("line {n}")))
        .collect();
    assert_eq!(s.append_import_log(&many).await.unwrap(), 250);
    let got = s.import_log(a).await.unwrap();
    assert_eq!(got.len(), 253);
    assert_eq!(
        got[..3],
        [
            line(
                a,
                1_795_867_200_123,
                "INFO",
                "Import 1 started: type complete"
            ),
            line(
                a,
                1_795_867_200_122,
                "WARN",
                "Package `x.zip` rejected: not a zip"
            ),
            line(
                a,
                1_795_867_200_125,
                "ERROR",
                "ünïcödé ✓ 'quotes' \"and\" \\ \t tabs"
            ),
        ]
    );
    assert_eq!(got[3..], many[..]);
    assert!(s.import_log(a + 100).await.unwrap().is_empty());

    s.end_import(a, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    let b = s
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap()
        .id;
    assert_eq!(
        s.append_import_log(&[
            line(b, 1, "INFO", "b's line"),
            line(a, 2, "INFO", "a again")
        ])
        .await
        .unwrap(),
        2
    );
    assert_eq!(s.import_log(a).await.unwrap().len(), 254);
    s.end_import(b, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    assert_eq!(s.prune_imports(1).await.unwrap(), vec![a]);
    assert!(s.import_log(a).await.unwrap().is_empty());
    assert_eq!(
        s.import_log(b).await.unwrap(),
        vec![line(b, 1, "INFO", "b's line")]
    );
    // A line for the pruned import is dropped, not an error.
    assert_eq!(
        s.append_import_log(&[line(a, 3, "INFO", "too late")])
            .await
            .unwrap(),
        0
    );
}

/// Many registrations at once, from many connections: exactly one import
/// becomes active (the database decides, not the process).
async fn one_import_among_concurrent_registrations(s: &Store) {
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let trigger = if i % 2 == 0 {
                Trigger::Api
            } else {
                Trigger::Schedule
            };
            s.register_import(ImportType::Complete, trigger, None)
                .await
                .unwrap()
        }));
    }
    let mut registered = Vec::new();
    for t in tasks {
        if let Some(row) = t.await.unwrap() {
            registered.push(row);
        }
    }
    assert_eq!(registered.len(), 1, "{registered:?}");
    let active = s.active_import().await.unwrap().unwrap();
    assert_eq!(active.id, registered[0].id);
    assert_eq!(s.list_imports(100, 0).await.unwrap().0, 1);
    s.end_import(active.id, ImportStatus::Cancelled, None)
        .await
        .unwrap();
    assert!(s.active_import().await.unwrap().is_none());
    let next = s
        .register_import(ImportType::RawOnly, Trigger::Cli, Some("me"))
        .await
        .unwrap()
        .unwrap();
    assert!(next.id > active.id);
    assert_eq!(next.requested_by.as_deref(), Some("me"));
}

async fn steps_and_recorded_package_states(s: &Store) {
    let a = s
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(s.mark_running(a.id).await.unwrap());
    assert!(!s.mark_running(a.id).await.unwrap(), "only a pending one");
    s.set_progress(a.id, 40).await.unwrap();
    assert_eq!(s.import(a.id).await.unwrap().unwrap().progress, 40);
    s.start_step(a.id, 1, "find").await.unwrap();
    s.start_step(a.id, 2, "read").await.unwrap();
    let c = openlmt_storage::StepCounters {
        read: 3,
        imported: 2,
        rejected: 1,
        warnings: 4,
    };
    s.save_step(a.id, 1, c, true).await.unwrap();
    s.save_step(a.id, 2, c, false).await.unwrap();
    let steps = s.import_steps(a.id).await.unwrap();
    assert_eq!(
        steps.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
        ["find", "read"]
    );
    assert_eq!(steps[0].counters, c);
    assert!(steps[0].finished_at.is_some() && steps[1].finished_at.is_none());
    assert!(steps[1].started_at.is_some());

    // Recording a package again replaces what was recorded of it, also
    // twice in one batch (the last wins).
    let mut b = pkg("b.zip", "b0", ScanPackageState::New);
    b.mtime_ns = Some(7);
    b.endpoint_id = Some("host-b".into());
    let mut b2 = b.clone();
    b2.sha256 = "bb".into();
    s.record_scan_packages(
        a.id,
        &[
            pkg("a.zip", "aa", ScanPackageState::New),
            b,
            b2,
            pkg("c.zip", "cc", ScanPackageState::New),
            pkg("d.zip", "dd", ScanPackageState::AlreadyImported),
        ],
    )
    .await
    .unwrap();
    s.record_scan_packages(a.id, &[pkg("a.zip", "a2", ScanPackageState::New)])
        .await
        .unwrap();
    // Rejected while reading: c keeps its hash (remembered as rejected),
    // a's could not be read (forgotten, so looked at again next time).
    s.set_scan_package_states(
        a.id,
        &[
            openlmt_storage::ScanPackageStateChange {
                data_source: "default".into(),
                file_name: "c.zip".into(),
                state: ScanPackageState::Rejected,
                reason: Some("not a scan package".into()),
                forget_content: false,
            },
            openlmt_storage::ScanPackageStateChange {
                data_source: "default".into(),
                file_name: "a.zip".into(),
                state: ScanPackageState::Rejected,
                reason: Some("unreadable".into()),
                forget_content: true,
            },
        ],
    )
    .await
    .unwrap();
    let all = s.import_scan_packages(a.id, None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|p| (p.file_name.as_str(), p.state, p.sha256.as_str()))
            .collect::<Vec<_>>(),
        [
            ("a.zip", ScanPackageState::Rejected, ""),
            ("b.zip", ScanPackageState::New, "bb"),
            ("c.zip", ScanPackageState::Rejected, "cc"),
            ("d.zip", ScanPackageState::AlreadyImported, "dd"),
        ]
    );
    assert_eq!(all[1].mtime_ns, Some(7));
    assert_eq!(all[1].endpoint_id.as_deref(), Some("host-b"));
    let rejected = s
        .import_scan_packages(a.id, Some(ScanPackageState::Rejected))
        .await
        .unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[1].reason.as_deref(), Some("not a scan package"));

    assert!(s.publish_import(a.id, OPTS).await.unwrap());
    let published = s.published_scan_packages("default").await.unwrap();
    let mut names: Vec<&str> = published.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(names, ["b.zip", "c.zip"]);
    assert_eq!(published["c.zip"].state, RegistryState::Rejected);
    assert_eq!(published["b.zip"].mtime_ns, Some(7));
    let row = s.import(a.id).await.unwrap().unwrap();
    assert_eq!(
        (
            row.scan_packages_found,
            row.scan_packages_imported,
            row.scan_packages_rejected
        ),
        (4, 1, 2)
    );
    // A publish of another import replaces a remembered package.
    let b = s
        .register_import(ImportType::RawOnly, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(s.mark_running(b.id).await.unwrap());
    s.record_scan_packages(b.id, &[pkg("c.zip", "c2", ScanPackageState::New)])
        .await
        .unwrap();
    assert!(s
        .publish_import(
            b.id,
            PublishOptions {
                complete: false,
                ..OPTS
            }
        )
        .await
        .unwrap());
    let published = s.published_scan_packages("default").await.unwrap();
    assert_eq!(published["c.zip"].sha256, "c2");
    assert_eq!(published["c.zip"].state, RegistryState::Imported);
}

fn facts_for(computer_id: i64, names: &[&str]) -> ScanPackageWrite {
    ScanPackageWrite {
        computer: StagedComputer {
            computer_id,
            name: Some(format!("host-{computer_id}")),
            ip_addresses: vec!["10.0.0.1".into()],
            scan_time_ms: 1_795_867_200_000,
            sockets: 2,
            cores: Some(8),
            is_virtual: true,
            ..StagedComputer::default()
        },
        installed_packages: names
            .iter()
            .map(|n| InstalledPackageRow {
                name: (*n).into(),
                version: "1.0".into(),
                architecture: Some("amd64".into()),
                vendor: None,
                source: "dpkg",
            })
            .collect(),
        swid_tags: vec![SwidFactRow {
            tag_id: format!("tag-{computer_id}"),
            name: "Tagged".into(),
            version: Some("2".into()),
            regid: Some("regid.example".into()),
            vendor: None,
            schema: "2015",
            persistent_id: None,
            directory: Some("/opt/x".into()),
        }],
        vm_scans: vec![],
        vm_only: false,
    }
}

async fn start(s: &Store) -> i64 {
    let i = s
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await
        .unwrap()
        .unwrap();
    assert!(s.mark_running(i.id).await.unwrap());
    i.id
}

fn key(endpoint: &str) -> (String, String) {
    ("default".to_string(), endpoint.to_string())
}

/// Facts written under an import stay invisible until its publish; a
/// publish supersedes the computer's older facts; the clean-up deletes
/// what no one sees and never the active import's.
async fn facts_publish_supersede_and_clean_up(s: &Store) {
    // Import 1 publishes host a (2 packages and a tag).
    let one = start(s).await;
    let ids = s.computer_ids(&[key("a")]).await.unwrap();
    let a = ids[&key("a")];
    assert_eq!(s.computer_ids(&[key("a")]).await.unwrap()[&key("a")], a);
    s.write_scan_packages(one, &[facts_for(a, &["bash", "zsh"])])
        .await
        .unwrap();
    assert_eq!(s.import_fact_count(one).await.unwrap(), 3);
    s.checkpoint_passive().await.unwrap();
    assert!(s.published_scan_times("default").await.unwrap().is_empty());
    assert!(s.computer_identities().await.unwrap().is_empty());
    assert!(s.publish_import(one, OPTS).await.unwrap());
    assert_eq!(
        s.published_scan_times("default").await.unwrap()["a"],
        1_795_867_200_000
    );
    let idents = s.computer_identities().await.unwrap();
    assert_eq!(idents.len(), 1);
    assert_eq!(
        (
            idents[0].computer_id,
            idents[0].name.as_deref(),
            idents[0].sockets,
            idents[0].cores,
            idents[0].is_virtual,
            idents[0].is_deleted
        ),
        (a, Some("host-1"), Some(2), Some(8), Some(true), false)
    );

    // Import 2 publishes a newer scan of a and registered b, which it
    // never wrote; its clean-up does not run.
    let two = start(s).await;
    let ids = s.computer_ids(&[key("a"), key("b")]).await.unwrap();
    let b = ids[&key("b")];
    assert_ne!(a, b);
    s.write_scan_packages(two, &[facts_for(a, &["bash", "zsh", "vim"])])
        .await
        .unwrap();
    assert!(s.publish_import(two, OPTS).await.unwrap());
    // Import 3 writes host c, then stays active.
    let three = start(s).await;
    let c = s.computer_ids(&[key("c")]).await.unwrap()[&key("c")];
    s.write_scan_packages(three, &[facts_for(c, &["emacs"])])
        .await
        .unwrap();
    let counts = s.leftover_counts().await.unwrap();
    assert_eq!(
        (counts.invisible_facts, counts.superseded_records),
        (3, 1),
        "import 1's facts await deletion; the active import's are not counted"
    );
    let done = s.clean_leftovers().await.unwrap();
    assert_eq!(
        done,
        Leftovers {
            superseded_facts: 3,
            ..Leftovers::default()
        }
    );
    assert_eq!(s.import_fact_count(one).await.unwrap(), 0);
    assert_eq!(s.import_fact_count(two).await.unwrap(), 4);
    assert_eq!(s.import_fact_count(three).await.unwrap(), 2);

    // Import 3 fails, and its own discard never ran.
    s.end_import(three, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    let done = s.clean_leftovers().await.unwrap();
    assert_eq!(
        done,
        Leftovers {
            unpublished_facts: 2,
            placeholder_computers: 2,
            ..Leftovers::default()
        },
        "c's facts, and the never-published b and c"
    );
    assert_eq!(
        s.leftover_counts().await.unwrap(),
        LeftoverCounts::default()
    );
    assert_eq!(
        s.import_fact_count(two).await.unwrap(),
        4,
        "what is visible stays"
    );
    assert_eq!(s.clean_leftovers().await.unwrap(), Leftovers::default());
    // The placeholder rows are gone: b gets a new id.
    assert_ne!(s.computer_ids(&[key("b")]).await.unwrap()[&key("b")], b);

    // A failed import's facts go with its own discard too.
    let four = start(s).await;
    s.write_scan_packages(four, &[facts_for(a, &["nano"])])
        .await
        .unwrap();
    s.end_import(four, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    assert_eq!(s.discard_import_facts(four).await.unwrap(), 2);
    assert_eq!(s.import_fact_count(two).await.unwrap(), 4);
}

/// Fact values come back byte for byte whatever they hold: the characters
/// PostgreSQL's `COPY` text format escapes (backslash, tab, newline,
/// carriage return), the two characters of its NULL marker, non-ASCII
/// text, empty strings, and NULLs beside values.
async fn fact_values_round_trip_byte_for_byte(s: &Store) {
    let one = start(s).await;
    let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
    let odd = [
        "tab\there",
        "line\nbreak",
        "cr\rhere",
        "back\\slash",
        "\\N",
        "N\\",
        "\\\t\\n",
        "ünïcødé ✓",
        "",
    ];
    let mut w = facts_for(a, &[]);
    w.installed_packages = odd
        .iter()
        .enumerate()
        .map(|(i, v)| InstalledPackageRow {
            name: format!("{v}-{i}"),
            version: v.to_string(),
            architecture: (i % 2 == 0).then(|| v.to_string()),
            vendor: (i % 2 == 1).then(|| v.to_string()),
            source: if i % 3 == 0 { "rpm" } else { "dpkg" },
        })
        .collect();
    w.swid_tags = odd
        .iter()
        .enumerate()
        .map(|(i, v)| SwidFactRow {
            tag_id: format!("{v}-{i}"),
            name: v.to_string(),
            version: Some(v.to_string()),
            regid: (i % 2 == 0).then(|| v.to_string()),
            vendor: None,
            schema: "2015",
            persistent_id: (i % 2 == 1).then(|| v.to_string()),
            directory: Some(v.to_string()),
        })
        .collect();
    s.write_scan_packages(one, std::slice::from_ref(&w))
        .await
        .unwrap();
    let targets = s.discovery_targets(one, true).await.unwrap();
    let sets = s.computer_fact_sets(&targets).await.unwrap();
    assert_eq!(sets.len(), 1);
    let mut packages: Vec<_> = sets[0]
        .packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                p.vendor.clone(),
                p.source.clone(),
            )
        })
        .collect();
    let mut want: Vec<_> = w
        .installed_packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.architecture.clone(),
                p.vendor.clone(),
                p.source.to_string(),
            )
        })
        .collect();
    packages.sort();
    want.sort();
    assert_eq!(packages, want);
    let mut tags: Vec<_> = sets[0]
        .tags
        .iter()
        .map(|t| {
            (
                t.tag_id.clone(),
                t.name.clone(),
                t.version.clone(),
                t.regid.clone(),
                t.persistent_id.clone(),
                t.directory.clone(),
            )
        })
        .collect();
    let mut want: Vec<_> = w
        .swid_tags
        .iter()
        .map(|t| {
            (
                t.tag_id.clone(),
                t.name.clone(),
                t.version.clone(),
                t.regid.clone(),
                t.persistent_id.clone(),
                t.directory.clone(),
            )
        })
        .collect();
    tags.sort();
    want.sort();
    assert_eq!(tags, want);
    assert_eq!(
        s.import_fact_count(one).await.unwrap(),
        2 * odd.len() as u64
    );
}

/// The daily re-import: a computer whose new package has the digest of its
/// published facts keeps those rows (nothing written, nothing superseded,
/// the new scan time published); a kept computer whose published digest
/// changed meanwhile fails the publish, which then changes nothing.
async fn kept_facts_stay_and_are_never_superseded(s: &Store) {
    let digested = |id: i64, names: &[&str], digest: &str, kept: bool| {
        let mut w = facts_for(id, if kept { &[] } else { names });
        w.computer.facts_digest = Some(digest.into());
        w.computer.facts_kept = kept;
        if kept {
            w.swid_tags.clear();
        }
        w
    };
    let one = start(s).await;
    let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
    s.write_scan_packages(one, &[digested(a, &["bash", "zsh"], "d1", false)])
        .await
        .unwrap();
    assert!(s.publish_import(one, OPTS).await.unwrap());
    assert_eq!(
        s.published_facts_digests(&[a, a + 100]).await.unwrap(),
        HashMap::from([(a, "d1".to_string())])
    );

    // Import 2: a's facts kept (a later scan), b new.
    let two = start(s).await;
    let ids = s.computer_ids(&[key("a"), key("b")]).await.unwrap();
    let b = ids[&key("b")];
    let mut kept = digested(a, &[], "d1", true);
    kept.computer.scan_time_ms += 86_400_000;
    s.write_scan_packages(two, &[kept, digested(b, &["vim"], "d2", false)])
        .await
        .unwrap();
    assert_eq!(s.import_fact_count(two).await.unwrap(), 2, "b's only");
    assert!(s.publish_import(two, OPTS).await.unwrap());
    assert_eq!(
        s.published_scan_times("default").await.unwrap()["a"],
        1_795_867_200_000 + 86_400_000,
        "the new scan time"
    );
    assert_eq!(s.import_fact_count(one).await.unwrap(), 3, "a's facts stay");
    assert_eq!(
        s.leftover_counts().await.unwrap(),
        LeftoverCounts::default(),
        "nothing superseded"
    );
    assert_eq!(s.delete_superseded_facts(two).await.unwrap(), 0);
    assert_eq!(s.clean_leftovers().await.unwrap(), Leftovers::default());
    assert_eq!(s.import_fact_count(one).await.unwrap(), 3);
    let targets = s.discovery_targets(two, true).await.unwrap();
    assert!(
        targets
            .iter()
            .any(|t| t.computer_id == a && t.facts_import_id == one),
        "discovery reads a's kept facts: {targets:?}"
    );

    // Import 3 says a's facts are kept, with another digest than the
    // published one: its publish fails and changes nothing.
    let three = start(s).await;
    s.write_scan_packages(three, &[digested(a, &[], "d-other", true)])
        .await
        .unwrap();
    let err = s.publish_import(three, OPTS).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("published facts of 1 computers changed"),
        "{err}"
    );
    assert_eq!(s.published_facts_digests(&[a]).await.unwrap()[&a], "d1");
    assert_eq!(s.import_fact_count(one).await.unwrap(), 3);
}

/// A host's VM-manager observation (the corpus's KVM domains on an HP
/// DL180).
fn vm_scan(observed_at_ms: i64, guests: usize) -> VmScanRow {
    let all = [
        (
            "d0f1baf3-ac9d-e828-619f-91f074c8c6c4",
            "Debian_Squeeze_64_bits",
            1,
        ),
        ("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", "vm2", 4),
    ];
    VmScanRow {
        observed_at_ms,
        member: format!("0_vmman.tar.gz/vmman_scan_1_{}.xml", observed_at_ms / 1000),
        virtual_technology: Some("KVM_X86".into()),
        host_uuid: "00D3F681-FE8E-11D5-B656-1CC1DE0905AE".into(),
        host_name: Some("dl180".into()),
        cores: Some(4),
        active_sockets: Some(1),
        available_sockets: Some(1),
        guests: all[..guests]
            .iter()
            .map(|(u, n, v)| VmGuestRow {
                uuid: u.to_string(),
                name: Some(n.to_string()),
                vcpus: *v,
            })
            .collect(),
        ..VmScanRow::default()
    }
}

async fn vm_observations_publish_with_their_import(s: &Store) {
    let day = 86_400_000;
    let now = Utc::now().timestamp_millis();
    let (t1, t2) = (now - 2 * day, now - day);
    let seen = |s: &Store| {
        let s = s.clone();
        async move {
            s.vm_observations_between(0, now + day)
                .await
                .unwrap()
                .iter()
                .map(|o| (o.import_id, o.observed_at_ms, o.guests.len()))
                .collect::<Vec<_>>()
        }
    };
    let one = start(s).await;
    let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
    let mut w = facts_for(a, &["qemu-kvm"]);
    w.computer.identity = HardwareIdentityRow {
        system_uuid: Some("00D3F681-FE8E-11D5-B656-1CC1DE0905AE".into()),
        system_manufacturer: Some("HP".into()),
        system_product: Some("ProLiant DL180 G6".into()),
        system_serial: Some("CZJ02901TG".into()),
        socket_slots: Some(2),
        ..Default::default()
    };
    w.vm_scans = vec![vm_scan(t1, 2)];
    s.write_scan_packages(one, &[w.clone()]).await.unwrap();
    assert!(seen(s).await.is_empty(), "invisible before the publish");
    assert!(s.publish_import(one, OPTS).await.unwrap());
    assert_eq!(seen(s).await, vec![(one, t1, 2)]);
    let o = &s.vm_observations_between(t1, t1 + 1).await.unwrap()[0];
    assert_eq!(o.computer_id, a);
    assert_eq!(o.host_uuid, "00D3F681-FE8E-11D5-B656-1CC1DE0905AE");
    assert_eq!(o.guests[0].uuid, "d0f1baf3-ac9d-e828-619f-91f074c8c6c4");
    assert_eq!(
        (o.guests[1].name.as_deref(), o.guests[1].vcpus),
        (Some("vm2"), 4)
    );
    assert!(s
        .vm_observations_between(t1 + 1, now)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.computer_identities().await.unwrap()[0].identity,
        w.computer.identity
    );

    // Import 2: the same observation again and a newer one; an older
    // package of the same host adds its own observations only.
    let two = start(s).await;
    w.vm_scans = vec![vm_scan(t1, 2), vm_scan(t2, 1)];
    let older = ScanPackageWrite {
        computer: StagedComputer {
            computer_id: a,
            ..StagedComputer::default()
        },
        installed_packages: facts_for(a, &["ignored"]).installed_packages,
        vm_scans: vec![vm_scan(t2 - 1000, 2), vm_scan(t2, 1)],
        vm_only: true,
        ..Default::default()
    };
    s.write_scan_packages(two, &[w.clone(), older])
        .await
        .unwrap();
    assert_eq!(seen(s).await, vec![(one, t1, 2)]);
    assert!(s.publish_import(two, OPTS).await.unwrap());
    assert_eq!(
        seen(s).await,
        vec![(two, t1, 2), (two, t2 - 1000, 2), (two, t2, 1)],
        "one copy of each observation"
    );
    assert_eq!(
        s.computer_identities().await.unwrap()[0].identity,
        w.computer.identity,
        "the older package staged nothing"
    );
    // Import 3: an observation past the retention (deleted at the publish)
    // and a host seen with no guest.
    let three = start(s).await;
    let old = now - (VM_OBSERVATION_RETENTION_DAYS + 1) * day;
    w.vm_scans = vec![vm_scan(old, 2), vm_scan(now, 0)];
    s.write_scan_packages(three, &[w.clone()]).await.unwrap();
    assert!(s.publish_import(three, OPTS).await.unwrap());
    s.clean_leftovers().await.unwrap();
    assert_eq!(
        seen(s).await,
        vec![
            (two, t1, 2),
            (two, t2 - 1000, 2),
            (two, t2, 1),
            (three, now, 0)
        ]
    );
    assert!(s
        .vm_observations_between(old, old + 1)
        .await
        .unwrap()
        .is_empty());
    // Import 4 fails: its observation never shows and is cleaned up.
    let four = start(s).await;
    w.vm_scans = vec![vm_scan(now - 1000, 2)];
    s.write_scan_packages(four, &[w.clone()]).await.unwrap();
    s.end_import(four, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    assert_eq!(
        s.leftover_counts().await.unwrap().invisible_facts,
        3,
        "import 4's package, its tag and its observation"
    );
    s.clean_leftovers().await.unwrap();
    assert_eq!(
        s.leftover_counts().await.unwrap(),
        LeftoverCounts::default()
    );
    assert_eq!(seen(s).await.len(), 4);
}

/// A calculator with the arithmetic reduced to what these cases check:
/// each server's value is the cores of its partitions whose computers hold
/// the product, times its rate (the real one is the licence crate's).
#[derive(Debug)]
struct SumCalc;

impl UsageCalculator for SumCalc {
    fn server_values(
        &self,
        snap: &StoredSnapshot,
        held: &[Holding],
        explain: bool,
    ) -> (Vec<ServerValue>, Vec<UnresolvedCharge>) {
        let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
        let charges: BTreeSet<(&str, i64)> = held
            .iter()
            .map(|h| (h.product_id.as_str(), h.computer_id))
            .collect();
        for (product, computer) in charges {
            for p in snap.partitions.iter().filter(|p| p.computer_id == computer) {
                let rate = snap
                    .servers
                    .iter()
                    .find(|s| s.key == p.server_key)
                    .map_or(0, |s| s.pvu_per_core);
                let e = out
                    .entry((product.to_string(), p.server_key.clone()))
                    .or_default();
                e.0 += p.cores * rate;
                e.1 += p.cores;
            }
        }
        let values = out
            .into_iter()
            .map(
                |((product_id, server_key), (quantity, cores))| ServerValue {
                    product_id,
                    metric: "PVU_SUB_CAP".into(),
                    server_key,
                    quantity,
                    cores,
                    explanation: if explain {
                        serde_json::json!({"sum": quantity})
                    } else {
                        serde_json::Value::Null
                    },
                },
            )
            .collect();
        (values, Vec::new())
    }

    fn product_quantity(&self, _metric: &str, servers: &[&ServerValue]) -> (i64, i64) {
        (
            servers.iter().map(|s| s.quantity).sum(),
            servers.iter().map(|s| s.cores).sum(),
        )
    }
}

fn catalog(hash: &str) -> Arc<InventoryCatalog> {
    Arc::new(InventoryCatalog {
        hash: hash.into(),
        version: format!("v-{hash}"),
        products: vec![
            InventoryProduct {
                id: "p1".into(),
                publisher: "IBM".into(),
                name: "Db2".into(),
                release: Some("11.5".into()),
                metric: Some("PVU".into()),
            },
            InventoryProduct {
                id: "p2".into(),
                publisher: "IBM".into(),
                name: "Free thing".into(),
                release: None,
                metric: None,
            },
        ],
        components: vec![InventoryComponent {
            id: "c1".into(),
            name: "Db2 server".into(),
            release: Some("11.5".into()),
            publisher: Some("IBM".into()),
        }],
        options: vec![InventoryOption {
            component_id: "c1".into(),
            product_id: "p1".into(),
            charged: true,
        }],
    })
}

fn db2_values() -> InstanceValues {
    InstanceValues {
        signature_kind: "package_regex".into(),
        evidence_source: "dpkg".into(),
        evidence_name: "db2".into(),
        evidence_version: Some("11.5.9".into()),
        detailed_version: Some("11.5.9.0".into()),
        product_id: Some("p1".into()),
        is_charged: true,
        bundling_rule: Some(3),
        bundling_details: Some("{}".into()),
    }
}

fn snapshot(a: i64, day: NaiveDate) -> LicenseSnapshotWrite {
    LicenseSnapshotWrite {
        taken_at: Utc::now(),
        day,
        pvu_table_version: "2026-11".into(),
        details: serde_json::json!({"servers": 1}),
        servers: vec![SnapshotServer {
            key: format!("computer:{a}"),
            server_id: a,
            name: "host-a".into(),
            kind: "physical".into(),
            vendor: Some("HP".into()),
            model: None,
            serial: Some("CZJ".into()),
            total_processors: Some(2),
            cores: Some(4),
            pvu_per_core: 70,
            capped: true,
            custom_pvu: None,
            basis: serde_json::json!({"rate": "table"}),
        }],
        partitions: vec![SnapshotPartition {
            computer_id: a,
            server_key: format!("computer:{a}"),
            cores: 4,
            reason: serde_json::json!({"role": "physical"}),
        }],
    }
}

/// A complete import's discovery and licence snapshot, published with it;
/// the next import ends an instance no longer found; a failed import's
/// discovery and snapshot are cleaned up.
async fn discovery_and_licence_publish(s: &Store) {
    s.set_usage_calculator(Arc::new(SumCalc));
    assert!(s.operator_catalog().await.unwrap().is_none());
    let layer = s
        .set_operator_catalog("op-1", "{\"products\":[]}", "alice")
        .await
        .unwrap();
    assert_eq!(s.operator_catalog().await.unwrap().unwrap(), layer);
    assert!(s.inventory_catalog().await.unwrap().is_none());

    let one = start(s).await;
    let ids = s.computer_ids(&[key("a"), key("b")]).await.unwrap();
    let (a, b) = (ids[&key("a")], ids[&key("b")]);
    s.write_scan_packages(
        one,
        &[facts_for(a, &["db2", "bash"]), facts_for(b, &["bash"])],
    )
    .await
    .unwrap();
    let targets = s.discovery_targets(one, false).await.unwrap();
    assert_eq!(
        targets.iter().map(|t| t.computer_id).collect::<Vec<_>>(),
        [a, b]
    );
    assert!(targets.iter().all(|t| t.facts_import_id == one));
    let facts = s.computer_fact_sets(&targets).await.unwrap();
    assert_eq!(
        facts[0]
            .packages
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["db2", "bash"]
    );
    assert_eq!(facts[1].packages.len(), 1);
    assert_eq!(facts[0].tags[0].directory.as_deref(), Some("/opt/x"));

    // A bulk discovery drops the product index and makes it again after;
    // both are idempotent.
    s.drop_instance_product_index().await.unwrap();
    s.drop_instance_product_index().await.unwrap();
    s.begin_discovery(one).await.unwrap();
    s.stage_discovery(
        one,
        &targets,
        &[NewInstance {
            computer_id: a,
            component_id: "c1".into(),
            discovery_path: "dpkg".into(),
            values: db2_values(),
        }],
        &[],
    )
    .await
    .unwrap();
    assert!(
        s.current_instances(&[a]).await.unwrap().is_empty(),
        "invisible until the publish"
    );
    s.ensure_instance_indexes().await.unwrap();
    s.ensure_instance_indexes().await.unwrap();
    let day = Utc::now().date_naive();
    s.write_license_snapshot(one, &snapshot(a, day))
        .await
        .unwrap();
    let inputs = s.license_inputs(one, 0, None).await.unwrap();
    assert_eq!(
        inputs.computers.iter().map(|c| c.id).collect::<Vec<_>>(),
        [a, b],
        "the computers this import stages, as they will be"
    );
    assert_eq!(inputs.computers[0].name, format!("host-{a}"));
    assert_eq!(inputs.computers[0].is_virtual, Some(true));
    assert!(s.latest_license_summary().await.unwrap().is_none());

    let published = s
        .publish_import_then(
            one,
            PublishOptions {
                discovery: Some(catalog("h1")),
                ..OPTS
            },
            async {},
        )
        .await
        .unwrap()
        .unwrap();
    let software = published.software.unwrap();
    assert_eq!((software.computers, software.catalog_changed), (2, true));
    let license = published.license.unwrap();
    assert_eq!(
        (license.day, license.instances, license.days_recomputed),
        (Some(day), 1, 1)
    );
    let info = s.inventory_catalog().await.unwrap().unwrap();
    assert_eq!(
        (info.hash.as_str(), info.version.as_str(), info.import_id),
        ("h1", "v-h1", one)
    );
    let current = s.current_instances(&[a, b]).await.unwrap();
    assert_eq!(current.len(), 1);
    let i = &current[&a][0];
    assert!(i.is_present && !i.is_confirmed);
    assert_eq!(i.values, db2_values());
    assert_eq!(
        s.discovery_targets(one + 1, false).await.unwrap(),
        [],
        "every computer discovered at its facts"
    );
    assert_eq!(
        s.latest_license_summary().await.unwrap().unwrap().import_id,
        one
    );
    let usage = s.license_usage(day, day).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!(
        (
            usage[0].product_id.as_str(),
            usage[0].metric.as_str(),
            usage[0].quantity,
            usage[0].cores,
            usage[0].peak_day,
            usage[0].product_num
        ),
        ("p1", "PVU_SUB_CAP", 280, 4, day, 1)
    );
    let per_server = s.license_usage_per_server(day).await.unwrap();
    assert_eq!(per_server.len(), 1);
    assert_eq!(per_server[0].server.key, format!("computer:{a}"));
    assert!(per_server[0].server.capped);
    assert_eq!(per_server[0].active_computers, 1);
    assert_eq!(per_server[0].snapshot_id, one);
    let explained = s.license_explain(day, "p1", "PVU_SUB_CAP").await.unwrap();
    assert_eq!(explained[0].explanation, serde_json::json!({"sum": 280}));
    assert_eq!(
        s.license_product_days(day, day).await.unwrap(),
        [(day, "p1".to_string(), "PVU_SUB_CAP".to_string(), 280)]
    );

    // Import 2: a's db2 is no longer found.
    let two = start(s).await;
    s.write_scan_packages(two, &[facts_for(a, &["bash"])])
        .await
        .unwrap();
    let targets = s.discovery_targets(two, false).await.unwrap();
    assert_eq!(targets.len(), 1);
    s.begin_discovery(two).await.unwrap();
    s.stage_discovery(
        two,
        &targets,
        &[],
        &[InstanceChange::Ended {
            instance_id: i.instance_id,
        }],
    )
    .await
    .unwrap();
    let published = s
        .publish_import_then(
            two,
            PublishOptions {
                discovery: Some(catalog("h1")),
                ..OPTS
            },
            async {},
        )
        .await
        .unwrap()
        .unwrap();
    let software = published.software.unwrap();
    assert_eq!(
        (
            software.ended_instances,
            software.catalog_changed,
            published.license
        ),
        (1, false, None)
    );
    assert!(!s.current_instances(&[a]).await.unwrap()[&a][0].is_present);

    // Import 3 fails after its discovery and snapshot.
    let three = start(s).await;
    s.write_scan_packages(three, &[facts_for(b, &["db2"])])
        .await
        .unwrap();
    let targets = s.discovery_targets(three, false).await.unwrap();
    s.begin_discovery(three).await.unwrap();
    s.stage_discovery(
        three,
        &targets,
        &[NewInstance {
            computer_id: b,
            component_id: "c1".into(),
            discovery_path: "dpkg".into(),
            values: db2_values(),
        }],
        &[InstanceChange::Found {
            instance_id: i.instance_id,
            values: db2_values(),
            moved_to: None,
        }],
    )
    .await
    .unwrap();
    s.write_license_snapshot(three, &snapshot(b, day))
        .await
        .unwrap();
    s.end_import(three, ImportStatus::Failed, Some("x"))
        .await
        .unwrap();
    assert!(s.unpublished_discovery_rows().await.unwrap() > 0);
    let done = s.clean_leftovers().await.unwrap();
    assert_eq!(
        done.unpublished_discovery,
        1 + 1 + 1 + 3,
        "a staged change, a staged computer, an instance, a snapshot with a server and a partition"
    );
    assert_eq!(
        s.leftover_counts().await.unwrap(),
        LeftoverCounts::default()
    );
    assert!(s.current_instances(&[b]).await.unwrap().is_empty());
    assert_eq!(
        s.latest_license_summary().await.unwrap().unwrap().import_id,
        one
    );
}

async fn pvu_table_and_overrides(s: &Store) {
    assert!(s.operator_pvu_table().await.unwrap().is_none());
    s.set_operator_pvu_table("2026-11", "[\"csv\"]", "alice")
        .await
        .unwrap();
    s.set_operator_pvu_table("2026-12", "[\"csv2\"]", "bob")
        .await
        .unwrap();
    let t = s.operator_pvu_table().await.unwrap().unwrap();
    assert_eq!(
        (t.version.as_str(), t.document.as_str(), t.set_by.as_deref()),
        ("2026-12", "[\"csv2\"]", Some("bob"))
    );
    assert!(s.clear_operator_pvu_table().await.unwrap());
    assert!(!s.clear_operator_pvu_table().await.unwrap());
    assert!(s.operator_pvu_table().await.unwrap().is_none());

    let one = start(s).await;
    let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
    assert!(!s.computer_visible(a).await.unwrap());
    assert!(
        !s.set_pvu_override(a, 100, "not yet", "alice")
            .await
            .unwrap(),
        "not visible before its publish"
    );
    s.write_scan_packages(one, &[facts_for(a, &["bash"])])
        .await
        .unwrap();
    assert!(s.publish_import(one, OPTS).await.unwrap());
    assert!(s.computer_visible(a).await.unwrap());
    assert!(s
        .set_pvu_override(a, 100, "contract", "alice")
        .await
        .unwrap());
    assert!(s.set_pvu_override(a, 120, "amended", "bob").await.unwrap());
    let o = s.pvu_overrides().await.unwrap();
    assert_eq!(o.len(), 1);
    assert_eq!(
        (
            o[0].computer_id,
            o[0].pvu_per_core,
            o[0].comment.as_str(),
            o[0].set_by.as_str()
        ),
        (a, 120, "amended", "bob")
    );
    let inputs = s.license_inputs(one + 1, 0, None).await.unwrap();
    assert_eq!(inputs.overrides[&format!("computer:{a}")], 120);
    assert!(s.delete_pvu_override(a).await.unwrap());
    assert!(!s.delete_pvu_override(a).await.unwrap());
    assert!(s.pvu_overrides().await.unwrap().is_empty());
}

/// A published inventory for the list cases: computers `alpha`, `Beta` and
/// one without a name, their facts, an instance of Db2 on `alpha` and a
/// licence snapshot.
async fn list_fixture(s: &Store) -> (i64, i64, i64) {
    s.set_usage_calculator(Arc::new(SumCalc));
    let one = start(s).await;
    let ids = s
        .computer_ids(&[key("a"), key("b"), key("c")])
        .await
        .unwrap();
    let (a, b, c) = (ids[&key("a")], ids[&key("b")], ids[&key("c")]);
    let mut wa = facts_for(a, &["db2", "bash"]);
    wa.computer.name = Some("alpha".into());
    wa.computer.ip_addresses = vec!["192.0.2.10".into(), "2001:db8::1".into()];
    let mut wb = facts_for(b, &["bash"]);
    wb.computer.name = Some("Beta".into());
    wb.computer.is_virtual = false;
    wb.computer.ip_addresses = vec![];
    let mut wc = facts_for(c, &[]);
    wc.computer.name = None;
    s.write_scan_packages(one, &[wa, wb, wc]).await.unwrap();
    let targets = s.discovery_targets(one, false).await.unwrap();
    s.begin_discovery(one).await.unwrap();
    s.stage_discovery(
        one,
        &targets,
        &[NewInstance {
            computer_id: a,
            component_id: "c1".into(),
            discovery_path: "dpkg".into(),
            values: db2_values(),
        }],
        &[],
    )
    .await
    .unwrap();
    s.write_license_snapshot(one, &snapshot(a, Utc::now().date_naive()))
        .await
        .unwrap();
    assert!(s
        .publish_import(
            one,
            PublishOptions {
                discovery: Some(catalog("h1")),
                ..OPTS
            }
        )
        .await
        .unwrap());
    (a, b, c)
}

fn cond(e: Entity, name: &str, op: Op, v: Value) -> Filter {
    Filter::Cond(Condition::new(e.field(name).unwrap(), op, v).unwrap())
}

fn query(e: Entity, filter: Option<Filter>, sort: &[(&str, bool)], page: Page) -> Query {
    let sort = sort
        .iter()
        .map(|(f, desc)| Sort::new(e.field(f).unwrap(), *desc).unwrap())
        .collect();
    Query::new(e, filter, sort, page).unwrap()
}

async fn names(s: &Store, filter: Option<Filter>, sort: &[(&str, bool)]) -> Vec<Option<String>> {
    let q = query(Entity::Computers, filter, sort, Page::first(100));
    let (total, rows) = s.query_list::<ComputerList>(&q).await.unwrap();
    assert_eq!(total as usize, rows.len());
    rows.into_iter().map(|r| r.name).collect()
}

/// Collects a list read in place.
struct Owned(i64, Vec<SoftwareInstanceRow>);

#[openlmt_storage::async_trait]
impl RefRowSink<SoftwareInstanceList> for Owned {
    async fn total(&mut self, total: i64) -> bool {
        self.0 = total;
        true
    }
    fn row(&mut self, row: &SoftwareInstanceRef<'_>) -> bool {
        self.1.push(row.to_owned_row());
        self.1.len().is_multiple_of(2)
    }
    async fn flush(&mut self) -> bool {
        true
    }
}

/// Filters, sorts and pages with SQLite's semantics on both engines: text
/// in byte order, NULL first ascending, `!=` counting a missing value as
/// different, `contains` ignoring case.
async fn lists_filter_sort_and_page(s: &Store) {
    let (a, b, c) = list_fixture(s).await;
    let e = Entity::Computers;
    let some = |n: &str| Some(n.to_string());
    assert_eq!(
        names(s, None, &[("name", false)]).await,
        [None, some("Beta"), some("alpha")]
    );
    assert_eq!(
        names(s, None, &[("name", true)]).await,
        [some("alpha"), some("Beta"), None]
    );
    assert_eq!(
        names(
            s,
            Some(cond(e, "name", Op::Contains, Value::Text("ET".into()))),
            &[]
        )
        .await,
        [some("Beta")]
    );
    assert_eq!(
        names(
            s,
            Some(cond(e, "name", Op::Ne, Value::Text("alpha".into()))),
            &[]
        )
        .await
        .len(),
        2,
        "a computer without a name is not alpha"
    );
    assert_eq!(
        names(
            s,
            Some(cond(e, "name", Op::Lt, Value::Text("alpha".into()))),
            &[]
        )
        .await,
        [some("Beta")],
        "byte order: upper case first"
    );
    assert_eq!(
        names(s, Some(cond(e, "name", Op::Eq, Value::Null)), &[]).await,
        [None]
    );
    assert_eq!(
        names(
            s,
            Some(cond(
                e,
                "ip_address",
                Op::Eq,
                Value::Text("2001:db8::1".into())
            )),
            &[]
        )
        .await,
        [some("alpha")]
    );
    assert_eq!(
        names(
            s,
            Some(cond(e, "is_virtual", Op::Eq, Value::Bool(false))),
            &[]
        )
        .await,
        [some("Beta")]
    );
    assert_eq!(
        names(
            s,
            Some(Filter::Or(vec![
                cond(e, "id", Op::Eq, Value::Int(a)),
                cond(e, "id", Op::Eq, Value::Int(c)),
            ])),
            &[("id", true)]
        )
        .await,
        [None, some("alpha")]
    );
    let q = query(e, None, &[("id", false)], Page::new(1, 1).unwrap());
    let (total, rows) = s.query_list::<ComputerList>(&q).await.unwrap();
    assert_eq!((total, rows.len(), rows[0].id), (3, 1, b));
    let (_, rows) = s
        .query_computers(&query(e, None, &[], Page::first(10)))
        .await
        .unwrap();
    assert_eq!(rows[0].ip_addresses, ["192.0.2.10", "2001:db8::1"]);
    let placed = rows[0].placement.as_ref().unwrap();
    assert_eq!((placed.server_id, placed.pvu_per_core), (a, 70));

    let (n, facts) = s
        .query_installed_packages(&query(
            Entity::InstalledPackages,
            Some(cond(
                Entity::InstalledPackages,
                "name",
                Op::Eq,
                Value::Text("bash".into()),
            )),
            &[],
            Page::first(10),
        ))
        .await
        .unwrap();
    assert_eq!(n, 2);
    assert_eq!(
        facts.iter().map(|f| f.computer_id).collect::<Vec<_>>(),
        [a, b]
    );
    let (n, tags) = s
        .query_swid_facts(&query(Entity::SwidTags, None, &[], Page::first(10)))
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(tags[0].tag_id, format!("tag-{a}"));

    let q = query(Entity::SoftwareInstances, None, &[], Page::first(10));
    let (n, instances) = s.query_list::<SoftwareInstanceList>(&q).await.unwrap();
    assert_eq!(n, 1);
    let i = &instances[0];
    assert_eq!(
        (
            i.computer_id,
            i.product_name.as_deref(),
            i.is_present,
            i.is_excluded,
            i.server_id
        ),
        (a, Some("Db2"), true, false, Some(a))
    );
    let mut owned = Owned(0, Vec::new());
    assert_eq!(
        s.stream_list_ref::<SoftwareInstanceList>(&q, &mut owned)
            .await
            .unwrap(),
        StreamEnd::Complete
    );
    assert_eq!((owned.0, owned.1), (1, instances));
    let (n, components) = s
        .query_list::<SoftwareComponentList>(&query(
            Entity::SoftwareComponents,
            None,
            &[],
            Page::first(10),
        ))
        .await
        .unwrap();
    assert_eq!((n, components[0].id.as_str()), (1, "c1"));
    let (n, options) = s
        .query_list::<BundlingOptionList>(&query(
            Entity::BundlingOptions,
            None,
            &[],
            Page::first(10),
        ))
        .await
        .unwrap();
    assert_eq!((n, options[0].charged), (1, true));
    let (n, usage) = s
        .query_list::<LicenseServerUsageList>(&query(
            Entity::LicenseServerUsage,
            None,
            &[],
            Page::first(10),
        ))
        .await
        .unwrap();
    assert_eq!((n, usage[0].quantity), (1, 280));

    // Decommissioning: the row stays, flagged, and a second time keeps
    // its first time.
    let DeleteOutcome::Deleted(row) = s.decommission_computer("b", None).await.unwrap() else {
        panic!("b not found");
    };
    assert!(row.is_deleted);
    let DeleteOutcome::Deleted(again) =
        s.decommission_computer("b", Some("default")).await.unwrap()
    else {
        panic!("b not found");
    };
    assert_eq!(again.deleted_at, row.deleted_at);
    assert_eq!(
        s.decommission_computer("nope", None).await.unwrap(),
        DeleteOutcome::NotFound
    );
    assert_eq!(
        names(
            s,
            Some(cond(e, "is_deleted", Op::Eq, Value::Bool(true))),
            &[]
        )
        .await,
        [some("Beta")]
    );
}

/// The total and the number of rows of a query of any list.
async fn count_any(s: &Store, q: &Query) -> (i64, usize) {
    macro_rules! of {
        ($list:ty) => {{
            let (n, rows) = s
                .query_list::<$list>(q)
                .await
                .unwrap_or_else(|e| panic!("{:?}: {e}", q));
            (n, rows.len())
        }};
    }
    match q.entity() {
        Entity::Computers => of!(ComputerList),
        Entity::InstalledPackages => of!(InstalledPackageList),
        Entity::SwidTags => of!(SwidTagList),
        Entity::SoftwareInstances => of!(SoftwareInstanceList),
        Entity::SoftwareComponents => of!(SoftwareComponentList),
        Entity::BundlingOptions => of!(BundlingOptionList),
        Entity::ClassificationAudit => of!(ClassificationAuditList),
        Entity::LicenseServerUsage => of!(LicenseServerUsageList),
        Entity::LicenseUsage => unreachable!("computed by the HTTP crate"),
    }
}

/// Every field of every list sorts both ways and takes every operator
/// that applies to it; `=` and `!=` of one value split the list.
async fn every_field_of_every_list_filters_and_sorts(s: &Store) {
    list_fixture(s).await;
    let now = Utc::now();
    for e in [
        Entity::Computers,
        Entity::InstalledPackages,
        Entity::SwidTags,
        Entity::SoftwareInstances,
        Entity::SoftwareComponents,
        Entity::BundlingOptions,
        Entity::ClassificationAudit,
        Entity::LicenseServerUsage,
    ] {
        let (total, _) = count_any(s, &query(e, None, &[], Page::first(1000))).await;
        for f in e.fields() {
            for desc in [false, true] {
                let Some(sort) = Sort::new(f, desc) else {
                    continue;
                };
                let q = Query::new(e, None, vec![sort], Page::first(1000)).unwrap();
                assert_eq!(count_any(s, &q).await, (total, total as usize), "{q:?}");
            }
            let values = match f.kind {
                FieldKind::Int => vec![Value::Int(1), Value::Null],
                FieldKind::Text | FieldKind::TextList => {
                    vec![Value::Text("a".into()), Value::Null]
                }
                FieldKind::Bool => vec![Value::Bool(true), Value::Null],
                FieldKind::Time => vec![Value::Time(now), Value::Null],
            };
            for v in values {
                let mut split = 0;
                for op in Op::ALL {
                    let v = if op == Op::Last {
                        Value::period(now - chrono::Duration::days(1), now).unwrap()
                    } else {
                        v.clone()
                    };
                    let Ok(c) = Condition::new(f, op, v.clone()) else {
                        continue;
                    };
                    let q =
                        Query::new(e, Some(Filter::Cond(c)), vec![], Page::first(1000)).unwrap();
                    let (n, rows) = count_any(s, &q).await;
                    assert_eq!(n as usize, rows, "{q:?}");
                    if matches!(op, Op::Eq | Op::Ne) {
                        split += n;
                    }
                }
                assert_eq!(split, total, "{e:?}.{} = and != {v:?}", f.name);
            }
        }
    }
}

fn by_id(
    id: i64,
    req: ClassifyRequest,
) -> std::result::Result<(InstanceRef, ClassifyRequest), String> {
    Ok((InstanceRef::Id(id), req))
}

fn modified(o: &RowOutcome) -> Vec<&'static str> {
    match o {
        RowOutcome::Modified { actions, .. } => actions.clone(),
        other => panic!("not modified: {other:?}"),
    }
}

/// Classification rows apply in order in one transaction (an invalid row
/// changes nothing, a simulation nothing at all), are audited, and
/// recompute the licence values of the products they touch.
async fn classification_applies_audits_and_recomputes(s: &Store) {
    let (a, _, _) = list_fixture(s).await;
    let day = Utc::now().date_naive();
    let usage = |s: &Store| {
        let s = s.clone();
        async move {
            s.license_usage(day, day)
                .await
                .unwrap()
                .iter()
                .map(|u| (u.product_id.clone(), u.quantity))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(usage(s).await, [("p1".to_string(), 280)]);
    let i = s.current_instances(&[a]).await.unwrap()[&a][0].instance_id;
    let assign = |p: &str| ClassifyRequest {
        product_id: Some(p.into()),
        ..Default::default()
    };

    let out = s
        .classify("alice", &[by_id(i, assign("p2"))], false)
        .await
        .unwrap();
    assert_eq!(modified(&out[0]), ["Bundled"]);
    assert!(usage(s).await.is_empty(), "p2 has no metric");

    // An invalid row and a valid one in one call; a row the caller could
    // not read.
    let out = s
        .classify(
            "alice",
            &[
                by_id(i, assign("nope")),
                by_id(
                    i,
                    ClassifyRequest {
                        charged: Some(true),
                        confirmed: Some(true),
                        ..assign("p1")
                    },
                ),
                Err("bad row".into()),
            ],
            false,
        )
        .await
        .unwrap();
    assert_eq!(
        out[0],
        RowOutcome::Invalid {
            reason: "product not found".into()
        }
    );
    assert_eq!(modified(&out[1]), ["Bundled", "Confirmed"]);
    assert_eq!(
        out[2],
        RowOutcome::Invalid {
            reason: "bad row".into()
        }
    );
    assert_eq!(usage(s).await, [("p1".to_string(), 280)]);
    let current = &s.current_instances(&[a]).await.unwrap()[&a][0];
    assert!(current.is_confirmed);
    assert_eq!(current.values.bundling_rule, Some(1));

    // A simulation reports and changes nothing.
    let unconfirm = ClassifyRequest {
        confirmed: Some(false),
        ..Default::default()
    };
    let out = s
        .classify("alice", &[by_id(i, unconfirm)], true)
        .await
        .unwrap();
    assert_eq!(modified(&out[0]), ["Unconfirmed"]);
    assert!(s.current_instances(&[a]).await.unwrap()[&a][0].is_confirmed);

    // By computer and component: exclusion needs a comment; including
    // back unconfirms.
    let on_a = |req: ClassifyRequest| {
        Ok((
            InstanceRef::Component {
                computer: ComputerRef::Id(a),
                component_id: "c1".into(),
                discovery_path: None,
            },
            req,
        ))
    };
    let exclude = ClassifyRequest {
        excluded: Some(true),
        ..Default::default()
    };
    let out = s
        .classify("bob", &[on_a(exclude.clone())], false)
        .await
        .unwrap();
    assert_eq!(
        out[0],
        RowOutcome::Invalid {
            reason: "exclusion_or_suppress_comment is required to exclude".into()
        }
    );
    let out = s
        .classify(
            "bob",
            &[on_a(ClassifyRequest {
                comment: Some("test box".into()),
                ..exclude
            })],
            false,
        )
        .await
        .unwrap();
    assert_eq!(modified(&out[0]), ["Excluded"]);
    assert!(usage(s).await.is_empty(), "excluded");
    let (_, rows) = s
        .query_list::<SoftwareInstanceList>(&query(
            Entity::SoftwareInstances,
            None,
            &[],
            Page::first(10),
        ))
        .await
        .unwrap();
    assert!(rows[0].is_excluded);
    assert_eq!(rows[0].comment.as_deref(), Some("test box"));
    let out = s
        .classify(
            "bob",
            &[on_a(ClassifyRequest {
                excluded: Some(false),
                ..Default::default()
            })],
            false,
        )
        .await
        .unwrap();
    assert_eq!(modified(&out[0]), ["Included"]);
    assert_eq!(usage(s).await, [("p1".to_string(), 280)]);
    assert!(!s.current_instances(&[a]).await.unwrap()[&a][0].is_confirmed);
    for (suppressed, action) in [(true, "Suppressed"), (false, "Unsuppressed")] {
        let out = s
            .classify(
                "bob",
                &[on_a(ClassifyRequest {
                    suppressed: Some(suppressed),
                    comment: Some("noise".into()),
                    ..Default::default()
                })],
                false,
            )
            .await
            .unwrap();
        assert_eq!(modified(&out[0]), [action]);
    }
    let out = s
        .classify(
            "bob",
            &[on_a(ClassifyRequest {
                suppressed: Some(false),
                ..Default::default()
            })],
            false,
        )
        .await
        .unwrap();
    assert_eq!(out[0], RowOutcome::Unmodified { instance_id: i });

    let (n, trail) = s
        .query_list::<ClassificationAuditList>(&query(
            Entity::ClassificationAudit,
            None,
            &[("id", false)],
            Page::first(100),
        ))
        .await
        .unwrap();
    assert_eq!(n, 7);
    assert_eq!(
        trail.iter().map(|r| r.action.as_str()).collect::<Vec<_>>(),
        [
            "assign",
            "assign",
            "confirm",
            "exclude",
            "include",
            "suppress",
            "unsuppress"
        ]
    );
    assert_eq!(
        (trail[3].user_name.as_str(), trail[3].comment.as_deref()),
        ("bob", Some("test box"))
    );
}

/// The audit snapshot's reads, in one snapshot of the data.
async fn audit_snapshot_reads(s: &Store) {
    let (a, b, c) = list_fixture(s).await;
    let day = Utc::now().date_naive();
    let i = s.current_instances(&[a]).await.unwrap()[&a][0].instance_id;
    let out = s
        .classify(
            "alice",
            &[by_id(
                i,
                ClassifyRequest {
                    confirmed: Some(true),
                    ..Default::default()
                },
            )],
            false,
        )
        .await
        .unwrap();
    assert_eq!(modified(&out[0]), ["Confirmed"]);
    let mut r = s.audit_reader().await.unwrap();
    let usage = r.license_usage(day, day).await.unwrap();
    assert_eq!((usage.len(), usage[0].quantity), (1, 280));
    assert_eq!(r.license_product_days(day, day).await.unwrap().len(), 1);
    assert_eq!(r.inventory_catalog().await.unwrap().unwrap().hash, "h1");
    assert!(r.last_successful_import().await.unwrap().is_some());
    let mut rows = Vec::new();
    let n = r
        .server_instances(day, "p1", "PVU_SUB_CAP", "PVU_FULL_CAP", |row| {
            rows.push(row);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    let row = &rows[0];
    assert_eq!(
        (
            row.computer_id,
            row.instance_id,
            row.partition_cores,
            row.sub_quantity,
            row.full_quantity,
            row.is_confirmed,
            row.computer_name.as_deref()
        ),
        (a, i, 4, 280, None, true, Some("alpha"))
    );
    assert_eq!(row.server.key, format!("computer:{a}"));
    assert_eq!(row.ip_addresses, ["192.0.2.10", "2001:db8::1"]);
    let mut trail = Vec::new();
    r.audit_trail_between(day, day, |t| {
        trail.push(t);
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(trail.len(), 1);
    assert_eq!(trail[0].action, "confirm");
    let cond = r.condition(day, day, Some(Utc::now())).await.unwrap();
    assert_eq!(cond.snapshots.len(), 1);
    assert_eq!(cond.snapshots[0].details, serde_json::json!({"servers": 1}));
    let last = cond.last_snapshot.unwrap();
    assert_eq!((last.servers.len(), last.partitions.len()), (1, 1));
    assert!(last.servers[0].capped);
    assert!(cond.uncounted.is_empty());
    assert_eq!(
        cond.stale.iter().map(|c| c.id).collect::<Vec<_>>(),
        [a, b, c],
        "scanned before now"
    );
    assert_eq!(cond.computer_names[&a], "alpha");
    assert!(r.condition(day, day, None).await.unwrap().stale.is_empty());
}

/// A computer's facts and a VM observation's guests come back in the order
/// the scan package listed them (the order they were written): in the raw
/// lists (their last sort key), in what discovery reads, in the licence
/// step's VM observations; also after earlier rows were deleted and the
/// database vacuumed, when PostgreSQL puts new rows into the freed space
/// of earlier pages (its `ctid` is then no longer the insertion order: the
/// engines order by the column `seq`).
async fn facts_and_guests_come_in_the_order_written(e: &Engine) {
    let s = &e.store;
    // Rows to free: a failed import's 3,000 facts, then a published host's
    // few rows after them.
    let failed = start(s).await;
    let x = s.computer_ids(&[key("x")]).await.unwrap()[&key("x")];
    let many: Vec<String> = (0..3_000).map(|i| format!("filler-{i:04}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    s.write_scan_packages(failed, &[facts_for(x, &many)])
        .await
        .unwrap();
    s.end_import(failed, ImportStatus::Failed, Some("test"))
        .await
        .unwrap();
    let keeper = start(s).await;
    let y = s.computer_ids(&[key("y")]).await.unwrap()[&key("y")];
    s.write_scan_packages(keeper, &[facts_for(y, &["keeper"])])
        .await
        .unwrap();
    assert!(s.publish_import(keeper, OPTS).await.unwrap());
    assert_eq!(s.discard_import_facts(failed).await.unwrap(), 3_001);
    e.vacuum().await;

    // The host whose order counts: names and guests in no sorted order.
    let names: Vec<String> = (0..600)
        .map(|i| format!("pkg-{:04}", (i * 7_919) % 600))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let one = start(s).await;
    let z = s.computer_ids(&[key("z")]).await.unwrap()[&key("z")];
    let mut w = facts_for(z, &names);
    let day = 86_400_000;
    let observed = Utc::now().timestamp_millis() - day;
    let mut scan = vm_scan(observed, 0);
    let guests: Vec<String> = (0..40)
        .map(|i| format!("{:08x}-0000-4000-8000-000000000000", (i * 37) % 40))
        .collect();
    scan.guests = guests
        .iter()
        .map(|u| VmGuestRow {
            uuid: u.clone(),
            name: None,
            vcpus: 1,
        })
        .collect();
    w.vm_scans = vec![scan];
    s.write_scan_packages(one, &[w]).await.unwrap();
    assert!(s.publish_import(one, OPTS).await.unwrap());
    e.vacuum().await;

    let page = Page::first(1_000);
    let only_z = cond(
        Entity::InstalledPackages,
        "computer_id",
        Op::Eq,
        Value::Int(z),
    );
    let q = query(Entity::InstalledPackages, Some(only_z), &[], page);
    let (total, rows) = s.query_list::<InstalledPackageList>(&q).await.unwrap();
    assert_eq!(total, 600);
    let listed: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(listed, names, "the raw list's order");

    let sets = s
        .computer_fact_sets(&[DiscoveryTarget {
            computer_id: z,
            facts_import_id: one,
        }])
        .await
        .unwrap();
    let read: Vec<&str> = sets[0].packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(read, names, "discovery's order");

    let obs = s
        .vm_observations_between(observed, observed + 1)
        .await
        .unwrap();
    let read: Vec<&str> = obs[0].guests.iter().map(|g| g.uuid.as_str()).collect();
    assert_eq!(read, guests, "the guests' order");
    let inputs = s.license_inputs(one + 1, 0, None).await.unwrap();
    let sighted: Vec<&str> = inputs
        .sightings
        .iter()
        .map(|g| g.guest_uuid.as_str())
        .collect();
    assert_eq!(sighted, guests, "the licence step's order");
}
