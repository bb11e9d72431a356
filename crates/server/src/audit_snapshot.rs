//! The audit snapshot (issue 9, item 7): one zip, in the English layout of
//! ILMT's audit snapshot, built by [`write_audit_snapshot`] for both
//! `GET /api/sam/audit_snapshot` and `openlmt audit-snapshot` (no HTTP
//! here), so both give the same bytes for the same data.
//!
//! Contents, in this order (docs/api.md section 16, docs/metrics.md):
//! `pvu_sub_capacity.csv` (ILMT's columns, counting-rules.md §12.4: each PVU
//! product's peak day, one row per server, computer and instance),
//! `products_daily_<from>_<to>.csv` (§12.2), `audit_trail.csv` (the
//! classification audit trail of the period), `data_condition.txt` and
//! `checksums.sha256` (`sha256sum` format over the other files).
//!
//! Determinism: the files, their order and their rows are in a fixed order;
//! every zip entry carries the period's end date at 00:00 as its time; the
//! only time of writing named inside is the last successful import's. Rows
//! are handed by the store one at a time and written straight into the zip
//! (compressed as they come).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use openlmt_storage::{
    AuditCondition, AuditRow, AuditServerInstance, Store, StoreError, StoredSnapshot, UsageRow,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Seek, Write};
use zip::write::FileOptions;
use zip::{CompressionMethod, ZipWriter};

/// ILMT's columns of `pvu_sub_capacity.csv`, in ILMT's order (§12.4).
pub const PVU_SUB_CAPACITY_COLUMNS: [&str; 30] = [
    "Row No.",
    "Publisher",
    "Imported Part Numbers",
    "Product Name",
    "FlexPoint or Cloud Pak Bundle",
    "Metric Quantity",
    "Metric Peak Value Time",
    "Recalculation Needed",
    "Server Name",
    "Processor",
    "Processor Brand String",
    "PVU Per Core",
    "Changed PVU Per Core",
    "Physical Server CPU Core Subcapacity Limit",
    "Physical Server CPU Core Subcapacity",
    "Physical Server PVU Subcapacity Limit",
    "Physical Server PVU Subcapacity",
    "Comment",
    "Partition Cores",
    "Virtualization Layer ID",
    "Computer",
    "Computer Deleted",
    "OS",
    "IP Address",
    "Product Release",
    "Component",
    "Path",
    "Unconfirmed Product Instance",
    "Computer Last Seen",
    "Exclusion Comment",
];

/// The columns of `products_daily_<from>_<to>.csv` (ILMT's, §12.2).
pub const PRODUCTS_DAILY_COLUMNS: [&str; 6] = [
    "date",
    "name",
    "id",
    "metricName",
    "metricQuantity",
    "clusterId",
];

/// The columns of `audit_trail.csv`: the fields of
/// `GET /api/sam/v2/classification_audit`.
pub const AUDIT_TRAIL_COLUMNS: [&str; 10] = [
    "id",
    "time",
    "user_name",
    "action",
    "instance_id",
    "computer_id",
    "discoverable_guid",
    "product_release_guid",
    "comment",
    "details",
];

/// The metrics of the daily file and their `metricName`: ILMT's name for
/// PVU sub-capacity; openlmt's for the others (ILMT's are not known). Only
/// the sub-capacity values are licence usage; full capacity is in
/// `license_usage`.
pub const DAILY_METRICS: [(&str, &str); 3] = [
    ("PVU_SUB_CAP", "PROCESSOR_VALUE_UNIT"),
    ("RVU_SUB_CAP", "RESOURCE_VALUE_UNIT_MAPC"),
    ("VIRTUAL_PROCESSOR_CORE", "VIRTUAL_PROCESSOR_CORE"),
];

/// A computer whose latest scan is this many days older than the last
/// successful import is listed in `data_condition.txt` as not scanned.
pub const STALE_SCAN_DAYS: i64 = 7;

/// The environment variable naming the `clusterId` of the daily file
/// (default: this machine's host name).
pub const CLUSTER_ID_ENV: &str = "OPENLMT_CLUSTER_ID";

/// Why a snapshot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum AuditSnapshotError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the audit snapshot: {0}")]
    Write(String),
}

impl From<std::io::Error> for AuditSnapshotError {
    fn from(e: std::io::Error) -> Self {
        AuditSnapshotError::Write(e.to_string())
    }
}

impl From<zip::result::ZipError> for AuditSnapshotError {
    fn from(e: zip::result::ZipError) -> Self {
        AuditSnapshotError::Write(e.to_string())
    }
}

/// The zip's file name for a period (the HTTP answer's
/// `Content-Disposition`).
pub fn archive_name(from: NaiveDate, to: NaiveDate) -> String {
    format!("audit_snapshot_{from}_{to}.zip")
}

/// The daily file's name for a period.
pub fn daily_file_name(from: NaiveDate, to: NaiveDate) -> String {
    format!("products_daily_{from}_{to}.csv")
}

/// The `clusterId` of the daily file: [`CLUSTER_ID_ENV`] when set, else
/// the host name, else `openlmt`.
pub fn cluster_id() -> String {
    let configured = std::env::var(CLUSTER_ID_ENV)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    configured
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "openlmt".to_string())
}

/// One zip being written: the entry open, its running SHA-256, and the
/// digests of the entries done.
struct Archive<W: Write + Seek> {
    zip: ZipWriter<W>,
    options: FileOptions<'static, ()>,
    open: Option<(String, Sha256)>,
    sums: Vec<(String, String)>,
    line: String,
}

impl<W: Write + Seek> Archive<W> {
    fn new(out: W, to: NaiveDate) -> Self {
        // Every entry carries the period's end day (a zip time holds years
        // 1980–2107; outside them, the zip epoch).
        let time = u16::try_from(to.year())
            .ok()
            .and_then(|y| {
                zip::DateTime::from_date_and_time(y, to.month() as u8, to.day() as u8, 0, 0, 0).ok()
            })
            .unwrap_or_default();
        Archive {
            zip: ZipWriter::new(out),
            options: FileOptions::DEFAULT
                .compression_method(CompressionMethod::Deflated)
                .last_modified_time(time)
                .unix_permissions(0o644),
            open: None,
            sums: Vec::new(),
            line: String::new(),
        }
    }

    fn start(&mut self, name: &str) -> Result<(), AuditSnapshotError> {
        self.end();
        self.zip.start_file(name, self.options)?;
        self.open = Some((name.to_string(), Sha256::new()));
        Ok(())
    }

    fn end(&mut self) {
        if let Some((name, h)) = self.open.take() {
            self.sums.push((name, hex::encode(h.finalize())));
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some((_, h)) = &mut self.open {
            h.update(bytes);
        }
        self.zip.write_all(bytes)
    }

    /// Writes one CSV record (RFC 4180 quoting, CRLF-free: `\n` ends it).
    fn record<S: AsRef<str>>(&mut self, cells: &[S]) -> std::io::Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_csv_cell(&mut line, c.as_ref());
        }
        line.push('\n');
        let r = self.write(line.as_bytes());
        self.line = line;
        r
    }

    fn finish(mut self) -> Result<W, AuditSnapshotError> {
        self.end();
        self.zip.start_file("checksums.sha256", self.options)?;
        let mut text = String::new();
        for (name, sum) in &self.sums {
            let _ = writeln!(text, "{sum}  {name}");
        }
        self.zip.write_all(text.as_bytes())?;
        Ok(self.zip.finish()?)
    }
}

fn push_csv_cell(out: &mut String, cell: &str) {
    if cell.contains([',', '"', '\n', '\r']) {
        out.push('"');
        for ch in cell.chars() {
            if ch == '"' {
                out.push('"');
            }
            out.push(ch);
        }
        out.push('"');
    } else {
        out.push_str(cell);
    }
}

/// ILMT's time format in the snapshot's CSV files (UTC).
fn ilmt_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn day_time(d: NaiveDate) -> String {
    format!("{d} 00:00:00.000")
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(String::new, |v| v.to_string())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "Yes"
    } else {
        "No"
    }
}

/// ILMT's "Processor" column: the PVU table row a server's rate comes
/// from, or why it has none (from the server's stored rate basis).
pub fn processor_label(rate: &Value) -> String {
    let basis = &rate["basis"];
    let s = |k: &str| basis[k].as_str().map(str::to_string);
    match basis["basis"].as_str() {
        Some("table_row") => s("row").unwrap_or_default(),
        Some("linux_on_power") => s("row").unwrap_or_else(|| {
            format!(
                "{}: POWER running Linux (built-in rule)",
                s("processor").unwrap_or_default()
            )
        }),
        Some("public_cloud") => s("row").unwrap_or_else(|| {
            format!(
                "{}: public cloud, per vCPU (built-in rule)",
                s("provider").unwrap_or_default()
            )
        }),
        Some("override") => format!(
            "Changed by the operator (the rules gave {} PVU per core: {})",
            basis["replaced"]["pvu_per_core"],
            processor_label(&basis["replaced"])
        ),
        Some("default") => {
            let why = match basis["reason"].as_str() {
                Some("processor_not_identified") => {
                    format!(
                        "processor not identified ({})",
                        s("processor").unwrap_or_default()
                    )
                }
                Some("no_table_row") => format!(
                    "no row of the PVU table for {}",
                    s("processor").unwrap_or_default()
                ),
                Some("ambiguous_rows") => format!(
                    "several rows of the PVU table match {}",
                    s("processor").unwrap_or_default()
                ),
                Some("no_vm_manager_data") => "no VM-manager data".to_string(),
                _ => "default".to_string(),
            };
            format!("Default 120 PVU per core: {why}")
        }
        _ => String::new(),
    }
}

fn pvu_row(n: u64, u: &UsageRow, r: &AuditServerInstance) -> [String; 30] {
    let s = &r.server;
    // ILMT's comment of the server (TLM_VM: "Incomplete virtualization
    // hierarchy"), as the hierarchy stored it.
    let comment = s.basis["comment"].as_str().unwrap_or("");
    let component = match (&r.component_name, &r.component_release) {
        (Some(n), Some(v)) if !v.is_empty() => format!("{n} {v}"),
        (Some(n), _) => n.clone(),
        (None, _) => String::new(),
    };
    [
        n.to_string(),
        u.publisher.clone(),
        // openlmt has no part numbers and no bundles (docs/api.md §16).
        String::new(),
        u.name.clone(),
        String::new(),
        u.quantity.to_string(),
        day_time(u.peak_day),
        // Values are recomputed in the same transaction as every change.
        "No".to_string(),
        s.name.clone(),
        processor_label(&s.basis["rate"]),
        opt(r.server_processor_brand.as_deref()),
        s.pvu_per_core.to_string(),
        yes_no(s.custom_pvu.is_some()).to_string(),
        opt(r.full_cores.or(s.cores)),
        r.sub_cores.to_string(),
        opt(r.full_quantity),
        r.sub_quantity.to_string(),
        comment.to_string(),
        r.partition_cores.to_string(),
        s.key.clone(),
        opt(r.computer_name.as_deref()),
        yes_no(r.computer_deleted).to_string(),
        opt(r.os.as_deref()),
        r.ip_addresses.join(", "),
        opt(r.product_release.as_deref()),
        component,
        r.discovery_path.clone(),
        yes_no(!r.is_confirmed).to_string(),
        opt(r.last_seen.map(ilmt_time)),
        opt(r.exclusion_comment.as_deref()),
    ]
}

fn audit_row(a: &AuditRow) -> [String; 10] {
    [
        a.id.to_string(),
        openlmt_domain::time::format_utc(a.at),
        a.user_name.clone(),
        a.action.clone(),
        opt(a.instance_id),
        a.computer_id.to_string(),
        opt(a.component_id.as_deref()),
        opt(a.product_id.as_deref()),
        opt(a.comment.as_deref()),
        opt(a.details.as_deref()),
    ]
}

/// Writes the audit snapshot of `from..=to` (UTC days, both included) as a
/// zip into `out` and gives `out` back. `cluster_id` is the daily file's
/// `clusterId` (see [`cluster_id`]).
pub async fn write_audit_snapshot<W: Write + Seek + Send>(
    store: &Store,
    from: NaiveDate,
    to: NaiveDate,
    cluster_id: &str,
    out: W,
) -> Result<W, AuditSnapshotError> {
    let mut a = Archive::new(out, to);
    // One read transaction: the files are of one state of the data even
    // while an import publishes.
    let mut db = store.audit_reader().await?;
    let usage = db.license_usage(from, to).await?;

    // pvu_sub_capacity.csv: each PVU product's peak day, per server,
    // computer and instance.
    a.start("pvu_sub_capacity.csv")?;
    a.record(&PVU_SUB_CAPACITY_COLUMNS)?;
    let mut n: u64 = 0;
    for u in usage.iter().filter(|u| u.metric == "PVU_SUB_CAP") {
        let a = &mut a;
        let n = &mut n;
        db.server_instances(
            u.peak_day,
            &u.product_id,
            "PVU_SUB_CAP",
            "PVU_FULL_CAP",
            |r| {
                *n += 1;
                a.record(&pvu_row(*n, u, &r))
            },
        )
        .await?;
    }

    // products_daily_<from>_<to>.csv: each product's daily value.
    a.start(&daily_file_name(from, to))?;
    a.record(&PRODUCTS_DAILY_COLUMNS)?;
    let names: HashMap<&str, (i64, &str)> = usage
        .iter()
        .map(|u| (u.product_id.as_str(), (u.product_num, u.name.as_str())))
        .collect();
    let metric_name: HashMap<&str, (usize, &str)> = DAILY_METRICS
        .iter()
        .enumerate()
        .map(|(i, (code, name))| (*code, (i, *name)))
        .collect();
    let mut days: Vec<(NaiveDate, i64, usize, &str, &str, i64)> = Vec::new();
    let stored = db.license_product_days(from, to).await?;
    for (day, product, metric, quantity) in &stored {
        let (Some((num, name)), Some((rank, mname))) = (
            names.get(product.as_str()),
            metric_name.get(metric.as_str()),
        ) else {
            continue;
        };
        days.push((*day, *num, *rank, name, mname, *quantity));
    }
    days.sort_by_key(|d| (d.0, d.1, d.2));
    for (day, num, _, name, mname, q) in &days {
        a.record(&[
            day.to_string(),
            (*name).to_string(),
            num.to_string(),
            (*mname).to_string(),
            q.to_string(),
            cluster_id.to_string(),
        ])?;
    }
    drop(days);
    drop(stored);

    // audit_trail.csv: the classification changes of the period.
    a.start("audit_trail.csv")?;
    a.record(&AUDIT_TRAIL_COLUMNS)?;
    {
        let a = &mut a;
        db.audit_trail_between(from, to, |r| a.record(&audit_row(&r)))
            .await?;
    }

    // data_condition.txt
    let last_ok = db.last_successful_import().await?;
    let stale_before = last_ok
        .as_ref()
        .and_then(|i| i.finished_at)
        .map(|t| t - chrono::Duration::days(STALE_SCAN_DAYS));
    let condition = db.condition(from, to, stale_before).await?;
    let catalog = db.inventory_catalog().await?;
    drop(db);
    let mut text = String::new();
    data_condition(
        &mut text,
        from,
        to,
        last_ok.as_ref(),
        catalog.as_ref(),
        &condition,
        &usage,
        cluster_id,
    );
    a.start("data_condition.txt")?;
    a.write(text.as_bytes())?;
    a.finish()
}

#[allow(clippy::too_many_arguments)]
fn data_condition(
    t: &mut String,
    from: NaiveDate,
    to: NaiveDate,
    last_ok: Option<&openlmt_storage::ImportRow>,
    catalog: Option<&openlmt_storage::InventoryCatalogInfo>,
    c: &AuditCondition,
    usage: &[UsageRow],
    cluster_id: &str,
) {
    let _ = writeln!(t, "openlmt audit snapshot");
    let _ = writeln!(t);
    let days = (to - from).num_days() + 1;
    let _ = writeln!(
        t,
        "Period: {from} to {to} (UTC days, both included; {days} {})",
        if days == 1 { "day" } else { "days" }
    );
    let _ = writeln!(t, "openlmt version: {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(t, "Server (clusterId): {cluster_id}");
    match last_ok {
        Some(i) => {
            let _ = writeln!(
                t,
                "Last successful import: id {}, {} import, finished {}",
                i.id,
                i.import_type.as_str(),
                opt(i.finished_at.map(openlmt_domain::time::format_utc))
            );
        }
        None => {
            let _ = writeln!(t, "Last successful import: none");
        }
    }
    match catalog {
        Some(k) => {
            let _ = writeln!(
                t,
                "Catalog version in force: {} (sha256 {}, applied by import {} at {})",
                k.version,
                k.hash,
                k.import_id,
                openlmt_domain::time::format_utc(openlmt_storage::from_ms(k.applied_at))
            );
        }
        None => {
            let _ = writeln!(
                t,
                "Catalog version in force: none (no complete import has discovered software)"
            );
        }
    }
    // PVU table versions, with the days each was used on.
    let mut versions: BTreeMap<&str, (NaiveDate, NaiveDate, usize)> = BTreeMap::new();
    for s in &c.snapshots {
        let e = versions
            .entry(s.pvu_table_version.as_str())
            .or_insert((s.day, s.day, 0));
        e.0 = e.0.min(s.day);
        e.1 = e.1.max(s.day);
        e.2 += 1;
    }
    if versions.is_empty() {
        let _ = writeln!(
            t,
            "PVU Table Version: none used (no licence snapshot in the period)"
        );
    }
    for (v, (first, last, n)) in &versions {
        let _ = writeln!(
            t,
            "PVU Table Version: {v} (used from {first} to {last}; licence snapshots: {n})"
        );
    }
    let days_with_values: std::collections::BTreeSet<NaiveDate> =
        c.snapshots.iter().map(|s| s.day).collect();
    let _ = writeln!(
        t,
        "Licence snapshots in the period: {} on {} of its {days} days; a day without one has no stored value",
        c.snapshots.len(),
        days_with_values.len(),
    );
    let pvu_products = usage.iter().filter(|u| u.metric == "PVU_SUB_CAP").count();
    let _ = writeln!(
        t,
        "Products with values in the period: {} ({} with PVU sub-capacity)",
        usage
            .iter()
            .map(|u| u.product_id.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        pvu_products
    );

    let _ = writeln!(t);
    let _ = writeln!(t, "== Physical servers at the default rate ==");
    match (c.snapshots.last(), &c.last_snapshot) {
        (Some(h), Some(s)) => {
            let count = h.details["physical_servers_at_default_rate"]
                .as_i64()
                .map_or_else(|| "unknown".to_string(), |n| n.to_string());
            let _ = writeln!(
                t,
                "Physical servers at the default 120 PVU per core because the PVU table {} has no row for their processor: {count} (last snapshot of the period: import {}, {})",
                h.pvu_table_version,
                h.id,
                h.day
            );
            for srv in s
                .servers
                .iter()
                .filter(|s| s.kind == "physical" && s.basis["rate"]["basis"]["basis"] == "default")
            {
                let _ = writeln!(
                    t,
                    "  {} (computer {}): {}",
                    srv.name,
                    srv.server_id,
                    processor_label(&srv.basis["rate"])
                );
            }
            let _ = writeln!(
                t,
                "To count them at their real rate, import IBM's current PVU table: `openlmt pvu-table import FILE` or `PUT /api/pvu_table`; the stored days are then recomputed."
            );
        }
        _ => {
            let _ = writeln!(t, "No licence snapshot in the period.");
        }
    }

    let _ = writeln!(t);
    let _ = writeln!(t, "== Computers with missing or stale data ==");
    match last_ok.and_then(|i| i.finished_at) {
        Some(at) => {
            let _ = writeln!(
                t,
                "Computers not scanned for {STALE_SCAN_DAYS} days or more before the last successful import ({}): {}",
                openlmt_domain::time::format_utc(at),
                c.stale.len()
            );
            for s in &c.stale {
                let _ = writeln!(
                    t,
                    "  {} (computer {}): last scan {}",
                    s.name.as_deref().unwrap_or("-"),
                    s.id,
                    s.last_scan
                        .map_or_else(|| "unknown".to_string(), openlmt_domain::time::format_utc)
                );
            }
        }
        None => {
            let _ = writeln!(
                t,
                "Computers not scanned for {STALE_SCAN_DAYS} days or more: not checked (no successful import)"
            );
        }
    }
    if let Some(s) = &c.last_snapshot {
        default_vms(t, s, &c.computer_names);
    }
    let _ = writeln!(
        t,
        "Computers that could not be counted in the period: {}",
        c.uncounted.len()
    );
    for u in &c.uncounted {
        let _ = writeln!(
            t,
            "  {} (computer {}): {}; products {}; from {} to {}",
            c.computer_names
                .get(&u.computer_id)
                .map_or("-", String::as_str),
            u.computer_id,
            u.reason,
            u.products
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            u.first_day,
            u.last_day
        );
    }
    if let Some(s) = &c.last_snapshot {
        let unplaced: Vec<_> = s
            .partitions
            .iter()
            .filter(|p| p.server_key == "-")
            .collect();
        let _ = writeln!(
            t,
            "Computers on no server in the last snapshot of the period (import {}): {}",
            s.id,
            unplaced.len()
        );
        for p in unplaced {
            let _ = writeln!(
                t,
                "  {} (computer {}): {}",
                c.computer_names
                    .get(&p.computer_id)
                    .map_or("-", String::as_str),
                p.computer_id,
                p.reason["unresolved"]
                    .as_str()
                    .unwrap_or("cannot be counted")
            );
        }
    }

    let _ = writeln!(t);
    let _ = writeln!(t, "== Files ==");
    let _ = writeln!(
        t,
        "pvu_sub_capacity.csv: each PVU product's peak day in the period, one row per server, computer and instance; columns: {}",
        PVU_SUB_CAPACITY_COLUMNS.join(", ")
    );
    let _ = writeln!(
        t,
        "  Imported Part Numbers and FlexPoint or Cloud Pak Bundle are empty: openlmt has no part numbers and no bundles."
    );
    let _ = writeln!(
        t,
        "{}: each product's stored daily sub-capacity value; columns: {}; metricName: {}",
        daily_file_name(from, to),
        PRODUCTS_DAILY_COLUMNS.join(", "),
        DAILY_METRICS
            .iter()
            .map(|(code, name)| format!("{name} ({code})"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        t,
        "audit_trail.csv: the classification changes made in the period; columns: {}",
        AUDIT_TRAIL_COLUMNS.join(", ")
    );
    let _ = writeln!(
        t,
        "checksums.sha256: the SHA-256 of every other file (check with `sha256sum -c checksums.sha256`)"
    );
}

/// The VMs counted on their own (`TLM_VM`) in a snapshot.
fn default_vms(t: &mut String, s: &StoredSnapshot, names: &BTreeMap<i64, String>) {
    let vms: Vec<_> = s.servers.iter().filter(|x| x.kind == "default").collect();
    let _ = writeln!(
        t,
        "VMs counted on their own at 120 PVU per core (TLM_VM: no fresh VM-manager data for their host) in the last snapshot of the period (import {}, {}): {}",
        s.id,
        s.day,
        vms.len()
    );
    for v in vms {
        let _ = writeln!(
            t,
            "  {} (computer {}, {}): {} cores",
            v.name,
            v.server_id,
            names.get(&v.server_id).map_or("-", String::as_str),
            opt(v.cores)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_only_when_needed() {
        let mut s = String::new();
        push_csv_cell(&mut s, "plain");
        s.push('|');
        push_csv_cell(&mut s, "a, b");
        s.push('|');
        push_csv_cell(&mut s, "say \"hi\"\nnow");
        assert_eq!(s, "plain|\"a, b\"|\"say \"\"hi\"\"\nnow\"");
    }

    #[test]
    fn processor_labels_name_the_row_or_the_reason() {
        let row = serde_json::json!({"pvu_per_core": 70, "basis": {"basis": "table_row",
            "table_version": "v", "row": "Intel(R) Xeon(R) Multi-core 3400-3699 or 5500-5699",
            "source": null, "processor": "Xeon 5504", "sockets": null, "notes": []}});
        assert_eq!(
            processor_label(&row),
            "Intel(R) Xeon(R) Multi-core 3400-3699 or 5500-5699"
        );
        let tlm = serde_json::json!({"pvu_per_core": 120,
            "basis": {"basis": "default", "reason": "no_vm_manager_data"}});
        assert_eq!(
            processor_label(&tlm),
            "Default 120 PVU per core: no VM-manager data"
        );
        let over = serde_json::json!({"pvu_per_core": 50, "basis": {"basis": "override",
            "replaced": tlm}});
        assert!(processor_label(&over).contains("gave 120"));
        assert_eq!(processor_label(&Value::Null), "");
    }
}
