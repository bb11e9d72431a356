//! Writers never fail on a lock they could wait for.
//!
//! Imports run their whole cycle (register, record, write facts, publish,
//! clean up) while other tasks write what a live server writes meanwhile:
//! step counters and progress, panel sessions, tokens and permission
//! changes, computer decommissions. Every one of those calls must succeed:
//! a transaction that reads before it writes and is overtaken by another
//! writer would fail at once with SQLITE_BUSY (an upgrade from a read
//! snapshot never waits for the busy timeout), unless it took the write
//! lock at `BEGIN IMMEDIATE`.

use chrono::Utc;
use openlmt_domain::{ImportType, Permission, PermissionSet, Trigger};
use openlmt_storage::{
    InstalledPackageRow, NewScanPackageRecord, PublishOptions, ScanPackageState, ScanPackageWrite,
    StagedComputer, StepCounters, Store,
};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// Imports run one after another; the other writers loop until the last
/// one is published (each at most `MAX_ROUNDS` times).
const IMPORTS: usize = 25;
const MAX_ROUNDS: usize = 20_000;
const HOSTS: usize = 4;

#[path = "support/corpus.rs"]
mod corpus;
use corpus::corpus_installed_packages;

fn record(round: usize, host: usize) -> NewScanPackageRecord {
    NewScanPackageRecord {
        data_source: "default".into(),
        file_name: format!("2026060112{:02}-host{host}.tar.gz", round % 60),
        size: 1000 + round as i64,
        sha256: format!("{round:032x}{host:032x}"),
        seen_at: Utc::now(),
        state: ScanPackageState::New,
        reason: None,
        mtime_ns: None,
        endpoint_id: Some(format!("host{host}")),
        scan_time: Some(Utc::now()),
    }
}

/// One import's whole cycle, as the engine runs it.
async fn import_once(
    store: &Store,
    round: usize,
    current: &AtomicI64,
    facts: &[InstalledPackageRow],
) {
    let import = store
        .register_import(ImportType::Complete, Trigger::Api, Some("alice"))
        .await
        .unwrap()
        .expect("no other import is active");
    current.store(import.id, Ordering::SeqCst);
    assert!(store.mark_running(import.id).await.unwrap());
    store.start_step(import.id, 1, "read").await.unwrap();
    let records: Vec<_> = (0..HOSTS).map(|h| record(round, h)).collect();
    store
        .record_scan_packages(import.id, &records)
        .await
        .unwrap();
    let keys: Vec<_> = (0..HOSTS)
        .map(|h| ("default".to_string(), format!("host{h}")))
        .collect();
    let ids = store.computer_ids(&keys).await.unwrap();
    let batch: Vec<_> = keys
        .iter()
        .map(|k| ScanPackageWrite {
            computer: StagedComputer {
                computer_id: ids[k],
                name: Some(k.1.clone()),
                scan_time_ms: Utc::now().timestamp_millis(),
                sockets: 1,
                cores: Some(2),
                threads: Some(2),
                ..StagedComputer::default()
            },
            installed_packages: facts.to_vec(),
            swid_tags: vec![],
            vm_scans: vec![],
            vm_only: false,
        })
        .collect();
    store.write_scan_packages(import.id, &batch).await.unwrap();
    let published = store
        .publish_import(
            import.id,
            PublishOptions {
                complete: true,
                stale_before_ms: None,
                discovery: None,
                license_retention_days: None,
            },
        )
        .await
        .unwrap();
    assert!(published, "the import was active");
    store.delete_superseded_facts(import.id).await.unwrap();
    store.prune_imports(5).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn imports_publish_while_everything_else_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
    let perms: PermissionSet = [Permission::ManageImports].into_iter().collect();
    let user = store
        .create_user("alice", "correct horse", perms)
        .await
        .unwrap();
    let facts = corpus_installed_packages();
    assert_eq!(facts.len(), 759, "the corpus host's installed packages");

    let done = Arc::new(AtomicBool::new(false));
    let current = Arc::new(AtomicI64::new(0));
    let mut writers = tokio::task::JoinSet::new();
    let running =
        |done: &AtomicBool, round: usize| !done.load(Ordering::SeqCst) && round < MAX_ROUNDS;

    // The step counters and progress of the running import.
    for position in [1, 2] {
        let (s, done, current) = (store.clone(), done.clone(), current.clone());
        writers.spawn(async move {
            let mut round = 0;
            while running(&done, round) {
                let id = current.load(Ordering::SeqCst);
                let c = StepCounters {
                    read: round as i64,
                    ..StepCounters::default()
                };
                s.save_step(id, position, c, false).await?;
                s.set_progress(id, (round % 99) as u8).await?;
                round += 1;
            }
            Ok::<_, openlmt_storage::StoreError>(("step counters", round))
        });
    }
    // Panel logins and logouts.
    {
        let (s, done) = (store.clone(), done.clone());
        writers.spawn(async move {
            let mut round = 0;
            while running(&done, round) {
                let session = s.create_session(user.id).await?;
                assert!(s.resolve_session(&session).await?.is_some());
                assert!(s.delete_session(&session).await?);
                round += 1;
            }
            Ok(("sessions", round))
        });
    }
    // Token issue and revocation, permission changes (each bumps the
    // auth epoch).
    {
        let (s, done) = (store.clone(), done.clone());
        writers.spawn(async move {
            let mut round = 0;
            while running(&done, round) {
                let token = s.issue_token(user.id).await?;
                assert_eq!(s.revoke_tokens(Some(&token[..16]), None).await?, 1);
                assert!(s.set_permissions("alice", perms).await?);
                round += 1;
            }
            Ok(("tokens", round))
        });
    }
    // Decommissioning a computer (reads, then writes, in one transaction).
    {
        let (s, done) = (store.clone(), done.clone());
        writers.spawn(async move {
            let mut round = 0;
            while running(&done, round) {
                s.decommission_computer(&format!("host{}", round % HOSTS), None)
                    .await?;
                s.meta_set("stress", &round.to_string()).await?;
                round += 1;
            }
            Ok(("decommissions", round))
        });
    }

    for round in 0..IMPORTS {
        import_once(&store, round, &current, &facts).await;
    }
    done.store(true, Ordering::SeqCst);
    while let Some(joined) = writers.join_next().await {
        let (what, rounds) = joined.unwrap().unwrap();
        assert!(rounds > 0, "{what} wrote while the imports ran");
        eprintln!("{what}: {rounds} rounds");
    }
    let (last, success) = store.last_finished().await.unwrap();
    assert_eq!(last.map(|r| r.id), success.map(|r| r.id));
}
