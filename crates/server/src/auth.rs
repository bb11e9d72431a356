//! Authentication: API tokens (header `Token`, or query `token` unless
//! disabled) and the web panel's sessions, resolved from an in-memory cache
//! so that a request, authenticated or not, costs no database query.
//!
//! The cache holds, keyed by SHA-256 (never the secret itself):
//! - tokens and sessions that resolved to a user;
//! - tokens and session ids that resolved to nobody, in a bounded set of
//!   recently refused keys, apart from the valid ones, so that a flood of
//!   random tokens costs bounded memory and cannot push out valid entries.
//!
//! Invalidation: every user change, token revocation (or prune) and password
//! change bumps `auth_epoch` in the database (from this server or from the CLI); the watcher polls it
//! twice a second and drops everything on a change, refused keys included,
//! so a token revoked elsewhere stops within a second. A lookup that raced
//! with a drop is not cached (the generation check in `fill_*`). A logout
//! drops its session at once. Session expiry ([`SESSION_IDLE`],
//! [`SESSION_MAX_AGE`]) is checked from the cache on every request; the
//! session's `last_seen_at` is written back at most once a minute, in the
//! background.
//!
//! Optional credential age (`token_max_age`, default none: ILMT's tokens do
//! not expire): a token older than that, counted from its issue time, is
//! refused as expired; a panel session's maximum age is the shorter of
//! [`SESSION_MAX_AGE`] and `token_max_age`. Both are checked against the
//! issue time kept in the cache, so expiry costs no database query either.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use openlmt_domain::Permission;
use openlmt_storage::{
    Principal, SessionInfo, Store, TokenOwner, SESSION_IDLE, SESSION_MAX_AGE, TOUCH_EVERY_MS,
};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

type Key = [u8; 32];

fn key_of(secret: &str) -> Key {
    Sha256::digest(secret.as_bytes()).into()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// At most this many valid tokens, and as many sessions, are cached (the
/// map is emptied when full; filling it takes that many valid logins).
const MAX_CACHED: usize = 10_000;
/// Refused keys are kept in two generations of at most this many each.
const REFUSED_PER_GENERATION: usize = 8_192;

/// A bounded set of recently refused keys: when the current generation is
/// full it becomes the old one and the previous old one is dropped, so the
/// set never holds more than 2 × `cap` keys and a key refused again and
/// again stays known while random keys stream through.
struct RefusedSet {
    current: HashSet<Key>,
    old: HashSet<Key>,
    cap: usize,
}

impl RefusedSet {
    fn new(cap: usize) -> Self {
        RefusedSet {
            current: HashSet::new(),
            old: HashSet::new(),
            cap,
        }
    }
    fn contains(&self, k: &Key) -> bool {
        self.current.contains(k) || self.old.contains(k)
    }
    /// Whether `k` is known only from the old generation (it must move up,
    /// see [`RefusedSet::insert`], or it would be forgotten at the next turn).
    fn only_old(&self, k: &Key) -> bool {
        !self.current.contains(k) && self.old.contains(k)
    }
    fn insert(&mut self, k: Key) {
        if self.current.contains(&k) {
            return;
        }
        // A key refused again moves up to the current generation, so it
        // stays known however many random keys stream through.
        self.old.remove(&k);
        if self.current.len() >= self.cap {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(k);
    }
    fn remove(&mut self, k: &Key) {
        self.current.remove(k);
        self.old.remove(k);
    }
    #[cfg(test)]
    fn len(&self) -> usize {
        self.current.len() + self.old.len()
    }
    fn clear(&mut self) {
        self.current.clear();
        self.old.clear();
    }
}

struct CachedSession {
    principal: Principal,
    created_ms: i64,
    /// Last use seen by this server (or the database's, when loaded).
    last_used_ms: AtomicI64,
    /// Last `last_seen_at` written to (or read from) the database.
    touched_ms: AtomicI64,
}

impl CachedSession {
    fn expired(&self, now: i64, max_age_ms: i64) -> bool {
        now - self.last_used_ms.load(Ordering::Relaxed) > SESSION_IDLE.as_millis() as i64
            || now - self.created_ms > max_age_ms
    }
}

/// What a token resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenCheck {
    /// A valid token of this user.
    Valid(Principal),
    /// A token of a user, older than `token_max_age`.
    Expired {
        /// When it was issued, milliseconds since the epoch.
        issued_ms: i64,
        /// The configured maximum age.
        max_age: Duration,
    },
    /// Unknown, revoked, malformed, or its user was removed.
    Unknown,
}

struct Tables {
    tokens: HashMap<Key, TokenOwner>,
    refused_tokens: RefusedSet,
    sessions: HashMap<Key, Arc<CachedSession>>,
    refused_sessions: RefusedSet,
}

/// What the cache knows of a key.
#[derive(Debug, PartialEq, Eq)]
enum Cached<T> {
    /// Valid.
    Hit(T),
    /// Refused recently (or an expired session): no user.
    Refused,
    /// Not known: ask the database, then `fill_*` with this generation.
    Miss(u64),
}

/// A session found in the cache.
#[derive(Debug, PartialEq, Eq)]
struct LiveSession {
    principal: Principal,
    /// `last_seen_at` should be written back (at most once a minute).
    touch: bool,
}

pub struct AuthCache {
    tables: RwLock<Tables>,
    /// `token_max_age`: tokens older than this are refused as expired.
    token_max_age: Option<Duration>,
    /// A session's maximum age: [`SESSION_MAX_AGE`], or `token_max_age`
    /// when shorter.
    session_max_age_ms: i64,
    /// Bumped, under the write lock, by every invalidation.
    generation: AtomicU64,
    /// The last `auth_epoch` seen in the database.
    epoch: AtomicI64,
}

impl Default for AuthCache {
    /// No token expiry (as ILMT).
    fn default() -> Self {
        Self::new(None)
    }
}

/// Milliseconds of a duration, saturating.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl AuthCache {
    /// A cache that refuses tokens older than `token_max_age` (none: tokens
    /// never expire) and caps a session's maximum age at it.
    pub fn new(token_max_age: Option<Duration>) -> Self {
        Self::with(REFUSED_PER_GENERATION, token_max_age)
    }

    #[cfg(test)]
    fn with_refused_capacity(cap: usize) -> Self {
        Self::with(cap, None)
    }

    fn with(cap: usize, token_max_age: Option<Duration>) -> Self {
        let session_max = token_max_age.map_or(SESSION_MAX_AGE, |t| t.min(SESSION_MAX_AGE));
        AuthCache {
            token_max_age,
            session_max_age_ms: millis(session_max),
            tables: RwLock::new(Tables {
                tokens: HashMap::new(),
                refused_tokens: RefusedSet::new(cap),
                sessions: HashMap::new(),
                refused_sessions: RefusedSet::new(cap),
            }),
            generation: AtomicU64::new(0),
            epoch: AtomicI64::new(0),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        self.tables.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|p| p.into_inner())
    }

    /// What an API token is: valid (its user), expired, or unknown.
    pub async fn resolve(&self, store: &Store, token: &str) -> Result<TokenCheck, ApiError> {
        let key = key_of(token);
        let generation = match self.cached_token(&key) {
            Cached::Hit(owner) => return Ok(self.check_age(owner, now_ms())),
            Cached::Refused => return Ok(TokenCheck::Unknown),
            Cached::Miss(g) => g,
        };
        let found = store.resolve_token_owner(token).await?;
        self.fill_token(key, generation, found.as_ref());
        Ok(found.map_or(TokenCheck::Unknown, |o| self.check_age(o, now_ms())))
    }

    /// A known token, valid or too old at `now`. An expired token stays
    /// in the cache of known ones, so that repeating it costs no query and
    /// is told it expired (not that it is unknown).
    fn check_age(&self, owner: TokenOwner, now: i64) -> TokenCheck {
        match self.token_max_age {
            Some(max) if now.saturating_sub(owner.created_at_ms) > millis(max) => {
                TokenCheck::Expired {
                    issued_ms: owner.created_at_ms,
                    max_age: max,
                }
            }
            _ => TokenCheck::Valid(owner.principal),
        }
    }

    fn cached_token(&self, key: &Key) -> Cached<TokenOwner> {
        // Read before the lookup: a drop after it makes the fill a no-op.
        let generation = self.generation.load(Ordering::Acquire);
        let t = self.read();
        if let Some(p) = t.tokens.get(key) {
            Cached::Hit(p.clone())
        } else if t.refused_tokens.contains(key) {
            if t.refused_tokens.only_old(key) {
                drop(t);
                self.write().refused_tokens.insert(*key);
            }
            Cached::Refused
        } else {
            Cached::Miss(generation)
        }
    }

    fn fill_token(&self, key: Key, generation: u64, found: Option<&TokenOwner>) {
        self.fill(key, generation, found.cloned(), |t| {
            (&mut t.tokens, &mut t.refused_tokens)
        });
    }

    /// Records what the database said of `key`: `found` in the table of
    /// valid keys (cleared first when full) or the key as refused; nothing
    /// when something changed while the database was asked (`generation`
    /// moved), since the answer may be stale.
    fn fill<V>(
        &self,
        key: Key,
        generation: u64,
        found: Option<V>,
        tables: impl FnOnce(&mut Tables) -> (&mut HashMap<Key, V>, &mut RefusedSet),
    ) {
        let mut t = self.write();
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        let (valid, refused) = tables(&mut t);
        match found {
            Some(v) => {
                if valid.len() >= MAX_CACHED {
                    valid.clear();
                }
                valid.insert(key, v);
            }
            None => refused.insert(key),
        }
    }

    /// The user of a live panel session, `None` for an unknown, ended or
    /// expired one (an expired one is deleted).
    pub async fn resolve_session(
        &self,
        store: &Store,
        id: &str,
    ) -> Result<Option<Principal>, ApiError> {
        let key = key_of(id);
        let now = now_ms();
        let generation = match self.cached_session(&key, now) {
            Cached::Hit(live) => {
                if live.touch {
                    let (store, id) = (store.clone(), id.to_string());
                    tokio::spawn(async move {
                        if let Err(e) = store.touch_session(&id, now).await {
                            tracing::warn!(error = %e, "cannot record a session's last use");
                        }
                    });
                }
                return Ok(Some(live.principal));
            }
            Cached::Refused => return Ok(None),
            Cached::Miss(g) => g,
        };
        let found = store.resolve_session_info(id).await?;
        self.fill_session(key, generation, found.as_ref());
        // The store applies SESSION_MAX_AGE; a shorter token_max_age is
        // this server's (the next lookup moves it to the refused set).
        Ok(found
            .filter(|s| now.saturating_sub(s.created_at_ms) <= self.session_max_age_ms)
            .map(|s| s.principal))
    }

    fn cached_session(&self, key: &Key, now: i64) -> Cached<LiveSession> {
        let generation = self.generation.load(Ordering::Acquire);
        let t = self.read();
        if let Some(s) = t.sessions.get(key) {
            if s.expired(now, self.session_max_age_ms) {
                drop(t);
                // Refused from now on; the database drops it on its next
                // lookup or login (resolve_session_info, create_session).
                let mut t = self.write();
                t.sessions.remove(key);
                t.refused_sessions.insert(*key);
                return Cached::Refused;
            }
            s.last_used_ms.fetch_max(now, Ordering::Relaxed);
            let touched = s.touched_ms.load(Ordering::Relaxed);
            let touch = now - touched > TOUCH_EVERY_MS
                && s.touched_ms
                    .compare_exchange(touched, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
            Cached::Hit(LiveSession {
                principal: s.principal.clone(),
                touch,
            })
        } else if t.refused_sessions.contains(key) {
            if t.refused_sessions.only_old(key) {
                drop(t);
                self.write().refused_sessions.insert(*key);
            }
            Cached::Refused
        } else {
            Cached::Miss(generation)
        }
    }

    fn fill_session(&self, key: Key, generation: u64, found: Option<&SessionInfo>) {
        let found = found.map(|s| {
            Arc::new(CachedSession {
                principal: s.principal.clone(),
                created_ms: s.created_at_ms,
                last_used_ms: AtomicI64::new(s.last_seen_at_ms),
                touched_ms: AtomicI64::new(s.last_seen_at_ms),
            })
        });
        self.fill(key, generation, found, |t| {
            (&mut t.sessions, &mut t.refused_sessions)
        });
    }

    /// Drops a session that was just ended in the database (logout).
    pub fn forget_session(&self, id: &str) {
        let key = key_of(id);
        let mut t = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        t.sessions.remove(&key);
        t.refused_sessions.remove(&key);
    }

    /// Drops everything: users, tokens or passwords changed.
    fn invalidate(&self, epoch: i64) {
        let mut t = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.epoch.store(epoch, Ordering::Release);
        t.tokens.clear();
        t.refused_tokens.clear();
        t.sessions.clear();
        t.refused_sessions.clear();
    }

    /// Watches the auth epoch in the database, so that a user removed, a
    /// token issued or revoked, or a password changed by the CLI takes
    /// effect within a second.
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
/// query parameter (ignored when disabled in the configuration), which wins
/// over the `token` of a JSON body of a GET (read by
/// [`crate::params::json_body_params`] on the routes that take one; not in
/// the URL, so not subject to that setting).
pub fn request_token(parts: &Parts, query_allowed: bool) -> Option<String> {
    if let Some(h) = parts.headers.get("token") {
        return Some(h.to_str().unwrap_or("").trim().to_string());
    }
    let from_query = || {
        form_urlencoded::parse(parts.uri.query()?.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.trim().to_string())
    };
    query_allowed.then(from_query).flatten().or_else(|| {
        parts
            .extensions
            .get::<crate::params::BodyParams>()
            .and_then(|b| b.token.clone())
    })
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
            TokenCheck::Valid(p) => {
                let caller = Caller(p);
                parts.extensions.insert(caller.clone());
                Ok(caller)
            }
            TokenCheck::Expired { issued_ms, max_age } => Err(expired(issued_ms, max_age)),
            TokenCheck::Unknown => Err(ApiError::unauthorized(
                "the API token is not valid (unknown, revoked, or its user was removed)",
            )),
        }
    }
}

/// The 401 of an expired token: when it was issued and the limit.
fn expired(issued_ms: i64, max_age: Duration) -> ApiError {
    let issued =
        openlmt_storage::from_ms(issued_ms).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    ApiError::unauthorized(format!(
        "the API token has expired: it was issued at {issued} and this server accepts tokens for {} (token_max_age); get a new one from POST /api/get_token",
        format_age(max_age)
    ))
}

/// A duration in the largest whole unit that states it exactly (`90d`,
/// `12h`, `30m`, `45s`), as the configuration takes it.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, secs) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= secs && s.is_multiple_of(secs) {
            return format!("{}{unit}", s / secs);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use openlmt_domain::PermissionSet;

    fn alice() -> Principal {
        Principal {
            user_id: 1,
            name: "alice".into(),
            permissions: PermissionSet::empty(),
        }
    }

    fn alice_token(created_at_ms: i64) -> TokenOwner {
        TokenOwner {
            principal: alice(),
            created_at_ms,
        }
    }

    fn miss<T: std::fmt::Debug>(c: Cached<T>) -> u64 {
        match c {
            Cached::Miss(g) => g,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn refused_tokens_are_cached_until_an_epoch_change() {
        let cache = AuthCache::default();
        let k = key_of("0123456789abcdef-not-yet-issued");
        let g = miss(cache.cached_token(&k));
        cache.fill_token(k, g, None);
        assert_eq!(cache.cached_token(&k), Cached::Refused);
        // The token is issued (by the CLI or the API): auth_epoch moves,
        // the watcher drops the refusal, the next lookup asks the database.
        cache.invalidate(7);
        let g = miss(cache.cached_token(&k));
        cache.fill_token(k, g, Some(&alice_token(0)));
        assert_eq!(cache.cached_token(&k), Cached::Hit(alice_token(0)));
        // Revoked: dropped again.
        cache.invalidate(8);
        miss(cache.cached_token(&k));
    }

    #[test]
    fn a_lookup_that_raced_with_a_change_is_not_cached() {
        let cache = AuthCache::default();
        let k = key_of("token");
        let g = miss(cache.cached_token(&k));
        cache.invalidate(1); // the token was issued while the database was asked
        cache.fill_token(k, g, None);
        miss(cache.cached_token(&k));
        let g = miss(cache.cached_session(&k, 0));
        cache.forget_session("other"); // a logout meanwhile
        cache.fill_session(k, g, None);
        miss(cache.cached_session(&k, 0));
    }

    #[test]
    fn random_tokens_cost_bounded_memory_and_keep_valid_ones() {
        let cache = AuthCache::with_refused_capacity(100);
        let valid = key_of("valid");
        cache.fill_token(
            valid,
            miss(cache.cached_token(&valid)),
            Some(&alice_token(0)),
        );
        let repeated = key_of("repeated-unknown");
        cache.fill_token(repeated, miss(cache.cached_token(&repeated)), None);
        for i in 0..10_000 {
            let k = key_of(&format!("random-{i}"));
            cache.fill_token(k, miss(cache.cached_token(&k)), None);
            if i % 50 == 0 {
                // A client that keeps sending the same unknown token: it
                // stays refused while random ones stream through.
                // (Only the lookup a request makes: no new fill.)
                assert_eq!(cache.cached_token(&repeated), Cached::Refused, "at {i}");
            }
            assert!(cache.read().refused_tokens.len() <= 200);
        }
        assert_eq!(cache.cached_token(&valid), Cached::Hit(alice_token(0)));
        assert_eq!(cache.read().tokens.len(), 1);
    }

    fn session(created: i64, seen: i64) -> SessionInfo {
        SessionInfo {
            principal: alice(),
            created_at_ms: created,
            last_seen_at_ms: seen,
        }
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn sessions_expire_from_the_cache_when_idle() {
        let cache = AuthCache::default();
        let k = key_of("session-id");
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        let live = |now| match cache.cached_session(&k, now) {
            Cached::Hit(l) => Some(l),
            Cached::Refused => None,
            Cached::Miss(_) => panic!("dropped from the cache"),
        };
        // Used every 11 hours: never idle for 12, so it lives on.
        for n in 1..=5 {
            assert!(live(n * 11 * HOUR).is_some(), "use {n}");
        }
        // Then 12 hours and a bit without use: refused.
        assert!(live(55 * HOUR + 12 * HOUR + 1).is_none());
        assert!(live(55 * HOUR + 12 * HOUR + 2).is_none());
    }

    #[test]
    fn sessions_expire_from_the_cache_at_max_age() {
        let cache = AuthCache::default();
        let k = key_of("session-id");
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        let max = SESSION_MAX_AGE.as_millis() as i64;
        let mut now = 0;
        while now + HOUR <= max {
            now += HOUR;
            assert!(matches!(cache.cached_session(&k, now), Cached::Hit(_)));
        }
        assert_eq!(cache.cached_session(&k, max + 1), Cached::Refused);
    }

    #[test]
    fn last_use_is_written_back_at_most_once_a_minute() {
        let cache = AuthCache::default();
        let k = key_of("session-id");
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        let touches = (0..=300_000)
            .step_by(100)
            .filter(|&now| match cache.cached_session(&k, now) {
                Cached::Hit(l) => l.touch,
                other => panic!("{other:?}"),
            })
            .count();
        // 5 minutes of requests every 0.1 s: one write per minute or so.
        assert!((4..=5).contains(&touches), "{touches} writes");
    }

    #[test]
    fn logout_and_changes_end_cached_sessions() {
        let cache = AuthCache::default();
        let k = key_of("session-id");
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        assert!(matches!(cache.cached_session(&k, 1), Cached::Hit(_)));
        cache.forget_session("session-id");
        miss(cache.cached_session(&k, 2));
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        cache.invalidate(3); // e.g. a password change from the CLI
        miss(cache.cached_session(&k, 4));
    }

    #[test]
    fn tokens_expire_at_token_max_age_from_their_issue_time() {
        let day = Duration::from_secs(86_400);
        let cache = AuthCache::new(Some(day));
        let issued = 1_000_000;
        let max = millis(day);
        // Valid up to and including the limit, expired a millisecond after,
        // whatever the use in between (issue time, not last use).
        for now in [issued, issued + max / 2, issued + max] {
            assert_eq!(
                cache.check_age(alice_token(issued), now),
                TokenCheck::Valid(alice()),
                "at {now}"
            );
        }
        assert_eq!(
            cache.check_age(alice_token(issued), issued + max + 1),
            TokenCheck::Expired {
                issued_ms: issued,
                max_age: day
            }
        );
        // Without a limit (the default, as ILMT), a token never expires.
        assert_eq!(
            AuthCache::default().check_age(alice_token(0), i64::MAX),
            TokenCheck::Valid(alice())
        );
        assert_eq!(format_age(day * 90), "90d");
        assert_eq!(format_age(Duration::from_secs(7_200)), "2h");
        assert_eq!(format_age(Duration::from_secs(90)), "90s");
        assert_eq!(format_age(Duration::from_secs(120)), "2m");
    }

    #[test]
    fn a_shorter_token_max_age_caps_the_session_max_age() {
        let hour = Duration::from_secs(3_600);
        let cache = AuthCache::new(Some(hour));
        let k = key_of("session-id");
        cache.fill_session(k, miss(cache.cached_session(&k, 0)), Some(&session(0, 0)));
        assert!(matches!(cache.cached_session(&k, HOUR), Cached::Hit(_)));
        assert_eq!(cache.cached_session(&k, HOUR + 1), Cached::Refused);
        // A longer one leaves the sessions' own 7 days.
        let long = AuthCache::new(Some(SESSION_MAX_AGE * 4));
        assert_eq!(long.session_max_age_ms, millis(SESSION_MAX_AGE));
    }
}
