//! Writing imported facts. An import writes its facts under its own
//! import id, invisible until its publish transaction makes them current
//! (see migrations/sqlite/0003_inventory.sql for the visibility rule).

use crate::{now_ms, Result, Store};
use sqlx::{QueryBuilder, Sqlite};
use std::collections::HashMap;

/// Per-computer values an import stages; the publish copies them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StagedComputer {
    pub computer_id: i64,
    pub name: Option<String>,
    pub dns_name: Option<String>,
    pub ip_addresses: Vec<String>,
    pub os: Option<String>,
    pub agent_version: Option<String>,
    pub scan_time_ms: i64,
    pub processor_vendor: Option<String>,
    pub processor_brand: Option<String>,
    pub processor_model: Option<String>,
    pub sockets: i64,
    pub cores: i64,
    pub threads: i64,
    pub is_virtual: bool,
    pub hypervisor: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PackageFactRow {
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
    pub vendor: Option<String>,
    pub source: &'static str,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SwidFactRow {
    pub tag_id: String,
    pub name: String,
    pub version: Option<String>,
    pub regid: Option<String>,
    pub vendor: Option<String>,
    pub schema: &'static str,
}

/// One package's worth of facts, ready to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PackageWrite {
    pub computer: StagedComputer,
    pub packages: Vec<PackageFactRow>,
    pub swid_tags: Vec<SwidFactRow>,
}

/// Rows per multi-row INSERT statement (7 columns each, well under
/// SQLite's 32766 bound parameters).
const ROWS_PER_STATEMENT: usize = 1000;

/// What publishing does besides making the facts current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishOptions {
    /// Also publish the inventory (a complete import).
    pub complete: bool,
    /// Mark computers whose last scan is older than this (Unix ms) deleted.
    pub stale_before_ms: Option<i64>,
}

impl Store {
    /// Ids of many endpoints at once (one transaction), creating invisible
    /// computer rows for new ones. Keys are (data source, endpoint id).
    pub async fn computer_ids(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut tx = self.pool.begin().await?;
        for (ds, endpoint) in keys {
            sqlx::query("INSERT OR IGNORE INTO computers (data_source, endpoint_id) VALUES (?, ?)")
                .bind(ds)
                .bind(endpoint)
                .execute(&mut *tx)
                .await?;
            let id: i64 = sqlx::query_scalar(
                "SELECT id FROM computers WHERE data_source = ? AND endpoint_id = ?",
            )
            .bind(ds)
            .bind(endpoint)
            .fetch_one(&mut *tx)
            .await?;
            out.insert((ds.clone(), endpoint.clone()), id);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Scan time (Unix ms) of the facts published for each endpoint of a
    /// data source.
    pub async fn published_scan_times(&self, data_source: &str) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT endpoint_id, scan_time FROM computers
             WHERE data_source = ? AND published = 1 AND scan_time IS NOT NULL",
        )
        .bind(data_source)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Writes the facts of several packages in one transaction.
    pub async fn write_packages(&self, import_id: i64, batch: &[PackageWrite]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for w in batch {
            let c = &w.computer;
            sqlx::query(
                "INSERT OR REPLACE INTO stage_computers (import_id, computer_id, name, dns_name,
                   ip_addresses, os, agent_version, scan_time, raw_processor_vendor,
                   raw_processor_brand, raw_processor_model, raw_sockets, raw_cores, raw_threads,
                   raw_is_virtual, raw_hypervisor)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(import_id)
            .bind(c.computer_id)
            .bind(&c.name)
            .bind(&c.dns_name)
            .bind(serde_json::to_string(&c.ip_addresses).unwrap_or_else(|_| "[]".into()))
            .bind(&c.os)
            .bind(&c.agent_version)
            .bind(c.scan_time_ms)
            .bind(&c.processor_vendor)
            .bind(&c.processor_brand)
            .bind(&c.processor_model)
            .bind(c.sockets)
            .bind(c.cores)
            .bind(c.threads)
            .bind(c.is_virtual)
            .bind(&c.hypervisor)
            .execute(&mut *tx)
            .await?;
            for chunk in w.packages.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO package_facts (computer_id, import_id, name, version, architecture, vendor, source) ",
                );
                q.push_values(chunk, |mut b, f| {
                    b.push_bind(c.computer_id)
                        .push_bind(import_id)
                        .push_bind(f.name.as_str())
                        .push_bind(f.version.as_str())
                        .push_bind(f.architecture.as_deref())
                        .push_bind(f.vendor.as_deref())
                        .push_bind(f.source);
                });
                q.build().execute(&mut *tx).await?;
            }
            for chunk in w.swid_tags.chunks(ROWS_PER_STATEMENT) {
                let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(
                    "INSERT INTO swid_facts (computer_id, import_id, tag_id, name, version, regid, vendor, schema) ",
                );
                q.push_values(chunk, |mut b, t| {
                    b.push_bind(c.computer_id)
                        .push_bind(import_id)
                        .push_bind(t.tag_id.as_str())
                        .push_bind(t.name.as_str())
                        .push_bind(t.version.as_deref())
                        .push_bind(t.regid.as_deref())
                        .push_bind(t.vendor.as_deref())
                        .push_bind(t.schema);
                });
                q.build().execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes what an unpublished (failed, cancelled, interrupted) import
    /// wrote. Nothing visible changes.
    pub async fn discard_import_facts(&self, import_id: i64) -> Result<()> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT computer_id FROM stage_computers WHERE import_id = ?")
                .bind(import_id)
                .fetch_all(&self.pool)
                .await?;
        for chunk in ids.chunks(100) {
            let mut tx = self.pool.begin().await?;
            for id in chunk {
                for table in ["package_facts", "swid_facts"] {
                    sqlx::query(&format!(
                        "DELETE FROM {table} WHERE computer_id = ? AND import_id = ?"
                    ))
                    .bind(id)
                    .bind(import_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        }
        sqlx::query("DELETE FROM stage_computers WHERE import_id = ?")
            .bind(import_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// After a publish: deletes the facts that the published import
    /// superseded (recorded by the publish), a few hundred computers per
    /// transaction, by exact (computer, import) index matches.
    pub async fn delete_superseded_facts(&self, import_id: i64) -> Result<u64> {
        let pairs: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT computer_id, old_import_id FROM superseded_facts WHERE import_id = ?",
        )
        .bind(import_id)
        .fetch_all(&self.pool)
        .await?;
        let mut deleted = 0;
        for chunk in pairs.chunks(200) {
            let mut tx = self.pool.begin().await?;
            for (computer, old) in chunk {
                for table in ["package_facts", "swid_facts"] {
                    deleted += sqlx::query(&format!(
                        "DELETE FROM {table} WHERE computer_id = ? AND import_id = ?"
                    ))
                    .bind(computer)
                    .bind(old)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
                sqlx::query("DELETE FROM superseded_facts WHERE import_id = ? AND computer_id = ?")
                    .bind(import_id)
                    .bind(computer)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(deleted)
    }
}

/// The inventory part of a publish, inside its transaction.
pub(crate) async fn publish_inventory(
    tx: &mut sqlx::Transaction<'_, Sqlite>,
    import_id: i64,
    opts: PublishOptions,
) -> Result<()> {
    sqlx::query(
        "INSERT OR REPLACE INTO superseded_facts (import_id, computer_id, old_import_id)
         SELECT ?1, c.id, c.facts_import_id FROM computers c
         JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = ?1
         WHERE c.facts_import_id IS NOT NULL AND c.facts_import_id != ?1",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE computers SET published = 1, facts_import_id = ?1, name = s.name,
           dns_name = s.dns_name, ip_addresses = s.ip_addresses, os = s.os,
           agent_version = s.agent_version, scan_time = s.scan_time,
           first_seen = COALESCE(computers.first_seen, s.scan_time),
           last_seen = MAX(COALESCE(computers.last_seen, 0), s.scan_time),
           is_deleted = 0, deleted_at = NULL,
           raw_processor_vendor = s.raw_processor_vendor, raw_processor_brand = s.raw_processor_brand,
           raw_processor_model = s.raw_processor_model, raw_sockets = s.raw_sockets,
           raw_cores = s.raw_cores, raw_threads = s.raw_threads,
           raw_is_virtual = s.raw_is_virtual, raw_hypervisor = s.raw_hypervisor
         FROM (SELECT * FROM stage_computers WHERE import_id = ?1) AS s
         WHERE computers.id = s.computer_id",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM stage_computers WHERE import_id = ?")
        .bind(import_id)
        .execute(&mut **tx)
        .await?;
    if opts.complete {
        sqlx::query(
            "UPDATE computers SET in_inventory = 1, processor_vendor = raw_processor_vendor,
               processor_brand = raw_processor_brand, processor_model = raw_processor_model,
               sockets = raw_sockets, cores = raw_cores, threads = raw_threads,
               is_virtual = raw_is_virtual, hypervisor = raw_hypervisor
             WHERE published = 1",
        )
        .execute(&mut **tx)
        .await?;
    }
    if let Some(cutoff) = opts.stale_before_ms {
        sqlx::query(
            "UPDATE computers SET is_deleted = 1, deleted_at = ?
             WHERE published = 1 AND is_deleted = 0 AND last_seen < ?",
        )
        .bind(now_ms())
        .bind(cutoff)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
