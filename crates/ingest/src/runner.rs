//! The runner: executes registered imports one at a time, and
//! [`conclude`], the one place that ends an import.

use crate::outcome::{panic_message, Outcome, RunResult};
use crate::state::FinishedImport;
use crate::steps::{self, Run};
use crate::{Engine, EngineError, ImportLog};
use chrono::Utc;
use futures_util::FutureExt;
use openlmt_domain::ImportStatus;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tokio::sync::mpsc;

const SHUTDOWN_REASON: &str = "cancelled: the server is shutting down";

pub(crate) async fn run_loop(engine: Engine, mut rx: mpsc::UnboundedReceiver<i64>) {
    let shutdown = engine.inner().shutdown.clone();
    // Opened here, on the runner's thread, so that the connections' threads
    // inherit its priority (see `Engine::import_store`).
    match engine.store().for_import().await {
        Ok(store) => {
            let _ = engine.inner().import_store.set(store);
        }
        Err(e) => tracing::warn!(
            error = %e,
            "cannot open the import's own connections; imports share the API's, at the API's priority"
        ),
    }
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

/// A failed import's error says so when the database's file system is
/// full: SQLite's own words may be only "disk I/O error" (see
/// `Storage::space_problem`).
fn with_space_problem(engine: &Engine, outcome: Outcome) -> Outcome {
    match outcome {
        Outcome::Failed(e) if looks_like_a_write_failure(&e) => {
            match engine.store().space_problem() {
                Some(why) => Outcome::Failed(format!("{why}: {e}")),
                None => Outcome::Failed(e),
            }
        }
        other => other,
    }
}

/// SQLite's messages for a write that the file system refused.
fn looks_like_a_write_failure(e: &str) -> bool {
    ["disk I/O error", "disk is full", "No space left"]
        .iter()
        .any(|m| e.contains(m))
}

/// Ends an import that never started running.
pub(crate) async fn finish_pending_as_cancelled(
    engine: &Engine,
    id: i64,
    reason: &str,
) -> Result<(), EngineError> {
    let log = engine.open_log(id);
    log.warn(format!("Import {id} {reason} before it started"));
    conclude(
        engine,
        id,
        &log,
        Outcome::Cancelled(reason.to_string()),
        None,
    )
    .await
}

async fn run_import(engine: &Engine, id: i64) {
    let inner = engine.inner();
    let store = engine.import_store();
    let row = match store.import(id).await {
        Ok(Some(row)) if row.status == ImportStatus::Pending => row,
        Ok(_) => return, // cancelled before it started
        Err(e) => {
            // Not left pending for ever (the database unavailable, say):
            // it ends failed, recorded once the database answers again.
            tracing::error!(import_id = id, error = %e, "cannot load a registered import");
            let log = engine.open_log(id);
            let failed = Outcome::Failed(format!("cannot start the import: {e}"));
            conclude_on_main_runtime(engine, id, log, failed, None).await;
            return;
        }
    };
    let token = inner.shutdown.child_token();
    let reason = inner.set_current(id, token.clone());
    let log = engine.open_log(id);
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
                "Import {id} started on node {}: type {}, trigger {}, requested by {}",
                inner.config.node_name,
                row.import_type,
                row.trigger,
                row.requested_by.as_deref().unwrap_or("the server")
            ));
            let run = Run::new(engine, id, row.import_type, &log, &token);
            // A panic in a step ends this import (failed, with the panic's
            // message), not the runner: the next import runs as usual.
            let result: RunResult = AssertUnwindSafe(steps::run_all(&run))
                .catch_unwind()
                .await
                .map_err(|p| panic_message(p.as_ref()));
            let why = crate::lock(&reason)
                .clone()
                .unwrap_or_else(|| SHUTDOWN_REASON.to_string());
            Outcome::decide(run.published(), result, Some(why))
        }
        Err(e) => Outcome::Failed(format!("cannot start the import: {e}")),
    };
    let outcome = with_space_problem(engine, outcome);
    inner.clear_current();
    conclude_on_main_runtime(engine, id, log, outcome, Some(started)).await;
}

/// [`conclude`] from the server's runtime, through the API's pool: a
/// connection that pool opens for it must not be started by the runner's
/// thread, whose idle priority it would inherit (see
/// `Engine::import_store`).
async fn conclude_on_main_runtime(
    engine: &Engine,
    id: i64,
    log: ImportLog,
    outcome: Outcome,
    started: Option<Instant>,
) {
    let ended = engine.main_runtime().spawn({
        let engine = engine.clone();
        async move { conclude(&engine, id, &log, outcome, started).await }
    });
    match ended.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(import_id = id, error = %e, "cannot record the end of an import")
        }
        Err(e) => {
            tracing::error!(import_id = id, error = %e, "recording the end of an import stopped")
        }
    }
}

/// The one transition out of pending/running. Applies `outcome` to the
/// database row (a successful import's row was already ended by its
/// publish, in the same transaction), cleans up (superseded facts after a
/// success; what an unpublished import wrote otherwise; and any leftover
/// of earlier imports), writes the log and the server's log, the metrics,
/// and the in-memory status (`last`, `last_success`, idle), then wakes the
/// cancel requests waiting for the end.
pub(crate) async fn conclude(
    engine: &Engine,
    id: i64,
    log: &ImportLog,
    outcome: Outcome,
    started: Option<Instant>,
) -> Result<(), EngineError> {
    let inner = engine.inner();
    // The end of an import is recorded (and its leftovers deleted) at the
    // API's priority, through its pool: a cancel waits for it, and an
    // import's end must not wait for idle CPU (see `Engine::import_store`).
    let store = &inner.store;
    let status = outcome.status();
    let mut ended = Ok(());
    if status != ImportStatus::Successful {
        // The row keeps the progress shown last, so that it does not go
        // back when the import ends.
        let shown = inner.state.progress.load(Ordering::Relaxed);
        if shown > 0 {
            let _ = store.set_progress(id, shown).await;
        }
        // Until its end is recorded the import holds the database's active
        // slot, and no other import can start: keep trying (the database
        // back, a full disk freed, a lock released) while the server runs;
        // the status shows it ended meanwhile. At shutdown the next start
        // marks it failed.
        let mut attempt = 0u32;
        while let Err(e) = store.end_import(id, status, outcome.error()).await {
            attempt += 1;
            tracing::error!(import_id = id, error = %e, attempt, "cannot record the end of an import");
            if attempt == 1 {
                log.warn(format!(
                    "Cannot record the end of import {id} ({status}) yet, retrying until it is: {e}"
                ));
                show_ended(engine, id, status, outcome.error());
            }
            if inner.shutdown.is_cancelled() && attempt >= 5 {
                ended = Err(e);
                break;
            }
            let wait = std::time::Duration::from_millis(200 << attempt.min(5));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = inner.shutdown.cancelled(), if attempt < 5 => {}
            }
        }
        if attempt > 0 && ended.is_ok() {
            log.info(format!(
                "Recorded the end of import {id} after {attempt} failed attempts"
            ));
        }
    }
    if let Outcome::Successful { warnings } = &outcome {
        for w in warnings {
            log.warn(format!("Import {id} is published; {w}"));
            tracing::warn!(import_id = id, warning = %w, "problem after the publish");
        }
    }
    match store.clean_leftovers().await {
        Ok(done) => {
            if done.superseded_facts > 0 {
                log.info(format!(
                    "Deleted {} superseded facts",
                    done.superseded_facts
                ));
            }
            if done.unpublished_facts > 0 || done.placeholder_computers > 0 {
                log.info(format!(
                    "Deleted {} unpublished facts and {} unpublished computers",
                    done.unpublished_facts, done.placeholder_computers
                ));
            }
            if done.unpublished_discovery > 0 {
                log.info(format!(
                    "Deleted {} staged software discovery rows of unpublished imports",
                    done.unpublished_discovery
                ));
            }
        }
        Err(e) => log.warn(format!(
            "Cannot delete leftover facts yet (they stay invisible; the next import retries): {e}"
        )),
    }
    let secs = started.map(|t| t.elapsed().as_secs_f64());
    if let Some(secs) = secs {
        match outcome.error() {
            None => log.info(format!("Import {id} finished successfully in {secs:.1} s")),
            Some(e) => log.error(format!("Import {id} {status} after {secs:.1} s: {e}")),
        }
    }
    tracing::info!(import_id = id, %status, seconds = secs, error = outcome.error(), "import ended");
    // Every line stored before the status shows the end: a client that saw
    // the import end reads its whole log, from any server (log.rs).
    log.flush().await;
    record_end(engine, id, status).await;
    ended.map_err(EngineError::from)
}

/// The in-memory status of an import whose end is known but cannot be
/// recorded yet: ended (`last`, not `active`), with its status and error,
/// rather than running for as long as the database stays away. The row
/// read back once the end is recorded replaces it ([`record_end`]).
fn show_ended(engine: &Engine, id: i64, status: ImportStatus, error: Option<&str>) {
    let state = &engine.inner().state;
    let mut s = state.write();
    if let Some(a) = s.active.take_if(|a| a.id == id) {
        s.last = Some(FinishedImport {
            id,
            import_type: a.import_type,
            status,
            started_at: a.started_at,
            finished_at: Utc::now(),
            progress: state.progress.load(Ordering::Relaxed),
            error: error.map(str::to_string),
        });
    }
    state.progress.store(0, Ordering::Relaxed);
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
        {
            let mut own = crate::lock(&inner.own_import);
            if *own == Some(id) {
                *own = None;
            }
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
