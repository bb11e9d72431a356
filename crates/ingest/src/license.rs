//! The bridge between the licence crate (the arithmetic, no I/O) and the
//! store: a resolved hierarchy ([`Topology`]) is stored as the snapshot's
//! servers and partitions and read back unchanged, and
//! [`LicenseCalculator`] evaluates the stored hierarchy against the
//! instances present at the snapshot (the store's [`UsageCalculator`]).

use openlmt_licensing::{
    evaluate, rvu_from_cores, Charge, Member, Metric, MetricId, Placement, Rate, ResolvedServer,
    ServerKey, ServerKind, Topology,
};
use openlmt_storage::{
    Holding, ServerValue, SnapshotPartition, SnapshotServer, StoredSnapshot, UnresolvedCharge,
    UsageCalculator,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The key a server is stored under: stable across snapshots while the
/// computer keeps its role.
pub fn server_key(k: ServerKey) -> String {
    match k.kind {
        ServerKind::Physical => format!("computer:{}", k.computer),
        ServerKind::DefaultCountedVm => format!("tlm_vm:{}", k.computer),
        ServerKind::PublicCloudVm => format!("cloud:{}", k.computer),
    }
}

fn parse_server_key(s: &str) -> Option<ServerKey> {
    let (kind, id) = s.split_once(':')?;
    let kind = match kind {
        "computer" => ServerKind::Physical,
        "tlm_vm" => ServerKind::DefaultCountedVm,
        "cloud" => ServerKind::PublicCloudVm,
        _ => return None,
    };
    Some(ServerKey {
        kind,
        computer: id.parse().ok()?,
    })
}

fn kind_text(k: ServerKind) -> &'static str {
    match k {
        ServerKind::Physical => "physical",
        ServerKind::DefaultCountedVm => "default",
        ServerKind::PublicCloudVm => "cloud",
    }
}

/// The partition key of a computer that cannot be counted.
const UNRESOLVED_KEY: &str = "-";

/// What the store keeps of a server besides the hierarchy: its hardware as
/// the API shows it.
#[derive(Debug, Clone, Default)]
pub struct ServerHardware {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub sockets: Option<i64>,
}

/// The rows a hierarchy is stored as.
pub fn topology_rows(
    topo: &Topology,
    hardware: &HashMap<u64, ServerHardware>,
) -> (Vec<SnapshotServer>, Vec<SnapshotPartition>) {
    let servers = topo
        .servers
        .iter()
        .map(|s| {
            let hw = hardware.get(&s.key.computer).cloned().unwrap_or_default();
            let custom = matches!(s.rate.basis, openlmt_licensing::RateBasis::Override { .. })
                .then_some(i64::from(s.rate.pvu_per_core));
            SnapshotServer {
                key: server_key(s.key),
                server_id: s.key.computer as i64,
                name: s.name.clone(),
                kind: kind_text(s.key.kind).to_string(),
                vendor: hw.vendor,
                model: hw.model,
                serial: match s.key.kind {
                    // ILMT shows a TLM_VM's name as its serial number.
                    ServerKind::DefaultCountedVm => Some(s.name.clone()),
                    _ => hw.serial,
                },
                total_processors: hw.sockets,
                cores: s.limit.map(i64::from),
                pvu_per_core: i64::from(s.rate.pvu_per_core),
                capped: s.capped,
                custom_pvu: custom,
                basis: json!({"rate": &*s.rate, "comment": s.comment}),
            }
        })
        .collect();
    let mut partitions = Vec::new();
    for p in &topo.placements {
        match &p.on {
            Ok(ms) => {
                for (server, member) in ms {
                    partitions.push(SnapshotPartition {
                        computer_id: p.computer as i64,
                        server_key: server_key(*server),
                        cores: i64::from(member.vcpus),
                        reason: serde_json::to_value(member).unwrap_or_default(),
                    });
                }
            }
            Err(reason) => partitions.push(SnapshotPartition {
                computer_id: p.computer as i64,
                server_key: UNRESOLVED_KEY.to_string(),
                cores: 0,
                reason: json!({"unresolved": reason}),
            }),
        }
    }
    (servers, partitions)
}

/// The hierarchy a stored snapshot holds. A row this version cannot read
/// is left out and named in the second value (never a panic).
pub fn topology_of(snap: &StoredSnapshot) -> (Topology, Vec<String>) {
    let mut problems = Vec::new();
    let mut servers = Vec::with_capacity(snap.servers.len());
    for s in &snap.servers {
        let Some(key) = parse_server_key(&s.key) else {
            problems.push(format!("server key `{}`", s.key));
            continue;
        };
        let rate: Option<Rate> = serde_json::from_value(s.basis["rate"].clone()).ok();
        let Some(rate) = rate else {
            problems.push(format!("the rate of server `{}`", s.key));
            continue;
        };
        servers.push(ResolvedServer {
            key,
            name: s.name.clone(),
            limit: s.cores.and_then(|c| u32::try_from(c).ok()),
            capped: s.capped,
            rate: Arc::new(rate),
            comment: s.basis["comment"].as_str().map(str::to_string),
        });
    }
    let mut by_computer: std::collections::BTreeMap<u64, Placement> = Default::default();
    for p in &snap.partitions {
        let computer = p.computer_id as u64;
        let entry = by_computer.entry(computer).or_insert_with(|| Placement {
            computer,
            on: Ok(Vec::new()),
        });
        if p.server_key == UNRESOLVED_KEY {
            let why = p.reason["unresolved"]
                .as_str()
                .unwrap_or("cannot be counted")
                .to_string();
            entry.on = Err(why);
            continue;
        }
        let (Some(key), Ok(member)) = (
            parse_server_key(&p.server_key),
            serde_json::from_value::<Member>(p.reason.clone()),
        ) else {
            problems.push(format!("the placement of computer {computer}"));
            continue;
        };
        if let Ok(v) = &mut entry.on {
            v.push((key, member));
        }
    }
    (
        Topology {
            taken_at: snap.taken_at,
            servers,
            placements: by_computer.into_values().collect(),
        },
        problems,
    )
}

fn metric_of(unit: &str) -> Option<Metric> {
    match unit {
        "PVU" => Some(Metric::Pvu),
        "RVU_MAPC" => Some(Metric::RvuMapc),
        "VPC" => Some(Metric::Vpc),
        _ => None,
    }
}

fn unit_of(m: Metric) -> &'static str {
    match m {
        Metric::Pvu => "PVU",
        Metric::RvuMapc => "RVU_MAPC",
        Metric::Vpc => "VPC",
    }
}

fn code_of(m: MetricId) -> &'static str {
    m.code_name()
}

/// The store's licence arithmetic: the licence crate's [`evaluate`] over a
/// stored hierarchy.
#[derive(Debug, Default)]
pub struct LicenseCalculator;

impl UsageCalculator for LicenseCalculator {
    fn server_values(
        &self,
        snapshot: &StoredSnapshot,
        holdings: &[Holding],
        explain: bool,
    ) -> (Vec<ServerValue>, Vec<UnresolvedCharge>) {
        let (topo, problems) = topology_of(snapshot);
        if !problems.is_empty() {
            tracing::warn!(
                snapshot = snapshot.id,
                ?problems,
                "licence snapshot rows this version cannot read were left out"
            );
        }
        // Products are numbered for the licence crate, in order of appearance.
        let mut ids: HashMap<&str, u64> = HashMap::new();
        let mut names: Vec<&str> = Vec::new();
        let mut charges = Vec::with_capacity(holdings.len());
        let mut unresolved = Vec::new();
        for h in holdings {
            let Some(metric) = metric_of(&h.metric) else {
                unresolved.push(UnresolvedCharge {
                    product_id: h.product_id.clone(),
                    unit: h.metric.clone(),
                    computer_id: h.computer_id,
                    reason: format!("unknown licence metric `{}`", h.metric),
                });
                continue;
            };
            let n = *ids.entry(h.product_id.as_str()).or_insert_with(|| {
                names.push(h.product_id.as_str());
                names.len() as u64 - 1
            });
            charges.push(Charge {
                product: n,
                metric,
                computer: h.computer_id as u64,
            });
        }
        let usage = evaluate(&topo, &charges);
        let product = |n: u64| names.get(n as usize).copied().unwrap_or("").to_string();
        let values = usage
            .values
            .iter()
            .map(|v| ServerValue {
                product_id: product(v.product),
                metric: code_of(v.metric_id).to_string(),
                server_key: server_key(v.server),
                quantity: i64::try_from(v.quantity).unwrap_or(i64::MAX),
                cores: i64::from(v.cores),
                explanation: if explain {
                    serde_json::to_value(&*v.explanation).unwrap_or_default()
                } else {
                    serde_json::Value::Null
                },
            })
            .collect();
        unresolved.extend(usage.unresolved.iter().map(|u| UnresolvedCharge {
            product_id: product(u.product),
            unit: unit_of(u.metric).to_string(),
            computer_id: u.computer as i64,
            reason: u.reason.clone(),
        }));
        (values, unresolved)
    }

    fn product_quantity(&self, metric: &str, servers: &[&ServerValue]) -> (i64, i64) {
        let cores: i64 = servers.iter().map(|s| s.cores).sum();
        if metric.starts_with("RVU_") {
            // The tiers apply to the product's total cores (counting-rules.md
            // §8); a fraction is rounded up to a whole RVU (docs/metrics.md).
            let q = rvu_from_cores(u64::try_from(cores).unwrap_or(0)).whole_rounded_up();
            (i64::try_from(q).unwrap_or(i64::MAX), cores)
        } else {
            (servers.iter().map(|s| s.quantity).sum(), cores)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openlmt_domain::metric::ReportedMetric;

    /// The licence crate (no openlmt dependency) and the domain name the
    /// metrics each on their own; the store keeps the code, the API shows
    /// the domain's id: they must agree.
    #[test]
    fn the_licence_crate_and_the_domain_agree_on_every_metric() {
        for m in [
            MetricId::PvuFullCap,
            MetricId::PvuSubCap,
            MetricId::RvuFullCap,
            MetricId::RvuSubCap,
            MetricId::VirtualProcessorCore,
        ] {
            let d = ReportedMetric::by_code(m.code_name()).expect("a domain metric");
            assert_eq!(i64::from(m.id()), d.id, "{}", d.code);
            assert_eq!(m.is_full_capacity(), d.full, "{}", d.code);
            assert_eq!(
                openlmt_domain::metric::LicenseUnit::parse(unit_of(m.metric())),
                Some(d.unit),
                "{}",
                d.code
            );
        }
    }
}
