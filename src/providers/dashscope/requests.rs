//! The request of each model DashScope runs for us (PROVIDERS.md §2), as pure functions of
//! validated parameters and staged input URLs, so their shapes are tested without a network.

use serde_json::{Value, json};

use crate::config::dashscope::StyleChoice;
use crate::domain::params::{ExpandParams, FixParams, RemoveWatermarkParams, TextToImageParams};
use crate::error::{Error, Result};
use crate::providers::dashscope::client::TaskRequest;

pub const BACKGROUND_GENERATION: &str = "/services/aigc/background-generation/generation/";
pub const IMAGE_SYNTHESIS: &str = "/services/aigc/image2image/image-synthesis";
pub const IMAGE_GENERATION: &str = "/services/aigc/image-generation/generation";
pub const TEXT_TO_IMAGE: &str = "/services/aigc/text2image/image-synthesis";

/// Smallest and largest side `wanx2.1-imageedit` takes.
pub const IMAGE_EDIT_SIDES: (u32, u32) = (512, 4096);
/// Smallest and largest side each `aitryon` image takes.
pub const TRY_ON_SIDES: (u32, u32) = (150, 4096);
/// The range of each expand scale `wanx2.1-imageedit` takes.
pub const EXPAND_RANGE: (f32, f32) = (1.0, 2.0);

fn request(
    model: &str,
    path: &'static str,
    body: Value,
    headers: &[(String, String)],
) -> TaskRequest {
    TaskRequest {
        model: model.to_owned(),
        path,
        body,
        headers: headers.to_vec(),
    }
}

/// `wanx-background-generation-v2`: the (transparent) subject on a background made from a
/// reference image and/or a prompt.
pub fn background_generation(
    model: &str,
    model_version: &str,
    subject_url: &str,
    ref_image_url: &str,
    ref_prompt: &str,
    n: u32,
    headers: &[(String, String)],
) -> TaskRequest {
    let mut input = json!({ "base_image_url": subject_url, "ref_image_url": ref_image_url });
    if !ref_prompt.is_empty() {
        input["ref_prompt"] = json!(ref_prompt);
    }
    let mut parameters = json!({ "n": n });
    if !model_version.is_empty() {
        parameters["model_version"] = json!(model_version);
    }
    request(
        model,
        BACKGROUND_GENERATION,
        json!({ "model": model, "input": input, "parameters": parameters }),
        headers,
    )
}

/// `aitryon-plus` / `aitryon`: keeps the original size and the person's face.
pub fn try_on(
    model: &str,
    person_url: &str,
    top_url: Option<&str>,
    bottom_url: Option<&str>,
    headers: &[(String, String)],
) -> TaskRequest {
    let mut input = json!({ "person_image_url": person_url });
    if let Some(top) = top_url {
        input["top_garment_url"] = json!(top);
    }
    if let Some(bottom) = bottom_url {
        input["bottom_garment_url"] = json!(bottom);
    }
    request(
        model,
        IMAGE_SYNTHESIS,
        json!({
            "model": model,
            "input": input,
            "parameters": { "resolution": -1, "restore_face": true },
        }),
        headers,
    )
}

fn image_edit(
    model: &str,
    function: &str,
    prompt: &str,
    base_url: &str,
    parameters: Value,
    headers: &[(String, String)],
) -> TaskRequest {
    request(
        model,
        IMAGE_SYNTHESIS,
        json!({
            "model": model,
            "input": { "function": function, "prompt": prompt, "base_image_url": base_url },
            "parameters": parameters,
        }),
        headers,
    )
}

/// Refuses scales `wanx2.1-imageedit` cannot do, saying what it can.
pub fn check_expand_scales(model: &str, params: &ExpandParams) -> Result<()> {
    let (low, high) = EXPAND_RANGE;
    for (name, scale) in params.scales() {
        if !(low..=high).contains(&scale) {
            return Err(Error::invalid(
                name,
                format!(
                    "{name} is {scale}, but {model} grows each side by a scale between {low} \
                     (unchanged) and {high} (doubled) in one call; ask for at most {high}, or \
                     expand the result again"
                ),
            ));
        }
    }
    Ok(())
}

/// `wanx2.1-imageedit` `function: expand` with the seed's per-side scales.
pub fn expand(
    model: &str,
    params: &ExpandParams,
    base_url: &str,
    headers: &[(String, String)],
) -> TaskRequest {
    image_edit(
        model,
        "expand",
        &params.prompt,
        base_url,
        json!({
            "top_scale": params.top_scale,
            "bottom_scale": params.bottom_scale,
            "left_scale": params.left_scale,
            "right_scale": params.right_scale,
            "n": 1,
        }),
        headers,
    )
}

/// `wanx2.1-imageedit` `function: super_resolution`.
pub fn super_resolution(
    model: &str,
    params: &FixParams,
    base_url: &str,
    headers: &[(String, String)],
) -> TaskRequest {
    image_edit(
        model,
        "super_resolution",
        &params.prompt,
        base_url,
        json!({ "upscale_factor": params.upscale_factor, "n": 1 }),
        headers,
    )
}

/// `wanx2.1-imageedit` `function: remove_watermark` (text watermarks).
pub fn remove_watermark(
    model: &str,
    params: &RemoveWatermarkParams,
    base_url: &str,
    headers: &[(String, String)],
) -> TaskRequest {
    image_edit(
        model,
        "remove_watermark",
        &params.prompt,
        base_url,
        json!({ "n": 1 }),
        headers,
    )
}

/// `wanx-style-repaint-v1`: a preset style, or (index −1) the style of a reference image.
pub fn style_repaint(
    model: &str,
    style: &StyleChoice,
    image_url: &str,
    headers: &[(String, String)],
) -> TaskRequest {
    let mut input = json!({ "image_url": image_url, "style_index": style.style_index });
    if style.style_index == -1 {
        input["style_ref_url"] = json!(style.style_ref_url);
    }
    request(
        model,
        IMAGE_GENERATION,
        json!({ "model": model, "input": input }),
        headers,
    )
}

/// Text-to-image: the legacy protocol for `wanx2.x`/`wan2.2`/`wan2.5`, the messages
/// protocol (async endpoint) for `wan2.6` and later.
pub fn text_to_image(model: &str, params: &TextToImageParams) -> TaskRequest {
    let size = format!("{}*{}", params.width, params.height);
    let mut parameters = json!({
        "size": size,
        "n": params.n,
        "watermark": false,
    });
    if let Some(seed) = params.seed {
        parameters["seed"] = json!(seed);
    }
    if uses_messages_protocol(model) {
        if !params.negative_prompt.is_empty() {
            parameters["negative_prompt"] = json!(params.negative_prompt);
        }
        return request(
            model,
            IMAGE_GENERATION,
            json!({
                "model": model,
                "input": { "messages": [{ "role": "user", "content": [{ "text": params.prompt }] }] },
                "parameters": parameters,
            }),
            &[],
        );
    }
    let mut input = json!({ "prompt": params.prompt });
    if !params.negative_prompt.is_empty() {
        input["negative_prompt"] = json!(params.negative_prompt);
    }
    request(
        model,
        TEXT_TO_IMAGE,
        json!({ "model": model, "input": input, "parameters": parameters }),
        &[],
    )
}

/// `wan2.6-t2i` and newer speak the messages protocol.
fn uses_messages_protocol(model: &str) -> bool {
    let Some(version) = model.strip_prefix("wan") else {
        return false;
    };
    let number: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse::<f32>().is_ok_and(|v| v >= 2.6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::params::OutputSpec;

    #[test]
    fn expand_sends_the_four_scales_and_the_seed_prompt() {
        let params = ExpandParams::new(
            [Some(2.0), None, Some(1.2), None],
            None,
            OutputSpec::default(),
        )
        .unwrap();
        let req = expand("wanx2.1-imageedit", &params, "https://in/x.png", &[]);
        assert_eq!(req.path, IMAGE_SYNTHESIS);
        assert_eq!(req.body["input"]["function"], "expand");
        assert_eq!(req.body["input"]["prompt"], "按照原来图片背景来操作扩展");
        assert_eq!(req.body["parameters"]["top_scale"], 2.0);
        assert_eq!(req.body["parameters"]["bottom_scale"], 1.5);
        assert_eq!(
            req.body["parameters"]["left_scale"].as_f64().unwrap() as f32,
            1.2
        );
    }

    #[test]
    fn expand_scales_beyond_the_model_are_explained() {
        let params =
            ExpandParams::new([Some(2.5), None, None, None], None, OutputSpec::default()).unwrap();
        let err = check_expand_scales("wanx2.1-imageedit", &params).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("top_scale"));
        assert!(
            err.message
                .contains("between 1 (unchanged) and 2 (doubled)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn try_on_sends_only_the_garments_given() {
        let req = try_on("aitryon-plus", "https://p", Some("https://t"), None, &[]);
        assert_eq!(req.body["input"]["top_garment_url"], "https://t");
        assert!(req.body["input"].get("bottom_garment_url").is_none());
        assert_eq!(req.body["parameters"]["resolution"], -1);
        assert_eq!(req.body["parameters"]["restore_face"], true);
    }

    #[test]
    fn style_repaint_sends_a_reference_only_for_custom_styles() {
        let preset = StyleChoice {
            style_index: 7,
            style_ref_url: String::new(),
        };
        let req = style_repaint("wanx-style-repaint-v1", &preset, "https://p", &[]);
        assert_eq!(req.body["input"]["style_index"], 7);
        assert!(req.body["input"].get("style_ref_url").is_none());
        let custom = StyleChoice {
            style_index: -1,
            style_ref_url: "https://style".to_owned(),
        };
        let req = style_repaint("wanx-style-repaint-v1", &custom, "https://p", &[]);
        assert_eq!(req.body["input"]["style_ref_url"], "https://style");
    }

    #[test]
    fn text_to_image_picks_the_protocol_by_model() {
        let params = TextToImageParams {
            prompt: "a cat".to_owned(),
            negative_prompt: String::new(),
            width: 1024,
            height: 768,
            n: 2,
            seed: Some(7),
        };
        let legacy = text_to_image("wanx2.1-t2i-turbo", &params);
        assert_eq!(legacy.path, TEXT_TO_IMAGE);
        assert_eq!(legacy.body["parameters"]["size"], "1024*768");
        assert_eq!(legacy.body["input"]["prompt"], "a cat");
        let messages = text_to_image("wan2.6-t2i", &params);
        assert_eq!(messages.path, IMAGE_GENERATION);
        assert_eq!(
            messages.body["input"]["messages"][0]["content"][0]["text"],
            "a cat"
        );
        assert_eq!(
            text_to_image("wan2.2-t2i-flash", &params).path,
            TEXT_TO_IMAGE
        );
    }
}
