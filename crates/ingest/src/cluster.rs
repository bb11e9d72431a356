//! Several servers on one database (PostgreSQL): each node's part.
//!
//! - **Heartbeat**: while this node has an active import, its lease is
//!   renewed every third of the lease, from the server's runtime (never the
//!   import's idle-priority thread, which a busy machine may starve). A
//!   renewal that finds the import no longer this node's (another node ended
//!   it when its lease passed), or no renewal for a whole lease (the
//!   database unreachable), cancels the run: it could not publish anyway
//!   (the publish checks the lease: fencing).
//! - **Janitor**: every node, every third of the lease, ends the imports
//!   whose lease has passed ("interrupted: node N stopped during the
//!   import"), so that a dead node's import ends within about 1⅓ leases.
//! - **Status poll**: at every change the database announces (PostgreSQL's
//!   `LISTEN`/`NOTIFY`, channel `openlmt_imports`) and at least every
//!   [`POLL`] (notifications sent while the listening connection is down
//!   are lost), the active import, the last finished one and the schedule
//!   are read (three small queries), so that every
//!   node's in-memory status (what `import_status.json` serves, still without
//!   a query per request) agrees with the others' within a second; a cancel
//!   asked for on another node reaches the running one the same way. When
//!   the database cannot be read the status keeps its last snapshot and is
//!   marked stale.
//!
//! A single SQLite server runs none of this (`Storage::shared` is false).

use crate::{lock, schedule_store, state::FinishedImport, ActiveImport, Engine, Level};
use openlmt_storage::{ActiveLease, Lease};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How often every node reads the active import (the status agreement).
pub(crate) const POLL: Duration = Duration::from_millis(400);

/// The default lease of a node on its active import.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

pub(crate) fn start(engine: &Engine) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(heartbeat_loop(engine.clone())),
        tokio::spawn(poll_loop(engine.clone())),
    ]
}

fn beat(engine: &Engine) -> Duration {
    (engine.config().lease / 3).max(Duration::from_millis(200))
}

async fn heartbeat_loop(engine: Engine) {
    let inner = engine.inner();
    let mut last_renewed = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(beat(&engine)) => {}
            _ = inner.shutdown.cancelled() => return,
        }
        let own = *lock(&inner.own_import);
        match own {
            Some(id) => match inner.store.renew_lease(id).await {
                Ok(Lease::Held { cancel_requested }) => {
                    last_renewed = Instant::now();
                    if let Some(reason) = cancel_requested {
                        engine.cancel_current(id, &reason);
                    }
                }
                // Its own publish ends the row too: the steps after it
                // (clean-up) are not cancelled.
                Ok(Lease::Lost) => {
                    let published = matches!(
                        inner.store.import(id).await,
                        Ok(Some(r)) if r.status == openlmt_domain::ImportStatus::Successful
                    );
                    if !published
                        && engine.cancel_current(
                            id,
                            "this node's lease on the import passed and another node ended it",
                        )
                    {
                        tracing::warn!(
                            import_id = id,
                            "this node's lease on the import was lost: its run is cancelled"
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(import_id = id, error = %e, "cannot renew the import's lease");
                    if last_renewed.elapsed() > engine.config().lease {
                        engine.cancel_current(
                            id,
                            "the database could not be reached for longer than the import's lease",
                        );
                    }
                }
            },
            None => last_renewed = Instant::now(),
        }
        match inner.store.expire_leases().await {
            Ok(expired) => {
                for (id, node) in expired {
                    let msg = openlmt_storage::lease_expired_error(node.as_deref());
                    tracing::warn!(import_id = id, node = node.as_deref(), "{msg}");
                    // Into the database: the import's own node is gone,
                    // and every node serves the log from there.
                    engine.open_log(id).write(Level::Error, &msg);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot check the import leases"),
        }
    }
}

async fn poll_loop(engine: Engine) {
    let inner = engine.inner();
    let mut schedule_seen = inner.store.meta_get("schedule").await.ok().flatten();
    // Notified changes wake the poll at once (a notification per change:
    // a burst of them is one read).
    let mut changes = inner.store.watch_imports();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            Ok(()) = async {
                match changes.as_mut() {
                    Some(rx) => rx.changed().await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = inner.shutdown.cancelled() => return,
        }
        let view = match inner.store.cluster_view().await {
            Ok(v) => v,
            Err(e) => {
                if !inner.state.stale.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "cannot read the import status from the database: the status is stale");
                }
                continue;
            }
        };
        if inner.state.stale.swap(false, Ordering::Relaxed) {
            tracing::info!("the import status is read from the database again");
        }
        // Under the status's lock, which `Engine::request` holds while it
        // makes an import this node's own and `record_end` while it ends
        // one: the poll never takes this node's fresh import for another's
        // ended one, nor the reverse.
        let last_known = {
            let mut s = inner.state.write();
            let own = *lock(&inner.own_import);
            let last_known = s.last.as_ref().map(|l| l.id);
            // An active import older than the last finished one known
            // here was read before it ended: nothing to show.
            let active = view
                .active
                .as_ref()
                .filter(|a| last_known.is_none_or(|l| a.id > l));
            apply_active(&engine, &mut s, own, active);
            last_known
        };
        if view.last_finished.is_some() && view.last_finished != last_known {
            if let Ok((last, success)) = inner.store.last_finished().await {
                let mut s = inner.state.write();
                s.last = last.as_ref().and_then(FinishedImport::from_row);
                s.last_success = success.as_ref().and_then(FinishedImport::from_row);
                s.any_ever = true;
            }
            inner.finished.notify_waiters();
        }
        if view.schedule != schedule_seen {
            schedule_seen = view.schedule;
            match schedule_store::load(&inner.store, engine.config().default_timezone).await {
                Ok(schedule) => engine.adopt_schedule(schedule),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the schedule changed on another node")
                }
            }
        }
    }
}

/// Brings the in-memory active import in step with the database's. This
/// node's own import keeps its own (finer) state; a cancel asked for on
/// another node is applied.
fn apply_active(
    engine: &Engine,
    s: &mut crate::state::Inner,
    own: Option<i64>,
    active: Option<&ActiveLease>,
) {
    let inner = engine.inner();
    match active {
        Some(a) if own == Some(a.id) => {
            if let Some(reason) = &a.cancel_requested {
                engine.cancel_current(a.id, reason);
            }
        }
        Some(a) => {
            inner.state.progress.store(a.progress, Ordering::Relaxed);
            s.active = Some(ActiveImport {
                id: a.id,
                import_type: a.import_type,
                status: a.status,
                started_at: a.started_at,
                step: None,
            });
            s.any_ever = true;
        }
        None => {
            if s.active.as_ref().is_some_and(|a| Some(a.id) != own) {
                s.active = None;
                inner.state.progress.store(0, Ordering::Relaxed);
            }
        }
    }
}
