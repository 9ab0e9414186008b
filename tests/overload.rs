//! Load and hostile clients against a real in-process server: every call completes or is
//! refused fast, and health keeps answering within 2 s throughout.

mod common;

use std::time::{Duration, Instant};

use common::TestServer;
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::utility_service_client::UtilityServiceClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// Health's promise: an answer within this time, whatever else the server is doing.
const HEALTH_WITHIN: Duration = Duration::from_secs(2);

/// Polls gRPC health and `/healthz` every 100 ms until `stop`; the slowest answer of each.
async fn time_health_until(
    server: &TestServer,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (Duration, Duration) {
    let mut grpc = HealthClient::new(server.channel().await);
    let http = server.http.clone();
    let healthz = server.url("/healthz");
    let (mut worst_grpc, mut worst_http) = (Duration::ZERO, Duration::ZERO);
    while !*stop.borrow() {
        let started = Instant::now();
        let status = tokio::time::timeout(
            HEALTH_WITHIN,
            grpc.check(HealthCheckRequest {
                service: String::new(),
            }),
        )
        .await
        .expect("gRPC health answers within 2 s")
        .expect("gRPC health succeeds");
        assert_eq!(status.into_inner().status, 1, "SERVING");
        worst_grpc = worst_grpc.max(started.elapsed());

        let started = Instant::now();
        let response = tokio::time::timeout(HEALTH_WITHIN, http.get(&healthz).send())
            .await
            .expect("/healthz answers within 2 s")
            .expect("/healthz succeeds");
        assert_eq!(response.status(), 200);
        worst_http = worst_http.max(started.elapsed());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (worst_grpc, worst_http)
}

fn small_resize() -> pb::ResizeRequest {
    pb::ResizeRequest {
        image: common::inline(common::photo_png(96, 64)),
        min_dim: Some(32),
        max_dim: Some(48),
        output: None,
    }
}

/// Sends the headers of a multipart upload and the first bytes of its body, then nothing.
async fn stalled_upload(addr: std::net::SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /utils/photo_resize HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 1000000\r\n\r\n\
         --XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\
         Content-Type: image/png\r\n\r\nPNG"
    );
    socket.write_all(head.as_bytes()).await.expect("sends");
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_shut_out_neither_health_nor_other_calls() {
    let server = TestServer::start_with(|s| s.server.body_read_timeout_secs = 3).await;
    let http_addr: std::net::SocketAddr = server
        .http_base
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut stalled = Vec::new();
    for _ in 0..80 {
        stalled.push(stalled_upload(http_addr).await);
    }
    let started = Instant::now();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let health = time_health_until(&server, stopped);
    let calls = async {
        // Real work on both transports while the uploads hang.
        let mut utility = server.utility().await;
        let reply = tokio::time::timeout(HEALTH_WITHIN, utility.resize(small_resize()))
            .await
            .expect("a gRPC resize is not held up by stalled uploads")
            .expect("resize succeeds");
        assert_eq!(reply.into_inner().image.unwrap().width, 48);
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(common::photo_png(96, 64)).file_name("a.png"),
            )
            .text("min_dim", "32")
            .text("max_dim", "48");
        let response = tokio::time::timeout(
            HEALTH_WITHIN,
            server
                .http
                .post(server.url("/utils/photo_resize"))
                .multipart(form)
                .send(),
        )
        .await
        .expect("a REST resize is not held up by stalled uploads")
        .expect("REST answers");
        assert_eq!(response.status(), 200);
        // Keep health under watch until the stalled bodies time out.
        tokio::time::sleep(Duration::from_secs(4).saturating_sub(started.elapsed())).await;
        stop.send(true).unwrap();
    };
    let ((worst_grpc, worst_http), ()) = tokio::join!(health, calls);

    let mut timed_out = 0;
    for mut socket in stalled {
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
            .await
            .expect("the stalled upload is answered once its body times out")
            .unwrap_or(0);
        if String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 408") {
            timed_out += 1;
        }
    }
    eprintln!(
        "80 stalled uploads: {timed_out} answered 408 after {:?}; slowest health: gRPC {worst_grpc:?}, /healthz {worst_http:?}",
        started.elapsed()
    );
    assert_eq!(timed_out, 80, "every stalled upload ends with 408");
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_calls_on_one_channel_complete_or_are_refused_fast() {
    let server = TestServer::start().await;
    let channel = server.channel().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let health = time_health_until(&server, stopped);
    let calls = async {
        let started = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..200 {
            let mut utility = UtilityServiceClient::new(channel.clone());
            handles.push(tokio::spawn(async move {
                let mut request = tonic::Request::new(small_resize());
                request.set_timeout(Duration::from_secs(30));
                let started = Instant::now();
                let result = utility.resize(request).await;
                (result.map(|_| ()), started.elapsed())
            }));
        }
        let (mut completed, mut refused, mut slowest_refusal) = (0, 0, Duration::ZERO);
        for handle in handles {
            match handle.await.unwrap() {
                (Ok(()), _) => completed += 1,
                (Err(status), took) if status.code() == tonic::Code::ResourceExhausted => {
                    refused += 1;
                    slowest_refusal = slowest_refusal.max(took);
                }
                (Err(status), _) => panic!("a call neither completed nor was refused: {status}"),
            }
        }
        stop.send(true).unwrap();
        (completed, refused, slowest_refusal, started.elapsed())
    };
    let ((worst_grpc, worst_http), (completed, refused, slowest_refusal, took)) =
        tokio::join!(health, calls);
    eprintln!(
        "200 calls on one channel: {completed} completed, {refused} refused (slowest refusal \
         {slowest_refusal:?}) in {took:?}; slowest health: gRPC {worst_grpc:?}, /healthz {worst_http:?}"
    );
    assert_eq!(completed + refused, 200);
    assert!(completed > 0);
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lane_refuses_with_resource_exhausted_and_retry_after_on_both_transports() {
    let server = TestServer::start_with(|s| {
        s.server.lanes.utility.concurrency = 1;
        s.server.lanes.utility.queue = 0;
        s.server.lanes.utility.queue_timeout_ms = 2_000;
    })
    .await;
    let channel = server.channel().await;
    // Large enough that twenty of them overlap on one slot.
    let image = common::photo_png(1200, 900);
    let mut grpc_calls = Vec::new();
    for _ in 0..20 {
        let mut utility =
            UtilityServiceClient::new(channel.clone()).max_decoding_message_size(64 << 20);
        let request = pb::ResizeRequest {
            image: common::inline(image.clone()),
            min_dim: Some(1800),
            max_dim: Some(2400),
            output: None,
        };
        grpc_calls.push(tokio::spawn(async move { utility.resize(request).await }));
    }
    let mut rest_calls = Vec::new();
    for _ in 0..10 {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(image.clone()).file_name("a.png"),
            )
            .text("min_dim", "1800")
            .text("max_dim", "2400");
        rest_calls.push(tokio::spawn(
            server
                .http
                .post(server.url("/utils/photo_resize"))
                .multipart(form)
                .send(),
        ));
    }

    let (mut completed, mut refused) = (0, 0);
    for call in grpc_calls {
        match call.await.unwrap() {
            Ok(_) => completed += 1,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
                assert!(
                    status.message().contains("server.lanes.utility"),
                    "{status}"
                );
                assert_eq!(status.metadata().get("retry-after").unwrap(), "2");
                refused += 1;
            }
        }
    }
    let (mut rest_completed, mut rest_refused) = (0, 0);
    for call in rest_calls {
        let response = call.await.unwrap().expect("REST answers");
        match response.status().as_u16() {
            200 => rest_completed += 1,
            429 => {
                assert_eq!(response.headers()["retry-after"], "2");
                rest_refused += 1;
            }
            other => panic!("REST answered {other}"),
        }
    }
    eprintln!(
        "one utility slot, no queue: gRPC {completed} completed / {refused} refused, REST \
         {rest_completed} completed / {rest_refused} refused"
    );
    assert!(completed >= 1 && refused >= 1);
    assert!(rest_refused >= 1);
    server.assert_alive().await;
    server.stop().await;
}
