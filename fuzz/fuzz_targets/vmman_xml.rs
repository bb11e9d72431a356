//! Arbitrary bytes as a `vmman_scan` XML (the VM-manager evidence of a scan package) and as
//! `virsh dumpxml` output: a scan or a one-line reason, never a panic; whatever parses holds
//! only valid counts and UUIDs, and IBM's layout written back from it (`vmman_scan_xml`,
//! what the scanner packs) reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openlmt_scanpkg::vmman::{normalize_uuid, parse_domain_xml, vmman_scan_xml, MAX_VCPUS};

fuzz_target!(|data: &[u8]| {
    match openlmt_scanpkg::parse_vmman_xml(data) {
        Ok(scan) => {
            assert!(normalize_uuid(&scan.host.uuid).is_some());
            for g in &scan.guests {
                assert!((1..=MAX_VCPUS).contains(&g.vcpus));
                assert!(normalize_uuid(&g.uuid).is_some());
            }
            let again = openlmt_scanpkg::parse_vmman_xml(vmman_scan_xml(&scan).as_bytes())
                .expect("the written layout reads back");
            assert_eq!(again, scan);
        }
        Err(why) => assert!(!why.is_empty() && !why.contains('\n'), "{why:?}"),
    }
    if let Ok(g) = parse_domain_xml(data) {
        assert!((1..=MAX_VCPUS).contains(&g.vcpus));
    }
});
