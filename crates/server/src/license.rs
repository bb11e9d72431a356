//! The licence metric API (ILMT v2 shapes): `license_usage` (each
//! product's peak of each metric over a period), `license_usage_per_server`
//! (the values of one day per server, with the nested `server`), and
//! `license_usage/explain` (how one value was reached; no ILMT has it), and
//! `license_usage/daily` (one product's daily values, for the panel's chart).
//!
//! `license_usage` is a small aggregate (products × metrics), computed from
//! the stored daily values for the period asked and filtered, sorted and
//! paged in memory with the same criteria semantics as the SQL lists;
//! `license_usage_per_server` is a streamed list like the others.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::list::{self, json_response};
use crate::params::{ListParams, Params};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use openlmt_domain::metric::ReportedMetric;
use openlmt_domain::query::{Condition, Entity, FieldKind, Filter, Op, RowValue, Value};
use openlmt_domain::time::format_utc;
use openlmt_domain::Permission;
use openlmt_storage::{LicenseServerUsageList, ServerUsageRow, UsageRow};
use serde_json::{json, Map, Value as JsonValue};

/// The period `license_usage` covers when none is asked (ILMT's clients
/// ask for 90 days; counting-rules.md §12.3).
pub const DEFAULT_PERIOD_DAYS: i64 = 90;

fn parse_date(params: &Params, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    match params.get(name).map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "`{name}` must be a date YYYY-MM-DD, not `{}`",
                    list::clip(s)
                ))
            }),
    }
}

fn day_start(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// ILMT's `server.type`: 0 a physical server, 1 a VM counted on its own
/// (`TLM_VM_…`), 2 a public-cloud VM (ours; IBM does not document it).
fn server_type(kind: &str) -> i64 {
    match kind {
        "physical" => 0,
        "default" => 1,
        _ => 2,
    }
}

fn metric_id(code: &str) -> JsonValue {
    ReportedMetric::by_code(code).map_or(JsonValue::Null, |m| json!(m.id))
}

/// A `license_usage` row; keys in the order of [`Entity::LicenseUsage`].
fn usage_json(r: &UsageRow) -> Map<String, JsonValue> {
    let m = ReportedMetric::by_code(&r.metric);
    let v = json!({
        "product_publisher_name": r.publisher,
        "product_id": r.product_num,
        "product_name": r.name,
        "product_release": r.release,
        "product_release_guid": r.product_id,
        "metric_id": m.map(|m| m.id),
        "metric_name": m.map(|m| m.name),
        "metric_code_name": r.metric,
        "hwm_quantity": r.quantity,
        "hwm_peak_time": format_utc(day_start(r.peak_day)),
        "hwm_cores": r.cores,
        // openlmt has no FlexPoint or Cloud Pak bundles: every product is
        // stand-alone, as ILMT shows one (bundle_id 0, bundle_type -1).
        "bundle_id": 0,
        "flex_id": 0,
        "bundle_type": -1,
        "bundle_name": null,
        "bundle_guid": null,
        "bundle_metric_contribution": 0,
        "product_bundle_ratio_factor": 1,
        "product_bundle_ratio_divider": 1,
        "peak_date": r.peak_day.format("%Y-%m-%d").to_string(),
    });
    match v {
        JsonValue::Object(m) => m,
        _ => Map::new(),
    }
}

/// A `license_usage_per_server` row; keys in the order of
/// [`Entity::LicenseServerUsage`] (the `server.*` ones nested by the list).
pub fn server_usage_json(r: &ServerUsageRow) -> Map<String, JsonValue> {
    let s = &r.server;
    let v = json!({
        "date": r.day.format("%Y-%m-%d").to_string(),
        "product_id": r.product_num,
        "product_name": r.name,
        "product_release_guid": r.product_id,
        "metric_id": metric_id(&r.metric),
        "metric_code_name": r.metric,
        "bundle_id": 0,
        "bundle_name": null,
        "bundle_guid": null,
        "server_id": s.server_id,
        "hwm_quantity": r.quantity,
        "hwm_cores": r.cores,
        "server.id": s.server_id,
        "server.name": s.name,
        "server.type": server_type(&s.kind),
        "server.hardware_vendor": s.vendor.as_deref().unwrap_or("-"),
        "server.hardware_model": s.model.as_deref().unwrap_or("-"),
        "server.hardware_serial_number": s.serial.as_deref().unwrap_or(&s.name),
        "server.total_processors": s.total_processors,
        "server.cores": s.cores,
        "server.pvu_per_core": s.pvu_per_core,
        "server.active_computers": r.active_computers,
    });
    match v {
        JsonValue::Object(m) => m,
        _ => Map::new(),
    }
}

/// A JSON value of a row as the criteria see it.
fn row_value(kind: FieldKind, v: Option<&JsonValue>) -> RowValue {
    match (kind, v) {
        (_, None | Some(JsonValue::Null)) => RowValue::Null,
        (FieldKind::Int, Some(v)) => v.as_i64().map_or(RowValue::Null, RowValue::Int),
        (FieldKind::Bool, Some(v)) => v.as_bool().map_or(RowValue::Null, RowValue::Bool),
        (FieldKind::Time, Some(v)) => v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map_or(RowValue::Null, |t| RowValue::Time(t.with_timezone(&Utc))),
        (FieldKind::TextList, Some(JsonValue::Array(a))) => RowValue::TextList(
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        ),
        (_, Some(JsonValue::String(s))) => RowValue::Text(s.clone()),
        (_, Some(other)) => RowValue::Text(other.to_string()),
    }
}

/// The period of a request: `startdate`..`enddate` (both included), by
/// default the [`DEFAULT_PERIOD_DAYS`] days ending today (UTC).
fn period(params: &Params, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), ApiError> {
    let end = parse_date(params, "enddate")?.unwrap_or(today);
    let start = match parse_date(params, "startdate")? {
        Some(d) => d,
        None => end
            .checked_sub_signed(Duration::days(DEFAULT_PERIOD_DAYS - 1))
            .ok_or_else(|| ApiError::bad_request(format!("`enddate` ({end}) is out of range")))?,
    };
    if start > end {
        return Err(ApiError::bad_request(format!(
            "`startdate` ({start}) is after `enddate` ({end})"
        )));
    }
    Ok((start, end))
}

/// `GET /api/sam/v2/license_usage`
pub async fn license_usage(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the licence metrics")?;
    let now = Utc::now();
    let (start, end) = period(&params, now.date_naive())?;
    let req = list::list_request(Entity::LicenseUsage, &params, now)?;
    let rows = app.engine.store().license_usage(start, end).await?;
    let fields = Entity::LicenseUsage.fields();
    let kind = |name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map_or(FieldKind::Text, |f| f.kind)
    };
    let mut rows: Vec<Map<String, JsonValue>> = rows
        .iter()
        .map(usage_json)
        .filter(|m| {
            req.query
                .filter()
                .is_none_or(|f| f.matches(&|name| row_value(kind(name), m.get(name))))
        })
        .collect();
    let sort = req.query.sort();
    if !sort.is_empty() {
        // Stable: equal rows keep ILMT's order (metric, then product).
        rows.sort_by(|a, b| {
            for s in sort {
                let k = s.field().kind;
                let name = s.field().name;
                let o = row_value(k, a.get(name)).order(&row_value(k, b.get(name)));
                let o = if s.descending() { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let total = rows.len();
    let page = req.query.page();
    let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let limit = usize::try_from(page.limit()).unwrap_or(0);
    let shown: Vec<JsonValue> = rows
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|r| {
            JsonValue::Object(list::project(
                Entity::LicenseUsage,
                r,
                req.columns.as_deref(),
            ))
        })
        .collect();
    Ok(json_response(&json!({"total": total, "rows": shown})))
}

/// `GET /api/sam/v2/license_usage_per_server?date=YYYY-MM-DD`
pub async fn license_usage_per_server(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the licence metrics")?;
    let now = Utc::now();
    let day = parse_date(&params, "date")?.unwrap_or(now.date_naive());
    let mut req = list::list_request(Entity::LicenseServerUsage, &params, now)?;
    req.query = with_day(req.query, day)?;
    list::respond::<LicenseServerUsageList>(app.engine.store(), req, server_usage_json).await
}

/// The query, restricted to one day.
fn with_day(
    q: openlmt_domain::query::Query,
    day: NaiveDate,
) -> Result<openlmt_domain::query::Query, ApiError> {
    let field = Entity::LicenseServerUsage
        .field("date")
        .ok_or_else(|| ApiError::internal("the per-server list has no date field"))?;
    let cond = Condition::new(
        field,
        Op::Eq,
        Value::Text(day.format("%Y-%m-%d").to_string()),
    )
    .map_err(|e| ApiError::internal(e.0))?;
    let filter = match q.filter() {
        None => Filter::Cond(cond),
        Some(f) => Filter::And(vec![f.clone(), Filter::Cond(cond)]),
    };
    openlmt_domain::query::Query::new(q.entity(), Some(filter), q.sort().to_vec(), q.page())
        .map_err(|e| ApiError::bad_request(e.0))
}

/// `GET /api/sam/v2/license_usage/explain?product_id=&metric_id=&date=`:
/// how one product's value of one metric on one day was reached. Without
/// `date`, the peak day of the default period.
pub async fn explain(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the licence metrics")?;
    let store = app.engine.store();
    let product = params
        .get("product_id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("`product_id` is required"))?;
    let metric = metric_param(&params)?;
    let today = Utc::now().date_naive();
    let (start, end) = period(&params, today)?;
    let usage = store.license_usage(start, end).await?;
    // A product names itself by its number (product_id) or its guid.
    let found = usage.iter().find(|u| {
        u.metric == metric.code && (u.product_id == product || u.product_num.to_string() == product)
    });
    let day = match parse_date(&params, "date")? {
        Some(d) => d,
        None => match found {
            Some(u) => u.peak_day,
            None => {
                return Err(ApiError::not_found(format!(
                    "no {} value of product `{}` between {start} and {end}",
                    metric.code,
                    list::clip(product)
                )))
            }
        },
    };
    let guid = found
        .map(|u| u.product_id.clone())
        .unwrap_or(product.to_string());
    let rows = store.license_explain(day, &guid, metric.code).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!(
            "no {} value of product `{}` on {day}",
            metric.code,
            list::clip(product)
        )));
    }
    let quantity: i64 = product_total(&rows, metric.code, store).await?;
    let first = &rows[0];
    let servers: Vec<JsonValue> = rows
        .iter()
        .map(|r| {
            json!({
                "server": {
                    "id": r.server.server_id,
                    "key": r.server.key,
                    "name": r.server.name,
                    "type": server_type(&r.server.kind),
                    "kind": r.server.kind,
                    "hardware_vendor": r.server.vendor,
                    "hardware_model": r.server.model,
                    "hardware_serial_number": r.server.serial,
                    "total_processors": r.server.total_processors,
                    "cores": r.server.cores,
                    "pvu_per_core": r.server.pvu_per_core,
                    "custom_pvu_per_core": r.server.custom_pvu,
                    "capped": r.server.capped,
                    "basis": r.server.basis,
                },
                "hwm_quantity": r.quantity,
                "hwm_cores": r.cores,
                "snapshot_import_id": r.snapshot_id,
                "explanation": r.explanation,
            })
        })
        .collect();
    Ok(json_response(&json!({
        "product_id": first.product_num,
        "product_release_guid": first.product_id,
        "product_name": first.name,
        "product_release": first.release,
        "product_publisher_name": first.publisher,
        "metric_id": metric.id,
        "metric_code_name": metric.code,
        "date": day.format("%Y-%m-%d").to_string(),
        "quantity": quantity,
        "servers": servers,
    })))
}

/// The longest period `license_usage/daily` answers (about ten years).
pub const MAX_DAILY_DAYS: i64 = 3660;

/// The metric a request names with `metric_id` (its number or code name).
fn metric_param(params: &Params) -> Result<&'static ReportedMetric, ApiError> {
    let text = params
        .get("metric_id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("`metric_id` is required"))?;
    text.parse::<i64>()
        .ok()
        .and_then(ReportedMetric::by_id)
        .or_else(|| ReportedMetric::by_code(text))
        .ok_or_else(|| {
            let ids: Vec<String> = openlmt_domain::metric::REPORTED_METRICS
                .iter()
                .map(|m| m.id.to_string())
                .collect();
            ApiError::bad_request(format!(
                "`metric_id` must be one of {} (or their code names), not `{}`",
                ids.join(", "),
                list::clip(text)
            ))
        })
}

/// `GET /api/sam/v2/license_usage/daily?product_id=&metric_id=&startdate=&enddate=`:
/// one product's stored value of one metric on each day of the period
/// that has one (the panel's chart), in day order. `product_id` is the
/// product's number or its `product_release_guid`; the period is that of
/// `license_usage` (by default the 90 days ending today, UTC). A product
/// with no value in the period has no rows.
pub async fn daily(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the licence metrics")?;
    let product = params
        .get("product_id")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("`product_id` is required"))?;
    let metric = metric_param(&params)?;
    let (start, end) = period(&params, Utc::now().date_naive())?;
    if (end - start).num_days() >= MAX_DAILY_DAYS {
        return Err(ApiError::bad_request(format!(
            "the period from {start} to {end} is longer than {MAX_DAILY_DAYS} days"
        )));
    }
    let store = app.engine.store();
    // The product's guid, from its number when it has a value in the period.
    let usage = store.license_usage(start, end).await?;
    let found = usage
        .iter()
        .find(|u| u.product_id == product || u.product_num.to_string() == product);
    let guid = found.map_or(product, |u| u.product_id.as_str());
    let rows: Vec<JsonValue> = store
        .license_product_days(start, end)
        .await?
        .into_iter()
        .filter(|(_, p, m, _)| p == guid && m == metric.code)
        .map(|(d, _, _, q)| json!({"date": d.format("%Y-%m-%d").to_string(), "hwm_quantity": q}))
        .collect();
    Ok(json_response(&json!({
        "product_id": found.map(|u| u.product_num),
        "product_release_guid": found.map(|u| u.product_id.as_str()),
        "metric_id": metric.id,
        "metric_code_name": metric.code,
        "startdate": start.format("%Y-%m-%d").to_string(),
        "enddate": end.format("%Y-%m-%d").to_string(),
        "rows": rows,
    })))
}

/// The product's stored daily quantity (RVU tiers apply to the total, so
/// it is read, not summed here).
async fn product_total(
    rows: &[ServerUsageRow],
    metric: &str,
    store: &openlmt_storage::Store,
) -> Result<i64, ApiError> {
    let Some(first) = rows.first() else {
        return Ok(0);
    };
    let days = store.license_product_days(first.day, first.day).await?;
    Ok(days
        .iter()
        .find(|(_, p, m, _)| *p == first.product_id && m == metric)
        .map_or(0, |(_, _, _, q)| *q))
}

/// `GET /api/sam/audit_snapshot?startdate=&enddate=`: the audit snapshot
/// of the period (by default the [`DEFAULT_PERIOD_DAYS`] days ending today,
/// UTC) as a zip, the same bytes as `openlmt audit-snapshot`
/// ([`crate::audit_snapshot`]).
pub async fn audit_snapshot(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    use crate::audit_snapshot::{archive_name, cluster_id, write_audit_snapshot};
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    caller.require(Permission::ViewLicenseMetrics, "read the licence metrics")?;
    let (start, end) = period(&params, Utc::now().date_naive())?;
    let out = std::io::Cursor::new(Vec::new());
    let zip = write_audit_snapshot(app.engine.store(), start, end, &cluster_id(), out)
        .await
        .map_err(|e| match e {
            crate::audit_snapshot::AuditSnapshotError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other),
        })?
        .into_inner();
    let mut resp = zip.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}\"",
        archive_name(start, end)
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}
