//! Black-box test of the audit snapshot (issue 9, item 7): from the scan
//! packages of `license_api.rs` (the corpus HP DL180 as a KVM host with
//! VM-manager data for the two corpus domains, their Debian guests, a VM
//! with no host data) plus a physical Dell R640 whose Xeon Gold 6244 has no
//! row in the bundled PVU table, through a complete import and an
//! exclusion, to `GET /api/sam/audit_snapshot` and `openlmt audit-snapshot`:
//! the same bytes twice and from both, every file present, the checksums
//! verify, the peak equals `license_usage`, the TLM_VM row, the data
//! condition; 403 without the permission, 400 on bad dates.
//!
//! With `AUDIT_SNAPSHOT_DUMP=DIR` the test leaves the zip's files in DIR
//! (the examples of docs/api.md section 16 come from there).

mod common;

use chrono::Utc;
use common::fleet::{computer_yml, put_catalog, rows, text, write_packages};
use common::{bin, corpus, enc, write_package_members, TestServer};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::Path;
use std::process::Command;

const CLUSTER: &str = "audit-test-cluster";

/// A physical Dell R640 (its real dmidecode: two Xeon Gold 6244) running
/// the product: no row of the bundled PVU table, so 120 by default.
fn r640_package(dir: &Path) {
    let host = corpus().join("hosts/debian12-vm");
    write_package_members(
        dir,
        "202612011200-r640.tar.gz",
        &[
            ("computer.yml".into(), computer_yml("r640")),
            (
                "dmidecode.txt".into(),
                text("dmidecode/dell-r640").into_bytes(),
            ),
            (
                "dpkg-status".into(),
                std::fs::read(host.join("dpkg-status")).unwrap(),
            ),
        ],
    );
}

/// The records of a CSV text (RFC 4180 quoting).
fn csv(t: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rec = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = t.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => rec.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                rec.push(std::mem::take(&mut cell));
                out.push(std::mem::take(&mut rec));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(cell.is_empty() && rec.is_empty(), "unterminated record");
    out
}

/// Header + rows as maps by column name.
fn table(t: &str) -> (Vec<String>, Vec<std::collections::HashMap<String, String>>) {
    let mut recs = csv(t);
    let header = recs.remove(0);
    let rows = recs
        .into_iter()
        .map(|r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            header.iter().cloned().zip(r).collect()
        })
        .collect();
    (header, rows)
}

fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            (f.name().to_string(), s)
        })
        .collect()
}

#[test]
fn the_audit_snapshot_is_one_deterministic_zip_over_http_and_the_cli() {
    let s = TestServer::builder()
        .env("OPENLMT_CLUSTER_ID", CLUSTER)
        .start();
    let token = s.token("admin", common::ADMIN_PASSWORD);
    put_catalog(&s, &token);
    write_packages(&s);
    let ds = s.datasource();
    r640_package(&ds);
    let done = s.import_and_wait();
    assert_eq!(done["status"], "successful", "{done}");

    // An exclusion: on the audit trail, and shown on its instance's row.
    let inst = s.json(&format!(
        "/api/sam/v2/software_instances?token={token}&criteria={}",
        enc(r#"{"and":[["computer_name","=","guest1"],["product_release_guid","=","acme-server-7"]]}"#)
    ));
    let instance_id = rows(&inst)[0]["instance_id"].clone();
    let r = s.put_json_as(
        &token,
        "/api/sam/v2/software_instances",
        &json!([{"instance_id": instance_id, "is_excluded": true,
                 "exclusion_or_suppress_comment": "test VM, not production"}]),
    );
    assert_eq!(r.status(), 207, "{}", r.text().unwrap());

    let today = Utc::now().date_naive().to_string();
    let usage = s.json(&format!(
        "/api/sam/v2/license_usage?token={token}&startdate={today}&enddate={today}"
    ));
    let sub = rows(&usage)
        .into_iter()
        .find(|r| r["metric_code_name"] == "PVU_SUB_CAP")
        .unwrap_or_else(|| panic!("{usage}"));
    let hwm = sub["hwm_quantity"].as_i64().unwrap();
    assert!(hwm > 0);

    // Over HTTP, twice: the same bytes.
    let path = format!("/api/sam/audit_snapshot?startdate={today}&enddate={today}");
    let fetch = || {
        let r = s.get_as(&token, &path);
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "application/zip");
        let cd = r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            cd.contains(&format!("audit_snapshot_{today}_{today}.zip")),
            "{cd}"
        );
        r.bytes().unwrap().to_vec()
    };
    let first = fetch();
    let second = fetch();
    assert_eq!(first, second, "two answers for the same data differ");

    // The CLI on the data directory: the same bytes again.
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("snapshot.zip");
    let o = common::cli(&s.data_dir)
        .args([
            "audit-snapshot",
            "--from",
            &today,
            "--to",
            &today,
            "--output",
            out.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(&s.data_dir)
        .env("OPENLMT_CLUSTER_ID", CLUSTER)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let from_cli = std::fs::read(&out).unwrap();
    assert_eq!(from_cli, first, "the CLI and the API give different bytes");
    let o = common::cli(&s.data_dir)
        .args([
            "audit-snapshot",
            "--from",
            "2026-12-02",
            "--to",
            "2026-12-01",
            "--output",
            out.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    // A mistyped data directory: refused, nothing created.
    let missing = out_dir.path().join("no-such-data");
    let o = Command::new(bin())
        .args([
            "audit-snapshot",
            "--output",
            out.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no openlmt database"));
    assert!(!missing.exists());
    assert_eq!(
        std::fs::read(&out).unwrap(),
        first,
        "a refused run left the file"
    );

    let files = unzip(&first);
    if let Ok(dir) = std::env::var("AUDIT_SNAPSHOT_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, body) in &files {
            std::fs::write(Path::new(&dir).join(name), body).unwrap();
        }
        std::fs::write(Path::new(&dir).join("audit_snapshot.zip"), &first).unwrap();
    }
    let daily_name = format!("products_daily_{today}_{today}.csv");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "pvu_sub_capacity.csv",
            daily_name.as_str(),
            "audit_trail.csv",
            "data_condition.txt",
            "checksums.sha256"
        ]
    );
    let file = |n: &str| {
        files
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, b)| b.as_str())
            .unwrap()
    };

    // The checksums verify, in sha256sum's format.
    let sums = file("checksums.sha256");
    assert_eq!(sums.lines().count(), 4, "{sums}");
    for line in sums.lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        assert_eq!(
            sum,
            hex::encode(Sha256::digest(file(name).as_bytes())),
            "{name}"
        );
    }

    // pvu_sub_capacity.csv: ILMT's columns; the peak equals license_usage.
    let (header, pvu) = table(file("pvu_sub_capacity.csv"));
    assert_eq!(header.len(), 30);
    assert_eq!(header[0], "Row No.");
    assert_eq!(header[29], "Exclusion Comment");
    assert!(!pvu.is_empty());
    for (i, r) in pvu.iter().enumerate() {
        assert_eq!(r["Row No."], (i + 1).to_string());
        assert_eq!(r["Product Name"], "ACME Server");
        assert_eq!(r["Publisher"], "ACME");
        assert_eq!(r["Metric Quantity"], hwm.to_string(), "{r:?}");
        assert_eq!(r["Metric Peak Value Time"], format!("{today} 00:00:00.000"));
        assert_eq!(r["Imported Part Numbers"], "");
        assert_eq!(r["Recalculation Needed"], "No");
    }
    // One value per server, summed: the product's peak.
    let mut per_server = std::collections::BTreeMap::new();
    for r in &pvu {
        per_server.insert(
            r["Server Name"].clone(),
            r["Physical Server PVU Subcapacity"].parse::<i64>().unwrap(),
        );
    }
    assert_eq!(per_server.values().sum::<i64>(), hwm, "{per_server:?}");
    let tlm = pvu
        .iter()
        .find(|r| r["Server Name"].starts_with("TLM_VM_"))
        .unwrap_or_else(|| panic!("no TLM_VM row: {pvu:?}"));
    assert_eq!(tlm["Comment"], "Incomplete virtualization hierarchy");
    assert_eq!(tlm["PVU Per Core"], "120");
    assert_eq!(tlm["Computer"], "lonevm");
    assert_eq!(
        tlm["Physical Server CPU Core Subcapacity"],
        tlm["Partition Cores"]
    );
    let host = pvu
        .iter()
        .find(|r| r["Server Name"] == "dl180" && r["Computer"] == "guest2")
        .unwrap_or_else(|| panic!("no dl180 row: {pvu:?}"));
    assert_eq!(host["PVU Per Core"], "70");
    assert!(host["Processor"].contains("5500-5699"), "{host:?}");
    assert!(host["Processor Brand String"].contains("E5504"), "{host:?}");
    assert_eq!(host["Component"], "ACME Server Engine 7.1");
    assert_eq!(host["Path"], "dpkg");
    assert_eq!(host["Changed PVU Per Core"], "No");
    assert_eq!(host["Unconfirmed Product Instance"], "Yes");
    assert_eq!(host["Computer Deleted"], "No");
    assert_eq!(host["Exclusion Comment"], "");
    let excluded = pvu
        .iter()
        .find(|r| r["Computer"] == "guest1")
        .unwrap_or_else(|| panic!("no guest1 row: {pvu:?}"));
    assert_eq!(excluded["Exclusion Comment"], "test VM, not production");
    let r640 = pvu
        .iter()
        .find(|r| r["Server Name"] == "r640")
        .unwrap_or_else(|| panic!("no r640 row: {pvu:?}"));
    assert_eq!(r640["PVU Per Core"], "120");
    assert!(
        r640["Processor"].starts_with("Default 120 PVU per core: no row"),
        "{r640:?}"
    );

    // The daily values.
    let (header, daily) = table(file(&daily_name));
    assert_eq!(
        header,
        [
            "date",
            "name",
            "id",
            "metricName",
            "metricQuantity",
            "clusterId"
        ]
    );
    assert_eq!(daily.len(), 1, "{daily:?}");
    assert_eq!(daily[0]["date"], today);
    assert_eq!(daily[0]["name"], "ACME Server");
    assert_eq!(daily[0]["id"], sub["product_id"].to_string());
    assert_eq!(daily[0]["metricName"], "PROCESSOR_VALUE_UNIT");
    assert_eq!(daily[0]["metricQuantity"], hwm.to_string());
    assert_eq!(daily[0]["clusterId"], CLUSTER);

    // The audit trail of the period.
    let (header, trail) = table(file("audit_trail.csv"));
    assert_eq!(header[0], "id");
    let ex = trail
        .iter()
        .find(|r| r["action"] == "exclude")
        .unwrap_or_else(|| panic!("{trail:?}"));
    assert_eq!(ex["comment"], "test VM, not production");
    assert_eq!(ex["user_name"], "admin");
    assert_eq!(ex["product_release_guid"], "acme-server-7");

    // The data condition.
    let cond = file("data_condition.txt");
    assert!(
        cond.contains("PVU Table Version: openlmt-bundled-2026-01-09"),
        "{cond}"
    );
    assert!(
        cond.contains("has no row for their processor: 1 "),
        "{cond}"
    );
    assert!(cond.contains("  r640 (computer "), "{cond}");
    assert!(cond.contains("openlmt pvu-table import FILE"), "{cond}");
    assert!(
        cond.contains(&format!("Period: {today} to {today}")),
        "{cond}"
    );
    assert!(
        cond.contains("Catalog version in force: bundled ") && cond.contains("operator test-1"),
        "{cond}"
    );
    assert!(cond.contains("Last successful import: id "), "{cond}");
    assert!(cond.contains("TLM_VM"), "{cond}");

    // Authentication, permissions and bad dates.
    let r = s.http.get(s.url("/api/sam/audit_snapshot")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    s.add_user("viewer", "viewer-password-1", &["view_software"]);
    let t2 = s.token("viewer", "viewer-password-1");
    let r = s.get_as(&t2, "/api/sam/audit_snapshot");
    assert_eq!(r.status(), 403);
    assert!(r.json::<Value>().unwrap()["error"].is_string());
    for bad in [
        "/api/sam/audit_snapshot?startdate=2026-13-01",
        "/api/sam/audit_snapshot?enddate=yesterday",
        "/api/sam/audit_snapshot?startdate=2026-12-02&enddate=2026-12-01",
    ] {
        let r = s.get_as(&token, bad);
        assert_eq!(r.status(), 400, "{bad}");
        assert!(r.json::<Value>().unwrap()["error"].is_string(), "{bad}");
    }
    // Without a period: the 90 days ending today, still a zip.
    let r = s.get_as(&token, "/api/sam/audit_snapshot");
    assert_eq!(r.status(), 200);
    let files = unzip(&r.bytes().unwrap());
    assert!(files
        .iter()
        .any(|(n, _)| n.starts_with("products_daily_") && n.ends_with(&format!("_{today}.csv"))));
}

/// The scale the snapshot must hold: 10,000 computers (2,000 hosts, 7,000
/// VMs placed on them, 1,000 TLM_VM), 20,000 product instances of 10 PVU
/// products, 90 days of values, 10,000 audit-trail entries; written
/// straight into a data directory (the values of an import would take
/// minutes to produce). The peak day and the last day carry their whole
/// hierarchy (the snapshot reads only those); the other days their
/// product values. Every row must be in the snapshot; how long it takes is
/// measured by `bench/license.sh` (a benchmark, not a timed test).
#[test]
fn a_90_day_snapshot_of_10000_computers_holds_every_row() {
    if common::sqlite_only(
        "it writes its 10,000-computer estate into the SQLite file with SQLite's SQL \
         (the PostgreSQL engine's audit reads are in the storage conformance suite)",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let today = Utc::now().date_naive();
    let from = today - chrono::Duration::days(89);
    let peak = from + chrono::Duration::days(45);
    let now_ms = Utc::now().timestamp_millis();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = openlmt_storage::SqliteStore::open_sqlite(&data.join("openlmt.db"))
            .await
            .unwrap();
        let pool = store.pool();
        let basis70 = r#"{"rate":{"pvu_per_core":70,"basis":{"basis":"table_row","table_version":"test-table-1","row":"Intel Xeon Multi-core 5500-5699","source":null,"processor":"Intel Xeon 5540","sockets":null,"notes":[]}},"comment":null}"#;
        let basis120 = r#"{"rate":{"pvu_per_core":120,"basis":{"basis":"default","reason":"no_vm_manager_data"}},"comment":"Incomplete virtualization hierarchy"}"#;
        let statements = [
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                 INSERT INTO computers (id, data_source, endpoint_id, published, name, dns_name,
                   ip_addresses, os, first_seen, last_seen, scan_time, in_inventory,
                   processor_vendor, processor_brand, sockets, cores, threads, is_virtual)
                 SELECT i, 'default', 'ep-' || i, 1, 'computer-' || i, 'computer-' || i || '.example.test',
                   '[\"10.0.' || (i / 250) || '.' || (i % 250) || '\"]', 'Red Hat Enterprise Linux 9.4',
                   {now_ms}, {now_ms}, CASE WHEN i % 100 = 0 THEN {old} ELSE {now_ms} END, 1,
                   'GenuineIntel', 'Intel(R) Xeon(R) CPU E5540 @ 2.53GHz', 2,
                   CASE WHEN i <= 2000 THEN 16 ELSE 4 END, CASE WHEN i <= 2000 THEN 32 ELSE 4 END,
                   i > 2000
                 FROM n",
                old = now_ms - 30 * 86_400_000
            ),
            "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 9)
             INSERT INTO inventory_products (id, publisher, name, release, metric, num)
             SELECT 'prod-' || k, 'ACME', 'ACME Product ' || k, '1.' || k, 'PVU', 1000 + k FROM n"
                .to_string(),
            "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 9)
             INSERT INTO inventory_components (id, name, release, publisher)
             SELECT 'comp-' || k, 'ACME Component ' || k, '1.' || k, 'ACME' FROM n"
                .to_string(),
            format!(
                "INSERT INTO software_instances (id, computer_id, component_id, discovery_path,
                   signature_kind, evidence_source, evidence_name, is_present, start_import_id,
                   discovery_start, product_id, is_charged)
                 SELECT 2 * c.id + j.j, c.id, 'comp-' || ((c.id + 3 * j.j) % 10), 'rpm',
                   'package', 'rpm', 'acme-' || ((c.id + 3 * j.j) % 10), 1, 1, {now_ms},
                   'prod-' || ((c.id + 3 * j.j) % 10), 1
                 FROM computers c, (SELECT 0 AS j UNION ALL SELECT 1) j"
            ),
            format!(
                "WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k < 89)
                 INSERT INTO license_snapshots (id, taken_at, day, published, pvu_table_version, details)
                 SELECT k + 1, {now_ms}, date('{from}', '+' || k || ' days'), 1, 'test-table-1',
                   '{{\"physical_servers_at_default_rate\": 0}}' FROM n"
            ),
            format!(
                "INSERT INTO license_snapshot_servers (snapshot_id, server_key, server_id, name, kind,
                   vendor, model, serial, total_processors, cores, pvu_per_core, capped, custom_pvu, basis)
                 SELECT s.id, 'computer:' || c.id, c.id, c.name, 'physical', 'Dell Inc.',
                   'PowerEdge R640', 'SN' || c.id, 2, 16, 70, 1, NULL, '{basis70}'
                 FROM license_snapshots s, computers c WHERE s.id IN (46, 90) AND c.id <= 2000
                 UNION ALL
                 SELECT s.id, 'tlm_vm:' || c.id, c.id, 'TLM_VM_' || c.id, 'default', NULL, NULL,
                   'TLM_VM_' || c.id, NULL, 4, 120, 0, NULL, '{basis120}'
                 FROM license_snapshots s, computers c WHERE s.id IN (46, 90) AND c.id > 9000"
            ),
            "INSERT INTO license_snapshot_partitions (snapshot_id, computer_id, server_key, cores, reason)
             SELECT s.id, c.id,
               CASE WHEN c.id <= 2000 THEN 'computer:' || c.id
                    WHEN c.id <= 9000 THEN 'computer:' || (((c.id - 2001) % 2000) + 1)
                    ELSE 'tlm_vm:' || c.id END,
               CASE WHEN c.id <= 2000 THEN 16 ELSE 4 END, '{}'
             FROM license_snapshots s, computers c WHERE s.id IN (46, 90)"
                .to_string(),
            "INSERT INTO license_snapshot_instances (snapshot_id, instance_id)
             SELECT s.id, i.id FROM license_snapshots s, software_instances i WHERE s.id IN (46, 90)"
                .to_string(),
            "INSERT INTO license_server_days (day, product_id, metric, server_key, snapshot_id,
               quantity, cores)
             SELECT s.day, i.product_id, m.metric, pt.server_key, s.id,
               SUM(pt.cores) * MAX(sv.pvu_per_core), SUM(pt.cores)
             FROM license_snapshots s
             JOIN license_snapshot_partitions pt ON pt.snapshot_id = s.id
             JOIN license_snapshot_servers sv
               ON sv.snapshot_id = s.id AND sv.server_key = pt.server_key
             JOIN software_instances i ON i.computer_id = pt.computer_id
             CROSS JOIN (SELECT 'PVU_SUB_CAP' AS metric UNION ALL SELECT 'PVU_FULL_CAP') m
             WHERE s.id IN (46, 90)
             GROUP BY s.id, i.product_id, m.metric, pt.server_key"
                .to_string(),
            "INSERT INTO license_product_days (product_id, metric, day, quantity, cores, servers, unresolved)
             SELECT p.id, m.metric, s.day, 100, 2, 1, '[]'
             FROM license_snapshots s, inventory_products p,
               (SELECT 'PVU_SUB_CAP' AS metric UNION ALL SELECT 'PVU_FULL_CAP') m"
                .to_string(),
            "UPDATE license_product_days SET
               quantity = (SELECT SUM(d.quantity) FROM license_server_days d
                           WHERE d.day = license_product_days.day
                             AND d.product_id = license_product_days.product_id
                             AND d.metric = license_product_days.metric),
               cores = (SELECT SUM(d.cores) FROM license_server_days d
                        WHERE d.day = license_product_days.day
                          AND d.product_id = license_product_days.product_id
                          AND d.metric = license_product_days.metric)
             WHERE day IN (SELECT day FROM license_snapshots WHERE id IN (46, 90))"
                .to_string(),
            format!(
                "UPDATE license_product_days
                 SET unresolved = '[{{\"computer_id\": 9999, \"reason\": \"no core count\"}}]'
                 WHERE product_id = 'prod-0' AND day = '{from}'"
            ),
            format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
                 INSERT INTO classification_audit (at, user_name, action, instance_id, computer_id,
                   component_id, product_id, comment, details)
                 SELECT {now_ms} - i * 1000, 'auditor', 'confirm', 2 * i, i, 'comp-' || (i % 10),
                   'prod-' || (i % 10), 'checked, ok', '{{}}' FROM n"
            ),
        ];
        for sql in &statements {
            sqlx::query(sql).execute(pool).await.unwrap();
        }
    });
    let out = tmp.path().join("snapshot.zip");
    let o = Command::new(bin())
        .args([
            "audit-snapshot",
            "--from",
            &from.to_string(),
            "--to",
            &today.to_string(),
            "--output",
            out.to_str().unwrap(),
            "--data-dir",
        ])
        .arg(&data)
        .env("OPENLMT_CLUSTER_ID", CLUSTER)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let files = unzip(&std::fs::read(&out).unwrap());
    let file = |n: &str| {
        files
            .iter()
            .find(|(name, _)| name == n)
            .map(|(_, b)| b.as_str())
            .unwrap_or_else(|| panic!("no {n}"))
    };
    // Every instance, on its product's peak day.
    let (_, pvu) = table(file("pvu_sub_capacity.csv"));
    assert_eq!(pvu.len(), 20_000);
    assert!(pvu
        .iter()
        .all(|r| r["Metric Peak Value Time"] == format!("{peak} 00:00:00.000")));
    assert_eq!(pvu.last().unwrap()["Row No."], "20000");
    let (_, daily) = table(file(&format!("products_daily_{from}_{today}.csv")));
    assert_eq!(daily.len(), 900);
    let (_, trail) = table(file("audit_trail.csv"));
    assert_eq!(trail.len(), 10_000);
    let cond = file("data_condition.txt");
    assert!(
        cond.contains("PVU Table Version: test-table-1 (used from"),
        "{cond}"
    );
    assert!(
        cond.contains("Computers not scanned for 7 days or more before the last successful import")
            || cond.contains("not checked (no successful import)"),
        "{cond}"
    );
    assert!(cond.contains("): 1000\n"), "the TLM_VM count: {cond}");
    assert!(
        cond.contains("computer-9999 (computer 9999): no core count"),
        "{cond}"
    );
    for line in file("checksums.sha256").lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        assert_eq!(sum, hex::encode(Sha256::digest(file(name).as_bytes())));
    }
}
