//! Persistence for openlmt: one [`Store`] over an embedded SQLite database.
//!
//! Architecture invariant: this crate owns every SQL statement. Callers see
//! typed rows and domain types, never SQL or connection details. Times are
//! stored as Unix milliseconds.

mod imports;
mod inventory;
mod inventory_query;
mod meta;
mod sessions;
mod users;

pub use imports::{
    ImportRow, LeftoverCounts, Leftovers, NewPackageRecord, PackageState, PublishedPackage,
    StepCounters, StepRow, StoredPackage, INTERRUPTED,
};
pub use inventory::{
    PackageFactRow, PackageWrite, PublishOptions, StagedComputer, SwidFactRow, WriteTimes,
};
pub use inventory_query::{ComputerRow, DeleteOutcome, RawPackageFact, RawSwidTag};
pub use sessions::{random_hex, SessionInfo, SESSION_IDLE, SESSION_MAX_AGE, TOUCH_EVERY_MS};
pub use users::{Principal, TokenInfo, UserInfo};

use chrono::{DateTime, TimeZone, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the import's bulk write path (a borrowed connection, see
    /// `Store::write_packages`).
    #[error("database error: {0}")]
    Bulk(#[from] rusqlite::Error),
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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Store {
    /// Opens (creating if needed) the SQLite database at `path` and brings
    /// its schema up to date.
    pub async fn open_sqlite(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
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
pub(crate) async fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    (store, dir)
}
