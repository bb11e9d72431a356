//! The openlmt domain: the vocabulary of imports, schedules, permissions and
//! scan packages, as plain types that can only hold valid values.
//!
//! Architecture invariant: this crate does no I/O (no files, no network, no
//! clock reads except where a caller passes `now` in) and knows nothing about
//! the ILMT wire format; the HTTP crate maps these types to JSON.

pub mod import;
pub mod package_name;
pub mod permission;
pub mod progress;
pub mod query;
pub mod schedule;
pub mod time;

pub use import::{ImportStatus, ImportType, Mode, Trigger};
pub use package_name::{ArchiveKind, PackageName};
pub use permission::{Permission, PermissionSet};
pub use schedule::{Schedule, ScheduleError, ScheduleSpec};
