//! Failed-login limits (per user name and per client address) on
//! `POST /api/get_token` and the panel's `POST /login`, and the security
//! headers on every answer. Small limits come from the config file; the
//! window is long, so nothing here depends on timing.

mod common;

use common::panel;
use common::{TestServer, ADMIN_PASSWORD};
use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

const LIMITS: &str = "login_max_failures = 3\nlogin_failure_window_secs = 3600\n";

/// A client whose connections come from `addr` (any 127.x address is the
/// loopback), so one test can play several client addresses.
fn client_from(addr: &str) -> Client {
    Client::builder()
        .local_address(addr.parse::<IpAddr>().unwrap())
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn get_token(s: &TestServer, c: &Client, user: &str, password: &str) -> Response {
    c.post(s.url("/api/get_token"))
        .json(&json!({"user": user, "password": password}))
        .send()
        .unwrap()
}

/// A 429 with a whole-second Retry-After within the window and a JSON
/// error; returns the message.
fn assert_limited(r: Response) -> String {
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "Retry-After {retry}");
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: Value = r.json().unwrap();
    body["error"].as_str().unwrap().to_string()
}

#[test]
fn failed_logins_are_limited_per_user_name_and_per_address() {
    let s = TestServer::builder().config(LIMITS).start();
    s.add_user("alice", "alice-password-1", &["view_software"]);
    s.add_user("bob", "bob-password-1", &["view_software"]);
    let a = client_from("127.0.0.2");
    for i in 0..3 {
        let r = get_token(&s, &a, "alice", &format!("wrong-{i}"));
        assert_eq!(r.status(), 401, "failure {i}");
    }
    // The 4th attempt, even with the right password, is refused unhashed.
    let msg = assert_limited(get_token(&s, &a, "alice", "alice-password-1"));
    assert!(msg.contains("too many failed logins"), "{msg}");

    // From another address, alice is still limited by her user name ...
    let b = client_from("127.0.0.3");
    let msg = assert_limited(get_token(&s, &b, "alice", "alice-password-1"));
    assert!(msg.contains("user name"), "{msg}");
    // ... but bob from that other address is not.
    assert_eq!(get_token(&s, &b, "bob", "bob-password-1").status(), 200);
    // Bob from alice's address is limited by the address.
    let msg = assert_limited(get_token(&s, &a, "bob", "bob-password-1"));
    assert!(msg.contains("client address"), "{msg}");

    // The form-encoded API is limited the same way.
    let r = a
        .post(s.url("/api/get_token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("user=bob&password=bob-password-1")
        .send()
        .unwrap();
    assert_limited(r);
}

#[test]
fn a_success_does_not_clear_failures() {
    let s = TestServer::builder().config(LIMITS).start();
    let c = client_from("127.0.0.4");
    for _ in 0..2 {
        assert_eq!(get_token(&s, &c, "admin", "nope").status(), 401);
    }
    assert_eq!(get_token(&s, &c, "admin", ADMIN_PASSWORD).status(), 200);
    assert_eq!(get_token(&s, &c, "admin", "nope").status(), 401);
    assert_limited(get_token(&s, &c, "admin", ADMIN_PASSWORD));
}

#[test]
fn the_panel_login_shows_the_limit_in_its_page() {
    let s = TestServer::builder().config(LIMITS).start();
    let c = panel::client();
    for _ in 0..3 {
        let r = panel::post_login(&s, &c, "admin", "wrong", "/", None);
        assert_eq!(r.status(), 401);
    }
    let r = panel::post_login(&s, &c, "admin", ADMIN_PASSWORD, "/", None);
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = r.text().unwrap();
    assert!(html.contains("too many failed logins for this"), "{html}");
    // The API refuses the same user name from another address.
    let other = client_from("127.0.0.5");
    let msg = assert_limited(get_token(&s, &other, "admin", ADMIN_PASSWORD));
    assert!(msg.contains("user name"), "{msg}");
}

fn assert_security_headers(r: &Response) {
    let h = r.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    // Pages: `same-origin`, so a browser's form post keeps its Origin.
    let html = h["content-type"].to_str().unwrap().starts_with("text/html");
    let referrer = if html { "same-origin" } else { "no-referrer" };
    assert_eq!(h["referrer-policy"], referrer);
    assert!(!h.contains_key("strict-transport-security"), "plain HTTP");
}

#[test]
fn security_headers_are_on_every_answer() {
    let s = TestServer::start();
    let ok = s.get("/api/import_status.json");
    assert_eq!(ok.status(), 200);
    assert_security_headers(&ok);
    // JSON answers load nothing and may not be framed either.
    assert_eq!(
        ok.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );

    let err = s.http.get(s.url("/api/imports")).send().unwrap();
    assert_eq!(err.status(), 401);
    assert_security_headers(&err);
    let missing = s.get("/api/no/such/thing");
    assert_eq!(missing.status(), 404);
    assert_security_headers(&missing);

    let c = panel::client();
    let page = c.get(s.url("/login")).send().unwrap();
    assert_eq!(page.status(), 200);
    assert_security_headers(&page);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // The page loads nothing the policy would block: no inline script or
    // style, no other origin.
    let html = page.text().unwrap();
    assert!(
        !html.contains("<script>") && !html.contains("<style"),
        "{html}"
    );
    assert!(!html.contains("style=\""), "{html}");
}

// --- trusted proxies: the client address from X-Forwarded-For --------------

fn get_token_via(
    s: &TestServer,
    c: &Client,
    forwarded_for: &str,
    user: &str,
    password: &str,
) -> Response {
    c.post(s.url("/api/get_token"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"user": user, "password": password}))
        .send()
        .unwrap()
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit() {
    let s = TestServer::builder()
        .config(&format!(
            "{LIMITS}trusted_proxies = [\"127.0.0.2\", \"10.0.0.0/8\"]\n"
        ))
        .start();
    s.add_user("bob", "bob-password-1", &["view_software"]);
    let proxy = client_from("127.0.0.2");
    // Three failures of one client behind the proxy (different user names,
    // so only the address counts) ...
    for u in ["x1", "x2", "x3"] {
        assert_eq!(
            get_token_via(&s, &proxy, "198.51.100.1", u, "wrong").status(),
            401
        );
    }
    // ... limit that client, whatever it writes left of the proxy's entry,
    // and whatever other trusted hops are in between ...
    for xff in [
        "198.51.100.1",
        "203.0.113.50, 198.51.100.1",
        "198.51.100.1, 10.1.2.3",
    ] {
        let msg = assert_limited(get_token_via(&s, &proxy, xff, "bob", "bob-password-1"));
        assert!(msg.contains("client address"), "{xff}: {msg}");
    }
    // ... but not another client behind the same proxy, nor the proxy itself.
    assert_eq!(
        get_token_via(&s, &proxy, "198.51.100.2", "bob", "bob-password-1").status(),
        200
    );
    assert_eq!(get_token(&s, &proxy, "bob", "bob-password-1").status(), 200);
}

#[test]
fn forwarded_for_from_an_untrusted_address_is_ignored() {
    // By default no proxy is trusted; here 127.0.0.2 is, and 127.0.0.6 not.
    for config in [
        LIMITS.to_string(),
        format!("{LIMITS}trusted_proxies = [\"127.0.0.2\"]\n"),
    ] {
        let s = TestServer::builder().config(&config).start();
        let c = client_from("127.0.0.6");
        // A client rotating X-Forwarded-For is still one address.
        for (i, u) in ["x1", "x2", "x3"].iter().enumerate() {
            let xff = format!("198.51.100.{}", 10 + i);
            assert_eq!(get_token_via(&s, &c, &xff, u, "wrong").status(), 401);
        }
        let msg = assert_limited(get_token_via(
            &s,
            &c,
            "198.51.100.99",
            "admin",
            ADMIN_PASSWORD,
        ));
        assert!(msg.contains("client address"), "{config}: {msg}");
    }
}

#[test]
fn a_bad_trusted_proxy_entry_stops_the_server_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("OPENLMT_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("OPENLMT_TRUSTED_PROXIES", "10.0.0.1,proxy.example")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trusted_proxies") && err.contains("`proxy.example`"),
        "{err}"
    );
}

#[test]
fn the_panel_login_counts_the_forwarded_client_too() {
    let s = TestServer::builder()
        .config(&format!("{LIMITS}trusted_proxies = [\"127.0.0.2\"]\n"))
        .start();
    // Browsers behind the proxy: every request of each carries the address
    // the proxy saw.
    let behind = |client_ip: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-forwarded-for", client_ip.parse().unwrap());
        Client::builder()
            .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
            .default_headers(h)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    };
    let guesser = behind("198.51.100.1");
    for u in ["x1", "x2", "x3"] {
        let r = panel::post_login(&s, &guesser, u, "wrong", "/", None);
        assert_eq!(r.status(), 401);
    }
    let r = panel::post_login(&s, &guesser, "admin", ADMIN_PASSWORD, "/", None);
    assert_eq!(r.status(), 429);
    assert!(r.text().unwrap().contains("client address"));
    // Another browser behind the same proxy logs in.
    let other = behind("198.51.100.2");
    let r = panel::post_login(&s, &other, "admin", ADMIN_PASSWORD, "/", None);
    assert_eq!(r.status(), 303);
}
