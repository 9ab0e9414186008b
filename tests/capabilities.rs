//! Each provider's declared capabilities match what its `run` dispatches: every operation it
//! declares is attempted (it may fail for want of a model or a reachable backend, but never as
//! "not implemented"), and every operation it does not declare answers `Unimplemented`.
//! Remote adapters point at a closed loopback port, so nothing leaves the machine; the
//! generation backends (ComfyUI, OpenAI images) run against their emulators, where the
//! declared operation must really succeed and report progress.

#[path = "emulators/comfyui.rs"]
mod comfyui_emulator;
#[path = "emulators/openai_images.rs"]
mod openai_emulator;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use imgforge::config::{BlobStoreSettings, Secret, Settings};
use imgforge::domain::Operation;
use imgforge::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, ConvertParams, CreateCharacterParams,
    ExpandParams, FixParams, OutputSpec, Placement, RemoveBackgroundParams, RemoveWatermarkParams,
    ResizeParams, TextToImageParams,
};
use imgforge::domain::{ImageFormat, Progress, ProgressSink, SourceImage};
use imgforge::error::ErrorCode;
use imgforge::providers::aliyun_vision::AliyunVisionProvider;
use imgforge::providers::comfyui::{ComfyUiProvider, ComfyUiSettings};
use imgforge::providers::dashscope::DashScopeProvider;
use imgforge::providers::local::LocalProvider;
use imgforge::providers::openai_images::{OpenAiImagesProvider, OpenAiImagesSettings};
use imgforge::providers::{Call, OpRequest, Provider, ProviderContext, ProviderExt};

fn png(width: u32, height: u32) -> SourceImage {
    let mut out = Vec::new();
    image::DynamicImage::new_rgb8(width, height)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    SourceImage {
        bytes: Bytes::from(out),
        format: ImageFormat::Png,
        width,
        height,
    }
}

/// One request of every kind the contract has.
fn every_request() -> Vec<OpRequest> {
    let image = png(64, 64);
    let output = OutputSpec::default();
    vec![
        OpRequest::Resize {
            image: image.clone(),
            params: ResizeParams {
                min_dim: 1,
                max_dim: 32,
                output,
            },
        },
        OpRequest::ConvertToPng {
            image: image.clone(),
            params: ConvertParams::default(),
        },
        OpRequest::RemoveBackground {
            image: image.clone(),
            params: RemoveBackgroundParams::default(),
        },
        OpRequest::ChangeBackground {
            base: image.clone(),
            background: image.clone(),
            params: ChangeBackgroundParams::new(
                String::new(),
                None,
                Placement::default(),
                false,
                output,
            )
            .unwrap(),
        },
        OpRequest::ChangeClothes {
            person: image.clone(),
            top: Some(image.clone()),
            bottom: None,
            params: ChangeClothesParams::default(),
        },
        OpRequest::Expand {
            image: image.clone(),
            params: ExpandParams::new([None; 4], None, output).unwrap(),
        },
        OpRequest::Fix {
            image: image.clone(),
            params: FixParams::new(None, None, output).unwrap(),
        },
        OpRequest::RemoveWatermark {
            image: image.clone(),
            params: RemoveWatermarkParams::new(None, output),
        },
        OpRequest::TextToImage {
            params: TextToImageParams {
                prompt: "a red cup on a wooden table".into(),
                negative_prompt: String::new(),
                width: 512,
                height: 512,
                n: 1,
                seed: None,
            },
            reference: None,
        },
        OpRequest::CreateCharacter {
            photo: image,
            params: CreateCharacterParams::default(),
        },
    ]
}

/// A loopback address nothing listens on.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

fn settings() -> Settings {
    let mut settings = Settings::embedded();
    settings.blob_store = BlobStoreSettings::memory();
    let closed = closed_port();
    let dashscope = &mut settings.providers.dashscope;
    dashscope.base_url = closed.clone();
    dashscope.api_key = Secret::new("sk-test");
    dashscope.request_timeout_secs = 2;
    dashscope.task_timeout_secs = 2;
    let aliyun = &mut settings.providers.aliyun_vision;
    aliyun.endpoint = format!("{closed}/");
    aliyun.access_key_id = "id".into();
    aliyun.access_key_secret = Secret::new("secret");
    settings
}

async fn check(provider: Arc<dyn Provider>) {
    for request in every_request() {
        let op = request.operation();
        let declared = provider.supports(op);
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            provider.run(request, &Call::default()),
        )
        .await
        .unwrap_or_else(|_| panic!("{} {op} did not answer", provider.name()));
        let unimplemented = matches!(&result, Err(e) if e.code == ErrorCode::Unimplemented);
        if declared {
            assert!(
                !unimplemented,
                "{} declares {op} but answered {:?}",
                provider.name(),
                result.err()
            );
        } else {
            assert!(
                unimplemented,
                "{} does not declare {op} but did not answer Unimplemented: {:?}",
                provider.name(),
                result.map(|o| o.images.len())
            );
        }
    }
}

#[tokio::test]
async fn local_runs_exactly_what_it_declares() {
    check(Arc::new(LocalProvider::new(&settings()))).await;
}

#[tokio::test]
async fn dashscope_runs_exactly_what_it_declares() {
    let settings = settings();
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    check(Arc::new(DashScopeProvider::build(&context).unwrap())).await;
}

#[tokio::test]
async fn aliyun_vision_runs_exactly_what_it_declares() {
    let settings = settings();
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    check(Arc::new(AliyunVisionProvider::build(&context).unwrap())).await;
}

/// Runs a cover's generation step on `provider` with a recording sink: it must succeed with
/// an image and report some progress.
async fn generates_with_progress(provider: &dyn Provider) -> Vec<Progress> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = {
        let seen = seen.clone();
        ProgressSink::new(move |p| seen.lock().unwrap().push(p))
    };
    let request = every_request()
        .into_iter()
        .find(|r| r.operation() == Operation::GenerateCover)
        .unwrap();
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        provider.run(request, &Call::with_progress(sink)),
    )
    .await
    .expect("generation answers")
    .expect("generation succeeds");
    assert_eq!(output.images.len(), 1, "{}", provider.name());
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "{} reported no progress", provider.name());
    seen
}

#[tokio::test]
async fn comfyui_runs_exactly_what_it_declares() {
    let emulator = comfyui_emulator::ComfyUiEmulator::start(Default::default()).await;
    let mut settings = settings();
    settings.providers.comfyui = Some(ComfyUiSettings {
        base_url: emulator.base_url(),
        ..ComfyUiSettings::default()
    });
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    let provider = ComfyUiProvider::build(&context).unwrap();
    let support = provider
        .capabilities()
        .get(Operation::GenerateCover)
        .expect("declares covers");
    assert!(support.options.contains(&"reference"), "{support:?}");
    let seen = generates_with_progress(&provider).await;
    assert!(
        seen.iter().any(|p| matches!(
            p,
            Progress::Running {
                percent: Some(_),
                ..
            }
        )),
        "{seen:?}"
    );
    check(Arc::new(provider)).await;
}

#[tokio::test]
async fn openai_images_runs_exactly_what_it_declares() {
    let emulator = openai_emulator::OpenAiImagesEmulator::start().await;
    let mut settings = settings();
    settings.providers.openai_images = Some(OpenAiImagesSettings {
        base_url: emulator.base_url(),
        api_key: Secret::new(openai_emulator::API_KEY),
        ..OpenAiImagesSettings::default()
    });
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    let provider = OpenAiImagesProvider::build(&context).unwrap();
    let support = provider
        .capabilities()
        .get(Operation::GenerateCover)
        .expect("declares covers");
    assert!(support.options.contains(&"reference"), "{support:?}");
    assert!(!support.options.contains(&"seed"), "{support:?}");
    let seen = generates_with_progress(&provider).await;
    assert!(
        seen.iter().any(|p| matches!(p, Progress::Preview(_))),
        "streamed partial images are previews: {seen:?}"
    );
    check(Arc::new(provider)).await;
}

#[test]
fn a_generation_backend_without_its_section_is_refused_by_name() {
    let settings = settings();
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    let err = ComfyUiProvider::build(&context).err().unwrap().to_string();
    assert!(err.contains("[providers.comfyui]"), "{err}");
    let err = OpenAiImagesProvider::build(&context)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("[providers.openai_images]"), "{err}");
}

#[test]
fn dashscope_declares_covers_without_the_reference() {
    let settings = settings();
    let blobs = imgforge::store::BlobStore::from_settings(&settings).unwrap();
    let context = ProviderContext::new(&settings, blobs).unwrap();
    let provider = DashScopeProvider::build(&context).unwrap();
    let support = provider
        .capabilities()
        .get(Operation::GenerateCover)
        .unwrap();
    assert!(!support.options.contains(&"reference"), "{support:?}");
}
