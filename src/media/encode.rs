//! Encoding results.

use bytes::Bytes;
use image::DynamicImage;

use crate::domain::ImageFormat;
use crate::error::Result;

/// Encodes `image` as `format` (PNG, JPEG at `quality`, or lossless WebP).
pub fn encode(image: &DynamicImage, format: ImageFormat, quality: u8) -> Result<Bytes> {
    let _ = (image, format, quality);
    todo!("helper A")
}
