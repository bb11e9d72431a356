//! Generic list queries: one page of a list, filtered, sorted, counted, read
//! from one snapshot, either collected or streamed row by row to a sink.
//!
//! A list plugs in by implementing [`ListSource`]: its `SELECT` columns, its
//! `FROM … WHERE <visibility>`, its stable order, the SQL expression of each
//! field of its [`Entity`] and the mapping of a result row to its row type.
//! [`Store::query_list`] collects a page; [`Store::stream_list`] hands the
//! total and then each row to a [`RowSink`] as the database yields them, so
//! a page of 100,000 rows never sits in memory, and stops reading (and ends
//! the read transaction) as soon as the sink says stop (the client left).
//!
//! Filters come as the domain's typed [`Filter`]; each field maps to one SQL
//! expression through the list's fixed table, and every value is bound as a
//! parameter, never written into the SQL text.

use crate::storage::RefList;
use crate::{Result, SqliteStore, StoreError};
use futures_util::StreamExt;
use openlmt_domain::query::{Condition, Entity, FieldKind, Filter, Op, Query, Value};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

/// A list that can be queried (computers, raw facts, software instances…).
pub trait ListSource {
    /// What one result row becomes.
    type Row: Send + 'static;
    /// The domain list whose fields this source serves.
    const ENTITY: Entity;
    /// `SELECT …` (without `FROM`): the columns [`ListSource::row`] reads.
    const SELECT: &'static str;
    /// ` FROM … WHERE <visibility>`: filters are appended with `AND`.
    const FROM_WHERE: &'static str;
    /// The order among rows the sort keys leave equal (unique: paging is
    /// stable), e.g. `c.id`.
    const STABLE_ORDER: &'static str;
    /// A unique key of a row (`i.id`), when the list has one: a page is then
    /// read in two steps, the keys of the page first (skipping `offset`
    /// rows without computing their other columns), then the page's rows.
    const KEY: Option<&'static str> = None;
    /// `FROM_WHERE` without the LEFT JOINs that match at most one row and
    /// that SQLite cannot leave out by itself (a view): the count and the
    /// keys of a page are read with it when neither the filter nor the sort
    /// names a field that [`ListSource::needs_full_from`] says needs them.
    const LEAN_FROM_WHERE: Option<&'static str> = None;
    /// Whether a field's column reads a join that `LEAN_FROM_WHERE` leaves
    /// out.
    fn needs_full_from(_field: &str) -> bool {
        false
    }
    /// The SQL expression of a field of [`ListSource::ENTITY`], over the
    /// aliases of `FROM_WHERE`; `None` for a name that is not a field.
    fn column(field: &str) -> Option<&'static str>;
    /// Reads one result row.
    fn row(r: &SqliteRow) -> Result<Self::Row>;
}

/// Where [`Store::stream_list`](crate::Store::stream_list) hands a page:
/// first the total, then each row in order. Returning `false` stops the
/// query (the reader went away). Object-safe (`async_trait`), so that every
/// engine takes it as `&mut dyn RowSink<T>`.
#[async_trait::async_trait]
pub trait RowSink<T>: Send {
    async fn total(&mut self, total: i64) -> bool;
    async fn row(&mut self, row: T) -> bool;
}

/// The SQLite engine's reading of a list read in place: each result row
/// borrowed from rusqlite ([`SqliteStore::stream_list_ref`]).
pub trait RefListSource: ListSource + RefList {
    /// Reads one result row in place (read through rusqlite: see
    /// [`SqliteStore::stream_list_ref`]).
    fn row_ref<'r>(r: &'r rusqlite::Row<'_>) -> Result<Self::RowRef<'r>>;
}

/// Where [`Store::stream_list_ref`](crate::Store::stream_list_ref) hands a
/// page: the total, then each row (synchronously; the sink writes it out),
/// with a flush whenever the sink asks for one. `false` from `total` or
/// `flush` stops the query. Object-safe, like [`RowSink`].
#[async_trait::async_trait]
pub trait RefRowSink<S: RefList + ?Sized>: Send {
    async fn total(&mut self, total: i64) -> bool;
    /// Takes one row; `true` when the sink wants [`RefRowSink::flush`] now.
    fn row(&mut self, row: &S::RowRef<'_>) -> bool;
    async fn flush(&mut self) -> bool;
}

/// How a streamed page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every row of the page was handed to the sink.
    Complete,
    /// The sink said stop; the query was abandoned.
    Stopped,
}

/// A query the domain types accepted but a list cannot run: the domain's
/// field catalogue and the list's column table disagree, or the caller
/// passed a query of another list. Never the client's fault: parsing the
/// wire form into a [`Query`] already refused every bad field, operator and
/// value.
fn mismatch(msg: impl Into<String>) -> StoreError {
    StoreError::Internal(msg.into())
}

/// A statement being built: sqlx's builder, and a copy of its bound
/// values for the in-place reader ([`Store::stream_list_ref`], through
/// rusqlite).
pub(crate) struct Sql {
    qb: QueryBuilder<'static, Sqlite>,
    binds: Vec<Bound>,
}

/// A value bound to a list statement.
#[derive(Debug, Clone)]
enum Bound {
    Text(String),
    Int(i64),
}

impl rusqlite::ToSql for Bound {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Bound::Text(t) => t.to_sql(),
            Bound::Int(n) => n.to_sql(),
        }
    }
}

impl Sql {
    fn new(start: &str) -> Sql {
        Sql {
            qb: QueryBuilder::new(start.to_string()),
            binds: Vec::new(),
        }
    }
    fn push(&mut self, sql: impl std::fmt::Display) {
        self.qb.push(sql);
    }
    fn bind_text(&mut self, text: &str) {
        self.qb.push_bind(text.to_string());
        self.binds.push(Bound::Text(text.to_string()));
    }
    fn bind_int(&mut self, n: i64) {
        self.qb.push_bind(n);
        self.binds.push(Bound::Int(n));
    }
}

fn push_filter<S: ListSource>(qb: &mut Sql, f: &Filter) -> Result<()> {
    match f {
        Filter::Cond(c) => push_condition::<S>(qb, c)?,
        Filter::And(v) if v.is_empty() => {
            qb.push("1");
        }
        Filter::Or(v) if v.is_empty() => {
            qb.push("0");
        }
        Filter::And(v) | Filter::Or(v) => {
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            qb.push("(");
            for (i, sub) in v.iter().enumerate() {
                if i > 0 {
                    qb.push(joiner);
                }
                push_filter::<S>(qb, sub)?;
            }
            qb.push(")");
        }
    }
    Ok(())
}

fn comparison(op: Op) -> Result<&'static str> {
    Ok(match op {
        Op::Eq => " = ",
        // IS NOT, so that rows without a value count as different.
        Op::Ne => " IS NOT ",
        Op::Lt => " < ",
        Op::Le => " <= ",
        Op::Gt => " > ",
        Op::Ge => " >= ",
        Op::Contains | Op::Last => {
            return Err(mismatch(format!("`{op}` is not a plain comparison")))
        }
    })
}

fn push_condition<S: ListSource>(qb: &mut Sql, c: &Condition) -> Result<()> {
    let field = c.field();
    let col = S::column(field.name)
        .ok_or_else(|| mismatch(format!("`{}` is not a field of this list", field.name)))?;
    let op = c.op();
    match c.value() {
        Value::Null => {
            qb.push(format!(
                "({col} {})",
                if op == Op::Eq {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                }
            ));
        }
        Value::Text(text) if field.kind == FieldKind::TextList => {
            // The column holds a JSON array of strings.
            match op {
                Op::Contains => {
                    qb.push(format!("(instr(lower({col}), lower("));
                    qb.bind_text(text);
                    qb.push(")) > 0)");
                }
                Op::Eq | Op::Ne => {
                    qb.push(if op == Op::Eq {
                        "(EXISTS"
                    } else {
                        "(NOT EXISTS"
                    });
                    qb.push(format!(
                        " (SELECT 1 FROM json_each(CASE WHEN json_valid({col}) THEN {col} ELSE '[]' END) j WHERE j.value = "
                    ));
                    qb.bind_text(text);
                    qb.push("))");
                }
                _ => {
                    return Err(mismatch(format!(
                        "`{op}` does not apply to `{}`",
                        field.name
                    )))
                }
            }
        }
        Value::Text(text) if op == Op::Contains => {
            qb.push(format!("(instr(lower({col}), lower("));
            qb.bind_text(text);
            qb.push(")) > 0)");
        }
        Value::Text(text) => {
            qb.push(format!("({col}{}", comparison(op)?));
            qb.bind_text(text);
            qb.push(")");
        }
        Value::Int(n) => {
            qb.push(format!("({col}{}", comparison(op)?));
            qb.bind_int(*n);
            qb.push(")");
        }
        Value::Bool(b) => {
            qb.push(format!("({col}{}", comparison(op)?));
            qb.bind_int(i64::from(*b));
            qb.push(")");
        }
        Value::Time(t) => {
            // Compared at whole seconds, as the API shows times.
            qb.push(format!("(({col} / 1000){}", comparison(op)?));
            qb.bind_int(t.timestamp());
            qb.push(")");
        }
        Value::Period { from, to } => {
            // Whole seconds too; both ends included.
            qb.push(format!("(({col} / 1000) BETWEEN "));
            qb.bind_int(from.timestamp());
            qb.push(" AND ");
            qb.bind_int(to.timestamp());
            qb.push(")");
        }
    }
    Ok(())
}

/// Whether a filter names a field that needs the full `FROM_WHERE`.
fn filter_needs_full<S: ListSource>(f: &Filter) -> bool {
    match f {
        Filter::Cond(c) => S::needs_full_from(c.field().name),
        Filter::And(v) | Filter::Or(v) => v.iter().any(filter_needs_full::<S>),
    }
}

/// The `FROM … WHERE visibility` of the count and of a page's keys: the
/// lean one when the query's filter and sort allow it.
fn lean_from_where<S: ListSource>(q: &Query) -> &'static str {
    match S::LEAN_FROM_WHERE {
        Some(lean)
            if !q.filter().is_some_and(filter_needs_full::<S>)
                && !q.sort().iter().any(|s| S::needs_full_from(s.field().name)) =>
        {
            lean
        }
        _ => S::FROM_WHERE,
    }
}

/// Appends `FROM … WHERE visibility [AND filter]` to `qb`: the count's and
/// the keys' (`lean_from_where`), or the rows' own (`S::FROM_WHERE`).
fn push_from_where<S: ListSource>(qb: &mut Sql, q: &Query) -> Result<()> {
    push_from_where_in::<S>(qb, q, lean_from_where::<S>(q))
}

fn push_from_where_in<S: ListSource>(qb: &mut Sql, q: &Query, from_where: &str) -> Result<()> {
    qb.push(from_where);
    // (A query's filter names only fields of its list: `Query::new`.)
    if let Some(filter) = q.filter() {
        qb.push(" AND ");
        push_filter::<S>(qb, filter)?;
    }
    Ok(())
}

fn push_order<S: ListSource>(qb: &mut Sql, q: &Query) -> Result<()> {
    qb.push(" ORDER BY ");
    for s in q.sort() {
        let col = S::column(s.field().name)
            .ok_or_else(|| mismatch(format!("cannot sort by `{}`", s.field().name)))?;
        qb.push(col);
        qb.push(if s.descending() { " DESC, " } else { " ASC, " });
    }
    qb.push(S::STABLE_ORDER);
    Ok(())
}

/// The page query: in one statement, or, for a list with a [`ListSource::KEY`],
/// as the rows whose key is among the page's keys (the inner query skips
/// `offset` rows reading only what the filter and the order need).
fn page_query<S: ListSource>(q: &Query) -> Result<Sql> {
    let mut page = Sql::new(S::SELECT);
    match S::KEY {
        None => {
            push_from_where_in::<S>(&mut page, q, S::FROM_WHERE)?;
            push_order_page::<S>(&mut page, q)?;
        }
        Some(key) => {
            page.push(S::FROM_WHERE);
            page.push(format!(" AND {key} IN (SELECT {key}"));
            push_from_where::<S>(&mut page, q)?;
            push_order_page::<S>(&mut page, q)?;
            page.push(")");
            push_order::<S>(&mut page, q)?;
        }
    }
    Ok(page)
}

fn push_order_page<S: ListSource>(qb: &mut Sql, q: &Query) -> Result<()> {
    push_order::<S>(qb, q)?;
    qb.push(" LIMIT ");
    qb.bind_int(q.page().limit());
    qb.push(" OFFSET ");
    qb.bind_int(q.page().offset());
    Ok(())
}

/// Collects a page (see [`Store::query_list`]).
struct VecSink<T> {
    total: i64,
    rows: Vec<T>,
}

#[async_trait::async_trait]
impl<T: Send> RowSink<T> for VecSink<T> {
    async fn total(&mut self, total: i64) -> bool {
        self.total = total;
        true
    }
    async fn row(&mut self, row: T) -> bool {
        self.rows.push(row);
        true
    }
}

impl SqliteStore {
    /// Counts the matches of `q` and reads its page, from one snapshot.
    pub async fn query_list<S: ListSource>(&self, q: &Query) -> Result<(i64, Vec<S::Row>)> {
        let mut sink = VecSink {
            total: 0,
            rows: Vec::new(),
        };
        self.stream_list::<S>(q, &mut sink).await?;
        Ok((sink.total, sink.rows))
    }

    /// Counts the matches of `q` and hands the total, then each row of its
    /// page, to `sink` as the database yields them; the count and the rows
    /// come from one read transaction (one snapshot). Stops, abandoning the
    /// statement and ending the transaction, when the sink returns `false`.
    pub async fn stream_list<S: ListSource>(
        &self,
        q: &Query,
        sink: &mut (impl RowSink<S::Row> + ?Sized),
    ) -> Result<StreamEnd> {
        let (mut tx, total, mut page) = self.open_page::<S>(q).await?;
        if !sink.total(total).await {
            return Ok(StreamEnd::Stopped);
        }
        if q.page().limit() > 0 && q.page().offset() < total {
            let mut rows = page.qb.build().fetch(&mut *tx);
            while let Some(r) = rows.next().await {
                let row = S::row(&r?)?;
                if !sink.row(row).await {
                    return Ok(StreamEnd::Stopped);
                }
            }
        }
        tx.commit().await?;
        Ok(StreamEnd::Complete)
    }

    /// [`Store::stream_list`] for a list read in place: the page's rows are
    /// read through rusqlite on the transaction's own connection (the same
    /// snapshot as the total), each handed to the sink borrowed from its
    /// result row. sqlx would copy every value of every row and pass each
    /// row from its worker thread through a channel, which cost more than
    /// SQLite's reading (BENCHMARKS.md, "pull after direct serialisation").
    /// The rows are stepped on this thread inside `block_in_place`, the
    /// sink's flushes awaited there: it needs the multi-threaded runtime.
    pub async fn stream_list_ref<S: RefListSource>(
        &self,
        q: &Query,
        sink: &mut (impl RefRowSink<S> + ?Sized),
    ) -> Result<StreamEnd> {
        use tokio::runtime::{Handle, RuntimeFlavor};
        let (mut tx, total, page) = self.open_page::<S>(q).await?;
        if !sink.total(total).await {
            return Ok(StreamEnd::Stopped);
        }
        if q.page().limit() > 0 && q.page().offset() < total {
            if Handle::current().runtime_flavor() != RuntimeFlavor::MultiThread {
                return Err(StoreError::Internal(
                    "reading a list in place needs the multi-threaded runtime".into(),
                ));
            }
            let sql = page.qb.sql().to_string();
            let binds = page.binds;
            let mut handle = tx.lock_handle().await?;
            let end = tokio::task::block_in_place(|| -> Result<StreamEnd> {
                // SAFETY: the handle is a live connection that sqlx's worker
                // does not touch while `handle` is held; `conn` (and the
                // statement borrowing it) is dropped at the end of this
                // closure, and a connection made by `from_handle` never
                // closes the handle. (rusqlite is built without its `hooks`
                // features: dropping it does not touch sqlx's hooks.)
                let conn =
                    unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
                let rt = Handle::current();
                let mut stmt = conn.prepare(&sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(binds.iter()))?;
                while let Some(r) = rows.next()? {
                    let wants_flush = sink.row(&S::row_ref(r)?);
                    if wants_flush && !rt.block_on(sink.flush()) {
                        return Ok(StreamEnd::Stopped);
                    }
                }
                Ok(StreamEnd::Complete)
            })?;
            drop(handle);
            if end == StreamEnd::Stopped {
                return Ok(StreamEnd::Stopped);
            }
        }
        // (What the sink holds unflushed, it sends after `Complete`.)
        tx.commit().await?;
        Ok(StreamEnd::Complete)
    }

    /// The read transaction of a page, its total (from the count cache when
    /// the list generation is the cached one) and its page query.
    async fn open_page<S: ListSource>(
        &self,
        q: &Query,
    ) -> Result<(sqlx::Transaction<'static, Sqlite>, i64, Sql)> {
        if q.entity() != S::ENTITY {
            return Err(mismatch("the query is for another list"));
        }
        let mut count = Sql::new("SELECT COUNT(*)");
        push_from_where::<S>(&mut count, q)?;
        let page = page_query::<S>(q)?;

        let mut tx = self.read_tx().await?;
        // A client paging through a list asks for the same total on every
        // page: it is counted once per list generation (bumped by every
        // write that changes what a list shows), read in this snapshot.
        let generation: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'list_generation'")
                .fetch_optional(&mut *tx)
                .await?;
        let generation = generation.unwrap_or_default();
        // Keyed by a SHA-256 of the query's entity and filter (bounded memory
        // whatever the criteria's size).
        let key = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(
                format!("{:?} {:?}", S::ENTITY, q.filter()).as_bytes(),
            ))
        };
        let cached = crate::lock_counts(&self.counts).get(&key, &generation);
        let total: i64 = match cached {
            Some(t) => t,
            None => {
                let t = count.qb.build_query_scalar().fetch_one(&mut *tx).await?;
                crate::lock_counts(&self.counts).put(key, generation, t);
                t
            }
        };
        Ok((tx, total, page))
    }
}

/// Totals of list queries (see [`Store::stream_list`]): valid only for the
/// list generation they were counted at; bounded.
#[derive(Debug, Default)]
pub struct CountCache {
    totals: std::collections::HashMap<String, (String, i64)>,
}

impl CountCache {
    const MAX_ENTRIES: usize = 1024;

    pub(crate) fn get(&self, key: &str, generation: &str) -> Option<i64> {
        self.totals
            .get(key)
            .filter(|(g, _)| g == generation)
            .map(|&(_, t)| t)
    }

    pub(crate) fn put(&mut self, key: String, generation: String, total: i64) {
        if self.totals.len() >= Self::MAX_ENTRIES {
            self.totals.clear();
        }
        self.totals.insert(key, (generation, total));
    }
}

/// Bumps the list generation inside a writing transaction: every write that
/// changes what a list shows calls it (publish, decommission,
/// classification), so no cached total outlives it.
pub(crate) async fn bump_generation(tx: &mut sqlx::Transaction<'_, Sqlite>) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('list_generation', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
