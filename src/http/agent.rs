//! Seed 001 paths (`/v1/*`): cover generation (blocking), fetching a cover, the option
//! catalogue and reference images. Every answer is seed 001's envelope; the signature layer
//! in front has already identified the caller.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Multipart, State, multipart::MultipartRejection};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::cover::{CoverAttributes, CoverEvent, OptionCatalogue};
use crate::domain::{EncodedImage, ImageSource};
use crate::error::{Error, ErrorCode};
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::{Form, JsonBody};
use crate::state::to_millis;

/// Seed 001's success envelope around `data`.
pub fn ok(data: Value) -> Json<Value> {
    Json(json!({
        "code": 10200,
        "success": true,
        "message": "OK",
        "data": data,
        // The call's trace id, as in the x-trace-id header and the exported trace.
        "traceId": crate::telemetry::current_trace_id(),
        "timestamp": crate::store::signing::unix_now_millis().to_string(),
    }))
}

/// `data` of the options reply: each group by name (`data.Age[].code`, as seed 001 refers to
/// them), options with `code`, `label` and, where filtered, `genders`.
fn catalogue_json(catalogue: &OptionCatalogue) -> Value {
    let groups: Map<String, Value> = catalogue
        .groups
        .iter()
        .map(|group| (group.name.clone(), json!(group.options)))
        .collect();
    Value::Object(groups)
}

/// `POST /v1/config/options` — `{namespace: "custom_agent"}` (an empty body means it).
pub async fn config_options(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let fail = |e| Envelope::Seed001.error(e);
    let namespace = match &body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => String::new(),
        _ => JsonBody::parse(body)
            .map_err(fail)?
            .optional_str("namespace")
            .map_err(fail)?
            .unwrap_or_default(),
    };
    let catalogue = state.covers.options(&namespace).map_err(fail)?;
    Ok(ok(catalogue_json(catalogue)))
}

/// `POST /v1/agent/ref-image` — multipart `image` → `{refImageId, expiresAt}` (milliseconds
/// since the epoch, as a string like seed 001's `timestamp`).
pub async fn agent_ref_image(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let fail = |e| Envelope::Seed001.error(e);
    let mut form = Form::read(multipart, state.max_body_bytes)
        .await
        .map_err(fail)?;
    let image = form.file("image").map_err(fail)?;
    let record = state
        .covers
        .references
        .upload(&caller, ImageSource::Bytes(image), "image")
        .await
        .map_err(fail)?;
    Ok(ok(json!({
        "refImageId": record.id,
        "expiresAt": to_millis(record.expires_at).to_string(),
    })))
}

/// The attributes of a `/v1/agent/cover` body, by seed 001's field names.
fn cover_attributes(body: &JsonBody) -> crate::error::Result<CoverAttributes> {
    let field = |name: &str| body.optional_str(name).map(Option::unwrap_or_default);
    Ok(CoverAttributes {
        gender: field("gender")?,
        age: field("age")?,
        ethnicity: field("ethnicity")?,
        body_type: field("bodyType")?,
        breast_size: field("breastSize")?,
        butt_size: field("buttSize")?,
        hair_color: field("hairColor")?,
        hair_style: field("hairStyle")?,
        ref_image_id: field("refImageId")?,
    })
}

/// `data:image/png;base64,…` (covers are stored as PNG).
fn data_uri(image: &EncodedImage) -> String {
    use base64::Engine as _;
    format!(
        "data:{};base64,{}",
        image.format.media_type(),
        base64::engine::general_purpose::STANDARD.encode(&image.bytes)
    )
}

/// `POST /v1/agent/cover` — blocks until the cover is made (30-300 s; `cover.rest_timeout_secs`
/// bounds it) and answers `{coverId, imageData}`. The same generator as the gRPC stream,
/// whose progress events are simply not shown; a caller that hangs up cancels the job.
pub async fn agent_cover(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let fail = |e| Envelope::Seed001.error(e);
    let attributes = cover_attributes(&JsonBody::parse(body).map_err(fail)?).map_err(fail)?;
    let generator = &state.covers.generator;
    let mut events = match generator.start(caller, attributes).await {
        Ok(events) => events,
        // No backend is the operator's configuration, not the caller's request: seed 001's
        // "ours" code (gRPC keeps FAILED_PRECONDITION).
        Err(e) if !generator.is_ready() => {
            return Err(fail(Error::new(ErrorCode::Unavailable, e.message)));
        }
        Err(e) => return Err(fail(e)),
    };
    while let Some(event) = events.recv().await {
        match event {
            CoverEvent::Completed {
                cover_id, image, ..
            } => {
                return Ok(ok(json!({
                    "coverId": cover_id,
                    "imageData": data_uri(&image),
                })));
            }
            CoverEvent::Failed { code, message } => {
                return Err(fail(Error::new(code, message)));
            }
            CoverEvent::Queued { .. } | CoverEvent::Running { .. } | CoverEvent::Preview(_) => {}
        }
    }
    Err(fail(Error::internal(
        "cover generation ended without a result",
    )))
}

/// `POST /v1/agent/cover/get` — `{coverId}` → `{coverId, imageData, expiresAt}` (milliseconds
/// since the epoch, as a string), for the caller's key only, until the cover expires.
pub async fn agent_cover_get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let fail = |e| Envelope::Seed001.error(e);
    let cover_id = JsonBody::parse(body)
        .map_err(fail)?
        .required_str("coverId")
        .map_err(fail)?;
    let cover = state
        .covers
        .generator
        .get(&caller, &cover_id)
        .await
        .map_err(fail)?;
    Ok(ok(json!({
        "coverId": cover.id,
        "imageData": data_uri(&cover.image),
        "expiresAt": to_millis(cover.expires_at).to_string(),
    })))
}
