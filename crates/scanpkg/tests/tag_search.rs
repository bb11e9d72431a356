//! The scanner's ISO tag search on a tree laid out with real tags from the corpus, and
//! format 2's `isotag_scan/index.json` through the writer and the reader (older packages
//! still read, with directories unknown).

mod common;

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use openlmt_scanpkg::{
    build_scan_package_from_dir, read_scan_package, scan_local_host, scan_package_bytes,
    search_tags, ArchiveKind, Limits, ScanOptions, ScanPackage, TagSearch,
};

const IBM_DMOE: &str = "swid-ibm/ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag";
const IBM_PAM: &str = "swid-ibm/ibm.com_IBM_Process_Automation_Manager_Open_Edition-9.0.0.swidtag";
const DEB_ADDUSER: &str = "hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag";
const DEB_BASH: &str = "hosts/debian12-vm/isotag_scan/Debian_12-x86_64-bash-5.2.15-2_b8.swidtag";

fn put(root: &Path, rel: &str, corpus_file: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, read(corpus_file)).unwrap();
}

/// A computer's files under `root`: tags at several depths, in a well-known directory, in
/// an excluded directory, behind a symlink loop and a symlink to a tagged directory, on a
/// "network" and a "tmpfs" mount (as the mount table under `root` says) and on a second
/// local file system.
fn lay_out_tree(root: &Path) {
    put(root, "usr/share/swidtag/debian.org/a.swidtag", DEB_ADDUSER);
    put(root, "opt/ibm/dmoe/swidtag/dmoe.swidtag", IBM_DMOE);
    put(root, "opt/ibm/a/b/c/d/e/f/g/h/pam.swidtag", IBM_PAM);
    // The same file name in two directories: two discovery paths.
    put(root, "srv/app1/iso-swid/same.swidtag", DEB_BASH);
    put(root, "srv/app2/iso-swid/same.swidtag", DEB_BASH);
    // Not tags: wrong suffix, a bare ".swidtag", a directory named like a tag.
    put(root, "opt/ibm/notes.swidtag.bak", IBM_PAM);
    put(root, "opt/ibm/.swidtag", IBM_PAM);
    fs::create_dir_all(root.join("opt/ibm/dir.swidtag")).unwrap();
    // Excluded.
    put(root, "var/cache/excluded/x.swidtag", IBM_PAM);
    // Mounts the default search does not enter, and a local one it searches.
    put(root, "mnt/nfs/remote.swidtag", IBM_PAM);
    put(root, "run/tmp.swidtag", IBM_PAM);
    put(root, "data/local/ibm/data.swidtag", IBM_DMOE);
    fs::create_dir_all(root.join("proc/self")).unwrap();
    fs::write(
        root.join("proc/self/mountinfo"),
        "22 1 0:21 / /proc rw,nosuid shared:12 - proc proc rw\n\
         25 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro\n\
         26 25 0:24 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=401204k,mode=755\n\
         30 25 0:40 / /mnt/nfs rw,relatime shared:60 - nfs4 srv:/export rw,vers=4.2\n\
         31 25 252:2 / /data rw,relatime shared:61 - ext4 /dev/vdb1 rw\n",
    )
    .unwrap();
    // A symlink loop and a symlink to a tagged directory: neither is followed.
    std::os::unix::fs::symlink("..", root.join("opt/ibm/a/loop")).unwrap();
    std::os::unix::fs::symlink(root.join("opt/ibm"), root.join("srv/link-to-ibm")).unwrap();
    std::os::unix::fs::symlink(
        root.join("opt/ibm/dmoe/swidtag/dmoe.swidtag"),
        root.join("srv/linked.swidtag"),
    )
    .unwrap();
}

fn found(
    root: &Path,
    search: &TagSearch,
) -> (Vec<(String, String)>, openlmt_scanpkg::TagSearchSummary) {
    let r = search_tags(root, search);
    for t in &r.tags {
        assert!(t.path.starts_with(root), "{t:?}");
        assert!(t.path.is_file());
    }
    (
        r.tags
            .into_iter()
            .map(|t| (t.directory, t.file_name))
            .collect(),
        r.summary,
    )
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(d, f)| (d.to_string(), f.to_string()))
        .collect()
}

#[test]
fn default_search_finds_tags_on_local_file_systems_only() {
    let root = scratch("tags-default");
    lay_out_tree(&root);
    let search = TagSearch {
        exclude: vec![PathBuf::from("/var/cache/excluded")],
        ..TagSearch::default()
    };
    let (tags, summary) = found(&root, &search);
    assert_eq!(
        tags,
        pairs(&[
            ("/data/local/ibm", "data.swidtag"),
            ("/opt/ibm/a/b/c/d/e/f/g/h", "pam.swidtag"),
            ("/opt/ibm/dmoe/swidtag", "dmoe.swidtag"),
            ("/srv/app1/iso-swid", "same.swidtag"),
            ("/srv/app2/iso-swid", "same.swidtag"),
            ("/usr/share/swidtag/debian.org", "a.swidtag"),
        ])
    );
    assert!(summary.complete, "{summary:?}");
    assert_eq!(summary.cut_short, None);
    // The well-known directory first, then the local mounts; /proc, /run (tmpfs) and
    // /mnt/nfs (nfs4) are not searched.
    assert_eq!(summary.roots, vec!["/usr/share/swidtag", "/", "/data"]);
    assert_eq!(summary.excluded, vec!["/var/cache/excluded"]);
    assert!(summary.entries_examined > 20, "{summary:?}");
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn configured_roots_and_exclusions() {
    let root = scratch("tags-roots");
    lay_out_tree(&root);
    // Roots named explicitly are searched whatever their file system (/mnt/nfs), a root
    // below another root is searched once, and an exclusion inside a root prunes it.
    let search = TagSearch {
        roots: vec![
            PathBuf::from("/opt"),
            PathBuf::from("/opt/ibm/dmoe"),
            PathBuf::from("/mnt/nfs/"),
            PathBuf::from("/does/not/exist"),
        ],
        exclude: vec![PathBuf::from("/opt/ibm/a/b/c")],
        ..TagSearch::default()
    };
    let (tags, summary) = found(&root, &search);
    assert_eq!(
        tags,
        pairs(&[
            ("/mnt/nfs", "remote.swidtag"),
            ("/opt/ibm/dmoe/swidtag", "dmoe.swidtag"),
            ("/usr/share/swidtag/debian.org", "a.swidtag"),
        ])
    );
    assert!(summary.complete);
    assert_eq!(
        summary.roots,
        vec!["/usr/share/swidtag", "/opt", "/opt/ibm/dmoe", "/mnt/nfs"]
    );
    // Excluding a well-known directory or a whole root leaves it out.
    let search = TagSearch {
        roots: vec![PathBuf::from("/srv")],
        exclude: vec![
            PathBuf::from("/usr/share/swidtag"),
            PathBuf::from("/srv/app2"),
        ],
        ..TagSearch::default()
    };
    let (tags, summary) = found(&root, &search);
    assert_eq!(tags, pairs(&[("/srv/app1/iso-swid", "same.swidtag")]));
    assert_eq!(summary.roots, vec!["/srv"]);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn budgets_cut_the_search_short_and_say_so() {
    let root = scratch("tags-budget");
    lay_out_tree(&root);
    let tiny = TagSearch {
        file_budget: 3,
        ..TagSearch::default()
    };
    let r = search_tags(&root, &tiny);
    assert!(!r.summary.complete);
    assert_eq!(r.summary.entries_examined, 3);
    let why = r.summary.cut_short.as_deref().unwrap();
    assert!(why.contains("file budget of 3 entries ran out"), "{why}");
    // The well-known directory comes first, so even a tiny budget finds its tag.
    assert_eq!(r.tags.len(), 1, "{:?}", r.tags);
    assert_eq!(r.tags[0].directory, "/usr/share/swidtag/debian.org");

    let no_time = TagSearch {
        time_budget: Duration::ZERO,
        ..TagSearch::default()
    };
    let r = search_tags(&root, &no_time);
    assert!(!r.summary.complete);
    assert!(r
        .summary
        .cut_short
        .as_deref()
        .unwrap()
        .contains("time budget"));

    // Through the scanner: the package is still made, its index says the search was cut
    // short, and so does a note (the CLI prints notes on stderr); the reader notes it too.
    lay_out_host(&root);
    let mut opts = ScanOptions::with_root(&root);
    opts.tag_search = tiny;
    let pkg = scan_local_host(&opts).unwrap();
    assert!(
        pkg.notes
            .iter()
            .any(|n| n.starts_with("the ISO tag search was cut short: the file budget")),
        "{:?}",
        pkg.notes
    );
    assert!(!pkg.tag_search.as_ref().unwrap().complete);
    let read = read_back(&pkg);
    assert_eq!(read.tag_search, pkg.tag_search);
    assert!(
        read.notes
            .iter()
            .any(|n| n.starts_with("the endpoint's ISO tag search was cut short: the file budget")),
        "{:?}",
        read.notes
    );
    fs::remove_dir_all(&root).unwrap();
}

/// The files `scan_local_host` needs besides tags (the real debian12-vm host).
fn lay_out_host(root: &Path) {
    put(root, "proc/cpuinfo", "hosts/debian12-vm/cpuinfo");
    put(root, "etc/os-release", "hosts/debian12-vm/os-release");
    fs::create_dir_all(root.join("proc/sys/kernel")).unwrap();
    fs::write(root.join("proc/sys/kernel/hostname"), b"tagged-host\n").unwrap();
    fs::write(
        root.join("etc/machine-id"),
        b"fedcba9876543210fedcba9876543210\n",
    )
    .unwrap();
}

fn read_back(pkg: &openlmt_scanpkg::BuiltScanPackage) -> ScanPackage {
    let bytes = scan_package_bytes(pkg).unwrap();
    read_scan_package(ArchiveKind::TarGz, Cursor::new(bytes), &Limits::default()).unwrap()
}

#[test]
fn scanner_packs_each_tag_with_its_directory() {
    let root = scratch("tags-scan");
    lay_out_tree(&root);
    lay_out_host(&root);
    let mut opts = ScanOptions::with_root(&root);
    opts.tag_search.exclude = vec![PathBuf::from("/var/cache/excluded")];
    let pkg = scan_local_host(&opts).unwrap();
    assert_eq!(
        pkg.computer().format_version,
        openlmt_scanpkg::FORMAT_VERSION
    );
    let names: Vec<&str> = pkg
        .members()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("isotag_scan/"))
        .collect();
    assert_eq!(names[0], "isotag_scan/index.json", "the index comes first");
    assert_eq!(names[1], "isotag_scan/1/data.swidtag");
    assert_eq!(names.len(), 7);
    assert!(
        names.contains(&"isotag_scan/4/same.swidtag")
            && names.contains(&"isotag_scan/5/same.swidtag")
    );

    let p = read_back(&pkg);
    assert_eq!(p.computer.format_version, openlmt_scanpkg::FORMAT_VERSION);
    let mut got: Vec<(String, Option<String>, Option<String>)> = p
        .swid_tags
        .iter()
        .map(|t| {
            (
                t.tag_id.clone(),
                t.persistent_id.clone(),
                t.directory.clone(),
            )
        })
        .collect();
    got.sort();
    let dmoe = "ibm.com-a46f72acb4204f1c8b27228722103341-9.0.0".to_string();
    let pam = "ibm.com-3d9d28f19d0f45fda113c07fb481e3ea-9.0.0".to_string();
    let dmoe_pid = Some("a46f72acb4204f1c8b27228722103341".to_string());
    let dir = |d: &str| Some(d.to_string());
    assert_eq!(
        got,
        vec![
            (
                "Debian_12-x86_64-adduser-3.134".into(),
                None,
                dir("/usr/share/swidtag/debian.org")
            ),
            (
                "Debian_12-x86_64-bash-5.2.15-2~b8".into(),
                None,
                dir("/srv/app1/iso-swid")
            ),
            (
                "Debian_12-x86_64-bash-5.2.15-2~b8".into(),
                None,
                dir("/srv/app2/iso-swid")
            ),
            (
                pam,
                Some("3d9d28f19d0f45fda113c07fb481e3ea".into()),
                dir("/opt/ibm/a/b/c/d/e/f/g/h")
            ),
            (dmoe.clone(), dmoe_pid.clone(), dir("/data/local/ibm")),
            (dmoe, dmoe_pid, dir("/opt/ibm/dmoe/swidtag")),
        ]
    );
    let search = p.tag_search.unwrap();
    assert!(search.complete);
    assert!(
        !p.notes.iter().any(|n| n.contains("index.json")),
        "{:?}",
        p.notes
    );
    fs::remove_dir_all(&root).unwrap();
}

/// A format-1 package (the real debian12-vm host as `EvidenceSet` packs it, flat
/// `isotag_scan/*.swidtag`, `format_version: 1`) still reads, its tags' directories
/// unknown; an index in a format-1 package is ignored as the unknown member it was then.
#[test]
fn format_1_packages_still_read_with_directories_unknown() {
    let mut c = computer("old-format-1");
    c.format_version = 1;
    let pkg = build_scan_package_from_dir(&corpus(VM_DIR), c.clone()).unwrap();
    let bytes = scan_package_bytes(&pkg).unwrap();
    assert!(String::from_utf8_lossy(&flate2_decode(&bytes)).contains("format_version: 1"));
    let p = read_scan_package(ArchiveKind::TarGz, Cursor::new(&bytes), &Limits::default()).unwrap();
    assert_eq!(p.computer.format_version, 1);
    assert_eq!(p.swid_tags.len(), 759);
    assert!(p.swid_tags.iter().all(|t| t.directory.is_none()));
    assert_eq!(p.tag_search, None);

    let index = br#"{"tags":[{"member":"isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag","directory":"/usr/share/swidtag"}]}"#;
    let mut with_index = pkg.clone();
    with_index.add_member("isotag_scan/index.json", &index[..]);
    let p = read_back(&with_index);
    assert!(p.swid_tags.iter().all(|t| t.directory.is_none()));
    assert!(
        p.notes.contains(
            &"ignored unknown member isotag_scan/index.json (format_version 1)".to_string()
        ),
        "{:?}",
        p.notes
    );

    // The same index in a format-2 package applies, after the tags or before them.
    let mut c2 = c;
    c2.format_version = 2;
    let mut v2 = build_scan_package_from_dir(&corpus(VM_DIR), c2).unwrap();
    v2.add_member("isotag_scan/index.json", &index[..]);
    let p = read_back(&v2);
    let with_dir: Vec<_> = p
        .swid_tags
        .iter()
        .filter(|t| t.directory.is_some())
        .collect();
    assert_eq!(with_dir.len(), 1);
    assert_eq!(with_dir[0].name, "adduser");
    assert_eq!(with_dir[0].directory.as_deref(), Some("/usr/share/swidtag"));
}

/// Damaged indexes (derived from a real scan's index) never reject the package: the
/// tags stay, their directories unknown where the index cannot say, with a note.
#[test]
fn damaged_indexes_leave_directories_unknown() {
    let root = scratch("tags-damaged");
    lay_out_tree(&root);
    lay_out_host(&root);
    let pkg = scan_local_host(&ScanOptions::with_root(&root)).unwrap();
    let index = pkg
        .members()
        .find(|(n, _)| *n == "isotag_scan/index.json")
        .map(|(_, d)| String::from_utf8(d.to_vec()).unwrap())
        .unwrap();
    let with_index = |text: &str| {
        let mut p = openlmt_scanpkg::BuiltScanPackage::new(pkg.computer().clone());
        for (n, d) in pkg.members() {
            if n == "isotag_scan/index.json" {
                p.add_member(n, text.as_bytes().to_vec());
            } else {
                p.add_member(n, d.to_vec());
            }
        }
        read_back(&p)
    };
    // Cut in half: not JSON.
    let p = with_index(&index[..index.len() / 2]);
    assert_eq!(
        p.swid_tags.len(),
        7,
        "no exclusion: the excluded-in-other-tests tag too"
    );
    assert!(p.swid_tags.iter().all(|t| t.directory.is_none()));
    assert!(
        p.notes
            .iter()
            .any(|n| n.starts_with("isotag_scan/index.json: ignored: invalid JSON")),
        "{:?}",
        p.notes
    );
    // A control character in one directory, one member renamed to one that does not exist.
    let bad = index
        .replacen("\"/data/local/ibm\"", "\"/data/\\u0007bell\"", 1)
        .replacen("isotag_scan/2/", "isotag_scan/99/", 1);
    let p = with_index(&bad);
    assert_eq!(
        p.swid_tags.iter().filter(|t| t.directory.is_some()).count(),
        5
    );
    assert!(
        p.notes.iter().any(|n| n.contains("1 directories ignored")),
        "{:?}",
        p.notes
    );
    assert!(
        p.notes
            .iter()
            .any(|n| n.contains("1 entries name no tag member")),
        "{:?}",
        p.notes
    );
    fs::remove_dir_all(&root).unwrap();
}

fn flate2_decode(gz: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}
