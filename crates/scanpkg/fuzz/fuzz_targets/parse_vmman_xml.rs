//! Arbitrary bytes as a `vmman_scan` XML and as `virsh dumpxml` output: a scan or a one-line
//! reason, never a panic; whatever parses holds only valid counts and UUIDs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openlmt_scanpkg::vmman::{normalize_uuid, parse_domain_xml, MAX_VCPUS};

fuzz_target!(|data: &[u8]| {
    match openlmt_scanpkg::parse_vmman_xml(data) {
        Ok(scan) => {
            assert!(normalize_uuid(&scan.host.uuid).is_some());
            for g in &scan.guests {
                assert!((1..=MAX_VCPUS).contains(&g.vcpus));
                assert!(normalize_uuid(&g.uuid).is_some());
            }
        }
        Err(why) => assert!(!why.is_empty() && !why.contains('\n'), "{why:?}"),
    }
    if let Ok(g) = parse_domain_xml(data) {
        assert!((1..=MAX_VCPUS).contains(&g.vcpus));
    }
});
