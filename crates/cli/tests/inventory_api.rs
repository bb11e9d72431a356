//! Black-box tests of the inventory query API (issue 3, part 5): the real
//! server, real scan packages built from the corpus, HTTP like any client.

mod common;

use common::{corpus, enc, write_scan_package, TestServer};
use reqwest::blocking::Response;
use serde_json::Value;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

const COMPUTERS: &str = "/api/sam/v2/computers";
const INSTALLED_PACKAGES: &str = "/api/sam/raw_package_facts";
const TAGS: &str = "/api/sam/raw_swid_tags";

/// `path?criteria=…` with the criteria encoded.
fn with_criteria(path: &str, criteria: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}criteria={}", enc(criteria))
}

fn error_of(r: Response) -> String {
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json",
        "errors are JSON"
    );
    let v: Value = r.json().unwrap();
    v["error"].as_str().expect("an `error` string").to_string()
}

fn delete_as(s: &TestServer, token: &str, path: &str) -> Response {
    s.http
        .delete(s.url(path))
        .header("Token", token)
        .send()
        .unwrap()
}

fn total(v: &Value) -> i64 {
    v["total"].as_i64().expect("a total")
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().expect("rows")
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

const COMPUTER_FIELDS: [&str; 30] = [
    "id",
    "bigfix_id",
    "endpoint_id",
    "name",
    "dns_name",
    "ip_address",
    "os",
    "first_seen",
    "last_seen",
    "is_deleted",
    "processor_vendor",
    "processor_brand",
    "processor_model",
    "sockets",
    "cores",
    "threads",
    "is_virtual",
    "hypervisor",
    "data_source",
    "deleted_at",
    "is_managed_by_vm_manager",
    "system_uuid",
    "system_manufacturer",
    "system_product",
    "system_serial",
    "bios_vendor",
    "bios_version",
    "chassis_asset_tag",
    "socket_slots",
    "computer_hardware",
];

// ---------------------------------------------------------------------
// Without data: the contract, permissions and validation.
// ---------------------------------------------------------------------

#[test]
fn empty_lists_have_the_contract() {
    let s = TestServer::start();
    for path in [COMPUTERS, INSTALLED_PACKAGES, TAGS] {
        let r = s.get(path);
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let v: Value = r.json().unwrap();
        assert_eq!(keys(&v), ["total", "rows"], "{path}");
        assert_eq!(total(&v), 0);
        assert!(rows(&v).is_empty());
        // Real scripts double the slash.
        let v = s.json(&format!("/{path}"));
        assert_eq!(total(&v), 0, "//{path}");
        // A valid criteria on an empty list.
        let v = s.json(&with_criteria(path, r#"{"and":[["name","contains","x"]]}"#));
        assert_eq!(total(&v), 0);
        let r = s.post_as(&s.admin_token, path);
        assert_eq!(r.status(), 405, "POST {path}");
        error_of(r);
    }
}

#[test]
fn each_list_needs_its_permission() {
    let s = TestServer::start();
    s.add_user("nobody", "nobody-password", &[]);
    s.add_user("viewer", "viewer-password", &["view_endpoints"]);
    s.add_user("raw", "raw-password", &["view_raw_data"]);
    let nobody = s.token("nobody", "nobody-password");
    let viewer = s.token("viewer", "viewer-password");
    let raw = s.token("raw", "raw-password");

    for path in [COMPUTERS, INSTALLED_PACKAGES, TAGS] {
        let r = s.http.get(s.url(path)).send().unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        assert!(error_of(r).contains("authentication required"));
        let r = s.get_as(&nobody, path);
        assert_eq!(r.status(), 403, "{path} for nobody");
        error_of(r);
    }
    assert_eq!(s.get_as(&viewer, COMPUTERS).status(), 200);
    let r = s.get_as(&viewer, INSTALLED_PACKAGES);
    assert_eq!(r.status(), 403);
    assert!(error_of(r).contains("view_raw_data"));
    assert_eq!(s.get_as(&viewer, TAGS).status(), 403);
    let r = s.get_as(&raw, COMPUTERS);
    assert_eq!(r.status(), 403);
    assert!(error_of(r).contains("view_endpoints"));
    assert_eq!(s.get_as(&raw, INSTALLED_PACKAGES).status(), 200);
    assert_eq!(s.get_as(&raw, TAGS).status(), 200);

    // Decommissioning needs manage_imports (checked before the parameters).
    let path = format!("{COMPUTERS}?disconnected_endpoint_id=x");
    let r = delete_as(&s, &viewer, &path);
    assert_eq!(r.status(), 403);
    assert!(error_of(r).contains("manage_imports"));
    let r = s.http.delete(s.url(&path)).send().unwrap();
    assert_eq!(r.status(), 401);
    error_of(r);
}

#[test]
fn bad_queries_are_400_naming_the_reason() {
    let s = TestServer::start();
    let cases: Vec<(String, &str)> = vec![
        (with_criteria(COMPUTERS, "{"), "not valid JSON"),
        (with_criteria(COMPUTERS, "name=x"), "not valid JSON"),
        (with_criteria(COMPUTERS, "[]"), "must be an object"),
        (
            with_criteria(COMPUTERS, r#"{"not":[]}"#),
            "is not `and` or `or`",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["nope","=","x"]]}"#),
            "`nope` is not a field of this list; fields are: id, bigfix_id, endpoint_id, name",
        ),
        (
            with_criteria(INSTALLED_PACKAGES, r#"{"and":[["tag_id","=","x"]]}"#),
            "`tag_id` is not a field",
        ),
        (
            with_criteria(TAGS, r#"{"and":[["source","=","dpkg"]]}"#),
            "`source` is not a field",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["name","like","x"]]}"#),
            "`like` is not an operator",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["sockets","=","two"]]}"#),
            "the field `sockets` compares with a whole number",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["is_virtual","=","yes"]]}"#),
            "true or false",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["last_seen",">","last week"]]}"#),
            "UTC time",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["cores","contains",2]]}"#),
            "does not apply",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["name","="]]}"#),
            "list of three",
        ),
        (
            with_criteria(
                COMPUTERS,
                &format!(
                    r#"{{"or":[{}]}}"#,
                    vec![r#"["cores",">",1]"#; 101].join(",")
                ),
            ),
            "too many conditions",
        ),
        (
            with_criteria(
                COMPUTERS,
                &format!(
                    "{}[\"id\",\"=\",1]{}",
                    r#"{"and":["#.repeat(9),
                    "]}".repeat(9)
                ),
            ),
            "too deep",
        ),
        (
            format!("{COMPUTERS}?columns[]=name&columns[]=shoe_size"),
            "`shoe_size` is not a column of this list; columns are: id, bigfix_id, endpoint_id",
        ),
        (
            format!("{INSTALLED_PACKAGES}?columns[]=regid"),
            "`regid` is not a column",
        ),
        (
            format!("{COMPUTERS}?limit=-1"),
            "`limit` must be a whole number",
        ),
        (format!("{COMPUTERS}?limit=100001"), "from 0 to 100000"),
        (format!("{COMPUTERS}?limit=ten"), "`limit`"),
        (format!("{COMPUTERS}?offset=-5"), "`offset`"),
        (
            format!("{COMPUTERS}?order=shoe_size"),
            "cannot sort by `shoe_size`",
        ),
        (format!("{COMPUTERS}?order=ip_address"), "cannot sort by"),
        (
            format!("{COMPUTERS}?order=name%20sideways"),
            "not a sort order",
        ),
    ];
    for (path, want) in cases {
        let r = s.get(&path);
        assert_eq!(r.status(), 400, "{path}");
        let e = error_of(r);
        assert!(e.contains(want), "{path}: `{e}` lacks `{want}`");
    }
    // Garbage bytes never make a 500.
    for junk in [
        "%FF%FE",
        "%00",
        "%22%5C",
        "%7B%22and%22%3A%5B%5B%22name%22%2C%22%3D%22%2C%22%5Cud800%22%5D%5D%7D",
    ] {
        for path in [COMPUTERS, INSTALLED_PACKAGES, TAGS] {
            let r = s.get(&format!("{path}?criteria={junk}"));
            assert!(
                r.status() == 400 || r.status() == 200,
                "{path} {junk}: {}",
                r.status()
            );
            error_or_rows(r);
        }
    }
}

fn error_or_rows(r: Response) {
    let ok = r.status() == 200;
    let v: Value = r.json().unwrap();
    if ok {
        assert!(v["total"].is_i64());
    } else {
        assert!(v["error"].is_string());
    }
}

#[test]
fn decommission_validates_its_parameters() {
    let s = TestServer::start();
    let r = delete_as(&s, &s.admin_token, COMPUTERS);
    assert_eq!(r.status(), 400);
    assert!(error_of(r).contains("`disconnected_endpoint_id` is required"));
    let r = delete_as(
        &s,
        &s.admin_token,
        &format!("{COMPUTERS}?disconnected_endpoint_id="),
    );
    assert_eq!(r.status(), 400);
    error_of(r);
    let r = delete_as(
        &s,
        &s.admin_token,
        &format!("{COMPUTERS}?disconnected_endpoint_id=no-such-endpoint"),
    );
    assert_eq!(r.status(), 404);
    assert!(error_of(r).contains("no-such-endpoint"));
    let r = delete_as(
        &s,
        &s.admin_token,
        &format!("/{COMPUTERS}?disconnected_endpoint_id=x&data_source=default"),
    );
    assert_eq!(r.status(), 404);
    assert!(error_of(r).contains("in the data source `default`"));
}

// ---------------------------------------------------------------------
// With data imported from real scan packages.
// ---------------------------------------------------------------------

fn host() -> PathBuf {
    corpus().join("hosts/debian12-vm")
}

/// Installed packages in the host's dpkg status (read from the file).
fn installed_packages() -> i64 {
    let text = std::fs::read_to_string(host().join("dpkg-status")).unwrap();
    text.split("\n\n")
        .filter(|stanza| {
            stanza
                .lines()
                .any(|l| l.trim_end() == "Status: install ok installed")
        })
        .count() as i64
}

fn swid_tag_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(host().join("isotag_scan"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "swidtag"))
        .collect();
    v.sort();
    v
}

/// Like [`write_scan_package`], with the host's SWID tags in `isotag_scan/` too.
fn write_scan_package_with_tags(dir: &Path, stamp: &str, endpoint: &str) -> PathBuf {
    let plain = write_scan_package(dir, stamp, endpoint);
    // Re-pack: copy the members of the plain package, then add the tags.
    let bytes = std::fs::read(&plain).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let tmp = dir.join(format!(".{stamp}-{endpoint}.tags.tmp"));
    let file = std::fs::File::create(&tmp).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut out = tar::Builder::new(gz);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let path = entry.path().unwrap().into_owned();
        out.append_data(&mut header, path, &mut entry).unwrap();
    }
    for tag in swid_tag_files() {
        let name = format!("isotag_scan/{}", tag.file_name().unwrap().to_str().unwrap());
        out.append_path_with_name(&tag, name).unwrap();
    }
    out.into_inner().unwrap().finish().unwrap();
    std::fs::rename(&tmp, &plain).unwrap();
    plain
}

fn import(s: &TestServer, run: &str) -> Value {
    let r = s.get(&format!("/api/import_status.json?run={run}"));
    assert_eq!(r.status(), 200);
    s.wait_idle();
    let last = s.json("/api/imports?limit=1")["rows"][0].clone();
    assert_eq!(last["status"], "successful", "import: {last}");
    last
}

/// Every row of a list, page by page.
fn all_rows(s: &TestServer, path: &str, limit: usize) -> (i64, Vec<Value>) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut out = Vec::new();
    let mut expected = None;
    loop {
        let v = s.json(&format!("{path}{sep}limit={limit}&offset={}", out.len()));
        let t = total(&v);
        assert_eq!(*expected.get_or_insert(t), t, "total stable across pages");
        let page = rows(&v);
        assert!(page.len() <= limit);
        if page.is_empty() {
            break;
        }
        out.extend(page.iter().cloned());
    }
    (expected.unwrap_or(0), out)
}

#[test]
fn imported_computers_are_listed_filtered_and_paged() {
    let s = TestServer::start();
    for ep in ["ep-alpha", "ep-beta", "ep-gamma"] {
        write_scan_package_with_tags(&s.datasource(), "202611281200", ep);
    }
    import(&s, "true");

    let v = s.json(COMPUTERS);
    assert_eq!(total(&v), 3, "{v}");
    let list = rows(&v);
    assert_eq!(keys(&list[0]), COMPUTER_FIELDS);
    let ids: Vec<i64> = list.iter().map(|r| r["id"].as_i64().unwrap()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "default order is by id"
    );
    let c = list
        .iter()
        .find(|r| r["endpoint_id"] == "ep-beta")
        .expect("ep-beta listed");
    assert_eq!(c["name"], "ep-beta");
    assert_eq!(c["dns_name"], "ep-beta.example.test");
    assert_eq!(c["ip_address"], serde_json::json!(["192.0.2.10"]));
    assert_eq!(c["os"], "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(c["is_deleted"], false);
    assert!(c["deleted_at"].is_null());
    assert_eq!(c["data_source"], "default");
    // Clients key on bigfix_id: the computer's stable id.
    assert_eq!(c["bigfix_id"], c["id"]);
    // The corpus host is a 2-vCPU KVM guest with no VM-manager data: the
    // licence hierarchy counts it on its own (TLM_VM, 120 per core, named by
    // its id as the package has no SMBIOS UUID), so the server is itself.
    let tlm = format!("TLM_VM_{}", c["id"]);
    assert_eq!(
        c["computer_hardware"],
        serde_json::json!({
            "computer_type": 1,
            "processor_brand_string": c["processor_brand"],
            "processor_vendor": c["processor_vendor"],
            "partition_cores": 2,
            "server_cores": 2,
            // No dmidecode in the package: no model, and no maker.
            "system_model": null,
            "server_vendor": null,
            "server_model": null,
            "server_serial_number": tlm,
            "server_id": c["id"],
            "server_name": tlm,
            "server_type": 1,
            "pvu_per_core": 120,
            "default_pvu_value": 120,
            "custom_pvu_per_core": null,
        })
    );
    assert_eq!(c["is_managed_by_vm_manager"], false);
    let re = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$").unwrap();
    for k in ["first_seen", "last_seen"] {
        assert!(re.is_match(c[k].as_str().unwrap_or("")), "{k}: {}", c[k]);
    }
    // Capacity from the host's lscpu/cpuinfo: 1 socket, 2 cores, 2 threads,
    // a KVM guest.
    assert_eq!(c["processor_vendor"], "GenuineIntel");
    assert_eq!(c["processor_brand"], "Intel(R) Xeon(R) Processor");
    assert_eq!(c["sockets"], 1);
    assert_eq!(c["cores"], 2);
    assert_eq!(c["threads"], 2);
    assert_eq!(c["is_virtual"], true);
    assert_eq!(c["hypervisor"], "KVM");

    // Criteria of each kind.
    let count = |criteria: &str| total(&s.json(&with_criteria(COMPUTERS, criteria)));
    assert_eq!(count(r#"{"and":[["name","=","ep-beta"]]}"#), 1);
    assert_eq!(count(r#"{"and":[["name","contains","EP-"]]}"#), 3);
    assert_eq!(count(r#"{"and":[["name","!=","ep-beta"]]}"#), 2);
    assert_eq!(
        count(r#"{"or":[["name","=","ep-alpha"],["endpoint_id","=","ep-gamma"]]}"#),
        2
    );
    assert_eq!(
        count(
            r#"{"and":[["is_virtual","=",true],{"or":[["name","=","ep-alpha"],["cores",">",8]]}]}"#
        ),
        1
    );
    assert_eq!(count(r#"{"and":[["ip_address","contains","192.0.2"]]}"#), 3);
    assert_eq!(count(r#"{"and":[["ip_address","=","192.0.2.10"]]}"#), 3);
    assert_eq!(count(r#"{"and":[["ip_address","=","192.0.2.1"]]}"#), 0);
    assert_eq!(
        count(r#"{"and":[["hypervisor","=","kvm"]]}"#),
        0,
        "= is exact"
    );
    assert_eq!(count(r#"{"and":[["hypervisor","contains","kvm"]]}"#), 3);
    assert_eq!(
        count(r#"{"and":[["sockets",">=",1],["threads","<",3]]}"#),
        3
    );
    assert_eq!(count(r#"{"and":[["is_deleted","=",true]]}"#), 0);
    assert_eq!(
        count(r#"{"and":[["last_seen",">","2000-01-01T00:00:00Z"]]}"#),
        3
    );
    assert_eq!(count(r#"{"and":[["first_seen","<","2000-01-01"]]}"#), 0);
    assert_eq!(count(r#"{"and":[["deleted_at","=",null]]}"#), 3);
    let seen = c["last_seen"].as_str().unwrap();
    assert!(count(&format!(r#"{{"and":[["last_seen","=","{seen}"]]}}"#)) >= 1);

    // Columns, in the order asked; paging; sort.
    let v = s.json(&format!(
        "{COMPUTERS}?columns[]=name&columns[]=ip_address&columns[]=id&limit=1&offset=1&order=-name"
    ));
    assert_eq!(total(&v), 3);
    assert_eq!(rows(&v).len(), 1);
    assert_eq!(keys(&rows(&v)[0]), ["name", "ip_address", "id"]);
    assert_eq!(rows(&v)[0]["name"], "ep-beta");
    let v = s.json(&format!("{COMPUTERS}?limit=0"));
    assert_eq!((total(&v), rows(&v).len()), (3, 0));
    let v = s.json(&format!("{COMPUTERS}?offset=3"));
    assert_eq!((total(&v), rows(&v).len()), (3, 0));
}

#[test]
fn raw_facts_match_the_scanned_host() {
    let s = TestServer::start();
    let endpoints = ["ep-1", "ep-2"];
    for ep in endpoints {
        write_scan_package_with_tags(&s.datasource(), "202611281200", ep);
    }
    import(&s, "true");
    let packages = installed_packages();
    let tags = swid_tag_files().len() as i64;
    assert_eq!((packages, tags), (759, 759), "the corpus host");

    let v = s.json(INSTALLED_PACKAGES);
    assert_eq!(total(&v), packages * 2);
    assert_eq!(rows(&v).len(), 100, "the default page");
    assert_eq!(
        keys(&rows(&v)[0]),
        [
            "computer_id",
            "name",
            "version",
            "architecture",
            "vendor",
            "source"
        ]
    );
    let v = s.json(TAGS);
    assert_eq!(total(&v), tags * 2);
    assert_eq!(
        keys(&rows(&v)[0]),
        [
            "computer_id",
            "tag_id",
            "name",
            "version",
            "regid",
            "vendor",
            "schema",
            "persistent_id",
            "directory"
        ]
    );

    // One computer's facts, by criteria on computer_id.
    let computers = s.json(COMPUTERS);
    let id = rows(&computers)[0]["id"].as_i64().unwrap();
    let v = s.json(&with_criteria(
        INSTALLED_PACKAGES,
        &format!(r#"{{"and":[["computer_id","=",{id}]]}}"#),
    ));
    assert_eq!(total(&v), packages);

    // The brief's example.
    let v = s.json(&with_criteria(
        INSTALLED_PACKAGES,
        r#"{"and":[["name","=","adduser"]]}"#,
    ));
    assert_eq!(total(&v), 2);
    for r in rows(&v) {
        assert_eq!(r["name"], "adduser");
        assert_eq!(r["version"], "3.134");
        assert_eq!(r["architecture"], "all");
        assert_eq!(r["source"], "dpkg");
    }
    let v = s.json(&with_criteria(
        TAGS,
        r#"{"and":[["tag_id","=","Debian_12-x86_64-adduser-3.134"]]}"#,
    ));
    assert_eq!(total(&v), 2);
    let t = &rows(&v)[0];
    assert_eq!(t["name"], "adduser");
    assert_eq!(t["version"], "3.134");
    assert_eq!(t["regid"], "debian.org");
    assert_eq!(t["schema"], "2015");
    let v = s.json(&with_criteria(
        TAGS,
        r#"{"and":[["regid","=","debian.org"],["name","contains","ADDUSER"]]}"#,
    ));
    assert_eq!(total(&v), 2);

    // Paging visits every row exactly once, in a stable order.
    let path = with_criteria(
        INSTALLED_PACKAGES,
        &format!(r#"{{"and":[["computer_id","=",{id}]]}}"#),
    );
    let (t, all) = all_rows(&s, &format!("{path}&columns[]=name"), 250);
    assert_eq!(t, packages);
    assert_eq!(all.len() as i64, packages);
    let names: HashSet<&str> = all.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names.len() as i64, packages, "no row twice");
    // Sorted by name, descending.
    let v = s.json(&format!("{path}&order=-name&limit=3&columns[]=name"));
    let page: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let mut sorted: Vec<&str> = names.iter().copied().collect();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(page, sorted[..3]);
}

#[test]
fn a_newer_scan_replaces_the_facts_and_an_older_changes_nothing() {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), "202611281200", "ep-1");
    import(&s, "true");
    let packages = installed_packages();
    assert_eq!(total(&s.json(INSTALLED_PACKAGES)), packages);
    // A newer scan of the same endpoint: its facts replace the old ones.
    write_scan_package(&s.datasource(), "202611291200", "ep-1");
    import(&s, "true");
    assert_eq!(total(&s.json(INSTALLED_PACKAGES)), packages, "not doubled");
    assert_eq!(total(&s.json(COMPUTERS)), 1);
    // An older scan is skipped.
    write_scan_package(&s.datasource(), "202611270000", "ep-1");
    import(&s, "true");
    assert_eq!(total(&s.json(INSTALLED_PACKAGES)), packages);
    assert_eq!(total(&s.json(COMPUTERS)), 1);
}

#[test]
fn raw_only_imports_publish_facts_but_no_inventory() {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), "202611281200", "ep-raw");
    import(&s, "raw_only");
    assert_eq!(total(&s.json(INSTALLED_PACKAGES)), installed_packages());
    assert_eq!(total(&s.json(COMPUTERS)), 0, "not in the inventory yet");
    import(&s, "true");
    assert_eq!(total(&s.json(COMPUTERS)), 1);
}

#[test]
fn decommission_marks_the_computer_deleted_and_keeps_it() {
    let s = TestServer::start();
    s.add_user("viewer", "viewer-password", &["view_endpoints"]);
    let viewer = s.token("viewer", "viewer-password");
    for ep in ["ep-keep", "ep-gone"] {
        write_scan_package(&s.datasource(), "202611281200", ep);
    }
    import(&s, "true");

    let path = format!("{COMPUTERS}?disconnected_endpoint_id=ep-gone");
    let r = delete_as(&s, &viewer, &path);
    assert_eq!(r.status(), 403);
    let r = delete_as(&s, &s.admin_token, &path);
    assert_eq!(r.status(), 200);
    let row: Value = r.json().unwrap();
    assert_eq!(keys(&row), COMPUTER_FIELDS);
    assert_eq!(row["endpoint_id"], "ep-gone");
    assert_eq!(row["is_deleted"], true);
    let deleted_at = row["deleted_at"].as_str().unwrap().to_string();

    // Still listed, as deleted; the other one untouched.
    let v = s.json(COMPUTERS);
    assert_eq!(total(&v), 2);
    let deleted = |c: &str| total(&s.json(&with_criteria(COMPUTERS, c)));
    assert_eq!(deleted(r#"{"and":[["is_deleted","=",true]]}"#), 1);
    assert_eq!(
        deleted(r#"{"and":[["is_deleted","=",false],["endpoint_id","=","ep-keep"]]}"#),
        1
    );
    // Again, with the data source: idempotent, same deletion time.
    let r = delete_as(&s, &s.admin_token, &format!("{path}&data_source=default"));
    assert_eq!(r.status(), 200);
    let again: Value = r.json().unwrap();
    assert_eq!(again["deleted_at"], deleted_at.as_str());
    // Its raw facts are still there.
    let id = row["id"].as_i64().unwrap();
    let v = s.json(&with_criteria(
        INSTALLED_PACKAGES,
        &format!(r#"{{"and":[["computer_id","=",{id}]]}}"#),
    ));
    assert_eq!(total(&v), installed_packages());
}
