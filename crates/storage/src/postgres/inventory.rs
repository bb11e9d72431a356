//! The import's facts on PostgreSQL: computer ids, staged computer values,
//! package and SWID facts, VM-manager observations, their publish and
//! clean-up. The behaviour is the SQLite engine's (`inventory.rs`).
//!
//! The package and SWID facts, the bulk of an import, go in with `COPY …
//! FROM STDIN` (text format, one `COPY` per table and batch) straight into
//! their tables, inside the batch's transaction: those tables are already
//! the import's staging area (every row carries its import id and nothing
//! reads an import's rows before its publish, which flips visibility with
//! set-based statements, and an unpublished import's rows are deleted), so
//! a separate staging table would only copy the same rows twice. The other
//! rows (computers, VM-manager scans) go in as `INSERT … SELECT FROM
//! UNNEST(arrays)` per table and chunk.

use super::copy::CopyText;
use super::PgStore;
use crate::{
    normalize_uuid, now_ms, ComputerIdentity, HardwareIdentityRow, PublishOptions, Result,
    ScanPackageWrite, VmGuestRow, VmObservation, WriteTimes, VM_OBSERVATION_RETENTION_DAYS,
};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;
use std::time::Instant;

/// Rows per array-insert statement.
const ROWS_PER_STATEMENT: usize = 5_000;

type VmScanTuple = (
    i64,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

impl PgStore {
    pub async fn computer_ids(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut tx = self.tx().await?;
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let ds: Vec<&str> = chunk.iter().map(|k| k.0.as_str()).collect();
            let ep: Vec<&str> = chunk.iter().map(|k| k.1.as_str()).collect();
            sqlx::query(
                "INSERT INTO computers (data_source, endpoint_id)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[])
                 ON CONFLICT (data_source, endpoint_id) DO NOTHING",
            )
            .bind(&ds)
            .bind(&ep)
            .execute(&mut *tx)
            .await?;
            let rows: Vec<(i64, String, String)> = sqlx::query_as(
                "SELECT c.id, c.data_source, c.endpoint_id FROM computers c
                 JOIN UNNEST($1::TEXT[], $2::TEXT[]) AS k (ds, ep)
                   ON c.data_source = k.ds AND c.endpoint_id = k.ep",
            )
            .bind(&ds)
            .bind(&ep)
            .fetch_all(&mut *tx)
            .await?;
            for (id, d, e) in rows {
                out.insert((d, e), id);
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn published_scan_times(&self, data_source: &str) -> Result<HashMap<String, i64>> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT endpoint_id, scan_time FROM computers
             WHERE data_source = $1 AND published = 1 AND scan_time IS NOT NULL",
        )
        .bind(data_source)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Writes the facts of several packages in one transaction (see the
    /// SQLite engine's method for the contract). The CPU times of
    /// [`WriteTimes`] stay zero here: the work is the server's, in another
    /// process.
    pub async fn write_scan_packages(
        &self,
        import_id: i64,
        batch: &[ScanPackageWrite],
    ) -> Result<WriteTimes> {
        let mut times = WriteTimes::default();
        let mut tx = self.tx().await?;
        let t0 = Instant::now();
        stage_computers(&mut tx, import_id, batch).await?;
        for w in batch {
            let id = w.computer.computer_id;
            for v in &w.vm_scans {
                let scan_id: i64 = sqlx::query_scalar(
                    "INSERT INTO vm_host_scans (computer_id, import_id, observed_at, member,
                       manager_id, virtual_technology, host_uuid, host_uuid_norm, host_name,
                       serial_number, cores, active_sockets, available_sockets, cpu_model,
                       hardware_vendor, hardware_model)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
                     RETURNING id",
                )
                .bind(id)
                .bind(import_id)
                .bind(v.observed_at_ms)
                .bind(&v.member)
                .bind(&v.manager_id)
                .bind(&v.virtual_technology)
                .bind(&v.host_uuid)
                .bind(normalize_uuid(&v.host_uuid))
                .bind(&v.host_name)
                .bind(&v.serial_number)
                .bind(v.cores)
                .bind(v.active_sockets)
                .bind(v.available_sockets)
                .bind(&v.cpu_model)
                .bind(&v.hardware_vendor)
                .bind(&v.hardware_model)
                .fetch_one(&mut *tx)
                .await?;
                if v.guests.is_empty() {
                    continue;
                }
                sqlx::query(
                    "INSERT INTO vm_guest_observations (scan_id, computer_id, import_id,
                       observed_at, guest_uuid, guest_uuid_norm, guest_name, vcpus)
                     SELECT $1, $2, $3, $4, * FROM UNNEST($5::TEXT[], $6::TEXT[], $7::TEXT[],
                                                          $8::BIGINT[])",
                )
                .bind(scan_id)
                .bind(id)
                .bind(import_id)
                .bind(v.observed_at_ms)
                .bind(v.guests.iter().map(|g| g.uuid.as_str()).collect::<Vec<_>>())
                .bind(
                    v.guests
                        .iter()
                        .map(|g| normalize_uuid(&g.uuid))
                        .collect::<Vec<_>>(),
                )
                .bind(
                    v.guests
                        .iter()
                        .map(|g| g.name.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(v.guests.iter().map(|g| g.vcpus).collect::<Vec<_>>())
                .execute(&mut *tx)
                .await?;
            }
        }
        let t1 = Instant::now();
        let mut copy = CopyText::default();
        for w in facts_of(batch) {
            for f in &w.installed_packages {
                copy.int(w.computer.computer_id);
                copy.int(import_id);
                copy.text(&f.name);
                copy.text(&f.version);
                copy.opt(f.architecture.as_deref());
                copy.opt(f.vendor.as_deref());
                copy.last(Some(f.source));
            }
        }
        copy.send(
            &mut tx,
            "COPY installed_packages (computer_id, import_id, name, version, architecture, \
             vendor, source) FROM STDIN",
        )
        .await?;
        let t2 = Instant::now();
        for w in facts_of(batch) {
            for t in &w.swid_tags {
                copy.int(w.computer.computer_id);
                copy.int(import_id);
                copy.text(&t.tag_id);
                copy.text(&t.name);
                copy.opt(t.version.as_deref());
                copy.opt(t.regid.as_deref());
                copy.opt(t.vendor.as_deref());
                copy.text(t.schema);
                copy.opt(t.persistent_id.as_deref());
                copy.last(t.directory.as_deref());
            }
        }
        copy.send(
            &mut tx,
            "COPY swid_facts (computer_id, import_id, tag_id, name, version, regid, vendor, \
             schema, persistent_id, directory) FROM STDIN",
        )
        .await?;
        let t3 = Instant::now();
        tx.commit().await?;
        times.computers = t1 - t0;
        times.installed_packages = t2 - t1;
        times.swid_facts = t3 - t2;
        times.commit = t3.elapsed();
        Ok(times)
    }

    /// SQLite's write-ahead log checkpoint has no counterpart to ask for:
    /// PostgreSQL's checkpointer runs by itself. Nothing to do.
    pub async fn checkpoint_passive(&self) -> Result<()> {
        Ok(())
    }

    pub async fn discard_import_facts(&self, import_id: i64) -> Result<u64> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT computer_id FROM stage_computers WHERE import_id = $1")
                .bind(import_id)
                .fetch_all(&self.pool)
                .await?;
        let mut deleted = 0;
        for chunk in ids.chunks(100) {
            let mut tx = self.tx().await?;
            for table in ["installed_packages", "swid_facts"] {
                deleted += sqlx::query(&format!(
                    "DELETE FROM {table} WHERE computer_id = ANY($1) AND import_id = $2"
                ))
                .bind(chunk)
                .bind(import_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            tx.commit().await?;
        }
        deleted += sqlx::query("DELETE FROM vm_host_scans WHERE import_id = $1 AND published = 0")
            .bind(import_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM stage_computers WHERE import_id = $1")
            .bind(import_id)
            .execute(&self.pool)
            .await?;
        Ok(deleted)
    }

    /// The digest of each computer's published facts, for those of
    /// `computer_ids` that have one (see `StagedComputer::facts_kept`).
    pub async fn published_facts_digests(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, String>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, facts_digest FROM computers
             WHERE id = ANY($1) AND published = 1 AND facts_import_id IS NOT NULL
               AND facts_digest IS NOT NULL",
        )
        .bind(computer_ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Deletes the facts an import superseded, never those a computer shows
    /// (a publish that kept a computer's facts records nothing for it, and
    /// this holds whatever a record says).
    pub async fn delete_superseded_facts(&self, import_id: i64) -> Result<u64> {
        let pairs: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT computer_id, old_import_id FROM superseded_facts WHERE import_id = $1",
        )
        .bind(import_id)
        .fetch_all(&self.pool)
        .await?;
        let mut deleted = 0;
        for chunk in pairs.chunks(200) {
            let computers: Vec<i64> = chunk.iter().map(|p| p.0).collect();
            let olds: Vec<i64> = chunk.iter().map(|p| p.1).collect();
            let mut tx = self.tx().await?;
            for table in ["installed_packages", "swid_facts"] {
                deleted += sqlx::query(&format!(
                    "DELETE FROM {table} f USING UNNEST($1::BIGINT[], $2::BIGINT[]) AS p (c, o)
                     WHERE f.computer_id = p.c AND f.import_id = p.o
                       AND NOT EXISTS (SELECT 1 FROM computers k
                                       WHERE k.id = p.c AND k.facts_import_id = p.o)"
                ))
                .bind(&computers)
                .bind(&olds)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            sqlx::query(
                "DELETE FROM superseded_facts WHERE import_id = $1 AND computer_id = ANY($2)",
            )
            .bind(import_id)
            .bind(&computers)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }

    /// Guests come in the order their rows were written (`seq`, migration
    /// 0004).
    pub async fn vm_observations_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<VmObservation>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let scans: Vec<VmScanTuple> = sqlx::query_as(
            "SELECT id, computer_id, import_id, observed_at, member, manager_id,
                    virtual_technology, host_uuid, host_name, serial_number, cores,
                    active_sockets, available_sockets, cpu_model, hardware_vendor, hardware_model
             FROM vm_host_scans
             WHERE published = 1 AND observed_at >= $1 AND observed_at < $2
             ORDER BY observed_at, computer_id, id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *tx)
        .await?;
        let guests: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT g.scan_id, g.guest_uuid, g.guest_name, g.vcpus
             FROM vm_guest_observations g JOIN vm_host_scans s ON s.id = g.scan_id
             WHERE s.published = 1 AND g.observed_at >= $1 AND g.observed_at < $2
             ORDER BY g.scan_id, g.seq",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut by_scan: HashMap<i64, Vec<VmGuestRow>> = HashMap::new();
        for (scan, uuid, name, vcpus) in guests {
            by_scan
                .entry(scan)
                .or_default()
                .push(VmGuestRow { uuid, name, vcpus });
        }
        Ok(scans
            .into_iter()
            .map(|s| VmObservation {
                scan_id: s.0,
                computer_id: s.1,
                import_id: s.2,
                observed_at_ms: s.3,
                member: s.4,
                manager_id: s.5,
                virtual_technology: s.6,
                host_uuid: s.7,
                host_name: s.8,
                serial_number: s.9,
                cores: s.10,
                active_sockets: s.11,
                available_sockets: s.12,
                cpu_model: s.13,
                hardware_vendor: s.14,
                hardware_model: s.15,
                guests: by_scan.remove(&s.0).unwrap_or_default(),
            })
            .collect())
    }

    pub async fn computer_identities(&self) -> Result<Vec<ComputerIdentity>> {
        let rows = sqlx::query(
            "SELECT id, data_source, endpoint_id, name, is_deleted, last_seen, raw_sockets,
                    raw_cores, raw_threads, raw_is_virtual, raw_hypervisor, raw_processor_brand,
                    raw_system_uuid, raw_system_manufacturer, raw_system_product,
                    raw_system_serial, raw_bios_vendor, raw_bios_version, raw_chassis_asset_tag,
                    raw_socket_slots
             FROM computers WHERE published = 1 ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ComputerIdentity {
                    computer_id: r.try_get(0)?,
                    data_source: r.try_get(1)?,
                    endpoint_id: r.try_get(2)?,
                    name: r.try_get(3)?,
                    is_deleted: r.try_get::<i64, _>(4)? != 0,
                    last_seen_ms: r.try_get(5)?,
                    sockets: r.try_get(6)?,
                    cores: r.try_get(7)?,
                    threads: r.try_get(8)?,
                    is_virtual: r.try_get::<Option<i64>, _>(9)?.map(|v| v != 0),
                    hypervisor: r.try_get(10)?,
                    processor_brand: r.try_get(11)?,
                    identity: HardwareIdentityRow {
                        system_uuid: r.try_get(12)?,
                        system_manufacturer: r.try_get(13)?,
                        system_product: r.try_get(14)?,
                        system_serial: r.try_get(15)?,
                        bios_vendor: r.try_get(16)?,
                        bios_version: r.try_get(17)?,
                        chassis_asset_tag: r.try_get(18)?,
                        socket_slots: r.try_get(19)?,
                    },
                })
            })
            .collect()
    }
}

/// The staged values of the batch's computers (the last write of a
/// computer wins, as SQLite's `INSERT OR REPLACE` row by row).
async fn stage_computers(
    tx: &mut PgConnection,
    import_id: i64,
    batch: &[ScanPackageWrite],
) -> Result<()> {
    let mut last: HashMap<i64, &ScanPackageWrite> = HashMap::new();
    let mut order = Vec::new();
    for w in batch.iter().filter(|w| !w.vm_only) {
        if last.insert(w.computer.computer_id, w).is_none() {
            order.push(w.computer.computer_id);
        }
    }
    if order.is_empty() {
        return Ok(());
    }
    let rows: Vec<&crate::StagedComputer> = order.iter().map(|id| &last[id].computer).collect();
    let text = |f: &dyn Fn(&crate::StagedComputer) -> Option<&str>| -> Vec<Option<String>> {
        rows.iter().map(|c| f(c).map(str::to_string)).collect()
    };
    let int = |f: &dyn Fn(&crate::StagedComputer) -> Option<i64>| -> Vec<Option<i64>> {
        rows.iter().map(|c| f(c)).collect()
    };
    let ips: Vec<String> = rows
        .iter()
        .map(|c| serde_json::to_string(&c.ip_addresses).unwrap_or_else(|_| "[]".into()))
        .collect();
    sqlx::query(
        "INSERT INTO stage_computers (import_id, computer_id, name, dns_name, ip_addresses, os,
           agent_version, scan_time, raw_processor_vendor, raw_processor_brand,
           raw_processor_model, raw_sockets, raw_cores, raw_threads, raw_is_virtual,
           raw_hypervisor, raw_system_uuid, raw_system_manufacturer, raw_system_product,
           raw_system_serial, raw_bios_vendor, raw_bios_version, raw_chassis_asset_tag,
           raw_socket_slots, facts_digest, facts_kept)
         SELECT $1, * FROM UNNEST($2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
           $7::TEXT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BIGINT[],
           $13::BIGINT[], $14::BIGINT[], $15::BIGINT[], $16::TEXT[], $17::TEXT[], $18::TEXT[],
           $19::TEXT[], $20::TEXT[], $21::TEXT[], $22::TEXT[], $23::TEXT[], $24::BIGINT[],
           $25::TEXT[], $26::BIGINT[])
         ON CONFLICT (import_id, computer_id) DO UPDATE SET
           name = excluded.name, dns_name = excluded.dns_name,
           ip_addresses = excluded.ip_addresses, os = excluded.os,
           agent_version = excluded.agent_version, scan_time = excluded.scan_time,
           raw_processor_vendor = excluded.raw_processor_vendor,
           raw_processor_brand = excluded.raw_processor_brand,
           raw_processor_model = excluded.raw_processor_model,
           raw_sockets = excluded.raw_sockets, raw_cores = excluded.raw_cores,
           raw_threads = excluded.raw_threads, raw_is_virtual = excluded.raw_is_virtual,
           raw_hypervisor = excluded.raw_hypervisor, raw_system_uuid = excluded.raw_system_uuid,
           raw_system_manufacturer = excluded.raw_system_manufacturer,
           raw_system_product = excluded.raw_system_product,
           raw_system_serial = excluded.raw_system_serial,
           raw_bios_vendor = excluded.raw_bios_vendor,
           raw_bios_version = excluded.raw_bios_version,
           raw_chassis_asset_tag = excluded.raw_chassis_asset_tag,
           raw_socket_slots = excluded.raw_socket_slots,
           facts_digest = excluded.facts_digest, facts_kept = excluded.facts_kept",
    )
    .bind(import_id)
    .bind(order)
    .bind(text(&|c| c.name.as_deref()))
    .bind(text(&|c| c.dns_name.as_deref()))
    .bind(ips)
    .bind(text(&|c| c.os.as_deref()))
    .bind(text(&|c| c.agent_version.as_deref()))
    .bind(rows.iter().map(|c| c.scan_time_ms).collect::<Vec<_>>())
    .bind(text(&|c| c.processor_vendor.as_deref()))
    .bind(text(&|c| c.processor_brand.as_deref()))
    .bind(text(&|c| c.processor_model.as_deref()))
    .bind(int(&|c| Some(c.sockets)))
    .bind(int(&|c| c.cores))
    .bind(int(&|c| c.threads))
    .bind(int(&|c| Some(i64::from(c.is_virtual))))
    .bind(text(&|c| c.hypervisor.as_deref()))
    .bind(text(&|c| c.identity.system_uuid.as_deref()))
    .bind(text(&|c| c.identity.system_manufacturer.as_deref()))
    .bind(text(&|c| c.identity.system_product.as_deref()))
    .bind(text(&|c| c.identity.system_serial.as_deref()))
    .bind(text(&|c| c.identity.bios_vendor.as_deref()))
    .bind(text(&|c| c.identity.bios_version.as_deref()))
    .bind(text(&|c| c.identity.chassis_asset_tag.as_deref()))
    .bind(int(&|c| c.identity.socket_slots))
    .bind(text(&|c| c.facts_digest.as_deref()))
    .bind(int(&|c| Some(i64::from(c.facts_kept))))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The inventory part of a publish, inside its transaction (see the SQLite
/// engine's `publish_inventory`).
pub(crate) async fn publish_inventory(
    tx: &mut PgConnection,
    import_id: i64,
    opts: &PublishOptions,
) -> Result<()> {
    // A computer whose facts the import kept (the same digest as its
    // published ones) goes on showing them: they must still be there, with
    // that digest (see the SQLite engine's `publish_inventory`).
    let moved: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stage_computers s JOIN computers c ON c.id = s.computer_id
         WHERE s.import_id = $1 AND s.facts_kept = 1
           AND (c.published = 0 OR c.facts_import_id IS NULL
                OR c.facts_digest IS DISTINCT FROM s.facts_digest)",
    )
    .bind(import_id)
    .fetch_one(&mut *tx)
    .await?;
    if moved > 0 {
        return Err(crate::StoreError::Internal(format!(
            "the published facts of {moved} computers changed during the import \
             (their packages' facts were kept as unchanged)"
        )));
    }
    sqlx::query(
        "INSERT INTO superseded_facts (import_id, computer_id, old_import_id)
         SELECT $1, c.id, c.facts_import_id FROM computers c
         JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = $1
         WHERE c.facts_import_id IS NOT NULL AND c.facts_import_id != $1
           AND s.facts_kept = 0
         ON CONFLICT (import_id, computer_id) DO UPDATE SET old_import_id = excluded.old_import_id",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE computers SET published = 1,
           facts_import_id = CASE WHEN s.facts_kept = 1 THEN computers.facts_import_id ELSE $1 END,
           facts_digest = s.facts_digest, name = s.name,
           dns_name = s.dns_name, ip_addresses = s.ip_addresses, os = s.os,
           agent_version = s.agent_version, scan_time = s.scan_time,
           first_seen = COALESCE(computers.first_seen, s.scan_time),
           last_seen = GREATEST(COALESCE(computers.last_seen, 0), s.scan_time),
           is_deleted = 0, deleted_at = NULL,
           raw_processor_vendor = s.raw_processor_vendor, raw_processor_brand = s.raw_processor_brand,
           raw_processor_model = s.raw_processor_model, raw_sockets = s.raw_sockets,
           raw_cores = s.raw_cores, raw_threads = s.raw_threads,
           raw_is_virtual = s.raw_is_virtual, raw_hypervisor = s.raw_hypervisor,
           raw_system_uuid = s.raw_system_uuid,
           raw_system_manufacturer = s.raw_system_manufacturer,
           raw_system_product = s.raw_system_product, raw_system_serial = s.raw_system_serial,
           raw_bios_vendor = s.raw_bios_vendor, raw_bios_version = s.raw_bios_version,
           raw_chassis_asset_tag = s.raw_chassis_asset_tag, raw_socket_slots = s.raw_socket_slots
         FROM stage_computers s
         WHERE s.import_id = $1 AND computers.id = s.computer_id",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    publish_vm_observations(tx, import_id, now_ms()).await?;
    sqlx::query("DELETE FROM stage_computers WHERE import_id = $1")
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
    if opts.complete {
        sqlx::query(
            "UPDATE computers SET in_inventory = 1, processor_vendor = raw_processor_vendor,
               processor_brand = raw_processor_brand, processor_model = raw_processor_model,
               sockets = raw_sockets, cores = raw_cores, threads = raw_threads,
               is_virtual = raw_is_virtual, hypervisor = raw_hypervisor
             WHERE published = 1",
        )
        .execute(&mut *tx)
        .await?;
    }
    if let Some(cutoff) = opts.stale_before_ms {
        sqlx::query(
            "UPDATE computers SET is_deleted = 1, deleted_at = $1
             WHERE published = 1 AND is_deleted = 0 AND last_seen < $2",
        )
        .bind(now_ms())
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The VM-manager part of a publish (see the SQLite engine's
/// `publish_vm_observations`).
async fn publish_vm_observations(tx: &mut PgConnection, import_id: i64, now_ms: i64) -> Result<()> {
    sqlx::query(
        "DELETE FROM vm_host_scans WHERE published = 1 AND id IN (
           SELECT o.id FROM vm_host_scans n JOIN vm_host_scans o
             ON o.computer_id = n.computer_id AND o.observed_at = n.observed_at
            AND o.host_uuid_norm = n.host_uuid_norm
           WHERE n.import_id = $1 AND o.published = 1 AND o.import_id != $1)",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM vm_host_scans WHERE import_id = $1 AND id NOT IN (
           SELECT MIN(id) FROM vm_host_scans WHERE import_id = $1
           GROUP BY computer_id, observed_at, host_uuid_norm)",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE vm_host_scans SET published = 1 WHERE import_id = $1
           AND computer_id IN (SELECT id FROM computers WHERE published = 1)",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM vm_host_scans WHERE published = 1 AND observed_at < $1")
        .bind(now_ms - VM_OBSERVATION_RETENTION_DAYS * 86_400_000)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The packages of a batch whose facts are written (a computer whose facts
/// are kept, or that only brought a VM-manager scan, has none to write).
fn facts_of(batch: &[ScanPackageWrite]) -> impl Iterator<Item = &ScanPackageWrite> {
    batch
        .iter()
        .filter(|w| !w.vm_only && !w.computer.facts_kept)
}
