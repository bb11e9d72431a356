//! Black-box tests of request targets as real clients send them: raw
//! `< > " { } | ^ \` # '` and spaces on the request line (datactl builds
//! its URLs by string concatenation), over plain HTTP and TLS, pipelined;
//! and the refusals of malformed request heads, which are JSON like every
//! error (docs/api.md §1.1, `server/src/head.rs`).

mod common;

use common::{enc, write_scan_package, TestServer};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

const COMPUTERS: &str = "/api/sam/v2/computers";

fn three_computers() -> TestServer {
    let s = TestServer::start();
    let stamp = (chrono::Utc::now() - chrono::Duration::days(1))
        .format("%Y%m%d%H%M")
        .to_string();
    for name in ["old", "recent-a", "recent-b"] {
        write_scan_package(&s.datasource(), &stamp, name);
    }
    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful", "{imp}");
    s
}

fn connect(s: &TestServer) -> TcpStream {
    let conn = TcpStream::connect(s.base.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    conn
}

/// One HTTP/1.1 answer from `r`: status, headers (lower-cased) and body
/// (chunked encoding undone).
fn read_answer(r: &mut impl BufRead) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "no answer: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = Vec::new();
    if head.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let size = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().unwrap());
        body.resize(len, 0);
        r.read_exact(&mut body).unwrap();
    }
    (status, head, String::from_utf8(body).unwrap())
}

/// `GET target` on a fresh connection, the target's bytes as given.
fn raw_get(s: &TestServer, target: &str) -> (u16, String) {
    let mut conn = connect(s);
    write!(
        conn,
        "GET {target} HTTP/1.1\r\nHost: x\r\nToken: {}\r\nConnection: close\r\n\r\n",
        s.admin_token
    )
    .unwrap();
    let (status, _, body) = read_answer(&mut BufReader::new(conn));
    (status, body)
}

fn names(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut n: Vec<String> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

/// A query's parameters, in order.
type Query<'a> = Vec<(&'a str, &'a str)>;

/// A query from pairs, raw (as datactl writes it) and percent-encoded.
fn queries(pairs: &[(&str, &str)]) -> (String, String) {
    let raw: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect();
    (raw.join("&"), encoded.join("&"))
}

#[test]
fn raw_special_characters_in_the_query_mean_what_their_encoded_forms_mean() {
    let s = three_computers();
    let cases: Vec<(Query, Vec<&str>)> = vec![
        (
            vec![("criteria", "{'and':[['name','<=','recent-a']]}")],
            vec!["old", "recent-a"],
        ),
        (
            vec![("criteria", "{'and':[['name','>','old']]}")],
            vec!["recent-a", "recent-b"],
        ),
        (
            vec![("criteria", r#"{"and":[["name","=","old"]]}"#)],
            vec!["old"],
        ),
        (
            vec![(
                "criteria",
                r#"{'or':[['name','=',"old"],['name','>=','recent-b']]}"#,
            )],
            vec!["old", "recent-b"],
        ),
        // Repeated criteria all apply.
        (
            vec![
                ("columns[]", "name"),
                ("criteria", "{'and':[['name','>','old']]}"),
                ("criteria", "{'and':[['name','<','recent-b']]}"),
            ],
            vec!["recent-a"],
        ),
        (
            vec![("criteria", "{'and':[['name','contains','|^`{}']]}")],
            vec![],
        ),
        (
            vec![("criteria", "{'and':[['name','!=','a#b <c> \"d\"']]}")],
            vec!["old", "recent-a", "recent-b"],
        ),
        (
            vec![
                ("criteria", "{'and':[['name','=','recent-a']]}"),
                ("limit", "1"),
            ],
            vec!["recent-a"],
        ),
    ];
    for (pairs, want) in cases {
        let (raw, encoded) = queries(&pairs);
        let (status, body) = raw_get(&s, &format!("{COMPUTERS}?{raw}"));
        assert_eq!(status, 200, "{raw}: {body}");
        assert_eq!(names(&body), want, "{raw}");
        let (status, encoded_body) = raw_get(&s, &format!("{COMPUTERS}?{encoded}"));
        assert_eq!(status, 200, "{encoded}: {encoded_body}");
        assert_eq!(body, encoded_body, "{raw}");
    }
    // A raw `<` in the path is a 404 in JSON (no such route), not a bare 400.
    let (status, body) = raw_get(&s, "/api/<x>");
    assert_eq!(status, 404, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].is_string(), "{body}");
}

#[test]
fn pipelined_requests_with_bodies_keep_their_order_and_bytes() {
    let s = three_computers();
    let mut conn = connect(&s);
    let token = s.admin_token.clone();
    // A JSON body holding what looks like a request line must stay a body.
    let login = r#"{"user":"admin","password":"x<y> GET /api/x?<> HTTP/1.1"}"#;
    let chunked_body = r#"{"columns":["name"],"criteria":"{'and':[['name','>','p']]}"}"#;
    let requests = format!(
        "GET {COMPUTERS}?columns[]=name&criteria={{'and':[['name','<','p']]}} HTTP/1.1\r\nHost: x\r\nToken: {token}\r\n\r\n\
POST /api/get_token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{login}\
GET {COMPUTERS}?columns[]=name&criteria={{\"and\":[[\"name\",\">\",\"recent-a\"]]}} HTTP/1.1\r\nHost: x\r\nToken: {token}\r\n\r\n\
GET {COMPUTERS}?token={token} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
{:x}\r\n{chunked_body}\r\n0\r\n\r\n\
GET {COMPUTERS}?columns[]=name&criteria={{'and':[['name','=','old']]}} HTTP/1.1\r\nHost: x\r\nToken: {token}\r\nConnection: close\r\n\r\n",
        login.len(),
        chunked_body.len(),
    );
    conn.write_all(requests.as_bytes()).unwrap();
    let mut r = BufReader::new(conn);
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(
        (status, names(&body)),
        (200, vec!["old".to_string()]),
        "{body}"
    );
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(
        (status, names(&body)),
        (200, vec!["recent-b".to_string()]),
        "{body}"
    );
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(
        (status, names(&body)),
        (200, vec!["recent-a".to_string(), "recent-b".to_string()]),
        "{body}"
    );
    let (status, _, body) = read_answer(&mut r);
    assert_eq!(
        (status, names(&body)),
        (200, vec!["old".to_string()]),
        "{body}"
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}

/// What the server answers `bytes` with: status and `error`, then the
/// connection must close.
fn refusal(s: &TestServer, bytes: &[u8]) -> (u16, String) {
    let mut conn = connect(s);
    // The server may answer and close before it has read everything.
    let _ = conn.write_all(bytes);
    let mut r = BufReader::new(conn);
    let (status, head, body) = read_answer(&mut r);
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let mut rest = Vec::new();
    let _ = r.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    (status, v["error"].as_str().unwrap().to_string())
}

#[test]
fn malformed_request_heads_are_refused_in_json_with_their_status() {
    let s = TestServer::start();
    let many: String = (0..101).map(|i| format!("x-h{i}: v\r\n")).collect();
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
            400,
            "malformed request line",
        ),
        (
            b"GET /api/sam/about HTTP/3.0\r\n\r\n".to_vec(),
            400,
            "malformed request line",
        ),
        (
            b"GET /api/sam/about\r\n\r\n".to_vec(),
            400,
            "malformed request line",
        ),
        (
            b"GET /api/\xff HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "malformed request target",
        ),
        (
            b"GET /api/sam/about HTTP/1.1\r\nBad Header: 1\r\n\r\n".to_vec(),
            400,
            "malformed header",
        ),
        (
            b"POST /api/get_token HTTP/1.1\r\nContent-Length: ten\r\n\r\n".to_vec(),
            400,
            "Content-Length",
        ),
        (
            b"POST /api/get_token HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            400,
            "Transfer-Encoding",
        ),
        (
            format!("GET /api/sam/about HTTP/1.1\r\n{many}\r\n").into_bytes(),
            431,
            "more than 100 header fields",
        ),
        (
            format!(
                "GET /api/sam/about HTTP/1.1\r\nx: {}\r\n\r\n",
                "a".repeat(100_000)
            )
            .into_bytes(),
            431,
            "larger than 96 KiB",
        ),
        (
            format!(
                "GET /api/sam/about?q={} HTTP/1.1\r\n\r\n",
                "<".repeat(30_000)
            )
            .into_bytes(),
            414,
            "longer than 65,534 bytes",
        ),
    ];
    for (bytes, status, want) in cases {
        let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).to_string();
        let (got, error) = refusal(&s, &bytes);
        assert_eq!(got, status, "{shown}: {error}");
        assert!(error.contains(want), "{shown}: `{error}` lacks `{want}`");
    }
    // A good request before a bad head on the same connection is answered
    // first; the refusal closes the connection.
    let mut conn = connect(&s);
    write!(
        conn,
        "GET /api/sam/about?x=<> HTTP/1.1\r\nToken: {}\r\n\r\nGET /api/sam/about HTTP/1.1\r\nBad Header: 1\r\n\r\n",
        s.admin_token
    )
    .unwrap();
    let mut r = BufReader::new(conn);
    assert_eq!(read_answer(&mut r).0, 200);
    assert_eq!(read_answer(&mut r).0, 400);
    // The server is still fine.
    assert_eq!(s.get("/api/import_status.json").status(), 200);
}

#[test]
fn over_tls_raw_targets_work_and_only_http_1_1_is_offered() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed by .ci/run");
    assert!(ok.success());
    let s = TestServer::builder().tls(&cert, &key).start();
    let addr = s.base.trim_start_matches("https://").to_string();
    let request = format!(
        "GET /api/sam/about?criteria={{'and':[['name','<=','\"z\"']]}} HTTP/1.1\r\nHost: x\r\nToken: {}\r\nConnection: close\r\n\r\n",
        s.admin_token
    );
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &addr,
            "-alpn",
            "h2,http/1.1",
            "-ign_eof",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ALPN protocol: http/1.1"), "{text}");
    assert!(text.contains("HTTP/1.1 200 OK"), "{text}");
    assert!(text.contains(r#""product":"openlmt""#), "{text}");
}

/// IBM's Go client (datactl) asks `license_usage` for the day with its
/// criteria unencoded on the request line, repeated (all apply): nothing
/// in a bundle (openlmt has none), then the stand-alone selection it uses;
/// and `license_usage_per_server` in the shape of IBM's migration example.
/// The raw answers are the bytes of the percent-encoded requests.
#[test]
fn datactl_unencoded_licence_criteria_select_what_the_encoded_ones_do() {
    use common::fleet::{find, put_catalog, rows, write_packages};
    let s = TestServer::start();
    let token = s.admin_token.clone();
    put_catalog(&s, &token);
    write_packages(&s);
    let done = s.import_and_wait();
    assert_eq!(done["status"], "successful", "{done}");
    let today = chrono::Utc::now().date_naive().to_string();
    let same_raw_and_encoded = |path: &str, pairs: &[(&str, &str)]| -> Value {
        let (raw, encoded) = queries(pairs);
        let (status, raw_body) = raw_get(&s, &format!("{path}?{raw}"));
        assert_eq!(status, 200, "{raw}: {raw_body}");
        let (status, encoded_body) = raw_get(&s, &format!("{path}?{encoded}"));
        assert_eq!(status, 200, "{encoded}: {encoded_body}");
        assert_eq!(raw_body, encoded_body, "{raw}");
        serde_json::from_str(&raw_body).unwrap_or_else(|e| panic!("{e}: {raw_body}"))
    };
    let usage = "/api/sam/v2/license_usage";

    let bundled = same_raw_and_encoded(
        usage,
        &[
            ("startdate", &today),
            ("enddate", &today),
            ("criteria", "{'and':[['bundle_id','>','0']]}"),
            (
                "criteria",
                "{'and':[['metric_code_name','=','PVU_SUB_CAP']]}",
            ),
        ],
    );
    assert_eq!(bundled["total"], 0, "{bundled}");

    // The repeated criteria all apply: the stand-alone PVU_SUB_CAP row only.
    let sub = same_raw_and_encoded(
        usage,
        &[
            ("startdate", &today),
            ("enddate", &today),
            ("criteria", "{'and':[['bundle_id','<=','0']]}"),
            (
                "criteria",
                "{'and':[['metric_code_name','=','PVU_SUB_CAP']]}",
            ),
        ],
    );
    assert_eq!(sub["total"], 1, "{sub}");

    let alone = same_raw_and_encoded(
        usage,
        &[
            ("startdate", &today),
            ("enddate", &today),
            (
                "criteria",
                "{'and':[['bundle_id','<=','0'],['bundle_type','=','-1']]}",
            ),
        ],
    );
    assert_eq!(alone["total"], 2, "{alone}");
    let u = rows(&alone);
    let full = find(&u, "PVU_FULL_CAP");
    find(&u, "PVU_SUB_CAP");
    let product = full["product_id"].as_i64().unwrap();
    let product_id = product.to_string();

    let criteria = format!(
        "{{'and':[['product_id','=','{product_id}'],['metric_id','=','3'],['bundle_id','=','0']]}}"
    );
    let per = same_raw_and_encoded(
        "/api/sam/v2/license_usage_per_server",
        &[("date", &today), ("criteria", &criteria)],
    );
    let p = rows(&per);
    assert_eq!(per["total"], 2, "{per}");
    assert!(
        p.iter()
            .all(|r| r["metric_id"] == 3 && r["product_id"] == product),
        "{per}"
    );
    assert!(p.iter().any(|r| r["server"]["name"] == "dl180"), "{per}");
    assert!(p.iter().any(|r| r["server"]["type"] == 1), "{per}");
}
