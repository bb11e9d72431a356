//! Shared helpers for the integration tests. All inputs come from the real corpus in
//! `shared/corpus` (see its README); malformed inputs are derived from it in the tests.
#![allow(dead_code, unused_imports)]

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use flate2::write::GzEncoder;
use flate2::Compression;
use openlmt_scanpkg::computer::parse_scan_time;
use openlmt_scanpkg::ComputerInfo;

pub use openlmt_scanpkg::test_corpus::{corpus, read, read_text, CORPUS};

pub const VM_DIR: &str = "hosts/debian12-vm";

/// A computer.yml for tests: endpoint `test-endpoint-1`, fixed scan time.
pub fn computer(id: &str) -> ComputerInfo {
    let mut c = ComputerInfo::new(id);
    c.computer_name = Some("debian12-vm".into());
    c.dns_name = Some("debian12-vm.example.org".into());
    c.ip_addresses = vec!["192.0.2.10".into(), "2001:db8::10".into()];
    c.operating_system = Some("Debian GNU/Linux 12 (bookworm)".into());
    c.agent_version = Some("test".into());
    c.scan_time = parse_scan_time("2024-05-01T12:30:00Z");
    c
}

/// One raw tar member: name bytes are written as-is (no path sanitising), so tests can
/// make unsafe members.
pub enum Raw<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    Fifo(&'a str),
}

fn header(name: &str, ty: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        let b = name.as_bytes();
        let n = b.len().min(old.name.len());
        old.name[..n].copy_from_slice(&b[..n]);
    }
    h.set_entry_type(ty);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_714_566_600);
    h
}

/// A tar.gz from raw members.
pub fn raw_tar_gz(members: &[Raw<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for m in members {
        match m {
            Raw::File(name, data) => {
                let mut h = header(name, tar::EntryType::Regular, data.len() as u64);
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            Raw::Dir(name) => {
                let mut h = header(name, tar::EntryType::Directory, 0);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            Raw::Symlink(name, target) | Raw::HardLink(name, target) => {
                let ty = if matches!(m, Raw::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                let mut h = header(name, ty, 0);
                h.set_link_name(target).unwrap();
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
            Raw::Fifo(name) => {
                let mut h = header(name, tar::EntryType::Fifo, 0);
                h.set_cksum();
                b.append(&h, &[][..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// gzip of arbitrary bytes.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip from (name, data) members; names are taken as-is.
pub fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A fresh, empty scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("openlmt-scanpkg-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

/// `unwrap_err` that does not print a whole package when the read unexpectedly succeeds.
pub trait ShortErr {
    fn err_short(self) -> openlmt_scanpkg::ScanPackageError;
}

impl ShortErr for Result<openlmt_scanpkg::ScanPackage, openlmt_scanpkg::ScanPackageError> {
    fn err_short(self) -> openlmt_scanpkg::ScanPackageError {
        match self {
            Ok(p) => panic!(
                "package was accepted: {} packages, {} tags, capacity {:?}",
                p.installed_packages.len(),
                p.swid_tags.len(),
                p.capacity
            ),
            Err(e) => e,
        }
    }
}
