//! Builders shared by the integration tests.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use openlmt_licensing::aggregate::{Charge, Computer, Metric, Snapshot, VmPlacement};
use openlmt_licensing::{CloudProvider, ServerFacts, SmbiosUuid};

/// 2026-01-01 00:00 UTC + `day - 1` days + `hour` hours (day 1 = 2026-01-01).
pub fn at(day: i64, hour: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
        + Duration::days(day - 1)
        + Duration::hours(hour)
}

pub fn uuid(s: &str) -> SmbiosUuid {
    SmbiosUuid::parse(s).expect("test uuid")
}

/// A uuid derived from a number, for fixtures.
pub fn nuuid(n: u64) -> SmbiosUuid {
    uuid(&format!("{:08x}-1111-2222-3333-{:012x}", n as u32, n))
}

pub fn host(id: u64, name: &str, cores: u32, brand: &str, max_sockets: u32) -> Computer {
    Computer {
        id,
        name: name.to_string(),
        is_virtual: false,
        physical_cores: Some(cores),
        vcpus: Some(cores * 2),
        smbios_uuid: Some(nuuid(1_000_000 + id)),
        cloud: None,
        facts: ServerFacts {
            processor_vendor: Some("GenuineIntel".into()),
            processor_brand: Some(brand.into()),
            server_model: None,
            max_sockets: Some(max_sockets),
            populated_sockets: Some(max_sockets),
            physical_cores: Some(cores),
            os_is_linux: false,
        },
        pvu_override: None,
    }
}

pub fn vm(id: u64, name: &str, u: SmbiosUuid, vcpus: u32) -> Computer {
    Computer {
        id,
        name: name.to_string(),
        is_virtual: true,
        physical_cores: Some(vcpus),
        vcpus: Some(vcpus),
        smbios_uuid: Some(u),
        cloud: None,
        facts: ServerFacts::default(),
        pvu_override: None,
    }
}

pub fn cloud_vm(id: u64, name: &str, u: SmbiosUuid, vcpus: u32, p: CloudProvider) -> Computer {
    let mut c = vm(id, name, u, vcpus);
    c.cloud = Some(p);
    c
}

pub fn place(host: u64, u: SmbiosUuid, vcpus: Option<u32>, t: DateTime<Utc>) -> VmPlacement {
    VmPlacement {
        host,
        guest_uuid: u,
        guest_vcpus: vcpus,
        observed_at: t,
    }
}

pub fn charge(product: u64, metric: Metric, computer: u64) -> Charge {
    Charge {
        product,
        metric,
        computer,
    }
}

pub fn snapshot(
    t: DateTime<Utc>,
    computers: Vec<Computer>,
    placements: Vec<VmPlacement>,
    charges: Vec<Charge>,
) -> Snapshot {
    let mut s = Snapshot::new(t);
    s.computers = computers;
    s.placements = placements;
    s.charges = charges;
    s
}

/// Path of a shared reference file, relative to this crate; the test fails when it is absent.
pub fn shared(rel: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(rel);
    assert!(p.exists(), "shared file missing: {}", p.display());
    p
}

pub fn read_shared(rel: &str) -> String {
    let p = shared(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}
