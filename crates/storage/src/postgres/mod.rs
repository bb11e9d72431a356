//! The PostgreSQL engine: [`PgStore`], the storage interface
//! ([`crate::Storage`]) on sqlx's PostgreSQL driver, over the schema of
//! `migrations/postgres` (the same tables, columns, keys and indexes as the
//! SQLite schema, held to it by `tests/schema_parity.rs`). The SQLite
//! engine's code is the specification of every method's behaviour; the
//! conformance suite (`tests/conformance.rs`) runs the same cases on both.
//!
//! Built (each with its conformance cases on both engines):
//! - opening, the pool and the migrations;
//! - users, API tokens, panel sessions, `meta` and the auth epoch
//!   (`auth.rs`);
//! - imports: registration (one import pending or running in the whole
//!   database, decided by the UNIQUE `active_slot` column), steps, the scan
//!   packages an import records, history and its retention, the marking of
//!   interrupted imports, the publish in one transaction, and the clean-up
//!   of what unpublished imports left (`imports.rs`);
//! - the import's facts: computer ids, staged computer values, package and
//!   SWID facts, VM-manager observations, their publish (`inventory.rs`);
//! - the software inventory: the operator's catalog layer, discovery's
//!   targets, facts and stored instances, what it stages and its publish
//!   (`software.rs`);
//! - licence metrics: the licence step's inputs, the PVU table and rate
//!   overrides, snapshots, their publish and the recomputation of the day,
//!   the values and their explanation (`license.rs`);
//! - the lists (filtered, sorted, paged, counted from one snapshot,
//!   streamed or read in place), decommissioning (`list.rs`);
//! - classification and the recomputation of the days it touches
//!   (`classification.rs`);
//! - the audit snapshot's reads (`audit_snapshot.rs`).
//!
//! That is every method of [`crate::Storage`]. [`crate::Store::open`]
//! opens it for `postgres://` URLs: the server and the CLI run on it, and
//! their black-box tests run on it too (`crates/cli/tests`, with
//! `OPENLMT_TEST_ENGINE=postgres`). The import's facts go in with `COPY`
//! (`inventory.rs`, `copy.rs`). Not part of this engine yet: replicas,
//! leases (issue 10, item 3).
//!
//! Differences from SQLite that the code bridges:
//! - Facts and a VM observation's guests are read in the order they were
//!   written: the column `seq` (SQLite's rowid, named by its migration
//!   0012; an identity column here, migration 0004), not `ctid`, a row's
//!   physical place, which a row written later takes in space `VACUUM`
//!   freed.
//! - Text sorts that decide a result use `COLLATE "C"` (SQLite's byte
//!   order). The view `license_placement_of_latest` (the migrations') picks
//!   a computer's server as `MIN(server_key)` in the database's collation;
//!   the keys (`computer:N`, `cloud:N`, `default…`) sort the same in `C`
//!   and the usual locales.
//! - Transactions are READ COMMITTED: writers do not exclude each other for
//!   a whole transaction as SQLite's `BEGIN IMMEDIATE` does, so decisions
//!   are taken by a constraint (`ON CONFLICT`) or on locked rows
//!   (`FOR UPDATE`); reads that must agree with each other run in one
//!   REPEATABLE READ transaction.

mod audit_snapshot;
mod auth;
mod classification;
mod cluster;
pub(crate) mod copy;
mod engine;
mod imports;
mod inventory;
mod license;
mod list;
mod software;

use crate::{Result, StoreError, UsageCalculator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long [`PgStore::open`] waits for the server's first answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Totals of list queries, by query, for the list generation they were
    /// counted at (see `list.rs`).
    counts: Arc<std::sync::Mutex<crate::list::CountCache>>,
    /// The licence arithmetic (see `license.rs`), set once at start-up.
    calc: Arc<OnceLock<Arc<dyn UsageCalculator>>>,
    /// Who this server is (see `cluster.rs`), set once at start-up.
    node: Arc<OnceLock<crate::NodeConfig>>,
}

/// Now, in Unix milliseconds, by the database server's clock (lease times
/// are compared with it, never with a node's own clock).
pub(crate) const DB_NOW_MS: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

impl PgStore {
    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL)
    /// and brings its schema up to date (sqlx's migrator holds an advisory
    /// lock meanwhile, so processes starting together migrate once).
    ///
    /// A URL that does not parse, a server that cannot be reached within
    /// [`CONNECT_TIMEOUT`] and a refused login are errors at once, each
    /// saying so (the pool itself would retry until its acquire timeout
    /// and then only say that it timed out).
    pub async fn open(url: &str) -> Result<PgStore> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("the PostgreSQL URL is not valid: {e}")))?
            .application_name("openlmt");
        let first = tokio::time::timeout(CONNECT_TIMEOUT, sqlx::PgConnection::connect_with(&opts))
            .await
            .map_err(|_| {
                StoreError::Internal(format!(
                    "the PostgreSQL server at {}:{} did not answer within {} s",
                    opts.get_host(),
                    opts.get_port(),
                    CONNECT_TIMEOUT.as_secs()
                ))
            })?
            .map_err(|e| {
                StoreError::Internal(format!(
                    "cannot connect to the PostgreSQL server at {}:{} (database `{}`): {e}",
                    opts.get_host(),
                    opts.get_port(),
                    opts.get_database().unwrap_or("(default)")
                ))
            })?;
        first.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore {
            pool,
            counts: Default::default(),
            calc: Default::default(),
            node: Default::default(),
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
