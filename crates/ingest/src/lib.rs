//! The import engine: one import at a time, its steps, its log, its
//! schedule, cancel, and recovery after a crash.
//!
//! Architecture invariants:
//! - Handlers never run an import; they call [`Engine::request`], which
//!   registers it, and one runner task executes imports one by one.
//! - Nothing an import writes becomes visible before its single publish
//!   transaction; a failed, cancelled or interrupted import publishes
//!   nothing.
//! - [`Engine::status`] answers from memory and never touches the database.

mod cluster;
pub mod hooks;
pub mod license;
mod log;
mod outcome;
mod priority;
mod runner;
mod schedule_store;
mod scheduler;
mod state;
mod steps;

pub use cluster::DEFAULT_LEASE;
pub use hooks::TestHooks;
pub use log::{format_line, format_lines, log_path, ImportLog, Level, LogSink};
pub use state::{ActiveImport, FinishedImport, StatusView};
pub use steps::{effective_catalog, Effective};

use chrono::Utc;
use chrono_tz::Tz;
use openlmt_domain::{ImportStatus, ImportType, Schedule, Trigger};
use openlmt_storage::{ImportRow, Store, StoreError};
use state::SharedState;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A disconnected data source: a directory of scan packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSource {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the per-import logs are kept.
    pub log_dir: PathBuf,
    pub data_sources: Vec<DataSource>,
    /// How many imports the history keeps.
    pub retention: i64,
    /// The time zone of the default schedule (the server's local zone).
    pub default_timezone: Tz,
    /// Computers whose last scan is older than this are marked deleted at
    /// each publish (`None`: never).
    pub computer_retention: Option<Duration>,
    /// Licence history older than this many days is deleted at each
    /// publish (`None`: kept).
    pub license_history_days: Option<u32>,
    /// VM-manager data older than this no longer places a VM on its host
    /// (the VM is then counted on its own, counting-rules.md §6).
    pub vm_manager_stale: Duration,
    /// Test seams (pause, fail, panic at named points); empty, and without
    /// any effect, in a build without the `test-hooks` feature.
    pub test_hooks: TestHooks,
    /// This server's name among the servers of one database (recorded on
    /// the imports it runs).
    pub node_name: String,
    /// How long this node's claim on its import holds without a heartbeat
    /// (a database several servers share only; see `cluster.rs`).
    pub lease: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the server is shutting down")]
    ShuttingDown,
}

/// What a start request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    Started(i64),
    /// Another import is pending or running; nothing was started.
    AlreadyActive(i64),
}

/// What a cancel request did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The import has ended; the row tells how (normally `cancelled`, or
    /// `successful` if it committed before the cancel took effect).
    Ended(ImportRow),
    /// The import is not active.
    NotActive(ImportRow),
    NotFound,
}

struct Current {
    id: i64,
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

pub(crate) struct EngineInner {
    pub store: Store,
    /// The import this node registered and has not yet ended (the one its
    /// heartbeat renews).
    pub own_import: Mutex<Option<i64>>,
    /// The store the import runner works through (see
    /// [`Engine::import_store`]), set by the runner's thread as it starts.
    pub import_store: std::sync::OnceLock<Store>,
    pub config: EngineConfig,
    pub state: SharedState,
    start_lock: tokio::sync::Mutex<()>,
    runner_tx: mpsc::UnboundedSender<i64>,
    current: Mutex<Option<Current>>,
    pub schedule: RwLock<Schedule>,
    pub schedule_changed: Notify,
    pub finished: Notify,
    pub shutdown: CancellationToken,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// The server's runtime (the runner has a runtime of its own), for work
    /// that must go on while the runner's thread is busy writing.
    main_runtime: tokio::runtime::Handle,
    /// The way to the import logs' writer (see log.rs).
    log_sink: LogSink,
}

/// The import engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    /// Recovers imports interrupted by a previous stop, loads the state and
    /// the schedule, and starts the runner and the scheduler.
    pub async fn start(store: Store, config: EngineConfig) -> Result<Engine, EngineError> {
        // The licence arithmetic the store applies at each publish and
        // classification change.
        store.set_usage_calculator(std::sync::Arc::new(license::LicenseCalculator));
        store.set_node(openlmt_storage::NodeConfig {
            name: config.node_name.clone(),
            lease: store.shared().then_some(config.lease),
        });
        for id in store.recover_interrupted().await? {
            tracing::warn!(
                import_id = id,
                "import interrupted by a previous stop marked failed"
            );
            ImportLog::append_now(
                &config.log_dir,
                &store,
                id,
                Level::Error,
                openlmt_storage::INTERRUPTED,
            )
            .await;
        }
        // What a crash, or a clean-up that failed, left behind: facts of
        // unpublished imports, facts superseded by a publish, computers
        // never published.
        // They are invisible, and every import's end retries: a failure
        // here is a warning, never a reason not to start.
        match store.clean_leftovers().await {
            Ok(done) if done != openlmt_storage::Leftovers::default() => tracing::info!(
                superseded_facts = done.superseded_facts,
                unpublished_facts = done.unpublished_facts,
                placeholder_computers = done.placeholder_computers,
                unpublished_discovery = done.unpublished_discovery,
                "deleted what earlier imports left behind"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(
                error = %e,
                "cannot delete what earlier imports left behind yet (invisible; the next import retries)"
            ),
        }
        // Another node's import, running while this one starts.
        let foreign = match store.shared() {
            true => store.active_import().await?,
            false => None,
        };
        let (last, last_success) = store.last_finished().await?;
        let any_ever = store.any_import_ever().await?;
        let schedule = schedule_store::load(&store, config.default_timezone).await?;
        let state = SharedState::default();
        {
            let mut s = state.write();
            s.last = last.as_ref().and_then(FinishedImport::from_row);
            s.last_success = last_success.as_ref().and_then(FinishedImport::from_row);
            s.any_ever = any_ever || foreign.is_some();
            if let Some(a) = &foreign {
                state.progress.store(a.progress, Ordering::Relaxed);
                s.active = Some(ActiveImport::from_row(a));
            }
            s.next = schedule
                .next_after(Utc::now())
                .map(|t| (t, schedule.import_type()));
        }
        let (runner_tx, runner_rx) = mpsc::unbounded_channel();
        let (log_sink, log_rx) = LogSink::channel();
        let inner = Arc::new(EngineInner {
            store,
            own_import: Mutex::new(None),
            import_store: std::sync::OnceLock::new(),
            config,
            state,
            start_lock: tokio::sync::Mutex::new(()),
            runner_tx,
            current: Mutex::new(None),
            schedule: RwLock::new(schedule),
            schedule_changed: Notify::new(),
            finished: Notify::new(),
            shutdown: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
            main_runtime: tokio::runtime::Handle::current(),
            log_sink,
        });
        // The one writer of the import logs' lines to the database (see
        // log.rs), on this runtime: through the import's store, or the
        // API's when an import's end waits for it (as `runner::conclude`
        // records the end). It ends with the engine.
        tokio::spawn(log::write_loop(log_rx, {
            let weak = Arc::downgrade(&inner);
            let main = inner.store.clone();
            move |urgent: bool| {
                let import = (!urgent)
                    .then(|| weak.upgrade())
                    .flatten()
                    .and_then(|i| i.import_store.get().cloned());
                import.unwrap_or_else(|| main.clone())
            }
        }));
        let engine = Engine { inner };
        // Imports run on their own thread, at a lower CPU priority, with a
        // runtime of their own, so that they never take the HTTP workers'
        // time (see priority.rs).
        let (runner_done, runner_exit) = tokio::sync::oneshot::channel::<()>();
        let runner_engine = engine.clone();
        std::thread::Builder::new()
            .name("openlmt-import".into())
            .spawn(move || {
                priority::lower_runner_thread();
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(runner::run_loop(runner_engine, runner_rx)),
                    Err(e) => tracing::error!(error = %e, "cannot start the import runtime"),
                }
                let _ = runner_done.send(());
            })
            .map_err(|e| {
                EngineError::Store(StoreError::Internal(format!(
                    "cannot start the import thread: {e}"
                )))
            })?;
        let runner = tokio::spawn(async move {
            let _ = runner_exit.await;
        });
        let scheduler = tokio::spawn(scheduler::run_loop(engine.clone()));
        lock(&engine.inner.tasks).extend([runner, scheduler]);
        if engine.inner.store.shared() {
            let tasks = cluster::start(&engine);
            lock(&engine.inner.tasks).extend(tasks);
        }
        Ok(engine)
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store of import work: on SQLite a pool of its own whose
    /// connection threads were started by the runner's thread and so run at
    /// the import's low CPU priority (see `crate::priority`), while the
    /// API's queries keep the normal priority on [`Engine::store`]'s pool.
    /// The main store until the runner has opened it.
    pub fn import_store(&self) -> &Store {
        self.inner.import_store.get().unwrap_or(&self.inner.store)
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    pub(crate) fn main_runtime(&self) -> &tokio::runtime::Handle {
        &self.inner.main_runtime
    }

    /// The current status, from memory.
    pub fn status(&self) -> StatusView {
        self.inner.state.view()
    }

    /// Registers an import unless one is already pending or running.
    pub async fn request(
        &self,
        import_type: ImportType,
        trigger: Trigger,
        requested_by: Option<&str>,
    ) -> Result<StartOutcome, EngineError> {
        let _guard = self.inner.start_lock.lock().await;
        if self.inner.shutdown.is_cancelled() {
            return Err(EngineError::ShuttingDown);
        }
        if let Some(active) = &self.inner.state.read().active {
            return Ok(StartOutcome::AlreadyActive(active.id));
        }
        match self
            .inner
            .store
            .register_import(import_type, trigger, requested_by)
            .await?
        {
            Some(row) => {
                self.inner.state.progress.store(0, Ordering::Relaxed);
                {
                    let mut s = self.inner.state.write();
                    // Under the status's lock (see `cluster::poll_loop`).
                    *lock(&self.inner.own_import) = Some(row.id);
                    s.active = Some(ActiveImport {
                        id: row.id,
                        import_type,
                        status: ImportStatus::Pending,
                        started_at: None,
                        step: None,
                    });
                    s.any_ever = true;
                }
                tracing::info!(import_id = row.id, %import_type, %trigger, by = requested_by, "import registered");
                if self.inner.runner_tx.send(row.id).is_err() {
                    return Err(EngineError::ShuttingDown);
                }
                Ok(StartOutcome::Started(row.id))
            }
            // Another process holds the slot.
            None => {
                let active = self.inner.store.active_import().await?;
                if let Some(a) = &active {
                    // Another node's: shown at once, not at the next poll.
                    let mut s = self.inner.state.write();
                    if s.active.is_none() {
                        s.active = Some(ActiveImport::from_row(a));
                        s.any_ever = true;
                    }
                }
                Ok(StartOutcome::AlreadyActive(active.map_or(0, |a| a.id)))
            }
        }
    }

    /// Cancels an active import and waits (up to 5 s) until it has ended.
    pub async fn cancel(&self, id: i64, by: Option<&str>) -> Result<CancelOutcome, EngineError> {
        let Some(row) = self.inner.store.import(id).await? else {
            return Ok(CancelOutcome::NotFound);
        };
        if !row.status.is_active() {
            return Ok(CancelOutcome::NotActive(row));
        }
        let signalled = {
            let current = lock(&self.inner.current);
            match current.as_ref().filter(|c| c.id == id) {
                Some(c) => {
                    *lock(&c.reason) = Some(match by {
                        Some(user) => format!("cancelled by {user}"),
                        None => "cancelled".to_string(),
                    });
                    c.token.cancel();
                    true
                }
                None => false,
            }
        };
        let reason = by.map_or("cancelled".to_string(), |u| format!("cancelled by {u}"));
        let own = *lock(&self.inner.own_import) == Some(id) || !self.inner.store.shared();
        if !signalled && own {
            // Registered but not yet picked up by the runner: end it here.
            runner::finish_pending_as_cancelled(self, id, &reason).await?;
        } else if !signalled {
            // Another node's: it applies the cancel at its next look (its
            // status poll), and the row tells when it has ended.
            if !self.inner.store.request_cancel(id, &reason).await? {
                return match self.inner.store.import(id).await? {
                    Some(r) => Ok(CancelOutcome::Ended(r)),
                    None => Ok(CancelOutcome::NotFound),
                };
            }
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            loop {
                match self.inner.store.import(id).await? {
                    None => return Ok(CancelOutcome::NotFound),
                    Some(r) if !r.status.is_active() => {
                        let mut s = self.inner.state.write();
                        if s.active.as_ref().is_some_and(|a| a.id == id) {
                            s.active = None;
                        }
                        return Ok(CancelOutcome::Ended(r));
                    }
                    Some(r) if tokio::time::Instant::now() >= deadline => {
                        return Ok(CancelOutcome::NotActive(r))
                    }
                    Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let notified = self.inner.finished.notified();
            let row = self.inner.store.import(id).await?;
            // Ended once the status (memory) says so too: the engine ends
            // the row first, then cleans up, then updates the status.
            let in_memory = self
                .inner
                .state
                .read()
                .active
                .as_ref()
                .is_some_and(|a| a.id == id);
            match row {
                Some(r) if !r.status.is_active() && !in_memory => {
                    return Ok(CancelOutcome::Ended(r))
                }
                None => return Ok(CancelOutcome::NotFound),
                Some(r) => {
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        return Ok(CancelOutcome::NotActive(r));
                    }
                }
            }
        }
    }

    pub fn schedule(&self) -> Schedule {
        self.inner
            .schedule
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the schedule. The change takes effect at once; slots before
    /// now are not caught up.
    pub async fn set_schedule(&self, schedule: Schedule) -> Result<(), EngineError> {
        schedule_store::save(&self.inner.store, &schedule).await?;
        schedule_store::save_last_slot(&self.inner.store, Utc::now()).await?;
        self.install_schedule(schedule);
        Ok(())
    }

    /// Takes a schedule changed on another node (read by the status poll).
    pub(crate) fn adopt_schedule(&self, schedule: Schedule) {
        if self.schedule() != schedule {
            self.install_schedule(schedule);
        }
    }

    /// The schedule in memory, its next slot in the status, the scheduler
    /// woken.
    fn install_schedule(&self, schedule: Schedule) {
        self.inner.state.write().next = schedule
            .next_after(Utc::now())
            .map(|t| (t, schedule.import_type()));
        *self
            .inner
            .schedule
            .write()
            .unwrap_or_else(|p| p.into_inner()) = schedule;
        self.inner.schedule_changed.notify_one();
    }

    /// Cancels this node's running import `id`, for `reason`, unless it is
    /// already cancelled (a cancel asked for on another node, or a lease
    /// lost). Nothing when `id` is not running here. Whether it cancelled.
    pub(crate) fn cancel_current(&self, id: i64, reason: &str) -> bool {
        let current = lock(&self.inner.current);
        match current.as_ref().filter(|c| c.id == id) {
            Some(c) if !c.token.is_cancelled() => {
                *lock(&c.reason) = Some(reason.to_string());
                c.token.cancel();
                true
            }
            _ => false,
        }
    }

    /// The log file of an import (this server's local copy of the lines
    /// it wrote; the database has the log: see log.rs).
    pub fn log_path(&self, id: i64) -> PathBuf {
        log_path(&self.inner.config.log_dir, id)
    }

    /// Opens an import's log for writing (the file, and the database
    /// through the engine's log writer).
    pub fn open_log(&self, id: i64) -> ImportLog {
        ImportLog::open(&self.inner.config.log_dir, id, &self.inner.log_sink)
    }

    /// Waits until every log line written so far is stored in the
    /// database (at most `log::FLUSH_WAIT`).
    pub async fn flush_logs(&self) -> bool {
        self.inner.log_sink.flush().await
    }

    /// Stops taking imports, cancels the running one ("the server is
    /// shutting down") and waits up to `grace` for the runner to end.
    pub async fn shutdown(&self, grace: Duration) {
        {
            let _guard = self.inner.start_lock.lock().await;
            self.inner.shutdown.cancel();
        }
        let tasks: Vec<_> = lock(&self.inner.tasks).drain(..).collect();
        let all = futures_join(tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::error!("the import runner did not stop in time");
        }
        self.flush_logs().await;
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl EngineInner {
    pub(crate) fn set_current(
        &self,
        id: i64,
        token: CancellationToken,
    ) -> Arc<Mutex<Option<String>>> {
        let reason = Arc::new(Mutex::new(None));
        *lock(&self.current) = Some(Current {
            id,
            token,
            reason: reason.clone(),
        });
        reason
    }

    pub(crate) fn clear_current(&self) {
        *lock(&self.current) = None;
    }
}

impl Engine {
    pub(crate) fn inner(&self) -> &EngineInner {
        &self.inner
    }
}
