//! The last step: one transaction makes everything the import wrote
//! visible and marks it successful.
//!
//! A cancel that arrives once the publish transaction has begun does not
//! stop it: the publish completes and the import is successful (the cancel
//! request then answers with that row). A cancel before it begins ends the
//! import as cancelled with nothing visible. Never half of either.

use super::{Run, Step, StepError, StepFuture};
use chrono::Utc;
use openlmt_domain::ImportType;
use openlmt_storage::{PublishOptions, StepCounters};
use std::sync::atomic::Ordering;

pub(crate) struct Publish;

impl Step for Publish {
    fn label(&self) -> &'static str {
        "Publish"
    }
    fn id(&self) -> &'static str {
        "publish"
    }
    fn weight(&self) -> u32 {
        5
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, _pos: usize) -> StepFuture<'r> {
        Box::pin(publish(run))
    }
}

async fn publish(run: &Run<'_>) -> Result<StepCounters, StepError> {
    run.check()?;
    let opts = PublishOptions {
        complete: run.ty == ImportType::Complete,
        stale_before_ms: run.engine.config().computer_retention.map(|d| {
            (Utc::now() - chrono::Duration::from_std(d).unwrap_or_default()).timestamp_millis()
        }),
        discovery: crate::lock(&run.discovery).clone(),
        license_retention_days: run.engine.config().license_history_days,
    };
    // The hook inside the transaction ignores cancels (see above).
    let before_commit = async {
        if let Err(e) = run.hooks().at("publish_commit", None).await {
            tracing::warn!("test hook: {e} (ignored inside the publish transaction)");
        }
    };
    let published = run
        .engine
        .import_store()
        .publish_import_then(run.id, opts, before_commit)
        .await
        .map_err(|e| StepError::Failed(format!("publishing failed: {e}")))?;
    let Some(published) = published else {
        return Err(StepError::Failed(
            "the import was ended elsewhere before it could publish".into(),
        ));
    };
    run.published.store(true, Ordering::SeqCst);
    run.log.info("Published in one transaction");
    if let Some(s) = published.software {
        run.log.info(format!(
            "Software inventory: {} computers re-discovered, {} stored instances changed, {} no longer found{}",
            s.computers,
            s.changed_instances,
            s.ended_instances,
            if s.catalog_changed {
                "; catalog in force updated"
            } else {
                ""
            }
        ));
    }
    if let Some(l) = published.license {
        run.log.info(format!(
            "Licence metrics of {}: {} licensable instances present, {} server values and {} product values computed in {:.2} s",
            l.day.map(|d| d.to_string()).unwrap_or_default(),
            l.instances,
            l.server_values,
            l.product_values,
            l.elapsed_ms as f64 / 1000.0
        ));
    }
    Ok(StepCounters::default())
}
