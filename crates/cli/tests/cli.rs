//! Black-box tests of the `openlmt` command line: user and token
//! administration while the server runs, the import client, first start,
//! TLS, and the data-directory lock.

mod common;

use common::{bin, TestServer};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn openlmt(args: &[&str], data_dir: &std::path::Path) -> std::process::Output {
    common::cli(data_dir)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .unwrap()
}

fn status_code_within(s: &TestServer, token: &str, want: u16, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if s.get_as(token, "/api/import_status.json").status().as_u16() == want {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn users_and_tokens_are_managed_while_the_server_runs() {
    let s = TestServer::start();
    s.add_user("bob", "bob-password-1", &["manage_imports"]);
    let out = openlmt(&["user", "list"], &s.data_dir);
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(
        list.contains(
            "admin\tmanage_imports,upload_scan_results,view_endpoints,view_raw_data,view_software,manage_software_classification"
        ),
        "{list}"
    );
    assert!(list.contains("bob\tmanage_imports"), "{list}");

    let bob = s.token("bob", "bob-password-1");
    let v: Value = s.get_as(&bob, "/api/import_status.json").json().unwrap();
    assert_eq!(v["can_run_imports"], true);

    // Permissions changed by the CLI take effect without a restart.
    let out = openlmt(&["user", "permissions", "bob"], &s.data_dir);
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let v: Value = s.get_as(&bob, "/api/import_status.json").json().unwrap();
        if v["can_run_imports"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "permission change not seen");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Revoking by user: the token stops working within about a second.
    let out = openlmt(&["token", "list", "--user", "bob"], &s.data_dir);
    let listed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        listed.starts_with(&bob[..16]),
        "token ids are listed, {listed}"
    );
    assert!(!listed.contains(&bob[16..]), "never the secret");
    let out = openlmt(&["token", "revoke", "--user", "bob"], &s.data_dir);
    assert!(out.status.success());
    assert!(
        status_code_within(&s, &bob, 401, 3),
        "revoked token still accepted"
    );

    // Password change, then removal.
    assert!(s.cli_with_password(
        &["user", "password", "bob", "--password-stdin"],
        "bob-password-2"
    ));
    let bob2 = s.token("bob", "bob-password-2");
    let out = openlmt(&["user", "remove", "bob"], &s.data_dir);
    assert!(out.status.success());
    assert!(
        status_code_within(&s, &bob2, 401, 3),
        "removed user's token still accepted"
    );
    let r = s
        .http
        .post(s.url("/api/get_token"))
        .json(&serde_json::json!({"user": "bob", "password": "bob-password-2"}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);

    // Mistakes are explained.
    let out = openlmt(&["user", "remove", "nobody"], &s.data_dir);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("there is no user `nobody`"));
    let out = openlmt(
        &[
            "user",
            "add",
            "eve",
            "--password-stdin",
            "--permission",
            "root",
        ],
        &s.data_dir,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid Permission"));
}

#[test]
fn import_run_wait_and_status_from_the_cli() {
    let s = TestServer::builder().pause_before_publish().start();
    let mut waiting = Command::new(bin())
        .args(["import", "run", "--wait", "--url", &s.base])
        .env("OPENLMT_TOKEN", &s.admin_token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It waits while the import runs, and ends with it.
    s.wait_paused("before_publish", 30);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(
        waiting.try_wait().unwrap().is_none(),
        "`import run --wait` returned while the import ran"
    );
    s.release("before_publish");
    let out = waiting.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("import 1 successful"), "{stdout}");
    let row = s.json("/api/imports/1");
    assert_eq!(row["trigger"], "cli");
    assert_eq!(row["status"], "successful");

    let out = Command::new(bin())
        .args([
            "import",
            "status",
            "--url",
            &s.base,
            "--token",
            &s.admin_token,
        ])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["last_status"], "successful");

    let out = Command::new(bin())
        .args(["import", "run", "--url", &s.base, "--token", "not-a-token"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

#[test]
fn first_start_generates_and_prints_the_admin_password_once() {
    let mut s = TestServer::builder().generated_admin_password().start();
    let line = s
        .stdout
        .iter()
        .find(|l| l.contains("Created user `admin`"))
        .expect("the password is announced")
        .clone();
    let password = line.rsplit(' ').next().unwrap().to_string();
    assert!(password.len() >= 16);
    let token = s.token("admin", &password);
    assert_eq!(s.get_as(&token, "/api/import_status.json").status(), 200);
    s.sigterm();
    s.restart();
    assert!(
        !s.stdout.iter().any(|l| l.contains("Created user")),
        "{:?}",
        s.stdout
    );
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let s = TestServer::start();
    let out = common::cli(&s.data_dir)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another openlmt server is already running")
    );
}

#[test]
fn https_with_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed by .ci/run");
    assert!(ok.success());
    let s = TestServer::builder().tls(&cert, &key).start();
    assert!(s.base.starts_with("https://"), "{}", s.base);
    assert_eq!(s.status()["mode"], "none");
    // Only HTTPS answers carry HSTS (login_limits.rs checks plain HTTP's lack it).
    let r = s.get("/api/import_status.json");
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
}

/// `--database-url sqlite:PATH` (here through `OPENLMT_DATABASE_URL`) puts
/// the database at PATH instead of the data directory, and the commands
/// that open the database directly follow the same option.
#[test]
fn a_sqlite_database_url_puts_the_database_where_it_says() {
    let elsewhere = tempfile::tempdir().unwrap();
    let db = elsewhere.path().join("estate.db");
    let url = format!("sqlite:{}", db.display());
    let s = TestServer::builder()
        .env("OPENLMT_DATABASE_URL", &url)
        .start();
    assert!(s.get("/api/import_status.json").status().is_success());
    assert!(db.exists(), "the database is at the URL's path");
    assert!(
        !s.data_dir.join("openlmt.db").exists(),
        "and not in the data directory"
    );
    // The admin the server made is in that database: the CLI finds it there
    // and not without the option.
    let with_url = Command::new(bin())
        .args(["user", "list", "--database-url", &url, "--data-dir"])
        .arg(&s.data_dir)
        .output()
        .unwrap();
    assert!(with_url.status.success(), "{with_url:?}");
    assert!(String::from_utf8_lossy(&with_url.stdout).contains("admin"));
    let other = tempfile::tempdir().unwrap();
    let without = openlmt(&["user", "list"], other.path());
    assert!(without.status.success(), "{without:?}");
    assert!(!String::from_utf8_lossy(&without.stdout).contains("admin"));
}

/// A PostgreSQL URL that cannot be used, from the flag, the environment or
/// the configuration file, stops the server at start-up (no panic, no
/// SQLite database made instead) with a message naming the server without
/// the URL's password: a server that does not answer, and a URL that does
/// not parse; an unknown scheme is refused with the schemes it takes.
#[test]
fn an_unusable_postgres_database_url_stops_the_server_with_a_message() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // (Port 1 on the loopback: nothing listens there, the connection is
    // refused at once.)
    let pg = "postgres://openlmt:hunter2@127.0.0.1:1/openlmt";
    let config = tmp.path().join("openlmt.toml");
    std::fs::write(&config, format!("database_url = \"{pg}\"\n")).unwrap();
    let serve = || {
        let mut c = Command::new(bin());
        c.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env_remove("OPENLMT_DATABASE_URL")
            .env("OPENLMT_ADMIN_PASSWORD", "a-long-enough-password");
        c
    };
    let runs = [
        (
            "flag",
            serve().args(["--database-url", pg]).output().unwrap(),
        ),
        (
            "environment",
            serve().env("OPENLMT_DATABASE_URL", pg).output().unwrap(),
        ),
        (
            "config file",
            serve().arg("--config").arg(&config).output().unwrap(),
        ),
        (
            "user command",
            Command::new(bin())
                .args(["user", "list", "--database-url", pg, "--data-dir"])
                .arg(&data)
                .output()
                .unwrap(),
        ),
    ];
    for (how, out) in runs {
        assert!(!out.status.success(), "{how}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "cannot use the PostgreSQL database postgres://openlmt@127.0.0.1:1/openlmt"
            ) && err.contains("cannot connect to the PostgreSQL server at 127.0.0.1:1"),
            "{how}: {err}"
        );
        assert!(
            !err.contains("hunter2"),
            "{how}: the password is shown: {err}"
        );
        assert!(!err.contains("panicked"), "{how}: {err}");
    }
    let out = serve()
        .args([
            "--database-url",
            "postgres://openlmt@127.0.0.1:port/openlmt",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the PostgreSQL URL is not valid"), "{err}");
    assert!(
        !data.join("openlmt.db").exists(),
        "no SQLite database was made instead"
    );
    let out = serve()
        .args(["--database-url", "mysql://root@localhost/openlmt"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must start with sqlite: or postgres://"),
        "{out:?}"
    );
}
