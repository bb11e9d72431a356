//! The JSON shapes of the API. Only this module names wire fields.

use chrono::{DateTime, Utc};
use openlmt_domain::time::format_utc;
use openlmt_domain::Schedule;
use openlmt_ingest::StatusView;
use openlmt_storage::{ImportRow, StepRow, StoredScanPackage};
use serde_json::{json, Map, Value};
use std::borrow::Cow;

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
/// values (this is the hot path: no map, no key allocations). Clients (the
/// CLI) read it with the same type.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportStatusBody {
    pub mode: Cow<'static, str>,
    pub can_run_imports: bool,
    pub import_status_url: Cow<'static, str>,
    pub import_create_url: Cow<'static, str>,
    pub progress: u8,
    pub last_success_time: Option<String>,
    pub last_import_type: Option<Cow<'static, str>>,
    pub last_status: Option<Cow<'static, str>>,
    pub last_import_time: Option<String>,
    pub next_import_time: Option<String>,
    pub next_import_time_in: Option<i64>,
    pub next_import_type: Option<Cow<'static, str>>,
    /// Only when true (never in ILMT's answer): several servers share the
    /// database and this one could not read it at its last look, so the
    /// values are its last snapshot.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
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
        mode: v.mode.as_str().into(),
        can_run_imports: can_run,
        import_status_url: "/api/import_status.json".into(),
        import_create_url: "/management/imports".into(),
        progress: v.progress,
        last_success_time: v.last_success.as_ref().map(|l| format_utc(l.finished_at)),
        last_import_type: v.last.as_ref().map(|l| l.import_type.as_str().into()),
        last_status: v.last.as_ref().map(|l| l.status.as_str().into()),
        last_import_time: v.last.as_ref().map(|l| format_utc(l.finished_at)),
        next_import_time: v.next_import_time.map(format_utc),
        next_import_time_in: v.next_import_time.map(|t| seconds_until(t, now)),
        next_import_type: v.next_import_type.map(|t| t.as_str().into()),
        stale: v.stale,
    };
    match columns {
        None => serde_json::to_vec(&body).unwrap_or_default(),
        Some(cols) => {
            let mut m = match serde_json::to_value(&body) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            };
            m.retain(|k, _| k == "stale" || cols.iter().any(|c| c == k));
            serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
        }
    }
}

/// An import as `/api/imports` lists it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportJson {
    pub id: i64,
    #[serde(rename = "type")]
    pub import_type: String,
    pub trigger: String,
    pub requested_by: Option<String>,
    /// The server that ran it (several servers on one database).
    pub node: Option<String>,
    pub status: String,
    pub requested_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub progress: u8,
    pub error: Option<String>,
    pub packages: ScanPackageCountsJson,
    pub log_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScanPackageCountsJson {
    pub found: i64,
    pub imported: i64,
    pub rejected: i64,
}

/// One step of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StepJson {
    /// From 1.
    pub position: i64,
    pub name: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub items_read: i64,
    pub items_imported: i64,
    pub items_rejected: i64,
    pub warnings: i64,
}

/// `GET /api/imports/{id}`: the import, its steps and, while it is
/// active, the step it is in (`current_step` is there only while it is
/// active, and `null` before its first step; a client reading it back
/// sees both "absent" and `null` as `None`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImportDetailJson {
    #[serde(flatten)]
    pub import: ImportJson,
    pub steps: Vec<StepJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step: Option<Option<String>>,
}

impl ImportJson {
    pub fn new(r: &ImportRow) -> ImportJson {
        let duration = r.started_at.map(|s| {
            let end = r.finished_at.unwrap_or_else(Utc::now);
            ((end - s).num_milliseconds().max(0) as f64) / 1000.0
        });
        ImportJson {
            id: r.id,
            import_type: r.import_type.as_str().into(),
            trigger: r.trigger.as_str().into(),
            requested_by: r.requested_by.clone(),
            node: r.node.clone(),
            status: r.status.as_str().into(),
            requested_at: format_utc(r.requested_at),
            started_at: r.started_at.map(format_utc),
            finished_at: r.finished_at.map(format_utc),
            duration_seconds: duration,
            progress: r.progress,
            error: r.error.clone(),
            packages: ScanPackageCountsJson {
                found: r.scan_packages_found,
                imported: r.scan_packages_imported,
                rejected: r.scan_packages_rejected,
            },
            log_url: format!("/api/imports/{}/log", r.id),
        }
    }
}

impl StepJson {
    pub fn new(s: &StepRow) -> StepJson {
        StepJson {
            position: s.position + 1,
            name: s.name.clone(),
            started_at: s.started_at.map(format_utc),
            finished_at: s.finished_at.map(format_utc),
            items_read: s.counters.read,
            items_imported: s.counters.imported,
            items_rejected: s.counters.rejected,
            warnings: s.counters.warnings,
        }
    }
}

fn to_json(v: &impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

pub fn import_row(r: &ImportRow) -> Value {
    to_json(&ImportJson::new(r))
}

/// The import with its steps; `active` is (current step, live progress)
/// while it runs.
pub fn import_detail(
    r: &ImportRow,
    steps: &[StepRow],
    active: Option<(Option<String>, u8)>,
) -> Value {
    let mut import = ImportJson::new(r);
    let current_step = active.map(|(step, progress)| {
        import.progress = progress;
        step
    });
    to_json(&ImportDetailJson {
        import,
        steps: steps.iter().map(StepJson::new).collect(),
        current_step,
    })
}

pub fn scan_package_row(p: &StoredScanPackage) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use openlmt_domain::{ImportStatus, ImportType, Trigger};
    use openlmt_storage::StepCounters;

    fn at(s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 18, 50, s).unwrap()
    }

    #[test]
    fn import_detail_keeps_its_wire_layout_and_reads_back() {
        let row = ImportRow {
            id: 1,
            import_type: ImportType::Complete,
            trigger: Trigger::Api,
            requested_by: Some("admin".into()),
            status: ImportStatus::Running,
            requested_at: at(54),
            started_at: Some(at(54)),
            finished_at: Some(at(56)),
            progress: 40,
            error: None,
            scan_packages_found: 5,
            scan_packages_imported: 3,
            scan_packages_rejected: 2,
            node: Some("db1:9081".into()),
        };
        let step = StepRow {
            position: 0,
            name: "Validate data sources".into(),
            started_at: Some(at(54)),
            finished_at: None,
            counters: StepCounters {
                read: 1,
                ..StepCounters::default()
            },
        };
        let active = Some((Some("Validate data sources".to_string()), 91));
        let v = import_detail(&row, std::slice::from_ref(&step), active);
        // The layout the API always had (docs/api.md §5), key for key, in order.
        let expected = json!({
            "id": 1, "type": "complete", "trigger": "api", "requested_by": "admin",
            "node": "db1:9081", "status": "running", "requested_at": "2026-11-28T18:50:54Z",
            "started_at": "2026-11-28T18:50:54Z", "finished_at": "2026-11-28T18:50:56Z",
            "duration_seconds": 2.0, "progress": 91, "error": null,
            "packages": {"found": 5, "imported": 3, "rejected": 2},
            "log_url": "/api/imports/1/log",
            "steps": [{"position": 1, "name": "Validate data sources",
                "started_at": "2026-11-28T18:50:54Z", "finished_at": null, "items_read": 1,
                "items_imported": 0, "items_rejected": 0, "warnings": 0}],
            "current_step": "Validate data sources",
        });
        assert_eq!(v.to_string(), expected.to_string());
        let back: ImportDetailJson = serde_json::from_value(v).unwrap();
        assert_eq!(back.import.status, "running");
        assert_eq!(back.import.progress, 91);
        assert_eq!(
            back.current_step,
            Some(Some("Validate data sources".into()))
        );
        // Not active: no current_step, the stored progress.
        let v = import_detail(&row, &[], None);
        assert!(v.get("current_step").is_none());
        assert_eq!(v["progress"], 40);
        let back: ImportDetailJson = serde_json::from_value(v).unwrap();
        assert_eq!(back.current_step, None);
    }

    #[test]
    fn the_status_body_reads_back() {
        let body = ImportStatusBody {
            mode: "running".into(),
            can_run_imports: true,
            import_status_url: "/api/import_status.json".into(),
            import_create_url: "/management/imports".into(),
            progress: 12,
            last_success_time: None,
            last_import_type: Some("complete".into()),
            last_status: None,
            last_import_time: None,
            next_import_time: Some("2026-11-29T00:00:00Z".into()),
            next_import_time_in: Some(3600),
            next_import_type: Some("complete".into()),
            stale: false,
        };
        let text = serde_json::to_string(&body).unwrap();
        let keys: Vec<String> = serde_json::from_str::<Map<String, Value>>(&text)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(keys, STATUS_COLUMNS);
        assert_eq!(
            serde_json::from_str::<ImportStatusBody>(&text).unwrap(),
            body
        );
    }
}
