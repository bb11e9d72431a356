//! Property tests: the text parsers and the archive reader never panic, on arbitrary input
//! and on real corpus files damaged at random (truncated, bytes replaced, bytes inserted).

mod common;

use std::io::Cursor;

use common::*;
use openlmt_scanpkg::capacity::{
    derive_capacity, parse_cpuinfo, parse_dmidecode, parse_lscpu_json, Evidence,
};
use openlmt_scanpkg::packages::{parse_dpkg_query_tsv, parse_dpkg_status, parse_rpm_qa_tsv};
use openlmt_scanpkg::swid::parse_swidtag;
use openlmt_scanpkg::{read_scan_package, ArchiveKind, ComputerInfo, Limits};
use proptest::prelude::*;

/// Damage `base`: cut it at `cut` (a fraction), then overwrite/insert `noise` at `at`.
fn damage(base: &[u8], cut: f64, at: f64, noise: &[u8], insert: bool) -> Vec<u8> {
    let len = ((base.len() as f64) * cut) as usize;
    let mut v = base[..len.min(base.len())].to_vec();
    let pos = ((v.len() as f64) * at) as usize;
    let pos = pos.min(v.len());
    if insert {
        v.splice(pos..pos, noise.iter().copied());
    } else {
        for (i, b) in noise.iter().enumerate() {
            if let Some(x) = v.get_mut(pos + i) {
                *x = *b;
            }
        }
    }
    v
}

/// Rejections must be one line (they go into logs and UI messages as-is).
fn one_line(r: Result<openlmt_scanpkg::ScanPackage, openlmt_scanpkg::ScanPackageError>) {
    if let Err(e) = r {
        let msg = e.to_string();
        assert!(
            !msg.is_empty() && !msg.contains('\n') && !msg.contains('\r'),
            "{msg:?}"
        );
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const CPUINFOS: [&str; 7] = [
    "cpuinfo/linux-hp-dl180",
    "cpuinfo/rhel-5.6",
    "cpuinfo/rhel-6.2-vmware-2vcpus",
    "cpuinfo/toshiba-r630-2-core",
    "cpuinfo/linux-raspberry-pi-3-model-b",
    "cpuinfo/linux-ppc-1",
    "hosts/debian12-vm/cpuinfo",
];
const DMIS: [&str; 4] = [
    "dmidecode/dell-r640",
    "dmidecode/hp-dl180",
    "dmidecode/rhel-6.2-vmware-2vcpus",
    "dmidecode/vmware-esx-2.5",
];

/// A real host scan in IBM's layout: the HP DL180 of `dmidecode/hp-dl180` hosting the two
/// KVM domains of `virsh/dumpxml1` and `dumpxml2`.
fn real_vmman_xml() -> Vec<u8> {
    use openlmt_scanpkg::vmman::{parse_domain_xml, vmman_scan_xml};
    let d = parse_dmidecode(&read_text("dmidecode/hp-dl180"));
    let scan = openlmt_scanpkg::VmManagerScan {
        member: String::new(),
        id: Some("1712345678123456789".into()),
        virtual_technology: Some("KVM_X86".into()),
        observed_at: chrono::DateTime::from_timestamp(1_796_121_000, 0).unwrap(),
        host: openlmt_scanpkg::VmHost {
            uuid: d.system_uuid.clone().unwrap(),
            name: Some("dl180".into()),
            serial_number: d.system_serial.clone(),
            cores: d.cpu.cores,
            active_sockets: d.cpu.sockets,
            available_sockets: d.cpu.sockets,
            cpu_model: d.cpu.brand.clone(),
            hardware_vendor: d.system_manufacturer.clone(),
            hardware_model: d.system_product.clone(),
        },
        guests: ["virsh/dumpxml1", "virsh/dumpxml2"]
            .iter()
            .map(|f| parse_domain_xml(&read(f)).unwrap())
            .collect(),
    };
    vmman_scan_xml(&scan).into_bytes()
}

fn all_capacity(cpu: &str, ls: &str, dmi: &str) {
    let c = parse_cpuinfo(cpu);
    let l = parse_lscpu_json(ls).ok();
    let d = parse_dmidecode(dmi);
    let mut notes = Vec::new();
    if let Ok(cap) = derive_capacity(
        Evidence {
            cpuinfo: Some(&c),
            lscpu: l.as_ref(),
            dmidecode: Some(&d),
            product_uuid: None,
        },
        &mut notes,
    ) {
        assert!(cap.sockets >= 1);
        if let Some(cores) = cap.cores {
            assert!(cores >= cap.sockets);
        }
        if let (Some(cores), Some(threads)) = (cap.cores, cap.threads) {
            assert!(threads >= cores);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn capacity_parsers_arbitrary(s in any::<String>(), b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_capacity(&s, &s, &s);
        let t = text(&b);
        all_capacity(&t, &t, &t);
    }

    #[test]
    fn capacity_parsers_damaged_real(
        which in 0usize..7, dmi in 0usize..4, cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..64), insert in any::<bool>(),
    ) {
        let cpu = text(&damage(&read(CPUINFOS[which]), cut, at, &noise, insert));
        let ls = text(&damage(&read("hosts/debian12-vm/lscpu.json"), cut, at, &noise, insert));
        let d = text(&damage(&read(DMIS[dmi]), cut, at, &noise, insert));
        all_capacity(&cpu, &ls, &d);
    }

    #[test]
    fn installed_package_parsers_arbitrary(s in any::<String>()) {
        let mut notes = Vec::new();
        let _ = parse_dpkg_status(&s);
        let _ = parse_dpkg_query_tsv(&s, &mut notes);
        let _ = parse_rpm_qa_tsv(&s, &mut notes);
    }

    #[test]
    fn installed_package_parsers_damaged_real(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..64), insert in any::<bool>(),
    ) {
        let mut notes = Vec::new();
        let status = read("hosts/debian12-vm/dpkg-status");
        // Only the first 64 KiB: enough stanzas, and fast in debug builds.
        let status = &status[..status.len().min(64 * 1024)];
        let p = parse_dpkg_status(&text(&damage(status, cut, at, &noise, insert)));
        // Inserted newlines can split lines (never stanzas into two installed ones).
        prop_assert!(p.len() <= 759 + noise.len());
        let q = parse_dpkg_query_tsv(&text(&damage(&read("packaging/dpkg-query.tsv"), cut, at, &noise, insert)), &mut notes);
        prop_assert!(q.len() <= 17 + noise.len());
        let r = parse_rpm_qa_tsv(&text(&damage(&read("packaging/rpm-qa.tsv"), cut, at, &noise, insert)), &mut notes);
        prop_assert!(r.len() <= 10 + noise.len());
    }

    #[test]
    fn computer_yml_arbitrary(s in any::<String>()) {
        if let Ok(c) = ComputerInfo::parse(&s) {
            // Whatever parses can be written and read back to the same value.
            let again = ComputerInfo::parse(&c.to_yaml().unwrap()).unwrap();
            prop_assert_eq!(again, c);
        }
    }

    #[test]
    fn computer_yml_structured(
        id in "[A-Za-z0-9._-]{0,40}",
        name in any::<String>(),
        ips in proptest::collection::vec("[0-9a-f.:]{1,20}", 0..4),
        time in "[0-9T:Z-]{0,24}",
        list in any::<bool>(),
    ) {
        let ip = if list {
            format!("IP Address: [{}]", ips.iter().map(|i| format!("{i:?}")).collect::<Vec<_>>().join(", "))
        } else {
            format!("IP Address: {:?}", ips.join(" "))
        };
        let doc = format!("format_version: 1\nendpointID: {id:?}\nComputer Name: {name:?}\n{ip}\nScan Time: {time:?}\n");
        if let Ok(c) = ComputerInfo::parse(&doc) {
            prop_assert_eq!(&c.endpoint_id, id.trim());
            let again = ComputerInfo::parse(&c.to_yaml().unwrap()).unwrap();
            prop_assert_eq!(again, c);
        }
    }

    #[test]
    fn vmman_parsers_arbitrary(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = openlmt_scanpkg::parse_vmman_xml(&b);
        let _ = openlmt_scanpkg::vmman::parse_domain_xml(&b);
        let _ = openlmt_scanpkg::vmman::parse_virsh_list(&text(&b));
    }

    /// Real vmman and dumpxml documents damaged at random: a scan or a one-line reason,
    /// never a panic; whatever parses keeps its invariants.
    #[test]
    fn vmman_damaged_real(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..32), insert in any::<bool>(),
        which in 0usize..2,
    ) {
        match openlmt_scanpkg::parse_vmman_xml(&damage(&real_vmman_xml(), cut, at, &noise, insert)) {
            Ok(s) => {
                prop_assert!(s.guests.len() <= 2 + noise.len());
                for g in &s.guests {
                    prop_assert!((1..=openlmt_scanpkg::vmman::MAX_VCPUS).contains(&g.vcpus));
                    prop_assert!(openlmt_scanpkg::vmman::normalize_uuid(&g.uuid).is_some());
                }
            }
            Err(e) => prop_assert!(!e.is_empty() && !e.contains('\n'), "{e:?}"),
        }
        let dom = read(["virsh/dumpxml1", "virsh/dumpxml2"][which]);
        let _ = openlmt_scanpkg::vmman::parse_domain_xml(&damage(&dom, cut, at, &noise, insert));
    }

    /// A package whose `0_vmman.tar.gz` is damaged at random still reads: the damage
    /// costs at most that member's scans.
    #[test]
    fn a_damaged_vmman_member_never_rejects_its_package(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..32), insert in any::<bool>(),
    ) {
        let member = openlmt_scanpkg::vmman::vmman_archive(&[("vmman_scan_1_1796121000.xml".into(), real_vmman_xml())]).unwrap();
        let yml = computer("kvm-host-1").to_yaml().unwrap();
        let cpu = read("cpuinfo/linux-hp-dl180");
        let bad = damage(&member, cut, at, &noise, insert);
        let bytes = raw_tar_gz(&[
            Raw::File("computer.yml", yml.as_bytes()),
            Raw::File("cpuinfo", &cpu),
            Raw::File("0_vmman.tar.gz", &bad),
        ]);
        let p = read_scan_package(ArchiveKind::TarGz, Cursor::new(&bytes), &Limits::default());
        prop_assert!(p.is_ok(), "{:?}", p.err());
        prop_assert!(p.unwrap().vm_manager.len() <= 1);
    }

    #[test]
    fn swidtag_arbitrary(b in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = parse_swidtag(&b);
    }

    #[test]
    fn swidtag_damaged_real(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..32), insert in any::<bool>(),
    ) {
        let real = read("hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag");
        let _ = parse_swidtag(&damage(&real, cut, at, &noise, insert));
    }

    #[test]
    fn read_scan_package_arbitrary_bytes(b in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let limits = Limits::default();
        one_line(read_scan_package(ArchiveKind::TarGz, Cursor::new(&b), &limits));
        one_line(read_scan_package(ArchiveKind::Zip, Cursor::new(&b), &limits));
        // The same bytes behind valid magic numbers get further into the decoders.
        let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
        gz.extend_from_slice(&b);
        one_line(read_scan_package(ArchiveKind::TarGz, Cursor::new(&gz), &limits));
        let mut tar = gzip(&b);
        tar.extend_from_slice(&b);
        one_line(read_scan_package(ArchiveKind::TarGz, Cursor::new(&tar), &limits));
        let mut zip = b"PK\x03\x04".to_vec();
        zip.extend_from_slice(&b);
        one_line(read_scan_package(ArchiveKind::Zip, Cursor::new(&zip), &limits));
    }

    /// A real format-2 tag index (as the scanner writes it for two real tags) damaged at
    /// random, in an otherwise valid package: never a panic, never a rejection (a damaged
    /// index only leaves directories unknown), and every directory kept is one the index
    /// could have named.
    #[test]
    fn tag_index_damaged_real(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..16), insert in any::<bool>(),
    ) {
        let c = computer("prop-index");
        assert!(c.format_version >= 2, "a format that knows the tag index");
        let yml = c.to_yaml().unwrap();
        let cpu = read("cpuinfo/toshiba-r630-2-core");
        let dmoe = read("swid-ibm/ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag");
        let deb = read("hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag");
        let index = br#"{"search":{"complete":true,"roots":["/usr/share/swidtag","/"],"excluded":[],"entries_examined":441300,"milliseconds":6183},"tags":[{"member":"isotag_scan/1/dmoe.swidtag","directory":"/opt/IBM/dmoe/swidtag"},{"member":"isotag_scan/2/a.swidtag","directory":"/usr/share/swidtag/debian.org"}]}"#;
        let damaged = damage(index, (cut + 1.0) / 2.0, at, &noise, insert);
        let pkg = raw_tar_gz(&[
            Raw::File("computer.yml", yml.as_bytes()),
            Raw::File("cpuinfo", &cpu),
            Raw::File("isotag_scan/index.json", &damaged),
            Raw::File("isotag_scan/1/dmoe.swidtag", &dmoe),
            Raw::File("isotag_scan/2/a.swidtag", &deb),
        ]);
        let p = read_scan_package(ArchiveKind::TarGz, Cursor::new(&pkg), &Limits::default())
            .expect("a damaged index never rejects the package");
        prop_assert_eq!(p.swid_tags.len(), 2);
        for t in &p.swid_tags {
            if let Some(d) = &t.directory {
                prop_assert!(!d.is_empty() && d.len() <= 4096 && !d.chars().any(char::is_control));
            }
        }
    }

    #[test]
    fn read_scan_package_damaged_real(
        cut in 0.0f64..1.0, at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 0..16), insert in any::<bool>(),
        gz in any::<bool>(), inner in any::<bool>(),
    ) {
        let c = computer("prop-1");
        let yml = c.to_yaml().unwrap();
        let cpu = read("cpuinfo/toshiba-r630-2-core");
        let tsv = read("packaging/rpm-qa.tsv");
        let tag = read("hosts/debian12-vm/isotag_scan/Debian_12-x86_64-adduser-3.134.swidtag");
        let limits = Limits { max_total_uncompressed: 1 << 20, max_members: 100, max_member_size: 1 << 18 };
        if gz {
            let plain = raw_tar_gz(&[
                Raw::File("computer.yml", yml.as_bytes()),
                Raw::File("cpuinfo", &cpu),
                Raw::File("rpm-qa.tsv", &tsv),
                Raw::File("isotag_scan/a.swidtag", &tag),
            ]);
            let bytes = if inner {
                // Damage the tar inside a valid gzip stream.
                let mut t = Vec::new();
                std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&plain[..]), &mut t).unwrap();
                gzip(&damage(&t, (cut + 1.0) / 2.0, at, &noise, insert))
            } else {
                damage(&plain, cut, at, &noise, insert)
            };
            one_line(read_scan_package(ArchiveKind::TarGz, Cursor::new(&bytes), &limits));
        } else {
            let z = zip_of(&[
                ("computer.yml", yml.as_bytes()),
                ("cpuinfo", &cpu),
                ("rpm-qa.tsv", &tsv),
                ("isotag_scan/a.swidtag", &tag),
            ]);
            let bytes = damage(&z, if inner { 1.0 } else { cut }, at, &noise, insert);
            one_line(read_scan_package(ArchiveKind::Zip, Cursor::new(&bytes), &limits));
        }
    }
}
