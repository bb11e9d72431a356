//! The web panel's login, shared by the black-box tests that need a panel
//! session: a client that does not follow redirects, the login form (its
//! token checked against its cookie) and the form post.

use super::TestServer;
use reqwest::blocking::{Client, Response};
use std::time::Duration;

pub fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn set_cookies(r: &Response) -> Vec<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

pub fn cookie_value(set: &[String], name: &str) -> Option<String> {
    set.iter().find_map(|c| {
        let first = c.split(';').next()?;
        let (k, v) = first.split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// Between `name="NAME" value="` (or `content="`) and the next quote.
pub fn html_value(html: &str, marker: &str) -> String {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in page"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

/// The login form's token and its cookie.
pub fn login_form(s: &TestServer, c: &Client) -> (String, String) {
    let r = c.get(s.url("/login")).send().unwrap();
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let cookie = cookie_value(&cookies, "openlmt_login").expect("login cookie");
    let html = r.text().unwrap();
    let token = html_value(&html, r#"name="login_token" value=""#);
    assert_eq!(token, cookie);
    (token, cookie)
}

pub fn post_login(
    s: &TestServer,
    c: &Client,
    user: &str,
    password: &str,
    next: &str,
    origin: Option<&str>,
) -> Response {
    let (token, cookie) = login_form(s, c);
    let body: String = form_urlencoded_pairs(&[
        ("user", user),
        ("password", password),
        ("next", next),
        ("login_token", &token),
    ]);
    let mut req = c
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", format!("openlmt_login={cookie}"))
        .body(body);
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    req.send().unwrap()
}

pub fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", super::enc(k), super::enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Logs in and returns the session cookie's value.
pub fn login(s: &TestServer, c: &Client, user: &str, password: &str) -> String {
    let r = post_login(s, c, user, password, "/management/imports", None);
    assert_eq!(r.status(), 303, "login of {user}");
    cookie_value(&set_cookies(&r), "openlmt_session").expect("session cookie")
}
