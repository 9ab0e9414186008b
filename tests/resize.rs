//! Resize through gRPC and through both REST paths of seed 002.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{FileServer, TestServer, decode, inline as input};
use imgforge::proto::v1 as pb;
use pb::image_output::Location;

/// Servers whose URL fetcher may reach the loopback file server.
async fn server_trusting_loopback() -> TestServer {
    TestServer::start_with(|s| s.fetch.allow = vec!["127.0.0.1/32".to_owned()]).await
}

#[tokio::test]
async fn grpc_resize_caps_large_jpeg_and_keeps_aspect() {
    let photo = photo!("large_4000x3000.jpg");
    let server = TestServer::start().await;
    let reply = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: input(photo),
            min_dim: Some(256),
            max_dim: Some(1024),
            output: None,
        })
        .await
        .expect("resize succeeds")
        .into_inner();
    assert_eq!((reply.original_width, reply.original_height), (4000, 3000));
    assert_eq!(reply.original_format, pb::ImageFormat::Jpeg as i32);
    let image = reply.image.unwrap();
    assert_eq!((image.width, image.height), (1024, 768));
    assert_eq!(image.media_type, "image/jpeg");
    let Some(Location::Data(bytes)) = image.location else {
        panic!("inline by default")
    };
    let decoded = decode(&bytes);
    assert_eq!((decoded.width(), decoded.height()), (1024, 768));
    server.stop().await;
}

#[tokio::test]
async fn grpc_resize_raises_small_image_to_min_dim_and_keeps_png_alpha() {
    let logo = photo!("logo.png");
    let original = decode(&logo);
    assert!(original.color().has_alpha());
    let server = TestServer::start().await;
    let reply = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: input(logo),
            min_dim: Some(original.width().min(original.height()) * 2),
            max_dim: Some(8192),
            output: None,
        })
        .await
        .unwrap()
        .into_inner();
    let image = reply.image.unwrap();
    assert_eq!(image.media_type, "image/png");
    assert_eq!(image.width, original.width() * 2);
    let Some(Location::Data(bytes)) = image.location else {
        panic!("inline")
    };
    assert!(decode(&bytes).color().has_alpha(), "alpha is kept");
    server.stop().await;
}

#[tokio::test]
async fn grpc_resize_reads_every_input_format() {
    let server = TestServer::start().await;
    let mut client = server.utility().await;
    for (name, format) in [
        ("astronaut.jpg", pb::ImageFormat::Jpeg),
        ("astronaut.png", pb::ImageFormat::Png),
        ("astronaut.webp", pb::ImageFormat::Webp),
        ("astronaut.bmp", pb::ImageFormat::Bmp),
        ("no_time_for_that_tiny.gif", pb::ImageFormat::Gif),
        ("multipage_rgb.tif", pb::ImageFormat::Tiff),
        ("sample.svg", pb::ImageFormat::Svg),
    ] {
        let photo = photo!(name);
        let reply = client
            .resize(pb::ResizeRequest {
                image: input(photo),
                min_dim: Some(64),
                max_dim: Some(300),
                output: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .into_inner();
        assert_eq!(reply.original_format, format as i32, "{name}");
        let image = reply.image.unwrap();
        assert!(image.width.max(image.height) <= 300, "{name}");
        assert!(
            image.width.min(image.height) >= 64 || image.width.max(image.height) == 300,
            "{name}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn grpc_resize_honours_output_format_and_url_delivery() {
    let photo = photo!("astronaut.png");
    let server = TestServer::start().await;
    let reply = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: input(photo),
            min_dim: None,
            max_dim: Some(256),
            output: Some(pb::OutputOptions {
                format: pb::ImageFormat::Webp as i32,
                quality: None,
                delivery: pb::Delivery::Url as i32,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    let image = reply.image.unwrap();
    assert_eq!(image.media_type, "image/webp");
    assert!(image.url_expires_at.is_some());
    let Some(Location::Url(url)) = image.location else {
        panic!("url delivery")
    };
    let fetched = server.http.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/webp");
    let decoded = decode(&fetched.bytes().await.unwrap());
    assert_eq!(decoded.width().max(decoded.height()), 256);

    // A tampered signature is refused.
    let forged = url.replace("sig=", "sig=00");
    assert_eq!(server.http.get(&forged).send().await.unwrap().status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn grpc_resize_rejects_bad_parameters_naming_the_field() {
    use tonic_types::StatusExt;
    let photo = photo!("astronaut.jpg");
    let server = TestServer::start().await;
    let status = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: input(photo),
            min_dim: Some(2000),
            max_dim: Some(100),
            output: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let details = status.get_error_details();
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "min_dim"
    );

    let status = server
        .utility()
        .await
        .resize(pb::ResizeRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("image is required"),
        "{}",
        status.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn rest_photo_resize_url_replies_in_seed_shape() {
    if common::testdata("rocket.jpg").is_none() {
        return;
    }
    let files = FileServer::start().await;
    let server = server_trusting_loopback().await;
    let res = server
        .http
        .post(server.url("/utils/photo_resize_url"))
        .json(&serde_json::json!({
            "image_url": files.url("/files/rocket.jpg"),
            "min_dim": 128,
            "max_dim": "300",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        ["image_data", "original_size", "resized_size", "success"]
    );
    assert_eq!(body["success"], true);
    let original = decode(&common::testdata("rocket.jpg").unwrap());
    assert_eq!(
        body["original_size"],
        format!("{}x{}px", original.width(), original.height())
    );
    let resized = decode(&BASE64.decode(body["image_data"].as_str().unwrap()).unwrap());
    assert_eq!(
        body["resized_size"],
        format!("{}x{}px", resized.width(), resized.height())
    );
    assert_eq!(resized.width().max(resized.height()), 300);
    server.stop().await;
}

#[tokio::test]
async fn rest_photo_resize_takes_a_multipart_upload_with_defaults() {
    let photo = photo!("chelsea.png");
    let server = TestServer::start().await;
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(photo.clone()).file_name("chelsea.png"),
    );
    let res = server
        .http
        .post(server.url("/utils/photo_resize"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    let original = decode(&photo);
    // chelsea is 451x300: the short side is raised to the default min_dim 512.
    let resized = decode(&BASE64.decode(body["image_data"].as_str().unwrap()).unwrap());
    assert_eq!(resized.height(), 512);
    assert_eq!(
        resized.width(),
        (original.width() as f64 * 512.0 / original.height() as f64).round() as u32
    );
    server.stop().await;
}

#[tokio::test]
async fn rest_resize_errors_use_the_seed_envelope() {
    let server = TestServer::start().await;
    for (body, needle) in [
        (serde_json::json!({}), "image_url"),
        (
            serde_json::json!({"image_url": "https://example.com/a.jpg", "min_dim": "abc"}),
            "min_dim",
        ),
        (
            serde_json::json!({"image_url": "ftp://example.com/a.jpg"}),
            "http",
        ),
    ] {
        let res = server
            .http
            .post(server.url("/utils/photo_resize_url"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{body}");
        let reply: serde_json::Value = res.json().await.unwrap();
        let message = reply["error"].as_str().expect("{\"error\": ...}");
        assert!(message.contains(needle), "{message}");
        assert_eq!(reply.as_object().unwrap().len(), 1);
    }
    let res = server
        .http
        .post(server.url("/utils/photo_resize_url"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let res = server
        .http
        .post(server.url("/utils/photo_resize"))
        .multipart(reqwest::multipart::Form::new().text("min_dim", "100"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let reply: serde_json::Value = res.json().await.unwrap();
    assert!(reply["error"].as_str().unwrap().contains("image"));
    server.stop().await;
}
