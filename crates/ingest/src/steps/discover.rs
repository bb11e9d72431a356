//! Step "Software discovery" (complete imports only): matches the facts of
//! every computer whose facts or catalog changed against the effective
//! catalog (the bundled layer with the operator's layer over it), turns the
//! matches into software instances, bundles them, and stages the result for
//! the publish, which applies it in the same transaction as the facts.
//!
//! A computer whose facts (its facts import) and the catalog did not change
//! since its last discovery keeps its instances without being matched again.
//! Should the operator's layer no longer load over this version's bundled
//! layer (an upgrade removed a component it refers to), discovery is skipped
//! with a warning: the software inventory stays as it was, never half
//! re-discovered with a different catalog.

use super::{Run, Step, StepError, StepFuture};
use openlmt_catalog::bundling::{
    self, Assignment, BundlingIndex, BundlingRule, Existing, Found, Gone,
};
use openlmt_catalog::{
    Catalog, ComputerFacts, FactRef, InstalledPackage, MatchCache, MatchRef, Matcher, PackageDb,
    SwidTagFact,
};
use openlmt_storage::{
    ComputerFactSet, CurrentInstance, DiscoveryTarget, InstanceChange, InstanceValues,
    InventoryCatalog, InventoryComponent, InventoryOption, InventoryProduct, NewInstance,
    StepCounters,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Computers matched per read and per staged write.
const CHUNK: usize = 100;
/// New instances after which the product index is dropped for the rest of
/// the step and built once at its end (see
/// `Store::drop_instance_product_index`).
const BULK_NEW_INSTANCES: u64 = 200_000;
/// How often the step saves its counters.
const SAVE_EVERY: Duration = Duration::from_secs(1);

pub(crate) struct Discover;

impl Step for Discover {
    fn label(&self) -> &'static str {
        "Software discovery"
    }
    fn id(&self) -> &'static str {
        "discover"
    }
    fn weight(&self) -> u32 {
        10
    }
    fn run<'r>(&'r self, run: &'r Run<'r>, pos: usize) -> StepFuture<'r> {
        Box::pin(discover(run, pos))
    }
}

/// The effective catalog and what identifies it (also read by the catalog
/// API, so that it reports the hash discovery compares).
pub struct Effective {
    pub catalog: Catalog,
    pub hash: String,
    pub version: String,
}

/// Builds the effective catalog from the bundled layer and the operator's
/// stored layer (its text), or says why it cannot.
pub fn effective_catalog(operator: Option<(&str, &str)>) -> Result<Effective, String> {
    let bundled = openlmt_catalog::bundled().map_err(|errors| {
        format!(
            "the bundled catalog does not load ({} errors, first: {})",
            errors.len(),
            errors.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let mut h = Sha256::new();
    h.update(openlmt_catalog::BUNDLED_JSON.as_bytes());
    let mut version = format!("bundled {}", bundled.catalog_version);
    let catalog = match operator {
        None => bundled,
        Some((op_version, document)) => {
            let layer = openlmt_catalog::load_layer(document, &bundled).map_err(|errors| {
                format!(
                    "the operator's catalog {op_version} no longer loads over the bundled catalog {} ({} errors, first: {})",
                    bundled.catalog_version,
                    errors.len(),
                    errors.first().map(ToString::to_string).unwrap_or_default()
                )
            })?;
            h.update(b"\0operator\0");
            h.update(document.as_bytes());
            version.push_str(&format!(" + operator {op_version}"));
            openlmt_catalog::merge_layers(&bundled, &layer)
        }
    };
    Ok(Effective {
        catalog,
        hash: hex::encode(h.finalize()),
        version,
    })
}

/// The catalog rows the publish stores beside the inventory.
pub(crate) fn inventory_catalog(e: &Effective) -> InventoryCatalog {
    let c = &e.catalog;
    // A component's publisher is its first product's (catalog order).
    let mut publisher: HashMap<&str, &str> = HashMap::new();
    for p in &c.products {
        for b in &p.components {
            publisher
                .entry(b.component_id.as_str())
                .or_insert(p.publisher.as_str());
        }
    }
    let products = c
        .products
        .iter()
        .map(|p| InventoryProduct {
            id: p.id.clone(),
            publisher: p.publisher.clone(),
            name: p.name.clone(),
            release: p.release.clone(),
            metric: p.metric.map(|m| m.as_str().to_string()),
        })
        .collect();
    let components = c
        .components
        .iter()
        .map(|k| InventoryComponent {
            id: k.id.clone(),
            name: k.name.clone(),
            release: k.release.clone(),
            publisher: publisher.get(k.id.as_str()).map(|p| p.to_string()),
        })
        .collect();
    let options = c
        .products
        .iter()
        .flat_map(|p| {
            p.components.iter().map(move |b| InventoryOption {
                component_id: b.component_id.clone(),
                product_id: p.id.clone(),
                charged: b.charged,
            })
        })
        .collect();
    InventoryCatalog {
        hash: e.hash.clone(),
        version: e.version.clone(),
        products,
        components,
        options,
    }
}

async fn discover(run: &Run<'_>, pos: usize) -> Result<StepCounters, StepError> {
    let store = run.engine.import_store();
    let failed = |what: &str, e: openlmt_storage::StoreError| {
        StepError::Failed(format!("software discovery: cannot {what}: {e}"))
    };
    let mut c = StepCounters::default();
    let operator = store
        .operator_catalog()
        .await
        .map_err(|e| failed("read the operator's catalog", e))?;
    let effective = match effective_catalog(
        operator
            .as_ref()
            .map(|o| (o.catalog_version.as_str(), o.document.as_str())),
    ) {
        Ok(e) => e,
        Err(why) => {
            run.log.warn(format!(
                "Software discovery skipped: {why}; the software inventory stays as it was until the catalog is fixed (PUT /api/catalog)"
            ));
            c.warnings += 1;
            return Ok(c);
        }
    };
    let matcher = Matcher::new(&effective.catalog)
        .map_err(|e| StepError::Failed(format!("software discovery: the catalog: {e}")))?;
    let in_force = store
        .inventory_catalog()
        .await
        .map_err(|e| failed("read the catalog in force", e))?;
    let changed = in_force.as_ref().map(|i| i.hash.as_str()) != Some(effective.hash.as_str());
    let targets = store
        .discovery_targets(run.id, changed)
        .await
        .map_err(|e| failed("list the computers to discover", e))?;
    run.log.info(format!(
        "Catalog {} ({} components, {} signatures){}; {} computers to discover",
        effective.version,
        effective.catalog.components.len(),
        matcher.signature_count(),
        if changed {
            ", changed since the last discovery: every computer is matched again"
        } else {
            ""
        },
        targets.len()
    ));
    let effective = Arc::new(effective);
    let matcher = Arc::new(matcher);
    let pool = MatchingPool::start(&effective, &matcher)?;
    let started = Instant::now();
    let mut last_save = Instant::now();
    let total = targets.len() as u64;
    let mut instances_found = 0u64;
    let (mut new_count, mut changed_count, mut ended_count) = (0u64, 0u64, 0u64);
    let (mut read_time, mut match_wait, mut write_time) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut bulk = false;
    // What an earlier import's unfinished discovery left (hidden rows whose
    // keys this one would insert again) goes first; the clean-up at every
    // import's end normally did it already.
    store
        .discard_unpublished_discovery()
        .await
        .map_err(|e| failed("delete what an unfinished discovery left", e))?;
    store
        .begin_discovery(run.id)
        .await
        .map_err(|e| failed("begin", e))?;
    // A pipeline over chunks of computers: while the matching threads match
    // chunk k, this task writes chunk k-1's result, and a reader task reads
    // chunk k+1's facts on another connection of the pool. The import's
    // runtime has one thread, so the reads and the writes take turns on it
    // (the reader runs while this task waits); what runs beside them is the
    // matching, on its own threads. Each stage holds at most one chunk, so
    // memory stays bounded by three chunks.
    // The writes commit without checkpointing (as the read step's).
    let _checkpointer = run.checkpointer();
    let chunks: Vec<Vec<DiscoveryTarget>> = targets.chunks(CHUNK).map(<[_]>::to_vec).collect();
    let mut reading = chunks.first().map(|c| spawn_read(store.clone(), c.clone()));
    let mut matching: Option<(usize, Pending)> = None;
    let mut done = 0u64;
    for k in 0..=chunks.len() {
        run.check()?;
        // Chunk k's facts, then the read of chunk k+1 starts.
        let mut next = None;
        if let Some(read) = reading.take() {
            let t = Instant::now();
            let work = read
                .await
                .map_err(|_| {
                    StepError::Failed("software discovery: the reading task stopped".into())
                })?
                .map_err(|e| failed("read the facts", e))?;
            read_time += t.elapsed();
            reading = chunks
                .get(k + 1)
                .map(|c| spawn_read(store.clone(), c.clone()));
            next = Some((k, pool.submit(work)?));
        }
        // Chunk k-1's result is written while chunk k is matched.
        if let Some((j, pending)) = matching.take() {
            let t = Instant::now();
            let (found, delta) = pending.wait().await?;
            match_wait += t.elapsed();
            instances_found += found;
            new_count += delta.new.len() as u64;
            for ch in &delta.changes {
                match ch {
                    InstanceChange::Found { .. } => changed_count += 1,
                    InstanceChange::Ended { .. } => ended_count += 1,
                }
            }
            let t = Instant::now();
            if !bulk && new_count > BULK_NEW_INSTANCES {
                bulk = true;
                store
                    .drop_instance_product_index()
                    .await
                    .map_err(|e| failed("drop the product index for a bulk write", e))?;
            }
            store
                .stage_discovery(run.id, &chunks[j], &delta.new, &delta.changes)
                .await
                .map_err(|e| failed("write the instances", e))?;
            write_time += t.elapsed();
            run.hook("discover_chunk").await?;
            done += chunks[j].len() as u64;
            c.read = done as i64;
            c.imported = instances_found as i64;
            run.progress(pos, done, total.max(1));
            if last_save.elapsed() >= SAVE_EVERY {
                last_save = Instant::now();
                let _ = store.save_step(run.id, pos as i64, c, false).await;
            }
        }
        matching = next;
    }
    drop(pool);
    if bulk {
        let t = Instant::now();
        store
            .ensure_instance_indexes()
            .await
            .map_err(|e| failed("build the product index", e))?;
        write_time += t.elapsed();
        run.log.info(format!(
            "Built the instances' product index in {:.1} s (dropped during the bulk write)",
            t.elapsed().as_secs_f64()
        ));
    }
    run.log.info(format!(
        "Software discovery: {} computers matched, {} instances found ({} new, {} changed, {} no longer found), in {:.1} s ({:.1} s waiting for facts, {:.1} s waiting for matching and bundling, {:.1} s writing; matching ran beside the reads and writes)",
        total,
        instances_found,
        new_count,
        changed_count,
        ended_count,
        started.elapsed().as_secs_f64(),
        read_time.as_secs_f64(),
        match_wait.as_secs_f64(),
        write_time.as_secs_f64()
    ));
    *crate::lock(&run.discovery) = Some(Arc::new(inventory_catalog(&effective)));
    Ok(c)
}

/// One computer's discovery input: the target, its facts, its stored
/// instances.
type Work = (DiscoveryTarget, ComputerFactSet, Vec<CurrentInstance>);

/// Reads a chunk's facts and stored instances, in a task of its own.
fn spawn_read(
    store: openlmt_storage::Store,
    chunk: Vec<DiscoveryTarget>,
) -> tokio::task::JoinHandle<Result<Vec<Work>, openlmt_storage::StoreError>> {
    tokio::spawn(async move {
        let facts = store.computer_fact_sets(&chunk).await?;
        let ids: Vec<i64> = chunk.iter().map(|t| t.computer_id).collect();
        let mut current = store.current_instances(&ids).await?;
        Ok(chunk
            .iter()
            .zip(facts)
            .map(|(target, set)| {
                let before = current.remove(&target.computer_id).unwrap_or_default();
                (*target, set, before)
            })
            .collect())
    })
}

/// Threads that match and bundle, each with its own match cache, fed a
/// share of every chunk while this step's task reads the next chunk and
/// writes the previous one: one thread per core but the one the database
/// work needs (one on the 2-core machine, so that matching and the writes
/// each have a core). They run at the import's lower CPU priority and stop
/// when the pool is dropped.
struct MatchingPool {
    jobs: Vec<std::sync::mpsc::Sender<Job>>,
}

/// A half chunk, and where its result goes.
type Job = (Vec<Work>, tokio::sync::oneshot::Sender<(u64, Delta)>);

/// A chunk being matched: its halves' results, in the computers' order.
struct Pending(Vec<tokio::sync::oneshot::Receiver<(u64, Delta)>>);

impl MatchingPool {
    fn start(effective: &Arc<Effective>, matcher: &Arc<Matcher>) -> Result<Self, StepError> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1);
        let mut jobs = Vec::new();
        for n in 0..threads {
            let (tx, rx) = std::sync::mpsc::channel::<Job>();
            let (effective, matcher) = (Arc::clone(effective), Arc::clone(matcher));
            std::thread::Builder::new()
                .name(format!("discovery-{n}"))
                .spawn(move || {
                    crate::priority::lower_this_thread();
                    let index = BundlingIndex::new(&effective.catalog);
                    let mut cache = MatchCache::default();
                    for (work, reply) in rx {
                        let mut delta = Delta::default();
                        let mut found = 0;
                        for (target, set, before) in work {
                            found += discover_computer(
                                &index, &matcher, &mut cache, target, set, &before, &mut delta,
                            );
                        }
                        // The step may have stopped waiting (cancelled).
                        let _ = reply.send((found, delta));
                    }
                })
                .map_err(|e| {
                    StepError::Failed(format!(
                        "software discovery: cannot start a matching thread: {e}"
                    ))
                })?;
            jobs.push(tx);
        }
        Ok(MatchingPool { jobs })
    }

    /// Splits `work` over the threads, in order.
    fn submit(&self, mut work: Vec<Work>) -> Result<Pending, StepError> {
        let per = work.len().div_ceil(self.jobs.len()).max(1);
        let mut halves = Vec::new();
        while work.len() > per {
            let rest = work.split_off(per);
            halves.push(work);
            work = rest;
        }
        halves.push(work);
        let mut pending = Vec::new();
        for (half, jobs) in halves.into_iter().zip(&self.jobs) {
            let (tx, rx) = tokio::sync::oneshot::channel();
            jobs.send((half, tx)).map_err(|_| {
                StepError::Failed("software discovery: a matching thread stopped".into())
            })?;
            pending.push(rx);
        }
        Ok(Pending(pending))
    }
}

impl Pending {
    async fn wait(self) -> Result<(u64, Delta), StepError> {
        let mut found = 0;
        let mut delta = Delta::default();
        for rx in self.0 {
            let (n, d) = rx.await.map_err(|_| {
                StepError::Failed("software discovery: a matching thread panicked".into())
            })?;
            found += n;
            delta.new.extend(d.new);
            delta.changes.extend(d.changes);
        }
        Ok((found, delta))
    }
}

/// Converts stored facts to the catalog's fact types.
fn to_facts(set: ComputerFactSet) -> ComputerFacts {
    ComputerFacts {
        installed_packages: set
            .packages
            .into_iter()
            .filter_map(|p| {
                let source = match p.source.as_str() {
                    "dpkg" => PackageDb::Dpkg,
                    "rpm" => PackageDb::Rpm,
                    _ => return None,
                };
                Some(InstalledPackage {
                    source,
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                    vendor: p.vendor,
                })
            })
            .collect(),
        swid_tags: set
            .tags
            .into_iter()
            .map(|t| SwidTagFact {
                regid: t.regid,
                persistent_id: t.persistent_id,
                tag_id: t.tag_id,
                name: t.name,
                version: t.version,
                directory: t.directory,
            })
            .collect(),
    }
}

/// What an instance shows of the fact it was found by: its discovery path
/// (a SWID tag's directory, empty when the scan package did not record it,
/// or the package database, `dpkg` or `rpm`, for installed packages, whose
/// records name no install path: all packages of one component in one
/// database are one instance), the evidence's source (`dpkg`, `rpm`,
/// `swid`), name (package name, tagId) and version, and the detailed
/// version (the package's version, the tag's). Borrowed from the facts:
/// only what is written is copied.
struct FactView<'f> {
    path: &'f str,
    source: &'static str,
    name: &'f str,
    version: Option<&'f str>,
}

fn fact_view(facts: &ComputerFacts, fact: FactRef) -> FactView<'_> {
    match fact {
        FactRef::Package(i) => {
            let p = &facts.installed_packages[i];
            FactView {
                path: p.source.as_str(),
                source: p.source.as_str(),
                name: &p.name,
                version: Some(&p.version),
            }
        }
        FactRef::SwidTag(i) => {
            let t = &facts.swid_tags[i];
            FactView {
                path: t.directory.as_deref().unwrap_or(""),
                source: "swid",
                name: &t.tag_id,
                version: t.version.as_deref(),
            }
        }
    }
}

/// What discovery writes for a chunk of computers.
#[derive(Debug, Default)]
pub(crate) struct Delta {
    /// Instances found for the first time.
    pub new: Vec<NewInstance>,
    /// Changes to stored instances (found again or changed, no longer found).
    pub changes: Vec<InstanceChange>,
}

/// The instances of one computer: one per (component, discovery path),
/// whose evidence is the strongest match (signature kind, then the first
/// fact), bundled with the computer's stored instances as history. Adds to
/// `delta` what differs from the stored instances; returns how many
/// instances were found.
pub(crate) fn discover_computer(
    catalog: &BundlingIndex<'_>,
    matcher: &Matcher,
    cache: &mut MatchCache,
    target: DiscoveryTarget,
    set: ComputerFactSet,
    before: &[CurrentInstance],
    delta: &mut Delta,
) -> u64 {
    let facts = to_facts(set);
    let matches = matcher.match_refs_cached(&facts, cache);
    // (component, discovery path) -> the strongest match and its fact.
    let mut best: BTreeMap<(&str, &str), (MatchRef<'_>, FactView<'_>)> = BTreeMap::new();
    for m in matches {
        let view = fact_view(&facts, m.fact);
        match best.entry((m.component_id, view.path)) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((m, view));
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let b = &e.get().0;
                if (m.kind, m.fact) < (b.kind, b.fact) {
                    e.insert((m, view));
                }
            }
        }
    }
    let stored: HashMap<(&str, &str), &CurrentInstance> = before
        .iter()
        .map(|i| ((i.component_id.as_str(), i.discovery_path.as_str()), i))
        .collect();
    let mut existing: Vec<Option<&CurrentInstance>> = best
        .keys()
        .map(|(component, path)| stored.get(&(*component, *path)).copied())
        .collect();
    let mut gone: Vec<&CurrentInstance> = before
        .iter()
        .filter(|i| {
            i.is_present
                && !best.contains_key(&(i.component_id.as_str(), i.discovery_path.as_str()))
        })
        .collect();
    // A component that moved: found in one new place and gone from exactly
    // one old one on this computer (a scan package now recording the tag's
    // directory, a product installed in a versioned directory) is the same
    // instance, which keeps its id and classification under its new path.
    let mut moved: Vec<bool> = vec![false; existing.len()];
    if !gone.is_empty() {
        // Per component: its found instances without a stored row, and its
        // gone ones (counted once: this runs for every computer).
        let mut unmatched: HashMap<&str, Vec<usize>> = HashMap::new();
        for (idx, (component, _)) in best.keys().enumerate() {
            if existing[idx].is_none() {
                unmatched.entry(component).or_default().push(idx);
            }
        }
        let mut old: HashMap<&str, Vec<usize>> = HashMap::new();
        for (k, g) in gone.iter().enumerate() {
            old.entry(g.component_id.as_str()).or_default().push(k);
        }
        let mut taken: Vec<usize> = Vec::new();
        for (component, olds) in &old {
            if let (Some([idx]), [k]) =
                (unmatched.get(component).map(Vec::as_slice), olds.as_slice())
            {
                existing[*idx] = Some(gone[*k]);
                moved[*idx] = true;
                taken.push(*k);
            }
        }
        taken.sort_unstable();
        for k in taken.into_iter().rev() {
            gone.remove(k);
        }
    }
    let found: Vec<Found> = best
        .keys()
        .zip(&existing)
        .map(|((component, _), e)| Found {
            component_id: component.to_string(),
            existing: e.map(|i| Existing {
                instance_id: i.instance_id,
                assignment: stored_assignment(i),
                confirmed: i.is_confirmed,
            }),
        })
        .collect();
    let gone_bundling: Vec<Gone> = gone
        .iter()
        .map(|i| Gone {
            instance_id: i.instance_id,
            component_id: i.component_id.clone(),
            assignment: stored_assignment(i),
        })
        .collect();
    let assignments = bundling::bundle_computer_with(catalog, &found, &gone_bundling);
    let count = best.len() as u64;
    for (((((component_id, discovery_path), (m, view)), a), e), moved) in
        best.into_iter().zip(assignments).zip(existing).zip(moved)
    {
        let version = view.version.map(str::to_string);
        let values = InstanceValues {
            signature_kind: m.kind.as_str().to_string(),
            evidence_source: view.source.to_string(),
            evidence_name: view.name.to_string(),
            detailed_version: version.clone(),
            evidence_version: version,
            product_id: a.as_ref().map(|a| a.product_id.clone()),
            is_charged: a.as_ref().is_some_and(|a| a.charged),
            bundling_rule: a.as_ref().map(|a| a.rule.id()),
            bundling_details: a.map(|a| a.details),
        };
        match e {
            None => delta.new.push(NewInstance {
                computer_id: target.computer_id,
                component_id: component_id.to_string(),
                discovery_path: discovery_path.to_string(),
                values,
            }),
            Some(i) if !moved && i.is_present && i.values == values => {}
            Some(i) => delta.changes.push(InstanceChange::Found {
                instance_id: i.instance_id,
                values,
                moved_to: moved.then(|| discovery_path.to_string()),
            }),
        }
    }
    for i in gone {
        delta.changes.push(InstanceChange::Ended {
            instance_id: i.instance_id,
        });
    }
    count
}

/// A stored assignment in bundling's terms (`None` when the instance has
/// no product, or its rule id is not one this version knows).
fn stored_assignment(i: &CurrentInstance) -> Option<Assignment> {
    let v = &i.values;
    Some(Assignment {
        product_id: v.product_id.clone()?,
        charged: v.is_charged,
        rule: BundlingRule::from_id(v.bundling_rule?)?,
        details: v.bundling_details.clone().unwrap_or_else(|| "{}".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use openlmt_storage::{FactPackage, FactTag};

    const ACME: &str = r#"{"catalog_version": "2026-12-01.1",
     "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
       "metric": "PVU",
       "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
         "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                        {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]}]}"#;

    fn target() -> DiscoveryTarget {
        DiscoveryTarget {
            computer_id: 7,
            facts_import_id: 3,
        }
    }

    fn rpm(name: &str, version: &str) -> FactPackage {
        FactPackage {
            source: "rpm".into(),
            name: name.into(),
            version: version.into(),
            architecture: Some("x86_64".into()),
            vendor: None,
        }
    }

    fn tag(dir: &str, version: &str) -> FactTag {
        FactTag {
            tag_id: format!("acme.example-4f1e0c-{version}"),
            name: "ACME Server".into(),
            version: Some(version.into()),
            regid: Some("acme.example".into()),
            persistent_id: Some("4f1e0c".into()),
            directory: Some(dir.into()),
        }
    }

    fn run(set: ComputerFactSet, before: &[CurrentInstance]) -> (u64, Delta) {
        let catalog = openlmt_catalog::load(ACME).unwrap();
        let matcher = Matcher::new(&catalog).unwrap();
        let mut delta = Delta::default();
        let n = discover_computer(
            &BundlingIndex::new(&catalog),
            &matcher,
            &mut MatchCache::default(),
            target(),
            set,
            before,
            &mut delta,
        );
        (n, delta)
    }

    fn stored(
        id: i64,
        path: &str,
        present: bool,
        v: InstanceValues,
        confirmed: bool,
    ) -> CurrentInstance {
        CurrentInstance {
            instance_id: id,
            computer_id: 7,
            component_id: "acme-engine-7".into(),
            discovery_path: path.into(),
            is_present: present,
            is_confirmed: confirmed,
            values: v,
        }
    }

    #[test]
    fn one_instance_per_component_and_path_with_the_strongest_evidence() {
        let set = ComputerFactSet {
            packages: vec![
                rpm("acme-engine", "7.1.2-1"),
                rpm("acme-engine", "7.2.0-1"), // outside the range
                rpm("bash", "5.2"),
            ],
            tags: vec![
                tag("/opt/acme/swidtag", "7.1.2"),
                tag("/opt/acme2", "7.1.3"),
            ],
        };
        let (n, delta) = run(set, &[]);
        assert_eq!(n, 3);
        assert!(delta.changes.is_empty());
        let keys: Vec<(&str, &str, &str, Option<&str>)> = delta
            .new
            .iter()
            .map(|i| {
                (
                    i.discovery_path.as_str(),
                    i.values.signature_kind.as_str(),
                    i.values.evidence_name.as_str(),
                    i.values.detailed_version.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    "/opt/acme/swidtag",
                    "swid_persistent_id",
                    "acme.example-4f1e0c-7.1.2",
                    Some("7.1.2")
                ),
                (
                    "/opt/acme2",
                    "swid_persistent_id",
                    "acme.example-4f1e0c-7.1.3",
                    Some("7.1.3")
                ),
                ("rpm", "package_exact", "acme-engine", Some("7.1.2-1")),
            ]
        );
        for i in &delta.new {
            assert_eq!(i.values.product_id.as_deref(), Some("acme-server-7"));
            assert!(i.values.is_charged);
            assert_eq!(
                i.values.bundling_rule,
                Some(BundlingRule::SingleBundlingOption.id())
            );
            assert_eq!(i.computer_id, 7);
        }
    }

    #[test]
    fn only_differences_are_written_and_vanished_instances_end() {
        let set = || ComputerFactSet {
            packages: vec![rpm("acme-engine", "7.1.0-3")],
            tags: vec![],
        };
        // What a first discovery stored for the package, unchanged since.
        let (_, first) = run(set(), &[]);
        let same = first.new[0].values.clone();
        let (n, delta) = run(set(), &[stored(11, "rpm", true, same.clone(), false)]);
        assert_eq!((n, delta.new.len(), delta.changes.len()), (1, 0, 0));

        // Found again after it had ended: a change; a tag instance present
        // before and not found now: ended.
        let before = vec![
            stored(11, "rpm", false, same.clone(), false),
            stored(12, "/opt/old", true, same.clone(), false),
        ];
        let (_, delta) = run(set(), &before);
        assert!(delta.new.is_empty());
        assert_eq!(
            delta.changes,
            [
                InstanceChange::Found {
                    instance_id: 11,
                    values: same.clone(),
                    moved_to: None,
                },
                InstanceChange::Ended { instance_id: 12 },
            ]
        );

        // A confirmed manual assignment is kept by bundling.
        let manual = InstanceValues {
            product_id: Some("in-house-product".into()),
            is_charged: false,
            bundling_rule: Some(1),
            bundling_details: Some("{}".into()),
            ..same
        };
        let (_, delta) = run(set(), &[stored(11, "rpm", true, manual.clone(), true)]);
        assert!(
            delta.new.is_empty() && delta.changes.is_empty(),
            "{delta:?}"
        );
    }

    #[test]
    fn an_instance_that_moved_keeps_its_id_and_classification() {
        // Found before by a tag whose directory was not recorded (scan
        // package format 1), assigned by hand and confirmed; now the tag's
        // directory is known.
        let tags = |dirs: &[&str]| ComputerFactSet {
            packages: vec![],
            tags: dirs.iter().map(|d| tag(d, "7.1.2")).collect(),
        };
        let (_, first) = run(tags(&["/opt/acme/swidtag"]), &[]);
        let manual = InstanceValues {
            product_id: Some("in-house-product".into()),
            is_charged: false,
            bundling_rule: Some(1),
            bundling_details: Some("{}".into()),
            ..first.new[0].values.clone()
        };
        let before = vec![stored(12, "", true, manual.clone(), true)];
        let (n, delta) = run(tags(&["/opt/acme/swidtag"]), &before);
        assert_eq!(n, 1);
        assert!(delta.new.is_empty(), "{delta:?}");
        assert_eq!(
            delta.changes,
            [InstanceChange::Found {
                instance_id: 12,
                values: manual,
                moved_to: Some("/opt/acme/swidtag".into()),
            }]
        );
        // Two new places for one old one: no guess, the old one ends.
        let (_, delta) = run(tags(&["/opt/a", "/opt/b"]), &before);
        assert_eq!(delta.new.len(), 2);
        assert_eq!(delta.changes, [InstanceChange::Ended { instance_id: 12 }]);
    }

    #[test]
    fn the_effective_catalog_is_identified_by_both_layers() {
        let bundled = effective_catalog(None).unwrap();
        assert!(bundled.version.starts_with("bundled "));
        let layered = effective_catalog(Some(("2026-12-01.1", ACME))).unwrap();
        assert_ne!(bundled.hash, layered.hash);
        assert!(layered.version.ends_with(" + operator 2026-12-01.1"));
        assert!(layered.catalog.product("acme-server-7").is_some());
        let again = effective_catalog(Some(("2026-12-01.1", ACME))).unwrap();
        assert_eq!(again.hash, layered.hash);
        let rows = inventory_catalog(&layered);
        assert!(rows
            .options
            .iter()
            .any(|o| o.component_id == "acme-engine-7"
                && o.product_id == "acme-server-7"
                && o.charged));
        let bad = effective_catalog(Some((
            "x",
            r#"{"catalog_version":"x","products":[{"id":"p"}]}"#,
        )));
        assert!(bad.is_err());
    }
}
