//! The ComfyUI backend against its protocol emulator on loopback: progress, previews,
//! results, references, failures, and cancels that reach the server.

#[path = "emulators/comfyui.rs"]
mod emulator;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use emulator::{Cancel, ComfyUiEmulator, Features, RunScript};
use imgforge::domain::params::TextToImageParams;
use imgforge::domain::{GenerationJob, ImageFormat, Progress, ProgressSink, SourceImage};
use imgforge::error::ErrorCode;
use imgforge::providers::comfyui::{ComfyUiClient, ComfyUiSettings};

fn settings(emulator: &ComfyUiEmulator) -> ComfyUiSettings {
    ComfyUiSettings {
        base_url: emulator.base_url(),
        poll_interval_ms: 20,
        max_poll_failures: 3,
        request_timeout_secs: 5,
        job_timeout_secs: 30,
        ..ComfyUiSettings::default()
    }
}

fn client(settings: &ComfyUiSettings) -> Arc<ComfyUiClient> {
    let limits = imgforge::config::Settings::embedded().limits;
    Arc::new(ComfyUiClient::new(settings, limits).expect("valid settings"))
}

fn job(n: u32) -> GenerationJob {
    GenerationJob::text(TextToImageParams {
        prompt: "a lighthouse at dusk, \"oil\" painting".to_owned(),
        negative_prompt: "blurry".to_owned(),
        width: 512,
        height: 384,
        n,
        seed: Some(1234),
    })
}

fn recorder() -> (ProgressSink, Arc<Mutex<Vec<Progress>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let seen = seen.clone();
        ProgressSink::new(move |p| seen.lock().unwrap().push(p))
    };
    (sink, seen)
}

fn percents(events: &[Progress]) -> Vec<f32> {
    events
        .iter()
        .filter_map(|p| match p {
            Progress::Running { percent, .. } => *percent,
            Progress::Queued { .. } | Progress::Preview(_) => None,
        })
        .collect()
}

fn assert_monotonic(percents: &[f32]) {
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]),
        "percent went down: {percents:?}"
    );
}

#[tokio::test]
async fn a_run_reports_queue_monotonic_progress_previews_and_returns_its_images() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Succeed {
        steps: 8,
        previews: 3,
    });
    let client = client(&settings(&emulator));
    let (sink, seen) = recorder();
    let generated = client.generate(job(2), &sink).await.expect("run succeeds");

    assert_eq!(generated.images.len(), 2);
    for image in &generated.images {
        assert_eq!(image.format, ImageFormat::Png);
        assert_eq!((image.width, image.height), (512, 384));
    }
    let events = seen.lock().unwrap().clone();
    assert!(
        matches!(events[0], Progress::Queued { .. }),
        "{:?}",
        events[0]
    );
    let percents = percents(&events);
    assert_monotonic(&percents);
    assert_eq!(percents.last().copied(), Some(100.0));
    assert!(
        percents.iter().any(|p| *p > 0.0 && *p < 100.0),
        "{percents:?}"
    );
    let previews: Vec<_> = events
        .iter()
        .filter_map(|p| match p {
            Progress::Preview(image) => Some(image),
            Progress::Queued { .. } | Progress::Running { .. } => None,
        })
        .collect();
    assert_eq!(previews.len(), 3);
    assert!(
        previews
            .iter()
            .all(|p| p.format == ImageFormat::Jpeg && p.width == 32)
    );
    assert!(
        events
            .iter()
            .any(|p| matches!(p, Progress::Running { stage, .. } if stage == "sampling"))
    );

    let submitted = emulator.submitted();
    assert_eq!(submitted.len(), 1);
    let graph = &submitted[0].graph;
    assert_eq!(
        graph["6"]["inputs"]["text"],
        "a lighthouse at dusk, \"oil\" painting"
    );
    assert_eq!(graph["7"]["inputs"]["text"], "blurry");
    assert_eq!(graph["3"]["inputs"]["seed"], 1234);
    assert_eq!(graph["5"]["inputs"]["batch_size"], 2);
    assert_ne!(submitted[0].client_id, submitted[0].prompt_id);
    assert!(
        emulator.cancels().is_empty(),
        "a finished run is not cancelled"
    );
}

#[tokio::test]
async fn preview_frames_are_capped_by_configuration() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Succeed {
        steps: 6,
        previews: 6,
    });
    let client = client(&ComfyUiSettings {
        max_preview_frames: 2,
        ..settings(&emulator)
    });
    let (sink, seen) = recorder();
    client.generate(job(1), &sink).await.expect("run succeeds");
    let previews = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, Progress::Preview(_)))
        .count();
    assert_eq!(previews, 2);
}

#[tokio::test]
async fn a_reference_image_is_uploaded_and_named_in_the_image_to_image_workflow() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let client = client(&settings(&emulator));
    let reference = emulator::png(300, 200);
    let mut job = job(1);
    job.reference = Some(SourceImage {
        bytes: reference.clone().into(),
        format: ImageFormat::Png,
        width: 300,
        height: 200,
    });
    client
        .generate(job, &ProgressSink::none())
        .await
        .expect("run succeeds");
    let uploads = emulator.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1, reference.len());
    let graph = &emulator.submitted()[0].graph;
    assert_eq!(graph["10"]["class_type"], "LoadImage");
    assert_eq!(graph["10"]["inputs"]["image"], uploads[0].0.as_str());
}

#[tokio::test]
async fn an_execution_error_names_the_node_and_out_of_memory_is_retryable() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let client = client(&settings(&emulator));
    emulator.script(RunScript::Fail {
        at_step: 2,
        exception_type: "ValueError".to_owned(),
    });
    let err = client
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!((err.code, err.retryable), (ErrorCode::Internal, false));
    assert!(err.message.contains("KSampler"), "{}", err.message);
    assert_eq!(err.provider.as_deref(), Some("comfyui"));

    emulator.script(RunScript::Fail {
        at_step: 1,
        exception_type: "torch.OutOfMemoryError".to_owned(),
    });
    let err = client
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.retryable),
        (ErrorCode::ResourceExhausted, true)
    );
    assert!(
        emulator.cancels().is_empty(),
        "a failed run needs no cancel"
    );
}

#[tokio::test]
async fn an_interrupt_by_someone_else_fails_the_run() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Interrupted { at_step: 2 });
    let err = client(&settings(&emulator))
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Unavailable);
    assert!(err.message.contains("interrupted"), "{}", err.message);
}

#[tokio::test]
async fn a_refused_workflow_is_a_configuration_error() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Refuse);
    let err = client(&settings(&emulator))
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(
        (err.code, err.retryable),
        (ErrorCode::FailedPrecondition, false)
    );
    assert!(err.message.contains("Value not in list"), "{}", err.message);
}

/// Starts a hanging run in a task, waits until it samples, then drops its future.
async fn drop_mid_run(emulator: &ComfyUiEmulator, settings: &ComfyUiSettings) -> String {
    emulator.script(RunScript::Hang);
    let client = client(settings);
    let (sink, seen) = recorder();
    let task = tokio::spawn(async move { client.generate(job(1), &sink).await });
    let until = Instant::now() + Duration::from_secs(10);
    while emulator.submitted().is_empty() || percents(&seen.lock().unwrap()).is_empty() {
        assert!(Instant::now() < until, "the run never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    let _ = task.await;
    emulator.submitted()[0].prompt_id.clone()
}

#[tokio::test]
async fn dropping_the_future_cancels_the_job_through_the_jobs_api() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let prompt_id = drop_mid_run(&emulator, &settings(&emulator)).await;
    let cancels = emulator.wait_for_cancel(Duration::from_secs(5)).await;
    assert_eq!(cancels, [Cancel::Job(prompt_id)]);
}

#[tokio::test]
async fn without_the_jobs_api_a_dropped_run_is_interrupted_and_dequeued() {
    let emulator = ComfyUiEmulator::start(Features {
        jobs_api: false,
        websocket: true,
    })
    .await;
    let prompt_id = drop_mid_run(&emulator, &settings(&emulator)).await;
    emulator.wait_for_cancel(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancels = emulator.cancels();
    assert!(
        cancels.contains(&Cancel::Interrupt(Some(prompt_id.clone()))),
        "{cancels:?}"
    );
    assert!(
        cancels.contains(&Cancel::QueueDelete(vec![prompt_id])),
        "{cancels:?}"
    );
}

#[tokio::test]
async fn without_websocket_or_jobs_api_the_run_is_followed_through_history() {
    let emulator = ComfyUiEmulator::start(Features {
        jobs_api: false,
        websocket: false,
    })
    .await;
    emulator.script(RunScript::Succeed {
        steps: 5,
        previews: 2,
    });
    let (sink, seen) = recorder();
    let generated = client(&settings(&emulator))
        .generate(job(1), &sink)
        .await
        .expect("run succeeds by polling");
    assert_eq!(generated.images.len(), 1);
    let percents = percents(&seen.lock().unwrap());
    assert_monotonic(&percents);
    assert_eq!(percents.last().copied(), Some(100.0));
}

#[tokio::test]
async fn polling_also_reads_failures_from_history() {
    let emulator = ComfyUiEmulator::start(Features {
        jobs_api: true,
        websocket: false,
    })
    .await;
    emulator.script(RunScript::Fail {
        at_step: 1,
        exception_type: "RuntimeError".to_owned(),
    });
    let err = client(&settings(&emulator))
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Internal);
    assert!(err.message.contains("RuntimeError"), "{}", err.message);
}

#[tokio::test]
async fn a_server_that_dies_mid_run_fails_the_run_as_unavailable() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::DieMidRun { at_step: 2 });
    let started = Instant::now();
    let err = client(&settings(&emulator))
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err();
    assert_eq!((err.code, err.retryable), (ErrorCode::Unavailable, true));
    assert!(err.message.contains("went away"), "{}", err.message);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_run_over_its_deadline_fails_and_is_cancelled() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    emulator.script(RunScript::Hang);
    let err = client(&ComfyUiSettings {
        job_timeout_secs: 1,
        ..settings(&emulator)
    })
    .generate(job(1), &ProgressSink::none())
    .await
    .unwrap_err();
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    let cancels = emulator.wait_for_cancel(Duration::from_secs(5)).await;
    assert_eq!(cancels.len(), 1, "{cancels:?}");
}
