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
    pub is_virtual: Option<bool>,
    pub processor_vendor: Option<String>,
    pub processor_brand: Option<String>,
    pub sockets: Option<i64>,
    pub cores: Option<i64>,
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

const INSTANCE_SELECT: &str = "SELECT i.id, i.computer_id, c.name AS computer_name,
    c.dns_name, c.ip_addresses, c.os, p.publisher, p.name AS product_name, p.release AS product_release,
    i.product_id, k.name AS component_name, k.release AS component_release, i.detailed_version,
    i.component_id, p.metric, i.discovery_path, i.discovery_start, i.discovery_end,
    i.is_present, i.is_charged, i.is_confirmed, (x.computer_id IS NOT NULL) AS is_excluded,
    (s.computer_id IS NOT NULL) AS is_suppressed, COALESCE(x.comment, s.comment) AS comment,
    i.signature_kind, i.evidence_source, i.evidence_name, i.evidence_version, i.bundling_rule,
    i.bundling_details, c.is_virtual, c.processor_vendor, c.processor_brand, c.sockets, c.cores";

const COMPONENT_SELECT: &str = "SELECT k.id, k.name, k.release, k.publisher";

const OPTION_SELECT: &str = "SELECT o.component_id, k.name AS component_name,
    k.release AS component_release, o.product_id, p.publisher, p.name AS product_name,
    p.release AS product_release, p.metric, o.charged";

const AUDIT_SELECT: &str = "SELECT a.id, a.at, a.user_name, a.action, a.instance_id,
    a.computer_id, a.component_id, a.product_id, a.comment, a.details";

fn flag(r: &SqliteRow, col: &str) -> Result<bool> {
    Ok(r.try_get::<i64, _>(col)? != 0)
}

fn row_to_instance(r: &SqliteRow) -> Result<SoftwareInstanceRow> {
    let ips: Option<String> = r.try_get("ip_addresses")?;
    Ok(SoftwareInstanceRow {
        instance_id: r.try_get("id")?,
        computer_id: r.try_get("computer_id")?,
        computer_name: r.try_get("computer_name")?,
        computer_dns_name: r.try_get("dns_name")?,
        computer_ip_addresses: crate::inventory_query::parse_addresses(
            ips.as_deref().unwrap_or(""),
        ),
        computer_os: r.try_get("os")?,
        product_publisher_name: r.try_get("publisher")?,
        product_name: r.try_get("product_name")?,
        product_release: r.try_get("product_release")?,
        product_id: r.try_get("product_id")?,
        component_name: r.try_get("component_name")?,
        component_release: r.try_get("component_release")?,
        detailed_version: r.try_get("detailed_version")?,
        component_id: r.try_get("component_id")?,
        metric: r.try_get("metric")?,
        discovery_path: r.try_get("discovery_path")?,
        discovery_start: from_ms(r.try_get("discovery_start")?),
        discovery_end: r.try_get::<Option<i64>, _>("discovery_end")?.map(from_ms),
        is_present: flag(r, "is_present")?,
        is_charged: flag(r, "is_charged")?,
        is_confirmed: flag(r, "is_confirmed")?,
        is_excluded: flag(r, "is_excluded")?,
        is_suppressed: flag(r, "is_suppressed")?,
        comment: r.try_get("comment")?,
        signature_kind: r.try_get("signature_kind")?,
        evidence_source: r.try_get("evidence_source")?,
        evidence_name: r.try_get("evidence_name")?,
        evidence_version: r.try_get("evidence_version")?,
        bundling_rule: r.try_get("bundling_rule")?,
        bundling_details: r.try_get("bundling_details")?,
        is_virtual: r.try_get::<Option<i64>, _>("is_virtual")?.map(|v| v != 0),
        processor_vendor: r.try_get("processor_vendor")?,
        processor_brand: r.try_get("processor_brand")?,
        sockets: r.try_get("sockets")?,
        cores: r.try_get("cores")?,
    })
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
    const FROM_WHERE: &'static str = concat!(
        " FROM software_instances i
               LEFT JOIN computers c ON c.id = i.computer_id
               LEFT JOIN inventory_products p ON p.id = i.product_id
               LEFT JOIN inventory_components k ON k.id = i.component_id
               LEFT JOIN software_exclusions x
                 ON x.computer_id = i.computer_id AND x.product_id = i.product_id
               LEFT JOIN software_suppressions s
                 ON s.computer_id = i.computer_id AND s.component_id = i.component_id
             WHERE ",
        visible_instance!()
    );
    const STABLE_ORDER: &'static str = "i.id";
    const KEY: Option<&'static str> = Some("i.id");

    fn column(field: &str) -> Option<&'static str> {
        column(Entity::SoftwareInstances, field)
    }
    fn row(r: &SqliteRow) -> Result<SoftwareInstanceRow> {
        row_to_instance(r)
    }
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
            "computer_hardware.computer_type" => "c.is_virtual",
            "computer_hardware.processor_vendor" => "c.processor_vendor",
            "computer_hardware.processor_brand_string" => "c.processor_brand",
            "computer_hardware.node_total_processors" => "c.sockets",
            "computer_hardware.partition_cores" => "c.cores",
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
