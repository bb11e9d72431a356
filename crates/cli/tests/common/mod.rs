//! A black-box harness: starts the real `openlmt` binary on port 0 with a
//! fresh data directory and talks HTTP to it like any client.
#![allow(dead_code)]

pub mod fleet;
pub mod panel;

use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_openlmt")
}

/// The real data of the shared corpus (read-only).
pub fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus")
}

pub struct ServerBuilder {
    data_dir: Option<PathBuf>,
    env: Vec<(String, String)>,
    config: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    admin_password: bool,
}

pub struct TestServer {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub stdout: Vec<String>,
    pub http: Client,
    pub admin_token: String,
    builder_env: Vec<(String, String)>,
    config: Option<String>,
}

impl ServerBuilder {
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Sets the engine's test hooks (`OPENLMT_TEST_HOOKS`, e.g.
    /// `pause=before_publish;fail=after_publish`; see
    /// crates/ingest/src/hooks.rs). A binary built without the `test-hooks`
    /// feature refuses to start with them, so such a test fails loudly.
    pub fn hooks(self, spec: &str) -> Self {
        self.env("OPENLMT_TEST_HOOKS", spec)
    }
    /// Every import pauses before its publish until [`TestServer::release`].
    pub fn pause_before_publish(self) -> Self {
        self.hooks("pause=before_publish")
    }
    pub fn config(mut self, toml: &str) -> Self {
        self.config = Some(toml.into());
        self
    }
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.into());
        self
    }
    pub fn tls(mut self, cert: &Path, key: &Path) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }
    /// Leaves OPENLMT_ADMIN_PASSWORD unset, so the server generates one.
    pub fn generated_admin_password(mut self) -> Self {
        self.admin_password = false;
        self
    }

    pub fn start(self) -> TestServer {
        let (tmp, data_dir) = match self.data_dir {
            Some(d) => (None, d),
            None => {
                let t = tempfile::tempdir().expect("tempdir");
                let d = t.path().join("data");
                (Some(t), d)
            }
        };
        let mut env = self.env;
        if self.admin_password {
            env.push(("OPENLMT_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
        }
        let mut s = TestServer {
            child: None,
            base: String::new(),
            data_dir,
            _tmp: tmp,
            stdout: Vec::new(),
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap(),
            admin_token: String::new(),
            builder_env: env,
            config: self.config,
        };
        s.spawn(self.tls);
        if s.admin_password_known() {
            s.admin_token = s.token("admin", ADMIN_PASSWORD);
        }
        s
    }
}

impl TestServer {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            data_dir: None,
            env: Vec::new(),
            config: None,
            tls: None,
            admin_password: true,
        }
    }

    pub fn start() -> TestServer {
        Self::builder().start()
    }

    fn admin_password_known(&self) -> bool {
        self.builder_env
            .iter()
            .any(|(k, _)| k == "OPENLMT_ADMIN_PASSWORD")
    }

    fn spawn(&mut self, tls: Option<(PathBuf, PathBuf)>) {
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .env("OPENLMT_LOG", "warn")
            .env_remove("OPENLMT_ADMIN_PASSWORD")
            .env_remove("OPENLMT_TEST_HOOKS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(cfg) = &self.config {
            std::fs::create_dir_all(&self.data_dir).unwrap();
            let path = self.data_dir.with_extension("toml");
            std::fs::write(&path, cfg).unwrap();
            cmd.arg("--config").arg(path);
        }
        if let Some((cert, key)) = &tls {
            cmd.arg("--tls-cert").arg(cert).arg("--tls-key").arg(key);
        }
        for (k, v) in &self.builder_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start openlmt");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        self.stdout.clear();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|_| {
                panic!("the server did not start; its output: {:?}", self.stdout)
            });
            if let Some(rest) = line.strip_prefix("openlmt listening on ") {
                self.base = rest.split_whitespace().next().unwrap().to_string();
                self.stdout.push(line);
                break;
            }
            self.stdout.push(line);
        }
        self.child = Some(child);
    }

    /// Stops with SIGKILL (no cleanup at all), like a crash or power loss.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Sends SIGTERM and waits for the exit; returns status and time taken.
    pub fn sigterm(&mut self) -> (ExitStatus, Duration) {
        let mut c = self.child.take().expect("running");
        let t = Instant::now();
        let ok = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = c.try_wait().unwrap() {
                return (st, t.elapsed());
            }
            if Instant::now() > deadline {
                c.kill().unwrap();
                panic!("the server did not exit within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.spawn(None);
        if !self.admin_token.is_empty() {
            // Tokens survive restarts.
            let r = self.get("/api/import_status.json");
            assert_eq!(r.status(), 200);
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn token(&self, user: &str, password: &str) -> String {
        let r = self
            .http
            .post(self.url("/api/get_token"))
            .json(&serde_json::json!({"user": user, "password": password}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "get_token for {user}");
        r.json::<Value>().unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn get_as(&self, token: &str, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .header("Token", token)
            .send()
            .unwrap()
    }

    pub fn get(&self, path: &str) -> Response {
        self.get_as(&self.admin_token, path)
    }

    pub fn json(&self, path: &str) -> Value {
        let r = self.get(path);
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().unwrap()
    }

    pub fn post_as(&self, token: &str, path: &str) -> Response {
        self.http
            .post(self.url(path))
            .header("Token", token)
            .send()
            .unwrap()
    }

    pub fn put_as_text(&self, token: &str, path: &str, body: &str) -> Response {
        self.http
            .put(self.url(path))
            .header("Token", token)
            .header("Content-Type", "text/csv")
            .body(body.to_string())
            .send()
            .unwrap()
    }

    pub fn delete_as(&self, token: &str, path: &str) -> Response {
        self.http
            .delete(self.url(path))
            .header("Token", token)
            .send()
            .unwrap()
    }

    pub fn put_json_as(&self, token: &str, path: &str, body: &Value) -> Response {
        self.http
            .put(self.url(path))
            .header("Token", token)
            .json(body)
            .send()
            .unwrap()
    }

    pub fn status(&self) -> Value {
        self.json("/api/import_status.json")
    }

    /// Adds a user through the CLI, as an operator would.
    pub fn add_user(&self, name: &str, password: &str, permissions: &[&str]) {
        let mut args = vec!["user", "add", name, "--password-stdin"];
        for p in permissions {
            args.extend(["--permission", p]);
        }
        assert!(self.cli_with_password(&args, password), "user add {name}");
    }

    /// Runs an `openlmt` command on this data directory with `password`
    /// on standard input, as an operator would; true if it succeeded.
    pub fn cli_with_password(&self, args: &[&str], password: &str) -> bool {
        let mut child = Command::new(bin())
            .args(args)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait().unwrap().success()
    }

    /// Polls until `pred` holds for the status, or panics after `secs`.
    pub fn wait_status(
        &self,
        secs: u64,
        what: &str,
        mut pred: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.status();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status {s}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    pub fn wait_idle(&self) -> Value {
        self.wait_status(60, "idle", |s| s["mode"] == "idle")
    }

    /// Starts a complete import and waits for it to end; returns the import.
    pub fn import_and_wait(&self) -> Value {
        let r = self.get("/api/import_status.json?run=true");
        assert_eq!(r.status(), 200);
        self.wait_idle();
        self.json("/api/imports?limit=1")["rows"][0].clone()
    }

    pub fn datasource(&self) -> PathBuf {
        self.data_dir.join("datasource")
    }

    fn hook_file(&self, name: &str) -> PathBuf {
        self.data_dir.join("test-hooks").join(name)
    }

    /// Waits until an import is paused at the hook `point` (see
    /// [`ServerBuilder::hooks`]), or panics after `secs`.
    pub fn wait_paused(&self, point: &str, secs: u64) {
        let reached = self.hook_file(&format!("reached-{point}"));
        let deadline = Instant::now() + Duration::from_secs(secs);
        while !reached.exists() {
            assert!(
                Instant::now() < deadline,
                "no import paused at `{point}` within {secs} s; status {}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Releases the import paused at `point`, and waits until it goes on.
    pub fn release(&self, point: &str) {
        let release = self.hook_file(&format!("release-{point}"));
        std::fs::write(&release, b"").unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while release.exists() {
            assert!(
                Instant::now() < deadline,
                "the pause at `{point}` was not taken"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Opens the server's database beside it (as the CLI does), to check
    /// rows no API shows: the SQLite engine's own store (the server runs on
    /// its default engine), whose pool the tests may also query.
    pub fn store(&self) -> (tokio::runtime::Runtime, openlmt_storage::SqliteStore) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt
            .block_on(openlmt_storage::SqliteStore::open_sqlite(
                &self.data_dir.join("openlmt.db"),
            ))
            .unwrap();
        (rt, store)
    }

    /// What no one sees and no active import owns (zero once cleaned).
    pub fn leftovers(&self) -> openlmt_storage::LeftoverCounts {
        let (rt, store) = self.store();
        rt.block_on(store.leftover_counts()).unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Writes a real scan package (tar.gz) built from the corpus's Debian 12
/// host into `dir` under `<stamp>-<endpoint>.tar.gz`; returns its path.
pub fn write_scan_package(dir: &Path, stamp: &str, endpoint: &str) -> PathBuf {
    write_host_package(dir, stamp, endpoint, false)
}

/// [`write_scan_package`] as the host's re-scan after dpkg rewrote its
/// database: `dpkg-status` holds the same packages in the reverse order. The
/// facts are the same, the member is not: the import parses and writes them
/// again (a package whose fact members are unchanged writes no facts).
pub fn write_rescanned_package(dir: &Path, stamp: &str, endpoint: &str) -> PathBuf {
    write_host_package(dir, stamp, endpoint, true)
}

fn write_host_package(dir: &Path, stamp: &str, endpoint: &str, reordered: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let host = corpus().join("hosts/debian12-vm");
    let computer = format!(
        "format_version: 1\nendpointID: {endpoint}\nComputer Name: {endpoint}\nDNS Name: {endpoint}.example.test\nIP Address: [192.0.2.10]\nOperating System: Debian GNU/Linux 12 (bookworm)\nAgent Version: openlmt-test\nScan Time: 2026-11-28T12:00:00Z\n"
    );
    let path = dir.join(format!("{stamp}-{endpoint}.tar.gz"));
    let tmp = dir.join(format!(".{stamp}-{endpoint}.tmp"));
    let file = std::fs::File::create(&tmp).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(computer.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "computer.yml", computer.as_bytes())
        .unwrap();
    for member in ["cpuinfo", "lscpu.json"] {
        tar.append_path_with_name(host.join(member), member)
            .unwrap();
    }
    let status = std::fs::read_to_string(host.join("dpkg-status")).unwrap();
    let status = if reordered {
        let mut stanzas: Vec<&str> = status
            .split("\n\n")
            .filter(|s| !s.trim().is_empty())
            .collect();
        stanzas.reverse();
        stanzas.join("\n\n") + "\n"
    } else {
        status
    };
    let mut header = tar::Header::new_gnu();
    header.set_size(status.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "dpkg-status", status.as_bytes())
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Percent-encodes a query value (every byte but unreserved ones).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The upload API's path.
pub const UPLOAD: &str = "/api/sam/v2/scan_results_upload";

/// Posts `body` to the upload API with `query` (e.g. `?filename=…`), with the
/// `Token` header when `token` is given.
pub fn upload(s: &TestServer, token: Option<&str>, query: &str, body: Vec<u8>) -> Response {
    let mut req = s
        .http
        .post(s.url(&format!("{UPLOAD}{query}")))
        .header("Content-Type", "application/octet-stream")
        .body(body);
    if let Some(t) = token {
        req = req.header("Token", t);
    }
    req.send().unwrap()
}

/// Every file in `dir` (hidden ones included), sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Writes a scan package (tar.gz) holding `members` into `dir` as `name`
/// (written aside, then renamed, as a scanner delivers it).
pub fn write_package_members(dir: &Path, name: &str, members: &[(String, Vec<u8>)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".{name}.tmp"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&tmp).unwrap(),
        flate2::Compression::fast(),
    );
    let mut tar = tar::Builder::new(gz);
    for (member, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, member, data.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    let path = dir.join(name);
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Runs `f` on a pool of the server's SQLite database, opened beside the
/// running server (as another process could), for changes no API makes.
pub fn with_db<T>(s: &TestServer, f: impl AsyncFnOnce(&sqlx::SqlitePool) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = openlmt_storage::SqliteStore::open_sqlite(&s.data_dir.join("openlmt.db"))
            .await
            .unwrap();
        f(store.pool()).await
    })
}

/// Polls `send` until it answers `want`; panics after `limit`. Returns the
/// answer and how long it took.
pub fn wait_for_status(
    mut send: impl FnMut() -> Response,
    want: u16,
    what: &str,
    limit: Duration,
) -> (Response, Duration) {
    let t = Instant::now();
    loop {
        let r = send();
        if r.status().as_u16() == want {
            return (r, t.elapsed());
        }
        assert!(
            t.elapsed() < limit,
            "{what}: still {} after {:?}",
            r.status(),
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that `r` is a JSON error with `status` and returns its message.
pub fn json_error(r: Response, status: u16, what: &str) -> String {
    assert_eq!(r.status(), status, "{what}");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
    let v: Value = r.json().unwrap();
    v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {v}"))
        .to_string()
}
