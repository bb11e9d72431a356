//! Black-box tests of the licence metrics (issue 9): from scan packages (a
//! KVM host whose package carries VM-manager data, its two guests, and a VM
//! with no host data) through a complete import to `license_usage`,
//! `license_usage_per_server` and `license_usage/explain`; exclusion is
//! retroactive; a raw-data-only import computes nothing.
//!
//! The evidence is real: the host is the corpus's HP DL180 (its dmidecode
//! and cpuinfo: Xeon E5504), the guests are the corpus's Debian 12 VM, and
//! the VM-manager scan lists the two real KVM domains of the corpus's
//! `virsh dumpxml` captures (their UUIDs and vCPUs). Each guest package
//! carries its domain's UUID as `product_uuid` (what the scanner reads from
//! /sys/class/dmi/id/product_uuid); the first in the byte-swapped form that
//! VMware and older dmidecode print.

//!
//! With `LICENSE_API_DUMP=DIR` the first test leaves the answers it checks
//! in DIR (the examples of docs/api.md section 15 come from there).

mod common;

/// Keeps an answer for the documentation (see the module doc).
fn dump(name: &str, body: &Value) {
    if let Ok(dir) = std::env::var("LICENSE_API_DUMP") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(Path::new(&dir).join(name), body.to_string()).unwrap();
    }
}

use chrono::Utc;
use common::fleet::{computers, find, put_catalog, rows, write_packages, Fleet};
use common::{enc, TestServer};
use serde_json::{json, Value};
use std::path::Path;

#[test]
fn a_host_with_vm_manager_data_its_guests_and_a_vm_without_give_ilmt_numbers() {
    let s = TestServer::start();
    let token = s.token("admin", common::ADMIN_PASSWORD);
    put_catalog(&s, &token);
    let Fleet { v1, v2 } = write_packages(&s);
    let done = s.import_and_wait();
    assert_eq!(done["status"], "successful", "{done}");

    // The computers as the licence engine sees them.
    let comps = s.json(&format!(
        "/api/sam/v2/computers?token={token}&columns[]=id&columns[]=name&columns[]=cores&columns[]=threads&columns[]=is_virtual"
    ));
    let by_name = |n: &str| -> Value {
        rows(&comps)
            .into_iter()
            .find(|c| c["name"] == n)
            .unwrap_or_else(|| panic!("no computer {n}: {comps}"))
    };
    let host_cores = by_name("dl180")["cores"].as_i64().unwrap();
    assert_eq!(by_name("dl180")["is_virtual"], false);
    let lone_vcpus = by_name("lonevm")["threads"].as_i64().unwrap();
    assert!(host_cores > 0 && lone_vcpus > 0);

    let today = Utc::now().date_naive().to_string();
    let usage = s.json(&format!(
        "/api/sam/v2/license_usage?token={token}&startdate={today}&enddate={today}"
    ));
    dump("license_usage.json", &usage);
    let u = rows(&usage);
    assert_eq!(usage["total"], 2, "{usage}");
    // The Xeon E5504 (model number 5504) is in ILMT's row "Xeon Multi-core
    // 3400-3699 or 5500-5699" = 70; the VM without host data is TLM_VM at 120.
    let sub = find(&u, "PVU_SUB_CAP");
    let expected_sub = (v1 + v2).min(host_cores) * 70 + lone_vcpus * 120;
    assert_eq!(sub["hwm_quantity"], expected_sub, "{usage}");
    assert_eq!(sub["metric_id"], 4);
    assert!(sub["product_id"].as_i64().is_some());
    assert_eq!(sub["product_release_guid"], "acme-server-7");
    assert_eq!(sub["bundle_id"], 0);
    assert_eq!(sub["bundle_type"], -1);
    assert_eq!(sub["hwm_peak_time"], format!("{today}T00:00:00Z"));
    let full = find(&u, "PVU_FULL_CAP");
    assert_eq!(full["hwm_quantity"], host_cores * 70 + lone_vcpus * 120);
    assert_eq!(full["metric_id"], 3);

    // Per server: the host (capped at its cores) and the TLM_VM.
    let per = s.json(&format!(
        "/api/sam/v2/license_usage_per_server?token={token}&date={today}&criteria={}",
        enc(r#"{"and":[["metric_code_name","=","PVU_SUB_CAP"]]}"#)
    ));
    dump("license_usage_per_server.json", &per);
    let p = rows(&per);
    assert_eq!(per["total"], 2, "{per}");
    let host_row = p
        .iter()
        .find(|r| r["server"]["name"] == "dl180")
        .unwrap_or_else(|| panic!("{per}"));
    assert_eq!(host_row["server"]["pvu_per_core"], 70);
    assert_eq!(host_row["server"]["cores"], host_cores);
    assert_eq!(host_row["server"]["type"], 0);
    // The computers on the server: the host's own OS and its two guests.
    assert_eq!(host_row["server"]["active_computers"], 3);
    assert_eq!(host_row["hwm_cores"], (v1 + v2).min(host_cores));
    let tlm = p
        .iter()
        .find(|r| r["server"]["type"] == 1)
        .unwrap_or_else(|| panic!("{per}"));
    let tlm_name = tlm["server"]["name"].as_str().unwrap();
    assert!(tlm_name.starts_with("TLM_VM_"), "{tlm}");
    assert_eq!(tlm["server"]["pvu_per_core"], 120);
    assert_eq!(tlm["hwm_quantity"], lone_vcpus * 120);
    assert_eq!(tlm["server"]["hardware_serial_number"], tlm_name);
    let sum: i64 = p.iter().map(|r| r["hwm_quantity"].as_i64().unwrap()).sum();
    assert_eq!(
        sum, expected_sub,
        "the product total is the sum of its servers"
    );

    // Explain: each server with its rate basis and the VMs that count.
    let product_id = sub["product_id"].as_i64().unwrap();
    let ex = s.json(&format!(
        "/api/sam/v2/license_usage/explain?token={token}&product_id={product_id}&metric_id=4&date={today}"
    ));
    dump("explain.json", &ex);
    dump(
        "computers.json",
        &s.json(&format!(
            "/api/sam/v2/computers?token={token}&columns[]=id&columns[]=name&columns[]=is_managed_by_vm_manager&columns[]=computer_hardware.computer_type&columns[]=computer_hardware.server_id&columns[]=computer_hardware.server_name&columns[]=computer_hardware.server_type&columns[]=computer_hardware.server_cores&columns[]=computer_hardware.partition_cores&columns[]=computer_hardware.pvu_per_core&columns[]=computer_hardware.default_pvu_value&columns[]=computer_hardware.custom_pvu_per_core"
        )),
    );
    dump(
        "pvu_table.json",
        &s.get_as(&token, "/api/pvu_table").json().unwrap(),
    );
    assert_eq!(ex["quantity"], expected_sub, "{ex}");
    let servers = ex["servers"].as_array().unwrap();
    let host = servers
        .iter()
        .find(|x| x["server"]["name"] == "dl180")
        .unwrap();
    let members = host["explanation"]["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{host}");
    assert!(members
        .iter()
        .all(|m| m["role"] == "vm_on_host" && m["vcpus_from"] == "vm_manager"));
    assert!(
        members
            .iter()
            .any(|m| m["why"].as_str().unwrap().contains("byte-swapped")),
        "{host}"
    );
    assert!(
        host["server"]["basis"]["rate"]
            .to_string()
            .contains("5500-5699"),
        "{host}"
    );
    let lone_x = servers.iter().find(|x| x["server"]["type"] == 1).unwrap();
    assert_eq!(
        lone_x["explanation"]["comment"],
        "Incomplete virtualization hierarchy"
    );

    // The software instances show where the hierarchy counts their
    // computer, as the computers list does (docs/api.md §13.4, §15.7): the
    // guests on the host at its rate, the lone VM on its TLM_VM.
    let placed = s.json(&format!(
        "/api/sam/v2/software_instances?token={token}&columns[]=instance_id&columns[]=computer_name\
         &columns[]=computer_hardware.computer_type&columns[]=computer_hardware.server_id\
         &columns[]=computer_hardware.server_name&columns[]=computer_hardware.server_type\
         &columns[]=computer_hardware.server_cores&columns[]=computer_hardware.pvu_per_core\
         &columns[]=computer_hardware.default_pvu_value&columns[]=computer_hardware.custom_pvu_per_core"
    ));
    let placed_rows = rows(&placed);
    let of = |name: &str| -> Vec<Value> {
        let v: Vec<Value> = placed_rows
            .iter()
            .filter(|r| r["computer_name"] == name)
            .cloned()
            .collect();
        assert!(!v.is_empty(), "no instance on {name}: {placed}");
        v
    };
    for r in of("guest1") {
        let hw = &r["computer_hardware"];
        assert_eq!(hw["server_name"], "dl180", "{r}");
        assert_eq!(hw["server_type"], 0, "{r}");
        assert_eq!(hw["pvu_per_core"], 70, "{r}");
        assert_eq!(hw["server_cores"], host_cores, "{r}");
        assert_eq!(hw["computer_type"], 1, "{r}");
        assert!(hw["server_id"].is_i64(), "{r}");
        assert_eq!(hw["custom_pvu_per_core"], Value::Null, "{r}");
    }
    for r in of("lonevm") {
        let hw = &r["computer_hardware"];
        assert_eq!(hw["server_type"], 1, "{r}");
        assert_eq!(hw["pvu_per_core"], 120, "{r}");
        assert_eq!(hw["server_name"], tlm_name, "{r}");
    }
    // Filtered and sorted by a placement column: the key query joins the
    // placement then (and only then).
    let on_host = s.json(&format!(
        "/api/sam/v2/software_instances?token={token}&columns[]=computer_name\
         &order=-computer_hardware.pvu_per_core&limit=50&offset=0&criteria={}",
        enc(r#"{"and":[["computer_hardware.server_name","=","dl180"]]}"#)
    ));
    let host_names: std::collections::BTreeSet<String> = rows(&on_host)
        .iter()
        .map(|r| r["computer_name"].as_str().unwrap().to_string())
        .collect();
    assert!(
        host_names.contains("guest1")
            && host_names.contains("guest2")
            && !host_names.contains("lonevm"),
        "{on_host}"
    );
    let tlm_type = s.json(&format!(
        "/api/sam/v2/software_instances?token={token}&columns[]=computer_name&criteria={}",
        enc(r#"{"and":[["computer_hardware.server_type","=",1]]}"#)
    ));
    assert!(
        rows(&tlm_type)
            .iter()
            .all(|r| r["computer_name"] == "lonevm")
            && tlm_type["total"].as_i64().unwrap() > 0,
        "{tlm_type}"
    );

    // Excluding the product on the lone VM is retroactive: the day is
    // recomputed without it.
    let inst = s.json(&format!(
        "/api/sam/v2/software_instances?token={token}&criteria={}",
        enc(r#"{"and":[["computer_name","=","lonevm"],["product_release_guid","=","acme-server-7"]]}"#)
    ));
    let instance_id = rows(&inst)[0]["instance_id"].clone();
    let r = s.put_json_as(
        &token,
        "/api/sam/v2/software_instances",
        &json!([{"instance_id": instance_id, "is_excluded": true,
                 "exclusion_or_suppress_comment": "test VM, not production"}]),
    );
    assert_eq!(r.status(), 207, "{}", r.text().unwrap());
    let again = s.json(&format!(
        "/api/sam/v2/license_usage?token={token}&startdate={today}&enddate={today}"
    ));
    assert_eq!(
        find(&rows(&again), "PVU_SUB_CAP")["hwm_quantity"],
        (v1 + v2).min(host_cores) * 70,
        "{again}"
    );

    // A user without view_license_metrics is refused.
    s.add_user("viewer", "viewer-password-1", &["view_software"]);
    let t2 = s.token("viewer", "viewer-password-1");
    let r = s.get_as(&t2, "/api/sam/v2/license_usage");
    assert_eq!(r.status(), 403);
    let body: Value = r.json().unwrap();
    assert!(body["error"].is_string());

    // Bad dates are client errors.
    let r = s.get_as(&token, "/api/sam/v2/license_usage?startdate=2026-13-01");
    assert_eq!(r.status(), 400);
    let r = s.get_as(
        &token,
        "/api/sam/v2/license_usage?startdate=2026-12-02&enddate=2026-12-01",
    );
    assert_eq!(r.status(), 400);
}

/// The shared PVU reference files, as an operator would import them.
fn shared_pvu(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/pvu")
        .join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn the_pvu_table_and_rate_overrides_apply_from_the_next_complete_import() {
    let s = TestServer::start();
    let token = s.token("admin", common::ADMIN_PASSWORD);
    put_catalog(&s, &token);
    write_packages(&s);
    let today = Utc::now().date_naive().to_string();

    // A raw-data-only import makes the computers visible and computes no
    // licence value (ILMT's rule: only complete imports aggregate).
    let r = s.get_as(&token, "/api/import_status.json?run=raw_only");
    assert_eq!(r.status(), 200);
    s.wait_idle();
    let usage = s.json(&format!(
        "/api/sam/v2/license_usage?token={token}&startdate={today}&enddate={today}"
    ));
    assert_eq!(usage["total"], 0, "{usage}");
    let table: Value = s.get_as(&token, "/api/pvu_table").json().unwrap();
    assert_eq!(table["in_force"], "bundled", "{table}");
    assert!(table["last_snapshot"].is_null());
    assert!(table["advice"]
        .as_str()
        .unwrap()
        .contains("pvu-table import"));

    // A table with a broken cell (derived from the real x86 file) is
    // refused whole, every error with its line and column; nothing changes.
    let x86 = shared_pvu("pvu_table_x86.csv");
    let broken = x86.replacen(",70,", ",seventy,", 1);
    let r = s.put_as_text(&token, "/api/pvu_table?version=2026-12-04", &broken);
    assert_eq!(r.status(), 400);
    let body: Value = r.json().unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("refused"),
        "{body}"
    );
    let e = &body["errors"][0];
    assert!(
        e["line"].as_u64().unwrap() >= 2 && e["column"].is_string(),
        "{body}"
    );
    let r = s.put_as_text(&token, "/api/pvu_table", &x86);
    assert_eq!(r.status(), 400, "the version is required");
    let table: Value = s.get_as(&token, "/api/pvu_table").json().unwrap();
    assert_eq!(table["in_force"], "bundled");

    // The CLI refuses the same file naming file and line.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("x86.csv");
    std::fs::write(&bad, &broken).unwrap();
    let out = common::cli(&s.data_dir)
        .args([
            "pvu-table",
            "import",
            bad.to_str().unwrap(),
            "--version",
            "v1",
        ])
        .arg("--data-dir")
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x86.csv:") && err.contains("nothing was changed"),
        "{err}"
    );

    // The first complete import counts the host at the table's 70; an
    // override for it then applies from the next one (the day's value is
    // the larger of the two).
    assert_eq!(s.import_and_wait()["status"], "successful");
    let comps = computers(&s, &token);
    let (host_id, host_cores, _) = comps["dl180"];
    let r = s.put_json_as(
        &token,
        "/api/pvu_overrides",
        &json!([{"server_id": host_id, "pvu_per_core": 100, "comment": "contract rate"}]),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let r = s.put_json_as(
        &token,
        "/api/pvu_overrides",
        &json!([{"server_id": host_id, "pvu_per_core": 100}]),
    );
    assert_eq!(r.status(), 400, "a comment is required");
    let r = s.put_json_as(
        &token,
        "/api/pvu_overrides",
        &json!([{"server_id": 999_999, "pvu_per_core": 100, "comment": "x"}]),
    );
    assert_eq!(r.status(), 404);

    assert_eq!(s.import_and_wait()["status"], "successful");
    let per = s.json(&format!(
        "/api/sam/v2/license_usage_per_server?token={token}&date={today}&criteria={}",
        enc(r#"{"and":[["metric_id","=","3"],["server.type","=","0"]]}"#)
    ));
    let host = &rows(&per)[0];
    assert_eq!(host["server"]["pvu_per_core"], 100, "{per}");
    assert_eq!(host["hwm_quantity"], host_cores * 100);
    let ex = s.json(&format!(
        "/api/sam/v2/license_usage/explain?token={token}&product_id={}&metric_id=PVU_FULL_CAP&date={today}",
        host["product_id"]
    ));
    let basis = ex["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["server"]["type"] == 0)
        .unwrap()["server"]["basis"]["rate"]
        .to_string();
    assert!(
        basis.contains("override") && basis.contains("5500-5699"),
        "{basis}"
    );
    let table: Value = s.get_as(&token, "/api/pvu_table").json().unwrap();
    assert_eq!(table["last_snapshot"]["physical_servers"], 1, "{table}");
    assert_eq!(
        table["last_snapshot"]["physical_servers_at_default_rate"],
        0
    );

    // A valid operator's table is stored and named by the next snapshot.
    let r = s.put_json_as(
        &token,
        "/api/pvu_table",
        &json!({"version": "2026-12-04", "tables": [shared_pvu("pvu_table.csv"), x86]}),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    let table: Value = r.json().unwrap();
    assert_eq!(table["in_force"], "operator");
    assert_eq!(table["in_force_version"], "2026-12-04");
    assert_eq!(s.import_and_wait()["status"], "successful");
    let table: Value = s.get_as(&token, "/api/pvu_table").json().unwrap();
    assert_eq!(table["last_snapshot"]["pvu_table_version"], "2026-12-04");
    let r = s.delete_as(&token, "/api/pvu_overrides?server_id=abc");
    assert_eq!(r.status(), 400);
    let r = s.delete_as(&token, &format!("/api/pvu_overrides?server_id={host_id}"));
    assert_eq!(r.status(), 200);
    let r = s.delete_as(&token, "/api/pvu_table");
    assert_eq!(r.status(), 200);
    let r = s.delete_as(&token, "/api/pvu_table");
    assert_eq!(r.status(), 404);
}
