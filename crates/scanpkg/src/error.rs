use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a package was rejected. `Display` is a one-line reason a person can act on.
#[derive(Debug, Error)]
pub enum ScanPackageError {
    /// The bytes do not start with the gzip magic number or the gzip header is invalid.
    #[error("not a gzip archive: {0}")]
    NotGzip(String),
    /// The bytes are not a readable zip archive.
    #[error("not a zip archive: {0}")]
    NotZip(String),
    /// The compressed stream or the archive structure is damaged or truncated.
    #[error("corrupt archive: {0}")]
    Corrupt(String),
    /// An absolute path, a `..` component, a drive letter, a backslash or an empty name.
    #[error("member `{0}` has an unsafe path")]
    UnsafePath(String),
    /// Symbolic or hard links are never accepted.
    #[error("member `{path}` is a {kind}; links are not allowed in a scan package")]
    LinkMember { path: String, kind: &'static str },
    /// Devices, FIFOs, sparse files and other non-regular members.
    #[error("member `{path}` is a {kind}; only regular files and directories are allowed")]
    UnsupportedMember { path: String, kind: String },
    /// A zip member uses a compression method other than stored or deflate.
    #[error("member `{path}` uses unsupported zip compression `{method}` (use stored or deflate)")]
    UnsupportedCompression { path: String, method: String },
    /// A member decompressed to more than `Limits::max_member_size`.
    #[error("member `{path}` exceeds the {limit} per-member size limit")]
    MemberTooLarge { path: String, limit: String },
    /// All decompressed bytes together exceed `Limits::max_total_uncompressed`.
    #[error("uncompressed size exceeds {limit} limit")]
    TooLarge { limit: String },
    /// More members than `Limits::max_members`.
    #[error("archive has more than {0} members")]
    TooManyMembers(u32),
    /// A zip's central directory (its index) is declared larger than the reader allows.
    #[error("zip central directory of {size} exceeds the {limit} limit")]
    IndexTooLarge { size: String, limit: String },
    /// tar headers (long names, pax records) between two members exceed a fixed bound.
    #[error("tar metadata before member {after} exceeds the {limit} limit")]
    TarMetadataTooLarge { after: u32, limit: String },
    /// The archive holds no member at all.
    #[error("archive has no members")]
    Empty,
    /// A known member occurs twice (after stripping the optional top-level directory).
    #[error("member `{0}` occurs more than once")]
    DuplicateMember(String),
    /// No `computer.yml` at the archive root (or under its single top-level directory).
    #[error("missing computer.yml")]
    MissingComputer,
    /// None of `cpuinfo`, `lscpu.json`, `dmidecode.txt` is present.
    #[error("missing capacity evidence: need at least one of cpuinfo, lscpu.json, dmidecode.txt")]
    MissingCapacity,
    /// Capacity evidence is present but names no processor.
    #[error("capacity evidence names no processor ({0})")]
    NoProcessor(String),
    /// `computer.yml` is not valid YAML or lacks / misstates a required key.
    #[error("computer.yml: {0}")]
    Computer(String),
    /// `computer.yml` states a facts digest (of this reader's version) that is not the
    /// digest of the package's fact members.
    #[error(
        "computer.yml states the facts digest {stated} but the fact members' digest is \
         {computed}: the package was changed after it was written, or its writer is faulty"
    )]
    FactsDigestMismatch { stated: String, computed: String },
    /// A structured member (e.g. `lscpu.json`) could not be parsed.
    #[error("{member}: {reason}")]
    Member { member: String, reason: String },
    /// The file name does not say which archive kind it is.
    #[error("file name `{0}` does not end in .tar.gz, .tgz or .zip")]
    UnknownSuffix(String),
    /// Reading the underlying file failed.
    #[error("I/O error while reading package: {0}")]
    Io(#[from] io::Error),
}

/// Why the local-host scanner could not produce a package.
#[derive(Debug, Error)]
pub enum ScanError {
    /// Neither /etc/machine-id nor /var/lib/dbus/machine-id is readable and non-empty.
    #[error("no machine id: neither {0} nor {1} is readable and non-empty")]
    NoMachineId(PathBuf, PathBuf),
    /// Neither /proc/cpuinfo nor `lscpu -J` gave capacity evidence.
    #[error("no capacity evidence: {0}")]
    NoCapacity(String),
    /// A file that exists could not be read.
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The collected data did not form a valid computer.yml.
    #[error("cannot build computer.yml: {0}")]
    Computer(String),
}
