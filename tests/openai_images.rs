//! The OpenAI-compatible images backend against its emulator on loopback: streamed and
//! plain answers, edits with a reference, and each failure mapped to its error kind.

#[path = "emulators/openai_images.rs"]
mod emulator;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use emulator::{API_KEY, OpenAiImagesEmulator, Script};
use imgforge::config::Secret;
use imgforge::domain::params::TextToImageParams;
use imgforge::domain::{GenerationJob, ImageFormat, Progress, ProgressSink, SourceImage};
use imgforge::error::ErrorCode;
use imgforge::providers::openai_images::{OpenAiImagesClient, OpenAiImagesSettings};

fn settings(emulator: &OpenAiImagesEmulator) -> OpenAiImagesSettings {
    OpenAiImagesSettings {
        base_url: emulator.base_url(),
        api_key: Secret::new(API_KEY),
        job_timeout_secs: 10,
        ..OpenAiImagesSettings::default()
    }
}

fn client(settings: &OpenAiImagesSettings) -> OpenAiImagesClient {
    let limits = imgforge::config::Settings::embedded().limits;
    OpenAiImagesClient::new(settings, limits).expect("valid settings")
}

fn job(n: u32) -> GenerationJob {
    GenerationJob::text(TextToImageParams {
        prompt: "a paper boat on a pond".to_owned(),
        negative_prompt: String::new(),
        width: 768,
        height: 1152,
        n,
        seed: None,
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

fn previews(seen: &Mutex<Vec<Progress>>) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, Progress::Preview(_)))
        .count()
}

#[tokio::test]
async fn a_streamed_generation_sends_partial_images_as_previews_then_the_result() {
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(Script::Stream { partials: 2 });
    let (sink, seen) = recorder();
    let generated = client(&settings(&emulator))
        .generate(job(1), &sink)
        .await
        .expect("generation succeeds");
    assert_eq!(generated.images.len(), 1);
    let image = &generated.images[0];
    assert_eq!(image.format, ImageFormat::Png);
    // 1024x1536, the configured size nearest 768x1152, at the emulator's 1/16 scale.
    assert_eq!((image.width, image.height), (64, 96));
    assert_eq!(previews(&seen), 2);
    assert!(
        generated.notes.iter().any(|n| n.contains("1024x1536")),
        "{:?}",
        generated.notes
    );

    let request = &emulator.requests()[0];
    assert_eq!(request.path, "/v1/images/generations");
    assert_eq!(request.fields["stream"], "true");
    assert_eq!(request.fields["partial_images"], "2");
    assert_eq!(request.fields["size"], "1024x1536");
    assert_eq!(request.fields["model"], "gpt-image-1");
}

#[tokio::test]
async fn previews_are_capped_by_configuration() {
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(Script::Stream { partials: 3 });
    let (sink, seen) = recorder();
    client(&OpenAiImagesSettings {
        max_preview_frames: 1,
        ..settings(&emulator)
    })
    .generate(job(1), &sink)
    .await
    .expect("generation succeeds");
    assert_eq!(previews(&seen), 1);
}

#[tokio::test]
async fn a_server_that_does_not_stream_answers_with_json() {
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(Script::Json { links: false });
    let generated = client(&settings(&emulator))
        .generate(job(2), &ProgressSink::none())
        .await
        .expect("generation succeeds");
    assert_eq!(generated.images.len(), 2);

    emulator.script(Script::Json { links: true });
    let generated = client(&OpenAiImagesSettings {
        stream: false,
        ..settings(&emulator)
    })
    .generate(job(1), &ProgressSink::none())
    .await
    .expect("links are fetched");
    assert_eq!(
        (generated.images[0].width, generated.images[0].height),
        (64, 96)
    );
    assert!(!emulator.requests()[1].fields.contains_key("stream"));
}

#[tokio::test]
async fn a_reference_image_goes_to_edits_as_multipart() {
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(Script::Stream { partials: 1 });
    let reference = emulator::png(40, 60, 10);
    let mut job = job(1);
    job.reference = Some(SourceImage {
        bytes: reference.clone().into(),
        format: ImageFormat::Png,
        width: 40,
        height: 60,
    });
    let (sink, seen) = recorder();
    let generated = client(&OpenAiImagesSettings {
        edit_model: "gpt-image-1.5".to_owned(),
        ..settings(&emulator)
    })
    .generate(job, &sink)
    .await
    .expect("edit succeeds");
    assert_eq!(generated.images.len(), 1);
    assert_eq!(previews(&seen), 1);
    let request = &emulator.requests()[0];
    assert_eq!(request.path, "/v1/images/edits");
    assert_eq!(request.image_bytes, Some(reference.len()));
    assert_eq!(request.fields["model"], "gpt-image-1.5");
    assert_eq!(request.fields["prompt"], "a paper boat on a pond");
}

async fn failure(
    script: Script,
    settings_of: impl Fn(&OpenAiImagesEmulator) -> OpenAiImagesSettings,
) -> imgforge::error::Error {
    let emulator = OpenAiImagesEmulator::start().await;
    emulator.script(script);
    client(&settings_of(&emulator))
        .generate(job(1), &ProgressSink::none())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn moderation_blocked_is_content_rejected_and_not_retried() {
    let err = failure(Script::Moderation, settings).await;
    assert_eq!(
        (err.code, err.retryable),
        (ErrorCode::ContentRejected, false)
    );
    assert_eq!(err.provider.as_deref(), Some("openai-images"));
}

#[tokio::test]
async fn a_rate_limit_is_retryable_backpressure_with_its_wait() {
    let err = failure(Script::RateLimited, settings).await;
    assert_eq!(
        (err.code, err.retryable),
        (ErrorCode::ResourceExhausted, true)
    );
    assert_eq!(err.retry_after, Some(Duration::from_secs(2)));
}

#[tokio::test]
async fn server_errors_bad_json_and_broken_streams_are_retryable_unavailability() {
    for script in [Script::ServerError, Script::BadJson, Script::StreamError] {
        let err = failure(script.clone(), settings).await;
        assert_eq!(
            (err.code, err.retryable),
            (ErrorCode::Unavailable, true),
            "{script:?}: {}",
            err.message
        );
    }
}

#[tokio::test]
async fn a_wrong_key_is_a_configuration_error() {
    let err = failure(Script::Json { links: false }, |e| OpenAiImagesSettings {
        api_key: Secret::new("sk-wrong"),
        ..settings(e)
    })
    .await;
    assert_eq!(
        (err.code, err.retryable),
        (ErrorCode::FailedPrecondition, false)
    );
    assert!(
        err.message.contains("providers.openai_images.api_key"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_server_slower_than_the_job_deadline_times_out() {
    let err = failure(Script::Slow(Duration::from_secs(5)), |e| {
        OpenAiImagesSettings {
            job_timeout_secs: 1,
            ..settings(e)
        }
    })
    .await;
    assert_eq!(err.code, ErrorCode::DeadlineExceeded);
    assert!(err.retryable);
}

#[tokio::test]
async fn an_oversized_image_is_refused() {
    let err = failure(Script::Json { links: false }, |e| OpenAiImagesSettings {
        max_image_bytes: 16,
        ..settings(e)
    })
    .await;
    assert_eq!(err.code, ErrorCode::PayloadTooLarge);
}
