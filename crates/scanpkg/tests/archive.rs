//! The archive reader, builder and scanner on real data, and the rejection of malformed
//! packages derived from real packages in each test.

mod common;

use std::fs;
use std::io::Cursor;

use common::*;
use openlmt_scanpkg::{
    build_scan_package_from_dir, parse_scan_package_name, read_scan_package,
    read_scan_package_file, scan_local_host, scan_package_bytes, write_scan_package, ArchiveKind,
    BuiltScanPackage, EvidenceSet, Limits, ScanOptions, ScanPackage, ScanPackageError,
    ScanPackageTemplate,
};

fn read_tgz(bytes: &[u8], limits: &Limits) -> Result<ScanPackage, ScanPackageError> {
    read_scan_package(ArchiveKind::TarGz, Cursor::new(bytes), limits)
}

fn read_zip(bytes: &[u8], limits: &Limits) -> Result<ScanPackage, ScanPackageError> {
    read_scan_package(ArchiveKind::Zip, Cursor::new(bytes), limits)
}

fn vm_scan_package() -> BuiltScanPackage {
    build_scan_package_from_dir(&corpus(VM_DIR), computer("test-endpoint-1")).unwrap()
}

fn check_vm(p: &ScanPackage) {
    assert_eq!(p.computer.endpoint_id, "test-endpoint-1");
    assert_eq!(p.computer.ip_addresses, vec!["192.0.2.10", "2001:db8::10"]);
    assert_eq!(p.installed_packages.len(), 759);
    assert_eq!(p.swid_tags.len(), 759);
    let c = &p.capacity;
    assert_eq!((c.sockets, c.cores, c.threads), (1, Some(2), Some(2)));
    assert!(c.is_virtual);
    assert_eq!(c.hypervisor.as_deref(), Some("KVM"));
    assert_eq!(c.vendor.as_deref(), Some("GenuineIntel"));
    assert!(
        !p.notes.iter().any(|n| n.starts_with("ignored")),
        "{:?}",
        p.notes
    );
}

/// A small real package (capacity + package list + 3 tags) for the malformed-input tests.
fn small_members() -> Vec<(String, Vec<u8>)> {
    let c = computer("small-1");
    let mut v = vec![
        (
            "computer.yml".to_string(),
            c.to_yaml().unwrap().into_bytes(),
        ),
        ("cpuinfo".to_string(), read("cpuinfo/rhel-5.6")),
        (
            "dpkg-query.tsv".to_string(),
            read("packaging/dpkg-query.tsv"),
        ),
    ];
    for name in [
        "Debian_12-x86_64-adduser-3.134.swidtag",
        "Debian_12-x86_64-adwaita-icon-theme-43-1.swidtag",
        "Debian_12-x86_64-alsa-topology-conf-1.2.5.1-2.swidtag",
    ] {
        v.push((
            format!("isotag_scan/{name}"),
            read(&format!("{VM_DIR}/isotag_scan/{name}")),
        ));
    }
    v
}

fn small_tgz() -> Vec<u8> {
    let m = small_members();
    let raw: Vec<Raw<'_>> = m.iter().map(|(n, d)| Raw::File(n, d)).collect();
    raw_tar_gz(&raw)
}

#[test]
fn tar_gz_round_trip_of_the_debian12_vm() {
    let pkg = vm_scan_package();
    // 4 evidence files (cpuinfo, lscpu.json, dpkg-status... os-release is not packed) + 759 tags
    assert_eq!(pkg.members().count(), 3 + 759);
    let bytes = scan_package_bytes(&pkg).unwrap();
    let p = read_tgz(&bytes, &Limits::default()).unwrap();
    check_vm(&p);
    // As built, plus the facts digest the writer states (format 4).
    let stated = openlmt_scanpkg::ComputerInfo {
        facts_digest: Some(p.facts_digest.to_stated()),
        ..pkg.computer().clone()
    };
    assert_eq!(p.computer, stated);
    assert_eq!(pkg.file_name(), "202405011230-test-endpoint-1.tar.gz");
}

#[test]
fn system_tar_and_zip_variant_agree() {
    let pkg = vm_scan_package();
    let tgz = read_tgz(&scan_package_bytes(&pkg).unwrap(), &Limits::default()).unwrap();
    let yml = pkg.computer().to_yaml().unwrap();
    let mut members: Vec<(&str, &[u8])> = vec![("computer.yml", yml.as_bytes())];
    members.extend(pkg.members());
    let zip = zip_of(&members);
    let z = read_zip(&zip, &Limits::default()).unwrap();
    check_vm(&z);
    assert_eq!(z.installed_packages, tgz.installed_packages);
    assert_eq!(z.swid_tags, tgz.swid_tags);
    assert_eq!(z.capacity, tgz.capacity);
}

#[test]
fn template_packages_are_valid_multi_member_gzip() {
    let ev = EvidenceSet::from_dir(&corpus(VM_DIR)).unwrap();
    assert_eq!(
        ev.os_pretty_name.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
    let t = ScanPackageTemplate::new(&ev).unwrap();
    for i in 0..3 {
        let c = computer(&format!("replica-{i}"));
        let bytes = t.scan_package_bytes(&c).unwrap();
        let p = read_tgz(&bytes, &Limits::default()).unwrap();
        assert_eq!(p.computer.endpoint_id, format!("replica-{i}"));
        assert_eq!(p.installed_packages.len(), 759);
        assert_eq!(p.swid_tags.len(), 759);
    }
    // GNU tar reads it too (when present).
    let dir = scratch("template");
    let path = t.write_scan_package(&computer("replica-x"), &dir).unwrap();
    assert_eq!(
        path.file_name().unwrap().to_string_lossy(),
        "202405011230-replica-x.tar.gz"
    );
    if let Ok(out) = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&path)
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8_lossy(&out.stdout);
        assert_eq!(listing.lines().count(), 1 + 3 + 759);
        assert_eq!(listing.lines().next(), Some("computer.yml"));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn write_scan_package_is_atomic_and_named() {
    let dir = scratch("write");
    let pkg = vm_scan_package();
    let path = write_scan_package(&pkg, &dir).unwrap();
    let names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["202405011230-test-endpoint-1.tar.gz".to_string()]
    );
    let (_, id, kind) = parse_scan_package_name(&names[0]).unwrap();
    assert_eq!((id.as_str(), kind), ("test-endpoint-1", ArchiveKind::TarGz));
    check_vm(&read_scan_package_file(&path, &Limits::default()).unwrap());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn top_level_directory_prefix_is_accepted() {
    let m = small_members();
    let names: Vec<String> = m.iter().map(|(n, _)| format!("host-1/{n}")).collect();
    let mut raw = vec![Raw::Dir("host-1/")];
    raw.extend(names.iter().zip(&m).map(|(n, (_, d))| Raw::File(n, d)));
    raw.push(Raw::File("host-1/os-release", b"unused"));
    let p = read_tgz(&raw_tar_gz(&raw), &Limits::default()).unwrap();
    assert_eq!(p.computer.endpoint_id, "small-1");
    assert_eq!(p.installed_packages.len(), 16);
    assert_eq!(p.swid_tags.len(), 3);
    assert_eq!((p.capacity.sockets, p.capacity.threads), (2, Some(16)));
    assert!(p
        .notes
        .contains(&"ignored unknown member os-release".to_string()));
}

#[test]
fn truncated_archive_is_corrupt() {
    let bytes = small_tgz();
    for cut in [bytes.len() - 1, bytes.len() - 8, bytes.len() / 2, 40, 11] {
        match read_tgz(&bytes[..cut], &Limits::default()) {
            Err(ScanPackageError::Corrupt(msg)) => assert!(!msg.is_empty()),
            other => panic!("cut at {cut}: expected Corrupt, got {other:?}"),
        }
    }
    let zip = {
        let m = small_members();
        let refs: Vec<(&str, &[u8])> = m.iter().map(|(n, d)| (n.as_str(), &d[..])).collect();
        zip_of(&refs)
    };
    let e = read_zip(&zip[..zip.len() / 2], &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::NotZip(_)), "{e}");
}

#[test]
fn corrupted_bytes_are_rejected() {
    let bytes = small_tgz();
    // Damage the gzip CRC in the trailer: only the final check can notice.
    let mut crc = bytes.clone();
    let at = crc.len() - 8;
    crc[at] ^= 0xff;
    let e = read_tgz(&crc, &Limits::default()).err_short();
    assert!(
        matches!(e, ScanPackageError::Corrupt(ref m) if m.contains("checksum")),
        "{e}"
    );
    // Damage the magic number.
    let mut magic = bytes.clone();
    magic[0] = b'P';
    let e = read_tgz(&magic, &Limits::default()).err_short();
    assert_eq!(
        e.to_string(),
        "not a gzip archive: file does not start with the gzip magic bytes 1f 8b"
    );
    // Damage bytes inside the deflate stream: always an error, never a panic.
    for i in (20..bytes.len() - 10).step_by(97) {
        let mut b = bytes.clone();
        b[i] ^= 0x55;
        let _ = read_tgz(&b, &Limits::default()).err_short();
    }
    // Garbage appended after the gzip stream.
    let mut tail = bytes.clone();
    tail.extend_from_slice(&read("cpuinfo/linux-ppc-1"));
    let e = read_tgz(&tail, &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::Corrupt(_)), "{e}");
    // A tar header with a broken checksum inside a valid gzip stream.
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut tar)
        .unwrap();
    tar[0] ^= 0x20;
    let e = read_tgz(&gzip(&tar), &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::Corrupt(_)), "{e}");
}

use std::io::Read;

#[test]
fn path_traversal_member_is_rejected() {
    let m = small_members();
    let passwd = read("hosts/debian12-vm/os-release");
    for bad in ["../etc/passwd", "/etc/passwd", "a/../../x", "C:/x"] {
        let raw = vec![
            Raw::File(&m[0].0, &m[0].1),
            Raw::File(&m[1].0, &m[1].1),
            Raw::File(bad, &passwd),
        ];
        let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
        assert_eq!(e.to_string(), format!("member `{bad}` has an unsafe path"));
    }
    let zip = zip_of(&[
        (&m[0].0, &m[0].1),
        (&m[1].0, &m[1].1),
        ("../etc/passwd", &passwd),
    ]);
    let e = read_zip(&zip, &Limits::default()).err_short();
    assert_eq!(e.to_string(), "member `../etc/passwd` has an unsafe path");
}

#[test]
fn link_and_device_members_are_rejected() {
    let m = small_members();
    let base = |extra: Raw<'static>| {
        let raw = vec![
            Raw::File(&m[0].0, &m[0].1),
            extra,
            Raw::File(&m[1].0, &m[1].1),
        ];
        read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short()
    };
    let e = base(Raw::Symlink("dpkg-status", "/var/lib/dpkg/status"));
    assert!(
        matches!(
            e,
            ScanPackageError::LinkMember {
                kind: "symbolic link",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "member `dpkg-status` is a symbolic link; links are not allowed in a scan package"
    );
    let e = base(Raw::HardLink("dpkg-status", "cpuinfo"));
    assert!(
        matches!(
            e,
            ScanPackageError::LinkMember {
                kind: "hard link",
                ..
            }
        ),
        "{e}"
    );
    let e = base(Raw::Fifo("fifo"));
    assert!(
        matches!(e, ScanPackageError::UnsupportedMember { .. }),
        "{e}"
    );

    // zip symlink
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    use std::io::Write;
    w.start_file("computer.yml", opts).unwrap();
    w.write_all(&m[0].1).unwrap();
    w.add_symlink("cpuinfo", "/proc/cpuinfo", opts).unwrap();
    let zip = w.finish().unwrap().into_inner();
    let e = read_zip(&zip, &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::LinkMember { .. }), "{e}");
}

#[test]
fn limits_are_enforced_on_real_packages() {
    let bytes = small_tgz();
    let small = Limits {
        max_member_size: 1024,
        ..Limits::default()
    };
    // rhel-5.6 cpuinfo is larger than 1 KiB.
    let e = read_tgz(&bytes, &small).err_short();
    assert_eq!(
        e.to_string(),
        "member `cpuinfo` exceeds the 1 KiB per-member size limit"
    );
    let e = read_tgz(
        &bytes,
        &Limits {
            max_total_uncompressed: 16 * 1024,
            ..Limits::default()
        },
    )
    .err_short();
    assert_eq!(e.to_string(), "uncompressed size exceeds 16 KiB limit");
    let e = read_tgz(
        &bytes,
        &Limits {
            max_members: 3,
            ..Limits::default()
        },
    )
    .err_short();
    assert_eq!(e.to_string(), "archive has more than 3 members");

    // The full VM package is about 1 MiB unpacked; the zip reader counts too.
    let pkg = vm_scan_package();
    let yml = pkg.computer().to_yaml().unwrap();
    let mut members: Vec<(&str, &[u8])> = vec![("computer.yml", yml.as_bytes())];
    members.extend(pkg.members());
    let zip = zip_of(&members);
    let lim = Limits {
        max_total_uncompressed: 512 * 1024,
        ..Limits::default()
    };
    let e = read_zip(&zip, &lim).err_short();
    assert_eq!(e.to_string(), "uncompressed size exceeds 512 KiB limit");
    let e = read_zip(
        &zip,
        &Limits {
            max_member_size: 64 * 1024,
            ..Limits::default()
        },
    )
    .err_short();
    assert!(
        matches!(e, ScanPackageError::MemberTooLarge { ref path, .. } if path == "dpkg-status"),
        "{e}"
    );
}

#[test]
fn member_less_archives_are_rejected() {
    let empty_tar = raw_tar_gz(&[]);
    assert!(matches!(
        read_tgz(&empty_tar, &Limits::default()),
        Err(ScanPackageError::Empty)
    ));
    assert!(matches!(
        read_tgz(&gzip(b""), &Limits::default()),
        Err(ScanPackageError::Empty)
    ));
    let empty_zip = zip_of(&[]);
    assert!(matches!(
        read_zip(&empty_zip, &Limits::default()),
        Err(ScanPackageError::Empty)
    ));
    let e = read_tgz(b"", &Limits::default()).err_short();
    assert_eq!(e.to_string(), "not a gzip archive: file is empty");
}

#[test]
fn missing_members_are_rejected() {
    let m = small_members();
    // No computer.yml.
    let raw: Vec<Raw<'_>> = m[1..].iter().map(|(n, d)| Raw::File(n, d)).collect();
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert_eq!(e.to_string(), "missing computer.yml");
    // No capacity evidence.
    let raw = vec![Raw::File(&m[0].0, &m[0].1), Raw::File(&m[2].0, &m[2].1)];
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::MissingCapacity), "{e}");
    // Only a directory.
    let e = read_tgz(&raw_tar_gz(&[Raw::Dir("x/")]), &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::MissingComputer), "{e}");
    // Zip without computer.yml.
    let zip = zip_of(&[(&m[1].0, &m[1].1)]);
    assert!(matches!(
        read_zip(&zip, &Limits::default()),
        Err(ScanPackageError::MissingComputer)
    ));
}

#[test]
fn bad_member_contents_are_reported() {
    let m = small_members();
    // computer.yml without endpointID (the real one with the key renamed).
    let yml = String::from_utf8_lossy(&m[0].1).replace("endpointID", "endpoint");
    let raw = vec![
        Raw::File("computer.yml", yml.as_bytes()),
        Raw::File(&m[1].0, &m[1].1),
    ];
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert_eq!(e.to_string(), "computer.yml: missing endpointID");
    // Duplicate cpuinfo.
    let raw = vec![
        Raw::File(&m[0].0, &m[0].1),
        Raw::File(&m[1].0, &m[1].1),
        Raw::File("./cpuinfo", &m[1].1),
    ];
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert_eq!(e.to_string(), "member `cpuinfo` occurs more than once");
    // Truncated lscpu.json.
    let ls = read("hosts/debian12-vm/lscpu.json");
    let raw = vec![
        Raw::File(&m[0].0, &m[0].1),
        Raw::File("lscpu.json", &ls[..100]),
    ];
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert!(e.to_string().starts_with("lscpu.json: invalid JSON"), "{e}");
    // A damaged tag is skipped with a note, the rest is kept.
    let tag = &m[3].1;
    let raw = vec![
        Raw::File(&m[0].0, &m[0].1),
        Raw::File(&m[1].0, &m[1].1),
        Raw::File("isotag_scan/broken.swidtag", &tag[..tag.len() / 2]),
        Raw::File(&m[4].0, &m[4].1),
    ];
    let p = read_tgz(&raw_tar_gz(&raw), &Limits::default()).unwrap();
    assert_eq!(p.swid_tags.len(), 1);
    assert!(p
        .notes
        .iter()
        .any(|n| n.starts_with("isotag_scan/broken.swidtag: skipped")));
    // A cpuinfo with no processor (the PowerPC file with its processor line removed).
    let ppc = read_text("cpuinfo/linux-ppc-1").replace("processor", "proc");
    let raw = vec![
        Raw::File(&m[0].0, &m[0].1),
        Raw::File("cpuinfo", ppc.as_bytes()),
    ];
    let e = read_tgz(&raw_tar_gz(&raw), &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::NoProcessor(_)), "{e}");
}

#[test]
fn wrong_kind_is_reported() {
    let zip = zip_of(&[("computer.yml", b"endpointID: a\n")]);
    assert!(matches!(
        read_tgz(&zip, &Limits::default()),
        Err(ScanPackageError::NotGzip(_))
    ));
    assert!(matches!(
        read_zip(&small_tgz(), &Limits::default()),
        Err(ScanPackageError::NotZip(_))
    ));
    assert_eq!(
        ArchiveKind::from_file_name("x.TGZ"),
        Some(ArchiveKind::TarGz)
    );
    assert_eq!(ArchiveKind::from_file_name("x.tar.bz2"), None);
    let e = read_scan_package_file(
        std::path::Path::new("/nonexistent/x.rar"),
        &Limits::default(),
    )
    .err_short();
    assert!(matches!(e, ScanPackageError::UnknownSuffix(_)), "{e}");
}

#[test]
fn scanner_on_a_root_built_from_the_corpus() {
    // Lay the real debian12-vm files out as they are on the host.
    let root = scratch("root");
    let put = |rel: &str, data: &[u8]| {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, data).unwrap();
    };
    put("proc/cpuinfo", &read("hosts/debian12-vm/cpuinfo"));
    put("etc/os-release", &read("hosts/debian12-vm/os-release"));
    put(
        "var/lib/dpkg/status",
        &read("hosts/debian12-vm/dpkg-status"),
    );
    put("proc/sys/kernel/hostname", b"debian12-vm\n");
    put("etc/machine-id", b"0123456789abcdef0123456789abcdef\n");
    for e in fs::read_dir(corpus("hosts/debian12-vm/isotag_scan")).unwrap() {
        let e = e.unwrap();
        put(
            &format!(
                "usr/share/swidtag/debian.org/{}",
                e.file_name().to_string_lossy()
            ),
            &fs::read(e.path()).unwrap(),
        );
    }
    let pkg = scan_local_host(&ScanOptions::with_root(&root)).unwrap();
    let p = read_tgz(&scan_package_bytes(&pkg).unwrap(), &Limits::default()).unwrap();
    assert_eq!(
        p.computer.endpoint_id,
        openlmt_scanpkg::endpoint_id_from_machine_id("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(p.computer.computer_name.as_deref(), Some("debian12-vm"));
    assert_eq!(p.computer.dns_name.as_deref(), Some("debian12-vm"));
    assert_eq!(
        p.computer.operating_system.as_deref(),
        Some("Debian GNU/Linux 12 (bookworm)")
    );
    assert!(p
        .computer
        .agent_version
        .as_deref()
        .unwrap()
        .starts_with("openlmt-scan "));
    assert_eq!(p.installed_packages.len(), 759);
    assert_eq!(p.swid_tags.len(), 759);
    assert_eq!(
        (p.capacity.sockets, p.capacity.cores, p.capacity.threads),
        (1, Some(2), Some(2))
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn scanner_on_this_machine() {
    let has_machine_id = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .any(|p| fs::read_to_string(p).is_ok_and(|s| !s.trim().is_empty()));
    let result = scan_local_host(&ScanOptions::default());
    if !has_machine_id {
        assert!(result.is_err());
        return;
    }
    let pkg = result.unwrap();
    let dir = scratch("local");
    let path = write_scan_package(&pkg, &dir).unwrap();
    let p = read_scan_package_file(&path, &Limits::default()).unwrap();
    // computer.yml round-trips exactly (scan time is taken in whole seconds), with the
    // facts digest the writer states.
    let stated = openlmt_scanpkg::ComputerInfo {
        facts_digest: Some(p.facts_digest.to_stated()),
        ..pkg.computer().clone()
    };
    assert_eq!(p.computer, stated);
    assert_eq!(path.file_name().unwrap().to_string_lossy(), pkg.file_name());
    assert_eq!(p.computer.endpoint_id.len(), 32);
    assert!(p.capacity.threads >= Some(1));
    assert!(p
        .computer
        .ip_addresses
        .iter()
        .all(|ip| ip != "127.0.0.1" && ip != "::1"));
    if std::path::Path::new("/var/lib/dpkg/status").exists() {
        assert!(!p.installed_packages.is_empty());
    }
    // Without root, dmidecode is skipped with a note (or absent altogether).
    assert!(
        pkg.members().any(|(n, _)| n == "dmidecode.txt")
            || pkg.notes.iter().any(|n| n.starts_with("dmidecode"))
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn packages_made_by_gnu_tar_are_read() {
    // `tar -czf` over a directory laid out like a package: GNU tar writes a `./` entry,
    // `./`-prefixed names and long-name records for the longest tag file names.
    let Ok(v) = std::process::Command::new("tar").arg("--version").output() else {
        return; // no tar on this machine
    };
    assert!(v.status.success());
    let dir = scratch("gnutar");
    let src = dir.join("host");
    fs::create_dir_all(src.join("isotag_scan")).unwrap();
    fs::write(
        src.join("computer.yml"),
        computer("gnu-tar-1").to_yaml().unwrap(),
    )
    .unwrap();
    for f in ["cpuinfo", "lscpu.json", "dpkg-status", "os-release"] {
        fs::copy(corpus(&format!("{VM_DIR}/{f}")), src.join(f)).unwrap();
    }
    for e in fs::read_dir(corpus(&format!("{VM_DIR}/isotag_scan"))).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), src.join("isotag_scan").join(e.file_name())).unwrap();
    }
    let out = dir.join("202405011230-gnu-tar-1.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    // Passing `&mut File` works as well as an owned reader.
    let mut file = fs::File::open(&out).unwrap();
    let p = read_scan_package(ArchiveKind::TarGz, &mut file, &Limits::default()).unwrap();
    assert_eq!(p.computer.endpoint_id, "gnu-tar-1");
    assert_eq!(p.installed_packages.len(), 759);
    assert_eq!(p.swid_tags.len(), 759);
    assert_eq!(
        p.notes.iter().filter(|n| n.starts_with("ignored")).count(),
        1
    );
    assert!(p
        .notes
        .contains(&"ignored unknown member os-release".to_string()));

    // The same tree under one top-level directory (`tar -czf x -C dir host`).
    let out2 = dir.join("prefixed.tgz");
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out2)
        .arg("-C")
        .arg(&dir)
        .arg("host")
        .status()
        .unwrap();
    assert!(st.success());
    let p2 = read_scan_package_file(&out2, &Limits::default()).unwrap();
    assert_eq!(p2.installed_packages, p.installed_packages);
    assert_eq!(p2.swid_tags.len(), 759);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dmidecode_members_decide_capacity_end_to_end() {
    let yml = computer("dmi-1").to_yaml().unwrap();
    // Dell R640 with only its DMI table: physical, 2 sockets, 16 cores, 32 threads.
    let dmi = read("dmidecode/dell-r640");
    let raw = vec![
        Raw::File("computer.yml", yml.as_bytes()),
        Raw::File("dmidecode.txt", &dmi),
    ];
    let p = read_tgz(&raw_tar_gz(&raw), &Limits::default()).unwrap();
    let c = &p.capacity;
    assert_eq!(
        (c.sockets, c.cores, c.threads, c.is_virtual),
        (2, Some(16), Some(32), false)
    );
    assert_eq!(c.model.as_deref(), Some("Xeon Gold 6244"));
    // Dell R720xd with only its DMI table; its CPU2 is `Populated, Idle`: still 2 sockets.
    let dmi = read("dmidecode/dell-r720");
    let raw = vec![
        Raw::File("computer.yml", yml.as_bytes()),
        Raw::File("dmidecode.txt", &dmi),
    ];
    let p = read_zip(
        &zip_of(&[("computer.yml", yml.as_bytes()), ("dmidecode.txt", &dmi)]),
        &Limits::default(),
    )
    .unwrap();
    let q = read_tgz(&raw_tar_gz(&raw), &Limits::default()).unwrap();
    assert_eq!(p.capacity, q.capacity);
    assert_eq!(
        (p.capacity.sockets, p.capacity.cores, p.capacity.threads),
        (2, Some(20), Some(40))
    );
    // RHEL 6.2 guest: cpuinfo for topology, dmidecode names the hypervisor.
    let cpu = read("cpuinfo/rhel-6.2-vmware-2vcpus");
    let dmi = read("dmidecode/rhel-6.2-vmware-2vcpus");
    let raw = vec![
        Raw::File("computer.yml", yml.as_bytes()),
        Raw::File("cpuinfo", &cpu),
        Raw::File("dmidecode.txt", &dmi),
    ];
    let p = read_tgz(&raw_tar_gz(&raw), &Limits::default()).unwrap();
    let c = &p.capacity;
    assert_eq!((c.sockets, c.cores, c.threads), (2, Some(2), Some(2)));
    assert_eq!(
        (c.is_virtual, c.hypervisor.as_deref()),
        (true, Some("VMware"))
    );
    assert!(p
        .notes
        .iter()
        .any(|n| n.contains("virtualization from dmidecode.txt")));
}
