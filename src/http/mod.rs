//! The REST bridge: one handler per documented path, replying in each seed's JSON. Handlers
//! call the engine directly, never loop back over gRPC.

mod agent;
mod blobs;
mod character;
mod editing;
mod envelope;
mod form;
mod portrait;
mod task;
mod utils;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::auth::{Admission, Rest, SignatureLayer};
use crate::config::Settings;
use crate::cover::Covers;
use crate::engine::Engine;
use crate::portrait::Portraits;
use crate::telemetry::{RequestTelemetryLayer, Transport};

pub use envelope::{ApiError, Envelope};

#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<Engine>,
    pub covers: Covers,
    pub portraits: Arc<Portraits>,
    pub max_body_bytes: usize,
}

/// REST paths that need a signed request (docs/signing.md).
pub const SIGNED_PREFIXES: [&str; 2] = ["/v1/", "/cloud/"];

/// The bridge's routes. `shutdown` turns `/healthz` to 503 as soon as the server starts to
/// drain; `admission` decides how `/v1/*` callers are identified.
pub fn router(
    engine: Arc<Engine>,
    covers: Covers,
    portraits: Arc<Portraits>,
    admission: Admission,
    settings: &Settings,
    shutdown: CancellationToken,
) -> Router {
    let state = AppState {
        engine,
        covers,
        portraits,
        max_body_bytes: settings.server.max_body_bytes,
    };
    let signatures = SignatureLayer::new(
        admission,
        Rest {
            max_body_bytes: settings.server.max_body_bytes,
            prefixes: SIGNED_PREFIXES.to_vec(),
        },
    );
    let deadlines = Deadlines {
        default: Duration::from_secs(settings.server.request_timeout_secs),
        cover: Duration::from_secs(settings.cover.rest_timeout_secs),
    };
    let mut router = Router::new();
    if settings.telemetry.metrics {
        if let Some(handle) = crate::telemetry::metrics::install() {
            router = router.route("/metrics", get(move || metrics(handle.clone())));
        }
    }
    router
        .route("/utils/photo_resize_url", post(utils::photo_resize_url))
        .route("/utils/photo_resize", post(utils::photo_resize))
        .route("/utils/convert_to_png", post(utils::convert_to_png))
        .route("/remove_bg", post(editing::remove_bg))
        .route("/change_bg", post(editing::change_bg))
        .route("/change_cloth", post(editing::change_cloth))
        .route("/expand", post(editing::expand))
        .route("/fix", post(editing::fix))
        .route("/remove_watermark", post(editing::remove_watermark))
        .route("/create-character", post(character::create_character))
        .route("/v1/agent/cover", post(agent::agent_cover))
        .route("/v1/agent/cover/get", post(agent::agent_cover_get))
        .route("/v1/config/options", post(agent::config_options))
        .route("/v1/agent/ref-image", post(agent::agent_ref_image))
        .route("/cloud/upload_file", post(portrait::upload_file))
        .route(
            "/cloud/aigc_user_model_create",
            post(portrait::user_model_create),
        )
        .route(
            "/cloud/aigc_user_model_delete",
            post(portrait::user_model_delete),
        )
        .route(
            "/cloud/aigc_product_brief_query",
            get(portrait::product_brief_query),
        )
        .route("/cloud/aigc_task_create", post(portrait::task_create))
        .route("/cloud/aigc_task_query", post(portrait::task_query))
        .route("/blobs/{*key}", get(blobs::get_blob))
        .route("/healthz", get(move || healthz(shutdown.clone())))
        .layer(DefaultBodyLimit::max(settings.server.max_body_bytes))
        // Inside tracing and the request timeout, so refusals are traced and a slow signed
        // body cannot outlast the deadline.
        .layer(signatures)
        .layer(
            ServiceBuilder::new()
                // Outermost: the request's root span, the trace id header, counts and latency.
                .layer(RequestTelemetryLayer::new(Transport::Http))
                .layer(TraceLayer::new_for_http())
                .layer(axum::middleware::from_fn(move |request, next| {
                    request_deadline(deadlines, request, next)
                })),
        )
        .with_state(state)
}

/// The request deadline of each path: seed 001's blocking cover call is documented to take
/// up to 300 s, far beyond every other path's.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    default: Duration,
    cover: Duration,
}

async fn request_deadline(
    deadlines: Deadlines,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = if request.uri().path() == "/v1/agent/cover" {
        deadlines.cover
    } else {
        deadlines.default
    };
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => http::StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

async fn healthz(shutdown: CancellationToken) -> (http::StatusCode, &'static str) {
    if shutdown.is_cancelled() {
        (http::StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (http::StatusCode::OK, "ok")
    }
}

/// Prometheus text exposition (README, Metrics).
async fn metrics(
    handle: metrics_exporter_prometheus::PrometheusHandle,
) -> ([(http::HeaderName, &'static str); 1], String) {
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::telemetry::metrics::render(&handle),
    )
}
