//! Request parameters, parsed by hand so every mistake gets a clear 400
//! instead of a framework rejection: from the query string, and, for the
//! list endpoints, from a JSON body of a GET (SecOps sends
//! `{"token":…,"columns":[…],"criteria":"…"}` that way).
//!
//! A list endpoint's route gets the [`json_body_params`] middleware (it
//! reads the body into [`BodyParams`], token included, before
//! authentication) and its handler takes [`ListParams`]: the query's and
//! the body's parameters merged by [`Params::merged`].

use crate::error::ApiError;
use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value as JsonValue;
use std::convert::Infallible;

pub struct Params(Vec<(String, String)>);

/// The largest JSON body of a GET, in bytes.
pub const MAX_GET_BODY_BYTES: usize = 64 * 1024;

/// The parameters of a GET's JSON body: its `token`, and the others as
/// name/value pairs as if they came from a query string.
#[derive(Debug, Clone, Default)]
pub struct BodyParams {
    pub token: Option<String>,
    pairs: Vec<(String, String)>,
}

impl BodyParams {
    /// Reads a JSON object of parameters: strings, numbers and booleans as
    /// they are; a list (`columns`, `order`) as the parameter repeated; an
    /// object (a `criteria`) as its JSON text; `null` as absent.
    pub fn from_json(bytes: &[u8]) -> Result<BodyParams, ApiError> {
        let v: JsonValue = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(format!("the request body is not valid JSON ({e})"))
        })?;
        let JsonValue::Object(m) = v else {
            return Err(ApiError::bad_request(
                "the JSON body of a GET must be an object of parameters, such as {\"columns\":[\"id\"],\"criteria\":\"…\"}",
            ));
        };
        let mut out = BodyParams::default();
        for (k, v) in m {
            if k == "token" {
                match v {
                    JsonValue::String(t) => out.token = Some(t.trim().to_string()),
                    JsonValue::Null => {}
                    _ => {
                        return Err(ApiError::bad_request(
                            "`token` in the JSON body must be a string",
                        ))
                    }
                }
                continue;
            }
            let scalar = |v: JsonValue| match v {
                JsonValue::Null => None,
                JsonValue::String(s) => Some(s),
                other => Some(other.to_string()),
            };
            match v {
                JsonValue::Array(items) if k != "criteria" => {
                    for item in items {
                        if let Some(text) = scalar(item) {
                            out.pairs.push((k.clone(), text));
                        }
                    }
                }
                other => {
                    if let Some(text) = scalar(other) {
                        out.pairs.push((k, text));
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Reads the JSON body of a GET (or HEAD) whose `Content-Type` is
/// `application/json` into [`BodyParams`], for [`ListParams`] and the
/// authentication (its `token`). Larger than [`MAX_GET_BODY_BYTES`]: 413;
/// not a JSON object: 400. Other requests pass untouched.
pub async fn json_body_params(req: Request, next: Next) -> Response {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
        });
    if !(is_json && (req.method() == Method::GET || req.method() == Method::HEAD)) {
        return next.run(req).await;
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the JSON body of a GET is limited to {MAX_GET_BODY_BYTES} bytes"),
        )
        .into_response()
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_GET_BODY_BYTES as u64) {
        return too_large();
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_GET_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let over = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return if over {
                too_large()
            } else {
                ApiError::bad_request(format!("cannot read the request body ({e})")).into_response()
            };
        }
    };
    if !bytes.iter().all(u8::is_ascii_whitespace) {
        match BodyParams::from_json(&bytes) {
            Ok(p) => {
                parts.extensions.insert(p);
            }
            Err(e) => return e.into_response(),
        }
    }
    next.run(Request::from_parts(parts, axum::body::Body::empty()))
        .await
}

/// The parameters of a list request: the query string's, then the JSON
/// body's ([`Params::merged`]).
pub struct ListParams(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(ListParams(Params::merged(
            parts.uri.query(),
            parts.extensions.get::<BodyParams>(),
        )))
    }
}

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The query string's parameters followed by the JSON body's: where one
    /// value counts ([`Params::get`]: the last), the body's wins; lists
    /// (`columns`, `order`) and `criteria` ([`Params::all`]) take both.
    pub fn merged(query: Option<&str>, body: Option<&BodyParams>) -> Params {
        let mut p = Params::parse(query);
        if let Some(b) = body {
            p.0.extend(b.pairs.iter().cloned());
        }
        p
    }

    /// Every value given for `name` (or `name[]`), in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name || k.strip_suffix("[]") == Some(name))
            .map(|(_, v)| v.as_str())
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`columns[]=a&columns[]=b`, or
    /// `columns=a,b`).
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let bracket = format!("{name}[]");
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| *k == bracket || k == name)
            .flat_map(|(_, v)| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ApiError::bad_request(format!(
                    "`{name}` must be a whole number from {min} to {max}, not `{}`",
                    v.chars().take(40).collect::<String>()
                ))),
            },
        }
    }
}

/// Parses an id from a path segment.
pub fn path_id(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`{}` is not an import id (a positive whole number)",
            text.chars().take(40).collect::<String>()
        ))
    })
}
