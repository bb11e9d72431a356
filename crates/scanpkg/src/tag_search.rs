//! The scanner's search for ISO/IEC 19770-2 tags (`*.swidtag`) on the scanned computer:
//! which directories it walks, which it skips, and its budgets. `docs/scan-package.md`
//! ("Writing") explains the choices.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use crate::tag_index::TagSearchSummary;

/// Directories searched first, whatever the roots (the usual places of tags on Linux:
/// swidtag packages, `swid_generator`, Red Hat's and SUSE's tags).
pub const SWID_TAG_DIRS: [&str; 2] = ["usr/share/swidtag", "usr/lib/swidtag"];

/// Default wall-clock budget of a tag search.
pub const DEFAULT_TAG_TIME_BUDGET: Duration = Duration::from_secs(300);
/// Default number of directory entries a tag search may look at.
pub const DEFAULT_TAG_FILE_BUDGET: u64 = 2_000_000;

/// File-system types that hold no installed software: kernel interfaces, memory-backed
/// scratch space (`tmpfs`: `/run`, `/dev/shm`, often `/tmp`), automounter triggers (an
/// `autofs` point would mount, often a network share, when entered) and removable media.
pub const PSEUDO_FILE_SYSTEMS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "udf",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
];

/// File-system types reached over a network: software installed there belongs to the
/// computer that serves it, and is searched there.
pub const NETWORK_FILE_SYSTEMS: &[&str] = &[
    "9p",
    "afs",
    "ceph",
    "cifs",
    "coda",
    "davfs",
    "fuse.ceph",
    "fuse.davfs2",
    "fuse.glusterfs",
    "fuse.rclone",
    "fuse.s3fs",
    "fuse.sshfs",
    "glusterfs",
    "gpfs",
    "lustre",
    "ncpfs",
    "nfs",
    "nfs4",
    "smb3",
    "smbfs",
    "sshfs",
];

/// Whether a file-system type is skipped by the default search.
pub fn is_skipped_file_system(fstype: &str) -> bool {
    PSEUDO_FILE_SYSTEMS.contains(&fstype) || NETWORK_FILE_SYSTEMS.contains(&fstype)
}

/// Where and how long to search for tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSearch {
    /// Directories to search, as paths on the scanned computer. Empty: the mount point of
    /// every local file system (the mount table, without [`is_skipped_file_system`]
    /// types). [`SWID_TAG_DIRS`] are searched first in either case.
    pub roots: Vec<PathBuf>,
    /// Directories not searched (nor anything below them).
    pub exclude: Vec<PathBuf>,
    /// Stop after this long.
    pub time_budget: Duration,
    /// Stop after looking at this many directory entries.
    pub file_budget: u64,
}

impl Default for TagSearch {
    fn default() -> Self {
        TagSearch {
            roots: Vec::new(),
            exclude: Vec::new(),
            time_budget: DEFAULT_TAG_TIME_BUDGET,
            file_budget: DEFAULT_TAG_FILE_BUDGET,
        }
    }
}

/// One tag file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundTag {
    /// Where to read it (under the scan's root directory).
    pub path: PathBuf,
    /// Its file name.
    pub file_name: String,
    /// Its directory on the scanned computer.
    pub directory: String,
}

/// What a search found and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSearchResult {
    /// The tags, sorted by directory and file name.
    pub tags: Vec<FoundTag>,
    /// For the package's `isotag_scan/index.json`.
    pub summary: TagSearchSummary,
    /// Remarks (unreadable directories, file systems skipped, …).
    pub notes: Vec<String>,
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Mount point, on the scanned computer.
    pub point: PathBuf,
    /// File-system type (`ext4`, `nfs4`, `fuse.sshfs`, …).
    pub fstype: String,
}

/// `\040`-style octal escapes of the mount table (space, tab, newline, backslash).
fn unescape_mount_path(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse `/proc/self/mountinfo`: `id parent major:minor root point options [optional…] -
/// fstype source super-options`. Lines that do not have this shape are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-")?;
            if sep < 6 {
                return None;
            }
            Some(Mount {
                point: PathBuf::from(unescape_mount_path(fields[4])),
                fstype: fields.get(sep + 1)?.to_string(),
            })
        })
        .collect()
}

/// Parse `/proc/mounts` (`source point fstype options 0 0`).
pub fn parse_proc_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (_src, point, fstype) = (f.next()?, f.next()?, f.next()?);
            Some(Mount {
                point: PathBuf::from(unescape_mount_path(point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// The mount table of the computer whose files are under `root`: `<root>/proc/self/mountinfo`,
/// else `<root>/proc/mounts`; `None` when neither is readable. A point mounted over
/// several times has the type of its last (visible) mount.
pub fn read_mount_table(root: &Path) -> Option<Vec<Mount>> {
    let mounts = fs::read_to_string(root.join("proc/self/mountinfo"))
        .ok()
        .map(|t| parse_mountinfo(&t))
        .filter(|m| !m.is_empty())
        .or_else(|| {
            fs::read_to_string(root.join("proc/mounts"))
                .ok()
                .map(|t| parse_proc_mounts(&t))
                .filter(|m| !m.is_empty())
        })?;
    let mut last: BTreeMap<PathBuf, String> = BTreeMap::new();
    for m in mounts {
        if m.point.is_absolute() {
            last.insert(normalize(&m.point), m.fstype);
        }
    }
    Some(
        last.into_iter()
            .map(|(point, fstype)| Mount { point, fstype })
            .collect(),
    )
}

/// An absolute computer path without `.`, `..` (lexically) or a trailing slash.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// A computer path as a path under `root`.
fn under(root: &Path, computer: &Path) -> PathBuf {
    match computer.strip_prefix("/") {
        Ok(rel) if rel.as_os_str().is_empty() => root.to_path_buf(),
        Ok(rel) => root.join(rel),
        Err(_) => root.join(computer),
    }
}

/// A path under `root` as the computer sees it.
fn on_computer(root: &Path, p: &Path) -> PathBuf {
    match p.strip_prefix(root) {
        Ok(rel) => Path::new("/").join(rel),
        Err(_) => p.to_path_buf(),
    }
}

/// Search the computer whose files are under `root` (`/` for this machine) for
/// `*.swidtag` files, as `search` says: [`SWID_TAG_DIRS`] first, then the roots, each
/// walked without following symbolic links and without entering another mount point,
/// another root or an excluded directory (mounts of local file systems are roots of
/// their own by default; skipped ones are not entered at all). Stops when a budget runs
/// out, saying so in the summary.
pub fn search_tags(root: &Path, search: &TagSearch) -> TagSearchResult {
    let start = Instant::now();
    let mut notes = Vec::new();
    let excluded: Vec<PathBuf> = search.exclude.iter().map(|p| normalize(p)).collect();
    let mounts = read_mount_table(root);

    let mut roots: Vec<PathBuf> = SWID_TAG_DIRS
        .iter()
        .map(|d| normalize(Path::new(d)))
        .collect();
    if search.roots.is_empty() {
        match &mounts {
            Some(m) => {
                let skipped: Vec<String> = m
                    .iter()
                    .filter(|m| NETWORK_FILE_SYSTEMS.contains(&m.fstype.as_str()))
                    .map(|m| format!("{} ({})", m.point.display(), m.fstype))
                    .collect();
                if !skipped.is_empty() {
                    notes.push(format!(
                        "ISO tag search: network file systems not searched: {}",
                        skipped.join(", ")
                    ));
                }
                roots.extend(
                    m.iter()
                        .filter(|m| !is_skipped_file_system(&m.fstype))
                        .map(|m| m.point.clone()),
                );
            }
            None => {
                notes.push(
                    "ISO tag search: no mount table (proc/self/mountinfo, proc/mounts); \
                     searching / without crossing into other file systems"
                        .into(),
                );
                roots.push(PathBuf::from("/"));
            }
        }
    } else {
        roots.extend(search.roots.iter().map(|p| normalize(p)));
    }
    let mut seen = HashSet::new();
    roots.retain(|r| seen.insert(r.clone()));
    roots.retain(|r| !excluded.iter().any(|e| r.starts_with(e)));

    // Directories never entered from another root's walk: every mount point, every root,
    // every exclusion (as paths under `root`).
    let mut stops: HashSet<PathBuf> = HashSet::new();
    if let Some(m) = &mounts {
        stops.extend(m.iter().map(|m| under(root, &m.point)));
    }
    stops.extend(roots.iter().map(|r| under(root, r)));
    stops.extend(excluded.iter().map(|e| under(root, e)));

    let mut tags = Vec::new();
    let mut entries: u64 = 0;
    let mut cut_short = None;
    let mut unreadable: u64 = 0;
    let mut unreadable_example = None;
    let mut lossy_names = 0u64;
    let mut searched = Vec::new();
    'roots: for r in &roots {
        let fs_root = under(root, r);
        // Only existing directories (not links to them) are searched.
        let root_dev = match fs::symlink_metadata(&fs_root) {
            Ok(m) if m.is_dir() => m.dev(),
            _ => continue,
        };
        searched.push(r.to_string_lossy().into_owned());
        // Not walkdir's `same_file_system`: it yields a directory of another file system
        // without entering it, and `filter_entry` refusing that entry then skips the rest
        // of its *parent* (walkdir 2.5). The device is compared here instead.
        let walk = walkdir::WalkDir::new(&fs_root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !e.file_type().is_dir()
                    || !(stops.contains(e.path())
                        || e.metadata().is_ok_and(|m| m.dev() != root_dev))
            });
        for entry in walk {
            entries += 1;
            if entries > search.file_budget {
                cut_short = Some(format!(
                    "the file budget of {} entries ran out while searching {}",
                    search.file_budget,
                    r.display()
                ));
                break 'roots;
            }
            if start.elapsed() > search.time_budget {
                cut_short = Some(format!(
                    "the time budget of {} s ran out while searching {}",
                    search.time_budget.as_secs_f64(),
                    r.display()
                ));
                break 'roots;
            }
            let e = match entry {
                Ok(e) => e,
                Err(err) => {
                    unreadable += 1;
                    if unreadable_example.is_none() {
                        unreadable_example = Some(
                            err.path()
                                .map(|p| on_computer(root, p).display().to_string())
                                .unwrap_or_else(|| err.to_string()),
                        );
                    }
                    continue;
                }
            };
            if !e.file_type().is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy();
            if name.len() <= ".swidtag".len() || !name.ends_with(".swidtag") {
                continue;
            }
            let dir = e
                .path()
                .parent()
                .map(|p| on_computer(root, p))
                .unwrap_or_else(|| PathBuf::from("/"));
            let directory = dir.to_string_lossy().into_owned();
            if dir.to_str().is_none() || e.file_name().to_str().is_none() {
                lossy_names += 1;
            }
            tags.push(FoundTag {
                path: e.path().to_path_buf(),
                file_name: name.into_owned(),
                directory,
            });
        }
    }
    if unreadable > 0 {
        notes.push(format!(
            "ISO tag search: {unreadable} entries could not be read (e.g. {})",
            unreadable_example.unwrap_or_default()
        ));
    }
    if lossy_names > 0 {
        notes.push(format!(
            "ISO tag search: {lossy_names} tag paths are not UTF-8; their invalid bytes are \
             written as U+FFFD"
        ));
    }
    tags.sort_by(|a, b| (&a.directory, &a.file_name).cmp(&(&b.directory, &b.file_name)));
    let summary = TagSearchSummary {
        complete: cut_short.is_none(),
        cut_short,
        roots: searched,
        excluded: excluded
            .iter()
            .map(|e| e.to_string_lossy().into_owned())
            .collect(),
        entries_examined: entries.min(search.file_budget),
        milliseconds: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    TagSearchResult {
        tags,
        summary,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_tables() {
        let info = "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n\
                    25 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    30 25 0:40 / /mnt/my\\040share rw - nfs4 srv:/x rw\n\
                    31 25 0:41 / /home/u/remote rw - fuse.sshfs u@h:/ rw\n\
                    garbage line\n";
        let m = parse_mountinfo(info);
        assert_eq!(m.len(), 4);
        assert_eq!(m[2].point, PathBuf::from("/mnt/my share"));
        assert_eq!(m[2].fstype, "nfs4");
        assert_eq!(m[3].fstype, "fuse.sshfs");
        let mounts = "proc /proc proc rw 0 0\n/dev/vda1 / ext4 rw 0 0\nshort\n";
        let m = parse_proc_mounts(mounts);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[1].point.as_path(), m[1].fstype.as_str()),
            (Path::new("/"), "ext4")
        );
        assert_eq!(unescape_mount_path("a\\011b\\134c\\9"), "a\tb\\c\\9");
        assert!(is_skipped_file_system("tmpfs") && is_skipped_file_system("cifs"));
        assert!(!is_skipped_file_system("ext4") && !is_skipped_file_system("overlay"));
    }

    #[test]
    fn paths() {
        assert_eq!(normalize(Path::new("/a/./b/../c/")), PathBuf::from("/a/c"));
        assert_eq!(normalize(Path::new("rel/x")), PathBuf::from("/rel/x"));
        assert_eq!(under(Path::new("/r"), Path::new("/")), PathBuf::from("/r"));
        assert_eq!(
            under(Path::new("/r"), Path::new("/a/b")),
            PathBuf::from("/r/a/b")
        );
        assert_eq!(
            on_computer(Path::new("/r"), Path::new("/r/a")),
            PathBuf::from("/a")
        );
        assert_eq!(
            on_computer(Path::new("/"), Path::new("/a")),
            PathBuf::from("/a")
        );
    }
}
