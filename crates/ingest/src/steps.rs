//! The steps of an import. Each step reports counters and progress and
//! checks for cancellation between items.

use crate::{Engine, ImportLog};
use chrono::Utc;
use openlmt_domain::progress::{ProgressModel, StepDef};
use openlmt_domain::{ImportType, PackageName};
use openlmt_scanpkg::{read_package_file, Limits, ScanPackage, SwidSchema};
use openlmt_storage::{
    NewPackageRecord, PackageFactRow, PackageState, PackageWrite, PublishOptions, StagedComputer,
    StepCounters, SwidFactRow,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub(crate) enum StepError {
    Cancelled,
    Failed(String),
}

const VALIDATE: &str = "Validate data sources";
const FIND: &str = "Find scan packages";
const READ: &str = "Read and write scan packages";
const TEST_DELAY: &str = "Test delay (test builds only)";
const PUBLISH: &str = "Publish";

/// How many package records are written per transaction.
const BATCH: usize = 500;
/// Facts per write transaction (about).
const WRITE_BATCH_ROWS: usize = 20_000;
/// How often the write-ahead log is checkpointed while the read step writes.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);
/// How often the read step saves its counters while it writes.
const STEP_SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Threads that hash new or changed package files.
const HASH_WORKERS: usize = 2;
/// Packages parsed at once (the machine has two cores; one writes).
const PARSE_WORKERS: usize = 2;
/// Parsed packages waiting for the writer: enough that the parsers go on
/// while a batch is written...
const PARSED_QUEUE: usize = 64;
/// ...and the fact rows they may hold at most (see `RowBudget`).
const PARSED_ROWS: usize = 200_000;
/// Packages whose reader notes are copied into the import log.
const NOTED_PACKAGES: usize = 500;

/// The ordered, weighted steps of an import.
pub(crate) fn plan(_ty: ImportType, test_delay: Option<Duration>) -> Vec<StepDef> {
    let mut steps = vec![
        StepDef {
            name: VALIDATE,
            weight: 1,
        },
        StepDef {
            name: FIND,
            weight: 9,
        },
        StepDef {
            name: READ,
            weight: 80,
        },
    ];
    if test_delay.is_some() {
        steps.push(StepDef {
            name: TEST_DELAY,
            weight: 5,
        });
    }
    steps.push(StepDef {
        name: PUBLISH,
        weight: 5,
    });
    steps
}

/// A package this import will read.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    data_source: String,
    path: PathBuf,
    name: PackageName,
}

/// One running import, as its steps see it.
pub(crate) struct Run<'a> {
    engine: &'a Engine,
    id: i64,
    ty: ImportType,
    log: &'a ImportLog,
    cancel: &'a CancellationToken,
    model: Mutex<ProgressModel>,
    /// The packages the find step chose for the read step.
    chosen: Mutex<Vec<Candidate>>,
}

impl<'a> Run<'a> {
    pub fn new(
        engine: &'a Engine,
        id: i64,
        ty: ImportType,
        log: &'a ImportLog,
        cancel: &'a CancellationToken,
    ) -> Self {
        let model = ProgressModel::new(plan(ty, engine.config().test_delay));
        Run {
            engine,
            id,
            ty,
            log,
            cancel,
            model: Mutex::new(model),
            chosen: Mutex::new(Vec::new()),
        }
    }

    fn check(&self) -> Result<(), StepError> {
        if self.cancel.is_cancelled() {
            Err(StepError::Cancelled)
        } else {
            Ok(())
        }
    }

    fn progress(&self, step: usize, done: u64, of: u64) {
        let p = crate::lock(&self.model).update(step, done, of);
        let state = &self.engine.inner().state;
        state.progress.fetch_max(p, Ordering::Relaxed);
        metrics::gauge!("openlmt_import_progress").set(f64::from(p));
    }

    async fn begin(&self, pos: usize) -> Result<(), StepError> {
        self.check()?;
        let steps = crate::lock(&self.model).steps().to_vec();
        let name = steps.get(pos).map_or("?", |s| s.name);
        self.engine
            .store()
            .start_step(self.id, pos as i64, name)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record the step `{name}`: {e}")))?;
        {
            let mut s = self.engine.inner().state.write();
            if let Some(a) = s.active.as_mut().filter(|a| a.id == self.id) {
                a.step = Some(name.to_string());
            }
        }
        self.progress(pos, 0, 1);
        self.log
            .info(format!("Step {}/{}: {name}", pos + 1, steps.len()));
        Ok(())
    }

    async fn end(&self, pos: usize, c: StepCounters) -> Result<(), StepError> {
        let store = self.engine.store();
        store
            .save_step(self.id, pos as i64, c, true)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record a step: {e}")))?;
        self.progress(pos + 1, 0, 1);
        let p = crate::lock(&self.model).current();
        let _ = store.set_progress(self.id, p).await;
        Ok(())
    }
}

pub(crate) async fn run_all(run: &Run<'_>) -> Result<(), StepError> {
    let steps = crate::lock(&run.model).steps().to_vec();
    for (pos, step) in steps.iter().enumerate() {
        run.begin(pos).await?;
        let counters = match step.name {
            VALIDATE => validate_data_sources(run).await?,
            FIND => find_packages(run, pos).await?,
            READ => read_packages(run, pos).await?,
            TEST_DELAY => test_delay(run, pos).await?,
            PUBLISH => publish(run).await?,
            other => return Err(StepError::Failed(format!("unknown step `{other}`"))),
        };
        run.end(pos, counters).await?;
    }
    Ok(())
}

async fn validate_data_sources(run: &Run<'_>) -> Result<StepCounters, StepError> {
    let mut c = StepCounters::default();
    for ds in &run.engine.config().data_sources {
        c.read += 1;
        let readable = match std::fs::metadata(&ds.path) {
            Ok(m) if m.is_dir() => std::fs::read_dir(&ds.path).map(|_| ()),
            Ok(_) => Err(std::io::Error::other("not a directory")),
            Err(e) => Err(e),
        };
        if let Err(e) = readable {
            let msg = format!(
                "data source `{}` at {} is not a readable directory: {e}",
                ds.name,
                ds.path.display()
            );
            run.log.error(&msg);
            return Err(StepError::Failed(msg));
        }
        run.log.info(format!(
            "Data source `{}` at {} is readable",
            ds.name,
            ds.path.display()
        ));
    }
    Ok(c)
}

/// Lists the package files of every data source, hashes the new or changed
/// ones, and chooses what to read: per endpoint the newest package, never
/// one older than what is already imported for that endpoint.
async fn find_packages(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.store();
    let mut c = StepCounters::default();
    let mut files = Vec::new();
    for ds in &run.engine.config().data_sources {
        let entries = std::fs::read_dir(&ds.path).map_err(|e| {
            StepError::Failed(format!("cannot list data source `{}`: {e}", ds.name))
        })?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files are uploads in progress.
            if file_name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            match PackageName::parse(&file_name) {
                Ok(name) => names.push((name, meta)),
                Err(e) => {
                    c.warnings += 1;
                    run.log
                        .warn(format!("Data source `{}`: ignored {e}", ds.name));
                }
            }
        }
        names.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        files.extend(names.into_iter().map(|(n, m)| (ds, n, m)));
    }
    let total = files.len() as u64;
    run.log.info(format!("Found {total} scan package files"));

    let mut published = HashMap::new();
    let mut scan_times = HashMap::new();
    for ds in &run.engine.config().data_sources {
        let err = |e: openlmt_storage::StoreError| StepError::Failed(e.to_string());
        published.insert(
            ds.name.clone(),
            store.published_packages(&ds.name).await.map_err(err)?,
        );
        scan_times.insert(
            ds.name.clone(),
            store.published_scan_times(&ds.name).await.map_err(err)?,
        );
    }

    // Which files need hashing: those whose size or modification time
    // changed since they were recorded (new files included). They are hashed
    // on HASH_WORKERS threads; the rest trust the recorded hash.
    let facts: Vec<_> = files
        .iter()
        .map(|(ds, name, meta)| {
            let size = meta.len() as i64;
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64);
            let before = published.get(&ds.name).and_then(|m| m.get(name.as_str()));
            let known = before
                .filter(|p| p.size == size && mtime_ns.is_some() && p.mtime_ns == mtime_ns)
                .map(|p| p.sha256.clone());
            (size, mtime_ns, before, known)
        })
        .collect();
    let to_hash: Vec<(usize, PathBuf)> = files
        .iter()
        .zip(&facts)
        .enumerate()
        .filter(|(_, (_, f))| f.3.is_none())
        .map(|(i, ((ds, name, _), _))| (i, ds.path.join(name.as_str())))
        .collect();
    let mut hashes = hash_files(run, pos, to_hash, total).await?;

    let mut records = Vec::with_capacity(files.len());
    for (i, ((ds, name, _), (size, mtime_ns, before, known))) in
        files.into_iter().zip(facts).enumerate()
    {
        run.check()?;
        c.read += 1;
        let sha = match known {
            Some(sha) => Ok(Some(sha)),
            None => hashes
                .remove(&i)
                .unwrap_or_else(|| Err(std::io::Error::other("not hashed"))),
        };
        let (state, sha, reason) = match sha {
            Ok(None) => return Err(StepError::Cancelled),
            Err(e) => {
                let reason = format!("cannot read the file: {e}");
                run.log.warn(format!("Package `{name}` rejected: {reason}"));
                (PackageState::Rejected, String::new(), Some(reason))
            }
            // A package skipped before (older) is judged again below,
            // without hashing it again.
            Ok(Some(sha)) => match before.filter(|p| p.sha256 == sha && !p.skipped) {
                Some(p) if p.rejected => (PackageState::PreviouslyRejected, sha, p.reason.clone()),
                Some(_) => (PackageState::AlreadyImported, sha, None),
                None => (PackageState::New, sha, None),
            },
        };
        records.push(NewPackageRecord {
            data_source: ds.name.clone(),
            file_name: name.as_str().to_string(),
            size,
            sha256: sha,
            seen_at: Utc::now(),
            state,
            reason,
            mtime_ns,
            endpoint_id: Some(name.endpoint_id().to_string()),
            scan_time: Some(name.scan_time()),
        });
        run.progress(pos, i as u64 + 1, total);
    }

    // Per endpoint, the newest new package wins; none older than what is
    // already imported for that endpoint is read.
    let mut newest: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if r.state != PackageState::New {
            continue;
        }
        let key = (
            r.data_source.clone(),
            r.endpoint_id.clone().unwrap_or_default(),
        );
        match newest.get(&key) {
            Some(&j) if records[j].scan_time >= r.scan_time => {}
            _ => {
                newest.insert(key, i);
            }
        }
    }
    let mut chosen = Vec::new();
    let paths: HashMap<&str, &PathBuf> = run
        .engine
        .config()
        .data_sources
        .iter()
        .map(|d| (d.name.as_str(), &d.path))
        .collect();
    for i in 0..records.len() {
        if records[i].state != PackageState::New {
            continue;
        }
        let endpoint = records[i].endpoint_id.clone().unwrap_or_default();
        let key = (records[i].data_source.clone(), endpoint.clone());
        let winner = newest[&key];
        let imported_scan = scan_times
            .get(&records[i].data_source)
            .and_then(|m| m.get(&endpoint))
            .copied();
        let scan_ms = records[i]
            .scan_time
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let reason = if imported_scan.is_some_and(|t| scan_ms < t) {
            Some(format!(
                "older than the package already imported for endpoint `{endpoint}` (scanned {})",
                openlmt_domain::time::format_utc(openlmt_storage::from_ms(
                    imported_scan.unwrap_or(0)
                ))
            ))
        } else if winner != i {
            Some(format!(
                "a newer package for endpoint `{endpoint}` is in this import: {}",
                records[winner].file_name
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                run.log.info(format!(
                    "Package `{}` skipped: {reason}",
                    records[i].file_name
                ));
                records[i].state = PackageState::SkippedOlder;
                records[i].reason = Some(reason);
            }
            None => {
                c.imported += 1;
                let r = &records[i];
                if let (Some(path), Ok(name)) = (
                    paths.get(r.data_source.as_str()),
                    PackageName::parse(&r.file_name),
                ) {
                    chosen.push(Candidate {
                        data_source: r.data_source.clone(),
                        path: path.join(&r.file_name),
                        name,
                    });
                }
            }
        }
    }
    c.rejected = records
        .iter()
        .filter(|r| r.state == PackageState::Rejected)
        .count() as i64;
    for chunk in records.chunks(BATCH) {
        run.check()?;
        store
            .record_packages(run.id, chunk)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record packages: {e}")))?;
    }
    let count = |s: PackageState| records.iter().filter(|r| r.state == s).count();
    run.log.info(format!(
        "{} packages to read, {} already imported, {} rejected before with the same content, {} older, {} unreadable",
        chosen.len(),
        count(PackageState::AlreadyImported),
        count(PackageState::PreviouslyRejected),
        count(PackageState::SkippedOlder),
        count(PackageState::Rejected),
    ));
    *crate::lock(&run.chosen) = chosen;
    Ok(c)
}

/// A parsed package, and the rows it holds in the [`RowBudget`].
type Parsed = (Candidate, Result<ScanPackage, String>, usize);

/// Bounds the fact rows parsed but not yet taken by the writer, so that the
/// queue's memory stays bounded whatever the packages hold (one package may
/// carry up to `Limits` worth of facts, far more than the usual ~1,500).
/// A parser waits while the budget is spent, except when nothing is queued.
struct RowBudget {
    /// Rows queued, and whether the step has ended.
    state: Mutex<(usize, bool)>,
    freed: std::sync::Condvar,
}

impl RowBudget {
    fn new() -> Self {
        RowBudget {
            state: Mutex::new((0, false)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits until `rows` more fit; `false` once the step has ended.
    fn take(&self, rows: usize) -> bool {
        let rows = rows.min(PARSED_ROWS);
        let mut g = crate::lock(&self.state);
        while !g.1 && g.0 > 0 && g.0 + rows > PARSED_ROWS {
            g = self.freed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.1 {
            return false;
        }
        g.0 += rows;
        true
    }

    fn give(&self, rows: usize) {
        let mut g = crate::lock(&self.state);
        g.0 = g.0.saturating_sub(rows.min(PARSED_ROWS));
        self.freed.notify_all();
    }

    /// Wakes and stops every waiting parser (the step has ended).
    fn close(&self) {
        crate::lock(&self.state).1 = true;
        self.freed.notify_all();
    }
}

/// Closes a [`RowBudget`] when dropped, whichever way the step ends.
struct CloseOnDrop(std::sync::Arc<RowBudget>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Reads the chosen packages (in parallel, with the reader's limits) and
/// writes their facts in batches under this import's id. A package that
/// cannot be read is rejected alone; the import goes on.
async fn read_packages(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.store();
    let chosen = std::mem::take(&mut *crate::lock(&run.chosen));
    let total = chosen.len() as u64;
    let mut c = StepCounters::default();
    if chosen.is_empty() {
        return Ok(c);
    }
    // Computer ids first, in one transaction.
    let keys: Vec<(String, String)> = chosen
        .iter()
        .map(|k| (k.data_source.clone(), k.name.endpoint_id().to_string()))
        .collect();
    let ids = store
        .computer_ids(&keys)
        .await
        .map_err(|e| StepError::Failed(format!("cannot register computers: {e}")))?;

    // Dedicated parser threads at a lower CPU priority, so that on a busy
    // machine the HTTP workers (the status endpoint) win the cores.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Parsed>(PARSED_QUEUE);
    let queue = std::sync::Arc::new(Mutex::new(chosen.into_iter()));
    let budget = std::sync::Arc::new(RowBudget::new());
    let _close_budget = CloseOnDrop(budget.clone());
    for n in 0..PARSE_WORKERS {
        let (queue, tx, cancel) = (queue.clone(), tx.clone(), run.cancel.clone());
        let budget = budget.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("openlmt-parse-{n}"))
            .spawn(move || {
                crate::priority::lower_this_thread();
                let limits = Limits::default();
                loop {
                    let next = crate::lock(&queue).next();
                    let Some(cand) = next else { break };
                    if cancel.is_cancelled() {
                        break;
                    }
                    let parsed = read_package_file(&cand.path, &limits).map_err(|e| e.to_string());
                    let rows = parsed
                        .as_ref()
                        .map_or(1, |p| 1 + p.packages.len() + p.swid_tags.len());
                    // Both fail when the step ended early.
                    if !budget.take(rows) || tx.blocking_send((cand, parsed, rows)).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            return Err(StepError::Failed(format!(
                "cannot start a parser thread: {e}"
            )));
        }
    }
    drop(tx);

    // Checkpoints run beside the writes (see Store::write_packages), until
    // this step ends whichever way.
    let _checkpointer = AbortOnDrop(run.engine.main_runtime().spawn({
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(CHECKPOINT_INTERVAL).await;
                if let Err(e) = store.checkpoint_passive().await {
                    tracing::warn!("checkpoint during an import failed: {e}");
                }
            }
        }
    }));
    let mut batch: Vec<PackageWrite> = Vec::new();
    let mut stats = WriteStats::default();
    let mut batch_rows = 0usize;
    let mut rejected = Vec::new();
    let mut done = 0u64;
    let result = async {
        while let Some((cand, parsed, rows)) = rx.recv().await {
            budget.give(rows);
            run.check()?;
            done += 1;
            c.read += 1;
            let endpoint = cand.name.endpoint_id();
            let outcome = parsed.and_then(|pkg| {
                if pkg.computer.endpoint_id != endpoint {
                    Err(format!(
                        "computer.yml says endpointID `{}` but the file name says `{endpoint}`",
                        pkg.computer.endpoint_id
                    ))
                } else {
                    Ok(pkg)
                }
            });
            match outcome {
                Ok(pkg) => {
                    if (done as usize) <= NOTED_PACKAGES {
                        for note in &pkg.notes {
                            run.log.info(format!("Package `{}`: {note}", cand.name));
                        }
                    }
                    c.warnings += pkg
                        .notes
                        .iter()
                        .filter(|n| n.starts_with("ignored"))
                        .count() as i64;
                    let id = ids[&(cand.data_source.clone(), endpoint.to_string())];
                    let write = to_write(id, &cand.name, pkg);
                    batch_rows += 1 + write.packages.len() + write.swid_tags.len();
                    batch.push(write);
                    c.imported += 1;
                }
                Err(reason) => {
                    c.rejected += 1;
                    run.log
                        .warn(format!("Package `{}` rejected: {reason}", cand.name));
                    rejected.push((
                        cand.data_source.clone(),
                        cand.name.as_str().to_string(),
                        PackageState::Rejected,
                        Some(reason),
                    ));
                }
            }
            if batch_rows >= WRITE_BATCH_ROWS {
                write_batch(run, pos, &mut batch, c, &mut stats).await?;
                batch_rows = 0;
            }
            run.progress(pos, done, total);
        }
        write_batch(run, pos, &mut batch, c, &mut stats).await?;
        Ok::<(), StepError>(())
    }
    .await;
    drop(rx);
    result?;
    if !rejected.is_empty() {
        store
            .set_package_states(run.id, &rejected)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record rejected packages: {e}")))?;
    }
    run.log.info(format!(
        "Read {} packages: {} written, {} rejected",
        c.read, c.imported, c.rejected
    ));
    let t = stats.times;
    let all = (t.computers + t.package_facts + t.swid_facts + t.commit).as_secs_f64();
    let rate = |rows: u64, d: Duration| rows as f64 / d.as_secs_f64().max(1e-9);
    run.log.info(format!(
        "Wrote {} package facts in {:.3} s ({:.0} rows/s; {:.3} s of CPU) and {} SWID facts in {:.3} s \
         ({:.0} rows/s; {:.3} s of CPU); {:.3} s of commits, {all:.3} s of database writes in all",
        stats.package_facts,
        t.package_facts.as_secs_f64(),
        rate(stats.package_facts, t.package_facts),
        t.package_facts_cpu.as_secs_f64(),
        stats.swid_facts,
        t.swid_facts.as_secs_f64(),
        rate(stats.swid_facts, t.swid_facts),
        t.swid_facts_cpu.as_secs_f64(),
        t.commit.as_secs_f64(),
    ));
    Ok(c)
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the writes of one step cost: fact rows and the time spent
/// writing them, so the log can state the write rate apart from parsing.
#[derive(Default)]
struct WriteStats {
    package_facts: u64,
    swid_facts: u64,
    times: openlmt_storage::WriteTimes,
    /// When the step's counters were last saved.
    saved: Option<std::time::Instant>,
}

async fn write_batch(
    run: &Run<'_>,
    pos: usize,
    batch: &mut Vec<PackageWrite>,
    c: StepCounters,
    stats: &mut WriteStats,
) -> Result<(), StepError> {
    if batch.is_empty() {
        return Ok(());
    }
    let store = run.engine.store();
    // The database's worker threads write for the import now: they must
    // not compete with the HTTP workers either.
    crate::priority::lower_database_threads();
    stats.times += store
        .write_packages(run.id, batch)
        .await
        .map_err(|e| StepError::Failed(format!("cannot write facts: {e}")))?;
    stats.package_facts += batch.iter().map(|w| w.packages.len() as u64).sum::<u64>();
    stats.swid_facts += batch.iter().map(|w| w.swid_tags.len() as u64).sum::<u64>();
    batch.clear();
    // The counters in the database are for the history and for crash
    // recovery; the live status comes from memory. Saving them once a
    // second, not after every batch, keeps an fsync'd commit per batch off
    // the writer's path.
    if stats
        .saved
        .is_none_or(|t| t.elapsed() >= STEP_SAVE_INTERVAL)
    {
        let _ = store.save_step(run.id, pos as i64, c, false).await;
        stats.saved = Some(std::time::Instant::now());
    }
    Ok(())
}

/// Maps what the reader found to the rows the store writes.
fn to_write(computer_id: i64, name: &PackageName, pkg: ScanPackage) -> PackageWrite {
    let cap = pkg.capacity;
    let computer = StagedComputer {
        computer_id,
        name: pkg.computer.computer_name,
        dns_name: pkg.computer.dns_name,
        ip_addresses: pkg.computer.ip_addresses,
        os: pkg.computer.operating_system,
        agent_version: pkg.computer.agent_version,
        scan_time_ms: name.scan_time().timestamp_millis(),
        processor_vendor: cap.vendor,
        processor_brand: cap.brand,
        processor_model: cap.model,
        sockets: i64::from(cap.sockets),
        cores: cap.cores.map(i64::from),
        threads: cap.threads.map(i64::from),
        is_virtual: cap.is_virtual,
        hypervisor: cap.hypervisor,
    };
    let packages = pkg
        .packages
        .into_iter()
        .map(|f| PackageFactRow {
            source: f.source.as_str(),
            name: f.name,
            version: f.version,
            architecture: f.architecture,
            vendor: f.vendor,
        })
        .collect();
    let swid_tags = pkg
        .swid_tags
        .into_iter()
        .map(|t| SwidFactRow {
            schema: match t.schema {
                SwidSchema::Iso2015 => "2015",
                SwidSchema::Iso2009 => "2009",
            },
            tag_id: t.tag_id,
            name: t.name,
            version: t.version,
            regid: t.regid,
            vendor: t.vendor,
        })
        .collect();
    PackageWrite {
        computer,
        packages,
        swid_tags,
    }
}

/// Hashes `files` (index, path) on [`HASH_WORKERS`] threads at the import's
/// priority; the result maps every index to its hash or the error reading
/// it, never to `Ok(None)` (a cancelled import returns
/// `StepError::Cancelled`; a thread that died, `StepError::Failed`).
async fn hash_files(
    run: &Run<'_>,
    pos: usize,
    files: Vec<(usize, PathBuf)>,
    total: u64,
) -> Result<HashMap<usize, std::io::Result<Option<String>>>, StepError> {
    let count = files.len();
    if count == 0 {
        return Ok(HashMap::new());
    }
    let queue = std::sync::Arc::new(Mutex::new(files.into_iter()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..HASH_WORKERS.min(count) {
        let (queue, tx, cancel) = (queue.clone(), tx.clone(), run.cancel.clone());
        std::thread::Builder::new()
            .name(format!("openlmt-hash-{n}"))
            .spawn(move || {
                crate::priority::lower_this_thread();
                loop {
                    let next = crate::lock(&queue).next();
                    let Some((i, path)) = next else { break };
                    let hashed = hash_file(&path, &cancel).map(|h| h.map(|(_, sha)| sha));
                    let stop = matches!(hashed, Ok(None));
                    if tx.send((i, hashed)).is_err() || stop {
                        break;
                    }
                }
            })
            .map_err(|e| StepError::Failed(format!("cannot start a hashing thread: {e}")))?;
    }
    drop(tx);
    let mut out = HashMap::with_capacity(count);
    while let Some((i, hashed)) = rx.recv().await {
        if matches!(hashed, Ok(None)) {
            return Err(StepError::Cancelled);
        }
        out.insert(i, hashed);
        run.progress(pos, out.len() as u64, total);
    }
    run.check()?;
    if out.len() < count {
        return Err(StepError::Failed(format!(
            "a hashing thread stopped early: {} of {count} files hashed",
            out.len()
        )));
    }
    Ok(out)
}

/// SHA-256 and size of a file; `Ok(None)` when cancelled midway.
fn hash_file(path: &Path, cancel: &CancellationToken) -> std::io::Result<Option<(u64, String)>> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(Some((size, hex::encode(hasher.finalize()))))
}

async fn test_delay(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let total = run.engine.config().test_delay.unwrap_or_default();
    let tick = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    run.log
        .info(format!("Sleeping {} ms (test delay)", total.as_millis()));
    while waited < total {
        tokio::select! {
            _ = run.cancel.cancelled() => return Err(StepError::Cancelled),
            _ = tokio::time::sleep(tick) => {}
        }
        waited += tick;
        run.progress(
            pos,
            waited.as_millis() as u64,
            total.as_millis().max(1) as u64,
        );
    }
    Ok(StepCounters::default())
}

async fn publish(run: &Run<'_>) -> Result<StepCounters, StepError> {
    run.check()?;
    let opts = PublishOptions {
        complete: run.ty == ImportType::Complete,
        stale_before_ms: run.engine.config().computer_retention.map(|d| {
            (Utc::now() - chrono::Duration::from_std(d).unwrap_or_default()).timestamp_millis()
        }),
    };
    let published = run
        .engine
        .store()
        .publish_import(run.id, opts)
        .await
        .map_err(|e| StepError::Failed(format!("publishing failed: {e}")))?;
    if !published {
        return Err(StepError::Failed(
            "the import was ended elsewhere before it could publish".into(),
        ));
    }
    run.log.info("Published in one transaction");
    Ok(StepCounters::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn row_budget_waits_for_the_writer_and_stops_when_closed() {
        let budget = Arc::new(RowBudget::new());
        // Nothing queued: even an oversized package may go (else it never would).
        assert!(budget.take(PARSED_ROWS * 3));
        budget.give(PARSED_ROWS * 3);
        assert!(budget.take(PARSED_ROWS - 10));
        // 20 more rows do not fit: the parser waits until the writer takes rows.
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.take(20))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a full budget makes the parser wait");
        budget.give(PARSED_ROWS - 10);
        assert!(waiter.join().unwrap());
        // Full again; closing the budget releases a waiting parser with `false`.
        assert!(budget.take(PARSED_ROWS - 20));
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.take(100))
        };
        std::thread::sleep(Duration::from_millis(50));
        budget.close();
        assert!(!waiter.join().unwrap());
        assert!(!budget.take(1), "a closed budget takes nothing");
    }
}
