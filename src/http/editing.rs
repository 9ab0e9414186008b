//! Seed 002 editing paths run by the engine: `/remove_bg`, `/change_bg`, `/change_cloth`,
//! `/expand`, `/fix`, `/remove_watermark`.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;

use crate::domain::ImageSource;
use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, CutoutMode, EdgeRefinement, ExpandParams,
    FixParams, OutputSpec, Placement, RemoveBackgroundParams, RemoveWatermarkParams, parse_color,
};
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::JsonBody;
use crate::http::task::{ClothesReply, TaskReply};

/// `POST /remove_bg` — `{image_url}` plus optional `model`, `mode` (cutout | mask | solid),
/// `background_color`, `crop`, `crop_margin`, `refine` (none | guided | matting).
pub async fn remove_bg(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let url = body.required_str("image_url").map_err(fail)?;
    let params = remove_bg_params(&body).map_err(fail)?;
    let outcome = state
        .engine
        .remove_background(ImageSource::Url(url), "image_url", params, None)
        .await
        .map_err(fail)?;
    Ok(Json(TaskReply::new(outcome.task, &outcome.images)))
}

fn remove_bg_params(body: &JsonBody) -> Result<RemoveBackgroundParams> {
    let mode = match body.optional_str("mode")?.as_deref() {
        None | Some("cutout") => CutoutMode::Cutout,
        Some("mask") => CutoutMode::Mask,
        Some("solid") => CutoutMode::Solid(parse_color(
            "background_color",
            body.optional_str("background_color")?
                .as_deref()
                .unwrap_or("white"),
        )?),
        Some(other) => {
            return Err(Error::invalid(
                "mode",
                format!(
                    "mode must be cutout, mask or solid; got {:?}",
                    crate::redact::echo(other)
                ),
            ));
        }
    };
    let refine = match body.optional_str("refine")?.as_deref() {
        None | Some("guided") => EdgeRefinement::GuidedFilter,
        Some("none") => EdgeRefinement::None,
        Some("matting") => EdgeRefinement::AlphaMatting,
        Some(other) => {
            return Err(Error::invalid(
                "refine",
                format!(
                    "refine must be none, guided or matting; got {:?}",
                    crate::redact::echo(other)
                ),
            ));
        }
    };
    let crop_margin = match body.int("crop_margin")? {
        None => 0,
        Some(m) if m >= 0 => u32::try_from(m).unwrap_or(u32::MAX),
        Some(m) => {
            return Err(Error::invalid(
                "crop_margin",
                format!("crop_margin must not be negative, got {m}"),
            ));
        }
    };
    Ok(RemoveBackgroundParams {
        model: body.optional_str("model")?,
        mode,
        crop_to_subject: body.bool("crop")?.unwrap_or(false),
        crop_margin,
        refine,
        output: OutputSpec::default(),
    })
}

/// `POST /change_bg` — `{base_image_url, ref_image_url, ref_prompt?="", n?=1}`.
pub async fn change_bg(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let base = body.required_str("base_image_url").map_err(fail)?;
    let background = body.required_str("ref_image_url").map_err(fail)?;
    let params = ChangeBackgroundParams::new(
        body.optional_str("ref_prompt")
            .map_err(fail)?
            .unwrap_or_default(),
        body.int("n").map_err(fail)?,
        Placement::default(),
        body.bool("shadow").map_err(fail)?.unwrap_or(false),
        OutputSpec::default(),
    )
    .map_err(fail)?;
    let outcome = state
        .engine
        .change_background(
            ImageSource::Url(base),
            ImageSource::Url(background),
            ("base_image_url", "ref_image_url"),
            params,
            None,
        )
        .await
        .map_err(fail)?;
    Ok(Json(TaskReply::new(outcome.task, &outcome.images)))
}

/// `POST /change_cloth` — `{top_garment_url, bottom_garment_url, person_image_url}`; replies
/// with `image_url` as seed 002 does. One garment may be left out (a dress goes in
/// `top_garment_url`); `model` optionally picks the provider model.
pub async fn change_cloth(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<ClothesReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let person = body.required_str("person_image_url").map_err(fail)?;
    let top = body.optional_str("top_garment_url").map_err(fail)?;
    let bottom = body.optional_str("bottom_garment_url").map_err(fail)?;
    let params = ChangeClothesParams {
        model: body.optional_str("model").map_err(fail)?,
        output: OutputSpec::default(),
    };
    let outcome = state
        .engine
        .change_clothes(
            ImageSource::Url(person),
            top.map(ImageSource::Url),
            bottom.map(ImageSource::Url),
            ["person_image_url", "top_garment_url", "bottom_garment_url"],
            params,
            None,
        )
        .await
        .map_err(fail)?;
    Ok(Json(ClothesReply::new(outcome.task, &outcome.images)))
}

/// `POST /expand` — `{base_image_url, top_scale?, bottom_scale?, left_scale?, right_scale?
/// (each 1.5), prompt?="按照原来图片背景来操作扩展"}`.
pub async fn expand(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let url = body.required_str("base_image_url").map_err(fail)?;
    let scale = |name| body.float(name);
    let params = ExpandParams::new(
        [
            scale("top_scale").map_err(fail)?,
            scale("bottom_scale").map_err(fail)?,
            scale("left_scale").map_err(fail)?,
            scale("right_scale").map_err(fail)?,
        ],
        body.optional_str("prompt").map_err(fail)?,
        OutputSpec::default(),
    )
    .map_err(fail)?;
    let outcome = state
        .engine
        .expand(ImageSource::Url(url), "base_image_url", params, None)
        .await
        .map_err(fail)?;
    Ok(Json(TaskReply::new(outcome.task, &outcome.images)))
}

/// `POST /fix` — `{base_image_url, prompt?="图像超分。"}` plus optional `upscale_factor` (1–4,
/// default 2).
pub async fn fix(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let url = body.required_str("base_image_url").map_err(fail)?;
    let params = FixParams::new(
        body.optional_str("prompt").map_err(fail)?,
        body.int("upscale_factor").map_err(fail)?,
        OutputSpec::default(),
    )
    .map_err(fail)?;
    let outcome = state
        .engine
        .fix(ImageSource::Url(url), "base_image_url", params, None)
        .await
        .map_err(fail)?;
    Ok(Json(TaskReply::new(outcome.task, &outcome.images)))
}

/// `POST /remove_watermark` — `{image_url}`.
pub async fn remove_watermark(
    State(state): State<AppState>,
    body: std::result::Result<Bytes, BytesRejection>,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let url = body.required_str("image_url").map_err(fail)?;
    let params = RemoveWatermarkParams::new(None, OutputSpec::default());
    let outcome = state
        .engine
        .remove_watermark(ImageSource::Url(url), "image_url", params, None, None)
        .await
        .map_err(fail)?;
    Ok(Json(TaskReply::new(outcome.task, &outcome.images)))
}
