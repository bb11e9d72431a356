//! The JSON shapes of the API. Only this module names wire fields.

use chrono::{DateTime, Utc};
use openlmt_domain::time::format_utc;
use openlmt_domain::Schedule;
use openlmt_ingest::StatusView;
use openlmt_storage::{ImportRow, StepRow, StoredPackage};
use serde_json::{json, Map, Value};

/// The columns of `import_status.json`, in the order ILMT lists them.
pub const STATUS_COLUMNS: [&str; 12] = [
    "mode",
    "can_run_imports",
    "import_status_url",
    "import_create_url",
    "progress",
    "last_success_time",
    "last_import_type",
    "last_status",
    "last_import_time",
    "next_import_time",
    "next_import_time_in",
    "next_import_type",
];

fn time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_utc(t)))
}

/// Whole seconds from `now` to `t`, never negative.
pub fn seconds_until(t: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (t - now).num_seconds().max(0)
}

/// The body of `import_status.json`, serialised straight from borrowed
/// values (this is the hot path: no map, no key allocations).
#[derive(serde::Serialize)]
struct ImportStatusBody {
    mode: &'static str,
    can_run_imports: bool,
    import_status_url: &'static str,
    import_create_url: &'static str,
    progress: u8,
    last_success_time: Option<String>,
    last_import_type: Option<&'static str>,
    last_status: Option<&'static str>,
    last_import_time: Option<String>,
    next_import_time: Option<String>,
    next_import_time_in: Option<i64>,
    next_import_type: Option<&'static str>,
}

/// The JSON of `import_status.json`: the twelve ILMT keys in ILMT's order,
/// or only the requested `columns`, in that same order.
pub fn import_status(
    v: &StatusView,
    can_run: bool,
    now: DateTime<Utc>,
    columns: Option<&[String]>,
) -> Vec<u8> {
    let body = ImportStatusBody {
        mode: v.mode.as_str(),
        can_run_imports: can_run,
        import_status_url: "/api/import_status.json",
        import_create_url: "/management/imports",
        progress: v.progress,
        last_success_time: v.last_success.as_ref().map(|l| format_utc(l.finished_at)),
        last_import_type: v.last.as_ref().map(|l| l.import_type.as_str()),
        last_status: v.last.as_ref().map(|l| l.status.as_str()),
        last_import_time: v.last.as_ref().map(|l| format_utc(l.finished_at)),
        next_import_time: v.next_import_time.map(format_utc),
        next_import_time_in: v.next_import_time.map(|t| seconds_until(t, now)),
        next_import_type: v.next_import_type.map(|t| t.as_str()),
    };
    match columns {
        None => serde_json::to_vec(&body).unwrap_or_default(),
        Some(cols) => {
            let mut m = match serde_json::to_value(&body) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            m.retain(|k, _| cols.iter().any(|c| c == k));
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        }
    }
}

pub fn import_row(r: &ImportRow) -> Value {
    let duration = r.started_at.map(|s| {
        let end = r.finished_at.unwrap_or_else(Utc::now);
        ((end - s).num_milliseconds().max(0) as f64) / 1000.0
    });
    json!({
        "id": r.id,
        "type": r.import_type.as_str(),
        "trigger": r.trigger.as_str(),
        "requested_by": r.requested_by,
        "status": r.status.as_str(),
        "requested_at": time(Some(r.requested_at)),
        "started_at": time(r.started_at),
        "finished_at": time(r.finished_at),
        "duration_seconds": duration,
        "progress": r.progress,
        "error": r.error,
        "packages": {
            "found": r.packages_found,
            "imported": r.packages_imported,
            "rejected": r.packages_rejected,
        },
        "log_url": format!("/api/imports/{}/log", r.id),
    })
}

pub fn step_row(s: &StepRow) -> Value {
    json!({
        "position": s.position + 1,
        "name": s.name,
        "started_at": time(s.started_at),
        "finished_at": time(s.finished_at),
        "items_read": s.counters.read,
        "items_imported": s.counters.imported,
        "items_rejected": s.counters.rejected,
        "warnings": s.counters.warnings,
    })
}

pub fn package_row(p: &StoredPackage) -> Value {
    json!({
        "data_source": p.data_source,
        "file_name": p.file_name,
        "size": p.size,
        "sha256": if p.sha256.is_empty() { Value::Null } else { json!(p.sha256) },
        "seen_at": time(Some(p.seen_at)),
        "state": p.state.as_str(),
        "reason": p.reason,
    })
}

pub fn schedule(s: &Schedule, now: DateTime<Utc>) -> Value {
    let next = s.next_after(now);
    json!({
        "enabled": s.enabled(),
        "daily_time": s.spec().daily_time(),
        "cron": s.spec().cron_expression(),
        "timezone": s.timezone().name(),
        "import_type": s.import_type().as_str(),
        "next_import_time": time(next),
        "next_import_time_in": next.map(|t| seconds_until(t, now)),
    })
}

pub fn rows(total: i64, rows: Vec<Value>) -> Value {
    json!({ "total": total, "rows": rows })
}
