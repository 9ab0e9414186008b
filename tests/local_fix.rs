//! Fix on the local engine: Real-ESRGAN super-resolution over gRPC and REST, its limits, its
//! missing-model answer, alpha, and its numbers against ncnn's on the same model files.
//!
//! Tests that run the model need `../shared/models/realesrgan-ncnn` and ONNX Runtime and skip,
//! reason printed, without them; the refusals need neither.

mod common;

use std::path::PathBuf;

use image::{DynamicImage, Rgba, RgbaImage};
use imgforge::config::Settings;
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::editing_service_client::EditingServiceClient;
use imgforge::providers::local::Upscaler;
use imgforge::providers::local::models::Runtime;
use serde_json::{Value, json};
use tonic::Code;

use common::{FileServer, TestServer};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/fix");

/// The shared model folder when Real-ESRGAN can run there; `None`, reason printed, otherwise.
fn sr_models() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/models");
    if !dir.join("realesrgan-ncnn").is_dir() {
        eprintln!("skipping: {} has no realesrgan-ncnn", dir.display());
        return None;
    }
    let mut settings = Settings::embedded();
    settings.models.dir = dir.clone();
    if Upscaler::new(Runtime::new(&settings.models)).is_ready() {
        Some(dir)
    } else {
        eprintln!("skipping: Real-ESRGAN cannot run here (ONNX Runtime library missing?)");
        None
    }
}

fn upscaler(dir: PathBuf) -> Upscaler {
    let mut settings = Settings::embedded();
    settings.models.dir = dir;
    Upscaler::new(Runtime::new(&settings.models))
}

fn fixture(name: &str) -> image::RgbImage {
    image::open(format!("{FIXTURES}/{name}"))
        .expect("fixture")
        .to_rgb8()
}

fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let sum: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum();
    let mse = sum / a.as_raw().len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

fn fix_request(bytes: Vec<u8>, factor: u32) -> pb::FixRequest {
    pb::FixRequest {
        base_image: common::inline(bytes),
        upscale_factor: Some(factor),
        ..Default::default()
    }
}

async fn editing(server: &TestServer) -> EditingServiceClient<tonic::transport::Channel> {
    EditingServiceClient::new(server.channel().await)
}

async fn image_of(server: &TestServer, output: Option<pb::ImageOutput>) -> DynamicImage {
    match output.and_then(|o| o.location).expect("an image") {
        pb::image_output::Location::Data(bytes) => common::decode(&bytes),
        pb::image_output::Location::Url(url) => {
            common::decode(&common::result_bytes(&server.http, &url).await)
        }
    }
}

#[test]
fn outputs_match_ncnn_on_the_same_model_files() {
    let Some(dir) = sr_models() else { return };
    let upscaler = upscaler(dir);
    for (input, reference, factor) in [
        ("chelsea_eye_64x48.png", "chelsea_eye_ncnn_x2.png", 2),
        ("chelsea_eye_32x24.png", "chelsea_eye_ncnn_x4.png", 4),
    ] {
        let network = upscaler.network(factor).unwrap();
        let ours = upscaler.upscale(&fixture(input), network).unwrap();
        let db = psnr(&ours, &fixture(reference));
        assert!(db >= 45.0, "x{factor}: {db:.1} dB against ncnn");
    }
}

#[test]
fn tiles_join_without_seams() {
    let Some(dir) = sr_models() else { return };
    let upscaler = upscaler(dir);
    let Some(photo) = common::testdata("chelsea.png") else {
        return;
    };
    let photo = common::decode(&photo).crop_imm(100, 60, 150, 110).to_rgb8();
    let network = upscaler.network(2).unwrap();
    let whole = upscaler.upscale_tiled(&photo, network, 512, 24).unwrap();
    let tiled = upscaler.upscale_tiled(&photo, network, 48, 24).unwrap();
    let db = psnr(&whole, &tiled);
    // 24 pixels of context cover animevideov3's receptive field: only float rounding differs.
    assert!(db >= 50.0, "tiled vs whole: {db:.1} dB");
    let cut = upscaler.upscale_tiled(&photo, network, 48, 0).unwrap();
    assert!(
        psnr(&whole, &cut) < db,
        "tiles without context must show seams, or the comparison proves nothing"
    );
}

#[tokio::test]
async fn fix_over_rest_and_grpc_returns_upscaled_images() {
    let Some(dir) = sr_models() else { return };
    let server = TestServer::start_with(|s| {
        s.models.dir = dir;
        s.fetch.allow = vec!["127.0.0.1/32".into()];
    })
    .await;
    let files = FileServer::start().await;
    let photo = common::photo_png(80, 60);

    // Seed 002's task shape over REST, default factor 2.
    let url = files.host("photo.png", photo.clone());
    let res = server
        .http
        .post(server.url("/fix"))
        .json(&json!({ "base_image_url": url, "prompt": "图像超分。" }))
        .send()
        .await
        .expect("the bridge answers");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["task_status"], "SUCCEEDED", "{body}");
    assert_eq!(body["task_metrics"]["SUCCEEDED"], 1);
    let result_url = body["results"][0]["url"].as_str().expect("a result url");
    let result = common::decode(&common::result_bytes(&server.http, result_url).await);
    assert_eq!((result.width(), result.height()), (160, 120));

    // gRPC, x4, notes say the prompt was not used.
    let reply = editing(&server)
        .await
        .fix(fix_request(photo, 4))
        .await
        .expect("fix succeeds")
        .into_inner();
    let task = reply.task.clone().expect("a task report");
    assert_eq!(task.provider, "local");
    assert!(
        task.notes.iter().any(|n| n.contains("takes no prompt")),
        "{:?}",
        task.notes
    );
    let image = image_of(&server, reply.image).await;
    assert_eq!((image.width(), image.height()), (320, 240));
    // The model enlarged a real picture: not a flat or blank result.
    let rgb = image.to_rgb8();
    let distinct: std::collections::HashSet<_> = rgb.pixels().map(|p| p.0).collect();
    assert!(distinct.len() > 1000, "{} colours", distinct.len());
    server.stop().await;
}

#[tokio::test]
async fn alpha_is_kept_and_enlarged() {
    let Some(dir) = sr_models() else { return };
    let server = TestServer::start_with(|s| s.models.dir = dir).await;
    // Left half transparent, right half opaque, over photo-like colour.
    let rgba = RgbaImage::from_fn(40, 30, |x, y| {
        Rgba([
            (x * 6) as u8,
            (y * 8) as u8,
            120,
            if x < 20 { 0 } else { 255 },
        ])
    });
    let bytes = common::encode(&DynamicImage::ImageRgba8(rgba), image::ImageFormat::Png);
    for factor in [2, 4] {
        let reply = editing(&server)
            .await
            .fix(fix_request(bytes.clone(), factor))
            .await
            .expect("fix succeeds")
            .into_inner();
        let image = image_of(&server, reply.image).await;
        assert_eq!((image.width(), image.height()), (40 * factor, 30 * factor));
        assert!(
            image.color().has_alpha(),
            "x{factor} dropped the alpha channel"
        );
        let out = image.to_rgba8();
        let h = out.height();
        assert_eq!(
            out.get_pixel(2, h / 2).0[3],
            0,
            "x{factor}: transparent side"
        );
        assert_eq!(
            out.get_pixel(out.width() - 3, h / 2).0[3],
            255,
            "x{factor}: opaque side"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn oversized_inputs_and_results_are_refused_before_any_work() {
    // No models at all: a refusal here cannot have come from running (or looking for) one.
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_path_buf();
    let server = TestServer::start_with(|s| {
        s.models.dir = dir;
        s.limits.max_width = 200;
        s.models.super_resolution.max_input_pixels = 10_000;
    })
    .await;
    let mut client = editing(&server).await;

    // 64x48 x4 = 256 wide, above max_width 200.
    let err = client
        .fix(fix_request(common::photo_png(64, 48), 4))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("upscale_factor"),
        "{}",
        err.message()
    );

    // 120x100 = 12000 input pixels, above max_input_pixels 10000.
    let err = client
        .fix(fix_request(common::photo_png(120, 100), 1))
        .await
        .expect_err("refused");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("max_input_pixels"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_missing_model_is_a_failed_precondition_naming_the_fetch() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_path_buf();
    let server = TestServer::start_with(|s| s.models.dir = dir).await;
    let err = editing(&server)
        .await
        .fix(fix_request(common::photo_png(40, 30), 2))
        .await
        .expect_err("no model");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message()
            .contains("imgforge models fetch realesr-animevideov3-x2"),
        "{}",
        err.message()
    );
    server.stop().await;
}
