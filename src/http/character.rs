//! Seed 000 `POST /create-character`.

use axum::Json;
use axum::extract::{Multipart, State, multipart::MultipartRejection};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;

use crate::config::Delivery;
use crate::domain::ImageSource;
use crate::domain::params::{CreateCharacterParams, OutputSpec, StylePreset};
use crate::error::Error;
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::Form;

#[derive(Serialize)]
pub struct CharacterReply {
    code: i32,
    desc: &'static str,
    message: CharacterMessage,
}

#[derive(Serialize)]
pub struct CharacterMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    character_image_oss_url: Option<String>,
    character_image_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    character_image_base64: Option<String>,
}

pub async fn create_character(
    State(state): State<AppState>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<CharacterReply>, ApiError> {
    let fail = |e| Envelope::Seed000.error(e);
    let mut form = Form::read(multipart, state.max_body_bytes)
        .await
        .map_err(fail)?;
    let Some(photo) = form.files.remove("photo") else {
        return Err(fail(Error::invalid("photo", "请上传照片")));
    };
    if photo.file_name.as_deref().unwrap_or_default().is_empty() || photo.bytes.is_empty() {
        return Err(fail(Error::invalid("photo", "请选择文件")));
    }
    let params = CreateCharacterParams {
        preset: StylePreset::parse(form.text("style_preset")).map_err(fail)?,
        output: OutputSpec::default(),
    };
    let outcome = state
        .engine
        .create_character(ImageSource::Bytes(photo.bytes), "photo", params, None)
        .await
        .map_err(fail)?;
    let message = match outcome.image.url.clone() {
        Some(url) => CharacterMessage {
            character_image_oss_url: Some(url.clone()),
            character_image_url: url,
            character_image_base64: None,
        },
        None => {
            // Seed 000 answers with the stored object's link beside the inline image; the
            // blob store is imgforge's OSS, so the result goes there too (and expires with
            // the blob TTL like every stored result).
            let stored = crate::engine::delivery::deliver(
                state.engine.blobs(),
                outcome.image.image.clone(),
                Delivery::Url,
                &crate::engine::delivery::result_key(&outcome.image.image),
            )
            .await
            .map_err(fail)?;
            let data = format!(
                "data:{};base64,{}",
                outcome.image.image.format.media_type(),
                BASE64.encode(outcome.image.bytes())
            );
            CharacterMessage {
                character_image_oss_url: stored.url,
                character_image_url: data.clone(),
                character_image_base64: Some(data),
            }
        }
    };
    Ok(Json(CharacterReply {
        code: 0,
        desc: "success",
        message,
    }))
}
