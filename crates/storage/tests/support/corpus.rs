//! Real installed packages for the storage tests, read by openlmt-scanpkg's own
//! `dpkg-status` parser (a dev-dependency). Shared by the unit tests in
//! `src/inventory.rs` and the integration tests, which include this file by path.

use openlmt_scanpkg::packages::parse_dpkg_status;
use openlmt_scanpkg::test_corpus::read_text;
// The includer has `InstalledPackageRow` in scope (`crate::` or `openlmt_storage::`).
use super::InstalledPackageRow;

/// The installed packages of the corpus host's `dpkg-status` (name, version,
/// architecture, maintainer as vendor), as the importer turns them into rows.
pub fn corpus_installed_packages() -> Vec<InstalledPackageRow> {
    parse_dpkg_status(&read_text("hosts/debian12-vm/dpkg-status"))
        .into_iter()
        .map(|p| InstalledPackageRow {
            source: p.source.as_str(),
            name: p.name,
            version: p.version,
            architecture: p.architecture,
            vendor: p.vendor,
        })
        .collect()
}
