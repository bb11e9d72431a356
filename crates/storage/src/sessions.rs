//! Browser sessions of the web panel: random 256-bit ids, stored hashed,
//! that expire after a period without use and at most after a fixed age.

use crate::users::Principal;
use crate::{now_ms, Result, SqliteStore};
use openlmt_domain::PermissionSet;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::time::Duration;

/// A session unused this long expires.
pub const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A session expires this long after login, used or not.
pub const SESSION_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// `last_seen_at` is written at most this often per session.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// A live session: its user and its times (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub principal: Principal,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
}

/// `n` random bytes from the OS generator, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut raw = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    hex::encode(raw)
}

pub(crate) fn id_hash(id: &str) -> Vec<u8> {
    Sha256::digest(id.as_bytes()).to_vec()
}

pub(crate) fn is_session_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl SqliteStore {
    /// Opens a session for a user and returns its id (shown once: only its
    /// hash is kept). Also removes expired sessions.
    pub async fn create_session(&self, user_id: i64) -> Result<String> {
        let id = random_hex(32);
        let now = now_ms();
        self.prune_sessions(now).await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (?, ?, ?, ?)",
        )
        .bind(id_hash(&id))
        .bind(user_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    /// The user of a live session, with the permissions it has now. `None`
    /// for an unknown, malformed or expired session (an expired one is
    /// deleted). Marks the session as used.
    pub async fn resolve_session(&self, id: &str) -> Result<Option<Principal>> {
        Ok(self.resolve_session_info(id).await?.map(|s| s.principal))
    }

    /// Like [`Store::resolve_session`], with the session's times, so that a
    /// cache can enforce [`SESSION_IDLE`] and [`SESSION_MAX_AGE`] itself.
    pub async fn resolve_session_info(&self, id: &str) -> Result<Option<SessionInfo>> {
        if !is_session_id(id) {
            return Ok(None);
        }
        let hash = id_hash(id);
        let row = sqlx::query(
            "SELECT s.created_at, s.last_seen_at, u.id, u.name, u.permissions
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?",
        )
        .bind(&hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let now = now_ms();
        let created: i64 = row.try_get("created_at")?;
        let mut seen: i64 = row.try_get("last_seen_at")?;
        if now - seen > SESSION_IDLE.as_millis() as i64
            || now - created > SESSION_MAX_AGE.as_millis() as i64
        {
            self.delete_session(id).await?;
            return Ok(None);
        }
        if now - seen > TOUCH_EVERY_MS {
            self.touch_session(id, now).await?;
            seen = now;
        }
        let perms: String = row.try_get("permissions")?;
        Ok(Some(SessionInfo {
            principal: Principal {
                user_id: row.try_get("id")?,
                name: row.try_get("name")?,
                permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
            },
            created_at_ms: created,
            last_seen_at_ms: seen,
        }))
    }

    /// Records that a session was used at `at_ms` (never moves it back).
    pub async fn touch_session(&self, id: &str, at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = max(last_seen_at, ?) WHERE id_hash = ?")
            .bind(at_ms)
            .bind(id_hash(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session (logout). Returns whether it existed.
    pub async fn delete_session(&self, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM sessions WHERE id_hash = ?")
            .bind(id_hash(id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    async fn prune_sessions(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?")
            .bind(now - SESSION_IDLE.as_millis() as i64)
            .bind(now - SESSION_MAX_AGE.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::test_store;
    use openlmt_domain::PermissionSet;

    /// A session idle for longer than [`super::SESSION_IDLE`] no longer
    /// resolves (aged in the database: SQLite only; the rest of the
    /// sessions' behaviour is in the conformance suite,
    /// tests/conformance.rs).
    #[tokio::test]
    async fn idle_sessions_expire() {
        let (s, _dir) = test_store().await;
        let u = s
            .create_user("carol", "long-enough-pw", PermissionSet::empty())
            .await
            .unwrap();
        let id = s.create_session(u.id).await.unwrap();
        assert!(s.resolve_session(&id).await.unwrap().is_some());
        sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 13 * 3600 * 1000")
            .execute(s.pool())
            .await
            .unwrap();
        assert!(s.resolve_session(&id).await.unwrap().is_none());
    }
}
