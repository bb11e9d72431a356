//! The archive index bound: a zip's end record is checked before its central directory is
//! parsed, and tar metadata between members is bounded. Inputs are real packages built from
//! the corpus; oversized ones are those packages plus padding members, or their end record
//! patched to declare more than it holds.

mod common;

use std::io::{Cursor, Write};

use common::*;
use openlmt_scanpkg::zip_index::{check_zip_index, max_central_directory_size};
use openlmt_scanpkg::{read_scan_package, ArchiveKind, Limits, ScanPackageError};
use proptest::prelude::*;

/// The corpus VM's package members (computer.yml, cpuinfo, lscpu.json, dpkg-status).
fn vm_members() -> Vec<(String, Vec<u8>)> {
    let yml = computer("zip-index-1").to_yaml().unwrap();
    vec![
        ("computer.yml".into(), yml.into_bytes()),
        ("cpuinfo".into(), read(&format!("{VM_DIR}/cpuinfo"))),
        ("lscpu.json".into(), read(&format!("{VM_DIR}/lscpu.json"))),
        ("dpkg-status".into(), read(&format!("{VM_DIR}/dpkg-status"))),
    ]
}

/// The real package's members followed by `padding` empty stored members
/// (`pad/000000`, …), optionally forcing ZIP64 records, with an archive comment.
fn padded_zip(padding: usize, zip64: bool, comment: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflate = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(zip64);
    for (name, data) in vm_members() {
        w.start_file(name, deflate).unwrap();
        w.write_all(&data).unwrap();
    }
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(zip64);
    for i in 0..padding {
        w.start_file(format!("pad/{i:06}"), stored).unwrap();
    }
    w.set_comment(comment);
    w.finish().unwrap().into_inner()
}

fn read_zip(
    bytes: &[u8],
    limits: &Limits,
) -> Result<openlmt_scanpkg::ScanPackage, ScanPackageError> {
    read_scan_package(ArchiveKind::Zip, Cursor::new(bytes), limits)
}

/// Offset of the last ZIP32 end-of-central-directory signature.
fn eocd_at(bytes: &[u8]) -> usize {
    (0..=bytes.len() - 22)
        .rev()
        .find(|&i| bytes[i..i + 4] == *b"PK\x05\x06")
        .unwrap()
}

#[test]
fn a_real_package_index_is_read_from_its_end_record() {
    let z = padded_zip(0, false, "");
    let ix = check_zip_index(&mut Cursor::new(&z), &Limits::default()).unwrap();
    assert_eq!(ix.entries, 4);
    assert!(!ix.zip64);
    assert_eq!(ix.end, z.len() as u64);
    assert_eq!(ix.eocd_offset, eocd_at(&z) as u64);
    let p = read_zip(&z, &Limits::default()).unwrap();
    assert_eq!(p.installed_packages.len(), 759);
}

#[test]
fn comment_and_trailing_garbage_are_tolerated() {
    // A comment holding the EOCD signature itself, then garbage after the comment.
    let mut z = padded_zip(0, false, "scan package PK\u{5}\u{6} comment");
    let clean_end = z.len();
    z.extend_from_slice(&[0u8; 3000]);
    let ix = check_zip_index(&mut Cursor::new(&z), &Limits::default()).unwrap();
    assert_eq!((ix.entries, ix.end), (4, clean_end as u64));
    assert_eq!(
        read_zip(&z, &Limits::default())
            .unwrap()
            .installed_packages
            .len(),
        759
    );
}

#[test]
fn too_many_members_are_refused_from_the_end_record() {
    // The real package plus 10,000 padding members: 10,004 > 10,000.
    let z = padded_zip(10_000, false, "");
    let e = check_zip_index(&mut Cursor::new(&z), &Limits::default()).unwrap_err();
    assert!(matches!(e, ScanPackageError::TooManyMembers(10_000)), "{e}");
    let e = read_zip(&z, &Limits::default()).err_short();
    assert_eq!(e.to_string(), "archive has more than 10000 members");
    // Exactly at the limit it reads (the padding members are ignored as unknown).
    let z = padded_zip(10_000 - 4, false, "");
    let p = read_zip(&z, &Limits::default()).unwrap();
    assert_eq!(p.installed_packages.len(), 759);
}

#[test]
fn a_central_directory_over_its_size_limit_is_refused() {
    // The real package plus 100 members with 2,000-byte names: 104 entries (under a limit
    // of 200) but a directory of about 210 KB, over 200 × 1 KiB.
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, data) in vm_members() {
        w.start_file(name, opts).unwrap();
        w.write_all(&data).unwrap();
    }
    for i in 0..100 {
        w.start_file(format!("{i:03}{}", "n".repeat(1997)), opts)
            .unwrap();
    }
    let z = w.finish().unwrap().into_inner();
    let limits = Limits {
        max_members: 200,
        ..Limits::default()
    };
    let e = read_zip(&z, &limits).err_short();
    assert!(matches!(e, ScanPackageError::IndexTooLarge { .. }), "{e}");
    assert!(e.to_string().starts_with("zip central directory of"), "{e}");
    assert!(check_zip_index(&mut Cursor::new(&z), &Limits::default()).is_ok());
}

#[test]
fn zip64_end_records_are_read() {
    // 70,000 padding members need ZIP64 (the ZIP32 count saturates at 65,535).
    let z = padded_zip(70_000, false, "");
    let ix = check_zip_index(
        &mut Cursor::new(&z),
        &Limits {
            max_members: 100_000,
            ..Limits::default()
        },
    )
    .unwrap();
    assert!(ix.zip64);
    assert_eq!(ix.entries, 70_004);
    let e = read_zip(&z, &Limits::default()).err_short();
    assert!(matches!(e, ScanPackageError::TooManyMembers(_)), "{e}");
}

#[test]
fn a_lying_end_record_is_refused_without_parsing() {
    let z = padded_zip(0, false, "");
    let at = eocd_at(&z);
    // Entry count raised to 60,000 (the directory holds 4): inconsistent, refused.
    let mut many = z.clone();
    many[at + 8..at + 10].copy_from_slice(&60_000u16.to_le_bytes());
    many[at + 10..at + 12].copy_from_slice(&60_000u16.to_le_bytes());
    let e = read_zip(&many, &Limits::default()).err_short();
    assert!(e.to_string().contains("cannot hold 60000 entries"), "{e}");
    // Central directory size raised past the file: refused.
    let mut big = z.clone();
    big[at + 12..at + 16].copy_from_slice(&(z.len() as u32).to_le_bytes());
    assert!(matches!(
        read_zip(&big, &Limits::default()).err_short(),
        ScanPackageError::Corrupt(_)
    ));
    // A count the directory cannot hold (4 entries need ≥ 184 bytes).
    let mut small = z.clone();
    small[at + 12..at + 16].copy_from_slice(&100u32.to_le_bytes());
    assert!(matches!(
        read_zip(&small, &Limits::default()).err_short(),
        ScanPackageError::Corrupt(_)
    ));
    // No end record at all: the package cut before it.
    let cut = &z[..at];
    assert!(matches!(
        read_zip(cut, &Limits::default()).err_short(),
        ScanPackageError::NotZip(_)
    ));
}

#[test]
fn tar_metadata_between_members_is_bounded() {
    // A GNU long-name record of 2 MiB before computer.yml: the tar crate would read it into
    // memory whole; the reader stops at 1 MiB.
    let yml = computer("tar-meta-1").to_yaml().unwrap();
    let long = vec![b'a'; 2 * 1024 * 1024];
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("././@LongLink").unwrap();
    h.set_entry_type(tar::EntryType::GNULongName);
    h.set_size(long.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, &long[..]).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_path("computer.yml").unwrap();
    h.set_size(yml.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append(&h, yml.as_bytes()).unwrap();
    let tgz = gzip(&b.into_inner().unwrap());
    let e =
        read_scan_package(ArchiveKind::TarGz, Cursor::new(&tgz), &Limits::default()).err_short();
    assert!(
        matches!(e, ScanPackageError::TarMetadataTooLarge { .. }),
        "{e}"
    );
    // The real VM package with its members under a long (GNU long-name) directory reads.
    let dir = "d".repeat(300);
    let members = vm_members();
    let raw: Vec<Raw<'_>> = members
        .iter()
        .map(|(n, d)| Raw::File(Box::leak(format!("{dir}/{n}").into_boxed_str()), &d[..]))
        .collect();
    let mut b = tar::Builder::new(Vec::new());
    for m in &raw {
        if let Raw::File(name, data) = m {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, *data).unwrap();
        }
    }
    let tgz = gzip(&b.into_inner().unwrap());
    let p = read_scan_package(ArchiveKind::TarGz, Cursor::new(&tgz), &Limits::default()).unwrap();
    assert_eq!(p.installed_packages.len(), 759);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Arbitrary bytes, and a real package's end damaged at random: never a panic, and
    /// whatever the index check accepts is within the limits.
    #[test]
    fn check_zip_index_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
        cut in 0.0f64..1.0,
        at in 0.0f64..1.0,
        noise in proptest::collection::vec(any::<u8>(), 1..24),
    ) {
        let limits = Limits { max_members: 50, ..Limits::default() };
        let _ = check_zip_index(&mut Cursor::new(&bytes), &limits);
        // The tail of a real package: end record, ZIP64-free directory.
        static BASE: std::sync::OnceLock<[Vec<u8>; 2]> = std::sync::OnceLock::new();
        let base = BASE.get_or_init(|| [padded_zip(40, false, "c"), padded_zip(40, true, "c")]);
        let z = &base[usize::from(at < 0.5)];
        let tail_from = z.len() - (((z.len() as f64) * 0.1) as usize).max(100);
        let mut d = z.to_vec();
        let pos = tail_from + (((z.len() - tail_from) as f64) * at) as usize;
        for (i, b) in noise.iter().enumerate() {
            if let Some(x) = d.get_mut(pos + i) {
                *x = *b;
            }
        }
        d.truncate(tail_from + (((d.len() - tail_from) as f64) * (0.9 + cut / 10.0)) as usize);
        if let Ok(ix) = check_zip_index(&mut Cursor::new(&d), &limits) {
            prop_assert!(ix.entries <= 50);
            prop_assert!(ix.central_directory_size <= max_central_directory_size(&limits));
            prop_assert!(ix.end <= d.len() as u64);
        }
        let _ = read_zip(&d, &limits);
    }
}
