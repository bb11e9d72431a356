//! Processor identification and UUID handling on every real capture in `shared/corpus/`
//! (cpuinfo, lscpu, dmidecode, virsh) and on the ILMT sample's brand strings and UUIDs. The
//! files are read at test time; a missing file fails the test.

mod common;

use std::collections::BTreeSet;

use common::*;
use openlmt_licensing::processor::{identify, CpuVendor};
use openlmt_licensing::SmbiosUuid;

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn list(dir: &str) -> Vec<std::path::PathBuf> {
    let d = shared(dir);
    let mut v: Vec<_> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

fn read(p: &std::path::Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Every processor brand string in the corpus.
fn corpus_brands() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut cpuinfo_files = list("corpus/cpuinfo");
    cpuinfo_files.push(shared("corpus/hosts/debian12-vm/cpuinfo"));
    for f in cpuinfo_files {
        for line in read(&f).lines() {
            if let Some((k, v)) = line.split_once(':') {
                let k = k.trim();
                if k == "model name" || k == "cpu" {
                    out.insert(squash(v));
                }
            }
        }
    }
    let lscpu = read(&shared("corpus/hosts/debian12-vm/lscpu.json"));
    let mut next_is_model = false;
    for line in lscpu.lines() {
        if line.contains("\"Model name:\"") {
            next_is_model = true;
        } else if next_is_model {
            if let Some((_, v)) = line.split_once("\"data\":") {
                out.insert(squash(v.trim().trim_end_matches(',').trim_matches('"')));
            }
            next_is_model = false;
        }
    }
    for f in list("corpus/dmidecode") {
        let mut in_proc = false;
        for line in read(&f).lines() {
            if line.starts_with("Handle") {
                in_proc = false;
            }
            if line.trim() == "Processor Information" {
                in_proc = true;
            }
            if in_proc {
                if let Some(v) = line.trim().strip_prefix("Version:") {
                    let v = squash(v);
                    if !v.is_empty() && v != "Not Specified" {
                        out.insert(v);
                    }
                }
            }
        }
    }
    out
}

/// (brand, family, line, model number, plain model number, version, identified)
type Expect = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<u32>,
    Option<u32>,
    Option<u32>,
    bool,
);

const EXPECTED: &[Expect] = &[
    (
        "Intel(R) Core(TM) i3 CPU M 350 @ 2.27GHz",
        Some("Core"),
        Some("i3"),
        None,
        None,
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5620 @ 2.40GHz",
        Some("Xeon"),
        None,
        Some(5620),
        Some(5620),
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5504 @ 2.00GHz",
        Some("Xeon"),
        None,
        Some(5504),
        Some(5504),
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E7520 @ 1.87GHz",
        Some("Xeon"),
        None,
        Some(7520),
        Some(7520),
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) Processor",
        Some("Xeon"),
        None,
        None,
        None,
        None,
        true,
    ),
    (
        "ARMv7 Processor rev 4 (v7l)",
        None,
        None,
        None,
        None,
        None,
        false,
    ),
    ("604r", None, None, None, None, None, false),
    (
        "Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz",
        Some("Xeon"),
        Some("Gold"),
        Some(6244),
        None,
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2640 0 @ 2.50GHz",
        Some("Xeon"),
        Some("E5"),
        Some(2640),
        None,
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2660 v2 @ 2.20GHz",
        Some("Xeon"),
        Some("E5"),
        Some(2660),
        None,
        Some(2),
        true,
    ),
    // The ILMT sample (shared/reference/pvu/ilmt_sample_server_rows.csv).
    (
        "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz",
        Some("Xeon"),
        None,
        Some(5540),
        Some(5540),
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        Some("Xeon"),
        Some("Gold"),
        Some(6130),
        None,
        None,
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2683 v4 @ 2.10GHz",
        Some("Xeon"),
        Some("E5"),
        Some(2683),
        None,
        Some(4),
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E5-2697 v2 @ 2.70GHz",
        Some("Xeon"),
        Some("E5"),
        Some(2697),
        None,
        Some(2),
        true,
    ),
    (
        "Intel(R) Xeon(R) CPU E7-8880 v4 @ 2.20GHz",
        Some("Xeon"),
        Some("E7"),
        Some(8880),
        None,
        Some(4),
        true,
    ),
    // The brief's examples.
    (
        "Intel(R) Xeon(R) CPU X5650 @ 2.67GHz",
        Some("Xeon"),
        None,
        Some(5650),
        Some(5650),
        None,
        true,
    ),
];

fn sample_brands() -> BTreeSet<String> {
    let text = read_shared("reference/pvu/ilmt_sample_server_rows.csv");
    let mut out = BTreeSet::new();
    for line in text.lines().skip(1) {
        for cell in line.split(',') {
            if cell.starts_with("Intel(R) Xeon(R) CPU") || cell.starts_with("Intel(R) Xeon(R) Gold")
            {
                out.insert(squash(cell));
            }
        }
    }
    out
}

#[test]
fn every_corpus_and_sample_brand_is_identified_as_expected() {
    let mut brands = corpus_brands();
    let sample = sample_brands();
    assert!(sample.len() >= 4, "{sample:?}");
    brands.extend(sample);
    assert!(brands.len() >= 10, "{brands:?}");
    for must in [
        "Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz",
        "Intel(R) Xeon(R) CPU E5-2660 v2 @ 2.20GHz",
        "Intel(R) Xeon(R) CPU E5-2640 0 @ 2.50GHz",
        "Intel(R) Xeon(R) CPU E7520 @ 1.87GHz",
        "Intel(R) Xeon(R) Processor",
        "ARMv7 Processor rev 4 (v7l)",
        "604r",
        "Intel(R) Xeon(R) CPU E5-2697 v2 @ 2.70GHz",
    ] {
        assert!(brands.contains(must), "{must} not found in {brands:?}");
    }
    for b in &brands {
        let e = EXPECTED
            .iter()
            .find(|e| squash(e.0) == *b)
            .unwrap_or_else(|| panic!("brand string without an expectation: {b:?}"));
        let vendor = if b.starts_with("Intel") {
            Some("GenuineIntel")
        } else {
            None
        };
        let p = identify(vendor, Some(b));
        assert_eq!(p.family.as_deref(), e.1, "{b}");
        assert_eq!(p.line.as_deref(), e.2, "{b}");
        assert_eq!(p.model_number, e.3, "{b}");
        assert_eq!(p.plain_model_number, e.4, "{b}");
        assert_eq!(p.version, e.5, "{b}");
        assert_eq!(p.is_identified(), e.6, "{b}");
    }
    // The ARM board and the PowerPC 604r: vendor read, family not.
    assert_eq!(
        identify(Some("ARM"), Some("ARMv7 Processor rev 4 (v7l)")).vendor,
        CpuVendor::Arm
    );
    assert!(!identify(Some("IBM"), Some("604r")).is_identified());
}

/// Every UUID in the corpus captures and the ILMT sample.
fn corpus_uuids() -> Vec<String> {
    let mut out = Vec::new();
    for f in list("corpus/dmidecode") {
        for line in read(&f).lines() {
            if let Some(v) = line.trim().strip_prefix("UUID:") {
                out.push(v.trim().to_string());
            }
        }
    }
    for f in list("corpus/virsh") {
        for line in read(&f).lines() {
            let l = line.trim();
            if let Some(v) = l
                .strip_prefix("<uuid>")
                .and_then(|v| v.strip_suffix("</uuid>"))
            {
                out.push(v.to_string());
            }
        }
    }
    let sample = read_shared("reference/pvu/ilmt_sample_server_rows.csv");
    for line in sample.lines().skip(1) {
        let name = line.split(',').next().unwrap_or("");
        if let Some(u) = name
            .strip_prefix("TLM_VM_")
            .or_else(|| name.strip_prefix("IBM SoftLayer "))
        {
            out.push(u.to_string());
        }
    }
    out
}

#[test]
fn every_corpus_uuid_parses_in_both_byte_orders() {
    let uuids = corpus_uuids();
    assert!(uuids.len() >= 12, "{uuids:?}");
    for s in &uuids {
        let u = SmbiosUuid::parse(s).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.canonical(), s.to_ascii_lowercase());
        assert_eq!(
            SmbiosUuid::parse(&format!("{{{}}}", s.to_ascii_uppercase())),
            Ok(u)
        );
        let w = u.swapped();
        assert_eq!(w.swapped(), u);
        assert!(u.matches(&w) && w.matches(&u));
        assert_eq!(u.match_key(), w.match_key());
        // The last two groups never move.
        assert_eq!(&u.canonical()[18..], &w.canonical()[18..]);
    }
}

#[test]
fn known_swaps() {
    // VMware guest in shared/corpus/dmidecode/rhel-6.2-vmware-2vcpus.
    let u = uuid("421BBABD-5F4E-AF7E-3A56-B5AF1CE1A977");
    assert_eq!(
        u.swapped().canonical(),
        "bdba1b42-4e5f-7eaf-3a56-b5af1ce1a977"
    );
    // ILMT sample's VMware-style TLM_VM uuid.
    let u = uuid("42149365-eff8-7207-c1ee-dc2f0e0994ae");
    assert_eq!(
        u.swapped().canonical(),
        "65931442-f8ef-0772-c1ee-dc2f0e0994ae"
    );
    // Dashes optional; malformed inputs rejected.
    assert_eq!(SmbiosUuid::parse("42149365eff87207c1eedc2f0e0994ae"), Ok(u));
    for bad in [
        "",
        "{42149365-eff8-7207-c1ee-dc2f0e0994ae",
        "42149365-eff8-7207-c1ee-dc2f0e0994a",
        "g2149365-eff8-7207-c1ee-dc2f0e0994ae",
        "4214-9365eff8-7207-c1ee-dc2f0e0994ae",
        "ééééééééééééééééé-eff8",
    ] {
        assert!(SmbiosUuid::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_virsh_domain_matches_its_guest_scan_in_the_other_byte_order() {
    use openlmt_licensing::aggregate::{compute_snapshot, Metric, ServerKind};
    let virsh = read(&shared("corpus/virsh/dumpxml1"));
    let vm_manager_uuid = virsh
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("<uuid>")
                .and_then(|v| v.strip_suffix("</uuid>"))
        })
        .expect("uuid in dumpxml1");
    let vcpus: u32 = virsh
        .lines()
        .find_map(|l| {
            let l = l.trim();
            let start = l.find("<vcpu")?;
            let rest = &l[start..];
            let open_end = rest.find('>')?;
            let close = rest.find("</vcpu>")?;
            rest[open_end + 1..close].parse().ok()
        })
        .expect("vcpu in dumpxml1");
    let from_manager = uuid(vm_manager_uuid);
    // The guest's own dmidecode would show it byte-swapped (SMBIOS < 2.6 reading).
    let from_guest = from_manager.swapped();
    let t = at(1, 0);
    let s = snapshot(
        t,
        vec![
            host(1, "kvm-host", 16, "Intel(R) Xeon(R) CPU E5620 @ 2.40GHz", 2),
            vm(2, "guest", from_guest, vcpus),
        ],
        vec![place(1, from_manager, Some(vcpus), t)],
        vec![charge(1, Metric::Pvu, 2)],
    );
    let usage = compute_snapshot(&openlmt_licensing::PvuTable::bundled(), &s);
    assert!(usage
        .values
        .iter()
        .all(|v| v.explanation.kind == ServerKind::Physical));
    assert!(usage.values[0].explanation.members[0]
        .why
        .contains("byte-swapped"));
}
