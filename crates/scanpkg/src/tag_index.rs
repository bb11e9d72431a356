//! `isotag_scan/index.json` (format 2): where on the scanned computer each packed SWID
//! tag was found, and how the scanner's tag search went. See `docs/scan-package.md`.

use serde::{Deserialize, Serialize};

/// The index member's name inside a package.
pub const SWID_INDEX: &str = "isotag_scan/index.json";

/// Longest directory the reader keeps, in bytes (Linux's `PATH_MAX`).
pub(crate) const MAX_DIRECTORY_LEN: usize = 4096;

/// The content of `isotag_scan/index.json`. Unknown fields are ignored; both fields may
/// be absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagIndex {
    /// How the scanner's search for tags went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<TagSearchSummary>,
    /// One entry per packed tag.
    #[serde(default)]
    pub tags: Vec<TagIndexEntry>,
}

/// One packed tag and the directory it was found in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagIndexEntry {
    /// The tag's member name in the package (`isotag_scan/1/x.swidtag`).
    pub member: String,
    /// The directory on the scanned computer (`/opt/mqm/swidtag`).
    pub directory: String,
}

/// How a tag search went: what it searched and whether it finished.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagSearchSummary {
    /// `false` when a budget ran out before every root was searched.
    pub complete: bool,
    /// Why the search stopped early (`None` when complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_short: Option<String>,
    /// The directories searched, in order.
    #[serde(default)]
    pub roots: Vec<String>,
    /// The directories excluded by configuration.
    #[serde(default)]
    pub excluded: Vec<String>,
    /// Directory entries (files, directories, links) looked at.
    #[serde(default)]
    pub entries_examined: u64,
    /// Wall-clock time the search took, in milliseconds.
    #[serde(default)]
    pub milliseconds: u64,
}

/// Why a directory from an index cannot be kept, if it cannot.
pub(crate) fn directory_problem(d: &str) -> Option<&'static str> {
    if d.is_empty() {
        Some("empty directory")
    } else if d.len() > MAX_DIRECTORY_LEN {
        Some("directory longer than 4096 bytes")
    } else if d.chars().any(char::is_control) {
        Some("directory with control characters")
    } else {
        None
    }
}
