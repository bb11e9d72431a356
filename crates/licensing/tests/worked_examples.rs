//! counting-rules.md §10 worked examples, §9.1 VPC scenarios, §8 RVU tiers, exclusion, VM
//! mobility, UUID byte orders and staleness.

mod common;

use chrono::FixedOffset;
use common::*;
use openlmt_licensing::aggregate::{
    aggregate_days, compute_snapshot, peak, product_peak, rvu_from_cores, DayUsage, Metric,
    MetricId, Quantity, ServerKind, Snapshot,
};
use openlmt_licensing::rate::{DefaultReason, RateBasis};
use openlmt_licensing::{CloudProvider, PvuTable};

fn utc() -> FixedOffset {
    FixedOffset::east_opt(0).expect("offset")
}

fn day_total(days: &[DayUsage], product: u64, m: MetricId) -> u64 {
    assert_eq!(days.len(), 1);
    days[0]
        .product(product, m)
        .map(|p| p.quantity.whole_rounded_up())
        .unwrap_or(0)
}

/// Examples 1 and 2 share this host: an Intel Xeon server taking at most 2 sockets at 70.
/// 8-core reading: 2 × quad-core Xeon E5540 (ILMT's "3400-3699 or 5500-5699" row = 70).
/// 16-core reading: 2 × 8-core Xeon X7560 (Nehalem EX, max 2 sockets = 70).
fn example_host(cores: u32) -> openlmt_licensing::aggregate::Computer {
    let brand = if cores == 8 {
        "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz"
    } else {
        "Intel(R) Xeon(R) CPU X7560 @ 2.27GHz"
    };
    host(1, "esx01", cores, brand, 2)
}

const A: u64 = 11;
const B: u64 = 12;
const C: u64 = 13;
const AB: u64 = 100;
const BC: u64 = 101;
const ABC: u64 = 102;

fn three_vms_snapshot(cores: u32, with_vcenter: bool) -> Snapshot {
    let t = at(1, 12);
    let (ua, ub, uc) = (nuuid(A), nuuid(B), nuuid(C));
    let computers = vec![
        example_host(cores),
        vm(A, "A", ua, 2),
        vm(B, "B", ub, 4),
        vm(C, "C", uc, 4),
    ];
    let placements = if with_vcenter {
        vec![
            place(1, ua, Some(2), t),
            place(1, ub, Some(4), t),
            place(1, uc, Some(4), t),
        ]
    } else {
        vec![]
    };
    let mut charges = vec![];
    for (p, vms) in [(AB, vec![A, B]), (BC, vec![B, C]), (ABC, vec![A, B, C])] {
        for v in vms {
            charges.push(charge(p, Metric::Pvu, v));
        }
    }
    snapshot(t, computers, placements, charges)
}

#[test]
fn example_1_vcenter_connected_8_and_16_cores() {
    let table = PvuTable::bundled();
    // (cores, product, sub, full)
    let expected = [
        (8, AB, 420, 560),
        (8, BC, 560, 560),
        (8, ABC, 560, 560),
        (16, AB, 420, 1120),
        (16, BC, 560, 1120),
        (16, ABC, 700, 1120),
    ];
    for (cores, product, sub, full) in expected {
        let days = aggregate_days(&table, &[three_vms_snapshot(cores, true)], utc());
        assert_eq!(
            day_total(&days, product, MetricId::PvuSubCap),
            sub,
            "{cores} cores, product {product}"
        );
        assert_eq!(day_total(&days, product, MetricId::PvuFullCap), full);
        let p = days[0].product(product, MetricId::PvuSubCap).expect("row");
        assert_eq!(p.servers.len(), 1);
        let e = &p.servers[0].explanation;
        assert_eq!(e.kind, ServerKind::Physical);
        assert_eq!(e.rate.as_ref().map(|r| r.pvu_per_core), Some(70));
        assert!(matches!(
            e.rate.as_ref().map(|r| &r.basis),
            Some(RateBasis::TableRow { .. })
        ));
        // The cap cuts only A+B+C on 8 cores.
        assert_eq!(e.cap_applied, cores == 8 && product == ABC);
    }
}

#[test]
fn example_2_no_vm_manager_data() {
    let table = PvuTable::bundled();
    for cores in [8, 16] {
        let days = aggregate_days(&table, &[three_vms_snapshot(cores, false)], utc());
        assert_eq!(day_total(&days, AB, MetricId::PvuSubCap), 720);
        assert_eq!(day_total(&days, AB, MetricId::PvuFullCap), 720);
        assert_eq!(day_total(&days, ABC, MetricId::PvuSubCap), 1200);
        assert_eq!(day_total(&days, ABC, MetricId::PvuFullCap), 1200);
        let p = days[0].product(ABC, MetricId::PvuSubCap).expect("row");
        assert_eq!(p.servers.len(), 3);
        for s in &p.servers {
            assert_eq!(s.explanation.kind, ServerKind::DefaultCountedVm);
            assert!(s.server_name.starts_with("TLM_VM_"));
            assert!(!s.explanation.capped);
            assert_eq!(
                s.explanation.rate.as_ref().map(|r| r.basis.clone()),
                Some(RateBasis::Default(DefaultReason::NoVmManagerData))
            );
            assert_eq!(
                s.explanation.comment.as_deref(),
                Some("Incomplete virtualization hierarchy")
            );
        }
    }
}

#[test]
fn example_3_cloud_peak_over_a_period() {
    let table = PvuTable::bundled();
    let u = nuuid(7);
    let mut snaps = Vec::new();
    for day in 1..=90 {
        snaps.push(snapshot(
            at(day, 1),
            vec![cloud_vm(7, "ec2", u, 4, CloudProvider::AmazonEc2)],
            vec![],
            vec![charge(1, Metric::Pvu, 7)],
        ));
        if day == 21 {
            // Resized to 8 vCPUs for two hours, while a capacity sample is taken.
            snaps.push(snapshot(
                at(day, 10),
                vec![cloud_vm(7, "ec2", u, 8, CloudProvider::AmazonEc2)],
                vec![],
                vec![charge(1, Metric::Pvu, 7)],
            ));
        }
    }
    let days = aggregate_days(&table, &snaps, utc());
    assert_eq!(days.len(), 90);
    for d in &days {
        let v = d
            .product(1, MetricId::PvuSubCap)
            .map(|p| p.quantity.whole_rounded_up());
        let expected = if d.date == at(21, 0).date_naive() {
            560
        } else {
            280
        };
        assert_eq!(v, Some(expected), "{}", d.date);
    }
    let p = product_peak(&days, 1, MetricId::PvuSubCap).expect("peak");
    assert_eq!(p.quantity, Quantity::whole(560));
    assert_eq!(p.date, at(21, 0).date_naive());
    // Days 22–90: 280, peak on the earliest day of the tie.
    let p = product_peak(&days[21..], 1, MetricId::PvuSubCap).expect("peak");
    assert_eq!(p.quantity, Quantity::whole(280));
    assert_eq!(p.date, at(22, 0).date_naive());
    // No host cap: a cloud VM is its own server at 70 per vCPU.
    let s = &days[20]
        .product(1, MetricId::PvuSubCap)
        .expect("row")
        .servers[0];
    assert_eq!(s.explanation.kind, ServerKind::PublicCloudVm);
    assert!(!s.explanation.capped);
    assert!(s.server_name.starts_with("Amazon EC2 "));
}

#[test]
fn example_4_softlayer_and_tlm_vms() {
    let table = PvuTable::bundled();
    let computers = vec![
        cloud_vm(1, "sl", nuuid(1), 1, CloudProvider::IbmSoftLayer),
        vm(2, "t2", nuuid(2), 2),
        vm(3, "t3", nuuid(3), 1),
        vm(4, "t4", nuuid(4), 1),
        vm(5, "t5", nuuid(5), 1),
    ];
    let charges = (1..=5).map(|c| charge(9, Metric::Pvu, c)).collect();
    let days = aggregate_days(
        &table,
        &[snapshot(at(1, 0), computers, vec![], charges)],
        utc(),
    );
    assert_eq!(day_total(&days, 9, MetricId::PvuSubCap), 670);
    let p = days[0].product(9, MetricId::PvuSubCap).expect("row");
    let sl = p
        .servers
        .iter()
        .find(|s| s.explanation.kind == ServerKind::PublicCloudVm)
        .expect("softlayer server");
    assert_eq!(sl.quantity, 70);
    match &sl.explanation.rate.as_ref().expect("rate").basis {
        RateBasis::PublicCloud { provider, row } => {
            assert_eq!(provider, "IBM SoftLayer");
            assert!(row.as_deref().unwrap_or("").contains("SoftLayer"));
        }
        other => panic!("{other:?}"),
    }
}

fn vpc_server(vms: &[(u64, u32)], placed: bool, on: &[u64], on_host: bool) -> Snapshot {
    let t = at(1, 0);
    let mut computers = vec![host(1, "h", 16, "Intel(R) Xeon(R) CPU X7560 @ 2.27GHz", 2)];
    let mut placements = vec![];
    for &(id, v) in vms {
        computers.push(vm(id, "vm", nuuid(id), v));
        if placed {
            placements.push(place(1, nuuid(id), Some(v), t));
        }
    }
    let mut charges: Vec<_> = on.iter().map(|&c| charge(5, Metric::Vpc, c)).collect();
    if on_host {
        charges.push(charge(5, Metric::Vpc, 1));
    }
    snapshot(t, computers, placements, charges)
}

#[test]
fn vpc_scenarios_9_1() {
    let table = PvuTable::bundled();
    let m = MetricId::VirtualProcessorCore;
    // 1. 2 × 8 cores, no VMs: 16.
    let d = aggregate_days(&table, &[vpc_server(&[], true, &[], true)], utc());
    assert_eq!(day_total(&d, 5, m), 16);
    // 2. Two VMs of 10 vCPUs: one → 10, both → 20 capped to 16.
    let d = aggregate_days(
        &table,
        &[vpc_server(&[(2, 10), (3, 10)], true, &[2], false)],
        utc(),
    );
    assert_eq!(day_total(&d, 5, m), 10);
    let d = aggregate_days(
        &table,
        &[vpc_server(&[(2, 10), (3, 10)], true, &[2, 3], false)],
        utc(),
    );
    assert_eq!(day_total(&d, 5, m), 16);
    assert!(
        d[0].product(5, m).expect("row").servers[0]
            .explanation
            .cap_applied
    );
    // 3. No VM manager: 12 + 10 = 22, not capped.
    let d = aggregate_days(
        &table,
        &[vpc_server(&[(2, 12), (3, 10)], false, &[2, 3], false)],
        utc(),
    );
    assert_eq!(day_total(&d, 5, m), 22);
    // VPC has no full-capacity row and no rate.
    assert!(d[0].products.iter().all(|p| p.metric_id == m));
}

#[test]
fn rvu_tiers_and_band_edges() {
    assert_eq!(rvu_from_cores(45_000), Quantity::whole(29_500));
    let cases = [
        (0, "0.00"),
        (1, "1.00"),
        (2_500, "2500.00"),
        (2_501, "2500.80"),
        (10_000, "8500.00"),
        (10_001, "8500.60"),
        (50_000, "32500.00"),
        (50_001, "32500.40"),
        (150_000, "72500.00"),
        (150_001, "72500.20"),
    ];
    for (cores, exact) in cases {
        assert_eq!(rvu_from_cores(cores).exact(), exact, "{cores}");
    }
    assert_eq!(rvu_from_cores(2_501).whole_rounded_up(), 2_501);
    assert_eq!(rvu_from_cores(150_001).whole_rounded_up(), 72_501);
}

#[test]
fn rvu_tiers_apply_to_the_product_total() {
    let table = PvuTable::bundled();
    // 3 hosts of 1,000 cores each; product on the hosts themselves: 3,000 cores → 2,900 RVU.
    let computers = (1..=3)
        .map(|i| host(i, "big", 1_000, "Intel(R) Xeon(R) CPU X7560 @ 2.27GHz", 8))
        .collect();
    let charges = (1..=3).map(|i| charge(8, Metric::RvuMapc, i)).collect();
    let d = aggregate_days(
        &table,
        &[snapshot(at(1, 0), computers, vec![], charges)],
        utc(),
    );
    let p = d[0].product(8, MetricId::RvuFullCap).expect("row");
    assert_eq!(p.cores, 3_000);
    assert_eq!(p.quantity, Quantity::whole(2_900));
    let p = d[0].product(8, MetricId::RvuSubCap).expect("row");
    assert_eq!(p.quantity, Quantity::whole(2_900));
    assert!(p.servers.iter().all(|s| s.explanation.rate.is_none()));
}

#[test]
fn all_instances_excluded_counts_zero() {
    let table = PvuTable::bundled();
    let mk = |charged: bool| {
        let t = at(1, 0);
        let u = nuuid(2);
        let charges = if charged {
            vec![charge(1, Metric::Pvu, 2)]
        } else {
            vec![] // the caller filtered out the excluded instances
        };
        snapshot(
            t,
            vec![
                host(1, "h", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
                vm(2, "v", u, 2),
            ],
            vec![place(1, u, Some(2), t)],
            charges,
        )
    };
    let d = aggregate_days(&table, &[mk(true)], utc());
    assert_eq!(day_total(&d, 1, MetricId::PvuSubCap), 140);
    let d = aggregate_days(&table, &[mk(false)], utc());
    assert_eq!(day_total(&d, 1, MetricId::PvuSubCap), 0);
    assert_eq!(
        product_peak(&d, 1, MetricId::PvuSubCap).map(|p| p.quantity),
        Some(Quantity::default())
    );
}

#[test]
fn vm_moving_between_two_hosts_in_a_day_counts_on_each() {
    let table = PvuTable::bundled();
    let u = nuuid(9);
    let hosts = || {
        vec![
            host(1, "h1", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
            host(2, "h2", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
        ]
    };
    let mut c1 = hosts();
    c1.push(vm(9, "mover", u, 4));
    let mut c2 = hosts();
    c2.push(vm(9, "mover", u, 4));
    let s1 = snapshot(
        at(1, 8),
        c1,
        vec![place(1, u, Some(4), at(1, 8))],
        vec![charge(1, Metric::Pvu, 9)],
    );
    // Six hours later it runs on h2; h1's observation is older but still fresh (within 48 h):
    // only the latest VM-manager state of this import is passed, so only h2.
    let s2 = snapshot(
        at(1, 14),
        c2,
        vec![place(2, u, Some(4), at(1, 14))],
        vec![charge(1, Metric::Pvu, 9)],
    );
    let d = aggregate_days(&table, &[s1, s2], utc());
    let p = d[0].product(1, MetricId::PvuSubCap).expect("row");
    assert_eq!(p.servers.len(), 2);
    assert_eq!(p.quantity, Quantity::whole(4 * 70 * 2));

    // Seen on two hosts within one snapshot window: counts on each.
    let mut c = hosts();
    c.push(vm(9, "mover", u, 4));
    let s = snapshot(
        at(2, 0),
        c,
        vec![
            place(1, u, Some(4), at(1, 20)),
            place(2, u, Some(4), at(1, 23)),
        ],
        vec![charge(1, Metric::Pvu, 9)],
    );
    let usage = compute_snapshot(&table, &s);
    let subs: Vec<_> = usage
        .values
        .iter()
        .filter(|v| v.metric_id == MetricId::PvuSubCap)
        .collect();
    assert_eq!(subs.len(), 2);
    assert!(subs.iter().all(|v| v.quantity == 280));
}

#[test]
fn both_uuid_byte_orders_place_the_vm() {
    let table = PvuTable::bundled();
    // The ILMT sample's VMware-style UUID, and its byte-swapped form as dmidecode shows it.
    let vcenter = uuid("42149365-eff8-7207-c1ee-dc2f0e0994ae");
    let guest = uuid("65931442-F8EF-0772-C1EE-DC2F0E0994AE");
    assert!(guest.matches(&vcenter));
    for (scan, vm_manager) in [(guest, vcenter), (vcenter, guest), (vcenter, vcenter)] {
        let t = at(1, 0);
        let s = snapshot(
            t,
            vec![
                host(1, "h", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
                vm(2, "v", scan, 2),
            ],
            vec![place(1, vm_manager, Some(2), t)],
            vec![charge(1, Metric::Pvu, 2)],
        );
        let usage = compute_snapshot(&table, &s);
        let v = usage
            .values
            .iter()
            .find(|v| v.metric_id == MetricId::PvuSubCap)
            .expect("value");
        assert_eq!(v.explanation.kind, ServerKind::Physical);
        assert_eq!(v.quantity, 140);
    }
}

#[test]
fn stale_vm_manager_data_means_default_counting() {
    let table = PvuTable::bundled();
    let u = nuuid(2);
    let t = at(5, 0);
    let s = snapshot(
        t,
        vec![
            host(1, "h", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
            vm(2, "v", u, 2),
        ],
        vec![place(1, u, Some(2), t - chrono::Duration::hours(49))],
        vec![charge(1, Metric::Pvu, 2)],
    );
    let usage = compute_snapshot(&table, &s);
    let v = usage
        .values
        .iter()
        .find(|v| v.metric_id == MetricId::PvuSubCap)
        .expect("value");
    assert_eq!(v.explanation.kind, ServerKind::DefaultCountedVm);
    assert_eq!(v.quantity, 240);
    assert!(v.explanation.members[0].why.contains("stale"));
    // Within 48 h the host is used.
    let mut s2 = s.clone();
    s2.placements[0].observed_at = t - chrono::Duration::hours(47);
    let usage = compute_snapshot(&table, &s2);
    assert!(usage
        .values
        .iter()
        .all(|v| v.explanation.kind == ServerKind::Physical));
}

#[test]
fn unknown_values_are_reported_not_counted() {
    let table = PvuTable::bundled();
    let mut h = host(1, "h", 8, "x", 2);
    h.physical_cores = None;
    let s = snapshot(
        at(1, 0),
        vec![h],
        vec![],
        vec![charge(1, Metric::Pvu, 1), charge(1, Metric::Pvu, 77)],
    );
    let usage = compute_snapshot(&table, &s);
    assert!(usage.values.is_empty());
    assert_eq!(usage.unresolved.len(), 2);
    let d = aggregate_days(&table, &[s], utc());
    let p = d[0].product(1, MetricId::PvuSubCap).expect("row");
    assert_eq!(p.quantity, Quantity::default());
    assert_eq!(p.unresolved.len(), 2);
}

#[test]
fn peak_ties_take_the_earliest_day() {
    let d = |n: i64| at(n, 0).date_naive();
    let series = [
        (d(3), Quantity::whole(5)),
        (d(1), Quantity::whole(5)),
        (d(2), Quantity::whole(4)),
    ];
    let p = peak(&series).expect("peak");
    assert_eq!(p.date, d(1));
    assert_eq!(peak(&[]), None);
}

#[test]
fn explanations_serialise() {
    let table = PvuTable::bundled();
    let d = aggregate_days(&table, &[three_vms_snapshot(8, true)], utc());
    let json = serde_json::to_string(&d).expect("json");
    assert!(json.contains("\"PVU_SUB_CAP\""));
    assert!(json.contains("\"table_row\""));
    assert!(json.contains("\"rounded_up\":560"));
}

#[test]
fn vm_manager_vcpus_win_over_the_scan_and_are_explained() {
    use openlmt_licensing::aggregate::VcpuSource;
    let table = PvuTable::bundled();
    let u = nuuid(2);
    let t = at(1, 0);
    // The guest's scan says 8 logical CPUs; the VM manager says 2 vCPUs.
    let s = snapshot(
        t,
        vec![
            host(1, "h", 8, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2),
            vm(2, "v", u, 8),
        ],
        vec![place(1, u, Some(2), t)],
        vec![charge(1, Metric::Pvu, 2)],
    );
    let usage = compute_snapshot(&table, &s);
    let v = usage
        .values
        .iter()
        .find(|v| v.metric_id == MetricId::PvuSubCap)
        .expect("value");
    assert_eq!(v.quantity, 140);
    assert_eq!(v.explanation.members[0].vcpus_from, VcpuSource::VmManager);
    // Without a vCPU count from the VM manager, the scan's count is used.
    let mut s2 = s.clone();
    s2.placements[0].guest_vcpus = None;
    let usage = compute_snapshot(&table, &s2);
    let v = usage
        .values
        .iter()
        .find(|v| v.metric_id == MetricId::PvuSubCap)
        .expect("value");
    assert_eq!(v.quantity, 8 * 70);
    assert_eq!(v.explanation.members[0].vcpus_from, VcpuSource::Scan);
    // An operator override on the host changes the rate and keeps the replaced one.
    let mut s3 = s.clone();
    s3.computers[0].pvu_override = Some(100);
    let usage = compute_snapshot(&table, &s3);
    let v = usage
        .values
        .iter()
        .find(|v| v.metric_id == MetricId::PvuSubCap)
        .expect("value");
    assert_eq!(v.quantity, 200);
    assert!(v.explanation.rate.as_ref().is_some_and(|r| r.is_override()));
}

#[test]
fn a_vm_on_a_cloud_that_is_not_pre_approved_is_counted_like_any_vm() {
    let table = PvuTable::bundled();
    let s = snapshot(
        at(1, 0),
        vec![cloud_vm(1, "hw", nuuid(1), 4, CloudProvider::HuaweiCloud)],
        vec![],
        vec![charge(1, Metric::Pvu, 1)],
    );
    let usage = compute_snapshot(&table, &s);
    let v = usage
        .values
        .iter()
        .find(|v| v.metric_id == MetricId::PvuSubCap)
        .expect("value");
    assert_eq!(v.explanation.kind, ServerKind::DefaultCountedVm);
    assert_eq!(v.quantity, 480);
    assert!(v.explanation.members[0].why.contains("not a pre-approved"));
}
