//! The HTTP server: the ILMT-compatible REST API over the import engine.
//!
//! Architecture invariant: this is the only crate that knows the wire
//! format (field names, status codes, headers); see [`wire`].

pub mod audit_snapshot;
pub mod auth;
pub mod catalog;
pub mod contract;
pub mod error;
pub mod head;
mod inventory;
mod license;
pub mod list;
pub mod login_limit;
mod panel;
pub mod params;
pub mod pvu;
mod routes;
mod software;
mod upload;
pub mod wire;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use openlmt_ingest::Engine;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tower::Layer;

pub use auth::AuthCache;
/// The software instance as a map (the general list path, kept as the
/// oracle of the instance list's direct writer in tests).
#[doc(hidden)]
pub use software::instance_json;
pub use upload::DEFAULT_UPLOAD_MAX_BYTES;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Accept the `token` query parameter (the `Token` header always works).
    pub token_in_url: bool,
    /// Largest scan package `POST /api/sam/v2/scan_results_upload` accepts
    /// (config key `upload_max_bytes`; default [`DEFAULT_UPLOAD_MAX_BYTES`]).
    pub upload_max_bytes: u64,
    /// Served over HTTPS: the panel's session cookie gets `Secure`.
    pub tls: bool,
    /// Reverse proxies whose `X-Forwarded-For` gives the client address
    /// (config `trusted_proxies`; default none: the TCP peer is the client).
    pub trusted_proxies: login_limit::TrustedProxies,
}

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub auth: Arc<AuthCache>,
    pub config: Arc<ServerConfig>,
    pub metrics: PrometheusHandle,
    /// Failed-login limits and the bound on concurrent password hashing.
    pub login: Arc<login_limit::LoginGuard>,
}

/// Installs the process-wide Prometheus recorder (once per process).
pub fn install_metrics() -> anyhow::Result<PrometheusHandle> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full("openlmt_import_duration_seconds".into()),
            &[
                0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
            ],
        )?
        .install_recorder()?;
    metrics::describe_counter!("openlmt_imports_total", "Imports ended, by final status");
    metrics::describe_histogram!("openlmt_import_duration_seconds", "Import duration");
    metrics::describe_gauge!(
        "openlmt_import_progress",
        "Progress of the running import (0 when none runs)"
    );
    metrics::describe_counter!(
        "openlmt_http_requests_total",
        "HTTP requests, by route and status code"
    );
    Ok(handle)
}

/// The handler of each operation of the route table, with the layers it
/// needs (an exhaustive match: an operation without a handler does not
/// compile; the method and path come from the table).
fn handler(o: &contract::Operation) -> axum::routing::MethodRouter<AppState> {
    use axum::handler::Handler;
    use contract::Op;
    fn on<H, T>(m: axum::routing::MethodFilter, f: H) -> axum::routing::MethodRouter<AppState>
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        axum::routing::on(m, f)
    }
    let m = o.method.filter();
    let json_body = || middleware::from_fn(params::json_body_params);
    match o.op {
        Op::ImportStatus | Op::ManagementImports => on(m, routes::import_status),
        Op::GetToken => on(m, routes::get_token),
        Op::ListImports => on(m, routes::list_imports),
        Op::GetImport => on(m, routes::get_import),
        Op::ImportLog => on(m, routes::import_log),
        Op::ImportPackages => on(m, routes::import_scan_packages),
        Op::CancelImport => on(m, routes::cancel_import),
        Op::GetSchedule => on(m, routes::get_schedule),
        Op::PutSchedule => on(m, routes::put_schedule),
        Op::ListComputers => on(m, inventory::list_computers).route_layer(json_body()),
        Op::DeleteComputer => on(m, inventory::delete_computer),
        Op::RawPackageFacts => on(m, inventory::raw_installed_packages).route_layer(json_body()),
        Op::RawSwidTags => on(m, inventory::raw_swid_tags).route_layer(json_body()),
        Op::About => on(m, routes::about).route_layer(json_body()),
        Op::Root => on(m, routes::root),
        Op::ListInstances => on(m, software::list_instances).route_layer(json_body()),
        Op::Classify => {
            on(m, software::classify).layer(DefaultBodyLimit::max(software::MAX_CLASSIFY_BYTES + 1))
        }
        Op::ListComponents => on(m, software::list_components).route_layer(json_body()),
        Op::ListBundlingOptions => on(m, software::list_bundling_options).route_layer(json_body()),
        Op::ListAudit => on(m, software::list_audit).route_layer(json_body()),
        Op::LicenseUsage => on(m, license::license_usage).route_layer(json_body()),
        Op::LicenseUsagePerServer => {
            on(m, license::license_usage_per_server).route_layer(json_body())
        }
        Op::LicenseExplain => on(m, license::explain).route_layer(json_body()),
        Op::LicenseDaily => on(m, license::daily).route_layer(json_body()),
        Op::GetPvuTable => on(m, pvu::get_table),
        Op::PutPvuTable => on(m, pvu::put_table).layer(DefaultBodyLimit::max(pvu::MAX_TABLE_BYTES)),
        Op::DeletePvuTable => on(m, pvu::delete_table),
        Op::GetPvuOverrides => on(m, pvu::get_overrides),
        Op::PutPvuOverrides => on(m, pvu::put_overrides),
        Op::DeletePvuOverride => on(m, pvu::delete_override),
        Op::AuditSnapshot => on(m, license::audit_snapshot).route_layer(json_body()),
        Op::ScanResultsUpload => {
            on(m, upload::scan_results_upload).layer(DefaultBodyLimit::disable())
        }
        Op::GetCatalog => on(m, catalog::get_catalog),
        Op::PutCatalog => on(m, catalog::put_catalog),
        Op::ExportCatalog => on(m, catalog::export_catalog),
        Op::OpenApi => on(m, routes::openapi),
        Op::RefusedHead => on(m, routes::refused_head),
        Op::Healthz => on(m, routes::healthz),
        Op::Metrics => on(m, routes::metrics),
    }
}

/// The API routes (without path normalisation; see [`app`]): exactly the
/// methods and paths of the route table ([`contract::operations`]).
pub fn router(state: AppState) -> Router {
    let tls = state.config.tls;
    let mut api = Router::new();
    for path in contract::paths() {
        let mut methods = axum::routing::MethodRouter::new();
        for o in contract::operations().iter().filter(|o| o.path == path) {
            methods = methods.merge(handler(o));
        }
        api = api.route(path, methods);
    }
    #[cfg(feature = "test-hooks")]
    let api = api.route("/api/test/panic", axum::routing::get(test_hooks::panic));
    // Layers, innermost first: a panic becomes a JSON 500, which is then
    // counted like any other answer.
    let app = api
        .fallback(routes::not_found)
        .layer(catch_panic())
        .layer(middleware::from_fn(count_requests))
        .layer(middleware::map_response(error::jsonify_errors))
        .merge(panel::router())
        // For anything outside the layers above (the middleware itself).
        .layer(catch_panic())
        .with_state(state);
    // Around the whole router, not each route: the `Allow` header of a 405
    // is added by axum after every route layer, and the panel's error page
    // for browsers names the methods.
    Router::new().fallback_service(
        tower::ServiceBuilder::new()
            .layer(middleware::map_response(move |resp| {
                security_headers(tls, resp)
            }))
            .layer(middleware::from_fn(panel::errors::for_browsers))
            .layer(catch_panic())
            .service(app),
    )
}

/// The panel's pages load only their own `/panel/*` scripts and styles (no
/// inline script or style element; `element.style` from a script is CSSOM,
/// which `style-src 'self'` allows).
const PANEL_CSP: &str = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Every other answer's policy (JSON, assets, text): it loads nothing and
/// may not be framed, should a browser open it as a document (an SVG, a
/// JSON error).
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Security headers on every answer (API, errors, assets and panel):
/// `nosniff`, no framing (`X-Frame-Options: DENY` and CSP
/// `frame-ancestors 'none'`), a referrer policy, a CSP ([`PANEL_CSP`] on
/// HTML pages, [`API_CSP`] on the rest), `Cache-Control: no-store` where the
/// handler set no caching of its own (answers hold tokens and inventory),
/// and on HTTPS `Strict-Transport-Security`.
async fn security_headers(tls: bool, mut resp: Response<Body>) -> Response<Body> {
    use axum::http::{header, HeaderValue};
    let is_html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // HTML pages say `same-origin`, not `no-referrer`: under `no-referrer` a
    // browser sends `Origin: null` with a form post, and the login form's
    // same-origin check would refuse every login. Other origins still get
    // no referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if is_html {
            "same-origin"
        } else {
            "no-referrer"
        }),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if is_html { PANEL_CSP } else { API_CSP }),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    resp
}

/// What a panic becomes: [`error::panic_response`].
type PanicHandler = fn(Box<dyn std::any::Any + Send>) -> Response<Body>;

fn catch_panic() -> tower_http::catch_panic::CatchPanicLayer<PanicHandler> {
    tower_http::catch_panic::CatchPanicLayer::custom(error::panic_response as PanicHandler)
}

/// Routes that exist only in builds with the `test-hooks` feature (the
/// black-box tests'), never in a release build.
#[cfg(feature = "test-hooks")]
mod test_hooks {
    /// `GET /api/test/panic`: a handler that panics.
    pub async fn panic() -> &'static str {
        panic!("test hook: this handler panics (secret detail 0xdeadbeef)")
    }
}

/// Collapses repeated slashes (`//api/…`), as real scripts send them.
fn normalize_path<B>(mut req: axum::http::Request<B>) -> axum::http::Request<B> {
    let path = req.uri().path();
    if path.contains("//") {
        let mut clean = String::with_capacity(path.len());
        for c in path.chars() {
            if !(c == '/' && clean.ends_with('/')) {
                clean.push(c);
            }
        }
        let pq = match req.uri().query() {
            Some(q) => format!("{clean}?{q}"),
            None => clean,
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = pq.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(uri) = Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// Counter handles by route and status code, so counting a request costs
/// two map lookups and no allocation once a pair has been seen.
type RequestCounters = std::sync::RwLock<
    std::collections::HashMap<String, std::collections::HashMap<u16, metrics::Counter>>,
>;

fn request_counter(route: &str, code: u16) -> metrics::Counter {
    static COUNTERS: std::sync::OnceLock<RequestCounters> = std::sync::OnceLock::new();
    let counters = COUNTERS.get_or_init(Default::default);
    if let Some(c) = counters
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(route)
        .and_then(|by_code| by_code.get(&code))
    {
        return c.clone();
    }
    let counter = metrics::counter!(
        "openlmt_http_requests_total",
        "route" => route.to_string(),
        "code" => code.to_string()
    );
    counters
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(route.to_string())
        .or_default()
        .insert(code, counter.clone());
    counter
}

async fn count_requests(req: Request, next: Next) -> Response<Body> {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    let route = route.as_ref().map_or("unmatched", |m| m.as_str());
    request_counter(route, resp.status().as_u16()).increment(1);
    resp
}

/// How the server listens.
pub enum Listen {
    Plain(std::net::TcpListener),
    Tls {
        listener: std::net::TcpListener,
        cert: PathBuf,
        key: PathBuf,
    },
}

/// Serves until `stop` is cancelled, then stops accepting connections and
/// lets open requests finish (at most `grace`).
pub async fn serve(
    state: AppState,
    listen: Listen,
    stop: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let router = router(state);
    match listen {
        Listen::Plain(listener) => {
            let app = tower::util::MapRequestLayer::new(normalize_path::<Body>).layer(router);
            // The peer address is the failed-login limits' client address.
            let make = axum::ServiceExt::<Request>::into_make_service_with_connect_info::<
                login_limit::PeerAddr,
            >(app);
            listener.set_nonblocking(true)?;
            let listener = LenientListener(tokio::net::TcpListener::from_std(listener)?);
            let stop_wait = stop.clone();
            let serve = axum::serve(listener, make)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            let handle = tokio::spawn(async move { serve.await });
            let mut handle = handle;
            tokio::select! {
                joined = &mut handle => return Ok(joined??),
                _ = stop_wait.cancelled() => {}
            }
            // Open requests get `grace` to finish, then are dropped.
            match tokio::time::timeout(grace, &mut handle).await {
                Ok(joined) => Ok(joined??),
                Err(_) => {
                    handle.abort();
                    Ok(())
                }
            }
        }
        Listen::Tls {
            listener,
            cert,
            key,
        } => {
            let app = tower::util::MapRequestLayer::new(normalize_path::<hyper::body::Incoming>)
                .layer(router);
            let make = axum::ServiceExt::<axum::http::Request<hyper::body::Incoming>>::into_make_service_with_connect_info::<SocketAddr>(app);
            let _ = rustls::crypto::ring::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot load the TLS certificate {} and key {}: {e}",
                        cert.display(),
                        key.display()
                    )
                })?;
            // HTTP/1.1 only: request heads are made lenient on the byte
            // stream ([`head`]), which an HTTP/2 client would bypass.
            let mut tls_config = (*config.get_inner()).clone();
            tls_config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.reload_from_config(Arc::new(tls_config));
            let handle = axum_server::Handle::new();
            let h2 = handle.clone();
            tokio::spawn(async move {
                stop.cancelled().await;
                h2.graceful_shutdown(Some(grace));
            });
            axum_server::from_tcp_rustls(listener, config)
                .map(LenientAcceptor)
                .handle(handle)
                .serve(make)
                .await?;
            Ok(())
        }
    }
}

/// The plain listener: every connection's request heads go through
/// [`head::LenientHeads`].
struct LenientListener(tokio::net::TcpListener);

impl axum::serve::Listener for LenientListener {
    type Io = head::LenientHeads<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.0).await;
        (head::LenientHeads::new(io), addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, LenientListener>>
    for login_limit::PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, LenientListener>) -> Self {
        login_limit::PeerAddr(*stream.remote_addr())
    }
}

/// The TLS acceptor's streams, decrypted, through [`head::LenientHeads`].
#[derive(Clone)]
struct LenientAcceptor<A>(A);

impl<A, I, S> axum_server::accept::Accept<I, S> for LenientAcceptor<A>
where
    A: axum_server::accept::Accept<I, S>,
    A::Future: Send + 'static,
{
    type Stream = head::LenientHeads<A::Stream>;
    type Service = A::Service;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = std::io::Result<(Self::Stream, Self::Service)>> + Send,
        >,
    >;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let accepted = self.0.accept(stream, service);
        Box::pin(async move {
            let (stream, service) = accepted.await?;
            Ok((head::LenientHeads::new(stream), service))
        })
    }
}
