//! Test seams: pause an import at a named point (until the test releases
//! it), sleep there, make it fail or panic there.
//!
//! They exist only in builds with the cargo feature `test-hooks` (the test
//! script enables it; a release build does not): without it [`TestHooks`]
//! is an empty type whose calls do nothing and compile to nothing, and
//! `openlmt serve` refuses to start when `OPENLMT_TEST_HOOKS` is set, so a
//! test run against a binary built without the feature fails loudly
//! instead of passing without its hooks.
//!
//! The specification (`OPENLMT_TEST_HOOKS`) is a `;`-separated list of
//! `action=point`, where action is one of
//! - `pause`: write `<dir>/reached-<point>` and wait until
//!   `<dir>/release-<point>` exists (the hook then deletes both, so the
//!   next import pauses again), or until the import is cancelled;
//! - `sleep`, as `sleep=<point>:<ms>`: wait that long (or until cancelled);
//! - `fail`: the code at that point fails with "injected failure at <point>";
//! - `panic`: the code at that point panics.
//!
//! An optional `*N` suffix (`panic=writer*1`) fires the action only the
//! first N times. The points are listed in [`POINTS`].

/// Every point the engine calls, in the order an import reaches them.
pub const POINTS: &[&str] = &[
    "before_validate",
    "after_validate",
    "before_find",
    "after_find",
    "before_read",
    // Before each write transaction of the read step.
    "writer",
    // `after_<step>` points run just before the step's record is saved
    // (a failure there is a failure to save it).
    "after_read",
    "before_discover",
    // After each chunk of computers the discovery step stages.
    "discover_chunk",
    "after_discover",
    "before_license_metrics",
    "after_license_metrics",
    "before_publish",
    // Inside the publish transaction, after its last statement, before
    // its commit (a pause here does not end on cancel).
    "publish_commit",
    "after_publish",
];

/// Whether this build has the test hooks.
pub const ENABLED: bool = cfg!(feature = "test-hooks");

/// The environment variable `openlmt serve` reads them from.
pub const ENV: &str = "OPENLMT_TEST_HOOKS";

#[cfg(not(feature = "test-hooks"))]
mod imp {
    use tokio_util::sync::CancellationToken;

    /// No hooks: this build lacks the `test-hooks` feature.
    #[derive(Debug, Clone, Default)]
    pub struct TestHooks {
        _none: (),
    }

    impl TestHooks {
        #[inline(always)]
        pub(crate) async fn at(
            &self,
            _point: &'static str,
            _cancel: Option<&CancellationToken>,
        ) -> Result<(), String> {
            Ok(())
        }
    }
}

#[cfg(feature = "test-hooks")]
mod imp {
    use super::POINTS;
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio_util::sync::CancellationToken;

    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Kind {
        Pause,
        Sleep(Duration),
        Fail,
        Panic,
    }

    #[derive(Debug)]
    struct Action {
        kind: Kind,
        /// Times it may still fire (`u32::MAX`: always).
        left: AtomicU32,
    }

    #[derive(Debug, Default)]
    struct Spec {
        dir: PathBuf,
        at: HashMap<&'static str, Vec<Action>>,
    }

    /// The hooks of this process (none by default).
    #[derive(Debug, Clone, Default)]
    pub struct TestHooks(Option<Arc<Spec>>);

    impl TestHooks {
        /// Parses a specification (see the module's documentation); pause
        /// files live in `dir`, which is created.
        pub fn parse(spec: &str, dir: &Path) -> Result<TestHooks, String> {
            let mut at: HashMap<&'static str, Vec<Action>> = HashMap::new();
            for item in spec.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let (action, target) = item
                    .split_once('=')
                    .ok_or_else(|| format!("test hook `{item}`: expected action=point"))?;
                let (target, times) = match target.split_once('*') {
                    Some((t, n)) => (
                        t,
                        n.parse::<u32>()
                            .map_err(|_| format!("test hook `{item}`: bad count `{n}`"))?,
                    ),
                    None => (target, u32::MAX),
                };
                let (point, arg) = match target.split_once(':') {
                    Some((p, a)) => (p, Some(a)),
                    None => (target, None),
                };
                let point = POINTS
                    .iter()
                    .copied()
                    .find(|p| *p == point)
                    .ok_or_else(|| {
                        format!("test hook `{item}`: unknown point `{point}` (one of {POINTS:?})")
                    })?;
                let kind = match (action, arg) {
                    ("pause", None) => Kind::Pause,
                    ("fail", None) => Kind::Fail,
                    ("panic", None) => Kind::Panic,
                    ("sleep", Some(ms)) => {
                        Kind::Sleep(Duration::from_millis(ms.parse().map_err(|_| {
                            format!("test hook `{item}`: bad milliseconds `{ms}`")
                        })?))
                    }
                    _ => {
                        return Err(format!(
                            "test hook `{item}`: expected pause|fail|panic=point or sleep=point:ms"
                        ))
                    }
                };
                at.entry(point).or_default().push(Action {
                    kind,
                    left: AtomicU32::new(times),
                });
            }
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            Ok(TestHooks(Some(Arc::new(Spec {
                dir: dir.to_path_buf(),
                at,
            }))))
        }

        /// Runs the actions of `point`: waits (pause, sleep) until released
        /// or `cancel` fires, then fails or panics if told to.
        pub(crate) async fn at(
            &self,
            point: &'static str,
            cancel: Option<&CancellationToken>,
        ) -> Result<(), String> {
            let Some(spec) = &self.0 else { return Ok(()) };
            let Some(actions) = spec.at.get(point) else {
                return Ok(());
            };
            let never = CancellationToken::new();
            let cancel = cancel.unwrap_or(&never);
            for a in actions {
                let fire = a
                    .left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| match n {
                        0 => None,
                        u32::MAX => Some(u32::MAX),
                        n => Some(n - 1),
                    })
                    .is_ok();
                if !fire {
                    continue;
                }
                match &a.kind {
                    Kind::Sleep(d) => {
                        tracing::warn!(point, ms = d.as_millis() as u64, "test hook: sleeping");
                        tokio::select! {
                            _ = cancel.cancelled() => {}
                            _ = tokio::time::sleep(*d) => {}
                        }
                    }
                    Kind::Pause => {
                        let reached = spec.dir.join(format!("reached-{point}"));
                        let release = spec.dir.join(format!("release-{point}"));
                        tracing::warn!(point, "test hook: paused");
                        let _ = std::fs::write(&reached, b"");
                        loop {
                            if release.exists() {
                                let _ = std::fs::remove_file(&release);
                                break;
                            }
                            tokio::select! {
                                _ = cancel.cancelled() => break,
                                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                            }
                        }
                        let _ = std::fs::remove_file(&reached);
                    }
                    Kind::Fail => return Err(format!("injected failure at {point} (test hook)")),
                    Kind::Panic => panic!("injected panic at {point} (test hook)"),
                }
            }
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn parses_actions_points_counts_and_rejects_the_rest() {
            let dir = tempfile::tempdir().unwrap();
            let h = TestHooks::parse(
                "pause=before_publish; fail=after_publish;panic=writer*1;sleep=before_read:250",
                dir.path(),
            )
            .unwrap();
            let spec = h.0.unwrap();
            assert_eq!(spec.at["before_publish"][0].kind, Kind::Pause);
            assert_eq!(spec.at["after_publish"][0].kind, Kind::Fail);
            assert_eq!(spec.at["writer"][0].kind, Kind::Panic);
            assert_eq!(spec.at["writer"][0].left.load(Ordering::SeqCst), 1);
            assert_eq!(
                spec.at["before_read"][0].kind,
                Kind::Sleep(Duration::from_millis(250))
            );
            for bad in [
                "pause",
                "pause=nowhere",
                "jump=writer",
                "sleep=writer",
                "sleep=writer:soon",
                "fail=writer*x",
            ] {
                assert!(TestHooks::parse(bad, dir.path()).is_err(), "{bad}");
            }
        }

        #[tokio::test]
        async fn pause_waits_for_its_release_file_and_counts_are_kept() {
            let dir = tempfile::tempdir().unwrap();
            let h =
                TestHooks::parse("pause=before_publish;fail=before_find*1", dir.path()).unwrap();
            let waiting = tokio::spawn({
                let h = h.clone();
                async move { h.at("before_publish", None).await }
            });
            let reached = dir.path().join("reached-before_publish");
            while !reached.exists() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(!waiting.is_finished());
            std::fs::write(dir.path().join("release-before_publish"), b"").unwrap();
            assert_eq!(waiting.await.unwrap(), Ok(()));
            assert!(!reached.exists());
            // A cancel ends a pause too.
            let cancel = CancellationToken::new();
            cancel.cancel();
            assert_eq!(h.at("before_publish", Some(&cancel)).await, Ok(()));
            // `*1`: only the first time.
            assert!(h.at("before_find", None).await.is_err());
            assert_eq!(h.at("before_find", None).await, Ok(()));
            assert_eq!(h.at("writer", None).await, Ok(()));
        }
    }
}

pub use imp::TestHooks;
