//! Authentication: API tokens (header `Token`, or query `token` unless
//! disabled), cached in memory and dropped whenever users or tokens change.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use openlmt_domain::Permission;
use openlmt_storage::{Principal, Store};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Resolved tokens, keyed by SHA-256 of the whole token (never the token).
#[derive(Default)]
pub struct AuthCache {
    map: RwLock<HashMap<[u8; 32], Principal>>,
    epoch: AtomicI64,
}

const MAX_CACHED: usize = 10_000;

impl AuthCache {
    pub async fn resolve(&self, store: &Store, token: &str) -> Result<Option<Principal>, ApiError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(p) = self.map.read().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(p.clone()));
        }
        let epoch = self.epoch.load(Ordering::Acquire);
        let found = store.resolve_token(token).await?;
        if let Some(p) = &found {
            let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
            // Only cache if no change happened meanwhile.
            if self.epoch.load(Ordering::Acquire) == epoch {
                if map.len() >= MAX_CACHED {
                    map.clear();
                }
                map.insert(key, p.clone());
            }
        }
        Ok(found)
    }

    fn invalidate(&self, epoch: i64) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        self.epoch.store(epoch, Ordering::Release);
        map.clear();
    }

    /// Watches the auth epoch in the database, so that a user removed or a
    /// token revoked by the CLI stops working within a second.
    pub fn spawn_watcher(
        self: &Arc<Self>,
        store: Store,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let cache = self.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(epoch) = store.auth_epoch().await {
                    if epoch != cache.epoch.load(Ordering::Acquire) {
                        cache.invalidate(epoch);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.cancelled() => return,
                }
            }
        });
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn require(&self, p: Permission, to: &str) -> Result<(), ApiError> {
        if self.0.permissions.contains(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "user `{}` does not have the {} permission needed to {to}",
                self.0.name,
                p.as_str()
            )))
        }
    }

    pub fn has(&self, p: Permission) -> bool {
        self.0.permissions.contains(p)
    }
}

/// The token a request carries: the `Token` header wins over the `token`
/// query parameter, which is ignored when disabled in the configuration.
pub fn request_token(parts: &Parts, query_allowed: bool) -> Option<String> {
    if let Some(h) = parts.headers.get("token") {
        return Some(h.to_str().unwrap_or("").trim().to_string());
    }
    if !query_allowed {
        return None;
    }
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.trim().to_string())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.get::<Caller>() {
            return Ok(c.clone());
        }
        let Some(token) = request_token(parts, app.config.token_in_url) else {
            // No token: the web panel's session cookie (CSRF-checked).
            if let Some(caller) = crate::panel::session::cookie_caller(parts, app).await? {
                parts.extensions.insert(caller.clone());
                return Ok(caller);
            }
            return Err(ApiError::unauthorized(
                "authentication required: send your API token in the `Token` header (get one from POST /api/get_token)",
            ));
        };
        match app.auth.resolve(app.engine.store(), &token).await? {
            Some(p) => {
                let caller = Caller(p);
                parts.extensions.insert(caller.clone());
                Ok(caller)
            }
            None => Err(ApiError::unauthorized(
                "the API token is not valid (unknown, revoked, or its user was removed)",
            )),
        }
    }
}
