//! Seed 002 utilities: `/utils/photo_resize_url`, `/utils/photo_resize`, `/utils/convert_to_png`.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, State, multipart::MultipartRejection};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::Serialize;

use crate::config::Delivery;
use crate::domain::ImageSource;
use crate::domain::params::{ConvertParams, OutputSpec, ResizeParams};
use crate::engine::{DeliveredImage, ResizeOutcome};
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::{Form, JsonBody};

#[derive(Serialize)]
pub struct ResizeReply {
    success: bool,
    original_size: String,
    resized_size: String,
    image_data: String,
}

impl From<ResizeOutcome> for ResizeReply {
    fn from(outcome: ResizeOutcome) -> Self {
        let image = &outcome.image.image;
        ResizeReply {
            success: true,
            original_size: format!("{}x{}px", outcome.original.width, outcome.original.height),
            resized_size: format!("{}x{}px", image.width, image.height),
            image_data: BASE64.encode(&image.bytes),
        }
    }
}

/// `POST /utils/photo_resize_url` — JSON `{image_url, min_dim?=512, max_dim?=4096}`.
pub async fn photo_resize_url(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ResizeReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let body = JsonBody::parse(body).map_err(fail)?;
    let url = body.required_str("image_url").map_err(fail)?;
    let params = ResizeParams::new(
        body.int("min_dim").map_err(fail)?,
        body.int("max_dim").map_err(fail)?,
        OutputSpec::default(),
    )
    .map_err(fail)?;
    let outcome = state
        .engine
        .resize(
            ImageSource::Url(url),
            "image_url",
            params,
            Some(Delivery::Inline),
        )
        .await
        .map_err(fail)?;
    Ok(Json(outcome.into()))
}

/// `POST /utils/photo_resize` — multipart `image` plus `min_dim`, `max_dim`.
pub async fn photo_resize(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<ResizeReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let mut form = Form::read(multipart, state.max_body_bytes)
        .await
        .map_err(fail)?;
    let image = form.file("image").map_err(fail)?;
    let params = ResizeParams::new(
        form.int("min_dim").map_err(fail)?,
        form.int("max_dim").map_err(fail)?,
        OutputSpec::default(),
    )
    .map_err(fail)?;
    let outcome = state
        .engine
        .resize(
            ImageSource::Bytes(image),
            "image",
            params,
            Some(Delivery::Inline),
        )
        .await
        .map_err(fail)?;
    Ok(Json(outcome.into()))
}

#[derive(Serialize)]
pub struct ConvertReply {
    success: bool,
    message: String,
    original_format: String,
    converted_format: String,
    /// One entry per PNG: a signed URL with URL delivery, else a `data:` URI.
    image_paths: Vec<String>,
    /// The first PNG, base64.
    image_data: String,
}

fn path_of(image: &DeliveredImage) -> String {
    match &image.url {
        Some(url) => url.clone(),
        None => format!("data:image/png;base64,{}", BASE64.encode(image.bytes())),
    }
}

/// `POST /utils/convert_to_png` — multipart `image`, `keep_animation?=false`, `overwrite?=false`.
pub async fn convert_to_png(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<ConvertReply>, ApiError> {
    let fail = |e| Envelope::Seed002.error(e);
    let mut form = Form::read(multipart, state.max_body_bytes)
        .await
        .map_err(fail)?;
    let image = form.file("image").map_err(fail)?;
    let params = ConvertParams {
        keep_animation: form.bool("keep_animation").map_err(fail)?.unwrap_or(false),
        overwrite: form.bool("overwrite").map_err(fail)?.unwrap_or(false),
    };
    let outcome = state
        .engine
        .convert_to_png(ImageSource::Bytes(image), "image", params, None)
        .await
        .map_err(fail)?;
    let count = outcome.images.len();
    let message = match (count, outcome.reused) {
        (_, true) => format!("转换成功（复用已有结果，共 {count} 张）"),
        (1, false) => "转换成功".to_owned(),
        (_, false) => format!("转换成功，共 {count} 张"),
    };
    Ok(Json(ConvertReply {
        success: true,
        message,
        original_format: outcome.original_format.name().to_owned(),
        converted_format: "png".to_owned(),
        image_paths: outcome.images.iter().map(path_of).collect(),
        image_data: outcome
            .images
            .first()
            .map(|first| BASE64.encode(first.bytes()))
            .unwrap_or_default(),
    }))
}
