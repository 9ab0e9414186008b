//! `/metrics` scraped around real calls: request counters by transport, operation and code,
//! latency histograms, provider calls and retries (through the DashScope emulator), circuit
//! state, lane queue depth; and `telemetry.metrics = false` serves none.

mod common;
#[path = "emulators/dashscope.rs"]
mod emulator;

use common::{TestServer, inline as data, photo_png as png};
use emulator::{DashScopeEmulator, SubmitScript};
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::editing_service_client::EditingServiceClient;

async fn scrape(server: &TestServer) -> String {
    let res = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    res.text().await.unwrap()
}

/// The value of the series `name{labels}` (labels in any order), 0 when absent.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

#[tokio::test]
async fn counters_move_with_the_calls_made() {
    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.resilience.circuit_failures = 5;
    })
    .await;
    let before = scrape(&server).await;
    // Lanes show before anyone waits.
    assert!(before.contains("imgforge_lane_queue_depth{lane=\"utility\"} 0"));
    assert!(before.contains("imgforge_lane_queue_depth{lane=\"heavy\"} 0"));

    // gRPC resize (local provider) twice.
    let mut utility = server.utility().await;
    for _ in 0..2 {
        utility
            .resize(pb::ResizeRequest {
                image: data(png(64, 48)),
                min_dim: Some(16),
                max_dim: Some(32),
                ..Default::default()
            })
            .await
            .expect("resize succeeds");
    }
    // gRPC fix through DashScope, whose first submit fails once with a 500 (one retry).
    emulator.script_submits(
        "wanx2.1-imageedit",
        vec![SubmitScript::Error {
            status: 500,
            code: "InternalError".into(),
            retry_after: None,
        }],
    );
    EditingServiceClient::new(server.channel().await)
        .max_decoding_message_size(64 << 20)
        .fix(pb::FixRequest {
            base_image: data(png(300, 200)),
            ..Default::default()
        })
        .await
        .expect("fix succeeds after a retry");
    // A REST call refused (bad JSON).
    let res = server
        .http
        .post(server.url("/utils/photo_resize_url"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let after = scrape(&server).await;
    let moved = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    let resize = [
        ("transport", "grpc"),
        ("operation", "imgforge.v1.UtilityService/Resize"),
        ("code", "OK"),
    ];
    assert_eq!(moved("imgforge_requests_total", &resize), 2.0, "{after}");
    assert_eq!(
        moved(
            "imgforge_request_duration_seconds_count",
            &[
                ("transport", "grpc"),
                ("operation", "imgforge.v1.UtilityService/Resize")
            ]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "imgforge_requests_total",
            &[
                ("transport", "http"),
                ("operation", "/utils/photo_resize_url"),
                ("code", "400")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "imgforge_requests_total",
            &[
                ("operation", "imgforge.v1.EditingService/Fix"),
                ("code", "OK")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "imgforge_provider_calls_total",
            &[
                ("provider", "local"),
                ("operation", "resize"),
                ("outcome", "ok")
            ]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "imgforge_provider_calls_total",
            &[
                ("provider", "dashscope"),
                ("operation", "fix"),
                ("outcome", "ok")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "imgforge_provider_retries_total",
            &[("provider", "dashscope"), ("operation", "fix")]
        ),
        1.0
    );
    assert!(
        after.contains("imgforge_circuit_state{provider=\"dashscope\",operation=\"fix\"} 0"),
        "{after}"
    );
    assert!(after.contains("# TYPE imgforge_request_duration_seconds histogram"));
    // The scrape before this one was counted too.
    assert!(
        value(
            &after,
            "imgforge_requests_total",
            &[("operation", "/metrics")]
        ) >= 1.0
    );
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let server = TestServer::start_with(|s| s.telemetry.metrics = false).await;
    let res = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}
