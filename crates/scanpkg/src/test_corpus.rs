//! Where the workspace's tests find the real corpus (`shared/corpus`, see its README),
//! so that each crate's test harness does not keep its own copy of the path.
//!
//! Only tests use this module; it reads files and panics with the path when one is
//! missing, which is what a test wants and nothing else should.

use std::fs;
use std::path::{Path, PathBuf};

/// `/work/main/crates/scanpkg` → `/work/shared/corpus`; in CI `<checkout>/../shared/corpus`.
/// Every crate lies at the same depth (`crates/<name>`), so the path is the same for all.
pub const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpus");

/// The path of a corpus file, `rel` being relative to the corpus root.
pub fn corpus(rel: &str) -> PathBuf {
    Path::new(CORPUS).join(rel)
}

/// The bytes of a corpus file; panics naming the file when it cannot be read.
pub fn read(rel: &str) -> Vec<u8> {
    let p = corpus(rel);
    fs::read(&p).unwrap_or_else(|e| panic!("cannot read corpus file {}: {e}", p.display()))
}

/// A corpus file as text (invalid UTF-8 replaced).
pub fn read_text(rel: &str) -> String {
    String::from_utf8_lossy(&read(rel)).into_owned()
}
