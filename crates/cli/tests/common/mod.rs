//! A black-box harness: starts the real `openlmt` binary on port 0 with a
//! fresh data directory and talks HTTP to it like any client.
//!
//! The engine: SQLite in the data directory by default; with
//! `OPENLMT_TEST_ENGINE=postgres` every server runs on a PostgreSQL database
//! of its own, made on the server of `OPENLMT_TEST_DATABASE_URL` for its data
//! directory and dropped after it (see [`on_postgres`]). Tests that only make
//! sense on SQLite say so with [`sqlite_only`].
#![allow(dead_code)]

pub mod fleet;
pub mod panel;
pub mod proxy;

use openlmt_storage::testing::{say_loudly, TestDatabase, TEST_DATABASE_URL};
use openlmt_storage::DatabaseUrl;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The variable choosing the engine the tests' servers run on: `sqlite`
/// (the default) or `postgres`.
pub const TEST_ENGINE: &str = "OPENLMT_TEST_ENGINE";

/// Whether the servers run on PostgreSQL (`OPENLMT_TEST_ENGINE=postgres`).
/// That needs `OPENLMT_TEST_DATABASE_URL`: a run asked for PostgreSQL fails
/// without it rather than passing on SQLite (`.ci/run` says SKIPPED and does
/// not start such a run when the variable is unset).
pub fn on_postgres() -> bool {
    match std::env::var(TEST_ENGINE).as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => false,
        Ok("postgres") => {
            assert!(
                std::env::var_os(TEST_DATABASE_URL).is_some_and(|u| !u.is_empty()),
                "{TEST_ENGINE}=postgres needs {TEST_DATABASE_URL} (a PostgreSQL server the tests may create databases on)"
            );
            true
        }
        Ok(other) => panic!("{TEST_ENGINE} is `{other}`: give sqlite or postgres"),
    }
}

/// For a test that only makes sense on SQLite (it reads or edits the SQLite
/// file itself): true when the servers run on PostgreSQL, after saying on
/// the terminal, past the test harness's capture, that the test did not run
/// and why. Use: `if sqlite_only("why") { return; }`.
pub fn sqlite_only(reason: &str) -> bool {
    if !on_postgres() {
        return false;
    }
    say_skipped(|test| format!("SKIPPED on PostgreSQL: `{test}` is SQLite-only: {reason}"));
    true
}

/// Says on the terminal that the current test (its thread's name) did not
/// run, in the words `message` makes from its name.
fn say_skipped(message: impl FnOnce(&str) -> String) {
    let thread = std::thread::current();
    say_loudly(&message(thread.name().unwrap_or("(unnamed)")));
}

/// The PostgreSQL database of each data directory a server ran on.
struct Registered {
    data_dir: PathBuf,
    /// For a data directory the test made (the servers started on it one
    /// after the other share the database): kept until the directory is
    /// gone, or the test binary exits.
    kept: Option<Arc<TestDatabase>>,
    /// For a server's own temporary directory: its server holds it.
    held: Weak<TestDatabase>,
    url: String,
}

static DATABASES: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

fn databases() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    DATABASES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Drops the kept databases at the test binary's exit (the registry is a
/// static: never dropped on its own).
extern "C" fn drop_kept_databases() {
    let _ = std::panic::catch_unwind(|| {
        let all = std::mem::take(&mut *databases());
        drop(all);
    });
}

/// The database of the server on `data_dir`: the one registered for that
/// directory while it lives, else a new one. `keep`: the directory is the
/// test's own, so the database outlives this server (a restart on the same
/// directory finds its data).
fn database_for(data_dir: &Path, keep: bool) -> Arc<TestDatabase> {
    static AT_EXIT: std::sync::Once = std::sync::Once::new();
    AT_EXIT.call_once(|| {
        // SAFETY: registers a plain function with no arguments.
        unsafe { libc::atexit(drop_kept_databases) };
    });
    // Forget (and drop, outside the lock) the databases of directories that
    // are gone, and of servers that ended.
    let gone: Vec<Registered> = {
        let mut all = databases();
        let (gone, live): (Vec<Registered>, Vec<Registered>) =
            std::mem::take(&mut *all).into_iter().partition(|r| {
                let dir_gone =
                    !r.data_dir.exists() && !r.data_dir.parent().is_some_and(|p| p.exists());
                match &r.kept {
                    Some(_) => dir_gone,
                    None => r.held.strong_count() == 0,
                }
            });
        *all = live;
        gone
    };
    drop(gone);
    if let Some(db) = databases()
        .iter()
        .filter(|r| r.data_dir == data_dir)
        .find_map(|r| r.kept.clone().or_else(|| r.held.upgrade()))
    {
        return db;
    }
    let label = std::thread::current()
        .name()
        .map(|n| n.rsplit("::").next().unwrap_or(n).to_string())
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt
        .block_on(TestDatabase::create(&format!("bb_{label}")))
        .expect("a database on the server of OPENLMT_TEST_DATABASE_URL")
        .expect("OPENLMT_TEST_DATABASE_URL is set (checked by on_postgres)");
    let db = Arc::new(db);
    databases().push(Registered {
        data_dir: data_dir.to_path_buf(),
        kept: keep.then(|| db.clone()),
        held: Arc::downgrade(&db),
        url: db.url().to_string(),
    });
    db
}

/// The PostgreSQL URL of the server that ran on `data_dir`, if any.
fn registered_url(data_dir: &Path) -> Option<String> {
    databases()
        .iter()
        .find(|r| r.data_dir == data_dir)
        .map(|r| r.url.clone())
}

/// An `openlmt serve` to be started by the test itself on `data_dir` (a
/// directory of the test's own; the caller adds `--data-dir` and the rest):
/// on PostgreSQL, with the database of that directory, made if it has none.
pub fn serve_command(data_dir: &Path) -> Command {
    if on_postgres() {
        database_for(data_dir, true);
    }
    let mut cmd = cli(data_dir);
    cmd.arg("serve");
    cmd
}

/// An `openlmt` command for the data directory `data_dir` (the caller adds
/// `--data-dir` and the rest), on the database the server that ran there
/// used: an operator's command on the same installation.
pub fn cli(data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    match registered_url(data_dir) {
        Some(url) => cmd.env("OPENLMT_DATABASE_URL", url),
        None => cmd.env_remove("OPENLMT_DATABASE_URL"),
    };
    cmd
}

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
    database: Option<Arc<TestDatabase>>,
    env: Vec<(String, String)>,
    config: Option<String>,
    tls: Option<(PathBuf, PathBuf)>,
    admin_password: bool,
    db_port: Option<u16>,
}

pub struct TestServer {
    child: Option<Child>,
    pub base: String,
    pub data_dir: PathBuf,
    /// On PostgreSQL: the server's database (dropped with the last holder;
    /// declared before the temporary directory, so it goes first).
    database: Option<Arc<TestDatabase>>,
    _tmp: Option<tempfile::TempDir>,
    pub stdout: Vec<String>,
    pub http: Client,
    pub admin_token: String,
    builder_env: Vec<(String, String)>,
    config: Option<String>,
    /// On PostgreSQL: the local port the server reaches its database
    /// through (a [`proxy::DbProxy`]), instead of the database server's.
    db_port: Option<u16>,
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
    /// On PostgreSQL: the server reaches its database through
    /// `127.0.0.1:<port>` (a [`proxy::DbProxy`] to the database server),
    /// with the same user and database; the test's own reads
    /// ([`TestServer::store`], [`sql_rows`]) go straight to the server.
    pub fn database_port(mut self, port: u16) -> Self {
        assert!(
            on_postgres() || self.database.is_some(),
            "database_port is for servers on PostgreSQL"
        );
        self.db_port = Some(port);
        self
    }
    /// Runs the server on this PostgreSQL database (several servers on one
    /// database: replicas), whatever `OPENLMT_TEST_ENGINE` says.
    pub fn database(mut self, db: &Arc<TestDatabase>) -> Self {
        self.database = Some(db.clone());
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
        let database = match self.database {
            Some(db) => Some(db),
            None => on_postgres().then(|| database_for(&data_dir, tmp.is_none())),
        };
        let mut env = self.env;
        if self.admin_password {
            env.push(("OPENLMT_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()));
        }
        let mut s = TestServer {
            child: None,
            base: String::new(),
            data_dir,
            database,
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
            db_port: self.db_port,
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
            database: None,
            env: Vec::new(),
            config: None,
            tls: None,
            admin_password: true,
            db_port: None,
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
            .env_remove("OPENLMT_DATABASE_URL")
            // One name across restarts (the default has the port, which
            // port 0 changes): a restart then recovers its own interrupted
            // import at once on PostgreSQL too, as a server on a fixed port
            // does. Replicas set their own (builder env).
            .env("OPENLMT_NODE_NAME", "test-node")
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
        if let Some(db) = &self.database {
            let url = match self.db_port {
                Some(port) => via_local_port(db.url(), port),
                None => db.url().to_string(),
            };
            cmd.env("OPENLMT_DATABASE_URL", url);
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
        let mut child = cli(&self.data_dir)
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

    /// Where the server's database is: SQLite in the data directory, or
    /// its PostgreSQL database.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self.database {
            Some(db) => DatabaseUrl::Postgres(db.url().to_string()),
            None => DatabaseUrl::Sqlite(self.data_dir.join("openlmt.db")),
        }
    }

    /// Opens the server's database beside it (as the CLI does), to check
    /// what no API shows, through the storage interface.
    pub fn store(&self) -> (tokio::runtime::Runtime, openlmt_storage::Store) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt
            .block_on(openlmt_storage::Store::open(&self.database_url()))
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

/// `url` with its host and port replaced by `127.0.0.1:<port>`.
fn via_local_port(url: &str, port: u16) -> String {
    let mut u = reqwest::Url::parse(url).expect("the test database's URL parses");
    u.set_host(Some("127.0.0.1")).unwrap();
    u.set_port(Some(port)).unwrap();
    u.to_string()
}

/// For a test that only makes sense on PostgreSQL: true when the servers
/// run on SQLite, after saying on the terminal, past the test harness's
/// capture, that the test did not run and why. Use:
/// `if postgres_only("why") { return; }`.
pub fn postgres_only(reason: &str) -> bool {
    if on_postgres() {
        return false;
    }
    say_skipped(|test| {
        format!(
            "SKIPPED on SQLite: `{test}` is PostgreSQL-only ({TEST_ENGINE}=postgres and {TEST_DATABASE_URL} run it): {reason}"
        )
    });
    true
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

/// A value bound to a statement of [`sql_exec`].
#[derive(Clone, Debug)]
pub enum Bind {
    Int(i64),
    Text(Option<String>),
}

/// SQLite's placeholders (`?`, `?N`) as PostgreSQL's (`$N`); the tests'
/// statements hold no `?` in a literal.
fn pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut next = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '?' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        if digits.is_empty() {
            next += 1;
            digits = next.to_string();
        }
        out.push('$');
        out.push_str(&digits);
    }
    out
}

/// Runs `statements` (SQL that both engines take, with SQLite's `?`
/// placeholders) in one transaction on the server's database, beside the
/// running server, as another process could, for changes no API makes
/// (e.g. ageing a token). Returns the rows each statement changed.
pub fn sql_exec(s: &TestServer, statements: &[(&str, Vec<Bind>)]) -> Vec<u64> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        match s.database_url() {
            DatabaseUrl::Sqlite(path) => {
                let store = openlmt_storage::SqliteStore::open_sqlite(&path)
                    .await
                    .unwrap();
                let mut tx = store.pool().begin().await.unwrap();
                let mut changed = Vec::new();
                for (sql, binds) in statements {
                    let mut q = sqlx::query(sql);
                    for b in binds {
                        q = match b {
                            Bind::Int(i) => q.bind(*i),
                            Bind::Text(t) => q.bind(t.clone()),
                        };
                    }
                    changed.push(q.execute(&mut *tx).await.unwrap().rows_affected());
                }
                tx.commit().await.unwrap();
                changed
            }
            DatabaseUrl::Postgres(url) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                let mut tx = conn.begin().await.unwrap();
                let mut changed = Vec::new();
                for (sql, binds) in statements {
                    let sql = pg_placeholders(sql);
                    let mut q = sqlx::query(&sql);
                    for b in binds {
                        q = match b {
                            Bind::Int(i) => q.bind(*i),
                            Bind::Text(t) => q.bind(t.clone()),
                        };
                    }
                    changed.push(q.execute(&mut *tx).await.unwrap().rows_affected());
                }
                tx.commit().await.unwrap();
                changed
            }
        }
    })
}

/// The rows of a query (SQL that both engines take, no parameters) on the
/// server's database, read beside the running server.
pub fn sql_rows<T>(s: &TestServer, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + Send
        + Unpin,
{
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        match s.database_url() {
            DatabaseUrl::Sqlite(path) => {
                let store = openlmt_storage::SqliteStore::open_sqlite(&path)
                    .await
                    .unwrap();
                sqlx::query_as::<_, T>(sql)
                    .fetch_all(store.pool())
                    .await
                    .unwrap()
            }
            DatabaseUrl::Postgres(url) => {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                sqlx::query_as::<_, T>(sql)
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
            }
        }
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
