//! The software inventory: the operator's catalog layer, what a complete
//! import's discovery step stages, and how its publish applies it (see
//! migrations/sqlite/0007_software.sql for the tables and the rules).
//!
//! Visibility: discovery inserts the instances it finds for the first time
//! straight into `software_instances` under its import id, hidden while the
//! import is listed in `unpublished_discoveries`, and stages changes to
//! stored instances in `stage_instances`; the import's publish transaction
//! ([`publish_software`]) removes the listing and applies the changes. A
//! failed, cancelled or interrupted import's rows are deleted by
//! [`Store::clean_leftovers`] (by id range).

use crate::{now_ms, Result, SqliteStore, StoreError};
use sqlx::Row;
use std::collections::HashMap;

/// The operator's catalog layer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogLayerRow {
    pub catalog_version: String,
    /// The JSON document as accepted.
    pub document: String,
    /// When it was set (Unix ms).
    pub set_at: i64,
    /// Who set it (a user name, or `cli` for `openlmt catalog import`).
    pub set_by: Option<String>,
}

/// The catalog the software inventory was discovered with, as the publish
/// stores it (`inventory_products`, `inventory_components`,
/// `inventory_bundling_options`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryCatalog {
    /// Identifies the effective catalog (both layers); the publish rewrites
    /// the catalog tables only when it differs from the one in force.
    pub hash: String,
    /// A human-readable version: the bundled layer's, plus the operator's.
    pub version: String,
    pub products: Vec<InventoryProduct>,
    pub components: Vec<InventoryComponent>,
    pub options: Vec<InventoryOption>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryProduct {
    pub id: String,
    pub publisher: String,
    pub name: String,
    pub release: Option<String>,
    /// `PVU`, `RVU_MAPC`, `VPC` or none.
    pub metric: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryComponent {
    pub id: String,
    pub name: String,
    pub release: Option<String>,
    pub publisher: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryOption {
    pub component_id: String,
    pub product_id: String,
    pub charged: bool,
}

/// The catalog in force for the software inventory (meta keys written by
/// the publish that applied it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryCatalogInfo {
    pub hash: String,
    pub version: String,
    /// When the publish that applied it committed (Unix ms).
    pub applied_at: i64,
    /// The import whose publish applied it.
    pub import_id: i64,
}

/// A computer that discovery must match again, and the facts to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiscoveryTarget {
    pub computer_id: i64,
    /// The import whose facts the computer shows once this import publishes.
    pub facts_import_id: i64,
}

/// One installed package, as discovery reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactPackage {
    /// `dpkg` or `rpm`.
    pub source: String,
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
    pub vendor: Option<String>,
}

/// One SWID tag, as discovery reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactTag {
    pub tag_id: String,
    pub name: String,
    pub version: Option<String>,
    pub regid: Option<String>,
    pub persistent_id: Option<String>,
    pub directory: Option<String>,
}

/// One computer's facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComputerFactSet {
    pub packages: Vec<FactPackage>,
    pub tags: Vec<FactTag>,
}

/// A stored (visible) instance, as discovery and bundling need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentInstance {
    pub instance_id: i64,
    pub computer_id: i64,
    pub component_id: String,
    pub discovery_path: String,
    pub is_present: bool,
    pub is_confirmed: bool,
    pub values: InstanceValues,
}

/// What discovery sets on an instance: its evidence and its assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceValues {
    pub signature_kind: String,
    /// `swid`, `dpkg` or `rpm`.
    pub evidence_source: String,
    pub evidence_name: String,
    pub evidence_version: Option<String>,
    pub detailed_version: Option<String>,
    pub product_id: Option<String>,
    pub is_charged: bool,
    pub bundling_rule: Option<i64>,
    pub bundling_details: Option<String>,
}

/// An instance discovery found for the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    pub computer_id: i64,
    pub component_id: String,
    pub discovery_path: String,
    pub values: InstanceValues,
}

/// A change discovery makes to a stored instance.
// (`Ended` is small next to `Found`; a chunk's changes are few, most
// instances are unchanged or new: boxing the values would only add an
// allocation per change.)
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceChange {
    /// Found (again), with these values (a confirmed or manual assignment
    /// is kept whatever `values` says); `moved_to` when it is now found in
    /// another discovery path (its id and classification go with it).
    Found {
        instance_id: i64,
        values: InstanceValues,
        moved_to: Option<String>,
    },
    /// Present before, not found now.
    Ended { instance_id: i64 },
}

/// What a publish did to the software inventory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftwarePublished {
    /// Computers whose instances were replaced by what discovery found.
    pub computers: u64,
    /// Stored instances found again or with new evidence or assignment.
    pub changed_instances: u64,
    /// Instances no longer found (now history).
    pub ended_instances: u64,
    /// Whether the catalog tables were rewritten.
    pub catalog_changed: bool,
}

/// Rows of imports whose discovery is not published are invisible (see
/// migration 0007); every read of `software_instances` (alias `i`) applies it.
pub(crate) const VISIBLE_INSTANCE: &str = visible_instance!();

const META_HASH: &str = "inventory_catalog_hash";
const META_VERSION: &str = "inventory_catalog_version";
const META_APPLIED_AT: &str = "inventory_catalog_applied_at";
const META_IMPORT: &str = "inventory_catalog_import_id";

impl SqliteStore {
    /// The operator's catalog layer, if one was set.
    pub async fn operator_catalog(&self) -> Result<Option<CatalogLayerRow>> {
        let row = sqlx::query(
            "SELECT catalog_version, document, set_at, set_by FROM catalog_layers
             WHERE layer = 'operator'",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(CatalogLayerRow {
                catalog_version: r.try_get(0)?,
                document: r.try_get(1)?,
                set_at: r.try_get(2)?,
                set_by: r.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Replaces the operator's catalog layer (the caller validated it
    /// whole). Takes effect at the next complete import.
    pub async fn set_operator_catalog(
        &self,
        catalog_version: &str,
        document: &str,
        set_by: &str,
    ) -> Result<CatalogLayerRow> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO catalog_layers (layer, catalog_version, document, set_at, set_by)
             VALUES ('operator', ?1, ?2, ?3, ?4)
             ON CONFLICT (layer) DO UPDATE SET catalog_version = excluded.catalog_version,
               document = excluded.document, set_at = excluded.set_at, set_by = excluded.set_by",
        )
        .bind(catalog_version)
        .bind(document)
        .bind(now)
        .bind(set_by)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(CatalogLayerRow {
            catalog_version: catalog_version.to_string(),
            document: document.to_string(),
            set_at: now,
            set_by: Some(set_by.to_string()),
        })
    }

    /// The catalog the software inventory was last discovered with.
    pub async fn inventory_catalog(&self) -> Result<Option<InventoryCatalogInfo>> {
        let mut conn = self.pool.acquire().await?;
        inventory_catalog_in(&mut conn).await
    }

    /// The computers a complete import must (re-)discover: those it staged
    /// and every published one whose facts changed since their last
    /// discovery (a raw-data-only import published new facts without
    /// discovering them), or every one when `all` (the catalog changed).
    /// Sorted by computer id.
    pub async fn discovery_targets(
        &self,
        import_id: i64,
        all: bool,
    ) -> Result<Vec<DiscoveryTarget>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, facts FROM (
               SELECT c.id AS id,
                 CASE WHEN s.computer_id IS NOT NULL AND s.facts_kept = 0 THEN ?1
                      ELSE c.facts_import_id END AS facts,
                 c.discovered_facts_import_id AS discovered
               FROM computers c
               LEFT JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = ?1
               WHERE s.computer_id IS NOT NULL
                  OR (c.published = 1 AND c.facts_import_id IS NOT NULL))
             WHERE ?2 OR discovered IS NULL OR discovered != facts
             ORDER BY id",
        )
        .bind(import_id)
        .bind(all)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(computer_id, facts_import_id)| DiscoveryTarget {
                computer_id,
                facts_import_id,
            })
            .collect())
    }

    /// The facts of several computers (each at its facts import), read in
    /// one snapshot, in the order of `targets`.
    pub async fn computer_fact_sets(
        &self,
        targets: &[DiscoveryTarget],
    ) -> Result<Vec<ComputerFactSet>> {
        let mut tx = self.read_tx().await?;
        let mut out = Vec::with_capacity(targets.len());
        {
            let mut handle = tx.lock_handle().await?;
            // SAFETY: as in `inventory::write_batch`: the handle is a live
            // connection that sqlx's worker does not touch while `handle` is
            // held; `conn` is dropped at the end of this block (finalizing
            // its statements) and never closes the handle.
            let conn =
                unsafe { rusqlite::Connection::from_handle(handle.as_raw_handle().as_ptr()) }?;
            let mut packages = conn.prepare_cached(
                "SELECT source, name, version, architecture, vendor FROM installed_packages
                 WHERE computer_id = ?1 AND import_id = ?2",
            )?;
            let mut tags = conn.prepare_cached(
                "SELECT tag_id, name, version, regid, persistent_id, directory FROM swid_facts
                 WHERE computer_id = ?1 AND import_id = ?2",
            )?;
            for t in targets {
                let mut set = ComputerFactSet::default();
                let mut rows = packages.query([t.computer_id, t.facts_import_id])?;
                while let Some(r) = rows.next()? {
                    set.packages.push(FactPackage {
                        source: r.get(0)?,
                        name: r.get(1)?,
                        version: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                        architecture: r.get(3)?,
                        vendor: r.get(4)?,
                    });
                }
                let mut rows = tags.query([t.computer_id, t.facts_import_id])?;
                while let Some(r) = rows.next()? {
                    set.tags.push(FactTag {
                        tag_id: r.get(0)?,
                        name: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                        version: r.get(2)?,
                        regid: r.get(3)?,
                        persistent_id: r.get(4)?,
                        directory: r.get(5)?,
                    });
                }
                out.push(set);
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    /// The stored instances of these computers, present or not, by computer.
    pub async fn current_instances(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<CurrentInstance>>> {
        let mut out: HashMap<i64, Vec<CurrentInstance>> = HashMap::new();
        for chunk in computer_ids.chunks(500) {
            let marks = vec!["?"; chunk.len()].join(",");
            let sql = format!(
                "SELECT i.id, i.computer_id, i.component_id, i.discovery_path, i.is_present,
                   i.product_id, i.is_charged, i.bundling_rule, i.bundling_details,
                   i.is_confirmed, i.signature_kind, i.evidence_source, i.evidence_name,
                   i.evidence_version, i.detailed_version
                 FROM software_instances i WHERE i.computer_id IN ({marks}) AND {VISIBLE_INSTANCE}
                 ORDER BY i.id"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(&self.pool).await? {
                let i = CurrentInstance {
                    instance_id: r.try_get(0)?,
                    computer_id: r.try_get(1)?,
                    component_id: r.try_get(2)?,
                    discovery_path: r.try_get(3)?,
                    is_present: r.try_get(4)?,
                    is_confirmed: r.try_get(9)?,
                    values: InstanceValues {
                        product_id: r.try_get(5)?,
                        is_charged: r.try_get(6)?,
                        bundling_rule: r.try_get(7)?,
                        bundling_details: r.try_get(8)?,
                        signature_kind: r.try_get(10)?,
                        evidence_source: r.try_get(11)?,
                        evidence_name: r.try_get(12)?,
                        evidence_version: r.try_get(13)?,
                        detailed_version: r.try_get(14)?,
                    },
                };
                out.entry(i.computer_id).or_default().push(i);
            }
        }
        Ok(out)
    }

    /// Drops the instances' product index: while a discovery inserts
    /// millions of new instances (a first import, a changed catalog), each
    /// insert would touch a random page of it; building it once afterwards
    /// ([`Store::ensure_instance_indexes`]) costs a fraction of that. Only
    /// read speed depends on it, never a result.
    pub async fn drop_instance_product_index(&self) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DROP INDEX IF EXISTS software_instances_by_product")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Creates the instances' product index if it is missing (after a bulk
    /// discovery, or at start-up when a crash came between its drop and its
    /// creation).
    pub async fn ensure_instance_indexes(&self) -> Result<()> {
        let mut tx = self.write_tx().await?;
        // The build sorts every instance's key: SQLite's sorter may use a
        // thread per core for it (`PRAGMA threads`, per connection; 0, its
        // default, sorts on the calling thread alone). Its helper threads
        // inherit the calling worker's CPU priority (the import's, after a
        // bulk discovery).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        sqlx::query(&format!("PRAGMA threads = {cores}"))
            .execute(&mut *tx)
            .await?;
        let built = sqlx::query(
            "CREATE INDEX IF NOT EXISTS software_instances_by_product
             ON software_instances (product_id, computer_id)",
        )
        .execute(&mut *tx)
        .await;
        // The connection goes back to the pool as it came.
        sqlx::query("PRAGMA threads = 0").execute(&mut *tx).await?;
        built?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks the import's discovery as unpublished before it inserts any
    /// instance: its new rows stay invisible until its publish (or are
    /// deleted by the clean-up if it never publishes).
    pub async fn begin_discovery(&self, import_id: i64) -> Result<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT OR REPLACE INTO unpublished_discoveries (import_id, first_id)
             VALUES (?1, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'software_instances'), 0) + 1)",
        )
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Writes what discovery found on `targets`: the instances found for
    /// the first time (inserted, invisible until the publish, see
    /// [`Store::begin_discovery`]) and the changes to stored instances
    /// (staged for the publish).
    pub async fn stage_discovery(
        &self,
        import_id: i64,
        targets: &[DiscoveryTarget],
        new: &[NewInstance],
        changes: &[InstanceChange],
    ) -> Result<()> {
        let now = now_ms();
        // Written as the read step writes facts (see `bulk_write`): the
        // discovery step checkpoints beside it.
        crate::inventory::bulk_write(&self.pool, |conn| {
            let mut target = conn.prepare_cached(
                "INSERT OR REPLACE INTO stage_discovery (import_id, computer_id, facts_import_id)
                 VALUES (?1, ?2, ?3)",
            )?;
            for t in targets {
                target.execute(rusqlite::params![
                    import_id,
                    t.computer_id,
                    t.facts_import_id
                ])?;
            }
            crate::inventory::insert_rows(
                conn,
                "software_instances",
                &NEW_INSTANCE_COLUMNS,
                import_id,
                new,
                |st, at, n| {
                    let v = &n.values;
                    st.raw_bind_parameter(at, n.computer_id)?;
                    st.raw_bind_parameter(at + 1, n.component_id.as_str())?;
                    st.raw_bind_parameter(at + 2, n.discovery_path.as_str())?;
                    st.raw_bind_parameter(at + 3, v.signature_kind.as_str())?;
                    st.raw_bind_parameter(at + 4, v.evidence_source.as_str())?;
                    st.raw_bind_parameter(at + 5, v.evidence_name.as_str())?;
                    st.raw_bind_parameter(at + 6, v.evidence_version.as_deref())?;
                    st.raw_bind_parameter(at + 7, v.detailed_version.as_deref())?;
                    st.raw_bind_parameter(at + 8, now)?;
                    st.raw_bind_parameter(at + 9, v.product_id.as_deref())?;
                    st.raw_bind_parameter(at + 10, v.is_charged)?;
                    st.raw_bind_parameter(at + 11, v.bundling_rule)?;
                    st.raw_bind_parameter(at + 12, v.bundling_details.as_deref())?;
                    st.raw_bind_parameter(at + 13, true)
                },
            )?;
            let mut ins = conn.prepare_cached(
                "INSERT OR REPLACE INTO stage_instances (import_id, instance_id, ended,
                   signature_kind, evidence_source, evidence_name, evidence_version,
                   detailed_version, product_id, is_charged, bundling_rule, bundling_details,
                   discovery_path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?;
            for c in changes {
                match c {
                    InstanceChange::Ended { instance_id } => {
                        ins.execute(rusqlite::params![
                            import_id,
                            instance_id,
                            true,
                            None::<String>,
                            None::<String>,
                            None::<String>,
                            None::<String>,
                            None::<String>,
                            None::<String>,
                            None::<bool>,
                            None::<i64>,
                            None::<String>,
                            None::<String>,
                        ])?;
                    }
                    InstanceChange::Found {
                        instance_id,
                        values: v,
                        moved_to,
                    } => {
                        ins.execute(rusqlite::params![
                            import_id,
                            instance_id,
                            false,
                            v.signature_kind,
                            v.evidence_source,
                            v.evidence_name,
                            v.evidence_version,
                            v.detailed_version,
                            v.product_id,
                            v.is_charged,
                            v.bundling_rule,
                            v.bundling_details,
                            moved_to,
                        ])?;
                    }
                }
            }
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Deletes what the discovery of imports that are not active left (a
    /// failed, cancelled or crashed import): their staged changes and the
    /// instances they inserted, by id range. Returns the rows deleted.
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
            let mut tx = self.write_tx().await?;
            deleted +=
                sqlx::query("DELETE FROM software_instances WHERE id >= ? AND start_import_id = ?")
                    .bind(first_id)
                    .bind(import_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("DELETE FROM unpublished_discoveries WHERE import_id = ?")
                .bind(import_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(deleted)
    }

    /// Rows that unpublished discoveries of imports no longer active left
    /// (zero once cleaned), for checks and tests.
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
}

/// The columns of a new instance (the import id is written into the
/// statement as `start_import_id`).
const NEW_INSTANCE_COLUMNS: [&str; 15] = [
    "computer_id",
    "start_import_id",
    "component_id",
    "discovery_path",
    "signature_kind",
    "evidence_source",
    "evidence_name",
    "evidence_version",
    "detailed_version",
    "discovery_start",
    "product_id",
    "is_charged",
    "bundling_rule",
    "bundling_details",
    "is_present",
];

/// The software part of a complete import's publish, inside its
/// transaction: the catalog tables (when the catalog changed), then, for
/// every computer discovery staged, the instances no longer found become
/// history, those found again come back, new ones are inserted; an
/// assignment that is confirmed or manual (rule 1) is never overwritten.
pub(crate) async fn publish_software(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    import_id: i64,
    catalog: &InventoryCatalog,
) -> Result<SoftwarePublished> {
    let now = now_ms();
    let mut done = SoftwarePublished::default();
    let current: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
        .bind(META_HASH)
        .fetch_optional(&mut **tx)
        .await?;
    if current.as_deref() != Some(catalog.hash.as_str()) {
        done.catalog_changed = true;
        write_catalog(tx, catalog).await?;
    }
    for (k, v) in [
        (META_HASH, catalog.hash.clone()),
        (META_VERSION, catalog.version.clone()),
        (META_APPLIED_AT, now.to_string()),
        (META_IMPORT, import_id.to_string()),
    ] {
        sqlx::query("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
            .bind(k)
            .bind(v)
            .execute(&mut **tx)
            .await?;
    }
    // The instances discovery inserted become visible.
    sqlx::query("DELETE FROM unpublished_discoveries WHERE import_id = ?")
        .bind(import_id)
        .execute(&mut **tx)
        .await?;
    done.ended_instances = sqlx::query(
        "UPDATE software_instances SET is_present = 0, discovery_end = ?2, end_import_id = ?1
         FROM (SELECT instance_id FROM stage_instances WHERE import_id = ?1 AND ended = 1) AS s
         WHERE software_instances.id = s.instance_id AND software_instances.is_present = 1",
    )
    .bind(import_id)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    // A confirmed or manual (rule 1) assignment is never overwritten.
    done.changed_instances = sqlx::query(
        "UPDATE software_instances SET
           signature_kind = s.signature_kind, evidence_source = s.evidence_source,
           evidence_name = s.evidence_name, evidence_version = s.evidence_version,
           detailed_version = s.detailed_version,
           discovery_path = COALESCE(s.discovery_path, software_instances.discovery_path),
           is_present = 1, discovery_end = NULL, end_import_id = NULL,
           product_id = CASE WHEN software_instances.is_confirmed = 1
             OR software_instances.bundling_rule = 1 THEN software_instances.product_id
             ELSE s.product_id END,
           is_charged = CASE WHEN software_instances.is_confirmed = 1
             OR software_instances.bundling_rule = 1 THEN software_instances.is_charged
             ELSE s.is_charged END,
           bundling_details = CASE WHEN software_instances.is_confirmed = 1
             OR software_instances.bundling_rule = 1 THEN software_instances.bundling_details
             ELSE s.bundling_details END,
           bundling_rule = CASE WHEN software_instances.is_confirmed = 1
             OR software_instances.bundling_rule = 1 THEN software_instances.bundling_rule
             ELSE s.bundling_rule END
         FROM (SELECT * FROM stage_instances WHERE import_id = ?1 AND ended = 0) AS s
         WHERE software_instances.id = s.instance_id",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    done.computers = sqlx::query(
        "UPDATE computers SET discovered_facts_import_id = s.facts_import_id
         FROM (SELECT computer_id, facts_import_id FROM stage_discovery WHERE import_id = ?1) AS s
         WHERE computers.id = s.computer_id",
    )
    .bind(import_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    for table in ["stage_instances", "stage_discovery"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE import_id = ?"))
            .bind(import_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(done)
}

/// Rewrites the catalog tables to `catalog`, keeping rows it dropped as
/// `in_catalog = 0`.
async fn write_catalog(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    catalog: &InventoryCatalog,
) -> Result<()> {
    sqlx::query("UPDATE inventory_products SET in_catalog = 0")
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE inventory_components SET in_catalog = 0")
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM inventory_bundling_options")
        .execute(&mut **tx)
        .await?;
    for p in &catalog.products {
        sqlx::query(
            "INSERT INTO inventory_products (id, publisher, name, release, metric, in_catalog, num)
             VALUES (?1, ?2, ?3, ?4, ?5, 1,
                     (SELECT COALESCE(MAX(num), 0) + 1 FROM inventory_products))
             ON CONFLICT (id) DO UPDATE SET publisher = excluded.publisher,
               name = excluded.name, release = excluded.release, metric = excluded.metric,
               in_catalog = 1",
        )
        .bind(&p.id)
        .bind(&p.publisher)
        .bind(&p.name)
        .bind(&p.release)
        .bind(&p.metric)
        .execute(&mut **tx)
        .await?;
    }
    for c in &catalog.components {
        sqlx::query(
            "INSERT INTO inventory_components (id, name, release, publisher, in_catalog)
             VALUES (?1, ?2, ?3, ?4, 1)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, release = excluded.release,
               publisher = excluded.publisher, in_catalog = 1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.release)
        .bind(&c.publisher)
        .execute(&mut **tx)
        .await?;
    }
    for o in &catalog.options {
        sqlx::query(
            "INSERT OR REPLACE INTO inventory_bundling_options (component_id, product_id, charged)
             VALUES (?1, ?2, ?3)",
        )
        .bind(&o.component_id)
        .bind(&o.product_id)
        .bind(o.charged)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// The catalog the software inventory was last discovered with, read on
/// `conn` (a transaction's, for one snapshot with other reads).
pub(crate) async fn inventory_catalog_in(
    conn: &mut sqlx::SqliteConnection,
) -> Result<Option<InventoryCatalogInfo>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM meta WHERE key IN (?1, ?2, ?3, ?4)")
            .bind(META_HASH)
            .bind(META_VERSION)
            .bind(META_APPLIED_AT)
            .bind(META_IMPORT)
            .fetch_all(&mut *conn)
            .await?;
    let m: HashMap<String, String> = rows.into_iter().collect();
    let Some(hash) = m.get(META_HASH) else {
        return Ok(None);
    };
    let int = |k: &str| {
        m.get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("meta `{k}` is not a number")))
    };
    Ok(Some(InventoryCatalogInfo {
        hash: hash.clone(),
        version: m.get(META_VERSION).cloned().unwrap_or_default(),
        applied_at: int(META_APPLIED_AT)?,
        import_id: int(META_IMPORT)?,
    }))
}
