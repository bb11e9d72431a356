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
