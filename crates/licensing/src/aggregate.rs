//! The server hierarchy, per-server full and sub-capacity, daily values and peaks.
//!
//! Pure functions over plain structs. The caller (import / storage) supplies one [`Snapshot`]
//! per import: the computers with their capacity, the VM-manager observations, and the charged
//! instances already filtered (non-excluded, non-suppressed, charged to a product release with a
//! metric: counting-rules.md §11.1 says excluded instances count 0 and the caller owns
//! exclusion and suppression).
//!
//! Rules (counting-rules.md):
//! * a physical computer is its own server (§4, §5.5);
//! * a VM placed by **fresh** VM-manager data (matched by SMBIOS UUID in either byte order,
//!   [`crate::uuid`]) runs on that host's server, with the vCPUs the VM manager reports, else its
//!   own scan's (§5.2); the host's rate applies to every VM on it (§3 item 1);
//! * a VM with no or stale host data is its own server `TLM_VM_<uuid or id>` at 120 per core,
//!   not capped (§6);
//! * a VM on an eligible public cloud is its own server at 70 per vCPU (§3 item 4, §7);
//! * a VM seen on two hosts in the same snapshot counts on each host (§5.2, "Mobility");
//! * full capacity = activated physical cores × rate (§4); sub-capacity = min(physical cores,
//!   Σ vCPUs of the server's VMs holding the product) × rate (§5.1); a physical server whose own
//!   OS holds the product has sub = full (§5.5);
//! * RVU MAPC: the same cores, then the marginal tiers on the product total (§8);
//! * VPC: min(physical cores, Σ vCPUs), no rate, sub-capacity only (§9);
//! * the day value of a server is the maximum over that day's snapshots, a product's daily value
//!   is the sum over servers, and the period value is the largest daily value (§5.1, §12.2).
//!   This is the "sum of the per-server maxima" reading; §14 item 5 says ILMT's in-day
//!   arithmetic is open.
//!
//! Everything is grouped with hash maps keyed by server and product: linear in the number of
//! computers, placements and charges.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::cloud::CloudProvider;
use crate::pvu_table::PvuTable;
use crate::rate::{cloud_rate, rate, DefaultReason, Rate, RateBasis, ServerFacts};
use crate::uuid::SmbiosUuid;

/// A small multiply-rotate hasher (the FxHash scheme) for the integer keys of the grouping
/// maps; the keys are ids from our own input, not attacker-chosen strings.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;
type FxMap<K, V> = HashMap<K, V, FxBuild>;
type FxSet<K> = HashSet<K, FxBuild>;

/// A computer id as the storage layer assigns it.
pub type ComputerId = u64;
/// A product (release) id.
pub type ProductId = u64;

/// Default staleness limit of VM-manager data: 48 hours. ILMT collects VM-manager data every 30
/// minutes and imports capacity every 24 h, and asks for VM managers within 24 h of adding VMs
/// (counting-rules.md §5.2); 48 h tolerates one missed daily import \[inference\].
pub const DEFAULT_STALENESS_HOURS: i64 = 48;

/// openlmt's id for `VIRTUAL_PROCESSOR_CORE`: IBM's numeric id is not known
/// (counting-rules.md §1, §14 item 7), so openlmt uses 10001, outside the small ids IBM uses
/// (3, 4, 7, 8), so that it can never be mistaken for one of them.
pub const VPC_METRIC_ID: u32 = 10_001;

/// The licence metric a product release is charged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Processor Value Units.
    Pvu,
    /// Resource Value Units per activated processor core.
    RvuMapc,
    /// Virtual Processor Cores.
    Vpc,
}

/// A reported metric row, with ILMT's ids (counting-rules.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MetricId {
    /// `PVU_FULL_CAP`, id 3.
    #[serde(rename = "PVU_FULL_CAP")]
    PvuFullCap,
    /// `PVU_SUB_CAP`, id 4.
    #[serde(rename = "PVU_SUB_CAP")]
    PvuSubCap,
    /// `RVU_FULL_CAP`, id 7.
    #[serde(rename = "RVU_FULL_CAP")]
    RvuFullCap,
    /// `RVU_SUB_CAP`, id 8.
    #[serde(rename = "RVU_SUB_CAP")]
    RvuSubCap,
    /// `VIRTUAL_PROCESSOR_CORE`, openlmt id [`VPC_METRIC_ID`].
    #[serde(rename = "VIRTUAL_PROCESSOR_CORE")]
    VirtualProcessorCore,
}

impl MetricId {
    /// Numeric id (`metric_id`).
    pub fn id(self) -> u32 {
        match self {
            MetricId::PvuFullCap => 3,
            MetricId::PvuSubCap => 4,
            MetricId::RvuFullCap => 7,
            MetricId::RvuSubCap => 8,
            MetricId::VirtualProcessorCore => VPC_METRIC_ID,
        }
    }

    /// Code name (`metric_code_name`).
    pub fn code_name(self) -> &'static str {
        match self {
            MetricId::PvuFullCap => "PVU_FULL_CAP",
            MetricId::PvuSubCap => "PVU_SUB_CAP",
            MetricId::RvuFullCap => "RVU_FULL_CAP",
            MetricId::RvuSubCap => "RVU_SUB_CAP",
            MetricId::VirtualProcessorCore => "VIRTUAL_PROCESSOR_CORE",
        }
    }

    /// The metric it belongs to.
    pub fn metric(self) -> Metric {
        match self {
            MetricId::PvuFullCap | MetricId::PvuSubCap => Metric::Pvu,
            MetricId::RvuFullCap | MetricId::RvuSubCap => Metric::RvuMapc,
            MetricId::VirtualProcessorCore => Metric::Vpc,
        }
    }

    /// Whether this is a full-capacity row.
    pub fn is_full_capacity(self) -> bool {
        matches!(self, MetricId::PvuFullCap | MetricId::RvuFullCap)
    }
}

/// A licence quantity kept exactly in hundredths. PVU and VPC are always whole; RVU MAPC tier
/// results can have one decimal (2,501 cores → 2,500.8 RVU). openlmt keeps the exact value and
/// offers [`Quantity::whole_rounded_up`] for the integer `hwm_quantity` field: rounding up never
/// under-licenses, and counting-rules.md §8 / §14 item 6 leave ILMT's rounding open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Quantity {
    /// The value × 100.
    pub hundredths: u64,
}

impl Quantity {
    /// A whole quantity.
    pub fn whole(n: u64) -> Quantity {
        Quantity {
            hundredths: n.saturating_mul(100),
        }
    }

    /// The quantity rounded up to a whole number.
    pub fn whole_rounded_up(self) -> u64 {
        self.hundredths.div_ceil(100)
    }

    /// Exact text with two decimals: `2500.80`.
    pub fn exact(self) -> String {
        format!("{}.{:02}", self.hundredths / 100, self.hundredths % 100)
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.exact())
    }
}

impl Serialize for Quantity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Quantity", 2)?;
        st.serialize_field("exact", &self.exact())?;
        st.serialize_field("rounded_up", &self.whole_rounded_up())?;
        st.end()
    }
}

/// RVU MAPC from a core total, by IBM's marginal tiers (counting-rules.md §8):
/// 0–2,500 × 1.00, 2,501–10,000 × 0.80, 10,001–50,000 × 0.60, 50,001–150,000 × 0.40, above
/// 150,000 × 0.20. 45,000 cores → 29,500.
pub fn rvu_from_cores(cores: u64) -> Quantity {
    // (upper bound of the band, factor in hundredths)
    const BANDS: [(u64, u64); 5] = [
        (2_500, 100),
        (10_000, 80),
        (50_000, 60),
        (150_000, 40),
        (u64::MAX, 20),
    ];
    let mut lower = 0u64;
    let mut total = 0u64;
    for (upper, factor) in BANDS {
        if cores <= lower {
            break;
        }
        let in_band = cores.min(upper) - lower;
        total = total.saturating_add(in_band.saturating_mul(factor));
        lower = upper;
    }
    Quantity { hundredths: total }
}

/// A computer as one import sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computer {
    /// Id.
    pub id: ComputerId,
    /// Name (host name).
    pub name: String,
    /// Whether it is a VM.
    pub is_virtual: bool,
    /// Activated physical cores (for a physical computer; for a VM, its cores as scanned).
    pub physical_cores: Option<u32>,
    /// Logical CPUs as scanned (a VM's vCPUs).
    pub vcpus: Option<u32>,
    /// SMBIOS system UUID.
    pub smbios_uuid: Option<SmbiosUuid>,
    /// Public cloud the VM runs on, if marked or recognised ([`crate::cloud::recognise_cloud`]).
    pub cloud: Option<CloudProvider>,
    /// Facts for the rate of the server this computer is (physical computers, cloud VMs).
    pub facts: ServerFacts,
    /// Operator's "Changed PVU Per Core" for the server this computer is.
    pub pvu_override: Option<u32>,
}

/// One VM-manager observation: a guest on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmPlacement {
    /// The host computer (physical).
    pub host: ComputerId,
    /// The guest's UUID as the VM manager reports it.
    pub guest_uuid: SmbiosUuid,
    /// vCPUs the VM manager reports for the guest.
    pub guest_vcpus: Option<u32>,
    /// When it was observed.
    pub observed_at: DateTime<Utc>,
}

/// A computer holding a charged instance of a product release in a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Charge {
    /// Product release.
    pub product: ProductId,
    /// Metric it is licensed in.
    pub metric: Metric,
    /// Computer.
    pub computer: ComputerId,
}

/// One import's view at time `taken_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When.
    pub taken_at: DateTime<Utc>,
    /// Computers.
    pub computers: Vec<Computer>,
    /// VM-manager observations.
    pub placements: Vec<VmPlacement>,
    /// Charged instances (already filtered).
    pub charges: Vec<Charge>,
    /// VM-manager data older than this is stale.
    pub staleness: Duration,
}

impl Snapshot {
    /// An empty snapshot with the default staleness limit.
    pub fn new(taken_at: DateTime<Utc>) -> Snapshot {
        Snapshot {
            taken_at,
            computers: Vec::new(),
            placements: Vec::new(),
            charges: Vec::new(),
            staleness: Duration::hours(DEFAULT_STALENESS_HOURS),
        }
    }
}

/// What kind of server a value is counted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerKind {
    /// A physical computer (a host, or a bare-metal machine).
    Physical,
    /// A VM without fresh VM-manager data: `TLM_VM_…` (§6).
    DefaultCountedVm,
    /// A VM on an eligible public cloud (§7).
    PublicCloudVm,
}

/// A server: its kind and the computer it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ServerKey {
    /// Kind.
    pub kind: ServerKind,
    /// The computer that is the server (the host, the VM itself, the cloud VM).
    pub computer: ComputerId,
}

/// How a computer takes part in a server's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    /// The physical server's own OS holds the product.
    PhysicalServerItself,
    /// A VM placed on this host by VM-manager data.
    VmOnHost,
    /// A VM counted on its own (`TLM_VM`).
    DefaultCountedVm,
    /// A public-cloud VM.
    PublicCloudVm,
}

/// Where a vCPU count came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VcpuSource {
    /// The VM manager's report.
    VmManager,
    /// The computer's own scan (logical CPUs, else cores).
    Scan,
    /// Physical cores of the server itself.
    PhysicalCores,
}

/// One computer counted on a server for a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Computer id.
    pub computer: ComputerId,
    /// Computer name.
    pub name: Arc<str>,
    /// Role.
    pub role: MemberRole,
    /// Cores / vCPUs it contributes.
    pub vcpus: u32,
    /// Where that number came from.
    pub vcpus_from: VcpuSource,
    /// When the VM manager last placed it here (VMs on hosts).
    pub placed_at: Option<DateTime<Utc>>,
    /// Why it is counted this way.
    pub why: Arc<str>,
}

/// The explanation of one server's value for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explanation {
    /// Server kind.
    pub kind: ServerKind,
    /// Physical cores of the server (the full-capacity limit). For `TLM_VM` and cloud servers,
    /// the VM's own cores / vCPUs.
    pub physical_cores: u32,
    /// PVU rate and its basis (PVU rows only; shared by the rows of one server).
    pub rate: Option<Arc<Rate>>,
    /// Computers counted.
    pub members: Vec<Member>,
    /// Σ vCPUs of the VMs holding the product (0 when only the server itself holds it).
    pub virtual_cores: u64,
    /// Whether this kind of server caps virtual at physical cores (physical hosts only).
    pub capped: bool,
    /// Whether the cap cut the value (virtual cores > physical cores).
    pub cap_applied: bool,
    /// ILMT-style comment (`Incomplete virtualization hierarchy` for `TLM_VM`).
    pub comment: Option<String>,
}

/// A value that could not be computed, and why (never silently counted as 0).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Unresolved {
    /// Product.
    pub product: ProductId,
    /// Metric.
    pub metric: Metric,
    /// Computer whose charge could not be counted.
    pub computer: ComputerId,
    /// Why.
    pub reason: String,
}

/// One server's value for one product and metric row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerDay {
    /// The server.
    pub server: ServerKey,
    /// Server name as ILMT shows it (host name, `TLM_VM_<uuid>`, `IBM SoftLayer <uuid>`).
    pub server_name: Arc<str>,
    /// Product.
    pub product: ProductId,
    /// Metric row.
    pub metric_id: MetricId,
    /// Cores behind the value (`hwm_cores`): the limit for full-capacity rows, the capped
    /// virtual cores for sub-capacity rows.
    pub cores: u32,
    /// Per-server quantity: PVU for PVU rows, cores for RVU rows (the tiers apply to the
    /// product total), vCPUs for VPC.
    pub quantity: u64,
    /// When the snapshot that gave this (day-maximum) value was taken.
    pub taken_at: DateTime<Utc>,
    /// Why (shared by the full- and sub-capacity rows of the same server and product).
    pub explanation: Arc<Explanation>,
}

/// The result of one snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotUsage {
    /// When.
    pub taken_at: DateTime<Utc>,
    /// One row per server, product and metric row.
    pub values: Vec<ServerDay>,
    /// Charges that could not be counted.
    pub unresolved: Vec<Unresolved>,
}

/// A product's value for one day and metric row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductDay {
    /// Product.
    pub product: ProductId,
    /// Metric row.
    pub metric_id: MetricId,
    /// Σ of the servers' cores.
    pub cores: u64,
    /// The product's quantity: Σ servers (PVU, VPC) or the RVU tiers of Σ cores.
    pub quantity: Quantity,
    /// The servers, sorted by server.
    pub servers: Vec<ServerDay>,
    /// Charges of this product that could not be counted that day.
    pub unresolved: Vec<Unresolved>,
}

/// All products of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    /// The day.
    pub date: NaiveDate,
    /// Products, sorted by product then metric row.
    pub products: Vec<ProductDay>,
}

impl DayUsage {
    /// One product's row, if the product had any value or unresolved charge that day.
    pub fn product(&self, product: ProductId, metric_id: MetricId) -> Option<&ProductDay> {
        self.products
            .iter()
            .find(|p| p.product == product && p.metric_id == metric_id)
    }
}

/// The high-water mark of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Peak {
    /// The day of the peak (the earliest day when several days share the largest value).
    pub date: NaiveDate,
    /// The largest daily value.
    pub quantity: Quantity,
}

/// The peak of a daily series: the largest value and its day; on a tie, the earliest day.
pub fn peak(series: &[(NaiveDate, Quantity)]) -> Option<Peak> {
    let mut best: Option<Peak> = None;
    for &(date, quantity) in series {
        best = match best {
            None => Some(Peak { date, quantity }),
            Some(b) if quantity > b.quantity || (quantity == b.quantity && date < b.date) => {
                Some(Peak { date, quantity })
            }
            keep => keep,
        };
    }
    best
}

/// The peak of one product and metric row over `days` (days without a row count 0).
pub fn product_peak(days: &[DayUsage], product: ProductId, metric_id: MetricId) -> Option<Peak> {
    let series: Vec<(NaiveDate, Quantity)> = days
        .iter()
        .map(|d| {
            (
                d.date,
                d.product(product, metric_id)
                    .map(|p| p.quantity)
                    .unwrap_or_default(),
            )
        })
        .collect();
    peak(&series)
}

struct Membership {
    server: ServerKey,
    member: Member,
}

struct Acc {
    members: Vec<Member>,
    virtual_sum: u64,
    holds_itself: bool,
}

fn server_name(kind: ServerKind, c: &Computer) -> String {
    let id = c
        .smbios_uuid
        .map(|u| u.canonical())
        .unwrap_or_else(|| c.id.to_string());
    match kind {
        ServerKind::Physical => c.name.clone(),
        // §6: the server id begins with TLM_VM.
        ServerKind::DefaultCountedVm => format!("TLM_VM_{id}"),
        // §7 [obs]: ILMT shows `IBM SoftLayer <uuid>`.
        ServerKind::PublicCloudVm => format!(
            "{} {id}",
            c.cloud.as_ref().map(|p| p.name()).unwrap_or_default()
        ),
    }
}

fn own_vcpus(c: &Computer) -> Option<(u32, VcpuSource)> {
    c.vcpus.or(c.physical_cores).map(|v| (v, VcpuSource::Scan))
}

/// Resolve the servers a computer counts on. `Err` = it cannot be counted, with the reason.
fn memberships(
    c: &Computer,
    computers: &FxMap<ComputerId, &Computer>,
    fresh: &FxMap<[u8; 16], Vec<&VmPlacement>>,
    stale: &FxMap<[u8; 16], DateTime<Utc>>,
) -> Result<Vec<Membership>, String> {
    if !c.is_virtual {
        // §4, §5.5: a physical computer is its own server.
        let cores = c
            .physical_cores
            .ok_or_else(|| format!("physical computer {} has no core count", c.name))?;
        return Ok(vec![Membership {
            server: ServerKey {
                kind: ServerKind::Physical,
                computer: c.id,
            },
            member: Member {
                computer: c.id,
                name: c.name.as_str().into(),
                role: MemberRole::PhysicalServerItself,
                vcpus: cores,
                vcpus_from: VcpuSource::PhysicalCores,
                placed_at: None,
                why: "physical computer: its own server (counting-rules.md §5.5)".into(),
            },
        }]);
    }
    if let Some(p) = c.cloud.as_ref().filter(|p| p.byosl_eligible()) {
        // §7: a cloud VM is its own server, 70 per vCPU.
        let (v, src) =
            own_vcpus(c).ok_or_else(|| format!("cloud VM {} has no vCPU count", c.name))?;
        return Ok(vec![Membership {
            server: ServerKey {
                kind: ServerKind::PublicCloudVm,
                computer: c.id,
            },
            member: Member {
                computer: c.id,
                name: c.name.as_str().into(),
                role: MemberRole::PublicCloudVm,
                vcpus: v,
                vcpus_from: src,
                placed_at: None,
                why: format!(
                    "VM on {} (eligible public cloud): its own server (counting-rules.md §7)",
                    p.name()
                )
                .into(),
            },
        }]);
    }
    let mut why_default = match &c.cloud {
        Some(p) => format!(
            "VM on {}, not a pre-approved BYOSL cloud (counting-rules.md §7); ",
            p.name()
        ),
        None => String::new(),
    };
    let mut out = Vec::new();
    match c.smbios_uuid {
        None => why_default.push_str("no SMBIOS UUID to match VM-manager data"),
        Some(u) => {
            let key = u.match_key();
            let mut seen_hosts: FxSet<ComputerId> = FxSet::default();
            let mut unknown_hosts = Vec::new();
            for p in fresh.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(host) = computers.get(&p.host).filter(|h| !h.is_virtual) else {
                    unknown_hosts.push(p.host);
                    continue;
                };
                if !seen_hosts.insert(p.host) {
                    continue;
                }
                let (v, src) = match p.guest_vcpus {
                    Some(v) => (v, VcpuSource::VmManager),
                    None => own_vcpus(c).ok_or_else(|| {
                        format!("VM {} has no vCPU count (VM manager nor scan)", c.name)
                    })?,
                };
                let order = if p.guest_uuid == u {
                    "same byte order"
                } else {
                    "byte-swapped UUID"
                };
                out.push(Membership {
                    server: ServerKey {
                        kind: ServerKind::Physical,
                        computer: host.id,
                    },
                    member: Member {
                        computer: c.id,
                        name: c.name.as_str().into(),
                        role: MemberRole::VmOnHost,
                        vcpus: v,
                        vcpus_from: src,
                        placed_at: Some(p.observed_at),
                        why: format!(
                            "VM-manager data places it on {} ({order}); counted on every host it ran on (counting-rules.md §5.2)",
                            host.name
                        ).into(),
                    },
                });
            }
            if out.is_empty() {
                if !unknown_hosts.is_empty() {
                    why_default.push_str(&format!(
                        "VM-manager data names host id(s) {unknown_hosts:?} that are not physical computers of this snapshot"
                    ));
                } else if let Some(t) = stale.get(&key) {
                    why_default.push_str(&format!("VM-manager data is stale (last observed {t})"));
                } else {
                    why_default.push_str("no VM-manager data for this VM");
                }
            }
        }
    }
    if !out.is_empty() {
        return Ok(out);
    }
    // §6: default counting, TLM_VM, 120, not capped.
    let (v, src) = own_vcpus(c).ok_or_else(|| format!("VM {} has no vCPU count", c.name))?;
    Ok(vec![Membership {
        server: ServerKey {
            kind: ServerKind::DefaultCountedVm,
            computer: c.id,
        },
        member: Member {
            computer: c.id,
            name: c.name.as_str().into(),
            role: MemberRole::DefaultCountedVm,
            vcpus: v,
            vcpus_from: src,
            placed_at: None,
            why: format!("{why_default}: default counting (counting-rules.md §6)").into(),
        },
    }])
}

/// A server of a resolved snapshot, with what its values need: the limit (physical cores, or
/// the VM's own cores for `TLM_VM` and cloud servers), whether sub-capacity is capped, and
/// its PVU rate with the basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedServer {
    /// The server.
    pub key: ServerKey,
    /// Its name as ILMT shows it (host name, `TLM_VM_<uuid>`, `<cloud> <uuid>`).
    pub name: String,
    /// Physical cores for a physical server; the VM's own cores/vCPUs for `TLM_VM` and cloud
    /// servers. `None` when no evidence says (its charges are then unresolved).
    pub limit: Option<u32>,
    /// Whether virtual cores are capped at `limit` (physical servers only, §5.1; §6, §7).
    pub capped: bool,
    /// The PVU rate and its basis.
    pub rate: Arc<Rate>,
    /// ILMT-style comment (`Incomplete virtualization hierarchy` for `TLM_VM`, §6).
    pub comment: Option<String>,
}

/// Where one computer counts: its memberships of servers, or why it cannot be counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// The computer.
    pub computer: ComputerId,
    /// The servers it counts on, with how; `Err` = it cannot be counted, and why.
    pub on: Result<Vec<(ServerKey, Member)>, String>,
}

/// The virtualization hierarchy of one snapshot (what [`resolve`] makes of the computers and
/// the VM-manager data): every server and every computer's placement. Independent of which
/// products are installed, so it can be stored and evaluated again when the classification
/// changes (the charges are applied by [`evaluate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// When the snapshot was taken.
    pub taken_at: DateTime<Utc>,
    /// The servers, sorted by key.
    pub servers: Vec<ResolvedServer>,
    /// The computers' placements, sorted by computer.
    pub placements: Vec<Placement>,
}

/// Resolve the hierarchy of a snapshot: which server each computer counts on, with which
/// cores, and every server's limit and rate. The snapshot's charges are not read.
pub fn resolve(table: &PvuTable, snap: &Snapshot) -> Topology {
    let mut computers: FxMap<ComputerId, &Computer> =
        FxMap::with_capacity_and_hasher(snap.computers.len(), FxBuild::default());
    for c in &snap.computers {
        computers.entry(c.id).or_insert(c);
    }
    let mut fresh: FxMap<[u8; 16], Vec<&VmPlacement>> = FxMap::default();
    let mut stale: FxMap<[u8; 16], DateTime<Utc>> = FxMap::default();
    for p in &snap.placements {
        let key = p.guest_uuid.match_key();
        let age = snap.taken_at.signed_duration_since(p.observed_at);
        if age >= Duration::zero() && age <= snap.staleness {
            fresh.entry(key).or_default().push(p);
        } else if age > snap.staleness {
            let e = stale.entry(key).or_insert(p.observed_at);
            if p.observed_at > *e {
                *e = p.observed_at;
            }
        }
        // Observations after `taken_at` are not part of this view.
    }
    let mut placements = Vec::with_capacity(computers.len());
    let mut servers: FxMap<ServerKey, ResolvedServer> = FxMap::default();
    let mut ids: Vec<ComputerId> = computers.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let Some(c) = computers.get(&id) else {
            continue;
        };
        let on = memberships(c, &computers, &fresh, &stale).map(|ms| {
            ms.into_iter()
                .map(|m| (m.server, m.member))
                .collect::<Vec<_>>()
        });
        if let Ok(ms) = &on {
            for (server, member) in ms {
                if servers.contains_key(server) {
                    continue;
                }
                let Some(sc) = computers.get(&server.computer) else {
                    continue;
                };
                servers.insert(*server, resolve_server(table, *server, sc, member));
            }
        }
        placements.push(Placement { computer: id, on });
    }
    let mut servers: Vec<ResolvedServer> = servers.into_values().collect();
    servers.sort_by_key(|s| s.key);
    Topology {
        taken_at: snap.taken_at,
        servers,
        placements,
    }
}

/// One server's limit, cap and rate (`member`: a computer counted on it, whose own cores are
/// the limit of a `TLM_VM` or cloud server).
fn resolve_server(
    table: &PvuTable,
    server: ServerKey,
    sc: &Computer,
    member: &Member,
) -> ResolvedServer {
    let (limit, capped, comment) = match server.kind {
        ServerKind::Physical => (sc.physical_cores, true, None),
        // §6 [obs]: limit = partition cores, comment "Incomplete virtualization hierarchy".
        ServerKind::DefaultCountedVm => (
            Some(member.vcpus),
            false,
            Some("Incomplete virtualization hierarchy".to_string()),
        ),
        ServerKind::PublicCloudVm => (Some(member.vcpus), false, None),
    };
    let rate = match server.kind {
        ServerKind::Physical => rate(table, &sc.facts, None, sc.pvu_override),
        ServerKind::PublicCloudVm => {
            let base = match &sc.cloud {
                Some(p) => cloud_rate(table, p),
                None => Rate::default_with(DefaultReason::NoVmManagerData),
            };
            with_override(base, sc.pvu_override)
        }
        ServerKind::DefaultCountedVm => with_override(
            Rate::default_with(DefaultReason::NoVmManagerData),
            sc.pvu_override,
        ),
    };
    ResolvedServer {
        key: server,
        name: server_name(server.kind, sc),
        limit,
        capped,
        rate: Arc::new(rate),
        comment,
    }
}

/// Compute one snapshot: every server's value for every charged product and metric row
/// ([`resolve`] then [`evaluate`]).
pub fn compute_snapshot(table: &PvuTable, snap: &Snapshot) -> SnapshotUsage {
    evaluate(&resolve(table, snap), &snap.charges)
}

/// Every server's value for every charged product and metric row of a resolved hierarchy.
pub fn evaluate(topo: &Topology, charges: &[Charge]) -> SnapshotUsage {
    let placements: FxMap<ComputerId, &Placement> =
        topo.placements.iter().map(|p| (p.computer, p)).collect();
    let servers: FxMap<ServerKey, &ResolvedServer> =
        topo.servers.iter().map(|s| (s.key, s)).collect();
    let mut accs: FxMap<(ServerKey, ProductId, Metric), Acc> = FxMap::default();
    let mut unresolved: Vec<Unresolved> = Vec::new();
    let mut seen: FxSet<Charge> =
        FxSet::with_capacity_and_hasher(charges.len(), FxBuild::default());
    for ch in charges {
        if !seen.insert(*ch) {
            continue;
        }
        let Some(p) = placements.get(&ch.computer) else {
            unresolved.push(Unresolved {
                product: ch.product,
                metric: ch.metric,
                computer: ch.computer,
                reason: "the computer is not in this snapshot".into(),
            });
            continue;
        };
        let ms = match &p.on {
            Ok(ms) => ms,
            Err(reason) => {
                unresolved.push(Unresolved {
                    product: ch.product,
                    metric: ch.metric,
                    computer: ch.computer,
                    reason: reason.clone(),
                });
                continue;
            }
        };
        for (server, member) in ms {
            let acc = accs
                .entry((*server, ch.product, ch.metric))
                .or_insert_with(|| Acc {
                    members: Vec::new(),
                    virtual_sum: 0,
                    holds_itself: false,
                });
            if member.role == MemberRole::VmOnHost {
                acc.virtual_sum += u64::from(member.vcpus);
            } else {
                acc.holds_itself = true;
            }
            acc.members.push(member.clone());
        }
    }

    let mut names: FxMap<ServerKey, Arc<str>> = FxMap::default();
    let mut values = Vec::with_capacity(accs.len() * 2);
    for ((server, product, metric), acc) in accs {
        let Some(sc) = servers.get(&server) else {
            for m in &acc.members {
                unresolved.push(Unresolved {
                    product,
                    metric,
                    computer: m.computer,
                    reason: format!("server {} is not in this snapshot", server.computer),
                });
            }
            continue;
        };
        let Some(limit) = sc.limit else {
            for m in &acc.members {
                unresolved.push(Unresolved {
                    product,
                    metric,
                    computer: m.computer,
                    reason: format!("host {} has no physical core count", sc.name),
                });
            }
            continue;
        };
        let capped = sc.capped;
        // §5.1 min(physical, virtual); §5.5 the server itself holding it → full; §6/§7 uncapped.
        let (sub, cap_applied) = if !capped || acc.holds_itself {
            (limit, false)
        } else if acc.virtual_sum > u64::from(limit) {
            (limit, true)
        } else {
            (acc.virtual_sum as u32, false)
        };
        let r = (metric == Metric::Pvu).then(|| Arc::clone(&sc.rate));
        let explanation = Arc::new(Explanation {
            kind: server.kind,
            physical_cores: limit,
            rate: r.clone(),
            members: acc.members,
            virtual_cores: acc.virtual_sum,
            capped,
            cap_applied,
            comment: sc.comment.clone(),
        });
        let name = Arc::clone(
            names
                .entry(server)
                .or_insert_with(|| sc.name.as_str().into()),
        );
        let row = |metric_id: MetricId, cores: u32, quantity: u64| ServerDay {
            server,
            server_name: Arc::clone(&name),
            product,
            metric_id,
            cores,
            quantity,
            taken_at: topo.taken_at,
            explanation: Arc::clone(&explanation),
        };
        match metric {
            Metric::Pvu => {
                let per = u64::from(r.as_ref().map(|r| r.pvu_per_core).unwrap_or(0));
                values.push(row(MetricId::PvuFullCap, limit, u64::from(limit) * per));
                values.push(row(MetricId::PvuSubCap, sub, u64::from(sub) * per));
            }
            Metric::RvuMapc => {
                values.push(row(MetricId::RvuFullCap, limit, u64::from(limit)));
                values.push(row(MetricId::RvuSubCap, sub, u64::from(sub)));
            }
            Metric::Vpc => values.push(row(MetricId::VirtualProcessorCore, sub, u64::from(sub))),
        }
    }
    values.sort_by(|a, b| {
        (a.product, a.metric_id, a.server).cmp(&(b.product, b.metric_id, b.server))
    });
    SnapshotUsage {
        taken_at: topo.taken_at,
        values,
        unresolved,
    }
}

fn with_override(base: Rate, ov: Option<u32>) -> Rate {
    match ov {
        Some(v) => Rate {
            pvu_per_core: v,
            basis: RateBasis::Override {
                replaced: Box::new(base),
            },
        },
        None => base,
    }
}

/// Aggregate snapshots into days. A snapshot belongs to the day of `taken_at` at the given UTC
/// offset (ILMT aggregates at midnight server time, §12.1). Per day: each server's value is the
/// maximum over that day's snapshots (on a tie, the earliest snapshot's explanation is kept); a
/// product's value is the sum over its servers (RVU: the tiers of the summed cores).
pub fn aggregate_days(
    table: &PvuTable,
    snapshots: &[Snapshot],
    offset: FixedOffset,
) -> Vec<DayUsage> {
    let mut order: Vec<&Snapshot> = snapshots.iter().collect();
    order.sort_by_key(|s| s.taken_at);
    type DayKey = (ServerKey, ProductId, MetricId);
    let mut days: HashMap<NaiveDate, (FxMap<DayKey, ServerDay>, HashSet<Unresolved>)> =
        HashMap::new();
    for snap in order {
        let date = snap.taken_at.with_timezone(&offset).date_naive();
        let usage = compute_snapshot(table, snap);
        let (servers, unres) = days.entry(date).or_default();
        for v in usage.values {
            let key = (v.server, v.product, v.metric_id);
            match servers.get(&key) {
                Some(old) if old.quantity >= v.quantity && old.cores >= v.cores => {}
                Some(old) if old.quantity > v.quantity => {}
                _ => {
                    servers.insert(key, v);
                }
            }
        }
        unres.extend(usage.unresolved);
    }
    let mut out: Vec<DayUsage> = days
        .into_iter()
        .map(|(date, (servers, unres))| {
            let mut products: FxMap<(ProductId, MetricId), ProductDay> = FxMap::default();
            for (_, v) in servers {
                let p = products
                    .entry((v.product, v.metric_id))
                    .or_insert_with(|| ProductDay {
                        product: v.product,
                        metric_id: v.metric_id,
                        cores: 0,
                        quantity: Quantity::default(),
                        servers: Vec::new(),
                        unresolved: Vec::new(),
                    });
                p.cores = p.cores.saturating_add(u64::from(v.cores));
                p.quantity.hundredths = p
                    .quantity
                    .hundredths
                    .saturating_add(v.quantity.saturating_mul(100));
                p.servers.push(v);
            }
            let mut unres: Vec<Unresolved> = unres.into_iter().collect();
            unres.sort_by(|a, b| {
                (a.product, a.computer, &a.reason).cmp(&(b.product, b.computer, &b.reason))
            });
            for u in unres {
                let ids: &[MetricId] = match u.metric {
                    Metric::Pvu => &[MetricId::PvuFullCap, MetricId::PvuSubCap],
                    Metric::RvuMapc => &[MetricId::RvuFullCap, MetricId::RvuSubCap],
                    Metric::Vpc => &[MetricId::VirtualProcessorCore],
                };
                for id in ids {
                    products
                        .entry((u.product, *id))
                        .or_insert_with(|| ProductDay {
                            product: u.product,
                            metric_id: *id,
                            cores: 0,
                            quantity: Quantity::default(),
                            servers: Vec::new(),
                            unresolved: Vec::new(),
                        })
                        .unresolved
                        .push(u.clone());
                }
            }
            let mut products: Vec<ProductDay> = products.into_values().collect();
            for p in &mut products {
                if p.metric_id.metric() == Metric::RvuMapc {
                    p.quantity = rvu_from_cores(p.cores);
                }
                p.servers.sort_by_key(|s| s.server);
            }
            products.sort_by_key(|p| (p.product, p.metric_id));
            DayUsage { date, products }
        })
        .collect();
    out.sort_by_key(|d| d.date);
    out
}
