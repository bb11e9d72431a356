//! Users, API tokens, panel sessions and the small server-wide values
//! (`meta`) on PostgreSQL. The behaviour is the SQLite engine's
//! (`users.rs`, `sessions.rs`, `meta.rs`), whose helpers it shares: the
//! same argon2 hashing with a decoy verification for unknown users, token
//! secrets kept as SHA-256 and compared in constant time, session ids kept
//! as SHA-256.

use super::PgStore;
use crate::sessions::{id_hash, is_session_id, SESSION_IDLE, SESSION_MAX_AGE, TOUCH_EVERY_MS};
use crate::users::{
    blocking, decoy_hash, hash_password, validate_password, validate_user_name, verify_password,
    TOKENS_PER_USER, TOKEN_ID_HEX,
};
use crate::{
    from_ms, now_ms, Principal, Result, SessionInfo, StoreError, TokenInfo, TokenOwner, UserInfo,
};
use openlmt_domain::PermissionSet;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::Row;
use subtle::ConstantTimeEq;

fn row_to_user(r: &PgRow) -> Result<UserInfo> {
    let perms: String = r.try_get("permissions")?;
    Ok(UserInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
        created_at: from_ms(r.try_get("created_at")?),
    })
}

fn row_to_principal(r: &PgRow) -> Result<Principal> {
    let perms: String = r.try_get("permissions")?;
    Ok(Principal {
        user_id: r.try_get("id")?,
        name: r.try_get("name")?,
        permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
    })
}

/// Bumps the auth epoch inside a transaction (see [`PgStore::auth_epoch`]).
pub(crate) async fn bump_auth_epoch(tx: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query(
        "INSERT INTO meta (key, value) VALUES ('auth_epoch', '1')
         ON CONFLICT (key) DO UPDATE SET value = (CAST(meta.value AS BIGINT) + 1)::TEXT",
    )
    .execute(tx)
    .await?;
    Ok(())
}

impl PgStore {
    pub async fn user_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    pub async fn create_user(
        &self,
        name: &str,
        password: &str,
        permissions: PermissionSet,
    ) -> Result<UserInfo> {
        validate_user_name(name)?;
        validate_password(password)?;
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let mut tx = self.tx().await?;
        let res = sqlx::query(
            "INSERT INTO users (name, password_hash, permissions, created_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&hash)
        .bind(permissions.to_list())
        .bind(now_ms())
        .execute(&mut *tx)
        .await;
        match res {
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Invalid(format!("user `{name}` already exists")));
            }
            r => {
                r?;
            }
        }
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        self.user(name).await?.ok_or_else(|| {
            StoreError::Internal(format!("user `{name}` vanished after its creation"))
        })
    }

    pub async fn user(&self, name: &str) -> Result<Option<UserInfo>> {
        sqlx::query("SELECT id, name, permissions, created_at FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row_to_user(&r))
            .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        // `COLLATE "C"`: byte order, as SQLite's default collation sorts.
        sqlx::query(
            "SELECT id, name, permissions, created_at FROM users ORDER BY name COLLATE \"C\"",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(row_to_user)
        .collect()
    }

    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn set_password(&self, name: &str, password: &str) -> Result<bool> {
        validate_password(password)?;
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let mut tx = self.tx().await?;
        let n = sqlx::query("UPDATE users SET password_hash = $1 WHERE name = $2")
            .bind(hash)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = $1)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn set_permissions(&self, name: &str, permissions: PermissionSet) -> Result<bool> {
        let mut tx = self.tx().await?;
        let n = sqlx::query("UPDATE users SET permissions = $1 WHERE name = $2")
            .bind(permissions.to_list())
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn check_password(&self, name: &str, password: &str) -> Result<Option<Principal>> {
        let row =
            sqlx::query("SELECT id, name, password_hash, permissions FROM users WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        let hash: Option<String> = row
            .as_ref()
            .map(|r| r.try_get("password_hash"))
            .transpose()?;
        let pw = password.to_string();
        let ok = blocking(move || match hash {
            Some(h) => verify_password(&pw, &h),
            None => {
                verify_password(&pw, decoy_hash());
                false
            }
        })
        .await?;
        match (ok, row) {
            (true, Some(r)) => Ok(Some(row_to_principal(&r)?)),
            _ => Ok(None),
        }
    }

    pub async fn issue_token(&self, user_id: i64) -> Result<String> {
        let mut raw = [0u8; 8 + 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id = hex::encode(&raw[..8]);
        let secret = hex::encode(&raw[8..]);
        let secret_hash = Sha256::digest(secret.as_bytes()).to_vec();
        let mut tx = self.tx().await?;
        // The user's row first, locked: two tokens issued at once for one
        // user count each other (the prune below sees both).
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (id, user_id, secret_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(secret_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        // The newest TOKENS_PER_USER stay, the new one always among them
        // (SQLite breaks ties of the same millisecond by insertion order;
        // PostgreSQL has no such order, so the new token is kept by name).
        let pruned = sqlx::query(
            "DELETE FROM tokens WHERE user_id = $1 AND id <> $2 AND id NOT IN
               (SELECT id FROM tokens WHERE user_id = $1 AND id <> $2
                ORDER BY created_at DESC, id DESC LIMIT $3)",
        )
        .bind(user_id)
        .bind(&id)
        .bind(TOKENS_PER_USER - 1)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if pruned > 0 {
            bump_auth_epoch(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(format!("{id}{secret}"))
    }

    pub async fn resolve_token(&self, token: &str) -> Result<Option<Principal>> {
        Ok(self.resolve_token_owner(token).await?.map(|o| o.principal))
    }

    pub async fn resolve_token_owner(&self, token: &str) -> Result<Option<TokenOwner>> {
        let (Some(id), Some(secret)) = (token.get(..TOKEN_ID_HEX), token.get(TOKEN_ID_HEX..))
        else {
            return Ok(None);
        };
        if secret.is_empty() || secret.len() > 256 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT t.secret_hash, t.created_at AS token_created_at, u.id, u.name, u.permissions
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: Vec<u8> = row.try_get("secret_hash")?;
        let given = Sha256::digest(secret.as_bytes());
        if !bool::from(given.as_slice().ct_eq(&stored)) {
            return Ok(None);
        }
        Ok(Some(TokenOwner {
            principal: row_to_principal(&row)?,
            created_at_ms: row.try_get("token_created_at")?,
        }))
    }

    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, u.name, t.created_at FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE $1::TEXT IS NULL OR u.name = $1 ORDER BY u.name COLLATE \"C\", t.created_at",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.try_get(0)?,
                    user: r.try_get(1)?,
                    created_at: from_ms(r.try_get(2)?),
                })
            })
            .collect()
    }

    pub async fn revoke_tokens(&self, token_id: Option<&str>, user: Option<&str>) -> Result<u64> {
        let mut tx = self.tx().await?;
        let n = sqlx::query(
            "DELETE FROM tokens WHERE ($1::TEXT IS NOT NULL AND id = $1)
               OR ($2::TEXT IS NOT NULL AND user_id = (SELECT id FROM users WHERE name = $2))",
        )
        .bind(token_id)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        bump_auth_epoch(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }

    // ---- sessions ----

    pub async fn create_session(&self, user_id: i64) -> Result<String> {
        let id = crate::random_hex(32);
        let now = now_ms();
        self.prune_sessions(now).await?;
        sqlx::query(
            "INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash(&id))
        .bind(user_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(id)
    }

    pub async fn resolve_session(&self, id: &str) -> Result<Option<Principal>> {
        Ok(self.resolve_session_info(id).await?.map(|s| s.principal))
    }

    pub async fn resolve_session_info(&self, id: &str) -> Result<Option<SessionInfo>> {
        if !is_session_id(id) {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT s.created_at, s.last_seen_at, u.id, u.name, u.permissions
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        )
        .bind(id_hash(id))
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
        Ok(Some(SessionInfo {
            principal: row_to_principal(&row)?,
            created_at_ms: created,
            last_seen_at_ms: seen,
        }))
    }

    pub async fn touch_session(&self, id: &str, at_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = GREATEST(last_seen_at, $1) WHERE id_hash = $2",
        )
        .bind(at_ms)
        .bind(id_hash(id))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn delete_session(&self, id: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash(id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    async fn prune_sessions(&self, now: i64) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2")
            .bind(now - SESSION_IDLE.as_millis() as i64)
            .bind(now - SESSION_MAX_AGE.as_millis() as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- meta ----

    pub async fn meta_get(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    pub async fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn auth_epoch(&self) -> Result<i64> {
        Ok(self
            .meta_get("auth_epoch")
            .await?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }
}
