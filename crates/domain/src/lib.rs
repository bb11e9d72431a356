//! The openlmt domain: the vocabulary of imports, schedules, permissions and
//! scan packages, as plain types that can only hold valid values.
//!
//! Architecture invariant: this crate does no I/O (no files, no network, no
//! clock reads except where a caller passes `now` in) and knows nothing about
//! the ILMT wire format; the HTTP crate maps these types to JSON.

pub mod import;
pub mod metric;
pub mod permission;
pub mod progress;
pub mod query;
pub mod scan_package_name;
pub mod schedule;
pub mod time;

pub use import::{ImportStatus, ImportType, Mode, Trigger};
pub use permission::{Permission, PermissionSet};
pub use scan_package_name::{ArchiveKind, ScanPackageName};
pub use schedule::{Schedule, ScheduleError, ScheduleSpec};
