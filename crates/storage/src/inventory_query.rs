//! Reading the published inventory and raw facts: filtered, sorted, paged.
//!
//! Visibility (see migration 0003): a computer is visible once
//! `published = 1`; the inventory list also requires `in_inventory = 1`; its
//! raw facts are the rows whose `import_id` is the computer's
//! `facts_import_id`. Every statement here applies that rule, so rows an
//! import is still writing, or rows of superseded imports, never show.
//!
//! Each list is a [`ListSource`] (`list.rs` runs the queries): each field
//! maps to one SQL expression through a fixed table.

use crate::list::ListSource;
use crate::{from_ms, now_ms, Result, SqliteStore};
use chrono::{DateTime, Utc};
use openlmt_domain::query::{Entity, Query};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// A computer of the inventory.
#[derive(Debug, Clone, PartialEq)]
pub struct ComputerRow {
    pub id: i64,
    pub data_source: String,
    pub endpoint_id: String,
    pub name: Option<String>,
    pub dns_name: Option<String>,
    pub ip_addresses: Vec<String>,
    pub os: Option<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    pub is_deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub processor_vendor: Option<String>,
    pub processor_brand: Option<String>,
    pub processor_model: Option<String>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
    pub threads: Option<i64>,
    pub is_virtual: Option<bool>,
    pub hypervisor: Option<String>,
    /// The hardware identity of the last scan package published (any
    /// import, like the raw facts).
    pub identity: crate::HardwareIdentityRow,
    /// Where the latest complete import's licence hierarchy counts it;
    /// `None` before one has (or when it could not be counted).
    pub placement: Option<Placement>,
}

/// A computer's server in the latest licence snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub server_id: i64,
    pub server_name: String,
    /// `physical`, `default` (TLM_VM) or `cloud`.
    pub kind: String,
    pub server_cores: Option<i64>,
    pub partition_cores: i64,
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub pvu_per_core: i64,
    pub default_pvu: Option<i64>,
    pub custom_pvu: Option<i64>,
    /// Placed on its host by VM-manager data.
    pub by_vm_manager: bool,
}

/// One installed package (dpkg or rpm) as a computer's scan reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstalledPackage {
    pub computer_id: i64,
    pub name: String,
    pub version: Option<String>,
    pub architecture: Option<String>,
    pub vendor: Option<String>,
    pub source: String,
}

/// One SWID tag as a computer's scan reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSwidTag {
    pub computer_id: i64,
    pub tag_id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub regid: Option<String>,
    pub vendor: Option<String>,
    pub schema: String,
    pub persistent_id: Option<String>,
    pub directory: Option<String>,
}

/// What [`Store::decommission_computer`] found.
#[derive(Debug, Clone, PartialEq)]
pub enum DeleteOutcome {
    /// Marked deleted (or already was); the row as it is now.
    Deleted(Box<ComputerRow>),
    /// No visible computer has that endpoint id (in that data source).
    NotFound,
    /// Several data sources have a computer with that endpoint id; their
    /// names. The caller must say which.
    Ambiguous(Vec<String>),
}

/// The computers of the inventory (`GET /api/sam/v2/computers`).
pub struct ComputerList;
/// The raw package facts of the visible computers.
pub struct InstalledPackageList;
/// The raw SWID tags of the visible computers.
pub struct SwidTagList;

impl ListSource for ComputerList {
    type Row = ComputerRow;
    const ENTITY: Entity = Entity::Computers;
    const SELECT: &'static str = COMPUTER_SELECT;
    const FROM_WHERE: &'static str = " FROM computers c
        LEFT JOIN license_current_placement lcp ON lcp.computer_id = c.id
        WHERE c.published = 1 AND c.in_inventory = 1";
    const STABLE_ORDER: &'static str = "c.id";
    const KEY: Option<&'static str> = Some("c.id");

    fn column(field: &str) -> Option<&'static str> {
        Some(match field {
            // A computer's id never changes once made (see docs/api.md).
            "id" | "bigfix_id" => "c.id",
            "data_source" => "c.data_source",
            "endpoint_id" => "c.endpoint_id",
            "name" => "c.name",
            "dns_name" => "c.dns_name",
            "ip_address" => "c.ip_addresses",
            "os" => "c.os",
            "first_seen" => "c.first_seen",
            "last_seen" => "c.last_seen",
            "is_deleted" => "c.is_deleted",
            "deleted_at" => "c.deleted_at",
            "processor_vendor" | "computer_hardware.processor_vendor" => "c.processor_vendor",
            "processor_brand" | "computer_hardware.processor_brand_string" => "c.processor_brand",
            "processor_model" => "c.processor_model",
            "sockets" => "c.sockets",
            "cores" | "computer_hardware.partition_cores" => "c.cores",
            "threads" => "c.threads",
            "is_virtual" => "c.is_virtual",
            "hypervisor" => "c.hypervisor",
            // ILMT: 0 physical, 1 virtual, 2 public cloud (as the licence
            // hierarchy recognised it).
            "computer_hardware.computer_type" => COMPUTER_TYPE,
            // The cores of the server the licence hierarchy counts the
            // computer on (its host, or itself); before any, the computer's
            // own when it is physical.
            "computer_hardware.server_cores" => SERVER_CORES,
            "computer_hardware.server_id" => "lcp.server_id",
            "computer_hardware.server_name" => "lcp.server_name",
            "computer_hardware.server_type" => SERVER_TYPE,
            "computer_hardware.pvu_per_core" => "lcp.pvu_per_core",
            "computer_hardware.default_pvu_value" => "lcp.default_pvu",
            "computer_hardware.custom_pvu_per_core" => "lcp.custom_pvu",
            "is_managed_by_vm_manager" => "(COALESCE(lcp.role, '') = 'vm_on_host')",
            "system_uuid" => "c.raw_system_uuid",
            "system_manufacturer" => "c.raw_system_manufacturer",
            "system_product" | "computer_hardware.system_model" => "c.raw_system_product",
            "system_serial" => "c.raw_system_serial",
            "bios_vendor" => "c.raw_bios_vendor",
            "bios_version" => "c.raw_bios_version",
            "chassis_asset_tag" => "c.raw_chassis_asset_tag",
            "socket_slots" => "c.raw_socket_slots",
            // The server is the computer itself only when it is physical.
            "computer_hardware.server_vendor" => SERVER_VENDOR,
            "computer_hardware.server_model" => SERVER_MODEL,
            "computer_hardware.server_serial_number" => SERVER_SERIAL,
            _ => return None,
        })
    }

    fn row(r: &SqliteRow) -> Result<ComputerRow> {
        row_to_computer(r)
    }
}

// (The software instances list shows the same: lib.rs's placement macros.)
const COMPUTER_TYPE: &str = placement_computer_type!();
const SERVER_CORES: &str = placement_server_cores!();
const SERVER_TYPE: &str = placement_server_type!();
const SERVER_VENDOR: &str = "(CASE WHEN lcp.server_id IS NOT NULL THEN lcp.vendor WHEN c.is_virtual = 0 THEN c.raw_system_manufacturer END)";
const SERVER_MODEL: &str = "(CASE WHEN lcp.server_id IS NOT NULL THEN lcp.model WHEN c.is_virtual = 0 THEN c.raw_system_product END)";
const SERVER_SERIAL: &str = "(CASE WHEN lcp.server_id IS NOT NULL THEN lcp.serial WHEN c.is_virtual = 0 THEN c.raw_system_serial END)";

/// The columns the two fact lists share.
fn fact_column(field: &str) -> Option<&'static str> {
    Some(match field {
        "computer_id" => "f.computer_id",
        "name" => "f.name",
        "version" => "f.version",
        "vendor" => "f.vendor",
        _ => return None,
    })
}

impl ListSource for InstalledPackageList {
    type Row = RawInstalledPackage;
    const ENTITY: Entity = Entity::InstalledPackages;
    const SELECT: &'static str = INSTALLED_PACKAGE_SELECT;
    const FROM_WHERE: &'static str = " FROM computers c JOIN installed_packages f
               ON f.computer_id = c.id AND f.import_id = c.facts_import_id
             WHERE c.published = 1";
    const STABLE_ORDER: &'static str = "c.id, f.seq";

    fn column(field: &str) -> Option<&'static str> {
        fact_column(field).or(match field {
            "architecture" => Some("f.architecture"),
            "source" => Some("f.source"),
            _ => None,
        })
    }

    fn row(r: &SqliteRow) -> Result<RawInstalledPackage> {
        row_to_installed_package(r)
    }
}

impl ListSource for SwidTagList {
    type Row = RawSwidTag;
    const ENTITY: Entity = Entity::SwidTags;
    const SELECT: &'static str = SWID_SELECT;
    const FROM_WHERE: &'static str = " FROM computers c JOIN swid_facts f
               ON f.computer_id = c.id AND f.import_id = c.facts_import_id
             WHERE c.published = 1";
    const STABLE_ORDER: &'static str = "c.id, f.seq";

    fn column(field: &str) -> Option<&'static str> {
        fact_column(field).or(match field {
            "tag_id" => Some("f.tag_id"),
            "regid" => Some("f.regid"),
            "schema" => Some("f.schema"),
            "persistent_id" => Some("f.persistent_id"),
            "directory" => Some("f.directory"),
            _ => None,
        })
    }

    fn row(r: &SqliteRow) -> Result<RawSwidTag> {
        row_to_swid(r)
    }
}

const COMPUTER_SELECT: &str = "SELECT c.id, c.data_source, c.endpoint_id, c.name, c.dns_name,
    c.ip_addresses, c.os, c.first_seen, c.last_seen, c.is_deleted, c.deleted_at,
    c.processor_vendor, c.processor_brand, c.processor_model, c.sockets, c.cores, c.threads,
    c.is_virtual, c.hypervisor, c.raw_system_uuid, c.raw_system_manufacturer,
    c.raw_system_product, c.raw_system_serial, c.raw_bios_vendor, c.raw_bios_version,
    c.raw_chassis_asset_tag, c.raw_socket_slots, lcp.server_id AS lcp_server_id,
    lcp.server_name AS lcp_server_name, lcp.kind AS lcp_kind, lcp.server_cores AS lcp_server_cores,
    lcp.partition_cores AS lcp_partition_cores, lcp.vendor AS lcp_vendor, lcp.model AS lcp_model,
    lcp.serial AS lcp_serial, lcp.pvu_per_core AS lcp_pvu_per_core, lcp.default_pvu AS lcp_default_pvu,
    lcp.custom_pvu AS lcp_custom_pvu, lcp.role AS lcp_role";
const INSTALLED_PACKAGE_SELECT: &str =
    "SELECT f.computer_id, f.name, f.version, f.architecture, f.vendor, f.source";
const SWID_SELECT: &str =
    "SELECT f.computer_id, f.tag_id, f.name, f.version, f.regid, f.vendor, f.schema,
            f.persistent_id, f.directory";

fn opt_time(r: &SqliteRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(from_ms))
}

/// The addresses of the `ip_addresses` column: a JSON array of strings;
/// anything else non-empty is taken as one address.
pub(crate) fn parse_addresses(text: &str) -> Vec<String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                serde_json::Value::Null => None,
                other => Some(other.to_string()),
            })
            .collect(),
        Ok(serde_json::Value::String(s)) => vec![s],
        _ if text.trim().is_empty() => Vec::new(),
        _ => vec![text.trim().to_string()],
    }
}

fn row_to_computer(r: &SqliteRow) -> Result<ComputerRow> {
    let ips: Option<String> = r.try_get("ip_addresses")?;
    Ok(ComputerRow {
        id: r.try_get("id")?,
        data_source: r.try_get("data_source")?,
        endpoint_id: r.try_get("endpoint_id")?,
        name: r.try_get("name")?,
        dns_name: r.try_get("dns_name")?,
        ip_addresses: parse_addresses(ips.as_deref().unwrap_or("")),
        os: r.try_get("os")?,
        first_seen: opt_time(r, "first_seen")?,
        last_seen: opt_time(r, "last_seen")?,
        is_deleted: r.try_get::<i64, _>("is_deleted")? != 0,
        deleted_at: opt_time(r, "deleted_at")?,
        processor_vendor: r.try_get("processor_vendor")?,
        processor_brand: r.try_get("processor_brand")?,
        processor_model: r.try_get("processor_model")?,
        sockets: r.try_get("sockets")?,
        cores: r.try_get("cores")?,
        threads: r.try_get("threads")?,
        is_virtual: r.try_get::<Option<i64>, _>("is_virtual")?.map(|v| v != 0),
        hypervisor: r.try_get("hypervisor")?,
        identity: crate::HardwareIdentityRow {
            system_uuid: r.try_get("raw_system_uuid")?,
            system_manufacturer: r.try_get("raw_system_manufacturer")?,
            system_product: r.try_get("raw_system_product")?,
            system_serial: r.try_get("raw_system_serial")?,
            bios_vendor: r.try_get("raw_bios_vendor")?,
            bios_version: r.try_get("raw_bios_version")?,
            chassis_asset_tag: r.try_get("raw_chassis_asset_tag")?,
            socket_slots: r.try_get("raw_socket_slots")?,
        },
        placement: match r.try_get::<Option<i64>, _>("lcp_server_id")? {
            None => None,
            Some(server_id) => Some(Placement {
                server_id,
                server_name: r.try_get("lcp_server_name")?,
                kind: r.try_get("lcp_kind")?,
                server_cores: r.try_get("lcp_server_cores")?,
                partition_cores: r.try_get("lcp_partition_cores")?,
                vendor: r.try_get("lcp_vendor")?,
                model: r.try_get("lcp_model")?,
                serial: r.try_get("lcp_serial")?,
                pvu_per_core: r.try_get("lcp_pvu_per_core")?,
                default_pvu: r.try_get("lcp_default_pvu")?,
                custom_pvu: r.try_get("lcp_custom_pvu")?,
                by_vm_manager: r.try_get::<Option<String>, _>("lcp_role")?.as_deref()
                    == Some("vm_on_host"),
            }),
        },
    })
}

fn row_to_installed_package(r: &SqliteRow) -> Result<RawInstalledPackage> {
    Ok(RawInstalledPackage {
        computer_id: r.try_get("computer_id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        architecture: r.try_get("architecture")?,
        vendor: r.try_get("vendor")?,
        source: r.try_get("source")?,
    })
}

fn row_to_swid(r: &SqliteRow) -> Result<RawSwidTag> {
    Ok(RawSwidTag {
        computer_id: r.try_get("computer_id")?,
        tag_id: r.try_get("tag_id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        regid: r.try_get("regid")?,
        vendor: r.try_get("vendor")?,
        schema: r.try_get("schema")?,
        persistent_id: r.try_get("persistent_id")?,
        directory: r.try_get("directory")?,
    })
}

impl SqliteStore {
    /// The computers of the inventory matching `q`: their total, and the
    /// page `q` asks for.
    pub async fn query_computers(&self, q: &Query) -> Result<(i64, Vec<ComputerRow>)> {
        self.query_list::<ComputerList>(q).await
    }

    /// The raw package facts of the visible computers matching `q`.
    pub async fn query_installed_packages(
        &self,
        q: &Query,
    ) -> Result<(i64, Vec<RawInstalledPackage>)> {
        self.query_list::<InstalledPackageList>(q).await
    }

    /// The raw SWID tags of the visible computers matching `q`.
    pub async fn query_swid_facts(&self, q: &Query) -> Result<(i64, Vec<RawSwidTag>)> {
        self.query_list::<SwidTagList>(q).await
    }

    /// Marks the visible computer with `endpoint_id` (in `data_source`, if
    /// given) deleted: it stays in the database and in the lists, with
    /// `is_deleted` set. Marking a deleted computer again keeps its first
    /// `deleted_at`.
    pub async fn decommission_computer(
        &self,
        endpoint_id: &str,
        data_source: Option<&str>,
    ) -> Result<DeleteOutcome> {
        let mut tx = self.write_tx().await?;
        let found: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, data_source FROM computers
             WHERE published = 1 AND endpoint_id = ? AND (? IS NULL OR data_source = ?)
             ORDER BY data_source",
        )
        .bind(endpoint_id)
        .bind(data_source)
        .bind(data_source)
        .fetch_all(&mut *tx)
        .await?;
        let id = match found.as_slice() {
            [] => return Ok(DeleteOutcome::NotFound),
            [(id, _)] => *id,
            many => {
                return Ok(DeleteOutcome::Ambiguous(
                    many.iter().map(|(_, ds)| ds.clone()).collect(),
                ))
            }
        };
        sqlx::query(
            "UPDATE computers SET is_deleted = 1,
                 deleted_at = CASE WHEN is_deleted = 1 AND deleted_at IS NOT NULL
                                   THEN deleted_at ELSE ? END
             WHERE id = ?",
        )
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let row = sqlx::query(&format!(
            "{COMPUTER_SELECT} FROM computers c
             LEFT JOIN license_current_placement lcp ON lcp.computer_id = c.id WHERE c.id = ?"
        ))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let row = row_to_computer(&row)?;
        crate::list::bump_generation(&mut tx).await?;
        tx.commit().await?;
        Ok(DeleteOutcome::Deleted(Box::new(row)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::{RowSink, StreamEnd};
    use crate::{test_store, StoreError};
    use openlmt_domain::query::{Condition, Filter, Op, Page, Sort, Value, MAX_CONDITIONS};

    fn column(e: Entity, field: &str) -> Option<&'static str> {
        match e {
            Entity::Computers => ComputerList::column(field),
            Entity::InstalledPackages => InstalledPackageList::column(field),
            Entity::SwidTags => SwidTagList::column(field),
            Entity::SoftwareInstances => crate::SoftwareInstanceList::column(field),
            Entity::SoftwareComponents => crate::SoftwareComponentList::column(field),
            Entity::BundlingOptions => crate::BundlingOptionList::column(field),
            Entity::ClassificationAudit => crate::ClassificationAuditList::column(field),
            Entity::LicenseServerUsage => crate::LicenseServerUsageList::column(field),
            // Computed in memory by the HTTP crate (a peak over a period).
            Entity::LicenseUsage => Some("NULL"),
        }
    }

    /// Time 2026-11-28T12:00:00Z in ms.
    const T0: i64 = 1_795_867_200_000;

    async fn exec(store: &SqliteStore, sql: &str) {
        sqlx::raw_sql(sql).execute(store.pool()).await.unwrap();
    }

    /// Three visible inventory computers, one published only raw, one
    /// unpublished; facts at the current and at an old import.
    async fn fixture() -> (SqliteStore, tempfile::TempDir) {
        let (store, dir) = test_store().await;
        exec(
            &store,
            &format!(
                "INSERT INTO computers (id, data_source, endpoint_id, published, facts_import_id,
                    name, dns_name, ip_addresses, os, first_seen, last_seen, is_deleted,
                    in_inventory, processor_vendor, processor_brand, processor_model,
                    sockets, cores, threads, is_virtual, hypervisor,
                    raw_sockets, raw_is_virtual, raw_hypervisor)
                 VALUES
                 (1, 'default', 'ep-alpha', 1, 10, 'alpha', 'alpha.example.test',
                  '[\"192.0.2.10\",\"2001:db8::1\"]', 'Debian GNU/Linux 12 (bookworm)',
                  {T0}, {T0} + 3600000, 0, 1, 'GenuineIntel', 'Intel(R) Xeon(R) Gold 6230', '85',
                  1, 2, 2, 1, 'KVM', 9, 0, 'RAW'),
                 (2, 'default', 'ep-beta', 1, 11, 'Beta', NULL, '[\"10.0.0.5\"]', 'Rocky Linux 9',
                  {T0} - 86400000, {T0}, 0, 1, 'AuthenticAMD', 'AMD EPYC 7302', '49',
                  2, 32, 64, 0, NULL, NULL, NULL, NULL),
                 (3, 'lab', 'ep-gamma', 1, 12, 'gamma', NULL, '[]', NULL,
                  {T0}, {T0}, 1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                  NULL, NULL, NULL),
                 (4, 'default', 'ep-rawonly', 1, 13, 'rawonly', NULL, '[]', NULL,
                  {T0}, {T0}, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                  4, 1, 'VMware'),
                 (5, 'default', 'ep-hidden', 0, 14, 'hidden', NULL, '[\"192.0.2.99\"]', NULL,
                  {T0}, {T0}, 0, 1, NULL, NULL, NULL, 1, 1, 1, 0, NULL,
                  NULL, NULL, NULL);
                 INSERT INTO computers (id, data_source, endpoint_id, published, facts_import_id,
                    name, in_inventory)
                 VALUES (6, 'lab', 'ep-alpha', 1, 15, 'alpha-lab', 1);
                 INSERT INTO installed_packages (computer_id, import_id, name, version, architecture,
                    vendor, source) VALUES
                  (1, 10, 'adduser', '3.134', 'all', 'Debian Adduser Developers', 'dpkg'),
                  (1, 10, 'bash', '5.2.15-2+b2', 'amd64', 'Matthias Klose', 'dpkg'),
                  (1, 9, 'old-package', '1', 'amd64', NULL, 'dpkg'),
                  (2, 11, 'bash', '5.1.8-6.el9', 'x86_64', 'Rocky Enterprise Software Foundation', 'rpm'),
                  (2, 99, 'staged-package', '1', 'x86_64', NULL, 'rpm'),
                  (4, 13, 'zlib1g', '1:1.2.13', 'amd64', NULL, 'dpkg'),
                  (5, 14, 'hidden-package', '1', 'amd64', NULL, 'dpkg');
                 INSERT INTO swid_facts (computer_id, import_id, tag_id, name, version, regid,
                    vendor, schema) VALUES
                  (1, 10, 'debian-adduser-3.134', 'adduser', '3.134', 'debian.org', 'Debian', '2015'),
                  (1, 9, 'debian-old', 'old', '1', 'debian.org', 'Debian', '2015'),
                  (2, 11, 'ibm-tag', 'IBM Thing', '9.1', 'ibm.com', 'IBM', '2009'),
                  (5, 14, 'hidden-tag', 'hidden', '1', 'x', 'x', '2015');"
            ),
        )
        .await;
        (store, dir)
    }

    fn field(e: Entity, name: &str) -> &'static openlmt_domain::query::Field {
        e.field(name).unwrap()
    }

    fn cond(e: Entity, name: &str, op: Op, v: Value) -> Filter {
        Filter::Cond(Condition::new(field(e, name), op, v).unwrap())
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn q(e: Entity, filter: Option<Filter>) -> Query {
        Query::new(e, filter, vec![], Page::first(100)).unwrap()
    }

    async fn computer_ids(store: &SqliteStore, filter: Option<Filter>) -> (i64, Vec<i64>) {
        let (total, rows) = store
            .query_computers(&q(Entity::Computers, filter))
            .await
            .unwrap();
        (total, rows.iter().map(|r| r.id).collect())
    }

    #[tokio::test]
    async fn only_published_inventory_computers_show() {
        let (store, _d) = fixture().await;
        assert_eq!(computer_ids(&store, None).await, (4, vec![1, 2, 3, 6]));
        let (_, rows) = store
            .query_computers(&Query::all(Entity::Computers, Page::first(10)))
            .await
            .unwrap();
        let alpha = &rows[0];
        assert_eq!(alpha.ip_addresses, vec!["192.0.2.10", "2001:db8::1"]);
        assert_eq!(alpha.sockets, Some(1));
        assert_eq!(alpha.is_virtual, Some(true));
        assert_eq!(
            alpha.hypervisor.as_deref(),
            Some("KVM"),
            "not the raw_ column"
        );
        assert_eq!(alpha.first_seen.unwrap().timestamp_millis(), T0);
        assert!(rows[2].is_deleted);
        assert_eq!(rows[2].ip_addresses, Vec::<String>::new());
    }

    #[tokio::test]
    async fn only_current_facts_of_published_computers_show() {
        let (store, _d) = fixture().await;
        let (total, rows) = store
            .query_installed_packages(&Query::all(Entity::InstalledPackages, Page::first(100)))
            .await
            .unwrap();
        assert_eq!(total, 4);
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.computer_id, r.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [(1, "adduser"), (1, "bash"), (2, "bash"), (4, "zlib1g")]
        );
        let (total, rows) = store
            .query_swid_facts(&Query::all(Entity::SwidTags, Page::first(100)))
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(rows[0].tag_id, "debian-adduser-3.134");
        assert_eq!(rows[1].schema, "2009");
        // Even a filter that names them finds no invisible row.
        for name in ["old-package", "staged-package", "hidden-package"] {
            let f = cond(Entity::InstalledPackages, "name", Op::Eq, text(name));
            let (total, rows) = store
                .query_installed_packages(&q(Entity::InstalledPackages, Some(f)))
                .await
                .unwrap();
            assert_eq!((total, rows.len()), (0, 0), "{name}");
        }
    }

    #[tokio::test]
    async fn conditions_filter() {
        let (store, _d) = fixture().await;
        let e = Entity::Computers;
        let cases: Vec<(Filter, Vec<i64>)> = vec![
            (cond(e, "name", Op::Eq, text("alpha")), vec![1]),
            (cond(e, "name", Op::Contains, text("BET")), vec![2]),
            (cond(e, "name", Op::Ne, text("alpha")), vec![2, 3, 6]),
            (
                cond(e, "dns_name", Op::Ne, text("alpha.example.test")),
                vec![2, 3, 6],
            ),
            (cond(e, "dns_name", Op::Eq, Value::Null), vec![2, 3, 6]),
            (cond(e, "dns_name", Op::Ne, Value::Null), vec![1]),
            (cond(e, "sockets", Op::Ge, Value::Int(2)), vec![2]),
            (cond(e, "cores", Op::Lt, Value::Int(32)), vec![1]),
            (cond(e, "is_virtual", Op::Eq, Value::Bool(true)), vec![1]),
            (cond(e, "is_virtual", Op::Eq, Value::Bool(false)), vec![2]),
            (
                cond(e, "is_virtual", Op::Ne, Value::Bool(true)),
                vec![2, 3, 6],
            ),
            (cond(e, "is_deleted", Op::Eq, Value::Bool(true)), vec![3]),
            (
                cond(e, "ip_address", Op::Contains, text("192.0.2")),
                vec![1],
            ),
            (
                cond(e, "ip_address", Op::Contains, text("2001:DB8")),
                vec![1],
            ),
            (cond(e, "ip_address", Op::Eq, text("10.0.0.5")), vec![2]),
            (cond(e, "ip_address", Op::Eq, text("10.0.0")), vec![]),
            (
                cond(e, "ip_address", Op::Ne, text("10.0.0.5")),
                vec![1, 3, 6],
            ),
            (cond(e, "data_source", Op::Eq, text("lab")), vec![3, 6]),
            (cond(e, "endpoint_id", Op::Eq, text("ep-hidden")), vec![]),
            (cond(e, "hypervisor", Op::Eq, text("RAW")), vec![]),
            (
                cond(e, "last_seen", Op::Gt, Value::Time(from_ms(T0))),
                vec![1],
            ),
            (
                cond(e, "first_seen", Op::Eq, Value::Time(from_ms(T0 + 999))),
                vec![1, 3],
            ),
            (
                cond(e, "first_seen", Op::Lt, Value::Time(from_ms(T0))),
                vec![2],
            ),
            (
                Filter::Or(vec![
                    cond(e, "name", Op::Eq, text("gamma")),
                    Filter::And(vec![
                        cond(e, "sockets", Op::Eq, Value::Int(1)),
                        cond(e, "os", Op::Contains, text("debian")),
                    ]),
                ]),
                vec![1, 3],
            ),
            (Filter::And(vec![]), vec![1, 2, 3, 6]),
            (Filter::Or(vec![]), vec![]),
        ];
        for (f, want) in cases {
            let label = format!("{f:?}");
            let (total, ids) = computer_ids(&store, Some(f)).await;
            assert_eq!(ids, want, "{label}");
            assert_eq!(total, want.len() as i64, "{label}");
        }
    }

    #[tokio::test]
    async fn every_field_and_operator_runs() {
        let (store, _d) = fixture().await;
        for e in [
            Entity::Computers,
            Entity::InstalledPackages,
            Entity::SwidTags,
            Entity::SoftwareInstances,
            Entity::SoftwareComponents,
            Entity::BundlingOptions,
            Entity::ClassificationAudit,
            Entity::LicenseServerUsage,
        ] {
            for fd in e.fields() {
                assert!(column(e, fd.name).is_some(), "{e:?} {}", fd.name);
                let values = [
                    Value::Null,
                    Value::Int(1),
                    text("a'; DROP TABLE computers; --"),
                    Value::Bool(true),
                    Value::Time(from_ms(T0)),
                    Value::period(from_ms(T0), from_ms(T0 + 1000)).unwrap(),
                ];
                for op in Op::ALL {
                    for v in &values {
                        let Ok(c) = Condition::new(fd, op, v.clone()) else {
                            continue;
                        };
                        let sort = Sort::new(fd, true).into_iter().collect();
                        let query =
                            Query::new(e, Some(Filter::Cond(c)), sort, Page::first(100)).unwrap();
                        let r = match e {
                            Entity::Computers => store.query_computers(&query).await.map(|_| ()),
                            Entity::InstalledPackages => {
                                store.query_installed_packages(&query).await.map(|_| ())
                            }
                            Entity::SwidTags => store.query_swid_facts(&query).await.map(|_| ()),
                            Entity::SoftwareInstances => store
                                .query_list::<crate::SoftwareInstanceList>(&query)
                                .await
                                .map(|_| ()),
                            Entity::SoftwareComponents => store
                                .query_list::<crate::SoftwareComponentList>(&query)
                                .await
                                .map(|_| ()),
                            Entity::BundlingOptions => store
                                .query_list::<crate::BundlingOptionList>(&query)
                                .await
                                .map(|_| ()),
                            Entity::ClassificationAudit => store
                                .query_list::<crate::ClassificationAuditList>(&query)
                                .await
                                .map(|_| ()),
                            Entity::LicenseServerUsage => store
                                .query_list::<crate::LicenseServerUsageList>(&query)
                                .await
                                .map(|_| ()),
                            Entity::LicenseUsage => Ok(()),
                        };
                        r.unwrap_or_else(|err| panic!("{e:?} {} {op} {v:?}: {err}", fd.name));
                    }
                }
            }
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM computers")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 6);
    }

    #[tokio::test]
    async fn pages_sort_and_count_all_matches() {
        let (store, _d) = fixture().await;
        let e = Entity::Computers;
        let query = Query::all(e, Page::new(2, 1).unwrap());
        let (total, rows) = store.query_computers(&query).await.unwrap();
        assert_eq!(total, 4);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 3]);
        let query = Query::all(e, Page::new(2, 10).unwrap());
        let (total, rows) = store.query_computers(&query).await.unwrap();
        assert_eq!((total, rows.len()), (4, 0));
        let sorted = |name: &str, descending: bool| {
            let sort = vec![Sort::new(field(e, name), descending).unwrap()];
            Query::new(e, None, sort, Page::first(10)).unwrap()
        };
        let query = sorted("last_seen", true);
        let (_, rows) = store.query_computers(&query).await.unwrap();
        // Equal last_seen keep the id order.
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 2, 3, 6]);
        let query = sorted("name", false);
        let (_, rows) = store.query_computers(&query).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [2, 1, 6, 3]);
    }

    #[tokio::test]
    async fn a_query_of_another_list_is_refused() {
        let (store, _d) = fixture().await;
        // (A filter of another list cannot even be made: `Query::new`.)
        let err = store
            .query_computers(&Query::all(Entity::SwidTags, Page::first(1)))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err}");
    }

    #[tokio::test]
    async fn a_large_filter_runs() {
        let (store, _d) = fixture().await;
        let e = Entity::InstalledPackages;
        // The largest filter a query may have: MAX_CONDITIONS conditions.
        let many = (1..MAX_CONDITIONS)
            .map(|i| cond(e, "name", Op::Contains, text(&format!("x{i}"))))
            .collect();
        let f = Filter::Or(vec![
            Filter::Or(many),
            cond(e, "name", Op::Eq, text("bash")),
        ]);
        let (total, _) = store
            .query_installed_packages(&q(e, Some(f)))
            .await
            .unwrap();
        assert_eq!(total, 2);
    }

    #[tokio::test]
    async fn delete_marks_and_keeps() {
        let (store, _d) = fixture().await;
        let DeleteOutcome::Deleted(row) =
            store.decommission_computer("ep-beta", None).await.unwrap()
        else {
            panic!("not deleted")
        };
        assert!(row.is_deleted);
        let first = row.deleted_at.unwrap();
        assert!((Utc::now() - first).num_seconds().abs() < 60);
        // Again: same deleted_at.
        let DeleteOutcome::Deleted(again) = store
            .decommission_computer("ep-beta", Some("default"))
            .await
            .unwrap()
        else {
            panic!("not deleted")
        };
        assert_eq!(again.deleted_at, Some(first));
        // Still listed, as deleted.
        let f = cond(Entity::Computers, "is_deleted", Op::Eq, Value::Bool(true));
        assert_eq!(computer_ids(&store, Some(f)).await.1, vec![2, 3]);
        assert_eq!(
            store.decommission_computer("ep-alpha", None).await.unwrap(),
            DeleteOutcome::Ambiguous(vec!["default".into(), "lab".into()])
        );
        assert!(matches!(
            store.decommission_computer("ep-alpha", Some("lab")).await.unwrap(),
            DeleteOutcome::Deleted(r) if r.id == 6
        ));
        assert_eq!(
            store
                .decommission_computer("ep-hidden", None)
                .await
                .unwrap(),
            DeleteOutcome::NotFound
        );
        assert_eq!(
            store
                .decommission_computer("ep-beta", Some("lab"))
                .await
                .unwrap(),
            DeleteOutcome::NotFound
        );
        assert_eq!(
            store.decommission_computer("nope", None).await.unwrap(),
            DeleteOutcome::NotFound
        );
    }

    #[tokio::test]
    async fn last_periods_and_hardware_columns_filter() {
        let (store, _d) = fixture().await;
        let e = Entity::Computers;
        let period = |from: i64, to: i64| Value::period(from_ms(from), from_ms(to)).unwrap();
        let cases: Vec<(Filter, Vec<i64>)> = vec![
            // last_seen: 1 at T0+1h, 2, 3 at T0, 6 unknown.
            (cond(e, "last_seen", Op::Last, period(T0, T0)), vec![2, 3]),
            (
                cond(e, "last_seen", Op::Last, period(T0, T0 + 3_600_000)),
                vec![1, 2, 3],
            ),
            (
                cond(e, "last_seen", Op::Last, period(T0 + 1000, T0 + 7_200_000)),
                vec![1],
            ),
            (cond(e, "bigfix_id", Op::Eq, Value::Int(2)), vec![2]),
            (
                cond(e, "computer_hardware.computer_type", Op::Eq, Value::Int(1)),
                vec![1],
            ),
            (
                cond(e, "computer_hardware.computer_type", Op::Eq, Value::Null),
                vec![3, 6],
            ),
            (
                cond(e, "computer_hardware.server_cores", Op::Eq, Value::Int(32)),
                vec![2],
            ),
            (
                cond(e, "computer_hardware.server_cores", Op::Ne, Value::Null),
                vec![2],
            ),
            (
                cond(
                    e,
                    "computer_hardware.partition_cores",
                    Op::Eq,
                    Value::Int(2),
                ),
                vec![1],
            ),
            (
                cond(
                    e,
                    "computer_hardware.processor_brand_string",
                    Op::Contains,
                    text("epyc"),
                ),
                vec![2],
            ),
        ];
        for (f, want) in cases {
            let label = format!("{f:?}");
            let (total, ids) = computer_ids(&store, Some(f)).await;
            assert_eq!((total, ids), (want.len() as i64, want), "{label}");
        }
    }

    /// Takes `stop_after` rows, then says stop.
    struct Stopper {
        total: i64,
        rows: usize,
        stop_after: usize,
    }

    #[async_trait::async_trait]
    impl RowSink<RawInstalledPackage> for Stopper {
        async fn total(&mut self, total: i64) -> bool {
            self.total = total;
            self.stop_after > 0
        }
        async fn row(&mut self, _: RawInstalledPackage) -> bool {
            self.rows += 1;
            self.rows < self.stop_after
        }
    }

    #[tokio::test]
    async fn a_stream_stops_when_its_sink_says_so_and_frees_the_snapshot() {
        let (store, _d) = fixture().await;
        let q = Query::all(Entity::InstalledPackages, Page::first(100));
        for (stop_after, rows, end) in [
            (0, 0, StreamEnd::Stopped),
            (1, 1, StreamEnd::Stopped),
            (3, 3, StreamEnd::Stopped),
            (100, 4, StreamEnd::Complete),
        ] {
            let mut sink = Stopper {
                total: -1,
                rows: 0,
                stop_after,
            };
            let got = store
                .stream_list::<InstalledPackageList>(&q, &mut sink)
                .await
                .unwrap();
            assert_eq!((got, sink.total, sink.rows), (end, 4, rows), "{stop_after}");
        }
        // The abandoned reads ended their transactions: no pooled
        // connection is left on an old snapshot, so a read after a write
        // sees the change.
        // (Every write of the store that changes a list bumps the list
        // generation, which totals are cached by; this raw one does too.)
        exec(
            &store,
            "DELETE FROM installed_packages WHERE name = 'bash';
             INSERT INTO meta (key, value) VALUES ('list_generation', 'raw delete')
               ON CONFLICT (key) DO UPDATE SET value = excluded.value;",
        )
        .await;
        let (total, _) = store.query_installed_packages(&q).await.unwrap();
        assert_eq!(total, 2);
    }

    #[test]
    fn addresses_parse() {
        assert_eq!(parse_addresses("[\"a\",\"b\"]"), vec!["a", "b"]);
        assert_eq!(parse_addresses("[]"), Vec::<String>::new());
        assert_eq!(parse_addresses(""), Vec::<String>::new());
        assert_eq!(parse_addresses("10.1.1.1"), vec!["10.1.1.1"]);
        assert_eq!(parse_addresses("\"10.1.1.1\""), vec!["10.1.1.1"]);
    }
}
