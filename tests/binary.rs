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
