//! Persistence for openlmt: the storage interface ([`Storage`], held by the
//! other crates as a [`Store`]) and its engines: SQLite ([`SqliteStore`],
//! the modules below and `migrations/sqlite`) and PostgreSQL ([`PgStore`],
//! `postgres/` and `migrations/postgres`); [`Store::open`] picks one from
//! the database URL.
//!
//! Architecture invariant: this crate owns every SQL statement. Callers see
//! typed rows and domain types, never SQL or connection details. Times are
//! stored as Unix milliseconds.

/// The visibility rule of software instances (alias `i`): rows of an import
/// whose discovery is not published are hidden (see migration 0007). A
/// literal, so that `concat!` puts it into every statement that reads
/// instances: the list, classification, discovery itself.
macro_rules! visible_instance {
    () => {
        "i.start_import_id NOT IN (SELECT import_id FROM unpublished_discoveries)"
    };
}

/// The `computer_hardware` columns that come from the licence hierarchy's
/// placement of a computer (alias `lcp`, the table
/// `license_current_placement`, which the publish refreshes, joined to the
/// computer `c`): the computers list and the software instances list show
/// the same values. Literals, for
/// `concat!`. `computer_type`: 2 for a VM the hierarchy recognised as public
/// cloud, else 1 virtual, 0 physical.
macro_rules! placement_computer_type {
    () => {
        "(CASE WHEN lcp.kind = 'cloud' THEN 2 WHEN c.is_virtual = 1 THEN 1 WHEN c.is_virtual = 0 THEN 0 END)"
    };
}
/// `server_cores`: the placed server's, else the computer's own when it is
/// physical.
macro_rules! placement_server_cores {
    () => {
        "(CASE WHEN lcp.server_id IS NOT NULL THEN lcp.server_cores WHEN c.is_virtual = 0 THEN c.cores END)"
    };
}
/// `server_type`: 0 physical, 1 TLM_VM (the default server), 2 cloud.
macro_rules! placement_server_type {
    () => {
        "(CASE lcp.kind WHEN 'physical' THEN 0 WHEN 'default' THEN 1 WHEN 'cloud' THEN 2 END)"
    };
}

mod audit_snapshot;
mod classification;
mod cluster;
pub mod db_copy;
mod import_log;
mod imports;
mod inventory;
mod inventory_query;
mod license;
mod list;
mod meta;
pub mod postgres;
mod scan_package_state;
mod sessions;
mod software;
mod software_query;
mod sqlite;
mod storage;
pub mod testing;
mod users;

/// The interface's trait-object methods are written with it (re-exported so
/// that implementors of [`RowSink`] and [`RefRowSink`] need no dependency of
/// their own).
pub use async_trait::async_trait;
pub use audit_snapshot::{
    AuditCondition, AuditServerInstance, AuditSnapshotHead, AuditStaleComputer, AuditUncounted,
    SqliteAuditReader,
};
pub use classification::{ClassifyRequest, ClassifySummary, ComputerRef, InstanceRef, RowOutcome};
pub use cluster::{lease_expired_error, ActiveLease, ClusterView, Lease, NodeConfig};
pub use import_log::ImportLogLine;
pub use imports::{
    ImportRow, LeftoverCounts, Leftovers, NewScanPackageRecord, Published, PublishedScanPackage,
    RegistryState, ScanPackageState, ScanPackageStateChange, StepCounters, StepRow,
    StoredScanPackage, INTERRUPTED,
};
pub use inventory::{
    normalize_uuid, ComputerIdentity, HardwareIdentityRow, InstalledPackageRow, PublishOptions,
    ScanPackageWrite, StagedComputer, SwidFactRow, VmGuestRow, VmObservation, VmScanRow,
    WriteTimes, VM_OBSERVATION_RETENTION_DAYS,
};
pub use inventory_query::{
    ComputerList, ComputerRow, DeleteOutcome, InstalledPackageList, Placement, RawInstalledPackage,
    RawSwidTag, SwidTagList,
};
pub use license::{
    override_key, GuestSighting, Holding, LicenseComputer, LicenseInputs, LicensePublished,
    LicenseServerUsageList, LicenseSnapshotWrite, PvuOverrideRow, PvuTableRow, ServerUsageRow,
    ServerValue, SnapshotPartition, SnapshotServer, SnapshotSummary, StoredSnapshot,
    UnresolvedCharge, UsageCalculator, UsageRow,
};
pub use list::{ListSource, RefListSource, RefRowSink, RowSink, StreamEnd};
pub use postgres::PgStore;
pub use sessions::{random_hex, SessionInfo, SESSION_IDLE, SESSION_MAX_AGE, TOUCH_EVERY_MS};
pub use software::{
    CatalogLayerRow, ComputerFactSet, CurrentInstance, DiscoveryTarget, FactPackage, FactTag,
    InstanceChange, InstanceValues, InventoryCatalog, InventoryCatalogInfo, InventoryComponent,
    InventoryOption, InventoryProduct, NewInstance, SoftwarePublished,
};
pub use software_query::{
    AuditRow, BundlingOptionList, BundlingOptionRow, ClassificationAuditList,
    SoftwareComponentList, SoftwareComponentRow, SoftwareInstanceList, SoftwareInstanceRef,
    SoftwareInstanceRow,
};
pub use storage::{
    AuditRead, AuditReader, DatabaseUrl, List, ListSink, LocalBoxFuture, RefList, RefListSink,
    Storage, Store,
};
pub use users::{Principal, TokenInfo, TokenOwner, UserInfo};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database error that is not [`StoreError::Unavailable`] (the
    /// conversion from `sqlx::Error` sorts them).
    #[error("database error: {0}")]
    Db(sqlx::Error),
    /// From the import's bulk write path (a borrowed connection, see
    /// `Store::write_scan_packages`).
    #[error("database error: {0}")]
    Bulk(rusqlite::Error),
    /// The database cannot be reached right now, through no fault of the
    /// request: the same operation may well succeed later, without any
    /// change on this side (the API answers 503 with `Retry-After`; an
    /// import fails, and the next one runs once the database is back). The
    /// detail says what the driver saw (never a URL or a password). What
    /// counts, see [`unavailable`]: the server cannot be connected to or
    /// dropped the connection (I/O, TLS), no connection of the pool came
    /// free in time or the pool is closed, PostgreSQL said so (SQLSTATE
    /// class 08, 57P01–57P03, 53300), or SQLite's file stayed locked by
    /// another writer past the busy timeout.
    #[error("the database is not available: {0}")]
    Unavailable(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The caller's input is not acceptable (a bad user name, a name
    /// already taken, a short password). The message says what to change
    /// and is meant for the person who sent the input; the API answers 400
    /// with it. Only input errors use this variant.
    #[error("{0}")]
    Invalid(String),
    /// The database holds a value this version cannot read: not the
    /// caller's fault (the API answers 500 and logs this).
    #[error("unreadable data in the database: {0}")]
    Corrupt(String),
    /// A fault of the program or its machine, not of the input (the API
    /// answers 500 and logs this).
    #[error("internal error: {0}")]
    Internal(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl StoreError {
    /// Whether the caller's input caused this error (then its message is
    /// meant for the caller); every other error is a fault of the server.
    pub fn is_input_error(&self) -> bool {
        matches!(self, StoreError::Invalid(_))
    }

    /// Whether the database could not be reached ([`StoreError::Unavailable`]):
    /// the operation may succeed later as it is.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if unavailable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Db(e)
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Bulk(e),
        }
    }
}

/// Whether a driver error means "the database cannot be reached right
/// now" rather than "this statement is wrong" or "the data is bad":
/// - the connection failed or broke (`Io`: refused, reset, closed by the
///   server; `Tls`), or no connection could be had (`PoolTimedOut`: every
///   connection busy, or none could be opened within the acquire timeout;
///   `PoolClosed`: the server is shutting down);
/// - PostgreSQL said so: SQLSTATE class 08 (connection exception), 57P01
///   (admin shutdown: the server is stopping or the backend was
///   terminated), 57P02 (crash shutdown), 57P03 (cannot connect now: the
///   server is starting or in recovery), 53300 (too many connections);
/// - SQLite's `SQLITE_BUSY` ("database is locked", any extended code):
///   another connection or process kept the write lock past the busy
///   timeout (30 s). It is temporary in the same sense (the lock is
///   released when its holder ends), so the API answers it 503 too, not
///   500. `SQLITE_LOCKED` is not: it is a conflict inside one connection
///   (a statement left open), a fault of the program.
///
/// SQLite's I/O errors and a full disk are not "unavailable": the disk
/// needs an operator (see `SqliteStore::space_problem`).
pub fn unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                pg_sqlstate_unavailable(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The extended result code; its low byte is the primary one.
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| c & 0xff == rusqlite::ffi::SQLITE_BUSY)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// The PostgreSQL SQLSTATEs of [`unavailable`].
fn pg_sqlstate_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The SQLite engine: the database file and its pool. The other crates
/// reach it through [`Store`] ([`Storage`]); tests and tools that read the
/// file's own tables may open it directly.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The database file, for [`SqliteStore::import_twin`] (`None` in a
    /// twin, and for a store made from a pool).
    path: Option<std::path::PathBuf>,
    /// Totals of list queries, by query, for the list generation they were
    /// counted at (see `list.rs`).
    counts: std::sync::Arc<std::sync::Mutex<list::CountCache>>,
    /// The licence arithmetic (see `license.rs`), set once at start-up.
    calc: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn UsageCalculator>>>,
    /// Who this server is (see `cluster.rs`), set once at start-up.
    node: std::sync::Arc<std::sync::OnceLock<NodeConfig>>,
}

/// Below this much free space on the database's file system, a failed
/// write is said to be for want of space (`SqliteStore::space_problem`): a
/// write fails when its pages, its WAL frames or its WAL index's next 32 KiB
/// do not fit, so the free space left after such a failure is small.
pub const LOW_SPACE_BYTES: u64 = 8 * 1024 * 1024;

/// The bytes an unprivileged process may still write on the file system
/// of `dir`, or `None` when `statvfs(3)` fails.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` a buffer of the size
    // statvfs writes; it is read only when the call succeeded.
    if unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    let st = unsafe { st.assume_init() };
    // (u64 on 64-bit Linux; narrower types elsewhere.)
    #[allow(clippy::useless_conversion)]
    let free = u64::from(st.f_bavail).saturating_mul(u64::from(st.f_frsize));
    Some(free)
}

/// Connections of the import's own pool ([`SqliteStore::import_twin`]).
const IMPORT_CONNECTIONS: u32 = 4;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// Turns SQLite's memory statistics off (`SQLITE_CONFIG_MEMSTATUS`, on in
/// the bundled build): with them on, every allocation SQLite makes (several
/// per row a bulk write binds, text values being copied) takes one
/// process-wide mutex and sizes the block, a few per cent of a complete
/// import's database CPU. openlmt reads none of those statistics (no
/// `sqlite3_memory_used`, no soft heap limit). The setting can only change
/// before SQLite initialises, so it is made once, before the first
/// connection of the process, and SQLite is initialised right after it;
/// should SQLite have been initialised already (another user of it in the
/// process), `sqlite3_config` refuses and nothing changes.
fn sqlite_memstatus_off() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: both are called before any connection of this store, in
        // `call_once` (no other thread of ours runs them at the same time);
        // `sqlite3_config` returns SQLITE_MISUSE without effect once SQLite
        // is initialised.
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            );
            rusqlite::ffi::sqlite3_initialize();
        }
    });
}

impl SqliteStore {
    /// Opens (creating if needed) the SQLite database at `path` and brings
    /// its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<SqliteStore> {
        sqlite_memstatus_off();
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .after_release(|conn, _| {
                Box::pin(async move { released_connection_is_clean(conn).await })
            })
            .connect_with(Self::connect_options(path))
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore {
            pool,
            path: Some(path.to_path_buf()),
            counts: Default::default(),
            calc: Default::default(),
            node: Default::default(),
        })
    }

    fn connect_options(path: &Path) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
    }

    /// The same database through a pool of its own, for the import runner
    /// (see `Storage::import_engine`), with every connection opened before
    /// this returns. sqlx runs each SQLite connection on a thread it starts
    /// when the connection opens, and a thread inherits the scheduling
    /// policy of the thread that starts it: called from the import's
    /// `SCHED_IDLE` thread, the import's SQLite work runs at the import's
    /// priority, while the API's connections (the first pool) keep the
    /// normal one. The connections are never closed for idleness or age
    /// (a replacement could be opened from another thread); the pool's
    /// upkeep runs on the caller's runtime. The list totals and the licence
    /// arithmetic are shared with the first pool's store.
    pub async fn import_twin(&self) -> Result<Option<SqliteStore>> {
        let Some(path) = self.path.as_ref() else {
            return Ok(None);
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(IMPORT_CONNECTIONS)
            .min_connections(IMPORT_CONNECTIONS)
            .idle_timeout(None)
            .max_lifetime(None)
            .after_release(|conn, _| {
                Box::pin(async move { released_connection_is_clean(conn).await })
            })
            .connect_with(Self::connect_options(path))
            .await?;
        let mut open = Vec::new();
        for _ in 0..IMPORT_CONNECTIONS {
            open.push(pool.acquire().await?);
        }
        drop(open);
        Ok(Some(SqliteStore {
            pool,
            path: None,
            counts: self.counts.clone(),
            calc: self.calc.clone(),
            node: self.node.clone(),
        }))
    }

    /// See `Storage::space_problem`: the free space of the file system
    /// that holds the database file, from `statvfs(3)`, below
    /// [`LOW_SPACE_BYTES`].
    pub fn space_problem(&self) -> Option<String> {
        let path = self.path.as_ref()?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let free = free_bytes(dir)?;
        (free < LOW_SPACE_BYTES).then(|| {
            format!(
                "No space left on the file system of the database ({}: {} KiB free)",
                dir.display(),
                free / 1024
            )
        })
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that writes. It takes SQLite's write lock at its
    /// start (`BEGIN IMMEDIATE`), waiting for it up to the busy timeout
    /// while another connection writes. A deferred `BEGIN` would take the
    /// lock only at its first write, and a transaction that read before it
    /// writes fails there at once with `SQLITE_BUSY` when another writer
    /// holds the lock or committed since its read: SQLite never waits to
    /// upgrade a read snapshot. Every transaction that writes begins here
    /// (clippy's `disallowed-methods` in `clippy.toml` forbids a bare
    /// `begin()` in this crate).
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with(BEGIN_WRITE).await?)
    }

    /// A transaction that only reads: one consistent snapshot for several
    /// statements (a deferred `BEGIN`, which takes no lock).
    pub(crate) async fn read_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN DEFERRED").await?)
    }
}

/// Whether a connection given back to the pool may be used again: not if
/// sqlx still counts a transaction open on it. That happens when SQLite ended
/// a transaction by itself: on `SQLITE_FULL` (a full disk) or an I/O error it
/// may roll the whole transaction back, and then the `ROLLBACK` that sqlx
/// sends for the dropped `Transaction` fails ("no transaction is active"),
/// so its count stays at 1 and every later `BEGIN` on that connection fails
/// ("attempted to call begin_with at non-zero transaction depth"): requests
/// answered 500 long after the disk was freed. Such a connection is closed
/// (the pool opens a new one). The ping first lets the worker finish the
/// rollback a dropped transaction queued, so a healthy connection is kept.
async fn released_connection_is_clean(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<bool> {
    use sqlx::Connection;
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a transaction SQLite had ended");
        return Ok(false);
    }
    Ok(true)
}

/// The count cache's lock (a poisoned lock only means a panic elsewhere;
/// the cache is still consistent).
pub(crate) fn lock_counts(
    m: &std::sync::Mutex<list::CountCache>,
) -> std::sync::MutexGuard<'_, list::CountCache> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How every transaction that writes begins (see [`Store::write_tx`]).
pub(crate) const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A Unix-millisecond time as UTC.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    to_ms(Utc::now())
}

#[cfg(test)]
pub(crate) async fn test_store() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_sqlite(&dir.path().join("t.db"))
        .await
        .unwrap();
    (store, dir)
}

#[cfg(test)]
mod pool_tests {
    use super::*;
    use sqlx::Connection;

    /// A write that fills the database (SQLITE_FULL, here from
    /// `max_page_count`, as from a full disk) is rolled back by SQLite
    /// itself; the connection must not go back to the pool still counted
    /// inside a transaction, or every later transaction on it fails.
    #[tokio::test]
    async fn a_transaction_sqlite_rolled_back_on_a_full_database_does_not_poison_the_pool() {
        let (store, _dir) = test_store().await;
        {
            let mut conn = store.pool().acquire().await.unwrap();
            sqlx::query("CREATE TABLE filler (b BLOB)")
                .execute(&mut *conn)
                .await
                .unwrap();
            let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut tx = conn.begin_with(BEGIN_WRITE).await.unwrap();
            let err = match sqlx::query("INSERT INTO filler VALUES (zeroblob(4000000))")
                .execute(&mut *tx)
                .await
            {
                Err(e) => e,
                Ok(_) => tx.commit().await.unwrap_err(),
            };
            assert!(err.to_string().contains("full"), "{err}");
        }
        // Every connection of the pool can begin (and the filled one, if
        // kept, was not left inside a transaction).
        for _ in 0..3 {
            let mut conn = store.pool().acquire().await.unwrap();
            assert!(!conn.is_in_transaction());
            let tx = conn.begin_with("BEGIN DEFERRED").await.unwrap();
            tx.rollback().await.unwrap();
        }
        store.write_tx().await.unwrap().rollback().await.unwrap();
    }
}

#[cfg(test)]
mod migration_tests {
    use super::*;
    use sqlx::Row;

    /// `statvfs` answers for the database's directory, and a file system
    /// with room is no reason for a failure.
    #[tokio::test]
    async fn a_database_with_room_has_no_space_problem_and_statvfs_answers() {
        let (store, dir) = test_store().await;
        let free = free_bytes(dir.path()).expect("statvfs of the database's directory");
        if free >= LOW_SPACE_BYTES {
            assert_eq!(store.space_problem(), None);
        }
        assert_eq!(free_bytes(Path::new("/no/such/directory")), None);
    }

    /// A database made by migrations 0001–0004 (package_facts,
    /// import_packages) and holding rows is upgraded by `open_sqlite`: the
    /// rows are in installed_packages and import_scan_packages, the old
    /// tables are gone, the index is recreated, and the store reads them.
    #[tokio::test]
    async fn a_database_of_migration_4_upgrades_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let opts = SqliteConnectOptions::new()
                .filename(&path)
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap();
            let mut old = sqlx::migrate!("./migrations/sqlite");
            old.migrations = old
                .migrations
                .iter()
                .filter(|m| m.version <= 4)
                .cloned()
                .collect::<Vec<_>>()
                .into();
            assert_eq!(old.migrations.len(), 4);
            old.run(&pool).await.unwrap();
            for sql in [
                "INSERT INTO imports (id, import_type, trigger, status, requested_at, finished_at)
                 VALUES (1, 'complete', 'cli', 'successful', 1, 2)",
                "INSERT INTO import_packages (import_id, data_source, file_name, size, sha256,
                   seen_at, state, reason, mtime_ns, endpoint_id, scan_time)
                 VALUES (1, 'ds', '202611281200-a.tar.gz', 10, 'aa', 3, 'new', NULL, 4, 'a', 5),
                        (1, 'ds', '202611281200-b.zip', 0, '', 3, 'rejected', 'bad', NULL, NULL, NULL)",
                "INSERT INTO package_facts (computer_id, import_id, name, version, architecture,
                   vendor, source)
                 VALUES (7, 1, 'adduser', '3.134', 'all', NULL, 'dpkg'),
                        (7, 1, 'bash', '5.2', 'amd64', 'Debian', 'dpkg')",
            ] {
                sqlx::query(sql).execute(&pool).await.unwrap();
            }
            pool.close().await;
        }
        let store = SqliteStore::open_sqlite(&path).await.unwrap();
        let facts = sqlx::query(
            "SELECT computer_id, import_id, name, version, architecture, vendor, source
             FROM installed_packages ORDER BY rowid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let facts: Vec<(i64, String, Option<String>)> = facts
            .iter()
            .map(|r| (r.get(0), r.get(2), r.get(5)))
            .collect();
        assert_eq!(
            facts,
            [
                (7, "adduser".to_string(), None),
                (7, "bash".to_string(), Some("Debian".to_string()))
            ]
        );
        let recorded = store.import_scan_packages(1, None).await.unwrap();
        let states: Vec<(&str, ScanPackageState, Option<&str>)> = recorded
            .iter()
            .map(|p| (p.file_name.as_str(), p.state, p.reason.as_deref()))
            .collect();
        assert_eq!(
            states,
            [
                ("202611281200-a.tar.gz", ScanPackageState::New, None),
                (
                    "202611281200-b.zip",
                    ScanPackageState::Rejected,
                    Some("bad")
                ),
            ]
        );
        assert_eq!(recorded[0].endpoint_id.as_deref(), Some("a"));
        assert_eq!(recorded[0].mtime_ns, Some(4));
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master
             WHERE name IN ('package_facts', 'import_packages', 'package_facts_by_computer',
                            'installed_packages', 'import_scan_packages',
                            'installed_packages_by_computer')
             ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            names,
            [
                "import_scan_packages",
                "installed_packages",
                "installed_packages_by_computer"
            ]
        );
        let row = store.import(1).await.unwrap().unwrap();
        assert_eq!(
            (
                row.scan_packages_found,
                row.scan_packages_imported,
                row.scan_packages_rejected
            ),
            (2, 1, 1)
        );
    }
}

#[cfg(test)]
mod unavailable_tests {
    use super::*;
    use sqlx::Connection;

    #[test]
    fn lost_connections_and_exhausted_pools_are_unavailable_other_errors_are_not() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        for e in [
            sqlx::Error::Io(refused),
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Tls("handshake failed".into()),
        ] {
            let e = StoreError::from(e);
            assert!(e.is_unavailable(), "{e}");
            assert!(!e.is_input_error(), "{e}");
            assert!(
                e.to_string().starts_with("the database is not available: "),
                "{e}"
            );
        }
        for e in [
            sqlx::Error::RowNotFound,
            sqlx::Error::Protocol("odd".into()),
            sqlx::Error::ColumnNotFound("x".into()),
        ] {
            let e = StoreError::from(e);
            assert!(matches!(e, StoreError::Db(_)), "{e}");
            assert!(!e.is_unavailable(), "{e}");
        }
    }

    #[test]
    fn postgres_sqlstates_of_a_server_that_cannot_be_reached() {
        for code in [
            "08000", "08003", "08006", "08001", "08004", "57P01", "57P02", "57P03", "53300",
        ] {
            assert!(pg_sqlstate_unavailable(code), "{code}");
        }
        // A unique violation, a syntax error, a serialization failure, a
        // statement cancelled, a read-only transaction: not "unavailable".
        for code in ["23505", "42601", "40001", "57014", "25006", "XX000"] {
            assert!(!pg_sqlstate_unavailable(code), "{code}");
        }
    }

    /// SQLite's "database is locked" (another connection holds the write
    /// lock past the busy timeout, here zero) is unavailable, from sqlx and
    /// from the bulk path's rusqlite alike.
    #[tokio::test]
    async fn sqlite_busy_past_its_timeout_is_unavailable() {
        let (store, dir) = test_store().await;
        let mut holder = store.pool().acquire().await.unwrap();
        let tx = holder.begin_with(BEGIN_WRITE).await.unwrap();
        let path = dir.path().join("t.db");
        let impatient = SqliteStore::connect_options(&path).busy_timeout(Duration::ZERO);
        let mut other = sqlx::SqliteConnection::connect_with(&impatient)
            .await
            .unwrap();
        let err = sqlx::query(BEGIN_WRITE)
            .execute(&mut other)
            .await
            .unwrap_err();
        let err = StoreError::from(err);
        assert!(err.is_unavailable(), "{err}");
        assert!(err.to_string().contains("locked"), "{err}");

        let bulk = rusqlite::Connection::open(&path).unwrap();
        bulk.busy_timeout(Duration::ZERO).unwrap();
        let err = StoreError::from(bulk.execute_batch(BEGIN_WRITE).unwrap_err());
        assert!(err.is_unavailable(), "{err}");
        tx.rollback().await.unwrap();

        // A constraint failure is not.
        let err = sqlx::query("INSERT INTO imports (id) VALUES (NULL, 1)")
            .execute(store.pool())
            .await
            .unwrap_err();
        assert!(!StoreError::from(err).is_unavailable());
    }
}
