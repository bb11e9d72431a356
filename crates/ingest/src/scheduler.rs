//! Starts scheduled imports. A slot that comes while an import runs is
//! skipped (and logged); a slot missed while the server was down runs once
//! at start-up.

use crate::{schedule_store, Engine, Level, StartOutcome};
use chrono::{DateTime, Utc};
use openlmt_domain::Trigger;
use std::time::Duration;

/// The longest sleep between two looks at the clock, so that clock changes
/// and DST are noticed.
const MAX_SLEEP: Duration = Duration::from_secs(30);

pub(crate) async fn run_loop(engine: Engine) {
    if let Err(e) = catch_up(&engine).await {
        tracing::error!(error = %e, "schedule catch-up failed");
    }
    let inner = engine.inner();
    loop {
        let schedule = engine.schedule();
        let next = schedule.next_after(Utc::now());
        inner.state.write().next = next.map(|t| (t, schedule.import_type()));
        let wait = next
            .map(|t| (t - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(5))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {
                if let Some(slot) = next.filter(|t| *t <= Utc::now()) {
                    fire(&engine, slot, false).await;
                }
            }
            _ = inner.schedule_changed.notified() => {}
            _ = inner.shutdown.cancelled() => return,
        }
    }
}

async fn catch_up(engine: &Engine) -> Result<(), openlmt_storage::StoreError> {
    let store = engine.store();
    let now = Utc::now();
    if let Some(last) = schedule_store::last_slot(store).await? {
        if let Some(slot) = engine.schedule().missed_slot(last, now) {
            fire(engine, slot, true).await;
            return Ok(());
        }
    }
    schedule_store::save_last_slot(store, now).await
}

async fn fire(engine: &Engine, slot: DateTime<Utc>, missed: bool) {
    let ty = engine.schedule().import_type();
    let slot_text = openlmt_domain::time::format_utc(slot);
    match schedule_store::claim_slot(engine.store(), slot).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(slot = %slot_text, "scheduled slot already handled (by another node)");
            return;
        }
        Err(e) => {
            tracing::warn!(slot = %slot_text, error = %e, "scheduled import not started: cannot claim its slot");
            return;
        }
    }
    match engine.request(ty, Trigger::Schedule, None).await {
        Ok(StartOutcome::Started(id)) => {
            let how = if missed {
                " (missed while the server was down)"
            } else {
                ""
            };
            tracing::info!(import_id = id, slot = %slot_text, missed, "scheduled import started");
            engine.open_log(id).write(
                Level::Info,
                &format!("Started by the schedule for the slot {slot_text}{how}"),
            );
        }
        Ok(StartOutcome::AlreadyActive(id)) => {
            let msg = format!(
                "Scheduled {ty} import for {slot_text} skipped: import {id} is still running"
            );
            tracing::warn!(import_id = id, slot = %slot_text, "{msg}");
            engine.open_log(id).write(Level::Warn, &msg);
        }
        Err(e) => tracing::warn!(slot = %slot_text, error = %e, "scheduled import not started"),
    }
    let now = Utc::now();
    if let Err(e) =
        schedule_store::save_last_slot(engine.store(), if missed { now } else { slot }).await
    {
        tracing::error!(error = %e, "cannot save the last schedule slot");
    }
}
