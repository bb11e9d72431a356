//! Black-box test of issue 12 point 0b: capacity counted from a real server's DMI table
//! alone, as the computers API shows it — an `Idle` second processor counts, and a table
//! without core counts shows `cores: null`, not an invented figure.

mod common;

use common::{corpus, TestServer};

fn dmi_only_scan_package(dir: &std::path::Path, endpoint: &str, dmidecode: &str) {
    let computer = format!(
        "format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-11-28T12:00:00Z\n"
    );
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(dir.join(format!("202611281200-{endpoint}.tar.gz"))).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in [
        ("computer.yml", computer.as_str()),
        ("dmidecode.txt", dmidecode),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
}

#[test]
fn dmidecode_only_capacity_counts_idle_sockets_and_shows_unknown_cores_as_null() {
    let s = TestServer::start();
    let ds = s.datasource();
    let r720 = std::fs::read_to_string(corpus().join("dmidecode/dell-r720")).unwrap();
    dmi_only_scan_package(&ds, "r720", &r720);
    // The same table as an older SMBIOS writes it: no Core Count / Core Enabled / Thread
    // Count lines (its brand, Xeon E5-2660 v2, names no core count).
    let old: String = r720
        .lines()
        .filter(|l| {
            let t = l.trim();
            !(t.starts_with("Core Count:")
                || t.starts_with("Core Enabled:")
                || t.starts_with("Thread Count:"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    dmi_only_scan_package(&ds, "r720-old-smbios", &old);
    let row = s.import_and_wait();
    assert_eq!(row["packages"]["imported"], 2, "{row}");
    let c = s.json("/api/sam/v2/computers?order=endpoint_id");
    let rows = c["rows"].as_array().unwrap();
    let by = |id: &str| {
        rows.iter()
            .find(|r| r["endpoint_id"] == id)
            .unwrap()
            .clone()
    };
    let r = by("r720");
    // CPU1 `Populated, Enabled` + CPU2 `Populated, Idle`, 10 cores / 20 threads each.
    assert_eq!(
        (
            r["sockets"].as_i64(),
            r["cores"].as_i64(),
            r["threads"].as_i64()
        ),
        (Some(2), Some(20), Some(40)),
        "{r}"
    );
    let o = by("r720-old-smbios");
    assert_eq!(o["sockets"], 2, "{o}");
    assert!(o["cores"].is_null() && o["threads"].is_null(), "{o}");
}
