//! `openlmt db copy`: every row of a SQLite database into an empty
//! PostgreSQL database (issue 10, item 4), so that a user who outgrows
//! SQLite keeps users, tokens, sessions, the import history, the inventory,
//! the software instances and the licence figures.
//!
//! How: both databases are brought to this version's schema (the same
//! tables and columns on both engines: `tests/schema_parity.rs`); the target
//! must then hold no row at all. Every table of the source is read in one
//! read transaction (one snapshot, so a server still running on the file
//! cannot make the copy inconsistent) and written with `COPY … FROM STDIN`
//! in one PostgreSQL transaction, tables ordered so that a row's foreign
//! keys exist before it; each value goes by its SQLite storage class
//! (`INTEGER`, `REAL`, `TEXT`, `BLOB` → `bytea`, `NULL`). The identity
//! columns' sequences are then set past the highest copied id, and every
//! table's row count is compared on both sides before the commit: any
//! difference, or any error, rolls the whole copy back and leaves the target
//! empty.

use crate::postgres::copy::CopyText;
use crate::{PgStore, Result, SqliteStore, StoreError};
use futures_util::TryStreamExt;
use sqlx::{Row, ValueRef};
use std::collections::{BTreeMap, BTreeSet};

/// One table's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    /// Rows read from SQLite, and counted in PostgreSQL after the copy.
    pub rows: u64,
}

/// Bytes of `COPY` text gathered before they are sent.
const SEND_AT: usize = 8 << 20;

/// Copies every row of `from` into `to`, which must hold none; returns each
/// table with its row count (equal on both sides, or nothing is committed).
pub async fn copy_sqlite_to_postgres(from: &SqliteStore, to: &PgStore) -> Result<Vec<TableCopy>> {
    let tables = source_tables(from).await?;
    let target_tables = target_tables(to).await?;
    let missing: Vec<&String> = tables
        .iter()
        .filter(|t| !target_tables.contains(*t))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "the PostgreSQL database has no table {missing:?}: it is not at this version's schema"
        )));
    }
    let mut pg = to.tx().await?;
    for t in &target_tables {
        let any: Option<i32> = sqlx::query_scalar(&format!("SELECT 1 FROM {} LIMIT 1", quoted(t)))
            .fetch_optional(&mut *pg)
            .await?;
        if any.is_some() {
            return Err(StoreError::Invalid(format!(
                "the PostgreSQL database is not empty (table {t} has rows): db copy only fills an empty database"
            )));
        }
    }
    let order = fk_order(&mut pg, &tables).await?;
    let mut src = from.read_tx().await?;
    let mut copied = Vec::new();
    for table in &order {
        let columns = source_columns(&mut src, table).await?;
        let target = target_columns(&mut pg, table).await?;
        let source: BTreeSet<&str> = columns.iter().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = target.keys().map(String::as_str).collect();
        if source != wanted {
            return Err(StoreError::Invalid(format!(
                "table {table}: the SQLite database has the columns {source:?} and the PostgreSQL one {wanted:?}: the two are not at the same schema"
            )));
        }
        let list = columns
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("COPY {} ({list}) FROM STDIN", quoted(table));
        let mut text = CopyText::default();
        let mut rows = 0u64;
        let select = format!("SELECT {list} FROM {}", quoted(table));
        {
            let mut stream = sqlx::query(&select).fetch(&mut *src);
            while let Some(row) = stream.try_next().await? {
                for (i, column) in columns.iter().enumerate() {
                    let raw = row.try_get_raw(i)?;
                    if raw.is_null() {
                        text.null();
                        continue;
                    }
                    let class = raw.type_info().to_string();
                    match class.as_str() {
                        "INTEGER" => text.int(row.try_get::<i64, _>(i)?),
                        "REAL" => text.real(row.try_get::<f64, _>(i)?),
                        "BLOB" => text.bytea(&row.try_get::<Vec<u8>, _>(i)?),
                        _ if target[column] == "bytea" => {
                            text.bytea(row.try_get::<String, _>(i)?.as_bytes())
                        }
                        _ => text.text(&row.try_get::<String, _>(i)?),
                    }
                }
                text.end_row();
                rows += 1;
                if text.len() >= SEND_AT {
                    text.send(&mut pg, &statement).await?;
                }
            }
        }
        text.send(&mut pg, &statement).await?;
        let counted: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quoted(table)))
            .fetch_one(&mut *pg)
            .await?;
        if counted as u64 != rows {
            return Err(StoreError::Internal(format!(
                "table {table}: {rows} rows read from SQLite but {counted} in PostgreSQL; nothing was committed"
            )));
        }
        copied.push(TableCopy {
            table: table.clone(),
            rows,
        });
    }
    // Identity columns continue after the highest id SQLite ever gave: its
    // AUTOINCREMENT record (`sqlite_sequence`) remembers ids of rows since
    // deleted, which must not come back either.
    let high: BTreeMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT name, seq FROM sqlite_sequence")
            .fetch_all(&mut *src)
            .await
            .unwrap_or_default()
            .into_iter()
            .collect();
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns
         WHERE table_schema = current_schema() AND is_identity = 'YES'",
    )
    .fetch_all(&mut *pg)
    .await?;
    for (table, column) in identities {
        let recorded = high.get(&table).copied().unwrap_or(0);
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence($1, $2),
                           GREATEST(COALESCE((SELECT MAX({c}) FROM {t}), 0), $3) + 1, false)",
            c = quoted(&column),
            t = quoted(&table),
        ))
        .bind(quoted(&table))
        .bind(&column)
        .bind(recorded)
        .execute(&mut *pg)
        .await?;
    }
    drop(src);
    pg.commit().await?;
    Ok(copied)
}

/// The source's tables (not SQLite's own, not sqlx's migration record), in
/// creation order.
async fn source_tables(from: &SqliteStore) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
           AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'
         ORDER BY rowid",
    )
    .fetch_all(from.pool())
    .await?)
}

async fn target_tables(to: &PgStore) -> Result<BTreeSet<String>> {
    Ok(sqlx::query_scalar(
        "SELECT table_name::TEXT FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
           AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(to.pool())
    .await?
    .into_iter()
    .collect())
}

async fn source_columns(src: &mut sqlx::SqliteConnection, table: &str) -> Result<Vec<String>> {
    Ok(
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut *src)
            .await?,
    )
}

/// The target table's columns with their data types.
async fn target_columns(
    pg: &mut sqlx::PgConnection,
    table: &str,
) -> Result<BTreeMap<String, String>> {
    Ok(sqlx::query_as::<_, (String, String)>(
        "SELECT column_name::TEXT, data_type::TEXT FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut *pg)
    .await?
    .into_iter()
    .collect())
}

/// An identifier quoted for SQL (both engines): the names come from the
/// databases' own catalogs, and the source file is the operator's, but a
/// crafted one must not be able to run SQL on the target.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `tables` ordered so that every table comes after the tables its foreign
/// keys refer to (PostgreSQL's constraints say which), otherwise in their
/// creation order.
async fn fk_order(pg: &mut sqlx::PgConnection, tables: &[String]) -> Result<Vec<String>> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::TEXT, c.confrelid::regclass::TEXT
         FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *pg)
    .await?;
    let mut needs: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (child, parent) in &edges {
        if child != parent {
            needs
                .entry(child.as_str())
                .or_default()
                .insert(parent.as_str());
        }
    }
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = tables.iter().collect();
    while !left.is_empty() {
        let ready = left.iter().position(|t| {
            needs.get(t.as_str()).is_none_or(|ps| {
                ps.iter()
                    .all(|p| done.iter().any(|d| d == p) || !tables.iter().any(|x| x == p))
            })
        });
        let Some(i) = ready else {
            return Err(StoreError::Internal(format!(
                "the foreign keys between {left:?} form a cycle"
            )));
        };
        done.push(left.remove(i).clone());
    }
    Ok(done)
}
