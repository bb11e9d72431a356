//! `openlmt scan`: scans this machine into a scan package (no root needed)
//! and writes it atomically into a directory, or uploads it to a server.
//! Also the host scan of `openlmt serve --scan-host`.

use anyhow::{bail, Context};
use openlmt_domain::ScanPackageName;
use openlmt_scanpkg::{BuiltScanPackage, ScanOptions, TagSearch};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Directory to write the package into [default: the current directory].
    #[arg(long, value_name = "DIR", conflicts_with = "upload")]
    output: Option<PathBuf>,
    /// Upload the package to this server instead of writing it: the server's
    /// base URL (http://host:9081) or the full upload URL
    /// (…/api/sam/v2/scan_results_upload).
    #[arg(long, value_name = "URL")]
    upload: Option<String>,
    /// API token of a user with the upload_scan_results permission.
    #[arg(long, env = "OPENLMT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Data source to upload into [default: the server's first data source].
    #[arg(long, value_name = "N", requires = "upload")]
    datasource_name: Option<String>,
    #[command(flatten)]
    tags: TagSearchArgs,
    /// The `virsh` to run (read-only, on qemu:///system) for the virtualization-host scan:
    /// on a KVM/libvirt host the running domains' UUIDs and vCPUs go into the package as IBM's
    /// `0_vmman.tar.gz`. When it is absent or fails, the package has no VM data and a
    /// note says why.
    #[arg(long, value_name = "PATH", default_value = "virsh")]
    virsh: PathBuf,
}

/// Where `openlmt scan` looks for ISO tags (`*.swidtag`).
#[derive(clap::Args, Debug)]
pub struct TagSearchArgs {
    /// Search this directory for ISO tags (repeatable) [default: every local file
    /// system; /usr/share/swidtag and /usr/lib/swidtag are always searched first].
    #[arg(long = "tag-root", value_name = "DIR", value_parser = absolute_dir)]
    roots: Vec<PathBuf>,
    /// Do not search this directory or anything below it (repeatable).
    #[arg(long = "tag-exclude", value_name = "DIR", value_parser = absolute_dir)]
    exclude: Vec<PathBuf>,
    /// Stop the tag search after this many seconds; the package says it was cut short.
    #[arg(long = "tag-time-budget", value_name = "SECS", default_value_t = openlmt_scanpkg::tag_search::DEFAULT_TAG_TIME_BUDGET.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    time_budget: u64,
    /// Stop the tag search after looking at this many directory entries; the package
    /// says it was cut short.
    #[arg(long = "tag-file-budget", value_name = "N", default_value_t = openlmt_scanpkg::tag_search::DEFAULT_TAG_FILE_BUDGET, value_parser = clap::value_parser!(u64).range(1..))]
    file_budget: u64,
}

impl TagSearchArgs {
    fn search(&self) -> TagSearch {
        TagSearch {
            roots: self.roots.clone(),
            exclude: self.exclude.clone(),
            time_budget: Duration::from_secs(self.time_budget),
            file_budget: self.file_budget,
        }
    }
}

/// Tag roots and exclusions are paths on this machine: absolute, so that what the
/// package records does not depend on the directory the scan ran from.
fn absolute_dir(s: &str) -> Result<PathBuf, String> {
    let p = PathBuf::from(s);
    if p.is_absolute() {
        Ok(p)
    } else {
        Err(format!("`{s}` is not an absolute path"))
    }
}

/// Scans this machine (in a blocking thread: it runs `lscpu`, `ip`, `virsh`, …),
/// searching for ISO tags as `tags` says and running `virsh` (see `--virsh`).
pub async fn scan_host_with(tags: TagSearch, virsh: PathBuf) -> anyhow::Result<BuiltScanPackage> {
    let pkg = tokio::task::spawn_blocking(move || {
        openlmt_scanpkg::scan_local_host(&ScanOptions {
            tag_search: tags,
            virsh: Some(virsh),
            ..ScanOptions::default()
        })
    })
    .await
    .context("the scan task failed")?
    .context("cannot scan this machine")?;
    for note in &pkg.notes {
        if note.starts_with("the ISO tag search was cut short") {
            eprintln!("warning: {note}");
        } else {
            eprintln!("note: {note}");
        }
    }
    Ok(pkg)
}

/// Scans this machine with the default tag search.
pub async fn scan_host() -> anyhow::Result<BuiltScanPackage> {
    scan_host_with(TagSearch::default(), PathBuf::from("virsh")).await
}

/// Writes `pkg` into `dir` atomically (hidden temporary file, fsync, rename).
pub async fn write_into(pkg: BuiltScanPackage, dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || openlmt_scanpkg::write_scan_package(&pkg, &d))
        .await
        .context("the write task failed")?
        .with_context(|| format!("cannot write the package into {}", dir.display()))
}

/// The endpoint id the scanner gives this machine, if its machine id is readable.
fn own_endpoint_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find(|s| !s.trim().is_empty())
        .map(|s| openlmt_scanpkg::endpoint_id_from_machine_id(&s))
}

/// The newest package of this machine in `dir` written less than `max_age` ago.
pub fn recent_own_scan_package(dir: &Path, max_age: Duration) -> Option<PathBuf> {
    let me = own_endpoint_id()?;
    let now = SystemTime::now();
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let parsed = ScanPackageName::parse(&name).ok()?;
            if parsed.endpoint_id() != me {
                return None;
            }
            let modified = e.metadata().ok()?.modified().ok()?;
            let age = now.duration_since(modified).unwrap_or_default();
            (age < max_age).then_some((modified, e.path()))
        })
        .max()
        .map(|(_, p)| p)
}

fn upload_url(url: &str) -> String {
    let u = url.trim().trim_end_matches('/');
    if u.ends_with("/scan_results_upload") {
        u.to_string()
    } else {
        format!("{u}/api/sam/v2/scan_results_upload")
    }
}

pub async fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let Some(url) = args.upload else {
        let dir = args.output.unwrap_or_else(|| PathBuf::from("."));
        let pkg = scan_host_with(args.tags.search(), args.virsh.clone()).await?;
        let path = write_into(pkg, &dir).await?;
        println!("{}", path.display());
        return Ok(ExitCode::SUCCESS);
    };
    let Some(token) = args.token.filter(|t| !t.trim().is_empty()) else {
        bail!("--upload needs an API token: --token T or the OPENLMT_TOKEN environment variable (get one from POST /api/get_token)");
    };
    let pkg = scan_host_with(args.tags.search(), args.virsh.clone()).await?;
    let name = pkg.file_name();
    let bytes = tokio::task::spawn_blocking(move || openlmt_scanpkg::scan_package_bytes(&pkg))
        .await
        .context("the packing task failed")?
        .context("cannot build the package")?;
    let target = upload_url(&url);
    let mut query = vec![("filename", name.clone())];
    if let Some(ds) = args.datasource_name {
        query.push(("datasource_name", ds));
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let resp = http
        .post(&target)
        .query(&query)
        .header("Token", token.trim())
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {target}"))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .context("cannot read the server's answer")?;
    if status.is_success() && body.contains("\"success\":true") {
        println!("{}", body.trim());
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "error: the upload of {name} failed ({status}): {}",
            body.trim()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// How the `admin` user's password is known, for the first-run banner.
pub enum AdminPassword {
    /// Created now with a generated password (printed once, just above).
    Generated(String),
    /// Created now with the password of OPENLMT_ADMIN_PASSWORD.
    FromEnv,
    /// The user existed before this start.
    Existing,
}

/// A host package younger than this is reused by `serve --scan-host`.
pub const SCAN_HOST_MAX_AGE: Duration = Duration::from_secs(3600);

/// `serve --scan-host`, before serving: makes sure `dir` holds a recent
/// package of this machine. Failures are reported and do not stop the server.
pub async fn scan_host_into(dir: &Path) {
    if let Some(p) = recent_own_scan_package(dir, SCAN_HOST_MAX_AGE) {
        println!(
            "This machine was scanned less than an hour ago ({}); not scanning again.",
            p.display()
        );
        return;
    }
    let result = async { write_into(scan_host().await?, dir).await }.await;
    match result {
        Ok(p) => println!("Scanned this machine into {}", p.display()),
        Err(e) => eprintln!(
            "warning: --scan-host: {e:#}; the server starts without this machine's inventory"
        ),
    }
}

/// `serve --scan-host`, once the server is up: requests one complete import
/// (trigger `cli`: the operator asked for it on the command line; no openlmt
/// user requested it), prints how to log in and what to try, and prints the
/// import's outcome when it ends.
pub async fn first_run(engine: &openlmt_ingest::Engine, base: &str, admin: AdminPassword) {
    use openlmt_domain::{ImportType, Trigger};
    let started = engine
        .request(ImportType::Complete, Trigger::Cli, None)
        .await;
    let id = match started {
        Ok(openlmt_ingest::StartOutcome::Started(id))
        | Ok(openlmt_ingest::StartOutcome::AlreadyActive(id)) => {
            println!("Import {id} (complete) of the data source started.");
            Some(id)
        }
        Err(e) => {
            eprintln!("warning: --scan-host: cannot start the import: {e}");
            None
        }
    };
    let (password_line, password_arg) = match admin {
        AdminPassword::Generated(p) => (format!("{p} (generated; shown only on this first start)"), p),
        AdminPassword::FromEnv => (
            "the value of OPENLMT_ADMIN_PASSWORD".to_string(),
            "$OPENLMT_ADMIN_PASSWORD".to_string(),
        ),
        AdminPassword::Existing => (
            "printed when this data directory was first started (or OPENLMT_ADMIN_PASSWORD then); change it with `openlmt user password admin --password-stdin`".to_string(),
            "<admin password>".to_string(),
        ),
    };
    println!("openlmt is ready:");
    println!("  URL:      {base}/");
    println!("  User:     admin");
    println!("  Password: {password_line}");
    println!("  Try:");
    println!(
        "    TOKEN=$(curl -s -d user=admin -d \"password={password_arg}\" {base}/api/get_token | sed -E 's/.*\"token\":\"([^\"]+)\".*/\\1/')"
    );
    println!("    curl -H \"Token: $TOKEN\" {base}/api/import_status.json");
    let Some(id) = id else { return };
    let engine = engine.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            match engine.store().import(id).await {
                Ok(Some(row)) if !row.status.is_active() => {
                    let error = row.error.map(|e| format!(": {e}")).unwrap_or_default();
                    println!(
                        "Import {id} ended {}{error} ({} package(s) found, {} imported, {} rejected).",
                        row.status, row.scan_packages_found, row.scan_packages_imported, row.scan_packages_rejected
                    );
                    return;
                }
                Ok(Some(_)) => {}
                _ => return,
            }
        }
    });
}
