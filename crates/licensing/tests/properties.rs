//! Properties over random estates (sub ≤ full, totals = Σ servers, peak ≥ every day) and the
//! scale check (10,000 computers × 300 products).

mod common;

use std::time::Instant;

use chrono::FixedOffset;
use common::*;
use openlmt_licensing::aggregate::{
    aggregate_days, compute_snapshot, product_peak, rvu_from_cores, Metric, MetricId, Quantity,
    ServerKind, Snapshot,
};
use openlmt_licensing::{CloudProvider, PvuTable};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct VmSpec {
    vcpus: u32,
    host: Option<usize>,
    swapped: bool,
    cloud: bool,
    products: Vec<(u64, u8)>,
}

/// Host cores, VMs, and (host index, product, metric) charges on hosts themselves.
type Estate = (Vec<u32>, Vec<VmSpec>, Vec<(usize, u64, u8)>);

fn estate() -> impl Strategy<Value = Estate> {
    let hosts = prop::collection::vec(1u32..64, 1..5);
    hosts.prop_flat_map(|hosts| {
        let n = hosts.len();
        let vm = (
            1u32..40,
            prop::option::of(0..n),
            any::<bool>(),
            prop::bool::weighted(0.15),
            prop::collection::vec((1u64..4, 0u8..3), 0..4),
        )
            .prop_map(|(vcpus, host, swapped, cloud, products)| VmSpec {
                vcpus,
                host,
                swapped,
                cloud,
                products,
            });
        let host_charges = prop::collection::vec((0..n, 1u64..4, 0u8..3), 0..4);
        (Just(hosts), prop::collection::vec(vm, 0..20), host_charges)
    })
}

fn metric(m: u8) -> Metric {
    match m {
        0 => Metric::Pvu,
        1 => Metric::RvuMapc,
        _ => Metric::Vpc,
    }
}

fn build(
    hosts: &[u32],
    vms: &[VmSpec],
    host_charges: &[(usize, u64, u8)],
    day: i64,
    hour: i64,
) -> Snapshot {
    let t = at(day, hour);
    let mut computers = Vec::new();
    let mut placements = Vec::new();
    let mut charges = Vec::new();
    let brands = [
        "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz",
        "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        "Intel(R) Xeon(R) CPU X7560 @ 2.27GHz",
    ];
    for (i, &cores) in hosts.iter().enumerate() {
        computers.push(host(
            i as u64 + 1,
            "h",
            cores,
            brands[i % 3],
            2 + (i as u32 % 3) * 2,
        ));
    }
    for &(h, p, m) in host_charges {
        charges.push(charge(p, metric(m), h as u64 + 1));
    }
    for (j, v) in vms.iter().enumerate() {
        let id = 1_000 + j as u64;
        let u = nuuid(id);
        let mut c = if v.cloud {
            cloud_vm(id, "c", u, v.vcpus, CloudProvider::GoogleComputeEngine)
        } else {
            vm(id, "v", u, v.vcpus)
        };
        if v.swapped {
            c.smbios_uuid = Some(u.swapped());
        }
        computers.push(c);
        if let Some(h) = v.host {
            placements.push(place(h as u64 + 1, u, Some(v.vcpus), t));
        }
        for &(p, m) in &v.products {
            charges.push(charge(p, metric(m), id));
        }
    }
    snapshot(t, computers, placements, charges)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn sub_at_most_full_totals_sum_and_peak_dominates(
        (hosts, vms, host_charges) in estate(),
        shrink in 0u32..3,
    ) {
        let table = PvuTable::bundled();
        // Three snapshots over two days; the second removes some vCPUs.
        let mut vms2 = vms.clone();
        for v in &mut vms2 {
            v.vcpus = (v.vcpus / (shrink + 1)).max(1);
        }
        let snaps = vec![
            build(&hosts, &vms, &host_charges, 1, 1),
            build(&hosts, &vms2, &host_charges, 1, 13),
            build(&hosts, &vms2, &host_charges, 2, 1),
        ];
        for s in &snaps {
            let u = compute_snapshot(&table, s);
            for full in u.values.iter().filter(|v| v.metric_id.is_full_capacity()) {
                let sub_id = match full.metric_id {
                    MetricId::PvuFullCap => MetricId::PvuSubCap,
                    _ => MetricId::RvuSubCap,
                };
                let sub = u.values.iter().find(|v| {
                    v.server == full.server && v.product == full.product && v.metric_id == sub_id
                });
                let sub = sub.expect("every full row has its sub row");
                prop_assert!(sub.quantity <= full.quantity);
                prop_assert!(sub.cores <= full.cores);
            }
            for v in &u.values {
                if v.explanation.kind == ServerKind::Physical {
                    prop_assert!(v.cores <= v.explanation.physical_cores);
                }
            }
        }
        let days = aggregate_days(&table, &snaps, FixedOffset::east_opt(0).expect("utc"));
        prop_assert_eq!(days.len(), 2);
        for d in &days {
            for p in &d.products {
                let cores: u64 = p.servers.iter().map(|s| u64::from(s.cores)).sum();
                prop_assert_eq!(p.cores, cores);
                if p.metric_id.metric() == Metric::RvuMapc {
                    prop_assert_eq!(p.quantity, rvu_from_cores(cores));
                } else {
                    let q: u64 = p.servers.iter().map(|s| s.quantity).sum();
                    prop_assert_eq!(p.quantity, Quantity::whole(q));
                }
            }
        }
        for product in 1..4u64 {
            for m in [MetricId::PvuSubCap, MetricId::PvuFullCap, MetricId::RvuSubCap, MetricId::VirtualProcessorCore] {
                if let Some(pk) = product_peak(&days, product, m) {
                    for d in &days {
                        let q = d.product(product, m).map(|p| p.quantity).unwrap_or_default();
                        prop_assert!(pk.quantity >= q);
                    }
                }
            }
        }
    }
}

#[test]
fn ten_thousand_computers_three_hundred_products() {
    let table = PvuTable::bundled();
    let t = at(1, 0);
    let mut computers = Vec::new();
    let mut placements = Vec::new();
    let mut charges = Vec::new();
    let hosts = 2_000u64;
    for i in 1..=hosts {
        computers.push(host(i, "h", 32, "Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", 2));
    }
    for j in 0..8_000u64 {
        let id = 10_000 + j;
        let u = nuuid(id);
        computers.push(vm(id, "v", u, 4));
        if j % 8 != 0 {
            placements.push(place(1 + j % hosts, u, Some(4), t));
        }
    }
    // ~300 product rows: every computer holds 30 of 300 products, in three metrics.
    for (k, c) in computers.iter().enumerate() {
        for n in 0..30u64 {
            let product = (k as u64 * 7 + n * 10) % 300;
            let m = match product % 3 {
                0 => Metric::Pvu,
                1 => Metric::RvuMapc,
                _ => Metric::Vpc,
            };
            charges.push(charge(product, m, c.id));
        }
    }
    assert_eq!(computers.len(), 10_000);
    let s = snapshot(t, computers, placements, charges);
    let start = Instant::now();
    let usage = compute_snapshot(&table, &s);
    let snapshot_time = start.elapsed();
    let start = Instant::now();
    let days = aggregate_days(
        &table,
        std::slice::from_ref(&s),
        FixedOffset::east_opt(0).expect("utc"),
    );
    let elapsed = start.elapsed();
    eprintln!(
        "10,000 computers, 300,000 charges: {} server rows, {} product rows; compute_snapshot {snapshot_time:?}, aggregate_days (snapshot + day) {elapsed:?}",
        usage.values.len(),
        days[0].products.len()
    );
    assert!(usage.unresolved.is_empty());
    assert_eq!(days[0].products.len(), 100 * 2 + 100 * 2 + 100);
    // Generous bound for unoptimised test builds on a shared 2-core machine; the figure above
    // is what to quote.
    assert!(elapsed.as_secs() < 20, "{elapsed:?}");
}
