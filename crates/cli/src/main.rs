//! `openlmt`: the server, its administration commands, and a client for
//! the import API.

mod audit_snapshot;
mod catalog;
mod client;
mod config;
mod db;
mod pvu_table;
mod scan;
mod serve;
mod users;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's allocator: the import allocates millions of
/// short-lived strings on several threads at once (parsers, matching,
/// writer); see BENCHMARKS.md (issue 8) for what it was worth.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "openlmt",
    version,
    about = "Software and hardware inventory server with an ILMT-compatible import API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(serve::ServeArgs),
    /// Manage users (works while the server runs).
    #[command(subcommand)]
    User(users::UserCommand),
    /// List or revoke API tokens.
    #[command(subcommand)]
    Token(users::TokenCommand),
    /// Start or watch imports on a running server.
    #[command(subcommand)]
    Import(client::ImportCommand),
    /// Scan this machine into a scan package; write it to a directory or upload it.
    Scan(scan::ScanArgs),
    /// Manage the software catalog's operator layer (works while the server runs).
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Manage the PVU table the licence metrics use (works while the server runs).
    #[command(subcommand)]
    PvuTable(pvu_table::PvuTableCommand),
    /// Write the audit snapshot of a period (a zip in ILMT's layout) from the data directory.
    AuditSnapshot(audit_snapshot::AuditSnapshotArgs),
    /// Database moves (copy a SQLite database into an empty PostgreSQL one).
    #[command(subcommand)]
    Db(db::DbCommand),
}

/// Where the data directory is, for commands that open it directly.
#[derive(clap::Args, Clone, Debug)]
pub struct DataDirArgs {
    /// Data directory (SQLite database, data sources, import logs).
    #[arg(long, env = "OPENLMT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database: sqlite:PATH, or postgres://USER@HOST:PORT/DB [default: SQLite in the data directory]
    #[arg(long, env = "OPENLMT_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Configuration file (TOML).
    #[arg(long, env = "OPENLMT_CONFIG")]
    pub config: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::User(cmd) => users::run_user(cmd).await,
            Command::Token(cmd) => users::run_token(cmd).await,
            Command::Import(cmd) => client::run(cmd).await,
            Command::Scan(args) => scan::run(args).await,
            Command::Catalog(cmd) => catalog::run(cmd).await,
            Command::PvuTable(cmd) => pvu_table::run(cmd).await,
            Command::AuditSnapshot(args) => audit_snapshot::run(args).await,
            Command::Db(cmd) => db::run(cmd).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
