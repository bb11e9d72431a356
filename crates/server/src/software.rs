//! The software inventory API (ILMT v2 conventions): the software
//! instances (`GET`), their classification (`PUT`, ILMT's shape and
//! summary), the catalog's components and bundling options, and the
//! classification audit trail.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::list::{self, json_response};
use crate::params::{ListParams, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use openlmt_domain::query::Entity;
use openlmt_domain::time::format_utc;
use openlmt_domain::Permission;
use openlmt_storage::{
    AuditRow, BundlingOptionList, BundlingOptionRow, ClassificationAuditList, ClassifyRequest,
    ClassifySummary, ComputerRef, InstanceRef, RowOutcome, SoftwareComponentList,
    SoftwareComponentRow, SoftwareInstanceList, SoftwareInstanceRef, SoftwareInstanceRow,
};
use serde_json::{json, Map, Value};

/// The most rows one classification call may carry (ILMT's limit).
pub const MAX_CLASSIFY_ROWS: usize = 150;
/// The largest classification body.
pub const MAX_CLASSIFY_BYTES: usize = 4 * 1024 * 1024;

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_utc(t)))
}

const RULE_NAMES: [&str; 6] = [
    "Manual Assignment",
    "Single Bundling Option",
    "Upgrade Based Inheritance",
    "Computer Best Fit",
    "Environment Wide Best Fit",
    "Final Tie Breaker",
];

/// A software instance as the API shows it; keys in the order of
/// [`Entity::SoftwareInstances`]'s fields (dotted ones nested).
pub fn instance_json(r: &SoftwareInstanceRow) -> Map<String, Value> {
    let rule_name = r
        .bundling_rule
        .and_then(|id| usize::try_from(id - 1).ok())
        .and_then(|i| RULE_NAMES.get(i).copied());
    let flat = json!({
        "instance_id": r.instance_id,
        "computer_id": r.computer_id,
        "computer_bigfix_id": r.computer_id,
        "computer_name": r.computer_name,
        "computer_dns_name": r.computer_dns_name,
        "computer_ip_address": r.computer_ip_addresses,
        "computer_os": r.computer_os,
        "product_publisher_name": r.product_publisher_name,
        "product_name": r.product_name,
        "product_release": r.product_release,
        "product_release_guid": r.product_id,
        "component_name": r.component_name,
        "component_release": r.component_release,
        "component_detailed_version": r.detailed_version,
        "discoverable_guid": r.component_id,
        "metric_id": r.metric,
        "bundle_id": if r.product_id.is_some() { 0 } else { -1 },
        "discovery_path": if r.discovery_path.is_empty() { None } else { Some(&r.discovery_path) },
        "discovery_start": time(Some(r.discovery_start)),
        "discovery_end": time(r.discovery_end),
        "is_present": r.is_present,
        "is_charged": r.is_charged,
        "is_confirmed": r.is_confirmed,
        "is_excluded": r.is_excluded,
        "is_suppressed": r.is_suppressed,
        "exclusion_or_suppress_comment": r.comment,
        "signature_kind": r.signature_kind,
        "evidence_source": r.evidence_source,
        "evidence_name": r.evidence_name,
        "evidence_version": r.evidence_version,
        "bundling_evidence.bundling_rule": r.bundling_rule,
        "bundling_evidence.bundling_rule_name": rule_name,
        "bundling_evidence.details": r.bundling_details,
        "computer_hardware.computer_type": r.computer_type,
        "computer_hardware.processor_vendor": r.processor_vendor,
        "computer_hardware.processor_brand_string": r.processor_brand,
        "computer_hardware.node_total_processors": r.sockets,
        "computer_hardware.partition_cores": r.cores,
        // An extra column (list::INSTANCE_EXTRA_COLUMNS), shown only when asked.
        "discovery_details.discovery_path": if r.discovery_path.is_empty() { None } else { Some(&r.discovery_path) },
    });
    let mut m = match flat {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // Where the latest licence hierarchy counts the computer (as the
    // computers list shows it); one by one (json! would recurse too deeply
    // with them all).
    let placement = [
        ("computer_hardware.server_id", json!(r.server_id)),
        ("computer_hardware.server_name", json!(r.server_name)),
        ("computer_hardware.server_type", json!(r.server_type)),
        ("computer_hardware.server_cores", json!(r.server_cores)),
        ("computer_hardware.pvu_per_core", json!(r.pvu_per_core)),
        ("computer_hardware.default_pvu_value", json!(r.default_pvu)),
        ("computer_hardware.custom_pvu_per_core", json!(r.custom_pvu)),
    ];
    for (k, v) in placement {
        m.insert(k.to_string(), v);
    }
    m
}

/// What an instance's column shows (the keys of [`instance_json`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InstanceCol {
    InstanceId,
    ComputerId,
    ComputerName,
    ComputerDnsName,
    ComputerIpAddress,
    ComputerOs,
    ProductPublisherName,
    ProductName,
    ProductRelease,
    ProductReleaseGuid,
    ComponentName,
    ComponentRelease,
    ComponentDetailedVersion,
    DiscoverableGuid,
    MetricId,
    BundleId,
    DiscoveryPath,
    DiscoveryStart,
    DiscoveryEnd,
    IsPresent,
    IsCharged,
    IsConfirmed,
    IsExcluded,
    IsSuppressed,
    Comment,
    SignatureKind,
    EvidenceSource,
    EvidenceName,
    EvidenceVersion,
    BundlingRule,
    BundlingRuleName,
    BundlingDetails,
    ComputerType,
    ProcessorVendor,
    ProcessorBrandString,
    NodeTotalProcessors,
    PartitionCores,
    ServerId,
    ServerName,
    ServerType,
    ServerCores,
    PvuPerCore,
    DefaultPvuValue,
    CustomPvuPerCore,
    /// A column the row has no value for: `null`.
    Null,
}

impl InstanceCol {
    fn of(name: &str) -> InstanceCol {
        use InstanceCol::*;
        match name {
            "instance_id" => InstanceId,
            "computer_id" | "computer_bigfix_id" => ComputerId,
            "computer_name" => ComputerName,
            "computer_dns_name" => ComputerDnsName,
            "computer_ip_address" => ComputerIpAddress,
            "computer_os" => ComputerOs,
            "product_publisher_name" => ProductPublisherName,
            "product_name" => ProductName,
            "product_release" => ProductRelease,
            "product_release_guid" => ProductReleaseGuid,
            "component_name" => ComponentName,
            "component_release" => ComponentRelease,
            "component_detailed_version" => ComponentDetailedVersion,
            "discoverable_guid" => DiscoverableGuid,
            "metric_id" => MetricId,
            "bundle_id" => BundleId,
            "discovery_path" | "discovery_details.discovery_path" => DiscoveryPath,
            "discovery_start" => DiscoveryStart,
            "discovery_end" => DiscoveryEnd,
            "is_present" => IsPresent,
            "is_charged" => IsCharged,
            "is_confirmed" => IsConfirmed,
            "is_excluded" => IsExcluded,
            "is_suppressed" => IsSuppressed,
            "exclusion_or_suppress_comment" => Comment,
            "signature_kind" => SignatureKind,
            "evidence_source" => EvidenceSource,
            "evidence_name" => EvidenceName,
            "evidence_version" => EvidenceVersion,
            "bundling_evidence.bundling_rule" => BundlingRule,
            "bundling_evidence.bundling_rule_name" => BundlingRuleName,
            "bundling_evidence.details" => BundlingDetails,
            "computer_hardware.computer_type" => ComputerType,
            "computer_hardware.processor_vendor" => ProcessorVendor,
            "computer_hardware.processor_brand_string" => ProcessorBrandString,
            "computer_hardware.node_total_processors" => NodeTotalProcessors,
            "computer_hardware.partition_cores" => PartitionCores,
            "computer_hardware.server_id" => ServerId,
            "computer_hardware.server_name" => ServerName,
            "computer_hardware.server_type" => ServerType,
            "computer_hardware.server_cores" => ServerCores,
            "computer_hardware.pvu_per_core" => PvuPerCore,
            "computer_hardware.default_pvu_value" => DefaultPvuValue,
            "computer_hardware.custom_pvu_per_core" => CustomPvuPerCore,
            _ => Null,
        }
    }
}

/// Writes software instances straight from their result rows
/// ([`list::RowWriter`]); the same bytes as [`instance_json`] through
/// [`list::project`] (`tests::the_direct_writer_equals_the_map_path`,
/// `cli/tests/software_api.rs`).
pub struct InstanceWriter {
    plan: list::RowPlan<InstanceCol>,
    /// The last computer's address text and its JSON (rows come grouped by
    /// computer more often than not).
    ips: Option<(String, Vec<u8>)>,
}

impl InstanceWriter {
    pub fn new<N: AsRef<str>>(columns: Option<&[N]>) -> Self {
        InstanceWriter {
            plan: list::RowPlan::new(Entity::SoftwareInstances, columns, InstanceCol::of),
            ips: None,
        }
    }

    fn value(
        ips: &mut Option<(String, Vec<u8>)>,
        r: &SoftwareInstanceRef<'_>,
        c: InstanceCol,
        out: &mut Vec<u8>,
    ) {
        use InstanceCol::*;
        fn text(out: &mut Vec<u8>, s: Option<&str>) {
            match s {
                // (Writing a &str into a Vec cannot fail.)
                Some(s) => drop(serde_json::to_writer(&mut *out, s)),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn int(out: &mut Vec<u8>, n: Option<i64>) {
            match n {
                Some(n) => out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        fn flag(out: &mut Vec<u8>, b: bool) {
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        fn when(out: &mut Vec<u8>, t: Option<DateTime<Utc>>) {
            text(out, t.map(format_utc).as_deref());
        }
        match c {
            InstanceId => int(out, Some(r.instance_id)),
            ComputerId => int(out, Some(r.computer_id)),
            ComputerName => text(out, r.computer_name),
            ComputerDnsName => text(out, r.computer_dns_name),
            ComputerIpAddress => {
                let raw = r.computer_ip_addresses_text.unwrap_or("");
                match ips {
                    Some((t, json)) if t == raw => out.extend_from_slice(json),
                    _ => {
                        let json = serde_json::to_vec(&r.ip_addresses()).unwrap_or_default();
                        out.extend_from_slice(&json);
                        *ips = Some((raw.to_string(), json));
                    }
                }
            }
            ComputerOs => text(out, r.computer_os),
            ProductPublisherName => text(out, r.product_publisher_name),
            ProductName => text(out, r.product_name),
            ProductRelease => text(out, r.product_release),
            ProductReleaseGuid => text(out, r.product_id),
            ComponentName => text(out, r.component_name),
            ComponentRelease => text(out, r.component_release),
            ComponentDetailedVersion => text(out, r.detailed_version),
            DiscoverableGuid => text(out, Some(r.component_id)),
            MetricId => text(out, r.metric),
            BundleId => int(out, Some(if r.product_id.is_some() { 0 } else { -1 })),
            DiscoveryPath => text(out, Some(r.discovery_path).filter(|p| !p.is_empty())),
            DiscoveryStart => when(out, Some(r.discovery_start)),
            DiscoveryEnd => when(out, r.discovery_end),
            IsPresent => flag(out, r.is_present),
            IsCharged => flag(out, r.is_charged),
            IsConfirmed => flag(out, r.is_confirmed),
            IsExcluded => flag(out, r.is_excluded),
            IsSuppressed => flag(out, r.is_suppressed),
            Comment => text(out, r.comment),
            SignatureKind => text(out, Some(r.signature_kind)),
            EvidenceSource => text(out, Some(r.evidence_source)),
            EvidenceName => text(out, Some(r.evidence_name)),
            EvidenceVersion => text(out, r.evidence_version),
            BundlingRule => int(out, r.bundling_rule),
            BundlingRuleName => text(out, rule_name(r.bundling_rule)),
            BundlingDetails => text(out, r.bundling_details),
            ComputerType => int(out, r.computer_type),
            ProcessorVendor => text(out, r.processor_vendor),
            ProcessorBrandString => text(out, r.processor_brand),
            NodeTotalProcessors => int(out, r.sockets),
            PartitionCores => int(out, r.cores),
            ServerId => int(out, r.server_id),
            ServerName => text(out, r.server_name),
            ServerType => int(out, r.server_type),
            ServerCores => int(out, r.server_cores),
            PvuPerCore => int(out, r.pvu_per_core),
            DefaultPvuValue => int(out, r.default_pvu),
            CustomPvuPerCore => int(out, r.custom_pvu),
            Null => out.extend_from_slice(b"null"),
        }
    }
}

impl list::RowWriter<SoftwareInstanceList> for InstanceWriter {
    fn write(&mut self, row: &SoftwareInstanceRef<'_>, out: &mut Vec<u8>) {
        let ips = &mut self.ips;
        self.plan.write(out, |c, out| Self::value(ips, row, c, out));
    }
}

fn rule_name(rule: Option<i64>) -> Option<&'static str> {
    rule.and_then(|id| usize::try_from(id - 1).ok())
        .and_then(|i| RULE_NAMES.get(i).copied())
}

pub fn component_json(r: &SoftwareComponentRow) -> Map<String, Value> {
    match json!({
        "id": r.id,
        "name": r.name,
        "release": r.release,
        "guid": r.id,
        "publisher_name": r.publisher,
        "is_ibm": r.publisher.as_deref() == Some("IBM"),
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn bundling_option_json(r: &BundlingOptionRow) -> Map<String, Value> {
    match json!({
        "component_guid": r.component_id,
        "component_name": r.component_name,
        "component_release": r.component_release,
        "product_release_guid": r.product_id,
        "product_publisher_name": r.product_publisher,
        "product_name": r.product_name,
        "product_release": r.product_release,
        "metric_id": r.metric,
        "is_charged": r.charged,
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn audit_json(r: &AuditRow) -> Map<String, Value> {
    let details = r
        .details
        .as_deref()
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .unwrap_or(Value::Null);
    match json!({
        "id": r.id,
        "time": time(Some(r.at)),
        "user_name": r.user_name,
        "action": r.action,
        "instance_id": r.instance_id,
        "computer_id": r.computer_id,
        "discoverable_guid": r.component_id,
        "product_release_guid": r.product_id,
        "comment": r.comment,
        "details": details,
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `GET /api/sam/v2/software_instances`
pub async fn list_instances(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewSoftware, "list the software instances")?;
    let req = list::list_request(Entity::SoftwareInstances, &params, Utc::now())?;
    let writer = InstanceWriter::new(req.columns.as_deref());
    list::respond_direct::<SoftwareInstanceList, _>(app.engine.store(), req, writer).await
}

/// `GET /api/sam/v2/software_components`
pub async fn list_components(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewSoftware, "list the software components")?;
    let req = list::list_request(Entity::SoftwareComponents, &params, Utc::now())?;
    list::respond::<SoftwareComponentList>(app.engine.store(), req, component_json).await
}

/// `GET /api/sam/v2/bundling_options`
pub async fn list_bundling_options(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewSoftware, "list the bundling options")?;
    let req = list::list_request(Entity::BundlingOptions, &params, Utc::now())?;
    list::respond::<BundlingOptionList>(app.engine.store(), req, bundling_option_json).await
}

/// `GET /api/sam/v2/classification_audit`
pub async fn list_audit(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(
        Permission::ViewSoftware,
        "read the classification audit trail",
    )?;
    let req = list::list_request(Entity::ClassificationAudit, &params, Utc::now())?;
    list::respond::<ClassificationAuditList>(app.engine.store(), req, audit_json).await
}

/// A boolean as clients send it: `true`/`false`, `1`/`0`, or those as strings.
fn flag(v: &Value, name: &str) -> Result<Option<bool>, String> {
    Ok(match v {
        Value::Null => None,
        Value::Bool(b) => Some(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Some(true),
        Value::Number(n) if n.as_i64() == Some(0) => Some(false),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => return Err(format!("{name} is not a boolean")),
        },
        _ => return Err(format!("{name} is not a boolean")),
    })
}

/// A whole number as clients send it: a number or a string of digits.
fn int(v: &Value, name: &str) -> Result<Option<i64>, String> {
    Ok(match v {
        Value::Null => None,
        Value::Number(n) => Some(
            n.as_i64()
                .ok_or_else(|| format!("{name} is not a whole number"))?,
        ),
        Value::String(s) => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{name} is not a whole number"))?,
        ),
        _ => return Err(format!("{name} is not a whole number")),
    })
}

fn text(v: &Value, name: &str) -> Result<Option<String>, String> {
    Ok(match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => return Err(format!("{name} is not a string")),
    })
}

/// Reads one classification row (an object, as a GET returns it, possibly
/// with more columns, which are ignored). The error is the reason counted
/// in the summary.
pub fn read_row(v: &Value) -> Result<(InstanceRef, ClassifyRequest), String> {
    let Value::Object(m) = v else {
        return Err("row is not an object".into());
    };
    let get = |k: &str| m.get(k).unwrap_or(&Value::Null);
    let target = if let Some(id) = int(get("instance_id"), "instance_id")? {
        InstanceRef::Id(id)
    } else {
        let computer = if let Some(id) = int(get("computer_id"), "computer_id")? {
            ComputerRef::Id(id)
        } else if let Some(id) = int(get("computer_bigfix_id"), "computer_bigfix_id")? {
            ComputerRef::Id(id)
        } else if let Some(dns) = text(get("computer_dns_name"), "computer_dns_name")? {
            ComputerRef::DnsName(dns)
        } else {
            return Err("row names no instance: give instance_id, or computer_id, computer_bigfix_id or computer_dns_name with discoverable_guid".into());
        };
        let Some(component_id) = text(get("discoverable_guid"), "discoverable_guid")? else {
            return Err("row names no instance: discoverable_guid is missing".into());
        };
        InstanceRef::Component {
            computer,
            component_id,
            discovery_path: text(get("discovery_path"), "discovery_path")?,
        }
    };
    let req = ClassifyRequest {
        product_id: text(get("product_release_guid"), "product_release_guid")?,
        metric: match m.get("metric_id") {
            None => None,
            Some(v) => Some(text(v, "metric_id")?),
        },
        charged: flag(get("is_charged"), "is_charged")?,
        confirmed: flag(get("is_confirmed"), "is_confirmed")?,
        excluded: flag(get("is_excluded"), "is_excluded")?,
        suppressed: flag(get("is_suppressed"), "is_suppressed")?,
        comment: text(
            get("exclusion_or_suppress_comment"),
            "exclusion_or_suppress_comment",
        )?,
    };
    Ok((target, req))
}

/// The summary ILMT's clients read, plus per-row results when `verbose`.
pub fn summary_json(outcomes: &[RowOutcome], verbose: bool, simulate: bool) -> Value {
    let s = ClassifySummary::of(outcomes);
    let mut body = json!({
        "summary": {
            "valid_instances": s.valid,
            "unmodified_instances": s.unmodified,
            "invalid_instances": s.invalid,
        },
        "simulate": simulate,
    });
    if verbose {
        let rows: Vec<Value> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| match o {
                RowOutcome::Modified {
                    instance_id,
                    actions,
                } => json!({"row": i, "instance_id": instance_id, "result": "modified", "actions": actions}),
                RowOutcome::Unmodified { instance_id } => {
                    json!({"row": i, "instance_id": instance_id, "result": "unmodified"})
                }
                RowOutcome::Invalid { reason } => {
                    json!({"row": i, "result": "invalid", "reason": reason})
                }
            })
            .collect();
        body["rows"] = Value::Array(rows);
    }
    body
}

/// `PUT /api/sam/v2/software_instances[?simulate=true][&verbose=true]`:
/// a JSON array of rows, or an object with `rows` (a GET's answer sent back
/// unchanged), at most [`MAX_CLASSIFY_ROWS`]; answers `207` with the summary.
pub async fn classify(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(
        Permission::ManageSoftwareClassification,
        "classify software instances",
    )?;
    let params = Params::parse(query.as_deref());
    let yes = |name: &str| -> Result<bool, ApiError> {
        match params.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(false),
            Some(v) if v == "true" || v == "1" => Ok(true),
            Some(v) if v == "false" || v == "0" || v.is_empty() => Ok(false),
            Some(_) => Err(ApiError::bad_request(format!("`{name}` is true or false"))),
        }
    };
    let simulate = yes("simulate")?;
    let verbose = yes("verbose")?;
    if body.len() > MAX_CLASSIFY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_CLASSIFY_BYTES} bytes"),
        ));
    }
    let doc: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON ({e}); send an array of rows or an object with `rows`"
        ))
    })?;
    let rows = match doc {
        Value::Array(rows) => rows,
        Value::Object(mut m) => match m.remove("rows") {
            Some(Value::Array(rows)) => rows,
            _ => {
                return Err(ApiError::bad_request(
                    "the body is an object without a `rows` list; send an array of rows or an object with `rows`",
                ))
            }
        },
        _ => {
            return Err(ApiError::bad_request(
                "the body must be an array of rows or an object with `rows`",
            ))
        }
    };
    if rows.len() > MAX_CLASSIFY_ROWS {
        return Err(ApiError::bad_request(format!(
            "{} rows: at most {MAX_CLASSIFY_ROWS} instances per call",
            rows.len()
        )));
    }
    let parsed: Vec<_> = rows.iter().map(read_row).collect();
    let outcomes = app
        .engine
        .store()
        .classify(&caller.0.name, &parsed, simulate)
        .await?;
    if !simulate {
        let changed = outcomes
            .iter()
            .filter(|o| matches!(o, RowOutcome::Modified { .. }))
            .count();
        tracing::info!(user = %caller.0.name, rows = rows.len(), changed, "software classified");
    }
    let mut resp = json_response(&summary_json(&outcomes, verbose, simulate));
    *resp.status_mut() = StatusCode::MULTI_STATUS;
    Ok(resp.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_rows() -> Vec<SoftwareInstanceRef<'static>> {
        let t = DateTime::from_timestamp(1_795_867_200, 0).unwrap();
        let full = SoftwareInstanceRef {
            instance_id: 9_007_199_254_740_993,
            computer_id: -1,
            computer_name: Some("h\u{e9}te \"quoted\" \\ back"),
            computer_dns_name: Some("a\u{1}b\n\t</script>"),
            computer_ip_addresses_text: Some(r#"["192.0.2.1","2001:db8::1"]"#),
            computer_os: Some("Debian GNU/Linux 12 (bookworm)"),
            product_publisher_name: Some("IBM"),
            product_name: Some("Db2 \u{1F600}"),
            product_release: Some("11.5"),
            product_id: Some("p-1"),
            component_name: Some("db2"),
            component_release: Some(""),
            detailed_version: Some("11.5.9.0"),
            component_id: "c-1",
            metric: Some("PVU"),
            discovery_path: "/opt/ibm",
            discovery_start: t,
            discovery_end: Some(t),
            is_present: true,
            is_charged: false,
            is_confirmed: true,
            is_excluded: false,
            is_suppressed: true,
            comment: Some("'single' and \u{2028}"),
            signature_kind: "package",
            evidence_source: "dpkg",
            evidence_name: "db2",
            evidence_version: Some("1"),
            bundling_rule: Some(3),
            bundling_details: Some("{\"x\":1}"),
            computer_type: Some(2),
            processor_vendor: Some("GenuineIntel"),
            processor_brand: Some("Intel(R) Xeon(R)"),
            sockets: Some(2),
            cores: Some(i64::MIN),
            server_id: Some(i64::MAX),
            server_name: Some("kvm-h\u{f4}te \"01\""),
            server_type: Some(0),
            server_cores: Some(16),
            pvu_per_core: Some(70),
            default_pvu: Some(100),
            custom_pvu: Some(-1),
        };
        let empty = SoftwareInstanceRef {
            computer_name: None,
            computer_dns_name: None,
            computer_ip_addresses_text: None,
            computer_os: None,
            product_publisher_name: None,
            product_name: None,
            product_release: None,
            product_id: None,
            component_name: None,
            component_release: None,
            detailed_version: None,
            metric: None,
            discovery_path: "",
            discovery_end: None,
            comment: None,
            evidence_version: None,
            bundling_rule: Some(99),
            bundling_details: None,
            computer_type: None,
            processor_vendor: None,
            processor_brand: None,
            sockets: None,
            cores: None,
            server_id: None,
            server_name: None,
            server_type: None,
            server_cores: None,
            pvu_per_core: None,
            default_pvu: None,
            custom_pvu: None,
            ..full
        };
        let odd_ips = SoftwareInstanceRef {
            computer_ip_addresses_text: Some("not json"),
            bundling_rule: Some(0),
            computer_type: Some(0),
            server_type: Some(1),
            pvu_per_core: Some(120),
            ..empty
        };
        vec![full, empty, odd_ips, full]
    }

    /// The old path: the row as a map, projected, serialized.
    fn by_map(rows: &[SoftwareInstanceRef<'_>], columns: Option<&[&str]>) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            let m = list::project(
                Entity::SoftwareInstances,
                instance_json(&r.to_owned_row()),
                columns,
            );
            serde_json::to_writer(&mut out, &m).unwrap();
        }
        out
    }

    fn direct(rows: &[SoftwareInstanceRef<'_>], columns: Option<&[&str]>) -> Vec<u8> {
        use list::RowWriter;
        let mut w = InstanceWriter::new(columns);
        let mut out = Vec::new();
        for r in rows {
            w.write(r, &mut out);
        }
        out
    }

    #[test]
    fn the_direct_writer_equals_the_map_path() {
        let rows = sample_rows();
        let every: Vec<&str> = Entity::SoftwareInstances
            .fields()
            .iter()
            .map(|f| f.name)
            .collect();
        let mut reversed = every.clone();
        reversed.reverse();
        let selections: Vec<Option<Vec<&str>>> = vec![
            None,
            Some(every.clone()),
            Some(reversed),
            Some(vec![
                "computer_id",
                "product_publisher_name",
                "product_name",
                "product_release",
            ]),
            Some(vec![
                "computer_hardware.partition_cores",
                "instance_id",
                "bundling_evidence.details",
                "computer_hardware.computer_type",
                "computer_ip_address",
                "bundling_evidence.bundling_rule_name",
            ]),
            Some(vec![
                "computer_hardware.pvu_per_core",
                "computer_hardware.server_name",
                "instance_id",
                "computer_hardware.server_type",
                "computer_hardware.custom_pvu_per_core",
                "computer_hardware.server_id",
                "computer_hardware.default_pvu_value",
                "computer_hardware.server_cores",
            ]),
            Some(vec![
                "computer_os_type",
                "usage_data.last_used",
                "discovery_details.discovery_path",
                "discovery_path",
                "computer_hardware.system_model",
                "computer_bigfix_id",
            ]),
            Some(vec![]),
        ];
        for cols in selections {
            let cols = cols.as_deref();
            assert_eq!(
                String::from_utf8(direct(&rows, cols)).unwrap(),
                String::from_utf8(by_map(&rows, cols)).unwrap(),
                "{cols:?}"
            );
        }
    }

    #[test]
    fn rows_read_as_clients_send_them() {
        let (t, r) = read_row(&json!({"instance_id": "42", "is_confirmed": 1})).unwrap();
        assert_eq!(t, InstanceRef::Id(42));
        assert_eq!(r.confirmed, Some(true));
        let (t, r) = read_row(&json!({
            "computer_bigfix_id": 7, "discoverable_guid": "acme-engine-7",
            "product_release_guid": "acme-server-7", "metric_id": "PVU", "is_charged": "true",
            "is_excluded": true, "exclusion_or_suppress_comment": "test system",
            "computer_name": "ignored"}))
        .unwrap();
        assert_eq!(
            t,
            InstanceRef::Component {
                computer: ComputerRef::Id(7),
                component_id: "acme-engine-7".into(),
                discovery_path: None
            }
        );
        assert_eq!(r.product_id.as_deref(), Some("acme-server-7"));
        assert_eq!(r.metric, Some(Some("PVU".into())));
        assert_eq!(r.charged, Some(true));
        assert_eq!(r.excluded, Some(true));
        assert_eq!(r.comment.as_deref(), Some("test system"));
        // A GET row with a null metric: the key is there, its value null.
        let (_, r) = read_row(&json!({"instance_id": 1, "metric_id": null})).unwrap();
        assert_eq!(r.metric, Some(None));
        for (bad, why) in [
            (json!(3), "not an object"),
            (json!({"is_confirmed": true}), "names no instance"),
            (json!({"computer_id": 1}), "discoverable_guid"),
            (
                json!({"instance_id": "x"}),
                "instance_id is not a whole number",
            ),
            (
                json!({"instance_id": 1, "is_excluded": "maybe"}),
                "is_excluded is not a boolean",
            ),
        ] {
            let e = read_row(&bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn the_summary_has_ilmts_shape() {
        let v = summary_json(
            &[
                RowOutcome::Modified {
                    instance_id: 1,
                    actions: vec!["Bundled", "Confirmed"],
                },
                RowOutcome::Unmodified { instance_id: 2 },
                RowOutcome::Invalid {
                    reason: "instance not found".into(),
                },
                RowOutcome::Invalid {
                    reason: "instance not found".into(),
                },
            ],
            false,
            true,
        );
        assert_eq!(v["summary"]["valid_instances"]["Confirmed"], 1);
        assert_eq!(v["summary"]["valid_instances"]["Bundled"], 1);
        assert_eq!(v["summary"]["unmodified_instances"], 1);
        assert_eq!(v["summary"]["invalid_instances"]["instance not found"], 2);
        assert!(v.get("rows").is_none());
    }
}
