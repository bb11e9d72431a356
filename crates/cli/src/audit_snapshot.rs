//! `openlmt audit-snapshot --from --to --output FILE.zip`: the audit
//! snapshot of a period, straight from the data directory like
//! `openlmt catalog …` (safe while the server runs). The zip is built by
//! `openlmt_server::audit_snapshot`, the same code as
//! `GET /api/sam/audit_snapshot`, so both give the same bytes.

use crate::config::{self, FileConfig};
use crate::users::store;
use crate::DataDirArgs;
use anyhow::{bail, Context};
use chrono::{Duration, NaiveDate, Utc};
use openlmt_server::audit_snapshot::{cluster_id, write_audit_snapshot};
use openlmt_storage::DatabaseUrl;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// The period when none is given: the 90 days ending today (UTC), as the API.
const DEFAULT_PERIOD_DAYS: i64 = 90;

#[derive(clap::Args)]
pub struct AuditSnapshotArgs {
    /// First day of the period (YYYY-MM-DD, UTC); default: 89 days before --to.
    #[arg(long)]
    pub from: Option<NaiveDate>,
    /// Last day of the period (YYYY-MM-DD, UTC, included); default: today.
    #[arg(long)]
    pub to: Option<NaiveDate>,
    /// The zip file to write (replaced if it exists).
    #[arg(long, short)]
    pub output: PathBuf,
    #[command(flatten)]
    pub dir: DataDirArgs,
}

pub async fn run(args: AuditSnapshotArgs) -> anyhow::Result<ExitCode> {
    let to = args.to.unwrap_or_else(|| Utc::now().date_naive());
    let from = match args.from {
        Some(d) => d,
        None => to
            .checked_sub_signed(Duration::days(DEFAULT_PERIOD_DAYS - 1))
            .with_context(|| format!("--to ({to}) is out of range"))?,
    };
    if from > to {
        bail!("--from ({from}) is after --to ({to})");
    }
    // A mistyped data directory must not give an empty snapshot.
    let file = FileConfig::load(args.dir.config.as_deref())?;
    let data_dir = config::data_dir(args.dir.data_dir.as_ref(), &file);
    if let DatabaseUrl::Sqlite(db) =
        config::database_url(args.dir.database_url.as_ref(), &file, &data_dir)?
    {
        if !db.exists() {
            bail!(
                "there is no openlmt database at {} (check --data-dir, --database-url or --config)",
                db.display()
            );
        }
    }
    let store = store(&args.dir).await?;
    // Written beside the target and renamed into place, so a failure never
    // leaves half a zip under the name asked for.
    let parent = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = args
        .output
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "audit_snapshot.zip".to_string());
    let tmp = parent.join(format!(".{file_name}.partial"));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let written = write_audit_snapshot(
        &store,
        from,
        to,
        &cluster_id(),
        std::io::BufWriter::new(file),
    )
    .await;
    let result = written
        .map_err(anyhow::Error::from)
        .and_then(|w| w.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error())))
        .and_then(|mut f| {
            f.flush()?;
            f.sync_all()?;
            Ok(())
        })
        .and_then(|()| Ok(std::fs::rename(&tmp, &args.output)?));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e.context(format!("cannot write {}", args.output.display())));
    }
    eprintln!(
        "wrote the audit snapshot of {from} to {to} to {}",
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
