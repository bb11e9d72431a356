//! Every HTTP error is a JSON body `{"error": "…"}` with the right status.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header, if the answer has one.
    pub retry_after: Option<u64>,
}

/// The message of the 503 that answers a request when the database cannot
/// be reached ([`StoreError::Unavailable`](openlmt_storage::StoreError)),
/// and the start of `/healthz`'s error then.
pub const DB_UNAVAILABLE: &str = "the database is not available";

/// The `Retry-After` of that 503, in seconds: about what a request waits
/// for a connection before it gives up (see
/// `openlmt_storage::postgres::API_ACQUIRE_TIMEOUT`).
pub const DB_RETRY_AFTER_SECS: u64 = 5;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    /// The 503 for a database that cannot be reached right now; `detail`
    /// (the driver's words, never a URL or password) goes to the log only,
    /// at most once every few seconds (every request fails meanwhile).
    pub fn db_unavailable(detail: impl std::fmt::Display) -> Self {
        if log_unavailable_now() {
            tracing::warn!(error = %detail, "a request failed: the database is not available");
        }
        ApiError {
            retry_after: Some(DB_RETRY_AFTER_SECS),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, DB_UNAVAILABLE)
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal server error; the server log has the details",
        )
    }
}

/// Whether a failure for want of the database is logged now: the first
/// one, then at most one every 10 s (the log says the database is gone,
/// not every request that found it gone).
fn log_unavailable_now() -> bool {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = chrono::Utc::now().timestamp();
    let last = LAST.load(Ordering::Relaxed);
    now.saturating_sub(last) >= 10
        && LAST
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let mut resp = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// An input error is the client's fault: 400 with its message. A database
/// that cannot be reached right now is 503 with `Retry-After`: the same
/// request may succeed later as it is. Every other store error (a failed
/// statement, corrupt data, an internal failure) is the server's: 500 with
/// a generic message, the detail logged.
impl From<openlmt_storage::StoreError> for ApiError {
    fn from(e: openlmt_storage::StoreError) -> Self {
        match e {
            openlmt_storage::StoreError::Invalid(msg) => ApiError::bad_request(msg),
            openlmt_storage::StoreError::Unavailable(detail) => ApiError::db_unavailable(detail),
            other => ApiError::internal(other),
        }
    }
}

impl From<openlmt_ingest::EngineError> for ApiError {
    fn from(e: openlmt_ingest::EngineError) -> Self {
        match e {
            openlmt_ingest::EngineError::ShuttingDown => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the server is shutting down",
            ),
            openlmt_ingest::EngineError::Store(s) => s.into(),
        }
    }
}

/// The answer to a handler that panicked: a generic JSON 500; the panic's
/// message goes to the log only (it may hold anything).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    ApiError::internal(format_args!("a request handler panicked: {detail}")).into_response()
}

/// Like [`jsonify_errors`] for the panel's routes, whose HTML pages (the
/// login form's 401, say) stay HTML: only the other error responses
/// (framework rejections, 405s) become JSON.
pub async fn jsonify_non_html_errors(resp: Response<Body>) -> Response<Body> {
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        resp
    } else {
        jsonify_errors(resp).await
    }
}

/// Turns any error response that is not JSON (framework rejections, 405s)
/// into the `{"error": "…"}` form.
pub async fn jsonify_errors(resp: Response<Body>) -> Response<Body> {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this resource".to_string(),
            StatusCode::NOT_FOUND => "no such resource".to_string(),
            other => other.canonical_reason().unwrap_or("error").to_lowercase(),
        }
    } else {
        text
    };
    let mut out = (status, Json(json!({ "error": message }))).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openlmt_ingest::EngineError;
    use openlmt_storage::StoreError;

    async fn answer(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.into_response();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, serde_json::from_slice(&body).unwrap())
    }

    const GENERIC: &str = "internal server error; the server log has the details";

    #[tokio::test]
    async fn input_errors_are_400_with_their_message() {
        let msg = "user `alice` already exists";
        let e = StoreError::Invalid(msg.into());
        assert!(e.is_input_error());
        let (status, body) = answer(e.into()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body, json!({ "error": msg }));
    }

    #[tokio::test]
    async fn faults_are_500_and_keep_their_detail_out_of_the_body() {
        for e in [
            StoreError::Corrupt("bad status `bogus`".into()),
            StoreError::Internal("the query is for another list".into()),
            StoreError::Hash("argon2 failed".into()),
        ] {
            assert!(!e.is_input_error(), "{e}");
            let (status, body) = answer(e.into()).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body, json!({ "error": GENERIC }));
        }
        let (status, body) =
            answer(EngineError::Store(StoreError::Corrupt("x".into())).into()).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": GENERIC })
            )
        );
        let (status, _) = answer(EngineError::ShuttingDown.into()).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn a_database_that_cannot_be_reached_is_503_with_retry_after_and_no_detail() {
        let lost = || StoreError::Unavailable("error communicating with database: refused".into());
        for e in [
            ApiError::from(lost()),
            ApiError::from(EngineError::Store(lost())),
        ] {
            let resp = e.into_response();
            assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
            let body = axum::body::to_bytes(resp.into_body(), 64 * 1024)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body, json!({ "error": DB_UNAVAILABLE }));
        }
    }
}
