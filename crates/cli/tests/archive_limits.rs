//! Black-box tests of issue 12 point 1: a zip scan package with far more members than the
//! reader allows is refused from its end record — on upload with a JSON 422, and in a data
//! source alone (the other packages import) with the reason. The oversized zip is a real
//! package (the corpus's Debian 12 host) plus empty padding members.

mod common;

use common::{corpus, files, upload, write_scan_package, TestServer};
use serde_json::Value;
use std::io::{Cursor, Write};

/// More than the reader's 10,000-member limit.
const PADDING: usize = 10_500;

/// The corpus host's package as a zip, followed by `PADDING` empty stored members.
fn padded_zip(endpoint: &str) -> Vec<u8> {
    let host = corpus().join("hosts/debian12-vm");
    let computer = format!(
        "format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-11-28T12:00:00Z\n"
    );
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("computer.yml", deflate).unwrap();
    w.write_all(computer.as_bytes()).unwrap();
    for member in ["cpuinfo", "lscpu.json", "dpkg-status"] {
        w.start_file(member, deflate).unwrap();
        w.write_all(&std::fs::read(host.join(member)).unwrap())
            .unwrap();
    }
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..PADDING {
        w.start_file(format!("padding/{i:06}"), stored).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn a_zip_with_too_many_members_is_refused_on_upload() {
    let s = TestServer::start();
    let name = "202611281200-many-members.zip";
    let r = upload(
        &s,
        Some(&s.admin_token),
        &format!("?filename={name}"),
        padded_zip("many-members"),
    );
    assert_eq!(r.status(), 422);
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(
        v["error"],
        format!("`{name}` is not a readable scan package: archive has more than 10000 members")
    );
    assert!(
        files(&s.datasource()).is_empty(),
        "{:?}",
        files(&s.datasource())
    );
    // The server still answers.
    assert!(s.status().is_object());
}

#[test]
fn a_zip_with_too_many_members_in_a_data_source_is_rejected_alone() {
    let s = TestServer::start();
    let ds = s.datasource();
    write_scan_package(&ds, "202611281200", "good-a");
    write_scan_package(&ds, "202611281200", "good-b");
    std::fs::write(
        ds.join("202611281200-many-members.zip"),
        padded_zip("many-members"),
    )
    .unwrap();
    let row = s.import_and_wait();
    assert_eq!(row["status"], "successful", "{row}");
    assert_eq!(row["packages"]["found"], 3);
    assert_eq!(row["packages"]["imported"], 2);
    assert_eq!(row["packages"]["rejected"], 1);
    let pk = s.json(&format!(
        "/api/imports/{}/packages?state=rejected",
        row["id"]
    ));
    assert_eq!(pk["rows"][0]["file_name"], "202611281200-many-members.zip");
    assert_eq!(
        pk["rows"][0]["reason"],
        "archive has more than 10000 members"
    );
    // Only the good computers are there.
    let computers = s.json("/api/sam/v2/computers");
    assert_eq!(computers["total"], 2, "{computers}");
}
