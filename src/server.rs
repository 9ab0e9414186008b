//! Runs the tonic server and the HTTP bridge side by side, and drains both on shutdown.
//!
//! Neither transport limits concurrency around whole requests: bodies are received without
//! holding anything, and local CPU work is admitted per lane where it starts
//! ([`crate::providers::admission`]). Here are the connection-level bounds instead: a cap per
//! listener, header, body and idle timeouts, and HTTP/2 settings.

mod body_deadline;
mod bridge;
mod listener;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tower_http::trace::TraceLayer;

use crate::auth::policy::{self, StartPolicy};
use crate::auth::{Admission, Authenticator, Grpc, SignatureLayer};
use crate::config::Settings;
use crate::cover::{CoverGenerator, Covers, OptionCatalogue, ReferenceImages};
use crate::engine::Engine;
use crate::grpc::{self, Apis};
use crate::proto::FILE_DESCRIPTOR_SET;
use crate::proto::v1::character_service_server::CharacterServiceServer;
use crate::proto::v1::cover_service_server::CoverServiceServer;
use crate::proto::v1::editing_service_server::EditingServiceServer;
use crate::proto::v1::portrait_service_server::PortraitServiceServer;
use crate::proto::v1::utility_service_server::UtilityServiceServer;
use crate::state::{Clock, SystemClock};
use crate::telemetry::{RequestTelemetryLayer, Transport};

/// A started server: its bound addresses and the handle to stop it.
pub struct RunningServer {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    grace: Duration,
}

impl RunningServer {
    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops accepting, lets requests in flight finish within the grace period, then returns.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after the token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        let RunningServer {
            shutdown,
            tasks,
            grace,
            ..
        } = self;
        let drain = async {
            for task in tasks {
                task.await??;
            }
            anyhow::Ok(())
        };
        tokio::pin!(drain);
        tokio::select! {
            result = &mut drain => result,
            _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping");
                Ok(())
            }
        }
    }
}

/// Binds both listeners and starts serving; port 0 picks free ports (see the returned addresses).
pub async fn start(settings: Settings) -> anyhow::Result<RunningServer> {
    start_with_clock(settings, Arc::new(SystemClock)).await
}

/// [`start`] with the clock the state store and the signature checks read (tests move it).
pub async fn start_with_clock(
    mut settings: Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<RunningServer> {
    // Before binding: a server that must not run anonymously never opens a port.
    let start_policy = policy::decide(&settings)?;
    let shutdown = CancellationToken::new();
    let limits = listener::ConnectionLimits {
        max_connections: listener::fit_to_open_files(settings.server.max_connections, 2),
        idle_timeout: Duration::from_secs(settings.server.idle_timeout_secs),
    };

    let grpc_listener = TcpListener::bind(settings.server.grpc_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind gRPC on {}: {e}", settings.server.grpc_addr))?;
    let http_listener = TcpListener::bind(settings.server.http_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot bind HTTP on {}: {e}", settings.server.http_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    // Signed links point at the bridge as bound (port 0 becomes the real port).
    settings.server.grpc_addr = grpc_addr;
    settings.server.http_addr = http_addr;
    // Before the engine: its circuit breakers and lanes report from the start.
    if settings.telemetry.metrics {
        crate::telemetry::metrics::install();
    }
    let engine = Engine::from_settings(&settings)?;
    crate::store::sweeper::spawn(
        engine.blobs().clone(),
        Duration::from_secs(settings.blob_store.sweep_interval_secs),
        shutdown.clone(),
    );
    let state = crate::state::open(&settings.state, clock)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    crate::state::sweeper::spawn(
        state.clone(),
        Duration::from_secs(settings.state.sweep_interval_secs),
        shutdown.clone(),
    );
    let admission = match start_policy {
        StartPolicy::Signed => {
            Admission::Signed(Arc::new(Authenticator::new(&settings.auth, state.clone())))
        }
        StartPolicy::AnonymousLoopback | StartPolicy::AnonymousAllowed => Admission::Anonymous,
    };
    policy::log(start_policy, settings.auth.keys.len());
    let nonce_owner = admission.clone();
    let catalogue = Arc::new(OptionCatalogue::load(&settings.cover.options_file)?);
    let references = ReferenceImages::new(engine.clone(), state.clone());
    let generator = Arc::new(CoverGenerator::new(
        engine.clone(),
        state.clone(),
        catalogue.clone(),
        references.clone(),
        &settings.cover,
    )?);
    if !generator.is_ready() {
        tracing::info!(
            "{}; GenerateCover answers FAILED_PRECONDITION",
            crate::cover::NO_BACKEND
        );
    }
    let covers = Covers {
        catalogue,
        references,
        generator,
    };
    let portraits = Arc::new(crate::portrait::Portraits::from_settings(
        &settings,
        engine.clone(),
        state.clone(),
    )?);
    crate::portrait::worker::spawn(portraits.clone(), shutdown.clone());

    let grpc_task = tokio::spawn(serve_grpc(
        grpc_listener,
        Apis {
            engine: engine.clone(),
            covers: covers.clone(),
            portraits: portraits.clone(),
        },
        admission.clone(),
        settings.clone(),
        limits,
        shutdown.clone(),
    ));
    let body_timeout = Duration::from_secs(settings.server.body_read_timeout_secs);
    let router = crate::http::router(
        engine,
        covers,
        portraits,
        admission,
        &settings,
        shutdown.clone(),
    )
    .layer(axum::middleware::from_fn(move |request, next| {
        bridge::body_deadline(body_timeout, request, next)
    }));
    let http_shutdown = shutdown.clone();
    let server_settings = settings.server.clone();
    let http_task = tokio::spawn(async move {
        bridge::serve(
            http_listener,
            router,
            &server_settings,
            limits,
            http_shutdown,
        )
        .await
    });
    let mut tasks = vec![grpc_task, http_task];
    if let Admission::Signed(authenticator) = &nonce_owner {
        // Nonces decided in memory reach the store before the process goes; the writer
        // keeps running behind the requests that drain after this.
        let (authenticator, shutdown) = (authenticator.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move {
            shutdown.cancelled().await;
            authenticator.flush_nonces().await;
            Ok(())
        }));
    }
    tracing::info!(%grpc_addr, %http_addr, "imgforge serving");
    Ok(RunningServer {
        grpc_addr,
        http_addr,
        shutdown,
        tasks,
        grace: Duration::from_secs(settings.server.shutdown_grace_secs),
    })
}

/// gRPC services whose calls must be signed.
pub const SIGNED_SERVICES: [&str; 2] = ["imgforge.v1.CoverService", "imgforge.v1.PortraitService"];

async fn serve_grpc(
    listener: TcpListener,
    apis: Apis,
    admission: Admission,
    settings: Settings,
    limits: listener::ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let health = grpc::Health::new(health_reporter);
    let reported = health.report(&apis.engine).await;
    let follower = tokio::spawn(health.clone().follow(apis.engine.clone(), reported));
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    // grpcurl and older tools still ask the v1alpha service.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max = settings.server.max_message_bytes;
    let signatures = SignatureLayer::new(
        admission,
        Grpc {
            max_message_bytes: max,
            services: SIGNED_SERVICES.to_vec(),
        },
    );
    let server = &settings.server;
    let http2 = &server.http2;
    let body_timeout = Duration::from_secs(server.body_read_timeout_secs);
    Server::builder()
        .timeout(Duration::from_secs(server.request_timeout_secs))
        .max_concurrent_streams(http2.max_concurrent_streams)
        .initial_stream_window_size(http2.stream_window_bytes)
        .initial_connection_window_size(http2.connection_window_bytes)
        .http2_keepalive_interval(Some(Duration::from_secs(http2.keepalive_interval_secs)))
        .http2_keepalive_timeout(Some(Duration::from_secs(http2.keepalive_timeout_secs)))
        .layer(
            tower::ServiceBuilder::new()
                // Outermost: the call's root span (joined to the caller's traceparent), the
                // x-trace-id metadata, counts, latency and open streams.
                .layer(RequestTelemetryLayer::new(Transport::Grpc))
                .layer(TraceLayer::new_for_grpc())
                .map_request(move |request: http::Request<tonic::body::Body>| {
                    with_body_deadline(request, body_timeout)
                }),
        )
        // Inside tracing (refusals are traced) and before any service decodes a message.
        .layer(signatures)
        // Innermost, so it sees tonic's own answers before tracing records them.
        .layer(grpc::RequestStatusLayer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            EditingServiceServer::new(apis.editing())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            UtilityServiceServer::new(apis.utility())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            CharacterServiceServer::new(apis.character())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            CoverServiceServer::new(apis.cover())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .add_service(
            PortraitServiceServer::new(apis.portrait())
                .max_decoding_message_size(max)
                .max_encoding_message_size(max),
        )
        .serve_with_incoming_shutdown(listener::incoming(listener, limits, "grpc"), async move {
            shutdown.cancelled().await;
            // Before the drain starts, so load balancers stop sending new calls while
            // the ones in flight finish.
            health.shut_down().await;
        })
        .await?;
    follower.abort();
    Ok(())
}

/// The body-read timeout on gRPC calls. Reflection is a long-lived bidirectional stream whose
/// request body legitimately stays open, so it is left alone.
fn with_body_deadline(
    request: http::Request<tonic::body::Body>,
    timeout: Duration,
) -> http::Request<tonic::body::Body> {
    if request.uri().path().starts_with("/grpc.reflection.") {
        return request;
    }
    let expired = Arc::new(std::sync::atomic::AtomicBool::new(false));
    request.map(|body| {
        tonic::body::Body::new(body_deadline::DeadlineBody::new(body, timeout, expired))
    })
}

/// Resolves when SIGINT or SIGTERM arrives.
pub async fn termination_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler installs");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
