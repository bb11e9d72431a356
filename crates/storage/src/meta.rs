//! Small server-wide values: the schedule, its last handled slot, the auth epoch.

use crate::{Result, SqliteStore};

impl SqliteStore {
    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A counter bumped by every change to users or tokens, so that a server
    /// caching credentials notices changes made by another process (the CLI).
    pub async fn auth_epoch(&self) -> Result<i64> {
        Ok(self
            .meta_get("auth_epoch")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub(crate) async fn bump_auth_epoch<'e, E>(executor: E) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ('auth_epoch', '1')
             ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)",
        )
        .execute(executor)
        .await?;
        Ok(())
    }
}
