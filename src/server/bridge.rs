//! Serves the REST bridge's connections with hyper directly rather than `axum::serve`, which
//! offers no header-read timeout, connection cap or idle timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::body_deadline::{DeadlineBody, timeout_message};
use super::listener::{self, ConnectionLimits};
use crate::config::ServerSettings;

/// Accepts and serves connections until `shutdown`, then lets open ones finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ServerSettings,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let builder = connection_builder(settings);
    let graceful = GracefulShutdown::new();
    let mut incoming = Box::pin(listener::incoming(listener, limits, "http"));
    loop {
        let io = tokio::select! {
            _ = shutdown.cancelled() => break,
            io = incoming.next() => match io {
                Some(Ok(io)) => io,
                Some(Err(_)) | None => continue,
            },
        };
        let activity = io.activity();
        let router = router.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let running = activity.start();
            let router = router.clone();
            async move {
                let response = router.oneshot(request.map(Body::new)).await;
                drop(running);
                response
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(io), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(error = %error, "http connection ended with an error");
            }
        });
    }
    // Stop listening before the drain, so new clients are refused rather than left waiting.
    drop(incoming);
    graceful.shutdown().await;
    Ok(())
}

fn connection_builder(settings: &ServerSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(settings.header_read_timeout_secs));
    let http2 = &settings.http2;
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(http2.max_concurrent_streams)
        .initial_stream_window_size(http2.stream_window_bytes)
        .initial_connection_window_size(http2.connection_window_bytes)
        .keep_alive_interval(Duration::from_secs(http2.keepalive_interval_secs))
        .keep_alive_timeout(Duration::from_secs(http2.keepalive_timeout_secs));
    builder
}

/// Middleware: the request body must be complete within `timeout`, or the answer is 408
/// whatever the handler made of the failed body.
pub async fn body_deadline(timeout: Duration, request: Request, next: Next) -> Response {
    let expired = Arc::new(AtomicBool::new(false));
    let request = {
        let expired = expired.clone();
        request.map(|body| Body::new(DeadlineBody::new(body, timeout, expired)))
    };
    let response = next.run(request).await;
    if expired.load(Ordering::SeqCst) {
        tracing::info!(timeout_secs = timeout.as_secs(), "request body timed out");
        return (
            http::StatusCode::REQUEST_TIMEOUT,
            [(http::header::CONNECTION, "close")],
            axum::Json(serde_json::json!({ "error": timeout_message(timeout) })),
        )
            .into_response();
    }
    response
}
