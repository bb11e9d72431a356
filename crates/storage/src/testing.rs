//! Test support for the engines: a fresh PostgreSQL database per test.
//!
//! The PostgreSQL tests run against the server named by
//! `OPENLMT_TEST_DATABASE_URL` (`.ci/run` sets it to the local server, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`). Each test makes its own
//! database there, uniquely named, and drops it when the [`TestDatabase`]
//! is dropped (also when the test panics), so runs never collide and leave
//! nothing behind. Without the variable, [`TestDatabase::create`] says on
//! the terminal that the test was skipped and returns `None`.

use crate::{Result, StoreError};
use sqlx::Connection;
use std::io::Write;

/// The variable naming the PostgreSQL server the tests may use.
pub const TEST_DATABASE_URL: &str = "OPENLMT_TEST_DATABASE_URL";

/// Says something to the person running the tests, past the test harness's
/// output capture (which only takes `print!`/`eprint!`), so that a skipped
/// or unbuilt engine is never silent.
pub fn say_loudly(message: &str) {
    let _ = writeln!(std::io::stderr(), "{message}");
}

/// A database made for one test on the server of `OPENLMT_TEST_DATABASE_URL`,
/// dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TestDatabase {
    /// Makes an empty database for the test `test` (a label that goes into
    /// its name), or says "SKIPPED" and returns `None` when
    /// `OPENLMT_TEST_DATABASE_URL` is not set. An error when the variable is
    /// set but the server cannot be reached: a configured run must not pass
    /// by skipping.
    pub async fn create(test: &str) -> Result<Option<TestDatabase>> {
        let Some(admin_url) = std::env::var(TEST_DATABASE_URL)
            .ok()
            .filter(|u| !u.is_empty())
        else {
            say_loudly(&format!(
                "SKIPPED: {TEST_DATABASE_URL} is not set; the PostgreSQL side of `{test}` did not run"
            ));
            return Ok(None);
        };
        let name = unique_name(test);
        let url = with_database(&admin_url, &name)?;
        let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
        // (A name is made of [a-z0-9_] only: see `unique_name`.)
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await?;
        admin.close().await?;
        Ok(Some(TestDatabase {
            admin_url,
            name,
            url,
        }))
    }

    /// The URL of this test's database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    /// Drops the database, forcing its connections closed (PostgreSQL 13+),
    /// on a thread of its own with its own runtime: a drop cannot await,
    /// and may run while the test's runtime unwinds from a panic.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || -> std::result::Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                admin.close().await.map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => say_loudly(&format!(
                "WARNING: the test database {} was not dropped: {e}",
                self.name
            )),
            Err(_) => say_loudly(&format!(
                "WARNING: the test database {} was not dropped (its dropper panicked)",
                self.name
            )),
        }
    }
}

/// `openlmt_t_<test>_<pid>_<random>`: lower-case letters, digits and `_`
/// only, at most 63 bytes (PostgreSQL's limit), unique per process and
/// call.
fn unique_name(test: &str) -> String {
    let label: String = test
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(28)
        .collect();
    format!(
        "openlmt_t_{label}_{}_{}",
        std::process::id(),
        crate::random_hex(4)
    )
}

/// The URL `url` with its database replaced by `name` (its query
/// parameters kept).
fn with_database(url: &str, name: &str) -> Result<String> {
    let bad = || {
        StoreError::Invalid(format!(
            "{TEST_DATABASE_URL} is not a postgres://… URL: {}",
            url.split('@').next_back().unwrap_or_default()
        ))
    };
    let scheme_end = url.find("://").ok_or_else(bad)? + 3;
    let (base, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    Ok(format!("{}/{name}{query}", &base[..authority_end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_database_urls_keep_server_and_parameters() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5432", "x").unwrap(),
            "postgres://h:5432/x"
        );
        assert!(with_database("127.0.0.1:5432/test", "x").is_err());
    }

    #[test]
    fn names_are_valid_unquoted_identifiers_and_unique() {
        let a = unique_name("Conformance::users/tokens — a very long test name indeed");
        let b = unique_name("Conformance::users/tokens — a very long test name indeed");
        assert_ne!(a, b);
        for n in [&a, &b] {
            assert!(n.len() <= 63, "{n}");
            assert!(n
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        }
    }
}
