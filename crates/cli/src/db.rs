//! `openlmt db copy`: moving up from SQLite to PostgreSQL (issue 10, item 4).
//! The copy itself is `openlmt_storage::db_copy` (see its module doc).

use anyhow::{bail, Context};
use clap::Subcommand;
use openlmt_storage::db_copy::copy_sqlite_to_postgres;
use openlmt_storage::{DatabaseUrl, PgStore, SqliteStore};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Copy every row of a SQLite database (users, tokens, sessions, the
    /// import history, the inventory, software instances, licence figures)
    /// into an EMPTY PostgreSQL database, in one transaction, and check each
    /// table's row count on both sides. Both databases are first brought to
    /// this version's schema. On any error the PostgreSQL database is left
    /// as it was. Stop the server first, or the copy is of the moment the
    /// copy began (it reads one snapshot).
    Copy {
        /// The SQLite database: sqlite:PATH (e.g. sqlite:/var/lib/openlmt/openlmt.db).
        #[arg(long)]
        from: String,
        /// The PostgreSQL database: postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        to: String,
    },
}

pub async fn run(cmd: DbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DbCommand::Copy { from, to } => {
            let DatabaseUrl::Sqlite(path) = DatabaseUrl::parse(&from)? else {
                bail!("--from must be a SQLite database (sqlite:PATH)");
            };
            let DatabaseUrl::Postgres(url) = DatabaseUrl::parse(&to)? else {
                bail!("--to must be a PostgreSQL database (postgres://…)");
            };
            if !path.is_file() {
                bail!("--from: no SQLite database at {}", path.display());
            }
            let started = Instant::now();
            let sqlite = SqliteStore::open_sqlite(&path)
                .await
                .with_context(|| format!("cannot open {}", path.display()))?;
            let pg = PgStore::open(&url)
                .await
                .context("cannot open the PostgreSQL database")?;
            let copied = copy_sqlite_to_postgres(&sqlite, &pg).await?;
            let mut total = 0;
            println!("{:<34} {:>12}", "table", "rows");
            for t in &copied {
                println!("{:<34} {:>12}", t.table, t.rows);
                total += t.rows;
            }
            println!(
                "copied {total} rows in {} tables in {:.1} s; every table's row count is the same in both databases",
                copied.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
