//! The openlmt **scan package**: the file an endpoint (or the local-host scanner in this
//! crate) produces and the server imports.
//!
//! A scan package is a `.tar.gz` / `.tgz` / `.zip` archive named
//! `<YYYYMMDDHHMM>-<endpointID>.<ext>` holding `computer.yml`, capacity evidence (`cpuinfo`,
//! `lscpu.json`, `dmidecode.txt`), optional installed-package evidence (`dpkg-status`,
//! `dpkg-query.tsv`, `rpm-qa.tsv`; see [`InstalledPackage`]) and optional ISO/IEC 19770-2
//! SWID tags under `isotag_scan/`. The full format, and the rules used to derive capacity,
//! are in `docs/scan-package.md` at the repository root.
//!
//! * [`read_scan_package`] reads and validates a scan package with bounded resources.
//! * [`scan_local_host`] collects the evidence of the machine it runs on.
//! * [`EvidenceSet`], [`scan_package_bytes`], [`write_scan_package`] build and write scan
//!   packages.
//!
//! Every parser is also public so the importer and tests can run them on single files.

mod archive;
mod build;
pub mod capacity;
pub mod computer;
mod error;
pub mod packages;
mod scan;
pub mod swid;
mod tag_index;
pub mod tag_search;
#[doc(hidden)]
pub mod test_corpus;
mod text;
pub mod vmman;
pub mod zip_index;

pub use archive::{read_scan_package, read_scan_package_file, read_scan_package_since};
pub use build::{
    build_scan_package_from_dir, parse_scan_package_name, scan_package_bytes,
    scan_package_file_name, write_scan_package, write_scan_package_to, BuiltScanPackage,
    EvidenceSet, ScanPackageTemplate,
};
pub use capacity::{Capacity, HardwareIdentity};
pub use computer::ComputerInfo;
pub use error::{ScanError, ScanPackageError};
pub use packages::{InstalledPackage, PackageManager};
pub use scan::{
    endpoint_id_from_machine_id, scan_local_host, scan_virsh, ScanOptions, MAX_PACKED_TAGS,
    RPM_QUERYFORMAT,
};
pub use swid::{SwidSchema, SwidTag};
pub use tag_index::{TagIndex, TagIndexEntry, TagSearchSummary, SWID_INDEX};
pub use tag_search::{search_tags, TagSearch, SWID_TAG_DIRS};
pub use vmman::{parse_vmman_xml, VmGuest, VmHost, VmManagerScan};

/// The `format_version` this crate writes and the highest one it reads. Version 2 added
/// `isotag_scan/index.json` (each tag's directory, the tag search's outcome); version 3
/// added `product_uuid` and the scanner's `0_vmman.tar.gz` (IBM's layout, read in every
/// version); version 4 added `Facts Digest` to `computer.yml` (the writer's
/// [`FactsDigest`], with the fact members written last: see [`read_scan_package_since`]).
/// Versions 1 to 3 are still read (their tags' directories are unknown in 1).
pub const FORMAT_VERSION: u32 = 4;

/// Resource bounds applied while reading a package. Sizes are counted on the bytes actually
/// decompressed, never taken from archive headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Upper bound on all decompressed bytes (for tar.gz this includes tar headers).
    pub max_total_uncompressed: u64,
    /// Upper bound on the number of archive members, directories included.
    pub max_members: u32,
    /// Upper bound on the decompressed size of any single member.
    pub max_member_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_uncompressed: 256 * 1024 * 1024,
            max_members: 10_000,
            max_member_size: 64 * 1024 * 1024,
        }
    }
}

/// The container format of a package, known from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchiveKind {
    /// gzip-compressed tar (`.tar.gz`, `.tgz`); multi-member gzip streams are accepted.
    TarGz,
    /// zip with stored or deflated members (`.zip`).
    Zip,
}

impl ArchiveKind {
    /// `.tar.gz`/`.tgz` → [`ArchiveKind::TarGz`], `.zip` → [`ArchiveKind::Zip`]
    /// (ASCII case-insensitive); anything else → `None`.
    pub fn from_file_name(name: &str) -> Option<ArchiveKind> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(ArchiveKind::TarGz)
        } else if lower.ends_with(".zip") {
            Some(ArchiveKind::Zip)
        } else {
            None
        }
    }

    /// The suffix this crate writes for the kind.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::Zip => "zip",
        }
    }
}

/// Everything read from one package.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanPackage {
    /// Parsed `computer.yml`.
    pub computer: ComputerInfo,
    /// Capacity derived from the capacity evidence (see [`capacity::derive_capacity`]).
    pub capacity: Capacity,
    /// Installed software packages (dpkg and/or rpm).
    pub installed_packages: Vec<InstalledPackage>,
    /// Parsed SWID tags from `isotag_scan/`, in member order, each with its directory
    /// when `isotag_scan/index.json` names it.
    pub swid_tags: Vec<SwidTag>,
    /// The VM-manager / virtualization-host scans of the package's `<n>_vmman.tar.gz`
    /// members, in member order. A scan file that cannot be read is left out alone, with
    /// a note `ignored vmman scan <member>: <reason>`.
    pub vm_manager: Vec<VmManagerScan>,
    /// How the endpoint's tag search went, from `isotag_scan/index.json` (format 2);
    /// `None` when the package does not say.
    pub tag_search: Option<TagSearchSummary>,
    /// Human-readable remarks: ignored members, skipped lines or tags, which evidence
    /// decided what. Never needed to interpret the other fields.
    pub notes: Vec<String>,
    /// The digest of the members the facts (installed packages, SWID tags) come from.
    pub facts_digest: FactsDigest,
    /// Read by [`read_scan_package_since`] with this package's own
    /// [`ScanPackage::facts_digest`]: its fact members were not parsed, and
    /// `installed_packages` and `swid_tags` are empty; the computer's facts are those
    /// already published. Always `false` from [`read_scan_package`].
    pub facts_unchanged: bool,
}

/// BLAKE3 over the bytes a package's facts are parsed from, so that two packages with
/// equal digests have equal facts (installed packages and SWID tags, with the tags'
/// directories) whatever else differs (scan time, capacity, `computer.yml`, member
/// order of other members, the tag search's summary): the three installed-package
/// members (each present or not, and its bytes), every `isotag_scan/*.swidtag` member
/// in member order (name and bytes), the tags' directories of `isotag_scan/index.json` as
/// the reader applies them, and a version that changes with the parsers. A collision
/// would keep a computer's old facts, so the hash is a cryptographic one (256 bits, no
/// practical collision even for a crafted package); BLAKE3 (the `blake3` crate of the
/// algorithm's authors) rather than SHA-256 because every fact byte of every package is
/// hashed on the import's critical path, and BLAKE3 measured faster (docs/scan-package.md,
/// the `hash_members` example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FactsDigest(pub [u8; 32]);

impl FactsDigest {
    /// Lower-case hexadecimal, as stored.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// From [`FactsDigest::to_hex`]'s form; `None` for anything else.
    pub fn from_hex(s: &str) -> Option<FactsDigest> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(FactsDigest(out))
    }

    /// How `computer.yml` states it (format 4, `Facts Digest`): the version of the
    /// digest's algorithm, a colon, [`FactsDigest::to_hex`] (`1:9f86…`). The version tells
    /// a reader whether it computes digests the same way (see [`FactsDigest::from_stated`]).
    pub fn to_stated(&self) -> String {
        format!("{}:{}", archive::FACTS_DIGEST_VERSION_NUMBER, self.to_hex())
    }

    /// The digest a `Facts Digest` value states, when its version is this reader's;
    /// `None` for another version (whose digests this reader cannot compare with its own)
    /// or a value not in [`FactsDigest::to_stated`]'s form.
    pub fn from_stated(s: &str) -> Option<FactsDigest> {
        let (version, hex) = s.split_once(':')?;
        if version.parse::<u32>().ok()? != archive::FACTS_DIGEST_VERSION_NUMBER
            || hex.bytes().any(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        FactsDigest::from_hex(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_kinds() {
        let l = Limits::default();
        assert_eq!(l.max_total_uncompressed, 256 * 1024 * 1024);
        assert_eq!(l.max_members, 10_000);
        assert_eq!(l.max_member_size, 64 * 1024 * 1024);
        assert_eq!(
            ArchiveKind::from_file_name("202405011230-a.tar.gz"),
            Some(ArchiveKind::TarGz)
        );
        assert_eq!(
            ArchiveKind::from_file_name("a.tgz"),
            Some(ArchiveKind::TarGz)
        );
        assert_eq!(ArchiveKind::from_file_name("a.ZIP"), Some(ArchiveKind::Zip));
        assert_eq!(ArchiveKind::from_file_name("a.tar"), None);
        assert_eq!(ArchiveKind::Zip.extension(), "zip");
    }
}
