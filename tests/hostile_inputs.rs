//! Hostile input gets a clear error naming what is wrong, and the server keeps serving.

mod common;

use common::{FileServer, TestServer, png_bomb};
use imgforge::proto::v1 as pb;
use pb::image_input::Source;

async fn resize_url(server: &TestServer, url: &str) -> (u16, String) {
    let res = server
        .http
        .post(server.url("/utils/photo_resize_url"))
        .json(&serde_json::json!({ "image_url": url }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

async fn resize_upload(server: &TestServer, name: &str, bytes: Vec<u8>) -> (u16, String) {
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    let res = server
        .http
        .post(server.url("/utils/photo_resize"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    (
        status,
        body["error"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn refuses_private_loopback_and_metadata_urls() {
    let files = FileServer::start().await;
    let server = TestServer::start().await;
    for (url, reason) in [
        (files.url("/files/rocket.jpg"), "loopback"),
        ("http://10.0.0.7/a.jpg".to_owned(), "private"),
        ("http://192.168.1.1/a.jpg".to_owned(), "private"),
        (
            "http://169.254.169.254/latest/meta-data/".to_owned(),
            "metadata",
        ),
        (
            "http://100.100.100.200/latest/meta-data/".to_owned(),
            "100.100.100.200",
        ),
        ("http://[::1]/a.jpg".to_owned(), "loopback"),
        ("http://2130706433/a.jpg".to_owned(), "loopback"),
        (
            "http://[::ffff:169.254.169.254]/".to_owned(),
            "169.254.169.254",
        ),
    ] {
        let started = std::time::Instant::now();
        let (status, error) = resize_url(&server, &url).await;
        assert_eq!(status, 400, "{url}: {error}");
        assert!(error.contains(reason), "{url}: {error}");
        assert!(
            started.elapsed().as_secs() < 5,
            "{url} was refused before connecting"
        );
    }
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn rejects_private_ip_after_redirect() {
    let files = FileServer::start().await;
    let port = files.addr.port();
    // `public.test` stands for a public host: pinned to the loopback file server and
    // allowlisted by name, so only the redirect target is judged.
    let server = TestServer::start_with(|s| {
        s.fetch
            .resolve
            .insert("public.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        s.fetch.allow = vec!["public.test".into()];
    })
    .await;
    if common::testdata("rocket.jpg").is_some() {
        let (status, error) = resize_url(
            &server,
            &format!("http://public.test:{port}/files/rocket.jpg"),
        )
        .await;
        assert_eq!(
            status, 200,
            "the allowlisted host itself is fetched: {error}"
        );
    }
    for target in [
        format!("http://127.0.0.1:{port}/files/rocket.jpg"),
        "http://169.254.169.254/latest/meta-data/iam".to_owned(),
        "http://10.1.2.3/x.jpg".to_owned(),
    ] {
        let url = format!("http://public.test:{port}/redirect?to={target}");
        let (status, error) = resize_url(&server, &url).await;
        assert_eq!(status, 400, "{url}: {error}");
        assert!(error.contains("redirect"), "{error}");
    }
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn refuses_name_that_resolves_to_a_private_address() {
    let files = FileServer::start().await;
    let server = TestServer::start_with(|s| {
        s.fetch
            .resolve
            .insert("rebind.test".into(), vec!["127.0.0.1".parse().unwrap()]);
    })
    .await;
    let (status, error) = resize_url(
        &server,
        &format!("http://rebind.test:{}/files/rocket.jpg", files.addr.port()),
    )
    .await;
    assert_eq!(status, 400);
    assert!(error.contains("127.0.0.1"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn refuses_the_pixel_bomb_at_once() {
    let server = TestServer::start().await;
    let bomb = png_bomb(50_000, 50_000);
    assert!(bomb.len() < 100);
    let (status, error) = resize_upload(&server, "bomb.png", bomb.clone()).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("50000x50000"), "{error}");

    let status = server
        .utility()
        .await
        .convert_to_png(pb::ConvertToPngRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::Data(bomb)),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("50000x50000"),
        "{}",
        status.message()
    );
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn reports_truncated_files() {
    let png = photo!("astronaut.png");
    let jpeg = photo!("astronaut.jpg");
    let server = TestServer::start().await;
    for (name, bytes) in [("cut.png", png), ("cut.jpg", jpeg)] {
        let cut = bytes[..bytes.len() / 3].to_vec();
        let (status, error) = resize_upload(&server, name, cut).await;
        assert_eq!(status, 400, "{name}: {error}");
        assert!(
            error.contains("truncated") || error.contains("corrupt"),
            "{name}: {error}"
        );
    }
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn sniffs_formats_instead_of_trusting_extensions() {
    let jpeg = photo!("astronaut.jpg");
    let server = TestServer::start().await;
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(jpeg)
            .file_name("photo.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let res = server
        .http
        .post(server.url("/utils/convert_to_png"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["original_format"], "jpeg");

    let (status, error) = resize_upload(&server, "notes.png", b"hello, I am text".to_vec()).await;
    assert_eq!(status, 400);
    assert!(error.contains("not a supported image"), "{error}");
    let (status, error) = resize_upload(&server, "doc.jpg", b"%PDF-1.7\n...".to_vec()).await;
    assert_eq!(status, 400, "{error}");
    server.stop().await;
}

#[tokio::test]
async fn refuses_svg_that_references_a_local_file() {
    let server = TestServer::start().await;
    for svg in [
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10"><image xlink:href="file:///etc/passwd" width="10" height="10"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="/etc/hostname" width="10" height="10"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="http://169.254.169.254/x.png" width="10" height="10"/></svg>"#,
    ] {
        let (status, error) = resize_upload(&server, "x.svg", svg.as_bytes().to_vec()).await;
        assert_eq!(status, 400, "{svg}: {error}");
        assert!(error.contains("external"), "{error}");
    }
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn refuses_oversized_bodies_on_both_transports() {
    let server = TestServer::start_with(|s| s.server.max_message_bytes = 1 << 20).await;
    let big = vec![0u8; 6 * 1024 * 1024];
    let (status, error) = resize_upload(&server, "big.jpg", big.clone()).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("limit"), "{error}");

    let status = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::Data(big)),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::ResourceExhausted | tonic::Code::OutOfRange
        ),
        "{status:?}"
    );
    server.assert_alive().await;
    server.stop().await;
}
