//! The PVU table and the operator's rate overrides: `GET`, `PUT` and
//! `DELETE /api/pvu_table`, `GET`, `PUT` and `DELETE /api/pvu_overrides`.
//! The same functions serve `openlmt pvu-table …`. A table is validated
//! whole (every error with its input, line and column) and never half
//! applied; a new table or override takes effect at the next complete
//! import (the stored history keeps the rates its snapshots used).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::list::json_response;
use crate::params::{ListParams, Params};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Json, Response};
use openlmt_domain::time::format_utc;
use openlmt_domain::Permission;
use openlmt_licensing::{PvuTable, TableError};
use openlmt_storage::{Store, StoreError};
use serde::Serialize;
use serde_json::{json, Value};

/// The largest PVU table accepted (IBM's whole table is a few hundred rows).
pub const MAX_TABLE_BYTES: usize = 4 * 1024 * 1024;

/// What to do when the table lacks current processors (shown wherever the
/// default rate is counted).
pub const ADVICE: &str = "The bundled PVU table holds only the rows with a public source (see docs/metrics.md); servers whose processor has no row are counted at ILMT's default of 120 PVU per core. Import IBM's current table with `openlmt pvu-table import FILE --version V` or `PUT /api/pvu_table?version=V` (CSV), then run a complete import.";

#[derive(Debug, Serialize)]
pub struct TableSummary {
    pub version: String,
    pub rows: usize,
}

#[derive(Debug, Serialize)]
pub struct OperatorTable {
    pub version: String,
    pub rows: Option<usize>,
    pub set_at: String,
    pub set_by: Option<String>,
    /// Why it no longer loads, when it does not (the bundled table applies).
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct InForceRow {
    pub label: String,
    pub pvu_per_core: u32,
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct LastSnapshot {
    pub import_id: i64,
    pub taken_at: String,
    pub pvu_table_version: String,
    pub physical_servers: Option<i64>,
    pub physical_servers_at_default_rate: Option<i64>,
}

/// `GET /api/pvu_table`.
#[derive(Debug, Serialize)]
pub struct PvuTableInfo {
    pub bundled: TableSummary,
    pub operator: Option<OperatorTable>,
    /// `bundled` or `operator`.
    pub in_force: String,
    pub in_force_version: String,
    pub rows: Vec<InForceRow>,
    /// What the latest complete import counted with it.
    pub last_snapshot: Option<LastSnapshot>,
    pub advice: &'static str,
}

/// Why setting a table failed.
#[derive(Debug, thiserror::Error)]
pub enum PvuFailure {
    #[error("the PVU table was refused: {0} errors; nothing was changed")]
    Refused(usize, Vec<TableError>),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn parse_stored(version: &str, document: &str) -> Result<PvuTable, String> {
    let texts: Vec<String> = serde_json::from_str(document).map_err(|e| e.to_string())?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    PvuTable::parse(version, &refs).map_err(|errors| {
        errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "does not load".into())
    })
}

pub async fn info(store: &Store) -> Result<PvuTableInfo, StoreError> {
    let bundled = PvuTable::bundled();
    let stored = store.operator_pvu_table().await?;
    let (operator, in_force) = match &stored {
        None => (None, None),
        Some(row) => match parse_stored(&row.version, &row.document) {
            Ok(t) => (
                Some(OperatorTable {
                    version: row.version.clone(),
                    rows: Some(t.rows.len()),
                    set_at: format_utc(row.set_at),
                    set_by: row.set_by.clone(),
                    problem: None,
                }),
                Some(t),
            ),
            Err(why) => (
                Some(OperatorTable {
                    version: row.version.clone(),
                    rows: None,
                    set_at: format_utc(row.set_at),
                    set_by: row.set_by.clone(),
                    problem: Some(why),
                }),
                None,
            ),
        },
    };
    let layer = if in_force.is_some() {
        "operator"
    } else {
        "bundled"
    };
    let table = in_force.unwrap_or_else(|| bundled.clone());
    let last = store.latest_license_summary().await?.map(|s| LastSnapshot {
        import_id: s.import_id,
        taken_at: format_utc(s.taken_at),
        pvu_table_version: s.pvu_table_version,
        physical_servers: s.details["servers"]["physical"].as_i64(),
        physical_servers_at_default_rate: s.details["physical_servers_at_default_rate"].as_i64(),
    });
    Ok(PvuTableInfo {
        bundled: TableSummary {
            version: bundled.version.clone(),
            rows: bundled.rows.len(),
        },
        operator,
        in_force: layer.to_string(),
        in_force_version: table.version.clone(),
        rows: table
            .rows
            .iter()
            .map(|r| InForceRow {
                label: r.label(),
                pvu_per_core: r.pvu_per_core,
                source: r.source.clone(),
            })
            .collect(),
        last_snapshot: last,
        advice: ADVICE,
    })
}

/// Validates `texts` whole as a PVU table of `version` and stores it as the
/// operator's table.
pub async fn set_table(
    store: &Store,
    version: &str,
    texts: &[String],
    by: &str,
) -> Result<PvuTableInfo, PvuFailure> {
    let version = version.trim();
    if version.is_empty() || version.len() > 100 {
        return Err(PvuFailure::Invalid(
            "the table's version is required (at most 100 characters), e.g. `2026-03-22`".into(),
        ));
    }
    if texts.is_empty() {
        return Err(PvuFailure::Invalid("the table has no CSV text".into()));
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    if let Err(errors) = PvuTable::parse(version, &refs) {
        return Err(PvuFailure::Refused(errors.len(), errors));
    }
    let document = serde_json::to_string(texts).map_err(|e| StoreError::Internal(e.to_string()))?;
    store.set_operator_pvu_table(version, &document, by).await?;
    Ok(info(store).await?)
}

fn refused(e: PvuFailure) -> Response {
    match e {
        PvuFailure::Refused(_, ref errors) => {
            let list: Vec<Value> = errors
                .iter()
                .map(|x| json!({"input": x.input, "line": x.line, "column": x.column, "message": x.message}))
                .collect();
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": e.to_string(), "errors": list})),
            )
                .into_response()
        }
        PvuFailure::Invalid(m) => ApiError::bad_request(m).into_response(),
        PvuFailure::Store(s) => ApiError::from(s).into_response(),
    }
}

/// `GET /api/pvu_table`
pub async fn get_table(State(app): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the PVU table")?;
    let i = info(app.engine.store()).await?;
    Ok(json_response(
        &serde_json::to_value(i).map_err(ApiError::internal)?,
    ))
}

/// `PUT /api/pvu_table?version=V`: the body is one CSV text (either layout
/// of docs/metrics.md), or JSON `{"version": V, "tables": ["csv", …]}`.
pub async fn put_table(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageLicenseMetrics, "replace the PVU table")?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8 text: {e}")))?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/json"));
    let (version, texts) = if is_json {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
        let version = v["version"]
            .as_str()
            .map(str::to_string)
            .or_else(|| params.get("version").map(str::to_string))
            .unwrap_or_default();
        let texts = match &v["tables"] {
            Value::Array(a) => a
                .iter()
                .map(|t| {
                    t.as_str().map(str::to_string).ok_or_else(|| {
                        ApiError::bad_request("`tables` must be an array of CSV strings")
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Value::String(t) => vec![t.clone()],
            _ => {
                return Err(ApiError::bad_request(
                    "the JSON body needs `tables`: an array of CSV texts",
                ))
            }
        };
        (version, texts)
    } else {
        (
            params.get("version").unwrap_or_default().to_string(),
            vec![text.to_string()],
        )
    };
    match set_table(app.engine.store(), &version, &texts, &caller.0.name).await {
        Ok(i) => Ok(json_response(
            &serde_json::to_value(i).map_err(ApiError::internal)?,
        )),
        Err(e) => Ok(refused(e)),
    }
}

/// `DELETE /api/pvu_table`: back to the bundled table.
pub async fn delete_table(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageLicenseMetrics, "replace the PVU table")?;
    let store = app.engine.store();
    if !store.clear_operator_pvu_table().await? {
        return Err(ApiError::not_found("there is no operator's PVU table"));
    }
    let i = info(store).await?;
    Ok(json_response(
        &serde_json::to_value(i).map_err(ApiError::internal)?,
    ))
}

/// `GET /api/pvu_overrides`
pub async fn get_overrides(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewLicenseMetrics, "read the PVU overrides")?;
    let rows: Vec<Value> = app
        .engine
        .store()
        .pvu_overrides()
        .await?
        .into_iter()
        .map(|o| {
            json!({"server_id": o.computer_id, "pvu_per_core": o.pvu_per_core,
                   "comment": o.comment, "set_by": o.set_by, "set_at": format_utc(o.set_at)})
        })
        .collect();
    Ok(json_response(&json!({"total": rows.len(), "rows": rows})))
}

fn int_field(v: &Value, name: &str) -> Result<i64, String> {
    match v.get(name) {
        Some(Value::Number(n)) => n
            .as_i64()
            .ok_or_else(|| format!("`{name}` is not a whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map_err(|_| format!("`{name}` is not a whole number")),
        _ => Err(format!("`{name}` is required")),
    }
}

/// `PUT /api/pvu_overrides`: a JSON array of
/// `{"server_id": N, "pvu_per_core": N, "comment": "…"}` (or one object);
/// all or nothing.
pub async fn put_overrides(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageLicenseMetrics, "change PVU rates")?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let items = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => {
            return Err(ApiError::bad_request(
                "the body must be an array of overrides",
            ))
        }
    };
    if items.len() > 1000 {
        return Err(ApiError::bad_request("at most 1000 overrides per call"));
    }
    let mut parsed = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let row = |m: String| ApiError::bad_request(format!("override {i}: {m}"));
        let id = int_field(item, "server_id").map_err(row)?;
        let pvu = int_field(item, "pvu_per_core").map_err(row)?;
        if !(1..=10_000).contains(&pvu) {
            return Err(row(format!(
                "`pvu_per_core` must be from 1 to 10000, not {pvu}"
            )));
        }
        let comment = item["comment"].as_str().map(str::trim).unwrap_or_default();
        if comment.is_empty() {
            return Err(row("a `comment` saying why is required".into()));
        }
        parsed.push((id, pvu, comment.to_string()));
    }
    let store = app.engine.store();
    for (id, _, _) in &parsed {
        if !store.computer_visible(*id).await? {
            return Err(ApiError::not_found(format!("no computer has the id {id}")));
        }
    }
    for (id, pvu, comment) in &parsed {
        store
            .set_pvu_override(*id, *pvu, comment, &caller.0.name)
            .await?;
    }
    get_overrides(State(app), caller).await
}

/// `DELETE /api/pvu_overrides?server_id=N`
pub async fn delete_override(
    State(app): State<AppState>,
    caller: Caller,
    ListParams(params): ListParams,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageLicenseMetrics, "change PVU rates")?;
    let id = server_id(&params)?;
    if !app.engine.store().delete_pvu_override(id).await? {
        return Err(ApiError::not_found(format!(
            "the server {id} has no PVU override"
        )));
    }
    get_overrides(State(app), caller).await
}

fn server_id(params: &Params) -> Result<i64, ApiError> {
    params
        .get("server_id")
        .ok_or_else(|| ApiError::bad_request("`server_id` is required"))?
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request("`server_id` must be a whole number"))
}
