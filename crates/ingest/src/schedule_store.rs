//! The schedule and its last handled slot, persisted in the meta table.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use openlmt_domain::schedule::parse_timezone;
use openlmt_domain::{ImportType, Schedule, ScheduleSpec};
use openlmt_storage::{Store, StoreError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Persisted {
    enabled: bool,
    daily_time: Option<String>,
    cron: Option<String>,
    timezone: String,
    import_type: String,
}

pub async fn load(store: &Store, default_tz: Tz) -> Result<Schedule, StoreError> {
    let Some(text) = store.meta_get("schedule").await? else {
        return Ok(Schedule::default_in(default_tz));
    };
    let parsed = serde_json::from_str::<Persisted>(&text)
        .map_err(|e| e.to_string())
        .and_then(|p| {
            let spec = match (&p.daily_time, &p.cron) {
                (Some(d), _) => ScheduleSpec::daily(d).map_err(|e| e.to_string())?,
                (None, Some(c)) => ScheduleSpec::cron(c).map_err(|e| e.to_string())?,
                (None, None) => return Err("no time".to_string()),
            };
            let tz = parse_timezone(&p.timezone).map_err(|e| e.to_string())?;
            let ty: ImportType = p
                .import_type
                .parse()
                .map_err(|e: openlmt_domain::import::UnknownValue| e.to_string())?;
            Ok(Schedule::new(p.enabled, spec, tz, ty))
        });
    match parsed {
        Ok(s) => Ok(s),
        Err(e) => {
            tracing::error!(error = %e, "the stored schedule is unreadable; using the default");
            Ok(Schedule::default_in(default_tz))
        }
    }
}

pub async fn save(store: &Store, s: &Schedule) -> Result<(), StoreError> {
    let p = Persisted {
        enabled: s.enabled(),
        daily_time: s.spec().daily_time(),
        cron: s.spec().cron_text().map(str::to_string),
        timezone: s.timezone().name().to_string(),
        import_type: s.import_type().as_str().to_string(),
    };
    let text = serde_json::to_string(&p)
        .map_err(|e| StoreError::Internal(format!("cannot encode the schedule: {e}")))?;
    store.meta_set("schedule", &text).await
}

pub async fn last_slot(store: &Store) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(store
        .meta_get("schedule_last_slot")
        .await?
        .and_then(|v| openlmt_domain::time::parse_utc(&v)))
}

pub async fn save_last_slot(store: &Store, t: DateTime<Utc>) -> Result<(), StoreError> {
    store
        .meta_set("schedule_last_slot", &openlmt_domain::time::format_utc(t))
        .await
}

/// Claims the schedule's slot `t` for this node: true when no node has
/// handled it (nor a later one) yet. Several servers on one database each
/// run the schedule; the one whose compare-and-set moves the last handled
/// slot to `t` starts the import, the others skip it.
pub async fn claim_slot(store: &Store, t: DateTime<Utc>) -> Result<bool, StoreError> {
    let new = openlmt_domain::time::format_utc(t);
    for _ in 0..5 {
        let old = store.meta_get("schedule_last_slot").await?;
        if old
            .as_deref()
            .and_then(openlmt_domain::time::parse_utc)
            .is_some_and(|last| last >= t)
        {
            return Ok(false);
        }
        if store
            .meta_replace("schedule_last_slot", old.as_deref(), &new)
            .await?
        {
            return Ok(true);
        }
    }
    // Changed under us five times: other nodes are handling slots.
    Ok(false)
}
