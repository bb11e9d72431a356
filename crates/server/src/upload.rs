//! `POST /api/sam/v2/scan_results_upload?filename=F[&datasource_name=N]`:
//! a scanner uploads one scan package into a data source.
//!
//! The body is streamed (never buffered in memory) into a hidden temporary
//! file in the data source's own directory (`.upload-<random>.tmp`; imports
//! ignore names starting with `.`), counted against `upload_max_bytes` as it
//! arrives, fsynced, read back with the bounded package reader, and only then
//! renamed to its final name. A half-received, oversized or unreadable upload
//! is never seen by an import, and its temporary file is removed on every
//! failure, including a client that disconnects mid-upload (the removal is
//! done by a drop guard, which also runs when the server drops the request).
//!
//! Every answer of this endpoint is compact JSON with `success`, because
//! scanner scripts grep for `"success":true`.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::params::Params;
use crate::AppState;
use axum::body::{Body, HttpBody};
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use openlmt_domain::{Permission, ScanPackageName};
use openlmt_ingest::DataSource;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;

/// The default of `upload_max_bytes`: 100 MiB.
pub const DEFAULT_UPLOAD_MAX_BYTES: u64 = 100 * 1024 * 1024;

/// An error answer: `{"success":false,"error":"…"}`.
struct UploadError {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (a database that cannot be reached).
    retry_after: Option<u64>,
}

impl UploadError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        UploadError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

impl From<ApiError> for UploadError {
    fn from(e: ApiError) -> Self {
        UploadError {
            retry_after: e.retry_after,
            ..UploadError::new(e.status, e.message)
        }
    }
}

impl From<std::io::Error> for UploadError {
    fn from(e: std::io::Error) -> Self {
        ApiError::internal(format!("scan package upload: {e}")).into()
    }
}

fn answer(status: StatusCode, value: &Value) -> Response {
    // serde_json writes compact JSON: `"success":true` with no space.
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl IntoResponse for UploadError {
    fn into_response(self) -> Response {
        let mut resp = answer(
            self.status,
            &json!({ "success": false, "error": self.message }),
        );
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// The handler. Checks run in this order: authentication (401), permission
/// (403), file name (400), data source (404), declared size (413), then the
/// body is received (413 once it passes the limit) and read (422).
pub async fn scan_results_upload(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    version: Version,
    mut body: Body,
) -> Response {
    match upload(app, caller, query, headers, &mut body).await {
        Ok(v) => answer(StatusCode::OK, &v),
        Err(e) => {
            let mut resp = e.into_response();
            // The client may still be sending: read a little of what is left
            // so it sees this answer and can reuse the connection; otherwise
            // tell it the connection closes (HTTP/1 only: HTTP/2 has no such header).
            if !drain(&mut body).await && version < Version::HTTP_2 {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            resp
        }
    }
}

/// Reads and discards the rest of a refused body, up to 1 MiB and 5 s.
/// True when the body was read to its end.
async fn drain(body: &mut Body) -> bool {
    const MAX: u64 = 1024 * 1024;
    if body.is_end_stream() {
        return true;
    }
    if body.size_hint().lower() > MAX {
        return false;
    }
    let mut read: u64 = 0;
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        let frame = tokio::select! {
            f = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)) => f,
            _ = &mut deadline => return false,
        };
        match frame {
            None => return true,
            Some(Err(_)) => return false,
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    read += d.len() as u64;
                    if read > MAX {
                        return false;
                    }
                }
            }
        }
    }
}

async fn upload(
    app: AppState,
    caller: Result<Caller, ApiError>,
    query: Option<String>,
    headers: HeaderMap,
    body: &mut Body,
) -> Result<Value, UploadError> {
    let caller = caller?;
    caller.require(Permission::UploadScanResults, "upload scan results")?;
    let params = Params::parse(query.as_deref());
    let file_name = match params.get("filename").map(str::trim) {
        None | Some("") => {
            return Err(UploadError::new(
                StatusCode::BAD_REQUEST,
                "the `filename` parameter is required: the package's name, <YYYYMMDDHHMM>-<endpointID>.tar.gz, .tgz or .zip",
            ))
        }
        Some(f) => f.to_string(),
    };
    // A valid name is a single path component that does not start with `.`:
    // it cannot leave the data source directory nor collide with a temp file.
    let name = ScanPackageName::parse(&file_name)
        .map_err(|e| UploadError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    let source = data_source(app.engine.config().data_sources.as_slice(), &params)?;
    let max = app.config.upload_max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }

    let temp = TempFile::create(&source.path).await?;
    let (size, sha256) = receive(body, &temp, max).await?;
    validate(&temp.path, &name).await?;
    let dest = source.path.join(name.as_str());
    temp.persist(&dest).await?;
    tracing::info!(
        user = %caller.0.name,
        data_source = %source.name,
        file = %name,
        size,
        "scan package uploaded"
    );
    Ok(json!({
        "success": true,
        "filename": name.as_str(),
        "datasource_name": source.name,
        "size": size,
        "sha256": sha256,
    }))
}

/// The data source named by `datasource_name`, else the first configured one
/// (`default` unless the configuration lists others).
fn data_source(sources: &[DataSource], params: &Params) -> Result<DataSource, UploadError> {
    let known = || {
        sources
            .iter()
            .map(|d| format!("`{}`", d.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match params.get("datasource_name").map(str::trim) {
        None | Some("") => sources.first().cloned().ok_or_else(|| {
            UploadError::new(
                StatusCode::NOT_FOUND,
                "the server has no data source to upload into",
            )
        }),
        Some(n) => sources
            .iter()
            .find(|d| d.name == n)
            .cloned()
            .ok_or_else(|| {
                UploadError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        // IBM's upload script blames DATASOURCE_NAME only when
                        // the answer matches `success":false.*datasource_name`.
                        "datasource_name: there is no data source `{}`; the data sources are: {}",
                        n.chars().take(80).collect::<String>(),
                        known()
                    ),
                )
            }),
    }
}

fn too_large(max: u64) -> UploadError {
    UploadError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "the package is larger than the upload limit of {max} bytes (server setting upload_max_bytes)"
        ),
    )
}

/// Streams the body into `temp`, counting and hashing; fails as soon as
/// more than `max` bytes have arrived. Returns the size and the SHA-256.
async fn receive(body: &mut Body, temp: &TempFile, max: u64) -> Result<(u64, String), UploadError> {
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .open(&temp.path)
        .await?;
    let mut out = tokio::io::BufWriter::with_capacity(256 * 1024, file);
    let mut hash = Sha256::new();
    let mut size: u64 = 0;
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await;
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            UploadError::new(
                StatusCode::BAD_REQUEST,
                format!("the upload was interrupted: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        size += data.len() as u64;
        if size > max {
            return Err(too_large(max));
        }
        hash.update(&data);
        out.write_all(&data).await?;
    }
    out.flush().await?;
    let file = out.into_inner();
    file.sync_all().await?;
    Ok((size, hex::encode(hash.finalize())))
}

/// Reads the received file with the package reader (default limits) and
/// checks that `computer.yml` names the endpoint of the file name.
async fn validate(path: &Path, name: &ScanPackageName) -> Result<(), UploadError> {
    let path = path.to_path_buf();
    let kind = match name.kind() {
        openlmt_domain::scan_package_name::ArchiveKind::TarGz => {
            openlmt_scanpkg::ArchiveKind::TarGz
        }
        openlmt_domain::scan_package_name::ArchiveKind::Zip => openlmt_scanpkg::ArchiveKind::Zip,
    };
    let read = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        Ok::<_, std::io::Error>(openlmt_scanpkg::read_scan_package(
            kind,
            std::io::BufReader::new(file),
            &openlmt_scanpkg::Limits::default(),
        ))
    })
    .await
    .map_err(|e| ApiError::internal(format!("package check task failed: {e}")))??;
    let pkg = read.map_err(|e| {
        UploadError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("`{name}` is not a readable scan package: {e}"),
        )
    })?;
    if pkg.computer.endpoint_id != name.endpoint_id() {
        return Err(UploadError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "`{name}` names endpoint `{}` but its computer.yml says endpointID `{}`",
                name.endpoint_id(),
                pkg.computer
                    .endpoint_id
                    .chars()
                    .take(128)
                    .collect::<String>()
            ),
        ));
    }
    Ok(())
}

/// A hidden temporary file in the destination directory, removed when
/// dropped unless it was renamed to its final name.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn random_suffix() -> String {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(TEMP_COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

impl TempFile {
    async fn create(dir: &Path) -> Result<TempFile, UploadError> {
        for _ in 0..8 {
            let path = dir.join(format!(".upload-{}.tmp", random_suffix()));
            match tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .await
            {
                Ok(_) => return Ok(TempFile { path, armed: true }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(ApiError::internal(format!(
                        "cannot create a temporary file in {}: {e}",
                        dir.display()
                    ))
                    .into())
                }
            }
        }
        Err(ApiError::internal("cannot find a free temporary file name").into())
    }

    /// Renames the file to `dest` (same directory: atomic; an existing
    /// package of the same name is replaced) and makes the rename durable.
    async fn persist(mut self, dest: &Path) -> Result<(), UploadError> {
        tokio::fs::rename(&self.path, dest).await?;
        self.armed = false;
        if let Some(dir) = dest.parent().map(Path::to_path_buf) {
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::open(&dir).and_then(|d| d.sync_all())
            })
            .await;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
