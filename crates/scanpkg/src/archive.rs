//! The bounded package reader: tar.gz and zip, streamed member by member.

use std::cell::Cell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::capacity::{self, CpuEvidence, DmiEvidence, Evidence};
use crate::computer::ComputerInfo;
use crate::error::ScanPackageError;
use crate::packages::{self, InstalledPackage};
use crate::swid::{self, SwidTag};
use crate::tag_index::{directory_problem, TagIndex, SWID_INDEX};
use crate::text::{human_size, lossy, printable};
use crate::vmman::{self, VmManagerScan};
use crate::{ArchiveKind, FactsDigest, Limits, ScanPackage, TagSearchSummary};

/// The largest buffer allocated ahead of a member's data on its header's word
/// (see `read_bounded`); larger members grow their buffer as they are read.
const MAX_PRESIZE: u64 = 8 * 1024 * 1024;

/// Directory that holds SWID tags inside a package.
pub(crate) const SWID_DIR: &str = "isotag_scan";

/// Read and validate a package from `reader` (read from its start), within `limits`.
///
/// Members are processed one at a time and dropped after parsing, so memory stays bounded
/// by `limits.max_member_size` plus the parsed facts. See the crate docs and
/// `docs/scan-package.md` for what is rejected.
pub fn read_scan_package<R: Read + Seek>(
    kind: ArchiveKind,
    reader: R,
    limits: &Limits,
) -> Result<ScanPackage, ScanPackageError> {
    read_scan_package_since(kind, reader, limits, None)
}

/// [`read_scan_package`], for a computer whose facts (installed packages and SWID tags) as
/// published were read from members of digest `published` (their
/// [`ScanPackage::facts_digest`]).
///
/// * A package that states its digest (format 4, `Facts Digest` in `computer.yml`, which
///   comes before its fact members) and states `published`: the reading stops at its
///   first fact member, which its writer put after every other member. Nothing after it
///   is inflated, hashed or checked. The package comes back with
///   [`ScanPackage::facts_unchanged`] set and no installed packages or SWID tags (the
///   published ones stand).
/// * A package that states another digest: read and parsed whole, once, as by
///   [`read_scan_package`] (which checks the stated digest).
/// * A package that states none (formats 1 to 3, or a digest of another version): the
///   fact members are hashed as they are read but not parsed; when their digest is
///   `published` again, the package comes back as above; otherwise it is read again from
///   its start and parsed whole, as by [`read_scan_package`].
///
/// Either way the result is what [`read_scan_package`] would give, but for the facts left
/// out and the notes their parsers would have made; and, for a package whose stated
/// digest is `published`, for any defect after its first fact member (a wrong stated
/// digest, a corrupt or truncated end, a limit passed there) that a whole reading rejects.
pub fn read_scan_package_since<R: Read + Seek>(
    kind: ArchiveKind,
    mut reader: R,
    limits: &Limits,
    published: Option<&FactsDigest>,
) -> Result<ScanPackage, ScanPackageError> {
    let mut c = Collector::new(limits, published.copied());
    match kind {
        ArchiveKind::TarGz => read_tar_gz(&mut reader, &mut c)?,
        ArchiveKind::Zip => read_zip(&mut reader, &mut c)?,
    }
    // (A package stating another digest than `published` had its facts parsed.)
    let parsed = c.published.is_none();
    let pkg = c.finish()?;
    if parsed || pkg.facts_unchanged {
        return Ok(pkg);
    }
    // The facts changed: read again, parsing them (both readers seek to the start).
    let mut c = Collector::new(limits, None);
    match kind {
        ArchiveKind::TarGz => read_tar_gz(&mut reader, &mut c)?,
        ArchiveKind::Zip => read_zip(&mut reader, &mut c)?,
    }
    c.finish()
}

/// Open `path`, pick the [`ArchiveKind`] from its file name and call [`read_scan_package`].
pub fn read_scan_package_file(
    path: &Path,
    limits: &Limits,
) -> Result<ScanPackage, ScanPackageError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = ArchiveKind::from_file_name(&name).ok_or(ScanPackageError::UnknownSuffix(name))?;
    let file = File::open(path)?;
    read_scan_package(kind, file, limits)
}

/// The version of the facts digest (see [`FactsDigest`]): part of every digest, so that
/// a reader whose fact parsers or their output changed never takes facts parsed by an
/// older one for its own. **Change it whenever a change to the parsers of `dpkg-status`,
/// `dpkg-query.tsv`, `rpm-qa.tsv`, SWID tags or `isotag_scan/index.json`, or to what the
/// importer stores of their output, can change the facts of some package** (and
/// [`FACTS_DIGEST_VERSION_NUMBER`] with it).
const FACTS_DIGEST_VERSION: &[u8] = b"openlmt facts digest 1\n";

/// The number of [`FACTS_DIGEST_VERSION`], as a package states it (`Facts Digest:
/// 1:…`): a digest stated with another number was computed by other parsers, and is
/// neither compared with this reader's digests nor checked against them.
pub(crate) const FACTS_DIGEST_VERSION_NUMBER: u32 = 1;

/// Whether member `name` (after prefix stripping) is one the facts come from: the
/// installed-package members and the SWID tags. In a package that states its facts
/// digest they come after every other member.
pub(crate) fn is_fact_member(name: &str) -> bool {
    PACKAGE_MEMBERS.contains(&name) || is_swid_name(name)
}

/// `isotag_scan/index.json` as the reader takes it (its bytes decoded as every member's).
fn parse_index(text: &str) -> Result<TagIndex, String> {
    serde_json::from_str::<TagIndex>(text).map_err(|e| format!("invalid JSON: {e}"))
}

/// The [`FactsDigest`] the reader computes for a package of `format_version` whose
/// members (root names, `computer.yml` left out) come in this order, provided the order
/// breaks no rule of the format (the writers' order does not). The writers state it.
pub(crate) fn facts_digest_of<'m>(
    members: impl IntoIterator<Item = (&'m str, &'m [u8])>,
    format_version: u32,
) -> FactsDigest {
    let mut h = FactsHasher::default();
    let mut index = None;
    for (name, bytes) in members {
        h.member(name, bytes);
        if name == SWID_INDEX {
            index = Some(parse_index(&crate::text::lossy_owned(bytes.to_vec())));
        }
    }
    h.finish(index.as_ref().filter(|_| format_version >= 2))
}

/// The members whose bytes decide the installed packages, in the digest's order.
const PACKAGE_MEMBERS: [&str; 3] = ["dpkg-status", "dpkg-query.tsv", "rpm-qa.tsv"];

/// Hashes the members that decide a package's facts (see [`FactsDigest`]).
#[derive(Clone, Default)]
struct FactsHasher {
    /// The digest of each of [`PACKAGE_MEMBERS`], when present.
    packages: [Option<[u8; 32]>; 3],
    /// Every SWID tag member, in member order: its name and bytes, each length-prefixed.
    swid: blake3::Hasher,
}

fn length_prefixed(h: &mut blake3::Hasher, bytes: &[u8]) {
    h.update(&(bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

impl FactsHasher {
    /// Takes a member's bytes into the digest if they decide facts.
    fn member(&mut self, name: &str, bytes: &[u8]) {
        if let Some(i) = PACKAGE_MEMBERS.iter().position(|m| *m == name) {
            self.packages[i] = Some(*blake3::hash(bytes).as_bytes());
        } else if is_swid_name(name) {
            length_prefixed(&mut self.swid, name.as_bytes());
            length_prefixed(&mut self.swid, bytes);
        }
    }

    /// The digest, given the tag index as the reader will apply it (`None` when absent or
    /// ignored, `Some(Err)` when invalid).
    fn finish(self, index: Option<&Result<TagIndex, String>>) -> FactsDigest {
        let mut h = blake3::Hasher::new();
        h.update(FACTS_DIGEST_VERSION);
        for d in &self.packages {
            match d {
                None => h.update(&[0]),
                Some(d) => h.update(&[1]).update(d),
            };
        }
        h.update(self.swid.finalize().as_bytes());
        // Only the tags' directories of the index make facts; its search summary (times,
        // entries examined) changes with every scan and makes none.
        match index {
            None => h.update(&[0]),
            Some(Err(_)) => h.update(&[1]),
            Some(Ok(index)) => {
                h.update(&[2]);
                h.update(&(index.tags.len() as u64).to_le_bytes());
                for e in &index.tags {
                    length_prefixed(&mut h, e.member.as_bytes());
                    length_prefixed(&mut h, e.directory.as_bytes());
                }
                &mut h
            }
        };
        FactsDigest(*h.finalize().as_bytes())
    }
}

// ---------------------------------------------------------------------------------------
// tar.gz

/// Decompressed bytes the tar reader may consume between two members (headers, GNU long
/// names, pax records, skipped padding). The `tar` crate reads long names and pax records
/// into memory whole, so without this bound one long-name record could take up to the
/// total limit (256 MiB) from a gzip stream of a few hundred KiB.
pub(crate) const MAX_TAR_METADATA: u64 = 1024 * 1024;

/// Counts decompressed bytes and fails the read once the total limit is passed, or once
/// more than [`MAX_TAR_METADATA`] bytes are read outside a member's data.
struct Counting<R> {
    inner: R,
    count: u64,
    limit: u64,
    exceeded: Rc<Cell<bool>>,
    /// Bytes read since the last member was handed over; `None` while a member is read.
    metadata: Rc<Cell<Option<u64>>>,
    metadata_exceeded: Rc<Cell<bool>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count = self.count.saturating_add(n as u64);
        if self.count > self.limit {
            self.exceeded.set(true);
            return Err(io::Error::other("uncompressed size limit exceeded"));
        }
        if let Some(m) = self.metadata.get() {
            let m = m.saturating_add(n as u64);
            self.metadata.set(Some(m));
            if m > MAX_TAR_METADATA {
                self.metadata_exceeded.set(true);
                return Err(io::Error::other("tar metadata limit exceeded"));
            }
        }
        Ok(n)
    }
}

fn stream_error(e: io::Error, exceeded: &Cell<bool>, limits: &Limits) -> ScanPackageError {
    if exceeded.get() {
        ScanPackageError::TooLarge {
            limit: human_size(limits.max_total_uncompressed),
        }
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        ScanPackageError::Corrupt(printable(&format!("truncated gzip/tar stream ({e})")))
    } else {
        ScanPackageError::Corrupt(printable(&format!("gzip/tar stream: {e}")))
    }
}

fn read_tar_gz<R: Read + Seek>(
    mut reader: R,
    c: &mut Collector<'_>,
) -> Result<(), ScanPackageError> {
    reader.seek(SeekFrom::Start(0))?;
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut reader, &mut magic)?;
    if got == 0 {
        return Err(ScanPackageError::NotGzip("file is empty".into()));
    }
    if got < 2 || magic != [0x1f, 0x8b] {
        return Err(ScanPackageError::NotGzip(
            "file does not start with the gzip magic bytes 1f 8b".into(),
        ));
    }
    reader.seek(SeekFrom::Start(0))?;

    let limits = c.limits;
    let exceeded = Rc::new(Cell::new(false));
    let metadata = Rc::new(Cell::new(Some(0u64)));
    let metadata_exceeded = Rc::new(Cell::new(false));
    let counting = Counting {
        // tar reads 512-byte headers and small members; a decoder asked for so little
        // output at a time spends its time copying its window, so it fills 128 KiB at once.
        inner: BufReader::with_capacity(
            128 * 1024,
            MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, reader)),
        ),
        count: 0,
        limit: limits.max_total_uncompressed,
        exceeded: Rc::clone(&exceeded),
        metadata: Rc::clone(&metadata),
        metadata_exceeded: Rc::clone(&metadata_exceeded),
    };
    let mut archive = tar::Archive::new(counting);
    let meta_error = |e: io::Error, members: u32| {
        if metadata_exceeded.get() {
            ScanPackageError::TarMetadataTooLarge {
                after: members,
                limit: human_size(MAX_TAR_METADATA),
            }
        } else {
            stream_error(e, &exceeded, limits)
        }
    };
    let entries = archive.entries().map_err(|e| meta_error(e, 0))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| meta_error(e, c.members))?;
        let raw = lossy(&entry.path_bytes());
        use tar::EntryType as T;
        let kind = match entry.header().entry_type() {
            T::Regular | T::Continuous => MemberKind::File,
            T::Directory => MemberKind::Dir,
            T::Symlink => MemberKind::Link("symbolic link"),
            T::Link => MemberKind::Link("hard link"),
            T::XGlobalHeader => MemberKind::Metadata,
            T::Char => MemberKind::Other("character device".into()),
            T::Block => MemberKind::Other("block device".into()),
            T::Fifo => MemberKind::Other("FIFO".into()),
            T::GNUSparse => MemberKind::Other("sparse file".into()),
            other => MemberKind::Other(format!("tar entry of type {}", other.as_byte())),
        };
        if kind == MemberKind::File && entry.size() > limits.max_member_size {
            // Early exit; the byte count below is what is enforced otherwise.
            let _ = c.logical_name(&raw, false)?;
            return Err(ScanPackageError::MemberTooLarge {
                path: printable(&raw),
                limit: human_size(limits.max_member_size),
            });
        }
        metadata.set(None);
        let declared = entry.size();
        c.member(&raw, kind, &mut entry, declared)
            .map_err(|e| match e {
                MemberError::Package(p) => p,
                MemberError::Io(io) => stream_error(io, &exceeded, limits),
            })?;
        if c.stopped {
            // Nothing after the first fact member is needed (see `Collector::stopped`).
            return Ok(());
        }
        metadata.set(Some(0));
    }
    metadata.set(None);
    // Read to the end of the gzip stream so its CRC and length trailer are checked.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(|e| stream_error(e, &exceeded, limits))?;
    Ok(())
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

// ---------------------------------------------------------------------------------------
// zip

const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

fn read_zip<R: Read + Seek>(mut reader: R, c: &mut Collector<'_>) -> Result<(), ScanPackageError> {
    reader.seek(SeekFrom::Start(0))?;
    let limits = c.limits;
    // The index is checked from its end record before the zip crate parses (and keeps)
    // any of it: see `zip_index`.
    let (mut archive, _index) = crate::zip_index::open_zip(reader, limits)?;
    for i in 0..archive.len() {
        let (raw, kind, method) = {
            let f = archive.by_index_raw(i).map_err(zip_corrupt)?;
            let raw = lossy(f.name_raw());
            let kind = match f.unix_mode().map(|m| m & S_IFMT) {
                Some(S_IFLNK) => MemberKind::Link("symbolic link"),
                Some(0) | Some(S_IFREG) | None if !f.is_dir() => MemberKind::File,
                Some(0) | Some(S_IFDIR) | None => MemberKind::Dir,
                Some(m) if m == S_IFREG => MemberKind::File,
                Some(_) => MemberKind::Other("special file".into()),
            };
            (raw, kind, f.compression())
        };
        if kind == MemberKind::File
            && !matches!(
                method,
                zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
            )
        {
            let _ = c.logical_name(&raw, false)?;
            return Err(ScanPackageError::UnsupportedCompression {
                path: printable(&raw),
                method: method.to_string(),
            });
        }
        if kind != MemberKind::File {
            // Directories, links and special files carry no data worth decompressing.
            c.member(&raw, kind, &mut io::empty(), 0)
                .map_err(|e| match e {
                    MemberError::Package(p) => p,
                    MemberError::Io(io) => ScanPackageError::Io(io),
                })?;
            continue;
        }
        let mut f = archive.by_index(i).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(what) => {
                ScanPackageError::UnsupportedMember {
                    path: printable(&raw),
                    kind: format!("zip member that cannot be read ({what})"),
                }
            }
            other => zip_corrupt(other),
        })?;
        let declared = f.size();
        c.member(&raw, kind, &mut f, declared)
            .map_err(|e| match e {
                MemberError::Package(p) => p,
                MemberError::Io(io) => {
                    ScanPackageError::Corrupt(printable(&format!("zip member `{raw}`: {io}")))
                }
            })?;
        if c.stopped {
            break;
        }
    }
    Ok(())
}

fn zip_corrupt(e: zip::result::ZipError) -> ScanPackageError {
    ScanPackageError::Corrupt(printable(&format!("zip: {e}")))
}

// ---------------------------------------------------------------------------------------
// Member handling shared by both formats

#[derive(Debug, Clone, PartialEq, Eq)]
enum MemberKind {
    File,
    Dir,
    /// pax global header and similar: carries no content.
    Metadata,
    Link(&'static str),
    Other(String),
}

enum MemberError {
    Package(ScanPackageError),
    Io(io::Error),
}

impl From<ScanPackageError> for MemberError {
    fn from(e: ScanPackageError) -> Self {
        MemberError::Package(e)
    }
}

struct Collector<'a> {
    limits: &'a Limits,
    members: u32,
    total: u64,
    prefix: Option<String>,
    saw_root_file: bool,
    seen: HashSet<String>,
    computer: Option<ComputerInfo>,
    cpuinfo: Option<CpuEvidence>,
    lscpu: Option<CpuEvidence>,
    dmi: Option<DmiEvidence>,
    dpkg_status: Option<Vec<InstalledPackage>>,
    dpkg_query: Option<Vec<InstalledPackage>>,
    rpm: Option<Vec<InstalledPackage>>,
    /// Each parsed tag with its member name (the key of `isotag_scan/index.json`).
    swid: Vec<(String, SwidTag)>,
    /// `isotag_scan/index.json`, or why it could not be read.
    index: Option<Result<TagIndex, String>>,
    /// The scans of the `<n>_vmman.tar.gz` members.
    vmman: Vec<VmManagerScan>,
    /// `product_uuid`, trimmed.
    product_uuid: Option<String>,
    notes: Vec<String>,
    /// The digest of the facts published for this computer: fact members are hashed,
    /// not parsed (see [`read_scan_package_since`]).
    published: Option<FactsDigest>,
    facts: FactsHasher,
    /// `computer.yml` states a facts digest (format 4): the fact members come last.
    stating: bool,
    /// The digest it states, when of this reader's version.
    stated: Option<FactsDigest>,
    /// The first fact member met.
    first_fact: Option<String>,
    /// The reading stopped at the first fact member: the stated digest is `published`.
    stopped: bool,
}

/// Why a nested `<n>_vmman.tar.gz` stopped: a limit of the whole package (the package is
/// rejected, as for any member), or a defect of that member alone (it is ignored).
enum NestedError {
    Package(ScanPackageError),
    Member(String),
}

/// Split a member path into safe components, or say it is unsafe.
fn safe_components(raw: &str) -> Option<Vec<&str>> {
    if raw.is_empty() || raw.starts_with('/') || raw.contains('\\') || raw.contains('\0') {
        return None;
    }
    let mut out = Vec::new();
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => return None,
            c => {
                if out.is_empty() && c.contains(':') {
                    return None; // drive letter or URL-ish
                }
                out.push(c);
            }
        }
    }
    Some(out)
}

impl<'a> Collector<'a> {
    fn new(limits: &'a Limits, published: Option<FactsDigest>) -> Self {
        Collector {
            limits,
            members: 0,
            total: 0,
            prefix: None,
            saw_root_file: false,
            seen: HashSet::new(),
            computer: None,
            cpuinfo: None,
            lscpu: None,
            dmi: None,
            dpkg_status: None,
            dpkg_query: None,
            rpm: None,
            swid: Vec::new(),
            index: None,
            vmman: Vec::new(),
            product_uuid: None,
            notes: Vec::new(),
            published,
            facts: FactsHasher::default(),
            stating: false,
            stated: None,
            first_fact: None,
            stopped: false,
        }
    }

    /// The member's name relative to the package root, after validating its path and
    /// stripping the optional single top-level directory. `None` for the root itself.
    fn logical_name(
        &mut self,
        raw: &str,
        is_dir: bool,
    ) -> Result<Option<String>, ScanPackageError> {
        let comps =
            safe_components(raw).ok_or_else(|| ScanPackageError::UnsafePath(printable(raw)))?;
        let Some(first) = comps.first().copied() else {
            return Ok(None);
        };
        let can_be_prefix = self.prefix.is_none()
            && !self.saw_root_file
            && self.seen.is_empty()
            && first != SWID_DIR;
        if can_be_prefix && (comps.len() >= 2 || is_dir) {
            self.prefix = Some(first.to_string());
        }
        let rest: &[&str] = match (&self.prefix, comps.split_first()) {
            (Some(p), Some((head, tail))) if head == p => tail,
            _ => &comps,
        };
        if rest.is_empty() {
            return Ok(None);
        }
        if rest.len() == 1 && !is_dir {
            self.saw_root_file = true;
        }
        Ok(Some(rest.join("/")))
    }

    /// `declared`: the size the archive's header gives the member's data
    /// (untrusted: only a hint for the buffer, see [`Self::read_bounded`]).
    fn member(
        &mut self,
        raw: &str,
        kind: MemberKind,
        data: &mut dyn Read,
        declared: u64,
    ) -> Result<(), MemberError> {
        self.members = self.members.saturating_add(1);
        if self.members > self.limits.max_members {
            return Err(ScanPackageError::TooManyMembers(self.limits.max_members).into());
        }
        if kind == MemberKind::Metadata {
            return Ok(());
        }
        let name = self.logical_name(raw, kind == MemberKind::Dir)?;
        match kind {
            MemberKind::File => {}
            MemberKind::Dir | MemberKind::Metadata => return Ok(()),
            MemberKind::Link(k) => {
                return Err(ScanPackageError::LinkMember {
                    path: printable(raw),
                    kind: k,
                }
                .into())
            }
            MemberKind::Other(k) => {
                return Err(ScanPackageError::UnsupportedMember {
                    path: printable(raw),
                    kind: k,
                }
                .into())
            }
        }
        let Some(name) = name else {
            return Ok(());
        };
        let fact = is_fact_member(&name);
        if fact && self.first_fact.is_none() {
            self.first_fact = Some(name.clone());
            if self.stated.is_some() && self.stated == self.published {
                // The facts are those published, as the package states: what follows
                // are fact members only (the rule below), and none is needed.
                self.stopped = true;
                return Ok(());
            }
        }
        if !fact && self.stating && self.first_fact.is_some() {
            // Out of the format's order: a reading that stops at the first fact member
            // would not see it, so no reading uses it.
            self.read_bounded(raw, data, true, 0)?;
            self.notes.push(format!(
                "ignored {}: it follows the fact members, which a package stating its \
                 facts digest has last",
                printable(&name)
            ));
            return Ok(());
        }
        let known = matches!(
            name.as_str(),
            "computer.yml"
                | "cpuinfo"
                | "lscpu.json"
                | "dmidecode.txt"
                | "dpkg-status"
                | "dpkg-query.tsv"
                | "rpm-qa.tsv"
                | "product_uuid"
                | SWID_INDEX
        ) || is_swid_name(&name)
            || vmman::is_vmman_member(&name);
        if !known {
            self.read_bounded(raw, data, true, 0)?;
            self.notes
                .push(format!("ignored unknown member {}", printable(&name)));
            return Ok(());
        }
        if !self.seen.insert(name.clone()) {
            return Err(ScanPackageError::DuplicateMember(printable(&name)).into());
        }
        let bytes = self.read_bounded(raw, data, false, declared)?;
        if vmman::is_vmman_member(&name) {
            return self.read_vmman(&name, &bytes).map_err(MemberError::Package);
        }
        self.facts.member(&name, &bytes);
        if self.published.is_some() && fact {
            // Hashed only; parsed in a second reading if the digest differs.
            return Ok(());
        }
        let text = crate::text::lossy_owned(bytes);
        match name.as_str() {
            "computer.yml" => {
                let computer = ComputerInfo::parse(&text)
                    .map_err(|e| ScanPackageError::Computer(printable(&e)))?;
                if let Some(stated) = &computer.facts_digest {
                    if let Some(first) = &self.first_fact {
                        return Err(ScanPackageError::Computer(printable(&format!(
                            "states a facts digest but comes after the fact member `{first}` \
                             (it must come before every fact member)"
                        )))
                        .into());
                    }
                    self.stating = true;
                    self.stated = FactsDigest::from_stated(stated);
                    if self.stated.is_none() {
                        self.notes.push(printable(&format!(
                            "the stated facts digest {stated} is of another version than \
                             this reader's ({FACTS_DIGEST_VERSION_NUMBER}); the facts are read"
                        )));
                    }
                    if self.stated.is_some()
                        && self.published.is_some()
                        && self.stated != self.published
                    {
                        // The facts changed: parsed as they come, in this one reading.
                        self.published = None;
                    }
                }
                self.computer = Some(computer);
            }
            "cpuinfo" => self.cpuinfo = Some(capacity::parse_cpuinfo(&text)),
            "lscpu.json" => {
                self.lscpu = Some(capacity::parse_lscpu_json(&text).map_err(|reason| {
                    ScanPackageError::Member {
                        member: name.clone(),
                        reason: printable(&reason),
                    }
                })?)
            }
            "dmidecode.txt" => self.dmi = Some(capacity::parse_dmidecode(&text)),
            "dpkg-status" => self.dpkg_status = Some(packages::parse_dpkg_status(&text)),
            "dpkg-query.tsv" => {
                self.dpkg_query = Some(packages::parse_dpkg_query_tsv(&text, &mut self.notes))
            }
            "rpm-qa.tsv" => self.rpm = Some(packages::parse_rpm_qa_tsv(&text, &mut self.notes)),
            "product_uuid" => match capacity::usable_uuid(&text) {
                Some(u) => self.product_uuid = Some(u),
                None => self.notes.push(printable(&format!(
                    "ignored product_uuid: `{}` is not a usable UUID",
                    text.trim()
                ))),
            },
            SWID_INDEX => self.index = Some(parse_index(&text)),
            _ => match swid::parse_swidtag(text.as_bytes()) {
                Ok(tag) => self.swid.push((name, tag)),
                Err(reason) => self
                    .notes
                    .push(printable(&format!("{name}: skipped: {reason}"))),
            },
        }
        Ok(())
    }

    /// Reads a nested `<n>_vmman.tar.gz` (already read whole, within the member limit):
    /// its decompressed bytes count against what is left of the package's total limit,
    /// its entries against the member limit and each file against the per-member limit;
    /// passing one rejects the package like any member. A corrupt member, or an entry
    /// that is not a plain file, makes the reader ignore that member alone (with a note);
    /// a scan file that does not parse is ignored alone (with a note).
    fn read_vmman(&mut self, name: &str, bytes: &[u8]) -> Result<(), ScanPackageError> {
        let limits = *self.limits;
        let exceeded = Rc::new(Cell::new(false));
        let metadata = Rc::new(Cell::new(Some(0u64)));
        let metadata_exceeded = Rc::new(Cell::new(false));
        let counting = Counting {
            inner: MultiGzDecoder::new(bytes),
            count: 0,
            limit: limits.max_total_uncompressed.saturating_sub(self.total),
            exceeded: Rc::clone(&exceeded),
            metadata: Rc::clone(&metadata),
            metadata_exceeded: Rc::clone(&metadata_exceeded),
        };
        let mut archive = tar::Archive::new(counting);
        let mut scans = Vec::new();
        let mut notes = Vec::new();
        let io_err = |e: io::Error, members: u32| {
            if exceeded.get() {
                NestedError::Package(ScanPackageError::TooLarge {
                    limit: human_size(limits.max_total_uncompressed),
                })
            } else if metadata_exceeded.get() {
                NestedError::Package(ScanPackageError::TarMetadataTooLarge {
                    after: members,
                    limit: human_size(MAX_TAR_METADATA),
                })
            } else {
                NestedError::Member(format!("not a readable tar.gz ({e})"))
            }
        };
        let result = (|| -> Result<(), NestedError> {
            let entries = archive.entries().map_err(|e| io_err(e, self.members))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| io_err(e, self.members))?;
                self.members = self.members.saturating_add(1);
                if self.members > limits.max_members {
                    return Err(NestedError::Package(ScanPackageError::TooManyMembers(
                        limits.max_members,
                    )));
                }
                let raw = lossy(&entry.path_bytes());
                let inner = safe_components(&raw)
                    .ok_or_else(|| {
                        NestedError::Member(format!(
                            "entry `{}` has an unsafe path",
                            printable(&raw)
                        ))
                    })?
                    .join("/");
                use tar::EntryType as T;
                match entry.header().entry_type() {
                    T::Regular | T::Continuous => {}
                    T::Directory | T::XGlobalHeader => {
                        // An entry without data: what follows is the next header.
                        metadata.set(Some(0));
                        continue;
                    }
                    _ => {
                        return Err(NestedError::Member(format!(
                            "entry `{}` is not a regular file",
                            printable(&raw)
                        )))
                    }
                }
                if entry.size() > limits.max_member_size {
                    return Err(NestedError::Package(ScanPackageError::MemberTooLarge {
                        path: printable(&format!("{name}/{inner}")),
                        limit: human_size(limits.max_member_size),
                    }));
                }
                metadata.set(None);
                let mut data = Vec::new();
                (&mut entry)
                    .take(limits.max_member_size.saturating_add(1))
                    .read_to_end(&mut data)
                    .map_err(|e| io_err(e, self.members))?;
                metadata.set(Some(0));
                if data.len() as u64 > limits.max_member_size {
                    return Err(NestedError::Package(ScanPackageError::MemberTooLarge {
                        path: printable(&format!("{name}/{inner}")),
                        limit: human_size(limits.max_member_size),
                    }));
                }
                let member = format!("{name}/{inner}");
                if !vmman::is_vmman_scan_file(&inner) {
                    notes.push(printable(&format!("ignored unknown member {member}")));
                    continue;
                }
                match vmman::parse_vmman_xml(&data) {
                    Ok(mut scan) => {
                        scan.member = member;
                        scans.push(scan);
                    }
                    Err(reason) => {
                        notes.push(printable(&format!("ignored vmman scan {member}: {reason}")))
                    }
                }
            }
            metadata.set(None);
            Ok(())
        })();
        let mut rest = archive.into_inner();
        let result = result.and_then(|()| {
            // To the end of the gzip stream, so that its CRC and length are checked.
            io::copy(&mut rest, &mut io::sink())
                .map(|_| ())
                .map_err(|e| io_err(e, self.members))
        });
        // What it unpacked counts, whether its scans are used or not.
        self.total = self.total.saturating_add(rest.count);
        match result {
            Ok(()) => {
                self.notes.extend(notes);
                self.vmman.extend(scans);
                Ok(())
            }
            Err(NestedError::Package(e)) => Err(e),
            Err(NestedError::Member(why)) => {
                self.notes.push(printable(&format!(
                    "ignored vmman scan {name}: {why}; none of its scans is used"
                )));
                Ok(())
            }
        }
    }

    /// Read a member's data, bounded by the per-member and total limits. When `discard`,
    /// the data is counted and dropped. The buffer starts at the declared size, up to
    /// [`MAX_PRESIZE`] (a lying header then costs at most that, never more than the
    /// limits allow), which spares the copies of a buffer grown by doubling: copies were
    /// the second item of the parser threads' profile in the 10,000-package benchmark.
    fn read_bounded(
        &mut self,
        raw: &str,
        data: &mut dyn Read,
        discard: bool,
        declared: u64,
    ) -> Result<Vec<u8>, MemberError> {
        let cap = self.limits.max_member_size.saturating_add(1);
        let mut limited = data.take(cap);
        let (buf, n) = if discard {
            let n = io::copy(&mut limited, &mut io::sink()).map_err(MemberError::Io)?;
            (Vec::new(), n)
        } else {
            // The limit is checked on what is read, not on this hint; one byte more
            // than declared lets `read_to_end` see the end without growing.
            let hint = declared
                .min(self.limits.max_member_size)
                .min(MAX_PRESIZE)
                .saturating_add(1);
            let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
            limited.read_to_end(&mut buf).map_err(MemberError::Io)?;
            let n = buf.len() as u64;
            (buf, n)
        };
        if n > self.limits.max_member_size {
            return Err(ScanPackageError::MemberTooLarge {
                path: printable(raw),
                limit: human_size(self.limits.max_member_size),
            }
            .into());
        }
        self.total = self.total.saturating_add(n);
        if self.total > self.limits.max_total_uncompressed {
            return Err(ScanPackageError::TooLarge {
                limit: human_size(self.limits.max_total_uncompressed),
            }
            .into());
        }
        Ok(buf)
    }

    fn finish(mut self) -> Result<ScanPackage, ScanPackageError> {
        if self.members == 0 {
            return Err(ScanPackageError::Empty);
        }
        let computer = self
            .computer
            .take()
            .ok_or(ScanPackageError::MissingComputer)?;
        if self.cpuinfo.is_none() && self.lscpu.is_none() && self.dmi.is_none() {
            return Err(ScanPackageError::MissingCapacity);
        }
        let mut notes = std::mem::take(&mut self.notes);
        let capacity = capacity::derive_capacity(
            Evidence {
                cpuinfo: self.cpuinfo.as_ref(),
                lscpu: self.lscpu.as_ref(),
                dmidecode: self.dmi.as_ref(),
                product_uuid: self.product_uuid.as_deref(),
            },
            &mut notes,
        )
        .map_err(ScanPackageError::NoProcessor)?;
        let mut packages = match (self.dpkg_status.take(), self.dpkg_query.take()) {
            (Some(status), Some(_)) => {
                notes.push(
                    "dpkg-query.tsv ignored: dpkg-status is present and takes precedence".into(),
                );
                status
            }
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => Vec::new(),
        };
        if let Some(rpm) = self.rpm.take() {
            packages.extend(rpm);
        }
        let digest = match self.stated {
            // The fact members were not read: the package states the published digest.
            Some(stated) if self.stopped => stated,
            _ => std::mem::take(&mut self.facts).finish(match &self.index {
                Some(_) if computer.format_version < 2 => None,
                other => other.as_ref(),
            }),
        };
        if let Some(stated) = self.stated {
            if stated != digest {
                return Err(ScanPackageError::FactsDigestMismatch {
                    stated: stated.to_stated(),
                    computed: digest.to_stated(),
                });
            }
        }
        let facts_unchanged = self.published == Some(digest);
        let index = match self.index.take() {
            // Format 1 did not know the member: as any unknown member, it is ignored.
            Some(_) if computer.format_version < 2 => {
                notes.push(format!(
                    "ignored unknown member {SWID_INDEX} (format_version 1)"
                ));
                None
            }
            Some(Err(why)) => {
                notes.push(printable(&format!(
                    "{SWID_INDEX}: ignored: {why}; the tags' directories are unknown"
                )));
                None
            }
            Some(Ok(index)) => Some(index),
            None => None,
        };
        let (swid_tags, tag_search) = match index {
            None => (self.swid.into_iter().map(|(_, t)| t).collect(), None),
            Some(index) => {
                // (Stopped before the tags: the index's notes on them were made when the
                // facts were read.)
                let tags = if self.stopped {
                    Vec::new()
                } else {
                    apply_index(self.swid, index.tags, &self.seen, &mut notes)
                };
                if let Some(TagSearchSummary {
                    complete: false,
                    cut_short,
                    ..
                }) = &index.search
                {
                    notes.push(printable(&format!(
                        "the endpoint's ISO tag search was cut short: {}",
                        cut_short.as_deref().unwrap_or("no reason given")
                    )));
                }
                (tags, index.search)
            }
        };
        Ok(ScanPackage {
            computer,
            capacity,
            installed_packages: packages,
            swid_tags,
            vm_manager: self.vmman,
            tag_search,
            notes,
            facts_digest: digest,
            facts_unchanged,
        })
    }
}

/// Gives each tag the directory `entries` name for its member. An entry with an unusable
/// directory, a second entry for one member, and entries for members the package does not
/// hold are ignored with a note (a tag whose parse failed already has its own note).
fn apply_index(
    tags: Vec<(String, SwidTag)>,
    entries: Vec<crate::TagIndexEntry>,
    members: &HashSet<String>,
    notes: &mut Vec<String>,
) -> Vec<SwidTag> {
    use std::collections::hash_map::{Entry, HashMap};
    let mut dirs: HashMap<String, String> = HashMap::with_capacity(entries.len());
    let (mut unusable, mut repeated, mut absent) = (0usize, 0usize, 0usize);
    let mut example = None;
    for e in entries {
        if !members.contains(&e.member) || !is_swid_name(&e.member) {
            absent += 1;
        } else if let Some(why) = directory_problem(&e.directory) {
            unusable += 1;
            example.get_or_insert_with(|| format!("{}: {why}", e.member));
        } else {
            match dirs.entry(e.member) {
                Entry::Occupied(_) => repeated += 1,
                Entry::Vacant(v) => {
                    v.insert(e.directory);
                }
            }
        }
    }
    if unusable > 0 {
        notes.push(printable(&format!(
            "{SWID_INDEX}: {unusable} directories ignored (e.g. {})",
            example.unwrap_or_default()
        )));
    }
    if repeated > 0 {
        notes.push(format!(
            "{SWID_INDEX}: {repeated} repeated entries ignored (the first one counts)"
        ));
    }
    if absent > 0 {
        notes.push(format!(
            "{SWID_INDEX}: {absent} entries name no tag member of the package; ignored"
        ));
    }
    tags.into_iter()
        .map(|(member, mut tag)| {
            tag.directory = dirs.remove(&member);
            tag
        })
        .collect()
}

fn is_swid_name(name: &str) -> bool {
    name.strip_prefix(SWID_DIR)
        .and_then(|r| r.strip_prefix('/'))
        .is_some_and(|r| r.len() > ".swidtag".len() && r.ends_with(".swidtag"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stated_version_is_the_version_strings() {
        assert_eq!(
            FACTS_DIGEST_VERSION,
            format!("openlmt facts digest {FACTS_DIGEST_VERSION_NUMBER}\n").as_bytes()
        );
        let d = FactsDigest([7; 32]);
        assert_eq!(FactsDigest::from_stated(&d.to_stated()), Some(d));
        assert_eq!(FactsDigest::from_stated(&format!("2:{}", d.to_hex())), None);
        assert_eq!(FactsDigest::from_stated(&d.to_hex()), None);
    }

    #[test]
    fn paths() {
        assert_eq!(safe_components("./a/b"), Some(vec!["a", "b"]));
        assert_eq!(safe_components("/etc/passwd"), None);
        assert_eq!(safe_components("a/../b"), None);
        assert_eq!(safe_components("C:/x"), None);
        assert_eq!(safe_components("a\\..\\b"), None);
        assert_eq!(safe_components("./"), Some(vec![]));
    }

    #[test]
    fn prefix_is_stripped() {
        let l = Limits::default();
        let mut c = Collector::new(&l, None);
        assert_eq!(c.logical_name("pkg/", true).unwrap(), None);
        assert_eq!(
            c.logical_name("pkg/computer.yml", false)
                .unwrap()
                .as_deref(),
            Some("computer.yml")
        );
        assert_eq!(
            c.logical_name("pkg/isotag_scan/a.swidtag", false)
                .unwrap()
                .as_deref(),
            Some("isotag_scan/a.swidtag")
        );
        let mut c = Collector::new(&l, None);
        assert_eq!(
            c.logical_name("isotag_scan/a.swidtag", false)
                .unwrap()
                .as_deref(),
            Some("isotag_scan/a.swidtag")
        );
        assert!(is_swid_name("isotag_scan/a.swidtag"));
        assert!(!is_swid_name("isotag_scan/.swidtag"));
    }
}
