//! Building and writing packages.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::archive::{facts_digest_of, is_fact_member, SWID_DIR};
use crate::computer::{validate_endpoint_id, ComputerInfo, FACTS_DIGEST_FORMAT};
use crate::{ArchiveKind, FactsDigest, FORMAT_VERSION};

/// Evidence file names a package may carry at its root, in the order they are written.
pub(crate) const EVIDENCE_FILES: [&str; 6] = [
    "cpuinfo",
    "lscpu.json",
    "dmidecode.txt",
    "dpkg-status",
    "dpkg-query.tsv",
    "rpm-qa.tsv",
];
const CAPACITY_FILES: [&str; 3] = ["cpuinfo", "lscpu.json", "dmidecode.txt"];

type Member = (String, Arc<[u8]>);

/// A package ready to be written: its `computer.yml` data plus raw evidence members.
#[derive(Debug, Clone)]
pub struct BuiltScanPackage {
    computer: ComputerInfo,
    members: Vec<Member>,
    /// Remarks from building (e.g. "dmidecode not run: …"); not written into the archive.
    pub notes: Vec<String>,
    /// How the scanner's ISO tag search went (also written into
    /// `isotag_scan/index.json`); `None` for packages not made by a tag search.
    pub tag_search: Option<crate::TagSearchSummary>,
}

impl BuiltScanPackage {
    /// A package with no evidence yet. A missing `scan_time` is set to now (whole seconds).
    pub fn new(mut computer: ComputerInfo) -> Self {
        if computer.scan_time.is_none() {
            computer.scan_time = Some(now_seconds());
        }
        BuiltScanPackage {
            computer,
            members: Vec::new(),
            notes: Vec::new(),
            tag_search: None,
        }
    }

    /// The `computer.yml` data.
    pub fn computer(&self) -> &ComputerInfo {
        &self.computer
    }

    /// Add an evidence member (`cpuinfo`, `isotag_scan/x.swidtag`, …) with its raw bytes.
    pub fn add_member(&mut self, name: impl Into<String>, data: impl Into<Arc<[u8]>>) {
        self.members.push((name.into(), data.into()));
    }

    /// The evidence members in the order they were added (without `computer.yml`). The
    /// writer keeps that order, but from format 4 on it writes the fact members
    /// (installed-package members, SWID tags) after all others.
    pub fn members(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.members.iter().map(|(n, d)| (n.as_str(), &d[..]))
    }

    /// `<YYYYMMDDHHMM>-<endpointID>.tar.gz`.
    pub fn file_name(&self) -> String {
        scan_package_file_name(
            self.computer.scan_time.unwrap_or_else(now_seconds),
            &self.computer.endpoint_id,
            ArchiveKind::TarGz,
        )
    }
}

pub(crate) fn now_seconds() -> DateTime<Utc> {
    let now = Utc::now();
    now.with_nanosecond(0).unwrap_or(now)
}

/// `<YYYYMMDDHHMM>-<endpointID>.<tar.gz|zip>`.
pub fn scan_package_file_name(
    scan_time: DateTime<Utc>,
    endpoint_id: &str,
    kind: ArchiveKind,
) -> String {
    format!(
        "{}-{}.{}",
        scan_time.format("%Y%m%d%H%M"),
        endpoint_id,
        kind.extension()
    )
}

/// Split a package file name into scan time (minute precision), endpoint id and kind.
pub fn parse_scan_package_name(name: &str) -> Option<(DateTime<Utc>, String, ArchiveKind)> {
    let kind = ArchiveKind::from_file_name(name)?;
    let lower = name.to_ascii_lowercase();
    let stem_len = [".tar.gz", ".tgz", ".zip"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map(|s| name.len() - s.len())?;
    let stem = name.get(..stem_len)?;
    let (stamp, id) = stem.split_once('-')?;
    if stamp.len() != 12 || !stamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = NaiveDateTime::parse_from_str(&format!("{stamp}00"), "%Y%m%d%H%M%S").ok()?;
    validate_endpoint_id(id).ok()?;
    Some((t.and_utc(), id.to_string(), kind))
}

fn computer_yaml(c: &ComputerInfo) -> io::Result<Vec<u8>> {
    c.to_yaml()
        .map(String::into_bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("computer.yml: {e}")))
}

fn mtime(c: &ComputerInfo) -> u64 {
    c.scan_time
        .map(|t| t.timestamp())
        .and_then(|t| u64::try_from(t).ok())
        .unwrap_or(0)
}

fn append<W: Write>(
    b: &mut tar::Builder<W>,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, name, data)
}

/// The members in the order a package of `format_version` has them: from format 4 on,
/// every other member first and the fact members (installed-package members, SWID tags)
/// last, each group in its given order, so that a reader that needs no fact can stop at
/// the first one; before format 4, as given.
fn written_order(members: &[Member], format_version: u32) -> Vec<&Member> {
    if format_version < FACTS_DIGEST_FORMAT {
        return members.iter().collect();
    }
    let (facts, others): (Vec<&Member>, Vec<&Member>) =
        members.iter().partition(|(n, _)| is_fact_member(n));
    others.into_iter().chain(facts).collect()
}

/// The digest of `members` (in written order) as a reader of `format_version` computes it.
fn digest_of(members: &[&Member], format_version: u32) -> FactsDigest {
    facts_digest_of(
        members.iter().map(|(n, d)| (n.as_str(), &d[..])),
        format_version,
    )
}

/// `computer` as written: from format 4 on, stating `digest` (whatever it held); before,
/// stating none.
fn stating(computer: &ComputerInfo, digest: impl FnOnce() -> FactsDigest) -> ComputerInfo {
    let mut c = computer.clone();
    c.facts_digest = (c.format_version >= FACTS_DIGEST_FORMAT).then(|| digest().to_stated());
    c
}

/// Write `pkg` as a gzip-compressed tar to `w`: `computer.yml` first, then the members;
/// from format 4 on, `computer.yml` states the facts digest and the fact members come
/// last (see `docs/scan-package.md`).
pub fn write_scan_package_to<W: Write>(pkg: &BuiltScanPackage, w: W) -> io::Result<W> {
    let fv = pkg.computer.format_version;
    let members = written_order(&pkg.members, fv);
    let computer = stating(&pkg.computer, || digest_of(&members, fv));
    let yml = computer_yaml(&computer)?;
    let t = mtime(&computer);
    let mut b = tar::Builder::new(GzEncoder::new(w, Compression::default()));
    append(&mut b, "computer.yml", &yml, t)?;
    for (name, data) in members {
        append(&mut b, name, data, t)?;
    }
    b.into_inner()?.finish()
}

/// The `.tar.gz` bytes of `pkg` (for uploading).
pub fn scan_package_bytes(pkg: &BuiltScanPackage) -> io::Result<Vec<u8>> {
    write_scan_package_to(pkg, Vec::new())
}

/// Write `pkg` into `dir` atomically: a `.tmp-…` file in the same directory is written,
/// fsynced and renamed to [`BuiltScanPackage::file_name`]. Returns the final path.
pub fn write_scan_package(pkg: &BuiltScanPackage, dir: &Path) -> io::Result<PathBuf> {
    let bytes = scan_package_bytes(pkg)?;
    write_atomically(dir, &pkg.file_name(), &bytes)
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".tmp-{}-{}-{name}", std::process::id(), n));
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        let dest = dir.join(name);
        fs::rename(&tmp, &dest)?;
        // Make the rename durable; not every filesystem supports syncing a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(dest)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The raw evidence files of one host, loaded once and shared (cheaply, by `Arc`) by every
/// package built from them. This is how a captured host is replicated under many endpoint
/// ids for benchmarks.
#[derive(Debug, Clone, Default)]
pub struct EvidenceSet {
    members: Vec<Member>,
    /// `PRETTY_NAME` from an `os-release` file in the directory, if any.
    pub os_pretty_name: Option<String>,
}

impl EvidenceSet {
    /// Load `cpuinfo`, `lscpu.json`, `dmidecode.txt`, `dpkg-status`, `dpkg-query.tsv`,
    /// `rpm-qa.tsv` and `isotag_scan/*.swidtag` (sorted by name) from `dir`. Other files are
    /// not packed; `os-release` is read for [`EvidenceSet::os_pretty_name`]. Fails when no
    /// capacity file is present.
    pub fn from_dir(dir: &Path) -> io::Result<Self> {
        let mut set = EvidenceSet::default();
        for name in EVIDENCE_FILES {
            let p = dir.join(name);
            if p.is_file() {
                set.members.push((name.to_string(), fs::read(&p)?.into()));
            }
        }
        if !set.has_capacity() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{}: no capacity evidence (cpuinfo, lscpu.json or dmidecode.txt)",
                    dir.display()
                ),
            ));
        }
        let swid_dir = dir.join(SWID_DIR);
        if swid_dir.is_dir() {
            let mut names: Vec<(String, PathBuf)> = Vec::new();
            for e in fs::read_dir(&swid_dir)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".swidtag") && e.file_type()?.is_file() {
                    names.push((name, e.path()));
                }
            }
            names.sort();
            for (name, path) in names {
                set.members
                    .push((format!("{SWID_DIR}/{name}"), fs::read(&path)?.into()));
            }
        }
        if let Ok(text) = fs::read_to_string(dir.join("os-release")) {
            set.os_pretty_name = os_release_pretty_name(&text);
        }
        Ok(set)
    }

    /// Add one member.
    pub fn push(&mut self, name: impl Into<String>, data: impl Into<Arc<[u8]>>) {
        self.members.push((name.into(), data.into()));
    }

    /// The bytes of member `name` (e.g. `dpkg-status`, `isotag_scan/x.swidtag`), if present.
    pub fn member(&self, name: &str) -> Option<&[u8]> {
        self.members
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| &d[..])
    }

    /// The members' names, in the order they are written.
    pub fn member_names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(n, _)| n.as_str())
    }

    /// Replaces the bytes of member `name`, in its place (added last when absent).
    pub fn set_member(&mut self, name: &str, data: impl Into<Arc<[u8]>>) {
        match self.members.iter_mut().find(|(n, _)| n == name) {
            Some((_, d)) => *d = data.into(),
            None => self.members.push((name.to_string(), data.into())),
        }
    }

    /// Removes member `name`; whether it was present.
    pub fn remove_member(&mut self, name: &str) -> bool {
        let before = self.members.len();
        self.members.retain(|(n, _)| n != name);
        self.members.len() != before
    }

    /// Whether any capacity file is present.
    pub fn has_capacity(&self) -> bool {
        self.members
            .iter()
            .any(|(n, _)| CAPACITY_FILES.contains(&n.as_str()))
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there is no member.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// A package with these members under `computer` (members are shared, not copied).
    pub fn package(&self, computer: ComputerInfo) -> BuiltScanPackage {
        let mut p = BuiltScanPackage::new(computer);
        p.members = self.members.clone();
        p
    }
}

/// Pack the evidence files of `dir` (see [`EvidenceSet::from_dir`]) under `computer`.
pub fn build_scan_package_from_dir(
    dir: &Path,
    computer: ComputerInfo,
) -> io::Result<BuiltScanPackage> {
    Ok(EvidenceSet::from_dir(dir)?.package(computer))
}

/// Pre-compressed evidence for writing many packages fast: the members are tarred and
/// gzipped once; each package is then a small gzip member holding the tar entry for its
/// `computer.yml`, followed by the shared compressed body. The result is a valid
/// multi-member gzip stream of one tar archive (as `gzip -d`, GNU tar and
/// [`crate::read_scan_package`] accept). The members are in the writer's order and
/// `computer.yml` states their facts digest, as [`write_scan_package_to`] writes them.
#[derive(Debug, Clone)]
pub struct ScanPackageTemplate {
    body_gz: Arc<[u8]>,
    /// The members' facts digest, stated by every package of format 4 or later.
    facts_digest: FactsDigest,
}

impl ScanPackageTemplate {
    /// Compress `evidence` once, in the order [`write_scan_package_to`] writes it.
    pub fn new(evidence: &EvidenceSet) -> io::Result<Self> {
        let members = written_order(&evidence.members, FORMAT_VERSION);
        let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::default()));
        for (name, data) in &members {
            append(&mut b, name, data, 0)?;
        }
        let body = b.into_inner()?.finish()?;
        Ok(ScanPackageTemplate {
            body_gz: body.into(),
            facts_digest: digest_of(&members, FORMAT_VERSION),
        })
    }

    /// The `.tar.gz` bytes of the package for `computer` (scan time set to now if missing).
    pub fn scan_package_bytes(&self, computer: &ComputerInfo) -> io::Result<Vec<u8>> {
        self.scan_package_bytes_with(computer, &[])
    }

    /// The same with `extra` members of this package only (e.g. its `product_uuid` or a
    /// `0_vmman.tar.gz`), packed after `computer.yml` before the shared members. A fact
    /// member (installed packages, SWID tags) cannot be an extra one: it belongs in the
    /// [`EvidenceSet`] (an error says so).
    pub fn scan_package_bytes_with(
        &self,
        computer: &ComputerInfo,
        extra: &[(&str, &[u8])],
    ) -> io::Result<Vec<u8>> {
        if let Some((name, _)) = extra.iter().find(|(n, _)| is_fact_member(n)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` makes facts: it belongs in the template's evidence"),
            ));
        }
        // Every package of the template has its facts, whatever its computer.
        let mut c = stating(computer, || self.facts_digest);
        if c.scan_time.is_none() {
            c.scan_time = Some(now_seconds());
        }
        let yml = computer_yaml(&c)?;
        let mut head = Vec::with_capacity(1024 + yml.len());
        for (name, data) in
            std::iter::once(("computer.yml", yml.as_slice())).chain(extra.iter().copied())
        {
            let mut h = tar::Header::new_gnu();
            h.set_path(name)?;
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(mtime(&c));
            h.set_entry_type(tar::EntryType::Regular);
            h.set_cksum();
            head.extend_from_slice(h.as_bytes());
            head.extend_from_slice(data);
            let pad = (512 - data.len() % 512) % 512;
            head.resize(head.len() + pad, 0);
        }
        let mut enc = GzEncoder::new(
            Vec::with_capacity(512 + self.body_gz.len()),
            Compression::fast(),
        );
        enc.write_all(&head)?;
        let mut out = enc.finish()?;
        out.extend_from_slice(&self.body_gz);
        Ok(out)
    }

    /// Write the package for `computer` into `dir` atomically; returns its path.
    pub fn write_scan_package(&self, computer: &ComputerInfo, dir: &Path) -> io::Result<PathBuf> {
        let bytes = self.scan_package_bytes(computer)?;
        let t = computer.scan_time.unwrap_or_else(now_seconds);
        let name = scan_package_file_name(t, &computer.endpoint_id, ArchiveKind::TarGz);
        write_atomically(dir, &name, &bytes)
    }
}

/// `PRETTY_NAME` from os-release text (quotes removed), else `NAME`.
pub(crate) fn os_release_pretty_name(text: &str) -> Option<String> {
    let mut name = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        match k.trim() {
            "PRETTY_NAME" if !v.is_empty() => return Some(v),
            "NAME" if !v.is_empty() => name = Some(v),
            _ => {}
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let t = crate::computer::parse_scan_time("2024-05-01T12:30:59Z").unwrap();
        let n = scan_package_file_name(t, "abc", ArchiveKind::TarGz);
        assert_eq!(n, "202405011230-abc.tar.gz");
        let (t2, id, k) = parse_scan_package_name(&n).unwrap();
        assert_eq!(t2.format("%Y%m%d%H%M").to_string(), "202405011230");
        assert_eq!(id, "abc");
        assert_eq!(k, ArchiveKind::TarGz);
        assert!(parse_scan_package_name("202405011230-a-b.TGZ").is_some());
        assert!(parse_scan_package_name("2024050112-abc.tar.gz").is_none());
        assert!(parse_scan_package_name("202405011230-.zip").is_none());
        assert!(parse_scan_package_name("202413011230-abc.zip").is_none());
    }
}
