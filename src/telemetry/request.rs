//! The telemetry of every call, as a tower layer on both transports: the request's root span
//! (joined to the caller's `traceparent`), the `x-trace-id` reply header, request counts and
//! latency by operation and result code, and open streams.
//!
//! The call ends when its reply body does, not when the handler returns: a server stream's
//! status arrives in its trailers, and its latency is the stream's. So the span and the
//! metrics are closed by the reply body ([`ObservedBody`]) on its last frame, or when it is
//! dropped (a caller who went away).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use tower::{Layer, Service};
use tracing::{Instrument, Span};

use super::metrics::{self, OpenStream};
use super::{methods, propagation};

/// Reply header (gRPC: response metadata) carrying the call's trace id, 32 hex digits.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Grpc,
    Http,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::Http => "http",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RequestTelemetryLayer {
    transport: Transport,
}

impl RequestTelemetryLayer {
    pub fn new(transport: Transport) -> Self {
        RequestTelemetryLayer { transport }
    }
}

impl<S> Layer<S> for RequestTelemetryLayer {
    type Service = RequestTelemetry<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTelemetry {
            inner,
            transport: self.transport,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequestTelemetry<S> {
    inner: S,
    transport: Transport,
}

/// What a request is called: the label of its metrics and the name of its span.
struct Named {
    /// Bounded label: a known gRPC method or a REST route template.
    operation: String,
    span_name: String,
    server_streaming: bool,
}

fn name_of<B>(transport: Transport, request: &http::Request<B>) -> Named {
    match transport {
        Transport::Grpc => {
            let method = methods::lookup(request.uri().path());
            Named {
                operation: method.name.to_owned(),
                span_name: method.name.to_owned(),
                server_streaming: method.server_streaming,
            }
        }
        Transport::Http => {
            // The route template (`/blobs/{*key}`), never the path: paths carry keys.
            let route = request
                .extensions()
                .get::<axum::extract::MatchedPath>()
                .map_or("unmatched", |m| m.as_str());
            Named {
                operation: route.to_owned(),
                span_name: format!("{} {route}", request.method()),
                server_streaming: false,
            }
        }
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for RequestTelemetry<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Body + Send + 'static,
{
    type Response = http::Response<ObservedBody<ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let transport = self.transport;
        let named = name_of(transport, &request);
        let span = tracing::info_span!(
            "request",
            otel.name = named.span_name,
            otel.kind = "server",
            transport = transport.label(),
            operation = named.operation,
            trace_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let trace = propagation::adopt(&span, request.headers());
        let trace_id = trace.0.to_string();
        span.record("trace_id", trace_id.as_str());
        let future = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        let future = propagation::scope(trace, future.instrument(span.clone()));
        Box::pin(async move {
            let mut observation = Observation {
                span,
                started,
                transport,
                operation: named.operation,
                code: None,
                stream: None,
                finished: false,
            };
            let mut response = match future.await {
                Ok(response) => response,
                Err(err) => {
                    observation.code = Some("error".to_owned());
                    observation.finish();
                    return Err(err);
                }
            };
            if let Ok(value) = http::HeaderValue::from_str(&trace_id) {
                response.headers_mut().insert(TRACE_ID_HEADER, value);
            }
            observation.code = match transport {
                Transport::Http => Some(response.status().as_u16().to_string()),
                // Trailers-only: an error answered before any message.
                Transport::Grpc => grpc_status(response.headers()),
            };
            if named.server_streaming && observation.code.is_none() {
                observation.stream = Some(OpenStream::enter(
                    transport.label(),
                    observation.operation.clone(),
                ));
            }
            Ok(response.map(|body| ObservedBody {
                inner: Box::pin(body),
                observation,
            }))
        })
    }
}

/// A reply body that closes its call's span and metrics when it ends.
pub struct ObservedBody<B> {
    inner: Pin<Box<B>>,
    observation: Observation,
}

struct Observation {
    span: Span,
    started: Instant,
    transport: Transport,
    operation: String,
    /// Result code once known: HTTP status, or gRPC status name.
    code: Option<String>,
    stream: Option<OpenStream>,
    finished: bool,
}

impl Observation {
    fn finish(&mut self) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let code = self.code.take().unwrap_or_else(|| match self.transport {
            // The stream ended without a status: the caller went away.
            Transport::Grpc => "CANCELLED".to_owned(),
            Transport::Http => "error".to_owned(),
        });
        let failed = match self.transport {
            Transport::Grpc => code != "OK",
            Transport::Http => !code.starts_with(['1', '2', '3', '4']),
        };
        self.span.record("outcome", code.as_str());
        self.span
            .record("otel.status_code", if failed { "ERROR" } else { "OK" });
        metrics::request_done(
            self.transport.label(),
            &self.operation,
            &code,
            self.started.elapsed(),
        );
        self.stream = None;
    }
}

impl Drop for Observation {
    fn drop(&mut self) {
        self.finish();
    }
}

impl<B: Body> Body for ObservedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    if let Some(code) = grpc_status(trailers) {
                        this.observation.code = Some(code);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => {
                this.observation
                    .code
                    .get_or_insert_with(|| "error".to_owned());
                this.observation.finish();
            }
            Poll::Ready(None) => this.observation.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The name of the `grpc-status` in `headers` (`OK`, `INVALID_ARGUMENT`...), if any.
fn grpc_status(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get("grpc-status")?;
    Some(code_name(tonic::Code::from_bytes(value.as_bytes())).to_owned())
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
