//! `GET /blobs/<key>?expires=..&sig=..`: serves stored results behind signed links.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::ImageFormat;
use crate::error::Error;
use crate::http::AppState;
use crate::http::envelope::{ApiError, Envelope};

#[derive(Deserialize)]
pub struct Signature {
    expires: Option<u64>,
    sig: Option<String>,
}

pub async fn get_blob(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(signature): Query<Signature>,
) -> Result<Response, ApiError> {
    let fail = |e| Envelope::Native.error(e);
    let (Some(expires), Some(sig)) = (signature.expires, signature.sig) else {
        return Err(fail(Error::not_found("link is invalid or has expired")));
    };
    let blobs = state.engine.blobs();
    blobs.verify(&key, expires, &sig).map_err(fail)?;
    let bytes = blobs.get_live(&key).await.map_err(fail)?;
    // A cache keeps the bytes no longer than the link lives.
    let left = expires.saturating_sub(crate::store::signing::unix_now());
    let cache_control = format!("private, max-age={left}");
    let media_type = key
        .rsplit_once('.')
        .and_then(|(_, ext)| ImageFormat::from_extension(ext))
        .map_or("application/octet-stream", ImageFormat::media_type);
    Ok((
        [
            (header::CONTENT_TYPE, media_type),
            (header::CACHE_CONTROL, cache_control.as_str()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        bytes,
    )
        .into_response())
}
