//! Configuration: command-line flags win over environment variables, which
//! win over the TOML file, which wins over the defaults.

use anyhow::Context;
use openlmt_storage::DatabaseUrl;
use serde::Deserialize;
use std::path::{Path, PathBuf};

pub const DEFAULT_DATA_DIR: &str = "./openlmt-data";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9081";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    /// The database: `sqlite:PATH`, or `postgres://…` (a database that
    /// exists; the migrations make its tables); default: SQLite in the data
    /// directory.
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Accept API tokens in the `token` query parameter (default true).
    pub api_token_in_url_enabled: Option<bool>,
    /// How many imports the history keeps (default 200).
    pub import_retention: Option<i64>,
    /// Computers not scanned for this many days are marked deleted at each
    /// import (default 30; 0 never marks them).
    pub computer_retention_days: Option<u64>,
    /// Licence history (daily values and the snapshots they come from) is
    /// kept this many days (default 730, the two years IBM asks reports to
    /// be kept; 0 keeps it all).
    pub license_history_days: Option<u32>,
    /// VM-manager data older than this many hours no longer places a VM on
    /// its host (default 48).
    pub vm_manager_stale_hours: Option<u32>,
    /// `text` (default) or `json`.
    pub log_format: Option<String>,
    /// Largest scan package the upload API accepts, in bytes (default 100 MiB).
    pub upload_max_bytes: Option<u64>,
    /// Failed logins allowed per user name and per client address within
    /// `login_failure_window_secs` before further attempts get 429 (default 10).
    pub login_max_failures: Option<u32>,
    /// The failed-login window, in seconds (default 300).
    pub login_failure_window_secs: Option<u64>,
    /// Password verifications (argon2) run at once (default: the number of CPUs).
    pub password_hash_concurrency: Option<usize>,
    /// API tokens older than this (from their issue time) are refused as
    /// expired, e.g. `"90d"`, `"12h"`; panel sessions end at this age too
    /// when it is shorter than their 7 days. Default: no expiry (as ILMT).
    pub token_max_age: Option<String>,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For`
    /// gives the client address of the failed-login limits. Default: none.
    pub trusted_proxies: Option<Vec<String>>,
    /// This server's name among the servers sharing one PostgreSQL database
    /// (default: host name and port, `host:9081`).
    pub node_name: Option<String>,
    /// Seconds a node's claim on its running import holds without a
    /// heartbeat, on a shared (PostgreSQL) database (default 30, at least
    /// 3; the heartbeat renews it every third).
    pub import_lease_secs: Option<u64>,
    /// Data sources; default: one named `default` at `<data-dir>/datasource`.
    #[serde(default)]
    pub datasource: Vec<DataSourceConfig>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct DataSourceConfig {
    pub name: String,
    pub path: PathBuf,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        toml::from_str(&text)
            .with_context(|| format!("invalid configuration file {}", path.display()))
    }
}

/// The data directory from a flag/env value, the file, or the default.
pub fn data_dir(flag: Option<&PathBuf>, file: &FileConfig) -> PathBuf {
    flag.cloned()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// `token_max_age` as written (`90d`, `12h`, `3600s`, `1h 30m`), or
/// `none`/`off` for no expiry.
pub fn parse_max_age(text: &str) -> anyhow::Result<Option<std::time::Duration>> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("none") || t.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let d = humantime::parse_duration(t).with_context(|| {
        format!("token_max_age `{t}` is not a duration (e.g. 90d, 12h, 30m, 3600s; or none)")
    })?;
    if d < std::time::Duration::from_secs(1) {
        anyhow::bail!(
            "token_max_age `{t}` would refuse every token: give at least 1s, or leave it out (or `none`) for no expiry"
        );
    }
    Ok(Some(d))
}

pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("openlmt.db")
}

/// The database from a flag/env value or the file; by default SQLite in the
/// data directory.
pub fn database_url(
    flag: Option<&String>,
    file: &FileConfig,
    data_dir: &Path,
) -> anyhow::Result<DatabaseUrl> {
    match flag.or(file.database_url.as_ref()) {
        Some(url) => DatabaseUrl::parse(url).map_err(|e| anyhow::anyhow!("--database-url: {e}")),
        None => Ok(DatabaseUrl::Sqlite(database_path(data_dir))),
    }
}

/// Opens the store at `url`, creating the data directory (the data sources
/// and import logs stay there whatever the engine).
pub async fn open_store(
    data_dir: &Path,
    url: &DatabaseUrl,
) -> anyhow::Result<openlmt_storage::Store> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let opened = openlmt_storage::Store::open(url).await;
    match url {
        DatabaseUrl::Sqlite(path) => {
            opened.with_context(|| format!("cannot open the database {}", path.display()))
        }
        // (The URL may hold a password: shown without it.)
        DatabaseUrl::Postgres(_) => {
            opened.with_context(|| format!("cannot use the PostgreSQL database {}", url.redacted()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn max_ages_as_operators_write_them() {
        let day = Duration::from_secs(86_400);
        assert_eq!(parse_max_age("90d").unwrap(), Some(day * 90));
        assert_eq!(
            parse_max_age(" 12h ").unwrap(),
            Some(Duration::from_secs(43_200))
        );
        assert_eq!(
            parse_max_age("1h 30m").unwrap(),
            Some(Duration::from_secs(5_400))
        );
        assert_eq!(parse_max_age("none").unwrap(), None);
        assert_eq!(parse_max_age("OFF").unwrap(), None);
        for bad in ["", "90", "soon", "0s", "-1d"] {
            assert!(parse_max_age(bad).is_err(), "{bad}");
        }
    }
}
