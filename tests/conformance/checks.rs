//! The checks every provider must pass, for each operation it implements. Each takes a
//! [`Subject`] and knows nothing of which provider it is.

use std::time::{Duration, Instant};

use image::DynamicImage;
use imgforge::proto::v1 as pb;
use pb::image_output::Location;
use serde_json::Value;
use tonic_types::StatusExt;

use crate::common;
use crate::ops::{Op, RestShape, create_character_rest};
use crate::subject::Subject;

const NOT_AN_IMAGE: &[u8] = b"this is not an image, whatever its name says";

/// Every operation answers gRPC with a succeeded task of the provider's, and its result
/// URLs serve decodable images of the expected size and media type.
pub async fn grpc_replies_report_the_task_and_serve_their_images(subject: &Subject) {
    for &op in subject.ops() {
        let reply = op
            .grpc(subject.channel().await, subject.images(op), None)
            .await
            .unwrap_or_else(|e| panic!("{op:?} on {}: {e:?}", subject.provider()));
        assert_eq!(reply.provider, subject.provider(), "{op:?}");
        assert_eq!(reply.images.len(), op.count(), "{op:?}");
        match (&reply.task, op) {
            (None, Op::CreateCharacter) => {}
            (Some(task), _) => assert_task(task, reply.images.len(), op),
            (None, _) => panic!("{op:?}: no task in the reply"),
        }
        for output in &reply.images {
            let Some(Location::Url(url)) = &output.location else {
                panic!("{op:?}: results are delivered as URLs here");
            };
            assert!(output.url_expires_at.is_some(), "{op:?}: URL expiry");
            let (bytes, image) = fetch_image(subject, url, op).await;
            assert_eq!(
                (image.width(), image.height()),
                (output.width, output.height),
                "{op:?}: reported size"
            );
            assert_eq!(output.media_type, media_type(&bytes), "{op:?}");
        }
    }
}

/// Every REST path answers in its seed's documented shape, and its result URLs serve
/// decodable images of the expected size.
pub async fn rest_replies_keep_the_seed_shapes_and_serve_their_images(subject: &Subject) {
    for &op in subject.ops() {
        let (status, body) = op
            .rest(&subject.server, &subject.files, subject.images(op))
            .await;
        assert_eq!(status, 200, "{op:?} on {}: {body}", subject.provider());
        let urls: Vec<&str> = match op.rest_shape() {
            RestShape::Task => {
                assert_seed_task_fields(&body, op);
                let results = body["results"].as_array().expect("results");
                assert_eq!(results.len(), op.count(), "{op:?}: {body}");
                let metrics = &body["task_metrics"];
                assert_eq!(metrics["SUCCEEDED"], op.count(), "{op:?}: {body}");
                assert_eq!(
                    metrics["TOTAL"].as_u64(),
                    Some(
                        metrics["SUCCEEDED"].as_u64().unwrap()
                            + metrics["FAILED"].as_u64().unwrap()
                    ),
                    "{op:?}: {body}"
                );
                results.iter().map(|r| r["url"].as_str().unwrap()).collect()
            }
            RestShape::Clothes => {
                assert_seed_task_fields(&body, op);
                assert!(body.get("results").is_none(), "{body}");
                vec![body["image_url"].as_str().expect("image_url")]
            }
            RestShape::Character => {
                assert_eq!(body["code"], 0, "{body}");
                assert_eq!(body["desc"], "success", "{body}");
                let message = &body["message"];
                let url = message["character_image_url"].as_str().expect("a URL");
                // Stored results are also the seed's OSS URL.
                assert_eq!(message["character_image_oss_url"].as_str(), Some(url));
                vec![url]
            }
        };
        for url in urls {
            fetch_image(subject, url, op).await;
        }
    }
}

/// Remove background and create character put an opaque subject on a transparent
/// background, whichever provider made it.
pub async fn cut_outs_are_opaque_subjects_on_transparency(subject: &Subject) {
    for &op in subject.ops().iter().filter(|op| op.cuts_out()) {
        let reply = op
            .grpc(subject.channel().await, subject.images(op), None)
            .await
            .unwrap_or_else(|e| panic!("{op:?} on {}: {e:?}", subject.provider()));
        if op == Op::CreateCharacter && !subject.segmentation {
            assert!(
                reply.notes.iter().any(|n| n.contains("segmentation model")),
                "{op:?}: the reply says the background was kept: {:?}",
                reply.notes
            );
            common::unavailable(format_args!(
                "the transparency check of {op:?} on {}: no local segmentation model to cut \
                 the result out",
                subject.provider()
            ));
            continue;
        }
        let Some(Location::Url(url)) = &reply.images[0].location else {
            panic!("{op:?}: a URL result");
        };
        let (_, image) = fetch_image(subject, url, op).await;
        assert!(
            image.color().has_alpha(),
            "{op:?}: {:?}, notes {:?}",
            image.color(),
            reply.notes
        );
        let rgba = image.to_rgba8();
        let all = (rgba.width() * rgba.height()) as usize;
        let clear = rgba.pixels().filter(|p| p[3] == 0).count();
        let solid = rgba.pixels().filter(|p| p[3] == 255).count();
        assert!(
            clear * 20 > all && solid * 20 > all,
            "{op:?}: {clear} transparent and {solid} opaque pixels of {all}"
        );
    }
}

/// Bytes that are no image are refused before any provider sees them.
pub async fn non_images_are_refused_alike(subject: &Subject) {
    for &op in subject.ops() {
        let mut images = subject.images(op);
        images[0] = Some(NOT_AN_IMAGE.to_vec());
        assert_refused(subject, op, images, "invalid-argument").await;
    }
}

/// Leaving out any image an operation needs is refused, naming the field.
pub async fn missing_images_are_refused_naming_the_field(subject: &Subject) {
    for &op in subject.ops() {
        for (index, slot) in op.slots().iter().enumerate() {
            let mut images = subject.images(op);
            images[index] = None;
            let before = subject.backend_calls();
            let status = op
                .grpc(subject.channel().await, images.clone(), None)
                .await
                .err()
                .unwrap_or_else(|| panic!("{op:?} without {}", slot.grpc));
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
            let details = status.get_error_details();
            let violations = &details
                .bad_request()
                .expect("field violations")
                .field_violations;
            assert_eq!(violations[0].field, slot.grpc, "{op:?}");

            let (code, body) = op.rest(&subject.server, &subject.files, images).await;
            assert_eq!(code, 400, "{op:?} without {}: {body}", slot.rest);
            let message = error_message(op, &body);
            if op.rest_shape() != RestShape::Character {
                assert!(message.contains(slot.rest), "{op:?}: {message}");
            }
            assert_eq!(
                subject.backend_calls(),
                before,
                "{op:?}: the provider was called"
            );
        }
    }
}

/// A decompression bomb is refused as too large, and a character photo over seed 000's
/// 5 MB as well, before any provider sees them.
pub async fn oversized_inputs_are_refused_alike(subject: &Subject) {
    for &op in subject.ops() {
        let mut images = subject.images(op);
        images[0] = Some(common::png_bomb(40_000, 40_000));
        assert_refused(subject, op, images, "payload-too-large").await;
        if op == Op::CreateCharacter {
            let mut images = subject.images(op);
            images[0] = Some(noise_png_over_5_mb());
            assert_refused(subject, op, images, "payload-too-large").await;
        }
    }
}

/// Create character accepts only seed 000's presets.
pub async fn unknown_style_presets_are_refused(subject: &Subject) {
    let op = Op::CreateCharacter;
    assert!(subject.ops().contains(&op));
    let before = subject.backend_calls();
    let photo = subject.images(op).remove(0);
    let status = pb::character_service_client::CharacterServiceClient::new(subject.channel().await)
        .create_character(pb::CreateCharacterRequest {
            photo: photo.clone().map(|b| pb::ImageInput {
                source: Some(pb::image_input::Source::Data(b)),
            }),
            style_preset: 42,
            output: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("style_preset"), "{status:?}");

    let (code, body) = create_character_rest(&subject.server, photo, "anime").await;
    assert_eq!(code, 400, "{body}");
    assert!(error_message(op, &body).contains("style_preset"), "{body}");
    assert_eq!(subject.backend_calls(), before, "the provider was called");
}

/// A caller's deadline ends the call promptly with DEADLINE_EXCEEDED (or CANCELLED), leaves
/// no provider task running, and the next call is served.
pub async fn a_deadline_ends_the_call_and_leaks_no_task(subject: &Subject) {
    for &op in subject.ops() {
        subject.stall();
        let calls = subject.backend_calls();
        let deadline = subject.short_deadline();
        let started = Instant::now();
        let status = op
            .grpc(subject.channel().await, subject.images(op), Some(deadline))
            .await
            .err()
            .unwrap_or_else(|| panic!("{op:?} finished within {deadline:?}"));
        assert!(
            matches!(
                status.code(),
                tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
            ),
            "{op:?}: {status:?}"
        );
        assert!(
            started.elapsed() < deadline + Duration::from_secs(2),
            "{op:?} hung for {:?}",
            started.elapsed()
        );
        // A remote deadline must have caught the provider at work, or nothing was tested.
        assert!(
            subject.is_local() || subject.backend_calls() > calls,
            "{op:?}: the deadline passed before the provider was called"
        );
        subject.resume();
        wait_until(|| subject.leaked_tasks().is_empty(), op).await;
        op.grpc(subject.channel().await, subject.images(op), None)
            .await
            .unwrap_or_else(|e| panic!("{op:?} after a deadline: {e:?}"));
    }
    subject.server.assert_alive().await;
}

async fn wait_until(done: impl Fn() -> bool, op: Op) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{op:?}: provider task still running 5 s after the deadline");
}

/// `images` are refused on both transports with the same code, before the provider is called.
async fn assert_refused(subject: &Subject, op: Op, images: Vec<Option<Vec<u8>>>, reason: &str) {
    let before = subject.backend_calls();
    let status = op
        .grpc(subject.channel().await, images.clone(), None)
        .await
        .err()
        .unwrap_or_else(|| panic!("{op:?} accepted a bad {}", op.slots()[0].grpc));
    assert_eq!(
        status.code(),
        tonic::Code::InvalidArgument,
        "{op:?}: {status:?}"
    );
    let details = status.get_error_details();
    let info = details.error_info().expect("error info");
    assert_eq!(info.reason, reason, "{op:?}: {status:?}");

    let (code, body) = op.rest(&subject.server, &subject.files, images).await;
    assert_eq!(code, 400, "{op:?}: {body}");
    assert!(!error_message(op, &body).is_empty(), "{op:?}: {body}");
    assert_eq!(
        subject.backend_calls(),
        before,
        "{op:?}: the provider was called"
    );
}

/// The message of a REST error in the path's seed envelope.
fn error_message(op: Op, body: &Value) -> String {
    let message = match op.rest_shape() {
        RestShape::Character => {
            assert_eq!(body["code"], 1, "{body}");
            assert_eq!(body["desc"], "error", "{body}");
            &body["message"]
        }
        RestShape::Task | RestShape::Clothes => &body["error"],
    };
    message.as_str().expect("an error message").to_owned()
}

/// The fields seed 002's task replies share, in DashScope's formats.
fn assert_seed_task_fields(body: &Value, op: Op) {
    assert!(
        !body["task_id"].as_str().unwrap_or_default().is_empty(),
        "{op:?}: {body}"
    );
    assert_eq!(body["task_status"], "SUCCEEDED", "{op:?}: {body}");
    for key in ["submit_time", "scheduled_time", "end_time"] {
        let time = body[key].as_str().unwrap_or_default();
        // 2025-07-08 09:45:19.598
        let shape: String = time
            .chars()
            .map(|c| if c.is_ascii_digit() { '0' } else { c })
            .collect();
        assert_eq!(shape, "0000-00-00 00:00:00.000", "{op:?} {key}: {body}");
    }
}

fn assert_task(task: &pb::TaskReport, images: usize, op: Op) {
    assert_eq!(task.status, pb::TaskStatus::Succeeded as i32, "{op:?}");
    assert!(!task.task_id.is_empty(), "{op:?}");
    let seconds = |t: &Option<prost_types::Timestamp>| {
        t.as_ref()
            .map(|t| t.seconds)
            .unwrap_or_else(|| panic!("{op:?}: a time is missing"))
    };
    let (submit, scheduled, end) = (
        seconds(&task.submit_time),
        seconds(&task.scheduled_time),
        seconds(&task.end_time),
    );
    assert!(submit <= scheduled && scheduled <= end, "{op:?}: {task:?}");
    let metrics = task.metrics.as_ref().expect("metrics");
    assert_eq!(metrics.succeeded as usize, images, "{op:?}");
    assert_eq!(metrics.total, metrics.succeeded + metrics.failed, "{op:?}");
}

/// The image behind a result URL, checked to be of a sensible size for `op`.
async fn fetch_image(subject: &Subject, url: &str, op: Op) -> (Vec<u8>, DynamicImage) {
    let bytes = common::result_bytes(&subject.server.http, url).await;
    let image = image::load_from_memory(&bytes)
        .unwrap_or_else(|e| panic!("{op:?}: the result at {url} does not decode: {e}"));
    let (width, height) = op.expected_size(subject.person_size());
    let (w, h) = (image.width(), image.height());
    // Providers may round or fit differently, but not change the picture's proportions or
    // scale it much.
    let near = |got: u32, want: u32| got * 2 >= want && got <= want * 2;
    let aspect = |w: u32, h: u32| f64::from(w) / f64::from(h);
    assert!(
        near(w, width)
            && near(h, height)
            && (aspect(w, h) / aspect(width, height) - 1.0).abs() < 0.05,
        "{op:?}: {w}x{h} where about {width}x{height} was expected"
    );
    (bytes, image)
}

fn media_type(bytes: &[u8]) -> &'static str {
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Png) => "image/png",
        Ok(image::ImageFormat::Jpeg) => "image/jpeg",
        Ok(image::ImageFormat::WebP) => "image/webp",
        other => panic!("unexpected result format {other:?}"),
    }
}

/// A real PNG photo just over seed 000's 5 MB: noise does not compress.
fn noise_png_over_5_mb() -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let image = image::RgbImage::from_fn(1400, 1400, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let png = common::encode(&DynamicImage::ImageRgb8(image), image::ImageFormat::Png);
    assert!(png.len() > 5 * 1024 * 1024, "{} bytes", png.len());
    png
}
