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
//! where `SCHED_IDLE` is refused. Threads the runner starts inherit its
//! policy: on SQLite the import works through a pool of its own whose
//! connections the runner's thread opens (`Engine::import_store`), so that
//! sqlx's per-connection worker threads doing the import's SQLite work run
//! under `SCHED_IDLE` too, while the API's queries keep their own pool's
//! threads at the normal priority. (Before, the two shared one pool, and
//! its threads could only be lowered to nice 19 during an import, which
//! also slowed the API's queries and still took CPU from the HTTP workers.) Linux priorities are per thread; elsewhere these functions do
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
