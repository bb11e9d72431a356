//! Imports, their steps, and the scan packages they see.
//!
//! Invariant: at most one import is active (pending or running), enforced by
//! the UNIQUE `active_slot` column. What an import records about packages
//! stays in `import_scan_packages` until [`Store::publish_import`] copies it into
//! the published registry in the same transaction that marks it successful.

use crate::inventory::PublishOptions;
use crate::{from_ms, now_ms, Result, SqliteStore, StoreError};
use chrono::{DateTime, Utc};
use openlmt_domain::{ImportStatus, ImportType, Trigger};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub struct ImportRow {
    pub id: i64,
    pub import_type: ImportType,
    pub trigger: Trigger,
    pub requested_by: Option<String>,
    pub status: ImportStatus,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub progress: u8,
    pub error: Option<String>,
    pub scan_packages_found: i64,
    pub scan_packages_imported: i64,
    pub scan_packages_rejected: i64,
    /// The server that registered and runs (ran) the import (see
    /// `cluster.rs`); `None` for imports recorded before nodes were.
    pub node: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepCounters {
    pub read: i64,
    pub imported: i64,
    pub rejected: i64,
    pub warnings: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub position: i64,
    pub name: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counters: StepCounters,
}

pub use crate::scan_package_state::{RegistryState, ScanPackageState};

#[derive(Debug, Clone, PartialEq)]
pub struct NewScanPackageRecord {
    pub data_source: String,
    pub file_name: String,
    pub size: i64,
    pub sha256: String,
    pub seen_at: DateTime<Utc>,
    pub state: ScanPackageState,
    pub reason: Option<String>,
    /// Modification time (ns since the epoch) when it was hashed.
    pub mtime_ns: Option<i64>,
    pub endpoint_id: Option<String>,
    pub scan_time: Option<DateTime<Utc>>,
}

/// A package in the published registry.
/// A change of the state an import recorded for one of its packages
/// ([`Store::set_scan_package_states`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPackageStateChange {
    pub data_source: String,
    pub file_name: String,
    pub state: ScanPackageState,
    pub reason: Option<String>,
    /// Forget the hash the find step recorded (the file could not be read
    /// after all): a rejected package without one is not remembered by the
    /// publish, so the next import looks at the file again.
    pub forget_content: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedScanPackage {
    pub size: i64,
    pub sha256: String,
    pub mtime_ns: Option<i64>,
    /// What the registry remembers of it.
    pub state: RegistryState,
    pub reason: Option<String>,
}

/// A package as one import recorded it.
pub type StoredScanPackage = NewScanPackageRecord;

/// The columns of an [`ImportRow`] (the counts test the states by the
/// enum's own texts).
pub(crate) static IMPORT_COLUMNS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "i.id, i.import_type, i.trigger, i.requested_by, i.status, i.node,
    i.requested_at, i.started_at, i.finished_at, i.progress, i.error,
    (SELECT COUNT(*) FROM import_scan_packages p WHERE p.import_id = i.id) AS found,
    CASE WHEN i.status IN ('failed', 'cancelled') THEN 0 ELSE
      (SELECT COUNT(*) FROM import_scan_packages p WHERE p.import_id = i.id AND p.state = '{new}') END AS imported,
    (SELECT COUNT(*) FROM import_scan_packages p WHERE p.import_id = i.id AND p.state = '{rejected}') AS rejected",
        new = ScanPackageState::New.as_str(),
        rejected = ScanPackageState::Rejected.as_str(),
    )
});

fn parse_enum<T: std::str::FromStr>(r: &SqliteRow, col: &str) -> Result<T> {
    let text: String = r.try_get(col)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {col} `{text}`")))
}

pub(crate) fn row_to_import(r: &SqliteRow) -> Result<ImportRow> {
    let opt_time = |col: &str| -> Result<Option<DateTime<Utc>>> {
        Ok(r.try_get::<Option<i64>, _>(col)?.map(from_ms))
    };
    Ok(ImportRow {
        id: r.try_get("id")?,
        import_type: parse_enum(r, "import_type")?,
        trigger: parse_enum(r, "trigger")?,
        requested_by: r.try_get("requested_by")?,
        status: parse_enum(r, "status")?,
        requested_at: from_ms(r.try_get("requested_at")?),
        started_at: opt_time("started_at")?,
        finished_at: opt_time("finished_at")?,
        progress: r.try_get::<i64, _>("progress")?.clamp(0, 100) as u8,
        error: r.try_get("error")?,
        scan_packages_found: r.try_get("found")?,
        scan_packages_imported: r.try_get("imported")?,
        scan_packages_rejected: r.try_get("rejected")?,
        node: r.try_get("node")?,
    })
}

/// The error recorded on an import that was active when its server stopped.
pub const INTERRUPTED: &str = "interrupted: the server stopped during the import";

impl SqliteStore {
    /// Registers a pending import. `Ok(None)` when another import is
    /// already pending or running (in this process or any other).
    pub async fn register_import(
        &self,
        import_type: ImportType,
        trigger: Trigger,
        requested_by: Option<&str>,
    ) -> Result<Option<ImportRow>> {
        let node = self.node();
        let now = now_ms();
        let res = sqlx::query(
            "INSERT INTO imports (import_type, trigger, requested_by, status, active_slot,
               requested_at, node, lease_until)
             VALUES (?, ?, ?, 'pending', 1, ?, ?, ?)",
        )
        .bind(import_type.as_str())
        .bind(trigger.as_str())
        .bind(requested_by)
        .bind(now)
        .bind(&node.name)
        .bind(node.lease_ms().map(|l| now.saturating_add(l)))
        .execute(&self.pool)
        .await;
        match res {
            Ok(done) => self.import(done.last_insert_rowid()).await,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn import(&self, id: i64) -> Result<Option<ImportRow>> {
        sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.id = ?",
            *IMPORT_COLUMNS
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()
    }

    pub async fn active_import(&self) -> Result<Option<ImportRow>> {
        sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.active_slot = 1",
            *IMPORT_COLUMNS
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()
    }

    /// The most recently finished import, and the most recent successful one.
    pub async fn last_finished(&self) -> Result<(Option<ImportRow>, Option<ImportRow>)> {
        let last = sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.finished_at IS NOT NULL
             ORDER BY i.finished_at DESC, i.id DESC LIMIT 1",
            *IMPORT_COLUMNS
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()?;
        let success = sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.status = 'successful'
             ORDER BY i.finished_at DESC, i.id DESC LIMIT 1",
            *IMPORT_COLUMNS
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()?;
        Ok((last, success))
    }

    /// Whether any import was ever registered here (history retention may
    /// have deleted its row since, so this is remembered apart).
    pub async fn any_import_ever(&self) -> Result<bool> {
        if self.meta_get("imports_ever").await?.is_some() {
            return Ok(true);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    /// Moves a pending import to running; false if it is no longer pending
    /// (e.g. cancelled meanwhile).
    pub async fn mark_running(&self, id: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE imports SET status = 'running', started_at = ?, progress = 1
             WHERE id = ? AND status = 'pending'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn set_progress(&self, id: i64, progress: u8) -> Result<()> {
        sqlx::query("UPDATE imports SET progress = ? WHERE id = ? AND active_slot = 1")
            .bind(i64::from(progress))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn start_step(&self, id: i64, position: i64, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO import_steps (import_id, position, name, started_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (import_id, position) DO UPDATE SET started_at = excluded.started_at",
        )
        .bind(id)
        .bind(position)
        .bind(name)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Saves a step's counters; `finished` also stamps its end.
    pub async fn save_step(
        &self,
        id: i64,
        position: i64,
        c: StepCounters,
        finished: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE import_steps SET items_read = ?, items_imported = ?, items_rejected = ?,
               warnings = ?, finished_at = CASE WHEN ? THEN ? ELSE finished_at END
             WHERE import_id = ? AND position = ?",
        )
        .bind(c.read)
        .bind(c.imported)
        .bind(c.rejected)
        .bind(c.warnings)
        .bind(finished)
        .bind(now_ms())
        .bind(id)
        .bind(position)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn import_steps(&self, id: i64) -> Result<Vec<StepRow>> {
        let rows = sqlx::query(
            "SELECT position, name, started_at, finished_at, items_read, items_imported,
                    items_rejected, warnings
             FROM import_steps WHERE import_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StepRow {
                    position: r.try_get(0)?,
                    name: r.try_get(1)?,
                    started_at: r.try_get::<Option<i64>, _>(2)?.map(from_ms),
                    finished_at: r.try_get::<Option<i64>, _>(3)?.map(from_ms),
                    counters: StepCounters {
                        read: r.try_get(4)?,
                        imported: r.try_get(5)?,
                        rejected: r.try_get(6)?,
                        warnings: r.try_get(7)?,
                    },
                })
            })
            .collect()
    }

    /// Records what an import saw, in one transaction per batch.
    pub async fn record_scan_packages(
        &self,
        id: i64,
        batch: &[NewScanPackageRecord],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for p in batch {
            sqlx::query(
                "INSERT OR REPLACE INTO import_scan_packages
                   (import_id, data_source, file_name, size, sha256, seen_at, state, reason,
                    mtime_ns, endpoint_id, scan_time)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(&p.data_source)
            .bind(&p.file_name)
            .bind(p.size)
            .bind(&p.sha256)
            .bind(p.seen_at.timestamp_millis())
            .bind(p.state)
            .bind(&p.reason)
            .bind(p.mtime_ns)
            .bind(&p.endpoint_id)
            .bind(p.scan_time.map(|t| t.timestamp_millis()))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Changes the state of packages an import recorded (e.g. rejected
    /// while reading), in one transaction.
    pub async fn set_scan_package_states(
        &self,
        id: i64,
        changes: &[ScanPackageStateChange],
    ) -> Result<()> {
        let mut tx = self.write_tx().await?;
        for c in changes {
            sqlx::query(
                "UPDATE import_scan_packages SET state = ?, reason = ?,
                   sha256 = CASE WHEN ? THEN '' ELSE sha256 END
                 WHERE import_id = ? AND data_source = ? AND file_name = ?",
            )
            .bind(c.state)
            .bind(&c.reason)
            .bind(c.forget_content)
            .bind(id)
            .bind(&c.data_source)
            .bind(&c.file_name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Packages one import recorded, optionally only those in one state.
    pub async fn import_scan_packages(
        &self,
        id: i64,
        state: Option<ScanPackageState>,
    ) -> Result<Vec<StoredScanPackage>> {
        let rows = sqlx::query(
            "SELECT data_source, file_name, size, sha256, seen_at, state, reason, mtime_ns,
                    endpoint_id, scan_time
             FROM import_scan_packages WHERE import_id = ?1 AND (?2 IS NULL OR state = ?2)
             ORDER BY data_source, file_name",
        )
        .bind(id)
        .bind(state)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(NewScanPackageRecord {
                    data_source: r.try_get(0)?,
                    file_name: r.try_get(1)?,
                    size: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    seen_at: from_ms(r.try_get(4)?),
                    state: r.try_get(5)?,
                    reason: r.try_get(6)?,
                    mtime_ns: r.try_get(7)?,
                    endpoint_id: r.try_get(8)?,
                    scan_time: r.try_get::<Option<i64>, _>(9)?.map(from_ms),
                })
            })
            .collect()
    }

    /// The published packages of a data source: file name → (size, SHA-256).
    pub async fn published_scan_packages(
        &self,
        data_source: &str,
    ) -> Result<HashMap<String, PublishedScanPackage>> {
        let rows = sqlx::query(
            "SELECT file_name, size, sha256, mtime_ns, state, reason
             FROM scan_packages WHERE data_source = ?",
        )
        .bind(data_source)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    PublishedScanPackage {
                        size: r.try_get(1)?,
                        sha256: r.try_get(2)?,
                        mtime_ns: r.try_get(3)?,
                        state: r.try_get(4)?,
                        reason: r.try_get(5)?,
                    },
                ))
            })
            .collect()
    }

    /// Publishes a running import in one transaction: its new packages
    /// become part of the registry and it becomes `successful`. Returns
    /// false (and changes nothing) when the import is no longer active.
    pub async fn publish_import(&self, id: i64, opts: PublishOptions) -> Result<bool> {
        Ok(self
            .publish_import_then(id, opts, async {})
            .await?
            .is_some())
    }

    /// [`Store::publish_import`], awaiting `before_commit` inside the
    /// transaction, after its last statement and before its commit (the
    /// engine's test seams pause or panic there).
    pub async fn publish_import_then(
        &self,
        id: i64,
        opts: PublishOptions,
        before_commit: impl std::future::Future<Output = ()>,
    ) -> Result<Option<Published>> {
        let mut tx = self.write_tx().await?;
        let now = now_ms();
        // Fencing: an import whose lease has passed publishes nothing (see
        // `cluster.rs`; a single server has no lease).
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM imports WHERE id = ? AND active_slot = 1
               AND (lease_until IS NULL OR lease_until >= ?)",
        )
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(None);
        }
        crate::inventory::publish_inventory(&mut tx, id, &opts).await?;
        let software = match (&opts.discovery, opts.complete) {
            (Some(catalog), true) => {
                Some(crate::software::publish_software(&mut tx, id, catalog).await?)
            }
            _ => None,
        };
        let license = if opts.complete {
            crate::license::publish_license(
                &mut tx,
                self.calculator().as_deref(),
                id,
                opts.license_retention_days,
            )
            .await?
        } else {
            None
        };
        sqlx::query(
            "INSERT INTO scan_packages (data_source, file_name, size, sha256, first_seen,
               imported_at, import_id, state, reason, mtime_ns)
             SELECT data_source, file_name, size, sha256, seen_at, ?1, import_id,
               CASE state WHEN ?3 THEN ?4 WHEN ?5 THEN ?6 WHEN ?7 THEN ?8 END, reason, mtime_ns
             FROM import_scan_packages
             WHERE import_id = ?2
               AND (state IN (?3, ?5) OR (state = ?7 AND sha256 != ''))
             ON CONFLICT (data_source, file_name) DO UPDATE SET
               size = excluded.size, sha256 = excluded.sha256,
               imported_at = excluded.imported_at, import_id = excluded.import_id,
               state = excluded.state, reason = excluded.reason, mtime_ns = excluded.mtime_ns",
        )
        .bind(now)
        .bind(id)
        .bind(ScanPackageState::New)
        .bind(ScanPackageState::New.published_as())
        .bind(ScanPackageState::SkippedOlder)
        .bind(ScanPackageState::SkippedOlder.published_as())
        .bind(ScanPackageState::Rejected)
        .bind(ScanPackageState::Rejected.published_as())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE imports SET status = 'successful', active_slot = NULL, finished_at = ?,
               progress = 100, error = NULL WHERE id = ?",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('imports_ever', '1')")
            .execute(&mut *tx)
            .await?;
        crate::list::bump_generation(&mut tx).await?;
        before_commit.await;
        tx.commit().await?;
        Ok(Some(Published { software, license }))
    }

    /// Ends an active import as failed or cancelled, keeping its progress.
    pub async fn end_import(
        &self,
        id: i64,
        status: ImportStatus,
        error: Option<&str>,
    ) -> Result<()> {
        debug_assert!(matches!(
            status,
            ImportStatus::Failed | ImportStatus::Cancelled
        ));
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "UPDATE imports SET status = ?, active_slot = NULL, finished_at = ?, error = ?
             WHERE id = ? AND active_slot = 1",
        )
        .bind(status.as_str())
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('imports_ever', '1')")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks every import left active by a stopped server as failed with
    /// [`INTERRUPTED`]. Only call it while no other server uses the
    /// database. Returns the ids it marked.
    pub async fn recover_interrupted(&self) -> Result<Vec<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM imports WHERE active_slot = 1")
            .fetch_all(&self.pool)
            .await?;
        for id in &ids {
            self.end_import(*id, ImportStatus::Failed, Some(INTERRUPTED))
                .await?;
        }
        Ok(ids)
    }

    /// A page of the history, newest first, with the total count.
    pub async fn list_imports(&self, limit: i64, offset: i64) -> Result<(i64, Vec<ImportRow>)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports")
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {} FROM imports i ORDER BY i.id DESC LIMIT ? OFFSET ?",
            *IMPORT_COLUMNS
        ))
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((
            total,
            rows.iter().map(row_to_import).collect::<Result<_>>()?,
        ))
    }

    /// Deletes finished imports beyond the newest `keep` and returns their ids.
    pub async fn prune_imports(&self, keep: i64) -> Result<Vec<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM imports WHERE active_slot IS NULL
             AND id NOT IN (SELECT id FROM imports ORDER BY id DESC LIMIT ?)",
        )
        .bind(keep.max(1))
        .fetch_all(&self.pool)
        .await?;
        let mut tx = self.write_tx().await?;
        for id in &ids {
            sqlx::query("DELETE FROM imports WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ids)
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// What it did to the software inventory, when it applied a discovery.
    pub software: Option<crate::SoftwarePublished>,
    /// What it did to the licence values, when the import took a snapshot.
    pub license: Option<crate::LicensePublished>,
}

/// What earlier imports left behind (see [`Store::clean_leftovers`]), or
/// what a clean-up deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// Fact rows that a publish superseded.
    pub superseded_facts: u64,
    /// Fact rows written by an import that ended without publishing.
    pub unpublished_facts: u64,
    /// Computer rows created for an import that never published them.
    pub placeholder_computers: u64,
    /// Staged discovery rows of imports that ended without publishing.
    pub unpublished_discovery: u64,
}

impl SqliteStore {
    /// Deletes what finished imports left behind: the facts superseded by
    /// every publish whose clean-up did not run or did not finish (a crash
    /// right after the publish, an error), the facts and staged values of
    /// imports that ended without publishing, and, while no import is
    /// active, the computer rows no publish ever made visible. The active
    /// import's rows are never touched. Nothing visible changes; it is
    /// idempotent, and safe to call at any time.
    pub async fn clean_leftovers(&self) -> Result<Leftovers> {
        let mut done = Leftovers::default();
        let published: Vec<i64> =
            sqlx::query_scalar("SELECT DISTINCT import_id FROM superseded_facts ORDER BY 1")
                .fetch_all(&self.pool)
                .await?;
        for id in published {
            done.superseded_facts += self.delete_superseded_facts(id).await?;
        }
        let unpublished: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT s.import_id FROM stage_computers s
             WHERE NOT EXISTS (SELECT 1 FROM imports i WHERE i.id = s.import_id AND i.active_slot = 1)
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        for id in unpublished {
            done.unpublished_facts += self.discard_import_facts(id).await?;
        }
        // VM-manager observations no publish made visible, whatever staged
        // values their import left (their guests go with them).
        done.unpublished_facts += sqlx::query(
            "DELETE FROM vm_host_scans WHERE published = 0 AND NOT EXISTS
               (SELECT 1 FROM imports i WHERE i.id = vm_host_scans.import_id AND i.active_slot = 1)",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        done.unpublished_discovery = self.discard_unpublished_discovery().await?;
        // (Counted with the discovery's: both are a complete import's
        // unpublished work.)
        done.unpublished_discovery += self.discard_unpublished_license_snapshots().await?;
        self.ensure_instance_indexes().await?;
        // One statement, so an import registered meanwhile (whose new
        // computers are not yet published) keeps them.
        done.placeholder_computers = sqlx::query(
            "DELETE FROM computers WHERE published = 0
               AND NOT EXISTS (SELECT 1 FROM imports WHERE active_slot = 1)
               AND NOT EXISTS (SELECT 1 FROM stage_computers s WHERE s.computer_id = computers.id)",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(done)
    }

    /// How many fact rows (package and SWID) an import wrote and still has,
    /// for checks and tests: it reads both fact tables whole (the index
    /// leads with the computer), so the engine never calls it.
    pub async fn import_fact_count(&self, import_id: i64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM installed_packages WHERE import_id = ?1)
                  + (SELECT COUNT(*) FROM swid_facts WHERE import_id = ?1)",
        )
        .bind(import_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// Counts what no one sees and no active import owns (what
    /// [`Store::clean_leftovers`] exists to delete), for checks and tests.
    /// Reads every fact row: not for a hot path.
    pub async fn leftover_counts(&self) -> Result<LeftoverCounts> {
        let invisible = |table: &str| {
            format!(
                "(SELECT COUNT(*) FROM {table} f
                  WHERE NOT EXISTS (SELECT 1 FROM computers c
                    WHERE c.id = f.computer_id AND c.facts_import_id = f.import_id)
                  AND NOT EXISTS (SELECT 1 FROM imports i
                    WHERE i.id = f.import_id AND i.active_slot = 1))"
            )
        };
        let (facts, superseded, staged, placeholders): (i64, i64, i64, i64) =
            sqlx::query_as(&format!(
                "SELECT {} + {} + (SELECT COUNT(*) FROM vm_host_scans v WHERE v.published = 0
                     AND NOT EXISTS (SELECT 1 FROM imports i
                       WHERE i.id = v.import_id AND i.active_slot = 1)),
                   (SELECT COUNT(*) FROM superseded_facts),
                   (SELECT COUNT(*) FROM stage_computers s WHERE NOT EXISTS
                     (SELECT 1 FROM imports i WHERE i.id = s.import_id AND i.active_slot = 1)),
                   (SELECT COUNT(*) FROM computers WHERE published = 0
                     AND NOT EXISTS (SELECT 1 FROM imports WHERE active_slot = 1))",
                invisible("installed_packages"),
                invisible("swid_facts"),
            ))
            .fetch_one(&self.pool)
            .await?;
        Ok(LeftoverCounts {
            invisible_facts: facts as u64,
            superseded_records: superseded as u64,
            staged_computers: staged as u64,
            placeholder_computers: placeholders as u64,
            unpublished_discovery: self.unpublished_discovery_rows().await?,
        })
    }
}

/// See [`Store::leftover_counts`]; all zero once cleaned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LeftoverCounts {
    /// Fact rows that no computer shows, and VM-manager observations never
    /// published, of no active import.
    pub invisible_facts: u64,
    /// (computer, import) pairs whose superseded facts await deletion.
    pub superseded_records: u64,
    /// Staged computer values of imports no longer active.
    pub staged_computers: u64,
    /// Computers never published (while no import is active).
    pub placeholder_computers: u64,
    /// Staged discovery rows and inserted instances of unpublished imports
    /// no longer active.
    pub unpublished_discovery: u64,
}

#[cfg(test)]
mod tests {
    // (The interface's behaviour on every engine is in tests/conformance.rs;
    // these need SQL fixtures.)
    use super::*;
    use crate::test_store;

    const OPTS: PublishOptions = PublishOptions {
        complete: true,
        stale_before_ms: None,
        discovery: None,
        license_retention_days: None,
    };

    fn facts_for(computer_id: i64, names: &[&str]) -> crate::ScanPackageWrite {
        crate::ScanPackageWrite {
            computer: crate::StagedComputer {
                computer_id,
                scan_time_ms: 1_795_867_200_000,
                ..crate::StagedComputer::default()
            },
            installed_packages: names
                .iter()
                .map(|n| crate::InstalledPackageRow {
                    name: (*n).into(),
                    version: "1.0".into(),
                    architecture: Some("amd64".into()),
                    vendor: None,
                    source: "dpkg",
                })
                .collect(),
            swid_tags: vec![],
            vm_scans: vec![],
            vm_only: false,
        }
    }

    async fn count(s: &SqliteStore, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(s.pool()).await.unwrap()
    }

    async fn start(s: &SqliteStore) -> i64 {
        let i = s
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap();
        assert!(s.mark_running(i.id).await.unwrap());
        i.id
    }

    fn key(endpoint: &str) -> (String, String) {
        ("default".to_string(), endpoint.to_string())
    }

    /// `facts_for` with a facts digest, and whether its facts are kept.
    fn digested(
        computer_id: i64,
        names: &[&str],
        digest: &str,
        kept: bool,
    ) -> crate::ScanPackageWrite {
        let mut w = facts_for(computer_id, if kept { &[] } else { names });
        w.computer.facts_digest = Some(digest.into());
        w.computer.facts_kept = kept;
        w
    }

    async fn facts_import_of(s: &SqliteStore, id: i64) -> (i64, String, i64) {
        sqlx::query_as(
            "SELECT facts_import_id, facts_digest, scan_time FROM computers WHERE id = ?",
        )
        .bind(id)
        .fetch_one(s.pool())
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_kept_computer_keeps_its_facts_and_nothing_is_superseded() {
        let (s, _d) = test_store().await;
        let one = start(&s).await;
        let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
        s.write_scan_packages(one, &[digested(a, &["bash", "zsh"], "d1", false)])
            .await
            .unwrap();
        assert!(s.publish_import(one, OPTS).await.unwrap());
        assert_eq!(
            s.published_facts_digests(&[a, a + 100]).await.unwrap(),
            HashMap::from([(a, "d1".to_string())])
        );

        // Import 2: a's facts kept (a later scan), b new.
        let two = start(&s).await;
        let ids = s.computer_ids(&[key("a"), key("b")]).await.unwrap();
        let b = ids[&key("b")];
        let mut kept = digested(a, &[], "d1", true);
        kept.computer.scan_time_ms += 86_400_000;
        s.write_scan_packages(two, &[kept, digested(b, &["vim"], "d2", false)])
            .await
            .unwrap();
        assert!(s.publish_import(two, OPTS).await.unwrap());
        assert_eq!(
            facts_import_of(&s, a).await,
            (one, "d1".into(), 1_795_867_200_000 + 86_400_000),
            "the same facts, the new scan time"
        );
        assert_eq!(count(&s, "SELECT COUNT(*) FROM superseded_facts").await, 0);
        assert_eq!(s.delete_superseded_facts(two).await.unwrap(), 0);
        assert_eq!(s.clean_leftovers().await.unwrap(), Leftovers::default());
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM installed_packages").await,
            3,
            "a's two (of import 1) and b's"
        );
        assert_eq!(
            s.leftover_counts().await.unwrap(),
            LeftoverCounts::default()
        );

        // A record that names the facts a computer shows deletes nothing.
        sqlx::query("INSERT INTO superseded_facts VALUES (?, ?, ?)")
            .bind(two)
            .bind(a)
            .bind(one)
            .execute(s.pool())
            .await
            .unwrap();
        assert_eq!(s.delete_superseded_facts(two).await.unwrap(), 0);
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM installed_packages").await,
            3
        );

        // Import 3 says a's facts are kept, but with another digest than the
        // published one: its publish fails and changes nothing.
        let three = start(&s).await;
        s.write_scan_packages(three, &[digested(a, &[], "d-other", true)])
            .await
            .unwrap();
        let err = s.publish_import(three, OPTS).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("published facts of 1 computers changed"),
            "{err}"
        );
        assert_eq!(facts_import_of(&s, a).await.0, one);
        assert_eq!(facts_import_of(&s, a).await.1, "d1");
    }

    #[tokio::test]
    async fn leftovers_of_crashed_or_failed_imports_are_deleted_but_never_an_active_ones() {
        let (s, _d) = test_store().await;
        // Import 1 publishes host a (2 facts).
        let one = start(&s).await;
        let ids = s.computer_ids(&[key("a")]).await.unwrap();
        let a = ids[&key("a")];
        s.write_scan_packages(one, &[facts_for(a, &["bash", "zsh"])])
            .await
            .unwrap();
        assert!(s.publish_import(one, OPTS).await.unwrap());
        // Import 2 publishes a newer scan of a (3 facts) and registered b,
        // which it never wrote; it "crashes" before its clean-up.
        let two = start(&s).await;
        let ids = s.computer_ids(&[key("a"), key("b")]).await.unwrap();
        s.write_scan_packages(two, &[facts_for(a, &["bash", "zsh", "vim"])])
            .await
            .unwrap();
        assert!(s.publish_import(two, OPTS).await.unwrap());
        let b = ids[&key("b")];
        // Import 3 writes host c, then stays active.
        let three = start(&s).await;
        let c = s.computer_ids(&[key("c")]).await.unwrap()[&key("c")];
        s.write_scan_packages(three, &[facts_for(c, &["emacs"])])
            .await
            .unwrap();
        let counts = s.leftover_counts().await.unwrap();
        assert_eq!(
            (counts.invisible_facts, counts.superseded_records),
            (2, 1),
            "import 1's facts await deletion; the active import's are not counted"
        );

        // While import 3 is active: only the superseded facts go.
        let done = s.clean_leftovers().await.unwrap();
        assert_eq!(
            done,
            Leftovers {
                superseded_facts: 2,
                unpublished_facts: 0,
                placeholder_computers: 0,
                unpublished_discovery: 0,
            }
        );
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM installed_packages").await,
            3 + 1
        );
        assert_eq!(count(&s, "SELECT COUNT(*) FROM computers").await, 3);

        // Import 3 fails, and its own discard never ran (a crash, an error).
        s.end_import(three, ImportStatus::Failed, Some("x"))
            .await
            .unwrap();
        let done = s.clean_leftovers().await.unwrap();
        assert_eq!(
            done,
            Leftovers {
                superseded_facts: 0,
                unpublished_facts: 1,
                placeholder_computers: 2,
                unpublished_discovery: 0,
            },
            "c's facts, and the never-published b and c"
        );
        assert_eq!(
            s.leftover_counts().await.unwrap(),
            LeftoverCounts::default()
        );
        assert_eq!(count(&s, "SELECT COUNT(*) FROM stage_computers").await, 0);
        assert_eq!(count(&s, "SELECT COUNT(*) FROM superseded_facts").await, 0);
        let visible: Vec<i64> = sqlx::query_scalar("SELECT id FROM computers")
            .fetch_all(s.pool())
            .await
            .unwrap();
        assert_eq!(visible, vec![a]);
        assert!(b != a && c != a);
        assert_eq!(
            count(
                &s,
                "SELECT COUNT(*) FROM installed_packages WHERE import_id = 2"
            )
            .await,
            3,
            "what is visible stays"
        );
        assert_eq!(s.import_fact_count(two).await.unwrap(), 3);
        // Idempotent.
        assert_eq!(s.clean_leftovers().await.unwrap(), Leftovers::default());
    }

    /// A host's VM-manager observation: the corpus's KVM domains
    /// (`virsh/dumpxml1`, `dumpxml2`) on the HP DL180 of `dmidecode/hp-dl180`.
    fn vm_scan(observed_at_ms: i64, guests: usize) -> crate::VmScanRow {
        let all = [
            (
                "d0f1baf3-ac9d-e828-619f-91f074c8c6c4",
                "Debian_Squeeze_64_bits",
                1,
            ),
            ("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", "vm2", 4),
        ];
        crate::VmScanRow {
            observed_at_ms,
            member: format!("0_vmman.tar.gz/vmman_scan_1_{}.xml", observed_at_ms / 1000),
            virtual_technology: Some("KVM_X86".into()),
            host_uuid: "00D3F681-FE8E-11D5-B656-1CC1DE0905AE".into(),
            host_name: Some("dl180".into()),
            cores: Some(4),
            active_sockets: Some(1),
            available_sockets: Some(1),
            guests: all[..guests]
                .iter()
                .map(|(u, n, v)| crate::VmGuestRow {
                    uuid: u.to_string(),
                    name: Some(n.to_string()),
                    vcpus: *v,
                })
                .collect(),
            ..crate::VmScanRow::default()
        }
    }

    #[tokio::test]
    async fn vm_observations_publish_with_their_import_and_keep_their_history() {
        let (s, _d) = test_store().await;
        let day = 86_400_000;
        let now = now_ms();
        let (t1, t2) = (now - 2 * day, now - day);
        let seen = |s: &SqliteStore| {
            let s = s.clone();
            async move {
                s.vm_observations_between(0, now + day)
                    .await
                    .unwrap()
                    .iter()
                    .map(|o| (o.import_id, o.observed_at_ms, o.guests.len()))
                    .collect::<Vec<_>>()
            }
        };
        // Import 1: host a, its identity and an observation at t1 with both guests.
        let one = start(&s).await;
        let a = s.computer_ids(&[key("a")]).await.unwrap()[&key("a")];
        let mut w = facts_for(a, &["qemu-kvm"]);
        w.computer.identity = crate::HardwareIdentityRow {
            system_uuid: Some("00D3F681-FE8E-11D5-B656-1CC1DE0905AE".into()),
            system_manufacturer: Some("HP".into()),
            system_product: Some("ProLiant DL180 G6".into()),
            system_serial: Some("CZJ02901TG".into()),
            socket_slots: Some(2),
            ..Default::default()
        };
        w.vm_scans = vec![vm_scan(t1, 2)];
        s.write_scan_packages(one, &[w.clone()]).await.unwrap();
        assert!(seen(&s).await.is_empty(), "invisible before the publish");
        assert!(s.computer_identities().await.unwrap().is_empty());
        assert!(s.publish_import(one, OPTS).await.unwrap());
        assert_eq!(seen(&s).await, vec![(one, t1, 2)]);
        let o = &s.vm_observations_between(t1, t1 + 1).await.unwrap()[0];
        assert_eq!(o.computer_id, a);
        assert_eq!(o.guests[1].uuid, "5e3884eb-0caa-194b-cd17-3d9ca1b20c3b");
        assert_eq!(
            (o.guests[1].name.as_deref(), o.guests[1].vcpus),
            (Some("vm2"), 4)
        );
        assert!(s
            .vm_observations_between(t1 + 1, now)
            .await
            .unwrap()
            .is_empty());
        let ids = s.computer_identities().await.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].identity, w.computer.identity);

        // Import 2: the same observation again (a copy) and a newer one with
        // one guest. Import 1's history stays; its copy is superseded.
        // An older package of the same host in the same import adds its own
        // observations only (and repeats t2): nothing of it is staged.
        let two = start(&s).await;
        w.vm_scans = vec![vm_scan(t1, 2), vm_scan(t2, 1)];
        let older = crate::ScanPackageWrite {
            computer: crate::StagedComputer {
                computer_id: a,
                ..crate::StagedComputer::default()
            },
            installed_packages: facts_for(a, &["ignored"]).installed_packages,
            vm_scans: vec![vm_scan(t2 - 1000, 2), vm_scan(t2, 1)],
            vm_only: true,
            ..Default::default()
        };
        s.write_scan_packages(two, &[w.clone(), older])
            .await
            .unwrap();
        assert_eq!(seen(&s).await, vec![(one, t1, 2)]);
        assert!(s.publish_import(two, OPTS).await.unwrap());
        assert_eq!(
            seen(&s).await,
            vec![(two, t1, 2), (two, t2 - 1000, 2), (two, t2, 1)],
            "one copy of each observation"
        );
        assert_eq!(
            s.computer_identities().await.unwrap()[0].identity,
            w.computer.identity,
            "the older package staged nothing"
        );
        assert_eq!(
            count(
                &s,
                "SELECT COUNT(*) FROM installed_packages WHERE import_id = 2"
            )
            .await,
            1
        );
        // Import 3 carries an observation only (an older one), which the
        // retention deletes at its publish, and one more recent.
        // It also carries an older package's observation of computer b,
        // whose own (newer) package was rejected: b is never shown, nor is that.
        let three = start(&s).await;
        let b = s.computer_ids(&[key("b")]).await.unwrap()[&key("b")];
        let old = now - (crate::VM_OBSERVATION_RETENTION_DAYS + 1) * day;
        w.vm_scans = vec![vm_scan(old, 2), vm_scan(now, 0)];
        let orphan = crate::ScanPackageWrite {
            computer: crate::StagedComputer {
                computer_id: b,
                ..crate::StagedComputer::default()
            },
            vm_scans: vec![vm_scan(now - 5000, 1)],
            vm_only: true,
            ..Default::default()
        };
        s.write_scan_packages(three, &[w.clone(), orphan])
            .await
            .unwrap();
        assert!(s.publish_import(three, OPTS).await.unwrap());
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM vm_host_scans WHERE published = 0").await,
            1,
            "b's observation stays invisible"
        );
        s.clean_leftovers().await.unwrap();
        assert_eq!(
            seen(&s).await,
            vec![
                (two, t1, 2),
                (two, t2 - 1000, 2),
                (two, t2, 1),
                (three, now, 0)
            ],
            "a host seen with no guest is an observation too"
        );
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM vm_guest_observations").await,
            5,
            "the superseded and expired scans' guests went with them"
        );
        // Import 4 fails: its observation never shows and is cleaned up.
        let four = start(&s).await;
        w.vm_scans = vec![vm_scan(now - 1000, 2)];
        s.write_scan_packages(four, &[w.clone()]).await.unwrap();
        s.end_import(four, ImportStatus::Failed, Some("x"))
            .await
            .unwrap();
        assert_eq!(
            s.leftover_counts().await.unwrap().invisible_facts,
            2,
            "import 4's package and its observation"
        );
        s.clean_leftovers().await.unwrap();
        assert_eq!(
            s.leftover_counts().await.unwrap(),
            LeftoverCounts::default()
        );
        assert_eq!(seen(&s).await.len(), 4);
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM vm_guest_observations").await,
            5
        );
    }
}
