//! Seed 002 editing paths run by the engine: `/remove_bg`, `/change_bg`, `/change_cloth`,
//! `/expand`, `/fix`, `/remove_watermark`.
//!
//! Each handler says only what differs: which fields it reads and which engine operation it
//! calls. [`seed002`] parses the body, and turns any error into seed 002's envelope.

use std::future::Future;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use bytes::Bytes;

use crate::domain::ImageSource;
use crate::domain::params::{
    ChangeBackgroundParams, ChangeClothesParams, CutoutMode, EdgeRefinement, ExpandParams,
    FixParams, OutputSpec, Placement, RemoveBackgroundParams, RemoveWatermarkParams,
};
use crate::engine::EditOutcome;
use crate::error::{Error, Result};
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::JsonBody;
use crate::http::task::{ClothesReply, TaskReply};

type Body = std::result::Result<Bytes, BytesRejection>;

/// Parses the JSON body, runs `operation` on it and answers with `reply`; every error becomes
/// seed 002's error envelope.
async fn seed002<R, F, Fut>(
    body: Body,
    reply: fn(EditOutcome) -> R,
    operation: F,
) -> std::result::Result<Json<R>, ApiError>
where
    F: FnOnce(JsonBody) -> Fut,
    Fut: Future<Output = Result<EditOutcome>>,
{
    let outcome = async { operation(JsonBody::parse(body)?).await }.await;
    outcome
        .map(|outcome| Json(reply(outcome)))
        .map_err(|e| Envelope::Seed002.error(e))
}

fn task_reply(outcome: EditOutcome) -> TaskReply {
    TaskReply::new(outcome.task, &outcome.images)
}

fn clothes_reply(outcome: EditOutcome) -> ClothesReply {
    ClothesReply::new(outcome.task, &outcome.images)
}

/// `POST /remove_bg` — `{image_url}` plus optional `model`, `mode` (cutout | mask | solid),
/// `background_color`, `crop`, `crop_margin`, `refine` (none | guided | matting).
pub async fn remove_bg(
    State(state): State<AppState>,
    body: Body,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    seed002(body, task_reply, |body| async move {
        let url = body.required_str("image_url")?;
        let params = remove_bg_params(&body)?;
        state
            .engine
            .remove_background(ImageSource::Url(url), "image_url", params, None)
            .await
    })
    .await
}

fn remove_bg_params(body: &JsonBody) -> Result<RemoveBackgroundParams> {
    let mode = CutoutMode::parse(
        body.optional_str("mode")?.as_deref(),
        body.optional_str("background_color")?.as_deref(),
    )?;
    let refine = EdgeRefinement::parse(body.optional_str("refine")?.as_deref())?;
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
    body: Body,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    seed002(body, task_reply, |body| async move {
        let base = body.required_str("base_image_url")?;
        let background = body.required_str("ref_image_url")?;
        let params = ChangeBackgroundParams::new(
            body.optional_str("ref_prompt")?.unwrap_or_default(),
            body.int("n")?,
            Placement::default(),
            body.bool("shadow")?.unwrap_or(false),
            OutputSpec::default(),
        )?;
        state
            .engine
            .change_background(
                ImageSource::Url(base),
                ImageSource::Url(background),
                ("base_image_url", "ref_image_url"),
                params,
                None,
            )
            .await
    })
    .await
}

/// `POST /change_cloth` — `{top_garment_url, bottom_garment_url, person_image_url}`; replies
/// with `image_url` as seed 002 does. One garment may be left out (a dress goes in
/// `top_garment_url`); `model` optionally picks the provider model.
pub async fn change_cloth(
    State(state): State<AppState>,
    body: Body,
) -> std::result::Result<Json<ClothesReply>, ApiError> {
    seed002(body, clothes_reply, |body| async move {
        let person = body.required_str("person_image_url")?;
        let top = body.optional_str("top_garment_url")?;
        let bottom = body.optional_str("bottom_garment_url")?;
        let params = ChangeClothesParams {
            model: body.optional_str("model")?,
            output: OutputSpec::default(),
        };
        state
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
    })
    .await
}

/// `POST /expand` — `{base_image_url, top_scale?, bottom_scale?, left_scale?, right_scale?
/// (each 1.5), prompt?="按照原来图片背景来操作扩展"}`.
pub async fn expand(
    State(state): State<AppState>,
    body: Body,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    seed002(body, task_reply, |body| async move {
        let url = body.required_str("base_image_url")?;
        let params = ExpandParams::new(
            [
                body.float("top_scale")?,
                body.float("bottom_scale")?,
                body.float("left_scale")?,
                body.float("right_scale")?,
            ],
            body.optional_str("prompt")?,
            OutputSpec::default(),
        )?;
        state
            .engine
            .expand(ImageSource::Url(url), "base_image_url", params, None)
            .await
    })
    .await
}

/// `POST /fix` — `{base_image_url, prompt?="图像超分。"}` plus optional `upscale_factor` (1–4,
/// default 2).
pub async fn fix(
    State(state): State<AppState>,
    body: Body,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    seed002(body, task_reply, |body| async move {
        let url = body.required_str("base_image_url")?;
        let params = FixParams::new(
            body.optional_str("prompt")?,
            body.int("upscale_factor")?,
            OutputSpec::default(),
        )?;
        state
            .engine
            .fix(ImageSource::Url(url), "base_image_url", params, None)
            .await
    })
    .await
}

/// `POST /remove_watermark` — `{image_url}`.
pub async fn remove_watermark(
    State(state): State<AppState>,
    body: Body,
) -> std::result::Result<Json<TaskReply>, ApiError> {
    seed002(body, task_reply, |body| async move {
        let url = body.required_str("image_url")?;
        let params = RemoveWatermarkParams::new(None, OutputSpec::default());
        state
            .engine
            .remove_watermark(ImageSource::Url(url), "image_url", params, None, None)
            .await
    })
    .await
}
