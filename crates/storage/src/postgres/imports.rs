//! Imports on PostgreSQL: registration, steps, the scan packages an import
//! records, the publish, history and the clean-up of what unpublished
//! imports left. The behaviour is the SQLite engine's (`imports.rs`).
//!
//! One import pending or running in the whole database: the UNIQUE
//! `active_slot` column (1 while active, NULL after) decides, whichever
//! process registers. The publish locks its import's row (`FOR UPDATE`), so
//! that a cancel or failure recorded at the same moment either comes first
//! (the publish then sees the import inactive and changes nothing) or waits
//! for the publish's commit (and then finds nothing active to end).

use super::{PgStore, DB_NOW_MS};
use crate::imports::IMPORT_COLUMNS;
use crate::{
    from_ms, now_ms, ImportRow, LeftoverCounts, Leftovers, NewScanPackageRecord, PublishOptions,
    Published, PublishedScanPackage, RegistryState, Result, ScanPackageState,
    ScanPackageStateChange, StepCounters, StepRow, StoreError, StoredScanPackage, INTERRUPTED,
};
use openlmt_domain::{ImportStatus, ImportType, Trigger};
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::HashMap;

fn parse_enum<T: std::str::FromStr>(r: &PgRow, col: &str) -> Result<T> {
    let text: String = r.try_get(col)?;
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad {col} `{text}`")))
}

fn scan_state(text: &str) -> Result<ScanPackageState> {
    ScanPackageState::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("bad scan package state `{text}`")))
}

fn registry_state(text: &str) -> Result<RegistryState> {
    RegistryState::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("bad registry state `{text}`")))
}

pub(crate) fn row_to_import(r: &PgRow) -> Result<ImportRow> {
    let opt_time = |col: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
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

/// Records that an import ended (history retention may delete its row;
/// `any_import_ever` still knows).
async fn remember_imports_ever(tx: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('imports_ever', '1') ON CONFLICT (key) DO NOTHING",
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// Bumps the list generation inside a writing transaction (see
/// `list::bump_generation`).
pub(crate) async fn bump_generation(tx: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('list_generation', '1')
         ON CONFLICT (key) DO UPDATE SET value = (CAST(meta.value AS BIGINT) + 1)::TEXT",
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// The last of several records of one key wins, as with SQLite's
/// statement-per-row `INSERT OR REPLACE` (one PostgreSQL statement may not
/// change a row twice).
fn last_of_each<'a, T, K: std::hash::Hash + Eq>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut last: HashMap<K, usize> = HashMap::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        last.insert(key(r), i);
    }
    rows.iter()
        .enumerate()
        .filter(|(i, r)| last.get(&key(r)) == Some(i))
        .map(|(_, r)| r)
        .collect()
}

impl PgStore {
    pub async fn register_import(
        &self,
        import_type: ImportType,
        trigger: Trigger,
        requested_by: Option<&str>,
    ) -> Result<Option<ImportRow>> {
        // `WHERE NOT EXISTS` spares the identity a value in the usual case
        // of a taken slot; the unique key decides a race (`ON CONFLICT`
        // waits for the other transaction, then inserts nothing).
        let node = self.node();
        let id: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO imports (import_type, trigger, requested_by, status, active_slot,
               requested_at, node, lease_until)
             SELECT $1, $2, $3, 'pending', 1, $4, $5, {DB_NOW_MS} + $6
             WHERE NOT EXISTS (SELECT 1 FROM imports WHERE active_slot = 1)
             ON CONFLICT (active_slot) DO NOTHING
             RETURNING id"
        ))
        .bind(import_type.as_str())
        .bind(trigger.as_str())
        .bind(requested_by)
        .bind(now_ms())
        .bind(&node.name)
        .bind(node.lease_ms())
        .fetch_optional(&self.pool)
        .await?;
        match id {
            Some(id) => self.import(id).await,
            None => Ok(None),
        }
    }

    pub async fn import(&self, id: i64) -> Result<Option<ImportRow>> {
        sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.id = $1",
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
        // (SQLite sorts NULL first in ascending order, so last in this
        // descending one: PostgreSQL is told to do the same.)
        let success = sqlx::query(&format!(
            "SELECT {} FROM imports i WHERE i.status = 'successful'
             ORDER BY i.finished_at DESC NULLS LAST, i.id DESC LIMIT 1",
            *IMPORT_COLUMNS
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(|r| row_to_import(&r))
        .transpose()?;
        Ok((last, success))
    }

    pub async fn any_import_ever(&self) -> Result<bool> {
        if self.meta_get("imports_ever").await?.is_some() {
            return Ok(true);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports")
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn mark_running(&self, id: i64) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE imports SET status = 'running', started_at = $1, progress = 1
             WHERE id = $2 AND status = 'pending'",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn set_progress(&self, id: i64, progress: u8) -> Result<()> {
        sqlx::query("UPDATE imports SET progress = $1 WHERE id = $2 AND active_slot = 1")
            .bind(i64::from(progress))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn start_step(&self, id: i64, position: i64, name: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO import_steps (import_id, position, name, started_at)
             VALUES ($1, $2, $3, $4)
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

    pub async fn save_step(
        &self,
        id: i64,
        position: i64,
        c: StepCounters,
        finished: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE import_steps SET items_read = $1, items_imported = $2, items_rejected = $3,
               warnings = $4, finished_at = CASE WHEN $5 THEN $6 ELSE finished_at END
             WHERE import_id = $7 AND position = $8",
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
             FROM import_steps WHERE import_id = $1 ORDER BY position",
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

    /// One statement for the whole batch (its columns as arrays).
    pub async fn record_scan_packages(
        &self,
        id: i64,
        batch: &[NewScanPackageRecord],
    ) -> Result<()> {
        let rows = last_of_each(batch, |p| (p.data_source.as_str(), p.file_name.as_str()));
        if rows.is_empty() {
            return Ok(());
        }
        let col = |f: &dyn Fn(&NewScanPackageRecord) -> Option<String>| -> Vec<Option<String>> {
            rows.iter().map(|p| f(p)).collect()
        };
        sqlx::query(
            "INSERT INTO import_scan_packages
               (import_id, data_source, file_name, size, sha256, seen_at, state, reason,
                mtime_ns, endpoint_id, scan_time)
             SELECT $1, * FROM UNNEST($2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[],
                                      $6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::BIGINT[],
                                      $10::TEXT[], $11::BIGINT[])
             ON CONFLICT (import_id, data_source, file_name) DO UPDATE SET
               size = excluded.size, sha256 = excluded.sha256, seen_at = excluded.seen_at,
               state = excluded.state, reason = excluded.reason, mtime_ns = excluded.mtime_ns,
               endpoint_id = excluded.endpoint_id, scan_time = excluded.scan_time",
        )
        .bind(id)
        .bind(
            rows.iter()
                .map(|p| p.data_source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|p| p.file_name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|p| p.size).collect::<Vec<_>>())
        .bind(rows.iter().map(|p| p.sha256.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|p| p.seen_at.timestamp_millis())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|p| p.state.as_str()).collect::<Vec<_>>())
        .bind(col(&|p| p.reason.clone()))
        .bind(rows.iter().map(|p| p.mtime_ns).collect::<Vec<_>>())
        .bind(col(&|p| p.endpoint_id.clone()))
        .bind(
            rows.iter()
                .map(|p| p.scan_time.map(|t| t.timestamp_millis()))
                .collect::<Vec<_>>(),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn set_scan_package_states(
        &self,
        id: i64,
        changes: &[ScanPackageStateChange],
    ) -> Result<()> {
        let rows = last_of_each(changes, |c| (c.data_source.as_str(), c.file_name.as_str()));
        if rows.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE import_scan_packages p SET state = c.state, reason = c.reason,
               sha256 = CASE WHEN c.forget THEN '' ELSE p.sha256 END
             FROM UNNEST($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BOOLEAN[])
               AS c (data_source, file_name, state, reason, forget)
             WHERE p.import_id = $1 AND p.data_source = c.data_source
               AND p.file_name = c.file_name",
        )
        .bind(id)
        .bind(
            rows.iter()
                .map(|c| c.data_source.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|c| c.file_name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|c| c.state.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.reason.clone()).collect::<Vec<_>>())
        .bind(rows.iter().map(|c| c.forget_content).collect::<Vec<_>>())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn import_scan_packages(
        &self,
        id: i64,
        state: Option<ScanPackageState>,
    ) -> Result<Vec<StoredScanPackage>> {
        let rows = sqlx::query(
            "SELECT data_source, file_name, size, sha256, seen_at, state, reason, mtime_ns,
                    endpoint_id, scan_time
             FROM import_scan_packages WHERE import_id = $1 AND ($2::TEXT IS NULL OR state = $2)
             ORDER BY data_source COLLATE \"C\", file_name COLLATE \"C\"",
        )
        .bind(id)
        .bind(state.map(|s| s.as_str()))
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
                    state: scan_state(r.try_get(5)?)?,
                    reason: r.try_get(6)?,
                    mtime_ns: r.try_get(7)?,
                    endpoint_id: r.try_get(8)?,
                    scan_time: r.try_get::<Option<i64>, _>(9)?.map(from_ms),
                })
            })
            .collect()
    }

    pub async fn published_scan_packages(
        &self,
        data_source: &str,
    ) -> Result<HashMap<String, PublishedScanPackage>> {
        let rows = sqlx::query(
            "SELECT file_name, size, sha256, mtime_ns, state, reason
             FROM scan_packages WHERE data_source = $1",
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
                        state: registry_state(r.try_get(4)?)?,
                        reason: r.try_get(5)?,
                    },
                ))
            })
            .collect()
    }

    pub async fn publish_import(&self, id: i64, opts: PublishOptions) -> Result<bool> {
        Ok(self
            .publish_import_then(id, opts, async {})
            .await?
            .is_some())
    }

    /// [`PgStore::publish_import`], awaiting `before_commit` inside the
    /// transaction, after its last statement and before its commit.
    pub async fn publish_import_then(
        &self,
        id: i64,
        opts: PublishOptions,
        before_commit: impl std::future::Future<Output = ()>,
    ) -> Result<Option<Published>> {
        let mut tx = self.tx().await?;
        let now = now_ms();
        // Fencing: an import whose lease has passed (by the database's
        // clock) publishes nothing; the row lock keeps another node's
        // `expire_leases` from ending it while this transaction runs.
        let active: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT id FROM imports WHERE id = $1 AND active_slot = 1
               AND (lease_until IS NULL OR lease_until >= {DB_NOW_MS}) FOR UPDATE"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(None);
        }
        super::inventory::publish_inventory(&mut tx, id, &opts).await?;
        let software = match (&opts.discovery, opts.complete) {
            (Some(catalog), true) => {
                Some(super::software::publish_software(&mut tx, id, catalog).await?)
            }
            _ => None,
        };
        let license = if opts.complete {
            super::license::publish_license(
                &mut tx,
                self.calculator().as_deref(),
                id,
                opts.license_retention_days,
            )
            .await?
        } else {
            None
        };
        let as_published = |s: ScanPackageState| s.published_as().map(|r| r.as_str());
        sqlx::query(
            "INSERT INTO scan_packages (data_source, file_name, size, sha256, first_seen,
               imported_at, import_id, state, reason, mtime_ns)
             SELECT data_source, file_name, size, sha256, seen_at, $1, import_id,
               CASE state WHEN $3 THEN $4 WHEN $5 THEN $6 WHEN $7 THEN $8 END, reason, mtime_ns
             FROM import_scan_packages
             WHERE import_id = $2
               AND (state IN ($3, $5) OR (state = $7 AND sha256 != ''))
             ON CONFLICT (data_source, file_name) DO UPDATE SET
               size = excluded.size, sha256 = excluded.sha256,
               imported_at = excluded.imported_at, import_id = excluded.import_id,
               state = excluded.state, reason = excluded.reason, mtime_ns = excluded.mtime_ns",
        )
        .bind(now)
        .bind(id)
        .bind(ScanPackageState::New.as_str())
        .bind(as_published(ScanPackageState::New))
        .bind(ScanPackageState::SkippedOlder.as_str())
        .bind(as_published(ScanPackageState::SkippedOlder))
        .bind(ScanPackageState::Rejected.as_str())
        .bind(as_published(ScanPackageState::Rejected))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE imports SET status = 'successful', active_slot = NULL, finished_at = $1,
               progress = 100, error = NULL WHERE id = $2",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        remember_imports_ever(&mut tx).await?;
        bump_generation(&mut tx).await?;
        before_commit.await;
        tx.commit().await?;
        Ok(Some(Published { software, license }))
    }

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
        let mut tx = self.tx().await?;
        sqlx::query(
            "UPDATE imports SET status = $1, active_slot = NULL, finished_at = $2, error = $3
             WHERE id = $4 AND active_slot = 1",
        )
        .bind(status.as_str())
        .bind(now_ms())
        .bind(error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        remember_imports_ever(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The active import is this server's when it names this node (or no
    /// node, or has no lease): this server stopped during it. Another
    /// node's import is left to its lease ([`PgStore::expire_leases`]).
    pub async fn recover_interrupted(&self) -> Result<Vec<i64>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM imports WHERE active_slot = 1
               AND (node IS NULL OR node = $1 OR lease_until IS NULL)",
        )
        .bind(&self.node().name)
        .fetch_all(&self.pool)
        .await?;
        for id in &ids {
            self.end_import(*id, ImportStatus::Failed, Some(INTERRUPTED))
                .await?;
        }
        Ok(ids)
    }

    pub async fn list_imports(&self, limit: i64, offset: i64) -> Result<(i64, Vec<ImportRow>)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM imports")
            .fetch_one(&self.pool)
            .await?;
        // (SQLite reads a negative LIMIT as none and a negative OFFSET as
        // zero; PostgreSQL refuses both.)
        let rows = sqlx::query(&format!(
            "SELECT {} FROM imports i ORDER BY i.id DESC LIMIT $1 OFFSET $2",
            *IMPORT_COLUMNS
        ))
        .bind((limit >= 0).then_some(limit))
        .bind(offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        Ok((
            total,
            rows.iter().map(row_to_import).collect::<Result<_>>()?,
        ))
    }

    pub async fn prune_imports(&self, keep: i64) -> Result<Vec<i64>> {
        let mut tx = self.tx().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM imports WHERE active_slot IS NULL
               AND id NOT IN (SELECT id FROM imports ORDER BY id DESC LIMIT $1)
             RETURNING id",
        )
        .bind(keep.max(1))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut ids = ids;
        ids.sort_unstable();
        Ok(ids)
    }

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
        done.unpublished_facts += sqlx::query(
            "DELETE FROM vm_host_scans WHERE published = 0 AND NOT EXISTS
               (SELECT 1 FROM imports i WHERE i.id = vm_host_scans.import_id AND i.active_slot = 1)",
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        done.unpublished_discovery = self.discard_unpublished_discovery().await?;
        done.unpublished_discovery += self.discard_unpublished_license_snapshots().await?;
        self.ensure_instance_indexes().await?;
        // One statement: an import registered meanwhile keeps its new
        // computers. (Under READ COMMITTED the statement's snapshot is
        // taken at its start: an import registered after it and its
        // computer rows are not seen, so not deleted.)
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

    pub async fn import_fact_count(&self, import_id: i64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM installed_packages WHERE import_id = $1)
                  + (SELECT COUNT(*) FROM swid_facts WHERE import_id = $1)",
        )
        .bind(import_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

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

    // ---- what unpublished discoveries and licence snapshots left ----

    pub async fn discard_unpublished_discovery(&self) -> Result<u64> {
        let mut deleted = 0;
        for table in ["stage_instances", "stage_discovery"] {
            deleted += sqlx::query(&format!(
                "DELETE FROM {table} WHERE NOT EXISTS
                   (SELECT 1 FROM imports i WHERE i.id = {table}.import_id AND i.active_slot = 1)"
            ))
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        let dead: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT u.import_id, u.first_id FROM unpublished_discoveries u WHERE NOT EXISTS
               (SELECT 1 FROM imports i WHERE i.id = u.import_id AND i.active_slot = 1)",
        )
        .fetch_all(&self.pool)
        .await?;
        for (import_id, first_id) in dead {
            let mut tx = self.tx().await?;
            deleted += sqlx::query(
                "DELETE FROM software_instances WHERE id >= $1 AND start_import_id = $2",
            )
            .bind(first_id)
            .bind(import_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM unpublished_discoveries WHERE import_id = $1")
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }

    pub async fn unpublished_discovery_rows(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM stage_instances s WHERE NOT EXISTS
                      (SELECT 1 FROM imports i WHERE i.id = s.import_id AND i.active_slot = 1))
                  + (SELECT COUNT(*) FROM stage_discovery s WHERE NOT EXISTS
                      (SELECT 1 FROM imports i WHERE i.id = s.import_id AND i.active_slot = 1))
                  + (SELECT COUNT(*) FROM software_instances i
                      JOIN unpublished_discoveries u ON u.import_id = i.start_import_id
                      WHERE NOT EXISTS (SELECT 1 FROM imports m
                        WHERE m.id = u.import_id AND m.active_slot = 1))",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    pub async fn drop_instance_product_index(&self) -> Result<()> {
        sqlx::query("DROP INDEX IF EXISTS software_instances_by_product")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Looks the index up first: `CREATE INDEX IF NOT EXISTS` would lock
    /// the table against writes (waiting for those under way) even when
    /// the index exists, and the clean-up calls this while an import may
    /// be writing.
    pub async fn ensure_instance_indexes(&self) -> Result<()> {
        let exists: Option<i32> = sqlx::query_scalar(
            "SELECT 1 FROM pg_indexes
             WHERE schemaname = current_schema() AND indexname = 'software_instances_by_product'",
        )
        .fetch_optional(&self.pool)
        .await?;
        if exists.is_some() {
            return Ok(());
        }
        sqlx::query(
            "CREATE INDEX IF NOT EXISTS software_instances_by_product
             ON software_instances (product_id, computer_id)",
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn discard_unpublished_license_snapshots(&self) -> Result<u64> {
        let mut tx = self.tx().await?;
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
}
