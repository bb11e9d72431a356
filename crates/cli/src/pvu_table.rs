//! `openlmt pvu-table import|show|reset`: the operator's PVU table,
//! straight on the database like `openlmt catalog …` (safe while the server
//! runs; a new table applies at the next complete import). The work is done
//! by `openlmt_server::pvu`, the same code as `PUT`, `GET` and
//! `DELETE /api/pvu_table`.

use crate::users::store;
use crate::DataDirArgs;
use anyhow::Context;
use clap::Subcommand;
use openlmt_server::pvu::{self, PvuFailure, PvuTableInfo, MAX_TABLE_BYTES};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum PvuTableCommand {
    /// Replace the PVU table with the CSV FILEs (one per layout: the RISC /
    /// System z columns and the x86 columns of docs/metrics.md; `-` for
    /// standard input). Validated whole: on any error nothing changes and
    /// every error is printed with its file, line and column.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The table's version, as IBM dates it (e.g. 2026-03-22).
        #[arg(long)]
        version: String,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Show the table in force, and how many servers the latest complete
    /// import counted at the 120 default rate.
    Show {
        /// Print the same JSON as GET /api/pvu_table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Remove the operator's table: the bundled table applies again.
    Reset {
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

const SET_BY: &str = "cli";

fn read_text(file: &PathBuf) -> anyhow::Result<String> {
    let bytes = crate::catalog::read_limited(file, MAX_TABLE_BYTES, "the table")?;
    anyhow::ensure!(
        bytes.len() <= MAX_TABLE_BYTES,
        "{} is larger than the limit of {MAX_TABLE_BYTES} bytes",
        file.display()
    );
    String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", file.display()))
}

fn print_info(i: &PvuTableInfo) {
    println!("bundled:   {} ({} rows)", i.bundled.version, i.bundled.rows);
    match &i.operator {
        None => println!("operator:  none"),
        Some(o) => println!(
            "operator:  {} (set {} by {}; {})",
            o.version,
            o.set_at,
            o.set_by.as_deref().unwrap_or("?"),
            match (&o.rows, &o.problem) {
                (Some(n), _) => format!("{n} rows"),
                (None, Some(p)) => format!("does not load: {p}"),
                (None, None) => "does not load".into(),
            }
        ),
    }
    println!("in force:  {} ({})", i.in_force_version, i.in_force);
    match &i.last_snapshot {
        Some(s) => println!(
            "last import {} ({}): table {}, {} physical servers, {} at the 120 default rate",
            s.import_id,
            s.taken_at,
            s.pvu_table_version,
            s.physical_servers.map_or("?".into(), |n| n.to_string()),
            s.physical_servers_at_default_rate
                .map_or("?".into(), |n| n.to_string())
        ),
        None => println!("last import: none has computed licence values yet"),
    }
}

pub async fn run(cmd: PvuTableCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PvuTableCommand::Import {
            files,
            version,
            dir,
        } => {
            let texts = files
                .iter()
                .map(read_text)
                .collect::<anyhow::Result<Vec<_>>>()?;
            let store = store(&dir).await?;
            match pvu::set_table(&store, &version, &texts, SET_BY).await {
                Ok(info) => {
                    println!(
                        "stored the PVU table {version}; it takes effect at the next complete import"
                    );
                    print_info(&info);
                    Ok(ExitCode::SUCCESS)
                }
                Err(PvuFailure::Refused(n, errors)) => {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(
                        err,
                        "error: the PVU table was refused: {n} errors; nothing was changed"
                    );
                    for e in &errors {
                        let file = files
                            .get(e.input)
                            .map_or_else(|| "?".to_string(), |f| f.display().to_string());
                        let _ = writeln!(
                            err,
                            "  {file}:{}{}: {}",
                            e.line,
                            e.column
                                .as_deref()
                                .map(|c| format!(" ({c})"))
                                .unwrap_or_default(),
                            e.message
                        );
                    }
                    Ok(ExitCode::FAILURE)
                }
                Err(PvuFailure::Invalid(m)) => {
                    eprintln!("error: {m}");
                    Ok(ExitCode::FAILURE)
                }
                Err(PvuFailure::Store(e)) => Err(e.into()),
            }
        }
        PvuTableCommand::Show { json, dir } => {
            let info = pvu::info(&store(&dir).await?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print_info(&info);
            }
            Ok(ExitCode::SUCCESS)
        }
        PvuTableCommand::Reset { dir } => {
            let store = store(&dir).await?;
            if store.clear_operator_pvu_table().await? {
                println!("removed the operator's PVU table; the bundled table applies from the next complete import");
            } else {
                println!("there was no operator's PVU table; the bundled table applies");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
