//! Seed 003 with `portrait.backend = "comfyui"` against the ComfyUI emulator, over signed
//! REST: training curates `../shared/testdata/portrait_set/` as the local backend does (no
//! remote training: InstantID is train-free); generation uploads the user's best photo, runs
//! the InstantID workflow with the style's prompt and batch = `portrait.images_per_task`, and
//! the results resolve to images. Then a run failing at the server ends the task in state 5
//! with the node's message, and a run saving fewer images than asked ends in state 4.

mod common;
#[path = "emulators/comfyui.rs"]
mod emulator;
#[path = "common/portrait_rest.rs"]
mod portrait_rest;

use std::path::PathBuf;

use common::TestServer;
use emulator::{ComfyUiEmulator, Features, RunScript};
use imgforge::config::{ApiKeySettings, PortraitBackendKind, Secret, Settings};
use imgforge::providers::comfyui::ComfyUiSettings;
use portrait_rest::{Rest, portrait_set};
use serde_json::{Value, json};

const KEY: &str = "ak_comfyui";
const SECRET: &str = "sk_comfyui_0123456789";

fn comfyui(settings: &mut Settings, emulator: &ComfyUiEmulator) {
    settings.auth.keys = vec![ApiKeySettings {
        id: KEY.into(),
        secrets: vec![Secret::new(SECRET)],
        active: true,
        rate_per_sec: Some(1000.0),
        rate_burst: Some(1000),
    }];
    settings.portrait.backend = PortraitBackendKind::ComfyUi;
    settings.portrait.comfyui.workflow_dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows/comfyui");
    // Small results keep the suite fast; the emulator renders at the asked size.
    settings.portrait.comfyui.width = 256;
    settings.portrait.comfyui.height = 320;
    settings.portrait.retry_delay_secs = 1;
    settings.providers.comfyui = Some(ComfyUiSettings {
        base_url: emulator.base_url(),
        poll_interval_ms: 20,
        request_timeout_secs: 5,
        job_timeout_secs: 30,
        ..ComfyUiSettings::default()
    });
}

#[tokio::test]
async fn the_five_calls_run_instantid_on_comfyui_and_its_failures_end_in_states_5_and_4() {
    let Some(photos) = portrait_set() else { return };
    let emulator = ComfyUiEmulator::start(Features::default()).await;
    let emu = emulator.clone();
    let Some(server) = TestServer::with_models(move |s| comfyui(s, &emu)).await else {
        return;
    };
    let rest = Rest::new(&server.http, &server.http_base, KEY, SECRET);

    let mut paths = Vec::new();
    for (_, photo) in &photos {
        paths.push(rest.upload(photo).await);
    }
    let (status, reply) = rest
        .post("/cloud/aigc_user_model_create", json!({ "img_set": paths }))
        .await;
    assert_eq!((status, reply["ret"].as_i64()), (200, Some(0)), "{reply}");
    let user_id = reply["body"]["user_id"].as_str().unwrap().to_owned();
    let training = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (training["state"].as_i64(), training["tsk_type"].as_i64()),
        (Some(3), Some(1)),
        "{training}"
    );
    // Training is curation here: nothing reached ComfyUI.
    assert!(emulator.submitted().is_empty());
    assert!(emulator.uploads().is_empty());

    let style = rest.first_style().await;
    let catalogue = imgforge::portrait::styles::StyleCatalogue::load("").unwrap();
    let prompt = catalogue.get(&style).unwrap().comfyui_prompt.clone();
    let generate = || {
        rest.post(
            "/cloud/aigc_task_create",
            json!({ "user_id": user_id, "style": style }),
        )
    };
    let (status, reply) = generate().await;
    assert_eq!(status, 200, "{reply}");
    let done = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (done["state"].as_i64(), done["tsk_type"].as_i64()),
        (Some(3), Some(2)),
        "{done}"
    );
    let urls = done["result_paths"].as_array().unwrap();
    assert_eq!(urls.len(), 4, "portrait.images_per_task: {done}");
    for url in urls {
        let bytes = common::result_bytes(&server.http, url.as_str().unwrap()).await;
        let image = common::decode(&bytes);
        assert_eq!((image.width(), image.height()), (256, 320));
    }

    // One run: the user's best curated photo uploaded and fed to InstantID, which conditions
    // the sampler; the style's prompt and the configured size, checkpoint and batch.
    let uploads = emulator.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert!(
        uploads[0].0.ends_with(".jpg") && uploads[0].1 > 1000,
        "{uploads:?}"
    );
    let submitted = emulator.submitted();
    assert_eq!(submitted.len(), 1);
    let graph = &submitted[0].graph;
    assert_eq!(graph["10"]["inputs"]["image"], uploads[0].0.as_str());
    assert_eq!(graph["23"]["class_type"], "ApplyInstantID");
    assert_eq!(graph["23"]["inputs"]["image"], json!(["10", 0]));
    assert_eq!(graph["3"]["inputs"]["model"], json!(["23", 0]));
    assert_eq!(graph["3"]["inputs"]["positive"], json!(["23", 1]));
    assert_eq!(graph["6"]["inputs"]["text"], prompt.as_str());
    assert_eq!(
        graph["4"]["inputs"]["ckpt_name"],
        "sd_xl_base_1.0.safetensors"
    );
    let latent = &graph["5"]["inputs"];
    assert_eq!(
        (&latent["width"], &latent["height"], &latent["batch_size"]),
        (&json!(256), &json!(320), &json!(4))
    );

    // The sampler fails at the server: state 5 with the node's message, no retry.
    emulator.script(RunScript::Fail {
        at_step: 1,
        exception_type: "ValueError".into(),
    });
    let (_, reply) = generate().await;
    let failed: Value = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(failed["state"], 5, "{failed}");
    let message = failed["msg"].as_str().unwrap_or_default();
    assert!(
        message.contains("node 3 (KSampler)") && message.contains("sampling failed"),
        "{failed}"
    );
    assert_eq!(emulator.submitted().len(), 2, "submitted once");

    // Two of four images saved: state 4, the two kept.
    emulator.script(RunScript::Short { images: 2 });
    let (_, reply) = generate().await;
    let partial = rest
        .until_done(reply["body"]["task_id"].as_str().unwrap())
        .await;
    assert_eq!(partial["state"], 4, "{partial}");
    assert_eq!(
        partial["result_paths"].as_array().unwrap().len(),
        2,
        "{partial}"
    );
    server.stop().await;
}
