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
mod import_log;
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

/// How long an API request waits for a connection of the pool (opening
/// one included) before it fails as [`StoreError::Unavailable`] (503): a
/// lost server is answered in seconds, not after a client's own timeout.
/// Short statements are what the API runs, so a healthy pool hands a
/// connection out in far less.
pub const API_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The same for the import's own pool (see [`PgStore::import_twin`]): its
/// statements may wait behind the API's for longer without the import
/// failing, and an import that lost the server fails after this.
pub const IMPORT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`PgStore::ping`] (`/healthz`) waits for the database, and
/// then for a connection of its own that says why the pool had none.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Connections of each pool (the API's, the import's).
const POOL_CONNECTIONS: u32 = 8;

/// A pool on `opts` that waits `acquire` for a connection.
///
/// Losing the server: a connection the server closed (or that a network
/// cut broke) fails the statement running on it with an I/O error
/// ([`StoreError::Unavailable`]) and is not handed out again: the pool
/// checks every idle connection with a ping before it hands it out
/// (`test_before_acquire`, set here explicitly) and closes those that do
/// not answer. While the server refuses connections, sqlx retries opening
/// one with a backoff until `acquire` has passed; once it accepts them
/// again the next acquire opens a new connection: the pool recovers by
/// itself, no restart needed.
fn pool_options(acquire: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(POOL_CONNECTIONS)
        .min_connections(0)
        .acquire_timeout(acquire)
        .test_before_acquire(true)
}

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
        let pool = pool_options(API_ACQUIRE_TIMEOUT).connect_with(opts).await?;
        MIGRATOR.run(&pool).await?;
        Ok(PgStore {
            pool,
            counts: Default::default(),
            calc: Default::default(),
            node: Default::default(),
        })
    }

    /// The same database through a pool of its own, for the import runner
    /// (see `Storage::import_engine`): the import waits up to
    /// [`IMPORT_ACQUIRE_TIMEOUT`] for a connection, the API's requests only
    /// [`API_ACQUIRE_TIMEOUT`], and neither takes the other's connections.
    /// The list totals, the licence arithmetic and the node's identity are
    /// shared with this store. No connection is opened before the import needs one.
    pub fn import_twin(&self) -> PgStore {
        let opts = (*self.pool.connect_options()).clone();
        PgStore {
            pool: pool_options(IMPORT_ACQUIRE_TIMEOUT).connect_lazy_with(opts),
            counts: self.counts.clone(),
            calc: self.calc.clone(),
            node: self.node.clone(),
        }
    }

    /// A cheap liveness check, answered within about twice
    /// [`PING_TIMEOUT`]: `SELECT 1` through the pool; when the pool gives
    /// no connection in time, one connection of its own says why (the
    /// server refused it, did not answer, or answered: the pool was only
    /// busy). A server that cannot be reached is
    /// [`StoreError::Unavailable`], with the driver's words (no URL, no
    /// password).
    pub async fn ping(&self) -> Result<()> {
        let checked =
            tokio::time::timeout(PING_TIMEOUT, sqlx::query("SELECT 1").execute(&self.pool)).await;
        match checked {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if !matches!(e, sqlx::Error::PoolTimedOut) => Err(e.into()),
            _ => Err(self.why_no_connection().await),
        }
    }

    /// Why the pool had no connection for [`PgStore::ping`]: what opening
    /// one answers.
    async fn why_no_connection(&self) -> StoreError {
        let opts = self.pool.connect_options();
        let waited = PING_TIMEOUT.as_secs();
        match tokio::time::timeout(PING_TIMEOUT, sqlx::PgConnection::connect_with(&opts)).await {
            Err(_) => StoreError::Unavailable(format!(
                "the PostgreSQL server did not answer within {waited} s"
            )),
            Ok(Err(e)) if crate::unavailable(&e) => {
                StoreError::Unavailable(format!("cannot connect to the PostgreSQL server: {e}"))
            }
            Ok(Err(e)) => StoreError::Db(e),
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                StoreError::Unavailable(format!(
                    "the PostgreSQL server answers, but no connection of the pool came free within {waited} s"
                ))
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;
    use std::time::Instant;

    /// A store whose server refuses connections (a port nothing listens
    /// on), without a PostgreSQL server.
    fn store_of_a_lost_server() -> PgStore {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = PgConnectOptions::new()
            .host("127.0.0.1")
            .port(port)
            .username("u")
            .password("s3cret-password")
            .database("gone");
        PgStore {
            pool: pool_options(API_ACQUIRE_TIMEOUT).connect_lazy_with(opts),
            counts: Default::default(),
            calc: Default::default(),
            node: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_server_that_refuses_connections_is_unavailable_within_the_timeouts() {
        let store = store_of_a_lost_server();
        let t = Instant::now();
        let err = store.ping().await.unwrap_err();
        let took = t.elapsed();
        assert!(err.is_unavailable(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("cannot connect to the PostgreSQL server"),
            "{msg}"
        );
        assert!(msg.to_lowercase().contains("refused"), "{msg}");
        assert!(!msg.contains("s3cret"), "{msg}");
        assert!(took < PING_TIMEOUT * 2 + Duration::from_secs(1), "{took:?}");

        let t = Instant::now();
        let err = crate::Storage::user_count(&store).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(
            t.elapsed() < API_ACQUIRE_TIMEOUT + Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
    }

    /// A backend the server ends (57P01, as at a server's shutdown) fails
    /// its statement as unavailable; the pool does not hand that
    /// connection out again and answers the next statement.
    #[tokio::test]
    async fn a_terminated_backend_is_unavailable_and_the_pool_recovers() {
        let Some(db) = TestDatabase::create("pg_terminated_backend").await.unwrap() else {
            return;
        };
        let store = PgStore::open(db.url()).await.unwrap();
        store.ping().await.unwrap();
        let err = sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
            .execute(store.pool())
            .await
            .unwrap_err();
        let err = StoreError::from(err);
        assert!(err.is_unavailable(), "{err}");
        for _ in 0..3 {
            store.ping().await.unwrap();
            crate::Storage::user_count(&store).await.unwrap();
        }
        // Every idle connection dies (as when the server restarts): the
        // next statements get live ones.
        let mut admin = sqlx::PgConnection::connect(db.url()).await.unwrap();
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&mut admin)
        .await
        .unwrap();
        admin.close().await.unwrap();
        for _ in 0..3 {
            crate::Storage::user_count(&store).await.unwrap();
        }
        store.pool().close().await;
    }
}
