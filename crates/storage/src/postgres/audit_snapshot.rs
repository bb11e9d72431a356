//! The audit snapshot's reads on PostgreSQL (see the SQLite engine's
//! `audit_snapshot.rs`, whose types they fill): one REPEATABLE READ
//! transaction for the whole snapshot.

use super::imports::row_to_import;
use super::license::{load_snapshot, product_days_in, server_from_row, usage_in};
use super::software::inventory_catalog_in;
use super::PgStore;
use crate::imports::IMPORT_COLUMNS;
use crate::license::{day_text, parse_day, parse_json};
use crate::{
    from_ms, AuditCondition, AuditRow, AuditServerInstance, AuditSnapshotHead, AuditStaleComputer,
    AuditUncounted, ImportRow, InventoryCatalogInfo, Result, SnapshotServer, StoreError, UsageRow,
};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet, HashMap};

fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Internal(format!("cannot write the audit snapshot: {e}"))
}

/// The reads of one audit snapshot, in one REPEATABLE READ, READ ONLY
/// transaction (one consistent state of the data; dropping the reader ends
/// it).
pub struct PgAuditReader {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
}

impl PgStore {
    /// Starts the reads of an audit snapshot.
    pub async fn audit_reader(&self) -> Result<PgAuditReader> {
        Ok(PgAuditReader {
            tx: self
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?,
        })
    }
}

impl PgAuditReader {
    /// `Store::license_usage`, in this reader's snapshot.
    pub async fn license_usage(&mut self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        usage_in(&mut self.tx, from, to).await
    }

    /// `Store::license_product_days`, in this reader's snapshot.
    pub async fn license_product_days(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        product_days_in(&mut self.tx, from, to).await
    }

    /// `Store::inventory_catalog`, in this reader's snapshot.
    pub async fn inventory_catalog(&mut self) -> Result<Option<InventoryCatalogInfo>> {
        inventory_catalog_in(&mut self.tx).await
    }

    /// The most recent successful import, in this reader's snapshot.
    pub async fn last_successful_import(&mut self) -> Result<Option<ImportRow>> {
        sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.status = 'successful'
             ORDER BY i.finished_at DESC NULLS LAST, i.id DESC LIMIT 1",
            *IMPORT_COLUMNS
        ))
        .fetch_optional(&mut *self.tx)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()
    }

    /// Hands `each` the instances behind the values of `product_id` and
    /// `metric` (a sub-capacity metric; `full_metric` names its
    /// full-capacity twin) on `day`: one per server, computer on it and
    /// charged instance of the product there (suppressed instances are not
    /// product instances; excluded ones are given with their comment), in
    /// the order server id, server, computer id, instance id. Returns the
    /// rows handed.
    ///
    /// Two reads, each on its indexes (a single join would scan a
    /// snapshot's instances once per server): the day's servers of the
    /// product, then, per snapshot that gave a server's value, the
    /// product's instances present at it with their computer's partitions.
    /// One product's rows are held to be ordered.
    pub async fn server_instances(
        &mut self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
        full_metric: &str,
        mut each: impl FnMut(AuditServerInstance) -> std::io::Result<()> + Send,
    ) -> Result<u64> {
        struct ServerPart {
            snapshot_id: i64,
            server: SnapshotServer,
            brand: Option<String>,
            sub_quantity: i64,
            sub_cores: i64,
            full_quantity: Option<i64>,
            full_cores: Option<i64>,
        }
        let conn = &mut *self.tx;
        let day_s = day_text(day);
        let mut servers: HashMap<String, ServerPart> = HashMap::new();
        {
            let mut rows = sqlx::query(
                "SELECT d.snapshot_id, d.quantity, d.cores AS sub_cores,
                        s.server_key, s.server_id, s.name, s.kind, s.vendor, s.model, s.serial,
                        s.total_processors, s.cores, s.pvu_per_core, s.capped, s.custom_pvu,
                        s.basis, sc.processor_brand AS server_brand,
                        f.quantity AS full_quantity, f.cores AS full_cores
                 FROM license_server_days d
                 JOIN license_snapshot_servers s
                   ON s.snapshot_id = d.snapshot_id AND s.server_key = d.server_key
                 LEFT JOIN computers sc ON sc.id = s.server_id
                 LEFT JOIN license_server_days f
                   ON f.day = d.day AND f.product_id = d.product_id AND f.metric = $4
                  AND f.server_key = d.server_key
                 WHERE d.day = $1 AND d.product_id = $2 AND d.metric = $3",
            )
            .bind(&day_s)
            .bind(product_id)
            .bind(metric)
            .bind(full_metric)
            .fetch(&mut *conn);
            while let Some(r) = rows.next().await {
                let r = r?;
                let server = server_from_row(&r, "name", "cores")?;
                servers.insert(
                    server.key.clone(),
                    ServerPart {
                        snapshot_id: r.try_get("snapshot_id")?,
                        server,
                        brand: r.try_get("server_brand")?,
                        sub_quantity: r.try_get("quantity")?,
                        sub_cores: r.try_get("sub_cores")?,
                        full_quantity: r.try_get("full_quantity")?,
                        full_cores: r.try_get("full_cores")?,
                    },
                );
            }
        }
        let snapshots: BTreeSet<i64> = servers.values().map(|s| s.snapshot_id).collect();
        let mut out: Vec<AuditServerInstance> = Vec::new();
        for snapshot in snapshots {
            let mut rows = sqlx::query(
                "SELECT pt.server_key, pt.computer_id, pt.cores AS partition_cores, pt.reason,
                        c.name AS computer_name, c.is_deleted, c.os, c.ip_addresses, c.last_seen,
                        i.id AS instance_id, i.discovery_path, i.is_confirmed,
                        p.release AS product_release,
                        k.name AS component_name, k.release AS component_release,
                        x.comment AS exclusion_comment
                 FROM software_instances i
                 JOIN license_snapshot_instances h
                   ON h.snapshot_id = $1 AND h.instance_id = i.id
                 JOIN license_snapshot_partitions pt
                   ON pt.snapshot_id = $1 AND pt.computer_id = i.computer_id
                 LEFT JOIN inventory_products p ON p.id = i.product_id
                 LEFT JOIN computers c ON c.id = pt.computer_id
                 LEFT JOIN inventory_components k ON k.id = i.component_id
                 LEFT JOIN software_exclusions x
                   ON x.computer_id = i.computer_id AND x.product_id = i.product_id
                 WHERE i.product_id = $2 AND i.is_charged = 1
                   AND NOT EXISTS (SELECT 1 FROM software_suppressions sp
                                   WHERE sp.computer_id = i.computer_id
                                     AND sp.component_id = i.component_id)",
            )
            .bind(snapshot)
            .bind(product_id)
            .fetch(&mut *conn);
            while let Some(r) = rows.next().await {
                let r = r?;
                let key: String = r.try_get("server_key")?;
                let Some(part) = servers.get(&key).filter(|p| p.snapshot_id == snapshot) else {
                    continue;
                };
                let ips: Option<String> = r.try_get("ip_addresses")?;
                let last_seen: Option<i64> = r.try_get("last_seen")?;
                out.push(AuditServerInstance {
                    server: part.server.clone(),
                    server_processor_brand: part.brand.clone(),
                    sub_quantity: part.sub_quantity,
                    sub_cores: part.sub_cores,
                    full_quantity: part.full_quantity,
                    full_cores: part.full_cores,
                    computer_id: r.try_get("computer_id")?,
                    computer_name: r.try_get("computer_name")?,
                    computer_deleted: r.try_get::<Option<i64>, _>("is_deleted")?.unwrap_or(0) != 0,
                    os: r.try_get("os")?,
                    ip_addresses: crate::inventory_query::parse_addresses(
                        ips.as_deref().unwrap_or(""),
                    ),
                    last_seen: last_seen.map(from_ms),
                    partition_cores: r.try_get("partition_cores")?,
                    partition_reason: parse_json(r.try_get("reason")?),
                    instance_id: r.try_get("instance_id")?,
                    product_release: r.try_get("product_release")?,
                    component_name: r.try_get("component_name")?,
                    component_release: r.try_get("component_release")?,
                    discovery_path: r.try_get("discovery_path")?,
                    is_confirmed: r.try_get::<i64, _>("is_confirmed")? != 0,
                    exclusion_comment: r.try_get("exclusion_comment")?,
                });
            }
        }
        out.sort_by(|a, b| {
            (
                a.server.server_id,
                &a.server.key,
                a.computer_id,
                a.instance_id,
            )
                .cmp(&(
                    b.server.server_id,
                    &b.server.key,
                    b.computer_id,
                    b.instance_id,
                ))
        });
        let n = out.len() as u64;
        for row in out {
            each(row).map_err(io_error)?;
        }
        Ok(n)
    }

    /// Hands `each` the classification audit trail's entries made in
    /// `from..=to` (UTC days), in the order they were made.
    pub async fn audit_trail_between(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        mut each: impl FnMut(AuditRow) -> std::io::Result<()> + Send,
    ) -> Result<u64> {
        let start = from.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        let end = to
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(DateTime::<Utc>::MAX_UTC, |t| t.and_utc());
        let mut rows = sqlx::query(
            "SELECT a.id, a.at, a.user_name, a.action, a.instance_id, a.computer_id,
                    a.component_id, a.product_id, a.comment, a.details
             FROM classification_audit a WHERE a.at >= $1 AND a.at < $2 ORDER BY a.id",
        )
        .bind(crate::to_ms(start))
        .bind(crate::to_ms(end))
        .fetch(&mut *self.tx);
        let mut n = 0;
        while let Some(r) = rows.next().await {
            let r = r?;
            let row = AuditRow {
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
            };
            each(row).map_err(io_error)?;
            n += 1;
        }
        Ok(n)
    }

    /// The condition of the licence data of `from..=to`: the snapshots of
    /// the period (the last one whole), the computers that could not be
    /// counted, and the visible computers whose latest scan is older than
    /// `stale_before` (none when `None`), with the names of the computers
    /// named.
    pub async fn condition(
        &mut self,
        from: NaiveDate,
        to: NaiveDate,
        stale_before: Option<DateTime<Utc>>,
    ) -> Result<AuditCondition> {
        let conn = &mut *self.tx;
        let heads = sqlx::query(
            "SELECT id, taken_at, day, pvu_table_version, details FROM license_snapshots
             WHERE published = 1 AND day BETWEEN $1 AND $2
             ORDER BY day COLLATE \"C\", taken_at, id",
        )
        .bind(day_text(from))
        .bind(day_text(to))
        .fetch_all(&mut *conn)
        .await?;
        let mut snapshots = Vec::with_capacity(heads.len());
        for r in &heads {
            snapshots.push(AuditSnapshotHead {
                id: r.try_get("id")?,
                taken_at: from_ms(r.try_get("taken_at")?),
                day: parse_day(r.try_get::<&str, _>("day")?)?,
                pvu_table_version: r.try_get("pvu_table_version")?,
                details: parse_json(r.try_get("details")?),
            });
        }
        let last_snapshot = match snapshots.last() {
            Some(h) => Some(load_snapshot(&mut *conn, h.id).await?),
            None => None,
        };
        // Every computer whose charge could not be counted, by reason.
        let mut uncounted: BTreeMap<(i64, String), AuditUncounted> = BTreeMap::new();
        {
            let mut rows = sqlx::query(
                "SELECT day, product_id, unresolved FROM license_product_days
                 WHERE day BETWEEN $1 AND $2 AND unresolved <> '[]'
                 ORDER BY day COLLATE \"C\", product_id COLLATE \"C\"",
            )
            .bind(day_text(from))
            .bind(day_text(to))
            .fetch(&mut *conn);
            while let Some(r) = rows.next().await {
                let r = r?;
                let day = parse_day(r.try_get::<&str, _>("day")?)?;
                let product: String = r.try_get("product_id")?;
                let list = parse_json(r.try_get("unresolved")?);
                for u in list.as_array().map(Vec::as_slice).unwrap_or_default() {
                    let Some(computer) = u["computer_id"].as_i64() else {
                        continue;
                    };
                    let reason = u["reason"]
                        .as_str()
                        .unwrap_or("cannot be counted")
                        .to_string();
                    let e = uncounted
                        .entry((computer, reason.clone()))
                        .or_insert_with(|| AuditUncounted {
                            computer_id: computer,
                            reason,
                            products: BTreeSet::new(),
                            first_day: day,
                            last_day: day,
                        });
                    e.products.insert(product.clone());
                    e.first_day = e.first_day.min(day);
                    e.last_day = e.last_day.max(day);
                }
            }
        }
        let stale = match stale_before {
            None => Vec::new(),
            Some(t) => {
                let rows = sqlx::query(
                    "SELECT id, name, scan_time FROM computers
                     WHERE published = 1 AND is_deleted = 0
                       AND (scan_time IS NULL OR scan_time < $1)
                     ORDER BY id",
                )
                .bind(crate::to_ms(t))
                .fetch_all(&mut *conn)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in rows {
                    let scan: Option<i64> = r.try_get("scan_time")?;
                    out.push(AuditStaleComputer {
                        id: r.try_get("id")?,
                        name: r.try_get("name")?,
                        last_scan: scan.map(from_ms),
                    });
                }
                out
            }
        };
        let mut wanted: BTreeSet<i64> = uncounted.keys().map(|(c, _)| *c).collect();
        if let Some(s) = &last_snapshot {
            wanted.extend(s.partitions.iter().map(|p| p.computer_id));
            wanted.extend(s.servers.iter().map(|s| s.server_id));
        }
        let mut computer_names = BTreeMap::new();
        let ids: Vec<i64> = wanted.into_iter().collect();
        for chunk in ids.chunks(5_000) {
            let rows: Vec<(i64, Option<String>)> =
                sqlx::query_as("SELECT id, name FROM computers WHERE id = ANY($1)")
                    .bind(chunk)
                    .fetch_all(&mut *conn)
                    .await?;
            for (id, name) in rows {
                if let Some(name) = name {
                    computer_names.insert(id, name);
                }
            }
        }
        Ok(AuditCondition {
            snapshots,
            last_snapshot,
            uncounted: uncounted.into_values().collect(),
            stale,
            computer_names,
        })
    }
}
