//! The steps of an import. Each step reports counters and progress and
//! checks for cancellation between items.

use crate::{Engine, ImportLog};
use chrono::Utc;
use openlmt_domain::progress::{ProgressModel, StepDef};
use openlmt_domain::{ImportType, PackageName};
use openlmt_storage::{NewPackageRecord, PackageState, StepCounters};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
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
const TEST_DELAY: &str = "Test delay (test builds only)";
const PUBLISH: &str = "Publish";

/// How many package records are written per transaction.
const BATCH: usize = 500;

/// The ordered, weighted steps of an import.
pub(crate) fn plan(_ty: ImportType, test_delay: Option<Duration>) -> Vec<StepDef> {
    let mut steps = vec![
        StepDef {
            name: VALIDATE,
            weight: 2,
        },
        StepDef {
            name: FIND,
            weight: 80,
        },
    ];
    if test_delay.is_some() {
        steps.push(StepDef {
            name: TEST_DELAY,
            weight: 15,
        });
    }
    steps.push(StepDef {
        name: PUBLISH,
        weight: 3,
    });
    steps
}

/// One running import, as its steps see it.
pub(crate) struct Run<'a> {
    engine: &'a Engine,
    id: i64,
    log: &'a ImportLog,
    cancel: &'a CancellationToken,
    model: Mutex<ProgressModel>,
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
            log,
            cancel,
            model: Mutex::new(model),
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

/// Lists the package files of every data source, hashes them, and records
/// which are new and which were imported before with the same content.
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
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files are uploads in progress.
            if name.starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match PackageName::parse(&name) {
                Ok(_) => names.push(name),
                Err(e) => {
                    c.warnings += 1;
                    run.log
                        .warn(format!("Data source `{}`: ignored {e}", ds.name));
                }
            }
        }
        names.sort();
        files.extend(names.into_iter().map(|n| (ds, n)));
    }
    let total = files.len() as u64;
    run.log.info(format!("Found {total} scan package files"));
    let mut batch = Vec::with_capacity(BATCH);
    let mut published = std::collections::HashMap::new();
    for (i, (ds, name)) in files.into_iter().enumerate() {
        run.check()?;
        if !published.contains_key(&ds.name) {
            let map = store
                .published_packages(&ds.name)
                .await
                .map_err(|e| StepError::Failed(e.to_string()))?;
            published.insert(ds.name.clone(), map);
        }
        c.read += 1;
        let path = ds.path.join(&name);
        let token = run.cancel.clone();
        let hashed = tokio::task::spawn_blocking(move || hash_file(&path, &token))
            .await
            .map_err(|e| StepError::Failed(format!("hashing task failed: {e}")))?;
        let (state, size, sha, reason) = match hashed {
            Ok(Some((size, sha))) => {
                let before = published.get(&ds.name).and_then(|m| m.get(&name));
                if before.is_some_and(|(_, old)| *old == sha) {
                    (PackageState::AlreadyImported, size, sha, None)
                } else {
                    c.imported += 1;
                    (PackageState::New, size, sha, None)
                }
            }
            Ok(None) => return Err(StepError::Cancelled),
            Err(e) => {
                c.rejected += 1;
                let reason = format!("cannot read the file: {e}");
                run.log.warn(format!("Package `{name}` rejected: {reason}"));
                (PackageState::Rejected, 0, String::new(), Some(reason))
            }
        };
        batch.push(NewPackageRecord {
            data_source: ds.name.clone(),
            file_name: name,
            size: size as i64,
            sha256: sha,
            seen_at: Utc::now(),
            state,
            reason,
        });
        if batch.len() >= BATCH {
            flush(run, pos, &mut batch, c).await?;
        }
        run.progress(pos, i as u64 + 1, total);
    }
    flush(run, pos, &mut batch, c).await?;
    run.log.info(format!(
        "{} new or changed packages, {} already imported, {} unreadable",
        c.imported,
        c.read - c.imported - c.rejected,
        c.rejected
    ));
    Ok(c)
}

async fn flush(
    run: &Run<'_>,
    pos: usize,
    batch: &mut Vec<NewPackageRecord>,
    c: StepCounters,
) -> Result<(), StepError> {
    let store = run.engine.store();
    store
        .record_packages(run.id, batch)
        .await
        .map_err(|e| StepError::Failed(format!("cannot record packages: {e}")))?;
    batch.clear();
    let _ = store.save_step(run.id, pos as i64, c, false).await;
    Ok(())
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
    let published = run
        .engine
        .store()
        .publish_import(run.id)
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
