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

pub fn import_status(
    v: &StatusView,
    can_run: bool,
    now: DateTime<Utc>,
    columns: Option<&[String]>,
) -> Value {
    let mut m = Map::with_capacity(12);
    m.insert("mode".into(), json!(v.mode.as_str()));
    m.insert("can_run_imports".into(), json!(can_run));
    m.insert("import_status_url".into(), json!("/api/import_status.json"));
    m.insert("import_create_url".into(), json!("/management/imports"));
    m.insert("progress".into(), json!(v.progress));
    m.insert(
        "last_success_time".into(),
        time(v.last_success.as_ref().map(|l| l.finished_at)),
    );
    m.insert(
        "last_import_type".into(),
        v.last
            .as_ref()
            .map_or(Value::Null, |l| json!(l.import_type.as_str())),
    );
    m.insert(
        "last_status".into(),
        v.last
            .as_ref()
            .map_or(Value::Null, |l| json!(l.status.as_str())),
    );
    m.insert(
        "last_import_time".into(),
        time(v.last.as_ref().map(|l| l.finished_at)),
    );
    m.insert("next_import_time".into(), time(v.next_import_time));
    m.insert(
        "next_import_time_in".into(),
        v.next_import_time
            .map_or(Value::Null, |t| json!(seconds_until(t, now))),
    );
    m.insert(
        "next_import_type".into(),
        v.next_import_type
            .map_or(Value::Null, |t| json!(t.as_str())),
    );
    if let Some(cols) = columns {
        m.retain(|k, _| cols.iter().any(|c| c == k));
    }
    Value::Object(m)
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
        "enabled": s.enabled,
        "daily_time": s.spec.daily_time(),
        "cron": s.spec.cron_expression(),
        "timezone": s.timezone.name(),
        "import_type": s.import_type.as_str(),
        "next_import_time": time(next),
        "next_import_time_in": next.map(|t| seconds_until(t, now)),
    })
}

pub fn rows(total: i64, rows: Vec<Value>) -> Value {
    json!({ "total": total, "rows": rows })
}
