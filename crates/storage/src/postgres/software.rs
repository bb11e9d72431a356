//! The software inventory on PostgreSQL: the operator's catalog layer,
//! what a complete import's discovery step stages, and how its publish
//! applies it. The behaviour and the visibility rule are the SQLite
//! engine's (`software.rs`): instances a discovery inserts stay invisible
//! while their import is listed in `unpublished_discoveries`.
//!
//! 0/1 flags are BIGINT columns on both engines (see the schema's header):
//! they are read as integers and bound as integers here.

use super::PgStore;
use crate::{
    now_ms, CatalogLayerRow, ComputerFactSet, CurrentInstance, DiscoveryTarget, FactPackage,
    FactTag, InstanceChange, InstanceValues, InventoryCatalog, InventoryCatalogInfo, NewInstance,
    Result, SoftwarePublished, StoreError,
};
use sqlx::{PgConnection, Row};
use std::collections::HashMap;

const META_HASH: &str = "inventory_catalog_hash";
const META_VERSION: &str = "inventory_catalog_version";
const META_APPLIED_AT: &str = "inventory_catalog_applied_at";
const META_IMPORT: &str = "inventory_catalog_import_id";

/// Rows per array-insert statement.
const ROWS_PER_STATEMENT: usize = 5_000;

impl PgStore {
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

    pub async fn set_operator_catalog(
        &self,
        catalog_version: &str,
        document: &str,
        set_by: &str,
    ) -> Result<CatalogLayerRow> {
        let now = now_ms();
        sqlx::query(
            "INSERT INTO catalog_layers (layer, catalog_version, document, set_at, set_by)
             VALUES ('operator', $1, $2, $3, $4)
             ON CONFLICT (layer) DO UPDATE SET catalog_version = excluded.catalog_version,
               document = excluded.document, set_at = excluded.set_at, set_by = excluded.set_by",
        )
        .bind(catalog_version)
        .bind(document)
        .bind(now)
        .bind(set_by)
        .execute(&self.pool)
        .await?;
        Ok(CatalogLayerRow {
            catalog_version: catalog_version.to_string(),
            document: document.to_string(),
            set_at: now,
            set_by: Some(set_by.to_string()),
        })
    }

    pub async fn inventory_catalog(&self) -> Result<Option<InventoryCatalogInfo>> {
        let mut conn = self.pool.acquire().await?;
        inventory_catalog_in(&mut conn).await
    }

    pub async fn discovery_targets(
        &self,
        import_id: i64,
        all: bool,
    ) -> Result<Vec<DiscoveryTarget>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, facts FROM (
               SELECT c.id AS id,
                 CASE WHEN s.computer_id IS NOT NULL AND s.facts_kept = 0 THEN $1
                      ELSE c.facts_import_id END AS facts,
                 c.discovered_facts_import_id AS discovered
               FROM computers c
               LEFT JOIN stage_computers s ON s.computer_id = c.id AND s.import_id = $1
               WHERE s.computer_id IS NOT NULL
                  OR (c.published = 1 AND c.facts_import_id IS NOT NULL)) AS t
             WHERE $2 OR discovered IS NULL OR discovered != facts
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

    /// One snapshot (REPEATABLE READ), a statement per kind of fact and
    /// chunk of targets. Within a computer, rows come in the order they
    /// were written (`seq`, on both engines).
    pub async fn computer_fact_sets(
        &self,
        targets: &[DiscoveryTarget],
    ) -> Result<Vec<ComputerFactSet>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let mut sets: HashMap<(i64, i64), ComputerFactSet> = HashMap::new();
        for chunk in targets.chunks(1_000) {
            let computers: Vec<i64> = chunk.iter().map(|t| t.computer_id).collect();
            let imports: Vec<i64> = chunk.iter().map(|t| t.facts_import_id).collect();
            let rows = sqlx::query(
                "SELECT f.computer_id, f.import_id, f.source, f.name, f.version,
                        f.architecture, f.vendor
                 FROM (SELECT DISTINCT c, i FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS t (c, i)) t
                 JOIN installed_packages f ON f.computer_id = t.c AND f.import_id = t.i
                 ORDER BY f.computer_id, f.import_id, f.seq",
            )
            .bind(&computers)
            .bind(&imports)
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                sets.entry((r.try_get(0)?, r.try_get(1)?))
                    .or_default()
                    .packages
                    .push(FactPackage {
                        source: r.try_get(2)?,
                        name: r.try_get(3)?,
                        version: r.try_get::<Option<String>, _>(4)?.unwrap_or_default(),
                        architecture: r.try_get(5)?,
                        vendor: r.try_get(6)?,
                    });
            }
            let rows = sqlx::query(
                "SELECT f.computer_id, f.import_id, f.tag_id, f.name, f.version, f.regid,
                        f.persistent_id, f.directory
                 FROM (SELECT DISTINCT c, i FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS t (c, i)) t
                 JOIN swid_facts f ON f.computer_id = t.c AND f.import_id = t.i
                 ORDER BY f.computer_id, f.import_id, f.seq",
            )
            .bind(&computers)
            .bind(&imports)
            .fetch_all(&mut *tx)
            .await?;
            for r in rows {
                sets.entry((r.try_get(0)?, r.try_get(1)?))
                    .or_default()
                    .tags
                    .push(FactTag {
                        tag_id: r.try_get(2)?,
                        name: r.try_get::<Option<String>, _>(3)?.unwrap_or_default(),
                        version: r.try_get(4)?,
                        regid: r.try_get(5)?,
                        persistent_id: r.try_get(6)?,
                        directory: r.try_get(7)?,
                    });
            }
        }
        tx.commit().await?;
        Ok(targets
            .iter()
            .map(|t| {
                sets.get(&(t.computer_id, t.facts_import_id))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    }

    pub async fn current_instances(
        &self,
        computer_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<CurrentInstance>>> {
        let mut out: HashMap<i64, Vec<CurrentInstance>> = HashMap::new();
        for chunk in computer_ids.chunks(5_000) {
            let rows = sqlx::query(concat!(
                "SELECT i.id, i.computer_id, i.component_id, i.discovery_path, i.is_present,
                   i.product_id, i.is_charged, i.bundling_rule, i.bundling_details,
                   i.is_confirmed, i.signature_kind, i.evidence_source, i.evidence_name,
                   i.evidence_version, i.detailed_version
                 FROM software_instances i WHERE i.computer_id = ANY($1) AND ",
                visible_instance!(),
                " ORDER BY i.id"
            ))
            .bind(chunk)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let i = CurrentInstance {
                    instance_id: r.try_get(0)?,
                    computer_id: r.try_get(1)?,
                    component_id: r.try_get(2)?,
                    discovery_path: r.try_get(3)?,
                    is_present: r.try_get::<i64, _>(4)? != 0,
                    is_confirmed: r.try_get::<i64, _>(9)? != 0,
                    values: InstanceValues {
                        product_id: r.try_get(5)?,
                        is_charged: r.try_get::<i64, _>(6)? != 0,
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

    /// The first id the discovery's new instances can have: past the last
    /// value the identity's sequence gave (ids are never reused).
    pub async fn begin_discovery(&self, import_id: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO unpublished_discoveries (import_id, first_id)
             VALUES ($1, COALESCE(pg_sequence_last_value(
                   pg_get_serial_sequence('software_instances', 'id')), 0) + 1)
             ON CONFLICT (import_id) DO UPDATE SET first_id = excluded.first_id",
        )
        .bind(import_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn stage_discovery(
        &self,
        import_id: i64,
        targets: &[DiscoveryTarget],
        new: &[NewInstance],
        changes: &[InstanceChange],
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.tx().await?;
        // The last of several rows of one key wins (SQLite's INSERT OR
        // REPLACE row by row).
        let mut last: HashMap<i64, i64> = HashMap::new();
        let mut order = Vec::new();
        for t in targets {
            if last.insert(t.computer_id, t.facts_import_id).is_none() {
                order.push(t.computer_id);
            }
        }
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            sqlx::query(
                "INSERT INTO stage_discovery (import_id, computer_id, facts_import_id)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[])
                 ON CONFLICT (import_id, computer_id)
                   DO UPDATE SET facts_import_id = excluded.facts_import_id",
            )
            .bind(import_id)
            .bind(chunk)
            .bind(chunk.iter().map(|c| last[c]).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await?;
        }
        for chunk in new.chunks(ROWS_PER_STATEMENT) {
            let text = |f: &dyn Fn(&NewInstance) -> Option<&str>| -> Vec<Option<String>> {
                chunk.iter().map(|n| f(n).map(str::to_string)).collect()
            };
            sqlx::query(
                "INSERT INTO software_instances (computer_id, start_import_id, component_id,
                   discovery_path, signature_kind, evidence_source, evidence_name,
                   evidence_version, detailed_version, discovery_start, product_id, is_charged,
                   bundling_rule, bundling_details, is_present)
                 SELECT c, $1, co, dp, sk, es, en, ev, dv, $2, p, ch, br, bd, 1
                 FROM UNNEST($3::BIGINT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                             $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::BIGINT[],
                             $13::BIGINT[], $14::TEXT[])
                   AS n (c, co, dp, sk, es, en, ev, dv, p, ch, br, bd)",
            )
            .bind(import_id)
            .bind(now)
            .bind(chunk.iter().map(|n| n.computer_id).collect::<Vec<_>>())
            .bind(text(&|n| Some(n.component_id.as_str())))
            .bind(text(&|n| Some(n.discovery_path.as_str())))
            .bind(text(&|n| Some(n.values.signature_kind.as_str())))
            .bind(text(&|n| Some(n.values.evidence_source.as_str())))
            .bind(text(&|n| Some(n.values.evidence_name.as_str())))
            .bind(text(&|n| n.values.evidence_version.as_deref()))
            .bind(text(&|n| n.values.detailed_version.as_deref()))
            .bind(text(&|n| n.values.product_id.as_deref()))
            .bind(
                chunk
                    .iter()
                    .map(|n| i64::from(n.values.is_charged))
                    .collect::<Vec<_>>(),
            )
            .bind(
                chunk
                    .iter()
                    .map(|n| n.values.bundling_rule)
                    .collect::<Vec<_>>(),
            )
            .bind(text(&|n| n.values.bundling_details.as_deref()))
            .execute(&mut *tx)
            .await?;
        }
        let mut last: HashMap<i64, &InstanceChange> = HashMap::new();
        let mut order = Vec::new();
        for c in changes {
            let id = match c {
                InstanceChange::Ended { instance_id } => *instance_id,
                InstanceChange::Found { instance_id, .. } => *instance_id,
            };
            if last.insert(id, c).is_none() {
                order.push(id);
            }
        }
        for chunk in order.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<(&InstanceChange, Option<&InstanceValues>, Option<&str>)> = chunk
                .iter()
                .map(|id| match last[id] {
                    c @ InstanceChange::Ended { .. } => (c, None, None),
                    c @ InstanceChange::Found {
                        values, moved_to, ..
                    } => (c, Some(values), moved_to.as_deref()),
                })
                .collect();
            let text = |f: &dyn Fn(&InstanceValues) -> Option<&str>| -> Vec<Option<String>> {
                rows.iter()
                    .map(|(_, v, _)| v.and_then(f).map(str::to_string))
                    .collect()
            };
            sqlx::query(
                "INSERT INTO stage_instances (import_id, instance_id, ended, signature_kind,
                   evidence_source, evidence_name, evidence_version, detailed_version,
                   product_id, is_charged, bundling_rule, bundling_details, discovery_path)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                   $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BIGINT[], $11::BIGINT[],
                   $12::TEXT[], $13::TEXT[])
                 ON CONFLICT (import_id, instance_id) DO UPDATE SET ended = excluded.ended,
                   signature_kind = excluded.signature_kind,
                   evidence_source = excluded.evidence_source,
                   evidence_name = excluded.evidence_name,
                   evidence_version = excluded.evidence_version,
                   detailed_version = excluded.detailed_version,
                   product_id = excluded.product_id, is_charged = excluded.is_charged,
                   bundling_rule = excluded.bundling_rule,
                   bundling_details = excluded.bundling_details,
                   discovery_path = excluded.discovery_path",
            )
            .bind(import_id)
            .bind(chunk)
            .bind(
                rows.iter()
                    .map(|(_, v, _)| i64::from(v.is_none()))
                    .collect::<Vec<_>>(),
            )
            .bind(text(&|v| Some(v.signature_kind.as_str())))
            .bind(text(&|v| Some(v.evidence_source.as_str())))
            .bind(text(&|v| Some(v.evidence_name.as_str())))
            .bind(text(&|v| v.evidence_version.as_deref()))
            .bind(text(&|v| v.detailed_version.as_deref()))
            .bind(text(&|v| v.product_id.as_deref()))
            .bind(
                rows.iter()
                    .map(|(_, v, _)| v.map(|v| i64::from(v.is_charged)))
                    .collect::<Vec<_>>(),
            )
            .bind(
                rows.iter()
                    .map(|(_, v, _)| v.and_then(|v| v.bundling_rule))
                    .collect::<Vec<_>>(),
            )
            .bind(text(&|v| v.bundling_details.as_deref()))
            .bind(
                rows.iter()
                    .map(|(_, _, m)| m.map(str::to_string))
                    .collect::<Vec<_>>(),
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// The software part of a complete import's publish, inside its
/// transaction (see the SQLite engine's `publish_software`).
pub(crate) async fn publish_software(
    tx: &mut PgConnection,
    import_id: i64,
    catalog: &InventoryCatalog,
) -> Result<SoftwarePublished> {
    let now = now_ms();
    let mut done = SoftwarePublished::default();
    let current: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
        .bind(META_HASH)
        .fetch_optional(&mut *tx)
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
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(k)
        .bind(v)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM unpublished_discoveries WHERE import_id = $1")
        .bind(import_id)
        .execute(&mut *tx)
        .await?;
    done.ended_instances = sqlx::query(
        "UPDATE software_instances SET is_present = 0, discovery_end = $2, end_import_id = $1
         FROM stage_instances s
         WHERE s.import_id = $1 AND s.ended = 1
           AND software_instances.id = s.instance_id AND software_instances.is_present = 1",
    )
    .bind(import_id)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
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
         FROM stage_instances s
         WHERE s.import_id = $1 AND s.ended = 0 AND software_instances.id = s.instance_id",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    done.computers = sqlx::query(
        "UPDATE computers SET discovered_facts_import_id = s.facts_import_id
         FROM stage_discovery s
         WHERE s.import_id = $1 AND computers.id = s.computer_id",
    )
    .bind(import_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    for table in ["stage_instances", "stage_discovery"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE import_id = $1"))
            .bind(import_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(done)
}

/// Rewrites the catalog tables to `catalog`, keeping rows it dropped as
/// `in_catalog = 0`.
async fn write_catalog(tx: &mut PgConnection, catalog: &InventoryCatalog) -> Result<()> {
    sqlx::query("UPDATE inventory_products SET in_catalog = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE inventory_components SET in_catalog = 0")
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM inventory_bundling_options")
        .execute(&mut *tx)
        .await?;
    // A new product gets the next number, in the catalog's order (a
    // statement per product, as SQLite numbers them).
    for p in &catalog.products {
        sqlx::query(
            "INSERT INTO inventory_products (id, publisher, name, release, metric, in_catalog, num)
             VALUES ($1, $2, $3, $4, $5, 1,
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
        .execute(&mut *tx)
        .await?;
    }
    let mut last = HashMap::new();
    let mut order = Vec::new();
    for c in &catalog.components {
        if last.insert(c.id.as_str(), c).is_none() {
            order.push(c.id.as_str());
        }
    }
    for chunk in order.chunks(ROWS_PER_STATEMENT) {
        sqlx::query(
            "INSERT INTO inventory_components (id, name, release, publisher, in_catalog)
             SELECT *, 1 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[])
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, release = excluded.release,
               publisher = excluded.publisher, in_catalog = 1",
        )
        .bind(chunk)
        .bind(
            chunk
                .iter()
                .map(|id| last[id].name.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|id| last[id].release.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            chunk
                .iter()
                .map(|id| last[id].publisher.as_deref())
                .collect::<Vec<_>>(),
        )
        .execute(&mut *tx)
        .await?;
    }
    let mut last = HashMap::new();
    let mut order = Vec::new();
    for o in &catalog.options {
        let k = (o.component_id.as_str(), o.product_id.as_str());
        if last.insert(k, o.charged).is_none() {
            order.push(k);
        }
    }
    for chunk in order.chunks(ROWS_PER_STATEMENT) {
        sqlx::query(
            "INSERT INTO inventory_bundling_options (component_id, product_id, charged)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[])",
        )
        .bind(chunk.iter().map(|k| k.0).collect::<Vec<_>>())
        .bind(chunk.iter().map(|k| k.1).collect::<Vec<_>>())
        .bind(chunk.iter().map(|k| i64::from(last[k])).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The catalog the software inventory was last discovered with, read on
/// `conn`.
pub(crate) async fn inventory_catalog_in(
    conn: &mut PgConnection,
) -> Result<Option<InventoryCatalogInfo>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT key, value FROM meta WHERE key IN ($1, $2, $3, $4)")
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
