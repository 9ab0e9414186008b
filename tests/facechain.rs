//! The FaceChain client against its loopback emulator: training with the best ≤10 of the
//! seed's 8–20 photos, preset, template and train-free generation, per-image failures kept,
//! and every scripted fault (429, 5xx, unreadable JSON, failed jobs, timeouts). Each step is
//! resumable: a second client (a restarted process) finishes what the first submitted.

#[path = "emulators/facechain.rs"]
mod emulator;

use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use emulator::{API_KEY, Course, End, FaceChainEmulator, Item, Submit};
use image::{GrayImage, ImageFormat, Luma};
use imgforge::config::dashscope::DashScopeSettings;
use imgforge::config::facechain::FaceChainSettings;
use imgforge::config::{Secret, Settings};
use imgforge::domain::{Progress, ProgressSink};
use imgforge::error::ErrorCode;
use imgforge::providers::facechain::{
    FaceChainClient, GenerationSource, PhotoVerdict, PortraitStyle, TrainingPhoto,
};
use imgforge::providers::remote::ResultDownloader;

fn client_with(
    emulator: &FaceChainEmulator,
    configure: impl FnOnce(&mut DashScopeSettings, &mut FaceChainSettings),
) -> FaceChainClient {
    let mut dashscope = DashScopeSettings {
        base_url: emulator.base_url(),
        api_key: Secret::new(API_KEY),
        poll_initial_ms: 1,
        poll_max_ms: 5,
        request_timeout_secs: 5,
        task_timeout_secs: 30,
        ..DashScopeSettings::default()
    };
    let mut facechain = FaceChainSettings {
        training_poll_initial_ms: 1,
        training_poll_max_ms: 5,
        training_timeout_secs: 30,
        min_photo_side: 128,
        ..FaceChainSettings::default()
    };
    configure(&mut dashscope, &mut facechain);
    let limits = Settings::embedded().limits;
    let downloader = ResultDownloader::new(Duration::from_secs(5), 1 << 20, limits).unwrap();
    FaceChainClient::new(&dashscope, &facechain, downloader).unwrap()
}

fn client(emulator: &FaceChainEmulator) -> FaceChainClient {
    client_with(emulator, |_, _| {})
}

fn png(image: &GrayImage) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, ImageFormat::Png).unwrap();
    Bytes::from(out.into_inner())
}

/// A checkerboard: the smaller the cell, the sharper the photo.
fn photo(side: u32, cell: u32) -> Bytes {
    png(&GrayImage::from_fn(side, side, |x, y| {
        Luma([if (x / cell + y / cell) % 2 == 0 {
            40
        } else {
            210
        }])
    }))
}

/// Twelve photos as the seed uploads them: ten good, one blurred (flat), one too small.
fn upload_set() -> Vec<TrainingPhoto> {
    let mut photos: Vec<TrainingPhoto> = (0..10)
        .map(|i| TrainingPhoto {
            url: format!("https://uploads.example/good-{i}.jpg"),
            bytes: photo(300, 2 + i),
        })
        .collect();
    photos.push(TrainingPhoto {
        url: "https://uploads.example/blurred.jpg".into(),
        bytes: png(&GrayImage::from_pixel(300, 300, Luma([120]))),
    });
    photos.push(TrainingPhoto {
        url: "https://uploads.example/tiny.jpg".into(),
        bytes: photo(64, 2),
    });
    photos
}

fn recording() -> (ProgressSink, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let seen = seen.clone();
        ProgressSink::new(move |p| seen.lock().unwrap().push(p))
    };
    (sink, seen)
}

fn failed(code: &str, message: &str) -> End {
    End::Failed {
        code: code.into(),
        message: message.into(),
    }
}

fn runs(running_polls: u32, end: End) -> Submit {
    Submit::Accept(Course::Runs { running_polls, end })
}

#[tokio::test]
async fn trains_on_the_best_ten_of_twelve_then_generates_a_preset() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![
        runs(3, End::Succeeded(vec![])),
        runs(2, End::Succeeded(vec![Item::Image; 4])),
    ]);
    let client = client(&emulator);
    let submission = client.submit_training(&upload_set()).await.unwrap();
    let (path, body) = &emulator.bodies()[0];
    assert_eq!(path, "fine-tunes");
    assert_eq!(body["model"], "facechain-finetune");
    let sent: Vec<&str> = body["training_file_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(sent.len(), 10);
    assert!(sent.iter().all(|url| url.contains("good-")), "{sent:?}");
    assert!(matches!(
        submission.verdicts[10],
        PhotoVerdict::Surplus { .. }
    ));
    assert_eq!(
        submission.verdicts[11],
        PhotoVerdict::TooSmall {
            width: 64,
            height: 64
        }
    );

    let (progress, seen) = recording();
    let model = client
        .await_training(&submission.job_id, &progress)
        .await
        .unwrap();
    assert_eq!(
        model.resource_id,
        format!("facechain-finetune-{}", submission.job_id.0)
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains(&Progress::Queued { position: None }),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|p| matches!(p, Progress::Running { .. })),
        "{seen:?}"
    );

    let task = client
        .submit_generation(
            &GenerationSource::Model(model.clone()),
            &PortraitStyle::Preset("f_idcard_female".into()),
            None,
        )
        .await
        .unwrap();
    let (path, body) = &emulator.bodies()[1];
    assert_eq!(path, "gen_potrait");
    assert_eq!(
        body["resources"][0]["resource_id"],
        model.resource_id.as_str()
    );
    assert_eq!(body["resources"][0]["resource_type"], "facelora");
    assert_eq!(body["parameters"]["style"], "f_idcard_female");
    let images = client
        .await_generation(&task, &ProgressSink::none())
        .await
        .unwrap();
    assert_eq!(images.len(), 4);
    for image in images {
        let image = image.unwrap();
        assert_eq!((image.width, image.height), (48, 64));
    }
}

#[tokio::test]
async fn a_restarted_process_resumes_from_the_stored_ids() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![
        runs(2, End::Succeeded(vec![])),
        runs(2, End::Succeeded(vec![Item::Image; 2])),
    ]);
    let job = client(&emulator)
        .submit_training(&upload_set())
        .await
        .unwrap()
        .job_id;
    // The first process is gone; a new client knows only the stored id.
    let resumed = client(&emulator);
    let model = resumed
        .await_training(&job, &ProgressSink::none())
        .await
        .unwrap();
    let task = resumed
        .submit_generation(
            &GenerationSource::Model(model),
            &PortraitStyle::Preset("f_business_male".into()),
            None,
        )
        .await
        .unwrap();
    let images = client(&emulator)
        .await_generation(&task, &ProgressSink::none())
        .await
        .unwrap();
    assert_eq!(images.iter().filter(|i| i.is_ok()).count(), 2);
}

#[tokio::test]
async fn per_image_failures_are_kept_for_a_partial_success() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![runs(
        1,
        End::Succeeded(vec![
            Item::Image,
            Item::Failed {
                code: "InternalError.Algo".into(),
                message: "face not detected".into(),
            },
            Item::Image,
        ]),
    )]);
    let client = client(&emulator);
    let source = GenerationSource::TrainFree {
        photo_urls: vec!["https://uploads.example/front.jpg".into()],
    };
    let style = PortraitStyle::Template {
        template_url: "https://styles.example/office.jpg".into(),
    };
    let task = client
        .submit_generation(&source, &style, None)
        .await
        .unwrap();
    let (_, body) = &emulator.bodies()[0];
    assert_eq!(
        body["parameters"]["style"],
        "train_free_portrait_url_template"
    );
    assert_eq!(
        body["input"]["user_urls"][0],
        "https://uploads.example/front.jpg"
    );
    assert!(body.get("resources").is_none(), "{body}");
    let images = client
        .await_generation(&task, &ProgressSink::none())
        .await
        .unwrap();
    let ok = images.iter().filter(|i| i.is_ok()).count();
    assert_eq!((images.len(), ok), (3, 2));
    let err = images.into_iter().find_map(Result::err).unwrap();
    assert!(err.message.contains("face not detected"), "{err}");
}

#[tokio::test]
async fn a_throttled_submit_is_retryable_with_the_wait_asked() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![Submit::Throttle {
        retry_after_secs: 7,
    }]);
    let err = client(&emulator)
        .submit_training(&upload_set())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ResourceExhausted, "{err}");
    assert!(err.retryable);
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn server_errors_and_unreadable_answers_on_submit_are_retryable() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![Submit::ServerError, Submit::Garbage]);
    let client = client(&emulator);
    let source = GenerationSource::TrainFree {
        photo_urls: vec!["https://u/1.jpg".into()],
    };
    let style = PortraitStyle::Template {
        template_url: "https://t/1.jpg".into(),
    };
    let err = client
        .submit_generation(&source, &style, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.retryable);
    let err = client
        .submit_generation(&source, &style, None)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable, "{err}");
    assert!(err.message.contains("unreadable"), "{err}");
}

#[tokio::test]
async fn passing_poll_failures_are_ridden_out() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![runs(2, End::Succeeded(vec![]))]);
    let client = client(&emulator);
    let job = client.submit_training(&upload_set()).await.unwrap().job_id;
    emulator.fail_polls(2);
    emulator.garble_polls(1);
    let model = client.await_training(&job, &ProgressSink::none()).await;
    assert!(model.is_ok(), "{model:?}");
    assert!(emulator.polls() >= 5);
}

#[tokio::test]
async fn failed_jobs_and_tasks_say_why() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![
        runs(
            1,
            failed(
                "InvalidParameter.FaceNotFound",
                "no face in the training set",
            ),
        ),
        runs(1, failed("InternalError.Algo", "generation crashed")),
    ]);
    let client = client(&emulator);
    let job = client.submit_training(&upload_set()).await.unwrap().job_id;
    let err = client
        .await_training(&job, &ProgressSink::none())
        .await
        .unwrap_err();
    assert!(err.message.contains("ended FAILED"), "{err}");
    assert!(err.message.contains("no face in the training set"), "{err}");
    let task = client
        .submit_generation(
            &GenerationSource::TrainFree {
                photo_urls: vec!["https://u/1.jpg".into()],
            },
            &PortraitStyle::Template {
                template_url: "https://t/1.jpg".into(),
            },
            None,
        )
        .await
        .unwrap();
    let err = client
        .await_generation(&task, &ProgressSink::none())
        .await
        .unwrap_err();
    assert!(err.message.contains("generation crashed"), "{err}");
}

#[tokio::test]
async fn a_job_that_never_ends_times_out_naming_the_setting() {
    let emulator = FaceChainEmulator::start().await;
    emulator.script(vec![
        Submit::Accept(Course::Hangs),
        Submit::Accept(Course::Hangs),
    ]);
    let client = client_with(&emulator, |dashscope, facechain| {
        facechain.training_timeout_secs = 1;
        facechain.training_poll_max_ms = 50;
        dashscope.task_timeout_secs = 1;
        dashscope.poll_max_ms = 50;
    });
    let job = client.submit_training(&upload_set()).await.unwrap().job_id;
    let err = client
        .await_training(&job, &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
    assert!(
        err.message
            .contains("providers.facechain.training_timeout_secs"),
        "{err}"
    );
    let task = client
        .submit_generation(
            &GenerationSource::TrainFree {
                photo_urls: vec!["https://u/1.jpg".into()],
            },
            &PortraitStyle::Template {
                template_url: "https://t/1.jpg".into(),
            },
            None,
        )
        .await
        .unwrap();
    let err = client
        .await_generation(&task, &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded, "{err}");
}

#[tokio::test]
async fn no_usable_photo_is_refused_naming_each() {
    let emulator = FaceChainEmulator::start().await;
    let photos = vec![
        TrainingPhoto {
            url: "https://u/tiny.jpg".into(),
            bytes: photo(32, 2),
        },
        TrainingPhoto {
            url: "https://u/junk.jpg".into(),
            bytes: Bytes::from_static(b"junk"),
        },
    ];
    let err = client(&emulator)
        .submit_training(&photos)
        .await
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("img_set"));
    assert!(err.message.contains("photo 1: too small (32×32)"), "{err}");
    assert!(
        err.message.contains("photo 2: not a readable image"),
        "{err}"
    );
    assert!(emulator.bodies().is_empty());
}

#[tokio::test]
async fn a_wrong_key_is_a_configuration_error() {
    let emulator = FaceChainEmulator::start().await;
    let client = client_with(&emulator, |dashscope, _| {
        dashscope.api_key = Secret::new("sk-wrong");
    });
    let err = client.submit_training(&upload_set()).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::FailedPrecondition, "{err}");
    assert!(err.message.contains("providers.dashscope.api_key"), "{err}");
}
