//! The in-memory import state that the status endpoint reads. It is kept
//! up to date by the engine, so reading it never touches the database.

use chrono::{DateTime, Utc};
use openlmt_domain::{ImportStatus, ImportType, Mode};
use openlmt_storage::ImportRow;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::RwLock;

/// The active import, as far as this process knows.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveImport {
    pub id: i64,
    pub import_type: ImportType,
    pub status: ImportStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub step: Option<String>,
}

impl ActiveImport {
    pub fn from_row(r: &ImportRow) -> ActiveImport {
        ActiveImport {
            id: r.id,
            import_type: r.import_type,
            status: r.status,
            started_at: r.started_at,
            step: None,
        }
    }
}

/// A finished import, summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedImport {
    pub id: i64,
    pub import_type: ImportType,
    pub status: ImportStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: DateTime<Utc>,
    pub progress: u8,
    pub error: Option<String>,
}

impl FinishedImport {
    pub fn from_row(r: &ImportRow) -> Option<FinishedImport> {
        Some(FinishedImport {
            id: r.id,
            import_type: r.import_type,
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at?,
            progress: r.progress,
            error: r.error.clone(),
        })
    }
}

/// Everything `import_status.json` reports, at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusView {
    pub mode: Mode,
    pub progress: u8,
    pub active: Option<ActiveImport>,
    pub last: Option<FinishedImport>,
    pub last_success: Option<FinishedImport>,
    pub next_import_time: Option<DateTime<Utc>>,
    pub next_import_type: Option<ImportType>,
    /// Several servers on one database: this node could not read the
    /// database at its last poll, so what it shows may be out of date.
    pub stale: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub active: Option<ActiveImport>,
    pub last: Option<FinishedImport>,
    pub last_success: Option<FinishedImport>,
    pub any_ever: bool,
    pub next: Option<(DateTime<Utc>, ImportType)>,
}

#[derive(Debug, Default)]
pub(crate) struct SharedState {
    pub inner: RwLock<Inner>,
    /// Progress of the active import (0 while pending).
    pub progress: AtomicU8,
    /// See [`StatusView::stale`].
    pub stale: AtomicBool,
}

impl SharedState {
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn view(&self) -> StatusView {
        let inner = self.read();
        let mode = Mode::derive(inner.active.as_ref().map(|a| a.status), inner.any_ever);
        let progress = match (&inner.active, &inner.last) {
            (Some(a), _) if a.status == ImportStatus::Running => {
                self.progress.load(Ordering::Relaxed)
            }
            (Some(_), _) => 0,
            (None, Some(last)) => last.progress,
            (None, None) => 0,
        };
        StatusView {
            mode,
            progress,
            active: inner.active.clone(),
            last: inner.last.clone(),
            last_success: inner.last_success.clone(),
            next_import_time: inner.next.map(|n| n.0),
            next_import_type: inner.next.map(|n| n.1),
            stale: self.stale.load(Ordering::Relaxed),
        }
    }
}
