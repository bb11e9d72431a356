//! The route table against the real server (crates/server/src/contract.rs):
//! the served OpenAPI document is the table's, the router routes exactly the
//! table's methods and paths, and the authorisation matrix (every route ×
//! no token, bad token, revoked token, each single permission, no
//! permission, admin) answers the documented status (docs/api.md §2.3, §17).

mod common;

use common::TestServer;
use openlmt_domain::Permission;
use openlmt_server::contract::{self, Access, Method, Operation};
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The fallback's answer to a path no route has.
const NO_ROUTE: &str = "no such resource; the API is described in docs/api.md";

/// A concrete path for a table path: `{id}` → `1`, `{reason}` → `header`.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{id}" => "1",
            "{reason}" => "header",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn send(c: &Client, s: &TestServer, method: &str, path: &str, token: Option<&str>) -> Response {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = c.request(m, s.url(path));
    if let Some(t) = token {
        req = req.header("Token", t);
    }
    // No body: every operation refuses its missing body or parameters with
    // a 4xx of its own once the caller is let in, and changes nothing.
    if method != "GET" && method != "HEAD" {
        req = req.header("Content-Length", "0");
    }
    req.send().unwrap()
}

#[test]
fn the_served_document_is_the_route_tables() {
    let s = TestServer::start();
    // Public: no token needed.
    let r = client().get(s.url("/api/openapi.json")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc: Value = r.json().unwrap();
    assert_eq!(&doc, contract::openapi());
    assert_eq!(doc["openapi"], "3.1.0");
    let ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert_eq!(ops, contract::operations().len());
    // The JSON error body is a named schema every 500 uses.
    assert_eq!(
        doc["components"]["schemas"]["Error"]["required"],
        serde_json::json!(["error"])
    );
}

/// The router and the table agree: each table method of each path is
/// routed (never 405 or the fallback's 404), each other method answers
/// 405, and a path outside the table is the fallback's 404.
#[test]
fn the_router_routes_exactly_the_route_table() {
    let s = TestServer::start();
    let c = client();
    let token = s.admin_token.clone();
    let ops = contract::operations();
    let mut checked = 0;
    for path in contract::paths() {
        let url = concrete(path);
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let listed = ops
                .iter()
                .any(|o| o.path == path && o.method.as_str() == method);
            let r = send(&c, &s, method, &url, Some(&token));
            let status = r.status().as_u16();
            let body: Value = r.json().unwrap_or(Value::Null);
            if listed {
                assert_ne!(status, 405, "{method} {url} is in the table but not routed");
                assert_ne!(
                    body["error"], NO_ROUTE,
                    "{method} {url} is in the table but not routed"
                );
                checked += 1;
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {url} is routed but not in the table: {body}"
                );
            }
        }
        // Every GET also answers HEAD.
        if ops
            .iter()
            .any(|o| o.path == path && o.method == Method::Get)
        {
            let r = send(&c, &s, "HEAD", &url, Some(&token));
            assert_ne!(r.status(), 405, "HEAD {url}");
        }
    }
    assert_eq!(checked, ops.len());
    let r = send(&c, &s, "GET", "/api/not-in-the-table", Some(&token));
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().unwrap()["error"], NO_ROUTE);
}

struct Caller {
    name: String,
    token: Option<String>,
    /// `None`: not authenticated (no, bad or revoked token).
    permissions: Option<Vec<Permission>>,
}

fn callers(s: &TestServer) -> Vec<Caller> {
    let password = "matrix-password-1";
    let mut out = vec![
        Caller {
            name: "no token".into(),
            token: None,
            permissions: None,
        },
        Caller {
            name: "bad token".into(),
            // The form of a token (16 hex id, 64 hex secret), issued to nobody.
            token: Some(format!("{}{}", "0123456789abcdef", "0".repeat(64))),
            permissions: None,
        },
    ];
    // A token that worked, then was revoked.
    s.add_user("revoked", password, &["manage_imports"]);
    let revoked = s.token("revoked", password);
    assert_eq!(s.get_as(&revoked, "/api/import_status.json").status(), 200);
    assert!(s.cli_with_password(&["token", "revoke", "--user", "revoked"], ""));
    // The server sees the revocation within about a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get_as(&revoked, "/api/import_status.json").status() != 401 {
        assert!(Instant::now() < deadline, "the revoked token still works");
        std::thread::sleep(Duration::from_millis(100));
    }
    out.push(Caller {
        name: "revoked token".into(),
        token: Some(revoked),
        permissions: None,
    });
    s.add_user("nobody", password, &[]);
    out.push(Caller {
        name: "no permission".into(),
        token: Some(s.token("nobody", password)),
        permissions: Some(vec![]),
    });
    for p in Permission::ALL {
        let user = format!("only-{}", p.as_str()).replace('_', "-");
        s.add_user(&user, password, &[p.as_str()]);
        out.push(Caller {
            name: format!("only {}", p.as_str()),
            token: Some(s.token(&user, password)),
            permissions: Some(vec![*p]),
        });
    }
    out.push(Caller {
        name: "admin".into(),
        token: Some(s.admin_token.clone()),
        permissions: Some(Permission::ALL.to_vec()),
    });
    out
}

/// What the matrix expects: `Some(401)`, `Some(403)`, or `None` for "let
/// in" (any status but 401 and 403).
fn expected(access: Access, c: &Caller) -> Option<u16> {
    match (access, &c.permissions) {
        (Access::Public, _) => None,
        (_, None) => Some(401),
        (Access::Authenticated, Some(_)) => None,
        (Access::Permission(p), Some(have)) => (!have.contains(&p)).then_some(403),
    }
}

fn check(c: &Client, s: &TestServer, o: &Operation, url: &str, who: &Caller, want: Option<u16>) {
    let r = send(c, s, o.method.as_str(), url, who.token.as_deref());
    let status = r.status().as_u16();
    let text = r.text().unwrap_or_default();
    match want {
        Some(code) => {
            assert_eq!(
                status,
                code,
                "{} {url} as {}: {text}",
                o.method.as_str(),
                who.name
            );
            let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(
                body["error"].is_string(),
                "{} {url} as {}: not a JSON error: {text}",
                o.method.as_str(),
                who.name
            );
        }
        None => assert!(
            status != 401 && status != 403,
            "{} {url} as {}: {status} {text}",
            o.method.as_str(),
            who.name
        ),
    }
}

#[test]
fn the_authorisation_matrix_holds_on_every_route() {
    let s = TestServer::start();
    let c = client();
    let callers = callers(&s);
    let mut cells = 0;
    for o in contract::operations() {
        let url = concrete(o.path);
        for who in &callers {
            check(&c, &s, o, &url, who, expected(o.access, who));
            cells += 1;
        }
        // A parameter that needs a permission of its own (`run`): the
        // same rule with that permission. `raw_only` of an empty data
        // source: an import that ends at once.
        if let Some((param, p)) = o.permission_with {
            let url = format!("{url}?{param}=raw_only");
            for who in &callers {
                let want = match expected(o.access, who) {
                    Some(code) => Some(code),
                    None => expected(Access::Permission(p), who),
                };
                check(&c, &s, o, &url, who, want);
                cells += 1;
            }
        }
    }
    // No, bad and revoked token, no permission, each permission alone, admin.
    assert_eq!(callers.len(), 5 + Permission::ALL.len());
    assert!(cells >= contract::operations().len() * callers.len());
    s.wait_idle();
}
