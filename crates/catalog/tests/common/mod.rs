//! Shared helpers for the integration tests: the real corpus in `shared/corpus` (see its
//! README), read with openlmt-scanpkg's parsers and turned into matcher facts.
#![allow(dead_code, unused_imports)]

use std::fs;
use std::path::Path;

use openlmt_catalog::{ComputerFacts, InstalledPackage, PackageDb, SwidTagFact};
use openlmt_scanpkg::packages::{parse_dpkg_query_tsv, parse_dpkg_status, parse_rpm_qa_tsv};
use openlmt_scanpkg::PackageManager;

pub use openlmt_scanpkg::test_corpus::{corpus, read, read_text};

pub fn installed(p: openlmt_scanpkg::InstalledPackage) -> InstalledPackage {
    InstalledPackage {
        source: match p.source {
            PackageManager::Dpkg => PackageDb::Dpkg,
            PackageManager::Rpm => PackageDb::Rpm,
        },
        name: p.name,
        version: p.version,
        architecture: p.architecture,
        vendor: p.vendor,
    }
}

/// The installed packages of the corpus Debian 12 host (`dpkg-status`).
pub fn debian_host_packages() -> Vec<InstalledPackage> {
    parse_dpkg_status(&read_text("hosts/debian12-vm/dpkg-status"))
        .into_iter()
        .map(installed)
        .collect()
}

/// The installed packages of a corpus `.tsv` listing, read by `parse`.
fn tsv_packages(
    rel: &str,
    parse: fn(&str, &mut Vec<String>) -> Vec<openlmt_scanpkg::InstalledPackage>,
) -> Vec<InstalledPackage> {
    let mut notes = Vec::new();
    parse(&read_text(rel), &mut notes)
        .into_iter()
        .map(installed)
        .collect()
}

pub fn dpkg_query_packages() -> Vec<InstalledPackage> {
    tsv_packages("packaging/dpkg-query.tsv", parse_dpkg_query_tsv)
}

pub fn rpm_qa_packages() -> Vec<InstalledPackage> {
    tsv_packages("packaging/rpm-qa.tsv", parse_rpm_qa_tsv)
}

/// `Meta/@persistentId` of a 2015 tag (openlmt-scanpkg does not keep it yet).
pub fn persistent_id(xml: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut r = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match r.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"Meta" => {
                for a in e.attributes().flatten() {
                    if a.key.local_name().as_ref() == b"persistentId" {
                        return Some(String::from_utf8_lossy(&a.value).into_owned());
                    }
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// A SWID tag file of the corpus as a matcher fact, with its directory.
pub fn swid_fact(rel: &str) -> SwidTagFact {
    let bytes = read(rel);
    let tag = openlmt_scanpkg::swid::parse_swidtag(&bytes).unwrap();
    SwidTagFact {
        regid: tag.regid,
        persistent_id: persistent_id(&bytes),
        tag_id: tag.tag_id,
        name: tag.name,
        version: tag.version,
        directory: Path::new(rel).parent().map(|d| d.display().to_string()),
    }
}

/// Every `.swidtag` in a corpus directory, sorted by file name.
pub fn swid_dir(rel: &str) -> Vec<SwidTagFact> {
    let mut names: Vec<String> = fs::read_dir(corpus(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swidtag"))
        .collect();
    names.sort();
    names
        .iter()
        .map(|n| swid_fact(&format!("{rel}/{n}")))
        .collect()
}

pub fn facts(
    installed_packages: Vec<InstalledPackage>,
    swid_tags: Vec<SwidTagFact>,
) -> ComputerFacts {
    ComputerFacts {
        installed_packages,
        swid_tags,
    }
}
