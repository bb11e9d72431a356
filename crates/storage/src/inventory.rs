//! Writing imported facts. An import writes its facts under its own
//! import id, invisible until its publish transaction makes them current
//! (see migrations/sqlite/0003_inventory.sql for the visibility rule).

use crate::{now_ms, Result, SqliteStore, StoreError};
use rusqlite::params;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    /// `None` when the scan package does not say (stored as NULL, shown as null).
    pub cores: Option<i64>,
    /// `None` when the scan package does not say (stored as NULL, shown as null).
    pub threads: Option<i64>,
    pub is_virtual: bool,
    pub hypervisor: Option<String>,
    /// The hardware identity (see migrations/sqlite/0008_virtualization.sql).
    pub identity: HardwareIdentityRow,
    /// The digest of the scan package's fact members (hex of
    /// `openlmt_scanpkg::FactsDigest`), published with the facts.
    pub facts_digest: Option<String>,
    /// The package's facts have the digest of the computer's published ones
    /// (`Store::published_facts_digests`): none were written, and the publish
    /// leaves the computer's `facts_import_id` (its visible facts) as it is.
    pub facts_kept: bool,
}

/// A computer's hardware identity as its scan package states it; every field
/// `None` when the package does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardwareIdentityRow {
    /// SMBIOS system UUID, as printed.
    pub system_uuid: Option<String>,
    pub system_manufacturer: Option<String>,
    pub system_product: Option<String>,
    pub system_serial: Option<String>,
    pub bios_vendor: Option<String>,
    pub bios_version: Option<String>,
    pub chassis_asset_tag: Option<String>,
    /// Processor sockets of the board, empty ones included.
    pub socket_slots: Option<i64>,
}

/// One VM-manager observation to write: a host seen at `observed_at_ms`
/// with the guests running on it then.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmScanRow {
    pub observed_at_ms: i64,
    /// Where it came from in the scan package.
    pub member: String,
    pub manager_id: Option<String>,
    pub virtual_technology: Option<String>,
    pub host_uuid: String,
    pub host_name: Option<String>,
    pub serial_number: Option<String>,
    pub cores: Option<i64>,
    pub active_sockets: Option<i64>,
    pub available_sockets: Option<i64>,
    pub cpu_model: Option<String>,
    pub hardware_vendor: Option<String>,
    pub hardware_model: Option<String>,
    pub guests: Vec<VmGuestRow>,
}

/// A guest of a [`VmScanRow`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VmGuestRow {
    /// As printed.
    pub uuid: String,
    pub name: Option<String>,
    pub vcpus: i64,
}

/// How long published VM-manager observations are kept: two years, the
/// licence history's retention (older ones are deleted at each publish).
pub const VM_OBSERVATION_RETENTION_DAYS: i64 = 731;

/// A UUID as stored in the `*_uuid_norm` columns: trimmed, braces removed,
/// lower case (byte order as printed).
pub fn normalize_uuid(raw: &str) -> String {
    let t = raw.trim();
    t.strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(t)
        .trim()
        .to_ascii_lowercase()
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstalledPackageRow {
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
    /// `Meta/@persistentId` (2015 tags that have one).
    pub persistent_id: Option<String>,
    /// The tag's directory on the computer, when the scan package says.
    pub directory: Option<String>,
}

/// One package's worth of facts, ready to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanPackageWrite {
    pub computer: StagedComputer,
    pub installed_packages: Vec<InstalledPackageRow>,
    pub swid_tags: Vec<SwidFactRow>,
    /// VM-manager observations the scan package carried.
    pub vm_scans: Vec<VmScanRow>,
    /// Only `vm_scans` are written: an older package of a computer whose
    /// newer package the same import writes (its computer values are not
    /// staged; `installed_packages` and `swid_tags` are ignored).
    pub vm_only: bool,
}

/// Where the time of one [`Store::write_scan_packages`] call went (wall clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteTimes {
    /// Inserting the staged computer rows.
    pub computers: Duration,
    /// Inserting `installed_packages` rows.
    pub installed_packages: Duration,
    /// Inserting `swid_facts` rows.
    pub swid_facts: Duration,
    /// The transaction's COMMIT (shared by all of the above).
    pub commit: Duration,
    /// CPU time of the calling thread while it inserted `installed_packages`
    /// rows (preemption by other threads excluded).
    pub installed_packages_cpu: Duration,
    /// The same for `swid_facts` rows.
    pub swid_facts_cpu: Duration,
}

impl std::ops::AddAssign for WriteTimes {
    fn add_assign(&mut self, o: WriteTimes) {
        self.computers += o.computers;
        self.installed_packages += o.installed_packages;
        self.swid_facts += o.swid_facts;
        self.commit += o.commit;
        self.installed_packages_cpu += o.installed_packages_cpu;
        self.swid_facts_cpu += o.swid_facts_cpu;
    }
}

/// The settings of the connection that writes a batch: no fsync per commit,
/// a 32 MiB page cache, no automatic checkpoint at commit.
const BATCH_PRAGMAS: &str =
    "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 0";
/// What every connection of the pool has otherwise (SQLite's defaults for
/// the last two).
const DEFAULT_PRAGMAS: &str =
    "PRAGMA synchronous = FULL; PRAGMA cache_size = -2000; PRAGMA wal_autocheckpoint = 1000";

const STAGE_COMPUTER: &str = "INSERT OR REPLACE INTO stage_computers (import_id, computer_id,
    name, dns_name, ip_addresses, os, agent_version, scan_time, raw_processor_vendor,
    raw_processor_brand, raw_processor_model, raw_sockets, raw_cores, raw_threads,
    raw_is_virtual, raw_hypervisor, raw_system_uuid, raw_system_manufacturer,
    raw_system_product, raw_system_serial, raw_bios_vendor, raw_bios_version,
    raw_chassis_asset_tag, raw_socket_slots, facts_digest, facts_kept)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
    ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)";
const INSERT_VM_SCAN: &str = "INSERT INTO vm_host_scans (computer_id, import_id, observed_at,
    member, manager_id, virtual_technology, host_uuid, host_uuid_norm, host_name, serial_number,
    cores, active_sockets, available_sockets, cpu_model, hardware_vendor, hardware_model)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
const INSERT_VM_GUEST: &str = "INSERT INTO vm_guest_observations (scan_id, computer_id,
    import_id, observed_at, guest_uuid, guest_uuid_norm, guest_name, vcpus)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
/// The pooled connection a batch is written on. It goes back to the pool
/// only once its settings are reset to the pool's; dropped before that (an
/// error, a cancelled future, a panic) it is closed instead.
struct BatchConnection {
    conn: sqlx::pool::PoolConnection<sqlx::Sqlite>,
    reset: bool,
}

impl Drop for BatchConnection {
    fn drop(&mut self) {
        if !self.reset {
            tracing::warn!("closing a database connection a fact batch could not finish with");
            self.conn.close_on_drop();
        }
    }
}

/// Runs `write` in one write transaction on a pooled connection set for
/// bulk writing, and commits. A batch's new pages stay in memory until the
/// commit writes them once, instead of spilling to the WAL and being
/// written again; the commit only appends to the WAL (`synchronous =
/// NORMAL`: the WAL is synced at checkpoints, and a crash loses at most the
/// last unpublished batches, never consistency): checkpoints are left to
/// `Store::checkpoint_passive`, called from another thread meanwhile. The
/// connection goes back to the pool with the pool's settings, or is closed
/// (see [`BatchConnection`]). Returns `write`'s value and the commit's
/// duration.
pub(crate) async fn bulk_write<T>(
    pool: &sqlx::SqlitePool,
    write: impl FnOnce(&rusqlite::Connection) -> Result<T>,
) -> Result<(T, Duration)> {
    use sqlx::Connection;
    let mut conn = BatchConnection {
        conn: pool.acquire().await?,
        reset: false,
    };
    // (`Executor::execute`, not `RawSql::execute`: the compiler cannot prove
    // the latter's future `Send` inside the storage interface's boxed futures.)
    sqlx::Executor::execute(&mut *conn.conn, sqlx::raw_sql(BATCH_PRAGMAS)).await?;
    // On any error the connection is closed, not reset: after a failed
    // COMMIT or a statement SQLite rolled back by itself, sqlx's idea of
    // the transaction may no longer match the connection's.
    // The write lock first, waiting for it (see `Store::write_tx`).
    let mut tx = conn.conn.begin_with(crate::BEGIN_WRITE).await?;
    let value = {
        let mut handle = tx.lock_handle().await?;
        // SAFETY: the handle is a live connection that sqlx's worker does
        // not touch while `handle` is held; `rows` borrows it for this block
        // only (it is dropped first, finalizing its statements), and a
        // connection made by `from_handle` never closes the handle.
        // (rusqlite is built without its `hooks` features: dropping `rows`
        // must not touch hooks that sqlx set on the same handle.)
        let rows = unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
        write(&rows)?
    };
    let started = Instant::now();
    tx.commit().await?;
    let commit = started.elapsed();
    sqlx::Executor::execute(&mut *conn.conn, sqlx::raw_sql(DEFAULT_PRAGMAS)).await?;
    conn.reset = true;
    Ok((value, commit))
}

/// Rows per multi-row INSERT. One statement inserts many rows with its
/// table and index cursors opened once, as SQLite's own `INSERT … SELECT`
/// does; a statement per row opens and positions them again for every row.
const ROWS_PER_INSERT: usize = 64;

/// `INSERT INTO <table> (<columns>) VALUES (?, <import id>, ?, …), …` for
/// `rows` rows: the computer id and the other values are bound, the import id
/// (an integer) is written into the statement, the same for every row.
fn multi_insert(table: &str, columns: &[&str], import_id: i64, rows: usize) -> String {
    let mut row = String::from("(?, ");
    row.push_str(&import_id.to_string());
    for _ in 2..columns.len() {
        row.push_str(", ?");
    }
    row.push(')');
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

/// Inserts `rows` into `table` in statements of [`ROWS_PER_INSERT`] rows;
/// `bind(stmt, first, row)` binds one row's parameters from index `first`.
pub(crate) fn insert_rows<T>(
    conn: &rusqlite::Connection,
    table: &str,
    columns: &[&str],
    import_id: i64,
    rows: &[T],
    bind: impl Fn(&mut rusqlite::Statement<'_>, usize, &T) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    // Bound per row: every column but the import id.
    let per_row = columns.len() - 1;
    let mut full = None;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut tail;
        let stmt = if chunk.len() == ROWS_PER_INSERT {
            match &mut full {
                Some(s) => s,
                None => full.insert(conn.prepare(&multi_insert(
                    table,
                    columns,
                    import_id,
                    ROWS_PER_INSERT,
                ))?),
            }
        } else {
            tail = conn.prepare(&multi_insert(table, columns, import_id, chunk.len()))?;
            &mut tail
        };
        for (i, row) in chunk.iter().enumerate() {
            bind(stmt, i * per_row + 1, row)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

const PACKAGE_COLUMNS: [&str; 7] = [
    "computer_id",
    "import_id",
    "name",
    "version",
    "architecture",
    "vendor",
    "source",
];
const SWID_COLUMNS: [&str; 10] = [
    "computer_id",
    "import_id",
    "tag_id",
    "name",
    "version",
    "regid",
    "vendor",
    "schema",
    "persistent_id",
    "directory",
];

/// The rows of a batch, timed by kind.
fn write_rows(
    conn: &rusqlite::Connection,
    import_id: i64,
    batch: &[ScanPackageWrite],
    times: &mut WriteTimes,
) -> rusqlite::Result<()> {
    let t0 = Instant::now();
    let mut computer = conn.prepare(STAGE_COMPUTER)?;
    for w in batch.iter().filter(|w| !w.vm_only) {
        let c = &w.computer;
        let ips = serde_json::to_string(&c.ip_addresses).unwrap_or_else(|_| "[]".into());
        computer.execute(params![
            import_id,
            c.computer_id,
            c.name,
            c.dns_name,
            ips,
            c.os,
            c.agent_version,
            c.scan_time_ms,
            c.processor_vendor,
            c.processor_brand,
            c.processor_model,
            c.sockets,
            c.cores,
            c.threads,
            c.is_virtual,
            c.hypervisor,
            c.identity.system_uuid,
            c.identity.system_manufacturer,
            c.identity.system_product,
            c.identity.system_serial,
            c.identity.bios_vendor,
            c.identity.bios_version,
            c.identity.chassis_asset_tag,
            c.identity.socket_slots,
            c.facts_digest,
            c.facts_kept,
        ])?;
    }
    // VM-manager observations: a few rows per host, none on most computers.
    let mut scan = conn.prepare(INSERT_VM_SCAN)?;
    let mut guest = conn.prepare(INSERT_VM_GUEST)?;
    for w in batch {
        let id = w.computer.computer_id;
        for v in &w.vm_scans {
            scan.execute(params![
                id,
                import_id,
                v.observed_at_ms,
                v.member,
                v.manager_id,
                v.virtual_technology,
                v.host_uuid,
                normalize_uuid(&v.host_uuid),
                v.host_name,
                v.serial_number,
                v.cores,
                v.active_sockets,
                v.available_sockets,
                v.cpu_model,
                v.hardware_vendor,
                v.hardware_model,
            ])?;
            let scan_id = conn.last_insert_rowid();
            for g in &v.guests {
                guest.execute(params![
                    scan_id,
                    id,
                    import_id,
                    v.observed_at_ms,
                    g.uuid,
                    normalize_uuid(&g.uuid),
                    g.name,
                    g.vcpus,
                ])?;
            }
        }
    }
    let t1 = Instant::now();
    let c1 = thread_cpu();
    // (A computer whose facts are kept has none to write.)
    let packages: Vec<(i64, &InstalledPackageRow)> = batch
        .iter()
        .filter(|w| !w.vm_only && !w.computer.facts_kept)
        .flat_map(|w| {
            w.installed_packages
                .iter()
                .map(|f| (w.computer.computer_id, f))
        })
        .collect();
    insert_rows(
        conn,
        "installed_packages",
        &PACKAGE_COLUMNS,
        import_id,
        &packages,
        |s, at, (id, f)| {
            s.raw_bind_parameter(at, id)?;
            s.raw_bind_parameter(at + 1, f.name.as_str())?;
            s.raw_bind_parameter(at + 2, f.version.as_str())?;
            s.raw_bind_parameter(at + 3, f.architecture.as_deref())?;
            s.raw_bind_parameter(at + 4, f.vendor.as_deref())?;
            s.raw_bind_parameter(at + 5, f.source)
        },
    )?;
    let t2 = Instant::now();
    let c2 = thread_cpu();
    let tags: Vec<(i64, &SwidFactRow)> = batch
        .iter()
        .filter(|w| !w.vm_only && !w.computer.facts_kept)
        .flat_map(|w| w.swid_tags.iter().map(|t| (w.computer.computer_id, t)))
        .collect();
    insert_rows(
        conn,
        "swid_facts",
        &SWID_COLUMNS,
        import_id,
        &tags,
        |s, at, (id, t)| {
            s.raw_bind_parameter(at, id)?;
            s.raw_bind_parameter(at + 1, t.tag_id.as_str())?;
            s.raw_bind_parameter(at + 2, t.name.as_str())?;
            s.raw_bind_parameter(at + 3, t.version.as_deref())?;
            s.raw_bind_parameter(at + 4, t.regid.as_deref())?;
            s.raw_bind_parameter(at + 5, t.vendor.as_deref())?;
            s.raw_bind_parameter(at + 6, t.schema)?;
            s.raw_bind_parameter(at + 7, t.persistent_id.as_deref())?;
            s.raw_bind_parameter(at + 8, t.directory.as_deref())
        },
    )?;
    times.computers += t1 - t0;
    times.installed_packages += t2 - t1;
    times.swid_facts += t2.elapsed();
    times.installed_packages_cpu += c2.saturating_sub(c1);
    times.swid_facts_cpu += thread_cpu().saturating_sub(c2);
    Ok(())
}

/// CPU time consumed so far by the calling thread (zero where unknown).
fn thread_cpu() -> Duration {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec into the valid `ts`.
        if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } == 0 {
            return Duration::new(
                ts.tv_sec.max(0) as u64,
                ts.tv_nsec.clamp(0, 999_999_999) as u32,
            );
        }
    }
    Duration::ZERO
}

/// What publishing does besides making the facts current.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Also publish the inventory (a complete import).
    pub complete: bool,
    /// Mark computers whose last scan is older than this (Unix ms) deleted.
    pub stale_before_ms: Option<i64>,
    /// Apply what the discovery step staged, discovered with this catalog
    /// (complete imports whose discovery ran; `None` leaves the software
    /// inventory as it was).
    pub discovery: Option<std::sync::Arc<crate::InventoryCatalog>>,
    /// Delete licence history older than this many days (from the day of
    /// the snapshot published); `None` keeps it all.
    pub license_retention_days: Option<u32>,
}

impl SqliteStore {
    /// Ids of many endpoints at once (one transaction), creating invisible
    /// computer rows for new ones. Keys are (data source, endpoint id).
    pub async fn computer_ids(
        &self,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), i64>> {
        let mut out = HashMap::with_capacity(keys.len());
        let mut tx = self.write_tx().await?;
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

    /// The digest of each computer's published facts, for those of
    /// `computer_ids` that have one (see [`StagedComputer::facts_kept`]).
    pub async fn published_facts_digests(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, String>> {
        let mut out = HashMap::with_capacity(computer_ids.len());
        let mut tx = self.read_tx().await?;
        for chunk in computer_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT id, facts_digest FROM computers
                 WHERE id IN ({marks}) AND published = 1 AND facts_import_id IS NOT NULL
                   AND facts_digest IS NOT NULL"
            );
            let mut q = sqlx::query_as::<_, (i64, String)>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(&mut *tx).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Writes the facts of several packages in one transaction, and says
    /// how long each kind of row took.
    ///
    /// This is the import's hot path (millions of rows): the rows go through
    /// prepared statements of the same SQLite connection, borrowed from sqlx
    /// with [`sqlx::sqlite::SqliteConnection::lock_handle`] for the length of
    /// the batch, inside the transaction sqlx began. Binding through sqlx
    /// instead cost more CPU than SQLite's own work (every value copied into
    /// an owned argument list and sent to sqlx's worker thread).
    ///
    /// The batch commits with `synchronous = NORMAL` (no fsync of the WAL
    /// per batch): staged facts need no durability of their own, since
    /// nothing reads them before the publish, an import that does not reach
    /// its publish is failed and its staged rows discarded, and the publish
    /// commits with `synchronous = FULL`, whose fsync of the WAL also makes
    /// every earlier frame durable. The connection goes back to the pool
    /// with `FULL`, or is closed if that cannot be restored.
    pub async fn write_scan_packages(
        &self,
        import_id: i64,
        batch: &[ScanPackageWrite],
    ) -> Result<WriteTimes> {
        let (mut times, commit) = bulk_write(&self.pool, |rows| {
            let mut times = WriteTimes::default();
            write_rows(rows, import_id, batch, &mut times)?;
            Ok(times)
        })
        .await?;
        times.commit = commit;
        Ok(times)
    }

    /// Copies what the write-ahead log holds into the database file, as far
    /// as it can without waiting for or blocking anyone
    /// (`PRAGMA wal_checkpoint(PASSIVE)`). The import calls it from the
    /// server's runtime while its batches commit without checkpointing, so
    /// that copying and flushing pages overlaps with writing new ones.
    pub async fn checkpoint_passive(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Deletes what an unpublished (failed, cancelled, interrupted) import
    /// wrote; returns the fact rows deleted. Nothing visible changes.
    pub async fn discard_import_facts(&self, import_id: i64) -> Result<u64> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT computer_id FROM stage_computers WHERE import_id = ?")
                .bind(import_id)
                .fetch_all(&self.pool)
                .await?;
        let mut deleted = 0;
        for chunk in ids.chunks(100) {
            let mut tx = self.write_tx().await?;
            for id in chunk {
                for table in ["installed_packages", "swid_facts"] {
                    deleted += sqlx::query(&format!(
                        "DELETE FROM {table} WHERE computer_id = ? AND import_id = ?"
                    ))
                    .bind(id)
                    .bind(import_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                }
            }
            tx.commit().await?;
        }
        // Its VM-manager observations (their guests go with them: ON DELETE CASCADE).
        deleted += sqlx::query("DELETE FROM vm_host_scans WHERE import_id = ? AND published = 0")
            .bind(import_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM stage_computers WHERE import_id = ?")
            .bind(import_id)
            .execute(&self.pool)
            .await?;
        Ok(deleted)
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
            let mut tx = self.write_tx().await?;
            for (computer, old) in chunk {
                // Never the facts a computer shows: a publish that kept a
                // computer's facts records nothing for it, and this holds
                // whatever a record says.
                let current: Option<Option<i64>> =
                    sqlx::query_scalar("SELECT facts_import_id FROM computers WHERE id = ?")
                        .bind(computer)
                        .fetch_optional(&mut *tx)
                        .await?;
                if current.flatten() != Some(*old) {
                    for table in ["installed_packages", "swid_facts"] {
                        deleted += sqlx::query(&format!(
                            "DELETE FROM {table} WHERE computer_id = ? AND import_id = ?"
                        ))
                        .bind(computer)
                        .bind(old)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
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
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    import_id: i64,
    opts: &PublishOptions,
) -> Result<()> {
    // A computer whose facts the import kept (the same digest as its
    // published ones) goes on showing them: they must still be there, with
    // that digest (one import at a time: nothing else changes them).
    let moved: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM stage_computers s JOIN computers c ON c.id = s.computer_id
         WHERE s.import_id = ?1 AND s.facts_kept = 1
           AND (c.published = 0 OR c.facts_import_id IS NULL
                OR c.facts_digest IS NOT s.facts_digest)",
    )
    .bind(import_id)
    .fetch_one(&mut **tx)
    .await?;
    if moved > 0 {
        return Err(StoreError::Internal(format!(
            "the published facts of {moved} computers changed during the import \
             (their packages' facts were kept as unchanged)"
        )));
    }
    sqlx::query(
        "INSERT OR REPLACE INTO superseded_facts (import_id, computer_id, old_import_id)
         SELECT ?1, c.id, c.facts_import_id FROM computers c
         JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = ?1
         WHERE c.facts_import_id IS NOT NULL AND c.facts_import_id != ?1
           AND s.facts_kept = 0",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE computers SET published = 1,
           facts_import_id = CASE WHEN s.facts_kept = 1 THEN computers.facts_import_id ELSE ?1 END,
           facts_digest = s.facts_digest, name = s.name,
           dns_name = s.dns_name, ip_addresses = s.ip_addresses, os = s.os,
           agent_version = s.agent_version, scan_time = s.scan_time,
           first_seen = COALESCE(computers.first_seen, s.scan_time),
           last_seen = MAX(COALESCE(computers.last_seen, 0), s.scan_time),
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
         FROM (SELECT * FROM stage_computers WHERE import_id = ?1) AS s
         WHERE computers.id = s.computer_id",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    publish_vm_observations(tx, import_id, now_ms()).await?;
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

/// The VM-manager part of a publish, inside its transaction: the import's
/// observations become visible (one copy of each), an earlier published copy of the same
/// observation (same reporting computer, host UUID and time) is deleted, and
/// so is every observation older than [`VM_OBSERVATION_RETENTION_DAYS`]
/// before `now_ms`. Observations of earlier imports are otherwise kept: they
/// are the history licence counting reads.
async fn publish_vm_observations(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    import_id: i64,
    now_ms: i64,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM vm_host_scans WHERE published = 1 AND id IN (
           SELECT o.id FROM vm_host_scans n JOIN vm_host_scans o
             ON o.computer_id = n.computer_id AND o.observed_at = n.observed_at
            AND o.host_uuid_norm = n.host_uuid_norm
           WHERE n.import_id = ?1 AND o.published = 1 AND o.import_id != ?1)",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    // One copy of each observation within the import too (a newer and an
    // older package of one host may both carry it).
    sqlx::query(
        "DELETE FROM vm_host_scans WHERE import_id = ?1 AND id NOT IN (
           SELECT MIN(id) FROM vm_host_scans WHERE import_id = ?1
           GROUP BY computer_id, observed_at, host_uuid_norm)",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    // Only those of visible computers: an older package's observations
    // whose newer package was rejected stay unpublished (and are cleaned up
    // with the import's other leftovers) when their computer is not shown.
    sqlx::query(
        "UPDATE vm_host_scans SET published = 1 WHERE import_id = ?
           AND computer_id IN (SELECT id FROM computers WHERE published = 1)",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM vm_host_scans WHERE published = 1 AND observed_at < ?")
        .bind(now_ms - VM_OBSERVATION_RETENTION_DAYS * 86_400_000)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// A published VM-manager observation: a host at one time, with the guests
/// running on it then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmObservation {
    pub scan_id: i64,
    /// The computer whose scan package reported it.
    pub computer_id: i64,
    pub import_id: i64,
    pub observed_at_ms: i64,
    pub member: String,
    pub manager_id: Option<String>,
    pub virtual_technology: Option<String>,
    /// As printed; compare with [`normalize_uuid`].
    pub host_uuid: String,
    pub host_name: Option<String>,
    pub serial_number: Option<String>,
    pub cores: Option<i64>,
    pub active_sockets: Option<i64>,
    pub available_sockets: Option<i64>,
    pub cpu_model: Option<String>,
    pub hardware_vendor: Option<String>,
    pub hardware_model: Option<String>,
    pub guests: Vec<VmGuestRow>,
}

/// A published computer's identity and raw capacity, for licence counting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputerIdentity {
    pub computer_id: i64,
    pub data_source: String,
    pub endpoint_id: String,
    pub name: Option<String>,
    pub is_deleted: bool,
    /// Unix ms of the last scan package published.
    pub last_seen_ms: Option<i64>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
    pub threads: Option<i64>,
    pub is_virtual: Option<bool>,
    pub hypervisor: Option<String>,
    pub processor_brand: Option<String>,
    pub identity: HardwareIdentityRow,
}

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

impl SqliteStore {
    /// Published VM-manager observations made in `[from_ms, to_ms)` (Unix
    /// ms), in time order (then reporting computer, then id), each with its
    /// guests in the order the scan listed them. A host seen with no guest
    /// is an observation with an empty `guests`.
    pub async fn vm_observations_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<VmObservation>> {
        let mut tx = self.read_tx().await?;
        let scans: Vec<VmScanTuple> = sqlx::query_as(
            "SELECT id, computer_id, import_id, observed_at, member, manager_id,
                    virtual_technology, host_uuid, host_name, serial_number, cores,
                    active_sockets, available_sockets, cpu_model, hardware_vendor, hardware_model
             FROM vm_host_scans
             WHERE published = 1 AND observed_at >= ?1 AND observed_at < ?2
             ORDER BY observed_at, computer_id, id",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *tx)
        .await?;
        let guests: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT g.scan_id, g.guest_uuid, g.guest_name, g.vcpus
             FROM vm_guest_observations g JOIN vm_host_scans s ON s.id = g.scan_id
             WHERE s.published = 1 AND g.observed_at >= ?1 AND g.observed_at < ?2
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

    /// Every published computer's hardware identity and raw capacity
    /// (decommissioned ones included, flagged), by id.
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
        use sqlx::Row;
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

/// Real installed packages for the tests, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/support/corpus.rs"]
mod test_corpus;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;

    /// computer_id, import_id, name, version, architecture, vendor, source
    type FactTuple = (
        i64,
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
    );
    /// computer_id, import_id, tag_id, version, regid, schema
    type TagTuple = (i64, i64, String, Option<String>, Option<String>, String);

    fn computer(id: i64) -> StagedComputer {
        StagedComputer {
            computer_id: id,
            name: Some(format!("host-{id}")),
            ip_addresses: vec!["192.0.2.10".into()],
            scan_time_ms: 1_795_867_200_000,
            sockets: 1,
            cores: Some(2),
            threads: Some(2),
            ..StagedComputer::default()
        }
    }

    fn dpkg(name: &str, version: &str, arch: Option<&str>) -> InstalledPackageRow {
        InstalledPackageRow {
            name: name.into(),
            version: version.into(),
            architecture: arch.map(Into::into),
            vendor: Some("Debian Adduser Developers".into()),
            source: "dpkg",
        }
    }

    async fn pragmas(store: &SqliteStore) -> (i64, i64, i64) {
        let mut conn = store.pool().acquire().await.unwrap();
        let mut get = async |p: &str| -> i64 {
            sqlx::query_scalar(&format!("PRAGMA {p}"))
                .fetch_one(&mut *conn)
                .await
                .unwrap()
        };
        (
            get("synchronous").await,
            get("cache_size").await,
            get("wal_autocheckpoint").await,
        )
    }

    #[tokio::test]
    async fn batch_rows_are_written_exactly_and_the_connection_reset() {
        let (store, _dir) = test_store().await;
        let defaults = pragmas(&store).await;
        assert_eq!(defaults, (2, -2000, 1000), "FULL, SQLite's defaults");
        let batch = vec![
            ScanPackageWrite {
                computer: computer(1),
                installed_packages: vec![
                    dpkg("adduser", "3.134", Some("all")),
                    dpkg("bash", "5.2.15-2+b2", None),
                ],
                swid_tags: vec![SwidFactRow {
                    tag_id: "Debian_12-x86_64-adduser-3.134".into(),
                    name: "adduser".into(),
                    version: Some("3.134".into()),
                    regid: Some("debian.org".into()),
                    vendor: Some("strongSwan Project".into()),
                    schema: "2015",
                    persistent_id: None,
                    directory: Some("/usr/share/swidtag/debian.org".into()),
                }],
                vm_scans: vec![],
                vm_only: false,
            },
            ScanPackageWrite {
                computer: computer(2),
                installed_packages: vec![InstalledPackageRow {
                    name: "bash".into(),
                    version: "5.1.8-6.el9".into(),
                    architecture: Some("x86_64".into()),
                    vendor: None,
                    source: "rpm",
                }],
                swid_tags: vec![SwidFactRow {
                    tag_id: "ibm-tag".into(),
                    name: "IBM Thing".into(),
                    version: None,
                    regid: None,
                    vendor: None,
                    schema: "2009",
                    persistent_id: Some("a46f72acb4204f1c8b27228722103341".into()),
                    directory: None,
                }],
                vm_scans: vec![],
                vm_only: false,
            },
        ];
        store.write_scan_packages(7, &batch).await.unwrap();
        store.checkpoint_passive().await.unwrap();

        let rows: Vec<FactTuple> = sqlx::query_as(
            "SELECT computer_id, import_id, name, version, architecture, vendor, source
                 FROM installed_packages ORDER BY rowid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let vendor = Some("Debian Adduser Developers".to_string());
        assert_eq!(
            rows,
            vec![
                (
                    1,
                    7,
                    "adduser".into(),
                    "3.134".into(),
                    Some("all".into()),
                    vendor.clone(),
                    "dpkg".into()
                ),
                (
                    1,
                    7,
                    "bash".into(),
                    "5.2.15-2+b2".into(),
                    None,
                    vendor,
                    "dpkg".into()
                ),
                (
                    2,
                    7,
                    "bash".into(),
                    "5.1.8-6.el9".into(),
                    Some("x86_64".into()),
                    None,
                    "rpm".into()
                ),
            ]
        );
        let tags: Vec<TagTuple> = sqlx::query_as(
            "SELECT computer_id, import_id, tag_id, version, regid, schema FROM swid_facts ORDER BY rowid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            tags,
            vec![
                (
                    1,
                    7,
                    "Debian_12-x86_64-adduser-3.134".into(),
                    Some("3.134".into()),
                    Some("debian.org".into()),
                    "2015".into()
                ),
                (2, 7, "ibm-tag".into(), None, None, "2009".into()),
            ]
        );
        let evidence: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT tag_id, persistent_id, directory FROM swid_facts ORDER BY rowid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(
            evidence,
            vec![
                (
                    "Debian_12-x86_64-adduser-3.134".into(),
                    None,
                    Some("/usr/share/swidtag/debian.org".into())
                ),
                (
                    "ibm-tag".into(),
                    Some("a46f72acb4204f1c8b27228722103341".into()),
                    None
                ),
            ]
        );
        let staged: Vec<(i64, String)> =
            sqlx::query_as("SELECT computer_id, ip_addresses FROM stage_computers WHERE import_id = 7 ORDER BY computer_id")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(
            staged,
            vec![
                (1, "[\"192.0.2.10\"]".into()),
                (2, "[\"192.0.2.10\"]".into())
            ]
        );
        assert_eq!(pragmas(&store).await, defaults);
    }

    #[tokio::test]
    async fn a_failed_batch_writes_nothing_and_its_connection_is_not_reused() {
        let (store, _dir) = test_store().await;
        sqlx::raw_sql("DROP TABLE swid_facts")
            .execute(store.pool())
            .await
            .unwrap();
        let batch = vec![ScanPackageWrite {
            computer: computer(1),
            installed_packages: vec![dpkg("adduser", "3.134", Some("all"))],
            swid_tags: vec![SwidFactRow {
                tag_id: "Debian_12-x86_64-adduser-3.134".into(),
                name: "adduser".into(),
                version: Some("3.134".into()),
                regid: Some("debian.org".into()),
                vendor: None,
                schema: "2015",
                persistent_id: None,
                directory: None,
            }],
            vm_scans: vec![],
            vm_only: false,
        }];
        let err = store.write_scan_packages(8, &batch).await.unwrap_err();
        assert!(err.to_string().contains("swid_facts"), "{err}");
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM installed_packages")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0, "the batch's transaction was rolled back");
        assert_eq!(pragmas(&store).await, (2, -2000, 1000));
    }

    use super::test_corpus::corpus_installed_packages;

    #[tokio::test]
    async fn many_rows_go_through_full_and_partial_statements_in_order() {
        let (store, _dir) = test_store().await;
        let facts = corpus_installed_packages();
        assert_eq!(facts.len(), 759, "the corpus host's installed packages");
        // 759 + 700 rows: full statements of ROWS_PER_INSERT rows and a tail.
        let batch = vec![
            ScanPackageWrite {
                computer: computer(1),
                installed_packages: facts.clone(),
                swid_tags: vec![],
                vm_scans: vec![],
                vm_only: false,
            },
            ScanPackageWrite {
                computer: computer(2),
                installed_packages: facts[..700].to_vec(),
                swid_tags: vec![],
                vm_scans: vec![],
                vm_only: false,
            },
        ];
        assert_ne!((759 + 700) % ROWS_PER_INSERT, 0);
        store.write_scan_packages(3, &batch).await.unwrap();
        let rows: Vec<FactTuple> = sqlx::query_as(
            "SELECT computer_id, import_id, name, version, architecture, vendor, source
             FROM installed_packages ORDER BY rowid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let expected: Vec<FactTuple> = batch
            .iter()
            .flat_map(|w| {
                w.installed_packages.iter().map(|f| {
                    (
                        w.computer.computer_id,
                        3,
                        f.name.clone(),
                        f.version.clone(),
                        f.architecture.clone(),
                        f.vendor.clone(),
                        f.source.to_string(),
                    )
                })
            })
            .collect();
        assert_eq!(rows.len(), 1459);
        assert_eq!(rows, expected);
    }
}
