//! The lists on PostgreSQL: a page of a list, filtered, sorted, counted and
//! read from one snapshot, collected or streamed to a sink (see the SQLite
//! engine's `list.rs` for the contract).
//!
//! Each list's SQL is the SQLite engine's own ([`ListSource`]'s `SELECT`,
//! `FROM … WHERE`, orders and column table: standard SQL over the same
//! schema), with the two SQLite spellings PostgreSQL lacks rewritten
//! ([`pg_sql`]); what differs is how a filter and a sort are written and how
//! a result row is read ([`PgListSource`]). Where the engines' semantics
//! differ, the SQLite one is kept:
//! - text compares and sorts in byte order (`COLLATE "C"`);
//! - NULL sorts first ascending, last descending (`NULLS FIRST/LAST`);
//! - `≠` counts a missing value as different (`IS DISTINCT FROM`);
//! - a flag's column may be a 0/1 integer or a condition (a boolean in
//!   PostgreSQL): it is compared as an integer.
//!
//! One difference stays: `contains` lower-cases with PostgreSQL's
//! `lower()`, which folds every letter, where SQLite's folds ASCII only.

use super::PgStore;
use crate::list::{CountCache, ListSource, RowSink, StreamEnd};
use crate::{
    from_ms, AuditRow, BundlingOptionList, BundlingOptionRow, ClassificationAuditList,
    ComputerList, ComputerRow, InstalledPackageList, LicenseServerUsageList, Placement,
    RawInstalledPackage, RawSwidTag, RefRowSink, Result, SoftwareComponentList,
    SoftwareComponentRow, SoftwareInstanceList, SoftwareInstanceRef, SoftwareInstanceRow,
    StoreError, SwidTagList,
};
use futures_util::StreamExt;
use openlmt_domain::query::{Condition, FieldKind, Filter, Op, Query, Value};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

/// A list PostgreSQL can read: the SQLite engine's [`ListSource`], and how
/// a PostgreSQL result row becomes the list's row.
pub(crate) trait PgListSource: ListSource {
    fn pg_row(r: &PgRow) -> Result<Self::Row>;
}

/// The SQLite engine's list SQL in PostgreSQL's spelling: `WHERE 1` (an
/// integer is not a condition there).
pub(crate) fn pg_sql(sql: &str) -> String {
    sql.replace("WHERE 1", "WHERE TRUE")
}

fn mismatch(msg: impl Into<String>) -> StoreError {
    StoreError::Internal(msg.into())
}

type Sql = QueryBuilder<'static, Postgres>;

fn push_filter<S: ListSource>(qb: &mut Sql, f: &Filter) -> Result<()> {
    match f {
        Filter::Cond(c) => push_condition::<S>(qb, c)?,
        Filter::And(v) if v.is_empty() => {
            qb.push("TRUE");
        }
        Filter::Or(v) if v.is_empty() => {
            qb.push("FALSE");
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
        Op::Ne => " IS DISTINCT FROM ",
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
                "(({col}) {})",
                if op == Op::Eq {
                    "IS NULL"
                } else {
                    "IS NOT NULL"
                }
            ));
        }
        Value::Text(text) if field.kind == FieldKind::TextList => match op {
            Op::Contains => {
                qb.push(format!("(strpos(lower({col}), lower("));
                qb.push_bind(text.clone());
                qb.push(")) > 0)");
            }
            Op::Eq | Op::Ne => {
                qb.push(if op == Op::Eq {
                    "(EXISTS"
                } else {
                    "(NOT EXISTS"
                });
                // (The column holds a JSON array of strings, written by
                // the import; anything else counts as an empty list.)
                qb.push(format!(
                    " (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN left(ltrim({col}), 1) = '['
                       THEN ({col})::jsonb ELSE '[]'::jsonb END) j (value) WHERE j.value = "
                ));
                qb.push_bind(text.clone());
                qb.push("))");
            }
            _ => {
                return Err(mismatch(format!(
                    "`{op}` does not apply to `{}`",
                    field.name
                )))
            }
        },
        Value::Text(text) if op == Op::Contains => {
            qb.push(format!("(strpos(lower({col}), lower("));
            qb.push_bind(text.clone());
            qb.push(")) > 0)");
        }
        Value::Text(text) => {
            qb.push(format!("(({col}) COLLATE \"C\"{}", comparison(op)?));
            qb.push_bind(text.clone());
            qb.push(")");
        }
        Value::Int(n) => {
            qb.push(format!("(({col}){}", comparison(op)?));
            qb.push_bind(*n);
            qb.push(")");
        }
        Value::Bool(b) => {
            qb.push(format!("(({col})::INT{}", comparison(op)?));
            qb.push_bind(i32::from(*b));
            qb.push(")");
        }
        Value::Time(t) => {
            qb.push(format!("((({col}) / 1000){}", comparison(op)?));
            qb.push_bind(t.timestamp());
            qb.push(")");
        }
        Value::Period { from, to } => {
            qb.push(format!("((({col}) / 1000) BETWEEN "));
            qb.push_bind(from.timestamp());
            qb.push(" AND ");
            qb.push_bind(to.timestamp());
            qb.push(")");
        }
    }
    Ok(())
}

fn filter_needs_full<S: ListSource>(f: &Filter) -> bool {
    match f {
        Filter::Cond(c) => S::needs_full_from(c.field().name),
        Filter::And(v) | Filter::Or(v) => v.iter().any(filter_needs_full::<S>),
    }
}

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

fn push_from_where_in<S: ListSource>(qb: &mut Sql, q: &Query, from_where: &str) -> Result<()> {
    qb.push(pg_sql(from_where));
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
        qb.push(format!("({col})"));
        if matches!(s.field().kind, FieldKind::Text | FieldKind::TextList) {
            qb.push(" COLLATE \"C\"");
        }
        qb.push(if s.descending() {
            " DESC NULLS LAST, "
        } else {
            " ASC NULLS FIRST, "
        });
    }
    qb.push(pg_sql(S::STABLE_ORDER));
    Ok(())
}

fn push_order_page<S: ListSource>(qb: &mut Sql, q: &Query) -> Result<()> {
    push_order::<S>(qb, q)?;
    qb.push(" LIMIT ");
    qb.push_bind(q.page().limit().max(0));
    qb.push(" OFFSET ");
    qb.push_bind(q.page().offset().max(0));
    Ok(())
}

fn page_query<S: ListSource>(q: &Query) -> Result<Sql> {
    let mut page = Sql::new(pg_sql(S::SELECT));
    match S::KEY {
        None => {
            push_from_where_in::<S>(&mut page, q, S::FROM_WHERE)?;
            push_order_page::<S>(&mut page, q)?;
        }
        Some(key) => {
            page.push(pg_sql(S::FROM_WHERE));
            page.push(format!(" AND {key} IN (SELECT {key}"));
            push_from_where_in::<S>(&mut page, q, lean_from_where::<S>(q))?;
            push_order_page::<S>(&mut page, q)?;
            page.push(")");
            push_order::<S>(&mut page, q)?;
        }
    }
    Ok(page)
}

impl PgStore {
    /// Counts the matches of `q` and hands the total, then each row of its
    /// page, to `sink`, from one snapshot (REPEATABLE READ); stops when the
    /// sink says so.
    pub(crate) async fn stream_list<S: PgListSource>(
        &self,
        q: &Query,
        sink: &mut (impl RowSink<S::Row> + ?Sized),
    ) -> Result<StreamEnd> {
        let (mut tx, total, mut page) = self.open_page::<S>(q).await?;
        if !sink.total(total).await {
            return Ok(StreamEnd::Stopped);
        }
        if q.page().limit() > 0 && q.page().offset() < total {
            let mut rows = page.build().fetch(&mut *tx);
            while let Some(r) = rows.next().await {
                let row = S::pg_row(&r?)?;
                if !sink.row(row).await {
                    return Ok(StreamEnd::Stopped);
                }
            }
        }
        tx.commit().await?;
        Ok(StreamEnd::Complete)
    }

    /// The software instances read in place: each row handed to the sink
    /// borrowed from its result row (no copy of its text).
    pub(crate) async fn stream_instances_ref(
        &self,
        q: &Query,
        sink: &mut dyn RefRowSink<SoftwareInstanceList>,
    ) -> Result<StreamEnd> {
        let (mut tx, total, mut page) = self.open_page::<SoftwareInstanceList>(q).await?;
        if !sink.total(total).await {
            return Ok(StreamEnd::Stopped);
        }
        if q.page().limit() > 0 && q.page().offset() < total {
            let mut rows = page.build().fetch(&mut *tx);
            while let Some(r) = rows.next().await {
                let r = r?;
                let wants_flush = sink.row(&instance_ref(&r)?);
                if wants_flush && !sink.flush().await {
                    return Ok(StreamEnd::Stopped);
                }
            }
        }
        tx.commit().await?;
        Ok(StreamEnd::Complete)
    }

    async fn open_page<S: ListSource>(
        &self,
        q: &Query,
    ) -> Result<(sqlx::Transaction<'static, Postgres>, i64, Sql)> {
        if q.entity() != S::ENTITY {
            return Err(mismatch("the query is for another list"));
        }
        let mut count = Sql::new("SELECT COUNT(*)");
        push_from_where_in::<S>(&mut count, q, lean_from_where::<S>(q))?;
        let page = page_query::<S>(q)?;
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let generation: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'list_generation'")
                .fetch_optional(&mut *tx)
                .await?;
        let generation = generation.unwrap_or_default();
        let key = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(
                format!("{:?} {:?}", S::ENTITY, q.filter()).as_bytes(),
            ))
        };
        let cached = lock(&self.counts).get(&key, &generation);
        let total: i64 = match cached {
            Some(t) => t,
            None => {
                let t = count.build_query_scalar().fetch_one(&mut *tx).await?;
                lock(&self.counts).put(key, generation, t);
                t
            }
        };
        Ok((tx, total, page))
    }
}

fn lock(m: &std::sync::Mutex<CountCache>) -> std::sync::MutexGuard<'_, CountCache> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ---- reading the rows ----

fn opt_time(r: &PgRow, col: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(from_ms))
}

pub(crate) fn computer_row(r: &PgRow) -> Result<ComputerRow> {
    let ips: Option<String> = r.try_get("ip_addresses")?;
    Ok(ComputerRow {
        id: r.try_get("id")?,
        data_source: r.try_get("data_source")?,
        endpoint_id: r.try_get("endpoint_id")?,
        name: r.try_get("name")?,
        dns_name: r.try_get("dns_name")?,
        ip_addresses: crate::inventory_query::parse_addresses(ips.as_deref().unwrap_or("")),
        os: r.try_get("os")?,
        first_seen: opt_time(r, "first_seen")?,
        last_seen: opt_time(r, "last_seen")?,
        is_deleted: r.try_get::<i64, _>("is_deleted")? != 0,
        deleted_at: opt_time(r, "deleted_at")?,
        processor_vendor: r.try_get("processor_vendor")?,
        processor_brand: r.try_get("processor_brand")?,
        processor_model: r.try_get("processor_model")?,
        sockets: r.try_get("sockets")?,
        cores: r.try_get("cores")?,
        threads: r.try_get("threads")?,
        is_virtual: r.try_get::<Option<i64>, _>("is_virtual")?.map(|v| v != 0),
        hypervisor: r.try_get("hypervisor")?,
        identity: crate::HardwareIdentityRow {
            system_uuid: r.try_get("raw_system_uuid")?,
            system_manufacturer: r.try_get("raw_system_manufacturer")?,
            system_product: r.try_get("raw_system_product")?,
            system_serial: r.try_get("raw_system_serial")?,
            bios_vendor: r.try_get("raw_bios_vendor")?,
            bios_version: r.try_get("raw_bios_version")?,
            chassis_asset_tag: r.try_get("raw_chassis_asset_tag")?,
            socket_slots: r.try_get("raw_socket_slots")?,
        },
        placement: match r.try_get::<Option<i64>, _>("lcp_server_id")? {
            None => None,
            Some(server_id) => Some(Placement {
                server_id,
                server_name: r.try_get("lcp_server_name")?,
                kind: r.try_get("lcp_kind")?,
                server_cores: r.try_get("lcp_server_cores")?,
                partition_cores: r.try_get("lcp_partition_cores")?,
                vendor: r.try_get("lcp_vendor")?,
                model: r.try_get("lcp_model")?,
                serial: r.try_get("lcp_serial")?,
                pvu_per_core: r.try_get("lcp_pvu_per_core")?,
                default_pvu: r.try_get("lcp_default_pvu")?,
                custom_pvu: r.try_get("lcp_custom_pvu")?,
                by_vm_manager: r.try_get::<Option<String>, _>("lcp_role")?.as_deref()
                    == Some("vm_on_host"),
            }),
        },
    })
}

/// An instance in place, by the column positions of the list's `SELECT`
/// (the SQLite engine's `row_to_instance_ref`); `is_excluded` and
/// `is_suppressed` (21, 22) are conditions, booleans here.
fn instance_ref(r: &PgRow) -> Result<SoftwareInstanceRef<'_>> {
    let flag = |i: usize| -> Result<bool> { Ok(r.try_get::<i64, _>(i)? != 0) };
    Ok(SoftwareInstanceRef {
        instance_id: r.try_get(0)?,
        computer_id: r.try_get(1)?,
        computer_name: r.try_get(2)?,
        computer_dns_name: r.try_get(3)?,
        computer_ip_addresses_text: r.try_get(4)?,
        computer_os: r.try_get(5)?,
        product_publisher_name: r.try_get(6)?,
        product_name: r.try_get(7)?,
        product_release: r.try_get(8)?,
        product_id: r.try_get(9)?,
        component_name: r.try_get(10)?,
        component_release: r.try_get(11)?,
        detailed_version: r.try_get(12)?,
        component_id: r.try_get(13)?,
        metric: r.try_get(14)?,
        discovery_path: r.try_get(15)?,
        discovery_start: from_ms(r.try_get(16)?),
        discovery_end: r.try_get::<Option<i64>, _>(17)?.map(from_ms),
        is_present: flag(18)?,
        is_charged: flag(19)?,
        is_confirmed: flag(20)?,
        is_excluded: r.try_get(21)?,
        is_suppressed: r.try_get(22)?,
        comment: r.try_get(23)?,
        signature_kind: r.try_get(24)?,
        evidence_source: r.try_get(25)?,
        evidence_name: r.try_get(26)?,
        evidence_version: r.try_get(27)?,
        bundling_rule: r.try_get(28)?,
        bundling_details: r.try_get(29)?,
        computer_type: small_int(r, 30)?,
        processor_vendor: r.try_get(31)?,
        processor_brand: r.try_get(32)?,
        sockets: r.try_get(33)?,
        cores: r.try_get(34)?,
        server_id: r.try_get(35)?,
        server_name: r.try_get(36)?,
        server_type: small_int(r, 37)?,
        server_cores: r.try_get(38)?,
        pvu_per_core: r.try_get(39)?,
        default_pvu: r.try_get(40)?,
        custom_pvu: r.try_get(41)?,
    })
}

/// A column computed as `CASE … THEN 0 …` (an INTEGER in PostgreSQL, the
/// schema's columns being BIGINT).
fn small_int(r: &PgRow, i: usize) -> Result<Option<i64>> {
    Ok(r.try_get::<Option<i32>, _>(i)?.map(i64::from))
}

impl PgListSource for ComputerList {
    fn pg_row(r: &PgRow) -> Result<ComputerRow> {
        computer_row(r)
    }
}

impl PgListSource for InstalledPackageList {
    fn pg_row(r: &PgRow) -> Result<RawInstalledPackage> {
        Ok(RawInstalledPackage {
            computer_id: r.try_get("computer_id")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            architecture: r.try_get("architecture")?,
            vendor: r.try_get("vendor")?,
            source: r.try_get("source")?,
        })
    }
}

impl PgListSource for SwidTagList {
    fn pg_row(r: &PgRow) -> Result<RawSwidTag> {
        Ok(RawSwidTag {
            computer_id: r.try_get("computer_id")?,
            tag_id: r.try_get("tag_id")?,
            name: r.try_get("name")?,
            version: r.try_get("version")?,
            regid: r.try_get("regid")?,
            vendor: r.try_get("vendor")?,
            schema: r.try_get("schema")?,
            persistent_id: r.try_get("persistent_id")?,
            directory: r.try_get("directory")?,
        })
    }
}

impl PgListSource for SoftwareInstanceList {
    fn pg_row(r: &PgRow) -> Result<SoftwareInstanceRow> {
        Ok(instance_ref(r)?.to_owned_row())
    }
}

impl PgListSource for SoftwareComponentList {
    fn pg_row(r: &PgRow) -> Result<SoftwareComponentRow> {
        Ok(SoftwareComponentRow {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            release: r.try_get("release")?,
            publisher: r.try_get("publisher")?,
        })
    }
}

impl PgListSource for BundlingOptionList {
    fn pg_row(r: &PgRow) -> Result<BundlingOptionRow> {
        Ok(BundlingOptionRow {
            component_id: r.try_get("component_id")?,
            component_name: r.try_get("component_name")?,
            component_release: r.try_get("component_release")?,
            product_id: r.try_get("product_id")?,
            product_publisher: r.try_get("publisher")?,
            product_name: r.try_get("product_name")?,
            product_release: r.try_get("product_release")?,
            metric: r.try_get("metric")?,
            charged: r.try_get::<i64, _>("charged")? != 0,
        })
    }
}

impl PgListSource for ClassificationAuditList {
    fn pg_row(r: &PgRow) -> Result<AuditRow> {
        Ok(AuditRow {
            id: r.try_get("id")?,
            at: from_ms(r.try_get("at")?),
            user_name: r.try_get("user_name")?,
            action: r.try_get("action")?,
            instance_id: r.try_get("instance_id")?,
            computer_id: r.try_get("computer_id")?,
            component_id: r.try_get("component_id")?,
            product_id: r.try_get("product_id")?,
            comment: r.try_get("comment")?,
            details: r.try_get("details")?,
        })
    }
}

impl PgListSource for LicenseServerUsageList {
    fn pg_row(r: &PgRow) -> Result<crate::ServerUsageRow> {
        super::license::server_usage_row(r)
    }
}

/// Collects a page.
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

impl PgStore {
    /// Counts the matches of `q` and reads its page, from one snapshot.
    pub(crate) async fn query_list<S: PgListSource>(
        &self,
        q: &Query,
    ) -> Result<(i64, Vec<S::Row>)> {
        let mut sink = VecSink {
            total: 0,
            rows: Vec::new(),
        };
        self.stream_list::<S>(q, &mut sink).await?;
        Ok((sink.total, sink.rows))
    }

    pub async fn query_computers(&self, q: &Query) -> Result<(i64, Vec<ComputerRow>)> {
        self.query_list::<ComputerList>(q).await
    }

    pub async fn query_installed_packages(
        &self,
        q: &Query,
    ) -> Result<(i64, Vec<RawInstalledPackage>)> {
        self.query_list::<InstalledPackageList>(q).await
    }

    pub async fn query_swid_facts(&self, q: &Query) -> Result<(i64, Vec<RawSwidTag>)> {
        self.query_list::<SwidTagList>(q).await
    }

    /// Marks the visible computer with `endpoint_id` (in `data_source`, if
    /// given) deleted (see the SQLite engine's method). Its row is locked
    /// (`FOR UPDATE`) from the look-up to the commit.
    pub async fn decommission_computer(
        &self,
        endpoint_id: &str,
        data_source: Option<&str>,
    ) -> Result<crate::DeleteOutcome> {
        let mut tx = self.tx().await?;
        let found: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, data_source FROM computers
             WHERE published = 1 AND endpoint_id = $1 AND ($2::TEXT IS NULL OR data_source = $2)
             ORDER BY data_source COLLATE \"C\" FOR UPDATE",
        )
        .bind(endpoint_id)
        .bind(data_source)
        .fetch_all(&mut *tx)
        .await?;
        let id = match found.as_slice() {
            [] => return Ok(crate::DeleteOutcome::NotFound),
            [(id, _)] => *id,
            many => {
                return Ok(crate::DeleteOutcome::Ambiguous(
                    many.iter().map(|(_, ds)| ds.clone()).collect(),
                ))
            }
        };
        sqlx::query(
            "UPDATE computers SET is_deleted = 1,
                 deleted_at = CASE WHEN is_deleted = 1 AND deleted_at IS NOT NULL
                                   THEN deleted_at ELSE $1 END
             WHERE id = $2",
        )
        .bind(crate::now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "{} FROM computers c
             LEFT JOIN license_current_placement lcp ON lcp.computer_id = c.id WHERE c.id = $1",
            ComputerList::SELECT
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let row = computer_row(&row)?;
        super::imports::bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(crate::DeleteOutcome::Deleted(Box::new(row)))
    }
}
