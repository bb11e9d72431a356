//! The per-import log, like ILMT's import log: one line per event,
//! `2026-11-28T17:03:21.482Z INFO  message`.
//!
//! Where it lives: in the database (table `import_log_lines`), which is what
//! `GET /api/imports/{id}/log` serves, so that every server on one database
//! serves any import's log, whichever server ran it; and, as a local copy
//! for operators who `tail -f` it, in the file `import-<id>.log` of the data
//! directory's log directory of the server that wrote the line.
//!
//! Writing never fails or slows the import: [`ImportLog::write`] appends to
//! the file and hands the line to the engine's one log writer (a task on
//! the server's runtime, fed by a channel, [`write_loop`]), which stores the
//! lines in batches: every [`FLUSH_EVERY`] or [`BATCH`] lines, through the
//! import's store. A batch that cannot be stored is kept and tried again
//! (backing off), reported once through `tracing`, and dropped after
//! [`ATTEMPTS`] failures (the file still has it). At an import's end,
//! [`ImportLog::flush`] waits (at most [`FLUSH_WAIT`]) until every line
//! written so far is stored, before the end shows in the status: a client
//! that saw the import end reads its whole log.

use chrono::{DateTime, SecondsFormat, Utc};
use openlmt_storage::{ImportLogLine, Store};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Lines are stored at the latest this long after the first one waiting.
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// …or as soon as this many are waiting.
pub const BATCH: usize = 100;
/// Failed attempts after which a batch is dropped (reported).
pub const ATTEMPTS: u32 = 6;
/// Lines kept waiting while the database refuses them; past it they are
/// dropped (reported).
const MAX_PENDING: usize = 50_000;
/// How long an import's end waits for its lines to be stored.
pub const FLUSH_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

/// One line of the log as text, with its line break:
/// `<RFC 3339 UTC, milliseconds> <level padded to 5> <message>`.
pub fn format_line(at: DateTime<Utc>, level: &str, message: &str) -> String {
    format!(
        "{} {level:<5} {message}\n",
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// An import's log as `GET /api/imports/{id}/log` serves it, from its
/// stored lines: the same text as the file.
pub fn format_lines(lines: &[ImportLogLine]) -> String {
    lines
        .iter()
        .map(|l| format_line(l.at, &l.level, &l.message))
        .collect()
}

pub(crate) enum Msg {
    Line(ImportLogLine),
    /// Store every line sent before this one now, then answer.
    Flush(oneshot::Sender<()>),
}

/// The way to the engine's log writer. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogSink {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Line(l) => f.debug_tuple("Line").field(l).finish(),
            Msg::Flush(_) => f.write_str("Flush"),
        }
    }
}

impl LogSink {
    /// A sink and the receiver its writer ([`write_loop`]) reads.
    pub(crate) fn channel() -> (LogSink, mpsc::UnboundedReceiver<Msg>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LogSink { tx }, rx)
    }

    fn send(&self, line: ImportLogLine) {
        // The writer ends only with the engine: nothing to report here.
        let _ = self.tx.send(Msg::Line(line));
    }

    /// Waits until every line sent so far is stored (or could not be: see
    /// the module doc), at most [`FLUSH_WAIT`]. False when it gave up.
    pub async fn flush(&self) -> bool {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_err() {
            return false;
        }
        match tokio::time::timeout(FLUSH_WAIT, wait).await {
            Ok(Ok(())) => true,
            _ => {
                tracing::warn!(
                    "the import log's last lines are not stored yet; they are stored when the database accepts them"
                );
                false
            }
        }
    }
}

/// The log of one import: the file, and the database through the sink.
/// Writing never fails the import: a file that cannot be written is
/// reported once through `tracing`, and so are lines that cannot be stored.
#[derive(Debug)]
pub struct ImportLog {
    import_id: i64,
    file: Mutex<Option<File>>,
    path: PathBuf,
    sink: LogSink,
}

pub fn log_path(dir: &Path, import_id: i64) -> PathBuf {
    dir.join(format!("import-{import_id}.log"))
}

fn open_file(path: &Path) -> Option<File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match std::fs::create_dir_all(dir)
        .and_then(|_| OpenOptions::new().create(true).append(true).open(path))
    {
        Ok(f) => Some(f),
        Err(e) => {
            tracing::error!(path = %path.display(), error = %e, "cannot open the import log file (the log is still stored in the database)");
            None
        }
    }
}

/// A line as written: its time, and the message on one line.
fn line(import_id: i64, level: Level, message: &str) -> ImportLogLine {
    ImportLogLine {
        import_id,
        at: Utc::now(),
        level: level.name().to_string(),
        message: message.replace(['\n', '\r'], " "),
    }
}

fn write_file(file: &mut Option<File>, path: &Path, l: &ImportLogLine) {
    if let Some(f) = file.as_mut() {
        if let Err(e) = f.write_all(format_line(l.at, &l.level, &l.message).as_bytes()) {
            tracing::error!(path = %path.display(), error = %e, "cannot write the import log file (the log is still stored in the database)");
            *file = None;
        }
    }
}

impl ImportLog {
    pub fn open(dir: &Path, import_id: i64, sink: &LogSink) -> ImportLog {
        let path = log_path(dir, import_id);
        ImportLog {
            import_id,
            file: Mutex::new(open_file(&path)),
            path,
            sink: sink.clone(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, level: Level, message: &str) {
        let l = line(self.import_id, level, message);
        {
            let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
            write_file(&mut guard, &self.path, &l);
            // Sent under the file's lock: the database has the lines in
            // the file's order.
            self.sink.send(l);
        }
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.write(Level::Info, message.as_ref())
    }
    pub fn warn(&self, message: impl AsRef<str>) {
        self.write(Level::Warn, message.as_ref())
    }
    pub fn error(&self, message: impl AsRef<str>) {
        self.write(Level::Error, message.as_ref())
    }

    /// Waits until every line written so far is stored (see
    /// [`LogSink::flush`]).
    pub async fn flush(&self) -> bool {
        self.sink.flush().await
    }

    /// Appends one line to the log of an import that is not open here
    /// (e.g. a skipped schedule slot noted in the running import's log).
    pub fn append(dir: &Path, sink: &LogSink, import_id: i64, level: Level, message: &str) {
        ImportLog::open(dir, import_id, sink).write(level, message)
    }

    /// Appends one line and stores it at once, without a log writer (at
    /// start-up, before the engine runs). A line that cannot be stored is
    /// reported through `tracing`.
    pub async fn append_now(
        dir: &Path,
        store: &Store,
        import_id: i64,
        level: Level,
        message: &str,
    ) {
        let l = line(import_id, level, message);
        let path = log_path(dir, import_id);
        write_file(&mut open_file(&path), &path, &l);
        if let Err(e) = store.append_import_log(std::slice::from_ref(&l)).await {
            tracing::error!(import_id, error = %e, "cannot store an import log line in the database");
        }
    }
}

/// Where the writer stores a batch: `urgent` (an import's end waits for
/// it) or not.
pub(crate) trait LogStores: Send + 'static {
    fn store(&self, urgent: bool) -> Store;
}

impl<F: Fn(bool) -> Store + Send + 'static> LogStores for F {
    fn store(&self, urgent: bool) -> Store {
        self(urgent)
    }
}

#[derive(Default)]
struct Pending {
    lines: Vec<ImportLogLine>,
    /// Failed attempts at storing `lines` since the last success.
    failures: u32,
    /// Whether the current run of failures was reported.
    reported: bool,
}

impl Pending {
    /// When to try next: [`FLUSH_EVERY`] after the first line waiting, or
    /// later and later after failures.
    fn next_try(&self, now: Instant) -> Option<Instant> {
        if self.lines.is_empty() {
            return None;
        }
        Some(now + FLUSH_EVERY * (1u32 << self.failures.min(5)))
    }

    async fn store(&mut self, store: &Store) {
        if self.lines.is_empty() {
            return;
        }
        match store.append_import_log(&self.lines).await {
            Ok(_) => {
                if self.reported {
                    tracing::info!(
                        lines = self.lines.len(),
                        "import log lines are stored in the database again"
                    );
                }
                self.lines.clear();
                self.failures = 0;
                self.reported = false;
            }
            Err(e) => {
                self.failures += 1;
                if !self.reported {
                    self.reported = true;
                    tracing::error!(
                        lines = self.lines.len(),
                        error = %e,
                        "cannot store import log lines in the database; the import goes on, and they are tried again"
                    );
                }
                if self.failures >= ATTEMPTS || self.lines.len() > MAX_PENDING {
                    tracing::error!(
                        lines = self.lines.len(),
                        attempts = self.failures,
                        error = %e,
                        "import log lines dropped: the database did not take them (the log files still have them)"
                    );
                    self.lines.clear();
                    self.failures = 0;
                }
            }
        }
    }
}

/// The engine's log writer: stores the lines sent through its sink, in
/// order, in batches (see the module doc). Ends when every sink is gone,
/// after storing what is left.
pub(crate) async fn write_loop(mut rx: mpsc::UnboundedReceiver<Msg>, stores: impl LogStores) {
    let mut pending = Pending::default();
    let mut due: Option<Instant> = None;
    loop {
        let msg = match due {
            None => rx.recv().await,
            Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                Ok(msg) => msg,
                Err(_) => {
                    pending.store(&stores.store(false)).await;
                    due = pending.next_try(Instant::now());
                    continue;
                }
            },
        };
        match msg {
            Some(Msg::Line(l)) => {
                pending.lines.push(l);
                if pending.lines.len() >= BATCH && pending.failures == 0 {
                    pending.store(&stores.store(false)).await;
                    due = pending.next_try(Instant::now());
                } else if due.is_none() {
                    due = pending.next_try(Instant::now());
                }
            }
            Some(Msg::Flush(done)) => {
                pending.store(&stores.store(true)).await;
                due = pending.next_try(Instant::now());
                let _ = done.send(());
            }
            None => {
                pending.store(&stores.store(true)).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openlmt_domain::{ImportType, Trigger};
    use openlmt_storage::SqliteStore;
    use std::sync::Arc;

    async fn store_with_import() -> (Store, i64, tempfile::TempDir) {
        let (store, _, id, dir) = sqlite_with_import().await;
        (store, id, dir)
    }

    /// [`store_with_import`] with the SQLite store itself (to close its
    /// pool).
    async fn sqlite_with_import() -> (Store, SqliteStore, i64, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = SqliteStore::open_sqlite(&dir.path().join("t.db"))
            .await
            .unwrap();
        let store = Store::new(Arc::new(sqlite.clone()));
        let id = store
            .register_import(ImportType::Complete, Trigger::Api, None)
            .await
            .unwrap()
            .unwrap()
            .id;
        (store, sqlite, id, dir)
    }

    #[test]
    fn a_line_reads_as_the_file_always_had_it() {
        let at = DateTime::parse_from_rfc3339("2026-11-28T17:03:21.482Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_line(at, "INFO", "Step 1/5: Validate data sources"),
            "2026-11-28T17:03:21.482Z INFO  Step 1/5: Validate data sources\n"
        );
        assert_eq!(
            format_line(at, "ERROR", "x"),
            "2026-11-28T17:03:21.482Z ERROR x\n"
        );
    }

    #[tokio::test]
    async fn the_file_and_the_database_have_the_same_text() {
        let (store, id, dir) = store_with_import().await;
        let (sink, rx) = LogSink::channel();
        let writer = tokio::spawn(write_loop(rx, {
            let store = store.clone();
            move |_urgent: bool| store.clone()
        }));
        let logs = dir.path().join("logs");
        let log = ImportLog::open(&logs, id, &sink);
        for n in 0..(BATCH * 2 + 7) {
            log.info(format!("line {n}"));
        }
        log.warn("two\nlines");
        ImportLog::append(&logs, &sink, id, Level::Error, "from elsewhere");
        assert!(log.flush().await, "every line stored");
        let stored = store.import_log(id).await.unwrap();
        assert_eq!(stored.len(), BATCH * 2 + 9);
        let file = std::fs::read_to_string(log_path(&logs, id)).unwrap();
        assert_eq!(format_lines(&stored), file);
        assert!(file.contains(" WARN  two lines\n"), "{file}");
        assert!(file.ends_with(" ERROR from elsewhere\n"), "{file}");
        drop((log, sink));
        writer.await.unwrap();
    }

    #[tokio::test]
    async fn lines_wait_for_the_interval() {
        let (store, id, _dir) = store_with_import().await;
        let (sink, rx) = LogSink::channel();
        tokio::spawn(write_loop(rx, {
            let store = store.clone();
            move |_urgent: bool| store.clone()
        }));
        let dir = tempfile::tempdir().unwrap();
        let log = ImportLog::open(dir.path(), id, &sink);
        log.info("one");
        tokio::time::sleep(FLUSH_EVERY / 4).await;
        assert!(store.import_log(id).await.unwrap().is_empty(), "batched");
        // Stored without a flush, soon after the interval.
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.import_log(id).await.unwrap().is_empty() {
            assert!(Instant::now() < deadline, "never stored");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_database_that_refuses_lines_never_fails_the_writer() {
        let (store, sqlite, id, dir) = sqlite_with_import().await;
        let (sink, rx) = LogSink::channel();
        let writer = tokio::spawn(write_loop(rx, {
            let store = store.clone();
            move |_urgent: bool| store.clone()
        }));
        let logs = dir.path().join("logs");
        // A line of an import that does not exist is dropped by the store;
        // the writer goes on with the next.
        ImportLog::append(&logs, &sink, id + 1, Level::Info, "nobody's");
        ImportLog::append(&logs, &sink, id, Level::Info, "mine");
        assert!(sink.flush().await);
        assert_eq!(store.import_log(id).await.unwrap().len(), 1);
        // The database refuses every write: the flush still answers, the
        // file still has the lines, and the writer goes on.
        sqlite.pool().close().await;
        let log = ImportLog::open(&logs, id, &sink);
        log.error("not stored");
        assert!(sink.flush().await);
        log.info("still written");
        assert!(sink.flush().await);
        let file = std::fs::read_to_string(log_path(&logs, id)).unwrap();
        assert!(file.contains(" ERROR not stored\n"), "{file}");
        assert!(file.ends_with(" INFO  still written\n"), "{file}");
        drop((log, sink));
        writer.await.unwrap();
    }
}
