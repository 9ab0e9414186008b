//! Decoding under limits: dimensions are checked from the header before any pixel allocation.

use image::DynamicImage;

use crate::domain::{ImageFormat, ImageLimits};
use crate::error::Result;

/// Format and size from the header alone, checked against `limits`.
pub fn probe(bytes: &[u8], limits: &ImageLimits) -> Result<(ImageFormat, u32, u32)> {
    let _ = (bytes, limits);
    todo!("helper A")
}

/// The first frame or page, decoded (SVG rasterised at its natural size).
pub fn decode(bytes: &[u8], limits: &ImageLimits) -> Result<(ImageFormat, DynamicImage)> {
    let _ = (bytes, limits);
    todo!("helper A")
}
