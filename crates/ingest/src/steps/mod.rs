//! The steps of an import. Each step is a type implementing [`Step`], in a
//! module of its own; [`plan`] lists them in order. Each step reports
//! counters and progress and checks for cancellation between items.
//!
//! A new step (software discovery, licence metrics, ...) is a new module
//! with a new `Step` type added to `plan`: nothing dispatches on labels.
//! The rules a step applies that need no I/O live in plain functions of
//! its module, unit-tested there.

mod discover;
pub use discover::{effective_catalog, Effective};
mod find;
mod license_metrics;
mod publish;
mod read;
mod validate;

use crate::{Engine, ImportLog, TestHooks};
use openlmt_domain::progress::{ProgressModel, StepDef};
use openlmt_domain::{ImportType, ScanPackageName};
use openlmt_storage::StepCounters;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepError {
    Cancelled,
    Failed(String),
}

/// What running a step yields.
pub(crate) type StepFuture<'r> =
    Pin<Box<dyn Future<Output = Result<StepCounters, StepError>> + 'r>>;

/// One step of an import.
pub(crate) trait Step {
    /// The label the API and the log show (part of the API: do not change).
    fn label(&self) -> &'static str;
    /// A short name, for the test hooks (`before_<id>`, `after_<id>`).
    fn id(&self) -> &'static str;
    /// Its share of the progress bar.
    fn weight(&self) -> u32;
    /// Runs it; `pos` is its position in the plan (for progress).
    fn run<'r>(&'r self, run: &'r Run<'r>, pos: usize) -> StepFuture<'r>;
}

/// The ordered steps of an import.
/// A raw-data-only import does not run the software discovery and leaves
/// the software inventory as it was (ILMT's rule).
pub(crate) fn plan(ty: ImportType) -> Vec<Box<dyn Step>> {
    let mut steps: Vec<Box<dyn Step>> = vec![
        Box::new(validate::Validate),
        Box::new(find::Find),
        Box::new(read::Read),
    ];
    if ty == ImportType::Complete {
        steps.push(Box::new(discover::Discover));
        steps.push(Box::new(license_metrics::LicenseMetrics));
    }
    steps.push(Box::new(publish::Publish));
    steps
}

/// A package this import will read.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    data_source: String,
    path: PathBuf,
    name: ScanPackageName,
    /// An older package of an endpoint whose newer package this import
    /// reads: only its VM-manager observations are written (they are
    /// history the newer package does not repeat); it stays skipped.
    vm_only: bool,
}

/// One running import, as its steps see it.
/// How often the write-ahead log is checkpointed while a step writes in bulk.
const CHECKPOINT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);

/// A task aborted when this is dropped.
pub(crate) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) struct Run<'a> {
    engine: &'a Engine,
    id: i64,
    ty: ImportType,
    log: &'a ImportLog,
    cancel: &'a CancellationToken,
    steps: Vec<Box<dyn Step>>,
    model: Mutex<ProgressModel>,
    /// The packages the find step chose for the read step.
    chosen: Mutex<Vec<Candidate>>,
    /// What the discovery step found, for the publish to apply (`None`:
    /// discovery did not run or was skipped).
    discovery: Mutex<Option<std::sync::Arc<openlmt_storage::InventoryCatalog>>>,
    /// Set once the publish has committed: from then on the import is
    /// successful, whatever happens next.
    published: AtomicBool,
}

impl<'a> Run<'a> {
    pub fn new(
        engine: &'a Engine,
        id: i64,
        ty: ImportType,
        log: &'a ImportLog,
        cancel: &'a CancellationToken,
    ) -> Self {
        let steps = plan(ty);
        let model = ProgressModel::new(
            steps
                .iter()
                .map(|s| StepDef {
                    name: s.label(),
                    weight: s.weight(),
                })
                .collect(),
        );
        Run {
            engine,
            id,
            ty,
            log,
            cancel,
            steps,
            model: Mutex::new(model),
            chosen: Mutex::new(Vec::new()),
            discovery: Mutex::new(None),
            published: AtomicBool::new(false),
        }
    }

    /// Whether the publish has committed.
    pub fn published(&self) -> bool {
        self.published.load(Ordering::SeqCst)
    }

    fn hooks(&self) -> &TestHooks {
        &self.engine.config().test_hooks
    }

    /// Runs the test hooks of `point` (nothing in a build without them);
    /// an injected failure fails the step.
    async fn hook(&self, point: &'static str) -> Result<(), StepError> {
        self.hooks()
            .at(point, Some(self.cancel))
            .await
            .map_err(StepError::Failed)?;
        self.check()
    }

    /// Checkpoints the write-ahead log every [`CHECKPOINT_INTERVAL`] beside
    /// a step's bulk writes (which commit without checkpointing: see
    /// `Store::write_scan_packages`), until the value returned is dropped.
    fn checkpointer(&self) -> AbortOnDrop {
        let store = self.engine.import_store().clone();
        AbortOnDrop(self.engine.main_runtime().spawn(async move {
            loop {
                tokio::time::sleep(CHECKPOINT_INTERVAL).await;
                if let Err(e) = store.checkpoint_passive().await {
                    tracing::warn!("checkpoint during an import failed: {e}");
                }
            }
        }))
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

    async fn begin(&self, pos: usize, step: &dyn Step) -> Result<(), StepError> {
        self.check()?;
        self.hook(before_point(step.id())).await?;
        let name = step.label();
        self.engine
            .import_store()
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
            .info(format!("Step {}/{}: {name}", pos + 1, self.steps.len()));
        Ok(())
    }

    async fn end(&self, pos: usize, step: &dyn Step, c: StepCounters) -> Result<(), StepError> {
        let store = self.engine.import_store();
        let name = step.label();
        let saved = match self.hooks().at(after_point(step.id()), None).await {
            Ok(()) => store
                .save_step(self.id, pos as i64, c, true)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        saved.map_err(|e| StepError::Failed(format!("cannot record the step `{name}`: {e}")))?;
        self.progress(pos + 1, 0, 1);
        let p = crate::lock(&self.model).current();
        let _ = store.set_progress(self.id, p).await;
        Ok(())
    }
}

fn before_point(id: &str) -> &'static str {
    crate::hooks::POINTS
        .iter()
        .find(|p| p.strip_prefix("before_") == Some(id))
        .copied()
        .unwrap_or("")
}

fn after_point(id: &str) -> &'static str {
    crate::hooks::POINTS
        .iter()
        .find(|p| p.strip_prefix("after_") == Some(id))
        .copied()
        .unwrap_or("")
}

/// Runs every step in order. After the publish step has committed
/// ([`Run::published`]) the import is successful: the caller turns any
/// later error into a warning.
pub(crate) async fn run_all(run: &Run<'_>) -> Result<(), StepError> {
    for (pos, step) in run.steps.iter().enumerate() {
        let step = step.as_ref();
        run.begin(pos, step).await?;
        let counters = step.run(run, pos).await?;
        run.end(pos, step, counters).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_keeps_its_labels_weights_and_hook_points() {
        let steps = plan(ImportType::Complete);
        let shown: Vec<(&str, u32)> = steps.iter().map(|s| (s.label(), s.weight())).collect();
        assert_eq!(
            shown,
            [
                ("Validate data sources", 1),
                ("Find scan packages", 9),
                ("Read and write scan packages", 80),
                ("Software discovery", 10),
                ("Licence metrics", 3),
                ("Publish", 5),
            ]
        );
        let raw: Vec<&str> = plan(ImportType::RawOnly)
            .iter()
            .map(|s| s.label())
            .collect();
        assert_eq!(
            raw,
            [
                "Validate data sources",
                "Find scan packages",
                "Read and write scan packages",
                "Publish"
            ],
            "a raw-data-only import neither discovers software nor computes licence metrics"
        );
        for s in &steps {
            assert!(!before_point(s.id()).is_empty(), "before_{}", s.id());
            assert!(!after_point(s.id()).is_empty(), "after_{}", s.id());
        }
    }
}
