//! Users (argon2-hashed passwords) and API tokens (random, stored hashed).

use crate::{from_ms, now_ms, Result, SqliteStore, StoreError};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, Utc};
use openlmt_domain::PermissionSet;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: i64,
    pub name: String,
    pub permissions: PermissionSet,
}

#[derive(Debug, Clone)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub permissions: PermissionSet,
    pub created_at: DateTime<Utc>,
}

/// A valid token's user and when the token was issued (so that a server
/// can enforce its `token_max_age` without asking again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub principal: Principal,
    /// Issue time, milliseconds since the epoch.
    pub created_at_ms: i64,
}

#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub id: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
}

/// Length in hex characters of a token's public id prefix.
pub(crate) const TOKEN_ID_HEX: usize = 16;
/// How many tokens a user keeps; issuing more revokes the oldest.
pub const TOKENS_PER_USER: i64 = 100;

pub(crate) fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Hash(e.to_string()))
}

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a password nobody has, so that a wrong user name costs as much
/// time as a wrong password.
pub(crate) fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("openlmt-decoy-password").unwrap_or_default())
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Hash(e.to_string()))
}

pub fn validate_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "`{}` is not a valid user name: use 1 to 64 letters, digits, `.`, `_`, `-` or `@`",
            name.chars().take(80).collect::<String>()
        )))
    }
}

pub(crate) fn validate_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 || password.len() > 1024 {
        return Err(StoreError::Invalid(
            "a password must have at least 8 characters (and at most 1024 bytes)".into(),
        ));
    }
    Ok(())
}

fn row_to_user(r: &sqlx::sqlite::SqliteRow) -> Result<UserInfo> {
    let perms: String = r.try_get("permissions")?;
    Ok(UserInfo {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
        created_at: from_ms(r.try_get("created_at")?),
    })
}

impl SqliteStore {
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
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "INSERT INTO users (name, password_hash, permissions, created_at) VALUES (?, ?, ?, ?)",
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
        SqliteStore::bump_auth_epoch(&mut *tx).await?;
        tx.commit().await?;
        self.user(name).await?.ok_or_else(|| {
            StoreError::Internal(format!("user `{name}` vanished after its creation"))
        })
    }

    pub async fn user(&self, name: &str) -> Result<Option<UserInfo>> {
        sqlx::query("SELECT id, name, permissions, created_at FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row_to_user(&r))
            .transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        sqlx::query("SELECT id, name, permissions, created_at FROM users ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row_to_user)
            .collect()
    }

    /// Removes a user and, with it, every token of that user.
    pub async fn remove_user(&self, name: &str) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("DELETE FROM users WHERE name = ?")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        SqliteStore::bump_auth_epoch(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Changes a password and ends the user's panel sessions. API tokens
    /// stay valid (revoke them apart with `openlmt token revoke`).
    pub async fn set_password(&self, name: &str, password: &str) -> Result<bool> {
        validate_password(password)?;
        let pw = password.to_string();
        let hash = blocking(move || hash_password(&pw)).await??;
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET password_hash = ? WHERE name = ?")
            .bind(hash)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE name = ?)")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        // A running server drops its cached sessions on the bump.
        SqliteStore::bump_auth_epoch(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    pub async fn set_permissions(&self, name: &str, permissions: PermissionSet) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query("UPDATE users SET permissions = ? WHERE name = ?")
            .bind(permissions.to_list())
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        SqliteStore::bump_auth_epoch(&mut *tx).await?;
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Checks a user name and password. Costs one argon2 verification
    /// whether or not the user exists.
    pub async fn check_password(&self, name: &str, password: &str) -> Result<Option<Principal>> {
        let row =
            sqlx::query("SELECT id, name, password_hash, permissions FROM users WHERE name = ?")
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
            (true, Some(r)) => {
                let perms: String = r.try_get("permissions")?;
                Ok(Some(Principal {
                    user_id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
                }))
            }
            _ => Ok(None),
        }
    }

    /// Issues a new API token for a user and returns it; only its hash is
    /// kept. A user keeps at most [`TOKENS_PER_USER`] tokens.
    pub async fn issue_token(&self, user_id: i64) -> Result<String> {
        let mut raw = [0u8; 8 + 32];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        let id = hex::encode(&raw[..8]);
        let secret = hex::encode(&raw[8..]);
        let secret_hash = Sha256::digest(secret.as_bytes()).to_vec();
        let mut tx = self.write_tx().await?;
        sqlx::query(
            "INSERT INTO tokens (id, user_id, secret_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(user_id)
        .bind(secret_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let pruned = sqlx::query(
            "DELETE FROM tokens WHERE user_id = ?1 AND id NOT IN
               (SELECT id FROM tokens WHERE user_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2)",
        )
        .bind(user_id)
        .bind(TOKENS_PER_USER)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Only pruned tokens need every server to forget them. A new token
        // is 320 random bits no server can have cached as refused, and
        // bumping on every issue would empty every server's auth cache at
        // each `get_token`.
        if pruned > 0 {
            SqliteStore::bump_auth_epoch(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(format!("{id}{secret}"))
    }

    /// Resolves a token to its user, comparing the secret's hash in
    /// constant time. `None` for an unknown, revoked or malformed token.
    pub async fn resolve_token(&self, token: &str) -> Result<Option<Principal>> {
        Ok(self.resolve_token_owner(token).await?.map(|o| o.principal))
    }

    /// Like [`Store::resolve_token`], with the token's issue time. Whether
    /// a token is too old is the caller's rule (the server's
    /// `token_max_age`), not the store's.
    pub async fn resolve_token_owner(&self, token: &str) -> Result<Option<TokenOwner>> {
        let (Some(id), Some(secret)) = (token.get(..TOKEN_ID_HEX), token.get(TOKEN_ID_HEX..))
        else {
            return Ok(None);
        };
        if secret.is_empty() || secret.len() > 256 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT t.secret_hash, t.created_at, u.id, u.name, u.permissions
             FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
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
        let perms: String = row.try_get("permissions")?;
        Ok(Some(TokenOwner {
            principal: Principal {
                user_id: row.try_get("id")?,
                name: row.try_get("name")?,
                permissions: PermissionSet::parse_list(&perms).unwrap_or_default(),
            },
            created_at_ms: row.try_get("created_at")?,
        }))
    }

    pub async fn list_tokens(&self, user: Option<&str>) -> Result<Vec<TokenInfo>> {
        let rows = sqlx::query(
            "SELECT t.id, u.name, t.created_at FROM tokens t JOIN users u ON u.id = t.user_id
             WHERE ?1 IS NULL OR u.name = ?1 ORDER BY u.name, t.created_at",
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

    /// Revokes one token by its id (the first 16 characters of the token)
    /// or every token of a user. Returns how many were revoked.
    pub async fn revoke_tokens(&self, token_id: Option<&str>, user: Option<&str>) -> Result<u64> {
        let mut tx = self.write_tx().await?;
        let n = sqlx::query(
            "DELETE FROM tokens WHERE (?1 IS NOT NULL AND id = ?1)
               OR (?2 IS NOT NULL AND user_id = (SELECT id FROM users WHERE name = ?2))",
        )
        .bind(token_id)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        SqliteStore::bump_auth_epoch(&mut *tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}

// Its behaviour is tested on every engine by the conformance suite
// (tests/conformance.rs: users_passwords_and_tokens).
