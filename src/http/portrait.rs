//! Seed 003 paths (`/cloud/*`): `{ret: 0, body}` on success, `{ret: <HTTP status>, msg}` with
//! that status on failure (README, AI portraits). The signature layer in front identifies the
//! caller, whose API key is the tenant.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Multipart, State, multipart::MultipartRejection};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::domain::ImageSource;
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};
use crate::http::form::{Form, JsonBody};

fn ok(body: Value) -> Json<Value> {
    Json(json!({ "ret": 0, "body": body }))
}

fn fail(error: crate::error::Error) -> ApiError {
    Envelope::Seed003.error(error)
}

/// `POST /cloud/upload_file` — multipart `file` → `body: "user_upload/<tenant>/<uuid>.jpg"`.
pub async fn upload_file(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, ApiError> {
    let mut form = Form::read(multipart, state.max_body_bytes)
        .await
        .map_err(fail)?;
    let file = form.file("file").map_err(fail)?;
    let path = state
        .portraits
        .upload(&caller, ImageSource::Bytes(file), "file")
        .await
        .map_err(fail)?;
    Ok(ok(json!(path)))
}

/// `POST /cloud/aigc_user_model_create` — `{img_set, callback_url?}` → `{task_id, user_id}`.
pub async fn user_model_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = JsonBody::parse(body).map_err(fail)?;
    let img_set = body.string_list("img_set").map_err(fail)?;
    let callback = body.optional_str("callback_url").map_err(fail)?;
    let created = state
        .portraits
        .create_user_model(&caller, &img_set, callback.as_deref())
        .await
        .map_err(fail)?;
    Ok(ok(
        json!({ "task_id": created.task_id, "user_id": created.user_id }),
    ))
}

/// `GET /cloud/aigc_product_brief_query` — `[{name, style, template, sex}]`.
pub async fn product_brief_query(State(state): State<AppState>) -> Json<Value> {
    let styles: Vec<Value> = state
        .portraits
        .styles
        .all()
        .iter()
        .map(|s| json!({ "name": s.name, "style": s.style, "template": s.template, "sex": s.sex }))
        .collect();
    ok(json!(styles))
}

/// `POST /cloud/aigc_task_create` — `{user_id, style, callback_url?}` → `{task_id, user_id}`.
pub async fn task_create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = JsonBody::parse(body).map_err(fail)?;
    let user_id = body.required_str("user_id").map_err(fail)?;
    let style = body.required_str("style").map_err(fail)?;
    let callback = body.optional_str("callback_url").map_err(fail)?;
    let created = state
        .portraits
        .create_task(&caller, &user_id, &style, callback.as_deref())
        .await
        .map_err(fail)?;
    Ok(ok(
        json!({ "task_id": created.task_id, "user_id": created.user_id }),
    ))
}

/// `POST /cloud/aigc_task_query` — `{task_id}` → `{state, id, tsk_type, result_paths}` (plus
/// `user_id`, and `msg` when there is something to say).
pub async fn task_query(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = JsonBody::parse(body).map_err(fail)?;
    let task_id = body.required_str("task_id").map_err(fail)?;
    let task = state
        .portraits
        .task(&caller, &task_id)
        .await
        .map_err(fail)?;
    Ok(ok(state.portraits.query_body(&task).await.map_err(fail)?))
}

/// `POST /cloud/aigc_user_model_delete` — `{user_id}` → `{user_id, deleted_tasks}`: the model,
/// its tasks and every photo and result made from it (imgforge's addition to seed 003).
pub async fn user_model_delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = JsonBody::parse(body).map_err(fail)?;
    let user_id = body.required_str("user_id").map_err(fail)?;
    let tasks = state
        .portraits
        .delete_user_model(&caller, &user_id)
        .await
        .map_err(fail)?;
    Ok(ok(json!({ "user_id": user_id, "deleted_tasks": tasks })))
}
