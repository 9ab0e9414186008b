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
    // INVALID_ARGUMENT as the README says: the caller's fault, not worth retrying.
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("server.max_message_bytes"),
        "{}",
        status.message()
    );
    server.assert_alive().await;
    server.stop().await;
}

/// An SVG of `depth` nested groups: about 7 bytes a level.
fn svg_depth_bomb(depth: usize) -> Vec<u8> {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">{}<rect width="5" height="5"/>{}</svg>"#,
        "<g>".repeat(depth),
        "</g>".repeat(depth)
    )
    .into_bytes()
}

/// 195 bytes asking for a Gaussian blur over a 7000×7000 canvas.
fn svg_blur_bomb() -> Vec<u8> {
    br#"<svg xmlns="http://www.w3.org/2000/svg" width="7000" height="7000"><filter id="f"><feGaussianBlur stdDeviation="90"/></filter><rect width="7000" height="7000" filter="url(#f)"/></svg>"#
        .to_vec()
}

async fn grpc_health(server: &TestServer) -> i32 {
    let mut health = tonic_health::pb::health_client::HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status
}

#[tokio::test]
async fn survives_the_svg_depth_bomb_on_every_input_path() {
    let files = FileServer::start().await;
    let server = TestServer::start_with(|s| {
        s.fetch
            .resolve
            .insert("public.test".into(), vec!["127.0.0.1".parse().unwrap()]);
        s.fetch.allow = vec!["public.test".into()];
    })
    .await;
    let bomb = svg_depth_bomb(3_100);
    assert!(bomb.len() < 25_000, "{} bytes", bomb.len());

    let (status, error) = resize_upload(&server, "deep.svg", bomb.clone()).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("limits.svg_max_depth"), "{error}");

    let url = files.host("deep.svg", bomb.clone());
    let url = url.replace("127.0.0.1", "public.test");
    let (status, error) = resize_url(&server, &url).await;
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("levels deep"), "{error}");

    let status = server
        .utility()
        .await
        .convert_to_png(pb::ConvertToPngRequest {
            image: common::inline(bomb),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("levels deep"),
        "{}",
        status.message()
    );
    assert_eq!(field_of(&status).as_deref(), Some("image"));

    // A drawing nested a reasonable depth still renders.
    let (status, error) = resize_upload(&server, "nested.svg", svg_depth_bomb(60)).await;
    assert_eq!(status, 200, "{error}");

    server.assert_alive().await;
    assert_eq!(
        grpc_health(&server).await,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    server.stop().await;
}

fn inline_bytes(image: &pb::ImageOutput) -> Vec<u8> {
    match &image.location {
        Some(pb::image_output::Location::Data(bytes)) => bytes.clone(),
        other => panic!("expected inline bytes, got {other:?}"),
    }
}

fn field_of(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    let details = status.get_error_details();
    let bad = details.bad_request()?;
    bad.field_violations.first().map(|v| v.field.clone())
}

#[tokio::test]
async fn blur_bomb_is_refused_while_a_small_resize_goes_through() {
    let server = TestServer::start().await;
    let bomb = svg_blur_bomb();
    assert!(bomb.len() < 200, "{} bytes", bomb.len());
    let small = common::photo_png(64, 48);

    let started = std::time::Instant::now();
    let bomb_call = resize_upload(&server, "blur.svg", bomb);
    let small_call = async {
        let result = resize_upload(&server, "small.png", small).await;
        (result, started.elapsed())
    };
    let ((status, error), ((small_status, small_error), small_took)) =
        tokio::join!(bomb_call, small_call);
    assert_eq!(status, 400, "{error}");
    assert!(error.contains("limits.svg_max_render_cost"), "{error}");
    assert_eq!(small_status, 200, "{small_error}");
    // Unbounded, the bomb costs 26 s of CPU; the small request must not wait for it. Generous,
    // for a loaded 2-core machine.
    assert!(
        small_took < std::time::Duration::from_secs(10),
        "the small resize took {small_took:?}"
    );
    server.assert_alive().await;
    server.stop().await;
}

/// Resident set size of this process (the server runs in it), in bytes.
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test]
async fn upscale_bomb_is_refused_before_allocating() {
    let server = TestServer::start().await;
    let one_pixel = common::photo_png(1, 1);
    let peak_before = rss_bytes();

    let status = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: common::inline(one_pixel.clone()),
            min_dim: Some(16_384),
            max_dim: Some(16_384),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(
        status.message().contains("limits.max_output_pixels"),
        "{}",
        status.message()
    );
    assert_eq!(field_of(&status).as_deref(), Some("min_dim"));

    let res = server
        .http
        .post(server.url("/utils/photo_resize"))
        .multipart(
            reqwest::multipart::Form::new()
                .part(
                    "image",
                    reqwest::multipart::Part::bytes(one_pixel).file_name("dot.png"),
                )
                .text("min_dim", "16384")
                .text("max_dim", "16384"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("min_dim") && error.contains("50000000"),
        "{error}"
    );

    let peak_after = rss_bytes();
    let grown = peak_after.saturating_sub(peak_before);
    eprintln!(
        "peak RSS {} MiB before, {} MiB after the upscale bomb (+{} MiB)",
        peak_before >> 20,
        peak_after >> 20,
        grown >> 20
    );
    // Unbounded, one such request peaked at 812 MB.
    assert!(grown < 100 << 20, "peak RSS grew by {} MiB", grown >> 20);
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn exif_orientation_is_applied_over_grpc_and_rest() {
    let server = TestServer::start().await;
    for (name, bytes) in [
        ("jpeg", common::jpeg_with_orientation(6)),
        ("png", common::png_with_orientation(6)),
        ("webp", common::webp_with_orientation(6)),
        ("tiff", common::tiff_with_orientation(6)),
    ] {
        let reply = server
            .utility()
            .await
            .convert_to_png(pb::ConvertToPngRequest {
                image: common::inline(bytes.clone()),
                ..Default::default()
            })
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
            .into_inner();
        let png = inline_bytes(&reply.images[0]);
        assert!(
            common::is_upright(&common::decode(&png)),
            "{name} over gRPC is not upright"
        );
        assert!(
            !png.windows(4).any(|w| w == b"eXIf"),
            "{name}: the orientation must not be carried into the output"
        );

        let form = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name(format!("photo.{name}")),
        );
        let res = server
            .http
            .post(server.url("/utils/convert_to_png"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{name}");
        let body: serde_json::Value = res.json().await.unwrap();
        let png = {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(body["image_data"].as_str().unwrap())
                .unwrap()
        };
        assert!(
            common::is_upright(&common::decode(&png)),
            "{name} over REST is not upright"
        );
    }

    // Resize reports the upright size and keeps JPEG, without the EXIF block.
    let reply = server
        .utility()
        .await
        .resize(pb::ResizeRequest {
            image: common::inline(common::jpeg_with_orientation(6)),
            min_dim: Some(1),
            max_dim: Some(4096),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.original_width, reply.original_height), (20, 40));
    let jpeg = inline_bytes(&reply.image.unwrap());
    assert!(!jpeg.windows(4).any(|w| w == b"Exif"));
    assert!(common::is_upright(&common::decode(&jpeg)));
    server.stop().await;
}

/// Sends and receives message bytes as they are, so a test can send what no generated client
/// would.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut as _;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf as _;
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

#[tokio::test]
async fn malformed_protobuf_is_invalid_argument() {
    let server = TestServer::start().await;
    let mut grpc = tonic::client::Grpc::new(server.channel().await);
    grpc.ready().await.unwrap();
    // Field 1 with wire type 7, which does not exist.
    let status = grpc
        .unary(
            tonic::Request::new(vec![0x0f, 0xff, 0xff]),
            http::uri::PathAndQuery::from_static("/imgforge.v1.UtilityService/Resize"),
            RawCodec,
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().contains("protobuf"),
        "{}",
        status.message()
    );
    server.assert_alive().await;
    server.stop().await;
}

#[tokio::test]
async fn refuses_a_duplicate_image_part() {
    let server = TestServer::start().await;
    let form = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(common::photo_png(8, 8)).file_name("a.png"),
        )
        .part(
            "image",
            reqwest::multipart::Part::bytes(common::photo_png(16, 16)).file_name("b.png"),
        );
    let res = server
        .http
        .post(server.url("/utils/photo_resize"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = res.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("more than one image part"), "{error}");
    server.stop().await;
}

#[tokio::test]
async fn decode_errors_name_the_field() {
    let jpeg = photo!("astronaut.jpg");
    let server = TestServer::start().await;
    let cut = jpeg[..jpeg.len() / 2].to_vec();
    let status = server
        .utility()
        .await
        .convert_to_png(pb::ConvertToPngRequest {
            image: common::inline(cut),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(field_of(&status).as_deref(), Some("image"), "{status:?}");
    server.stop().await;
}
