//! The PostgreSQL engine's bulk write rate against `psql`'s `\copy` of the same
//! rows into the same schema (issue 10, item 2), in one run.
//!
//! `OPENLMT_TEST_DATABASE_URL=postgres://… cargo run -p openlmt-storage --release --example pg_copy_rate -- COMPUTERS OUT_DIR`
//!
//! The rows are real: the corpus host's `dpkg-status` (759 installed packages,
//! read by openlmt-scanpkg's parser) for each of COMPUTERS computers, as the
//! import writes them. Two fresh databases are made on the server (and
//! dropped at the end), each migrated to openlmt's schema, with the same
//! import and computers registered:
//! 1. openlmt: the rows go through `Store::write_scan_packages` in the import's
//!    batches (about 20,000 rows each, whole computers; staged computer rows
//!    included), timed around those calls only;
//! 2. psql: the same rows, exported from database 1 into a file by
//!    `psql -c "\copy (SELECT …) TO FILE"` (untimed), loaded into database 2 by
//!    `psql -c "\copy installed_packages (…) FROM FILE"`, timed around that psql
//!    process (one transaction, no batches: the fastest way psql has).
//!
//! Prints one line: `pg_copy_rate rows=N openlmt_secs=S openlmt_rows_per_sec=R
//! psql_secs=S psql_rows_per_sec=R ratio=X` (ratio: openlmt's rows/s over psql's).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use openlmt_domain::{ImportType, Trigger};
use openlmt_storage::testing::TestDatabase;
use openlmt_storage::{InstalledPackageRow, PgStore, ScanPackageWrite, StagedComputer, Store};

#[path = "../tests/support/corpus.rs"]
mod corpus;

/// Rows per batch: the import's (crates/ingest, WRITE_BATCH_ROWS).
const BATCH_ROWS: usize = 20_000;

const COLUMNS: &str = "computer_id, import_id, name, version, architecture, vendor, source";

/// Registers an import and COMPUTERS computers; returns the import and the ids.
async fn prepare(
    store: &Store,
    computers: usize,
) -> Result<(i64, Vec<i64>), Box<dyn std::error::Error>> {
    let import = store
        .register_import(ImportType::Complete, Trigger::Api, None)
        .await?
        .ok_or("another import is active")?;
    store.mark_running(import.id).await?;
    let keys: Vec<(String, String)> = (0..computers)
        .map(|n| ("default".to_string(), format!("endpoint-{n:06}")))
        .collect();
    let ids = store.computer_ids(&keys).await?;
    Ok((import.id, keys.iter().map(|k| ids[k]).collect()))
}

fn psql(url: &str, command: &str) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            command,
        ])
        .output()?;
    let took = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "psql {command}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(took)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [computers, out] = args.as_slice() else {
        return Err(
            "usage: pg_copy_rate COMPUTERS OUT_DIR (with OPENLMT_TEST_DATABASE_URL set)".into(),
        );
    };
    let computers: usize = computers.parse()?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let rows_file = out.join("installed_packages.copy");
    let packages = corpus::corpus_installed_packages();

    let (Some(ours), Some(theirs)) = (
        TestDatabase::create("pg_copy_rate_openlmt").await?,
        TestDatabase::create("pg_copy_rate_psql").await?,
    ) else {
        return Err("set OPENLMT_TEST_DATABASE_URL to a PostgreSQL server".into());
    };

    // 1. openlmt's write path.
    let store = Store::new(std::sync::Arc::new(PgStore::open(ours.url()).await?));
    let (import_id, ids) = prepare(&store, computers).await?;
    let per_batch = (BATCH_ROWS / packages.len()).max(1);
    let mut wall = Duration::ZERO;
    let mut rows = 0usize;
    for chunk in ids.chunks(per_batch) {
        let batch: Vec<ScanPackageWrite> = chunk
            .iter()
            .map(|&computer_id| ScanPackageWrite {
                computer: StagedComputer {
                    computer_id,
                    name: Some(format!("host-{computer_id}")),
                    ..StagedComputer::default()
                },
                installed_packages: packages.iter().map(InstalledPackageRow::clone).collect(),
                ..ScanPackageWrite::default()
            })
            .collect();
        rows += batch
            .iter()
            .map(|w| w.installed_packages.len())
            .sum::<usize>();
        let started = Instant::now();
        store.write_scan_packages(import_id, &batch).await?;
        wall += started.elapsed();
    }

    // 2. psql's \copy of the same rows into the same schema.
    psql(
        ours.url(),
        &format!(
            "\\copy (SELECT {COLUMNS} FROM installed_packages WHERE import_id = {import_id}) TO '{}'",
            rows_file.display()
        ),
    )?;
    let other = Store::new(std::sync::Arc::new(PgStore::open(theirs.url()).await?));
    let (other_import, other_ids) = prepare(&other, computers).await?;
    if (other_import, &other_ids) != (import_id, &ids) {
        return Err("the two databases registered different ids".into());
    }
    let psql_wall = psql(
        theirs.url(),
        &format!(
            "\\copy installed_packages ({COLUMNS}) FROM '{}'",
            rows_file.display()
        ),
    )?;
    let loaded: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM installed_packages")
        .fetch_one(&sqlx::PgPool::connect(theirs.url()).await?)
        .await?;
    if loaded as usize != rows {
        return Err(format!("psql loaded {loaded} rows, openlmt wrote {rows}").into());
    }
    let _ = std::fs::remove_file(&rows_file);

    let ours_rate = rows as f64 / wall.as_secs_f64();
    let psql_rate = rows as f64 / psql_wall.as_secs_f64();
    println!(
        "pg_copy_rate rows={rows} openlmt_secs={:.3} openlmt_rows_per_sec={ours_rate:.0} psql_secs={:.3} psql_rows_per_sec={psql_rate:.0} ratio={:.2}",
        wall.as_secs_f64(),
        psql_wall.as_secs_f64(),
        ours_rate / psql_rate
    );
    Ok(())
}
