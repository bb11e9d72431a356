//! Licence metrics on PostgreSQL: the licence step's inputs, the
//! operator's PVU table and rate overrides, the snapshots complete imports
//! take, their publish and the recomputation of its day, and the reads of
//! the values. The behaviour is the SQLite engine's (`license.rs`); the
//! arithmetic is the [`UsageCalculator`]'s, as there.
//!
//! Text orders that decide a result (`ORDER BY` on keys) use `COLLATE "C"`:
//! byte order, SQLite's, whatever the database's default collation.

use super::PgStore;
use crate::license::{day_text, json_text, metric_rank, parse_day, parse_json};
use crate::{
    from_ms, now_ms, override_key, GuestSighting, Holding, LicenseComputer, LicenseInputs,
    LicensePublished, LicenseSnapshotWrite, PvuOverrideRow, PvuTableRow, Result, ServerUsageRow,
    ServerValue, SnapshotPartition, SnapshotServer, SnapshotSummary, StoredSnapshot,
    UnresolvedCharge, UsageCalculator, UsageRow,
};
use chrono::NaiveDate;
use openlmt_domain::metric::{LicenseUnit, ReportedMetric};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Rows per array-insert statement.
const ROWS_PER_STATEMENT: usize = 5_000;

const SERVER_USAGE_SELECT: &str = "SELECT d.day, d.product_id, d.metric, d.quantity, d.cores,
        d.snapshot_id, p.num, p.publisher, p.name, p.release,
        s.server_key, s.server_id, s.name AS server_name, s.kind, s.vendor, s.model,
        s.serial, s.total_processors, s.cores AS server_cores, s.pvu_per_core,
        s.capped, s.custom_pvu, s.basis,
        (SELECT COUNT(*) FROM license_snapshot_partitions x
         WHERE x.snapshot_id = d.snapshot_id AND x.server_key = d.server_key)
          AS active_computers
     FROM license_server_days d
     JOIN inventory_products p ON p.id = d.product_id
     JOIN license_snapshot_servers s
       ON s.snapshot_id = d.snapshot_id AND s.server_key = d.server_key
     WHERE d.day = $1 AND ($2::TEXT IS NULL OR (d.product_id = $2 AND d.metric = $3))
     ORDER BY d.day, p.num, d.metric COLLATE \"C\", s.server_id, d.server_key COLLATE \"C\"";

pub(crate) fn server_from_row(
    r: &PgRow,
    name_col: &str,
    cores_col: &str,
) -> Result<SnapshotServer> {
    Ok(SnapshotServer {
        key: r.try_get("server_key")?,
        server_id: r.try_get("server_id")?,
        name: r.try_get(name_col)?,
        kind: r.try_get("kind")?,
        vendor: r.try_get("vendor")?,
        model: r.try_get("model")?,
        serial: r.try_get("serial")?,
        total_processors: r.try_get("total_processors")?,
        cores: r.try_get(cores_col)?,
        pvu_per_core: r.try_get("pvu_per_core")?,
        capped: r.try_get::<i64, _>("capped")? != 0,
        custom_pvu: r.try_get("custom_pvu")?,
        basis: parse_json(r.try_get("basis")?),
    })
}

pub(crate) fn server_usage_row(r: &PgRow) -> Result<ServerUsageRow> {
    Ok(ServerUsageRow {
        day: parse_day(r.try_get::<&str, _>("day")?)?,
        product_id: r.try_get("product_id")?,
        product_num: r.try_get::<Option<i64>, _>("num")?.unwrap_or(0),
        publisher: r.try_get("publisher")?,
        name: r.try_get("name")?,
        release: r.try_get("release")?,
        metric: r.try_get("metric")?,
        quantity: r.try_get("quantity")?,
        cores: r.try_get("cores")?,
        explanation: serde_json::Value::Null,
        snapshot_id: r.try_get("snapshot_id")?,
        active_computers: r.try_get("active_computers")?,
        server: server_from_row(r, "server_name", "server_cores")?,
    })
}

impl PgStore {
    pub(crate) fn calculator(&self) -> Option<std::sync::Arc<dyn UsageCalculator>> {
        self.calc.get().cloned()
    }

    pub async fn license_inputs(
        &self,
        import_id: i64,
        since_ms: i64,
        stale_before_ms: Option<i64>,
    ) -> Result<LicenseInputs> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let pick = |col: &str| {
            format!("CASE WHEN s.computer_id IS NULL THEN c.{col} ELSE s.{col} END AS {col}")
        };
        let cols = [
            "raw_is_virtual",
            "raw_processor_vendor",
            "raw_processor_brand",
            "raw_sockets",
            "raw_cores",
            "raw_threads",
            "raw_system_uuid",
            "raw_system_manufacturer",
            "raw_system_product",
            "raw_system_serial",
            "raw_bios_vendor",
            "raw_bios_version",
            "raw_chassis_asset_tag",
            "raw_socket_slots",
        ]
        .map(pick)
        .join(", ");
        let sql = format!(
            "SELECT c.id, COALESCE(CASE WHEN s.computer_id IS NULL THEN c.name ELSE s.name END,
                                   c.endpoint_id) AS name,
                    CASE WHEN s.computer_id IS NULL THEN c.os ELSE s.os END AS os, {cols}
             FROM computers c
             LEFT JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = $1
             WHERE c.is_deleted = 0
               AND (s.computer_id IS NOT NULL
                    OR (c.published = 1 AND ($2::BIGINT IS NULL OR c.last_seen >= $2)))
             ORDER BY c.id"
        );
        let rows = sqlx::query(&sql)
            .bind(import_id)
            .bind(stale_before_ms)
            .fetch_all(&mut *tx)
            .await?;
        let mut computers = Vec::with_capacity(rows.len());
        for r in &rows {
            computers.push(LicenseComputer {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                os: r.try_get("os")?,
                is_virtual: r
                    .try_get::<Option<i64>, _>("raw_is_virtual")?
                    .map(|v| v != 0),
                processor_vendor: r.try_get("raw_processor_vendor")?,
                processor_brand: r.try_get("raw_processor_brand")?,
                sockets: r.try_get("raw_sockets")?,
                cores: r.try_get("raw_cores")?,
                threads: r.try_get("raw_threads")?,
                system_uuid: r.try_get("raw_system_uuid")?,
                system_manufacturer: r.try_get("raw_system_manufacturer")?,
                system_product: r.try_get("raw_system_product")?,
                system_serial: r.try_get("raw_system_serial")?,
                bios_vendor: r.try_get("raw_bios_vendor")?,
                bios_version: r.try_get("raw_bios_version")?,
                chassis_asset_tag: r.try_get("raw_chassis_asset_tag")?,
                socket_slots: r.try_get("raw_socket_slots")?,
            });
        }
        // (Guests in the order they were written: `seq`.)
        let sightings: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            "SELECT s.computer_id, g.guest_uuid, g.vcpus, g.observed_at
             FROM vm_host_scans s JOIN vm_guest_observations g ON g.scan_id = s.id
             WHERE (s.published = 1 OR s.import_id = $1) AND s.observed_at >= $2
             ORDER BY s.observed_at, s.computer_id, s.id, g.seq",
        )
        .bind(import_id)
        .bind(since_ms)
        .fetch_all(&mut *tx)
        .await?;
        let overrides: Vec<(String, i64)> =
            sqlx::query_as("SELECT server_key, pvu_per_core FROM pvu_overrides")
                .fetch_all(&mut *tx)
                .await?;
        let pvu_table: Option<(String, String)> =
            sqlx::query_as("SELECT version, document FROM pvu_tables WHERE layer = 'operator'")
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(LicenseInputs {
            computers,
            sightings: sightings
                .into_iter()
                .map(|(h, u, v, t)| GuestSighting {
                    host_computer_id: h,
                    guest_uuid: u,
                    vcpus: v,
                    observed_at: from_ms(t),
                })
                .collect(),
            overrides: overrides.into_iter().collect(),
            pvu_table,
        })
    }

    pub async fn operator_pvu_table(&self) -> Result<Option<PvuTableRow>> {
        let row: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT version, document, set_at, set_by FROM pvu_tables WHERE layer = 'operator'",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(version, document, at, by)| PvuTableRow {
            version,
            document,
            set_at: from_ms(at),
            set_by: by,
        }))
    }

    pub async fn set_operator_pvu_table(
        &self,
        version: &str,
        document: &str,
        by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO pvu_tables (layer, version, document, set_at, set_by)
             VALUES ('operator', $1, $2, $3, $4)
             ON CONFLICT (layer) DO UPDATE SET version = excluded.version,
               document = excluded.document, set_at = excluded.set_at, set_by = excluded.set_by",
        )
        .bind(version)
        .bind(document)
        .bind(now_ms())
        .bind(by)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn clear_operator_pvu_table(&self) -> Result<bool> {
        let n = sqlx::query("DELETE FROM pvu_tables WHERE layer = 'operator'")
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub async fn pvu_overrides(&self) -> Result<Vec<PvuOverrideRow>> {
        let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(
            "SELECT server_key, pvu_per_core, comment, set_by, set_at FROM pvu_overrides
             ORDER BY server_key COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(k, pvu, comment, by, at)| {
                let id = k.strip_prefix("computer:")?.parse().ok()?;
                Some(PvuOverrideRow {
                    computer_id: id,
                    pvu_per_core: pvu,
                    comment,
                    set_by: by,
                    set_at: from_ms(at),
                })
            })
            .collect())
    }

    /// One statement: the override is written only if the computer is
    /// visible when it runs.
    pub async fn set_pvu_override(
        &self,
        computer_id: i64,
        pvu_per_core: i64,
        comment: &str,
        by: &str,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO pvu_overrides (server_key, pvu_per_core, comment, set_by, set_at)
             SELECT $1, $2, $3, $4, $5
             WHERE EXISTS (SELECT 1 FROM computers WHERE id = $6 AND published = 1)
             ON CONFLICT (server_key) DO UPDATE SET pvu_per_core = excluded.pvu_per_core,
               comment = excluded.comment, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(override_key(computer_id))
        .bind(pvu_per_core)
        .bind(comment)
        .bind(by)
        .bind(now_ms())
        .bind(computer_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    pub async fn computer_visible(&self, computer_id: i64) -> Result<bool> {
        let known: Option<i64> =
            sqlx::query_scalar("SELECT id FROM computers WHERE id = $1 AND published = 1")
                .bind(computer_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(known.is_some())
    }

    pub async fn delete_pvu_override(&self, computer_id: i64) -> Result<bool> {
        let n = sqlx::query("DELETE FROM pvu_overrides WHERE server_key = $1")
            .bind(override_key(computer_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub async fn latest_license_summary(&self) -> Result<Option<SnapshotSummary>> {
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, taken_at, pvu_table_version, details FROM license_snapshots
             WHERE published = 1 ORDER BY taken_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, at, v, d)| SnapshotSummary {
            import_id: id,
            taken_at: from_ms(at),
            pvu_table_version: v,
            details: parse_json(&d),
        }))
    }

    pub async fn write_license_snapshot(
        &self,
        import_id: i64,
        snap: &LicenseSnapshotWrite,
    ) -> Result<()> {
        let mut tx = self.tx().await?;
        for table in ["license_snapshot_servers", "license_snapshot_partitions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE snapshot_id = $1"))
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT INTO license_snapshots (id, taken_at, day, published, pvu_table_version,
               details)
             VALUES ($1, $2, $3, 0, $4, $5)
             ON CONFLICT (id) DO UPDATE SET taken_at = excluded.taken_at, day = excluded.day,
               published = 0, pvu_table_version = excluded.pvu_table_version,
               details = excluded.details",
        )
        .bind(import_id)
        .bind(snap.taken_at.timestamp_millis())
        .bind(day_text(snap.day))
        .bind(&snap.pvu_table_version)
        .bind(json_text(&snap.details))
        .execute(&mut *tx)
        .await?;
        for chunk in snap.servers.chunks(ROWS_PER_STATEMENT) {
            sqlx::query(
                "INSERT INTO license_snapshot_servers (snapshot_id, server_key, server_id, name,
                   kind, vendor, model, serial, total_processors, cores, pvu_per_core, capped,
                   custom_pvu, basis)
                 SELECT $1, * FROM UNNEST($2::TEXT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                   $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[], $10::BIGINT[],
                   $11::BIGINT[], $12::BIGINT[], $13::BIGINT[], $14::TEXT[])",
            )
            .bind(import_id)
            .bind(chunk.iter().map(|s| s.key.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.server_id).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.name.as_str()).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|s| s.vendor.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|s| s.model.as_deref()).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|s| s.serial.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|s| s.total_processors).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.cores).collect::<Vec<_>>())
            .bind(chunk.iter().map(|s| s.pvu_per_core).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|s| i64::from(s.capped))
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|s| s.custom_pvu).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|s| json_text(&s.basis))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        for chunk in snap.partitions.chunks(ROWS_PER_STATEMENT) {
            sqlx::query(
                "INSERT INTO license_snapshot_partitions (snapshot_id, computer_id, server_key,
                   cores, reason)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])",
            )
            .bind(import_id)
            .bind(chunk.iter().map(|p| p.computer_id).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|p| p.server_key.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|p| p.cores).collect::<Vec<_>>())
            .bind(
                chunk
                    .iter()
                    .map(|p| json_text(&p.reason))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn license_usage(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        let mut conn = self.pool.acquire().await?;
        usage_in(&mut conn, from, to).await
    }

    pub async fn license_usage_per_server(&self, day: NaiveDate) -> Result<Vec<ServerUsageRow>> {
        self.server_usage(day, None).await
    }

    pub async fn license_explain(
        &self,
        day: NaiveDate,
        product_id: &str,
        metric: &str,
    ) -> Result<Vec<ServerUsageRow>> {
        let mut rows = self.server_usage(day, Some((product_id, metric))).await?;
        let Some(calc) = self.calculator() else {
            return Ok(rows);
        };
        let only: BTreeSet<String> = std::iter::once(product_id.to_string()).collect();
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let snapshots: BTreeSet<i64> = rows.iter().map(|r| r.snapshot_id).collect();
        let mut found: HashMap<(i64, String), serde_json::Value> = HashMap::new();
        for id in snapshots {
            let held = holdings(&mut tx, id, Some(&only)).await?;
            if held.is_empty() {
                continue;
            }
            let snap = load_snapshot_of(&mut tx, id, &held).await?;
            let (values, _) = calc.server_values(&snap, &held, true);
            for v in values {
                if v.metric == metric && v.product_id == product_id {
                    found.insert((id, v.server_key), v.explanation);
                }
            }
        }
        tx.commit().await?;
        for r in &mut rows {
            if let Some(e) = found.remove(&(r.snapshot_id, r.server.key.clone())) {
                r.explanation = e;
            }
        }
        Ok(rows)
    }

    async fn server_usage(
        &self,
        day: NaiveDate,
        only: Option<(&str, &str)>,
    ) -> Result<Vec<ServerUsageRow>> {
        let rows = sqlx::query(SERVER_USAGE_SELECT)
            .bind(day_text(day))
            .bind(only.map(|o| o.0))
            .bind(only.map(|o| o.1))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(server_usage_row).collect()
    }

    pub async fn license_product_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        let mut conn = self.pool.acquire().await?;
        product_days_in(&mut conn, from, to).await
    }
}

pub(crate) async fn usage_in(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageRow>> {
    let rows = sqlx::query(
        "SELECT d.product_id, d.metric, d.day, d.quantity, d.cores,
                p.num, p.publisher, p.name, p.release
         FROM (SELECT product_id, metric, day, quantity, cores,
                      ROW_NUMBER() OVER (PARTITION BY product_id, metric
                                         ORDER BY quantity DESC, day COLLATE \"C\" ASC) AS rn
               FROM license_product_days WHERE day BETWEEN $1 AND $2) d
         JOIN inventory_products p ON p.id = d.product_id
         WHERE d.rn = 1",
    )
    .bind(day_text(from))
    .bind(day_text(to))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(UsageRow {
            product_id: r.try_get("product_id")?,
            metric: r.try_get("metric")?,
            peak_day: parse_day(r.try_get::<&str, _>("day")?)?,
            quantity: r.try_get("quantity")?,
            cores: r.try_get("cores")?,
            product_num: r.try_get::<Option<i64>, _>("num")?.unwrap_or(0),
            publisher: r.try_get("publisher")?,
            name: r.try_get("name")?,
            release: r.try_get("release")?,
        });
    }
    out.sort_by(|a, b| {
        metric_rank(&a.metric)
            .cmp(&metric_rank(&b.metric))
            .then(a.product_num.cmp(&b.product_num))
    });
    Ok(out)
}

pub(crate) async fn product_days_in(
    conn: &mut PgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String, String, i64)>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT day, product_id, metric, quantity FROM license_product_days
         WHERE day BETWEEN $1 AND $2
         ORDER BY day COLLATE \"C\", product_id COLLATE \"C\", metric COLLATE \"C\"",
    )
    .bind(day_text(from))
    .bind(day_text(to))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(d, p, m, q)| Ok((parse_day(&d)?, p, m, q)))
        .collect()
}

/// A stored snapshot restricted to the computers of `held` and the servers
/// they count on (see the SQLite engine's `load_snapshot_of`).
async fn load_snapshot_of(
    conn: &mut PgConnection,
    id: i64,
    held: &[Holding],
) -> Result<StoredSnapshot> {
    let computers: Vec<i64> = held
        .iter()
        .map(|h| h.computer_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (taken_at, day, pvu_table_version): (i64, String, String) = sqlx::query_as(
        "SELECT taken_at, day, pvu_table_version FROM license_snapshots WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let partitions = sqlx::query(
        "SELECT computer_id, server_key, cores, reason FROM license_snapshot_partitions
         WHERE snapshot_id = $1 AND computer_id = ANY($2)
         ORDER BY computer_id, server_key COLLATE \"C\"",
    )
    .bind(id)
    .bind(&computers)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(SnapshotPartition {
            computer_id: r.try_get("computer_id")?,
            server_key: r.try_get("server_key")?,
            cores: r.try_get("cores")?,
            reason: parse_json(r.try_get("reason")?),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let keys: Vec<&str> = partitions
        .iter()
        .map(|p| p.server_key.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let servers = sqlx::query(
        "SELECT server_key, server_id, name, kind, vendor, model, serial, total_processors,
                cores, pvu_per_core, capped, custom_pvu, basis
         FROM license_snapshot_servers
         WHERE snapshot_id = $1 AND server_key = ANY($2)
         ORDER BY server_key COLLATE \"C\"",
    )
    .bind(id)
    .bind(&keys)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| server_from_row(r, "name", "cores"))
    .collect::<Result<Vec<_>>>()?;
    Ok(StoredSnapshot {
        id,
        taken_at: from_ms(taken_at),
        day: parse_day(&day)?,
        pvu_table_version,
        servers,
        partitions,
    })
}

/// The licensable instances present at a snapshot, classified as they are
/// now; only those of `products` when given.
async fn holdings(
    conn: &mut PgConnection,
    snapshot_id: i64,
    products: Option<&BTreeSet<String>>,
) -> Result<Vec<Holding>> {
    let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(
        "SELECT i.id, i.computer_id, i.component_id, i.product_id, p.metric
         FROM license_snapshot_instances h
         JOIN software_instances i ON i.id = h.instance_id
         JOIN inventory_products p ON p.id = i.product_id
         WHERE h.snapshot_id = $1 AND p.metric IS NOT NULL AND i.is_charged = 1
           AND NOT EXISTS (SELECT 1 FROM software_exclusions x
                           WHERE x.computer_id = i.computer_id AND x.product_id = i.product_id)
           AND NOT EXISTS (SELECT 1 FROM software_suppressions s
                           WHERE s.computer_id = i.computer_id AND s.component_id = i.component_id)
         ORDER BY h.instance_id",
    )
    .bind(snapshot_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| products.is_none_or(|ps| ps.contains(&r.3)))
        .map(
            |(instance_id, computer_id, component_id, product_id, metric)| Holding {
                instance_id,
                computer_id,
                component_id,
                product_id,
                metric,
            },
        )
        .collect())
}

/// The licence part of a complete import's publish, inside its
/// transaction and after the software part (see the SQLite engine's
/// `publish_license`).
pub(crate) async fn publish_license(
    tx: &mut PgConnection,
    calc: Option<&dyn UsageCalculator>,
    import_id: i64,
    retention_days: Option<u32>,
) -> Result<Option<LicensePublished>> {
    let day: Option<String> =
        sqlx::query_scalar("SELECT day FROM license_snapshots WHERE id = $1 AND published = 0")
            .bind(import_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(day) = day else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let day = parse_day(&day)?;
    sqlx::query("UPDATE license_snapshots SET published = 1 WHERE id = $1")
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
    // The latest published snapshot changed: its placements.
    sqlx::query("DELETE FROM license_current_placement")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO license_current_placement SELECT * FROM license_placement_of_latest")
        .execute(&mut *tx)
        .await?;
    let instances = sqlx::query(concat!(
        "INSERT INTO license_snapshot_instances (snapshot_id, instance_id)
         SELECT $1, i.id FROM computers c
         CROSS JOIN (SELECT DISTINCT o.component_id AS id FROM inventory_bundling_options o
                     JOIN inventory_products p ON p.id = o.product_id
                     WHERE p.metric IS NOT NULL) k
         CROSS JOIN software_instances i
         WHERE i.computer_id = c.id AND i.component_id = k.id
           AND c.published = 1 AND c.is_deleted = 0 AND i.is_present = 1 AND ",
        visible_instance!(),
        " UNION
         SELECT $1, i.id FROM inventory_products p
         CROSS JOIN software_instances i
         JOIN computers c ON c.id = i.computer_id AND c.published = 1 AND c.is_deleted = 0
         WHERE i.product_id = p.id AND p.metric IS NOT NULL AND i.is_present = 1 AND ",
        visible_instance!()
    ))
    .bind(import_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let mut done = LicensePublished {
        day: Some(day),
        instances,
        ..Default::default()
    };
    if let Some(calc) = calc {
        let (s, p) = recompute_day(tx, calc, &day, None).await?;
        done.server_values = s;
        done.product_values = p;
        done.days_recomputed = 1;
    }
    if let Some(days) = retention_days {
        let oldest = day_text(day - chrono::Duration::days(i64::from(days)));
        prune_before(tx, &oldest).await?;
    }
    done.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(Some(done))
}

/// Deletes the licence history of the days before `oldest`.
async fn prune_before(tx: &mut PgConnection, oldest: &str) -> Result<()> {
    let old = "SELECT id FROM license_snapshots WHERE day < $1";
    for table in [
        "license_snapshot_servers",
        "license_snapshot_partitions",
        "license_snapshot_instances",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE snapshot_id IN ({old})"))
            .bind(oldest)
            .execute(&mut *tx)
            .await?;
    }
    for table in [
        "license_snapshots",
        "license_server_days",
        "license_product_days",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE day < $1"))
            .bind(oldest)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Recomputes one day's values (of `products` only, when given); see the
/// SQLite engine's `recompute_day`.
async fn recompute_day(
    tx: &mut PgConnection,
    calc: &dyn UsageCalculator,
    day: &NaiveDate,
    products: Option<&BTreeSet<String>>,
) -> Result<(u64, u64)> {
    let day_s = day_text(*day);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM license_snapshots WHERE day = $1 AND published = 1 ORDER BY taken_at, id",
    )
    .bind(&day_s)
    .fetch_all(&mut *tx)
    .await?;
    let mut best: HashMap<(String, String, String), (ServerValue, i64)> = HashMap::new();
    let mut unresolved: BTreeSet<UnresolvedCharge> = BTreeSet::new();
    for id in ids {
        let held = holdings(&mut *tx, id, products).await?;
        if held.is_empty() {
            continue;
        }
        let snap = load_snapshot_of(&mut *tx, id, &held).await?;
        let (values, missing) = calc.server_values(&snap, &held, false);
        unresolved.extend(missing);
        for v in values {
            let k = (v.product_id.clone(), v.metric.clone(), v.server_key.clone());
            match best.get(&k) {
                Some((old, _)) if (old.quantity, old.cores) >= (v.quantity, v.cores) => {}
                _ => {
                    best.insert(k, (v, id));
                }
            }
        }
    }
    match products {
        None => {
            for table in ["license_server_days", "license_product_days"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE day = $1"))
                    .bind(&day_s)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Some(ps) => {
            let ps: Vec<&str> = ps.iter().map(String::as_str).collect();
            for table in ["license_server_days", "license_product_days"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE day = $1 AND product_id = ANY($2)"
                ))
                .bind(&day_s)
                .bind(&ps)
                .execute(&mut *tx)
                .await?;
            }
        }
    }
    let mut values: Vec<(ServerValue, i64)> = best.into_values().collect();
    values.sort_by(|a, b| {
        (&a.0.product_id, &a.0.metric, &a.0.server_key).cmp(&(
            &b.0.product_id,
            &b.0.metric,
            &b.0.server_key,
        ))
    });
    for chunk in values.chunks(ROWS_PER_STATEMENT) {
        sqlx::query(
            "INSERT INTO license_server_days (day, product_id, metric, server_key, snapshot_id,
               quantity, cores)
             SELECT $1, * FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                                      $6::BIGINT[], $7::BIGINT[])",
        )
        .bind(&day_s)
        .bind(
            chunk
                .iter()
                .map(|(v, _)| v.product_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(v, _)| v.metric.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|(v, _)| v.server_key.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(chunk.iter().map(|(_, id)| *id).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(v, _)| v.quantity).collect::<Vec<_>>())
        .bind(chunk.iter().map(|(v, _)| v.cores).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    let mut per_product: BTreeMap<(&str, &str), Vec<&ServerValue>> = BTreeMap::new();
    for (v, _) in &values {
        per_product
            .entry((v.product_id.as_str(), v.metric.as_str()))
            .or_default()
            .push(v);
    }
    let mut missing: BTreeMap<(&str, &str), Vec<serde_json::Value>> = BTreeMap::new();
    for u in &unresolved {
        let Some(unit) = LicenseUnit::parse(&u.unit) else {
            continue;
        };
        for m in ReportedMetric::for_unit(unit) {
            per_product
                .entry((u.product_id.as_str(), m.code))
                .or_default();
            missing
                .entry((u.product_id.as_str(), m.code))
                .or_default()
                .push(serde_json::json!({"computer_id": u.computer_id, "reason": u.reason}));
        }
    }
    let product_rows = per_product.len() as u64;
    let rows: Vec<(&str, &str, i64, i64, i64, String)> = per_product
        .iter()
        .map(|((p, m), vs)| {
            let (q, c) = if vs.is_empty() {
                (0, 0)
            } else {
                calc.product_quantity(m, vs)
            };
            let why = missing.get(&(*p, *m)).map_or_else(
                || "[]".to_string(),
                |v| serde_json::Value::from(v.clone()).to_string(),
            );
            (*p, *m, q, c, vs.len() as i64, why)
        })
        .collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        sqlx::query(
            "INSERT INTO license_product_days (product_id, metric, day, quantity, cores, servers,
               unresolved)
             SELECT p, m, $1, q, c, n, u FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[],
                                                     $5::BIGINT[], $6::BIGINT[], $7::TEXT[])
               AS r (p, m, q, c, n, u)",
        )
        .bind(&day_s)
        .bind(chunk.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(chunk.iter().map(|r| r.5.as_str()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok((values.len() as u64, product_rows))
}

/// Recomputes the stored days of `products` (every day that has a
/// published snapshot and can change) inside `tx`; see the SQLite engine's
/// `recompute_products_in`.
pub(crate) async fn recompute_products_in(
    tx: &mut PgConnection,
    calc: Option<&dyn UsageCalculator>,
    products: &BTreeSet<String>,
) -> Result<LicensePublished> {
    let mut done = LicensePublished::default();
    let Some(calc) = calc else {
        return Ok(done);
    };
    if products.is_empty() {
        return Ok(done);
    }
    let started = std::time::Instant::now();
    let list: Vec<&str> = products.iter().map(String::as_str).collect();
    let days: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT (s.day COLLATE \"C\") AS day FROM license_snapshots s
         WHERE s.published = 1
           AND (EXISTS (SELECT 1 FROM license_product_days d
                        WHERE d.day = s.day AND d.product_id = ANY($1))
                OR EXISTS (SELECT 1 FROM license_snapshot_instances h
                           JOIN software_instances i ON i.id = h.instance_id
                           WHERE h.snapshot_id = s.id AND i.product_id = ANY($1)))
         ORDER BY day",
    )
    .bind(&list)
    .fetch_all(&mut *tx)
    .await?;
    for d in days {
        let (s, p) = recompute_day(tx, calc, &parse_day(&d)?, Some(products)).await?;
        done.server_values += s;
        done.product_values += p;
        done.days_recomputed += 1;
    }
    done.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(done)
}

/// A stored snapshot, whole.
pub(crate) async fn load_snapshot(conn: &mut PgConnection, id: i64) -> Result<StoredSnapshot> {
    let (taken_at, day, pvu_table_version): (i64, String, String) = sqlx::query_as(
        "SELECT taken_at, day, pvu_table_version FROM license_snapshots WHERE id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let servers = sqlx::query(
        "SELECT server_key, server_id, name, kind, vendor, model, serial, total_processors,
                cores, pvu_per_core, capped, custom_pvu, basis
         FROM license_snapshot_servers WHERE snapshot_id = $1 ORDER BY server_key COLLATE \"C\"",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| server_from_row(r, "name", "cores"))
    .collect::<Result<Vec<_>>>()?;
    let partitions = sqlx::query(
        "SELECT computer_id, server_key, cores, reason FROM license_snapshot_partitions
         WHERE snapshot_id = $1 ORDER BY computer_id, server_key COLLATE \"C\"",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(SnapshotPartition {
            computer_id: r.try_get("computer_id")?,
            server_key: r.try_get("server_key")?,
            cores: r.try_get("cores")?,
            reason: parse_json(r.try_get("reason")?),
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(StoredSnapshot {
        id,
        taken_at: from_ms(taken_at),
        day: parse_day(&day)?,
        pvu_table_version,
        servers,
        partitions,
    })
}
