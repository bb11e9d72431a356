//! Arbitrary bytes through both archive kinds: `read_scan_package` must return, never panic,
//! and never use more than the (small) limits allow.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use openlmt_scanpkg::{read_scan_package, ArchiveKind, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_total_uncompressed: 8 * 1024 * 1024,
        max_members: 1_000,
        max_member_size: 1024 * 1024,
    };
    // The zip index check alone: whatever it accepts is within the limits.
    if let Ok(ix) = openlmt_scanpkg::zip_index::check_zip_index(&mut Cursor::new(data), &limits) {
        assert!(ix.entries <= u64::from(limits.max_members));
        assert!(ix.end <= data.len() as u64);
    }
    for kind in [ArchiveKind::TarGz, ArchiveKind::Zip] {
        if let Err(e) = read_scan_package(kind, Cursor::new(data), &limits) {
            // Every rejection has a one-line reason.
            let msg = e.to_string();
            assert!(
                !msg.is_empty() && !msg.contains('\n'),
                "bad message: {msg:?}"
            );
        }
    }
});
