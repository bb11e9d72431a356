//! The PostgreSQL engine. Built so far: its schema (`migrations/postgres`,
//! the same tables, columns, keys and indexes as the SQLite schema, held to
//! it by `tests/schema_parity.rs`) and the migrator that applies it. The
//! [`crate::Storage`] implementation comes next; until then
//! [`crate::Store::open`] refuses a PostgreSQL URL.

use crate::Result;
use sqlx::Connection;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Brings the schema of the PostgreSQL database at `url` up to date.
pub async fn migrate(url: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    MIGRATOR.run(&mut conn).await?;
    conn.close().await?;
    Ok(())
}
