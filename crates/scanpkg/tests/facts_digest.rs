//! The facts digest and the reading that skips unchanged facts
//! (`read_scan_package_since`), on the corpus's Debian 12 host: each variation of a
//! package is derived from the real files here.

mod common;

use std::io::Cursor;

use common::*;
use openlmt_scanpkg::computer::parse_scan_time;
use openlmt_scanpkg::{
    build_scan_package_from_dir, read_scan_package, read_scan_package_since, scan_package_bytes,
    ArchiveKind, BuiltScanPackage, FactsDigest, Limits, ScanPackage,
};

fn host() -> BuiltScanPackage {
    build_scan_package_from_dir(&corpus(VM_DIR), computer("test-endpoint-1")).unwrap()
}

/// The host's package with its members changed by `edit` (name, bytes) → new bytes
/// (`None` leaves the member out), then `extra` members added.
fn variant(
    c: openlmt_scanpkg::ComputerInfo,
    edit: impl Fn(&str, &[u8]) -> Option<Vec<u8>>,
    extra: &[(&str, Vec<u8>)],
) -> BuiltScanPackage {
    let mut p = BuiltScanPackage::new(c);
    for (name, data) in host().members() {
        if let Some(d) = edit(name, data) {
            p.add_member(name, d);
        }
    }
    for (name, data) in extra {
        p.add_member(*name, data.clone());
    }
    p
}

fn bytes(p: &BuiltScanPackage) -> Vec<u8> {
    scan_package_bytes(p).unwrap()
}

fn read(b: &[u8]) -> ScanPackage {
    read_scan_package(ArchiveKind::TarGz, Cursor::new(b), &Limits::default()).unwrap()
}

fn read_since(b: &[u8], d: &FactsDigest) -> ScanPackage {
    read_scan_package_since(
        ArchiveKind::TarGz,
        Cursor::new(b),
        &Limits::default(),
        Some(d),
    )
    .unwrap()
}

/// The next day's package of the same computer: other scan time, other name and
/// addresses, another real processor (a capacity change), the same software.
fn next_day() -> BuiltScanPackage {
    let mut c = computer("test-endpoint-1");
    c.scan_time = parse_scan_time("2024-05-02T12:30:00Z");
    c.computer_name = Some("renamed".into());
    c.ip_addresses = vec!["192.0.2.11".into()];
    variant(
        c,
        |name, data| match name {
            "cpuinfo" => Some(common::read("cpuinfo/linux-hp-dl180")),
            // (lscpu.json would take precedence over cpuinfo.)
            "lscpu.json" => None,
            _ => Some(data.to_vec()),
        },
        &[],
    )
}

/// `dpkg-status` without its stanza of package `name`.
fn without_stanza(status: &[u8], name: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(status);
    let stanzas: Vec<&str> = text.split("\n\n").collect();
    let before = stanzas.len();
    let kept: Vec<&str> = stanzas
        .into_iter()
        .filter(|s| !s.lines().any(|l| l == format!("Package: {name}")))
        .collect();
    assert_eq!(kept.len(), before - 1, "the host has package {name}");
    kept.join("\n\n").into_bytes()
}

#[test]
fn the_digest_follows_the_facts_not_the_scan() {
    let day1 = read(&bytes(&host()));
    assert_eq!(day1.installed_packages.len(), 759);
    assert!(!day1.facts_unchanged, "a plain reading parses everything");
    let day2 = read(&bytes(&next_day()));
    assert_ne!(day1.capacity, day2.capacity, "another processor");
    assert_eq!(day1.facts_digest, day2.facts_digest);
    assert_eq!(
        FactsDigest::from_hex(&day1.facts_digest.to_hex()),
        Some(day1.facts_digest)
    );
    assert_eq!(FactsDigest::from_hex("not hex"), None);

    // Each change to what makes facts changes the digest.
    let bash_removed = variant(
        computer("test-endpoint-1"),
        |name, data| match name {
            "dpkg-status" => Some(without_stanza(data, "bash")),
            _ => Some(data.to_vec()),
        },
        &[],
    );
    let tag_removed = variant(
        computer("test-endpoint-1"),
        |name, data| {
            (name != "isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag").then(|| data.to_vec())
        },
        &[],
    );
    let ibm = "ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag";
    let tag_added = variant(
        computer("test-endpoint-1"),
        |_, data| Some(data.to_vec()),
        &[(
            &format!("isotag_scan/{ibm}"),
            common::read(&format!("swid-ibm/{ibm}")),
        )],
    );
    let rpm_added = variant(
        computer("test-endpoint-1"),
        |_, data| Some(data.to_vec()),
        &[("rpm-qa.tsv", common::read("packaging/rpm-qa.tsv"))],
    );
    let mut digests = vec![day1.facts_digest];
    for p in [&bash_removed, &tag_removed, &tag_added, &rpm_added] {
        let d = read(&bytes(p)).facts_digest;
        assert!(!digests.contains(&d), "a change of facts, a new digest");
        digests.push(d);
    }
}

#[test]
fn only_the_index_directories_count_not_its_search_summary() {
    let index = |dir: &str, ms: u64| {
        format!(
            r#"{{"search":{{"complete":true,"roots":["/usr/share"],"entries_examined":{ms},"milliseconds":{ms}}},
               "tags":[{{"member":"isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag","directory":"{dir}"}}]}}"#
        )
        .into_bytes()
    };
    let with_index = |dir: &str, ms: u64| {
        let mut c = computer("test-endpoint-1");
        c.format_version = 2;
        variant(
            c,
            |_, d| Some(d.to_vec()),
            &[("isotag_scan/index.json", index(dir, ms))],
        )
    };
    let a = read(&bytes(&with_index("/usr/share/swidtag", 120)));
    let b = read(&bytes(&with_index("/usr/share/swidtag", 4711)));
    let c = read(&bytes(&with_index("/opt/swidtag", 120)));
    assert_ne!(a.tag_search, b.tag_search);
    assert_eq!(
        a.facts_digest, b.facts_digest,
        "the search's summary makes no fact"
    );
    assert_ne!(
        a.facts_digest, c.facts_digest,
        "a tag's directory is a fact"
    );
    assert_ne!(
        a.facts_digest,
        read(&bytes(&host())).facts_digest,
        "with and without the index"
    );
}

#[test]
fn reading_since_the_same_digest_parses_no_fact_and_the_rest_alike() {
    let day1 = read(&bytes(&host()));
    let b = bytes(&next_day());
    let full = read(&b);
    let since = read_since(&b, &day1.facts_digest);
    assert!(since.facts_unchanged);
    assert!(since.installed_packages.is_empty() && since.swid_tags.is_empty());
    assert_eq!(since.facts_digest, full.facts_digest);
    assert_eq!(
        ScanPackage {
            installed_packages: full.installed_packages.clone(),
            swid_tags: full.swid_tags.clone(),
            facts_unchanged: false,
            ..since
        },
        full,
        "everything else is what a full reading gives"
    );

    // The same in a zip (read from an index, members by position).
    let p = next_day();
    let yml = p.computer().to_yaml().unwrap();
    let mut all: Vec<(&str, &[u8])> = vec![("computer.yml", yml.as_bytes())];
    all.extend(p.members());
    let zip = zip_of(&all);
    let zipped = read_scan_package_since(
        ArchiveKind::Zip,
        Cursor::new(&zip),
        &Limits::default(),
        Some(&day1.facts_digest),
    )
    .unwrap();
    assert!(zipped.facts_unchanged);
}

#[test]
fn reading_since_another_digest_is_a_full_reading() {
    let day1 = read(&bytes(&host()));
    let changed = variant(
        computer("test-endpoint-1"),
        |name, data| match name {
            "dpkg-status" => Some(without_stanza(data, "bash")),
            _ => Some(data.to_vec()),
        },
        &[],
    );
    let b = bytes(&changed);
    let since = read_since(&b, &day1.facts_digest);
    assert!(!since.facts_unchanged);
    assert_eq!(since.installed_packages.len(), 758);
    assert_eq!(since, read(&b), "the same as a plain reading");
}

// ---------------------------------------------------------------------------------------
// Format 4: the digest stated in computer.yml, the fact members last.

/// The members of a tar.gz package, in archive order (computer.yml included).
fn members_of(b: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(flate2::read::MultiGzDecoder::new(b));
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

/// A tar.gz of `members` as given (no reordering, no digest computed).
fn repack(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let raw: Vec<Raw<'_>> = members.iter().map(|(n, d)| Raw::File(n, d)).collect();
    raw_tar_gz(&raw)
}

fn is_fact(name: &str) -> bool {
    matches!(name, "dpkg-status" | "dpkg-query.tsv" | "rpm-qa.tsv") || name.ends_with(".swidtag")
}

/// `computer.yml`'s `Facts Digest` value.
fn stated(members: &[(String, Vec<u8>)]) -> Option<String> {
    assert_eq!(members[0].0, "computer.yml");
    let c = openlmt_scanpkg::ComputerInfo::parse(&String::from_utf8_lossy(&members[0].1)).unwrap();
    c.facts_digest
}

fn with_stated(members: &[(String, Vec<u8>)], value: &str) -> Vec<(String, Vec<u8>)> {
    let mut m = members.to_vec();
    let yml = String::from_utf8(m[0].1.clone()).unwrap();
    let line = yml
        .lines()
        .find(|l| l.starts_with("Facts Digest:"))
        .unwrap();
    m[0].1 = yml
        .replace(line, &format!("Facts Digest: {value}"))
        .into_bytes();
    m
}

#[test]
fn the_writer_states_the_digest_and_puts_the_fact_members_last() {
    // With a tag index and an rpm list added after the tags, and a capacity file after
    // the installed packages: the writer reorders, facts last, each group in its order.
    let mut c = computer("test-endpoint-1");
    c.facts_digest = Some(format!("1:{}", "0".repeat(64))); // replaced by the writer
    let index = br#"{"tags":[{"member":"isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag","directory":"/usr/share/swidtag"}]}"#;
    let p = variant(
        c,
        |name, d| (name != "lscpu.json").then(|| d.to_vec()),
        &[
            ("rpm-qa.tsv", common::read("packaging/rpm-qa.tsv")),
            ("isotag_scan/index.json", index.to_vec()),
            ("lscpu.json", common::read("hosts/debian12-vm/lscpu.json")),
        ],
    );
    let b = bytes(&p);
    let members = members_of(&b);
    let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    let first_fact = names.iter().position(|n| is_fact(n)).unwrap();
    assert_eq!(
        names[..first_fact],
        [
            "computer.yml",
            "cpuinfo",
            "isotag_scan/index.json",
            "lscpu.json"
        ]
    );
    let facts: Vec<&str> = p.members().map(|(n, _)| n).filter(|n| is_fact(n)).collect();
    assert_eq!(names[first_fact..], facts[..], "the facts in their order");
    assert_eq!(facts[0], "dpkg-status");
    assert_eq!(facts.last(), Some(&"rpm-qa.tsv"));

    // The stated digest is the one the reader computes (a wrong one is rejected).
    let pkg = read(&b);
    assert_eq!(pkg.computer.format_version, 4);
    assert_eq!(stated(&members), Some(pkg.facts_digest.to_stated()));
    assert_eq!(
        pkg.computer.facts_digest,
        Some(pkg.facts_digest.to_stated())
    );
    assert!(pkg.installed_packages.len() > 759, "dpkg and rpm");
    assert!(pkg.swid_tags.iter().any(|t| t.directory.is_some()));

    // The template (the benchmarks' writer) writes the same members and digest.
    let ev = openlmt_scanpkg::EvidenceSet::from_dir(&corpus(VM_DIR)).unwrap();
    let t = openlmt_scanpkg::ScanPackageTemplate::new(&ev).unwrap();
    let from_template = t.scan_package_bytes(&computer("test-endpoint-1")).unwrap();
    let tm = members_of(&from_template);
    assert_eq!(
        stated(&tm),
        Some(read(&bytes(&host())).facts_digest.to_stated())
    );
    assert_eq!(
        tm.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        members_of(&bytes(&host()))
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
    );
    let e = t
        .scan_package_bytes_with(
            &computer("test-endpoint-1"),
            &[("rpm-qa.tsv", b"bash\tx86_64\t5.2-1\n")],
        )
        .unwrap_err();
    assert!(e.to_string().contains("makes facts"), "{e}");
}

/// The day-2 package (other scan time and processor, same software), cut inside its
/// first fact member: the tar stream ends 100 bytes into `dpkg-status`'s data.
fn next_day_cut_in_its_facts() -> Vec<u8> {
    cut_inside(&bytes(&next_day()), "dpkg-status")
}

/// The tar.gz `whole` with its tar stream ending 100 bytes into member `member`'s data.
fn cut_inside(whole: &[u8], member: &str) -> Vec<u8> {
    let mut tar = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(whole), &mut tar).unwrap();
    let mut a = tar::Archive::new(&tar[..]);
    let at = a
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some(member))
        .unwrap()
        .raw_file_position();
    gzip(&tar[..at as usize + 100])
}

#[test]
fn a_package_stating_the_published_digest_is_not_read_past_its_first_fact_member() {
    let day1 = read(&bytes(&host()));
    let full = read(&bytes(&next_day()));
    let cut = next_day_cut_in_its_facts();
    let e =
        read_scan_package(ArchiveKind::TarGz, Cursor::new(&cut), &Limits::default()).err_short();
    assert!(e.to_string().starts_with("corrupt archive"), "{e}");
    // Read since the published digest, which it states: the cut is never reached.
    let since = read_since(&cut, &day1.facts_digest);
    assert!(since.facts_unchanged);
    assert_eq!(since.facts_digest, day1.facts_digest);
    assert_eq!(
        ScanPackage {
            installed_packages: full.installed_packages.clone(),
            swid_tags: full.swid_tags.clone(),
            facts_unchanged: false,
            ..since
        },
        full,
        "everything else is what a full reading of the whole package gives"
    );

    // Nor is a member the format forbids, after the facts (a link), nor a wrong stated
    // digest: what follows the first fact member is not looked at when unchanged.
    let mut m = members_of(&bytes(&next_day()));
    let with_link = {
        let raw: Vec<Raw<'_>> = m
            .iter()
            .map(|(n, d)| Raw::File(n, d))
            .chain([Raw::Symlink("isotag_scan/z.swidtag", "/etc/passwd")])
            .collect();
        raw_tar_gz(&raw)
    };
    let e = read_scan_package(
        ArchiveKind::TarGz,
        Cursor::new(&with_link),
        &Limits::default(),
    )
    .err_short();
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(read_since(&with_link, &day1.facts_digest).facts_unchanged);

    // The same in a zip, read from its index.
    m.truncate(m.iter().position(|(n, _)| n == "dpkg-status").unwrap() + 1);
    let lies: Vec<(&str, &[u8])> = m
        .iter()
        .map(|(n, d)| {
            (
                n.as_str(),
                if n == "dpkg-status" {
                    &b"not the host's"[..]
                } else {
                    &d[..]
                },
            )
        })
        .collect();
    let zip = zip_of(&lies);
    let e = read_scan_package(ArchiveKind::Zip, Cursor::new(&zip), &Limits::default()).err_short();
    assert!(
        matches!(
            e,
            openlmt_scanpkg::ScanPackageError::FactsDigestMismatch { .. }
        ),
        "{e}"
    );
    let since = read_scan_package_since(
        ArchiveKind::Zip,
        Cursor::new(&zip),
        &Limits::default(),
        Some(&day1.facts_digest),
    )
    .unwrap();
    assert!(since.facts_unchanged);
    assert_eq!(since.capacity, full.capacity);
}

#[test]
fn a_stated_digest_is_checked_whenever_the_facts_are_read() {
    let day1 = read(&bytes(&host()));
    let members = members_of(&bytes(&next_day()));
    let changed = read(&bytes(&variant(
        computer("test-endpoint-1"),
        |name, data| match name {
            "dpkg-status" => Some(without_stanza(data, "bash")),
            _ => Some(data.to_vec()),
        },
        &[],
    )));
    // The day-2 package stating another package's digest: rejected by a whole reading,
    // and by a reading since the published digest (it states another, so it is parsed).
    let wrong = repack(&with_stated(&members, &changed.facts_digest.to_stated()));
    for published in [None, Some(&day1.facts_digest)] {
        let e = read_scan_package_since(
            ArchiveKind::TarGz,
            Cursor::new(&wrong),
            &Limits::default(),
            published,
        )
        .err_short();
        assert_eq!(
            e.to_string(),
            format!(
                "computer.yml states the facts digest {} but the fact members' digest is {}: \
                 the package was changed after it was written, or its writer is faulty",
                changed.facts_digest.to_stated(),
                day1.facts_digest.to_stated()
            )
        );
    }
    // The trust it takes: stating the published digest, its facts are not read.
    let since = read_since(&wrong, &changed.facts_digest);
    assert!(since.facts_unchanged && since.installed_packages.is_empty());

    // A digest of another version is neither trusted nor checked: the facts are read.
    let other = repack(&with_stated(
        &members,
        &format!("2:{}", day1.facts_digest.to_hex()),
    ));
    let p = read(&other);
    assert_eq!(p.installed_packages.len(), 759);
    assert!(
        p.notes.iter().any(|n| n.contains("is of another version")),
        "{:?}",
        p.notes
    );
    let since = read_since(&other, &day1.facts_digest);
    assert!(since.facts_unchanged, "hashed, the same facts");
    assert!(
        read_scan_package_since(
            ArchiveKind::TarGz,
            Cursor::new(&next_day_cut_in_its_facts()),
            &Limits::default(),
            Some(&changed.facts_digest),
        )
        .is_err(),
        "stating another digest than the published one: read whole"
    );
}

#[test]
fn a_stating_package_keeps_its_members_in_the_formats_order() {
    let members = members_of(&bytes(&next_day()));
    let full = read(&bytes(&next_day()));
    // cpuinfo (the only capacity file of the day-2 package) moved after the facts: it
    // is ignored, by every reading (one that stops at the first fact never sees it).
    let mut moved = members.clone();
    let cpu = moved.remove(moved.iter().position(|(n, _)| n == "cpuinfo").unwrap());
    moved.push(cpu);
    let moved = repack(&moved);
    let e =
        read_scan_package(ArchiveKind::TarGz, Cursor::new(&moved), &Limits::default()).err_short();
    assert_eq!(
        e.to_string(),
        "missing capacity evidence: need at least one of cpuinfo, lscpu.json, dmidecode.txt"
    );
    assert_eq!(
        read_scan_package_since(
            ArchiveKind::TarGz,
            Cursor::new(&moved),
            &Limits::default(),
            Some(&full.facts_digest)
        )
        .err_short()
        .to_string(),
        e.to_string()
    );
    // An unknown member there: ignored with a note, the package read as it was.
    let mut extra = members.clone();
    extra.push((
        "os-release".into(),
        common::read("hosts/debian12-vm/os-release"),
    ));
    let p = read(&repack(&extra));
    assert!(p.notes.contains(
        &"ignored os-release: it follows the fact members, which a package stating its facts \
          digest has last"
            .to_string()
    ));
    assert_eq!(p.installed_packages, full.installed_packages);
    // computer.yml after a fact member, stating a digest: rejected.
    let mut late = members.clone();
    let yml = late.remove(0);
    late.insert(
        late.iter().position(|(n, _)| n == "dpkg-status").unwrap() + 1,
        yml,
    );
    let e = read_scan_package(
        ArchiveKind::TarGz,
        Cursor::new(&repack(&late)),
        &Limits::default(),
    )
    .err_short();
    assert!(
        e.to_string()
            .contains("states a facts digest but comes after the fact member `dpkg-status`"),
        "{e}"
    );
}

#[test]
fn a_package_of_an_earlier_format_reads_as_before() {
    let day1 = read(&bytes(&host()));
    let mut c = computer("test-endpoint-1");
    c.format_version = 3;
    c.facts_digest = Some(day1.facts_digest.to_stated());
    let mut p = BuiltScanPackage::new(c);
    for (name, data) in next_day().members() {
        p.add_member(name, data.to_vec());
    }
    let b = bytes(&p);
    let members = members_of(&b);
    assert!(stated(&members).is_none(), "format 3 states no digest");
    // A `Facts Digest` key in format 3 is an unknown key, whatever its value.
    let mut odd = members.clone();
    odd[0].1.extend_from_slice(b"Facts Digest: not one\n");
    let full = read(&repack(&odd));
    assert_eq!(full.computer.facts_digest, None);
    assert_eq!(full.facts_digest, day1.facts_digest);
    assert_eq!(full.installed_packages.len(), 759);
    // Read since the published digest: hashed, not parsed; and read to its end.
    assert!(read_since(&b, &day1.facts_digest).facts_unchanged);
    let last = members.last().unwrap().0.clone();
    assert!(last.ends_with(".swidtag"));
    let cut = cut_inside(&b, &last);
    assert!(read_scan_package_since(
        ArchiveKind::TarGz,
        Cursor::new(&cut),
        &Limits::default(),
        Some(&day1.facts_digest)
    )
    .is_err());
}
