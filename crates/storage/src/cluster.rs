//! Several servers on one database: which node runs the active import, its
//! lease, cancels asked for on another node, and the light view each node
//! polls to keep its in-memory status in step (see ARCHITECTURE.md,
//! "Replicas"). The SQLite half: a single server uses no lease (NULL), but
//! the columns and statements are the same as PostgreSQL's, so that one
//! conformance suite covers both.
//!
//! The lease: `imports.lease_until`, set when an import registers and moved
//! forward by its node's heartbeat, by the database's clock (PostgreSQL's
//! `clock_timestamp()`; SQLite's is the process's). Any node ends an import
//! whose lease has passed ([`Storage::expire_leases`]); the publish refuses
//! an import whose lease has passed, in the same locked row (fencing).

use crate::{from_ms, now_ms, Result, SqliteStore, StoreError};
use chrono::{DateTime, Utc};
use openlmt_domain::{ImportStatus, ImportType};
use std::time::Duration;

/// Who this server is among the servers of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// The node's name (`--node-name`, by default host:port), recorded on
    /// the imports it registers.
    pub name: String,
    /// How long a claim on an import holds without a heartbeat; `None`: no
    /// lease (a single server: SQLite).
    pub lease: Option<Duration>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: "local".to_string(),
            lease: None,
        }
    }
}

impl NodeConfig {
    pub(crate) fn lease_ms(&self) -> Option<i64> {
        self.lease
            .map(|l| l.as_millis().min(i64::MAX as u128) as i64)
    }
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The claim was renewed; `cancel_requested`: a cancel asked for on
    /// another node, to apply.
    Held { cancel_requested: Option<String> },
    /// The import is no longer this node's active import: it ended (another
    /// node found its lease passed, or it was ended here) .
    Lost,
}

/// The active import as the nodes' status poll sees it (cheap: no counts).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveLease {
    pub id: i64,
    pub import_type: ImportType,
    pub status: ImportStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub progress: u8,
    pub node: Option<String>,
    pub cancel_requested: Option<String>,
}

/// What a node polls to keep its status in step with the others'.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClusterView {
    pub active: Option<ActiveLease>,
    /// The most recently finished import's id.
    pub last_finished: Option<i64>,
    /// The stored schedule (the meta table's `schedule`), as text.
    pub schedule: Option<String>,
}

/// The error of an import whose node stopped renewing its lease.
pub fn lease_expired_error(node: Option<&str>) -> String {
    format!(
        "interrupted: node {} stopped during the import",
        node.unwrap_or("(unknown)")
    )
}

pub(crate) const ACTIVE_LEASE_COLUMNS: &str =
    "id, import_type, status, started_at, progress, node, cancel_requested";

/// The columns of [`ACTIVE_LEASE_COLUMNS`], as read by either engine.
pub(crate) type ActiveTuple = (
    i64,
    String,
    String,
    Option<i64>,
    i64,
    Option<String>,
    Option<String>,
);

pub(crate) fn active_from(t: ActiveTuple) -> Result<ActiveLease> {
    let (id, import_type, status, started_at, progress, node, cancel_requested) = t;
    let bad = |col: &str, v: &str| StoreError::Corrupt(format!("bad {col} `{v}`"));
    Ok(ActiveLease {
        id,
        import_type: import_type
            .parse()
            .map_err(|_| bad("import_type", &import_type))?,
        status: status.parse().map_err(|_| bad("status", &status))?,
        started_at: started_at.map(from_ms),
        progress: progress.clamp(0, 100) as u8,
        node,
        cancel_requested,
    })
}

impl SqliteStore {
    pub fn set_node(&self, node: NodeConfig) {
        let _ = self.node.set(node);
    }

    pub(crate) fn node(&self) -> NodeConfig {
        self.node.get().cloned().unwrap_or_default()
    }

    pub async fn renew_lease(&self, id: i64) -> Result<Lease> {
        let node = self.node();
        let row: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE imports SET lease_until = CASE WHEN ?1 IS NULL THEN NULL ELSE ?2 + ?1 END
             WHERE id = ?3 AND active_slot = 1 AND node = ?4
             RETURNING cancel_requested",
        )
        .bind(node.lease_ms())
        .bind(now_ms())
        .bind(id)
        .bind(&node.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(cancel_requested) => Lease::Held { cancel_requested },
            None => Lease::Lost,
        })
    }

    pub async fn expire_leases(&self) -> Result<Vec<(i64, Option<String>)>> {
        let now = now_ms();
        let mut tx = self.write_tx().await?;
        let expired: Vec<(i64, Option<String>)> = sqlx::query_as(
            "SELECT id, node FROM imports
             WHERE active_slot = 1 AND lease_until IS NOT NULL AND lease_until < ?",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        for (id, node) in &expired {
            sqlx::query(
                "UPDATE imports SET status = 'failed', active_slot = NULL, finished_at = ?,
                   error = ? WHERE id = ? AND active_slot = 1",
            )
            .bind(now)
            .bind(lease_expired_error(node.as_deref()))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        if !expired.is_empty() {
            sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES ('imports_ever', '1')")
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    pub async fn request_cancel(&self, id: i64, reason: &str) -> Result<bool> {
        let n =
            sqlx::query("UPDATE imports SET cancel_requested = ? WHERE id = ? AND active_slot = 1")
                .bind(reason)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(n == 1)
    }

    pub async fn cluster_view(&self) -> Result<ClusterView> {
        let mut tx = self.read_tx().await?;
        let active = sqlx::query_as::<_, ActiveTuple>(&format!(
            "SELECT {ACTIVE_LEASE_COLUMNS} FROM imports WHERE active_slot = 1"
        ))
        .fetch_optional(&mut *tx)
        .await?
        .map(active_from)
        .transpose()?;
        let last_finished = sqlx::query_scalar(
            "SELECT id FROM imports WHERE finished_at IS NOT NULL
             ORDER BY finished_at DESC, id DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let schedule = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'schedule'")
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ClusterView {
            active,
            last_finished,
            schedule,
        })
    }

    pub async fn meta_replace(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
        let n = match old {
            Some(old) => sqlx::query("UPDATE meta SET value = ? WHERE key = ? AND value = ?")
                .bind(new)
                .bind(key)
                .bind(old)
                .execute(&self.pool)
                .await?
                .rows_affected(),
            None => sqlx::query("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)")
                .bind(key)
                .bind(new)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        };
        Ok(n == 1)
    }
}
