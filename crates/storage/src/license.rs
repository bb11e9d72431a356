//! Licence metrics: the snapshots complete imports take of the
//! virtualization hierarchy, the licensable instances present at each, and
//! the values computed from them per day (schema and visibility rule in
//! `migrations/sqlite/0009_license_metrics.sql`).
//!
//! The arithmetic is not here: the values come from a [`UsageCalculator`]
//! (the licence crate, through the ingest crate's adapter), given to the
//! store once with [`Store::set_usage_calculator`]. This module stores its
//! inputs and outputs and decides *which* days to recompute: the snapshot's
//! day at each publish, and every stored day of the products a
//! classification change touches (retroactive, as ILMT's reaggregation).

use crate::list::ListSource;
use crate::{to_ms, Result, SqliteStore, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use openlmt_domain::metric::{LicenseUnit, ReportedMetric, REPORTED_METRICS};
use openlmt_domain::query::Entity;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// One server of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotServer {
    /// Stable across snapshots: `computer:<id>` for a physical computer,
    /// `TLM_VM_<…>` for a VM counted on its own, `cloud:<id>` for a cloud VM.
    pub key: String,
    /// ILMT's integer server id (the id of the computer it stands for).
    pub server_id: i64,
    pub name: String,
    /// `physical`, `default` (a VM without VM-manager data) or `cloud`.
    pub kind: String,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub total_processors: Option<i64>,
    /// Activated physical cores (the VM's cores for `default` and `cloud`);
    /// `None` when no evidence says how many.
    pub cores: Option<i64>,
    pub pvu_per_core: i64,
    /// Whether sub-capacity is capped at `cores`.
    pub capped: bool,
    /// The operator's override, when one applied.
    pub custom_pvu: Option<i64>,
    /// JSON: why this rate and these cores.
    pub basis: serde_json::Value,
}

/// A computer placed on a server, with the cores it counts there.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPartition {
    pub computer_id: i64,
    pub server_key: String,
    pub cores: i64,
    /// JSON: how the computer was placed (VM-manager data, own server, …).
    pub reason: serde_json::Value,
}

/// What a complete import's licence step saw.
#[derive(Debug, Clone, PartialEq)]
pub struct LicenseSnapshotWrite {
    pub taken_at: DateTime<Utc>,
    pub day: NaiveDate,
    pub pvu_table_version: String,
    pub details: serde_json::Value,
    pub servers: Vec<SnapshotServer>,
    pub partitions: Vec<SnapshotPartition>,
}

/// A stored snapshot, as the calculator reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSnapshot {
    pub id: i64,
    pub taken_at: DateTime<Utc>,
    pub day: NaiveDate,
    pub pvu_table_version: String,
    pub servers: Vec<SnapshotServer>,
    pub partitions: Vec<SnapshotPartition>,
}

/// A licensable instance present at a snapshot, with its classification
/// as it is now (charged, assigned to a product with a metric, neither
/// excluded nor suppressed: the others are not returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holding {
    pub instance_id: i64,
    pub computer_id: i64,
    pub component_id: String,
    pub product_id: String,
    /// The product's metric: `PVU`, `RVU_MAPC` or `VPC`.
    pub metric: String,
}

/// One server's value of one product and metric, as computed.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerValue {
    pub product_id: String,
    /// A code of `openlmt_domain::metric::REPORTED_METRICS`.
    pub metric: String,
    pub server_key: String,
    pub quantity: i64,
    pub cores: i64,
    pub explanation: serde_json::Value,
}

/// A licensable instance's computer that could not be counted (no core
/// count, …): never silently 0, reported with the product's day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnresolvedCharge {
    pub product_id: String,
    /// The product's unit: `PVU`, `RVU_MAPC` or `VPC`.
    pub unit: String,
    pub computer_id: i64,
    pub reason: String,
}

/// The licence arithmetic, as the store needs it (implemented over the
/// licence crate, which does no I/O).
pub trait UsageCalculator: Send + Sync + std::fmt::Debug {
    /// Every server's value of every product and metric at one snapshot.
    /// (Values of servers, and the holdings' computers that could not be
    /// counted, with why.) `explain`: fill each value's explanation (else
    /// `null`: a recomputation stores no explanation).
    fn server_values(
        &self,
        snapshot: &StoredSnapshot,
        holdings: &[Holding],
        explain: bool,
    ) -> (Vec<ServerValue>, Vec<UnresolvedCharge>);
    /// A product's daily quantity and cores from its servers' values of the
    /// day (PVU and VPC: the sum; RVU: the tiers applied to the summed
    /// cores).
    fn product_quantity(&self, metric: &str, servers: &[&ServerValue]) -> (i64, i64);
}

/// A computer as a complete import's licence step sees it: the published
/// computers, with the values this import staged for those it carries (as
/// they will be once it publishes).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LicenseComputer {
    pub id: i64,
    pub name: String,
    pub os: Option<String>,
    pub is_virtual: Option<bool>,
    pub processor_vendor: Option<String>,
    pub processor_brand: Option<String>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
    pub threads: Option<i64>,
    pub system_uuid: Option<String>,
    pub system_manufacturer: Option<String>,
    pub system_product: Option<String>,
    pub system_serial: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub chassis_asset_tag: Option<String>,
    pub socket_slots: Option<i64>,
}

/// A guest a VM manager saw running on a host (the computer whose package
/// carried the observation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestSighting {
    pub host_computer_id: i64,
    pub guest_uuid: String,
    pub vcpus: i64,
    pub observed_at: DateTime<Utc>,
}

/// What the licence step reads.
#[derive(Debug, Clone, Default)]
pub struct LicenseInputs {
    pub computers: Vec<LicenseComputer>,
    pub sightings: Vec<GuestSighting>,
    /// The operator's rate overrides, by server key.
    pub overrides: HashMap<String, i64>,
    /// The operator's PVU table (version, the CSV texts as a JSON array),
    /// when one is set.
    pub pvu_table: Option<(String, String)>,
}

/// The operator's PVU table as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvuTableRow {
    pub version: String,
    /// The CSV texts, as a JSON array of strings.
    pub document: String,
    pub set_at: DateTime<Utc>,
    pub set_by: Option<String>,
}

/// An operator's rate for one server ("Changed PVU per core").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvuOverrideRow {
    /// The computer that is the server.
    pub computer_id: i64,
    pub pvu_per_core: i64,
    pub comment: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// What the latest published snapshot says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotSummary {
    pub import_id: i64,
    pub taken_at: DateTime<Utc>,
    pub pvu_table_version: String,
    pub details: serde_json::Value,
}

/// The key an override is stored under.
pub fn override_key(computer_id: i64) -> String {
    format!("computer:{computer_id}")
}

/// One row of `license_usage`: a product's peak of one metric in a period.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub product_id: String,
    pub product_num: i64,
    pub publisher: String,
    pub name: String,
    pub release: Option<String>,
    pub metric: String,
    pub quantity: i64,
    pub peak_day: NaiveDate,
    pub cores: i64,
}

/// One row of `license_usage_per_server`: a product's value on one server
/// on one day, with the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerUsageRow {
    pub day: NaiveDate,
    pub product_id: String,
    pub product_num: i64,
    pub publisher: String,
    pub name: String,
    pub release: Option<String>,
    pub metric: String,
    pub quantity: i64,
    pub cores: i64,
    pub server: SnapshotServer,
    pub active_computers: i64,
    pub explanation: serde_json::Value,
    pub snapshot_id: i64,
}

/// What a publish or a recomputation wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LicensePublished {
    pub day: Option<NaiveDate>,
    pub instances: u64,
    pub server_values: u64,
    pub product_values: u64,
    pub days_recomputed: u64,
    /// How long it took, ms.
    pub elapsed_ms: u64,
}

type Tx<'a> = sqlx::Transaction<'a, Sqlite>;

pub(crate) fn day_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_day(s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| StoreError::Corrupt(format!("bad day `{s}`: {e}")))
}

pub(crate) fn json_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn parse_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or(serde_json::Value::Null)
}

impl SqliteStore {
    /// Gives the store the licence arithmetic. Until it has one, publishes
    /// store snapshots but compute no values (only the storage crate's own
    /// tests run so).
    pub fn set_usage_calculator(&self, calc: Arc<dyn UsageCalculator>) {
        let _ = self.calc.set(calc);
    }

    pub(crate) fn calculator(&self) -> Option<Arc<dyn UsageCalculator>> {
        self.calc.get().cloned()
    }

    /// The computers and VM-manager observations a complete import's
    /// licence step resolves the hierarchy from, as they will be once the
    /// import publishes: published computers not deleted (nor about to be:
    /// last seen before `stale_before_ms`), with this import's staged
    /// values; observations published or written by this import, made at or
    /// after `since_ms`.
    pub async fn license_inputs(
        &self,
        import_id: i64,
        since_ms: i64,
        stale_before_ms: Option<i64>,
    ) -> Result<LicenseInputs> {
        let mut tx = self.read_tx().await?;
        // Each raw value: the staged one for a computer this import carries
        // (even NULL: its new evidence says nothing), else the published one.
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
             LEFT JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = ?1
             WHERE c.is_deleted = 0
               AND (s.computer_id IS NOT NULL
                    OR (c.published = 1 AND (?2 IS NULL OR c.last_seen >= ?2)))
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
        let sightings: Vec<(i64, String, i64, i64)> = sqlx::query_as(
            // The scans by their time index, then their guests by scan.
            "SELECT s.computer_id, g.guest_uuid, g.vcpus, g.observed_at
             FROM vm_host_scans s JOIN vm_guest_observations g ON g.scan_id = s.id
             WHERE (s.published = 1 OR s.import_id = ?1) AND s.observed_at >= ?2
             ORDER BY s.observed_at, s.computer_id, g.seq",
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
                    observed_at: crate::from_ms(t),
                })
                .collect(),
            overrides: overrides.into_iter().collect(),
            pvu_table,
        })
    }

    /// The operator's PVU table, when one is set.
    pub async fn operator_pvu_table(&self) -> Result<Option<PvuTableRow>> {
        let row: Option<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT version, document, set_at, set_by FROM pvu_tables WHERE layer = 'operator'",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(version, document, at, by)| PvuTableRow {
            version,
            document,
            set_at: crate::from_ms(at),
            set_by: by,
        }))
    }

    /// Replaces the operator's PVU table (the caller validated it whole).
    pub async fn set_operator_pvu_table(
        &self,
        version: &str,
        document: &str,
        by: &str,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO pvu_tables (layer, version, document, set_at, set_by)
             VALUES ('operator', ?, ?, ?, ?)",
        )
        .bind(version)
        .bind(document)
        .bind(crate::now_ms())
        .bind(by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the operator's PVU table (the bundled one applies again);
    /// whether there was one.
    pub async fn clear_operator_pvu_table(&self) -> Result<bool> {
        let n = sqlx::query("DELETE FROM pvu_tables WHERE layer = 'operator'")
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Every rate override.
    pub async fn pvu_overrides(&self) -> Result<Vec<PvuOverrideRow>> {
        let rows: Vec<(String, i64, String, String, i64)> = sqlx::query_as(
            "SELECT server_key, pvu_per_core, comment, set_by, set_at FROM pvu_overrides
             ORDER BY server_key",
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
                    set_at: crate::from_ms(at),
                })
            })
            .collect())
    }

    /// Sets the rate of the server a computer is; `false` when no visible
    /// computer has that id.
    pub async fn set_pvu_override(
        &self,
        computer_id: i64,
        pvu_per_core: i64,
        comment: &str,
        by: &str,
    ) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let known: Option<i64> =
            sqlx::query_scalar("SELECT id FROM computers WHERE id = ? AND published = 1")
                .bind(computer_id)
                .fetch_optional(&mut *tx)
                .await?;
        if known.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT OR REPLACE INTO pvu_overrides (server_key, pvu_per_core, comment, set_by, set_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(override_key(computer_id))
        .bind(pvu_per_core)
        .bind(comment)
        .bind(by)
        .bind(crate::now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether a published computer has this id.
    pub async fn computer_visible(&self, computer_id: i64) -> Result<bool> {
        let known: Option<i64> =
            sqlx::query_scalar("SELECT id FROM computers WHERE id = ? AND published = 1")
                .bind(computer_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(known.is_some())
    }

    /// Removes a server's override; whether there was one.
    pub async fn delete_pvu_override(&self, computer_id: i64) -> Result<bool> {
        let n = sqlx::query("DELETE FROM pvu_overrides WHERE server_key = ?")
            .bind(override_key(computer_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// The latest published snapshot's summary, if any.
    pub async fn latest_license_summary(&self) -> Result<Option<SnapshotSummary>> {
        let row: Option<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT id, taken_at, pvu_table_version, details FROM license_snapshots
             WHERE published = 1 ORDER BY taken_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, at, v, d)| SnapshotSummary {
            import_id: id,
            taken_at: crate::from_ms(at),
            pvu_table_version: v,
            details: parse_json(&d),
        }))
    }

    /// Writes an import's snapshot, invisible until its publish.
    pub async fn write_license_snapshot(
        &self,
        import_id: i64,
        snap: &LicenseSnapshotWrite,
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for table in ["license_snapshot_servers", "license_snapshot_partitions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE snapshot_id = ?"))
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "INSERT OR REPLACE INTO license_snapshots
               (id, taken_at, day, published, pvu_table_version, details)
             VALUES (?, ?, ?, 0, ?, ?)",
        )
        .bind(import_id)
        .bind(to_ms(snap.taken_at))
        .bind(day_text(snap.day))
        .bind(&snap.pvu_table_version)
        .bind(json_text(&snap.details))
        .execute(&mut *tx)
        .await?;
        for chunk in snap.servers.chunks(500) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO license_snapshot_servers (snapshot_id, server_key, server_id, name,
                   kind, vendor, model, serial, total_processors, cores, pvu_per_core, capped,
                   custom_pvu, basis) ",
            );
            qb.push_values(chunk, |mut b, s| {
                b.push_bind(import_id)
                    .push_bind(&s.key)
                    .push_bind(s.server_id)
                    .push_bind(&s.name)
                    .push_bind(&s.kind)
                    .push_bind(&s.vendor)
                    .push_bind(&s.model)
                    .push_bind(&s.serial)
                    .push_bind(s.total_processors)
                    .push_bind(s.cores)
                    .push_bind(s.pvu_per_core)
                    .push_bind(s.capped)
                    .push_bind(s.custom_pvu)
                    .push_bind(json_text(&s.basis));
            });
            qb.build().execute(&mut *tx).await?;
        }
        for chunk in snap.partitions.chunks(800) {
            let mut qb = QueryBuilder::<Sqlite>::new(
                "INSERT INTO license_snapshot_partitions (snapshot_id, computer_id, server_key,
                   cores, reason) ",
            );
            qb.push_values(chunk, |mut b, p| {
                b.push_bind(import_id)
                    .push_bind(p.computer_id)
                    .push_bind(&p.server_key)
                    .push_bind(p.cores)
                    .push_bind(json_text(&p.reason));
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the snapshots of imports that are not active and never
    /// published (a failed, cancelled or crashed import). Returns the rows
    /// deleted.
    pub async fn discard_unpublished_license_snapshots(&self) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let dead = "SELECT s.id FROM license_snapshots s WHERE s.published = 0 AND NOT EXISTS
                      (SELECT 1 FROM imports i WHERE i.id = s.id AND i.active_slot = 1)";
        let mut deleted = 0;
        for table in ["license_snapshot_servers", "license_snapshot_partitions"] {
            deleted += sqlx::query(&format!(
                "DELETE FROM {table} WHERE snapshot_id IN ({dead})"
            ))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        deleted += sqlx::query(&format!(
            "DELETE FROM license_snapshots WHERE id IN ({dead})"
        ))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// The peak of every product and metric over the days `from..=to`
    /// (the earliest day on a tie), ordered as ILMT orders them: by
    /// metric, then product number.
    pub async fn license_usage(&self, from: NaiveDate, to: NaiveDate) -> Result<Vec<UsageRow>> {
        let mut conn = self.pool.acquire().await?;
        usage_in(&mut conn, from, to).await
    }

    /// Every product's value on every server on `day`, with the server as
    /// the snapshot that gave the value saw it.
    pub async fn license_usage_per_server(&self, day: NaiveDate) -> Result<Vec<ServerUsageRow>> {
        self.server_usage(day, None).await
    }

    /// The per-server values of one product and metric on `day`, with their
    /// explanations (the "explain a number" API).
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
        // Each value's snapshot is evaluated again for this product: the
        // same arithmetic that stored the value, with its explanation.
        let only: BTreeSet<String> = std::iter::once(product_id.to_string()).collect();
        let mut tx = self.read_tx().await?;
        let snapshots: BTreeSet<i64> = rows.iter().map(|r| r.snapshot_id).collect();
        let mut found: HashMap<(i64, String), serde_json::Value> = HashMap::new();
        for id in snapshots {
            let held = holdings(&mut tx, id, Some(&only)).await?;
            if held.is_empty() {
                continue;
            }
            let snap = load_snapshot_of(&mut tx, id, &computers_of(&held)).await?;
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
        let mut qb = QueryBuilder::<Sqlite>::new(LicenseServerUsageList::SELECT);
        qb.push(LicenseServerUsageList::FROM_WHERE);
        qb.push(" AND d.day = ");
        qb.push_bind(day_text(day));
        if let Some((product, metric)) = only {
            qb.push(" AND d.product_id = ");
            qb.push_bind(product.to_string());
            qb.push(" AND d.metric = ");
            qb.push_bind(metric.to_string());
        }
        qb.push(" ORDER BY ");
        qb.push(LicenseServerUsageList::STABLE_ORDER);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(LicenseServerUsageList::row).collect()
    }

    /// The daily values of products between two days, in day order (the
    /// chart and the audit snapshot).
    pub async fn license_product_days(
        &self,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(NaiveDate, String, String, i64)>> {
        let mut conn = self.pool.acquire().await?;
        product_days_in(&mut conn, from, to).await
    }
}

/// The peak of every product and metric over the days `from..=to`
/// (the earliest day on a tie), ordered as ILMT orders them: by
/// metric, then product number. Read on `conn` (a transaction's, for
/// one snapshot with other reads).
pub(crate) async fn usage_in(
    conn: &mut sqlx::SqliteConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<UsageRow>> {
    let rows = sqlx::query(
        "SELECT d.product_id, d.metric, d.day, d.quantity, d.cores,
                p.num, p.publisher, p.name, p.release
         FROM (SELECT product_id, metric, day, quantity, cores,
                      ROW_NUMBER() OVER (PARTITION BY product_id, metric
                                         ORDER BY quantity DESC, day ASC) AS rn
               FROM license_product_days WHERE day BETWEEN ?1 AND ?2) d
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

/// The daily values of products between two days, in day order (the
/// chart and the audit snapshot).
pub(crate) async fn product_days_in(
    conn: &mut sqlx::SqliteConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, String, String, i64)>> {
    let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT day, product_id, metric, quantity FROM license_product_days
         WHERE day BETWEEN ? AND ? ORDER BY day, product_id, metric",
    )
    .bind(day_text(from))
    .bind(day_text(to))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(d, p, m, q)| Ok((parse_day(&d)?, p, m, q)))
        .collect()
}

/// `license_usage_per_server` as a list: every product's value of every
/// metric on every server on every stored day (the API filters one day).
pub struct LicenseServerUsageList;

/// ILMT's `metric_id` of a stored metric code (see `openlmt_domain::metric`).
/// Made once from the domain's table of metrics (codes are fixed words,
/// not input).
static METRIC_ID_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let cases: String = REPORTED_METRICS
        .iter()
        .map(|m| format!(" WHEN '{}' THEN {}", m.code, m.id))
        .collect();
    format!("(CASE d.metric{cases} END)")
});

impl ListSource for LicenseServerUsageList {
    type Row = ServerUsageRow;
    const ENTITY: Entity = Entity::LicenseServerUsage;
    const SELECT: &'static str = "SELECT d.day, d.product_id, d.metric, d.quantity, d.cores,
            d.snapshot_id, p.num, p.publisher, p.name, p.release,
            s.server_key, s.server_id, s.name AS server_name, s.kind, s.vendor, s.model,
            s.serial, s.total_processors, s.cores AS server_cores, s.pvu_per_core,
            s.capped, s.custom_pvu, s.basis,
            (SELECT COUNT(*) FROM license_snapshot_partitions x
             WHERE x.snapshot_id = d.snapshot_id AND x.server_key = d.server_key)
              AS active_computers";
    const FROM_WHERE: &'static str = " FROM license_server_days d
             JOIN inventory_products p ON p.id = d.product_id
             JOIN license_snapshot_servers s
               ON s.snapshot_id = d.snapshot_id AND s.server_key = d.server_key
             WHERE 1";
    const STABLE_ORDER: &'static str = "d.day, p.num, d.metric, s.server_id, d.server_key";

    fn column(field: &str) -> Option<&'static str> {
        Some(match field {
            "date" => "d.day",
            "product_id" => "p.num",
            "product_name" => "p.name",
            "product_release_guid" => "d.product_id",
            "metric_id" => METRIC_ID_SQL.as_str(),
            "metric_code_name" => "d.metric",
            // (An expression: a bare `0` in ORDER BY would name a column
            // by its position, an error on both engines.)
            "bundle_id" => "CAST(0 AS INTEGER)",
            "bundle_name" | "bundle_guid" => "NULL",
            "server_id" | "server.id" => "s.server_id",
            "hwm_quantity" => "d.quantity",
            "hwm_cores" => "d.cores",
            "server.name" => "s.name",
            "server.type" => {
                "(CASE s.kind WHEN 'physical' THEN 0 WHEN 'default' THEN 1 ELSE 2 END)"
            }
            "server.hardware_vendor" => "COALESCE(s.vendor, '-')",
            "server.hardware_model" => "COALESCE(s.model, '-')",
            "server.hardware_serial_number" => "COALESCE(s.serial, s.name)",
            "server.total_processors" => "s.total_processors",
            "server.cores" => "s.cores",
            "server.pvu_per_core" => "s.pvu_per_core",
            "server.active_computers" => {
                "(SELECT COUNT(*) FROM license_snapshot_partitions x
                  WHERE x.snapshot_id = d.snapshot_id AND x.server_key = d.server_key)"
            }
            _ => return None,
        })
    }

    fn row(r: &SqliteRow) -> Result<ServerUsageRow> {
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
}

pub(crate) fn metric_rank(m: &str) -> usize {
    REPORTED_METRICS
        .iter()
        .position(|x| x.code == m)
        .unwrap_or(REPORTED_METRICS.len())
}

pub(crate) fn server_from_row(
    r: &SqliteRow,
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
        capped: r.try_get("capped")?,
        custom_pvu: r.try_get("custom_pvu")?,
        basis: parse_json(r.try_get("basis")?),
    })
}

pub(crate) async fn load_snapshot(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
) -> Result<StoredSnapshot> {
    let head =
        sqlx::query("SELECT taken_at, day, pvu_table_version FROM license_snapshots WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
    let servers = sqlx::query(
        "SELECT server_key, server_id, name, kind, vendor, model, serial, total_processors,
                cores, pvu_per_core, capped, custom_pvu, basis
         FROM license_snapshot_servers WHERE snapshot_id = ? ORDER BY server_key",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| server_from_row(r, "name", "cores"))
    .collect::<Result<Vec<_>>>()?;
    let partitions = sqlx::query(
        "SELECT computer_id, server_key, cores, reason FROM license_snapshot_partitions
         WHERE snapshot_id = ? ORDER BY computer_id, server_key",
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
        taken_at: crate::from_ms(head.try_get("taken_at")?),
        day: parse_day(head.try_get::<&str, _>("day")?)?,
        pvu_table_version: head.try_get("pvu_table_version")?,
        servers,
        partitions,
    })
}

/// A stored snapshot restricted to the computers `computers` (a JSON array
/// of ids) and the servers they count on: what evaluating charges of those
/// computers needs (the rest of the estate is not read). Read on the raw
/// handle, as [`holdings`].
async fn load_snapshot_of(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
    computers: &str,
) -> Result<StoredSnapshot> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: see `holdings`.
    let c = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let (taken_at, day, pvu_table_version): (i64, String, String) = c.query_row(
        "SELECT taken_at, day, pvu_table_version FROM license_snapshots WHERE id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let mut partitions = Vec::new();
    {
        let mut st = c.prepare_cached(
            "SELECT computer_id, server_key, cores, reason FROM license_snapshot_partitions
             WHERE snapshot_id = ?1 AND computer_id IN (SELECT value FROM json_each(?2))
             ORDER BY computer_id, server_key",
        )?;
        let mut rows = st.query(rusqlite::params![id, computers])?;
        while let Some(r) = rows.next()? {
            let reason: String = r.get(3)?;
            partitions.push(SnapshotPartition {
                computer_id: r.get(0)?,
                server_key: r.get(1)?,
                cores: r.get(2)?,
                reason: parse_json(&reason),
            });
        }
    }
    let keys: BTreeSet<&str> = partitions.iter().map(|p| p.server_key.as_str()).collect();
    let keys = serde_json::to_string(&keys).unwrap_or_else(|_| "[]".into());
    let mut servers = Vec::new();
    {
        let mut st = c.prepare_cached(
            "SELECT server_key, server_id, name, kind, vendor, model, serial, total_processors,
                    cores, pvu_per_core, capped, custom_pvu, basis
             FROM license_snapshot_servers
             WHERE snapshot_id = ?1 AND server_key IN (SELECT value FROM json_each(?2))
             ORDER BY server_key",
        )?;
        let mut rows = st.query(rusqlite::params![id, keys])?;
        while let Some(r) = rows.next()? {
            let basis: String = r.get(12)?;
            servers.push(SnapshotServer {
                key: r.get(0)?,
                server_id: r.get(1)?,
                name: r.get(2)?,
                kind: r.get(3)?,
                vendor: r.get(4)?,
                model: r.get(5)?,
                serial: r.get(6)?,
                total_processors: r.get(7)?,
                cores: r.get(8)?,
                pvu_per_core: r.get(9)?,
                capped: r.get(10)?,
                custom_pvu: r.get(11)?,
                basis: parse_json(&basis),
            });
        }
    }
    Ok(StoredSnapshot {
        id,
        taken_at: crate::from_ms(taken_at),
        day: parse_day(&day)?,
        pvu_table_version,
        servers,
        partitions,
    })
}

/// The JSON array of the computers of `held`.
fn computers_of(held: &[Holding]) -> String {
    let ids: BTreeSet<i64> = held.iter().map(|h| h.computer_id).collect();
    serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into())
}

/// The licensable instances present at a snapshot, classified as they are
/// now; only those of `products` when given.
async fn holdings(
    conn: &mut sqlx::SqliteConnection,
    snapshot_id: i64,
    products: Option<&BTreeSet<String>>,
) -> Result<Vec<Holding>> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: as in `inventory::write_batch`: the handle is a live connection
    // that sqlx's worker does not touch while `handle` is held; `c` is
    // dropped at the end of this function (finalizing its statements) and
    // never closes the handle. (sqlx hands every row across threads, which
    // cost more than SQLite's own work for these many small rows.)
    let c = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
    let mut st = c.prepare_cached(
        "SELECT i.id, i.computer_id, i.component_id, i.product_id, p.metric
         FROM license_snapshot_instances h
         JOIN software_instances i ON i.id = h.instance_id
         JOIN inventory_products p ON p.id = i.product_id
         WHERE h.snapshot_id = ?1 AND p.metric IS NOT NULL AND i.is_charged = 1
           AND NOT EXISTS (SELECT 1 FROM software_exclusions x
                           WHERE x.computer_id = i.computer_id AND x.product_id = i.product_id)
           AND NOT EXISTS (SELECT 1 FROM software_suppressions s
                           WHERE s.computer_id = i.computer_id AND s.component_id = i.component_id)",
    )?;
    let mut rows = st.query([snapshot_id])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let product_id: String = r.get(3)?;
        if products.is_some_and(|ps| !ps.contains(&product_id)) {
            continue;
        }
        out.push(Holding {
            instance_id: r.get(0)?,
            computer_id: r.get(1)?,
            component_id: r.get(2)?,
            product_id,
            metric: r.get(4)?,
        });
    }
    Ok(out)
}

/// The licence part of a complete import's publish, inside its transaction
/// and after the software part (so the instances read are those the import
/// publishes): the import's snapshot becomes visible, the licensable
/// instances present are recorded with it, and its day is recomputed.
/// History older than `retention_days` is deleted.
pub(crate) async fn publish_license(
    tx: &mut Tx<'_>,
    calc: Option<&dyn UsageCalculator>,
    import_id: i64,
    retention_days: Option<u32>,
) -> Result<Option<LicensePublished>> {
    let day: Option<String> =
        sqlx::query_scalar("SELECT day FROM license_snapshots WHERE id = ? AND published = 0")
            .bind(import_id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some(day) = day else {
        return Ok(None);
    };
    let started = std::time::Instant::now();
    let day = parse_day(&day)?;
    sqlx::query("UPDATE license_snapshots SET published = 1 WHERE id = ?")
        .bind(import_id)
        .execute(&mut **tx)
        .await?;
    // The latest published snapshot changed: its placements, which the
    // computers and instance lists join per row through an index (see
    // migration 0010).
    // (`Executor::execute`, not `RawSql::execute`: the compiler cannot prove
    // the latter's future `Send` inside the storage interface's boxed futures.)
    sqlx::Executor::execute(
        &mut **tx,
        sqlx::raw_sql(
            "DELETE FROM license_current_placement;
             INSERT INTO license_current_placement SELECT * FROM license_placement_of_latest;",
        ),
    )
    .await?;
    // Instances whose component can count against a metric, or that are
    // assigned to a product with one (a manual assignment may name any
    // product), of visible computers. Both halves are found through an
    // index from the few components and products with a metric, never by
    // scanning every instance (8 million in the discovery benchmark, where
    // the scan took 12 s of the publish): the first seeks each computer's
    // instances of each such component through the unique key (computer,
    // component, path), the second uses the product index. `CROSS JOIN`
    // keeps SQLite's join order as written.
    let instances = sqlx::query(concat!(
        "INSERT INTO license_snapshot_instances (snapshot_id, instance_id)
         SELECT ?1, i.id FROM computers c
         CROSS JOIN (SELECT DISTINCT o.component_id AS id FROM inventory_bundling_options o
                     JOIN inventory_products p ON p.id = o.product_id
                     WHERE p.metric IS NOT NULL) k
         CROSS JOIN software_instances i
         WHERE i.computer_id = c.id AND i.component_id = k.id
           AND c.published = 1 AND c.is_deleted = 0 AND i.is_present = 1 AND ",
        visible_instance!(),
        " UNION
         SELECT ?1, i.id FROM inventory_products p
         CROSS JOIN software_instances i
         JOIN computers c ON c.id = i.computer_id AND c.published = 1 AND c.is_deleted = 0
         WHERE i.product_id = p.id AND p.metric IS NOT NULL AND i.is_present = 1 AND ",
        visible_instance!()
    ))
    .bind(import_id)
    .execute(&mut **tx)
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
async fn prune_before(tx: &mut Tx<'_>, oldest: &str) -> Result<()> {
    let old = "SELECT id FROM license_snapshots WHERE day < ?1";
    for table in [
        "license_snapshot_servers",
        "license_snapshot_partitions",
        "license_snapshot_instances",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE snapshot_id IN ({old})"))
            .bind(oldest)
            .execute(&mut **tx)
            .await?;
    }
    for table in [
        "license_snapshots",
        "license_server_days",
        "license_product_days",
    ] {
        sqlx::query(&format!("DELETE FROM {table} WHERE day < ?1"))
            .bind(oldest)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Recomputes the stored days of `products` (every day that has a
/// published snapshot) inside `tx`.
pub(crate) async fn recompute_products_in(
    tx: &mut Tx<'_>,
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
    // Only the days whose values can change: those with a stored value of a
    // product touched (it may fall), and those whose snapshots hold an
    // instance now assigned to one (it may rise). The other days keep their
    // values, which are those a recomputation would give.
    let list = serde_json::to_string(products).unwrap_or_else(|_| "[]".into());
    let days: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT s.day FROM license_snapshots s
         WHERE s.published = 1
           AND (EXISTS (SELECT 1 FROM license_product_days d
                        WHERE d.day = s.day AND d.product_id IN (SELECT value FROM json_each(?1)))
                OR EXISTS (SELECT 1 FROM license_snapshot_instances h
                           JOIN software_instances i ON i.id = h.instance_id
                           WHERE h.snapshot_id = s.id
                             AND i.product_id IN (SELECT value FROM json_each(?1))))
         ORDER BY s.day",
    )
    .bind(&list)
    .fetch_all(&mut **tx)
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

/// Recomputes one day's values (of `products` only, when given): each
/// server's value is the maximum over the day's published snapshots, and a
/// product's value is computed from its servers'. Returns the server and
/// product rows written.
async fn recompute_day(
    tx: &mut Tx<'_>,
    calc: &dyn UsageCalculator,
    day: &NaiveDate,
    products: Option<&BTreeSet<String>>,
) -> Result<(u64, u64)> {
    let day_s = day_text(*day);
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM license_snapshots WHERE day = ? AND published = 1 ORDER BY taken_at, id",
    )
    .bind(&day_s)
    .fetch_all(&mut **tx)
    .await?;
    // (product, metric, server) → the largest value and its snapshot.
    let mut best: HashMap<(String, String, String), (ServerValue, i64)> = HashMap::new();
    let mut unresolved: BTreeSet<UnresolvedCharge> = BTreeSet::new();
    for id in ids {
        let held = holdings(&mut *tx, id, products).await?;
        if held.is_empty() {
            continue;
        }
        let snap = load_snapshot_of(&mut *tx, id, &computers_of(&held)).await?;
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
    // Replace the day's rows (of the products recomputed).
    match products {
        None => {
            for table in ["license_server_days", "license_product_days"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE day = ?"))
                    .bind(&day_s)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Some(ps) => {
            for p in ps {
                for table in ["license_server_days", "license_product_days"] {
                    sqlx::query(&format!(
                        "DELETE FROM {table} WHERE day = ? AND product_id = ?"
                    ))
                    .bind(&day_s)
                    .bind(p)
                    .execute(&mut **tx)
                    .await?;
                }
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
    // The explanations are not stored (they would be most of the bytes
    // written): `license_explain` evaluates the snapshot again.
    for chunk in values.chunks(500) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO license_server_days (day, product_id, metric, server_key, snapshot_id,
               quantity, cores) ",
        );
        qb.push_values(chunk, |mut b, (v, id)| {
            b.push_bind(&day_s)
                .push_bind(&v.product_id)
                .push_bind(&v.metric)
                .push_bind(&v.server_key)
                .push_bind(*id)
                .push_bind(v.quantity)
                .push_bind(v.cores);
        });
        qb.build().execute(&mut **tx).await?;
    }
    let mut per_product: BTreeMap<(&str, &str), Vec<&ServerValue>> = BTreeMap::new();
    for (v, _) in &values {
        per_product
            .entry((v.product_id.as_str(), v.metric.as_str()))
            .or_default()
            .push(v);
    }
    // A product whose charges could not all be counted says so, on every
    // metric of its unit (with 0 when nothing could be counted).
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
    for chunk in rows.chunks(400) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO license_product_days (product_id, metric, day, quantity, cores, servers,
               unresolved) ",
        );
        qb.push_values(chunk, |mut b, (p, m, q, c, n, why)| {
            b.push_bind(*p)
                .push_bind(*m)
                .push_bind(&day_s)
                .push_bind(*q)
                .push_bind(*c)
                .push_bind(*n)
                .push_bind(why);
        });
        qb.build().execute(&mut **tx).await?;
    }
    Ok((values.len() as u64, product_rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;

    /// A calculator with the arithmetic reduced to what these tests check:
    /// each server's value is the cores of its partitions whose computers
    /// hold the product, times its rate (no cap; the real one is the licence
    /// crate's, tested there and end to end).
    #[derive(Debug)]
    struct SumCalc;

    impl UsageCalculator for SumCalc {
        fn server_values(
            &self,
            snap: &StoredSnapshot,
            held: &[Holding],
            _explain: bool,
        ) -> (Vec<ServerValue>, Vec<UnresolvedCharge>) {
            let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
            // One charge per product and computer, however many instances.
            let charges: BTreeSet<(&str, i64)> = held
                .iter()
                .map(|h| (h.product_id.as_str(), h.computer_id))
                .collect();
            for (product, computer) in charges {
                for p in snap.partitions.iter().filter(|p| p.computer_id == computer) {
                    let rate = snap
                        .servers
                        .iter()
                        .find(|s| s.key == p.server_key)
                        .map_or(0, |s| s.pvu_per_core);
                    let e = out
                        .entry((product.to_string(), p.server_key.clone()))
                        .or_default();
                    e.0 += p.cores * rate;
                    e.1 += p.cores;
                }
            }
            let values = out
                .into_iter()
                .map(
                    |((product_id, server_key), (quantity, cores))| ServerValue {
                        product_id,
                        metric: "PVU_SUB_CAP".into(),
                        server_key,
                        quantity,
                        cores,
                        explanation: serde_json::Value::Null,
                    },
                )
                .collect();
            (values, Vec::new())
        }

        fn product_quantity(&self, _metric: &str, servers: &[&ServerValue]) -> (i64, i64) {
            (
                servers.iter().map(|s| s.quantity).sum(),
                servers.iter().map(|s| s.cores).sum(),
            )
        }
    }

    /// A classification recomputes only the days whose values can change:
    /// a day whose snapshot holds no instance of the product, and has no
    /// value of it, is not read again.
    #[tokio::test]
    async fn a_recomputation_reads_only_the_days_it_can_change() {
        let (store, _dir) = test_store().await;
        store.set_usage_calculator(Arc::new(SumCalc));
        for sql in [
            "INSERT INTO inventory_products (id, publisher, name, release, metric, num)
             VALUES ('p', 'ACME', 'P', '1', 'PVU', 1), ('q', 'ACME', 'Q', '1', 'PVU', 2)",
            "INSERT INTO software_instances (id, computer_id, component_id, discovery_path,
               signature_kind, evidence_source, evidence_name, is_present, start_import_id,
               discovery_start, product_id, is_charged)
             VALUES (1, 1, 'pc', 'dpkg', 'package', 'dpkg', 'p', 1, 1, 0, 'p', 1),
                    (2, 1, 'qc', 'dpkg', 'package', 'dpkg', 'q', 1, 1, 0, 'q', 1)",
            "INSERT INTO license_snapshots (id, taken_at, day, published, pvu_table_version)
             VALUES (10, 0, '2026-12-01', 1, 't'), (11, 86400000, '2026-12-02', 1, 't')",
            "INSERT INTO license_snapshot_servers (snapshot_id, server_key, server_id, name, kind,
               cores, pvu_per_core, capped, basis)
             VALUES (10, 'computer:1', 1, 'h', 'physical', 4, 70, 1, '{}'),
                    (11, 'computer:1', 1, 'h', 'physical', 4, 70, 1, '{}')",
            "INSERT INTO license_snapshot_partitions (snapshot_id, computer_id, server_key, cores, reason)
             VALUES (10, 1, 'computer:1', 4, '{}'), (11, 1, 'computer:1', 4, '{}')",
            // P on the first day only, Q on both.
            "INSERT INTO license_snapshot_instances (snapshot_id, instance_id)
             VALUES (10, 1), (10, 2), (11, 2)",
        ] {
            sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
        }
        let recompute = |products: &[&str]| {
            let products: BTreeSet<String> = products.iter().map(|p| p.to_string()).collect();
            let store = store.clone();
            async move {
                let mut tx = store.write_tx().await.unwrap();
                let calc = store.calculator();
                let done = recompute_products_in(&mut tx, calc.as_deref(), &products)
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
                done
            }
        };
        assert_eq!(recompute(&["p", "q"]).await.days_recomputed, 2);
        let done = recompute(&["p"]).await;
        assert_eq!(done.days_recomputed, 1, "the second day has no P");
        let days = store
            .license_product_days(
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            )
            .await
            .unwrap();
        let p_days: Vec<(String, i64)> = days
            .iter()
            .filter(|d| d.1 == "p")
            .map(|d| (d.0.to_string(), d.3))
            .collect();
        assert_eq!(p_days, [("2026-12-01".to_string(), 280)]);
        // Reassigning P's instance to Q: P's day falls to nothing; Q keeps
        // one charge per computer (both days of Q are read: it has values
        // on both).
        sqlx::raw_sql("UPDATE software_instances SET product_id = 'q' WHERE id = 1")
            .execute(store.pool())
            .await
            .unwrap();
        let done = recompute(&["p", "q"]).await;
        assert_eq!(done.days_recomputed, 2);
        let days = store
            .license_product_days(
                NaiveDate::from_ymd_opt(2026, 12, 1).unwrap(),
                NaiveDate::from_ymd_opt(2026, 12, 2).unwrap(),
            )
            .await
            .unwrap();
        let got: Vec<(String, String, i64)> = days
            .iter()
            .map(|d| (d.0.to_string(), d.1.clone(), d.3))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-12-01".to_string(), "q".to_string(), 280),
                ("2026-12-02".to_string(), "q".to_string(), 280)
            ]
        );
    }
}
