//! The handlers. They validate, call the engine or the store, and map the
//! result to the wire format; none of them runs an import.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::{path_id, Params};
use crate::{wire, AppState};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use openlmt_domain::schedule::parse_timezone;
use openlmt_domain::{ImportType, Permission, Schedule, ScheduleSpec, Trigger};
use openlmt_ingest::CancelOutcome;
use openlmt_storage::ScanPackageState;
use serde::Deserialize;
use serde_json::{json, Value};

fn json_response(value: &Value) -> Response {
    let mut resp = Json(value).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /api/import_status.json[?run=true|complete|raw_only|false]`
pub async fn import_status(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let run = match params.get("run").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") | Some("") => None,
        Some("true") | Some("complete") => Some(ImportType::Complete),
        Some("raw_only") => Some(ImportType::RawOnly),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`{}` is not a valid value for `run`: use true (or complete), raw_only, or false",
                other.chars().take(40).collect::<String>()
            )))
        }
    };
    let columns = params.list("columns");
    if let Some(cols) = &columns {
        if let Some(bad) = cols
            .iter()
            .find(|c| !wire::STATUS_COLUMNS.contains(&c.as_str()))
        {
            return Err(ApiError::bad_request(format!(
                "`{}` is not a column of the import status; columns are: {}",
                bad.chars().take(40).collect::<String>(),
                wire::STATUS_COLUMNS.join(", ")
            )));
        }
    }
    let can_run = caller.has(Permission::ManageImports);
    if let Some(ty) = run {
        caller.require(Permission::ManageImports, "start an import")?;
        // The openlmt CLI and the web panel say who they are; anything
        // else is the API.
        let trigger = match headers.get("x-openlmt-trigger").map(|v| v.as_bytes()) {
            Some(b"cli") => Trigger::Cli,
            Some(b"panel") => Trigger::Panel,
            _ => Trigger::Api,
        };
        app.engine
            .request(ty, trigger, Some(&caller.0.name))
            .await?;
    }
    let view = app.engine.status();
    let active_id = view.active.as_ref().map(|a| a.id);
    let body = wire::import_status(&view, can_run, Utc::now(), columns.as_deref());
    let mut resp = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response();
    // Which import is pending or running, for clients that want to follow it.
    if let Some(id) = active_id {
        resp.headers_mut()
            .insert("x-openlmt-import-id", HeaderValue::from(id));
    }
    Ok(resp)
}

#[derive(Deserialize)]
struct Credentials {
    user: Option<String>,
    password: Option<String>,
}

/// `POST /api/get_token` with JSON or form fields `user` and `password`.
pub async fn get_token(
    State(app): State<AppState>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Response> {
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    // `curl -d '{…}'` sends JSON labelled as a form: read it as JSON.
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let creds: Credentials = if ctype.starts_with("application/x-www-form-urlencoded")
        && !looks_json
    {
        let mut c = Credentials {
            user: None,
            password: None,
        };
        for (k, v) in form_urlencoded::parse(&body) {
            match k.as_ref() {
                "user" => c.user = Some(v.into_owned()),
                "password" => c.password = Some(v.into_owned()),
                _ => {}
            }
        }
        c
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body must be JSON {{\"user\": \"…\", \"password\": \"…\"}} or form fields user and password: {e}"
            ))
            .into_response()
        })?
    };
    let (Some(user), Some(password)) = (creds.user, creds.password) else {
        return Err(
            ApiError::bad_request("both `user` and `password` are required").into_response(),
        );
    };
    let addr = crate::login_limit::client_addr(&extensions, &headers, &app.config.trusted_proxies);
    let checked = app
        .login
        .check(app.engine.store(), addr, &user, &password)
        .await;
    let principal = match checked {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::info!(user = %user.chars().take(64).collect::<String>(), %addr, "failed login");
            return Err(ApiError::unauthorized("wrong user name or password").into_response());
        }
        Err(refused) => {
            tracing::info!(user = %user.chars().take(64).collect::<String>(), %addr, status = refused.status().as_u16(), "login refused");
            return Err(refused.into_response());
        }
    };
    let token = app
        .engine
        .store()
        .issue_token(principal.user_id)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(json_response(&json!({ "token": token })))
}

/// `GET /api/imports?limit=&offset=`
pub async fn list_imports(
    State(app): State<AppState>,
    _caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = Params::parse(query.as_deref());
    let limit = params.int("limit", 50, 1, 1000)?;
    let offset = params.int("offset", 0, 0, i64::MAX / 2)?;
    let (total, rows) = app.engine.store().list_imports(limit, offset).await?;
    let status = app.engine.status();
    let live = |r: &openlmt_storage::ImportRow| {
        let mut v = wire::import_row(r);
        if status.active.as_ref().is_some_and(|a| a.id == r.id) {
            v["progress"] = json!(status.progress);
        }
        v
    };
    Ok(json_response(&wire::rows(
        total,
        rows.iter().map(live).collect(),
    )))
}

async fn load_import(app: &AppState, id: &str) -> Result<openlmt_storage::ImportRow, ApiError> {
    let id = path_id(id)?;
    app.engine.store().import(id).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "there is no import {id} (it may have been removed from the history)"
        ))
    })
}

/// `GET /api/imports/{id}`: the import with its steps.
pub async fn get_import(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = load_import(&app, &id).await?;
    let steps = app.engine.store().import_steps(row.id).await?;
    let status = app.engine.status();
    let active = status
        .active
        .filter(|a| a.id == row.id)
        .map(|a| (a.step, status.progress));
    Ok(json_response(&wire::import_detail(&row, &steps, active)))
}

/// `GET /api/imports/{id}/packages[?state=…]`: what the import saw.
pub async fn import_scan_packages(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let row = load_import(&app, &id).await?;
    let params = Params::parse(query.as_deref());
    let state = match params.get("state") {
        None | Some("") => None,
        Some(text) => Some(ScanPackageState::parse(text).ok_or_else(|| {
            let names: Vec<&str> = ScanPackageState::ALL.iter().map(|s| s.as_str()).collect();
            let (last, rest) = names.split_last().unwrap_or((&"", &[]));
            ApiError::bad_request(format!(
                "`{}` is not a package state; use {} or {last}",
                text.chars().take(40).collect::<String>(),
                rest.join(", ")
            ))
        })?),
    };
    let limit = params.int("limit", 100, 1, 10_000)? as usize;
    let offset = params.int("offset", 0, 0, i64::MAX / 2)? as usize;
    let all = app
        .engine
        .store()
        .import_scan_packages(row.id, state)
        .await?;
    let total = all.len() as i64;
    let page = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(wire::scan_package_row)
        .collect();
    Ok(json_response(&wire::rows(total, page)))
}

/// `GET /api/imports/{id}/log`: the import's text log, from the database
/// (any server on it answers for any import); for an import whose lines
/// are not there (one run before the log moved into the database), the
/// log file of this server's data directory, as before.
pub async fn import_log(
    State(app): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let row = load_import(&app, &id).await?;
    let lines = app.engine.store().import_log(row.id).await?;
    let text = if !lines.is_empty() {
        openlmt_ingest::format_lines(&lines)
    } else {
        match tokio::fs::read(app.engine.log_path(row.id)).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ApiError::internal(format!(
                    "cannot read the log of import {}: {e}",
                    row.id
                )))
            }
        }
    };
    let mut resp = (StatusCode::OK, text).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"import-{}.log\"", row.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `POST /api/imports/{id}/cancel`
pub async fn cancel_import(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageImports, "cancel an import")?;
    let id = path_id(&id)?;
    match app.engine.cancel(id, Some(&caller.0.name)).await? {
        CancelOutcome::Ended(row) => Ok(json_response(&wire::import_row(&row))),
        CancelOutcome::NotFound => Err(ApiError::not_found(format!("there is no import {id}"))),
        CancelOutcome::NotActive(row) if row.status.is_active() => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("import {id} did not stop within 5 seconds; try again"),
        )),
        CancelOutcome::NotActive(row) => Err(ApiError::conflict(format!(
            "import {id} is not pending or running: it ended with status {}",
            row.status
        ))),
    }
}

/// `GET /api/import_schedule`
pub async fn get_schedule(
    State(app): State<AppState>,
    _caller: Caller,
) -> Result<Response, ApiError> {
    Ok(json_response(&wire::schedule(
        &app.engine.schedule(),
        Utc::now(),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleChange {
    enabled: Option<bool>,
    daily_time: Option<String>,
    cron: Option<String>,
    timezone: Option<String>,
    import_type: Option<String>,
}

/// `PUT /api/import_schedule`: fields left out keep their value.
pub async fn put_schedule(
    State(app): State<AppState>,
    caller: Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require(Permission::ManageImports, "change the import schedule")?;
    let change: ScheduleChange = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be a JSON object with any of enabled, daily_time, cron, timezone, import_type: {e}"
        ))
    })?;
    let current = app.engine.schedule();
    // Checked in the order the messages always came: both times given, the
    // daily time, the time zone, the import type, then the cron expression.
    let daily = match (&change.daily_time, &change.cron) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either `daily_time` or `cron`, not both",
            ))
        }
        (Some(d), None) => {
            Some(ScheduleSpec::daily(d).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        (None, _) => None,
    };
    let timezone = match change.timezone {
        Some(tz) => parse_timezone(tz.trim()).map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => current.timezone(),
    };
    let import_type = match change.import_type {
        Some(t) => t.parse::<ImportType>().map_err(|_| {
            ApiError::bad_request(format!(
                "`{t}` is not an import type; use complete or raw_only"
            ))
        })?,
        None => current.import_type(),
    };
    let spec = match (daily, change.cron) {
        (Some(d), _) => d,
        (None, Some(c)) => {
            ScheduleSpec::cron(c.trim()).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        (None, None) => current.spec().clone(),
    };
    let schedule = Schedule::new(
        change.enabled.unwrap_or(current.enabled()),
        spec,
        timezone,
        import_type,
    );
    app.engine.set_schedule(schedule).await?;
    tracing::info!(user = %caller.0.name, "import schedule changed");
    Ok(json_response(&wire::schedule(
        &app.engine.schedule(),
        Utc::now(),
    )))
}

/// `GET /healthz`: 200 `{"status":"ok"}` when the database answers a
/// ping; else 503 `{"status":"unavailable","error":"the database is not
/// available: …"}` saying what the ping met (the driver's words: no URL,
/// no password), with `Retry-After`. The ping answers within seconds (see
/// `PgStore::ping`).
pub async fn healthz(State(app): State<AppState>) -> Response {
    use crate::error::{DB_RETRY_AFTER_SECS, DB_UNAVAILABLE};
    match app.engine.store().ping().await {
        Ok(()) => json_response(&json!({ "status": "ok" })),
        Err(e) => {
            tracing::warn!(error = %e, engine = app.engine.store().engine(), "health check: the database is not available");
            let detail = match e {
                openlmt_storage::StoreError::Unavailable(d) => d,
                other => other.to_string(),
            };
            let mut resp = json_response(&json!({
                "status": "unavailable",
                "error": format!("{DB_UNAVAILABLE}: {detail}"),
            }));
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(DB_RETRY_AFTER_SECS));
            resp
        }
    }
}

/// `GET /metrics` in the Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let mut resp = app.metrics.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// The answer to a request head refused before routing (see
/// [`crate::head`]): its JSON error and status; the connection then closes.
pub async fn refused_head(Path(reason): Path<String>) -> ApiError {
    match crate::head::Refusal::from_slug(&reason) {
        Some(why) => ApiError::new(
            StatusCode::from_u16(why.status()).unwrap_or(StatusCode::BAD_REQUEST),
            why.message(),
        ),
        None => ApiError::not_found(NO_SUCH_RESOURCE),
    }
}

const NO_SUCH_RESOURCE: &str = "no such resource; the API is described in docs/api.md";

/// Any path no route has: JSON 404, marked so that a browser gets the
/// panel's error page instead ([`crate::panel::errors::for_browsers`]).
pub async fn not_found() -> Response {
    let mut resp = ApiError::not_found(NO_SUCH_RESOURCE).into_response();
    resp.extensions_mut()
        .insert(crate::panel::errors::PanelAnswer);
    resp
}

/// `GET /api/sam/about`: what answers (any authenticated caller).
pub async fn about(_caller: Caller) -> Response {
    json_response(&json!({
        "product": "openlmt",
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

/// `GET /`: a browser goes to the panel (its login page when not logged in).
pub async fn root() -> axum::response::Redirect {
    axum::response::Redirect::to("/management/imports")
}

/// `GET /api/openapi.json`: the OpenAPI 3.1 document, made from the route
/// table ([`crate::contract`]).
pub async fn openapi() -> Response {
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        crate::contract::openapi_bytes(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en-US"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
