//! The `aliyun-vision` provider end to end: a real server whose remove-background chain is
//! the viapi adapter, pointed at an emulator of the imageseg endpoint that checks every
//! signature, downloads the published input and serves a cut-out.

#[path = "emulators/aliyun_vision.rs"]
mod aliyun_vision_emulator;
mod common;

use std::time::{Duration, Instant};

use aliyun_vision_emulator::{Emulator, Fault, JobStep, disc_png};
use common::{TestServer, decode};
use imgforge::config::{BlobStoreSettings, Secret, Settings};
use imgforge::proto::v1 as pb;
use imgforge::providers::aliyun_vision::{Oversize, SegmentAction, SignatureVersion};
use pb::image_input::Source;
use pb::image_output::Location;
use tonic_types::StatusExt;

const ACCESS_KEY_ID: &str = "LTAI5tEmulatorAccessKey";
const ACCESS_KEY_SECRET: &str = "emulator-access-key-secret";
/// The test input: a 240×160 red disc (radius 40) on light grey.
const WIDTH: u32 = 240;
const HEIGHT: u32 = 160;

async fn emulator() -> Emulator {
    Emulator::start(ACCESS_KEY_ID, ACCESS_KEY_SECRET).await
}

/// A server whose remove_background chain is `aliyun-vision` alone, pointed at `emulator`,
/// unpaced, polling fast, with one attempt per call (faults are seen as they are).
async fn server(emulator: &Emulator, configure: impl FnOnce(&mut Settings)) -> TestServer {
    TestServer::start_with(|s| {
        emulator.configure(s);
        configure(s);
    })
    .await
}

fn request(bytes: Vec<u8>) -> pb::RemoveBackgroundRequest {
    pb::RemoveBackgroundRequest {
        image: Some(pb::ImageInput {
            source: Some(Source::Data(bytes)),
        }),
        ..Default::default()
    }
}

async fn remove(
    server: &TestServer,
    request: pb::RemoveBackgroundRequest,
) -> Result<pb::RemoveBackgroundResponse, tonic::Status> {
    pb::editing_service_client::EditingServiceClient::new(server.channel().await)
        .max_decoding_message_size(64 << 20)
        .remove_background(request)
        .await
        .map(tonic::Response::into_inner)
}

fn image_of(reply: &pb::RemoveBackgroundResponse) -> (image::DynamicImage, &pb::ImageOutput) {
    let output = reply.image.as_ref().expect("an image");
    match &output.location {
        Some(Location::Data(bytes)) => (decode(bytes), output),
        other => panic!("expected inline data, got {other:?}"),
    }
}

/// POSTs `/remove_bg` with the disc hosted by the emulator; status and JSON body.
async fn rest_remove_bg(
    server: &TestServer,
    emulator: &Emulator,
    extra: serde_json::Value,
) -> (u16, serde_json::Value) {
    let mut body = serde_json::json!({
        "image_url": emulator.host_fixture("disc.png", disc_png(WIDTH, HEIGHT)),
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    let res = server
        .http
        .post(server.url("/remove_bg"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn assert_disc_cut_out(cutout: &image::RgbaImage) {
    assert_eq!(cutout.dimensions(), (WIDTH, HEIGHT));
    assert_eq!(cutout.get_pixel(2, 2).0[3], 0, "background is transparent");
    assert_eq!(
        cutout.get_pixel(WIDTH / 2, HEIGHT / 2).0,
        [210, 30, 40, 255],
        "the disc is kept"
    );
}

fn assert_code(status: &tonic::Status, code: tonic::Code, needles: &[&str]) {
    assert_eq!(status.code(), code, "{}", status.message());
    for needle in needles {
        assert!(
            status.message().contains(needle),
            "{needle:?} in {:?}",
            status.message()
        );
    }
    let details = status.get_error_details();
    let info = details.error_info().expect("error info");
    assert_eq!(
        info.metadata.get("provider").map(String::as_str),
        Some("aliyun-vision")
    );
}

#[tokio::test]
async fn sync_cutout_signed_v3_over_grpc() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    let reply = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .expect("remove background succeeds");
    let task = reply.task.as_ref().unwrap();
    assert_eq!(task.provider, "aliyun-vision");
    assert_eq!(task.status, pb::TaskStatus::Succeeded as i32);
    let (image, output) = image_of(&reply);
    assert_eq!(output.media_type, "image/png");
    assert_disc_cut_out(&image.to_rgba8());

    let calls = emulator.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(
        (call.action.as_str(), call.signature),
        ("SegmentCommonImage", "v3")
    );
    assert!(!call.params.contains_key("ReturnForm"));
    assert_eq!(call.input.map(|(w, h, _)| (w, h)), Some((WIDTH, HEIGHT)));
    let url = &call.params["ImageURL"];
    assert!(url.contains("/blobs/provider-inputs/"), "{url}");
    for raw in emulator.raw_requests() {
        let text = format!("{raw:?}");
        assert!(
            !text.contains(ACCESS_KEY_SECRET),
            "the secret never travels"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn sync_cutout_signed_v1_with_a_security_token() {
    let emulator = emulator().await;
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.signature = SignatureVersion::V1;
        s.providers.aliyun_vision.security_token = Some(Secret::new("sts-token"));
    })
    .await;
    let reply = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .expect("remove background succeeds");
    assert_disc_cut_out(&image_of(&reply).0.to_rgba8());
    let call = &emulator.calls()[0];
    assert_eq!(call.signature, "v1");
    for (name, value) in [
        ("Action", "SegmentCommonImage"),
        ("Version", "2019-12-30"),
        ("Format", "JSON"),
        ("RegionId", "cn-shanghai"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SecurityToken", "sts-token"),
    ] {
        assert_eq!(
            call.params.get(name).map(String::as_str),
            Some(value),
            "{name}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn emulator_rejects_a_replayed_nonce_and_the_adapter_never_reuses_one() {
    let emulator = emulator().await;
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let server = server(&emulator, |s| {
            s.providers.aliyun_vision.signature = signature
        })
        .await;
        for _ in 0..2 {
            remove(&server, request(disc_png(WIDTH, HEIGHT)))
                .await
                .expect("remove background succeeds");
        }
        server.stop().await;
    }
    let calls = emulator.calls();
    assert_eq!(calls.len(), 4);
    let mut nonces: Vec<_> = calls.iter().map(|c| c.nonce.clone()).collect();
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "one nonce per call");
    for raw in emulator.raw_requests().iter().take(4) {
        assert_eq!(
            emulator.replay(raw).await,
            (400, "SignatureNonceUsed".to_owned())
        );
    }
}

#[tokio::test]
async fn return_forms_mask_crop_and_white_background() {
    let emulator = emulator().await;
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.action = SegmentAction::SegmentBody;
    })
    .await;
    let disc = || request(disc_png(WIDTH, HEIGHT));

    let mask = remove(
        &server,
        pb::RemoveBackgroundRequest {
            mode: pb::CutoutMode::Mask as i32,
            ..disc()
        },
    )
    .await
    .unwrap();
    let mask = image_of(&mask).0;
    let image::DynamicImage::ImageLuma8(mask) = mask else {
        panic!("a mask is grayscale, got {:?}", mask.color());
    };
    assert_eq!(mask.get_pixel(2, 2)[0], 0);
    assert_eq!(mask.get_pixel(WIDTH / 2, HEIGHT / 2)[0], 255);

    let cropped = remove(
        &server,
        pb::RemoveBackgroundRequest {
            crop_to_subject: true,
            ..disc()
        },
    )
    .await
    .unwrap();
    let cropped = image_of(&cropped).0;
    assert!(
        (79..=83).contains(&cropped.width()) && (79..=83).contains(&cropped.height()),
        "cropped to the disc: {}x{}",
        cropped.width(),
        cropped.height()
    );

    let white = remove(
        &server,
        pb::RemoveBackgroundRequest {
            mode: pb::CutoutMode::SolidBackground as i32,
            ..disc()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        image_of(&white).0.to_rgb8().get_pixel(2, 2).0,
        [255, 255, 255]
    );

    let forms: Vec<Option<String>> = emulator
        .calls()
        .iter()
        .map(|c| c.params.get("ReturnForm").cloned())
        .collect();
    assert_eq!(
        forms,
        [
            Some("mask".into()),
            Some("crop".into()),
            Some("whiteBK".into())
        ]
    );
    assert!(emulator.calls().iter().all(|c| c.action == "SegmentBody"));
    server.stop().await;
}

#[tokio::test]
async fn margins_colours_and_formats_are_rendered_locally() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    let reply = remove(
        &server,
        pb::RemoveBackgroundRequest {
            mode: pb::CutoutMode::SolidBackground as i32,
            background_color: "#0000ff".into(),
            crop_to_subject: true,
            crop_margin: 10,
            output: Some(pb::OutputOptions {
                format: pb::ImageFormat::Webp as i32,
                ..Default::default()
            }),
            ..request(disc_png(WIDTH, HEIGHT))
        },
    )
    .await
    .unwrap();
    let (image, output) = image_of(&reply);
    assert_eq!(output.media_type, "image/webp");
    assert!((99..=103).contains(&image.width()), "{}", image.width());
    let rgb = image.to_rgb8();
    assert_eq!(rgb.get_pixel(0, 0).0, [0, 0, 255]);
    let (cx, cy) = (image.width() / 2, image.height() / 2);
    assert_eq!(rgb.get_pixel(cx, cy).0, [210, 30, 40]);
    assert_eq!(emulator.calls()[0].params.get("ReturnForm"), None);
    server.stop().await;
}

#[tokio::test]
async fn hd_job_succeeds_after_polling() {
    let emulator = emulator().await;
    emulator.script_jobs(vec![
        JobStep::Queuing,
        JobStep::Processing,
        JobStep::Processing,
        JobStep::Success,
    ]);
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.action = SegmentAction::SegmentHdCommonImage;
    })
    .await;
    let reply = remove(
        &server,
        pb::RemoveBackgroundRequest {
            mode: pb::CutoutMode::Mask as i32,
            ..request(disc_png(WIDTH, HEIGHT))
        },
    )
    .await
    .expect("the job succeeds");
    // The HD action has no mask form: the mask comes from the cut-out's alpha.
    let mask = image_of(&reply).0.to_luma8();
    assert_eq!(mask.get_pixel(2, 2)[0], 0);
    assert_eq!(mask.get_pixel(WIDTH / 2, HEIGHT / 2)[0], 255);
    let calls = emulator.calls();
    let actions: Vec<&str> = calls.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "SegmentHDCommonImage",
            "GetAsyncJobResult",
            "GetAsyncJobResult",
            "GetAsyncJobResult",
            "GetAsyncJobResult"
        ]
    );
    assert!(
        calls[0].params.contains_key("ImageUrl"),
        "HD spells it ImageUrl"
    );
    assert!(!calls[0].params.contains_key("ReturnForm"));
    server.stop().await;
}

#[tokio::test]
async fn hd_job_failures_map_their_error_code() {
    let emulator = emulator().await;
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.action = SegmentAction::SegmentHdCommonImage;
        s.providers.aliyun_vision.job_timeout_secs = 1;
    })
    .await;
    let cases = [
        (
            JobStep::Failed {
                status: "PROCESS_FAILED",
                code: "InvalidImage.Resolution",
                message: "image too large",
            },
            tonic::Code::InvalidArgument,
            "InvalidImage.Resolution",
        ),
        (
            JobStep::Failed {
                status: "TIMEOUT_FAILED",
                code: "",
                message: "",
            },
            tonic::Code::Unavailable,
            "TIMEOUT_FAILED",
        ),
        (
            JobStep::Failed {
                status: "LIMIT_RETRY_FAILED",
                code: "AlgoError",
                message: "failed",
            },
            tonic::Code::Unavailable,
            "LIMIT_RETRY_FAILED",
        ),
        (
            JobStep::Processing,
            tonic::Code::DeadlineExceeded,
            "job_timeout_secs",
        ),
    ];
    for (step, code, needle) in cases {
        emulator.script_jobs(vec![JobStep::Queuing, step]);
        let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
            .await
            .unwrap_err();
        assert_code(&status, code, &[needle]);
    }
    server.stop().await;
}

#[tokio::test]
async fn throttling_is_resource_exhausted_with_its_retry_after() {
    let emulator = emulator().await;
    emulator.fail_always(Fault::Throttle {
        retry_after_secs: 7,
    });
    let server = server(&emulator, |_| {}).await;
    let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .unwrap_err();
    assert_code(
        &status,
        tonic::Code::ResourceExhausted,
        &["Throttling.User", "retry after 7 s"],
    );
    // Backpressure is 429 on every path (issue 9), whatever status the seed uses otherwise.
    let (code, body) = rest_remove_bg(&server, &emulator, serde_json::json!({})).await;
    assert_eq!(code, 429, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("throttling"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn server_errors_and_malformed_answers_are_unavailable() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    for (fault, needle) in [
        (Fault::Status(500), "InternalError"),
        (Fault::Status(503), "ServiceUnavailable"),
        (Fault::MalformedJson, "malformed"),
    ] {
        emulator.push_fault(fault.clone());
        let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
            .await
            .unwrap_err();
        assert_code(&status, tonic::Code::Unavailable, &[needle]);
        emulator.push_fault(fault);
        let (code, body) = rest_remove_bg(&server, &emulator, serde_json::json!({})).await;
        assert_eq!(code, 500, "{body}");
        assert!(body["error"].as_str().unwrap().contains(needle), "{body}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_slow_answer_times_out_as_unavailable() {
    let emulator = emulator().await;
    emulator.push_fault(Fault::Slow(Duration::from_secs(4)));
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.request_timeout_secs = 1;
    })
    .await;
    let started = Instant::now();
    let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_code(
        &status,
        tonic::Code::Unavailable,
        &["did not answer SegmentCommonImage within 1 s"],
    );
    server.stop().await;
}

#[tokio::test]
async fn a_bad_signature_is_a_failed_precondition_naming_the_secret() {
    let emulator = emulator().await;
    for signature in [SignatureVersion::V3, SignatureVersion::V1] {
        let server = server(&emulator, |s| {
            s.providers.aliyun_vision.signature = signature;
            s.providers.aliyun_vision.access_key_secret = Secret::new("not-the-secret");
        })
        .await;
        let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
            .await
            .unwrap_err();
        assert_code(
            &status,
            tonic::Code::FailedPrecondition,
            &[
                "SignatureDoesNotMatch",
                "providers.aliyun_vision.access_key_secret",
            ],
        );
        assert!(!status.message().contains("not-the-secret"));
        let (code, body) = rest_remove_bg(&server, &emulator, serde_json::json!({})).await;
        assert_eq!(code, 400, "{body}");
        server.stop().await;
    }
    let server = server(&emulator, |s| {
        s.providers.aliyun_vision.access_key_id = "LTAI-unknown".into();
    })
    .await;
    let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .unwrap_err();
    assert_code(
        &status,
        tonic::Code::FailedPrecondition,
        &[
            "InvalidAccessKeyId.NotFound",
            "providers.aliyun_vision.access_key_id",
        ],
    );
    server.stop().await;
    assert!(emulator.calls().is_empty(), "nothing unsigned got through");
}

#[tokio::test]
async fn refused_images_and_content_are_told_apart() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    emulator.push_fault(Fault::Pop {
        status: 400,
        code: "InvalidImage.Format",
        message: "The image format is not supported.",
    });
    let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .unwrap_err();
    assert_code(
        &status,
        tonic::Code::InvalidArgument,
        &["InvalidImage.Format"],
    );
    let details = status.get_error_details();
    assert_eq!(
        details.bad_request().unwrap().field_violations[0].field,
        "image"
    );

    emulator.push_fault(Fault::Pop {
        status: 400,
        code: "DataInspectionFailed",
        message: "Input data may contain inappropriate content.",
    });
    let status = remove(&server, request(disc_png(WIDTH, HEIGHT)))
        .await
        .unwrap_err();
    assert_code(&status, tonic::Code::FailedPrecondition, &["content check"]);
    assert_eq!(
        status.get_error_details().error_info().unwrap().reason,
        "content-rejected"
    );
    emulator.push_fault(Fault::Pop {
        status: 400,
        code: "DataInspectionFailed",
        message: "Input data may contain inappropriate content.",
    });
    let (code, body) = rest_remove_bg(&server, &emulator, serde_json::json!({})).await;
    assert_eq!(code, 400, "{body}");
    server.stop().await;
}

/// The reply's shape and the cut-out over REST are the conformance suite's; this is the
/// mapping of the REST `mode` onto viapi's `ReturnForm`.
#[tokio::test]
async fn rest_mode_mask_asks_viapi_for_the_mask_form() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    let (code, body) =
        rest_remove_bg(&server, &emulator, serde_json::json!({"mode": "mask"})).await;
    assert_eq!(code, 200, "{body}");
    let mask = decode(&common::data_uri_bytes(
        body["results"][0]["url"].as_str().unwrap(),
    ));
    assert_eq!(mask.to_luma8().get_pixel(WIDTH / 2, HEIGHT / 2)[0], 255);
    let calls = emulator.calls();
    assert_eq!(
        calls[0].params.get("ReturnForm").map(String::as_str),
        Some("mask")
    );
    server.stop().await;
}

#[tokio::test]
async fn oversized_inputs_are_downscaled_or_refused() {
    let emulator = emulator().await;
    let server = server(&emulator, |_| {}).await;
    let reply = remove(&server, request(disc_png(2400, 1600)))
        .await
        .expect("downscaled and cut out");
    let (image, _) = image_of(&reply);
    assert_eq!((image.width(), image.height()), (1999, 1332));
    let input = emulator.calls()[0].input.unwrap();
    assert_eq!((input.0, input.1), (1999, 1332));
    server.stop().await;

    let refusing = server_with_refusal(&emulator).await;
    let status = remove(&refusing, request(disc_png(2400, 1600)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert!(status.message().contains("1999 px"), "{}", status.message());
    assert_eq!(emulator.calls().len(), 1, "nothing was sent");
    refusing.stop().await;
}

async fn server_with_refusal(emulator: &Emulator) -> TestServer {
    server(emulator, |s| {
        s.providers.aliyun_vision.oversize = Oversize::Refuse
    })
    .await
}

#[tokio::test]
async fn the_local_engine_answers_when_aliyun_vision_fails() {
    let photo = photo!("astronaut.png");
    let emulator = emulator().await;
    emulator.fail_always(Fault::Status(503));
    let Some(server) = TestServer::with_models(|s| {
        emulator.configure(s);
        s.providers.chains.insert(
            "remove_background".into(),
            vec!["aliyun-vision".into(), "local".into()],
        );
    })
    .await
    else {
        return;
    };
    let reply = remove(&server, request(photo))
        .await
        .expect("the local engine answers");
    assert_eq!(reply.task.unwrap().provider, "local");
    assert_eq!(
        emulator.raw_requests().len(),
        1,
        "aliyun-vision was tried first"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_server_does_not_start_without_an_access_key() {
    let mut settings = Settings::embedded();
    settings.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    settings.server.http_addr = "127.0.0.1:0".parse().unwrap();
    settings.blob_store = BlobStoreSettings::memory();
    settings
        .providers
        .chains
        .insert("remove_background".into(), vec!["aliyun-vision".into()]);
    let err = imgforge::server::start(settings)
        .await
        .err()
        .expect("refused");
    let message = format!("{err:#}");
    assert!(
        message.contains("providers.aliyun_vision.access_key_id"),
        "{message}"
    );
}
