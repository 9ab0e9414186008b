//! Convert to PNG through gRPC and `POST /utils/convert_to_png` (seed 002).

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{TestServer, decode};
use imgforge::config::Delivery;
use imgforge::proto::v1 as pb;
use pb::image_input::Source;
use pb::image_output::Location;

async fn convert_rest(
    server: &TestServer,
    name: &str,
    bytes: Vec<u8>,
    fields: &[(&str, &str)],
) -> (u16, serde_json::Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_owned()),
    );
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let res = server
        .http
        .post(server.url("/utils/convert_to_png"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn png_from_base64(data: &str) -> image::DynamicImage {
    let bytes = BASE64.decode(data).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    decode(&bytes)
}

#[tokio::test]
async fn rest_converts_every_named_format_to_png() {
    let server = TestServer::start().await;
    for (name, format) in [
        ("astronaut.jpg", "jpeg"),
        ("astronaut.webp", "webp"),
        ("astronaut.bmp", "bmp"),
        ("sample.svg", "svg"),
        ("multipage_rgb.tif", "tiff"),
        ("no_time_for_that_tiny.gif", "gif"),
        ("logo.png", "png"),
    ] {
        let photo = photo!(name);
        let (status, body) = convert_rest(&server, name, photo, &[]).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(body["success"], true);
        assert!(body["message"].as_str().unwrap().starts_with("转换成功"));
        assert_eq!(body["original_format"], format, "{name}");
        assert_eq!(body["converted_format"], "png");
        let png = png_from_base64(body["image_data"].as_str().unwrap());
        assert!(png.width() > 0 && png.height() > 0);
        let paths = body["image_paths"].as_array().unwrap();
        assert!(!paths.is_empty());
        assert!(
            paths[0]
                .as_str()
                .unwrap()
                .starts_with("data:image/png;base64,")
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn converted_jpeg_matches_the_source_pixels() {
    let photo = photo!("astronaut.png");
    let server = TestServer::start().await;
    let (_, body) = convert_rest(&server, "astronaut.png", photo.clone(), &[]).await;
    let png = png_from_base64(body["image_data"].as_str().unwrap()).to_rgba8();
    assert_eq!(png, decode(&photo).to_rgba8(), "lossless round trip");
    server.stop().await;
}

#[tokio::test]
async fn gif_keep_animation_gives_one_png_per_frame() {
    let gif = photo!("no_time_for_that_tiny.gif");
    let frames = {
        use image::AnimationDecoder;
        image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&gif))
            .unwrap()
            .into_frames()
            .count()
    };
    assert!(frames > 1, "the test GIF is animated");
    let server = TestServer::start().await;
    let (_, single) = convert_rest(&server, "a.gif", gif.clone(), &[]).await;
    assert_eq!(single["image_paths"].as_array().unwrap().len(), 1);
    let (status, split) = convert_rest(&server, "a.gif", gif, &[("keep_animation", "true")]).await;
    assert_eq!(status, 200);
    let paths = split["image_paths"].as_array().unwrap();
    assert_eq!(paths.len(), frames);
    for path in paths {
        let data = path
            .as_str()
            .unwrap()
            .strip_prefix("data:image/png;base64,")
            .unwrap();
        png_from_base64(data);
    }
    server.stop().await;
}

#[tokio::test]
async fn tiff_converts_every_page() {
    let tiff = photo!("multipage_rgb.tif");
    let server = TestServer::start().await;
    let reply = server
        .utility()
        .await
        .convert_to_png(pb::ConvertToPngRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::Data(tiff)),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.original_format, pb::ImageFormat::Tiff as i32);
    assert!(reply.images.len() > 1, "every page: {}", reply.images.len());
    for image in reply.images {
        assert_eq!(image.media_type, "image/png");
        let Some(Location::Data(bytes)) = image.location else {
            panic!("inline")
        };
        assert_eq!(decode(&bytes).width(), image.width);
    }
    server.stop().await;
}

#[tokio::test]
async fn url_delivery_stores_pngs_and_overwrite_controls_reuse() {
    let photo = photo!("astronaut.webp");
    let server = TestServer::start_with(|s| s.results.delivery = Delivery::Url).await;
    let (status, first) = convert_rest(&server, "a.webp", photo.clone(), &[]).await;
    assert_eq!(status, 200, "{first}");
    let url = first["image_paths"][0].as_str().unwrap().to_owned();
    assert!(url.starts_with(&server.http_base), "{url}");
    let fetched = server.http.get(&url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(
        BASE64.encode(fetched.bytes().await.unwrap()),
        first["image_data"].as_str().unwrap()
    );

    let (_, again) = convert_rest(&server, "a.webp", photo.clone(), &[]).await;
    assert!(
        again["message"].as_str().unwrap().contains("复用"),
        "{again}"
    );
    let (_, overwritten) = convert_rest(&server, "a.webp", photo, &[("overwrite", "true")]).await;
    assert!(!overwritten["message"].as_str().unwrap().contains("复用"));
    assert_eq!(overwritten["image_data"], first["image_data"]);
    server.stop().await;
}

#[tokio::test]
async fn grpc_convert_accepts_an_earlier_upload() {
    let photo = photo!("chelsea.png");
    let server = TestServer::start().await;
    let mut client = server.utility().await;
    let upload = client
        .upload_image(pb::UploadImageRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::Data(photo)),
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(upload.format, pb::ImageFormat::Png as i32);
    let reply = client
        .convert_to_png(pb::ConvertToPngRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::UploadId(upload.upload_id)),
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.images.len(), 1);
    assert_eq!(reply.images[0].width, upload.width);

    let status = client
        .convert_to_png(pb::ConvertToPngRequest {
            image: Some(pb::ImageInput {
                source: Some(Source::UploadId(uuid::Uuid::new_v4().to_string())),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    server.stop().await;
}
