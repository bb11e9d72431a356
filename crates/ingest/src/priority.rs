//! CPU priority of import work. An import must not slow the API down: its
//! threads run niced, so that on a busy machine the HTTP workers (nice 0)
//! win the cores. The parsers, the hashing and SQLite's worker threads
//! while they write for it run at nice 19 (the lowest). The runner, which
//! writes the facts and is the one thread the whole step waits on, runs at
//! nice 15: against the parsers it gets about 70 % of a shared core (CFS
//! weights 36 : 15) instead of half, against the HTTP workers still under
//! 4 % (36 : 1024). Linux nice values are per thread; elsewhere these
//! functions do nothing. A failure only means the thread keeps its normal
//! priority.

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
