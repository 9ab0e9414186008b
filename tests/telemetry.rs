//! Traces end to end: the real server exports to an OTLP collector this test starts on
//! loopback, calls go through the DashScope emulator, and the span tree that arrives is
//! checked: one trace per call, joined to the caller's `traceparent`, provider spans (and
//! their HTTP requests) as children, the trace id echoed to the caller and passed on to the
//! provider, and nothing secret in any attribute.
//!
//! One test function: the tracing subscriber is process-wide, and the exporter's channel
//! lives on the runtime that built it.

mod common;
#[path = "emulators/dashscope.rs"]
mod emulator;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, inline as data, photo_png as png};
use emulator::DashScopeEmulator;
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::editing_service_client::EditingServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::Value;

/// Caller's trace context: trace 4bf9…4736, parent span 00f0…02b7, sampled.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// An OTLP trace collector keeping every span it receives.
#[derive(Clone, Default)]
struct Collector {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Collector {
    async fn start() -> (Collector, SocketAddr) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = TraceServiceServer::new(collector.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        (collector, addr)
    }

    /// The spans of `trace_id` once `expect` of them have the root's name, flushing meanwhile.
    async fn trace(
        &self,
        guard: &imgforge::telemetry::TracingGuard,
        trace_id: &str,
        root_name: &str,
    ) -> Vec<Span> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            guard.flush();
            let spans: Vec<Span> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|s| hex(&s.trace_id) == trace_id)
                .cloned()
                .collect();
            if spans.iter().any(|s| s.name == root_name) {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "no {root_name} span of trace {trace_id} arrived; got {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|value| match value {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            AnyValue::BoolValue(b) => b.to_string(),
            other @ (AnyValue::DoubleValue(_)
            | AnyValue::ArrayValue(_)
            | AnyValue::KvlistValue(_)
            | AnyValue::BytesValue(_)
            | AnyValue::StringValueStrindex(_)) => format!("{other:?}"),
        })
}

/// Checks a trace is one tree under one root, and returns the spans by id.
fn tree<'a>(spans: &'a [Span], root_name: &str, root_parent: &str) -> HashMap<String, &'a Span> {
    let by_id: HashMap<String, &Span> = spans.iter().map(|s| (hex(&s.span_id), s)).collect();
    let roots: Vec<&Span> = spans
        .iter()
        .filter(|s| !by_id.contains_key(&hex(&s.parent_span_id)))
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "one root per trace: {:?}",
        roots.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    assert_eq!(roots[0].name, root_name);
    assert_eq!(hex(&roots[0].parent_span_id), root_parent);
    by_id
}

/// Whether `span` descends from a span named `ancestor`.
fn under(span: &Span, ancestor: &str, by_id: &HashMap<String, &Span>) -> bool {
    let mut parent = by_id.get(&hex(&span.parent_span_id));
    while let Some(p) = parent {
        if p.name == ancestor {
            return true;
        }
        parent = by_id.get(&hex(&p.parent_span_id));
    }
    false
}

/// No attribute may carry image data, a key or a signed link.
fn assert_clean(spans: &[Span]) {
    for span in spans {
        for kv in &span.attributes {
            let value = format!("{:?}", kv.value);
            assert!(
                value.len() < 400,
                "{}.{} is long: {value}",
                span.name,
                kv.key
            );
            for secret in [
                emulator::API_KEY,
                "base64",
                "data:image",
                "Signature=",
                "iVBOR",
            ] {
                assert!(
                    !value.contains(secret),
                    "{}.{} leaks {secret}: {value}",
                    span.name,
                    kv.key
                );
            }
        }
    }
}

fn fix_request() -> pb::FixRequest {
    pb::FixRequest {
        base_image: data(png(300, 200)),
        prompt: String::new(),
        upscale_factor: None,
        output: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_export_one_trace_each_with_provider_spans_as_children() {
    let (collector, collector_addr) = Collector::start().await;
    let mut telemetry = imgforge::config::Settings::embedded().telemetry;
    telemetry.otlp_endpoint = format!("http://{collector_addr}");
    telemetry.log_filter = "info".into();
    let guard = imgforge::telemetry::init(&telemetry).expect("tracing starts");
    assert!(guard.is_exporting());

    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| emulator.configure(s, &[])).await;
    let mut editing =
        EditingServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20);

    // 1. gRPC, joining the caller's trace.
    let mut request = tonic::Request::new(fix_request());
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
            .parse()
            .unwrap(),
    );
    let reply = editing.fix(request).await.expect("fix succeeds");
    assert_eq!(reply.metadata().get("x-trace-id").unwrap(), CALLER_TRACE);
    // The provider was called within the same trace.
    let sent = &emulator.submitted()[0];
    let traceparent = &sent.headers["traceparent"];
    assert!(
        traceparent.starts_with(&format!("00-{CALLER_TRACE}-")),
        "{traceparent}"
    );

    let root = "imgforge.v1.EditingService/Fix";
    let spans = collector.trace(&guard, CALLER_TRACE, root).await;
    let by_id = tree(&spans, root, CALLER_SPAN);
    let root_span = spans.iter().find(|s| s.name == root).unwrap();
    assert_eq!(attribute(root_span, "outcome").as_deref(), Some("OK"));
    assert_eq!(attribute(root_span, "transport").as_deref(), Some("grpc"));
    let provider: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "provider dashscope fix")
        .collect();
    assert_eq!(provider.len(), 1, "one provider call");
    assert!(under(provider[0], root, &by_id));
    assert_eq!(
        attribute(provider[0], "provider").as_deref(),
        Some("dashscope")
    );
    assert_eq!(attribute(provider[0], "operation").as_deref(), Some("fix"));
    assert_eq!(attribute(provider[0], "outcome").as_deref(), Some("ok"));
    let attempts: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name == "provider_attempt")
        .collect();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attribute(attempts[0], "attempt").as_deref(), Some("1"));
    assert!(under(attempts[0], "provider dashscope fix", &by_id));
    // Submit, polls and the result download: each an HTTP client span under the attempt.
    let http: Vec<&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("POST ") || s.name.starts_with("GET "))
        .collect();
    assert!(
        http.len() >= 3,
        "{:?}",
        http.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    for span in &http {
        assert!(under(span, "provider_attempt", &by_id), "{}", span.name);
        assert!(attribute(span, "http.response.status_code").is_some());
    }
    // The provider saw the submit's own span as its parent.
    let submit = http
        .iter()
        .find(|s| s.name.starts_with("POST "))
        .expect("the submit");
    assert_eq!(
        traceparent,
        &format!("00-{CALLER_TRACE}-{}-01", hex(&submit.span_id))
    );
    assert_clean(&spans);

    // 2. A second gRPC call without a traceparent: a trace of its own.
    let reply = editing.fix(fix_request()).await.expect("fix succeeds");
    let second = reply
        .metadata()
        .get("x-trace-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(second.len(), 32);
    assert_ne!(second, CALLER_TRACE);
    let spans = collector.trace(&guard, &second, root).await;
    tree(&spans, root, "");
    assert!(spans.iter().any(|s| s.name == "provider dashscope fix"));

    // 3. REST, seed 001: `traceId` in the body is the exported trace's id, as is the header.
    let res = server
        .http
        .post(server.url("/v1/agent/cover"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let header = res.headers()["x-trace-id"].to_str().unwrap().to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["traceId"], header.as_str(), "{body}");
    let spans = collector
        .trace(&guard, &header, "POST /v1/agent/cover")
        .await;
    let by_id = tree(&spans, "POST /v1/agent/cover", "");
    let root_span = by_id
        .values()
        .find(|s| s.name == "POST /v1/agent/cover")
        .unwrap();
    assert_eq!(attribute(root_span, "transport").as_deref(), Some("http"));
    assert_eq!(attribute(root_span, "outcome").as_deref(), Some("200"));
}
