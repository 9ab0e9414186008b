//! The DashScope adapter end to end: the real server, its gRPC and REST transports, the
//! adapter pointed at the protocol emulator on loopback, and every scripted fault.

mod common;
#[path = "emulators/dashscope.rs"]
mod emulator;

use std::io::Cursor;
use std::time::{Duration, Instant};

use common::{TestServer, inline as data, photo_png as png};
use emulator::{DashScopeEmulator, SubmitScript, TaskScript};
use imgforge::config::{Secret, Settings};
use imgforge::proto::v1 as pb;
use imgforge::proto::v1::character_service_client::CharacterServiceClient;
use imgforge::proto::v1::editing_service_client::EditingServiceClient;
use imgforge::providers::dashscope::{InputDelivery, ModelLimits};
use serde_json::{Value, json};
use tonic::transport::Channel;

const IMAGE_EDIT: &str = "wanx2.1-imageedit";

async fn start(emulator: &DashScopeEmulator) -> TestServer {
    TestServer::start_with(|s| emulator.configure(s, &[])).await
}

async fn editing(server: &TestServer) -> EditingServiceClient<Channel> {
    EditingServiceClient::new(server.channel().await).max_decoding_message_size(64 << 20)
}

fn fix_request(bytes: Vec<u8>) -> pb::FixRequest {
    pb::FixRequest {
        base_image: data(bytes),
        prompt: String::new(),
        upscale_factor: None,
        output: None,
    }
}

fn size_of(image: &pb::ImageOutput) -> (u32, u32) {
    let Some(pb::image_output::Location::Data(bytes)) = &image.location else {
        panic!("inline image expected");
    };
    let decoded = common::decode(bytes);
    assert_eq!(
        (decoded.width(), decoded.height()),
        (image.width, image.height)
    );
    (image.width, image.height)
}

#[tokio::test]
async fn fix_runs_super_resolution_through_grpc_and_reports_the_task() {
    let emulator = DashScopeEmulator::start().await;
    let server = start(&emulator).await;
    let reply = editing(&server)
        .await
        .fix(fix_request(png(600, 520)))
        .await
        .expect("fix succeeds")
        .into_inner();
    // The default factor, 2, doubles each side.
    assert_eq!(size_of(reply.image.as_ref().unwrap()), (1200, 1040));
    let task = reply.task.unwrap();
    assert_eq!(task.provider, "dashscope");
    assert_eq!(task.metrics.unwrap().succeeded, 1);
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.model, IMAGE_EDIT);
    assert_eq!(sent.body["input"]["function"], "super_resolution");
    assert_eq!(sent.body["input"]["prompt"], "图像超分。");
    assert_eq!(sent.body["parameters"]["upscale_factor"], 2);
    assert_eq!(sent.headers["x-dashscope-async"], "enable");
    // PENDING → RUNNING → SUCCEEDED: three queries.
    assert!(emulator.polls() >= 3, "polls {}", emulator.polls());
    // The task id is DashScope's own.
    assert_eq!(task.task_id.len(), 36, "{}", task.task_id);
}

#[tokio::test]
async fn expand_over_rest_sends_the_seeds_scales_and_grows_each_side() {
    let emulator = DashScopeEmulator::start().await;
    let files = common::FileServer::start().await;
    let server = start(&emulator).await;
    let Some(_) = common::testdata("astronaut.png") else {
        return;
    };
    let res = server
        .http
        .post(server.url("/expand"))
        .json(&json!({
            "base_image_url": files.url("/files/astronaut.png"),
            "top_scale": 2.0, "bottom_scale": 1.0, "left_scale": "1.5"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.body["input"]["function"], "expand");
    assert_eq!(sent.body["input"]["prompt"], "按照原来图片背景来操作扩展");
    assert_eq!(sent.body["parameters"]["right_scale"], 1.5);
    // astronaut is 512 × 512: 512·(1.5 + 1.5 − 1) wide, 512·(2 + 1 − 1) high.
    let url = body["results"][0]["url"].as_str().unwrap();
    let image = common::decode(&common::data_uri_bytes(url));
    assert_eq!((image.width(), image.height()), (1024, 1024));
}

#[tokio::test]
async fn expand_beyond_the_models_range_is_explained_without_calling_it() {
    let emulator = DashScopeEmulator::start().await;
    let server = start(&emulator).await;
    let err = editing(&server)
        .await
        .expand(pb::ExpandRequest {
            base_image: data(png(600, 600)),
            top_scale: Some(2.5),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("top_scale is 2.5"),
        "{}",
        err.message()
    );
    assert!(emulator.submitted().is_empty());
}

#[tokio::test]
async fn small_inputs_are_fitted_to_the_models_limits_and_the_reply_says_so() {
    let emulator = DashScopeEmulator::start().await;
    let server = start(&emulator).await;
    let reply = editing(&server)
        .await
        .remove_watermark(pb::RemoveWatermarkRequest {
            image: data(png(300, 200)),
            output: None,
            mask: None,
        })
        .await
        .expect("watermark removal succeeds")
        .into_inner();
    // 300 × 200 → 768 × 512 (shortest side brought to 512).
    assert_eq!(size_of(reply.image.as_ref().unwrap()), (768, 512));
    let notes = reply.task.unwrap().notes;
    assert!(
        notes.iter().any(|n| n.contains("resized from 300x200")),
        "{notes:?}"
    );
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.body["input"]["function"], "remove_watermark");
    assert_eq!(sent.body["input"]["prompt"], "去除图像中的文字");
}

#[tokio::test]
async fn change_clothes_over_rest_sends_every_garment_to_aitryon() {
    let emulator = DashScopeEmulator::start().await;
    let files = common::FileServer::start().await;
    let server = start(&emulator).await;
    let Some(_) = common::testdata("astronaut.png") else {
        return;
    };
    let res = server
        .http
        .post(server.url("/change_cloth"))
        .json(&json!({
            "person_image_url": files.url("/files/astronaut.png"),
            "top_garment_url": files.url("/files/chelsea.png"),
            "bottom_garment_url": files.url("/files/coffee.png"),
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.model, "aitryon-plus");
    assert_eq!(sent.body["parameters"]["restore_face"], true);
    // The emulator downloaded all three inputs from the bridge's signed links.
    for field in ["person_image_url", "top_garment_url", "bottom_garment_url"] {
        let url = sent.body["input"][field].as_str().unwrap();
        assert!(url.contains("/blobs/provider-inputs/"), "{field}: {url}");
    }
}

/// A subject to put on "a beach", `n` results asked for.
fn to_a_beach(n: u32) -> pb::ChangeBackgroundRequest {
    pb::ChangeBackgroundRequest {
        base_image: data(png(400, 300)),
        ref_image: data(png(640, 480)),
        ref_prompt: "a beach".into(),
        n: Some(n),
        ..Default::default()
    }
}

#[tokio::test]
async fn change_background_asks_for_n_results_and_keeps_partial_success() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(
        "wanx-background-generation-v2",
        TaskScript::Partial { ok: 2, failed: 1 },
    );
    let server = start(&emulator).await;
    let reply = editing(&server)
        .await
        .change_background(to_a_beach(3))
        .await
        .expect("partial success is success")
        .into_inner();
    assert_eq!(reply.images.len(), 2);
    let task = reply.task.unwrap();
    let metrics = task.metrics.unwrap();
    assert_eq!(
        (metrics.total, metrics.succeeded, metrics.failed),
        (3, 2, 1)
    );
    assert!(
        task.notes
            .iter()
            .any(|n| n.contains("made 2 of 3") && n.contains("InternalError.Timeout")),
        "{:?}",
        task.notes
    );
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.body["parameters"]["n"], 3);
    assert_eq!(sent.body["parameters"]["model_version"], "v3");
    assert_eq!(sent.body["input"]["ref_prompt"], "a beach");
}

#[tokio::test]
async fn change_background_without_the_segmentation_model_sends_the_whole_base_and_says_so() {
    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.cutout_subject = true;
    })
    .await;
    let reply = editing(&server)
        .await
        .change_background(to_a_beach(1))
        .await
        .expect("the call works without the local model")
        .into_inner();
    assert_eq!(reply.images.len(), 1);
    let notes = reply.task.unwrap().notes;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("whole base image") && n.contains("segmentation model")),
        "{notes:?}"
    );
    assert_eq!(emulator.submitted().len(), 1);
}

#[tokio::test]
async fn create_character_uses_style_repaint_with_the_presets_style() {
    let emulator = DashScopeEmulator::start().await;
    let server = start(&emulator).await;
    let mut client = CharacterServiceClient::new(server.channel().await);
    let jpeg = {
        let image = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
            600,
            800,
            image::Rgb([200, 150, 120]),
        ));
        let mut out = Vec::new();
        image
            .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Jpeg)
            .unwrap();
        out
    };
    let reply = client
        .create_character(pb::CreateCharacterRequest {
            photo: data(jpeg),
            style_preset: pb::StylePreset::Cartoon as i32,
            output: None,
        })
        .await
        .expect("character")
        .into_inner();
    assert_eq!(reply.provider, "dashscope");
    let sent = &emulator.submitted()[0];
    assert_eq!(sent.model, "wanx-style-repaint-v1");
    assert_eq!(sent.body["input"]["style_index"], 7);
    // The preprocessed photo (fitted inside 1024, which keeps 600 × 800) went up.
    let image = reply.image.unwrap();
    assert_eq!((image.width, image.height), (600, 800));
    // No segmentation model here: the whole repainted picture comes back, and the reply says
    // why (the conformance suite checks the cut-out where the model is installed).
    assert!(
        reply.notes.iter().any(|n| n.contains("segmentation model")),
        "{:?}",
        reply.notes
    );
}

#[tokio::test]
async fn a_failed_task_with_a_bad_parameter_is_invalid_argument_on_grpc_and_400_on_rest() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(
        IMAGE_EDIT,
        TaskScript::Fail {
            code: "InvalidParameter".into(),
            message: "image too blurry".into(),
        },
    );
    let files = common::FileServer::start().await;
    let server = start(&emulator).await;
    let err = editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("image too blurry"),
        "{}",
        err.message()
    );
    assert_eq!(emulator.submitted().len(), 1, "not retried");
    if common::testdata("astronaut.png").is_some() {
        let res = server
            .http
            .post(server.url("/fix"))
            .json(&json!({ "base_image_url": files.url("/files/astronaut.png") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("image too blurry"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn content_rejections_are_their_own_non_retried_error() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(
        IMAGE_EDIT,
        TaskScript::Fail {
            code: "DataInspectionFailed".into(),
            message: "Input data may contain inappropriate content.".into(),
        },
    );
    let server = start(&emulator).await;
    let err = editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    use tonic_types::StatusExt;
    let info = err.get_error_details().error_info().cloned().unwrap();
    assert_eq!(info.reason, "content-rejected");
    assert_eq!(emulator.submitted().len(), 1);
}

#[tokio::test]
async fn throttled_submits_are_retried_after_retry_after() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script_submits(
        IMAGE_EDIT,
        vec![SubmitScript::Error {
            status: 429,
            code: "Throttling.RateQuota".into(),
            retry_after: Some(1),
        }],
    );
    let server = start(&emulator).await;
    let started = Instant::now();
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("the retry succeeds");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(emulator.submitted().len(), 1);
}

#[tokio::test]
async fn server_errors_and_garbage_are_retried_until_the_budget_runs_out() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script_submits(
        IMAGE_EDIT,
        vec![
            SubmitScript::Error {
                status: 503,
                code: "ServiceUnavailable".into(),
                retry_after: None,
            },
            SubmitScript::Garbage,
        ],
    );
    let server = start(&emulator).await;
    let mut client = editing(&server).await;
    client
        .fix(fix_request(png(600, 600)))
        .await
        .expect("third attempt succeeds");

    emulator.script_submits(
        IMAGE_EDIT,
        vec![
            SubmitScript::Error {
                status: 500,
                code: "InternalError".into(),
                retry_after: None,
            };
            3
        ],
    );
    let err = client.fix(fix_request(png(600, 600))).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(err.message().contains("InternalError"), "{}", err.message());
    server.assert_alive().await;
}

#[tokio::test]
async fn garbled_poll_answers_are_polled_again() {
    let emulator = DashScopeEmulator::start().await;
    emulator.garble_polls(2);
    let server = start(&emulator).await;
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("polling survives two bad answers");
    assert_eq!(
        emulator.submitted().len(),
        1,
        "the task was not submitted twice"
    );
}

#[tokio::test]
async fn a_slow_submit_times_out_and_is_retried() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script_submits(IMAGE_EDIT, vec![SubmitScript::Slow(Duration::from_secs(3))]);
    let server = start(&emulator).await;
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("the second attempt succeeds");
}

#[tokio::test]
async fn a_vanished_task_is_unavailable() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(IMAGE_EDIT, TaskScript::Vanish);
    let server = start(&emulator).await;
    let err = editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable);
    assert!(
        err.message().contains("no longer knows task"),
        "{}",
        err.message()
    );
}

#[tokio::test]
async fn a_task_that_never_ends_is_cancelled_at_its_deadline() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(IMAGE_EDIT, TaskScript::NeverEnds);
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.task_timeout_secs = 1;
        s.providers.resilience.max_attempts = 1;
    })
    .await;
    let err = editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded);
    wait_until(|| emulator.unfinished().is_empty()).await;
    assert_eq!(emulator.cancels().len(), 1);
}

async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 5 s");
}

#[tokio::test]
async fn a_refused_api_key_is_a_configuration_error_not_retried() {
    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.api_key = Secret::new("sk-wrong");
    })
    .await;
    let err = editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("providers.dashscope.api_key"),
        "{}",
        err.message()
    );
    assert!(
        !err.message().contains("sk-wrong"),
        "the key leaked: {}",
        err.message()
    );
}

#[tokio::test]
async fn temporary_upload_sends_oss_links_with_the_resolve_header() {
    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.inputs = InputDelivery::TemporaryUpload;
    })
    .await;
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("fix through an oss:// input");
    let sent = &emulator.submitted()[0];
    let url = sent.body["input"]["base_image_url"].as_str().unwrap();
    assert!(
        url.starts_with("oss://dashscope-instant/wanx2.1-imageedit/"),
        "{url}"
    );
    assert_eq!(sent.headers["x-dashscope-ossresourceresolve"], "enable");
}

#[tokio::test]
async fn data_uri_inputs_go_inline_where_the_model_reads_them() {
    let emulator = DashScopeEmulator::start().await;
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.inputs = InputDelivery::DataUri;
    })
    .await;
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("fix through a data: URI");
    let url = emulator.submitted()[0].body["input"]["base_image_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.starts_with("data:image/png;base64,"), "{}", &url[..40]);
}

#[tokio::test]
async fn dashscope_failing_falls_back_to_the_local_engine() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script(
        "wanx-background-generation-v2",
        TaskScript::Fail {
            code: "InternalError.Algo".into(),
            message: "algorithm error".into(),
        },
    );
    let Some(server) = TestServer::with_models(|s| emulator.configure(s, &["local"])).await else {
        return;
    };
    let Some(astronaut) = common::testdata("astronaut.png") else {
        return;
    };
    let reply = editing(&server)
        .await
        .change_background(pb::ChangeBackgroundRequest {
            base_image: data(astronaut),
            ref_image: data(png(640, 480)),
            ..Default::default()
        })
        .await
        .expect("local answers")
        .into_inner();
    assert_eq!(reply.task.unwrap().provider, "local");
    assert_eq!(emulator.submitted().len(), 3, "dashscope was retried first");
}

/// Issue 4's load test: 50 requests at once against a model allowed 2 submits a second and
/// 2 tasks at a time. The adapter queues them; DashScope never has to answer 429.
#[tokio::test]
async fn a_burst_of_fifty_against_a_two_rps_model_sees_no_429() {
    let emulator = DashScopeEmulator::start().await;
    emulator.limit(IMAGE_EDIT, 2.0, 2);
    emulator.script(
        IMAGE_EDIT,
        TaskScript::Succeed {
            polls: 1,
            images: 1,
        },
    );
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.limits.insert(
            IMAGE_EDIT.to_owned(),
            ModelLimits {
                submit_rps: 2.0,
                concurrency: 2,
            },
        );
        // Nothing may be excused by a retry: a 429 would fail the call.
        s.providers.resilience.max_attempts = 1;
        s.server.request_timeout_secs = 120;
        s.providers.resilience.timeout_secs = 120;
        s.providers.dashscope.task_timeout_secs = 120;
    })
    .await;
    let client = editing(&server).await;
    let image = png(512, 512);
    let calls = (0..50).map(|_| {
        let mut client = client.clone();
        let image = image.clone();
        tokio::spawn(async move { client.fix(fix_request(image)).await })
    });
    let started = Instant::now();
    let results = futures::future::join_all(calls).await;
    let failures: Vec<_> = results
        .into_iter()
        .map(|r| r.unwrap())
        .filter_map(|r| r.err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(emulator.throttled(), 0, "dashscope answered 429");
    assert_eq!(emulator.submitted().len(), 50);
    assert!(emulator.max_running(IMAGE_EDIT) <= 2);
    // 50 submits at 2 a second take about 25 s.
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Text-to-image (the generation step of GenerateCover), the adapter driven directly, on
/// both protocols. Its progress is the task's states as stages, never a made-up percent.
#[tokio::test]
async fn text_to_image_works_on_the_legacy_and_the_messages_protocol() {
    use imgforge::domain::params::TextToImageParams;
    use imgforge::domain::{Progress, ProgressSink};
    use imgforge::providers::{Call, OpRequest, Provider};
    let emulator = DashScopeEmulator::start().await;
    for model in ["wanx2.1-t2i-turbo", "wan2.6-t2i"] {
        let mut settings = Settings::embedded();
        emulator.configure(&mut settings, &[]);
        settings.providers.dashscope.models.text_to_image = model.to_owned();
        settings.blob_store = imgforge::config::BlobStoreSettings::memory();
        let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
        let context = imgforge::providers::ProviderContext::new(&settings, blobs).unwrap();
        let provider = imgforge::providers::dashscope::DashScopeProvider::build(&context).unwrap();
        let request = OpRequest::TextToImage {
            params: TextToImageParams {
                prompt: "a girl with red hair, storybook cover".into(),
                negative_prompt: "blurry".into(),
                width: 768,
                height: 1024,
                n: 1,
                seed: Some(42),
            },
            reference: None,
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = {
            let seen = seen.clone();
            ProgressSink::new(move |p| seen.lock().unwrap().push(p))
        };
        let edited = provider
            .run(request, &Call::with_progress(sink))
            .await
            .expect("images");
        assert_eq!(edited.images.len(), 1, "{model}");
        let seen = seen.lock().unwrap().clone();
        assert!(
            matches!(seen.first(), Some(Progress::Running { stage, .. }) if stage == "submitted"),
            "{seen:?}"
        );
        for progress in &seen {
            match progress {
                Progress::Running { percent, stage } => {
                    assert_eq!(*percent, None, "no invented percent: {seen:?}");
                    assert!(
                        stage == "submitted" || stage.starts_with("task "),
                        "{stage}"
                    );
                }
                Progress::Queued { position } => assert_eq!(*position, None),
                Progress::Preview(_) => panic!("DashScope sends no previews"),
            }
        }
        assert_eq!(
            (edited.images[0].width, edited.images[0].height),
            (768, 1024)
        );
        let sent = emulator.submitted().pop().unwrap();
        assert_eq!(sent.model, model);
        assert_eq!(sent.body["parameters"]["size"], "768*1024");
    }
}

/// Issue 9: a task already RUNNING when its caller's deadline passes cannot be cancelled
/// (DashScope cancels PENDING tasks only). Its concurrency slot must stay taken until the
/// task ends, or the next submits exceed the quota and meet `Throttling.RateQuota`.
#[tokio::test]
async fn running_orphans_keep_their_slot_so_the_next_calls_see_no_quota_429() {
    let emulator = DashScopeEmulator::start().await;
    emulator.limit(IMAGE_EDIT, 100.0, 2);
    emulator.script(
        IMAGE_EDIT,
        TaskScript::RunsFor(Duration::from_millis(1_500)),
    );
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.dashscope.limits.insert(
            IMAGE_EDIT.to_owned(),
            ModelLimits {
                submit_rps: 100.0,
                concurrency: 2,
            },
        );
        // A quota 429 would reach the caller: no retry may hide it.
        s.providers.resilience.max_attempts = 1;
        s.providers.resilience.timeout_secs = 60;
        s.server.request_timeout_secs = 60;
    })
    .await;
    let client = editing(&server).await;
    let image = png(600, 600);
    // Two callers give up while their tasks run.
    let orphans = (0..2).map(|_| {
        let mut client = client.clone();
        let mut request = tonic::Request::new(fix_request(image.clone()));
        request.set_timeout(Duration::from_millis(500));
        async move { client.fix(request).await }
    });
    for result in futures::future::join_all(orphans).await {
        // The client's own deadline answers CANCELLED, the server's DEADLINE_EXCEEDED.
        let code = result.unwrap_err().code();
        assert!(
            matches!(code, tonic::Code::DeadlineExceeded | tonic::Code::Cancelled),
            "{code:?}"
        );
    }
    assert_eq!(emulator.submitted().len(), 2);
    // Both are offered a cancel, which DashScope refuses: they are RUNNING.
    wait_until(|| emulator.cancels().len() == 2).await;
    // The next ten all succeed, none of them meeting the quota.
    emulator.script(IMAGE_EDIT, TaskScript::RunsFor(Duration::from_millis(200)));
    let calls = (0..10).map(|_| {
        let mut client = client.clone();
        let image = image.clone();
        async move { client.fix(fix_request(image)).await }
    });
    let failures: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter_map(Result::err)
        .collect();
    assert!(
        failures.is_empty(),
        "{} failed, first: {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(emulator.throttled(), 0, "dashscope answered a quota 429");
    assert_eq!(emulator.submitted().len(), 12);
    assert!(emulator.max_running(IMAGE_EDIT) <= 2);
    server.stop().await;
}

/// Issue 9: throttling is backpressure. A burst of `Throttling.RateQuota` answers (a shared
/// account quota) must not open the circuit, or queued callers fail fast afterwards.
#[tokio::test]
async fn a_throttling_burst_does_not_open_the_circuit() {
    let emulator = DashScopeEmulator::start().await;
    let throttle = |code: &str| SubmitScript::Error {
        status: 429,
        code: code.into(),
        retry_after: None,
    };
    emulator.script_submits(
        IMAGE_EDIT,
        vec![
            throttle("Throttling.RateQuota"),
            throttle("Throttling.AllocationQuota"),
            throttle("Throttling.RateQuota"),
            throttle("Throttling"),
            throttle("Throttling.RateQuota"),
        ],
    );
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.resilience.max_attempts = 1;
        s.providers.resilience.circuit_failures = 2;
        s.providers.resilience.circuit_open_secs = 600;
    })
    .await;
    let mut client = editing(&server).await;
    for _ in 0..5 {
        let err = client.fix(fix_request(png(600, 600))).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        assert!(!err.message().contains("circuit"), "{}", err.message());
    }
    // Five throttled calls in a row, with a threshold of two: the circuit is still closed.
    client
        .fix(fix_request(png(600, 600)))
        .await
        .expect("the circuit stayed closed");
    server.stop().await;
}

/// Throttling is retried with backoff, honouring `Retry-After`, `AllocationQuota` included.
#[tokio::test]
async fn allocation_quota_throttling_is_retried() {
    let emulator = DashScopeEmulator::start().await;
    emulator.script_submits(
        IMAGE_EDIT,
        vec![SubmitScript::Error {
            status: 429,
            code: "Throttling.AllocationQuota".into(),
            retry_after: Some(1),
        }],
    );
    let server = start(&emulator).await;
    let started = Instant::now();
    editing(&server)
        .await
        .fix(fix_request(png(600, 600)))
        .await
        .expect("the retry succeeds");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(emulator.submitted().len(), 1);
    server.stop().await;
}

/// Seed 000's `/create-character` reply carries `character_image_oss_url` beside
/// `character_image_url`, inline delivery included: the stored result's link.
#[tokio::test]
async fn rest_create_character_answers_with_the_oss_url_beside_the_inline_image() {
    let emulator = DashScopeEmulator::start().await;
    let server = start(&emulator).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "photo",
            reqwest::multipart::Part::bytes(png(600, 800)).file_name("me.png"),
        )
        .text("style_preset", "cartoon");
    let res = server
        .http
        .post(server.url("/create-character"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], 0, "{body}");
    let message = &body["message"];
    let inline = message["character_image_url"].as_str().unwrap();
    assert!(inline.starts_with("data:image/"), "{inline:.40}");
    assert_eq!(message["character_image_base64"].as_str(), Some(inline));
    let oss_url = message["character_image_oss_url"]
        .as_str()
        .expect("character_image_oss_url is present");
    let fetched = server.http.get(oss_url).send().await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(
        common::decode(&fetched.bytes().await.unwrap()),
        common::decode(&common::data_uri_bytes(inline))
    );
    server.stop().await;
}

/// Issue 10: gRPC health follows readiness live. The character service's only provider
/// failing opens its circuit and the service turns NOT_SERVING; when the open period ends
/// and a probe may pass again, it is SERVING again — all seen on one Watch stream.
#[tokio::test]
async fn health_follows_an_opening_and_closing_circuit_live() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let emulator = DashScopeEmulator::start().await;
    emulator.script_submits(
        "wanx-style-repaint-v1",
        vec![SubmitScript::Error {
            status: 500,
            code: "InternalError".into(),
            retry_after: None,
        }],
    );
    let server = TestServer::start_with(|s| {
        emulator.configure(s, &[]);
        s.providers.resilience.max_attempts = 1;
        s.providers.resilience.circuit_failures = 1;
        s.providers.resilience.circuit_open_secs = 2;
    })
    .await;
    let mut health = HealthClient::new(server.channel().await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "imgforge.v1.CharacterService".into(),
        })
        .await
        .expect("watch")
        .into_inner();
    let mut next = async || {
        let reply = tokio::time::timeout(Duration::from_secs(10), watch.message())
            .await
            .expect("a health change within 10 s")
            .expect("stream open")
            .expect("a message");
        ServingStatus::try_from(reply.status).expect("a known status")
    };
    assert_eq!(next().await, ServingStatus::Serving);

    let err = CharacterServiceClient::new(server.channel().await)
        .create_character(pb::CreateCharacterRequest {
            photo: data(png(600, 800)),
            style_preset: pb::StylePreset::Cartoon as i32,
            output: None,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    assert_eq!(next().await, ServingStatus::NotServing, "circuit opened");
    assert_eq!(next().await, ServingStatus::Serving, "open period over");
    server.stop().await;
}
