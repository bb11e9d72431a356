//! The virtualized fleet of the licence tests (license_api.rs,
//! audit_snapshot.rs), from real evidence: a KVM host (the corpus's HP
//! DL180: its cpuinfo and dmidecode) whose scan package carries VM-manager
//! data listing the two real KVM domains of the corpus's `virsh dumpxml`
//! captures (their UUIDs and vCPUs), the two guests (the corpus's Debian 12
//! VM, each with its domain's UUID as `product_uuid`, the first
//! byte-swapped as VMware and older dmidecode print it), and a VM whose UUID
//! no VM manager reports (the corpus VMware guest's); and an operator's
//! catalog with one PVU product recognised by the dpkg package `bash`.

use super::{corpus, write_package_members, TestServer};
use chrono::Utc;
use openlmt_scanpkg::vmman::{vmman_archive, vmman_scan_xml};
use openlmt_scanpkg::{VmGuest, VmHost, VmManagerScan};
use serde_json::Value;
use std::path::Path;

/// A PVU product recognised by the dpkg package `bash` (every Debian host
/// has it), in the catalog's minimal form.
pub const CATALOG: &str = r#"{"catalog_version": "test-1",
 "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
   "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
     "signatures": [{"package": {"source": "dpkg", "name": "bash"}}]}]}]}"#;

pub fn text(path: &str) -> String {
    std::fs::read_to_string(corpus().join(path)).unwrap()
}

/// The text between `<name>` and `</name>` in a corpus file.
pub fn element(t: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let start = t.find(&open).unwrap() + open.len();
    let end = t[start..].find(&format!("</{name}>")).unwrap() + start;
    t[start..end].to_string()
}

/// A UUID with its first three groups byte-swapped.
pub fn swapped(u: &str) -> String {
    let g: Vec<&str> = u.split('-').collect();
    let rev = |s: &str| {
        (0..s.len() / 2)
            .rev()
            .map(|i| &s[2 * i..2 * i + 2])
            .collect::<String>()
    };
    format!(
        "{}-{}-{}-{}-{}",
        rev(g[0]),
        rev(g[1]),
        rev(g[2]),
        g[3],
        g[4]
    )
}

pub fn computer_yml(endpoint: &str) -> Vec<u8> {
    format!(
        "format_version: 3\nendpointID: {endpoint}\nComputer Name: {endpoint}\nDNS Name: {endpoint}.example.test\nIP Address: [192.0.2.10]\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-12-01T12:00:00Z\n"
    )
    .into_bytes()
}

/// The KVM host: the HP DL180's capacity evidence, no software, and a
/// VM-manager scan taken now listing the two corpus domains.
pub fn host_package(dir: &Path, guests: &[(String, u32)]) {
    let scan = VmManagerScan {
        member: String::new(),
        id: Some("1712345678123456789".into()),
        virtual_technology: Some("KVM_X86".into()),
        observed_at: Utc::now() - chrono::Duration::minutes(5),
        host: VmHost {
            uuid: "00000000-0000-0000-0000-000000000000".into(),
            name: Some("dl180".into()),
            ..Default::default()
        },
        guests: guests
            .iter()
            .map(|(uuid, vcpus)| VmGuest {
                uuid: uuid.clone(),
                name: None,
                vcpus: *vcpus,
            })
            .collect(),
    };
    let xml = vmman_scan_xml(&scan);
    let vmman = vmman_archive(&[("vmman_scan_1.xml".to_string(), xml.into_bytes())]).unwrap();
    write_package_members(
        dir,
        "202612011200-dl180.tar.gz",
        &[
            ("computer.yml".into(), computer_yml("dl180")),
            (
                "cpuinfo".into(),
                text("cpuinfo/linux-hp-dl180").into_bytes(),
            ),
            (
                "dmidecode.txt".into(),
                text("dmidecode/hp-dl180").into_bytes(),
            ),
            ("0_vmman.tar.gz".into(), vmman),
        ],
    );
}

/// A guest: the corpus Debian 12 VM (with bash) and its SMBIOS UUID.
pub fn guest_package(dir: &Path, endpoint: &str, uuid: &str) {
    let host = corpus().join("hosts/debian12-vm");
    let mut members = vec![("computer.yml".to_string(), computer_yml(endpoint))];
    for m in ["cpuinfo", "lscpu.json", "dpkg-status"] {
        members.push((m.to_string(), std::fs::read(host.join(m)).unwrap()));
    }
    members.push(("product_uuid".into(), format!("{uuid}\n").into_bytes()));
    write_package_members(dir, &format!("202612011200-{endpoint}.tar.gz"), &members);
}

pub fn rows(v: &Value) -> Vec<Value> {
    v["rows"].as_array().cloned().unwrap_or_default()
}

pub fn find<'a>(rows: &'a [Value], metric: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["metric_code_name"] == metric)
        .unwrap_or_else(|| panic!("no {metric} row in {rows:?}"))
}

/// What the packages of [`write_packages`] hold.
pub struct Fleet {
    /// The vCPUs the VM-manager data gives the two guests.
    pub v1: i64,
    pub v2: i64,
}

/// Writes the host (with VM-manager data for the two corpus domains), the
/// two guests (the first with its UUID byte-swapped) and a VM whose UUID
/// no VM manager reports (the corpus VMware guest's) into the data source.
pub fn write_packages(s: &TestServer) -> Fleet {
    let d1 = element(&text("virsh/dumpxml1"), "uuid");
    let d2 = element(&text("virsh/dumpxml2"), "uuid");
    let v1: u32 = element(&text("virsh/dumpxml1"), "vcpu").parse().unwrap();
    let v2: u32 = element(&text("virsh/dumpxml2"), "vcpu").parse().unwrap();
    let ds = s.datasource();
    host_package(&ds, &[(d1.clone(), v1), (d2.clone(), v2)]);
    guest_package(&ds, "guest1", &swapped(&d1));
    guest_package(&ds, "guest2", &d2);
    // A VM whose UUID no VM manager reports (the corpus VMware guest's).
    let lone = {
        let t = text("dmidecode/rhel-6.2-vmware-2vcpus");
        let line = t
            .lines()
            .find(|l| l.trim_start().starts_with("UUID:"))
            .unwrap();
        line.split_once(':').unwrap().1.trim().to_string()
    };
    guest_package(&ds, "lonevm", &lone);
    Fleet {
        v1: i64::from(v1),
        v2: i64::from(v2),
    }
}

pub fn put_catalog(s: &TestServer, token: &str) {
    let r = s.put_json_as(
        token,
        "/api/catalog",
        &serde_json::from_str::<Value>(CATALOG).unwrap(),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
}

/// (computer id, cores, threads) by computer name.
pub fn computers(
    s: &TestServer,
    token: &str,
) -> std::collections::HashMap<String, (i64, i64, i64)> {
    let comps = s.json(&format!(
        "/api/sam/v2/computers?token={token}&columns[]=id&columns[]=name&columns[]=cores&columns[]=threads"
    ));
    rows(&comps)
        .into_iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                (
                    c["id"].as_i64().unwrap(),
                    c["cores"].as_i64().unwrap_or(0),
                    c["threads"].as_i64().unwrap_or(0),
                ),
            )
        })
        .collect()
}
