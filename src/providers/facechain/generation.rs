//! `POST /services/aigc/album/gen_potrait` (sic) as a DashScope async task, and its results.

use serde_json::{Value, json};

use crate::config::facechain::FaceChainSettings;
use crate::domain::{EncodedImage, Progress, ProgressSink};
use crate::error::{Error, Result};
use crate::providers::dashscope::{PROVIDER, TaskClient, TaskRequest, vendor_error};
use crate::providers::facechain::{GenerationSource, PortraitStyle, RemoteTaskId};
use crate::providers::remote::ResultDownloader;

const PATH: &str = "/services/aigc/album/gen_potrait";
/// A template with a trained person.
const TEMPLATE_STYLE: &str = "portrait_url_template";
/// A template with photos and no training.
const TRAIN_FREE_STYLE: &str = "train_free_portrait_url_template";

pub(super) fn request(
    settings: &FaceChainSettings,
    source: &GenerationSource,
    style: &PortraitStyle,
    images: u32,
) -> Result<TaskRequest> {
    let mut parameters = json!({"n": images});
    let mut input = serde_json::Map::new();
    let mut resources = Vec::new();
    match (source, style) {
        (GenerationSource::Model(model), PortraitStyle::Preset(name)) => {
            if name.is_empty() {
                return Err(Error::invalid("style", "the FaceChain style is empty"));
            }
            parameters["style"] = json!(name);
            parameters["size"] = json!(settings.size);
            resources.push(lora(&model.resource_id));
        }
        (GenerationSource::Model(model), PortraitStyle::Template { template_url }) => {
            parameters["style"] = json!(TEMPLATE_STYLE);
            input.insert("template_url".into(), json!(template_url));
            resources.push(lora(&model.resource_id));
        }
        (GenerationSource::TrainFree { photo_urls }, PortraitStyle::Template { template_url }) => {
            if photo_urls.is_empty() {
                return Err(Error::invalid(
                    "img_set",
                    "train-free generation needs at least one frontal photo",
                ));
            }
            parameters["style"] = json!(TRAIN_FREE_STYLE);
            parameters["skin_retouch"] = json!(settings.skin_retouch);
            input.insert("template_url".into(), json!(template_url));
            input.insert("user_urls".into(), json!(photo_urls));
        }
        (GenerationSource::TrainFree { .. }, PortraitStyle::Preset(name)) => {
            return Err(Error::invalid(
                "style",
                format!(
                    "style {name:?} is a FaceChain preset, which needs a trained model; \
                     train-free generation needs a template_url"
                ),
            ));
        }
    }
    let mut body = json!({"model": settings.generation_model, "parameters": parameters});
    if !input.is_empty() {
        body["input"] = Value::Object(input);
    }
    if !resources.is_empty() {
        body["resources"] = Value::Array(resources);
    }
    Ok(TaskRequest {
        model: settings.generation_model.clone(),
        path: PATH,
        body,
        headers: Vec::new(),
    })
}

fn lora(resource_id: &str) -> Value {
    json!({"resource_id": resource_id, "resource_type": "facelora"})
}

pub(super) async fn wait(
    tasks: &TaskClient,
    downloader: &ResultDownloader,
    task_id: &RemoteTaskId,
    progress: &ProgressSink,
) -> Result<Vec<Result<EncodedImage>>> {
    let report = progress.clone();
    let on_status = move |status: &str| match status {
        "PENDING" => report.report(Progress::Queued { position: None }),
        other => report.report(Progress::Running {
            percent: None,
            stage: format!("generating ({other})"),
        }),
    };
    let finished = tasks.await_task(&task_id.0, &on_status).await?;
    let mut images = Vec::new();
    for url in &finished.outputs.urls {
        images.push(downloader.fetch(PROVIDER, url).await);
    }
    for (code, message) in &finished.outputs.failures {
        images.push(Err(vendor_error(None, code, message, None)));
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::facechain::{RemoteJobId, TrainedModel};

    fn model() -> GenerationSource {
        GenerationSource::Model(TrainedModel {
            job_id: RemoteJobId("ft-1".into()),
            resource_id: "facechain-finetune-ft-1".into(),
        })
    }

    #[test]
    fn builds_each_documented_mode() {
        let settings = FaceChainSettings::default();
        let preset = request(
            &settings,
            &model(),
            &PortraitStyle::Preset("f_idcard_female".into()),
            4,
        )
        .unwrap();
        assert_eq!(
            preset.body,
            json!({"model": "facechain-generation",
                   "parameters": {"style": "f_idcard_female", "size": "768*1024", "n": 4},
                   "resources": [{"resource_id": "facechain-finetune-ft-1", "resource_type": "facelora"}]})
        );
        let template = PortraitStyle::Template {
            template_url: "https://t/1.jpg".into(),
        };
        let with_lora = request(&settings, &model(), &template, 4).unwrap();
        assert_eq!(
            with_lora.body["parameters"]["style"],
            "portrait_url_template"
        );
        assert_eq!(with_lora.body["input"]["template_url"], "https://t/1.jpg");
        let free = GenerationSource::TrainFree {
            photo_urls: vec!["https://u/1.jpg".into()],
        };
        let train_free = request(&settings, &free, &template, 4).unwrap();
        assert_eq!(
            train_free.body,
            json!({"model": "facechain-generation",
                   "parameters": {"style": "train_free_portrait_url_template", "n": 4, "skin_retouch": true},
                   "input": {"template_url": "https://t/1.jpg", "user_urls": ["https://u/1.jpg"]}})
        );
        assert_eq!(train_free.path, "/services/aigc/album/gen_potrait");
    }

    #[test]
    fn refuses_combinations_facechain_cannot_run_naming_the_field() {
        let settings = FaceChainSettings::default();
        let free = GenerationSource::TrainFree { photo_urls: vec![] };
        let template = PortraitStyle::Template {
            template_url: "https://t/1.jpg".into(),
        };
        let err = request(&settings, &free, &template, 4).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("img_set"));
        let free = GenerationSource::TrainFree {
            photo_urls: vec!["https://u/1.jpg".into()],
        };
        let err = request(
            &settings,
            &free,
            &PortraitStyle::Preset("f_idcard_male".into()),
            4,
        )
        .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("style"));
    }
}
