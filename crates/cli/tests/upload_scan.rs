//! Black-box tests of issue 3 parts 2, 3 and 6: the upload API
//! (`POST /api/sam/v2/scan_results_upload`), `openlmt scan`, and
//! `openlmt serve --scan-host`. Real data only: packages are built from the
//! corpus (or scanned from this machine); malformed bodies are derived here
//! from those real files.

mod common;

use common::{bin, corpus, files, upload, write_scan_package, TestServer, ADMIN_PASSWORD, UPLOAD};
use reqwest::blocking::Response;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A real package built from the corpus, outside any data source.
fn real_scan_package(stamp: &str, endpoint: &str) -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_scan_package(dir.path(), stamp, endpoint);
    let bytes = std::fs::read(&path).unwrap();
    (dir, path, bytes)
}

/// The corpus host's package as the scanner's writer writes it (computer.yml states the
/// facts digest), with one hex digit of the stated digest changed.
fn package_stating_a_wrong_digest(endpoint: &str) -> Vec<u8> {
    use std::io::Read;
    let mut c = openlmt_scanpkg::ComputerInfo::new(endpoint);
    c.scan_time = openlmt_scanpkg::computer::parse_scan_time("2026-11-28T12:00:00Z");
    let p = openlmt_scanpkg::build_scan_package_from_dir(&corpus().join("hosts/debian12-vm"), c)
        .unwrap();
    let b = openlmt_scanpkg::scan_package_bytes(&p).unwrap();
    let mut tar = Vec::new();
    flate2::read::MultiGzDecoder::new(&b[..])
        .read_to_end(&mut tar)
        .unwrap();
    let key = b"Facts Digest: 1:";
    let at = tar.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    tar[at] = if tar[at] == b'0' { b'1' } else { b'0' };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

/// Asserts the status and the `{"success":false,"error":…}` shape; returns the error.
fn rejected(r: Response, status: u16) -> String {
    assert_eq!(r.status(), status);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().unwrap();
    assert!(
        text.contains("\"success\":false"),
        "compact success:false in {text}"
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["success"], false);
    v["error"].as_str().expect("an error string").to_string()
}

#[test]
fn upload_then_import_finds_and_imports_it() {
    let s = TestServer::start();
    let (_t, _p, bytes) = real_scan_package("202611281200", "upload-host-1");
    let name = "202611281200-upload-host-1.tar.gz";
    let r = upload(
        &s,
        Some(&s.admin_token),
        &format!("?filename={name}"),
        bytes.clone(),
    );
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let text = r.text().unwrap();
    // Scanner scripts grep for exactly this.
    assert!(text.contains("\"success\":true"), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["filename"], name);
    assert_eq!(v["datasource_name"], "default");
    assert_eq!(v["size"], bytes.len() as u64);
    let sha = v["sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);

    // The file is in the data source, whole, and nothing else is.
    assert_eq!(files(&s.datasource()), vec![name.to_string()]);
    assert_eq!(std::fs::read(s.datasource().join(name)).unwrap(), bytes);

    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful");
    assert_eq!(imp["packages"]["found"], 1);
    assert_eq!(imp["packages"]["imported"], 1);
    assert_eq!(imp["packages"]["rejected"], 0);
    let pk = s.json(&format!("/api/imports/{}/packages", imp["id"]));
    assert_eq!(pk["rows"][0]["file_name"], name);
    assert_eq!(
        pk["rows"][0]["sha256"],
        sha.as_str(),
        "same hash as the upload"
    );

    // A doubled slash (as real scripts send it) works too; the same name again
    // replaces the file.
    let r = s
        .http
        .post(format!("{}/{UPLOAD}?filename={name}", s.base))
        .header("Token", &s.admin_token)
        .body(bytes.clone())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(files(&s.datasource()), vec![name.to_string()]);
}

#[test]
fn upload_needs_a_token_and_the_permission() {
    let s = TestServer::start();
    let (_t, _p, bytes) = real_scan_package("202611281200", "auth-host");
    let q = "?filename=202611281200-auth-host.tar.gz";

    let e = rejected(upload(&s, None, q, bytes.clone()), 401);
    assert!(e.contains("authentication required"), "{e}");
    let e = rejected(upload(&s, Some("not-a-token"), q, bytes.clone()), 401);
    assert!(e.contains("not valid"), "{e}");

    s.add_user(
        "viewer",
        "viewer-password-1",
        &["view_endpoints", "manage_imports"],
    );
    let viewer = s.token("viewer", "viewer-password-1");
    let e = rejected(upload(&s, Some(&viewer), q, bytes.clone()), 403);
    assert!(e.contains("upload_scan_results"), "{e}");
    assert!(files(&s.datasource()).is_empty());

    s.add_user("scanner", "scanner-password-1", &["upload_scan_results"]);
    let scanner = s.token("scanner", "scanner-password-1");
    let r = upload(&s, Some(&scanner), q, bytes);
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("\"success\":true"));
}

#[test]
fn upload_rejects_bad_names_and_unknown_data_sources() {
    let s = TestServer::start();
    let (_t, _p, bytes) = real_scan_package("202611281200", "names-host");
    let t = Some(s.admin_token.as_str());

    let e = rejected(upload(&s, t, "", bytes.clone()), 400);
    assert!(e.contains("`filename` parameter is required"), "{e}");
    let e = rejected(upload(&s, t, "?filename=", bytes.clone()), 400);
    assert!(e.contains("`filename` parameter is required"), "{e}");
    for (query, shown) in [
        ("?filename=../../etc/x.tar.gz", "../../etc/x.tar.gz"),
        ("?filename=..%2F..%2Fetc%2Fx.tar.gz", "../../etc/x.tar.gz"),
        (
            "?filename=202611281200-..%2F..%2Fnames-host.tar.gz",
            "202611281200-../../names-host.tar.gz",
        ),
        (
            "?filename=202611281200-a%2Fnames-host.tar.gz",
            "202611281200-a/names-host.tar.gz",
        ),
        (
            "?filename=%2Ftmp%2F202611281200-names-host.tar.gz",
            "/tmp/202611281200-names-host.tar.gz",
        ),
        (
            "?filename=202611281200-.names-host.tar.gz",
            "202611281200-.names-host.tar.gz",
        ),
        ("?filename=.upload-x.tmp", ".upload-x.tmp"),
        (
            "?filename=202611281200-names-host.tar",
            "202611281200-names-host.tar",
        ),
        (
            "?filename=202613281200-names-host.zip",
            "202613281200-names-host.zip",
        ),
    ] {
        let e = rejected(upload(&s, t, query, bytes.clone()), 400);
        assert!(
            e.contains(&format!("`{shown}` is not a scan package name")),
            "{query}: {e}"
        );
    }
    let e = rejected(
        upload(
            &s,
            t,
            "?filename=202611281200-names-host.tar.gz&datasource_name=nope",
            bytes.clone(),
        ),
        404,
    );
    assert_eq!(
        e,
        "datasource_name: there is no data source `nope`; the data sources are: `default`"
    );
    // IBM's upload script tells its user DATASOURCE_NAME is wrong only when
    // the raw answer matches this regex (it sends `&&datasource_name=`).
    let blames_datasource = regex::Regex::new(r#"success":false.*datasource_name"#).unwrap();
    let r = upload(
        &s,
        t,
        "?filename=202611281200-names-host.tar.gz&&datasource_name=nope",
        bytes.clone(),
    );
    assert_eq!(r.status(), 404);
    let raw = r.text().unwrap();
    assert!(blames_datasource.is_match(&raw), "{raw}");
    // Nothing was written anywhere near the data directory.
    assert!(files(&s.datasource()).is_empty());
    assert!(!s.data_dir.join("etc").exists());
    assert!(!s.data_dir.parent().unwrap().join("etc").exists());
    let imp = s.import_and_wait();
    assert_eq!(imp["packages"]["found"], 0);
}

#[test]
fn upload_size_limit_is_enforced_while_streaming() {
    let root = tempfile::tempdir().unwrap();
    let one = root.path().join("one");
    let two = root.path().join("two");
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let (_t, _p, bytes) = real_scan_package("202611281200", "big-host");
    let limit = bytes.len() as u64 + 10;
    let s = TestServer::builder()
        .config(&format!(
            "upload_max_bytes = {limit}\n\n[[datasource]]\nname = \"one\"\npath = \"{}\"\n\n[[datasource]]\nname = \"two\"\npath = \"{}\"\n",
            one.display(),
            two.display()
        ))
        .start();
    let t = Some(s.admin_token.as_str());
    let q = "?filename=202611281200-big-host.tar.gz&datasource_name=two";

    // Within the limit: accepted into the named data source.
    let r = upload(&s, t, q, bytes.clone());
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["datasource_name"], "two");
    assert_eq!(files(&two), vec!["202611281200-big-host.tar.gz"]);
    assert!(files(&one).is_empty());
    std::fs::remove_file(two.join("202611281200-big-host.tar.gz")).unwrap();

    // Over the limit with a Content-Length: refused before reading.
    let mut big = bytes.clone();
    big.extend_from_slice(&bytes[..64]);
    let e = rejected(upload(&s, t, q, big.clone()), 413);
    assert_eq!(
        e,
        format!("the package is larger than the upload limit of {limit} bytes (server setting upload_max_bytes)")
    );

    // Over the limit without a Content-Length (chunked): refused while
    // streaming, and the temporary file is gone.
    let r = s
        .http
        .post(s.url(&format!("{UPLOAD}{q}")))
        .header("Token", &s.admin_token)
        .body(reqwest::blocking::Body::new(std::io::Cursor::new(big)))
        .send()
        .unwrap();
    let e = rejected(r, 413);
    assert!(e.contains("upload limit"), "{e}");
    assert!(files(&one).is_empty());
    assert!(
        files(&two).is_empty(),
        "no temporary file remains: {:?}",
        files(&two)
    );

    // The default data source is the first configured one.
    let r = upload(&s, t, "?filename=202611281200-big-host.tar.gz", bytes);
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["datasource_name"], "one");
    assert_eq!(files(&one), vec!["202611281200-big-host.tar.gz"]);
}

#[test]
fn upload_rejects_bodies_that_are_not_readable_packages() {
    let s = TestServer::start();
    let t = Some(s.admin_token.as_str());
    let (_t, _p, bytes) = real_scan_package("202611281200", "bad-host");
    let name = "202611281200-bad-host.tar.gz";
    let q = format!("?filename={name}");

    // A real file that is not an archive.
    let cpuinfo = std::fs::read(corpus().join("hosts/debian12-vm/cpuinfo")).unwrap();
    let e = rejected(upload(&s, t, &q, cpuinfo), 422);
    assert_eq!(
        e,
        format!("`{name}` is not a readable scan package: not a gzip archive: file does not start with the gzip magic bytes 1f 8b")
    );
    // A truncated archive.
    let e = rejected(upload(&s, t, &q, bytes[..bytes.len() / 2].to_vec()), 422);
    assert!(
        e.starts_with(&format!(
            "`{name}` is not a readable scan package: corrupt archive"
        )),
        "{e}"
    );
    // A tar.gz sent under a .zip name.
    let e = rejected(
        upload(&s, t, "?filename=202611281200-bad-host.zip", bytes.clone()),
        422,
    );
    assert!(e.contains("not a zip archive"), "{e}");
    // An empty body.
    let e = rejected(upload(&s, t, &q, Vec::new()), 422);
    assert!(e.contains("not a readable scan package"), "{e}");
    // A package whose computer.yml states a facts digest its fact members do not have
    // (a writer's fault, or an edit after writing): the whole reading checks it.
    let e = rejected(
        upload(&s, t, &q, package_stating_a_wrong_digest("bad-host")),
        422,
    );
    assert!(
        e.starts_with(&format!(
            "`{name}` is not a readable scan package: computer.yml states the facts digest 1:"
        )),
        "{e}"
    );
    // A readable package under another endpoint's name.
    let e = rejected(
        upload(&s, t, "?filename=202611281200-other-host.tar.gz", bytes),
        422,
    );
    assert_eq!(
        e,
        "`202611281200-other-host.tar.gz` names endpoint `other-host` but its computer.yml says endpointID `bad-host`"
    );

    assert!(
        files(&s.datasource()).is_empty(),
        "{:?}",
        files(&s.datasource())
    );
    let imp = s.import_and_wait();
    assert_eq!(imp["packages"]["found"], 0);
}

#[test]
fn a_client_that_disconnects_mid_upload_leaves_nothing() {
    let s = TestServer::start();
    let (_t, _p, bytes) = real_scan_package("202611281200", "gone-host");
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST {UPLOAD}?filename=202611281200-gone-host.tar.gz HTTP/1.1\r\nHost: {addr}\r\nToken: {}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        s.admin_token,
        bytes.len()
    )
    .unwrap();
    conn.write_all(&bytes[..bytes.len() / 2]).unwrap();
    conn.flush().unwrap();
    // The upload is in progress: a hidden temporary file only.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = files(&s.datasource());
        if f.iter()
            .any(|n| n.starts_with(".upload-") && n.ends_with(".tmp"))
        {
            assert_eq!(f.len(), 1, "{f:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no temporary file appeared: {f:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !files(&s.datasource()).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the temporary file remains: {:?}",
            files(&s.datasource())
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let imp = s.import_and_wait();
    assert_eq!(imp["packages"]["found"], 0);
}

#[test]
fn scan_output_writes_a_readable_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .args(["scan", "--output"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    let path = PathBuf::from(printed.trim());
    assert_eq!(path.parent().unwrap(), dir.path());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(files(dir.path()), vec![name.clone()], "only the package");
    let parsed = openlmt_domain::ScanPackageName::parse(&name).unwrap();
    let pkg = openlmt_scanpkg::read_scan_package_file(&path, &openlmt_scanpkg::Limits::default())
        .expect("the reader accepts the scanner's package");
    assert_eq!(pkg.computer.endpoint_id, parsed.endpoint_id());
    let cores = pkg
        .capacity
        .cores
        .expect("the scanner's cpuinfo gives cores");
    assert!(cores >= 1 && pkg.capacity.threads >= Some(cores));
    assert!(pkg.computer.computer_name.is_some(), "{:?}", pkg.computer);

    // Without --output: the current directory.
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("scan")
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(files(cwd.path()).len(), 1);
}

#[test]
fn scan_upload_sends_this_machine_to_a_server() {
    let s = TestServer::start();
    s.add_user("scanner", "scanner-password-1", &["upload_scan_results"]);
    let token = s.token("scanner", "scanner-password-1");

    let out = Command::new(bin())
        .args(["scan", "--upload", &s.base, "--token", &token])
        .env_remove("OPENLMT_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert!(printed.contains("\"success\":true"), "{printed}");
    let v: Value = serde_json::from_str(printed.trim()).unwrap();
    let name = v["filename"].as_str().unwrap().to_string();
    assert_eq!(files(&s.datasource()), vec![name.clone()]);

    // The token from the environment, the full upload URL, an unknown data
    // source: the server's refusal is shown and the exit status is non-zero.
    let out = Command::new(bin())
        .args([
            "scan",
            "--upload",
            &s.url(UPLOAD),
            "--datasource-name",
            "nope",
        ])
        .env("OPENLMT_TOKEN", &token)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("404"), "{err}");
    assert!(
        err.contains("datasource_name: there is no data source `nope`"),
        "{err}"
    );

    // No token at all.
    let out = Command::new(bin())
        .args(["scan", "--upload", &s.base])
        .env_remove("OPENLMT_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs an API token"));

    let imp = s.import_and_wait();
    assert_eq!(imp["status"], "successful");
    assert_eq!(imp["packages"]["found"], 1);
    assert_eq!(imp["packages"]["imported"], 1);
}

/// Kills the server when the test ends, even when it fails.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openlmt serve --scan-host` on a data directory; returns the child, the
/// base URL and the stdout lines (the rest keep arriving on the channel).
fn serve_scan_host(data_dir: &Path) -> (KillOnDrop, String, Vec<String>, mpsc::Receiver<String>) {
    let mut child = common::serve_command(data_dir)
        .args(["--scan-host", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env("OPENLMT_LOG", "warn")
        .env("OPENLMT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env_remove("OPENLMT_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("the server did not start: {lines:?}"));
        lines.push(line.clone());
        if let Some(rest) = line.strip_prefix("openlmt listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    (child, base, lines, rx)
}

/// Polls the status until `last_status` is `successful` and the history
/// holds `imports` imports; returns the history.
fn wait_successful_import(
    http: &reqwest::blocking::Client,
    base: &str,
    token: &str,
    imports: i64,
) -> Value {
    let get = |path: &str| -> Value {
        http.get(format!("{base}{path}"))
            .header("Token", token)
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let st = get("/api/import_status.json");
        let history = get("/api/imports");
        if st["last_status"] == "successful"
            && history["total"].as_i64() >= Some(imports)
            && history["rows"][0]["status"] == "successful"
        {
            return history;
        }
        assert!(
            Instant::now() < deadline,
            "no successful import: {st} {history}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn serve_scan_host_imports_this_machine_on_first_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let (child, base, mut lines, rx) = serve_scan_host(&data);
    let token: Value = http
        .post(format!("{base}/api/get_token"))
        .json(&serde_json::json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = token["token"].as_str().unwrap().to_string();
    let imports = wait_successful_import(&http, &base, &token, 1);
    assert_eq!(imports["total"], 1, "exactly one import: {imports}");
    let imp = &imports["rows"][0];
    assert_eq!(imp["status"], "successful");
    assert_eq!(imp["type"], "complete");
    assert_eq!(imp["trigger"], "cli");
    assert_eq!(imp["packages"]["found"], 1);
    assert_eq!(imp["packages"]["imported"], 1);
    let pkgs = files(&data.join("datasource"));
    assert_eq!(pkgs.len(), 1, "{pkgs:?}");
    openlmt_scanpkg::read_scan_package_file(
        &data.join("datasource").join(&pkgs[0]),
        &openlmt_scanpkg::Limits::default(),
    )
    .unwrap();

    // The banner: URL, user, password source, and the curl lines.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !lines
        .iter()
        .any(|l| l.starts_with("Import ") && l.contains(" ended "))
    {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("no end-of-import line: {lines:?}"),
        }
    }
    let all = lines.join("\n");
    assert!(all.contains(&format!("  URL:      {base}/")), "{all}");
    assert!(all.contains("  User:     admin"), "{all}");
    assert!(all.contains("OPENLMT_ADMIN_PASSWORD"), "{all}");
    assert!(
        all.contains(&format!(
            "curl -H \"Token: $TOKEN\" {base}/api/import_status.json"
        )),
        "{all}"
    );
    assert!(
        all.contains("ended successful (1 package(s) found, 1 imported, 0 rejected)"),
        "{all}"
    );
    drop(child);

    // A second start within the hour reuses the package: no new scan, and the
    // import finds the package already imported.
    let (child, base, lines, _rx) = serve_scan_host(&data);
    assert!(
        lines.iter().any(|l| l.contains("not scanning again")),
        "{lines:?}"
    );
    let imports = wait_successful_import(&http, &base, &token, 2);
    assert_eq!(imports["total"], 2);
    assert_eq!(imports["rows"][0]["packages"]["found"], 1);
    assert_eq!(files(&data.join("datasource")), pkgs);
    drop(child);
}
