//! CPU priority of import work. An import must not slow the API down: its
//! threads (the runner, the parsers, the hashing, and SQLite's worker
//! threads while they write for it) run at nice 19 (the lowest), so that on a busy
//! machine the HTTP workers win the cores. Linux nice values are per
//! thread; elsewhere these functions do nothing. A failure only means the
//! thread keeps its normal priority.

/// The nice value of import work.
const IMPORT_NICE: i32 = 19;

#[cfg(target_os = "linux")]
fn set_nice(tid: i64) {
    // SAFETY: setpriority takes plain integers and only changes the
    // scheduling priority of the thread `tid` of this process.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, IMPORT_NICE);
    }
}

/// Lowers the calling thread's priority.
pub(crate) fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::syscall(libc::SYS_gettid) };
        set_nice(tid);
    }
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
                    set_nice(tid);
                }
            }
        }
    }
}
