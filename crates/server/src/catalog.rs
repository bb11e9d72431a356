//! Catalog management: `GET /api/catalog` (the layers, their counts, the
//! effective catalog and the one the software inventory was discovered
//! with), `PUT /api/catalog` (replace the operator's layer) and
//! `GET /api/catalog/export` (the effective catalog as a document).
//!
//! The same functions serve `openlmt catalog import|show|export`, which work
//! straight on the database: [`info`], [`set_operator_layer`] and
//! [`export`]. The effective catalog and its hash are made by
//! [`openlmt_ingest::effective_catalog`], the function discovery uses, so
//! `pending` compares exactly what the next complete import compares.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;
use axum::body::{Body, HttpBody};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::Json;
use openlmt_catalog::{Catalog, CatalogError, MAX_DOCUMENT_BYTES};
use openlmt_domain::time::format_utc;
use openlmt_domain::Permission;
use openlmt_storage::{from_ms, Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::pin::Pin;

/// Products, components and signatures of a catalog or a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub products: usize,
    pub components: usize,
    pub signatures: usize,
}

impl Counts {
    fn of(c: &Catalog) -> Counts {
        Counts {
            products: c.products.len(),
            components: c.components.len(),
            signatures: c.signature_count(),
        }
    }
}

/// The bundled layer: it comes with the binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundledLayer {
    pub catalog_version: String,
    /// The openlmt version that carries it (the layer changes only with an upgrade).
    pub openlmt_version: String,
    pub counts: Counts,
}

/// The operator's layer, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorLayer {
    pub catalog_version: String,
    /// When it was stored (ISO 8601, UTC).
    pub set_at: String,
    /// The user who stored it (`cli` for `openlmt catalog import`).
    pub set_by: Option<String>,
    /// The layer's own entries; `null` when it no longer loads over this
    /// version's bundled layer (see `problem`).
    pub counts: Option<Counts>,
}

/// The effective catalog: the bundled layer with the operator's over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectiveCatalog {
    /// `<bundled>` or `<bundled>+<operator>`.
    pub catalog_version: String,
    /// `bundled <v>[ + operator <v>]`, as import logs and `in_force` write it.
    pub version: String,
    /// SHA-256 over both layers' text: what discovery compares.
    pub hash: String,
    pub counts: Counts,
}

/// The catalog the current software inventory was discovered with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InForce {
    pub version: String,
    pub hash: String,
    /// When the import that applied it published (ISO 8601, UTC).
    pub applied_at: String,
    pub import_id: i64,
}

/// The answer of `GET /api/catalog` (and of a successful `PUT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogInfo {
    pub bundled: BundledLayer,
    pub operator: Option<OperatorLayer>,
    /// `null` when the stored operator's layer no longer loads (`problem` says why).
    pub effective: Option<EffectiveCatalog>,
    /// `null`, or why there is no effective catalog: discovery is then skipped
    /// and the software inventory stays as it is until the layer is replaced.
    pub problem: Option<String>,
    /// `null` until a complete import has discovered software.
    pub in_force: Option<InForce>,
    /// The effective catalog differs from the one in force: the next complete
    /// import applies it (and re-discovers every computer).
    pub pending: bool,
}

/// Why a catalog management call failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogFailure {
    /// The document was refused whole; nothing was changed.
    #[error("the catalog was refused: {}; nothing was changed", plural(.0.len()))]
    Refused(Vec<CatalogError>),
    /// There is no effective catalog (the operator's layer no longer loads).
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn plural(n: usize) -> String {
    if n == 1 {
        "1 error".to_string()
    } else {
        format!("{n} errors")
    }
}

impl From<CatalogFailure> for ApiError {
    fn from(e: CatalogFailure) -> Self {
        match e {
            CatalogFailure::Store(s) => s.into(),
            CatalogFailure::Unavailable(m) => ApiError::conflict(m),
            CatalogFailure::Refused(_) => ApiError::bad_request(e.to_string()),
        }
    }
}

fn bundled() -> Result<Catalog, CatalogFailure> {
    openlmt_catalog::bundled().map_err(|errors| {
        CatalogFailure::Store(StoreError::Internal(format!(
            "the bundled catalog does not load ({})",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        )))
    })
}

/// The layers, the effective catalog and the catalog in force.
pub async fn info(store: &Store) -> Result<CatalogInfo, CatalogFailure> {
    let bundled = bundled()?;
    let stored = store.operator_catalog().await?;
    let in_force = store.inventory_catalog().await?;
    let operator = stored.as_ref().map(|o| OperatorLayer {
        catalog_version: o.catalog_version.clone(),
        set_at: format_utc(from_ms(o.set_at)),
        set_by: o.set_by.clone(),
        counts: openlmt_catalog::load_layer(&o.document, &bundled)
            .ok()
            .as_ref()
            .map(Counts::of),
    });
    let (effective, problem) = match openlmt_ingest::effective_catalog(
        stored
            .as_ref()
            .map(|o| (o.catalog_version.as_str(), o.document.as_str())),
    ) {
        Ok(e) => (
            Some(EffectiveCatalog {
                catalog_version: e.catalog.catalog_version.clone(),
                version: e.version,
                hash: e.hash,
                counts: Counts::of(&e.catalog),
            }),
            None,
        ),
        Err(why) => (
            None,
            Some(format!(
                "{why}; software discovery is skipped until the operator's catalog is replaced (PUT /api/catalog)"
            )),
        ),
    };
    let pending = effective
        .as_ref()
        .is_some_and(|e| in_force.as_ref().map(|i| i.hash.as_str()) != Some(e.hash.as_str()));
    Ok(CatalogInfo {
        bundled: BundledLayer {
            catalog_version: bundled.catalog_version.clone(),
            openlmt_version: env!("CARGO_PKG_VERSION").to_string(),
            counts: Counts::of(&bundled),
        },
        operator,
        effective,
        problem,
        in_force: in_force.map(|i| InForce {
            version: i.version,
            hash: i.hash,
            applied_at: format_utc(from_ms(i.applied_at)),
            import_id: i.import_id,
        }),
        pending,
    })
}

/// Validates `document` whole as the operator's layer over the bundled
/// layer and, only if it has no error, stores it in place of the previous
/// one. It takes effect at the next complete import.
pub async fn set_operator_layer(
    store: &Store,
    document: &str,
    set_by: &str,
) -> Result<CatalogInfo, CatalogFailure> {
    let bundled = bundled()?;
    let layer = openlmt_catalog::load_layer(document, &bundled).map_err(CatalogFailure::Refused)?;
    store
        .set_operator_catalog(&layer.catalog_version, document, set_by)
        .await?;
    tracing::info!(
        catalog_version = %layer.catalog_version,
        by = set_by,
        "the operator's catalog was replaced; it applies at the next complete import"
    );
    info(store).await
}

/// The effective catalog as a document: its `catalog_version` and its JSON text.
pub async fn export(store: &Store) -> Result<(String, String), CatalogFailure> {
    let stored = store.operator_catalog().await?;
    let e = openlmt_ingest::effective_catalog(
        stored
            .as_ref()
            .map(|o| (o.catalog_version.as_str(), o.document.as_str())),
    )
    .map_err(|why| {
        CatalogFailure::Unavailable(format!(
            "there is no effective catalog to export: {why}; replace the operator's catalog (PUT /api/catalog)"
        ))
    })?;
    let text = openlmt_catalog::to_json(&e.catalog);
    Ok((e.catalog.catalog_version, text))
}

/// A file name part made of the version: letters, digits and `.+-_` kept,
/// anything else `_`.
pub fn file_name(catalog_version: &str) -> String {
    let safe: String = catalog_version
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("openlmt-catalog-{safe}.json")
}

fn json_answer(status: StatusCode, value: &impl Serialize) -> Response {
    let mut resp = (status, Json(value)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `GET /api/catalog`
pub async fn get_catalog(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewSoftware, "read the software catalog")?;
    Ok(json_answer(
        StatusCode::OK,
        &info(app.engine.store()).await?,
    ))
}

/// `GET /api/catalog/export`
pub async fn export_catalog(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.require(Permission::ViewSoftware, "export the software catalog")?;
    let (version, text) = export(app.engine.store()).await?;
    let mut resp = (StatusCode::OK, text).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", file_name(&version)))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

/// `PUT /api/catalog`: the body is a catalog document (JSON, at most
/// [`MAX_DOCUMENT_BYTES`]). Checks run in this order: authentication (401),
/// permission (403), declared size (413), the body as it arrives (413), the
/// document (400 with every error).
pub async fn put_catalog(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    version: Version,
    mut body: Body,
) -> Response {
    let answer = put(&app, caller, &headers, &mut body).await;
    let mut resp = match answer {
        Ok(info) => return json_answer(StatusCode::OK, &info),
        Err(PutError::Api(e)) => e.into_response(),
        Err(PutError::Refused(errors)) => {
            let message = CatalogFailure::Refused(errors.clone()).to_string();
            let errors: Vec<_> = errors
                .iter()
                .map(|e| json!({"path": e.path, "message": e.message}))
                .collect();
            json_answer(
                StatusCode::BAD_REQUEST,
                &json!({"error": message, "errors": errors}),
            )
        }
    };
    // Refused before the body was read to its end: the connection cannot be
    // reused (HTTP/1; HTTP/2 resets the stream by itself).
    if !body.is_end_stream() && version < Version::HTTP_2 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

enum PutError {
    Api(ApiError),
    Refused(Vec<CatalogError>),
}

impl From<ApiError> for PutError {
    fn from(e: ApiError) -> Self {
        PutError::Api(e)
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the catalog is larger than the limit of {MAX_DOCUMENT_BYTES} bytes; nothing was changed"),
    )
}

async fn put(
    app: &AppState,
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
    body: &mut Body,
) -> Result<CatalogInfo, PutError> {
    let caller = caller?;
    caller.require(
        Permission::ManageSoftwareClassification,
        "replace the operator's software catalog",
    )?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(too_large().into());
    }
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| ApiError::bad_request(format!("the request body was interrupted: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_DOCUMENT_BYTES {
                return Err(too_large().into());
            }
            bytes.extend_from_slice(&data);
        }
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        PutError::Refused(vec![CatalogError {
            path: String::new(),
            message: format!("the body is not UTF-8 text: {e}"),
        }])
    })?;
    match set_operator_layer(app.engine.store(), &text, &caller.0.name).await {
        Ok(info) => Ok(info),
        Err(CatalogFailure::Refused(errors)) => Err(PutError::Refused(errors)),
        Err(other) => Err(PutError::Api(other.into())),
    }
}
