//! The `imgforge` binary itself: configuration printing and graceful shutdown.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn imgforge() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_imgforge"));
    cmd.env_remove("RUST_LOG");
    cmd
}

#[test]
fn config_prints_effective_configuration_with_secrets_redacted() {
    let output = imgforge()
        .arg("config")
        .env("IMGFORGE__RESULTS__SIGNING_KEY", "topsecret")
        .env("IMGFORGE__SERVER__HTTP_ADDR", "127.0.0.1:18080")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("http_addr = \"127.0.0.1:18080\""),
        "{printed}"
    );
    assert!(printed.contains("signing_key = \"***\""), "{printed}");
    assert!(!printed.contains("topsecret"));
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let output = imgforge()
        .args(["config"])
        .env("IMGFORGE__SERVER__GRPC_ADDR", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.to_lowercase().contains("grpc_addr"), "{err}");
}

#[tokio::test]
async fn serve_drains_requests_in_flight_on_sigterm() {
    let photo = photo!("large_4000x3000.jpg");
    let blobs = tempfile::tempdir().unwrap();
    let mut child = imgforge()
        .args([
            "serve",
            "--grpc-addr",
            "127.0.0.1:0",
            "--http-addr",
            "127.0.0.1:0",
        ])
        .env("IMGFORGE__BLOB_STORE__PATH", blobs.path())
        .env("IMGFORGE__TELEMETRY__LOG_FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let http_addr = loop {
        let line = lines.next().expect("server logs its addresses").unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(addr) = entry["fields"]["http_addr"].as_str() {
            break addr.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    // A slow request: upscale the 12 MP photo to 48 MP.
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(photo).file_name("big.jpg"),
        )
        .text("min_dim", "6000")
        .text("max_dim", "8000");
    let request = tokio::spawn(
        client
            .post(format!("http://{http_addr}/utils/photo_resize"))
            .multipart(form)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let response = request
        .await
        .unwrap()
        .expect("the request in flight completes");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["resized_size"], "8000x6000px");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exits cleanly: {status:?}");
}

/// Starts `imgforge serve` on free ports with `env` (and under `prlimit` when `nofile` is
/// given); its process, gRPC and HTTP addresses, and its log lines.
fn spawn_server(
    env: &[(&str, &str)],
    nofile: Option<u32>,
    blobs: &std::path::Path,
) -> (
    std::process::Child,
    String,
    String,
    std::sync::mpsc::Receiver<String>,
) {
    let mut cmd = match nofile {
        Some(limit) => {
            let mut cmd = Command::new("prlimit");
            cmd.arg(format!("--nofile={limit}:{limit}"))
                .arg(env!("CARGO_BIN_EXE_imgforge"));
            cmd.env_remove("RUST_LOG");
            cmd
        }
        None => imgforge(),
    };
    cmd.args([
        "serve",
        "--grpc-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
    ])
    .env("IMGFORGE__BLOB_STORE__PATH", blobs)
    .env("IMGFORGE__TELEMETRY__LOG_FORMAT", "json")
    .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    let (grpc_addr, http_addr) = loop {
        let line = lines.next().expect("server logs its addresses").unwrap();
        let _ = tx.send(line.clone());
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let (Some(grpc), Some(http)) = (
            entry["fields"]["grpc_addr"].as_str(),
            entry["fields"]["http_addr"].as_str(),
        ) {
            break (grpc.to_owned(), http.to_owned());
        }
    };
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, grpc_addr, http_addr, rx)
}

async fn grpc_health(
    grpc_addr: &str,
) -> tonic_health::pb::health_client::HealthClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .expect("grpc connects");
    tonic_health::pb::health_client::HealthClient::new(channel)
}

fn health_request() -> tonic_health::pb::HealthCheckRequest {
    tonic_health::pb::HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_sockets_under_a_low_open_files_limit_do_not_stop_the_server() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("skipping: prlimit (util-linux) is not installed");
        return;
    }
    let blobs = tempfile::tempdir().unwrap();
    let (mut child, grpc_addr, http_addr, logs) = spawn_server(
        &[
            ("IMGFORGE__SERVER__HEADER_READ_TIMEOUT_SECS", "2"),
            ("IMGFORGE__SERVER__IDLE_TIMEOUT_SECS", "2"),
        ],
        Some(256),
        blobs.path(),
    );
    // A client connected before the flood keeps being served on its connection.
    let mut health = grpc_health(&grpc_addr).await;

    let mut idle = Vec::new();
    let mut refused_at_connect = 0;
    for i in 0..1000 {
        let addr = if i % 2 == 0 { &grpc_addr } else { &http_addr };
        match tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(addr.as_str()),
        )
        .await
        {
            Ok(Ok(socket)) => idle.push(socket),
            Ok(Err(_)) | Err(_) => refused_at_connect += 1,
        }
        if i % 100 == 0 {
            let started = std::time::Instant::now();
            tokio::time::timeout(Duration::from_secs(2), health.check(health_request()))
                .await
                .expect("health on an open connection answers within 2 s during the flood")
                .expect("health succeeds");
            assert!(started.elapsed() < Duration::from_secs(2));
        }
    }
    // Sockets the server closed at once read EOF (or a reset); the rest it holds.
    let mut closed_by_server = 0;
    for socket in &idle {
        let mut byte = [0u8; 1];
        if let Ok(Ok(0) | Err(_)) =
            tokio::time::timeout(Duration::from_millis(2), socket.peek(&mut byte)).await
        {
            closed_by_server += 1;
        }
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server survives the flood"
    );
    // The held ones are closed by the header-read and idle timeouts.
    tokio::time::sleep(Duration::from_secs(3)).await;
    drop(idle);

    let started = std::time::Instant::now();
    let status = tokio::time::timeout(
        Duration::from_secs(2),
        grpc_health(&grpc_addr).await.check(health_request()),
    )
    .await
    .expect("health on a new connection answers within 2 s after the flood")
    .expect("health succeeds");
    assert_eq!(status.into_inner().status, 1);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(common::photo_png(96, 64)).file_name("a.png"),
        )
        .text("min_dim", "32")
        .text("max_dim", "48");
    let response = client
        .post(format!("http://{http_addr}/utils/photo_resize"))
        .multipart(form)
        .send()
        .await
        .expect("a normal call works after the flood");
    assert_eq!(response.status(), 200);
    let healthz = client
        .get(format!("http://{http_addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(healthz.status(), 200);
    let lowered = logs
        .try_iter()
        .any(|line| line.contains("lowered to fit the open-files limit"));
    eprintln!(
        "1000 idle sockets under nofile=256: {} connected, {refused_at_connect} not connected, \
         {closed_by_server} closed at once by the server; health and a call answered {:?} \
         after the flood",
        1000 - refused_at_connect,
        started.elapsed()
    );
    assert!(
        lowered,
        "max_connections was fitted to the open-files limit"
    );
    assert!(closed_by_server > 0, "the excess was refused");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_reports_not_serving_then_exits_within_grace_despite_running_work() {
    let blobs = tempfile::tempdir().unwrap();
    let grace = Duration::from_secs(2);
    let (mut child, grpc_addr, _http_addr, _logs) = spawn_server(
        &[("IMGFORGE__SERVER__SHUTDOWN_GRACE_SECS", "2")],
        None,
        blobs.path(),
    );
    let mut health = grpc_health(&grpc_addr).await;
    let mut watch = health
        .watch(health_request())
        .await
        .expect("health watch opens")
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, 1, "SERVING before the signal");

    // Long CPU work that provably outlives the 2 s grace: an SVG whose Gaussian blur over a
    // 3000² canvas is just inside limits.svg_max_render_cost (several seconds to rasterise).
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut utility =
        imgforge::proto::v1::utility_service_client::UtilityServiceClient::new(channel)
            .max_decoding_message_size(512 << 20);
    let long = tokio::spawn(async move {
        utility
            .resize(imgforge::proto::v1::ResizeRequest {
                image: common::inline(slow_svg()),
                min_dim: Some(16),
                max_dim: Some(64),
                output: None,
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(800)).await;
    if long.is_finished() {
        let outcome = long.await.unwrap().map(|_| "a result");
        panic!("the request must still be running at SIGTERM, it ended with {outcome:?}");
    }

    let signalled = std::time::Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let next = tokio::time::timeout(Duration::from_secs(1), watch.message())
        .await
        .expect("health changes at once")
        .expect("the watch stays open")
        .expect("an update");
    assert_eq!(next.status, 2, "NOT_SERVING right after SIGTERM");
    let not_serving_after = signalled.elapsed();

    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    let exited_after = signalled.elapsed();
    let status = status.expect("the process exits");
    eprintln!(
        "SIGTERM with a long request in flight: NOT_SERVING after {not_serving_after:?}, exit \
         after {exited_after:?} (grace {grace:?}); request: {:?}",
        long.await
            .unwrap()
            .map(|_| "completed")
            .map_err(|s| s.code())
    );
    assert!(status.success(), "{status:?}");
    assert!(
        exited_after < grace + Duration::from_secs(2),
        "exits within the grace period plus a small margin: {exited_after:?}"
    );
}

/// A small document that takes seconds to rasterise yet is within the render-cost budget.
fn slow_svg() -> Vec<u8> {
    br#"<svg xmlns="http://www.w3.org/2000/svg" width="3000" height="3000"><filter id="f"><feGaussianBlur stdDeviation="90"/></filter><rect width="3000" height="3000" fill="teal" filter="url(#f)"/></svg>"#
        .to_vec()
}
