//! Black-box: SWID evidence from the scanner to the API. `openlmt scan` searches a tree
//! holding IBM's real tags, the package is imported by the real server, and
//! `raw_swid_tags` shows each tag's `persistent_id` and `directory`; a format-1 package
//! (no tag index) still imports, its tags' directories null.

mod common;

use common::{bin, corpus, enc, TestServer};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const DMOE: &str = "ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag";
const PAM: &str = "ibm.com_IBM_Process_Automation_Manager_Open_Edition-9.0.0.swidtag";
const DMOE_PID: &str = "a46f72acb4204f1c8b27228722103341";
const PAM_PID: &str = "3d9d28f19d0f45fda113c07fb481e3ea";

fn put_tag(dir: &Path, file: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(corpus().join("swid-ibm").join(file), dir.join(file)).unwrap();
}

/// A format-1 package derived from the real debian12-vm host, carrying IBM's real DMOE
/// tag flat under `isotag_scan/` and no index (as packages written before format 2).
fn write_format_1_package(dir: &Path, endpoint: &str) {
    let host = corpus().join("hosts/debian12-vm");
    let computer = format!(
        "format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nScan Time: 2026-11-28T12:00:00Z\n"
    );
    let file = std::fs::File::create(dir.join(format!(".{endpoint}.tmp"))).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(computer.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "computer.yml", computer.as_bytes())
        .unwrap();
    tar.append_path_with_name(host.join("cpuinfo"), "cpuinfo")
        .unwrap();
    tar.append_path_with_name(
        corpus().join("swid-ibm").join(DMOE),
        format!("isotag_scan/{DMOE}"),
    )
    .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    std::fs::rename(
        dir.join(format!(".{endpoint}.tmp")),
        dir.join(format!("202611281200-{endpoint}.tar.gz")),
    )
    .unwrap();
}

/// (computer_id, tag_id, persistent_id, directory) of the IBM tags the API lists.
fn ibm_tags(s: &TestServer) -> Vec<(i64, String, Value, Value)> {
    let criteria = r#"{"and":[["regid","=","ibm.com"]]}"#;
    let v = s.json(&format!(
        "/api/sam/raw_swid_tags?criteria={}&columns[]=computer_id&columns[]=tag_id&columns[]=persistent_id&columns[]=directory",
        enc(criteria)
    ));
    let mut out: Vec<_> = v["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .map(|r| {
            (
                r["computer_id"].as_i64().unwrap(),
                r["tag_id"].as_str().unwrap().to_string(),
                r["persistent_id"].clone(),
                r["directory"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| (a.0, &a.1, a.3.to_string()).cmp(&(b.0, &b.1, b.3.to_string())));
    out
}

#[test]
fn scanned_tags_reach_the_api_with_persistent_id_and_directory() {
    // The scanned tree: IBM's tags at two depths, the same tag in a second directory, an
    // excluded directory and a symlink loop.
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    put_tag(&t.join("opt/IBM/dmoe/swidtag"), DMOE);
    put_tag(&t.join("opt/IBM/pam/lib/a/b/META-INF/swidtag"), PAM);
    put_tag(&t.join("srv/dmoe-2/iso-swid"), DMOE);
    put_tag(&t.join("srv/excluded"), PAM);
    std::os::unix::fs::symlink("..", t.join("opt/IBM/loop")).unwrap();

    let s = TestServer::start();
    let out = Command::new(bin())
        .args(["scan", "--output"])
        .arg(s.datasource())
        .arg("--tag-root")
        .arg(t)
        .arg("--tag-exclude")
        .arg(t.join("srv/excluded"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("cut short"), "{stderr}");
    write_format_1_package(&s.datasource(), "format-1-host");

    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    assert_eq!(imp["packages"]["imported"], 2, "{imp}");

    let computers = s.json("/api/sam/v2/computers?columns[]=id&columns[]=endpoint_id");
    let id_of = |endpoint: &str| {
        computers["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["endpoint_id"] == endpoint)
            .and_then(|r| r["id"].as_i64())
            .unwrap_or_else(|| panic!("{endpoint} in {computers}"))
    };
    let old = id_of("format-1-host");
    let scanned = computers["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["endpoint_id"] != "format-1-host")
        .and_then(|r| r["id"].as_i64())
        .unwrap();

    let dir = |rel: &str| Value::from(t.join(rel).to_string_lossy().into_owned());
    let dmoe = format!("ibm.com-{DMOE_PID}-9.0.0");
    let pam = format!("ibm.com-{PAM_PID}-9.0.0");
    let mut want = vec![
        (
            scanned,
            dmoe.clone(),
            Value::from(DMOE_PID),
            dir("opt/IBM/dmoe/swidtag"),
        ),
        (
            scanned,
            dmoe.clone(),
            Value::from(DMOE_PID),
            dir("srv/dmoe-2/iso-swid"),
        ),
        (
            scanned,
            pam,
            Value::from(PAM_PID),
            dir("opt/IBM/pam/lib/a/b/META-INF/swidtag"),
        ),
        // The format-1 package: the persistentId is in the tag, the directory unknown.
        (old, dmoe, Value::from(DMOE_PID), Value::Null),
    ];
    want.sort_by(|a, b| (a.0, &a.1, a.3.to_string()).cmp(&(b.0, &b.1, b.3.to_string())));
    assert_eq!(ibm_tags(&s), want);

    // Both columns filter like any text column.
    let criteria = format!(r#"{{"and":[["persistent_id","=","{PAM_PID}"]]}}"#);
    let v = s.json(&format!(
        "/api/sam/raw_swid_tags?criteria={}",
        enc(&criteria)
    ));
    assert_eq!(v["total"], 1, "{v}");
    let criteria = r#"{"and":[["regid","=","ibm.com"],["directory","=",null]]}"#;
    let v = s.json(&format!(
        "/api/sam/raw_swid_tags?criteria={}",
        enc(criteria)
    ));
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(v["rows"][0]["computer_id"], old);
}

#[test]
fn a_tag_search_out_of_budget_still_writes_a_package_and_says_so() {
    let tree = tempfile::tempdir().unwrap();
    let t = tree.path();
    put_tag(&t.join("a/b/c/d"), DMOE);
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["scan", "--output"])
        .arg(out_dir.path())
        .arg("--tag-root")
        .arg(t)
        .args(["--tag-file-budget", "2"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "warning: the ISO tag search was cut short: the file budget of 2 entries ran out"
        ),
        "{stderr}"
    );
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pkg = openlmt_scanpkg::read_scan_package_file(
        Path::new(&printed),
        &openlmt_scanpkg::Limits::default(),
    )
    .unwrap();
    let search = pkg
        .tag_search
        .expect("a format-2 package says how its tag search went");
    assert!(!search.complete);
    assert!(search
        .cut_short
        .unwrap()
        .contains("file budget of 2 entries"));

    // Relative paths and a zero budget are refused before anything is scanned.
    for bad in [
        &["--tag-root", "relative/dir"][..],
        &["--tag-exclude", "x"][..],
        &["--tag-time-budget", "0"][..],
        &["--tag-file-budget", "0"][..],
    ] {
        let out = Command::new(bin())
            .args(["scan", "--output"])
            .arg(out_dir.path())
            .args(bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid value"), "{bad:?}: {stderr}");
    }
}
