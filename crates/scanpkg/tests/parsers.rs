//! Every parser against the real corpus files, with expected values read off those files
//! (the comment above each assertion says where the number comes from).

mod common;

use common::*;
use openlmt_scanpkg::capacity::{
    derive_capacity, parse_cpuinfo, parse_dmidecode, parse_lscpu_json, Evidence,
};
use openlmt_scanpkg::packages::{parse_dpkg_query_tsv, parse_dpkg_status, parse_rpm_qa_tsv};
use openlmt_scanpkg::swid::parse_swidtag;
use openlmt_scanpkg::{Capacity, PackageManager, SwidSchema};

/// The capacity derived from `ev`, with the notes the derivation wrote.
fn capacity(ev: Evidence<'_>) -> (Capacity, Vec<String>) {
    let mut notes = Vec::new();
    let c = derive_capacity(ev, &mut notes).unwrap();
    (c, notes)
}

fn cap_from_cpuinfo(rel: &str) -> Capacity {
    let ev = parse_cpuinfo(&read_text(rel));
    capacity(Evidence {
        cpuinfo: Some(&ev),
        ..Evidence::default()
    })
    .0
}

#[test]
fn corpus_is_where_the_tests_expect_it() {
    assert!(
        corpus("README.md").is_file(),
        "corpus not found at {CORPUS}; CI must have shared/ beside the checkout"
    );
}

#[test]
fn cpuinfo_hp_dl180() {
    // 3 `processor` entries, all `physical id : 1`, `cpu cores : 4`, `siblings : 4`:
    // one socket whose package reports 4 cores / 4 logical CPUs (one is not listed).
    let c = cap_from_cpuinfo("cpuinfo/linux-hp-dl180");
    assert_eq!(c.vendor.as_deref(), Some("GenuineIntel"));
    assert_eq!(
        c.brand.as_deref(),
        Some("Intel(R) Xeon(R) CPU E5504 @ 2.00GHz")
    );
    assert_eq!(c.model.as_deref(), Some("Xeon E5504"));
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(4), Some(4)));
    assert!(!c.is_virtual);
}

#[test]
fn cpuinfo_rhel_5_6_two_socket_hyperthreading() {
    // 16 processors, physical id 0 and 1 (8 each), cpu cores 4, siblings 8.
    let c = cap_from_cpuinfo("cpuinfo/rhel-5.6");
    assert_eq!(c.model.as_deref(), Some("Xeon E5620"));
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(8), Some(16)));
    assert!(!c.is_virtual);
}

#[test]
fn cpuinfo_rhel_6_2_vmware_guest() {
    // 2 processors, no physical id / core id / cpu cores; `hypervisor` in flags.
    let c = cap_from_cpuinfo("cpuinfo/rhel-6.2-vmware-2vcpus");
    assert_eq!(c.model.as_deref(), Some("Xeon E7520"));
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(2), Some(2)));
    assert!(c.is_virtual);
    assert_eq!(
        c.hypervisor, None,
        "cpuinfo alone does not name the hypervisor"
    );
}

#[test]
fn cpuinfo_toshiba_laptop() {
    // 4 processors, physical id 0, core id 0 and 2, cpu cores 2, siblings 4.
    let c = cap_from_cpuinfo("cpuinfo/toshiba-r630-2-core");
    assert_eq!(c.model.as_deref(), Some("Core i3 M 350"));
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(2), Some(4)));
    assert!(!c.is_virtual);
}

#[test]
fn cpuinfo_raspberry_pi_3() {
    // 4 processors, no physical id, CPU implementer 0x41 (ARM), CPU part 0xd03 (Cortex-A53).
    let c = cap_from_cpuinfo("cpuinfo/linux-raspberry-pi-3-model-b");
    assert_eq!(c.vendor.as_deref(), Some("ARM"));
    assert_eq!(c.brand.as_deref(), Some("ARMv7 Processor rev 4 (v7l)"));
    assert_eq!(c.model.as_deref(), Some("Cortex-A53"));
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(4), Some(4)));
    assert!(!c.is_virtual);
}

#[test]
fn cpuinfo_powerpc() {
    // One processor, `cpu : 604r`, PReP machine.
    let c = cap_from_cpuinfo("cpuinfo/linux-ppc-1");
    assert_eq!(c.vendor.as_deref(), Some("IBM"));
    assert_eq!(c.brand.as_deref(), Some("604r"));
    assert_eq!(c.model.as_deref(), Some("604r"));
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(1), Some(1)));
}

#[test]
fn cpuinfo_debian12_vm() {
    // 2 processors, physical id 0, cpu cores 2, siblings 2, `hypervisor` flag.
    let c = cap_from_cpuinfo("hosts/debian12-vm/cpuinfo");
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(2), Some(2)));
    assert!(c.is_virtual);
    // "Intel(R) Xeon(R) Processor" names no model number: the model is the brand.
    assert_eq!(c.model.as_deref(), Some("Intel(R) Xeon(R) Processor"));
}

#[test]
fn lscpu_debian12_vm() {
    // CPU(s) 2, Socket(s) 1, Core(s) per socket 2, Thread(s) per core 1, Hypervisor vendor KVM.
    let ev = parse_lscpu_json(&read_text("hosts/debian12-vm/lscpu.json")).unwrap();
    assert_eq!(ev.vendor.as_deref(), Some("GenuineIntel"));
    assert_eq!(ev.brand.as_deref(), Some("Intel(R) Xeon(R) Processor"));
    assert_eq!(
        (ev.sockets, ev.cores, ev.threads),
        (Some(1), Some(2), Some(2))
    );
    assert_eq!(ev.is_virtual, Some(true));
    assert_eq!(ev.hypervisor.as_deref(), Some("KVM"));
}

#[test]
fn lscpu_json_errors_are_reasons() {
    let text = read_text("hosts/debian12-vm/lscpu.json");
    let cut = &text[..text.len() / 2];
    assert!(parse_lscpu_json(cut)
        .unwrap_err()
        .starts_with("invalid JSON"));
    assert!(parse_lscpu_json("{}").is_err());
}

#[test]
fn dmidecode_dell_r640() {
    // Dell Inc. / PowerEdge R640; 2 × "Populated, Enabled", Core Enabled 8, Thread Count 16.
    let d = parse_dmidecode(&read_text("dmidecode/dell-r640"));
    assert_eq!(d.system_manufacturer.as_deref(), Some("Dell Inc."));
    assert_eq!(d.system_product.as_deref(), Some("PowerEdge R640"));
    assert_eq!(d.cpu.is_virtual, Some(false));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(2), Some(16), Some(32))
    );
    assert_eq!(d.cpu.vendor.as_deref(), Some("GenuineIntel"));
    let (c, _) = capacity(Evidence {
        dmidecode: Some(&d),
        ..Evidence::default()
    });
    assert_eq!(c.model.as_deref(), Some("Xeon Gold 6244"));
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(16), Some(32)));
}

#[test]
fn dmidecode_hp_dl180_physical() {
    // HP / ProLiant DL180 G6; Proc 1 populated (4 cores / 4 threads), Proc 2 Unpopulated.
    let d = parse_dmidecode(&read_text("dmidecode/hp-dl180"));
    assert_eq!(d.system_manufacturer.as_deref(), Some("HP"));
    assert_eq!(d.system_product.as_deref(), Some("ProLiant DL180 G6"));
    assert_eq!(d.cpu.is_virtual, Some(false));
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(4), Some(4))
    );
    // Combined with the same machine's cpuinfo: physical, socket count from dmidecode.
    let cpu = parse_cpuinfo(&read_text("cpuinfo/linux-hp-dl180"));
    let (c, notes) = capacity(Evidence {
        cpuinfo: Some(&cpu),
        dmidecode: Some(&d),
        ..Evidence::default()
    });
    assert_eq!(
        (c.sockets, c.cores, c.threads, c.is_virtual),
        (1, Some(4), Some(4), false)
    );
    assert!(notes
        .iter()
        .any(|n| n.contains("sockets from dmidecode.txt")));
}

#[test]
fn dmidecode_rhel_6_2_vmware_guest() {
    // VMware, Inc. / VMware Virtual Platform; 64 sockets listed, 2 "Populated, Enabled".
    let d = parse_dmidecode(&read_text("dmidecode/rhel-6.2-vmware-2vcpus"));
    assert_eq!(d.cpu.is_virtual, Some(true));
    assert_eq!(d.cpu.hypervisor.as_deref(), Some("VMware"));
    assert_eq!(d.cpu.sockets, Some(2));
    let cpu = parse_cpuinfo(&read_text("cpuinfo/rhel-6.2-vmware-2vcpus"));
    let (c, _) = capacity(Evidence {
        cpuinfo: Some(&cpu),
        dmidecode: Some(&d),
        ..Evidence::default()
    });
    assert!(c.is_virtual);
    assert_eq!(c.hypervisor.as_deref(), Some("VMware"));
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(2), Some(2)));
}

#[test]
fn dmidecode_vmware_esx_2_5_old_layout() {
    // dmidecode 2.0 layout: "System Information Block / Vendor: VMware, Inc. / Product:
    // VMware Virtual Platform"; one processor with a real manufacturer, the rest zeros.
    let d = parse_dmidecode(&read_text("dmidecode/vmware-esx-2.5"));
    assert_eq!(d.system_manufacturer.as_deref(), Some("VMware, Inc."));
    assert_eq!(d.system_product.as_deref(), Some("VMware Virtual Platform"));
    assert_eq!(d.cpu.is_virtual, Some(true));
    assert_eq!(d.cpu.hypervisor.as_deref(), Some("VMware"));
    assert_eq!(d.cpu.sockets, Some(1));
    assert_eq!(d.cpu.brand.as_deref(), Some("Pentium(R) III"));
    // No Core Count / Thread Count in a dmidecode 2.0 table, and `Pentium(R) III` names
    // no count: unknown, not 1. 8 processor records.
    assert_eq!((d.cpu.cores, d.cpu.threads), (None, None));
    assert_eq!(d.socket_slots, Some(8));
}

#[test]
fn lscpu_beats_cpuinfo_and_names_hypervisor() {
    let cpu = parse_cpuinfo(&read_text("hosts/debian12-vm/cpuinfo"));
    let ls = parse_lscpu_json(&read_text("hosts/debian12-vm/lscpu.json")).unwrap();
    let (c, notes) = capacity(Evidence {
        cpuinfo: Some(&cpu),
        lscpu: Some(&ls),
        dmidecode: None,
        product_uuid: None,
    });
    assert!(c.is_virtual);
    assert_eq!(c.hypervisor.as_deref(), Some("KVM"));
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(2), Some(2)));
    assert!(notes[0].contains("threads from lscpu.json"));
}

#[test]
fn dpkg_status_759_installed() {
    // grep -c '^Status: install ok installed' dpkg-status → 759
    let p = parse_dpkg_status(&read_text("hosts/debian12-vm/dpkg-status"));
    assert_eq!(p.len(), 759);
    let adduser = p.iter().find(|f| f.name == "adduser").unwrap();
    assert_eq!(adduser.version, "3.134");
    assert_eq!(adduser.architecture.as_deref(), Some("all"));
    assert_eq!(
        adduser.vendor.as_deref(),
        Some("Debian Adduser Developers <adduser@packages.debian.org>")
    );
    assert_eq!(adduser.source, PackageManager::Dpkg);
    assert_eq!(adduser.source.as_str(), "dpkg");
}

#[test]
fn dpkg_query_tsv_rows() {
    // 17 lines; `vlc-nox` has a sixth column "deinstall ok config-files" → 16 installed.
    let mut notes = Vec::new();
    let p = parse_dpkg_query_tsv(&read_text("packaging/dpkg-query.tsv"), &mut notes);
    assert_eq!(p.len(), 16);
    assert!(notes.is_empty());
    assert!(!p.iter().any(|f| f.name == "vlc-nox"));
    let apache = p.iter().find(|f| f.name == "apache2").unwrap();
    assert_eq!(apache.version, "2.2.16-6+squeeze6");
    assert_eq!(apache.architecture.as_deref(), Some("amd64"));
    // jcagent has an empty Installed-Size column but is installed.
    assert!(p
        .iter()
        .any(|f| f.name == "jcagent" && f.version == "0.24.2"));
}

#[test]
fn rpm_qa_tsv_rows() {
    // 10 lines, all with 8 columns.
    let mut notes = Vec::new();
    let p = parse_rpm_qa_tsv(&read_text("packaging/rpm-qa.tsv"), &mut notes);
    assert_eq!(p.len(), 10);
    assert!(notes.is_empty());
    assert_eq!(p[0].name, "libpciaccess0");
    assert_eq!(p[0].version, "0.12.1-1.mga1");
    assert_eq!(p[0].architecture.as_deref(), Some("i586"));
    assert_eq!(p[0].vendor.as_deref(), Some("Mageia.Org"));
    assert_eq!(p[0].source.as_str(), "rpm");
    let last = p.last().unwrap();
    assert_eq!(last.name, "perl-Gtk2-ImageView");
    assert_eq!(last.vendor.as_deref(), Some("Mageia"));
}

#[test]
fn all_759_swidtags_parse() {
    let dir = corpus("hosts/debian12-vm/isotag_scan");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let bytes = std::fs::read(e.path()).unwrap();
        let t = parse_swidtag(&bytes).unwrap_or_else(|err| panic!("{}: {err}", e.path().display()));
        assert_eq!(t.schema, SwidSchema::Iso2015);
        assert_eq!(t.regid.as_deref(), Some("debian.org"));
        assert_eq!(t.vendor.as_deref(), Some("strongSwan Project"));
        // swid_generator writes no persistentId (its only Meta says `product`).
        assert_eq!(t.persistent_id, None);
        assert_eq!(t.directory, None, "the parser never knows the directory");
        // The file name is the tagId (with `~` written as `_`) plus ".swidtag".
        assert_eq!(
            format!("{}.swidtag", t.tag_id.replace('~', "_")),
            e.file_name().to_string_lossy()
        );
        n += 1;
    }
    assert_eq!(n, 759);
    let t = parse_swidtag(&read(
        "hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag",
    ))
    .unwrap();
    assert_eq!(t.name, "adduser");
    assert_eq!(t.version.as_deref(), Some("3.134"));
    assert_eq!(t.tag_id, "Debian_12-x86_64-adduser-3.134");
}

/// IBM's real tags carry the product's persistentId on a `Meta` element (beside a second
/// `Meta` with `generator`), and build their tagId as `ibm.com-<persistentId>-<version>`.
#[test]
fn ibm_swidtags_keep_their_persistent_id() {
    for (file, name, pid) in [
        (
            "swid-ibm/ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag",
            "IBM Decision Manager Open Edition",
            "a46f72acb4204f1c8b27228722103341",
        ),
        (
            "swid-ibm/ibm.com_IBM_Process_Automation_Manager_Open_Edition-9.0.0.swidtag",
            "IBM Process Automation Manager Open Edition",
            "3d9d28f19d0f45fda113c07fb481e3ea",
        ),
    ] {
        let t = parse_swidtag(&read(file)).unwrap();
        assert_eq!(t.schema, SwidSchema::Iso2015);
        assert_eq!(t.name, name);
        assert_eq!(t.persistent_id.as_deref(), Some(pid));
        assert_eq!(t.tag_id, format!("ibm.com-{pid}-9.0.0"));
        assert_eq!(t.version.as_deref(), Some("9.0.0"));
        assert_eq!(t.regid.as_deref(), Some("ibm.com"));
        assert_eq!(t.vendor.as_deref(), Some("IBM"));
        assert_eq!(t.directory, None);
    }
    // Derived from the real DMOE tag: of two Meta elements with a persistentId, the first
    // wins; a persistentId on a nested element does not count;
    // an empty one is no persistentId; an undecodable one makes the tag unusable (it is a
    // fact the catalog matches on).
    let real = String::from_utf8(read(
        "swid-ibm/ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag",
    ))
    .unwrap();
    let pid_meta = r#"<Meta persistentId="a46f72acb4204f1c8b27228722103341"/>"#;
    let gen_meta = r#"<Meta generator="4-1-20210113"/>"#;
    assert!(real.contains(pid_meta) && real.contains(gen_meta));
    let swapped = real
        .replace(pid_meta, "@@")
        .replace(gen_meta, pid_meta)
        .replace("@@", r#"<Meta persistentId="second"/>"#);
    assert_eq!(
        parse_swidtag(swapped.as_bytes())
            .unwrap()
            .persistent_id
            .as_deref(),
        Some("second")
    );
    let nested = real.replace(
        pid_meta,
        r#"<Payload><Meta persistentId="nested"/></Payload>"#,
    );
    assert_eq!(
        parse_swidtag(nested.as_bytes()).unwrap().persistent_id,
        None
    );
    let empty = real.replace(pid_meta, r#"<Meta persistentId="  "/>"#);
    assert_eq!(parse_swidtag(empty.as_bytes()).unwrap().persistent_id, None);
    let bad = real.replace(pid_meta, r#"<Meta persistentId="&nope;"/>"#);
    assert!(parse_swidtag(bad.as_bytes())
        .unwrap_err()
        .contains("bad attribute value"));
}

/// The corpus has no 2009-schema tag, so this test re-encodes a real 2015 tag's facts in
/// the 2009 element layout (ISO/IEC 19770-2:2009, schema.xsd namespace) and checks that
/// the same facts come back.
#[test]
fn swidtag_2009_schema_from_real_tag() {
    let real = parse_swidtag(&read(
        "hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag",
    ))
    .unwrap();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<swid:software_identification_tag xmlns:swid="http://standards.iso.org/iso/19770/-2/2009/schema.xsd">
  <swid:entitlement_required_indicator>false</swid:entitlement_required_indicator>
  <swid:product_title>{name}</swid:product_title>
  <swid:product_version><swid:name>{version}</swid:name>
    <swid:numeric><swid:major>3</swid:major><swid:minor>134</swid:minor></swid:numeric></swid:product_version>
  <swid:software_creator><swid:name>{vendor} &amp; co</swid:name><swid:regid>{regid}</swid:regid></swid:software_creator>
  <swid:software_licensor><swid:name>other</swid:name><swid:regid>other.example</swid:regid></swid:software_licensor>
  <swid:software_id><swid:unique_id>{tag_id}</swid:unique_id><swid:tag_creator_regid>{regid}</swid:tag_creator_regid></swid:software_id>
  <swid:tag_creator><swid:name>{vendor}</swid:name><swid:regid>{regid}</swid:regid></swid:tag_creator>
</swid:software_identification_tag>"#,
        name = real.name,
        version = real.version.as_deref().unwrap(),
        vendor = real.vendor.as_deref().unwrap(),
        regid = real.regid.as_deref().unwrap(),
        tag_id = real.tag_id,
    );
    let t = parse_swidtag(xml.as_bytes()).unwrap();
    assert_eq!(t.schema, SwidSchema::Iso2009);
    assert_eq!(t.name, real.name);
    assert_eq!(t.version, real.version);
    assert_eq!(t.tag_id, real.tag_id);
    assert_eq!(t.regid, real.regid);
    assert_eq!(t.vendor.as_deref(), Some("strongSwan Project & co"));
    // The 2009 schema has no persistentId.
    assert_eq!(t.persistent_id, None);
}

#[test]
fn swidtag_damaged_copies_are_rejected() {
    let good = read("hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag");
    // Cut in the middle of the Entity element.
    let cut = &good[..good.len() - 60];
    assert!(parse_swidtag(cut).is_err());
    // Remove the tagId attribute.
    let text = String::from_utf8_lossy(&good).replace("tagId=", "tagXd=");
    assert!(parse_swidtag(text.as_bytes())
        .unwrap_err()
        .contains("no tagId"));
}

/// Capacity from a DMI table alone, as a scan package holding only `dmidecode.txt` gets it.
fn cap_from_dmidecode(text: &str) -> (Capacity, Vec<String>) {
    let d = parse_dmidecode(text);
    capacity(Evidence {
        dmidecode: Some(&d),
        ..Evidence::default()
    })
}

/// The lines an SMBIOS older than 2.5 does not write: the per-processor counts.
fn is_count_line(l: &str) -> bool {
    l.starts_with("Core Count:") || l.starts_with("Core Enabled:") || l.starts_with("Thread Count:")
}

/// `text` with every line for which `drop` is true removed (a derived, older-SMBIOS table).
fn without_lines(text: &str, drop: impl Fn(&str) -> bool) -> String {
    text.lines()
        .filter(|l| !drop(l.trim()))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn dmidecode_dell_r720_idle_second_processor_counts() {
    // CPU1 `Populated, Enabled`, CPU2 `Populated, Idle`; each Core Count 10, Core Enabled
    // 10, Thread Count 20. Idle is a working processor: 2 sockets, 20 cores, 40 threads.
    let text = read_text("dmidecode/dell-r720");
    let d = parse_dmidecode(&text);
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(2), Some(20), Some(40))
    );
    // `grep -c 'DMI type 4,'` → 2 processor records.
    assert_eq!(d.socket_slots, Some(2));
    let (c, _) = cap_from_dmidecode(&text);
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(20), Some(40)));
    assert!(!c.is_virtual);
}

#[test]
fn dmidecode_hp_dl360_gen8_idle_second_processor_counts() {
    // Proc 1 `Populated, Enabled`, Proc 2 `Populated, Idle`; each 6 cores, 12 threads.
    let (c, _) = cap_from_dmidecode(&read_text("dmidecode/hp-dl360-gen8"));
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(12), Some(24)));
    assert_eq!(c.model.as_deref(), Some("Xeon E5-2640 0"));
}

#[test]
fn dmidecode_disabled_and_unpopulated_sockets_are_not_counted_but_are_slots() {
    // RHEL 6.2 guest: 64 processor records, 2 `Populated, Enabled`, the rest `Populated,
    // Disabled By BIOS`. HP DL180: Proc 2 `Unpopulated`.
    let d = parse_dmidecode(&read_text("dmidecode/rhel-6.2-vmware-2vcpus"));
    assert_eq!((d.cpu.sockets, d.socket_slots), (Some(2), Some(64)));
    let d = parse_dmidecode(&read_text("dmidecode/hp-dl180"));
    assert_eq!((d.cpu.sockets, d.socket_slots), (Some(1), Some(2)));
    // The same R720 table with CPU2 disabled by the BIOS: one socket, 10 cores.
    let text =
        read_text("dmidecode/dell-r720").replace("Populated, Idle", "Populated, Disabled By BIOS");
    let d = parse_dmidecode(&text);
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads, d.socket_slots),
        (Some(1), Some(10), Some(20), Some(2))
    );
}

#[test]
fn dmidecode_without_core_count_is_unknown_not_one() {
    // The Dell R640 table as an older SMBIOS (< 2.5) BIOS writes it: no Core Count, Core
    // Enabled or Thread Count lines. The brand (`Xeon(R) Gold 6244 CPU`) names no count.
    let text = without_lines(&read_text("dmidecode/dell-r640"), is_count_line);
    let d = parse_dmidecode(&text);
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(2), None, None)
    );
    let (c, notes) = cap_from_dmidecode(&text);
    assert_eq!((c.sockets, c.cores, c.threads), (2, None, None));
    assert!(
        notes
            .iter()
            .any(|n| n.contains("cores from nowhere (unknown)")),
        "{notes:?}"
    );
    // One socket's count missing is enough to make the total unknown: never a partial sum.
    let r640 = read_text("dmidecode/dell-r640");
    let cut = r640.find("Handle 0x0401").unwrap();
    let (head, tail) = r640.split_at(cut);
    let tail = without_lines(tail, |l| {
        l.starts_with("Core Count:") || l.starts_with("Core Enabled:")
    });
    let d = parse_dmidecode(&format!("{head}{tail}"));
    assert_eq!((d.cpu.sockets, d.cpu.cores), (Some(2), None));
}

#[test]
fn dmidecode_without_core_count_uses_the_brands_dual_core() {
    // The HP DL180 table without its count lines, and its processor's Version replaced by
    // the brand string a dual-core Opteron 2218 reports: 2 cores from `Dual-Core`.
    let text = without_lines(&read_text("dmidecode/hp-dl180"), is_count_line).replace(
        "Intel(R) Xeon(R) CPU           E5504  @ 2.00GHz",
        "Dual-Core AMD Opteron(tm) Processor 2218",
    );
    let d = parse_dmidecode(&text);
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(1), Some(2), None)
    );
    let (c, _) = cap_from_dmidecode(&text);
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(2), None));
}

#[test]
fn dmidecode_threads_follow_enabled_cores() {
    // The Dell R640 table with 4 of each processor's 8 cores enabled (a BIOS core limit):
    // Thread Count 16 is the package's full count; 2 threads per core × 4 enabled = 8.
    let text = read_text("dmidecode/dell-r640").replace("Core Enabled: 8", "Core Enabled: 4");
    let d = parse_dmidecode(&text);
    assert_eq!(
        (d.cpu.sockets, d.cpu.cores, d.cpu.threads),
        (Some(2), Some(8), Some(16))
    );
}

#[test]
fn cores_named_by_brands() {
    use openlmt_scanpkg::capacity::cores_from_brand;
    assert_eq!(
        cores_from_brand("Dual-Core AMD Opteron(tm) Processor 2218"),
        Some(2)
    );
    assert_eq!(
        cores_from_brand("Quad-Core AMD Opteron(tm) Processor 2376"),
        Some(4)
    );
    assert_eq!(
        cores_from_brand("Six-Core AMD Opteron(tm) Processor 2435"),
        Some(6)
    );
    assert_eq!(
        cores_from_brand("AMD EPYC 7763 64-Core Processor"),
        Some(64)
    );
    assert_eq!(
        cores_from_brand("Intel(R) Core(TM)2 Duo CPU     T7500  @ 2.20GHz"),
        Some(2)
    );
    assert_eq!(
        cores_from_brand("Intel(R) Core(TM)2 Quad CPU    Q6600  @ 2.40GHz"),
        Some(4)
    );
    assert_eq!(
        cores_from_brand("Intel(R) Pentium(R) Dual Core CPU E5200"),
        Some(2)
    );
    // The corpus brands name no count.
    assert_eq!(
        cores_from_brand("Intel(R) Xeon(R) Gold 6244 CPU @ 3.60GHz"),
        None
    );
    assert_eq!(
        cores_from_brand("Intel(R) Core(TM) i3 CPU       M 350  @ 2.27GHz"),
        None
    );
    assert_eq!(cores_from_brand("Pentium(R) III"), None);
}
