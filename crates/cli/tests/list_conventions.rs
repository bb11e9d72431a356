//! Black-box tests of the conventions real ILMT clients rely on, on every
//! list endpoint (docs/api.md §7.2, `../shared/reference/ilmt/real-clients.md`):
//! pages of 100,000 rows streamed, Axonius's offset paging, strings for
//! numbers and booleans in criteria, the `last` operator, parameters (token
//! included) in a JSON body of a GET, datactl's single-quoted and repeated
//! criteria, nested dotted columns, `bigfix_id`, `about` and `GET /`.
//! The data is the corpus's Debian 12 host, imported under many endpoint ids.

mod common;

use common::{enc, write_scan_package, TestServer};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const COMPUTERS: &str = "/api/sam/v2/computers";
const INSTALLED_PACKAGES: &str = "/api/sam/raw_package_facts";
const TAGS: &str = "/api/sam/raw_swid_tags";

fn error_of(r: Response) -> String {
    assert_eq!(r.headers()["content-type"], "application/json");
    let v: Value = r.json().unwrap();
    v["error"].as_str().expect("an `error` string").to_string()
}

fn total(v: &Value) -> i64 {
    v["total"].as_i64().expect("a total")
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().expect("rows")
}

/// Installed packages in the corpus host's dpkg status.
fn packages_per_host() -> usize {
    let text =
        std::fs::read_to_string(common::corpus().join("hosts/debian12-vm/dpkg-status")).unwrap();
    text.split("\n\n")
        .filter(|stanza| {
            stanza
                .lines()
                .any(|l| l.trim_end() == "Status: install ok installed")
        })
        .count()
}

/// A scan-package time stamp `days` before now.
fn stamp_days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y%m%d%H%M")
        .to_string()
}

/// A raw HTTP/1.1 exchange (for request targets a client library would
/// rewrite); the answer's status and body (chunked encoding undone).
fn raw_get(s: &TestServer, target: &str, token: &str) -> (u16, String) {
    let addr = s.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nToken: {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8(answer).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return (status, body.to_string());
    }
    let mut out = String::new();
    let mut rest = body;
    loop {
        let (size, after) = rest.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return (status, out);
        }
        out.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
}

// ---------------------------------------------------------------------
// Large pages: 100,000 rows and more.
// ---------------------------------------------------------------------

#[test]
fn pages_of_100000_rows_stream_complete_and_offset_paging_sees_every_row_once() {
    let s = TestServer::start();
    let per_host = packages_per_host();
    // Enough computers for more than 100,000 installed packages.
    let hosts = 100_000 / per_host + 2;
    let stamp = stamp_days_ago(1);
    for i in 0..hosts {
        write_scan_package(&s.datasource(), &stamp, &format!("replica-{i:04}"));
    }
    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    let expected = (hosts * per_host) as i64;
    assert!(expected > 100_000);

    // One page of the largest size: complete, parseable, streamed.
    let r = s.get(&format!("{INSTALLED_PACKAGES}?limit=100000"));
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(
        r.headers().get("content-length").is_none(),
        "written while read, so its length is not known up front"
    );
    let v: Value = r.json().unwrap();
    assert_eq!(total(&v), expected);
    assert_eq!(rows(&v).len(), 100_000);

    // Axonius: `offset += limit` while `offset < total`.
    let key = |r: &Value| {
        (
            r["computer_id"].as_i64().unwrap(),
            r["name"].as_str().unwrap().to_string(),
            r["architecture"].to_string(),
            r["version"].to_string(),
        )
    };
    let mut seen = HashSet::new();
    let mut offset = 0;
    let mut total_seen = None;
    while offset < *total_seen.get_or_insert(i64::MAX) {
        let v = s.json(&format!(
            "{INSTALLED_PACKAGES}?token={}&limit=100000&offset={offset}",
            s.admin_token
        ));
        total_seen = Some(total(&v));
        if rows(&v).is_empty() {
            break;
        }
        for r in rows(&v) {
            assert!(seen.insert(key(r)), "a row seen twice: {r}");
        }
        offset += 100_000;
    }
    assert_eq!(total_seen, Some(expected));
    assert_eq!(seen.len() as i64, expected, "every row exactly once");

    // The computers too, in one page, with the Axonius columns we have.
    let v = s.json(&format!(
        "{COMPUTERS}?limit=100000&offset=0&columns[]=id&columns[]=bigfix_id&columns[]=name&columns[]=is_deleted&columns[]=ip_address"
    ));
    assert_eq!((total(&v), rows(&v).len()), (hosts as i64, hosts));
    assert!(rows(&v).iter().all(|r| r["ip_address"].is_array()));

    // Clients that leave mid-answer: each answer's query stops and gives
    // its database connection back. (The pool has 8: were the queries left
    // running or waiting, the request after them would wait 30 s and fail.)
    for _ in 0..12 {
        let addr = s.base.trim_start_matches("http://");
        let mut conn = TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "GET {INSTALLED_PACKAGES}?limit=100000 HTTP/1.1\r\nHost: {addr}\r\nToken: {}\r\n\r\n",
            s.admin_token
        )
        .unwrap();
        let mut first = [0u8; 64 * 1024];
        let n = conn.read(&mut first).unwrap();
        assert!(
            first[..n].starts_with(b"HTTP/1.1 200"),
            "the answer started"
        );
        drop(conn); // unread data: the connection is reset
    }
    // …and the server stops working on them: reading the 12 pages to the
    // end would cost it seconds of CPU.
    std::thread::sleep(Duration::from_millis(500));
    let busy = cpu_seconds(s.pid());
    std::thread::sleep(Duration::from_secs(2));
    let busy = cpu_seconds(s.pid()) - busy;
    assert!(
        busy < 0.5,
        "the server kept working {busy:.2} CPU-s for clients that left"
    );
    let t0 = Instant::now();
    for _ in 0..10 {
        let v = s.json(&format!("{INSTALLED_PACKAGES}?limit=1"));
        assert_eq!(total(&v), expected);
    }
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "{:?}: connections were held by abandoned answers",
        t0.elapsed()
    );
}

/// The CPU time a process has used (user + system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which ends with the last `)`):
    // state is the 3rd field of the line, utime the 14th, stime the 15th.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    let hz = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|t| t.trim().parse::<f64>().ok())
        .unwrap_or(100.0);
    ticks / hz
}

// ---------------------------------------------------------------------
// Criteria as real clients write them.
// ---------------------------------------------------------------------

/// Three computers: `recent-a` and `recent-b` scanned a day ago, `old`
/// scanned 20 days ago (within the 30 days of retention).
fn three_computers() -> TestServer {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), &stamp_days_ago(1), "recent-a");
    write_scan_package(&s.datasource(), &stamp_days_ago(1), "recent-b");
    write_scan_package(&s.datasource(), &stamp_days_ago(20), "old");
    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    s
}

fn names(v: &Value) -> Vec<String> {
    let mut n: Vec<String> = rows(v)
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn with_criteria(path: &str, criteria: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}criteria={}", enc(criteria))
}

#[test]
fn criteria_take_strings_the_last_operator_and_single_quotes() {
    let s = three_computers();
    let all = s.json(COMPUTERS);
    let id_of = |name: &str| {
        rows(&all).iter().find(|r| r["name"] == name).unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let old = id_of("old");
    s.http
        .delete(s.url(&format!("{COMPUTERS}?disconnected_endpoint_id=recent-b")))
        .header("Token", &s.admin_token)
        .send()
        .unwrap();

    let cases: Vec<(String, Vec<&str>)> = vec![
        // The Perl migration script's request, verbatim.
        (
            format!(
                "{COMPUTERS}?token={}&columns[]=name&columns[]=last_seen&columns[]=id&columns[]=bigfix_id&{}",
                s.admin_token,
                &with_criteria("", r#"{"and":[["last_seen","last","P1M"],["is_deleted","=","0"]]}"#)[1..]
            ),
            vec!["old", "recent-a"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["last_seen","last","P2W"]]}"#),
            vec!["recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["last_seen","LAST","P1M"]]}"#),
            vec!["old", "recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["last_seen","last","P19D"]]}"#),
            vec!["recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["first_seen","last","PT36H"]]}"#),
            vec!["recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["last_seen","last","P1Y2M3W4DT5H6M7S"]]}"#),
            vec!["old", "recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["is_deleted","=","1"]]}"#),
            vec!["recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["is_deleted","=","true"]]}"#),
            vec!["recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["is_virtual","=","1"],["is_deleted","=",0]]}"#),
            vec!["old", "recent-a"],
        ),
        (
            with_criteria(COMPUTERS, &format!(r#"{{"and":[["id","=","{old}"]]}}"#)),
            vec!["old"],
        ),
        (
            with_criteria(COMPUTERS, &format!(r#"{{"and":[["bigfix_id","=","{old}"]]}}"#)),
            vec!["old"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["computer_hardware.computer_type","=","1"]]}"#),
            vec!["old", "recent-a", "recent-b"],
        ),
        // No VM-manager data: each VM is its own server (TLM_VM), whose
        // cores are its own (counting-rules.md §6).
        (
            with_criteria(COMPUTERS, r#"{"and":[["computer_hardware.server_cores","!=",null]]}"#),
            vec!["old", "recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["computer_hardware.server_type","=","1"]]}"#),
            vec!["old", "recent-a", "recent-b"],
        ),
        (
            with_criteria(COMPUTERS, "{'and':[['name','=','old']]}"),
            vec!["old"],
        ),
        // Repeated criteria all apply.
        (
            format!(
                "{}&{}",
                with_criteria(COMPUTERS, "{'and':[['name','contains','recent']]}"),
                &with_criteria("", "{'and':[['is_deleted','=','0']]}")[1..]
            ),
            vec!["recent-a"],
        ),
    ];
    for (path, want) in cases {
        let v = s.json(&path);
        assert_eq!(names(&v), want, "{path}");
        assert_eq!(total(&v), want.len() as i64, "{path}");
    }
    // A string for a number of packages' computer_id.
    let v = s.json(&with_criteria(
        INSTALLED_PACKAGES,
        &format!(r#"{{"and":[["computer_id","=","{old}"],["name","=","bash"]]}}"#),
    ));
    assert_eq!(total(&v), 1);

    // datactl's form as it sends it: raw quotes and brackets in the request
    // line, the criteria given twice.
    let (status, body) = raw_get(
        &s,
        &format!(
            "{COMPUTERS}?columns[]=name&criteria={{'and':[['is_deleted','=','0']]}}&criteria={{'and':[['name','=','old']]}}"
        ),
        &s.admin_token,
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v, json!({"total": 1, "rows": [{"name": "old"}]}));

    // Bad values are 400s naming the field or the value.
    for (criteria, want) in [
        (
            r#"{"and":[["id","=","forty-two"]]}"#,
            "the field `id` compares with a whole number (or null), not the string \"forty-two\"",
        ),
        (
            r#"{"and":[["is_deleted","=","maybe"]]}"#,
            "the field `is_deleted` compares with true or false",
        ),
        (
            r#"{"and":[["last_seen","last","one month"]]}"#,
            "`last` on `last_seen` takes an ISO 8601 duration such as \"P1M\" (P[n]Y[n]M[n]W[n]DT[n]H[n]M[n]S), not the string \"one month\"",
        ),
        (
            r#"{"and":[["last_seen","last","P1.5M"]]}"#,
            "(years and months must be whole)",
        ),
        (
            r#"{"and":[["name","last","P1M"]]}"#,
            "the operator `last` does not apply to the field `name`",
        ),
        (
            r#"{"and":[["name","~","x"]]}"#,
            "operators are =, !=, <, <=, >, >=, contains, last",
        ),
    ] {
        let r = s.get(&with_criteria(COMPUTERS, criteria));
        assert_eq!(r.status(), 400, "{criteria}");
        let e = error_of(r);
        assert!(e.contains(want), "{criteria}: `{e}` lacks `{want}`");
    }
}

// ---------------------------------------------------------------------
// Parameters in a JSON body of a GET (Google SecOps).
// ---------------------------------------------------------------------

fn get_with_body(s: &TestServer, path: &str, body: &str) -> Response {
    s.http
        .get(s.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .unwrap()
}

#[test]
fn a_json_body_of_a_get_carries_the_parameters_and_the_token() {
    let s = three_computers();
    // SecOps's device lookup: everything in the body, criteria a string.
    let body = json!({
        "token": s.admin_token,
        "columns": ["id", "bigfix_id", "name", "dns_name", "ip_address", "is_deleted",
                    "computer_hardware.computer_type", "computer_hardware.partition_cores"],
        "criteria": r#"{"or":[["name","=","old"],["dns_name","=","old"]]}"#,
    });
    let r = get_with_body(&s, COMPUTERS, &body.to_string());
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(total(&v), 1, "{v}");
    let row = &rows(&v)[0];
    assert_eq!(row["bigfix_id"], row["id"]);
    assert_eq!(
        row.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "bigfix_id",
            "name",
            "dns_name",
            "ip_address",
            "is_deleted",
            "computer_hardware"
        ]
    );
    assert_eq!(
        row["computer_hardware"],
        json!({"computer_type": 1, "partition_cores": 2})
    );

    // Criteria as an object, numbers as numbers, order, on every list.
    for path in [COMPUTERS, INSTALLED_PACKAGES, TAGS] {
        let body = json!({
            "token": s.admin_token,
            "criteria": {"and": [["computer_id", "=", "1"]]},
            "limit": 2, "offset": 1, "order": ["name desc"],
        });
        let body = if path == COMPUTERS {
            body.to_string().replace("computer_id", "id")
        } else {
            body.to_string()
        };
        let r = get_with_body(&s, path, &body);
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().unwrap();
        assert!(rows(&v).len() <= 2, "{path}");
    }
    let body = json!({"token": s.admin_token, "limit": 1, "columns": "name"});
    let v: Value = get_with_body(&s, INSTALLED_PACKAGES, &body.to_string())
        .json()
        .unwrap();
    assert_eq!(
        v["rows"].as_array().unwrap()[0].as_object().unwrap().len(),
        1
    );
    // The body's criteria and the query's both apply.
    let body =
        json!({"token": s.admin_token, "criteria": "{'and':[['name','contains','recent']]}"});
    let r = get_with_body(
        &s,
        &with_criteria(COMPUTERS, r#"{"and":[["name","=","old"]]}"#),
        &body.to_string(),
    );
    assert_eq!(total(&r.json().unwrap()), 0);

    // The token: the header wins over the query, the query over the body.
    let good = json!({"token": s.admin_token}).to_string();
    let bad = json!({"token": "not-a-token"}).to_string();
    let r = get_with_body(&s, COMPUTERS, &bad);
    assert_eq!(r.status(), 401);
    assert!(error_of(r).contains("not valid"));
    let r = get_with_body(&s, &format!("{COMPUTERS}?token=wrong"), &good);
    assert_eq!(r.status(), 401);
    let r = s
        .http
        .get(s.url(COMPUTERS))
        .header("Content-Type", "application/json")
        .header("Token", "wrong")
        .body(good.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = get_with_body(&s, COMPUTERS, "{}");
    assert_eq!(r.status(), 401);
    assert!(error_of(r).contains("authentication required"));
    // Not JSON: the body is not read as parameters.
    let r = s
        .http
        .get(s.url(COMPUTERS))
        .header("Content-Type", "text/plain")
        .body(good.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Bad bodies.
    for (body, status, want) in [
        (
            "{\"token\":",
            400,
            "the request body is not valid JSON (EOF while parsing",
        ),
        ("[1,2]", 400, "must be an object of parameters"),
        (
            r#"{"token": 42}"#,
            400,
            "`token` in the JSON body must be a string",
        ),
        (r#"{"limit": "lots"}"#, 401, "authentication required"),
    ] {
        let r = get_with_body(&s, COMPUTERS, body);
        assert_eq!(r.status(), status, "{body}");
        let e = error_of(r);
        assert!(e.contains(want), "{body}: `{e}` lacks `{want}`");
    }
    let r = get_with_body(
        &s,
        COMPUTERS,
        &json!({"token": s.admin_token, "limit": "lots"}).to_string(),
    );
    assert_eq!(r.status(), 400);
    assert!(error_of(r).contains("`limit` must be a whole number"));
    let huge = json!({"token": s.admin_token, "criteria": "x".repeat(70 * 1024)}).to_string();
    let r = get_with_body(&s, COMPUTERS, &huge);
    assert_eq!(r.status(), 413);
    assert_eq!(
        error_of(r),
        "the JSON body of a GET is limited to 65536 bytes"
    );
}

// ---------------------------------------------------------------------
// about, GET /
// ---------------------------------------------------------------------

#[test]
fn about_names_the_product_and_root_sends_browsers_to_the_panel() {
    let s = TestServer::start();
    s.add_user("nobody", "nobody-password", &[]);
    let nobody = s.token("nobody", "nobody-password");
    // Any authenticated caller, the token in the query (SecOps's Ping).
    let r = s
        .http
        .get(s.url(&format!("/api/sam/about?token={nobody}")))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.text().unwrap(),
        format!(
            r#"{{"product":"openlmt","version":"{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );
    let r = s.http.get(s.url("//api/sam/about")).send().unwrap();
    assert_eq!(r.status(), 401);
    error_of(r);

    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = browser.get(s.url("/")).send().unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/management/imports");
}

// ---------------------------------------------------------------------
// Columns of ILMT that openlmt keeps no field for (Axonius, SecOps).
// ---------------------------------------------------------------------

#[test]
fn ilmt_columns_without_a_field_are_filled_or_null_and_typos_are_still_400s() {
    let s = three_computers();
    s.http
        .delete(s.url(&format!("{COMPUTERS}?disconnected_endpoint_id=old")))
        .header("Token", &s.admin_token)
        .send()
        .unwrap();
    // Axonius's computer columns, verbatim.
    let axonius = [
        "id",
        "bigfix_id",
        "computer_group_id",
        "name",
        "dns_name",
        "ip_address",
        "os",
        "os_type",
        "first_seen",
        "last_seen",
        "is_deleted",
        "deletion_date",
        "is_managed_by_vm_manager",
    ];
    let query: String = axonius.iter().map(|c| format!("&columns[]={c}")).collect();
    let v = s.json(&format!("{COMPUTERS}?limit=100000&offset=0{query}"));
    assert_eq!(total(&v), 3, "{v}");
    for row in rows(&v) {
        let keys: Vec<&str> = row
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(keys, axonius, "{row}");
        assert_eq!(row["computer_group_id"], Value::Null, "{row}");
        assert_eq!(row["os_type"], Value::Null, "{row}");
        assert_eq!(row["is_managed_by_vm_manager"], json!(false), "{row}");
        let deleted = row["name"] == "old";
        assert_eq!(row["is_deleted"], json!(deleted), "{row}");
        assert_eq!(row["deletion_date"].is_string(), deleted, "{row}");
    }
    let all = s.json(&format!(
        "{COMPUTERS}?columns[]=name&columns[]=deleted_at&columns[]=deletion_date"
    ));
    for row in rows(&all) {
        assert_eq!(row["deleted_at"], row["deletion_date"], "{row}");
    }

    // SecOps's nested ones: computer_health entirely null, extra hardware
    // columns null beside the real ones.
    let v = s.json(&format!(
        "{COMPUTERS}?columns[]=name&columns[]=computer_health.last_scan_attempt\
         &columns[]=computer_health.is_software_scan_successful&columns[]=computer_health.agent_version\
         &columns[]=computer_hardware.computer_type&columns[]=computer_hardware.system_model\
         &columns[]=computer_hardware.node_total_processors&criteria={}",
        enc(r#"{"and":[["name","=","recent-a"]]}"#)
    ));
    assert_eq!(
        v,
        json!({"total": 1, "rows": [{
            "name": "recent-a",
            "computer_health": {
                "last_scan_attempt": null,
                "is_software_scan_successful": null,
                "agent_version": null
            },
            "computer_hardware": {
                "computer_type": 1,
                "system_model": null,
                "node_total_processors": null
            }
        }]})
    );

    // Software instances: ILMT's columns without a field.
    let r = s.get(
        "/api/sam/v2/software_instances?columns[]=computer_id&columns[]=product_publisher_name\
         &columns[]=product_name&columns[]=product_release&columns[]=computer_os_type\
         &columns[]=bundle_name&columns[]=usage_data.last_used&columns[]=discovery_details.discovery_path",
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    let full = s.json("/api/sam/v2/software_instances?columns[]=discovery_path");
    for (row, f) in rows(&v).iter().zip(rows(&full)) {
        assert_eq!(row["computer_os_type"], Value::Null);
        assert_eq!(row["bundle_name"], Value::Null);
        assert_eq!(row["usage_data"], json!({"last_used": null}));
        assert_eq!(
            row["discovery_details"],
            json!({"discovery_path": f["discovery_path"]})
        );
    }

    // A typo is still a 400 naming it; extra columns are not for criteria
    // or order.
    for (path, want) in [
        (
            format!("{COMPUTERS}?columns[]=os_typo"),
            "`os_typo` is not a column",
        ),
        (
            format!("{COMPUTERS}?columns[]=computer_health.is__scan_successful"),
            "`computer_health.is__scan_successful` is not a column",
        ),
        (
            format!("{COMPUTERS}?columns[]=computer_health.whatever"),
            "`computer_health.whatever` is not a column",
        ),
        (
            "/api/sam/v2/software_instances?columns[]=os_type".to_string(),
            "`os_type` is not a column",
        ),
        (
            with_criteria(COMPUTERS, r#"{"and":[["os_type","=","Linux"]]}"#),
            "os_type",
        ),
        (
            format!("{COMPUTERS}?order=computer_group_id"),
            "computer_group_id",
        ),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status(), 400, "{path}");
        let e = error_of(r);
        assert!(e.contains(want), "{path}: `{e}` lacks `{want}`");
    }
}
