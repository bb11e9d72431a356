//! VM-manager evidence: IBM's `vmman_scan` XML (scanner-package.md §5), the nested
//! `<n>_vmman.tar.gz` member and its limits, the hardware identity from dmidecode, and
//! the virtualization-host scanner with a `virsh` that prints the real corpus captures.
//!
//! The XML is built here from the element tree IBM's `run_vtech_scan.sh` writes, with
//! values from the corpus: the host is the HP DL180 of `dmidecode/hp-dl180` (its UUID,
//! serial, maker, model, processor) and the guests are the two KVM domains of
//! `virsh/dumpxml1` and `virsh/dumpxml2` (their UUIDs and `<vcpu>`).

mod common;

use std::fs;
use std::io::Cursor;

use common::*;
use openlmt_scanpkg::capacity::parse_dmidecode;
use openlmt_scanpkg::vmman::{parse_domain_xml, parse_virsh_list, vmman_archive, vmman_scan_xml};
use openlmt_scanpkg::{
    parse_vmman_xml, read_scan_package, scan_local_host, scan_package_bytes, ArchiveKind, Limits,
    ScanOptions, ScanPackage, ScanPackageError, VmGuest,
};

/// A value of `<name>` in a corpus file: the text between `<name>` and `</name>`.
fn element(text: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = text.find(&open).unwrap() + open.len();
    let end = text[start..].find(&format!("</{name}>")).unwrap() + start;
    text[start..end].to_string()
}

/// A dmidecode value of the first `key:` line after the record titled `title`.
fn dmi(text: &str, title: &str, key: &str) -> String {
    let rec = &text[text.find(title).unwrap()..];
    let line = rec
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{key}:")))
        .unwrap();
    line.split_once(':').unwrap().1.trim().to_string()
}

struct Guest {
    uuid: String,
    vcpus: String,
}

fn corpus_guests() -> Vec<Guest> {
    ["virsh/dumpxml1", "virsh/dumpxml2"]
        .iter()
        .map(|f| {
            let t = read_text(f);
            Guest {
                uuid: element(&t, "uuid"),
                vcpus: element(&t, "vcpu"),
            }
        })
        .collect()
}

/// IBM's layout (§5.4), as `run_vtech_scan.sh` prints it: values unescaped, the closing
/// `host_layer` line with a trailing space.
fn ibm_xml(guests: &[Guest]) -> String {
    let d = read_text("dmidecode/hp-dl180");
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<capacity_report>\n",
    );
    x += "  <id>1712345678123456789</id>\n  <virtual_technology>KVM_X86</virtual_technology>\n";
    x += "  <source>STDC</source>\n  <protocol_version>1</protocol_version>\n";
    x += "  <report_type>full</report_type>\n  <timestamp>2026-12-01T10:30:00.000Z</timestamp>\n";
    x += "  <login>N/A</login>\n  <password></password>\n";
    x += "  <shared_credentials>false</shared_credentials>\n  <status>OK</status>\n  <url>N/A</url>\n";
    x += "  <host_layer>\n";
    x += &format!(
        "    <uuid>{}</uuid>\n",
        dmi(&d, "System Information", "UUID")
    );
    x += "    <name>dl180.example.org</name>\n";
    x += &format!(
        "    <serial_number>{}</serial_number>\n",
        dmi(&d, "System Information", "Serial Number")
    );
    x += "    <cores_count>4</cores_count>\n    <active_sockets_count>1</active_sockets_count>\n";
    x += "    <available_sockets_count>1</available_sockets_count>\n";
    x += &format!(
        "    <cpu_model>{}</cpu_model>\n",
        dmi(&d, "Processor Information", "Version")
    );
    x += &format!(
        "    <hardware_vendor>{}</hardware_vendor>\n",
        dmi(&d, "System Information", "Manufacturer")
    );
    x += &format!(
        "    <hardware_model>{}</hardware_model>\n",
        dmi(&d, "System Information", "Product Name")
    );
    for g in guests {
        x += &format!(
            "    <guest_layer>\n      <uuid>{}</uuid>\n      <vp_count>{}</vp_count>\n    </guest_layer>\n",
            g.uuid, g.vcpus
        );
    }
    x += "  </host_layer> \n</capacity_report>\n";
    x
}

#[test]
fn ibm_host_scan_layout_is_read() {
    let s = parse_vmman_xml(ibm_xml(&corpus_guests()).as_bytes()).unwrap();
    assert_eq!(s.id.as_deref(), Some("1712345678123456789"));
    assert_eq!(s.virtual_technology.as_deref(), Some("KVM_X86"));
    assert_eq!(s.observed_at.to_rfc3339(), "2026-12-01T10:30:00+00:00");
    let h = &s.host;
    assert_eq!(h.uuid, "00D3F681-FE8E-11D5-B656-1CC1DE0905AE");
    assert_eq!(h.name.as_deref(), Some("dl180.example.org"));
    assert_eq!(h.serial_number.as_deref(), Some("CZJ02901TG"));
    assert_eq!(
        (h.cores, h.active_sockets, h.available_sockets),
        (Some(4), Some(1), Some(1))
    );
    assert_eq!(h.hardware_vendor.as_deref(), Some("HP"));
    assert_eq!(h.hardware_model.as_deref(), Some("ProLiant DL180 G6"));
    assert!(h.cpu_model.as_deref().unwrap().contains("E5504"));
    assert_eq!(
        s.guests,
        vec![
            VmGuest {
                uuid: "d0f1baf3-ac9d-e828-619f-91f074c8c6c4".into(),
                name: None,
                vcpus: 1
            },
            VmGuest {
                uuid: "5e3884eb-0caa-194b-cd17-3d9ca1b20c3b".into(),
                name: None,
                vcpus: 4
            },
        ]
    );
    // What openlmt writes reads back the same.
    let back = parse_vmman_xml(vmman_scan_xml(&s).as_bytes()).unwrap();
    assert_eq!(back, s);
}

/// Regression (fuzz target `vmman_xml`, 2026-12-05): a timestamp with a
/// sub-millisecond fraction was written back in milliseconds, so the layout
/// openlmt writes did not read back the same time.
#[test]
fn a_sub_millisecond_timestamp_is_written_back_exactly() {
    for (fraction, written) in [
        (".0002", ".000200Z"),
        (".123456789", ".123456789Z"),
        (".5", ".500Z"),
        ("", ".000Z"),
    ] {
        let xml = ibm_xml(&corpus_guests()).replace(
            "<timestamp>2026-12-01T10:30:00.000Z</timestamp>",
            &format!("<timestamp>2026-12-01T10:30:00{fraction}Z</timestamp>"),
        );
        let s = parse_vmman_xml(xml.as_bytes()).unwrap();
        let out = vmman_scan_xml(&s);
        assert!(
            out.contains(&format!(
                "<timestamp>2026-12-01T10:30:00{written}</timestamp>"
            )),
            "{fraction}: {out}"
        );
        assert_eq!(parse_vmman_xml(out.as_bytes()).unwrap(), s, "{fraction}");
    }
}

/// Regression (fuzz target `vmman_xml`, 2026-12-05, input kept in
/// fuzz/open-crashes until this fix): a value longer than the 1,024 characters
/// kept was cut on the space between two words, and the space stayed; written
/// back and read again it was trimmed, so the scan did not read back the same.
#[test]
fn a_long_value_cut_between_two_words_keeps_no_trailing_space() {
    let real = "ProLiant DL180 G6";
    for pad in 1000..1030 {
        let long = format!("{}{real}", "x".repeat(pad));
        let xml = ibm_xml(&corpus_guests()).replace(
            &format!("<hardware_model>{real}</hardware_model>"),
            &format!("<hardware_model>{long}</hardware_model>"),
        );
        let s = parse_vmman_xml(xml.as_bytes()).unwrap();
        let model = s.host.hardware_model.clone().unwrap();
        assert!(model.chars().count() <= 1024, "{pad}");
        assert_eq!(model, model.trim_end(), "{pad}: a trailing space was kept");
        assert!(long.starts_with(&model), "{pad}");
        assert_eq!(
            parse_vmman_xml(vmman_scan_xml(&s).as_bytes()).unwrap(),
            s,
            "{pad}"
        );
    }
}

#[test]
fn ibm_quirks_are_read_leniently() {
    let xml = ibm_xml(&corpus_guests());
    // Unescaped `&` (IBM's script does not escape), whitespace collapsed, no guests, no
    // serial element (host-name collection off: the serial is in <name>).
    let quirky = xml
        .replace("<hardware_vendor>HP", "<hardware_vendor>AT&T   HP")
        .replace("    <serial_number>CZJ02901TG</serial_number>\n", "");
    let no_guests = {
        let start = quirky.find("    <guest_layer>").unwrap();
        let end = quirky.rfind("</guest_layer>\n").unwrap() + "</guest_layer>\n".len();
        format!("{}{}", &quirky[..start], &quirky[end..])
    };
    let s = parse_vmman_xml(no_guests.as_bytes()).unwrap();
    assert_eq!(s.host.hardware_vendor.as_deref(), Some("AT&T HP"));
    assert_eq!(s.host.serial_number, None);
    assert!(s.guests.is_empty(), "a host with no running VM");
}

/// Each malformed variant of the real scan is rejected with its own reason.
#[test]
fn malformed_scans_are_rejected_with_their_reason() {
    let xml = ibm_xml(&corpus_guests());
    let cases: Vec<(String, &str)> = vec![
        (xml[..xml.find("<cores_count>").unwrap()].to_string(), "truncated: element `host_layer` is not closed"),
        (xml[..xml.find("<cores_count>").unwrap() + 5].to_string(), "XML error"),
        (xml.replace("</name>", "</nom>"), "XML error"),
        (xml.replace("<capacity_report>", "<report>").replace("</capacity_report>", "</report>"), "unexpected root element `report`"),
        (xml.replace("<timestamp>2026-12-01T10:30:00.000Z</timestamp>", ""), "no timestamp element"),
        (xml.replace("2026-12-01T10:30:00.000Z", "yesterday"), "timestamp `yesterday` is not an RFC 3339 time"),
        (xml.replace("<vp_count>4</vp_count>", "<vp_count>four</vp_count>"), "vp_count `four` is not a number"),
        (xml.replace("<vp_count>4</vp_count>", "<vp_count>400000</vp_count>"), "vp_count 400000 is absurd (more than 4096)"),
        (xml.replace("<vp_count>4</vp_count>", "<vp_count>0</vp_count>"), "vp_count is 0"),
        (xml.replace("<vp_count>4</vp_count>", ""), "has no vp_count"),
        (xml.replace("<cores_count>4</cores_count>", "<cores_count>-4</cores_count>"), "host cores_count `-4` is not a number"),
        (xml.replace("<cores_count>4</cores_count>", "<cores_count>9999999</cores_count>"), "host cores_count 9999999 is absurd"),
        (xml.replace("<uuid>00D3F681-FE8E-11D5-B656-1CC1DE0905AE</uuid>", ""), "host_layer has no uuid"),
        (xml.replace("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", "vm2"), "guest_layer 2 uuid `vm2` is not a UUID"),
        (xml.replace("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", "D0F1BAF3-AC9D-E828-619F-91F074C8C6C4"), "is listed twice"),
        (xml.replace("</host_layer> \n", "</host_layer>\n<host_layer><uuid>00D3F681-FE8E-11D5-B656-1CC1DE0905AE</uuid></host_layer>\n"), "2 host_layer elements"),
        ({
            let s = xml.find("  <host_layer>").unwrap();
            let e = xml.find("</host_layer> \n").unwrap() + "</host_layer> \n".len();
            format!("{}{}", &xml[..s], &xml[e..])
        }, "no host_layer element"),
        (String::new(), "no capacity_report root element"),
    ];
    for (bad, why) in cases {
        let e = parse_vmman_xml(bad.as_bytes()).unwrap_err();
        assert!(e.contains(why), "expected {why:?} in {e:?}");
        assert!(!e.contains('\n'), "{e:?}");
    }
}

#[test]
fn virsh_captures_are_parsed() {
    let running = parse_virsh_list(&read_text("virsh/list1"));
    assert_eq!(running.len(), 9, "ten domains, one shut off");
    assert_eq!(running[0], ("151".to_string(), "vm1".to_string()));
    assert!(!running.iter().any(|(_, n)| n == "vm-srv-net1"));
    let g = parse_domain_xml(&read("virsh/dumpxml1")).unwrap();
    assert_eq!(
        (g.uuid.as_str(), g.name.as_deref(), g.vcpus),
        (
            "d0f1baf3-ac9d-e828-619f-91f074c8c6c4",
            Some("Debian_Squeeze_64_bits"),
            1
        )
    );
    let g = parse_domain_xml(&read("virsh/dumpxml2")).unwrap();
    assert_eq!((g.name.as_deref(), g.vcpus), (Some("vm2"), 4));
    // `current` vCPUs win over the maximum.
    let cur = read_text("virsh/dumpxml2").replace("<vcpu>4</vcpu>", "<vcpu current='2'>4</vcpu>");
    assert_eq!(parse_domain_xml(cur.as_bytes()).unwrap().vcpus, 2);
    let bad = read_text("virsh/dumpxml2").replace("<vcpu>4</vcpu>", "<vcpu>many</vcpu>");
    assert!(parse_domain_xml(bad.as_bytes())
        .unwrap_err()
        .contains("vcpu `many`"));
}

#[test]
fn dmidecode_gives_the_hardware_identity() {
    let d = parse_dmidecode(&read_text("dmidecode/dell-r640"));
    assert_eq!(
        d.system_uuid.as_deref(),
        Some("4C4C4544-0052-4A10-8046-B2C04F313533")
    );
    assert_eq!(d.system_serial.as_deref(), Some("2RJF153"));
    assert_eq!(d.bios_vendor.as_deref(), Some("Dell Inc."));
    assert_eq!(d.bios_version.as_deref(), Some("2.6.4"));
    assert_eq!(d.chassis_asset_tag, None, "Not Specified");
    let v = parse_dmidecode(&read_text("dmidecode/rhel-6.2-vmware-2vcpus"));
    assert_eq!(
        v.system_uuid.as_deref(),
        Some("421BBABD-5F4E-AF7E-3A56-B5AF1CE1A977")
    );
    assert_eq!(v.chassis_asset_tag, None, "No Asset Tag");
    assert_eq!(v.bios_vendor.as_deref(), Some("Phoenix Technologies LTD"));
    // A placeholder UUID is no UUID.
    let zero = read_text("dmidecode/dell-r640").replace(
        "4C4C4544-0052-4A10-8046-B2C04F313533",
        "00000000-0000-0000-0000-000000000000",
    );
    assert_eq!(parse_dmidecode(&zero).system_uuid, None);
    let unset = read_text("dmidecode/dell-r640")
        .replace("4C4C4544-0052-4A10-8046-B2C04F313533", "Not Settable");
    assert_eq!(parse_dmidecode(&unset).system_uuid, None);
}

// ---------------------------------------------------------------------------------------
// The package reader

fn members_with(vmman: &[(&str, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let c = computer("kvm-host-1");
    let mut v = vec![
        (
            "computer.yml".to_string(),
            c.to_yaml().unwrap().into_bytes(),
        ),
        ("cpuinfo".to_string(), read("cpuinfo/linux-hp-dl180")),
        ("dmidecode.txt".to_string(), read("dmidecode/hp-dl180")),
        (
            "dpkg-query.tsv".to_string(),
            read("packaging/dpkg-query.tsv"),
        ),
    ];
    for (n, d) in vmman {
        v.push((n.to_string(), d.clone()));
    }
    v
}

fn tgz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let raw: Vec<Raw<'_>> = members.iter().map(|(n, d)| Raw::File(n, d)).collect();
    raw_tar_gz(&raw)
}

fn read_tgz(bytes: &[u8], limits: &Limits) -> Result<ScanPackage, ScanPackageError> {
    read_scan_package(ArchiveKind::TarGz, Cursor::new(bytes), limits)
}

fn vmman_member(files: &[(&str, &str)]) -> Vec<u8> {
    let files: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|(n, x)| (n.to_string(), x.as_bytes().to_vec()))
        .collect();
    vmman_archive(&files).unwrap()
}

#[test]
fn a_package_carries_its_vmman_scans_and_hardware_identity() {
    let good = ibm_xml(&corpus_guests());
    let later = good.replace("2026-12-01T10:30:00.000Z", "2026-12-01T11:00:00.000Z");
    let bad = good.replace("<vp_count>4</vp_count>", "<vp_count>four</vp_count>");
    let m = members_with(&[
        (
            "0_vmman.tar.gz",
            vmman_member(&[
                ("vmman_scan_1712345678123456789_1796121000.xml", &good),
                ("vmman_scan_1712345678123456789_1796122800.xml", &bad),
                ("README", "not a scan"),
            ]),
        ),
        (
            "1_vmman.tar.gz",
            vmman_member(&[("vmman_scan_1712345678123456789_1796122801.xml", &later)]),
        ),
    ]);
    let p = read_tgz(&tgz(&m), &Limits::default()).unwrap();
    assert_eq!(p.installed_packages.len(), 16, "the other evidence is read");
    assert_eq!(p.vm_manager.len(), 2);
    assert_eq!(
        p.vm_manager[0].member,
        "0_vmman.tar.gz/vmman_scan_1712345678123456789_1796121000.xml"
    );
    assert_eq!(p.vm_manager[0].guests.len(), 2);
    assert_eq!(
        p.vm_manager[1].observed_at.to_rfc3339(),
        "2026-12-01T11:00:00+00:00"
    );
    assert!(
        p.notes.iter().any(|n| n
            == "ignored vmman scan 0_vmman.tar.gz/vmman_scan_1712345678123456789_1796122800.xml: \
                guest_layer 2 (5e3884eb-0caa-194b-cd17-3d9ca1b20c3b) vp_count `four` is not a number"),
        "{:?}",
        p.notes
    );
    assert!(p
        .notes
        .iter()
        .any(|n| n == "ignored unknown member 0_vmman.tar.gz/README"));
    let id = &p.capacity.identity;
    assert_eq!(
        id.system_uuid.as_deref(),
        Some("00D3F681-FE8E-11D5-B656-1CC1DE0905AE")
    );
    assert_eq!(id.system_manufacturer.as_deref(), Some("HP"));
    assert_eq!(id.system_product.as_deref(), Some("ProLiant DL180 G6"));
    assert_eq!(id.system_serial.as_deref(), Some("CZJ02901TG"));
    assert_eq!(id.bios_vendor.as_deref(), Some("HP"));
    assert_eq!(id.bios_version.as_deref(), Some("O20"));
    assert_eq!(id.socket_slots, Some(2), "one socket empty");
}

#[test]
fn a_broken_vmman_member_is_ignored_alone() {
    let good = vmman_member(&[("vmman_scan_1_1796121000.xml", &ibm_xml(&corpus_guests()))]);
    let truncated = good[..good.len() - 10].to_vec();
    let not_gzip = read("virsh/list1");
    let linked = raw_tar_gz(&[Raw::Symlink("vmman_scan_1_1.xml", "/etc/passwd")]);
    for (bad, why) in [
        (truncated, "not a readable tar.gz"),
        (not_gzip, "not a readable tar.gz"),
        (linked, "is not a regular file"),
    ] {
        let p = read_tgz(
            &tgz(&members_with(&[("0_vmman.tar.gz", bad)])),
            &Limits::default(),
        )
        .unwrap();
        assert!(p.vm_manager.is_empty());
        assert_eq!(p.installed_packages.len(), 16);
        assert!(
            p.notes
                .iter()
                .any(|n| n.starts_with("ignored vmman scan 0_vmman.tar.gz: ")
                    && n.contains(why)
                    && n.ends_with("none of its scans is used")),
            "{why}: {:?}",
            p.notes
        );
    }
}

#[test]
fn nested_vmman_archives_count_against_the_package_limits() {
    let xml = ibm_xml(&corpus_guests());
    // A real scan padded with 300 KiB of blanks: it compresses to almost nothing.
    let padded = format!("{xml}{}", " ".repeat(300 * 1024));
    let m = members_with(&[(
        "0_vmman.tar.gz",
        vmman_member(&[
            ("vmman_scan_1_1.xml", &xml),
            ("vmman_scan_1_2.xml", &padded),
        ]),
    )]);
    let bytes = tgz(&m);
    let outer: u64 = m.iter().map(|(_, d)| d.len() as u64).sum();
    assert!(outer < 100 * 1024);
    // Enough for the outer archive, not for what the nested one unpacks to.
    let e = read_tgz(
        &bytes,
        &Limits {
            max_total_uncompressed: outer + 64 * 1024,
            ..Limits::default()
        },
    )
    .err_short();
    assert!(matches!(e, ScanPackageError::TooLarge { .. }), "{e}");
    assert_eq!(
        read_tgz(
            &bytes,
            &Limits {
                max_total_uncompressed: outer + 400 * 1024,
                ..Limits::default()
            },
        )
        .unwrap()
        .vm_manager
        .len(),
        2
    );
    // 5 outer members + 2 nested.
    let e = read_tgz(
        &bytes,
        &Limits {
            max_members: 6,
            ..Limits::default()
        },
    )
    .err_short();
    assert_eq!(e.to_string(), "archive has more than 6 members");
    assert!(read_tgz(
        &bytes,
        &Limits {
            max_members: 7,
            ..Limits::default()
        }
    )
    .is_ok());
    // A nested file over the per-member limit (the outer members are under it).
    let big = format!("{xml}{}", " ".repeat(60 * 1024));
    let m = members_with(&[(
        "0_vmman.tar.gz",
        vmman_member(&[("vmman_scan_1_1.xml", &big)]),
    )]);
    let e = read_tgz(
        &tgz(&m),
        &Limits {
            max_member_size: 48 * 1024,
            ..Limits::default()
        },
    )
    .err_short();
    assert_eq!(
        e.to_string(),
        "member `0_vmman.tar.gz/vmman_scan_1_1.xml` exceeds the 48 KiB per-member size limit"
    );
}

// ---------------------------------------------------------------------------------------
// The scanner

/// A root laid out from the HP DL180's real files, its SMBIOS UUID in sysfs.
fn host_root(name: &str) -> std::path::PathBuf {
    let root = scratch(name);
    let put = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    put("proc/cpuinfo", &read("cpuinfo/linux-hp-dl180"));
    put("proc/sys/kernel/hostname", b"dl180\n");
    put("etc/machine-id", b"00d3f681fe8e11d5b6561cc1de0905ae\n");
    let uuid = dmi(
        &read_text("dmidecode/hp-dl180"),
        "System Information",
        "UUID",
    );
    put(
        "sys/class/dmi/id/product_uuid",
        format!("{}\n", uuid.to_lowercase()).as_bytes(),
    );
    root
}

/// A `virsh` that prints the corpus captures: `list --all` is `virsh/list1`, domain 151
/// is `dumpxml1` and 152 `dumpxml2`; the other domains fail as a domain that stopped
/// meanwhile does; `capabilities` fails (no capture).
fn fake_virsh(dir: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let c = |f: &str| corpus(f).display().to_string();
    let script = format!(
        "#!/bin/sh\n[ \"$1 $2 $3\" = '--readonly --connect qemu:///system' ] || exit 9\nshift 3\ncase \"$*\" in\n\
         'list --all') cat '{}' ;;\n'dumpxml 151') cat '{}' ;;\n'dumpxml 152') cat '{}' ;;\n\
         dumpxml*) echo \"error: failed to get domain '$2'\" >&2; exit 1 ;;\n\
         *) echo 'error: unsupported' >&2; exit 1 ;;\nesac\n",
        c("virsh/list1"),
        c("virsh/dumpxml1"),
        c("virsh/dumpxml2")
    );
    let p = dir.join("virsh");
    fs::write(&p, script).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

#[test]
fn the_scanner_packs_a_vmman_scan_from_virsh() {
    let root = host_root("virsh-root");
    let bin = scratch("virsh-bin");
    let opts = ScanOptions {
        virsh: Some(fake_virsh(&bin)),
        ..ScanOptions::with_root(&root)
    };
    let built = scan_local_host(&opts).unwrap();
    assert!(built.members().any(|(n, _)| n == "0_vmman.tar.gz"));
    assert!(built.members().any(|(n, _)| n == "product_uuid"));
    let skipped = built
        .notes
        .iter()
        .filter(|n| n.starts_with("virsh: domain ") && n.contains("skipped"))
        .count();
    assert_eq!(skipped, 7, "{:?}", built.notes);
    let p = read_tgz(&scan_package_bytes(&built).unwrap(), &Limits::default()).unwrap();
    assert_eq!(p.vm_manager.len(), 1);
    let s = &p.vm_manager[0];
    assert!(s.member.starts_with("0_vmman.tar.gz/vmman_scan_"));
    assert_eq!(s.virtual_technology.as_deref(), Some("KVM_X86"));
    assert_eq!(s.id.as_deref(), Some(p.computer.endpoint_id.as_str()));
    assert_eq!(Some(s.observed_at), p.computer.scan_time);
    assert_eq!(s.host.uuid, "00d3f681-fe8e-11d5-b656-1cc1de0905ae");
    assert_eq!(s.host.name.as_deref(), Some("dl180"));
    assert_eq!((s.host.cores, s.host.active_sockets), (Some(4), Some(1)));
    let guests: Vec<(&str, Option<&str>, u32)> = s
        .guests
        .iter()
        .map(|g| (g.uuid.as_str(), g.name.as_deref(), g.vcpus))
        .collect();
    assert_eq!(
        guests,
        vec![
            (
                "d0f1baf3-ac9d-e828-619f-91f074c8c6c4",
                Some("Debian_Squeeze_64_bits"),
                1
            ),
            ("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", Some("vm2"), 4),
        ]
    );
    assert_eq!(
        p.capacity.identity.system_uuid.as_deref(),
        Some("00d3f681-fe8e-11d5-b656-1cc1de0905ae")
    );
    fs::remove_dir_all(&root).unwrap();
    fs::remove_dir_all(&bin).unwrap();
}

#[test]
fn without_virsh_the_scan_packs_nothing_and_says_why() {
    let root = host_root("no-virsh-root");
    let bin = scratch("no-virsh-bin");
    // Absent.
    let opts = ScanOptions {
        virsh: Some(bin.join("virsh")),
        ..ScanOptions::with_root(&root)
    };
    let built = scan_local_host(&opts).unwrap();
    assert!(!built.members().any(|(n, _)| n.ends_with("_vmman.tar.gz")));
    assert!(
        built
            .notes
            .iter()
            .any(|n| n.starts_with("no VM-manager scan: `") && n.ends_with("` not found")),
        "{:?}",
        built.notes
    );
    // Present but failing (libvirtd not running): `list` exits 1.
    use std::os::unix::fs::PermissionsExt;
    let failing = bin.join("virsh-down");
    fs::write(
        &failing,
        "#!/bin/sh\necho 'error: failed to connect to the hypervisor' >&2\nexit 1\n",
    )
    .unwrap();
    fs::set_permissions(&failing, fs::Permissions::from_mode(0o755)).unwrap();
    let built = scan_local_host(&ScanOptions {
        virsh: Some(failing),
        ..ScanOptions::with_root(&root)
    })
    .unwrap();
    assert!(!built.members().any(|(n, _)| n.ends_with("_vmman.tar.gz")));
    assert!(
        built
            .notes
            .iter()
            .any(|n| n.starts_with("no VM-manager scan: ")
                && n.ends_with("error: failed to connect to the hypervisor")),
        "{:?}",
        built.notes
    );
    fs::remove_dir_all(&root).unwrap();
    fs::remove_dir_all(&bin).unwrap();
}
