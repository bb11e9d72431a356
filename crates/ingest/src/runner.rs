//! The runner: executes registered imports one at a time and records how
//! each one ended.

use crate::state::FinishedImport;
use crate::steps::{self, Run, StepError};
use crate::{Engine, EngineError, ImportLog};
use chrono::Utc;
use openlmt_domain::ImportStatus;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc;

const SHUTDOWN_REASON: &str = "cancelled: the server is shutting down";

pub(crate) async fn run_loop(engine: Engine, mut rx: mpsc::UnboundedReceiver<i64>) {
    let shutdown = engine.inner().shutdown.clone();
    loop {
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break,
            id = rx.recv() => match id {
                Some(id) => run_import(&engine, id).await,
                None => return,
            },
        }
    }
    // Imports registered but never started end as cancelled.
    rx.close();
    while let Ok(id) = rx.try_recv() {
        if let Err(e) = finish_pending_as_cancelled(&engine, id, SHUTDOWN_REASON).await {
            tracing::error!(import_id = id, error = %e, "cannot cancel a pending import");
        }
    }
}

/// Ends an import that never started running.
pub(crate) async fn finish_pending_as_cancelled(
    engine: &Engine,
    id: i64,
    reason: &str,
) -> Result<(), EngineError> {
    let store = engine.store();
    store
        .end_import(id, ImportStatus::Cancelled, Some(reason))
        .await?;
    ImportLog::open(&engine.config().log_dir, id)
        .warn(format!("Import {id} {reason} before it started"));
    record_end(engine, id, ImportStatus::Cancelled).await;
    Ok(())
}

async fn record_end(engine: &Engine, id: i64, status: ImportStatus) {
    let inner = engine.inner();
    // Before the status says idle: a client that saw the import end must
    // find the history already trimmed to `import_retention`.
    prune(engine).await;
    let row = inner.store.import(id).await.ok().flatten();
    {
        let mut s = inner.state.write();
        if s.active.as_ref().is_some_and(|a| a.id == id) {
            s.active = None;
        }
        if let Some(f) = row.as_ref().and_then(FinishedImport::from_row) {
            if status == ImportStatus::Successful {
                s.last_success = Some(f.clone());
            }
            s.last = Some(f);
        }
    }
    inner.state.progress.store(0, Ordering::Relaxed);
    metrics::counter!("openlmt_imports_total", "status" => status.as_str()).increment(1);
    metrics::gauge!("openlmt_import_progress").set(0.0);
    if let Some(d) = row.as_ref().and_then(|r| {
        Some((r.finished_at? - r.started_at.unwrap_or(r.requested_at)).num_milliseconds())
    }) {
        metrics::histogram!("openlmt_import_duration_seconds").record(d.max(0) as f64 / 1000.0);
    }
    inner.finished.notify_waiters();
}

async fn prune(engine: &Engine) {
    match engine
        .store()
        .prune_imports(engine.config().retention)
        .await
    {
        Ok(ids) => {
            for id in ids {
                let _ = tokio::fs::remove_file(engine.log_path(id)).await;
            }
        }
        Err(e) => tracing::error!(error = %e, "cannot prune the import history"),
    }
}

async fn run_import(engine: &Engine, id: i64) {
    let inner = engine.inner();
    let store = &inner.store;
    let row = match store.import(id).await {
        Ok(Some(row)) if row.status == ImportStatus::Pending => row,
        Ok(_) => return, // cancelled before it started
        Err(e) => {
            tracing::error!(import_id = id, error = %e, "cannot load a registered import");
            return;
        }
    };
    let token = inner.shutdown.child_token();
    let reason = inner.set_current(id, token.clone());
    let log = ImportLog::open(&inner.config.log_dir, id);
    let started = Instant::now();

    let outcome = match store.mark_running(id).await {
        // Cancelled between its registration and now: already ended.
        Ok(false) => {
            inner.clear_current();
            return;
        }
        Ok(true) => {
            inner.state.progress.store(1, Ordering::Relaxed);
            {
                let mut s = inner.state.write();
                if let Some(a) = s.active.as_mut().filter(|a| a.id == id) {
                    a.status = ImportStatus::Running;
                    a.started_at = Some(Utc::now());
                }
            }
            log.info(format!(
                "Import {id} started: type {}, trigger {}, requested by {}",
                row.import_type,
                row.trigger,
                row.requested_by.as_deref().unwrap_or("the server")
            ));
            let run = Run::new(engine, id, row.import_type, &log, &token);
            steps::run_all(&run).await
        }
        Err(e) => Err(StepError::Failed(format!("cannot start the import: {e}"))),
    };

    let (status, error) = match outcome {
        Ok(()) => (ImportStatus::Successful, None),
        Err(StepError::Cancelled) => {
            let why = crate::lock(&reason)
                .clone()
                .unwrap_or_else(|| SHUTDOWN_REASON.to_string());
            (ImportStatus::Cancelled, Some(why))
        }
        Err(StepError::Failed(msg)) => (ImportStatus::Failed, Some(msg)),
    };
    if status == ImportStatus::Successful {
        match store.delete_superseded_facts(id).await {
            Ok(n) if n > 0 => log.info(format!("Deleted {n} superseded facts")),
            Ok(_) => {}
            Err(e) => log.warn(format!(
                "Cannot delete superseded facts (they stay invisible): {e}"
            )),
        }
    } else {
        if let Err(e) = store.discard_import_facts(id).await {
            log.warn(format!(
                "Cannot delete the unpublished facts (they stay invisible): {e}"
            ));
        }
        let mut attempt = 0;
        while let Err(e) = store.end_import(id, status, error.as_deref()).await {
            attempt += 1;
            tracing::error!(import_id = id, error = %e, attempt, "cannot record the end of an import");
            if attempt >= 5 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    match (&status, &error) {
        (ImportStatus::Successful, _) => {
            log.info(format!("Import {id} finished successfully in {secs:.1} s"))
        }
        (_, Some(e)) => log.error(format!("Import {id} {status} after {secs:.1} s: {e}")),
        (_, None) => log.error(format!("Import {id} {status} after {secs:.1} s")),
    }
    tracing::info!(import_id = id, %status, seconds = secs, error = error.as_deref(), "import ended");
    inner.clear_current();
    record_end(engine, id, status).await;
}
