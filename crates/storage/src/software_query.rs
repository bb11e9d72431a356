//! Reading the software inventory: instances, the catalog's components and
//! bundling options, and the classification audit trail, with the same
//! filters, sorts and pages as the other lists (`inventory_query.rs`).
//!
//! Visibility: instances of published computers only; the catalog columns
//! come from the catalog the inventory was discovered with
//! (`inventory_products`, `inventory_components`), so a catalog change shows
//! only once a complete import has applied it.

use crate::list::ListSource;
use crate::{from_ms, Result};
use chrono::{DateTime, Utc};
use openlmt_domain::query::Entity;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

/// One software instance as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SoftwareInstanceRow {
    pub instance_id: i64,
    pub computer_id: i64,
    pub computer_name: Option<String>,
    pub computer_dns_name: Option<String>,
    pub computer_ip_addresses: Vec<String>,
    pub computer_os: Option<String>,
    pub product_publisher_name: Option<String>,
    pub product_name: Option<String>,
    pub product_release: Option<String>,
    pub product_id: Option<String>,
    pub component_name: Option<String>,
    pub component_release: Option<String>,
    pub detailed_version: Option<String>,
    pub component_id: String,
    pub metric: Option<String>,
    pub discovery_path: String,
    pub discovery_start: DateTime<Utc>,
    pub discovery_end: Option<DateTime<Utc>>,
    pub is_present: bool,
    pub is_charged: bool,
    pub is_confirmed: bool,
    pub is_excluded: bool,
    pub is_suppressed: bool,
    pub comment: Option<String>,
    pub signature_kind: String,
    pub evidence_source: String,
    pub evidence_name: String,
    pub evidence_version: Option<String>,
    pub bundling_rule: Option<i64>,
    pub bundling_details: Option<String>,
    /// `computer_hardware.computer_type`: 0 physical, 1 virtual, 2 a VM the
    /// licence hierarchy recognised as public cloud.
    pub computer_type: Option<i64>,
    pub processor_vendor: Option<String>,
    pub processor_brand: Option<String>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
    /// Where the latest published licence hierarchy counts the computer
    /// (`license_current_placement`, as in the computers list); `None`
    /// before a hierarchy placed it.
    pub server_id: Option<i64>,
    pub server_name: Option<String>,
    /// 0 physical, 1 TLM_VM (the default server), 2 cloud.
    pub server_type: Option<i64>,
    /// The placed server's cores, else the computer's own when physical.
    pub server_cores: Option<i64>,
    pub pvu_per_core: Option<i64>,
    pub default_pvu: Option<i64>,
    pub custom_pvu: Option<i64>,
}

/// A component of the catalog in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareComponentRow {
    pub id: String,
    pub name: String,
    pub release: Option<String>,
    pub publisher: Option<String>,
}

/// A component → product relation of the catalog in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlingOptionRow {
    pub component_id: String,
    pub component_name: Option<String>,
    pub component_release: Option<String>,
    pub product_id: String,
    pub product_publisher: Option<String>,
    pub product_name: Option<String>,
    pub product_release: Option<String>,
    pub metric: Option<String>,
    pub charged: bool,
}

/// One entry of the classification audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub user_name: String,
    pub action: String,
    pub instance_id: Option<i64>,
    pub computer_id: i64,
    pub component_id: Option<String>,
    pub product_id: Option<String>,
    pub comment: Option<String>,
    pub details: Option<String>,
}

const RULE_NAME: &str = "(CASE i.bundling_rule WHEN 1 THEN 'Manual Assignment'
    WHEN 2 THEN 'Single Bundling Option' WHEN 3 THEN 'Upgrade Based Inheritance'
    WHEN 4 THEN 'Computer Best Fit' WHEN 5 THEN 'Environment Wide Best Fit'
    WHEN 6 THEN 'Final Tie Breaker' END)";

// Read by position (row_to_instance_ref, instance_from_rusqlite): the
// columns from 35 on are the computer's licence placement (`lcp`).
const INSTANCE_SELECT: &str = concat!(
    "SELECT i.id, i.computer_id, c.name AS computer_name,
    c.dns_name, c.ip_addresses, c.os, p.publisher, p.name AS product_name, p.release AS product_release,
    i.product_id, k.name AS component_name, k.release AS component_release, i.detailed_version,
    i.component_id, p.metric, i.discovery_path, i.discovery_start, i.discovery_end,
    i.is_present, i.is_charged, i.is_confirmed, (x.computer_id IS NOT NULL) AS is_excluded,
    (s.computer_id IS NOT NULL) AS is_suppressed, COALESCE(x.comment, s.comment) AS comment,
    i.signature_kind, i.evidence_source, i.evidence_name, i.evidence_version, i.bundling_rule,
    i.bundling_details, ",
    placement_computer_type!(),
    " AS computer_type, c.processor_vendor, c.processor_brand, c.sockets, c.cores,
    lcp.server_id, lcp.server_name, ",
    placement_server_type!(),
    " AS server_type, ",
    placement_server_cores!(),
    " AS server_cores, lcp.pvu_per_core, lcp.default_pvu, lcp.custom_pvu"
);

const COMPONENT_SELECT: &str = "SELECT k.id, k.name, k.release, k.publisher";

const OPTION_SELECT: &str = "SELECT o.component_id, k.name AS component_name,
    k.release AS component_release, o.product_id, p.publisher, p.name AS product_name,
    p.release AS product_release, p.metric, o.charged";

const AUDIT_SELECT: &str = "SELECT a.id, a.at, a.user_name, a.action, a.instance_id,
    a.computer_id, a.component_id, a.product_id, a.comment, a.details";

fn flag(r: &SqliteRow, col: &str) -> Result<bool> {
    Ok(r.try_get::<i64, _>(col)? != 0)
}

/// A software instance borrowed from its result row: its text is not
/// copied, so a list answer can write it out at once
/// ([`crate::list::RefListSource`]; `SoftwareInstanceRow` is its owned form).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftwareInstanceRef<'r> {
    pub instance_id: i64,
    pub computer_id: i64,
    pub computer_name: Option<&'r str>,
    pub computer_dns_name: Option<&'r str>,
    /// The stored text of the computer's addresses
    /// ([`SoftwareInstanceRef::ip_addresses`] reads it).
    pub computer_ip_addresses_text: Option<&'r str>,
    pub computer_os: Option<&'r str>,
    pub product_publisher_name: Option<&'r str>,
    pub product_name: Option<&'r str>,
    pub product_release: Option<&'r str>,
    pub product_id: Option<&'r str>,
    pub component_name: Option<&'r str>,
    pub component_release: Option<&'r str>,
    pub detailed_version: Option<&'r str>,
    pub component_id: &'r str,
    pub metric: Option<&'r str>,
    pub discovery_path: &'r str,
    pub discovery_start: DateTime<Utc>,
    pub discovery_end: Option<DateTime<Utc>>,
    pub is_present: bool,
    pub is_charged: bool,
    pub is_confirmed: bool,
    pub is_excluded: bool,
    pub is_suppressed: bool,
    pub comment: Option<&'r str>,
    pub signature_kind: &'r str,
    pub evidence_source: &'r str,
    pub evidence_name: &'r str,
    pub evidence_version: Option<&'r str>,
    pub bundling_rule: Option<i64>,
    pub bundling_details: Option<&'r str>,
    pub computer_type: Option<i64>,
    pub processor_vendor: Option<&'r str>,
    pub processor_brand: Option<&'r str>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
    pub server_id: Option<i64>,
    pub server_name: Option<&'r str>,
    pub server_type: Option<i64>,
    pub server_cores: Option<i64>,
    pub pvu_per_core: Option<i64>,
    pub default_pvu: Option<i64>,
    pub custom_pvu: Option<i64>,
}

impl SoftwareInstanceRef<'_> {
    /// The computer's addresses, as the owned row has them.
    pub fn ip_addresses(&self) -> Vec<String> {
        crate::inventory_query::parse_addresses(self.computer_ip_addresses_text.unwrap_or(""))
    }

    pub fn to_owned_row(&self) -> SoftwareInstanceRow {
        let own = |s: Option<&str>| s.map(str::to_string);
        SoftwareInstanceRow {
            instance_id: self.instance_id,
            computer_id: self.computer_id,
            computer_name: own(self.computer_name),
            computer_dns_name: own(self.computer_dns_name),
            computer_ip_addresses: self.ip_addresses(),
            computer_os: own(self.computer_os),
            product_publisher_name: own(self.product_publisher_name),
            product_name: own(self.product_name),
            product_release: own(self.product_release),
            product_id: own(self.product_id),
            component_name: own(self.component_name),
            component_release: own(self.component_release),
            detailed_version: own(self.detailed_version),
            component_id: self.component_id.to_string(),
            metric: own(self.metric),
            discovery_path: self.discovery_path.to_string(),
            discovery_start: self.discovery_start,
            discovery_end: self.discovery_end,
            is_present: self.is_present,
            is_charged: self.is_charged,
            is_confirmed: self.is_confirmed,
            is_excluded: self.is_excluded,
            is_suppressed: self.is_suppressed,
            comment: own(self.comment),
            signature_kind: self.signature_kind.to_string(),
            evidence_source: self.evidence_source.to_string(),
            evidence_name: self.evidence_name.to_string(),
            evidence_version: own(self.evidence_version),
            bundling_rule: self.bundling_rule,
            bundling_details: own(self.bundling_details),
            computer_type: self.computer_type,
            processor_vendor: own(self.processor_vendor),
            processor_brand: own(self.processor_brand),
            sockets: self.sockets,
            cores: self.cores,
            server_id: self.server_id,
            server_name: own(self.server_name),
            server_type: self.server_type,
            server_cores: self.server_cores,
            pvu_per_core: self.pvu_per_core,
            default_pvu: self.default_pvu,
            custom_pvu: self.custom_pvu,
        }
    }
}

/// Reads an instance in place, by the column positions of `INSTANCE_SELECT`
/// (no name lookups).
fn row_to_instance_ref(r: &SqliteRow) -> Result<SoftwareInstanceRef<'_>> {
    let flag = |i: usize| -> Result<bool> { Ok(r.try_get::<i64, _>(i)? != 0) };
    Ok(SoftwareInstanceRef {
        instance_id: r.try_get(0)?,
        computer_id: r.try_get(1)?,
        computer_name: r.try_get(2)?,
        computer_dns_name: r.try_get(3)?,
        computer_ip_addresses_text: r.try_get(4)?,
        computer_os: r.try_get(5)?,
        product_publisher_name: r.try_get(6)?,
        product_name: r.try_get(7)?,
        product_release: r.try_get(8)?,
        product_id: r.try_get(9)?,
        component_name: r.try_get(10)?,
        component_release: r.try_get(11)?,
        detailed_version: r.try_get(12)?,
        component_id: r.try_get(13)?,
        metric: r.try_get(14)?,
        discovery_path: r.try_get(15)?,
        discovery_start: from_ms(r.try_get(16)?),
        discovery_end: r.try_get::<Option<i64>, _>(17)?.map(from_ms),
        is_present: flag(18)?,
        is_charged: flag(19)?,
        is_confirmed: flag(20)?,
        is_excluded: flag(21)?,
        is_suppressed: flag(22)?,
        comment: r.try_get(23)?,
        signature_kind: r.try_get(24)?,
        evidence_source: r.try_get(25)?,
        evidence_name: r.try_get(26)?,
        evidence_version: r.try_get(27)?,
        bundling_rule: r.try_get(28)?,
        bundling_details: r.try_get(29)?,
        computer_type: r.try_get(30)?,
        processor_vendor: r.try_get(31)?,
        processor_brand: r.try_get(32)?,
        sockets: r.try_get(33)?,
        cores: r.try_get(34)?,
        server_id: r.try_get(35)?,
        server_name: r.try_get(36)?,
        server_type: r.try_get(37)?,
        server_cores: r.try_get(38)?,
        pvu_per_core: r.try_get(39)?,
        default_pvu: r.try_get(40)?,
        custom_pvu: r.try_get(41)?,
    })
}

fn row_to_instance(r: &SqliteRow) -> Result<SoftwareInstanceRow> {
    Ok(row_to_instance_ref(r)?.to_owned_row())
}

fn row_to_component(r: &SqliteRow) -> Result<SoftwareComponentRow> {
    Ok(SoftwareComponentRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        release: r.try_get("release")?,
        publisher: r.try_get("publisher")?,
    })
}

fn row_to_option(r: &SqliteRow) -> Result<BundlingOptionRow> {
    Ok(BundlingOptionRow {
        component_id: r.try_get("component_id")?,
        component_name: r.try_get("component_name")?,
        component_release: r.try_get("component_release")?,
        product_id: r.try_get("product_id")?,
        product_publisher: r.try_get("publisher")?,
        product_name: r.try_get("product_name")?,
        product_release: r.try_get("product_release")?,
        metric: r.try_get("metric")?,
        charged: flag(r, "charged")?,
    })
}

fn row_to_audit(r: &SqliteRow) -> Result<AuditRow> {
    Ok(AuditRow {
        id: r.try_get("id")?,
        at: from_ms(r.try_get("at")?),
        user_name: r.try_get("user_name")?,
        action: r.try_get("action")?,
        instance_id: r.try_get("instance_id")?,
        computer_id: r.try_get("computer_id")?,
        component_id: r.try_get("component_id")?,
        product_id: r.try_get("product_id")?,
        comment: r.try_get("comment")?,
        details: r.try_get("details")?,
    })
}

/// The joins of the instance list but the licence placement's.
macro_rules! instance_joins {
    () => {
        " FROM software_instances i
               LEFT JOIN computers c ON c.id = i.computer_id
               LEFT JOIN inventory_products p ON p.id = i.product_id
               LEFT JOIN inventory_components k ON k.id = i.component_id
               LEFT JOIN software_exclusions x
                 ON x.computer_id = i.computer_id AND x.product_id = i.product_id
               LEFT JOIN software_suppressions s
                 ON s.computer_id = i.computer_id AND s.component_id = i.component_id"
    };
}

/// The software instances of visible computers (present or not).
pub struct SoftwareInstanceList;

impl ListSource for SoftwareInstanceList {
    type Row = SoftwareInstanceRow;
    const ENTITY: Entity = Entity::SoftwareInstances;
    const SELECT: &'static str = INSTANCE_SELECT;
    // Instances exist only for published computers (discovery matches
    // computers its import publishes or that are published; a failed
    // import's rows are invisible, then deleted), so the computer is a LEFT
    // JOIN that a page's key query can leave out.
    // The licence placement (a table refreshed by the publish, one row per
    // computer, indexed by computer: migration 0010) is read for the page's
    // rows; the count and the page's keys leave it out unless the filter or
    // the sort names one of its columns.
    const FROM_WHERE: &'static str = concat!(
        instance_joins!(),
        " LEFT JOIN license_current_placement lcp ON lcp.computer_id = i.computer_id WHERE ",
        visible_instance!()
    );
    const LEAN_FROM_WHERE: Option<&'static str> =
        Some(concat!(instance_joins!(), " WHERE ", visible_instance!()));
    const STABLE_ORDER: &'static str = "i.id";
    const KEY: Option<&'static str> = Some("i.id");

    fn needs_full_from(field: &str) -> bool {
        column(Entity::SoftwareInstances, field).is_some_and(|c| c.contains("lcp."))
    }
    fn column(field: &str) -> Option<&'static str> {
        column(Entity::SoftwareInstances, field)
    }
    fn row(r: &SqliteRow) -> Result<SoftwareInstanceRow> {
        row_to_instance(r)
    }
}

impl crate::list::RefListSource for SoftwareInstanceList {
    fn row_ref<'r>(r: &'r rusqlite::Row<'_>) -> Result<SoftwareInstanceRef<'r>> {
        instance_from_rusqlite(r)
    }
}

/// [`row_to_instance_ref`] for a row read through rusqlite
/// ([`crate::Store::stream_list_ref`]): the same columns by position, text
/// borrowed from the row.
fn instance_from_rusqlite<'r>(r: &'r rusqlite::Row<'_>) -> Result<SoftwareInstanceRef<'r>> {
    use rusqlite::types::ValueRef;
    let bad = |i: usize, what: &str| {
        crate::StoreError::Corrupt(format!(
            "software instance column {i} is not {what} (INSTANCE_SELECT)"
        ))
    };
    let opt_text = |i: usize| -> Result<Option<&'r str>> {
        match r.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .map(Some)
                .map_err(|_| bad(i, "UTF-8 text")),
            _ => Err(bad(i, "text")),
        }
    };
    let text =
        |i: usize| -> Result<&'r str> { opt_text(i)?.ok_or_else(|| bad(i, "non-null text")) };
    let opt_int = |i: usize| -> Result<Option<i64>> {
        match r.get_ref(i)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(n) => Ok(Some(n)),
            _ => Err(bad(i, "an integer")),
        }
    };
    let int = |i: usize| -> Result<i64> { opt_int(i)?.ok_or_else(|| bad(i, "a non-null integer")) };
    Ok(SoftwareInstanceRef {
        instance_id: int(0)?,
        computer_id: int(1)?,
        computer_name: opt_text(2)?,
        computer_dns_name: opt_text(3)?,
        computer_ip_addresses_text: opt_text(4)?,
        computer_os: opt_text(5)?,
        product_publisher_name: opt_text(6)?,
        product_name: opt_text(7)?,
        product_release: opt_text(8)?,
        product_id: opt_text(9)?,
        component_name: opt_text(10)?,
        component_release: opt_text(11)?,
        detailed_version: opt_text(12)?,
        component_id: text(13)?,
        metric: opt_text(14)?,
        discovery_path: text(15)?,
        discovery_start: from_ms(int(16)?),
        discovery_end: opt_int(17)?.map(from_ms),
        is_present: int(18)? != 0,
        is_charged: int(19)? != 0,
        is_confirmed: int(20)? != 0,
        is_excluded: int(21)? != 0,
        is_suppressed: int(22)? != 0,
        comment: opt_text(23)?,
        signature_kind: text(24)?,
        evidence_source: text(25)?,
        evidence_name: text(26)?,
        evidence_version: opt_text(27)?,
        bundling_rule: opt_int(28)?,
        bundling_details: opt_text(29)?,
        computer_type: opt_int(30)?,
        processor_vendor: opt_text(31)?,
        processor_brand: opt_text(32)?,
        sockets: opt_int(33)?,
        cores: opt_int(34)?,
        server_id: opt_int(35)?,
        server_name: opt_text(36)?,
        server_type: opt_int(37)?,
        server_cores: opt_int(38)?,
        pvu_per_core: opt_int(39)?,
        default_pvu: opt_int(40)?,
        custom_pvu: opt_int(41)?,
    })
}

/// The components of the catalog in force.
pub struct SoftwareComponentList;

impl ListSource for SoftwareComponentList {
    type Row = SoftwareComponentRow;
    const ENTITY: Entity = Entity::SoftwareComponents;
    const SELECT: &'static str = COMPONENT_SELECT;
    const FROM_WHERE: &'static str = " FROM inventory_components k WHERE k.in_catalog = 1";
    const STABLE_ORDER: &'static str = "k.id";

    fn column(field: &str) -> Option<&'static str> {
        column(Entity::SoftwareComponents, field)
    }
    fn row(r: &SqliteRow) -> Result<SoftwareComponentRow> {
        row_to_component(r)
    }
}

/// The bundling options of the catalog in force.
pub struct BundlingOptionList;

impl ListSource for BundlingOptionList {
    type Row = BundlingOptionRow;
    const ENTITY: Entity = Entity::BundlingOptions;
    const SELECT: &'static str = OPTION_SELECT;
    const FROM_WHERE: &'static str = " FROM inventory_bundling_options o
               LEFT JOIN inventory_components k ON k.id = o.component_id
               LEFT JOIN inventory_products p ON p.id = o.product_id
             WHERE 1";
    const STABLE_ORDER: &'static str = "o.component_id, o.product_id";

    fn column(field: &str) -> Option<&'static str> {
        column(Entity::BundlingOptions, field)
    }
    fn row(r: &SqliteRow) -> Result<BundlingOptionRow> {
        row_to_option(r)
    }
}

/// The classification audit trail.
pub struct ClassificationAuditList;

impl ListSource for ClassificationAuditList {
    type Row = AuditRow;
    const ENTITY: Entity = Entity::ClassificationAudit;
    const SELECT: &'static str = AUDIT_SELECT;
    const FROM_WHERE: &'static str = " FROM classification_audit a WHERE 1";
    const STABLE_ORDER: &'static str = "a.id";
    const KEY: Option<&'static str> = Some("a.id");

    fn column(field: &str) -> Option<&'static str> {
        column(Entity::ClassificationAudit, field)
    }
    fn row(r: &SqliteRow) -> Result<AuditRow> {
        row_to_audit(r)
    }
}

/// The SQL expression of a field of the software lists.
fn column(entity: Entity, field: &str) -> Option<&'static str> {
    Some(match (entity, field) {
        (Entity::SoftwareInstances, f) => match f {
            "instance_id" => "i.id",
            "computer_id" | "computer_bigfix_id" => "i.computer_id",
            "computer_name" => "c.name",
            "computer_dns_name" => "c.dns_name",
            "computer_ip_address" => "c.ip_addresses",
            "computer_os" => "c.os",
            "product_publisher_name" => "p.publisher",
            "product_name" => "p.name",
            "product_release" => "p.release",
            "product_release_guid" => "i.product_id",
            "component_name" => "k.name",
            "component_release" => "k.release",
            "component_detailed_version" => "i.detailed_version",
            "discoverable_guid" => "i.component_id",
            "metric_id" => "p.metric",
            "bundle_id" => "(CASE WHEN i.product_id IS NULL THEN -1 ELSE 0 END)",
            "discovery_path" => "i.discovery_path",
            "discovery_start" => "i.discovery_start",
            "discovery_end" => "i.discovery_end",
            "is_present" => "i.is_present",
            "is_charged" => "i.is_charged",
            "is_confirmed" => "i.is_confirmed",
            "is_excluded" => "(x.computer_id IS NOT NULL)",
            "is_suppressed" => "(s.computer_id IS NOT NULL)",
            "exclusion_or_suppress_comment" => "COALESCE(x.comment, s.comment)",
            "signature_kind" => "i.signature_kind",
            "evidence_source" => "i.evidence_source",
            "evidence_name" => "i.evidence_name",
            "evidence_version" => "i.evidence_version",
            "bundling_evidence.bundling_rule" => "i.bundling_rule",
            "bundling_evidence.bundling_rule_name" => RULE_NAME,
            "bundling_evidence.details" => "i.bundling_details",
            "computer_hardware.computer_type" => placement_computer_type!(),
            "computer_hardware.processor_vendor" => "c.processor_vendor",
            "computer_hardware.processor_brand_string" => "c.processor_brand",
            "computer_hardware.node_total_processors" => "c.sockets",
            "computer_hardware.partition_cores" => "c.cores",
            "computer_hardware.server_id" => "lcp.server_id",
            "computer_hardware.server_name" => "lcp.server_name",
            "computer_hardware.server_type" => placement_server_type!(),
            "computer_hardware.server_cores" => placement_server_cores!(),
            "computer_hardware.pvu_per_core" => "lcp.pvu_per_core",
            "computer_hardware.default_pvu_value" => "lcp.default_pvu",
            "computer_hardware.custom_pvu_per_core" => "lcp.custom_pvu",
            _ => return None,
        },
        (Entity::SoftwareComponents, f) => match f {
            "id" | "guid" => "k.id",
            "name" => "k.name",
            "release" => "k.release",
            "publisher_name" => "k.publisher",
            "is_ibm" => "(k.publisher = 'IBM')",
            _ => return None,
        },
        (Entity::BundlingOptions, f) => match f {
            "component_guid" => "o.component_id",
            "component_name" => "k.name",
            "component_release" => "k.release",
            "product_release_guid" => "o.product_id",
            "product_publisher_name" => "p.publisher",
            "product_name" => "p.name",
            "product_release" => "p.release",
            "metric_id" => "p.metric",
            "is_charged" => "o.charged",
            _ => return None,
        },
        (Entity::ClassificationAudit, f) => match f {
            "id" => "a.id",
            "time" => "a.at",
            "user_name" => "a.user_name",
            "action" => "a.action",
            "instance_id" => "a.instance_id",
            "computer_id" => "a.computer_id",
            "discoverable_guid" => "a.component_id",
            "product_release_guid" => "a.product_id",
            "comment" => "a.comment",
            "details" => "a.details",
            _ => return None,
        },
        _ => return None,
    })
}
