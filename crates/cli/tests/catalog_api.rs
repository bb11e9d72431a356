//! Black-box tests of catalog management: `PUT /api/catalog`,
//! `GET /api/catalog`, `GET /api/catalog/export` and
//! `openlmt catalog import|show|export` against the real server.

mod common;

use common::{write_scan_package, TestServer};
use openlmt_catalog::{bundled, load, load_layer, merge_layers, BUNDLED_JSON, MAX_DOCUMENT_BYTES};
use reqwest::blocking::Response;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;

/// The minimal form from issue 8, verbatim.
const MINIMAL: &str = r#"{"catalog_version": "2026-12-01.1",
 "products": [{"id": "acme-server-7", "publisher": "ACME", "name": "ACME Server", "release": "7.1",
   "metric": "PVU",
   "components": [{"id": "acme-engine-7", "name": "ACME Server Engine", "release": "7.1", "charged": true,
     "signatures": [{"swid": {"regid": "acme.example", "persistent_id": "4f1e0c"}},
                    {"package": {"source": "rpm", "name": "acme-engine", "version": ">=7.1, <7.2"}}]}]}]}"#;

fn put_as(
    s: &TestServer,
    token: Option<&str>,
    body: impl Into<reqwest::blocking::Body>,
) -> Response {
    let mut req = s
        .http
        .put(s.url("/api/catalog"))
        .header("Content-Type", "application/json")
        .body(body);
    if let Some(t) = token {
        req = req.header("Token", t);
    }
    req.send().unwrap()
}

fn put(s: &TestServer, body: &str) -> Response {
    put_as(s, Some(&s.admin_token), body.to_string())
}

/// The status and the JSON body of an answer; every answer is JSON.
/// `PUT /api/catalog` written by hand on a socket: the headers, then as
/// much of `body` as the server takes (it may stop reading once it has
/// refused), then the answer.
fn raw_put(s: &TestServer, headers: &str, body: &[u8]) -> (u16, Value) {
    use std::io::{Read, Write};
    let addr = s
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "PUT /api/catalog HTTP/1.1\r\nHost: {addr}\r\nToken: {}\r\nContent-Type: application/json\r\n{headers}Connection: close\r\n\r\n",
        s.admin_token
    );
    sock.write_all(head.as_bytes()).unwrap();
    // A write error means the server stopped reading: its answer is waiting.
    let _ = sock.write_all(body);
    let mut answer = Vec::new();
    let _ = sock.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let json = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // The body may be chunked: take the JSON object in it.
    let start = json.find('{').unwrap_or(0);
    let end = json.rfind('}').map_or(json.len(), |i| i + 1);
    (
        status,
        serde_json::from_str(&json[start..end]).unwrap_or(Value::Null),
    )
}

fn answer(r: Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{status}: {ct}");
    (status, r.json().unwrap())
}

fn openlmt(args: &[&str], data_dir: &Path) -> Output {
    common::cli(data_dir)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

/// The bundled catalog with four errors of four kinds, one per product:
/// a bad version range, a regular expression that does not compile, a
/// product naming an unknown component, a wrong type.
fn bad_catalog() -> String {
    let mut doc: Value = serde_json::from_str(BUNDLED_JSON).unwrap();
    doc["catalog_version"] = "bad-1".into();
    let p = &mut doc["products"];
    assert_eq!(p[3]["id"], "ibm-mq-8.0");
    p[3]["components"][0]["signatures"][0]["package"]["version"] = ">=8.0, =<8.1".into();
    assert_eq!(p[6]["id"], "ibm-mq-9.2");
    p[6]["components"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "ibm-mq-ghost"}));
    assert_eq!(p[28]["id"], "postgresql");
    p[28]["components"][0]["signatures"][0]["package"]["name"] =
        json!({"regex": "postgresql-([0-9]+"});
    p[20]["release"] = 7.into();
    doc.to_string()
}

const BAD_PATHS: [&str; 4] = [
    "products[3].components[0].signatures[0].package.version",
    "products[6].components[1].id",
    "products[20].release",
    "products[28].components[0].signatures[0].package.name.regex",
];

#[test]
fn the_minimal_catalog_is_accepted_verbatim_and_exports_as_bundled_plus_acme() {
    let s = TestServer::start();
    let before = s.json("/api/catalog");
    let b = bundled().unwrap();
    assert_eq!(
        before["bundled"]["catalog_version"],
        b.catalog_version.as_str()
    );
    assert_eq!(
        before["bundled"]["counts"],
        json!({"products": b.products.len(), "components": b.components.len(), "signatures": b.signature_count()})
    );
    assert_eq!(before["operator"], Value::Null);
    assert_eq!(before["in_force"], Value::Null);
    assert_eq!(before["problem"], Value::Null);
    assert_eq!(before["effective"]["counts"], before["bundled"]["counts"]);
    assert_eq!(before["pending"], true, "no complete import has applied it");

    let r = put(&s, MINIMAL);
    assert_eq!(r.headers()["content-language"], "en-US");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let (status, body) = answer(r);
    assert_eq!(status, 200, "{body}");
    let now = s.json("/api/catalog");
    assert_eq!(body, now, "PUT answers what GET shows");
    let op = &now["operator"];
    assert_eq!(op["catalog_version"], "2026-12-01.1");
    assert_eq!(op["set_by"], "admin");
    assert!(
        openlmt_domain::time::parse_utc(op["set_at"].as_str().unwrap()).is_some(),
        "{op}"
    );
    assert_eq!(
        op["counts"],
        json!({"products": 1, "components": 1, "signatures": 2})
    );
    let eff = &now["effective"];
    assert_eq!(eff["catalog_version"], "2026-12-04.1+2026-12-01.1");
    assert_eq!(
        eff["counts"],
        json!({"products": b.products.len() + 1, "components": b.components.len() + 1,
               "signatures": b.signature_count() + 2})
    );
    assert_ne!(eff["hash"], before["effective"]["hash"]);
    assert_eq!(eff["hash"].as_str().unwrap().len(), 64);

    // The export: an attachment named after the version, loadable by
    // `load`, equal to bundled + ACME.
    let r = s.get("/api/catalog/export");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-disposition"],
        "attachment; filename=\"openlmt-catalog-2026-12-04.1+2026-12-01.1.json\""
    );
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let text = r.text().unwrap();
    let exported = load(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let expected = merge_layers(&b, &load_layer(MINIMAL, &b).unwrap());
    assert_eq!(exported, expected);
    assert!(exported.product("acme-server-7").is_some());
    assert_eq!(exported.products.len(), b.products.len() + 1);

    // The export, put back as the operator's layer, is accepted too.
    let (status, body) = answer(put(&s, &text));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["operator"]["catalog_version"],
        "2026-12-04.1+2026-12-01.1"
    );
}

#[test]
fn a_bad_catalog_is_refused_whole_with_every_error_and_the_previous_layer_stays() {
    let s = TestServer::start();
    assert_eq!(answer(put(&s, MINIMAL)).0, 200);
    let before = s.json("/api/catalog");

    let (status, body) = answer(put(&s, &bad_catalog()));
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"],
        "the catalog was refused: 4 errors; nothing was changed"
    );
    let errors = body["errors"].as_array().unwrap();
    let paths: Vec<&str> = errors.iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(paths, BAD_PATHS, "{body}");
    let messages: Vec<&str> = errors
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages[0], "bad operator \"=<\"");
    assert_eq!(
        messages[1],
        "unknown component \"ibm-mq-ghost\" (not defined in this catalog nor in the bundled one)"
    );
    assert!(
        messages[2].starts_with("invalid type: integer `7`, expected a string"),
        "{}",
        messages[2]
    );
    assert!(
        messages[3].starts_with("invalid regular expression: "),
        "{}",
        messages[3]
    );
    // Nothing changed: the previous layer is still in force.
    assert_eq!(s.json("/api/catalog"), before);

    // Not JSON at all, and not UTF-8: refused the same way, with one error.
    let (status, body) = answer(put(&s, "{\"catalog_version\": \"x\", "));
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "the catalog was refused: 1 error; nothing was changed"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{body}"
    );
    let mut latin1 = MINIMAL.as_bytes().to_vec();
    latin1.extend_from_slice(b" \xe9");
    let (status, body) = answer(put_as(&s, Some(&s.admin_token), latin1));
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["path"], "");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("the body is not UTF-8 text"));

    // The same through the CLI: non-zero exit, every error with its path.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.json");
    std::fs::write(&file, bad_catalog()).unwrap();
    let out = openlmt(&["catalog", "import", file.to_str().unwrap()], &s.data_dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: the catalog was refused: 4 errors; nothing was changed\n"),
        "{stderr}"
    );
    for p in BAD_PATHS {
        assert!(stderr.contains(&format!("  {p}: ")), "{p} in {stderr}");
    }
    assert_eq!(s.json("/api/catalog"), before);
}

#[test]
fn permissions() {
    let s = TestServer::start();
    s.add_user("viewer", "viewer-password-1", &["view_software"]);
    s.add_user(
        "classifier",
        "classifier-password-1",
        &["manage_software_classification"],
    );
    s.add_user("nobody", "nobody-password-1", &[]);
    let viewer = s.token("viewer", "viewer-password-1");
    let classifier = s.token("classifier", "classifier-password-1");
    let nobody = s.token("nobody", "nobody-password-1");

    // No token: 401 everywhere.
    for path in ["/api/catalog", "/api/catalog/export"] {
        let (status, body) = answer(s.http.get(s.url(path)).send().unwrap());
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("authentication required"));
    }
    let (status, _) = answer(put_as(&s, None, MINIMAL));
    assert_eq!(status, 401);

    // No permission: 403, naming the permission.
    for path in ["/api/catalog", "/api/catalog/export"] {
        let (status, body) = answer(s.get_as(&nobody, path));
        assert_eq!(status, 403, "{path}");
        assert!(
            body["error"].as_str().unwrap().contains("view_software"),
            "{body}"
        );
    }
    let (status, body) = answer(put_as(&s, Some(&nobody), MINIMAL));
    assert_eq!(status, 403);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("manage_software_classification"));

    // view_software reads and exports, but may not change the catalog.
    assert_eq!(s.get_as(&viewer, "/api/catalog").status(), 200);
    assert_eq!(s.get_as(&viewer, "/api/catalog/export").status(), 200);
    let (status, _) = answer(put_as(&s, Some(&viewer), MINIMAL));
    assert_eq!(status, 403);
    assert_eq!(s.json("/api/catalog")["operator"], Value::Null);

    // manage_software_classification changes it (and is told the result).
    let (status, body) = answer(put_as(&s, Some(&classifier), MINIMAL));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["operator"]["set_by"], "classifier");
}

#[test]
fn a_body_over_the_limit_is_refused_with_413() {
    let s = TestServer::start();
    assert_eq!(answer(put(&s, MINIMAL)).0, 200);
    let before = s.json("/api/catalog");
    let mut big = vec![b' '; MAX_DOCUMENT_BYTES + 1];
    big[..MINIMAL.len()].copy_from_slice(MINIMAL.as_bytes());

    // With a Content-Length: refused before the body is read (the request
    // is written by hand and its body never sent, so the answer cannot race
    // with a client still writing a body the server will not read).
    let (status, body) = raw_put(&s, &format!("Content-Length: {}\r\n", big.len()), &[]);
    assert_eq!(status, 413);
    assert_eq!(
        body["error"],
        format!("the catalog is larger than the limit of {MAX_DOCUMENT_BYTES} bytes; nothing was changed")
    );
    // Chunked (no Content-Length): refused once the limit is passed; the
    // whole body is written before the answer is read.
    let mut chunked = Vec::with_capacity(big.len() + 64);
    for part in big.chunks(1 << 20) {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let (status, body) = raw_put(&s, "Transfer-Encoding: chunked\r\n", &chunked);
    assert_eq!(status, 413);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("larger than the limit"));
    assert_eq!(s.json("/api/catalog"), before);
}

#[test]
fn the_cli_imports_shows_and_exports_while_the_server_runs() {
    let s = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("minimal.json");
    std::fs::write(&file, MINIMAL).unwrap();
    let out = openlmt(&["catalog", "import", file.to_str().unwrap()], &s.data_dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("stored the operator's catalog 2026-12-01.1 (1 products, 1 components, 2 signatures); it takes effect at the next complete import"),
        "{stdout}"
    );

    // The server sees it at once (it reads the layer from the database).
    let info = s.json("/api/catalog");
    assert_eq!(info["operator"]["catalog_version"], "2026-12-01.1");
    assert_eq!(info["operator"]["set_by"], "cli");

    // `show --json` is GET /api/catalog.
    let out = openlmt(&["catalog", "show", "--json"], &s.data_dir);
    assert!(out.status.success());
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown, info);
    let out = openlmt(&["catalog", "show"], &s.data_dir);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("operator:  2026-12-01.1 (set "));

    // `export FILE` writes what GET /api/catalog/export answers.
    let exported = dir.path().join("effective.json");
    let out = openlmt(
        &["catalog", "export", exported.to_str().unwrap()],
        &s.data_dir,
    );
    assert!(out.status.success());
    let text = std::fs::read_to_string(&exported).unwrap();
    assert_eq!(
        text.trim_end(),
        s.get("/api/catalog/export").text().unwrap()
    );
    assert!(load(&text).unwrap().product("acme-server-7").is_some());

    // A file that does not exist: an error, nothing changed.
    let out = openlmt(
        &["catalog", "import", "/nonexistent/catalog.json"],
        &s.data_dir,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/catalog.json"));
    assert_eq!(s.json("/api/catalog"), info);
}

#[test]
fn a_complete_import_applies_the_catalog_and_a_change_is_pending_until_the_next() {
    let s = TestServer::start();
    write_scan_package(&s.datasource(), "202611281200", "debian12-vm");
    let import = s.import_and_wait();
    assert_eq!(import["status"], "successful", "{import}");
    let info = s.json("/api/catalog");
    let in_force = &info["in_force"];
    assert_eq!(in_force["hash"], info["effective"]["hash"], "{info}");
    assert_eq!(in_force["import_id"], import["id"]);
    assert_eq!(in_force["version"], info["effective"]["version"]);
    assert!(openlmt_domain::time::parse_utc(in_force["applied_at"].as_str().unwrap()).is_some());
    assert_eq!(info["pending"], false);

    // A new operator layer is pending until the next complete import.
    let (_, body) = answer(put(&s, MINIMAL));
    assert_eq!(body["pending"], true);
    assert_eq!(body["in_force"], info["in_force"]);
    let import = s.import_and_wait();
    let info = s.json("/api/catalog");
    assert_eq!(info["in_force"]["import_id"], import["id"]);
    assert_eq!(info["in_force"]["hash"], info["effective"]["hash"]);
    assert_eq!(info["pending"], false);
}

#[test]
fn a_stored_layer_that_no_longer_loads_is_reported_not_exported() {
    // What an upgrade that drops a bundled component would leave: a stored
    // operator layer that refers to a component this version does not have.
    let s = TestServer::start();
    let layer = r#"{"catalog_version": "old-1", "products": [
        {"id": "p", "publisher": "Us", "name": "P", "components": [{"id": "gone-from-bundled"}]}]}"#;
    {
        let (rt, store) = s.store();
        rt.block_on(store.set_operator_catalog("old-1", layer, "admin"))
            .unwrap();
    }
    let info = s.json("/api/catalog");
    assert_eq!(info["operator"]["catalog_version"], "old-1");
    assert_eq!(info["operator"]["counts"], Value::Null);
    assert_eq!(info["effective"], Value::Null);
    assert_eq!(info["pending"], false);
    let problem = info["problem"].as_str().unwrap();
    assert!(problem.contains("gone-from-bundled"), "{problem}");
    assert!(problem.contains("PUT /api/catalog"), "{problem}");
    let (status, body) = answer(s.get("/api/catalog/export"));
    assert_eq!(status, 409);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .starts_with("there is no effective catalog to export: "));
    // Replacing the layer repairs it.
    assert_eq!(answer(put(&s, MINIMAL)).0, 200);
    assert_eq!(s.json("/api/catalog")["problem"], Value::Null);
}
