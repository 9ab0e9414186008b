//! Seed 001 paths (`/v1/*`): the option catalogue and reference images. Every answer is
//! seed 001's envelope; the signature layer in front has already identified the caller.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Multipart, State, multipart::MultipartRejection};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::cover::OptionCatalogue;
use crate::domain::ImageSource;
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
        "traceId": uuid::Uuid::new_v4().simple().to_string(),
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
