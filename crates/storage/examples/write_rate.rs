//! The package-fact write rate of openlmt's import write path, alone.
//!
//! `cargo run -p openlmt-storage --release --example write_rate -- SOURCE_DB OUT_DIR`
//!
//! Reads the `installed_packages` rows of import 1 from SOURCE_DB (a database an
//! import filled, e.g. the one `bench/import.sh` makes), and writes the same
//! rows into a fresh database in OUT_DIR through `Store::write_scan_packages`, in
//! batches like the import's (computer by computer; about 10,000 package
//! facts per transaction, since the import's batches of ~20,000 rows hold
//! package and SWID facts in equal numbers for these hosts) with the
//! import's passive checkpoints running beside. Only the `write_scan_packages` calls are timed (reading the source
//! is not), so the figure is the write path's own rate, without the parsing
//! an import does at the same time. At the end a `wal_checkpoint(TRUNCATE)`
//! copies what the checkpoints had not yet copied, timed apart.
//!
//! Prints one line: `write_rate rows=N batches=B write_secs=S cpu_secs=C final_checkpoint_secs=K`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use openlmt_storage::{
    InstalledPackageRow, ScanPackageWrite, SqliteStore as Store, StagedComputer, WriteTimes,
};

/// Package-fact rows per transaction: the package facts in one of the
/// import's batches (crates/ingest/src/steps.rs, WRITE_BATCH_ROWS = 20,000
/// rows of package and SWID facts) when a host has as many of each.
const BATCH_ROWS: usize = 10_000;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, out] = args.as_slice() else {
        return Err("usage: write_rate SOURCE_DB OUT_DIR".into());
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let target = out.join("write_rate.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", target.display()));
    }
    let store = Store::open_sqlite(&target).await?;
    let checkpointer = tokio::spawn({
        let store = store.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let _ = store.checkpoint_passive().await;
            }
        }
    });

    let src = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let mut stmt = src.prepare(
        "SELECT computer_id, name, version, architecture, vendor, source
         FROM installed_packages WHERE import_id = 1 ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;

    let mut times = WriteTimes::default();
    let mut wall = Duration::ZERO;
    let (mut total, mut batches) = (0usize, 0usize);
    let mut batch: Vec<ScanPackageWrite> = Vec::new();
    let mut batch_rows = 0usize;
    let mut flush =
        async |batch: &mut Vec<ScanPackageWrite>| -> Result<(), Box<dyn std::error::Error>> {
            if batch.is_empty() {
                return Ok(());
            }
            let started = Instant::now();
            times += store.write_scan_packages(1, batch).await?;
            wall += started.elapsed();
            batches += 1;
            batch.clear();
            Ok(())
        };
    while let Some(row) = rows.next()? {
        let computer_id: i64 = row.get(0)?;
        let source: String = row.get(5)?;
        let fact = InstalledPackageRow {
            name: row.get(1)?,
            version: row.get(2)?,
            architecture: row.get(3)?,
            vendor: row.get(4)?,
            source: if source == "rpm" { "rpm" } else { "dpkg" },
        };
        total += 1;
        if batch
            .last()
            .is_none_or(|w| w.computer.computer_id != computer_id)
        {
            if batch_rows >= BATCH_ROWS {
                flush(&mut batch).await?;
                batch_rows = 0;
            }
            batch.push(ScanPackageWrite {
                computer: StagedComputer {
                    computer_id,
                    ..StagedComputer::default()
                },
                ..ScanPackageWrite::default()
            });
            batch_rows += 1;
        }
        if let Some(w) = batch.last_mut() {
            w.installed_packages.push(fact);
        }
        batch_rows += 1;
    }
    flush(&mut batch).await?;
    checkpointer.abort();

    let started = Instant::now();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await?;
    let final_checkpoint = started.elapsed();
    println!(
        "write_rate rows={total} batches={batches} write_secs={:.3} cpu_secs={:.3} final_checkpoint_secs={:.3}",
        wall.as_secs_f64(),
        times.installed_packages_cpu.as_secs_f64(),
        final_checkpoint.as_secs_f64()
    );
    Ok(())
}
