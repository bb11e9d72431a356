//! The PostgreSQL engine: [`PgStore`], the storage interface
//! ([`crate::Storage`]) on sqlx's PostgreSQL driver, over the schema of
//! `migrations/postgres` (the same tables, columns, keys and indexes as the
//! SQLite schema, held to it by `tests/schema_parity.rs`). The SQLite
//! engine's code is the specification of every method's behaviour; the
//! conformance suite (`tests/conformance.rs`) runs the same cases on both.
//!
//! Built so far (each with its conformance cases on both engines):
//! - opening, the pool and the migrations;
//! - users, API tokens, panel sessions, `meta` and the auth epoch
//!   (`auth.rs`);
//! - imports: registration (one import pending or running in the whole
//!   database, decided by the UNIQUE `active_slot` column), steps, the scan
//!   packages an import records, history and its retention, the marking of
//!   interrupted imports, the publish in one transaction, and the clean-up
//!   of what unpublished imports left (`imports.rs`);
//! - the import's writes of facts and what reads them back for the
//!   publish and the licence step: computer ids, staged computer values,
//!   package and SWID facts, VM-manager observations (`inventory.rs`).
//!
//! Not built yet: the other methods of the interface (software discovery
//! and its publish, classification, the licence snapshots and values, the
//! lists, the audit snapshot). Each returns
//! [`StoreError::Unsupported`] ("… not built on PostgreSQL yet"), never a
//! made-up result, and a publish that would need an unbuilt part (a
//! discovery to apply, a licence snapshot to publish) is refused the same
//! way before it changes anything. That is why [`crate::Store::open`] still
//! refuses `postgres://` URLs for the server: only the tests (and tools
//! that know what they call) open a [`PgStore`] directly. Not part of this
//! engine yet either: bulk loading with `COPY`, replicas, leases.

mod auth;
mod engine;
mod imports;
mod inventory;
mod license;
mod software;

use crate::{Result, StoreError, UsageCalculator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings the schema of the PostgreSQL database at `url` up to date.
pub async fn migrate(url: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// The PostgreSQL engine: a pool of connections to one database.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// The licence arithmetic (see `license.rs`), set once at start-up.
    calc: Arc<OnceLock<Arc<dyn UsageCalculator>>>,
}

/// The error of a method this engine does not have yet.
pub(crate) fn not_built(what: &str) -> StoreError {
    StoreError::Unsupported(format!("{what} is not built on PostgreSQL yet"))
}

impl PgStore {
    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL)
    /// and brings its schema up to date (sqlx's migrator holds an advisory
    /// lock meanwhile, so processes starting together migrate once).
    pub async fn open(url: &str) -> Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)?.application_name("openlmt");
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore {
            pool,
            calc: Default::default(),
        })
    }

    /// A cheap liveness check.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// The pool, for tests and tools that read the database's own tables.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction (READ COMMITTED, PostgreSQL's default). Unlike
    /// SQLite's, writers do not exclude each other for the whole
    /// transaction: statements that decide something from what they read
    /// lock the rows they decide on (`FOR UPDATE`) or let a constraint
    /// decide (`ON CONFLICT`).
    pub(crate) async fn tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin_with("BEGIN").await?)
    }
}
