//! Black-box test of issue 9 (virtualization evidence): `openlmt scan` on a KVM host
//! (a `virsh` that prints the corpus's real captures) packs IBM's `0_vmman.tar.gz`; an
//! import of that host package and of a guest's package stores the host's observation of
//! the guest and the guest's own SMBIOS UUID, so the licence step can match them; a host
//! package whose vmman scan is malformed still imports its software, the reason logged.

mod common;

use common::{bin, corpus, TestServer};
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// A value of `<name>` in a corpus file.
fn element(text: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = text.find(&open).unwrap() + open.len();
    let end = text[start..].find(&format!("</{name}>")).unwrap() + start;
    text[start..end].to_string()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(corpus().join(rel)).unwrap()
}

/// The HP DL180's SMBIOS UUID (`dmidecode/hp-dl180`): the host's UUID in this test.
fn host_uuid() -> String {
    read("dmidecode/hp-dl180")
        .lines()
        .find_map(|l| l.trim().strip_prefix("UUID: ").map(str::to_string))
        .unwrap()
}

/// A `virsh` printing the corpus captures: `list --all` is `virsh/list1`, domain 151 is
/// `dumpxml1`, 152 `dumpxml2`; other domains fail (stopped meanwhile). `capabilities` has
/// no capture: its `<host><uuid>` is the HP DL180's SMBIOS UUID.
fn fake_virsh(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let c = |f: &str| corpus().join(f).display().to_string();
    let script = format!(
        "#!/bin/sh\n[ \"$1 $2 $3\" = '--readonly --connect qemu:///system' ] || exit 9\nshift 3\ncase \"$*\" in\n\
         'list --all') cat '{}' ;;\n'dumpxml 151') cat '{}' ;;\n'dumpxml 152') cat '{}' ;;\n\
         capabilities) echo '<capabilities><host><uuid>{}</uuid></host></capabilities>' ;;\n\
         *) echo \"error: failed to get domain '$2'\" >&2; exit 1 ;;\nesac\n",
        c("virsh/list1"),
        c("virsh/dumpxml1"),
        c("virsh/dumpxml2"),
        host_uuid().to_lowercase(),
    );
    let p = dir.join("virsh");
    std::fs::write(&p, script).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A tar.gz of (name, bytes) members, written into `dir` as `file`.
fn tar_gz(dir: &Path, file: &str, members: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join(file)).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

/// The members of a tar.gz.
fn members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

fn computer_yml(endpoint: &str) -> String {
    format!(
        "format_version: 3\nendpointID: {endpoint}\nComputer Name: {endpoint}\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-11-28T12:00:00Z\n"
    )
}

#[test]
fn a_kvm_host_and_its_guest_store_the_observation_and_the_guest_uuid() {
    let s = TestServer::start();
    let ds = s.datasource();
    let tmp = tempfile::tempdir().unwrap();
    let (tags, virsh_dir) = (tmp.path().join("tags"), tmp.path().join("bin"));
    std::fs::create_dir_all(&tags).unwrap();
    std::fs::create_dir_all(&virsh_dir).unwrap();
    let out_dir = tmp.path().join("out");

    // 1. The host scans itself with the fake virsh.
    let out = Command::new(bin())
        .args(["scan", "--output"])
        .arg(&out_dir)
        .arg("--tag-root")
        .arg(&tags)
        .arg("--virsh")
        .arg(fake_virsh(&virsh_dir))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("virsh: domain 170 (vm-ad) skipped"),
        "the domains without a capture are said: {stderr}"
    );
    let scanned = std::fs::read_dir(&out_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let host_pkg = std::fs::read(&scanned).unwrap();
    let vmman = members(&host_pkg)
        .into_iter()
        .find(|(n, _)| n == "0_vmman.tar.gz")
        .expect("the package carries 0_vmman.tar.gz")
        .1;
    let xml = String::from_utf8(members(&vmman).remove(0).1).unwrap();
    assert!(xml.contains("<capacity_report>") && xml.contains("<vp_count>4</vp_count>"));
    std::fs::copy(&scanned, ds.join(scanned.file_name().unwrap())).unwrap();

    // 2. The guest vm2 (`virsh/dumpxml2`): the corpus's Debian 12 KVM guest's evidence,
    // its SMBIOS UUID (product_uuid) being vm2's libvirt UUID.
    let guest_uuid = element(&read("virsh/dumpxml2"), "uuid");
    let vm = corpus().join("hosts/debian12-vm");
    let cpuinfo = std::fs::read(vm.join("cpuinfo")).unwrap();
    let dpkg = std::fs::read(vm.join("dpkg-status")).unwrap();
    let yml = computer_yml("vm2");
    let uuid_line = format!("{guest_uuid}\n");
    tar_gz(
        &ds,
        "202611281200-vm2.tar.gz",
        &[
            ("computer.yml", yml.as_bytes()),
            ("cpuinfo", &cpuinfo),
            ("dpkg-status", &dpkg),
            ("product_uuid", uuid_line.as_bytes()),
        ],
    );

    // 3. A second host whose vmman scan is malformed (a vCPU count that is not a
    // number): its software still imports; the reason is in the import log.
    let bad_xml = xml.replace("<vp_count>4</vp_count>", "<vp_count>four</vp_count>");
    let bad_vmman = {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_size(bad_xml.len() as u64);
        h.set_mode(0o644);
        t.append_data(&mut h, "vmman_scan_2_1796121000.xml", bad_xml.as_bytes())
            .unwrap();
        t.into_inner().unwrap().finish().unwrap()
    };
    let yml2 = computer_yml("host-2");
    let cpu2 = std::fs::read(corpus().join("cpuinfo/rhel-5.6")).unwrap();
    let rpm = std::fs::read(corpus().join("packaging/rpm-qa.tsv")).unwrap();
    tar_gz(
        &ds,
        "202611281200-host-2.tar.gz",
        &[
            ("computer.yml", yml2.as_bytes()),
            ("cpuinfo", &cpu2),
            ("rpm-qa.tsv", &rpm),
            ("0_vmman.tar.gz", &bad_vmman),
        ],
    );

    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    assert_eq!(imp["packages"]["imported"], 3, "{imp}");

    // The guest's identity, through the computers API.
    let c = s.json("/api/sam/v2/computers?columns[]=id&columns[]=endpoint_id&columns[]=system_uuid&columns[]=computer_hardware.computer_type");
    let rows = c["rows"].as_array().unwrap();
    let by = |e: &str| rows.iter().find(|r| r["endpoint_id"] == e).unwrap().clone();
    let vm2 = by("vm2");
    assert_eq!(vm2["system_uuid"], guest_uuid.as_str(), "{vm2}");
    assert_eq!(vm2["computer_hardware"]["computer_type"], 1, "{vm2}");
    let host_id = rows
        .iter()
        .find(|r| r["endpoint_id"] != "vm2" && r["endpoint_id"] != "host-2")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let host2_id = by("host-2")["id"].as_i64().unwrap();

    // The observation, as the licence step reads it.
    let (rt, store) = s.store();
    let obs = rt
        .block_on(store.vm_observations_between(0, i64::MAX))
        .unwrap();
    assert_eq!(obs.len(), 1, "{obs:?}");
    let o = &obs[0];
    assert_eq!(o.computer_id, host_id, "reported by the host that sent it");
    assert_eq!(o.host_uuid, host_uuid().to_lowercase());
    assert_eq!(o.virtual_technology.as_deref(), Some("KVM_X86"));
    let guests: Vec<(String, Option<String>, i64)> = o
        .guests
        .iter()
        .map(|g| (g.uuid.clone(), g.name.clone(), g.vcpus))
        .collect();
    assert_eq!(
        guests,
        vec![
            (
                element(&read("virsh/dumpxml1"), "uuid"),
                Some("Debian_Squeeze_64_bits".into()),
                1
            ),
            (guest_uuid.clone(), Some("vm2".into()), 4),
        ]
    );
    // The guest matches its computer by UUID.
    let ids = rt.block_on(store.computer_identities()).unwrap();
    let matched: Vec<&str> = ids
        .iter()
        .filter(|c| {
            c.identity.system_uuid.as_deref().is_some_and(|u| {
                openlmt_storage::normalize_uuid(u)
                    == openlmt_storage::normalize_uuid(&o.guests[1].uuid)
            })
        })
        .map(|c| c.endpoint_id.as_str())
        .collect();
    assert_eq!(matched, vec!["vm2"]);

    // host-2: imported with its software, its vmman scan left out with the reason.
    let facts = s.json(&format!(
        "/api/sam/raw_package_facts?criteria={}",
        common::enc(&format!(r#"{{"and":[["computer_id","=",{host2_id}]]}}"#))
    ));
    assert_eq!(facts["total"], 10, "{facts}");
    let log = s
        .get(&format!("/api/imports/{}/log", imp["id"]))
        .text()
        .unwrap();
    assert!(
        log.contains(
            "Package `202611281200-host-2.tar.gz`: ignored vmman scan \
             0_vmman.tar.gz/vmman_scan_2_1796121000.xml: guest_layer 2 \
             (5e3884eb-0caa-194b-cd17-3d9ca1b20c3b) vp_count `four` is not a number"
        ),
        "{log}"
    );
    assert_eq!(
        log.matches("ignored vmman scan").count(),
        1,
        "said once, as a warning: {log}"
    );
    assert!(log.contains(" WARN  Package `202611281200-host-2.tar.gz`: ignored vmman scan"));
    assert!(
        log.contains("Wrote 1 VM-manager observations of 2 guests in all"),
        "{log}"
    );
    assert_eq!(s.leftovers(), openlmt_storage::LeftoverCounts::default());
}

/// A host package (the HP DL180's real cpuinfo, dmidecode and a dpkg list) carrying one
/// observation at `at` (Unix s) of the corpus's two KVM domains.
fn host_package(ds: &Path, stamp: &str, at: i64, dpkg: &[u8]) {
    use openlmt_scanpkg::vmman::{parse_domain_xml, vmman_archive, vmman_scan_xml};
    let guest = |f: &str| parse_domain_xml(read(f).as_bytes()).unwrap();
    let scan = openlmt_scanpkg::VmManagerScan {
        member: String::new(),
        id: Some("dl180".into()),
        virtual_technology: Some("KVM_X86".into()),
        observed_at: chrono::DateTime::from_timestamp(at, 0).unwrap(),
        host: openlmt_scanpkg::VmHost {
            uuid: host_uuid(),
            name: Some("dl180".into()),
            cores: Some(4),
            active_sockets: Some(1),
            available_sockets: Some(1),
            ..Default::default()
        },
        guests: vec![guest("virsh/dumpxml1"), guest("virsh/dumpxml2")],
    };
    let vmman = vmman_archive(&[(
        format!("vmman_scan_dl180_{at}.xml"),
        vmman_scan_xml(&scan).into_bytes(),
    )])
    .unwrap();
    let yml = computer_yml("dl180");
    let cpu = std::fs::read(corpus().join("cpuinfo/linux-hp-dl180")).unwrap();
    let dmi = std::fs::read(corpus().join("dmidecode/hp-dl180")).unwrap();
    tar_gz(
        ds,
        &format!("{stamp}-dl180.tar.gz"),
        &[
            ("computer.yml", yml.as_bytes()),
            ("cpuinfo", &cpu),
            ("dmidecode.txt", &dmi),
            ("dpkg-query.tsv", dpkg),
            ("0_vmman.tar.gz", &vmman),
        ],
    );
}

/// A host that sent two packages since the last import: the newer one is imported, the
/// older one stays skipped, and the observations of both are kept (each package carries
/// only the scans made since the one before it, as IBM's packer does).
#[test]
fn the_older_package_of_a_host_keeps_its_observations() {
    let s = TestServer::start();
    let ds = s.datasource();
    let dpkg = std::fs::read(corpus().join("packaging/dpkg-query.tsv")).unwrap();
    // 2026-11-28 11:00 and 12:00 UTC.
    host_package(&ds, "202611281100", 1_795_863_600, &dpkg);
    let fewer: Vec<u8> = dpkg
        .split_inclusive(|&b| b == b'\n')
        .take(3)
        .flatten()
        .copied()
        .collect();
    host_package(&ds, "202611281200", 1_795_867_200, &fewer);
    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    assert_eq!(imp["packages"]["imported"], 1, "{imp}");
    let (rt, store) = s.store();
    let obs = rt
        .block_on(store.vm_observations_between(0, i64::MAX))
        .unwrap();
    let times: Vec<(i64, usize)> = obs
        .iter()
        .map(|o| (o.observed_at_ms, o.guests.len()))
        .collect();
    assert_eq!(
        times,
        vec![(1_795_863_600_000, 2), (1_795_867_200_000, 2)],
        "both packages' observations"
    );
    // The software and the identity are the newer package's.
    let c = s.json("/api/sam/v2/computers?columns[]=id&columns[]=system_serial&columns[]=socket_slots&columns[]=computer_hardware.server_serial_number");
    let row = &c["rows"][0];
    assert_eq!(row["system_serial"], "CZJ02901TG", "{row}");
    assert_eq!(row["socket_slots"], 2, "{row}");
    assert_eq!(
        row["computer_hardware"]["server_serial_number"],
        "CZJ02901TG"
    );
    let facts = s.json("/api/sam/raw_package_facts");
    assert_eq!(facts["total"], 3, "{facts}");
    let log = s
        .get(&format!("/api/imports/{}/log", imp["id"]))
        .text()
        .unwrap();
    assert!(
        log.contains(
            "Package `202611281100-dl180.tar.gz` (skipped, older): 1 VM-manager observations read"
        ),
        "{log}"
    );
    // Imported again unchanged: nothing new, nothing lost.
    let again = s.import_and_wait();
    assert_eq!(again["status"], "successful", "{again}");
    assert_eq!(
        rt.block_on(store.vm_observations_between(0, i64::MAX))
            .unwrap()
            .len(),
        2
    );
}
