//! The relations of the real ILMT 9.2.24 sample (counting-rules.md §13): every product total
//! equals the sum of its servers' values, computed here by this crate's functions from the
//! per-server cores and processors, `TLM_VM` servers at 120.
//!
//! Files: `shared/reference/pvu/ilmt_sample_server_rows.csv` and
//! `ilmt_sample_product_totals.csv`, read at test time; the test fails if they are absent.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::*;
use openlmt_licensing::aggregate::{compute_snapshot, Computer, Metric, MetricId, ServerKind};
use openlmt_licensing::rate::RateBasis;
use openlmt_licensing::{CloudProvider, PvuTable, ServerFacts};

/// A tiny CSV reader for the test (quoted fields with commas).
fn csv(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut q = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, q) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                ('"', _) => q = !q,
                (',', false) => fields.push(std::mem::take(&mut cur)),
                _ => cur.push(c),
            }
        }
        fields.push(cur);
        out.push(fields);
    }
    out
}

/// (server name, cores, rate, value) as ILMT printed them.
type Part = (String, u32, u64, u64);
/// (product name, ILMT quantity, parts).
type Expected = (String, u64, Vec<Part>);

struct ServerRow {
    brand: String,
    pvu_per_core: u64,
    limit_cores: u32,
    limit_pvu: u64,
    partition_cores: u32,
    os: String,
}

/// The server-level states with a non-zero limit (the excluded states have limit 0).
fn server_rows() -> HashMap<String, ServerRow> {
    let rows = csv(&read_shared("reference/pvu/ilmt_sample_server_rows.csv"));
    let header = &rows[0];
    let col = |n: &str| header.iter().position(|h| h == n).expect(n);
    let mut out = HashMap::new();
    for r in &rows[1..] {
        let limit: u32 = r[col("physical_server_core_limit")].parse().expect("limit");
        if limit == 0 {
            continue;
        }
        out.insert(
            r[col("server_name")].clone(),
            ServerRow {
                brand: r[col("processor_brand_string")].clone(),
                pvu_per_core: r[col("pvu_per_core")].parse().expect("pvu"),
                limit_cores: limit,
                limit_pvu: r[col("physical_server_pvu_limit")]
                    .parse()
                    .expect("pvu limit"),
                partition_cores: r[col("partition_cores")].parse().expect("partition"),
                os: r[col("os")].clone(),
            },
        );
    }
    out
}

/// The computers behind each server, and the computer that holds the products there.
fn fixture(
    rows: &HashMap<String, ServerRow>,
) -> (
    Vec<Computer>,
    Vec<openlmt_licensing::aggregate::VmPlacement>,
    HashMap<String, u64>,
) {
    let t = at(1, 0);
    let mut computers = Vec::new();
    let mut placements = Vec::new();
    let mut holder = HashMap::new();
    let mut next = 1u64;
    let mut names: Vec<&String> = rows.keys().collect();
    names.sort();
    for name in names {
        let r = &rows[name];
        if let Some(u) = name.strip_prefix("TLM_VM_") {
            // A VM without VM-manager data; its own scan gives the partition cores.
            let mut c = vm(next, name, uuid(u), r.partition_cores);
            c.facts.processor_vendor = Some("GenuineIntel".into());
            c.facts.processor_brand = Some(r.brand.clone());
            holder.insert(name.clone(), next);
            computers.push(c);
            next += 1;
        } else if let Some(u) = name.strip_prefix("IBM SoftLayer ") {
            let c = cloud_vm(
                next,
                name,
                uuid(u),
                r.partition_cores,
                CloudProvider::IbmSoftLayer,
            );
            holder.insert(name.clone(), next);
            computers.push(c);
            next += 1;
        } else {
            // A physical host (IBM 7946 = System x3550 M2, Xeon E5540; IBM 8408 = Power 750,
            // POWER7, as ILMT's row label says) with one VM / LPAR holding the products.
            let power = name.contains("8408");
            let host_id = next;
            computers.push(Computer {
                id: host_id,
                name: name.clone(),
                is_virtual: false,
                physical_cores: Some(r.limit_cores),
                vcpus: None,
                smbios_uuid: None,
                cloud: None,
                facts: if power {
                    ServerFacts {
                        processor_vendor: Some("IBM".into()),
                        processor_brand: Some("POWER7 (architected)".into()),
                        server_model: Some("Power 750".into()),
                        physical_cores: Some(r.limit_cores),
                        os_is_linux: false,
                        ..Default::default()
                    }
                } else {
                    ServerFacts {
                        processor_vendor: Some("GenuineIntel".into()),
                        processor_brand: Some(r.brand.clone()),
                        max_sockets: Some(2),
                        populated_sockets: Some(2),
                        physical_cores: Some(r.limit_cores),
                        ..Default::default()
                    }
                },
                pvu_override: None,
            });
            let guest = nuuid(next + 500);
            let g = vm(
                next + 1,
                &format!("guest of {name} ({})", r.os),
                guest,
                r.partition_cores,
            );
            computers.push(g);
            placements.push(place(host_id, guest, Some(r.partition_cores), t));
            holder.insert(name.clone(), next + 1);
            next += 2;
        }
    }
    (computers, placements, holder)
}

#[test]
fn every_product_total_is_the_sum_of_its_servers() {
    let table = PvuTable::bundled();
    let rows = server_rows();
    assert_eq!(rows.len(), 10, "distinct non-excluded server states");
    let (computers, placements, holder) = fixture(&rows);

    let totals = csv(&read_shared("reference/pvu/ilmt_sample_product_totals.csv"));
    assert!(totals.len() > 200, "expected the 233 product rows");
    // product id → (ILMT quantity, expected per-server values)
    let mut expected: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut charges = Vec::new();
    for (i, r) in totals[1..].iter().enumerate() {
        let product = i as u64 + 1;
        // A product name may contain a comma (6-field rows): read the numbers from the end.
        let n = r.len();
        let servers_cell = &r[n - 1];
        let quantity: u64 = r[n - 3].parse().expect("quantity");
        let sum: u64 = r[n - 2].parse().expect("sum");
        assert_eq!(quantity, sum, "{}", r[0]);
        let mut parts = Vec::new();
        for part in servers_cell.split("; ") {
            let (name, calc) = part
                .rsplit_once('=')
                .and_then(|(l, v)| {
                    let (name, cr) = l.rsplit_once('=')?;
                    Some((name, (cr, v)))
                })
                .expect("server part");
            let (cr, v) = calc;
            let (cores, rate) = cr.split_once('x').expect("cores x rate");
            let cores: u32 = cores.parse().expect("cores");
            let rate: u64 = rate.parse().expect("rate");
            let v: u64 = v.parse().expect("value");
            assert_eq!(u64::from(cores) * rate, v);
            if cores == 0 {
                continue; // all instances excluded on this server: no charge (§11.1)
            }
            let c = *holder
                .get(name)
                .unwrap_or_else(|| panic!("unknown server {name}"));
            charges.push(charge(product, Metric::Pvu, c));
            parts.push((name.to_string(), cores, rate, v));
        }
        expected.insert(product, (r[0].clone(), quantity, parts));
    }

    let snap = snapshot(at(1, 0), computers, placements, charges);
    let usage = compute_snapshot(&table, &snap);
    assert!(usage.unresolved.is_empty(), "{:?}", usage.unresolved);
    let mut by_product: HashMap<u64, Vec<&openlmt_licensing::aggregate::ServerDay>> =
        HashMap::new();
    for v in usage
        .values
        .iter()
        .filter(|v| v.metric_id == MetricId::PvuSubCap)
    {
        by_product.entry(v.product).or_default().push(v);
    }
    let mut checked = 0;
    for (product, (name, quantity, parts)) in &expected {
        let servers = by_product.get(product).cloned().unwrap_or_default();
        let total: u64 = servers.iter().map(|s| s.quantity).sum();
        assert_eq!(total, *quantity, "{name}");
        assert_eq!(servers.len(), parts.len(), "{name}");
        for (sname, cores, rate, value) in parts {
            let s = servers
                .iter()
                .find(|s| *s.server_name == **sname)
                .unwrap_or_else(|| panic!("{name}: no server {sname}"));
            assert_eq!(s.cores, *cores, "{name} {sname}");
            assert_eq!(
                s.explanation
                    .rate
                    .as_ref()
                    .map(|r| u64::from(r.pvu_per_core)),
                Some(*rate),
                "{name} {sname}"
            );
            assert_eq!(s.quantity, *value, "{name} {sname}");
            if sname.starts_with("TLM_VM_") {
                assert_eq!(s.explanation.kind, ServerKind::DefaultCountedVm);
                assert_eq!(*rate, 120);
            }
        }
        checked += 1;
    }
    assert_eq!(checked, totals.len() - 1);

    // The full-capacity limits of the server rows: limit cores × rate = limit PVU.
    for v in usage
        .values
        .iter()
        .filter(|v| v.metric_id == MetricId::PvuFullCap)
    {
        let r = &rows[&*v.server_name];
        assert_eq!(v.cores, r.limit_cores, "{}", v.server_name);
        assert_eq!(v.quantity, r.limit_pvu, "{}", v.server_name);
        assert_eq!(
            v.explanation
                .rate
                .as_ref()
                .map(|x| u64::from(x.pvu_per_core)),
            Some(r.pvu_per_core)
        );
    }
}

#[test]
fn the_sample_hosts_get_ilmt_rates_from_table_rows() {
    let table = PvuTable::bundled();
    let rows = server_rows();
    let (computers, placements, holder) = fixture(&rows);
    let charges = holder
        .values()
        .map(|&c| charge(1, Metric::Pvu, c))
        .collect();
    let usage = compute_snapshot(&table, &snapshot(at(1, 0), computers, placements, charges));
    let find = |prefix: &str| {
        usage
            .values
            .iter()
            .find(|v| v.server_name.starts_with(prefix) && v.metric_id == MetricId::PvuSubCap)
            .expect(prefix)
    };
    let x3550 = find("IBM Corp. 7946");
    match &x3550.explanation.rate.as_ref().expect("rate").basis {
        RateBasis::TableRow { row, .. } => assert!(row.contains("3400-3699 or 5500-5699"), "{row}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(x3550.quantity, 140);
    let p750 = find("IBM 8408");
    match &p750.explanation.rate.as_ref().expect("rate").basis {
        RateBasis::TableRow { row, .. } => assert!(row.contains("750, 755"), "{row}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(p750.quantity, 200);
    // The cap is never exercised in the sample: sub = partition cores on every host.
    assert!(!x3550.explanation.cap_applied && !p750.explanation.cap_applied);
}
