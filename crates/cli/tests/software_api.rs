//! Black-box tests of the software inventory (issue 8): discovery in
//! complete imports on the real corpus host and IBM's real SWID tags, the
//! instances API, raw-data-only imports, history, classification (assign,
//! confirm, exclude, suppress, simulate, a GET body sent back unchanged),
//! the audit trail, and kill -9 during discovery.

mod common;

use common::{corpus, enc, TestServer};
use serde_json::{json, Value};
use std::path::Path;

/// A real scan package of the corpus's Debian 12 host with IBM's two real
/// SWID tags under `isotag_scan/`; `drop_packages` removes those dpkg
/// paragraphs (a package uninstalled since).
fn package_with_ibm_tags(dir: &Path, stamp: &str, endpoint: &str, drop_packages: &[&str]) {
    let host = corpus().join("hosts/debian12-vm");
    let computer = format!(
        "format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nDNS Name: {endpoint}.example.test\nIP Address: [192.0.2.10]\nOperating System: Debian GNU/Linux 12 (bookworm)\nScan Time: 2026-11-28T12:00:00Z\n"
    );
    let status = std::fs::read_to_string(host.join("dpkg-status")).unwrap();
    let status: String = status
        .split("\n\n")
        .filter(|p| {
            !drop_packages
                .iter()
                .any(|d| p.lines().any(|l| l == format!("Package: {d}")))
        })
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut members: Vec<(String, Vec<u8>)> = vec![
        ("computer.yml".into(), computer.into_bytes()),
        ("dpkg-status".into(), status.into_bytes()),
        (
            "cpuinfo".into(),
            std::fs::read(host.join("cpuinfo")).unwrap(),
        ),
    ];
    for e in std::fs::read_dir(corpus().join("swid-ibm")).unwrap() {
        let e = e.unwrap();
        members.push((
            format!("isotag_scan/{}", e.file_name().to_string_lossy()),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{stamp}-{endpoint}.tmp"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tmp).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (name, data) in &members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    std::fs::rename(&tmp, dir.join(format!("{stamp}-{endpoint}.tar.gz"))).unwrap();
}

fn instances(s: &TestServer, criteria: &str) -> Vec<Value> {
    let v = s.json(&format!(
        "/api/sam/v2/software_instances?limit=1000&criteria={}",
        enc(criteria)
    ));
    v["rows"].as_array().unwrap().clone()
}

fn one(rows: &[Value], component: &str) -> Value {
    let found: Vec<&Value> = rows
        .iter()
        .filter(|r| r["discoverable_guid"] == component)
        .collect();
    assert_eq!(found.len(), 1, "{component}: {rows:?}");
    found[0].clone()
}

fn put(s: &TestServer, query: &str, body: &Value) -> (u16, Value) {
    let token = s.token("admin", common::ADMIN_PASSWORD);
    let r = s.put_json_as(
        &token,
        &format!("/api/sam/v2/software_instances{query}"),
        body,
    );
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

#[test]
fn a_complete_import_discovers_bundles_and_keeps_history() {
    let s = TestServer::start();
    let ds = s.datasource();
    package_with_ibm_tags(&ds, "202611281200", "deb1", &[]);
    assert_eq!(s.import_and_wait()["status"], "successful");

    let all = instances(&s, r#"{"and":[["computer_name","=","deb1"]]}"#);
    // The corpus host's real packages the bundled catalog knows, and IBM's two tags.
    let bash = one(&all, "bash");
    assert_eq!(bash["product_name"], "GNU Bash");
    assert_eq!(bash["discovery_path"], "dpkg");
    assert_eq!(bash["evidence_source"], "dpkg");
    assert_eq!(bash["evidence_name"], "bash");
    assert_eq!(bash["component_detailed_version"], "5.2.15-2+b8");
    assert_eq!(bash["is_present"], true);
    assert_eq!(bash["bundle_id"], 0);
    assert_eq!(bash["metric_id"], Value::Null);
    assert_eq!(bash["bundling_evidence"]["bundling_rule"], 2);
    assert_eq!(
        bash["bundling_evidence"]["bundling_rule_name"],
        "Single Bundling Option"
    );
    assert!(bash["discovery_start"].as_str().unwrap().ends_with('Z'));
    assert_eq!(bash["discovery_end"], Value::Null);
    let dm = one(&all, "ibm-decision-manager-open-edition");
    assert_eq!(dm["product_publisher_name"], "IBM");
    assert_eq!(dm["product_name"], "IBM Decision Manager Open Edition");
    assert_eq!(dm["evidence_source"], "swid");
    assert_eq!(dm["component_detailed_version"], "9.0.0");
    assert!(
        dm["signature_kind"].as_str().unwrap().starts_with("swid_"),
        "{dm}"
    );
    one(&all, "ibm-process-automation-manager-open-edition");
    assert!(all.len() >= 5, "{all:?}");
    let bash_id = bash["instance_id"].clone();

    // The catalog views.
    let comps = s.json("/api/sam/v2/software_components?limit=1000");
    assert!(comps["rows"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["guid"] == "ibm-mq-server-9.2" && c["is_ibm"] == true));
    let opts = s.json(
        "/api/sam/v2/bundling_options?criteria=%7B%22and%22%3A%5B%5B%22component_guid%22%2C%22%3D%22%2C%22bash%22%5D%5D%7D",
    );
    assert_eq!(opts["total"], 1, "{opts}");
    assert_eq!(
        opts["rows"][0]["is_charged"], true,
        "the bundled relation is charged (the default)"
    );
    // Columns, a dotted one nested.
    let v = s.json(&format!(
        "/api/sam/v2/software_instances?columns[]=instance_id&columns[]=bundling_evidence.bundling_rule&criteria={}",
        enc(&format!(r#"{{"and":[["instance_id","=",{bash_id}]]}}"#))
    ));
    assert_eq!(
        v["rows"][0],
        json!({"instance_id": bash_id, "bundling_evidence": {"bundling_rule": 2}})
    );

    // A raw-data-only import of a newer scan without bash leaves the software alone.
    package_with_ibm_tags(&ds, "202611291200", "deb1", &["bash"]);
    let token = s.token("admin", common::ADMIN_PASSWORD);
    let r = s.get_as(&token, "/api/import_status.json?run=raw_only");
    assert_eq!(r.status(), 200);
    let row = s.wait_idle();
    assert_eq!(row["last_status"], "successful", "{row}");
    let after = instances(&s, r#"{"and":[["discoverable_guid","=","bash"]]}"#);
    assert_eq!(
        after[0]["is_present"], true,
        "raw_only must not touch the inventory"
    );

    // The next complete import re-discovers deb1 (its facts changed): bash is history.
    assert_eq!(s.import_and_wait()["status"], "successful");
    let after = instances(&s, r#"{"and":[["discoverable_guid","=","bash"]]}"#);
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["instance_id"], bash_id);
    assert_eq!(after[0]["is_present"], false);
    assert!(after[0]["discovery_end"].as_str().unwrap().ends_with('Z'));
    let present = instances(&s, r#"{"and":[["is_present","=",true]]}"#);
    assert_eq!(present.len(), all.len() - 1);
    // Ids are stable across imports.
    let dm2 = one(&present, "ibm-decision-manager-open-edition");
    assert_eq!(dm2["instance_id"], dm["instance_id"]);

    // As SecOps-style clients send it: every parameter, the token too, in a
    // JSON body of a GET; and as datactl does: single-quoted criteria.
    let r = s
        .http
        .get(s.url("/api/sam/v2/software_instances"))
        .header("Content-Type", "application/json")
        .body(
            json!({
                "token": s.admin_token,
                "columns": ["instance_id", "product_name"],
                "criteria": r#"{"and":[["discoverable_guid","=","ibm-decision-manager-open-edition"]]}"#,
            })
            .to_string(),
        )
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["total"], 1, "{v}");
    assert_eq!(
        v["rows"][0]["product_name"],
        "IBM Decision Manager Open Edition"
    );
    let v = s.json(&format!(
        "/api/sam/v2/software_instances?columns[]=instance_id&criteria={}",
        enc(&format!(
            "{{'and':[['is_present','=','1'],['computer_bigfix_id','=','{}']]}}",
            present[0]["computer_bigfix_id"]
        ))
    ));
    assert_eq!(v["total"].as_i64(), Some(present.len() as i64), "{v}");

    // Permissions.
    s.add_user("viewer", "viewer-password", &["view_endpoints"]);
    let t = s.token("viewer", "viewer-password");
    let r = s.get_as(&t, "/api/sam/v2/software_instances");
    assert_eq!(r.status(), 403);
    assert!(r.json::<Value>().unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("view_software"));
}

#[test]
fn classification_simulates_applies_audits_and_survives_imports() {
    let s = TestServer::start();
    let ds = s.datasource();
    package_with_ibm_tags(&ds, "202611281200", "deb1", &[]);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let rows = instances(
        &s,
        r#"{"and":[["discoverable_guid","=","ibm-decision-manager-open-edition"]]}"#,
    );
    let dm = rows[0].clone();
    let id = dm["instance_id"].as_i64().unwrap();

    // A GET's answer sent back unchanged modifies nothing.
    let whole = s.json("/api/sam/v2/software_instances?limit=150");
    let (status, v) = put(&s, "?verbose=true", &whole);
    assert_eq!(status, 207, "{v}");
    assert_eq!(
        v["summary"]["unmodified_instances"],
        whole["rows"].as_array().unwrap().len()
    );
    assert_eq!(v["summary"]["valid_instances"], json!({}));
    assert_eq!(v["summary"]["invalid_instances"], json!({}));

    // Excluding needs a comment; simulate reports without changing anything.
    let exclude = json!([{"instance_id": id, "is_excluded": true}]);
    let (_, v) = put(&s, "", &exclude);
    assert_eq!(
        v["summary"]["invalid_instances"]["exclusion_or_suppress_comment is required to exclude"],
        1,
        "{v}"
    );
    let exclude = json!({"rows": [
        {"instance_id": id.to_string(), "is_excluded": "1", "exclusion_or_suppress_comment": "test system, licence allows it"},
        {"instance_id": 999999, "is_confirmed": true},
    ]});
    let (status, v) = put(&s, "?simulate=true&verbose=true", &exclude);
    assert_eq!(status, 207);
    assert_eq!(v["summary"]["valid_instances"]["Excluded"], 1, "{v}");
    assert_eq!(v["summary"]["invalid_instances"]["instance not found"], 1);
    assert_eq!(v["rows"][0]["result"], "modified");
    assert_eq!(v["simulate"], true);
    let now = instances(&s, &format!(r#"{{"and":[["instance_id","=",{id}]]}}"#));
    assert_eq!(now[0]["is_excluded"], false, "simulate changed nothing");
    let audit = s.json("/api/sam/v2/classification_audit");
    assert_eq!(audit["total"], 0);

    // For real: excluded and confirmed, then the audit trail says who and why.
    let (_, v) = put(&s, "", &exclude);
    assert_eq!(v["summary"]["valid_instances"]["Excluded"], 1, "{v}");
    let (_, v) = put(&s, "", &json!([{"instance_id": id, "is_confirmed": true}]));
    assert_eq!(v["summary"]["valid_instances"]["Confirmed"], 1, "{v}");
    let now = instances(&s, &format!(r#"{{"and":[["instance_id","=",{id}]]}}"#));
    assert_eq!(now[0]["is_excluded"], true);
    assert_eq!(now[0]["is_confirmed"], true);
    assert_eq!(
        now[0]["exclusion_or_suppress_comment"],
        "test system, licence allows it"
    );
    let audit = s.json("/api/sam/v2/classification_audit?order=id");
    let actions: Vec<&str> = audit["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["exclude", "confirm"]);
    assert_eq!(audit["rows"][0]["user_name"], "admin");
    assert_eq!(
        audit["rows"][0]["comment"],
        "test system, licence allows it"
    );

    // A later complete import (new facts for the computer) keeps the
    // exclusion and the confirmation.
    package_with_ibm_tags(&ds, "202611291200", "deb1", &["vim"]);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let now = instances(&s, &format!(r#"{{"and":[["instance_id","=",{id}]]}}"#));
    assert_eq!(now[0]["is_excluded"], true);
    assert_eq!(now[0]["is_confirmed"], true);
    assert_eq!(now[0]["is_present"], true);

    // Including it back makes the assignment unconfirmed (ILMT's rule).
    let (_, v) = put(&s, "", &json!([{"instance_id": id, "is_excluded": false}]));
    assert_eq!(v["summary"]["valid_instances"]["Included"], 1, "{v}");
    let now = instances(&s, &format!(r#"{{"and":[["instance_id","=",{id}]]}}"#));
    assert_eq!(now[0]["is_excluded"], false);
    assert_eq!(now[0]["is_confirmed"], false);
    let audit = s.json("/api/sam/v2/classification_audit?order=-id&limit=1");
    assert_eq!(audit["rows"][0]["action"], "include");
    assert_eq!(
        audit["rows"][0]["details"]["unconfirmed_instances"],
        json!([id]),
        "the audit names the instances the include unconfirmed"
    );

    // Assigning to another product is manual (rule 1); a wrong metric is refused.
    let (_, v) = put(
        &s,
        "",
        &json!([{"instance_id": id, "product_release_guid": "ibm-mq-9.2", "metric_id": "VPC"}]),
    );
    assert_eq!(
        v["summary"]["invalid_instances"]["metric_id does not match the product's metric"], 1,
        "{v}"
    );
    let (_, v) = put(
        &s,
        "",
        &json!([{"instance_id": id, "product_release_guid": "ibm-mq-9.2", "metric_id": "PVU", "is_charged": true}]),
    );
    assert_eq!(v["summary"]["valid_instances"]["Bundled"], 1, "{v}");
    let now = instances(&s, &format!(r#"{{"and":[["instance_id","=",{id}]]}}"#));
    assert_eq!(now[0]["product_release_guid"], "ibm-mq-9.2");
    assert_eq!(now[0]["bundling_evidence"]["bundling_rule"], 1);

    // Suppression of the component, and too many rows.
    let (_, v) = put(
        &s,
        "",
        &json!([{"computer_bigfix_id": now[0]["computer_bigfix_id"], "discoverable_guid": "bash", "is_suppressed": true, "exclusion_or_suppress_comment": "false discovery"}]),
    );
    assert_eq!(v["summary"]["valid_instances"]["Suppressed"], 1, "{v}");
    let bash = instances(&s, r#"{"and":[["discoverable_guid","=","bash"]]}"#);
    assert_eq!(bash[0]["is_suppressed"], true);
    let many: Vec<Value> = (0..151).map(|i| json!({"instance_id": i})).collect();
    let (status, v) = put(&s, "", &Value::Array(many));
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("at most 150"));
    let (status, v) = put(&s, "", &json!("nope"));
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("array of rows"));
}

#[test]
fn kill_9_during_discovery_leaves_the_previous_inventory_intact() {
    let mut s = TestServer::builder()
        .hooks("pause=discover_chunk*2")
        .start();
    let ds = s.datasource();
    package_with_ibm_tags(&ds, "202611281200", "deb1", &[]);
    // The first import pauses at its first staged chunk: release it.
    let token = s.token("admin", common::ADMIN_PASSWORD);
    s.get_as(&token, "/api/import_status.json?run=true");
    s.wait_paused("discover_chunk", 60);
    s.release("discover_chunk");
    let row = s.wait_idle();
    assert_eq!(row["last_status"], "successful", "{row}");
    let before = s.json("/api/sam/v2/software_instances?limit=1000");

    // A second complete import with deb1 changed and a new computer: killed
    // after discovery staged its chunk, before the publish.
    package_with_ibm_tags(&ds, "202611291200", "deb1", &["bash"]);
    package_with_ibm_tags(&ds, "202611291200", "deb2", &[]);
    s.get_as(&token, "/api/import_status.json?run=true");
    s.wait_paused("discover_chunk", 60);
    s.kill9();
    s.restart();
    let after = s.json("/api/sam/v2/software_instances?limit=1000");
    assert_eq!(
        after, before,
        "nothing of the unfinished discovery is visible"
    );
    assert_eq!(s.leftovers(), openlmt_storage::LeftoverCounts::default());
    let (staged,) = common::sql_rows::<(i64,)>(
        &s,
        "SELECT (SELECT COUNT(*) FROM stage_instances) + (SELECT COUNT(*) FROM stage_discovery)",
    )[0];
    assert_eq!(staged, 0, "the restart deleted the staged discovery");
}

/// The instance list writes rows straight from the database's result rows;
/// for the corpus host's real inventory (two computers, IBM tags, a
/// classification) its answer is byte for byte the one the map path gives
/// (the rows read by the store, made maps by `instance_json`, projected and
/// serialized), for the default columns and selections with nesting and
/// extra columns.
#[test]
fn the_streamed_instance_list_equals_the_map_path_byte_for_byte() {
    let s = TestServer::start();
    let ds = s.datasource();
    package_with_ibm_tags(&ds, "202611281200", "deb1", &[]);
    package_with_ibm_tags(&ds, "202611281200", "deb2", &["bash"]);
    assert_eq!(s.import_and_wait()["status"], "successful");
    let (rt, store) = s.store();
    let selections: Vec<Option<Vec<&str>>> = vec![
        None,
        Some(vec![
            "computer_id",
            "product_publisher_name",
            "product_name",
            "product_release",
        ]),
        Some(vec![
            "computer_hardware.partition_cores",
            "instance_id",
            "bundling_evidence.details",
            "computer_ip_address",
            "computer_hardware.computer_type",
            "discovery_details.discovery_path",
            "usage_data.last_used",
        ]),
    ];
    for cols in selections {
        let query: String = cols
            .iter()
            .flatten()
            .map(|c| format!("&columns[]={c}"))
            .collect();
        let page = openlmt_domain::query::Page::new(100_000, 0).unwrap();
        let q = openlmt_domain::query::Query::new(
            openlmt_domain::query::Entity::SoftwareInstances,
            None,
            Vec::new(),
            page,
        )
        .unwrap();
        let (total, rows) = rt
            .block_on(store.query_list::<openlmt_storage::SoftwareInstanceList>(&q))
            .unwrap();
        assert!(total > 10, "{total}");
        let mut want = format!("{{\"total\":{total},\"rows\":[");
        for (i, r) in rows.iter().enumerate() {
            if i > 0 {
                want.push(',');
            }
            let m = openlmt_server::list::project(
                openlmt_domain::query::Entity::SoftwareInstances,
                openlmt_server::instance_json(r),
                cols.as_deref(),
            );
            want.push_str(&serde_json::to_string(&m).unwrap());
        }
        want.push_str("]}");
        let got = s
            .get(&format!(
                "/api/sam/v2/software_instances?limit=100000{query}"
            ))
            .text()
            .unwrap();
        assert_eq!(got, want, "{cols:?}");
    }
}

/// The instance list reads in place (rusqlite, `block_in_place`): a client
/// that leaves mid-answer stops its query and gives its database
/// connection back, as for the other lists (the pool has 8 connections:
/// 12 abandoned answers left holding them would make the next reads wait
/// and fail).
#[test]
fn abandoned_instance_answers_stop_and_give_their_connections_back() {
    use std::io::{Read, Write};
    let s = TestServer::start();
    let ds = s.datasource();
    for i in 0..120 {
        common::write_scan_package(&ds, "202611281200", &format!("host-{i:03}"));
    }
    assert_eq!(s.import_and_wait()["status"], "successful");
    let total = s.json("/api/sam/v2/software_instances?limit=1")["total"]
        .as_i64()
        .unwrap();
    assert!(
        total > 1000,
        "{total} instances: too few to outgrow the buffers"
    );
    for _ in 0..12 {
        let addr = s.base.trim_start_matches("http://");
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "GET /api/sam/v2/software_instances?limit=100000 HTTP/1.1\r\nHost: {addr}\r\nToken: {}\r\n\r\n",
            s.admin_token
        )
        .unwrap();
        let mut first = [0u8; 16 * 1024];
        let n = conn.read(&mut first).unwrap();
        assert!(
            first[..n].starts_with(b"HTTP/1.1 200"),
            "the answer started"
        );
        drop(conn);
    }
    let t0 = std::time::Instant::now();
    s.http
        .delete(s.url("/api/sam/v2/computers?disconnected_endpoint_id=host-000"))
        .header("Token", &s.admin_token)
        .send()
        .unwrap();
    for _ in 0..10 {
        let v = s.json("/api/sam/v2/software_instances?limit=1");
        assert_eq!(v["total"].as_i64(), Some(total));
    }
    let v = s.json("/api/sam/v2/computers?columns[]=is_deleted&criteria=%7B%22and%22%3A%5B%5B%22is_deleted%22%2C%22%3D%22%2C1%5D%5D%7D");
    assert_eq!(v["total"], 1, "the write after the abandoned reads is seen");
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "{:?}: connections were held by abandoned answers",
        t0.elapsed()
    );
}
