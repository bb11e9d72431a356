//! Step "Licence metrics" (complete imports only): resolves the
//! virtualization hierarchy as it will be once the import publishes (which
//! server each computer counts on, with which cores, and every server's
//! PVU rate) with the licence crate, and stores it as the import's
//! snapshot. The publish makes the snapshot visible in the same
//! transaction as the facts and the software inventory, records the
//! licensable instances present, and recomputes the day's values
//! (`openlmt_storage::license`).
//!
//! The rules are the licence crate's (docs/metrics.md); this step only
//! turns stored rows into its inputs: a computer's capacity and hardware
//! identity into [`Computer`], VM-manager observations into
//! [`VmPlacement`], the operator's PVU table and rate overrides.

use super::{Run, Step, StepError, StepFuture};
use crate::license::{topology_rows, ServerHardware};
use chrono::Utc;
use openlmt_licensing::{
    recognise_cloud, resolve, Computer, DmiStrings, PvuTable, ServerFacts, ServerKind, SmbiosUuid,
    Snapshot, VmPlacement,
};
use openlmt_storage::{LicenseComputer, LicenseInputs, LicenseSnapshotWrite, StepCounters};
use serde_json::json;
use std::collections::HashMap;
use std::time::Instant;

pub(crate) struct LicenseMetrics;

impl Step for LicenseMetrics {
    fn label(&self) -> &'static str {
        "Licence metrics"
    }
    fn id(&self) -> &'static str {
        "license_metrics"
    }
    fn weight(&self) -> u32 {
        3
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, pos: usize) -> StepFuture<'r> {
        Box::pin(license_metrics(run, pos))
    }
}

/// The PVU table in force: the operator's when one is stored and still
/// loads, else the bundled one (with a warning saying why).
pub fn table_in_force(stored: Option<&(String, String)>) -> (PvuTable, Option<String>) {
    let Some((version, document)) = stored else {
        return (PvuTable::bundled(), None);
    };
    let texts: Result<Vec<String>, _> = serde_json::from_str(document);
    let parsed = texts.map_err(|e| e.to_string()).and_then(|t| {
        let refs: Vec<&str> = t.iter().map(String::as_str).collect();
        PvuTable::parse(version, &refs).map_err(|errors| {
            format!(
                "{} errors, first: {}",
                errors.len(),
                errors.first().map(ToString::to_string).unwrap_or_default()
            )
        })
    });
    match parsed {
        Ok(t) => (t, None),
        Err(why) => (
            PvuTable::bundled(),
            Some(format!(
                "the operator's PVU table {version} no longer loads ({why}); the bundled table is used"
            )),
        ),
    }
}

fn u32_of(v: Option<i64>) -> Option<u32> {
    v.and_then(|n| u32::try_from(n).ok())
}

/// A stored computer as the licence crate takes it (`overrides`: the
/// operator's rates by server key).
pub(crate) fn computer_of(c: &LicenseComputer, overrides: &HashMap<String, i64>) -> Computer {
    let dmi = DmiStrings {
        system_manufacturer: c.system_manufacturer.clone(),
        product_name: c.system_product.clone(),
        serial_number: c.system_serial.clone(),
        system_uuid: c.system_uuid.clone(),
        bios_vendor: c.bios_vendor.clone(),
        bios_version: c.bios_version.clone(),
        chassis_asset_tag: c.chassis_asset_tag.clone(),
        ..Default::default()
    };
    let is_virtual = c.is_virtual.unwrap_or(false);
    let cloud = if is_virtual {
        recognise_cloud(&dmi).map(|m| m.provider)
    } else {
        None
    };
    let id = c.id as u64;
    // The operator's rate for the server this computer is, whatever its kind.
    let pvu_override = overrides
        .get(&openlmt_storage::override_key(c.id))
        .and_then(|&v| u32::try_from(v).ok());
    Computer {
        id,
        name: c.name.clone(),
        is_virtual,
        physical_cores: u32_of(c.cores),
        vcpus: u32_of(c.threads).or(u32_of(c.cores)),
        smbios_uuid: c
            .system_uuid
            .as_deref()
            .and_then(|u| SmbiosUuid::parse(u).ok()),
        cloud,
        facts: ServerFacts {
            processor_vendor: c.processor_vendor.clone(),
            processor_brand: c.processor_brand.clone(),
            server_model: c.system_product.clone(),
            max_sockets: u32_of(c.socket_slots),
            populated_sockets: u32_of(c.sockets),
            physical_cores: u32_of(c.cores),
            os_is_linux: c
                .os
                .as_deref()
                .is_some_and(|o| o.to_ascii_lowercase().contains("linux")),
        },
        pvu_override,
    }
}

/// The licence crate's snapshot of the inputs (no charges: the publish
/// evaluates the hierarchy against the instances).
pub(crate) fn snapshot_of(
    inputs: &LicenseInputs,
    taken_at: chrono::DateTime<Utc>,
    staleness: chrono::Duration,
) -> (Snapshot, usize) {
    let mut snap = Snapshot::new(taken_at);
    snap.staleness = staleness;
    snap.computers = inputs
        .computers
        .iter()
        .map(|c| computer_of(c, &inputs.overrides))
        .collect();
    let mut bad = 0;
    for s in &inputs.sightings {
        match SmbiosUuid::parse(&s.guest_uuid) {
            Ok(u) => snap.placements.push(VmPlacement {
                host: s.host_computer_id as u64,
                guest_uuid: u,
                guest_vcpus: u32_of(Some(s.vcpus)),
                observed_at: s.observed_at,
            }),
            Err(_) => bad += 1,
        }
    }
    (snap, bad)
}

async fn license_metrics(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.import_store();
    let config = run.engine.config();
    let started = Instant::now();
    let taken_at = Utc::now();
    let staleness = chrono::Duration::from_std(config.vm_manager_stale)
        .unwrap_or_else(|_| chrono::Duration::hours(48));
    // Observations older than twice the staleness limit cannot place a VM;
    // those between once and twice are read to say "stale" in the reasons.
    let since = taken_at - staleness - staleness;
    let stale_before = config
        .computer_retention
        .map(|d| (taken_at - chrono::Duration::from_std(d).unwrap_or_default()).timestamp_millis());
    let inputs = store
        .license_inputs(run.id, since.timestamp_millis(), stale_before)
        .await
        .map_err(|e| StepError::Failed(format!("licence metrics: cannot read the inputs: {e}")))?;
    run.check()?;
    run.progress(pos, 1, 3);
    let mut c = StepCounters::default();
    let (table, warning) = table_in_force(inputs.pvu_table.as_ref());
    if let Some(w) = warning {
        run.log.warn(w);
        c.warnings += 1;
    }
    let (snap, bad_uuids) = snapshot_of(&inputs, taken_at, staleness);
    if bad_uuids > 0 {
        run.log.warn(format!(
            "{bad_uuids} VM-manager observations name a guest UUID that cannot be read; they place no VM"
        ));
        c.warnings += 1;
    }
    let topo = resolve(&table, &snap);
    let hardware: HashMap<u64, ServerHardware> = inputs
        .computers
        .iter()
        .map(|c| {
            (
                c.id as u64,
                ServerHardware {
                    vendor: c.system_manufacturer.clone(),
                    model: c.system_product.clone(),
                    serial: c.system_serial.clone(),
                    sockets: c.sockets,
                },
            )
        })
        .collect();
    let (servers, partitions) = topology_rows(&topo, &hardware);
    let count = |k: ServerKind| topo.servers.iter().filter(|s| s.key.kind == k).count();
    let (physical, default, cloud) = (
        count(ServerKind::Physical),
        count(ServerKind::DefaultCountedVm),
        count(ServerKind::PublicCloudVm),
    );
    let at_default = topo
        .servers
        .iter()
        .filter(|s| {
            s.key.kind == ServerKind::Physical
                && matches!(s.rate.basis, openlmt_licensing::RateBasis::Default { .. })
        })
        .count();
    let unresolved = topo.placements.iter().filter(|p| p.on.is_err()).count();
    let on_hosts = topo
        .placements
        .iter()
        .filter(|p| {
            p.on.as_ref().is_ok_and(|v| {
                v.iter()
                    .any(|(_, m)| m.role == openlmt_licensing::aggregate::MemberRole::VmOnHost)
            })
        })
        .count();
    run.progress(pos, 2, 3);
    run.check()?;
    store
        .write_license_snapshot(
            run.id,
            &LicenseSnapshotWrite {
                taken_at,
                day: taken_at.date_naive(),
                pvu_table_version: table.version.clone(),
                details: json!({
                    "computers": inputs.computers.len(),
                    "vm_manager_observations": inputs.sightings.len(),
                    "servers": {"physical": physical, "default_counted_vms": default, "public_cloud_vms": cloud},
                    "vms_placed_on_hosts": on_hosts,
                    "physical_servers_at_default_rate": at_default,
                    "computers_not_countable": unresolved,
                }),
                servers,
                partitions,
            },
        )
        .await
        .map_err(|e| StepError::Failed(format!("licence metrics: cannot store the snapshot: {e}")))?;
    c.read = inputs.computers.len() as i64;
    run.log.info(format!(
        "Licence hierarchy of {} computers with PVU table {}: {physical} physical servers ({at_default} at the 120 default rate: no row of the table for their processor), {on_hosts} VMs placed on hosts by VM-manager data, {default} VMs counted on their own (TLM_VM, no fresh VM-manager data), {cloud} public-cloud VMs, {unresolved} computers that cannot be counted; {} VM-manager observations read in {:.1} s",
        inputs.computers.len(),
        table.version,
        inputs.sightings.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(c)
}
