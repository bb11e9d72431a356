//! The daily re-import (issue 11, item 4): a computer's new scan package whose
//! installed packages and SWID tags are those already published is not parsed for
//! them and writes none; the visible results equal those of a full rewrite.
//!
//! The estate, from the corpus's real Debian 12 host (its cpuinfo, lscpu.json,
//! dpkg-status and 759 SWID tags), on two days:
//! - host-0, host-1, host-2: the host, both days (only the scan time changes);
//! - host-3: the host without 6 consecutive installed packages (stanzas and tags) on
//!   day 1, and without the 6 three places further on day 2: 3 added, 3 removed;
//! - host-4: the host; on day 2 also the two real IBM tags of the corpus (the
//!   bundled catalog's IBM products);
//! - host-5: the host; on day 2 with the cpuinfo of the corpus's RHEL 6.2 VMware
//!   guest (another processor, still a 2-vCPU VM: the capacity changes, the software
//!   and the licence server's size do not);
//! - host-6: only on day 2 (a new computer).
//!
//! With the operator's catalog of the licence tests (a PVU product recognised by
//! `bash`, which every host has), the day-2 licence values exceed day 1's (host-6),
//! so the day's peak (what `license_usage` shows: each server's peak over the day's
//! snapshots) is day 2's.

mod common;

use common::fleet::{put_catalog, rows};
use common::{corpus, sql_rows, write_package_members, TestServer};
use openlmt_storage::LeftoverCounts;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

const DAY1: &str = "202612011200";
const DAY2: &str = "202612021200";
const IBM_TAGS: [&str; 2] = [
    "ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag",
    "ibm.com_IBM_Process_Automation_Manager_Open_Edition-9.0.0.swidtag",
];

fn computer_yml(endpoint: &str, stamp: &str) -> Vec<u8> {
    let t = format!(
        "{}-{}-{}T{}:{}:00Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[8..10],
        &stamp[10..12]
    );
    format!(
        "format_version: 3\nendpointID: {endpoint}\nComputer Name: {endpoint}\nDNS Name: {endpoint}.example.test\nIP Address: [192.0.2.10]\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: {t}\n"
    )
    .into_bytes()
}

/// The host's members: cpuinfo, lscpu.json, dpkg-status without the stanzas
/// `left_out` (indices) and the SWID tags without theirs.
fn host_members(left_out: std::ops::Range<usize>) -> Vec<(String, Vec<u8>)> {
    let host = corpus().join("hosts/debian12-vm");
    let status = std::fs::read_to_string(host.join("dpkg-status")).unwrap();
    let stanzas: Vec<&str> = status
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .collect();
    let mut gone_tags = Vec::new();
    let mut kept = String::new();
    for (i, s) in stanzas.iter().enumerate() {
        if left_out.contains(&i) {
            let field = |f: &str| s.lines().find_map(|l| l.strip_prefix(f)).unwrap().trim();
            assert_ne!(field("Package:"), "bash", "the catalog's package stays");
            // (swid_generator writes `+`, `~` and `:` of a version as `_`.)
            let version = field("Version:").replace(['+', '~', ':'], "_");
            gone_tags.push(format!("-{}-{version}.swidtag", field("Package:")));
        } else {
            kept.push_str(s);
            kept.push_str("\n\n");
        }
    }
    let status = if left_out.is_empty() {
        status.into_bytes()
    } else {
        kept.into_bytes()
    };
    let mut members = vec![
        (
            "cpuinfo".to_string(),
            std::fs::read(host.join("cpuinfo")).unwrap(),
        ),
        (
            "lscpu.json".to_string(),
            std::fs::read(host.join("lscpu.json")).unwrap(),
        ),
        ("dpkg-status".to_string(), status),
    ];
    let mut tags: Vec<String> = std::fs::read_dir(host.join("isotag_scan"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swidtag"))
        .collect();
    tags.sort();
    let mut removed = 0;
    for t in tags {
        if gone_tags.iter().any(|g| t.ends_with(g.as_str())) {
            removed += 1;
            continue;
        }
        let data = std::fs::read(host.join("isotag_scan").join(&t)).unwrap();
        members.push((format!("isotag_scan/{t}"), data));
    }
    assert_eq!(removed, left_out.len(), "each package left out had its tag");
    members
}

/// One day's packages into `dir`, in format 3 (no facts digest stated).
fn write_day(dir: &Path, stamp: &str) {
    write_day_as(dir, stamp, false)
}

/// One day's packages into `dir`; with `stating`, written by the scanner's writer
/// (`openlmt_scanpkg::write_scan_package_to`, the current format: computer.yml states the
/// facts digest and the fact members come last), else by hand in format 3.
fn write_day_as(dir: &Path, stamp: &str, stating: bool) {
    let day2 = stamp == DAY2;
    for n in 0..=6 {
        let endpoint = format!("host-{n}");
        let mut members = match (n, day2) {
            (6, false) => continue,
            (3, false) => host_members(100..106),
            (3, true) => host_members(103..109),
            _ => host_members(0..0),
        };
        if n == 4 && day2 {
            for t in IBM_TAGS {
                members.push((
                    format!("isotag_scan/{t}"),
                    std::fs::read(corpus().join("swid-ibm").join(t)).unwrap(),
                ));
            }
        }
        if n == 5 && day2 {
            members[0].1 = std::fs::read(corpus().join("cpuinfo/rhel-6.2-vmware-2vcpus")).unwrap();
            members.retain(|(m, _)| m != "lscpu.json");
        }
        let name = format!("{stamp}-{endpoint}.tar.gz");
        let yml = computer_yml(&endpoint, stamp);
        if stating {
            let mut c =
                openlmt_scanpkg::ComputerInfo::parse(std::str::from_utf8(&yml).unwrap()).unwrap();
            c.format_version = openlmt_scanpkg::FORMAT_VERSION;
            let mut p = openlmt_scanpkg::BuiltScanPackage::new(c);
            for (m, data) in members {
                p.add_member(m, data);
            }
            let tmp = dir.join(format!(".{name}.tmp"));
            let f = std::fs::File::create(&tmp).unwrap();
            openlmt_scanpkg::write_scan_package_to(&p, f).unwrap();
            std::fs::rename(&tmp, dir.join(&name)).unwrap();
        } else {
            members.insert(0, ("computer.yml".into(), yml));
            write_package_members(dir, &name, &members);
        }
    }
}

/// Every row of a list (one page), as JSON.
fn all(s: &TestServer, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let v = s.json(&format!("{path}{sep}limit=100000"));
    let r = rows(&v);
    assert_eq!(v["total"].as_u64(), Some(r.len() as u64), "{path}");
    r
}

/// What a client sees, without what legitimately differs between a re-import
/// and a full rewrite (row ids, first-seen and discovery-start times, licence
/// server ids); the facts and instances keyed by endpoint; history (instances
/// no longer present) left out.
fn visible(s: &TestServer) -> BTreeMap<String, Vec<String>> {
    let computers = all(s, "/api/sam/v2/computers");
    // Every computer row (a raw-only import's new computers are not in the
    // inventory list, their facts are in the raw lists).
    let endpoint: BTreeMap<i64, String> =
        sql_rows::<(i64, String)>(s, "SELECT id, endpoint_id FROM computers")
            .into_iter()
            .collect();
    let strip = |mut v: Value, keys: &[&str]| {
        let id = v["computer_id"].as_i64().or(v["id"].as_i64());
        // (Licence usage rows name no computer.)
        let e = id.map_or(String::new(), |i| {
            endpoint
                .get(&i)
                .cloned()
                .unwrap_or_else(|| panic!("no computer {i}"))
        });
        let o = v.as_object_mut().unwrap();
        for k in keys {
            o.remove(*k);
        }
        if let Some(h) = o
            .get_mut("computer_hardware")
            .and_then(Value::as_object_mut)
        {
            h.remove("server_id");
            // A VM without a host is counted on its own server, named by its
            // computer id (`TLM_VM_<id>`): named by its endpoint here.
            let own = format!("TLM_VM_{}", id.unwrap_or_default());
            for k in ["server_name", "server_serial_number"] {
                if h.get(k).and_then(Value::as_str) == Some(own.as_str()) {
                    h.insert(k.into(), Value::from(format!("TLM_VM_{e}")));
                }
            }
        }
        format!("{e} {v}")
    };
    let mut out = BTreeMap::new();
    let mut put = |name: &str, mut lines: Vec<String>| {
        lines.sort();
        out.insert(name.to_string(), lines);
    };
    put(
        "computers",
        computers
            .iter()
            .map(|c| strip(c.clone(), &["id", "bigfix_id", "first_seen"]))
            .collect(),
    );
    put(
        "installed packages",
        all(s, "/api/sam/raw_package_facts")
            .into_iter()
            .map(|f| strip(f, &["computer_id"]))
            .collect(),
    );
    put(
        "SWID tags",
        all(s, "/api/sam/raw_swid_tags")
            .into_iter()
            .map(|f| strip(f, &["computer_id"]))
            .collect(),
    );
    put(
        "present software instances",
        all(s, "/api/sam/v2/software_instances")
            .into_iter()
            .filter(|i| i["is_present"] == true)
            .map(|i| {
                strip(
                    i,
                    &[
                        "instance_id",
                        "computer_id",
                        "computer_bigfix_id",
                        "discovery_start",
                        "discovery_end",
                    ],
                )
            })
            .collect(),
    );
    let today = chrono::Utc::now().date_naive();
    put(
        "licence usage",
        all(
            s,
            &format!("/api/sam/v2/license_usage?startdate={today}&enddate={today}"),
        )
        .into_iter()
        .map(|u| strip(u, &["product_id"]))
        .collect(),
    );
    out
}

fn assert_same(a: &BTreeMap<String, Vec<String>>, b: &BTreeMap<String, Vec<String>>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, rows) in a {
        let other = &b[k];
        let only_a: Vec<_> = rows.iter().filter(|r| !other.contains(r)).take(3).collect();
        let only_b: Vec<_> = other.iter().filter(|r| !rows.contains(r)).take(3).collect();
        assert!(
            rows == other,
            "{k}: {} rows against {}; only in the first: {only_a:#?}; only in the second: {only_b:#?}",
            rows.len(),
            other.len()
        );
        assert!(!rows.is_empty(), "{k}: compared nothing");
    }
}

/// The computer ids whose visible facts are those of `import_id`, by endpoint.
fn facts_import_ids(s: &TestServer) -> BTreeMap<String, i64> {
    sql_rows::<(String, i64)>(
        s,
        "SELECT endpoint_id, facts_import_id FROM computers WHERE published = 1",
    )
    .into_iter()
    .collect()
}

fn fact_rows_of(s: &TestServer, import_id: i64) -> u64 {
    let (rt, store) = s.store();
    rt.block_on(store.import_fact_count(import_id)).unwrap()
}

fn log(s: &TestServer, import_id: i64) -> String {
    s.get(&format!("/api/imports/{import_id}/log"))
        .text()
        .unwrap()
}

/// The day-2 packages imported alone into a fresh data directory: the full rewrite.
fn fresh_day2() -> (TestServer, BTreeMap<String, Vec<String>>) {
    fresh_day2_as(false)
}

fn fresh_day2_as(stating: bool) -> (TestServer, BTreeMap<String, Vec<String>>) {
    let s = TestServer::start();
    put_catalog(&s, &s.admin_token);
    write_day_as(&s.datasource(), DAY2, stating);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let v = visible(&s);
    (s, v)
}

#[test]
fn a_reimport_writes_only_what_changed_and_shows_what_a_full_rewrite_shows() {
    let s = TestServer::start();
    put_catalog(&s, &s.admin_token);
    write_day(&s.datasource(), DAY1);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let day1 = visible(&s);
    let day1_rows = fact_rows_of(&s, 1);

    write_day(&s.datasource(), DAY2);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let reimport = visible(&s);
    let (fresh, full) = fresh_day2();
    assert_same(&reimport, &full);
    assert_ne!(
        day1["licence usage"], reimport["licence usage"],
        "day 2 counts more"
    );

    // Only the changed and new computers' facts were written (host-3, -4, -6),
    // exactly as many rows as the full rewrite wrote for them; the others still
    // show the rows of import 1.
    let ids = facts_import_ids(&s);
    let kept: Vec<&str> = ids
        .iter()
        .filter(|(_, i)| **i == 1)
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(kept, ["host-0", "host-1", "host-2", "host-5"], "{ids:?}");
    let written = fact_rows_of(&s, 2);
    let per_host = day1_rows / 6;
    assert!(
        written > 0 && written < 4 * per_host,
        "{written} rows written"
    );
    let (full_rows_for_changed,) = sql_rows::<(i64,)>(
        &fresh,
        "SELECT (SELECT count(*) FROM installed_packages f JOIN computers c ON c.id = f.computer_id
                  WHERE c.endpoint_id IN ('host-3', 'host-4', 'host-6'))
              + (SELECT count(*) FROM swid_facts f JOIN computers c ON c.id = f.computer_id
                  WHERE c.endpoint_id IN ('host-3', 'host-4', 'host-6'))",
    )[0];
    assert_eq!(written, full_rows_for_changed as u64);
    assert!(fact_rows_of(&fresh, 1) > 2 * written);

    // Discovery matched only the computers whose facts changed (the catalog
    // did not): the others kept their instances without being matched again.
    let l = log(&s, 2);
    assert!(
        l.contains("Facts unchanged since the published ones (same digest; not parsed, not written) for 4 computers; facts written for 3"),
        "{l}"
    );
    assert!(l.contains("Software discovery: 3 computers matched"), "{l}");
    assert_eq!(s.leftovers(), LeftoverCounts::default());

    // A third day like the second: nothing written, nothing matched again.
    let ds = s.datasource();
    for f in std::fs::read_dir(&ds).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(DAY2) {
            let data = std::fs::read(&f).unwrap();
            // Same members, a later scan time in the name (the registry records
            // it as another package; computer.yml's time does not matter).
            std::fs::write(ds.join(format!("202612031200{rest}")), data).unwrap();
        }
    }
    assert_eq!(s.import_and_wait()["status"], "successful");
    assert_eq!(fact_rows_of(&s, 3), 0);
    let l = log(&s, 3);
    assert!(l.contains("for 7 computers; facts written for 0"), "{l}");
    assert!(l.contains("Software discovery: 0 computers matched"), "{l}");
    let day3 = visible(&s);
    assert_eq!(day3["installed packages"], full["installed packages"]);
    assert_eq!(
        day3["present software instances"],
        full["present software instances"]
    );
    assert_eq!(s.leftovers(), LeftoverCounts::default());
}

#[test]
fn a_kill_9_before_or_after_the_publish_of_a_reimport_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let s = TestServer::builder().data_dir(&data).start();
    put_catalog(&s, &s.admin_token);
    write_day(&s.datasource(), DAY1);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let day1 = visible(&s);
    drop(s);

    // Killed before the publish: day 1 as it was, and nothing left over.
    let mut s = TestServer::builder()
        .data_dir(&data)
        .hooks("pause=before_publish")
        .start();
    write_day(&s.datasource(), DAY2);
    s.get("/api/import_status.json?run=true");
    s.wait_paused("before_publish", 120);
    s.kill9();
    drop(s);
    let s = TestServer::builder().data_dir(&data).start();
    assert_eq!(s.leftovers(), LeftoverCounts::default());
    assert_same(&visible(&s), &day1);
    drop(s);

    // Killed after the publish, before the superseded facts are deleted: the
    // restart deletes those of the changed computers, never the kept ones.
    let mut s = TestServer::builder()
        .data_dir(&data)
        .hooks("pause=after_publish")
        .start();
    s.get("/api/import_status.json?run=true");
    s.wait_paused("after_publish", 120);
    let pending = s.leftovers();
    assert_eq!(
        pending.superseded_records, 2,
        "host-3 and host-4: {pending:?}"
    );
    s.kill9();
    drop(s);
    let s = TestServer::builder().data_dir(&data).start();
    assert_eq!(s.leftovers(), LeftoverCounts::default());
    let (_fresh, full) = fresh_day2();
    assert_same(&visible(&s), &full);
}

#[test]
fn a_raw_only_reimport_keeps_facts_and_the_next_complete_import_discovers_the_changes() {
    let s = TestServer::start();
    put_catalog(&s, &s.admin_token);
    write_day(&s.datasource(), DAY1);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let day1 = visible(&s);

    // raw_only: new facts for the changed computers, the software inventory untouched.
    write_day(&s.datasource(), DAY2);
    assert_eq!(s.get("/api/import_status.json?run=raw_only").status(), 200);
    assert_eq!(s.wait_idle()["mode"], "idle");
    assert_eq!(s.json("/api/imports/2")["status"], "successful");
    let raw = visible(&s);
    assert_eq!(
        raw["present software instances"],
        day1["present software instances"]
    );
    let (_fresh, full) = fresh_day2();
    assert_eq!(raw["installed packages"], full["installed packages"]);
    assert_eq!(raw["SWID tags"], full["SWID tags"]);
    let kept: Vec<String> = facts_import_ids(&s)
        .into_iter()
        .filter(|(_, i)| *i == 1)
        .map(|(e, _)| e)
        .collect();
    assert_eq!(kept, ["host-0", "host-1", "host-2", "host-5"]);

    // The next complete import, with nothing new to read, discovers what the
    // raw-only one published: the three computers whose facts changed.
    assert_eq!(s.import_and_wait()["status"], "successful");
    let l = log(&s, 3);
    assert!(l.contains("Software discovery: 3 computers matched"), "{l}");
    assert_same(&visible(&s), &full);
    assert_eq!(s.leftovers(), LeftoverCounts::default());
}

/// `package` (a tar.gz) cut inside its first installed-package member: the tar stream
/// ends 100 bytes into `dpkg-status`'s data.
fn cut_in_its_facts(package: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(package)
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar::Archive::new(&tar[..])
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_str() == Some("dpkg-status"))
        .unwrap()
        .raw_file_position();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar[..at as usize + 100]).unwrap();
    gz.finish().unwrap()
}

/// The same estate written by the scanner's writer: each computer.yml states its
/// package's facts digest, and a package stating the published digest is read up to its
/// first fact member only. The results are those of a full rewrite, and a package
/// whose facts members are cut off (after the digest it states) imports as unchanged.
#[test]
fn a_reimport_of_packages_stating_their_digest_shows_what_a_full_rewrite_shows() {
    let s = TestServer::start();
    put_catalog(&s, &s.admin_token);
    write_day_as(&s.datasource(), DAY1, true);
    assert_eq!(s.import_and_wait()["status"], "successful");
    write_day_as(&s.datasource(), DAY2, true);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let (_fresh, full) = fresh_day2_as(true);
    assert_same(&visible(&s), &full);
    let l = log(&s, 2);
    assert!(
        l.contains("Facts unchanged since the published ones (same digest; not parsed, not written) for 4 computers; facts written for 3"),
        "{l}"
    );
    assert!(l.contains("Software discovery: 3 computers matched"), "{l}");
    let ids = facts_import_ids(&s);
    let kept: Vec<&str> = ids
        .iter()
        .filter(|(_, i)| **i == 1)
        .map(|(e, _)| e.as_str())
        .collect();
    assert_eq!(kept, ["host-0", "host-1", "host-2", "host-5"], "{ids:?}");

    // Day 3: the day-2 packages again, host-0's cut inside its facts. A full reading
    // rejects it (the upload does); the import, reading since the published digest that
    // it states, never reaches the cut.
    let ds = s.datasource();
    for f in std::fs::read_dir(&ds).unwrap() {
        let f = f.unwrap().path();
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(DAY2) {
            let mut data = std::fs::read(&f).unwrap();
            if rest == "-host-0.tar.gz" {
                data = cut_in_its_facts(&data);
                let e = openlmt_scanpkg::read_scan_package(
                    openlmt_scanpkg::ArchiveKind::TarGz,
                    std::io::Cursor::new(&data),
                    &openlmt_scanpkg::Limits::default(),
                )
                .unwrap_err();
                assert!(e.to_string().starts_with("corrupt archive"), "{e}");
            }
            std::fs::write(ds.join(format!("202612031200{rest}")), data).unwrap();
        }
    }
    assert_eq!(s.import_and_wait()["status"], "successful");
    let l = log(&s, 3);
    assert!(l.contains("Read 7 packages: 7 written, 0 rejected"), "{l}");
    assert!(l.contains("for 7 computers; facts written for 0"), "{l}");
    assert_eq!(fact_rows_of(&s, 3), 0);
    let day3 = visible(&s);
    assert_eq!(day3["installed packages"], full["installed packages"]);
    assert_eq!(day3["SWID tags"], full["SWID tags"]);
    assert_eq!(s.leftovers(), LeftoverCounts::default());
}
