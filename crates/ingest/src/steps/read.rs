//! Step 3: reads the chosen packages (in parallel, with the reader's
//! limits) and writes their facts in batches under the import's id, in
//! memory bounded by [`RowBudget`].

use super::{Candidate, Run, Step, StepError, StepFuture};
use openlmt_domain::ScanPackageName;
use openlmt_scanpkg::{
    read_scan_package_since, ArchiveKind, FactsDigest, Limits, ScanPackage, SwidSchema,
};
use openlmt_storage::{
    HardwareIdentityRow, InstalledPackageRow, ScanPackageState, ScanPackageStateChange,
    ScanPackageWrite, StagedComputer, StepCounters, SwidFactRow, VmGuestRow, VmScanRow,
};
use std::sync::Mutex;
use std::time::Duration;

/// Facts per write transaction (about).
const WRITE_BATCH_ROWS: usize = 20_000;
/// How often the read step saves its counters while it writes.
const STEP_SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// Packages parsed at once (the machine has two cores; one writes).
const PARSE_WORKERS: usize = 2;
/// Parsed packages waiting for the writer: enough that the parsers go on
/// while a batch is written...
const PARSED_QUEUE: usize = 64;
/// ...and the fact rows they may hold at most (see `RowBudget`).
const PARSED_ROWS: usize = 200_000;
/// Packages whose reader notes are copied into the import log.
const NOTED_PACKAGES: usize = 500;

pub(crate) struct Read;

impl Step for Read {
    fn label(&self) -> &'static str {
        "Read and write scan packages"
    }
    fn id(&self) -> &'static str {
        "read"
    }
    fn weight(&self) -> u32 {
        80
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, pos: usize) -> StepFuture<'r> {
        Box::pin(read_scan_packages(run, pos))
    }
}

/// A parsed package, and the rows it holds in the [`RowBudget`].
type Parsed = (Candidate, Result<ScanPackage, ReadFailure>, usize);

/// A package to read, with the digest of the facts published for its
/// computer (when they have one): see [`read_scan_package_since`].
type ToRead = (Candidate, Option<FactsDigest>);

/// Why a chosen package was not read.
enum ReadFailure {
    /// The file could not be opened (it vanished, or its data source did,
    /// or it became unreadable since the find step listed it): nothing is
    /// known about its content.
    Unreadable(std::io::Error),
    /// Its content is not a valid scan package: it is rejected.
    Invalid(String),
}

/// Opens and parses one package file within `limits`; its fact members only
/// when their digest is not `published` (see [`read_scan_package_since`]).
fn read_package(
    path: &std::path::Path,
    limits: &Limits,
    published: Option<&FactsDigest>,
) -> Result<ScanPackage, ReadFailure> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(kind) = ArchiveKind::from_file_name(&name) else {
        // Not reached: the find step chose only valid package names.
        return Err(ReadFailure::Invalid(format!(
            "`{name}` is not a scan package name"
        )));
    };
    let file = std::fs::File::open(path).map_err(ReadFailure::Unreadable)?;
    read_scan_package_since(kind, file, limits, published)
        .map_err(|e| ReadFailure::Invalid(e.to_string()))
}

/// Bounds the fact rows parsed but not yet taken by the writer, so that the
/// queue's memory stays bounded whatever the packages hold (one package may
/// carry up to `Limits` worth of facts, far more than the usual ~1,500).
/// A parser waits while the budget is spent, except when nothing is queued.
struct RowBudget {
    /// Rows queued, and whether the step has ended.
    state: Mutex<(usize, bool)>,
    freed: std::sync::Condvar,
}

impl RowBudget {
    fn new() -> Self {
        RowBudget {
            state: Mutex::new((0, false)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits until `rows` more fit; `false` once the step has ended.
    fn take(&self, rows: usize) -> bool {
        let rows = rows.min(PARSED_ROWS);
        let mut g = crate::lock(&self.state);
        while !g.1 && g.0 > 0 && g.0 + rows > PARSED_ROWS {
            g = self.freed.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.1 {
            return false;
        }
        g.0 += rows;
        true
    }

    fn give(&self, rows: usize) {
        let mut g = crate::lock(&self.state);
        g.0 = g.0.saturating_sub(rows.min(PARSED_ROWS));
        self.freed.notify_all();
    }

    /// Wakes and stops every waiting parser (the step has ended).
    fn close(&self) {
        crate::lock(&self.state).1 = true;
        self.freed.notify_all();
    }
}

/// Closes a [`RowBudget`] when dropped, whichever way the step ends.
struct CloseOnDrop(std::sync::Arc<RowBudget>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Reads the chosen packages (in parallel, with the reader's limits) and
/// writes their facts in batches under this import's id. A package that
/// cannot be read is rejected alone; the import goes on.
async fn read_scan_packages(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.import_store();
    let chosen = std::mem::take(&mut *crate::lock(&run.chosen));
    let total = chosen.len() as u64;
    let mut c = StepCounters::default();
    if chosen.is_empty() {
        return Ok(c);
    }
    // Computer ids first, in one transaction.
    let keys: Vec<(String, String)> = chosen
        .iter()
        .map(|k| (k.data_source.clone(), k.name.endpoint_id().to_string()))
        .collect();
    let ids = store
        .computer_ids(&keys)
        .await
        .map_err(|e| StepError::Failed(format!("cannot register computers: {e}")))?;
    // The digest of each computer's published facts: a package whose fact
    // members have it again is not parsed for them, and its facts are not
    // written (the computer keeps pointing at the published rows).
    let mut computer_ids: Vec<i64> = ids.values().copied().collect();
    computer_ids.sort_unstable();
    computer_ids.dedup();
    let published = store
        .published_facts_digests(&computer_ids)
        .await
        .map_err(|e| StepError::Failed(format!("cannot read the published facts' digests: {e}")))?;
    let chosen: Vec<ToRead> = chosen
        .into_iter()
        .map(|cand| {
            let id = ids[&(
                cand.data_source.clone(),
                cand.name.endpoint_id().to_string(),
            )];
            // An older package read for its VM-manager observations only
            // needs no facts; a digest this version cannot read is none.
            let digest = if cand.vm_only {
                None
            } else {
                published.get(&id).and_then(|h| FactsDigest::from_hex(h))
            };
            (cand, digest)
        })
        .collect();

    // Dedicated parser threads at a lower CPU priority, so that on a busy
    // machine the HTTP workers (the status endpoint) win the cores.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Parsed>(PARSED_QUEUE);
    let queue = std::sync::Arc::new(Mutex::new(chosen.into_iter()));
    let budget = std::sync::Arc::new(RowBudget::new());
    let _close_budget = CloseOnDrop(budget.clone());
    for n in 0..PARSE_WORKERS {
        let (queue, tx, cancel) = (queue.clone(), tx.clone(), run.cancel.clone());
        let budget = budget.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("openlmt-parse-{n}"))
            .spawn(move || {
                crate::priority::lower_this_thread();
                let limits = Limits::default();
                loop {
                    let next = crate::lock(&queue).next();
                    let Some((cand, digest)) = next else { break };
                    if cancel.is_cancelled() {
                        break;
                    }
                    let parsed = read_package(&cand.path, &limits, digest.as_ref());
                    let rows = parsed.as_ref().map_or(1, |p| {
                        1 + p.installed_packages.len() + p.swid_tags.len() + vm_rows(p)
                    });
                    // Both fail when the step ended early.
                    if !budget.take(rows) || tx.blocking_send((cand, parsed, rows)).is_err() {
                        break;
                    }
                }
            });
        if let Err(e) = spawned {
            return Err(StepError::Failed(format!(
                "cannot start a parser thread: {e}"
            )));
        }
    }
    drop(tx);

    // Checkpoints run beside the writes (see Store::write_scan_packages), until
    // this step ends whichever way.
    let _checkpointer = run.checkpointer();
    let mut batch: Vec<ScanPackageWrite> = Vec::new();
    let mut stats = WriteStats::default();
    let mut batch_rows = 0usize;
    let mut rejected = Vec::new();
    let mut done = 0u64;
    let result = async {
        while let Some((cand, parsed, rows)) = rx.recv().await {
            budget.give(rows);
            run.check()?;
            done += 1;
            let endpoint = cand.name.endpoint_id();
            let outcome = match parsed {
                Ok(pkg) => check_endpoint(pkg, &cand.name).map_err(ReadFailure::Invalid),
                Err(ReadFailure::Unreadable(e)) => {
                    // Its data source vanished or became unreadable: the
                    // packages not yet read cannot be, and publishing the
                    // rest would show part of an estate and remember the
                    // others as rejected. The import fails; the next one
                    // lists the data source again.
                    data_source_still_readable(run, &cand.data_source, &e)?;
                    Err(ReadFailure::Unreadable(e))
                }
                Err(invalid) => Err(invalid),
            };
            if cand.vm_only {
                // An older package of an endpoint read above: its VM-manager
                // observations only; it stays skipped whatever happens here.
                match outcome {
                    Ok(pkg) if !pkg.vm_manager.is_empty() => {
                        for note in pkg.notes.iter().filter(|n| n.starts_with(VMMAN_IGNORED)) {
                            run.log.warn(format!("Package `{}`: {note}", cand.name));
                        }
                        run.log.info(format!(
                            "Package `{}` (skipped, older): {} VM-manager observations read",
                            cand.name,
                            pkg.vm_manager.len()
                        ));
                        let id = ids[&(cand.data_source.clone(), endpoint.to_string())];
                        let write = ScanPackageWrite {
                            computer: StagedComputer {
                                computer_id: id,
                                ..StagedComputer::default()
                            },
                            vm_scans: vm_scan_rows(pkg.vm_manager),
                            vm_only: true,
                            ..ScanPackageWrite::default()
                        };
                        batch_rows += write
                            .vm_scans
                            .iter()
                            .map(|v| 1 + v.guests.len())
                            .sum::<usize>();
                        batch.push(write);
                    }
                    Ok(_) => {}
                    Err(failure) => run.log.warn(format!(
                        "Package `{}` (skipped, older): its VM-manager observations are not read: {}",
                        cand.name,
                        failure.reason()
                    )),
                }
                if batch_rows >= WRITE_BATCH_ROWS {
                    write_batch(run, pos, &mut batch, c, &mut stats).await?;
                    batch_rows = 0;
                }
                run.progress(pos, done, total);
                continue;
            }
            c.read += 1;
            match outcome {
                Ok(pkg) => {
                    if (done as usize) <= NOTED_PACKAGES {
                        for note in pkg.notes.iter().filter(|n| !n.starts_with(VMMAN_IGNORED)) {
                            run.log.info(format!("Package `{}`: {note}", cand.name));
                        }
                    }
                    // A VM-manager scan left out is licence evidence lost: always
                    // said, as a warning, whatever the number of packages.
                    for note in pkg.notes.iter().filter(|n| n.starts_with(VMMAN_IGNORED)) {
                        run.log.warn(format!("Package `{}`: {note}", cand.name));
                    }
                    c.warnings += warnings_of(&pkg);
                    if pkg.facts_unchanged {
                        stats.facts_kept += 1;
                    }
                    let id = ids[&(cand.data_source.clone(), endpoint.to_string())];
                    let write = to_write(id, &cand.name, pkg);
                    batch_rows += 1
                        + write.installed_packages.len()
                        + write.swid_tags.len()
                        + write
                            .vm_scans
                            .iter()
                            .map(|v| 1 + v.guests.len())
                            .sum::<usize>();
                    batch.push(write);
                    c.imported += 1;
                }
                Err(failure) => {
                    c.rejected += 1;
                    let reason = failure.reason();
                    run.log
                        .warn(format!("Package `{}` rejected: {reason}", cand.name));
                    rejected.push(ScanPackageStateChange {
                        data_source: cand.data_source.clone(),
                        file_name: cand.name.as_str().to_string(),
                        state: ScanPackageState::Rejected,
                        reason: Some(reason),
                        // A file that could not be opened (removed alone
                        // since the find step listed it) is not remembered
                        // as rejected: as in the find step, the next import
                        // looks at it again if it is there.
                        forget_content: matches!(failure, ReadFailure::Unreadable(_)),
                    });
                }
            }
            if batch_rows >= WRITE_BATCH_ROWS {
                write_batch(run, pos, &mut batch, c, &mut stats).await?;
                batch_rows = 0;
            }
            run.progress(pos, done, total);
        }
        write_batch(run, pos, &mut batch, c, &mut stats).await?;
        Ok::<(), StepError>(())
    }
    .await;
    drop(rx);
    result?;
    run.check()?;
    // The parsers stop early only when cancelled; otherwise one died (a
    // panic in a parser): the packages it held were neither written nor
    // rejected, so this import must not publish as if complete.
    if done < total {
        return Err(StepError::Failed(format!(
            "a parser thread stopped early: {done} of {total} packages read"
        )));
    }
    if !rejected.is_empty() {
        store
            .set_scan_package_states(run.id, &rejected)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record rejected packages: {e}")))?;
    }
    run.log.info(format!(
        "Read {} packages: {} written, {} rejected",
        c.read, c.imported, c.rejected
    ));
    run.log.info(format!(
        "Facts unchanged since the published ones (same digest; not parsed, not written) for {} \
         computers; facts written for {}",
        stats.facts_kept, stats.facts_written
    ));
    if stats.vm_scans > 0 {
        run.log.info(format!(
            "Wrote {} VM-manager observations of {} guests in all",
            stats.vm_scans, stats.vm_guests
        ));
    }
    let t = stats.times;
    let all = (t.computers + t.installed_packages + t.swid_facts + t.commit).as_secs_f64();
    let rate = |rows: u64, d: Duration| rows as f64 / d.as_secs_f64().max(1e-9);
    run.log.info(format!(
        "Wrote {} package facts in {:.3} s ({:.0} rows/s; {:.3} s of CPU) and {} SWID facts in {:.3} s \
         ({:.0} rows/s; {:.3} s of CPU); {:.3} s of commits, {all:.3} s of database writes in all",
        stats.installed_packages,
        t.installed_packages.as_secs_f64(),
        rate(stats.installed_packages, t.installed_packages),
        t.installed_packages_cpu.as_secs_f64(),
        stats.swid_facts,
        t.swid_facts.as_secs_f64(),
        rate(stats.swid_facts, t.swid_facts),
        t.swid_facts_cpu.as_secs_f64(),
        t.commit.as_secs_f64(),
    ));
    Ok(c)
}

impl ReadFailure {
    /// The reason recorded for the package.
    fn reason(&self) -> String {
        match self {
            // The find step's words for a file it cannot read.
            ReadFailure::Unreadable(e) => format!("cannot read the file: {e}"),
            ReadFailure::Invalid(reason) => reason.clone(),
        }
    }
}

/// Fails the step when the data source `name` is no longer a readable
/// directory (one of its package files could not be opened: `cause`).
fn data_source_still_readable(
    run: &Run<'_>,
    name: &str,
    cause: &std::io::Error,
) -> Result<(), StepError> {
    let Some(ds) = run
        .engine
        .config()
        .data_sources
        .iter()
        .find(|d| d.name == name)
    else {
        return Ok(());
    };
    match super::validate::readable_dir(&ds.path) {
        Ok(()) => Ok(()),
        Err(e) => {
            let msg = format!(
                "data source `{}` at {} is not a readable directory any more: {e} \
                 (a package file could not be opened: {cause}); nothing of this import is published",
                ds.name,
                ds.path.display()
            );
            run.log.error(&msg);
            Err(StepError::Failed(msg))
        }
    }
}

/// Aborts a task when dropped.
/// What the writes of one step cost: fact rows and the time spent
/// writing them, so the log can state the write rate apart from parsing.
#[derive(Default)]
struct WriteStats {
    installed_packages: u64,
    swid_facts: u64,
    /// Computers whose facts this import wrote, and those whose published
    /// facts it keeps (their packages' fact members had the same digest).
    facts_written: u64,
    facts_kept: u64,
    /// VM-manager observations (scans) and the guests they list.
    vm_scans: u64,
    vm_guests: u64,
    times: openlmt_storage::WriteTimes,
    /// When the step's counters were last saved.
    saved: Option<std::time::Instant>,
}

async fn write_batch(
    run: &Run<'_>,
    pos: usize,
    batch: &mut Vec<ScanPackageWrite>,
    c: StepCounters,
    stats: &mut WriteStats,
) -> Result<(), StepError> {
    if batch.is_empty() {
        return Ok(());
    }
    run.hook("writer").await?;
    let store = run.engine.import_store();
    stats.times += store
        .write_scan_packages(run.id, batch)
        .await
        .map_err(|e| StepError::Failed(format!("cannot write facts: {e}")))?;
    stats.installed_packages += batch
        .iter()
        .map(|w| w.installed_packages.len() as u64)
        .sum::<u64>();
    stats.swid_facts += batch.iter().map(|w| w.swid_tags.len() as u64).sum::<u64>();
    stats.facts_written += batch
        .iter()
        .filter(|w| !w.vm_only && !w.computer.facts_kept)
        .count() as u64;
    for v in batch.iter().flat_map(|w| &w.vm_scans) {
        stats.vm_scans += 1;
        stats.vm_guests += v.guests.len() as u64;
    }
    batch.clear();
    // The counters in the database are for the history and for crash
    // recovery; the live status comes from memory. Saving them once a
    // second, not after every batch, keeps an fsync'd commit per batch off
    // the writer's path.
    if stats
        .saved
        .is_none_or(|t| t.elapsed() >= STEP_SAVE_INTERVAL)
    {
        let _ = store.save_step(run.id, pos as i64, c, false).await;
        stats.saved = Some(std::time::Instant::now());
    }
    Ok(())
}

/// A package whose computer.yml names another endpoint than its file name
/// is rejected: its facts would land on the wrong computer.
pub(crate) fn check_endpoint(
    pkg: ScanPackage,
    name: &ScanPackageName,
) -> Result<ScanPackage, String> {
    let endpoint = name.endpoint_id();
    if pkg.computer.endpoint_id != endpoint {
        Err(format!(
            "computer.yml says endpointID `{}` but the file name says `{endpoint}`",
            pkg.computer.endpoint_id
        ))
    } else {
        Ok(pkg)
    }
}

/// How the reader's note on a VM-manager scan it left out begins.
const VMMAN_IGNORED: &str = "ignored vmman scan ";

/// The VM-manager rows a package holds (a scan and its guests each count).
fn vm_rows(p: &ScanPackage) -> usize {
    p.vm_manager.iter().map(|s| 1 + s.guests.len()).sum()
}

/// The reader's notes that count as warnings (what it ignored).
pub(crate) fn warnings_of(pkg: &ScanPackage) -> i64 {
    pkg.notes
        .iter()
        .filter(|n| n.starts_with("ignored"))
        .count() as i64
}

/// The rows of a package's VM-manager scans. One row per observation: a
/// package that carries the same scan twice (the same host at the same
/// time) keeps the first.
fn vm_scan_rows(scans: Vec<openlmt_scanpkg::VmManagerScan>) -> Vec<VmScanRow> {
    let mut seen = std::collections::HashSet::new();
    scans
        .into_iter()
        .filter(|v| seen.insert((v.observed_at, openlmt_storage::normalize_uuid(&v.host.uuid))))
        .map(|v| VmScanRow {
            observed_at_ms: v.observed_at.timestamp_millis(),
            member: v.member,
            manager_id: v.id,
            virtual_technology: v.virtual_technology,
            host_uuid: v.host.uuid,
            host_name: v.host.name,
            serial_number: v.host.serial_number,
            cores: v.host.cores.map(i64::from),
            active_sockets: v.host.active_sockets.map(i64::from),
            available_sockets: v.host.available_sockets.map(i64::from),
            cpu_model: v.host.cpu_model,
            hardware_vendor: v.host.hardware_vendor,
            hardware_model: v.host.hardware_model,
            guests: v
                .guests
                .into_iter()
                .map(|g| VmGuestRow {
                    uuid: g.uuid,
                    name: g.name,
                    vcpus: i64::from(g.vcpus),
                })
                .collect(),
        })
        .collect()
}

/// Maps what the reader found to the rows the store writes.
pub(crate) fn to_write(
    computer_id: i64,
    name: &ScanPackageName,
    pkg: ScanPackage,
) -> ScanPackageWrite {
    let cap = pkg.capacity;
    let computer = StagedComputer {
        computer_id,
        facts_digest: Some(pkg.facts_digest.to_hex()),
        facts_kept: pkg.facts_unchanged,
        name: pkg.computer.computer_name,
        dns_name: pkg.computer.dns_name,
        ip_addresses: pkg.computer.ip_addresses,
        os: pkg.computer.operating_system,
        agent_version: pkg.computer.agent_version,
        scan_time_ms: name.scan_time().timestamp_millis(),
        processor_vendor: cap.vendor,
        processor_brand: cap.brand,
        processor_model: cap.model,
        sockets: i64::from(cap.sockets),
        cores: cap.cores.map(i64::from),
        threads: cap.threads.map(i64::from),
        is_virtual: cap.is_virtual,
        hypervisor: cap.hypervisor,
        identity: HardwareIdentityRow {
            system_uuid: cap.identity.system_uuid,
            system_manufacturer: cap.identity.system_manufacturer,
            system_product: cap.identity.system_product,
            system_serial: cap.identity.system_serial,
            bios_vendor: cap.identity.bios_vendor,
            bios_version: cap.identity.bios_version,
            chassis_asset_tag: cap.identity.chassis_asset_tag,
            socket_slots: cap.identity.socket_slots.map(i64::from),
        },
    };
    let vm_scans = vm_scan_rows(pkg.vm_manager);
    let packages = pkg
        .installed_packages
        .into_iter()
        .map(|f| InstalledPackageRow {
            source: f.source.as_str(),
            name: f.name,
            version: f.version,
            architecture: f.architecture,
            vendor: f.vendor,
        })
        .collect();
    let swid_tags = pkg
        .swid_tags
        .into_iter()
        .map(|t| SwidFactRow {
            schema: match t.schema {
                SwidSchema::Iso2015 => "2015",
                SwidSchema::Iso2009 => "2009",
            },
            tag_id: t.tag_id,
            name: t.name,
            version: t.version,
            regid: t.regid,
            vendor: t.vendor,
            persistent_id: t.persistent_id,
            directory: t.directory,
        })
        .collect();
    ScanPackageWrite {
        computer,
        installed_packages: packages,
        swid_tags,
        vm_scans,
        vm_only: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A real package: the corpus's Debian 12 host, as endpoint `host-a`.
    fn corpus_scan_package() -> ScanPackage {
        let host = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/corpus/hosts/debian12-vm");
        let mut computer = openlmt_scanpkg::ComputerInfo::new("host-a");
        computer.computer_name = Some("debian12-vm".into());
        let built = openlmt_scanpkg::build_scan_package_from_dir(&host, computer).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = openlmt_scanpkg::write_scan_package(&built, dir.path()).unwrap();
        openlmt_scanpkg::read_scan_package_file(&path, &Limits::default()).unwrap()
    }

    #[test]
    fn a_package_must_name_the_endpoint_of_its_file_name() {
        let pkg = corpus_scan_package();
        let same = ScanPackageName::parse("202611281200-host-a.tar.gz").unwrap();
        let other = ScanPackageName::parse("202611281200-host-b.tar.gz").unwrap();
        assert!(check_endpoint(pkg.clone(), &same).is_ok());
        assert_eq!(
            check_endpoint(pkg, &other).unwrap_err(),
            "computer.yml says endpointID `host-a` but the file name says `host-b`"
        );
    }

    #[test]
    fn the_rows_written_are_those_read() {
        let pkg = corpus_scan_package();
        let name = ScanPackageName::parse("202611281200-host-a.tar.gz").unwrap();
        let (facts, tags) = (pkg.installed_packages.len(), pkg.swid_tags.len());
        assert_eq!(facts, 759, "the corpus host's dpkg status");
        let ignored = pkg
            .notes
            .iter()
            .filter(|n| n.starts_with("ignored"))
            .count();
        assert_eq!(warnings_of(&pkg), ignored as i64);
        let w = to_write(42, &name, pkg);
        assert_eq!(
            (w.installed_packages.len(), w.swid_tags.len()),
            (facts, tags)
        );
        assert_eq!(w.computer.computer_id, 42);
        assert_eq!(w.computer.name.as_deref(), Some("debian12-vm"));
        assert_eq!(w.computer.scan_time_ms, name.scan_time().timestamp_millis());
        assert!(w.installed_packages.iter().all(|p| p.source == "dpkg"));
    }

    /// The corpus's two KVM domains (`virsh/dumpxml1`, `dumpxml2`) on one host.
    fn corpus_vm_scan(at: i64) -> openlmt_scanpkg::VmManagerScan {
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/virsh");
        let guest = |f: &str| {
            openlmt_scanpkg::vmman::parse_domain_xml(&std::fs::read(corpus.join(f)).unwrap())
                .unwrap()
        };
        openlmt_scanpkg::VmManagerScan {
            member: format!("0_vmman.tar.gz/vmman_scan_1_{at}.xml"),
            id: Some("1".into()),
            virtual_technology: Some("KVM_X86".into()),
            observed_at: chrono::DateTime::from_timestamp(at, 0).unwrap(),
            host: openlmt_scanpkg::VmHost {
                uuid: "00D3F681-FE8E-11D5-B656-1CC1DE0905AE".into(),
                cores: Some(4),
                ..Default::default()
            },
            guests: vec![guest("dumpxml1"), guest("dumpxml2")],
        }
    }

    #[test]
    fn vm_scans_are_written_once_each_with_their_guests() {
        let mut pkg = corpus_scan_package();
        let mut same = corpus_vm_scan(1_796_121_000);
        same.host.uuid = same.host.uuid.to_lowercase();
        pkg.vm_manager = vec![
            corpus_vm_scan(1_796_121_000),
            same,
            corpus_vm_scan(1_796_122_800),
        ];
        assert_eq!(vm_rows(&pkg), 9);
        let name = ScanPackageName::parse("202611281200-host-a.tar.gz").unwrap();
        let w = to_write(42, &name, pkg);
        assert_eq!(
            w.vm_scans.len(),
            2,
            "the same observation twice is written once"
        );
        let v = &w.vm_scans[0];
        assert_eq!(v.observed_at_ms, 1_796_121_000_000);
        assert_eq!(v.host_uuid, "00D3F681-FE8E-11D5-B656-1CC1DE0905AE");
        assert_eq!(v.cores, Some(4));
        let guests: Vec<(&str, Option<&str>, i64)> = v
            .guests
            .iter()
            .map(|g| (g.uuid.as_str(), g.name.as_deref(), g.vcpus))
            .collect();
        assert_eq!(
            guests,
            vec![
                (
                    "d0f1baf3-ac9d-e828-619f-91f074c8c6c4",
                    Some("Debian_Squeeze_64_bits"),
                    1
                ),
                ("5e3884eb-0caa-194b-cd17-3d9ca1b20c3b", Some("vm2"), 4),
            ]
        );
    }

    #[test]
    fn row_budget_waits_for_the_writer_and_stops_when_closed() {
        let budget = Arc::new(RowBudget::new());
        // Nothing queued: even an oversized package may go (else it never would).
        assert!(budget.take(PARSED_ROWS * 3));
        budget.give(PARSED_ROWS * 3);
        assert!(budget.take(PARSED_ROWS - 10));
        // 20 more rows do not fit: the parser waits until the writer takes rows.
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.take(20))
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "a full budget makes the parser wait");
        budget.give(PARSED_ROWS - 10);
        assert!(waiter.join().unwrap());
        // Full again; closing the budget releases a waiting parser with `false`.
        assert!(budget.take(PARSED_ROWS - 20));
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || budget.take(100))
        };
        std::thread::sleep(Duration::from_millis(50));
        budget.close();
        assert!(!waiter.join().unwrap());
        assert!(!budget.take(1), "a closed budget takes nothing");
    }
}
