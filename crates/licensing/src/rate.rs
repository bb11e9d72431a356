//! Choosing the PVU rate per core of one server, with the reason.
//!
//! Order of the rules (each cites `shared/reference/ilmt/counting-rules.md`):
//! 1. an operator override ("Changed PVU Per Core", `custom_pvu_per_core`) wins — §3 item 6;
//! 2. a VM on an eligible public cloud: 70 per vCPU, whatever the provider — §3 item 4, §7;
//! 3. an IBM POWER core running Linux: 70, whatever the model — §3 item 2;
//! 4. a processor row: POWER by brand + server model (§3 item 2); x86 by vendor + brand +
//!    model-number range + the server model's **maximum** sockets (§3 item 3, §3.1); the
//!    populated sockets are used only when the maximum is unknown, and the basis says which;
//! 5. otherwise ILMT's default, **120**, with the reason (§3 item 5, ILMT 9.2.11+).
//!
//! When several rows match, the most specific wins (a model-number range over `All existing`;
//! a stated socket tier over none; among `at most N` tiers the smallest N that fits). If rows of
//! different rates still tie, the answer is the 120 default with reason "ambiguous". ServiceNow's
//! "most expensive mapping" fallback (§3.1) is **not** used: the doc cites it only as a model for
//! the row shape.

use serde::{Deserialize, Serialize};

use crate::cloud::CloudProvider;
use crate::processor::{identify, CpuVendor, ProcessorId};
use crate::pvu_table::{CoreCondition, PvuRow, PvuTable, RowKind, SocketClass};

/// ILMT's rate when it cannot identify one (counting-rules.md §3 item 5, §6).
pub const DEFAULT_PVU_PER_CORE: u32 = 120;
/// The public-cloud rate per vCPU (counting-rules.md §3 item 4, §7).
pub const PUBLIC_CLOUD_PVU_PER_VCPU: u32 = 70;
/// Any POWER core running Linux (counting-rules.md §3 item 2; `pvu_table.csv` first row).
pub const LINUX_ON_POWER_PVU_PER_CORE: u32 = 70;

/// Which socket count a lookup used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketBasis {
    /// The server model's maximum (socket slots, empty ones included), as IBM defines the tier.
    Maximum,
    /// Populated sockets, used because the maximum is unknown (may understate the tier).
    Populated,
}

/// What a rate lookup knows about the physical server (or the VM, for a cloud VM).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFacts {
    /// Processor vendor string (`GenuineIntel`, `AuthenticAMD`, `IBM`, …).
    pub processor_vendor: Option<String>,
    /// Processor brand string (`Intel(R) Xeon(R) CPU E5540 @ 2.53GHz`, `POWER7 (architected)`).
    pub processor_brand: Option<String>,
    /// Server model (needed for POWER rows: `Power 750`, `E980`, `S924`).
    pub server_model: Option<String>,
    /// Socket slots of the server model, empty ones included.
    pub max_sockets: Option<u32>,
    /// Populated sockets.
    pub populated_sockets: Option<u32>,
    /// Activated physical cores (used to derive cores per chip for core-class rows).
    pub physical_cores: Option<u32>,
    /// Whether the OS on the cores is Linux (the POWER Linux rule).
    pub os_is_linux: bool,
}

/// Why the default applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum DefaultReason {
    /// Vendor or brand family could not be read from the processor strings.
    ProcessorNotIdentified {
        /// What was read.
        processor: String,
    },
    /// The table has no row for this processor (e.g. Xeon E5 v2–v4, Xeon Scalable, EPYC: not
    /// transcribed, counting-rules.md §3.1).
    NoTableRow {
        /// The identified processor.
        processor: String,
        /// Rows that matched all but an unknown fact (e.g. sockets unknown), if any.
        blocked_by: Vec<String>,
    },
    /// Several rows of different rates match equally well.
    AmbiguousRows {
        /// The identified processor.
        processor: String,
        /// Labels of the tied rows.
        rows: Vec<String>,
    },
    /// A VM with no (fresh) VM-manager data: ILMT's `TLM_VM` default counting (§6).
    NoVmManagerData,
}

/// Why a rate is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum RateBasis {
    /// A processor row of the table.
    TableRow {
        /// Table version.
        table_version: String,
        /// Row label.
        row: String,
        /// Row source cell (x86 layout), if any.
        source: Option<String>,
        /// The identified processor.
        processor: String,
        /// Socket count used and which kind, when the row's tier needed one.
        sockets: Option<(u32, SocketBasis)>,
        /// Caveats (socket tier unstated, core class not checked, …).
        notes: Vec<String>,
    },
    /// IBM POWER running Linux (counting-rules.md §3 item 2).
    LinuxOnPower {
        /// Table version and row label when the table has the row; `None` = built-in rule.
        row: Option<String>,
        /// The identified processor.
        processor: String,
    },
    /// A VM on an eligible public cloud (counting-rules.md §3 item 4, §7).
    PublicCloud {
        /// Provider name.
        provider: String,
        /// The table row used, if the table has one for this provider or for any cloud.
        row: Option<String>,
    },
    /// An operator override ("Changed PVU Per Core", §3 item 6).
    Override {
        /// What the rules would have given.
        replaced: Box<Rate>,
    },
    /// ILMT's 120 default (§3 item 5).
    Default(DefaultReason),
}

/// A PVU rate per core and its basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rate {
    /// PVUs per core (per vCPU on a public cloud).
    pub pvu_per_core: u32,
    /// Why.
    pub basis: RateBasis,
}

impl Rate {
    /// The 120 default with a reason.
    pub fn default_with(reason: DefaultReason) -> Rate {
        Rate {
            pvu_per_core: DEFAULT_PVU_PER_CORE,
            basis: RateBasis::Default(reason),
        }
    }

    /// Whether the operator changed the rate ("Changed PVU Per Core" = Yes).
    pub fn is_override(&self) -> bool {
        matches!(self.basis, RateBasis::Override { .. })
    }
}

/// The rate of a public-cloud VM (counting-rules.md §3 item 4): 70 per vCPU; the table's
/// per-vCPU row is cited when it has one (the provider's own row first, e.g. ILMT's SoftLayer
/// row for IBM clouds, then the `any` row).
pub fn cloud_rate(table: &PvuTable, provider: &CloudProvider) -> Rate {
    let cloud_rows: Vec<&PvuRow> = table
        .rows
        .iter()
        .filter(|r| r.kind == RowKind::PublicCloud)
        .collect();
    let ibm = matches!(
        provider,
        CloudProvider::IbmCloud | CloudProvider::IbmSoftLayer
    );
    let own = cloud_rows
        .iter()
        .find(|r| ibm && r.vendor.eq_ignore_ascii_case("IBM"));
    let any = cloud_rows
        .iter()
        .find(|r| r.vendor.eq_ignore_ascii_case("any"));
    match own.or(any) {
        Some(r) => Rate {
            pvu_per_core: r.pvu_per_core,
            basis: RateBasis::PublicCloud {
                provider: provider.name(),
                row: Some(format!("{}: {}", table.version, r.label())),
            },
        },
        None => Rate {
            pvu_per_core: PUBLIC_CLOUD_PVU_PER_VCPU,
            basis: RateBasis::PublicCloud {
                provider: provider.name(),
                row: None,
            },
        },
    }
}

/// The rate of a server. `cloud` is the eligible provider when the server is a public-cloud VM
/// (the caller decides eligibility with [`CloudProvider::byosl_eligible`]); `override_pvu` is
/// the operator's "Changed PVU Per Core".
pub fn rate(
    table: &PvuTable,
    facts: &ServerFacts,
    cloud: Option<&CloudProvider>,
    override_pvu: Option<u32>,
) -> Rate {
    let base = rate_without_override(table, facts, cloud);
    match override_pvu {
        Some(v) => Rate {
            pvu_per_core: v,
            basis: RateBasis::Override {
                replaced: Box::new(base),
            },
        },
        None => base,
    }
}

fn rate_without_override(
    table: &PvuTable,
    facts: &ServerFacts,
    cloud: Option<&CloudProvider>,
) -> Rate {
    if let Some(p) = cloud {
        return cloud_rate(table, p);
    }
    let p = identify(
        facts.processor_vendor.as_deref(),
        facts.processor_brand.as_deref(),
    );
    let processor = p.describe();
    if !p.is_identified() {
        return Rate::default_with(DefaultReason::ProcessorNotIdentified { processor });
    }
    // §3 item 2: any POWER core running Linux is 70.
    if p.vendor == CpuVendor::IbmPower && facts.os_is_linux {
        let row = table.rows.iter().find(|r| r.kind == RowKind::LinuxOnPower);
        return Rate {
            pvu_per_core: row
                .map(|r| r.pvu_per_core)
                .unwrap_or(LINUX_ON_POWER_PVU_PER_CORE),
            basis: RateBasis::LinuxOnPower {
                row: row.map(|r| format!("{}: {}", table.version, r.label())),
                processor,
            },
        };
    }
    lookup(table, facts, &p, processor)
}

struct Candidate<'a> {
    row: &'a PvuRow,
    score: u32,
    notes: Vec<String>,
}

fn lookup(table: &PvuTable, facts: &ServerFacts, p: &ProcessorId, processor: String) -> Rate {
    let (sockets, socket_basis) = match (facts.max_sockets, facts.populated_sockets) {
        (Some(m), _) => (Some(m), Some(SocketBasis::Maximum)),
        (None, Some(n)) => (Some(n), Some(SocketBasis::Populated)),
        (None, None) => (None, None),
    };
    let cores_per_chip = match (facts.physical_cores, facts.populated_sockets) {
        (Some(c), Some(s)) if s > 0 && c % s == 0 => Some(c / s),
        _ => p.cores_per_chip_hint,
    };
    let family = p.family.clone().unwrap_or_default();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut blocked: Vec<String> = Vec::new();
    for row in table.rows.iter().filter(|r| r.kind == RowKind::Processor) {
        if !row.vendor.eq_ignore_ascii_case(p.vendor.table_name()) {
            continue;
        }
        let Some(families) = row.brand_families() else {
            continue;
        };
        if !families.iter().any(|f| f.eq_ignore_ascii_case(&family)) {
            continue;
        }
        if !row.model_matches(p) {
            continue;
        }
        let mut notes = Vec::new();
        match row.core_condition() {
            CoreCondition::Any => {}
            CoreCondition::AtLeastTwo => match cores_per_chip {
                Some(c) if c < 2 => continue,
                Some(_) => {}
                None => notes.push("multi-core not checked: cores per chip unknown".into()),
            },
            CoreCondition::OneOf(list) => match cores_per_chip {
                Some(c) if list.contains(&c) => {}
                Some(_) => continue,
                None => {
                    blocked.push(format!("{} (cores per chip unknown)", row.label()));
                    continue;
                }
            },
        }
        // Server model (POWER rows name models; x86 rows have no model cell).
        match row.server_model_matches(facts.server_model.as_deref()) {
            Some(true) => {}
            Some(false) => continue,
            None => {
                blocked.push(format!("{} (server model unknown)", row.label()));
                continue;
            }
        }
        let mut score = 0;
        if row.model_numbers != crate::pvu_table::ModelNumbers::All {
            score += 4;
        }
        if !row.server_models.is_empty() && !row.server_models.eq_ignore_ascii_case("all") {
            score += 4;
        }
        // The socket tier: POWER rows are selected by server model, and their socket cell
        // describes that model class, so it is not checked against the facts.
        let power = p.vendor == CpuVendor::IbmPower;
        match row.sockets {
            SocketClass::AtMost(n) if !power => match sockets {
                Some(s) if s <= n => score += 2,
                Some(_) => continue,
                None => {
                    blocked.push(format!("{} (sockets unknown)", row.label()));
                    continue;
                }
            },
            SocketClass::MoreThan(n) if !power => match sockets {
                Some(s) if s > n => score += 2,
                Some(_) => continue,
                None => {
                    blocked.push(format!("{} (sockets unknown)", row.label()));
                    continue;
                }
            },
            SocketClass::Unstated => notes.push("the row states no socket tier".into()),
            SocketClass::PerVcpu => continue,
            _ => {}
        }
        candidates.push(Candidate { row, score, notes });
    }
    let Some(best) = candidates.iter().map(|c| c.score).max() else {
        return Rate::default_with(DefaultReason::NoTableRow {
            processor,
            blocked_by: blocked,
        });
    };
    let mut top: Vec<&Candidate> = candidates.iter().filter(|c| c.score == best).collect();
    // Among `at most N` tiers, the smallest N that fits (Nehalem EX: max 2 → 70, max 4 → 100).
    let smallest = top
        .iter()
        .filter_map(|c| match c.row.sockets {
            SocketClass::AtMost(n) => Some(n),
            _ => None,
        })
        .min();
    if let Some(n) = smallest {
        top.retain(|c| match c.row.sockets {
            SocketClass::AtMost(m) => m == n,
            _ => true,
        });
    }
    let Some(first) = top.first().copied() else {
        return Rate::default_with(DefaultReason::NoTableRow {
            processor,
            blocked_by: blocked,
        });
    };
    if top
        .iter()
        .any(|c| c.row.pvu_per_core != first.row.pvu_per_core)
    {
        return Rate::default_with(DefaultReason::AmbiguousRows {
            processor,
            rows: top.iter().map(|c| c.row.label()).collect(),
        });
    }
    let used_sockets = match first.row.sockets {
        SocketClass::AtMost(_) | SocketClass::MoreThan(_) if p.vendor != CpuVendor::IbmPower => {
            sockets.zip(socket_basis)
        }
        _ => None,
    };
    let mut notes = first.notes.clone();
    if used_sockets.is_some_and(|(_, b)| b == SocketBasis::Populated) {
        notes.push(
            "maximum sockets of the server model unknown: populated sockets used".to_string(),
        );
    }
    Rate {
        pvu_per_core: first.row.pvu_per_core,
        basis: RateBasis::TableRow {
            table_version: table.version.clone(),
            row: first.row.label(),
            source: (!first.row.source.is_empty()).then(|| first.row.source.clone()),
            processor,
            sockets: used_sockets,
            notes,
        },
    }
}
