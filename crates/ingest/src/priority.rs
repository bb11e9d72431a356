//! CPU priority of import work. An import must not slow the API down: its
//! own threads (the runner, which writes the facts, the parsers, the
//! hashing and the matching threads) run under Linux's `SCHED_IDLE`
//! policy, so that on a busy machine the HTTP workers (`SCHED_OTHER`,
//! nice 0) win the cores at once. Nice values alone did not do that:
//! measured with `bench/status.sh` (2 cores saturated by wrk and the
//! server), the niced import threads still took 0.19 of a core and the
//! status endpoint lost 20 % of its requests/s, because a fair-class thread
//! the scheduler picks keeps the core for its time slice whatever its
//! weight, while any fair-class wakeup preempts a `SCHED_IDLE` thread
//! immediately (and `SCHED_IDLE`'s weight, 3, is below nice 19's 15). The
//! threads keep their nice values too (19, the runner 15), which apply
//! where `SCHED_IDLE` is refused. SQLite's worker threads (shared with the
//! HTTP handlers' queries) stay in the normal policy, lowered to nice 19 by
//! an import's first write batch ([`lower_database_threads`]): a
//! `SCHED_IDLE` query thread could starve an API request under load. Threads the runner starts (a connection it opens) inherit its
//! policy. Linux priorities are per thread; elsewhere these functions do
//! nothing. A failure only means the thread keeps its normal priority.

/// The nice value of import work.
const IMPORT_NICE: i32 = 19;
/// The nice value of the import runner (the writer).
const RUNNER_NICE: i32 = 15;

#[cfg(target_os = "linux")]
fn set_nice(tid: i64, nice: i32) {
    // SAFETY: setpriority takes plain integers and only changes the
    // scheduling priority of the thread `tid` of this process.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
    }
}

#[cfg(target_os = "linux")]
fn set_this_thread(nice: i32) {
    // SAFETY: gettid has no arguments and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    set_nice(tid, nice);
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler reads `param`, which outlives the call, and
    // only changes the policy of the calling thread (pid 0).
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
}

/// Lowers the calling thread's priority to that of import work.
pub(crate) fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    set_this_thread(IMPORT_NICE);
}

/// Lowers the calling thread (the import runner) to the runner's priority.
pub(crate) fn lower_runner_thread() {
    #[cfg(target_os = "linux")]
    set_this_thread(RUNNER_NICE);
}

/// Lowers the priority of SQLite's worker threads (sqlx runs each
/// connection on a thread named `sqlx-sqlite-worker-N`). The status
/// endpoint never waits for them.
pub(crate) fn lower_database_threads() {
    #[cfg(target_os = "linux")]
    {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return;
        };
        for task in tasks.flatten() {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.starts_with("sqlx-sqlite-wor") {
                if let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) {
                    set_nice(tid, IMPORT_NICE);
                }
            }
        }
    }
}
