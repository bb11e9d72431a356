//! `openlmt catalog import|show|export`: the operator's catalog layer,
//! straight on the database like `openlmt user …` (safe while the server
//! runs; a change applies at the next complete import). The work is done by
//! `openlmt_server::catalog`, the same code as `PUT /api/catalog`,
//! `GET /api/catalog` and `GET /api/catalog/export`.

use crate::users::store;
use crate::DataDirArgs;
use anyhow::Context;
use clap::Subcommand;
use openlmt_catalog::MAX_DOCUMENT_BYTES;
use openlmt_server::catalog::{self, CatalogFailure, CatalogInfo, Counts};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Replace the operator's catalog layer with FILE (JSON; `-` for standard
    /// input). The file is validated whole over the bundled catalog: on any
    /// error nothing changes and every error is printed with its path.
    Import {
        file: PathBuf,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Show the layers, the effective catalog and the catalog in force.
    Show {
        /// Print the same JSON as GET /api/catalog.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        dir: DataDirArgs,
    },
    /// Write the effective catalog (bundled + operator) as a catalog document
    /// to FILE, or to standard output.
    Export {
        file: Option<PathBuf>,
        #[command(flatten)]
        dir: DataDirArgs,
    },
}

/// Who `openlmt catalog import` records as having set the layer.
const SET_BY: &str = "cli";

fn read_document(file: &PathBuf) -> anyhow::Result<Vec<u8>> {
    read_limited(file, MAX_DOCUMENT_BYTES, "the catalog")
}

/// Reads FILE (`-`: standard input), at most `max` bytes and one more (so
/// that the caller can tell "too large"); `what` names it in errors.
pub(crate) fn read_limited(file: &PathBuf, max: usize, what: &str) -> anyhow::Result<Vec<u8>> {
    let limit = max as u64 + 1;
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {what} from standard input"))?;
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(limit).read_to_end(&mut bytes))
            .with_context(|| format!("cannot read {}", file.display()))?;
    }
    Ok(bytes)
}

fn counts(c: &Counts) -> String {
    format!(
        "{} products, {} components, {} signatures",
        c.products, c.components, c.signatures
    )
}

fn print_info(i: &CatalogInfo) {
    println!(
        "bundled:   {} (openlmt {}; {})",
        i.bundled.catalog_version,
        i.bundled.openlmt_version,
        counts(&i.bundled.counts)
    );
    match &i.operator {
        None => println!("operator:  none"),
        Some(o) => println!(
            "operator:  {} (set {} by {}; {})",
            o.catalog_version,
            o.set_at,
            o.set_by.as_deref().unwrap_or("?"),
            o.counts
                .as_ref()
                .map_or_else(|| "does not load".to_string(), counts)
        ),
    }
    match &i.effective {
        Some(e) => println!(
            "effective: {} ({}; sha256 {})",
            e.catalog_version,
            counts(&e.counts),
            e.hash
        ),
        None => println!("effective: none"),
    }
    if let Some(p) = &i.problem {
        println!("problem:   {p}");
    }
    match &i.in_force {
        Some(f) => println!(
            "in force:  {} (applied {} by import {}; sha256 {})",
            f.version, f.applied_at, f.import_id, f.hash
        ),
        None => println!("in force:  none (no complete import has discovered software yet)"),
    }
    if i.pending {
        println!("pending:   yes, the next complete import applies the effective catalog");
    }
}

pub async fn run(cmd: CatalogCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogCommand::Import { file, dir } => {
            let bytes = read_document(&file)?;
            let store = store(&dir).await?;
            let result = match String::from_utf8(bytes) {
                Ok(text) if text.len() <= MAX_DOCUMENT_BYTES => {
                    catalog::set_operator_layer(&store, &text, SET_BY).await
                }
                Ok(_) => Err(CatalogFailure::Refused(vec![
                    openlmt_catalog::CatalogError {
                        path: String::new(),
                        message: format!(
                            "the catalog is larger than the limit of {MAX_DOCUMENT_BYTES} bytes"
                        ),
                    },
                ])),
                Err(e) => Err(CatalogFailure::Refused(vec![
                    openlmt_catalog::CatalogError {
                        path: String::new(),
                        message: format!("the file is not UTF-8 text: {e}"),
                    },
                ])),
            };
            match result {
                Ok(info) => {
                    if let Some(o) = &info.operator {
                        println!(
                            "stored the operator's catalog {} ({}); it takes effect at the next complete import",
                            o.catalog_version,
                            o.counts.as_ref().map_or_else(String::new, counts)
                        );
                    }
                    print_info(&info);
                    Ok(ExitCode::SUCCESS)
                }
                Err(CatalogFailure::Refused(errors)) => {
                    let mut err = std::io::stderr().lock();
                    let _ = writeln!(err, "error: {}", CatalogFailure::Refused(errors.clone()));
                    for e in &errors {
                        let path = if e.path.is_empty() {
                            "(document)"
                        } else {
                            &e.path
                        };
                        let _ = writeln!(err, "  {path}: {}", e.message);
                    }
                    Ok(ExitCode::FAILURE)
                }
                Err(other) => Err(other.into()),
            }
        }
        CatalogCommand::Show { json, dir } => {
            let info = catalog::info(&store(&dir).await?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                print_info(&info);
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogCommand::Export { file, dir } => {
            let (version, text) = catalog::export(&store(&dir).await?).await?;
            match file {
                None => println!("{text}"),
                Some(f) => {
                    std::fs::write(&f, format!("{text}\n"))
                        .with_context(|| format!("cannot write {}", f.display()))?;
                    eprintln!("wrote the effective catalog {version} to {}", f.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
