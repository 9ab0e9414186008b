//! Provider HTTP requests: each in a client span, carrying the caller's trace onward in
//! `traceparent`. Remote adapters write `.send_traced()` ([`TracedSend`]) where they wrote
//! `.send()`.
//!
//! The span names the method, host and redacted URL (no query: presigned links carry their
//! signature there) and the status; never headers or bodies, which hold keys and images.

use tracing::Instrument;

/// `RequestBuilder::send` with a client span and `traceparent`.
pub trait TracedSend {
    fn send_traced(
        self,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send;
}

impl TracedSend for reqwest::RequestBuilder {
    fn send_traced(
        self,
    ) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send {
        send(self)
    }
}

/// Sends `request` like `RequestBuilder::send`, traced and with `traceparent` set.
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let (client, request) = request.build_split();
    let mut request = request?;
    let method = request.method().as_str().to_owned();
    let host = request.url().host_str().unwrap_or_default().to_owned();
    let span = tracing::info_span!(
        "provider_http",
        otel.name = format!("{method} {host}"),
        otel.kind = "client",
        http.request.method = method,
        server.address = host,
        url.full = crate::redact::url_parsed(request.url()),
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    super::propagation::inject(&span, request.headers_mut());
    let result = client.execute(request).instrument(span.clone()).await;
    match &result {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", status.as_u16());
            if status.is_client_error() || status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
        }
    }
    result
}
