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
    ImportRow, NewPackageRecord, PackageState, PublishedPackage, StepCounters, StepRow,
    StoredPackage, INTERRUPTED,
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
    #[error("{0}")]
    Invalid(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
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
}

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
