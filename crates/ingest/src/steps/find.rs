//! Step 2: lists the package files of every data source, hashes the new
//! or changed ones, and decides what the read step reads. The decisions
//! are the pure functions [`known_hash`], [`classify`] and [`choose`].

use super::{Candidate, Run, Step, StepError, StepFuture};
use chrono::Utc;
use openlmt_domain::ScanPackageName;
use openlmt_storage::{
    NewScanPackageRecord, PublishedScanPackage, RegistryState, ScanPackageState, StepCounters,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How many package records are written per transaction.
const BATCH: usize = 500;
/// Threads that hash new or changed package files.
const HASH_WORKERS: usize = 2;

pub(crate) struct Find;

impl Step for Find {
    fn label(&self) -> &'static str {
        "Find scan packages"
    }
    fn id(&self) -> &'static str {
        "find"
    }
    fn weight(&self) -> u32 {
        9
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, pos: usize) -> StepFuture<'r> {
        Box::pin(find_scan_packages(run, pos))
    }
}

/// The recorded hash of a file whose size and modification time are those
/// recorded (so it need not be hashed again); `None`: hash it.
pub(crate) fn known_hash(
    before: Option<&PublishedScanPackage>,
    size: i64,
    mtime_ns: Option<i64>,
) -> Option<String> {
    before
        .filter(|p| p.size == size && mtime_ns.is_some() && p.mtime_ns == mtime_ns)
        .map(|p| p.sha256.clone())
}

/// What a readable file with hash `sha` is, given what the registry
/// recorded under its name. A package skipped before (older) is judged
/// again by [`choose`], so it counts as new here.
pub(crate) fn classify(
    before: Option<&PublishedScanPackage>,
    sha: &str,
) -> (ScanPackageState, Option<String>) {
    match before.filter(|p| p.sha256 == sha && p.state != RegistryState::Skipped) {
        Some(p) if p.state == RegistryState::Rejected => {
            (ScanPackageState::PreviouslyRejected, p.reason.clone())
        }
        Some(_) => (ScanPackageState::AlreadyImported, None),
        None => (ScanPackageState::New, None),
    }
}

/// What [`choose`] decided, as indices into the records.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    /// To read, in record order.
    pub read: Vec<usize>,
    /// Turned into `SkippedOlder` (with their reason set), in record order.
    pub skipped: Vec<usize>,
    /// Those of `skipped` whose endpoint's newer package is in `read` (not
    /// older than what is already imported): their VM-manager observations
    /// are read.
    pub superseded_here: Vec<usize>,
}

/// Chooses among the `New` records: per (data source, endpoint) the newest
/// scan wins (on a tie, the first in name order), and none older than the
/// scan already imported for that endpoint (`imported`: data source →
/// endpoint → scan time in Unix ms) is read. The others become
/// `SkippedOlder`, with the reason.
pub(crate) fn choose(
    records: &mut [NewScanPackageRecord],
    imported: &HashMap<String, HashMap<String, i64>>,
) -> Choice {
    // Per endpoint, the newest new package wins; none older than what is
    // already imported for that endpoint is read.
    let mut newest: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        if r.state != ScanPackageState::New {
            continue;
        }
        let key = (
            r.data_source.clone(),
            r.endpoint_id.clone().unwrap_or_default(),
        );
        match newest.get(&key) {
            Some(&j) if records[j].scan_time >= r.scan_time => {}
            _ => {
                newest.insert(key, i);
            }
        }
    }
    let mut choice = Choice {
        read: Vec::new(),
        skipped: Vec::new(),
        superseded_here: Vec::new(),
    };
    for i in 0..records.len() {
        if records[i].state != ScanPackageState::New {
            continue;
        }
        let endpoint = records[i].endpoint_id.clone().unwrap_or_default();
        let key = (records[i].data_source.clone(), endpoint.clone());
        let winner = newest[&key];
        let imported_scan = imported
            .get(&records[i].data_source)
            .and_then(|m| m.get(&endpoint))
            .copied();
        let scan_ms = records[i]
            .scan_time
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let older_than_imported = imported_scan.is_some_and(|t| scan_ms < t);
        let reason = if older_than_imported {
            Some(format!(
                "older than the package already imported for endpoint `{endpoint}` (scanned {})",
                openlmt_domain::time::format_utc(openlmt_storage::from_ms(
                    imported_scan.unwrap_or(0)
                ))
            ))
        } else if winner != i {
            Some(format!(
                "a newer package for endpoint `{endpoint}` is in this import: {}",
                records[winner].file_name
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                records[i].state = ScanPackageState::SkippedOlder;
                records[i].reason = Some(reason);
                choice.skipped.push(i);
                if !older_than_imported {
                    choice.superseded_here.push(i);
                }
            }
            None => choice.read.push(i),
        }
    }
    choice
}

/// Lists the package files of every data source, hashes the new or changed
/// ones, and chooses what to read: per endpoint the newest package, never
/// one older than what is already imported for that endpoint.
async fn find_scan_packages(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.import_store();
    let mut c = StepCounters::default();
    let mut files = Vec::new();
    for ds in &run.engine.config().data_sources {
        let entries = std::fs::read_dir(&ds.path).map_err(|e| {
            StepError::Failed(format!("cannot list data source `{}`: {e}", ds.name))
        })?;
        let mut names = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files are uploads in progress.
            if file_name.starts_with('.') {
                continue;
            }
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() {
                continue;
            }
            match ScanPackageName::parse(&file_name) {
                Ok(name) => names.push((name, meta)),
                Err(e) => {
                    c.warnings += 1;
                    run.log
                        .warn(format!("Data source `{}`: ignored {e}", ds.name));
                }
            }
        }
        names.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
        files.extend(names.into_iter().map(|(n, m)| (ds, n, m)));
    }
    let total = files.len() as u64;
    run.log.info(format!("Found {total} scan package files"));

    let mut published = HashMap::new();
    let mut scan_times = HashMap::new();
    for ds in &run.engine.config().data_sources {
        let err = |e: openlmt_storage::StoreError| StepError::Failed(e.to_string());
        published.insert(
            ds.name.clone(),
            store.published_scan_packages(&ds.name).await.map_err(err)?,
        );
        scan_times.insert(
            ds.name.clone(),
            store.published_scan_times(&ds.name).await.map_err(err)?,
        );
    }

    // Which files need hashing: those whose size or modification time
    // changed since they were recorded (new files included). They are hashed
    // on HASH_WORKERS threads; the rest trust the recorded hash.
    let facts: Vec<_> = files
        .iter()
        .map(|(ds, name, meta)| {
            let size = meta.len() as i64;
            let mtime_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_nanos() as i64);
            let before = published.get(&ds.name).and_then(|m| m.get(name.as_str()));
            let known = known_hash(before, size, mtime_ns);
            (size, mtime_ns, before, known)
        })
        .collect();
    let to_hash: Vec<(usize, PathBuf)> = files
        .iter()
        .zip(&facts)
        .enumerate()
        .filter(|(_, (_, f))| f.3.is_none())
        .map(|(i, ((ds, name, _), _))| (i, ds.path.join(name.as_str())))
        .collect();
    let mut hashes = hash_files(run, pos, to_hash, total).await?;

    let mut records = Vec::with_capacity(files.len());
    for (i, ((ds, name, _), (size, mtime_ns, before, known))) in
        files.into_iter().zip(facts).enumerate()
    {
        run.check()?;
        c.read += 1;
        let sha = match known {
            Some(sha) => Ok(Some(sha)),
            None => hashes
                .remove(&i)
                .unwrap_or_else(|| Err(std::io::Error::other("not hashed"))),
        };
        let (state, sha, reason) = match sha {
            Ok(None) => return Err(StepError::Cancelled),
            Err(e) => {
                let reason = format!("cannot read the file: {e}");
                run.log.warn(format!("Package `{name}` rejected: {reason}"));
                (ScanPackageState::Rejected, String::new(), Some(reason))
            }
            Ok(Some(sha)) => {
                let (state, reason) = classify(before, &sha);
                (state, sha, reason)
            }
        };
        records.push(NewScanPackageRecord {
            data_source: ds.name.clone(),
            file_name: name.as_str().to_string(),
            size,
            sha256: sha,
            seen_at: Utc::now(),
            state,
            reason,
            mtime_ns,
            endpoint_id: Some(name.endpoint_id().to_string()),
            scan_time: Some(name.scan_time()),
        });
        run.progress(pos, i as u64 + 1, total);
    }

    let imported_scans = scan_times;
    let choice = choose(&mut records, &imported_scans);
    for &i in &choice.skipped {
        run.log.info(format!(
            "Package `{}` skipped: {}",
            records[i].file_name,
            records[i].reason.as_deref().unwrap_or("")
        ));
    }
    let paths: HashMap<&str, &PathBuf> = run
        .engine
        .config()
        .data_sources
        .iter()
        .map(|d| (d.name.as_str(), &d.path))
        .collect();
    let mut chosen = Vec::with_capacity(choice.read.len());
    for &i in &choice.read {
        c.imported += 1;
        let r = &records[i];
        if let (Some(path), Ok(name)) = (
            paths.get(r.data_source.as_str()),
            ScanPackageName::parse(&r.file_name),
        ) {
            chosen.push(Candidate {
                data_source: r.data_source.clone(),
                path: path.join(&r.file_name),
                name,
                vm_only: false,
            });
        }
    }
    // Older packages of the endpoints read: their VM-manager observations
    // only (a host that sent several packages since the last import keeps
    // the history of each).
    let to_read = chosen.len();
    for &i in &choice.superseded_here {
        let r = &records[i];
        if let (Some(path), Ok(name)) = (
            paths.get(r.data_source.as_str()),
            ScanPackageName::parse(&r.file_name),
        ) {
            chosen.push(Candidate {
                data_source: r.data_source.clone(),
                path: path.join(&r.file_name),
                name,
                vm_only: true,
            });
        }
    }
    c.rejected = records
        .iter()
        .filter(|r| r.state == ScanPackageState::Rejected)
        .count() as i64;
    for chunk in records.chunks(BATCH) {
        run.check()?;
        store
            .record_scan_packages(run.id, chunk)
            .await
            .map_err(|e| StepError::Failed(format!("cannot record packages: {e}")))?;
    }
    let count = |s: ScanPackageState| records.iter().filter(|r| r.state == s).count();
    run.log.info(format!(
        "{} packages to read, {} already imported, {} rejected before with the same content, {} older, {} unreadable",
        to_read,
        count(ScanPackageState::AlreadyImported),
        count(ScanPackageState::PreviouslyRejected),
        count(ScanPackageState::SkippedOlder),
        count(ScanPackageState::Rejected),
    ));
    *crate::lock(&run.chosen) = chosen;
    Ok(c)
}

/// Hashes `files` (index, path) on [`HASH_WORKERS`] threads at the import's
/// priority; the result maps every index to its hash or the error reading
/// it, never to `Ok(None)` (a cancelled import returns
/// `StepError::Cancelled`; a thread that died, `StepError::Failed`).
async fn hash_files(
    run: &Run<'_>,
    pos: usize,
    files: Vec<(usize, PathBuf)>,
    total: u64,
) -> Result<HashMap<usize, std::io::Result<Option<String>>>, StepError> {
    let count = files.len();
    if count == 0 {
        return Ok(HashMap::new());
    }
    let queue = std::sync::Arc::new(Mutex::new(files.into_iter()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for n in 0..HASH_WORKERS.min(count) {
        let (queue, tx, cancel) = (queue.clone(), tx.clone(), run.cancel.clone());
        std::thread::Builder::new()
            .name(format!("openlmt-hash-{n}"))
            .spawn(move || {
                crate::priority::lower_this_thread();
                loop {
                    let next = crate::lock(&queue).next();
                    let Some((i, path)) = next else { break };
                    let hashed = hash_file(&path, &cancel).map(|h| h.map(|(_, sha)| sha));
                    let stop = matches!(hashed, Ok(None));
                    if tx.send((i, hashed)).is_err() || stop {
                        break;
                    }
                }
            })
            .map_err(|e| StepError::Failed(format!("cannot start a hashing thread: {e}")))?;
    }
    drop(tx);
    let mut out = HashMap::with_capacity(count);
    while let Some((i, hashed)) = rx.recv().await {
        if matches!(hashed, Ok(None)) {
            return Err(StepError::Cancelled);
        }
        out.insert(i, hashed);
        run.progress(pos, out.len() as u64, total);
    }
    run.check()?;
    if out.len() < count {
        return Err(StepError::Failed(format!(
            "a hashing thread stopped early: {} of {count} files hashed",
            out.len()
        )));
    }
    Ok(out)
}

/// SHA-256 and size of a file; `Ok(None)` when cancelled midway.
fn hash_file(path: &Path, cancel: &CancellationToken) -> std::io::Result<Option<(u64, String)>> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        if cancel.is_cancelled() {
            return Ok(None);
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(Some((size, hex::encode(hasher.finalize()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(
        ds: &str,
        stamp: &str,
        endpoint: &str,
        state: ScanPackageState,
    ) -> NewScanPackageRecord {
        let name = ScanPackageName::parse(&format!("{stamp}-{endpoint}.tar.gz")).unwrap();
        NewScanPackageRecord {
            data_source: ds.into(),
            file_name: name.as_str().into(),
            size: 1,
            sha256: "s".into(),
            seen_at: Utc::now(),
            state,
            reason: None,
            mtime_ns: Some(1),
            endpoint_id: Some(endpoint.into()),
            scan_time: Some(name.scan_time()),
        }
    }

    fn published(sha: &str, state: RegistryState) -> PublishedScanPackage {
        PublishedScanPackage {
            size: 10,
            sha256: sha.into(),
            mtime_ns: Some(5),
            state,
            reason: (state == RegistryState::Rejected).then(|| "bad".to_string()),
        }
    }

    #[test]
    fn an_unchanged_file_keeps_its_recorded_hash() {
        let p = published("aa", RegistryState::Imported);
        assert_eq!(known_hash(Some(&p), 10, Some(5)), Some("aa".into()));
        assert_eq!(known_hash(Some(&p), 11, Some(5)), None, "size changed");
        assert_eq!(known_hash(Some(&p), 10, Some(6)), None, "mtime changed");
        assert_eq!(known_hash(Some(&p), 10, None), None, "no mtime: hash");
        assert_eq!(known_hash(None, 10, Some(5)), None, "new file");
    }

    #[test]
    fn classify_by_hash_and_record() {
        let ok = published("aa", RegistryState::Imported);
        assert_eq!(
            classify(Some(&ok), "aa"),
            (ScanPackageState::AlreadyImported, None)
        );
        assert_eq!(classify(Some(&ok), "bb"), (ScanPackageState::New, None));
        assert_eq!(classify(None, "aa"), (ScanPackageState::New, None));
        let bad = published("aa", RegistryState::Rejected);
        assert_eq!(
            classify(Some(&bad), "aa"),
            (ScanPackageState::PreviouslyRejected, Some("bad".into()))
        );
        assert_eq!(classify(Some(&bad), "cc"), (ScanPackageState::New, None));
        let skipped = published("aa", RegistryState::Skipped);
        assert_eq!(
            classify(Some(&skipped), "aa"),
            (ScanPackageState::New, None),
            "a skipped package is judged again"
        );
    }

    #[test]
    fn the_newest_package_per_endpoint_wins() {
        let mut r = vec![
            record("d", "202611281200", "a", ScanPackageState::New),
            record("d", "202611281300", "a", ScanPackageState::New),
            record("d", "202611281100", "b", ScanPackageState::New),
            // Same endpoint in another data source: a different computer.
            record("e", "202611281000", "a", ScanPackageState::New),
            // Not new: never chosen, never touched.
            record("d", "202611281400", "a", ScanPackageState::AlreadyImported),
        ];
        let c = choose(&mut r, &HashMap::new());
        assert_eq!(c.read, [1, 2, 3]);
        assert_eq!(c.skipped, [0]);
        assert_eq!(
            c.superseded_here,
            [0],
            "its newer package is read: its VM-manager observations are read too"
        );
        assert_eq!(r[0].state, ScanPackageState::SkippedOlder);
        assert!(r[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("a newer package for endpoint `a` is in this import: 202611281300-a.tar.gz"));
        assert_eq!(r[4].state, ScanPackageState::AlreadyImported);
    }

    #[test]
    fn never_older_than_what_is_imported() {
        let imported_at = |stamp: &str| {
            ScanPackageName::parse(&format!("{stamp}-a.tar.gz"))
                .unwrap()
                .scan_time()
                .timestamp_millis()
        };
        let imported = HashMap::from([(
            "d".to_string(),
            HashMap::from([("a".to_string(), imported_at("202611281200"))]),
        )]);
        let mut r = vec![
            record("d", "202611281100", "a", ScanPackageState::New),
            record("e", "202611281100", "a", ScanPackageState::New),
        ];
        let c = choose(&mut r, &imported);
        assert_eq!(c.read, [1], "the other data source has imported nothing");
        assert_eq!(c.skipped, [0]);
        assert!(
            c.superseded_here.is_empty(),
            "older than what is imported: not read at all (it was, or was skipped, before)"
        );
        assert!(r[0].reason.as_deref().unwrap().starts_with(
            "older than the package already imported for endpoint `a` (scanned 2026-11-28T12:00:00"
        ));
        // The same scan time again (new content) is read.
        let mut r = vec![record("d", "202611281200", "a", ScanPackageState::New)];
        assert_eq!(choose(&mut r, &imported).read, [0]);
    }

    #[test]
    fn ties_keep_the_first_in_name_order() {
        let mut r = vec![
            record("d", "202611281200", "a", ScanPackageState::New),
            record("d", "202611281200", "a", ScanPackageState::New),
        ];
        r[1].file_name = "202611281200-a.zip".into();
        let c = choose(&mut r, &HashMap::new());
        assert_eq!((c.read, c.skipped), (vec![0], vec![1]));
    }
}
