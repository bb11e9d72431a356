//! The scan package reader and the parsers it applies to members.
//!
//! Every input goes through both archive kinds (`read_scan_package` must return, never
//! panic, and never use more than the small limits below allow; a rejection is one line),
//! and through the zip index check. Then its first byte picks one member parser, which gets
//! the rest: so the seeds are whole real packages (`make-seeds` writes them) and single
//! real members prefixed with their parser's number.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use openlmt_scanpkg::capacity::{self, Evidence};
use openlmt_scanpkg::{packages, swid, ComputerInfo};
use openlmt_scanpkg::{read_scan_package, read_scan_package_since, ArchiveKind, Limits};

/// The member parsers, in the order of the selector byte (`make-seeds` uses the same).
const MEMBERS: [&str; 8] = [
    "computer.yml",
    "cpuinfo",
    "lscpu.json",
    "dmidecode.txt",
    "dpkg-status",
    "dpkg-query.tsv",
    "rpm-qa.tsv",
    "isotag_scan/*.swidtag",
];

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total_uncompressed: 8 * 1024 * 1024,
        max_members: 1_000,
        max_member_size: 1024 * 1024,
    };
    // The zip index check alone: whatever it accepts is within the limits.
    if let Ok(ix) = openlmt_scanpkg::zip_index::check_zip_index(&mut Cursor::new(data), &limits) {
        assert!(ix.entries <= u64::from(limits.max_members));
        assert!(ix.end <= data.len() as u64);
    }
    for kind in [ArchiveKind::TarGz, ArchiveKind::Zip] {
        match read_scan_package(kind, Cursor::new(data), &limits) {
            Ok(p) => {
                // A package read is one the importer can take: its computer.yml renders
                // and reads back the same.
                let yml = p
                    .computer
                    .to_yaml()
                    .expect("computer.yml of a read package renders");
                assert_eq!(ComputerInfo::parse(&yml).as_ref(), Ok(&p.computer));
                // Read again since its own digest (the daily re-import of an unchanged
                // computer; a package stating it stops at its first fact member): its
                // facts are unchanged and the rest is what the whole reading gave.
                let since =
                    read_scan_package_since(kind, Cursor::new(data), &limits, Some(&p.facts_digest))
                        .expect("a package read whole reads since its own digest");
                assert!(since.facts_unchanged);
                assert_eq!(since.facts_digest, p.facts_digest);
                assert_eq!(since.computer, p.computer);
                assert_eq!(since.capacity, p.capacity);
                assert_eq!(since.vm_manager, p.vm_manager);
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.is_empty() && !msg.contains('\n'),
                    "bad message: {msg:?}"
                );
            }
        }
    }

    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut notes = Vec::new();
    match MEMBERS[usize::from(selector) % MEMBERS.len()] {
        "computer.yml" => {
            // `to_yaml` round-trips through `parse` (its documented contract).
            if let Ok(c) = ComputerInfo::parse(&text) {
                let yml = c.to_yaml().expect("a parsed computer.yml renders");
                assert_eq!(ComputerInfo::parse(&yml), Ok(c));
            }
        }
        "cpuinfo" => {
            let ev = capacity::parse_cpuinfo(&text);
            let _ = capacity::derive_capacity(
                Evidence {
                    cpuinfo: Some(&ev),
                    lscpu: None,
                    dmidecode: None,
                    product_uuid: None,
                },
                &mut notes,
            );
        }
        "lscpu.json" => {
            if let Ok(ev) = capacity::parse_lscpu_json(&text) {
                let _ = capacity::derive_capacity(
                    Evidence {
                        cpuinfo: None,
                        lscpu: Some(&ev),
                        dmidecode: None,
                        product_uuid: None,
                    },
                    &mut notes,
                );
            }
        }
        "dmidecode.txt" => {
            let ev = capacity::parse_dmidecode(&text);
            let _ = capacity::derive_capacity(
                Evidence {
                    cpuinfo: None,
                    lscpu: None,
                    dmidecode: Some(&ev),
                    product_uuid: Some(&text),
                },
                &mut notes,
            );
        }
        "dpkg-status" => {
            let _ = packages::parse_dpkg_status(&text);
        }
        "dpkg-query.tsv" => {
            let _ = packages::parse_dpkg_query_tsv(&text, &mut notes);
        }
        "rpm-qa.tsv" => {
            let _ = packages::parse_rpm_qa_tsv(&text, &mut notes);
        }
        _ => {
            if let Err(why) = swid::parse_swidtag(rest) {
                assert!(!why.is_empty());
            }
        }
    }
});
