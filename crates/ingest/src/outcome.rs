//! How an import ends: the runner turns what its steps returned into one
//! [`Outcome`], and [`crate::runner`] applies it in one place (the
//! database row, the in-memory status, the log, the metrics,
//! `last_success`, the clean-up).

use crate::steps::StepError;
use openlmt_domain::ImportStatus;

/// The end of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The publish committed. `warnings`: what went wrong after it (it
    /// stays successful: everything it wrote is visible).
    Successful {
        warnings: Vec<String>,
    },
    Failed(String),
    Cancelled(String),
}

/// What a run of the steps returned: their result, or the message of the
/// panic that stopped them.
pub(crate) type RunResult = Result<Result<(), StepError>, String>;

impl Outcome {
    /// Decides how an import ended. `published`: whether its publish
    /// committed; `cancel_reason`: why it was cancelled, if it was.
    pub fn decide(published: bool, result: RunResult, cancel_reason: Option<String>) -> Outcome {
        let cancel_reason = || cancel_reason.unwrap_or_else(|| "cancelled".to_string());
        if published {
            let warnings = match result {
                Ok(Ok(())) => Vec::new(),
                Ok(Err(StepError::Failed(e))) => vec![format!("after the publish: {e}")],
                Ok(Err(StepError::Cancelled)) => {
                    vec![format!("after the publish: {}", cancel_reason())]
                }
                Err(panic) => vec![format!("after the publish: internal error: {panic}")],
            };
            return Outcome::Successful { warnings };
        }
        match result {
            Ok(Ok(())) => Outcome::Failed("the import ended without publishing".into()),
            Ok(Err(StepError::Cancelled)) => Outcome::Cancelled(cancel_reason()),
            Ok(Err(StepError::Failed(e))) => Outcome::Failed(e),
            Err(panic) => Outcome::Failed(format!("internal error: {panic}")),
        }
    }

    pub fn status(&self) -> ImportStatus {
        match self {
            Outcome::Successful { .. } => ImportStatus::Successful,
            Outcome::Failed(_) => ImportStatus::Failed,
            Outcome::Cancelled(_) => ImportStatus::Cancelled,
        }
    }

    /// The error recorded on the row (none for a successful import).
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Successful { .. } => None,
            Outcome::Failed(e) | Outcome::Cancelled(e) => Some(e),
        }
    }
}

/// The message of a caught panic.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn after_the_publish_an_import_is_successful_whatever_follows() {
        let failed = Ok(Err(StepError::Failed("cannot record the step".into())));
        assert_eq!(
            Outcome::decide(true, failed, None),
            Outcome::Successful {
                warnings: vec!["after the publish: cannot record the step".into()]
            }
        );
        let panicked = Err("panicked: boom".into());
        let o = Outcome::decide(true, panicked, None);
        assert_eq!(o.status(), ImportStatus::Successful);
        assert_eq!(o.error(), None);
        let cancelled = Ok(Err(StepError::Cancelled));
        assert_eq!(
            Outcome::decide(true, cancelled, Some("cancelled by admin".into())).status(),
            ImportStatus::Successful
        );
        assert_eq!(
            Outcome::decide(true, Ok(Ok(())), None),
            Outcome::Successful { warnings: vec![] }
        );
    }

    #[test]
    fn before_the_publish_errors_end_it() {
        assert_eq!(
            Outcome::decide(
                false,
                Ok(Err(StepError::Cancelled)),
                Some("cancelled by x".into())
            ),
            Outcome::Cancelled("cancelled by x".into())
        );
        assert_eq!(
            Outcome::decide(false, Ok(Err(StepError::Cancelled)), None),
            Outcome::Cancelled("cancelled".into())
        );
        assert_eq!(
            Outcome::decide(false, Ok(Err(StepError::Failed("disk".into()))), None),
            Outcome::Failed("disk".into())
        );
        let o = Outcome::decide(false, Err("panicked: at the writer".into()), None);
        assert_eq!(
            o,
            Outcome::Failed("internal error: panicked: at the writer".into())
        );
        assert_eq!(o.error(), Some("internal error: panicked: at the writer"));
        assert_eq!(
            Outcome::decide(false, Ok(Ok(())), None).status(),
            ImportStatus::Failed,
            "no success without a publish"
        );
    }

    #[test]
    fn panic_messages() {
        let p = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "panicked: plain");
        let p = std::panic::catch_unwind(|| panic!("formatted {}", 1)).unwrap_err();
        assert_eq!(panic_message(p.as_ref()), "panicked: formatted 1");
    }
}
