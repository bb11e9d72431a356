//! Several servers on one PostgreSQL database: the PostgreSQL half of
//! `cluster.rs` (see there). Lease times are the database's clock
//! ([`DB_NOW_MS`]), so that the nodes' clocks never matter.

use super::{PgStore, DB_NOW_MS};
use crate::cluster::{
    active_from, ActiveTuple, ClusterView, Lease, NodeConfig, ACTIVE_LEASE_COLUMNS,
};
use crate::{now_ms, Result};

impl PgStore {
    pub fn set_node(&self, node: NodeConfig) {
        let _ = self.node.set(node);
    }

    pub(crate) fn node(&self) -> NodeConfig {
        self.node.get().cloned().unwrap_or_default()
    }

    pub async fn renew_lease(&self, id: i64) -> Result<Lease> {
        let node = self.node();
        let row: Option<Option<String>> = sqlx::query_scalar(&format!(
            "UPDATE imports SET lease_until = {DB_NOW_MS} + $1
             WHERE id = $2 AND active_slot = 1 AND node = $3
             RETURNING cancel_requested"
        ))
        .bind(node.lease_ms())
        .bind(id)
        .bind(&node.name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(cancel_requested) => Lease::Held { cancel_requested },
            None => Lease::Lost,
        })
    }

    /// The error written is `lease_expired_error`'s. One statement: rows another transaction holds (a publish in
    /// progress) are skipped, not waited for: that import's node is alive.
    pub async fn expire_leases(&self) -> Result<Vec<(i64, Option<String>)>> {
        let mut tx = self.tx().await?;
        let expired: Vec<(i64, Option<String>)> = sqlx::query_as(&format!(
            "UPDATE imports SET status = 'failed', active_slot = NULL, finished_at = $1,
               error = 'interrupted: node ' || COALESCE(node, '(unknown)')
                 || ' stopped during the import'
             WHERE id IN (SELECT id FROM imports WHERE active_slot = 1
                            AND lease_until IS NOT NULL AND lease_until < {DB_NOW_MS}
                          FOR UPDATE SKIP LOCKED)
             RETURNING id, node"
        ))
        .bind(now_ms())
        .fetch_all(&mut *tx)
        .await?;
        if !expired.is_empty() {
            sqlx::query(
                "INSERT INTO meta (key, value) VALUES ('imports_ever', '1')
                 ON CONFLICT (key) DO NOTHING",
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(expired)
    }

    /// Counts the notifications of import changes (the `openlmt_imports`
    /// channel, see migration 0005) on a listening connection of its own,
    /// taken from the pool and kept; reconnects after a loss (what was sent
    /// meanwhile is lost: the nodes poll too).
    pub fn watch_imports(&self) -> tokio::sync::watch::Receiver<u64> {
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        let pool = self.pool.clone();
        tokio::spawn(async move {
            while !tx.is_closed() {
                match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(mut listener) => {
                        if let Err(e) = listener.listen("openlmt_imports").await {
                            tracing::warn!(error = %e, "cannot listen for import changes");
                        } else {
                            loop {
                                tokio::select! {
                                    n = listener.recv() => match n {
                                        Ok(_) => tx.send_modify(|n| *n = n.wrapping_add(1)),
                                        Err(e) => {
                                            tracing::warn!(error = %e, "stopped listening for import changes; retrying");
                                            break;
                                        }
                                    },
                                    _ = tx.closed() => return,
                                }
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot listen for import changes yet"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        rx
    }

    pub async fn request_cancel(&self, id: i64, reason: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE imports SET cancel_requested = $1 WHERE id = $2 AND active_slot = 1",
        )
        .bind(reason)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// One statement, so one snapshot.
    pub async fn cluster_view(&self) -> Result<ClusterView> {
        let row: (Option<i64>, Option<String>) = sqlx::query_as(
            "SELECT (SELECT id FROM imports WHERE finished_at IS NOT NULL
                       ORDER BY finished_at DESC, id DESC LIMIT 1),
                    (SELECT value FROM meta WHERE key = 'schedule')",
        )
        .fetch_one(&self.pool)
        .await?;
        let active = sqlx::query_as::<_, ActiveTuple>(&format!(
            "SELECT {ACTIVE_LEASE_COLUMNS} FROM imports WHERE active_slot = 1"
        ))
        .fetch_optional(&self.pool)
        .await?
        .map(active_from)
        .transpose()?;
        Ok(ClusterView {
            active,
            last_finished: row.0,
            schedule: row.1,
        })
    }

    pub async fn meta_replace(&self, key: &str, old: Option<&str>, new: &str) -> Result<bool> {
        let n = match old {
            Some(old) => sqlx::query("UPDATE meta SET value = $1 WHERE key = $2 AND value = $3")
                .bind(new)
                .bind(key)
                .bind(old)
                .execute(&self.pool)
                .await?
                .rows_affected(),
            None => sqlx::query(
                "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(key)
            .bind(new)
            .execute(&self.pool)
            .await?
            .rows_affected(),
        };
        Ok(n == 1)
    }
}
