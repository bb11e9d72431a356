//! Login protection: failed-login limits per user name and per client
//! address, and a bound on concurrent argon2 verifications.
//!
//! Both `POST /api/get_token` and the panel's `POST /login` go through
//! [`LoginGuard::check`], which refuses a limited user name or address
//! *before* any password hash is computed, so a limited client costs no
//! argon2.
//!
//! The failure counters are a small bounded map with a fixed window per
//! key rather than `governor`: governor limits the rate of *all* requests,
//! while here only failures count and a refusal must say when the window
//! frees (`Retry-After`); a map of (first failure, count) does both in a
//! few lines and is easy to bound.

use crate::error::ApiError;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use openlmt_storage::{Principal, Store};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Default failed attempts allowed per window (config `login_max_failures`).
pub const DEFAULT_MAX_FAILURES: u32 = 10;
/// Default window, seconds (config `login_failure_window_secs`).
pub const DEFAULT_WINDOW_SECS: u64 = 300;
/// At most this many user names and addresses are tracked; when full, the
/// key whose window started first is forgotten.
pub const MAX_TRACKED_KEYS: usize = 10_000;
/// How long a login waits for a hashing permit before answering 503.
pub const HASH_WAIT: Duration = Duration::from_secs(10);

/// What a failure counter is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    User(String),
    Addr(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Failed logins per user name and per address within a fixed window that
/// starts at a key's first failure. A success resets nothing: otherwise an
/// attacker holding one valid account could clear their address's counter
/// between guesses at other accounts; failures simply expire with the
/// window.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    cap: usize,
    map: Mutex<HashMap<Key, Window>>,
}

impl FailureLimiter {
    pub fn new(max_failures: u32, window: Duration, cap: usize) -> Self {
        FailureLimiter {
            max_failures: max_failures.max(1),
            window,
            cap: cap.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    /// If `key` is limited at `now`, the time until its window frees.
    pub fn limited(&self, key: &Key, now: Instant) -> Option<Duration> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.get(key)?;
        let ends = w.started + self.window;
        (w.failures >= self.max_failures && now < ends).then(|| ends - now)
    }

    /// Counts one failure for `key` at `now`.
    pub fn record_failure(&self, key: Key, now: Instant) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = map.get_mut(&key) {
            if now < w.started + self.window {
                w.failures = w.failures.saturating_add(1);
            } else {
                *w = Window {
                    started: now,
                    failures: 1,
                };
            }
            return;
        }
        if map.len() >= self.cap {
            let window = self.window;
            map.retain(|_, w| now < w.started + window);
            if map.len() >= self.cap {
                if let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, w)| w.started)
                    .map(|(k, _)| k.clone())
                {
                    map.remove(&oldest);
                }
            }
        }
        map.insert(
            key,
            Window {
                started: now,
                failures: 1,
            },
        );
    }

    pub fn tracked(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// At most N password verifications at once; a caller waits at most `wait`
/// for its turn.
#[derive(Debug)]
pub struct HashGate {
    permits: Semaphore,
    wait: Duration,
}

/// No hashing permit came within the wait.
#[derive(Debug, PartialEq, Eq)]
pub struct Busy;

impl HashGate {
    pub fn new(concurrency: usize, wait: Duration) -> Self {
        HashGate {
            permits: Semaphore::new(concurrency.max(1)),
            wait,
        }
    }

    /// Runs `f` holding a permit, or answers [`Busy`] if none came in time.
    pub async fn run<F: std::future::Future>(&self, f: F) -> Result<F::Output, Busy> {
        let permit = match self.permits.try_acquire() {
            Ok(p) => p,
            Err(_) => match tokio::time::timeout(self.wait, self.permits.acquire()).await {
                Ok(Ok(p)) => p,
                _ => return Err(Busy),
            },
        };
        let out = f.await;
        drop(permit);
        Ok(out)
    }

    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// The failure limits and the hashing bound, shared by both logins.
#[derive(Debug)]
pub struct LoginGuard {
    pub failures: FailureLimiter,
    pub hashing: HashGate,
}

/// Why a login was not checked, or failed for the server's reasons.
#[derive(Debug)]
pub enum Refused {
    /// 429: too many failures for the user name or the address.
    Limited { message: String, retry_after: u64 },
    /// 503: no hashing permit in time.
    Busy { retry_after: u64 },
    /// The store failed.
    Error(ApiError),
}

impl Refused {
    pub fn status(&self) -> StatusCode {
        match self {
            Refused::Limited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refused::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Refused::Error(e) => e.status,
        }
    }
    pub fn message(&self) -> String {
        match self {
            Refused::Limited { message, .. } => message.clone(),
            Refused::Busy { .. } => {
                "the server is busy checking other logins; try again shortly".to_string()
            }
            Refused::Error(e) => e.message.clone(),
        }
    }
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Refused::Limited { retry_after, .. } | Refused::Busy { retry_after } => {
                Some(*retry_after)
            }
            Refused::Error(e) => e.retry_after,
        }
    }
}

/// Adds `Retry-After: secs` to a response.
pub fn set_retry_after(resp: &mut Response, secs: Option<u64>) {
    if let Some(s) = secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let retry = self.retry_after();
        let mut resp = match self {
            Refused::Error(e) => e.into_response(),
            other => ApiError::new(other.status(), other.message()).into_response(),
        };
        set_retry_after(&mut resp, retry);
        resp
    }
}

/// The client address of a request: the TCP peer's (a request without
/// one, as in in-process tests, counts as `0.0.0.0`), unless the peer is a
/// trusted proxy, when it comes from `X-Forwarded-For`
/// ([`TrustedProxies::client_addr`]). With no trusted proxies (the
/// default) the header is ignored: anyone can write it.
pub fn client_addr(
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> IpAddr {
    use axum::extract::ConnectInfo;
    let peer = extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0)
        .or_else(|| {
            extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0)
        })
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    trusted.client_addr(peer, headers)
}

/// The reverse proxies whose `X-Forwarded-For` is believed (config
/// `trusted_proxies`: addresses and CIDR networks). Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses addresses (`10.0.0.5`, `::1`) and networks (`10.0.0.0/8`,
    /// `fd00::/8`), skipping empty entries; the error names every entry that
    /// is neither.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            let e = e.as_ref().trim();
            if e.is_empty() {
                // `OPENLMT_TRUSTED_PROXIES=` (empty): none.
                continue;
            }
            match e
                .parse::<IpNet>()
                .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
            {
                Ok(n) => nets.push(n.trunc()),
                Err(_) => bad.push(format!("`{e}`")),
            }
        }
        if bad.is_empty() {
            Ok(TrustedProxies(nets))
        } else {
            Err(format!(
                "trusted_proxies: {} is not an IP address or CIDR network (e.g. 10.0.0.5 or 10.0.0.0/8)",
                bad.join(", ")
            ))
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client of a request from `peer`: `peer` itself unless it is
    /// trusted; then the right-most `X-Forwarded-For` entry that is not a
    /// trusted proxy (every header line, in order, as one list). Entries
    /// left of that one are the client's own claims and are never read. If
    /// every entry is trusted, the left-most is the client; an entry that
    /// is not an address (which only a trusted proxy can have written)
    /// stops the walk at the trusted hop that wrote it.
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        let lines: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect();
        let mut client = peer;
        for entry in lines.iter().rev().flat_map(|l| l.rsplit(',')) {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let Some(ip) = forwarded_ip(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// An `X-Forwarded-For` entry's address: `1.2.3.4`, `2001:db8::1`, and the
/// forms some proxies write, with a port (`1.2.3.4:5678`, `[2001:db8::1]:5678`)
/// or in brackets.
fn forwarded_ip(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<IpAddr>().ok())
        })
        .map(|ip| ip.to_canonical())
}

/// The plain listener's peer address (the TLS server gives a `SocketAddr`).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

fn whole_secs(d: Duration) -> u64 {
    // Round up, so a client that waits exactly this long is let in.
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl LoginGuard {
    pub fn new(max_failures: u32, window: Duration, hash_concurrency: usize) -> Self {
        LoginGuard {
            failures: FailureLimiter::new(max_failures, window, MAX_TRACKED_KEYS),
            hashing: HashGate::new(hash_concurrency, HASH_WAIT),
        }
    }

    /// Checks `user`'s password for a client at `addr`: refused without
    /// hashing if the user name or the address is limited; a failure is
    /// counted for both.
    pub async fn check(
        &self,
        store: &Store,
        addr: IpAddr,
        user: &str,
        password: &str,
    ) -> Result<Option<Principal>, Refused> {
        let now = Instant::now();
        let user_key = Key::User(user.to_string());
        let addr_key = Key::Addr(addr);
        let limited = [
            (&user_key, "this user name"),
            (&addr_key, "this client address"),
        ]
        .into_iter()
        .filter_map(|(k, what)| self.failures.limited(k, now).map(|d| (d, what)))
        .max_by_key(|(d, _)| *d);
        if let Some((wait, what)) = limited {
            let secs = whole_secs(wait);
            return Err(Refused::Limited {
                message: format!("too many failed logins for {what}; try again in {secs} seconds"),
                retry_after: secs,
            });
        }
        let checked = self
            .hashing
            .run(store.check_password(user, password))
            .await
            .map_err(|Busy| Refused::Busy { retry_after: 5 })?
            .map_err(|e| Refused::Error(e.into()))?;
        if checked.is_none() {
            let now = Instant::now();
            self.failures.record_failure(user_key, now);
            self.failures.record_failure(addr_key, now);
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(n: &str) -> Key {
        Key::User(n.into())
    }

    #[test]
    fn limits_after_max_failures_until_the_window_ends() {
        let l = FailureLimiter::new(3, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.limited(&user("a"), t0).is_none(), "failure {i}");
            l.record_failure(user("a"), t0);
        }
        assert_eq!(l.limited(&user("a"), t0), Some(Duration::from_secs(60)));
        let later = t0 + Duration::from_secs(20);
        assert_eq!(l.limited(&user("a"), later), Some(Duration::from_secs(40)));
        assert!(l.limited(&user("b"), later).is_none());
        // The window ends: free again, and a new failure starts a new window.
        let after = t0 + Duration::from_secs(60);
        assert!(l.limited(&user("a"), after).is_none());
        l.record_failure(user("a"), after);
        assert!(l.limited(&user("a"), after).is_none());
    }

    #[test]
    fn the_map_is_bounded_and_forgets_the_oldest() {
        let l = FailureLimiter::new(1, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            l.record_failure(user(n), t0 + Duration::from_secs(i as u64));
        }
        assert_eq!(l.tracked(), 3);
        let t = t0 + Duration::from_secs(5);
        assert!(
            l.limited(&user("a"), t).is_none(),
            "the oldest is forgotten"
        );
        assert!(l.limited(&user("d"), t).is_some());
        assert!(l.limited(&user("b"), t).is_some());
    }

    #[tokio::test]
    async fn the_hash_gate_bounds_concurrent_work() {
        let gate = HashGate::new(1, Duration::ZERO);
        assert_eq!(gate.run(async { 7 }).await, Ok(7));
        assert_eq!(gate.available(), 1, "the permit comes back");
        // While one verification holds the only permit, another is busy.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
        let gate = std::sync::Arc::new(gate);
        let g = gate.clone();
        let holder = tokio::spawn(async move {
            g.run(async move {
                let _ = started_tx.send(());
                let _ = rx.await;
            })
            .await
        });
        started_rx.await.unwrap();
        assert_eq!(gate.available(), 0);
        assert_eq!(gate.run(async { 1 }).await, Err(Busy));
        tx.send(()).unwrap();
        assert_eq!(holder.await.unwrap(), Ok(()));
        assert_eq!(gate.run(async { 2 }).await, Ok(2));
    }

    #[test]
    fn a_concurrency_of_zero_still_allows_one() {
        assert_eq!(HashGate::new(0, Duration::ZERO).available(), 1);
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append(X_FORWARDED_FOR, HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let proxy = TrustedProxies::parse(&["10.0.0.5", "192.168.0.0/16"]).unwrap();
        let h = xff(&["203.0.113.7"]);
        // Off by default, and from an untrusted peer: the header is ignored.
        assert_eq!(none.client_addr(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        assert_eq!(proxy.client_addr(ip("10.0.0.6"), &h), ip("10.0.0.6"));
        // From a trusted peer: the right-most untrusted entry.
        assert_eq!(proxy.client_addr(ip("10.0.0.5"), &h), ip("203.0.113.7"));
        // A client's forged entries are left of the one the proxy wrote.
        let forged = xff(&["1.1.1.1, 2.2.2.2", "203.0.113.7, 192.168.3.4"]);
        assert_eq!(
            proxy.client_addr(ip("10.0.0.5"), &forged),
            ip("203.0.113.7")
        );
        // Every hop trusted: the left-most; no header: the peer.
        let inner = xff(&["192.168.1.1,192.168.2.2"]);
        assert_eq!(proxy.client_addr(ip("10.0.0.5"), &inner), ip("192.168.1.1"));
        assert_eq!(
            proxy.client_addr(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
        // Junk written by a trusted hop: that hop stands for the client.
        let junk = xff(&["203.0.113.9, unknown, 192.168.7.7"]);
        assert_eq!(proxy.client_addr(ip("10.0.0.5"), &junk), ip("192.168.7.7"));
        // Ports, brackets, IPv6 and IPv4-mapped peers.
        let ports = xff(&["[2001:db8::1]:443, 198.51.100.2:8080"]);
        assert_eq!(
            proxy.client_addr(ip("10.0.0.5"), &ports),
            ip("198.51.100.2")
        );
        let v6 = xff(&["[2001:db8::1]"]);
        assert_eq!(
            proxy.client_addr(ip("::ffff:10.0.0.5"), &v6),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_networks_and_name_bad_entries() {
        let t = TrustedProxies::parse(&["::1", "fd00::/8", " 10.1.2.3/8 "]).unwrap();
        assert!(t.contains(ip("::1")));
        assert!(t.contains(ip("fd12::3")));
        assert!(t.contains(ip("10.200.0.1")));
        assert!(!t.contains(ip("11.0.0.1")));
        let e = TrustedProxies::parse(&["10.0.0.1", "proxy.example", "10.0.0.0/33"]).unwrap_err();
        assert!(
            e.contains("`proxy.example`") && e.contains("`10.0.0.0/33`"),
            "{e}"
        );
        assert!(TrustedProxies::parse::<&str>(&[]).unwrap().is_empty());
        assert!(TrustedProxies::parse(&[""]).unwrap().is_empty());
    }
}
