//! Local remove watermark and expand end to end over gRPC and REST: text found by the real
//! PP-OCRv4 detector and filled by patch synthesis, a caller's mask, nothing to remove, a
//! missing model, and expansions beyond the limits.

mod common;

use common::{FileServer, TestServer, decode, inline as input};
use imgforge::proto::v1 as pb;
use pb::image_output::Location;

fn data_of(image: &pb::ImageOutput) -> Vec<u8> {
    match &image.location {
        Some(Location::Data(bytes)) => bytes.clone(),
        other => panic!("expected inline data, got {other:?}"),
    }
}

async fn editing(
    server: &TestServer,
) -> pb::editing_service_client::EditingServiceClient<tonic::transport::Channel> {
    pb::editing_service_client::EditingServiceClient::new(server.channel().await)
        .max_decoding_message_size(64 << 20)
}

/// Mean squared error over the pixels where `region` holds.
fn mse(a: &image::RgbImage, b: &image::RgbImage, region: &[bool]) -> f64 {
    let (mut se, mut n) = (0f64, 0f64);
    for ((pa, pb), &m) in a.pixels().zip(b.pixels()).zip(region) {
        if m {
            for c in 0..3 {
                se += (f64::from(pa[c]) - f64::from(pb[c])).powi(2);
            }
            n += 3.0;
        }
    }
    se / n
}

/// A smooth, text-free photo-like image.
fn gradient(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
    })
}

#[tokio::test]
async fn grpc_remove_watermark_finds_and_fills_the_coffee_text() {
    let marked = photo!("coffee_watermarked.png");
    let clean = photo!("coffee.png");
    let Some(server) = TestServer::with_models(|_| {}).await else {
        return;
    };
    let reply = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: input(marked.clone()),
            ..Default::default()
        })
        .await
        .expect("remove watermark succeeds")
        .into_inner();
    let task = reply.task.unwrap();
    assert_eq!(task.provider, "local");
    assert!(
        task.notes.iter().any(|n| n.contains("ch_PP-OCRv4_det")),
        "{:?}",
        task.notes
    );
    let result = decode(&data_of(&reply.image.unwrap())).to_rgb8();
    let (marked, clean) = (decode(&marked).to_rgb8(), decode(&clean).to_rgb8());
    let watermark: Vec<bool> = marked
        .pixels()
        .zip(clean.pixels())
        .map(|(a, b)| a != b)
        .collect();
    let before = mse(&marked, &clean, &watermark);
    let after = mse(&result, &clean, &watermark);
    eprintln!("watermark region mse: before {before:.1}, after {after:.1}");
    assert!(
        after < before / 4.0,
        "the watermark region is not much closer to the clean photo: {before} -> {after}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_image_with_nothing_to_remove_comes_back_unchanged_with_a_note() {
    let Some(server) = TestServer::with_models(|_| {}).await else {
        return;
    };
    let png = common::encode(
        &image::DynamicImage::ImageRgb8(gradient(160, 120)),
        image::ImageFormat::Png,
    );
    let reply = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: input(png.clone()),
            ..Default::default()
        })
        .await
        .expect("remove watermark succeeds")
        .into_inner();
    let notes = reply.task.unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("returned unchanged")),
        "{notes:?}"
    );
    assert_eq!(data_of(&reply.image.unwrap()), png);
    server.stop().await;
}

#[tokio::test]
async fn a_callers_mask_is_filled_without_the_detector() {
    // No models at all: the mask alone decides what is filled.
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_path_buf();
    let server = TestServer::start_with(|s| s.models.dir = dir).await;
    let photo = image::RgbImage::from_fn(96, 96, |x, y| {
        let v = if ((x + y) / 4) % 2 == 0 { 200 } else { 60 };
        image::Rgb([v, v, 255 - v])
    });
    let mut marked = photo.clone();
    let mut mask = image::GrayImage::new(96, 96);
    for y in 40..52 {
        for x in 30..70 {
            marked.put_pixel(x, y, image::Rgb([255, 255, 255]));
            mask.put_pixel(x, y, image::Luma([255]));
        }
    }
    let png = |img: image::DynamicImage| common::encode(&img, image::ImageFormat::Png);
    let reply = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: input(png(image::DynamicImage::ImageRgb8(marked.clone()))),
            mask: input(png(image::DynamicImage::ImageLuma8(mask.clone()))),
            ..Default::default()
        })
        .await
        .expect("a masked removal needs no model")
        .into_inner();
    assert!(
        reply
            .task
            .unwrap()
            .notes
            .iter()
            .any(|n| n.contains("the given mask"))
    );
    let result = decode(&data_of(&reply.image.unwrap())).to_rgb8();
    let region: Vec<bool> = mask.pixels().map(|p| p.0[0] > 0).collect();
    let (before, after) = (mse(&marked, &photo, &region), mse(&result, &photo, &region));
    assert!(after < before / 4.0, "{before} -> {after}");

    // A mask of another size is refused, naming the field.
    let err = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: input(png(image::DynamicImage::ImageRgb8(marked))),
            mask: input(png(image::DynamicImage::ImageLuma8(image::GrayImage::new(
                10, 10,
            )))),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("mask"), "{}", err.message());
    server.stop().await;
}

#[tokio::test]
async fn without_the_text_model_remove_watermark_says_how_to_install_it() {
    let empty = tempfile::tempdir().unwrap();
    let dir = empty.path().to_path_buf();
    let server = TestServer::start_with(|s| s.models.dir = dir).await;
    let png = common::encode(
        &image::DynamicImage::ImageRgb8(gradient(64, 64)),
        image::ImageFormat::Png,
    );
    let err = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: input(png),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert!(
        err.message()
            .contains("imgforge models fetch ch_PP-OCRv4_det"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn grpc_expand_grows_each_side_and_keeps_the_photo() {
    let server = TestServer::start().await;
    let photo = image::RgbImage::from_fn(80, 60, |x, y| {
        image::Rgb([(x * 3) as u8, (y * 4) as u8, ((x + y) % 256) as u8])
    });
    let reply = editing(&server)
        .await
        .expand(pb::ExpandRequest {
            base_image: input(common::encode(
                &image::DynamicImage::ImageRgb8(photo.clone()),
                image::ImageFormat::Png,
            )),
            top_scale: Some(1.5),
            bottom_scale: Some(1.0),
            left_scale: Some(1.25),
            right_scale: None,
            ..Default::default()
        })
        .await
        .expect("expand succeeds")
        .into_inner();
    let task = reply.task.unwrap();
    assert_eq!(task.provider, "local");
    assert!(
        task.notes
            .iter()
            .any(|n| n.contains("without a generative model")),
        "{:?}",
        task.notes
    );
    let out = decode(&data_of(&reply.image.unwrap())).to_rgb8();
    assert_eq!(out.dimensions(), (80 + 20 + 40, 60 + 30));
    for (x, y, px) in photo.enumerate_pixels() {
        assert_eq!(out.get_pixel(x + 20, y + 30), px);
    }
    server.stop().await;
}

#[tokio::test]
async fn an_expansion_beyond_the_pixel_limit_is_refused() {
    let server = TestServer::start_with(|s| s.limits.max_pixels = 100_000).await;
    let err = editing(&server)
        .await
        .expand(pb::ExpandRequest {
            base_image: input(common::photo_png(200, 200)),
            top_scale: Some(2.0),
            bottom_scale: Some(2.0),
            left_scale: Some(2.0),
            right_scale: Some(2.0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        err.message().contains("limits.max_output_pixels"),
        "{}",
        err.message()
    );
    server.stop().await;
}

#[tokio::test]
async fn rest_remove_watermark_and_expand_answer_in_the_seed_task_shape() {
    if common::testdata("coffee_watermarked.png").is_none() {
        return;
    }
    let files = FileServer::start().await;
    let Some(server) =
        TestServer::with_models(|s| s.fetch.allow = vec!["127.0.0.1/32".into()]).await
    else {
        return;
    };
    let url = files.url("/files/coffee_watermarked.png");
    for (path, body) in [
        ("/remove_watermark", serde_json::json!({ "image_url": url })),
        (
            "/expand",
            serde_json::json!({ "base_image_url": url, "top_scale": 1.2, "bottom_scale": 1.0, "left_scale": 1.0, "right_scale": 1.0 }),
        ),
    ] {
        let res = server
            .http
            .post(server.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        let reply: serde_json::Value = res.json().await.unwrap();
        let result = reply["results"][0]["url"].as_str().unwrap();
        let image = decode(&common::result_bytes(&server.http, result).await);
        match path {
            "/expand" => assert_eq!((image.width(), image.height()), (600, 480)),
            _ => assert_eq!((image.width(), image.height()), (600, 400)),
        }
    }
    server.stop().await;
}
