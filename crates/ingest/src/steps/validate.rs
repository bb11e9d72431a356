//! Step 1: every data source must be a readable directory.

use super::{Run, Step, StepError, StepFuture};
use openlmt_storage::StepCounters;

pub(crate) struct Validate;

impl Step for Validate {
    fn label(&self) -> &'static str {
        "Validate data sources"
    }
    fn id(&self) -> &'static str {
        "validate"
    }
    fn weight(&self) -> u32 {
        1
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, _pos: usize) -> StepFuture<'r> {
        Box::pin(validate_data_sources(run))
    }
}

async fn validate_data_sources(run: &Run<'_>) -> Result<StepCounters, StepError> {
    let mut c = StepCounters::default();
    for ds in &run.engine.config().data_sources {
        c.read += 1;
        if let Err(e) = readable_dir(&ds.path) {
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

/// Whether `path` is a directory this process can list (the read step asks
/// again when a package file it chose cannot be opened).
pub(crate) fn readable_dir(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => std::fs::read_dir(path).map(|_| ()),
        Ok(_) => Err(std::io::Error::other("not a directory")),
        Err(e) => Err(e),
    }
}
