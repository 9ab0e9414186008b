//! Base64 images out of the API's answers, bounded before decoding and checked to be images
//! the service reads, off the async runtime (a 4K PNG is megabytes of base64).

use base64::Engine as _;

use super::error::{PROVIDER, too_large};
use crate::domain::{EncodedImage, ImageLimits};
use crate::error::{Error, ErrorCode, Result};

pub async fn image_from_base64(
    b64: String,
    max_bytes: u64,
    limits: ImageLimits,
) -> Result<EncodedImage> {
    // Three bytes per four characters: refuse before allocating the decoded buffer.
    if (b64.len() as u64 / 4).saturating_mul(3) > max_bytes {
        return Err(too_large("image", max_bytes));
    }
    crate::media::cancel::run_blocking(limits.job_budget(), move || {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| unreadable(&format!("bad base64: {e}")))?;
        let (format, width, height) =
            crate::media::probe(&bytes, &limits).map_err(|e| unreadable(&e.message))?;
        Ok(EncodedImage {
            bytes: bytes.into(),
            format,
            width,
            height,
        })
    })
    .await
}

fn unreadable(why: &str) -> Error {
    Error::new(
        ErrorCode::Unavailable,
        format!("images API returned an image that cannot be read ({why})"),
    )
    .retryable(true)
    .with_provider(PROVIDER)
}
