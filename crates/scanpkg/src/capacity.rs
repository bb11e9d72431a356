//! Capacity evidence: `/proc/cpuinfo`, `lscpu -J` and `dmidecode`, and the rules that
//! combine them into one [`Capacity`]. The rules are documented in `docs/scan-package.md`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::text::{non_empty, squash_ws};

/// The capacity of an endpoint as derived from its evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// Processor vendor: `GenuineIntel`, `AuthenticAMD`, `IBM`, `ARM`, … when known.
    pub vendor: Option<String>,
    /// Brand string (`model name`), whitespace squashed.
    pub brand: Option<String>,
    /// Model, e.g. `Xeon E5504`, `Core i3 M 350`, `Cortex-A53`; the brand when no model can
    /// be derived from it.
    pub model: Option<String>,
    /// Populated processor sockets (≥ 1).
    pub sockets: u32,
    /// Physical (activated) cores in total, ≥ sockets; `None` when no evidence says how many
    /// (e.g. an old DMI table without `Core Count` and a brand that names no count).
    pub cores: Option<u32>,
    /// Logical CPUs in total, ≥ cores; `None` when no evidence says how many.
    pub threads: Option<u32>,
    /// Whether the endpoint is a virtual machine.
    pub is_virtual: bool,
    /// Hypervisor name (`KVM`, `VMware`, `Xen`, `Microsoft Hyper-V`, …) when virtual and known.
    pub hypervisor: Option<String>,
    /// The machine's hardware identity (SMBIOS); every field `None` when the evidence does
    /// not say. See [`HardwareIdentity`].
    #[serde(flatten)]
    pub identity: HardwareIdentity,
}

/// What identifies the hardware an endpoint runs on, for licence counting: the SMBIOS
/// system UUID (matched against a hypervisor's guest UUIDs), the system and BIOS makers
/// (public clouds are recognised from them), the serial number and the board's socket
/// count (the server's maximum sockets). Values are as the evidence prints them, except
/// that BIOS placeholders (`Not Specified`, `To Be Filled By O.E.M.`, an all-zero UUID, …)
/// are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HardwareIdentity {
    /// SMBIOS system UUID as printed (dmidecode's System Information `UUID`, else
    /// `/sys/class/dmi/id/product_uuid`); compare with [`crate::vmman::normalize_uuid`].
    pub system_uuid: Option<String>,
    /// System Information manufacturer.
    pub system_manufacturer: Option<String>,
    /// System Information product name.
    pub system_product: Option<String>,
    /// System Information serial number.
    pub system_serial: Option<String>,
    /// BIOS Information vendor.
    pub bios_vendor: Option<String>,
    /// BIOS Information version.
    pub bios_version: Option<String>,
    /// Chassis Information asset tag.
    pub chassis_asset_tag: Option<String>,
    /// Processor sockets of the board, empty ones included (dmidecode's processor
    /// records of any status): the server's maximum sockets.
    pub socket_slots: Option<u32>,
}

/// What one evidence file says about the processors. `None` means "this file does not say".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuEvidence {
    /// Processor vendor.
    pub vendor: Option<String>,
    /// Brand string.
    pub brand: Option<String>,
    /// Model derived from architecture-specific fields (ARM part numbers), if any.
    pub model: Option<String>,
    /// Sockets.
    pub sockets: Option<u32>,
    /// Total physical cores.
    pub cores: Option<u32>,
    /// Total logical CPUs.
    pub threads: Option<u32>,
    /// `Some(true)` when the file shows a hypervisor, `Some(false)` when it shows bare metal.
    pub is_virtual: Option<bool>,
    /// Hypervisor name, when the file names one.
    pub hypervisor: Option<String>,
}

// ---------------------------------------------------------------------------------------
// /proc/cpuinfo

/// Parse raw `/proc/cpuinfo` (x86, ARM, PowerPC, s390x layouts).
///
/// * threads: the sum over sockets of `siblings` when every socket reports it, else the
///   number of `processor` entries (s390x: `# processors`);
/// * sockets: distinct `physical id`s; without them, 1 on non-x86 (one SoC / one
///   partition) and one per logical CPU on x86 (each logical CPU is its own package, as
///   hypervisors of that era present vCPUs);
/// * cores: the sum over sockets of `cpu cores`, else distinct (`physical id`, `core id`)
///   pairs, else one per logical CPU;
/// * virtual: the `hypervisor` CPU flag (name unknown from cpuinfo alone).
pub fn parse_cpuinfo(text: &str) -> CpuEvidence {
    let mut ev = CpuEvidence::default();
    let mut processors = 0u32;
    let mut s390_processors: Option<u32> = None;
    // physical id -> (cpu cores, siblings, set of core ids, logical count)
    let mut sockets: BTreeMap<String, SocketInfo> = BTreeMap::new();
    let mut cur_phys: Option<String> = None;
    let mut cur_core: Option<String> = None;
    let mut cur_cores: Option<u32> = None;
    let mut cur_siblings: Option<u32> = None;
    let mut in_proc = false;
    let mut saw_x86 = false;
    let mut ppc_cpu: Option<String> = None;
    let mut arm_implementer: Option<String> = None;
    let mut arm_part: Option<String> = None;
    let mut arm_legacy_name: Option<String> = None;

    let mut flush = |in_proc: &mut bool,
                     phys: &mut Option<String>,
                     core: &mut Option<String>,
                     cores: &mut Option<u32>,
                     sib: &mut Option<u32>| {
        if *in_proc {
            if let Some(p) = phys.take() {
                let s = sockets.entry(p).or_default();
                s.logical += 1;
                if let Some(c) = core.take() {
                    s.core_ids.insert(c);
                }
                if s.cpu_cores.is_none() {
                    s.cpu_cores = *cores;
                }
                if s.siblings.is_none() {
                    s.siblings = *sib;
                }
            }
        }
        *in_proc = false;
        *phys = None;
        *core = None;
        *cores = None;
        *sib = None;
    };

    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        match key {
            "processor" => {
                if value.parse::<u32>().is_ok() {
                    flush(
                        &mut in_proc,
                        &mut cur_phys,
                        &mut cur_core,
                        &mut cur_cores,
                        &mut cur_siblings,
                    );
                    processors = processors.saturating_add(1);
                    in_proc = true;
                } else if ev.brand.is_none() {
                    // Old ARM kernels: "Processor : ARMv7 Processor rev 4 (v7l)".
                    arm_legacy_name = non_empty(value);
                }
            }
            "Processor" if arm_legacy_name.is_none() => {
                arm_legacy_name = non_empty(value);
            }
            "# processors" => s390_processors = value.parse().ok(),
            "vendor_id" | "vendor" => {
                saw_x86 |= value == "GenuineIntel" || value == "AuthenticAMD";
                if ev.vendor.is_none() {
                    ev.vendor = non_empty(value).map(|v| normalize_vendor(&v));
                }
            }
            "model name" | "cpu model" if ev.brand.is_none() => {
                ev.brand = non_empty(&squash_ws(value));
            }
            "cpu" if ppc_cpu.is_none() => {
                ppc_cpu = non_empty(value);
            }
            "CPU implementer" if arm_implementer.is_none() => {
                arm_implementer = non_empty(value);
            }
            "CPU part" if arm_part.is_none() => {
                arm_part = non_empty(value);
            }
            "physical id" => cur_phys = non_empty(value),
            "core id" => cur_core = non_empty(value),
            "cpu cores" => cur_cores = value.parse().ok(),
            "siblings" => cur_siblings = value.parse().ok(),
            "flags" | "Features" if value.split_whitespace().any(|f| f == "hypervisor") => {
                ev.is_virtual = Some(true);
            }
            _ => {}
        }
    }
    flush(
        &mut in_proc,
        &mut cur_phys,
        &mut cur_core,
        &mut cur_cores,
        &mut cur_siblings,
    );

    // Architecture-specific vendor/brand.
    if let Some(imp) = &arm_implementer {
        if ev.vendor.is_none() {
            ev.vendor = Some(arm_implementer_name(imp).to_string());
        }
        if let Some(part) = &arm_part {
            ev.model = arm_part_name(imp, part).map(str::to_string);
        }
        if ev.brand.is_none() {
            ev.brand = arm_legacy_name.clone();
        }
    } else if let Some(cpu) = &ppc_cpu {
        if ev.vendor.is_none() && ev.brand.is_none() {
            ev.vendor = Some("IBM".to_string());
            ev.brand = Some(squash_ws(cpu));
        }
    }
    if ev.brand.is_none() {
        ev.brand = arm_legacy_name;
    }

    let logical = if processors > 0 {
        processors
    } else {
        s390_processors.unwrap_or(0)
    };
    if logical == 0 {
        return ev;
    }
    if sockets.is_empty() {
        let n_sockets = if saw_x86 { logical } else { 1 };
        ev.sockets = Some(n_sockets);
        ev.cores = Some(logical);
        ev.threads = Some(logical);
    } else {
        let n_sockets = sockets.len() as u32;
        let mut cores = 0u32;
        let mut threads = 0u32;
        let mut all_siblings = true;
        for s in sockets.values() {
            let c = s
                .cpu_cores
                .filter(|&c| c > 0)
                .or_else(|| (!s.core_ids.is_empty()).then_some(s.core_ids.len() as u32))
                .unwrap_or(s.logical);
            cores = cores.saturating_add(c);
            match s.siblings.filter(|&t| t > 0) {
                Some(t) => threads = threads.saturating_add(t.max(s.logical)),
                None => all_siblings = false,
            }
        }
        // Logical CPUs listed without a physical id still count.
        let unplaced = logical.saturating_sub(sockets.values().map(|s| s.logical).sum());
        if !all_siblings {
            threads = logical;
        } else {
            threads = threads.saturating_add(unplaced);
        }
        ev.sockets = Some(n_sockets);
        ev.cores = Some(cores.max(1));
        ev.threads = Some(threads.max(cores).max(1));
    }
    ev
}

#[derive(Default)]
struct SocketInfo {
    cpu_cores: Option<u32>,
    siblings: Option<u32>,
    core_ids: BTreeSet<String>,
    logical: u32,
}

fn arm_implementer_name(code: &str) -> &'static str {
    match code.to_ascii_lowercase().as_str() {
        "0x41" => "ARM",
        "0x42" => "Broadcom",
        "0x43" => "Cavium",
        "0x46" => "Fujitsu",
        "0x48" => "HiSilicon",
        "0x4e" => "NVIDIA",
        "0x50" => "APM",
        "0x51" => "Qualcomm",
        "0x53" => "Samsung",
        "0x56" => "Marvell",
        "0x61" => "Apple",
        "0x69" => "Intel",
        "0xc0" => "Ampere",
        _ => "ARM",
    }
}

fn arm_part_name(implementer: &str, part: &str) -> Option<&'static str> {
    if !implementer.eq_ignore_ascii_case("0x41") {
        return None;
    }
    Some(match part.to_ascii_lowercase().as_str() {
        "0xb76" => "ARM1176",
        "0xc07" => "Cortex-A7",
        "0xc08" => "Cortex-A8",
        "0xc09" => "Cortex-A9",
        "0xc0f" => "Cortex-A15",
        "0xd03" => "Cortex-A53",
        "0xd04" => "Cortex-A35",
        "0xd05" => "Cortex-A55",
        "0xd07" => "Cortex-A57",
        "0xd08" => "Cortex-A72",
        "0xd09" => "Cortex-A73",
        "0xd0a" => "Cortex-A75",
        "0xd0b" => "Cortex-A76",
        "0xd0c" => "Neoverse-N1",
        "0xd0d" => "Cortex-A77",
        "0xd40" => "Neoverse-V1",
        "0xd41" => "Cortex-A78",
        "0xd49" => "Neoverse-N2",
        "0xd4f" => "Neoverse-V2",
        _ => return None,
    })
}

/// Map vendor spellings from the three sources onto the cpuinfo `vendor_id` form.
pub fn normalize_vendor(v: &str) -> String {
    let t = v.trim();
    let l = t.to_ascii_lowercase();
    if l == "genuineintel" || l == "intel" || l.starts_with("intel(r)") || l == "intel corporation"
    {
        "GenuineIntel".into()
    } else if l == "authenticamd" || l == "amd" || l.starts_with("advanced micro devices") {
        "AuthenticAMD".into()
    } else if l.starts_with("ibm") {
        "IBM".into()
    } else {
        t.to_string()
    }
}

/// Derive a model from a brand string: drop vendor words, `(R)`/`(TM)`, `CPU`, `Processor`,
/// `NN-Core` and the `@ frequency` tail. `Intel(R) Xeon(R) CPU E5504 @ 2.00GHz` → `Xeon
/// E5504`. Returns `None` when nothing more specific than a family name remains.
pub fn model_from_brand(brand: &str) -> Option<String> {
    let head = brand.split('@').next().unwrap_or(brand);
    let cleaned = head
        .replace("(R)", " ")
        .replace("(r)", " ")
        .replace("(TM)", " ")
        .replace("(tm)", " ");
    let words: Vec<&str> = cleaned
        .split_whitespace()
        .filter(|w| {
            let l = w.to_ascii_lowercase();
            !(l == "intel"
                || l == "amd"
                || l == "cpu"
                || l == "processor"
                || l.ends_with("-core")
                || l.ends_with("ghz")
                || l.ends_with("mhz"))
        })
        .collect();
    let lower = brand.to_ascii_lowercase();
    let x86 = lower.contains("intel") || lower.contains("amd");
    if !x86 || words.len() < 2 {
        return None;
    }
    Some(words.join(" "))
}

// ---------------------------------------------------------------------------------------
// lscpu -J

/// Parse `lscpu -J` output (flat, or the nested `children` layout of newer util-linux).
///
/// Uses `CPU(s)`, `Socket(s)` (or `Cluster(s)`/`Book(s)` when sockets are `-`),
/// `Core(s) per socket` (or `per cluster`), `Thread(s) per core`, `Vendor ID`, `Model name`,
/// `Hypervisor vendor` and `Virtualization type` (not `Virtualization`, which is the host
/// CPU's VT-x/AMD-V capability).
pub fn parse_lscpu_json(text: &str) -> Result<CpuEvidence, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let list = v
        .get("lscpu")
        .and_then(|l| l.as_array())
        .ok_or_else(|| "no top-level `lscpu` array".to_string())?;
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    flatten_lscpu(list, &mut fields, 0);
    let get = |k: &str| fields.get(k).and_then(|s| non_empty(s));
    let num = |k: &str| {
        get(k)
            .and_then(|s| s.parse::<u32>().ok())
            .filter(|&n| n > 0)
    };

    let mut ev = CpuEvidence {
        vendor: get("Vendor ID").map(|v| normalize_vendor(&v)),
        brand: get("Model name").map(|b| squash_ws(&b)),
        ..CpuEvidence::default()
    };
    let threads = num("CPU(s)");
    let sockets = num("Socket(s)")
        .or_else(|| num("Cluster(s)"))
        .or_else(|| num("Book(s)"))
        .or_else(|| num("Drawer(s)"));
    let per_socket = num("Core(s) per socket").or_else(|| num("Core(s) per cluster"));
    let tpc = num("Thread(s) per core");
    ev.threads = threads;
    ev.sockets = sockets.or(threads.map(|_| 1));
    ev.cores = match (ev.sockets, per_socket) {
        (Some(s), Some(c)) => Some(s.saturating_mul(c)),
        _ => match (threads, tpc) {
            (Some(t), Some(p)) => Some((t / p).max(1)),
            (Some(t), None) => Some(t),
            _ => None,
        },
    };
    if let Some(hv) = get("Hypervisor vendor") {
        ev.is_virtual = Some(true);
        ev.hypervisor = normalize_hypervisor(&hv);
    } else if let Some(vt) = get("Virtualization type") {
        // "full", "para", "container", "none"
        ev.is_virtual = Some(vt != "none");
    }
    if ev.brand.is_none() && ev.vendor.is_none() && ev.threads.is_none() {
        return Err("no CPU fields found".into());
    }
    Ok(ev)
}

fn flatten_lscpu(list: &[serde_json::Value], out: &mut BTreeMap<String, String>, depth: u32) {
    if depth > 16 {
        return;
    }
    for entry in list {
        if let (Some(field), Some(data)) = (
            entry.get("field").and_then(|f| f.as_str()),
            entry.get("data"),
        ) {
            let key = field.trim().trim_end_matches(':').trim().to_string();
            let val = match data {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            out.entry(key).or_insert(val);
        }
        if let Some(children) = entry.get("children").and_then(|c| c.as_array()) {
            flatten_lscpu(children, out, depth + 1);
        }
    }
}

/// Canonical hypervisor names for the spellings seen in lscpu and DMI.
pub fn normalize_hypervisor(raw: &str) -> Option<String> {
    let l = raw.trim().to_ascii_lowercase();
    if l.is_empty() || l == "none" {
        return None;
    }
    let name = if l.contains("vmware") {
        "VMware"
    } else if l.contains("microsoft") || l.contains("hyper-v") {
        "Microsoft Hyper-V"
    } else if l.contains("xen") {
        "Xen"
    } else if l.contains("kvm") {
        "KVM"
    } else if l.contains("qemu") || l.contains("bochs") {
        "QEMU"
    } else if l.contains("virtualbox") || l.contains("innotek") || l.contains("oracle") {
        "VirtualBox"
    } else if l.contains("parallels") {
        "Parallels"
    } else if l.contains("powervm") || l.contains("phyp") {
        "IBM PowerVM"
    } else if l.contains("z/vm") || l.contains("zvm") {
        "IBM z/VM"
    } else if l.contains("bhyve") {
        "bhyve"
    } else if l.contains("acrn") {
        "ACRN"
    } else {
        return Some(raw.trim().to_string());
    };
    Some(name.to_string())
}

// ---------------------------------------------------------------------------------------
// dmidecode

/// What `dmidecode` says: system identity and populated processor sockets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmiEvidence {
    /// System Information manufacturer (`Vendor` in the dmidecode 2.0 layout).
    pub system_manufacturer: Option<String>,
    /// System Information product name (`Product` in the dmidecode 2.0 layout).
    pub system_product: Option<String>,
    /// System Information `UUID`, as printed; `None` when absent, a placeholder (`Not
    /// Settable`, `Not Present`, all zeros or all `F`) or not UUID-shaped.
    pub system_uuid: Option<String>,
    /// System Information serial number.
    pub system_serial: Option<String>,
    /// BIOS Information (type 0) vendor.
    pub bios_vendor: Option<String>,
    /// BIOS Information (type 0) version.
    pub bios_version: Option<String>,
    /// Chassis Information (type 3) asset tag (`No Asset Tag` is none).
    pub chassis_asset_tag: Option<String>,
    /// The processor facts: sockets = populated, not disabled sockets; cores and threads
    /// summed over them, `None` when any of them does not say (see [`parse_dmidecode`]).
    pub cpu: CpuEvidence,
    /// Processor (type 4) records of any status, empty sockets included: the board's
    /// socket count. `None` when the table lists no processor record.
    pub socket_slots: Option<u32>,
}

/// Parse raw `dmidecode` text, both the modern layout (`Handle 0x…, DMI type N, …` then a
/// title line) and the dmidecode 2.0 layout (`Handle 0x…` then `DMI type N, …`).
///
/// * System (type 1) manufacturer/product decide virtual vs physical and the hypervisor
///   (`VMware Virtual Platform`, `KVM`, `QEMU`, `Virtual Machine` by Microsoft, `HVM domU`
///   by Xen, `VirtualBox`, …);
/// * a processor (type 4) counts as a socket when its `Status` is `Populated` and not
///   `Disabled …` (so `Enabled`, `Idle`, `Other`, `Unknown` count, as in FusionInventory),
///   or, without a `Status` line, when its manufacturer is neither empty nor all zeros;
/// * cores per counted socket: `Core Enabled`, else `Core Count`, else the brand's
///   `Dual-Core`/`Quad-Core`/`NN-Core` (see [`cores_from_brand`]); when a socket says none
///   of these the total is unknown (`None`), never guessed;
/// * threads per counted socket: `Thread Enabled`, else `Thread Count` scaled by
///   `Core Enabled / Core Count` when cores are disabled, else unknown (`None`);
/// * every processor record, whatever its status, counts in [`DmiEvidence::socket_slots`].
pub fn parse_dmidecode(text: &str) -> DmiEvidence {
    let mut out = DmiEvidence::default();
    let mut records: Vec<(u32, BTreeMap<String, String>)> = Vec::new();
    let mut cur: Option<(Option<u32>, BTreeMap<String, String>)> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if line.starts_with("Handle ") {
            if let Some((Some(t), m)) = cur.take() {
                records.push((t, m));
            }
            cur = Some((dmi_type(trimmed), BTreeMap::new()));
            continue;
        }
        let Some((ty, map)) = cur.as_mut() else {
            continue;
        };
        if ty.is_none() {
            if let Some(t) = dmi_type(trimmed) {
                *ty = Some(t);
                continue;
            }
        }
        if let Some((k, v)) = trimmed.split_once(':') {
            let k = k.trim();
            if !k.is_empty() {
                map.entry(k.to_string())
                    .or_insert_with(|| v.trim().to_string());
            }
        }
    }
    if let Some((Some(t), m)) = cur.take() {
        records.push((t, m));
    }

    let field = |m: &BTreeMap<String, String>, keys: &[&str]| -> Option<String> {
        keys.iter()
            .find_map(|k| m.get(*k).and_then(|v| dmi_value(v)))
    };

    let mut sockets = 0u32;
    let mut slots = 0u32;
    // `Some(total)` while every counted socket's count is known; `None` once one is not.
    let mut cores: Option<u32> = Some(0);
    let mut threads: Option<u32> = Some(0);
    for (ty, m) in &records {
        match ty {
            0 if out.bios_vendor.is_none() && out.bios_version.is_none() => {
                out.bios_vendor = field(m, &["Vendor"]);
                out.bios_version = field(m, &["Version"]);
            }
            1 if out.system_manufacturer.is_none() && out.system_product.is_none() => {
                out.system_manufacturer = field(m, &["Manufacturer", "Vendor"]);
                out.system_product = field(m, &["Product Name", "Product"]);
                out.system_serial = field(m, &["Serial Number"]);
                out.system_uuid = field(m, &["UUID"]).and_then(|u| usable_uuid(&u));
            }
            3 if out.chassis_asset_tag.is_none() => {
                out.chassis_asset_tag = field(m, &["Asset Tag"]).filter(|t| {
                    !t.eq_ignore_ascii_case("No Asset Tag")
                        && !t.eq_ignore_ascii_case("Not Present")
                });
            }
            4 => {
                slots = slots.saturating_add(1);
                let manufacturer = field(m, &["Manufacturer", "Processor Manufacturer"]);
                let version = field(m, &["Version", "Processor Version"]);
                if !dmi_socket_active(m.get("Status").map(String::as_str), manufacturer.is_some()) {
                    continue;
                }
                sockets = sockets.saturating_add(1);
                let num = |k: &str| {
                    field(m, &[k])
                        .and_then(|s| s.parse::<u32>().ok())
                        .filter(|&n| n > 0)
                };
                let count = num("Core Count");
                let enabled = num("Core Enabled");
                let c = enabled
                    .or(count)
                    .or_else(|| version.as_deref().and_then(cores_from_brand));
                let t = match (num("Thread Enabled"), num("Thread Count"), enabled, count) {
                    (Some(t), ..) => Some(t),
                    // Some cores disabled: keep the threads per core, not the package's total.
                    (None, Some(t), Some(e), Some(n)) if e < n => {
                        Some((u64::from(t) * u64::from(e) / u64::from(n)) as u32)
                    }
                    (None, t, ..) => t,
                }
                // A socket never has fewer threads than cores.
                .map(|t| c.map_or(t, |c| t.max(c)));
                cores = cores.zip(c).map(|(a, b)| a.saturating_add(b));
                threads = threads.zip(t).map(|(a, b)| a.saturating_add(b));
                if out.cpu.vendor.is_none() {
                    out.cpu.vendor = manufacturer.map(|v| normalize_vendor(&v));
                }
                if out.cpu.brand.is_none() {
                    out.cpu.brand = version.map(|v| squash_ws(&v));
                }
            }
            _ => {}
        }
    }
    out.socket_slots = (slots > 0).then_some(slots);
    if sockets > 0 {
        out.cpu.sockets = Some(sockets);
        out.cpu.cores = cores;
        out.cpu.threads = threads;
    }
    if out.system_manufacturer.is_some() || out.system_product.is_some() {
        let hv = dmi_hypervisor(
            out.system_manufacturer.as_deref().unwrap_or(""),
            out.system_product.as_deref().unwrap_or(""),
        );
        out.cpu.is_virtual = Some(hv.is_some());
        out.cpu.hypervisor = hv;
    }
    out
}

/// A UUID worth keeping: UUID-shaped and not a firmware placeholder; kept as printed.
pub fn usable_uuid(raw: &str) -> Option<String> {
    let t = raw.trim();
    crate::vmman::normalize_uuid(t)
        .filter(|n| !crate::vmman::is_placeholder_uuid(n))
        .map(|_| t.to_string())
}

/// Whether a processor record is an active socket: FusionInventory's rule, skip only
/// `Unpopulated` and `Disabled By User` / `Disabled By BIOS` (`Idle` is a working processor
/// the OS has not woken yet, common on Dell and HP servers).
fn dmi_socket_active(status: Option<&str>, has_manufacturer: bool) -> bool {
    match status {
        Some(st) => {
            let l = st.to_ascii_lowercase();
            l.starts_with("populated") && !l.contains("disabled")
        }
        None => has_manufacturer,
    }
}

/// Cores per chip named by a brand string: `Dual-Core AMD Opteron(tm) Processor 2218` → 2,
/// `Intel(R) Core(TM)2 Quad CPU` → 4, `AMD EPYC 7763 64-Core Processor` → 64. `None` when
/// the brand names no core count.
pub fn cores_from_brand(brand: &str) -> Option<u32> {
    let words: Vec<String> = brand
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_lowercase())
        .collect();
    let by_name = |w: &str| -> Option<u32> {
        Some(match w {
            "single" => 1,
            "dual" => 2,
            "triple" => 3,
            "quad" => 4,
            "six" | "hexa" | "hex" => 6,
            "eight" | "octa" | "octo" => 8,
            "twelve" => 12,
            "sixteen" => 16,
            _ => w.parse().ok().filter(|&n: &u32| n > 0 && n <= 4096)?,
        })
    };
    for (i, w) in words.iter().enumerate() {
        if let Some(head) = w.strip_suffix("-core").or_else(|| w.strip_suffix("core")) {
            if let Some(n) = by_name(head.trim_end_matches('-')) {
                return Some(n);
            }
        }
        // "Core(TM)2 Quad", "Core2 Duo": the Core 2 family's own words.
        if w == "duo" && i > 0 {
            return Some(2);
        }
        if w == "quad" {
            return Some(4);
        }
        // "Dual Core", "Quad Core": a named count (not a digit, as in "Core(TM) 2").
        if w == "core" && i > 0 && !words[i - 1].starts_with(|c: char| c.is_ascii_digit()) {
            if let Some(n) = by_name(&words[i - 1]) {
                return Some(n);
            }
        }
    }
    None
}

fn dmi_type(line: &str) -> Option<u32> {
    let idx = line.find("DMI type ")?;
    let rest = line.get(idx + "DMI type ".len()..)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// Placeholder values used by BIOS vendors mean "no value".
fn dmi_value(v: &str) -> Option<String> {
    let t = squash_ws(v);
    let l = t.to_ascii_lowercase();
    if t.is_empty()
        || t.chars().all(|c| c == '0')
        || matches!(
            l.as_str(),
            "not specified"
                | "none"
                | "not provided"
                | "unknown"
                | "to be filled by o.e.m."
                | "default string"
                | "n/a"
                | "other"
        )
    {
        None
    } else {
        Some(t)
    }
}

/// Hypervisor named by DMI System Information, or `None` for a physical machine.
pub fn dmi_hypervisor(manufacturer: &str, product: &str) -> Option<String> {
    let m = manufacturer.to_ascii_lowercase();
    let p = product.to_ascii_lowercase();
    let name = if m.contains("vmware") || p.starts_with("vmware") {
        "VMware"
    } else if m.contains("microsoft") && p.contains("virtual machine") {
        "Microsoft Hyper-V"
    } else if m.contains("xen") || p.contains("hvm domu") {
        "Xen"
    } else if p.contains("kvm")
        || m.contains("red hat") && p.contains("kvm")
        || m.contains("openstack")
        || p.contains("openstack")
        || m.contains("google") && p.contains("compute engine")
        || m.contains("amazon ec2")
        || m.contains("digitalocean")
        || m.contains("hetzner") && p.contains("vserver")
    {
        "KVM"
    } else if m.contains("qemu") || m.contains("bochs") {
        "QEMU"
    } else if m.contains("innotek") || p.contains("virtualbox") {
        "VirtualBox"
    } else if m.contains("parallels") || p.contains("parallels") {
        "Parallels"
    } else if m.contains("nutanix") && p.contains("ahv") {
        "KVM"
    } else if p.contains("bhyve") || m.contains("bhyve") {
        "bhyve"
    } else {
        return None;
    };
    Some(name.to_string())
}

// ---------------------------------------------------------------------------------------
// Combination

/// Which evidence files were present; used only to write notes.
#[derive(Debug, Default, Clone, Copy)]
pub struct Evidence<'a> {
    /// Parsed `cpuinfo`.
    pub cpuinfo: Option<&'a CpuEvidence>,
    /// Parsed `lscpu.json`.
    pub lscpu: Option<&'a CpuEvidence>,
    /// Parsed `dmidecode.txt`.
    pub dmidecode: Option<&'a DmiEvidence>,
    /// The text of `product_uuid` (`/sys/class/dmi/id/product_uuid`).
    pub product_uuid: Option<&'a str>,
}

/// Combine the evidence into one [`Capacity`]:
///
/// 1. virtual or physical: dmidecode's System Information when present; else lscpu's
///    `Hypervisor vendor` / `Virtualization type`; else the cpuinfo `hypervisor` flag; else
///    physical. The hypervisor name comes from dmidecode, else lscpu.
/// 2. threads and cores: lscpu.json, else cpuinfo, else dmidecode.
/// 3. sockets: on a physical machine dmidecode's populated-socket count when it has one;
///    otherwise lscpu.json, else cpuinfo, else dmidecode.
/// 4. vendor and brand: lscpu.json, else cpuinfo, else dmidecode; model: an ARM part name,
///    else [`model_from_brand`], else the brand.
/// 5. cores ≥ sockets and threads ≥ cores are enforced (a socket has at least one core)
///    when the counts are known; a count no source gives stays `None` (said in the note).
///
/// Returns `Err` (a reason) when no source names any processor. Notes describe decisions.
pub fn derive_capacity(ev: Evidence<'_>, notes: &mut Vec<String>) -> Result<Capacity, String> {
    let dmi_cpu = ev.dmidecode.map(|d| &d.cpu);
    let order = [ev.lscpu, ev.cpuinfo, dmi_cpu];
    let names = ["lscpu.json", "cpuinfo", "dmidecode.txt"];

    // 1. virtualization.
    let dmi_has_system = ev
        .dmidecode
        .is_some_and(|d| d.system_manufacturer.is_some() || d.system_product.is_some());
    let (is_virtual, hypervisor, virt_source) = if dmi_has_system {
        let d = dmi_cpu.cloned().unwrap_or_default();
        let virt = d.is_virtual.unwrap_or(false);
        let hv = if virt {
            d.hypervisor
                .or_else(|| ev.lscpu.and_then(|l| l.hypervisor.clone()))
        } else {
            None
        };
        (virt, hv, "dmidecode.txt")
    } else if let Some(v) = ev.lscpu.and_then(|l| l.is_virtual) {
        (v, ev.lscpu.and_then(|l| l.hypervisor.clone()), "lscpu.json")
    } else if let Some(v) = ev.cpuinfo.and_then(|c| c.is_virtual) {
        (v, None, "cpuinfo")
    } else {
        (false, None, "default (no hypervisor seen)")
    };
    if !dmi_has_system {
        // nothing to cross-check
    } else if let Some(l) = ev.lscpu.and_then(|l| l.is_virtual) {
        if l != is_virtual {
            notes.push(format!(
                "capacity: dmidecode.txt says {} but lscpu.json says {}; dmidecode.txt wins",
                if is_virtual { "virtual" } else { "physical" },
                if l { "virtual" } else { "physical" },
            ));
        }
    }

    // 2. threads and cores.
    let pick = |f: &dyn Fn(&CpuEvidence) -> Option<u32>| -> Option<(u32, &'static str)> {
        order
            .iter()
            .zip(names)
            .find_map(|(e, n)| e.and_then(f).filter(|&v| v > 0).map(|v| (v, n)))
    };
    let threads = pick(&|e| e.threads);
    let cores = pick(&|e| e.cores);
    let sockets = if !is_virtual {
        dmi_cpu
            .and_then(|d| d.sockets)
            .filter(|&s| s > 0)
            .map(|s| (s, "dmidecode.txt"))
            .or_else(|| pick(&|e| e.sockets))
    } else {
        pick(&|e| e.sockets)
    };
    if threads.is_none() && cores.is_none() && sockets.is_none() {
        return Err("no processor in cpuinfo, lscpu.json or dmidecode.txt".into());
    }
    let sockets_v = sockets.map(|s| s.0).unwrap_or(1).max(1);
    // An unknown count stays unknown: inventing one (a core per socket, or as many cores
    // as threads) would misstate what a licence is counted on.
    let cores_v = cores.map(|c| c.0.max(sockets_v));
    let threads_v = threads.map(|t| match cores_v {
        Some(c) => t.0.max(c),
        None => t.0,
    });

    // 4. identity.
    let first = |f: &dyn Fn(&CpuEvidence) -> Option<String>| -> Option<String> {
        order.iter().find_map(|e| e.and_then(f))
    };
    let vendor = first(&|e| e.vendor.clone());
    let brand = first(&|e| e.brand.clone());
    let model = first(&|e| e.model.clone())
        .or_else(|| brand.as_deref().and_then(model_from_brand))
        .or_else(|| brand.clone());

    notes.push(format!(
        "capacity: threads from {}, cores from {}, sockets from {}, virtualization from {}",
        threads.map(|t| t.1).unwrap_or("nowhere (unknown)"),
        cores.map(|c| c.1).unwrap_or("nowhere (unknown)"),
        sockets.map(|s| s.1).unwrap_or("default 1"),
        virt_source
    ));

    // 6. hardware identity.
    let dmi = ev.dmidecode.cloned().unwrap_or_default();
    let sys_uuid = ev.product_uuid.and_then(usable_uuid);
    let system_uuid = match (dmi.system_uuid, sys_uuid) {
        (Some(d), Some(s)) => {
            if crate::vmman::normalize_uuid(&d) != crate::vmman::normalize_uuid(&s) {
                notes.push(crate::text::printable(&format!(
                    "capacity: dmidecode.txt says system UUID {d} but product_uuid says {s}; \
                     dmidecode.txt wins"
                )));
            }
            Some(d)
        }
        (d, s) => d.or(s),
    };
    let identity = HardwareIdentity {
        system_uuid,
        system_manufacturer: dmi.system_manufacturer,
        system_product: dmi.system_product,
        system_serial: dmi.system_serial,
        bios_vendor: dmi.bios_vendor,
        bios_version: dmi.bios_version,
        chassis_asset_tag: dmi.chassis_asset_tag,
        socket_slots: dmi.socket_slots,
    };

    Ok(Capacity {
        vendor,
        brand,
        model,
        sockets: sockets_v,
        cores: cores_v,
        threads: threads_v,
        is_virtual,
        hypervisor,
        identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models() {
        assert_eq!(
            model_from_brand("Intel(R) Xeon(R) CPU           E5504  @ 2.00GHz").as_deref(),
            Some("Xeon E5504")
        );
        assert_eq!(
            model_from_brand("Intel(R) Core(TM) i3 CPU       M 350  @ 2.27GHz").as_deref(),
            Some("Core i3 M 350")
        );
        assert_eq!(
            model_from_brand("AMD EPYC 7763 64-Core Processor").as_deref(),
            Some("EPYC 7763")
        );
        assert_eq!(model_from_brand("Intel(R) Xeon(R) Processor"), None);
        assert_eq!(model_from_brand("ARMv7 Processor rev 4 (v7l)"), None);
    }

    #[test]
    fn hypervisor_names() {
        assert_eq!(normalize_hypervisor("KVM").as_deref(), Some("KVM"));
        assert_eq!(
            normalize_hypervisor("Microsoft").as_deref(),
            Some("Microsoft Hyper-V")
        );
        assert_eq!(
            dmi_hypervisor("QEMU", "Standard PC (i440FX + PIIX, 1996)").as_deref(),
            Some("QEMU")
        );
        assert_eq!(dmi_hypervisor("Red Hat", "KVM").as_deref(), Some("KVM"));
        assert_eq!(dmi_hypervisor("Dell Inc.", "PowerEdge R640"), None);
    }
}
