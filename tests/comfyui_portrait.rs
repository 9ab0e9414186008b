//! The identity-preserving portrait workflow (`workflows/comfyui/portrait_instantid.json`)
//! through the ComfyUI client against its emulator: the user's photo is uploaded and feeds
//! InstantID, which conditions the sampler; the style's prompt and size fill the template.

#[path = "emulators/comfyui.rs"]
mod emulator;

use std::path::PathBuf;

use emulator::{ComfyUiEmulator, Features};
use imgforge::domain::params::TextToImageParams;
use imgforge::domain::{GenerationJob, ImageFormat, ProgressSink, SourceImage};
use imgforge::providers::comfyui::template::Workflow;
use imgforge::providers::comfyui::{ComfyUiClient, ComfyUiSettings};

fn template() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows/comfyui/portrait_instantid.json")
}

#[test]
fn the_portrait_template_is_an_api_graph_with_the_placeholders_it_needs() {
    let workflow = Workflow::load(&template()).unwrap();
    for name in [
        "prompt",
        "negative_prompt",
        "reference_image",
        "checkpoint",
        "seed",
        "width",
        "height",
        "batch_size",
    ] {
        assert!(workflow.uses(name), "{name}");
    }
}

#[tokio::test]
async fn the_users_photo_feeds_instantid_which_conditions_the_sampler() {
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let settings = ComfyUiSettings {
        base_url: emulator.base_url(),
        reference_workflow: Some(template()),
        poll_interval_ms: 20,
        request_timeout_secs: 5,
        job_timeout_secs: 30,
        ..ComfyUiSettings::default()
    };
    let limits = imgforge::config::Settings::embedded().limits;
    let client = ComfyUiClient::new(&settings, limits).unwrap();
    let photo = emulator::png(300, 400);
    let job = GenerationJob {
        params: TextToImageParams {
            prompt: "business portrait, grey suit, studio light".to_owned(),
            negative_prompt: "deformed face".to_owned(),
            width: 768,
            height: 1024,
            n: 2,
            seed: Some(7),
        },
        reference: Some(SourceImage {
            bytes: photo.clone().into(),
            format: ImageFormat::Png,
            width: 300,
            height: 400,
        }),
    };
    let generated = client.generate(job, &ProgressSink::none()).await.unwrap();
    assert_eq!(generated.images.len(), 2);
    assert!(
        generated
            .images
            .iter()
            .all(|i| (i.width, i.height) == (768, 1024))
    );

    let uploads = emulator.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].1, photo.len());
    let graph = &emulator.submitted()[0].graph;
    assert_eq!(graph["10"]["inputs"]["image"], uploads[0].0.as_str());
    let instantid = &graph["23"];
    assert_eq!(instantid["class_type"], "ApplyInstantID");
    assert_eq!(instantid["inputs"]["image"], serde_json::json!(["10", 0]));
    let sampler = &graph["3"]["inputs"];
    assert_eq!(sampler["model"], serde_json::json!(["23", 0]));
    assert_eq!(sampler["positive"], serde_json::json!(["23", 1]));
    assert_eq!(sampler["seed"], 7);
    assert_eq!(
        graph["6"]["inputs"]["text"],
        "business portrait, grey suit, studio light"
    );
    assert_eq!(graph["5"]["inputs"]["width"], 768);
    assert_eq!(graph["5"]["inputs"]["batch_size"], 2);
}
