//! The PostgreSQL schema (`migrations/postgres`) has every table, column,
//! key, unique constraint, index and view of the SQLite schema
//! (`migrations/sqlite`), with the agreed types, and nothing else: both
//! databases are made by their migrations and introspected, so the two can
//! never drift apart. Runs against the server of `OPENLMT_TEST_DATABASE_URL`
//! (a database of its own, dropped at the end); without it, says it was
//! skipped.

use openlmt_storage::testing::TestDatabase;
use openlmt_storage::SqliteStore;
use sqlx::{Connection, Row};
use std::collections::{BTreeMap, BTreeSet};

/// One column: its type as PostgreSQL spells it, and whether it may be NULL
/// (`None` for primary-key columns, which SQLite leaves nullable in name
/// only).
type Columns = BTreeMap<String, (String, Option<bool>)>;

#[derive(Debug, Default, PartialEq)]
struct Schema {
    tables: BTreeMap<String, Columns>,
    primary_keys: BTreeMap<String, Vec<String>>,
    /// (table, columns) of each UNIQUE constraint.
    unique: BTreeSet<(String, Vec<String>)>,
    /// name → (table, unique, columns) of each index made by CREATE INDEX.
    indexes: BTreeMap<String, (String, bool, Vec<String>)>,
    /// name → column names.
    views: BTreeMap<String, Vec<String>>,
}

/// SQLite's declared type, as the PostgreSQL migration must spell it; `?`
/// for a column declared without a type (no affinity: it keeps whatever
/// type its values had), which may have any type in PostgreSQL.
fn pg_type_of(sqlite: &str) -> String {
    match sqlite.to_ascii_uppercase().as_str() {
        "INTEGER" => "bigint",
        "TEXT" => "text",
        "BLOB" => "bytea",
        "" => ANY_TYPE,
        other => panic!("a SQLite column of type {other:?}: agree its PostgreSQL type first"),
    }
    .to_string()
}

const ANY_TYPE: &str = "?";

async fn sqlite_schema(store: &SqliteStore) -> Schema {
    let pool = store.pool();
    let mut s = Schema::default();
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT type, name FROM sqlite_master
         WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%'
           AND name != '_sqlx_migrations'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for (kind, name) in objects {
        let cols = sqlx::query(&format!("PRAGMA table_info(\"{name}\")"))
            .fetch_all(pool)
            .await
            .unwrap();
        if kind == "view" {
            s.views.insert(
                name,
                cols.iter().map(|c| c.get::<String, _>("name")).collect(),
            );
            continue;
        }
        let mut columns = Columns::new();
        let mut pk: Vec<(i64, String)> = Vec::new();
        for c in &cols {
            let col: String = c.get("name");
            let pk_pos: i64 = c.get("pk");
            let nullable = if pk_pos > 0 {
                pk.push((pk_pos, col.clone()));
                None
            } else {
                Some(c.get::<i64, _>("notnull") == 0)
            };
            columns.insert(col, (pg_type_of(&c.get::<String, _>("type")), nullable));
        }
        pk.sort();
        if !pk.is_empty() {
            s.primary_keys
                .insert(name.clone(), pk.into_iter().map(|(_, c)| c).collect());
        }
        let indexes = sqlx::query(&format!("PRAGMA index_list(\"{name}\")"))
            .fetch_all(pool)
            .await
            .unwrap();
        for ix in indexes {
            let ix_name: String = ix.get("name");
            let origin: String = ix.get("origin");
            let unique = ix.get::<i64, _>("unique") == 1;
            let ix_cols: Vec<String> = sqlx::query(&format!("PRAGMA index_info(\"{ix_name}\")"))
                .fetch_all(pool)
                .await
                .unwrap()
                .iter()
                .map(|c| c.get::<String, _>("name"))
                .collect();
            match origin.as_str() {
                "c" => {
                    s.indexes.insert(ix_name, (name.clone(), unique, ix_cols));
                }
                "u" => {
                    s.unique.insert((name.clone(), ix_cols));
                }
                _ => {} // the primary key's own index
            }
        }
        s.tables.insert(name, columns);
    }
    s
}

async fn postgres_schema(conn: &mut sqlx::PgConnection) -> Schema {
    let mut s = Schema::default();
    let objects: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, table_type::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name != '_sqlx_migrations'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let pk_rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.table_name::text, k.column_name::text
         FROM information_schema.table_constraints c
         JOIN information_schema.key_column_usage k
           ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema
         WHERE c.table_schema = 'public' AND c.constraint_type = 'PRIMARY KEY'
           AND k.table_name != '_sqlx_migrations'
         ORDER BY k.table_name, k.ordinal_position",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (table, col) in pk_rows {
        s.primary_keys.entry(table).or_default().push(col);
    }
    for (name, kind) in objects {
        let cols: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text, is_nullable::text
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(&name)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        if kind == "VIEW" {
            s.views
                .insert(name, cols.into_iter().map(|(c, _, _)| c).collect());
            continue;
        }
        let pk = s.primary_keys.get(&name).cloned().unwrap_or_default();
        let columns = cols
            .into_iter()
            .map(|(c, ty, nullable)| {
                let nullable = (!pk.contains(&c)).then_some(nullable == "YES");
                (c, (ty, nullable))
            })
            .collect();
        s.tables.insert(name, columns);
    }
    // UNIQUE constraints, and the indexes made by CREATE INDEX (those that
    // back no constraint), with their columns in order.
    let indexes = sqlx::query(
        "SELECT i.relname::text AS name, t.relname::text AS tbl, ix.indisunique AS uniq,
                EXISTS (SELECT 1 FROM pg_constraint c
                        WHERE c.conindid = ix.indexrelid AND c.contype = 'u') AS is_constraint,
                ix.indisprimary AS is_primary,
                array_agg(a.attname::text ORDER BY k.ord) AS cols
         FROM pg_index ix
         JOIN pg_class i ON i.oid = ix.indexrelid
         JOIN pg_class t ON t.oid = ix.indrelid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
         WHERE n.nspname = 'public' AND t.relname != '_sqlx_migrations'
         GROUP BY i.relname, t.relname, ix.indisunique, ix.indexrelid, ix.indisprimary",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for ix in indexes {
        let cols: Vec<String> = ix.get("cols");
        let table: String = ix.get("tbl");
        if ix.get::<bool, _>("is_primary") {
            continue;
        }
        if ix.get::<bool, _>("is_constraint") {
            s.unique.insert((table, cols));
        } else {
            s.indexes
                .insert(ix.get("name"), (table, ix.get::<bool, _>("uniq"), cols));
        }
    }
    s
}

#[tokio::test]
async fn the_postgres_schema_has_every_table_column_key_and_index_of_the_sqlite_schema() {
    let Some(db) = TestDatabase::create("schema_parity").await.unwrap() else {
        return;
    };
    openlmt_storage::postgres::migrate(db.url()).await.unwrap();
    // Applying them again finds nothing to do.
    openlmt_storage::postgres::migrate(db.url()).await.unwrap();
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    let pg = postgres_schema(&mut conn).await;
    conn.close().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::open_sqlite(&dir.path().join("t.db"))
        .await
        .unwrap();
    let lite = sqlite_schema(&sqlite).await;

    assert!(lite.tables.len() > 30, "{:?}", lite.tables.keys());
    assert_eq!(
        lite.tables.keys().collect::<Vec<_>>(),
        pg.tables.keys().collect::<Vec<_>>(),
        "tables"
    );
    for (table, cols) in &lite.tables {
        let mut pg_cols = pg.tables[table].clone();
        for (col, (ty, _)) in cols {
            if let (true, Some(pg_col)) = (ty == ANY_TYPE, pg_cols.get_mut(col)) {
                pg_col.0 = ANY_TYPE.to_string();
            }
        }
        assert_eq!(cols, &pg_cols, "the columns of {table}");
    }
    assert_eq!(lite.primary_keys, pg.primary_keys, "primary keys");
    assert_eq!(lite.unique, pg.unique, "UNIQUE constraints");
    assert_eq!(lite.indexes, pg.indexes, "indexes");
    assert_eq!(lite.views, pg.views, "views");
}
