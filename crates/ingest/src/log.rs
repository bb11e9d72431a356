//! The per-import text log, kept on disk like ILMT's import log:
//! one line per event, `2026-11-28T17:03:21.482Z INFO  message`.

use chrono::{SecondsFormat, Utc};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn label(self) -> &'static str {
        match self {
            Level::Info => "INFO ",
            Level::Warn => "WARN ",
            Level::Error => "ERROR",
        }
    }
}

/// An append-only log file for one import. Writing never fails the import:
/// a log that cannot be written is reported once through `tracing`.
#[derive(Debug)]
pub struct ImportLog {
    file: Mutex<Option<File>>,
    path: PathBuf,
}

pub fn log_path(dir: &Path, import_id: i64) -> PathBuf {
    dir.join(format!("import-{import_id}.log"))
}

impl ImportLog {
    pub fn open(dir: &Path, import_id: i64) -> ImportLog {
        let path = log_path(dir, import_id);
        let file = std::fs::create_dir_all(dir)
            .and_then(|_| OpenOptions::new().create(true).append(true).open(&path));
        let file = match file {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open the import log");
                None
            }
        };
        ImportLog {
            file: Mutex::new(file),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn write(&self, level: Level, message: &str) {
        let line = format!(
            "{} {} {}\n",
            Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            level.label(),
            message.replace('\n', " ")
        );
        let mut guard = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = guard.as_mut() {
            if let Err(e) = f.write_all(line.as_bytes()) {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the import log");
                *guard = None;
            }
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

    /// Appends one line to the log of an import that is not open here
    /// (e.g. a skipped schedule slot noted in the running import's log).
    pub fn append(dir: &Path, import_id: i64, level: Level, message: &str) {
        ImportLog::open(dir, import_id).write(level, message)
    }
}
