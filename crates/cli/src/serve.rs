//! `openlmt serve`: runs the server on a data directory.

use crate::config::{self, FileConfig};
use crate::scan::AdminPassword;
use anyhow::{bail, Context};
use openlmt_domain::PermissionSet;
use openlmt_ingest::{DataSource, Engine, EngineConfig};
use openlmt_server::login_limit::LoginGuard;
use openlmt_server::{AppState, AuthCache, Listen, ServerConfig};
use rand::Rng;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Data directory (SQLite database, data sources, import logs) [default: ./openlmt-data]
    #[arg(long, env = "OPENLMT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Database: sqlite:PATH, or postgres://USER@HOST:PORT/DB [default: SQLite in the data directory]
    #[arg(long, env = "OPENLMT_DATABASE_URL")]
    database_url: Option<String>,
    /// Address to listen on [default: 127.0.0.1:9081]; port 0 picks a free port.
    #[arg(long, env = "OPENLMT_LISTEN")]
    listen: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key the server speaks HTTPS.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long, env = "OPENLMT_CONFIG")]
    config: Option<PathBuf>,
    /// Log format of the server's own log on standard error.
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
    /// Refuse API tokens older than this, from their issue time (`90d`, `12h`, …;
    /// `none`: never) [config `token_max_age`; default: no expiry].
    #[arg(long, env = "OPENLMT_TOKEN_MAX_AGE")]
    token_max_age: Option<String>,
    /// Reverse proxies (addresses or CIDR networks, comma-separated) whose
    /// X-Forwarded-For gives the client address [config `trusted_proxies`; default: none].
    #[arg(long, env = "OPENLMT_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Option<Vec<String>>,
    /// First run: scan this machine into the first data source (unless it holds a
    /// package of this machine less than an hour old), import it once the server
    /// is up, and print how to log in.
    #[arg(long)]
    scan_host: bool,
    /// This server's name among the servers sharing one PostgreSQL database,
    /// recorded on the imports it runs [config `node_name`; default: HOST:PORT].
    #[arg(long, env = "OPENLMT_NODE_NAME")]
    node_name: Option<String>,
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("OPENLMT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn local_timezone() -> chrono_tz::Tz {
    let name = std::env::var("TZ")
        .ok()
        .map(|t| t.trim_start_matches(':').to_string())
        .filter(|t| !t.is_empty())
        .or_else(|| iana_time_zone::get_timezone().ok());
    name.and_then(|n| n.parse().ok()).unwrap_or(chrono_tz::UTC)
}

/// This machine's host name (`gethostname(2)`), or `localhost`.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are passed together; the name is
    // read up to its NUL only when the call succeeded.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        String::new()
    };
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

fn random_password() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char)
        .collect()
}

/// On first start (no users) creates `admin` with every permission.
async fn bootstrap_admin(store: &openlmt_storage::Store) -> anyhow::Result<AdminPassword> {
    if store.user_count().await? > 0 {
        return Ok(AdminPassword::Existing);
    }
    let (password, generated) = match std::env::var("OPENLMT_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (random_password(), true),
    };
    if let Err(e) = store
        .create_user("admin", &password, PermissionSet::all())
        .await
    {
        // Replicas starting together on a new PostgreSQL database: another
        // one created it first.
        if store.user("admin").await.ok().flatten().is_some() {
            return Ok(AdminPassword::Existing);
        }
        return Err(anyhow::Error::new(e).context("cannot create the first user `admin`"));
    }
    if generated {
        // Printed once, on standard output only: never into the log.
        println!("Created user `admin` with every permission. Its password (shown only this once): {password}");
        return Ok(AdminPassword::Generated(password));
    } else {
        println!(
            "Created user `admin` with every permission, password from OPENLMT_ADMIN_PASSWORD."
        );
    }
    Ok(AdminPassword::FromEnv)
}

/// Holds an exclusive lock on the data directory for the life of the server.
fn lock_data_dir(dir: &Path) -> anyhow::Result<std::fs::File> {
    let path = dir.join("openlmt.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another openlmt server is already running on the data directory {}",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = FileConfig::load(args.config.as_deref())?;
    init_tracing(
        args.log_format
            .as_deref()
            .or(file.log_format.as_deref())
            .unwrap_or("text"),
    );
    let data_dir = config::data_dir(args.data_dir.as_ref(), &file);
    let database_url = config::database_url(args.database_url.as_ref(), &file, &data_dir)?;
    let listen = args
        .listen
        .or(file.listen.clone())
        .unwrap_or_else(|| config::DEFAULT_LISTEN.to_string());
    let tls = match (
        args.tls_cert.or(file.tls_cert.clone()),
        args.tls_key.or(file.tls_key.clone()),
    ) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => bail!("a TLS certificate needs its key, and a key its certificate"),
    };
    let token_max_age = match args.token_max_age.as_ref().or(file.token_max_age.as_ref()) {
        Some(text) => config::parse_max_age(text)?,
        None => None,
    };
    let trusted_proxies = openlmt_server::login_limit::TrustedProxies::parse(
        args.trusted_proxies
            .as_ref()
            .or(file.trusted_proxies.as_ref())
            .map_or(&[][..], |v| v.as_slice()),
    )
    .map_err(anyhow::Error::msg)?;
    let retention = file.import_retention.unwrap_or(200);
    if retention < 1 {
        bail!("import_retention must be at least 1");
    }

    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let _lock = lock_data_dir(&data_dir)?;
    let store = config::open_store(&data_dir, &database_url).await?;
    let admin = bootstrap_admin(&store).await?;

    let data_sources = if file.datasource.is_empty() {
        let path = data_dir.join("datasource");
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        vec![DataSource {
            name: "default".into(),
            path,
        }]
    } else {
        file.datasource
            .iter()
            .map(|d| DataSource {
                name: d.name.clone(),
                path: d.path.clone(),
            })
            .collect()
    };
    if args.scan_host {
        crate::scan::scan_host_into(&data_sources[0].path).await;
    }
    let test_hooks = test_hooks(&data_dir)?;
    let metrics = openlmt_server::install_metrics()?;
    // Bound before the engine starts: the default node name has its port.
    let listener = std::net::TcpListener::bind(&listen)
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let node_name = match args.node_name.as_ref().or(file.node_name.as_ref()) {
        Some(n) if n.trim().is_empty() || n.len() > 200 => {
            bail!("the node name must be 1 to 200 characters")
        }
        Some(n) => n.trim().to_string(),
        None => format!("{}:{}", host_name(), addr.port()),
    };
    let lease = file
        .import_lease_secs
        .map_or(openlmt_ingest::DEFAULT_LEASE, Duration::from_secs);
    if lease < Duration::from_secs(3) {
        bail!("import_lease_secs must be at least 3");
    }
    let engine = Engine::start(
        store.clone(),
        EngineConfig {
            log_dir: data_dir.join("logs"),
            data_sources,
            retention,
            default_timezone: local_timezone(),
            test_hooks,
            computer_retention: match file.computer_retention_days.unwrap_or(30) {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            },
            license_history_days: match file.license_history_days.unwrap_or(730) {
                0 => None,
                days => Some(days),
            },
            vm_manager_stale: Duration::from_secs(
                u64::from(file.vm_manager_stale_hours.unwrap_or(48)) * 3_600,
            ),
            node_name,
            lease,
        },
    )
    .await?;
    let stop = CancellationToken::new();
    let auth = Arc::new(AuthCache::new(token_max_age));
    auth.spawn_watcher(store.clone(), stop.clone());
    let state = AppState {
        engine: engine.clone(),
        auth,
        config: Arc::new(ServerConfig {
            token_in_url: file.api_token_in_url_enabled.unwrap_or(true),
            upload_max_bytes: file
                .upload_max_bytes
                .unwrap_or(openlmt_server::DEFAULT_UPLOAD_MAX_BYTES),
            tls: tls.is_some(),
            trusted_proxies,
        }),
        metrics,
        login: Arc::new(LoginGuard::new(
            file.login_max_failures
                .unwrap_or(openlmt_server::login_limit::DEFAULT_MAX_FAILURES),
            Duration::from_secs(
                file.login_failure_window_secs
                    .unwrap_or(openlmt_server::login_limit::DEFAULT_WINDOW_SECS),
            ),
            file.password_hash_concurrency
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        )),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let listen = match tls {
        Some((cert, key)) => Listen::Tls {
            listener,
            cert,
            key,
        },
        None => Listen::Plain(listener),
    };
    println!(
        "openlmt listening on {scheme}://{addr} (data directory {})",
        data_dir.display()
    );
    tracing::info!(%addr, %scheme, data_dir = %data_dir.display(), "listening");

    let server = tokio::spawn(openlmt_server::serve(
        state,
        listen,
        stop.clone(),
        Duration::from_secs(5),
    ));
    if args.scan_host {
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        crate::scan::first_run(&engine, &format!("{scheme}://{host}"), admin).await;
    }
    let signal = wait_for_signal();
    tokio::pin!(signal);
    let mut server = server;
    tokio::select! {
        _ = &mut signal => {}
        r = &mut server => {
            stop.cancel();
            engine.shutdown(Duration::from_secs(8)).await;
            return match r {
                Ok(Ok(())) => Ok(ExitCode::SUCCESS),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(e.into()),
            };
        }
    }
    tracing::info!("stopping: no new requests; cancelling the running import");
    stop.cancel();
    engine.shutdown(Duration::from_secs(8)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), server).await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// The engine's test seams from `OPENLMT_TEST_HOOKS` (see
/// crates/ingest/src/hooks.rs); pause files live in `<data dir>/test-hooks`.
/// A binary built without the `test-hooks` feature refuses to start when
/// the variable is set, so that tests relying on hooks cannot pass without
/// them.
fn test_hooks(data_dir: &Path) -> anyhow::Result<openlmt_ingest::TestHooks> {
    let Ok(spec) = std::env::var(openlmt_ingest::hooks::ENV) else {
        return Ok(openlmt_ingest::TestHooks::default());
    };
    #[cfg(feature = "test-hooks")]
    {
        tracing::warn!(
            spec,
            "test hooks are set: imports pause, fail or panic on purpose"
        );
        openlmt_ingest::TestHooks::parse(&spec, &data_dir.join("test-hooks"))
            .map_err(anyhow::Error::msg)
    }
    #[cfg(not(feature = "test-hooks"))]
    {
        let _ = (spec, data_dir);
        bail!(
            "{} is set, but this binary was built without the `test-hooks` feature \
             (build it with `--features openlmt/test-hooks`)",
            openlmt_ingest::hooks::ENV
        )
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
